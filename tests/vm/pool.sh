# A remote device over a pool of three memory nodes in one guest (separate memnode processes on
# distinct ports, two over RDMA on the rxe device, one over TCP): fio verify while a node is
# killed, the dead node refilled, then another killed; a copy that missed writes is never
# read; a device larger than any node; a daemon killed while degraded and recovered; copies
# made anew past the grace; a node added, and another drained under fio.
# Run by: scripts/vm/run tests/vm/pool.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
export LINESWAP_SECRET=vm-test-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
urls=("rdma://$addr:7371" "rdma://$addr:7372" "tcp://$addr:7373")

# Node i (0-2) listens on port 7371+i; its pid is kept in /tmp/pool-node<i>.pid (behaviours
# run in subshells). `start_node I [SIZE]` starts it empty.
start_node() {
	local i=$1 size=${2:-256M}
	: >/tmp/pool-node$i.log
	"$memnode" --size "$size" --listen "tcp://$addr:$((7371 + i))" --rdma \
		>>/tmp/pool-node$i.log 2>&1 &
	echo $! >/tmp/pool-node$i.pid
	vm_wait_for 10 grep -q serving /tmp/pool-node$i.log || vm_fail "memnode $i did not start"
}
node_pid() { cat /tmp/pool-node$1.pid; }
kill_node() { # I: SIGKILL, and gone (its port free) before this returns
	local pid
	pid=$(node_pid "$1")
	kill -9 "$pid" 2>/dev/null || true
	vm_wait_for 10 gone "$pid" || vm_fail "memnode $1 did not die"
}
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; } # or a zombie
nodes_up() { # SIZE: every node running, restarted empty at SIZE
	local i
	# A behaviour that failed may have left its device, on nodes it paused: not the next's.
	for i in 0 1 2; do
		if [ -s /tmp/pool-node$i.pid ]; then kill -CONT "$(node_pid $i)" 2>/dev/null || true; fi
	done
	"$ctl" del --all >/dev/null 2>&1 || true
	for i in 0 1 2; do
		if [ -s /tmp/pool-node$i.pid ]; then
			kill_node $i
		fi
		start_node $i "${1:-256M}"
	done
}
pool_args() { printf -- '--node %s ' "${urls[@]}"; }

fio_verify() { # DEV OFFSET SIZE [EXTRA...]
	local dev=$1 off=$2 size=$3
	shift 3
	fio --name=verify --filename="$dev" --direct=1 --ioengine=io_uring --iodepth=8 \
		--rw=randwrite --bsrange=4k-64k --offset="$off" --size="$size" --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --randrepeat=0 --output-format=terse "$@" \
		>/tmp/fio.out 2>&1 || { cat /tmp/fio.out; vm_fail "fio verify on $dev failed"; }
}
redundancy() { "$ctl" nodes -n "$1" --json | sed -n 's/.*"redundancy": "\([a-z]*\)".*/\1/p'; }
wait_full() { # ID SECONDS
	vm_wait_for "$2" sh -c "[ \"\$('$ctl' nodes -n $1 --json | sed -n 's/.*\"redundancy\": \"\\([a-z]*\\)\".*/\\1/p')\" = full ]" ||
		{ "$ctl" nodes -n "$1"; tail -20 /run/lineswap/ublk$1.log; vm_fail "device $1 did not get back to full redundancy"; }
}
all_stale_on() { # ID NODE: the node holds copies, and `ublk-ctl nodes` shows every one stale
	"$ctl" nodes -n "$1" --json | grep -q "\"index\": $2, [^}]*\"slabs\": \([1-9][0-9]*\), \"stale\": \1,"
}
# write_paused ID FILE: node 2 (TCP) paused, FILE written over all of device ID: the writes
# succeed on the other copies and all of node 2's copies are stale, and shown so (the keeper
# counts them at its own pace: fewer shown is a count not yet made). Node 2 stays paused.
write_paused() {
	kill -STOP "$(node_pid 2)"
	dd if="$2" of=/dev/ublkb"$1" bs=1M oflag=direct status=none ||
		{ tail -30 /run/lineswap/ublk"$1".log; vm_fail "writes failed with one node paused"; }
	vm_wait_for 10 all_stale_on "$1" 2 || { "$ctl" nodes -n "$1"; vm_fail "the paused node's copies are not all stale"; }
}
# stale_device ID: every node fresh, device ID (16 MiB, two copies, 1 MiB slabs) holding
# /tmp/old, then /tmp/new written over it with node 2 paused (it stays paused): all of node
# 2's copies are stale.
stale_device() {
	nodes_up
	"$ctl" add -t remote $(pool_args) --replicas 2 --size 16M --slab-size 1M --io-timeout 2 \
		-n "$1" >/dev/null
	head -c 16M /dev/urandom >/tmp/old
	head -c 16M /dev/urandom >/tmp/new
	dd if=/tmp/old of=/dev/ublkb"$1" bs=1M oflag=direct status=none
	write_paused "$1" /tmp/new
}
no_errors() {
	"$ctl" stats -n "$1" --json | grep -q '"errors": [1-9]' && { "$ctl" stats -n "$1"; vm_fail "I/O errors counted"; }
	return 0
}

# fio verify with two copies while a node dies (SIGKILL: no goodbye); the node comes back empty
# and is refilled; then another node dies: no I/O error, no verify failure, the data intact.
pool_node_kills() {
	nodes_up
	"$ctl" add -t remote $(pool_args) --replicas 2 --size 256M --slab-size 8M --queues 2 \
		--depth 16 --io-timeout 3 -n 0 >/dev/null
	[ "$(redundancy 0)" = full ] || vm_fail "a new pool is not fully redundant"
	head -c 32M /dev/urandom >/tmp/ref
	dd if=/tmp/ref of=/dev/ublkb0 bs=1M oflag=direct status=none
	fio --name=kill --filename=/dev/ublkb0 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bsrange=4k-64k --offset=64M --size=96M --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --output-format=terse >/tmp/fio-kill.out 2>&1 &
	fio=$!
	sleep 4
	kill -0 $fio || vm_fail "fio ended before the kill"
	kill_node 0
	echo "node 0 killed during fio"
	wait $fio || { cat /tmp/fio-kill.out; vm_fail "fio failed across a node's death"; }
	no_errors 0
	"$ctl" nodes -n 0
	[ "$(redundancy 0)" = degraded ] || vm_fail "no degradation shown with a node dead"
	"$ctl" nodes -n 0 --json | grep -q '"index": 0, [^}]*"state": "down"' ||
		vm_fail "the dead node is not shown down"
	cmp <(dd if=/dev/ublkb0 bs=1M count=32 iflag=direct status=none) /tmp/ref ||
		vm_fail "data differs with a node dead"
	start_node 0
	start=$(date +%s)
	wait_full 0 180
	echo "node 0 back empty: full redundancy after $(($(date +%s) - start)) s"
	"$ctl" nodes -n 0
	kill_node 1
	echo "node 1 killed"
	cmp <(dd if=/dev/ublkb0 bs=1M count=32 iflag=direct status=none) /tmp/ref ||
		vm_fail "data differs after the second death"
	fio_verify /dev/ublkb0 64M 32M
	no_errors 0
	"$ctl" del -n 0
}

# A copy that missed writes (its node paused past the I/O timeout) serves no read: with the
# fresh copies' nodes dead, reads fail rather than return the old data; after a resync it
# serves the newest data. The paused node is the TCP one: over RDMA, Soft-RoCE (in the kernel)
# writes into a stopped node's memory all the same.
pool_stale_copy() {
	stale_device 1
	"$ctl" nodes -n 1
	kill -CONT "$(node_pid 2)"
	wait_full 1 120
	kill_node 0
	cmp <(dd if=/dev/ublkb1 bs=1M count=16 iflag=direct status=none) /tmp/new ||
		vm_fail "a resynced copy did not serve the newest data"
	echo "resynced copies serve the newest data"
	# Again, but the fresh copies die before the stale one can be refilled.
	start_node 0
	wait_full 1 120
	write_paused 1 /tmp/old
	kill_node 0
	kill_node 1
	kill -CONT "$(node_pid 2)"
	sleep 1
	for mib in 0 5 10 15; do
		if dd if=/dev/ublkb1 of=/tmp/got bs=1M skip=$mib count=1 iflag=direct status=none 2>/dev/null; then
			cmp -s /tmp/got <(dd if=/tmp/new bs=1M skip=$mib count=1 status=none) &&
				vm_fail "MiB $mib read back the data it held before the last write"
		fi
	done
	echo "with only stale copies left, reads fail: the old data never comes back"
	"$ctl" del -n 1
}

# A device larger than any node: three nodes of 128 MiB, a 256 MiB device with one copy,
# filled and verified; one more than the nodes can hold is refused.
pool_larger_than_node() {
	nodes_up 128M
	rc=0; "$ctl" add -t remote $(pool_args) --replicas 1 --size 512M -n 2 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "have room for" /tmp/err || vm_fail "an oversized pool: $rc $(cat /tmp/err)"
	"$ctl" add -t remote $(pool_args) --replicas 1 --size 256M --slab-size 16M --queues 2 \
		--depth 16 -n 2 >/dev/null
	fio --name=fill --filename=/dev/ublkb2 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=write --bs=1M --size=256M --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse >/tmp/fio.out 2>&1 || { cat /tmp/fio.out; vm_fail "fill and verify failed"; }
	no_errors 2
	"$ctl" nodes -n 2
	held=$("$ctl" nodes -n 2 --json | grep -o '"bytes": [0-9]*' | awk '{s += $2; if ($2 > 128*2^20) big=1} END {print s, big+0}')
	[ "$held" = "$((256 << 20)) 0" ] || vm_fail "held per node: $held (want 256 MiB in all, none over 128 MiB)"
	"$ctl" del -n 2
}

# kill -9 of the daemon while a copy is stale: the recovered daemon keeps the placement and the
# stale marks (no read from the stale copy), and the resync then completes.
pool_recover_degraded() {
	stale_device 3
	before=$("$ctl" nodes -n 3 --json | grep -o '"index": [0-9], [^}]*"stale": [0-9]*' | sed 's/"url.*"stale"/"stale"/')
	old=$("$ctl" list -n 3 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	kill -9 "$old"
	"$ctl" recover -n 3 || vm_fail "recover failed"
	after=$("$ctl" nodes -n 3 --json | grep -o '"index": [0-9], [^}]*"stale": [0-9]*' | sed 's/"url.*"stale"/"stale"/')
	[ "$before" = "$after" ] && grep -q '"index": 2, "stale": [1-9]' <<<"$after" ||
		vm_fail "stale marks before the crash: $before; after recovery: $after"
	cmp <(dd if=/dev/ublkb3 bs=1M count=16 iflag=direct status=none) /tmp/new ||
		vm_fail "recovered daemon read old data"
	kill -CONT "$(node_pid 2)"
	wait_full 3 120
	kill_node 0
	cmp <(dd if=/dev/ublkb3 bs=1M count=16 iflag=direct status=none) /tmp/new ||
		vm_fail "node 2's copies are not up to date after the resync"
	echo "recovered while degraded; resynced; with node 0 dead, node 2's copies serve the newest data"
	"$ctl" del -n 3
}

# A node that stays dead past the grace: its copies are made anew on the other two (in their
# regions' spare slots), the pool is fully redundant without it, and then a second node may
# die: the one node left holds every page.
pool_rereplicate() {
	nodes_up
	"$ctl" add -t remote $(pool_args) --replicas 2 --size 128M --slab-size 4M --grace 2 \
		--io-timeout 3 -n 4 >/dev/null
	head -c 64M /dev/urandom >/tmp/ref
	dd if=/tmp/ref of=/dev/ublkb4 bs=1M oflag=direct status=none
	kill_node 0
	start=$(date +%s)
	vm_wait_for 20 sh -c "'$ctl' nodes -n 4 --json | grep -q '\"index\": 0, [^}]*\"state\": \"down\"'" ||
		vm_fail "node 0 not seen down"
	wait_full 4 180
	"$ctl" nodes -n 4
	echo "node 0 dead: full redundancy without it after $(($(date +%s) - start)) s"
	"$ctl" nodes -n 4 --json | grep -q '"index": 0, [^}]*"slabs": 0,' || vm_fail "node 0 still holds copies"
	"$ctl" nodes -n 4 --json | grep -q '"copies_moved": [1-9]' || vm_fail "no copy counted as moved"
	kill_node 1
	cmp <(dd if=/dev/ublkb4 bs=1M count=64 iflag=direct status=none) /tmp/ref ||
		vm_fail "data differs with two of three nodes dead"
	no_errors 4
	"$ctl" del -n 4
}

# `ublk-ctl node add` then `node remove` under load: a device on nodes 0 and 1 gets node 2,
# then node 0 drains while fio writes and verifies. The pool never shows a slab below two
# fresh copies, node 0 ends holding nothing (its region freed), and with nodes 0 and 1 both
# dead then, node 2's copies serve every page.
pool_node_remove() {
	nodes_up
	"$ctl" add -t remote --node "${urls[0]}" --node "${urls[1]}" --replicas 2 --size 128M \
		--slab-size 4M --io-timeout 3 -n 5 >/dev/null
	head -c 32M /dev/urandom >/tmp/ref
	dd if=/tmp/ref of=/dev/ublkb5 bs=1M oflag=direct status=none
	"$ctl" node add -n 5 "${urls[2]}" || vm_fail "node add failed"
	"$ctl" nodes -n 5 --json | grep -q '"index": 2, [^}]*"state": "up"' ||
		{ "$ctl" nodes -n 5; vm_fail "the added node is not up"; }
	fio --name=drain --filename=/dev/ublkb5 --direct=1 --ioengine=io_uring --iodepth=8 \
		--rw=randwrite --bsrange=4k-64k --offset=64M --size=64M --loops=4 --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --output-format=terse >/tmp/fio-drain.out 2>&1 &
	fio=$!
	: >/tmp/redundancy.log
	(while kill -0 $fio 2>/dev/null; do redundancy 5 >>/tmp/redundancy.log; sleep 0.2; done) &
	watcher=$!
	sleep 2
	kill -0 $fio || vm_fail "fio ended before the drain"
	start=$(date +%s)
	"$ctl" node remove -n 5 "${urls[0]}" || vm_fail "node remove failed"
	took=$(($(date +%s) - start))
	kill -0 $fio || vm_fail "fio ended before the drain did: no load while it ran"
	wait $fio || { cat /tmp/fio-drain.out; vm_fail "fio failed during the drain"; }
	wait $watcher
	"$ctl" nodes -n 5
	echo "node 0 drained in $took s under fio; redundancy seen $(wc -l </tmp/redundancy.log) times: $(sort /tmp/redundancy.log | uniq -c | tr -s ' \n' ' ')"
	! grep -qv '^full$' /tmp/redundancy.log || vm_fail "the pool went below two fresh copies during the drain"
	"$ctl" nodes -n 5 --json | grep -q '"index": 0, [^}]*"state": "removed", "slabs": 0,' ||
		vm_fail "the drained node still holds copies"
	"$ctl" nodes -n 5 --json | grep -q '"copies_drained": 32' || vm_fail "not every copy counted as drained"
	grep -q "released region" /tmp/pool-node0.log || vm_fail "node 0's region was not freed"
	no_errors 5
	kill_node 0
	kill_node 1
	cmp <(dd if=/dev/ublkb5 bs=1M count=32 iflag=direct status=none) /tmp/ref ||
		vm_fail "node 2 does not hold every page"
	"$ctl" del -n 5
}

vm_behaviours pool_node_kills pool_stale_copy pool_larger_than_node pool_recover_degraded \
	pool_rereplicate pool_node_remove
vm_summary
