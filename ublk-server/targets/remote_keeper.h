/* remote_keeper.h — the remote target's keeper thread: it keeps the pool whole, off the I/O
 * path.
 *
 * Links: a queue whose link to a node broke asks the keeper for a new one and takes it when it
 * is ready; connecting (which may block for the connect timeout on a node that is gone) never
 * happens on a queue thread. A node that answers without the device's region restarted and
 * lost its copies: the keeper marks them (remote.c, top comment) before it creates the region
 * anew.
 *
 * Resync: a stale copy on a node that is up is brought up to date from a fresh copy, chunk by
 * chunk (REMOTE_CHUNK_PAGES): a chunk is copied while no write to it is in flight, and copied
 * again if a write began meanwhile; the copy is marked fresh only if no copy of its slab was
 * marked stale during the resync (pool_map_mark_fresh). Writes keep going to a stale copy
 * whose node is up, so once it has every page it stays up to date. */
#ifndef LINESWAP_UBLK_REMOTE_KEEPER_H
#define LINESWAP_UBLK_REMOTE_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page_store.h"
#include "remote.h"
#include "remote_pool.h"
#include "stats.h"

struct remote_keeper_conf {
	/* The daemon's record, and the target's copy of its part with the secret: only the
	 * keeper changes them once the device runs (a node added). */
	struct ublk_dev_conf *conf;
	struct remote_conf *rc;
	struct remote_pool *pool;
	struct remote_admin *admin; /* requests from ublk-ctl node */
	uint64_t *entries;          /* the device's per-page entries */
	uint64_t *versions;         /* and versions (remote.h) */
	uint64_t nr_pages;
	struct ublk_pool_stats *stats; /* written by the keeper alone */
};

struct remote_keeper;

int remote_keeper_start(const struct remote_keeper_conf *c, struct remote_keeper **out, char *err,
			size_t errlen);
/* Stops the thread and closes the links no queue took. */
void remote_keeper_stop(struct remote_keeper *k);

/* Queue q's link to node n is gone: the keeper opens a new one. Queue thread; no blocking. */
void remote_keeper_want(struct remote_keeper *k, unsigned q, unsigned n);
/* The link the keeper opened for queue q to node n, now the queue's; NULL if none yet. */
struct page_store *remote_keeper_take(struct remote_keeper *k, unsigned q, unsigned n);

#endif
