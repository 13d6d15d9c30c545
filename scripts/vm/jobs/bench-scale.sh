# Guest side of `scripts/bench scale`: the swap-slot resolver's cost as the hinted heap grows.
# For each heap size (LINESWAP_BENCH_SIZES, MiB; default 64 512 2048 4096): a remote device
# over RDMA as the only swap (the memory node in this guest: a second guest's emulated link is
# far too slow to swap GiBs), and the churning heap of tests/vm/churn.c under the hint
# allocator (2 threads, half its blocks dead), in three phases:
#   build    the heap is built in memory (no limit: under TCG, building a GiB-sized heap while
#            swapping takes an hour);
#   storm    its cgroup is pushed down to a quarter of the heap at once (memory.reclaim), then
#            held there (memory.max): three quarters of the heap are written out, as fast as
#            reclaim goes;
#   steady   the heap churns at one rate for every size (LINESWAP_BENCH_RATE steps a second,
#            default 100) for LINESWAP_BENCH_SECONDS (default 60): each step frees and allocates
#            at random, faulting pages in and so pushing others out (every block freed is
#            checked first; no check of the whole heap at the end, which would read it back).
# Each size runs in each of LINESWAP_BENCH_MODES (default "scan read-all"): with the resolver as
# it is (scan: PAGEMAP_SCAN finds the pages swapped out since they were last read), reading
# every reduced page at every round (read-all: --hint-read-all, as on kernels before 6.7), the
# baseline, or with the same allocator not registered (whole: LINESWAP_HINTS_OFF=1, every page
# moves whole; `scripts/bench cpu`'s baseline).
# The daemon's figures, and the CPU time of each of its threads, are read between the phases.
# With LINESWAP_BENCH_PERF=1, perf samples the daemon (cpu-clock, every thread) through the
# storm and the steady phase, and its symbols are printed as a "profile" object a run.
# Prints one JSON object a phase.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
hintlib="$LINESWAP_BUILD/allocator/libmimalloc-hint.so"
sizes=${LINESWAP_BENCH_SIZES:-64 512 2048 4096}
rate=${LINESWAP_BENCH_RATE:-100}
seconds=${LINESWAP_BENCH_SECONDS:-60}
modes=${LINESWAP_BENCH_MODES:-scan read-all}
export LINESWAP_SECRET=bench
vm_load ublk_drv
addr=$(vm_rxe_veth)
largest=0
for mib in $sizes; do ((mib > largest)) && largest=$mib; done
# A device holds what swaps: three quarters of the heap, some of the slot table, and slack.
dev_mib() { echo $(($1 * 15 / 16 + 64)); }
"$memnode" --size "$(($(dev_mib $largest) + 64))M" --listen "tcp://$addr:7370" --rdma >/tmp/node.log 2>&1 &
vm_wait_for 30 grep -q serving /tmp/node.log

# snap NAME: the device's figures (/tmp/NAME.json), its clients' (/tmp/NAME.clients) and the
# daemon's resident memory in KiB (/tmp/NAME.rss).
snap() {
	local pid
	"$ctl" stats -n 0 --json >"/tmp/$1.json"
	"$ctl" hints -n 0 --json >"/tmp/$1.clients"
	pid=$(daemon_pid)
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" >"/tmp/$1.rss"
	thread_cpu "$pid" >"/tmp/$1.cpu"
}

# thread_cpu PID: one JSON object, nanoseconds each kind of thread of PID ran (schedstat's
# first field), summed by name: ublk-queue0, ublk-queue1... count as "ublk-queue".
thread_cpu() {
	python3 - "$1" <<'EOF2'
import glob, json, re, sys
cpu = {}
for task in glob.glob(f"/proc/{sys.argv[1]}/task/*"):
    try:
        name = re.sub(r"\d+$", "", open(f"{task}/comm").read().strip())
        cpu[name] = cpu.get(name, 0) + int(open(f"{task}/schedstat").read().split()[0])
    except OSError:
        pass  # a thread that just ended
print(json.dumps(cpu))
EOF2
}

daemon_pid() {
	"$ctl" list -n 0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pid"])'
}

# profile MIB MODE: perf's report of /tmp/perf.data as one JSON object: the symbols (user
# and kernel) with at least 0.5 % of the samples, by thread and binary, and the samples.
profile() {
	perf report -i /tmp/perf.data --stdio --no-children --sort comm,dso,sym -g none \
		--percent-limit 0.5 2>/dev/null | python3 -c "import json, re, sys
rows, total = [], None
for line in sys.stdin:
    m = re.match(r'# Samples: (\S+)', line)
    if m and total is None:
        total = m.group(1)
    m = re.match(r'\s+([0-9.]+)%\s+(\S+)\s+(\S+)\s+\[([.k])\]\s+(.*\S)', line)
    if m:
        rows.append([float(m.group(1)), m.group(2), m.group(3), m.group(5)])
print(json.dumps({'heap_mib': $1, 'mode': '$2', 'phase': 'profile', 'samples': total,
                  'symbols': rows}))"
}

# phase MIB MODE NAME FROM TO SECONDS: one JSON line for the phase between snapshots FROM and
# TO.
phase() {
	python3 - "$@" <<'EOF'
import json, sys
mib, mode, name, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
secs = float(sys.argv[6])
ja, jb = (json.load(open(f"/tmp/{x}.json")) for x in (a, b))
ca, cb = (json.load(open(f"/tmp/{x}.cpu")) for x in (a, b))
clients = json.load(open(f"/tmp/{b}.clients"))["clients"]
ra, rb = ja["hints"]["resolver"], jb["hints"]["resolver"]
d = {k: rb[k] - ra[k] for k in ("slots", "resolved", "shared", "late", "scanned", "walked",
                                "resolve_ns", "rounds")}
print(json.dumps({"heap_mib": mib, "mode": mode, "phase": name, "seconds": secs, **d,
                  "put_pages": jb["moved"]["put"]["pages"] - ja["moved"]["put"]["pages"],
                  "hinted_put_pages": jb["moved"]["put"]["hinted_pages"]
                  - ja["moved"]["put"]["hinted_pages"],
                  "get_pages": jb["moved"]["get"]["pages"] - ja["moved"]["get"]["pages"],
                  "hinted_get_pages": jb["moved"]["get"]["hinted_pages"]
                  - ja["moved"]["get"]["hinted_pages"],
                  "put_bytes": jb["moved"]["put"]["bytes"] - ja["moved"]["put"]["bytes"],
                  "get_bytes": jb["moved"]["get"]["bytes"] - ja["moved"]["get"]["bytes"],
                  "cpu_ns": {k: cb[k] - ca.get(k, 0) for k in cb},
                  "reduced_pages": sum(c["reduced_pages"] for c in clients),
                  "hint_memory": jb["hints"]["memory_bytes"],
                  "resolver_memory": jb["hints"]["resolver_memory_bytes"],
                  "entry_file": jb["target_bytes"],
                  "daemon_rss_kib": int(open(f"/tmp/{b}.rss").read())}))
EOF
}

# one_run MIB MODE: the three phases for a heap of MIB MiB, the resolver in MODE.
one_run() {
	local mib=$1 mode=$2 flag="" off="" cg t0 churn limit usage perf="" rc=0
	[ "$mode" = read-all ] && flag=--hint-read-all
	[ "$mode" = whole ] && off=LINESWAP_HINTS_OFF=1
	rm -f /tmp/end.json /tmp/end.cpu /tmp/end.rss
	# shellcheck disable=SC2086 # FLAG is an option or nothing
	"$ctl" add -t remote --node "rdma://$addr:7370" --size "$(dev_mib "$mib")M" --queues 2 \
		$flag -n 0 >/dev/null
	mkswap /dev/ublkb0 >/dev/null
	swapon /dev/ublkb0
	cg=$(vm_memcg "scale$mib" max)
	rm -f /tmp/go
	t0=$SECONDS
	# shellcheck disable=SC2086 # OFF is a variable's setting or nothing (set at all: off)
	vm_in_cgroup "$cg" env $off LD_PRELOAD="$hintlib" LINESWAP_HINTS_DEVICE=0 \
		"$LINESWAP_BUILD/tests/churn" \
		--mib "$mib" --threads 2 --dead 50 --after-build --wait /tmp/go --seconds "$seconds" \
		--rate "$rate" --verify 1000000 --no-final-check >/tmp/churn.out 2>&1 &
	churn=$!
	until grep -q "heap built" /tmp/churn.out; do
		kill -0 $churn 2>/dev/null || break
		sleep 1
	done
	snap built
	echo "{\"heap_mib\": $mib, \"mode\": \"$mode\", \"phase\": \"build\", \"seconds\": $((SECONDS - t0))}"
	if [ "${LINESWAP_BENCH_PERF:-}" = 1 ]; then
		perf record -q -e cpu-clock -F 499 -p "$(daemon_pid)" -o /tmp/perf.data 2>/dev/null &
		perf=$!
	fi
	t0=$SECONDS
	limit=$((mib << 18)) # a quarter of the heap, in bytes
	usage=$(cat "$cg/memory.current")
	((usage <= limit)) || echo $((usage - limit)) >"$cg/memory.reclaim" || true
	echo "$limit" >"$cg/memory.max"
	snap stormed
	phase "$mib" "$mode" storm built stormed $((SECONDS - t0))
	t0=$SECONDS
	touch /tmp/go
	wait $churn || rc=$?
	cat /tmp/churn.out >&2
	snap end 2>/dev/null || true
	# The client is gone by now: its view is read from the storm's snapshot.
	cp /tmp/stormed.clients /tmp/end.clients
	phase "$mib" "$mode" steady stormed end $((SECONDS - t0))
	if [ -n "$perf" ]; then
		kill -INT "$perf"
		wait "$perf" || true
		profile "$mib" "$mode"
	fi
	{ grep -o 'steady: .*' /tmp/churn.out || true; } | python3 -c "import json, re, sys
m = re.search(r'(\d+) operations, \d+ block checks, (\d+) damaged', sys.stdin.read())
print(json.dumps({'heap_mib': $mib, 'mode': '$mode', 'phase': 'churn', 'status': $rc,
                  'steps': int(m.group(1)) if m else None, 'damaged': int(m.group(2)) if m else None}))"
	swapoff /dev/ublkb0
	"$ctl" del -n 0 >/dev/null
	rmdir "$cg"
}

for mib in $sizes; do
	for mode in $modes; do one_run "$mib" "$mode"; done
done
