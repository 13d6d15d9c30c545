/* The page-map reader thread (pagemap_reader.h). */
#include "pagemap_reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "io_thread.h"

#define CHUNK        512 /* pagemap entries per read */
#define GAP_READ     16  /* read through gaps this small rather than seek */
#define SCAN_REGIONS 256 /* regions an ioctl returns at most */
/* pages an ioctl walks at most: each takes the process's mmap_lock for the walk, and a writer
 * (an mmap or munmap of the client's) waiting behind a long walk stalls its faults too */
#define SCAN_CHUNK 8192

enum job_kind { JOB_READ, JOB_SCAN };

struct pagemap_job {
	enum job_kind kind;
	int fd;
	uint64_t *pages; /* READ: the pages; SCAN: the spans' bounds, two each */
	size_t n;        /* READ: pages; SCAN: spans */
	uint64_t *entries;
	uint64_t *runs; /* SCAN: nruns [start, end) page pairs (room for runs_cap words) */
	size_t nruns, runs_cap;
	uint64_t done_pages; /* READ: entries read; SCAN: pages walked */
	int error;           /* 0, -EIO or -EOPNOTSUPP */
	bool done;
};

struct pagemap_reader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pagemap_job job;
	bool busy; /* job posted and not yet done: its arrays are the reader's */
	bool stop;
	size_t pages_cap, entries_cap;
	uint64_t bytes; /* the arrays' size after the last job the caller saw finish */
	pagemap_scan_fn scan;
};

static void read_entries(struct pagemap_job *j)
{
	uint64_t buf[CHUNK];

	for (size_t i = 0; i < j->n;) {
		/* One read from pages[i] through later pages no further than GAP_READ apart. */
		size_t k = i + 1;

		while (k < j->n && j->pages[k] - j->pages[k - 1] <= GAP_READ &&
		       j->pages[k] - j->pages[i] < CHUNK)
			k++;
		size_t span = j->pages[k - 1] - j->pages[i] + 1;
		ssize_t got = pread(j->fd, buf, span * sizeof(uint64_t),
				    (off_t)(j->pages[i] * sizeof(uint64_t)));

		if (got < 0 && errno != ESRCH)
			j->error = -EIO; /* unread entries may hold a slot found elsewhere */
		if (got <= 0)
			return; /* the process is gone: nothing here */
		size_t read = (size_t)got / sizeof(uint64_t);

		j->done_pages += read;
		for (size_t m = i; m < k && j->pages[m] - j->pages[i] < read; m++)
			j->entries[m] = buf[j->pages[m] - j->pages[i]];
		i = k;
	}
}

/* Appends run [start, end) (pages), joined to the last one when they touch. */
static bool add_run(struct pagemap_job *j, uint64_t start, uint64_t end)
{
	if (j->nruns && j->runs[2 * j->nruns - 1] == start) {
		j->runs[2 * j->nruns - 1] = end;
		return true;
	}
	if (!grow_array(&j->runs, &j->runs_cap, 2 * (j->nruns + 1), sizeof(uint64_t)))
		return false;
	j->runs[2 * j->nruns] = start;
	j->runs[2 * j->nruns + 1] = end;
	j->nruns++;
	return true;
}

static int kernel_scan(int fd, struct pm_scan_arg *a)
{
	return ioctl(fd, PAGEMAP_SCAN, a);
}

static void scan_spans(struct pagemap_job *j, pagemap_scan_fn scan)
{
	struct page_region vec[SCAN_REGIONS];

	for (size_t k = 0; k < j->n; k++) {
		uint64_t start = j->pages[2 * k] << PAGEMAP_PAGE_SHIFT;
		uint64_t end = j->pages[2 * k + 1] << PAGEMAP_PAGE_SHIFT;

		while (start < end) {
			uint64_t chunk = (uint64_t)SCAN_CHUNK << PAGEMAP_PAGE_SHIFT;
			uint64_t upto = end - start > chunk ? start + chunk : end;
			struct pm_scan_arg a = {
				.size = sizeof(a),
				.start = start,
				.end = upto,
				.vec = (uintptr_t)vec,
				.vec_len = SCAN_REGIONS,
				.category_mask = PAGE_IS_SWAPPED,
				.return_mask = PAGE_IS_SWAPPED,
			};
			int got = scan(j->fd, &a);

			if (got < 0 && errno == EFAULT) {
				/* past the address space (a client may name any page): nothing is
				 * mapped there */
				start = upto;
				continue;
			}
			if (got < 0) {
				if (errno == ESRCH)
					return; /* the process is gone: nothing here */
				j->error = errno == ENOTTY   ? -EOPNOTSUPP
					   : errno == EINVAL ? -EINVAL
							     : -EIO;
				return;
			}
			for (int i = 0; i < got; i++)
				if (!add_run(j, vec[i].start >> PAGEMAP_PAGE_SHIFT,
					     vec[i].end >> PAGEMAP_PAGE_SHIFT)) {
					j->error = -EIO;
					return;
				}
			/* The walk stops early only with the vector full; it never goes back. */
			if (a.walk_end <= start || a.walk_end > upto) {
				j->error = -EIO;
				return;
			}
			j->done_pages += (a.walk_end - start) >> PAGEMAP_PAGE_SHIFT;
			start = a.walk_end;
		}
	}
}

static void *reader_main(void *arg)
{
	struct pagemap_reader *r = arg;

	/* Part of a write's path, but the write waits for its reads only until the hold time:
	 * not realtime, so a client with a large heap cannot make it hog a CPU. */
	io_thread_init("ublk-pagemap", false);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && (!r->busy || r->job.done))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop) {
			/* A job posted but never taken (its wait timed out first): nobody runs it.
			 */
			if (r->busy && !r->job.done) {
				close(r->job.fd);
				r->job.fd = -1;
				r->job.done = true;
			}
			break;
		}
		pthread_mutex_unlock(&r->lock);
		if (r->job.kind == JOB_SCAN)
			scan_spans(&r->job, r->scan);
		else
			read_entries(&r->job);
		pthread_mutex_lock(&r->lock);
		/* The fd was dup'ed for this job: the client may have gone meanwhile. */
		close(r->job.fd);
		r->job.fd = -1;
		r->job.done = true;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void free_reader(struct pagemap_reader *r)
{
	free(r->job.pages);
	free(r->job.entries);
	free(r->job.runs);
	free(r);
}

int pagemap_reader_start(struct pagemap_reader **out)
{
	struct pagemap_reader *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->job.fd = -1;
	r->scan = kernel_scan;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &attr);
	pthread_condattr_destroy(&attr);
	ret = -pthread_create(&r->thread, NULL, reader_main, r);
	if (ret < 0) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void pagemap_reader_stop(struct pagemap_reader *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	bool stuck = r->busy && !r->job.done;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (stuck) {
		/* It ends once the read returns; r, which it still uses, is leaked. */
		pthread_detach(r->thread);
		return;
	}
	pthread_join(r->thread, NULL);
	free_reader(r);
}

void pagemap_reader_set_scan(struct pagemap_reader *r, pagemap_scan_fn scan)
{
	r->scan = scan;
}

uint64_t pagemap_reader_bytes(struct pagemap_reader *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t bytes = r->bytes;
	pthread_mutex_unlock(&r->lock);
	return bytes;
}

/* Posts a job of kind over fd with count words of input copied from in, and waits until
 * deadline_ns at most. The finished job (valid until the next call), or NULL if the reader is
 * still busy with an earlier job, or this one did not finish in time (it goes on; the next
 * call finds the reader busy). */
static struct pagemap_job *run_job(struct pagemap_reader *r, enum job_kind kind, int fd,
				   const uint64_t *in, size_t count, size_t n, uint64_t deadline_ns)
{
	struct timespec until = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
				  .tv_nsec = (long)(deadline_ns % 1000000000u) };
	struct pagemap_job *j = &r->job;
	bool ok;

	pthread_mutex_lock(&r->lock);
	if (r->busy && !j->done) { /* an abandoned job is still stuck */
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	r->busy = false;
	/* The arrays are ours now: no job uses them. */
	ok = grow_array(&j->pages, &r->pages_cap, count, sizeof(*j->pages)) &&
	     (kind != JOB_READ || grow_array(&j->entries, &r->entries_cap, n, sizeof(*j->entries)));
	j->fd = ok ? dup(fd) : -1;
	if (j->fd < 0) {
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	memcpy(j->pages, in, count * sizeof(*in));
	if (kind == JOB_READ)
		memset(j->entries, 0, n * sizeof(*j->entries));
	j->kind = kind;
	j->n = n;
	j->nruns = 0;
	j->done_pages = 0;
	j->error = 0;
	j->done = false;
	r->busy = true;
	pthread_cond_broadcast(&r->cond);
	while (!j->done && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	ok = j->done;
	if (ok) {
		r->busy = false;
		r->bytes = (r->pages_cap + r->entries_cap + j->runs_cap) * sizeof(uint64_t);
	}
	pthread_mutex_unlock(&r->lock);
	return ok ? j : NULL;
}

const uint64_t *pagemap_read(struct pagemap_reader *r, int fd, const uint64_t *pages, size_t n,
			     uint64_t deadline_ns, uint64_t *read)
{
	struct pagemap_job *j = run_job(r, JOB_READ, fd, pages, n, n, deadline_ns);

	if (!j || j->error)
		return NULL;
	*read += j->done_pages;
	return j->entries;
}

int pagemap_scan_swapped(struct pagemap_reader *r, int fd, const uint64_t *spans, size_t nspans,
			 uint64_t deadline_ns, const uint64_t **runs, size_t *nruns,
			 uint64_t *walked)
{
	struct pagemap_job *j = run_job(r, JOB_SCAN, fd, spans, 2 * nspans, nspans, deadline_ns);

	if (!j)
		return -ETIMEDOUT;
	if (j->error)
		return j->error;
	*walked += j->done_pages;
	*runs = j->runs;
	*nruns = j->nruns;
	return 0;
}
