#!/usr/bin/env bash
# The bash completion offers what modvm accepts (issue 19): every command of
# `modvm help`, every long option of `modvm --help`, the plugins `modvm
# plugins` finds after --describe, the ctl commands, and the checks
# modvm-conform runs after its --check.
#
#   test-completion.sh MODVM MODVM_CONFORM COMPLETION_DIR PLUGIN.so
#
# COMPLETION_DIR holds the files `modvm` and `modvm-conform`; PLUGIN.so is
# any plugin, run through modvm-conform to learn its check names.
set -uo pipefail
modvm=$1 conform=$2 dir=$3 plugin=$4

bc=/usr/share/bash-completion/bash_completion
if [[ ! -r $bc ]]; then
	echo "SKIP: $bc missing (apt-get install bash-completion)"
	exit 77
fi
# bash_completion wants an interactive-ish shell; these are enough for it.
set +u
# shellcheck source=/dev/null
source "$bc"
# shellcheck source=/dev/null
source "$dir/modvm"
# shellcheck source=/dev/null
source "$dir/modvm-conform"

# The modvm found on PATH is the one under test.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$(readlink -f "$modvm")" "$bindir/modvm"
PATH=$bindir:$PATH

fails=0
# complete FUNCTION WORD... : COMPREPLY for the last word of the line.
complete_line()
{
	local fn=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

# expect WHAT "WANTED WORDS" GOT : every wanted word offered (and, with
# --exact, nothing else).
expect()
{
	local what=$1 want got=$3 exact=${4:-} w
	want=$(echo $2)	# one line, words separated by single spaces
	for w in $want; do
		grep -qx -- "$w" <<<"$got" || { echo "FAIL $what: $w not offered (got: $(echo $got))"; fails=$((fails + 1)); }
	done
	if [[ $exact == --exact ]]; then
		for w in $got; do
			[[ " $want " == *" $w "* ]] || { echo "FAIL $what: offers $w, which modvm does not take"; fails=$((fails + 1)); }
		done
	fi
}

usage=$("$modvm" help)
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$usage" | awk '/^  [a-z]/ { print $1 }')
longopts=$(sed -n '/^Options:/,/^$/p' <<<"$usage" | grep -o -- '--[a-z-]*' | sort -u)
[[ $(wc -w <<<"$commands") -ge 8 ]] || { echo "FAIL: modvm help lists no commands"; exit 1; }

expect "modvm <TAB>" "$commands" "$(complete_line _modvm modvm '')" --exact
expect "modvm --<TAB>" "$longopts" "$(complete_line _modvm modvm --)"
expect "modvm pl<TAB>" "plugins" "$(complete_line _modvm modvm pl)" --exact
expect "modvm help <TAB>" "$commands config" "$(complete_line _modvm modvm help '')" --exact
expect "modvm run --<TAB>" "--trace-events --user --group" "$(complete_line _modvm modvm run --)"
expect "modvm check --<TAB>" "--user --group" "$(complete_line _modvm modvm check --)"
expect "modvm run --user roo<TAB>" "root" "$(complete_line _modvm modvm run --user roo)" --exact
expect "modvm caps --<TAB>" "--json --record" "$(complete_line _modvm modvm caps --)"
expect "modvm ctl SOCK <TAB>" "status balloon stop" \
	"$(complete_line _modvm modvm ctl /run/modvm/x.sock '')" --exact
plugins=$("$modvm" -q plugins | awk '{ print $1 }')
[[ -n $plugins ]] || { echo "FAIL: modvm plugins found none"; exit 1; }
expect "modvm plugins --describe <TAB>" "$plugins" \
	"$(complete_line _modvm modvm plugins --describe '')" --exact
expect "modvm -v plugins --describe cpu-<TAB>" "$(grep '^cpu-' <<<"$plugins")" \
	"$(complete_line _modvm modvm -v plugins --describe cpu-)" --exact

# Every check modvm-conform runs, and nothing else.
checks=$("$conform" "$plugin" 2>/dev/null | sed -n 's/^\(PASS\|FAIL\|SKIP\) \([a-z-]*\):.*/\2/p')
[[ $(wc -w <<<"$checks") -ge 10 ]] || { echo "FAIL: no check names from $conform"; exit 1; }
expect "modvm-conform --check <TAB>" "$checks" \
	"$(complete_line _modvm_conform modvm-conform x.so --check '')" --exact
expect "modvm-conform --<TAB>" "--config --strictness --json --seed --check --timeout" \
	"$(complete_line _modvm_conform modvm-conform x.so --)"

if ((fails)); then
	echo "test-completion: $fails failures"
	exit 1
fi
echo "test-completion: commands, options, plugins, ctl and conform checks OK"
