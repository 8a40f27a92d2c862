# test_new_account.py - an account or alias added a moment ago is never refused: RCPT, SMTP AUTH and IMAP LOGIN re-read a changed table on a miss.
import imaplib
import smtplib
import subprocess
import unittest

import harness
from harness import MailServer, tls_context


class NewAccountTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(aliases="")
        cls.m.start("mtad")
        cls.m.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def mailctl(self, *args, stdin=""):
        r = subprocess.run([harness.binary("mailctl"), "-c", self.m.config_path] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_rcpt_right_after_user_add(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=10) as s:
            s.ehlo("client.example")
            s.mail("sender@example.org")
            code, _ = s.rcpt("fresh1@localhost")
            self.assertEqual(code, 550)  # not there yet
            # Added while the session is open; the next RCPT must see it at once, not after
            # the timed re-read (a 550 is permanent: the sender would bounce the mail).
            self.mailctl("user", "add", "fresh1@localhost", stdin="a long password\n")
            code, msg = s.rcpt("fresh1@localhost")
            self.assertEqual(code, 250, msg)

    def test_rcpt_right_after_alias_added(self):
        with open(self.m.conf["aliases_file"], "a") as f:
            f.write("team@localhost: alice@localhost\n")
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=10) as s:
            s.ehlo("client.example")
            s.mail("sender@example.org")
            code, msg = s.rcpt("team@localhost")
            self.assertEqual(code, 250, msg)

    def test_imap_login_right_after_user_add(self):
        imap = imaplib.IMAP4("127.0.0.1", self.m.imap_port, timeout=10)
        imap.starttls(ssl_context=tls_context())
        self.mailctl("user", "add", "fresh2@localhost", stdin="another long password\n")
        typ, _ = imap.login("fresh2@localhost", "another long password")
        self.assertEqual(typ, "OK")
        imap.logout()

    def test_smtp_auth_right_after_user_add(self):
        self.mailctl("user", "add", "fresh3@localhost", stdin="third long password\n")
        with smtplib.SMTP("127.0.0.1", self.m.submission_port, timeout=10) as s:
            s.starttls(context=tls_context())
            code, msg = s.login("fresh3@localhost", "third long password")
            self.assertEqual(code, 235, msg)


if __name__ == "__main__":
    unittest.main()
