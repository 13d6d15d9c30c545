/* remote.c — the `remote` target: device pages live on a pool of memory nodes (rdma/memnode).
 *
 * Each page write becomes one page-store PUT per copy of its slab (remote_pool.h) and each read
 * one GET from one copy, moving the lines its entry says are live (docs/design.md, "The
 * per-page entry"). The entry used to store a page is the one used to fetch it, because the
 * remote copies are packed by it: an entry is written only once its PUTs have completed. Entry
 * 0 means "nothing stored": such a page reads as zeros without asking a node.
 *
 * A write completes when every copy whose node is reachable has answered; a copy that failed or
 * could not be sent is marked stale (it missed the write and serves no read until a resync
 * brings it up to date), as long as another copy took the write: the last fresh copy of a slab
 * is never marked, so a write that no copy took fails with EIO instead. A read goes to the
 * fresh copy on a reachable node with the fewest requests in flight from this queue; an error
 * or a timeout retries on the next, so no read fails while a fresh copy is reachable.
 *
 * With hints on, a write's pages go to the hint service once their data is in hand; it comes
 * back with each page's live lines (hint_service.h), and the PUTs move only those (and lines 0
 * and 1). Entries: 0 nothing stored, LINES_WHOLE all lines, ENTRY_LOST lost; otherwise bit 0
 * (ENTRY_HINTED) is set and bits 2..63 are the lines the PUT moved.
 *
 * Sealed (the default; page_seal.h), each write's pages take a new version from the device's
 * counter before their first PUT, and every copy of it (and a resend) is sealed with it: one
 * version, one content. The version is stored with the entry (before it), and a read opens
 * the copy with both; a copy that does not open (altered, replayed, another page's) counts as
 * a bad seal on its node, and the read goes on to the next copy, or fails with EIO.
 *
 * The entries live in a shared-memory file (t->store_path) and the placement in the pool map,
 * so a recovered daemon keeps both; each node keeps its copies in a region named in the device
 * record, so they survive a crash. Each queue has its own connection to each node; a broken
 * one fails its requests at once, and the keeper thread (remote_keeper.h) opens a new one and
 * hands it over at a tick, deciding first what a node that restarted has lost. A page whose
 * only fresh copy was lost reads as an error (ENTRY_LOST) until it is written again, never as
 * zeros.
 *
 * Memory: each queue's buffers and request state are allocated at queue_open; links are opened
 * by the keeper; the hint thread's arrays grow only as the clients' heaps grow
 * (slot_resolver.c). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hint_service.h"
#include "log.h"
#include "page_store.h"
#include "queue.h"
#include "remote.h"
#include "remote_admin.h"
#include "remote_pool.h"
#include "remote_keeper.h"
#include "sg_plan.h"
#include "stats.h"
#include "targets.h"

#define ENTRY_LOST       REMOTE_ENTRY_LOST
#define STORE_AT(q, n)   ((q)*REMOTE_MAX_NODES + (n))
#define INCOMING_M       3 /* a write's member number for the slab's incoming copy */
#define INCOMING_BIT     (1u << INCOMING_M)
#define HEDGE_BUFS       32         /* hedge GETs in flight per queue, at most (a bit each) */
#define HEDGE_MIN_NS     5000000ull /* a GET is hedged after this at the earliest */
#define HEDGE_SCAN_NS    5000000ull
#define HEDGE_TUNE_NS    1000000000ull
#define HEDGE_TUNE_READS 64
#define COOKIE_PAGES     256 /* a request's pages in a cookie: 1 MiB (ublk-ctl add --max-io) */
#define ENTRY_HINTED     0x1ull
#define READ_RACES       3 /* a read tries its copies again this often when writes overtake it */

/* The flags take the bits of lines 0 and 1, which every plan moves whatever the mask says: an
 * entry plans the same transfer as the live lines it was made from. */
_Static_assert(((ENTRY_HINTED | ENTRY_LOST) & ~LINES_ALWAYS) == 0,
	       "the entry's flags are the always-moved lines' bits");
_Static_assert((ENTRY_HINTED & ENTRY_LOST) == 0, "a lost entry is never a hinted one");

/* A page of a request: copies still to answer; which took a write, which failed, which of
 * those had no link to be sent on, which were tried by a read (a bit per member each); whether
 * it waits for a link (parked), and whether it was sent again to a link that came back
 * (resent). A read has one GET in flight, or two once it is hedged: the first good answer
 * wins. */
struct page_io {
	uint8_t pending;
	uint8_t ok;
	uint8_t failed;
	uint8_t unsent;
	uint8_t tried;
	bool parked;
	bool resent;
	bool answered;        /* a read's data is in (a later answer is a loser's) */
	uint8_t out;          /* a read's GETs in flight */
	uint8_t primary;      /* the member of its first GET in flight, */
	uint8_t primary_node; /* and its node then */
	uint8_t hedge;        /* its hedge GET's buffer + 1; 0: none in flight */
	uint8_t hedge_node;
	uint8_t in_member; /* a write also sent to the slab's incoming copy (member bit */
	uint32_t in_place; /* INCOMING_BIT) for this member, at this place */
	uint8_t raced;     /* a read's copies that a write to the page overtook */
	uint16_t bytes;    /* on the wire, per copy (statistics) */
	uint64_t sent_ns;  /* when its copies were last sent */
	uint64_t hedge_ns;
};

struct tag_state {
	uint32_t gen;     /* the tag's request count: an answer to an earlier one is ignored */
	unsigned pending; /* pages not yet done */
	unsigned parked;  /* of which waiting for a link to a node with a fresh copy */
	int error;
	uint64_t deadline_ns;    /* a parked page waits until then (the I/O timeout), then fails */
	struct hint_batch batch; /* a write waiting for its masks */
	struct page_io *io;      /* per page of the request */
	uint64_t *versions;      /* per page: the version its copies were sealed with */
	uint64_t masks[];        /* per page: the entry its PUTs packed by */
};

struct remote_queue {
	struct page_store *ps[REMOTE_MAX_NODES]; /* NULL: down, or the node holds none of ours */
	int store_fd[REMOTE_MAX_NODES];          /* ps[n]'s fd in epfd */
	bool up[REMOTE_MAX_NODES];               /* for reads: ps[n] can take a request */
	unsigned load[REMOTE_MAX_NODES];         /* for reads: ps[n]'s requests in flight */
	unsigned parked;                         /* pages parked, over all tags */
	bool asked[REMOTE_MAX_NODES];            /* the keeper was asked for a link to node n */
	int epfd;        /* the queue's watch: the stores' fds and hint_done's */
	int hedge_timer; /* in the watch: fires every HEDGE_SCAN_NS while armed */
	bool hedge_armed;
	struct hint_done resolved; /* writes whose masks are known */
	bool has_done;
	uint8_t *bufs; /* depth x max_io bytes */
	uint8_t *tags; /* depth x tag_size */
	size_t tag_size;
	unsigned pages; /* per request, at most */
	/* Hedged reads: a page for each hedge GET in flight (a bit each in hedge_free), sent
	 * once a GET has waited hedge_after_ns (twice this queue's p99 of a page copy). */
	uint8_t *hedge_bufs;
	uint32_t hedge_free;
	uint64_t hedge_after_ns, next_scan_ns, next_tune_ns;
	uint64_t read_lat[UBLK_LAT_BUCKETS]; /* good GETs' round trips since the last tune */
	struct ps_completion done[64];
	struct remote_queue *next_retired;
};

struct remote_target {
	struct remote_conf rc;   /* the device's options, with its secret */
	struct remote_pool pool; /* where each slab's copies are */
	int fd;
	uint64_t *entries;  /* the entry file (remote.h): an entry per page, */
	uint64_t *versions; /* a version per page, */
	uint64_t *counter;  /* and the last version given */
	/* Links opened at target open, taken by queue_open: queue q's to node n at STORE_AT. */
	struct page_store **stores;
	unsigned nstores;
	struct remote_keeper *keeper; /* reconnects the queues, resyncs stale copies */
	struct remote_admin *admin;   /* ublk-ctl node's requests to the keeper */
	struct hint_service *hints;   /* NULL: every page moves whole */
	char hint_socket[PATH_MAX];
	/* Queues' state, freed only after the hint service has stopped: a closed queue's
	 * requests may still be in a batch the hint thread holds (see remote_queue_close). */
	pthread_mutex_t retired_lock;
	struct remote_queue *retired;
};

static void free_queue(struct remote_queue *rq)
{
	if (rq->has_done)
		hint_done_free(&rq->resolved);
	if (rq->epfd >= 0)
		close(rq->epfd);
	if (rq->hedge_timer >= 0)
		close(rq->hedge_timer);
	free(rq->bufs);
	free(rq->tags);
	free(rq->hedge_bufs);
	free(rq);
}

/* Frees node n's region through a new link: no queue held a live one. */
static void release_region(struct ublk_target *t, struct remote_target *r, unsigned n)
{
	char err[200];

	if (remote_pool_release_node(t->conf, &r->rc, n, remote_pool_region_bytes(&r->pool, n), err,
				     sizeof(err)) < 0)
		log_msg("could not free this device's region on %s: %s", r->rc.node[n], err);
}

static void remote_close(struct ublk_target *t, bool keep)
{
	struct remote_target *r = t->priv;

	if (!r)
		return;
	if (r->keeper)
		remote_keeper_stop(r->keeper);
	/* Every batch comes back (whole) before this returns; then no one holds a queue's tags. */
	if (r->hints)
		hint_service_stop(r->hints, keep);
	while (r->retired) {
		struct remote_queue *rq = r->retired;

		r->retired = rq->next_retired;
		free_queue(rq);
	}
	/* Deleting the device frees its region on each node through one live link to it. */
	for (unsigned n = 0; n < r->rc.nnodes; n++) {
		bool released = keep;

		for (unsigned q = 0; r->stores && q < t->conf->nr_queues; q++) {
			struct page_store *ps = r->stores[STORE_AT(q, n)];

			if (!ps)
				continue;
			if (!released && ps->ops->release(ps) == 0)
				released = true;
			else if (released)
				ps->ops->close(ps);
		}
		if (!released && r->pool.mem && remote_pool_region_bytes(&r->pool, n))
			release_region(t, r, n);
	}
	if (r->entries)
		munmap(r->entries, remote_entry_file_size(t->nr_pages));
	if (r->fd >= 0)
		close(r->fd);
	if (r->pool.mem)
		remote_pool_close(&r->pool, t, keep);
	remote_admin_close(r->admin, t->conf->dev_id, keep);
	if (!keep) {
		unlink(t->store_path);
		remote_secret_remove(t->conf->dev_id);
	}
	free(r->stores);
	free(r);
	t->priv = NULL;
}

/* Opens every queue's link to every node that holds copies. A new device's first link to a
 * node creates its region. A recovering daemon goes on without a node it cannot reach (or that
 * lost the region): the queues reconnect, and decide what was lost, from their ticks. */
static int open_links(struct ublk_target *t, struct remote_target *r, bool recovering)
{
	for (unsigned i = 0; i < r->nstores; i++) {
		unsigned n = i % REMOTE_MAX_NODES;
		uint64_t bytes = remote_pool_region_bytes(&r->pool, n);
		struct page_store_conf c;
		char err[240];
		int ret;

		if (n >= r->rc.nnodes || !bytes)
			continue;
		remote_store_conf(t->conf, &r->rc, n, bytes, !recovering && i == n, &c);
		ret = page_store_open(&c, &r->stores[i], err, sizeof(err));
		if (ret < 0 && recovering) {
			if (i == n)
				log_msg("%s: %s; reads go to the other copies until it is back",
					r->rc.node[n], err);
			r->stores[i] = NULL;
		} else if (ret < 0) {
			snprintf(t->error, sizeof(t->error), "remote: %s", err);
			return ret;
		}
	}
	return 0;
}

static int remote_open(struct ublk_target *t, bool recovering)
{
	struct remote_target *r = calloc(1, sizeof(*r));
	char err[240];
	void *map;
	int ret;

	if (!r)
		return -ENOMEM;
	t->priv = r;
	r->fd = -1;
	r->rc = *remote_conf(t->conf);
	pthread_mutex_init(&r->retired_lock, NULL);
	remote_conf_upgrade(t->conf, &r->rc);
	if (!r->rc.nnodes || !r->rc.replicas || !r->rc.slab_bytes || strlen(r->rc.region) != 32) {
		snprintf(t->error, sizeof(t->error), "remote: the device record names no node");
		ret = -EINVAL;
		goto fail;
	}
	/* ublk-ctl add handed the secret over; a recovering daemon finds it where we left it. */
	ret = recovering ? remote_secret_load(t->conf->dev_id, &r->rc, err, sizeof(err))
			 : remote_secret_save(t->conf->dev_id, &r->rc, err, sizeof(err));
	if (ret < 0) {
		snprintf(t->error, sizeof(t->error), "remote: %s", err);
		goto fail;
	}
	ret = remote_pool_open(t, &r->rc, recovering, &r->pool);
	if (ret < 0)
		goto fail;
	ret = ublk_backing_open(t, "remote", t->store_path, remote_entry_file_size(t->nr_pages),
				recovering, &r->fd, &map);
	if (ret < 0)
		goto fail;
	r->entries = map;
	r->versions = r->entries + t->nr_pages;
	r->counter = r->versions + t->nr_pages;
	/* Every entry's page faulted in now (tmpfs allocates on first write), so that storing an
	 * entry never needs memory; the values stay as they are. */
	for (uint64_t i = 0; i <= 2 * t->nr_pages; i += UBLK_PAGE_SIZE / sizeof(uint64_t))
		__atomic_store_n(&r->entries[i], __atomic_load_n(&r->entries[i], __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	r->nstores = t->conf->nr_queues * REMOTE_MAX_NODES; /* room for nodes added later */
	r->stores = calloc(r->nstores, sizeof(*r->stores));
	if (!r->stores) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Connect now, so an unreachable node fails `add` at once. */
	ret = open_links(t, r, recovering);
	if (ret < 0)
		goto fail;
	ret = remote_admin_open(t->conf->dev_id, recovering, &r->admin, err, sizeof(err));
	if (ret < 0) {
		snprintf(t->error, sizeof(t->error), "remote: %s", err);
		goto fail;
	}
	/* The daemon's record (t->conf only reads it): the keeper saves it with a node added. */
	struct remote_keeper_conf kc = {
		.conf = (struct ublk_dev_conf *)t->conf,
		.rc = &r->rc,
		.pool = &r->pool,
		.admin = r->admin,
		.entries = r->entries,
		.versions = r->versions,
		.nr_pages = t->nr_pages,
		.stats = &t->stats->pool,
	};

	ret = remote_keeper_start(&kc, &r->keeper, err, sizeof(err));
	if (ret < 0) {
		snprintf(t->error, sizeof(t->error), "remote: %s", err);
		goto fail;
	}
	if (r->rc.hints) {
		struct hint_service_conf hc = {
			.dev_id = t->conf->dev_id,
			.socket_path = r->hint_socket,
			.allow_uid = (long)r->rc.hint_uid,
			.hold_ms = r->rc.hint_hold_ms,
			.memory_cap = r->rc.hint_memory,
			.read_all = r->rc.hint_read_all,
			.max_pages = t->conf->nr_queues * t->conf->depth *
				     (t->conf->max_io_bytes >> UBLK_PAGE_SHIFT),
			.device_bytes = t->conf->size,
			.recovering = recovering,
			.device_live = &t->stats->live,
			.stats = &t->stats->hints,
		};

		if (!ublk_state_path(r->hint_socket, sizeof(r->hint_socket), t->conf->dev_id,
				     "hints")) {
			ret = -ENAMETOOLONG;
			snprintf(t->error, sizeof(t->error),
				 "remote: the hint socket path is too long");
			goto fail;
		}
		ret = hint_service_start(&hc, &r->hints, err, sizeof(err));
		if (ret < 0) {
			snprintf(t->error, sizeof(t->error), "remote: %s", err);
			goto fail;
		}
	}
	return 0;
fail:
	remote_close(t, recovering || ret == -EEXIST);
	return ret;
}

static struct tag_state *tag_state(struct remote_queue *rq, uint16_t tag)
{
	return (struct tag_state *)(rq->tags + tag * rq->tag_size);
}

static uint8_t *tag_buf(struct ublk_queue *q, struct remote_queue *rq, uint16_t tag)
{
	return rq->bufs + (size_t)tag * q->max_io_bytes;
}

/* Puts node n's current store fd (if any) in the queue's watch. */
static void watch_store(struct remote_queue *rq, unsigned n)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (rq->store_fd[n] >= 0)
		epoll_ctl(rq->epfd, EPOLL_CTL_DEL, rq->store_fd[n], NULL);
	rq->store_fd[n] = rq->ps[n] ? rq->ps[n]->ops->fd(rq->ps[n]) : -1;
	if (rq->store_fd[n] >= 0)
		epoll_ctl(rq->epfd, EPOLL_CTL_ADD, rq->store_fd[n], &ev);
}

static int remote_queue_open(struct ublk_target *t, struct ublk_queue *q)
{
	struct remote_target *r = t->priv;
	struct remote_queue *rq = calloc(1, sizeof(*rq));
	unsigned pages = q->max_io_bytes >> UBLK_PAGE_SHIFT;
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (!rq)
		return -ENOMEM;
	rq->epfd = -1;
	rq->hedge_timer = -1;
	rq->pages = pages;
	q->target_ctx = rq;
	for (unsigned n = 0; n < REMOTE_MAX_NODES; n++) {
		rq->store_fd[n] = -1;
		rq->ps[n] = r->stores[STORE_AT(q->id, n)];
		r->stores[STORE_AT(q->id, n)] = NULL; /* the queue thread owns it now */
	}
	rq->tag_size =
		sizeof(struct tag_state) + pages * (2 * sizeof(uint64_t) + sizeof(struct page_io));
	rq->tag_size = (rq->tag_size + 7) & ~(size_t)7;
	if (pages > COOKIE_PAGES) {
		snprintf(q->why, sizeof(q->why), "remote: requests of over %u pages", COOKIE_PAGES);
		return -EINVAL;
	}
	rq->bufs = aligned_alloc(UBLK_PAGE_SIZE, (size_t)q->depth * q->max_io_bytes);
	rq->tags = calloc(q->depth, rq->tag_size);
	rq->hedge_bufs = aligned_alloc(UBLK_PAGE_SIZE, (size_t)HEDGE_BUFS * UBLK_PAGE_SIZE);
	rq->hedge_free = ~0u;
	rq->hedge_after_ns = HEDGE_MIN_NS;
	if (!rq->bufs || !rq->tags || !rq->hedge_bufs) {
		snprintf(q->why, sizeof(q->why), "remote: no memory for %u requests", q->depth);
		return -ENOMEM;
	}
	/* Faulted in now, under the daemon's mlockall: no page fault on the I/O path. */
	memset(rq->bufs, 0, (size_t)q->depth * q->max_io_bytes);
	memset(rq->tags, 0, (size_t)q->depth * rq->tag_size);
	memset(rq->hedge_bufs, 0, (size_t)HEDGE_BUFS * UBLK_PAGE_SIZE);
	for (uint16_t tag = 0; tag < q->depth; tag++) {
		struct tag_state *ts = tag_state(rq, tag);

		ts->versions = &ts->masks[pages];
		ts->io = (struct page_io *)&ts->versions[pages];
	}
	rq->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rq->epfd < 0)
		goto fail;
	/* Hedging looks at reads in flight even when nothing else wakes the queue. */
	rq->hedge_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rq->hedge_timer < 0 || epoll_ctl(rq->epfd, EPOLL_CTL_ADD, rq->hedge_timer, &ev) < 0)
		goto fail;
	for (unsigned n = 0; n < REMOTE_MAX_NODES; n++)
		watch_store(rq, n);
	if (r->hints) {
		if (hint_done_init(&rq->resolved) < 0)
			goto fail;
		rq->has_done = true;
		if (epoll_ctl(rq->epfd, EPOLL_CTL_ADD, rq->resolved.efd, &ev) < 0)
			goto fail;
	}
	return rq->epfd;
fail:
	ret = -errno;
	snprintf(q->why, sizeof(q->why), "remote: cannot set up the queue's watch: %s",
		 strerror(-ret));
	return ret;
}

/* Finishes a request whose pages are all done. */
static void finish(struct ublk_queue *q, struct remote_queue *rq, struct ublk_req *req)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	int err = ts->error;

	if (!err && req->op == UBLK_IO_OP_READ)
		err = ublk_req_copy_out(req, tag_buf(q, rq, req->tag),
					(size_t)req->nr_pages << UBLK_PAGE_SHIFT, 0);
	ublk_req_done(req, err);
}

/* Counts one page moved by entry, `bytes` on the wire, on the queue's statistics. */
static void count_move(struct ublk_queue *q, bool put, uint64_t entry, unsigned bytes)
{
	struct ublk_move_stats *m = put ? &q->stats->put : &q->stats->get;

	if (entry != LINES_WHOLE)
		__atomic_store_n(&m->hinted_pages, m->hinted_pages + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&m->pages, m->pages + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&m->bytes, m->bytes + bytes, __ATOMIC_RELAXED);
}

/* The entry a page is stored by, from its live lines (all ones: whole). Every live line stays
 * in it (docs/design.md, "The one invariant"); only the always-moved lines' bits change. */
static uint64_t entry_of(uint64_t live)
{
	return (live | LINES_ALWAYS) == LINES_WHOLE ? LINES_WHOLE
						    : (live & ~LINES_ALWAYS) | ENTRY_HINTED;
}

/* A copy's cookie: the tag's request count (32 bits: a loser's answer may come an I/O timeout
 * late, thousands of requests later), then the tag, the page, the hedge buffer + 1 (0: not a
 * hedge), the member. */
_Static_assert(UBLK_MAX_QUEUE_DEPTH <= 1u << 16, "a tag fits its 16 bits");
_Static_assert(HEDGE_BUFS < 1u << 6, "a hedge buffer + 1 fits its 6 bits");
_Static_assert(POOL_MAX_REPLICAS <= 1u << 2, "a member fits its 2 bits");

static uint64_t cookie_of(const struct ublk_req *req, uint32_t gen, uint32_t i, unsigned hedge,
			  unsigned m)
{
	return (uint64_t)gen << 32 | (uint64_t)req->tag << 16 | (uint64_t)i << 8 |
	       (uint64_t)hedge << 2 | m;
}

/* Sends member m's copy of page i of req, at `place` (a PUT of a write, a GET of a read, into
 * the hedge buffer `hedge` - 1 if not 0); false if its node cannot take it now. */
static bool send_member(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
			uint32_t i, unsigned m, unsigned hedge, uint32_t place)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	uint64_t page = req->page + i;
	struct page_store *ps = rq->ps[pool_place_node(place)];
	uint8_t *buf = hedge ? rq->hedge_bufs + (size_t)(hedge - 1) * UBLK_PAGE_SIZE
			     : tag_buf(req->q, rq, req->tag) + ((size_t)i << UBLK_PAGE_SHIFT);
	uint64_t at = remote_pool_node_page(&r->pool, page, place);
	uint64_t cookie = cookie_of(req, ts->gen, i, hedge, m);
	int ret;

	if (!ps || ps->down)
		return false;
	/* Sealed as the device's page, wherever this copy is: every copy the same bytes. */
	struct ps_seal seal = { .page = page, .version = ts->versions[i] };

	ret = req->op == UBLK_IO_OP_WRITE ? ps->ops->put(ps, at, ts->masks[i], seal, buf, cookie)
					  : ps->ops->get(ps, at, ts->masks[i], seal, buf, cookie);
	if (ret < 0)
		return false;
	ts->io[i].bytes = (uint16_t)ret;
	*(hedge ? &ts->io[i].hedge_ns : &ts->io[i].sent_ns) = monotonic_ns();
	count_move(req->q, req->op == UBLK_IO_OP_WRITE, ts->masks[i], (unsigned)ret);
	return true;
}

/* Starts (or stops) the hedge timer: it runs while reads are in flight on a pool with copies
 * to hedge to. */
static void arm_hedge_timer(struct remote_target *r, struct remote_queue *rq, bool on)
{
	struct itimerspec its = { 0 };

	if (on == rq->hedge_armed || r->pool.replicas < 2)
		return;
	if (on)
		its.it_interval = its.it_value = (struct timespec){ 0, HEDGE_SCAN_NS };
	timerfd_settime(rq->hedge_timer, 0, &its, NULL);
	rq->hedge_armed = on;
}

/* The pool's nodes now (nodes added since the queue started included). */
static unsigned pool_nodes(const struct remote_target *r)
{
	return __atomic_load_n(&r->pool.map.h->nnodes, __ATOMIC_ACQUIRE);
}

/* Which links can take a read now, and how busy each is: what pool_map_pick_read weighs. */
static void view_links(struct remote_target *r, struct remote_queue *rq)
{
	for (unsigned n = 0, nn = pool_nodes(r); n < nn; n++) {
		rq->up[n] = rq->ps[n] && !rq->ps[n]->down;
		rq->load[n] = rq->ps[n] ? rq->ps[n]->inflight : 0;
	}
}

/* Sends page i of a read to the best fresh copy not tried yet; false if none is left. */
static bool read_next_copy(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
			   uint32_t i)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	struct page_io *io = &ts->io[i];
	uint64_t s = remote_pool_slab(&r->pool, req->page + i);
	int m;

	/* Taken again on every try: the keeper may have found the page lost since (a node that
	 * restarted answers from an empty region), or a discard forgotten it. */
	ts->masks[i] = __atomic_load_n(&r->entries[req->page + i], __ATOMIC_ACQUIRE);
	if (ts->masks[i] == 0 || ts->masks[i] == ENTRY_LOST)
		return false;
	ts->versions[i] = __atomic_load_n(&r->versions[req->page + i], __ATOMIC_RELAXED);
	view_links(r, rq);
	uint32_t place;

	/* The place the pick judged fresh is the one read: a copy moved meanwhile is not. */
	while ((m = pool_map_pick_read(&r->pool.map, s, rq->up, rq->load, io->tried, &place)) >=
	       0) {
		io->tried |= (uint8_t)(1u << m);
		if (send_member(r, rq, req, i, (unsigned)m, 0, place)) {
			io->primary = (uint8_t)m;
			io->primary_node = (uint8_t)pool_place_node(place);
			io->out = 1;
			arm_hedge_timer(r, rq, true);
			return true;
		}
	}
	return false;
}

/* Sends page i of a write to every copy of its slab; false if none could take it. */
static bool write_copies(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
			 uint32_t i)
{
	struct page_io *io = &tag_state(rq, req->tag)->io[i];
	uint64_t s = remote_pool_slab(&r->pool, req->page + i);
	unsigned in_member;
	/* Before the members' places: a move hands its place over only after this is gone. */
	bool incoming = pool_map_incoming(&r->pool.map, s, &in_member, &io->in_place);

	io->ok = io->failed = io->unsent = 0;
	io->in_member = (uint8_t)in_member;
	for (unsigned m = 0; m < r->pool.replicas; m++) {
		if (send_member(r, rq, req, i, m, 0, pool_map_place_of(&r->pool.map, s, m)))
			io->pending++;
		else
			io->unsent |= (uint8_t)(1u << m);
	}
	io->failed = io->unsent;
	if (incoming && send_member(r, rq, req, i, INCOMING_M, 0, io->in_place))
		io->pending++;
	else if (incoming)
		io->failed |= INCOMING_BIT;
	if (!io->pending)
		io->failed &= (uint8_t)~INCOMING_BIT; /* nothing was written: no copy missed it */
	return io->pending > 0;
}

/* Page i is done (its error, if any, already recorded). */
static void page_done(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
		      uint32_t i)
{
	struct tag_state *ts = tag_state(rq, req->tag);

	if (req->op == UBLK_IO_OP_WRITE)
		remote_pool_write_ends(&r->pool, req->page + i);
	if (--ts->pending == 0) /* parked pages count as pending */
		finish(req->q, rq, req);
}

/* Page i reached no fresh copy. If one is on a node this queue has no link to right now (the
 * keeper is reconnecting it), the page waits for it, up to the I/O timeout; otherwise, or
 * then, it fails. A write that had no link for a fresh copy which has one now is sent again
 * once, whatever the time: the other copies' timeouts may have used up the request's. */
static void page_stuck(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
		       uint32_t i)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	uint64_t s = remote_pool_slab(&r->pool, req->page + i);
	uint64_t now = monotonic_ns();
	bool waitable = false, resend = false;

	if (req->op == UBLK_IO_OP_READ && ts->masks[i] == 0) {
		/* Forgotten (discarded) meanwhile: it reads as zeros. */
		memset(tag_buf(req->q, rq, req->tag) + ((size_t)i << UBLK_PAGE_SHIFT), 0,
		       UBLK_PAGE_SIZE);
		page_done(r, rq, req, i);
		return;
	}
	if (req->op == UBLK_IO_OP_READ && ts->masks[i] == ENTRY_LOST)
		now = ts->deadline_ns; /* lost: fails now */

	for (unsigned m = 0; m < r->pool.replicas; m++) {
		struct page_store *ps = rq->ps[pool_map_node(&r->pool.map, s, m)];
		bool fresh = !pool_map_is_stale(&r->pool.map, s, m), up = ps && !ps->down;

		waitable |= fresh && !up;
		resend |= fresh && up && (ts->io[i].unsent >> m & 1) && !ts->io[i].resent;
	}
	if (resend)
		ts->io[i].resent = true;
	if (resend || (waitable && now < ts->deadline_ns)) {
		ts->io[i].parked = true;
		ts->parked++;
		rq->parked++;
		return;
	}
	ts->error = -EIO;
	page_done(r, rq, req, i);
}

/* Page i of a write has every answer: its entry is stored if a fresh copy took it, and the
 * copies that did not are stale from now on. */
static void write_answered(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
			   uint32_t i)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	struct page_io *io = &ts->io[i];
	uint64_t page = req->page + i, s = remote_pool_slab(&r->pool, page);

	/* The incoming copy missed it: the move ends, or (handed over) its member missed it. */
	if (io->failed & INCOMING_BIT) {
		int m = pool_map_incoming_failed(&r->pool.map, s, io->in_member, io->in_place);

		if (m >= 0) {
			io->failed |= (uint8_t)(1u << m);
			io->ok &= (uint8_t) ~(1u << m);
		}
	}
	io->failed &= (uint8_t)~INCOMING_BIT;
	io->ok &= (uint8_t)~INCOMING_BIT;
	/* Only a fresh copy that took the write may stand for the page: marking every fresh
	 * copy stale would leave the slab without one (checked and marked in one step). */
	if (!pool_map_mark_failed(&r->pool.map, s, io->failed, io->ok)) {
		page_stuck(r, rq, req, i);
		return;
	}
	/* Stored: from now on the page is fetched by this entry (and version, stored first). */
	__atomic_store_n(&r->versions[page], ts->versions[i], __ATOMIC_RELAXED);
	__atomic_store_n(&r->entries[page], ts->masks[i], __ATOMIC_RELEASE);
	page_done(r, rq, req, i);
}

/* Sends what put/get queued on every link: one batch of work requests per ublk request. */
static void flush_links(struct remote_target *r, struct remote_queue *rq)
{
	for (unsigned n = 0, nn = pool_nodes(r); n < nn; n++)
		if (rq->ps[n])
			rq->ps[n]->ops->flush(rq->ps[n]);
}

/* Starts a request: every page counts as pending until page_done; none waits for a link past
 * the I/O timeout from now. */
static void start_request(struct remote_target *r, struct tag_state *ts, uint32_t nr_pages)
{
	ts->gen++;
	ts->pending = nr_pages;
	ts->parked = 0;
	ts->error = 0;
	ts->deadline_ns = monotonic_ns() + (uint64_t)r->rc.timeout_ms * 1000000;
}

/* The request's result if it is done already, else UBLK_REQ_QUEUED. */
static int started(struct ublk_req *req, struct tag_state *ts, const uint8_t *buf)
{
	if (ts->pending)
		return UBLK_REQ_QUEUED;
	if (ts->error || req->op != UBLK_IO_OP_READ)
		return ts->error;
	return ublk_req_copy_out(req, buf, (size_t)req->nr_pages << UBLK_PAGE_SHIFT, 0);
}

static int remote_read_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct remote_target *r = t->priv;
	struct ublk_queue *q = req->q;
	struct remote_queue *rq = q->target_ctx;
	struct tag_state *ts = tag_state(rq, req->tag);
	uint8_t *buf = tag_buf(q, rq, req->tag);

	/* Counted as pending from the start, so no page's answer finishes the request early. */
	start_request(r, ts, req->nr_pages + 1);
	for (uint32_t i = 0; i < req->nr_pages; i++) {
		uint64_t entry = __atomic_load_n(&r->entries[req->page + i], __ATOMIC_ACQUIRE);

		ts->io[i] = (struct page_io){ 0 };
		if (entry == 0) {
			memset(buf + ((size_t)i << UBLK_PAGE_SHIFT), 0, UBLK_PAGE_SIZE);
			ts->pending--;
		} else if (!read_next_copy(r, rq, req, i)) {
			page_stuck(r, rq, req, i);
		}
	}
	flush_links(r, rq);
	ts->pending--;
	return started(req, ts, buf);
}

/* Issues a write's pages by their masks (all ones: whole). */
static int put_pages(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
		     const uint64_t *live)
{
	struct tag_state *ts = tag_state(rq, req->tag);

	start_request(r, ts, req->nr_pages + 1);
	for (uint32_t i = 0; i < req->nr_pages; i++) {
		ts->masks[i] = live ? entry_of(live[i]) : LINES_WHOLE;
		/* A new content, a new version: no nonce is sealed with twice. */
		ts->versions[i] = __atomic_add_fetch(r->counter, 1, __ATOMIC_RELAXED);
		ts->io[i] = (struct page_io){ 0 };
		remote_pool_write_begins(&r->pool, req->page + i);
		if (!write_copies(r, rq, req, i))
			write_answered(r, rq, req, i); /* no copy could be sent */
	}
	flush_links(r, rq);
	ts->pending--;
	return started(req, ts, NULL);
}

static int remote_write_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct remote_target *r = t->priv;
	struct ublk_queue *q = req->q;
	struct remote_queue *rq = q->target_ctx;
	struct tag_state *ts = tag_state(rq, req->tag);
	uint8_t *buf = tag_buf(q, rq, req->tag);
	int ret = ublk_req_copy_in(req, buf, (size_t)req->nr_pages << UBLK_PAGE_SHIFT, 0);

	if (ret < 0)
		return ret;
	/* Whole is always safe, so a write need not wait while no client has a reduced page. */
	if (!r->hints || hint_service_all_whole(r->hints))
		return put_pages(r, rq, req, NULL); /* every page whole */
	/* The data is in hand: only now may the hint service read the rings for its masks. */
	ts->batch = (struct hint_batch){
		.done = &rq->resolved,
		.first_page = req->page,
		.nr_pages = req->nr_pages,
		.masks = ts->masks,
	};
	hint_service_submit(r->hints, &ts->batch);
	return UBLK_REQ_QUEUED;
}

/* Writes whose masks came back: put their pages. */
static void put_resolved(struct remote_target *r, struct ublk_queue *q, struct remote_queue *rq)
{
	for (struct hint_batch *b = hint_done_take(&rq->resolved), *next; b; b = next) {
		struct tag_state *ts =
			(struct tag_state *)((uint8_t *)b - offsetof(struct tag_state, batch));
		uint16_t tag = (uint16_t)(((uint8_t *)ts - rq->tags) / rq->tag_size);
		struct ublk_req *req = &q->reqs[tag];
		int ret;

		next = b->next;
		ret = put_pages(r, rq, req, ts->masks);
		if (ret != UBLK_REQ_QUEUED)
			ublk_req_done(req, ret);
	}
}

static int remote_discard_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct remote_target *r = t->priv;

	/* The nodes' copies are simply forgotten: the page reads as zeros from now on. */
	for (uint32_t i = 0; i < req->nr_pages; i++)
		__atomic_store_n(&r->entries[req->page + i], 0, __ATOMIC_RELEASE);
	return 0;
}

static int remote_flush(struct ublk_target *t, struct ublk_req *req)
{
	(void)t;
	(void)req;
	return 0; /* a PUT completes only once the node holds the page */
}

/* A read's GET answered: the first good answer is the page's (a hedge's is copied in, and the
 * other GET forgotten); an error tries another copy once none is left in flight. */
static void read_answered(struct remote_target *r, struct remote_queue *rq, struct ublk_req *req,
			  uint32_t i, unsigned hedge, int status)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	struct page_io *io = &ts->io[i];
	uint8_t *page = tag_buf(req->q, rq, req->tag) + ((size_t)i << UBLK_PAGE_SHIFT);

	if (io->answered)
		return; /* the loser of a hedge */
	io->out--;
	if (hedge)
		io->hedge = 0;
	if (status == 0) {
		io->answered = true;
		if (hedge) {
			/* The primary's link, as it was sent: a move since changes the map. */
			struct page_store *ps = rq->ps[io->primary_node];

			memcpy(page, rq->hedge_bufs + (size_t)(hedge - 1) * UBLK_PAGE_SIZE,
			       UBLK_PAGE_SIZE);
			if (io->out && ps)
				ps->ops->forget(ps, cookie_of(req, ts->gen, i, 0, io->primary));
			__atomic_store_n(&req->q->stats->hedge_wins, req->q->stats->hedge_wins + 1,
					 __ATOMIC_RELAXED);
		}
		page_done(r, rq, req, i);
		return;
	}
	if (status == -ESTALE && io->raced < READ_RACES) {
		io->raced++;
		io->tried = 0; /* every copy again, by the page's entry and version now */
	}
	if (!io->out && !read_next_copy(r, rq, req, i))
		page_stuck(r, rq, req, i); /* no other fresh copy to try now */
}

/* Whether a write to `page` overtook read i of ts: its entry or version changed since the
 * read took them, or a write to its chunk is in flight (a few times; then a copy that does not
 * open is the node's doing). */
static bool read_raced(struct remote_target *r, uint64_t page, struct tag_state *ts, uint32_t i)
{
	if (__atomic_load_n(&r->entries[page], __ATOMIC_ACQUIRE) != ts->masks[i] ||
	    __atomic_load_n(&r->versions[page], __ATOMIC_RELAXED) != ts->versions[i])
		return true;
	return ts->io[i].raced < READ_RACES && remote_pool_writing(&r->pool, page);
}

/* An answer for a copy: `cookie` as cookie_of made it. */
static void page_answered(struct remote_target *r, struct ublk_queue *q, struct remote_queue *rq,
			  uint64_t cookie, int status)
{
	struct ublk_req *req = &q->reqs[(uint16_t)(cookie >> 16)];
	struct tag_state *ts = tag_state(rq, req->tag);
	uint32_t i = (uint8_t)(cookie >> 8);
	unsigned hedge = (cookie >> 2) & 0x3f, m = cookie & 3;

	if (hedge)
		rq->hedge_free |= 1u << (hedge - 1); /* that GET is over, whoever won */
	if ((uint32_t)(cookie >> 32) != ts->gen)
		return; /* a hedge's loser, for a request that has finished */
	struct page_io *io = &ts->io[i];
	uint64_t s = remote_pool_slab(&r->pool, req->page + i);
	uint64_t took = monotonic_ns() - (hedge ? io->hedge_ns : io->sent_ns);

	if (req->op != UBLK_IO_OP_WRITE) {
		unsigned node = hedge ? io->hedge_node : io->primary_node;

		/* A write that overtook the read changed what the copy holds, not the node. */
		if (status == -EBADMSG && read_raced(r, req->page + i, ts, i))
			status = -ESTALE;
		if (!io->answered) { /* a loser's answer is not a round trip anyone waited for */
			ublk_stats_node_record(&q->stats->node[node], false, io->bytes, status,
					       took);
			if (status == 0)
				rq->read_lat[ublk_stats_bucket(took)]++;
		} else if (status == -EBADMSG) {
			/* But a loser's bad seal is still the node's doing. */
			__atomic_store_n(&q->stats->node[node].bad_seals,
					 q->stats->node[node].bad_seals + 1, __ATOMIC_RELAXED);
		}
		read_answered(r, rq, req, i, hedge, status);
		return;
	}
	ublk_stats_node_record(&q->stats->node[m == INCOMING_M ? pool_place_node(io->in_place)
							       : pool_map_node(&r->pool.map, s, m)],
			       true, io->bytes, status, took);
	if (status < 0)
		io->failed |= (uint8_t)(1u << m);
	else
		io->ok |= (uint8_t)(1u << m);
	if (--io->pending == 0)
		write_answered(r, rq, req, i);
}

/* Twice the p99 of this queue's good reads since the last tune (kept while there were too few
 * to tell), between HEDGE_MIN_NS and a quarter of the I/O timeout: errors and timeouts never
 * raise it, and an outage is forgotten a second later. */
static void tune_hedge(struct remote_target *r, struct remote_queue *rq)
{
	uint64_t n = 0, p99, most = (uint64_t)r->rc.timeout_ms * 1000000 / 4;

	for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++)
		n += rq->read_lat[b];
	if (n >= HEDGE_TUNE_READS) {
		p99 = ublk_stats_lat_percentile(rq->read_lat, 990);
		rq->hedge_after_ns = 2 * p99 > HEDGE_MIN_NS ? 2 * p99 : HEDGE_MIN_NS;
		memset(rq->read_lat, 0, sizeof(rq->read_lat));
	}
	if (rq->hedge_after_ns > most)
		rq->hedge_after_ns = most > HEDGE_MIN_NS ? most : HEDGE_MIN_NS;
}

/* Reads whose GET has waited past hedge_after_ns get a second GET from another fresh copy:
 * a node that died without a word, or a slow one, costs a read that long, not the I/O
 * timeout. */
static void hedge_slow_reads(struct remote_target *r, struct ublk_queue *q, struct remote_queue *rq)
{
	uint64_t now = monotonic_ns(), expirations;
	bool reading = false;

	if (rq->hedge_armed && read(rq->hedge_timer, &expirations, sizeof(expirations)) < 0)
		expirations = 0; /* not yet: nothing to consume */
	if (now < rq->next_scan_ns || r->pool.replicas < 2)
		return;
	rq->next_scan_ns = now + HEDGE_SCAN_NS;
	if (now >= rq->next_tune_ns) {
		tune_hedge(r, rq);
		rq->next_tune_ns = now + HEDGE_TUNE_NS;
	}
	for (uint16_t tag = 0; tag < q->depth; tag++) {
		struct ublk_req *req = &q->reqs[tag];
		struct tag_state *ts = tag_state(rq, tag);

		if (req->op != UBLK_IO_OP_READ || !ts->pending)
			continue;
		reading = true;
		for (uint32_t i = 0; i < req->nr_pages && rq->hedge_free; i++) {
			struct page_io *io = &ts->io[i];
			uint64_t s = remote_pool_slab(&r->pool, req->page + i);
			unsigned b = (unsigned)__builtin_ctz(rq->hedge_free);
			int m;

			if (io->answered || io->out != 1 || io->hedge ||
			    now - io->sent_ns < rq->hedge_after_ns)
				continue;
			view_links(r, rq);
			uint32_t place;

			m = pool_map_pick_read(&r->pool.map, s, rq->up, rq->load, io->tried,
					       &place);
			if (m < 0 || !send_member(r, rq, req, i, (unsigned)m, b + 1, place))
				continue;
			io->tried |= (uint8_t)(1u << m); /* only once it is sent */
			rq->hedge_free &= ~(1u << b);
			io->hedge = (uint8_t)(b + 1);
			io->hedge_node = (uint8_t)pool_place_node(place);
			io->out++;
			__atomic_store_n(&q->stats->hedges, q->stats->hedges + 1, __ATOMIC_RELAXED);
		}
	}
	if (!reading)
		arm_hedge_timer(r, rq, false);
	flush_links(r, rq);
}

/* Tries the parked pages again: the links they waited for may be back. */
static void retry_parked(struct remote_target *r, struct ublk_queue *q, struct remote_queue *rq)
{
	for (uint16_t tag = 0; tag < q->depth && rq->parked; tag++) {
		struct tag_state *ts = tag_state(rq, tag);
		struct ublk_req *req = &q->reqs[tag];

		/* A page that fails here may finish the request: then ts->parked is 0. */
		for (uint32_t i = 0; i < req->nr_pages && ts->parked; i++) {
			struct page_io *io = &ts->io[i];
			bool sent;

			if (!io->parked)
				continue;
			io->parked = false;
			ts->parked--;
			rq->parked--;
			if (req->op == UBLK_IO_OP_WRITE) {
				sent = write_copies(r, rq, req, i);
			} else {
				io->tried = 0;
				sent = read_next_copy(r, rq, req, i);
			}
			if (!sent)
				page_stuck(r, rq, req, i);
		}
	}
	flush_links(r, rq);
}

static void remote_queue_poll(struct ublk_target *t, struct ublk_queue *q)
{
	struct remote_target *r = t->priv;
	struct remote_queue *rq = q->target_ctx;
	int got;

	unsigned nnodes = pool_nodes(r); /* nodes added since the queue started come in */

	if (rq->has_done)
		put_resolved(r, q, rq);
	for (unsigned n = 0; n < nnodes; n++) {
		struct page_store *ps = rq->ps[n];

		if (!ps) {
			/* Connecting can block: the keeper does it and hands the link over. */
			if (!remote_pool_region_bytes(&r->pool, n))
				continue;
			ps = rq->ps[n] = remote_keeper_take(r->keeper, q->id, n);
			if (!ps) {
				/* Once per outage: asking again while the keeper hands one over
				 * would have it open a second. */
				if (!rq->asked[n])
					remote_keeper_want(r->keeper, q->id, n);
				rq->asked[n] = true;
				continue;
			}
			rq->asked[n] = false;
			watch_store(rq, n);
		}
		while ((got = ps->ops->reap(ps, rq->done, 64)) > 0) {
			for (int k = 0; k < got; k++)
				page_answered(r, q, rq, rq->done[k].cookie, rq->done[k].status);
			flush_links(r, rq); /* retried reads */
		}
		if (ps->down) {
			bool removed = !remote_pool_region_bytes(&r->pool, n);

			if (!removed)
				log_msg("queue %u: lost the memory node %s; its copies are skipped "
					"until it is back",
					q->id, r->rc.node[n]);
			rq->ps[n] = NULL;
			watch_store(rq, n); /* out of the watch before its fd closes */
			ps->ops->close(ps);
			if (!removed)
				remote_keeper_want(r->keeper, q->id, n);
			rq->asked[n] = !removed;
		}
	}
	if (rq->parked)
		retry_parked(r, q, rq);
	hedge_slow_reads(r, q, rq);
}

static void remote_queue_close(struct ublk_target *t, struct ublk_queue *q)
{
	struct remote_target *r = t->priv;
	struct remote_queue *rq = q->target_ctx;

	if (!rq)
		return;
	/* Hand the links back, so close() can release the regions through them. */
	for (unsigned n = 0; n < REMOTE_MAX_NODES; n++)
		if (rq->ps[n])
			r->stores[STORE_AT(q->id, n)] = rq->ps[n];
	q->target_ctx = NULL;
	if (!rq->has_done || !rq->resolved.outstanding) {
		free_queue(rq);
		return;
	}
	/* The hint thread still holds batches that point into our tags; it hands every one back
	 * by the time hint_service_stop returns, so the tags are freed in remote_close. */
	pthread_mutex_lock(&r->retired_lock);
	rq->next_retired = r->retired;
	r->retired = rq;
	pthread_mutex_unlock(&r->retired_lock);
}

/* The pages are on the nodes; the daemon holds their entries (faulted in at open). */
static uint64_t remote_resident_bytes(struct ublk_target *t)
{
	return remote_entry_file_size(t->nr_pages);
}

const struct ublk_target_ops ublk_target_remote = {
	.name = "remote",
	.summary = "pages on a pool of memory nodes (memnode), each slab on --replicas of them,\n"
		   "reached over RDMA verbs or TCP; only the live lines of hinted pages move",
	.usage = remote_usage,
	.options = remote_options,
	.init_conf = remote_init_conf,
	.parse_option = remote_parse_option,
	.finish_conf = remote_finish_conf,
	.conf_format = remote_conf_format,
	.conf_parse = remote_conf_parse,
	.release = remote_release,
	.reserve_bytes = remote_reserve_bytes,
	.open = remote_open,
	.read_pages = remote_read_pages,
	.write_pages = remote_write_pages,
	.discard_pages = remote_discard_pages,
	.flush = remote_flush,
	.queue_open = remote_queue_open,
	.queue_poll = remote_queue_poll,
	.queue_close = remote_queue_close,
	.resident_bytes = remote_resident_bytes,
	.close = remote_close,
};
