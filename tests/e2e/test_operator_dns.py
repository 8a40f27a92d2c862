# test_operator_dns.py - mailctl dns prints the records a domain needs; --check judges what a real dnsmasq publishes.
import base64
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import DNSServer, MailServer, binary


def sh(cmd, data=None):
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


class OperatorDNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dnstest-")
        d = cls.dir
        cls.cert, cls.key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", cls.key, "-out", cls.cert, "-days", "2",
            "-subj", "/CN=mail.example.test"])
        # What docs/milters.md's OpenDKIM recipe leaves behind: a key and opendkim.conf.
        cls.dkim_key = os.path.join(d, "mail2026.private")
        sh(["openssl", "genrsa", "-out", cls.dkim_key, "2048"])
        cls.opendkim_conf = os.path.join(d, "opendkim.conf")
        with open(cls.opendkim_conf, "w") as f:
            f.write("Mode s\nDomain example.test\nSelector mail2026\nKeyFile %s\n"
                    "Socket inet:8891@127.0.0.1\n" % cls.dkim_key)
        cls.srv = MailServer(extra={
            "hostname": "mail.example.test", "domains": "example.test",
            "tls_cert": cls.cert, "tls_key": cls.key, "opendkim_conf": cls.opendkim_conf,
            "submissions_listen": ""})  # off: its SRV record says "not offered"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.srv.dir, ignore_errors=True)

    def mailctl(self, *args, dns_port=None):
        conf = self.srv.config_path
        if dns_port:
            self.srv.conf["dns_servers"] = "127.0.0.1:%d" % dns_port
            self.srv.write_config()
        return subprocess.run([binary("mailctl"), "-c", conf] + list(args),
                              capture_output=True, text=True, timeout=60)

    def records(self):
        """The printed zone lines: (name, type, rdata text as printed)."""
        r = self.mailctl("dns", "example.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = []
        for line in r.stdout.splitlines():
            if not line or line.startswith(";"):
                continue
            name, ttl, cls_, typ, rdata = line.split(None, 4)
            self.assertEqual((ttl, cls_), ("3600", "IN"), line)
            out.append((name, typ, rdata))
        return r.stdout, out

    def test_printed_records_are_ready_to_paste(self):
        text, recs = self.records()
        by = {(n, t): v for n, t, v in recs}
        self.assertEqual(by[("example.test.", "MX")], "10 mail.example.test.")
        self.assertEqual(by[("example.test.", "TXT")], '"v=spf1 mx -all"')
        self.assertIn("v=DMARC1", by[("_dmarc.example.test.", "TXT")])
        self.assertRegex(by[("_mta-sts.example.test.", "TXT")], r'^"v=STSv1; id=[0-9a-f]{1,32}"$')
        self.assertEqual(by[("_smtp._tls.example.test.", "TXT")],
                         '"v=TLSRPTv1; rua=mailto:postmaster@example.test"')
        # TLSA 3 1 1: what the openssl pipeline of every DANE how-to computes.
        spki = sh(["openssl", "x509", "-in", self.cert, "-noout", "-pubkey"])
        der = sh(["openssl", "pkey", "-pubin", "-outform", "DER"], spki)
        import hashlib
        self.assertEqual(by[("_25._tcp.mail.example.test.", "TLSA")],
                         "3 1 1 " + hashlib.sha256(der).hexdigest())
        # DKIM: the public half of OpenDKIM's key, split into strings of at most 255 octets.
        pub = base64.b64encode(sh(["openssl", "rsa", "-in", self.dkim_key, "-pubout",
                                   "-outform", "DER"])).decode()
        dkim = by[("mail2026._domainkey.example.test.", "TXT")]
        strings = re.findall(r'"([^"]*)"', dkim)
        self.assertGreater(len(strings), 1)
        self.assertTrue(all(len(s) <= 255 for s in strings))
        self.assertEqual("".join(strings), "v=DKIM1; k=rsa; p=" + pub)
        # RFC 6186 SRV from the listeners; an unset listener is "not offered".
        self.assertEqual(by[("_submission._tcp.example.test.", "SRV")],
                         "0 1 %d mail.example.test." % self.srv.submission_port)
        self.assertEqual(by[("_submissions._tcp.example.test.", "SRV")], "0 0 0 .")
        self.assertEqual(by[("_imap._tcp.example.test.", "SRV")],
                         "0 1 %d mail.example.test." % self.srv.imap_port)
        self.assertEqual(by[("_imaps._tcp.example.test.", "SRV")],
                         "0 1 %d mail.example.test." % self.srv.imaps_port)
        for n in ("autoconfig", "autodiscover", "mta-sts"):
            self.assertEqual(by[("%s.example.test." % n, "CNAME")], "mail.example.test.")
        self.assertIn("; PTR:", text)
        self.assertIn(";   version: STSv1", text)
        self.assertIn(";   mx: mail.example.test", text)

    def test_unknown_domain_exits_65(self):
        r = self.mailctl("dns", "example.org")
        self.assertEqual(r.returncode, 65)
        self.assertIn("example.org is not one of the local domains", r.stderr)
        self.assertEqual(r.stdout, "")

    @staticmethod
    def dnsmasq_options(recs, skip=()):
        """The printed records as dnsmasq serves them, as an operator would paste them."""
        opts = ["--host-record=mail.example.test,127.0.0.1"]
        for name, typ, rdata in recs:
            if (name, typ) in skip:
                continue
            n = name.rstrip(".")
            if typ == "MX":
                pref, target = rdata.split()
                opts.append("--mx-host=%s,%s,%s" % (n, target.rstrip("."), pref))
            elif typ == "TXT":
                # one dnsmasq argument per character-string (no quotes on its command line)
                opts.append("--txt-record=%s,%s" % (n, ",".join(re.findall(r'"([^"]*)"', rdata))))
            elif typ == "CNAME":
                opts.append("--cname=%s,%s" % (n, rdata.rstrip(".")))
            elif typ == "SRV":
                prio, weight, port, target = rdata.split()
                if target == ".":  # "not offered": dnsmasq's SRV without a target
                    opts.append("--srv-host=%s" % n)
                else:
                    opts.append("--srv-host=%s,%s,%s,%s,%s" % (n, target.rstrip("."), port,
                                                                 prio, weight))
            elif typ == "TLSA":
                u, s, m, h = rdata.split()
                opts.append("--dns-rr=%s,52,%02x%02x%02x%s" % (n, int(u), int(s), int(m), h))
        return opts

    def test_check_all_published(self):
        _, recs = self.records()
        dns = DNSServer(self.dnsmasq_options(recs))
        try:
            r = self.mailctl("dns", "--check", "example.test", dns_port=dns.port)
        finally:
            dns.close()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"(?m)^(MISSING|WRONG)")
        self.assertRegex(r.stdout, r"(?m)^ok +TLSA +_25\._tcp\.mail\.example\.test\. TLSA$")
        self.assertRegex(r.stdout, r"(?m)^ok +DKIM +mail2026\._domainkey\.example\.test\. TXT$")
        self.assertRegex(r.stdout, r"(?m)^ok +PTR +127\.0\.0\.1 PTR mail\.example\.test\.$")
        self.assertRegex(r.stdout, r"(?m)^ok +SRV +_submissions\._tcp\.example\.test\. SRV$")
        self.assertIn("-- all ", r.stdout)

    def test_check_reports_missing_and_wrong(self):
        _, recs = self.records()
        wrong = []
        for name, typ, rdata in recs:
            if typ == "MX":
                rdata = "10 other.example.test."
            elif typ == "TLSA":
                rdata = "3 1 1 " + "00" * 32
            elif name == "example.test." and typ == "TXT":
                rdata = '"v=spf1 -all"'
            wrong.append((name, typ, rdata))
        opts = self.dnsmasq_options(wrong, skip={("mail2026._domainkey.example.test.", "TXT"),
                                                 ("_dmarc.example.test.", "TXT")})
        opts.append("--host-record=other.example.test,127.0.0.2")
        dns = DNSServer(opts)
        try:
            r = self.mailctl("dns", "--check", "example.test", dns_port=dns.port)
        finally:
            dns.close()
        self.assertEqual(r.returncode, 1, r.stdout)
        out = r.stdout
        self.assertRegex(out, r"(?m)^WRONG +MX +example\.test\. MX: found \"10 other\.example\.test\.\"")
        self.assertRegex(out, r"(?m)^WRONG +TLSA +_25\._tcp\.mail\.example\.test\. TLSA: found \"3 1 1 0{64}\"")
        self.assertRegex(out, r"(?m)^WRONG +SPF +example\.test\. TXT: found \"v=spf1 -all\"")
        self.assertRegex(out, r"(?m)^MISSING +DKIM +mail2026\._domainkey\.example\.test\. TXT")
        self.assertRegex(out, r"(?m)^MISSING +DMARC +_dmarc\.example\.test\. TXT")
        self.assertRegex(out, r"(?m)^ok +TLS-RPT ")
        self.assertIn("5 records missing or wrong", out)


if __name__ == "__main__":
    unittest.main()
