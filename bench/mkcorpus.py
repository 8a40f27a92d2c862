"""mkcorpus.py - writes a deterministic Maildir cur/ of N messages with a realistic mix of sizes and MIME shapes (the IMAP benchmark's folder)."""
import base64
import os
import random
import sys

WORDS = ("the a meeting report quarterly budget project invoice schedule review update team "
         "release notes draft plan customer order shipping delay question answer thanks please "
         "attached see below call tomorrow monday friday deadline server backup migration test "
         "results lunch travel hotel flight agenda minutes contract offer price discount").split()
NAMES = ("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
         "sybil trent victor walter").split()
DOMAINS = ("example.org example.com example.net lists.example.org corp.example").split()
NEEDLE = "quarterly report"


def words(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def text_body(rnd, size):
    lines, total = [], 0
    while total < size:
        line = words(rnd, rnd.randint(4, 12))
        lines.append(line)
        total += len(line) + 2
        if rnd.random() < 0.15:
            lines.append("")
    return "\r\n".join(lines) + "\r\n"


def qp_body(rnd, size):
    body = text_body(rnd, size)
    return body.replace("price", "Pr=C3=A9is").replace("hotel", "H=C3=B6tel")


def b64_blob(rnd, size):
    raw = rnd.randbytes(size)
    enc = base64.b64encode(raw).decode()
    return "\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\r\n"


def addr(rnd):
    n = rnd.choice(NAMES)
    return "%s <%s@%s>" % (n.capitalize(), n, rnd.choice(DOMAINS))


def headers(rnd, i, ctype, extra=()):
    subj = words(rnd, rnd.randint(2, 7))
    if rnd.random() < 0.01:
        subj = "Re: " + NEEDLE + " " + subj
    if rnd.random() < 0.1:
        subj = "=?UTF-8?Q?" + subj.replace(" ", "_") + "_=C3=A9t=C3=A9?="
    h = []
    for hop in range(rnd.randint(2, 4)):
        h.append("Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n"
                 "\tby mail.bench.test with ESMTPS id %08X%d\r\n"
                 "\tfor <user@bench.test>; Mon, 2 Mar 2026 10:%02d:%02d +0000"
                 % (hop, hop, rnd.randint(1, 254), rnd.getrandbits(32), hop, i % 60, hop))
    h.append("From: " + addr(rnd))
    h.append("To: User <user@bench.test>")
    if rnd.random() < 0.3:
        h.append("Cc: " + ", ".join(addr(rnd) for _ in range(rnd.randint(1, 4))))
    h.append("Subject: " + subj)
    h.append("Date: Mon, %d Mar 2026 %02d:%02d:%02d +0100" % (1 + i % 28, i % 24, i % 60, (i * 7) % 60))
    h.append("Message-ID: <%d.%08x@%s>" % (i, rnd.getrandbits(32), rnd.choice(DOMAINS)))
    if rnd.random() < 0.4:
        h.append("In-Reply-To: <%d.%08x@%s>" % (max(0, i - 5), rnd.getrandbits(32), rnd.choice(DOMAINS)))
    if rnd.random() < 0.2:
        h.append("List-Id: <team.lists.example.org>")
    h.append("MIME-Version: 1.0")
    h.extend(extra)
    h.append("Content-Type: " + ctype)
    return "\r\n".join(h) + "\r\n\r\n"


def message(rnd, i):
    r = rnd.random()
    size = int(min(rnd.lognormvariate(7.8, 0.8), 60000))  # median about 2.4 KB of text
    if r < 0.55:
        return headers(rnd, i, "text/plain; charset=us-ascii") + text_body(rnd, size)
    if r < 0.65:
        return (headers(rnd, i, "text/plain; charset=utf-8", ["Content-Transfer-Encoding: quoted-printable"])
                + qp_body(rnd, size))
    b = "alt%08x" % rnd.getrandbits(32)
    text = text_body(rnd, size)
    html = "<html><body><p>" + text.replace("\r\n\r\n", "</p><p>") + "</p></body></html>\r\n"
    alt = ("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s"
           "--%s\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n%s--%s--\r\n" % (b, text, b, html, b))
    if r < 0.85:
        return headers(rnd, i, 'multipart/alternative; boundary="%s"' % b) + alt
    m = "mix%08x" % rnd.getrandbits(32)
    att = int(min(rnd.lognormvariate(10.3, 1.0), 2_000_000))  # median about 30 KB
    kind = rnd.choice(("application/pdf", "image/jpeg", "application/zip"))
    parts = ["--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n%s" % (m, b, alt),
             "--%s\r\nContent-Type: %s; name=\"file%d\"\r\nContent-Disposition: attachment; "
             "filename=\"file%d\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s" % (m, kind, i, i, b64_blob(rnd, att))]
    if r > 0.97:
        inner = headers(rnd, i + 1, "text/plain; charset=us-ascii") + text_body(rnd, 800)
        parts.append("--%s\r\nContent-Type: message/rfc822\r\n\r\n%s" % (m, inner))
    return headers(rnd, i, 'multipart/mixed; boundary="%s"' % m) + "".join(parts) + "--%s--\r\n" % m


FLAGS = ["S"] * 70 + ["FS"] * 5 + ["RS"] * 10 + [""] * 15


def make(dest, n, seed=7):
    """Writes n messages into dest/cur (dest/new, dest/tmp created empty); returns total bytes."""
    rnd = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    total = 0
    for i in range(n):
        data = message(rnd, i).encode()
        name = "%d.M%06dP1.bench:2,%s" % (1772000000 + i, i, rnd.choice(FLAGS))
        with open(os.path.join(dest, "cur", name), "wb") as f:
            f.write(data)
        total += len(data)
    return total


if __name__ == "__main__":
    print(make(sys.argv[1], int(sys.argv[2])))
