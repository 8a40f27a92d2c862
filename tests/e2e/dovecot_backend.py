# dovecot_backend.py - a private Dovecot 2.3 (imap and lmtp on loopback, its own config, users and Maildirs; never /etc/dovecot) as a mailbox back end for the scale-out tests.
import os
import pwd
import shutil
import subprocess
import tempfile

from harness import free_port, pid_alive, port_accepts, read_text, wait_until


def have_dovecot():
    return (shutil.which("dovecot") is not None and os.geteuid() == 0
            and os.path.exists("/usr/lib/dovecot/imap")
            and os.path.exists("/usr/lib/dovecot/lmtp"))


class DovecotBackend:
    """Dovecot with passwd-file users (PLAIN passwords), Maildir at mail/DOMAIN/LOCAL, imap on
    imap_port (plaintext, no TLS) and lmtp on lmtp_port; trusts loopback for the ID fields a
    proxy sends (login_trusted_networks), as a Dovecot behind a proxy is configured."""

    def __init__(self, users, password="secret"):
        self.dir = tempfile.mkdtemp(prefix="dovecot-")
        os.chmod(self.dir, 0o755)
        self.mail = os.path.join(self.dir, "mail")
        for d in (self.mail, os.path.join(self.dir, "run"), os.path.join(self.dir, "state")):
            os.makedirs(d)
            os.chmod(d, 0o755)
        mail_pw = pwd.getpwnam("mail")
        os.chown(self.mail, mail_pw.pw_uid, mail_pw.pw_gid)
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        users_file = os.path.join(self.dir, "users")
        with open(users_file, "w") as f:
            for u in users:
                f.write("%s:{PLAIN}%s\n" % (u, password))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        with open(self.conf, "w") as f:
            f.write("""\
base_dir = {d}/run
state_dir = {d}/state
instance_name = mailtest-{port}
log_path = {log}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
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
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
""".format(d=self.dir, log=self.log_path, mail=self.mail, users=users_file,
           uid=mail_pw.pw_uid, gid=mail_pw.pw_gid, port=self.imap_port, lmtp=self.lmtp_port))
        self.master = None

    def start(self):
        out = os.path.join(self.dir, "start.out")
        with open(out, "wb") as f:  # a pipe would stay open in the daemonized master
            r = subprocess.run(["dovecot", "-c", self.conf], stdout=f, stderr=f,
                               stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("dovecot: %s" % read_text(out))
        pidfile = os.path.join(self.dir, "run", "master.pid")
        pid = wait_until(lambda: read_text(pidfile).strip(), timeout=20)
        if not pid:
            raise RuntimeError("dovecot wrote no pid file:\n%s" % self.log())
        self.master = int(pid)
        for port in (self.imap_port, self.lmtp_port):
            if not wait_until(lambda: port_accepts(port), timeout=30):
                raise RuntimeError("dovecot does not listen on %d:\n%s" % (port, self.log()))

    def stop(self):
        if self.master is None:
            return
        subprocess.run(["dovecot", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        wait_until(lambda: not pid_alive(self.master), timeout=20)
        if pid_alive(self.master):
            os.kill(self.master, 9)
        self.master = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return read_text(self.log_path)

    def messages(self, address):
        local, domain = address.split("@")
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, domain, local, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out
