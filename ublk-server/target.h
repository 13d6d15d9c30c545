/* target.h — what stores a device's pages: the interface between the queues and a backend.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UBLK_PAGE_SHIFT    12
#define UBLK_PAGE_SIZE     (1u << UBLK_PAGE_SHIFT)
#define UBLK_REQ_QUEUED    1
#define UBLK_QUEUE_TICK_MS 100

struct ublk_queue;

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
	/* Attaches to the device's backing store; `recovering` when a new daemon takes over a
	 * device whose pages must be kept. Returns 0 or -errno (with a message in t->error). */
	int (*open)(struct ublk_target *t, bool recovering);
	int (*read_pages)(struct ublk_target *t, struct ublk_req *req);
	int (*write_pages)(struct ublk_target *t, struct ublk_req *req);
	/* DISCARD and WRITE_ZEROES: afterwards the pages read as zeros. */
	int (*discard_pages)(struct ublk_target *t, struct ublk_req *req);
	int (*flush)(struct ublk_target *t, struct ublk_req *req);
	/* Optional, on the queue thread before it serves: per-queue state in q->target_ctx;
	 * returns an fd to watch (>= 0), -1 for none, or -errno. */
	int (*queue_open)(struct ublk_target *t, struct ublk_queue *q);
	void (*queue_poll)(struct ublk_target *t, struct ublk_queue *q);
	void (*queue_close)(struct ublk_target *t, struct ublk_queue *q);
	/* Bytes of memory the target holds for device pages. */
	uint64_t (*resident_bytes)(struct ublk_target *t);
	/* Detaches; `keep` leaves the backing store for a later recovery, otherwise it is freed. */
	void (*close)(struct ublk_target *t, bool keep);
};

struct ublk_dev_conf;

struct ublk_target {
	const struct ublk_target_ops *ops;
	const struct ublk_dev_conf *conf;
	uint64_t nr_pages;      /* device size in pages */
	const char *store_path; /* where the target keeps its pages (target-specific meaning) */
	struct ublk_stats_shm *stats; /* the device's statistics (mapped before open) */
	void *priv;
	char error[256];
};

/* The target named `name`, or NULL. */
const struct ublk_target_ops *ublk_target_find(const char *name);
/* Names of all targets, comma-separated, for messages. */
const char *ublk_target_names(void);

/* Data movement for a request (defined by the queue). copy_in reads `len` bytes of a WRITE
 * request's data at byte `off` into buf; copy_out writes buf into a READ request's data.
 * Return 0 or -errno. */
int ublk_req_copy_in(const struct ublk_req *req, void *buf, size_t len, size_t off);
int ublk_req_copy_out(const struct ublk_req *req, const void *buf, size_t len, size_t off);
/* Finishes a request a target had answered with UBLK_REQ_QUEUED: res is 0 or -errno. */
void ublk_req_done(struct ublk_req *req, int res);

/* Frees a remote device's region on its memory node, for a device whose daemon is gone.
 * Returns 0 or -errno with a message in err. */
int ublk_remote_release(const struct ublk_dev_conf *conf, char *err, size_t errlen);

extern const struct ublk_target_ops ublk_target_mem;
extern const struct ublk_target_ops ublk_target_remote;

#endif
