"""test_outbound_tls.py - outbound TLS policy rows (none, may, encrypt, verify, secure) and REQUIRETLS end to end: real DNS (knotd + unbound), sinks with certificates from a test CA, each attack a row stops."""
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import unittest

from harness import SLOW, MailServer, SMTPSink, binary, wait_until
from tlsworld import CA, DNSSECWorld, sinks_port

GOOD, WRONG, PLAIN, RTLS, RTLS_WRONG = "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"
HELO = "127.0.0.8"  # refuses EHLO: an attacker downgrading to HELO hides STARTTLS too

# domain: (policy, sink address). Default policy: may.
ROWS = {
    "none-good.example": ("none", GOOD),
    "may-plain.example": ("may", PLAIN),
    "may-wrong.example": ("may", WRONG),
    "encrypt-plain.example": ("encrypt", PLAIN),
    "encrypt-wrong.example": ("encrypt", WRONG),
    "encrypt-helo.example": ("encrypt", HELO),
    "verify-good.example": ("verify", GOOD),
    "verify-wrong.example": ("verify", WRONG),
    "verify-plain.example": ("verify", PLAIN),
    "secure-ok.example": ("secure", GOOD),
    "secure-forged.example": ("secure", GOOD),  # its MX names a host outside the domain
    "reload.example": (None, PLAIN),  # the test adds its line to the file
    "rtls-ok.example": (None, RTLS),
    "rtls-noext.example": (None, GOOD),
    "rtls-wrong.example": (None, RTLS_WRONG),
}
REQUIRETLS = ("rtls-ok.example", "rtls-noext.example", "rtls-wrong.example")


class OutboundTLSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="outtls-")
        os.chmod(cls.dir, 0o755)
        ca = CA(cls.dir)
        good = ca.issue("good", ["mx.%s" % d for d, (_, ip) in ROWS.items()
                                if ip in (GOOD, RTLS) and d != "secure-forged.example"]
                        + ["secure-ok.example", "mx.elsewhere.example"])
        wrong = ca.issue("wrong", ["wrong.invalid"])
        records = []
        for d, (_, ip) in ROWS.items():
            records += ["%s. MX 10 mx.%s." % (d, d), "mx.%s. A %s" % (d, ip)]
        # an MX record an attacker forged (MX lookups are not validated outside DANE): a host
        # of another domain whose certificate is valid for its own name
        records[records.index("secure-forged.example. MX 10 mx.secure-forged.example.")] = \
            "secure-forged.example. MX 10 mx.elsewhere.example."
        records.append("mx.elsewhere.example. A %s" % GOOD)
        cls.world = DNSSECWorld(cls.dir, records)
        port = sinks_port()
        cls.sinks = {
            GOOD: SMTPSink(GOOD, port, tls_cert=good),
            WRONG: SMTPSink(WRONG, port, tls_cert=wrong),
            PLAIN: SMTPSink(PLAIN, port),  # a network attacker that strips STARTTLS
            RTLS: SMTPSink(RTLS, port, tls_cert=good, requiretls=True),
            RTLS_WRONG: SMTPSink(RTLS_WRONG, port, tls_cert=wrong, requiretls=True),
            HELO: SMTPSink(HELO, port, tls_cert=good, esmtp=False),
        }
        cls.policy = policy = os.path.join(cls.dir, "tls_policy")
        with open(policy, "w") as f:
            f.write("# test rows\n")
            for d, (level, _) in ROWS.items():
                if level:
                    f.write("%s %s\n" % (d, level))
        cls.policy_line = {d: i + 2 for i, d in enumerate(d for d, (lv, _) in ROWS.items() if lv)}
        for name in os.listdir(cls.dir):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        cls.m = MailServer(extra={
            "relay_networks": "127.0.0.0/8",
            "dns_servers": "127.0.0.1:%d" % cls.world.port,
            "relay_port": str(port),
            "relay_tls_policy_file": policy,
            "relay_tls_ca_file": ca.cert,
            "dnssec_trust_anchor": cls.world.trust_anchor,
            "retry_schedule": "1s",
            "queue_lifetime": "12s" if SLOW else "4s",
            "relay_connect_timeout": "3s",
            "relay_command_timeout": "5s",
        })
        cls.m.start()
        with smtplib.SMTP("127.0.0.1", cls.m.smtp_port) as s:
            cls.ehlo_plain = s.ehlo()[1].decode()
            cls.requiretls_plain = s.docmd("MAIL FROM:<alice@localhost> REQUIRETLS")
            s.rset()
            for d in ROWS:
                if d not in REQUIRETLS and d != "reload.example":
                    s.sendmail("alice@localhost", ["user@" + d],
                               b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % d.encode())
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", cls.m.smtp_port) as s:
            s.starttls(context=ctx)
            cls.ehlo_tls = s.ehlo()[1].decode()
            for d in REQUIRETLS:
                s.sendmail("alice@localhost", ["user@" + d],
                           b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % d.encode(),
                           mail_options=["REQUIRETLS"])

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        for s in cls.sinks.values():
            s.close()
        cls.world.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def line(self, domain, status):
        """The delivery log line of user@domain with that status (waits for it)."""
        pat = re.compile(r"to=<user@%s>, relay=remote, delay=[^,]*, (tls=\w+), (tls_policy=\S+), "
                         r"status=%s \((.*)\)" % (re.escape(domain), status))
        found = wait_until(lambda: pat.search(self.m.log()), 15)
        self.assertTrue(found, "no %s line for %s:\n%s" % (status, domain, "\n".join(
            l for l in self.m.log().splitlines() if domain in l)))
        return found

    def received(self, domain):
        sink = self.sinks[ROWS[domain][1]]
        return sink.received_for("user@" + domain)

    def sent(self, domain, tls, policy):
        m = self.line(domain, "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=" + tls, "tls_policy=" + policy))
        self.assertTrue(self.received(domain))
        return self.received(domain)[0]

    def deferred(self, domain, why):
        m = self.line(domain, "deferred")
        self.assertRegex(m.group(3), why)
        self.assertEqual(self.received(domain), [], "nothing may reach the host")
        return m

    def file(self, domain):
        return "%s/file:%d" % (ROWS[domain][0], self.policy_line[domain])

    def test_none_never_starts_tls(self):
        t = self.sent("none-good.example", "none", self.file("none-good.example"))
        self.assertFalse(t["tls"])

    def test_may_is_opportunistic(self):
        # stripped STARTTLS goes out in plaintext: the weakness the stricter rows close
        self.assertFalse(self.sent("may-plain.example", "none", self.file("may-plain.example"))["tls"])
        self.assertTrue(self.sent("may-wrong.example", "may", self.file("may-wrong.example"))["tls"])

    def test_encrypt_stops_starttls_stripping(self):
        self.deferred("encrypt-plain.example", r"^4\.7\.5 mx\.encrypt-plain\.example\[127\.0\.0\.5\]:\d+: "
                      r"TLS is required and the host does not offer STARTTLS \(TLS policy encrypt/file:5\)")
        self.assertTrue(self.sent("encrypt-wrong.example", "may", self.file("encrypt-wrong.example"))["tls"])
        self.deferred("encrypt-helo.example", r"^4\.7\.5 .*does not offer STARTTLS")

    def test_verify_stops_wrong_certificate_and_stripping(self):
        self.assertTrue(self.sent("verify-good.example", "verified", self.file("verify-good.example"))["tls"])
        self.deferred("verify-wrong.example", r"^4\.7\.5 .*the certificate is not verified for "
                      r"mx\.verify-wrong\.example \(Trusted: [^)]*mismatch\)")
        self.deferred("verify-plain.example", r"^4\.7\.5 .*does not offer STARTTLS")

    def test_secure_checks_the_next_hop_domain(self):
        self.sent("secure-ok.example", "verified", self.file("secure-ok.example"))
        # a forged MX host presents a certificate valid for its own name: verify would take
        # it, secure wants the next-hop domain (or a name under it)
        self.deferred("secure-forged.example", r"^4\.7\.5 mx\.elsewhere\.example\[.*not verified "
                      r"for secure-forged\.example")

    def test_deferral_reason_in_mailctl_queue_and_dsn(self):
        self.deferred("verify-wrong.example", r"4\.7\.5")
        out = subprocess.run([binary("mailctl"), "-c", self.m.config_path, "queue"],
                             capture_output=True, text=True, timeout=30).stdout
        # (queue_lifetime leaves it there for a few seconds after the first attempt)
        self.assertRegex(out, r"deferred +<user@verify-wrong\.example> \(4\.7\.5 .*not verified")
        # after queue_lifetime the sender gets the reason in the DSN
        dsn = wait_until(lambda: [m for m in self.m.messages("alice@localhost")
                                  if b"user@verify-wrong.example" in m and b"4.7.5" in m], 30)
        self.assertTrue(dsn, self.m.log()[-2000:])
        self.assertIn(b"not verified", dsn[0])

    def test_policy_file_reread_when_changed(self):
        with open(self.policy, "a") as f:
            f.write("reload.example encrypt\n")
        self.assertTrue(wait_until(lambda: "relay_tls_policy_file reloaded" in self.m.log(), 10))
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("alice@localhost", ["user@reload.example"], b"Subject: r\r\n\r\nhello\r\n")
        self.deferred("reload.example", r"^4\.7\.5 .*does not offer STARTTLS \(TLS policy encrypt/file:\d+\)")

    def test_requiretls_advertised_on_tls_only(self):
        self.assertNotIn("REQUIRETLS", self.ehlo_plain)
        self.assertIn("REQUIRETLS", self.ehlo_tls)
        self.assertEqual(self.requiretls_plain[0], 530)
        self.assertIn(b"5.7.10", self.requiretls_plain[1])

    def test_requiretls_delivered_verified_to_a_requiretls_host(self):
        t = self.sent("rtls-ok.example", "verified", "verify/requiretls")
        self.assertIn("REQUIRETLS", t["mail_params"])

    def test_requiretls_bounces_without_requiretls_or_verification(self):
        m = self.line("rtls-noext.example", "bounced")
        self.assertRegex(m.group(3), r"^5\.7\.10 .*does not offer REQUIRETLS")
        m = self.line("rtls-wrong.example", "bounced")
        self.assertRegex(m.group(3), r"^5\.7\.10 .*not verified")
        self.assertEqual(self.received("rtls-noext.example"), [])
        dsn = wait_until(lambda: [m for m in self.m.messages("alice@localhost")
                                  if b"user@rtls-noext.example" in m], 15)
        self.assertTrue(dsn)
        self.assertIn(b"5.7.10", dsn[0])


if __name__ == "__main__":
    unittest.main()
