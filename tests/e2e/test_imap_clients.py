# test_imap_clients.py - imapd with real clients: curl imap:// (STARTTLS) lists and fetches; mbsync syncs both ways.
import imaplib
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

from harness import MailServer

PASSWORD = "secret"
ALICE = "alice@localhost"


def message(n):
    return (b"From: bob@example.org\r\nTo: alice@localhost\r\nSubject: note %d\r\n"
            b"Message-ID: <note%d@example.org>\r\n\r\nbody of note %d\r\n" % (n, n, n))


def read_lf(path):
    """A local Maildir file as mbsync writes it (LF line endings, its own X-TUID header)."""
    with open(path, "rb") as f:
        data = f.read().replace(b"\r\n", b"\n")
    return b"".join(l for l in data.splitlines(True) if not l.startswith(b"X-TUID: "))


class ClientsTest(unittest.TestCase):
    def setUp(self):
        self.server = MailServer()
        self.addCleanup(self.server.close)
        self.server.start("imapd")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL("127.0.0.1", self.server.imaps_port, ssl_context=ctx, timeout=10)
        m.login(ALICE, PASSWORD)
        for n in (1, 2, 3):
            m.append("INBOX", None, None, message(n))
        m.append("Archive", r"(\Seen)", None, message(9))
        m.logout()

    def curl(self, url, *args):
        r = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k", "--max-time", "20",
                            "--user", "%s:%s" % (ALICE, PASSWORD), *args,
                            "imap://127.0.0.1:%d/%s" % (self.server.imap_port, url)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_lists_and_fetches(self):
        listing = self.curl("").decode()
        for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
            self.assertRegex(listing, r'\* LIST \(.*\) "/" "?%s"?' % name)
        self.assertEqual(self.curl("INBOX/;UID=2"), message(2))
        self.assertEqual(self.curl("Archive/;UID=1"), message(9))
        found = self.curl("INBOX?SUBJECT%20%22note%203%22").decode()
        self.assertIn("* SEARCH 3", found)

    @unittest.skipUnless(shutil.which("mbsync"), "mbsync (isync) not installed")
    def test_mbsync_both_ways(self):
        local = tempfile.mkdtemp(prefix="mbsync-")
        self.addCleanup(shutil.rmtree, local, True)
        cert = os.path.join(self.server.state_dir, "tls", "cert.pem")
        os.makedirs(os.path.join(local, "mail"))
        rc = os.path.join(local, "mbsyncrc")
        with open(rc, "w") as f:
            f.write("IMAPAccount test\n"
                    "Host 127.0.0.1\n"
                    "Port %d\n"
                    "User %s\n"
                    "Pass %s\n"
                    "SSLType STARTTLS\n"
                    "CertificateFile %s\n"
                    "\n"
                    "IMAPStore remote\n"
                    "Account test\n"
                    "\n"
                    "MaildirStore local\n"
                    "Path %s/mail/\n"
                    "Inbox %s/mail/INBOX\n"
                    "SubFolders Verbatim\n"
                    "\n"
                    "Channel test\n"
                    "Far :remote:\n"
                    "Near :local:\n"
                    "Patterns *\n"
                    "Create Near\n"
                    "Sync All\n"
                    "SyncState *\n"
                    % (self.server.imap_port, ALICE, PASSWORD, cert, local, local))

        def run():
            r = subprocess.run(["mbsync", "-c", rc, "-a"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode())

        run()
        inbox = os.path.join(local, "mail", "INBOX")
        names = []
        for sub in ("cur", "new"):
            names += [os.path.join(inbox, sub, n) for n in os.listdir(os.path.join(inbox, sub))]
        self.assertEqual(len(names), 3)
        bodies = sorted(read_lf(n) for n in names)
        self.assertEqual(bodies, [message(i).replace(b"\r\n", b"\n") for i in (1, 2, 3)])
        archive = os.path.join(local, "mail", "Archive")
        self.assertTrue(os.path.isdir(archive))
        arch = os.listdir(os.path.join(archive, "cur")) + os.listdir(os.path.join(archive, "new"))
        self.assertEqual(len(arch), 1)
        self.assertTrue(arch[0].endswith(":2,S"), arch)

        # Flag note 2 locally as seen and flagged; the next run pushes it to the server.
        target = next(n for n in names if read_lf(n) == message(2).replace(b"\r\n", b"\n"))
        base = os.path.basename(target).split(":2,")[0]
        os.rename(target, os.path.join(inbox, "cur", base + ":2,FS"))
        run()
        server_cur = os.path.join(self.server.maildir(ALICE), "cur")
        flagged = []
        for n in os.listdir(server_cur):
            with open(os.path.join(server_cur, n), "rb") as f:
                if f.read() == message(2):
                    flagged.append(n)
        self.assertEqual(len(flagged), 1)
        self.assertTrue(flagged[0].endswith(":2,FS"), flagged)


if __name__ == "__main__":
    unittest.main()
