/* hint_service.h — the daemon's hint thread: it serves the device's hint socket (hints/), keeps
 * the registered clients' rings drained, and tells the queues which lines of the pages they
 * are about to write are live.
 *
 * A queue thread that has a write's data in hand submits a hint_batch for its pages and waits
 * (without blocking: its requests stay queued) for the batch to come back on its hint_done
 * list. The thread drains every ring only after the batch was submitted — so after the data
 * was in hand — then resolves the batch's slots (slot_resolver.h) and fills its masks; a page
 * it cannot attribute, or any page once the batch has waited hold_ms, is whole. The drain
 * gets at most half of what is left of the oldest batch's hold, the resolution the rest; with
 * no batch waiting a drain lasts about DRAIN_SLICE_MS, so a batch never waits long for the
 * thread to look. (The clock is read between steps of 256 records; a step's cost is bounded
 * by the memory caps: page_view.h.) */
#ifndef LINESWAP_HINT_SERVICE_H
#define LINESWAP_HINT_SERVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

/* Where a queue gets its batches back: a list under a lock, and an eventfd to wake it. */
struct hint_done {
	pthread_mutex_t lock;
	struct hint_batch *list;
	int efd;
	unsigned outstanding; /* batches submitted and not yet taken back (queue thread only) */
};

struct hint_batch {
	struct hint_batch *next;
	struct hint_done *done;
	uint64_t first_page; /* device page = swap slot */
	uint32_t nr_pages;
	uint64_t submit_ns;
	uint64_t *masks; /* filled: live lines of each page, all ones for whole */
};

struct hint_service_conf {
	uint32_t dev_id;
	const char *socket_path;
	long allow_uid;        /* see hint_server_conf */
	uint32_t hold_ms;      /* a write's whole wait, the rings' drain included */
	uint64_t memory_cap;   /* rings and views: all clients; a uid half, a client a quarter */
	bool read_all;         /* the resolver reads every reduced page's entry (slot_resolver.h) */
	uint32_t max_pages;    /* pages all queues can have in flight: a round's most */
	uint64_t device_bytes; /* mmap mode: the device, whose ranges clients map */
	bool recovering;       /* a new daemon for a device: its ranges are kept */
	const uint32_t *device_live; /* the device serves: released ranges may be discarded */
	struct ublk_hint_stats *stats;
};

struct hint_service;

/* Binds the socket and starts the thread. Returns 0 or -errno with a message in err. */
int hint_service_start(const struct hint_service_conf *conf, struct hint_service **out, char *err,
		       size_t errlen);
/* Ends the thread (every batch still pending comes back whole) and removes the socket; the
 * table of mmap-mode ranges stays if keep (the device lives on, for a recovery). */
void hint_service_stop(struct hint_service *s, bool keep);

int hint_done_init(struct hint_done *d);
void hint_done_free(struct hint_done *d);
/* Queue thread: submit a batch; it comes back on b->done. */
void hint_service_submit(struct hint_service *s, struct hint_batch *b);
/* Queue thread: true when, as of the last drain, no client had a page it was told is not
 * whole: a write may then go whole at once (whole is always safe). */
bool hint_service_all_whole(const struct hint_service *s);
/* Queue thread: the batches that came back, oldest first (clears the eventfd). */
struct hint_batch *hint_done_take(struct hint_done *d);

#endif
