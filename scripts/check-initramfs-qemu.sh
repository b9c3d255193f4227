#!/bin/sh
# Checks the e2e initramfs boots to its /init under QEMU's TCG (no VMX/SVM
# needed), since modvm's own bzImage test only runs with hardware virt.
# Usage: scripts/check-initramfs-qemu.sh [BUILD_DIR] [KERNEL]  (not part of meson test)
set -eu
build=${1:-build}
kernel=${2:-/var/cache/modvm-test-kernel/vmlinuz}
cpio="$build/tests/e2e/initramfs/initramfs.cpio"
[ -r "$cpio" ] || { echo "no $cpio: build first (ninja -C $build)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "no $kernel: run scripts/fetch-test-kernel.sh" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# q35, not microvm: under TCG the microvm kernel stalls after "Marking TSC
# unstable" (no HPET/PM timer); q35 reaches /init in a few seconds.
timeout 180 qemu-system-x86_64 -M q35 -m 256M -kernel "$kernel" -initrd "$cpio" \
	-append "console=ttyS0 rdinit=/init" -nodefaults -no-user-config -nographic -serial stdio \
	</dev/null >"$log" 2>&1 || true
grep 'modvm-init:' "$log" || true
if grep -q 'modvm-init: hello from init' "$log" && grep -q 'modvm-init: virtio devices:' "$log"; then
	echo "OK: initramfs reached /init"
else
	tail -30 "$log"
	echo "FAIL: 'modvm-init: hello from init' not seen" >&2
	exit 1
fi
