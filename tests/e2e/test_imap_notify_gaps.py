# test_imap_notify_gaps.py - issue 17's known gaps: NOTIFY SELECTED-DELAYED, MessageNew fetch-att, live "subscribed", other processes' deliveries; SEARCH CHARSET under UTF8=ACCEPT; CATENATE URL sections.
"""Raw-socket sessions against one imapd; each test works in folders of its own."""
import os
import re
import subprocess
import unittest

from harness import MailServer, binary, free_port, wait_until
from test_imap_conformance import MSG, PASSWORD, USER, Session

SERVER = None


def setUpModule():
    global SERVER
    SERVER = MailServer(extra={"imap_plaintext_auth": "yes"})
    SERVER.start("imapd")


def tearDownModule():
    SERVER.close()


def status_of(line, name):
    """The values of "* STATUS name (...)"."""
    assert line.startswith(b"* STATUS " + name + b" ("), line
    return dict((k.decode(), int(v)) for k, v in re.findall(rb"([A-Z]+) (\d+)", line))


def deliver(folder_path, name, data):
    """What deliver/mtad do: write into tmp/, rename into new/."""
    with open(folder_path + "/tmp/" + name, "wb") as f:
        f.write(data)
    os.rename(folder_path + "/tmp/" + name, folder_path + "/new/" + name)


class GapsTest(unittest.TestCase):
    def session(self, user=USER):
        s = Session(SERVER.imap_port)
        self.addCleanup(s.close)
        s.ok("LOGIN %s %s" % (user, PASSWORD))
        return s

    # 1. RFC 5465 5.2/6: SELECTED-DELAYED delays only expunges
    def test_selected_delayed_sends_new_and_flags_at_once_and_holds_expunges(self):
        a, b = self.session(), self.session()
        a.ok("CREATE dl")
        a.ok("APPEND dl", MSG % (1, 1))
        a.ok("SELECT dl")
        a.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge FlagChange))")
        b.ok("APPEND dl", MSG % (2, 2))
        self.assertEqual(a.line(), b"* 2 EXISTS")  # without a command from a
        self.assertEqual(a.line(), b"* 2 RECENT")
        b.ok("SELECT dl")
        b.ok("STORE 2 +FLAGS (\\Flagged)")
        self.assertRegex(a.line(), rb"^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged")
        b.ok("STORE 1 +FLAGS (\\Deleted)")
        self.assertRegex(a.line(), rb"^\* 1 FETCH \(UID 1 FLAGS \(\\Deleted")
        b.ok("EXPUNGE")
        # the expunge waits: a FETCH (which must not see EXPUNGE) still has 2 messages
        untagged = a.ok("FETCH 1:2 (UID)")
        self.assertEqual(untagged, [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)"])
        # ... and a command that allows it gets it
        self.assertEqual(a.ok("NOOP"), [b"* 1 EXPUNGE"])

    # 2. RFC 5465 5.2: MessageNew (fetch-att) sends the FETCH with each new message
    def test_message_new_fetch_att_is_sent_with_the_new_message(self):
        a, b = self.session(), self.session()
        a.ok("CREATE fa")
        a.ok("SELECT fa")
        a.ok("NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From Subject)]) "
             "MessageExpunge))")
        b.ok("APPEND fa", MSG % (1, 1))
        self.assertEqual(a.line(), b"* 1 EXISTS")
        self.assertEqual(a.line(), b"* 1 RECENT")
        fetch = a.line()
        self.assertTrue(fetch.startswith(b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (FROM SUBJECT)] {"),
                        fetch)
        self.assertIn(b"From: Bob <bob@example.org>\r\nSubject: hi\r\n\r\n)", fetch)
        # PEEK: \Seen is not set
        self.assertEqual(a.ok("FETCH 1 (FLAGS)"), [b"* 1 FETCH (FLAGS (\\Recent))"])
        _, tagged = a.cmd("NOTIFY SET (SELECTED (MessageNew (NOSUCHATT) MessageExpunge))")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)

    # 4. RFC 5465 6: "subscribed" follows the subscriptions
    def test_subscribed_follows_subscribe_and_unsubscribe(self):
        a, b = self.session(), self.session()
        for name in ("sb1", "sb2"):
            a.ok("CREATE " + name)
        a.ok("NOTIFY SET (subscribed (MessageNew MessageExpunge))")
        a.ok("SUBSCRIBE sb1")  # by the session itself
        b.ok("SUBSCRIBE sb2")  # by another session
        a.ok("NOOP")
        b.ok("APPEND sb1", MSG % (1, 1))
        self.assertRegex(a.line(), rb"^\* STATUS sb1 \(MESSAGES 1 ")
        b.ok("APPEND sb2", MSG % (2, 2))
        self.assertRegex(a.line(), rb"^\* STATUS sb2 \(MESSAGES 1 ")
        b.ok("UNSUBSCRIBE sb2")
        a.ok("NOOP")
        b.ok("APPEND sb2", MSG % (3, 3))
        b.ok("APPEND sb1", MSG % (4, 4))
        self.assertRegex(a.line(), rb"^\* STATUS sb1 \(MESSAGES 2 ")  # not sb2 any more
        a.ok("NOTIFY NONE")

    # 3. deliveries by other programs into folders that are not selected
    def test_delivery_into_a_folder_by_another_program_is_reported(self):
        a = self.session()
        a.ok("CREATE dv/sub")
        a.ok("NOTIFY SET (subtree dv (MessageNew MessageExpunge))")
        deliver(SERVER.maildir(USER, "dv.sub"), "1700000002.d2.mx", MSG % (5, 5))
        self.assertRegex(a.line(), rb"^\* STATUS dv/sub \(MESSAGES 1 UIDNEXT 2 ")
        a.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")
        deliver(SERVER.maildir(USER, "dv.sub"), "1700000003.d3.mx", MSG % (6, 6))
        self.assertRegex(a.line(), rb"^\* STATUS dv/sub \(MESSAGES 2 UIDNEXT 3 ")
        # a mailbox created after NOTIFY SET (by another session) is watched too
        b = self.session()
        b.ok("CREATE dv/later")
        a.ok("NOOP")
        deliver(SERVER.maildir(USER, "dv.later"), "1700000004.d4.mx", MSG % (7, 7))
        self.assertRegex(a.line(), rb"^\* STATUS dv/later \(MESSAGES 1 UIDNEXT 2 ")
        a.ok("NOTIFY NONE")

    def second_imapd(self):
        """Another imapd process over the same state_dir (as two hosts of a cluster would be)."""
        conf = dict(SERVER.conf)
        port = free_port()
        conf["imap_listen"] = "127.0.0.1:%d" % port
        conf["imaps_listen"] = "127.0.0.1:%d" % free_port()
        path = os.path.join(SERVER.dir, "mail2.conf")
        with open(path, "w") as f:
            f.write("".join("%s = %s\n" % kv for kv in conf.items() if kv[1] is not None))
        log = open(os.path.join(SERVER.dir, "imapd2.log"), "ab")
        self.addCleanup(log.close)
        proc = subprocess.Popen([binary("imapd"), "-c", path, "-f"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        self.assertTrue(wait_until(lambda: proc.poll() is not None or SERVER._accepts(port)))
        self.assertIsNone(proc.poll())
        return port

    def test_changes_by_another_imapd_process_are_reported(self):
        port = self.second_imapd()
        a = self.session()
        a.ok("CREATE op")
        a.ok("NOTIFY SET (mailboxes op (MessageNew MessageExpunge FlagChange))")
        b = Session(port)
        self.addCleanup(b.close)
        b.ok("LOGIN %s %s" % (USER, PASSWORD))
        b.ok("APPEND op", MSG % (1, 1))
        first = status_of(a.line(), b"op")
        self.assertEqual((first["MESSAGES"], first["UIDNEXT"]), (1, 2))
        b.ok("SELECT op")
        b.ok("STORE 1 +FLAGS (\\Flagged)")  # only the index changes
        self.assertGreater(status_of(a.line(), b"op")["HIGHESTMODSEQ"], first["HIGHESTMODSEQ"])
        b.ok("STORE 1 +FLAGS (\\Deleted)")
        a.line()
        b.ok("EXPUNGE")
        self.assertEqual(status_of(a.line(), b"op")["MESSAGES"], 0)
        a.ok("NOTIFY NONE")

    # 5. RFC 6855 3 (errata 4029)
    def test_search_charset_after_enable_utf8_is_bad(self):
        a = self.session()
        a.ok("CREATE u8")
        a.ok("APPEND u8", MSG % (1, 1))
        a.ok("SELECT u8")
        self.assertEqual(a.ok("SEARCH CHARSET UTF-8 SUBJECT hi"), [b"* SEARCH 1"])
        a.ok("UNSELECT")
        a.ok("ENABLE UTF8=ACCEPT")
        a.ok("SELECT u8")
        _, tagged = a.cmd("SEARCH CHARSET UTF-8 SUBJECT hi")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        _, tagged = a.cmd("SEARCH CHARSET US-ASCII SUBJECT hi")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        self.assertEqual(a.ok("SEARCH SUBJECT hi"), [b"* SEARCH 1"])
        # SORT and THREAD name a charset always: only UTF-8 then
        self.assertEqual(a.ok("SORT (SUBJECT) UTF-8 ALL"), [b"* SORT 1"])
        _, tagged = a.cmd("SORT (SUBJECT) US-ASCII ALL")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        _, tagged = a.cmd("THREAD REFERENCES US-ASCII ALL")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)

    # 6. RFC 4469 / 5092: a URL's SECTION is what FETCH BODY[section] gives
    def test_catenate_url_sections(self):
        a = self.session()
        a.ok("CREATE ct")
        src = (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: parts\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n"
               b"--q\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--q\r\n\r\nsecond\r\n--q--\r\n")
        a.ok("APPEND ct", src)
        a.ok("SELECT ct")

        def catenate(url, tail=b"tail\r\n"):
            cmd = (b"APPEND ct CATENATE (URL \"" + url + b"\" TEXT {%d+}\r\n" % len(tail) +
                   tail + b")")
            _, tagged = a.cmd(cmd)
            self.assertTrue(tagged.startswith(b"OK [APPENDUID"), (url, tagged))
            uid = re.search(rb"APPENDUID \d+ (\d+)", tagged).group(1).decode()
            untagged = a.ok("UID FETCH %s BODY.PEEK[]" % uid)
            body = [l for l in untagged if b"FETCH" in l][0]
            return body.split(b"}\r\n", 1)[1].rsplit(b")", 1)[0]

        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=HEADER.FIELDS%20(From%20Subject)"),
                         b"From: Bob <bob@example.org>\r\nSubject: parts\r\n\r\ntail\r\n")
        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=HEADER.FIELDS (Subject)"),
                         b"Subject: parts\r\n\r\ntail\r\n")
        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=HEADER.FIELDS.NOT%20(To%20MIME-Version"
                                  b"%20Content-Type)"),
                         b"From: Bob <bob@example.org>\r\nSubject: parts\r\n\r\ntail\r\n")
        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=1"), b"firsttail\r\n")
        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=1.MIME"),
                         b"Content-Type: text/plain\r\n\r\ntail\r\n")
        self.assertTrue(catenate(b"/ct/;UID=1/;SECTION=TEXT").startswith(b"--q\r\n"))
        self.assertEqual(catenate(b"/ct/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)/;PARTIAL=0.8"),
                         b"Subject:tail\r\n")
        _, tagged = a.cmd(b"APPEND ct CATENATE (URL \"/ct/;UID=1/;SECTION=HEADER.FIELDS\")")
        self.assertTrue(tagged.startswith(b"NO [BADURL"), tagged)
        _, tagged = a.cmd(b"APPEND ct CATENATE (URL \"/ct/;UID=1/;SECTION=3\")")
        self.assertTrue(tagged.startswith(b"NO [BADURL"), tagged)


if __name__ == "__main__":
    unittest.main()
