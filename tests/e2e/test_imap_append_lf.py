# test_imap_append_lf.py - APPEND of LF-only text is stored with CRLF line ends (as Dovecot does); CRLF input is stored byte for byte.
import os
import re
import socket
import ssl
import unittest

from harness import MailServer, tls_context


class AppendLineEndsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer()
        cls.m.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def session(self):
        raw = socket.create_connection(("127.0.0.1", self.m.imaps_port), timeout=10)
        s = tls_context().wrap_socket(raw)
        self.addCleanup(s.close)
        self.buf = b""
        self.s = s
        self.line()
        self.cmd(b"a LOGIN alice@localhost " + self.m.password.encode())
        return s

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def cmd(self, text):
        tag = text.split(b" ", 1)[0]
        self.s.sendall(text + b"\r\n")
        while True:
            l = self.line()
            if l.startswith(tag + b" "):
                self.assertTrue(l.startswith(tag + b" OK"), l)
                return l

    def append(self, data):
        self.s.sendall(b"b APPEND INBOX {%d}\r\n" % len(data))
        self.assertTrue(self.line().startswith(b"+"))
        self.s.sendall(data + b"\r\n")
        while True:
            l = self.line()
            if l.startswith(b"b "):
                self.assertTrue(l.startswith(b"b OK"), l)
                return int(re.search(rb"APPENDUID \d+ (\d+)", l).group(1))

    def stored(self, marker):
        for sub in ("cur", "new"):
            d = os.path.join(self.m.maildir("alice@localhost"), sub)
            for name in os.listdir(d):
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                if marker in data:
                    return data
        return None

    def test_lf_only_is_stored_as_crlf(self):
        self.session()
        self.append(b"Subject: lf-only\nFrom: a@example.org\n\nline one\nline two\n")
        self.assertEqual(self.stored(b"lf-only"),
                         b"Subject: lf-only\r\nFrom: a@example.org\r\n\r\nline one\r\nline two\r\n")

    def test_crlf_is_stored_byte_for_byte(self):
        self.session()
        data = b"Subject: crlf-kept\r\nFrom: a@example.org\r\n\r\nbody\r\nno final newline"
        self.append(data)
        self.assertEqual(self.stored(b"crlf-kept"), data)


if __name__ == "__main__":
    unittest.main()
