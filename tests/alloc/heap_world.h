/* heap_world.h — worker threads that churn a mimalloc heap (malloc, calloc, realloc, aligned
 * allocation, frees by the owner and by other threads, threads exiting with live blocks),
 * keep every live block's contents verifiable, and pause together so the main thread can
 * inspect or damage the heap between rounds. */
#ifndef LINESWAP_TEST_HEAP_WORLD_H
#define LINESWAP_TEST_HEAP_WORLD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page_lines.h"

#define WORLD_TRANSFERS   512
#define WORLD_MAX_THREADS 16

struct world_config {
	unsigned threads;
	unsigned slots; /* live blocks a worker may hold */
	unsigned steps; /* operations per worker per round */
	bool aligned;   /* also allocate with 64..256-byte alignment */
	uint64_t seed;
};

/* A live block: its contents are a function of tag, so damage is detected. */
struct block {
	void *p;
	size_t size;
	uint64_t tag;
};

struct world;

struct worker {
	struct world *world;
	unsigned id;
	pthread_t thread;
	uint64_t rng;
	struct block *slot;
	struct page_lines seen; /* every page a block of this worker was allocated in */
};

struct world {
	struct world_config config;
	struct worker worker[WORLD_MAX_THREADS];
	struct {
		pthread_mutex_t lock;
		struct block b;
	} transfer[WORLD_TRANSFERS]; /* blocks in flight between threads */
	pthread_barrier_t go, paused;
	bool exit_after_round;
	atomic_ulong mismatches;   /* bytes of live blocks that changed */
	atomic_ulong calloc_dirty; /* bytes of calloc'ed blocks that were not zero */
	atomic_ulong allocations;
};

/* Start the workers; they wait for world_round. */
void world_start(struct world *w, const struct world_config *config);
/* Run one round: every worker does config.steps operations, verifies all its blocks, collects
 * its heap's cross-thread frees (mi_collect), and pauses. With exit_threads the workers then
 * exit (abandoning their segments, live blocks and all) and fresh threads take their slots. */
void world_round(struct world *w, bool exit_threads);
/* Free every block and join the workers. */
void world_stop(struct world *w);

/* While paused: call fn on every live block (workers' slots and blocks in transfer). */
void world_for_each_block(struct world *w, void (*fn)(const struct block *b, void *arg), void *arg);
/* While paused: the union of the pages blocks were ever allocated in. */
void world_seen_pages(struct world *w, struct page_lines *out);
/* Bytes of b that differ from what was written (0 when intact). */
size_t world_block_damage(const struct block *b);

#endif
