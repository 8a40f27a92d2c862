# test_mta_sts.py - MTA-STS as a sender end to end: real dnsmasq, an HTTPS policy server (Python ssl) and sinks with certificates from a test CA.
import os
import re
import shutil
import smtplib
import tempfile
import unittest

from harness import SLOW, DNSServer, MailServer, SMTPSink, wait_until
from tlsworld import CA, PolicyServer, sinks_port

GOOD, WRONG, OTHER = "127.0.0.3", "127.0.0.4", "127.0.0.5"
POLICY_HOST = "127.0.0.41"

POLICIES = {
    "enforce-good.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.enforce-good.test\r\nmax_age: 86400\r\n",
    "enforce-wrong.test": "version: STSv1\nmode: enforce\nmx: *.enforce-wrong.test\nmax_age: 86400\n",
    "enforce-other.test": "version: STSv1\nmode: enforce\nmx: mx2.enforce-other.test\nmax_age: 86400\n",
    "testing-wrong.test": "version: STSv1\nmode: testing\nmx: mx.testing-wrong.test\nmax_age: 86400\n",
    "none-wrong.test": "version: STSv1\nmode: none\nmax_age: 86400\n",
    "broken.test": None,  # 404
}
# domain: [(mx host, preference, address)]
MX = {
    "enforce-good.test": [("mx.enforce-good.test", 10, GOOD)],
    "enforce-wrong.test": [("mx.enforce-wrong.test", 10, WRONG)],
    "enforce-other.test": [("mx1.enforce-other.test", 10, OTHER), ("mx2.enforce-other.test", 20, GOOD)],
    "testing-wrong.test": [("mx.testing-wrong.test", 10, WRONG)],
    "none-wrong.test": [("mx.none-wrong.test", 10, WRONG)],
    "broken.test": [("mx.broken.test", 10, WRONG)],
}


class MtaStsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mtasts-")
        os.chmod(cls.dir, 0o755)
        ca = CA(cls.dir)
        good = ca.issue("good", ["mx.enforce-good.test", "mx1.enforce-other.test",
                                 "mx2.enforce-other.test"])
        wrong = ca.issue("wrong", ["wrong.invalid"])
        web = ca.issue("web", ["mta-sts.%s" % d for d in POLICIES])
        for name in os.listdir(cls.dir):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        records = []
        for d, hosts in MX.items():
            records.append('--txt-record=_mta-sts.%s,v=STSv1; id=%s1;' % (d, d.split(".")[0].replace("-", "")))
            records.append("--host-record=mta-sts.%s,%s" % (d, POLICY_HOST))
            for h, pref, ip in hosts:
                records += ["--mx-host=%s,%s,%d" % (d, h, pref), "--host-record=%s,%s" % (h, ip)]
        cls.dns = DNSServer(records)
        cls.httpd = PolicyServer(POLICY_HOST, 443, web, POLICIES)
        port = sinks_port()
        cls.sinks = {GOOD: SMTPSink(GOOD, port, tls_cert=good),
                     WRONG: SMTPSink(WRONG, port, tls_cert=wrong),
                     OTHER: SMTPSink(OTHER, port, tls_cert=good)}
        cls.m = MailServer(extra={
            "relay_networks": "127.0.0.0/8",
            "dns_servers": "127.0.0.1:%d" % cls.dns.port,
            "relay_port": str(port),
            "relay_tls_ca_file": ca.cert,
            "retry_schedule": "1s",
            "queue_lifetime": "12s" if SLOW else "4s",
            "relay_connect_timeout": "3s",
            "relay_command_timeout": "5s",
        })
        cls.m.start()
        with smtplib.SMTP("127.0.0.1", cls.m.smtp_port) as s:
            for d in MX:
                s.sendmail("alice@localhost", ["user@" + d],
                           b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % d.encode())

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        for s in cls.sinks.values():
            s.close()
        cls.httpd.close()
        cls.dns.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def line(self, domain, status):
        pat = re.compile(r"to=<user@%s>, relay=remote, delay=[^,]*, (tls=\w+), (tls_policy=\S+), "
                         r"status=%s \((.*)\)" % (re.escape(domain), status))
        found = wait_until(lambda: pat.search(self.m.log()), 15)
        self.assertTrue(found, "no %s line for %s:\n%s" % (status, domain, "\n".join(
            l for l in self.m.log().splitlines() if domain in l)))
        return found

    def received(self, ip, domain):
        return self.sinks[ip].received_for("user@" + domain)

    def test_enforce_valid_certificate_delivers_verified(self):
        m = self.line("enforce-good.test", "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=verified", "tls_policy=verify/mta-sts"))
        self.assertTrue(self.received(GOOD, "enforce-good.test"))
        # the policy is cached on disk with its id
        path = os.path.join(self.m.state_dir, "mta-sts", "enforce-good.test")
        with open(path) as f:
            self.assertEqual(f.readline(), "enforcegood1\n")

    def test_enforce_wrong_certificate_defers(self):
        m = self.line("enforce-wrong.test", "deferred")
        self.assertEqual(m.group(2), "tls_policy=verify/mta-sts")
        self.assertRegex(m.group(3), r"^4\.7\.5 mx\.enforce-wrong\.test\[127\.0\.0\.4\]:\d+: the certificate is not "
                                     r"verified for mx\.enforce-wrong\.test .*\(TLS policy verify/mta-sts\)")
        self.assertEqual(self.received(WRONG, "enforce-wrong.test"), [])

    def test_enforce_mx_outside_policy_is_not_used(self):
        m = self.line("enforce-other.test", "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=verified", "tls_policy=verify/mta-sts"))
        self.assertTrue(self.received(GOOD, "enforce-other.test"))
        self.assertEqual(self.received(OTHER, "enforce-other.test"), [])
        self.assertIn("mx1.enforce-other.test: not an MX host of the MTA-STS policy of "
                      "enforce-other.test", self.m.log())

    def test_testing_wrong_certificate_delivers_and_logs(self):
        m = self.line("testing-wrong.test", "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=may", "tls_policy=may/mta-sts-testing"))
        self.assertTrue(self.received(WRONG, "testing-wrong.test"))
        self.assertRegex(self.m.log(), r"relay testing-wrong\.test: MTA-STS policy \(mode testing\) "
                                       r"not met by mx\.testing-wrong\.test")

    def test_mode_none_is_no_policy(self):
        m = self.line("none-wrong.test", "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=may", "tls_policy=may/default"))

    def test_broken_policy_fetch_is_no_policy(self):
        m = self.line("broken.test", "sent")
        self.assertEqual((m.group(1), m.group(2)), ("tls=may", "tls_policy=may/default"))
        self.assertIn("relay broken.test: no MTA-STS policy: fetching "
                      "https://mta-sts.broken.test/.well-known/mta-sts.txt: HTTP status 404",
                      self.m.log())

    def send(self, domain, subject):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("alice@localhost", ["user@" + domain],
                       b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % subject.encode())

    def fetches(self, domain):
        return self.httpd.fetches(domain)

    # named to run last: it restarts mtad
    def test_z_cache_on_disk_and_refetch_on_new_id(self):
        d = "enforce-good.test"
        self.line(d, "sent")
        self.assertEqual(self.fetches(d), 1)
        # a policy cached with the record's id and not expired is used without a fetch
        self.m.stop()
        self.m.start()
        self.send(d, "again")
        wait_until(lambda: len(self.received(GOOD, d)) == 2, 15)
        self.assertEqual(len(self.received(GOOD, d)), 2)
        self.assertEqual(self.fetches(d), 1)
        # another id in the record than in the cache: fetched again
        path = os.path.join(self.m.state_dir, "mta-sts", d)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("enforcegood1\n", "old1\n", 1))
        self.m.stop()
        self.m.start()
        self.send(d, "third")
        wait_until(lambda: len(self.received(GOOD, d)) == 3, 15)
        self.assertEqual(self.fetches(d), 2)
        with open(path) as f:
            self.assertEqual(f.readline(), "enforcegood1\n")
        pat = re.compile(r"to=<user@enforce-good\.test>, .*tls=verified, "
                         r"tls_policy=verify/mta-sts, status=sent")
        wait_until(lambda: len(pat.findall(self.m.log())) == 3, 15)
        self.assertEqual(len(pat.findall(self.m.log())), 3)


if __name__ == "__main__":
    unittest.main()
