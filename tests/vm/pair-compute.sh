# Two-guest test, compute side: rxe on eth0 reaches the memory node's rxe over the guests' own
# network; an rdma_cm connection carries 5 verified round trips; then a remote ublk
# device on the node, over RDMA, keeps fio's data and a swapping working set byte for byte; and
# a working set swapping over TCP, and one over RDMA, survive the network dropping every packet
# for 3 s.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
export LINESWAP_SECRET=pair-secret

# link_up: rxe on eth0 (once), and the node answers pings (each behaviour can run alone).
link_up() {
	[ -e /sys/class/infiniband/rxe0 ] || vm_rxe_eth0 || return 1
	vm_wait_for 30 ping -c 1 -W 1 "$LINESWAP_NODE_ADDR" >/dev/null ||
		vm_fail "node $LINESWAP_NODE_ADDR unreachable over eth0"
}

two_guest_rdma_cm() {
	link_up
	# The node's server may not listen yet: retry for up to 60 s.
	vm_wait_for 60 timeout 60 rping -c -a "$LINESWAP_NODE_ADDR" -C 5 -S 64 -v >/tmp/rping.log 2>&1 ||
		{ cat /tmp/rping.log; vm_fail "rping to the node failed"; }
	n=$(grep -c "ping data" /tmp/rping.log)
	[ "$n" = 5 ] || { cat /tmp/rping.log; vm_fail "expected 5 pings, got $n"; }
	echo "compute: 5 rdma_cm round trips to the node guest"
}

two_guest_remote_swap() {
	link_up
	vm_load ublk_drv
	node=rdma://$LINESWAP_NODE_ADDR:7370
	vm_wait_for 30 "$ctl" add -t remote --node "$node" --size 256M --queues 1 -n 0 >/dev/null ||
		vm_fail "no remote device on $node"
	fio --name=verify --filename=/dev/ublkb0 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bsrange=4k-64k --size=8M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output-format=terse >/tmp/fio.out 2>&1 ||
		{ cat /tmp/fio.out; vm_fail "fio verify across the link failed"; }
	echo "compute: fio verify clean on $node"
	# 24 MiB working set, a third of it allowed in memory, swapping to the other guest
	# (small: each guest has one emulated CPU).
	vm_swap_check /dev/ublkb0 8M 24 1 4000 3000
	"$ctl" stats -n 0
	"$ctl" del -n 0
}

# outage TRANSPORT: a working set of 24 MiB swaps through a cgroup held to 8 MiB by memory.high
# (a stall throttles it; with memory.max the kernel's OOM killer takes a process whose
# writeback stalls for a second or two, whatever the device then does) to the node over
# TRANSPORT; once swap-out is under way the network loses every packet for 3 s (netem on eth0):
# pages in flight and new ones wait for the link, or for the daemon to reconnect, within
# --io-timeout (5 s), and the working set completes byte for byte, no page lost, no SIGBUS.
outage() {
	local cg out0 in0 out hog rc=0 oom i t0 took transport=$1
	shift
	link_up
	vm_load ublk_drv sch_netem
	vm_wait_for 30 "$ctl" add -t remote --node "$transport://$LINESWAP_NODE_ADDR:7370" \
		--size 256M --queues 1 -n 1 "$@" >/dev/null || vm_fail "no remote device over $transport"
	mkswap /dev/ublkb1 >/dev/null && swapon --discard /dev/ublkb1 || vm_fail "cannot swap"
	cg=$(vm_memcg "outage_$transport" 8M high)
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 24 --passes 1 >/tmp/memhog.out 2>&1 &
	hog=$!
	for ((i = 0; i < 600; i++)); do
		(($(vm_vmstat pswpout) - out0 >= 500)) && break
		kill -0 "$hog" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$hog" 2>/dev/null || { cat /tmp/memhog.out; vm_fail "memhog ended before the outage"; }
	t0=$(date +%s.%N)
	tc qdisc add dev eth0 root netem loss 100%
	sleep 3
	tc qdisc del dev eth0 root
	echo "$transport: every packet lost for 3 s, after $(($(vm_vmstat pswpout) - out0)) pages swapped out"
	wait "$hog" || rc=$?
	took=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	out=$(($(vm_vmstat pswpout) - out0))
	oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
	cat /tmp/memhog.out
	sed 's/^/daemon: /' /run/lineswap/ublk1.log
	cp /run/lineswap/ublk1.log "/tmp/outage_$transport.log"
	echo "$transport: memhog status $rc, $took s after the outage began; pswpout +$out," \
		"pswpin +$(($(vm_vmstat pswpin) - in0)); oom_kill $oom"
	"$ctl" stats -n 1
	swapoff /dev/ublkb1
	rmdir "$cg"
	"$ctl" del -n 1
	# A read that fails kills memhog (SIGBUS); a wrong page makes it exit 1 (MISMATCH).
	[ "$rc" = 0 ] || vm_fail "memhog failed with status $rc across the outage"
	grep -q "^memhog: OK 6144 pages x 1 passes" /tmp/memhog.out || vm_fail "memhog did not verify every page"
	[ "$oom" = 0 ] || vm_fail "OOM kill in the cgroup"
}
two_guest_outage_tcp() { outage tcp; }
# Over RDMA the daemon's new connection is accepted about 1 s after the packets flow again, or,
# when rxe failed a send during the outage and put the host's GSI queue pair (which carries the
# connection manager's messages) in error for good, never: the link is then served over TCP
# (page_store.h, tcp_fallback) after 3 s. Either way takes longer than over TCP alone: an I/O
# timeout of 12 s (its half, 6 s, is when a silent link is made anew).
two_guest_outage_rdma() {
	outage rdma --io-timeout 12
	if grep -q "serving over TCP" /tmp/outage_rdma.log; then
		echo "rdma: the RDMA connection manager did not answer after the outage: served over TCP"
		echo "rdma: this host's $(rdma res show qp lqpn 1 | grep -o 'type GSI state [A-Z]*')"
	else
		echo "rdma: reconnected over RDMA"
	fi
}

vm_behaviours two_guest_rdma_cm two_guest_remote_swap two_guest_outage_tcp two_guest_outage_rdma
vm_summary
