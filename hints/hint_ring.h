/* hint_ring.h — the shared-memory ring through which a client process (its allocator, on any
 * thread) tells the server that the live lines of one of its pages changed.
 *
 * Layout: a header, then `capacity` records (a power of two). Producers reserve a position with
 * a compare-and-swap on head, write the record, then publish it by storing seq = position + 1
 * (release). The single consumer reads records in order from its private tail and stores tail
 * back so producers can see room. A full ring is never waited on: the producer counts an
 * overflow and the server must treat the process's pages as whole until the client has
 * published its masks again.
 *
 * The consumer shares this memory with a process it does not trust: it keeps its own capacity
 * and tail, and checks every record it reads (hint_ring.c). */
#ifndef LINESWAP_HINT_RING_H
#define LINESWAP_HINT_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HINT_RING_MAGIC       0x4c53484eu /* "LSHN" */
#define HINT_RING_VERSION     1
#define HINT_RING_MIN_RECORDS 64
#define HINT_RING_MAX_RECORDS (1u << 20)

struct hint_record {
	_Atomic uint64_t seq; /* position + 1 once vpage and mask are written */
	uint64_t vpage;       /* virtual address >> 12 */
	uint64_t mask;        /* bit i: line i (64 bytes) of the page is live */
};

struct hint_ring {
	uint32_t magic;
	uint32_t version;
	uint32_t capacity; /* records; a power of two */
	uint32_t pad;
	alignas(64) _Atomic uint64_t head;     /* next position producers reserve */
	alignas(64) _Atomic uint64_t tail;     /* next position the consumer reads */
	alignas(64) _Atomic uint64_t overflow; /* records dropped because the ring was full */
	alignas(64) struct hint_record record[];
};

/* Bytes of shared memory for a ring of capacity records. */
static inline size_t hint_ring_bytes(uint32_t capacity)
{
	return sizeof(struct hint_ring) + (size_t)capacity * sizeof(struct hint_record);
}

/* Producer side (any thread of the client): publish one record. Lock-free and allocation-free;
 * returns false, having counted an overflow, when the ring is full. */
static inline bool hint_ring_publish(struct hint_ring *r, uint64_t vpage, uint64_t mask)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	do {
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (pos - tail >= r->capacity) {
			atomic_fetch_add_explicit(&r->overflow, 1, memory_order_release);
			return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&r->head, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed));
	struct hint_record *rec = &r->record[pos & (r->capacity - 1)];
	rec->vpage = vpage;
	rec->mask = mask;
	atomic_store_explicit(&rec->seq, pos + 1, memory_order_release);
	return true;
}

/* Consumer side (the server). */
struct hint_consumer {
	struct hint_ring *ring;
	uint32_t capacity; /* the server's own copy: never read back from shared memory */
	uint64_t tail;     /* likewise */
	uint64_t overflow; /* overflow count last seen */
};

/* Why a drain stopped. */
enum hint_drain_end {
	HINT_DRAINED, /* every published record was read */
	HINT_LIMIT,   /* max records were read; there may be more */
	HINT_PENDING, /* a reserved record is not published yet: some page's mask is unknown */
	HINT_CORRUPT, /* the shared memory holds what no honest producer writes */
};

struct hint_drain_stats {
	uint64_t records;   /* delivered */
	uint64_t rejected;  /* records whose page failed the caller's check */
	uint64_t overflows; /* records producers dropped (ring full), newly seen */
};

/* Set a ring up in zeroed shared memory of hint_ring_bytes(capacity) bytes; capacity must be a
 * power of two in [HINT_RING_MIN_RECORDS, HINT_RING_MAX_RECORDS]. Returns 0 or -EINVAL. */
int hint_ring_init(struct hint_ring *r, uint32_t capacity, struct hint_consumer *c);

/* Read up to max published records in order, calling deliver for each one whose page passes
 * check (both get arg), and add to stats. Never skips a record: a reserved record that is not
 * published stops the drain (HINT_PENDING) until it is, so a producer that is slow to write can
 * never write into a slot a later record owns. When stats->overflows grows, or on HINT_PENDING
 * (if the caller cannot wait) or HINT_CORRUPT, the caller must treat the client's pages as
 * whole; after HINT_CORRUPT the ring is not to be read again. */
enum hint_drain_end hint_ring_drain(struct hint_consumer *c, unsigned max,
				    bool (*check)(void *arg, uint64_t vpage),
				    void (*deliver)(void *arg, uint64_t vpage, uint64_t mask),
				    void *arg, struct hint_drain_stats *stats);

#endif
