#!/usr/bin/env bash
# Host test: the VM suites' behaviours and their filter, without booting a guest. Every VM test
# script declares its behaviours (one function each, names unique across the suite); the
# filter's globs pick by name; scripts/vm/run --list prints them, and a filter that picks
# none of a script's behaviours boots nothing (77, with the names) or, for a script with no
# behaviours, is refused (2); scripts/test --vm-only with a PATTERN that matches nothing fails
# at once (2) with the whole list, and --list lists.
set -uo pipefail
src=$1
. "$(dirname "$0")/lib.sh"
. "$src/scripts/lib/behaviours.sh"
run="$src/scripts/vm/run"

# check NAME CONDITION...: one PASS or FAIL line for CONDITION's status.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
	fi
}

# declared: every VM script but the two-guest node's declares behaviours, each a function of
# that script, and no name is used twice in the suite.
declared() {
	local f name names all=() ok=0
	for f in "$src"/tests/vm/*.sh; do
		[ "${f##*/}" = pair-node.sh ] && continue
		mapfile -t names < <(vm_behaviour_names "$f")
		[ "${#names[@]}" -gt 0 ] || { echo "  $f declares no behaviours"; ok=1; }
		for name in "${names[@]}"; do
			grep -q "^$name() {" "$f" || { echo "  $f: no function $name"; ok=1; }
			all+=("$name")
		done
	done
	[ -z "$(printf '%s\n' "${all[@]}" | sort | uniq -d)" ] ||
		{ echo "  names used twice: $(printf '%s\n' "${all[@]}" | sort | uniq -d)"; ok=1; }
	return $ok
}
check declared declared

# picks PATTERN NAME...: the names PATTERN picks, on one line.
picks() {
	local name out=()
	for name in "${@:2}"; do
		LINESWAP_VM_ONLY=$1 vm_only_match "$name" && out+=("$name")
	done
	echo "${out[*]}"
}
set -- swap_memcg zram_swap_memcg crash_recovery crash_recover remote_recovery
check glob_exact [ "$(picks swap_memcg "$@")" = swap_memcg ]
check glob_star [ "$(picks '*recover*' "$@")" = "crash_recovery crash_recover remote_recovery" ]
check glob_list [ "$(picks 'swap_memcg, crash_recover' "$@")" = "swap_memcg crash_recover" ]
check glob_none [ -z "$(picks nosuch "$@")" ]
check no_filter [ "$(picks "" "$@")" = "$*" ]
set --

expect run_list 0 "^ext4_remount$" "$run" --list "$src/tests/vm/ublk.sh"
expect run_only_none 77 "picks none of .*ublk.sh's behaviours: fio_verify_shapes ext4_remount" \
	"$run" --only nosuch "$src/tests/vm/ublk.sh"
expect run_env_none 77 "picks none" env LINESWAP_VM_ONLY='swap*' "$run" "$src/tests/vm/hints.sh"
expect run_no_behaviours 2 "declares no behaviours" "$run" --only x "$src/tests/vm/pair-node.sh"
expect test_only_none 2 "matches no behaviour of the VM suite.*" "$src/scripts/test" --vm-only nosuch
expect test_only_none_lists 2 "^  swap_memcg$" "$src/scripts/test" --vm-only nosuch
expect test_list 0 "^tests/vm/ublk.sh$" "$src/scripts/test" --list
expect test_list_filtered 0 "^  crash_recover$" "$src/scripts/test" --list --vm-only '*recover'
expect test_no_vm_only 2 "exclude each other" "$src/scripts/test" --no-vm --vm-only x

summary "vm behaviours"
