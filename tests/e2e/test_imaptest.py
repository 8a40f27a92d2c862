# test_imaptest.py - Dovecot's imaptest compliance scripts against imapd (plain LOGIN and implicit TLS); no script that passed may fail.
"""imaptest is an outside yardstick (Dovecot's own tester, ../shared/imaptest, MIT): it is built
once into the build tree by its own build script and run like a package, never copied. The
scripts listed in imaptest-pass.txt passed when it was last updated: each must still pass (a
regression fails this test), and every other script must not FAIL (SKIP, for an extension we do
not offer yet, is allowed). The score is printed; raise the list when a script starts passing."""
import fcntl
import os
import re
import subprocess
import tempfile
import unittest

from harness import MailServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("MAIL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
IMAPTEST_DIR = os.path.join(SHARED, "imaptest")
# Built once for every build type (build/ and build-asan/ share it): it is a tool, not our code.
IMAPTEST_BUILD = os.path.join(ROOT, "build", "imaptest")


def expected_passes():
    with open(os.path.join(HERE, "imaptest-pass.txt")) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def build_imaptest():
    # ctest runs test modules in parallel: one builds, the others wait for it and reuse it.
    os.makedirs(IMAPTEST_BUILD, exist_ok=True)
    with open(os.path.join(IMAPTEST_BUILD, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run([os.path.join(IMAPTEST_DIR, "build.sh"), IMAPTEST_BUILD],
                           capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("imaptest build failed:\n" + r.stdout + r.stderr)
    return r.stdout.strip().splitlines()[-1]


@unittest.skipUnless(os.path.isdir(IMAPTEST_DIR), "no ../shared/imaptest beside the project")
class ImaptestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = build_imaptest()

    def run_scripts(self, port, opts=""):
        server = self.server
        out = tempfile.mkdtemp(prefix="imaptest-out-")
        env = dict(os.environ, IMAPTEST_OUT=out, IMAPTEST_OPTS=opts)
        r = subprocess.run([os.path.join(IMAPTEST_DIR, "run.sh"), self.bin, "127.0.0.1", str(port),
                            "imaptest@localhost", server.password],
                           capture_output=True, text=True, env=env, timeout=1200)
        results = {}
        for line in r.stdout.splitlines():
            m = re.match(r"(PASS|FAIL|SKIP) (\S+)", line)
            if m:
                results[m.group(2)] = m.group(1)
        print("\nimaptest %s: %s" % (opts or "plain", r.stdout.strip().splitlines()[-1]))
        return results, out

    def check(self, results, out):
        self.assertGreater(len(results), 60, "imaptest ran no scripts")
        regressions = [t for t in expected_passes() if results.get(t) != "PASS"]
        failures = sorted(t for t, v in results.items() if v == "FAIL")
        details = ""
        for t in (regressions + failures)[:3]:
            path = os.path.join(out, t + ".out")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    details += "\n--- %s\n%s" % (t, f.read()[-1500:])
        self.assertEqual(regressions, [], "scripts that passed before: " + details)
        new = sorted(t for t, v in results.items() if v == "PASS" and t not in expected_passes())
        if new:
            print("imaptest: now passing, add to imaptest-pass.txt: " + " ".join(new))
        return failures

    def setUp(self):
        self.server = MailServer(users=("imaptest@localhost",), extra={"imap_plaintext_auth": "yes"})
        self.addCleanup(self.server.close)
        self.server.start("imapd")

    def test_plain(self):
        results, out = self.run_scripts(self.server.imap_port)
        failures = self.check(results, out)
        print("imaptest plain: failing scripts (open work): " + " ".join(failures))

    def test_implicit_tls(self):
        results, out = self.run_scripts(self.server.imaps_port, "ssl=any-cert")
        self.check(results, out)


if __name__ == "__main__":
    unittest.main()
