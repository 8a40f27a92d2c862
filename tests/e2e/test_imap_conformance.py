# test_imap_conformance.py - imapd protocol conformance (issue 17): raw IMAP exchanges checked against RFC 3501/5258/4731/7162 replies.
"""Each test speaks IMAP over a plain loopback socket (imap_plaintext_auth = yes) so that the exact
bytes sent and received are under control, and checks what a client would see."""
import re
import socket
import time
import unittest

from harness import MailServer

USER = "alice@localhost"
PASSWORD = "secret"

MSG = (b"From: Bob <bob@example.org>\r\nTo: alice@localhost\r\nSubject: hi\r\n"
       b"Message-ID: <%d@example.org>\r\n\r\nbody %d\r\n")


class Session:
    """A minimal IMAP client: cmd() sends one tagged command and returns (untagged, tagged)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        greeting = self.line()
        assert greeting.startswith(b"* OK"), greeting

    def line(self):
        deadline = time.monotonic() + 10
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(self.buf)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed: %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        # a literal {n} at the end of a line: read it and the rest of the response
        m = re.search(rb"\{(\d+)\}$", line)
        if m:
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.line()
        return line

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"t%d" % self.n
        data = text.encode() if isinstance(text, str) else text
        if literal is not None:
            self.send(tag + b" " + data + b" {%d}\r\n" % len(literal))
            cont = self.line()
            assert cont.startswith(b"+"), cont
            self.send(literal + b"\r\n")
        else:
            self.send(tag + b" " + data + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def ok(self, text, literal=None):
        untagged, tagged = self.cmd(text, literal)
        assert tagged.startswith(b"OK"), (text[:200], tagged, untagged[:5])
        return untagged

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ConformanceTest(unittest.TestCase):
    def setUp(self):
        self.server = MailServer(extra={"imap_plaintext_auth": "yes"})
        self.addCleanup(self.server.close)
        self.server.start("imapd")
        self.sessions = []
        self.addCleanup(lambda: [s.close() for s in self.sessions])

    def session(self, login=True):
        s = Session(self.server.imap_port)
        self.sessions.append(s)
        if login:
            s.ok('LOGIN %s %s' % (USER, PASSWORD))
        return s

    # bug 1: '[' is an ordinary atom byte outside FETCH sections
    def test_bracket_in_mailbox_name_atom(self):
        s = self.session()
        s.ok("CREATE abc[")
        untagged = s.ok('LIST "" abc[%')
        self.assertEqual(untagged, [b'* LIST (\\HasNoChildren) "/" abc['])
        untagged, tagged = s.cmd("SELECT nosuch[x")
        self.assertTrue(tagged.startswith(b"NO"), tagged)
        s.ok("DELETE abc[")

    # bug 2: a re-created mailbox never gets its old UIDVALIDITY back
    def test_recreated_mailbox_uidvalidity_is_greater(self):
        s = self.session()
        seen = []
        for i in range(3):
            s.ok("CREATE again")
            untagged = s.ok("APPEND again", MSG % (i, i))
            self.assertEqual(untagged, [])
            untagged, tagged = s.cmd("STATUS again (UIDVALIDITY UIDNEXT)")
            m = re.match(rb"\* STATUS again \(UIDVALIDITY (\d+) UIDNEXT 2\)", untagged[0])
            self.assertTrue(m, untagged)
            seen.append(int(m.group(1)))
            s.ok("DELETE again")
        self.assertEqual(seen, sorted(set(seen)), "UIDVALIDITY reused or lowered: %r" % seen)

    # bug 3: subscriptions outlive their mailbox; LSUB shows the \Noselect parent
    def test_lsub_and_list_subscribed_keep_deleted_and_parents(self):
        s = self.session()
        for name in ("sb/test", "sb/test2/test", "sb/gone"):
            s.ok("CREATE " + name)
            s.ok("SUBSCRIBE " + name)
        s.ok("DELETE sb/gone")
        lsub = s.ok('LSUB "" sb/%')
        self.assertCountEqual(lsub, [b'* LSUB () "/" sb/test',
                                     b'* LSUB (\Noselect) "/" sb/test2',
                                     b'* LSUB (\Noselect) "/" sb/gone'])
        listed = s.ok('LIST (SUBSCRIBED) "" sb/*')
        self.assertIn(b'* LIST (\NonExistent \Subscribed) "/" sb/gone', listed)
        self.assertIn(b'* LIST (\HasNoChildren \Subscribed) "/" sb/test2/test', listed)
        self.assertEqual(len(listed), 3, listed)
        # a plain LIST shows only what exists
        self.assertNotIn(b"gone", b"".join(s.ok('LIST "" sb/*')))
        s.ok("UNSUBSCRIBE sb/gone")
        self.assertNotIn(b"gone", b"".join(s.ok('LSUB "" *')))

    # bug 4: RECURSIVEMATCH gives CHILDINFO parents; bad option combinations are BAD
    def test_list_extended_recursivematch_and_errors(self):
        s = self.session()
        s.ok("CREATE p/a/b")
        s.ok("SUBSCRIBE p/a/b")
        listed = s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" p/%')
        self.assertEqual(listed, [b'* LIST (\HasChildren) "/" p/a ("CHILDINFO" ("SUBSCRIBED"))'])
        listed = s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" p/*')
        self.assertEqual(listed, [b'* LIST (\HasNoChildren \Subscribed) "/" p/a/b'])
        for bad in ('LIST (RECURSIVEMATCH) "" ""', 'LIST (RECURSIVEMATCH REMOTE) "" %',
                    'LIST "" "" RETURN (IMAPTEST)', 'LIST (IMAPTEST) "" %', 'LIST "" % RETURN'):
            untagged, tagged = s.cmd(bad)
            self.assertTrue(tagged.startswith(b"BAD"), (bad, tagged))
        s.ok('LIST "" % RETURN (CHILDREN SUBSCRIBED SPECIAL-USE)')

    # bug 5: the reference is concatenated with the pattern (RFC 3501 6.3.8)
    def test_list_reference_concatenated(self):
        s = self.session()
        s.ok("CREATE r/x")
        self.assertIn(b'* LIST (\HasNoChildren) "/" INBOX', s.ok('LIST "INBOX" *'))
        self.assertEqual(s.ok('LIST "r/" %'), [b'* LIST (\HasNoChildren) "/" r/x'])
        self.assertEqual(s.ok('LIST "r" *'), [b'* LIST (\HasChildren) "/" r',
                                              b'* LIST (\HasNoChildren) "/" r/x'])
        self.assertIn(b'* LIST (\HasNoChildren) "/" INBOX', s.ok('LIST "" inbox'))

    def select_with(self, s, n, box="INBOX"):
        for i in range(n):
            s.ok("APPEND %s" % box, MSG % (i, i))
        return s.ok("SELECT %s" % box)

    # bug 7: ESEARCH MIN/MAX with MODSEQ gives the modseq of the message returned
    def test_esearch_min_max_modseq(self):
        s = self.session()
        self.select_with(s, 3)
        untagged = s.ok("FETCH 1 MODSEQ")
        self.assertTrue(any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in untagged), untagged)
        modseq = {}
        for seq in (1, 3, 2):
            untagged = s.ok("STORE %d +FLAGS \\Seen" % seq)
            m = re.search(rb"MODSEQ \((\d+)\)", b"".join(untagged))
            modseq[seq] = int(m.group(1))
        self.assertLess(modseq[1], modseq[3])
        self.assertLess(modseq[3], modseq[2])

        def esearch(ret, rng="1:3"):
            untagged = s.ok('SEARCH RETURN (%s) %s MODSEQ "/flags/\\\\seen" all 1' % (ret, rng))
            return [l for l in untagged if l.startswith(b"* ESEARCH")][0]
        self.assertTrue(esearch("MIN").endswith(b" MIN 1 MODSEQ %d" % modseq[1]))
        self.assertTrue(esearch("MAX").endswith(b" MAX 3 MODSEQ %d" % modseq[3]))
        self.assertTrue(esearch("MIN MAX", "1,3").endswith(b" MIN 1 MAX 3 MODSEQ %d" % modseq[3]))
        self.assertTrue(esearch("ALL").endswith(b" ALL 1:3 MODSEQ %d" % modseq[2]))
        self.assertTrue(esearch("MIN COUNT").endswith(b" MODSEQ %d" % modseq[2]))

    # bug 8: EXAMINE reports the same RECENT as STATUS and SELECT
    def test_examine_reports_recent(self):
        s = self.session()
        s.ok("CREATE rec")
        for i in range(2):
            s.ok("APPEND rec", MSG % (i, i))
        self.assertIn(b"* 2 RECENT", s.ok("EXAMINE rec"))
        s.ok("CLOSE")
        self.assertIn(b"* STATUS rec (RECENT 2)", s.ok("STATUS rec (RECENT)"))
        self.assertIn(b"* 2 RECENT", s.ok("SELECT rec"))
        s.ok("CLOSE")
        self.assertIn(b"* STATUS rec (RECENT 0)", s.ok("STATUS rec (RECENT)"))

    # bug 9: NIL is a keyword atom in a flag list
    def test_store_nil_keyword(self):
        s = self.session()
        self.select_with(s, 1)
        untagged = s.ok("STORE 1 +FLAGS NIL")
        self.assertTrue(untagged[0].startswith(b"* FLAGS (") and b" NIL)" in untagged[0], untagged)
        self.assertEqual(s.ok("FETCH 1 FLAGS"), [b"* 1 FETCH (FLAGS (\\Recent NIL))"])
        self.assertEqual(s.ok("SEARCH KEYWORD NIL"), [b"* SEARCH 1"])

    # bug 10: a keyword another session brought into use is announced before the FETCH showing it
    def test_new_keyword_from_other_session_flags_first(self):
        a = self.session()
        self.select_with(a, 2)
        b = self.session()
        b.ok("SELECT INBOX")
        untagged = b.ok("STORE 2 +FLAGS ($Fresh)")
        self.assertTrue(untagged[0].startswith(b"* FLAGS ("), untagged)
        self.assertTrue(untagged[1].startswith(b"* OK [PERMANENTFLAGS ("), untagged)
        untagged = a.ok("NOOP")
        kinds = [l.split(b" ")[1] if not l.startswith(b"* OK") else b"OK" for l in untagged]
        self.assertEqual(kinds, [b"FLAGS", b"OK", b"2"], untagged)
        self.assertIn(b"$Fresh", untagged[0])
        self.assertIn(b"$Fresh", untagged[1])
        self.assertIn(b"$Fresh", untagged[2])
        # told once: a second change with known keywords sends no FLAGS
        b.ok("STORE 1 +FLAGS ($Fresh)")
        untagged = a.ok("NOOP")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertTrue(untagged[0].startswith(b"* 1 FETCH"), untagged)

    # bug 9: SEARCH FROM matches an address written with comments
    def test_search_from_address_with_comments(self):
        s = self.session()
        s.ok("APPEND INBOX", b"From: <user-from (comment)@ (comment) domain.org>\r\n"
                             b"Subject: a\r\n\r\nx\r\n")
        s.ok("APPEND INBOX", b"From: other@domain.org\r\nSubject: b\r\n\r\ny\r\n")
        s.ok("SELECT INBOX")
        self.assertEqual(s.ok("SEARCH FROM user-from@domain.org"), [b"* SEARCH 1"])
        self.assertEqual(s.ok("SEARCH FROM domain.org"), [b"* SEARCH 1 2"])

    # bug 9: an ID with RFC 2971's maximal sizes fits the pre-login line limit, which stays bounded
    def test_id_with_maximal_sizes_before_login(self):
        s = self.session(login=False)
        fields = b" ".join(b'"%s" "%s"' % ((b"f%02d" % i).ljust(30, b"x"), b"v" * 1024)
                           for i in range(30))
        untagged = s.ok(b"ID (" + fields + b")")
        self.assertTrue(untagged[0].startswith(b"* ID ("), untagged)
        untagged, tagged = s.cmd(b"NOOP " + b"x" * 100000)
        self.assertTrue(tagged.startswith(b"BAD") or any(l.startswith(b"* BAD") for l in untagged),
                        (tagged, untagged))
        s.ok("LOGIN %s %s" % (USER, PASSWORD))


if __name__ == "__main__":
    unittest.main()
