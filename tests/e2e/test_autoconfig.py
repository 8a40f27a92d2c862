# test_autoconfig.py - mtad's http_listen answers Thunderbird autoconfig and Outlook autodiscover with the configured hostname and ports, escaping what it echoes.
import http.client
import unittest
import xml.etree.ElementTree as ET

from harness import MailServer, free_port

AD_REQ = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AD_RESP = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def outlook_request(address):
    return ('<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="%s">\r\n<Request>\r\n'
            "<EMailAddress>%s</EMailAddress>\r\n<AcceptableResponseSchema>"
            "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
            "</AcceptableResponseSchema>\r\n</Request>\r\n</Autodiscover>\r\n" % (AD_REQ, address))


class AutoconfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = free_port()
        cls.m = MailServer(extra={"hostname": "mail.example.test",
                                  "http_listen": "127.0.0.1:%d" % cls.http_port})
        cls.m.start("mtad")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        c.request(method, path, body=body, headers={"Content-Type": "text/xml"} if body else {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Content-Type"), data

    def check_thunderbird(self, path):
        status, ctype, data = self.request("GET", path)
        self.assertEqual(status, 200, data)
        self.assertTrue(ctype.startswith("application/xml"), ctype)
        root = ET.fromstring(data)
        self.assertEqual(root.tag, "clientConfig")
        provider = root.find("emailProvider")
        self.assertEqual(provider.get("id"), "example.test")
        self.assertEqual(provider.findtext("domain"), "example.test")
        incoming = {(s.findtext("socketType"), int(s.findtext("port"))): s.findtext("hostname")
                    for s in provider.findall("incomingServer") if s.get("type") == "imap"}
        outgoing = {(s.findtext("socketType"), int(s.findtext("port"))): s.findtext("hostname")
                    for s in provider.findall("outgoingServer") if s.get("type") == "smtp"}
        self.assertEqual(incoming, {("SSL", self.m.imaps_port): "mail.example.test",
                                    ("STARTTLS", self.m.imap_port): "mail.example.test"})
        self.assertEqual(outgoing, {("SSL", self.m.submissions_port): "mail.example.test",
                                    ("STARTTLS", self.m.submission_port): "mail.example.test"})
        for s in provider.findall("incomingServer") + provider.findall("outgoingServer"):
            self.assertEqual(s.findtext("username"), "%EMAILADDRESS%")

    def test_thunderbird_autoconfig(self):
        self.check_thunderbird("/mail/config-v1.1.xml?emailaddress=carol%40example.test")

    def test_thunderbird_well_known(self):
        self.check_thunderbird("/.well-known/autoconfig/mail/config-v1.1.xml"
                               "?emailaddress=carol%40example.test")

    def test_outlook_autodiscover(self):
        status, ctype, data = self.request("POST", "/autodiscover/autodiscover.xml",
                                           outlook_request("carol@example.test"))
        self.assertEqual(status, 200, data)
        account = ET.fromstring(data).find(AD_RESP + "Response/" + AD_RESP + "Account")
        self.assertEqual(account.findtext(AD_RESP + "Action"), "settings")
        protos = [(p.findtext(AD_RESP + "Type"), p.findtext(AD_RESP + "Server"),
                   int(p.findtext(AD_RESP + "Port")), p.findtext(AD_RESP + "LoginName"))
                  for p in account.findall(AD_RESP + "Protocol")]
        self.assertEqual(protos, [
            ("IMAP", "mail.example.test", self.m.imaps_port, "carol@example.test"),
            ("IMAP", "mail.example.test", self.m.imap_port, "carol@example.test"),
            ("SMTP", "mail.example.test", self.m.submissions_port, "carol@example.test"),
            ("SMTP", "mail.example.test", self.m.submission_port, "carol@example.test"),
        ])

    def test_outlook_autodiscover_escapes_the_address(self):
        status, _, data = self.request("POST", "/Autodiscover/Autodiscover.xml",
                                       outlook_request("x&amp;&quot;&gt;y@example.test"))
        self.assertEqual(status, 200, data)
        self.assertNotIn(b'x&">y', data)
        root = ET.fromstring(data)  # still well-formed
        logins = [e.text for e in root.iter(AD_RESP + "LoginName")]
        self.assertEqual(set(logins), {'x&">y@example.test'})

    def test_outlook_autodiscover_without_address(self):
        status, _, _ = self.request("POST", "/autodiscover/autodiscover.xml",
                                    "<Autodiscover><Request></Request></Autodiscover>")
        self.assertEqual(status, 400)
        status, _, _ = self.request("GET", "/autodiscover/autodiscover.xml")
        self.assertEqual(status, 405)


if __name__ == "__main__":
    unittest.main()
