/* bench_planner — bytes moved per page by lineswap's SG planner, over mask distributions,
 * against the lower limit (live lines + the first 128 bytes), DiLOS's policy and a whole page;
 * and the planner's time per page. Prints a Markdown table. Run by: scripts/bench planner */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "dilos.h"
#include "sg_plan.h"
#include "xorshift.h"

#define PAGES 200000

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	return xorshift64(&rng_state);
}

/* Each line live with probability percent/100. */
static uint64_t independent(unsigned percent)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < 64; i++)
		if (rng() % 100 < percent)
			m |= 1ull << i;
	return m;
}

/* Live data in runs of 2..9 lines (objects of 128..576 bytes) up to about percent/100. */
static uint64_t clustered(unsigned percent)
{
	uint64_t m = 0;

	while ((unsigned)__builtin_popcountll(m) * 100 < percent * 64u) {
		unsigned at = (unsigned)(rng() % 64), len = 2 + (unsigned)(rng() % 8);

		for (unsigned i = at; i < at + len && i < 64; i++)
			m |= 1ull << i;
	}
	return m;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *name, uint64_t (*gen)(unsigned), unsigned percent)
{
	static uint64_t masks[PAGES];
	double limit = 0, dilos = 0, ls32 = 0, ls3 = 0, segs = 0;
	struct sg_plan p;

	for (int i = 0; i < PAGES; i++)
		masks[i] = gen(percent);
	double t0 = now();

	for (int i = 0; i < PAGES; i++) {
		sg_plan_page(masks[i], 32, 0, &p);
		ls32 += p.bytes;
		segs += p.nsegs;
	}
	double ns = (now() - t0) * 1e9 / PAGES;

	for (int i = 0; i < PAGES; i++) {
		sg_plan_page(masks[i], 3, 0, &p);
		ls3 += p.bytes;
		limit += __builtin_popcountll(masks[i] | LINES_ALWAYS) * LINE_SIZE;
		dilos += dilos_bytes(masks[i]);
	}
	printf("| %s %u%% | %.0f | %.0f (%.2fx) | %.1f | %.0f (%.2fx) | %.0f (%.2fx) | %.2f | %.0f "
	       "|\n",
	       name, percent, limit / PAGES, ls32 / PAGES, ls32 / limit, segs / PAGES, ls3 / PAGES,
	       ls3 / dilos, dilos / PAGES, dilos / limit, ls32 / PAGES / 4096, ns);
}

int main(void)
{
	printf("| masks (live) | limit B/page | lineswap 32 SGE B/page (vs limit) | segments | "
	       "lineswap 3 SGE B/page (vs DiLOS) | DiLOS B/page (vs limit) | lineswap / 4096 | "
	       "plan ns/page |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned pct = 10; pct <= 90; pct += 20)
		row("independent", independent, pct);
	for (unsigned pct = 10; pct <= 90; pct += 20)
		row("clustered", clustered, pct);
	return 0;
}
