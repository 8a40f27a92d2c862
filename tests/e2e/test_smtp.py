"""test_smtp.py - the MX listener end to end: real mtad, real clients (smtplib, swaks, raw sockets), real Maildir files."""
import concurrent.futures
import email
import os
import shutil
import smtplib
import socket
import subprocess
import time
import unittest

from harness import MailServer, SMTPClient, binary, wait_until


def body_of(stored):
    """The message as the client sent it: the stored file without our three trace headers."""
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert stored.startswith(b"Return-Path: <"), stored[:80]
    lines = stored.split(b"\r\n")
    assert lines[1].startswith(b"Delivered-To: "), lines[1]
    assert lines[2].startswith(b"Received: from "), lines[2]
    # Received: is folded over continuation lines beginning with a tab.
    i = 3
    while lines[i].startswith(b"\t"):
        i += 1
    del head
    return b"\r\n".join(lines[i:])


MSG = (b"From: Sender <sender@example.org>\r\n"
       b"To: Alice <alice@localhost>\r\n"
       b"Subject: hello\r\n"
       b"Message-ID: <m1@example.org>\r\n"
       b"\r\n"
       b"Line one.\r\n"
       b"..a line that started with a dot\r\n"
       b"\r\n"
       b"Last line.\r\n")


class SMTPTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(extra={"max_message_size": "64k", "max_recipients": "5",
                                  "smtp_timeout": "3s", "max_connections_per_ip": "8"},
                           aliases="team@localhost: alice, bob\nfar@localhost: someone@remote.test\n")
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def setUp(self):
        self.assertIsNone(self.m.procs["mtad"].poll(), self.m.log())

    def test_smtplib_one_recipient_byte_exact(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.ehlo("client.example.org")
            self.assertTrue(s.has_extn("pipelining"))
            self.assertTrue(s.has_extn("8bitmime"))
            self.assertTrue(s.has_extn("enhancedstatuscodes"))
            self.assertTrue(s.has_extn("smtputf8"))
            self.assertTrue(s.has_extn("chunking"))
            self.assertEqual(s.esmtp_features["size"], str(64 * 1024))
            code, _ = s.docmd("MAIL FROM:<sender@example.org>")
            self.assertEqual(code, 250)
            code, _ = s.docmd("RCPT TO:<alice@localhost>")
            self.assertEqual(code, 250)
            code, resp = s.data(MSG.replace(b"..a line", b".a line"))
            self.assertEqual(code, 250, resp)
            self.assertIn(b"2.0.0 Ok: queued as", resp)
        stored = self.m.wait_message("alice@localhost", b"<m1@example.org>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertEqual(sum(b"<m1@example.org>" in x for x in self.m.messages("alice@localhost")), 1)
        self.assertTrue(stored.startswith(b"Return-Path: <sender@example.org>\r\nDelivered-To: alice@localhost\r\n"))
        self.assertIn(b"by mx.test (mtad) with ESMTP id ", stored)
        # smtplib dot-stuffs; we unstuff: the body is byte-exact.
        self.assertEqual(body_of(stored), MSG.replace(b"..a line", b".a line"))
        # The Maildir name carries the size.
        names = os.listdir(os.path.join(self.m.maildir("alice@localhost"), "new"))
        for n in names:
            size = os.path.getsize(os.path.join(self.m.maildir("alice@localhost"), "new", n))
            self.assertIn(",S=%d" % size, n)
        # Nothing left in the queue once delivered.
        self.assertTrue(wait_until(lambda: not self.m.queue_files(), 10), self.m.queue_files())

    def test_several_recipients_and_alias(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            refused = s.sendmail("x@example.org", ["bob@localhost", "carol@example.test", "team@localhost"],
                                 b"Subject: multi\r\nMessage-ID: <multi@x>\r\n\r\nhi\r\n")
            self.assertEqual(refused, {})
        for who in ("bob@localhost", "carol@example.test", "alice@localhost"):
            self.assertTrue(wait_until(lambda: any(b"<multi@x>" in x for x in self.m.messages(who))), who)
        # bob was named directly and through the alias: one copy.
        time.sleep(0.5)
        self.assertEqual(sum(b"<multi@x>" in x for x in self.m.messages("bob@localhost")), 1)
        self.assertIn("status=sent (delivered to maildir)", self.m.log())

    def test_plus_address_and_case(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.sendmail("", ["Alice+News@LOCALHOST"], b"Subject: plus\r\nMessage-ID: <plus@x>\r\n\r\nhi\r\n")
        self.assertTrue(wait_until(lambda: any(b"<plus@x>" in x for x in self.m.messages("alice@localhost"))))
        stored = [x for x in self.m.messages("alice@localhost") if b"<plus@x>" in x][0]
        self.assertTrue(stored.startswith(b"Return-Path: <>\r\n"), stored[:60])

    def test_swaks(self):
        if not shutil.which("swaks"):
            self.skipTest("swaks not installed")
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.m.smtp_port),
                            "--from", "swaks@example.org", "--to", "bob@localhost",
                            "--header", "Message-ID: <swaks@x>", "--body", "from swaks"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("250 2.0.0 Ok: queued as", r.stdout)
        self.assertTrue(wait_until(lambda: any(b"<swaks@x>" in x for x in self.m.messages("bob@localhost"))))

    def test_rcpt_checks(self):
        c = SMTPClient(self.m.smtp_port)
        self.assertEqual(c.banner[0], 220)
        self.assertEqual(c.cmd("EHLO t")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<>")[0], 250)  # null sender accepted
        code, lines = c.cmd("RCPT TO:<nobody@localhost>")
        self.assertEqual(code, 550)
        self.assertIn("5.1.1", lines[0])
        code, lines = c.cmd("RCPT TO:<someone@elsewhere.example>")
        self.assertEqual(code, 554)
        self.assertIn("5.7.1", lines[0])
        for i in range(5):
            self.assertEqual(c.cmd("RCPT TO:<alice+%d@localhost>" % i)[0], 250)
        # five distinct recipient strings but one mailbox: the limit counts mailboxes
        self.assertEqual(c.cmd("RCPT TO:<bob@localhost>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<carol@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<team@localhost>")[0], 250)  # alice+bob: already there
        c.cmd("RSET")
        c.cmd("MAIL FROM:<a@b.example>")
        c.cmd("RCPT TO:<alice@localhost>")
        c.cmd("RCPT TO:<bob@localhost>")
        c.cmd("RCPT TO:<carol@example.test>")
        c.cmd("RCPT TO:<far@localhost>")  # alias to a remote address counts too
        code, lines = c.cmd("RCPT TO:<unknown2@localhost>")
        self.assertEqual(code, 550)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_max_recipients(self):
        m = MailServer(users=["u%d@localhost" % i for i in range(5)], extra={"max_recipients": "3"})
        try:
            m.start()
            c = SMTPClient(m.smtp_port)
            c.cmd("EHLO t")
            c.cmd("MAIL FROM:<a@b.example>")
            for i in range(3):
                self.assertEqual(c.cmd("RCPT TO:<u%d@localhost>" % i)[0], 250)
            code, lines = c.cmd("RCPT TO:<u4@localhost>")
            self.assertEqual(code, 452)
            self.assertIn("4.5.3", lines[0])
            c.close()
        finally:
            m.close()

    def test_sequence_errors(self):
        c = SMTPClient(self.m.smtp_port)
        code, lines = c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(code, 503)
        self.assertIn("5.5.1", lines[0])
        c.cmd("HELO t")
        self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        code, lines = c.cmd("FOO bar")
        self.assertEqual(code, 500)
        self.assertIn("5.5.2", lines[0])
        code, lines = c.cmd("MAIL FROM:<bad address>")
        self.assertEqual(code, 501)
        self.assertEqual(c.cmd("VRFY alice")[0], 252)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("HELP")[0], 214)
        c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 503)  # nested
        self.assertEqual(c.cmd("RSET")[0], 250)
        c.close()

    def test_size_limits(self):
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO t")
        code, lines = c.cmd("MAIL FROM:<a@b.example> SIZE=100000")
        self.assertEqual(code, 552)
        self.assertIn("5.3.4", lines[0])
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example> SIZE=1000")[0], 250)
        c.cmd("RCPT TO:<alice@localhost>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        big = (b"Message-ID: <toobig@x>\r\n\r\n" + (b"x" * 900 + b"\r\n") * 100)
        c.send(big + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 552)
        self.assertIn("5.3.4", lines[0])
        # the session goes on
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()
        time.sleep(0.5)
        self.assertFalse(any(b"<toobig@x>" in x for x in self.m.messages("alice@localhost")))

    def test_long_lines(self):
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO t")
        code, lines = c.cmd("NOOP " + "x" * 600)
        self.assertEqual(code // 100, 5)
        self.assertEqual(c.cmd("NOOP")[0], 250)  # session continues
        c.cmd("MAIL FROM:<a@b.example>")
        c.cmd("RCPT TO:<alice@localhost>")
        c.cmd("DATA")
        c.send(b"Message-ID: <longline@x>\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code // 100, 5)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        time.sleep(0.3)
        self.assertFalse(any(b"<longline@x>" in x for x in self.m.messages("alice@localhost")))

    def test_smuggling_rejected(self):
        """'\\n.\\r\\n' must neither end the message nor start a second one."""
        for variant in (b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\r.\r\n"):
            c = SMTPClient(self.m.smtp_port)
            c.cmd("EHLO t")
            c.cmd("MAIL FROM:<a@b.example>")
            c.cmd("RCPT TO:<alice@localhost>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            smuggled = (b"Message-ID: <outer@x>\r\n\r\nhello" + variant +
                        b"MAIL FROM:<evil@x>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
                        b"Message-ID: <smuggled@x>\r\n\r\nevil\r\n.\r\n")
            c.send(smuggled)
            code, lines = c.reply()
            self.assertEqual(code // 100, 5, (variant, lines))
            # nothing else was executed: the next reply is for our NOOP
            self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
            c.close()
        time.sleep(0.5)
        for who in ("alice@localhost", "bob@localhost"):
            self.assertFalse(any(b"<smuggled@x>" in x or b"<outer@x>" in x for x in self.m.messages(who)))

    def test_pipelining(self):
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO t")
        c.send(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<alice@localhost>\r\nRCPT TO:<nobody@localhost>\r\n"
               b"RCPT TO:<bob@localhost>\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        self.assertEqual(codes, [250, 250, 550, 250, 354])
        # message, then next transaction, in one write
        c.send(b"Message-ID: <pipe1@x>\r\n\r\none\r\n.\r\nMAIL FROM:<p@example.org>\r\n"
               b"RCPT TO:<bob@localhost>\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(4)]
        self.assertEqual(codes, [250, 250, 250, 354])
        c.send(b"Message-ID: <pipe2@x>\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 221)
        c.close()
        self.assertTrue(wait_until(lambda: sum(b"<pipe" in x for x in self.m.messages("bob@localhost")) == 2))

    def test_bdat(self):
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO t")
        c.cmd("MAIL FROM:<b@example.org>")
        c.cmd("RCPT TO:<alice@localhost>")
        part1 = b"Message-ID: <bdat@x>\r\nSubject: chunked\r\n\r\n"
        part2 = b"body line\r\n.not stuffed\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertIn("queued as", lines[0])
        c.close()
        self.assertTrue(wait_until(lambda: any(b"<bdat@x>" in x for x in self.m.messages("alice@localhost"))))
        stored = [x for x in self.m.messages("alice@localhost") if b"<bdat@x>" in x][0]
        self.assertEqual(body_of(stored), part1 + part2)

    def test_smtputf8(self):
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO t")
        code, _ = c.cmd("MAIL FROM:<j\u00f6rg@example.org>")
        self.assertEqual(code, 553)
        self.assertEqual(c.cmd("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 250)
        c.cmd("DATA")
        c.send("Message-ID: <utf8@x>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nk\u00e4se\r\n.\r\n".encode())
        self.assertEqual(c.reply()[0], 250)
        c.close()
        self.assertTrue(wait_until(lambda: any(b"<utf8@x>" in x for x in self.m.messages("alice@localhost"))))

    def test_idle_timeout(self):
        c = SMTPClient(self.m.smtp_port)
        t0 = time.monotonic()
        self.assertTrue(c.closed(timeout=10))
        self.assertIn(b"421 4.4.2", c.buf)
        self.assertGreater(time.monotonic() - t0, 2)

    def test_connection_cap_per_ip(self):
        conns = [SMTPClient(self.m.smtp_port) for _ in range(8)]
        try:
            extra = SMTPClient(self.m.smtp_port, read_banner=False)
            code, lines = extra.reply()
            self.assertEqual(code, 421)
            self.assertIn("4.7.0", lines[0])
            self.assertTrue(extra.closed())
            extra.close()
        finally:
            for c in conns:
                c.close()
        # capacity comes back
        time.sleep(0.3)
        c = SMTPClient(self.m.smtp_port)
        self.assertEqual(c.banner[0], 220)
        c.close()

    def test_mail_loop(self):
        hops = b"".join(b"Received: from h%d by h%d; Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i) for i in range(31))
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("a@example.org", ["alice@localhost"], hops + b"Message-ID: <loop@x>\r\n\r\nloop\r\n")
            self.assertEqual(cm.exception.smtp_code, 554)
            self.assertIn(b"5.4.6", cm.exception.smtp_error)


class EarlyTalkerTest(unittest.TestCase):
    def test_talking_before_banner(self):
        m = MailServer(extra={"smtp_greeting_delay": "700"})
        try:
            m.start()
            c = SMTPClient(m.smtp_port, read_banner=False)
            c.send(b"EHLO eager\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 554)
            self.assertTrue(c.closed())
            c.close()
            c = SMTPClient(m.smtp_port, read_banner=False)
            self.assertEqual(c.reply()[0], 220)  # a patient client is served
            c.close()
        finally:
            m.close()


class ConcurrencyTest(unittest.TestCase):
    def test_50_clients_20_messages(self):
        # a pool thread that finished its client may start the next one before the server has
        # closed the first connection (slow under valgrind): room above the 50 in flight
        m = MailServer(extra={"max_connections_per_ip": "100"})
        try:
            m.start()

            def client(n):
                with smtplib.SMTP("127.0.0.1", m.smtp_port, timeout=60) as s:
                    for i in range(20):
                        s.sendmail("load@example.org", ["alice@localhost"],
                                   b"Message-ID: <load-%d-%d@x>\r\nSubject: load\r\n\r\nbody %d %d\r\n" % (n, i, n, i))
                return 20

            with concurrent.futures.ThreadPoolExecutor(50) as ex:
                total = sum(ex.map(client, range(50)))
            self.assertEqual(total, 1000)
            self.assertTrue(wait_until(lambda: len(m.messages("alice@localhost")) >= 1000, timeout=60))
            time.sleep(0.5)
            msgs = m.messages("alice@localhost")
            self.assertEqual(len(msgs), 1000)
            ids = set()
            for x in msgs:
                mid = email.message_from_bytes(x)["Message-ID"]
                ids.add(mid)
            self.assertEqual(len(ids), 1000)
            self.assertTrue(wait_until(lambda: not m.queue_files(), 20))
        finally:
            m.close()


class CrashTest(unittest.TestCase):
    def test_kill9_after_250_delivers_exactly_once(self):
        m = MailServer()
        try:
            m.start()
            ids = []
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                for i in range(30):
                    s.sendmail("crash@example.org", ["alice@localhost", "bob@localhost"],
                               b"Message-ID: <crash-%d@x>\r\n\r\nbody\r\n" % i)
                    ids.append(b"<crash-%d@x>" % i)
            m.kill9()  # right after the last 250, deliveries possibly in flight
            m.start()
            for who in ("alice@localhost", "bob@localhost"):
                self.assertTrue(wait_until(lambda: len(m.messages(who)) >= 30, 20), who)
            self.assertTrue(wait_until(lambda: not m.queue_files(), 20), m.queue_files())
            time.sleep(0.5)
            for who in ("alice@localhost", "bob@localhost"):
                got = m.messages(who)
                self.assertEqual(len(got), 30, who)
                for mid in ids:
                    self.assertEqual(sum(mid + b"\r\n" in x for x in got), 1, (who, mid))
        finally:
            m.close()

    def test_queue_survives_restart_before_delivery(self):
        """A queued message whose delivery failed is delivered after a restart."""
        m = MailServer()
        try:
            # Make alice's Maildir impossible to create: delivery defers.
            os.makedirs(os.path.join(m.state_dir, "mail", "localhost"))
            m.give_to_run_user("mail", "mail/localhost")
            blocker = os.path.join(m.state_dir, "mail", "localhost", "alice")
            with open(blocker, "w") as f:
                f.write("not a directory")
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                s.sendmail("q@example.org", ["alice@localhost"], b"Message-ID: <deferred@x>\r\n\r\nbody\r\n")
            self.assertTrue(wait_until(lambda: "status=deferred" in m.log(), 10), m.log())
            self.assertEqual(len(m.queue_files()), 1)
            m.stop()
            os.unlink(blocker)
            m.start()
            msgs = m.wait_messages("alice@localhost", 1, timeout=20)
            self.assertEqual(len(msgs), 1)
            self.assertIn(b"<deferred@x>", msgs[0])
            self.assertTrue(wait_until(lambda: not m.queue_files(), 10))
        finally:
            m.close()


class ConfigErrorTest(unittest.TestCase):
    def test_bad_config_exit_78(self):
        m = MailServer(extra={"max_message_size": "12Q"})
        try:
            r = subprocess.run([binary("mtad"), "-c", m.config_path, "-f"], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 78)
            self.assertRegex(r.stderr, r"mail\.conf:\d+:")
        finally:
            m.close()

    def test_unknown_key(self):
        m = MailServer(extra={"hostnme": "x"})
        try:
            r = subprocess.run([binary("mtad"), "-c", m.config_path, "-f"], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 78)
            self.assertIn("hostnme", r.stderr)
        finally:
            m.close()

    def test_version_and_help(self):
        r = subprocess.run([binary("mtad"), "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("mtad "))
        r = subprocess.run([binary("mtad"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("-c FILE", r.stdout)


if __name__ == "__main__":
    unittest.main()
