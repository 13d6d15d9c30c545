/* daemon.c — the server process of one ublk device.
 *
 * Swap safety: the daemon may serve the very swap device the kernel is writing to under memory
 * pressure, so it must never wait for that device to get memory. It locks all its memory
 * (mlockall: current and future mappings, the target's pages as they are faulted in), the
 * queue threads run as realtime I/O flushers (io_thread.h), and the queues allocate nothing
 * per request once the device starts. The main thread watches that the queues move
 * (watchdog.h). Targets may still allocate on their own paths (the remote target while
 * it reconnects a lost link, and its hint thread as clients' heaps grow; see targets/). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "control.h"
#include "io_thread.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "swap_area.h"
#include "target.h"
#include "watchdog.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

struct daemon {
	struct ublk_dev_conf *conf;
	bool recover;
	int notify_fd;
	struct ublk_ctrl ctrl;
	bool added;            /* this daemon created the device: delete it again on failure */
	bool recovery_started; /* START_USER_RECOVERY succeeded */
	int cdev_fd;
	struct ublk_target target;
	bool target_open;
	struct ublk_stats_shm *stats;
	struct ublk_queue *queues;
	unsigned queues_started;
	sem_t queue_started;
	struct ublk_watchdog watchdog;
};

static void notify(struct daemon *d, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (d->notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(d->notify_fd, line, (size_t)n) < 0)
		fprintf(stderr, "cannot report to ublk-ctl: %s\n", strerror(errno));
	close(d->notify_fd);
	d->notify_fd = -1;
}

/* Sends stdout and stderr to the device's log file (once its id is known). */
static void open_log(uint32_t dev_id)
{
	char path[PATH_MAX];
	int fd;

	if (!ublk_state_path(path, sizeof(path), dev_id, "log"))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The log is a file on tmpfs, whose pages can be swapped out to the very device this
	 * daemon serves: its threads only buffer lines, and serve() writes them out. */
	log_defer();
}

static int map_stats(struct daemon *d)
{
	char path[PATH_MAX];
	uint64_t size = ublk_stats_size(d->conf->nr_queues);
	struct stat st;
	int fd;

	if (!ublk_state_path(path, sizeof(path), d->conf->dev_id, "stats"))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* A recovered device keeps counting where the dead daemon stopped. */
	bool keep = d->recover && fstat(fd, &st) == 0 && (uint64_t)st.st_size == size;

	if (!keep && (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)) {
		close(fd);
		return -errno;
	}
	d->stats = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (d->stats == MAP_FAILED) {
		d->stats = NULL;
		return -errno;
	}
	if (!keep || d->stats->magic != UBLK_STATS_MAGIC) {
		memset(d->stats, 0, size);
		d->stats->version = UBLK_STATS_VERSION;
		d->stats->nr_queues = d->conf->nr_queues;
		d->stats->depth = d->conf->depth;
		__atomic_store_n(&d->stats->magic, UBLK_STATS_MAGIC, __ATOMIC_RELEASE);
	}
	return 0;
}

static int open_cdev(struct daemon *d)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/ublkc%u", d->conf->dev_id);
	/* devtmpfs creates the node as the driver adds the device; give it a moment. */
	for (int i = 0; i < 100; i++) {
		d->cdev_fd = open(path, O_RDWR | O_CLOEXEC);
		if (d->cdev_fd >= 0 || errno != ENOENT)
			break;
		usleep(20 * 1000);
	}
	return d->cdev_fd < 0 ? -errno : 0;
}

static struct ublk_params device_params(const struct ublk_dev_conf *c)
{
	uint32_t max_sectors = c->max_io_bytes >> 9;
	/* Discard and write-zeroes: page-granular, up to 1 GiB per request. */
	uint32_t max_discard = 1u << 21;

	return (struct ublk_params){
		.types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD,
		.basic = {
			.logical_bs_shift = UBLK_PAGE_SHIFT,
			.physical_bs_shift = UBLK_PAGE_SHIFT,
			.io_opt_shift = UBLK_PAGE_SHIFT,
			.io_min_shift = UBLK_PAGE_SHIFT,
			.max_sectors = max_sectors,
			.dev_sectors = c->size >> 9,
		},
		.discard = {
			.discard_granularity = UBLK_PAGE_SIZE,
			.max_discard_sectors = max_discard,
			.max_write_zeroes_sectors = max_discard,
			.max_discard_segments = 1,
		},
	};
}

static int add_device(struct daemon *d)
{
	struct ublk_dev_conf *c = d->conf;
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = c->nr_queues,
		.queue_depth = c->depth,
		.max_io_buf_bytes = c->max_io_bytes,
		.dev_id = c->dev_id,
		.ublksrv_pid = getpid(),
		.flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE,
	};
	struct ublk_params params;
	int ret;

	if (d->ctrl.ioctl_encode)
		info.flags |= UBLK_F_CMD_IOCTL_ENCODE;
	if (c->user_copy && (d->ctrl.features & UBLK_F_USER_COPY))
		info.flags |= UBLK_F_USER_COPY;
	/* A device of swap or of one mapping has no partitions, and a scan at START_DEV is I/O
	 * through this very daemon (to a memory node) before it reports the device live: where
	 * the driver can skip it (7.x), it does. */
	if (d->ctrl.features & UBLK_F_NO_AUTO_PART_SCAN)
		info.flags |= UBLK_F_NO_AUTO_PART_SCAN;
	ret = ublk_ctrl_add_dev(&d->ctrl, &info);
	if (ret == -EEXIST) {
		notify(d, "error device %u already exists", c->dev_id);
		return ret;
	}
	if (ret < 0) {
		notify(d, "error ADD_DEV failed: %s", strerror(-ret));
		return ret;
	}
	d->added = true;
	c->dev_id = info.dev_id;
	/* The driver caps the queues at the number of CPUs. */
	c->nr_queues = info.nr_hw_queues;
	c->user_copy = info.flags & UBLK_F_USER_COPY;
	if (mkdir(ublk_run_dir(), 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		notify(d, "error cannot create %s: %s", ublk_run_dir(), strerror(errno));
		return ret;
	}
	open_log(c->dev_id);
	log_msg("added /dev/ublkb%u: target %s, %llu bytes, %u queues x %u, flags 0x%llx",
		c->dev_id, c->target, (unsigned long long)c->size, c->nr_queues, c->depth,
		(unsigned long long)info.flags);
	if (!c->store[0] && !ublk_store_path(c->store, sizeof(c->store), c->dev_id)) {
		notify(d, "error page store path too long");
		return -ENAMETOOLONG;
	}
	/* The driver just made this id: any store by that name is a leftover of a deleted
	 * device, whose data nothing can reach any more. */
	unlink(c->store);
	params = device_params(c);
	ret = ublk_ctrl_set_params(&d->ctrl, c->dev_id, &params);
	if (ret < 0) {
		notify(d, "error SET_PARAMS failed: %s", strerror(-ret));
		return ret;
	}
	ret = ublk_conf_save(c);
	if (ret < 0)
		notify(d, "error cannot save the device record: %s", strerror(-ret));
	return ret;
}

static int find_device(struct daemon *d)
{
	struct ublksrv_ctrl_dev_info info;
	int ret = ublk_ctrl_get_dev_info(&d->ctrl, d->conf->dev_id, &info);

	if (ret < 0) {
		notify(d, "error device %u: %s", d->conf->dev_id, strerror(-ret));
		return ret;
	}
	open_log(d->conf->dev_id);
	log_msg("recovering /dev/ublkb%u (old daemon %d)", d->conf->dev_id, info.ublksrv_pid);
	return 0;
}

/* START_USER_RECOVERY. On 6.12 the driver accepts it again only once a daemon's queues have
 * fetched, so whatever may fail for want of the device's files (the target's open) comes
 * before it: a recovery that fails there leaves the device recoverable. */
static int start_recovery(struct daemon *d)
{
	int ret = 0;

	/* The old daemon's /dev/ublkcN is released asynchronously, after its io_uring is torn
	 * down; until then the driver answers -EBUSY. */
	for (int i = 0; i < 200; i++) {
		ret = ublk_ctrl_start_recovery(&d->ctrl, d->conf->dev_id);
		if (ret != -EBUSY)
			break;
		usleep(100 * 1000);
	}
	if (ret < 0)
		notify(d, "error START_USER_RECOVERY failed: %s%s", strerror(-ret),
		       ret == -EBUSY ? " (the old daemon's device file is still open after 20 s)"
				     : "");
	d->recovery_started = ret == 0;
	return ret;
}

/* Starts every queue and waits until each has its fetches in the driver, so START_DEV (which
 * waits for all of them) cannot wait for a queue that died. Returns 0 or -errno after telling
 * ublk-ctl which queue failed and why. */
static int start_queues(struct daemon *d)
{
	const struct ublk_dev_conf *c = d->conf;
	int ret = 0;

	d->queues = calloc(c->nr_queues, sizeof(*d->queues));
	if (!d->queues || sem_init(&d->queue_started, 0, 0) < 0) {
		notify(d, "error cannot start the queues: %s", strerror(errno));
		return -errno;
	}
	for (uint16_t i = 0; i < c->nr_queues && !ret; i++) {
		struct ublk_queue *q = &d->queues[i];

		*q = (struct ublk_queue){
			.id = i,
			.depth = c->depth,
			.max_io_bytes = c->max_io_bytes,
			.nr_pages = c->size >> UBLK_PAGE_SHIFT,
			.cdev_fd = d->cdev_fd,
			.user_copy = c->user_copy,
			.ioctl_encode = d->ctrl.ioctl_encode,
			.target = &d->target,
			.stats = &d->stats->q[i],
			.swap_area = &d->stats->swap_area,
			.started = &d->queue_started,
		};
		ret = ublk_queue_init(q);
		if (ret == 0) {
			ret = ublk_queue_start(q);
			if (ret < 0)
				ublk_queue_free(q);
		}
		if (ret < 0)
			notify(d, "error cannot start queue %u: %s", i, strerror(-ret));
		else
			d->queues_started++;
	}
	for (unsigned i = 0; i < d->queues_started; i++)
		while (sem_wait(&d->queue_started) < 0 && errno == EINTR)
			;
	for (unsigned i = 0; i < d->queues_started && !ret; i++) {
		struct ublk_queue *q = &d->queues[i];

		if (__atomic_load_n(&q->stopped, __ATOMIC_ACQUIRE)) {
			ret = q->error ? q->error : -EIO;
			notify(d, "error queue %u did not start: %s", i, q->why);
		}
	}
	return ret;
}

static int stop_queues(struct daemon *d)
{
	int err = 0;

	for (unsigned i = 0; i < d->queues_started; i++) {
		int ret = ublk_queue_join(&d->queues[i]);

		if (ret && !err)
			err = ret;
		ublk_queue_free(&d->queues[i]);
	}
	if (d->queues)
		sem_destroy(&d->queue_started);
	d->queues_started = 0;
	free(d->queues);
	d->queues = NULL;
	return err;
}

/* Serves until a signal asks to stop, or the driver stops the queues. */
static bool serve(struct daemon *d, const sigset_t *stop_signals)
{
	const struct timespec tick = { .tv_nsec = 200 * 1000 * 1000 };

	for (unsigned ticks = 0;; ticks++) {
		int sig = sigtimedwait(stop_signals, NULL, &tick);

		/* Before the log is written out: that write may itself wait on a stalled device. */
		ublk_watchdog_check(&d->watchdog, d->stats, monotonic_ns());
		log_flush();
		if (sig > 0) {
			log_msg("signal %d: stopping and deleting the device", sig);
			return true;
		}
		__atomic_store_n(&d->stats->target_bytes, d->target.ops->resident_bytes(&d->target),
				 __ATOMIC_RELAXED);
		if (ticks % 5 == 0)
			__atomic_store_n(&d->stats->swap_area,
					 ublk_swap_area_active(d->conf->dev_id), __ATOMIC_RELAXED);
		/* The driver stopped the device (ublk-ctl del), or a queue failed. */
		for (unsigned i = 0; i < d->queues_started; i++)
			if (__atomic_load_n(&d->queues[i].stopped, __ATOMIC_ACQUIRE))
				return false;
	}
}

void ublk_daemon_run(struct ublk_dev_conf *conf, bool recover, int notify_fd)
{
	struct daemon d = {
		.conf = conf,
		.recover = recover,
		.notify_fd = notify_fd,
		.cdev_fd = -1,
		.ctrl = { .fd = -1 },
	};
	sigset_t stop_signals;
	bool delete = false;
	int ret;

	/* Signals are taken synchronously by the main thread; queue threads inherit the mask. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
		ret = -errno;
		notify(&d, "error mlockall: %s (needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)",
		       strerror(errno));
		goto out;
	}
	ret = ublk_ctrl_open(&d.ctrl);
	if (ret < 0) {
		notify(&d, "error cannot open %s: %s", UBLK_CONTROL_PATH, strerror(-ret));
		goto out;
	}
	ret = recover ? find_device(&d) : add_device(&d);
	if (ret < 0)
		goto out;
	io_process_protect("daemon");
	d.target.ops = conf->ops;
	d.target.conf = conf;
	d.target.nr_pages = conf->size >> UBLK_PAGE_SHIFT;
	d.target.store_path = conf->store;
	ret = map_stats(&d);
	if (ret < 0) {
		notify(&d, "error cannot create the statistics file: %s", strerror(-ret));
		goto out;
	}
	d.target.stats = d.stats;
	__atomic_store_n(&d.stats->live, 0, __ATOMIC_RELEASE); /* a dead daemon's, kept */
	ret = d.target.ops->open(&d.target, recover);
	if (ret < 0) {
		notify(&d, "error %s", d.target.error);
		goto out;
	}
	d.target_open = true;
	if (recover && (ret = start_recovery(&d)) < 0)
		goto out;
	ret = open_cdev(&d);
	if (ret < 0) {
		notify(&d, "error cannot open /dev/ublkc%u: %s", conf->dev_id, strerror(-ret));
		goto out;
	}
	ret = start_queues(&d);
	if (ret < 0)
		goto out;
	/* START_DEV / END_USER_RECOVERY return once every queue has fetched all its tags. */
	ret = recover ? ublk_ctrl_end_recovery(&d.ctrl, conf->dev_id, getpid())
		      : ublk_ctrl_start_dev(&d.ctrl, conf->dev_id, getpid());
	if (ret < 0) {
		notify(&d, "error %s failed: %s", recover ? "END_USER_RECOVERY" : "START_DEV",
		       strerror(-ret));
		goto out;
	}
	if (recover)
		d.stats->recoveries++;
	__atomic_store_n(&d.stats->live, 1, __ATOMIC_RELEASE);
	ublk_watchdog_init(&d.watchdog, conf->dev_id);
	log_msg("serving /dev/ublkb%u (%s copy)", conf->dev_id,
		conf->user_copy ? "user" : "per-tag buffer");
	notify(&d, "ok %u", conf->dev_id);
	delete = serve(&d, &stop_signals);
	ublk_watchdog_close(&d.watchdog);
	ret = 0;
out:
	if (recover && ret < 0) {
		/* Leave the device waiting for another recovery: exiting releases the queues. */
		if (d.recovery_started)
			log_msg("recovery failed after START_USER_RECOVERY; the driver may refuse "
				"another until a daemon's queues are ready ('ublk-ctl del' it "
				"then)");
		else
			log_msg("recovery failed; the device still waits for a daemon");
		log_flush();
		exit(EXIT_FAILURE);
	}
	if (d.queues_started > 0 || delete) {
		/* Ends the queues (the driver aborts their commands) unless it already has. */
		ublk_ctrl_stop_dev(&d.ctrl, conf->dev_id);
		int qerr = stop_queues(&d);

		if (qerr)
			log_msg("a queue stopped with an error: %s", strerror(-qerr));
	}
	if (d.target_open)
		d.target.ops->close(&d.target, !(delete || (ret < 0 && d.added)));
	if (d.cdev_fd >= 0)
		close(d.cdev_fd);
	if (delete || (ret < 0 && d.added)) {
		/* DEL_DEV waits until /dev/ublkcN is closed: it is, just above. */
		ublk_ctrl_del_dev(&d.ctrl, conf->dev_id, true);
		ublk_state_remove(conf);
		if (!delete)
			log_msg("start-up failed; device %u deleted", conf->dev_id);
	} else {
		log_msg("queues stopped; exiting");
	}
	if (d.ctrl.fd >= 0)
		ublk_ctrl_close(&d.ctrl);
	log_flush();
	exit(ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}
