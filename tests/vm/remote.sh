# The remote target in one guest, the memory node on the same guest's rxe device (veth):
# page-store round trips over verbs, data integrity under fio over RDMA and TCP, swap over
# RDMA under a memory cgroup, a non-lineswap RDMA client refused, and what happens when the
# node stops answering or dies. Run by: scripts/vm/run tests/vm/remote.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
export LINESWAP_SECRET=vm-test-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
node=tcp://$addr:7370
rnode=rdma://$addr:7370

# The node's pid is kept in a file: tests run in subshells. A behaviour that needs the node
# starts with node_up, which starts it unless it runs (so each behaviour can run alone).
start_node() {
	: >/tmp/node.log
	"$memnode" --size 768M --listen $node --rdma >>/tmp/node.log 2>&1 &
	echo $! >/tmp/node.pid
	vm_wait_for 10 grep -q serving /tmp/node.log || vm_fail "memnode did not start"
}
node_pid() { cat /tmp/node.pid; }
node_up() { { [ -s /tmp/node.pid ] && kill -0 "$(node_pid)" 2>/dev/null; } || start_node; }

fio_verify() { # DEV QD SIZE
	fio --name=verify --filename="$1" --direct=1 --ioengine=io_uring --iodepth="$2" \
		--rw=randwrite --bsrange=4k-64k --size="$3" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --randrepeat=0 --output-format=terse >/tmp/fio.out 2>&1 ||
		{ cat /tmp/fio.out; vm_fail "fio verify on $1 failed"; }
}

verbs_round_trips() {
	LINESWAP_TEST_RDMA_ADDR=$addr LINESWAP_MEMNODE=$memnode \
		timeout 120 "$LINESWAP_BUILD/tests/test_store_tcp" 2>&1 | grep -v "^memnode" |
		tee /tmp/verbs.out
	grep -q "PASSED  \] [0-9]* test" /tmp/verbs.out && ! grep -q "FAILED" /tmp/verbs.out ||
		vm_fail "verbs page-store tests failed"
}

remote_fio() {
	node_up
	for shape in "$node 1 1" "$rnode 1 1" "$rnode 2 32"; do
		set -- $shape
		"$ctl" add -t remote --node "$1" --size 256M --queues "$2" --depth "$3" -n 0 >/dev/null
		fio_verify /dev/ublkb0 "$3" 32M
		"$ctl" stats -n 0 --json | grep -q '"errors": [1-9]' && vm_fail "errors counted"
		echo "remote over ${1%%:*}, queues $2, depth $3: fio verify clean"
		"$ctl" del -n 0
	done
	# del freed the regions: the node has all its memory again.
	kill -USR1 "$(node_pid)"
	sleep 0.5
	grep '"regions": 0' /tmp/node.log >/dev/null || vm_fail "regions left on the node: $(tail -1 /tmp/node.log)"
}

remote_swap() {
	node_up
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 -n 1 >/dev/null
	# 96 MiB working set, a third of it allowed in memory.
	vm_swap_check /dev/ublkb1 32M 96 2 20000 15000
	"$ctl" stats -n 1
	# Swap's pages are counted as swap (writes by the kernel's swap flag, reads while the
	# device is a swap area); the page cache saw only probes, mkswap's and swapon's header.
	read -r swap_in swap_out cache_in cache_out <<<"$("$ctl" stats -n 1 --json |
		python3 "$vm_lib/json-values.py" pages.swap_in pages.swap_out pages.cache_in pages.cache_out)"
	((swap_out >= 20000 && swap_in >= 15000)) || vm_fail "swap counted as $swap_out out, $swap_in in"
	((cache_in + cache_out < swap_out / 10)) || vm_fail "swap counted as page cache: $cache_in read, $cache_out written"
	"$ctl" del -n 1
}

remote_recovery() {
	node_up
	# Refusals at add time: nothing listening, wrong secret; nothing is left behind.
	rc=0; "$ctl" add -t remote --node "rdma://$addr:7399" --size 16M 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "cannot connect" /tmp/err || vm_fail "unreachable node: $rc $(cat /tmp/err)"
	rc=0; LINESWAP_SECRET=wrong "$ctl" add -t remote --node $rnode --size 16M 2>/tmp/err || rc=$?
	[ "$rc" = 1 ] && grep -q "wrong secret" /tmp/err || vm_fail "wrong secret: $rc $(cat /tmp/err)"
	[ "$("$ctl" list --json)" = "[]" ] || vm_fail "a refused device was left"
	# kill -9 of the daemon during fio verify over RDMA; recover; fio completes and verifies.
	"$ctl" add -t remote --node $rnode --size 128M --queues 2 --depth 16 -n 4 >/dev/null
	old=$("$ctl" list -n 4 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	fio --name=crash --filename=/dev/ublkb4 --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bs=4k --size=48M --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse >/tmp/fio-crash.out 2>&1 &
	fio=$!
	sleep 3
	kill -0 $fio || vm_fail "fio ended before the crash"
	kill -9 "$old"
	"$ctl" recover -n 4 || vm_fail "recover failed"
	wait $fio || { cat /tmp/fio-crash.out; vm_fail "fio failed across the crash"; }
	echo "daemon $old killed during fio over RDMA; recovered; fio verified"
	"$ctl" del -n 4
}

foreign_rdma_client() {
	node_up
	# rping speaks rdma_cm but carries no lineswap ticket: refused, and the node goes on.
	rping -c -a "$addr" -p 7370 -C 1 >/tmp/rping.out 2>&1 && vm_fail "a foreign RDMA client was accepted"
	grep -q "RDMA connection refused: no lineswap ticket" /tmp/node.log || vm_fail "refusal not logged"
	"$ctl" add -t remote --node $rnode --size 16M -n 3 >/dev/null
	dd if=/dev/urandom of=/tmp/d3 bs=1M count=4 status=none
	dd if=/tmp/d3 of=/dev/ublkb3 bs=1M oflag=direct status=none
	cmp <(dd if=/dev/ublkb3 bs=1M count=4 iflag=direct status=none) /tmp/d3 || vm_fail "data differs"
	"$ctl" del -n 3
}

node_failure() {
	node_up
	"$ctl" add -t remote --node $node --size 64M --io-timeout 3 -n 2 >/dev/null
	head -c 16M /dev/urandom >/tmp/data
	dd if=/tmp/data of=/dev/ublkb2 bs=1M oflag=direct status=none
	# The node stops answering: reads fail with EIO within the timeout, nothing hangs.
	kill -STOP "$(node_pid)"
	start=$(date +%s)
	dd if=/dev/ublkb2 of=/dev/null bs=4k count=1 iflag=direct status=none 2>/tmp/dd.err &&
		vm_fail "a read succeeded with the node stopped"
	took=$(($(date +%s) - start))
	echo "read failed after ${took}s: $(cat /tmp/dd.err)"
	((took <= 8)) || vm_fail "the failure took ${took}s (timeout 3 s)"
	kill -0 "$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' <<<"$("$ctl" list -n 2 --json)")" ||
		vm_fail "the daemon died"
	# The node answers again: the daemon reconnects and the data is intact.
	kill -CONT "$(node_pid)"
	same_data() { cmp <(dd if=/dev/ublkb2 bs=1M count=16 iflag=direct status=none) /tmp/data; }
	vm_wait_for 15 same_data ||
		{ cat /run/lineswap/ublk2.log; tail -5 /tmp/node.log; vm_fail "data differs after reconnecting"; }
	echo "reconnected; 16 MiB intact"
	# The node dies and comes back empty: old pages fail with EIO (no silent zeros), new
	# writes work.
	kill -9 "$(node_pid)"
	sleep 0.5
	start_node
	sleep 2
	vm_wait_for 15 sh -c "dd if=/tmp/data of=/dev/ublkb2 bs=4k count=1 seek=100 oflag=direct status=none" ||
		vm_fail "no write after the node came back"
	dd if=/dev/ublkb2 of=/dev/null bs=4k count=1 skip=5 iflag=direct status=none 2>/dev/null &&
		vm_fail "a lost page read back without an error"
	cmp <(dd if=/dev/ublkb2 bs=4k count=1 skip=100 iflag=direct status=none) \
		<(dd if=/tmp/data bs=4k count=1 status=none) || vm_fail "the new write did not stick"
	grep "lost this device's region" /run/lineswap/ublk2.log >/dev/null || vm_fail "the loss is not logged"
	"$ctl" stats -n 2 --json | grep -q '"read": {"count": [0-9]*, "bytes": [0-9]*, "errors": [1-9]' ||
		vm_fail "read errors not counted"
	"$ctl" del -n 2
}

# Recovery with a truncated entries file is refused with a clear error (mapping it would kill
# the new daemon with SIGBUS at the first entry past its end); put right, it recovers.
recover_truncated_entries() {
	local rc entries=/dev/shm/lineswap-ublk5.pages
	node_up
	"$ctl" add -t remote --node $rnode --size 64M -n 5 >/dev/null
	head -c 4M /dev/urandom >/tmp/data5
	dd if=/tmp/data5 of=/dev/ublkb5 bs=1M oflag=direct status=none
	kill -9 "$("$ctl" list -n 5 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')"
	# 16384 pages: an entry and a version each, and the version counter.
	cp "$entries" /tmp/entries5
	truncate -s 4096 "$entries"
	rc=0; "$ctl" recover -n 5 2>/tmp/err || rc=$?
	cat /tmp/err
	[ "$rc" = 1 ] && grep -q "remote: $entries is 4096 bytes, not the device's 262152" /tmp/err ||
		vm_fail "recover with truncated entries: exit $rc"
	dmesg | grep -q "ublk-ctl.*segfault\|SIGBUS" && vm_fail "a daemon crashed"
	# Refused, nothing else was touched: with the file put back, every page is there.
	cp /tmp/entries5 "$entries"
	"$ctl" recover -n 5 >/dev/null || vm_fail "recover after the entries were put right failed"
	cmp <(dd if=/dev/ublkb5 bs=1M count=4 iflag=direct status=none) /tmp/data5 ||
		vm_fail "data differs after recovery"
	"$ctl" del -n 5
}

# Every thread that serves I/O is an I/O flusher (PR_SET_IO_FLUSHER sets PF_MEMALLOC_NOIO
# 0x80000 and PF_LOCAL_THROTTLE 0x100000 in the flags of /proc/PID/task/TID/stat), and every
# mapping of the daemon that mlock can lock is locked (VmFlags "lo"), none of it swapped: the
# daemon never waits for memory from the device it serves.
daemon_threads_locked() {
	local pid task comm stat flags policy want flushers=0
	node_up
	"$ctl" add -t remote --node $rnode --size 64M --queues 2 -n 6 >/dev/null
	pid=$("$ctl" list -n 6 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	for task in /proc/"$pid"/task/*; do
		comm=$(cat "$task/comm")
		# Fields after "pid (comm) ": 9 (flags) is the 7th, 41 (policy) the 39th.
		stat=$(sed 's/^.*) //' "$task/stat")
		flags=$(echo "$stat" | cut -d' ' -f7)
		policy=$(echo "$stat" | cut -d' ' -f39)
		echo "thread $(basename "$task") $comm flags $(printf 0x%x "$flags") policy $policy"
		case "$comm" in
		ublk-queue* | ublk-hints | ublk-pagemap | ublk-keeper)
			# PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE: what PR_SET_IO_FLUSHER sets.
			(((flags & 0x180000) == 0x180000)) ||
				vm_fail "$comm is not an I/O flusher (flags $(printf 0x%x "$flags"))"
			# SCHED_FIFO (1) for the threads every write waits for; the page-map reader,
			# waited for only until the hold time, and the pool's keeper (links, resyncs:
			# a page waits for it only until the I/O timeout) stay SCHED_OTHER (0).
			want=1
			case "$comm" in ublk-pagemap | ublk-keeper) want=0 ;; esac
			[ "$policy" = "$want" ] || vm_fail "$comm has scheduling policy $policy, want $want"
			flushers=$((flushers + 1))
			;;
		esac
	done
	# Two queues (the guest has two CPUs), the hint thread, the page-map reader, the keeper.
	[ "$flushers" = 5 ] || vm_fail "$flushers I/O threads found, want 5"
	# Mappings mlock skips (io, pfnmap, dontexpand, mixedmap: the driver's descriptors, vdso)
	# aside, every mapping is locked.
	awk '/^[0-9a-f]+-[0-9a-f]+ / { range = $1; name = $6 }
		/^VmFlags:/ && !/ lo( |$)/ && !/ (io|pf|de|mm)( |$)/ { print range, name, $0 }' \
		/proc/"$pid"/smaps >/tmp/unlocked
	[ ! -s /tmp/unlocked ] || { cat /tmp/unlocked; vm_fail "mappings of the daemon are not locked"; }
	grep -q "^Swap: *0 kB" /proc/"$pid"/smaps_rollup || vm_fail "the daemon has swapped pages"
	grep "^Locked:" /proc/"$pid"/smaps_rollup
	# Nor does the OOM killer pick it: every page on its device would go.
	[ "$(cat /proc/"$pid"/oom_score_adj)" = -1000 ] ||
		vm_fail "the daemon's oom_score_adj is $(cat /proc/"$pid"/oom_score_adj), want -1000"
	"$ctl" del -n 6
}

# ublk-ctl add warns when swap on the device could stall once the machine runs out of memory:
# a TCP device whose queues' socket buffers vm.min_free_kbytes cannot cover, a daemon whose
# threads could not be made realtime (no CAP_SYS_NICE); the device works either way. An RDMA
# device, or a large enough reserve, gets no warning.
pressure_warnings() {
	local old
	node_up
	old=$(cat /proc/sys/vm/min_free_kbytes)
	sysctl -q -w vm.min_free_kbytes=8192
	# Two queues over TCP: 4 MiB of socket buffers, so 2 x (4 + 8) MiB wanted.
	"$ctl" add -t remote --node $node --size 16M --queues 2 -n 7 >/dev/null 2>/tmp/warn
	"$ctl" del -n 7
	cat /tmp/warn
	grep -q "warning: /dev/ublkb7 over TCP may need 4096 KiB .* vm.min_free_kbytes = 8192 .*sysctl vm.min_free_kbytes=24576" /tmp/warn ||
		vm_fail "no warning for a TCP device with too small a reserve"
	"$ctl" add -t remote --node $rnode --size 16M --queues 2 -n 7 >/dev/null 2>/tmp/warn
	"$ctl" del -n 7
	[ ! -s /tmp/warn ] || vm_fail "a warning for an RDMA device: $(cat /tmp/warn)"
	sysctl -q -w vm.min_free_kbytes=24576
	"$ctl" add -t remote --node $node --size 16M --queues 2 -n 7 >/dev/null 2>/tmp/warn
	"$ctl" del -n 7
	[ ! -s /tmp/warn ] || vm_fail "a warning with enough reserve: $(cat /tmp/warn)"
	# Without CAP_SYS_NICE the queue threads stay SCHED_OTHER: said, and the device works.
	setpriv --bounding-set -sys_nice "$ctl" add -t remote --node $rnode --size 16M --queues 2 \
		-n 7 >/dev/null 2>/tmp/warn
	cat /tmp/warn
	grep -q "warning: 2 of the daemon's 2 queue threads are not realtime" /tmp/warn ||
		vm_fail "no warning for a daemon without realtime threads"
	dd if=/dev/urandom of=/tmp/page bs=4k count=1 status=none
	dd if=/tmp/page of=/dev/ublkb7 bs=4k count=1 oflag=direct status=none
	cmp <(dd if=/dev/ublkb7 bs=4k count=1 iflag=direct status=none) /tmp/page ||
		vm_fail "the device without realtime threads lost a page"
	"$ctl" del -n 7
	sysctl -q -w vm.min_free_kbytes="$old"
}

# verbs_round_trips runs memnodes of its own, before the shared node starts.
vm_behaviours verbs_round_trips remote_fio remote_swap remote_recovery foreign_rdma_client \
	node_failure recover_truncated_entries daemon_threads_locked pressure_warnings
[ -s /tmp/node.pid ] && kill "$(node_pid)" 2>/dev/null
vm_summary
