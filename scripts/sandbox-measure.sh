#!/usr/bin/env bash
# Runs the README's example configs under `strace -f` where KVM is (the
# nested AMD-V host here) and prints every trace, for
# scripts/sandbox-syscalls.py to sort into thread classes (issue 18: the
# allowlists of core/sandbox/allow.c are measured, not guessed).
#
#   scripts/sandbox-measure.sh BUILD_DIR > traces.txt      # from the host
#   scripts/sandbox-syscalls.py --split traces.txt
#
# With MODVM_SANDBOX_MEASURE_INSIDE=1 (set by itself through kvm-exec) it
# is the part that runs inside: demo, dynamic-memory (with `modvm ctl`
# status and balloon while it runs), networking (a tap with 10.0.0.1),
# storage with io_uring, with the thread pool and with O_DIRECT, and
# power-park (cpufreq and offline actions on a fixture sysfs tree, and
# affinity).  Each trace is printed after a line "==== NAME".
set -uo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$script_dir")

if [[ -z ${MODVM_SANDBOX_MEASURE_INSIDE:-} ]]; then
	build=$(realpath "${1:?usage: sandbox-measure.sh BUILD_DIR}")
	export MODVM_SANDBOX_MEASURE_INSIDE=1
	export MODVM_NESTED_BINS="bash ip ethtool strace timeout truncate"
	exec "$script_dir/kvm-exec" --timeout "${MODVM_NESTED_TIMEOUT:-900}" \
		"$script_dir/sandbox-measure.sh" "$build"
fi

build=$1
modvm=$build/core/modvm
work=$(mktemp -d /tmp/sbmeasure.XXXXXX)
export MODVM_PLUGIN_PATH=$build/plugins/cpu-svm:$build/plugins/cpu-vmx:$build/plugins/mem-balloon:$build/plugins/net-vmq:$build/plugins/virtio-blk:$build/plugins/power-park
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
cd "$work" || exit 1

trace() {	# NAME SECONDS ARGS...
	local name=$1 secs=$2
	shift 2
	timeout -s TERM "$secs" strace -f -qq -X raw -e signal=none -s 48 -o "$work/$name.trace" \
		"$modvm" "$@" >"$work/$name.out" 2>&1
	echo "$name: exit $?" >&2
}

# demo
trace demo 120 run "$src/etc/modvm.conf"

# dynamic-memory, with the control socket used while it runs
sed -e 's/log_level = "info"/log_level = "info"/' "$src/etc/dynamic-memory.conf" >dm.conf
(sleep 25; "$modvm" ctl "$work/dm.sock" status; "$modvm" ctl "$work/dm.sock" balloon web 128M;
 sleep 5; "$modvm" ctl "$work/dm.sock" status) >ctl.out 2>&1 &
sed -i -e "s|control_socket = \"auto\"|control_socket = \"$work/dm.sock\"|" dm.conf
trace dynamic-memory 45 run dm.conf
wait

# networking: the tap with the peer's address first
ip tuntap add dev mvtap0 mode tap multi_queue vnet_hdr
ip addr add 10.0.0.1/24 dev mvtap0 && ip link set mvtap0 up
trace networking 60 run "$src/etc/networking.conf"

# storage: io_uring, the thread pool, O_DIRECT
truncate -s 64M /tmp/modvm-data.img
printf 'modvm seed disk' >/tmp/modvm-seed.img && truncate -s 1M /tmp/modvm-seed.img
trace storage-uring 90 run "$src/etc/storage.conf"
sed -e 's/io_engine = "auto"/io_engine = "threads"/' "$src/etc/storage.conf" >st-threads.conf
trace storage-threads 90 run st-threads.conf
sed -e 's/cache = "writeback"/cache = "none"/' "$src/etc/storage.conf" >st-direct.conf
trace storage-direct 90 run st-direct.conf

# power-park on a copy of the fixture tree and the real affinity action
for action in cpufreq offline affinity; do
	root=$work/sysfs-$action
	mkdir -p "$root"
	for c in 0 1; do
		mkdir -p "$root/cpu$c/cpufreq"
		echo performance >"$root/cpu$c/cpufreq/scaling_governor"
		echo 1 >"$root/cpu$c/online"
	done
	cat >park-$action.conf <<EOF
host = { log_level = "info"; };
plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };
  power-park = { enabled = true; interval_ms = 10; decrease_time = 1; action = "$action";
    sysfs_root = "$root"; state_file = "$work/park-$action.state";
    proc_stat = "$src/tests/fixtures/park/proc-stat-half-t0"; }; };
vms = ( { name = "demo"; vcpus = 2; memory = "64M"; kernel = "builtin:demo";
          cmdline = "console=ttyS0 modvm.demo=1"; } );
EOF
	trace park-$action 60 run park-$action.conf
done

for f in "$work"/*.trace; do
	n=$(basename "$f" .trace)
	echo "==== $n"
	cat "$f"
done
for f in "$work"/*.out ctl.out; do
	echo "---- $(basename "$f")" >&2
	tail -n 15 "$f" >&2
done
