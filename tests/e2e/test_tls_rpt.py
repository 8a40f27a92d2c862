# test_tls_rpt.py - TLS-RPT (RFC 8460) end to end: sessions that succeed and fail under MTA-STS and a verify policy are counted, survive a restart, and `mailctl tlsrpt send` mails a gzipped JSON report to a mailto: rua and POSTs one to an https: rua; and a changed MTA-STS policy is picked up by a refresh without a restart.
import email
import email.policy
import gzip
import json
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import unittest
import urllib.request

from harness import DNSServer, MailServer, SMTPSink, binary, free_port, wait_until
from tlsworld import CA, PolicyServer, sinks_port

GOOD, WRONG, PLAIN, REPORTS = "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"
POLICY_HOST = "127.0.0.51"  # mta-sts.DOMAIN:443 (test_mta_sts uses .41)
RUA_HOST = "127.0.0.52"     # the https rua, on a free port

POLICIES = {
    "sts-good.test": "version: STSv1\nmode: enforce\nmx: mx.sts-good.test\nmax_age: 86400\n",
    "sts-bad.test": "version: STSv1\nmode: enforce\nmx: mx.sts-bad.test\nmax_age: 86400\n",
}
MX = {  # domain: (mx host, address)
    "sts-good.test": ("mx.sts-good.test", GOOD),
    "sts-bad.test": ("mx.sts-bad.test", WRONG),
    "stripped.test": ("mx.stripped.test", PLAIN),
    "nopolicy.test": ("mx.nopolicy.test", GOOD),
    "reports.test": ("mx.reports.test", REPORTS),
}


class TlsRptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tlsrpt-")
        os.chmod(cls.dir, 0o755)
        ca = CA(cls.dir)
        good = ca.issue("good", ["mx.sts-good.test", "mx.nopolicy.test"])
        wrong = ca.issue("wrong", ["wrong.invalid"])
        web = ca.issue("web", ["mta-sts.sts-good.test", "mta-sts.sts-bad.test", "rua.reports.test"])
        for name in os.listdir(cls.dir):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        cls.rua_port = free_port(RUA_HOST)
        records = ["--host-record=rua.reports.test,%s" % RUA_HOST,
                   "--txt-record=_smtp._tls.sts-good.test,v=TLSRPTv1; rua=https://rua.reports.test:%d/tlsrpt"
                   % cls.rua_port,
                   "--txt-record=_smtp._tls.sts-bad.test,v=TLSRPTv1; rua=mailto:tlsrpt@reports.test",
                   "--txt-record=_smtp._tls.stripped.test,v=TLSRPTv1;rua=mailto:tlsrpt@reports.test;"]
        for d in POLICIES:
            records += ["--txt-record=_mta-sts.%s,v=STSv1; id=%s1;" % (d, d.split(".")[0].replace("-", "")),
                        "--host-record=mta-sts.%s,%s" % (d, POLICY_HOST)]
        for d, (h, ip) in MX.items():
            records += ["--mx-host=%s,%s,10" % (d, h), "--host-record=%s,%s" % (h, ip)]
        cls.dns = DNSServer(records)
        cls.policy_httpd = PolicyServer(POLICY_HOST, 443, web, POLICIES)
        cls.rua_httpd = PolicyServer(RUA_HOST, cls.rua_port, web, {})
        port = sinks_port()
        cls.sinks = {GOOD: SMTPSink(GOOD, port, tls_cert=good),
                     WRONG: SMTPSink(WRONG, port, tls_cert=wrong),
                     PLAIN: SMTPSink(PLAIN, port),
                     REPORTS: SMTPSink(REPORTS, port)}
        policy_file = os.path.join(cls.dir, "tls_policy")
        with open(policy_file, "w") as f:
            f.write("stripped.test verify\n")
        os.chmod(policy_file, 0o644)
        cls.metrics_port = free_port()
        cls.m = MailServer(extra={
            "relay_networks": "127.0.0.0/8",
            "dns_servers": "127.0.0.1:%d" % cls.dns.port,
            "relay_port": str(port),
            "relay_tls_ca_file": ca.cert,
            "relay_tls_policy_file": policy_file,
            "retry_schedule": "1h",
            "relay_connect_timeout": "3s",
            "relay_command_timeout": "5s",
            "metrics_listen": "127.0.0.1:%d" % cls.metrics_port,
        })
        cls.m.start()
        with smtplib.SMTP("127.0.0.1", cls.m.smtp_port) as s:
            for d in ("sts-good.test", "sts-bad.test", "stripped.test", "nopolicy.test"):
                s.sendmail("alice@localhost", ["user@" + d],
                           b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % d.encode())
        for d, status in (("sts-good.test", "sent"), ("sts-bad.test", "deferred"),
                          ("stripped.test", "deferred"), ("nopolicy.test", "sent")):
            pat = re.compile(r"to=<user@%s>, .*status=%s" % (re.escape(d), status))
            assert wait_until(lambda: pat.search(cls.m.log()), 15), (d, cls.m.log())
        cls.metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % cls.metrics_port,
                                             timeout=10).read().decode()
        # the counts are on disk when mtad stops, and back after a restart
        cls.m.stop()
        cls.files = sorted(os.listdir(os.path.join(cls.m.state_dir, "tlsrpt")))
        cls.m.start()
        r = subprocess.run([binary("mailctl"), "-c", cls.m.config_path, "tlsrpt", "send"],
                           capture_output=True, text=True, timeout=30)
        cls.send_output = (r.returncode, r.stdout, r.stderr)
        wait_until(lambda: len(cls.sinks[REPORTS].transactions) >= 2 and cls.rua_httpd.posts, 15)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        for s in cls.sinks.values():
            s.close()
        cls.policy_httpd.close()
        cls.rua_httpd.close()
        cls.dns.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def report_mail(self, domain):
        for t in self.sinks[REPORTS].transactions:
            msg = email.message_from_bytes(t["data"], policy=email.policy.default)
            if msg["TLS-Report-Domain"] == domain:
                return t, msg
        self.fail("no report mail for %s: %r" % (domain, self.sinks[REPORTS].transactions))

    def report_json(self, msg):
        parts = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
        self.assertEqual(len(parts), 1)
        return json.loads(gzip.decompress(parts[0].get_content()))

    def test_counts_survive_a_restart(self):
        self.assertTrue(any(re.fullmatch(r"\d+\.json", f) for f in self.files), self.files)

    def test_mailctl_tlsrpt_send(self):
        self.assertEqual(self.send_output, (0, "reports: 3\nerrors: 0\n", ""))

    def test_mail_report_headers(self):
        t, msg = self.report_mail("sts-bad.test")
        self.assertEqual(t["rcpts"], ["tlsrpt@reports.test"])
        self.assertEqual(t["mail_from"], "postmaster@mx.test")
        self.assertEqual(msg["TLS-Report-Submitter"], "mx.test")
        self.assertRegex(str(msg["Subject"]),
                         r"^Report Domain: sts-bad\.test Submitter: mx\.test Report-ID: <[^>]+>$")
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "tlsrpt")
        part = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
        self.assertRegex(part.get_filename(), r"^mx\.test!sts-bad\.test!\d+!\d+\.json\.gz$")

    def test_sts_failure_counts(self):
        _, msg = self.report_mail("sts-bad.test")
        r = self.report_json(msg)
        for k in ("organization-name", "date-range", "contact-info", "report-id", "policies"):
            self.assertIn(k, r)
        self.assertEqual(r["contact-info"], "postmaster@mx.test")
        self.assertEqual(len(r["policies"]), 1)
        p = r["policies"][0]
        self.assertEqual(p["policy"]["policy-type"], "sts")
        self.assertEqual(p["policy"]["policy-domain"], "sts-bad.test")
        self.assertEqual(p["policy"]["mx-host"], ["mx.sts-bad.test"])
        self.assertIn("mode: enforce", p["policy"]["policy-string"])
        self.assertEqual(p["summary"], {"total-successful-session-count": 0,
                                        "total-failure-session-count": 1})
        self.assertEqual(p["failure-details"], [{
            "result-type": "certificate-host-mismatch", "receiving-mx-hostname": "mx.sts-bad.test",
            "receiving-ip": WRONG, "failed-session-count": 1}])

    def test_starttls_stripped_counts(self):
        _, msg = self.report_mail("stripped.test")
        p = self.report_json(msg)["policies"][0]
        self.assertEqual(p["policy"]["policy-type"], "no-policy-found")
        self.assertEqual(p["summary"]["total-failure-session-count"], 1)
        self.assertEqual(p["failure-details"][0]["result-type"], "starttls-not-supported")
        self.assertEqual(p["failure-details"][0]["receiving-ip"], PLAIN)

    def test_https_rua_gets_the_success(self):
        self.assertEqual(len(self.rua_httpd.posts), 1)
        path, ctype, body = self.rua_httpd.posts[0]
        self.assertEqual((path, ctype), ("/tlsrpt", "application/tlsrpt+gzip"))
        r = json.loads(gzip.decompress(body))
        p = r["policies"][0]
        self.assertEqual((p["policy"]["policy-type"], p["policy"]["policy-domain"]),
                         ("sts", "sts-good.test"))
        self.assertEqual(p["summary"], {"total-successful-session-count": 1,
                                        "total-failure-session-count": 0})
        self.assertNotIn("failure-details", p)

    def test_no_record_no_report(self):
        domains = [email.message_from_bytes(t["data"])["TLS-Report-Domain"]
                   for t in self.sinks[REPORTS].transactions]
        self.assertNotIn("nopolicy.test", domains)
        self.assertEqual(sorted(domains), ["stripped.test", "sts-bad.test"])

    def test_metrics(self):
        for labels, n in (('policy_type="sts",result="success"', 1),
                          ('policy_type="sts",result="certificate-host-mismatch"', 1),
                          ('policy_type="no-policy-found",result="starttls-not-supported"', 1),
                          ('policy_type="no-policy-found",result="success"', 1)):
            self.assertIn("mail_relay_tls_results_total{%s} %d" % (labels, n), self.metrics)

    def send(self, domain, subject):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("alice@localhost", ["user@" + domain],
                       b"From: alice@localhost\r\nSubject: %s\r\n\r\nhello\r\n" % subject.encode())

    # named to run last: it changes a policy
    def test_z_mta_sts_refresh_picks_up_a_changed_policy(self):
        d = "sts-good.test"
        log_lines = lambda: re.findall(r"to=<user@sts-good\.test>, .*(tls_policy=\S+), status=sent",
                                       self.m.log())
        # after the restart the policy comes from the disk cache, without a fetch
        gets = self.policy_httpd.fetches(d)
        n = len(log_lines())  # the delivery in setUpClass
        self.send(d, "before")
        self.assertTrue(wait_until(lambda: len(log_lines()) == n + 1, 15), self.m.log())
        self.assertEqual(log_lines()[n], "tls_policy=verify/mta-sts")
        self.assertEqual(self.policy_httpd.fetches(d), gets)
        # the server's policy changes (same id); a refresh fetches it again
        POLICIES[d] = "version: STSv1\nmode: testing\nmx: mx.sts-good.test\nmax_age: 86400\n"
        r = subprocess.run([binary("mailctl"), "-c", self.m.config_path, "mta-sts", "refresh"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "refreshing: 1\n"))
        self.assertTrue(wait_until(lambda: self.policy_httpd.fetches(d) == gets + 1, 15))
        path = os.path.join(self.m.state_dir, "mta-sts", d)
        def cached():
            with open(path) as f:
                return "mode: testing" in f.read()
        self.assertTrue(wait_until(cached, 15))
        self.send(d, "after")
        self.assertTrue(wait_until(lambda: len(log_lines()) == n + 2, 15), self.m.log())
        self.assertEqual(log_lines()[n + 1], "tls_policy=may/mta-sts-testing")


if __name__ == "__main__":
    unittest.main()
