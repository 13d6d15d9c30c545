/* stats.h — per-device I/O statistics in a shared file the daemon writes and ublk-ctl reads.
 *
 * Each queue thread is the only writer of its own ublk_queue_stats (relaxed atomic stores, no
 * locked read-modify-write on the I/O path); readers may see a count a moment old. */
#ifndef LINESWAP_UBLK_STATS_H
#define LINESWAP_UBLK_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define UBLK_STATS_MAGIC   0x6c6e7377u /* "lnsw" */
#define UBLK_STATS_VERSION 11
/* Latency histogram: bucket b counts latencies up to ublk_stats_bucket_ns(b): exact below 8 ns,
 * then four buckets per power of two up to about 8.6 s; the last bucket takes anything longer. */
#define UBLK_LAT_BUCKETS 128

enum ublk_stat_op {
	UBLK_STAT_READ,
	UBLK_STAT_WRITE,
	UBLK_STAT_FLUSH,
	UBLK_STAT_DISCARD,
	UBLK_STAT_WRITE_ZEROES,
	UBLK_STAT_OPS,
};

struct ublk_op_stats {
	uint64_t count;
	uint64_t bytes;
	uint64_t errors;
	uint64_t lat[UBLK_LAT_BUCKETS];
};

/* What moved to and from the memory node (remote target): the bytes of the pages' SG plans,
 * against the whole-page baseline of 4096 bytes a page. */
struct ublk_move_stats {
	uint64_t pages;        /* pages moved */
	uint64_t hinted_pages; /* of which by a reduced mask */
	uint64_t bytes;        /* bytes moved */
};

/* A pool of memory nodes (remote target): what one queue sent to one node. A page copy is
 * one read or write; its latency is from sending it to its answer. */
#define UBLK_POOL_NODES 16

struct ublk_node_io_stats {
	uint64_t reads, writes, errors;
	uint64_t bad_seals; /* of the errors: pages that did not open (altered or replayed) */
	uint64_t bytes;
	uint64_t lat[UBLK_LAT_BUCKETS];
};

struct ublk_queue_stats {
	struct ublk_op_stats op[UBLK_STAT_OPS];
	uint64_t inflight;     /* requests the server holds right now (stored with release) */
	uint64_t max_inflight; /* the most it ever held at once */
	uint64_t progress_ns;  /* CLOCK_MONOTONIC: a request last finished, or the first of a
				* busy spell arrived (stored before inflight) */
	struct ublk_move_stats put, get;
	/* Pages that requests read and wrote, by where they came from: swap (a write carries the
	 * kernel's swap flag; a read is a swap-in while the device is an active swap area, since
	 * the kernel flags only swap writes) or the page cache (a mapping's faults, readahead and
	 * writeback; read(2) and write(2) of the device, direct I/O). Successful requests only. */
	uint64_t swap_in, swap_out, cache_in, cache_out;
	uint64_t hedges;     /* reads sent to a second copy (the first was slow) */
	uint64_t hedge_wins; /* of which the second copy answered first */
	struct ublk_node_io_stats node[UBLK_POOL_NODES];
} __attribute__((aligned(64)));

/* The hint service (written by its thread alone). */
#define UBLK_HINT_CLIENTS_SHOWN   256
#define UBLK_HINT_RESOLVE_BUCKETS UBLK_LAT_BUCKETS

struct ublk_hint_client_stats {
	uint32_t id;
	int32_t pid;
	uint32_t uid;
	uint32_t flags; /* UBLK_HINT_CLIENT_* */
	char comm[16];
	uint64_t ring_records;
	uint64_t records, rejected, overflows, resyncs, forks;
	uint64_t view_pages;  /* pages it has reduced, as the server knows */
	uint64_t live_lines;  /* the live lines of those pages */
	uint64_t heap_bytes;  /* what its allocator says it holds committed (shown, not trusted) */
	uint64_t whole_bytes; /* ... and of that, in pages without a free bitmap (likewise) */
	uint64_t anon_bytes;  /* its anonymous memory, resident or swapped (/proc/PID/status) */
	uint64_t memory;      /* bytes of the daemon's its ring and view hold */
	uint64_t pages_resolved;            /* written slots resolved to its pages */
	uint64_t lines_saved;               /* lines those writes did not move */
	uint64_t arena_offset, arena_bytes; /* mmap mode: its range of the device */
};

#define UBLK_HINT_CLIENT_SHARING 1  /* forking or has children: its pages move whole */
#define UBLK_HINT_CLIENT_UNSURE  2  /* the last drain stopped at an unpublished record */
#define UBLK_HINT_CLIENT_ARENA   4  /* mmap mode: granted a range */
#define UBLK_HINT_CLIENT_CLAIMED 8  /* ... found mapped where it said */
#define UBLK_HINT_CLIENT_FROZEN  16 /* ... and forked since: its pages move whole */

struct ublk_hint_stats {
	uint32_t enabled;
	uint32_t nclients;
	uint64_t registrations, refused, dropped;
	uint64_t records, rejected, overflows, resyncs;
	uint64_t lines_saved; /* lines that writes attributed to clients did not move */
	/* the daemon's memory for hints (rings and views) and its cap (--hint-memory); page
	 * reductions not kept because a view or a cap was full (those pages move whole); the
	 * resolver's buffers and the queues' rounds (outside the cap: they follow the writes
	 * and the largest view) */
	uint64_t memory, memory_cap, not_kept, resolver_memory;
	/* the resolver: slots asked, resolved to one page, shared by several, left whole at
	 * the deadline, pagemap entries read, pages PAGEMAP_SCAN walked, time it took (ns);
	 * rounds and their latency */
	uint64_t slots, resolved, shared, late, scanned, walked, resolve_ns;
	uint64_t by_offset; /* written pages of mmap-mode ranges, masked by offset instead */
	uint64_t rounds;
	uint64_t round_lat[UBLK_HINT_RESOLVE_BUCKETS]; /* a write's wait for its masks */
	/* totals of the clients of earlier daemons (recovery) */
	uint64_t left_records, left_rejected, left_overflows, left_resyncs, left_lines_saved;
	struct ublk_hint_client_stats client[UBLK_HINT_CLIENTS_SHOWN];
};

/* The pool as its keeper thread sees it (remote target; written by that thread alone). */
enum ublk_node_state {
	UBLK_NODE_UNUSED, /* holds none of the device's copies */
	UBLK_NODE_UP,
	UBLK_NODE_DOWN,
	UBLK_NODE_RESYNCING, /* up, with stale copies being brought up to date */
	UBLK_NODE_DRAINING,  /* up, its copies moving to the other nodes (ublk-ctl node remove) */
	UBLK_NODE_REMOVED,   /* drained: it holds nothing and gets nothing */
};

struct ublk_pool_stats {
	uint32_t nnodes; /* 0: not a pool (another target) */
	uint32_t replicas;
	uint64_t slabs;
	uint64_t slab_bytes;
	uint64_t degraded;      /* slabs with a stale copy now */
	uint64_t rebuild_total; /* stale copies when the current rebuild began (0: none) */
	uint64_t rebuild_done;  /* of which made fresh since */
	uint64_t resync_pages;  /* pages copied to stale copies, ever */
	uint64_t resynced;      /* stale copies made fresh, ever */
	uint64_t lost_pages;    /* pages whose only fresh copy a restarted node lost */
	uint64_t moved;         /* copies of a node gone past the grace made anew elsewhere */
	uint64_t drained;       /* copies moved off a draining node */
	uint32_t node_state[UBLK_POOL_NODES]; /* enum ublk_node_state */
	uint32_t node_slabs[UBLK_POOL_NODES]; /* copies it holds */
	uint32_t node_stale[UBLK_POOL_NODES]; /* of which stale */
};

struct ublk_stats_shm {
	uint32_t magic;
	uint32_t version;
	uint32_t nr_queues;
	uint32_t depth;
	uint64_t target_bytes; /* memory the target holds for device pages */
	uint64_t recoveries;   /* times a new daemon took the device over */
	/* The watchdog (the daemon's main thread): stalls found so far, and the current one's
	 * queue and length (0: none). */
	uint64_t stalls;
	uint64_t stalled_ns;
	uint32_t stalled_queue;
	uint32_t stalled_inflight;
	/* The device is an active swap area (the main thread reads /proc/swaps every second):
	 * what the queues count a read as. */
	uint32_t swap_area;
	uint32_t live; /* the daemon serves the device (set once it started or recovered it) */
	struct ublk_hint_stats hints;
	struct ublk_pool_stats pool;
	struct ublk_queue_stats q[];
};

static inline uint64_t ublk_stats_size(unsigned nr_queues)
{
	return sizeof(struct ublk_stats_shm) + nr_queues * sizeof(struct ublk_queue_stats);
}

/* The histogram bucket of a latency, and the upper bound (ns) of a bucket. */
unsigned ublk_stats_bucket(uint64_t ns);
uint64_t ublk_stats_bucket_ns(unsigned bucket);

/* Records one finished request on its queue's stats (queue thread only). */
void ublk_stats_record(struct ublk_queue_stats *qs, enum ublk_stat_op op, uint64_t bytes, int error,
		       uint64_t ns);

/* Records the pages of one successful read or write by their origin (queue thread only). */
void ublk_stats_record_origin(struct ublk_queue_stats *qs, bool write, bool swap, uint64_t pages);

/* Sums one op over all queues into *sum. */
void ublk_stats_sum(const struct ublk_stats_shm *s, enum ublk_stat_op op,
		    struct ublk_op_stats *sum);

/* Node n's counts summed over all queues; one page copy's on a queue's (its thread only). */
void ublk_stats_node_sum(const struct ublk_stats_shm *s, unsigned n,
			 struct ublk_node_io_stats *sum);
void ublk_stats_node_record(struct ublk_node_io_stats *s, bool write, unsigned bytes, int error,
			    uint64_t ns);

/* The latency (ns, a bucket's upper bound) below which `permille`/1000 of the requests fall;
 * 0 when there are none. The second takes a histogram of UBLK_LAT_BUCKETS. */
uint64_t ublk_stats_percentile(const struct ublk_op_stats *s, unsigned permille);
uint64_t ublk_stats_lat_percentile(const uint64_t *lat, unsigned permille);

const char *ublk_stat_op_name(enum ublk_stat_op op);

#endif
