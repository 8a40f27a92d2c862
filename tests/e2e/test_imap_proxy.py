# test_imap_proxy.py - imapd with imap_proxy = yes: each login reaches the back end named in mailbox_routes (our imapd over STARTTLS, or a private Dovecot), with the client's address in ID; IDLE and literals pass through.
import imaplib
import os
import shutil
import socket
import tempfile
import time
import unittest

from dovecot_backend import DovecotBackend, have_dovecot
from harness import MailServer, free_port, wait_until
from tlsworld import CA

PASSWORD = "secret"
MSG = b"From: Bob <bob@example.org>\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody\r\n"
CLIENT_IP = "127.0.0.9"  # the test client's source address, to tell it from the proxy's


def imap(port, user, source=CLIENT_IP):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    if source:
        # imaplib has no source address: reconnect its socket from CLIENT_IP.
        c.shutdown()
        c.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                          source_address=(source, 0))
        c.file = c.sock.makefile("rb")
        c.welcome = c._get_response()
        c._get_capabilities()
    c.login(user, PASSWORD)
    return c


@unittest.skipUnless(have_dovecot(), "needs Debian's dovecot-imapd and dovecot-lmtpd, as root")
class ImapProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Back end 1: our own imapd (it offers STARTTLS: the proxy takes it).
        cls.ours = MailServer(users=("alice@localhost",), extra={"imap_plaintext_auth": "yes"})
        cls.ours.start("imapd")
        # Back end 2: a private Dovecot 2.3.
        cls.dovecot = DovecotBackend(users=("carol@example.test",))
        cls.dovecot.start()
        routes = ("alice@localhost: lmtp:[127.0.0.1]:24 imap:[127.0.0.1]:%d\n"
                  "example.test: lmtp:[127.0.0.1]:%d imap:[127.0.0.1]:%d\n"
                  "down@localhost: lmtp:[127.0.0.1]:24 imap:[127.0.0.1]:%d\n"
                  % (cls.ours.imap_port, cls.dovecot.lmtp_port, cls.dovecot.imap_port,
                     free_port()))
        cls.proxy = MailServer(users=("alice@localhost", "bob@localhost", "carol@example.test",
                                      "down@localhost"),
                               extra={"imap_plaintext_auth": "yes", "imap_proxy": "yes"})
        path = os.path.join(cls.proxy.dir, "routes")
        with open(path, "w") as f:
            f.write(routes)
        cls.proxy.conf["mailbox_routes"] = path
        cls.proxy.write_config()
        cls.proxy.start("imapd")
        # A second proxy that leaves the password check to the back end: carol has no
        # account here at all.
        cls.passthrough = MailServer(users=("bob@localhost",),
                                     extra={"imap_plaintext_auth": "yes", "imap_proxy": "yes",
                                            "imap_proxy_auth": "backend",
                                            "mailbox_routes": path})
        cls.passthrough.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.passthrough.close()
        cls.proxy.close()
        cls.dovecot.close()
        cls.ours.close()

    def test_login_reaches_our_back_end_over_starttls(self):
        direct = imap(self.ours.imap_port, "alice@localhost", source=None)
        direct.append("INBOX", None, None, MSG % (b"on-backend", b"on-backend"))
        direct.logout()
        c = imap(self.proxy.imap_port, "alice@localhost")
        try:
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK")
            typ, data = c.search(None, "HEADER", "Message-ID", "on-backend@example.org")
            self.assertEqual(len(data[0].split()), 1, data)
        finally:
            c.logout()
        log = self.proxy.log("imapd")
        self.assertIn("login user=alice@localhost, method=proxy, backend=[127.0.0.1]:%d (TLS)"
                      % self.ours.imap_port, log)
        # The back end saw a TLS session from the proxy.
        self.assertIn("TLS connection established", self.ours.log("imapd"))
        # Nothing of alice's is kept on the proxy host.
        self.assertFalse(os.path.exists(os.path.join(self.proxy.state_dir, "mail", "localhost",
                                                     "alice")))

    def test_login_reaches_dovecot_with_the_client_address(self):
        c = imap(self.proxy.imap_port, "carol@example.test")
        try:
            # A literal goes through the relay and lands in Dovecot's Maildir.
            typ, data = c.append("INBOX", None, None, MSG % (b"via-proxy", b"via-proxy"))
            self.assertEqual(typ, "OK", data)
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK")
        finally:
            c.logout()
        self.assertTrue(any(b"<via-proxy@example.org>" in m
                            for m in self.dovecot.messages("carol@example.test")))
        # Dovecot logged the real client (from ID), not the proxy's own address.
        log = wait_until(lambda: "rip=%s" % CLIENT_IP in self.dovecot.log() and self.dovecot.log(), 10)
        self.assertTrue(log, self.dovecot.log())
        self.assertIn("user=<carol@example.test>", log)

    def test_idle_through_the_proxy_sees_a_new_delivery(self):
        c = imap(self.proxy.imap_port, "alice@localhost")
        try:
            typ, data = c.select("INBOX")
            exists = int(data[0])
            tag = c._new_tag().decode()
            c.send(("%s IDLE\r\n" % tag).encode())
            self.assertTrue(c.readline().startswith(b"+"))
            direct = imap(self.ours.imap_port, "alice@localhost", source=None)
            direct.append("INBOX", None, None, MSG % (b"idle", b"idle"))
            direct.logout()
            c.sock.settimeout(15)
            line = c.readline()
            self.assertEqual(line.strip(), b"* %d EXISTS" % (exists + 1), line)
            c.send(b"DONE\r\n")
            while True:
                line = c.readline()
                if line.startswith(tag.encode()):
                    break
            self.assertIn(b"OK", line)
        finally:
            c.logout()

    def test_unrouted_user_is_served_here(self):
        c = imap(self.proxy.imap_port, "bob@localhost")
        try:
            typ, _ = c.select("INBOX")
            self.assertEqual(typ, "OK")
        finally:
            c.logout()
        self.assertIn("login user=bob@localhost, method=LOGIN", self.proxy.log("imapd"))

    def test_wrong_password_is_refused_at_the_proxy(self):
        before = self.dovecot.log().count("auth failed")
        c = imaplib.IMAP4("127.0.0.1", self.proxy.imap_port, timeout=30)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login("carol@example.test", "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        c.shutdown()
        self.assertIn("authentication failed for carol@example.test", self.proxy.log("imapd"))
        self.assertEqual(self.dovecot.log().count("auth failed"), before, "it reached Dovecot")

    def test_backend_auth_checks_the_password_at_the_back_end_only(self):
        c = imap(self.passthrough.imap_port, "carol@example.test")
        try:
            typ, _ = c.select("INBOX")
            self.assertEqual(typ, "OK")
        finally:
            c.logout()
        c = imaplib.IMAP4("127.0.0.1", self.passthrough.imap_port, timeout=30)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login("carol@example.test", "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        c.shutdown()
        self.assertIn("proxy authentication failed for carol@example.test",
                      self.passthrough.log("imapd"))

    def test_back_end_down_is_unavailable_not_a_bad_password(self):
        c = imaplib.IMAP4("127.0.0.1", self.proxy.imap_port, timeout=30)
        t0 = time.monotonic()
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login("down@localhost", PASSWORD)
        self.assertIn("UNAVAILABLE", str(e.exception))
        # The session stays usable (not logged in).
        typ, _ = c.noop()
        self.assertEqual(typ, "OK")
        c.shutdown()
        self.assertLess(time.monotonic() - t0, 30)
        self.assertIn("proxy for user=down@localhost", self.proxy.log("imapd"))


class ImapProxyTLSPolicyTest(unittest.TestCase):
    """relay_tls_policy_file's "[host]" line holds for the proxy's sessions to its back ends as
    for mtad's LMTP to them: under verify the back end must offer STARTTLS and present a
    certificate for its name from relay_tls_ca_file's CAs, or the password is never sent."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="proxy-ca-")
        ca = CA(cls.tmp)
        chain, key = ca.issue("backend", ["127.0.0.1"])
        # good: a certificate for 127.0.0.1 from the test CA; self: imapd's own self-signed one
        cls.good = MailServer(users=("alice@localhost",),
                              extra={"imap_plaintext_auth": "yes", "tls_cert": chain, "tls_key": key})
        cls.good.start("imapd")
        cls.self = MailServer(users=("bob@localhost",), extra={"imap_plaintext_auth": "yes"})
        cls.self.start("imapd")
        cls.dovecot = None
        routes = ("alice@localhost: lmtp:[127.0.0.1]:24 imap:[127.0.0.1]:%d\n"
                  "bob@localhost: lmtp:[127.0.0.1]:24 imap:[127.0.0.1]:%d\n"
                  % (cls.good.imap_port, cls.self.imap_port))
        if have_dovecot():  # a back end without STARTTLS
            cls.dovecot = DovecotBackend(users=("carol@example.test",))
            cls.dovecot.start()
            routes += "carol@example.test: lmtp:[127.0.0.1]:24 imap:[127.0.0.1]:%d\n" % cls.dovecot.imap_port
        cls.proxy = MailServer(users=("alice@localhost", "bob@localhost", "carol@example.test"),
                               extra={"imap_plaintext_auth": "yes", "imap_proxy": "yes",
                                      "relay_tls_ca_file": ca.cert})
        routes_path = os.path.join(cls.proxy.dir, "routes")
        policy_path = os.path.join(cls.proxy.dir, "tls_policy")
        with open(routes_path, "w") as f:
            f.write(routes)
        with open(policy_path, "w") as f:
            f.write("# the back ends\n[127.0.0.1] verify\n")
        cls.proxy.conf["mailbox_routes"] = routes_path
        cls.proxy.conf["relay_tls_policy_file"] = policy_path
        cls.proxy.write_config()
        cls.proxy.start("imapd")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        if cls.dovecot:
            cls.dovecot.close()
        cls.self.close()
        cls.good.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def refused(self, user):
        c = imaplib.IMAP4("127.0.0.1", self.proxy.imap_port, timeout=30)
        try:
            with self.assertRaises(imaplib.IMAP4.error) as e:
                c.login(user, PASSWORD)
            self.assertIn("UNAVAILABLE", str(e.exception))
        finally:
            c.shutdown()

    def test_verified_back_end_gets_the_login(self):
        c = imap(self.proxy.imap_port, "alice@localhost")
        try:
            self.assertEqual(c.select("INBOX")[0], "OK")
        finally:
            c.logout()
        self.assertIn("login user=alice@localhost, method=proxy, backend=[127.0.0.1]:%d "
                      "(TLS, verified), tls_policy=verify/file:2" % self.good.imap_port,
                      self.proxy.log("imapd"))

    def test_unverified_certificate_never_sees_the_password(self):
        self.refused("bob@localhost")
        log = self.proxy.log("imapd")
        self.assertIn("proxy for user=bob@localhost to [127.0.0.1]:%d failed: the back end's "
                      "certificate is not verified" % self.self.imap_port, log)
        # the back end heard CAPABILITY and STARTTLS, then the session ended without a LOGIN
        ended = wait_until(lambda: "user=- reason=TLS closed commands=2" in self.self.log("imapd"), 10)
        self.assertTrue(ended, self.self.log("imapd"))
        self.assertNotIn("bob@localhost", self.self.log("imapd"))

    @unittest.skipUnless(have_dovecot(), "needs Debian's dovecot-imapd, as root")
    def test_back_end_without_starttls_is_refused(self):
        before = self.dovecot.log().count("carol@example.test")
        self.refused("carol@example.test")
        self.assertIn("proxy for user=carol@example.test to [127.0.0.1]:%d failed: the back end "
                      "does not offer STARTTLS" % self.dovecot.imap_port, self.proxy.log("imapd"))
        self.assertEqual(self.dovecot.log().count("carol@example.test"), before)


if __name__ == "__main__":
    unittest.main()
