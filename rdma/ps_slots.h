/* ps_slots.h — the request slots every page-store transport keeps: who asked, for which page
 * and mask, by when it must be answered; and the requests failed all at once when a link
 * breaks, and completions waiting to be handed out by the next reap. Allocated at open:
 * nothing per request. */
#ifndef LINESWAP_PS_SLOTS_H
#define LINESWAP_PS_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "page_store.h"

struct ps_slot {
	uint64_t cookie;
	uint8_t *buf; /* the caller's page */
	uint64_t live;
	struct ps_seal seal;
	uint8_t op; /* PROTO_PUT or PROTO_GET */
	bool busy;
};

struct ps_slots {
	struct ps_slot *slot;
	unsigned n;
	struct ps_completion *ready; /* finished, not yet reaped (at most one per slot) */
	unsigned nready;
	uint8_t *scratch; /* where the reply of a forgotten request lands (a page) */
	/* When the link last showed life: a request answered, or the first one sent after it
	 * had none outstanding. */
	uint64_t progress_ns;
};

uint64_t ps_now_ns(void);
int ps_slots_init(struct ps_slots *s, unsigned n);
void ps_slots_free(struct ps_slots *s);
/* A free slot, filled for (op, buf, live, seal, cookie); -1 if none. */
int ps_slots_take(struct page_store *ps, struct ps_slots *s, uint8_t op, uint8_t *buf,
		  uint64_t live, struct ps_seal seal, uint64_t cookie);
/* The request `cookie` is no longer wanted: its reply lands in the scratch page, not in the
 * caller's (which may be reused before the reply comes). It still completes. */
void ps_slots_forget(struct ps_slots *s, uint64_t cookie);
/* Finishes slot i (the caller reports its completion). */
void ps_slots_done(struct page_store *ps, struct ps_slots *s, unsigned i);
/* Finishes slot i with `status`, queueing its completion for the next drain. */
void ps_slots_finish(struct page_store *ps, struct ps_slots *s, unsigned i, int status);
/* The link is gone: every busy request fails with -EIO; the store is down. */
void ps_slots_fail_all(struct page_store *ps, struct ps_slots *s);
/* Whether the link is silent: requests outstanding and none answered for the store's
 * timeout. Not the age of the oldest request: on a busy link a request waits behind many (in
 * the socket's buffers, or the node's queue) while the link answers the ones before it; the
 * caller bounds each of its requests' waits itself. */
bool ps_slots_expired(const struct page_store *ps, const struct ps_slots *s);
/* Moves queued completions to out (from *n up to max). */
void ps_slots_drain(struct ps_slots *s, struct ps_completion *out, int *n, int max);

#endif
