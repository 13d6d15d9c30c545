# Three guests: this compute guest and two memory nodes, each a guest of its own on a link of
# its own (both run tests/vm/pair-node.sh: memnode on port 7370 with RDMA). A pool device keeps
# every slab on both nodes; a working set swaps to it, and one node's guest loses power midway
# (its QEMU killed: no connection is closed, its links just go quiet). The working set still
# completes byte for byte from the other copy, and the pool shows that node down.
# Run by: scripts/vm/run --peer tests/vm/pair-node.sh --peer tests/vm/pair-node.sh \
#         tests/vm/pool-guests.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
export LINESWAP_SECRET=pair-secret

# pool_view EXPR: EXPR (python, over j: device 0's `ublk-ctl nodes --json`), printed.
pool_view() {
	"$ctl" nodes -n 0 --json | python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"
}
node1_state() { pool_view 'j["nodes"][1]["state"]'; }
node1_down() { [ "$(node1_state)" = down ]; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; } # T0: seconds
# placement: redundancy, slabs, and each node's state and slabs held, e.g. "full 16 up:16 up:16".
placement() {
	pool_view '" ".join([j["pool"]["redundancy"], str(j["pool"]["slabs"])] +
		["%s:%d" % (n["state"], n["slabs"]) for n in j["nodes"]])'
}
placed_twice() { [ "$(placement)" = "full 16 up:16 up:16" ]; }

# Two copies of every slab, one on each node guest; node2's guest powered off while a working set
# of 32 MiB swaps through an 8 MiB cgroup (small: each guest has one emulated CPU). One
# pass writes every page (swap-out: the power goes then) and reads it back (swap-in, all after).
pool_node_power_off() {
	local nodes got cg out0 in0 out_off in_off hog rc=0 t0 state=up now oom out in i
	vm_links_up
	read -ra nodes <<<"$LINESWAP_NODE_ADDRS"
	[ "${#nodes[@]}" = 2 ] || vm_fail "two peers wanted, got '$LINESWAP_NODE_ADDRS'"
	vm_load ublk_drv
	# The memnodes may not listen yet.
	vm_wait_for 60 "$ctl" add -t remote --node "rdma://${nodes[0]}:7370" \
		--node "rdma://${nodes[1]}:7370" --replicas 2 --size 256M --slab-size 16M \
		--io-timeout 3 -n 0 >/dev/null || vm_fail "no pool device on ${nodes[*]}"
	# Each node holds a copy of every one of the 16 slabs.
	vm_wait_for 10 placed_twice ||
		vm_fail "placement: '$(placement)', want 'full 16 up:16 up:16'"
	"$ctl" nodes -n 0

	mkswap /dev/ublkb0 >/dev/null && swapon --discard /dev/ublkb0 || vm_fail "cannot swap on /dev/ublkb0"
	cg=$(vm_memcg pool_guests 8M)
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 32 --passes 1 >/tmp/memhog.out 2>&1 &
	hog=$!
	# The power goes once swap-out is under way: 500 pages out.
	for ((i = 0; i < 600; i++)); do
		(($(vm_vmstat pswpout) - out0 >= 500)) && break
		kill -0 "$hog" 2>/dev/null || break
		sleep 0.2
	done
	out_off=$(($(vm_vmstat pswpout) - out0)) in_off=$(vm_vmstat pswpin)
	kill -0 "$hog" 2>/dev/null || { cat /tmp/memhog.out; vm_fail "memhog ended before the power-off"; }
	((out_off >= 500)) || vm_fail "only $out_off pages swapped out after 120 s"
	t0=$(date +%s.%N)
	vm_power_off node2
	echo "$(date +%T): $(cat "$LINESWAP_SHARE/poweroff-node2.done"), after $out_off pages" \
		"swapped out, $((in_off - in0)) in"
	# While the working set runs on: what the pool shows of node 1, and when.
	while kill -0 "$hog" 2>/dev/null; do
		now=$(node1_state 2>/dev/null) || now=""
		if [ -n "$now" ] && [ "$now" != "$state" ]; then
			echo "node 1 shown $now $(since "$t0") s after the power-off"
			state=$now
		fi
		sleep 0.5
	done
	wait "$hog" || rc=$?
	out=$(($(vm_vmstat pswpout) - out0)) in=$(($(vm_vmstat pswpin) - in_off))
	oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
	cat /tmp/memhog.out
	sed 's/^/daemon: /' /run/lineswap/ublk0.log
	echo "memhog status $rc; pswpout +$out; pswpin +$((in_off - in0)) before the power-off," \
		"+$in after it; oom_kill $oom"
	# A read that fails kills memhog (SIGBUS); a wrong page makes it exit 1 (MISMATCH).
	[ "$rc" = 0 ] || vm_fail "memhog failed with status $rc after the power-off"
	! grep -q MISMATCH /tmp/memhog.out || vm_fail "memhog found pages that differ"
	grep -q "^memhog: OK 8192 pages x 1 passes" /tmp/memhog.out || vm_fail "memhog did not verify every page"
	[ "$oom" = 0 ] || vm_fail "OOM kill in the cgroup"
	((in >= 2000)) || vm_fail "only $in pages swapped in after the power-off"

	vm_wait_for 30 node1_down || vm_fail "node 1 not shown down: $("$ctl" nodes -n 0)"
	[ "$state" = down ] || echo "node 1 shown down $(since "$t0") s after the power-off"
	"$ctl" nodes -n 0
	got=$(pool_view 'j["pool"]["redundancy"], j["nodes"][0]["state"]')
	[ "$got" = "degraded up" ] || vm_fail "redundancy and node 0: '$got', want 'degraded up'"
	"$ctl" stats -n 0
	! "$ctl" stats -n 0 --json | grep -q '"errors": [1-9]' || vm_fail "I/O errors counted"
	swapoff /dev/ublkb0
	rmdir "$cg"
	"$ctl" del -n 0
}

vm_behaviours pool_node_power_off
vm_summary
