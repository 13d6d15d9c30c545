/* pool_map.h — a device's pages spread over a pool of memory nodes: which nodes hold each slab
 * of the device, where on them, and which of those copies may serve a read.
 *
 * The device is cut into slabs of slab_bytes. Each slab has `replicas` members, each on its own
 * node, at a slot (a slab-sized place) of that node's share of the device. A member that missed
 * a write is stale: it never serves a read until it has been brought up to date (docs/design.md,
 * "A pool of memory nodes"). The map lives in a file the daemon maps, so a recovered daemon
 * keeps the placement and the stale marks; pool_map_attach checks such a file before any of it
 * is trusted.
 *
 * The daemon's queues mark members stale and its resync marks them fresh, concurrently: both
 * change a slab's state word by compare-and-swap; placement happens before the device starts.
 *
 * Moving a member without ever having fewer fresh copies (draining a node): the new place is
 * the slab's incoming copy; writes go to it as well as to every member while the keeper copies
 * the member's pages there, then the member's place becomes the incoming one. A write the
 * incoming copy missed before that ends the move (pool_map_incoming_failed); one it missed
 * after counts as the member's. */
#ifndef LINESWAP_POOL_MAP_H
#define LINESWAP_POOL_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_MAX_NODES    32
#define POOL_MAX_REPLICAS 3
#define POOL_MAP_MAGIC    0x6c73706du /* "lspm" */
#define POOL_MAP_VERSION  3

/* One slab: its members. Room for POOL_MAX_REPLICAS; a scheme with more members (k + m
 * erasure-coded fragments) would be a new version with a wider record. */
struct pool_slab {
	/* Bits 0-7: member r missed a write (stale). Bits 16 + 16 r to 31 + 16 r: how many times
	 * member r was marked (wrapping), so that a resync can tell whether a mark on the members
	 * it copies between raced its copy. Changed only by compare-and-swap. */
	uint64_t state;
	/* Member r's place: node << 24 | slot. One word, read and changed whole (a copy moved to
	 * another node changes both at once): pool_map_place_of. */
	uint32_t place[POOL_MAX_REPLICAS];
	uint32_t pad;
	/* 0, or the copy being made of a member elsewhere: POOL_INCOMING | POOL_SWITCHING once
	 * its place is being handed over | member << 32 | place. */
	uint64_t incoming;
};

#define POOL_INCOMING  (1ull << 63)
#define POOL_SWITCHING (1ull << 62)

#define POOL_MAX_SLOTS (1u << 24)

static inline uint32_t pool_place(unsigned node, uint32_t slot)
{
	return (uint32_t)node << 24 | slot;
}

static inline unsigned pool_place_node(uint32_t place)
{
	return place >> 24;
}

static inline uint32_t pool_place_slot(uint32_t place)
{
	return place & (POOL_MAX_SLOTS - 1);
}

/* The file: this header, then nslabs records. */
struct pool_map_header {
	uint32_t magic;
	uint32_t version;
	uint32_t nnodes;
	uint32_t replicas;
	uint64_t slab_bytes;
	uint64_t nslabs;
	uint32_t node_slots[POOL_MAX_NODES];   /* slab-sized places given out at placement */
	uint32_t region_slots[POOL_MAX_NODES]; /* and held: the node's region, with spares */
	uint32_t node_flags[POOL_MAX_NODES];   /* POOL_NODE_* */
};

#define POOL_NODE_DRAINING 1u /* its members move elsewhere; it gets no new one */
#define POOL_NODE_REMOVED  2u /* drained and its region freed: it holds nothing */

struct pool_map {
	struct pool_map_header *h;
	struct pool_slab *slab;
};

/* Bytes of a map file for nslabs slabs. */
size_t pool_map_size(uint64_t nslabs);

/* Lays out a new map in mem (pool_map_size(nslabs) bytes) and places every slab on `replicas`
 * distinct nodes of nnodes, each node holding at most capacity[n] bytes: per member, the better
 * of two nodes drawn at random (the one with more room left), from a stream seeded by seed.
 * With copies to make anew when a node is gone (replicas > 1, nodes > replicas), each node's
 * region gets spare slots too, as many as a dead node's copies spread over the others need
 * (as its capacity allows). Returns 0, -EINVAL for impossible parameters, or -ENOSPC (with
 * err saying how much is missing) when the nodes cannot hold every copy. */
int pool_map_place(void *mem, uint64_t device_bytes, uint64_t slab_bytes, uint32_t replicas,
		   uint32_t nnodes, const uint64_t *capacity, uint64_t seed, struct pool_map *out,
		   char *err, size_t errlen);

/* Checks a map file of `size` bytes (a recovered daemon's, possibly truncated or damaged) for
 * a device of device_bytes over nnodes nodes (the map may name fewer: the last added ones hold
 * nothing yet). Returns 0 with *out pointing into mem, or -EINVAL with what is wrong in err. */
int pool_map_attach(void *mem, size_t size, uint64_t device_bytes, uint32_t nnodes,
		    struct pool_map *out, char *err, size_t errlen);

/* Member r of slab s's place (an atomic read: a move changes node and slot together). */
static inline uint32_t pool_map_place_of(const struct pool_map *m, uint64_t s, unsigned r)
{
	return __atomic_load_n(&m->slab[s].place[r], __ATOMIC_ACQUIRE);
}

static inline unsigned pool_map_node(const struct pool_map *m, uint64_t s, unsigned r)
{
	return pool_place_node(pool_map_place_of(m, s, r));
}

/* Member r of slab s is now at `place` (a free slot of another node), and stale: a resync
 * fills it. The caller is the only one that moves members. */
void pool_map_move(struct pool_map *m, uint64_t s, unsigned r, uint32_t place);

/* The slab of a device page, and the page's byte offset within its slab. */
static inline uint64_t pool_map_slab_of(const struct pool_map *m, uint64_t page, uint64_t *offset)
{
	uint64_t byte = page * 4096;

	*offset = byte % m->h->slab_bytes;
	return byte / m->h->slab_bytes;
}

/* Member r of slab s missed a write: it serves no read until it is marked fresh. */
void pool_map_mark_stale(struct pool_map *m, uint64_t s, unsigned r);
/* A write's outcome on slab s: the members in `failed` (a bit each) missed it and are marked
 * stale, unless no member in `took` is fresh: then nothing is marked and false is returned
 * (marking would leave the slab without a fresh member; the write did not happen). One
 * compare-and-swap: concurrent outcomes never mark every fresh member. */
bool pool_map_mark_failed(struct pool_map *m, uint64_t s, unsigned failed, unsigned took);
bool pool_map_is_stale(const struct pool_map *m, uint64_t s, unsigned r);
/* Slab s's state: take it before copying member `from`'s pages to stale member `to`, and pass
 * it to pool_map_mark_fresh afterwards. */
uint64_t pool_map_marks(const struct pool_map *m, uint64_t s);
/* Member `to` of slab s is fresh again, unless `to` or `from` was marked since `marks` was
 * taken (then `to` may have missed a write the copy did not see, or copied one `from` missed):
 * returns whether it was marked fresh. */
bool pool_map_mark_fresh(struct pool_map *m, uint64_t s, unsigned to, unsigned from,
			 uint64_t marks);
/* Whether neither `to` nor `from` was marked since `marks` was taken (and `from` is fresh): a
 * copy made since is still good. */
bool pool_map_unmarked_since(const struct pool_map *m, uint64_t s, unsigned to, unsigned from,
			     uint64_t marks);

/* The member of slab s a read should use: not stale, its node up (up[n]), and among those the
 * node with the fewest requests in flight (load[n]); -1 when no member may serve. Members in
 * `tried` (a bit each) are skipped: a retry goes elsewhere. *place is the chosen member's
 * place as it was judged (read before its stale bit: a member moved since is stale there). */
int pool_map_pick_read(const struct pool_map *m, uint64_t s, const bool *up, const unsigned *load,
		       unsigned tried, uint32_t *place);

/* The incoming copy of slab s (see the top): true with its member and place, if there is one
 * not yet handed over. Writers load it before the members' places. */
bool pool_map_incoming(const struct pool_map *m, uint64_t s, unsigned *member, uint32_t *place);
/* The keeper begins a move of member r of slab s to `place`. */
void pool_map_set_incoming(struct pool_map *m, uint64_t s, unsigned r, uint32_t place);
/* A write to slab s's incoming copy for member r at `place` failed. Before the hand-over this
 * ends the move (the keeper finds it gone) and returns -1; once the hand-over has begun, member
 * r is that copy and missed the write: returns r (the writer counts it as r's failure). */
int pool_map_incoming_failed(struct pool_map *m, uint64_t s, unsigned r, uint32_t place);
/* The keeper hands member r's place over to its incoming copy, which has every page: false if
 * a write to it failed meanwhile (the move is over: begin again). */
bool pool_map_hand_over(struct pool_map *m, uint64_t s, unsigned r, uint32_t place);
/* Ends an unfinished move of slab s (the keeper's, when it gives up). */
void pool_map_drop_incoming(struct pool_map *m, uint64_t s);

/* Whether slab s has a stale member. */
bool pool_map_slab_degraded(const struct pool_map *m, uint64_t s);
/* Slabs with fewer than `replicas` fresh members (degraded). */
uint64_t pool_map_degraded(const struct pool_map *m);

#endif
