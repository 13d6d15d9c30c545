/* Single-thread allocation loops through malloc/free (pick the allocator with LD_PRELOAD):
 * for one block size, repeatedly allocate a batch of blocks, touch each, and free them in a
 * shuffled order. Prints nanoseconds per malloc+free pair.
 * Usage: bench_alloc_loop SIZE PAIRS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xorshift.h"

#define BATCH 4096

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_alloc_loop SIZE PAIRS\n");
		return 2;
	}
	size_t size = strtoul(argv[1], NULL, 0);
	unsigned long pairs = strtoul(argv[2], NULL, 0);
	if (size == 0 || pairs < BATCH) {
		fprintf(stderr, "bench_alloc_loop: bad arguments\n");
		return 2;
	}
	static void *p[BATCH];
	static unsigned order[BATCH];
	uint64_t rng = 0x2545f4914f6cdd1dull;
	struct timespec t0, t1;

	for (unsigned i = 0; i < BATCH; i++)
		order[i] = i;
	for (unsigned i = BATCH - 1; i > 0; i--) {
		unsigned j = (unsigned)(xorshift64(&rng) % (i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long done = 0; done + BATCH <= pairs; done += BATCH) {
		for (unsigned i = 0; i < BATCH; i++) {
			p[i] = malloc(size);
			*(volatile char *)p[i] = (char)i;
		}
		for (unsigned i = 0; i < BATCH; i++)
			free(p[order[i]]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("loop %zu: %.2f ns per malloc+free\n", size, ns / (double)(pairs / BATCH * BATCH));
	return 0;
}
