# tlsworld.py - a DNSSEC-signed test root on loopback (knotd), a resolver in front (unbound), a test CA and STARTTLS sinks, for the outbound TLS tests.
"""Everything is built once per test module, in a temporary directory:

  - a test CA and server certificates (openssl);
  - a root zone "." signed with ldns-signzone (one key; its DNSKEY is the trust anchor mtad gets
    as dnssec_trust_anchor), with records chosen per domain, some signatures made bogus on
    purpose, and an unsigned delegation (insecure.example) served by the same knotd;
  - unbound as the recursive resolver of dns_servers (iterator only: it passes answers and
    signatures through, mtad's libunbound validates them);
  - SMTP sinks on 127.0.0.x sharing one port (relay_port);
  - an HTTPS server (Python ssl) for MTA-STS policies and TLS-RPT uploads (PolicyServer).
"""
import base64
import hashlib
import http.server
import os
import socket
import subprocess
import ssl
import tempfile
import threading

from harness import SMTPSink, free_port, wait_until


def _is_ip(name):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        return True
    except OSError:
        return False


def _run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


class CA:
    """A test CA issuing EC certificates with subjectAltNames."""

    def __init__(self, d):
        self.d = d
        self.key = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "ca.pem")
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "30",
              "-subj", "/CN=Test Mail CA", "-addext", "basicConstraints=critical,CA:true",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def issue(self, name, sans):
        """Returns (chain_path, key_path): the leaf followed by the CA certificate."""
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        leaf = os.path.join(self.d, name + ".leaf.pem")
        chain = os.path.join(self.d, name + ".pem")
        ext = os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(("IP:" if _is_ip(s) else "DNS:") + s
                                                 for s in sans) + "\n")
        _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + sans[0]])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
              "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", leaf])
        with open(chain, "w") as out, open(leaf) as a, open(self.cert) as b:
            out.write(a.read() + b.read())
        return chain, key


def cert_der(pem_path):
    """DER of the first certificate in a PEM file."""
    with open(pem_path) as f:
        text = f.read()
    b64 = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(b64.split()))


def spki_der(pem_path):
    leaf = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
    leaf.write("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n"
               % base64.b64encode(cert_der(pem_path)).decode())
    leaf.close()
    pub = _run(["openssl", "x509", "-in", leaf.name, "-noout", "-pubkey"]).stdout
    os.unlink(leaf.name)
    return _run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub).stdout


def tlsa(usage, selector, mtype, pem_path):
    """TLSA RDATA text for the first certificate of pem_path."""
    data = cert_der(pem_path) if selector == 0 else spki_der(pem_path)
    digest = hashlib.sha256(data) if mtype == 1 else hashlib.sha512(data)
    return "%d %d %d %s" % (usage, selector, mtype, digest.hexdigest())


class DNSSECWorld:
    """knotd serving a signed root, unbound in front; records given as zone-file lines."""

    def __init__(self, d, records, bogus_owners=(), insecure_records=()):
        self.d = d
        self.knot_port = free_port()
        self.port = free_port()
        self.procs = []
        self._sign(records, bogus_owners)
        with open(os.path.join(d, "insecure.zone"), "w") as f:
            f.write("$ORIGIN insecure.example.\n$TTL 300\n"
                    "@ SOA ns.insecure.example. hostmaster.insecure.example. 1 3600 600 86400 300\n"
                    "@ NS ns.insecure.example.\nns A 127.0.0.1\n" + "\n".join(insecure_records) + "\n")
        self._start_knot()
        self._start_unbound()

    def _sign(self, records, bogus_owners):
        d = self.d
        zone = os.path.join(d, "root.zone")
        with open(zone, "w") as f:
            f.write("$TTL 300\n"
                    ". SOA ns. hostmaster. 1 3600 600 86400 300\n"
                    ". NS ns.\nns. A 127.0.0.1\n"
                    # the unsigned delegation: NS and glue, no DS
                    "insecure.example. NS ns.insecure.example.\nns.insecure.example. A 127.0.0.1\n"
                    + "\n".join(records) + "\n")
        base = _run(["ldns-keygen", "-k", "-a", "ECDSAP256SHA256", "."], cwd=d).stdout.decode().strip()
        _run(["ldns-signzone", "-f", zone + ".signed", zone, base], cwd=d)
        self.trust_anchor = os.path.join(d, "root.anchor")
        with open(os.path.join(d, base + ".key")) as f, open(self.trust_anchor, "w") as out:
            out.write(f.read())
        # A bogus signature: flip bytes in the RRSIGs of the named owners (all their RRsets).
        with open(zone + ".signed") as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            parts = line.split()
            if len(parts) > 4 and parts[3] == "RRSIG" and parts[0] in bogus_owners and parts[4] != "NSEC":
                sig = base64.b64decode(parts[-1])
                sig = bytes([sig[0] ^ 0xff]) + sig[1:]
                line = " ".join(parts[:-1] + [base64.b64encode(sig).decode()])
            out.append(line)
        with open(zone + ".signed", "w") as f:
            f.write("\n".join(out) + "\n")

    def _start_knot(self):
        d = self.d
        conf = os.path.join(d, "knot.conf")
        with open(conf, "w") as f:
            f.write("server:\n  rundir: %s\n  listen: 127.0.0.1@%d\n  udp-workers: 1\n"
                    "  tcp-workers: 1\n  background-workers: 1\n"
                    "database:\n  storage: %s\n"
                    "log:\n  - target: stderr\n    any: warning\n"
                    "zone:\n  - domain: .\n    file: %s\n    storage: %s\n"
                    "  - domain: insecure.example\n    file: %s\n    storage: %s\n"
                    % (d, self.knot_port, d, os.path.join(d, "root.zone.signed"), d,
                       os.path.join(d, "insecure.zone"), d))
        self.knot_log = open(os.path.join(d, "knot.log"), "w")
        self.procs.append(subprocess.Popen(["knotd", "-c", conf], stdout=self.knot_log,
                                           stderr=subprocess.STDOUT))
        if not wait_until(lambda: self._answers(self.knot_port), 10):
            self.close()
            raise RuntimeError("knotd did not start (see %s/knot.log)" % d)

    def _start_unbound(self):
        d = self.d
        conf = os.path.join(d, "unbound.conf")
        with open(conf, "w") as f:
            f.write('server:\n  interface: 127.0.0.1\n  port: %d\n  username: ""\n'
                    '  chroot: ""\n  directory: "%s"\n  pidfile: ""\n  use-syslog: no\n'
                    '  logfile: ""\n  verbosity: 0\n  do-not-query-localhost: no\n'
                    '  module-config: "iterator"\n  qname-minimisation: no\n'
                    '  num-threads: 1\n  do-ip6: no\n  cache-max-ttl: 5\n'
                    'remote-control:\n  control-enable: no\n'
                    'stub-zone:\n  name: "."\n  stub-addr: 127.0.0.1@%d\n'
                    'stub-zone:\n  name: "insecure.example"\n  stub-addr: 127.0.0.1@%d\n'
                    % (self.port, d, self.knot_port, self.knot_port))
        self.unbound_log = open(os.path.join(d, "unbound.log"), "w")
        self.procs.append(subprocess.Popen(["unbound", "-d", "-c", conf], stdout=self.unbound_log,
                                           stderr=subprocess.STDOUT))
        if not wait_until(lambda: self._answers(self.port), 10):
            self.close()
            raise RuntimeError("unbound did not start (see %s/unbound.log)" % d)

    @staticmethod
    def _answers(port):
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x01"  # . SOA
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", port))
                return len(s.recv(512)) > 0
            except OSError:
                return False

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in (getattr(self, "knot_log", None), getattr(self, "unbound_log", None)):
            if log:
                log.close()


def sinks_port():
    """One port free on every loopback address the sinks use."""
    for _ in range(20):
        port = free_port("127.0.0.2")
        ok = True
        for i in range(2, 12):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.%d" % i, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port for the sinks")


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        domain = self.headers.get("Host", "").split(":")[0][len("mta-sts."):]
        text = self.server.policies.get(domain)
        self.server.requests.append((domain, self.path))
        if self.path != "/.well-known/mta-sts.txt" or text is None:
            self.send_error(404)
            return
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class PolicyServer:
    """HTTPS on host:port with a certificate of the test CA: GET /.well-known/mta-sts.txt
    answers policies[DOMAIN] for Host mta-sts.DOMAIN (404 when None or missing; the dict may
    change while it runs), POST records (path, content type, body) in posts."""

    def __init__(self, host, port, chain_key, policies):
        self.httpd = http.server.ThreadingHTTPServer((host, port), _PolicyHandler)
        self.httpd.policies = policies
        self.requests = self.httpd.requests = []  # (domain, path) of every GET
        self.posts = self.httpd.posts = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*chain_key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def fetches(self, domain):
        return sum(1 for d, _ in self.requests if d == domain)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
