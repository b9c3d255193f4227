#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory
# (build-fuzz, outside any gcc build; FUZZ_BUILD_DIR overrides it) and runs
# each for its share of N seconds (default 60, split evenly, at least 1 s
# each): the virtqueue parser (fuzz_virtq), the virtio-net device model
# (fuzz_netdev), the virtio-blk device (fuzz_blkdev), the virtio-balloon
# device (fuzz_balloondev), the config layer (fuzz_config) and the
# kernel/initrd loader (fuzz_boot).  Seeds are generated into a temporary
# directory that is removed afterwards; crash artifacts stay in the build
# directory.  The last lines give each target's execs/s.
#
#   scripts/run-fuzz.sh [SECONDS]
set -euo pipefail
secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
cd "$(dirname "$0")/.."
dir=${FUZZ_BUILD_DIR:-build-fuzz}

if [[ ! -d $dir ]]; then
	CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false >/dev/null
fi
targets=(fuzz_virtq fuzz_netdev fuzz_blkdev fuzz_balloondev fuzz_config fuzz_boot)
# Quiet when it builds; the whole build log and a line saying so when not.
if ! log=$(ninja -C "$dir" "${targets[@]/#/fuzz/}" 2>&1); then
	printf '%s\n' "$log" >&2
	echo "run-fuzz.sh: building the fuzz targets in $dir failed" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
artifacts=$dir/fuzz-artifacts/
mkdir -p "$tmp/virtq" "$tmp/netdev" "$tmp/blkdev" "$tmp/balloondev" "$tmp/config" "$tmp/boot" \
	"$artifacts"
python3 fuzz/gen_virtq_seeds.py "$tmp/virtq"

# fuzz_netdev seeds: driver scripts in its op format (fuzz/fuzz_netdev.c),
# a well-behaved session and a few variations, so the fuzzer starts from
# a device that is up and moving frames.
python3 - "$tmp/netdev" <<'EOF'
import struct, sys, os
out = sys.argv[1]
NEG, STATUS, QUEUE, RAM, POST, KICK, CTRL, CONFIG, INJECT, POLL, REG, AVAIL, BACKEND = range(13)
def u16(v): return struct.pack('<H', v & 0xffff)
def neg(features): return bytes([NEG, 5]) + struct.pack('<Q', features)
def queue(q, num, base):
    return bytes([QUEUE, q]) + u16(num) + u16(base) + u16(base + 0x100) + u16(base + 0x200) + b'\x01'
def post(q, head, segs):
    b = bytes([POST, q, head, len(segs) - 1])
    for i, (gpa, ln, flags) in enumerate(segs):
        b += u16(gpa) + u16(ln) + bytes([flags | (1 if i + 1 < len(segs) else 0), head + i + 1])
    return b
def inject(hdr, ln, fill=0x5a): return bytes([INJECT]) + hdr + u16(ln) + bytes([fill])
def ctrl(cmd, mq=True): return bytes([CTRL, 1 if mq else 0, len(cmd)]) + cmd + b'\x01'
zero_hdr = bytes(12)
MRG, CTRL_VQ, MQ, CSUM, GCSUM, GOFF = 1 << 15, 1 << 17, 1 << 22, 1, 2, 4
feat = MRG | CTRL_VQ | MQ | CSUM | GCSUM | GOFF
setup = bytes([0x09]) + neg(feat)
for q in range(5):
    setup += queue(q, 8, 0x1000 + q * 0x400)
setup += bytes([STATUS, 0x0f])
rx = b''.join(post(0, 2 * i, [(0x8000 + i * 0x800, 0x800, 2)]) for i in range(4)) + bytes([KICK, 0])
tx = post(1, 0, [(0x6000, 12, 0), (0x6010, 60, 0)]) + bytes([KICK, 1])
seeds = {
    'session': setup + rx + inject(zero_hdr, 100) + inject(zero_hdr, 1600) + bytes([POLL, 0, 8]) + tx
               + ctrl(b'\x04\x00\x02\x00') + ctrl(b'\x05\x00' + struct.pack('<Q', 2)),
    'no-mrg': bytes([0x01]) + neg(CTRL_VQ) + queue(0, 4, 0x1000) + queue(1, 4, 0x1400)
              + queue(2, 4, 0x1800) + bytes([STATUS, 0x0f]) + rx + inject(zero_hdr, 200)
              + bytes([POLL, 0, 4]) + ctrl(b'\x04\x00\x01\x00', False),
    'bad-features': bytes([0x1a]) + neg((1 << 7) | (1 << 22)) + bytes([STATUS, 0x0f, CONFIG, 0, 3, 0])
                    + struct.pack('<Q', 0) + bytes([CONFIG, 6, 1, 1]) + struct.pack('<Q', 0xffff),
    'reset-mid-rx': setup + rx + inject(zero_hdr, 3000) + bytes([POLL, 0, 1, STATUS, 0]) + setup + rx
                    + bytes([POLL, 0, 8]),
    'gso-rx': bytes([0x19]) + neg(feat | (1 << 7) | (1 << 8)) + queue(0, 8, 0x1000) + queue(1, 8, 0x1400)
              + bytes([STATUS, 0x0f]) + rx + inject(bytes([1, 1]) + u16(54) + u16(1448) + u16(34) + u16(16)
              + u16(0), 9000) + bytes([POLL, 0, 8]),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
EOF

# fuzz_blkdev seeds: driver scripts in its op format (fuzz/fuzz_blkdev.c):
# a device brought up with reads, writes, flushes, discards and GET_ID, and
# the same with the refused shapes (past the end, no status, short header).
python3 - "$tmp/blkdev" <<'EOF'
import struct, sys, os
out = sys.argv[1]
NEG, STATUS, QUEUE, RAM, POST, KICK, REQ, CONFIG, REG, AVAIL = range(10)
def u16(v): return struct.pack('<H', v & 0xffff)
def neg(features): return bytes([NEG, 1]) + struct.pack('<Q', features)
def queue(q, num, base):
    return bytes([QUEUE, q]) + u16(num) + u16(base) + u16(base + 0x100) + u16(base + 0x200) + b'\x01'
def req(q, typ, sector, ln, layout=1, head=0):
    return bytes([REQ, q]) + struct.pack('<IQ', typ, sector) + u16(ln) + bytes([layout, head])
FLUSH, MQ, DISCARD, WZ = 1 << 9, 1 << 12, 1 << 13, 1 << 14
setup = neg(FLUSH | MQ | DISCARD | WZ) + queue(0, 16, 0x1000) + queue(1, 16, 0x2000) + bytes([STATUS, 0x0f])
dwz = bytes([RAM]) + u16(0x9000) + bytes([16]) + struct.pack('<QII', 8, 8, 0)
io = (req(0, 1, 0, 4096, 0) + req(0, 0, 0, 4096, 1, 3) + req(1, 4, 0, 0, 0) + req(0, 8, 0, 20, 1, 6)
      + dwz + req(0, 11, 0, 16, 0, 9) + req(0, 13, 0, 16, 0, 12))
bad = (req(0, 0, 127, 1024) + req(0, 1, (1 << 64) - 2, 512, 0) + req(0, 0, 0, 512, 8)
       + req(0, 0, 0, 512, 32) + req(0, 0, 0, 512, 2 | 4 | 16) + req(0, 0, 0, 512, 64 | 1)
       + req(0, 99, 0, 0, 0) + req(0, 1, 3, 100, 0))
seeds = {
    'session': bytes([0x1b]) + setup + io,
    'refused': bytes([0x19]) + setup + bad,
    'readonly': bytes([0x05]) + setup + io,
    'direct': bytes([0x58]) + setup + io + bad,
    'host-errors': bytes([0x98]) + setup + io,
    'limited': bytes([0x39]) + setup + io + io + bytes([KICK, 0]),
    'reset-mid': bytes([0x1a]) + setup + req(0, 1, 0, 512, 0) + bytes([STATUS, 0]) + setup + io,
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
EOF

# fuzz_balloondev seeds: driver and host scripts in its op format
# (fuzz/fuzz_balloondev.c): a balloon brought up that inflates and deflates
# a few pages and sends stats when the host asks, and the same with free
# page reporting, shared RAM, failing madvise, bad page numbers and buffers,
# a reset while a stats buffer is held, and a ring filled past one kick's
# worth so the device defers the rest to the loop.
python3 - "$tmp/balloondev" <<'EOF'
import struct, sys, os
out = sys.argv[1]
(NEG, STATUS, QUEUE, RAM, POST, KICK, PFNS, STATS, REPORT, CONFIG, TARGET, REQUEST, LOOP, REG,
 AVAIL, RACE) = range(16)
SPLIT, SPLIT_ODD, WRITABLE, TAIL, INDIRECT, BATCH, REPEAT, NO_KICK = (1 << i for i in range(8))
def u16(v): return struct.pack('<H', v & 0xffff)
def neg(features): return bytes([NEG, 5]) + struct.pack('<Q', features)
def queue(q, num=8, base=None, step=0x100):
    base = 0x1000 + q * 0x400 if base is None else base
    return bytes([QUEUE, q]) + u16(num) + u16(base) + u16(base + step) + u16(base + 2 * step) + b'\x01'
# A page is its selector byte (fuzz_balloondev.c: pfn()) or raw(value).
def raw(v): return b'\xc0' + struct.pack('<I', v)
def pfns(q, head, gpa, pages, layout=0):
    return (bytes([PFNS, q, head]) + u16(gpa) + bytes([len(pages), layout])
            + b''.join(p if isinstance(p, bytes) else bytes([p]) for p in pages))
def stats(q, head, entries, gpa=0x3000, layout=0):
    return (bytes([STATS, q, head]) + u16(gpa) + bytes([len(entries), layout])
            + b''.join(bytes([t]) + struct.pack('<Q', v) for t, v in entries))
def report(q, head, segs, layout=0):
    return bytes([REPORT, q, head, len(segs) - 1, layout]) + b''.join(bytes(s) for s in segs)
def config(off, ln, write, v=0): return bytes([CONFIG, off, ln, write]) + struct.pack('<Q', v)
def target(n): return bytes([TARGET]) + struct.pack('<I', n)
MUST_TELL, STATS_VQ, DEFLATE_ON_OOM, REPORTING = 1, 2, 4, 32
EVENT_IDX, INDIRECT_DESC = 1 << 29, 1 << 28
feat = MUST_TELL | STATS_VQ | DEFLATE_ON_OOM | EVENT_IDX | INDIRECT_DESC
setup = neg(feat) + queue(0) + queue(1) + queue(2) + bytes([STATUS, 0x0f])
setup_rep = neg(feat | REPORTING) + queue(0) + queue(1) + queue(2) + queue(3) + bytes([STATUS, 0x0f])
first_stats = stats(2, 0, [(t, 1000 * t) for t in range(8)])
session = (first_stats + target(4) + config(0, 2, 0) + pfns(0, 0, 0x2000, [8, 9, 10, 11])
           + config(4, 2, 1, 4) + bytes([REQUEST]) + stats(2, 2, [(4, 1 << 20), (5, 1 << 24), (6, 1 << 22)])
           + bytes([REQUEST]) + target(0) + pfns(1, 0, 0x2100, [8, 9, 10, 11]) + config(4, 2, 1, 0)
           + bytes([LOOP, 0]))
# Page numbers 16 (the guard page after RAM), 15 twice, edge values, two raw.
edge = [0x80, 0x81, 0x82, 0x83, 0x87, 16, 15, 15, 3, raw(0xdeadbeef), raw(5)]
# A driver that makes the same buffer available again while the device
# works (every second translation, 20 times): one kick finds more than the
# ring of eight holds and defers the rest to the loop.
full = pfns(0, 0, 0x2000, [4], NO_KICK) + bytes([RACE, 0, 0, 1, 20, KICK, 0])
seeds = {
    'session': bytes([0x00]) + setup + session,
    'reporting': bytes([0x01]) + setup_rep + session
                 + report(3, 0, [(12, 4, 0), (4, 2, 0)]) + report(3, 2, [(5, 1, 1), (6, 1, 2), (7, 1, 4)]),
    'no-stats-vq': bytes([0x01]) + neg(MUST_TELL | REPORTING) + queue(0) + queue(1) + queue(2)
                   + bytes([STATUS, 0x0f]) + pfns(0, 0, 0x2000, [12, 13]) + report(2, 0, [(14, 2, 0)])
                   + pfns(1, 0, 0x2100, [12, 13]) + stats(2, 2, [(0, 1)]),
    'bad-pfns': bytes([0x00]) + setup + first_stats + pfns(0, 0, 0x2000, edge)
                + pfns(0, 2, 0x2000, [9, 5, 7, 5, 0x80], BATCH) + pfns(0, 4, 0x2000, [4, 5], TAIL)
                + pfns(0, 6, 0x2000, [4, 5, 6], WRITABLE) + pfns(1, 0, 0xfff8, [4, 5, 6])
                + pfns(1, 2, 0x2000, [6, 7, 8, 9], SPLIT_ODD) + pfns(1, 4, 0x2000, [6, 7], INDIRECT | SPLIT)
                + pfns(0, 1, 0x2000, [10, 11, 12], REPEAT)
                + stats(2, 2, [(20, 1), (0xff, 2)], layout=TAIL) + stats(2, 4, [(1, 1)] * 70)
                + stats(2, 6, [(1, 1)] * 3, layout=SPLIT_ODD | INDIRECT) + bytes([REQUEST]),
    'madvise-einval': bytes([0x08]) + setup + session,
    'madvise-eagain': bytes([0x11]) + setup_rep + session + report(3, 0, [(8, 8, 0)]),
    'full-ring': bytes([0x00]) + setup + full + bytes([LOOP, 3]) + full,
    'full-ring-no-defer': bytes([0x02]) + setup + full,
    'full-ring-defer-fails': bytes([0x04]) + setup + full,
    # Buffers repeating the rest of RAM on a ring of 32: one just over
    # the device's 64 KiB of page numbers a buffer, one just under it.
    'big-chains': bytes([0x00]) + neg(feat) + queue(0, 32, 0xf000, 0x200) + queue(1) + queue(2)
                  + bytes([STATUS, 0x0f]) + pfns(0, 0, 0x2000, [4, 5], REPEAT)
                  + pfns(0, 0, 0x6000, [4, 5], REPEAT),
    'reset-mid': bytes([0x00]) + setup + first_stats + pfns(0, 0, 0x2000, [5]) + bytes([STATUS, 0])
                 + bytes([REQUEST]) + setup + first_stats + bytes([REQUEST]),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
EOF

# fuzz_config seeds: every config the tree ships or tests with.
cp etc/*.conf tests/fixtures/configs/*.conf "$tmp/config/"

# fuzz_boot seeds: its 8-byte header (fuzz/fuzz_boot.c) before a kernel —
# a minimal ELF vmlinux and bzImage, and the demo and bench guests of any
# gcc build lying around (clang does not build them) — through both the
# in-memory and the file path.
python3 - "$tmp/boot" build*/guest/demo/modvm-demo-guest build*/guest/bench/modvm-bench-guest <<'EOF'
import struct, sys, os
out = sys.argv[1]
def seed(name, flags, kernel, vcpus=1, mmio=2, cmd=8, initrd=4096):
    hdr = bytes([flags, vcpus, mmio, cmd]) + struct.pack('<I', initrd)
    with open(os.path.join(out, name), 'wb') as f:
        f.write(hdr + kernel)
for i, path in enumerate(sys.argv[2:]):
    if os.path.isfile(path) and i < 4:
        elf = open(path, 'rb').read()
        seed(f'guest{i}', 0x0c, elf)
        seed(f'guest{i}-pvh-file', 0x8b, elf, vcpus=4)
# ELF64 x86-64: one PT_LOAD of 0x200 bytes at 16 MiB, entry at its start,
# plus a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY (type 18) for the PVH entry.
note = struct.pack('<III', 4, 4, 18) + b'Xen\0' + struct.pack('<I', 0x1000000)
phoff, nph = 64, 2
code_off = phoff + 56 * nph
note_off = code_off + 0x200
ehdr = b'\x7fELF' + bytes([2, 1, 1]) + bytes(9) + struct.pack('<HHIQQQIHHHHHH',
    2, 62, 1, 0xffffffff81000000, phoff, 0, 0, 64, 56, nph, 64, 0, 0)
load = struct.pack('<IIQQQQQQ', 1, 5, code_off, 0xffffffff81000000, 0x1000000, 0x200, 0x1000, 0x200000)
pnote = struct.pack('<IIQQQQQQ', 4, 4, note_off, 0, 0, len(note), len(note), 4)
elf = ehdr + load + pnote + bytes([0xf4]) * 0x200 + note
seed('elf', 0x0c, elf)
seed('elf-pvh-file', 0x8b, elf, vcpus=3)
# bzImage: 4 setup sectors, "HdrS" 2.15, LOADED_HIGH, relocatable, XLF_KERNEL_64
bz = bytearray(5 * 512 + 4096)
bz[0x1f1] = 4
struct.pack_into('<I', bz, 0x1f4, 4096 // 16)
bz[0x201] = 0x6a
bz[0x202:0x206] = b'HdrS'
struct.pack_into('<H', bz, 0x206, 0x020f)
bz[0x211] = 0x01
struct.pack_into('<I', bz, 0x22c, 0x7fffffff)
struct.pack_into('<I', bz, 0x230, 0x200000)
bz[0x234] = 1
struct.pack_into('<H', bz, 0x236, 0x1)
struct.pack_into('<I', bz, 0x238, 2047)
struct.pack_into('<Q', bz, 0x258, 0x1000000)
struct.pack_into('<I', bz, 0x260, 0x800000)
seed('bzimage', 0x08, bytes(bz))
seed('bzimage-32-file', 0x8a, bytes(bz), vcpus=2)
EOF

# -jobs would compete with the vCPU-heavy test suites on a 2-core box: one
# process at a time, each target an equal share of the time (at least 1 s:
# -max_total_time=0 would mean forever), and the final stats give execs/s.
share=$((secs / ${#targets[@]}))
((share >= 1)) || share=1
declare -A seeds=([fuzz_virtq]=virtq [fuzz_netdev]=netdev [fuzz_blkdev]=blkdev
	[fuzz_balloondev]=balloondev [fuzz_config]=config [fuzz_boot]=boot)
declare -A maxlen=([fuzz_virtq]=8192 [fuzz_netdev]=4096 [fuzz_blkdev]=4096 [fuzz_balloondev]=4096
	[fuzz_config]=16384 [fuzz_boot]=1048576)
# libconfig's leak (above) makes libFuzzer run a full leak check on most
# malformed configs, 15x slower: fuzz_config runs without them and its
# corpus is replayed once with them at the end, so our leaks still show.
declare -A leaks=([fuzz_config]=0)
# libconfig's own leak on a failed parse is not ours (fuzz/lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
summary=()
for t in "${targets[@]}"; do
	log=$tmp/$t.log
	set +e
	"$dir/fuzz/$t" -max_total_time="$share" -print_final_stats=1 -max_len="${maxlen[$t]}" \
		-timeout=10 -rss_limit_mb=4096 -artifact_prefix="$artifacts$t-" \
		-detect_leaks="${leaks[$t]:-1}" "$tmp/${seeds[$t]}" >"$log" 2>&1
	rc=$?
	if ((rc == 0)) && [[ ${leaks[$t]:-1} == 0 ]]; then
		"$dir/fuzz/$t" -runs=0 -detect_leaks=1 -max_len="${maxlen[$t]}" \
			-artifact_prefix="$artifacts$t-" "$tmp/${seeds[$t]}" >>"$log" 2>&1
		rc=$?
	fi
	set -e
	grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)" "$log" || true
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	summary+=("$t ${rate:-?} execs/s (${runs:-?} runs in ${share} s)")
	if ((rc != 0)); then
		echo "run-fuzz.sh: $t failed (exit $rc); artifacts in $artifacts" >&2
		tail -n 60 "$log" >&2
		exit "$rc"
	fi
done
printf 'fuzz: %s\n' "${summary[@]}"
