#!/usr/bin/env python3
"""The README tells how to install and build (issue 19: no install section,
-Dtests=false undocumented).

    check_readme.py SOURCE_ROOT

Every option of meson_options.txt is in the README's build options table
with its default, the Install section shows the package build and a prefix
install, and the quick start is still two commands.
"""
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
readme = open(f"{root}/README.md", encoding="utf-8").read()
options = open(f"{root}/meson_options.txt", encoding="utf-8").read()
problems = []

for m in re.finditer(r"option\('([a-z_]+)',\s*type\s*:\s*'(\w+)',\s*value\s*:\s*([^,)]+)", options):
    name, typ, value = m.group(1), m.group(2), m.group(3).strip().strip("'")
    row = re.search(r"^\| `-D%s` \| ([^|]*) \|" % name, readme, re.M)
    if not row:
        problems.append(f"README: build option -D{name} is not in the build options table")
    elif typ != "string" and f"`{value}`" != row.group(1).strip():
        problems.append(f"README: -D{name} defaults to {value}, the README says {row.group(1)}")

install = readme.split("\n## Install\n", 1)
if len(install) < 2:
    problems.append("README: no '## Install' section")
else:
    section = install[1].split("\n## ", 1)[0]
    for must in ("dpkg-buildpackage -us -uc -b", "meson install", "--prefix", "-Dtests=false",
                 "modvm@", "libmodvm-dev", "libmodvm1"):
        if must not in section:
            problems.append(f"README: the Install section does not mention {must}")

quick = readme.split("## Quick start (Debian 12, as root)", 1)
if len(quick) < 2:
    problems.append("README: no quick start for Debian 12")
else:
    block = quick[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [l for l in block.splitlines() if l.strip()]
    if len(commands) != 2:
        problems.append(f"README: the quick start is {len(commands)} commands, not 2")

for p in problems:
    print(p)
print(f"check_readme: {'OK' if not problems else f'{len(problems)} problems'}")
sys.exit(1 if problems else 0)
