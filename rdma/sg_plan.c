/* sg_plan.c — the SG planner.
 *
 * Why the greedy choice is optimal: a plan is the set S of gaps (dead runs between two live
 * runs) it moves. With r live runs it has r - |S| segments and costs
 *     live bytes + sum over S of (gap bytes - seg_cost) + r x seg_cost,
 * and it is valid when r - |S| <= max_segs. The sum is smallest for the |S| smallest gaps, so
 * an optimal S is a prefix of the gaps sorted by size: at least r - max_segs of them, plus every
 * further gap whose bytes are below seg_cost. Gaps at the page's edges are never moved. */
#include "sg_plan.h"

#include <string.h>

struct run {
	uint8_t first, lines;
};

void sg_plan_lines(uint64_t live, unsigned nlines, unsigned max_segs, unsigned seg_cost,
		   struct sg_plan *plan)
{
	struct run runs[SG_MAX_SEGS];
	uint8_t gap_lines[SG_MAX_SEGS]; /* gap i lies between runs i and i + 1 */
	uint64_t merge = 0;             /* bit i: gap i is moved */
	unsigned nruns = 0, i = 0;

	if (nlines < PAGE_LINES)
		live &= (1ull << nlines) - 1;
	plan->nsegs = 0;
	plan->bytes = 0;
	while (i < nlines) {
		if (!(live >> i & 1)) {
			i++;
			continue;
		}
		unsigned start = i;

		while (i < nlines && (live >> i & 1))
			i++;
		if (nruns > 0)
			gap_lines[nruns - 1] =
				(uint8_t)(start - runs[nruns - 1].first - runs[nruns - 1].lines);
		runs[nruns++] = (struct run){ (uint8_t)start, (uint8_t)(i - start) };
	}
	if (nruns == 0)
		return;

	/* Choose the prefix of gaps by size: repeatedly the smallest not yet chosen (at most 31
	 * gaps, so a selection loop is as fast as a sort here). */
	unsigned need = nruns > max_segs ? nruns - max_segs : 0;

	for (unsigned chosen = 0; chosen < nruns - 1; chosen++) {
		unsigned best = nruns;

		for (unsigned g = 0; g < nruns - 1; g++)
			if (!(merge >> g & 1) && (best == nruns || gap_lines[g] < gap_lines[best]))
				best = g;
		if (chosen >= need && gap_lines[best] * LINE_SIZE >= seg_cost)
			break;
		merge |= 1ull << best;
	}

	for (unsigned r = 0; r < nruns; r++) {
		unsigned first = runs[r].first, last = first + runs[r].lines;

		while (r < nruns - 1 && (merge >> r & 1)) {
			r++;
			last = runs[r].first + runs[r].lines;
		}
		plan->seg[plan->nsegs++] =
			(struct sg_seg){ (uint16_t)(first * LINE_SIZE),
					 (uint16_t)((last - first) * LINE_SIZE) };
		plan->bytes += (last - first) * LINE_SIZE;
	}
}

void sg_plan_page(uint64_t live, unsigned max_segs, unsigned seg_cost, struct sg_plan *plan)
{
	sg_plan_lines(live | LINES_ALWAYS, PAGE_LINES, max_segs, seg_cost, plan);
}

void sg_plan_unpack(const struct sg_plan *plan, uint8_t *page, const uint8_t *src, bool packed)
{
	unsigned at = 0, from = 0;

	for (unsigned i = 0; i < plan->nsegs; i++) {
		const struct sg_seg *seg = &plan->seg[i];

		memset(page + at, 0, seg->off - at);
		memcpy(page + seg->off, src + (packed ? from : seg->off), seg->len);
		from += seg->len;
		at = seg->off + seg->len;
	}
	memset(page + at, 0, PAGE_LINES * LINE_SIZE - at);
}
