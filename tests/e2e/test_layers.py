# test_layers.py - the layering check passes on the tree and fails on an upward or sideways #include.
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, "scripts", "check-layers.py")
FOLDERS = ["common", "delivery", "mta", "imapd", "tools", "docs"]


class LayersTest(unittest.TestCase):
    def run_check(self, root):
        return subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True, timeout=60)

    def copy_tree(self):
        d = tempfile.mkdtemp(prefix="layers-")
        self.addCleanup(shutil.rmtree, d)
        for f in FOLDERS:
            shutil.copytree(os.path.join(ROOT, f), os.path.join(d, f))
        return d

    def add_include(self, root, rel, header):
        path = os.path.join(root, rel)
        with open(path) as f:
            lines = f.read().split("\n")
        lines.insert(2, '#include "%s"' % header)
        with open(path, "w") as f:
            f.write("\n".join(lines))

    def test_tree_follows_the_table(self):
        r = self.run_check(ROOT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_upward_include_fails(self):
        d = self.copy_tree()
        self.add_include(d, "common/base/buf.c", "mailbox.h")
        r = self.run_check(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("common/base/buf.c:3: includes mailbox.h from imapd/store/", r.stdout)

    def test_sibling_include_fails(self):
        d = self.copy_tree()
        self.add_include(d, "common/mail/addr.c", "accounts.h")
        self.add_include(d, "delivery/deliver.c", "queue.h")
        r = self.run_check(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("common/mail/addr.c:3: includes accounts.h from common/auth/", r.stdout)
        self.assertIn("delivery/deliver.c:3: includes queue.h from mta/", r.stdout)

    def test_store_may_not_reach_imapd(self):
        d = self.copy_tree()
        self.add_include(d, "imapd/store/mailbox_index.c", "client.h")
        r = self.run_check(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("imapd/store/mailbox_index.c:3: includes client.h from imapd/", r.stdout)


if __name__ == "__main__":
    unittest.main()
