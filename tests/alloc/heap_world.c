/* Worker threads churning a mimalloc heap, with verifiable contents (see heap_world.h). */
#include "heap_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>
#include <mimalloc-internal.h> /* MI_MEDIUM_OBJ_SIZE_MAX */

#include "xorshift.h"

#define FILL_MIX 0x9e3779b97f4a7c15ull

/* The 8 bytes at word k of a block with this tag. Never all-zero in practice, so a line that
 * comes back as zeros is caught as surely as one that comes back as garbage. */
static inline uint64_t fill_word(uint64_t tag, size_t k)
{
	return tag ^ ((k + 1) * FILL_MIX);
}

static void fill(struct block *b)
{
	uint8_t *p = b->p;
	size_t k = 0;

	for (; (k + 1) * 8 <= b->size; k++) {
		uint64_t v = fill_word(b->tag, k);
		memcpy(p + k * 8, &v, 8);
	}
	uint64_t v = fill_word(b->tag, k);
	memcpy(p + k * 8, &v, b->size - k * 8);
}

size_t world_block_damage(const struct block *b)
{
	const uint8_t *p = b->p;
	size_t bad = 0;

	for (size_t k = 0; k * 8 < b->size; k++) {
		uint64_t v = fill_word(b->tag, k);
		size_t n = b->size - k * 8 < 8 ? b->size - k * 8 : 8;
		for (size_t i = 0; i < n; i++)
			bad += p[k * 8 + i] != ((const uint8_t *)&v)[i];
	}
	return bad;
}

static void check(struct worker *k, const struct block *b, const char *what)
{
	size_t bad = world_block_damage(b);

	if (bad == 0)
		return;
	if (atomic_fetch_add(&k->world->mismatches, bad) == 0)
		fprintf(stderr, "heap_world: %s: block %p (%zu bytes) has %zu damaged bytes\n",
			what, b->p, b->size, bad);
}

/* Every size class up to mimalloc's medium objects (pages with a free bitmap: a third of
 * 8..24-byte blocks, whose bitmaps lie in their pages), and a few larger blocks (whole). */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = xorshift64(rng);

	switch (r % 30) {
	case 0 ... 9:
		return 1 + (r >> 8) % 24;
	case 10 ... 13:
		return 1025 + (r >> 8) % 7168;
	case 14:
		return 8193 + (r >> 8) % (MI_MEDIUM_OBJ_SIZE_MAX - 8192);
	case 15:
		return (r >> 8) % 4 == 0 ? MI_MEDIUM_OBJ_SIZE_MAX + 1 + (r >> 16) % 65536
					 : 25 + (r >> 8) % 1000;
	default:
		return 25 + (r >> 8) % 1000;
	}
}

static void note_pages(struct worker *k, const struct block *b)
{
	uintptr_t first = (uintptr_t)b->p & ~(uintptr_t)4095;

	for (uintptr_t pg = first; pg < (uintptr_t)b->p + b->size; pg += 4096)
		page_lines_add(&k->seen, pg, 0);
}

static void allocate(struct worker *k, struct block *b)
{
	uint64_t r = xorshift64(&k->rng);

	b->size = pick_size(&k->rng);
	b->tag = xorshift64(&k->rng) | 1;
	if (r % 8 == 0) {
		b->p = mi_calloc(1, b->size);
		const uint8_t *p = b->p;
		size_t dirty = 0;
		for (size_t i = 0; p != NULL && i < b->size; i++)
			dirty += p[i] != 0;
		if (dirty != 0 && atomic_fetch_add(&k->world->calloc_dirty, dirty) == 0)
			fprintf(stderr, "heap_world: calloc(%zu) = %p has %zu non-zero bytes\n",
				b->size, b->p, dirty);
	} else if (r % 8 == 1 && k->world->config.aligned) {
		b->p = mi_malloc_aligned(b->size, (size_t)64 << ((r >> 8) % 3));
	} else {
		b->p = mi_malloc(b->size);
	}
	if (b->p == NULL)
		abort();
	atomic_fetch_add(&k->world->allocations, 1);
	fill(b);
	note_pages(k, b);
}

static void reallocate(struct worker *k, struct block *b)
{
	struct block old = *b;
	size_t keep;

	check(k, b, "before realloc");
	b->size = pick_size(&k->rng);
	b->p = mi_realloc(b->p, b->size);
	if (b->p == NULL)
		abort();
	keep = old.size < b->size ? old.size : b->size;
	old.p = b->p;
	old.size = keep;
	check(k, &old, "realloc kept prefix");
	b->tag = xorshift64(&k->rng) | 1;
	fill(b);
	note_pages(k, b);
}

/* Swap a block with a transfer slot: another thread will free or keep it. */
static void exchange(struct worker *k, struct block *b)
{
	struct world *w = k->world;
	unsigned t = (unsigned)(xorshift64(&k->rng) % WORLD_TRANSFERS);
	struct block in;

	pthread_mutex_lock(&w->transfer[t].lock);
	in = w->transfer[t].b;
	w->transfer[t].b = *b;
	pthread_mutex_unlock(&w->transfer[t].lock);
	*b = in;
	if (b->p != NULL)
		check(k, b, "received from another thread");
}

static void step(struct worker *k)
{
	struct block *b = &k->slot[xorshift64(&k->rng) % k->world->config.slots];

	if (b->p == NULL) {
		allocate(k, b);
		return;
	}
	switch (xorshift64(&k->rng) % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		check(k, b, "before free");
		mi_free(b->p);
		b->p = NULL;
		break;
	case 4:
	case 5:
		reallocate(k, b);
		break;
	case 6:
	case 7:
		exchange(k, b);
		break;
	default:
		check(k, b, "verify");
	}
}

static void release_all(struct worker *k)
{
	for (unsigned i = 0; i < k->world->config.slots; i++) {
		if (k->slot[i].p != NULL) {
			check(k, &k->slot[i], "at exit");
			mi_free(k->slot[i].p);
			k->slot[i].p = NULL;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	struct world *w = k->world;

	for (;;) {
		pthread_barrier_wait(&w->go);
		bool stopping = w->config.steps == 0;
		if (stopping)
			release_all(k);
		for (unsigned i = 0; i < w->config.steps; i++)
			step(k);
		pthread_barrier_wait(&w->paused); /* nobody frees any more: collect */
		for (unsigned i = 0; i < w->config.slots; i++)
			if (k->slot[i].p != NULL)
				check(k, &k->slot[i], "after round");
		mi_collect(false);
		bool exiting = stopping || w->exit_after_round;
		pthread_barrier_wait(&w->paused);
		if (exiting)
			return NULL;
	}
}

static void spawn(struct world *w)
{
	for (unsigned i = 0; i < w->config.threads; i++)
		if (pthread_create(&w->worker[i].thread, NULL, worker_main, &w->worker[i]) != 0)
			abort();
}

void world_start(struct world *w, const struct world_config *config)
{
	memset(w, 0, sizeof(*w));
	w->config = *config;
	if (config->threads == 0 || config->threads > WORLD_MAX_THREADS || config->slots == 0)
		abort();
	for (unsigned i = 0; i < WORLD_TRANSFERS; i++)
		pthread_mutex_init(&w->transfer[i].lock, NULL);
	pthread_barrier_init(&w->go, NULL, config->threads + 1);
	pthread_barrier_init(&w->paused, NULL, config->threads + 1);
	for (unsigned i = 0; i < config->threads; i++) {
		struct worker *k = &w->worker[i];
		k->world = w;
		k->id = i;
		k->rng = (config->seed + i) * FILL_MIX | 1;
		k->slot = calloc(config->slots, sizeof(*k->slot));
		if (k->slot == NULL)
			abort();
		page_lines_init(&k->seen);
	}
	spawn(w);
}

static void join(struct world *w)
{
	for (unsigned i = 0; i < w->config.threads; i++)
		pthread_join(w->worker[i].thread, NULL);
}

/* Let the workers run one round (see worker_main) and wait until they pause. */
static void run_round(struct world *w)
{
	pthread_barrier_wait(&w->go);
	pthread_barrier_wait(&w->paused);
	pthread_barrier_wait(&w->paused);
}

void world_round(struct world *w, bool exit_threads)
{
	w->exit_after_round = exit_threads;
	run_round(w);
	if (exit_threads) {
		join(w);
		spawn(w);
	}
}

void world_stop(struct world *w)
{
	w->config.steps = 0;
	run_round(w);
	join(w);
	for (unsigned i = 0; i < WORLD_TRANSFERS; i++) {
		struct block *b = &w->transfer[i].b;
		if (b->p != NULL) {
			atomic_fetch_add(&w->mismatches, world_block_damage(b));
			mi_free(b->p);
			b->p = NULL;
		}
		pthread_mutex_destroy(&w->transfer[i].lock);
	}
	for (unsigned i = 0; i < w->config.threads; i++) {
		free(w->worker[i].slot);
		page_lines_free(&w->worker[i].seen);
	}
	pthread_barrier_destroy(&w->go);
	pthread_barrier_destroy(&w->paused);
}

void world_for_each_block(struct world *w, void (*fn)(const struct block *b, void *arg), void *arg)
{
	for (unsigned i = 0; i < w->config.threads; i++)
		for (unsigned s = 0; s < w->config.slots; s++)
			if (w->worker[i].slot[s].p != NULL)
				fn(&w->worker[i].slot[s], arg);
	for (unsigned i = 0; i < WORLD_TRANSFERS; i++)
		if (w->transfer[i].b.p != NULL)
			fn(&w->transfer[i].b, arg);
}

void world_seen_pages(struct world *w, struct page_lines *out)
{
	for (unsigned i = 0; i < w->config.threads; i++) {
		const struct page_lines *s = &w->worker[i].seen;
		for (size_t j = 0; j < s->cap; j++)
			if (s->page[j] != 0)
				page_lines_add(out, s->page[j], 0);
	}
}
