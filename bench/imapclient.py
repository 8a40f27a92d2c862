"""imapclient.py - a pipelining IMAP client that times each step from sending its commands to the last tagged reply, scanning raw bytes only for the tag so the server is the bottleneck."""
import random
import socket
import time

NEEDLE = "quarterly report"


class IMAPTimer:
    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host
        self.sock = None
        self.n = 0
        self.chunk = bytearray(1 << 20)

    def _read_until_tag(self, tag):
        """Reads until the tagged completion line of tag; returns all bytes (tag line included)."""
        out = bytearray(b"\r\n")
        needle = b"\r\n" + tag + b" "
        view = memoryview(self.chunk)
        scan = 0
        while True:
            k = self.sock.recv_into(self.chunk)
            if k == 0:
                raise EOFError("server closed the connection waiting for %r" % tag)
            out += view[:k]
            pos = out.find(needle, scan)
            if pos >= 0 and out.find(b"\r\n", pos + 2) >= 0:
                end = out.find(b"\r\n", pos + 2)
                status = bytes(out[pos + 2 + len(tag) + 1:end])
                if not status.startswith(b"OK"):
                    raise RuntimeError("%s failed: %r" % (tag.decode(), status[:200]))
                return bytes(out[2:])
            scan = max(0, len(out) - len(needle) - 2)

    def _tag(self):
        self.n += 1
        return b"T%05d" % self.n

    def timed(self, commands):
        """Sends all commands at once (pipelined); returns (seconds, response bytes)."""
        tags = []
        data = bytearray()
        for c in commands:
            t = self._tag()
            tags.append(t)
            data += t + b" " + c + b"\r\n"
        t0 = time.perf_counter()
        self.sock.sendall(data)
        resp = self._read_until_tag(tags[-1])
        return time.perf_counter() - t0, resp

    def session(self, user, password, body_fetches=1000, seed=11):
        """Runs the benchmark's steps once; returns {step: seconds} and {check: value}."""
        times, checks = {}, {}
        t0 = time.perf_counter()
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        greet = b""
        while b"\r\n" not in greet:
            greet += self.sock.recv(4096)
        tag_login = self._tag()
        tag_select = self._tag()
        self.sock.sendall(b'%s LOGIN "%s" "%s"\r\n%s SELECT INBOX\r\n'
                          % (tag_login, user.encode(), password.encode(), tag_select))
        resp = self._read_until_tag(tag_select)
        times["login_select"] = time.perf_counter() - t0
        exists = 0
        for line in resp.split(b"\r\n"):
            if line.startswith(b"* ") and line.endswith(b" EXISTS"):
                exists = int(line.split()[1])
        checks["exists"] = exists

        dt, resp = self.timed([b"UID FETCH 1:* (FLAGS)"])
        times["fetch_flags"] = dt
        checks["flags_responses"] = resp.count(b" FETCH (")

        dt, resp = self.timed([b"UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)"])
        times["fetch_envelope"] = dt
        checks["envelope_bytes"] = len(resp)

        rnd = random.Random(seed)
        seqs = [rnd.randint(1, max(1, exists)) for _ in range(body_fetches)]
        dt, resp = self.timed([b"FETCH %d (BODY.PEEK[])" % s for s in seqs])
        times["body_peek_1000"] = dt
        checks["body_bytes"] = len(resp)

        dt, resp = self.timed([b'UID SEARCH HEADER Subject "%s"' % NEEDLE.encode()])
        times["search_header"] = dt
        hits = 0
        for line in resp.split(b"\r\n"):
            if line.startswith(b"* SEARCH"):
                hits += len(line.split()) - 2
        checks["search_hits"] = hits
        try:
            self.timed([b"LOGOUT"])
        except (EOFError, RuntimeError, OSError):
            pass
        self.sock.close()
        return times, checks

    def login_select(self, user, password):
        """Connect, LOGIN, SELECT only (for the first open of a folder without index)."""
        t0 = time.perf_counter()
        self.sock = socket.create_connection((self.host, self.port))
        greet = b""
        while b"\r\n" not in greet:
            greet += self.sock.recv(4096)
        tl, ts = self._tag(), self._tag()
        self.sock.sendall(b'%s LOGIN "%s" "%s"\r\n%s SELECT INBOX\r\n' % (tl, user.encode(), password.encode(), ts))
        self._read_until_tag(ts)
        dt = time.perf_counter() - t0
        try:
            self.timed([b"LOGOUT"])
        except (EOFError, RuntimeError, OSError):
            pass
        self.sock.close()
        return dt
