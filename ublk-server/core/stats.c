/* stats.c — per-device I/O statistics. */
#include "stats.h"

#include <errno.h>

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

unsigned ublk_stats_bucket(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned log = 63 - (unsigned)__builtin_clzll(ns); /* >= 3 */
	unsigned sub = (unsigned)(ns >> (log - 2)) & 3;    /* the two bits after the leading one */
	unsigned b = (log - 1) * 4 + sub;

	return b < UBLK_LAT_BUCKETS ? b : UBLK_LAT_BUCKETS - 1;
}

uint64_t ublk_stats_bucket_ns(unsigned bucket)
{
	if (bucket < 8)
		return bucket;
	unsigned log = bucket / 4 + 1, sub = bucket % 4;

	/* Bucket (log, sub) holds [ (4 + sub) << (log - 2), (5 + sub) << (log - 2) ). */
	return (((uint64_t)5 + sub) << (log - 2)) - 1;
}

void ublk_stats_record(struct ublk_queue_stats *qs, enum ublk_stat_op op, uint64_t bytes, int error,
		       uint64_t ns)
{
	struct ublk_op_stats *s = &qs->op[op];
	unsigned b = ublk_stats_bucket(ns);

	STORE(s->count, s->count + 1);
	if (error)
		STORE(s->errors, s->errors + 1);
	else
		STORE(s->bytes, s->bytes + bytes);
	STORE(s->lat[b], s->lat[b] + 1);
}

void ublk_stats_record_origin(struct ublk_queue_stats *qs, bool write, bool swap, uint64_t pages)
{
	uint64_t *c = write ? (swap ? &qs->swap_out : &qs->cache_out)
			    : (swap ? &qs->swap_in : &qs->cache_in);

	STORE(*c, *c + pages);
}

void ublk_stats_sum(const struct ublk_stats_shm *s, enum ublk_stat_op op, struct ublk_op_stats *sum)
{
	*sum = (struct ublk_op_stats){ 0 };
	for (unsigned q = 0; q < s->nr_queues; q++) {
		const struct ublk_op_stats *o = &s->q[q].op[op];

		sum->count += LOAD(o->count);
		sum->bytes += LOAD(o->bytes);
		sum->errors += LOAD(o->errors);
		for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++)
			sum->lat[b] += LOAD(o->lat[b]);
	}
}

void ublk_stats_node_sum(const struct ublk_stats_shm *s, unsigned n, struct ublk_node_io_stats *sum)
{
	*sum = (struct ublk_node_io_stats){ 0 };
	for (unsigned q = 0; q < s->nr_queues; q++) {
		const struct ublk_node_io_stats *o = &s->q[q].node[n];

		sum->reads += LOAD(o->reads);
		sum->writes += LOAD(o->writes);
		sum->errors += LOAD(o->errors);
		sum->bad_seals += LOAD(o->bad_seals);
		sum->bytes += LOAD(o->bytes);
		for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++)
			sum->lat[b] += LOAD(o->lat[b]);
	}
}

void ublk_stats_node_record(struct ublk_node_io_stats *s, bool write, unsigned bytes, int error,
			    uint64_t ns)
{
	unsigned b = ublk_stats_bucket(ns);

	if (write)
		STORE(s->writes, s->writes + 1);
	else
		STORE(s->reads, s->reads + 1);
	if (error)
		STORE(s->errors, s->errors + 1);
	else
		STORE(s->bytes, s->bytes + bytes);
	if (error == -EBADMSG)
		STORE(s->bad_seals, s->bad_seals + 1);
	STORE(s->lat[b], s->lat[b] + 1);
}

uint64_t ublk_stats_percentile(const struct ublk_op_stats *s, unsigned permille)
{
	return ublk_stats_lat_percentile(s->lat, permille);
}

uint64_t ublk_stats_lat_percentile(const uint64_t *lat, unsigned permille)
{
	uint64_t total = 0, seen = 0;

	for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++)
		total += lat[b];
	if (total == 0)
		return 0;
	/* The smallest bucket whose cumulative count reaches ceil(total * permille / 1000). */
	uint64_t want = (total * permille + 999) / 1000;

	if (want == 0)
		want = 1;
	for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++) {
		seen += lat[b];
		if (seen >= want)
			return ublk_stats_bucket_ns(b);
	}
	return ublk_stats_bucket_ns(UBLK_LAT_BUCKETS - 1);
}

const char *ublk_stat_op_name(enum ublk_stat_op op)
{
	static const char *const names[UBLK_STAT_OPS] = {
		[UBLK_STAT_READ] = "read",
		[UBLK_STAT_WRITE] = "write",
		[UBLK_STAT_FLUSH] = "flush",
		[UBLK_STAT_DISCARD] = "discard",
		[UBLK_STAT_WRITE_ZEROES] = "write_zeroes",
	};
	return op < UBLK_STAT_OPS ? names[op] : "?";
}
