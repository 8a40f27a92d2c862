# test_imap_mutt.py - real mutt against imapd over IMAPS with QRESYNC, CONDSTORE, COMPRESS=DEFLATE and its header cache, under a pty.
"""mutt flags and deletes a message; another session then expunges and flags; on its second run
mutt resyncs from its header cache with QRESYNC (VANISHED) through a deflate layer, and what it
does next acts on what it was told."""
import imaplib
import os
import pty
import select
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import MailServer, tls_context

USER = "alice@localhost"
PASSWORD = "secret"
MUTT = shutil.which("mutt")


def message(n):
    return (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: m%d\r\n"
            b"Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n" % (n, n, n))


@unittest.skipUnless(MUTT, "mutt is not installed (scripts/setup.sh installs it)")
class MuttTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MailServer()
        cls.server.start("imapd")
        cls.home = tempfile.mkdtemp(prefix="mutt-")
        # mutt (GnuTLS) trusts the certificates in certificate_file: imapd's own, self-signed
        pem = ssl.get_server_certificate(("127.0.0.1", cls.server.imaps_port))
        with open(os.path.join(cls.home, "certs"), "w") as f:
            f.write(pem)
        with open(os.path.join(cls.home, "muttrc"), "w") as f:
            f.write("\n".join([
                'set folder="imaps://127.0.0.1:%d/"' % cls.server.imaps_port,
                'set spoolfile="+INBOX"',
                'set imap_user="%s"' % USER,
                'set imap_pass="%s"' % PASSWORD,
                'set certificate_file="%s/certs"' % cls.home,
                "set ssl_verify_host=no",
                "set ssl_starttls=no",
                'set header_cache="%s/hcache"' % cls.home,
                "set imap_qresync=yes",
                "set imap_condstore=yes",
                "set imap_deflate=yes",
                "set sort=mailbox-order resolve=no",
                "set delete=yes quit=yes move=no confirmappend=no wait_key=no",
                "set mail_check=0 timeout=1 imap_keepalive=900",
                'set record="" postponed="/dev/null"',
                "",
            ]))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.home, ignore_errors=True)

    def imap(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.server.imaps_port, ssl_context=tls_context())
        m.login(USER, PASSWORD)
        self.addCleanup(self.quietly_logout, m)
        return m

    @staticmethod
    def quietly_logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def mutt(self, keys, run):
        """Runs mutt on INBOX with keys pushed, under a pty, until it quits; returns its debug log."""
        for name in os.listdir(self.home):
            if name.startswith(".muttdebug"):
                os.unlink(os.path.join(self.home, name))
        env = dict(os.environ, HOME=self.home, TERM="vt100", LINES="24", COLUMNS="80")
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [MUTT, "-n", "-F", os.path.join(self.home, "muttrc"), "-d", "5",
             "-e", "push '%s'" % keys],
            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.home,
            start_new_session=True)
        os.close(slave)
        screen = b""
        deadline = time.monotonic() + 30
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.2)
                if r:
                    try:
                        screen += os.read(master, 65536)
                    except OSError:
                        break
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            os.close(master)
        self.assertEqual(proc.returncode, 0, "mutt run %d: %r" % (run, screen[-2000:]))
        with open(os.path.join(self.home, ".muttdebug0"), "rb") as f:
            return f.read()

    def uids_and_flags(self, m):
        m.select("INBOX")
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        out = {}
        for item in data:
            if item:
                text = item.decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                out[uid] = text.split("FLAGS (")[1].split(")")[0]
        return out

    def test_mutt_flags_deletes_and_resyncs_with_qresync(self):
        m = self.imap()
        for n in (1, 2, 3):
            m.append("INBOX", None, None, message(n))
        # run 1: flag the first message, delete the second, sync, quit
        log = self.mutt("<first-entry><flag-message><next-undeleted><delete-message>"
                        "<sync-mailbox><quit>", 1)
        self.assertIn(b"ENABLE QRESYNC", log)
        self.assertIn(b"COMPRESS DEFLATE", log)
        state = self.uids_and_flags(m)
        self.assertEqual(sorted(state), [1, 3], state)
        self.assertIn("\\Flagged", state[1])
        # meanwhile another session expunges the flagged message and adds a keyword to 3
        m.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.uid("STORE", "3", "+FLAGS", "(\\Answered)")
        # run 2: mutt resyncs from its header cache; it hears UID 1 vanished, so its first
        # entry is message 3, which it deletes
        log = self.mutt("<first-entry><delete-message><sync-mailbox><quit>", 2)
        # (mutt 2.2 selects with CONDSTORE, then asks the changes since its cached modseq)
        self.assertRegex(log, rb"UID FETCH [\d:,]+ \(FLAGS\) \(CHANGEDSINCE \d+ VANISHED\)")
        self.assertRegex(log, rb"\* VANISHED \(EARLIER\) 1[:,\r\n]")
        self.assertRegex(log, rb"FETCH \(UID 3 FLAGS \(\\Answered")
        self.assertEqual(self.uids_and_flags(m), {})


if __name__ == "__main__":
    unittest.main()
