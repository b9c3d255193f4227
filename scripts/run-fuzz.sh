#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory
# (build-fuzz, outside any gcc build) and fuzzes the virtqueue parser for
# N seconds (default 60), starting from generated seeds.  The corpus and
# any crash artifacts stay in build-fuzz/.
#
#   scripts/run-fuzz.sh [SECONDS]
set -euo pipefail
secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
cd "$(dirname "$0")/.."
dir=build-fuzz

if [[ ! -d $dir ]]; then
	CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false >/dev/null
fi
ninja -C "$dir" fuzz/fuzz_virtq >/dev/null

corpus=$dir/fuzz-corpus/virtq
artifacts=$dir/fuzz-artifacts/
mkdir -p "$corpus" "$artifacts"
python3 fuzz/gen_virtq_seeds.py "$corpus"

# -jobs would compete with the vCPU-heavy test suites on a 2-core box: one
# process, and the final stats give execs/s.
exec "$dir/fuzz/fuzz_virtq" -max_total_time="$secs" -print_final_stats=1 \
	-max_len=8192 -timeout=10 -artifact_prefix="$artifacts" "$corpus"
