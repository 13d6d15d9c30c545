/* Unit tests: the hint ring (hints/hint_ring.h) — order and contents, a full ring counting
 * overflows, a reserved but unpublished record holding the drain, many producer threads against
 * a concurrent consumer (every record exactly once, in each producer's order), and a hostile
 * client scribbling random bytes over the shared memory while the server drains: the consumer
 * never crashes, never reads past its limit, and delivers only pages that pass its check. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hint_ring.h"
#include "xorshift.h"

struct sink {
	uint64_t count, last[8], bad_order;
	uint64_t lo, hi; /* pages the check accepts */
	uint64_t vpage[256], mask[256];
};

static bool check_range(void *arg, uint64_t vpage)
{
	struct sink *s = arg;

	return vpage >= s->lo && vpage < s->hi;
}

static void keep(void *arg, uint64_t vpage, uint64_t mask)
{
	struct sink *s = arg;

	if (s->count < 256) {
		s->vpage[s->count] = vpage;
		s->mask[s->count] = mask;
	}
	s->count++;
}

static struct hint_ring *new_ring(uint32_t capacity, struct hint_consumer *c)
{
	struct hint_ring *r = aligned_alloc(64, hint_ring_bytes(capacity));

	assert_non_null(r);
	assert_int_equal(hint_ring_init(r, capacity, c), 0);
	return r;
}

static void test_init_rejects_bad_capacity(void **state)
{
	(void)state;
	static const uint32_t bad[] = { 0, 1, 32, 63, 100, HINT_RING_MAX_RECORDS * 2 };
	struct hint_consumer c;
	alignas(64) static unsigned char mem[sizeof(struct hint_ring) + 64 * 24];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hint_ring_init((struct hint_ring *)mem, bad[i], &c), -22);
	assert_int_equal(hint_ring_init((struct hint_ring *)mem, 64, &c), 0);
}

static void test_order_and_contents(void **state)
{
	(void)state;
	struct hint_consumer c;
	struct hint_ring *r = new_ring(64, &c);
	struct sink s = { .lo = 100, .hi = 200 };
	struct hint_drain_stats st = { 0 };

	for (uint64_t i = 0; i < 50; i++)
		assert_true(hint_ring_publish(r, 90 + i * 2, ~i));
	assert_int_equal(hint_ring_drain(&c, 1000, check_range, keep, &s, &st), HINT_DRAINED);
	assert_int_equal(st.records + st.rejected, 50);
	assert_int_equal(st.rejected, 5); /* 90..98 are outside [100, 200) */
	for (uint64_t i = 0; i < s.count; i++) {
		assert_int_equal(s.vpage[i], 100 + i * 2);
		assert_int_equal(s.mask[i], ~(i + 5));
	}
	assert_int_equal(atomic_load(&r->tail), 50);
	/* a limit stops the drain, and the next one goes on from there */
	for (uint64_t i = 0; i < 10; i++)
		assert_true(hint_ring_publish(r, 150, i));
	s.count = 0;
	assert_int_equal(hint_ring_drain(&c, 4, check_range, keep, &s, &st), HINT_LIMIT);
	assert_int_equal(s.count, 4);
	assert_int_equal(hint_ring_drain(&c, 100, check_range, keep, &s, &st), HINT_DRAINED);
	assert_int_equal(s.count, 10);
	assert_int_equal(s.mask[9], 9);
	free(r);
}

static void test_full_ring_counts_overflow(void **state)
{
	(void)state;
	struct hint_consumer c;
	struct hint_ring *r = new_ring(64, &c);
	struct sink s = { .lo = 0, .hi = UINT64_MAX };
	struct hint_drain_stats st = { 0 };

	for (uint64_t i = 0; i < 64; i++)
		assert_true(hint_ring_publish(r, i, i));
	assert_false(hint_ring_publish(r, 64, 64));
	assert_false(hint_ring_publish(r, 65, 65));
	assert_int_equal(hint_ring_drain(&c, 1000, check_range, keep, &s, &st), HINT_DRAINED);
	assert_int_equal(st.records, 64);
	assert_int_equal(st.overflows, 2);
	assert_true(hint_ring_publish(r, 66, 66)); /* room again */
	assert_int_equal(hint_ring_drain(&c, 1000, check_range, keep, &s, &st), HINT_DRAINED);
	assert_int_equal(st.records, 65);
	assert_int_equal(st.overflows, 2);
	free(r);
}

static void test_unpublished_record_holds_the_drain(void **state)
{
	(void)state;
	struct hint_consumer c;
	struct hint_ring *r = new_ring(64, &c);
	struct sink s = { .lo = 0, .hi = UINT64_MAX };
	struct hint_drain_stats st = { 0 };

	assert_true(hint_ring_publish(r, 1, 1));
	atomic_fetch_add(&r->head, 1); /* a producer reserved position 1, then was preempted */
	assert_true(hint_ring_publish(r, 3, 3));
	assert_int_equal(hint_ring_drain(&c, 1000, check_range, keep, &s, &st), HINT_PENDING);
	assert_int_equal(st.records, 1);
	r->record[1].key = 2;
	r->record[1].mask = 2;
	atomic_store(&r->record[1].seq, 2);
	assert_int_equal(hint_ring_drain(&c, 1000, check_range, keep, &s, &st), HINT_DRAINED);
	assert_int_equal(st.records, 3);
	assert_int_equal(s.vpage[1], 2);
	assert_int_equal(s.vpage[2], 3);
	free(r);
}

enum { PRODUCERS = 4, PER_PRODUCER = 200000 };

struct mp {
	struct hint_ring *r;
	unsigned id;
	_Atomic uint64_t *failures;
};

static void *producer(void *arg)
{
	struct mp *p = arg;

	for (uint64_t i = 0; i < PER_PRODUCER; i++)
		while (!hint_ring_publish(p->r, (uint64_t)p->id << 32 | i, i))
			atomic_fetch_add(p->failures, 1);
	return NULL;
}

static void in_order(void *arg, uint64_t vpage, uint64_t mask)
{
	struct sink *s = arg;
	unsigned id = (unsigned)(vpage >> 32);
	uint64_t i = vpage & 0xffffffff;

	if (id >= PRODUCERS || i != s->last[id] || mask != i)
		s->bad_order++;
	s->last[id] = i + 1;
	s->count++;
}

static bool any_page(void *arg, uint64_t vpage)
{
	(void)arg;
	(void)vpage;
	return true;
}

static void test_many_producers_one_consumer(void **state)
{
	(void)state;
	struct hint_consumer c;
	struct hint_ring *r = new_ring(1024, &c);
	struct sink s = { 0 };
	struct hint_drain_stats st = { 0 };
	_Atomic uint64_t failures = 0;
	struct mp p[PRODUCERS];
	pthread_t t[PRODUCERS];

	for (unsigned i = 0; i < PRODUCERS; i++) {
		p[i] = (struct mp){ .r = r, .id = i, .failures = &failures };
		assert_int_equal(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	}
	while (s.count < (uint64_t)PRODUCERS * PER_PRODUCER)
		assert_int_not_equal(hint_ring_drain(&c, 256, any_page, in_order, &s, &st),
				     HINT_CORRUPT);
	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	hint_ring_drain(&c, 256, any_page, in_order, &s, &st);
	assert_int_equal(s.bad_order, 0);
	assert_int_equal(s.count, (uint64_t)PRODUCERS * PER_PRODUCER);
	assert_int_equal(st.overflows, atomic_load(&failures));
	free(r);
}

struct hostile {
	struct hint_ring *r;
	size_t bytes;
	_Atomic bool stop;
	uint64_t rng;
};

/* The client gone bad: random words at random places, header included, as fast as it can. */
static void *scribble(void *arg)
{
	struct hostile *h = arg;
	uint64_t *words = (uint64_t *)h->r;
	size_t n = h->bytes / 8;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		uint64_t x = xorshift64(&h->rng);
		size_t at = (size_t)(x >> 16) % n;
		uint64_t v = xorshift64(&h->rng);
		if (x & 1) /* also values near what honest producers write */
			v = (v & 0xff) + (x >> 8 & 0x3ff);
		__atomic_store_n(&words[at], v, __ATOMIC_RELAXED);
	}
	return NULL;
}

static unsigned delivered_this_call;

static void count_call(void *arg, uint64_t vpage, uint64_t mask)
{
	struct sink *s = arg;

	(void)mask;
	if (!check_range(arg, vpage))
		s->bad_order++; /* delivered a page the check refused */
	delivered_this_call++;
	s->count++;
}

static void test_hostile_client_cannot_hurt_the_consumer(void **state)
{
	(void)state;
	struct hint_consumer c;
	struct hint_ring *r = new_ring(256, &c);
	struct hostile h = { .r = r, .bytes = hint_ring_bytes(256), .rng = 0x853c49e6748fea9bull };
	struct sink s = { .lo = 0x1000, .hi = 0x2000 };
	struct hint_drain_stats st = { 0 };
	unsigned corrupt = 0, calls = 0;
	pthread_t t;
	struct timespec start, now;

	assert_int_equal(pthread_create(&t, NULL, scribble, &h), 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		delivered_this_call = 0;
		enum hint_drain_end end = hint_ring_drain(&c, 64, check_range, count_call, &s, &st);
		assert_true(delivered_this_call <= 64);
		calls++;
		if (end == HINT_CORRUPT) { /* the server drops such a client; here, start over */
			corrupt++;
			c.tail = 0;
			c.overflow = 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 2);
	atomic_store(&h.stop, true);
	pthread_join(t, NULL);
	print_message("hostile: %u drains, %u corrupt, %lu delivered, %lu rejected\n", calls,
		      corrupt, (unsigned long)s.count, (unsigned long)st.rejected);
	assert_int_equal(s.bad_order, 0);
	assert_true(corrupt > 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_capacity),
		cmocka_unit_test(test_order_and_contents),
		cmocka_unit_test(test_full_ring_counts_overflow),
		cmocka_unit_test(test_unpublished_record_holds_the_drain),
		cmocka_unit_test(test_many_producers_one_consumer),
		cmocka_unit_test(test_hostile_client_cannot_hurt_the_consumer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
