"""servers.py - starts and stops private instances of mtad, imapd, Postfix, Dovecot, smtp-sink on loopback, each in its own cpuacct cgroup so its processes and CPU time can be counted."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAIN = "bench.test"
USER = "user@" + DOMAIN
PASSWORD = "benchpw"
# The users-file form of PASSWORD on both sides: "sha512-crypt" (issue #18: what a real
# server stores; 5,000 rounds as `doveadm pw -s SHA512-CRYPT` makes), "yescrypt" or "plain".
PASSWORD_SCHEME = "sha512-crypt"
_STORED = {}


def stored_password():
    """PASSWORD hashed once per run in PASSWORD_SCHEME, with its {SCHEME} prefix (Dovecot's and ours)."""
    if PASSWORD_SCHEME not in _STORED:
        if PASSWORD_SCHEME == "plain":
            h = "{PLAIN}" + PASSWORD
        elif PASSWORD_SCHEME == "yescrypt":
            import ctypes  # libxcrypt directly: Python's crypt module has no yescrypt
            lib = ctypes.CDLL("libcrypt.so.1")
            lib.crypt_gensalt.restype = lib.crypt.restype = ctypes.c_char_p
            setting = lib.crypt_gensalt(b"$y$", 0, None, 0)
            h = "{CRYPT}" + lib.crypt(PASSWORD.encode(), setting).decode()
        else:
            h = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD],
                               capture_output=True, text=True, check=True).stdout.strip()
        _STORED[PASSWORD_SCHEME] = h
    return _STORED[PASSWORD_SCHEME]


SINK_HOST = "127.0.0.2"
CGROOT = "/sys/fs/cgroup/cpuacct"


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.settimeout(3)
            return s.recv(200).startswith((b"220", b"* OK"))
    except OSError:
        return False


def count_files(path):
    """Number of entries in a directory (0 when it does not exist)."""
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def count_tree(path):
    n = 0
    for _dir, _subdirs, files in os.walk(path):
        n += len(files)
    return n


def empty_dir(path):
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(path, n))
        except IsADirectoryError:
            shutil.rmtree(os.path.join(path, n), ignore_errors=True)
        except FileNotFoundError:
            pass


def stash_dir(path):
    """Moves a directory's files out of the way (renames it, recreates it empty with the same owner
    and mode) instead of deleting them: thousands of just-deleted inodes make ext4's inode
    allocation (recently_deleted) slow for whichever server runs next, for about a minute."""
    try:
        st = os.stat(path)
        if not os.listdir(path):
            return
    except FileNotFoundError:
        return
    trash = os.path.join(os.path.dirname(os.path.dirname(path)), ".trash-%d" % time.monotonic_ns())
    os.rename(path, trash)
    os.mkdir(path, st.st_mode & 0o7777)
    os.chown(path, st.st_uid, st.st_gid)


class CGroup:
    """A cpuacct cgroup (v1) holding every process of one server; falls back to a process tree."""

    def __init__(self, name):
        self.path = os.path.join(CGROOT, "mailbench-%d-%s" % (os.getpid(), name))
        self.ok = False
        self.root_pids = []
        try:
            os.makedirs(self.path, exist_ok=True)
            self.ok = os.path.exists(os.path.join(self.path, "cgroup.procs"))
        except OSError:
            self.ok = False

    def preexec(self):
        """For subprocess preexec_fn: the child (and all it forks) joins this group."""
        if self.ok:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def pids(self):
        if self.ok:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return sorted({int(x) for x in f.read().split()})
        return process_tree(self.root_pids)

    def cpu_ns(self):
        """CPU time (user+system) used by the group's processes so far, dead ones included."""
        if self.ok:
            with open(os.path.join(self.path, "cpuacct.usage")) as f:
                return int(f.read())
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) * (10 ** 9 // os.sysconf("SC_CLK_TCK"))
            except (OSError, IndexError):
                pass
        return total

    def kill_all(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self):
        if self.ok:
            wait_until(lambda: not self.pids(), timeout=5)
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def process_tree(roots):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if os.path.exists("/proc/%d" % p):
            out.append(p)
            todo.extend(children.get(p, []))
    return sorted(out)


def pss_kib(pids):
    """Summed proportional set size of the processes, in KiB (from smaps_rollup)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


class Server:
    name = "?"
    smtp_port = None
    imap_port = None

    def pids(self):
        return self.cg.pids()

    def pss_kib(self):
        return pss_kib(self.pids())

    def cpu_ns(self):
        return self.cg.cpu_ns()


class Ours(Server):
    """mtad (and imapd when built) with a private config and state_dir."""
    name = "ours"

    def __init__(self, base, sink_port, bindir, wrapper=None, tag="ours", overrides=None):
        self.dir = os.path.join(base, tag)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.bindir = bindir
        self.state_dir = os.path.join(self.dir, "var")
        os.makedirs(self.state_dir, mode=0o755)
        self.smtp_port = free_port()
        self.imap_port = free_port()
        self.imap_metrics_port = free_port()  # imapd's command latency histogram (bench/imapload.py)
        self.wrapper = wrapper
        self.procs = {}
        self.cg = CGroup(tag)
        users = os.path.join(self.state_dir, "users")
        with open(users, "w") as f:
            f.write("%s:%s\n" % (USER, stored_password()))
        os.chmod(users, 0o644)
        conf = {
            "hostname": "ours.bench.test",
            "domains": DOMAIN,
            "state_dir": self.state_dir,
            "users_file": users,
            "smtp_listen": "127.0.0.1:%d" % self.smtp_port,
            "submission_listen": "",
            "submissions_listen": "",
            "imap_listen": "127.0.0.1:%d" % self.imap_port,
            "imaps_listen": "",
            "imap_metrics_listen": "127.0.0.1:%d" % self.imap_metrics_port,
            "relay_networks": "127.0.0.0/8",
            "smarthost": "[%s]:%d" % (SINK_HOST, sink_port),
            "max_connections": "20000",
            "imap_plaintext_auth": "yes",  # Dovecot's side runs without TLS too
            "max_connections_per_ip": "20000",
            "retry_schedule": "1s 2s 5s",
            "run_user": "mail",
        }
        conf.update(overrides or {})
        self.config = os.path.join(self.dir, "mail.conf")
        with open(self.config, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    def maildir(self):
        return os.path.join(self.state_dir, "mail", DOMAIN, "user")

    def queue_count(self):
        # queue/spare holds empty files made ahead of time, not messages
        return sum(count_tree(os.path.join(self.state_dir, "queue", q)) for q in ("active", "tmp"))

    def active_count(self):
        """Committed queue files (queue/active), without walking tmp/ and corrupt/."""
        return count_files(os.path.join(self.state_dir, "queue", "active"))

    def control(self, command):
        """One line to the control socket (as mailctl sends it); returns the reply text."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(os.path.join(self.state_dir, "control"))
            s.sendall(command.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out.decode(errors="replace")
                out += chunk

    def stats(self):
        """The control socket's stats as a dict of integers ({} when it does not answer)."""
        try:
            text = self.control("stats")
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            k, _, v = line.partition(": ")
            if v.isdigit():
                out[k] = int(v)
        return out

    def has_imapd(self):
        return os.access(os.path.join(self.bindir, "imapd"), os.X_OK)

    def _start(self, prog, port):
        log = open(os.path.join(self.dir, prog + ".log"), "ab")
        cmd = [os.path.join(self.bindir, prog), "-c", self.config, "-f"]
        if self.wrapper:
            cmd = self.wrapper + cmd
        p = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             preexec_fn=self.cg.preexec)
        log.close()
        self.procs[prog] = p
        self.cg.root_pids.append(p.pid)
        if not wait_until(lambda: p.poll() is not None or accepts(port), timeout=120):
            raise RuntimeError("%s does not listen on %d" % (prog, port))
        if p.poll() is not None:
            raise RuntimeError("%s exited %s: see %s" % (prog, p.returncode, log.name))

    def start(self):
        self._start("mtad", self.smtp_port)

    def start_imap(self):
        self._start("imapd", self.imap_port)

    def stop_one(self, prog, timeout=60):
        p = self.procs.pop(prog, None)
        if p is None:
            return
        if p.pid in self.cg.root_pids:
            self.cg.root_pids.remove(p.pid)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def restart(self):
        self.stop_one("mtad")
        self.start()

    def stop(self):
        for prog in list(self.procs):
            self.stop_one(prog)
        self.cg.kill_all()
        self.cg.remove()

    def imap_maildir(self):
        return self.maildir()


MASTER_CF = """\
{listen} inet n - n - {smtpd_limit} smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix(Server):
    """A private Postfix: own config dir, queue, data dir and virtual Maildir base; never /etc/postfix."""
    name = "postfix"

    def __init__(self, base, sink_port, smtpd_limit=1100):
        self.dir = os.path.join(base, "postfix")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        for d in (self.dir, self.etc, self.spool, self.mail):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(self.data, exist_ok=True)
        mail_pw = pwd.getpwnam("mail")
        pf_pw = pwd.getpwnam("postfix")
        os.chown(self.mail, mail_pw.pw_uid, mail_pw.pw_gid)
        os.chown(self.data, pf_pw.pw_uid, pf_pw.pw_gid)
        self.smtp_port = free_port()
        self.cg = CGroup("postfix")
        vmap = os.path.join(self.etc, "vmailbox")
        with open(vmap, "w") as f:
            f.write("%s %s/user/\n" % (USER, DOMAIN))
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": DOMAIN,
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "texthash:" + vmap,
            "virtual_uid_maps": "static:%d" % mail_pw.pw_uid,
            "virtual_gid_maps": "static:%d" % mail_pw.pw_gid,
            "virtual_minimum_uid": "1",
            "relayhost": "[%s]:%d" % (SINK_HOST, sink_port),
            "maillog_file": os.path.join(self.dir, "maillog"),
            "biff": "no",
            "smtpd_banner": "$myhostname ESMTP",
        }
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.smtp_port, smtpd_limit=smtpd_limit))

    def maildir(self):
        return os.path.join(self.mail, DOMAIN, "user")

    def queue_count(self):
        return sum(count_tree(os.path.join(self.spool, q))
                   for q in ("maildrop", "incoming", "active", "deferred", "hold"))

    def _postfix(self, *args, check=True):
        out = os.path.join(self.dir, "postfix.out")
        with open(out, "wb") as f:  # a pipe would stay open in the daemonized master
            r = subprocess.run(["postfix", "-c", self.etc] + list(args), check=check, stdout=f,
                               stderr=f, stdin=subprocess.DEVNULL, preexec_fn=self.cg.preexec)
        with open(out, "rb") as f:
            r.stdout = f.read()
        return r

    def start(self):
        self._postfix("check", check=False)
        r = self._postfix("start", check=False)
        if r.returncode != 0:
            raise RuntimeError("postfix start: %s" % r.stdout.decode(errors="replace"))
        pidfile = os.path.join(self.spool, "pid", "master.pid")
        wait_until(lambda: os.path.exists(pidfile), timeout=20)
        with open(pidfile) as f:
            self.cg.root_pids.append(int(f.read().strip()))
        if not wait_until(lambda: accepts(self.smtp_port), timeout=30):
            raise RuntimeError("postfix does not listen on %d" % self.smtp_port)

    def stop_one(self, _prog="postfix"):
        self._postfix("stop", check=False)
        wait_until(lambda: not self.pids(), timeout=20)
        self.cg.kill_all()
        self.cg.root_pids = []

    def restart(self):
        self.stop_one()
        self.start()

    def stop(self):
        self.stop_one()
        self.cg.remove()


class Dovecot(Server):
    """A private Dovecot (imap only, plaintext LOGIN on loopback) over its own copy of the folder."""
    name = "dovecot"

    def __init__(self, base):
        self.dir = os.path.join(base, "dovecot")
        self.mail = os.path.join(self.dir, "mail")
        for d in (self.dir, self.mail, os.path.join(self.dir, "run"), os.path.join(self.dir, "state")):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        mail_pw = pwd.getpwnam("mail")
        os.chown(self.mail, mail_pw.pw_uid, mail_pw.pw_gid)
        self.imap_port = free_port()
        self.cg = CGroup("dovecot")
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("%s:%s\n" % (USER, stored_password()))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""\
base_dir = {d}/run
state_dir = {d}/state
instance_name = mailbench-{pid}
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
# imap-stress-100 and imap-memory open 100+ sessions of one user from 127.0.0.1
default_process_limit = 1000
default_client_limit = 10000
protocol imap {{
  mail_max_userip_connections = 1000
}}
mail_location = maildir:{mail}/%d/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""".format(d=self.dir, pid=os.getpid(), mail=self.mail, users=users, uid=mail_pw.pw_uid,
           gid=mail_pw.pw_gid, port=self.imap_port))

    def imap_maildir(self):
        return os.path.join(self.mail, DOMAIN, "user")

    def start_imap(self):
        out = os.path.join(self.dir, "start.out")
        with open(out, "wb") as f:  # a pipe would stay open in the daemonized master
            r = subprocess.run(["dovecot", "-c", self.conf], stdout=f, stderr=f,
                               stdin=subprocess.DEVNULL, preexec_fn=self.cg.preexec)
        if r.returncode != 0:
            with open(out, errors="replace") as f:
                raise RuntimeError("dovecot: %s" % f.read())
        pidfile = os.path.join(self.dir, "run", "master.pid")
        # written after it is created: an empty file is not the pid yet
        wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, timeout=20)
        with open(pidfile) as f:
            self.cg.root_pids.append(int(f.read().strip()))
        if not wait_until(lambda: accepts(self.imap_port), timeout=30):
            raise RuntimeError("dovecot does not listen on %d" % self.imap_port)

    def stop_one(self, _prog="dovecot"):
        subprocess.run(["dovecot", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        wait_until(lambda: not self.pids(), timeout=20)
        self.cg.kill_all()
        self.cg.root_pids = []

    def stop(self):
        self.stop_one()
        self.cg.remove()


class Sink:
    """Postfix's smtp-sink on 127.0.0.2: accepts and discards everything."""

    def __init__(self, base):
        self.port = free_port(SINK_HOST)
        self.log = open(os.path.join(base, "smtp-sink.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["smtp-sink", "-u", "postfix", "%s:%d" % (SINK_HOST, self.port), "1024"],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        if not wait_until(lambda: self.proc.poll() is not None or accepts(self.port, SINK_HOST), timeout=20):
            raise RuntimeError("smtp-sink does not listen")
        if self.proc.poll() is not None:
            raise RuntimeError("smtp-sink exited %s" % self.proc.returncode)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
