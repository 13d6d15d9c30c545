/* slot_resolver.h — swap mode's feeder: which registered page a written swap slot holds, and
 * so which lines of it are live.
 *
 * When the kernel writes an anonymous page to swap it has already replaced the page's
 * mappings with swap entries (type, offset), and the slot stays bound to that page until the
 * write completes, which the server holds back. So an entry (type, slot) read from
 * /proc/PID/pagemap at a client's virtual page after the write arrived names the page the
 * write carries. Only pages a client has reduced are looked at (any other page is whole
 * anyway). A slot is resolved only if exactly one (client, page) read holds it and that client
 * is resolvable (hint_server.h); otherwise, or once the deadline passes, it is whole.
 *
 * Which entries a round reads. Without PAGEMAP_SCAN (Linux < 6.7), every reduced page's, each
 * round: the cost follows the heap. With it, the kernel lists the swapped-out runs of the
 * reduced pages (a page-table walk, no entry copied), and the round reads only pages swapped
 * out since a round last read them (their `swapped` bit in the view is clear), and the recent
 * ones (read in the last recent_ns) whose entry named a slot this round asks for: the reads
 * follow the evictions, not the heap. A page is read again once a scan finds it no longer
 * swapped out or its mask changes. What this gives up: a page swapped in and out again
 * between two scans keeps its bit, so its new slot is not found and moves whole (safe). It
 * also reads one holder of a slot where every holder used to be read: an anonymous page has
 * two holders only when shared after fork (or merged by KSM, which the allocator never asks
 * for), and a client that forked is not resolvable. Claims are made only from entries read in
 * this round, after its writes arrived. */
#ifndef LINESWAP_SLOT_RESOLVER_H
#define LINESWAP_SLOT_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hint_server.h"
#include "pagemap_reader.h"

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
	uint64_t walked;   /* pages PAGEMAP_SCAN walked */
};

/* The page-map reader and what a round keeps between rounds. */
struct slot_resolver;

/* recent_ns: how long a page newly found swapped out is read again when a round asks for the
 * slot it held (its write may come in a later round than the scan that found it). */
int slot_resolver_start(struct slot_resolver **out, uint64_t recent_ns);
void slot_resolver_stop(struct slot_resolver *sr);
/* The memory it holds: its arrays and its reader's (the views' recent pages are the views'). */
uint64_t slot_resolver_bytes(struct slot_resolver *sr);
/* Scans go through scan (unit tests), or with NULL never happen: every reduced page is read, as
 * when the kernel has no PAGEMAP_SCAN. */
void slot_resolver_set_scan(struct slot_resolver *sr, pagemap_scan_fn scan);

/* For each of the n slots, sets masks[i] to the live lines of the page it holds, or
 * LINES_WHOLE when it is unsure (docs/design.md, "The one invariant"), and owner[i] to the
 * index of the client it resolved to (or -1).
 * swap_type is the device's swap type (-1: not a swap area: all whole). Gives up resolving at
 * deadline_ns (CLOCK_MONOTONIC). */
void slot_resolve(struct hint_server *s, struct slot_resolver *sr, int swap_type,
		  const uint64_t *slots, size_t n, uint64_t *masks, int *owner,
		  uint64_t deadline_ns, struct slot_resolve_stats *st);

/* The swap type of the block device rdev if it is an active swap area, else -1. Types are
 * /proc/swaps's order, which is the kernel's type order as long as no area of a lower type was
 * removed while a higher one stayed. */
int swap_area_type(dev_t rdev);

#endif
