"""test_imap_pipeline.py - pipelined IMAP commands (which imapd runs in batches on its thread pool): every response complete, in order and byte-exact, also while another session expunges."""
import imaplib
import random
import re
import socket
import unittest

from harness import MailServer, SLOW

PASSWORD = "secret"
ALICE = "alice@localhost"
COUNT = 120


def subject(i):
    return b"pipeline %d%s" % (i, b" quarterly report" if i % 7 == 0 else b"")


def make_message(i):
    """Message i: sizes from 200 bytes to about 60 KB, CRLF lines, a distinct body."""
    lines = [b"From: Bob <bob@example.org>", b"To: alice@localhost", b"Subject: " + subject(i),
             b"Message-ID: <pipe-%d@example.org>" % i, b""]
    rnd = random.Random(i)
    for k in range(rnd.choice((2, 40, 400, 900))):
        lines.append(b"message %d line %d %s" % (i, k, b"x" * rnd.randint(0, 60)))
    return b"\r\n".join(lines) + b"\r\n"


class RawIMAP:
    """A plaintext IMAP connection that sends without waiting and parses what comes back."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120 if SLOW else 60)
        self.buf = b""
        self.line()     # greeting

    def _fill(self):
        data = self.s.recv(1 << 20)
        if not data:
            raise EOFError("imapd closed the connection")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self):
        """One response: (text with each literal replaced by {}, [literals])."""
        text, literals = b"", []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            if not m:
                return text + line, literals
            need = int(m.group(1))
            while len(self.buf) < need:
                self._fill()
            literals.append(self.buf[:need])
            self.buf = self.buf[need:]
            text += line[:m.start()] + b"{}"

    def until_tag(self, tag):
        """Responses up to and including the tagged one of tag."""
        out = []
        while True:
            r = self.response()
            out.append(r)
            if r[0].startswith(tag.encode() + b" "):
                return out

    def command(self, tag, text):
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        return self.until_tag(tag)


class IMAPPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"imap_plaintext_auth": "yes"})
        cls.m.start("imapd")
        cls.msgs = [make_message(i) for i in range(COUNT)]
        c = imaplib.IMAP4("127.0.0.1", cls.m.imap_port, timeout=60)
        assert c.login(ALICE, PASSWORD)[0] == "OK"
        for folder in ("INBOX", "Expunging"):
            if folder != "INBOX":
                assert c.create(folder)[0] == "OK"
            for msg in cls.msgs:
                typ, resp = c.append(folder, None, None, msg)
                assert typ == "OK", resp
        c.logout()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()   # raises on a sanitizer report (ASan build)

    def setUp(self):
        self.assertIsNone(self.m.procs["imapd"].poll(), self.m.log("imapd"))

    def login(self, folder):
        r = RawIMAP(self.m.imap_port)
        self.assertTrue(r.command("l", "LOGIN %s %s" % (ALICE, PASSWORD))[-1][0].startswith(b"l OK"))
        self.assertTrue(r.command("s", "SELECT %s" % folder)[-1][0].startswith(b"s OK"))
        return r

    def test_500_mixed_commands_answered_in_order(self):
        """500 pipelined FETCH, UID FETCH, STORE, SEARCH, UID SEARCH and NOOP sent in one go:
        each gets its own responses, complete, in the order sent, bodies byte for byte."""
        r = self.login("INBOX")
        rnd = random.Random(7)
        plan = []   # (tag, kind, argument)
        for i in range(500):
            tag = "p%03d" % i
            kind = rnd.choice(("fetch", "fetch", "fetch", "uidfetch", "store", "search", "uidsearch", "noop"))
            n = rnd.randint(1, COUNT)
            if kind == "fetch":
                text = "FETCH %d (BODY.PEEK[])" % n
            elif kind == "uidfetch":
                text = "UID FETCH %d (UID RFC822.SIZE BODY.PEEK[TEXT])" % n   # UIDs are 1..COUNT here
            elif kind == "store":
                text = "STORE %d +FLAGS (\\Flagged)" % n
            elif kind == "search":
                text = "SEARCH SUBJECT \"quarterly report\""
            elif kind == "uidsearch":
                text = "UID SEARCH HEADER Subject \"pipeline %d\"" % (n - 1)
            else:
                text = "NOOP"
            plan.append((tag, kind, n, text))
        r.s.sendall(b"".join(("%s %s\r\n" % (tag, text)).encode() for tag, _, _, text in plan))
        flagged = set()
        quarterly = sorted(i + 1 for i in range(COUNT) if i % 7 == 0)
        for tag, kind, n, text in plan:
            resps = r.until_tag(tag)
            tagged, untagged = resps[-1], resps[:-1]
            self.assertTrue(tagged[0].startswith(tag.encode() + b" OK"), (text, tagged))
            for line, _ in untagged:
                # responses of one command never run into those of another
                self.assertFalse(re.match(rb"p\d\d\d ", line), (text, line))
            if kind in ("fetch", "uidfetch"):
                self.assertEqual(len(untagged), 1, (text, untagged))
                line, literals = untagged[0]
                self.assertTrue(line.startswith(b"* %d FETCH (" % n), (text, line))
                body = self.msgs[n - 1]
                if kind == "uidfetch":
                    body = body.split(b"\r\n\r\n", 1)[1]
                    self.assertIn(b"RFC822.SIZE %d" % len(self.msgs[n - 1]), line)
                self.assertEqual(literals, [body], text)
            elif kind == "store":
                flagged.add(n)
                self.assertEqual(len(untagged), 1, (text, untagged))
                self.assertIn(b"* %d FETCH (FLAGS (" % n, untagged[0][0])
                self.assertIn(b"\\Flagged", untagged[0][0])
            elif kind == "search":
                self.assertEqual([u[0] for u in untagged],
                                 [b"* SEARCH " + b" ".join(b"%d" % q for q in quarterly)])
            elif kind == "uidsearch":
                want = [i + 1 for i in range(COUNT) if b"pipeline %d" % (n - 1) in subject(i)]
                self.assertEqual([u[0] for u in untagged],
                                 [b"* SEARCH " + b" ".join(b"%d" % u for u in want)])
            else:
                self.assertEqual(untagged, [])
        # The flags really are stored.
        resps = r.command("f", "SEARCH FLAGGED")
        self.assertEqual(resps[0][0], b"* SEARCH " + b" ".join(b"%d" % k for k in sorted(flagged)))
        r.command("u", "STORE 1:* -FLAGS (\\Flagged)")
        r.command("o", "LOGOUT")
        r.s.close()

    def test_expunge_from_another_session_in_the_middle(self):
        """While 400 pipelined fetches are being answered, another session expunges messages:
        every command is answered in order; a body that comes is the right one, byte for byte
        (identified by its UID); EXPUNGE is reported only where allowed (NOOP), never inside
        FETCH; afterwards the folder is consistent."""
        a = self.login("Expunging")
        rnd = random.Random(11)
        plan = []
        for i in range(400):
            tag = "e%03d" % i
            if i % 50 == 49:
                plan.append((tag, "NOOP"))
            else:
                plan.append((tag, "FETCH %d (UID BODY.PEEK[])" % rnd.randint(1, COUNT - 20)))
        a.s.sendall(b"".join(("%s %s\r\n" % (tag, text)).encode() for tag, text in plan))
        # Read a little so that the pipeline is under way, then expunge from another session.
        first = a.until_tag("e000")
        self.assertTrue(first[-1][0].startswith(b"e000 OK"))
        b = self.login("Expunging")
        gone_uids = list(range(2, COUNT, 9))
        self.assertTrue(b.command("d", "UID STORE %s +FLAGS.SILENT (\\Deleted)"
                                  % ",".join(map(str, gone_uids)))[-1][0].startswith(b"d OK"))
        self.assertTrue(b.command("x", "EXPUNGE")[-1][0].startswith(b"x OK"))
        b.command("o", "LOGOUT")
        b.s.close()
        expunged = 0
        answered_no = 0
        for tag, text in plan[1:]:
            resps = a.until_tag(tag)
            tagged, untagged = resps[-1], resps[:-1]
            if text == "NOOP":
                self.assertTrue(tagged[0].startswith(tag.encode() + b" OK"), tagged)
                for line, _ in untagged:
                    if line.endswith(b" EXPUNGE"):
                        expunged += 1
                continue
            self.assertRegex(tagged[0], rb"^%s (OK|NO) " % tag.encode())
            answered_no += tagged[0].startswith(tag.encode() + b" NO")
            for line, literals in untagged:
                self.assertFalse(line.endswith(b" EXPUNGE"), (text, line))
                m = re.match(rb"\* (\d+) FETCH \(UID (\d+) BODY\[\] \{\}\)$", line)
                if m is None:
                    self.assertRegex(line, rb"^\* \d+ (EXISTS|RECENT|FETCH \(FLAGS)", (text, line))
                    continue
                uid = int(m.group(2))
                self.assertEqual(literals, [self.msgs[uid - 1]], (text, uid))
        print("\nimap pipeline with an expunge in the middle: %d of %d fetches found their message gone"
              % (answered_no, len(plan) - 8))
        resps = a.command("n", "NOOP")
        expunged += sum(1 for line, _ in resps if line.endswith(b" EXPUNGE"))
        self.assertEqual(expunged, len(gone_uids))
        resps = a.command("u", "UID SEARCH ALL")
        left = [int(x) for x in resps[0][0].split()[2:]]
        self.assertEqual(left, [u for u in range(1, COUNT + 1) if u not in gone_uids])
        a.command("o", "LOGOUT")
        a.s.close()
        self.assertIsNone(self.m.procs["imapd"].poll(), self.m.log("imapd"))


if __name__ == "__main__":
    unittest.main()
