/* mem.c — the `mem` target: device pages held by the server in shared memory.
 *
 * The pages live in a tmpfs file (t->store_path, under /dev/shm) mapped into the daemon, so a
 * daemon that dies leaves them behind for `ublk-ctl recover`. Memory is allocated lazily: a
 * page takes memory when it is first written. A bitmap of written pages lets reads of
 * never-written (or discarded) pages return zeros without touching, and so allocating, the
 * mapping. Discard punches the pages out of the file, returning their memory.
 *
 * Swap safety: the daemon runs under mlockall(MCL_FUTURE | MCL_ONFAULT), so every page of the
 * mapping is locked once faulted in: the kernel never tries to swap the device's own contents
 * out to the device. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "targets.h"

struct mem_target {
	int fd;
	uint8_t *map;
	uint64_t *written; /* one bit per page; set bits are backed by the file */
	uint64_t bitmap_words;
};

static const uint8_t zeros[128 * 1024];

static bool page_written(const struct mem_target *m, uint64_t page)
{
	return __atomic_load_n(&m->written[page / 64], __ATOMIC_RELAXED) & (1ull << (page % 64));
}

/* Different queues may update bits of one word at once: atomic read-modify-write. */
static void set_written(struct mem_target *m, uint64_t page, bool on)
{
	uint64_t bit = 1ull << (page % 64);

	if (on)
		__atomic_fetch_or(&m->written[page / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&m->written[page / 64], ~bit, __ATOMIC_RELAXED);
}

/* After a crash the file is the truth: every page with data in it was written. */
static int rebuild_bitmap(struct mem_target *m, uint64_t nr_pages)
{
	off_t end = (off_t)(nr_pages << UBLK_PAGE_SHIFT), pos = 0;

	while (pos < end) {
		off_t data = lseek(m->fd, pos, SEEK_DATA);

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t hole = lseek(m->fd, data, SEEK_HOLE);

		if (hole < 0)
			return -errno;
		for (uint64_t p = (uint64_t)data >> UBLK_PAGE_SHIFT;
		     p < ((uint64_t)hole + UBLK_PAGE_SIZE - 1) >> UBLK_PAGE_SHIFT && p < nr_pages;
		     p++)
			set_written(m, p, true);
		pos = hole;
	}
	return 0;
}

static void mem_close(struct ublk_target *t, bool keep)
{
	struct mem_target *m = t->priv;

	if (!m)
		return;
	if (m->map)
		munmap(m->map, t->nr_pages << UBLK_PAGE_SHIFT);
	if (m->fd >= 0)
		close(m->fd);
	if (!keep)
		unlink(t->store_path);
	free(m->written);
	free(m);
	t->priv = NULL;
}

/* A device larger than the whole filesystem of its store could never be filled: refuse it
 * (writes past the limit would fail with I/O errors). Larger than what is free now is allowed:
 * memory is taken lazily. */
static int check_capacity(struct ublk_target *t, uint64_t bytes)
{
	char dir[PATH_MAX];
	struct statvfs fs;

	snprintf(dir, sizeof(dir), "%s", t->store_path);
	const char *folder = dirname(dir);

	if (statvfs(folder, &fs) < 0)
		return 0; /* the open below reports a missing folder */
	uint64_t total = (uint64_t)fs.f_blocks * fs.f_frsize;

	if (bytes <= total)
		return 0;
	snprintf(t->error, sizeof(t->error),
		 "mem: %s holds at most %llu MiB, the device needs %llu MiB (make it larger, e.g. "
		 "mount -o remount,size=... %s)",
		 folder, (unsigned long long)(total >> 20), (unsigned long long)(bytes >> 20),
		 folder);
	return -ENOSPC;
}

static int mem_open(struct ublk_target *t, bool recovering)
{
	uint64_t bytes = t->nr_pages << UBLK_PAGE_SHIFT;
	struct mem_target *m = calloc(1, sizeof(*m));
	void *map;
	int ret;

	if (!m)
		return -ENOMEM;
	m->fd = -1;
	t->priv = m;
	if (!recovering && (ret = check_capacity(t, bytes)) < 0)
		goto fail;
	m->bitmap_words = (t->nr_pages + 63) / 64;
	m->written = calloc(m->bitmap_words, sizeof(uint64_t));
	if (!m->written) {
		ret = -ENOMEM;
		snprintf(t->error, sizeof(t->error), "mem: no memory for the bitmap of %llu pages",
			 (unsigned long long)t->nr_pages);
		goto fail;
	}
	ret = ublk_backing_open(t, "mem", t->store_path, bytes, recovering, &m->fd, &map);
	if (ret < 0)
		goto fail;
	m->map = map;
	if (recovering && (ret = rebuild_bitmap(m, t->nr_pages)) < 0) {
		snprintf(t->error, sizeof(t->error), "mem: cannot scan %s: %s", t->store_path,
			 strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	/* A store this call did not create is kept, whatever went wrong. */
	mem_close(t, true);
	return ret;
}

static int mem_read_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct mem_target *m = t->priv;
	uint32_t i = 0;

	/* One copy per run of written pages, one per run of zero pages. */
	while (i < req->nr_pages) {
		bool written = page_written(m, req->page + i);
		uint32_t n = 1;
		int ret;

		while (i + n < req->nr_pages && page_written(m, req->page + i + n) == written &&
		       (written || (n + 1) * UBLK_PAGE_SIZE <= sizeof(zeros)))
			n++;
		size_t off = (size_t)i << UBLK_PAGE_SHIFT, len = (size_t)n << UBLK_PAGE_SHIFT;

		if (written)
			ret = ublk_req_copy_out(req, m->map + ((req->page + i) << UBLK_PAGE_SHIFT),
						len, off);
		else
			ret = ublk_req_copy_out(req, zeros, len, off);
		if (ret < 0)
			return ret;
		i += n;
	}
	return 0;
}

static int mem_write_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct mem_target *m = t->priv;
	int ret = ublk_req_copy_in(req, m->map + (req->page << UBLK_PAGE_SHIFT),
				   (size_t)req->nr_pages << UBLK_PAGE_SHIFT, 0);

	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < req->nr_pages; i++)
		set_written(m, req->page + i, true);
	return 0;
}

static int mem_discard_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct mem_target *m = t->priv;

	/* Clear the bits first: a read racing the punch then returns zeros, never stale data. */
	for (uint32_t i = 0; i < req->nr_pages; i++)
		set_written(m, req->page + i, false);
	if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(req->page << UBLK_PAGE_SHIFT),
		      (off_t)req->nr_pages << UBLK_PAGE_SHIFT) < 0)
		return -errno;
	return 0;
}

static int mem_flush(struct ublk_target *t, struct ublk_req *req)
{
	(void)t;
	(void)req;
	return 0; /* memory is the medium: nothing is cached on the way to it */
}

static uint64_t mem_resident_bytes(struct ublk_target *t)
{
	struct mem_target *m = t->priv;
	uint64_t pages = 0;

	for (uint64_t w = 0; w < m->bitmap_words; w++)
		pages += (uint64_t)__builtin_popcountll(
			__atomic_load_n(&m->written[w], __ATOMIC_RELAXED));
	return pages << UBLK_PAGE_SHIFT;
}

const struct ublk_target_ops ublk_target_mem = {
	.name = "mem",
	.summary = "pages held by the daemon in shared memory (/dev/shm), allocated as they are\n"
		   "written and freed by discard; they outlive the daemon for 'recover'",
	.open = mem_open,
	.read_pages = mem_read_pages,
	.write_pages = mem_write_pages,
	.discard_pages = mem_discard_pages,
	.flush = mem_flush,
	.resident_bytes = mem_resident_bytes,
	.close = mem_close,
};
