#!/usr/bin/env python3
"""The man pages agree with the program (issue 19).

    check_docs.py MODVM MODVM.CONF.5 MODVM.1 PLUGIN...

modvm.conf(5): every option of the core (`modvm help config`) and of each
named plugin (`modvm plugins --describe NAME`) is in the page, with the same
type, default, range or choices and description, and the page has nothing
else: no option, section or plugin that the tables do not have.  The page is
generated from the tables by tools/mangen and the text comes from
`modvm`'s own printer, so a disagreement is a bug in one of them, or a page
that was not regenerated.

modvm(1): every command of `modvm help` has an entry under COMMANDS, every
long option of `modvm --help` one under OPTIONS, and EXIT STATUS lists 0, 1
and 2 as `modvm help` states them.

Pages may be gzip-compressed (as installed by Debian).  Exit 0, or 1 with
every difference listed.
"""
import gzip
import re
import subprocess
import sys

TYPES = "bool|int|size|double|string|enum|list"
# What follows the default: a range, the choices, or a list's element count.
LIMITS = r"range .*|choices .*|\d+\.\.\d+ elements"


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read()


def run(modvm, *args):
    r = subprocess.run([modvm, *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit(f"check_docs: {modvm} {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r.stdout


def parse_text(out):
    """{section: [(name, type, default, limits, description)]} from the text form."""
    sections, cur, entry = {}, None, None
    for line in out.splitlines():
        m = re.match(r"^(?:vm )?options \((.*)\):$", line)
        if m:
            cur = sections.setdefault(m.group(1), [])
            entry = None
            continue
        if cur is None or not line.startswith("  "):
            if not line.startswith("  "):
                cur = None
            continue
        if line == "  (none)":
            continue
        # An entry starts in column 2; its description follows, indented
        # past the name column (as wide as the longest name of the table).
        m = re.match(r"^  (\S+)\s+(%s)\s+(.*)$" % TYPES, line)
        if m:
            rest = m.group(3)
            limits = ""
            lm = re.search(r"  (%s)$" % LIMITS, rest)
            if lm:
                limits, rest = lm.group(1), rest[:lm.start()]
            default = None if rest == "required" else rest[len("default "):]
            entry = [m.group(1), m.group(2), default, limits, ""]
            cur.append(entry)
        elif entry is not None and line.startswith("   "):
            entry[4] = line.strip()
    return {k: [tuple(e) for e in v] for k, v in sections.items()}


def unescape(s):
    s = s.replace("\\e", "\x00").replace("\\&", "").replace("\\-", "-")
    s = s.replace("\\(dq", '"')
    s = re.sub(r"\\f[BIRP]", "", s)
    return s.replace("\x00", "\\")


def parse_man(src):
    """The same from the generated man(7) source: .SS sections of .TP entries."""
    sections, cur = {}, None
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH"):
            cur = None
        m = re.match(r'^\.SS "(.*)"$', line)
        if m and re.match(r"^(host|vms\.\[\](\..+)?|plugins\..+)$", m.group(1)):
            cur = sections.setdefault(m.group(1), [])
        elif line == ".TP" and cur is not None:
            name = unescape(lines[i + 1][len(".B "):])
            facts = unescape(lines[i + 2])
            m = re.match(r"^(%s), (required|default (.*?))(, (%s))?$" % (TYPES, LIMITS), facts)
            if not m or not lines[i + 1].startswith(".B "):
                raise SystemExit(f"check_docs: man page line {i + 2}: cannot read {facts!r}")
            desc = ""
            i += 3
            if i < len(lines) and lines[i] == ".br":
                desc = unescape(lines[i + 1])
                i += 2
            cur.append((name, m.group(1), m.group(3) if m.group(3) is not None else None,
                        m.group(5) or "", desc))
            continue
        i += 1
    return sections


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    modvm, conf5, man1, plugins = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    problems = []

    # ---- modvm.conf(5) against the option tables ----
    want = parse_text(run(modvm, "help", "config"))
    for p in plugins:
        want.update(parse_text(run(modvm, "plugins", "--describe", p)))
    if "host" not in want or "vms.[]" not in want:
        problems.append("`modvm help config` lists no host or VM options")
    have = parse_man(read(conf5))
    for section in sorted(set(want) | set(have)):
        w, h = want.get(section, []), have.get(section, [])
        if section not in have and w:
            problems.append(f"modvm.conf(5): no section {section} ({len(w)} options)")
            continue
        if section not in want:
            problems.append(f"modvm.conf(5): section {section}, which no table has")
            continue
        wn, hn = [e[0] for e in w], [e[0] for e in h]
        for name in wn:
            if name not in hn:
                problems.append(f"modvm.conf(5): {section}.{name} missing")
        for name in hn:
            if name not in wn:
                problems.append(f"modvm.conf(5): {section}.{name} is in no table")
        for we in w:
            he = next((e for e in h if e[0] == we[0]), None)
            if he and he != we:
                problems.append(f"modvm.conf(5): {section}.{we[0]}: page says {he[1:]}, "
                                f"the table {we[1:]}")
    for p in plugins:
        if f"plugins.{p}" not in have:
            problems.append(f"modvm.conf(5): plugin {p} missing")

    # ---- modvm(1) against `modvm help` ----
    usage = run(modvm, "help")
    commands = re.findall(r"^  ([a-z]+)(?: |$)", usage.split("Commands:")[1].split("Options:")[0],
                          re.M)
    longopts = re.findall(r"--([a-z-]+)", usage.split("Options:")[1].split("\n\n")[0])
    man = read(man1)
    sect = {}
    for m in re.finditer(r"^\.SH ([^\n]+)\n(.*?)(?=^\.SH |\Z)", man, re.M | re.S):
        sect[m.group(1).strip('"')] = m.group(2)
    if len(commands) < 8:
        problems.append(f"`modvm help` lists only {commands}")
    entries = [unescape(re.sub(r'^\.B[IR]* ', "", l)).strip('"').split()[0]
               for l in re.findall(r"^\.TP\n(.+)$", sect.get("COMMANDS", ""), re.M)]
    for c in commands:
        if c not in entries:
            problems.append(f"modvm(1): command {c} has no entry under COMMANDS")
    for c in entries:
        if c not in commands:
            problems.append(f"modvm(1): COMMANDS has {c}, which `modvm help` does not list")
    options = unescape(sect.get("OPTIONS", ""))
    for o in longopts:
        if f"--{o}" not in options:
            problems.append(f"modvm(1): option --{o} has no entry under OPTIONS")
    status = unescape(sect.get("EXIT STATUS", ""))
    stated = re.search(r"Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error",
                       usage)
    if not stated:
        problems.append("`modvm help` does not state the exit codes")
    for code, word in (("0", "Success"), ("1", "Runtime failure"), ("2", "Usage or configuration")):
        if not re.search(r"^\.B %s\n%s" % (code, word), status, re.M):
            problems.append(f"modvm(1): EXIT STATUS lacks {code} ({word})")

    for p in problems:
        print(p)
    print(f"check_docs: {sum(len(v) for v in want.values())} options in {len(want)} sections, "
          f"{len(commands)} commands, {len(longopts)} options: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
