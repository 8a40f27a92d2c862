#!/usr/bin/env python3
# gen-mail-conf.py - writes mail.conf(5) from the key table of docs/config.md (the one source) into docs/man/mail.conf.5.in.
"""Usage: gen-mail-conf.py CONFIG_MD TEMPLATE OUTPUT CONFIG_PATH

Every row of the table under "## Keys" in CONFIG_MD becomes one ".It Ic key" entry (meaning,
default, example) in place of the line "@KEYS@" of TEMPLATE; "@CONFIG_PATH@" becomes the
configuration file the programs read by default."""
import re
import sys
import textwrap

PUNCT = set(".,:;)]?!")


def md_keys(text):
    """The (key, meaning, default, example) rows of the "## Keys" table."""
    m = re.search(r"^## Keys\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        sys.exit("gen-mail-conf: no '## Keys' section")
    rows = []
    for line in m.group(1).splitlines():
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| key "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 4:
            sys.exit("gen-mail-conf: row with %d cells: %s" % (len(cells), line))
        key = cells[0].strip("`")
        if not re.fullmatch(r"[a-z0-9_]+", key):
            sys.exit("gen-mail-conf: bad key cell: %s" % cells[0])
        rows.append((key, cells[1], cells[2], cells[3]))
    if not rows:
        sys.exit("gen-mail-conf: empty key table")
    return rows


def escape_text(s):
    s = s.replace("\\", "\\e")
    return s


def text_lines(s):
    """Plain text as roff text lines: one sentence per line, no line starting with . or '."""
    out = []
    for part in re.split(r"(?<=[.;?!]) +(?=\S)", s):
        part = part.strip()
        if not part:
            continue
        for line in textwrap.wrap(escape_text(part), 78, break_long_words=False,
                                  break_on_hyphens=False):
            if line[0] in ".'":
                line = "\\&" + line
            out.append(line)
    return out


def quote_arg(code):
    code = code.replace("\\", "\\e").replace('"', '\\(dq')
    if " " in code or "\t" in code:
        return '"%s"' % code
    return "\\&" + code + "\\&"


def md_to_mdoc(s):
    """Markdown of one cell (text, `code`, [text](link)) as mdoc lines."""
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)
    parts = s.split("`")
    if len(parts) % 2 == 0:
        sys.exit("gen-mail-conf: unbalanced backquotes: %s" % s)
    lines = []
    i = 0
    pending = parts[0]
    while i < len(parts):
        text = pending
        if i + 1 >= len(parts):
            lines += text_lines(text)
            break
        code = parts[i + 1]
        after = parts[i + 2]
        opening = []
        if text.endswith("("):
            text = text[:-1]
            opening = ["("]
        lines += text_lines(text)
        closing = []
        j = 0
        while j < len(after) and after[j] in PUNCT:
            closing.append(after[j])
            j += 1
        if j < len(after) and after[j] not in " \t":
            # a word glued to the code (e.g. `key`s): keep it with Ns
            m = re.match(r"\S+", after[j:])
            closing += ["Ns", escape_text(m.group(0))]
            j += len(m.group(0))
        lines.append(".Ql " + " ".join(opening + [quote_arg(code)] + closing))
        pending = after[j:]
        i += 2
    return lines


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    md, template, output, conf_path = sys.argv[1:]
    with open(md) as f:
        rows = md_keys(f.read())
    body = [".Bl -tag -width Ds"]
    for key, meaning, default, example in rows:
        body.append(".It Ic %s" % key)
        body += md_to_mdoc(meaning)
        body.append(".Pp")
        body.append("Default:")
        body += md_to_mdoc(default)
        body.append(".br")
        body.append("Example:")
        body.append(".Ql %s" % " ".join([quote_arg("%s = %s" % (key, example.strip("`")))]))
    body.append(".El")
    with open(template) as f:
        tmpl = f.read()
    if "@KEYS@\n" not in tmpl:
        sys.exit("gen-mail-conf: no @KEYS@ line in %s" % template)
    out = tmpl.replace("@KEYS@\n", "\n".join(body) + "\n").replace("@CONFIG_PATH@", conf_path)
    with open(output, "w") as f:
        f.write(out)


if __name__ == "__main__":
    main()
