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
# Suite 'package' (scripts/test-sdk.sh: a prefix install and the SDK as a
# third party uses it; scripts/test-package.sh: the Debian packages built,
# installed and run) takes a few minutes of its own.
rc=0
meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?

scripts/check-abi.sh --lib "$dir/core/libmodvm.so"	# libabigail vs abi/libmodvm.abi
# The virtqueue parser under libFuzzer (clang), 60 s by default.
scripts/run-fuzz.sh "${MODVM_FUZZ_SECONDS:-60}"

# The reason of every skip and one closing line, for whoever reads only
# the end of the log (a skipping test prints "SKIP: why" first).
scripts/test-summary.py "$dir/meson-logs/testlog.json"
exit "$rc"
