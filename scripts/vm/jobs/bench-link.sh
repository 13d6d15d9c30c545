# Compute guest of `scripts/bench link`: the key-value store of `scripts/bench hints`
# (tests/bench/kvstore.c: fill, delete 73 %, random reads) in a memory cgroup at a fraction of
# its data (memory.high), swapping to a remote device on the memory node in the other guest over TCP, under
# stock mimalloc (whole pages) and under the hint allocator, with the link as it is and limited
# to each rate of LINESWAP_BENCH_LINK_RATES (tc: tbf on eth0's egress, and on an ifb device its
# ingress is redirected through, so both directions). Each run on a fresh device. Prints one
# JSON line per run and phase: seconds, pages and bytes moved to (PUT) and from (GET) the node,
# the bytes eth0 sent and received, and with the read phase the device's read latency (p50,
# p99: every swap-in of the run) and the store's live-line limit. Then, at each rate, the raw
# page store (tests/bench/bench_store: LINESWAP_BENCH_STORE_PAGES pages, default 2000, PUT then
# GET at depth 32, sealed): whole pages, and half their lines live. LINESWAP_BENCH_PROGRAMS
# ("kv store" by default) picks either.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
keys=${LINESWAP_BENCH_KEYS:-100000}
reads=${LINESWAP_BENCH_READS:-25000}
limit=${LINESWAP_BENCH_LIMIT:-8M}
rates=${LINESWAP_BENCH_LINK_RATES:-unlimited 8mbit}
export LINESWAP_SECRET=bench
vm_load ublk_drv sch_tbf ifb act_mirred cls_matchall
vm_eth0
vm_wait_for 60 ping -c 1 -W 1 "$LINESWAP_NODE_ADDR" >/dev/null
node=tcp://$LINESWAP_NODE_ADDR:7370
# memory.high, not memory.max: with the link limited, reclaim waits for the link, and under
# memory.max the kernel's OOM killer took the store (8 MiB, 8 Mbit/s).
cg=$(vm_memcg bench "$limit" high)

# shape RATE: eth0 limited to RATE each way, or as it is ("unlimited").
shape() {
	tc qdisc del dev eth0 root 2>/dev/null || true
	tc qdisc del dev eth0 ingress 2>/dev/null || true
	ip link del ifb0 2>/dev/null || true
	[ "$1" != unlimited ] || return 0
	tc qdisc add dev eth0 root tbf rate "$1" burst 16kb latency 200ms
	ip link add ifb0 type ifb
	ip link set ifb0 up
	tc qdisc add dev ifb0 root tbf rate "$1" burst 16kb latency 200ms
	tc qdisc add dev eth0 handle ffff: ingress
	tc filter add dev eth0 parent ffff: matchall action mirred egress redirect dev ifb0
}

# counters: PUT pages and bytes, GET pages and bytes, eth0's bytes sent and received
counters() {
	echo "$(vm_moved "$ctl" 0) $(cat /sys/class/net/eth0/statistics/tx_bytes)" \
		"$(cat /sys/class/net/eth0/statistics/rx_bytes)"
}

# emit ALLOC RATE PHASE SECONDS BEFORE AFTER [EXTRA-JSON]
emit() {
	local b=($5) a=($6)
	echo "{\"alloc\": \"$1\", \"link\": \"$2\", \"phase\": \"$3\", \"seconds\": $4," \
		"\"put_pages\": $((a[0] - b[0])), \"put_bytes\": $((a[1] - b[1]))," \
		"\"get_pages\": $((a[2] - b[2])), \"get_bytes\": $((a[3] - b[3]))," \
		"\"link_tx_bytes\": $((a[4] - b[4])), \"link_rx_bytes\": $((a[5] - b[5]))${7:+, $7}}"
}

# kv_run ALLOC RATE: one run on a fresh device, each phase measured on its own.
kv_run() {
	local before after line secs extra pid
	"$ctl" add -t remote --node "$node" --size 512M --queues 1 -n 0 >/dev/null
	mkswap /dev/ublkb0 >/dev/null
	swapon /dev/ublkb0
	coproc KV { LD_PRELOAD="$LINESWAP_BUILD/allocator/libmimalloc-$1.so" \
		vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/kvstore" --keys "$keys" \
		--reads "$reads" --stepped --limit; }
	pid=$KV_PID
	before=$(counters)
	for phase in fill delete read; do
		read -r line <&"${KV[0]}"
		after=$(counters)
		secs=$(echo "$line" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
		[ "$phase" != read ] || echo "$line" | grep -q '"damaged": 0,' ||
			{ echo "kvstore: damaged values: $line" >&2; exit 1; }
		echo go >&"${KV[1]}"
		extra=""
		if [ "$phase" = read ]; then
			read -r line <&"${KV[0]}"
			extra=$(echo "$line" | sed -n 's/.*\("live_fraction": [-0-9.]*\), \("read_live_fraction": [-0-9.]*\).*/\1, \2/p')
			extra="$extra, $("$ctl" stats -n 0 --json | python3 -c "import json, sys
r = json.load(sys.stdin)['ops']['read']
print('\"swapin_p50_ns\": %d, \"swapin_p99_ns\": %d, \"swapins\": %d' % (r['p50_ns'], r['p99_ns'], r['count']))")"
		fi
		emit "$1" "$2" "$phase" "$secs" "$before" "$after" "$extra"
		before=$after
	done
	wait "$pid"
	swapoff /dev/ublkb0
	"$ctl" del -n 0 >/dev/null
}

for rate in $rates; do
	shape "$rate"
	if [[ " ${LINESWAP_BENCH_PROGRAMS:-kv store} " == *" kv "* ]]; then
		for alloc in stock hint; do
			echo "bench: kvstore under $alloc, link $rate ($(date +%T))" >&2
			kv_run "$alloc" "$rate"
		done
	fi
	if [[ " ${LINESWAP_BENCH_PROGRAMS:-kv store} " == *" store "* ]]; then
		echo "bench: the page store, link $rate ($(date +%T))" >&2
		"$LINESWAP_BUILD/tests/bench_store" "$node" "${LINESWAP_BENCH_STORE_PAGES:-2000}" 32 \
			sealed | sed -n "s/^{\(.*\)}$/{\"program\": \"store\", \"link\": \"$rate\", \1}/p"
	fi
done
shape unlimited
