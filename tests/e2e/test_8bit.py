# test_8bit.py - what a message needs from the next hop is decided from its bytes: 8BITMIME (or a quoted-printable downgrade) and SMTPUTF8.
import email
import email.policy
import smtplib
import unittest

from harness import MailServer, SMTPSink, wait_until


class SevenBitHopTest(unittest.TestCase):
    """The next hop offers neither 8BITMIME nor SMTPUTF8 (RFC 6152 3, RFC 6531 3.4)."""

    @classmethod
    def setUpClass(cls):
        cls.sink = SMTPSink("127.0.0.2", eightbitmime=False, smtputf8=False)
        cls.m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                                  "smarthost": "[127.0.0.2]:%d" % cls.sink.port})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.sink.close()

    def send(self, rcpt, msg, options=()):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("alice@localhost", [rcpt], msg, mail_options=list(options))

    def relayed(self, rcpt):
        self.assertTrue(wait_until(lambda: self.sink.received_for(rcpt), 15), self.m.log()[-3000:])
        return self.sink.received_for(rcpt)[0]

    def test_ascii_declared_8bitmime_is_relayed_unchanged(self):
        msg = b"Message-ID: <ascii8@x>\r\nSubject: plain\r\n\r\njust ascii\r\n"
        self.send("ascii8@far.example", msg, ["BODY=8BITMIME"])
        t = self.relayed("ascii8@far.example")
        self.assertTrue(t["data"].endswith(b"Subject: plain\r\n\r\njust ascii\r\n"), t["data"])
        self.assertNotIn("BODY=8BITMIME", t["mail_params"])
        self.assertFalse([x for x in self.m.messages("alice@localhost") if b"ascii8@far" in x], "no bounce")

    def test_8bit_body_is_converted_to_quoted_printable(self):
        msg = ("Message-ID: <qp@x>\r\nSubject: cheese\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
               "\r\nk\u00e4se = fromage\r\n").encode()
        self.send("qp@far.example", msg, ["BODY=8BITMIME"])
        t = self.relayed("qp@far.example")
        self.assertTrue(all(b < 0x80 for b in t["data"]), t["data"])
        self.assertIn(b"Content-Transfer-Encoding: quoted-printable\r\n", t["data"])
        self.assertNotIn(b"Content-Transfer-Encoding: 8bit", t["data"])
        parsed = email.message_from_bytes(t["data"], policy=email.policy.default)
        self.assertEqual(parsed.get_content().replace("\r\n", "\n"), "k\u00e4se = fromage\n")

    def test_8bit_header_bounces(self):
        msg = "Message-ID: <hdr8@x>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nbody\r\n".encode()
        self.send("hdr8@far.example", msg, ["BODY=8BITMIME"])
        dsn = self.m.wait_message("alice@localhost", b"hdr8@far.example")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn(b"Status: 5.6.3", dsn)
        self.assertEqual(self.sink.received_for("hdr8@far.example"), [])

    def test_dkim_signed_8bit_message_bounces_instead_of_breaking_the_signature(self):
        msg = ("DKIM-Signature: v=1; a=rsa-sha256; d=localhost; s=s; bh=x; b=y\r\n"
               "Message-ID: <dkim8@x>\r\nSubject: signed\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
               "\r\nk\u00e4se\r\n").encode()
        self.send("dkim8@far.example", msg, ["BODY=8BITMIME"])
        dsn = self.m.wait_message("alice@localhost", b"dkim8@far.example")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn(b"Status: 5.6.3", dsn)
        self.assertIn(b"message has 8-bit content and a DKIM signature; the next hop does not "
                      b"support 8BITMIME", dsn.replace(b"\r\n ", b" "))
        self.assertEqual(self.sink.received_for("dkim8@far.example"), [])

    def test_ascii_smtputf8_mail_goes_without_smtputf8(self):
        msg = b"Message-ID: <eai-ascii@x>\r\nSubject: plain\r\n\r\nascii\r\n"
        self.send("eai-ascii@far.example", msg, ["SMTPUTF8"])
        t = self.relayed("eai-ascii@far.example")
        self.assertNotIn("SMTPUTF8", t["mail_params"])
        self.assertIn(b"Message-ID: <eai-ascii@x>", t["data"])

    def test_smtputf8_with_utf8_header_still_bounces_5_6_7(self):
        msg = "Message-ID: <eai-hdr@x>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nx\r\n".encode()
        self.send("eai-hdr@far.example", msg, ["SMTPUTF8", "BODY=8BITMIME"])
        dsn = self.m.wait_message("alice@localhost", b"eai-hdr@far.example")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn(b"Status: 5.6.7", dsn)


class EightBitHopTest(unittest.TestCase):
    def test_undeclared_8bit_body_is_sent_with_body_8bitmime(self):
        sink = SMTPSink("127.0.0.2")
        m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                              "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            body = "Message-ID: <undecl@x>\r\nSubject: s\r\n\r\nk\u00e4se\r\n".encode()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("alice@localhost", ["undecl@far.example"], body)
            self.assertTrue(wait_until(lambda: sink.received_for("undecl@far.example"), 15), m.log())
            t = sink.received_for("undecl@far.example")[0]
            self.assertIn("BODY=8BITMIME", t["mail_params"])
            self.assertTrue(t["data"].endswith("k\u00e4se\r\n".encode()))
        finally:
            m.close()
            sink.close()


class InternationalizedNoticeTest(unittest.TestCase):
    """RFC 6533: the notice about an SMTPUTF8 message is itself internationalized."""

    def test_bounce_of_smtputf8_mail_uses_global_types(self):
        sink = SMTPSink("127.0.0.2", smtputf8=False)
        m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                              "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.ehlo("c")
                s.mail("alice@localhost", ["SMTPUTF8", "BODY=8BITMIME"])
                s.rcpt("j\u00fcrgen@far.example")
                code, _ = s.data("Message-ID: <eai-dsn@x>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nx\r\n".encode())
                self.assertEqual(code, 250)
            dsn = m.wait_message("alice@localhost", b"Status: 5.6.7", timeout=15)
            self.assertIsNotNone(dsn, m.log()[-3000:])
            self.assertIn(b"Content-Type: text/plain; charset=utf-8", dsn)
            self.assertNotIn(b"charset=us-ascii", dsn)
            self.assertIn(b"Content-Type: message/global-delivery-status", dsn)
            self.assertIn("Final-Recipient: utf-8; j\u00fcrgen@far.example".encode(), dsn)
            self.assertIn(b"Content-Type: message/global-headers", dsn)
            self.assertIn("Subject: gr\u00fc\u00dfe".encode(), dsn)
        finally:
            m.close()
            sink.close()

    def test_bounce_of_ascii_mail_keeps_the_classic_types(self):
        sink = SMTPSink("127.0.0.2")
        sink.rcpt_replies["nobody@far.example"] = ["550 5.1.1 no such user"]
        m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                              "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("alice@localhost", ["nobody@far.example"], b"Message-ID: <a@x>\r\n\r\nx\r\n")
            dsn = m.wait_message("alice@localhost", b"Status: 5.1.1", timeout=15)
            self.assertIsNotNone(dsn, m.log()[-3000:])
            self.assertIn(b"charset=us-ascii", dsn)
            self.assertIn(b"Content-Type: message/delivery-status", dsn)
            self.assertIn(b"Final-Recipient: rfc822; nobody@far.example", dsn)
            self.assertIn(b"Content-Type: text/rfc822-headers", dsn)
        finally:
            m.close()
            sink.close()


if __name__ == "__main__":
    unittest.main()
