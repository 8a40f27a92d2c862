# test_imap_qresync.py - QRESYNC (RFC 7162), COMPRESS=DEFLATE (RFC 4978) and NOTIFY (RFC 5465) in imapd, with imaplib and raw-socket clients.
"""The RFC examples as far as they apply to a fresh folder, a caching imaplib client that resyncs
after another session expunged, and clients that speak through a deflate layer."""
import imaplib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import ssl
import unittest
import zlib

from harness import MailServer, tls_context
from test_imap_conformance import MSG, PASSWORD, USER, Session

BOB = "bob@localhost"


def vanished(lines, earlier):
    """The UIDs of the VANISHED responses in lines, as a set."""
    head = b"* VANISHED (EARLIER) " if earlier else b"* VANISHED "
    uids = set()
    for line in lines:
        if line.startswith(head) and (earlier or not line.startswith(b"* VANISHED (")):
            for part in line[len(head):].split(b","):
                lo, _, hi = part.partition(b":")
                uids.update(range(int(lo), int(hi or lo) + 1))
    return uids


def status_values(line):
    return dict((k.decode().upper(), int(v)) for k, v in re.findall(rb"([A-Za-z]+) (\d+)", line))


SERVER = None


def setUpModule():
    # one imapd for the module: each class works in folders of its own
    global SERVER
    SERVER = MailServer(extra={"imap_plaintext_auth": "yes"})
    SERVER.start("imapd")


def tearDownModule():
    SERVER.close()


class QresyncTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER

    def setUp(self):
        self.sessions = []
        self.addCleanup(lambda: [s.close() for s in self.sessions])

    def session(self):
        s = Session(self.server.imap_port)
        self.sessions.append(s)
        s.ok("LOGIN %s %s" % (USER, PASSWORD))
        return s

    @staticmethod
    def quietly_close(m):
        try:
            m.shutdown()
        except OSError:
            pass

    def folder(self, s, name, count):
        """A new folder with count messages; returns (uidvalidity, highestmodseq)."""
        s.ok("CREATE " + name)
        for i in range(count):
            s.ok("APPEND " + name, MSG % (i, i))
        untagged, _ = s.cmd("STATUS %s (UIDVALIDITY HIGHESTMODSEQ)" % name)
        st = status_values(untagged[0])
        return st["UIDVALIDITY"], st["HIGHESTMODSEQ"]

    def test_enable_and_capability(self):
        s = self.session()
        caps = s.ok("CAPABILITY")[0]
        self.assertIn(b" QRESYNC", caps)
        self.assertIn(b" CONDSTORE", caps)
        self.assertEqual(s.ok("ENABLE QRESYNC"), [b"* ENABLED QRESYNC"])
        # QRESYNC implies CONDSTORE (RFC 7162 3.2.3): FETCH carries MODSEQ unasked
        s.ok("CREATE q0")
        s.ok("APPEND q0", MSG % (1, 1))
        s.ok("SELECT q0")
        fetch = s.ok("FETCH 1 FLAGS")
        self.assertRegex(fetch[0], rb"^\* 1 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)$")

    def test_select_qresync_without_enable_is_bad(self):
        s = self.session()
        uv, hm = self.folder(s, "q1", 1)
        _, tagged = s.cmd("SELECT q1 (QRESYNC (%d %d))" % (uv, hm))
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        _, tagged = s.cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)

    def test_rfc_select_qresync_and_uid_fetch_vanished(self):
        # RFC 7162 3.2.5.2's exchange on a folder of 10 messages, 3 expunged and 2 flagged
        s = self.session()
        uv, hm = self.folder(s, "q2", 10)
        s.ok("ENABLE QRESYNC")
        s.ok("SELECT q2")
        s.ok("UID STORE 2,4,6 +FLAGS (\\Deleted)")
        untagged = s.ok("UID EXPUNGE 2,4")
        # expunges of a QRESYNC session come as VANISHED, not EXPUNGE
        self.assertEqual(vanished(untagged, False), {2, 4})
        self.assertFalse([l for l in untagged if l.endswith(b"EXPUNGE")], untagged)
        s.ok("UID STORE 8 +FLAGS (\\Flagged)")
        untagged = s.ok("UNSELECT")
        # known-uids 1:10: UIDs 2 and 4 vanished, 6 and 8 changed since hm
        untagged = s.ok("SELECT q2 (QRESYNC (%d %d 1:10))" % (uv, hm))
        self.assertEqual(vanished(untagged, True), {2, 4})
        changed = [l for l in untagged if b" FETCH " in l]
        self.assertEqual(len(changed), 2, untagged)
        self.assertRegex(changed[0], rb"^\* 4 FETCH \(UID 6 FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)$")
        self.assertRegex(changed[1], rb"^\* 6 FETCH \(UID 8 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$")
        # known-uids restricts what is reported; [CLOSED] marks the switch
        untagged = s.ok("SELECT q2 (QRESYNC (%d %d 3:5))" % (uv, hm))
        self.assertIn(b"* OK [CLOSED] Previous mailbox closed", untagged)
        self.assertEqual(vanished(untagged, True), {4})
        self.assertEqual([l for l in untagged if b" FETCH " in l], [])
        # a stale UIDVALIDITY: a plain SELECT, no VANISHED, no FETCH
        untagged = s.ok("SELECT q2 (QRESYNC (%d %d))" % (uv + 1, hm))
        self.assertEqual(vanished(untagged, True), set())
        self.assertFalse([l for l in untagged if b" FETCH " in l], untagged)
        # UID FETCH ... (CHANGEDSINCE m VANISHED), RFC 7162 3.2.6: "*" covers every UID given
        untagged = s.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hm)
        self.assertEqual(untagged[0][:22], b"* VANISHED (EARLIER) 2")
        self.assertEqual(vanished(untagged, True), {2, 4})
        self.assertEqual(len([l for l in untagged if b" FETCH " in l]), 2, untagged)
        # nothing changed after the highest modseq
        untagged, _ = s.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 999999 VANISHED)")
        self.assertEqual(untagged, [])

    def test_modseq_older_than_the_log_reports_every_missing_uid(self):
        s = self.session()
        uv, hm = self.folder(s, "q3", 6)
        s.ok("ENABLE QRESYNC")
        s.ok("SELECT q3")
        s.ok("STORE 1:3 +FLAGS (\\Deleted)")
        s.ok("EXPUNGE")
        s.ok("STORE 1 +FLAGS (\\Deleted)")
        untagged, tagged = s.cmd("EXPUNGE")
        self.assertEqual(vanished(untagged, False), {4})
        # the expunge's own mod-sequence is the folder's highest now (RFC 7162 3.2.7)
        self.assertRegex(tagged, rb"^OK \[HIGHESTMODSEQ (\d+)\] EXPUNGE completed")
        self.assertGreater(int(re.search(rb"\d+", tagged).group()), hm)
        # the log was started by the first expunge: anything before it is answered with
        # every UID missing below UIDNEXT, which includes all that vanished
        untagged = s.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        self.assertEqual(vanished(untagged, True), {1, 2, 3, 4})
        untagged = s.ok("UID FETCH 3:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hm)
        self.assertEqual(vanished(untagged, True), {3, 4})

    def test_imaplib_client_resyncs_after_another_session_expunged(self):
        # a caching client: remembers UIDVALIDITY, HIGHESTMODSEQ and its UIDs, logs out
        s = self.session()
        self.folder(s, "cache", 5)
        m = imaplib.IMAP4("127.0.0.1", self.server.imap_port)
        self.addCleanup(self.quietly_close, m)
        m.login(USER, PASSWORD)
        typ, data = m._simple_command("ENABLE", "QRESYNC")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"QRESYNC"])
        m.select("cache")
        uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
        modseq = int(m.untagged_responses["HIGHESTMODSEQ"][0])
        typ, data = m.uid("FETCH", "1:*", "(UID)")
        cached = sorted(int(re.search(rb"UID (\d+)", d).group(1)) for d in data)
        self.assertEqual(cached, [1, 2, 3, 4, 5])
        m.logout()
        # meanwhile another session expunges two messages and flags one
        s.ok("SELECT cache")
        s.ok("UID STORE 2,5 +FLAGS (\\Deleted)")
        s.ok("EXPUNGE")
        s.ok("UID STORE 3 +FLAGS (\\Seen)")
        # the client comes back and resyncs in one SELECT
        m = imaplib.IMAP4("127.0.0.1", self.server.imap_port)
        self.addCleanup(self.quietly_close, m)
        m.login(USER, PASSWORD)
        m._simple_command("ENABLE", "QRESYNC")
        typ, data = m._simple_command(
            "SELECT", "cache", "(QRESYNC (%d %d %s))" % (uidvalidity, modseq,
                                                         ",".join(map(str, cached))))
        self.assertEqual(typ, "OK")
        m.state = "SELECTED"  # imaplib's select() knows no parameters
        gone = m.untagged_responses.pop("VANISHED", [])
        self.assertEqual(gone, [b"(EARLIER) 2,5"])
        fetches = m.untagged_responses.pop("FETCH", [])
        self.assertEqual(len(fetches), 1, fetches)
        self.assertRegex(fetches[0], rb"^2 \(UID 3 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$")
        cached = [u for u in cached if u not in (2, 5)]
        typ, data = m.uid("SEARCH", "ALL")
        self.assertEqual([int(x) for x in data[0].split()], cached)
        # a live expunge by the other session shows as VANISHED in this one
        s.ok("UID STORE 4 +FLAGS (\\Deleted)")
        s.ok("EXPUNGE")
        typ, data = m.noop()
        self.assertEqual(m.untagged_responses.pop("VANISHED", []), [b"4"])
        m.logout()


class DeflateSocket:
    """A socket seen through RFC 4978's raw deflate, both ways, flushed per send."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.wire_in = 0
        self.pending = self.inflate.decompress(pending) if pending else b""

    def recv(self, n):
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        while True:
            raw = self.sock.recv(n)
            if not raw:
                return b""
            self.wire_in += len(raw)
            data = self.inflate.decompress(raw)
            if data:
                return data

    def compress(self, data):
        return self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def sendall(self, data):
        self.sock.sendall(self.compress(data))

    def close(self):
        self.sock.close()


class CompressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        s = Session(cls.server.imap_port)
        s.ok("LOGIN %s %s" % (USER, PASSWORD))
        for i in range(20):
            s.ok("APPEND INBOX", MSG % (i, i) + b"la la la la la\r\n" * 200)
        s.close()

    def compressed_session(self, tls=False, pipelined=b""):
        if tls:
            raw = socket.create_connection(("127.0.0.1", self.server.imaps_port), timeout=10)
            sock = tls_context().wrap_socket(raw, server_hostname="mx.test")
            port_session = Session.__new__(Session)
            port_session.sock, port_session.buf, port_session.n = sock, b"", 0
            self.assertTrue(port_session.line().startswith(b"* OK"))
            s = port_session
        else:
            s = Session(self.server.imap_port)
        self.addCleanup(s.close)
        s.ok("LOGIN %s %s" % (USER, PASSWORD))
        self.assertIn(b" COMPRESS=DEFLATE", s.ok("CAPABILITY")[0])
        # pipelined: commands compressed right behind COMPRESS, in the same packet
        z = DeflateSocket(s.sock)
        s.sock.sendall(b"c1 COMPRESS DEFLATE\r\n" + (z.compress(pipelined) if pipelined else b""))
        self.assertEqual(s.line(), b"c1 OK DEFLATE active")
        z.pending = z.inflate.decompress(s.buf) if s.buf else b""
        s.buf = b""
        s.sock = z
        return s, z

    def test_compress_deflate_both_ways(self):
        s, z = self.compressed_session()
        untagged = s.ok("SELECT INBOX")
        self.assertIn(b"* 20 EXISTS", untagged)
        body = s.ok("FETCH 1:20 BODY.PEEK[]")
        self.assertEqual(len(body), 20)
        self.assertIn(b"la la la", body[19])
        # the responses were really compressed: far fewer bytes on the wire
        self.assertLess(z.wire_in, sum(len(b) for b in body) // 5)
        _, tagged = s.cmd("COMPRESS DEFLATE")
        self.assertTrue(tagged.startswith(b"NO [COMPRESSIONACTIVE]"), tagged)
        s.ok("LOGOUT")

    def test_pipelined_commands_after_compress(self):
        s, z = self.compressed_session(pipelined=b"p1 NOOP\r\np2 SELECT INBOX\r\n")
        lines = []
        while not lines or not lines[-1].startswith(b"p2 "):
            lines.append(s.line())
        self.assertTrue(any(l.startswith(b"p1 OK") for l in lines), lines)
        self.assertIn(b"* 20 EXISTS", lines)
        self.assertTrue(lines[-1].startswith(b"p2 OK"), lines)

    def test_compress_over_tls(self):
        s, z = self.compressed_session(tls=True)
        self.assertIn(b"* 20 EXISTS", s.ok("EXAMINE INBOX"))
        self.assertEqual(len(s.ok("FETCH 1:* (UID FLAGS)")), 20)

    @unittest.skipUnless(shutil.which("offlineimap"), "offlineimap (offlineimap3) not installed")
    def test_offlineimap_syncs_compressed(self):
        local = tempfile.mkdtemp(prefix="offlineimap-")
        self.addCleanup(shutil.rmtree, local, True)
        rc = os.path.join(local, "offlineimaprc")
        with open(rc, "w") as f:
            f.write("[general]\naccounts = t\nmetadata = %s/meta\n\n"
                    "[Account t]\nlocalrepository = l\nremoterepository = r\n\n"
                    "[Repository l]\ntype = Maildir\nlocalfolders = %s/mail\n\n"
                    "[Repository r]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = %d\n"
                    "remoteuser = %s\nremotepass = %s\nssl = no\nstarttls = no\n"
                    "usecompression = yes\nfolderfilter = lambda f: f == 'INBOX'\n"
                    % (local, local, self.server.imap_port, USER, PASSWORD))
        r = subprocess.run(["offlineimap", "-c", rc, "-o", "-u", "quiet"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = []
        for sub in ("cur", "new"):
            d = os.path.join(local, "mail", "INBOX", sub)
            for n in os.listdir(d):
                with open(os.path.join(d, n), "rb") as f:
                    got.append(f.read())
        self.assertEqual(len(got), 20)
        self.assertTrue(all(b"la la la" in m for m in got))
        self.assertIn("COMPRESS=DEFLATE active", self.server.log("imapd"))

    def test_garbage_instead_of_deflate_closes(self):
        s = Session(self.server.imap_port)
        self.addCleanup(s.close)
        s.ok("LOGIN %s %s" % (USER, PASSWORD))
        s.sock.sendall(b"c1 COMPRESS DEFLATE\r\n")
        self.assertEqual(s.line(), b"c1 OK DEFLATE active")
        s.sock.sendall(b"\xff" * 64)
        s.sock.settimeout(5)
        self.assertEqual(s.sock.recv(100), b"")


class NotifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = SERVER

    def session(self, user=USER):
        s = Session(self.server.imap_port)
        self.addCleanup(s.close)
        s.ok("LOGIN %s %s" % (user, PASSWORD))
        return s

    def test_notify_set_checks_events(self):
        s = self.session()
        self.assertIn(b" NOTIFY", s.ok("CAPABILITY")[0])
        _, tagged = s.cmd("NOTIFY SET (personal (AnnotationChange))")
        self.assertTrue(tagged.startswith(b"NO [BADEVENT"), tagged)
        # RFC 5465 5.1: MessageNew without MessageExpunge is BAD
        _, tagged = s.cmd("NOTIFY SET (personal (MessageNew))")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        _, tagged = s.cmd("NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        _, tagged = s.cmd("NOTIFY SET (nosuchfilter NONE)")
        self.assertTrue(tagged.startswith(b"BAD"), tagged)
        s.ok("NOTIFY NONE")

    def test_delivery_into_inbox_is_reported_while_another_folder_is_selected(self):
        a = self.session(BOB)  # an INBOX of its own (CompressTest counts alice's)
        a.ok("CREATE elsewhere")
        a.ok("SELECT elsewhere")
        a.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (inboxes (MessageNew MessageExpunge))")
        # a delivery by another program (mtad/deliver write tmp/, then rename into new/)
        inbox = self.server.maildir(BOB)
        with open(inbox + "/tmp/d1", "wb") as f:
            f.write(MSG % (7, 7))
        os.rename(inbox + "/tmp/d1", inbox + "/new/1700000001.d1.mx")
        self.assertRegex(a.line(), rb"^\* STATUS INBOX \(MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+\)$")
        a.ok("NOTIFY NONE")

    def test_status_and_selected_events_arrive_unasked(self):
        a, b = self.session(), self.session()
        for name in ("n1", "n2", "n3/sub"):
            a.ok("CREATE " + name)
        a.ok("APPEND n2", MSG % (1, 1))
        a.ok("SELECT n1")
        untagged = a.ok("NOTIFY SET STATUS (selected (MessageNew MessageExpunge FlagChange)) "
                        "(subtree n2 (MessageNew MessageExpunge FlagChange)) "
                        "(mailboxes (n3/sub n4) (MessageNew MessageExpunge MailboxName "
                        "SubscriptionChange))")
        # the initial STATUS of the mailboxes named, not of the selected one
        n2 = [l for l in untagged if l.startswith(b"* STATUS n2 ")]
        self.assertEqual(len(n2), 1, untagged)
        self.assertRegex(n2[0], rb"\(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ HIGHESTMODSEQ \d+\)$")
        self.assertTrue(any(l.startswith(b"* STATUS n3/sub (MESSAGES 0 ") for l in untagged))
        self.assertFalse(any(b"HIGHESTMODSEQ" in l for l in untagged if b"n3/sub" in l))
        self.assertFalse(any(b" n1 " in l for l in untagged), untagged)
        # another session changes a watched mailbox: STATUS comes without a command
        b.ok("APPEND n2", MSG % (2, 2))
        self.assertRegex(a.line(), rb"^\* STATUS n2 \(MESSAGES 2 UIDNEXT 3 ")
        # ... and the selected one: EXISTS, then a FETCH for a flag change
        b.ok("APPEND n1", MSG % (3, 3))
        self.assertEqual(a.line(), b"* 1 EXISTS")
        self.assertEqual(a.line(), b"* 1 RECENT")
        b.ok("SELECT n1")
        b.ok("STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(a.line(), b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))")
        # a message delivered by another program shows at once too (the folder is watched)
        path = self.server.maildir(USER, "n1")
        with open(path + "/tmp/x1", "wb") as f:
            f.write(MSG % (4, 4))
        os.rename(path + "/tmp/x1", path + "/new/1700000000.x1.mx")
        self.assertEqual(a.line(), b"* 2 EXISTS")
        self.assertEqual(a.line(), b"* 2 RECENT")
        # mailbox names and subscriptions of the mailboxes named
        b.ok("CREATE n4")
        self.assertEqual(a.line(), b'* LIST () "/" n4')
        b.ok("SUBSCRIBE n4")
        self.assertEqual(a.line(), b'* LIST (\\Subscribed) "/" n4')
        b.ok("CREATE n5")  # not named: nothing
        b.ok("DELETE n4")
        self.assertEqual(a.line(), b'* LIST (\\NonExistent) "/" n4')
        b.ok("UNSUBSCRIBE n4")
        self.assertEqual(a.line(), b'* LIST () "/" n4')
        # NOTIFY NONE: quiet again
        self.assertEqual(a.ok("NOTIFY NONE"), [])
        b.ok("APPEND n2", MSG % (5, 5))
        self.assertEqual(a.ok("NOOP"), [])
