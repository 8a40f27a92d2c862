# test_local_security.py - root never follows run_user's links in state_dir, one mtad per state_dir, mailctl's address limit.
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import MailServer, binary, free_port


def root_dir():
    """A directory only root owns, outside state_dir: what a planted link would point at."""
    d = tempfile.mkdtemp(prefix="rootonly-")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "file"), "w") as f:
        f.write("root's\n")
    os.mkdir(os.path.join(d, "sub"))
    return d


def owners(d):
    """uid of d and of everything in it, by path (links not followed)."""
    out = {d: os.lstat(d).st_uid}
    for name in os.listdir(d):
        out[os.path.join(d, name)] = os.lstat(os.path.join(d, name)).st_uid
    return out


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class SymlinkTest(unittest.TestCase):
    """F4: every path below state_dir that root touched at start, made a link to root's directory."""

    def setUp(self):
        self.pw = pwd.getpwnam("mail")
        self.m = MailServer(extra={"run_user": "mail"})
        self.m.start()
        self.m.stop()
        self.target = root_dir()

    def tearDown(self):
        self.m.close()
        shutil.rmtree(self.target, ignore_errors=True)

    def plant(self, rel, target):
        path = os.path.join(self.m.state_dir, rel)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
        os.lchown(path, self.pw.pw_uid, self.pw.pw_gid)   # run_user made it

    def start_both(self):
        """Starts mtad then imapd; returns the log text of a refused start ('' when both run)."""
        refused = ""
        for name in ("mtad", "imapd"):
            try:
                self.m.start(name)
            except RuntimeError as e:
                refused += str(e)
        return refused

    def check_untouched(self, before):
        self.assertEqual(owners(self.target), before)
        for path, uid in owners(self.target).items():
            self.assertEqual(uid, 0, path)

    def test_directory_links(self):
        for rel in ("mail", "tls", "queue", "queue/active", "queue/tmp", "queue/corrupt",
                    "queue/spare"):
            with self.subTest(rel=rel):
                self.m.stop("imapd")
                self.m.stop("mtad")
                # a fresh state_dir for each: the previous one may be half refused
                self.m.close()
                self.m = MailServer(extra={"run_user": "mail"})
                self.m.start()
                self.m.stop()
                before = owners(self.target)
                self.plant(rel, self.target)
                refused = self.start_both()
                self.check_untouched(before)
                if refused:
                    self.assertIn("symbolic link", refused)
                    self.assertIn(rel, refused)

    def test_certificate_links(self):
        for rel in ("tls/cert.pem", "tls/key.pem"):
            with self.subTest(rel=rel):
                shutil.rmtree(os.path.join(self.m.state_dir, "tls"), ignore_errors=True)
                self.m.start()      # a fresh pair
                self.m.stop()
                before = owners(self.target)
                self.plant(rel, os.path.join(self.target, "file"))
                refused = self.start_both()
                self.m.stop("imapd")
                self.m.stop("mtad")
                self.check_untouched(before)
                self.assertIn("symbolic link", refused)

    def test_generate_lock_link(self):
        tls = os.path.join(self.m.state_dir, "tls")
        os.unlink(os.path.join(tls, "cert.pem"))   # the pair is generated again at start
        self.plant("tls/.generate.lock", os.path.join(self.target, "made-by-root"))
        self.m.start()
        self.assertFalse(os.path.lexists(os.path.join(self.target, "made-by-root")))
        self.check_untouched(owners(self.target))

    def test_users_lock_link(self):
        before = owners(self.target)
        self.plant("users.lock", os.path.join(self.target, "made-by-root"))
        r = subprocess.run([binary("mailctl"), "-c", self.m.config_path, "user", "add", "new@localhost"],
                           input=b"pw\n", capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.lexists(os.path.join(self.target, "made-by-root")))
        self.check_untouched(before)

    def test_configured_certificate_not_chowned(self):
        # An administrator's pair, root's, readable by root only: read before the drop, kept as is.
        cert, key = os.path.join(self.target, "cert.pem"), os.path.join(self.target, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=mx.test"],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        before = owners(self.target)
        self.m.conf.update({"tls_cert": cert, "tls_key": key})
        self.m.write_config()
        self.assertEqual(self.start_both(), "")
        self.check_untouched(before)


class SecondMtadTest(unittest.TestCase):
    """F13: a second mtad on the same state_dir (other config, other ports) is refused."""

    def test_second_mtad_refused(self):
        m = MailServer()
        try:
            m.start()
            first = m.procs["mtad"].pid
            other = os.path.join(m.dir, "other.conf")
            with open(m.config_path) as f:
                text = f.read()
            for key in ("smtp_listen", "submission_listen", "submissions_listen"):
                text = text.replace(m.conf[key], "127.0.0.1:%d" % free_port())
            with open(other, "w") as f:
                f.write(text)
            r = subprocess.run([binary("mtad"), "-c", other, "-f"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 75, r.stderr)
            self.assertIn("another mtad (pid %d) is already running" % first, r.stderr)
            self.assertIsNone(m.procs["mtad"].poll())
            # the first one still owns its control socket
            r = subprocess.run([binary("mailctl"), "-c", m.config_path, "stats"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(m.stop(), 0)
            m.start()   # the lock went with the first process
        finally:
            m.close()


class MailctlLongAddressTest(unittest.TestCase):
    """F10: an address longer than mailctl can hold is refused, never cut short."""

    def test_long_address_refused(self):
        m = MailServer()
        try:
            ctl = [binary("mailctl"), "-c", m.config_path]
            local = '"' + '\\"' * 250 + '"'          # 502 bytes quoted, 250 decoded
            long_addr = local + "@" + ("d" * 60 + ".") * 3 + "localhost"   # 695 bytes
            with open(m.users_file) as f:
                before = f.read()
            for verb in ("add", "passwd", "del"):
                with self.subTest(verb=verb):
                    r = subprocess.run(ctl + ["user", verb, long_addr], input="pw\n",
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 65, r.stderr)
                    self.assertIn("address too long", r.stderr)
                    with open(m.users_file) as f:
                        self.assertEqual(f.read(), before)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
