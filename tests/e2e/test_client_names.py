# test_client_names.py - one reverse lookup per client address, not per connection: its answer is shared by the connections that follow.
import smtplib
import socket
import threading
import unittest

from harness import MailServer, wait_until

MESSAGE = b"From: <s@example.org>\r\nTo: <alice@localhost>\r\nMessage-ID: <%d@example.org>\r\nSubject: n\r\n\r\nbody\r\n"


class CountingDNS:
    """A UDP DNS server on loopback that answers every query NXDOMAIN and counts the PTR
    queries for 127.0.0.1."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.ptr_queries = 0
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 12:
                continue
            if b"\x011\x010\x010\x03127\x07in-addr\x04arpa\x00\x00\x0c" in q:
                with self.lock:
                    self.ptr_queries += 1
            # The question echoed back, QR + RD + RA, rcode 3 (NXDOMAIN), no answers.
            reply = q[:2] + bytes([0x81 | (q[2] & 0x01), 0x83]) + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:]
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def count(self):
        with self.lock:
            return self.ptr_queries

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


class ClientNamesTest(unittest.TestCase):
    def setUp(self):
        self.dns = CountingDNS()
        self.m = MailServer(extra={"dns_servers": "127.0.0.1:%d" % self.dns.port})
        self.m.start()

    def tearDown(self):
        self.m.close()
        self.dns.close()

    def test_connections_from_one_address_share_one_lookup(self):
        # The first connection's lookup is answered (the log names it), then ten more
        # connections, each with a message, and five at once.
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=20) as s:
            s.noop()
        self.assertTrue(wait_until(lambda: "connect from unknown[127.0.0.1]:" in self.m.log(), 10),
                        self.m.log())
        for i in range(10):
            with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=20) as s:
                s.sendmail("s@example.org", ["alice@localhost"], MESSAGE % i)
        held = [socket.create_connection(("127.0.0.1", self.m.smtp_port), timeout=20) for _ in range(5)]
        for c in held:
            self.assertTrue(c.recv(512).startswith(b"220 "))
            c.sendall(b"QUIT\r\n")
            c.close()
        for i in range(10):
            msg = self.m.wait_message("alice@localhost", b"<%d@example.org>" % i)
            self.assertIsNotNone(msg, self.m.log())
            self.assertIn(b"Received: from ", msg)
            self.assertIn(b"(unknown [127.0.0.1])", msg)
        self.assertTrue(wait_until(lambda: self.m.log().count("connect from unknown[127.0.0.1]:") >= 16, 10),
                        self.m.log())
        # Every connection before (the harness's readiness checks included) shares the answer.
        self.assertEqual(self.dns.count(), 1)


if __name__ == "__main__":
    unittest.main()
