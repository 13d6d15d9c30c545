/* node_region.c — the memory node's memory and its regions. */
#include "node_region.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int node_memory_init(struct node_memory *m, uint64_t bytes, bool lock)
{
	int locked = lock ? MAP_LOCKED | MAP_POPULATE : 0;

	memset(m, 0, sizeof(*m));
	m->bytes = bytes;
	m->locked = lock;
	m->next_serial = 1;
	/* Hugepages only if reserved (vm.nr_hugepages) and the size is a 2 MiB multiple; without
	 * MAP_NORESERVE the mapping fails unless all of them are there, rather than faulting with
	 * SIGBUS later. */
	if (bytes % (2u << 20) == 0) {
		m->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | locked, -1, 0);
		m->hugepages = m->base != MAP_FAILED;
	}
	if (!m->hugepages)
		m->base =
			mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | (lock ? locked : MAP_NORESERVE), -1, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -errno;
	}
	/* Resident now: under mlockall(MCL_ONFAULT) MAP_POPULATE faults nothing in, and mlock()
	 * of the range does (a node must not need memory to store what reclaim sends it). */
	if (lock && mlock(m->base, bytes) < 0) {
		int ret = -errno;

		munmap(m->base, bytes);
		m->base = NULL;
		return ret;
	}
	return 0;
}

/* Zeros bytes at `at`: 4 KiB pages that are not locked are given back (they read as zeros when
 * next touched); locked memory keeps its pages, and hugepages are written too (madvise would
 * leave a partial hugepage at the end as it was, and may not give a private mapping's
 * reservation back). A region never shows a tenant what an earlier one held. */
static void zero(struct node_memory *m, uint64_t at, uint64_t bytes)
{
	if (m->locked || m->hugepages || madvise(m->base + at, bytes, MADV_DONTNEED) < 0)
		memset(m->base + at, 0, bytes);
}

void node_memory_free(struct node_memory *m)
{
	while (m->regions) {
		struct node_region *r = m->regions;

		m->regions = r->next;
		free(r);
	}
	if (m->base)
		munmap(m->base, m->bytes);
	m->base = NULL;
}

/* What is still zeroing counts as unused: a create that needs it finishes the zeroing. */
uint64_t node_memory_unused(const struct node_memory *m)
{
	uint64_t used = 0;

	for (const struct node_region *r = m->regions; r; r = r->next)
		used += r->zeroing ? 0 : r->span;
	return m->bytes - used;
}

/* Unlinks and frees entry r (whose memory reads as zeros now). */
static void forget(struct node_memory *m, struct node_region *r)
{
	for (struct node_region **p = &m->regions; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	free(r);
}

bool node_memory_zero_step(struct node_memory *m, uint64_t bytes)
{
	struct node_region *r = m->regions;

	while (r && !r->zeroing)
		r = r->next;
	if (!r)
		return false;
	uint64_t n = r->span - r->zeroed < bytes ? r->span - r->zeroed : bytes;

	zero(m, r->offset + r->zeroed, n);
	r->zeroed += n;
	if (r->zeroed == r->span) {
		forget(m, r);
		m->zeroing--;
	}
	return m->zeroing > 0;
}

void node_tenant_usage(const struct node_memory *m, unsigned tenant, unsigned *regions,
		       uint64_t *bytes)
{
	*regions = 0;
	*bytes = 0;
	for (const struct node_region *r = m->regions; r; r = r->next)
		if (!r->zeroing && r->tenant == tenant) {
			++*regions;
			*bytes += r->span;
		}
}

/* Where a region of `bytes` goes: the link after which it is inserted (the list is ordered by
 * offset) and its offset, the lowest gap that fits. False if none does. */
static bool first_fit(struct node_memory *m, uint64_t bytes, struct node_region ***link,
		      uint64_t *at)
{
	uint64_t end = 0;

	for (struct node_region **p = &m->regions;; p = &(*p)->next) {
		uint64_t next = *p ? (*p)->offset : m->bytes;

		if (next >= end && next - end >= bytes) {
			*link = p;
			*at = end;
			return true;
		}
		if (!*p)
			return false;
		end = (*p)->offset + (*p)->span;
	}
}

uint64_t node_region_span(uint64_t bytes)
{
	uint64_t slots = bytes / PROTO_PAGE_SIZE, span;

	/* A region larger than any node's memory has no span: UINT64_MAX never fits. */
	if (__builtin_mul_overflow(slots, PROTO_SLOT_SIZE, &span) ||
	    __builtin_add_overflow(span, PROTO_PAGE_SIZE - 1, &span))
		return UINT64_MAX;
	return span / PROTO_PAGE_SIZE * PROTO_PAGE_SIZE;
}

unsigned node_region_open(struct node_memory *m, unsigned tenant, const uint8_t id[PROTO_REGION_ID],
			  const uint8_t pub[AUTH_PUB], uint64_t bytes, uint32_t flags,
			  bool (*attach_ok)(const uint8_t pub[AUTH_PUB], void *ctx), void *ctx,
			  struct node_region **out)
{
	for (struct node_region *r = m->regions; r; r = r->next) {
		if (r->zeroing || r->tenant != tenant || memcmp(r->id, id, PROTO_REGION_ID))
			continue;
		if (flags != PROTO_ATTACH)
			return PROTO_EEXIST;
		if (!attach_ok(r->pub, ctx))
			return PROTO_EAUTH;
		if (r->bytes != bytes)
			return PROTO_ENOENT;
		r->users++;
		*out = r;
		return PROTO_OK;
	}
	if (flags != PROTO_CREATE)
		return PROTO_ENOENT;
	unsigned regions;
	uint64_t held, span = node_region_span(bytes);

	if (bytes == 0 || bytes % PROTO_PAGE_SIZE || span > m->bytes)
		return PROTO_ENOSPC;
	node_tenant_usage(m, tenant, &regions, &held);
	if (m->quota.regions && regions >= m->quota.regions)
		return PROTO_ETOOMANY;
	if (m->quota.bytes && (span > m->quota.bytes || held > m->quota.bytes - span))
		return PROTO_EQUOTA;
	struct node_region **link, *r;
	uint64_t at;

	/* Memory still zeroing is free memory a step away: finish it when it is needed. */
	if (!first_fit(m, span, &link, &at)) {
		while (node_memory_zero_step(m, UINT64_MAX))
			;
		if (!first_fit(m, span, &link, &at))
			return PROTO_ENOSPC;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return PROTO_ENOSPC;
	*r = (struct node_region){ .next = *link,
				   .serial = m->next_serial++,
				   .tenant = tenant,
				   .offset = at,
				   .bytes = bytes,
				   .span = span,
				   .users = 1 };
	memcpy(r->id, id, PROTO_REGION_ID);
	memcpy(r->pub, pub, AUTH_PUB);
	*link = r;
	m->nregions++;
	/* No zeroing here: memory outside regions reads as zeros (fresh, or zeroed when its
	 * region was released), so a create costs no time whatever its size. */
	*out = r;
	return PROTO_OK;
}

void node_region_close(struct node_region *r, uint64_t now_s)
{
	if (r->users > 0 && --r->users == 0)
		r->idle_since_s = now_s;
}

struct node_region *node_region_find(const struct node_memory *m, uint64_t serial)
{
	for (struct node_region *r = m->regions; r; r = r->next)
		if (!r->zeroing && r->serial == serial)
			return r;
	return NULL;
}

struct node_region *node_region_expired(const struct node_memory *m, uint64_t lease_s,
					uint64_t now_s)
{
	for (struct node_region *r = m->regions; r; r = r->next)
		if (!r->zeroing && r->users == 0 && now_s - r->idle_since_s >= lease_s)
			return r;
	return NULL;
}

void node_region_release(struct node_memory *m, struct node_region *r)
{
	/* Memory outside regions always reads as zeros: no tenant sees what another held. The
	 * entry keeps its place until node_memory_zero_step has zeroed all of it. */
	*r = (struct node_region){ .next = r->next,
				   .offset = r->offset,
				   .span = r->span,
				   .tenant = UINT32_MAX,
				   .zeroing = true };
	m->nregions--;
	m->zeroing++;
}
