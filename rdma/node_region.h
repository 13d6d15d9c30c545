/* node_region.h — the memory node's memory and the regions it hands out to clients.
 *
 * One large mapping (hugepages when the kernel has them reserved, else normal pages, populated
 * lazily, or all at once and locked) is carved into regions by first fit. A region belongs to
 * one tenant (the secret its creator proved) and is named by its creator within that tenant;
 * its public key (auth.h) checks the signature any later attach or release must bear. A region
 * lives until it is released, freed by the operator, or, with a lease, left without a connection
 * for longer than the lease. Regions are a list (no fixed table): what bounds them is memory and
 * the quotas.
 *
 * Memory outside regions reads as zeros. A released region's memory is zeroed a step at a time
 * (node_memory_zero_step, between the node's other work), not all at once, so that freeing a
 * large region never stalls the other tenants; until its zeroing is done it stays in the list
 * as an entry that is `zeroing` (no tenant's, found by no lookup), and a create that needs that
 * memory finishes the zeroing first. */
#ifndef LINESWAP_NODE_REGION_H
#define LINESWAP_NODE_REGION_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "proto.h"

struct node_region {
	struct node_region *next; /* by offset */
	uint64_t serial;          /* the operator's name for it (memnode regions, free-region) */
	unsigned tenant;
	uint8_t id[PROTO_REGION_ID];
	uint8_t pub[AUTH_PUB]; /* its key's public half (auth.h) */
	uint64_t offset;       /* into the node's memory */
	uint64_t bytes;        /* as asked: PROTO_PAGE_SIZE per slot */
	uint64_t span;         /* what it holds of the node's memory: its slots, in whole pages */
	unsigned users;        /* TCP connections attached */
	uint64_t idle_since_s; /* monotonic seconds when users last fell to 0 */
	bool zeroing;          /* released: memory being zeroed, not a region any more */
	uint64_t zeroed;       /* bytes of it zeroed so far, from offset */
};

/* What one tenant may hold; 0: no limit. */
struct node_quota {
	uint64_t bytes;
	unsigned regions;
};

struct node_memory {
	uint8_t *base;
	uint64_t bytes;
	bool hugepages;
	bool locked; /* populated and locked at init: never swapped out */
	struct node_region *regions;
	unsigned nregions; /* not counting those zeroing */
	unsigned zeroing;  /* released entries still zeroing */
	uint64_t next_serial;
	struct node_quota quota;
};

/* Maps `bytes` of memory; `lock`: all of it resident and locked now. Returns 0 or -errno. */
int node_memory_init(struct node_memory *m, uint64_t bytes, bool lock);
/* Frees every region and the memory. */
void node_memory_free(struct node_memory *m);
uint64_t node_memory_unused(const struct node_memory *m);
/* What `tenant`'s regions hold: their number and spans. */
void node_tenant_usage(const struct node_memory *m, unsigned tenant, unsigned *regions,
		       uint64_t *bytes);

/* The node memory a region of `bytes` holds: PROTO_SLOT_SIZE per PROTO_PAGE_SIZE asked, in
 * whole pages; UINT64_MAX if that does not fit 64 bits. */
uint64_t node_region_span(uint64_t bytes);

/* CREATE a region of `tenant` named id with public key `pub`, or ATTACH to one (flags: enum
 * proto_hello_flags): `attach_ok` is called with the region's public key and must say whether
 * the client signed with its private one. Returns PROTO_OK with *out set and its user count
 * raised, or an enum proto_status (PROTO_EAUTH for a proof that fails: the region is not
 * touched). */
unsigned node_region_open(struct node_memory *m, unsigned tenant, const uint8_t id[PROTO_REGION_ID],
			  const uint8_t pub[AUTH_PUB], uint64_t bytes, uint32_t flags,
			  bool (*attach_ok)(const uint8_t pub[AUTH_PUB], void *ctx), void *ctx,
			  struct node_region **out);
/* A connection detaches; the region stays. now_s: monotonic seconds. */
void node_region_close(struct node_region *r, uint64_t now_s);
/* The region numbered `serial`, or NULL. */
struct node_region *node_region_find(const struct node_memory *m, uint64_t serial);
/* A region no connection has used for `lease_s` seconds at now_s, or NULL. */
struct node_region *node_region_expired(const struct node_memory *m, uint64_t lease_s,
					uint64_t now_s);
/* Frees the region: its data is gone, and its memory is zeroed by node_memory_zero_step before
 * anyone else gets it; the caller has disconnected everyone attached to it (and forgotten r). */
void node_region_release(struct node_memory *m, struct node_region *r);
/* Zeros up to `bytes` of released memory; returns whether some is left to zero. */
bool node_memory_zero_step(struct node_memory *m, uint64_t bytes);

#endif
