"""test_security_smtp.py - the SMTP audit findings end to end: one sender policy for every authenticated session (MX and submission), BDAT size and memory bounds, originator and duplicate header fields, and the same body rules for BDAT as for DATA."""
import base64
import smtplib
import socket
import time
import unittest

from harness import SLOW, MailServer, SMTPClient, rss_kib, tls_context, wait_until


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


class AuthenticatedSenderTest(unittest.TestCase):
    """F0, F2: the same rules whichever listener the account authenticated on."""

    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(aliases="sales@localhost: alice, bob\n")
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def session(self, port):
        s = smtplib.SMTP("127.0.0.1", port, timeout=20)
        s.ehlo("c.example")
        s.starttls(context=tls_context())
        s.ehlo("c.example")
        self.assertTrue(s.has_extn("auth"))
        s.login("alice@localhost", "secret")
        return s

    def ports(self):
        return (("mx", self.m.smtp_port), ("submission", self.m.submission_port))

    def send(self, port, sender, message, rcpt="bob@localhost"):
        """MAIL, RCPT and DATA as alice; the reply to MAIL if refused, else the one to DATA."""
        with self.session(port) as s:
            code, msg = s.mail(sender)
            if code != 250:
                return code, msg
            self.assertEqual(s.rcpt(rcpt)[0], 250)
            return s.data(message)

    def test_envelope_sender_of_another_account_refused_on_every_listener(self):
        for name, port in self.ports():
            for other in ("bob@localhost", "carol@example.test"):
                with self.subTest(listener=name, sender=other), self.session(port) as s:
                    code, msg = s.mail(other)
                    self.assertEqual(code, 553, msg)
                    self.assertIn(b"5.7.1", msg)
            with self.subTest(listener=name, sender="own"), self.session(port) as s:
                self.assertEqual(s.mail("alice@localhost")[0], 250)
                s.rset()
                self.assertEqual(s.mail("sales@localhost")[0], 250, "an alias including alice")
                s.rset()
                self.assertEqual(s.mail("alice+lists@localhost")[0], 250)

    def test_from_header_of_another_account_refused_on_every_listener(self):
        for name, port in self.ports():
            with self.subTest(listener=name):
                code, msg = self.send(port, "alice@localhost",
                                      b"From: Bob <bob@localhost>\r\nSubject: x\r\n\r\nhi\r\n",
                                      rcpt="someone@remote.example")
                self.assertEqual(code, 553, msg)
                self.assertIn(b"5.7.1", msg)
                mid = ("<own-%s@x>" % name).encode()
                code, msg = self.send(port, "alice@localhost",
                                      b"From: Sales <sales@localhost>\r\nMessage-ID: " + mid +
                                      b"\r\n\r\nhi\r\n")
                self.assertEqual(code, 250, msg)
                self.assertIsNotNone(self.m.wait_message("bob@localhost", mid), self.m.log())

    def test_every_originator_field_checked(self):
        cases = {
            "second From:": b"From: alice@localhost\r\nFrom: bob@localhost\r\n",
            "Sender:": b"From: alice@localhost\r\nSender: bob@localhost\r\n",
            "Resent-From:": b"From: alice@localhost\r\nResent-From: bob@localhost\r\n",
            "Resent-Sender:": b"From: alice@localhost\r\nResent-Sender: <carol@example.test>\r\n",
            "second address": b"From: alice@localhost, bob@localhost\r\n",
            "folded": b"From: alice@localhost\r\nSender:\r\n bob@localhost\r\n",
        }
        for name, port in self.ports():
            for what, header in cases.items():
                with self.subTest(listener=name, case=what):
                    code, msg = self.send(port, "alice@localhost", header + b"\r\nbody\r\n")
                    self.assertIn(code, (550, 553, 554), msg)
                    self.assertTrue(b"5.7.1" in msg or b"5.6.0" in msg, msg)
        # her own Sender: and Resent-From: (an alias including her) pass
        code, msg = self.send(self.m.submission_port, "alice@localhost",
                              b"From: alice@localhost\r\nSender: alice@localhost\r\n"
                              b"Resent-From: sales@localhost\r\nMessage-ID: <own-sender@x>\r\n\r\nhi\r\n")
        self.assertEqual(code, 250, msg)

    def test_nul_in_from_refused(self):
        for name, port in self.ports():
            with self.subTest(listener=name):
                code, msg = self.send(port, "alice@localhost",
                                      b"From: alice@localhost\0bob@localhost\r\n\r\nhi\r\n")
                self.assertEqual(code, 554, msg)
                self.assertIn(b"5.6.0", msg)

    def test_duplicate_single_instance_fields_refused(self):
        for field in ("Subject", "To", "Date", "Message-ID", "Reply-To", "Cc", "Bcc",
                      "In-Reply-To", "References"):
            with self.subTest(field=field):
                header = ("From: alice@localhost\r\n%s: <a@x>\r\n%s: <b@x>\r\n" % (field, field)).encode()
                code, msg = self.send(self.m.submission_port, "alice@localhost", header + b"\r\nhi\r\n")
                self.assertEqual(code, 554, msg)
                self.assertIn(b"5.6.0", msg)
                self.assertIn(field.encode(), msg)

    def test_unauthenticated_mx_mail_unchanged(self):
        # inbound mail is not an account's: any sender, duplicate fields and all, as before
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("bob@elsewhere.example", ["bob@localhost"],
                       b"From: bob@elsewhere.example\r\nSubject: a\r\nSubject: b\r\n"
                       b"Message-ID: <inbound-dup@x>\r\n\r\nhi\r\n")
        self.assertIsNotNone(self.m.wait_message("bob@localhost", b"<inbound-dup@x>"), self.m.log())


class BdatTest(unittest.TestCase):
    """F1, F7: BDAT sizes are checked before they are added, and BDAT bodies obey DATA's rules."""

    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"max_message_size": "1M"})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def begin(self):
        c = SMTPClient(self.m.smtp_port)
        self.assertEqual(c.cmd("EHLO c.example")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<x@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 250)
        return c

    def chunks(self, parts):
        """Sends parts as BDAT chunks (the last one LAST); returns the replies."""
        c = self.begin()
        replies = []
        for i, p in enumerate(parts):
            last = " LAST" if i == len(parts) - 1 else ""
            c.send(b"BDAT %d%s\r\n" % (len(p), last.encode()) + p)
            replies.append(c.reply())
        c.cmd("QUIT")
        c.close()
        return replies

    def test_bdat_size_wrap_refused_and_memory_bounded(self):
        pid = self.m.procs["mtad"].pid
        c = self.begin()
        c.send(b"BDAT 100\r\n" + b"x" * 98 + b"\r\n")
        self.assertEqual(c.reply()[0], 250)
        before = rss_kib(pid)
        # 100 + 18446744073709551516 = 2^64: the sum wraps to 0
        c.send(b"BDAT 18446744073709551516 LAST\r\n")
        junk = b"y" * (1 << 20)
        for _ in range(48):  # 48 MiB the server must read and throw away
            c.send(junk)
        time.sleep(0.5)
        grown = rss_kib(pid) - before
        if not SLOW:
            # Under AddressSanitizer the freed read buffers sit in its quarantine (tens of MiB
            # of RSS for the 48 MiB read); the bound is checked in the normal build.
            self.assertLess(grown, 8 * 1024, "mtad grew by %d KiB while discarding" % grown)
        c.sock.settimeout(10)
        code, lines = c.reply()
        self.assertEqual(code, 552, lines)
        self.assertIn("5.3.4", lines[0])
        # another sender is not starved meanwhile
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("x@example.org", ["alice@localhost"], b"Message-ID: <after-wrap@x>\r\n\r\nok\r\n")
        self.assertIsNotNone(self.m.wait_message("alice@localhost", b"<after-wrap@x>"), self.m.log())
        c.close()

    def test_bdat_chunk_over_limit_refused_before_it_is_read(self):
        c = self.begin()
        c.send(b"BDAT 2000000 LAST\r\n")  # nothing of it sent yet: the reply comes first
        c.sock.settimeout(10)
        code, lines = c.reply()
        self.assertEqual(code, 552, lines)
        self.assertIn("5.3.4", lines[0])
        c.send(b"z" * 2000000)
        self.assertEqual(c.cmd("NOOP")[0], 250, "in step after the discarded chunk")
        c.close()

    def test_crlf_split_across_chunks_accepted(self):
        parts = [b"Message-ID: <split@x>\r", b"\nSubject: s\r\n\r", b"\nline one\r", b"\n",
                 b"..dots\r\n.\r", b"\n", b"end\r\n"]
        replies = self.chunks(parts)
        self.assertEqual([r[0] for r in replies], [250] * len(parts), replies)
        stored = self.m.wait_message("alice@localhost", b"<split@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertIn(b"\r\nline one\r\n..dots\r\n.\r\nend\r\n", stored)

    def test_bare_line_endings_refused_as_in_data(self):
        cases = {
            "bare LF": [b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<a@b>\r\n"],
            "bare CR": [b"Subject: a\r\n\r\nx\r", b"y\r\n"],
            "CR dot CR": [b"Subject: a\r\n\r\nx\r\n\r.\r", b"\nRCPT TO:<z@example.org>\r\n"],
            "NUL": [b"Subject: a\r\n\r\nx\0y\r\n"],
            "ends in CR": [b"Subject: a\r\n\r\nx\r"],
        }
        for what, parts in cases.items():
            with self.subTest(case=what):
                replies = self.chunks(parts)
                code, lines = replies[-1]
                self.assertEqual(code, 554, lines)
                self.assertIn("5.6.0", lines[0])
        long_line = [b"Subject: a\r\n\r\n" + b"x" * 600, b"x" * 600 + b"\r\n"]
        code, lines = self.chunks(long_line)[-1]
        self.assertEqual(code, 554, lines)
        self.assertIn("998", lines[0])


if __name__ == "__main__":
    unittest.main()
