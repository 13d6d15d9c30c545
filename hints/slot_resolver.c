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
 * lock never holds a write back (its batch moves whole) and finishes once the writes have. */
struct pagemap_job {
	int fd;
	uint64_t *pages;
	size_t n;
	uint64_t *entries; /* 0 where nothing was read */
	uint64_t scanned;
	bool done, abandoned;
};

struct pagemap_reader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pagemap_job *job; /* posted, running, or abandoned and still running */
	bool stop;
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

		if (got <= 0)
			return; /* the process is gone (or the range unmapped): nothing here */
		size_t read = (size_t)got / sizeof(uint64_t);

		j->scanned += read;
		for (size_t m = i; m < k && j->pages[m] - j->pages[i] < read; m++)
			j->entries[m] = buf[j->pages[m] - j->pages[i]];
		i = k;
	}
}

static void free_job(struct pagemap_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->pages);
	free(j->entries);
	free(j);
}

static void *reader_main(void *arg)
{
	struct pagemap_reader *r = arg;

	/* Part of a write's path, but the write waits for its reads only until the hold time:
	 * not realtime, so a client with a large heap cannot make it hog a CPU. */
	io_thread_init("ublk-pagemap", false);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && (!r->job || r->job->done))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		struct pagemap_job *j = r->job;

		pthread_mutex_unlock(&r->lock);
		read_entries(j);
		pthread_mutex_lock(&r->lock);
		j->done = true;
		if (j->abandoned) {
			free_job(j);
			r->job = NULL;
		}
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int pagemap_reader_start(struct pagemap_reader **out)
{
	struct pagemap_reader *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
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
	bool stuck = r->job && !r->job->done;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (stuck) {
		pthread_detach(r->thread); /* it frees its job when the read returns; r is leaked */
		return;
	}
	pthread_join(r->thread, NULL);
	if (r->job)
		free_job(r->job);
	free(r);
}

/* Reads the entries of pages[0..n) (ascending) through fd, waiting until deadline_ns at most.
 * The finished job, or NULL if the reader is still busy with an earlier read or this one did
 * not finish in time (the reader then frees it). */
static struct pagemap_job *read_by(struct pagemap_reader *r, int fd, const uint64_t *pages,
				   size_t n, uint64_t deadline_ns)
{
	struct pagemap_job *j = calloc(1, sizeof(*j));
	struct timespec until = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
				  .tv_nsec = (long)(deadline_ns % 1000000000u) };

	if (!j)
		return NULL;
	j->fd = dup(fd);
	j->n = n;
	j->pages = malloc(n * sizeof(*pages)); /* the caller's may be gone before the read ends */
	j->entries = calloc(n, sizeof(*j->entries));
	if (j->fd < 0 || !j->pages || !j->entries) {
		free_job(j);
		return NULL;
	}
	memcpy(j->pages, pages, n * sizeof(*pages));
	pthread_mutex_lock(&r->lock);
	if (r->job) { /* an abandoned read is still stuck */
		pthread_mutex_unlock(&r->lock);
		free_job(j);
		return NULL;
	}
	r->job = j;
	pthread_cond_broadcast(&r->cond);
	while (!j->done && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	if (j->done) {
		r->job = NULL;
	} else {
		j->abandoned = true;
		j = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	return j;
}

/* Reads the pagemap entries of pages[0..n) (ascending) of client c and claims what they hold.
 * False at the deadline. */
static bool scan_client(struct scan *sc, struct pagemap_reader *r, int client,
			struct hint_client_conn *c, const uint64_t *pages, size_t n, unsigned type,
			uint64_t deadline_ns)
{
	struct pagemap_job *j = read_by(r, c->pagemap_fd, pages, n, deadline_ns);

	if (!j)
		return false;
	sc->st->scanned += j->scanned;
	for (size_t k = 0; k < n; k++)
		claim(sc, client, &c->view, pages[k], j->entries[k], type);
	free_job(j);
	return true;
}

void slot_resolve(struct hint_server *s, struct pagemap_reader *r, int swap_type,
		  const uint64_t *slots, size_t n, uint64_t *masks, int *owner,
		  uint64_t deadline_ns, struct slot_resolve_stats *st)
{
	struct wanted *want = NULL;
	uint64_t *found = NULL, *pages = NULL;
	bool late = false;

	st->slots += n;
	for (size_t i = 0; i < n; i++) {
		masks[i] = LINES_WHOLE;
		owner[i] = -1;
	}
	if (swap_type < 0 || n == 0)
		return;
	want = malloc(n * sizeof(*want));
	found = malloc(n * sizeof(*found));
	if (!want || !found)
		goto out;
	for (size_t i = 0; i < n; i++)
		want[i] = (struct wanted){ .slot = slots[i], .index = i };
	qsort(want, n, sizeof(*want), cmp_wanted);

	struct scan sc = { want, n, masks, owner, found, st };
	for (unsigned ci = 0; ci < s->nclients && !late; ci++) {
		struct hint_client_conn *c = s->client[ci];

		if (!hint_client_resolvable(s, c) || c->view.count == 0)
			continue;
		uint64_t *p = realloc(pages, c->view.count * sizeof(*pages));
		if (!p)
			break;
		pages = p;
		size_t np = page_view_pages(&c->view, pages);
		late = !scan_client(&sc, r, (int)ci, c, pages, np, (unsigned)swap_type,
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
out:
	free(want);
	free(found);
	free(pages);
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
