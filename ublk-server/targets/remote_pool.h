/* remote_pool.h — a remote device's pool of memory nodes: where each slab's copies are
 * (rdma/pool_map.h, kept in ublk<ID>.pool so a recovered daemon finds it), each node's region,
 * and the write counters that let a resync know that no write raced the pages it copied.
 *
 * With one node the pool is one slab on it (R = 1): the device's region is what it was before
 * pools. */
#ifndef LINESWAP_UBLK_REMOTE_POOL_H
#define LINESWAP_UBLK_REMOTE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "pool_map.h"
#include "remote.h"
#include "target.h"

/* Pages per write-counter chunk: a resync copies a chunk, then checks no write to it began. */
#define REMOTE_CHUNK_PAGES 64

struct remote_pool {
	struct pool_map map;
	int fd;
	void *mem;
	size_t size;
	uint32_t nnodes;
	uint32_t replicas;
	uint64_t nr_pages;
	/* Per chunk: page writes begun and finished (every member answered), by the queues. */
	uint32_t *started, *finished;
};

/* A new device (recovering false): asks each node how much memory it has free, places the
 * slabs and writes ublk<ID>.pool. A recovering daemon maps and checks the file it left.
 * Returns 0 or -errno with a message in t->error. */
int remote_pool_open(struct ublk_target *t, const struct remote_conf *rc, bool recovering,
		     struct remote_pool *p);
/* `keep`: the map stays for a later recovery; otherwise its file goes. */
void remote_pool_close(struct remote_pool *p, const struct ublk_target *t, bool keep);

/* Bytes of node n's region: a slab-sized place for each of its members, and spares; 0: it
 * holds none. */
static inline uint64_t remote_pool_region_bytes(const struct remote_pool *p, unsigned n)
{
	return (uint64_t)p->map.h->region_slots[n] * p->map.h->slab_bytes;
}

/* The slab of a device page. */
static inline uint64_t remote_pool_slab(const struct remote_pool *p, uint64_t page)
{
	uint64_t offset;

	return pool_map_slab_of(&p->map, page, &offset);
}

/* The device pages [*first, *end) of slab s (the last slab may be short). */
static inline void remote_pool_slab_pages(const struct remote_pool *p, uint64_t s, uint64_t *first,
					  uint64_t *end)
{
	*first = s * p->map.h->slab_bytes / 4096;
	*end = *first + p->map.h->slab_bytes / 4096;
	if (*end > p->nr_pages)
		*end = p->nr_pages;
}

/* The page, in node-region pages, where a copy at `place` keeps the device's `page`. */
static inline uint64_t remote_pool_node_page(const struct remote_pool *p, uint64_t page,
					     uint32_t place)
{
	uint64_t offset;

	pool_map_slab_of(&p->map, page, &offset);
	return ((uint64_t)pool_place_slot(place) * p->map.h->slab_bytes + offset) / 4096;
}

static inline void remote_pool_write_begins(struct remote_pool *p, uint64_t page)
{
	__atomic_fetch_add(&p->started[page / REMOTE_CHUNK_PAGES], 1, __ATOMIC_SEQ_CST);
}

static inline void remote_pool_write_ends(struct remote_pool *p, uint64_t page)
{
	__atomic_fetch_add(&p->finished[page / REMOTE_CHUNK_PAGES], 1, __ATOMIC_SEQ_CST);
}

/* Whether a write to page's chunk is in flight. */
static inline bool remote_pool_writing(const struct remote_pool *p, uint64_t page)
{
	uint64_t c = page / REMOTE_CHUNK_PAGES;

	return __atomic_load_n(&p->started[c], __ATOMIC_SEQ_CST) !=
	       __atomic_load_n(&p->finished[c], __ATOMIC_SEQ_CST);
}

/* Frees node n's region of `bytes` through a new link. Returns 0 or -errno with a message in
 * err. */
int remote_pool_release_node(const struct ublk_dev_conf *c, const struct remote_conf *rc,
			     unsigned n, uint64_t bytes, char *err, size_t errlen);

/* Frees the device's regions on every node that holds one (`ublk-ctl del` of a device whose
 * daemon is gone). Returns 0 or the first -errno, with a message in err. */
int remote_pool_release(const struct ublk_dev_conf *c, const struct remote_conf *rc, char *err,
			size_t errlen);

#endif
