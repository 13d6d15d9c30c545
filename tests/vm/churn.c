/* churn — a large churning heap of small blocks that must survive swap byte for byte: the
 * workload of lineswap's hint tests, run under LD_PRELOAD=libmimalloc-hint.so.
 *
 * Threads each fill --mib / threads MiB with blocks (--sizes: 25..1024 bytes, or a mix of every
 * size class up to mimalloc's medium objects, most of them 8- and 16-byte), every block filled with
 * a pattern of its own tag, free --dead percent of them at random (pages keep dead lines), and
 * churn: free a random block (or hand it to another thread, which checks and frees it: a
 * cross-thread free) and allocate a new one in its place, keeping the dead share. Every --verify
 * seconds each thread checks all its blocks. Under a memory cgroup smaller than the heap this swaps
 * all the time; any damage is a lost line. "churn: heap built" is printed when every thread has
 * built and fragmented its share. --seconds counts from the start, or with --after-build from
 * then on (where building the heap may take most of the time: a heap the page cache writes
 * back as it fills).
 *
 * --revive alternates phases: free most blocks at once (pages full of dead lines get swapped
 * out), then allocate into the holes as fast as possible (revivals of lines in pages being
 * swapped out). --fork forks a child after the heap is built: for half the time the child
 * checks the parent's blocks (its copy-on-write view) while the parent frees and reuses them;
 * then the parent goes on alone. --rate paces the churn to that many steps a second (all
 * threads together), so that heaps of any size are written at one rate; --wait FILE holds each
 * thread between the build and the churn until FILE exists (a benchmark shrinks the cgroup
 * meanwhile); --no-final-check leaves out the check of every block at the end (a block is
 * still checked whenever it is freed), which for a heap mostly in swap reads all of it back.
 *
 * Exit status: 0 every check passed, 1 damage (counted and the first few reported), 2 bad
 * arguments. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xorshift.h"

#define INBOX       256
#define MAX_THREADS 16

struct block {
	uint64_t *p;
	uint32_t size;
	uint64_t tag;
};

struct worker {
	unsigned id;
	pthread_t thread;
	uint64_t rng;
	struct block *slot;
	size_t nslots;
	pthread_mutex_t inbox_lock;
	struct block inbox[INBOX];
	unsigned inbox_len;
	uint64_t ops, checks;
};

static struct {
	unsigned threads, dead_pct;
	double seconds, verify_every, rate;
	const char *wait_for; /* after the build, wait until this file exists */
	size_t mib;
	bool revive, fork, after_build, no_final_check;
} opt = { .threads = 4, .dead_pct = 50, .seconds = 30, .verify_every = 5, .mib = 64 };

/* A size mix: ranges [lo, hi] picked with weights (out of their sum). */
struct size_range {
	uint32_t weight, lo, hi;
};

static const struct size_range small_sizes[] = { { 1, 25, 1024 } };
/* By count 97 % 8- and 16-byte blocks; by bytes about 11 % in them, 21 % in 17..1024, 17 % in
 * 1025..8192 and half in medium blocks (8193..131072): pages of every kind of bitmap. */
static const struct size_range mixed_sizes[] = {
	{ 6000, 1, 8 }, { 3700, 9, 16 }, { 270, 17, 1024 }, { 25, 1025, 8192 }, { 5, 8193, 131072 },
};
static const struct size_range *sizes = small_sizes;
static size_t nsizes = 1;

static uint32_t pick_size(uint64_t *rng)
{
	uint32_t total = 0, r;
	size_t i;

	for (i = 0; i < nsizes; i++)
		total += sizes[i].weight;
	r = (uint32_t)(xorshift64(rng) % total);
	for (i = 0; r >= sizes[i].weight; i++)
		r -= sizes[i].weight;
	return sizes[i].lo + (uint32_t)(xorshift64(rng) % (sizes[i].hi - sizes[i].lo + 1));
}

/* The mean block size of the mix. */
static size_t mean_size(void)
{
	double total = 0, bytes = 0;

	for (size_t i = 0; i < nsizes; i++) {
		total += sizes[i].weight;
		bytes += sizes[i].weight * (sizes[i].lo + sizes[i].hi) / 2.0;
	}
	return (size_t)(bytes / total);
}

static struct worker workers[MAX_THREADS];
static atomic_ulong damaged_blocks, reported;
static atomic_uint built; /* threads whose heap is built and fragmented */
static double started;
static atomic_ullong next_tag = 1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t word(uint64_t tag, size_t i)
{
	uint64_t x = tag * 0x9e3779b97f4a7c15ull + i;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull;
}

/* Fills b's bytes (all of them: a partial last word too) from its tag. */
static void fill(const struct block *b)
{
	size_t words = b->size / 8;

	for (size_t i = 0; i < words; i++)
		b->p[i] = word(b->tag, i);
	uint64_t last = word(b->tag, words);
	memcpy((uint8_t *)b->p + words * 8, &last, b->size % 8);
}

static bool intact(const struct block *b, const char *when)
{
	size_t words = b->size / 8;
	uint64_t last = word(b->tag, words);
	bool ok = memcmp((uint8_t *)b->p + words * 8, &last, b->size % 8) == 0;

	for (size_t i = 0; ok && i < words; i++)
		ok = b->p[i] == word(b->tag, i);
	if (!ok) {
		atomic_fetch_add(&damaged_blocks, 1);
		if (atomic_fetch_add(&reported, 1) < 5)
			fprintf(stderr, "churn %d: block %p (%u bytes, tag %llu) damaged (%s)\n",
				(int)getpid(), (void *)b->p, b->size, (unsigned long long)b->tag,
				when);
	}
	return ok;
}

static void new_block(struct worker *w, struct block *b)
{
	b->size = pick_size(&w->rng);
	b->tag = atomic_fetch_add(&next_tag, 1);
	b->p = malloc(b->size);
	if (!b->p) {
		perror("churn: malloc");
		exit(1);
	}
	fill(b);
}

/* Checks and frees what other threads handed over. */
static void empty_inbox(struct worker *w)
{
	struct block got[INBOX];
	unsigned n;

	pthread_mutex_lock(&w->inbox_lock);
	n = w->inbox_len;
	memcpy(got, w->inbox, n * sizeof(got[0]));
	w->inbox_len = 0;
	pthread_mutex_unlock(&w->inbox_lock);
	for (unsigned i = 0; i < n; i++) {
		intact(&got[i], "handed over");
		free(got[i].p);
	}
}

/* Frees b here or, one time in four, in another thread. */
static void drop(struct worker *w, struct block *b)
{
	if (opt.threads > 1 && (xorshift64(&w->rng) & 3) == 0) {
		struct worker *to = &workers[(w->id + 1 + xorshift64(&w->rng) % (opt.threads - 1)) %
					     opt.threads];

		pthread_mutex_lock(&to->inbox_lock);
		if (to->inbox_len < INBOX) {
			to->inbox[to->inbox_len++] = *b;
			b->p = NULL;
		}
		pthread_mutex_unlock(&to->inbox_lock);
	}
	if (b->p) {
		intact(b, "before free");
		free(b->p);
		b->p = NULL;
	}
}

static void check_all(struct worker *w, const char *when)
{
	for (size_t i = 0; i < w->nslots; i++)
		if (w->slot[i].p) {
			intact(&w->slot[i], when);
			w->checks++;
		}
}

/* One churn step on a random slot: keeps about dead_pct of the slots empty. */
static void step(struct worker *w, unsigned dead_pct)
{
	struct block *b = &w->slot[xorshift64(&w->rng) % w->nslots];

	if (b->p)
		drop(w, b);
	if (xorshift64(&w->rng) % 100 >= dead_pct)
		new_block(w, b);
	w->ops++;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	double end, next_check;

	for (size_t i = 0; i < w->nslots; i++)
		new_block(w, &w->slot[i]);
	/* Fragment the heap at once: the dead share of the blocks, at random. */
	if (!opt.revive)
		for (size_t i = 0; i < w->nslots; i++)
			if (xorshift64(&w->rng) % 100 < opt.dead_pct)
				drop(w, &w->slot[i]);
	/* Tests measure what moves while the heap churns from this line on. */
	if (atomic_fetch_add(&built, 1) + 1 == opt.threads) {
		printf("churn: heap built in %.1f s\n", now() - started);
		fflush(stdout);
	}
	while (opt.wait_for && access(opt.wait_for, F_OK) != 0)
		usleep(100 * 1000);
	double paced_from = now();

	end = (opt.after_build ? paced_from : started) + opt.seconds;
	next_check = now() + opt.verify_every;
	while (now() < end) {
		if (opt.revive) {
			/* most lines die at once, then come back under eviction */
			for (size_t i = 0; i < w->nslots; i++)
				if (w->slot[i].p && xorshift64(&w->rng) % 100 < 80)
					drop(w, &w->slot[i]);
			empty_inbox(w);
			usleep(200 * 1000);
			for (size_t i = 0; i < w->nslots; i++)
				if (!w->slot[i].p)
					new_block(w, &w->slot[i]);
			w->ops += w->nslots;
		} else if (opt.rate) {
			/* paced: this thread's share of --rate steps a second since the build */
			double due = (now() - paced_from) * opt.rate / opt.threads;

			while ((double)w->ops < due)
				step(w, opt.dead_pct);
			usleep(1000);
		} else {
			for (int k = 0; k < 256; k++)
				step(w, opt.dead_pct);
		}
		empty_inbox(w);
		if (now() >= next_check || opt.revive) {
			check_all(w, "periodic check");
			next_check = now() + opt.verify_every;
		}
	}
	if (!opt.no_final_check)
		check_all(w, "final check");
	return NULL;
}

/* The slot table is the test's bookkeeping, written at every step: it lives outside the heap
 * under test, whose pages then hold only blocks. */
static struct block *slots(size_t n)
{
	void *p = mmap(NULL, n * sizeof(struct block), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void start(void)
{
	size_t per_thread = opt.mib * 1024 * 1024 / opt.threads;
	size_t avg = mean_size();

	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];

		w->id = t;
		w->rng = 0x1234567 + t * 7919;
		/* the heap is built full (--mib MiB of blocks), then the dead share is freed */
		w->nslots = per_thread / avg;
		w->slot = slots(w->nslots);
		pthread_mutex_init(&w->inbox_lock, NULL);
		if (!w->slot || pthread_create(&w->thread, NULL, run, w)) {
			fprintf(stderr, "churn: cannot start thread %u\n", t);
			exit(1);
		}
	}
}

static void finish(const char *who, double t0)
{
	uint64_t ops = 0, checks = 0;

	for (unsigned t = 0; t < opt.threads; t++) {
		pthread_join(workers[t].thread, NULL);
		ops += workers[t].ops;
		checks += workers[t].checks;
	}
	for (unsigned t = 0; t < opt.threads; t++)
		empty_inbox(&workers[t]);
	printf("churn %s: %u threads, %zu MiB, %llu operations, %llu block checks, %lu damaged "
	       "blocks, %.1f s\n",
	       who, opt.threads, opt.mib, (unsigned long long)ops, (unsigned long long)checks,
	       (unsigned long)atomic_load(&damaged_blocks), now() - t0);
	fflush(stdout);
}

/* Fork mode: the parent builds its heap, forks; the child checks the snapshot while the
 * parent churns it. */
static int run_fork(double t0)
{
	size_t per_thread = opt.mib * 1024 * 1024 / opt.threads / mean_size();
	struct worker *w = &workers[0];
	int status;

	opt.threads = 1;
	w->rng = 99;
	w->nslots = per_thread * 4;
	w->slot = slots(w->nslots);
	if (!w->slot)
		return 1;
	for (size_t i = 0; i < w->nslots; i++)
		new_block(w, &w->slot[i]);
	pid_t child = fork();
	if (child < 0) {
		perror("churn: fork");
		return 1;
	}
	if (child == 0) {
		double end = now() + opt.seconds / 2; /* the parent goes on alone after */

		while (now() < end)
			check_all(w, "child's copy");
		printf("churn child: %llu block checks, %lu damaged blocks\n",
		       (unsigned long long)w->checks, (unsigned long)atomic_load(&damaged_blocks));
		fflush(stdout);
		_exit(atomic_load(&damaged_blocks) ? 1 : 0);
	}
	double end = now() + opt.seconds;
	while (now() < end) {
		for (int k = 0; k < 4096; k++)
			step(w, 75); /* frees lines the child still reads, and reuses them */
	}
	check_all(w, "parent");
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "churn: the child found damage (status %d)\n", status);
		return 1;
	}
	printf("churn fork: parent %llu operations, %lu damaged blocks, %.1f s\n",
	       (unsigned long long)w->ops, (unsigned long)atomic_load(&damaged_blocks), now() - t0);
	return atomic_load(&damaged_blocks) ? 1 : 0;
}

static int usage(FILE *out, int status)
{
	fputs("Usage: churn [--mib N] [--threads T] [--seconds S] [--dead PCT] [--verify S]\n"
	      "             [--revive | --fork] [--after-build] [--rate STEPS] [--wait FILE]\n"
	      "             [--no-final-check] [--sizes small|mixed]\n"
	      "A churning heap of 25..1024-byte blocks (small) or of every size class up to\n"
	      "128 KiB, most of them 8 and 16 bytes (mixed); every block checked (see the "
	      "source).\n"
	      "Exit status: 0 intact, 1 damage found, 2 bad arguments.\n",
	      out);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "dead", required_argument, NULL, 'd' },
		{ "verify", required_argument, NULL, 'v' },
		{ "revive", no_argument, NULL, 'r' },
		{ "fork", no_argument, NULL, 'f' },
		{ "after-build", no_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'R' },
		{ "wait", required_argument, NULL, 'W' },
		{ "no-final-check", no_argument, NULL, 'N' },
		{ "sizes", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		bool numeric = optarg && c != 'W' && c != 'S';
		double v = numeric ? strtod(optarg, &end) : 0;

		if (numeric && (*end || v <= 0))
			return usage(stderr, 2);
		switch (c) {
		case 'm':
			opt.mib = (size_t)v;
			break;
		case 't':
			opt.threads = (unsigned)v;
			break;
		case 's':
			opt.seconds = v;
			break;
		case 'd':
			opt.dead_pct = (unsigned)v;
			break;
		case 'v':
			opt.verify_every = v;
			break;
		case 'r':
			opt.revive = true;
			break;
		case 'f':
			opt.fork = true;
			break;
		case 'a':
			opt.after_build = true;
			break;
		case 'R':
			opt.rate = v;
			break;
		case 'W':
			opt.wait_for = optarg;
			break;
		case 'N':
			opt.no_final_check = true;
			break;
		case 'S':
			if (strcmp(optarg, "mixed") == 0) {
				sizes = mixed_sizes;
				nsizes = sizeof(mixed_sizes) / sizeof(mixed_sizes[0]);
			} else if (strcmp(optarg, "small") != 0) {
				fprintf(stderr, "churn: --sizes is small or mixed, not %s\n",
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
	if (optind < argc || opt.threads < 1 || opt.threads > MAX_THREADS || opt.dead_pct > 90 ||
	    opt.mib < 1 || (opt.revive && opt.fork))
		return usage(stderr, 2);
	double t0 = started = now();
	if (opt.fork)
		return run_fork(t0);
	start();
	finish(opt.revive ? "revive" : "steady", t0);
	return atomic_load(&damaged_blocks) ? 1 : 0;
}
