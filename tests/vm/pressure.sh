# Swap under whole-machine memory pressure: no memory cgroup, the guest simply runs out of
# memory, and reclaim must write to a remote device whose daemon needs memory to serve it.
# The memory node runs in the same guest (a link between two guests of one emulated CPU each
# carries 2-3.5 MB/s: too slow to swap hundreds of MiB), with its memory locked and serving at realtime priority
# (memnode --lock), so only the compute side can swap. Each behaviour runs programs of 1.3x the
# memory left over, with every page or block checked: a plain writer-verifier (over TCP and over
# RDMA), the churning heap under the hint allocator (over RDMA), and both at once (over TCP and
# over RDMA: competing_tcp is the hinted heap's run over TCP).
# Each run has a hard limit: finishing, not only not crashing, is the test.
# Run by: scripts/vm/run --mem 768 tests/vm/pressure.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
hintlib="$LINESWAP_BUILD/allocator/libmimalloc-hint.so"
export LINESWAP_SECRET=vm-pressure-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
LIMIT=${LINESWAP_PRESSURE_LIMIT:-360} # seconds a behaviour's programs may take
# Reclaim settings to try (sysctl NAME=VALUE ...), e.g. a smaller reserve.
for setting in ${LINESWAP_PRESSURE_SYSCTL:-}; do
	sysctl -q -w "$setting" || exit 1
done
echo "vm.min_free_kbytes=$(cat /proc/sys/vm/min_free_kbytes)" \
	"vm.watermark_scale_factor=$(cat /proc/sys/vm/watermark_scale_factor)"

# node_up: the memory node, started once (its log in /tmp/node.log) and checked every time.
node_up() {
	local adj
	if ! { [ -s /tmp/node.pid ] && kill -0 "$(cat /tmp/node.pid)" 2>/dev/null; }; then
		: >/tmp/node.log
		"$memnode" --size 386M --listen "tcp://$addr:7370" --rdma --lock >>/tmp/node.log 2>&1 &
		echo $! >/tmp/node.pid
		vm_wait_for 30 grep -q serving /tmp/node.log || {
			cat /tmp/node.log >&2
			vm_fail "memnode did not start"
			return
		}
	fi
	# The node is the largest process here: were the OOM killer to pick it, every page on the
	# device would be lost, and the next swap-in of any process (this shell's) a SIGBUS.
	adj=$(cat /proc/"$(cat /tmp/node.pid)"/oom_score_adj)
	[ "$adj" = -1000 ] || vm_fail "memnode --lock left its oom_score_adj at $adj"
}

# swap_clear: device 0 as a behaviour that failed midway may have left it, taken out of swap
# (its pages come back while the node still holds them) and deleted.
swap_clear() {
	[ -e /sys/block/ublkb0 ] || return 0
	grep -q "^/dev/ublkb0 " /proc/swaps && swapoff /dev/ublkb0
	"$ctl" del -n 0 >/dev/null
}

# swap_up URL: device 0 on URL, the only swap; prints the MiB a program of 1.3x the memory
# available then must have.
swap_up() {
	node_up && swap_clear || return 1
	if ! "$ctl" add -t remote --node "$1" --size 384M --queues 1 -n 0 >/dev/null; then
		echo "--- the memory node's log:" >&2
		cat /tmp/node.log /run/lineswap/ublk0.log >&2
		return 1
	fi
	mkswap /dev/ublkb0 >/dev/null && swapon /dev/ublkb0 || return 1
	awk '$1 == "MemAvailable:" { print int($2 / 1024 * 13 / 10) }' /proc/meminfo
}

# run_bounded NAME CMD...: CMD, killed at LIMIT s; its status is run_bounded's. What every
# watched thread does halfway through the limit is printed if CMD still ran then.
run_bounded() {
	local name=$1 dump rc=0
	shift
	"$LINESWAP_BUILD/tests/hangdump" --after $((LIMIT / 2)) --watch ublk- --watch memnode \
		--watch memhog --watch churn >/tmp/halfway.$name 2>&1 &
	dump=$!
	timeout -s KILL "$LIMIT" "$@" || rc=$?
	if ! kill "$dump" 2>/dev/null; then
		echo "--- $name: the state halfway through the limit:"
		cat /tmp/halfway.$name
	fi
	return $rc
}

# swap_down: the device's figures, then swapoff and delete; fails if the OOM killer killed
# anything meanwhile (swap did not keep up, and a process, perhaps this shell, may be lost).
swap_down() {
	local killed
	killed=$(($(vm_vmstat oom_kill) - oom0))
	echo "pswpout +$(($(vm_vmstat pswpout) - out0)), pswpin +$(($(vm_vmstat pswpin) - in0))," \
		"oom_kill +$killed"
	"$ctl" stats -n 0 --json >/tmp/stats.json
	"$ctl" stats -n 0 | head -4
	swapoff /dev/ublkb0
	"$ctl" del -n 0
	[ "$killed" = 0 ] || vm_fail "$killed OOM kills"
}

# writer URL: memhog of 1.3x the available memory, one pass: every page written (swapping
# out), then read back and verified (swapping in and out).
writer() {
	local mib rc=0 start=$SECONDS
	mib=$(swap_up "$1") || vm_fail "no swap on $1" || return 1
	echo "memhog of $mib MiB, one pass, at most $LIMIT s"
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin) oom0=$(vm_vmstat oom_kill)
	run_bounded memhog "$LINESWAP_BUILD/tests/memhog" --mib "$mib" --passes 1 || rc=$?
	echo "memhog status $rc after $((SECONDS - start)) s"
	swap_down
	[ "$rc" = 0 ] || vm_fail "memhog did not finish with every page verified (status $rc)"
}

# hinted_churn MIB SECONDS [CHURN-OPTION...]: the churning heap under the hint allocator
# (registered with device 0), built, then churned for SECONDS, every block checked once, at
# the end (--verify 60: longer than any churn here); a status file says how it ended,
# /tmp/churn.out what it printed.
hinted_churn() {
	local mib=$1 seconds=$2 rc=0
	shift 2
	run_bounded churn env LD_PRELOAD="$hintlib" LINESWAP_HINTS_DEVICE=0 \
		"$LINESWAP_BUILD/tests/churn" --mib "$mib" --threads 2 --seconds "$seconds" \
		--after-build --dead 50 --verify 60 "$@" >/tmp/churn.out 2>&1 || rc=$?
	cat /tmp/churn.out
	echo "$rc" >/tmp/churn.status
}

# churned: the heap churned (operations after it was built), or the run only built and
# checked it.
churned() {
	local ops
	ops=$(sed -n 's/^churn steady: .*, \([0-9]*\) operations,.*/\1/p' /tmp/churn.out)
	echo "churn operations after the build: ${ops:-none}"
	((${ops:-0} > 0)) || vm_fail "the heap never churned: this run did not test churning"
}

# heap_built MIB: churn holds (in memory or in swap) at least 90 % of its MIB.
heap_built() {
	local pid kb
	pid=$(pgrep -x churn) || return 1
	kb=$(awk '$1 == "VmRSS:" || $1 == "VmSwap:" { s += $2 } END { print s + 0 }' \
		/proc/"$pid"/status) || return 1
	((kb >= $1 * 1024 * 9 / 10))
}

# Some pages must have moved by hints, or the run proved nothing about them.
moved_by_hints() {
	local put
	put=$(python3 "$vm_lib/json-values.py" moved.put.hinted_pages </tmp/stats.json)
	echo "pages swapped out by hints: $put"
	((put > 0)) || vm_fail "no page was swapped out by hints: this run did not test them"
}

# hinted URL: the churning heap of 1.3x the available memory under the hint allocator, built
# (about a minute), then churned for 5 s and checked.
hinted() {
	local mib rc start=$SECONDS
	mib=$(swap_up "$1") || vm_fail "no swap on $1" || return 1
	echo "hinted churn of $mib MiB, at most $LIMIT s"
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin) oom0=$(vm_vmstat oom_kill)
	hinted_churn "$mib" 5
	rc=$(cat /tmp/churn.status)
	echo "churn status $rc after $((SECONDS - start)) s"
	swap_down
	[ "$rc" = 0 ] || vm_fail "churn did not finish with every block intact (status $rc)" ||
		return 1
	churned || return 1
	moved_by_hints
}

# competing URL: a hinted churning heap and a plain memhog, each of 0.65x the available
# memory, at once (the heap churns for 30 s, memhog's one pass takes about 40): both finish,
# every page and block intact. The heap churns at 500 steps a second and is checked only at
# the end, so that most of its pages go cold and reclaim takes them as well as memhog's:
# churned at full speed and checked every 10 s, it touched every page all the time, and only
# memhog's moved (in 2 of 6 runs, no page by hints).
competing() {
	local mib rc_hog=0 rc_churn start=$SECONDS churn
	mib=$(swap_up "$1") || vm_fail "no swap on $1" || return 1
	mib=$((mib / 2))
	echo "hinted churn and memhog of $mib MiB each, at most $LIMIT s"
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin) oom0=$(vm_vmstat oom_kill)
	hinted_churn "$mib" 30 --rate 500 &
	churn=$!
	# memhog starts once the heap is built, so that the two compete for memory.
	vm_wait_for 120 heap_built "$mib" || vm_fail "churn did not build its heap in 120 s"
	run_bounded memhog "$LINESWAP_BUILD/tests/memhog" --mib "$mib" --passes 1 || rc_hog=$?
	wait "$churn"
	rc_churn=$(cat /tmp/churn.status)
	echo "memhog status $rc_hog, churn status $rc_churn after $((SECONDS - start)) s"
	swap_down
	[ "$rc_hog" = 0 ] || vm_fail "memhog did not finish with every page verified (status $rc_hog)"
	[ "$rc_churn" = 0 ] ||
		vm_fail "churn did not finish with every block intact (status $rc_churn)" || return 1
	churned || return 1
	moved_by_hints
}

whole_machine_tcp() { writer "tcp://$addr:7370"; }
whole_machine_rdma() { writer "rdma://$addr:7370"; }
hinted_whole_machine_rdma() { hinted "rdma://$addr:7370"; }
competing_tcp() { competing "tcp://$addr:7370"; }
competing_rdma() { competing "rdma://$addr:7370"; }

vm_behaviours whole_machine_tcp whole_machine_rdma hinted_whole_machine_rdma competing_tcp \
	competing_rdma
# The node goes last: killed while a device still swapped to it, it would take pages of
# every process with it, this shell's and PID 1's among them.
if swap_clear; then
	[ -s /tmp/node.pid ] && kill "$(cat /tmp/node.pid)" 2>/dev/null
else
	vm_fail "device 0 did not come out of swap: the memory node is left running"
fi
vm_summary
