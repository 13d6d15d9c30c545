/* stats.h — per-device I/O statistics in a shared file the daemon writes and ublk-ctl reads.
 *
 * Each queue thread is the only writer of its own ublk_queue_stats (relaxed atomic stores, no
 * locked read-modify-write on the I/O path); readers may see a count a moment old. */
#ifndef LINESWAP_UBLK_STATS_H
#define LINESWAP_UBLK_STATS_H

#include <stdint.h>

#define UBLK_STATS_MAGIC   0x6c6e7377u /* "lnsw" */
#define UBLK_STATS_VERSION 1
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

struct ublk_queue_stats {
	struct ublk_op_stats op[UBLK_STAT_OPS];
	uint64_t inflight;     /* requests the server holds right now */
	uint64_t max_inflight; /* the most it ever held at once */
} __attribute__((aligned(64)));

struct ublk_stats_shm {
	uint32_t magic;
	uint32_t version;
	uint32_t nr_queues;
	uint32_t depth;
	uint64_t target_bytes; /* memory the target holds for device pages */
	uint64_t recoveries;   /* times a new daemon took the device over */
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

/* Sums one op over all queues into *sum. */
void ublk_stats_sum(const struct ublk_stats_shm *s, enum ublk_stat_op op,
		    struct ublk_op_stats *sum);

/* The latency (ns, a bucket's upper bound) below which `permille`/1000 of the requests fall;
 * 0 when there are none. */
uint64_t ublk_stats_percentile(const struct ublk_op_stats *s, unsigned permille);

const char *ublk_stat_op_name(enum ublk_stat_op op);

#endif
