/* The swap-slot resolver (slot_resolver.h). */
#include "slot_resolver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK    512 /* pagemap entries per read */
#define GAP_READ 16  /* read through gaps this small rather than seek */

struct wanted {
	uint64_t slot;
	size_t index; /* into the caller's arrays */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
			sc->masks[i] = PAGE_VIEW_WHOLE;
		}
	}
}

/* Reads the pagemap entries of pages[0..n) (ascending) of client c. False at the deadline. */
static bool scan_client(struct scan *sc, int client, struct hint_client_conn *c,
			const uint64_t *pages, size_t n, unsigned type, uint64_t deadline_ns)
{
	uint64_t buf[CHUNK];

	for (size_t i = 0; i < n;) {
		if (now_ns() > deadline_ns)
			return false;
		/* One read from pages[i] through later pages no further than GAP_READ apart. */
		size_t j = i + 1;

		while (j < n && pages[j] - pages[j - 1] <= GAP_READ && pages[j] - pages[i] < CHUNK)
			j++;
		size_t span = pages[j - 1] - pages[i] + 1;
		ssize_t got = pread(c->pagemap_fd, buf, span * sizeof(uint64_t),
				    (off_t)(pages[i] * sizeof(uint64_t)));

		if (got <= 0)
			return true; /* the process is gone (or the range unmapped): nothing here */
		size_t entries = (size_t)got / sizeof(uint64_t);

		sc->st->scanned += entries;
		for (size_t k = i; k < j && pages[k] - pages[i] < entries; k++)
			claim(sc, client, &c->view, pages[k], buf[pages[k] - pages[i]], type);
		i = j;
	}
	return true;
}

void slot_resolve(struct hint_server *s, int swap_type, const uint64_t *slots, size_t n,
		  uint64_t *masks, int *owner, uint64_t deadline_ns, struct slot_resolve_stats *st)
{
	struct wanted *want = NULL;
	uint64_t *found = NULL, *pages = NULL;
	bool late = false;

	st->slots += n;
	for (size_t i = 0; i < n; i++) {
		masks[i] = PAGE_VIEW_WHOLE;
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
		late = !scan_client(&sc, (int)ci, c, pages, np, (unsigned)swap_type, deadline_ns);
	}
	/* A scan cut short may have missed a second holder of a slot it found: all whole. */
	for (size_t i = 0; i < n; i++) {
		if (late) {
			masks[i] = PAGE_VIEW_WHOLE;
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
