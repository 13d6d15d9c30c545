/* Unit tests: the daemon's watchdog (ublk-server/core/watchdog.c) against stats it is handed:
 * a stall is found only when a queue holds requests and has finished none for UBLK_STALL_NS,
 * is counted once, said once to the log (a pipe stands in for /dev/kmsg), and ends when the
 * queue moves. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats.h"
#include "watchdog.h"

#define S 1000000000ull

static struct ublk_stats_shm *stats_for(unsigned nr_queues)
{
	struct ublk_stats_shm *s = calloc(1, ublk_stats_size(nr_queues));

	assert_non_null(s);
	s->nr_queues = nr_queues;
	return s;
}

/* What the watchdog wrote to the kernel log since the last call. */
static size_t said(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void test_stall_found_counted_and_ended(void **state)
{
	struct ublk_stats_shm *s = stats_for(2);
	struct ublk_watchdog w;
	int kmsg[2];
	char buf[1024];
	size_t n;

	(void)state;
	assert_int_equal(pipe2(kmsg, O_NONBLOCK), 0);
	ublk_watchdog_init(&w, 7);
	if (w.kmsg_fd >= 0)
		close(w.kmsg_fd);
	w.kmsg_fd = kmsg[1];

	/* Idle queues never stall, however old their last progress. */
	assert_false(ublk_watchdog_check(&w, s, 100 * S));
	/* Queue 1 holds 3 requests since 95 s: slow, but not yet 10 s. */
	s->q[1].inflight = 3;
	s->q[1].progress_ns = 95 * S;
	assert_false(ublk_watchdog_check(&w, s, 104 * S));
	assert_int_equal(s->stalls, 0);
	assert_int_equal(said(kmsg[0], buf, sizeof(buf)), 0);
	/* 11 s without a finished request: stalled, said once with the queue and its load. */
	assert_true(ublk_watchdog_check(&w, s, 106 * S));
	assert_int_equal(s->stalls, 1);
	assert_int_equal(s->stalled_queue, 1);
	assert_int_equal(s->stalled_inflight, 3);
	assert_int_equal(s->stalled_ns, 11 * S);
	n = said(kmsg[0], buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\n'); /* else the kernel holds the record back */
	assert_non_null(strstr(buf, "<4>lineswap: /dev/ublkb7: queue 1 has finished no request "
				    "for 11 s with 3 in flight"));
	assert_true(ublk_watchdog_check(&w, s, 120 * S));
	assert_int_equal(s->stalls, 1); /* the same stall */
	assert_int_equal(said(kmsg[0], buf, sizeof(buf)), 0);
	/* A request finishes: the stall ends, said once. */
	s->q[1].progress_ns = 121 * S;
	assert_false(ublk_watchdog_check(&w, s, 121 * S + 1));
	assert_int_equal(s->stalled_ns, 0);
	assert_true(said(kmsg[0], buf, sizeof(buf)) > 0);
	assert_non_null(
		strstr(buf, "<6>lineswap: /dev/ublkb7: moving again after a stall of 26 s"));
	/* A second stall, on queue 0 (queue 1 has gone idle), is counted again. */
	s->q[1].inflight = 0;
	s->q[0].inflight = 1;
	s->q[0].progress_ns = 130 * S;
	assert_true(ublk_watchdog_check(&w, s, 141 * S));
	assert_int_equal(s->stalls, 2);
	assert_int_equal(s->stalled_queue, 0);
	ublk_watchdog_close(&w);
	close(kmsg[0]);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_found_counted_and_ended),
	};
	return cmocka_run_group_tests_name("watchdog", tests, NULL, NULL);
}
