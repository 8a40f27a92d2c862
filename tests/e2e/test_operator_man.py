# test_operator_man.py - the man pages are mandoc-lint clean and mail.conf(5), generated from docs/config.md, lists every key of the loader.
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAN = os.path.join(BUILD, "man")
PAGES = ("mtad.8", "imapd.8", "deliver.8", "lmtpd.8", "mailctl.8", "sendmail.1", "mail.conf.5")
OWN = {"%s(%s)" % tuple(p.rsplit(".", 1)) for p in PAGES}


def loader_keys():
    """The keys of the table config_keys[] in common/base/config.c (KEY/LIST/... rows)."""
    with open(os.path.join(ROOT, "common", "base", "config.c")) as f:
        src = f.read()
    table = src[src.index("config_keys[] = {"):]
    table = table[:table.index("\n};")]
    return re.findall(r"^\t[A-Z]+\((\w+),", table, re.M)


@unittest.skipUnless(shutil.which("mandoc"), "mandoc not installed")
class ManPages(unittest.TestCase):
    def test_every_page_built(self):
        for page in PAGES:
            self.assertTrue(os.path.isfile(os.path.join(MAN, page)), page)
            self.assertTrue(os.path.isfile(os.path.join(MAN, page + ".gz")), page)

    def test_mandoc_lint_clean(self):
        """mandoc -T lint: no message at all, but cross-references between these six pages
        (mandoc looks for them among the installed manuals, and they are not installed here)."""
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "style"] +
                           [os.path.join(MAN, p) for p in PAGES], capture_output=True, text=True)
        problems = []
        for line in (r.stdout + r.stderr).splitlines():
            if line.startswith("mandoc: outdated mandoc.db"):
                continue  # about this machine's /usr/share/man index, not these pages
            m = re.search(r"STYLE: referenced manual not found: Xr (\S+) (\d)", line)
            if m and "%s(%s)" % (m.group(1), m.group(2)) in OWN:
                continue
            problems.append(line)
        self.assertEqual(problems, [])

    def test_mail_conf_5_lists_every_key(self):
        with open(os.path.join(MAN, "mail.conf.5")) as f:
            page = f.read()
        listed = re.findall(r"^\.It Ic (\w+)$", page, re.M)
        keys = loader_keys()
        self.assertGreater(len(keys), 40)
        self.assertEqual(sorted(listed), sorted(keys))
        text = subprocess.run(["mandoc", "-T", "ascii", os.path.join(MAN, "mail.conf.5")],
                              capture_output=True, text=True, check=True).stdout
        text = re.sub(r".\x08", "", text)
        self.assertIn("Default: ‘35M’".replace("‘", "'").replace("’", "'"),
                      text.replace("`", "'").replace("\u2018", "'").replace("\u2019", "'"))

    def test_one_source_docs_config_md(self):
        """The man page follows docs/config.md: a changed row shows up in the generated page."""
        tmp = tempfile.mkdtemp(prefix="man-")
        try:
            with open(os.path.join(ROOT, "docs", "config.md")) as f:
                md = f.read()
            md = md.replace("| `max_recipients` | recipients per message",
                            "| `max_recipients` | MARKER recipients per message")
            src = os.path.join(tmp, "config.md")
            with open(src, "w") as f:
                f.write(md)
            out = os.path.join(tmp, "mail.conf.5")
            subprocess.run(["python3", os.path.join(ROOT, "docs", "man", "gen-mail-conf.py"), src,
                            os.path.join(ROOT, "docs", "man", "mail.conf.5.in"), out,
                            "/etc/mtad/mail.conf"], check=True)
            with open(out) as f:
                self.assertIn("MARKER recipients per message", f.read())
            with open(os.path.join(ROOT, "docs", "man", "mail.conf.5.in")) as f:
                self.assertNotIn(".It Ic", f.read())  # no hand-kept key entries
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_default_config_path_in_pages(self):
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            cache = f.read()
        m = re.search(r"^MAIL_CONFIG_PATH:STRING=(.*)$", cache, re.M)
        for page in PAGES:
            with open(os.path.join(MAN, page)) as f:
                text = f.read()
            self.assertNotIn("@CONFIG_PATH@", text, page)
            if m and m.group(1):
                self.assertIn(m.group(1), text, page)


if __name__ == "__main__":
    unittest.main()
