"""harness.py - starts the real daemons on free loopback ports with a private state_dir, for end-to-end tests."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MAIL_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
BIN = os.path.join(BUILD, "bin")
# Under a wrapper such as valgrind the daemons run many times slower: every wait stretches.
TIMEOUT_SCALE = 8 if os.environ.get("MAIL_TEST_WRAPPER") else 1


def binary(name):
    return os.path.join(BIN, name)


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel picks it)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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
        port = port or (self.smtp_port if name == "mtad" else self.imap_port)
        path = os.path.join(self.dir, name + ".log")
        self.logs[name] = path
        cmd = [binary(name), "-c", self.config_path, "-f"] + list(args)
        wrapper = os.environ.get("MAIL_TEST_WRAPPER")  # e.g. "valgrind --error-exitcode=99 ..."
        if wrapper:
            cmd = wrapper.split() + cmd
        with open(path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        ok = wait_until(lambda: proc.poll() is not None or self._accepts(port), timeout=30)
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (name, proc.returncode, self.log(name)))
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
        path = self.logs.get(name) or os.path.join(self.dir, name + ".log")
        try:
            with open(path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        if os.environ.get("MAIL_TEST_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

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
