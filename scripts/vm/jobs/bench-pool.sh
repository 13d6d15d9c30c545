# Guest side of `scripts/bench pool` (the fio part): a remote device over three memory nodes
# (memnode processes on the guest's rxe device), same boot:
#   iops     fio 4 KiB randread and randwrite, iodepth 16, with 1, 2 and 3 copies of every page,
#            over TCP and over RDMA, LINESWAP_BENCH_REPS rounds (default 3) of every
#            configuration in turn (under TCG a run is sometimes several times slower than the
#            next, whatever it measures: the report takes the median);
#   latency  4 KiB reads at iodepth 1 (what a swap-in waits for) with two copies, healthy,
#            with one node dead (degraded), and while the restarted node is refilled
#            (rebuilding); then how long the refill of a 512 MiB device took, and its rate.
# Prints one JSON object a line.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"
memnode="$LINESWAP_BUILD/rdma/memnode"
runtime=${LINESWAP_BENCH_RUNTIME:-15}
reps=${LINESWAP_BENCH_REPS:-3}
export LINESWAP_SECRET=bench
vm_load ublk_drv
addr=$(vm_rxe_veth)

start_node() { # I
	: >/tmp/node$1.log
	"$memnode" --size 1G --listen "tcp://$addr:$((7371 + $1))" --rdma >>/tmp/node$1.log 2>&1 &
	echo $! >/tmp/node$1.pid
	vm_wait_for 10 grep -q serving /tmp/node$1.log
}
for i in 0 1 2; do start_node $i; done
nodes() { # SCHEME
	printf -- '--node %s://%s:7371 --node %s://%s:7372 --node %s://%s:7373' "$1" "$addr" \
		"$1" "$addr" "$1" "$addr"
}

# fio_json NAME [FIO-ARGS...]: one fio run on /dev/ublkb0, summarised as a JSON line.
fio_json() {
	local name=$1
	shift
	fio --name=b --filename=/dev/ublkb0 --direct=1 --ioengine=io_uring --bs=4k \
		--time_based --runtime="$runtime" --ramp_time=2 --norandommap --randrepeat=0 \
		--output-format=json "$@" >/tmp/fio.json
	python3 - "$name" /tmp/fio.json <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] else j["write"]
pct = side["clat_ns"].get("percentile", {})
print(json.dumps({**json.loads(sys.argv[1]), "iops": round(side["iops"]),
                  "p50_us": round(pct.get("50.000000", 0) / 1000, 1),
                  "p99_us": round(pct.get("99.000000", 0) / 1000, 1),
                  "errors": j["error"]}))
EOF
}

for rep in $(seq "$reps"); do
	for scheme in tcp rdma; do
		for r in 1 2 3; do
			"$ctl" add -t remote $(nodes $scheme) --replicas $r --size 256M --slab-size 8M \
				--queues 2 --depth 32 --no-hints -n 0 >/dev/null
			dd if=/dev/urandom of=/dev/ublkb0 bs=1M count=256 oflag=direct status=none
			for rw in randread randwrite; do
				fio_json "{\"part\": \"iops\", \"rep\": $rep, \"transport\": \"$scheme\", \"replicas\": $r, \"rw\": \"$rw\"}" \
					--rw=$rw --iodepth=16
			done
			"$ctl" del -n 0 >/dev/null
		done
	done
done

redundancy() { "$ctl" nodes -n 0 --json | sed -n 's/.*"redundancy": "\([a-z]*\)".*/\1/p'; }
latency() { # STATE
	fio_json "{\"part\": \"latency\", \"state\": \"$1\"}" --rw=randread --iodepth=1
}
"$ctl" add -t remote $(nodes rdma) --replicas 2 --size 512M --slab-size 16M --queues 2 \
	--depth 32 --no-hints -n 0 >/dev/null
dd if=/dev/urandom of=/dev/ublkb0 bs=1M count=512 oflag=direct status=none
latency healthy
kill -9 "$(cat /tmp/node0.pid)"
sleep 1
latency degraded
start_node 0
t0=$(date +%s.%N)
latency rebuilding
while [ "$(redundancy)" != full ]; do sleep 0.5; done
t1=$(date +%s.%N)
"$ctl" nodes -n 0 >&2
"$ctl" nodes -n 0 --json | python3 -c "
import json, sys
p = json.load(sys.stdin)['pool']
secs = $t1 - $t0
mb = p['resync_pages'] * 4096 / 1e6
print(json.dumps({'part': 'rebuild', 'device_mib': 512, 'seconds': round(secs, 1),
                  'copied_mb': round(mb, 1), 'mb_per_s': round(mb / secs, 1),
                  'copies': p['resynced']}))"
"$ctl" del -n 0 >/dev/null
