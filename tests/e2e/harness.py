"""harness.py - starts the real daemons on free loopback ports with a private state_dir, for end-to-end tests."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MAIL_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
BIN = os.path.join(BUILD, "bin")
# Under a wrapper such as valgrind the daemons run many times slower: every wait stretches.
TIMEOUT_SCALE = 8 if os.environ.get("MAIL_TEST_WRAPPER") else 1


# valgrind or sanitizers: tests allow more time and memory
SLOW = bool(os.environ.get("MAIL_TEST_WRAPPER") or os.environ.get("MAIL_TEST_SLOW"))


def tls_context():
    """A client TLS context for the generated self-signed certificate."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def rss_kib(pid):
    """Resident set size of a process, KiB (0 when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def binary(name):
    return os.path.join(BIN, name)


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel picks it)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    """True when something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def pid_alive(pid):
    """True while process pid exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def read_text(path):
    """A file's text with undecodable bytes replaced, or "" when it cannot be read."""
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Polls predicate until it is true or timeout seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class MailServer:
    """A private mail system: config file, state_dir, users; starts mtad (and imapd)."""

    def __init__(self, extra=None, users=("alice@localhost", "bob@localhost", "carol@example.test"),
                 aliases=None, password="secret"):
        self.dir = tempfile.mkdtemp(prefix="mailtest-")
        os.chmod(self.dir, 0o755)  # run_user must reach state_dir after the privilege drop
        self.state_dir = os.path.join(self.dir, "var")
        os.makedirs(self.state_dir, mode=0o755)
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.submissions_port = free_port()
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.password = password
        self.procs = {}
        self.logs = {}
        self.users_file = os.path.join(self.state_dir, "users")
        with open(self.users_file, "w") as f:
            for u in users:
                f.write("%s:{PLAIN}%s\n" % (u, password))
        os.chmod(self.users_file, 0o644)
        conf = {
            "hostname": "mx.test",
            "domains": "localhost example.test",
            "state_dir": self.state_dir,
            "smtp_listen": "127.0.0.1:%d" % self.smtp_port,
            "submission_listen": "127.0.0.1:%d" % self.submission_port,
            "submissions_listen": "127.0.0.1:%d" % self.submissions_port,
            "imap_listen": "127.0.0.1:%d" % self.imap_port,
            "imaps_listen": "127.0.0.1:%d" % self.imaps_port,
            "retry_schedule": "2s 2s 5s",
        }
        if aliases is not None:
            path = os.path.join(self.dir, "aliases")
            with open(path, "w") as f:
                f.write(aliases)
            conf["aliases_file"] = path
        if extra:
            conf.update(extra)
        self.conf = conf
        self.config_path = os.path.join(self.dir, "mail.conf")
        self.write_config()

    def write_config(self):
        with open(self.config_path, "w") as f:
            for k, v in self.conf.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))

    # ---- processes ----
    def start(self, name="mtad", port=None, args=()):
        # free_port() cannot reserve a port: another test running in parallel may take it
        # before the daemon binds. Then new ports are picked and the start is retried.
        for attempt in range(4):
            try:
                return self._start(name, port, args)
            except RuntimeError as e:
                if "address already in use" not in str(e) or attempt == 3 or port:
                    raise
                self._new_ports(name)

    def _new_ports(self, name):
        keys = {"mtad": [("smtp_port", "smtp_listen"), ("submission_port", "submission_listen"),
                         ("submissions_port", "submissions_listen")],
                "imapd": [("imap_port", "imap_listen"), ("imaps_port", "imaps_listen")]}.get(name, [])
        for attr, key in keys:
            old = "127.0.0.1:%d" % getattr(self, attr)
            if self.conf.get(key) == old:
                setattr(self, attr, free_port())
                self.conf[key] = "127.0.0.1:%d" % getattr(self, attr)
        self.write_config()

    def _start(self, name, port, args):
        port = port or (self.smtp_port if name == "mtad" else self.imap_port)
        path = os.path.join(self.dir, name + ".log")
        self.logs[name] = path
        cmd = [binary(name), "-c", self.config_path, "-f"] + list(args)
        wrapper = os.environ.get("MAIL_TEST_WRAPPER")  # e.g. "valgrind --error-exitcode=99 ..."
        if wrapper:
            cmd = wrapper.split() + cmd
        start_at = os.path.getsize(path) if os.path.exists(path) else 0
        with open(path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        # Accepting alone is not proof: another test's process may hold the port for a moment
        # while ours fails to bind it. Wait for our own "listening on" line too.
        mark = "listening on 127.0.0.1:%d " % port

        def up():
            if not self._accepts(port):
                return False
            with open(path, "rb") as f:
                f.seek(start_at)
                return mark.encode() in f.read()
        ok = wait_until(lambda: proc.poll() is not None or up(), timeout=30)
        if proc.poll() is not None:
            self.procs.pop(name, None)
            raise RuntimeError("%s exited with %s:\n%s" % (name, proc.returncode, self.log(name)[start_at:]))
        if not ok:
            raise RuntimeError("%s did not listen on %d:\n%s" % (name, port, self.log(name)))
        return proc

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.settimeout(2)
                try:
                    s.recv(100)
                except OSError:
                    pass
            return True
        except OSError:
            return False

    def stop(self, name="mtad", sig=signal.SIGTERM, timeout=20):
        proc = self.procs.pop(name, None)
        if not proc:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout * TIMEOUT_SCALE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill9(self, name="mtad"):
        return self.stop(name, signal.SIGKILL)

    def log(self, name="mtad"):
        return read_text(self.logs.get(name) or os.path.join(self.dir, name + ".log"))

    def sanitizer_reports(self):
        """Sanitizer findings in the daemons' logs (ASan/UBSan/LSan builds)."""
        found = []
        for name in self.logs:
            text = self.log(name)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    i = text.index(marker)
                    found.append("%s: %s" % (name, text[max(0, i - 200):i + 3000]))
        return found

    def close(self):
        if getattr(self, "closed", False):
            return
        self.closed = True
        for name in list(self.procs):
            self.stop(name)
        reports = self.sanitizer_reports()
        if os.environ.get("MAIL_TEST_KEEP") or reports:
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report:\n" + "\n".join(reports))

    def give_to_run_user(self, *relpaths):
        """Directories a test makes by hand must belong to run_user, as mtad's own do."""
        if os.geteuid() != 0:
            return
        import pwd
        pw = pwd.getpwnam(self.conf.get("run_user", "mail"))
        for rel in relpaths:
            os.chown(os.path.join(self.state_dir, rel), pw.pw_uid, pw.pw_gid)

    # ---- the store ----
    def maildir(self, address, folder=None):
        local, domain = address.lower().split("@")
        path = os.path.join(self.state_dir, "mail", domain, local)
        if folder:
            path = os.path.join(path, "." + folder)
        return path

    def messages(self, address, sub="new"):
        d = os.path.join(self.maildir(address), sub)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_message(self, address, marker, timeout=15):
        """Waits for the message containing marker (bytes) in address's new/; returns it or None."""
        def find():
            for m in self.messages(address):
                if marker in m:
                    return m
            return None
        return wait_until(find, timeout=timeout)

    def wait_messages(self, address, count, timeout=15):
        wait_until(lambda: len(self.messages(address)) >= count, timeout=timeout)
        return self.messages(address)

    def queue_files(self):
        d = os.path.join(self.state_dir, "queue", "active")
        try:
            return sorted(os.listdir(d))
        except FileNotFoundError:
            return []


class SMTPClient:
    """A raw SMTP client for byte-exact and hostile-input tests (smtplib fixes things up)."""

    def __init__(self, port, host="127.0.0.1", timeout=10, read_banner=True):
        self.sock = socket.create_connection((host, port), timeout=timeout * TIMEOUT_SCALE)
        self.buf = b""
        self.banner = self.reply() if read_banner else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """Reads one (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                return int(l[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closed the connection (after any pending bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RawIMAP:
    """A plaintext IMAP connection driven line by line (tests that need exact bytes on the wire)."""

    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.line()     # greeting

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("imapd closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until_tag(self, tag):
        """Reads up to the tagged reply of tag; returns it. Literals are skipped by length."""
        prefix = tag.encode() + b" "
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                need = int(m.group(1))
                while len(self.buf) < need:
                    data = self.s.recv(65536)
                    if not data:
                        raise EOFError("imapd closed the connection")
                    self.buf += data
                self.buf = self.buf[need:]
                continue
            if line.startswith(prefix):
                return line

    def command(self, tag, text):
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        return self.until_tag(tag)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP reset: imapd learns at once that the client is gone."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()


class DNSServer:
    """A real dnsmasq on a free loopback port serving the test's records (no other upstream)."""

    def __init__(self, records):
        """records: list of dnsmasq options, e.g. "--mx-host=two.test,mx1.two.test,10"."""
        import shutil as _sh
        exe = _sh.which("dnsmasq") or "/usr/sbin/dnsmasq"
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=%d" % self.port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/test/", "--log-facility=-",
             "--pid-file="] + list(records),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = wait_until(self._answers, timeout=10)
        if not ok:
            self.close()
            raise RuntimeError("dnsmasq did not start")

    def _answers(self):
        # A minimal DNS query for "test." type SOA over UDP: any answer means it is up.
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x06\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return len(s.recv(512)) > 0
            except OSError:
                return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SMTPSink:
    """A scriptable SMTP server for outbound tests: records every transaction; replies per
    recipient come from `rcpt_replies` (address -> list of replies used in turn, the last one
    repeating), default 250."""

    def __init__(self, host="127.0.0.2", port=None, pipelining=True, size=None, smtputf8=True,
                 starttls=False, auth=None, eightbitmime=True, dsn=False, tls_cert=None,
                 requiretls=False, esmtp=True):
        import threading
        self.eightbitmime = eightbitmime  # offer 8BITMIME (False: a 7-bit-only hop)
        self.dsn = dsn                    # offer DSN (RFC 3461)
        self.host = host
        self.auth = auth            # (user, password): AUTH PLAIN offered after STARTTLS
        self.auth_logins = []
        self.tls_context = None
        self.tls_sessions = 0
        self.requiretls = requiretls  # offer REQUIRETLS (RFC 8689) after STARTTLS
        self.esmtp = esmtp            # False: EHLO refused (a HELO-only hop, or a downgrade)
        if tls_cert:                  # (chain_pem, key_pem): STARTTLS with this certificate
            import ssl
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*tls_cert)
        elif starttls:
            import ssl
            d = tempfile.mkdtemp(prefix="sinktls-")
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=sink.test"],
                           check=True, capture_output=True)
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(cert, key)
            shutil.rmtree(d, ignore_errors=True)
        self.port = port or free_port(host)
        self.pipelining = pipelining
        self.size = size
        self.smtputf8 = smtputf8
        self.rcpt_replies = {}
        self.data_reply = None
        self.data_delay = 0.0       # seconds between taking a message and saying 250 (a window for kills)
        self.transactions = []      # dicts: conn, mail_from, rcpts, data
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, self.port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import threading
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
            threading.Thread(target=self._session, args=(conn, cid), daemon=True).start()

    def _reply_for(self, rcpt):
        with self.lock:
            seq = self.rcpt_replies.get(rcpt.lower())
            if not seq:
                return "250 2.1.5 Ok"
            return seq.pop(0) if len(seq) > 1 else seq[0]

    def _session(self, conn, cid):
        f = conn.makefile("rb")
        def send(line):
            conn.sendall(line.encode() + b"\r\n")
        try:
            send("220 sink.test ESMTP sink")
            mail_from, rcpts = None, []
            mail_params, rcpt_params = [], {}
            tls_active = False
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                up = cmd.upper()
                if up.startswith("EHLO") and not self.esmtp:
                    send("502 5.5.2 Unknown")
                elif up.startswith("EHLO"):
                    ext = ["250-sink.test"]
                    if self.pipelining:
                        ext.append("250-PIPELINING")
                    if self.size:
                        ext.append("250-SIZE %d" % self.size)
                    if self.smtputf8:
                        ext.append("250-SMTPUTF8")
                    if self.tls_context and not tls_active:
                        ext.append("250-STARTTLS")
                    if self.auth and tls_active:
                        ext.append("250-AUTH PLAIN")
                    if self.eightbitmime:
                        ext.append("250-8BITMIME")
                    if self.dsn:
                        ext.append("250-DSN")
                    if self.requiretls and tls_active:
                        ext.append("250-REQUIRETLS")
                    ext.append("250 HELP")
                    send("\r\n".join(ext))
                elif up.startswith("HELO"):
                    send("250 sink.test")
                elif up.startswith("MAIL FROM:"):
                    mail_from, rcpts = cmd[10:].split(" ")[0].strip("<>"), []
                    mail_params, rcpt_params = cmd[10:].split(" ")[1:], {}
                    send("250 2.1.0 Ok")
                elif up.startswith("RCPT TO:"):
                    addr = cmd[8:].split(" ")[0].strip("<>")
                    r = self._reply_for(addr)
                    if r.startswith("2"):
                        rcpts.append(addr)
                        rcpt_params[addr] = cmd[8:].split(" ")[1:]
                    send(r)
                elif up == "DATA":
                    if not rcpts:
                        send("554 5.5.1 No valid recipients")
                        continue
                    send("354 go ahead")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l:
                            return  # the client went away before the final dot: no message
                        if l == b".\r\n":
                            break
                        data += l[1:] if l.startswith(b"..") else l
                    r = self.data_reply or "250 2.0.0 Ok: queued"
                    if r.startswith("2"):
                        with self.lock:
                            self.transactions.append({"conn": cid, "mail_from": mail_from,
                                                      "rcpts": list(rcpts), "data": data,
                                                      "mail_params": mail_params,
                                                      "rcpt_params": dict(rcpt_params),
                                                      "tls": tls_active, "at": time.monotonic()})
                    if self.data_delay:
                        time.sleep(self.data_delay)
                    send(r)
                elif up == "STARTTLS" and self.tls_context and not tls_active:
                    send("220 2.0.0 Ready to start TLS")
                    conn = self.tls_context.wrap_socket(conn, server_side=True)
                    f = conn.makefile("rb")
                    tls_active = True
                    with self.lock:
                        self.tls_sessions += 1
                    mail_from, rcpts = None, []
                elif up.startswith("AUTH PLAIN ") and self.auth and tls_active:
                    import base64
                    parts = base64.b64decode(cmd[11:]).split(b"\0")
                    ok = len(parts) == 3 and (parts[1].decode(), parts[2].decode()) == tuple(self.auth)
                    with self.lock:
                        self.auth_logins.append((parts[1].decode() if len(parts) == 3 else "", ok))
                    send("235 2.7.0 Ok" if ok else "535 5.7.8 bad credentials")
                elif up == "RSET":
                    mail_from, rcpts = None, []
                    send("250 2.0.0 Ok")
                elif up == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("250 2.0.0 Ok" if up == "NOOP" else "502 5.5.2 Unknown")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def received_for(self, rcpt):
        with self.lock:
            return [t for t in self.transactions if rcpt in t["rcpts"]]

    def close(self):
        self.stopping = True
        try:
            # shutdown wakes the thread blocked in accept(); close alone would leave the
            # socket listening until that call returns, answering later tests' connections.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)
