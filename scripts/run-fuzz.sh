#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory
# (build-fuzz, outside any gcc build; FUZZ_BUILD_DIR overrides it) and runs
# each for its share of N seconds (default 60, split evenly, at least 1 s
# each): the virtqueue parser (fuzz_virtq), the virtio-net device model
# (fuzz_netdev) and the virtio-blk device model (fuzz_blkdev).  Seeds are generated into a temporary directory that is
# removed afterwards; crash artifacts stay in the build directory.
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
ninja -C "$dir" fuzz/fuzz_virtq fuzz/fuzz_netdev fuzz/fuzz_blkdev >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
artifacts=$dir/fuzz-artifacts/
mkdir -p "$tmp/virtq" "$tmp/netdev" "$tmp/blkdev" "$artifacts"
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

# -jobs would compete with the vCPU-heavy test suites on a 2-core box: one
# process at a time, and the final stats give execs/s.
first=$((secs / 3))
second=$((secs / 3))
third=$((secs - first - second))
((first >= 1)) || first=1	# -max_total_time=0 would mean forever
((second >= 1)) || second=1
((third >= 1)) || third=1
"$dir/fuzz/fuzz_virtq" -max_total_time="$first" -print_final_stats=1 \
	-max_len=8192 -timeout=10 -artifact_prefix="$artifacts" "$tmp/virtq"
"$dir/fuzz/fuzz_netdev" -max_total_time="$second" -print_final_stats=1 \
	-max_len=4096 -timeout=10 -artifact_prefix="$artifacts" "$tmp/netdev"
"$dir/fuzz/fuzz_blkdev" -max_total_time="$third" -print_final_stats=1 \
	-max_len=4096 -timeout=10 -artifact_prefix="$artifacts" "$tmp/blkdev"
