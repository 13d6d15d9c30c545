# Memory-node guest of `scripts/bench link`: a memnode serving TCP on eth0 (its link to the
# compute guest, which limits that link's rate in both directions itself).
. "$LINESWAP_SRC/scripts/vm/guest-lib.sh"
set -e
vm_eth0
LINESWAP_SECRET=bench exec "$LINESWAP_BUILD/rdma/memnode" --size 1G \
	--listen "tcp://$LINESWAP_SELF_ADDR:7370"
