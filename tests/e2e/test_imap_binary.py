# test_imap_binary.py - BINARY, SEARCHRES, CATENATE, MULTIAPPEND and UTF8=ACCEPT (issue 17) with their RFCs' examples, and bug 6 (no NUL in a {n} literal).
"""One imapd, one raw session per test: literals are sent as LITERAL+ {n+} / ~{n+} so that a
whole command is one write, and responses keep their literals (~{n} too) inline."""
import re
import socket
import unittest

from harness import MailServer

USER = "alice@localhost"

# RFC 3516 4.2's idea: a part with Content-Transfer-Encoding binary holding NUL octets.
BINARY_MSG = (b"From: a@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
              b"Content-Type: text/plain\r\n\r\nhello\r\n--b\r\n"
              b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
              b"\x00\x01\xff\x00 end\r\n--b--\r\n")


def literal(data, binary=False):
    return b"%s{%d+}\r\n%s" % (b"~" if binary else b"", len(data), data)


class Session:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        self.line()

    def line(self):
        """One response line with its literals ({n} or ~{n}) inline."""
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        m = re.search(rb"~?\{(\d+)\}$", line)
        if m:
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.line()
        return line

    def cmd(self, *parts):
        """Sends one command (str and bytes parts joined by spaces); returns (untagged, tagged)."""
        self.n += 1
        tag = b"t%d" % self.n
        data = b" ".join(p.encode() if isinstance(p, str) else p for p in parts)
        self.sock.sendall(tag + b" " + data + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)


class BinaryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MailServer(extra={"imap_plaintext_auth": "yes"})
        cls.server.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def setUp(self):
        self.s = Session(self.server.imap_port)
        _, r = self.s.cmd("LOGIN", USER, self.server.password)
        self.assertIn(b"OK", r)
        self.box = self.id().rsplit(".", 1)[-1]
        self.assertIn(b" OK", self.s.cmd("CREATE", self.box)[1])
        self.addCleanup(self.s.sock.close)

    def append(self, *parts):
        return self.s.cmd("APPEND", self.box, *parts)

    def test_capabilities(self):
        caps = self.s.cmd("CAPABILITY")[0][0].split()
        for c in (b"BINARY", b"SEARCHRES", b"CATENATE", b"MULTIAPPEND", b"UTF8=ACCEPT", b"LITERAL+"):
            self.assertIn(c, caps)

    def test_bug6_binary_append_never_puts_nul_in_a_literal(self):
        _, r = self.append(literal(BINARY_MSG, binary=True))
        self.assertIn(b"OK [APPENDUID", r)
        self.s.cmd("SELECT", self.box)
        untagged, r = self.s.cmd("FETCH 1 (BODY.PEEK[] BODY.PEEK[2])")
        self.assertIn(b" OK", r)
        self.assertNotIn(b"\x00", b"".join(untagged), "NUL inside a {n} literal")
        self.assertNotIn(b"~{", b"".join(untagged), "literal8 outside BINARY")
        # RFC 3516 4.2: BINARY gives the original octets back, in a literal8.
        untagged, r = self.s.cmd("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2] BINARY.PEEK[1])")
        self.assertIn(b"BINARY.SIZE[2] 8", untagged[0])
        self.assertIn(b"BINARY[2] ~{8}\r\n\x00\x01\xff\x00 end", untagged[0])
        self.assertIn(b"BINARY[1] {5}\r\nhello", untagged[0])
        untagged, _ = self.s.cmd("FETCH 1 (BINARY.PEEK[2]<1.3>)")
        self.assertIn(b"BINARY[2]<1> ~{3}\r\n\x01\xff\x00", untagged[0])

    def test_binary_decodes_base64_and_qp_and_refuses_unknown_cte(self):
        # RFC 3516 4.1: FETCH BINARY[1] of a base64 part returns the decoded octets.
        msg = (b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
               b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n"
               b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nq=3Dp=\r\nz\r\n"
               b"--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n")
        self.append(literal(msg))
        self.s.cmd("SELECT", self.box)
        untagged, r = self.s.cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])")
        self.assertIn(b"BINARY[1] {11}\r\nhello world", untagged[0])
        self.assertIn(b"BINARY.SIZE[2] 4 BINARY[2] {4}\r\nq=pz)", untagged[0])
        _, r = self.s.cmd("FETCH 1 BINARY.PEEK[3]")
        self.assertIn(b"NO [UNKNOWN-CTE]", r)

    def test_searchres_rfc5182_examples(self):
        for i in range(4):
            self.append("(\\Flagged)" if i % 2 else "()", literal(b"Subject: %d\r\n\r\nx\r\n" % i))
        self.s.cmd("SELECT", self.box)
        # RFC 5182 2.1: SAVE alone sends no ESEARCH; FETCH $ then uses it.
        untagged, r = self.s.cmd("SEARCH RETURN (SAVE) FLAGGED")
        self.assertIn(b" OK", r)
        self.assertEqual([u for u in untagged if b"SEARCH" in u], [])
        untagged, _ = self.s.cmd("FETCH $ (UID FLAGS)")
        self.assertEqual([u.split()[1] for u in untagged if b"FETCH" in u], [b"2", b"4"])
        # "$" in SEARCH and UID commands; then MIN MAX SAVE keeps only those two.
        untagged, _ = self.s.cmd("UID SEARCH $ NOT 2")
        self.assertEqual(untagged, [b"* SEARCH 4"])
        untagged, _ = self.s.cmd("SEARCH RETURN (MIN MAX SAVE) ALL")
        self.assertIn(b"MIN 1 MAX 4", untagged[0])
        untagged, _ = self.s.cmd("UID FETCH $ UID")
        self.assertEqual(len(untagged), 2)
        self.assertIn(b" OK", self.s.cmd("STORE $ +FLAGS (\\Seen)")[1])
        # A SEARCH with SAVE that fails leaves "$" empty.
        self.assertIn(b" BAD", self.s.cmd("SEARCH RETURN (SAVE) NOSUCHKEY")[1])
        self.assertEqual(self.s.cmd("UID SEARCH $")[0], [b"* SEARCH"])

    def test_catenate_rfc4469(self):
        self.append(literal(b"Subject: parts\r\nMIME-Version: 1.0\r\n"
                            b"Content-Type: multipart/mixed; boundary=q\r\n\r\n"
                            b"--q\r\n\r\nfirst\r\n--q\r\n\r\nsecond\r\n--q--\r\n"))
        untagged, _ = self.s.cmd("SELECT", self.box)
        uidv = re.search(rb"UIDVALIDITY (\d+)", b" ".join(untagged)).group(1).decode()
        # RFC 4469 5's shape: a header from a URL, a literal, a part from a URL.
        _, r = self.append("(\\Seen) CATENATE (URL \"/%s;UIDVALIDITY=%s/;UID=1/;SECTION=HEADER\""
                           % (self.box, uidv), "TEXT", literal(b"new text\r\n"),
                           "URL \"/%s/;UID=1/;SECTION=2\")" % self.box)
        self.assertIn(b"OK [APPENDUID", r)
        _, r = self.append("CATENATE (URL \"/%s;UIDVALIDITY=1/;UID=1\")" % self.box)
        self.assertIn(b"NO [BADURL", r)
        self.s.cmd("NOOP")
        untagged, _ = self.s.cmd("FETCH 2 (FLAGS BODY.PEEK[TEXT])")
        self.assertIn(b"\\Seen", untagged[0])
        self.assertIn(b"new text\r\nsecond", untagged[0])

    def test_multiappend_rfc3502_all_or_nothing(self):
        # RFC 3502 6: two messages, one APPENDUID with a UID range.
        _, r = self.append("(\\Seen)", literal(b"Subject: one\r\n\r\n1\r\n"),
                           "(\\Seen) \" 7-Feb-1994 22:43:04 -0800\"",
                           literal(b"Subject: two\r\n\r\n2\r\n"))
        self.assertRegex(r, rb"OK \[APPENDUID \d+ 1:2\]")
        # A bad second message: nothing of the command is stored.
        _, r = self.append(literal(b"Subject: three\r\n\r\n3\r\n"),
                           "CATENATE (URL \"/%s/;UID=99\")" % self.box)
        self.assertIn(b"NO [BADURL", r)
        untagged, _ = self.s.cmd("STATUS", self.box, "(MESSAGES UIDNEXT)")
        self.assertIn(b"MESSAGES 2 UIDNEXT 3", untagged[0])

    def test_utf8_accept_rfc6855(self):
        name = "Bücher-" + self.box
        untagged, _ = self.s.cmd("ENABLE UTF8=ACCEPT")
        self.assertEqual(untagged, [b"* ENABLED UTF8=ACCEPT"])
        self.assertIn(b" OK", self.s.cmd(b"CREATE \"" + name.encode() + b"\"")[1])
        untagged, _ = self.s.cmd("LIST \"\" \"Bü*\"")
        self.assertIn(name.encode(), b"".join(untagged))
        _, r = self.s.cmd(b"APPEND \"" + name.encode() + b"\" UTF8 (" +
                          literal("Subject: Grüße\r\n\r\nx\r\n".encode(), binary=True) + b")")
        self.assertIn(b"OK [APPENDUID", r)


if __name__ == "__main__":
    unittest.main()
