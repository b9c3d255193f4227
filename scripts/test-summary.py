#!/usr/bin/env python3
"""Closing lines of scripts/test.sh: the reason of every skip, then one
count line, for whoever reads only the end of the log.

    test-summary.py MESON-TESTLOG.json

A skipping test prints its reason before it exits 77 ("SKIP: why"; a
Check suite's own skip line, or one that says "skipped", counts too):
meson keeps that in its log only, and its console shows just "SKIP".
tests/dist/check_skips.py checks this script and that every test that can
skip prints such a line.
"""
import json
import sys


def reason(out):
    lines = [l.strip() for l in out.splitlines()]
    for pick in (lambda l: "SKIP" in l, lambda l: "skip" in l.lower()):
        hit = next((l for l in lines if pick(l)), None)
        if hit:
            return hit
    return "no reason printed"


def summarize(path, out=sys.stdout):
    counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result", "")
            key = ("OK" if result in ("OK", "EXPECTEDFAIL") else
                   "SKIP" if result == "SKIP" else "FAIL")
            counts[key] += 1
            if key == "SKIP":
                why = reason((t.get("stdout") or "") + "\n" + (t.get("stderr") or ""))
                print(f"skipped {t.get('name')}: {why}", file=out)
    print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped",
          file=out)
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    summarize(sys.argv[1])
