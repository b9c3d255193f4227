#!/usr/bin/env bash
# Runs one command inside a QEMU-TCG virtual machine (the "L1") that is a
# real AMD-V + nested-paging KVM host, so that tests needing KVM run on
# machines without a usable /dev/kvm (see docs/nested-kvm.md).
#
#   scripts/nested-kvm.sh [options] -- COMMAND [ARGS...]
#
# The L1 boots Debian's cloud kernel (scripts/fetch-test-kernel.sh) on
# `-cpu EPYC-v3,+svm,+npt`, loads irqbypass, kvm and kvm-amd (plus
# --modules), checks /dev/kvm, runs COMMAND as root and exits with its
# status.  COMMAND's stdout and stderr come back on this script's stdout
# and stderr through virtio-serial ports (byte-exact); the L1's own console
# goes to a file whose tail is printed only when something went wrong.
#
# How files get in (measured, docs/nested-kvm.md):
#   - every --include'd directory becomes a cached ext4 image (mke2fs -d),
#     attached as virtio-blk with snapshot=on (writes allowed, discarded)
#     and mounted at its own absolute path: the guest reads only what it
#     touches, so image size barely affects boot time;
#   - busybox, the init script and the kernel modules form a small cached
#     initramfs ("base"); shared libraries, ELF interpreters, --bin programs
#     and --include'd single files form a second one ("sysroot"); the
#     per-run command, environment and mount table a third, tiny one.  The
#     kernel unpacks the three concatenated.
#
# Exit status: COMMAND's; 124 on timeout; 125 when the L1 itself failed (no
# /dev/kvm, a module did not load, kernel panic, QEMU error); 2 on a usage
# error; 77 when QEMU or the kernel cannot be had at all (meson's skip).
set -euo pipefail

readonly prog=nested-kvm
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly script_dir
# Bump when the layout of cached images changes, so old ones are not reused.
readonly cache_format=2

smp=2
mem=2G
timeout_s=600
# Seconds after which a boot that has not started COMMAND counts as stalled.
boot_timeout=${MODVM_NESTED_BOOT_TIMEOUT:-60}
# The L1 says "alive" every 5 s while COMMAND runs; this long without it, it is wedged.
stall_timeout=${MODVM_NESTED_STALL_TIMEOUT:-30}
verbose=0
timing=0
cwd=$PWD
console_log=""
envs=()
includes=()
bins=()
extra_modules=()
argv=()

usage() {
	cat <<'EOF'
usage: scripts/nested-kvm.sh [options] -- COMMAND [ARGS...]
  --smp N            vCPUs of the L1 (default 2)
  --mem SIZE         RAM of the L1 (default 2G)
  --timeout SECONDS  bound on the whole run (default 600); exit 124 when hit
  --env NAME=VALUE   environment of COMMAND (repeatable)
  --cwd DIR          working directory of COMMAND (default: the current one)
  --include PATH     host file or directory, at the same path inside (repeatable)
  --bin PROGRAM      host program (found in PATH) with its libraries (repeatable)
  --modules a,b,c    extra kernel modules (dependencies resolved from modules.dep)
  --console-log FILE keep the L1 console log in FILE
  --timing           print where the time went to stderr
  -v                 show the L1 console live on stderr
Exit: COMMAND's status; 124 timeout; 125 the L1 failed; 77 QEMU/kernel unavailable.
EOF
}

say() { echo "$prog: $*" >&2; }
die() { say "$*"; exit 125; }
usage_error() { say "$*"; usage >&2; exit 2; }
# Meson's skip code: the machine cannot run the L1 at all.
skip() { echo "$prog: SKIP: $*"; exit 77; }
now() { date +%s.%N; }
# Seconds between two `now` stamps, with two decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		--smp) smp=${2:?}; shift 2 ;;
		--mem) mem=${2:?}; shift 2 ;;
		--timeout) timeout_s=${2:?}; shift 2 ;;
		--env) [[ ${2:-} == [A-Za-z_]*=* ]] || usage_error "--env wants NAME=VALUE, got '${2:-}'"
			envs+=("$2"); shift 2 ;;
		--cwd) cwd=${2:?}; shift 2 ;;
		--include) includes+=("${2:?}"); shift 2 ;;
		--bin) bins+=("${2:?}"); shift 2 ;;
		--modules) IFS=, read -ra m <<<"${2:?}"; extra_modules+=("${m[@]}"); shift 2 ;;
		--console-log) console_log=${2:?}; shift 2 ;;
		--timing) timing=1; shift ;;
		-v) verbose=1; shift ;;
		-h | --help) usage; exit 0 ;;
		--) shift; argv=("$@"); break ;;
		*) usage_error "unknown option '$1'" ;;
		esac
	done
	[[ ${#argv[@]} -gt 0 ]] || usage_error "no COMMAND (put it after --)"
	[[ $smp =~ ^[1-9][0-9]*$ ]] || usage_error "--smp wants a number"
	[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout wants whole seconds"
	[[ $cwd == /* ]] || cwd=$(realpath -sm -- "$cwd")
}

# --- the host side: tools, kernel, cache -----------------------------------

# QEMU, a static busybox, cpio and mke2fs; installed through apt-get when we
# are root on Debian (what scripts/install-deps.sh --tests lists), else skip.
ensure_tools() {
	local -A pkg_of=([qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
		[cpio]=cpio [mke2fs]=e2fsprogs [flock]=util-linux)
	local -a missing=()
	local t
	for t in "${!pkg_of[@]}"; do
		command -v "$t" >/dev/null || missing+=("${pkg_of[$t]}")
	done
	if [[ ${#missing[@]} -gt 0 ]]; then
		if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
			say "installing ${missing[*]}"
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends "${missing[@]}"; } >&2 ||
				skip "cannot install ${missing[*]}"
		else
			skip "missing ${missing[*]} (scripts/install-deps.sh --tests)"
		fi
		for t in "${!pkg_of[@]}"; do
			command -v "$t" >/dev/null || skip "no $t in PATH after installing ${pkg_of[$t]}"
		done
	fi
	busybox=$(command -v busybox)
	# A dynamic busybox would need libraries before the sysroot is there.
	if ldd "$busybox" >/dev/null 2>&1; then
		if [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; then
			busybox=/bin/busybox
		else
			skip "$busybox is not static (apt-get install busybox-static)"
		fi
	fi
}

# Debian's cloud kernel, its version and its module tree with modules.dep.
ensure_kernel() {
	kcache=${MODVM_KERNEL_CACHE:-/var/cache/modvm-test-kernel}
	local img
	img=$(readlink -f "$kcache/vmlinuz" 2>/dev/null || true)
	kver=${img##*/vmlinuz-}
	moddir=$kcache/root/lib/modules/$kver
	if [[ ! -r $img || ! -s $moddir/modules.dep ]]; then
		say "fetching the test kernel (scripts/fetch-test-kernel.sh)"
		MODVM_KERNEL_CACHE=$kcache "$script_dir/fetch-test-kernel.sh" >/dev/null ||
			skip "no test kernel (scripts/fetch-test-kernel.sh failed)"
		img=$(readlink -f "$kcache/vmlinuz")
		kver=${img##*/vmlinuz-}
		moddir=$kcache/root/lib/modules/$kver
	fi
	[[ -r $img ]] || skip "no kernel at $kcache/vmlinuz"
	[[ -s $moddir/modules.dep ]] || skip "no $moddir/modules.dep (apt-get install kmod; rerun scripts/fetch-test-kernel.sh)"
	kernel=$img
}

ensure_cache() {
	cache=${MODVM_NESTED_CACHE:-/var/cache/modvm-nested}
	if ! mkdir -p -- "$cache" 2>/dev/null || [[ ! -w $cache ]]; then
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/modvm-nested
		mkdir -p -- "$cache" || die "cannot create a cache directory"
	fi
	mkdir -p -- "$cache/lock" "$cache/tmp"
}

hash_of() { sha256sum | cut -c1-16; }

# Runs "$@" (which builds $out) under an exclusive lock keyed by $out, unless
# $out is already there: two runs at once build each artefact once.  Sets
# built=1 when this run built it.
build_locked() {
	local out=$1 rc=0
	shift
	built=0
	[[ -e $out ]] && { touch -- "$out"; return 0; }
	(
		exec 9>"$cache/lock/${out##*/}.lock"
		flock -w 900 9 || die "timed out waiting for the lock on $out"
		[[ -e $out ]] && exit 3 # another run built it meanwhile
		"$@"
	) || rc=$?
	[[ -e $out ]] || die "could not build $out"
	[[ $rc == 0 ]] && built=1
	touch -- "$out"
}

# Removes artefacts of one family (a glob) beyond the newest $2 that no run
# has touched for 10 minutes (a run touches what it uses before it starts QEMU).
gc_family() {
	local glob=$1 keep=$2 f
	# shellcheck disable=SC2086
	ls -1t -- $glob 2>/dev/null | tail -n +"$((keep + 1))" | while read -r f; do
		[[ -n $(find "$f" -maxdepth 0 -mmin +10 2>/dev/null) ]] || continue
		rm -f -- "$f" "${f%.*}".needs "${f%.*}".manifest "${f%.*}".list
	done
}

# --- kernel modules -----------------------------------------------------------

declare -A mod_rel=() mod_deps=() mod_seen=()
mod_order=()

load_modules_dep() {
	local path deps name
	while IFS=: read -r path deps; do
		name=${path##*/}
		name=${name%%.ko*}
		mod_rel[${name//-/_}]=$path
		mod_deps[$path]=$deps
	done <"$moddir/modules.dep"
}

# Depth first: every module after all that it needs (modules.dep lists the
# whole closure, so each dependency's own line orders its dependencies).
visit_module() {
	local path=$1 d
	[[ -n ${mod_seen[$path]:-} ]] && return 0
	mod_seen[$path]=1
	for d in ${mod_deps[$path]}; do
		visit_module "$d"
	done
	mod_order+=("$path")
}

resolve_modules() {
	local name key
	load_modules_dep
	for name in "$@"; do
		key=${name%.ko}
		key=${key//-/_}
		if [[ -n ${mod_rel[$key]:-} ]]; then
			visit_module "${mod_rel[$key]}"
		elif grep -q "/${key}.ko\$\|/${key//_/-}.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
			: # built into the kernel: nothing to load
		else
			usage_error "no kernel module '$name' in $moddir"
		fi
	done
}

# --- the base initramfs: busybox, /init, modules, /etc ----------------------

# The L1's PID 1.  It reads /.nested/spec.sh (written per run), mounts the
# images, runs the command with its output on the virtio-serial ports and
# reports on the status port: "start UPTIME", then "exit N UPTIME", or
# "error MESSAGE", or "timeout" followed by what was running.
write_init() {
	cat <<'INIT'
#!/.nested/bin/sh
# PID 1 of the nested KVM test host (written by scripts/nested-kvm.sh).
export PATH=/.nested/bin
status=""
say() { echo "nested-init: $*" >/dev/console; }
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
# Any failure before the command runs: tell the host, then power off.
fail() {
	say "FAIL: $*"
	[ -n "$status" ] && echo "error $*" >&9
	poweroff -f
	sleep 30
}

# A tmpfs at $1 that keeps what the initramfs had put there.
mount_tmpfs() {
	mkdir -p "$1" /.nested/keep
	mount -t tmpfs -o "mode=$2" tmpfs /.nested/keep || fail "tmpfs $1"
	cp -a "$1"/. /.nested/keep/ 2>/dev/null
	mount --move /.nested/keep "$1" || fail "move tmpfs to $1"
}

# Finds the virtio-serial port named $1 (they appear asynchronously).
port() {
	local i=0 p
	while [ $i -lt 100 ]; do
		for p in /sys/class/virtio-ports/vport*; do
			[ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
		done
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# Mounts the virtio-blk disk whose serial is $1 at the path $2.
mount_disk() {
	local i=0 b
	while [ $i -lt 100 ]; do
		for b in /sys/block/vd*; do
			if [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ]; then
				mkdir -p "$2" || fail "mkdir $2"
				# noinit_itable: no background inode-table zeroing at TCG speed.
				mount -t ext4 -o noatime,noinit_itable "/dev/${b##*/}" "$2" || fail "mount $1 at $2"
				return 0
			fi
		done
		sleep 0.05
		i=$((i + 1))
	done
	fail "no disk with serial $1 for $2"
}

# What was running when the deadline came: processes and kernel stacks.
diag() {
	echo "guest uptime $(uptime_s) s; processes:"
	# Without the kernel's threads (kthreadd is 2, and their parent).
	ps -o pid,ppid,stat,vsz,rss,args | awk '$1 != 2 && $2 != 2'
	for d in /proc/[0-9]*; do
		# Kernel threads have no command line (and /proc sizes read as 0).
		[ -n "$(head -c 1 "$d/cmdline" 2>/dev/null)" ] || continue
		pid=${d#/proc/}
		[ "$pid" -le 1 ] && continue
		for t in "$d"/task/*; do
			echo "--- pid $pid tid ${t##*/} ($(cat "$t/comm")) state $(awk '/^State:/ { print $2 }' "$t/status") wchan $(cat "$t/wchan" 2>/dev/null)"
			head -n 12 "$t/stack" 2>/dev/null
		done
	done 2>/dev/null | head -n 400
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
. /.nested/spec.sh || fail "no /.nested/spec.sh"
say "init at $(uptime_s) s"
mount_tmpfs /tmp 1777
mount_tmpfs /run 755
hostname "$NESTED_HOSTNAME"
ip link set lo up || fail "loopback up"
ulimit -c 0

while read -r m; do
	insmod "/.nested/modules/$m" || fail "insmod $m"
done </.nested/modules.order

say "modules loaded at $(uptime_s) s"
# No halt polling: after each HLT of an idle L2 guest, KVM would spin the
# vCPU thread for up to 200 us, which under TCG costs many times that of
# the machine's real CPU time and shows an idle guest as a busy one.
echo 0 >/sys/module/kvm/parameters/halt_poll_ns 2>/dev/null || true
out=$(port nested.out) && err=$(port nested.err) && status=$(port nested.status) ||
	fail "virtio-serial ports missing"
exec 9>"$status"
[ -c /dev/kvm ] || fail "no /dev/kvm after loading kvm-amd"
# Hold KVM's static keys away from 0 so that no test's VM makes this kernel
# patch its own code under TCG (scripts/nested-pin-keys.c says why).
if [ -x /.nested/bin/nested-pin-keys ]; then
	/.nested/bin/nested-pin-keys >/run/nested-pin-keys.out 2>&1 </dev/null 9>&- &
	i=0
	until grep -q ready /run/nested-pin-keys.out 2>/dev/null; do
		[ "$i" -lt 100 ] || fail "nested-pin-keys: $(cat /run/nested-pin-keys.out)"
		sleep 0.05
		i=$((i + 1))
	done
fi

nested_mounts
say "disks mounted at $(uptime_s) s"
mkdir -p "$NESTED_CWD" && cd "$NESTED_CWD" || fail "cwd $NESTED_CWD"

# The guest's clock comes from the RTC (host time, 1 s resolution): the
# watchdog fires a few seconds before the host's hard deadline so it can
# still report what was running.
left=$((NESTED_DEADLINE - $(date +%s)))
[ "$left" -gt 0 ] || left=1
(
	sleep "$left"
	{ echo timeout; diag; } >&9
	poweroff -f
) &
watchdog=$!

echo "start $(uptime_s)" >&9
# A heartbeat for the host: a wedged L1 (TCG lost its timer) stops it.
(
	while sleep 5; do echo "alive $(uptime_s)" >&9; done
) &
heartbeat=$!
echo "$heartbeat" >/run/nested-heartbeat.pid
nested_command </dev/null >"$out" 2>"$err" 9>&- &
wait $!
rc=$?
kill "$watchdog" "$heartbeat" 2>/dev/null
echo "exit $rc $(uptime_s)" >&9
poweroff -f
sleep 30
INIT
}

write_etc() {
	local etc=$1
	mkdir -p -- "$etc"
	echo "root:x:0:0:root:/root:/bin/sh" >"$etc/passwd"
	printf 'root:x:0:\ntty:x:5:\nkvm:x:104:\n' >"$etc/group"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$etc/hosts"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$etc/nsswitch.conf"
}

# Writes "$out" (a cpio): busybox and its applets in /.nested/bin, /init,
# the modules in load order, a minimal /etc.
build_base() {
	local out=$1 stage ko dst
	stage=$(mktemp -d "$cache/tmp/base.XXXXXX")
	mkdir -p -- "$stage"/{.nested/bin,.nested/modules,proc,sys,dev,tmp,run,root,mnt}
	cp -- "$busybox" "$stage/.nested/bin/busybox"
	local a
	for a in $("$busybox" --list); do
		[[ $a == busybox ]] || ln -s busybox "$stage/.nested/bin/$a"
	done
	write_init >"$stage/init"
	chmod 755 -- "$stage/init"
	# Without a compiler the L1 still works, only less reliably under TCG.
	cc -static -O2 -o "$stage/.nested/bin/nested-pin-keys" "$script_dir/nested-pin-keys.c" ||
		say "warning: cannot build nested-pin-keys (cc -static); KVM's static keys stay unpinned"
	: >"$stage/.nested/modules.order"
	for ko in "${mod_order[@]}"; do
		dst=${ko##*/}
		case $dst in
		*.ko.xz) dst=${dst%.xz}; xz -dc -- "$moddir/$ko" >"$stage/.nested/modules/$dst" ;;
		*.ko.zst) dst=${dst%.zst}; zstd -qdc -- "$moddir/$ko" >"$stage/.nested/modules/$dst" ;;
		*.ko.gz) dst=${dst%.gz}; gzip -dc -- "$moddir/$ko" >"$stage/.nested/modules/$dst" ;;
		*) cp -- "$moddir/$ko" "$stage/.nested/modules/$dst" ;;
		esac
		echo "$dst" >>"$stage/.nested/modules.order"
	done
	write_etc "$stage/etc"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp.$$"
	mv -f -- "$out.tmp.$$" "$out"
	rm -rf -- "$stage"
}

ensure_base() {
	local key ko
	key=$( {
		echo "format $cache_format kernel $kver"
		write_init
		sha256sum <"$busybox"
		sha256sum <"$script_dir/nested-pin-keys.c"
		for ko in "${mod_order[@]}"; do stat -c '%n %s %Y' -- "$moddir/$ko"; done
	} | hash_of)
	base_cpio=$cache/base-$key.cpio
	if [[ -e $base_cpio ]]; then
		touch -- "$base_cpio"
	else
		build_locked "$base_cpio" build_base "$base_cpio"
		gc_family "$cache/base-*.cpio" 3
	fi
}

# --- shared libraries -----------------------------------------------------------

# Prints the absolute paths of the libraries and ELF interpreter that the
# ELF files given as arguments load (ldd, which resolves rpaths).
elf_needs() {
	[[ $# -gt 0 ]] || return 0
	printf '%s\0' "$@" | xargs -0 -r ldd 2>/dev/null |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }
		     $2 == "=>" && $3 == "not" { print "nested-kvm: warning: ldd found no " $1 > "/dev/stderr" }' |
		LC_ALL=C sort -u || true
}

is_elf() {
	local magic
	LC_ALL=C IFS= read -r -N 4 magic <"$1" 2>/dev/null && [[ $magic == $'\x7fELF' ]]
}

# --- directory images -----------------------------------------------------------

# find(1) -path patterns treat []*?\ specially.
glob_quote() { sed 's/[][*?\\]/\\&/g' <<<"$1"; }

# Prints the find(1) expression that leaves out of directory $1 what has no
# business in the image: .git, object files, meson's and ninja's logs and
# state, other meson build directories
# (each has meson-private/; the include's own root may be one) and the
# directories included separately (they get their own image).
declare -A prune_memo=()
prune_args() {
	local dir=$1 p
	local -a pruned=()
	# The key and the listing both need it: one find(1) over the tree, not two.
	if [[ -n ${prune_memo[$dir]:-} ]]; then
		printf '%s' "${prune_memo[$dir]}" | base64 -d
		return 0
	fi
	while IFS= read -r p; do
		[[ $p == "$dir" ]] || pruned+=("$p")
	done < <(find "$dir" -name .git -prune -o -type d -name meson-private -printf '%h\n' 2>/dev/null)
	for p in "${inc_dirs[@]}"; do
		[[ $p != "$dir" && $p == "$dir"/* ]] && pruned+=("$p")
	done
	# meson-logs, meson-private and ninja's logs change at every meson test or
	# build step and no test reads them: they would invalidate the image.
	printf '%s\0' "(" -name .git -o -name meson-logs -o -name meson-private \
		-o -name .ninja_log -o -name .ninja_deps
	for p in "${pruned[@]}"; do
		printf '%s\0' -o -path "$(glob_quote "$p")"
	done
	printf '%s\0' ")" -prune -o -type f -name '*.o' -o
}

# Computes prune_args for directory $1 once (NULs survive as base64).
memo_prune_args() {
	prune_memo[$1]=$(prune_args "$1" | base64 -w0)
}

# Lists directory $1 after pruning, one NUL-terminated relative path each
# (with -printf FORMAT as $2: its manifest, for the cache key).
list_dir() {
	local dir=$1 fmt=${2:-'%P\0'}
	local -a pr
	mapfile -d '' pr < <(prune_args "$dir")
	find "$dir" -mindepth 1 "${pr[@]}" \( -type f -o -type d -o -type l \) -printf "$fmt"
}

# Writes the ext4 image "$2" of directory "$1" and, in "$2" less .ext4 plus
# .needs, the libraries its ELF files load from outside it.
build_image() {
	local dir=$1 out=$2 stage bytes entries size f
	local -a elves=()
	stage=$(mktemp -d "$cache/tmp/img.XXXXXX")
	# Hard links where the file systems allow (cpio copies otherwise): the
	# stage costs no copy, and mke2fs -d reads the files once.
	(cd "$dir" && list_dir "$dir" | cpio -0 -pdlm --quiet "$stage") ||
		die "staging $dir failed"
	bytes=$(du -s -B1 --apparent-size -- "$stage" | cut -f1)
	entries=$(find "$stage" | wc -l)
	# Room for what the command writes (discarded with the snapshot): the
	# image file is sparse, so free space costs no disk.
	size=$(((bytes * 12 / 10 + entries * 4096) / 1024 + 256 * 1024))
	: >"$out.tmp.$$" # an existing file: mke2fs then does not announce it
	mke2fs -q -F -t ext4 -O ^has_journal -m 0 -E nodiscard -N "$((entries * 2 + 4096))" \
		-L nested -d "$stage" "$out.tmp.$$" "${size}k" ||
		die "mke2fs -d for $dir failed"
	while IFS= read -r -d '' f; do
		[[ -x $dir/$f || $f == *.so || $f == *.so.* ]] && is_elf "$dir/$f" && elves+=("$dir/$f")
	done < <(cd "$stage" && find . -type f -printf '%P\0')
	elf_needs "${elves[@]}" 2>/dev/null | while IFS= read -r f; do
		[[ $f == "$dir"/* ]] || echo "$f"
	done >"${out%.ext4}.needs"
	rm -rf -- "$stage"
	mv -f -- "$out.tmp.$$" "$out"
}

# Makes sure directory $1 has an up-to-date image; records it in images[].
ensure_image() {
	local dir=$1 key ph img
	ph=$(printf '%s' "$dir" | hash_of)
	memo_prune_args "$dir"
	key=$( {
		echo "format $cache_format dir $dir"
		prune_args "$dir" | tr '\0' ' '
		echo
		list_dir "$dir" '%y %P %s %T@ %m %l\n' | LC_ALL=C sort
	} | hash_of)
	img=$cache/img-$ph-$key.ext4
	if [[ ! -e $img ]]; then
		local t_build
		t_build=$(now)
		build_locked "$img" build_image "$dir" "$img"
		[[ $timing == 1 && $built == 1 ]] && say "timing: image of $dir built in $(elapsed "$t_build" "$(now)") s ($(du -h --apparent-size "$img" | cut -f1) apparent, $(du -h "$img" | cut -f1) on disk)"
		gc_family "$cache/img-$ph-*.ext4" 2
	fi
	touch -- "$img"
	images+=("$img")
}

# --- the sysroot initramfs: libraries, --bin programs, single files ---------

# Copies host file $1 into stage $2 at the same path, recreating the host's
# symlinked directories as symlinks (/lib -> usr/lib on Debian) so that
# paths that go through them resolve inside too; the file itself is
# dereferenced (cp -L).  With $3, makes the file a symlink to $3 instead.
stage_file() {
	local src=$1 stage=$2 dir="" comp resolved
	local -a parts
	IFS=/ read -ra parts <<<"${src#/}"
	local n=${#parts[@]} i
	for ((i = 0; i < n - 1; i++)); do
		comp=${parts[i]}
		if [[ -L $dir/$comp ]]; then
			[[ -e $stage$dir/$comp || -L $stage$dir/$comp ]] ||
				ln -s -- "$(readlink -- "$dir/$comp")" "$stage$dir/$comp"
			resolved=$(realpath -- "$dir/$comp")
			stage_dir "$resolved" "$stage"
			dir=$resolved
		else
			dir=$dir/$comp
			[[ -d $stage$dir ]] || mkdir -p -- "$stage$dir"
		fi
	done
	[[ -n ${3:-} ]] && { ln -sfn -- "$3" "$stage$dir/${parts[n - 1]}"; return 0; }
	cp -L --preserve=mode,timestamps -- "$src" "$stage$dir/${parts[n - 1]}"
}

# A resolved (symlink-free) directory path, made in the stage.
stage_dir() { mkdir -p -- "$2$1"; }

# Stages a symlink at host path $1 pointing to $3 (for /bin/sh).
stage_link() { stage_file "$1" "$2" "$3"; }

build_sysroot() {
	local out=$1 stage f
	stage=$(mktemp -d "$cache/tmp/sysroot.XXXXXX")
	for f in "${sys_files[@]}"; do
		stage_file "$f" "$stage"
	done
	# Scripts say #!/bin/sh and #!/usr/bin/env: busybox if the host had none.
	for f in /bin/sh /usr/bin/env; do
		[[ -e $stage$f || -L $stage$f ]] || stage_link "$f" "$stage" /.nested/bin/busybox
	done
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp.$$"
	mv -f -- "$out.tmp.$$" "$out"
	rm -rf -- "$stage"
}

# Collects what goes into the sysroot: --bin programs, --include'd files,
# the host's sh and env, and every library that they or the images' ELF
# files load (minus what the images hold).  Sets sys_files.
collect_sysroot() {
	local f dir
	local -A seen=()
	sys_files=()
	add_sys() {
		local p=$1 d
		[[ -n ${seen[$p]:-} ]] && return 0
		for d in "${inc_dirs[@]}"; do [[ $p == "$d"/* ]] && return 0; done
		seen[$p]=1
		sys_files+=("$p")
	}
	for f in "${direct_files[@]}"; do add_sys "$f"; done
	for f in "${images[@]}"; do
		while IFS= read -r dir; do add_sys "$dir"; done <"${f%.ext4}.needs"
	done
	local -a elves=()
	for f in "${direct_files[@]}"; do
		is_elf "$f" && elves+=("$f")
	done
	while IFS= read -r f; do add_sys "$f"; done < <(elf_needs "${elves[@]}")
}

# Whether the sysroot cpio of key $1 exists and every file in it is as
# its manifest recorded (a library upgraded by apt makes it stale).
sysroot_fresh() {
	local base=$cache/sysroot-$1
	[[ -e $base.cpio && -s $base.manifest && -s $base.list ]] || return 1
	local -a files
	mapfile -t files <"$base.list"
	stat -L -c '%n %s %Y %a' -- "${files[@]}" 2>/dev/null | cmp -s - "$base.manifest"
}

# The sysroot cpio, keyed by what goes in directly and by the images'
# library lists.  The libraries that ldd finds for the programs are checked
# against the manifest instead, so a warm run spends no time in ldd.
ensure_sysroot() {
	local key f base
	direct_files=("${bin_paths[@]}" "${inc_files[@]}" "${system_bins[@]}")
	key=$( {
		echo "format $cache_format"
		printf '%s\n' "${inc_dirs[@]}"
		stat -L -c '%n %s %Y %a' -- "${direct_files[@]}"
		for f in "${images[@]}"; do cat -- "${f%.ext4}.needs"; done
	} | hash_of)
	base=$cache/sysroot-$key
	sysroot_cpio=$base.cpio
	if sysroot_fresh "$key"; then
		touch -- "$sysroot_cpio"
		return 0
	fi
	collect_sysroot
	(
		exec 9>"$cache/lock/sysroot-$key.lock"
		flock -w 900 9 || die "timed out waiting for the lock on $sysroot_cpio"
		sysroot_fresh "$key" && exit 0
		build_sysroot "$sysroot_cpio"
		printf '%s\n' "${sys_files[@]}" >"$base.list.tmp.$$"
		stat -L -c '%n %s %Y %a' -- "${sys_files[@]}" >"$base.manifest.tmp.$$"
		mv -f -- "$base.list.tmp.$$" "$base.list"
		mv -f -- "$base.manifest.tmp.$$" "$base.manifest"
	)
	sysroot_fresh "$key" || die "could not build $sysroot_cpio"
	gc_family "$cache/sysroot-*.cpio" 3
}

# --- this run ----------------------------------------------------------------

# Sorts the includes into directories (images) and files (sysroot), as
# absolute paths without resolving symlinks (the path is what the command
# will use).
classify_includes() {
	local p
	inc_dirs=()
	inc_files=()
	for p in "${includes[@]}"; do
		p=$(realpath -s -- "$p")
		[[ -e $p ]] || usage_error "--include $p: no such file or directory"
		if [[ -d $p ]]; then
			[[ $p != / ]] || usage_error "--include / is too much"
			inc_dirs+=("$p")
		else
			inc_files+=("$p")
		fi
	done
	# Outer directories first: inner ones are mounted on top of them.
	mapfile -t inc_dirs < <(printf '%s\n' "${inc_dirs[@]}" | awk -F/ '{ print NF "\t" $0 }' |
		sort -t $'\t' -k1,1n -k2,2 -u | cut -f2-)
	[[ -n ${inc_dirs[0]:-} ]] || inc_dirs=()
	# The host's /bin/sh (dash on Debian) and env: busybox's sh and env run
	# their own applets in preference to PATH (FEATURE_PREFER_APPLETS), so a
	# system("ip ...") through busybox would never reach the --bin ip.
	system_bins=()
	for p in /bin/sh /usr/bin/env; do
		[[ -x $p ]] && system_bins+=("$p")
	done
	bin_paths=()
	local b path
	for b in "${bins[@]}"; do
		path=$(command -v -- "$b" || true)
		[[ $path == /* && -f $path ]] || usage_error "--bin $b: not found in PATH"
		bin_paths+=("$path")
	done
}

# /.nested/spec.sh, sourced by /init: the mount table, the working directory,
# the deadline and the command with its environment, quoted by printf %q
# (busybox ash reads bash's $'...' quoting).
write_spec() {
	local spec=$1 i bindirs="" d p
	for p in "${bin_paths[@]}"; do
		d=${p%/*}
		[[ :$bindirs: == *:$d:* ]] || bindirs+="$d:"
	done
	local path="${bindirs}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.nested/bin"
	{
		echo "NESTED_HOSTNAME=nested-kvm"
		printf 'NESTED_CWD=%q\n' "$cwd"
		echo "NESTED_DEADLINE=$((deadline - 5))"
		echo "nested_mounts() {"
		echo "	:"
		for i in "${!inc_dirs[@]}"; do
			printf '\tmount_disk inc%d %q\n' "$i" "${inc_dirs[i]}"
		done
		echo "}"
		echo "nested_command() {"
		# env -i: only what was asked for; sh -c 'exec "$@"' gives 127/126
		# for a missing or non-executable COMMAND, whatever its name.  The
		# host's /bin/sh, not busybox's: it looks COMMAND up in PATH.
		printf '\texec env -i %q %q %q %q' "PATH=$path" HOME=/root USER=root LOGNAME=root
		printf ' %q' MODVM_IN_NESTED_KVM=1 "${envs[@]}" /bin/sh -c 'exec "$@"' nested-kvm "${argv[@]}"
		echo
		echo "}"
	} >"$spec"
}

make_run_initrd() {
	local stage=$run/spec
	mkdir -p -- "$stage/.nested"
	write_spec "$stage/.nested/spec.sh"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$run/spec.cpio"
	# The kernel unpacks concatenated newc archives in order.
	cat -- "$base_cpio" "$sysroot_cpio" "$run/spec.cpio" >"$run/initrd.cpio"
}

qemu_cmdline() {
	# nokaslr: the L1's RIPs mean the same in every run (dump_l1_state).
	local append="console=ttyS0 panic=-1 nokaslr"
	[[ $verbose == 1 ]] || append+=" quiet"
	# shellcheck disable=SC2054 # the commas are QEMU's
	qemu=(qemu-system-x86_64 -name nested-kvm -accel tcg -M q35 -cpu EPYC-v3,+svm,+npt
		-smp "$smp" -m "$mem" -nodefaults -no-user-config -nographic -no-reboot
		-kernel "$kernel" -initrd "$run/initrd.cpio" -append "$append"
		-chardev "file,id=con,path=$run/console.log" -serial chardev:con
		-chardev "pipe,id=mon,path=$run/mon" -mon chardev=mon,mode=readline
		-device virtio-serial-pci,id=vser
		-chardev "file,id=nout,path=$run/out" -device virtserialport,bus=vser.0,chardev=nout,name=nested.out
		-chardev "file,id=nerr,path=$run/err" -device virtserialport,bus=vser.0,chardev=nerr,name=nested.err
		-chardev "file,id=nst,path=$run/status" -device virtserialport,bus=vser.0,chardev=nst,name=nested.status)
	local i
	for i in "${!images[@]}"; do
		# snapshot=on: QEMU writes to a temporary overlay, the image stays as
		# built (and can be shared by runs in parallel).
		qemu+=(-drive "file=${images[i]},if=none,id=inc$i,format=raw,snapshot=on"
			-device "virtio-blk-pci,drive=inc$i,serial=inc$i")
	done
}

kill_qemu() {
	[[ -n ${qpid:-} ]] && kill -TERM "$qpid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	kill_qemu
	if [[ -n ${run:-} && -d $run ]]; then
		[[ -n $console_log && -e $run/console.log ]] && cp -f -- "$run/console.log" "$console_log"
		if [[ $keep_run == 1 ]]; then
			say "kept the L1's logs in $run"
		else
			rm -rf -- "$run"
		fi
	fi
	return "$rc"
}

# The console tail and QEMU's own complaints (minus TCG's warnings about
# CPU features it does not emulate, which are harmless).
print_console_tail() {
	say "---- last lines of the L1 console ----"
	tail -n "${1:-40}" -- "$run/console.log" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' >&2 || true
	if grep -v "TCG doesn't support requested feature" "$run/qemu.log" 2>/dev/null | grep -q .; then
		say "---- QEMU said ----"
		grep -v "TCG doesn't support requested feature" "$run/qemu.log" | tail -n 20 >&2
	fi
	keep_run=1
}

# Asks QEMU's monitor for the L1's vCPU registers ($run/l1-regs.txt) and
# sums them up in $run/l1-cpus.txt.  Debian ships no System.map: with
# nokaslr, the RIPs of L1 kernel code can be looked up in the /proc/kallsyms
# of any run (nested-kvm.sh -- cat /proc/kallsyms).
dump_l1_state() {
	exec 8<>"$run/mon.in"
	printf 'info cpus\ninfo registers -a\n' >&8
	timeout 1.5 cat -- "$run/mon.out" | tr -d '\r' >"$run/l1-regs.txt" 2>/dev/null || true
	exec 8>&-
	{
		grep -E '^\* CPU|^  CPU' "$run/l1-regs.txt"
		# One line per vCPU: RIP, privilege level, halted or not.
		grep -oE '^CPU#[0-9]+|[RE]IP=[0-9a-f]+|CPL=[0-3]|HLT=[01]' "$run/l1-regs.txt" |
			tr '\n' ' ' | sed 's/ CPU#/\nCPU#/g'
		echo
	} >"$run/l1-cpus.txt"
}

# Watches one launch of QEMU (timeout's pid $1, $2 seconds left).  A few
# boots in a hundred on a loaded machine stall before /init with RCU stall
# warnings ("timer wakeup didn't happen", both vCPUs halted): TCG lost a
# timer interrupt.  A boot takes 3-10 s, so no "start" after $boot_timeout
# s marks $run/boot-stall and stops QEMU (run_l1 boots again).  The same
# can happen while COMMAND runs: no "alive" from the L1 for
# $stall_timeout s marks $run/run-stall and stops QEMU (run_l1 runs it
# again, twice at most).  Four seconds before the deadline, if the L1's own watchdog
# (due 5 s before it) has not answered, the L1 is wedged: ask QEMU where
# its vCPUs are.
watch_l1() {
	local pid=$1 remaining=$2 s t0 waited=0
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	t0=$(date +%s)
	if ((remaining > boot_timeout + 10)); then
		# until COMMAND starts (or the boot has taken too long)
		while ((waited < boot_timeout)) && ! grep -qE '^(start|exit|error)' "$run/status"; do
			sleep 1 &
			s=$!
			wait "$s"
			waited=$(($(date +%s) - t0))
		done
		if ! grep -qE '^(start|exit|error)' "$run/status"; then
			trap '' TERM
			dump_l1_state
			: >"$run/boot-stall"
			kill -TERM "$pid" 2>/dev/null
			exit 0
		fi
		remaining=$((remaining - waited))
	fi
	local end=$(($(date +%s) + (remaining > 4 ? remaining - 4 : 0))) now
	while now=$(date +%s); ((now < end)); do
		sleep "$((end - now < 5 ? end - now : 5))" &
		s=$!
		wait "$s"
		grep -qE '^(exit|timeout|error)' "$run/status" && exit 0
		if grep -q '^start' "$run/status" &&
			(($(date +%s) - $(stat -c %Y -- "$run/status") > stall_timeout)); then
			trap '' TERM
			dump_l1_state
			: >"$run/run-stall"
			kill -TERM "$pid" 2>/dev/null
			exit 0
		fi
	done
	trap '' TERM # the dump takes 1.5 s: not to be interrupted
	grep -qE '^(exit|timeout|error)' "$run/status" || dump_l1_state
}

# One launch of QEMU, its output streamed; sets qrc and t_launch, t_end.
launch_l1() {
	local remaining
	: >"$run/out"
	: >"$run/err"
	: >"$run/status"
	: >"$run/console.log"
	[[ -p $run/mon.in ]] || mkfifo -- "$run/mon.in" "$run/mon.out"
	remaining=$((deadline - $(date +%s)))
	[[ $remaining -gt 0 ]] || remaining=1
	t_launch=$(now)
	# --foreground keeps QEMU in our process group, so whoever kills us
	# (meson on its own timeout) kills it too.
	timeout --foreground -k 5 "$remaining" "${qemu[@]}" </dev/null >"$run/qemu.log" 2>&1 &
	qpid=$!
	# tail -f --pid reads to the end after QEMU exits: nothing is lost.
	tail -c +1 -s 0.1 -f --pid="$qpid" -- "$run/out" &
	local tout=$!
	tail -c +1 -s 0.1 -f --pid="$qpid" -- "$run/err" >&2 &
	local terr=$!
	# Host times of the status lines (boot-to-command measurement).
	tail -n +1 -s 0.1 -f --pid="$qpid" -- "$run/status" | while IFS= read -r line; do
		echo "$(now) $line"
	done >"$run/status.t" &
	local tst=$!
	local tcon=""
	if [[ $verbose == 1 ]]; then
		tail -c +1 -s 0.1 -f --pid="$qpid" -- "$run/console.log" >&2 &
		tcon=$!
	fi
	watch_l1 "$qpid" "$remaining" &
	local twd=$!
	qrc=0
	wait "$qpid" || qrc=$?
	qpid=""
	t_end=$(now)
	kill "$twd" 2>/dev/null || true
	wait "$tout" "$terr" "$tst" $tcon "$twd" 2>/dev/null || true
}

# Whether the L1 ended after COMMAND started and before it reported an
# exit: a kernel panic, or QEMU ending by itself (a reset under -no-reboot).
died_running() {
	grep -q '^start' "$run/status" || return 1
	grep -qE '^(exit|timeout|error)' "$run/status" && return 1
	grep -q 'Kernel panic' "$run/console.log" && return 0
	[[ $qrc == 0 ]]
}

# Boots the L1 (again if it stalled while booting, up to 4 boots in all,
# time allowing; up to twice more if it wedged or panicked while COMMAND ran)
# and turns the outcome into $rc.
run_l1() {
	local attempt reruns=0
	for attempt in 1 2 3 4; do
		rm -f -- "$run/boot-stall" "$run/run-stall"
		launch_l1
		if [[ -e $run/run-stall ]]; then
			# Twice at most: a third wedge is reported, not hidden.
			((reruns < 2)) && (($(date +%s) + 2 * boot_timeout < deadline)) || break
			reruns=$((reruns + 1))
			mv -f -- "$run/console.log" "$run/console-wedged-$attempt.log"
			cp -f -- "$run/l1-cpus.txt" "$run/l1-cpus-wedged-$attempt.txt" 2>/dev/null || true
			say "the L1 stopped answering while the command ran (no heartbeat for ${stall_timeout} s; see $run/console-wedged-$attempt.log): running it again ($reruns of at most 2)"
			keep_run=1
			continue
		fi
		# The L1 died while COMMAND ran, without a word from it: a kernel
		# panic (under TCG: a page-fault loop at native_irq_return_iret,
		# its stack overflowing in error_entry) or a reset (QEMU exits 0
		# under -no-reboot; seen once in cli-control-status, nothing on the
		# console).  Run again like a wedge; one of our own would repeat.
		if died_running; then
			((reruns < 2)) && (($(date +%s) + 2 * boot_timeout < deadline)) || break
			reruns=$((reruns + 1))
			mv -f -- "$run/console.log" "$run/console-died-$attempt.log"
			local how
			how=$(grep -m1 -oE 'BUG: .{0,60}|Kernel panic.{0,60}' "$run/console-died-$attempt.log" ||
				echo "it reset, QEMU exit $qrc, nothing on its console")
			say "the L1 died while the command ran ($how; see $run/console-died-$attempt.log): running it again ($reruns of at most 2)"
			keep_run=1
			continue
		fi
		[[ -e $run/boot-stall ]] || break
		[[ $attempt -lt 4 ]] && (($(date +%s) + boot_timeout + 10 < deadline)) || break
		mv -f -- "$run/console.log" "$run/console-stalled-$attempt.log"
		say "the L1 stalled while booting (lost timer interrupt under TCG; see $run/console-stalled-$attempt.log): booting again"
		keep_run=1
	done
	report "$t_launch" "$t_end"
}

# Turns what the L1 reported into our exit status.
report() {
	local t_launch=$1 t_end=$2 line st
	line=$(grep -m1 '^exit ' "$run/status" || true)
	if [[ -n $line ]]; then
		read -r _ rc _ <<<"$line"
		# Only what the kernel said after COMMAND started (boot has benign
		# "WARNING:"s, e.g. about SRSO mitigations).
		if sed -n '/nested-init: disks mounted/,$p' "$run/console.log" |
			grep -qE 'Oops|BUG: |WARNING: CPU:|Kernel panic|detected stall|blocked for more than'; then
			say "the L1 kernel complained while the command ran:"
			print_console_tail 60
		fi
	elif [[ -e $run/run-stall ]]; then
		say "the L1 stopped answering while the command ran (no heartbeat for ${stall_timeout} s), three times or without time for another run; its vCPUs (QEMU monitor):"
		cat -- "$run/l1-cpus.txt" >&2 2>/dev/null || true
		print_console_tail
		rc=124
	elif [[ -e $run/boot-stall ]]; then
		say "the L1 stalled while booting, every time; its vCPUs (QEMU monitor):"
		cat -- "$run/l1-cpus.txt" >&2 2>/dev/null || true
		print_console_tail
		rc=125
	elif grep -q '^timeout' "$run/status" || [[ $qrc == 124 || $qrc == 137 ]]; then
		say "timeout after ${timeout_s} s running: ${argv[*]}"
		if grep -q '^timeout' "$run/status"; then
			sed -n '/^timeout/,$p' "$run/status" | tail -n +2 | grep -v '^alive ' >&2
		else
			say "the L1 did not answer before the host's deadline; its vCPUs (QEMU monitor):"
			cat -- "$run/l1-cpus.txt" >&2 2>/dev/null || true
		fi
		print_console_tail
		rc=124
	else
		st=$(sed -n 's/^error //p' "$run/status" | head -n 1)
		if [[ -n $st ]]; then
			say "the L1 failed: $st"
		elif grep -q 'Kernel panic' "$run/console.log"; then
			say "the L1 kernel panicked"
		elif grep -q '^start' "$run/status"; then
			say "the L1 reset while the command ran (QEMU exit $qrc, nothing on its console)"
		else
			say "the L1 stopped without reporting the command's exit (QEMU exit $qrc)"
		fi
		print_console_tail
		rc=125
	fi
	if [[ $timing == 1 ]]; then
		local start boot
		start=$(awk '$2 == "start" { print $1; exit }' "$run/status.t")
		if [[ -n $start ]]; then
			boot=$(grep -m1 '^start ' "$run/status" | cut -d' ' -f2)
			say "timing: prepare $(elapsed "$t0" "$t_launch") s, launch-to-command $(elapsed "$t_launch" "$start") s (L1 uptime $boot s), command+poweroff $(elapsed "$start" "$t_end") s, total $(elapsed "$t0" "$t_end") s"
		else
			say "timing: prepare $(elapsed "$t0" "$t_launch") s, QEMU ran $(elapsed "$t_launch" "$t_end") s"
		fi
	fi
}

main() {
	t0=$(now)
	parse_args "$@"
	deadline=$(($(date +%s) + timeout_s))
	keep_run=0
	ensure_tools
	ensure_kernel
	ensure_cache
	resolve_modules irqbypass kvm kvm-amd virtio_pci virtio_blk virtio_console "${extra_modules[@]}"
	classify_includes
	images=()
	local d
	for d in "${inc_dirs[@]}"; do ensure_image "$d"; done
	ensure_sysroot
	ensure_base
	run=$(mktemp -d "${TMPDIR:-/tmp}/nested-kvm.XXXXXX")
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT
	trap 'say "terminated"; exit 143' TERM
	make_run_initrd
	qemu_cmdline
	rc=0
	run_l1
	exit "$rc"
}

main "$@"
