#!/usr/bin/env bash
# modvm@.service passes `systemd-analyze verify` and keeps its hardening
# (issue 19).  Prints the `systemd-analyze security` exposure and fails
# above MAX_EXPOSURE, so a lost hardening option is noticed.
#
#   check-unit.sh UNIT [MODVM MANDIR [SANDBOX_CALLS]]
#
# With SANDBOX_CALLS (tests/dist/sandbox_calls: every system call modvm's
# own sandbox makes or allows), each must pass the unit's SystemCallFilter=:
# one it forbids fails with EPERM in the service, where the default
# host.sandbox = "strict" needs it (seccomp, the Landlock calls).
#
# With MODVM and MANDIR (a build tree), the unit is checked as if modvm
# were installed there: its ExecStart/ExecStopPost binary is replaced by
# MODVM and man pages come from MANDIR (systemd-analyze verify runs the
# binaries' paths and Documentation=man: through `man`).  Without them
# (the package test), the unit must verify as installed.
set -euo pipefail
unit=$1 modvm=${2:-} mandir=${3:-} calls=${4:-}
MAX_EXPOSURE=${MAX_EXPOSURE:-3.0}

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze missing (apt-get install systemd)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# An instance: a template alone is not a unit systemd would run.
inst=$work/modvm@check.service
cp "$unit" "$inst"
if [[ -n $modvm ]]; then
	bin=$(sed -n 's|^ExecStart=\([^ ]*\)/modvm run .*|\1|p' "$unit")
	[[ -n $bin ]] || fail "no 'ExecStart=BINDIR/modvm run' line"
	sed -i "s|$bin/modvm |$(readlink -f "$modvm") |" "$inst"
	mkdir -p "$work/man/man1" "$work/man/man5"
	ln -s "$(readlink -f "$mandir/modvm.1")" "$work/man/man1/modvm.1"
	ln -s "$(readlink -f "$mandir/modvm.conf.5")" "$work/man/man5/modvm.conf.5"
	export MANPATH=$work/man
fi

# 1. verify: no output at all (warnings included), exit 0.
if ! out=$(systemd-analyze verify "$inst" 2>&1) || [[ -n $out ]]; then
	fail "systemd-analyze verify:"
	echo "$out"
fi

# 2. what the unit must say.
need=(
	"Type=notify"
	"ExecStart=* run */modvm/%i.conf"
	"ExecStopPost=* recover */modvm/%i.conf"
	"KillSignal=SIGTERM"
	"RuntimeDirectory=modvm"
	"RuntimeDirectoryPreserve=yes"
	"NoNewPrivileges=yes"
	"ProtectSystem=strict"
	"ProtectHome=yes"
	"PrivateTmp=yes"
	"DevicePolicy=closed"
	"DeviceAllow=/dev/kvm rw"
	"DeviceAllow=/dev/net/tun rw"
	"CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_SETUID CAP_SETGID"
	"ExecStart=* run --user modvm */modvm/%i.conf"
	"ReadWritePaths=/var/lib/modvm /var/log/modvm"
	"SystemCallFilter=@system-service"
)
for n in "${need[@]}"; do
	found=0
	while IFS= read -r line; do
		# shellcheck disable=SC2053
		[[ $line == $n ]] && found=1
	done <"$unit"
	((found)) || fail "the unit has no '$n'"
done

# 3. the exposure score (offline: no running systemd needed).
sec=$(systemd-analyze security --offline=true "$inst" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$sec")
if [[ -z $score ]]; then
	fail "systemd-analyze security gave no score"
	echo "$sec"
else
	echo "systemd-analyze security: overall exposure $score (limit $MAX_EXPOSURE)"
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		fail "exposure $score above $MAX_EXPOSURE"
fi

# 4. modvm's own sandbox under the unit's system call filter.
expand() {
	systemd-analyze syscall-filter "$1" | sed 's/^ *//' | grep -v '^#' | grep -v '^$' |
		tail -n +2 | while read -r s; do
			case $s in
			@*) expand "$s" ;;
			*) echo "$s" ;;
			esac
		done
}
if [[ -n $calls ]]; then
	allowed=$work/allowed
	: >"$allowed"
	# every allow-list line adds (a line starting with ~ would deny)
	sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$unit" | tr ' ' '\n' | while read -r f; do
		[[ -z $f ]] && continue
		case $f in
		@*) expand "$f" ;;
		*) echo "$f" ;;
		esac
	done | sort -u >"$allowed"
	list=$("$calls") || fail "$calls failed"
	missing=$(comm -23 <(sort -u <<<"$list") "$allowed" | tr '\n' ' ')
	if [[ -n $missing ]]; then
		fail "SystemCallFilter= forbids what modvm's sandbox needs: $missing"
	else
		echo "SystemCallFilter= lets through all $(sort -u <<<"$list" | wc -l) calls of modvm's sandbox"
	fi
fi

if ((fails)); then
	echo "check-unit: $fails failures"
	exit 1
fi
echo "check-unit: verify OK, hardening OK"
