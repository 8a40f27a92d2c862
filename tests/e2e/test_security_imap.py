# test_security_imap.py - audit findings F6, F8, F9, F11 end to end: one Maildir per account name, a process-wide literal cap, escaped log and queue text, bounded SEARCH work that cannot starve a login.
import imaplib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import unittest

from harness import DNSServer, MailServer, SLOW, SMTPSink, binary, rss_kib, wait_until, RawIMAP

PASSWORD = "secret"


def imap_login(port, user):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    typ, _ = c.login(c._quote(user), PASSWORD)
    assert typ == "OK"
    return c


def subjects(port, user):
    """The Subject lines of user's INBOX, over IMAP."""
    c = imap_login(port, user)
    try:
        typ, data = c.select("INBOX")
        assert typ == "OK", data
        if int(data[0]) == 0:
            return []
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", data
        return sorted(part[1].decode().strip() for part in data if isinstance(part, tuple))
    finally:
        c.logout()


class QuotedLocalPartTest(unittest.TestCase):
    """F6: an account with a quoted local part has one Maildir, the same for delivery and IMAP."""

    def setUp(self):
        self.m = MailServer(users=('"john smith"@localhost', "johnsmith@localhost", "alice@localhost"),
                            extra={"imap_plaintext_auth": "yes"})
        self.m.start()
        self.m.start("imapd")

    def tearDown(self):
        self.m.close()

    def rcpt(self, rcpt, subject):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=30) as s:
            s.ehlo("client.example.org")
            self.assertEqual(s.mail("sender@example.org")[0], 250)
            code, text = s.docmd("RCPT TO:<%s>" % rcpt)
            if code != 250:
                return code
            code, text = s.data(b"From: sender@example.org\r\nSubject: " + subject.encode() +
                                b"\r\n\r\nbody\r\n")
            self.assertEqual(code, 250, text)
            return code

    def test_each_account_reads_only_its_own_mail(self):
        self.assertEqual(self.rcpt('"john smith"@localhost', "for john smith"), 250)
        self.assertEqual(self.rcpt('"John Smith"@localhost', "for john smith again"), 250)
        self.assertEqual(self.rcpt("johnsmith@localhost", "for johnsmith"), 250)
        self.assertEqual(self.rcpt('"johnsmith"@localhost', "for johnsmith quoted"), 250)
        # Another address, whose decoded local part is the account's name with its quotes.
        self.assertEqual(self.rcpt('"\\"john smith\\""@localhost', "for the quoted quotes"), 550)
        wait_until(lambda: len(subjects(self.m.imap_port, "johnsmith@localhost")) >= 2, 15)
        self.assertEqual(subjects(self.m.imap_port, '"john smith"@localhost'),
                         ["Subject: for john smith", "Subject: for john smith again"])
        self.assertEqual(subjects(self.m.imap_port, "johnsmith@localhost"),
                         ["Subject: for johnsmith", "Subject: for johnsmith quoted"])
        # The same account, however its name is spelt at login.
        self.assertEqual(len(subjects(self.m.imap_port, '"John Smith"@localhost')), 2)
        self.assertEqual(len(subjects(self.m.imap_port, '"johnsmith"@LOCALHOST')), 2)
        self.assertEqual(subjects(self.m.imap_port, "alice@localhost"), [])

    def test_smtp_auth_takes_the_same_spellings(self):
        """SMTP AUTH names the account as IMAP LOGIN and delivery do."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for login in ('"John Smith"@localhost', '"johnsmith"@LOCALHOST'):
            with smtplib.SMTP("127.0.0.1", self.m.submission_port, timeout=30) as s:
                s.starttls(context=ctx)
                self.assertEqual(s.login(login, self.m.password)[0], 235, login)


class LogEscapeTest(unittest.TestCase):
    """F9: a LOGIN name with CR LF and ESC is one escaped log line."""

    def test_login_name_cannot_forge_log_lines(self):
        m = MailServer(extra={"imap_plaintext_auth": "yes"})
        try:
            m.start("imapd")
            r = RawIMAP(m.imap_port)
            name = b"a\r\nfake log line imap: login user=root\x1b[2K"
            r.s.sendall(b"l LOGIN {%d}\r\n" % len(name))
            self.assertTrue(r.line().startswith(b"+"))
            r.s.sendall(name + b" x\r\n")
            self.assertIn(b"NO", r.until_tag("l"))
            r.close()
            self.assertTrue(wait_until(lambda: "authentication failed for" in m.log("imapd"), 10))
            log = m.log("imapd")
            self.assertNotIn("\x1b", log)
            lines = [l for l in log.splitlines() if "fake log line" in l]
            self.assertEqual(len(lines), 1, log)
            self.assertIn("authentication failed for a\\r\\nfake log line imap: login user=root\\x1b[2k",
                          lines[0].lower())
            self.assertFalse(any(l.startswith("fake log line") for l in log.splitlines()))
        finally:
            m.close()


class QueueEscapeTest(unittest.TestCase):
    """F9: a remote server's reply with terminal escapes is printed escaped by mailctl queue."""

    def test_mailctl_queue_escapes_the_last_error(self):
        sink = SMTPSink("127.0.0.2")
        dns = DNSServer(["--mx-host=one.test,mx.one.test,10", "--host-record=mx.one.test,127.0.0.2"])
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "dns_servers": "127.0.0.1:%d" % dns.port,
                              "relay_port": str(sink.port), "retry_schedule": "1h"})
        try:
            sink.rcpt_replies["evil@one.test"] = ["451 4.3.0 busy \x1b]0;owned\x07\x1b[2J\x1b[31mred"]
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port, timeout=30) as s:
                s.sendmail("alice@localhost", ["evil@one.test"], b"Subject: t\r\n\r\nx\r\n")

            def listing():
                r = subprocess.run([binary("mailctl"), "-c", m.config_path, "queue"],
                                   capture_output=True, timeout=20)
                out = r.stdout.decode("utf-8", "replace")
                return out if "busy" in out else None
            out = wait_until(listing, 20)
            self.assertTrue(out, m.log())
            self.assertNotIn("\x1b", out)
            self.assertNotIn("\x07", out)
            self.assertIn("busy \\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred", out)
        finally:
            m.close()
            sink.close()
            dns.close()


def big_message(i, size):
    line = b"the quick brown fox jumps over the lazy dog %06d\r\n"
    body = b"".join(line % n for n in range(size // len(line % 0)))
    return (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: big %d\r\n\r\n" % i) + body


class SearchLimitsTest(unittest.TestCase):
    """F11: SEARCH work is bounded per command and cannot keep a login waiting."""

    SESSIONS = 20
    PER_SESSION = 5
    HEAVY = "SEARCH " + " ".join("NOT TEXT zq%03d" % i for i in range(100))

    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"imap_plaintext_auth": "yes"})
        cls.m.start("imapd")
        c = imap_login(cls.m.imap_port, "alice@localhost")
        for i in range(8):
            typ, resp = c.append("INBOX", None, None, big_message(i, 1024 * 1024))
            assert typ == "OK", resp
        c.logout()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def session(self):
        r = RawIMAP(self.m.imap_port, timeout=300)
        self.assertIn(b"OK", r.command("l", "LOGIN alice@localhost %s" % PASSWORD))
        self.assertIn(b"OK", r.command("s", "SELECT INBOX"))
        return r

    def test_key_count_limit(self):
        r = self.session()
        try:
            reply = r.command("t1", "SEARCH " + " ".join("TEXT k%d" % i for i in range(101)))
            self.assertTrue(reply.startswith(b"t1 NO [LIMIT]"), reply)
            reply = r.command("t2", "SEARCH " + " ".join("SEEN" for i in range(1001)))
            self.assertTrue(reply.startswith(b"t2 NO [LIMIT]"), reply)
            # At the limit: answered.
            reply = r.command("t3", "SEARCH " + " ".join("TEXT k%d" % i for i in range(100)))
            self.assertTrue(reply.startswith(b"t3 OK"), reply)
        finally:
            r.close()

    def test_login_is_not_starved_by_searches(self):
        sessions = [self.session() for _ in range(self.SESSIONS)]
        done = {}
        lock = threading.Lock()

        def run(i, r):
            try:
                for k in range(self.PER_SESSION):
                    r.until_tag("h%d" % k)
            except (OSError, EOFError):
                pass
            with lock:
                done.setdefault("ended", []).append(time.monotonic())

        def login():
            c = imaplib.IMAP4("127.0.0.1", self.m.imap_port, timeout=300)
            typ, _ = c.login("bob@localhost", PASSWORD)
            with lock:
                done["login"] = (time.monotonic(), typ)
            c.logout()

        threads = []
        try:
            for i, r in enumerate(sessions):
                # Pipelined: imapd runs them as one job of the thread pool.
                r.s.sendall(b"".join(("h%d %s\r\n" % (k, self.HEAVY)).encode()
                                     for k in range(self.PER_SESSION)))
                threads.append(threading.Thread(target=run, args=(i, r), daemon=True))
                threads[-1].start()
            time.sleep(0.5)     # the searches hold the pool now
            start = time.monotonic()
            t = threading.Thread(target=login, daemon=True)
            t.start()
            t.join(300)
            self.assertIn("login", done)
            self.assertEqual(done["login"][1], "OK")
            for th in threads:
                th.join(600)
            # The login did not queue behind the searches: starved, it would end after
            # (nearly) all of them; served from the reserved share of the pool, it ends
            # while most sessions still have searches waiting. A fast machine may finish
            # a few sessions before the login, so compare with the middle one, not the first.
            ended = sorted(done.get("ended", []))
            self.assertEqual(len(ended), self.SESSIONS)
            before = sum(1 for e in ended if e < done["login"][0])
            self.assertLess(before, self.SESSIONS // 2,
                            "login took %.2fs; %d of %d search sessions ended before it "
                            "(the last after %.2fs)" % (done["login"][0] - start, before,
                                                        self.SESSIONS, ended[-1] - start))
        finally:
            for r in sessions:
                r.close()
            for th in threads:
                th.join(60)


class LiteralCapTest(unittest.TestCase):
    """F8: all sessions' literals together are capped (256 MiB): an over-cap literal gets
    NO [LIMIT] before the "+" continuation, and imapd's memory stays bounded."""

    def test_concurrent_big_literals_are_refused_past_the_cap(self):
        m = MailServer(extra={"imap_plaintext_auth": "yes", "max_message_size": "35M"})
        sessions = []
        try:
            m.start("imapd")
            pid = m.procs["imapd"].pid
            size = 30 * 1024 * 1024
            answers = []
            for i in range(12):
                r = RawIMAP(m.imap_port)
                self.assertIn(b"OK", r.command("l", "LOGIN alice@localhost %s" % PASSWORD))
                sessions.append(r)
                r.s.sendall(b"a APPEND INBOX {%d}\r\n" % size)
                answers.append(r.line())
            accepted = [i for i, a in enumerate(answers) if a.startswith(b"+")]
            refused = [i for i, a in enumerate(answers) if a.startswith(b"a NO [LIMIT]")]
            self.assertEqual(len(accepted), 8, answers)       # 8 x 30 MiB <= 256 MiB
            self.assertEqual(len(refused), 4, answers)
            # The accepted ones send their data (a part of it): memory stays near the cap.
            chunk = b"x" * (1024 * 1024)
            for r, a in zip(sessions, answers):
                if a.startswith(b"+"):
                    for _ in range(8):
                        r.s.sendall(chunk)
            time.sleep(1)
            self.assertLess(rss_kib(pid), 400 * 1024)
            # A refused session may try again once memory is free: one accepted client leaves.
            sessions[accepted[0]].close()
            refused_session = sessions[refused[0]]
            self.assertTrue(wait_until(lambda: "disconnect from" in m.log("imapd"), 10))
            refused_session.s.sendall(b"b APPEND INBOX {%d}\r\n" % size)
            self.assertTrue(refused_session.line().startswith(b"+"))
            # LITERAL+ once logged in (RFC 7888): a non-synchronising literal needs no "+".
            r = sessions[refused[1]]
            reply = r.command("c", "APPEND INBOX {5000+}\r\n" + "y" * 5000)
            self.assertTrue(reply.startswith(b"c OK"), reply)
            # LITERAL- before login: one over 4096 bytes is BAD, its data skipped.
            pre = RawIMAP(m.imap_port)
            sessions.append(pre)
            reply = pre.command("c", "LOGIN {5000+}\r\n" + "y" * 5000 + " x")
            self.assertTrue(reply.startswith(b"c BAD"), reply)
            self.assertIn(b"OK", pre.command("d", "NOOP"))
        finally:
            for r in sessions:
                r.close()
            m.close()


if __name__ == "__main__":
    unittest.main()
