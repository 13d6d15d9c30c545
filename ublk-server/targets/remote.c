/* remote.c — the `remote` target: device pages live on a memory node (rdma/memnode).
 *
 * Each page write becomes one page-store PUT and each read one GET, moving the lines its entry
 * says are live (docs/design.md, "The per-page entry"). The entry used to store a
 * page is the one used to fetch it, because the remote copy is packed by it: an entry is
 * written only once its PUT has completed. Entry 0 means "nothing stored": such a page reads as
 * zeros without asking the node.
 *
 * With hints on, a write's pages go to the hint service once their data is in hand; it comes
 * back with each page's live lines (hint_service.h), and the PUTs move only those (and lines 0
 * and 1). Entries: 0 nothing stored, LINES_WHOLE all lines, ENTRY_LOST lost; otherwise bit 0
 * (ENTRY_HINTED) is set and bits 2..63 are the lines the PUT moved.
 *
 * The entries live in a shared-memory file (t->store_path) so a recovered daemon keeps them;
 * the node keeps the pages in a region named in the device record, so both survive a crash.
 * Each queue has its own connection; a broken one fails its requests with EIO at once and is
 * re-established (ATTACH) from the queue's tick about once a second. A node that comes back
 * without the region (it was restarted) has lost the pages: every stored page is marked
 * ENTRY_LOST, so reading it fails with EIO until it is written again, never returns zeros
 * silently, and the region is created anew for new writes.
 *
 * Memory: each queue's buffers and request state are allocated at queue_open. Re-establishing
 * a link allocates (page_store_open) on the queue thread, while that queue's requests fail
 * anyway; the hint thread's arrays grow only as the clients' heaps grow (slot_resolver.c). */
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
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hint_service.h"
#include "log.h"
#include "page_store.h"
#include "queue.h"
#include "remote.h"
#include "sg_plan.h"
#include "targets.h"

#define ENTRY_LOST   0x2ull /* stored on a node that lost it: reads fail */
#define ENTRY_HINTED 0x1ull

/* The flags take the bits of lines 0 and 1, which every plan moves whatever the mask says: an
 * entry plans the same transfer as the live lines it was made from. */
_Static_assert(((ENTRY_HINTED | ENTRY_LOST) & ~LINES_ALWAYS) == 0,
	       "the entry's flags are the always-moved lines' bits");
_Static_assert((ENTRY_HINTED & ENTRY_LOST) == 0, "a lost entry is never a hinted one");
#define RECONNECT_EVERY_NS 1000000000ull
#define CONNECT_TIMEOUT_MS 3000

struct tag_state {
	unsigned pending;
	int error;
	struct hint_batch batch; /* a write waiting for its masks */
	uint64_t masks[];        /* per page of the request: the entry its PUT packed by */
};

struct remote_queue {
	struct page_store *ps;
	int epfd;                  /* the queue's watch: the store's fd and hint_done's */
	int store_fd;              /* the store fd in epfd */
	struct hint_done resolved; /* writes whose masks are known */
	bool has_done;
	uint64_t next_reconnect_ns;
	uint8_t *bufs; /* depth x max_io bytes */
	uint8_t *tags; /* depth x tag_size */
	size_t tag_size;
	struct ps_completion done[64];
	struct remote_queue *next_retired;
};

struct remote_target {
	struct remote_conf rc;     /* the device's options, with its secret */
	pthread_mutex_t lost_lock; /* one queue at a time decides that the region is gone */
	int fd;
	uint64_t *entries;
	struct page_store **stores; /* opened at target open, one per queue, taken by queue_open */
	unsigned nstores;
	struct hint_service *hints; /* NULL: every page moves whole */
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
	free(rq->bufs);
	free(rq->tags);
	free(rq);
}

static void remote_close(struct ublk_target *t, bool keep)
{
	struct remote_target *r = t->priv;

	if (!r)
		return;
	/* Every batch comes back (whole) before this returns; then no one holds a queue's tags. */
	if (r->hints)
		hint_service_stop(r->hints);
	while (r->retired) {
		struct remote_queue *rq = r->retired;

		r->retired = rq->next_retired;
		free_queue(rq);
	}
	/* Deleting the device frees its region on the node through one live link. */
	bool released = keep;

	for (unsigned i = 0; i < r->nstores; i++) {
		if (!r->stores[i])
			continue;
		if (!released && r->stores[i]->ops->release(r->stores[i]) == 0)
			released = true;
		else if (released)
			r->stores[i]->ops->close(r->stores[i]);
	}
	if (r->entries)
		munmap(r->entries, t->nr_pages * sizeof(uint64_t));
	if (r->fd >= 0)
		close(r->fd);
	if (!keep) {
		unlink(t->store_path);
		remote_secret_remove(t->conf->dev_id);
	}
	free(r->stores);
	free(r);
	t->priv = NULL;
}

static int remote_open(struct ublk_target *t, bool recovering)
{
	struct remote_target *r = calloc(1, sizeof(*r));
	struct page_store_conf c;
	char err[240];
	void *map;
	int ret;

	if (!r)
		return -ENOMEM;
	t->priv = r;
	r->fd = -1;
	r->rc = *remote_conf(t->conf);
	pthread_mutex_init(&r->lost_lock, NULL);
	pthread_mutex_init(&r->retired_lock, NULL);
	if (!r->rc.node[0] || strlen(r->rc.region) != 32) {
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
	ret = ublk_backing_open(t, "remote", t->store_path, t->nr_pages * sizeof(uint64_t),
				recovering, &r->fd, &map);
	if (ret < 0)
		goto fail;
	r->entries = map;
	/* Every entry's page faulted in now (tmpfs allocates on first write), so that storing an
	 * entry never needs memory; the values stay as they are. */
	for (uint64_t i = 0; i < t->nr_pages; i += UBLK_PAGE_SIZE / sizeof(uint64_t))
		__atomic_store_n(&r->entries[i], __atomic_load_n(&r->entries[i], __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	r->nstores = t->conf->nr_queues;
	r->stores = calloc(r->nstores, sizeof(*r->stores));
	if (!r->stores) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Connect now, so an unreachable node fails `add` at once. The first link creates the
	 * region (a new device) or finds it (recovery); the others attach to it. */
	for (unsigned i = 0; i < r->nstores; i++) {
		remote_store_conf(t->conf, &r->rc, !recovering && i == 0, &c);
		ret = page_store_open(&c, &r->stores[i], err, sizeof(err));
		if (ret < 0) {
			snprintf(t->error, sizeof(t->error), "remote: %s", err);
			goto fail;
		}
	}
	if (r->rc.hints) {
		struct hint_service_conf hc = {
			.dev_id = t->conf->dev_id,
			.socket_path = r->hint_socket,
			.allow_uid = (long)r->rc.hint_uid,
			.hold_ms = r->rc.hint_hold_ms,
			.max_pages = t->conf->nr_queues * t->conf->depth *
				     (t->conf->max_io_bytes >> UBLK_PAGE_SHIFT),
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

/* Puts the current store's fd (if any) in the queue's watch. */
static void watch_store(struct remote_queue *rq)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (rq->store_fd >= 0)
		epoll_ctl(rq->epfd, EPOLL_CTL_DEL, rq->store_fd, NULL);
	rq->store_fd = rq->ps ? rq->ps->ops->fd(rq->ps) : -1;
	if (rq->store_fd >= 0)
		epoll_ctl(rq->epfd, EPOLL_CTL_ADD, rq->store_fd, &ev);
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
	rq->store_fd = -1;
	q->target_ctx = rq;
	rq->ps = r->stores[q->id];
	r->stores[q->id] = NULL; /* the queue thread owns it now */
	rq->tag_size = sizeof(struct tag_state) + pages * sizeof(uint64_t);
	rq->bufs = aligned_alloc(UBLK_PAGE_SIZE, (size_t)q->depth * q->max_io_bytes);
	rq->tags = calloc(q->depth, rq->tag_size);
	if (!rq->bufs || !rq->tags) {
		snprintf(q->why, sizeof(q->why), "remote: no memory for %u requests", q->depth);
		return -ENOMEM;
	}
	/* Faulted in now, under the daemon's mlockall: no page fault on the I/O path. */
	memset(rq->bufs, 0, (size_t)q->depth * q->max_io_bytes);
	memset(rq->tags, 0, (size_t)q->depth * rq->tag_size);
	rq->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rq->epfd < 0)
		goto fail;
	watch_store(rq);
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

/* Issues one page; on failure records -EIO for the request. */
static void issue(struct remote_queue *rq, struct ublk_req *req, uint32_t i, uint64_t entry,
		  uint8_t *page)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	uint64_t cookie = (uint64_t)req->tag << 16 | i;
	int ret;

	if (!rq->ps) {
		ts->error = -EIO;
		return;
	}
	ts->masks[i] = entry;
	ret = req->op == UBLK_IO_OP_WRITE
		      ? rq->ps->ops->put(rq->ps, req->page + i, entry, page, cookie)
		      : rq->ps->ops->get(rq->ps, req->page + i, entry, page, cookie);
	if (ret < 0) {
		ts->error = -EIO;
		return;
	}
	ts->pending++;
	count_move(req->q, req->op == UBLK_IO_OP_WRITE, entry, (unsigned)ret);
}

static int remote_read_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct remote_target *r = t->priv;
	struct ublk_queue *q = req->q;
	struct remote_queue *rq = q->target_ctx;
	struct tag_state *ts = tag_state(rq, req->tag);
	uint8_t *buf = tag_buf(q, rq, req->tag);

	ts->pending = 0;
	ts->error = 0;
	for (uint32_t i = 0; i < req->nr_pages; i++) {
		uint64_t entry = __atomic_load_n(&r->entries[req->page + i], __ATOMIC_ACQUIRE);

		if (entry == 0)
			memset(buf + ((size_t)i << UBLK_PAGE_SHIFT), 0, UBLK_PAGE_SIZE);
		else if (entry == ENTRY_LOST)
			ts->error = -EIO;
		else
			issue(rq, req, i, entry, buf + ((size_t)i << UBLK_PAGE_SHIFT));
	}
	if (rq->ps)
		rq->ps->ops->flush(rq->ps); /* one batch of work requests per ublk request */
	if (ts->pending)
		return UBLK_REQ_QUEUED;
	if (ts->error)
		return ts->error;
	return ublk_req_copy_out(req, buf, (size_t)req->nr_pages << UBLK_PAGE_SHIFT, 0);
}

/* Issues a write's pages by their masks (all ones: whole). */
static int put_pages(struct remote_queue *rq, struct ublk_req *req, const uint64_t *live)
{
	struct tag_state *ts = tag_state(rq, req->tag);
	uint8_t *buf = tag_buf(req->q, rq, req->tag);

	ts->pending = 0;
	ts->error = 0;
	for (uint32_t i = 0; i < req->nr_pages; i++)
		issue(rq, req, i, live ? entry_of(live[i]) : LINES_WHOLE,
		      buf + ((size_t)i << UBLK_PAGE_SHIFT));
	if (rq->ps)
		rq->ps->ops->flush(rq->ps);
	return ts->pending ? UBLK_REQ_QUEUED : ts->error;
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
		return put_pages(rq, req, NULL); /* every page whole */
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
static void put_resolved(struct ublk_queue *q, struct remote_queue *rq)
{
	for (struct hint_batch *b = hint_done_take(&rq->resolved), *next; b; b = next) {
		struct tag_state *ts =
			(struct tag_state *)((uint8_t *)b - offsetof(struct tag_state, batch));
		uint16_t tag = (uint16_t)(((uint8_t *)ts - rq->tags) / rq->tag_size);
		struct ublk_req *req = &q->reqs[tag];
		int ret;

		next = b->next;
		ret = put_pages(rq, req, ts->masks);
		if (ret != UBLK_REQ_QUEUED)
			ublk_req_done(req, ret);
	}
}

static int remote_discard_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct remote_target *r = t->priv;

	/* The node's copy is simply forgotten: the page reads as zeros from now on. */
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

static void reconnect(struct ublk_target *t, struct ublk_queue *q, struct remote_queue *rq)
{
	struct remote_target *r = t->priv;
	struct page_store_conf c;
	char err[256];
	uint64_t now = monotonic_ns();

	if (now < rq->next_reconnect_ns)
		return;
	rq->next_reconnect_ns = now + RECONNECT_EVERY_NS;
	remote_store_conf(t->conf, &r->rc, 0, &c);
	c.timeout_ms = CONNECT_TIMEOUT_MS < c.timeout_ms ? CONNECT_TIMEOUT_MS : c.timeout_ms;
	int ret = page_store_open(&c, &rq->ps, err, sizeof(err));

	if (ret == -ENOENT) {
		/* Another queue may be recreating it right now: decide under the lock. */
		pthread_mutex_lock(&r->lost_lock);
		ret = page_store_open(&c, &rq->ps, err, sizeof(err));
		if (ret == -ENOENT) {
			uint64_t lost = 0;

			/* Mark before creating, so no entry of the new region is swept. */
			for (uint64_t p = 0; p < t->nr_pages; p++)
				if (__atomic_load_n(&r->entries[p], __ATOMIC_ACQUIRE) != 0) {
					__atomic_store_n(&r->entries[p], ENTRY_LOST,
							 __ATOMIC_RELEASE);
					lost++;
				}
			c.create = 1;
			ret = page_store_open(&c, &rq->ps, err, sizeof(err));
			log_msg("queue %u: the memory node %s lost this device's region: %llu "
				"stored pages are gone (reading them fails with EIO); region "
				"created anew%s",
				q->id, r->rc.node, (unsigned long long)lost,
				ret < 0 ? ", but that failed" : "");
		}
		pthread_mutex_unlock(&r->lost_lock);
	}
	if (ret < 0) {
		rq->ps = NULL;
		return;
	}
	log_msg("queue %u: reconnected to %s", q->id, r->rc.node);
	watch_store(rq);
}

static void remote_queue_poll(struct ublk_target *t, struct ublk_queue *q)
{
	struct remote_target *r = t->priv;
	struct remote_queue *rq = q->target_ctx;
	int n;

	if (rq->has_done)
		put_resolved(q, rq); /* without a link they fail at once, with EIO */
	if (!rq->ps) {
		reconnect(t, q, rq);
		return;
	}
	while ((n = rq->ps->ops->reap(rq->ps, rq->done, 64)) > 0) {
		for (int k = 0; k < n; k++) {
			uint16_t tag = (uint16_t)(rq->done[k].cookie >> 16);
			uint32_t i = (uint32_t)(rq->done[k].cookie & 0xffff);
			struct ublk_req *req = &q->reqs[tag];
			struct tag_state *ts = tag_state(rq, tag);

			if (rq->done[k].status < 0)
				ts->error = -EIO;
			else if (req->op == UBLK_IO_OP_WRITE)
				/* Stored: from now on the page is fetched by this entry. */
				__atomic_store_n(&r->entries[req->page + i], ts->masks[i],
						 __ATOMIC_RELEASE);
			if (--ts->pending == 0)
				finish(q, rq, req);
		}
	}
	if (rq->ps->down) {
		log_msg("queue %u: lost the memory node %s; requests fail until it is back", q->id,
			r->rc.node);
		rq->ps->ops->close(rq->ps);
		rq->ps = NULL;
		watch_store(rq);
		rq->next_reconnect_ns = monotonic_ns() + RECONNECT_EVERY_NS;
	}
}

static void remote_queue_close(struct ublk_target *t, struct ublk_queue *q)
{
	struct remote_target *r = t->priv;
	struct remote_queue *rq = q->target_ctx;

	if (!rq)
		return;
	/* Hand the link back, so close() can release the region through it. */
	if (rq->ps)
		r->stores[q->id] = rq->ps;
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

static uint64_t remote_resident_bytes(struct ublk_target *t)
{
	(void)t;
	return 0; /* the pages are on the node */
}

const struct ublk_target_ops ublk_target_remote = {
	.name = "remote",
	.summary = "pages on a memory node (memnode), reached over RDMA verbs or TCP; only the\n"
		   "live lines of hinted pages move",
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
