# test_metrics.py - /metrics of mtad (metrics_listen) and imapd (imap_metrics_listen) after real SMTP and IMAP traffic: promtool accepts both, counters move as a user would check.
import imaplib
import re
import shutil
import smtplib
import subprocess
import unittest
import urllib.request

import harness
from harness import MailServer, free_port, tls_context

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape(port, accept=None):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def value(text, series):
    """The value of one series line ('name{labels}'), 0 when absent (a counter not yet bumped)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mport, cls.iport = free_port(), free_port()
        cls.m = MailServer(extra={"metrics_listen": "127.0.0.1:%d" % cls.mport,
                                  "imap_metrics_listen": "127.0.0.1:%d" % cls.iport})
        cls.m.start("mtad")
        cls.m.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def promtool(self, text):
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + "\n" + text)

    def test_mtad_counts_accepted_and_rejected_and_promtool_passes(self):
        _, before = scrape(self.mport)
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=10) as s:
            s.sendmail("sender@example.org", ["alice@localhost"],
                       "Subject: metrics\r\n\r\nmetrics-marker\r\n")
            self.assertEqual(s.mail("sender@example.org")[0], 250)
            self.assertEqual(s.rcpt("nobody@localhost")[0], 550)
            s.rset()
        self.m.wait_message("alice@localhost", b"metrics-marker")
        ctype, after = scrape(self.mport)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.promtool(after)
        self.assertEqual(value(after, "mail_messages_accepted_total")
                         - value(before, "mail_messages_accepted_total"), 1)
        self.assertEqual(value(after, 'mail_recipients_rejected_total{reason="unknown_user"}')
                         - value(before, 'mail_recipients_rejected_total{reason="unknown_user"}'), 1)
        self.assertGreaterEqual(value(after, 'mail_connections_total{listener="smtp"}'), 1)
        # The Maildir file can show before the loop records the outcome: wait for it.
        delivered = 'mail_deliveries_total{status="delivered",destination="local"}'
        self.assertTrue(harness.wait_until(lambda: value(scrape(self.mport)[1], delivered) >= 1))
        self.assertIn('mail_queue_messages{state="waiting",age="5m"}', after)
        self.assertGreater(value(after, "process_resident_memory_bytes"), 0)
        # mailctl stats is the terminal view of the same counters.
        r = subprocess.run([harness.binary("mailctl"), "-c", self.m.config_path, "stats"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        accepted = int(re.search(r"^accepted: (\d+)$", r.stdout, re.M).group(1))
        self.assertEqual(accepted, value(after, "mail_messages_accepted_total"))

    def test_openmetrics_when_asked(self):
        ctype, text = scrape(self.mport, "application/openmetrics-text; version=1.0.0")
        self.assertTrue(ctype.startswith("application/openmetrics-text"), ctype)
        self.assertTrue(text.endswith("# EOF\n"))
        self.assertIn("# TYPE mail_messages_accepted counter\n", text)

    def test_imapd_counts_failed_login_and_commands_and_promtool_passes(self):
        _, before = scrape(self.iport)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.m.imaps_port, ssl_context=tls_context())
        with self.assertRaises(imaplib.IMAP4.error):
            c.login("alice@localhost", "wrong password")
        c.logout()
        c = imaplib.IMAP4_SSL("127.0.0.1", self.m.imaps_port, ssl_context=tls_context())
        c.login("alice@localhost", self.m.password)
        c.select("INBOX")
        c.noop()
        c.logout()
        _, after = scrape(self.iport)
        self.promtool(after)
        self.assertEqual(value(after, 'mail_auth_failures_total{service="imap"}')
                         - value(before, 'mail_auth_failures_total{service="imap"}'), 1)
        self.assertEqual(value(after, "mail_imap_sessions_total")
                         - value(before, "mail_imap_sessions_total"), 2)
        for cmd in ("LOGIN", "SELECT", "NOOP"):
            self.assertGreaterEqual(
                value(after, 'mail_imap_command_duration_seconds_count{command="%s"}' % cmd), 1, cmd)
        self.assertIn('mail_imap_command_duration_seconds_bucket{command="SELECT",le="+Inf"}', after)
        # imapd shows its own families, not mtad's.
        self.assertNotIn("mail_messages_accepted", after)


if __name__ == "__main__":
    unittest.main()
