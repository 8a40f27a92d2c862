"""imapload.py - bench.py's IMAP workloads under many sessions: imaptest at 100 clients with a latency probe, LIST/STATUS on a 50-folder account, SELECT of a 100,000-message folder under 10 writers, memory per selected folder."""
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import time

import servers as S

# ---------------------------------------------------------------- a small blocking IMAP session


class Session:
    """One IMAP connection; cmd() sends one command and returns (seconds, status line, response bytes)."""

    def __init__(self, port, login=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self._line()  # greeting
        if login:
            dt, st, _ = self.cmd(b'LOGIN "%s" "%s"' % (S.USER.encode(), S.PASSWORD.encode()))
            if not st.startswith(b"OK"):
                raise RuntimeError("LOGIN: %r" % st)

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def cmd(self, command, literal=None):
        """command (bytes, without tag); literal: bytes sent as a LITERAL+ literal after it."""
        self.n += 1
        tag = b"L%d" % self.n
        data = tag + b" " + command
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        t0 = time.perf_counter()
        self.sock.sendall(data + b"\r\n")
        out = []
        prefix = tag + b" "
        while True:
            line = self._line()
            # skip literal contents in untagged data (FETCH bodies are not asked for here)
            if line.endswith(b"}") and b"{" in line:
                n = int(line[line.rindex(b"{") + 1:-1].rstrip(b"+"))
                while len(self.buf) < n:
                    chunk = self.sock.recv(1 << 16)
                    if not chunk:
                        raise EOFError("closed in a literal")
                    self.buf += chunk
                del self.buf[:n]
            if line.startswith(prefix):
                return time.perf_counter() - t0, line[len(prefix):], out
            out.append(line)

    def ok(self, command, literal=None):
        dt, st, out = self.cmd(command, literal)
        if not st.startswith(b"OK"):
            raise RuntimeError("%r: %r" % (command[:60], st))
        return dt, out

    def close(self):
        try:
            self.cmd(b"LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def small_message(i, size=600):
    body = (b"line %d of a small test message for the load benchmark\r\n" % i) * (size // 60 + 1)
    return (b"From: writer@example.org\r\nTo: user@bench.test\r\nSubject: load %d\r\n"
            b"Message-ID: <load-%d-%d@bench.test>\r\n\r\n" % (i, i, os.getpid())) + body


def exists_of(lines):
    for line in lines:
        if line.startswith(b"* ") and line.endswith(b" EXISTS"):
            return int(line.split()[1])
    return 0


def ignore_term():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---------------------------------------------------------------- fresh folders

def reset_account(srv, ours, corpus=None):
    """Stops the IMAP server, empties the account (or puts corpus's messages into INBOX) and
    removes every index, then starts it again."""
    import bench
    if srv is ours:
        srv.stop_one("imapd")
    else:
        srv.stop_one()
    root = srv.imap_maildir()
    if corpus:
        bench.place_corpus(corpus, root)
    else:
        shutil.rmtree(root, ignore_errors=True)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, sub))
        subprocess.run(["chown", "-R", "mail:mail", os.path.dirname(os.path.dirname(root))], check=True)
    if srv is ours:
        srv.start_imap()
    else:
        srv.start_imap()


# ---------------------------------------------------------------- 100 clients: imaptest + probe

def command_histogram(srv):
    """imapd's mail_imap_command_duration_seconds as {le: cumulative count} summed over commands
    (from a command's dispatch to its tagged reply); {} for a server without it."""
    port = getattr(srv, "imap_metrics_port", None)
    if not port:
        return {}
    import urllib.request
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("mail_imap_command_duration_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = out.get(le, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def slower_than(h0, h1, le):
    """Commands between two histogram readings that took longer than le seconds."""
    if not h1:
        return None
    return (h1.get("+Inf", 0) - h0.get("+Inf", 0)) - (h1.get(le, 0) - h0.get(le, 0))


PROBE_CMDS = [("NOOP", b"NOOP"), ("STATUS", b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"),
              ("LIST", b'LIST "" "*"'), ("SELECT", b"SELECT INBOX"), ("FETCH", b"FETCH 1:* (FLAGS)"),
              ("SEARCH", b"UID SEARCH UNSEEN")]


def probe_worker(port, secs, q):
    """Runs read-only commands one at a time for secs and puts {command: [seconds...]} on q.
    (Read-only so that imaptest's model of the folder is not disturbed.)"""
    lat = {name: [] for name, _ in PROBE_CMDS}
    errors = []
    try:
        s = Session(port)
        deadline = time.monotonic() + secs
        exists = 0
        while time.monotonic() < deadline:
            for name, c in PROBE_CMDS:
                if name == "FETCH" and not exists:
                    continue  # FETCH 1:* of an empty folder is a BAD
                dt, st, out = s.cmd(c)
                if name == "SELECT":
                    exists = exists_of(out)
                if not st.startswith(b"OK"):
                    errors.append("%s: %s" % (name, st[:120].decode(errors="replace")))
                lat[name].append(dt)
            time.sleep(0.05)
        s.close()
    except Exception as e:  # reported, not raised: the imaptest figures still count
        errors.append("probe: %s" % e)
    q.put((lat, errors))


def stress_100(res, ours, dc, args):
    import bench
    binary, mbox = bench.imaptest_tool()
    clients = args.stress_clients
    secs = args.stress_secs
    for rep in range(args.reps):
        for srv in bench.order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            reset_account(srv, ours)
            q = multiprocessing.Queue()
            probe = multiprocessing.Process(target=probe_worker, args=(srv.imap_port, secs, q))
            cpu0 = srv.cpu_ns()
            h0 = command_histogram(srv)
            probe.start()
            cps, errors, lat, extra = bench.imaptest_stress(binary, mbox, srv.imap_port, secs, ["logout=0"],
                                                            clients=clients, detail=True)
            cpu = (srv.cpu_ns() - cpu0) / 1e9
            plat, perr = q.get(timeout=120)
            probe.join()
            h1 = command_histogram(srv)
            over1, over05 = slower_than(h0, h1, "1"), slower_than(h0, h1, "0.5")
            label = "imaptest stress, %d clients logged in, %d s" % (clients, secs)
            res.add("s100 cps", label + ": commands/s", "cmd/s", "higher", side, cps)
            res.add("s100 err", label + ": errors", "errors", "lower", side, errors)
            res.add("s100 cpu", label + ": server CPU per command", "ms/cmd", "lower", side,
                    cpu * 1000 / max(1, cps * secs))
            res.add("s100 maxsec", label + ": worst 1-s mean of any command (imaptest output)", "ms",
                    "lower", side, extra["worst_second_ms"])
            for name in ("List", "Stat", "Sele", "Fetc", "Stor", "Expu", "Appe"):
                if name in lat:
                    res.add("s100 " + name, label + ": %s latency (mean)" % name, "ms/cmd", "lower", side, lat[name])
            if over1 is not None:
                res.add("s100 over1", label + ": commands over 1 s, dispatch to tagged reply (imapd's histogram)",
                        "commands", "lower", side, over1)
                res.add("s100 over05", label + ": the same, over 0.5 s", "commands", "lower", side, over05)
            allp = [x for v in plat.values() for x in v]
            if allp:
                res.add("s100 probe max", label + ": probe client, slowest command", "ms", "lower", side,
                        max(allp) * 1000)
                res.add("s100 probe p99", label + ": probe client, 99th percentile", "ms", "lower", side,
                        statistics.quantiles(allp, n=100)[98] * 1000 if len(allp) >= 100 else max(allp) * 1000)
                slow = ", ".join("%s %.0f" % (k, max(v) * 1000) for k, v in plat.items() if v)
            else:
                slow = "no probe data"
            if perr:
                res.notes.append("%s stress-%d probe: %s" % (srv.name, clients, "; ".join(perr[:5])))
            if extra["messages"]:
                res.notes.append("%s stress-%d imaptest said: %s" % (srv.name, clients, " | ".join(extra["messages"][:6])))
            bench.log("%-8s imaptest %d clients: %.0f commands/s, %d errors, %.2f ms CPU/cmd, worst 1-s mean %.0f ms; "
                      "probe max ms: %s; server-side over 1 s: %s, over 0.5 s: %s" % (srv.name, clients, cps, errors, cpu * 1000 / max(1, cps * secs),
                                            extra["worst_second_ms"], slow, over1, over05))


def checkpoint_runs(res, ours, dc, args):
    """imaptest with checkpoint=N (every client compares its view every N s), both servers."""
    import bench
    binary, mbox = bench.imaptest_tool()
    for srv in [ours, dc]:
        side = "ours" if srv is ours else "theirs"
        for cp in args.checkpoints:
            reset_account(srv, ours)
            cps, errors, lat, extra = bench.imaptest_stress(binary, mbox, srv.imap_port, args.stress_secs,
                                                            ["logout=0", "checkpoint=%d" % cp], detail=True)
            panic = [m for m in extra["messages"] if m.startswith("Panic")]
            res.add("cp%d err" % cp, "imaptest checkpoint=%d, 10 clients, %d s: errors (panics included)"
                    % (cp, args.stress_secs), "errors", "lower", side, errors)
            res.add("cp%d cps" % cp, "imaptest checkpoint=%d: commands/s" % cp, "cmd/s", "higher", side, cps)
            if extra["messages"]:
                res.notes.append("%s checkpoint=%d: %s" % (srv.name, cp, " | ".join(extra["messages"][:4])))
            bench.log("%-8s imaptest checkpoint=%d: %.0f commands/s, %d errors%s"
                      % (srv.name, cp, cps, errors, (" PANIC " + panic[0]) if panic else ""))


# ---------------------------------------------------------------- LIST / STATUS on 50 folders

def make_folders(port, n_folders, per_folder):
    s = Session(port)
    for i in range(n_folders):
        name = b"f%02d" % i
        s.ok(b"CREATE " + name)
        for j in range(per_folder):
            s.ok(b"APPEND " + name + (b" (\\Seen)" if j % 3 else b""), small_message(j))
    s.close()


def listatus_worker(port, n_folders, secs):
    """LIST "" "*" then STATUS of every folder, one command at a time, until secs are over.
    Returns (rounds, [LIST seconds], [STATUS seconds], errors)."""
    s = Session(port)
    lists, stats, errors, rounds = [], [], 0, 0
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        dt, st, out = s.cmd(b'LIST "" "*"')
        lists.append(dt)
        if not st.startswith(b"OK") or len(out) < n_folders + 1:
            errors += 1
        for i in range(n_folders):
            dt, st, out = s.cmd(b"STATUS f%02d (MESSAGES UNSEEN UIDNEXT)" % i)
            stats.append(dt)
            if not st.startswith(b"OK"):
                errors += 1
        rounds += 1
    s.close()
    return rounds, lists, stats, errors


def listatus(res, ours, dc, args):
    import bench
    nf, per, clients, secs = 50, args.folder_messages, args.listatus_clients, args.listatus_secs
    for srv in [ours, dc]:
        reset_account(srv, ours)
        make_folders(srv.imap_port, nf, per)
        listatus_worker(srv.imap_port, nf, 0.5)  # untimed: every folder opened once
    for rep in range(args.reps):
        for srv in bench.order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            cpu0, t0 = srv.cpu_ns(), time.monotonic()
            with multiprocessing.Pool(clients, initializer=ignore_term) as pool:
                outs = pool.starmap(listatus_worker, [(srv.imap_port, nf, secs)] * clients)
            wall, cpu = time.monotonic() - t0, (srv.cpu_ns() - cpu0) / 1e9
            rounds = sum(o[0] for o in outs)
            lists = [x for o in outs for x in o[1]]
            stats = [x for o in outs for x in o[2]]
            errors = sum(o[3] for o in outs)
            label = "LIST+STATUS, %d folders x %d msgs, %d clients" % (nf, per, clients)
            res.add("ls rounds", label + ": rounds (LIST + %d STATUS)/s" % nf, "rounds/s", "higher", side,
                    rounds / wall)
            res.add("ls list", label + ": LIST \"\" * latency", "ms/cmd", "lower", side, statistics.mean(lists) * 1000)
            res.add("ls status", label + ": STATUS latency", "ms/cmd", "lower", side, statistics.mean(stats) * 1000)
            res.add("ls cpu", label + ": server CPU per round", "ms/round", "lower", side, cpu * 1000 / max(1, rounds))
            res.add("ls err", label + ": errors", "errors", "lower", side, errors)
            bench.log("%-8s LIST/STATUS: %.1f rounds/s, LIST %.2f ms, STATUS %.2f ms, CPU %.2f ms/round, %d errors"
                      % (srv.name, rounds / wall, statistics.mean(lists) * 1000, statistics.mean(stats) * 1000,
                         cpu * 1000 / max(1, rounds), errors))


# ---------------------------------------------------------------- SELECT of 100,000 messages under writers

def writer_worker(port, secs, seed):
    """APPEND, STORE flags on random messages, \\Deleted on its own message + EXPUNGE, until secs
    are over (or stopped by SIGTERM); returns the commands done."""
    rnd = random.Random(seed)
    s = Session(port)
    _, out = s.ok(b"SELECT INBOX")
    exists = exists_of(out)
    n = 0
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        dt, out = s.ok(b"APPEND INBOX", small_message(n))
        for _ in range(3):
            seq = rnd.randint(1, max(1, exists - 1000))
            s.ok(b"STORE %d %sFLAGS (\\Flagged)" % (seq, b"+" if rnd.random() < 0.5 else b"-"))
        _, out = s.ok(b"NOOP")
        exists = max(exists, exists_of(out))
        if n % 2 == 1 and exists:
            # "*": the last message now (another writer's EXPUNGE may have made exists stale)
            s.ok(b"STORE * +FLAGS (\\Deleted)")
            s.ok(b"EXPUNGE")
            exists -= 1
        n += 5
    s.close()
    return n


def timed_select(port):
    """A new session: LOGIN (not timed), SELECT INBOX (timed); returns (seconds, EXISTS)."""
    s = Session(port)
    dt, out = s.ok(b"SELECT INBOX")
    s.close()
    return dt, exists_of(out)


def proc_rss_pss(pids):
    """Summed (RSS, PSS) in KiB of pids from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def session_pids(srv, ours, before):
    """The processes that serve IMAP sessions: imapd itself, or Dovecot's imap processes new since `before`."""
    if srv is ours:
        return [srv.procs["imapd"].pid]
    return [p for p in srv.pids() if comm(p) == "imap" and p not in before]


def select_big(res, ours, dc, args):
    import bench
    corpus = bench.ensure_corpus(args.big_messages)
    n_writers, secs = args.writers, args.select_secs
    for srv in [ours, dc]:
        reset_account(srv, ours, corpus)
        t0 = time.monotonic()
        dt, exists = timed_select(srv.imap_port)  # builds the index: not compared
        res.add("big first", "SELECT of %d msgs, first (index built): seconds" % args.big_messages, "s", "lower",
                "ours" if srv is ours else "theirs", dt)
        bench.log("%-8s first SELECT of %d messages: %.2f s (EXISTS %d)" % (srv.name, args.big_messages, dt, exists))
        for _ in range(2):
            timed_select(srv.imap_port)  # untimed warm-up
    label = "SELECT INBOX of %d msgs" % args.big_messages
    for rep in range(args.reps):
        for srv in bench.order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            # memory: one session's IMAP process before and after SELECT (no writers), in the
            # first repetition only: later ones follow the writers (a rescan, index changes).
            # The server is restarted first: imapd keeps a parsed index and the view built from
            # it for the next session (mailbox_shared.c), which the warm-up SELECTs left there.
            if rep == 0:
                if srv is ours:
                    srv.stop_one("imapd")
                else:
                    srv.stop_one()
                srv.start_imap()
            before = set(srv.pids())
            s = Session(srv.imap_port)
            time.sleep(0.3)
            pids = session_pids(srv, ours, before)
            rss0, pss0 = proc_rss_pss(pids)
            dt_quiet, out = s.ok(b"SELECT INBOX")
            time.sleep(0.3)
            rss1, pss1 = proc_rss_pss(pids)
            if rep == 0:
                res.add("big restart", label + ", first after a server restart (index on disk), alone", "s",
                        "lower", side, dt_quiet)
            else:
                res.add("big quiet", label + ", no other sessions", "s", "lower", side, dt_quiet)
            if rep == 0:
                res.add("big rss", "memory: RSS growth of the session's IMAP process by SELECT of %d msgs (restarted server)"
                        % args.big_messages, "MiB", "lower", side, (rss1 - rss0) / 1024)
                res.add("big pss", "memory: PSS growth by that SELECT", "MiB", "lower", side,
                        (pss1 - pss0) / 1024)
            # a second session selecting the same folder
            before2 = set(srv.pids())
            s2 = Session(srv.imap_port)
            time.sleep(0.3)
            pids2 = session_pids(srv, ours, before2)
            r0, p0 = proc_rss_pss(pids2)
            s2.ok(b"SELECT INBOX")
            time.sleep(0.3)
            r1, p1 = proc_rss_pss(pids2)
            if rep == 0:
                res.add("big rss2", "memory: RSS growth by a second session's SELECT of the same folder", "MiB",
                        "lower", side, (r1 - r0) / 1024)
            s2.close()
            s.close()
            bench.log("%-8s SELECT quiet %.3f s; RSS %.1f -> %.1f MiB (PSS %.1f -> %.1f) in %d process(es); "
                      "second session +%.1f MiB RSS" % (srv.name, dt_quiet, rss0 / 1024, rss1 / 1024, pss0 / 1024,
                                                        pss1 / 1024, len(pids), (r1 - r0) / 1024))
            # under writers
            pool = multiprocessing.Pool(n_writers, initializer=ignore_term)
            cpu0 = srv.cpu_ns()
            jobs = pool.starmap_async(writer_worker, [(srv.imap_port, secs, i + 100 * rep) for i in range(n_writers)])
            time.sleep(1.0)
            times = []
            deadline = time.monotonic() + secs - 2
            while time.monotonic() < deadline or len(times) < 2:
                dt, exists = timed_select(srv.imap_port)
                times.append(dt)
            writes = sum(jobs.get(timeout=secs + 300))
            pool.close()
            pool.join()
            cpu = (srv.cpu_ns() - cpu0) / 1e9
            res.add("big busy", label + ", %d writer sessions (APPEND/STORE/EXPUNGE): mean" % n_writers, "s",
                    "lower", side, statistics.mean(times))
            res.add("big busy max", label + ", %d writers: slowest" % n_writers, "s", "lower", side, max(times))
            res.add("big writes", "writer commands/s during those SELECTs", "cmd/s", "higher", side, writes / secs)
            bench.log("%-8s SELECT under %d writers: %d SELECTs, mean %.3f s, max %.3f s; writers %.0f cmd/s; "
                      "server CPU %.1f s" % (srv.name, n_writers, len(times), statistics.mean(times), max(times),
                                             writes / secs, cpu))


def idle_sessions(res, ours, dc, args):
    """PSS per logged-in session with a small folder selected (fresh server, n sessions)."""
    import bench
    n = args.idle_sessions
    for rep in range(args.reps):
        for srv in bench.order(rep, [ours, dc]):
            side = "ours" if srv is ours else "theirs"
            reset_account(srv, ours)
            Session(srv.imap_port).close()
            time.sleep(0.5)
            before = srv.pss_kib()
            socks = []
            try:
                for _ in range(n):
                    s = Session(srv.imap_port)
                    s.ok(b"SELECT INBOX")
                    socks.append(s)
                time.sleep(1.0)
                after = srv.pss_kib()
            finally:
                for s in socks:
                    s.sock.close()
            res.add("imap idle", "memory: PSS per logged-in IMAP session, empty INBOX selected (%d sessions)" % n,
                    "KiB", "lower", side, (after - before) / n)
            bench.log("%-8s %d IMAP sessions: PSS %.1f -> %.1f MiB, %.1f KiB each"
                      % (srv.name, n, before / 1024, after / 1024, (after - before) / n))


# ---------------------------------------------------------------- options

STEPS = {"imap-stress-100", "imap-checkpoint", "imap-listatus", "imap-select-big", "imap-memory"}


def add_arguments(ap):
    ap.add_argument("--stress-clients", type=int, default=100, help="imaptest clients of imap-stress-100 (100)")
    ap.add_argument("--checkpoints", default="5,10", help="comma list of imaptest checkpoint intervals (5,10)")
    ap.add_argument("--listatus-secs", type=int, default=10, help="seconds of each imap-listatus run (10)")
    ap.add_argument("--listatus-clients", type=int, default=10, help="clients of imap-listatus (10)")
    ap.add_argument("--folder-messages", type=int, default=20, help="messages in each of the 50 folders (20)")
    ap.add_argument("--big-messages", type=int, help="messages of imap-select-big's folder (100000)")
    ap.add_argument("--writers", type=int, default=10, help="writer sessions of imap-select-big (10)")
    ap.add_argument("--select-secs", type=int, default=20, help="seconds of SELECTs under writers (20)")
    ap.add_argument("--idle-sessions", type=int, default=100, help="sessions of imap-memory (100)")


def fix_arguments(args):
    args.checkpoints = [int(c) for c in args.checkpoints.split(",")]
    args.big_messages = args.big_messages or 100000
