/* clock.h — the monotonic clock in nanoseconds, for deadlines and latencies. */
#ifndef LINESWAP_CLOCK_H
#define LINESWAP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The same clock as of the last tick (1-10 ms old), for pacing work on hot paths: it reads no
 * hardware counter, which can cost more than the work it paces (a VM's clock source). */
static inline uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
