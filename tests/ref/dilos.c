/* dilos.c — DiLOS's sub-page policy, for comparison. */
#include "dilos.h"

#include "sg_plan.h"

unsigned dilos_bytes(uint64_t live)
{
	unsigned h1 = 0, h2 = 0; /* the two largest holes, in lines */

	live |= SG_ALWAYS_MASK;
	if (__builtin_popcountll(live) > 32)
		return SG_PAGE_LINES * SG_LINE_SIZE;
	for (unsigned i = 0; i < SG_PAGE_LINES;) {
		if (live >> i & 1) {
			i++;
			continue;
		}
		unsigned start = i;

		while (i < SG_PAGE_LINES && !(live >> i & 1))
			i++;
		unsigned len = i - start;

		if (len > h1) {
			h2 = h1;
			h1 = len;
		} else if (len > h2) {
			h2 = len;
		}
	}
	return (SG_PAGE_LINES - h1 - h2) * SG_LINE_SIZE;
}
