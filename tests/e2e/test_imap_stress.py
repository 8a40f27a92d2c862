# test_imap_stress.py - imaptest's stress mode (ten clients at once on one folder, every reply checked for consistency) finds no error in imapd.
"""The correctness half of issue 18: short runs (10 s each) of Dovecot's imaptest in stress mode,
with sessions that stay logged in and with login churn. imaptest tracks every untagged and tagged
reply of every client against its model of the folder; any "Error:" line is a failure. The
throughput half (commands per second against Dovecot) is measured by bench/, not here."""
import os
import re
import subprocess
import unittest

from harness import MailServer
from test_imaptest import IMAPTEST_DIR, build_imaptest

MBOX = os.path.join(IMAPTEST_DIR, "tests", "default.mbox")
SECS = os.environ.get("MAIL_STRESS_SECS", "10")


@unittest.skipUnless(os.path.isdir(IMAPTEST_DIR), "no ../shared/imaptest beside the project")
class ImapStressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = build_imaptest()

    def setUp(self):
        self.server = MailServer(users=("stress@localhost",), extra={"imap_plaintext_auth": "yes"})
        self.addCleanup(self.server.close)
        self.server.start("imapd")

    def stress(self, *opts):
        env = dict(os.environ, LD_LIBRARY_PATH="/usr/lib/dovecot")
        cmd = [self.bin, "host=127.0.0.1", "port=%d" % self.server.imap_port, "user=stress@localhost",
               "pass=" + self.server.password, "mbox=" + MBOX, "clients=10", "secs=" + SECS] + list(opts)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=int(SECS) + 60)
        out = r.stdout + r.stderr
        errors = [l for l in out.splitlines() if l.startswith(("Error:", "Panic:", "Fatal:"))]
        totals = out.split("Totals:")[-1].strip().splitlines()
        print("\nimaptest stress %s: %s" % (" ".join(opts) or "(with logins)", " | ".join(totals[:1] + totals[-1:])))
        self.assertEqual(errors, [], "\n".join(errors[:20]) + "\n" + self.server.log("imapd")[-2000:])
        self.assertEqual(r.returncode, 0, out[-2000:])
        counts = [int(x) for x in re.findall(r"\d+", totals[-1])] if totals else []
        self.assertGreater(sum(counts), 100, "imaptest ran almost no commands:\n" + out[-2000:])

    def test_sessions_stay_logged_in(self):
        self.stress("logout=0")

    def test_with_login_churn(self):
        self.stress()


if __name__ == "__main__":
    unittest.main()
