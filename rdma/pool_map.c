/* pool_map.c — see pool_map.h. */
#include "pool_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_BITS 0xffull /* of a slab's state: its stale members */

/* Of a slab's state: member r's mark count, and one more of it. */
static uint64_t marks_of(uint64_t state, unsigned r)
{
	return state >> (16 + 16 * r) & 0xffff;
}

/* The state with the members in `bits` marked: stale, and counted (a count wraps within its
 * 16 bits). */
static uint64_t marked(uint64_t state, unsigned bits)
{
	for (unsigned r = 0; r < POOL_MAX_REPLICAS; r++)
		if (bits >> r & 1)
			state = (state & ~(0xffffull << (16 + 16 * r))) |
				((marks_of(state, r) + 1) & 0xffff) << (16 + 16 * r) | 1ull << r;
	return state;
}

size_t pool_map_size(uint64_t nslabs)
{
	return sizeof(struct pool_map_header) + (size_t)nslabs * sizeof(struct pool_slab);
}

/* splitmix64: a reproducible stream from any seed. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Whether k more slabs of `replicas` members each, on distinct nodes, fit in free[]: a node
 * can hold at most one member of each slab, so at most min(free, k) of them; placing each slab
 * on the nodes with the most room left always succeeds when this holds. */
static bool feasible(const uint64_t *free, uint32_t nnodes, uint64_t k, uint32_t replicas)
{
	uint64_t sum = 0;

	for (uint32_t n = 0; n < nnodes; n++)
		sum += free[n] < k ? free[n] : k;
	return sum >= k * replicas;
}

static bool chosen(const uint8_t *node, unsigned r, uint32_t n)
{
	for (unsigned i = 0; i < r; i++)
		if (node[i] == n)
			return true;
	return false;
}

/* Member r: the better (more room left) of two nodes drawn among those that have room and
 * hold no other member of this slab; -1 if there is none. */
static int two_choices(const uint64_t *free, uint32_t nnodes, const uint8_t *node, unsigned r,
		       uint64_t *rng)
{
	uint8_t cand[POOL_MAX_NODES];
	unsigned nc = 0;

	for (uint32_t n = 0; n < nnodes; n++)
		if (free[n] > 0 && !chosen(node, r, n))
			cand[nc++] = (uint8_t)n;
	if (nc == 0)
		return -1;
	uint8_t a = cand[next_random(rng) % nc], b = cand[next_random(rng) % nc];

	return free[b] > free[a] ? b : a;
}

/* Member r: the node with the most room left that holds no other member (lowest index on a
 * tie); -1 if none has room. */
static int most_room(const uint64_t *free, uint32_t nnodes, const uint8_t *node, unsigned r)
{
	int best = -1;

	for (uint32_t n = 0; n < nnodes; n++)
		if (free[n] > 0 && !chosen(node, r, n) && (best < 0 || free[n] > free[best]))
			best = (int)n;
	return best;
}

int pool_map_place(void *mem, uint64_t device_bytes, uint64_t slab_bytes, uint32_t replicas,
		   uint32_t nnodes, const uint64_t *capacity, uint64_t seed, struct pool_map *out,
		   char *err, size_t errlen)
{
	uint64_t free[POOL_MAX_NODES], total = 0, rng = seed;

	if (!slab_bytes || slab_bytes % 4096 || !device_bytes || device_bytes % 4096 || !replicas ||
	    replicas > POOL_MAX_REPLICAS || !nnodes || nnodes > POOL_MAX_NODES ||
	    replicas > nnodes) {
		snprintf(err, errlen,
			 "bad pool: %u replicas over %u nodes (at most %u and %u), slabs of %llu "
			 "bytes",
			 replicas, nnodes, POOL_MAX_REPLICAS, POOL_MAX_NODES,
			 (unsigned long long)slab_bytes);
		return -EINVAL;
	}
	uint64_t nslabs = (device_bytes + slab_bytes - 1) / slab_bytes;

	if (nslabs * 2 + 1 >= POOL_MAX_SLOTS) {
		snprintf(err, errlen, "too many slabs (%llu): a node numbers its slots in 24 bits",
			 (unsigned long long)nslabs);
		return -EINVAL;
	}
	for (uint32_t n = 0; n < nnodes; n++) {
		free[n] = capacity[n] / slab_bytes;
		total += free[n];
	}
	if (!feasible(free, nnodes, nslabs, replicas)) {
		snprintf(err, errlen,
			 "the nodes have room for %llu slabs of %llu MiB, and %llu x %u copies on "
			 "distinct nodes are needed",
			 (unsigned long long)total, (unsigned long long)(slab_bytes >> 20),
			 (unsigned long long)nslabs, replicas);
		return -ENOSPC;
	}
	memset(mem, 0, pool_map_size(nslabs));
	struct pool_map m = { .h = mem, .slab = (struct pool_slab *)((char *)mem + sizeof(*m.h)) };

	*m.h = (struct pool_map_header){ .magic = POOL_MAP_MAGIC,
					 .version = POOL_MAP_VERSION,
					 .nnodes = nnodes,
					 .replicas = replicas,
					 .slab_bytes = slab_bytes,
					 .nslabs = nslabs };
	for (uint64_t s = 0; s < nslabs; s++) {
		uint8_t node[POOL_MAX_REPLICAS];
		unsigned r;

		for (r = 0; r < replicas; r++) {
			int n = two_choices(free, nnodes, node, r, &rng);

			node[r] = (uint8_t)n; /* feasible() before this slab: n >= 0 */
			free[n]--;
		}
		/* Two random choices can paint the rest into a corner: then this slab goes on the
		 * nodes with the most room, which never does. */
		if (!feasible(free, nnodes, nslabs - s - 1, replicas)) {
			for (r = 0; r < replicas; r++)
				free[node[r]]++;
			for (r = 0; r < replicas; r++) {
				node[r] = (uint8_t)most_room(free, nnodes, node, r);
				free[node[r]]--;
			}
		}
		for (r = 0; r < replicas; r++)
			m.slab[s].place[r] = pool_place(node[r], m.h->node_slots[node[r]]++);
	}
	/* Spares: room on each node x for a dead node d's copies that may go to x (the slabs on d
	 * but not on x), for the worst d: its share of them over the nodes - replicas nodes each
	 * could go to (all of them with one node more than copies), and one more. */
	for (uint32_t x = 0; x < nnodes && replicas > 1 && nnodes > replicas; x++) {
		uint32_t spare = 0;

		for (uint32_t d = 0; d < nnodes; d++) {
			uint32_t movable = 0, share;

			for (uint64_t s = 0; s < nslabs && d != x; s++) {
				bool on_d = false, on_x = false;

				for (unsigned r = 0; r < replicas; r++) {
					on_d |= pool_map_node(&m, s, r) == d;
					on_x |= pool_map_node(&m, s, r) == x;
				}
				movable += on_d && !on_x;
			}
			share = (movable + (nnodes - replicas) - 1) / (nnodes - replicas);
			spare = share > spare ? share : spare;
		}
		m.h->region_slots[x] = m.h->node_slots[x] + spare + 1;
	}
	for (uint32_t n = 0; n < nnodes; n++) {
		uint64_t room = capacity[n] / slab_bytes;

		if (m.h->region_slots[n] < m.h->node_slots[n])
			m.h->region_slots[n] = m.h->node_slots[n];
		if (m.h->region_slots[n] > room)
			m.h->region_slots[n] = (uint32_t)room;
	}
	*out = m;
	return 0;
}

/* An incoming word names a member and a node of the pool, and marks itself as one. */
static bool incoming_ok(const struct pool_map_header *h, uint64_t w)
{
	unsigned r = (unsigned)(w >> 32 & 0xff);

	uint32_t place = (uint32_t)w;

	return (w & POOL_INCOMING) && !(w >> 40 & 0x3fffff) && r < h->replicas &&
	       pool_place_node(place) < h->nnodes &&
	       pool_place_slot(place) < h->region_slots[pool_place_node(place)];
}

int pool_map_attach(void *mem, size_t size, uint64_t device_bytes, uint32_t nnodes,
		    struct pool_map *out, char *err, size_t errlen)
{
	struct pool_map m = { .h = mem };
	const struct pool_map_header *h = mem;
	int ret = -EINVAL;

	if (size < sizeof(*h) || h->magic != POOL_MAP_MAGIC || h->version != POOL_MAP_VERSION) {
		snprintf(err, errlen, "not a pool map (or another version)");
		return -EINVAL;
	}
	/* A node added to the record is in the map once the daemon has its region: a daemon that
	 * died in between leaves the map with fewer. */
	if (h->nnodes > nnodes || !h->nnodes || !h->replicas || h->replicas > POOL_MAX_REPLICAS ||
	    h->replicas > h->nnodes || !h->slab_bytes || h->slab_bytes % 4096 ||
	    h->nslabs != (device_bytes + h->slab_bytes - 1) / h->slab_bytes ||
	    (size - sizeof(*h)) / sizeof(struct pool_slab) < h->nslabs) {
		snprintf(err, errlen,
			 "the pool map does not fit the device (%u nodes, %u replicas, %llu slabs "
			 "of "
			 "%llu bytes in %zu bytes of file)",
			 h->nnodes, h->replicas, (unsigned long long)h->nslabs,
			 (unsigned long long)h->slab_bytes, size);
		return -EINVAL;
	}
	m.slab = (struct pool_slab *)((char *)mem + sizeof(*h));
	/* No two members may share a place on a node: they would overwrite each other. */
	uint8_t *used[POOL_MAX_NODES] = { 0 };

	for (uint32_t n = 0; n < nnodes; n++) {
		if (h->node_slots[n] > h->region_slots[n] ||
		    h->region_slots[n] > 2 * h->nslabs + 1 ||
		    (n >= h->nnodes && (h->region_slots[n] || h->node_flags[n])) ||
		    h->node_flags[n] & ~(POOL_NODE_DRAINING | POOL_NODE_REMOVED)) {
			snprintf(err, errlen,
				 "pool map: node %u has %u slots (%u given out) for %llu "
				 "slabs",
				 n, h->region_slots[n], h->node_slots[n],
				 (unsigned long long)h->nslabs);
			goto out;
		}
		used[n] = calloc(h->region_slots[n] / 8 + 1, 1);
		if (!used[n]) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
	}
	for (uint64_t s = 0; s < h->nslabs; s++) {
		const struct pool_slab *sl = &m.slab[s];

		if ((sl->state & STALE_BITS) >> h->replicas || (sl->state & 0xff00) || sl->pad ||
		    (sl->incoming && !incoming_ok(h, sl->incoming))) {
			snprintf(err, errlen, "pool map: slab %llu marks members it has not",
				 (unsigned long long)s);
			goto out;
		}
		uint8_t node[POOL_MAX_REPLICAS];

		for (unsigned r = 0; r < h->replicas; r++) {
			unsigned n = pool_place_node(sl->place[r]);
			uint32_t slot = pool_place_slot(sl->place[r]);

			node[r] = (uint8_t)n;
			if (n >= h->nnodes || chosen(node, r, (uint32_t)n) ||
			    slot >= h->region_slots[n] || (used[n][slot / 8] >> (slot % 8) & 1)) {
				snprintf(
					err, errlen,
					"pool map: slab %llu member %u (node %u, slot %u) is not a "
					"place of its own",
					(unsigned long long)s, r, n, slot);
				goto out;
			}
			used[n][slot / 8] |= (uint8_t)(1u << (slot % 8));
		}
	}
	*out = m;
	ret = 0;
out:
	for (uint32_t n = 0; n < nnodes; n++)
		free(used[n]);
	return ret;
}

void pool_map_move(struct pool_map *m, uint64_t s, unsigned r, uint32_t place)
{
	pool_map_mark_stale(m, s, r); /* first: no read goes to the new place before a resync */
	__atomic_store_n(&m->slab[s].place[r], place, __ATOMIC_RELEASE);
}

void pool_map_mark_stale(struct pool_map *m, uint64_t s, unsigned r)
{
	uint64_t *state = &m->slab[s].state, old = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	while (!__atomic_compare_exchange_n(state, &old, marked(old, 1u << r), false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

bool pool_map_mark_failed(struct pool_map *m, uint64_t s, unsigned failed, unsigned took)
{
	uint64_t *state = &m->slab[s].state, old = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	do {
		if (!(took & ~old & STALE_BITS))
			return false;
		if (!failed)
			return true;
	} while (!__atomic_compare_exchange_n(state, &old, marked(old, failed), false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

bool pool_map_is_stale(const struct pool_map *m, uint64_t s, unsigned r)
{
	return __atomic_load_n(&m->slab[s].state, __ATOMIC_ACQUIRE) >> r & 1;
}

uint64_t pool_map_marks(const struct pool_map *m, uint64_t s)
{
	return __atomic_load_n(&m->slab[s].state, __ATOMIC_ACQUIRE);
}

static bool unmarked(uint64_t now, unsigned to, unsigned from, uint64_t marks)
{
	return marks_of(now, to) == marks_of(marks, to) &&
	       marks_of(now, from) == marks_of(marks, from) && !(now >> from & 1);
}

bool pool_map_unmarked_since(const struct pool_map *m, uint64_t s, unsigned to, unsigned from,
			     uint64_t marks)
{
	return unmarked(pool_map_marks(m, s), to, from, marks);
}

bool pool_map_mark_fresh(struct pool_map *m, uint64_t s, unsigned to, unsigned from, uint64_t marks)
{
	uint64_t *state = &m->slab[s].state, old = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	do {
		if (!unmarked(old, to, from, marks))
			return false;
	} while (!__atomic_compare_exchange_n(state, &old, old & ~(1ull << to), false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

int pool_map_pick_read(const struct pool_map *m, uint64_t s, const bool *up, const unsigned *load,
		       unsigned tried, uint32_t *place)
{
	int best = -1;
	unsigned best_node = 0;

	for (unsigned r = 0; r < m->h->replicas; r++) {
		/* The place first: a move marks stale before it changes the place. */
		uint32_t at = pool_map_place_of(m, s, r);
		unsigned n = pool_place_node(at);

		if ((tried >> r & 1) || pool_map_is_stale(m, s, r) || !up[n])
			continue;
		if (best < 0 || load[n] < load[best_node]) {
			best = (int)r;
			best_node = n;
			*place = at;
		}
	}
	return best;
}

static uint64_t incoming_word(unsigned r, uint32_t place)
{
	return POOL_INCOMING | (uint64_t)r << 32 | place;
}

bool pool_map_incoming(const struct pool_map *m, uint64_t s, unsigned *member, uint32_t *place)
{
	/* Sequentially consistent, as set_incoming: a writer that counted its write as begun
	 * (remote_pool_write_begins) before the move began sees the move or is waited for. */
	uint64_t w = __atomic_load_n(&m->slab[s].incoming, __ATOMIC_SEQ_CST);

	*member = (unsigned)(w >> 32 & 0xff);
	*place = (uint32_t)w;
	return w & POOL_INCOMING;
}

void pool_map_set_incoming(struct pool_map *m, uint64_t s, unsigned r, uint32_t place)
{
	__atomic_store_n(&m->slab[s].incoming, incoming_word(r, place), __ATOMIC_SEQ_CST);
}

int pool_map_incoming_failed(struct pool_map *m, uint64_t s, unsigned r, uint32_t place)
{
	uint64_t w = incoming_word(r, place);

	/* Not handed over yet: the move ends, and the copy was never a member. */
	if (__atomic_compare_exchange_n(&m->slab[s].incoming, &w, 0, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return -1;
	/* Being handed over, or handed over: the copy is (or is about to be) member r. */
	if (w == (incoming_word(r, place) | POOL_SWITCHING) || pool_map_place_of(m, s, r) == place)
		return (int)r;
	return -1; /* another move's, or one already ended */
}

bool pool_map_hand_over(struct pool_map *m, uint64_t s, unsigned r, uint32_t place)
{
	uint64_t w = incoming_word(r, place);

	/* From here a failed write to the copy is member r's (pool_map_incoming_failed). */
	if (!__atomic_compare_exchange_n(&m->slab[s].incoming, &w, w | POOL_SWITCHING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&m->slab[s].place[r], place, __ATOMIC_RELEASE);
	__atomic_store_n(&m->slab[s].incoming, 0, __ATOMIC_RELEASE);
	return true;
}

void pool_map_drop_incoming(struct pool_map *m, uint64_t s)
{
	/* Sequentially consistent, as set_incoming: the keeper reads the write counters next. */
	__atomic_store_n(&m->slab[s].incoming, 0, __ATOMIC_SEQ_CST);
}

bool pool_map_slab_degraded(const struct pool_map *m, uint64_t s)
{
	return __atomic_load_n(&m->slab[s].state, __ATOMIC_ACQUIRE) & STALE_BITS;
}

uint64_t pool_map_degraded(const struct pool_map *m)
{
	uint64_t n = 0;

	for (uint64_t s = 0; s < m->h->nslabs; s++)
		n += (__atomic_load_n(&m->slab[s].state, __ATOMIC_ACQUIRE) & STALE_BITS) != 0;
	return n;
}
