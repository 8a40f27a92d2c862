# test_operator_package.py - the Debian package (packaging/build-deb.sh, cpack -G DEB): fields, FHS paths, conffiles, lintian, hardening-check.
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = ("dpkg-deb", "dpkg-buildflags", "dpkg-shlibdeps", "cpack")
PROGRAMS = ("usr/sbin/mtad", "usr/sbin/imapd", "usr/sbin/lmtpd", "usr/sbin/mailctl", "usr/sbin/sendmail",
            "usr/lib/mtad/deliver")
PATHS = PROGRAMS + (
    "usr/lib/sendmail", "etc/mtad/mail.conf", "var/lib/mtad/",
    "lib/systemd/system/mtad.service", "lib/systemd/system/imapd.service",
    "etc/fail2ban/filter.d/mtad.conf", "etc/fail2ban/jail.d/mtad.conf",
    "usr/share/man/man8/mtad.8.gz", "usr/share/man/man8/imapd.8.gz",
    "usr/share/man/man8/deliver.8.gz", "usr/share/man/man8/lmtpd.8.gz", "usr/share/man/man8/mailctl.8.gz",
    "usr/share/man/man1/sendmail.1.gz", "usr/share/man/man5/mail.conf.5.gz",
    "usr/share/doc/mtad/copyright", "usr/share/doc/mtad/changelog.gz",
    "usr/share/doc/mtad/README.md", "usr/share/doc/mtad/config.md")


@unittest.skipIf(os.environ.get("MAIL_TEST_SLOW"), "the package is built without sanitizers")
@unittest.skipUnless(all(shutil.which(t) for t in TOOLS), "dpkg-dev or cmake missing")
class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = os.path.join(BUILD, "deb")
        for old in glob.glob(os.path.join(out, "mtad_*.deb")):
            os.unlink(old)
        r = subprocess.run([os.path.join(ROOT, "packaging", "build-deb.sh"), out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("build-deb.sh failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        debs = glob.glob(os.path.join(out, "mtad_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.tree = tempfile.mkdtemp(prefix="mtad-deb-")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.tree], check=True)
        cls.info = subprocess.run(["dpkg-deb", "--info", cls.deb], capture_output=True,
                                  text=True, check=True).stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tree, ignore_errors=True)

    def field(self, name):
        m = re.search(r"^ %s: (.*)$" % name, self.info, re.M)
        return m.group(1) if m else None

    def control_file(self, name):
        return subprocess.run(["dpkg-deb", "-I", self.deb, name], capture_output=True,
                              text=True, check=True).stdout

    def test_fields(self):
        self.assertEqual(self.field("Package"), "mtad")
        self.assertEqual(self.field("Section"), "mail")
        self.assertEqual(self.field("Provides"), "mail-transport-agent")
        self.assertEqual(self.field("Conflicts"), "mail-transport-agent")
        self.assertEqual(self.field("Replaces"), "mail-transport-agent")
        depends = self.field("Depends") or ""
        # dpkg-shlibdeps: the libraries the programs link, with versions.
        for lib in ("libc6 (>=", "libssl3", "libuv1", "libc-ares2", "libcrypt1", "libunbound8"):
            self.assertIn(lib, depends)
        self.assertEqual(self.field("Recommends"), "dns-root-data")  # dnssec_trust_anchor

    def test_fhs_paths(self):
        contents = subprocess.run(["dpkg-deb", "--contents", self.deb], capture_output=True,
                                  text=True, check=True).stdout
        names = {line.split()[5].lstrip(".").lstrip("/") for line in contents.splitlines()}
        for path in PATHS:
            self.assertIn(path, names)
        self.assertEqual(os.readlink(os.path.join(self.tree, "usr/lib/sendmail")),
                         "../sbin/sendmail")
        for prog in PROGRAMS:
            self.assertTrue(os.access(os.path.join(self.tree, prog), os.X_OK), prog)
        # Nothing in /usr/local or /usr/etc, no build paths.
        self.assertFalse([n for n in names if n.startswith(("usr/local", "usr/etc", "usr/var"))])

    def test_conffiles(self):
        conffiles = self.control_file("conffiles").split()
        self.assertEqual(sorted(conffiles), ["/etc/fail2ban/filter.d/mtad.conf",
                                             "/etc/fail2ban/jail.d/mtad.conf",
                                             "/etc/mtad/mail.conf"])

    def test_packaged_configuration(self):
        conf = os.path.join(self.tree, "etc/mtad/mail.conf")
        with open(conf) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^state_dir = /var/lib/mtad$")
        self.assertRegex(text, r"(?m)^smtp_listen = 127.0.0.1:25$")
        # The packaged programs read /etc/mtad/mail.conf by default; the file itself is valid.
        with open(os.path.join(self.tree, "usr/sbin/mailctl"), "rb") as f:
            self.assertIn(b"/etc/mtad/mail.conf\0", f.read())
        r = subprocess.run([os.path.join(self.tree, "usr/sbin/mailctl"), "-c", conf, "check"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_units_start_packaged_programs(self):
        for unit in ("mtad.service", "imapd.service"):
            with open(os.path.join(self.tree, "lib/systemd/system", unit)) as f:
                text = f.read()
            for exe in re.findall(r"^Exec\w*=(/\S+)", text, re.M):
                self.assertTrue(os.access(self.tree + exe, os.X_OK), exe)
            self.assertIn("ReadWritePaths=/var/lib/mtad", text)

    def test_maintainer_scripts(self):
        postinst = self.control_file("postinst")
        self.assertIn("install -d -o mail -g mail -m 0755 /var/lib/mtad", postinst)
        self.assertIn("deb-systemd-helper", postinst)
        for name in ("postinst", "prerm", "postrm"):
            with tempfile.NamedTemporaryFile("w", suffix=name) as f:
                f.write(self.control_file(name))
                f.flush()
                subprocess.run(["sh", "-n", f.name], check=True)

    @unittest.skipUnless(shutil.which("hardening-check"), "devscripts not installed")
    def test_hardening_check(self):
        """PIE, stack protector, _FORTIFY_SOURCE, RELRO and BIND_NOW on every program. Not
        control-flow integrity: the binaries are compiled with -fcf-protection, but Debian 12's
        C start files carry no CET property, so no Debian 12 program has it (curl neither)."""
        binaries = [os.path.join(self.tree, p) for p in PROGRAMS]
        r = subprocess.run(["hardening-check", "--nocfprotection"] + binaries,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("Immediate binding: yes"), len(binaries), r.stdout)

    @unittest.skipUnless(shutil.which("lintian"), "lintian not installed")
    def test_lintian(self):
        r = subprocess.run(["lintian", "--info", "--display-info", self.deb],
                           capture_output=True, text=True, timeout=280)
        tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPNX]: ", line)]
        print("\n".join(tags))
        self.assertEqual([t for t in tags if t.startswith(("E:", "W:"))], [], r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
