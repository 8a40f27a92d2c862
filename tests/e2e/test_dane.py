"""test_dane.py - DANE (RFC 7672) end to end: a DNSSEC-signed test root (knotd) behind unbound, mtad validating with its own trust anchor; correct, wrong and missing TLSA records, bogus signatures, an insecure delegation, a stripped STARTTLS."""
import os
import re
import shutil
import smtplib
import tempfile
import unittest
import urllib.request

from harness import MailServer, SMTPSink, free_port, wait_until
from tlsworld import CA, DNSSECWorld, sinks_port, tlsa

GOOD, WRONG, PLAIN = "127.0.0.3", "127.0.0.4", "127.0.0.5"

# domain: (policy, sink, TLSA record kind or None)
ROWS = {
    "dane-ee.example": ("dane", GOOD, "ee"),
    "dane-ee512.example": ("dane", GOOD, "ee512"),
    "dane-ta.example": ("dane", GOOD, "ta"),
    "dane-mismatch.example": ("dane", WRONG, "ee"),   # an attacker's certificate
    "dane-strip.example": ("dane", PLAIN, "ee"),      # an attacker strips STARTTLS
    "dane-notlsa.example": ("dane", WRONG, None),     # no TLSA: opportunistic
    "dane-bogus.example": ("dane", GOOD, "ee"),       # MX signature broken
    "tlsa-bogus.example": ("dane", GOOD, "ee"),       # TLSA signature broken
    "daneonly-ok.example": ("dane-only", GOOD, "ee"),
    "daneonly-notlsa.example": ("dane-only", GOOD, None),
    "tlsreqno.example": ("dane", WRONG, "ee"),        # sent with "TLS-Required: No"
}


class DANETest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dane-")
        os.chmod(cls.dir, 0o755)
        ca = CA(cls.dir)
        good = ca.issue("good", ["mx.%s" % d for d, (_, ip, _) in ROWS.items() if ip == GOOD])
        wrong = ca.issue("wrong", ["wrong.invalid"])
        kinds = {"ee": tlsa(3, 1, 1, good[0]), "ee512": tlsa(3, 0, 2, good[0]),
                 "ta": tlsa(2, 0, 1, ca.cert)}
        records = []
        for d, (_, ip, kind) in ROWS.items():
            records += ["%s. MX 10 mx.%s." % (d, d), "mx.%s. A %s" % (d, ip)]
            if kind:
                records.append("_25._tcp.mx.%s. TLSA %s" % (d, kinds[kind]))
        cls.world = DNSSECWorld(
            cls.dir, records, bogus_owners=("dane-bogus.example.", "_25._tcp.mx.tlsa-bogus.example."),
            insecure_records=["@ MX 10 mx.insecure.example.", "mx A %s" % WRONG])
        port = sinks_port()
        cls.sinks = {GOOD: SMTPSink(GOOD, port, tls_cert=good),
                     WRONG: SMTPSink(WRONG, port, tls_cert=wrong),
                     PLAIN: SMTPSink(PLAIN, port)}
        policy = os.path.join(cls.dir, "tls_policy")
        with open(policy, "w") as f:
            f.write("".join("%s %s\n" % (d, p) for d, (p, _, _) in ROWS.items()))
            f.write("insecure.example dane\n")
        for name in os.listdir(cls.dir):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        cls.m = MailServer(extra={
            "relay_networks": "127.0.0.0/8",
            "dns_servers": "127.0.0.1:%d" % cls.world.port,
            "relay_port": str(port),
            "relay_tls_policy_file": policy,
            "dnssec_trust_anchor": cls.world.trust_anchor,
            "retry_schedule": "1s",
            "queue_lifetime": "1m",
            "relay_connect_timeout": "3s",
            "relay_command_timeout": "5s",
            "metrics_listen": "127.0.0.1:%d" % free_port(),
        })
        cls.m.start()
        with smtplib.SMTP("127.0.0.1", cls.m.smtp_port) as s:
            for d in list(ROWS) + ["insecure.example"]:
                extra = b"TLS-Required: No\r\n" if d == "tlsreqno.example" else b""
                s.sendmail("alice@localhost", ["user@" + d],
                           b"From: alice@localhost\r\n%sSubject: %s\r\n\r\nhello\r\n" % (extra, d.encode()))

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        for s in cls.sinks.values():
            s.close()
        cls.world.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def line(self, domain, status):
        pat = re.compile(r"to=<user@%s>, relay=remote, delay=[^,]*, (tls=\w+), (tls_policy=\S+), "
                         r"status=%s \((.*)\)" % (re.escape(domain), status))
        found = wait_until(lambda: pat.search(self.m.log()), 15)
        self.assertTrue(found, "no %s line for %s:\n%s" % (status, domain, "\n".join(
            l for l in self.m.log().splitlines() if domain in l)))
        return found

    def received(self, domain, ip):
        return self.sinks[ip].received_for("user@" + domain)

    def sent(self, domain, tls, policy=None):
        m = self.line(domain, "sent")
        self.assertEqual(m.group(1), "tls=" + tls)
        if policy:
            self.assertEqual(m.group(2), "tls_policy=" + policy)
        ip = ROWS[domain][1] if domain in ROWS else WRONG
        self.assertTrue(self.received(domain, ip))

    def deferred(self, domain, why):
        m = self.line(domain, "deferred")
        self.assertRegex(m.group(3), why)
        self.assertEqual(self.received(domain, ROWS[domain][1]), [], "nothing may reach the host")

    def test_dane_ee_spki_sha256_and_full_sha512(self):
        self.sent("dane-ee.example", "dane", "dane/file:1")
        self.sent("dane-ee512.example", "dane")

    def test_dane_ta_with_the_issuing_ca(self):
        self.sent("dane-ta.example", "dane")

    def test_tlsa_mismatch_stops_a_substituted_certificate(self):
        self.deferred("dane-mismatch.example",
                      r"^4\.7\.5 mx\.dane-mismatch\.example\[127\.0\.0\.4\]:\d+: the certificate does not "
                      r"match the TLSA records of _25\._tcp\.mx\.dane-mismatch\.example")

    def test_tlsa_stops_starttls_stripping(self):
        self.deferred("dane-strip.example", r"^4\.7\.5 .*does not offer STARTTLS \(TLS policy dane/file:5\)")

    def test_no_tlsa_is_opportunistic_under_dane(self):
        self.sent("dane-notlsa.example", "may")

    def test_insecure_delegation_is_opportunistic(self):
        self.sent("insecure.example", "may", "dane/file:12")
        self.assertIn("MX records of insecure.example are not DNSSEC-signed", self.m.log())

    def test_bogus_mx_defers(self):
        self.deferred("dane-bogus.example", r"^4\.7\.5 DNSSEC validation failed: MX lookup of "
                      r"dane-bogus\.example is bogus")

    def test_bogus_tlsa_defers(self):
        self.deferred("tlsa-bogus.example", r"^4\.7\.5 mx\.tlsa-bogus\.example: TLSA lookup of "
                      r"_25\._tcp\.mx\.tlsa-bogus\.example bogus")

    def test_dane_only(self):
        self.sent("daneonly-ok.example", "dane", "dane-only/file:9")
        self.deferred("daneonly-notlsa.example", r"^4\.7\.5 mx\.daneonly-notlsa\.example: no "
                      r"DNSSEC-validated TLSA records")

    def test_tls_required_no_sets_dane_aside(self):
        self.sent("tlsreqno.example", "may", "may/tls-required-no")

    def test_tls_rpt_result_types(self):
        # each attack and failure above is counted for TLS-RPT as the RFC 8460 result type
        url = "http://%s/metrics" % self.m.conf["metrics_listen"]
        want = ['policy_type="tlsa",result="success"',
                'policy_type="tlsa",result="validation-failure"',      # TLSA mismatch
                'policy_type="tlsa",result="starttls-not-supported"',  # STARTTLS stripped
                'policy_type="tlsa",result="dnssec-invalid"',          # bogus MX or TLSA
                'policy_type="tlsa",result="dane-required"']           # dane-only, no TLSA

        def missing():
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            return [w for w in want if "mail_relay_tls_results_total{%s}" % w not in text]
        wait_until(lambda: not missing(), 15)
        self.assertEqual(missing(), [])


if __name__ == "__main__":
    unittest.main()
