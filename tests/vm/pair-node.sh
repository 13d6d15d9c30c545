# Two-guest test, memory-node side: rxe on eth0, an rdma_cm echo server (rping) for the first
# check, and memnode serving RDMA and TCP for the compute guest's remote device.
# Run by: scripts/vm/run --peer tests/vm/pair-node.sh tests/vm/pair-compute.sh, and as both
# memory nodes (node, node2) of tests/vm/pool-guests.sh.
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"

set -e
vm_rxe_eth0
echo "node: rxe0 on eth0 at $LINESWAP_SELF_ADDR"
# One connection, then exit; bounded in case the compute guest never connects.
timeout 120 rping -s -a "$LINESWAP_SELF_ADDR" -C 5 -S 64 -v &
# Serves until the compute guest is done (the harness then stops this guest).
LINESWAP_SECRET=pair-secret exec "$LINESWAP_BUILD/rdma/memnode" --size 512M \
	--listen "tcp://$LINESWAP_SELF_ADDR:7370" --rdma
