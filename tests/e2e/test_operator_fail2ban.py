# test_operator_fail2ban.py - the fail2ban filter (etc/fail2ban/filter.d/mtad.conf) bans exactly the addresses of failed SMTP AUTH and IMAP logins, read from real mtad/imapd logs.
import collections
import imaplib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import unittest

from harness import MailServer, tls_context, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FILTER = os.path.join(ROOT, "etc", "fail2ban", "filter.d", "mtad.conf")
JAIL = os.path.join(ROOT, "etc", "fail2ban", "jail.d", "mtad.conf")
# A user name made to look like a log line of another address: it must not be banned.
FORGED = "x [10.9.9.9]: SASL PLAIN authentication failed for y"
# An IMAP literal may hold a newline: a user name that would start a forged line of its own.
FORGED_LINE = (b"x\nDec 06 05:00:00.000 imapd[1]: warning: imap: [6.6.6.6]: LOGIN "
               b"authentication failed for y (reply delayed 0s)")


class IMAPFrom(imaplib.IMAP4_SSL):
    """IMAP over TLS from a chosen loopback source address (127.0.0.0/8 is all local)."""

    def __init__(self, host, port, source):
        self.source = source
        super().__init__(host, port, ssl_context=tls_context())

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout or 10,
                                        source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def failures(log):
    """Failed or refused logins per client address, read from the log lines themselves."""
    found = collections.Counter()
    for line in log.splitlines():
        m = re.search(r" warning: (?:imap: )?\[([0-9.]+)\]: (?:SASL \S+ authentication failed|"
                      r"\S+ authentication failed|AUTH refused|login refused)", line)
        if m:
            found[m.group(1)] += 1
    return found


def imap_literal_login(srv, source, user, password):
    """LOGIN with the user name as a literal (any octet but NUL), over implicit TLS."""
    sock = socket.create_connection(("127.0.0.1", srv.imaps_port), timeout=30,
                                    source_address=(source, 0))
    with tls_context().wrap_socket(sock) as s:
        s.recv(4096)
        s.sendall(b"a LOGIN {%d+}\r\n%s %s\r\n" % (len(user), user, password))
        reply = b""
        while not re.search(rb"(?m)^a (OK|NO|BAD)[^\r\n]*\r\n", reply):
            chunk = s.recv(4096)  # bounded by the socket timeout
            if not chunk:
                break
            reply += chunk
        return re.search(rb"(?m)^a OK", reply) is not None


def smtp_login(srv, source, user, password):
    with smtplib.SMTP_SSL("127.0.0.1", srv.submissions_port, context=tls_context(),
                          source_address=(source, 0), timeout=30) as s:
        try:
            s.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def imap_login(srv, source, user, password):
    c = IMAPFrom("127.0.0.1", srv.imaps_port, source)
    try:
        c.login(user, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


@unittest.skipUnless(shutil.which("fail2ban-regex") and os.path.isfile(
    "/etc/fail2ban/filter.d/common.conf"), "fail2ban not installed")
class Fail2banFilter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # No growing delay, and a block after 3 failures: the refused lines appear quickly.
        cls.srv = MailServer(extra={"auth_failure_delay_max": "0s", "auth_block_failures": "3",
                                    "auth_block_time": "10m"})
        try:
            cls.srv.start("mtad")
            cls.srv.start("imapd")
            # 127.0.0.2: SMTP AUTH failures until blocked (smtplib tries PLAIN, then LOGIN);
            # 127.0.0.3: IMAP login failures; 127.0.0.4: a forged user name; 127.0.0.1:
            # successful logins only; 127.0.0.5: a user name with a newline. (imapd does not apply the auth_* keys yet: it keeps its
            # built-in growing delay and block after 10, so the IMAP part stays short.)
            for _ in range(4):
                assert not smtp_login(cls.srv, "127.0.0.2", "alice@localhost", "wrong")
            for _ in range(3):
                assert not imap_login(cls.srv, "127.0.0.3", "alice@localhost", "wrong")
            assert not smtp_login(cls.srv, "127.0.0.4", FORGED, "wrong")
            assert not imap_literal_login(cls.srv, "127.0.0.5", FORGED_LINE, b"wrong")
            assert smtp_login(cls.srv, "127.0.0.1", "alice@localhost", cls.srv.password)
            assert imap_login(cls.srv, "127.0.0.1", "alice@localhost", cls.srv.password)
            assert wait_until(lambda: "127.0.0.4" in cls.srv.log("mtad"))
            cls.srv.stop("mtad")
            cls.srv.stop("imapd")
        except BaseException:
            cls.srv.close()
            raise
        cls.logfile = os.path.join(cls.srv.dir, "mail.log")
        with open(cls.logfile, "w") as f:
            f.write(cls.srv.log("mtad") + cls.srv.log("imapd"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def regex(self, *args):
        # The filter includes common.conf: fail2ban's own configuration directory supplies it.
        conf = tempfile.mkdtemp(prefix="f2b-")
        try:
            shutil.copytree("/etc/fail2ban/filter.d", os.path.join(conf, "filter.d"))
            shutil.copy(FILTER, os.path.join(conf, "filter.d", "mtad.conf"))
            r = subprocess.run(["fail2ban-regex", "-c", conf] + list(args) +
                               [self.logfile, os.path.join(conf, "filter.d", "mtad.conf")],
                               capture_output=True, text=True, timeout=120)
        finally:
            shutil.rmtree(conf, ignore_errors=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_log_has_the_failures(self):
        log = self.srv.log("mtad") + self.srv.log("imapd")
        self.assertIn("[127.0.0.2]: SASL PLAIN authentication failed", log)
        self.assertIn("[127.0.0.2]: AUTH refused: too many failures", log)
        self.assertIn("imap: [127.0.0.3]: LOGIN authentication failed", log)

    def test_matches_exactly_the_failing_addresses(self):
        out = self.regex("-o", "ip")
        ips = collections.Counter(line.strip() for line in out.splitlines() if line.strip())
        log = self.srv.log("mtad") + self.srv.log("imapd")
        self.assertEqual(set(ips), {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, out)
        self.assertEqual(ips, failures(log), out)
        self.assertEqual(ips["127.0.0.3"], 3)
        self.assertEqual(ips["127.0.0.4"], 2)
        self.assertEqual(ips["127.0.0.5"], 1)
        self.assertNotIn("10.9.9.9", out)
        self.assertNotIn("6.6.6.6", out)
        self.assertNotIn("127.0.0.1", out)

    def test_summary_counts_and_date(self):
        out = self.regex()
        m = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", out)
        self.assertTrue(m, out)
        log = self.srv.log("mtad") + self.srv.log("imapd")
        self.assertEqual(int(m.group(3)), sum(failures(log).values()), out)
        self.assertNotIn("no date", out.lower().replace("date pattern", ""))

    def test_jail_names_the_filter(self):
        with open(JAIL) as f:
            jail = f.read()
        self.assertRegex(jail, r"(?m)^\[mtad\]$")
        self.assertRegex(jail, r"(?m)^filter\s*=\s*mtad$")


if __name__ == "__main__":
    unittest.main()
