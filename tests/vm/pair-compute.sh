# Two-guest test, compute side: rxe on eth0 reaches the memory node's rxe over the guests' own
# socket network; an rdma_cm connection carries 5 verified round trips; then a remote ublk
# device on the node, over RDMA, keeps fio's data and a swapping working set byte for byte.
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
	# 32 MiB working set, a quarter of it allowed in memory, swapping to the other guest
	# (small: the emulated link between two single-CPU guests takes ~50 ms a request).
	vm_swap_check /dev/ublkb0 8M 32 1 4000 3000
	"$ctl" stats -n 0
	"$ctl" del -n 0
}

vm_behaviours two_guest_rdma_cm two_guest_remote_swap
vm_summary
