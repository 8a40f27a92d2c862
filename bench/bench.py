"""bench.py - runs the same SMTP, relay, memory and IMAP workloads against our mtad/imapd and a private Postfix/Dovecot in one run, alternating, and prints medians, min-max and ours/theirs ratios."""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imapclient  # noqa: E402
import imapload  # noqa: E402
import mkcorpus  # noqa: E402
import servers as S  # noqa: E402

SENDER = "sender@example.org"
REMOTE_RCPT = "someone@sink.example"


class Results:
    """rows: key -> {"label", "unit", "better", "ours": [..], "theirs": [..]}; keeps the order of first use."""

    def __init__(self):
        self.rows = {}
        self.notes = []

    def add(self, key, label, unit, better, side, value):
        row = self.rows.setdefault(key, {"label": label, "unit": unit, "better": better,
                                         "ours": [], "theirs": []})
        row[side].append(value)

    @staticmethod
    def fmt(vals):
        if not vals:
            return "-"
        med = statistics.median(vals)
        if len(vals) == 1:
            return num(med)
        return "%s (%s-%s)" % (num(med), num(min(vals)), num(max(vals)))

    def table(self):
        lines = ["| workload | unit | ours: median (min-max) | theirs: median (min-max) | ours/theirs |",
                 "|---|---|---|---|---|"]
        for row in self.rows.values():
            o, t = row["ours"], row["theirs"]
            ratio = "-"
            if o and t and statistics.median(t):
                r = statistics.median(o) / statistics.median(t)
                good = (r >= 1) if row["better"] == "higher" else (r <= 1)
                ratio = "%.2f%s" % (r, "" if good else " (worse)")
            lines.append("| %s | %s (%s better) | %s | %s | %s |" % (
                row["label"], row["unit"], row["better"], self.fmt(o), self.fmt(t), ratio))
        return "\n".join(lines)


def num(v):
    if v >= 1000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3g" % v


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- SMTP

def smtp_source(port, n, conc, size, reuse, rcpt):
    cmd = ["smtp-source", "-s", str(conc), "-m", str(n), "-l", str(size), "-f", SENDER, "-t", rcpt,
           "-M", "client.example.org"]
    if reuse:
        cmd.append("-d")
    cmd.append("127.0.0.1:%d" % port)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed: %s" % r.stdout.decode(errors="replace")[-500:])


def run_smtp(srv, n, conc, size, reuse, relay):
    """One measurement: returns (accept seconds, end-to-end seconds, CPU seconds of the server)."""
    new = os.path.join(srv.maildir(), "new")
    S.stash_dir(new)
    if not S.wait_until(lambda: srv.queue_count() == 0, timeout=120):
        raise RuntimeError("%s: queue not empty before the run" % srv.name)
    cpu0 = srv.cpu_ns()
    t0 = time.perf_counter()
    smtp_source(srv.smtp_port, n, conc, size, reuse, REMOTE_RCPT if relay else S.USER)
    t_acc = time.perf_counter() - t0
    if relay:
        done = S.wait_until(lambda: srv.queue_count() == 0, timeout=600, interval=0.01)
    else:
        done = S.wait_until(lambda: S.count_files(new) >= n, timeout=600, interval=0.01)
    t_e2e = time.perf_counter() - t0
    if not done:
        raise RuntimeError("%s: %d of %d messages arrived" % (srv.name, S.count_files(new), n))
    # let trailing work (queue file removal, Postfix's qmgr bookkeeping) finish inside the CPU figure
    S.wait_until(lambda: srv.queue_count() == 0, timeout=120)
    cpu = (srv.cpu_ns() - cpu0) / 1e9
    if not relay:
        S.stash_dir(new)
    return t_acc, t_e2e, cpu


def order(rep, pair):
    return pair if rep % 2 == 0 else list(reversed(pair))


def smtp_workloads(res, ours, pf, args, relay):
    bodies = [(1024, "1 KiB"), (102400, "100 KiB")]
    concs = args.concurrency
    modes = [(False, "new conn/msg"), (True, "reused conn")]
    kind = "relay" if relay else "local"
    for size, slabel in bodies:
        if size not in args.sizes:
            continue
        for conc in concs:
            for reuse, mlabel in modes:
                # relay: the concurrent cases only (c=1 adds little over the local runs); 100 KiB at c=50
                if relay and (conc == 1 or (size > 1024 and conc != 50)):
                    continue
                n = args.messages if size <= 1024 else max(1, args.messages * args.big_fraction // 100)
                base = "%s %s c=%d %s n=%d" % (kind, slabel, conc, mlabel, n)
                for rep in range(args.reps):
                    for srv in order(rep, [ours, pf]):
                        side = "ours" if srv is ours else "theirs"
                        acc, e2e, cpu = run_smtp(srv, n, conc, size, reuse, relay)
                        res.add(base + " accept", "%s: accept" % base, "msg/s", "higher", side, n / acc)
                        res.add(base + " e2e", "%s: %s" % (base, "relayed to sink" if relay else "in Maildir"),
                                "msg/s", "higher", side, n / e2e)
                        res.add(base + " cpu", "%s: server CPU" % base, "ms/msg", "lower", side, cpu * 1000 / n)
                        log("%-8s %s: accept %.0f msg/s, done %.0f msg/s, cpu %.3f ms/msg"
                            % (srv.name, base, n / acc, n / e2e, cpu * 1000 / n))


# ---------------------------------------------------------------- memory

def smtp_open(port, ehlo=True, data_bytes=0):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise EOFError("closed")
            if len(line) < 4 or line[3:4] != b"-":
                return line

    if not reply().startswith(b"220"):
        raise RuntimeError("no banner")
    if ehlo:
        s.sendall(b"EHLO client.example.org\r\n")
        reply()
    if data_bytes:
        for c in (b"MAIL FROM:<%s>" % SENDER.encode(), b"RCPT TO:<%s>" % S.USER.encode(), b"DATA"):
            s.sendall(c + b"\r\n")
            r = reply()
            if r[:1] not in (b"2", b"3"):
                raise RuntimeError("%r -> %r" % (c, r))
        s.sendall(b"Subject: held\r\n\r\n" + (b"x" * 78 + b"\r\n") * (data_bytes // 80))
    return s, f


def close_all(socks):
    for s, f in socks:
        try:
            f.close()
            s.close()
        except OSError:
            pass


def memory_workloads(res, ours, pf, args):
    for rep in range(args.reps):
        for srv in order(rep, [ours, pf]):
            side = "ours" if srv is ours else "theirs"
            srv.restart()  # no processes or freed memory left over from earlier workloads
            time.sleep(1.0)
            socks = []
            try:
                for _ in range(50):
                    socks.append(smtp_open(srv.smtp_port, data_bytes=64 * 1024))
                time.sleep(1.0)
                pss = srv.pss_kib()
                nproc = len(srv.pids())
            finally:
                close_all(socks)
            res.add("mem50", "memory: 50 sessions inside DATA (64 KiB sent each), summed PSS", "MiB",
                    "lower", side, pss / 1024)
            log("%-8s 50 sessions: PSS %.1f MiB in %d processes" % (srv.name, pss / 1024, nproc))
            S.wait_until(lambda: srv.queue_count() == 0, timeout=30)
    # idle connections: ours at args.idle, Postfix (one smtpd process per connection) at fewer
    for rep in range(args.reps):
        for srv in order(rep, [ours, pf]):
            side = "ours" if srv is ours else "theirs"
            n = args.idle if srv is ours else min(args.idle, args.idle_postfix)
            # fresh processes: memory freed by earlier workloads would hide our cost, and Postfix's
            # idle smtpd processes from the previous round would already be counted
            srv.restart()
            time.sleep(1.0)
            before = srv.pss_kib()
            socks = []
            try:
                for _ in range(n):
                    socks.append(smtp_open(srv.smtp_port))
                time.sleep(1.0)
                after = srv.pss_kib()
            finally:
                close_all(socks)
            per = (after - before) / n
            res.add("idle", "memory: PSS per idle connection (after EHLO; ours at %d, Postfix at %d)"
                    % (args.idle, min(args.idle, args.idle_postfix)), "KiB", "lower", side, per)
            res.add("idle-total", "memory: summed PSS with those idle connections open", "MiB", "lower", side,
                    after / 1024)
            log("%-8s %d idle: PSS %.1f -> %.1f MiB, %.1f KiB per connection"
                % (srv.name, n, before / 1024, after / 1024, per))


# ---------------------------------------------------------------- IMAP

def corpus_dir(n):
    return "/var/tmp/mailbench-corpus-%d-v1" % n


def ensure_corpus(n):
    d = corpus_dir(n)
    if os.path.exists(os.path.join(d, ".complete")):
        return d
    log("generating the IMAP folder: %d messages into %s (kept for later runs)" % (n, d))
    shutil.rmtree(d, ignore_errors=True)
    total = mkcorpus.make(d, n)
    subprocess.run(["chown", "-R", "mail:mail", d], check=True)
    with open(os.path.join(d, ".complete"), "w") as f:
        f.write("%d messages, %d bytes\n" % (n, total))
    return d


def place_corpus(src, maildir):
    """Hard-links the corpus files into maildir/cur (same inodes for both servers), or copies."""
    shutil.rmtree(maildir, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    names = os.listdir(os.path.join(src, "cur"))
    try:
        for n in names:
            os.link(os.path.join(src, "cur", n), os.path.join(maildir, "cur", n))
    except OSError:
        for n in names:
            shutil.copyfile(os.path.join(src, "cur", n), os.path.join(maildir, "cur", n))
    subprocess.run(["chown", "-R", "mail:mail", os.path.dirname(os.path.dirname(maildir))], check=True)


def drop_index(maildir):
    """Removes every plain file at the Maildir's top (Dovecot's and our index files)."""
    for n in os.listdir(maildir):
        p = os.path.join(maildir, n)
        if os.path.isfile(p):
            os.unlink(p)


def drop_caches():
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def imap_workloads(res, ours, dc, args):
    imap_side = [dc]
    if ours.has_imapd():
        imap_side = [ours, dc]
    else:
        res.notes.append("IMAP: build/bin/imapd does not exist in this build; only Dovecot was measured.")
        log("imapd not built: measuring Dovecot only")
    src = ensure_corpus(args.imap_messages)
    for srv in imap_side:
        place_corpus(src, srv.imap_maildir())
    label = {"login_select": "LOGIN+SELECT", "fetch_flags": "UID FETCH 1:* (FLAGS)",
             "fetch_envelope": "UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)",
             "body_peek_1000": "1000 x FETCH n (BODY.PEEK[])", "search_header": "UID SEARCH HEADER Subject"}
    checks = {}
    for rep in range(args.reps):
        for srv in order(rep, imap_side):
            side = "ours" if srv is ours else "theirs"
            # first open: no index, cold page cache
            srv.stop_one("imapd")
            drop_index(srv.imap_maildir())
            cold_ok = drop_caches()
            srv.start_imap()
            t = imapclient.IMAPTimer(srv.imap_port).login_select(S.USER, S.PASSWORD)
            res.add("imap first", "IMAP %d msgs, no index, cold cache: LOGIN+SELECT" % args.imap_messages,
                    "s", "lower", side, t)
            # one untimed pass builds whatever caches the server keeps, then cold and warm passes
            imapclient.IMAPTimer(srv.imap_port).session(S.USER, S.PASSWORD)
            srv.stop_one("imapd")
            cold_ok = drop_caches() and cold_ok
            srv.start_imap()
            for phase in ("cold", "warm"):
                times, chk = imapclient.IMAPTimer(srv.imap_port).session(S.USER, S.PASSWORD)
                for k, v in times.items():
                    res.add("imap %s %s" % (phase, k), "IMAP %d msgs, %s: %s" % (args.imap_messages, phase, label[k]),
                            "s", "lower", side, v)
                checks.setdefault(srv.name, chk)
                log("%-8s IMAP %s: %s" % (srv.name, phase, ", ".join("%s %.3fs" % kv for kv in times.items())))
            if not cold_ok:
                res.notes.append("IMAP cold: could not drop the page cache; 'cold' means a restarted server only.")
    for name, chk in checks.items():
        res.notes.append("IMAP checks %s: %s" % (name, json.dumps(chk, sort_keys=True)))


# ---------------------------------------------------------------- IMAP under concurrent load (imaptest)

def imaptest_tool():
    """Dovecot's imaptest from ../shared/imaptest, built once into build/imaptest; (binary, mbox)."""
    shared = os.path.join(S.ROOT, "..", "shared", "imaptest")
    r = subprocess.run([os.path.join(shared, "build.sh"), os.path.join(S.ROOT, "build", "imaptest")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("imaptest build: " + r.stderr[-2000:])
    return r.stdout.strip().splitlines()[-1], os.path.join(shared, "tests", "default.mbox")


def imaptest_stress(binary, mbox, port, secs, opts, clients=10, detail=False):
    """One imaptest stress run; returns (commands per second, errors, {command: ms per command}),
    and with detail=True also {"worst_second_ms": the highest 1-s mean of any command,
    "messages": imaptest's error, panic and stall lines}.

    Latency comes from imaptest's output=FILE: per second and per command, the replies counted,
    the commands timed and their summed milliseconds (from sending a command to its tagged
    reply), so the mean is exact over the run. (Its "ms/cmd avg" screen lines are averages over
    10 s windows that print 0 for a window without such a command: averaging those lines, as
    this function did before, pulled rare commands towards 0.)"""
    env = dict(os.environ, LD_LIBRARY_PATH="/usr/lib/dovecot")
    fd, results = tempfile.mkstemp(prefix="imaptest-", suffix=".tsv")
    os.close(fd)
    cmd = [binary, "host=127.0.0.1", "port=%d" % port, "user=" + S.USER, "pass=" + S.PASSWORD,
           "mbox=" + mbox, "clients=%d" % clients, "secs=%d" % secs, "output=" + results] + opts
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=secs + 120)
        with open(results) as f:
            rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    finally:
        os.unlink(results)
    out = r.stdout + r.stderr
    errors = sum(1 for l in out.splitlines() if l.startswith(("Error:", "Panic:", "Fatal:")))
    names, latency, total = [], {}, 0
    lines = out.splitlines()
    if "Totals:" in lines:
        tail = lines[lines.index("Totals:") + 1:]
        names = tail[0].split()
        counts = [int(x) for x in tail[-1].split() if x.isdigit()]
        total = sum(counts)
    latency = imaptest_latency(rows, names)
    if not detail:
        return total / secs, errors, latency
    worst = 0.0
    for row in rows[1:]:
        vals = [int(x) for x in row]
        for j in range(len(vals) // 3):
            if vals[3 * j + 1]:
                worst = max(worst, vals[3 * j + 2] / vals[3 * j + 1])
    msgs = [l.strip() for l in lines if l.startswith(("Error:", "Panic:", "Fatal:")) or "stalled" in l]
    return total / secs, errors, latency, {"worst_second_ms": worst, "messages": msgs}


def imaptest_latency(rows, names):
    """{short name: mean ms per command} from imaptest's output=FILE rows (a header, then per
    interval a (replies OK, commands timed, msecs) triple per visible command, in the order
    of the screen's short names)."""
    sums = {}
    for row in rows[1:]:
        vals = [int(x) for x in row]
        for j, n in enumerate(names):
            if 3 * j + 2 < len(vals):
                c, ms = sums.get(n, (0, 0))
                sums[n] = (c + vals[3 * j + 1], ms + vals[3 * j + 2])
    return {n: ms / c for n, (c, ms) in sums.items() if c}


def imap_stress_workloads(res, ours, dc, args):
    binary, mbox = imaptest_tool()
    modes = [("logged in", ["logout=0"]), ("with logins", [])]
    for rep in range(args.reps):
        for srv in order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            for mode, opts in modes:
                # the folder imaptest starts from is empty (the "imap" step leaves 100,000
                # messages in it) and the server freshly started, the same for both servers
                imapload.reset_account(srv, ours)
                cps, errors, lat = imaptest_stress(binary, mbox, srv.imap_port, args.stress_secs, opts)
                res.add("stress %s" % mode, "imaptest stress, 10 clients %s, %d s: commands/s"
                        % (mode, args.stress_secs), "cmd/s", "higher", side, cps)
                res.add("stress %s errors" % mode, "imaptest stress, 10 clients %s: errors" % mode,
                        "errors", "lower", side, errors)
                for name in ("List", "Stat", "Fetc", "Fet2", "Stor", "Dele", "Expu", "Appe"):
                    if name in lat:
                        res.add("stress %s %s" % (mode, name), "imaptest stress, %s: %s latency" % (mode, name),
                                "ms/cmd", "lower", side, lat[name])
                log("%-8s imaptest %s: %.0f commands/s, %d errors" % (srv.name, mode, cps, errors))


def login_churn_worker(port, secs):
    """One client process: new connection, LOGIN, LOGOUT, again until secs are over; returns logins."""
    n, deadline = 0, time.monotonic() + secs
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"a LOGIN \"%s\" \"%s\"\r\n" % (S.USER.encode(), S.PASSWORD.encode()))
            while True:
                line = f.readline()
                if not line or line.startswith(b"a "):
                    break
            if not line.startswith(b"a OK"):
                raise RuntimeError("LOGIN failed: %r" % line)
            s.sendall(b"b LOGOUT\r\n")
            while f.readline():
                pass
        n += 1
    return n


def imap_login_workloads(res, ours, dc, args):
    """Login churn alone: 4 client processes, each LOGIN+LOGOUT on a new connection in a loop."""
    import multiprocessing
    for rep in range(args.reps):
        for srv in order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            cpu0, t0 = srv.cpu_ns(), time.monotonic()
            with multiprocessing.Pool(4, initializer=signal.signal,
                                      initargs=(signal.SIGTERM, signal.SIG_DFL)) as pool:
                n = sum(pool.starmap(login_churn_worker, [(srv.imap_port, args.stress_secs)] * 4))
            secs, cpu = time.monotonic() - t0, srv.cpu_ns() - cpu0
            res.add("logins", "IMAP login churn (4 clients, new connection, LOGIN+LOGOUT, %s): logins/s"
                    % S.PASSWORD_SCHEME, "logins/s", "higher", side, n / secs)
            res.add("logins cpu", "IMAP login churn: server CPU per login", "ms/login", "lower", side,
                    cpu / 1e6 / max(n, 1))
            log("%-8s login churn: %.0f logins/s, %.2f ms CPU per login" % (srv.name, n / secs, cpu / 1e6 / max(n, 1)))


# ---------------------------------------------------------------- instructions (callgrind)

def callgrind_total(path):
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def instructions(base, bindir, sink_port, counts, outdir):
    """Ir of mtad for counts[0] and counts[1] messages (accepted and delivered); returns Ir/message of the difference."""
    totals = []
    cgdir = os.path.join(base, "callgrind")
    os.makedirs(cgdir, exist_ok=True)
    os.chmod(cgdir, 0o777)
    for i, n in enumerate(counts):
        out = os.path.join(cgdir, "callgrind.out.%d" % n)
        # started as the run user itself: valgrind opens its output file before any privilege drop
        wrapper = ["setpriv", "--reuid=mail", "--regid=mail", "--init-groups",
                   "valgrind", "--tool=callgrind", "--vgdb=no", "--callgrind-out-file=" + out]
        srv = S.Ours(base, sink_port, bindir, wrapper=wrapper, tag="callgrind%d" % i)
        subprocess.run(["chown", "-R", "mail:mail", srv.dir], check=True)
        srv.start()
        try:
            if n:
                smtp_source(srv.smtp_port, n, 1, 1024, False, S.USER)
                if not S.wait_until(lambda: S.count_files(os.path.join(srv.maildir(), "new")) >= n, timeout=300):
                    raise RuntimeError("callgrind run: messages not delivered")
                S.wait_until(lambda: srv.queue_count() == 0, timeout=60)
        finally:
            srv.stop()
        totals.append(callgrind_total(out))
        if i == len(counts) - 1:
            os.makedirs(outdir, exist_ok=True)
            with open(os.path.join(outdir, "callgrind-top.txt"), "w") as f:
                subprocess.run(["callgrind_annotate", "--inclusive=no", out], stdout=f, stderr=subprocess.DEVNULL)
    return (totals[1] - totals[0]) / (counts[1] - counts[0]), totals


# ---------------------------------------------------------------- growth (a full deferred queue)

DEFERRED_RCPT = "someone@unreachable.example"


class Ratios:
    """Growth rows: key -> {"label", "unit", "better", "empty": [..], "full": [..]}; full/empty of the medians."""

    def __init__(self):
        self.rows = {}

    def add(self, key, label, unit, better, side, value, target=None):
        """target: "10%" (full within 10% of empty) or a number (full at most this), else only the ratio."""
        row = self.rows.setdefault(key, {"label": label, "unit": unit, "better": better, "target": target,
                                         "empty": [], "full": []})
        row[side].append(value)

    def table(self, n):
        lines = ["| workload | unit | empty queue: median (min-max) | %d deferred: median (min-max) | full/empty |" % n,
                 "|---|---|---|---|---|"]
        for row in self.rows.values():
            e, f = row["empty"], row["full"]
            ratio = "-"
            if e and f and statistics.median(e):
                r = statistics.median(f) / statistics.median(e)
                ratio = "%.2f" % r
                if row["target"] == "10%" and (r < 0.9 if row["better"] == "higher" else r > 1.1):
                    ratio += " (misses the 10% target)"
            if row["target"] not in (None, "10%") and f and statistics.median(f) > row["target"]:
                ratio += " (misses the %s %s target)" % (num(row["target"]), row["unit"])
            lines.append("| %s | %s (%s better) | %s | %s | %s |" % (
                row["label"], row["unit"], row["better"], Results.fmt(e), Results.fmt(f), ratio))
        return "\n".join(lines)


def local_run_with_queue(srv, n, conc, baseline):
    """Local 1 KiB messages at concurrency conc while `baseline` deferred files sit in queue/active.
    Returns (accept seconds, CPU seconds of mtad until every message is delivered and removed)."""
    new = os.path.join(srv.maildir(), "new")
    S.stash_dir(new)
    cpu0 = srv.cpu_ns()
    t0 = time.perf_counter()
    smtp_source(srv.smtp_port, n, conc, 1024, False, S.USER)
    t_acc = time.perf_counter() - t0
    if not S.wait_until(lambda: S.count_files(new) >= n, timeout=600, interval=0.05):
        raise RuntimeError("growth: %d of %d messages arrived" % (S.count_files(new), n))
    if not S.wait_until(lambda: srv.active_count() <= baseline, timeout=120, interval=0.05):
        raise RuntimeError("growth: queue did not return to %d files" % baseline)
    cpu = (srv.cpu_ns() - cpu0) / 1e9
    S.stash_dir(new)
    return t_acc, cpu


def fill_deferred(srv, n, conc=20):
    """n messages to a remote recipient whose next hop refuses connections: each is deferred on
    its first attempt (no time spent) and stays in the queue for the retry interval."""
    log("growth: filling the queue with %d deferred messages (smtp-source c=%d, one recipient each)" % (n, conc))
    t0 = time.monotonic()
    smtp_source(srv.smtp_port, n, conc, 1024, True, DEFERRED_RCPT)
    t_acc = time.monotonic() - t0
    if not S.wait_until(lambda: srv.stats().get("deferred", 0) >= n, timeout=1800, interval=1.0):
        raise RuntimeError("growth: only %s of %d deferred" % (srv.stats().get("deferred"), n))
    log("growth: %d accepted in %.0f s, all deferred after %.0f s" % (n, t_acc, time.monotonic() - t0))
    return time.monotonic() - t0


def restart_timed(srv, n_expected):
    """SIGTERM, start again: seconds until an EHLO gets its 250, and until the scheduler holds the
    whole queue (control socket stats)."""
    t_stop = time.perf_counter()
    srv.stop_one("mtad")
    t_stop = time.perf_counter() - t_stop
    t0 = time.perf_counter()
    srv.start()  # returns at the 220 banner (polled every 10 ms)
    s, f = smtp_open(srv.smtp_port, ehlo=True)
    t_ehlo = time.perf_counter() - t0
    close_all([(s, f)])
    if not S.wait_until(lambda: srv.stats().get("messages", -1) >= n_expected, timeout=600, interval=0.02):
        raise RuntimeError("growth: recovery did not load %d messages" % n_expected)
    t_loaded = time.perf_counter() - t0
    return t_stop, t_ehlo, t_loaded


def mem_kib(srv):
    """(PSS, RSS) of mtad in KiB."""
    pss = srv.pss_kib()
    rss = 0
    for pid in srv.pids():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def growth_workloads(base, bindir, args, outdir):
    """Accept throughput, CPU per delivery, restart and memory with an empty queue and with
    args.growth_queue deferred messages; a ratio against ourselves (no Postfix). Two instances of
    mtad run side by side, one with an empty queue and one with the deferred messages, and the
    timed runs alternate between them (as ours and Postfix do), so drift of the machine during
    the run (page cache, file system state after earlier steps, other load) falls on both."""
    n_queue, n_msgs = args.growth_queue, args.growth_messages
    closed = free_closed_port()
    sides = {}
    for side in ("empty", "full"):
        sides[side] = S.Ours(base, closed, bindir, tag="growth-" + side, overrides={
            # the next hop refuses connections: deferral costs nothing; one try per hour
            "smarthost": "[127.0.0.3]:%d" % closed, "retry_schedule": "1h"})
    rat = Ratios()
    try:
        for side, srv in sides.items():
            srv.start()
            local_run_with_queue(srv, 200, 10, 0)  # untimed: first Maildir, page cache, thread pool
        full = sides["full"]
        fill_deferred(full, n_queue)
        # every deferral is recorded and nothing is due: the scheduler is idle
        S.wait_until(lambda: full.stats().get("in_delivery", 1) == 0, timeout=120)
        baseline = {side: srv.active_count() for side, srv in sides.items()}
        expect = {"empty": 0, "full": n_queue}
        for rep in range(args.reps):
            for side in order(rep, ["empty", "full"]):
                acc, cpu = local_run_with_queue(sides[side], n_msgs, 10, baseline[side])
                rat.add("acc", "local 1 KiB c=10 new conn/msg n=%d: accept" % n_msgs, "msg/s", "higher", side,
                        n_msgs / acc, target="10%")
                rat.add("cpu", "mtad CPU per local delivery (accept + Maildir + removal)", "ms/msg", "lower",
                        side, cpu * 1000 / n_msgs, target="10%")
                log("growth %-5s: accept %.0f msg/s, cpu %.3f ms/msg" % (side, n_msgs / acc, cpu * 1000 / n_msgs))
        for rep in range(args.reps):
            for side in order(rep, ["empty", "full"]):
                t_stop, t_ehlo, t_loaded = restart_timed(sides[side], expect[side])
                rat.add("stop", "SIGTERM until mtad has exited", "s", "lower", side, t_stop)
                rat.add("ehlo", "restart: start until EHLO gets 250", "s", "lower", side, t_ehlo, target=2.0)
                rat.add("loaded", "restart: start until the whole queue is loaded (stats)", "s", "lower", side,
                        t_loaded)
                log("growth %-5s: stop %.2f s, EHLO 250 after %.3f s, queue loaded after %.2f s"
                    % (side, t_stop, t_ehlo, t_loaded))
        time.sleep(1.0)
        for side, srv in sides.items():
            pss, rss = mem_kib(srv)
            rat.add("pss", "mtad PSS after restart and recovery", "MiB", "lower", side, pss / 1024)
            rat.add("rss", "mtad RSS after restart and recovery", "MiB", "lower", side, rss / 1024)
            log("growth %-5s: PSS %.1f MiB, RSS %.1f MiB" % (side, pss / 1024, rss / 1024))
        st = full.stats()
        if st.get("messages") != n_queue or st.get("in_delivery"):
            log("growth: unexpected queue state after restart: %s" % st)
    finally:
        for srv in sides.values():
            srv.stop()
    e_pss, f_pss = statistics.median(rat.rows["pss"]["empty"]), statistics.median(rat.rows["pss"]["full"])
    e_rss, f_rss = statistics.median(rat.rows["rss"]["empty"]), statistics.median(rat.rows["rss"]["full"])
    note = ("memory per deferred message (1 KiB body, one recipient): PSS %.2f KiB, RSS %.2f KiB "
            "((full - empty) / %d)" % ((f_pss - e_pss) * 1024 / n_queue, (f_rss - e_rss) * 1024 / n_queue, n_queue))
    return rat, note


def free_closed_port():
    """A port on 127.0.0.3 that nothing listens on (bound then released: connections are refused)."""
    return S.free_port("127.0.0.3")


# ---------------------------------------------------------------- main

def git_commit():
    try:
        return subprocess.run(["git", "-C", S.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return "%s, %d cores, %.0f GiB RAM, Linux %s" % (cpu, os.cpu_count(), mem, platform.release())


def versions():
    out = {}
    try:
        out["postfix"] = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                                        text=True).stdout.strip()
        out["dovecot"] = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser(description="mtad/imapd against Postfix/Dovecot on this machine")
    ap.add_argument("--quick", action="store_true", help="fewer messages, one repetition")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--messages", type=int, help="messages per SMTP run with 1 KiB bodies")
    ap.add_argument("--stress-secs", type=int, default=30, help="seconds of each imaptest stress run (30)")
    ap.add_argument("--only", default="smtp,relay,memory,imap,imap-stress,imap-logins,cpu,growth," + ",".join(
                    sorted(imapload.STEPS)), help="comma list of smtp, relay, memory, imap, imap-stress, imap-logins, "
                    "cpu, growth, " + ", ".join(sorted(imapload.STEPS)))
    ap.add_argument("--concurrency", default="1,10,50", help="comma list of SMTP concurrencies (1,10,50)")
    ap.add_argument("--sizes", default="1,100", help="comma list of SMTP body sizes in KiB (1,100)")
    ap.add_argument("--growth-queue", type=int, help="deferred messages for the growth workload (100000)")
    imapload.add_arguments(ap)
    ap.add_argument("--password-scheme", choices=("sha512-crypt", "yescrypt", "plain"), default="sha512-crypt",
                    help="how both servers store the test account's password (sha512-crypt)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args()
    args.reps = args.reps or (1 if args.quick else 3)
    args.messages = args.messages or (1000 if args.quick else 5000)
    args.big_fraction = 100 if args.quick else 20  # percent of args.messages sent with 100 KiB bodies
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.sizes = [int(k) * 1024 for k in args.sizes.split(",")]
    args.idle = 1000 if args.quick else 10000
    args.idle_postfix = 200 if args.quick else 1000
    args.imap_messages = 10000 if args.quick else 100000
    args.growth_queue = args.growth_queue or 100000
    args.growth_messages = args.messages
    imapload.fix_arguments(args)
    only = set(args.only.split(","))
    S.PASSWORD_SCHEME = args.password_scheme
    if os.geteuid() != 0:
        sys.exit("bench: run as root (private Postfix and Dovecot need their system users)")
    bindir = os.path.join(os.environ.get("BUILD_DIR") or os.path.join(S.ROOT, "build"), "bin")
    if not os.access(os.path.join(bindir, "mtad"), os.X_OK):
        sys.exit("bench: %s/mtad is missing; build first (scripts/build.sh)" % bindir)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < args.idle + 100:
        args.idle = max(100, want - 200)

    base = tempfile.mkdtemp(prefix="mailbench-", dir="/var/tmp")
    os.chmod(base, 0o755)
    started = []
    res = Results()
    t_start = time.monotonic()
    outdir = os.path.join(S.ROOT, "bench", "out")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sink = S.Sink(base)
        sink.start()
        started.append(sink)
        ours = S.Ours(base, sink.port, bindir)
        ours.start()
        started.append(ours)
        pf = None
        if only & {"smtp", "relay", "memory"}:
            pf = S.Postfix(base, sink.port, smtpd_limit=args.idle_postfix + 100)
            pf.start()
            started.append(pf)
        log("work dir %s; ours smtp %d, postfix smtp %s, sink %s:%d"
            % (base, ours.smtp_port, pf.smtp_port if pf else "-", S.SINK_HOST, sink.port))
        if "smtp" in only:
            smtp_workloads(res, ours, pf, args, relay=False)
        if "relay" in only:
            smtp_workloads(res, ours, pf, args, relay=True)
        if "memory" in only:
            memory_workloads(res, ours, pf, args)
        if pf:
            pf.stop()
            started.remove(pf)
        if only & {"imap", "imap-stress", "imap-logins"} | imapload.STEPS:
            dc = S.Dovecot(base)
            started.append(dc)
            dc.start_imap()
            if "imap" in only:
                imap_workloads(res, ours, dc, args)
            if "imap-stress" in only:
                if "imapd" not in ours.procs:
                    ours.start_imap()
                imap_stress_workloads(res, ours, dc, args)
            if "imap-logins" in only:
                if "imapd" not in ours.procs:
                    ours.start_imap()
                imap_login_workloads(res, ours, dc, args)
            for step, fn in (("imap-stress-100", imapload.stress_100), ("imap-checkpoint", imapload.checkpoint_runs),
                             ("imap-listatus", imapload.listatus), ("imap-select-big", imapload.select_big),
                             ("imap-memory", imapload.idle_sessions)):
                if step in only:
                    if "imapd" not in ours.procs:
                        ours.start_imap()
                    fn(res, ours, dc, args)
        cpu_line = None
        if "cpu" in only:
            counts = (20, 120) if args.quick else (50, 550)
            log("callgrind: mtad with %d and %d messages" % counts)
            ir, totals = instructions(base, bindir, sink.port, counts, outdir)
            cpu_line = ("instructions per accepted message (mtad, 1 KiB, accept + Maildir delivery, "
                        "callgrind, marginal between %d and %d messages): %.0f" % (counts[0], counts[1], ir))
            res.notes.append(cpu_line)
        growth = None
        if "growth" in only:
            growth = growth_workloads(base, bindir, args, outdir)
    finally:
        for s in reversed(started):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (type(s).__name__, e))
        if args.keep:
            log("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)

    header = ["date: %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "commit: %s" % git_commit(), "machine: %s" % machine(),
              "versions: %s" % json.dumps(versions()),
              "mode: %s, %d repetition(s), %d messages per 1 KiB SMTP run, wall time %.0f s"
              % ("quick" if args.quick else "full", args.reps, args.messages, time.monotonic() - t_start),
              "passwords: %s on both sides" % args.password_scheme]
    print()
    print("\n".join(header))
    print()
    print(res.table())
    print()
    for n in res.notes:
        print("- " + n)
    if growth:
        print()
        print("growth: ours with an empty queue against ours with %d deferred messages" % args.growth_queue)
        print()
        print(growth[0].table(args.growth_queue))
        print()
        print("- " + growth[1])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": res.rows, "notes": res.notes,
                       "growth": growth[0].rows if growth else None}, f, indent=1)


if __name__ == "__main__":
    main()
