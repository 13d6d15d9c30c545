# Hints end to end in one guest (memory node on the same guest's rxe device): a program under
# LD_PRELOAD=libmimalloc-hint.so registers with the device's hint socket and swaps through a
# remote device, and every block it holds must stay intact while only its live lines move.
# Integrity under pressure over RDMA and TCP and over a pool of three nodes with one killed,
# revival during eviction, fork, and kill -9 of the daemon with recover; `ublk-ctl run`.
# Run by: scripts/vm/run tests/vm/hints.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
churn="$LINESWAP_BUILD/tests/churn"
hintlib="$LINESWAP_BUILD/allocator/libmimalloc-hint.so"
export LINESWAP_SECRET=vm-test-secret
vm_load ublk_drv || exit 1
addr=$(vm_rxe_veth) || exit 1
node=tcp://$addr:7370
rnode=rdma://$addr:7370

: >/tmp/node.log
"$memnode" --size 1536M --listen $node --rdma >>/tmp/node.log 2>&1 &
vm_wait_for 10 grep -q serving /tmp/node.log || { echo "memnode did not start"; exit 1; }

# json FILE EXPR: a value from ublk-ctl's JSON (EXPR indexes the object j).
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# hinted ID: pages of device ID that moved by hints (its stats in /tmp/statsID.json): there
# must be some, or an integrity check proved nothing about hints (whole pages are always safe).
hinted() {
	local put get
	put=$(json /tmp/stats$1.json "j['moved']['put']['hinted_pages']")
	get=$(json /tmp/stats$1.json "j['moved']['get']['hinted_pages']")
	echo "pages moved by hints: $put swapped out, $get swapped in"
	((put > 0)) || vm_fail "no page was swapped out by hints (moved.put.hinted_pages is 0):" \
		"every page moved whole, so this run did not test hints"
}

# clients ID FILE: device ID's hint clients (ublk-ctl hints --json), a line every 2 s, until
# killed.
clients() {
	: >"$2"
	while :; do
		"$ctl" hints -n "$1" --json >>"$2" || true
		sleep 2
	done
}

# live_share ID MAX: the share of live lines ublk-ctl hints reported for the reduced pages of
# device ID's client (the last sample with any) lies in (0, MAX], and its heap and anonymous
# memory were reported.
live_share() {
	local r
	r=$(python3 -c "import json, sys
s = [c for l in open('/tmp/clients$1') for c in json.loads(l)['clients'] if c['reduced_pages']]
c = s[-1] if s else {}
print('heap %d MiB, anonymous %d MiB, not reduced: %s' % (c.get('heap_bytes', 0) >> 20,
      c.get('anon_bytes', 0) >> 20, c.get('not_reduced')), file=sys.stderr)
ok = c and c['heap_bytes'] > 0 and c['anon_bytes'] > 0
print(c['live_lines'] / (64 * c['reduced_pages']) if ok else 0)")
	echo "live lines of the reduced pages (ublk-ctl hints): $r"
	python3 -c "import sys; sys.exit(0 if 0 < $r <= $2 else 1)" ||
		vm_fail "live share $r of the reduced pages' lines (want in (0, $2])"
}

# hinted_swap ID NODES LIMIT CHURN-ARGS...: device ID on NODES (a URL, or `add` options for a
# pool) as the only swap, churn under the hint allocator in a memory cgroup of LIMIT; churn
# must find no damage, register, swap, and move pages by hints.
hinted_swap() {
	local id=$1 nodes=$2 limit=$3 cg rc=0 out0 in0 sampler
	shift 3
	[ "${nodes#--}" = "$nodes" ] && nodes="--node $nodes"
	# shellcheck disable=SC2086 # NODES is a list of options
	"$ctl" add -t remote $nodes --size 512M --queues 2 -n "$id" >/dev/null
	mkswap /dev/ublkb"$id" >/dev/null && swapon /dev/ublkb"$id"
	cg=$(vm_memcg "hints$id" "$limit")
	out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
	clients "$id" /tmp/clients$id &
	sampler=$!
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=$id LINESWAP_HINTS_LOG=1 \
		vm_in_cgroup "$cg" "$churn" "$@" || rc=$?
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	echo "pswpout +$(($(vm_vmstat pswpout) - out0)), pswpin +$(($(vm_vmstat pswpin) - in0))"
	"$ctl" stats -n "$id" --json >/tmp/stats$id.json
	"$ctl" stats -n "$id" | tail -5
	swapoff /dev/ublkb"$id"
	rmdir "$cg"
	"$ctl" del -n "$id"
	[ "$rc" = 0 ] || vm_fail "churn found damage or failed (status $rc)"
	(($(json /tmp/stats$id.json "j['hints']['registrations']") >= 1)) || vm_fail "no registration"
	(($(json /tmp/stats$id.json "j['moved']['put']['pages']") >= 2000)) || vm_fail "too little swap-out"
	hinted "$id"
}

# The bytes moved by PUT must be well below whole pages: at most RATIO of them. The resolver
# finds written pages through PAGEMAP_SCAN (6.12 has it), reading a few page-map entries a
# written page (measured 2.7; reading every reduced page at every round was 557), and still
# attributes at least 40 % of them (measured 54 %, as when it read every page).
moved_below() { # ID RATIO
	local r
	r=$(json /tmp/stats$1.json "j['moved']['put']['bytes'] / j['moved']['put']['whole_bytes']")
	echo "PUT moved $r of whole pages"
	python3 -c "import sys; sys.exit(0 if $r <= $2 else 1)" || vm_fail "moved $r of whole pages (want <= $2)"
	set -- $(json /tmp/stats$1.json "j['hints']['resolver']['slots'], j['hints']['resolver']['resolved'], j['hints']['resolver']['scanned'], j['hints']['resolver']['walked']")
	echo "resolver: $1 written pages, $2 resolved, $3 entries read, $4 pages walked"
	(($2 > 0 && $2 * 10 >= $1 * 4)) || vm_fail "resolved $2 of $1 written pages (want >= 40 %)"
	(($4 > 0)) || vm_fail "PAGEMAP_SCAN walked nothing: every reduced page was read"
	(($3 <= $1 * 20)) || vm_fail "$3 page-map entries read for $1 written pages (want <= 20 each)"
}

# A 64 MiB heap (half of it freed at random) in a 20 MiB cgroup: under TCG a write waits for its
# masks for milliseconds, and at 16 MiB reclaim sometimes fell behind enough for an OOM kill.
integrity_rdma() {
	hinted_swap 0 $rnode 20M --mib 64 --threads 4 --seconds 30 --dead 50
	moved_below 0 0.8
	live_share 0 0.8 # half the blocks dead
}

integrity_tcp() {
	hinted_swap 1 $node 20M --mib 64 --threads 4 --seconds 30 --dead 50
	moved_below 1 0.8
}

# Every size class up to mimalloc's medium objects, most blocks 8 and 16 bytes (whose bitmaps
# lie in their own pages) and half the bytes in 8..128 KiB blocks (medium pages). Not a test of
# savings: a random half of 8-byte blocks leaves few lines dead, and churn's own arrays (a
# slot per block, 12 MiB) move whole (measured: PUT 0.93x of whole pages, 23 % of writes
# attributed).
integrity_mixed() {
	hinted_swap 6 $rnode 16M --mib 32 --threads 4 --seconds 30 --dead 50 --sizes mixed
	live_share 6 0.95
}

# The same over a pool of three nodes with two copies of every page (RDMA, RDMA, TCP), one of
# them killed (SIGKILL) while the app swaps: every block intact, no I/O error, nothing lost.
integrity_pool() {
	local i
	for i in 1 2; do
		: >/tmp/pool$i.log
		"$memnode" --size 512M --listen "tcp://$addr:$((7370 + i))" --rdma >>/tmp/pool$i.log 2>&1 &
		echo $! >/tmp/pool$i.pid
		vm_wait_for 10 grep -q serving /tmp/pool$i.log || vm_fail "memnode $i did not start"
	done
	(sleep 15 && kill -9 "$(cat /tmp/pool1.pid)" && echo "killed the node at port 7371") &
	killer=$!
	hinted_swap 5 "--node $rnode --node rdma://$addr:7371 --node tcp://$addr:7372 --replicas 2" \
		20M --mib 64 --threads 4 --seconds 30 --dead 50
	wait $killer
	kill "$(cat /tmp/pool2.pid)"
	python3 -c "import json; j = json.load(open('/tmp/stats5.json'))
assert all(o['errors'] == 0 for o in j['ops'].values()), j['ops']
assert j['pool']['lost_pages'] == 0, j['pool']" || vm_fail "I/O errors or lost pages over the pool"
	echo "pool after the kill: $(json /tmp/stats5.json "j['pool']")"
	moved_below 5 0.9 # measured 0.75; two copies of the hinted pages, one killed midway
}

# Lines die in bulk, then blocks are allocated into them as fast as the heap can, while the
# pages are under eviction: every revival must reach the server before its write.
revive_race() {
	hinted_swap 2 $rnode 12M --mib 32 --threads 4 --seconds 30 --revive
	echo "ring records: $(json /tmp/stats2.json "j['hints']['records']")"
}

# states ID FILE: append the hint clients' states to FILE every half second (until killed).
states() {
	while :; do
		"$ctl" hints -n "$1" --json | python3 -c "import json,sys
for c in json.load(sys.stdin)['clients']: print(c['state'], c['forks'], c['pages_resolved'])" >>"$2"
		sleep 0.5
	done
}

# The parent frees and reuses blocks its child still reads: while the child lives the pages
# move whole ('sharing'); once it has exited the parent's pages are resolved again.
fork_shared() {
	local cg rc=0 watcher
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 -n 3 >/dev/null
	mkswap /dev/ublkb3 >/dev/null && swapon /dev/ublkb3
	cg=$(vm_memcg hints3 12M)
	: >/tmp/states3
	states 3 /tmp/states3 &
	watcher=$!
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=3 vm_in_cgroup "$cg" "$churn" --fork --mib 32 \
		--seconds 30 || rc=$?
	kill $watcher
	swapoff /dev/ublkb3
	rmdir "$cg"
	"$ctl" stats -n 3 --json >/tmp/stats3.json
	"$ctl" stats -n 3 | tail -4
	"$ctl" del -n 3
	[ "$rc" = 0 ] || vm_fail "the child or the parent found damage (status $rc)"
	echo "states seen: $(cut -d' ' -f1 /tmp/states3 | uniq -c | tr '\n' ' ')"
	grep -q '^sharing 1 ' /tmp/states3 || vm_fail "the fork was never seen"
	# after the child: ok again, and pages resolved after that
	awk '$1 == "sharing" { s = 1; r = $3 } s && $1 == "ok" && $3 > r { found = 1 }
		END { exit !found }' /tmp/states3 || vm_fail "the sharing never ended"
	hinted 3
}

# kill -9 of the daemon while the app swaps through it; recover; the app completes intact and
# registers with the new daemon.
crash_recover() {
	local cg rc=0 app old
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 -n 4 >/dev/null
	mkswap /dev/ublkb4 >/dev/null && swapon /dev/ublkb4
	cg=$(vm_memcg hints4 16M)
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=4 LINESWAP_HINTS_LOG=1 vm_in_cgroup "$cg" \
		"$churn" --mib 48 --threads 4 --seconds 30 --dead 50 &
	app=$!
	vm_wait_for 30 sh -c "'$ctl' hints -n 4 --json | grep -q '\"client\"'" ||
		vm_fail "the app did not register"
	sleep 8
	old=$("$ctl" list -n 4 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	kill -9 "$old"
	"$ctl" recover -n 4 || vm_fail "recover failed"
	echo "daemon $old killed while the app swapped; recovered"
	# The app finds the new daemon on its own (a liveness check at most once a second).
	vm_wait_for 20 sh -c "'$ctl' hints -n 4 --json | grep -q '\"client\"'" ||
		vm_fail "the app did not register with the new daemon while it ran"
	wait $app || rc=$?
	"$ctl" stats -n 4 --json >/tmp/stats4.json
	"$ctl" stats -n 4 | tail -4
	swapoff /dev/ublkb4
	rmdir "$cg"
	"$ctl" del -n 4
	[ "$rc" = 0 ] || vm_fail "churn found damage across the crash (status $rc)"
	hinted 4
}

# ublk-ctl run: a program it starts, with no library path or environment given, is registered
# with the device, and its exit status is ublk-ctl's.
run_registers() {
	local app rc=0
	trap '"$ctl" del -n 8 >/dev/null 2>&1 || true' EXIT
	"$ctl" add -t remote --node $rnode --size 64M -n 8 >/dev/null
	"$ctl" run -n 8 --log -- python3 -c "import time, sys; time.sleep(6); sys.exit(3)" \
		>/tmp/run8.out 2>&1 &
	app=$!
	vm_wait_for 10 sh -c "'$ctl' hints -n 8 --json | grep -q '\"pid\": $app,'" ||
		vm_fail "the program ublk-ctl run started is not registered: $(cat /tmp/run8.out)"
	"$ctl" hints -n 8
	wait $app || rc=$?
	cat /tmp/run8.out
	[ "$rc" = 3 ] || vm_fail "ublk-ctl run exited with $rc, the program with 3"
	grep -q "registered with /run/lineswap/ublk8.hints" /tmp/run8.out ||
		vm_fail "--log: the library did not say it registered"
}

vm_behaviours integrity_rdma integrity_tcp integrity_mixed integrity_pool revive_race fork_shared crash_recover \
	run_registers
vm_summary
