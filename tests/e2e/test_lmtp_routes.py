# test_lmtp_routes.py - mtad front ends deliver by LMTP to the back ends mailbox_routes names (our lmtpd and a private Dovecot 2.3 lmtp): exactly once, per-recipient answers, a back end down defers only its users, kill -9 of a front end loses nothing.
import os
import smtplib
import subprocess
import threading
import time
import unittest

from dovecot_backend import DovecotBackend, have_dovecot
from harness import SLOW, MailServer, binary, free_port, wait_until

PASSWORD = "secret"
FRONT_USERS = ("alice@localhost", "bob@localhost", "carol@example.test", "dave@example.test",
               "erin@example.test")


def message(mid, to="list@example.org"):
    return ("From: Sender <bob@localhost>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@front.test>\r\n"
            "\r\nbody of %s\r\n" % (to, mid, mid, mid)).encode()


def count_ids(blobs, prefix):
    seen = {}
    for b in blobs:
        for line in b.splitlines():
            if line.lower().startswith(b"message-id: <" + prefix.encode()):
                seen[line] = seen.get(line, 0) + 1
                break
    return seen


def queue_listing(m):
    r = subprocess.run([binary("mailctl"), "-c", m.config_path, "queue"], capture_output=True,
                       timeout=20)
    return r.stdout.decode(errors="replace")


@unittest.skipUnless(have_dovecot(), "needs Debian's dovecot-imapd and dovecot-lmtpd, as root")
class LmtpRoutesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dovecot = DovecotBackend(users=("carol@example.test", "dave@example.test"))
        cls.dovecot.start()
        cls.back_port = free_port()
        cls.back = MailServer(users=("alice@localhost",),
                              extra={"lmtp_listen": "127.0.0.1:%d" % cls.back_port})
        cls.back.start("lmtpd", port=cls.back_port)
        cls.routes = ("alice@localhost: lmtp:[127.0.0.1]:%d\n"
                      "example.test: lmtp:[127.0.0.1]:%d\n" % (cls.back_port, cls.dovecot.lmtp_port))
        cls.fronts = [cls.front(), cls.front()]

    @classmethod
    def front(cls):
        m = MailServer(users=FRONT_USERS, extra={"retry_schedule": "1s 1s 2s"})
        path = os.path.join(m.dir, "routes")
        with open(path, "w") as f:
            f.write(cls.routes)
        m.conf["mailbox_routes"] = path
        m.write_config()
        m.start("mtad")
        return m

    @classmethod
    def tearDownClass(cls):
        for m in cls.fronts:
            m.close()
        cls.back.close()
        cls.dovecot.close()

    def send(self, front, rcpts, msg):
        with smtplib.SMTP("127.0.0.1", front.smtp_port, timeout=30) as s:
            return s.sendmail("bob@localhost", rcpts, msg)

    def test_one_message_reaches_each_shard_once(self):
        f = self.fronts[0]
        self.send(f, ["alice@localhost", "bob@localhost", "carol@example.test", "dave@example.test"],
                  message("split"))
        self.assertTrue(wait_until(lambda: count_ids(self.back.messages("alice@localhost"), "split"), 20),
                        f.log())
        for rcpt in ("carol@example.test", "dave@example.test"):
            self.assertTrue(wait_until(lambda: count_ids(self.dovecot.messages(rcpt), "split"), 20),
                            f.log() + self.dovecot.log())
        # bob has no route: delivered on the front end itself.
        self.assertTrue(wait_until(lambda: count_ids(f.messages("bob@localhost"), "split"), 20))
        log = f.log()
        self.assertRegex(log, r"to=<carol@example.test>, relay=lmtp, delay=[0-9.]+, .*status=sent "
                              r"\(127\.0\.0\.1\[127\.0\.0\.1\]:%d said: 250" % self.dovecot.lmtp_port)
        self.assertRegex(log, r"to=<alice@localhost>, relay=lmtp, .*status=sent")
        # carol and dave went in one LMTP transaction: Dovecot's replies carry one session id.
        import re
        ids = {m.group(1): m.group(2) for m in re.finditer(
            r"to=<((?:carol|dave)@example.test)>, relay=lmtp, .* said: 250 2.0.0 <[^>]+> (\S+) Saved", log)}
        self.assertEqual(len(ids), 2, log)
        self.assertEqual(len({v.split(":")[0] for v in ids.values()}), 1, ids)
        self.assertEqual(list(count_ids(self.back.messages("alice@localhost"), "split").values()), [1])
        self.assertTrue(any(b"with LMTP" in b and b"<split@front.test>" in b
                            for b in self.back.messages("alice@localhost")))

    def test_back_end_refusal_bounces_per_recipient(self):
        f = self.fronts[0]
        # erin has a front-end account but no mailbox on Dovecot: its 550 at RCPT is final;
        # dave in the same transaction is delivered.
        self.send(f, ["erin@example.test", "dave@example.test"], message("refused"))
        self.assertTrue(wait_until(lambda: count_ids(self.dovecot.messages("dave@example.test"),
                                                     "refused"), 20))
        bounce = wait_until(lambda: [b for b in f.messages("bob@localhost")
                                     if b"<erin@example.test>" in b and b"delivery-status" in b.lower()], 20)
        self.assertTrue(bounce, f.log())
        self.assertIn(b"Status: 5.", bounce[0])

    def test_back_end_down_defers_only_its_users(self):
        f = self.fronts[1]
        self.back.stop("lmtpd")
        try:
            self.send(f, ["alice@localhost", "carol@example.test"], message("down"))
            self.assertTrue(wait_until(lambda: count_ids(self.dovecot.messages("carol@example.test"),
                                                         "down"), 20))
            listing = wait_until(lambda: "deferred" in queue_listing(f) and queue_listing(f), 20)
            self.assertTrue(listing, queue_listing(f) + f.log())
            self.assertIn("alice@localhost", listing)
            self.assertNotIn("deferred  <carol@example.test>", listing)
            self.assertFalse(count_ids(self.back.messages("alice@localhost"), "down"))
        finally:
            self.back.start("lmtpd", port=self.back_port)
        self.assertTrue(wait_until(lambda: count_ids(self.back.messages("alice@localhost"), "down"),
                                   30), f.log())
        self.assertTrue(wait_until(lambda: "alice@localhost" not in queue_listing(f), 20))

    def test_verify_policy_to_a_back_end_is_enforced(self):
        # relay_tls_policy_file's "[host] verify" applies to the LMTP back end: its
        # self-signed certificate does not verify, so the mail waits; nothing goes in clear.
        m = MailServer(users=FRONT_USERS, extra={"retry_schedule": "1s 1s 2s"})
        try:
            routes = os.path.join(m.dir, "routes")
            with open(routes, "w") as f:
                f.write(self.routes)
            policy = os.path.join(m.dir, "tls_policy")
            with open(policy, "w") as f:
                f.write("[127.0.0.1] verify\n")
            m.conf.update({"mailbox_routes": routes, "relay_tls_policy_file": policy})
            m.write_config()
            m.start("mtad")
            self.send(m, ["alice@localhost"], message("verify"))
            listing = wait_until(lambda: "deferred" in queue_listing(m) and queue_listing(m), 20)
            self.assertTrue(listing, queue_listing(m) + m.log())
            self.assertIn("4.7.5", listing)
            self.assertFalse(count_ids(self.back.messages("alice@localhost"), "verify"))
            self.assertRegex(m.log(), r"to=<alice@localhost>, relay=lmtp, .*tls_policy=verify/file")
        finally:
            m.close()

    def test_many_messages_and_a_front_end_killed(self):
        n = 300 if SLOW else 1000
        rcpts = ["alice@localhost", "dave@example.test"]
        errors = []

        def run(front, ids):
            try:
                with smtplib.SMTP("127.0.0.1", front.smtp_port, timeout=60) as s:
                    for i in ids:
                        s.sendmail("bob@localhost", rcpts, message("bulk%04d" % i))
            except (OSError, smtplib.SMTPException) as e:
                errors.append((front, ids, e))
        accepted = set()
        half = n // 2
        t = threading.Thread(target=run, args=(self.fronts[1], range(half, n)))
        t.start()
        # Front 0: the first half; killed -9 once some of it is queued and delivering.
        with smtplib.SMTP("127.0.0.1", self.fronts[0].smtp_port, timeout=60) as s:
            for i in range(half):
                s.sendmail("bob@localhost", rcpts, message("bulk%04d" % i))
                accepted.add(i)
        self.fronts[0].kill9("mtad")
        self.fronts[0].start("mtad")
        t.join(300)
        self.assertEqual(errors, [])
        accepted.update(range(half, n))
        for rcpt, where in (("alice@localhost", self.back), ("dave@example.test", self.dovecot)):
            def complete():
                seen = count_ids(where.messages(rcpt), "bulk")
                return len(seen) >= n and seen
            seen = wait_until(complete, 120)
            self.assertTrue(seen, "%s: %d of %d arrived" % (rcpt, len(count_ids(where.messages(rcpt), "bulk")), n))
            dups = sum(c - 1 for c in seen.values())
            # At most the transactions in flight at the kill are repeated.
            self.assertLessEqual(dups, 20, "%s: %d duplicates" % (rcpt, dups))


if __name__ == "__main__":
    unittest.main()
