#!/usr/bin/env python3
# check-layers.py - fails when a source file includes a header from a folder its row of docs/DESIGN.md's folder table does not allow.
"""The table in docs/DESIGN.md ("| folder | owns | may include |") is the rule; this script only
reads it. A header is known by its basename (each basename lives in one folder: checked too).
`common/*` in a "may include" cell means every common/ layer; "libc only" means none; a folder
may always include its own headers. Usage: check-layers.py [ROOT]; exit 1 with one line per
offending #include (file:line), 0 when clean."""
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))


def read_rules():
    rules = {}
    with open(os.path.join(root, "docs", "DESIGN.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([a-z/]+)/`\s*\|[^|]*\|\s*([^|]*)\|\s*$", line)
            if m:
                rules[m.group(1)] = m.group(2).strip()
    if not rules:
        sys.exit("check-layers: no folder table in docs/DESIGN.md")
    return rules


def allowed_folders(folder, cell, folders):
    ok = {folder}
    if cell in ("anything",):
        return set(folders)
    for word in re.split(r"[,;]\s*", cell):
        word = word.strip().strip("`").rstrip("/")
        if not word or word in ("libc only", "—", "-"):
            continue
        if word == "common/*":
            ok |= {f for f in folders if f.startswith("common/")}
        elif word in folders:
            ok.add(word)
        elif "common/" + word in folders:
            ok.add("common/" + word)
        else:
            sys.exit("check-layers: docs/DESIGN.md row %s names unknown folder %r" % (folder, word))
    return ok


def main():
    rules = read_rules()
    code_folders = [f for f in rules if os.path.isdir(os.path.join(root, f))]
    # Which folder each header lives in: the deepest table folder that holds the file directly.
    home = {}
    errors = []
    sources = []
    for folder in code_folders:
        d = os.path.join(root, folder)
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not os.path.isfile(path) or not name.endswith((".c", ".h")):
                continue
            sources.append((folder, path))
            if name.endswith(".h"):
                if name in home and home[name] != folder:
                    errors.append("%s/%s: header name also in %s/ (a header has one home)" % (folder, name, home[name]))
                home[name] = folder
    for folder, path in sources:
        ok = allowed_folders(folder, rules[folder], code_folders)
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                hdr = os.path.basename(m.group(1))
                where = home.get(hdr)
                if where is None:
                    continue	# a header of a test or a generated one: not a layer's
                if where not in ok:
                    errors.append("%s:%d: includes %s from %s/, which %s/ may not use (docs/DESIGN.md)"
                                  % (os.path.relpath(path, root), n, hdr, where, folder))
    for e in errors:
        print(e)
    if errors:
        print("check-layers: %d violation(s)" % len(errors))
        return 1
    print("check-layers: %d files in %d folders follow docs/DESIGN.md" % (len(sources), len(code_folders)))
    return 0


sys.exit(main())
