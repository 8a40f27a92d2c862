"""test_auth_cache.py - the login cache never outlives a password change: right after `mailctl user passwd` the old password is refused and the new one works, on IMAP and SMTP AUTH."""
import base64
import imaplib
import smtplib
import subprocess
import unittest

from harness import MailServer, binary, tls_context

USER = "dave@localhost"


class AuthCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # a 1-hour cache (the default, written out), no failure delay to wait for
        cls.m = MailServer(extra={"imap_plaintext_auth": "yes", "auth_cache_ttl": "1h",
                                  "auth_cache_size": "100", "auth_failure_delay_max": "0"})
        cls.passwd("user", "add", "first password")
        cls.m.start()
        cls.m.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    @classmethod
    def passwd(cls, verb, what, password):
        # a real yescrypt hash, renamed into place, as an operator changes it
        r = subprocess.run([binary("mailctl"), "-c", cls.m.config_path, verb, what, USER],
                           input=password + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def imap_login(self, password):
        c = imaplib.IMAP4("127.0.0.1", self.m.imap_port)
        try:
            c.login(USER, password)
            return True
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def smtp_auth(self, password):
        with smtplib.SMTP("127.0.0.1", self.m.submission_port, timeout=30) as s:
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            token = base64.b64encode(b"\0" + USER.encode() + b"\0" + password.encode()).decode()
            return s.docmd("AUTH PLAIN " + token)[0] == 235

    def test_changed_password_is_refused_at_once(self):
        old, new = "first password", "second password"
        # verified twice each: the second time it comes from the cache
        for _ in range(2):
            self.assertTrue(self.imap_login(old), self.m.log("imapd"))
            self.assertTrue(self.smtp_auth(old), self.m.log())
        self.passwd("user", "passwd", new)
        # no wait for the daemons' timed re-read of the users file (every 2 s)
        self.assertFalse(self.imap_login(old), "IMAP: the old password still works from the cache")
        self.assertFalse(self.smtp_auth(old), "SMTP: the old password still works from the cache")
        self.assertTrue(self.imap_login(new), self.m.log("imapd"))
        self.assertTrue(self.smtp_auth(new), self.m.log())
        # and the new one is cached in its turn, still refusing the old one
        self.assertTrue(self.imap_login(new))
        self.assertFalse(self.imap_login(old))
        self.assertNotIn("not reloaded", self.m.log("imapd"))


if __name__ == "__main__":
    unittest.main()
