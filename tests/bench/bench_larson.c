/* A larson-like server workload, through malloc/free (pick the allocator with LD_PRELOAD):
 * each thread owns an array of blocks and replaces random ones with blocks of a random size;
 * after each round it hands its array to a fresh thread, so most blocks are freed by a thread
 * other than the one that allocated them. Prints operations per second.
 * Usage: bench_larson THREADS ROUNDS OPS-PER-ROUND SLOTS MIN-SIZE MAX-SIZE */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xorshift.h"

struct arena {
	void **slot;
	uint64_t rng;
};

static unsigned long ops, nslots, min_size, max_size;

static void *worker(void *arg)
{
	struct arena *a = arg;

	for (unsigned long i = 0; i < ops; i++) {
		unsigned long s = xorshift64(&a->rng) % nslots;
		size_t size = min_size + xorshift64(&a->rng) % (max_size - min_size + 1);
		free(a->slot[s]);
		a->slot[s] = malloc(size);
		if (a->slot[s] == NULL)
			abort();
		memset(a->slot[s], (int)i, size < 16 ? size : 16);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: bench_larson THREADS ROUNDS OPS SLOTS MIN-SIZE MAX-SIZE\n");
		return 2;
	}
	unsigned long threads = strtoul(argv[1], NULL, 0), rounds = strtoul(argv[2], NULL, 0);
	ops = strtoul(argv[3], NULL, 0);
	nslots = strtoul(argv[4], NULL, 0);
	min_size = strtoul(argv[5], NULL, 0);
	max_size = strtoul(argv[6], NULL, 0);
	if (threads == 0 || threads > 64 || nslots == 0 || min_size == 0 || max_size < min_size) {
		fprintf(stderr, "bench_larson: bad arguments\n");
		return 2;
	}
	struct arena arena[64];
	pthread_t tid[64];
	struct timespec t0, t1;

	for (unsigned long t = 0; t < threads; t++) {
		arena[t].slot = calloc(nslots, sizeof(void *));
		arena[t].rng = 0x9e3779b97f4a7c15ull * (t + 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long r = 0; r < rounds; r++) {
		for (unsigned long t = 0; t < threads; t++)
			pthread_create(&tid[t], NULL, worker, &arena[t]);
		for (unsigned long t = 0; t < threads; t++)
			pthread_join(tid[t], NULL);
		/* the next round's thread t takes arena t+1: blocks change hands */
		struct arena first = arena[0];
		memmove(arena, arena + 1, (threads - 1) * sizeof(arena[0]));
		arena[threads - 1] = first;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("larson: %.0f ops/s\n", (double)(threads * rounds * ops) / s);
	for (unsigned long t = 0; t < threads; t++) {
		for (unsigned long i = 0; i < nslots; i++)
			free(arena[t].slot[i]);
		free(arena[t].slot);
	}
	return 0;
}
