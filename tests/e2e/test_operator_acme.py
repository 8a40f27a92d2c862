# test_operator_acme.py - acme = yes: mtad gets its certificate from a real Pebble (http-01 on http_listen) and serves it without a restart; an unreachable ACME server keeps the old one.
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest
import urllib.request

from harness import DNSServer, MailServer, free_port, port_accepts, wait_until

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
NAMES = ("mail.example.test", "mta-sts.example.test", "autoconfig.example.test")


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def starttls_cert(port, ctx, name=None):
    """The certificate mtad presents after STARTTLS on port, as ctx verifies it for name."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.test")
        code, _ = s.docmd("STARTTLS")
        assert code == 220, code
        tls = ctx.wrap_socket(s.sock, server_hostname=name)
        try:
            return tls.getpeercert(), tls.getpeercert(binary_form=True)
        finally:
            tls.close()
            s.sock = None


def cert_pem(path):
    with open(path) as f:
        return f.read()


@unittest.skipUnless(os.path.exists(PEBBLE), "pebble is not installed")
class OperatorACME(unittest.TestCase):
    def server(self, directory, ca_file):
        http_port = free_port()
        srv = MailServer(extra={
            "hostname": "mail.example.test", "domains": "example.test",
            "acme": "yes", "acme_directory": directory, "acme_ca_file": ca_file,
            "acme_email": "admin@example.test", "http_listen": "127.0.0.1:%d" % http_port})
        self.addCleanup(srv.close)
        return srv, http_port

    def pebble_tls(self, d):
        """A CA and a localhost certificate for Pebble's own HTTPS (Debian ships none)."""
        ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        key, csr, cert = (os.path.join(d, n) for n in ("pebble.key", "pebble.csr", "pebble.pem"))
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test ACME CA"])
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
             "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
        for p in (ca, cert, key):
            os.chmod(p, 0o644)
        return ca, cert, key

    def pebble(self, names_in_dns):
        """A Pebble whose VA resolves names_in_dns (to 127.0.0.1) through a dnsmasq, and an
        mtad configuration pointing at it. Returns (server, Pebble's management port)."""
        dns = DNSServer(["--host-record=%s,127.0.0.1" % n for n in names_in_dns])
        self.addCleanup(dns.close)
        acme_port, mgmt_port = free_port(), free_port()
        srv, http_port = self.server("https://127.0.0.1:%d/dir" % acme_port, "")
        ca, cert, key = self.pebble_tls(srv.dir)
        self.pebble_ca = ca
        srv.conf["acme_ca_file"] = ca
        srv.write_config()
        conf = os.path.join(srv.dir, "pebble.json")
        with open(conf, "w") as f:
            json.dump({"pebble": {
                "listenAddress": "127.0.0.1:%d" % acme_port,
                "managementListenAddress": "127.0.0.1:%d" % mgmt_port,
                "certificate": cert, "privateKey": key,
                "httpPort": http_port, "tlsPort": free_port(),
                "ocspResponderURL": "", "externalAccountBindingRequired": False}}, f)
        log = open(os.path.join(srv.dir, "pebble.log"), "wb")
        pebble = subprocess.Popen([PEBBLE, "-config", conf, "-dnsserver", "127.0.0.1:%d" % dns.port],
                                  stdout=log, stderr=log, env=dict(os.environ, PEBBLE_VA_NOSLEEP="1"))
        self.addCleanup(lambda: (pebble.terminate(), pebble.wait(10), log.close()))
        self.assertTrue(wait_until(lambda: port_accepts(acme_port), timeout=20), "pebble did not start")
        return srv, mgmt_port

    def wait_installed(self, srv):
        ok = wait_until(lambda: "acme: installed a new certificate" in srv.log(), timeout=60)
        with open(os.path.join(srv.dir, "pebble.log"), errors="replace") as f:
            self.assertTrue(ok, srv.log()[-3000:] + f.read()[-3000:])

    def pebble_ctx(self, mgmt_port):
        """A client context trusting Pebble's issuing root (from its management API)."""
        https = ssl.create_default_context(cafile=self.pebble_ca)
        root = urllib.request.urlopen("https://127.0.0.1:%d/roots/0" % mgmt_port,
                                      context=https, timeout=10).read().decode()
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cadata=root)
        return ctx

    def served_sans(self, srv, mgmt_port):
        """The DNS names of the certificate STARTTLS presents, verified for hostname."""
        peer, _ = starttls_cert(srv.submission_port, self.pebble_ctx(mgmt_port), "mail.example.test")
        self.assertIn("Pebble", str(peer["issuer"]))
        return sorted(v for k, v in peer["subjectAltName"] if k == "DNS")

    def test_certificate_issued_and_served(self):
        srv, mgmt_port = self.pebble(NAMES)
        srv.start("mtad")
        srv.start("imapd")
        self.wait_installed(srv)
        self.assertEqual(self.served_sans(srv, mgmt_port), sorted(NAMES))
        # imapd serves the same pair: it follows the renewed file by itself.
        ctx = self.pebble_ctx(mgmt_port)

        def imaps_verified():
            try:
                with socket.create_connection(("127.0.0.1", srv.imaps_port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="mail.example.test"):
                        return True
            except ssl.SSLError:
                return False
        self.assertTrue(wait_until(imaps_verified, timeout=10), srv.log("imapd")[-2000:])
        self.assertIn("changed: reloading it", srv.log("imapd"))
        # The certificate key stayed: a TLSA 3 1 1 record stays valid across renewals.
        cert_path = os.path.join(srv.state_dir, "tls", "cert.pem")
        key_path = os.path.join(srv.state_dir, "tls", "key.pem")
        spki = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                              capture_output=True, check=True).stdout
        pub = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout"],
                             capture_output=True, check=True).stdout
        self.assertEqual(spki, pub)
        self.assertEqual(srv.stop("mtad"), 0)

    def test_hostname_alone_when_other_names_fail(self):
        srv, mgmt_port = self.pebble(NAMES[:1])  # no DNS for mta-sts. and autoconfig.
        srv.start("mtad")
        self.wait_installed(srv)
        self.assertIn("asking for mail.example.test alone", srv.log())
        self.assertEqual(self.served_sans(srv, mgmt_port), ["mail.example.test"])
        self.assertEqual(srv.stop("mtad"), 0)

    def test_unreachable_acme_server_keeps_certificate(self):
        port = free_port()  # nobody listens there
        srv, _ = self.server("https://127.0.0.1:%d/dir" % port, "")
        del srv.conf["acme_ca_file"]
        srv.write_config()
        srv.start("mtad")
        cert_path = os.path.join(srv.state_dir, "tls", "cert.pem")
        self.assertTrue(wait_until(lambda: "acme: no new certificate" in srv.log(), timeout=30), srv.log())
        line = [l for l in srv.log().splitlines() if "acme: no new certificate" in l][0]
        self.assertIn("127.0.0.1:%d" % port, line)
        self.assertIn("keeping the current one", line)
        before = cert_pem(cert_path)
        # still serving the same (self-signed) pair
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        _, der = starttls_cert(srv.submission_port, ctx)
        self.assertEqual(ssl.DER_cert_to_PEM_cert(der).strip(), before.strip().split("-----END CERTIFICATE-----")[0].strip() + "\n-----END CERTIFICATE-----")
        self.assertEqual(srv.stop("mtad"), 0)


if __name__ == "__main__":
    unittest.main()
