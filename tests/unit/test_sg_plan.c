/* Unit tests: the SG planner (rdma/sg_plan.c) — valid plans, optimal against exhaustive search
 * on every mask of a 12-line page and against a dynamic program on random 64-line masks, and
 * never more bytes than DiLOS's policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dilos.h"
#include "sg_plan.h"
#include "xorshift.h"

static const unsigned costs[] = { 0, 1, 64, 100, 128, 200, 1000 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	return xorshift64(&rng_state);
}

/* A plan is valid: ascending, disjoint, within the page, line-aligned, no more than max_segs
 * segments, bytes summed right, and it covers every live line. */
static void check_valid(uint64_t live, unsigned nlines, unsigned max_segs, const struct sg_plan *p)
{
	uint64_t covered = 0;
	unsigned bytes = 0, end = 0;

	if (nlines < 64)
		live &= (1ull << nlines) - 1;
	assert_true(p->nsegs <= max_segs);
	assert_true(live == 0 || p->nsegs >= 1);
	for (unsigned s = 0; s < p->nsegs; s++) {
		assert_int_equal(p->seg[s].off % LINE_SIZE, 0);
		assert_int_equal(p->seg[s].len % LINE_SIZE, 0);
		assert_true(p->seg[s].len > 0);
		assert_true(s == 0 || p->seg[s].off > end); /* disjoint, not even adjacent */
		end = p->seg[s].off + p->seg[s].len;
		assert_true(end <= nlines * LINE_SIZE);
		for (unsigned l = p->seg[s].off / LINE_SIZE; l < end / LINE_SIZE; l++)
			covered |= 1ull << l;
		bytes += p->seg[s].len;
	}
	assert_int_equal(bytes, p->bytes);
	assert_int_equal(live & ~covered, 0);
}

/* Live runs of a mask: first line and one past the last. */
static unsigned runs_of(uint64_t live, unsigned nlines, unsigned *first, unsigned *end)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nlines;) {
		if (!(live >> i & 1)) {
			i++;
			continue;
		}
		first[n] = i;
		while (i < nlines && (live >> i & 1))
			i++;
		end[n++] = i;
	}
	return n;
}

/* Exhaustive: every subset of gaps to move. */
static uint64_t brute_force(uint64_t live, unsigned nlines, unsigned max_segs, unsigned cost)
{
	unsigned first[32], end[32], n = runs_of(live, nlines, first, end);
	uint64_t best = UINT64_MAX;

	if (n == 0)
		return 0;
	for (uint64_t s = 0; s < (1ull << (n - 1)); s++) {
		unsigned segs = n - (unsigned)__builtin_popcountll(s);
		uint64_t bytes = 0;

		if (segs > max_segs)
			continue;
		for (unsigned r = 0; r < n; r++)
			bytes += (end[r] - first[r]) * LINE_SIZE;
		for (unsigned g = 0; g + 1 < n; g++)
			if (s >> g & 1)
				bytes += (first[g + 1] - end[g]) * LINE_SIZE;
		if (bytes + (uint64_t)cost * segs < best)
			best = bytes + (uint64_t)cost * segs;
	}
	return best;
}

/* Dynamic program: best[r][k] = least bytes covering runs 0..r in k segments, the last one
 * ending with run r. An independent way to the optimum for full 64-line pages. */
static uint64_t dynamic_program(uint64_t live, unsigned max_segs, unsigned cost)
{
	unsigned first[32], end[32], n = runs_of(live, 64, first, end);
	uint64_t best[32][33], answer = UINT64_MAX;

	if (n == 0)
		return 0;
	for (unsigned r = 0; r < n; r++) {
		for (unsigned k = 0; k <= 32; k++)
			best[r][k] = UINT64_MAX;
		/* The last segment spans runs j..r. */
		for (unsigned j = 0; j <= r; j++) {
			uint64_t seg = (end[r] - first[j]) * LINE_SIZE;

			if (j == 0) {
				best[r][1] = seg < best[r][1] ? seg : best[r][1];
				continue;
			}
			for (unsigned k = 1; k < 32; k++)
				if (best[j - 1][k] != UINT64_MAX &&
				    best[j - 1][k] + seg < best[r][k + 1])
					best[r][k + 1] = best[j - 1][k] + seg;
		}
	}
	for (unsigned k = 1; k <= max_segs && k <= 32; k++)
		if (best[n - 1][k] != UINT64_MAX && best[n - 1][k] + (uint64_t)cost * k < answer)
			answer = best[n - 1][k] + (uint64_t)cost * k;
	return answer;
}

static void test_examples(void **state)
{
	struct sg_plan p;

	(void)state;
	/* No hint at all: lines 0-1 only. */
	sg_plan_page(0, 32, 0, &p);
	assert_int_equal(p.nsegs, 1);
	assert_int_equal(p.seg[0].off, 0);
	assert_int_equal(p.seg[0].len, 128);
	/* Whole page: one segment of 4096. */
	sg_plan_page(~0ull, 32, 0, &p);
	assert_int_equal(p.nsegs, 1);
	assert_int_equal(p.bytes, 4096);
	/* Lines 0-1 and 10-11: two segments, adjacent lines merged. */
	sg_plan_page(3ull << 10, 32, 0, &p);
	assert_int_equal(p.nsegs, 2);
	assert_int_equal(p.seg[1].off, 640);
	assert_int_equal(p.seg[1].len, 128);
	/* One segment allowed: everything from line 0 to 11. */
	sg_plan_page(3ull << 10, 1, 0, &p);
	assert_int_equal(p.nsegs, 1);
	assert_int_equal(p.bytes, 12 * 64);
	/* Every other line live, and line 1 forced: runs 0-2, 4, 6, ..., 62 (31 runs, 30 one-line
	 * gaps); a limit of 30 moves one gap. */
	sg_plan_page(0x5555555555555555ull, 30, 0, &p);
	assert_int_equal(p.nsegs, 30);
	assert_int_equal(p.bytes, 33 * 64 + 64);
	/* A segment that costs more than a 1-line gap: that gap is moved. */
	sg_plan_page(1ull << 3, 32, 100, &p);
	assert_int_equal(p.nsegs, 1);
	assert_int_equal(p.bytes, 4 * 64);
}

/* Every mask of a 12-line page, every limit, several costs: valid and optimal. */
static void test_exhaustive_small(void **state)
{
	struct sg_plan p;

	(void)state;
	for (uint64_t live = 0; live < (1u << 12); live++)
		for (unsigned max = 1; max <= 7; max++)
			for (size_t c = 0; c < sizeof(costs) / sizeof(costs[0]); c++) {
				sg_plan_lines(live, 12, max, costs[c], &p);
				check_valid(live, 12, max, &p);
				assert_int_equal(p.bytes + (uint64_t)costs[c] * p.nsegs,
						 brute_force(live, 12, max, costs[c]));
			}
}

/* Random full pages with live fractions from sparse to dense and clustered runs. */
static uint64_t random_mask(void)
{
	uint64_t m = 0;

	switch (rng() % 3) {
	case 0: { /* independent lines, density 1/16 .. 15/16 */
		unsigned density = 1 + (unsigned)(rng() % 15);

		for (unsigned i = 0; i < 64; i++)
			if (rng() % 16 < density)
				m |= 1ull << i;
		break;
	}
	case 1: /* uniform */
		m = rng();
		break;
	default: /* a few clustered runs */
		for (unsigned r = (unsigned)(rng() % 8); r > 0; r--) {
			unsigned at = (unsigned)(rng() % 64), len = 1 + (unsigned)(rng() % 12);

			for (unsigned i = at; i < at + len && i < 64; i++)
				m |= 1ull << i;
		}
	}
	return m;
}

static void test_random_full_pages(void **state)
{
	struct sg_plan p;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t live = random_mask();
		unsigned max = 1 + (unsigned)(rng() % 32);
		unsigned cost = costs[rng() % (sizeof(costs) / sizeof(costs[0]))];

		sg_plan_page(live, max, cost, &p);
		check_valid(live | LINES_ALWAYS, 64, max, &p);
		assert_int_equal(p.bytes + (uint64_t)cost * p.nsegs,
				 dynamic_program(live | LINES_ALWAYS, max, cost));
	}
}

/* With the byte-optimal objective, lineswap never moves more than DiLOS, even when held to
 * DiLOS's three segments or to mlx5's 30. */
static void test_never_more_than_dilos(void **state)
{
	struct sg_plan p;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		uint64_t live =
			i < 64 * 64 ? (1ull << (i % 64)) | (1ull << (i / 64)) : random_mask();
		unsigned d = dilos_bytes(live);

		static const unsigned limits[] = { 3, 30, 32 };

		for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
			sg_plan_page(live, limits[l], 0, &p);
			assert_true(p.bytes <= d);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_exhaustive_small),
		cmocka_unit_test(test_random_full_pages),
		cmocka_unit_test(test_never_more_than_dilos),
	};
	return cmocka_run_group_tests_name("sg_plan", tests, NULL, NULL);
}
