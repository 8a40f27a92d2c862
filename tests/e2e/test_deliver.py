# test_deliver.py - the deliver program end to end: stdin into Maildir, exit codes, aliases, plus-addressing.
import os
import shutil
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ.get("MAIL_BUILD_DIR",
                           os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DELIVER = os.path.join(BUILD_DIR, "bin", "deliver")

MESSAGE = b"From: bob@example.org\nTo: alice@localhost\nSubject: hello\n\nline one\nline two\r\n\nend\n"
CRLF_MESSAGE = (b"From: bob@example.org\r\nTo: alice@localhost\r\nSubject: hello\r\n\r\n"
                b"line one\r\nline two\r\n\r\nend\r\n")


class DeliverTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test_deliver.")
        os.chmod(self.dir, 0o755)   # as root, deliver writes the store as run_user
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        self.users = os.path.join(self.dir, "users")
        with open(self.users, "w") as f:
            f.write("alice@localhost:{PLAIN}x\n"
                    "bob@localhost:{PLAIN}x\n"
                    "carol@example.test:{PLAIN}x\n")
        self.aliases = os.path.join(self.dir, "aliases")
        with open(self.aliases, "w") as f:
            f.write("# test aliases\n"
                    "team@localhost: alice, carol@example.test,\n"
                    "    friend@remote.invalid\n"
                    "postmaster: bob\n")
        self.conf = self.write_conf()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_conf(self, extra=""):
        path = os.path.join(self.dir, "mail.conf")
        with open(path, "w") as f:
            f.write("# deliver e2e\n"
                    "hostname = mx.test\n"
                    "domains = localhost, example.test\n"
                    f"state_dir = {self.state}\n"
                    f"users_file = {self.users}\n"
                    f"aliases_file = {self.aliases}\n"
                    + extra)
        return path

    def deliver(self, *args, data=MESSAGE, conf=None):
        env = dict(os.environ)
        env.pop("MAIL_CONF", None)
        return subprocess.run([DELIVER, "-c", conf or self.conf] + list(args), input=data,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=30)

    def maildir_files(self, domain, local, sub="new"):
        d = os.path.join(self.state, "mail", domain, local, sub)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d))

    def read_only_file(self, domain, local):
        files = self.maildir_files(domain, local)
        self.assertEqual(len(files), 1, files)
        with open(files[0], "rb") as f:
            return os.path.basename(files[0]), f.read()

    def test_delivers_crlf_with_headers(self):
        r = self.deliver("-f", "bob@example.org", "alice@localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        name, data = self.read_only_file("localhost", "alice")
        self.assertEqual(data, b"Return-Path: <bob@example.org>\r\n"
                               b"Delivered-To: alice@localhost\r\n" + CRLF_MESSAGE)
        self.assertTrue(name.endswith(".mx.test,S=%d" % len(data)), name)
        md = os.path.join(self.state, "mail", "localhost", "alice")
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
        self.assertEqual(os.listdir(os.path.join(md, "cur")), [])
        self.assertEqual(os.stat(md).st_mode & 0o777, 0o700)
        self.assertIn(b"to=<alice@localhost>", r.stderr)
        self.assertIn(b"status=sent", r.stderr)

    def test_null_sender_and_second_message(self):
        self.assertEqual(self.deliver("-f", "", "alice@localhost").returncode, 0)
        self.assertEqual(self.deliver("-f", "<>", "alice@localhost").returncode, 0)
        files = self.maildir_files("localhost", "alice")
        self.assertEqual(len(files), 2)
        for p in files:
            with open(p, "rb") as f:
                self.assertTrue(f.read().startswith(b"Return-Path: <>\r\n"))

    def test_unknown_user(self):
        r = self.deliver("-f", "bob@example.org", "nobody@localhost")
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertIn(b"nobody@localhost", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "mail", "localhost", "nobody")))

    def test_unknown_and_known_recipient(self):
        r = self.deliver("alice@localhost", "nobody@localhost")
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertEqual(len(self.maildir_files("localhost", "alice")), 1)

    def test_tempfail_when_maildir_cannot_be_created(self):
        os.makedirs(os.path.join(self.state, "mail"))
        with open(os.path.join(self.state, "mail", "localhost"), "w") as f:
            f.write("in the way\n")
        r = self.deliver("-f", "bob@example.org", "alice@localhost")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"status=deferred", r.stderr)
        self.assertIn(os.strerror(20).encode(), r.stderr)  # ENOTDIR

    def test_bad_config(self):
        conf = self.write_conf("no_such_key = 1\n")
        r = self.deliver("alice@localhost", conf=conf)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(("%s:7" % conf).encode(), r.stderr)
        self.assertEqual(self.maildir_files("localhost", "alice"), [])

    def test_bad_aliases_file(self):
        with open(self.aliases, "a") as f:
            f.write("team@localhost: bob\n")
        r = self.deliver("alice@localhost")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(("%s:5:" % self.aliases).encode(), r.stderr)

    def test_plus_addressing_and_case(self):
        r = self.deliver("-f", "bob@example.org", "Alice+Lists@LOCALHOST")
        self.assertEqual(r.returncode, 0, r.stderr)
        _, data = self.read_only_file("localhost", "alice")
        self.assertIn(b"Delivered-To: alice@localhost\r\n", data)

    def test_alias_expansion(self):
        r = self.deliver("-f", "bob@example.org", "team@localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.read_only_file("localhost", "alice")
        _, data = self.read_only_file("example.test", "carol")
        self.assertIn(b"Delivered-To: carol@example.test\r\n", data)
        # The remote member cannot be relayed by deliver: warned about, skipped.
        self.assertIn(b"friend@remote.invalid", r.stderr)
        self.assertIn(b"status=skipped", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "mail", "remote.invalid")))

    def test_bare_alias_key_and_duplicates(self):
        # postmaster (bare key) in example.test means bob@example.test: not an account.
        r = self.deliver("postmaster@example.test")
        self.assertEqual(r.returncode, 67, r.stderr)
        r = self.deliver("postmaster@localhost", "bob@localhost", "team@localhost",
                         "alice@localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.maildir_files("localhost", "bob")), 1)
        self.assertEqual(len(self.maildir_files("localhost", "alice")), 1)

    def test_alias_loop(self):
        with open(self.aliases, "a") as f:
            f.write("a@localhost: b\nb@localhost: a\n")
        r = self.deliver("a@localhost")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(b"alias loop", r.stderr)

    def test_message_too_large(self):
        conf = self.write_conf("max_message_size = 1k\n")
        r = self.deliver("alice@localhost", data=b"x" * 2000 + b"\n", conf=conf)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertEqual(self.maildir_files("localhost", "alice"), [])

    def test_large_message_byte_exact(self):
        body = b"".join(b"line %06d %s\n" % (i, b"x" * (i % 90)) for i in range(40000))
        r = self.deliver("-f", "bob@example.org", "alice@localhost", data=body)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, data = self.read_only_file("localhost", "alice")
        self.assertTrue(data.endswith(body.replace(b"\n", b"\r\n")))

    def test_crlf_split_across_reads_kept(self):
        # From a regular file read() returns full 64 KiB blocks: put CR last in the first.
        data = b"Subject: x\r\n\r\n" + b"a" * (65535 - 14) + b"\r\nbare\nend\r\n"
        self.assertEqual(data[65535:65537], b"\r\n")
        path = os.path.join(self.dir, "msg")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            r = subprocess.run([DELIVER, "-c", self.conf, "-f", "", "alice@localhost"], stdin=f,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, stored = self.read_only_file("localhost", "alice")
        self.assertEqual(stored, b"Return-Path: <>\r\nDelivered-To: alice@localhost\r\n"
                         + data.replace(b"bare\n", b"bare\r\n"))

    def test_usage_help_version(self):
        r = subprocess.run([DELIVER, "--version"], stdout=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^deliver \d+\.\d+")
        r = subprocess.run([DELIVER, "--help"], stdout=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"usage: deliver", r.stdout)
        r = self.deliver()
        self.assertEqual(r.returncode, 64)
        r = self.deliver("-f", "not an address", "alice@localhost")
        self.assertEqual(r.returncode, 64)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class DeliverAsRootTest(unittest.TestCase):
    """F5: deliver started as root writes the store as run_user, so imapd and mtad can use it."""

    def test_store_belongs_to_run_user(self):
        import imaplib
        import pwd
        from harness import MailServer
        pw = pwd.getpwnam("mail")
        m = MailServer(extra={"run_user": "mail"})
        try:
            env = dict(os.environ)
            env.pop("MAIL_CONF", None)
            r = subprocess.run([DELIVER, "-c", m.config_path, "alice@localhost"],
                               input=b"Subject: as root\nMessage-ID: <root1@x>\n\nbody\n",
                               capture_output=True, env=env, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            md = m.maildir("alice@localhost")
            paths = [os.path.join(m.state_dir, "mail"), os.path.dirname(md), md]
            paths += [os.path.join(md, sub) for sub in ("new", "cur", "tmp")]
            paths += [os.path.join(md, "new", n) for n in os.listdir(os.path.join(md, "new"))]
            self.assertEqual(len(paths), 7)
            for path in paths:
                self.assertEqual(os.lstat(path).st_uid, pw.pw_uid, path)
            m.start("imapd")
            from harness import tls_context
            with imaplib.IMAP4_SSL("127.0.0.1", m.imaps_port, ssl_context=tls_context()) as c:
                c.login("alice@localhost", m.password)
                c.select("INBOX")
                typ, data = c.fetch("1", "(BODY.PEEK[])")
                self.assertEqual(typ, "OK", data)
                self.assertIn(b"<root1@x>", data[0][1])
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
