"""test_relay.py - outbound delivery end to end: a real dnsmasq serves MX/A/null-MX records, an SMTP sink on 127.0.0.2 plays the remote MX."""
import email
import os
import smtplib
import subprocess
import time
import unittest

from harness import DNSServer, MailServer, SMTPSink, binary, free_port, wait_until


class RelayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = SMTPSink("127.0.0.2")
        port = cls.sink.port
        cls.dns = DNSServer([
            # two.test: the preferred MX (127.0.0.3) refuses connections, the second is the sink
            "--mx-host=two.test,mx1.two.test,10", "--mx-host=two.test,mx2.two.test,20",
            "--host-record=mx1.two.test,127.0.0.3", "--host-record=mx2.two.test,127.0.0.2",
            "--mx-host=one.test,mx.one.test,10", "--host-record=mx.one.test,127.0.0.2",
            "--host-record=nomx.test,127.0.0.2",          # no MX: the A record is the implicit MX
            "--mx-host=null.test,.,0",                      # RFC 7505 null MX
        ])
        cls.m = MailServer(extra={
            "relay_networks": "127.0.0.0/8",
            "dns_servers": "127.0.0.1:%d" % cls.dns.port,
            "relay_port": str(port),
            "retry_schedule": "1s",
            "queue_lifetime": "6s",
            "relay_connect_timeout": "2s",
            "relay_command_timeout": "5s",
        })
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.sink.close()
        cls.dns.close()

    def send(self, rcpts, mid, sender="alice@localhost", body=b"relay test\r\n"):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail(sender, rcpts, b"From: alice@localhost\r\nMessage-ID: <%s>\r\nSubject: t\r\n\r\n" % mid + body)

    def test_mx_preference_failover(self):
        self.send(["user@two.test"], b"failover@x")
        self.assertTrue(wait_until(lambda: self.sink.received_for("user@two.test"), 15), (self.sink.port, self.sink.connections, [t["rcpts"] for t in self.sink.transactions], self.m.log()[-2500:]))
        t = self.sink.received_for("user@two.test")[0]
        self.assertIn(b"<failover@x>", t["data"])
        self.assertEqual(t["mail_from"], "alice@localhost")
        # The sink has the message before mtad has recorded the outcome: wait for the log line.
        wait_until(lambda: "status=sent (mx2.two.test" in self.m.log(), 10)
        log = self.m.log()
        self.assertIn("mx1.two.test[127.0.0.3]", log)  # tried first, refused
        self.assertRegex(log, r"to=<user@two\.test>, relay=remote, .*status=sent \(mx2\.two\.test\[127\.0\.0\.2\]")

    def test_a_record_fallback(self):
        self.send(["someone@nomx.test"], b"amx@x")
        self.assertTrue(wait_until(lambda: self.sink.received_for("someone@nomx.test"), 15), self.m.log())

    def test_several_recipients_one_transaction(self):
        self.send(["a@one.test", "b@one.test", "c@one.test"], b"multi@x")
        self.assertTrue(wait_until(lambda: self.sink.received_for("a@one.test"), 15), self.m.log())
        t = self.sink.received_for("a@one.test")[0]
        self.assertEqual(sorted(t["rcpts"]), ["a@one.test", "b@one.test", "c@one.test"])
        self.assertEqual(t["data"].count(b"<multi@x>"), 1)

    def test_null_mx_bounces_at_once(self):
        self.send(["nobody@null.test"], b"nullmx@x")
        dsn = self.m.wait_message("alice@localhost", b"nobody@null.test", timeout=15)
        self.assertIsNotNone(dsn, self.m.log())
        self.assertIn(b"Status: 5.1.10", dsn)
        self.assertIn(b"Return-Path: <>", dsn)

    def test_451_then_250_delivers_after_retry(self):
        self.sink.rcpt_replies["retry@one.test"] = ["451 4.7.1 try later", "250 2.1.5 Ok"]
        self.send(["retry@one.test"], b"retry@x")
        self.assertTrue(wait_until(lambda: self.sink.received_for("retry@one.test"), 20), self.m.log())
        self.assertTrue(wait_until(lambda: "to=<retry@one.test>, relay=remote" in self.m.log() and
                                   "status=sent" in self.m.log().split("to=<retry@one.test>")[-1], 10))
        log = self.m.log()
        self.assertRegex(log, r"to=<retry@one\.test>.*status=deferred")
        self.assertRegex(log, r"to=<retry@one\.test>.*status=sent")

    def test_550_bounces_with_dsn(self):
        self.sink.rcpt_replies["gone@one.test"] = ["550 5.1.1 <gone@one.test>: no such user"]
        self.send(["gone@one.test", "there@one.test"], b"bounce550@x")
        dsn = self.m.wait_message("alice@localhost", b"gone@one.test", timeout=15)
        self.assertIsNotNone(dsn, self.m.log())
        msg = email.message_from_bytes(dsn)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        parts = msg.get_payload()
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        report = dsn.decode()
        self.assertIn("Final-Recipient: rfc822; gone@one.test", report)
        self.assertIn("Action: failed", report)
        self.assertIn("Status: 5.1.1", report)
        self.assertIn("Remote-MTA: dns; mx.one.test", report)
        self.assertIn("Diagnostic-Code: smtp; 550 5.1.1 <gone@one.test>: no such user", report)
        self.assertIn("Message-ID: <bounce550@x>", report)  # the original headers
        self.assertNotIn("there@one.test", report.split("Content-Type: message/delivery-status")[1].split("--")[0])
        # the other recipient was delivered
        self.assertTrue(self.sink.received_for("there@one.test"))

    def test_no_bounce_for_null_sender(self):
        self.sink.rcpt_replies["gone2@one.test"] = ["550 5.1.1 no such user"]
        before = len(self.m.messages("alice@localhost"))
        self.send(["gone2@one.test"], b"nullsender@x", sender="")
        self.assertTrue(wait_until(lambda: "to=<gone2@one.test>" in self.m.log(), 15))
        time.sleep(1)
        self.assertEqual(len(self.m.messages("alice@localhost")), before)
        self.assertEqual(self.m.queue_files(), [])

    def test_queue_lifetime_expiry_bounces(self):
        self.sink.rcpt_replies["slow@one.test"] = ["451 4.3.0 not today"]
        self.send(["slow@one.test"], b"expire@x")
        dsn = self.m.wait_message("alice@localhost", b"slow@one.test", timeout=25)
        self.assertIsNotNone(dsn, self.m.log())
        self.assertIn(b"Action: failed", dsn)
        self.assertIn(b"expired", dsn)

    def test_mailctl_hold_release_delete_flush(self):
        self.sink.rcpt_replies["held@one.test"] = ["451 4.3.0 later"]
        self.send(["held@one.test"], b"held@x")
        self.assertTrue(wait_until(lambda: "to=<held@one.test>" in self.m.log(), 15))
        ids = self.m.queue_files()
        self.assertEqual(len(ids), 1)
        qid = ids[0]
        ctl = [binary("mailctl"), "-c", self.m.config_path]
        r = subprocess.run(ctl + ["queue"], capture_output=True, text=True)
        self.assertIn(qid, r.stdout)
        self.assertIn("held@one.test", r.stdout)
        self.assertIn("4.3.0 later", r.stdout)
        r = subprocess.run(ctl + ["hold", qid], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("HELD", subprocess.run(ctl + ["queue"], capture_output=True, text=True).stdout)
        self.sink.rcpt_replies["held@one.test"] = ["250 2.1.5 Ok"]
        time.sleep(2.5)  # a held message is not retried
        self.assertFalse(self.sink.received_for("held@one.test"))
        self.assertEqual(subprocess.run(ctl + ["release", qid]).returncode, 0)
        self.assertEqual(subprocess.run(ctl + ["flush"]).returncode, 0)
        self.assertTrue(wait_until(lambda: self.sink.received_for("held@one.test"), 10), self.m.log())
        # delete: a deferred message is removed without a bounce
        self.sink.rcpt_replies["deleted@one.test"] = ["451 4.3.0 later"]
        old = qid
        self.assertTrue(wait_until(lambda: old not in self.m.queue_files(), 10))
        self.send(["deleted@one.test"], b"deleted@x")
        self.assertTrue(wait_until(lambda: "to=<deleted@one.test>" in self.m.log(), 15))
        self.assertEqual(len(self.m.queue_files()), 1)
        qid = self.m.queue_files()[0]
        r = subprocess.run(ctl + ["delete", qid], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.m.log()[-3000:])
        self.assertEqual(self.m.queue_files(), [])
        r = subprocess.run(ctl + ["stats"], capture_output=True, text=True)
        self.assertIn("messages: 0", r.stdout)
        self.assertNotEqual(subprocess.run(ctl + ["hold", "0123456789ABCDEF"], capture_output=True).returncode, 0)


class RelayTLSTest(unittest.TestCase):
    def test_opportunistic_starttls(self):
        sink = SMTPSink("127.0.0.2", starttls=True)
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("alice@localhost", ["x@far.example"], b"Message-ID: <tlsout@x>\r\n\r\nsecret\r\n")
            self.assertTrue(wait_until(lambda: sink.received_for("x@far.example"), 15), m.log())
            t = sink.received_for("x@far.example")[0]
            self.assertTrue(t["tls"], "the message went over TLS")
            self.assertRegex(m.log(), r"TLS established: TLSv1\.[23]")
        finally:
            m.close()
            sink.close()


class DelayWarningTest(unittest.TestCase):
    def test_sender_told_once_about_a_delay(self):
        sink = SMTPSink("127.0.0.2")
        sink.rcpt_replies["late@far.example"] = ["451 4.3.0 busy"]
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % sink.port,
                              "retry_schedule": "1s", "delay_warning_time": "2s", "queue_lifetime": "1h"})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("alice@localhost", ["late@far.example"], b"Message-ID: <late@x>\r\n\r\nx\r\n")
            dsn = m.wait_message("alice@localhost", b"late@far.example", timeout=15)
            self.assertIsNotNone(dsn, m.log())
            self.assertIn(b"Action: delayed", dsn)
            self.assertIn(b"Subject: Delayed Mail", dsn)
            time.sleep(3)  # more retries happen, but no second warning
            self.assertEqual(sum(b"late@far.example" in x for x in m.messages("alice@localhost")), 1)
            self.assertEqual(len(m.queue_files()), 1, "the message itself is still queued")
        finally:
            m.close()
            sink.close()


class CapabilityTest(unittest.TestCase):
    def test_smtputf8_needed_but_not_offered_bounces(self):
        sink = SMTPSink("127.0.0.2", smtputf8=False, pipelining=False)
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % sink.port})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.ehlo("c")
                s.mail("alice@localhost", ["SMTPUTF8"])
                s.rcpt("j\u00fcrgen@far.example")
                s.rcpt("plain@far.example")
                code, _ = s.data("Message-ID: <eai@x>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nk\u00e4se\r\n".encode())
                self.assertEqual(code, 250)
            dsn = m.wait_message("alice@localhost", b"Status: 5.6.7", timeout=15)
            self.assertIsNotNone(dsn, m.log())
            self.assertEqual(sink.transactions, [], "nothing mangled into a server without SMTPUTF8")
        finally:
            m.close()
            sink.close()


class SmarthostTest(unittest.TestCase):
    def test_smarthost_auth_over_tls_and_connection_reuse(self):
        sink = SMTPSink("127.0.0.2", starttls=True, auth=("relayuser", "relay pass"))
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % sink.port,
                              "relay_idle_timeout": "3s"})
        secret = os.path.join(m.dir, "smarthost.secret")
        with open(secret, "w") as f:
            f.write("# for the ISP relay\nrelayuser:relay pass\n")
        os.chmod(secret, 0o600)
        m.conf["smarthost_auth_file"] = secret
        m.write_config()
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                for i in range(5):
                    s.sendmail("alice@localhost", ["u%d@far.example" % i, "v%d@other.example" % i],
                               b"Message-ID: <sh%d@x>\r\n\r\nvia the smarthost\r\n" % i)
                    # one after the other: each finds the previous one's idle connection
                    self.assertTrue(wait_until(lambda: sink.received_for("u%d@far.example" % i), 15), m.log())
                    self.assertTrue(sink.received_for("v%d@other.example" % i))
            # everything went through TLS with our credentials, over fewer connections than messages
            self.assertTrue(all(t["tls"] for t in sink.transactions))
            self.assertTrue(sink.auth_logins and all(ok for _, ok in sink.auth_logins), sink.auth_logins)
            self.assertEqual(sink.connections, 1, "one connection carried all five messages")
        finally:
            m.close()
            sink.close()

    def test_smarthost_bad_credentials_defer(self):
        sink = SMTPSink("127.0.0.2", starttls=True, auth=("relayuser", "right"))
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % sink.port})
        secret = os.path.join(m.dir, "smarthost.secret")
        with open(secret, "w") as f:
            f.write("relayuser:wrong\n")
        m.conf["smarthost_auth_file"] = secret
        m.write_config()
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("alice@localhost", ["x@far.example"], b"Message-ID: <badauth@x>\r\n\r\nx\r\n")
            self.assertTrue(wait_until(lambda: "in reply to AUTH" in m.log(), 15), m.log())
            self.assertTrue(wait_until(lambda: "to=<x@far.example>, relay=remote" in m.log(), 10), m.log())
            self.assertRegex(m.log(), r"to=<x@far\.example>.*status=deferred")
            self.assertEqual(sink.transactions, [])
        finally:
            m.close()
            sink.close()


class RelayCrashTest(unittest.TestCase):
    def test_kill9_during_remote_delivery(self):
        sink = SMTPSink("127.0.0.2")
        dns = DNSServer(["--mx-host=one.test,mx.one.test,10", "--host-record=mx.one.test,127.0.0.2"])
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "dns_servers": "127.0.0.1:%d" % dns.port,
                              "relay_port": str(sink.port), "retry_schedule": "1s"})
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                for i in range(20):
                    s.sendmail("alice@localhost", ["r%d@one.test" % i, "bob@localhost"],
                               b"Message-ID: <k%d@x>\r\n\r\nbody\r\n" % i)
            m.kill9()
            m.start()
            for i in range(20):
                self.assertTrue(wait_until(lambda: sink.received_for("r%d@one.test" % i), 20), (i, m.log()))
            self.assertTrue(wait_until(lambda: len(m.messages("bob@localhost")) >= 20, 20))
            self.assertTrue(wait_until(lambda: not m.queue_files(), 10))
            time.sleep(0.5)
            self.assertEqual(len(m.messages("bob@localhost")), 20)
        finally:
            m.close()
            sink.close()
            dns.close()


if __name__ == "__main__":
    unittest.main()
