# Guest side of `scripts/bench rdma`: 4 KiB RDMA WRITE and READ through lineswap's page store
# (whole pages, and half-live masks) vs perftest's ib_write_bw / ib_read_bw at 4 KiB, on the
# same rxe device in the same guest. Prints one JSON line per measurement.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
addr=$(vm_rxe_veth)
export LINESWAP_SECRET=bench
pages=${LINESWAP_BENCH_PAGES:-20000}

# perftest: server and client on one device (rdma_cm), 4 KiB messages, depth 32.
perf() { # TOOL
	"$1" -d rxe0 -R -s 4096 -n "$pages" -t 32 -F >/tmp/srv.out 2>&1 &
	sleep 1
	"$1" -d rxe0 -R -s 4096 -n "$pages" -t 32 -F "$addr" >/tmp/cli.out 2>&1
	wait
	# The result line: bytes iterations BW-peak BW-average(MB/s) MsgRate(Mpps)
	awk -v t="$1" '$1 == 4096 { printf "{\"tool\": \"%s\", \"pages_per_s\": %.0f}\n", t, $5 * 1e6 }' /tmp/cli.out
}
perf ib_write_bw
perf ib_read_bw

"$LINESWAP_BUILD/rdma/memnode" --size 256M --listen "tcp://$addr:7370" --rdma >/tmp/node.log 2>&1 &
node=$!
sleep 1
"$LINESWAP_BUILD/tests/bench_store" "rdma://$addr:7370" "$pages" 32 clear
"$LINESWAP_BUILD/tests/bench_store" "rdma://$addr:7370" "$pages" 32 sealed
kill $node
