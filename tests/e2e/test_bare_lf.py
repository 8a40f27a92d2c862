# test_bare_lf.py - LF-only mail from trusted clients (relay_networks, the local socket) is stored with CRLF; from anyone else on the MX port it is still 554 5.6.0.
import os
import socket
import subprocess
import unittest

from harness import TIMEOUT_SCALE, MailServer, SMTPClient, binary

LF_ONLY = (b"From: printer@localhost\nMessage-ID: <%s@x>\nSubject: scan\n\n"
           b"line one\n..leading dot\nlast line\n.\n")


class LocalSocketClient(SMTPClient):
    """SMTPClient over state_dir/submit.sock (the sendmail command's way in)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * TIMEOUT_SCALE)
        self.sock.connect(path)
        self.buf = b""
        self.banner = self.reply()


def transaction(c, rcpt="alice@localhost"):
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<printer@localhost>")[0] == 250
    code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
    assert code == 250, lines


def assert_crlf_only(test, stored):
    test.assertNotIn(b"\n", stored.replace(b"\r\n", b""), stored)
    test.assertNotIn(b"\r", stored.replace(b"\r\n", b""), stored)


class TrustedClientTest(unittest.TestCase):
    """127.0.0.1 is in relay_networks: its bare LFs are line ends, stored as CRLF."""

    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"relay_networks": "127.0.0.0/8"})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_data_lf_only_delivered_with_crlf(self):
        c = SMTPClient(self.m.smtp_port)
        try:
            transaction(c)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(LF_ONLY % b"lf-data")  # "\n.\n" ends it, as Postfix does for mynetworks
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            self.assertEqual(c.cmd("NOOP")[0], 250)  # the next command is read after "\n.\n"
        finally:
            c.close()
        stored = self.m.wait_message("alice@localhost", b"<lf-data@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertIn(b"\r\nSubject: scan\r\n\r\nline one\r\n.leading dot\r\nlast line\r\n", stored)
        assert_crlf_only(self, stored)

    def test_bdat_lf_only_across_chunks(self):
        c = SMTPClient(self.m.smtp_port)
        parts = [b"Message-ID: <lf-bdat@x>\n\nline one", b"\nline two\n"]
        try:
            transaction(c)
            for i, p in enumerate(parts):
                last = " LAST" if i == len(parts) - 1 else ""
                c.send(b"BDAT %d%s\r\n" % (len(p), last.encode()) + p)
                code, lines = c.reply()
                self.assertEqual(code, 250, lines)
        finally:
            c.close()
        stored = self.m.wait_message("alice@localhost", b"<lf-bdat@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertTrue(stored.endswith(b"\r\n\r\nline one\r\nline two\r\n"), stored)
        assert_crlf_only(self, stored)

    def test_bare_cr_still_refused(self):
        c = SMTPClient(self.m.smtp_port)
        try:
            transaction(c)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: cr\n\nx\ry\n.\n")
            code, lines = c.reply()
            self.assertEqual(code, 554, lines)
            self.assertIn("5.6.0", lines[0])
        finally:
            c.close()

    def test_local_socket_lf_only(self):
        c = LocalSocketClient(os.path.join(self.m.state_dir, "submit.sock"))
        try:
            transaction(c, "bob@localhost")
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(LF_ONLY % b"lf-local")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
        finally:
            c.close()
        stored = self.m.wait_message("bob@localhost", b"<lf-local@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertIn(b"\r\nline one\r\n.leading dot\r\nlast line\r\n", stored)
        assert_crlf_only(self, stored)


class UntrustedClientTest(unittest.TestCase):
    """relay_networks leaves 127.0.0.1 out: the MX port keeps the smuggling protection."""

    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"relay_networks": "127.0.0.2/32"})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def refused(self, body_parts):
        c = SMTPClient(self.m.smtp_port)
        try:
            transaction(c)
            self.assertEqual(c.cmd("DATA")[0], 354)
            for p in body_parts:
                c.send(p)
            code, lines = c.reply()
            self.assertEqual(code, 554, lines)
            self.assertIn("5.6.0", lines[0])
            self.assertEqual(c.cmd("NOOP")[0], 250)
        finally:
            c.close()

    def test_lf_only_data_refused(self):
        # "\n.\n" does not end the data here: only the CRLF.CRLF after it does
        self.refused([LF_ONLY % b"mx-lf", b"\r\n.\r\n"])

    def test_lf_dot_crlf_refused(self):
        self.refused([b"Subject: s\r\n\r\nx\n.\r\nMAIL FROM:<a@b>\r\n", b"\r\n.\r\n"])

    def test_bdat_lf_only_refused(self):
        c = SMTPClient(self.m.smtp_port)
        body = b"Message-ID: <mx-bdat@x>\n\nline\n"
        try:
            transaction(c)
            c.send(b"BDAT %d LAST\r\n" % len(body) + body)
            code, lines = c.reply()
            self.assertEqual(code, 554, lines)
            self.assertIn("5.6.0", lines[0])
        finally:
            c.close()

    def test_nothing_delivered(self):
        self.test_lf_only_data_refused()
        self.assertEqual(self.m.messages("alice@localhost"), [])

    def test_sendmail_lf_only_input_delivered_with_crlf(self):
        env = dict(os.environ, MAIL_CONF=self.m.config_path)
        r = subprocess.run([binary("sendmail"), "-f", "printer@localhost", "bob@localhost"],
                           input=LF_ONLY % b"lf-sendmail", capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("bob@localhost", b"<lf-sendmail@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertIn(b"\r\nline one\r\n..leading dot\r\nlast line\r\n", stored)
        assert_crlf_only(self, stored)


if __name__ == "__main__":
    unittest.main()
