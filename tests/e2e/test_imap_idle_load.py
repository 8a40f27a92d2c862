"""test_imap_idle_load.py - a thousand IMAP sessions in IDLE on one imapd, each told about a new delivery."""
import os
import resource
import select
import smtplib
import socket
import ssl
import time
import unittest

from harness import MailServer, wait_until, SLOW, tls_context

SESSIONS = 200 if SLOW else 1000


def read_until(sock, marker, timeout=20):
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise TimeoutError("waited for %r, have %r" % (marker, data[-200:]))
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(data[-200:])
        data += chunk
    return data


class IdleLoadTest(unittest.TestCase):
    def test_many_idle_sessions_each_notified(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = SESSIONS * 2 + 200
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        m = MailServer(extra={"max_connections": str(SESSIONS + 100),
                              "max_connections_per_ip": str(SESSIONS + 100)})
        socks = []
        try:
            m.start()
            m.start("imapd")
            ctx = tls_context()
            t0 = time.monotonic()
            for i in range(SESSIONS):
                raw = socket.create_connection(("127.0.0.1", m.imaps_port), timeout=20)
                s = ctx.wrap_socket(raw)
                read_until(s, b"* OK")
                s.sendall(b"a LOGIN alice@localhost secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
                read_until(s, b"+ ")
                socks.append(s)
            setup = time.monotonic() - t0
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as smtp:
                smtp.sendmail("x@example.org", ["alice@localhost"], b"Subject: wake up\r\n\r\nhello\r\n")
            t1 = time.monotonic()
            pending = {s.fileno(): s for s in socks}
            buffers = {fd: b"" for fd in pending}
            deadline = t1 + (60 if SLOW else 20)
            while pending and time.monotonic() < deadline:
                ready, _, _ = select.select(list(pending.values()), [], [], 1.0)
                for s in ready:
                    try:
                        chunk = s.recv(65536)
                    except ssl.SSLWantReadError:
                        continue
                    fd = s.fileno()
                    buffers[fd] += chunk
                    if b"EXISTS" in buffers[fd]:
                        del pending[fd]
            notified = time.monotonic() - t1
            print("\n%d IDLE sessions: set up in %.1fs, all told of the delivery in %.2fs"
                  % (SESSIONS, setup, notified))
            self.assertEqual(len(pending), 0, "%d sessions never saw EXISTS" % len(pending))
            # and they all leave IDLE cleanly
            for s in socks[:20]:
                s.sendall(b"DONE\r\nd LOGOUT\r\n")
                read_until(s, b"d OK")
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass
            m.close()


if __name__ == "__main__":
    unittest.main()
