"""test_faults.py - mtad under resource faults: queue disk full, Maildir disk full, unusable state_dir, a remote MX that never answers."""
import os
import shutil
import smtplib
import socket
import subprocess
import threading
import time
import unittest

from harness import MailServer, binary, wait_until, SLOW



def mount_tmpfs(path, size):
    """Mounts a tmpfs of size at path; False when we may not (not root, no mount namespace rights)."""
    if os.geteuid() != 0:
        return False
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def umount(path):
    subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fill(path, leave):
    """Creates path as a file that fills its file system up to `leave` free bytes."""
    st = os.statvfs(os.path.dirname(path))
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        want = max(0, free - leave)
        chunk = b"\0" * 65536
        try:
            while want > 0:
                n = f.write(chunk[:min(want, len(chunk))])
                want -= n
            f.flush()
            os.fsync(f.fileno())
        except OSError:
            pass


def message(marker, size):
    body = b"".join(b"%s line %06d %s\r\n" % (marker, i, b"y" * 60) for i in range(size // 80 + 1))
    return (b"From: f@example.org\r\nTo: alice@localhost\r\nSubject: " + marker +
            b"\r\nMessage-ID: <" + marker + b"@example.org>\r\n\r\n" + body)


def queue_listing(m):
    r = subprocess.run([binary("mailctl"), "-c", m.config_path, "queue"], capture_output=True, timeout=20)
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def send(port, rcpts, data, sender="f@example.org"):
    """(code, text) of the reply to the end of DATA, or of the first refusal."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30 if SLOW else 10) as s:
        s.ehlo("client.example.org")
        code, text = s.mail(sender)
        if code != 250:
            return code, text
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                return code, text
        return s.data(data)


class DiskFullTest(unittest.TestCase):
    """The file system of state_dir (queue and mail) fills up."""

    def setUp(self):
        self.m = MailServer(extra={"retry_schedule": "1s"})
        with open(self.m.users_file, "rb") as f:
            users = f.read()
        if not mount_tmpfs(self.m.state_dir, "3m"):
            self.m.close()
            self.skipTest("cannot mount a tmpfs (needs root)")
        with open(self.m.users_file, "wb") as f:
            f.write(users)
        self.m.start()

    def tearDown(self):
        for name in list(self.m.procs):
            self.m.stop(name)
        umount(self.m.state_dir)
        self.m.close()

    def test_queue_full_452_then_recovers(self):
        filler = os.path.join(self.m.state_dir, "filler")
        fill(filler, 128 * 1024)
        big = message(b"too-big-now", 600 * 1024)
        code, text = send(self.m.smtp_port, ["alice@localhost"], big)
        self.assertEqual(code, 452, text)
        self.assertIn(b"4.3.1", text)
        # Nothing half-stored: no queue file, no leftover in tmp/.
        self.assertEqual(self.m.queue_files(), [])
        self.assertEqual(os.listdir(os.path.join(self.m.state_dir, "queue", "tmp")), [])
        self.assertIsNone(self.m.procs["mtad"].poll(), self.m.log())
        self.assertIn("ENOSPC", self.m.log().upper().replace("NO SPACE LEFT ON DEVICE", "ENOSPC"))
        # Space comes back: the same message goes through and is delivered.
        os.unlink(filler)
        code, text = send(self.m.smtp_port, ["alice@localhost"], big)
        self.assertEqual(code, 250, text)
        stored = self.m.wait_message("alice@localhost", b"<too-big-now@example.org>",
                                     timeout=60 if SLOW else 15)
        self.assertIsNotNone(stored, self.m.log())
        self.assertTrue(stored.endswith(big))


class MaildirFullTest(unittest.TestCase):
    """The file system of state_dir/mail fills up while the queue still has room."""

    def setUp(self):
        self.m = MailServer(extra={"retry_schedule": "1s"})
        self.mail = os.path.join(self.m.state_dir, "mail")
        if not mount_tmpfs(self.mail, "1m"):
            self.m.close()
            self.skipTest("cannot mount a tmpfs (needs root)")
        self.m.start()

    def tearDown(self):
        for name in list(self.m.procs):
            self.m.stop(name)
        umount(self.mail)
        self.m.close()

    def test_deferred_not_lost(self):
        filler = os.path.join(self.mail, "filler")
        fill(filler, 0)
        data = message(b"mailbox-full", 200 * 1024)
        code, text = send(self.m.smtp_port, ["alice@localhost"], data)
        self.assertEqual(code, 250, text)

        def deferred():
            out = queue_listing(self.m)
            return out if "deferred" in out and "alice@localhost" in out else None
        out = wait_until(deferred, timeout=60 if SLOW else 15, interval=0.2)
        self.assertIsNotNone(out, queue_listing(self.m) + self.m.log())
        self.assertEqual(self.m.messages("alice@localhost"), [])
        self.assertEqual(len(self.m.queue_files()), 1)
        os.unlink(filler)
        stored = self.m.wait_message("alice@localhost", b"<mailbox-full@example.org>",
                                     timeout=60 if SLOW else 15)
        self.assertIsNotNone(stored, queue_listing(self.m) + self.m.log())
        self.assertTrue(stored.endswith(data))
        self.assertEqual(len(self.m.messages("alice@localhost")), 1)
        self.assertTrue(wait_until(lambda: not self.m.queue_files(), timeout=10))


class BadStateDirTest(unittest.TestCase):
    """mtad refuses to start, with a message naming the path, when its queue cannot be used."""

    def setUp(self):
        self.m = MailServer()

    def tearDown(self):
        self.m.close()

    def run_mtad(self):
        r = subprocess.run([binary("mtad"), "-c", self.m.config_path, "-f"], capture_output=True,
                           timeout=60 if SLOW else 15, stdin=subprocess.DEVNULL)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def test_state_dir_is_a_file(self):
        path = os.path.join(self.m.dir, "not-a-dir")
        with open(path, "w") as f:
            f.write("x")
        self.m.conf["state_dir"] = path
        self.m.conf["users_file"] = self.m.users_file
        self.m.write_config()
        rc, out = self.run_mtad()
        self.assertNotEqual(rc, 0, out)
        self.assertIn(path, out)
        self.assertIn("Not a directory", out)

    def test_queue_dir_is_a_file(self):
        with open(os.path.join(self.m.state_dir, "queue"), "w") as f:
            f.write("x")
        rc, out = self.run_mtad()
        self.assertNotEqual(rc, 0, out)
        self.assertIn(os.path.join(self.m.state_dir, "queue"), out)

    def test_queue_dir_unwritable(self):
        tmp = os.path.join(self.m.state_dir, "queue", "tmp")
        os.makedirs(tmp)
        for d in ("queue", "queue/tmp"):
            self.m.give_to_run_user(d)
        os.chmod(tmp, 0o500)
        rc, out = self.run_mtad()
        self.assertNotEqual(rc, 0, out)
        self.assertIn(tmp, out)
        self.assertIn("ermission denied", out)


class SilentMXTest(unittest.TestCase):
    """A remote MX that accepts the connection and never says a word."""

    def setUp(self):
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(16)
        self.held = []
        self.stop = False
        threading.Thread(target=self.accept_forever, daemon=True).start()
        self.m = MailServer(extra={
            "smarthost": "[127.0.0.1]:%d" % self.silent.getsockname()[1],
            "relay_networks": "127.0.0.0/8",
            "relay_connect_timeout": "2s", "relay_command_timeout": "2s",
            "retry_schedule": "1m"})
        self.m.start()

    def accept_forever(self):
        while not self.stop:
            try:
                c, _ = self.silent.accept()
            except OSError:
                return
            self.held.append(c)

    def tearDown(self):
        self.stop = True
        self.m.close()
        self.silent.close()
        for c in self.held:
            c.close()

    def test_deferred_with_timeout_and_still_serving(self):
        t0 = time.monotonic()
        code, text = send(self.m.smtp_port, ["someone@remote.test"], message(b"to-silent-mx", 1000))
        self.assertEqual(code, 250, text)
        # While the relay waits for a banner that never comes, SMTP is served promptly.
        time.sleep(0.5)
        t1 = time.monotonic()
        code, text = send(self.m.smtp_port, ["alice@localhost"], message(b"local-meanwhile", 1000))
        self.assertEqual(code, 250, text)
        self.assertLess(time.monotonic() - t1, 5 if SLOW else 1.5)
        self.assertIsNotNone(self.m.wait_message("alice@localhost", b"<local-meanwhile@example.org>"))

        def deferred():
            out = queue_listing(self.m)
            return out if "deferred" in out and "someone@remote.test" in out else None
        out = wait_until(deferred, timeout=60 if SLOW else 15, interval=0.2)
        self.assertIsNotNone(out, queue_listing(self.m) + self.m.log())
        self.assertIn("timed out", out)
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)   # the 2 s timeout, not an instant error
        self.assertGreaterEqual(len(self.held), 1)
        self.assertIsNone(self.m.procs["mtad"].poll(), self.m.log())
        code, text = send(self.m.smtp_port, ["bob@localhost"], message(b"after-timeout", 1000))
        self.assertEqual(code, 250, text)


if __name__ == "__main__":
    unittest.main()
