#!/usr/bin/env bash
# The ABI check: compares libmodvm.so's public ABI (functions and variables
# it exports, and every type reachable from them that the SDK headers
# define) with the committed baseline, using libabigail.
#
#   scripts/check-abi.sh [--lib PATH] [--baseline FILE] [--headers DIR]
#                        [--suppressions FILE] [--update]
#
# Without --lib it builds libmodvm in a temporary directory (outside the
# tree).  Exit status: 0 if nothing changed, or only additions (new
# functions or variables, fields appended to size-stamped structs; a note then
# says to bump abi_minor), or incompatible changes with a new ABI major
# (the soname's number differs from the baseline's); 1 on an incompatible
# change (a removed or changed function or variable, a changed type) with
# the same major; 77 if abidw/abidiff are missing (apt-get install
# abigail-tools).  --update writes the current ABI as the new baseline: do
# that, and commit abi/libmodvm.abi, whenever the ABI changes on purpose
# (sdk/README.md, "The ABI check").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=""
baseline=$root/abi/libmodvm.abi
headers=$root/sdk/include/modvm
suppr=$root/abi/libmodvm.suppr
update=0

while [[ $# -gt 0 ]]; do
	case $1 in
	--lib) lib=$2; shift 2 ;;
	--baseline) baseline=$2; shift 2 ;;
	--headers) headers=$2; shift 2 ;;
	--suppressions) suppr=$2; shift 2 ;;
	--update) update=1; shift ;;
	*) echo "check-abi: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
	echo "check-abi: SKIP: abidw/abidiff not found (apt-get install abigail-tools)"
	exit 77
fi

tmp=$(mktemp -d /tmp/modvm-abi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [[ -z $lib ]]; then
	echo "check-abi: building libmodvm in $tmp/build"
	meson setup "$tmp/build" "$root" -Dtests=false >"$tmp/setup.log" 2>&1 ||
		{ cat "$tmp/setup.log"; exit 1; }
	meson compile -C "$tmp/build" core/modvm:shared_library >"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log"; exit 1; }
	lib=$tmp/build/core/libmodvm.so
fi
[[ -r $lib ]] || { echo "check-abi: $lib: not readable" >&2; exit 1; }

current=$tmp/current.abi
abidw --headers-dir "$headers" --drop-private-types --no-show-locs --no-corpus-path --no-elf-needed \
	--no-comp-dir-path --suppressions "$suppr" --out-file "$current" "$lib"

if [[ $update -eq 1 ]]; then
	cp "$current" "$baseline"
	echo "check-abi: wrote $baseline from $lib"
	exit 0
fi
[[ -r $baseline ]] || { echo "check-abi: no baseline $baseline (run with --update)" >&2; exit 1; }

soname() { sed -n "s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1" | head -n1; }
base_so=$(soname "$baseline")
cur_so=$(soname "$current")
major() { local m=${1##*.so.}; echo "${m%%.*}"; }

set +e
abidiff --no-show-locs --suppressions "$suppr" --drop '^modvm__' "$baseline" "$current" \
	>"$tmp/report" 2>&1
rc=$?
set -e

if [[ $rc -eq 0 ]]; then
	echo "check-abi: PASS: $cur_so: ABI identical to the baseline"
	exit 0
fi
if (( rc & 3 )); then
	cat "$tmp/report"
	echo "check-abi: FAIL: abidiff could not compare (status $rc)"
	exit 1
fi

# abidiff flags removals as incompatible (bit 8) but a changed struct layout
# only as "a change" (bit 4): read its summary to tell additions apart.
broken=0
for kind in Functions Variables; do
	for what in Removed Changed; do
		n=$(sed -n "s/^$kind changes summary: \(.*\)/\1/p" "$tmp/report" |
			grep -o "[0-9]\+ $what" | grep -o "^[0-9]\+" || true)
		[[ -n $n && $n -ne 0 ]] && broken=1
	done
done
# Symbols without debug info, removed: as bad as a removed function.
if grep -q "^[A-Za-z ]*symbols changes summary: [1-9][0-9]* Removed" "$tmp/report"; then
	broken=1
fi
(( rc & 8 )) && broken=1

# The one layout change a minor allows (sdk/README.md, section 2): a field
# appended to a size-stamped struct (first member struct_size).  Every line
# of the report must then be part of such an append; prints the structs.
appended_only() {
	awk '
	/changes summary:/ || /^ *$/ || /^ *\[A\] / { next }
	/^ *[0-9]+ (Added|function|functions|variable|variables) .*:$/ { next }
	/^ *\[C\] .* has some (indirect )?sub-type changes:$/ { next }
	/^ *(parameter [0-9]+ of type .* has sub-type changes|return type changed):$/ { next }
	/^ *in (pointed to|unqualified underlying|referenced) type .*:$/ {
		t = $0; sub(/^[^\x27]*\x27/, "", t); sub(/\x27.*$/, "", t)
		sub(/^const /, "", t); sub(/^struct /, "", t); name = t; next
	}
	/^ *type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ { old = $5; next }
	/^ *[0-9]+ data member insertions?:$/ { next }
	/, at offset [0-9]+ \(in bits\)$/ {
		off = $0; sub(/.*, at offset /, "", off); sub(/ .*/, "", off)
		if (name == "" || off + 0 < old + 0) { bad = 1 } else { seen[name] = 1 }
		next
	}
	{ bad = 1 }
	END { if (bad) exit 1; for (s in seen) print s }
	' "$tmp/report"
}
stamped() {	# does the headers dir define "struct $1 {" with struct_size first?
	cat "$headers"/*.h | awk -v s="struct $1 {" '
		index($0, s) == 1 { if ($0 !~ /struct_size;/) getline; if ($0 ~ /struct_size;/) ok = 1 }
		END { exit ok ? 0 : 1 }'
}
appends=""
if [[ $broken -eq 1 ]] && ! (( rc & 8 )) && ! grep -q "[1-9][0-9]* Removed" "$tmp/report" &&
	structs=$(appended_only) && [[ -n $structs ]]; then
	broken=0
	for s in $structs; do
		stamped "$s" || broken=1
	done
	[[ $broken -eq 0 ]] && appends=$(echo $structs)
fi

if [[ $broken -eq 0 ]]; then
	cat "$tmp/report"
	echo "check-abi: PASS with a note: $cur_so only adds to the ABI${appends:+ (fields appended to size-stamped $appends)};" \
		"bump abi_minor in meson.build and regenerate the baseline (scripts/check-abi.sh --update)"
	exit 0
fi
if [[ -n $base_so && -n $cur_so && $(major "$base_so") != $(major "$cur_so") ]]; then
	echo "check-abi: PASS: incompatible changes with a new ABI major ($base_so -> $cur_so);" \
		"regenerate the baseline (scripts/check-abi.sh --update)"
	exit 0
fi
cat "$tmp/report"
echo "check-abi: FAIL: incompatible ABI change in $cur_so without an ABI major bump" \
	"(sdk/README.md, section 2; if intended, bump abi_major and regenerate the baseline)"
exit 1
