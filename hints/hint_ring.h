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
 * A record's key says what it is about (HINT_KEY): so far always a page's live lines. It carries
 * the client's epoch: a client whose ring overflowed starts a new epoch (hint_ring_next_epoch) and
 * from then on believes the server sees all its pages as whole; the server, on seeing a newer
 * epoch, forgets what it knew and ignores records of older epochs still in the ring, so both sides
 * agree again without a handshake.
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
#define HINT_RING_VERSION     2
#define HINT_RING_MIN_RECORDS 64
#define HINT_RING_MAX_RECORDS (1u << 20)

/* key = epoch (16 bits) | kind (4 bits) | value (44 bits). */
enum hint_kind {
	HINT_PAGE = 0, /* value: virtual page (address >> 12); mask: its live lines */
};
#define HINT_VALUE_BITS 44
#define HINT_KEY(epoch, kind, value)                                                     \
	((uint64_t)(uint16_t)(epoch) << 48 | (uint64_t)((kind)&0xf) << HINT_VALUE_BITS | \
	 ((uint64_t)(value) & ((1ull << HINT_VALUE_BITS) - 1)))
#define HINT_KEY_EPOCH(key) ((uint16_t)((key) >> 48))
#define HINT_KEY_KIND(key)  ((unsigned)((key) >> HINT_VALUE_BITS) & 0xf)
#define HINT_KEY_VALUE(key) ((key) & ((1ull << HINT_VALUE_BITS) - 1))

struct hint_record {
	_Atomic uint64_t seq; /* position + 1 once key and mask are written */
	uint64_t key;
	uint64_t mask; /* HINT_PAGE: bit i set means line i (64 bytes) of the page is live */
};

struct hint_ring {
	uint32_t magic;
	uint32_t version;
	uint32_t capacity; /* records; a power of two */
	uint32_t pad;
	alignas(64) _Atomic uint64_t head;     /* next position producers reserve */
	alignas(64) _Atomic uint64_t tail;     /* next position the consumer reads */
	alignas(64) _Atomic uint64_t overflow; /* records dropped because the ring was full */
	_Atomic uint32_t epoch;                /* the client's epoch (see above) */
	/* The client counts forks_begun before it forks and forks_done after: while they differ
	 * its pages may already be shared with a child the server has not heard of. Counters, not
	 * records, so that a full ring cannot lose them; the server reads them after the records
	 * it drains, so it never uses a record written after a fork without knowing of the fork. */
	_Atomic uint32_t forks_begun;
	_Atomic uint32_t forks_done;
	/* Bytes the client's allocator holds committed, and of those the bytes of pages without a
	 * free bitmap (which always move whole), written by the client now and then: only shown
	 * (ublk-ctl hints), never trusted. */
	_Atomic uint64_t heap_bytes;
	_Atomic uint64_t whole_bytes;
	alignas(64) struct hint_record record[];
};

/* Bytes of shared memory for a ring of capacity records. */
static inline size_t hint_ring_bytes(uint32_t capacity)
{
	return sizeof(struct hint_ring) + (size_t)capacity * sizeof(struct hint_record);
}

/* Producer side (any thread of the client): publish one record. Lock-free and allocation-free;
 * returns false, having counted an overflow, when the ring is full. */
static inline bool hint_ring_publish(struct hint_ring *r, uint64_t key, uint64_t mask)
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
	rec->key = key;
	rec->mask = mask;
	atomic_store_explicit(&rec->seq, pos + 1, memory_order_release);
	return true;
}

/* Producer side: the epoch records are stamped with. */
static inline uint16_t hint_ring_epoch(struct hint_ring *r)
{
	return (uint16_t)atomic_load_explicit(&r->epoch, memory_order_acquire);
}

/* Producer side, after a publish failed: start a new epoch, unless another thread already did
 * since `seen` was read. Returns the epoch now current. */
static inline uint16_t hint_ring_next_epoch(struct hint_ring *r, uint16_t seen)
{
	uint32_t e = seen;

	atomic_compare_exchange_strong_explicit(&r->epoch, &e, (uint16_t)(seen + 1),
						memory_order_acq_rel, memory_order_acquire);
	return hint_ring_epoch(r);
}

/* Whether epoch a is newer than b (they wrap). */
static inline bool hint_epoch_newer(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(a - b) > 0;
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

/* Read up to max published records in order, calling deliver for each one whose key passes
 * check (both get arg), and add to stats. Never skips a record: a reserved record that is not
 * published stops the drain (HINT_PENDING) until it is, so a producer that is slow to write can
 * never write into a slot a later record owns. When stats->overflows grows, or on HINT_PENDING
 * (if the caller cannot wait) or HINT_CORRUPT, the caller must treat the client's pages as
 * whole; after HINT_CORRUPT the ring is not to be read again. */
enum hint_drain_end hint_ring_drain(struct hint_consumer *c, unsigned max,
				    bool (*check)(void *arg, uint64_t key),
				    void (*deliver)(void *arg, uint64_t key, uint64_t mask),
				    void *arg, struct hint_drain_stats *stats);

#endif
