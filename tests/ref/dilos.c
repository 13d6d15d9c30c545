/* dilos.c — DiLOS's sub-page policy, for comparison. */
#include "dilos.h"

#include "sg_plan.h"

unsigned dilos_bytes(uint64_t live)
{
	unsigned h1 = 0, h2 = 0; /* the two largest holes, in lines */

	live |= LINES_ALWAYS;
	if (__builtin_popcountll(live) > 32)
		return PAGE_LINES * LINE_SIZE;
	for (unsigned i = 0; i < PAGE_LINES;) {
		if (live >> i & 1) {
			i++;
			continue;
		}
		unsigned start = i;

		while (i < PAGE_LINES && !(live >> i & 1))
			i++;
		unsigned len = i - start;

		if (len > h1) {
			h2 = h1;
			h1 = len;
		} else if (len > h2) {
			h2 = len;
		}
	}
	return (PAGE_LINES - h1 - h2) * LINE_SIZE;
}
