/* remote_keeper.c — see remote_keeper.h. */
#include "remote_keeper.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io_thread.h"
#include "log.h"
#include "target.h"

#define RETRY_NS           1000000000ull /* a node that refused: asked again after this */
#define CONNECT_TIMEOUT_MS 3000
#define IDLE_NS            100000000ull /* the keeper's pace when nothing is to be done */
#define QUIET_TRIES        100          /* 1 ms waits for a chunk's writes to finish */

struct remote_keeper {
	struct remote_keeper_conf c;
	unsigned nq, nn;
	/* Per queue and node: the queue asks (want), the keeper answers (ready). */
	uint8_t *want;
	struct page_store **ready;
	/* The keeper's own links, for resyncs; and when each node may be tried again. */
	struct page_store *own[REMOTE_MAX_NODES];
	uint64_t next_try_ns[REMOTE_MAX_NODES];
	bool lost[REMOTE_MAX_NODES];              /* judged lost, region not created again yet */
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
	uint64_t pages[REMOTE_CHUNK_PAGES];
	struct ps_completion done[REMOTE_CHUNK_PAGES];
	bool stop;
	pthread_t thread;
};

void remote_keeper_want(struct remote_keeper *k, unsigned q, unsigned n)
{
	__atomic_store_n(&k->want[q * k->nn + n], 1, __ATOMIC_RELEASE);
}

struct page_store *remote_keeper_take(struct remote_keeper *k, unsigned q, unsigned n)
{
	return __atomic_exchange_n(&k->ready[q * k->nn + n], NULL, __ATOMIC_ACQ_REL);
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
		unsigned all = (1u << p->replicas) - 1;

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
	uint64_t now = monotonic_ns();
	struct page_store_conf c;
	struct page_store *ps;
	char err[240];
	int ret;

	if (now < k->next_try_ns[n])
		return NULL;
	remote_store_conf(k->c.conf, k->c.rc, n, remote_pool_region_bytes(k->c.pool, n), 0, &c);
	c.timeout_ms = CONNECT_TIMEOUT_MS < c.timeout_ms ? CONNECT_TIMEOUT_MS : c.timeout_ms;
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
		k->next_try_ns[n] = now + RETRY_NS;
		return NULL;
	}
	c.timeout_ms = k->c.rc->timeout_ms;
	ps->conf.timeout_ms = c.timeout_ms;
	return ps;
}

/* Opens the links the queues asked for; one failure leaves the node until its retry time. */
static void serve_wants(struct remote_keeper *k)
{
	for (unsigned n = 0; n < k->nn; n++)
		for (unsigned q = 0; q < k->nq; q++) {
			unsigned i = q * k->nn + n;
			struct page_store *ps;

			if (!__atomic_load_n(&k->want[i], __ATOMIC_ACQUIRE) ||
			    __atomic_load_n(&k->ready[i], __ATOMIC_ACQUIRE))
				continue;
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
	/* An idle link learns that its node died only when it looks (nothing is in flight). */
	if (k->own[n])
		k->own[n]->ops->reap(k->own[n], k->done, REMOTE_CHUNK_PAGES);
	if (k->own[n] && k->own[n]->down) {
		k->own[n]->ops->close(k->own[n]);
		k->own[n] = NULL;
	}
	if (!k->own[n])
		k->own[n] = open_link(k, n);
	return k->own[n];
}

/* What `ublk-ctl nodes` and `list` show: each node's state and copies, the slabs below R
 * copies, and a rebuild's progress (it begins when a copy goes stale, and grows by the copies
 * that go stale while it runs). */
static void publish(struct remote_keeper *k)
{
	struct remote_pool *p = k->c.pool;
	uint32_t stale[REMOTE_MAX_NODES] = { 0 }, held[REMOTE_MAX_NODES] = { 0 };
	bool down[REMOTE_MAX_NODES] = { false };
	uint64_t copies = 0, degraded = 0;

	for (unsigned n = 0; n < k->nn; n++) {
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

		if (remote_pool_region_bytes(p, n))
			st = down[n]    ? UBLK_NODE_DOWN
			     : stale[n] ? UBLK_NODE_RESYNCING
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

/* Waits for `count` requests on ps; returns 0, or -EIO if any failed or the link broke. */
static int wait_all(struct remote_keeper *k, struct page_store *ps, unsigned count)
{
	int ret = 0;

	ps->ops->flush(ps);
	while (count > 0) {
		struct pollfd pfd = { .fd = ps->ops->fd(ps), .events = POLLIN };
		int got = ps->ops->reap(ps, k->done, REMOTE_CHUNK_PAGES);

		for (int i = 0; i < got; i++)
			if (k->done[i].status < 0)
				ret = -EIO;
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
 * one at `to`,
 * while no write to the chunk is in flight; again if one began meanwhile. Returns 0, -EAGAIN
 * (writes keep coming: later), or -EIO. */
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
			failed = src->ops->get(src, remote_pool_node_page(p, pg, from), e,
					       k->buf + (size_t)n * UBLK_PAGE_SIZE, n) < 0;
			n += !failed;
		}
		/* Every request sent is answered before the buffer is used again. */
		if (wait_all(k, src, n) < 0 || failed)
			return -EIO;
		unsigned sent = 0;

		while (sent < n && !failed) {
			failed = dst->ops->put(dst, remote_pool_node_page(p, k->pages[sent], to),
					       k->masks[sent],
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
		if (__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) ||
		    copy_pages(k, pg, next, from_place, to_place, src, dst) < 0) {
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

/* A free place for a copy of slab s: on the node that is up, holds no member of s and has the
 * most free slots; 0 with *ok false if none has room. */
static uint32_t free_place(struct remote_keeper *k, uint64_t s, const bool *down, bool *ok)
{
	struct remote_pool *p = k->c.pool;
	uint32_t best_free = 0, best_slot = 0;
	int best = -1;

	for (unsigned n = 0; n < k->nn; n++) {
		uint32_t nfree = 0, first = 0;
		bool member = false;

		for (unsigned m = 0; m < p->replicas; m++)
			member |= pool_map_node(&p->map, s, m) == n;
		if (member || down[n])
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
			unsigned n = pool_place_node(old), sources = 0;
			bool ok;

			if (!down[n] || now - k->down_since_ns[n] < grace)
				continue;
			/* Only with a source to refill from: a fresh member on a node that is up
			 * (else this copy may be the one that comes back). */
			for (unsigned o = 0; o < p->replicas; o++)
				if (o != m && !down[pool_map_node(&p->map, s, o)])
					sources |= 1u << o;
			place = free_place(k, s, down, &ok);
			if (!ok || !pool_map_mark_failed(&p->map, s, 1u << m, sources))
				continue; /* no room, or no such source: the member stays */
			set_slot(k, place, true);
			set_slot(k, old, false);
			pool_map_move(&p->map, s, m, place);
			STORE(moved, k->c.stats->moved + 1);
			log_msg("slab %llu: %s is gone past the grace (%u s): its copy goes to %s",
				(unsigned long long)s, k->c.rc->node[n], k->c.rc->grace_s,
				k->c.rc->node[pool_place_node(place)]);
		}
}

static void *keeper_main(void *arg)
{
	struct remote_keeper *k = arg;
	struct remote_pool *p = k->c.pool;

	/* Not realtime: a resync must not take a CPU from everything else; the queues, which
	 * are, get ahead of it. */
	io_thread_init("ublk-keeper", false);
	STORE(nnodes, k->nn);
	STORE(replicas, p->replicas);
	STORE(slabs, p->map.h->nslabs);
	STORE(slab_bytes, p->map.h->slab_bytes);
	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		serve_wants(k);
		publish(k);
		rereplicate(k);
		if (k->c.pool->replicas > 1 && pool_map_degraded(&k->c.pool->map))
			resync_pass(k);
		struct timespec idle = { 0, IDLE_NS };

		nanosleep(&idle, NULL);
	}
	return NULL;
}

static void keeper_free(struct remote_keeper *k)
{
	for (unsigned n = 0; n < k->nn; n++)
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
	k->nq = c->conf->nr_queues;
	k->nn = c->rc->nnodes;
	k->want = calloc((size_t)k->nq * k->nn, sizeof(*k->want));
	k->ready = calloc((size_t)k->nq * k->nn, sizeof(*k->ready));
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
	for (unsigned i = 0; i < k->nq * k->nn; i++)
		if (k->ready[i])
			k->ready[i]->ops->close(k->ready[i]);
	for (unsigned n = 0; n < k->nn; n++)
		if (k->own[n])
			k->own[n]->ops->close(k->own[n]);
	keeper_free(k);
}
