# Guest side of `scripts/demo` (run through scripts/vm/run).
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -eo pipefail
ctl="$LINESWAP_BUILD/ublk-server/ublk-ctl"

echo "== kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB"

echo "== ublk: load ublk_drv and ask the driver what it supports"
vm_load ublk_drv
"$ctl" features

echo "== RDMA: Soft-RoCE (rxe) on a veth pair"
addr=$(vm_rxe_veth)
rdma link show rxe0/1
ibv_devinfo -v -d rxe0 | grep -E "max_sge|max_sge_rd|max_qp_wr|active_mtu" | sed 's/^[[:space:]]*/  /'
echo "  rxe0 runs on veth0 at $addr; one work request carries a page's live lines (max_sge elements)"

echo "== memory node: memnode serving 512 MiB over RDMA (rxe0) and TCP"
export LINESWAP_SECRET=demo-secret
"$LINESWAP_BUILD/rdma/memnode" --size 512M --listen "tcp://$addr:7370" --rdma >/tmp/memnode.log 2>&1 &
vm_wait_for 10 grep -q serving /tmp/memnode.log
cat /tmp/memnode.log

echo "== ublk: a 256 MiB remote device whose pages live on the memory node, over RDMA"
"$ctl" add -t remote --node "rdma://$addr:7370" --size 256M --queues 2
"$ctl" list

echo "== swap: 64 MiB working set in a 16 MiB memory cgroup, swapping to /dev/ublkb0 (whole pages)"
mkswap /dev/ublkb0 >/dev/null
swapon --discard /dev/ublkb0
cg=$(vm_memcg demo 16M)
out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 64 --passes 2
echo "  pages swapped out: $(( $(vm_vmstat pswpout) - out0 )), swapped in: $(( $(vm_vmstat pswpin) - in0 ))," \
	"OOM kills: $(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")"
"$ctl" stats -n 0 | grep -A1 "^moved"

moved() { vm_moved "$ctl" 0; }
# per_page BYTES PAGES: bytes per page, or - when nothing moved
per_page() { [ "$2" -gt 0 ] && echo $(($1 / $2)) || echo -; }
# kv ALLOC: the key-value store (200k keys, 128-byte values; delete 73 %, 50k random reads)
# under ALLOC in an 8 MiB cgroup, a phase at a time; prints what each phase moved, and leaves
# the serving phase's and the whole run's bytes in serve_bytes[ALLOC] and run_bytes[ALLOC].
declare -A serve_bytes run_bytes
kv() {
	local b a first line phase
	coproc KV { LD_PRELOAD="$LINESWAP_BUILD/allocator/libmimalloc-$1.so" LINESWAP_HINTS_LOG=1 \
		vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/kvstore" --keys 200000 --reads 50000 --stepped; }
	local app=$KV_PID
	first=($(moved)) b=("${first[@]}")
	for phase in fill delete read; do
		read -r line <&"${KV[0]}"
		a=($(moved))
		printf '  %-5s %-6s %7d swap-outs at %4s bytes, %7d swap-ins at %4s bytes  %s\n' "$1" \
			"$phase" $((a[0] - b[0])) "$(per_page $((a[1] - b[1])) $((a[0] - b[0])))" \
			$((a[2] - b[2])) "$(per_page $((a[3] - b[3])) $((a[2] - b[2])))" "$line"
		if [ "$1" = hint ] && [ $phase = delete ]; then
			echo "  ublk-ctl hints -n 0, while it runs:"
			"$ctl" hints -n 0 | sed 's/^/    /'
		fi
		[ $phase = read ] && serve_bytes[$1]=$((a[1] - b[1] + a[3] - b[3]))
		b=("${a[@]}")
		[ $phase = read ] || echo go >&"${KV[1]}"
	done
	wait $app
	run_bytes[$1]=$((a[1] - first[1] + a[3] - first[3]))
}

echo "== hints: a key-value store with 128-byte values, 73 % of keys deleted, in an 8 MiB cgroup"
echo "   once with stock mimalloc (whole pages), once with the hint allocator preloaded"
echo 8M >"$cg/memory.max"
kv stock
h0=($(vm_hinted "$ctl" 0))
kv hint
h1=($(vm_hinted "$ctl" 0))
echo "  the hinted run: $((h1[0] - h0[0])) swap-outs and $((h1[1] - h0[1])) swap-ins moved" \
	"by hints (only their live lines)"
if ((h1[0] <= h0[0])); then
	echo "demo: no page of the hinted run was swapped out by hints (moved.put.hinted_pages did" \
		"not grow): the allocator's masks never reached the device" >&2
	exit 1
fi
ratio() { awk -v h="$1" -v s="$2" 'BEGIN { printf "%.2fx", h / s }'; }
echo "  serving phase (50k reads): hint $((serve_bytes[hint] >> 20)) MiB vs stock" \
	"$((serve_bytes[stock] >> 20)) MiB moved = $(ratio ${serve_bytes[hint]} ${serve_bytes[stock]})"
echo "  whole run: hint $((run_bytes[hint] >> 20)) MiB vs stock $((run_bytes[stock] >> 20)) MiB" \
	"= $(ratio ${run_bytes[hint]} ${run_bytes[stock]}) (the fill and the deletes move whole" \
	"pages either way: every line they touch is live; see docs/benchmarks.md)"

echo "== ublk-ctl stats -n 0"
"$ctl" stats -n 0
swapoff /dev/ublkb0
"$ctl" del -n 0
echo "== demo finished: every byte came back from the memory node; hinted pages moved only their live lines"
