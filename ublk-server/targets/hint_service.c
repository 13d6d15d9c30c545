/* The daemon's hint thread (hint_service.h). */
#include "clock.h"
#include "io_thread.h"
#include "hint_service.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena_keeper.h"
#include "hint_server.h"
#include "log.h"
#include "slot_resolver.h"

#define DRAIN_EVERY_MS  10 /* rings are read this often even with no write to resolve */
#define DRAIN_SLICE_MS  2  /* longest such a drain lasts: then the thread looks for writes */
#define SWAP_RECHECK_NS 1000000000ull
#define RING_RECORDS    (1u << 14) /* 384 KiB, locked by the server: charged to the daemon */
#define MAX_RING        (1u << 20)
#define MAX_VIEW_PAGES  (64u << 20) /* 256 GiB of reduced pages a client */
#define MAX_CLIENTS     256

struct hint_service {
	struct hint_server server;
	struct hint_service_conf conf;
	pthread_t thread;
	int wake_fd;
	pthread_mutex_t lock;
	struct hint_batch *pending;
	bool stop;
	int swap_type;
	uint64_t swap_checked_ns;
	struct slot_resolve_stats resolve;
	uint64_t resolve_ns; /* spent in slot_resolve */
	struct slot_resolver *resolver;
	bool reduced;            /* some client has a reduced page (read by the queues) */
	uint64_t *slots, *masks; /* a round's pages: conf.max_pages each */
	int *owner;
	struct arena_keeper *arenas;
	char device_path[32]; /* /dev/ublkb<ID> */
};

#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* The device's swap type, looked up again at most once a second (swapon, swapoff). */
static int swap_type(struct hint_service *s)
{
	uint64_t now = monotonic_ns();
	char path[64];
	struct stat st;

	if (now - s->swap_checked_ns < SWAP_RECHECK_NS)
		return s->swap_type;
	s->swap_checked_ns = now;
	snprintf(path, sizeof(path), "/dev/ublkb%u", s->conf.dev_id);
	s->swap_type =
		stat(path, &st) == 0 && S_ISBLK(st.st_mode) ? swap_area_type(st.st_rdev) : -1;
	return s->swap_type;
}

static void give_back(struct hint_batch *b)
{
	struct hint_done *d = b->done;
	uint64_t one = 1;

	pthread_mutex_lock(&d->lock);
	b->next = d->list;
	d->list = b;
	pthread_mutex_unlock(&d->lock);
	(void)!write(d->efd, &one, sizeof(one));
}

static uint64_t oldest_submit(const struct hint_batch *list)
{
	uint64_t oldest = UINT64_MAX;

	for (const struct hint_batch *b = list; b; b = b->next)
		if (b->submit_ns < oldest)
			oldest = b->submit_ns;
	return oldest;
}

/* Fills the masks of every batch in the list and gives them back: the resolver's masks
 * (whole where it is unsure: docs/design.md, "The one invariant"). A round never holds more
 * pages than all queues can have in flight (conf.max_pages), so its arrays are the service's
 * own, allocated at start. */
static void resolve(struct hint_service *s, struct hint_batch *list)
{
	struct ublk_hint_stats *st = s->conf.stats;
	size_t n = 0;

	for (struct hint_batch *b = list; b; b = b->next)
		for (uint32_t i = 0; i < b->nr_pages && n < s->conf.max_pages; i++)
			s->slots[n++] = b->first_page + i;
	uint64_t start = monotonic_ns();

	slot_resolve(&s->server, s->resolver, swap_type(s), s->slots, n, s->masks, s->owner,
		     oldest_submit(list) + (uint64_t)s->conf.hold_ms * 1000000u, &s->resolve);
	s->resolve_ns += monotonic_ns() - start;
	/* Mmap mode: a page of a claimed range is its client's, by offset (no page map). */
	for (size_t k = 0; k < n && s->server.nclients; k++) {
		int i = hint_server_arena_mask(&s->server, s->slots[k], &s->masks[k]);

		if (i >= 0) {
			s->owner[k] = i;
			STORE(st->by_offset, st->by_offset + 1);
		}
	}
	size_t at = 0;
	uint64_t now = monotonic_ns();

	while (list) {
		struct hint_batch *b = list;

		list = b->next;
		for (uint32_t i = 0; i < b->nr_pages; i++, at++) {
			/* Past max_pages (a queue bug, not a client's doing): whole. */
			b->masks[i] = at < n ? s->masks[at] : LINES_WHOLE;
			if (at < n && s->owner[at] >= 0) {
				struct hint_client_conn *c = s->server.client[s->owner[at]];

				c->stats.pages_resolved++;
				c->stats.lines_saved += 64 - __builtin_popcountll(s->masks[at] | 3);
			}
		}
		STORE(st->round_lat[ublk_stats_bucket(now - b->submit_ns)],
		      st->round_lat[ublk_stats_bucket(now - b->submit_ns)] + 1);
		give_back(b);
	}
	STORE(st->rounds, st->rounds + 1);
}

/* Copies the server's state into the shared statistics for ublk-ctl. */
static void publish_stats(struct hint_service *s)
{
	struct ublk_hint_stats *st = s->conf.stats;
	struct hint_server *srv = &s->server;
	uint64_t records = srv->gone.records, rejected = srv->gone.rejected;
	uint64_t overflows = srv->gone.overflows, resyncs = srv->gone.resyncs;
	uint64_t lines_saved = srv->gone.lines_saved, not_kept = srv->gone_not_kept;
	unsigned shown =
		srv->nclients < UBLK_HINT_CLIENTS_SHOWN ? srv->nclients : UBLK_HINT_CLIENTS_SHOWN;

	hint_server_read_memory(srv, monotonic_ns());
	for (unsigned i = 0; i < srv->nclients; i++) {
		struct hint_client_conn *c = srv->client[i];
		struct ublk_hint_client_stats cs = {
			.id = c->id,
			.pid = c->pid,
			.uid = c->uid,
			.flags = (!hint_client_resolvable(srv, c) && !c->unsure
					  ? UBLK_HINT_CLIENT_SHARING
					  : 0) |
				 (c->unsure ? UBLK_HINT_CLIENT_UNSURE : 0) |
				 (c->arena.granted ? UBLK_HINT_CLIENT_ARENA : 0) |
				 (c->arena.claimed ? UBLK_HINT_CLIENT_CLAIMED : 0) |
				 (c->arena.frozen ? UBLK_HINT_CLIENT_FROZEN : 0),
			.ring_records = c->cons.capacity,
			.records = c->stats.records,
			.rejected = c->stats.rejected,
			.overflows = c->stats.overflows,
			.resyncs = c->stats.resyncs,
			.forks = c->stats.forks,
			.view_pages = c->view.count,
			.live_lines = c->view.live,
			.heap_bytes = c->ring ? atomic_load_explicit(&c->ring->heap_bytes,
								     memory_order_relaxed)
					      : 0,
			.whole_bytes = c->ring ? atomic_load_explicit(&c->ring->whole_bytes,
								      memory_order_relaxed)
					       : 0,
			.anon_bytes = c->anon_bytes,
			.memory = c->mem.used,
			.pages_resolved = c->stats.pages_resolved,
			.lines_saved = c->stats.lines_saved,
			.arena_offset = c->arena.offset,
			.arena_bytes = c->arena.bytes,
		};

		memcpy(cs.comm, c->comm, sizeof(cs.comm));
		if (i < shown)
			st->client[i] = cs; /* a reader may see a torn entry: it is only shown */
		records += c->stats.records;
		rejected += c->stats.rejected;
		overflows += c->stats.overflows;
		resyncs += c->stats.resyncs;
		lines_saved += c->stats.lines_saved;
		not_kept += c->view.dropped;
	}
	STORE(st->memory, srv->mem.used);
	STORE(st->memory_cap, s->conf.memory_cap);
	STORE(st->not_kept, not_kept);
	STORE(st->nclients, shown);
	STORE(st->registrations, srv->registrations);
	STORE(st->refused, srv->refused);
	STORE(st->dropped, srv->dropped);
	/* Clients that left, here or under an earlier daemon, stay in the totals. */
	STORE(st->records, st->left_records + records);
	STORE(st->rejected, st->left_rejected + rejected);
	STORE(st->overflows, st->left_overflows + overflows);
	STORE(st->resyncs, st->left_resyncs + resyncs);
	STORE(st->lines_saved, st->left_lines_saved + lines_saved);
	STORE(st->slots, s->resolve.slots);
	STORE(st->resolved, s->resolve.resolved);
	STORE(st->shared, s->resolve.shared);
	STORE(st->late, s->resolve.late);
	STORE(st->scanned, s->resolve.scanned);
	STORE(st->walked, s->resolve.walked);
	STORE(st->resolver_memory,
	      slot_resolver_bytes(s->resolver) +
		      s->conf.max_pages *
			      (sizeof(*s->slots) + sizeof(*s->masks) + sizeof(*s->owner)));
	STORE(st->resolve_ns, s->resolve_ns);
}

/* Whether a write may find a page of some client that is not whole. */
static bool any_reduced(struct hint_server *srv)
{
	for (unsigned i = 0; i < srv->nclients; i++)
		if (hint_client_resolvable(srv, srv->client[i]) && srv->client[i]->view.count)
			return true;
	return false;
}

static void *run(void *arg)
{
	struct hint_service *s = arg;
	struct pollfd fds[HINT_SERVER_MAX_FDS + 1];

	/* Every hinted write waits for this thread: it is realtime, as the queues are. */
	io_thread_init("ublk-hints", true);
	for (;;) {
		unsigned n = hint_server_pollfds(&s->server, fds);
		uint64_t wakes;

		fds[n] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		/* With no client there is no ring to drain: the tick alone cost 4-6 % of an
		 * emulated CPU (scripts/bench cpu). */
		if (poll(fds, n + 1, s->server.nclients ? DRAIN_EVERY_MS : -1) > 0) {
			if (fds[n].revents & POLLIN)
				(void)!read(s->wake_fd, &wakes, sizeof(wakes));
			hint_server_handle(&s->server, fds, n);
		}
		pthread_mutex_lock(&s->lock);
		struct hint_batch *list = s->pending;
		bool stop = s->stop;

		s->pending = NULL;
		pthread_mutex_unlock(&s->lock);
		if (stop) {
			for (struct hint_batch *b = list, *next; b; b = next) {
				next = b->next;
				for (uint32_t i = 0; i < b->nr_pages; i++)
					b->masks[i] = LINES_WHOLE;
				give_back(b);
			}
			return NULL;
		}
		/* The batches' data was in hand before they were taken: drain after, for at most
		 * half of the oldest one's hold (resolve has the rest). */
		uint64_t now = monotonic_ns(), until = now + DRAIN_SLICE_MS * 1000000ull;

		if (list) {
			uint64_t end = oldest_submit(list) + (uint64_t)s->conf.hold_ms * 1000000u;

			until = end > now ? now + (end - now) / 2 : now;
		}
		hint_server_drain(&s->server, until);
		__atomic_store_n(&s->reduced, any_reduced(&s->server), __ATOMIC_RELEASE);
		if (list)
			resolve(s, list);
		publish_stats(s);
	}
}

static void free_round(struct hint_service *s)
{
	free(s->slots);
	free(s->masks);
	free(s->owner);
}

/* A round's arrays, faulted in now (under the daemon's mlockall): none on the write path. */
static int alloc_round(struct hint_service *s)
{
	size_t n = s->conf.max_pages;

	s->slots = malloc(n * sizeof(*s->slots));
	s->masks = malloc(n * sizeof(*s->masks));
	s->owner = malloc(n * sizeof(*s->owner));
	if (!s->slots || !s->masks || !s->owner)
		return -ENOMEM;
	memset(s->slots, 0, n * sizeof(*s->slots));
	memset(s->masks, 0, n * sizeof(*s->masks));
	memset(s->owner, 0, n * sizeof(*s->owner));
	return 0;
}

int hint_service_start(const struct hint_service_conf *conf, struct hint_service **out, char *err,
		       size_t errlen)
{
	struct hint_service *s = calloc(1, sizeof(*s));
	struct hint_server_conf sc = {
		.socket_path = conf->socket_path,
		.allow_uid = conf->allow_uid,
		.max_clients = MAX_CLIENTS,
		.ring_records = RING_RECORDS,
		.max_ring_records = MAX_RING,
		.max_pages = MAX_VIEW_PAGES,
		.client_bytes = conf->memory_cap / 4,
		.uid_bytes = conf->memory_cap / 2,
		.server_bytes = conf->memory_cap,
		.dev_id = conf->dev_id,
	};
	int ret;

	if (!s)
		return -ENOMEM;
	s->conf = *conf;
	s->swap_type = -1;
	if (alloc_round(s) < 0) {
		snprintf(err, errlen, "no memory for rounds of %u pages", conf->max_pages);
		free_round(s);
		free(s);
		return -ENOMEM;
	}
	snprintf(s->device_path, sizeof(s->device_path), "/dev/ublkb%u", conf->dev_id);
	ret = arena_keeper_start(conf->dev_id, conf->device_bytes, conf->recovering,
				 conf->device_live, &s->arenas, err, errlen);
	if (ret < 0) {
		free_round(s);
		free(s);
		return ret;
	}
	sc.device_path = s->device_path;
	sc.arenas = arena_keeper_table(s->arenas);
	sc.arenas_lock = arena_keeper_lock(s->arenas);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&s->lock, NULL);
	ret = s->wake_fd < 0 ? -errno : hint_server_open(&s->server, &sc, err, errlen);
	if (ret == 0) {
		/* A page found swapped out is looked up for two holds: its write may come in a
		 * round after the one whose scan found it, never more than a hold after. */
		ret = slot_resolver_start(&s->resolver, 2ull * conf->hold_ms * 1000000u);
		if (ret == 0 && conf->read_all)
			slot_resolver_set_scan(s->resolver, NULL);
		if (ret < 0) {
			snprintf(err, errlen, "cannot start the page-map reader: %s",
				 strerror(-ret));
			hint_server_close(&s->server);
		}
	}
	if (ret < 0) {
		if (s->wake_fd < 0)
			snprintf(err, errlen, "eventfd: %s", strerror(-ret));
		else
			close(s->wake_fd);
		arena_keeper_stop(s->arenas, conf->recovering);
		free_round(s);
		free(s);
		return ret;
	}
	/* A recovered daemon starts with no clients; the totals go on. */
	struct ublk_hint_stats *st = conf->stats;
	st->left_records = st->records;
	st->left_rejected = st->rejected;
	st->left_overflows = st->overflows;
	st->left_resyncs = st->resyncs;
	st->left_lines_saved = st->lines_saved;
	st->nclients = 0;
	st->enabled = 1;
	ret = -pthread_create(&s->thread, NULL, run, s);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the hint thread: %s", strerror(-ret));
		slot_resolver_stop(s->resolver);
		hint_server_close(&s->server);
		close(s->wake_fd);
		arena_keeper_stop(s->arenas, conf->recovering);
		free_round(s);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void hint_service_stop(struct hint_service *s, bool keep)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	(void)!write(s->wake_fd, &one, sizeof(one));
	pthread_join(s->thread, NULL);
	slot_resolver_stop(s->resolver);
	STORE(s->conf.stats->nclients, 0);
	hint_server_close(&s->server);
	arena_keeper_stop(s->arenas, keep);
	close(s->wake_fd);
	free_round(s);
	free(s);
}

int hint_done_init(struct hint_done *d)
{
	*d = (struct hint_done){ .list = NULL };
	pthread_mutex_init(&d->lock, NULL);
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->efd < 0 ? -errno : 0;
}

void hint_done_free(struct hint_done *d)
{
	if (d->efd >= 0)
		close(d->efd);
	pthread_mutex_destroy(&d->lock);
}

void hint_service_submit(struct hint_service *s, struct hint_batch *b)
{
	uint64_t one = 1;

	b->submit_ns = monotonic_ns();
	b->done->outstanding++;
	pthread_mutex_lock(&s->lock);
	b->next = s->pending;
	s->pending = b;
	pthread_mutex_unlock(&s->lock);
	(void)!write(s->wake_fd, &one, sizeof(one));
}

bool hint_service_all_whole(const struct hint_service *s)
{
	return !__atomic_load_n(&s->reduced, __ATOMIC_ACQUIRE);
}

struct hint_batch *hint_done_take(struct hint_done *d)
{
	uint64_t n;
	struct hint_batch *list, *rev = NULL;

	(void)!read(d->efd, &n, sizeof(n));
	pthread_mutex_lock(&d->lock);
	list = d->list;
	d->list = NULL;
	pthread_mutex_unlock(&d->lock);
	while (list) { /* pushed newest first */
		struct hint_batch *b = list;

		list = b->next;
		b->next = rev;
		rev = b;
		d->outstanding--;
	}
	return rev;
}
