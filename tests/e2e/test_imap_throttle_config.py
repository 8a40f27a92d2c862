# test_imap_throttle_config.py - imapd honours the auth_* throttle keys as mtad does (it used built-in values).
import imaplib
import unittest

from harness import MailServer


class ImapThrottleConfigTest(unittest.TestCase):
    def test_block_after_configured_failures(self):
        m = MailServer(extra={"imap_plaintext_auth": "yes", "auth_block_failures": "2",
                              "auth_failure_delay_max": "0s", "auth_block_time": "1h"})
        self.addCleanup(m.close)
        m.start("imapd")
        for _ in range(3):
            c = imaplib.IMAP4("127.0.0.1", m.imap_port, timeout=10)
            with self.assertRaises(imaplib.IMAP4.error):
                c.login("alice@localhost", "wrong")
            c.shutdown()
        # More failures than auth_block_failures: blocked for auth_block_time, even with the
        # right password (the built-in limit of 10 let this one in).
        c = imaplib.IMAP4("127.0.0.1", m.imap_port, timeout=10)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            c.login("alice@localhost", m.password)
        self.assertIn("UNAVAILABLE", str(cm.exception))
        c.shutdown()


if __name__ == "__main__":
    unittest.main()
