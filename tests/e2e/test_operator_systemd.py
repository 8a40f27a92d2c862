# test_operator_systemd.py - the systemd units verify clean and score an exposure <= 2.0; mtad and imapd tell systemd READY/RELOADING/STOPPING.
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BUILD, MailServer, TIMEOUT_SCALE

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = ("mtad.service", "imapd.service")
MAX_EXPOSURE = 2.0


def built_with_systemd():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "SYSTEMD_FOUND:INTERNAL=1" in f.read()
    except OSError:
        return False


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
class UnitFiles(unittest.TestCase):
    """The units as installed: cmake --install into a scratch root, then systemd-analyze there."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="mtad-root-")
        env = dict(os.environ, DESTDIR=cls.root)
        subprocess.run(["cmake", "--install", BUILD], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            cls.prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", f.read(), re.M).group(1)
        cls.unitdir = os.path.join(cls.root + cls.prefix, "lib", "systemd", "system")
        if not os.path.isdir(cls.unitdir):
            cls.unitdir = os.path.join(cls.root, "lib", "systemd", "system")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_units_installed_with_the_binaries_they_start(self):
        for unit in UNITS:
            with open(os.path.join(self.unitdir, unit)) as f:
                text = f.read()
            exe = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
            self.assertTrue(os.access(self.root + exe, os.X_OK), exe)
            self.assertIn("Type=notify", text)
            self.assertIn("ExecReload=kill -HUP $MAINPID", text)

    def test_verify_clean(self):
        """systemd-analyze verify on the source units, /usr/sbin/ pointed at this build's programs."""
        tmp = tempfile.mkdtemp(prefix="mtad-units-")
        try:
            for unit in UNITS:
                with open(os.path.join(ROOT, "etc", "systemd", unit)) as f:
                    text = f.read()
                self.assertIn("/usr/sbin/", text)
                path = os.path.join(tmp, unit)
                with open(path, "w") as f:
                    f.write(text.replace("/usr/sbin/", os.path.join(BUILD, "bin") + "/"))
                r = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                                   capture_output=True, text=True)
                out = (r.stdout + r.stderr).strip()
                self.assertEqual(r.returncode, 0, out)
                self.assertEqual(out, "", "%s: %s" % (unit, out))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_security_exposure(self):
        for unit in UNITS:
            path = os.path.join(ROOT, "etc", "systemd", unit)
            r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                path], capture_output=True, text=True)
            m = re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(unit), r.stdout)
            self.assertTrue(m, r.stdout + r.stderr)
            exposure = float(m.group(1))
            print("%s exposure %.1f" % (unit, exposure))
            self.assertLessEqual(exposure, MAX_EXPOSURE, r.stdout)


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)  # mtad may have dropped to run_user
        self.messages = []

    def wait_for(self, state, timeout=15):
        """Collects messages until one holds the line state; returns every message so far."""
        deadline = time.monotonic() + timeout * TIMEOUT_SCALE
        while not any(state in m.split("\n") for m in self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return list(self.messages)

    def close(self):
        self.sock.close()


@unittest.skipUnless(built_with_systemd(), "built without libsystemd (libsystemd-dev missing)")
class Notify(unittest.TestCase):
    def setUp(self):
        self.srv = MailServer()
        self.notify = NotifySocket(self.srv.dir)
        self.saved = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = self.notify.path

    def tearDown(self):
        if self.saved is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = self.saved
        self.srv.close()
        self.notify.close()

    def lines(self):
        return [line for m in self.notify.messages for line in m.split("\n") if line]

    def check_daemon(self, name):
        proc = self.srv.start(name)  # returns once the daemon accepts connections
        msgs = self.notify.wait_for("READY=1")
        self.assertIn("READY=1", self.lines(), msgs)
        proc.send_signal(signal.SIGHUP)
        self.notify.messages.clear()
        msgs = self.notify.wait_for("READY=1")
        self.assertEqual(self.lines()[:1], ["RELOADING=1"], msgs)
        self.assertIn("READY=1", self.lines()[1:], msgs)
        self.notify.messages.clear()
        self.assertEqual(self.srv.stop(name), 0)
        msgs = self.notify.wait_for("STOPPING=1", timeout=5)
        self.assertIn("STOPPING=1", self.lines(), msgs)

    def test_mtad_ready_reload_stopping(self):
        self.check_daemon("mtad")

    def test_imapd_ready_reload_stopping(self):
        self.check_daemon("imapd")

    def test_ready_only_once_listening(self):
        """READY=1 is not sent before the listener accepts: connect right after it arrives."""
        port = self.srv.smtp_port
        proc = subprocess.Popen(
            [os.path.join(BUILD, "bin", "mtad"), "-c", self.srv.config_path, "-f"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            msgs = self.notify.wait_for("READY=1", timeout=30)
            self.assertIn("READY=1", self.lines(), msgs)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                self.assertTrue(s.recv(100).startswith(b"220"))
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    unittest.main()
