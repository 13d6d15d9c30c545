/* The swap-slot resolver (slot_resolver.h). */
#include "slot_resolver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io_thread.h"

#define CHUNK    512 /* pagemap entries per read */
#define GAP_READ 16  /* read through gaps this small rather than seek */

struct wanted {
	uint64_t slot;
	size_t index; /* into the caller's arrays */
};

static int cmp_wanted(const void *a, const void *b)
{
	const struct wanted *x = a, *y = b;

	return (x->slot > y->slot) - (x->slot < y->slot);
}

/* The first wanted entry for slot, or NULL. */
static const struct wanted *find_slot(const struct wanted *w, size_t n, uint64_t slot)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w[mid].slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && w[lo].slot == slot ? &w[lo] : NULL;
}

struct scan {
	const struct wanted *want;
	size_t nwant;
	uint64_t *masks;
	int *owner;
	uint64_t *found_page; /* per caller index: the page that claimed it */
	struct slot_resolve_stats *st;
};

static void claim(struct scan *sc, int client, const struct page_view *view, uint64_t vpage,
		  uint64_t entry, unsigned type)
{
	if (!(entry & PAGEMAP_SWAPPED) || (entry & PAGEMAP_PRESENT) ||
	    PAGEMAP_SWAP_TYPE(entry) != type)
		return;
	for (const struct wanted *w = find_slot(sc->want, sc->nwant, PAGEMAP_SWAP_OFFSET(entry));
	     w && w < sc->want + sc->nwant && w->slot == PAGEMAP_SWAP_OFFSET(entry); w++) {
		size_t i = w->index;

		if (sc->owner[i] == -1) {
			sc->owner[i] = client;
			sc->found_page[i] = vpage;
			sc->masks[i] = page_view_get(view, vpage);
		} else if (sc->owner[i] >= 0 &&
			   (sc->owner[i] != client || sc->found_page[i] != vpage)) {
			sc->owner[i] = -2; /* two pages hold it: shared */
			sc->masks[i] = LINES_WHOLE;
		}
	}
}

/* The reader thread: pagemap reads take the client's mmap_lock, which a client thread can hold
 * while it waits, in reclaim, for the very writes the server is resolving. So the reads run
 * here, and the hint thread waits for them only until its deadline: a read stuck behind such a
 * lock never holds a write back (its batch moves whole) and finishes once the writes have.
 *
 * Memory: the job and every array a round uses belong to the reader and are reused; they grow
 * (doubling, faulted in at once) only when a round needs more than any before, which happens as
 * the clients' heaps grow, and never while a read may still use them. */
struct pagemap_job {
	int fd;
	uint64_t *pages;
	size_t n;
	uint64_t *entries; /* 0 where nothing was read */
	uint64_t scanned;
	bool failed; /* a read failed (ENOMEM, say): the scan is incomplete */
	bool done;
};

struct pagemap_reader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pagemap_job job;
	bool busy; /* job posted and not yet done: its arrays are the reader's */
	bool stop;
	/* the job's arrays (capacity job_cap), and the hint thread's own for a round */
	size_t job_cap;
	uint64_t *scan_pages; /* a client's reduced pages (capacity scan_cap) */
	size_t scan_cap;
	struct wanted *want;
	uint64_t *found;
	size_t want_cap;
};

/* Makes *buf hold at least n elements of size elem (capacity *cap), keeping its contents;
 * new memory is touched now (locked by the daemon's mlockall). False when out of memory. */
static bool reserve(void **buf, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap)
		return true;
	size_t want = n > 2 * *cap ? n : 2 * *cap;
	void *p = realloc(*buf, want * elem);

	if (!p)
		return false;
	memset((char *)p + *cap * elem, 0, (want - *cap) * elem);
	*buf = p;
	*cap = want;
	return true;
}

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
			j->failed = true; /* unread entries may hold a slot found elsewhere */
		if (got <= 0)
			return; /* the process is gone: nothing here */
		size_t read = (size_t)got / sizeof(uint64_t);

		j->scanned += read;
		for (size_t m = i; m < k && j->pages[m] - j->pages[i] < read; m++)
			j->entries[m] = buf[j->pages[m] - j->pages[i]];
		i = k;
	}
}

/* Two arrays of one capacity (*cap), grown together to hold n elements each. */
static bool reserve_two(void **a, size_t elem_a, void **b, size_t elem_b, size_t *cap, size_t n)
{
	size_t cap_a = *cap, cap_b = *cap;

	if (!reserve(a, &cap_a, n, elem_a) || !reserve(b, &cap_b, n, elem_b))
		return false;
	*cap = cap_a;
	return true;
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
			/* A job posted but never taken (its read timed out first): nobody reads it.
			 */
			if (r->busy && !r->job.done) {
				close(r->job.fd);
				r->job.fd = -1;
				r->job.done = true;
			}
			break;
		}
		pthread_mutex_unlock(&r->lock);
		read_entries(&r->job);
		pthread_mutex_lock(&r->lock);
		/* The fd was dup'ed for this read: the client may have gone meanwhile. */
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
	free(r->scan_pages);
	free(r->want);
	free(r->found);
	free(r);
}

int pagemap_reader_start(struct pagemap_reader **out)
{
	struct pagemap_reader *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->job.fd = -1;
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

/* Reads the entries of pages[0..n) (ascending) through fd, waiting until deadline_ns at most.
 * The finished job (valid until the next call), or NULL if the reader is still busy with an
 * earlier read, or this one did not finish in time (it goes on; the next call sees it busy). */
static struct pagemap_job *read_by(struct pagemap_reader *r, int fd, const uint64_t *pages,
				   size_t n, uint64_t deadline_ns)
{
	struct timespec until = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
				  .tv_nsec = (long)(deadline_ns % 1000000000u) };
	struct pagemap_job *j = &r->job;
	bool ok;

	pthread_mutex_lock(&r->lock);
	if (r->busy && !j->done) { /* an abandoned read is still stuck */
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	r->busy = false;
	/* The arrays are ours now: no read uses them. */
	ok = reserve_two((void **)&j->pages, sizeof(*j->pages), (void **)&j->entries,
			 sizeof(*j->entries), &r->job_cap, n);
	j->fd = ok ? dup(fd) : -1;
	if (j->fd < 0) {
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	memcpy(j->pages, pages, n * sizeof(*pages));
	memset(j->entries, 0, n * sizeof(*j->entries));
	j->n = n;
	j->scanned = 0;
	j->failed = false;
	j->done = false;
	r->busy = true;
	pthread_cond_broadcast(&r->cond);
	while (!j->done && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	ok = j->done;
	if (ok)
		r->busy = false;
	pthread_mutex_unlock(&r->lock);
	return ok ? j : NULL;
}

/* Reads the pagemap entries of pages[0..n) (ascending) of client c and claims what they hold.
 * False at the deadline, or when a read failed: the round must then go whole. */
static bool scan_client(struct scan *sc, struct pagemap_reader *r, int client,
			struct hint_client_conn *c, const uint64_t *pages, size_t n, unsigned type,
			uint64_t deadline_ns)
{
	struct pagemap_job *j = read_by(r, c->pagemap_fd, pages, n, deadline_ns);

	if (!j || j->failed)
		return false;
	sc->st->scanned += j->scanned;
	for (size_t k = 0; k < n; k++)
		claim(sc, client, &c->view, pages[k], j->entries[k], type);
	return true;
}

void slot_resolve(struct hint_server *s, struct pagemap_reader *r, int swap_type,
		  const uint64_t *slots, size_t n, uint64_t *masks, int *owner,
		  uint64_t deadline_ns, struct slot_resolve_stats *st)
{
	bool late = false;

	st->slots += n;
	for (size_t i = 0; i < n; i++) {
		masks[i] = LINES_WHOLE;
		owner[i] = -1;
	}
	if (swap_type < 0 || n == 0 ||
	    !reserve_two((void **)&r->want, sizeof(*r->want), (void **)&r->found, sizeof(*r->found),
			 &r->want_cap, n))
		return;
	for (size_t i = 0; i < n; i++)
		r->want[i] = (struct wanted){ .slot = slots[i], .index = i };
	qsort(r->want, n, sizeof(*r->want), cmp_wanted);

	struct scan sc = { r->want, n, masks, owner, r->found, st };
	for (unsigned ci = 0; ci < s->nclients && !late; ci++) {
		struct hint_client_conn *c = s->client[ci];

		if (!hint_client_resolvable(s, c) || c->view.count == 0)
			continue;
		if (monotonic_ns() >= deadline_ns) {
			late = true; /* listing a view costs what it holds: not past the hold */
			break;
		}
		if (!reserve((void **)&r->scan_pages, &r->scan_cap, c->view.count,
			     sizeof(*r->scan_pages))) {
			late = true; /* unread clients may hold a slot found elsewhere: all whole */
			break;
		}
		size_t np = page_view_pages(&c->view, r->scan_pages);
		late = !scan_client(&sc, r, (int)ci, c, r->scan_pages, np, (unsigned)swap_type,
				    deadline_ns);
	}
	/* A scan cut short may have missed a second holder of a slot it found: all whole. */
	for (size_t i = 0; i < n; i++) {
		if (late) {
			masks[i] = LINES_WHOLE;
			owner[i] = -1;
			st->late++;
		} else if (owner[i] == -2) {
			owner[i] = -1;
			st->shared++;
		} else if (owner[i] >= 0) {
			st->resolved++;
		}
	}
}

int swap_area_type(dev_t rdev)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[512];
	int type = -1, index = 0;

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) { /* the header */
		fclose(f);
		return -1;
	}
	while (type < 0 && fgets(line, sizeof(line), f)) {
		struct stat sb;
		char path[400];

		/* Paths are printed with spaces, tabs, newlines and backslashes escaped. */
		if (sscanf(line, "%399s", path) == 1 && stat(path, &sb) == 0 &&
		    S_ISBLK(sb.st_mode) && sb.st_rdev == rdev)
			type = index;
		index++;
	}
	fclose(f);
	return type;
}
