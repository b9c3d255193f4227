#!/bin/sh
# Checks the e2e initramfs boots to its /init under QEMU's TCG (no VMX/SVM
# needed), since modvm's own bzImage test only runs with hardware virt, and
# that /init loads the kernel's virtio modules in the order the test packs
# them (virtio_ring, virtio, virtio_mmio, virtio-rng; q35 has no virtio-mmio
# windows, so it finds no device).
# Usage: scripts/check-initramfs-qemu.sh [BUILD_DIR] [KERNEL]  (not part of meson test)
set -eu
build=${1:-build}
kernel=${2:-/var/cache/modvm-test-kernel/vmlinuz}
init="$build/tests/e2e/initramfs/init"
mkcpio="$build/tests/e2e/initramfs/mkcpio"
[ -x "$mkcpio" ] || { echo "no $mkcpio: build first (ninja -C $build)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "no $kernel: run scripts/fetch-test-kernel.sh" >&2; exit 2; }
log=$(mktemp)
dir=$(mktemp -d)
trap 'rm -rf "$log" "$dir"' EXIT
mods=$(ls -d "$(dirname "$(readlink -f "$kernel")")"/../lib/modules/*/ 2>/dev/null | head -1)
set --
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko \
	drivers/char/hw_random/virtio-rng.ko; do
	[ -r "$mods/kernel/$m" ] || continue
	echo "${m##*/}" >>"$dir/modules.load"
	set -- "$@" "${m##*/}=$mods/kernel/$m"
done
[ -r "$dir/modules.load" ] && set -- "$@" "modules.load=$dir/modules.load"
cpio="$dir/initramfs.cpio"
"$mkcpio" "$init" "$cpio" "$@"
# q35, not microvm: under TCG the microvm kernel stalls after "Marking TSC
# unstable" (no HPET/PM timer); q35 reaches /init in a few seconds.
timeout 180 qemu-system-x86_64 -M q35 -m 256M -kernel "$kernel" -initrd "$cpio" \
	-append "console=ttyS0 rdinit=/init" -nodefaults -no-user-config -nographic -serial stdio \
	</dev/null >"$log" 2>&1 || true
grep 'modvm-init:' "$log" || true
if grep -q 'modvm-init: hello from init' "$log" && grep -q 'modvm-init: virtio devices:' "$log" &&
	{ [ ! -r "$dir/modules.load" ] || grep -q 'modvm-init: loaded virtio-rng.ko' "$log"; }; then
	echo "OK: initramfs reached /init$( [ -r "$dir/modules.load" ] && echo ', virtio modules loaded')"
else
	tail -30 "$log"
	echo "FAIL: 'modvm-init: hello from init' not seen" >&2
	exit 1
fi
