# test_quota.py - QUOTA end to end: IMAP GETQUOTAROOT/GETQUOTA/OVERQUOTA, SMTP RCPT 452 4.2.2, a queued message deferred then bounced 5.2.2, mailctl user list.
import imaplib
import os
import re
import smtplib
import subprocess
import unittest

from harness import MailServer, SMTPClient, binary, wait_until


def say(s, text):
    """One SMTP command: its reply as one line, "CODE text"."""
    code, lines = s.cmd(text)
    return "%d %s" % (code, lines[-1][4:])

PASSWORD = "secret"


def message(subject, size):
    head = "From: carol@example.test\r\nTo: someone@localhost\r\nSubject: %s\r\n\r\n" % subject
    body = ("x" * 70 + "\r\n") * (max(0, size - len(head)) // 72 + 1)
    return (head + body)[:size].encode()


class QuotaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"imap_plaintext_auth": "yes", "default_quota": "3K",
                                  "retry_schedule": "1s", "queue_lifetime": "3s"})
        rule = "::::::userdb_quota_rule=*:storage=%s"
        with open(cls.m.users_file, "w") as f:
            f.write("alice@localhost:{PLAIN}%s%s\n" % (PASSWORD, rule % "4K"))
            f.write("bob@localhost:{PLAIN}%s\n" % PASSWORD)  # default_quota
            f.write("carol@example.test:{PLAIN}%s%s\n" % (PASSWORD, rule % "0"))  # none
            f.write("frank@localhost:{PLAIN}%s::::::userdb_quota_rule=*:bytes=1000\n" % PASSWORD)
        # frank's Maildir already holds more than his quota (written by something else)
        new = os.path.join(cls.m.maildir("frank@localhost"), "new")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(cls.m.maildir("frank@localhost"), sub))
        with open(os.path.join(new, "1700000000.M1P1.elsewhere"), "wb") as f:
            f.write(message("old", 2000))
        for d in ("mail", "mail/localhost", "mail/localhost/frank", "mail/localhost/frank/new",
                  "mail/localhost/frank/cur", "mail/localhost/frank/tmp",
                  "mail/localhost/frank/new/1700000000.M1P1.elsewhere"):
            cls.m.give_to_run_user(d)
        cls.m.start("mtad")
        cls.m.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def imap(self, user):
        c = imaplib.IMAP4("127.0.0.1", self.m.imap_port)
        c.login(user, PASSWORD)
        self.addCleanup(c.logout)
        return c

    def quota(self, c):
        typ, data = c.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(data[0], [b'INBOX ""'])
        m = re.fullmatch(rb'"" \(STORAGE (\d+) (\d+)\)', data[1][0])
        self.assertTrue(m, data)
        return int(m.group(1)), int(m.group(2))

    def test_imap_quota(self):
        c = self.imap("alice@localhost")
        typ, caps = c.capability()
        self.assertIn(b"QUOTA", caps[0].split())
        self.assertIn(b"QUOTA=RES-STORAGE", caps[0].split())
        self.assertEqual(self.quota(c), (0, 4))  # KiB used, KiB allowed
        typ, data = c.append("INBOX", None, None, message("one", 1500))
        self.assertEqual(typ, "OK", data)
        self.assertEqual(self.quota(c), (2, 4))  # 1500 bytes: rounded up
        typ, data = c.getquota('""')
        self.assertEqual(data, [b'"" (STORAGE 2 4)'])
        # a message that does not fit any more
        typ, data = c.append("INBOX", None, None, message("two", 3000))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[OVERQUOTA]", data[0])
        # nor does a copy of what is there, twice over; a move changes nothing
        c.select("INBOX")
        c.append("INBOX", None, None, message("three", 1200))
        typ, data = c.copy("1:2", "Archive")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[OVERQUOTA]", data[0])
        typ, data = c._simple_command("MOVE", "2", "Archive")
        self.assertEqual(typ, "OK", data)
        typ, data = c.status("Archive", "(MESSAGES)")
        self.assertIn(b"MESSAGES 1", data[0])
        self.assertEqual(self.quota(c)[0], 3)
        # administrators set limits
        typ, data = c.setquota('""', "(STORAGE 100000)")
        self.assertEqual(typ, "NO")
        # an expunge gives the space back
        c.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = c.status("INBOX", "(DELETED DELETED-STORAGE)")
        self.assertIn(b"(DELETED 1 DELETED-STORAGE 2)", data[0])
        c.expunge()
        self.assertEqual(self.quota(c)[0], 2)
        typ, data = c.append("INBOX", None, None, message("two again", 2500))
        self.assertEqual(typ, "OK", data)
        typ, data = c.getquotaroot("Archive")
        self.assertEqual(data[0], [b'Archive ""'])
        # an account without a limit has no quota root
        c2 = self.imap("carol@example.test")
        typ, data = c2.getquotaroot("INBOX")
        self.assertEqual(data[0], [b"INBOX"])
        self.assertEqual(c2.getquota('""')[0], "NO")

    def test_rcpt_mailbox_full(self):
        s = SMTPClient(self.m.smtp_port)
        self.addCleanup(s.close)
        self.assertTrue(say(s, "EHLO client.test").startswith("250"))
        self.assertTrue(say(s, "MAIL FROM:<carol@example.test>").startswith("250"))
        self.assertEqual(say(s, "RCPT TO:<frank@localhost>"), "452 4.2.2 Mailbox full")
        self.assertTrue(say(s, "RCPT TO:<carol@example.test>").startswith("250"))
        self.assertTrue(say(s, "RSET").startswith("250"))
        # SIZE= counts: alice has room for little, not for 100 KB
        self.assertTrue(say(s, "MAIL FROM:<carol@example.test> SIZE=100000").startswith("250"))
        self.assertEqual(say(s, "RCPT TO:<alice@localhost>"), "452 4.2.2 Mailbox full")
        self.assertIn("reject: RCPT from [127.0.0.1]: 452 4.2.2 <frank@localhost>", self.m.log())

    def test_deliver_program(self):
        deliver = [binary("deliver"), "-c", self.m.config_path, "-f", "carol@example.test"]
        r = subprocess.run(deliver + ["frank@localhost"], input=message("lda", 300),
                           capture_output=True)
        self.assertEqual(r.returncode, 75, r.stderr)  # EX_TEMPFAIL: the MTA tries again
        self.assertIn(b"4.2.2 mailbox full", r.stderr)
        r = subprocess.run(deliver + ["carol@example.test"], input=message("lda", 300),
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_queued_message_deferred_then_bounced(self):
        # bob (default_quota 3K) takes the first message; the second one does not fit
        for n, subject in enumerate(("first", "second")):
            s = SMTPClient(self.m.smtp_port)
            self.addCleanup(s.close)
            say(s, "EHLO client.test")
            self.assertTrue(say(s, "MAIL FROM:<carol@example.test>").startswith("250"))
            self.assertTrue(say(s, "RCPT TO:<bob@localhost>").startswith("250"))
            self.assertTrue(say(s, "DATA").startswith("354"))
            self.assertTrue(say(s, message(subject, 1600).decode() + "\r\n.").startswith("250"))
            if n == 0:
                # delivered and counted (the log line comes after both), so that the second
                # delivery's check sees it
                self.assertTrue(wait_until(lambda: re.search(
                    r"to=<bob@localhost>.*status=sent", self.m.log()), 10), self.m.log())
        ctl = [binary("mailctl"), "-c", self.m.config_path]
        self.assertTrue(wait_until(lambda: "4.2.2 mailbox full" in self.m.log(), 10), self.m.log())
        dsn = self.m.wait_message("carol@example.test", b"Status: 5.2.2", timeout=15)
        self.assertTrue(dsn, self.m.log()[-3000:])
        self.assertIn(b"Action: failed", dsn)
        self.assertIn(b"Final-Recipient: rfc822; bob@localhost", dsn)
        self.assertEqual(len(self.m.messages("bob@localhost")), 1)
        out = subprocess.run(ctl + ["user", "list"], capture_output=True, text=True).stdout
        self.assertRegex(out, r"(?m)^bob@localhost  used \d+ of 3072 bytes \(\d+%\), 1 messages$")
        self.assertRegex(out, r"(?m)^frank@localhost  used 2000 of 1000 bytes \(200%\), 1 messages$")
        self.assertRegex(out, r"(?m)^carol@example\.test  used \d+ bytes \(no limit\), \d+ messages$")


if __name__ == "__main__":
    unittest.main()
