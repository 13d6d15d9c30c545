/* arena_range.h — the ranges of a device that the hint server grants to clients in mmap mode.
 *
 * A client in mmap mode maps a range of the device as its heap, so a device page is that
 * client's page base + (page - first) * 4096: masks reach the table by offset, without the
 * page map. Ranges never overlap, lie inside the device, and start and end on ARENA_ALIGN
 * bytes. A range is granted (to one client), or released (its client is gone, but its pages
 * may still be mapped: it is freed — its pages discarded — only once nothing maps it), or
 * discarding (nothing mapped it when the keeper looked: it cannot be taken while its pages
 * are discarded), or free (not in the table). A range remembers that its client forked
 * (frozen): its pages move whole for good, whoever takes it back. The table is bounded
 * (ARENA_MAX_RANGES) and may be a file's memory: a change is ordered so that a crash midway
 * leaves at worst a range twice, never one lost (arena_table_check repairs that). */
#ifndef LINESWAP_ARENA_RANGE_H
#define LINESWAP_ARENA_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#define ARENA_ALIGN      (32ull << 20) /* mimalloc 2.0.9's segment: its arenas use whole ones */
#define ARENA_MAX_RANGES 512

enum arena_state {
	ARENA_GRANTED,
	ARENA_RELEASED,
	ARENA_DISCARDING,
};

struct arena_range {
	uint64_t offset, bytes; /* in the device */
	uint32_t owner;         /* the client it was granted to */
	enum arena_state state;
	bool frozen;
};

struct arena_table {
	uint64_t device_bytes;
	unsigned n;                                 /* ranges in the table, sorted by offset */
	struct arena_range range[ARENA_MAX_RANGES]; /* granted or released */
};

void arena_table_init(struct arena_table *t, uint64_t device_bytes);

/* Grants `bytes` (rounded up to ARENA_ALIGN) to owner at the lowest offset where they fit.
 * Returns 0 with the range's offset and size, -EINVAL for 0 bytes, -ENOSPC when no gap is
 * large enough (or the table is full). */
int arena_grant(struct arena_table *t, uint64_t bytes, uint32_t owner, uint64_t *offset,
		uint64_t *granted);

/* Grants exactly [offset, offset + bytes) to owner: a client that held it under an earlier
 * daemon takes it back, free or released (exactly that range; a frozen one stays frozen).
 * -EINVAL unless it is aligned and inside the device; -EBUSY if it overlaps any other range
 * in the table, or a granted or discarding one; -ENOSPC when the table is full. */
int arena_take(struct arena_table *t, uint64_t offset, uint64_t bytes, uint32_t owner);

/* The granted range that holds device byte `at`, or NULL. */
const struct arena_range *arena_find(const struct arena_table *t, uint64_t at);

/* Owner is gone: its range (if any) becomes released. Returns whether it had one. */
bool arena_release(struct arena_table *t, uint32_t owner);

/* The range owner holds was frozen (its client forked). */
void arena_freeze(struct arena_table *t, uint32_t owner);

/* The keeper: a released range at offset is to be discarded (false unless it is released).
 * Then, once it knows, the range either was discarded (it leaves the table) or is still
 * mapped (released again). */
bool arena_discard_begin(struct arena_table *t, uint64_t offset);
void arena_discard_end(struct arena_table *t, uint64_t offset, bool discarded);

/* A table read back from a file (a recovered daemon): repairs what a crash midway through a
 * change left (a range twice), and returns false when it is not a table of this device at
 * all (misaligned, overlapping, outside the device, unknown states). */
bool arena_table_check(struct arena_table *t, uint64_t device_bytes);

#endif
