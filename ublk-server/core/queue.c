/* queue.c — one hardware queue: FETCH_REQ, then a COMMIT_AND_FETCH_REQ loop over every tag.
 *
 * Swap safety: the thread marks itself PR_SET_IO_FLUSHER, so memory it allocates in the kernel
 * (page faults, pread into the target's pages) never waits for I/O to this very device. The
 * queue allocates nothing in user space once started; what a target does from its callbacks
 * is the target's to say (target.h). */
#include "clock.h"
#include "io_thread.h"
#include "log.h"
#include "queue.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static size_t desc_map_size(uint16_t depth)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (depth * sizeof(struct ublksrv_io_desc) + page - 1) / page * page;
}

/* The descriptors of queue q start at q times the size a queue of the largest depth takes. */
static off_t desc_map_offset(uint16_t q)
{
	return UBLKSRV_CMD_BUF_OFFSET + (off_t)q * (off_t)desc_map_size(UBLK_MAX_QUEUE_DEPTH);
}

int ublk_req_from_desc(struct ublk_req *req, const struct ublksrv_io_desc *iod, uint64_t nr_pages,
		       uint32_t max_io_bytes)
{
	uint64_t start = iod->start_sector;
	uint32_t sectors = iod->nr_sectors;

	req->op = (uint8_t)(iod->op_flags & 0xff);
	req->flags = iod->op_flags & ~0xffu;
	req->page = 0;
	req->nr_pages = 0;
	switch (req->op) {
	case UBLK_IO_OP_FLUSH:
		return 0;
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		if ((uint64_t)sectors << 9 > max_io_bytes)
			return -EINVAL;
		break;
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (sectors == 0 || ((start | sectors) & 7))
		return -EINVAL;
	req->page = start >> 3;
	req->nr_pages = sectors >> 3;
	if (req->page >= nr_pages || req->nr_pages > nr_pages - req->page)
		return -EIO;
	return 0;
}

/* Moves `len` bytes between buf and byte `off` of the request's data: into buf for a WRITE
 * request (`in`), out of buf for a READ request. */
static int req_copy(const struct ublk_req *req, uint8_t *buf, size_t len, size_t off, bool in)
{
	const struct ublk_queue *q = req->q;

	if (!q->user_copy) {
		uint8_t *tag_buf = q->bufs + (size_t)req->tag * q->max_io_bytes + off;

		memcpy(in ? buf : tag_buf, in ? tag_buf : buf, len);
		return 0;
	}
	uint64_t pos = ublk_user_copy_offset(q->id, req->tag, off);

	while (len > 0) {
		ssize_t n = in ? pread(q->cdev_fd, buf, len, (off_t)pos)
			       : pwrite(q->cdev_fd, buf, len, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		pos += (uint64_t)n;
	}
	return 0;
}

int ublk_req_copy_in(const struct ublk_req *req, void *buf, size_t len, size_t off)
{
	return req_copy(req, buf, len, off, true);
}

int ublk_req_copy_out(const struct ublk_req *req, const void *buf, size_t len, size_t off)
{
	/* Only read through: copy-out never writes to buf. */
	return req_copy(req, (uint8_t *)(uintptr_t)buf, len, off, false);
}

/* A free SQE. The ring has one per tag and one each for the target's watch and tick, so it is
 * short only while the kernel has not consumed earlier ones: hand them over, take the slot. */
static struct io_uring_sqe *queue_sqe(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&q->ring)))
		io_uring_submit(&q->ring);
	return sqe;
}

/* Queues FETCH_REQ, or COMMIT_AND_FETCH_REQ with `result`, for `tag`. */
static void queue_cmd(struct ublk_queue *q, uint16_t tag, bool commit, int result)
{
	struct io_uring_sqe *sqe = queue_sqe(q);
	unsigned nr = commit ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_IO_FETCH_REQ;
	struct ublksrv_io_cmd *cmd = (struct ublksrv_io_cmd *)sqe->cmd;

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->cdev_fd;
	sqe->cmd_op = q->ioctl_encode ? UBLK_IO_IOWR(nr) : nr;
	sqe->user_data = tag;
	cmd->q_id = q->id;
	cmd->tag = tag;
	cmd->result = result;
	cmd->addr =
		q->user_copy ? 0 : (uint64_t)(uintptr_t)(q->bufs + (size_t)tag * q->max_io_bytes);
	q->cmds_in_driver++;
}

static enum ublk_stat_op stat_op(uint8_t op)
{
	switch (op) {
	case UBLK_IO_OP_WRITE:
		return UBLK_STAT_WRITE;
	case UBLK_IO_OP_FLUSH:
		return UBLK_STAT_FLUSH;
	case UBLK_IO_OP_DISCARD:
		return UBLK_STAT_DISCARD;
	case UBLK_IO_OP_WRITE_ZEROES:
		return UBLK_STAT_WRITE_ZEROES;
	default:
		return UBLK_STAT_READ;
	}
}

void ublk_req_done(struct ublk_req *req, int res)
{
	struct ublk_queue *q = req->q;
	uint64_t bytes = (uint64_t)req->nr_pages << UBLK_PAGE_SHIFT;
	int result = res < 0 ? res : (int)bytes;

	uint64_t now = monotonic_ns();

	ublk_stats_record(q->stats, stat_op(req->op), bytes, res < 0, now - req->start_ns);
	if (res >= 0 && (req->op == UBLK_IO_OP_READ || req->op == UBLK_IO_OP_WRITE)) {
		bool write = req->op == UBLK_IO_OP_WRITE;
		bool swap = write ? req->flags & UBLK_IO_F_SWAP
				  : q->swap_area && __atomic_load_n(q->swap_area, __ATOMIC_RELAXED);

		ublk_stats_record_origin(q->stats, write, swap, req->nr_pages);
	}
	__atomic_store_n(&q->stats->progress_ns, now, __ATOMIC_RELAXED);
	q->inflight--;
	__atomic_store_n(&q->stats->inflight, q->inflight, __ATOMIC_RELEASE);
	queue_cmd(q, req->tag, true, result);
}

static int dispatch(struct ublk_queue *q, struct ublk_req *req)
{
	struct ublk_target *t = q->target;

	switch (req->op) {
	case UBLK_IO_OP_READ:
		return t->ops->read_pages(t, req);
	case UBLK_IO_OP_WRITE:
		return t->ops->write_pages(t, req);
	case UBLK_IO_OP_FLUSH:
		return t->ops->flush(t, req);
	default: /* DISCARD, WRITE_ZEROES: ublk_req_from_desc let nothing else through */
		return t->ops->discard_pages(t, req);
	}
}

static void handle_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe)
{
	uint16_t tag = (uint16_t)cqe->user_data;
	struct ublk_req *req = &q->reqs[tag];
	int ret;

	q->cmds_in_driver--;
	if (cqe->res == UBLK_IO_RES_ABORT)
		return; /* the device is stopping: this tag is not fetched again */
	if (cqe->res != UBLK_IO_RES_OK) {
		log_msg("queue %u tag %u: command failed: %s", q->id, tag, strerror(-cqe->res));
		if (!q->error)
			q->error = cqe->res < 0 ? cqe->res : -EPROTO;
		return;
	}
	req->start_ns = monotonic_ns();
	/* A busy spell starts: the watchdog counts from here (watchdog.h). */
	if (q->inflight == 0)
		__atomic_store_n(&q->stats->progress_ns, req->start_ns, __ATOMIC_RELAXED);
	q->inflight++;
	__atomic_store_n(&q->stats->inflight, q->inflight, __ATOMIC_RELEASE);
	if (q->inflight > q->stats->max_inflight)
		__atomic_store_n(&q->stats->max_inflight, q->inflight, __ATOMIC_RELAXED);
	ret = ublk_req_from_desc(req, &q->descs[tag], q->nr_pages, q->max_io_bytes);
	if (ret == 0)
		ret = dispatch(q, req);
	if (ret != UBLK_REQ_QUEUED)
		ublk_req_done(req, ret);
}

/* user_data of the queue's own SQEs; tags are below 65536. A watch carries the generation of
 * the target's fd it polls, so a poll left on a replaced fd is recognised and ignored. */
#define TICK_DATA  0x10000ull
#define WATCH_DATA 0x20000ull

static void arm_watch(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = queue_sqe(q);

	io_uring_prep_poll_add(sqe, q->watch_fd, POLLIN);
	sqe->user_data = WATCH_DATA + q->watch_gen;
	q->watch_armed = true;
	q->armed_gen = q->watch_gen;
}

static void arm_tick(struct ublk_queue *q)
{
	static struct __kernel_timespec tick = { .tv_nsec = UBLK_QUEUE_TICK_MS * 1000000ll };
	struct io_uring_sqe *sqe = queue_sqe(q);

	io_uring_prep_timeout(sqe, &tick, 0, 0);
	sqe->user_data = TICK_DATA;
}

/* Ends the thread before it served: says why, and tells the daemon it will not start. */
static void *fail_start(struct ublk_queue *q, int err, const char *what)
{
	if (!q->why[0])
		snprintf(q->why, sizeof(q->why), "%s: %s", what, strerror(-err));
	q->error = err;
	__atomic_store_n(&q->stopped, true, __ATOMIC_RELEASE);
	sem_post(q->started);
	return NULL;
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	struct io_uring_cqe *cqe;
	unsigned head, seen;
	int ret;

	char name[16];

	snprintf(name, sizeof(name), "ublk-queue%u", q->id);
	io_thread_init(name, true);
	/* A recovered device's stats still hold the dead daemon's queue: start the watchdog's
	 * view of this one afresh. */
	__atomic_store_n(&q->stats->progress_ns, monotonic_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&q->stats->inflight, 0, __ATOMIC_RELEASE);
	/* The ring belongs to this thread: the driver ties a queue to the task that fetches. */
	/* One SQE per tag, and two for the target's fd and tick. */
	ret = io_uring_queue_init(q->depth + 2u, &q->ring, IORING_SETUP_SQE128);
	if (ret < 0)
		return fail_start(q, ret, "io_uring_queue_init");
	q->watch_fd = -1;
	if (q->target->ops->queue_open) {
		ret = q->target->ops->queue_open(q->target, q);
		if (ret < -1) {
			if (q->target->ops->queue_close)
				q->target->ops->queue_close(q->target, q);
			io_uring_queue_exit(&q->ring);
			return fail_start(q, ret, "the target's queue set-up");
		}
		q->watch_fd = ret;
		if (q->watch_fd >= 0)
			arm_watch(q);
		arm_tick(q);
	}
	for (uint16_t tag = 0; tag < q->depth; tag++)
		queue_cmd(q, tag, false, 0);
	ret = io_uring_submit(&q->ring);
	if (ret < 0) {
		/* Nothing reached the driver (a partial submit does not happen on a fresh ring). */
		if (q->target->ops->queue_close)
			q->target->ops->queue_close(q->target, q);
		io_uring_queue_exit(&q->ring);
		return fail_start(q, ret, "submitting the fetch commands");
	}
	sem_post(q->started);
	/* Requests the target still holds are finished even after the driver aborted the rest:
	 * the driver waits for them. */
	while (q->cmds_in_driver > 0 || q->inflight > 0) {
		ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			q->error = ret;
			break;
		}
		seen = 0;
		bool poll_target = false;

		io_uring_for_each_cqe(&q->ring, head, cqe)
		{
			if (cqe->user_data >= WATCH_DATA) {
				if (cqe->user_data - WATCH_DATA == q->watch_gen) {
					q->watch_armed = false;
					poll_target = true;
				}
			} else if (cqe->user_data == TICK_DATA) {
				poll_target = true;
				arm_tick(q);
			} else {
				handle_cqe(q, cqe);
			}
			seen++;
		}
		io_uring_cq_advance(&q->ring, seen);
		if (poll_target) {
			q->target->ops->queue_poll(q->target, q);
			if (q->watch_fd >= 0 && (!q->watch_armed || q->armed_gen != q->watch_gen))
				arm_watch(q);
		}
	}
	if (q->target->ops->queue_close)
		q->target->ops->queue_close(q->target, q);
	io_uring_queue_exit(&q->ring);
	__atomic_store_n(&q->stopped, true, __ATOMIC_RELEASE);
	return NULL;
}

int ublk_queue_init(struct ublk_queue *q)
{
	void *descs = mmap(NULL, desc_map_size(q->depth), PROT_READ, MAP_SHARED | MAP_POPULATE,
			   q->cdev_fd, desc_map_offset(q->id));

	if (descs == MAP_FAILED)
		return -errno;
	q->descs = descs;
	q->reqs = calloc(q->depth, sizeof(*q->reqs));
	if (!q->reqs)
		goto nomem;
	for (uint16_t tag = 0; tag < q->depth; tag++) {
		q->reqs[tag].q = q;
		q->reqs[tag].tag = tag;
	}
	if (!q->user_copy) {
		q->bufs = aligned_alloc(UBLK_PAGE_SIZE, (size_t)q->depth * q->max_io_bytes);
		if (!q->bufs)
			goto nomem;
		/* Faulted in (and so locked by the daemon's mlockall) before the first request. */
		memset(q->bufs, 0, (size_t)q->depth * q->max_io_bytes);
	}
	return 0;
nomem:
	ublk_queue_free(q);
	return -ENOMEM;
}

int ublk_queue_start(struct ublk_queue *q)
{
	return -pthread_create(&q->thread, NULL, queue_thread, q);
}

int ublk_queue_join(struct ublk_queue *q)
{
	pthread_join(q->thread, NULL);
	return q->error;
}

void ublk_queue_free(struct ublk_queue *q)
{
	if (q->descs)
		munmap((void *)q->descs, desc_map_size(q->depth));
	free(q->reqs);
	free(q->bufs);
	q->descs = NULL;
	q->reqs = NULL;
	q->bufs = NULL;
}
