#!/usr/bin/env bash
# Host-side test of the VM harness itself (scripts/vm/run): a guest script's exit status comes
# back faithfully (a death by a signal with the kernel's and the daemons' last words), arguments and the share reach the guest, the guest's writes to its root stay
# in its overlay (the host's / is untouched), a failing behaviour fails its script, the
# behaviour filter runs only what it picks, and a hung guest writes out what it was doing
# (tests/vm/hangdump.c) and is killed within its timeout with none of its processes left behind (counted by the pids its runs recorded: other guests on
# the machine, another checkout's for one, are not this test's business). Each check is a
# behaviour, run here on the host by guest-lib's runner (LINESWAP_VM_ONLY picks them too).
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
. "$src/scripts/lib/common.sh"
. "$src/scripts/vm/guest-lib.sh"
vm_only_check "$0" || exit
tmp=$(mktemp -d)
# This test's run folders, inside scripts/test's when it runs there (its safety net covers them).
runs=$(mktemp -d "${LINESWAP_VM_RUNS:-/tmp}/lineswap-harness.XXXXXX")
chmod 0755 "$runs"
export LINESWAP_VM_RUNS=$runs
trap 'lineswap_kill_guests "$runs"; rm -rf "$tmp" "$runs"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# run ARGS...: scripts/vm/run with no filter of this test's own (the guests' behaviours are
# the harness's fixtures, not the behaviours LINESWAP_VM_ONLY names).
run() { LINESWAP_VM_ONLY="" "$src/scripts/vm/run" "$@"; }

exit_status_7() {
	local rc=0
	echo 'exit 7' >"$tmp/exit7.sh"
	run -q --timeout 120 "$tmp/exit7.sh" || rc=$?
	[ "$rc" = 7 ] || vm_fail "expected 7, got $rc"
}

# A job killed by a signal (a failed swap-in kills with SIGBUS, the job's own shell too) has its
# status come back as 128 + the signal, and the guest says what the kernel and the daemons logged.
signal_death_reported() {
	local rc=0 out
	printf 'mkdir -p /run/lineswap\necho daemon-said >/run/lineswap/ublk9.log\nkill -BUS $$\n' \
		>"$tmp/sigbus.sh"
	out=$(run --timeout 120 "$tmp/sigbus.sh" 2>&1) || rc=$?
	[ "$rc" = 135 ] && grep -q "^--- the job was killed by signal 7; the last kernel messages:" \
		<<<"$out" && grep -q "^--- /run/lineswap/ublk9.log, last lines:" <<<"$out" &&
		grep -q "^daemon-said" <<<"$out" || vm_fail "status $rc, output: $out"
}

args_share_output() {
	local rc=0 out
	cat >"$tmp/args.sh" <<'G'
[ "$1" = "one two" ] && [ "$2" = three ] || { echo "bad args: $*"; exit 3; }
[ "$(uname -r)" = "$LINESWAP_KERNEL" ] || { echo "wrong kernel $(uname -r)"; exit 4; }
echo "written in the guest" >"$LINESWAP_SHARE/result"
echo overlay >/usr/lineswap-overlay-probe || { echo "the guest root is not writable"; exit 5; }
echo guest-ok
G
	out=$(run --timeout 120 --keep "$tmp/keep" "$tmp/args.sh" "one two" three 2>&1) || rc=$?
	[ "$rc" = 0 ] && grep -q guest-ok <<<"$out" &&
		[ "$(cat "$tmp/keep/compute/result" 2>/dev/null)" = "written in the guest" ] &&
		[ ! -e /usr/lineswap-overlay-probe ] || vm_fail "status $rc, output: $out"
}

# A failing behaviour inside a guest (guest-lib's runner) fails the guest script, and errexit
# holds inside a behaviour: a failing command stops it.
guest_test_failure() {
	local rc=0 out
	cat >"$tmp/guest-fail.sh" <<'G'
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
passes() { true; }
stops_at_false() { false; echo "not reached"; }
vm_behaviours passes stops_at_false
vm_summary
G
	out=$(run --timeout 120 "$tmp/guest-fail.sh" 2>&1) || rc=$?
	[ "$rc" = 1 ] && grep -q "^PASS passes" <<<"$out" && grep -q "^FAIL stops_at_false" <<<"$out" &&
		! grep -q "not reached" <<<"$out" && grep -q "vm: 1 passed, 1 failed" <<<"$out" ||
		vm_fail "status $rc (want 1), output: $out"
}

# --only runs just the behaviours it picks and says which it skipped; a filter that picks none
# of a script's behaviours boots nothing and fails (77, meson's "skipped"), naming them.
behaviour_filter() {
	local rc=0 out
	cat >"$tmp/filter.sh" <<'G'
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
first() { echo "first ran"; }
second() { echo "second ran"; }
vm_behaviours first second
vm_summary
G
	out=$(run --timeout 120 --only 'sec*' "$tmp/filter.sh" 2>&1) || rc=$?
	[ "$rc" = 0 ] && grep -q "^skipped (filter)" <<<"$out" && ! grep -q "first ran" <<<"$out" &&
		grep -q "second ran" <<<"$out" && grep -q "^PASS second" <<<"$out" &&
		grep -q "vm: 1 passed, 0 failed, 1 skipped (filter)" <<<"$out" ||
		vm_fail "--only 'sec*': status $rc (want 0), output: $out"
	rc=0
	out=$(run --timeout 120 --only nosuch "$tmp/filter.sh" 2>&1) || rc=$?
	[ "$rc" = 77 ] && grep -q "first second" <<<"$out" && ! grep -q "guest up" <<<"$out" ||
		vm_fail "--only nosuch: status $rc (want 77), output: $out"
}

hung_guest_killed() {
	local rc=0 start elapsed left
	# The job's sleep runs as "memhog", a program the guest's dump watches.
	echo 'echo hanging; ln -s "$(command -v sleep)" /tmp/memhog && /tmp/memhog 600' >"$tmp/hang.sh"
	start=$(date +%s)
	run -q --timeout 20 --keep "$tmp/hang" "$tmp/hang.sh" >"$tmp/hang.out" 2>&1 || rc=$?
	elapsed=$(($(date +%s) - start))
	# The hung run's QEMU and timeout, by the pids it recorded (kept), and any run folder of
	# this test that its run left behind.
	left=$({ lineswap_guests "$tmp/hang" "$runs/"; lineswap_guests "$runs"; } | wc -l)
	echo "hung guest: killed after ${elapsed}s with a 20 s timeout"
	[ "$rc" = 124 ] && [ "$elapsed" -le 35 ] && [ "$left" = 0 ] &&
		grep -q "timed out" "$tmp/hang.out" || {
		cat "$tmp/hang.out"
		vm_fail "status $rc (want 124) after ${elapsed}s (limit 35), $left of its processes left"
	}
	# Before it was killed, the guest wrote what it was doing into the job's output: the
	# kernel's view (blocked tasks, the watched programs' threads from sysrq t), memory, and
	# every task, the job's "memhog" among them.
	[ -x "${LINESWAP_BUILD:-}/tests/hangdump" ] || vm_fail "no hangdump in LINESWAP_BUILD"
	out=$tmp/hang/compute/output
	grep -q "=== hangdump: the job still runs after" "$out" && grep -q "^MemFree:" "$out" &&
		grep -q "^pswpout " "$out" && grep -q "^process [0-9]* memhog state S" "$out" &&
		grep -q "Show Blocked State" "$out" && grep -q "^task:memhog .*state:S" "$out" || {
		cat "$out"
		vm_fail "the hung guest's output has no complete dump of its state"
	}
}

vm_behaviours exit_status_7 signal_death_reported args_share_output guest_test_failure \
	behaviour_filter hung_guest_killed
vm_summary
