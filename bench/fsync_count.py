"""fsync_count.py - flushes per message: fsync/fdatasync calls of mtad (strace -f -c) while N messages go into a Maildir."""
# Usage: python3 bench/fsync_count.py [--build DIR] [--messages 200] [--concurrency 1]
# Starts a private mtad through tests/e2e/harness.py (loopback, own state_dir), sends one
# warm-up message, attaches strace, sends N 1 KiB messages to one local recipient over C
# reused connections (python smtplib), waits until all are in new/ and the queue is empty,
# and prints strace's summary and the calls per message. Needs strace and ptrace rights.
import argparse
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=1)
    args = ap.parse_args()
    os.environ["MAIL_BUILD_DIR"] = args.build
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    from harness import MailServer, wait_until

    m = MailServer()
    m.start()

    def delivered():
        try:
            return len(os.listdir(os.path.join(m.maildir("alice@localhost"), "new")))
        except FileNotFoundError:
            return 0
    out = tempfile.NamedTemporaryFile(prefix="fsync_count.", delete=False).name
    try:
        with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
            s.sendmail("a@example.org", ["alice@localhost"], "Subject: warm-up\r\n\r\nw\r\n")
        wait_until(lambda: delivered() >= 1 and not m.queue_files(), 10)
        time.sleep(0.5)
        st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out,
                               "-p", str(m.procs["mtad"].pid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        body = "Subject: t\r\n\r\n" + ("x" * 70 + "\r\n") * 14
        per = args.messages // args.concurrency

        def client():
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                for _ in range(per):
                    s.sendmail("a@example.org", ["alice@localhost"], body)
        threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        n = per * args.concurrency
        wait_until(lambda: delivered() >= n + 1 and not m.queue_files(), 120)
        time.sleep(0.5)
        st.send_signal(signal.SIGINT)
        st.wait()
        text = open(out).read()
        print(text)
        calls = sum(int(line.split()[3]) for line in text.splitlines()
                    if line.split()[-1:] in (["fsync"], ["fdatasync"]))
        print("%d messages, concurrency %d: %d flushes, %.2f per message"
              % (n, args.concurrency, calls, calls / n))
    finally:
        os.unlink(out)
        m.stop()
        m.close()


if __name__ == "__main__":
    main()
