#!/usr/bin/env bash
# Host test: a man page made by man/manpage.py agrees with the program it was made from: every
# line of `PROGRAM --help` and of each `PROGRAM COMMAND --help` is a line of the rendered page
# (the program's Usage lines in its SYNOPSIS, without "Usage: "), and the page renders without
# warnings.
#   man.sh PAGE PROGRAM [COMMAND...]
#   man.sh PAGE PROGRAM --page-of COMMAND   (a page made of `PROGRAM COMMAND --help` alone)
set -uo pipefail
page=$1 program=$2
shift 2
. "$(dirname "$0")/lib.sh"
name=$(basename "$program")
only=()
if [ "${1:-}" = --page-of ]; then
	only=("$2") name=$(basename "$page" | sed 's/\.[0-9]$//')
	shift 2
fi
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT

warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
expect "${name}_renders_cleanly" 0 "^$" echo "$warnings"
# Wide lines (no-fill text is never wrapped), no overstrikes, every line without its indent.
groff -man -Tutf8 -rLL=250n -P-cbou "$page" | sed 's/^ *//; s/ *$//' >"$rendered"

# agrees TEXT-FILE: 0 when each of its lines, without its indent (or "Usage: "), is in the page
agrees() {
	local line missing=0
	while IFS= read -r line; do
		line=$(sed 's/^ *//; s/ *$//' <<<"$line")
		[ -z "$line" ] && continue
		grep -qxF -- "$line" "$rendered" || grep -qxF -- "${line#Usage: }" "$rendered" ||
			{ echo "not in $page: $line"; missing=1; }
	done <"$1"
	return $missing
}
text=$(mktemp)
trap 'rm -f "$rendered" "$text"' EXIT
"$program" "${only[@]}" --help >"$text"
expect "${name}_help" 0 "" agrees "$text"
for cmd in "$@"; do
	"$program" "$cmd" --help >"$text"
	expect "${name}_${cmd}_help" 0 "" agrees "$text"
done
# The page says where it comes from, and has the sections a reader looks for.
for section in NAME SYNOPSIS DESCRIPTION; do
	expect "${name}_section_$section" 0 "^$section$" cat "$rendered"
done
summary "man page $name"
