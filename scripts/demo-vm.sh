# The demo's guest side (run by scripts/demo through scripts/vm/run).
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
echo "  rxe0 runs on veth0 at $addr; one work request may carry max_sge scatter-gather elements"

echo "== ublk: a 512 MiB mem device served by lineswap's daemon"
"$ctl" add -t mem --size 512M --queues 2
"$ctl" list

echo "== swap: 256 MiB working set in a 64 MiB memory cgroup, swapping to /dev/ublkb0"
mkswap /dev/ublkb0 >/dev/null
swapon --discard /dev/ublkb0
cg=$(vm_memcg demo 64M)
out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 256 --passes 2
echo "  pages swapped out: $(( $(vm_vmstat pswpout) - out0 )), swapped in: $(( $(vm_vmstat pswpin) - in0 ))," \
	"OOM kills: $(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")"

echo "== ublk-ctl stats -n 0"
"$ctl" stats -n 0
swapoff /dev/ublkb0
"$ctl" del -n 0
echo "== demo finished: every byte came back through the ublk device"
