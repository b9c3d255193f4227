#!/usr/bin/env bash
# CI for the SDK (issue 8): installs modvm into a temporary prefix, then
# builds sdk/examples/hello-plugin against that prefix through pkg-config
# only and certifies it with the installed modvm-conform (`meson test`).
#
#   scripts/test-sdk.sh [WORKDIR]     (default: a fresh mktemp -d, removed after)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)

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
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# The prefix is not in the linker's cache: the installed kit needs this.
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

conform=$(pkg-config --variable=modvm_conform modvm)
plugindir=$(pkg-config --variable=plugindir modvm)
[[ -x $conform ]] || { echo "test-sdk.sh: $conform missing" >&2; exit 1; }
[[ -f $plugindir/cpu-vmx.so ]] || { echo "test-sdk.sh: no plugins in $plugindir" >&2; exit 1; }

# 2. The example, out of tree: a copy, so nothing can reach back into $src.
rm -rf "$work/hello-plugin" "$work/hello-build"
cp -r "$src/sdk/examples/hello-plugin" "$work/hello-plugin"
meson setup "$work/hello-build" "$work/hello-plugin" --prefix="$prefix" -Dwerror=true >/dev/null
ninja -C "$work/hello-build" >/dev/null
meson test -C "$work/hello-build" --print-errorlogs
meson install -C "$work/hello-build" --quiet
[[ -f $plugindir/hello.so ]] || { echo "test-sdk.sh: hello.so not installed" >&2; exit 1; }

# 3. The installed in-tree plugins pass the installed kit as well.
for p in "$plugindir"/*.so; do
	"$conform" "$p" >/dev/null || { "$conform" "$p"; exit 1; }
done
echo "test-sdk.sh: SDK install, example build and conformance OK ($prefix)"
