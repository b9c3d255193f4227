#!/usr/bin/env bash
# The README's second command: install dependencies, build with ASan+UBSan
# and warnings as errors, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
# A real Linux kernel for the boot tests, cached outside the repo.
if [[ -x scripts/fetch-test-kernel.sh ]]; then
	scripts/fetch-test-kernel.sh >/dev/null || echo "test.sh: no test kernel (boot tests will skip)"
fi
dir=build-test
[[ -d $dir ]] || meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
ninja -C "$dir"
# Tests that need KVM run inside the nested AMD-V test host where this
# machine has no hardware KVM (scripts/kvm-exec, docs/nested-kvm.md).
rc=0
meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?

# The SDK as a third party uses it: installed into a prefix, the example
# plugin built through pkg-config only and certified by modvm-conform.
scripts/test-sdk.sh
scripts/check-abi.sh --lib "$dir/core/libmodvm.so"	# libabigail vs abi/libmodvm.abi
# The virtqueue parser under libFuzzer (clang), 60 s by default.
scripts/run-fuzz.sh "${MODVM_FUZZ_SECONDS:-60}"

# One closing line for whoever reads only the end of the log, after the
# reason of every skip (a skipping test prints "SKIP: why" first).
python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    t = json.loads(line)
    result = t.get("result", "")
    key = "OK" if result in ("OK", "EXPECTEDFAIL") else "SKIP" if result == "SKIP" else "FAIL"
    counts[key] += 1
    if key == "SKIP":
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        why = next((l.strip() for l in out.splitlines() if "SKIP" in l), "no reason printed")
        print(f"skipped {t.get('name')}: {why}")
print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit "$rc"
