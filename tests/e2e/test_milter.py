"""test_milter.py - milters end to end: real libmilter test milters (tests/milters/) in front of mtad, checked in the delivered Maildir files."""
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import unittest

import harness

MILTERS = os.path.join(harness.BUILD, "tests", "milters")


class Milter:
    """One test milter process listening on a free loopback port (or a unix socket)."""

    def __init__(self, name, *args, unix_dir=None):
        if unix_dir:
            self.path = os.path.join(unix_dir, name + ".sock")
            conn = "unix:" + self.path
            self.spec = "unix:" + self.path
        else:
            self.port = harness.free_port()
            conn = "inet:%d@127.0.0.1" % self.port
            self.spec = "inet:127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen([os.path.join(MILTERS, name), conn] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if unix_dir:
            ok = harness.wait_until(lambda: os.path.exists(self.path), timeout=10)
            if ok:
                os.chmod(self.path, 0o777)  # mtad runs as run_user
        else:
            ok = harness.wait_until(self._listening, timeout=10)
        if not ok:
            self.stop()
            raise RuntimeError("milter %s did not start" % name)

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class FakeMilter(threading.Thread):
    """A milter that speaks garbage: answers each connection with the given bytes, then closes."""

    def __init__(self, reply):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.spec = "inet:127.0.0.1:%d" % self.port
        self.reply = reply
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(2)
                c.recv(65536)
                c.sendall(self.reply)
                time.sleep(0.2)
            except OSError:
                pass
            c.close()

    def stop(self):
        self.sock.close()


MESSAGE = (b"From: Sender <sender@example.org>\r\n"
           b"To: alice@localhost\r\n"
           b"Subject: hello\r\n"
           b"X-Remove-Me: please\r\n"
           b"X-Second: one\r\n"
           b"X-Second: two\r\n"
           b"Message-ID: <%s@example.org>\r\n"
           b"\r\n"
           b"%s")


def headers_of(msg):
    """The header block of a delivered message (after Return-Path/Delivered-To), as a list of (name, value)."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    fields = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + "\r\n" + line)
        else:
            name, _, value = line.partition(":")
            fields.append((name, value))
    return fields


class MilterCase(unittest.TestCase):
    def setUp(self):
        self.milters = []
        self.server = None

    def tearDown(self):
        if self.server:
            self.server.close()
        for m in self.milters:
            m.stop()

    def milter(self, name, *args, **kw):
        m = Milter(name, *args, **kw)
        self.milters.append(m)
        return m

    def start(self, **conf):
        extra = {"milter_connect_timeout": "2s", "milter_command_timeout": "2s", "milter_eom_timeout": "3s"}
        extra.update(conf)
        if self.server:  # a subtest's earlier server: stop it (and check it) before the next
            self.server.close()
        self.server = harness.MailServer(extra=extra)
        self.server.start()
        return self.server

    def send(self, marker, body=b"body text\r\n", rcpts=("alice@localhost",), sender="sender@example.org"):
        with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=20) as s:
            return s.sendmail(sender, list(rcpts), MESSAGE % (marker.encode(), body))

    def assert_nothing_delivered(self, address="alice@localhost"):
        time.sleep(0.5)
        self.assertEqual(self.server.messages(address), [])

    # ---- modifications ----

    def test_header_changes_and_macros(self):
        m = self.milter("milter_headers")
        self.start(milters=m.spec)
        body = b"".join(b"line %06d of a long body to cross several 64 KiB chunks\r\n" % i for i in range(4000))
        self.send("hdr", body=body)
        msg = self.server.wait_message("alice@localhost", b"<hdr@example.org>")
        self.assertIsNotNone(msg, self.server.log())
        fields = headers_of(msg)
        names = [n for n, _ in fields]
        # Inserted at index 0: before our own Received: header (Return-Path/Delivered-To come from delivery).
        self.assertEqual(names[names.index("X-Test-First") + 1], "Received")
        self.assertIn(("Subject", " [was: hello]"), fields)
        self.assertNotIn("X-Remove-Me", names)
        self.assertIn(("X-Second", " one"), fields)
        self.assertIn(("X-Second", " second changed"), fields)
        self.assertIn(("X-Folded", " first line\r\n\tsecond line"), fields)
        seen = dict(fields)["X-Test-Seen"].strip()
        # Headers seen: our Received: plus the 7 of the message; the whole body in chunks.
        self.assertEqual(seen, "headers=8 body=%d" % len(body))
        self.assertTrue(msg.endswith(body))
        macros = dict(fields)["X-Test-Macros"]
        for want in ("host=[127.0.0.1]", "family=2", "j=mx.test", "{daemon_name}=mx.test", "{if_addr}=127.0.0.1",
                     "{client_addr}=127.0.0.1", "from=<sender@example.org>", "{mail_addr}=sender@example.org",
                     "rcpt=<alice@localhost>", "{rcpt_addr}=alice@localhost"):
            self.assertIn(want, macros)
        queue_id = macros.split(" i=")[1].split()[0]
        self.assertRegex(queue_id, "^[0-9A-F]{16}$")
        self.assertIn(queue_id.encode(), msg.split(b"\r\n\r\n")[0])

    def test_no_reply_steps_and_leading_space(self):
        # The milter negotiates SMFIP_NR_HDR, SMFIP_NR_BODY and SMFIP_HDR_LEADSPC: headers and a
        # 2 MB body stream without replies (paced), values keep their exact leading white space.
        m = self.milter("milter_headers", "noreply")
        self.start(milters=m.spec)
        body = b"".join(b"unanswered body line %07d, several megabytes in total......\r\n" % i
                        for i in range(32000))
        self.send("nr", body=body)
        msg = self.server.wait_message("alice@localhost", b"<nr@example.org>")
        self.assertIsNotNone(msg, self.server.log())
        fields = headers_of(msg)
        self.assertEqual(dict(fields)["X-Test-Seen"], " headers=8 body=%d" % len(body))
        self.assertIn(("Subject", " [was:  hello]"), fields)
        self.assertIn(("X-Second", " second changed"), fields)
        self.assertNotIn("X-Remove-Me", [n for n, _ in fields])
        self.assertTrue(msg.endswith(body))

    def test_body_replaced(self):
        m = self.milter("milter_body")
        self.start(milters=m.spec)
        self.send("body", body=b"original secret body\r\n")
        msg = self.server.wait_message("alice@localhost", b"<body@example.org>")
        self.assertIsNotNone(msg, self.server.log())
        self.assertTrue(msg.endswith(b"\r\n\r\nReplaced by the milter.\r\nLine two.\r\n"), msg)
        self.assertNotIn(b"original", msg)

    def test_recipients_and_sender_changed(self):
        m = self.milter("milter_rcpt", "<alice@localhost>", "<bob@localhost>", "<changed@example.test>")
        self.start(milters=m.spec)
        self.send("rcpt", rcpts=("alice@localhost", "carol@example.test"))
        for who in ("bob@localhost", "carol@example.test"):
            msg = self.server.wait_message(who, b"<rcpt@example.org>")
            self.assertIsNotNone(msg, who + "\n" + self.server.log())
            self.assertTrue(msg.startswith(b"Return-Path: <changed@example.test>\r\n"), msg[:200])
        self.assertEqual(self.server.messages("alice@localhost"), [])

    def test_two_milters_in_order(self):
        first = self.milter("milter_headers")
        second = self.milter("milter_body")
        third = self.milter("milter_headers")
        self.start(milters="%s %s %s" % (first.spec, second.spec, third.spec))
        self.send("chain", body=b"to be replaced\r\n")
        msg = self.server.wait_message("alice@localhost", b"<chain@example.org>")
        self.assertIsNotNone(msg, self.server.log())
        fields = headers_of(msg)
        seen = [v.strip() for n, v in fields if n == "X-Test-Seen"]
        # The third milter saw the first one's four additions and one deletion, and the replaced body.
        body = b"Replaced by the milter.\r\nLine two.\r\n"
        self.assertEqual(sorted(seen), sorted(["headers=8 body=16", "headers=11 body=%d" % len(body)]))
        self.assertEqual([n for n, _ in fields].count("X-Test-First"), 2)
        self.assertIn(("Subject", " [was: [was: hello]]"), fields)

    def test_quarantine_holds_the_message(self):
        m = self.milter("milter_quarantine")
        self.start(milters=m.spec)
        self.send("held")
        time.sleep(1)
        self.assertEqual(self.server.messages("alice@localhost"), [])
        out = subprocess.run([harness.binary("mailctl"), "-c", self.server.config_path, "queue"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("HELD", out.stdout)
        self.assertIn("quarantined", self.server.log())

    # ---- verdicts ----

    def test_reject_and_tempfail_at_each_stage(self):
        cases = [("mail", "reject", 550), ("mail", "tempfail", 451), ("data", "reject", 550),
                 ("header", "reject", 550), ("eoh", "tempfail", 451), ("body", "reject", 550),
                 ("eom", "reject", 550), ("eom", "tempfail", 451)]
        for stage, action, code in cases:
            with self.subTest(stage=stage, action=action):
                m = self.milter("milter_verdict", stage, action)
                self.start(milters=m.spec)
                c = harness.SMTPClient(self.server.smtp_port)
                self.assertEqual(c.cmd("EHLO client.example")[0], 250)
                got = c.cmd("MAIL FROM:<sender@example.org>")
                if stage == "mail":
                    self.assertEqual(got[0], code)
                else:
                    self.assertEqual(got[0], 250)
                    self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 250)
                    got = c.cmd("DATA")
                    if stage == "data":
                        self.assertEqual(got[0], code)
                    else:
                        self.assertEqual(got[0], 354)
                        c.send(MESSAGE % (b"v", b"x\r\n") + b".\r\n")
                        got = c.reply()
                        self.assertEqual(got[0], code, got)
                # The session goes on: RSET and QUIT work.
                self.assertEqual(c.cmd("RSET")[0], 250)
                self.assertEqual(c.cmd("QUIT")[0], 221)
                c.close()
                self.assert_nothing_delivered()
                self.assertEqual(self.server.queue_files(), [])
                self.server.close()
                self.server = None
                m.stop()

    def test_connect_and_helo_verdicts(self):
        m = self.milter("milter_verdict", "connect", "reject")
        self.start(milters=m.spec)
        c = harness.SMTPClient(self.server.smtp_port)
        self.assertEqual(c.banner[0], 554)
        self.assertTrue(c.closed())
        c.close()
        self.server.close()
        m2 = self.milter("milter_verdict", "helo", "tempfail")
        self.start(milters=m2.spec)
        c = harness.SMTPClient(self.server.smtp_port)
        self.assertEqual(c.banner[0], 220)
        self.assertEqual(c.cmd("EHLO x.example")[0], 451)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 503)
        c.close()

    def test_reject_one_recipient_only(self):
        m = self.milter("milter_verdict", "rcpt", "reject", "bob")
        self.start(milters=m.spec)
        refused = self.send("onercpt", rcpts=("alice@localhost", "bob@localhost"))
        self.assertEqual(list(refused), ["bob@localhost"])
        self.assertEqual(refused["bob@localhost"][0], 550)
        self.assertIsNotNone(self.server.wait_message("alice@localhost", b"<onercpt@example.org>"))
        self.assertEqual(self.server.messages("bob@localhost"), [])

    def test_discard(self):
        for stage in ("rcpt", "eom"):
            with self.subTest(stage=stage):
                m = self.milter("milter_verdict", stage, "discard")
                self.start(milters=m.spec)
                self.assertEqual(self.send("discard-" + stage), {})
                self.assert_nothing_delivered()
                self.assertEqual(self.server.queue_files(), [])
                self.assertIn("discarded by milter", self.server.log())
                self.server.close()
                self.server = None

    def test_accept_skips_the_rest(self):
        m = self.milter("milter_verdict", "mail", "accept")
        h = self.milter("milter_headers")
        self.start(milters="%s %s" % (m.spec, h.spec))
        self.send("accepted")
        msg = self.server.wait_message("alice@localhost", b"<accepted@example.org>")
        self.assertIsNotNone(msg)
        self.assertIn(b"X-Test-Seen", msg)  # the next milter still runs

    def test_custom_replies(self):
        m = self.milter("milter_reply", "eom")
        self.start(milters=m.spec)
        with self.assertRaises(smtplib.SMTPDataError) as e:
            self.send("custom")
        self.assertEqual(e.exception.smtp_code, 550)
        self.assertEqual(e.exception.smtp_error,
                         b"5.7.1 Message refused by policy\n5.7.1 See the postmaster\n5.7.1 Third line")
        self.assert_nothing_delivered()
        self.server.close()
        m2 = self.milter("milter_reply", "rcpt")
        self.start(milters=m2.spec)
        c = harness.SMTPClient(self.server.smtp_port)
        c.cmd("EHLO x.example")
        c.cmd("MAIL FROM:<a@example.org>")
        self.assertEqual(c.cmd("RCPT TO:<alice@localhost>"), (451, ["451 4.7.28 Greylisted, come back later"]))
        c.close()

    # ---- failures and the default action ----

    def test_milter_down(self):
        port = harness.free_port()
        for action, banner in (("tempfail", 421), ("reject", 554)):
            with self.subTest(action=action):
                self.start(milters="inet:127.0.0.1:%d" % port, milter_default_action=action)
                c = harness.SMTPClient(self.server.smtp_port)
                self.assertEqual(c.banner[0], banner)
                c.close()
                self.server.close()
                self.server = None
        self.start(milters="inet:127.0.0.1:%d" % port, milter_default_action="accept")
        self.send("down")
        self.assertIsNotNone(self.server.wait_message("alice@localhost", b"<down@example.org>"))

    def test_timeout_and_progress(self):
        slow = self.milter("milter_sleep", "mail", "4")
        self.start(milters=slow.spec, milter_command_timeout="1s")
        c = harness.SMTPClient(self.server.smtp_port)
        c.cmd("EHLO x.example")
        t0 = time.monotonic()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 451)
        self.assertLess(time.monotonic() - t0, 3)
        c.close()
        self.assertIn("timeout", self.server.log())
        self.server.close()
        # End of message: over milter_eom_timeout with the accept default, the message goes through unchanged.
        slow_eom = self.milter("milter_sleep", "eom", "4")
        self.start(milters=slow_eom.spec, milter_eom_timeout="1s", milter_default_action="accept")
        self.send("slow")
        msg = self.server.wait_message("alice@localhost", b"<slow@example.org>")
        self.assertIsNotNone(msg)
        self.assertNotIn(b"X-Slept", msg)
        self.server.close()
        # Progress packets keep a slow milter alive past the timeout.
        patient = self.milter("milter_sleep", "eom", "3", "progress")
        self.start(milters=patient.spec, milter_eom_timeout="2s")
        self.send("progress")
        msg = self.server.wait_message("alice@localhost", b"<progress@example.org>")
        self.assertIsNotNone(msg, self.server.log())
        self.assertIn(b"X-Slept: yes", msg)

    def test_dropped_connection(self):
        m = self.milter("milter_drop", "rcpt")
        self.start(milters=m.spec)
        c = harness.SMTPClient(self.server.smtp_port)
        c.cmd("EHLO x.example")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@localhost>")[0], 451)
        # The milter stays down for the session: the default action answers.
        self.assertEqual(c.cmd("RCPT TO:<bob@localhost>")[0], 451)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_garbage_milter_never_crashes_mtad(self):
        replies = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff" + b"x" * 100, b"\x00\x00\x00\x05Oabcd",
                   b"\x00\x00\x00\x0dO\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02c",
                   b"\x00\x00\x00\x01z", b"garbage garbage garbage\r\n", b"\x00\x00\x00\x02y\x00"]
        fakes = [FakeMilter(r) for r in replies]
        try:
            for f in fakes:
                self.start(milters=f.spec, milter_default_action="accept")
                self.send("garbage")
                self.assertIsNotNone(self.server.wait_message("alice@localhost", b"<garbage@example.org>"))
                self.assertIsNone(self.server.procs["mtad"].poll())
                self.server.close()
                self.server = None
        finally:
            for f in fakes:
                f.stop()

    # ---- per listener ----

    def test_per_listener_lists(self):
        h = self.milter("milter_headers")
        r = self.milter("milter_verdict", "mail", "reject")
        # Global: the header milter; the MX listener: none; submission: the global list.
        self.start(milters=h.spec, smtp_milters="", submission_milter_daemon_name="ORIGINATING")
        self.send("mx")
        msg = self.server.wait_message("alice@localhost", b"<mx@example.org>")
        self.assertIsNotNone(msg)
        self.assertNotIn(b"X-Test-Seen", msg)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=20) as s:
            s.starttls(context=ctx)
            s.login("alice@localhost", "secret")
            s.sendmail("alice@localhost", ["bob@localhost"],
                       b"From: alice@localhost\r\nSubject: sub\r\nMessage-ID: <sub@x>\r\n\r\nhi\r\n")
        msg = self.server.wait_message("bob@localhost", b"<sub@x>")
        self.assertIsNotNone(msg, self.server.log())
        macros = dict(headers_of(msg))["X-Test-Macros"]
        self.assertIn("{daemon_name}=ORIGINATING", macros)  # the listener's own name
        self.assertIn("{auth_authen}=alice@localhost", macros)
        self.assertIn("{auth_type}=PLAIN", macros)
        self.assertIn("{tls_version}=TLSv1.3", macros)
        self.server.close()
        # The MX listener gets its own list instead of the global one.
        self.start(milters=h.spec, smtp_milters=r.spec)
        with self.assertRaises(smtplib.SMTPSenderRefused):
            self.send("mx2")

    def test_sendmail_command_and_unix_socket(self):
        self.server = harness.MailServer()
        m = self.milter("milter_headers", unix_dir=self.server.dir)
        self.server.conf.update({"local_milters": m.spec, "milter_command_timeout": "2s"})
        self.server.write_config()
        self.server.start()
        out = subprocess.run([harness.binary("sendmail"), "-C", self.server.config_path, "-f", "root@localhost",
                              "alice@localhost"], input=b"Subject: local\nMessage-ID: <local@x>\n\nfrom cron\n",
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.server.wait_message("alice@localhost", b"<local@x>")
        self.assertIsNotNone(msg, self.server.log())
        macros = dict(headers_of(msg))["X-Test-Macros"]
        self.assertIn("{daemon_name}=mx.test", macros)  # the default: hostname, as Postfix's
        self.assertIn("{auth_type}=local", macros)
        self.assertIn("family=1", macros)
        # The MX listener has no milter (local_milters replaces nothing else; the global list is empty).
        self.send("nolocal")
        msg = self.server.wait_message("alice@localhost", b"<nolocal@example.org>")
        self.assertNotIn(b"X-Test-Seen", msg)


if __name__ == "__main__":
    unittest.main()
