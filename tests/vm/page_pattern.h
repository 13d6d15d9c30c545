/* page_pattern.h — what the VM's memory checkers (memhog, mapcheck) write into every page:
 * a word derived from the page's index, the word's index and a salt (a pass, a seed), so that
 * a page back from swap or from the device can be checked word by word. */
#ifndef LINESWAP_TEST_PAGE_PATTERN_H
#define LINESWAP_TEST_PAGE_PATTERN_H

#include <stdint.h>
#include <time.h>

#define PAGE  4096u
#define WORDS (PAGE / sizeof(uint64_t))

static inline uint64_t page_pattern(uint64_t page, uint64_t word, uint64_t salt)
{
	uint64_t x = (page << 20) ^ (word << 8) ^ salt ^ 0x9e3779b97f4a7c15ull;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
