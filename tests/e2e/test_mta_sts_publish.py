# test_mta_sts_publish.py - mtad serves its own MTA-STS policy on http_listen, the same text (so the same id) that mailctl dns prints.
import hashlib
import http.client
import re
import subprocess
import unittest

from harness import MailServer, binary, free_port


class MtaStsPublishTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = free_port()
        cls.m = MailServer(extra={"hostname": "mail.example.test", "domains": "example.test",
                                  "http_listen": "127.0.0.1:%d" % cls.http_port})
        cls.m.start("mtad")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def get(self, method, path, host="mta-sts.example.test"):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        c.request(method, path, headers={"Host": host})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Content-Type"), data

    def test_policy_matches_mailctl_dns(self):
        status, ctype, body = self.get("GET", "/.well-known/mta-sts.txt")
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype.split(";")[0], "text/plain")
        text = body.decode()
        # a self-signed certificate (generated at first start): testing until it is CA-signed
        self.assertEqual(text, "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\n"
                               "max_age: %s\r\n" % re.search(r"max_age: (\d+)", text).group(1))
        r = subprocess.run([binary("mailctl"), "-c", self.m.config_path, "dns", "example.test"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the printed policy lines are the served text, and the TXT id is derived from it
        printed = re.findall(r"^;   (\w+: .*)$", r.stdout, re.M)
        self.assertEqual(printed, text.rstrip("\r\n").split("\r\n"))
        txt_id = re.search(r'_mta-sts\.example\.test\..*"v=STSv1; id=([0-9a-f]+)"', r.stdout).group(1)
        self.assertEqual(txt_id, hashlib.sha256(body).hexdigest()[:20])

    def test_head_and_other_paths(self):
        status, ctype, body = self.get("HEAD", "/.well-known/mta-sts.txt")
        self.assertEqual((status, body), (200, b""))
        status, _, _ = self.get("GET", "/.well-known/mta-sts.txt.bak")
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main()
