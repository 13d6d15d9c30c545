/* kvstore — a Redis-shaped key-value store for the hints benchmark (DiLOS's Redis scatter-gather
 * shape, small): a chained hash table whose entries hold 8-byte keys and 128-byte values.
 *
 * Phases: fill --keys keys in random order; delete each with probability --delete percent, in
 * insertion order; read --reads random keys of the rest, checking every value. Each phase ends with
 * one JSON line on stdout; with --stepped the program then waits for a line on stdin before the
 * next phase (so a harness can read the device's counters between phases). Last, with --limit and
 * the hint allocator preloaded, a "limit" line gives the live lines of the pages that hold the
 * remaining entries (mi_hint_page_mask): the physical limit of what a swap of them must move, as
 * a fraction of those pages (live_fraction) and of the pages reads touch (read_live_fraction,
 * weighted by how often random reads touch each page). It is measured after the reads (which
 * change no page's live lines) because finding the entries touches their pages.
 *
 * Exit status: 0 every value read back intact, 1 a damaged value, 2 bad arguments. */
#include <dlfcn.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xorshift.h"

#define VALUE_SIZE 128

struct entry {
	struct entry *next;
	uint64_t key;
	uint8_t value[VALUE_SIZE];
};

static struct entry **bucket;
static uint64_t nbuckets;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t hash(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return key;
}

static void value_of(uint64_t key, uint8_t *v)
{
	uint64_t x = key * 0x9e3779b97f4a7c15ull + 1;

	for (int i = 0; i < VALUE_SIZE; i += 8) {
		uint64_t w = xorshift64(&x);
		memcpy(v + i, &w, 8);
	}
}

static void put(uint64_t key)
{
	struct entry *e = malloc(sizeof(*e));
	struct entry **b = &bucket[hash(key) & (nbuckets - 1)];

	if (!e) {
		perror("kvstore: malloc");
		exit(1);
	}
	e->key = key;
	value_of(key, e->value);
	e->next = *b;
	*b = e;
}

static void del(uint64_t key)
{
	for (struct entry **p = &bucket[hash(key) & (nbuckets - 1)]; *p; p = &(*p)->next)
		if ((*p)->key == key) {
			struct entry *e = *p;
			*p = e->next;
			free(e);
			return;
		}
}

static const struct entry *get(uint64_t key)
{
	for (const struct entry *e = bucket[hash(key) & (nbuckets - 1)]; e; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

static void shuffle(uint64_t *a, uint64_t n, uint64_t *rng)
{
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = xorshift64(rng) % (i + 1), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The physical limit of the remaining entries' swaps, from the hint allocator's live lines (lines 0
 * and 1 always move): over the distinct pages holding them (fraction of those pages), and per page
 * a read touches (a page holding more live entries is read, so swapped in, more often); -1 when
 * the hint allocator is not preloaded. */
struct limit {
	uint64_t pages;
	double per_page, per_read;
};

static uint64_t live_bytes(uint64_t (*mask_of)(const void *), uint64_t page)
{
	return 64 * (uint64_t)__builtin_popcountll(mask_of((void *)(page << 12)) | 3);
}

static struct limit live_limit(const uint64_t *keys, size_t n)
{
	uint64_t (*mask_of)(const void *) =
		(uint64_t(*)(const void *))dlsym(RTLD_DEFAULT, "mi_hint_page_mask");
	uint64_t *pages = malloc(n * 2 * sizeof(*pages)), bytes = 0, read_bytes = 0;
	struct limit l = { 0, -1, -1 };
	size_t np = 0;

	if (!mask_of || !pages) {
		free(pages);
		return l;
	}
	for (size_t i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)get(keys[i]);

		pages[np++] = p >> 12;
		if (((p + sizeof(struct entry) - 1) >> 12) != p >> 12)
			pages[np++] = (p + sizeof(struct entry) - 1) >> 12;
	}
	qsort(pages, np, sizeof(*pages), cmp_u64);
	uint64_t b = 0; /* the live bytes of pages[i], counted as often as reads touch it */
	for (size_t i = 0; i < np; i++) {
		if (!i || pages[i] != pages[i - 1]) {
			b = live_bytes(mask_of, pages[i]);
			l.pages++;
			bytes += b;
		}
		read_bytes += b;
	}
	l.per_read = np ? (double)read_bytes / ((double)np * 4096) : 0;
	free(pages);
	l.per_page = l.pages ? (double)bytes / ((double)l.pages * 4096) : 0;
	return l;
}

static void end_phase(bool stepped)
{
	char line[16];

	fflush(stdout);
	if (stepped && !fgets(line, sizeof(line), stdin))
		exit(1);
}

static int usage(FILE *out, int status)
{
	fputs("Usage: kvstore [--keys N] [--delete PCT] [--reads N] [--seed S] [--stepped] "
	      "[--limit]\n"
	      "A hash-table key-value store with 128-byte values: fill, delete, read (see the "
	      "source).\n",
	      out);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "delete", required_argument, NULL, 'd' },
		{ "reads", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "stepped", no_argument, NULL, 'S' },
		{ "limit", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t keys = 200000, reads = 100000, seed = 1, delete_pct = 73;
	bool stepped = false, with_limit = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		uint64_t v = optarg ? strtoull(optarg, &end, 10) : 0;

		if (optarg && (*end || !*optarg))
			return usage(stderr, 2);
		switch (c) {
		case 'k':
			keys = v;
			break;
		case 'd':
			delete_pct = v;
			break;
		case 'r':
			reads = v;
			break;
		case 's':
			seed = v ? v : 1;
			break;
		case 'S':
			stepped = true;
			break;
		case 'l':
			with_limit = true;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc || keys < 1 || delete_pct > 99)
		return usage(stderr, 2);

	uint64_t rng = seed * 0x2545f4914f6cdd1dull, *order = malloc(keys * sizeof(*order));
	for (nbuckets = 1; nbuckets < keys; nbuckets *= 2)
		;
	bucket = calloc(nbuckets, sizeof(*bucket));
	if (!order || !bucket)
		return 1;
	for (uint64_t i = 0; i < keys; i++)
		order[i] = i;
	shuffle(order, keys, &rng); /* random insertion order */

	double t = now();
	for (uint64_t i = 0; i < keys; i++)
		put(order[i]);
	printf("{\"phase\": \"fill\", \"keys\": %llu, \"seconds\": %.2f}\n",
	       (unsigned long long)keys, now() - t);
	end_phase(stepped);

	t = now();
	/* Each key is deleted with probability delete_pct, visited in insertion order (as keys
	 * set with one time-to-live expire). Visited in an order of their own instead, the deletes
	 * would dirty every page about 20 times while it is still mostly live (see
	 * docs/benchmarks.md). */
	size_t left = 0;
	for (uint64_t i = 0; i < keys; i++) {
		if (xorshift64(&rng) % 100 < delete_pct)
			del(order[i]);
		else
			order[left++] = order[i];
	}
	printf("{\"phase\": \"delete\", \"deleted\": %llu, \"left\": %zu, \"seconds\": %.2f}\n",
	       (unsigned long long)(keys - left), left, now() - t);
	end_phase(stepped);

	t = now();
	uint64_t damaged = 0;
	for (uint64_t i = 0; i < reads && left; i++) {
		uint64_t key = order[xorshift64(&rng) % left];
		const struct entry *e = get(key);
		uint8_t want[VALUE_SIZE];

		value_of(key, want);
		if (!e || memcmp(e->value, want, VALUE_SIZE))
			damaged++;
	}
	printf("{\"phase\": \"read\", \"reads\": %llu, \"damaged\": %llu, \"seconds\": %.2f}\n",
	       (unsigned long long)reads, (unsigned long long)damaged, now() - t);
	if (!with_limit)
		return damaged ? 1 : 0;
	end_phase(stepped);

	struct limit limit = live_limit(order, left);
	printf("{\"phase\": \"limit\", \"entry_pages\": %llu, \"live_fraction\": %.4f, "
	       "\"read_live_fraction\": %.4f}\n",
	       (unsigned long long)limit.pages, limit.per_page, limit.per_read);
	end_phase(false);
	return damaged ? 1 : 0;
}
