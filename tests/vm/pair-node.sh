# Two-guest test, memory-node side: rxe on eth0 and an rdma_cm server (rping) for the compute
# guest. Run by: scripts/vm/run --peer tests/vm/pair-node.sh tests/vm/pair-compute.sh
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"

set -e
vm_rxe_eth0
echo "node: rxe0 on eth0 at $LINESWAP_SELF_ADDR"
# One connection, then exit; bounded in case the compute guest never connects.
timeout 120 rping -s -a "$LINESWAP_SELF_ADDR" -C 5 -S 64 -v
echo "node: served one rdma_cm connection"
