/* queue.h — one hardware queue of a ublk device: a thread with its own io_uring that fetches
 * requests from the driver, hands them to the target, and commits the results. */
#ifndef LINESWAP_UBLK_QUEUE_H
#define LINESWAP_UBLK_QUEUE_H

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "stats.h"
#include "target.h"
#include "ublk_abi.h"

struct ublk_queue {
	uint16_t id;
	uint16_t depth;
	uint32_t max_io_bytes;
	uint64_t nr_pages; /* device size */
	int cdev_fd;       /* /dev/ublkcN */
	bool user_copy;    /* UBLK_F_USER_COPY: data via pread/pwrite on cdev_fd */
	bool ioctl_encode; /* I/O commands in ioctl encoding (UBLK_F_CMD_IOCTL_ENCODE) */
	struct ublk_target *target;
	void *target_ctx;   /* the target's per-queue state */
	int watch_fd;       /* the target's fd to poll, or -1 */
	uint32_t watch_gen; /* the target bumps it whenever it changes watch_fd */
	uint32_t armed_gen;
	bool watch_armed;
	struct ublk_queue_stats *stats;
	const uint32_t *swap_area; /* the device is an active swap area (the stats' flag) */

	const struct ublksrv_io_desc *descs; /* the driver's request descriptors, mmapped */
	struct ublk_req *reqs;               /* one per tag */
	uint8_t *bufs;                       /* depth * max_io_bytes, without USER_COPY only */
	struct io_uring ring;
	unsigned cmds_in_driver; /* FETCH / COMMIT_AND_FETCH commands the driver holds */
	uint64_t inflight;       /* requests the server holds */
	pthread_t thread;
	sem_t *started; /* posted once: the fetches are in the driver, or the thread stopped */
	int error;      /* why the thread stopped, 0 for an orderly abort */
	char why[160];  /* a failed start, in words (a target's queue_open may fill it) */
	bool stopped;   /* set (release) when the thread has ended */
};

/* The USER_COPY file offset of byte `off` of request (q, tag). */
static inline uint64_t ublk_user_copy_offset(uint16_t q, uint16_t tag, uint64_t off)
{
	return UBLKSRV_IO_BUF_OFFSET + ((uint64_t)q << UBLK_QID_OFF) +
	       ((uint64_t)tag << UBLK_TAG_OFF) + off;
}

/* Checks a request descriptor and turns it into a page run. Returns 0, or -EINVAL for a range
 * that is not whole pages, -EIO for one beyond the device, -EOPNOTSUPP for an unknown op. */
int ublk_req_from_desc(struct ublk_req *req, const struct ublksrv_io_desc *iod, uint64_t nr_pages,
		       uint32_t max_io_bytes);

/* Maps the descriptors and allocates per-tag state (before the I/O starts: the queue allocates
 * nothing per request). Returns 0 or -errno. */
int ublk_queue_init(struct ublk_queue *q);
/* Starts the queue thread; it fetches every tag, posts q->started, then serves until the
 * driver aborts. A thread that cannot start posts q->started too, with q->stopped set and
 * q->error and q->why saying why. */
int ublk_queue_start(struct ublk_queue *q);
/* Waits for the thread and frees what init took; returns the thread's error (0 or -errno). */
int ublk_queue_join(struct ublk_queue *q);
void ublk_queue_free(struct ublk_queue *q);

#endif
