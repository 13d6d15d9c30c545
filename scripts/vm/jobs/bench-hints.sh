# Guest side of `scripts/bench hints`: the Redis-shaped key-value store (tests/bench/kvstore.c,
# in either layout) and two unmodified Debian programs (python3, redis-server) swapping to one
# remote device over RDMA (rxe), each in a memory cgroup at a fraction of its data, under the
# hint allocator and under stock mimalloc (whole pages), runs interleaved. Programs:
# LINESWAP_BENCH_PROGRAMS, from kv (kvstore), redis (kvstore --layout redis), server
# (redis-server) and py (python3). Prints one JSON line per run and phase: pages and bytes moved
# to (PUT) and from (GET) the memory node, seconds, and what reclaim saw in the cgroup.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
keys=${LINESWAP_BENCH_KEYS:-200000}
reads=${LINESWAP_BENCH_READS:-500000}
py_keys=${LINESWAP_BENCH_PY_KEYS:-100000}
py_reads=${LINESWAP_BENCH_PY_READS:-100000}
py_limit=${LINESWAP_BENCH_PY_LIMIT:-24M}
srv_keys=${LINESWAP_BENCH_SRV_KEYS:-40000}
srv_reads=${LINESWAP_BENCH_SRV_READS:-30000}
srv_limit=${LINESWAP_BENCH_SRV_LIMIT:-6M}
limit=${LINESWAP_BENCH_LIMIT:-8M}
reps=${LINESWAP_BENCH_REPS:-2}
# LINESWAP_BENCH_REPLICAS=2: the device over three nodes with two copies of every page
replicas=${LINESWAP_BENCH_REPLICAS:-1}
# LINESWAP_BENCH_SEAL=0: pages in clear (ublk-ctl add --no-encrypt), for encryption's cost
sealed=true
[ "${LINESWAP_BENCH_SEAL:-1}" = 1 ] || sealed=false
export LINESWAP_SECRET=bench
vm_load ublk_drv
addr=$(vm_rxe_veth)
"$LINESWAP_BUILD/rdma/memnode" --size 1G --listen "tcp://$addr:7370" --rdma >/tmp/node.log 2>&1 &
vm_wait_for 10 grep -q serving /tmp/node.log
pool="--node rdma://$addr:7370"
if [ "$replicas" != 1 ]; then
	for port in 7371 7372; do
		"$LINESWAP_BUILD/rdma/memnode" --size 1G --listen "tcp://$addr:$port" --rdma \
			>/tmp/node$port.log 2>&1 &
		vm_wait_for 10 grep -q serving /tmp/node$port.log
		pool="$pool --node rdma://$addr:$port"
	done
	pool="$pool --replicas $replicas"
fi
[ "$sealed" = true ] || pool="$pool --no-encrypt"
# shellcheck disable=SC2086 # a list of options
"$ctl" add -t remote $pool --size 512M --queues 2 -n 0 >/dev/null
mkswap /dev/ublkb0 >/dev/null
swapon /dev/ublkb0
# "arena" in LINESWAP_BENCH_ALLOCS: the hint allocator's mmap mode, its heap a range of a second
# device on the same node(s) (256 MiB: the node holds 1 GiB) with LINESWAP_BENCH_DIRTY as its
# dirty limit and LINESWAP_BENCH_READAHEAD (KiB) as its readahead (the allocator asks for none
# on its range: MADV_RANDOM); what else the program has swaps to ublkb0.
devs=0
arena_dirty=${LINESWAP_BENCH_DIRTY:-4M}
arena_ra=${LINESWAP_BENCH_READAHEAD:-128}
if [[ " ${LINESWAP_BENCH_ALLOCS:-} " == *" arena "* ]]; then
	# shellcheck disable=SC2086 # a list of options
	"$ctl" add -t remote $pool --size 256M --queues 2 --dirty-limit "$arena_dirty" -n 1 >/dev/null
	echo "$arena_ra" >/sys/block/ublkb1/queue/read_ahead_kb
	devs="0 1"
fi
cg=$(vm_memcg bench "$limit")
pycg=$(vm_memcg benchpy "$py_limit")
srvcg=$(vm_memcg benchsrv "$srv_limit")

moved() { # the pages and bytes moved by every device, then the pages moved by hints, summed
	local id sum=(0 0 0 0 0 0) m
	for id in $devs; do
		m=($(vm_moved "$ctl" "$id") $(vm_hinted "$ctl" "$id"))
		for i in 0 1 2 3 4 5; do sum[i]=$((sum[i] + m[i])); done
	done
	echo "${sum[*]}"
}

# cg_counters DIR: the cgroup's anonymous-page refaults, major faults and pages reclaimed so far
cg_counters() {
	awk '$1 == "workingset_refault_anon" || $1 == "pgmajfault" || $1 == "pgsteal" { v[$1] = $2 }
		END { print v["workingset_refault_anon"] + 0, v["pgmajfault"] + 0, v["pgsteal"] + 0 }' \
		"$1/memory.stat"
}

# cg_json DIR BEFORE: what reclaim saw in cgroup DIR since BEFORE (cg_counters), and what the
# cgroup holds now (anonymous, file and kernel memory, bytes)
cg_json() {
	local b=($2) a=($(cg_counters "$1"))
	awk -v r=$((a[0] - b[0])) -v f=$((a[1] - b[1])) -v s=$((a[2] - b[2])) \
		'$1 == "anon" || $1 == "file" || $1 == "kernel" { v[$1] = $2 }
		END { printf "\"refault_anon\": %d, \"major_faults\": %d, \"reclaimed\": %d, \"cg_anon\": %d, \"cg_file\": %d, \"cg_kernel\": %d", r, f, s, v["anon"], v["file"], v["kernel"] }' \
		"$1/memory.stat"
}

# emit ALLOC PROGRAM PHASE SECONDS BEFORE AFTER [EXTRA-JSON]
emit() {
	local b=($5) a=($6)
	local how=""
	[ "$1" != arena ] || how=", \"dirty_limit\": \"$arena_dirty\", \"readahead_kb\": $arena_ra"
	echo "{\"rep\": $rep, \"replicas\": $replicas, \"sealed\": $sealed, \"alloc\": \"$1\", \"program\": \"$2\", \"phase\": \"$3\", \"seconds\": $4," \
		"\"put_pages\": $((a[0] - b[0])), \"put_bytes\": $((a[1] - b[1]))," \
		"\"get_pages\": $((a[2] - b[2])), \"get_bytes\": $((a[3] - b[3]))," \
		"\"put_hinted\": $((a[4] - b[4])), \"get_hinted\": $((a[5] - b[5]))$how${7:+, $7}}"
}

# phases ALLOC PROGRAM CGROUP IN OUT [LIMIT-LINE]: measure each of the fill, delete and read
# phases of a program in memory cgroup CGROUP on its own: a phase ends with a JSON line on fd IN
# (the read phase's with "damaged"), the next begins at "go" on fd OUT. After the reads, under
# the hint allocator, the program's own live-line limit as the hint service sees it (ublk-ctl
# hints: the live lines of its reduced pages, its pages without a bitmap); with LIMIT-LINE, the
# limit the program measured itself, a line it prints after the last "go".
phases() {
	local before after line secs extra hints cg_before phase
	before=$(moved)
	cg_before=$(cg_counters "$3")
	for phase in fill delete read; do
		read -r line <&"$4"
		after=$(moved)
		secs=$(echo "$line" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
		[ "$phase" != read ] || echo "$line" | grep -q '"damaged": 0[,}]' ||
			{ echo "$2: damaged values: $line" >&2; exit 1; }
		extra=$(cg_json "$3" "$cg_before")
		if [ "$phase" = read ] && [ "$1" = hint ]; then
			hints=$("$ctl" hints -n 0 --json)
			echo "$hints" >&2
			extra="$extra, \"limit\": $(echo "$hints" | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["clients"] if c["pid"] == int(sys.argv[1])][0]
print(json.dumps({k: c[k] for k in ("heap_bytes", "whole_bytes", "anon_bytes",
      "reduced_pages", "live_lines")}))' "$(head -n 1 "$3/cgroup.procs")")"
		fi
		cg_before=$(cg_counters "$3")
		echo go >&"$5"
		if [ "$phase" = read ] && [ -n "${6:-}" ]; then
			read -r line <&"$4"
			extra="$extra, $(echo "$line" | sed -n 's/.*\("live_fraction": .*\)}$/\1/p')"
		fi
		emit "$1" "$2" "$phase" "$secs" "$before" "$after" "$extra"
		before=$after
	done
}

# One kvstore run; its own physical limit, measured after the reads (finding the entries
# touches their pages), goes with the read phase. LAYOUT: entry (a 144-byte block a key:
# program "kvstore") or redis (Redis's four blocks a key, 24-, 20-, 16- and 128-byte: program
# "kvstore-redis").
kv_run() { # ALLOC [LAYOUT]
	local pid lib=$1 env=() layout=${2:-entry} program=kvstore
	[ "$layout" = entry ] || program=kvstore-$layout
	[ "$1" != arena ] || lib=hint env=(LINESWAP_ARENA=224M LINESWAP_HINTS_DEVICE=1)
	# hint-off: the hint allocator never registering (its bitmaps, headers and layout, every
	# page moved whole): tells the allocator's own effects from the hints' on paging
	[ "$1" != hint-off ] || lib=hint env=(LINESWAP_HINTS_OFF=1)
	coproc KV { LD_PRELOAD="$LINESWAP_BUILD/allocator/libmimalloc-$lib.so" \
		vm_in_cgroup "$cg" env "${env[@]}" "$LINESWAP_BUILD/tests/kvstore" --keys "$keys" \
		--reads "$reads" --layout "$layout" --stepped --limit; }
	pid=$KV_PID # bash unsets KV_PID when the coprocess ends
	phases "$1" "$program" "$cg" "${KV[0]}" "${KV[1]}" limit-line
	wait "$pid"
}

redis_run() { # ALLOC
	kv_run "$1" redis
}

# redis-server (Debian's, unmodified: its allocations go to the preloaded malloc, not to the
# jemalloc it links) in a memory cgroup of its own, driven over a unix socket by
# bench-hints-redis.py from outside it.
server_run() { # ALLOC
	local rpid spid cpid sock=/tmp/bench-redis.sock
	local lib=$1 env=()
	[ "$1" != hint-off ] || lib=hint env=(LINESWAP_HINTS_OFF=1) # as in kv_run
	[ "$1" != arena ] || { echo "bench: no mmap-mode run of redis-server" >&2; return 0; }
	rm -f "$sock"
	# redis-tools' redis-check-rdb is the server when its argv[0] says so (the redis-server
	# package would start a service of its own)
	vm_in_cgroup "$srvcg" env "${env[@]}" \
		bash -c 'LD_PRELOAD=$0 exec -a redis-server redis-check-rdb "$@"' \
		"$LINESWAP_BUILD/allocator/libmimalloc-$lib.so" --port 0 --unixsocket "$sock" \
		--save "" --appendonly no --daemonize no --logfile "/tmp/redis-$1.log" &
	rpid=$!
	vm_wait_for 30 test -S "$sock"
	spid=$(head -n 1 "$srvcg/cgroup.procs") # the server (rpid is the subshell that started it)
	coproc RC { python3 "$LINESWAP_SRC/scripts/vm/jobs/bench-hints-redis.py" "$sock" \
		"$srv_keys" "$srv_reads"; }
	cpid=$RC_PID # bash unsets RC_PID when the coprocess ends
	phases "$1" redis-server "$srvcg" "${RC[0]}" "${RC[1]}"
	wait "$cpid"
	kill "$spid"
	wait "$rpid" || true
}

# python3 (Debian's, unmodified) with its small objects from malloc (PYTHONMALLOC=malloc) running
# bench-hints-dict.py: a dict of 128-byte values, 73 % deleted, the rest read back and checked.
py_run() { # ALLOC
	local lib=$1 env=() pid
	[ "$1" != hint-off ] || lib=hint env=(LINESWAP_HINTS_OFF=1) # as in kv_run
	[ "$1" != arena ] || { echo "bench: no mmap-mode run of python3" >&2; return 0; }
	coproc PY { LD_PRELOAD="$LINESWAP_BUILD/allocator/libmimalloc-$lib.so" PYTHONMALLOC=malloc \
		vm_in_cgroup "$pycg" env "${env[@]}" python3 \
		"$LINESWAP_SRC/scripts/vm/jobs/bench-hints-dict.py" "$py_keys" "$py_reads"; }
	pid=$PY_PID # bash unsets PY_PID when the coprocess ends
	phases "$1" python3 "$pycg" "${PY[0]}" "${PY[1]}"
	wait "$pid"
}

# The first run of a Debian program in a fresh guest swapped in up to twice the pages of later
# runs, whatever the allocator (python3 and redis-server, 2026-12-04; kvstore does not show it):
# each runs once before the repetitions, small, under stock mimalloc and unmeasured.
rep=0
for prog in ${LINESWAP_BENCH_PROGRAMS:-kv py}; do
	case $prog in
	server) srv_keys=2000 srv_reads=2000 server_run stock >/dev/null ;;
	py) py_keys=5000 py_reads=5000 py_run stock >/dev/null ;;
	*) continue ;;
	esac
	echo "bench: warmed up $prog ($(date +%T))" >&2
done

# Repetitions alternate which allocator goes first, so neither always has the fresh device:
# identical runs in a cgroup this small swap up to 40 % more or fewer pages (docs/benchmarks.md).
for rep in $(seq "$reps"); do
	allocs=(${LINESWAP_BENCH_ALLOCS:-stock hint})
	((rep % 2)) || allocs=($(printf '%s\n' "${allocs[@]}" | tac))
	for alloc in "${allocs[@]}"; do
		for prog in ${LINESWAP_BENCH_PROGRAMS:-kv py}; do
			echo "bench: repetition $rep of $reps, $prog under $alloc ($(date +%T))" >&2
			${prog}_run $alloc
		done
	done
done
for id in $devs; do "$ctl" stats -n "$id" >&2; done
swapoff /dev/ublkb0
for id in $devs; do "$ctl" del -n "$id" >/dev/null; done
