"""test_imap_abuse.py - imapd under a pipelining flood (another client is still served, memory stays bounded) and clients that vanish while their command runs on the thread pool."""
import imaplib
import os
import re
import socket
import ssl
import struct
import time
import unittest

from harness import MailServer, SLOW, rss_kib, tls_context, RawIMAP

PASSWORD = "secret"
ALICE = "alice@localhost"
FLOOD = 20000
MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: flood %d\r\n"
           b"Message-ID: <flood-%d@example.org>\r\n\r\n" + b"line of body text\r\n" * 200)


class IMAPAbuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"imap_plaintext_auth": "yes"})
        cls.m.start("imapd")
        cls.pid = cls.m.procs["imapd"].pid
        # A folder worth fetching: 300 messages of about 4 KiB.
        c = cls.login_imaplib()
        for i in range(300):
            typ, resp = c.append("INBOX", None, None, MESSAGE % (i, i))
            assert typ == "OK", resp
        c.logout()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()   # raises on a sanitizer report (ASan build: leaks, use after free)

    @classmethod
    def login_imaplib(cls):
        c = imaplib.IMAP4("127.0.0.1", cls.m.imap_port, timeout=120)
        c.starttls(ssl_context=tls_context())
        typ, _ = c.login(ALICE, PASSWORD)
        assert typ == "OK"
        return c

    def setUp(self):
        self.assertIsNone(self.m.procs["imapd"].poll(), self.m.log("imapd"))

    def raw_login(self):
        r = RawIMAP(self.m.imap_port)
        self.assertIn(b"OK", r.command("l", "LOGIN %s %s" % (ALICE, PASSWORD)))
        return r

    def test_pipelined_flood_does_not_starve_another_client(self):
        """20,000 pipelined commands in one go: a second client still logs in, selects and
        fetches; imapd's memory stays bounded; the flood gets every reply, in order."""
        before = rss_kib(self.pid)
        flood = self.raw_login()
        self.assertIn(b"OK", flood.command("s", "SELECT INBOX"))
        cmds = []
        for i in range(FLOOD):
            if i % 4 == 3:
                cmds.append(b"f%d FETCH %d (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n" % (i, i % 300 + 1))
            else:
                cmds.append(b"n%d NOOP\r\n" % i)
        payload = b"".join(cmds)
        # Push it all without reading a reply: imapd stops reading once its buffers are full.
        flood.s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + (60 if SLOW else 20)
        while sent < len(payload) and time.monotonic() < deadline:
            try:
                sent += flood.s.send(payload[sent:sent + 65536])
            except BlockingIOError:
                break   # imapd is not reading: the flood is as big as it gets for now
        peak = rss_kib(self.pid)

        # The well-behaved client, while the flood is pending (a liveness check, generous bound).
        good = imaplib.IMAP4("127.0.0.1", self.m.imap_port, timeout=120 if SLOW else 60)
        good.starttls(ssl_context=tls_context())
        self.assertEqual(good.login(ALICE, PASSWORD)[0], "OK")
        typ, data = good.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertGreaterEqual(int(data[0]), 300)
        typ, data = good.fetch("7", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        self.assertIn(b"Subject: flood 6", data[0][1])
        good.logout()
        peak = max(peak, rss_kib(self.pid))

        # Now the flood client reads: every command is answered, nothing was dropped.
        flood.s.setblocking(True)
        flood.s.settimeout(120 if SLOW else 60)
        while sent < len(payload):
            # Send the rest while draining replies so neither side blocks for good.
            n = min(len(payload) - sent, 64 * 1024)
            flood.s.sendall(payload[sent:sent + n])
            sent += n
            try:
                flood.s.settimeout(0.05)
                flood.buf += flood.s.recv(1 << 20)
            except (socket.timeout, BlockingIOError):
                pass
            flood.s.settimeout(120 if SLOW else 60)
        last = "f%d" % (FLOOD - 1)
        self.assertIn(b"OK", flood.until_tag(last))
        peak = max(peak, rss_kib(self.pid))
        self.assertIn(b"OK", flood.command("z", "NOOP"))
        flood.s.close()
        grown = peak - before
        print("\nimap pipelining flood: %d commands (%.1f KB), imapd RSS grew %d KiB at most"
              % (FLOOD, len(payload) / 1e3, grown))
        # Under the sanitizers freed memory sits in ASan's quarantine (256 MiB by default) and
        # every pool job allocates: the bound there is the quarantine's, not imapd's.
        self.assertLess(grown, (384 if SLOW else 64) * 1024)

    def test_pipelined_body_fetches_keep_output_bounded(self):
        """4,000 pipelined FETCH n (BODY.PEEK[]) (16 MB of replies) from a client that does not
        read: imapd runs them in batches but stops at its output limit, so its memory stays
        bounded; another client is served meanwhile; then every reply comes, in order."""
        before = rss_kib(self.pid)
        flood = self.raw_login()
        self.assertIn(b"OK", flood.command("s", "EXAMINE INBOX"))
        n = 4000
        payload = b"".join(b"b%d FETCH %d (BODY.PEEK[])\r\n" % (i, i % 300 + 1) for i in range(n))
        flood.s.sendall(payload)    # about 120 KB: fits imapd's input buffer
        peak = rss_kib(self.pid)
        good = self.raw_login()
        self.assertIn(b"OK", good.command("s", "SELECT INBOX"))
        self.assertIn(b"OK", good.command("f", "FETCH 9 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        good.s.close()
        peak = max(peak, rss_kib(self.pid))
        for i in range(n):
            reply = flood.until_tag("b%d" % i)
            self.assertTrue(reply.startswith(b"b%d OK" % i), reply)
            if i % 500 == 0:
                peak = max(peak, rss_kib(self.pid))
        flood.s.close()
        grown = peak - before
        print("\nimap pipelined body fetches: %d (%.1f MB of replies), imapd RSS grew %d KiB at most"
              % (n, n * len(MESSAGE % (0, 0)) / 1e6, grown))
        self.assertLess(grown, (384 if SLOW else 64) * 1024)

    def test_disconnect_while_command_runs_on_the_pool(self):
        """Clients that vanish in the middle of SELECT, FETCH, STATUS or IDLE: no crash, no leak
        (the ASan build reports leaks and use-after-free at shutdown in tearDownClass)."""
        commands = [
            "s SELECT INBOX\r\nf FETCH 1:* (BODY[])\r\n",
            "s EXAMINE INBOX\r\nf UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])\r\n",
            "s SELECT INBOX\r\nx SEARCH BODY \"no such text\"\r\n",
            "t STATUS INBOX (MESSAGES UNSEEN SIZE)\r\nl LIST \"\" \"*\"\r\n",
            "s SELECT INBOX\r\ni IDLE\r\n",
        ]
        for round in range(3):
            for text in commands:
                r = self.raw_login()
                r.s.sendall(text.encode())
                if round == 1:
                    time.sleep(0.05)    # sometimes a little later: mid-FETCH with output backlog
                r.abort()
        # imapd is alive and serves a normal session.
        r = self.raw_login()
        self.assertIn(b"OK", r.command("s", "SELECT INBOX"))
        self.assertIn(b"OK", r.command("f", "FETCH 300 (FLAGS)"))
        self.assertIn(b"OK", r.command("o", "LOGOUT"))
        r.s.close()
        # Some of those went while their command was running on the pool (the path under test).
        self.assertIn("(store work in progress)", self.m.log("imapd"))
        self.assertIsNone(self.m.procs["imapd"].poll(), self.m.log("imapd"))
        self.assertEqual(self.m.sanitizer_reports(), [])


if __name__ == "__main__":
    unittest.main()
