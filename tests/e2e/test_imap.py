# test_imap.py - imapd end to end with Python imaplib: TLS and login rules, every core command, persistence, IDLE, concurrent sessions, hostile input.
import imaplib
import os
import re
import smtplib
import socket
import ssl
import time
import unittest

from harness import MailServer, wait_until, tls_context

PASSWORD = "secret"
ALICE = "alice@localhost"

SIMPLE = (b"From: Bob Example <bob@example.org>\r\n"
          b"To: alice@localhost\r\n"
          b"Subject: Lunch plans\r\n"
          b"Date: Mon, 02 Feb 2026 10:00:00 +0000\r\n"
          b"Message-ID: <lunch@example.org>\r\n"
          b"\r\n"
          b"Shall we meet at noon?\r\n")

MULTIPART = (b"From: carol@example.test\r\n"
             b"To: alice@localhost\r\n"
             b"Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9_attached?=\r\n"
             b"Date: Tue, 10 Mar 2026 08:30:00 +0100\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
             b"\r\n"
             b"preamble\r\n"
             b"--XYZ\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n"
             b"\r\n"
             b"Voil=C3=A0 mon CV, the word is pineapple.\r\n"
             b"--XYZ\r\n"
             b"Content-Type: application/octet-stream; name=\"cv.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"cv.bin\"\r\n"
             b"\r\n"
             b"AAECAwQF\r\n"
             b"--XYZ--\r\n")


def files(maildir, sub="cur"):
    try:
        return sorted(os.listdir(os.path.join(maildir, sub)))
    except FileNotFoundError:
        return []


class IMAPTestCase(unittest.TestCase):
    start_mtad = False

    def setUp(self):
        self.server = MailServer()
        self.addCleanup(self.server.close)
        if self.start_mtad:
            self.server.start("mtad")
        self.server.start("imapd")
        self.clients = []
        self.addCleanup(self.close_clients)

    def close_clients(self):
        for m in self.clients:
            try:
                m.shutdown()
            except Exception:
                pass

    def plain(self):
        m = imaplib.IMAP4("127.0.0.1", self.server.imap_port, timeout=10)
        self.clients.append(m)
        return m

    def login(self, user=ALICE, select=None):
        m = self.plain()
        m.starttls(ssl_context=tls_context())
        typ, _ = m.login(user, PASSWORD)
        self.assertEqual(typ, "OK")
        if select:
            typ, _ = m.select(select)
            self.assertEqual(typ, "OK")
        return m

    def raw(self, m, name, *args):
        """A command imaplib does not know, or with exact arguments; returns (typ, data)."""
        if name not in imaplib.Commands:
            imaplib.Commands[name] = ("AUTH", "SELECTED", "NONAUTH")
        return m._simple_command(name, *args)

    def append(self, m, data, mailbox="INBOX", flags=None, date=None):
        typ, resp = m.append(mailbox, flags, date, data)
        self.assertEqual(typ, "OK", resp)
        match = re.search(rb"APPENDUID (\d+) (\d+)", resp[0])
        self.assertIsNotNone(match, resp)
        return int(match.group(2))

    def maildir(self, folder=None, user=ALICE):
        return self.server.maildir(user, folder)


class LoginTest(IMAPTestCase):
    def test_login_refused_before_tls_and_capabilities_after(self):
        m = self.plain()
        self.assertIn("LOGINDISABLED", m.capabilities)
        self.assertIn("STARTTLS", m.capabilities)
        self.assertNotIn("AUTH=PLAIN", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login(ALICE, PASSWORD)
        self.assertIn("PRIVACYREQUIRED", str(cm.exception))
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.authenticate("PLAIN", lambda _: b"\0alice@localhost\0secret")
        self.assertIn("PRIVACYREQUIRED", str(cm.exception))
        m.starttls(ssl_context=tls_context())
        typ, caps = m.capability()
        caps = caps[0].decode().split()
        self.assertIn("AUTH=PLAIN", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertNotIn("STARTTLS", caps)
        typ, data = m.login("Alice@Localhost", PASSWORD)
        self.assertEqual(typ, "OK")
        self.assertIn(b"CAPABILITY", data[0])

    def test_wrong_password_and_unknown_user(self):
        m = self.plain()
        m.starttls(ssl_context=tls_context())
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login(ALICE, "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        # The second failure in a row is delayed (throttle): at least a second.
        t0 = time.monotonic()
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("nobody@localhost", PASSWORD)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertIn("authentication failed for alice@localhost", self.server.log("imapd"))
        self.assertIn("authentication failed for nobody@localhost", self.server.log("imapd"))

    def test_imaps_and_authenticate_plain(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.server.imaps_port, ssl_context=tls_context(),
                              timeout=10)
        self.clients.append(m)
        self.assertIn("AUTH=PLAIN", m.capabilities)
        self.assertNotIn("LOGINDISABLED", m.capabilities)
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0alice@localhost\0" + PASSWORD.encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"0"]))

    def test_commands_before_login_are_limited(self):
        m = self.plain()
        with self.assertRaises(imaplib.IMAP4.error):
            m.select("INBOX")
        sock = socket.create_connection(("127.0.0.1", self.server.imap_port), timeout=5)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"".join(b"a%d NOOP\r\n" % i for i in range(40)))
        lines = []
        while True:
            line = f.readline()
            if not line:
                break
            lines.append(line)
        sock.close()
        self.assertTrue(any(l.startswith(b"* BYE") for l in lines), lines[-3:])
        self.assertLess(sum(1 for l in lines if b" OK NOOP" in l), 40)


class FolderTest(IMAPTestCase):
    def test_special_use_folders_and_list(self):
        m = self.login()
        typ, data = m.list()
        self.assertEqual(typ, "OK")
        text = b"\n".join(data).decode()
        for name in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
            self.assertRegex(text, r'\(.*\\%s.*\) "/" %s' % (name, name))
            self.assertTrue(os.path.isdir(os.path.join(self.maildir(name), "cur")), name)
        self.assertIn('"/" INBOX', text)
        typ, data = m.list('""', '""')
        self.assertEqual(data, [b'(\\Noselect) "/" ""'])
        typ, data = self.raw(m, "NAMESPACE")
        self.assertEqual(m.untagged_responses.pop("NAMESPACE"), [b'(("" "/")) NIL NIL'])

    def test_create_rename_delete_subscribe_status(self):
        m = self.login()
        self.assertEqual(m.create("Projects/2026")[0], "OK")
        self.assertTrue(os.path.isdir(os.path.join(self.maildir("Projects.2026"), "cur")))
        self.assertEqual(m.create("Projects/2026")[0], "NO")
        typ, data = m.list('""', "Projects*")
        text = b"\n".join(d for d in data if d).decode()
        self.assertRegex(text, r'\\HasChildren\) "/" Projects\b')
        self.assertRegex(text, r'\\HasNoChildren\) "/" Projects/2026')
        typ, data = m.list('""', "%")
        self.assertNotIn(b"Projects/2026", b"\n".join(d for d in data if d))
        self.append(m, SIMPLE, "Projects/2026")
        typ, data = m.status("Projects/2026", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"MESSAGES 1 UNSEEN 1 UIDNEXT 2 UIDVALIDITY \d+")
        self.assertEqual(m.rename("Projects/2026", "Done")[0], "OK")
        self.assertTrue(os.path.isdir(os.path.join(self.maildir("Done"), "cur")))
        self.assertEqual(m.status("Done", "(MESSAGES)")[1], [b"Done (MESSAGES 1)"])
        self.assertEqual(m.status("Projects/2026", "(MESSAGES)")[0], "NO")
        self.assertEqual(m.subscribe("Done")[0], "OK")
        typ, data = m.lsub('""', "*")
        self.assertIn(b'"/" Done', b"\n".join(data))
        self.assertEqual(m.unsubscribe("Done")[0], "OK")
        typ, data = m.lsub('""', "*")
        self.assertNotIn(b'"/" Done', b"\n".join(d for d in data if d))
        self.assertEqual(m.delete("Done")[0], "OK")
        self.assertFalse(os.path.exists(self.maildir("Done")))
        self.assertEqual(m.delete("INBOX")[0], "NO")
        self.assertEqual(m.select("Nonexistent")[0], "NO")

    def test_rename_inbox_moves_messages(self):
        m = self.login()
        self.append(m, SIMPLE)
        self.assertEqual(m.rename("INBOX", "Old")[0], "OK")
        self.assertEqual(m.status("Old", "(MESSAGES)")[1], [b"Old (MESSAGES 1)"])
        self.assertEqual(m.status("INBOX", "(MESSAGES)")[1], [b"INBOX (MESSAGES 0)"])


class MessageTest(IMAPTestCase):
    def test_append_fetch_exact_bytes_and_date(self):
        m = self.login()
        uid = self.append(m, SIMPLE, flags=r"(\Flagged $Work)", date='"02-Feb-2026 11:00:00 +0100"')
        self.assertEqual(uid, 1)
        name = files(self.maildir())[0]
        self.assertTrue(name.endswith(":2,Fa") or name.endswith(":2,aF") or ":2,F" in name, name)
        typ, data = m.select("INBOX")
        self.assertEqual(data, [b"1"])
        typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        head, body = data[0]
        self.assertEqual(body, SIMPLE)
        self.assertIn(b"RFC822.SIZE %d" % len(SIMPLE), head)
        self.assertIn(b"UID 1", head)
        # This session is the first to select INBOX since the APPEND: the message is \Recent.
        self.assertRegex(head.decode(), r"FLAGS \(\\Flagged \\Recent \$Work\)")
        internal = re.search(rb'INTERNALDATE "([^"]+)"', head).group(1).decode()
        self.assertEqual(imaplib.Internaldate2tuple(b'INTERNALDATE "%s"' % internal.encode())[:6],
                         time.localtime(1770026400)[:6])
        # BODY.PEEK did not set \Seen.
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])

    def test_fetch_structure_and_sections(self):
        m = self.login()
        self.append(m, SIMPLE)
        self.append(m, MULTIPART)
        m.select("INBOX")
        typ, data = m.fetch("1", "(ENVELOPE)")
        self.assertEqual(data[0], b'1 (ENVELOPE ("Mon, 02 Feb 2026 10:00:00 +0000" "Lunch plans" '
                                  b'(("Bob Example" NIL "bob" "example.org")) '
                                  b'(("Bob Example" NIL "bob" "example.org")) '
                                  b'(("Bob Example" NIL "bob" "example.org")) '
                                  b'((NIL NIL "alice" "localhost")) NIL NIL NIL "<lunch@example.org>"))')
        typ, data = m.fetch("2", "(BODYSTRUCTURE)")
        bs = data[0].decode()
        self.assertIn('("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable"', bs)
        self.assertIn('("application" "octet-stream" ("name" "cv.bin") NIL NIL "base64" 8', bs)
        self.assertIn('"mixed" ("boundary" "XYZ")', bs)
        typ, data = m.fetch("2", "(BODY)")
        self.assertIn('"mixed")', data[0].decode())
        typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] "
                                 "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM DATE MIME-VERSION CONTENT-TYPE)] "
                                 "BODY.PEEK[TEXT]<0.8> BINARY.PEEK[2] BINARY.SIZE[2])")
        parts = {}
        for item in data:
            if isinstance(item, tuple):
                key = re.search(rb"(BODY\[[^\]]*\](<\d+>)?|BINARY\[[^\]]*\]) [~]?\{\d+\}$", item[0]).group(1)
                parts[key] = item[1]
        self.assertEqual(parts[b"BODY[1]"], b"Voil=C3=A0 mon CV, the word is pineapple.")
        self.assertEqual(parts[b"BODY[2.MIME]"],
                         b"Content-Type: application/octet-stream; name=\"cv.bin\"\r\n"
                         b"Content-Transfer-Encoding: base64\r\n"
                         b"Content-Disposition: attachment; filename=\"cv.bin\"\r\n\r\n")
        self.assertEqual(parts[b"BODY[HEADER.FIELDS (SUBJECT FROM)]"],
                         b"From: carol@example.test\r\n"
                         b"Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9_attached?=\r\n\r\n")
        self.assertEqual(parts[b"BODY[HEADER.FIELDS.NOT (SUBJECT FROM DATE MIME-VERSION CONTENT-TYPE)]"],
                         b"To: alice@localhost\r\n\r\n")
        self.assertEqual(parts[b"BODY[TEXT]<0>"], b"preamble")
        self.assertEqual(parts[b"BINARY[2]"], bytes(range(6)))
        self.assertIn(b"BINARY.SIZE[2] 6", b" ".join(x if isinstance(x, bytes) else x[0] for x in data))
        # A non-peek section sets \Seen and reports FLAGS.
        typ, data = m.fetch("1", "(BODY[HEADER])")
        self.assertEqual(data[0][1], SIMPLE[:SIMPLE.index(b"\r\n\r\n") + 4])
        flat = b" ".join(x if isinstance(x, bytes) else x[0] for x in data)
        self.assertIn(b"\\Seen", flat)
        self.assertTrue(wait_until(lambda: any(n.endswith(",S") or ":2,S" in n
                                               for n in files(self.maildir())), timeout=2))
        # Nonexistent part: empty string, not an error.
        typ, data = m.fetch("1", "(BODY.PEEK[3])")
        self.assertEqual(typ, "OK")

    def test_large_message_fetch(self):
        m = self.login()
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_=+.\r\n"
        big = SIMPLE + line * (6 * 1024 * 1024 // len(line))
        self.append(m, big)
        m.select("INBOX")
        typ, data = m.uid("FETCH", "1", "(BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][1], big)
        typ, data = m.fetch("1", "(BODY.PEEK[]<1000000.20>)")
        self.assertEqual(data[0][1], big[1000000:1000020])

    def test_store_flags_persist_across_restart(self):
        m = self.login()
        for i in range(3):
            self.append(m, SIMPLE.replace(b"Lunch", b"Lunch %d" % i))
        m.select("INBOX")
        typ, data = m.store("1:2", "+FLAGS", r"(\Seen \Answered)")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(data), 2)
        self.assertRegex(data[0].decode(), r"1 \(FLAGS \(\\Seen \\Answered \\Recent\)\)")
        typ, data = m.store("2", "-FLAGS", r"(\Seen)")
        self.assertRegex(data[0].decode(), r"2 \(FLAGS \(\\Answered \\Recent\)\)")
        typ, data = m.store("3", "+FLAGS.SILENT", r"(\Flagged Important)")
        self.assertEqual(data, [None])
        typ, data = m.uid("STORE", "3", "FLAGS", r"(\Draft)")
        # STORE cannot remove \Recent (RFC 3501 2.3.2); after the restart below no
        # session claims them again.
        self.assertRegex(data[0].decode(), r"3 \(FLAGS \(\\Draft \\Recent\) UID 3\)")
        with self.assertRaises(imaplib.IMAP4.error):
            m.store("1", "+FLAGS", r"(\Bogus)")
        m.logout()
        names = files(self.maildir())
        self.assertEqual(sorted(n.split(":2,")[1] for n in names), ["D", "R", "RS"])
        self.server.stop("imapd")
        self.server.start("imapd")
        m = self.login(select="INBOX")
        typ, data = m.fetch("1:*", "(UID FLAGS)")
        got = [d.decode() for d in data]
        self.assertRegex(got[0], r"1 \(UID 1 FLAGS \(\\Seen \\Answered\)\)")
        self.assertRegex(got[1], r"2 \(UID 2 FLAGS \(\\Answered\)\)")
        self.assertRegex(got[2], r"3 \(UID 3 FLAGS \(\\Draft\)\)")

    def test_search(self):
        m = self.login()
        self.append(m, SIMPLE, flags=r"(\Seen)", date='"02-Feb-2026 11:00:00 +0000"')
        self.append(m, MULTIPART, flags=r"($Work)", date='"10-Mar-2026 09:00:00 +0000"')
        self.append(m, b"From: dave@example.org\r\nSubject: tiny\r\n\r\nx\r\n",
                    date='"15-Mar-2026 12:00:00 +0000"')
        m.select("INBOX")

        def search(*criteria, uid=False, charset=None):
            if uid:
                typ, data = m.uid("SEARCH", *criteria)
            else:
                typ, data = m.search(charset, *criteria)
            self.assertEqual(typ, "OK", (criteria, data))
            return [int(x) for x in data[0].split()]

        self.assertEqual(search("ALL"), [1, 2, 3])
        self.assertEqual(search("FROM", '"bob example"'), [1])
        self.assertEqual(search("TO", "alice"), [1, 2])
        self.assertEqual(search("SUBJECT", "lunch"), [1])
        self.assertEqual(search("BODY", "PINEAPPLE"), [2])
        self.assertEqual(search("TEXT", "noon"), [1])
        self.assertEqual(search("TEXT", "carol@example"), [2])
        self.assertEqual(search("HEADER", "Message-ID", "lunch@"), [1])
        self.assertEqual(search("HEADER", "MIME-Version", '""'), [2])
        self.assertEqual(search("SEEN"), [1])
        self.assertEqual(search("UNSEEN"), [2, 3])
        self.assertEqual(search("KEYWORD", "$Work"), [2])
        self.assertEqual(search("UNKEYWORD", "$Work"), [1, 3])
        self.assertEqual(search("SMALLER", "100"), [3])
        self.assertEqual(search("LARGER", "300"), [2])
        self.assertEqual(search("OR", "SEEN", "SMALLER", "100"), [1, 3])
        self.assertEqual(search("NOT", "SEEN", "NOT", "SMALLER", "100"), [2])
        self.assertEqual(search("2:*"), [2, 3])
        self.assertEqual(search("UID", "1,3"), [1, 3])
        self.assertEqual(search("SINCE", "10-Mar-2026"), [2, 3])
        self.assertEqual(search("BEFORE", "10-Mar-2026"), [1])
        self.assertEqual(search("ON", "15-Mar-2026"), [3])
        self.assertEqual(search("SENTBEFORE", "3-Feb-2026"), [1])
        self.assertEqual(search("SENTON", "10-Mar-2026"), [2])
        self.assertEqual(search("(", "SEEN", "FROM", "bob", ")"), [1])
        self.assertEqual(search("DELETED"), [])
        m.literal = "R\u00c9SUM\u00c9".encode()
        self.assertEqual(search("SUBJECT", charset="UTF-8"), [2])
        m.literal = "voil\u00e0".encode()
        self.assertEqual(search("BODY", charset="UTF-8"), [2])
        self.assertEqual(search("UNSEEN", uid=True), [2, 3])
        typ, data = m.search("KOI8-R", "ALL")
        self.assertEqual(typ, "NO")

    def test_esearch(self):
        m = self.login()
        for i in range(3):
            self.append(m, SIMPLE)
        m.select("INBOX")
        tag = m._command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
        m._command_complete("SEARCH", tag)
        self.assertEqual(m.untagged_responses.pop("ESEARCH"),
                         [b'(TAG "%s") MIN 1 MAX 3 COUNT 3 ALL 1:3' % tag])


class CopyMoveExpungeTest(IMAPTestCase):
    def test_copy_move_expunge_change_files(self):
        m = self.login()
        for i in range(4):
            self.append(m, SIMPLE.replace(b"Lunch", b"Lunch %d" % i))
        m.select("INBOX")
        self.assertEqual(len(files(self.maildir())), 4)
        typ, data = m.copy("1:2", "Archive")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"\[COPYUID \d+ 1:2 1:2\]")
        self.assertEqual(len(files(self.maildir("Archive"))), 2)
        self.assertEqual(len(files(self.maildir())), 4)
        self.assertEqual(m.copy("1", "Nowhere")[0], "NO")
        self.assertEqual(m.response("TRYCREATE")[0], "TRYCREATE")
        typ, data = self.raw(m, "MOVE", "3", "Trash")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"3"])
        self.assertEqual(len(files(self.maildir())), 3)
        trash = files(self.maildir("Trash"))
        self.assertEqual(len(trash), 1)
        with open(os.path.join(self.maildir("Trash"), "cur", trash[0]), "rb") as f:
            self.assertEqual(f.read(), SIMPLE.replace(b"Lunch", b"Lunch 2"))
        typ, data = m.uid("MOVE", "4", "Junk")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"3"])
        self.assertEqual(len(files(self.maildir("Junk"))), 1)
        # INBOX now holds UIDs 1 and 2.
        m.store("1", "+FLAGS", r"(\Deleted)")
        typ, data = m.expunge()
        self.assertEqual((typ, data), ("OK", [b"1"]))
        self.assertEqual(len(files(self.maildir())), 1)
        typ, data = m.fetch("1:*", "(UID)")
        self.assertEqual(data, [b"1 (UID 2)"])
        typ, data = m.uid("COPY", "2", "Archive")
        self.assertEqual(typ, "OK")
        self.assertRegex(m.untagged_responses.pop("COPYUID")[-1].decode(), r"^\d+ 2 3$")

    def test_uid_expunge_close_unselect(self):
        m = self.login()
        for i in range(3):
            self.append(m, SIMPLE, flags=r"(\Deleted)")
        m.select("INBOX")
        typ, data = m.uid("EXPUNGE", "2")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"2"])
        self.assertEqual(len(files(self.maildir())), 2)
        typ, _ = m.unselect()
        self.assertEqual(typ, "OK")
        self.assertEqual(len(files(self.maildir())), 2)
        m.select("INBOX", readonly=True)
        self.assertEqual(m.close()[0], "OK")
        self.assertEqual(len(files(self.maildir())), 2)
        m.select("INBOX")
        self.assertEqual(m.check()[0], "OK")
        self.assertEqual(m.close()[0], "OK")
        self.assertEqual(len(files(self.maildir())), 0)

    def test_examine_is_read_only(self):
        m = self.login()
        self.append(m, SIMPLE)
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK")
        self.assertEqual(m.store("1", "+FLAGS", r"(\Seen)")[0], "NO")
        typ, data = m.fetch("1", "(BODY[])")
        self.assertEqual(data[0][1], SIMPLE)
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])


class SparseSetTest(IMAPTestCase):
    def test_fetch_sparse_sequence_and_uid_sets(self):
        """FETCH jumps between the members of a set; it must land on exactly those messages."""
        m = self.login()
        for i in range(10):
            self.append(m, SIMPLE.replace(b"Lunch", b"Lunch %d" % i))
        m.select("INBOX")
        m.store("2,5:6,9", "+FLAGS", r"(\Deleted)")   # UIDs left: 1 3 4 7 8 10
        self.assertEqual(m.expunge()[0], "OK")

        def fetched(data):
            return [tuple(int(x) for x in re.match(rb"(\d+) \(UID (\d+)\)", d).groups())
                    for d in data if isinstance(d, bytes)]
        typ, data = m.fetch("1,3:4,6", "(UID)")
        self.assertEqual(typ, "OK")
        self.assertEqual(fetched(data), [(1, 1), (3, 4), (4, 7), (6, 10)])
        typ, data = m.uid("FETCH", "2:4,7,9:11", "(UID)")
        self.assertEqual(fetched(data), [(2, 3), (3, 4), (4, 7), (6, 10)])
        typ, data = m.uid("FETCH", "2,5:6,9", "(UID)")
        self.assertEqual(fetched(data), [])
        typ, data = m.fetch("6:*", "(UID)")
        self.assertEqual(fetched(data), [(6, 10)])
        typ, data = m.uid("FETCH", "8:*", "(UID)")
        self.assertEqual(fetched(data), [(5, 8), (6, 10)])


class ConcurrencyTest(IMAPTestCase):
    start_mtad = True

    def idle_start(self, m):
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"))
        return tag

    def idle_wait(self, m, pattern, timeout):
        m.sock.settimeout(timeout)
        try:
            while True:
                line = m.readline()
                if not line:
                    return None
                if re.search(pattern, line):
                    return line
        except (socket.timeout, TimeoutError):
            return None
        finally:
            m.sock.settimeout(10)

    def idle_done(self, m, tag):
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag):
                self.assertIn(b"OK", line)
                return

    def test_idle_sees_delivery_within_a_second(self):
        m = self.login(select="INBOX")
        tag = self.idle_start(m)
        # A Maildir delivery as deliver/mtad do it: tmp/ then rename into new/.
        md = self.maildir()
        tmp = os.path.join(md, "tmp", "1700000000.M1P1.test")
        with open(tmp, "wb") as f:
            f.write(SIMPLE)
        os.chmod(tmp, 0o644)
        t0 = time.monotonic()
        os.rename(tmp, os.path.join(md, "new", "1700000000.M1P1.test"))
        line = self.idle_wait(m, rb"^\* 1 EXISTS", 1.0)
        self.assertIsNotNone(line, "no EXISTS within a second")
        self.assertLess(time.monotonic() - t0, 1.0)
        # And through SMTP: mtad delivers, IDLE announces it.
        with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=10) as s:
            s.sendmail("bob@example.org", [ALICE], SIMPLE.replace(b"Lunch", b"Dinner"))
        t0 = time.monotonic()
        self.assertIsNotNone(self.server.wait_message(ALICE, b"Dinner", timeout=10) or
                             wait_until(lambda: len(files(md)) >= 2, timeout=5))
        line = self.idle_wait(m, rb"^\* 2 EXISTS", 1.5)
        self.assertIsNotNone(line, "no EXISTS after the SMTP delivery")
        self.idle_done(m, tag)
        typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        # Unsolicited FETCH (FLAGS) lines may come first; the literal is the answer.
        literals = [d[1] for d in data if isinstance(d, tuple)]
        self.assertEqual(literals, [b"Subject: Dinner plans\r\n\r\n"])

    def test_two_sessions_see_each_other(self):
        a = self.login(select="INBOX")
        b = self.login(select="INBOX")
        self.append(b, SIMPLE)
        self.append(b, SIMPLE)
        a.untagged_responses.clear()
        a.noop()
        self.assertEqual(a.untagged_responses.pop("EXISTS"), [b"2"])
        b.store("1", "+FLAGS", r"(\Flagged)")
        a.noop()
        fetches = a.untagged_responses.pop("FETCH")
        self.assertRegex(fetches[0].decode(), r"1 \(UID 1 FLAGS \(\\Flagged\)")
        # IDLE in a sees b's expunge.
        tag = self.idle_start(a)
        b.store("1", "+FLAGS", r"(\Deleted)")
        b.expunge()
        self.assertIsNotNone(self.idle_wait(a, rb"^\* 1 EXPUNGE", 1.0))
        self.idle_done(a, tag)
        typ, data = a.fetch("1:*", "(UID)")
        self.assertEqual(data, [b"1 (UID 2)"])


class RecentTest(IMAPTestCase):
    def flags(self, m):
        typ, data = m.fetch("1:*", "(FLAGS)")
        self.assertEqual(typ, "OK")
        return [d.decode() for d in data]

    def test_only_the_first_read_write_session_sees_recent(self):
        s0 = self.login()
        self.append(s0, SIMPLE)
        self.append(s0, MULTIPART)
        typ, data = s0.status("INBOX", "(MESSAGES RECENT)")
        self.assertIn(b"RECENT 2", data[0])
        # EXAMINE shows them (the same RECENT as STATUS) without claiming.
        e = self.login()
        e.untagged_responses.clear()
        e.select("INBOX", readonly=True)
        self.assertEqual(e.untagged_responses.pop("RECENT"), [b"2"])
        self.assertTrue(all("\\Recent" in f for f in self.flags(e)))
        # The first SELECT gets them.
        a = self.login()
        a.untagged_responses.clear()
        a.select("INBOX")
        self.assertEqual(a.untagged_responses.pop("RECENT"), [b"2"])
        self.assertTrue(all("\\Recent" in f for f in self.flags(a)), self.flags(a))
        self.assertEqual(a.search(None, "RECENT")[1], [b"1 2"])
        self.assertEqual(a.search(None, "NEW")[1], [b"1 2"])
        self.assertEqual(a.search(None, "OLD")[1], [b""])
        # A second session, and STATUS, find nothing recent any more.
        b = self.login()
        b.untagged_responses.clear()
        b.select("INBOX")
        self.assertEqual(b.untagged_responses.pop("RECENT"), [b"0"])
        self.assertTrue(all("\\Recent" not in f for f in self.flags(b)))
        self.assertEqual(b.search(None, "RECENT")[1], [b""])
        self.assertEqual(b.search(None, "OLD")[1], [b"1 2"])
        typ, data = s0.status("INBOX", "(RECENT)")
        self.assertIn(b"RECENT 0", data[0])
        # \Recent stays for a's session: STORE does not remove it.
        a.store("1", "+FLAGS", r"(\Seen)")
        self.assertIn("\\Recent", self.flags(a)[0])
        self.assertEqual(a.search(None, "NEW")[1], [b"2"])

    def test_imap4rev2_session_shows_no_recent(self):
        m = self.login()
        self.append(m, SIMPLE)
        self.raw(m, "ENABLE", "IMAP4rev2")
        m.untagged_responses.clear()
        m.select("INBOX")
        self.assertNotIn("RECENT", m.untagged_responses)
        self.assertTrue(all("\\Recent" not in f for f in self.flags(m)))


class HeaderCacheTest(IMAPTestCase):
    ITEMS = "(ENVELOPE RFC822.HEADER BODY.PEEK[HEADER.FIELDS (SUBJECT DATE)] BODY.PEEK[HEADER]<0.20>)"

    def fetch_all(self):
        m = self.login(select="INBOX")
        typ, data = m.fetch("1:*", self.ITEMS)
        self.assertEqual(typ, "OK")
        typ, hits = m.uid("SEARCH", "HEADER", "Subject", "lunch")
        self.assertEqual(typ, "OK")
        typ, sent = m.search(None, "SENTON", "10-Mar-2026")
        typ, frm = m.search(None, "FROM", "carol")
        m.logout()
        return data, hits, sent, frm

    def cache_path(self):
        return os.path.join(self.maildir(), "mtad-cache")

    def test_cache_answers_like_the_files_and_survives_damage(self):
        m = self.login()
        self.append(m, SIMPLE)
        self.append(m, MULTIPART)
        m.select("INBOX")
        # The same items computed from the whole message (no cache involved).
        typ, direct = m.fetch("1:*", "(ENVELOPE BODY.PEEK[])")
        m.logout()
        first = self.fetch_all()
        self.assertTrue(os.path.exists(self.cache_path()))
        self.assertEqual(first[1], [b"1"])
        self.assertEqual(first[2], [b"2"])
        self.assertEqual(first[3], [b"2"])
        text = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in first[0])
        self.assertIn(b"Subject: Lunch plans\r\n", text)
        self.assertIn(b'"Lunch plans"', text)
        env_direct = [d[0].split(b"ENVELOPE ", 1)[1].rsplit(b" BODY[]", 1)[0]
                      for d in direct if isinstance(d, tuple)]
        self.assertEqual(len(env_direct), 2)
        m = self.login(select="INBOX")
        typ, cached = m.fetch("1:*", "(ENVELOPE)")
        m.logout()
        self.assertEqual(cached, [b"%d (ENVELOPE %s)" % (i + 1, e) for i, e in enumerate(env_direct)])
        # Served from the cache: same answers.
        self.assertEqual(self.fetch_all(), first)
        # A torn or garbled cache is ignored; a removed one is rebuilt.
        with open(self.cache_path(), "r+b") as f:
            f.seek(0, 2)
            f.truncate(f.tell() - 7)
        self.assertEqual(self.fetch_all(), first)
        with open(self.cache_path(), "r+b") as f:
            f.seek(20)
            f.write(b"\x00garbage\xff" * 8)
        self.assertEqual(self.fetch_all(), first)
        os.unlink(self.cache_path())
        self.assertEqual(self.fetch_all(), first)
        with open(self.cache_path(), "wb") as f:
            f.write(b"mtad-cache 1 1\nH 1 5 00000000\nFrom:\n")
        self.assertEqual(self.fetch_all(), first)


class LargeFolderTest(IMAPTestCase):
    """A folder big enough for imapd's shared copy of the parsed index, filled by another Maildir
    tool (names with a time but without ",S="): sessions see each other's and others' changes,
    and the sizes the first open did not read come out right when asked."""
    COUNT = 300

    def fill(self):
        m = self.login()  # the first login makes the Maildir
        m.logout()
        cur = os.path.join(self.maildir(), "cur")
        sizes = []
        for i in range(self.COUNT):
            body = b"Subject: m%d\r\n\r\n" % i + b"x" * (i * 3) + b"\r\n"
            path = os.path.join(cur, "%d.M%dP7.other:2,%s" % (1700000000 + i, i, "S" if i % 2 else ""))
            with open(path, "wb") as f:
                f.write(body)
            os.chmod(path, 0o644)
            sizes.append(len(body))
        return sizes

    def select(self, m, readonly=False):
        m.untagged_responses.clear()
        typ, data = m.select("INBOX", readonly=readonly)
        self.assertEqual(typ, "OK")
        r = m.untagged_responses
        return {"exists": int(data[0]), "recent": int(r.get("RECENT", [b"0"])[-1]),
                "uidvalidity": int(r["UIDVALIDITY"][-1]), "uidnext": int(r["UIDNEXT"][-1]),
                "highestmodseq": int(r["HIGHESTMODSEQ"][-1])}

    def deliver(self, name, data):
        md = self.maildir()
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(md, "new", name))

    def sizes_of(self, m):
        typ, data = m.fetch("1:*", "(RFC822.SIZE)")
        self.assertEqual(typ, "OK")
        return [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]

    def test_sizes_missing_from_names_are_right_when_asked(self):
        sizes = self.fill()
        a = self.login()
        self.assertEqual(self.select(a)["exists"], self.COUNT)
        self.assertEqual(self.sizes_of(a), sizes)
        typ, data = a.search(None, "LARGER", "500")
        self.assertEqual(data[0].split(), [b"%d" % (i + 1) for i, n in enumerate(sizes) if n > 500])
        typ, data = a.search(None, "SMALLER", "30")
        self.assertEqual(data[0].split(), [b"%d" % (i + 1) for i, n in enumerate(sizes) if n < 30])
        a.noop()  # the sync writes the learnt sizes into the index
        with open(os.path.join(self.maildir(), "mtad-uidlist"), "rb") as f:
            self.assertTrue(f.readline().startswith(b"mtad-uidlist 1 "))
        b = self.login()
        typ, data = b.status("INBOX", "(MESSAGES SIZE)")
        self.assertIn(b"MESSAGES %d SIZE %d" % (self.COUNT, sum(sizes)), data[0])
        self.select(b, readonly=True)
        self.assertEqual(self.sizes_of(b), sizes)
        # STATUS SIZE on a fresh folder learns the sizes itself.
        os.unlink(os.path.join(self.maildir(), "mtad-uidlist"))
        c = self.login()
        typ, data = c.status("INBOX", "(SIZE)")
        self.assertIn(b"SIZE %d" % sum(sizes), data[0])

    def test_sessions_see_deliveries_and_changes_between_selects(self):
        self.fill()
        a = self.login()
        first = self.select(a)
        self.assertEqual((first["exists"], first["recent"], first["uidnext"]),
                         (self.COUNT, self.COUNT, self.COUNT + 1))
        b = self.login()
        second = self.select(b)
        self.assertEqual(second, dict(first, recent=0))
        # A delivery between two SELECTs: the next session sees it, as recent.
        self.deliver("1800000000.M1P1.mx,S=%d" % len(SIMPLE), SIMPLE)
        c = self.login()
        third = self.select(c)
        self.assertEqual((third["exists"], third["recent"], third["uidnext"], third["uidvalidity"]),
                         (self.COUNT + 1, 1, self.COUNT + 2, first["uidvalidity"]))
        typ, data = c.fetch("%d" % (self.COUNT + 1), "(UID FLAGS RFC822.SIZE)")
        self.assertIn(b"\\Recent", data[0])
        self.assertIn(b"RFC822.SIZE %d" % len(SIMPLE), data[0])
        # An expunge by one session and a flag change by another Maildir program.
        b.store("5", "+FLAGS", r"(\Deleted)")
        b.expunge()
        cur = os.path.join(self.maildir(), "cur")
        name = [n for n in os.listdir(cur) if n.startswith("1700000009.")][0]
        os.rename(os.path.join(cur, name), os.path.join(cur, name.split(":")[0] + ":2,F"))
        d = self.login()
        fourth = self.select(d)
        self.assertEqual((fourth["exists"], fourth["recent"], fourth["uidnext"]),
                         (self.COUNT, 0, self.COUNT + 2))
        self.assertGreater(fourth["highestmodseq"], third["highestmodseq"])
        typ, data = d.fetch("5,9", "(UID FLAGS)")
        self.assertEqual(data[0], b"5 (UID 6 FLAGS (\\Seen))")
        self.assertRegex(data[1].decode(), r"^9 \(UID 10 FLAGS \(\\Flagged\)\)$")
        # The first session learns all of it at its next command.
        a.untagged_responses.clear()
        a.noop()
        self.assertEqual(a.untagged_responses.pop("EXPUNGE"), [b"5"])
        self.assertEqual(a.untagged_responses.pop("EXISTS"), [b"%d" % self.COUNT])
        typ, data = a.fetch("9", "(UID FLAGS)")
        self.assertIn(b"\\Flagged", data[-1] if isinstance(data[-1], bytes) else data[-1][0])


    def age_dirs(self):
        """Directory mtimes a second old are trusted: opens stop rescanning, and imapd's
        sessions share the folder's parsed index and view."""
        past = time.time() - 10
        for sub in ("cur", "new"):
            os.utime(os.path.join(self.maildir(), sub), (past, past))

    def flags_of(self, m, seq):
        typ, data = m.fetch(seq, "(FLAGS)")
        self.assertEqual(typ, "OK")
        return [d for d in data if isinstance(d, bytes) and b"FLAGS" in d][-1]

    def test_sessions_sharing_the_folder_see_each_others_changes(self):
        """Sessions of one imapd that share a large folder's parsed index and view: a STORE or
        EXPUNGE by one is seen by the others at their next command, and a delivery while all
        are selected reaches each of them, \\Recent in exactly one."""
        self.fill()
        a = self.login()
        self.select(a)  # claims every message as \Recent: its view is its own
        # Only a folder whose sizes are all known is shared: learnt here, written by the NOOP.
        self.sizes_of(a)
        a.noop()
        self.age_dirs()
        b, c, r = self.login(), self.login(), self.login()
        self.assertEqual(self.select(b)["recent"], 0)
        self.assertEqual(self.select(c)["recent"], 0)
        self.assertEqual(self.select(r, readonly=True)["exists"], self.COUNT)
        b.store("3", "+FLAGS", r"(\Flagged)")
        self.assertIn(b"\\Flagged", self.flags_of(b, "3"))
        c.untagged_responses.clear()
        c.noop()
        self.assertIn(b"\\Flagged", self.flags_of(c, "3"))
        r.noop()
        self.assertIn(b"\\Flagged", self.flags_of(r, "3"))
        c.store("4", "+FLAGS", r"(\Deleted)")
        c.expunge()
        for m in (b, r, a):
            m.untagged_responses.clear()
            m.noop()
            self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"4"])
            self.assertIn(b"\\Flagged", self.flags_of(m, "3"))
            typ, data = m.fetch("4", "(UID)")
            self.assertEqual(data[-1], b"4 (UID 5)")
        # A delivery while all are selected.
        self.deliver("1800000000.M2P1.mx,S=%d" % len(SIMPLE), SIMPLE)
        recent = 0
        for m in (a, b, c, r):
            m.untagged_responses.clear()
            m.noop()
            self.assertEqual(m.untagged_responses.pop("EXISTS"), [b"%d" % self.COUNT])
            last = self.flags_of(m, "%d" % self.COUNT)
            recent += b"\\Recent" in last
            typ, data = m.fetch("%d" % self.COUNT, "(UID RFC822.SIZE)")
            self.assertIn(b"UID %d RFC822.SIZE %d" % (self.COUNT + 1, len(SIMPLE)), data[0])
        self.assertEqual(recent, 1)
        # A new session sees the same.
        self.age_dirs()
        d = self.login()
        self.assertEqual(self.select(d)["exists"], self.COUNT)
        typ, data = d.fetch("1:*", "(FLAGS)")
        self.assertEqual(len(data), self.COUNT)
        self.assertIn(b"\\Flagged", self.flags_of(d, "3"))
        for m in (a, b, c, r, d):
            m.logout()


class ExtensionTest(IMAPTestCase):
    def test_enable_condstore_id_unselect(self):
        m = self.login()
        self.append(m, SIMPLE)
        typ, data = self.raw(m, "ID", '("name" "test")')
        self.assertEqual(typ, "OK")
        self.assertIn(b'"name" "imapd"', m.untagged_responses.pop("ID")[0])
        typ, data = self.raw(m, "ENABLE", "CONDSTORE")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"CONDSTORE"])
        typ, data = m.select("INBOX")
        self.assertTrue(any(b"HIGHESTMODSEQ" in x for x in m.untagged_responses.get("OK", [])))
        typ, data = m.fetch("1", "(MODSEQ)")
        modseq = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
        typ, data = m.store("1", "(UNCHANGEDSINCE %d) +FLAGS" % modseq, r"(\Seen)")
        self.assertEqual(typ, "OK")
        typ, data = m.store("1", "(UNCHANGEDSINCE %d) +FLAGS" % modseq, r"(\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("MODIFIED"), [b"1"])
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Flagged", data[0])
        self.assertEqual(m.unselect()[0], "OK")
        typ, data = self.raw(m, "ENABLE", "IMAP4rev2")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"IMAP4rev2"])
        m.select("INBOX")
        self.assertNotIn("RECENT", m.untagged_responses)
        typ, data = m.search(None, "ALL")
        self.assertEqual(m.untagged_responses.pop("ESEARCH")[0][-5:], b"ALL 1")

    def test_imap4rev2_utf8_mailbox_names(self):
        m = self.login()
        self.raw(m, "ENABLE", "IMAP4rev2")
        m.literal = "B\u00fccher".encode()
        typ, data = self.raw(m, "CREATE")
        self.assertEqual(typ, "OK", data)
        self.assertTrue(os.path.isdir(os.path.join(self.maildir("B&APw-cher"), "cur")))
        typ, data = m.list('""', "B*")
        self.assertIn('"/" "B\u00fccher"', b"\n".join(d for d in data if d).decode())
        # Without IMAP4rev2 the same folder is named in modified UTF-7.
        other = self.login()
        typ, data = other.list('""', "B*")
        self.assertIn(b'"/" B&APw-cher', b"\n".join(d for d in data if d))

    def test_bad_config_version_help(self):
        import subprocess
        from harness import binary
        bad = os.path.join(self.server.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write("hostname = x\nno_such_key = 1\n")
        r = subprocess.run([binary("imapd"), "-c", bad, "-f"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 78)
        self.assertIn(b"bad.conf:2", r.stderr)
        r = subprocess.run([binary("imapd"), "--version"], stdout=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b"imapd "))
        r = subprocess.run([binary("imapd"), "--help"], stdout=subprocess.PIPE, timeout=10)
        self.assertIn(b"-c FILE", r.stdout)

    def test_hostile_input(self):
        m = self.login()
        # An over-long line: BAD, and the session goes on.
        tag = m._new_tag()
        m.send(tag + b" NOOP " + b"x" * 100000 + b"\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag) or line.startswith(b"* BAD"):
                self.assertIn(b"BAD", line)
                break
        self.assertEqual(m.noop()[0], "OK")
        # A literal beyond max_message_size is refused before any byte of it is sent.
        tag = m._new_tag()
        m.send(tag + b" APPEND INBOX {999999999999}\r\n")
        line = m.readline()
        self.assertTrue(line.startswith(tag + b" NO") or line.startswith(tag + b" BAD"), line)
        self.assertEqual(m.noop()[0], "OK")
        # Literals before login are small.
        s = socket.create_connection(("127.0.0.1", self.server.imap_port), timeout=5)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a LOGIN {100000}\r\n")
        self.assertRegex(f.readline(), rb"^(a|\*) BAD")
        s.close()


if __name__ == "__main__":
    unittest.main()
