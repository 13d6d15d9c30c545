# The first VM tests, in one guest: ublk is there and answers GET_FEATURES, rxe carries an
# rdma_cm connection, and swap under a memory cgroup limit keeps every byte.
# Needs LINESWAP_BUILD (the meson build folder). Run by: scripts/vm/run tests/vm/single.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"

ublk_features() {
	vm_load ublk_drv
	test -c /dev/ublk-control || vm_fail "/dev/ublk-control is not a character device"
	out=$("$LINESWAP_BUILD/ublk-server/ublk-ctl" features --json)
	echo "$out"
	mask=$(sed -n 's/.*"features": \([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$mask" ] || vm_fail "no feature mask in: $out"
	# This project's data plane relies on these (docs/test-vm.md: 6.12 reports 0x1fe).
	for f in CMD_IOCTL_ENCODE USER_COPY USER_RECOVERY; do
		grep -q "\"$f\"" <<<"$out" || vm_fail "ublk lacks $f"
	done
	(( (mask & 0xc8) == 0xc8 )) || vm_fail "mask $mask lacks bits 3, 6, 7"
	"$LINESWAP_BUILD/ublk-server/ublk-ctl" features | grep -q "^features 0x" ||
		vm_fail "plain output malformed"
}

rxe_rdma_cm() {
	addr=$(vm_rxe_veth)
	rdma link show | grep -q "rxe0.*ACTIVE" || vm_fail "rxe0 is not ACTIVE: $(rdma link show)"
	ibv_devices | grep -q rxe0 || vm_fail "libibverbs does not see rxe0"
	timeout 60 rping -s -a "$addr" -C 5 -S 64 >/tmp/rping-server.log 2>&1 &
	server=$!
	# The server may not listen yet: the client retries for up to 10 s.
	vm_wait_for 10 timeout 30 rping -c -a "$addr" -C 5 -S 64 -v >/tmp/rping-client.log 2>&1 ||
		{ cat /tmp/rping-client.log; vm_fail "rping client failed"; }
	wait "$server" || { cat /tmp/rping-server.log; vm_fail "rping server failed"; }
	n=$(grep -c "ping data" /tmp/rping-client.log)
	[ "$n" = 5 ] || { cat /tmp/rping-client.log; vm_fail "expected 5 pings, got $n"; }
	echo "rping: 5 round trips over rdma_cm on rxe0"
}

zram_swap_memcg() {
	vm_load zram
	echo 1G >/sys/block/zram0/disksize
	# 200 MiB in a 64 MiB cgroup: at least ~136 MiB (34816 pages) must go out, and come back.
	vm_swap_check /dev/zram0 64M 200 2 30000 20000
}

vm_behaviours ublk_features rxe_rdma_cm zram_swap_memcg
vm_summary
