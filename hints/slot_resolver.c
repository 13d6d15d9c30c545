/* The swap-slot resolver (slot_resolver.h). */
#include "slot_resolver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "grow.h"
#include "log.h"

#define REFRESH_LEAVES 32 /* leaves (64 MiB of heap) a round walks whatever it knows */
/* Swap types below this are swap areas on any kernel configuration; above are migration,
 * device and marker entries on some (MAX_SWAPFILES is 32 less those), which are transient. */
#define SWAP_AREA_TYPES 23

struct wanted {
	uint64_t slot;
	size_t index; /* into the caller's arrays */
};

struct slot_resolver {
	struct pagemap_reader *reader;
	uint64_t recent_ns;
	bool no_scan; /* the kernel has no PAGEMAP_SCAN: read every reduced page */
	/* a round's arrays, grown as needed and reused */
	struct wanted *want;
	uint64_t *found; /* per caller index: the page that claimed it */
	size_t want_cap, found_cap;
	uint64_t *pages; /* a client's pages to read */
	size_t pages_cap;
	const struct page_view_leaf **leaves;
	bool *walk; /* per leaf: walked in this round */
	size_t leaves_cap, walk_cap;
	uint64_t *spans;
	size_t spans_cap;
};

static int cmp_wanted(const void *a, const void *b)
{
	const struct wanted *x = a, *y = b;

	return (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
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

int slot_resolver_start(struct slot_resolver **out, uint64_t recent_ns)
{
	struct slot_resolver *sr = calloc(1, sizeof(*sr));
	int ret;

	if (!sr)
		return -ENOMEM;
	ret = pagemap_reader_start(&sr->reader);
	if (ret < 0) {
		free(sr);
		return ret;
	}
	sr->recent_ns = recent_ns;
	*out = sr;
	return 0;
}

void slot_resolver_stop(struct slot_resolver *sr)
{
	pagemap_reader_stop(sr->reader);
	free(sr->want);
	free(sr->found);
	free(sr->pages);
	free(sr->leaves);
	free(sr->walk);
	free(sr->spans);
	free(sr);
}

uint64_t slot_resolver_bytes(struct slot_resolver *sr)
{
	return sizeof(*sr) + sr->want_cap * sizeof(*sr->want) + sr->found_cap * sizeof(*sr->found) +
	       sr->pages_cap * sizeof(*sr->pages) + sr->leaves_cap * sizeof(*sr->leaves) +
	       sr->walk_cap * sizeof(*sr->walk) + sr->spans_cap * sizeof(*sr->spans) +
	       pagemap_reader_bytes(sr->reader);
}

void slot_resolver_set_scan(struct slot_resolver *sr, pagemap_scan_fn scan)
{
	sr->no_scan = !scan;
	if (scan)
		pagemap_reader_set_scan(sr->reader, scan);
}

struct round {
	struct slot_resolver *sr;
	size_t nwant;
	uint64_t *masks;
	int *owner;
	unsigned type;
	uint64_t deadline_ns;
	struct slot_resolve_stats *st;
};

static void claim(struct round *rd, int client, const struct page_view *view, uint64_t vpage,
		  uint64_t entry)
{
	const struct wanted *want = rd->sr->want;

	if (!(entry & PAGEMAP_SWAPPED) || (entry & PAGEMAP_PRESENT) ||
	    PAGEMAP_SWAP_TYPE(entry) != rd->type)
		return;
	for (const struct wanted *w = find_slot(want, rd->nwant, PAGEMAP_SWAP_OFFSET(entry));
	     w && w < want + rd->nwant && w->slot == PAGEMAP_SWAP_OFFSET(entry); w++) {
		size_t i = w->index;

		if (rd->owner[i] == -1) {
			rd->owner[i] = client;
			rd->sr->found[i] = vpage;
			rd->masks[i] = page_view_get(view, vpage);
		} else if (rd->owner[i] >= 0 &&
			   (rd->owner[i] != client || rd->sr->found[i] != vpage)) {
			rd->owner[i] = -2; /* two pages hold it: shared */
			rd->masks[i] = LINES_WHOLE;
		}
	}
}

/* Reads the entries of the n pages at sr->pages (ascending) of client c and claims what they
 * hold; with record, notes the pages found newly swapped out in its view. False at the
 * deadline, or when a read failed: the round must then go whole. */
static bool read_and_claim(struct round *rd, int client, struct hint_client_conn *c, size_t n,
			   bool record)
{
	struct page_view *v = &c->view;
	const uint64_t *pages = rd->sr->pages;
	const uint64_t *e = pagemap_read(rd->sr->reader, c->pagemap_fd, pages, n, rd->deadline_ns,
					 &rd->st->scanned);
	uint64_t now = monotonic_ns();
	bool room;

	if (!e)
		return false;
	room = record && page_view_recent_reserve(v, v->nrecent + n);
	for (size_t k = 0; k < n; k++) {
		claim(rd, client, v, pages[k], e[k]);
		if (!record || !(e[k] & PAGEMAP_SWAPPED) || (e[k] & PAGEMAP_PRESENT) ||
		    PAGEMAP_SWAP_TYPE(e[k]) >= SWAP_AREA_TYPES)
			continue;
		/* Not read again until it is found present or its mask changes; for a while its
		 * slot is looked up (when ours and there was room to note it). */
		if (!page_view_mark_swapped(v, pages[k]) && room &&
		    PAGEMAP_SWAP_TYPE(e[k]) == rd->type)
			v->recent[v->nrecent++] = (struct page_view_recent){ .vpage = pages[k],
									     .entry = e[k],
									     .ns = now };
	}
	return true;
}

/* Every reduced page of client c, read. */
static bool read_all(struct round *rd, int client, struct hint_client_conn *c)
{
	struct slot_resolver *sr = rd->sr;

	if (!grow_array(&sr->pages, &sr->pages_cap, c->view.count, sizeof(*sr->pages)))
		return false; /* unread clients may hold a slot found elsewhere: all whole */
	return read_and_claim(rd, client, c, page_view_pages(&c->view, sr->pages), false);
}

/* Sets bits [from, to) of the leaf bitmap w. */
static void set_bits(uint64_t *w, unsigned from, unsigned to)
{
	for (unsigned b = from; b < to;) {
		unsigned n = 64 - b % 64 < to - b ? 64 - b % 64 : to - b;

		w[b / 64] |= (n == 64 ? ~0ull : ((1ull << n) - 1)) << (b % 64);
		b += n;
	}
}

/* The pages of the walked leaves that the runs show swapped out and no round has read since:
 * into sr->pages from index 0, ascending. Clears the swapped bit of every page of those leaves
 * the runs show not swapped out. Returns how many. */
static size_t newly_swapped(struct slot_resolver *sr, size_t nleaves, const uint64_t *runs,
			    size_t nruns)
{
	size_t n = 0, r = 0;

	for (size_t k = 0; k < nleaves; k++) {
		if (!sr->walk[k])
			continue;
		struct page_view_block *b = sr->leaves[k]->b;
		uint64_t base = (sr->leaves[k]->key - 1) * PAGE_VIEW_LEAF_PAGES;
		uint64_t end = base + PAGE_VIEW_LEAF_PAGES;
		uint64_t now[PAGE_VIEW_LEAF_WORDS] = { 0 };

		while (r < nruns && runs[2 * r + 1] <= base)
			r++;
		for (size_t q = r; q < nruns && runs[2 * q] < end; q++)
			set_bits(
				now, (unsigned)((runs[2 * q] > base ? runs[2 * q] : base) - base),
				(unsigned)((runs[2 * q + 1] < end ? runs[2 * q + 1] : end) - base));
		for (unsigned w = 0; w < PAGE_VIEW_LEAF_WORDS; w++) {
			b->swapped[w] &= now[w];
			for (uint64_t fresh = now[w] & b->reduced[w] & ~b->swapped[w]; fresh;
			     fresh &= fresh - 1)
				sr->pages[n++] = base + 64 * w + (unsigned)__builtin_ctzll(fresh);
		}
	}
	return n;
}

/* Which of the n sorted leaves of view v a round walks: those with a reduced page it has not
 * read swapped out (one may have been swapped out since), and REFRESH_LEAVES from
 * v->refresh_key on, whatever it knows (a page read swapped out may have come back since: its
 * next eviction is found only once a walk has seen it present), the next round the ones after. */
static void choose_walk(struct slot_resolver *sr, struct page_view *v, size_t n)
{
	size_t first = 0, refreshed = 0;

	while (first < n && sr->leaves[first]->key < v->refresh_key)
		first++;
	if (first == n)
		first = 0; /* past the last leaf: from the first again */
	for (size_t k = 0; k < n; k++) {
		const struct page_view_block *b = sr->leaves[k]->b;
		uint64_t unknown = 0;

		for (unsigned w = 0; w < PAGE_VIEW_LEAF_WORDS; w++)
			unknown |= b->reduced[w] & ~b->swapped[w];
		sr->walk[k] = unknown != 0;
	}
	for (size_t k = first; refreshed < REFRESH_LEAVES && refreshed < n; k = (k + 1) % n) {
		sr->walk[k] = true;
		refreshed++;
		v->refresh_key = sr->leaves[(k + 1) % n]->key;
	}
}

/* Drops the recent pages older than the window; appends to sr->pages (from n) those whose
 * slot the round asks for. Returns the new count. */
static size_t recent_wanted(struct round *rd, struct page_view *v, size_t n)
{
	struct slot_resolver *sr = rd->sr;
	uint64_t now = monotonic_ns();
	size_t old = 0;

	while (old < v->nrecent && v->recent[old].ns + sr->recent_ns < now)
		old++;
	if (old) {
		memmove(v->recent, v->recent + old, (v->nrecent - old) * sizeof(*v->recent));
		v->nrecent -= old;
	}
	for (size_t k = 0; k < v->nrecent; k++)
		if (find_slot(sr->want, rd->nwant, PAGEMAP_SWAP_OFFSET(v->recent[k].entry)))
			sr->pages[n++] = v->recent[k].vpage;
	return n;
}

enum client_done {
	CLIENT_READ,    /* its pages are claimed */
	CLIENT_LATE,    /* the deadline passed or a read failed: the round goes whole */
	CLIENT_NO_SCAN, /* PAGEMAP_SCAN is not there: read every page */
};

/* Client c through PAGEMAP_SCAN: its newly swapped pages and the recent ones its slots name,
 * read. */
static enum client_done scan_and_claim(struct round *rd, int client, struct hint_client_conn *c)
{
	struct slot_resolver *sr = rd->sr;
	struct page_view *v = &c->view;
	size_t nleaves, nspans = 0, nruns, n;
	const uint64_t *runs;

	if (!grow_array(&sr->leaves, &sr->leaves_cap, v->leaves, sizeof(*sr->leaves)) ||
	    !grow_array(&sr->walk, &sr->walk_cap, v->leaves, sizeof(*sr->walk)) ||
	    !grow_array(&sr->spans, &sr->spans_cap, 2 * v->leaves, sizeof(*sr->spans)) ||
	    !grow_array(&sr->pages, &sr->pages_cap, v->count + v->nrecent, sizeof(*sr->pages)))
		return CLIENT_LATE;
	nleaves = page_view_leaves(v, sr->leaves);
	choose_walk(sr, v, nleaves);
	for (size_t k = 0; k < nleaves; k++) {
		uint64_t start = (sr->leaves[k]->key - 1) * PAGE_VIEW_LEAF_PAGES;

		if (!sr->walk[k])
			continue;
		if (nspans && sr->spans[2 * nspans - 1] == start)
			sr->spans[2 * nspans - 1] += PAGE_VIEW_LEAF_PAGES;
		else {
			sr->spans[2 * nspans] = start;
			sr->spans[2 * nspans + 1] = start + PAGE_VIEW_LEAF_PAGES;
			nspans++;
		}
	}
	int ret = pagemap_scan_swapped(sr->reader, c->pagemap_fd, sr->spans, nspans,
				       rd->deadline_ns, &runs, &nruns, &rd->st->walked);
	if (ret == -EINVAL)
		log_msg("hints: PAGEMAP_SCAN refused its arguments: reading every reduced page "
			"from now on");
	if (ret == -EOPNOTSUPP || ret == -EINVAL)
		return CLIENT_NO_SCAN;
	if (ret < 0)
		return CLIENT_LATE;
	n = newly_swapped(sr, nleaves, runs, nruns);
	size_t nfresh = n;

	n = recent_wanted(rd, v, n);
	if (n == 0)
		return CLIENT_READ;
	if (n > nfresh) { /* recent pages too: in order, each once */
		qsort(sr->pages, n, sizeof(*sr->pages), cmp_u64);
		size_t u = 1;

		for (size_t k = 1; k < n; k++)
			if (sr->pages[k] != sr->pages[u - 1])
				sr->pages[u++] = sr->pages[k];
		n = u;
	}
	return read_and_claim(rd, client, c, n, true) ? CLIENT_READ : CLIENT_LATE;
}

void slot_resolve(struct hint_server *s, struct slot_resolver *sr, int swap_type,
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
	    !grow_array(&sr->want, &sr->want_cap, n, sizeof(*sr->want)) ||
	    !grow_array(&sr->found, &sr->found_cap, n, sizeof(*sr->found)))
		return;
	for (size_t i = 0; i < n; i++)
		sr->want[i] = (struct wanted){ .slot = slots[i], .index = i };
	qsort(sr->want, n, sizeof(*sr->want), cmp_wanted);

	struct round rd = { .sr = sr,
			    .nwant = n,
			    .masks = masks,
			    .owner = owner,
			    .type = (unsigned)swap_type,
			    .deadline_ns = deadline_ns,
			    .st = st };
	for (unsigned ci = 0; ci < s->nclients && !late; ci++) {
		struct hint_client_conn *c = s->client[ci];

		if (!hint_client_resolvable(s, c) || c->view.count == 0)
			continue;
		if (monotonic_ns() >= deadline_ns) {
			late = true; /* listing a view costs what it holds: not past the hold */
			break;
		}
		enum client_done done =
			sr->no_scan ? CLIENT_NO_SCAN : scan_and_claim(&rd, (int)ci, c);

		if (done == CLIENT_NO_SCAN) {
			sr->no_scan = true;
			done = read_all(&rd, (int)ci, c) ? CLIENT_READ : CLIENT_LATE;
		}
		late = done == CLIENT_LATE;
	}
	/* A round cut short may have missed a second holder of a slot it found: all whole. */
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
