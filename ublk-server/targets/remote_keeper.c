/* remote_keeper.c — see remote_keeper.h. */
#include "remote_keeper.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io_thread.h"
#include "log.h"
#include "remote_admin.h"
#include "state.h"
#include "target.h"

#define RETRY_NS           1000000000ull /* a node that failed a try: tried again after this */
#define CONNECT_TIMEOUT_MS 3000
#define IDLE_NS            100000000ull /* the keeper's pace when nothing is to be done */
#define QUIET_TRIES        100          /* 1 ms waits for a chunk's writes to finish */

/* A member's move to another node (draining), stopped where writes kept a chunk busy. */
struct remote_move {
	bool valid;
	uint64_t s, page, marks; /* marks: the slab's state when it began */
	unsigned r, from;
	uint32_t old, to, from_place; /* old: member r's place when it began */
};

enum move_result { MOVE_DONE, MOVE_LATER, MOVE_NO_SOURCE };

struct remote_keeper {
	struct remote_keeper_conf c;
	unsigned nq, nn;
	/* Per queue and node: the queue asks (want), the keeper answers (ready). */
	uint8_t *want;
	struct page_store **ready;
	/* The keeper's own links, for resyncs; and when each node may be tried again. */
	struct page_store *own[REMOTE_MAX_NODES];
	uint64_t next_try_ns[REMOTE_MAX_NODES];
	bool lost[REMOTE_MAX_NODES]; /* judged lost, region not created again yet */
	/* A queue lost its link to the node: the keeper's own, idle, may not know yet. */
	bool suspect[REMOTE_MAX_NODES];
	uint64_t down_since_ns[REMOTE_MAX_NODES]; /* 0: up (or holds nothing) */
	/* Per node, a bit per slot of its region: held by a member. Only the keeper moves
	 * members, so only it changes these. */
	uint8_t *used[REMOTE_MAX_NODES];
	/* Where an unfinished resync stopped: it goes on from there while neither end of the copy
	 * was marked since it began. */
	struct {
		bool valid;
		uint64_t slab, page, marks;
		unsigned to, from;
	} resume;
	uint8_t *buf; /* a chunk's pages */
	uint64_t masks[REMOTE_CHUNK_PAGES];
	uint64_t versions[REMOTE_CHUNK_PAGES];
	uint64_t refused_slab; /* + 1: the last slab whose copy did not open (logged once) */
	uint64_t pages[REMOTE_CHUNK_PAGES];
	struct ps_completion done[REMOTE_CHUNK_PAGES];
	struct remote_move move; /* a move under way: see move_member */
	uint32_t served;         /* the last admin request taken */
	uint32_t drain_request;  /* the admin request a drain answers when done; 0: none */
	unsigned drain_node;
	bool stop;
	pthread_t thread;
};

void remote_keeper_want(struct remote_keeper *k, unsigned q, unsigned n)
{
	__atomic_store_n(&k->want[q * REMOTE_MAX_NODES + n], 1, __ATOMIC_RELEASE);
}

struct page_store *remote_keeper_take(struct remote_keeper *k, unsigned q, unsigned n)
{
	return __atomic_exchange_n(&k->ready[q * REMOTE_MAX_NODES + n], NULL, __ATOMIC_ACQ_REL);
}

#define STORE(field, v) __atomic_store_n(&k->c.stats->field, (v), __ATOMIC_RELAXED)

/* Node n came back without the device's region: it restarted and lost its copies. Each of its
 * slabs with a fresh copy elsewhere is marked stale there (a resync refills it); a slab it
 * alone held loses its stored pages. Runs before the region is created anew, so no copy of the
 * new region is judged. */
static void node_lost_region(struct remote_keeper *k, unsigned n)
{
	struct remote_pool *p = k->c.pool;
	uint64_t lost = 0, stale = 0;

	for (uint64_t s = 0; s < p->map.h->nslabs; s++) {
		unsigned all = (1u << p->replicas) - 1, in_member;
		uint32_t in_place;

		/* A copy being made there is gone too: its move ends (move_member sees it). */
		if (pool_map_incoming(&p->map, s, &in_member, &in_place) &&
		    pool_place_node(in_place) == n)
			pool_map_drop_incoming(&p->map, s);
		for (unsigned m = 0; m < p->replicas; m++) {
			if (pool_map_node(&p->map, s, m) != n)
				continue;
			bool was_stale = pool_map_is_stale(&p->map, s, m);

			/* Stale, unless it was the only fresh member: then its pages are gone. */
			if (pool_map_mark_failed(&p->map, s, 1u << m, all & ~(1u << m))) {
				stale += !was_stale;
				continue;
			}
			uint64_t first, end;

			remote_pool_slab_pages(p, s, &first, &end);
			for (uint64_t pg = first; pg < end; pg++) {
				uint64_t e = __atomic_load_n(&k->c.entries[pg], __ATOMIC_ACQUIRE);

				/* A discard racing this keeps its zero. */
				while (e != 0 && e != REMOTE_ENTRY_LOST &&
				       !__atomic_compare_exchange_n(
					       &k->c.entries[pg], &e, REMOTE_ENTRY_LOST, false,
					       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
					;
				lost += e != 0 && e != REMOTE_ENTRY_LOST;
			}
		}
	}
	STORE(lost_pages, k->c.stats->lost_pages + lost);
	log_msg("the memory node %s lost this device's region (it restarted): %llu stored pages "
		"are gone (reading them fails with EIO), %llu copies wait for a resync; creating "
		"the region anew",
		k->c.rc->node[n], (unsigned long long)lost, (unsigned long long)stale);
}

/* A new link to node n, or NULL (and n is left alone for a while). */
static struct page_store *open_link(struct remote_keeper *k, unsigned n)
{
	struct page_store_conf c;
	struct page_store *ps;
	char err[240];
	int ret;

	if (monotonic_ns() < k->next_try_ns[n])
		return NULL;
	remote_store_conf(k->c.conf, k->c.rc, n, remote_pool_region_bytes(k->c.pool, n), 0, &c);
	c.timeout_ms = CONNECT_TIMEOUT_MS < c.timeout_ms ? CONNECT_TIMEOUT_MS : c.timeout_ms;
	/* A link made anew is awaited by pages: an RDMA connection the node does not accept in
	 * time is served over TCP instead (page_store.h), until the link is next made anew. */
	c.rdma_wait_ms = CONNECT_TIMEOUT_MS;
	c.tcp_fallback = true;
	/* A resync or a move sends a chunk at once, whatever the queues' depth. */
	if (c.max_inflight < REMOTE_CHUNK_PAGES)
		c.max_inflight = REMOTE_CHUNK_PAGES;
	ret = page_store_open(&c, &ps, err, sizeof(err));
	if (ret == -ENOENT) {
		/* Judged once per loss, however often creating the region fails. */
		if (!k->lost[n])
			node_lost_region(k, n);
		k->lost[n] = true;
		c.create = 1;
		ret = page_store_open(&c, &ps, err, sizeof(err));
		if (ret == 0)
			k->lost[n] = false;
		else
			log_msg("cannot create the region on %s again: %s", k->c.rc->node[n], err);
	}
	if (ret < 0) {
		/* From the failure, not the try: a handshake that waited out its timeout (a silent
		 * node) must not be tried again at once by every stale copy in a resync pass. */
		k->next_try_ns[n] = monotonic_ns() + RETRY_NS;
		return NULL;
	}
	/* Connected: silent for remote_store_conf's time, the link is made anew. */
	remote_store_conf(k->c.conf, k->c.rc, n, 0, 0, &c);
	ps->conf.timeout_ms = c.timeout_ms;
	return ps;
}

/* Opens the links the queues asked for; one failure leaves the node until its retry time. */
static void serve_wants(struct remote_keeper *k)
{
	for (unsigned n = 0; n < k->nn; n++)
		for (unsigned q = 0; q < k->nq; q++) {
			unsigned i = q * REMOTE_MAX_NODES + n;
			struct page_store *ps;

			if (!__atomic_load_n(&k->want[i], __ATOMIC_ACQUIRE) ||
			    __atomic_load_n(&k->ready[i], __ATOMIC_ACQUIRE))
				continue;
			if (!remote_pool_region_bytes(k->c.pool, n)) { /* removed */
				__atomic_store_n(&k->want[i], 0, __ATOMIC_RELEASE);
				continue;
			}
			k->suspect[n] = true;
			ps = open_link(k, n);
			if (!ps)
				break;
			log_msg("queue %u: reconnected to %s", q, k->c.rc->node[n]);
			__atomic_store_n(&k->want[i], 0, __ATOMIC_RELEASE);
			__atomic_store_n(&k->ready[i], ps, __ATOMIC_RELEASE);
		}
}

/* The keeper's own link to node n, if it is up. */
static struct page_store *own_link(struct remote_keeper *k, unsigned n)
{
	/* An idle link learns that its node died only when it looks (nothing is in flight), or
	 * not at all if the node went silent: then a queue's lost link says so, and the keeper
	 * connects anew to find out. */
	if (k->own[n])
		k->own[n]->ops->reap(k->own[n], k->done, REMOTE_CHUNK_PAGES);
	if (k->own[n] && (k->own[n]->down || k->suspect[n])) {
		k->own[n]->ops->close(k->own[n]);
		k->own[n] = NULL;
	}
	k->suspect[n] = false;
	if (!k->own[n])
		k->own[n] = open_link(k, n);
	return k->own[n];
}

/* What `ublk-ctl nodes` and `list` show: each node's state and copies, the slabs below R
 * copies, and a rebuild's progress (it begins when a copy goes stale, and grows by the copies
 * that go stale while it runs). `look`: each node's state as the keeper's own link finds it;
 * else up (as the links the daemon has just opened found them), until the keeper has looked. */
static void publish_as(struct remote_keeper *k, bool look)
{
	struct remote_pool *p = k->c.pool;
	uint32_t stale[REMOTE_MAX_NODES] = { 0 }, held[REMOTE_MAX_NODES] = { 0 };
	bool down[REMOTE_MAX_NODES] = { false };
	uint64_t copies = 0, degraded = 0;

	for (unsigned n = 0; n < k->nn && look; n++) {
		down[n] = remote_pool_region_bytes(p, n) && !own_link(k, n);
		if (!down[n])
			k->down_since_ns[n] = 0;
		else if (!k->down_since_ns[n])
			k->down_since_ns[n] = monotonic_ns();
	}
	for (uint64_t s = 0; s < p->map.h->nslabs; s++) {
		bool below = false;

		for (unsigned m = 0; m < p->replicas; m++) {
			bool st = pool_map_is_stale(&p->map, s, m);

			unsigned n = pool_map_node(&p->map, s, m);

			stale[n] += st;
			copies += st;
			held[n]++;
			below |= st || down[n];
		}
		degraded += below;
	}
	for (unsigned n = 0; n < k->nn; n++) {
		enum ublk_node_state st = UBLK_NODE_UNUSED;

		if (p->map.h->node_flags[n] & POOL_NODE_REMOVED)
			st = UBLK_NODE_REMOVED;
		else if (remote_pool_region_bytes(p, n))
			st = down[n]                                          ? UBLK_NODE_DOWN
			     : (p->map.h->node_flags[n] & POOL_NODE_DRAINING) ? UBLK_NODE_DRAINING
			     : stale[n]                                       ? UBLK_NODE_RESYNCING
									      : UBLK_NODE_UP;
		STORE(node_state[n], st);
		STORE(node_slabs[n], held[n]);
		STORE(node_stale[n], stale[n]);
	}
	/* A slab with a copy on a node that is down has one copy fewer, stale or not. */
	STORE(degraded, degraded);
	if (!copies) {
		STORE(rebuild_total, 0);
		STORE(rebuild_done, 0);
	} else if (k->c.stats->rebuild_done + copies > k->c.stats->rebuild_total) {
		STORE(rebuild_total, k->c.stats->rebuild_done + copies);
	}
}

static void publish(struct remote_keeper *k)
{
	publish_as(k, true);
}

/* Waits for `count` requests on ps; returns 0, -EBADMSG if a page did not open (and nothing
 * else failed), or -EIO if any failed or the link broke. */
static int wait_all(struct remote_keeper *k, struct page_store *ps, unsigned count)
{
	int ret = 0;

	ps->ops->flush(ps);
	while (count > 0) {
		struct pollfd pfd = { .fd = ps->ops->fd(ps), .events = POLLIN };
		int got = ps->ops->reap(ps, k->done, REMOTE_CHUNK_PAGES);

		for (int i = 0; i < got; i++)
			if (k->done[i].status < 0)
				ret = k->done[i].status == -EBADMSG && ret != -EIO ? -EBADMSG
										   : -EIO;
		count -= got > 0 ? (unsigned)got : 0;
		if (got <= 0 && !ps->inflight)
			return -EIO; /* nothing left to answer: the count was wrong */
		if (count && got <= 0) {
			poll(&pfd, 1, 50); /* reap also fails what the node left unanswered */
			serve_wants(k);    /* a queue's link never waits for a copy */
		}
	}
	return ret;
}

/* Copies pages [first, end) of one slab, all in chunk c, from the copy at place `from` to the
 * one at `to`, while no write to the chunk is in flight; again if one began meanwhile. Returns
 * 0, -EAGAIN (writes keep coming: later), -EBADMSG (a page of the source does not open, and no
 * write raced the copy: the source copy is bad), or -EIO. */
static int copy_pages(struct remote_keeper *k, uint64_t first, uint64_t end, uint32_t from,
		      uint32_t to, struct page_store *src, struct page_store *dst)
{
	struct remote_pool *p = k->c.pool;
	uint64_t c = first / REMOTE_CHUNK_PAGES;
	unsigned tries = 0;

	for (;;) {
		uint32_t began = __atomic_load_n(&p->started[c], __ATOMIC_SEQ_CST);
		unsigned n = 0;

		if (__atomic_load_n(&p->finished[c], __ATOMIC_SEQ_CST) != began) {
			if (++tries > QUIET_TRIES)
				return -EAGAIN;
			usleep(1000);
			continue;
		}
		bool failed = false;

		for (uint64_t pg = first; pg < end && !failed; pg++) {
			uint64_t e = __atomic_load_n(&k->c.entries[pg], __ATOMIC_ACQUIRE);

			if (e == 0 || e == REMOTE_ENTRY_LOST)
				continue; /* nothing a read would ask for */
			k->pages[n] = pg;
			k->masks[n] = e;
			/* Quiet chunk: the version is the entry's (stored before it). */
			k->versions[n] = __atomic_load_n(&k->c.versions[pg], __ATOMIC_RELAXED);
			failed = src->ops->get(src, remote_pool_node_page(p, pg, from), e,
					       (struct ps_seal){ pg, k->versions[n] },
					       k->buf + (size_t)n * UBLK_PAGE_SIZE, n) < 0;
			n += !failed;
		}
		/* Every request sent is answered before the buffer is used again. */
		int ret = wait_all(k, src, n);

		if (ret == -EBADMSG && __atomic_load_n(&p->started[c], __ATOMIC_SEQ_CST) != began) {
			if (++tries > QUIET_TRIES)
				return -EAGAIN;
			continue; /* a write overtook the copy: its entry, not the node, changed */
		}
		if (ret < 0 || failed)
			return ret < 0 ? ret : -EIO;
		unsigned sent = 0;

		while (sent < n && !failed) {
			failed =
				dst->ops->put(dst, remote_pool_node_page(p, k->pages[sent], to),
					      k->masks[sent],
					      (struct ps_seal){ k->pages[sent], k->versions[sent] },
					      k->buf + (size_t)sent * UBLK_PAGE_SIZE, sent) < 0;
			sent += !failed;
		}
		if (wait_all(k, dst, sent) < 0 || failed)
			return -EIO;
		if (__atomic_load_n(&p->started[c], __ATOMIC_SEQ_CST) == began) {
			STORE(resync_pages, k->c.stats->resync_pages + n);
			return 0;
		}
		if (++tries > QUIET_TRIES)
			return -EAGAIN;
	}
}

/* Member `from` of slab s holds a page that does not open (altered on its node, or a write
 * that failed after its copies landed): said once per slab; the copy is tried again later.
 * Nothing is marked: every copy of such a page may be the same. */
static void refuse_source(struct remote_keeper *k, uint64_t s, unsigned from)
{
	struct remote_pool *p = k->c.pool;

	if (k->refused_slab == s + 1)
		return;
	k->refused_slab = s + 1;
	log_msg("slab %llu: the copy on %s holds a page that does not open: not copied",
		(unsigned long long)s, k->c.rc->node[pool_map_node(&p->map, s, from)]);
}

/* Brings stale member `to` of slab s up to date from a fresh member on a node that is up,
 * going on from where an unfinished copy between the same members stopped if neither was
 * marked since (a member moved is marked). Returns true if it is fresh now. */
static bool resync_slab(struct remote_keeper *k, uint64_t s, unsigned to)
{
	struct remote_pool *p = k->c.pool;
	uint64_t marks = pool_map_marks(&p->map, s);
	uint32_t to_place = pool_map_place_of(&p->map, s, to), from_place = 0;
	struct page_store *dst = own_link(k, pool_place_node(to_place)), *src = NULL;
	int from = -1;

	if (!dst)
		return false;
	for (unsigned m = 0; m < p->replicas && !src; m++) {
		from_place = pool_map_place_of(&p->map, s, m);
		if (m != to && !pool_map_is_stale(&p->map, s, m) &&
		    (src = own_link(k, pool_place_node(from_place))))
			from = (int)m;
	}
	if (!src)
		return false;
	uint64_t first, end;

	remote_pool_slab_pages(p, s, &first, &end);
	if (k->resume.valid && k->resume.slab == s && k->resume.to == to &&
	    k->resume.from == (unsigned)from &&
	    pool_map_unmarked_since(&p->map, s, to, (unsigned)from, k->resume.marks)) {
		first = k->resume.page;
		marks = k->resume.marks;
	}
	k->resume.valid = false;
	for (uint64_t pg = first, next; pg < end; pg = next) {
		next = (pg / REMOTE_CHUNK_PAGES + 1) * REMOTE_CHUNK_PAGES;
		if (next > end)
			next = end;
		int ret = __atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)
				  ? -EAGAIN
				  : copy_pages(k, pg, next, from_place, to_place, src, dst);

		if (ret == -EBADMSG)
			refuse_source(k, s, (unsigned)from);
		if (ret < 0) {
			k->resume.valid = true;
			k->resume.slab = s;
			k->resume.page = pg;
			k->resume.marks = marks;
			k->resume.to = to;
			k->resume.from = (unsigned)from;
			return false;
		}
		/* Swap traffic first: the queues get the links between chunks, and a queue
		 * waiting for a link gets it. */
		serve_wants(k);
		usleep(200);
	}
	if (!pool_map_mark_fresh(&p->map, s, to, (unsigned)from, marks))
		return false; /* a copy was marked meanwhile: again, from the top */
	STORE(resynced, k->c.stats->resynced + 1);
	STORE(rebuild_done, k->c.stats->rebuild_done + 1);
	return true;
}

/* One pass over the slabs: resyncs every stale copy it can. Returns whether any is left. */
static bool resync_pass(struct remote_keeper *k)
{
	struct remote_pool *p = k->c.pool;
	bool left = false;

	for (uint64_t s = 0; s < p->map.h->nslabs && !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE);
	     s++)
		for (unsigned m = 0; m < p->replicas; m++) {
			if (!pool_map_is_stale(&p->map, s, m))
				continue;
			if (!resync_slab(k, s, m)) {
				left = true;
				continue;
			}
			log_msg("slab %llu: its copy on %s is up to date again",
				(unsigned long long)s, k->c.rc->node[pool_map_node(&p->map, s, m)]);
			serve_wants(k); /* a queue's link must not wait for a whole pass */
			publish(k);
		}
	return left;
}

static bool slot_used(const struct remote_keeper *k, unsigned n, uint32_t slot)
{
	return k->used[n][slot / 8] >> (slot % 8) & 1;
}

static void set_slot(struct remote_keeper *k, uint32_t place, bool used)
{
	unsigned n = pool_place_node(place);
	uint32_t slot = pool_place_slot(place);

	if (used)
		k->used[n][slot / 8] |= (uint8_t)(1u << (slot % 8));
	else
		k->used[n][slot / 8] &= (uint8_t) ~(1u << (slot % 8));
}

/* A free place for a copy of slab s: on the node that is up, holds no member of s, is not
 * leaving the pool and has the most free slots; 0 with *ok false if none has room. */
static uint32_t free_place(struct remote_keeper *k, uint64_t s, const bool *down, bool *ok)
{
	struct remote_pool *p = k->c.pool;
	uint32_t best_free = 0, best_slot = 0;
	int best = -1;

	unsigned in_member;
	uint32_t in_place;
	/* The node of a copy being made of one of s's members counts as holding one. */
	int incoming = pool_map_incoming(&p->map, s, &in_member, &in_place)
			       ? (int)pool_place_node(in_place)
			       : -1;

	for (unsigned n = 0; n < k->nn; n++) {
		uint32_t nfree = 0, first = 0;
		bool member = (int)n == incoming;

		for (unsigned m = 0; m < p->replicas; m++)
			member |= pool_map_node(&p->map, s, m) == n;
		if (member || down[n] || p->map.h->node_flags[n])
			continue;
		for (uint32_t slot = p->map.h->region_slots[n]; slot-- > 0;)
			if (!slot_used(k, n, slot)) {
				nfree++;
				first = slot;
			}
		if (nfree > best_free) {
			best_free = nfree;
			best_slot = first;
			best = (int)n;
		}
	}
	*ok = best >= 0;
	return *ok ? pool_place((unsigned)best, best_slot) : 0;
}

/* Member m of slab s, which serves no read (its node down, or stale), goes to `place`, stale
 * there: the resync fills it. Only with a source to refill from, a fresh member on a node that
 * is up (else this copy may be the one that comes back): checked and marked in one step.
 * Returns whether it moved. */
static bool move_stale_member(struct remote_keeper *k, uint64_t s, unsigned m, uint32_t place,
			      const bool *down)
{
	struct remote_pool *p = k->c.pool;
	uint32_t old = pool_map_place_of(&p->map, s, m);
	unsigned sources = 0;

	for (unsigned o = 0; o < p->replicas; o++)
		if (o != m && !down[pool_map_node(&p->map, s, o)])
			sources |= 1u << o;
	if (!pool_map_mark_failed(&p->map, s, 1u << m, sources))
		return false;
	set_slot(k, place, true);
	set_slot(k, old, false);
	pool_map_move(&p->map, s, m, place);
	return true;
}

/* Nodes gone past the grace: each of their copies moves to a free place on another node (a
 * stale member there, which the resync fills), so the pool gets back to R copies without them.
 * A slab without a fresh member elsewhere stays: there is nothing to copy from. */
static void rereplicate(struct remote_keeper *k)
{
	struct remote_pool *p = k->c.pool;
	uint64_t grace = (uint64_t)k->c.rc->grace_s * 1000000000ull, now = monotonic_ns();
	bool down[REMOTE_MAX_NODES] = { false }, any = false;

	if (!grace || p->replicas < 2)
		return;
	for (unsigned n = 0; n < k->nn; n++) {
		down[n] = k->down_since_ns[n] != 0;
		any |= down[n] && now - k->down_since_ns[n] >= grace;
	}
	if (!any)
		return;
	for (uint64_t s = 0; s < p->map.h->nslabs; s++)
		for (unsigned m = 0; m < p->replicas; m++) {
			uint32_t old = pool_map_place_of(&p->map, s, m), place;
			unsigned n = pool_place_node(old);
			bool ok;

			if (!down[n] || now - k->down_since_ns[n] < grace)
				continue;
			place = free_place(k, s, down, &ok);
			if (!ok || !move_stale_member(k, s, m, place, down))
				continue; /* no room, or no source: the member stays */
			STORE(moved, k->c.stats->moved + 1);
			log_msg("slab %llu: %s is gone past the grace (%u s): its copy goes to %s",
				(unsigned long long)s, k->c.rc->node[n], k->c.rc->grace_s,
				k->c.rc->node[pool_place_node(place)]);
		}
}

/* Waits (QUIET_TRIES ms at most) until chunk c has no write in flight; whether it has none. */
static bool wait_quiet(struct remote_keeper *k, uint64_t c)
{
	struct remote_pool *p = k->c.pool;

	for (unsigned tries = 0; __atomic_load_n(&p->started[c], __ATOMIC_SEQ_CST) !=
				 __atomic_load_n(&p->finished[c], __ATOMIC_SEQ_CST);
	     tries++) {
		if (tries == QUIET_TRIES)
			return false;
		usleep(1000);
	}
	return true;
}

/* Frees the slot of an abandoned incoming copy once no write that may have been sent to it is
 * in flight (then no late PUT can land in a copy the slot holds next); a slot still busy after
 * a while stays taken until the daemon restarts. */
static void free_incoming_slot(struct remote_keeper *k, uint64_t s, uint32_t to)
{
	uint64_t first, end;

	remote_pool_slab_pages(k->c.pool, s, &first, &end);
	for (uint64_t c = first / REMOTE_CHUNK_PAGES; c <= (end - 1) / REMOTE_CHUNK_PAGES; c++)
		if (!wait_quiet(k, c)) {
			log_msg("slab %llu: a place on %s stays unused until a restart (writes to "
				"an abandoned copy were still in flight)",
				(unsigned long long)s, k->c.rc->node[pool_place_node(to)]);
			return;
		}
	set_slot(k, to, false);
}

static enum move_result abandon_move(struct remote_keeper *k)
{
	k->move.valid = false;
	pool_map_drop_incoming(&k->c.pool->map, k->move.s);
	free_incoming_slot(k, k->move.s, k->move.to);
	return MOVE_LATER;
}

/* Moves member r of slab s to `to` (a free place) without ever having fewer fresh copies: the
 * new place is the slab's incoming copy, which every write also goes to, while the member's
 * pages are copied there from a fresh member; then the member's place is handed over. A copy
 * that writes keep busy stops and goes on from there later (k->move) while its incoming copy
 * stands and its source was not marked. */
static enum move_result move_member(struct remote_keeper *k, uint64_t s, unsigned r, uint32_t to)
{
	struct remote_pool *p = k->c.pool;
	struct remote_move *mv = &k->move;
	struct page_store *dst = own_link(k, pool_place_node(to)), *src = NULL;
	uint32_t in_place;
	uint64_t first, end;
	unsigned in_member, fresh = 0;

	if (!(mv->valid && mv->s == s && mv->r == r && mv->to == to)) {
		uint64_t marks = pool_map_marks(&p->map, s);

		if (mv->valid)
			abandon_move(k);
		/* The member itself is the first choice of source: the others keep serving. */
		for (unsigned i = 0; i < p->replicas && !src && dst; i++) {
			unsigned from = (r + i) % p->replicas;
			uint32_t from_place = pool_map_place_of(&p->map, s, from);

			if (pool_map_is_stale(&p->map, s, from))
				continue;
			fresh++;
			if ((src = own_link(k, pool_place_node(from_place))))
				*mv = (struct remote_move){ .valid = true,
							    .s = s,
							    .page = s * p->map.h->slab_bytes / 4096,
							    .marks = marks,
							    .r = r,
							    .from = from,
							    .old = pool_map_place_of(&p->map, s, r),
							    .to = to,
							    .from_place = from_place };
		}
		if (!src)
			return dst && !fresh ? MOVE_NO_SOURCE : MOVE_LATER;
		set_slot(k, to, true);
		pool_map_set_incoming(&p->map, s, r, to);
	} else if (!dst || !(src = own_link(k, pool_place_node(mv->from_place)))) {
		return abandon_move(k);
	}
	/* Still standing: no write missed the incoming copy, the source missed none, the member
	 * is where it was, and no other member went to the copy's node meanwhile. */
	bool standing = pool_map_incoming(&p->map, s, &in_member, &in_place) && in_member == r &&
			in_place == to && pool_map_place_of(&p->map, s, r) == mv->old &&
			pool_map_unmarked_since(&p->map, s, mv->from, mv->from, mv->marks);

	for (unsigned m = 0; m < p->replicas && standing; m++)
		standing = m == r || pool_map_node(&p->map, s, m) != pool_place_node(to);
	if (!standing)
		return abandon_move(k);
	remote_pool_slab_pages(p, s, &first, &end);
	for (uint64_t pg = mv->page, next; pg < end; pg = next) {
		next = (pg / REMOTE_CHUNK_PAGES + 1) * REMOTE_CHUNK_PAGES;
		if (next > end)
			next = end;
		int ret = __atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)
				  ? -EAGAIN
				  : copy_pages(k, pg, next, mv->from_place, to, src, dst);

		if (ret == -EAGAIN) {
			mv->page = pg; /* writes keep this chunk busy: later, from here */
			return MOVE_LATER;
		}
		if (ret == -EBADMSG)
			refuse_source(k, s, mv->from);
		if (ret < 0)
			return abandon_move(k);
		serve_wants(k); /* swap traffic first, as in a resync */
		usleep(200);
	}
	if (!pool_map_unmarked_since(&p->map, s, mv->from, mv->from, mv->marks) ||
	    !pool_map_hand_over(&p->map, s, r, to))
		return abandon_move(k);
	mv->valid = false;
	set_slot(k, mv->old, false); /* on a draining node: never given out again */
	STORE(drained, k->c.stats->drained + 1);
	return MOVE_DONE;
}

/* Answers request number `request` (ublk-ctl waits for it). */
static void answer(struct remote_keeper *k, uint32_t request, int status, unsigned node,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void answer(struct remote_keeper *k, uint32_t request, int status, unsigned node,
		   const char *fmt, ...)
{
	struct remote_admin *a = k->c.admin;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
	log_msg("node %s: %s", status < 0 ? "request refused" : "request done", a->message);
	a->status = status;
	a->node = node;
	__atomic_store_n(&a->answered, request, __ATOMIC_RELEASE);
}

/* The drain of node n cannot finish: it stays in the pool, not draining; what moved stays. */
static void drain_stuck(struct remote_keeper *k, unsigned n, const char *why, uint64_t s)
{
	struct remote_pool *p = k->c.pool;

	if (k->move.valid)
		abandon_move(k);
	__atomic_store_n(&p->map.h->node_flags[n], 0, __ATOMIC_RELEASE);
	if (k->drain_request && k->drain_node == n && k->drain_request == k->served)
		answer(k, k->drain_request, -ENOSPC, n,
		       "%s cannot be drained: %s for slab %llu's copy (it stays in the pool, "
		       "holding %u copies)",
		       k->c.rc->node[n], why, (unsigned long long)s, k->c.stats->node_slabs[n]);
	else
		log_msg("%s cannot be drained: %s for slab %llu's copy (it stays in the pool)",
			k->c.rc->node[n], why, (unsigned long long)s);
	k->drain_request = 0;
}

/* Waits (a while at most, per chunk) until each chunk has had no write in flight: a write sent
 * to a place before it changed hands is over. */
static void quiesce_writes(struct remote_keeper *k)
{
	for (uint64_t c = 0; c * REMOTE_CHUNK_PAGES < k->c.pool->nr_pages; c++)
		wait_quiet(k, c);
}

/* Node n leaves the pool: it holds nothing now. Its region is freed once the writes sent to
 * its old places are answered (else they would fail, and mark their new places stale). */
static void drain_done(struct remote_keeper *k, unsigned n)
{
	struct remote_pool *p = k->c.pool;
	/* Out of the pool first: the queues' links, which the release drops, are not missed. */
	uint64_t bytes = remote_pool_region_bytes(p, n);
	char err[200] = "";

	quiesce_writes(k);
	__atomic_store_n(&p->map.h->region_slots[n], 0, __ATOMIC_RELEASE);
	p->map.h->node_slots[n] = 0;
	__atomic_store_n(&p->map.h->node_flags[n], POOL_NODE_REMOVED, __ATOMIC_RELEASE);
	if (k->own[n]) {
		k->own[n]->ops->close(k->own[n]);
		k->own[n] = NULL;
	}
	int ret = remote_pool_release_node(k->c.conf, k->c.rc, n, bytes, err, sizeof(err));

	publish(k);
	if (k->drain_request && k->drain_node == n && k->drain_request == k->served)
		answer(k, k->drain_request, 0, n, "%s drained and removed%s%s", k->c.rc->node[n],
		       ret < 0 ? "; its region could not be freed: " : "", ret < 0 ? err : "");
	else
		log_msg("%s drained and removed", k->c.rc->node[n]);
	k->drain_request = 0;
}

/* Copies of the draining node n move, one slab at a time: a fresh one through the slab's
 * incoming copy (move_member); one that serves no read (stale, or its node down) as
 * re-replication moves a copy, refilled by the resync. A slab with a stale copy elsewhere waits
 * for its resync; a move that writes keep busy goes on in a later round; so does one that
 * waits for a node that is down. */
static void drain(struct remote_keeper *k, unsigned n)
{
	struct remote_pool *p = k->c.pool;
	bool down[REMOTE_MAX_NODES] = { false }, none_down[REMOTE_MAX_NODES] = { false };
	bool left = false;

	for (unsigned i = 0; i < k->nn; i++)
		down[i] = k->down_since_ns[i] != 0;
	if (k->move.valid && move_member(k, k->move.s, k->move.r, k->move.to) == MOVE_LATER &&
	    k->move.valid)
		return; /* still busy */
	for (uint64_t s = 0; s < p->map.h->nslabs && !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE);
	     s++)
		for (unsigned r = 0; r < p->replicas; r++) {
			bool ok, serves = !down[n] && !pool_map_is_stale(&p->map, s, r);

			if (pool_map_node(&p->map, s, r) != n)
				continue;
			left = true;
			if (serves && pool_map_slab_degraded(&p->map, s))
				continue; /* another copy's resync first */
			uint32_t to = free_place(k, s, down, &ok);

			if (!ok) {
				free_place(k, s, none_down, &ok);
				if (!ok)
					return drain_stuck(k, n, "no other node has room", s);
				return; /* a node with room is down: later */
			}
			if (serves) {
				enum move_result res = move_member(k, s, r, to);

				if (res == MOVE_NO_SOURCE)
					return drain_stuck(k, n, "no fresh copy to copy from", s);
				if (res == MOVE_LATER)
					return;
			} else if (move_stale_member(k, s, r, to, down)) {
				STORE(drained, k->c.stats->drained + 1);
			} else {
				continue; /* no fresh copy on a node that is up: later */
			}
			log_msg("slab %llu: its copy on %s moved to %s (draining%s)",
				(unsigned long long)s, k->c.rc->node[n],
				k->c.rc->node[pool_place_node(to)],
				serves ? "" : "; it missed writes: refilled by a resync");
			publish(k);
			serve_wants(k);
		}
	if (!left && !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE))
		drain_done(k, n);
}

/* `ublk-ctl node add`: the node joins the pool with room for a copy of every slab (or as many
 * as it has memory for). In order, so that a daemon that dies on the way leaves a device its
 * recovery understands: the record names it; the map counts it (holding nothing); its slots;
 * then its region, made as the keeper makes a region a node lost. A node in the record that
 * holds nothing (an add a daemon did not finish) is finished by adding it again. */
static void add_node(struct remote_keeper *k, uint32_t request, const char *url)
{
	struct remote_pool *p = k->c.pool;
	struct remote_conf *rc = k->c.rc, *saved = remote_conf(k->c.conf);
	unsigned n = k->nn;
	struct page_store_conf c;
	uint64_t free_bytes, slots;
	char err[200];
	int ret;

	for (unsigned i = 0; i < rc->nnodes && n == k->nn; i++) {
		if (strcmp(rc->node[i], url))
			continue;
		if (p->map.h->region_slots[i] || (p->map.h->node_flags[i] & POOL_NODE_REMOVED))
			return answer(k, request, -EEXIST, i,
				      "%s is node %u of the pool already (a removed node is not "
				      "added again)",
				      url, i);
		n = i;
	}
	if (n == k->nn && (rc->nnodes != k->nn || saved->nnodes != k->nn))
		return answer(k, request, -EIO, n, "the record names %u nodes, the pool %u",
			      saved->nnodes, k->nn);
	if (n == k->nn && (ret = remote_conf_add_node(rc, url, err, sizeof(err))) < 0)
		return answer(k, request, ret, n, "%s", err);
	remote_store_conf(k->c.conf, rc, n, 0, 0, &c);
	ret = page_store_probe(&c, &free_bytes, err, sizeof(err));
	slots = ret < 0 ? 0 : free_bytes / p->map.h->slab_bytes;
	if (slots > p->map.h->nslabs)
		slots = p->map.h->nslabs; /* a node holds one copy of a slab at most */
	if (ret == 0 && !slots)
		ret = -ENOSPC, snprintf(err, sizeof(err), "%s has no room for a slab", url);
	if (ret == 0) {
		free(k->used[n]);
		if (!(k->used[n] = calloc(slots / 8 + 1, 1)))
			ret = -ENOMEM, snprintf(err, sizeof(err), "no memory");
	}
	if (ret == 0 && n == k->nn) {
		ret = remote_conf_add_node(saved, url, err, sizeof(err));
		if (ret == 0 && (ret = ublk_conf_save(k->c.conf)) < 0) {
			saved->nnodes--;
			snprintf(err, sizeof(err), "cannot save the device record: %s",
				 strerror(-ret));
		}
	}
	if (ret < 0) {
		if (n == k->nn)
			rc->nnodes--;
		return answer(k, request, ret, n, "%s", err);
	}
	if (n == k->nn) {
		k->nn = n + 1;
		__atomic_store_n(&p->map.h->nnodes, k->nn, __ATOMIC_RELEASE);
		STORE(nnodes, k->nn);
	}
	__atomic_store_n(&p->map.h->region_slots[n], (uint32_t)slots, __ATOMIC_RELEASE);
	k->lost[n] = true; /* nothing of it to judge lost: its region is made */
	k->next_try_ns[n] = 0;
	if (!own_link(k, n)) {
		__atomic_store_n(&p->map.h->region_slots[n], 0, __ATOMIC_RELEASE);
		return answer(k, request, -EIO, n,
			      "%s is node %u but its region could not be made (see the daemon's "
			      "log): it holds nothing; add it again to retry",
			      url, n);
	}
	publish(k);
	answer(k, request, 0, n, "%s is node %u, with room for %llu copies of %llu KiB", url, n,
	       (unsigned long long)slots, (unsigned long long)(p->map.h->slab_bytes >> 10));
}

/* `ublk-ctl node remove`: the node drains; the request is answered when it is empty. */
static void remove_node(struct remote_keeper *k, uint32_t request, const char *url)
{
	struct remote_pool *p = k->c.pool;
	unsigned n, staying = 0;

	for (n = 0; n < k->nn && strcmp(k->c.rc->node[n], url); n++)
		;
	if (n == k->nn)
		return answer(k, request, -ENOENT, 0, "%s is not a node of this pool", url);
	if (p->map.h->node_flags[n] & POOL_NODE_REMOVED)
		return answer(k, request, 0, n, "%s was removed already", url);
	for (unsigned i = 0; i < k->nn; i++) {
		if (i != n && (p->map.h->node_flags[i] & POOL_NODE_DRAINING))
			return answer(k, request, -EBUSY, n, "%s is being drained: one at a time",
				      k->c.rc->node[i]);
		staying += i != n && !p->map.h->node_flags[i] && remote_pool_region_bytes(p, i);
	}
	if (staying < p->replicas)
		return answer(k, request, -ENOSPC, n,
			      "without %s the pool has %u nodes for %u copies of every slab", url,
			      staying, p->replicas);
	/* Draining already (an earlier ublk-ctl's, gone): this request waits for it. */
	__atomic_store_n(&p->map.h->node_flags[n], POOL_NODE_DRAINING, __ATOMIC_RELEASE);
	k->drain_request = request;
	k->drain_node = n;
	log_msg("draining %s: its copies move to the other nodes", url);
}

/* A request from ublk-ctl, if a new one came: taken (its op and URL copied), then carried out. */
static void serve_admin(struct remote_keeper *k)
{
	struct remote_admin *a = k->c.admin;
	uint32_t request = __atomic_load_n(&a->request, __ATOMIC_ACQUIRE), op;
	char url[REMOTE_URL_MAX];

	if (request == k->served)
		return;
	op = a->op;
	memcpy(url, a->url, sizeof(url));
	url[sizeof(url) - 1] = 0;
	k->served = request;
	__atomic_store_n(&a->taken, request, __ATOMIC_RELEASE);
	if (op == REMOTE_ADMIN_ADD)
		add_node(k, request, url);
	else if (op == REMOTE_ADMIN_REMOVE)
		remove_node(k, request, url);
	else
		answer(k, request, -EINVAL, 0, "unknown request %u", op);
}

static void *keeper_main(void *arg)
{
	struct remote_keeper *k = arg;
	struct remote_pool *p = k->c.pool;

	/* Not realtime: a resync must not take a CPU from everything else; the queues, which
	 * are, get ahead of it. */
	io_thread_init("ublk-keeper", false);
	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		serve_wants(k);
		publish(k);
		rereplicate(k);
		if (k->c.pool->replicas > 1 && pool_map_degraded(&k->c.pool->map))
			resync_pass(k);
		serve_admin(k);
		for (unsigned n = 0; n < k->nn; n++)
			if (p->map.h->node_flags[n] & POOL_NODE_DRAINING)
				drain(k, n);
		struct timespec idle = { 0, IDLE_NS };

		nanosleep(&idle, NULL);
	}
	return NULL;
}

static void keeper_free(struct remote_keeper *k)
{
	for (unsigned n = 0; n < REMOTE_MAX_NODES; n++)
		free(k->used[n]);
	free(k->want);
	free(k->ready);
	free(k->buf);
	free(k);
}

int remote_keeper_start(const struct remote_keeper_conf *c, struct remote_keeper **out, char *err,
			size_t errlen)
{
	struct remote_keeper *k = calloc(1, sizeof(*k));
	int ret;

	if (!k) {
		snprintf(err, errlen, "no memory for the pool's keeper");
		return -ENOMEM;
	}
	k->c = *c;
	k->served = c->admin ? __atomic_load_n(&c->admin->taken, __ATOMIC_ACQUIRE) : 0;
	k->nq = c->conf->nr_queues;
	k->nn = c->pool->map.h->nnodes;
	k->want = calloc((size_t)k->nq * REMOTE_MAX_NODES, sizeof(*k->want));
	k->ready = calloc((size_t)k->nq * REMOTE_MAX_NODES, sizeof(*k->ready));
	k->buf = aligned_alloc(UBLK_PAGE_SIZE, (size_t)REMOTE_CHUNK_PAGES * UBLK_PAGE_SIZE);
	if (k->buf)
		memset(k->buf, 0, (size_t)REMOTE_CHUNK_PAGES * UBLK_PAGE_SIZE); /* faulted in now */
	bool used_ok = true;

	for (unsigned n = 0; n < k->nn; n++)
		used_ok &= !!(k->used[n] = calloc(c->pool->map.h->region_slots[n] / 8 + 1, 1));
	for (uint64_t s = 0; used_ok && s < c->pool->map.h->nslabs; s++)
		for (unsigned m = 0; m < c->pool->replicas; m++)
			set_slot(k, pool_map_place_of(&c->pool->map, s, m), true);
	if (!k->want || !k->ready || !k->buf || !used_ok) {
		snprintf(err, errlen, "no memory for the pool's keeper");
		ret = -ENOMEM;
		goto fail;
	}
	/* What `ublk-ctl nodes` shows from the start: the placement, before any link is tried. */
	STORE(nnodes, k->nn);
	STORE(replicas, c->pool->replicas);
	STORE(slabs, c->pool->map.h->nslabs);
	STORE(slab_bytes, c->pool->map.h->slab_bytes);
	publish_as(k, false);
	ret = -pthread_create(&k->thread, NULL, keeper_main, k);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the pool's keeper: %s", strerror(-ret));
		goto fail;
	}
	*out = k;
	return 0;
fail:
	keeper_free(k);
	return ret;
}

void remote_keeper_stop(struct remote_keeper *k)
{
	__atomic_store_n(&k->stop, true, __ATOMIC_RELEASE);
	pthread_join(k->thread, NULL);
	for (unsigned i = 0; i < k->nq * REMOTE_MAX_NODES; i++)
		if (k->ready[i])
			k->ready[i]->ops->close(k->ready[i]);
	for (unsigned n = 0; n < k->nn; n++)
		if (k->own[n])
			k->own[n]->ops->close(k->own[n]);
	keeper_free(k);
}
