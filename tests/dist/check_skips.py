#!/usr/bin/env python3
"""Skip reasons reach the console of scripts/test.sh (issue 19: the console
showed only "SKIP ... exit status 77").

    check_skips.py SOURCE_ROOT

1. Every test source that can exit 77 (meson's skip) prints a line with
   "SKIP" on the way out, which is what scripts/test-summary.py shows.
   Two did not ("skipped: ..."), and their reason was lost.
2. scripts/test-summary.py, fed a meson test log, prints each skipped
   test with its reason and the counts.
"""
import io
import json
import os
import re
import sys
import tempfile

root = sys.argv[1] if len(sys.argv) > 1 else "."
sys.path.insert(0, os.path.join(root, "scripts"))
summary = __import__("test-summary")

problems = []
SKIP_EXIT = re.compile(r"return 77;|\bexit 77\b|exit\(77\)|_exit\(77\)")
for top in ("tests", "scripts"):
    for d, _, files in os.walk(os.path.join(root, top)):
        for name in files:
            if not name.endswith((".c", ".sh", ".py")) and name != "kvm-exec":
                continue
            path = os.path.join(d, name)
            text = open(path, encoding="utf-8", errors="replace").read()
            if SKIP_EXIT.search(text) and "SKIP" not in text and path != __file__:
                problems.append(f"{os.path.relpath(path, root)}: exits 77 without printing "
                                "a \"SKIP: why\" line")

log = [
    {"name": "guest_basic", "result": "SKIP", "stdout": "Running suite\nSKIP: no /dev/kvm\n"},
    {"name": "cli-kvm", "result": "SKIP", "stdout": "", "stderr": "skipped: kvm_pvm only\n"},
    {"name": "mute", "result": "SKIP", "stdout": "", "stderr": ""},
    {"name": "unit", "result": "OK", "stdout": "SKIP: a case inside, not the test\n"},
    {"name": "broken", "result": "FAIL", "stdout": ""},
]
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    for t in log:
        f.write(json.dumps(t) + "\n")
out = io.StringIO()
counts = summary.summarize(f.name, out)
os.unlink(f.name)
want = ("skipped guest_basic: SKIP: no /dev/kvm\n"
        "skipped cli-kvm: skipped: kvm_pvm only\n"
        "skipped mute: no reason printed\n"
        "tests: 1 passed, 1 failed, 3 skipped\n")
if out.getvalue() != want:
    problems.append(f"test-summary.py printed\n{out.getvalue()}instead of\n{want}")

for p in problems:
    print(p)
print(f"check_skips: {'OK' if not problems else f'{len(problems)} problems'}")
sys.exit(1 if problems else 0)
