/* xorshift.h — a small, fast, reproducible random stream for tests and benchmarks. */
#ifndef LINESWAP_TEST_XORSHIFT_H
#define LINESWAP_TEST_XORSHIFT_H

#include <stdint.h>

/* The next value of the xorshift64 stream in *state (which must not be 0). */
static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

#endif
