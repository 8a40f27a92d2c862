"""test_imap_crash.py - imapd killed with SIGKILL during APPEND, MOVE and EXPUNGE: no message lost, no UID reused."""
import email
import imaplib
import random
import re
import smtplib
import ssl
import threading
import time
import unittest

from harness import MailServer, wait_until, tls_context

SIGNATURE = re.compile(rb"Message-ID: <(crash-[^@>]+)", re.I)


class IMAPCrashTest(unittest.TestCase):
    def setUp(self):
        self.m = MailServer()
        self.m.start()
        self.m.start("imapd")
        self.rng = random.Random(7)

    def tearDown(self):
        self.m.close()

    def connect(self):
        c = imaplib.IMAP4("127.0.0.1", self.m.imap_port, timeout=10)
        c.starttls(ssl_context=tls_context())
        c.login("alice@localhost", "secret")
        return c

    def snapshot(self):
        """{folder: (uidvalidity, {uid: message-id})} as a fresh session sees it."""
        c = self.connect()
        out = {}
        for folder in ("INBOX", "Archive"):
            typ, data = c.select(folder)
            self.assertEqual(typ, "OK", data)
            uidvalidity = int(c.response("UIDVALIDITY")[1][0])
            typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            uids = {}
            for item in data:
                if isinstance(item, tuple):
                    uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                    mid = SIGNATURE.search(item[1])
                    uids[uid] = mid.group(1).decode() if mid else None
            out[folder] = (uidvalidity, uids)
        c.logout()
        return out

    def test_kill9_during_append_move_expunge(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            for i in range(30):
                s.sendmail("x@example.org", ["alice@localhost"],
                           b"Message-ID: <crash-d%d@x>\r\nSubject: %d\r\n\r\nbody %d\r\n" % (i, i, i))
        self.assertTrue(wait_until(lambda: len(self.m.messages("alice@localhost")) >= 30, 20))
        c = self.connect()
        c.create("Archive")
        c.logout()

        alive = {"crash-d%d" % i for i in range(30)}   # must exist somewhere unless expunged by us
        may_be_gone = set()                            # we asked for their removal
        seen = {}                                      # (folder, uidvalidity, uid) -> message-id
        kills = 0
        for round_no in range(12):
            c = self.connect()
            c.select("INBOX")
            op = ("append", "move", "expunge")[round_no % 3]
            typ, data = c.uid("SEARCH", "ALL")
            uids = data[0].split()
            victim = lambda: None  # noqa: E731
            if op == "append":
                mid = "crash-a%d" % round_no
                msg = ("Message-ID: <%s>\r\nSubject: appended\r\n\r\n%s\r\n" % (mid, "x" * 20000)).encode()
                may_be_gone.add(mid)  # the APPEND may die before it completes
                alive_after = mid
                victim = lambda: c.append("INBOX", None, None, msg)  # noqa: E731
            elif op == "move" and uids:
                chosen = b",".join(self.rng.sample(uids, min(5, len(uids))))
                victim = lambda: c.uid("MOVE", chosen, "Archive")  # noqa: E731
            elif uids:
                chosen = b",".join(self.rng.sample(uids, min(3, len(uids))))
                typ, data = c.uid("FETCH", chosen, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                for item in data:
                    if isinstance(item, tuple):
                        m = SIGNATURE.search(item[1])
                        if m:
                            may_be_gone.add(m.group(1).decode())
                c.uid("STORE", chosen, "+FLAGS.SILENT", r"(\Deleted)")
                victim = lambda: c.expunge()  # noqa: E731
            # Kill imapd at a random moment while the command runs.
            delay = self.rng.uniform(0, 0.02)
            t = threading.Timer(delay, self.m.kill9, args=("imapd",))
            t.start()
            try:
                victim()
                if op == "append":
                    alive.add(alive_after)
                    may_be_gone.discard(alive_after)
            except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError, EOFError):
                pass
            t.join()
            kills += 1
            try:
                c.shutdown()
            except OSError:
                pass
            self.m.start("imapd")
            snap = self.snapshot()
            present = {}
            for folder, (uidvalidity, uids) in snap.items():
                for uid, mid in uids.items():
                    key = (folder, uidvalidity, uid)
                    if key in seen:
                        self.assertEqual(seen[key], mid, "UID %s reused in %s" % (uid, folder))
                    seen[key] = mid
                    present.setdefault(mid, 0)
                    present[mid] += 1
            for mid in alive - may_be_gone:
                self.assertIn(mid, present, "message %s lost after kill %d (%s)" % (mid, kills, op))
        self.assertGreaterEqual(kills, 10)


if __name__ == "__main__":
    unittest.main()
