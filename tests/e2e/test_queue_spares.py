"""test_queue_spares.py - start-up recovery of queue/spare/: a committed message whose rename to active/ was lost is delivered once, torn and empty spares are removed; finished queue files are reused as spares, and an emptied one left in active/ is removed."""
import os
import smtplib
import unittest
import zlib

from harness import MailServer, wait_until

QID = "00060A1B2C3D4E5F"


def record(kind, payload):
    return kind.encode() + str(len(payload)).encode() + b":" + payload + b"\n"


def queue_file(qid, rcpt, msg):
    """A version-2 queue file as mtad commits it: envelope, message, commit record (length + CRC-32)."""
    head = (record("V", b"MQ2") + record("I", qid.encode()) + record("T", b"1700000000")
            + record("S", b"sender@example.org") + record("P", b"ESMTP") + record("R", rcpt.encode())
            + record("M", msg))
    return head + record("E", b"%d %08x" % (len(head), zlib.crc32(head)))


class SpareRecoveryTest(unittest.TestCase):
    def setUp(self):
        self.m = MailServer()
        self.spare = os.path.join(self.m.state_dir, "queue", "spare")
        os.makedirs(self.spare, mode=0o700)

    def tearDown(self):
        for name in list(self.m.procs):
            self.m.stop(name)
        self.m.close()

    def test_committed_spare_delivered_torn_and_empty_removed(self):
        msg = b"Subject: spare\r\nMessage-ID: <spare-1@example.org>\r\n\r\nkept\r\n"
        good = queue_file(QID, "alice@localhost", msg)
        torn = bytearray(queue_file("00060A1B2C3D4E60", "bob@localhost",
                                    b"Subject: torn\r\nMessage-ID: <torn-1@example.org>\r\n\r\nlost\r\n"))
        torn[-30] ^= 0x01  # one flipped bit inside the message: the seal does not match
        files = {"0005F0000000000A.1": good, "0005F0000000000A.2": bytes(torn),
                 "0005F0000000000A.3": b"", "0005F0000000000A.4": good[:len(good) // 2]}
        for name, data in files.items():
            with open(os.path.join(self.spare, name), "wb") as f:
                f.write(data)
        self.m.give_to_run_user("queue", "queue/spare", *("queue/spare/" + n for n in files))
        self.m.start()
        stored = self.m.wait_message("alice@localhost", b"<spare-1@example.org>")
        self.assertIsNotNone(stored, self.m.log())
        self.assertTrue(stored.endswith(msg))
        self.assertTrue(wait_until(lambda: not self.m.queue_files(), 10), self.m.queue_files())
        self.assertEqual(len(self.m.messages("alice@localhost")), 1)
        self.assertEqual(self.m.messages("bob@localhost"), [])
        left = [n for n in os.listdir(self.spare) if n.startswith("0005F0000000000A.")]
        self.assertEqual(left, [])
        log = self.m.log()
        self.assertIn("%s: committed queue file recovered" % QID, log)
        self.assertIn("not committed (commit record checksum mismatch", log)
        # A new message is committed into a spare of this run; the rest stay empty, ready.
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=10) as s:
            s.sendmail("f@example.org", ["alice@localhost"], "Message-ID: <fresh@example.org>\r\n\r\nnew\r\n")
        self.assertIsNotNone(self.m.wait_message("alice@localhost", b"<fresh@example.org>"), self.m.log())
        ready = os.listdir(self.spare)
        self.assertTrue(ready)
        self.assertTrue(all(os.path.getsize(os.path.join(self.spare, n)) == 0 for n in ready))
        # After a restart the spares of the earlier run are removed by the start-up scan.
        self.m.stop()
        self.m.start()
        self.assertTrue(wait_until(lambda: not set(os.listdir(self.spare)) & set(ready), 10),
                        os.listdir(self.spare))
        self.assertEqual(len(self.m.messages("alice@localhost")), 2)

    def test_finished_files_reused_and_emptied_one_removed(self):
        # An emptied queue file whose move to spare/ did not happen before a crash.
        active = os.path.join(self.m.state_dir, "queue", "active")
        os.makedirs(active, mode=0o700)
        open(os.path.join(active, "00060A1B2C3D4E61"), "wb").close()
        self.m.give_to_run_user("queue", "queue/spare", "queue/active", "queue/active/00060A1B2C3D4E61")
        self.m.start()
        self.assertTrue(wait_until(lambda: not self.m.queue_files(), 10), self.m.queue_files())
        corrupt = os.path.join(self.m.state_dir, "queue", "corrupt")
        self.assertEqual(os.listdir(corrupt) if os.path.isdir(corrupt) else [], [])
        self.assertIn("00060A1B2C3D4E61: empty queue file (finished before a restart): removed", self.m.log())
        # Delivered messages leave their emptied files in spare/, which later commits reuse:
        # more messages than one batch of spares, and the number of spares stays bounded.
        with smtplib.SMTP("127.0.0.1", self.m.smtp_port, timeout=10) as s:
            for i in range(150):
                s.sendmail("f@example.org", ["alice@localhost"],
                           "Message-ID: <reuse-%d@example.org>\r\n\r\nbody %d\r\n" % (i, i))
        self.assertTrue(wait_until(lambda: len(self.m.messages("alice@localhost")) == 150
                                   and not self.m.queue_files(), 30), self.m.log()[-2000:])
        spares = os.listdir(self.spare)
        self.assertTrue(all(os.path.getsize(os.path.join(self.spare, n)) == 0 for n in spares))
        # reused ones carry a SEQ from 2^48 up; made ones count from 0
        self.assertTrue(any(int(n.rsplit(".", 1)[1]) >= 1 << 48 for n in spares), spares)
        self.assertLess(len(spares), 150 + 64)
        bodies = sorted(m.split(b"\r\n\r\n", 1)[1] for m in self.m.messages("alice@localhost"))
        self.assertEqual(bodies, sorted(b"body %d\r\n" % i for i in range(150)))


if __name__ == "__main__":
    unittest.main()
