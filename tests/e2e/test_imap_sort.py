# test_imap_sort.py - SORT, SORT=DISPLAY, ESORT, THREAD and CONTEXT=SEARCH/SORT end to end: imaplib's .sort() and .thread(), RFC 5256's thread shape, RFC 5267 updates.
"""One imapd, one folder of messages appended once for the whole class (about a second); each
test asks what a webmail client (Roundcube sorts and threads on the server) or imaplib would."""
import imaplib
import os
import unittest

from harness import MailServer, RawIMAP

USER = "sorter@localhost"
PASSWORD = "secret"


def message(n, subject, date, frm="a@x.test", to="b@x.test", msgid=None, refs=None, body="x"):
    head = ["From: %s" % frm, "To: %s" % to, "Subject: %s" % subject, "Date: %s" % date]
    if msgid:
        head.append("Message-ID: %s" % msgid)
    if refs:
        head.append("References: %s" % refs)
    return ("\r\n".join(head) + "\r\n\r\n" + body + " %d\r\n" % n).encode()


def day(n):
    return "%02d Jan 2024 10:00:00 +0000" % n


class SortTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MailServer(users=(USER,), extra={"imap_plaintext_auth": "yes"})
        try:
            cls.server.start("imapd")
            m = cls.login()
            # Folder "s": RFC 5256 shapes for SORT.
            m.create("s")
            msgs = [
                message(1, "Re: beta", day(5), frm='"Zoe" <zoe@x.test>'),
                message(2, "alpha", day(3), frm="mike@x.test", to="Ann <ann@x.test>"),
                message(3, "[list] Beta (fwd)", day(1), frm='"Bob" <bob@x.test>'),
                message(4, "ALPHA", day(3), frm="carl@x.test", to="zed@x.test"),
                message(5, "gamma", day(2), frm='"Al" <zz@x.test>', body="x" * 500),
            ]
            for i, raw in enumerate(msgs):
                m.append("s", None, imaplib.Time2Internaldate(1700000000 + 60 * (5 - i)), raw)
            # Folder "t": the thread of RFC 5256 section 4's example, "(2)(3 6 (4 23)(44 7 96))",
            # among 96 messages; the others are not asked for. Written into the Maildir as a
            # delivery would (96 APPENDs would cost seconds of fsyncs), named in arrival order.
            m.create("t")
            parent = {6: 3, 4: 6, 23: 4, 44: 6, 7: 44, 96: 7}
            folder = cls.server.maildir(USER, "t")
            for n in range(1, 97):
                chain, p = [], parent.get(n)
                while p:
                    chain.insert(0, "<m%d@x.test>" % p)
                    p = parent.get(p)
                subject = "other %d" % n if n not in (2, 3) else ("two" if n == 2 else "three")
                if n in parent:
                    subject = "Re: three"
                date = "%02d Jan 2024 %02d:%02d:00 +0000" % (1 + n // 60, n % 24, n % 60)
                raw = message(n, subject, date, msgid="<m%d@x.test>" % n,
                              refs=" ".join(chain) or None)
                name = "1700000000.M%06dP1.sorttest" % n
                tmp = os.path.join(folder, "tmp", name)
                with open(tmp, "wb") as f:
                    f.write(raw)
                cls.server.give_to_run_user(os.path.relpath(tmp, cls.server.state_dir))
                os.rename(tmp, os.path.join(folder, "new", name))
            m.logout()
        except Exception:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    @classmethod
    def login(cls):
        m = imaplib.IMAP4("127.0.0.1", cls.server.imap_port, timeout=30)
        m.login(USER, PASSWORD)
        return m

    def setUp(self):
        self.m = self.login()
        self.addCleanup(self.m.logout)

    def sort(self, criteria, *keys, folder="s", charset="UTF-8"):
        self.m.select(folder)
        typ, data = self.m.sort(criteria, charset, *(keys or ("ALL",)))
        self.assertEqual(typ, "OK")
        return data[0].decode().split()

    def test_capabilities(self):
        caps = self.m.capabilities
        for cap in ("SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "ESORT",
                    "CONTEXT=SEARCH", "CONTEXT=SORT"):
            self.assertIn(cap, caps)

    def test_sort_keys(self):
        # Base subjects (RFC 5256 2.1): "beta" x2 (Re:, [list] ... (fwd)), "alpha" x2, "gamma".
        self.assertEqual(self.sort("(SUBJECT)"), ["2", "4", "1", "3", "5"])
        # Equal subjects by date, reversed; equal by all keys stay in folder order.
        self.assertEqual(self.sort("(SUBJECT REVERSE DATE)"), ["2", "4", "1", "3", "5"])
        self.assertEqual(self.sort("(REVERSE SUBJECT DATE)"), ["5", "3", "1", "2", "4"])
        self.assertEqual(self.sort("(DATE)"), ["3", "5", "2", "4", "1"])
        self.assertEqual(self.sort("(REVERSE DATE)"), ["1", "2", "4", "5", "3"])
        self.assertEqual(self.sort("(ARRIVAL)"), ["5", "4", "3", "2", "1"])
        self.assertEqual(self.sort("(REVERSE SIZE)")[0], "5")
        # FROM compares the mailbox; DISPLAYFROM the name, else the address (RFC 5957).
        self.assertEqual(self.sort("(FROM)"), ["3", "4", "2", "1", "5"])
        self.assertEqual(self.sort("(DISPLAYFROM)"), ["5", "3", "4", "2", "1"])
        self.assertEqual(self.sort("(DISPLAYTO)")[0:1], ["2"])
        self.assertEqual(self.sort("(TO)")[-1], "4")
        # With search keys, and by UID.
        self.assertEqual(self.sort("(SUBJECT)", "SUBJECT", "beta"), ["1", "3"])
        self.assertEqual(self.sort("(SUBJECT)", "TEXT", '"not in mailbox"'), [])
        typ, data = self.m.uid("SORT", "(DATE)", "US-ASCII", "ALL")
        self.assertEqual(typ, "OK")
        uids = data[0].decode().split()
        self.assertEqual(len(uids), 5)

    def test_errors(self):
        self.m.select("s")
        typ, data = self.m.sort("(DATE)", "MOOCHARSET", "ALL")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADCHARSET", data[0])
        with self.assertRaises(imaplib.IMAP4.error):
            self.m.sort("(COLOUR)", "UTF-8", "ALL")
        with self.assertRaises(imaplib.IMAP4.error):
            self.m.thread("NOSUCH", "UTF-8", "ALL")

    def test_thread_rfc5256_example(self):
        self.m.select("t")
        typ, data = self.m.thread("REFERENCES", "US-ASCII", "2,3,4,6,7,23,44,96")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0].decode(), "(2)(3 6 (4 23)(44 7 96))")
        # ORDEREDSUBJECT: "three" and its "Re: three" replies in one thread, by date.
        typ, data = self.m.thread("ORDEREDSUBJECT", "UTF-8", "2,3,4,6")
        self.assertEqual(data[0].decode(), "(2)(3 (4)(6))")
        typ, data = self.m.uid("THREAD", "REFERENCES", "UTF-8", "2,3")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"^\(\d+\)\(\d+\)$")

    def test_esort_and_partial(self):
        r = RawIMAP(self.server.imap_port)
        self.addCleanup(r.close)
        r.command("a", "LOGIN %s %s" % (USER, PASSWORD))
        r.command("b", "SELECT s")
        lines = self.exchange(r, "c", "SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL")
        self.assertIn('* ESEARCH (TAG "c") MIN 3 MAX 1 COUNT 5 ALL 3,5,2,4,1', lines)
        lines = self.exchange(r, "d", "SORT RETURN (PARTIAL 2:3) (DATE) UTF-8 ALL")
        self.assertIn('* ESEARCH (TAG "d") PARTIAL (2:3 5,2)', lines)
        lines = self.exchange(r, "e", "SEARCH RETURN (PARTIAL 4:9) ALL")
        self.assertIn('* ESEARCH (TAG "e") PARTIAL (4:9 4:5)', lines)

    @staticmethod
    def exchange(r, tag, text):
        r.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        lines = []
        while True:
            line = r.line().decode()
            lines.append(line)
            if line.startswith(tag + " "):
                assert line.startswith(tag + " OK"), line
                return lines

    def test_context_update(self):
        # RFC 5267: a kept result follows flag changes, new messages and expunges, by this
        # session or another; REMOVEFROM of an expunged message comes before its EXPUNGE.
        other = self.login()
        self.addCleanup(other.logout)
        other.create("u")
        for i in range(3):
            other.append("u", None, None, message(i, "u%d" % i, day(1 + i)))
        r = RawIMAP(self.server.imap_port)
        self.addCleanup(r.close)
        r.command("a", "LOGIN %s %s" % (USER, PASSWORD))
        r.command("b", "SELECT u")
        lines = self.exchange(r, "S1", "SEARCH RETURN (UPDATE ALL) FLAGGED")
        self.assertIn('* ESEARCH (TAG "S1")', lines)  # nothing flagged yet
        lines = self.exchange(r, "c", "STORE 1,3 +FLAGS (\\Flagged)")
        self.assertIn('* ESEARCH (TAG "S1") ADDTO (0 1,3)', lines)
        other.select("u")
        other.store("3", "+FLAGS", "(\\Deleted)")
        other.expunge()
        other.append("u", "(\\Flagged)", None, message(9, "new", day(9)))
        lines = self.exchange(r, "d", "NOOP")
        removed = lines.index('* ESEARCH (TAG "S1") REMOVEFROM (0 3)')
        self.assertLess(removed, lines.index("* 3 EXPUNGE"))
        self.assertIn('* ESEARCH (TAG "S1") ADDTO (0 3)', lines)
        lines = self.exchange(r, "e", 'CANCELUPDATE "S1"')
        lines = self.exchange(r, "f", "STORE 2 +FLAGS (\\Flagged)")
        self.assertFalse([l for l in lines if "ESEARCH" in l], lines)
        # A sorted result: ADDTO carries the position.
        lines = self.exchange(r, "S2", "SORT RETURN (UPDATE) (REVERSE DATE) UTF-8 UNSEEN")
        lines = self.exchange(r, "g", "STORE 1:* +FLAGS (\\Seen)")
        self.assertTrue([l for l in lines if l.startswith('* ESEARCH (TAG "S2") REMOVEFROM (0 ')], lines)
        lines = self.exchange(r, "h", "STORE 2 -FLAGS (\\Seen)")
        self.assertIn('* ESEARCH (TAG "S2") ADDTO (1 2)', lines)


if __name__ == "__main__":
    unittest.main()
