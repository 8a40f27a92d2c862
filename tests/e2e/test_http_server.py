# test_http_server.py - mtad's HTTP listener (http_listen): a port in use stops start-up with exit 78 naming the config line; unknown paths and methods get 404/405.
import http.client
import socket
import subprocess
import unittest

import harness
from harness import MailServer, free_port


def config_line(path, key):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.split("=")[0].strip() == key:
                return n
    raise AssertionError("%s not in %s" % (key, path))


class HTTPListenerTest(unittest.TestCase):
    def test_port_in_use_stops_startup_naming_the_line(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        m = MailServer(extra={"http_listen": "127.0.0.1:%d" % port})
        try:
            r = subprocess.run([harness.binary("mtad"), "-c", m.config_path, "-f"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 78, r.stderr)
            line = config_line(m.config_path, "http_listen")
            self.assertIn("%s:%d: http_listen: cannot listen on 127.0.0.1:%d: Address already in use"
                          % (m.config_path, line, port), r.stderr)
            # Nothing else was left listening: the SMTP port is free again.
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", m.smtp_port)), 0)
        finally:
            holder.close()
            m.close()

    def test_unknown_path_and_method(self):
        m = MailServer(extra={"http_listen": "127.0.0.1:%d" % free_port()})
        try:
            m.start("mtad")
            port = int(m.conf["http_listen"].rsplit(":", 1)[1])
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/no/such/thing")
            r = c.getresponse()
            self.assertEqual(r.status, 404)
            r.read()
            c.request("PUT", "/no/such/thing", body=b"x")
            r = c.getresponse()
            self.assertEqual(r.status, 405)
            r.read()
            c.close()
            self.assertEqual(m.stop("mtad"), 0)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
