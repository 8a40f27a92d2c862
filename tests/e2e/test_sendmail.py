"""test_sendmail.py - the sendmail command and mailctl as an operator uses them, against a running mtad."""
import os
import stat
import subprocess
import time
import unittest

from harness import MailServer, binary, wait_until


class SendmailTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer()
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def sendmail(self, args, message, user=None):
        env = dict(os.environ, MAIL_CONF=self.m.config_path)
        return subprocess.run([binary("sendmail")] + args, input=message, capture_output=True, env=env,
                              timeout=30)

    def test_recipients_as_arguments(self):
        r = self.sendmail(["-f", "cron@localhost", "alice@localhost"],
                          b"Subject: from cron\nMessage-ID: <cron1@x>\n\nline one\n..dots\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("alice@localhost", b"<cron1@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertTrue(stored.startswith(b"Return-Path: <cron@localhost>\r\n"))
        # LF became CRLF; a lone "." ends the input unless -i; dots are not unstuffed
        self.assertTrue(stored.endswith(b"\r\nline one\r\n..dots\r\n"))
        self.assertIn(b"Received: by mx.test (mtad, from userid", stored)
        self.assertIn(b"\r\nDate: ", stored)  # added on local submission

    def test_dot_ends_input_unless_i(self):
        r = self.sendmail(["bob@localhost"], b"Message-ID: <dot1@x>\n\nbefore\n.\nafter\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("bob@localhost", b"<dot1@x>")
        self.assertIn(b"before\r\n", stored)
        self.assertNotIn(b"after", stored)
        r = self.sendmail(["-i", "bob@localhost"], b"Message-ID: <dot2@x>\n\nbefore\n.\nafter\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("bob@localhost", b"<dot2@x>")
        self.assertTrue(stored.endswith(b"before\r\n.\r\nafter\r\n"))

    def test_t_reads_headers_and_drops_bcc(self):
        msg = (b"From: root@localhost\nTo: Alice <alice@localhost>\nCc: bob@localhost\n"
               b"Bcc: carol@example.test\nMessage-ID: <tflag@x>\nSubject: -t\n\nhello\n")
        r = self.sendmail(["-t", "-F", "Root"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        for who in ("alice@localhost", "bob@localhost", "carol@example.test"):
            stored = self.m.wait_message(who, b"<tflag@x>")
            self.assertIsNotNone(stored, who)
            self.assertNotIn(b"Bcc:", stored)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run as nobody")
    def test_untrusted_user_cannot_choose_sender(self):
        # F3: any local uid reaches submit.sock; only root, run_user and trusted_users pick -f.
        env = dict(os.environ, MAIL_CONF=self.m.config_path)
        r = subprocess.run(["runuser", "-u", "nobody", "--", binary("sendmail"), "-f", "ceo@example.test",
                            "alice@localhost"],
                           input=b"From: ceo@example.test\nMessage-ID: <forged1@x>\n\nwire money\n",
                           capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("alice@localhost", b"<forged1@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertTrue(stored.startswith(b"Return-Path: <nobody@mx.test>\r\n"), stored[:200])
        self.assertIn(b"\r\nX-Authentication-Warning: mx.test: nobody set sender to ceo@example.test "
                      b"using -f\r\n", stored)
        # its own address is no forgery: no warning
        r = subprocess.run(["runuser", "-u", "nobody", "--", binary("sendmail"), "-f", "nobody@mx.test",
                            "alice@localhost"], input=b"Message-ID: <own1@x>\n\nhi\n",
                           capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = self.m.wait_message("alice@localhost", b"<own1@x>")
        self.assertNotIn(b"X-Authentication-Warning", stored)

    def test_unknown_recipient_exit_67(self):
        r = self.sendmail(["nobody@localhost"], b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, 67)
        self.assertIn(b"550", r.stderr)

    def test_no_daemon_exit_75(self):
        m = MailServer()
        try:
            env = dict(os.environ, MAIL_CONF=m.config_path)
            r = subprocess.run([binary("sendmail"), "alice@localhost"], input=b"x\n", capture_output=True, env=env)
            self.assertEqual(r.returncode, 75)
            self.assertIn(b"is mtad running", r.stderr)
        finally:
            m.close()


class MaildropTest(unittest.TestCase):
    """F12: with mtad stopped, sendmail exits 0 only once the message is durable in
    state_dir/maildrop; mtad delivers it exactly once when it starts."""

    def test_mtad_stopped(self):
        m = MailServer()
        try:
            m.start()
            m.stop()
            drop = os.path.join(m.state_dir, "maildrop")
            self.assertEqual(stat.S_IMODE(os.stat(drop).st_mode), 0o1733)
            env = dict(os.environ, MAIL_CONF=m.config_path)
            r = subprocess.run([binary("sendmail"), "-f", "cron@localhost", "alice@localhost"],
                               input=b"Message-ID: <drop1@x>\n\nkept\n", capture_output=True, env=env,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([binary("sendmail"), "-f", "cron@localhost", "alice@localhost"],
                               input=b"Subject: drop3 without origin fields\n\nbare\n",
                               capture_output=True, env=env, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            users = [None]
            if os.geteuid() == 0:
                users.append("nobody")
                r = subprocess.run(["runuser", "-u", "nobody", "--", binary("sendmail"), "-f",
                                    "ceo@example.test", "alice@localhost"],
                                   input=b"Message-ID: <drop2@x>\n\nforged\n", capture_output=True,
                                   env=env, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(os.listdir(drop)), len(users) + 1)
            m.start()
            stored = m.wait_message("alice@localhost", b"<drop1@x>")
            self.assertIsNotNone(stored, m.log())
            self.assertTrue(stored.startswith(b"Return-Path: <cron@localhost>\r\n"))
            # what a submission server adds (RFC 6409 8.2, 8.3), as when mtad is running
            header = stored.split(b"\r\n\r\n", 1)[0]
            self.assertRegex(header, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} ")
            self.assertEqual(header.count(b"Message-ID:"), 1)
            stored = m.wait_message("alice@localhost", b"drop3 without origin fields")
            self.assertIsNotNone(stored, m.log())
            header = stored.split(b"\r\n\r\n", 1)[0]
            self.assertRegex(header, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} ")
            self.assertRegex(header, rb"\r\nMessage-ID: <[0-9A-F]+@mx\.test>\r\n")
            if os.geteuid() == 0:
                stored = m.wait_message("alice@localhost", b"<drop2@x>")
                self.assertIsNotNone(stored, m.log())
                self.assertTrue(stored.startswith(b"Return-Path: <nobody@mx.test>\r\n"), stored[:100])
                self.assertIn(b"X-Authentication-Warning: mx.test: nobody set sender to "
                              b"ceo@example.test using -f\r\n", stored)
            self.assertTrue(wait_until(lambda: not os.listdir(drop), timeout=10), os.listdir(drop))
            m.stop()
            m.start()   # nothing left to pick up a second time
            time.sleep(1)
            msgs = m.messages("alice@localhost")
            self.assertEqual(sum(b"<drop1@x>" in x for x in msgs), 1)
            self.assertEqual(sum(b"<drop2@x>" in x for x in msgs), len(users) - 1)
        finally:
            m.close()


class MailctlTest(unittest.TestCase):
    def test_check_and_users(self):
        m = MailServer()
        try:
            ctl = [binary("mailctl"), "-c", m.config_path]
            r = subprocess.run(ctl + ["check"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration OK", r.stdout)
            r = subprocess.run(ctl + ["user", "add", "New@LocalHost"], input="pw1\n", capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(m.users_file) as f:
                line = [l for l in f if l.startswith("new@localhost:")][0]
            self.assertRegex(line, r"^new@localhost:\{(CRYPT|BLF-CRYPT|SHA512-CRYPT)\}\$")
            self.assertNotIn("pw1", line)
            self.assertEqual(oct(os.stat(m.users_file).st_mode & 0o777), "0o644")  # kept as it was
            self.assertNotEqual(subprocess.run(ctl + ["user", "add", "new@localhost"], input=b"x\n",
                                               capture_output=True).returncode, 0)
            self.assertEqual(subprocess.run(ctl + ["user", "passwd", "new@localhost"], input=b"pw2\n",
                                            capture_output=True).returncode, 0)
            r = subprocess.run(ctl + ["user", "list"], capture_output=True, text=True)
            self.assertIn("new@localhost", r.stdout.split())
            self.assertEqual(subprocess.run(ctl + ["user", "del", "new@localhost"], capture_output=True).returncode, 0)
            self.assertEqual(subprocess.run(ctl + ["user", "del", "new@localhost"], capture_output=True).returncode, 67)
            # a broken users file is reported with file:line and exit 78
            with open(m.users_file, "a") as f:
                f.write("this line is broken\n")
            r = subprocess.run(ctl + ["check"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 78)
            self.assertRegex(r.stderr, r"users:\d+:")
        finally:
            m.close()

    def test_bad_config(self):
        m = MailServer(extra={"retry_schedule": "1x"})
        try:
            r = subprocess.run([binary("mailctl"), "-c", m.config_path, "check"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 78)
            self.assertRegex(r.stderr, r"mail\.conf:\d+: retry_schedule")
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
