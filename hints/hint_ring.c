/* The consumer side of the hint ring: the server reading what a client published, trusting
 * nothing in the shared memory (see hint_ring.h). */
#include "hint_ring.h"

#include <errno.h>
#include <string.h>

int hint_ring_init(struct hint_ring *r, uint32_t capacity, struct hint_consumer *c)
{
	if (capacity < HINT_RING_MIN_RECORDS || capacity > HINT_RING_MAX_RECORDS ||
	    (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	memset(r, 0, hint_ring_bytes(capacity));
	r->magic = HINT_RING_MAGIC;
	r->version = HINT_RING_VERSION;
	r->capacity = capacity;
	c->ring = r;
	c->capacity = capacity;
	c->tail = 0;
	c->overflow = 0;
	return 0;
}

enum hint_drain_end hint_ring_drain(struct hint_consumer *c, unsigned max,
				    bool (*check)(void *arg, uint64_t key),
				    void (*deliver)(void *arg, uint64_t key, uint64_t mask),
				    void *arg, struct hint_drain_stats *stats)
{
	struct hint_ring *r = c->ring;
	uint64_t overflow = atomic_load_explicit(&r->overflow, memory_order_acquire);
	enum hint_drain_end end = HINT_LIMIT;

	if (overflow != c->overflow) {
		/* counts only grow; a hostile one may shrink or jump: any change is news */
		stats->overflows += overflow > c->overflow ? overflow - c->overflow : 1;
		c->overflow = overflow;
	}
	for (unsigned n = 0; n < max; n++) {
		uint64_t pos = c->tail;
		struct hint_record *rec = &r->record[pos & (c->capacity - 1)];
		uint64_t seq = atomic_load_explicit(&rec->seq, memory_order_acquire);
		if (seq != pos + 1) {
			uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
			if (head - pos > c->capacity)
				end = HINT_CORRUPT; /* more reserved than the ring holds */
			else if (seq > pos + 1 || (seq != 0 && (pos + 1 - seq) % c->capacity != 0))
				end = HINT_CORRUPT; /* not this slot's past, nor its present */
			else
				end = head == pos ? HINT_DRAINED : HINT_PENDING;
			break;
		}
		/* read once: the client may be rewriting them */
		uint64_t key = __atomic_load_n(&rec->key, __ATOMIC_RELAXED);
		uint64_t mask = __atomic_load_n(&rec->mask, __ATOMIC_RELAXED);
		c->tail = pos + 1;
		atomic_store_explicit(&r->tail, c->tail, memory_order_release);
		if (check(arg, key)) {
			deliver(arg, key, mask);
			stats->records++;
		} else {
			stats->rejected++;
		}
	}
	return end;
}
