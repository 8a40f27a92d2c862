"""test_privilege.py - mtad and imapd started as root: bind privileged ports, run as run_user, keep queue, mail and control socket private."""
import os
import pwd
import smtplib
import socket
import stat
import unittest

from harness import MailServer, free_port, wait_until


def privileged_port():
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    return None


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(x) for x in value.split()]
    return ids


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class PrivilegeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pw = pwd.getpwnam("mail")
        cls.port = privileged_port()
        refused = free_port()   # nobody listens: remote mail stays deferred in the queue
        cls.m = MailServer(extra={"run_user": "mail", "smtp_listen": "127.0.0.1:%d" % cls.port,
                                  "smarthost": "[127.0.0.1]:%d" % refused,
                                  "relay_networks": "127.0.0.0/8", "retry_schedule": "10m"})
        cls.m.smtp_port = cls.port
        cls.m.start()
        cls.pid = cls.m.procs["mtad"].pid
        cls.imap_port = privileged_port()
        cls.m.conf["imap_listen"] = "127.0.0.1:%d" % cls.imap_port
        cls.m.write_config()
        cls.m.imap_port = cls.imap_port
        cls.m.start("imapd")
        cls.imapd_pid = cls.m.procs["imapd"].pid

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_runs_as_run_user(self):
        self.assertLess(self.port, 1024)
        ids = status_ids(self.pid)
        uid, gid = self.pw.pw_uid, self.pw.pw_gid
        self.assertEqual(ids["Uid"], [uid] * 4, ids)      # real, effective, saved, file system
        self.assertEqual(ids["Gid"], [gid] * 4, ids)
        self.assertEqual(ids["Groups"], [gid], ids)
        # And the threads of the pool too: every task of the process.
        for tid in os.listdir("/proc/%d/task" % self.pid):
            self.assertEqual(status_ids(int(tid))["Uid"], [uid] * 4, tid)

    def test_imapd_runs_as_run_user(self):
        self.assertLess(self.imap_port, 1024)
        uid, gid = self.pw.pw_uid, self.pw.pw_gid
        for tid in os.listdir("/proc/%d/task" % self.imapd_pid):
            ids = status_ids(int(tid))
            self.assertEqual(ids["Uid"], [uid] * 4, ids)
            self.assertEqual(ids["Gid"], [gid] * 4, ids)

    def test_queue_and_mail_private(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.sendmail("f@example.org", ["alice@localhost", "far@remote.test"],
                       "Message-ID: <priv@example.org>\r\n\r\nsecret\r\n")
        self.assertIsNotNone(self.m.wait_message("alice@localhost", b"<priv@example.org>"), self.m.log())
        files = wait_until(self.m.queue_files, timeout=10)   # deferred for far@remote.test
        self.assertTrue(files)
        queue = os.path.join(self.m.state_dir, "queue")
        for d in ("", "active", "tmp", "corrupt"):
            path = os.path.join(queue, d)
            self.assertEqual(mode(path), 0o700, path)
            self.assertEqual(os.lstat(path).st_uid, self.pw.pw_uid, path)
        for f in files:
            path = os.path.join(queue, "active", f)
            self.assertEqual(mode(path), 0o600, path)
            self.assertEqual(os.lstat(path).st_uid, self.pw.pw_uid, path)
        md = self.m.maildir("alice@localhost")
        for sub in ("", "new", "cur", "tmp"):
            path = os.path.join(md, sub)
            self.assertEqual(mode(path) & 0o077, 0, "%s is %o" % (path, mode(path)))
            self.assertEqual(os.lstat(path).st_uid, self.pw.pw_uid, path)
        for name in os.listdir(os.path.join(md, "new")):
            path = os.path.join(md, "new", name)
            self.assertEqual(mode(path), 0o600, path)
            self.assertEqual(os.lstat(path).st_uid, self.pw.pw_uid, path)
        tls = os.path.join(self.m.state_dir, "tls")
        self.assertEqual(mode(tls), 0o700)
        self.assertEqual(mode(os.path.join(tls, "key.pem")), 0o600)   # the generated private key

    def test_control_socket(self):
        path = os.path.join(self.m.state_dir, "control")
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, self.pw.pw_uid)


if __name__ == "__main__":
    unittest.main()
