/* slot_resolver.h — swap mode's feeder: which registered page a written swap slot holds, and
 * so which lines of it are live.
 *
 * When the kernel writes an anonymous page to swap it has already replaced the page's
 * mappings with swap entries (type, offset), and the slot stays bound to that page until the
 * write completes, which the server holds back. So a scan of /proc/PID/pagemap that starts
 * after the write arrived, finding entry (type, slot) at a client's virtual page, names the
 * page the write carries. Only pages a client has reduced are scanned (any other page is whole
 * anyway). A slot is resolved only if exactly one (client, page) holds it and that client is
 * resolvable (hint_server.h); otherwise, or once the deadline passes, it is whole. */
#ifndef LINESWAP_SLOT_RESOLVER_H
#define LINESWAP_SLOT_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hint_server.h"

/* A pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT        (1ull << 63)
#define PAGEMAP_SWAPPED        (1ull << 62)
#define PAGEMAP_SWAP_TYPE(e)   ((unsigned)((e)&0x1f))
#define PAGEMAP_SWAP_OFFSET(e) (((e) >> 5) & ((1ull << 50) - 1))

struct slot_resolve_stats {
	uint64_t slots;    /* asked */
	uint64_t resolved; /* to one client page */
	uint64_t shared;   /* found at more than one page: whole */
	uint64_t late;     /* left whole: the deadline passed, or a page-map read failed */
	uint64_t scanned;  /* pagemap entries read */
};

/* The thread that reads page maps. Reading /proc/PID/pagemap takes the process's mmap_lock,
 * which one of its threads may hold while it waits, in reclaim, for the writes being resolved:
 * the resolver waits for a read only until its deadline, and while a read is stuck it resolves
 * nothing (everything moves whole) rather than wait. */
struct pagemap_reader;
int pagemap_reader_start(struct pagemap_reader **out);
/* Ends the thread (or, if a read is stuck, leaves it to end by itself). */
void pagemap_reader_stop(struct pagemap_reader *r);

/* For each of the n slots, sets masks[i] to the live lines of the page it holds, or
 * LINES_WHOLE when it is unsure (docs/design.md, "The one invariant"), and owner[i] to the
 * index of the client it resolved to (or -1).
 * swap_type is the device's swap type (-1: not a swap area: all whole). Page maps are read
 * through r; gives up resolving at deadline_ns (CLOCK_MONOTONIC). */
void slot_resolve(struct hint_server *s, struct pagemap_reader *r, int swap_type,
		  const uint64_t *slots, size_t n, uint64_t *masks, int *owner,
		  uint64_t deadline_ns, struct slot_resolve_stats *st);

/* The swap type of the block device rdev if it is an active swap area, else -1. Types are
 * /proc/swaps's order, which is the kernel's type order as long as no area of a lower type was
 * removed while a higher one stayed. */
int swap_area_type(dev_t rdev);

#endif
