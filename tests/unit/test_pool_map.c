/* Unit tests: the pool map (rdma/pool_map.c): every slab's copies on distinct nodes that have
 * room, a device larger than any one node, refusals when the copies cannot fit, placement that
 * never paints itself into a corner, a damaged map file refused before anything in it is
 * trusted, and reads that never go to a stale member or a node that is down. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pool_map.h"

#define STALE_ALL 0xffull /* a slab state's stale bits */
#include "xorshift.h"

#define MiB (1ull << 20)

/* Every slab has distinct nodes, no two members share (node, slot), no node holds more than
 * its capacity: pool_map_attach checks the first two, this the third. */
static void check_valid(void *mem, uint64_t device, uint32_t nnodes, const uint64_t *cap)
{
	struct pool_map m;
	char err[200];

	assert_int_equal(pool_map_attach(mem,
					 pool_map_size(((struct pool_map_header *)mem)->nslabs),
					 device, nnodes, &m, err, sizeof(err)),
			 0);
	for (uint32_t n = 0; n < nnodes; n++) {
		assert_true((uint64_t)m.h->region_slots[n] * m.h->slab_bytes <= cap[n]);
		assert_true(m.h->region_slots[n] >= m.h->node_slots[n]);
	}
}

static void *place_ok(uint64_t device, uint64_t slab, uint32_t r, uint32_t nnodes,
		      const uint64_t *cap, uint64_t seed, struct pool_map *m)
{
	void *mem = malloc(pool_map_size((device + slab - 1) / slab));
	char err[200];

	assert_non_null(mem);
	assert_int_equal(
		pool_map_place(mem, device, slab, r, nnodes, cap, seed, m, err, sizeof(err)), 0);
	check_valid(mem, device, nnodes, cap);
	return mem;
}

static void test_placement(void **state)
{
	const uint64_t three[] = { 512 * MiB, 512 * MiB, 512 * MiB };
	const uint64_t small[] = { 256 * MiB, 256 * MiB, 256 * MiB };
	struct pool_map m;
	char err[200];
	void *mem;

	(void)state;
	/* R=2 over three nodes: 32 slabs, each on two distinct nodes. */
	mem = place_ok(512 * MiB, 16 * MiB, 2, 3, three, 1, &m);
	assert_int_equal(m.h->nslabs, 32);
	assert_int_equal(m.h->node_slots[0] + m.h->node_slots[1] + m.h->node_slots[2], 64);
	for (uint64_t s = 0; s < 32; s++)
		assert_int_not_equal(pool_map_node(&m, s, 0), pool_map_node(&m, s, 1));
	/* Spares for a dead node's copies, as far as the nodes have room (32 slabs each). */
	for (uint32_t n = 0; n < 3; n++)
		assert_true(m.h->region_slots[n] == 32 ||
			    m.h->region_slots[n] >= m.h->node_slots[n] + 11);
	free(mem);
	/* With room to spare, each node keeps room for the copies a dead node could send it: with
	 * three nodes and two copies, every slab on the dead node and not on this one. */
	const uint64_t big[] = { 2048 * MiB, 2048 * MiB, 2048 * MiB };

	mem = place_ok(512 * MiB, 16 * MiB, 2, 3, big, 1, &m);
	for (uint32_t x = 0; x < 3; x++) {
		uint32_t worst = 0;

		for (uint32_t d = 0; d < 3; d++) {
			uint32_t movable = 0;

			for (uint64_t s = 0; s < 32 && d != x; s++)
				movable += (pool_map_node(&m, s, 0) == d ||
					    pool_map_node(&m, s, 1) == d) &&
					   pool_map_node(&m, s, 0) != x &&
					   pool_map_node(&m, s, 1) != x;
			worst = movable > worst ? movable : worst;
		}
		assert_int_equal(m.h->region_slots[x], m.h->node_slots[x] + worst + 1);
	}
	free(mem);
	/* A device larger than any one node (R=1), and a last slab shorter than the others. */
	mem = place_ok(512 * MiB + 4096, 64 * MiB, 1, 3, small, 7, &m);
	assert_int_equal(m.h->nslabs, 9);
	free(mem);
	/* Two copies of 512 MiB do not fit in 768 MiB: refused, saying so. */
	mem = malloc(pool_map_size(8));
	assert_int_equal(
		pool_map_place(mem, 512 * MiB, 64 * MiB, 2, 3, small, 1, &m, err, sizeof(err)),
		-ENOSPC);
	assert_non_null(strstr(err, "room for 12 slabs of 64 MiB, and 8 x 2 copies"));
	/* Nor do two copies on one node, nor four replicas. */
	assert_int_equal(
		pool_map_place(mem, 64 * MiB, 64 * MiB, 2, 1, small, 1, &m, err, sizeof(err)),
		-EINVAL);
	assert_int_equal(
		pool_map_place(mem, 64 * MiB, 64 * MiB, 4, 3, small, 1, &m, err, sizeof(err)),
		-EINVAL);
	free(mem);
}

/* Capacities of 2, 1 and 1 slabs, two slabs of two copies: the only placement puts both on
 * node 0. Random choices could take nodes 1 and 2 for the first: never, for any seed. */
static void test_no_corner(void **state)
{
	const uint64_t cap[] = { 2 * MiB, MiB, MiB };
	struct pool_map m;

	(void)state;
	for (uint64_t seed = 1; seed <= 1000; seed++) {
		void *mem = place_ok(2 * MiB, MiB, 2, 3, cap, seed, &m);

		assert_true(pool_map_node(&m, 0, 0) == 0 || pool_map_node(&m, 0, 1) == 0);
		assert_true(pool_map_node(&m, 1, 0) == 0 || pool_map_node(&m, 1, 1) == 0);
		free(mem);
	}
}

/* Random pools: whenever the copies fit at all, placement succeeds and is valid. */
static void test_random_pools(void **state)
{
	uint64_t rng = 42;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		uint32_t nnodes = 1 + (uint32_t)(xorshift64(&rng) % 8);
		uint32_t r = 1 + (uint32_t)(xorshift64(&rng) % (nnodes < 3 ? nnodes : 3));
		uint64_t cap[POOL_MAX_NODES], total = 0;
		uint64_t nslabs = 1 + xorshift64(&rng) % 40;

		for (uint32_t n = 0; n < nnodes; n++)
			total += cap[n] = (xorshift64(&rng) % 30) * MiB;
		void *mem = malloc(pool_map_size(nslabs));
		struct pool_map m;
		char err[200];
		int ret = pool_map_place(mem, nslabs * MiB, MiB, r, nnodes, cap,
					 (uint64_t)round + 1, &m, err, sizeof(err));

		/* Fits iff each node gives at most one copy per slab: sum min(cap, nslabs). */
		uint64_t room = 0;

		for (uint32_t n = 0; n < nnodes; n++)
			room += cap[n] / MiB < nslabs ? cap[n] / MiB : nslabs;
		if (room >= nslabs * r) {
			assert_int_equal(ret, 0);
			check_valid(mem, nslabs * MiB, nnodes, cap);
		} else {
			assert_int_equal(ret, -ENOSPC);
		}
		(void)total;
		free(mem);
	}
}

/* Two choices spread copies evenly over equal nodes: 256 slabs x 2 over 4 nodes, 128 each on
 * average; each node within 25 % of it. */
static void test_balance(void **state)
{
	const uint64_t cap[] = { 1024 * MiB, 1024 * MiB, 1024 * MiB, 1024 * MiB };
	struct pool_map m;

	(void)state;
	void *mem = place_ok(256 * MiB, MiB, 2, 4, cap, 3, &m);

	for (int n = 0; n < 4; n++)
		assert_true(m.h->node_slots[n] >= 96 && m.h->node_slots[n] <= 160);
	free(mem);
}

/* A map file that is damaged anywhere is refused. */
static void test_attach_refuses(void **state)
{
	const uint64_t cap[] = { 512 * MiB, 512 * MiB, 512 * MiB };
	struct pool_map m, back;
	char err[200];
	void *mem = place_ok(256 * MiB, 16 * MiB, 2, 3, cap, 5, &m);
	size_t size = pool_map_size(16);
	void *copy = malloc(size);

	(void)state;
	assert_non_null(copy);
#define REFUSED(change, device, nnodes)                                                           \
	do {                                                                                      \
		memcpy(copy, mem, size);                                                          \
		struct pool_map c = {                                                             \
			copy, (struct pool_slab *)((char *)copy + sizeof(struct pool_map_header)) \
		};                                                                                \
		(void)c;                                                                          \
		change;                                                                           \
		assert_int_equal(                                                                 \
			pool_map_attach(copy, size, device, nnodes, &back, err, sizeof(err)),     \
			-EINVAL);                                                                 \
	} while (0)
	REFUSED(c.h->magic ^= 1, 256 * MiB, 3);
	REFUSED((void)0, 512 * MiB, 3); /* the device grew */
	REFUSED((void)0, 256 * MiB, 2); /* a node list without one the map uses */
	REFUSED(c.slab[1].incoming = POOL_INCOMING | 7ull << 32, 256 * MiB, 3); /* no member 7 */
	REFUSED(c.slab[1].incoming = POOL_INCOMING | pool_place(5, 0), 256 * MiB, 3);
	REFUSED(c.slab[1].incoming = 1, 256 * MiB, 3); /* not marked as one */
	REFUSED(c.h->node_flags[2] = 4, 256 * MiB, 3);
	REFUSED(c.h->region_slots[3] = 1, 256 * MiB, 4); /* a node the map has not, holding */
	REFUSED(c.slab[3].place[1] = pool_place(3, 0), 256 * MiB, 3);
	REFUSED(c.slab[3].place[1] = c.slab[3].place[0], 256 * MiB, 3);
	/* Two members on one node's place, or a place past its region. */
	REFUSED(c.slab[4].place[0] =
			pool_map_node(&c, 4, 0) == pool_map_node(&c, 5, 0)
				? c.slab[5].place[0]
				: pool_place(pool_map_node(&c, 4, 0),
					     c.h->region_slots[pool_map_node(&c, 4, 0)]),
		256 * MiB, 3);
	REFUSED(c.h->region_slots[1] = c.h->node_slots[1] - 1, 256 * MiB, 3);
	REFUSED(c.slab[2].state = 4, 256 * MiB, 3);
	REFUSED(c.h->replicas = 4, 256 * MiB, 3);
	assert_int_equal(pool_map_attach(mem, size - 1, 256 * MiB, 3, &back, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(pool_map_attach(mem, size, 256 * MiB, 3, &back, err, sizeof(err)), 0);
	/* A node added to the record that the map does not name yet: it holds nothing. */
	assert_int_equal(pool_map_attach(mem, size, 256 * MiB, 4, &back, err, sizeof(err)), 0);
	free(copy);
	free(mem);
}

static void test_reads_and_stale(void **state)
{
	const uint64_t cap[] = { 512 * MiB, 512 * MiB, 512 * MiB };
	struct pool_map m;
	bool up[3] = { true, true, true };
	unsigned load[3] = { 0, 0, 0 };
	void *mem = place_ok(64 * MiB, 16 * MiB, 3, 3, cap, 9, &m);

	(void)state;
	unsigned n0 = pool_map_node(&m, 0, 0), n1 = pool_map_node(&m, 0, 1),
		 n2 = pool_map_node(&m, 0, 2);

	uint32_t place = 0;

	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 0, &place), 0);
	assert_int_equal(place, m.slab[0].place[0]);
	load[n0] = 5;
	load[n1] = 2;
	load[n2] = 3;
	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 0, &place), 1); /* least loaded */
	uint64_t marks = pool_map_marks(&m, 0);

	pool_map_mark_stale(&m, 0, 1);
	assert_true(pool_map_is_stale(&m, 0, 1));
	assert_false(pool_map_mark_fresh(&m, 0, 1, 0, marks)); /* the mark raced the copy */
	marks = pool_map_marks(&m, 0);
	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 0, &place), 2); /* never a stale one */
	up[n2] = false;
	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 0, &place),
			 0); /* nor a node that is down */
	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 1u << 0, &place),
			 -1); /* tried: none left */
	assert_int_equal(pool_map_degraded(&m), 1);
	/* A mark on a member that is neither end of the copy does not spoil it. */
	pool_map_mark_stale(&m, 0, 2);
	assert_true(pool_map_mark_fresh(&m, 0, 1, 0, marks));
	assert_false(pool_map_is_stale(&m, 0, 1));
	assert_true(pool_map_is_stale(&m, 0, 2));
	assert_int_equal(pool_map_pick_read(&m, 0, up, load, 1u << 0, &place), 1);
	/* Copying from a member that was marked meanwhile does not make the copy fresh. */
	pool_map_mark_stale(&m, 0, 1);
	marks = pool_map_marks(&m, 0);
	pool_map_mark_stale(&m, 0, 0);
	assert_false(pool_map_mark_fresh(&m, 0, 1, 0, marks));
	/* A write's outcome never marks the last fresh member: 0, 1 and 2 are stale now. */
	pool_map_mark_fresh(&m, 0, 0, 1, pool_map_marks(&m, 0)); /* 1 is stale: refused */
	assert_true(pool_map_is_stale(&m, 0, 0));
	assert_int_equal(pool_map_degraded(&m), 1);
	assert_false(pool_map_mark_failed(&m, 0, 1u << 2, 1u << 0)); /* only stale ones took it */
	m.slab[0].state &= ~1ull; /* member 0 fresh again (as a resync would) */
	assert_true(pool_map_mark_failed(&m, 0, 1u << 2, 1u << 0));
	assert_false(pool_map_mark_failed(&m, 0, 1u << 0, 1u << 1)); /* 0 must stay fresh */
	assert_false(pool_map_is_stale(&m, 0, 0));
	/* A member moved to another place is stale there, with its place changed as one word. */
	m.slab[0].state &= ~STALE_ALL;
	pool_map_move(&m, 0, 1, pool_place(n1, 17));
	assert_true(pool_map_is_stale(&m, 0, 1));
	assert_int_equal(pool_map_place_of(&m, 0, 1), pool_place(n1, 17));
	assert_int_equal(pool_place_slot(pool_map_place_of(&m, 0, 1)), 17);
	uint64_t off;

	assert_int_equal(pool_map_slab_of(&m, 4096 + 3, &off), 1); /* page 4099: slab 1 */
	assert_int_equal(off, 3 * 4096);
	free(mem);
}

/* A move (draining a node): writes also go to the incoming copy. One it misses before the
 * hand-over ends the move; once the hand-over has begun, it is the member's. Reads never go to
 * an incoming copy. */
static void test_incoming_moves(void **state)
{
	const uint64_t cap[] = { 512 * MiB, 512 * MiB, 512 * MiB, 512 * MiB };
	struct pool_map m;
	bool up[4] = { true, true, true, true };
	unsigned load[4] = { 0 }, member;
	uint32_t place, read_at;
	void *mem = place_ok(64 * MiB, 16 * MiB, 2, 4, cap, 3, &m);

	(void)state;
	uint32_t old = pool_map_place_of(&m, 0, 1), to = pool_place(3, 30);

	assert_false(pool_map_incoming(&m, 0, &member, &place));
	pool_map_set_incoming(&m, 0, 1, to);
	assert_true(pool_map_incoming(&m, 0, &member, &place));
	assert_int_equal(member, 1);
	assert_int_equal(place, to);
	for (unsigned tried = 0; tried < 3; tried++) /* never read */
		if (pool_map_pick_read(&m, 0, up, load, tried, &read_at) >= 0)
			assert_int_not_equal(read_at, to);
	/* Missed before the hand-over: the move is over, no member is marked. */
	assert_int_equal(pool_map_incoming_failed(&m, 0, 1, to), -1);
	assert_false(pool_map_incoming(&m, 0, &member, &place));
	assert_false(pool_map_hand_over(&m, 0, 1, to));
	assert_int_equal(pool_map_place_of(&m, 0, 1), old);
	assert_int_equal(pool_map_degraded(&m), 0);
	/* Again, handed over: the member's place is the copy's, and a write the copy missed
	 * then (sent before, answered after) is member 1's. */
	pool_map_set_incoming(&m, 0, 1, to);
	assert_true(pool_map_hand_over(&m, 0, 1, to));
	assert_int_equal(pool_map_place_of(&m, 0, 1), to);
	assert_false(pool_map_incoming(&m, 0, &member, &place));
	assert_int_equal(pool_map_incoming_failed(&m, 0, 1, to), 1);
	/* A failure report for another member's or an ended move is no one's. */
	assert_int_equal(pool_map_incoming_failed(&m, 0, 0, to), -1);
	/* During the hand-over (switching, place not yet changed) it is the member's too. */
	uint32_t next = pool_place(2, 31);

	pool_map_set_incoming(&m, 1, 0, next);
	m.slab[1].incoming |= POOL_SWITCHING;
	assert_int_equal(pool_map_incoming_failed(&m, 1, 0, next), 0);
	pool_map_drop_incoming(&m, 1);
	assert_false(pool_map_incoming(&m, 1, &member, &place));
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placement),      cmocka_unit_test(test_no_corner),
		cmocka_unit_test(test_random_pools),   cmocka_unit_test(test_balance),
		cmocka_unit_test(test_attach_refuses), cmocka_unit_test(test_reads_and_stale),
		cmocka_unit_test(test_incoming_moves),
	};
	return cmocka_run_group_tests_name("pool_map", tests, NULL, NULL);
}
