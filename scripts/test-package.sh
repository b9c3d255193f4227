#!/usr/bin/env bash
# The Debian packages as a user gets them (issue 19): built from a copy of
# this tree with `dpkg-buildpackage -us -uc -b`, checked by lintian,
# installed into a throwaway root and run there.
#
#   scripts/test-package.sh            (meson test --suite package runs it)
#
# The throwaway root: the packages are unpacked with dpkg-deb and laid over
# /usr and /etc with overlayfs, in a private mount namespace (unshare -m),
# so that inside it they sit at the paths they install to — /usr/bin/modvm,
# /usr/lib/x86_64-linux-gnu/libmodvm.so.1 found by the dynamic linker
# without LD_LIBRARY_PATH, modvm.pc where pkg-config looks — while this
# machine's own /usr and /etc stay untouched.  Measured against a
# `debootstrap --variant=minbase` chroot, which would also prove the
# Depends on a bare system but needs ~2 min and a mirror per run, plus a
# compiler in the chroot for the SDK step; the Depends are checked with
# `apt-get install --simulate` instead.
#
# Work goes to $MODVM_PACKAGE_WORKDIR (emptied first), else a temporary
# directory removed at the end.  Exit 0, 1 on a failure, 77 (skip) without
# root or the Debian tools.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# What the build tree's tests set must not leak in: the installed modvm is
# under test, not the sanitizer build.
unset LD_LIBRARY_PATH MODVM_PLUGIN_PATH MODVM_DEMO_GUEST ASAN_OPTIONS UBSAN_OPTIONS \
	MALLOC_PERTURB_ PKG_CONFIG_PATH MODVM_RUNTIME_DIR

for tool in dpkg-buildpackage dh lintian fakeroot unshare python3 meson ninja; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool missing (scripts/install-deps.sh --tests installs it)"
		exit 77
	fi
done
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root for the throwaway root (a private mount namespace with overlayfs)"
	exit 77
fi

# The throwaway root needs a private mount namespace with overlayfs: a
# container without CAP_SYS_ADMIN (or a kernel without overlay) has neither.
probe=$(mktemp -d)
mkdir "$probe/lower" "$probe/upper"
if ! unshare --mount --propagation private \
	mount -t overlay modvm-probe -o "lowerdir=$probe/lower:/usr" "$probe/upper" 2>"$probe/err"; then
	echo "SKIP: no overlayfs in a private mount namespace here ($(tr '\n' ' ' <"$probe/err"))"
	rm -rf "$probe"
	exit 77
fi
rm -rf "$probe"

if [[ -n ${MODVM_PACKAGE_WORKDIR:-} ]]; then
	work=$MODVM_PACKAGE_WORKDIR
	rm -rf "$work"
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/modvm-pkg.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
step() { printf '\n== %s\n' "$*"; }
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }

# ---- 1. build from a copy: the .debs land beside it, never in the tree ----
step "dpkg-buildpackage -us -uc -b (a copy of the tree in $work/src)"
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z) |
		grep -zv '^\(build\|obj-\)' | (cd "$src" && xargs -0 cp --parents -t "$work/src")
else
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . |
		tar -C "$work/src" -xf -
fi
t0=$(date +%s)
if ! (cd "$work/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
	tail -40 "$work/build.log"
	fail "dpkg-buildpackage failed (log: $work/build.log)"
fi
echo "built in $(($(date +%s) - t0)) s"
grep -q -- '-Dtests=false' "$work/build.log" || fail "the package build did not pass -Dtests=false"
changes=$(ls "$work"/modvm_*_amd64.changes)

# ---- 2. lintian: no error or warning left unexplained ----
step "lintian"
# Overrides in debian/*.lintian-overrides each say why.  Info and pedantic
# tags are shown, errors and warnings fail.
lrc=0
lintian -I --pedantic --profile debian --fail-on error,warning --tag-display-limit 0 \
	"$changes" >"$work/lintian.log" 2>&1 || lrc=$?
sed -i '/running with root privileges/d' "$work/lintian.log"
cat "$work/lintian.log"
[[ $lrc -eq 0 ]] || fail "lintian: errors or warnings (exit $lrc, see above)"
echo "lintian: $(grep -c . "$work/lintian.log" || true) tags shown, no error or warning"

# ---- 3. what each package holds, and its size ----
step "packages"
declare -A deb
for p in modvm libmodvm1 libmodvm-dev; do
	deb[$p]=$(ls "$work/${p}_"*_amd64.deb)
	printf '%-14s %8s bytes  installed %6s KiB  %s\n' "$p" "$(stat -c %s "${deb[$p]}")" \
		"$(dpkg-deb -f "${deb[$p]}" Installed-Size)" "$(dpkg-deb -f "${deb[$p]}" Depends)"
done
has() {	# has PACKAGE PATH...: the package ships each path
	local p=$1 f
	shift
	for f in "$@"; do
		# grep reads all: with -q it would stop at the match and, under
		# pipefail, the writer's SIGPIPE would fail the pipeline.
		dpkg-deb -c "${deb[$p]}" | awk '{ print $6 }' | grep -x -- ".$f" >/dev/null ||
			fail "$p does not ship $f"
	done
}
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=/usr/lib/$multiarch
has modvm /usr/bin/modvm /usr/share/man/man1/modvm.1.gz /usr/share/man/man5/modvm.conf.5.gz \
	/lib/systemd/system/modvm@.service /usr/lib/sysusers.d/modvm.conf /usr/lib/tmpfiles.d/modvm.conf /usr/share/bash-completion/completions/modvm \
	/usr/share/doc/modvm/examples/modvm.conf /usr/share/doc/modvm/examples/dynamic-memory.conf \
	/usr/share/doc/modvm/examples/networking.conf /usr/share/doc/modvm/examples/storage.conf \
	/etc/modvm/ \
	"$lib/modvm/modvm-demo-guest" "$lib/modvm/plugins/cpu-vmx.so" "$lib/modvm/plugins/cpu-svm.so" \
	"$lib/modvm/plugins/mem-balloon.so" "$lib/modvm/plugins/net-vmq.so" \
	"$lib/modvm/plugins/power-park.so" "$lib/modvm/plugins/virtio-blk.so"
has libmodvm1 "$lib/libmodvm.so.1"
has libmodvm-dev /usr/bin/modvm-conform /usr/include/modvm/plugin.h "$lib/libmodvm.so" \
	"$lib/pkgconfig/modvm.pc" /usr/share/man/man1/modvm-conform.1.gz \
	/usr/share/bash-completion/completions/modvm-conform \
	/usr/share/doc/libmodvm-dev/plugin-guide.md.gz \
	/usr/share/doc/libmodvm-dev/examples/hello-plugin/meson.build
# No test program or benchmark made it in.
if dpkg-deb -c "${deb[modvm]}" | grep -E 'test-|bench_|fixture'; then
	fail "test or benchmark files in the modvm package"
fi

# ---- 4. the Depends resolve on this Debian ----
step "apt-get install --simulate"
if ! apt-get install --simulate -q "${deb[modvm]}" "${deb[libmodvm1]}" "${deb[libmodvm-dev]}" \
	>"$work/apt.log" 2>&1; then
	cat "$work/apt.log"
	fail "the packages' dependencies do not resolve"
fi
grep -E '^(Inst|Conf) ' "$work/apt.log" | sed 's/^/  /' | head -20

# ---- 5. the throwaway root ----
step "unpack into $work/root"
root=$work/root
mkdir "$root"
for p in modvm libmodvm1 libmodvm-dev; do
	dpkg-deb -x "${deb[$p]}" "$root"
done
# Merged /usr (Debian 12): /lib is /usr/lib, so the unit goes where it is read.
if [[ -L /lib && -d $root/lib ]]; then
	cp -a "$root/lib/." "$root/usr/lib/"
	rm -rf "$root/lib"
fi
mkdir -p "$work/hello"
cp -r "$root/usr/share/doc/libmodvm-dev/examples/hello-plugin" "$work/hello/src"

step "run the installed packages (unshare -m, overlayfs over /usr and /etc)"
# shellcheck disable=SC2016
unshare --mount --propagation private bash -euo pipefail -s \
	"$root" "$work" "$src" "$multiarch" <<'INSIDE'
root=$1 work=$2 src=$3 multiarch=$4
fail() { echo "test-package: FAIL (installed): $*" >&2; exit 1; }
mount -t overlay modvm-usr -o "lowerdir=$root/usr:/usr" /usr
mount -t overlay modvm-etc -o "lowerdir=$root/etc:/etc" /etc
hash -r
examples=/usr/share/doc/modvm/examples
lib=/usr/lib/$multiarch

[[ $(command -v modvm) == /usr/bin/modvm ]] || fail "modvm is $(command -v modvm)"
modvm --version
# libmodvm from its installed place, found by the linker without help; no rpath.
# (Outputs captured first: `cmd | grep -q` fails under pipefail when grep
# stops early and cmd dies of SIGPIPE.)
linked=$(ldd /usr/bin/modvm)
grep -qE "libmodvm.so.1 => (/usr)?/lib/$multiarch/libmodvm.so.1 " <<<"$linked" ||
	{ echo "$linked"; fail "libmodvm.so.1 not resolved to $lib"; }
dynamic=$(readelf -d /usr/bin/modvm /usr/bin/modvm-conform)
if grep -qE 'RPATH|RUNPATH' <<<"$dynamic"; then
	fail "an rpath in a /usr binary"
fi

echo "-- modvm plugins"
out=$(modvm plugins 2>&1) || fail "modvm plugins: exit $?"
echo "$out"
for p in cpu-vmx cpu-svm mem-balloon net-vmq power-park virtio-blk; do
	grep -q "^$p " <<<"$out" || fail "modvm plugins does not list $p"
done
grep -q "error\|warn" <<<"$out" && fail "modvm plugins complained"

echo "-- modvm check on the installed examples"
for conf in "$examples"/*.conf; do
	modvm check "$conf" || fail "modvm check $conf: exit $?"
done

echo "-- modvm caps --json"
modvm caps --json >"$work/caps.json" || fail "caps --json: exit $? (0 whenever it reports)"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d["can_run_guests"], bool); print("can_run_guests:", d["can_run_guests"], "-", d["reason"] or d["selected"])' "$work/caps.json" ||
	fail "caps --json is not the JSON it should be"

echo "-- modvm run $examples/modvm.conf"
rc=0
timeout 60 modvm run "$examples/modvm.conf" >"$work/run.out" 2>"$work/run.err" || rc=$?
cat "$work/run.out" "$work/run.err"
if grep -q '"can_run_guests": true' "$work/caps.json"; then
	[[ $rc -eq 0 ]] || fail "run: exit $rc on a host that can run guests"
	grep -q "Hello from the modvm demo guest!" "$work/run.out" || fail "run: no demo guest"
else
	[[ $rc -eq 1 ]] || fail "run: exit $rc, want 1 (no backend)"
	grep -q "no CPU backend can run guests here. cpu-" "$work/run.err" || fail "run: no reason"
	grep -qE "started|running" "$work/run.out" && fail "run: stdout claims a start"
fi

echo "-- man pages"
for page in modvm modvm.conf modvm-conform; do
	man -w "$page" >/dev/null || fail "man $page: not found"
	warn=$(MANWIDTH=80 man --warnings=all "$page" 2>&1 >/dev/null) || true
	[[ -z $warn ]] || fail "man $page: $warn"
done
python3 "$src/tests/dist/check_docs.py" /usr/bin/modvm /usr/share/man/man5/modvm.conf.5.gz \
	/usr/share/man/man1/modvm.1.gz cpu-vmx cpu-svm mem-balloon mem-dynamic net-vmq nic-ethtool \
	power-park core-parking virtio-blk

echo "-- bash completion"
bash "$src/tests/dist/test-completion.sh" /usr/bin/modvm /usr/bin/modvm-conform \
	/usr/share/bash-completion/completions "$lib/modvm/plugins/cpu-vmx.so"

echo "-- systemd unit"
bash "$src/tests/dist/check-unit.sh" /lib/systemd/system/modvm@.service

echo "-- the SDK: hello-plugin against the installed libmodvm-dev"
pkg-config --exists modvm || fail "pkg-config finds no modvm"
[[ $(pkg-config --variable=plugindir modvm) == $lib/modvm/plugins ]] || fail "plugindir"
[[ $(pkg-config --variable=modvm_conform modvm) == /usr/bin/modvm-conform ]] || fail "modvm_conform"
cd "$work/hello"
meson setup build src -Dwerror=true >/dev/null || fail "hello-plugin: meson setup"
ninja -C build >/dev/null || fail "hello-plugin: build"
meson test -C build --print-errorlogs || fail "hello-plugin: modvm-conform"
# What vm.h declares only with _GNU_SOURCE is there with pkg-config's Cflags
# alone (issue 19: modvm_vcpu_set_affinity silently disappeared).
cat >affinity.c <<'C'
#include <modvm/vm.h>
int pin(struct modvm_vm *vm, const cpu_set_t *set) { return modvm_vcpu_set_affinity(vm, 0, set); }
C
# shellcheck disable=SC2046
cc -Wall -Werror -std=c11 -fPIC -shared -o affinity.so affinity.c $(pkg-config --cflags --libs modvm) ||
	fail "pkg-config --cflags modvm lacks what vm.h needs"
echo "installed packages: OK"
INSIDE

# ---- 6. the unit's user and directories, made as postinst makes them ----
# postinst runs systemd-sysusers and systemd-tmpfiles on the packaged files
# (debhelper's snippets); here they run on an empty root of their own.
step "postinst: the modvm user and its directories (systemd-sysusers/-tmpfiles --root)"
ctrl=$work/ctrl
dpkg-deb -e "${deb[modvm]}" "$ctrl"
grep -q 'systemd-sysusers.*modvm.conf' "$ctrl/postinst" || fail "postinst does not make the modvm user"
grep -q 'systemd-tmpfiles.*modvm.conf' "$ctrl/postinst" || fail "postinst does not make the directories"
grep -q 'sysusers' <<<"$(dpkg-deb -f "${deb[modvm]}" Depends)" ||
	fail "modvm does not depend on something that has systemd-sysusers"
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	sys=$work/sysroot
	mkdir -p "$sys/etc" "$sys/usr/lib/sysusers.d" "$sys/usr/lib/tmpfiles.d"
	cp "$root/usr/lib/sysusers.d/modvm.conf" "$sys/usr/lib/sysusers.d/"
	cp "$root/usr/lib/tmpfiles.d/modvm.conf" "$sys/usr/lib/tmpfiles.d/"
	systemd-sysusers --root="$sys" modvm.conf >/dev/null 2>&1 || fail "systemd-sysusers modvm.conf"
	systemd-tmpfiles --root="$sys" --create modvm.conf || fail "systemd-tmpfiles modvm.conf"
	grep -E '^modvm:x:[0-9]+:[0-9]+:[^:]*:/var/lib/modvm:/usr/sbin/nologin$' "$sys/etc/passwd" ||
		fail "no modvm system user without login"
	grep -E '^kvm:x:[0-9]+:(.*,)?modvm(,.*)?$' "$sys/etc/group" || fail "modvm is not in kvm"
	gid=$(awk -F: '$1 == "modvm" { print $3 }' "$sys/etc/group")
	for d in var/lib/modvm var/log/modvm; do
		got=$(stat -c '%a %u %g' "$sys/$d")
		[[ $got == "2770 0 $gid" ]] || fail "/$d is '$got', not '2770 0 $gid' (root:modvm 2770)"
		echo "  /$d: root:modvm 2770"
	done
else
	echo "  (no systemd-sysusers/-tmpfiles here: the files' effect is not checked)"
fi

step "done"
echo "test-package: built, lintian-clean, installed and run: OK"
