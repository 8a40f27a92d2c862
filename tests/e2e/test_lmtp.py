# test_lmtp.py - lmtpd, the LMTP back end: per-recipient replies after the Maildir write, refusals, a unix socket, STARTTLS, and Postfix's lmtp client delivering through it.
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import MailServer, SMTPClient, binary, free_port, pid_alive, port_accepts, read_text, wait_until

PASSWORD = "secret"
MSG = (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: %s\r\n"
       b"Message-ID: <%s@example.org>\r\n\r\nHello over LMTP.\r\n")


def lmtp_server(extra=None, **kw):
    port = free_port()
    conf = {"lmtp_listen": "127.0.0.1:%d" % port}
    conf.update(extra or {})
    m = MailServer(extra=conf, **kw)
    m.start("lmtpd", port=port)
    m.lmtp_port = port
    return m


class LmtpProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = lmtp_server(aliases="team@localhost: alice@localhost, bob@localhost\n"
                                    "away@localhost: someone@remote.test\n")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def client(self):
        c = SMTPClient(self.m.lmtp_port)
        self.assertEqual(c.banner[0], 220, c.banner)
        self.assertIn("LMTP", c.banner[1][0])
        return c

    def test_one_reply_per_recipient_after_the_write(self):
        c = self.client()
        try:
            code, lines = c.cmd("LHLO front.test")
            self.assertEqual(code, 250)
            self.assertIn("250-PIPELINING", lines)
            self.assertIn("250-ENHANCEDSTATUSCODES", lines)
            self.assertEqual(c.cmd("MAIL FROM:<bob@example.org> SIZE=200")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 250)
            code, lines = c.cmd("RCPT TO:<nobody@localhost>")
            self.assertEqual(code, 550)
            self.assertIn("5.1.1", lines[0])
            self.assertEqual(c.cmd("RCPT TO:<carol@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG % (b"per-rcpt", b"per-rcpt") + b".\r\n")
            first, second = c.reply(), c.reply()
            self.assertEqual(first[0], 250, first)
            self.assertIn("<alice@localhost>", first[1][0])
            self.assertEqual(second[0], 250, second)
            self.assertIn("<carol@example.test>", second[1][0])
            # The 250 comes after the file is in new/: it is there the moment we look.
            for rcpt in ("alice@localhost", "carol@example.test"):
                msgs = self.m.messages(rcpt)
                found = [b for b in msgs if b"<per-rcpt@example.org>" in b]
                self.assertEqual(len(found), 1, rcpt)
                self.assertTrue(found[0].startswith(b"Return-Path: <bob@example.org>\r\n"))
                self.assertIn(b"Delivered-To: " + rcpt.encode(), found[0])
                self.assertIn(b"with LMTP", found[0])
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()

    def test_alias_expands_to_every_mailbox(self):
        c = self.client()
        try:
            c.cmd("LHLO front.test")
            c.cmd("MAIL FROM:<>")
            self.assertEqual(c.cmd("RCPT TO:<team@localhost>")[0], 250)
            # An alias that leaves this host: lmtpd relays nothing, so it says no at once.
            code, lines = c.cmd("RCPT TO:<away@localhost>")
            self.assertEqual(code, 550, lines)
            self.assertIn("remote", lines[0])
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG % (b"team", b"team") + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            for rcpt in ("alice@localhost", "bob@localhost"):
                self.assertTrue(any(b"<team@example.org>" in b for b in self.m.messages(rcpt)))
        finally:
            c.close()

    def test_pipelined_transaction(self):
        c = self.client()
        try:
            c.send("LHLO front.test\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
                   "RCPT TO:<bob@localhost>\r\nDATA\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 250])
            self.assertEqual(c.reply()[0], 354)
            c.send(MSG % (b"piped", b"piped") + b".\r\nMAIL FROM:<>\r\nRCPT TO:<bob@localhost>\r\nQUIT\r\n")
            self.assertEqual([c.reply()[0] for _ in range(5)], [250, 250, 250, 250, 221])
        finally:
            c.close()

    def test_two_messages_in_one_session_are_both_kept(self):
        c = self.client()
        try:
            c.cmd("LHLO front.test")
            for mid in (b"first-of-two", b"second-of-two"):
                self.assertEqual(c.cmd("MAIL FROM:<bob@example.org>")[0], 250)
                self.assertEqual(c.cmd("RCPT TO:<bob@localhost>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(MSG % (mid, mid) + b".\r\n")
                self.assertEqual(c.reply()[0], 250)
            for mid in (b"first-of-two", b"second-of-two"):
                self.assertEqual(sum(1 for b in self.m.messages("bob@localhost")
                                     if b"<%s@example.org>" % mid in b), 1, mid)
        finally:
            c.close()

    def test_smtp_greetings_and_order_are_refused(self):
        c = self.client()
        try:
            self.assertEqual(c.cmd("EHLO front.test")[0], 500)
            self.assertEqual(c.cmd("HELO front.test")[0], 500)
            self.assertEqual(c.cmd("MAIL FROM:<bob@example.org>")[0], 503)
            c.cmd("LHLO front.test")
            self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 503)
            c.cmd("MAIL FROM:<bob@example.org>")
            self.assertEqual(c.cmd("DATA")[0], 554)  # no valid recipients
            self.assertEqual(c.cmd("RSET")[0], 250)
        finally:
            c.close()

    def test_bare_lf_is_refused_for_each_recipient_and_nothing_stored(self):
        before = len(self.m.messages("bob@localhost"))
        c = self.client()
        try:
            c.cmd("LHLO front.test")
            c.cmd("MAIL FROM:<bob@example.org>")
            c.cmd("RCPT TO:<bob@localhost>")
            c.cmd("RCPT TO:<alice@localhost>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: smuggle\r\n\r\nline\n.\nMAIL FROM:<x@y>\r\n.\r\n")
            replies = [c.reply() for _ in range(2)]
            self.assertEqual([r[0] for r in replies], [554, 554], replies)
            self.assertIn("5.6.0", replies[0][1][0])
            self.assertEqual(len(self.m.messages("bob@localhost")), before)
            self.assertEqual(c.cmd("NOOP")[0], 250)  # the session goes on
        finally:
            c.close()

    def test_new_account_is_accepted_without_a_restart(self):
        with open(self.m.users_file, "a") as f:
            f.write("dave@localhost:{PLAIN}%s\n" % PASSWORD)
        c = self.client()
        try:
            c.cmd("LHLO front.test")
            c.cmd("MAIL FROM:<bob@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<dave@localhost>")[0], 250)
        finally:
            c.close()

    def test_starttls(self):
        c = self.client()
        try:
            code, lines = c.cmd("LHLO front.test")
            self.assertIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c.sock = ctx.wrap_socket(c.sock)
            code, lines = c.cmd("LHLO front.test")
            self.assertEqual(code, 250)
            self.assertNotIn("250-STARTTLS", lines)
            c.cmd("MAIL FROM:<bob@example.org>")
            c.cmd("RCPT TO:<alice@localhost>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG % (b"tls", b"over-tls") + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            msg = [b for b in self.m.messages("alice@localhost") if b"<over-tls@example.org>" in b]
            self.assertIn(b"with LMTPS", msg[0])
        finally:
            c.close()


class LmtpUnixSocketTest(unittest.TestCase):
    def test_unix_socket(self):
        m = MailServer()
        sock_path = os.path.join(m.state_dir, "lmtp.sock")
        m.conf["lmtp_listen"] = "unix:" + sock_path
        m.write_config()
        try:
            log = os.path.join(m.dir, "lmtpd.log")
            m.logs["lmtpd"] = log
            with open(log, "ab") as f:
                m.procs["lmtpd"] = subprocess.Popen([binary("lmtpd"), "-c", m.config_path, "-f"],
                                                    stdout=f, stderr=f, stdin=subprocess.DEVNULL)
            self.assertTrue(wait_until(lambda: os.path.exists(sock_path), 20), m.log("lmtpd"))
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(sock_path)
            f = s.makefile("rwb")
            self.assertTrue(f.readline().startswith(b"220 "))
            f.write(b"LHLO front.test\r\nMAIL FROM:<>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n")
            f.flush()
            lines = []
            while len([l for l in lines if l[3:4] == b" "]) < 4:
                lines.append(f.readline())
            self.assertTrue(lines[-1].startswith(b"354"), lines)
            self.assertNotIn(b"250-STARTTLS\r\n", lines)
            f.write(MSG % (b"unix", b"unix") + b".\r\n")
            f.flush()
            self.assertTrue(f.readline().startswith(b"250 2.0.0 <bob@localhost>"))
            s.close()
            self.assertTrue(any(b"<unix@example.org>" in b for b in m.messages("bob@localhost")))
        finally:
            m.close()

    def test_unset_lmtp_listen_is_a_config_error(self):
        m = MailServer()
        try:
            r = subprocess.run([binary("lmtpd"), "-c", m.config_path, "-f"],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 78, r.stderr)
            self.assertIn(b"lmtp_listen", r.stderr)
        finally:
            m.close()


POSTFIX_MASTER_CF = """\
{listen} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@unittest.skipUnless(shutil.which("postfix") and os.geteuid() == 0,
                     "needs Debian's postfix and root (a private instance)")
class PostfixLmtpClientTest(unittest.TestCase):
    """Postfix 3.7's lmtp client (virtual_transport = lmtp:inet:...) delivers through lmtpd."""

    def test_postfix_delivers_over_lmtp(self):
        m = lmtp_server()
        base = tempfile.mkdtemp(prefix="pflmtp-")
        os.chmod(base, 0o755)
        etc, spool, data = (os.path.join(base, d) for d in ("etc", "spool", "data"))
        for d in (etc, spool, data):
            os.makedirs(d)
            os.chmod(d, 0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        smtp_port = free_port()
        main = {
            "compatibility_level": "3.6", "queue_directory": spool, "data_directory": data,
            "mail_owner": "postfix", "setgid_group": "postdrop", "myhostname": "front.test",
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4", "mydestination": "",
            "local_recipient_maps": "", "alias_maps": "", "alias_database": "",
            "mynetworks": "127.0.0.0/8", "virtual_mailbox_domains": "localhost example.test",
            "virtual_mailbox_maps": "", "virtual_transport": "lmtp:inet:127.0.0.1:%d" % m.lmtp_port,
            "maillog_file": os.path.join(base, "maillog"), "maillog_file_prefixes": base,
            "biff": "no",
            "smtputf8_enable": "no",
        }
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.writelines("%s = %s\n" % kv for kv in main.items())
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(listen="127.0.0.1:%d" % smtp_port))

        def postfix(*args):
            return subprocess.run(["postfix", "-c", etc] + list(args), capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=60)
        try:
            r = postfix("start")
            if r.returncode != 0:
                # postfix-script says why only in maillog_file; seen once under a loaded
                # parallel ctest run with nothing on stdout: one more try, with the reason kept
                first = read_text(os.path.join(base, "maillog"))
                time.sleep(1)
                r = postfix("start")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + first.encode())
            self.assertTrue(wait_until(lambda: port_accepts(smtp_port), 30), "postfix did not listen")
            import smtplib
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
                refused = s.sendmail("bob@example.org", ["alice@localhost", "carol@example.test"],
                                     MSG % (b"via-postfix", b"via-postfix"))
                self.assertEqual(refused, {})
            for rcpt in ("alice@localhost", "carol@example.test"):
                got = wait_until(lambda: [b for b in m.messages(rcpt)
                                          if b"<via-postfix@example.org>" in b], 30)
                self.assertTrue(got, "%s: nothing arrived\n%s\n%s" % (
                    rcpt, read_text(os.path.join(base, "maillog")), m.log("lmtpd")))
                self.assertIn(b"by front.test (Postfix)", got[0])
                self.assertIn(b"with LMTP", got[0])
            # Postfix logged the per-recipient answers of lmtpd as delivered.
            wait_until(lambda: read_text(os.path.join(base, "maillog")).count("status=sent") >= 2, 30)
            log = read_text(os.path.join(base, "maillog"))
            self.assertEqual(log.count("status=sent"), 2, log)
            self.assertIn("relay=127.0.0.1[127.0.0.1]:%d" % m.lmtp_port, log)
        finally:
            pidfile = os.path.join(spool, "pid", "master.pid")
            master = int(read_text(pidfile).strip() or 0)
            postfix("stop")
            if master:
                wait_until(lambda: not pid_alive(master), 20)
            m.close()
            shutil.rmtree(base, ignore_errors=True)



if __name__ == "__main__":
    unittest.main()
