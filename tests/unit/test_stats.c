/* Unit tests: latency histogram and percentiles (ublk-server/core/stats.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stats.h"

/* Every latency falls in a bucket whose bounds enclose it, and buckets are ordered. */
static void test_bucket_bounds(void **state)
{
	(void)state;
	for (uint64_t ns = 0; ns < 100000; ns++) {
		unsigned b = ublk_stats_bucket(ns);

		assert_true(ns <= ublk_stats_bucket_ns(b));
		if (b > 0)
			assert_true(ns > ublk_stats_bucket_ns(b - 1));
	}
	for (uint64_t ns = 1; ns < (1ull << 33); ns = ns * 3 + 1) {
		unsigned b = ublk_stats_bucket(ns);

		assert_true(ns <= ublk_stats_bucket_ns(b));
		assert_true(b == 0 || ns > ublk_stats_bucket_ns(b - 1));
	}
	for (unsigned b = 1; b < UBLK_LAT_BUCKETS; b++)
		assert_true(ublk_stats_bucket_ns(b) > ublk_stats_bucket_ns(b - 1));
	/* Four buckets per power of two: the error of a bound is at most 25%. */
	assert_int_equal(ublk_stats_bucket(1000), ublk_stats_bucket(1023));
	assert_true(ublk_stats_bucket_ns(ublk_stats_bucket(1000)) <= 1250);
	assert_int_equal(ublk_stats_bucket(UINT64_MAX), UBLK_LAT_BUCKETS - 1);
}

static void test_percentiles(void **state)
{
	struct ublk_stats_shm *s = calloc(1, ublk_stats_size(2));
	struct ublk_op_stats sum;

	(void)state;
	s->nr_queues = 2;
	/* 990 fast requests (about 10 us) on queue 0, 10 slow ones (about 1 ms) on queue 1. */
	for (int i = 0; i < 990; i++)
		ublk_stats_record(&s->q[0], UBLK_STAT_READ, 4096, 0, 10000);
	for (int i = 0; i < 10; i++)
		ublk_stats_record(&s->q[1], UBLK_STAT_READ, 4096, 0, 1000000);
	ublk_stats_record(&s->q[1], UBLK_STAT_WRITE, 8192, -5, 500);
	ublk_stats_sum(s, UBLK_STAT_READ, &sum);
	assert_int_equal(sum.count, 1000);
	assert_int_equal(sum.bytes, 1000 * 4096);
	assert_int_equal(sum.errors, 0);
	uint64_t p50 = ublk_stats_percentile(&sum, 500), p99 = ublk_stats_percentile(&sum, 990),
		 p999 = ublk_stats_percentile(&sum, 999);
	assert_true(p50 >= 10000 && p50 <= 12500);
	assert_true(p99 >= 10000 && p99 <= 12500); /* exactly 99% are fast */
	assert_true(p999 >= 1000000 && p999 <= 1250000);
	ublk_stats_sum(s, UBLK_STAT_WRITE, &sum);
	assert_int_equal(sum.count, 1);
	assert_int_equal(sum.errors, 1);
	assert_int_equal(sum.bytes, 0); /* failed requests move no bytes */
	ublk_stats_sum(s, UBLK_STAT_FLUSH, &sum);
	assert_int_equal(ublk_stats_percentile(&sum, 990), 0);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_percentiles),
	};
	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
