/* arena_keeper.c — see arena_keeper.h. */
#include "arena_keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maps_check.h"
#include "state.h"

#define RANGES_MAGIC   0x41525331u /* "ARS1" */
#define REAP_PERIOD_MS 1000

struct ranges_file {
	uint32_t magic;
	uint32_t reserved;
	struct arena_table table;
};

struct arena_keeper {
	uint32_t dev_id;
	struct ranges_file *file;
	pthread_mutex_t lock;
	pthread_t thread;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stop;
	char dev_path[32];    /* /dev/ublkb<ID> */
	time_t last_warning;  /* a range that cannot be freed is said once a minute at most */
	const uint32_t *live; /* the device serves (the daemon's flag) */
	bool disabled;        /* the table found was not this device's: no mmap mode */
	char buf[64 * 1024];
};

static bool ranges_path(char *path, size_t len, uint32_t dev_id)
{
	return ublk_state_path(path, len, dev_id, "ranges");
}

/* Opened for each discard, never held: a daemon holding its own block device open would make
 * the driver's TRY_STOP_DEV (ublk-ctl del) refuse it for good. */
static int discard(struct arena_keeper *k, const struct arena_range *r)
{
	uint64_t range[2] = { r->offset, r->bytes };
	int fd = open(k->dev_path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, BLKDISCARD, range) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static void warn(struct arena_keeper *k, const char *what, int err)
{
	if (time(NULL) - k->last_warning < 60)
		return;
	k->last_warning = time(NULL);
	log_msg("mmap mode: released ranges cannot be freed yet (%s: %s)", what, strerror(-err));
}

/* Frees the released ranges nothing maps any more: each is marked discarding (no client can
 * take it back meanwhile), every process's maps are searched once for all of them, and the
 * unmapped ones are discarded and leave the table; the others are released again. Only while
 * the device serves: a discard waits for it. */
static void reap(struct arena_keeper *k)
{
	static struct arena_range r[ARENA_MAX_RANGES];
	static struct maps_claim want[ARENA_MAX_RANGES];
	static bool mapped[ARENA_MAX_RANGES];
	struct stat st;
	unsigned n = 0;
	int ret;

	if (!k->live || !__atomic_load_n(k->live, __ATOMIC_ACQUIRE))
		return;
	if (stat(k->dev_path, &st) < 0)
		return;
	pthread_mutex_lock(&k->lock);
	for (unsigned i = 0; i < k->file->table.n; i++)
		if (arena_discard_begin(&k->file->table, k->file->table.range[i].offset)) {
			r[n] = k->file->table.range[i];
			want[n] = (struct maps_claim){ .offset = r[n].offset,
						       .bytes = r[n].bytes,
						       .dev = st.st_dev,
						       .ino = st.st_ino };
			n++;
		}
	pthread_mutex_unlock(&k->lock);
	if (n == 0)
		return;
	ret = maps_find_mappers(want, n, mapped, k->buf, sizeof(k->buf));
	if (ret != 0) {
		warn(k, "cannot read every process's maps", ret < 0 ? ret : -EACCES);
		for (unsigned i = 0; i < n; i++)
			mapped[i] = true;
	}
	for (unsigned i = 0; i < n; i++) {
		bool discarded = false;

		if (!mapped[i]) {
			ret = discard(k, &r[i]);
			discarded = ret == 0;
			if (ret < 0)
				warn(k, "BLKDISCARD", ret);
		}
		pthread_mutex_lock(&k->lock);
		arena_discard_end(&k->file->table, r[i].offset, discarded);
		pthread_mutex_unlock(&k->lock);
		if (discarded)
			log_msg("mmap mode: range of %llu MiB at %llu MiB discarded and free",
				(unsigned long long)(r[i].bytes >> 20),
				(unsigned long long)(r[i].offset >> 20));
	}
}

static void *run(void *arg)
{
	struct arena_keeper *k = arg;

	if (k->disabled)
		return NULL;
	pthread_mutex_lock(&k->stop_lock);
	while (!k->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += REAP_PERIOD_MS / 1000;
		pthread_cond_timedwait(&k->stop_cond, &k->stop_lock, &until);
		if (k->stop)
			break;
		pthread_mutex_unlock(&k->stop_lock);
		reap(k);
		pthread_mutex_lock(&k->stop_lock);
	}
	pthread_mutex_unlock(&k->stop_lock);
	return NULL;
}

static int map_table(struct arena_keeper *k, uint64_t device_bytes, bool recovering)
{
	char path[256];
	struct stat st;
	int fd;

	if (!ranges_path(path, sizeof(path), k->dev_id))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	bool keep = recovering && fstat(fd, &st) == 0 && st.st_size == sizeof(*k->file);

	if (recovering && !keep && fstat(fd, &st) == 0 && st.st_size != 0) {
		/* Another build's table: not reset (its ranges may be mapped), not used either. */
		close(fd);
		k->disabled = true;
		log_msg("mmap mode: %s is not this build's table of ranges: mmap mode is off",
			path);
		return 0;
	}

	if (!keep && (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(*k->file)) < 0)) {
		close(fd);
		return -errno;
	}
	k->file = mmap(NULL, sizeof(*k->file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (k->file == MAP_FAILED) {
		k->file = NULL;
		return -errno;
	}
	struct arena_table *t = &k->file->table;

	if (keep && k->file->magic == RANGES_MAGIC) {
		/* Ranges some process may still map: a table that does not check out is not
		 * reset (grants would overlap them) but leaves this daemon without mmap mode. */
		k->disabled = !arena_table_check(t, device_bytes);
		if (k->disabled)
			log_msg("mmap mode: %s is not this device's table of ranges: mmap mode is "
				"off "
				"until the device is added anew",
				path);
		/* No client is registered yet: each range waits for its own to take it back. */
		for (unsigned i = 0; !k->disabled && i < t->n; i++)
			t->range[i].state = ARENA_RELEASED;
		return 0;
	}
	arena_table_init(t, device_bytes);
	k->file->magic = RANGES_MAGIC;
	return 0;
}

int arena_keeper_start(uint32_t dev_id, uint64_t device_bytes, bool recovering,
		       const uint32_t *live, struct arena_keeper **out, char *err, size_t errlen)
{
	struct arena_keeper *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return -ENOMEM;
	k->dev_id = dev_id;
	snprintf(k->dev_path, sizeof(k->dev_path), "/dev/ublkb%u", dev_id);
	k->live = live;
	ret = map_table(k, device_bytes, recovering);
	if (ret < 0) {
		snprintf(err, errlen, "cannot keep the table of mmap-mode ranges: %s",
			 strerror(-ret));
		free(k);
		return ret;
	}
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->stop_lock, NULL);
	pthread_cond_init(&k->stop_cond, NULL);
	ret = -pthread_create(&k->thread, NULL, run, k);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the range keeper: %s", strerror(-ret));
		munmap(k->file, sizeof(*k->file));
		free(k);
		return ret;
	}
	*out = k;
	return 0;
}

void arena_keeper_stop(struct arena_keeper *k, bool keep)
{
	char path[256];

	pthread_mutex_lock(&k->stop_lock);
	k->stop = true;
	pthread_cond_signal(&k->stop_cond);
	pthread_mutex_unlock(&k->stop_lock);
	pthread_join(k->thread, NULL);
	munmap(k->file, sizeof(*k->file));
	if (!keep && ranges_path(path, sizeof(path), k->dev_id))
		unlink(path);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

struct arena_table *arena_keeper_table(struct arena_keeper *k)
{
	return k->disabled ? NULL : &k->file->table;
}

void arena_keeper_remove(uint32_t dev_id)
{
	char path[256];

	if (ranges_path(path, sizeof(path), dev_id))
		unlink(path);
}

pthread_mutex_t *arena_keeper_lock(struct arena_keeper *k)
{
	return &k->lock;
}
