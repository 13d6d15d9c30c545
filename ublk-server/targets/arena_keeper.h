/* arena_keeper.h — the table of a device's mmap-mode ranges (hints/arena_range.h), kept in a
 * shared file so that a recovered daemon knows which ranges are held, and the thread that
 * frees released ones.
 *
 * The hint thread grants and releases ranges (hint_server.c) under the keeper's lock. Once a
 * second the keeper looks at the released ranges: one that no process maps any more (every
 * /proc/PID/maps searched: a forked child may still read its parent's frozen heap) is
 * discarded (BLKDISCARD on the device: its pages read as zeros, its cached pages dropped)
 * and leaves the table, free for the next grant. */
#ifndef LINESWAP_ARENA_KEEPER_H
#define LINESWAP_ARENA_KEEPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena_range.h"

struct arena_keeper;

/* Maps the device's table (ublk<ID>.ranges): a recovering daemon keeps the one it finds,
 * every range in it released until its client comes back (one that does not check out turns
 * mmap mode off: arena_keeper_table is NULL); otherwise a new, empty one. Then starts the
 * thread, which frees ranges only while *live (the device serves: a discard waits for it).
 * Returns 0 or -errno with a message in err. */
int arena_keeper_start(uint32_t dev_id, uint64_t device_bytes, bool recovering,
		       const uint32_t *live, struct arena_keeper **out, char *err, size_t errlen);
/* Ends the thread; the table file is removed unless keep (the device lives on). */
void arena_keeper_stop(struct arena_keeper *k, bool keep);

struct arena_table *arena_keeper_table(struct arena_keeper *k);
pthread_mutex_t *arena_keeper_lock(struct arena_keeper *k);

/* `ublk-ctl del` of a device whose daemon died: its table goes too. */
void arena_keeper_remove(uint32_t dev_id);

#endif
