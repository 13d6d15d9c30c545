# Two-guest test, compute side: rxe on eth0 reaches the memory node's rxe over the guests' own
# socket network, and an rdma_cm connection to it carries 5 verified round trips.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"

two_guest_rdma_cm() {
	vm_rxe_eth0
	vm_wait_for 30 ping -c 1 -W 1 "$LINESWAP_NODE_ADDR" >/dev/null ||
		vm_fail "node $LINESWAP_NODE_ADDR unreachable over eth0"
	# The node's server may not listen yet: retry for up to 60 s.
	vm_wait_for 60 timeout 60 rping -c -a "$LINESWAP_NODE_ADDR" -C 5 -S 64 -v >/tmp/rping.log 2>&1 ||
		{ cat /tmp/rping.log; vm_fail "rping to the node failed"; }
	n=$(grep -c "ping data" /tmp/rping.log)
	[ "$n" = 5 ] || { cat /tmp/rping.log; vm_fail "expected 5 pings, got $n"; }
	echo "compute: 5 rdma_cm round trips to the node guest"
}

vm_test two_guest_rdma_cm two_guest_rdma_cm
vm_summary
