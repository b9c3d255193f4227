#!/usr/bin/env bash
# Proves scripts/check-abi.sh tells compatible from incompatible changes, on
# small synthetic libraries built here (an added function, a field appended
# to a size-stamped struct and to a plain one, a resized field, a removed
# function, the same break under a new soname major, a renamed internal),
# and that the real libmodvm matches the committed baseline.
#
#   test_abi.sh SOURCE_ROOT LIBMODVM.so CC
#
# Exit 77 (skip) without abidw/abidiff.
set -uo pipefail
root=$1 libmodvm=$2 cc=$3
check=$root/scripts/check-abi.sh

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
	echo "SKIP: abidw/abidiff not installed (apt-get install abigail-tools)"
	exit 77
fi

tmp=$(mktemp -d /tmp/modvm-abi-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

mkdir -p "$tmp/inc"
# One public header; VARIANT picks the change.
cat >"$tmp/inc/syn.h" <<'EOF'
struct modvm_syn {
#ifdef WIDER_A
	long a;		/* resized: every later offset moves */
#else
	int a;
#endif
	int b;
#ifdef APPENDED_PLAIN
	int c;		/* appended, but this struct is not size-stamped */
#endif
};
struct modvm_stamped {
	unsigned struct_size;
	int a;
#ifdef APPENDED
	int c;		/* appended to a size-stamped struct: a minor change */
#endif
};
int modvm_syn_get(const struct modvm_syn *s);
const struct modvm_stamped *modvm_syn_stamped(void);
#ifndef NO_SET
int modvm_syn_set(struct modvm_syn *s, int v);
#endif
#ifdef ADDED
int modvm_syn_new(void);
#endif
EOF
cat >"$tmp/syn.c" <<'EOF'
#include "syn.h"
int modvm_syn_get(const struct modvm_syn *s) { return (int)s->a + s->b; }
static struct modvm_stamped st = { sizeof(st), 1 };
const struct modvm_stamped *modvm_syn_stamped(void) { return &st; }
#ifndef NO_SET
int modvm_syn_set(struct modvm_syn *s, int v) { s->b = v; return 0; }
#endif
#ifdef ADDED
int modvm_syn_new(void) { return 1; }
#endif
/* An internal, as libmodvm exports them: its changes must not count. */
int modvm__private(int x) { return x; }
EOF

build() {	# build NAME SONAME CFLAGS...
	local name=$1 so=$2
	shift 2
	"$cc" -g -O0 -shared -fPIC -I"$tmp/inc" "$@" -Wl,-soname,"$so" -o "$tmp/$name.so" \
		"$tmp/syn.c" || { echo "FAILED: cannot build $name"; exit 1; }
}

expect() {	# expect NAME STATUS TEXT: check-abi on NAME exits STATUS, says TEXT
	local name=$1 want=$2 text=$3 out rc
	out=$("$check" --lib "$tmp/$name.so" --baseline "$tmp/base.abi" --headers "$tmp/inc" 2>&1)
	rc=$?
	if [[ $rc -ne $want ]] || ! grep -q -- "$text" <<<"$out"; then
		echo "$out"
		echo "FAILED: $name: status $rc (want $want), output must contain \"$text\""
		fails=$((fails + 1))
	else
		echo "ok: $name: status $rc, \"$text\""
	fi
}

build v1 libsyn.so.1
build v1-internal libsyn.so.1 -Dmodvm__private=modvm__private_renamed
build added libsyn.so.1 -DADDED
build appended libsyn.so.1 -DAPPENDED
build appended-plain libsyn.so.1 -DAPPENDED_PLAIN
build layout libsyn.so.1 -DWIDER_A
build removed libsyn.so.1 -DNO_SET
build layout-major libsyn.so.2 -DWIDER_A

"$check" --lib "$tmp/v1.so" --baseline "$tmp/base.abi" --headers "$tmp/inc" --update >/dev/null ||
	{ echo "FAILED: --update"; exit 1; }
expect v1 0 "identical to the baseline"
expect v1-internal 0 "identical to the baseline"
expect added 0 "only adds to the ABI"
expect appended 0 "fields appended to size-stamped modvm_stamped"
expect appended-plain 1 "incompatible ABI change"
expect layout 1 "incompatible ABI change"
expect removed 1 "incompatible ABI change"
expect layout-major 0 "new ABI major (libsyn.so.1 -> libsyn.so.2)"

# The real tree against the committed baseline.
out=$("$check" --lib "$libmodvm" 2>&1)
rc=$?
if [[ $rc -ne 0 ]]; then
	echo "$out"
	echo "FAILED: libmodvm does not pass against abi/libmodvm.abi (status $rc)"
	fails=$((fails + 1))
else
	echo "ok: libmodvm: ${out##*$'\n'}"
fi
[[ $fails -eq 0 ]]
