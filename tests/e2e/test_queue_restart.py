"""test_queue_restart.py - a restart with retries that came due while mtad was down: they are spread out (logged), and every message still reaches its next hop once."""
import re
import smtplib
import time
import unittest

from harness import MailServer, SMTPSink, free_port, wait_until

N = 250  # more than one second's worth of retries (100 per second)


class OverdueRetriesTest(unittest.TestCase):
    def test_overdue_retries_spread_after_restart_and_all_delivered(self):
        hop = free_port("127.0.0.2")  # nothing listens yet: every first attempt is deferred
        m = MailServer(extra={"relay_networks": "127.0.0.0/8", "smarthost": "[127.0.0.2]:%d" % hop,
                              "retry_schedule": "2s"})
        sink = None
        try:
            m.start()
            with smtplib.SMTP("127.0.0.1", m.smtp_port) as s:
                for i in range(N):
                    s.sendmail("alice@localhost", ["r%d@far.example" % i],
                               b"Message-ID: <overdue%d@x>\r\nSubject: t\r\n\r\nbody\r\n" % i)
            def deferred():  # distinct messages deferred at least once (retries repeat lines)
                return set(re.findall(r"to=<(r\d+)@far\.example>.*status=deferred", m.log()))
            self.assertTrue(wait_until(lambda: len(deferred()) >= N, 60), m.log()[-3000:])
            m.stop()
            time.sleep(2.5)  # every retry (2 s after its deferral) is now overdue
            sink = SMTPSink("127.0.0.2", port=hop)
            start = len(m.log())
            m.start()
            self.assertTrue(wait_until(lambda: "overdue retries spread" in m.log()[start:], 30), m.log()[start:])
            self.assertRegex(m.log()[start:], r"queue: %d overdue retries spread over 3 s \(100 per second\)" % N)
            self.assertTrue(wait_until(lambda: len(sink.transactions) >= N, 60),
                            (len(sink.transactions), m.log()[-3000:]))
            time.sleep(0.5)
            got = sorted(r for t in sink.transactions for r in t["rcpts"])
            self.assertEqual(got, sorted("r%d@far.example" % i for i in range(N)), "each message relayed once")
            self.assertTrue(wait_until(lambda: not m.queue_files(), 15), m.queue_files()[:5])
            self.assertEqual(len(re.findall(r"status=sent", m.log()[start:])), N)
        finally:
            m.close()
            if sink:
                sink.close()


if __name__ == "__main__":
    unittest.main()
