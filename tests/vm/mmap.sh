# Mmap mode in one guest (memory node on the same guest's rxe device): a device mapped as
# memory (mmap MAP_SHARED of /dev/ublkbN) by a program in a memory cgroup far smaller than the
# mapping; every byte written must come back, across munmap, a dropped page cache, a writer
# killed with SIGKILL and the daemon killed with -9 and recovered.
# Run by: scripts/vm/run tests/vm/mmap.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
mapcheck="$LINESWAP_BUILD/tests/mapcheck"
export LINESWAP_SECRET=vm-test-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
node=tcp://$addr:7370
rnode=rdma://$addr:7370

: >/tmp/node.log
"$memnode" --size 1100M --listen $node --rdma >>/tmp/node.log 2>&1 &
vm_wait_for 10 grep -q serving /tmp/node.log || { echo "memnode did not start"; exit 1; }

# gone ID: on leaving the behaviour (failed or not), device ID is deleted, so the node's memory
# is free for the next one.
gone() { trap '"$ctl" del -n '"$1"' >/dev/null 2>&1 || true' EXIT; }

# pages ID: device ID's pages by origin, "SWAP_IN SWAP_OUT CACHE_IN CACHE_OUT"
pages() {
	"$ctl" stats -n "$1" --json | python3 "$vm_lib/json-values.py" \
		pages.swap_in pages.swap_out pages.cache_in pages.cache_out
}

# mapped ID CGROUP SEED STEPS...: mapcheck over $mib MiB of device ID, in CGROUP; fails on its
# failure or an OOM kill in the cgroup.
mapped() {
	local id=$1 cg=$2 seed=$3 rc=0
	shift 3
	vm_in_cgroup "$cg" "$mapcheck" --mib "$mib" --seed "$seed" "/dev/ublkb$id" "$@" \
		>/tmp/map$id.out 2>&1 || rc=$?
	cat /tmp/map$id.out
	[ "$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")" = 0 ] || vm_fail "OOM kill"
	[ "$rc" = 0 ] || vm_fail "mapcheck $* failed (status $rc)"
}

# 1 GiB of a remote device over RDMA mapped in a 64 MiB cgroup: written, read back twice,
# unmapped, mapped again and read back (each pass reads from the node all but what the cgroup
# holds).
map_remote_cgroup() {
	local cg swap_in swap_out cache_in cache_out pages=262144
	mib=1024
	gone 0
	"$ctl" add -t remote --node $rnode --size 1G --queues 2 -n 0 >/dev/null
	# add bounded the device's dirty pages (--dirty-limit, 16M): without it, the cgroup fills
	# with dirty pages of the device and is OOM-killed.
	[ "$(cat /sys/block/ublkb0/bdi/strict_limit)" = 1 ] || vm_fail "no strict dirty limit"
	echo "dirty limit: $(($(cat /sys/block/ublkb0/bdi/max_bytes) >> 10)) KiB"
	cg=$(vm_memcg map0 64M)
	mapped 0 "$cg" 1 write verify verify remap verify
	read -r swap_in swap_out cache_in cache_out <<<"$(pages 0)"
	read -r _ _ got _ <<<"$(vm_moved "$ctl" 0)"
	echo "pages by origin: swap $swap_in in, $swap_out out; page cache $cache_in read," \
		"$cache_out written back; cgroup peak $(($(cat "$cg/memory.peak") >> 20)) MiB"
	"$ctl" stats -n 0
	# All but what the cgroup holds was written back; each of the three verify passes read
	# from the node at least what the cgroup could not hold (the first touch of a page never
	# written reads zeros without asking it).
	((cache_out >= pages - 64 * 256)) || vm_fail "only $cache_out pages written back"
	((got >= 3 * (pages - 64 * 256))) || vm_fail "only $got pages read from the node"
	((cache_in >= got)) || vm_fail "reads from the node not counted as page cache"
	((swap_out == 0)) || vm_fail "writebacks counted as swap"
	rmdir "$cg"
	"$ctl" del -n 0
}

# A writer killed with SIGKILL before any msync or munmap loses nothing: the page cache writes
# its pages back, and a new process reads them from the node.
map_killed_writer() {
	local cg rc=0
	mib=256
	gone 1
	"$ctl" add -t remote --node $node --size 256M -n 1 >/dev/null
	cg=$(vm_memcg map1 64M)
	vm_in_cgroup "$cg" "$mapcheck" --mib $mib --seed 7 /dev/ublkb1 write kill || rc=$?
	[ "$rc" = 137 ] || vm_fail "the writer was not killed (status $rc)"
	mapped 1 "$cg" 7 drop verify
	rmdir "$cg"
	"$ctl" del -n 1
}

# The daemon killed with -9 halfway through writing 1 GiB, and recovered: the program waits
# for its faults and writebacks, then every page verifies, from the node too.
map_daemon_recovered() {
	local cg pid old rc=0
	mib=1024
	gone 2
	"$ctl" add -t remote --node $rnode --size 1G --queues 2 -n 2 >/dev/null
	cg=$(vm_memcg map2 64M)
	vm_in_cgroup "$cg" "$mapcheck" --mib $mib --seed 3 /dev/ublkb2 \
		write verify remap verify >/tmp/map2.out 2>&1 &
	pid=$!
	vm_wait_for 300 grep -q "write 50%" /tmp/map2.out ||
		{ cat /tmp/map2.out; vm_fail "the writer did not get halfway"; }
	old=$("$ctl" list -n 2 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	kill -9 "$old"
	sleep 1
	"$ctl" recover -n 2 || vm_fail "recover failed"
	echo "daemon $old killed halfway through the writes; recovered"
	wait $pid || rc=$?
	cat /tmp/map2.out
	[ "$rc" = 0 ] || vm_fail "mapcheck failed across the crash (status $rc)"
	[ "$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")" = 0 ] || vm_fail "OOM kill"
	"$ctl" stats -n 2 --json | grep -q '"errors": [1-9]' && vm_fail "I/O errors counted"
	rmdir "$cg"
	"$ctl" del -n 2
}

vm_behaviours map_remote_cgroup map_killed_writer map_daemon_recovered
vm_summary
