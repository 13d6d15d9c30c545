#!/usr/bin/env bash
# Host-side test of the VM harness itself (scripts/vm/run): a guest script's exit status comes
# back faithfully, arguments and the share reach the guest, the guest's writes to its root stay
# in its overlay (the host's / is untouched), and a hung guest is killed within its
# timeout with none of its processes left behind (counted by the pids its runs recorded: other
# guests on the machine, another checkout's for one, are not this test's business).
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
. "$src/scripts/lib/common.sh"
run="$src/scripts/vm/run"
tmp=$(mktemp -d)
# This test's run folders, inside scripts/test's when it runs there (its safety net covers them).
runs=$(mktemp -d "${LINESWAP_VM_RUNS:-/tmp}/lineswap-harness.XXXXXX")
chmod 0755 "$runs"
export LINESWAP_VM_RUNS=$runs
trap 'lineswap_kill_guests "$runs"; rm -rf "$tmp" "$runs"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
passed=0 failed=0

check() { # NAME CONDITION-MESSAGE, then status of the last test command in $?
	if [ "$2" = ok ]; then
		passed=$((passed + 1))
		echo "PASS $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1: $2"
	fi
}

echo 'exit 7' >"$tmp/exit7.sh"
"$run" -q --timeout 120 "$tmp/exit7.sh"
rc=$?
[ "$rc" = 7 ] && check exit_status_7 ok || check exit_status_7 "expected 7, got $rc"

cat >"$tmp/args.sh" <<'G'
[ "$1" = "one two" ] && [ "$2" = three ] || { echo "bad args: $*"; exit 3; }
[ "$(uname -r)" = "$LINESWAP_KERNEL" ] || { echo "wrong kernel $(uname -r)"; exit 4; }
echo "written in the guest" >"$LINESWAP_SHARE/result"
echo overlay >/usr/lineswap-overlay-probe || { echo "the guest root is not writable"; exit 5; }
echo guest-ok
G
out=$("$run" --timeout 120 --keep "$tmp/keep" "$tmp/args.sh" "one two" three 2>&1)
rc=$?
if [ "$rc" = 0 ] && grep -q guest-ok <<<"$out" &&
	[ "$(cat "$tmp/keep/compute/result" 2>/dev/null)" = "written in the guest" ] &&
	[ ! -e /usr/lineswap-overlay-probe ]; then
	check args_share_output ok
else
	check args_share_output "status $rc, output: $out"
fi

# A failing test inside a guest (guest-lib's vm_test) fails the guest script, and errexit holds
# inside a test function: a failing command stops it.
cat >"$tmp/guest-fail.sh" <<'G'
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
passes() { true; }
stops_at_false() { false; echo "not reached"; }
vm_test passes passes
vm_test stops_at_false stops_at_false
vm_summary
G
out=$("$run" --timeout 120 "$tmp/guest-fail.sh" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q "^PASS passes" <<<"$out" && grep -q "^FAIL stops_at_false" <<<"$out" &&
	! grep -q "not reached" <<<"$out" && grep -q "vm: 1 passed, 1 failed" <<<"$out"; then
	check guest_test_failure ok
else
	check guest_test_failure "status $rc (want 1), output: $out"
fi

echo 'echo hanging; sleep 600' >"$tmp/hang.sh"
start=$(date +%s)
"$run" -q --timeout 20 --keep "$tmp/hang" "$tmp/hang.sh" >"$tmp/hang.out" 2>&1
rc=$? elapsed=$(($(date +%s) - start))
# The hung run's QEMU and timeout, by the pids it recorded (kept), and any run folder of this
# test that its run left behind.
left=$({ lineswap_guests "$tmp/hang" "$runs/"; lineswap_guests "$runs"; } | wc -l)
if [ "$rc" = 124 ] && [ "$elapsed" -le 35 ] && [ "$left" = 0 ] && grep -q "timed out" "$tmp/hang.out"; then
	check hung_guest_killed ok
else
	check hung_guest_killed "status $rc (want 124) after ${elapsed}s (limit 35), $left QEMU left"
	cat "$tmp/hang.out"
fi
echo "hung guest: killed after ${elapsed}s with a 20 s timeout"

echo "harness: $passed passed, $failed failed"
[ "$failed" = 0 ]
