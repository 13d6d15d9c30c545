/* ps_slots.c — the request slots of a page-store transport. */
#include "ps_slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ps_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ps_slots_init(struct ps_slots *s, unsigned n)
{
	s->slot = calloc(n, sizeof(*s->slot));
	s->ready = calloc(n, sizeof(*s->ready));
	s->scratch = aligned_alloc(PROTO_PAGE_SIZE, PROTO_PAGE_SIZE);
	s->n = n;
	s->nready = 0;
	if (s->slot && s->ready && s->scratch) {
		/* Faulted in now (calloc may hand out untouched pages): none on the I/O path. */
		memset(s->slot, 0, n * sizeof(*s->slot));
		memset(s->ready, 0, n * sizeof(*s->ready));
		memset(s->scratch, 0, PROTO_PAGE_SIZE);
		return 0;
	}
	ps_slots_free(s);
	return -ENOMEM;
}

void ps_slots_free(struct ps_slots *s)
{
	free(s->slot);
	free(s->ready);
	free(s->scratch);
	s->slot = NULL;
	s->ready = NULL;
	s->scratch = NULL;
}

int ps_slots_take(struct page_store *ps, struct ps_slots *s, uint8_t op, uint8_t *buf,
		  uint64_t live, struct ps_seal seal, uint64_t cookie)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->slot[i].busy)
			continue;
		if (ps->inflight == 0)
			s->progress_ns = ps_now_ns();
		s->slot[i] = (struct ps_slot){
			.cookie = cookie,
			.buf = buf,
			.live = live,
			.seal = seal,
			.op = op,
			.busy = true,
		};
		ps->inflight++;
		return (int)i;
	}
	return -1;
}

void ps_slots_forget(struct ps_slots *s, uint64_t cookie)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->slot[i].busy && s->slot[i].cookie == cookie)
			s->slot[i].buf = s->scratch;
}

void ps_slots_done(struct page_store *ps, struct ps_slots *s, unsigned i)
{
	s->slot[i].busy = false;
	ps->inflight--;
	s->progress_ns = ps_now_ns();
}

void ps_slots_finish(struct page_store *ps, struct ps_slots *s, unsigned i, int status)
{
	s->ready[s->nready++] = (struct ps_completion){ s->slot[i].cookie, status };
	ps_slots_done(ps, s, i);
}

void ps_slots_fail_all(struct page_store *ps, struct ps_slots *s)
{
	ps->down = true;
	for (unsigned i = 0; i < s->n; i++) {
		if (!s->slot[i].busy)
			continue;
		s->ready[s->nready++] = (struct ps_completion){ s->slot[i].cookie, -EIO };
		s->slot[i].busy = false;
	}
	ps->inflight = 0;
}

bool ps_slots_expired(const struct page_store *ps, const struct ps_slots *s)
{
	return ps->inflight > 0 &&
	       ps_now_ns() - s->progress_ns > (uint64_t)ps->conf.timeout_ms * 1000000;
}

void ps_slots_drain(struct ps_slots *s, struct ps_completion *out, int *n, int max)
{
	while (s->nready > 0 && *n < max)
		out[(*n)++] = s->ready[--s->nready];
}
