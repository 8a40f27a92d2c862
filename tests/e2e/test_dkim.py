"""test_dkim.py - Debian's OpenDKIM as milters: signing on the submission listener, verifying on the MX listener (public key from a TestPublicKeys file, no DNS)."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import unittest

import harness

OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"
GENKEY = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"


def wait_listening(port):
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    return harness.wait_until(up, timeout=15)


@unittest.skipUnless(os.path.exists(OPENDKIM) and os.path.exists(GENKEY), "opendkim not installed")
class DKIMTest(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.server = harness.MailServer(extra={"submission_sender_check": "no"})
        d = self.dir = os.path.join(self.server.dir, "dkim")
        os.makedirs(d)
        subprocess.run([GENKEY, "-D", d, "-d", "example.test", "-s", "test", "-b", "2048"], check=True,
                       capture_output=True, timeout=60)
        # test.txt is a zone file line: test._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." )
        with open(os.path.join(d, "test.txt")) as f:
            txt = "".join(part for part in f.read().split('"')[1::2])
        with open(os.path.join(d, "keys"), "w") as f:
            f.write("test._domainkey.example.test %s\n" % txt)
        self.sign_port = self.opendkim("sign", [
            "Mode s", "Domain example.test", "Selector test", "KeyFile %s/test.private" % d,
            "Canonicalization relaxed/simple", "SignatureAlgorithm rsa-sha256",
            # Signs what mtad names ORIGINATING in {daemon_name} (as Postfix users set on
            # submission), not what comes from an internal address.
            "InternalHosts -", "MTA ORIGINATING"])
        self.verify_port = self.opendkim("verify", [
            "Mode v", "TestPublicKeys %s/keys" % d, "AlwaysAddARHeader yes", "AuthservID mx.test",
            "InternalHosts -", "Canonicalization relaxed/simple"])
        self.server.conf.update({
            "submission_milters": "inet:127.0.0.1:%d" % self.sign_port,
            "local_milters": "inet:127.0.0.1:%d" % self.sign_port,
            "submission_milter_daemon_name": "ORIGINATING",
            "local_milter_daemon_name": "ORIGINATING",
            "smtp_milters": "inet:127.0.0.1:%d" % self.verify_port,
        })
        self.server.write_config()
        self.server.start()

    def opendkim(self, name, lines):
        port = harness.free_port()
        conf = os.path.join(self.dir, name + ".conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines + ["Socket inet:%d@127.0.0.1" % port, "Syslog no", "UMask 002",
                                       "RequireSafeKeys no", "PidFile %s/%s.pid" % (self.dir, name)]) + "\n")
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        proc = subprocess.Popen([OPENDKIM, "-f", "-x", conf], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)
        if not wait_listening(port):
            with open(os.path.join(self.dir, name + ".log")) as f:
                raise RuntimeError("opendkim %s did not start: %s" % (name, f.read()))
        return port

    def tearDown(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.server.close()

    def submit(self, msg):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=30) as s:
            s.starttls(context=ctx)
            s.login("alice@localhost", "secret")
            s.sendmail("alice@example.test", ["bob@localhost"], msg)

    def relay_in(self, delivered):
        """Sends a delivered message (less the delivery headers) to the MX listener, as another MX would see it."""
        lines = delivered.split(b"\r\n")
        while lines[0].startswith((b"Return-Path:", b"Delivered-To:")):
            lines.pop(0)
        with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=30) as s:
            s.sendmail("alice@example.test", ["carol@example.test"], b"\r\n".join(lines))

    def test_submission_signed_and_verified(self):
        body = b"".join(b"DKIM body line %d, long enough to make a few kilobytes.\r\n" % i for i in range(200))
        self.submit(b"From: Alice <alice@example.test>\r\nTo: bob@localhost\r\nSubject: signed\r\n"
                    b"Message-ID: <dkim1@example.test>\r\n\r\n" + body)
        msg = self.server.wait_message("bob@localhost", b"<dkim1@example.test>")
        self.assertIsNotNone(msg, self.server.log())
        head = msg.split(b"\r\n\r\n")[0]
        self.assertIn(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.test;", head)
        self.assertIn(b"s=test", head)
        # Date: was added by the submission listener before the milter signed it.
        self.assertRegex(head, rb"h=[^;]*[Dd]ate")

        self.relay_in(msg)
        got = self.server.wait_message("carol@example.test", b"<dkim1@example.test>")
        self.assertIsNotNone(got, self.server.log())
        self.assertRegex(got.split(b"\r\n\r\n")[0],
                         rb"Authentication-Results: mx.test;\s+dkim=pass \(2048-bit key[^)]*\) header.d=example.test")

        # A changed body no longer verifies.
        self.relay_in(msg.replace(b"DKIM body line 7,", b"DKIM body line 8,").replace(
            b"<dkim1@example.test>", b"<dkim2@example.test>"))
        bad = self.server.wait_message("carol@example.test", b"<dkim2@example.test>")
        self.assertIsNotNone(bad)
        self.assertRegex(bad.split(b"\r\n\r\n")[0], rb"Authentication-Results: mx.test;\s+dkim=fail")

    def test_local_mail_signed_by_daemon_name(self):
        """The sendmail command's mail is neither authenticated nor from an internal host for
        OpenDKIM: only {daemon_name} = ORIGINATING makes it sign."""
        out = subprocess.run([harness.binary("sendmail"), "-C", self.server.config_path, "-f", "root@localhost",
                              "bob@localhost"],
                             input=b"From: root@example.test\nSubject: cron\nMessage-ID: <cron@example.test>\n\nreport\n",
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.server.wait_message("bob@localhost", b"<cron@example.test>")
        self.assertIsNotNone(msg, self.server.log())
        self.assertIn(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.test;", msg)

    def test_mx_mail_not_signed(self):
        with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=30) as s:
            s.sendmail("someone@example.org", ["bob@localhost"],
                       b"From: someone@example.org\r\nSubject: in\r\nMessage-ID: <in@example.org>\r\n\r\nhello\r\n")
        msg = self.server.wait_message("bob@localhost", b"<in@example.org>")
        self.assertIsNotNone(msg)
        self.assertNotIn(b"DKIM-Signature", msg)
        self.assertIn(b"dkim=none", msg)


if __name__ == "__main__":
    unittest.main()
