#!/usr/bin/env bash
# CI for the SDK (issues 8, 15): installs modvm into a temporary prefix, then
# builds every sdk/examples plugin against that prefix through pkg-config
# only and certifies each with the installed modvm-conform (`meson test`).
#
#   scripts/test-sdk.sh [WORKDIR]     (default: a fresh mktemp -d, removed after)
#
# Nothing points the installed programs at the prefix's library
# (LD_LIBRARY_PATH): they find it through their rpath, as for a user who
# followed the README (issue 19: "libmodvm.so.1: cannot open shared
# object file").  `meson test --suite package` runs this.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# The build tree's test environment must not help.
unset LD_LIBRARY_PATH MODVM_PLUGIN_PATH MODVM_DEMO_GUEST ASAN_OPTIONS UBSAN_OPTIONS PKG_CONFIG_PATH

if [[ $# -ge 1 ]]; then
	work=$1
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/modvm-sdk.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix

# 1. modvm itself, built without sanitizers (the example is a plain build
#    too) and without its test suites, installed under $prefix.
if [[ ! -d $work/modvm-build ]]; then
	meson setup "$work/modvm-build" "$src" --prefix="$prefix" -Dtests=false \
		-Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$work/modvm-build" >/dev/null
meson install -C "$work/modvm-build" --quiet

libdir=$(find "$prefix" -name libmodvm.so -printf '%h\n' | head -n1)
if [[ -z $libdir || ! -f $libdir/pkgconfig/modvm.pc ]]; then
	echo "test-sdk.sh: modvm.pc not installed under $prefix" >&2
	exit 1
fi
export PKG_CONFIG_PATH=$libdir/pkgconfig

# The installed programs run as installed: libmodvm through their rpath,
# the plugins from the prefix's plugin directory.
for exe in "$prefix/bin/modvm" "$prefix/bin/modvm-conform"; do
	# Captured first: `ldd | grep -q` fails under pipefail when grep stops
	# early and ldd dies of SIGPIPE.
	linked=$(ldd "$exe")
	if grep -q 'not found' <<<"$linked"; then
		echo "$linked"
		echo "test-sdk.sh: $exe does not find its libraries" >&2
		exit 1
	fi
	used=$(ldd "$exe" | awk '$1 == "libmodvm.so.1" { print $3 }')
	[[ -n $used && $(readlink -f "$used") == $(readlink -f "$libdir/libmodvm.so.1") ]] ||
		{ echo "test-sdk.sh: $exe uses '$used', not $libdir/libmodvm.so.1" >&2; exit 1; }
done
"$prefix/bin/modvm" --version
listed=$("$prefix/bin/modvm" plugins)
grep -q '^cpu-vmx ' <<<"$listed" ||
	{ echo "test-sdk.sh: the installed modvm finds no plugins" >&2; exit 1; }
"$prefix/bin/modvm" check "$prefix/share/doc/modvm/examples/modvm.conf"
[[ -f $prefix/share/man/man5/modvm.conf.5 ]] || { echo "test-sdk.sh: no modvm.conf(5)" >&2; exit 1; }

conform=$(pkg-config --variable=modvm_conform modvm)
plugindir=$(pkg-config --variable=plugindir modvm)
[[ -x $conform ]] || { echo "test-sdk.sh: $conform missing" >&2; exit 1; }
[[ -f $plugindir/cpu-vmx.so ]] || { echo "test-sdk.sh: no plugins in $plugindir" >&2; exit 1; }

# 2. The examples, out of tree: copies, so nothing can reach back into $src.
#    hello-plugin (events and options), and one per plugin kind: mem-fixed
#    (a memory policy on modvm.balloon/1), park-unused (a power policy on
#    modvm.park/1), nic-table (a NIC driver, modvm.nic-driver/1), cpu-null
#    (a CPU backend whose vCPUs run no guest code, modvm.cpu-backend/1).
#    Each one's `meson test` is the installed modvm-conform on it.
for ex in hello-plugin:hello mem-fixed:mem-fixed park-unused:park-unused nic-table:nic-table \
	cpu-null:cpu-null; do
	dir=${ex%%:*} so=${ex##*:}
	rm -rf "${work:?}/$dir" "$work/$dir-build"
	cp -r "$src/sdk/examples/$dir" "$work/$dir"
	meson setup "$work/$dir-build" "$work/$dir" --prefix="$prefix" -Dwerror=true >/dev/null
	ninja -C "$work/$dir-build" >/dev/null
	meson test -C "$work/$dir-build" --print-errorlogs
	meson install -C "$work/$dir-build" --quiet
	[[ -f $plugindir/$so.so ]] || { echo "test-sdk.sh: $so.so not installed" >&2; exit 1; }
done
# The NIC driver example is held to its kind's contract, not only to the
# common checks: its nic-driver check must pass, not skip.
out=$("$conform" "$plugindir/nic-table.so" --check nic-driver) || true
grep -q '^PASS nic-driver:' <<<"$out" || { echo "$out"; exit 1; }
# The CPU backend example runs a vCPU on any host (it needs no KVM), so its
# cpu-backend check must pass, not skip.
out=$("$conform" "$plugindir/cpu-null.so" --check cpu-backend) || true
grep -q '^PASS cpu-backend:' <<<"$out" || { echo "$out"; exit 1; }

# What vm.h declares only with _GNU_SOURCE is there with pkg-config's
# Cflags alone (issue 19: modvm_vcpu_set_affinity silently disappeared).
cat >"$work/affinity.c" <<'C'
#include <modvm/vm.h>
int pin(struct modvm_vm *vm, const cpu_set_t *set) { return modvm_vcpu_set_affinity(vm, 0, set); }
C
# shellcheck disable=SC2046
cc -Wall -Werror -std=c11 -fPIC -shared -o "$work/affinity.so" "$work/affinity.c" \
	$(pkg-config --cflags --libs modvm)

# 3. The installed in-tree plugins pass the installed kit as well.
for p in "$plugindir"/*.so; do
	"$conform" "$p" >/dev/null || { "$conform" "$p"; exit 1; }
done
echo "test-sdk.sh: SDK install, example builds and conformance OK ($prefix)"
