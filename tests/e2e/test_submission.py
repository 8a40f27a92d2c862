"""test_submission.py - TLS on every SMTP listener, AUTH, and the submission rules, end to end against the real mtad."""
import base64
import os
import signal
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from harness import MailServer, SMTPClient, binary, wait_until, tls_context


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


class SubmissionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = MailServer(aliases="sales@localhost: alice, bob\n")
        # one account with a real hash made by mailctl, as an operator would
        r = subprocess.run([binary("mailctl"), "-c", cls.m.config_path, "user", "add", "dave@localhost"],
                           input="dave's password\n", capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_starttls_on_mx_listener(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.ehlo("c.example")
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"), "no AUTH before TLS")
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            self.assertFalse(s.has_extn("starttls"))
            self.assertTrue(s.has_extn("auth"))
            s.sendmail("x@example.org", ["bob@localhost"], b"Message-ID: <tls-mx@x>\r\n\r\nover TLS\r\n")
        stored = self.m.wait_message("bob@localhost", b"<tls-mx@x>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertRegex(stored.decode(), r"\(using TLSv1\.[23] with cipher \S+")
        self.assertIn("with ESMTPS id", stored.decode())

    def test_submission_auth_plain_and_headers_added(self):
        with smtplib.SMTP("127.0.0.1", self.m.submission_port) as s:
            s.ehlo("c.example")
            code, _ = s.docmd("MAIL FROM:<alice@localhost>")
            self.assertEqual(code, 530)
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            self.assertIn("PLAIN", s.esmtp_features["auth"])
            s.login("alice@localhost", "secret")
            # no Date:, no Message-ID: the submission service adds them (RFC 6409 8)
            s.sendmail("alice@localhost", ["bob@localhost"], b"From: alice@localhost\r\nSubject: sub1\r\n\r\nhello\r\n")
        stored = self.m.wait_message("bob@localhost", b"Subject: sub1")
        self.assertIsNotNone(stored, self.m.log())
        text = stored.decode()
        self.assertIn("\r\nDate: ", text)
        self.assertRegex(text, r"\r\nMessage-ID: <[0-9A-F]+@mx\.test>\r\n")
        self.assertIn("(Authenticated sender: alice@localhost)", text)
        self.assertIn("with ESMTPSA id", text)
        self.assertIn("sasl_method=PLAIN, sasl_username=alice@localhost", self.m.log())

    def test_submissions_implicit_tls_auth_login_hashed_password(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.m.submissions_port, context=tls_context()) as s:
            s.ehlo("c.example")
            self.assertIn("LOGIN", s.esmtp_features["auth"])
            s.login("dave@localhost", "dave's password")  # smtplib tries CRAM-MD5? no: PLAIN, then LOGIN
            s.sendmail("dave@localhost", ["alice@localhost"],
                       b"From: Dave <dave@localhost>\r\nMessage-ID: <smtps@x>\r\n\r\nvia 465\r\n")
        self.assertIsNotNone(self.m.wait_message("alice@localhost", b"<smtps@x>"), self.m.log())

    def test_auth_login_mechanism(self):
        c = SMTPClient(self.m.submissions_port, read_banner=False)
        c.sock = tls_context().wrap_socket(c.sock)
        self.assertEqual(c.reply()[0], 220)
        c.cmd("EHLO c.example")
        self.assertEqual(c.cmd("AUTH LOGIN")[1][0], "334 VXNlcm5hbWU6")
        self.assertEqual(c.cmd(base64.b64encode(b"alice@localhost").decode())[1][0], "334 UGFzc3dvcmQ6")
        code, lines = c.cmd(base64.b64encode(b"secret").decode())
        self.assertEqual(code, 235, lines)
        self.assertIn("2.7.0", lines[0])
        c.close()

    def test_auth_refused_before_tls(self):
        c = SMTPClient(self.m.submission_port)
        c.cmd("EHLO c.example")
        code, lines = c.cmd("AUTH PLAIN " + plain("alice@localhost", "secret"))
        self.assertIn(code, (538, 530))
        self.assertTrue(lines[0].startswith("538 5.7.11") or lines[0].startswith("530 5.7.0"), lines)
        c.close()

    def test_wrong_password_535(self):
        with smtplib.SMTP("127.0.0.1", self.m.submission_port) as s:
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login("alice@localhost", "wrong")
            self.assertEqual(cm.exception.smtp_code, 535)
            self.assertIn(b"5.7.8", cm.exception.smtp_error)
            # unknown users get the same answer
            code, msg = s.docmd("AUTH PLAIN " + plain("nobody@localhost", "x"))
            self.assertEqual(code, 535)
        self.assertIn("authentication failed", self.m.log())

    def test_sender_must_belong_to_account(self):
        with smtplib.SMTP("127.0.0.1", self.m.submission_port) as s:
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            s.login("alice@localhost", "secret")
            code, msg = s.docmd("MAIL FROM:<bob@localhost>")
            self.assertEqual(code, 553)
            self.assertIn(b"5.7.1", msg)
            # an alias that includes alice is hers to use, and so is plus-addressing
            self.assertEqual(s.docmd("MAIL FROM:<sales@localhost>")[0], 250)
            s.docmd("RSET")
            self.assertEqual(s.docmd("MAIL FROM:<alice+lists@localhost>")[0], 250)
            s.docmd("RSET")
            # the From: header is checked too
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("alice@localhost", ["bob@localhost"],
                           b"From: Bob <bob@localhost>\r\nMessage-ID: <forged@x>\r\n\r\nforged\r\n")
            self.assertEqual(cm.exception.smtp_code, 553)
        time.sleep(0.3)
        self.assertFalse(any(b"<forged@x>" in x for x in self.m.messages("bob@localhost")))

    def test_starttls_injection_discarded(self):
        """Commands pipelined with STARTTLS in the same packet are not executed (CVE-2011-0411)."""
        c = SMTPClient(self.m.smtp_port)
        c.cmd("EHLO c.example")
        c.send(b"STARTTLS\r\nHELP\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 220)
        self.assertEqual(c.buf, b"", "nothing may follow the 220 in plaintext")
        c.sock = tls_context().wrap_socket(c.sock)
        # The first reply over TLS belongs to our NOOP, not to the injected HELP (214).
        self.assertEqual(c.cmd("NOOP")[0], 250)
        # and EHLO state was reset: MAIL needs a new EHLO
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 503)
        c.close()

    def test_garbage_instead_of_client_hello(self):
        s = socket.create_connection(("127.0.0.1", self.m.submissions_port), timeout=5)
        s.sendall(b"EHLO this is not TLS\r\n" + bytes(range(256)))
        s.settimeout(5)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        self.assertNotIn(b"220 ", data)
        self.assertTrue(wait_until(lambda: "TLS error" in self.m.log(), 5), self.m.log())
        # and the server keeps serving others
        with smtplib.SMTP_SSL("127.0.0.1", self.m.submissions_port, context=tls_context()) as ok:
            self.assertEqual(ok.noop()[0], 250)

    def test_mx_never_relays_even_over_tls(self):
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port) as s:
            s.starttls(context=tls_context())
            s.ehlo("c.example")
            s.docmd("MAIL FROM:<a@example.org>")
            code, msg = s.docmd("RCPT TO:<victim@elsewhere.example>")
            self.assertEqual(code, 554)
            self.assertIn(b"5.7.1", msg)

    def test_swaks_tls_and_auth(self):
        # "Message-Id" as in swaks' template, so that it replaces that field rather than adding a
        # second one (two Message-ID fields are refused on submission, RFC 5322 3.6)
        if not shutil.which("swaks"):
            self.skipTest("swaks not installed")
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.m.submission_port), "--tls",
                            "--auth", "PLAIN", "--auth-user", "alice@localhost", "--auth-password", "secret",
                            "--from", "alice@localhost", "--to", "bob@localhost",
                            "--header", "From: alice@localhost", "--header", "Message-Id: <swaks-tls@x>"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.m.submissions_port),
                            "--tls-on-connect", "--auth", "LOGIN", "--auth-user", "alice@localhost",
                            "--auth-password", "secret", "--from", "alice@localhost", "--to", "bob@localhost",
                            "--header", "From: alice@localhost", "--header", "Message-Id: <swaks-tlsc@x>"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNotNone(self.m.wait_message("bob@localhost", b"<swaks-tls@x>"))
        self.assertIsNotNone(self.m.wait_message("bob@localhost", b"<swaks-tlsc@x>"))


class CertificateReloadTest(unittest.TestCase):
    def test_sighup_reloads_certificate_without_dropping_connections(self):
        m = MailServer()
        try:
            d = os.path.join(m.dir, "certs")
            os.makedirs(d)
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")

            def make(cn):
                subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn],
                               check=True, capture_output=True)
                os.chmod(key, 0o644)  # readable by run_user after the privilege drop (test only)

            def served_cn():
                with socket.create_connection(("127.0.0.1", m.submissions_port)) as raw:
                    with tls_context().wrap_socket(raw) as t:
                        der = t.getpeercert(binary_form=True)
                r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                                   capture_output=True)
                return r.stdout.decode()

            make("first.test")
            m.conf["tls_cert"], m.conf["tls_key"] = cert, key
            m.write_config()
            m.start()
            self.assertIn("first.test", served_cn())
            old = smtplib.SMTP_SSL("127.0.0.1", m.submissions_port, context=tls_context())
            old.ehlo("c")
            make("second.test")
            m.procs["mtad"].send_signal(signal.SIGHUP)
            self.assertTrue(wait_until(lambda: "second.test" in served_cn(), 10), m.log())
            self.assertEqual(old.noop()[0], 250, "an open session keeps working")
            old.login("alice@localhost", "secret")
            old.sendmail("alice@localhost", ["bob@localhost"], b"From: alice@localhost\r\nMessage-ID: <hup@x>\r\n\r\nx\r\n")
            old.quit()
            self.assertIsNotNone(m.wait_message("bob@localhost", b"<hup@x>"))
        finally:
            m.close()


class ThrottleTest(unittest.TestCase):
    def test_repeated_failures_are_throttled(self):
        m = MailServer(extra={"auth_failure_delay_max": "1s", "auth_block_failures": "4"})
        try:
            m.start()
            blocked = False
            t0 = time.monotonic()
            for i in range(14):
                with smtplib.SMTP_SSL("127.0.0.1", m.submissions_port, context=tls_context(), timeout=30) as s:
                    s.ehlo("c.example")
                    code, msg = s.docmd("AUTH PLAIN " + plain("alice@localhost", "bad%d" % i))
                    if code == 454:
                        blocked = True
                        break
                    self.assertEqual(code, 535)
                if time.monotonic() - t0 > 120:
                    break
            self.assertTrue(blocked, "failures from one address end in 454 4.7.0")
            # even the right password is refused while blocked
            with smtplib.SMTP_SSL("127.0.0.1", m.submissions_port, context=tls_context()) as s:
                s.ehlo("c.example")
                self.assertEqual(s.docmd("AUTH PLAIN " + plain("alice@localhost", "secret"))[0], 454)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
