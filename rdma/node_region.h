/* node_region.h — the memory node's memory and the regions it hands out to clients.
 *
 * One large mapping (hugepages when the kernel has them reserved, else normal pages, populated
 * lazily, or all at once and locked) is carved into named regions by first fit. A region lives
 * until released, whatever happens to the connections using it. */
#ifndef LINESWAP_NODE_REGION_H
#define LINESWAP_NODE_REGION_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define NODE_MAX_REGIONS 64

struct node_region {
	uint8_t id[PROTO_REGION_ID];
	uint64_t offset; /* into the node's memory */
	uint64_t bytes;
	unsigned users; /* connections attached */
	bool used;
};

struct node_memory {
	uint8_t *base;
	uint64_t bytes;
	bool hugepages;
	bool locked; /* populated and locked at init: never swapped out */
	struct node_region regions[NODE_MAX_REGIONS];
};

/* Maps `bytes` of memory; `lock`: all of it resident and locked now. Returns 0 or -errno. */
int node_memory_init(struct node_memory *m, uint64_t bytes, bool lock);
void node_memory_free(struct node_memory *m);
uint64_t node_memory_unused(const struct node_memory *m);

/* CREATE or ATTACH a region (enum proto_hello_flags); returns PROTO_OK with *out set and its
 * user count raised, or an enum proto_status. */
unsigned node_region_open(struct node_memory *m, const uint8_t id[PROTO_REGION_ID], uint64_t bytes,
			  uint32_t flags, struct node_region **out);
/* A connection detaches; the region stays. */
void node_region_close(struct node_region *r);
/* Frees the region: its data is gone; the caller disconnects everyone attached to it. */
void node_region_release(struct node_memory *m, struct node_region *r);

#endif
