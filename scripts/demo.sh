#!/usr/bin/env bash
# The README's first command: install dependencies, build, run the demo.
#   scripts/demo.sh [CONFIG]      (default etc/modvm.conf)
# Where this machine has no usable /dev/kvm, the demo runs inside the
# nested AMD-V test host (QEMU's TCG emulating a KVM host, see
# docs/nested-kvm.md), and says so: slower, but the same modvm.
set -euo pipefail
cd "$(dirname "$0")/.."
conf=$(realpath -- "${1:-etc/modvm.conf}")
kvm_usable() { [[ -c /dev/kvm ]] && (exec 3<>/dev/kvm) 2>/dev/null; }

if kvm_usable; then
	scripts/install-deps.sh
else
	scripts/install-deps.sh --nested
fi
# The demo needs no test suite: -Dtests=false (scripts/test.sh builds its own).
[[ -d build ]] || meson setup build -Dtests=false >/dev/null
ninja -C build >/dev/null
if kvm_usable; then
	exec build/core/modvm run "$conf"
fi
echo "demo.sh: no usable /dev/kvm here: running the demo inside the nested AMD-V test host" \
     "(QEMU TCG; it takes a few seconds more, see docs/nested-kvm.md)" >&2
scripts/fetch-test-kernel.sh >/dev/null
MODVM_NESTED_KVM=force exec scripts/kvm-exec --timeout 300 --include "$conf" \
	build/core/modvm run "$conf"
