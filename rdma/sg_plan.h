/* sg_plan.h — the SG planner: which byte ranges of a page one work request moves.
 *
 * A page is 64 lines of 64 bytes. `live` has bit i set when line i holds live data; lines 0
 * and 1 (the first 128 bytes) are always moved, whatever their bits say. The plan is a list of
 * segments (byte offset and length in the page, ascending, disjoint) that covers every line to
 * be moved; adjacent live lines share one segment. The remote copy is the segments' bytes packed
 * in order, so a segment's remote offset is the sum of the lengths before it.
 *
 * A work request carries at most `max_segs` scatter-gather elements (the device's max_send_sge
 * or max_sge_rd: rxe 32, mlx5 30 for READ). The plan minimises bytes + seg_cost x segments
 * among all plans within max_segs: it merges runs across the gaps that are cheaper to move
 * than a segment costs, and, while there are still too many runs, across the smallest gaps
 * (moving a few dead lines, never losing a live one). */
#ifndef LINESWAP_SG_PLAN_H
#define LINESWAP_SG_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "lines.h"

#define SG_MAX_SEGS (PAGE_LINES / 2)

struct sg_seg {
	uint16_t off; /* bytes into the page */
	uint16_t len; /* bytes */
};

struct sg_plan {
	unsigned nsegs;
	unsigned bytes; /* sum of the segments' lengths */
	struct sg_seg seg[SG_MAX_SEGS];
};

/* Plans the transfer of a page with live-line mask `live`; max_segs >= 1. */
void sg_plan_page(uint64_t live, unsigned max_segs, unsigned seg_cost, struct sg_plan *plan);

/* Fills a 4 KiB page from what a plan moved, zeroing every byte the plan does not cover: the
 * plan's bytes come from `src`, packed one segment after another (`packed`), or at their own
 * offsets in a page-sized buffer. */
void sg_plan_unpack(const struct sg_plan *plan, uint8_t *page, const uint8_t *src, bool packed);

/* The same for a page of `nlines` lines (1..64) with no always-moved lines: the core of
 * sg_plan_page, exposed so tests can compare it with exhaustive search on small pages. */
void sg_plan_lines(uint64_t live, unsigned nlines, unsigned max_segs, unsigned seg_cost,
		   struct sg_plan *plan);

#endif
