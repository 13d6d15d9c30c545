/* dilos.h — DiLOS's sub-page policy (EuroSys'23), as the baseline lineswap's planner is
 * compared with: a page with more than 32 of 64 lines live moves whole; otherwise the page
 * minus its two largest holes (dead runs, those at the page's edges included) moves, in at
 * most three segments. Lines 0 and 1 count as live, as lineswap always moves them. */
#ifndef LINESWAP_TEST_DILOS_H
#define LINESWAP_TEST_DILOS_H

#include <stdint.h>

/* Bytes DiLOS moves for a page with live-line mask `live`. */
unsigned dilos_bytes(uint64_t live);

#endif
