/* kvstore — a Redis-shaped key-value store for the hints benchmark (DiLOS's Redis scatter-gather
 * shape, small): a chained hash table of keys with 128-byte values, in one of two layouts
 * (--layout):
 *   entry  one 144-byte block per key: the chain link, an 8-byte key and the value inline;
 *   redis  Redis's own pieces, four blocks per key: a 24-byte hash entry (key, value and chain
 *          pointers, as dictEntry), a 20-byte key string ("k:" and 16 hex digits, as an sds),
 *          a 16-byte object header (type, LRU clock and refcount, then the value's pointer, as
 *          robj) and the 128-byte value allocated on its own.
 *
 * Phases: fill --keys keys in random order; delete each with probability --delete percent, in
 * insertion order; read --reads random keys of the rest, checking every value. Each phase ends with
 * one JSON line on stdout; with --stepped the program then waits for a line on stdin before the
 * next phase (so a harness can read the device's counters between phases). Last, with --limit and
 * the hint allocator preloaded, a "limit" line gives the live lines of the pages that hold the
 * remaining keys' blocks (mi_hint_page_mask): the physical limit of what a swap of them must
 * move, as a fraction of those pages (live_fraction) and of the pages reads touch
 * (read_live_fraction, weighted by how often random reads touch each page), and of the pages some
 * reads found not resident (miss_live_fraction: the swap-ins those reads caused, the bucket and
 * key arrays' whole pages included, each weighed by its live lines). It is measured after the
 * reads (which change no page's live lines) because finding the entries touches their pages.
 *
 * Exit status: 0 every value read back intact, 1 a damaged value, 2 bad arguments. */
#include <dlfcn.h>
#include <getopt.h>
#include <sys/mman.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xorshift.h"

#define VALUE_SIZE 128
#define KEY_SIZE   20 /* "k:" + 16 hex digits + NUL, rounded as a 3-byte sds header would */
#define MAX_BLOCKS 4  /* blocks a key's lookup touches, at most */

/* The entry layout: one block a key. */
struct entry {
	struct entry *next;
	uint64_t key;
	uint8_t value[VALUE_SIZE];
};

/* The redis layout: four blocks a key. */
struct object {
	uint32_t type_lru; /* type, encoding and LRU clock */
	uint32_t refcount;
	uint8_t *value;
};

struct dict_entry {
	char *key;
	struct object *value;
	struct dict_entry *next;
};

_Static_assert(sizeof(struct dict_entry) == 24, "a dictEntry is 24 bytes");
_Static_assert(sizeof(struct object) == 16, "a robj is 16 bytes");

static bool redis;
static void **bucket; /* struct entry * or struct dict_entry * chains */
static uint64_t nbuckets;

/* With --limit, some reads probe (mincore) the page of every block or array slot before they
 * touch it: the pages that are not resident are those the read swaps in. Their live lines now
 * weigh the limit as the reads' own swap-ins do, arrays (whole pages) included. The record is
 * bounded (256 KiB, written once) so that it barely changes the footprint. */
#define MISS_CAP 32768
static uint64_t *miss; /* virtual page numbers */
static size_t nmiss;
static bool probing;

static void probe_page(uintptr_t page)
{
	unsigned char resident;

	if (nmiss < MISS_CAP && mincore((void *)(page << 12), 4096, &resident) == 0 &&
	    !(resident & 1))
		miss[nmiss++] = page;
}

static void probe(const void *p, size_t size)
{
	if (!probing)
		return;
	probe_page((uintptr_t)p >> 12);
	if (((uintptr_t)p + size - 1) >> 12 != (uintptr_t)p >> 12)
		probe_page(((uintptr_t)p + size - 1) >> 12);
}

static void *must_malloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		perror("kvstore: malloc");
		exit(1);
	}
	return p;
}

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

static void **bucket_of(uint64_t key)
{
	return &bucket[hash(key) & (nbuckets - 1)];
}

static void key_string(uint64_t key, char *s)
{
	snprintf(s, KEY_SIZE, "k:%016" PRIx64, key);
}

static void put(uint64_t key)
{
	void **b = bucket_of(key);

	if (!redis) {
		struct entry *e = must_malloc(sizeof(*e));

		e->key = key;
		value_of(key, e->value);
		e->next = *b;
		*b = e;
		return;
	}
	struct dict_entry *d = must_malloc(sizeof(*d));

	d->key = must_malloc(KEY_SIZE);
	key_string(key, d->key);
	d->value = must_malloc(sizeof(*d->value));
	d->value->type_lru = 0;
	d->value->refcount = 1;
	d->value->value = must_malloc(VALUE_SIZE);
	value_of(key, d->value->value);
	d->next = *b;
	*b = d;
}

static void del(uint64_t key)
{
	char s[KEY_SIZE];

	if (!redis) {
		for (struct entry **p = (struct entry **)bucket_of(key); *p; p = &(*p)->next)
			if ((*p)->key == key) {
				struct entry *e = *p;
				*p = e->next;
				free(e);
				return;
			}
		return;
	}
	key_string(key, s);
	for (struct dict_entry **p = (struct dict_entry **)bucket_of(key); *p; p = &(*p)->next)
		if (strcmp((*p)->key, s) == 0) {
			struct dict_entry *d = *p;
			*p = d->next;
			free(d->value->value);
			free(d->value);
			free(d->key);
			free(d);
			return;
		}
}

/* The value of key, or NULL; with blocks, the start and size of every block the lookup found
 * the key by (its chain's blocks before it left out), returning their count in *n. */
static const uint8_t *get(uint64_t key, uintptr_t *blocks, size_t *sizes, size_t *n)
{
	char s[KEY_SIZE];

	probe(bucket_of(key), sizeof(void *));
	if (!redis) {
		for (const struct entry *e = *bucket_of(key); e; e = e->next) {
			/* of another key's entry, a lookup reads only the link and the key */
			probe(e, offsetof(struct entry, value));
			if (e->key == key) {
				probe(e->value, VALUE_SIZE);
				if (blocks) {
					blocks[0] = (uintptr_t)e;
					sizes[0] = sizeof(*e);
					*n = 1;
				}
				return e->value;
			}
		}
		return NULL;
	}
	key_string(key, s);
	for (const struct dict_entry *d = *bucket_of(key); d; d = d->next) {
		probe(d, sizeof(*d));
		probe(d->key, KEY_SIZE);
		if (strcmp(d->key, s) == 0) {
			probe(d->value, sizeof(*d->value));
			probe(d->value->value, VALUE_SIZE);
			if (blocks) {
				uintptr_t b[MAX_BLOCKS] = { (uintptr_t)d, (uintptr_t)d->key,
							    (uintptr_t)d->value,
							    (uintptr_t)d->value->value };
				size_t z[MAX_BLOCKS] = { sizeof(*d), KEY_SIZE, sizeof(*d->value),
							 VALUE_SIZE };
				memcpy(blocks, b, sizeof(b));
				memcpy(sizes, z, sizeof(z));
				*n = MAX_BLOCKS;
			}
			return d->value->value;
		}
	}
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
	double per_miss, array_share; /* over the probed reads' misses (see probe) */
};

static uint64_t live_bytes(uint64_t (*mask_of)(const void *), uint64_t page)
{
	return 64 * (uint64_t)__builtin_popcountll(mask_of((void *)(page << 12)) | 3);
}

/* Whether virtual page number page holds part of the array of n 8-byte slots at a. */
static bool in_array(uint64_t page, const void *a, size_t n)
{
	return page >= (uintptr_t)a >> 12 && page <= ((uintptr_t)a + n * 8 - 1) >> 12;
}

static struct limit live_limit(const uint64_t *keys, size_t n)
{
	uint64_t (*mask_of)(const void *) =
		(uint64_t(*)(const void *))dlsym(RTLD_DEFAULT, "mi_hint_page_mask");
	uint64_t *pages = malloc(n * 2 * MAX_BLOCKS * sizeof(*pages)), bytes = 0, read_bytes = 0;
	struct limit l = { 0, -1, -1, -1, -1 };
	size_t np = 0;

	if (!mask_of || !pages) {
		free(pages);
		return l;
	}
	for (size_t i = 0; i < n; i++) {
		uintptr_t block[MAX_BLOCKS];
		size_t size[MAX_BLOCKS], nb = 0;

		get(keys[i], block, size, &nb);
		for (size_t k = 0; k < nb; k++) {
			pages[np++] = block[k] >> 12;
			if (((block[k] + size[k] - 1) >> 12) != block[k] >> 12)
				pages[np++] = (block[k] + size[k] - 1) >> 12;
		}
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

	uint64_t miss_bytes = 0, in_arrays = 0;
	for (size_t i = 0; i < nmiss; i++) {
		miss_bytes += live_bytes(mask_of, miss[i]);
		in_arrays += in_array(miss[i], bucket, nbuckets) || in_array(miss[i], keys, n);
	}
	l.per_miss = nmiss ? (double)miss_bytes / ((double)nmiss * 4096) : 0;
	l.array_share = nmiss ? (double)in_arrays / (double)nmiss : 0;
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
	      "               [--layout entry|redis]\n"
	      "A hash-table key-value store with 128-byte values, a block a key (entry) or\n"
	      "Redis's four (redis): fill, delete, read (see the source).\n",
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
		{ "layout", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t keys = 200000, reads = 100000, seed = 1, delete_pct = 73;
	bool stepped = false, with_limit = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		bool numeric = optarg && c != 'L';
		uint64_t v = numeric ? strtoull(optarg, &end, 10) : 0;

		if (numeric && (*end || !*optarg))
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
		case 'L':
			if (strcmp(optarg, "redis") == 0) {
				redis = true;
			} else if (strcmp(optarg, "entry") != 0) {
				fprintf(stderr, "kvstore: --layout is entry or redis, not %s\n",
					optarg);
				return 2;
			}
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
	uint64_t damaged = 0, probed = 0, stride = 1 + reads * 4 / MISS_CAP;
	miss = with_limit ? must_malloc(MISS_CAP * sizeof(*miss)) : NULL;
	for (uint64_t i = 0; i < reads && left; i++) {
		uint64_t *slot = &order[xorshift64(&rng) % left];

		probing = miss && i % stride == 0 && nmiss < MISS_CAP;
		probed += probing;
		probe(slot, sizeof(*slot));
		uint64_t key = *slot;
		const uint8_t *value = get(key, NULL, NULL, NULL);
		uint8_t want[VALUE_SIZE];

		value_of(key, want);
		if (!value || memcmp(value, want, VALUE_SIZE))
			damaged++;
	}
	probing = false;
	printf("{\"phase\": \"read\", \"reads\": %llu, \"damaged\": %llu, \"seconds\": %.2f}\n",
	       (unsigned long long)reads, (unsigned long long)damaged, now() - t);
	if (!with_limit)
		return damaged ? 1 : 0;
	end_phase(stepped);

	struct limit limit = live_limit(order, left);
	printf("{\"phase\": \"limit\", \"entry_pages\": %llu, \"live_fraction\": %.4f, "
	       "\"read_live_fraction\": %.4f, \"reads\": %llu, \"probed_reads\": %llu, "
	       "\"misses\": %zu, \"capped\": %s, "
	       "\"miss_live_fraction\": %.4f, \"miss_array_share\": %.4f}\n",
	       (unsigned long long)limit.pages, limit.per_page, limit.per_read,
	       (unsigned long long)reads, (unsigned long long)probed, nmiss,
	       nmiss == MISS_CAP ? "true" : "false", limit.per_miss, limit.array_share);
	end_phase(false);
	return damaged ? 1 : 0;
}
