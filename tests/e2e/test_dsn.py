# test_dsn.py - the DSN extension (RFC 3461/3464) end to end: NOTIFY, ORCPT, RET, ENVID accepted, kept, passed on to hops that offer DSN, and our own notices.
import smtplib
import time
import unittest

from harness import MailServer, SMTPSink, wait_until


def send(m, sender, rcpts, mid, mail_options=(), rcpt_options=(), body=b"dsn test body\r\n",
         port=None):
    with smtplib.SMTP("127.0.0.1", port or m.smtp_port) as s:
        s.ehlo("client.test")
        code, _ = s.mail(sender, list(mail_options))
        assert code == 250, code
        for r in rcpts:
            code, msg = s.rcpt(r, list(rcpt_options))
            assert code == 250, (code, msg)
        code, _ = s.data(b"From: " + sender.encode() + b"\r\nMessage-ID: <" + mid + b">\r\n"
                         b"Subject: dsn\r\n\r\n" + body)
        assert code == 250, code


class DSNTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plain = SMTPSink("127.0.0.2")             # no DSN
        cls.m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                                  "smarthost": "[127.0.0.2]:%d" % cls.plain.port,
                                  "retry_schedule": "1s", "queue_lifetime": "1h",
                                  "delay_warning_time": "2s"})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.plain.close()

    def notices(self, marker):
        return [x for x in self.m.messages("alice@localhost") if marker in x]

    def test_dsn_offered_on_every_listener(self):
        for port in (self.m.smtp_port, self.m.submission_port):
            with smtplib.SMTP("127.0.0.1", port) as s:
                s.ehlo("client.test")
                self.assertTrue(s.has_extn("dsn"), port)

    def test_bad_parameters_get_501(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.ehlo("client.test")
            self.assertEqual(s.mail("alice@localhost", ["RET=BOTH"])[0], 501)
            self.assertEqual(s.mail("alice@localhost", ["ENVID=a+ZZ"])[0], 501)
            self.assertEqual(s.mail("alice@localhost", ["RET=HDRS", "ENVID=x"])[0], 250)
            self.assertEqual(s.rcpt("bob@localhost", ["NOTIFY=NEVER,SUCCESS"])[0], 501)
            self.assertEqual(s.rcpt("bob@localhost", ["NOTIFY=SOMETIMES"])[0], 501)
            self.assertEqual(s.rcpt("bob@localhost", ["ORCPT=bob@localhost"])[0], 501)
            self.assertEqual(s.rcpt("bob@localhost", ["ORCPT=rfc822;b+ZZ"])[0], 501)
            self.assertEqual(s.rcpt("bob@localhost", ["NOTIFY=FAILURE", "ORCPT=rfc822;bob@localhost"])[0], 250)

    def test_success_notice_for_local_delivery(self):
        send(self.m, "alice@localhost", ["bob@localhost"], b"local-ok@x", ["ENVID=env+2Blocal"],
             ["NOTIFY=SUCCESS", "ORCPT=rfc822;Bob+2Bdesk@localhost"])
        self.assertIsNotNone(self.m.wait_message("bob@localhost", b"<local-ok@x>"))
        dsn = self.m.wait_message("alice@localhost", b"Original-Envelope-Id: env+local")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn(b"Action: delivered\r\nStatus: 2.0.0", dsn)
        self.assertIn(b"Original-Recipient: rfc822; Bob+desk@localhost", dsn)
        self.assertIn(b"Final-Recipient: rfc822; bob@localhost", dsn)
        self.assertIn(b"Subject: Successful Mail Delivery Report", dsn)
        self.assertIn(b"Message-ID: <local-ok@x>", dsn)
        self.assertNotIn(b"dsn test body", dsn)

    def test_utf8_orcpt_escapes_become_utf8_in_the_notice(self):
        # RFC 6533 3: ORCPT=utf-8; carries non-ASCII as \x{HEX}; the notice shows the address
        send(self.m, "alice@localhost", ["bob@localhost"], b"local-utf8@x", ["ENVID=env-utf8"],
             ["NOTIFY=SUCCESS", "ORCPT=utf-8;J\\x{E4}rg@localhost"])
        dsn = self.m.wait_message("alice@localhost", b"Original-Envelope-Id: env-utf8")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn("Original-Recipient: utf-8; J\u00e4rg@localhost".encode(), dsn)
        self.assertIn(b"message/global-delivery-status", dsn)

    def test_no_success_notice_without_notify_success(self):
        send(self.m, "alice@localhost", ["bob@localhost"], b"local-quiet@x", ["ENVID=quiet"])
        self.assertIsNotNone(self.m.wait_message("bob@localhost", b"<local-quiet@x>"))
        time.sleep(1.5)
        self.assertEqual(self.notices(b"Original-Envelope-Id: quiet"), [])

    def test_relayed_notice_for_hop_without_dsn(self):
        send(self.m, "alice@localhost", ["rel@far.example"], b"relayed@x", ["ENVID=relayed1"],
             ["NOTIFY=SUCCESS,FAILURE"])
        self.assertTrue(wait_until(lambda: self.plain.received_for("rel@far.example"), 15))
        t = self.plain.received_for("rel@far.example")[0]
        self.assertFalse([p for p in t["rcpt_params"]["rel@far.example"] if p.startswith("NOTIFY")],
                         "the hop did not offer DSN")
        dsn = self.m.wait_message("alice@localhost", b"Original-Envelope-Id: relayed1")
        self.assertIsNotNone(dsn, self.m.log()[-3000:])
        self.assertIn(b"Action: relayed\r\nStatus: 2.0.0", dsn)

    def test_notify_never_suppresses_the_bounce(self):
        self.plain.rcpt_replies["never@far.example"] = ["550 5.1.1 no such user"]
        send(self.m, "alice@localhost", ["never@far.example"], b"never@x", ["ENVID=never1"],
             ["NOTIFY=NEVER"])
        self.assertTrue(wait_until(lambda: "to=<never@far.example>" in self.m.log() and
                                   "status=bounced" in self.m.log(), 15), self.m.log()[-2000:])
        self.assertTrue(wait_until(lambda: not [f for f in self.m.queue_files()], 10) or True)
        time.sleep(1.5)
        self.assertEqual(self.notices(b"never@far.example"), [])

    def test_failure_notice_ret_hdrs_and_ret_full(self):
        self.plain.rcpt_replies["hdrs@far.example"] = ["550 5.1.1 no such user"]
        self.plain.rcpt_replies["full@far.example"] = ["550 5.1.1 no such user"]
        send(self.m, "alice@localhost", ["hdrs@far.example"], b"hdrs@x", ["RET=HDRS", "ENVID=hdrs1"],
             ["NOTIFY=FAILURE", "ORCPT=rfc822;orig-hdrs@far.example"], body=b"secret body one\r\n")
        send(self.m, "alice@localhost", ["full@far.example"], b"full@x", ["RET=FULL", "ENVID=full1"],
             ["NOTIFY=FAILURE"], body=b"returned body two\r\n")
        hdrs = self.m.wait_message("alice@localhost", b"Original-Envelope-Id: hdrs1")
        full = self.m.wait_message("alice@localhost", b"Original-Envelope-Id: full1")
        self.assertIsNotNone(hdrs, self.m.log()[-3000:])
        self.assertIsNotNone(full, self.m.log()[-3000:])
        self.assertIn(b"Action: failed\r\nStatus: 5.1.1", hdrs)
        self.assertIn(b"Original-Recipient: rfc822; orig-hdrs@far.example", hdrs)
        self.assertIn(b"Content-Type: text/rfc822-headers", hdrs)
        self.assertIn(b"Message-ID: <hdrs@x>", hdrs)
        self.assertNotIn(b"secret body one", hdrs)
        self.assertIn(b"Content-Type: message/rfc822", full)
        self.assertIn(b"returned body two", full)

    def test_notify_without_delay_gets_no_delay_warning(self):
        self.plain.rcpt_replies["slow-nodelay@far.example"] = ["451 4.3.0 busy"]
        self.plain.rcpt_replies["slow-delay@far.example"] = ["451 4.3.0 busy"]
        send(self.m, "alice@localhost", ["slow-nodelay@far.example"], b"nodelay@x", [],
             ["NOTIFY=FAILURE"])
        send(self.m, "alice@localhost", ["slow-delay@far.example"], b"delay@x", [],
             ["NOTIFY=FAILURE,DELAY"])
        warn = self.m.wait_message("alice@localhost", b"slow-delay@far.example", timeout=15)
        self.assertIsNotNone(warn, self.m.log()[-3000:])
        self.assertIn(b"Action: delayed", warn)
        time.sleep(2)
        self.assertEqual(self.notices(b"slow-nodelay@far.example"), [])


class DSNHopTest(unittest.TestCase):
    def test_parameters_passed_to_a_hop_that_offers_dsn_and_no_notice_of_our_own(self):
        sink = SMTPSink("127.0.0.2", dsn=True)
        m = MailServer(extra={"relay_networks": "127.0.0.0/8",
                              "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            send(m, "alice@localhost", ["far@far.example"], b"passed@x",
                 ["RET=HDRS", "ENVID=id+2Bone"],
                 ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Far+2Borig@far.example"])
            self.assertTrue(wait_until(lambda: sink.received_for("far@far.example"), 15), m.log())
            t = sink.received_for("far@far.example")[0]
            self.assertIn("RET=HDRS", t["mail_params"])
            self.assertIn("ENVID=id+2Bone", t["mail_params"])
            self.assertEqual(sorted(t["rcpt_params"]["far@far.example"]),
                             ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Far+2Borig@far.example"])
            # a utf-8 ORCPT goes on as RFC 6533 utf-8-addr-xtext, whatever form it came in
            send(m, "alice@localhost", ["far2@far.example"], b"passed-utf8@x", (),
                 ["NOTIFY=FAILURE", "ORCPT=utf-8;J+C3+A4rg+2B1@far.example"])
            self.assertTrue(wait_until(lambda: sink.received_for("far2@far.example"), 15), m.log())
            t = sink.received_for("far2@far.example")[0]
            self.assertIn("ORCPT=utf-8;J\\x{E4}rg\\x{2B}1@far.example", t["rcpt_params"]["far2@far.example"])
            wait_until(lambda: m.log().count("status=sent") >= 2, 10)
            time.sleep(1.5)
            self.assertEqual(m.messages("alice@localhost"), [], "the next hop reports, not us")
        finally:
            m.close()
            sink.close()


if __name__ == "__main__":
    unittest.main()
