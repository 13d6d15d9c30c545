/* target.h — what stores a device's pages: the interface between the generic server and a
 * backend. Core code (queues, daemon, device record) knows targets only through this table of
 * operations; it never compares a target's name. A target is one file in targets/ and one
 * entry in targets/targets.c.
 *
 * A target sees whole 4 KiB pages, never sectors: every request is a run of pages (the queue
 * rejects anything unaligned). Operations run on the queue thread that received the request
 * and return 0 (done), a negative errno (failed), or UBLK_REQ_QUEUED: the target finishes the
 * request later with ublk_req_done() on the same queue thread. Data moves between the request
 * and the target's memory only through ublk_req_copy_in() / ublk_req_copy_out().
 *
 * A target that completes asynchronously gives each queue a file descriptor (queue_open): the
 * queue thread calls queue_poll when it becomes readable and at least every
 * UBLK_QUEUE_TICK_MS, and the target finishes what it can from there. */
#ifndef LINESWAP_UBLK_TARGET_H
#define LINESWAP_UBLK_TARGET_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UBLK_PAGE_SHIFT    12
#define UBLK_PAGE_SIZE     (1u << UBLK_PAGE_SHIFT)
#define UBLK_REQ_QUEUED    1
#define UBLK_QUEUE_TICK_MS 100

struct ublk_queue;
struct ublk_dev_conf;

/* One request as a target sees it. */
struct ublk_req {
	struct ublk_queue *q;
	uint16_t tag;
	uint8_t op;        /* UBLK_IO_OP_* */
	uint32_t flags;    /* UBLK_IO_F_* */
	uint64_t page;     /* first device page */
	uint32_t nr_pages; /* 0 for FLUSH */
	uint64_t start_ns; /* when the server received it */
};

struct ublk_target;

struct ublk_target_ops {
	const char *name;
	const char *summary; /* what holds the pages, for `ublk-ctl add --help` (one line) */

	/* Command line and device record: the target's options live in the device record's
	 * target part (ublk_dev_conf.tgt, see ublk_tgt_conf()); core never looks inside. */
	const char *usage;            /* its options for `add --help`, or NULL for none */
	const struct option *options; /* its long options for `add` (zero-terminated), or NULL */
	void (*init_conf)(struct ublk_dev_conf *c); /* defaults, before any option */
	/* One of `options` (its `val`) with its argument. Returns 0, -EINVAL for a bad value
	 * (a usage error), or another -errno; a message in err either way. */
	int (*parse_option)(struct ublk_dev_conf *c, int val, const char *arg, char *err,
			    size_t errlen);
	/* After the last option: required options, derived values. As parse_option. */
	int (*finish_conf)(struct ublk_dev_conf *c, char *err, size_t errlen);
	/* The target part as "key=value\n" lines, and one such line back (false: unknown key or
	 * bad value, which makes the whole record malformed). */
	int (*conf_format)(const struct ublk_dev_conf *c, char *buf, size_t len);
	bool (*conf_parse)(struct ublk_dev_conf *c, const char *key, const char *val);
	/* Frees what the target holds for a device whose daemon is gone (`ublk-ctl del`), besides
	 * the page store file core removes. Optional. Returns 0 or -errno with a message. */
	int (*release)(const struct ublk_dev_conf *c, char *err, size_t errlen);
	/* Kernel memory a device's I/O path may need while the machine is out of memory (its
	 * sockets' buffers), which its realtime threads take from the kernel's reserve
	 * (io_thread.h); `ublk-ctl add` warns when vm.min_free_kbytes leaves too little.
	 * Optional: NULL or 0 for none. */
	uint64_t (*reserve_bytes)(const struct ublk_dev_conf *c);

	/* Attaches to the device's backing store; `recovering` when a new daemon takes over a
	 * device whose pages must be kept. Returns 0 or -errno (with a message in t->error). */
	int (*open)(struct ublk_target *t, bool recovering);
	int (*read_pages)(struct ublk_target *t, struct ublk_req *req);
	int (*write_pages)(struct ublk_target *t, struct ublk_req *req);
	/* DISCARD and WRITE_ZEROES: afterwards the pages read as zeros. */
	int (*discard_pages)(struct ublk_target *t, struct ublk_req *req);
	int (*flush)(struct ublk_target *t, struct ublk_req *req);
	/* Optional, on the queue thread before it serves: per-queue state in q->target_ctx;
	 * returns an fd to watch (>= 0), -1 for none, or -errno (with a message in q->why). */
	int (*queue_open)(struct ublk_target *t, struct ublk_queue *q);
	void (*queue_poll)(struct ublk_target *t, struct ublk_queue *q);
	/* Called once for every queue_open, even a failed one. */
	void (*queue_close)(struct ublk_target *t, struct ublk_queue *q);
	/* Bytes of memory the target holds for device pages. */
	uint64_t (*resident_bytes)(struct ublk_target *t);
	/* Detaches; `keep` leaves the backing store for a later recovery, otherwise it is freed. */
	void (*close)(struct ublk_target *t, bool keep);
};

struct ublk_target {
	const struct ublk_target_ops *ops;
	const struct ublk_dev_conf *conf;
	uint64_t nr_pages;      /* device size in pages */
	const char *store_path; /* where the target keeps its pages (target-specific meaning) */
	struct ublk_stats_shm *stats; /* the device's statistics (mapped before open) */
	void *priv;
	char error[256];
};

/* The target named `name` in a NULL-terminated table, or NULL. */
const struct ublk_target_ops *ublk_target_find(const struct ublk_target_ops *const *table,
					       const char *name);

/* Opens (or, when !recovering, creates) a backing file of exactly `bytes` bytes and maps it
 * shared, read-write. On recovery a file of another size is refused with a clear message:
 * mapping a truncated file would kill the daemon with SIGBUS on the first access beyond its
 * end. Returns 0 with *fd and *map, or -errno with a message ("<what>: ...") in t->error;
 * -EEXIST when creating finds the file already there (it is someone else's: left alone). */
int ublk_backing_open(struct ublk_target *t, const char *what, const char *path, uint64_t bytes,
		      bool recovering, int *fd, void **map);

/* Data movement for a request (defined by the queue). copy_in reads `len` bytes of a WRITE
 * request's data at byte `off` into buf; copy_out writes buf into a READ request's data.
 * Return 0 or -errno. */
int ublk_req_copy_in(const struct ublk_req *req, void *buf, size_t len, size_t off);
int ublk_req_copy_out(const struct ublk_req *req, const void *buf, size_t len, size_t off);
/* Finishes a request a target had answered with UBLK_REQ_QUEUED: res is 0 or -errno. */
void ublk_req_done(struct ublk_req *req, int res);

#endif
