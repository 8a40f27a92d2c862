"""test_crash.py - exactly once under kill -9: concurrent clients, mtad killed at random moments and restarted, every acknowledged message in each Maildir exactly once and whole."""
import os
import random
import re
import smtplib
import threading
import time
import unittest

from harness import MailServer, wait_until

RECIPIENTS = ("alice@localhost", "bob@localhost", "carol@example.test")
CLIENTS = 4
MAX_PER_CLIENT = 150    # messages each client attempts at most
MIN_KILLS = 12          # clients keep sending until mtad was killed this often
SLOW = bool(os.environ.get("MAIL_TEST_WRAPPER") or os.environ.get("MAIL_TEST_SLOW"))  # valgrind or sanitizers


def stored_body(stored):
    """The message as the client sent it: the stored file without Return-Path, Delivered-To and Received."""
    lines = stored.split(b"\r\n")
    if not (lines[0].startswith(b"Return-Path: <") and lines[1].startswith(b"Delivered-To: ")
            and lines[2].startswith(b"Received: from ")):
        return None
    i = 3
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def make_message(client, n, rng):
    mid = "<crash-%d-%d-%d@example.org>" % (client, n, rng.randrange(1 << 30))
    size = rng.choice((300, 2000, 9000, 40000))
    filler = []
    line = 0
    while sum(len(x) + 2 for x in filler) < size:
        filler.append("line %05d of message %s %s" % (line, mid, "x" * rng.randrange(0, 60)))
        line += 1
    text = ("From: c%d@example.org\r\nTo: several\r\nSubject: crash test %d\r\nMessage-ID: %s\r\n\r\n%s\r\n"
            % (client, n, mid, "\r\n".join(filler)))
    return mid, text.encode()


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.m = MailServer(extra={"retry_schedule": "1s", "max_connections_per_ip": "100"})
        self.m.start()
        self.lock = threading.Lock()
        self.sent = {}          # message-id -> (bytes, recipients, acked)
        self.kills = 0
        self.done_sending = threading.Event()

    def tearDown(self):
        if hasattr(self, "_outcome") and any(e for _, e in getattr(self._outcome, "errors", [])):
            print(self.m.log()[-4000:])
        self.m.close()

    def client(self, cid):
        rng = random.Random(cid * 7919)
        n = 0
        s = None
        while n < MAX_PER_CLIENT and self.kills < MIN_KILLS:
            time.sleep(rng.uniform(0, 0.03))
            mid, data = make_message(cid, n, rng)
            rcpts = rng.sample(RECIPIENTS, rng.randrange(1, len(RECIPIENTS) + 1))
            with self.lock:
                self.sent[mid] = (data, rcpts, False)
            n += 1
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=30 if SLOW else 10)
                    s.ehlo("client%d.example.org" % cid)
                code, _ = s.mail("c%d@example.org" % cid)
                if code != 250:
                    raise smtplib.SMTPException("MAIL %d" % code)
                for r in rcpts:
                    code, _ = s.rcpt(r)
                    if code != 250:
                        raise smtplib.SMTPException("RCPT %d" % code)
                code, _ = s.data(data)
                if code == 250:
                    with self.lock:
                        self.sent[mid] = (data, rcpts, True)
                else:
                    s.rset()
            except (OSError, smtplib.SMTPException):
                # Killed under us (or not yet back): no 250, so the message may or may not be
                # queued; reconnect and go on with the next message.
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                time.sleep(0.05)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def killer(self):
        rng = random.Random(4242)
        while self.kills < MIN_KILLS or not self.done_sending.is_set():
            time.sleep(rng.uniform(0.1, 0.6) * (4 if SLOW else 1))
            self.m.kill9()
            self.kills += 1
            self.m.start()

    def test_kill9_exactly_once(self):
        start = time.monotonic()
        k = threading.Thread(target=self.killer)
        k.start()
        threads = [threading.Thread(target=self.client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.done_sending.set()
        k.join()
        self.assertGreaterEqual(self.kills, MIN_KILLS)

        acked = {mid: v for mid, v in self.sent.items() if v[2]}
        self.assertGreater(len(acked), 100, "too few messages got through")
        self.assertGreater(len(self.sent) - len(acked), 0, "no kill hit a session in flight")
        expected = sum(len(v[1]) for v in acked.values())

        def delivered_all():
            have = 0
            for r in RECIPIENTS:
                have += len(self.m.messages(r))
            return not self.m.queue_files() and have >= expected
        self.assertTrue(wait_until(delivered_all, timeout=120 if SLOW else 30),
                        "queue not drained: %s" % self.m.queue_files())

        mid_re = re.compile(rb"^Message-ID: (<[^>]+>)\r$", re.M)
        counts = {}
        for r in RECIPIENTS:
            for sub in ("new", "cur"):
                for stored in self.m.messages(r, sub):
                    found = mid_re.search(stored)
                    self.assertIsNotNone(found, "delivered file without Message-ID: %r" % stored[:300])
                    mid = found.group(1).decode()
                    self.assertIn(mid, self.sent, "a message nobody sent: %s" % mid)
                    data, rcpts, _ = self.sent[mid]
                    self.assertIn(r, rcpts, "%s delivered to %s, not a recipient" % (mid, r))
                    # complete: byte for byte what the client sent
                    self.assertEqual(stored_body(stored), data, "%s at %s is not whole" % (mid, r))
                    counts[(mid, r)] = counts.get((mid, r), 0) + 1
        dups = {k: v for k, v in counts.items() if v > 1}
        self.assertEqual(dups, {}, "delivered more than once")
        missing = [(mid, r) for mid, (_, rcpts, _) in acked.items() for r in rcpts
                   if counts.get((mid, r), 0) != 1]
        self.assertEqual(missing, [], "acknowledged but not delivered")
        # A message without 250 went in whole to all its recipients or to none.
        for mid, (_, rcpts, ok) in self.sent.items():
            if not ok:
                got = sum(counts.get((mid, r), 0) for r in rcpts)
                self.assertIn(got, (0, len(rcpts)), "%s delivered to some recipients only" % mid)
        print("\n%d kills, %d messages attempted, %d acknowledged, %d deliveries, %.1f s"
              % (self.kills, len(self.sent), len(acked), sum(counts.values()),
                 time.monotonic() - start))


if __name__ == "__main__":
    unittest.main()
