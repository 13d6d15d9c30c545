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

echo "== swap: 200 MiB working set in a 64 MiB memory cgroup, swap on zram"
vm_load zram
echo 1G >/sys/block/zram0/disksize
mkswap /dev/zram0 >/dev/null
swapon /dev/zram0
cg=$(vm_memcg demo 64M)
out0=$(vm_vmstat pswpout) in0=$(vm_vmstat pswpin)
vm_in_cgroup "$cg" "$LINESWAP_BUILD/tests/memhog" --mib 200 --passes 2
echo "  pages swapped out: $(( $(vm_vmstat pswpout) - out0 )), swapped in: $(( $(vm_vmstat pswpin) - in0 ))," \
	"OOM kills: $(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")"
echo "== demo finished: every byte came back"
