# Mmap mode in one guest (memory node on the same guest's rxe device): a device mapped as
# memory (mmap MAP_SHARED of /dev/ublkbN) by a program in a memory cgroup far smaller than the
# mapping; every byte written must come back, across munmap, a dropped page cache, a writer
# killed with SIGKILL and the daemon killed with -9 and recovered. Then the hint allocator's
# mmap mode (LINESWAP_ARENA): the churning heap in a range of the device, its writebacks
# masked by offset; revivals during writeback, two clients at once, a fork's snapshot child,
# and the daemon killed and recovered under it.
# Run by: scripts/vm/run tests/vm/mmap.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
mapcheck="$LINESWAP_BUILD/tests/mapcheck"
churn="$LINESWAP_BUILD/tests/churn"
rangeclaim="$LINESWAP_BUILD/tests/rangeclaim"
hintlib="$LINESWAP_BUILD/allocator/libmimalloc-hint.so"
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

# 256 MiB of a remote device over RDMA mapped in a 64 MiB cgroup: written, read back,
# unmapped, mapped again and read back (each pass reads from the node all but what the cgroup
# holds).
map_remote_cgroup() {
	local cg swap_in swap_out cache_in cache_out pages=65536
	mib=256
	gone 0
	"$ctl" add -t remote --node $rnode --size 256M --queues 2 -n 0 >/dev/null
	# add bounded the device's dirty pages (--dirty-limit, 16M): without it, the cgroup fills
	# with dirty pages of the device and is OOM-killed.
	[ "$(cat /sys/block/ublkb0/bdi/strict_limit)" = 1 ] || vm_fail "no strict dirty limit"
	echo "dirty limit: $(($(cat /sys/block/ublkb0/bdi/max_bytes) >> 10)) KiB"
	cg=$(vm_memcg map0 64M)
	mapped 0 "$cg" 1 write verify remap verify
	read -r swap_in swap_out cache_in cache_out <<<"$(pages 0)"
	read -r _ _ got _ <<<"$(vm_moved "$ctl" 0)"
	echo "pages by origin: swap $swap_in in, $swap_out out; page cache $cache_in read," \
		"$cache_out written back; cgroup peak $(($(cat "$cg/memory.peak") >> 20)) MiB"
	"$ctl" stats -n 0
	# All but what the cgroup holds was written back; each of the two verify passes read
	# from the node at least what the cgroup could not hold (the first touch of a page never
	# written reads zeros without asking it).
	((cache_out >= pages - 64 * 256)) || vm_fail "only $cache_out pages written back"
	((got >= 2 * (pages - 64 * 256))) || vm_fail "only $got pages read from the node"
	((cache_in >= got)) || vm_fail "reads from the node not counted as page cache"
	((swap_out == 0)) || vm_fail "writebacks counted as swap"
	rmdir "$cg"
	"$ctl" del -n 0
}

# A writer killed with SIGKILL before any msync or munmap loses nothing: the page cache writes
# its pages back, and a new process reads them from the node (128 MiB, twice the cgroup).
map_killed_writer() {
	local cg rc=0
	mib=128
	gone 1
	"$ctl" add -t remote --node $node --size 128M -n 1 >/dev/null
	cg=$(vm_memcg map1 64M)
	vm_in_cgroup "$cg" "$mapcheck" --mib $mib --seed 7 /dev/ublkb1 write kill || rc=$?
	[ "$rc" = 137 ] || vm_fail "the writer was not killed (status $rc)"
	mapped 1 "$cg" 7 drop verify
	rmdir "$cg"
	"$ctl" del -n 1
}

# The daemon killed with -9 halfway through writing 256 MiB (4 times the cgroup), and
# recovered: the program waits for its faults and writebacks, then every page verifies, from
# the node too.
map_daemon_recovered() {
	local cg pid old rc=0
	mib=256
	gone 2
	"$ctl" add -t remote --node $rnode --size 256M --queues 2 -n 2 >/dev/null
	cg=$(vm_memcg map2 64M)
	vm_in_cgroup "$cg" "$mapcheck" --mib $mib --seed 3 /dev/ublkb2 \
		write remap verify >/tmp/map2.out 2>&1 &
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

json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# arena_churn ID LIMIT CHURN-ARGS...: churn under the hint allocator with its heap in a
# 256 MiB range of device ID (not swap: the heap is the device's page cache), in a memory
# cgroup of LIMIT. It must find no damage, claim its range, and have its writebacks masked by
# offset (hinted pages, well below whole pages).
arena_churn() {
	local id=$1 limit=$2 cg rc=0 app
	shift 2
	cg=$(vm_memcg arena$id "$limit")
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=$id LINESWAP_ARENA=256M LINESWAP_HINTS_LOG=1 \
		vm_in_cgroup "$cg" "$churn" "$@" >/tmp/churn$id.out 2>&1 &
	app=$!
	# the device's stats when the heap is built, for churned()
	while kill -0 $app 2>/dev/null && ! grep -q "heap built" /tmp/churn$id.out; do
		sleep 0.2
	done
	"$ctl" stats -n "$id" --json >/tmp/built$id.json
	wait $app || rc=$?
	cat /tmp/churn$id.out
	[ "$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")" = 0 ] || vm_fail "OOM kill"
	rmdir "$cg"
	[ "$rc" = 0 ] || vm_fail "churn found damage or failed (status $rc)"
}

# The device's stats in /tmp/stats$ID.json; its writebacks moved by hints, by offset, at most
# RATIO of whole pages.
by_offset() { # ID RATIO
	"$ctl" stats -n "$1" --json >/tmp/stats$1.json
	"$ctl" stats -n "$1" | tail -4
	local put hinted offset ratio
	put=$(json /tmp/stats$1.json "j['moved']['put']['pages']")
	hinted=$(json /tmp/stats$1.json "j['moved']['put']['hinted_pages']")
	offset=$(json /tmp/stats$1.json "j['hints']['resolver']['by_offset']")
	ratio=$(json /tmp/stats$1.json "j['moved']['put']['bytes'] / j['moved']['put']['whole_bytes']")
	echo "writebacks: $put pages, $hinted by hints, $offset masked by offset, $ratio of whole pages"
	((put >= 2000)) || vm_fail "too few writebacks: $put"
	((hinted >= 1000 && offset >= put / 2)) || vm_fail "too few pages masked by offset"
	python3 -c "import sys; sys.exit(0 if $ratio <= $2 else 1)" || vm_fail "moved $ratio of whole pages"
}

# The writebacks of device ID while the heap churned (since arena_churn saw it built, to
# by_offset's stats): at least 1000, at most RATIO of whole pages each.
churned() { # ID RATIO
	python3 - "$1" "$2" <<'EOF' || vm_fail "the churning heap's writebacks were not reduced enough"
import json, sys
built = json.load(open('/tmp/built%s.json' % sys.argv[1]))['moved']['put']
end = json.load(open('/tmp/stats%s.json' % sys.argv[1]))['moved']['put']
pages = end['pages'] - built['pages']
ratio = (end['bytes'] - built['bytes']) / max(1, end['whole_bytes'] - built['whole_bytes'])
print('while the heap churned: %d writebacks, %.0f bytes each, %.3f of whole pages'
      % (pages, ratio * 4096, ratio))
sys.exit(0 if pages >= 1000 and ratio <= float(sys.argv[2]) else 1)
EOF
}

# The churning heap (16 MiB, half of it freed at random) in its range, in an 8 MiB cgroup:
# every block intact while its pages are written back (many times each: the page cache writes
# dirty pages back under the device's dirty limit, not only when it evicts them) and read
# again, by offset; while it churns (10 s: about 8000 writebacks), its writebacks well below
# whole pages (0.65 measured).
arena_integrity() {
	gone 3
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 --dirty-limit 2M -n 3 >/dev/null
	arena_churn 3 8M --mib 16 --threads 4 --seconds 10 --dead 50 --after-build
	by_offset 3 1.0
	churned 3 0.8
}

# Lines die in bulk, then blocks are allocated into them as fast as the heap can, while its
# pages are written back: every revival must reach the server before the write's mask.
arena_revive_race() {
	gone 4
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 --dirty-limit 4M -n 4 >/dev/null
	arena_churn 4 8M --mib 16 --threads 4 --seconds 10 --revive --after-build
	by_offset 4 1.0
}

# Two clients at once on one device: two ranges, each heap intact, and a third process refused
# the first one's range; a fork freezes the second (its child checks the parent's blocks while
# the parent rewrites them: each sees its own).
arena_two_and_fork() {
	local cg rc=0 first victim
	gone 5
	"$ctl" add -t remote --node $rnode --size 1G --queues 2 --dirty-limit 4M -n 5 >/dev/null
	cg=$(vm_memcg arena5 48M)
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=5 LINESWAP_ARENA=256M vm_in_cgroup "$cg" \
		"$churn" --mib 32 --threads 2 --seconds 15 --dead 50 --after-build >/tmp/churn5a.out 2>&1 &
	first=$!
	vm_wait_for 30 sh -c "'$ctl' hints -n 5 --json | grep -q '\"mmap\"'" ||
		vm_fail "the first client did not claim a range"
	victim=$("$ctl" hints -n 5 --json | python3 -c "import json,sys
[c] = json.load(sys.stdin)['clients']
print(c['arena_offset'], c['arena_bytes'])")
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=5 LINESWAP_ARENA=256M vm_in_cgroup "$cg" \
		"$churn" --fork --mib 16 --seconds 20 >/tmp/churn5b.out 2>&1 &
	local second=$!
	# A third process, hostile, asks for the first one's range, then claims a mapping of it
	# as its own: both refused, while a range of its own is granted.
	LINESWAP_HINTS_DEVICE=5 "$rangeclaim" $victim ||
		vm_fail "a third process took the first one's range ($victim)"
	: >/tmp/hints5.json
	while kill -0 $second 2>/dev/null; do
		"$ctl" hints -n 5 --json >>/tmp/hints5.json
		sleep 1
	done
	"$ctl" hints -n 5
	wait $second || rc=$?
	wait $first || rc=$((rc + $? * 16))
	cat /tmp/churn5a.out /tmp/churn5b.out | grep -v "^churn: pass" | tail -6
	rmdir "$cg"
	[ "$rc" = 0 ] || vm_fail "damage in one of the heaps (status $rc)"
	python3 -c "import json
views = [json.loads(l)['clients'] for l in open('/tmp/hints5.json')]
two = [v for v in views if sum(x['mode'] in ('mmap', 'frozen') for x in v) == 2]
assert two, views[-1]
for v in two:
    r = sorted((x['arena_offset'], x['arena_bytes']) for x in v)
    assert r[0][0] + r[0][1] <= r[1][0], r
assert any(x['mode'] == 'frozen' for v in views for x in v), 'never frozen'
print('two ranges:', sorted((x['arena_offset'] >> 20, x['arena_bytes'] >> 20) for x in two[-1]),
      'MiB; modes seen:', sorted({x['mode'] for v in views for x in v}))" ||
		vm_fail "not two ranges, or the fork did not freeze: $(tail -1 /tmp/hints5.json)"
}

# kill -9 of the daemon under the churning heap; recover: the client claims its range again
# from the new daemon, and every block is intact.
arena_recover() {
	local cg rc=0 app old
	gone 6
	"$ctl" add -t remote --node $rnode --size 512M --queues 2 --dirty-limit 4M -n 6 >/dev/null
	cg=$(vm_memcg arena6 8M)
	LD_PRELOAD=$hintlib LINESWAP_HINTS_DEVICE=6 LINESWAP_ARENA=256M LINESWAP_HINTS_LOG=1 \
		vm_in_cgroup "$cg" "$churn" --mib 16 --threads 4 --seconds 10 --dead 50 --after-build &
	app=$!
	vm_wait_for 30 sh -c "'$ctl' hints -n 6 --json | grep -q '\"mmap\"'" ||
		vm_fail "the app did not claim a range"
	sleep 8
	old=$("$ctl" list -n 6 --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	kill -9 "$old"
	"$ctl" recover -n 6 || vm_fail "recover failed"
	echo "daemon $old killed under the heap; recovered"
	vm_wait_for 20 sh -c "'$ctl' hints -n 6 --json | grep -q '\"mmap\"'" ||
		vm_fail "the app did not claim its range again"
	wait $app || rc=$?
	rmdir "$cg"
	[ "$rc" = 0 ] || vm_fail "churn found damage across the crash (status $rc)"
	by_offset 6 1.0
}

vm_behaviours map_remote_cgroup map_killed_writer map_daemon_recovered arena_integrity \
	arena_revive_race arena_two_and_fork arena_recover
vm_summary
