/* node_region.c — the memory node's memory and its regions. */
#include "node_region.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int node_memory_init(struct node_memory *m, uint64_t bytes, bool lock)
{
	int locked = lock ? MAP_LOCKED | MAP_POPULATE : 0;

	memset(m, 0, sizeof(*m));
	m->bytes = bytes;
	m->locked = lock;
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
	return 0;
}

/* Zeros bytes at `at`: by giving the pages back (they read as zeros when next touched), or, in
 * locked memory that keeps its pages, by writing zeros. */
static void zero(struct node_memory *m, uint64_t at, uint64_t bytes)
{
	if (m->locked)
		memset(m->base + at, 0, bytes);
	else
		madvise(m->base + at, bytes, MADV_DONTNEED);
}

void node_memory_free(struct node_memory *m)
{
	if (m->base)
		munmap(m->base, m->bytes);
	m->base = NULL;
}

uint64_t node_memory_unused(const struct node_memory *m)
{
	uint64_t used = 0;

	for (unsigned i = 0; i < NODE_MAX_REGIONS; i++)
		if (m->regions[i].used)
			used += m->regions[i].bytes;
	return m->bytes - used;
}

/* The lowest offset where `bytes` fit between the regions in use, or UINT64_MAX. */
static uint64_t first_fit(const struct node_memory *m, uint64_t bytes)
{
	uint64_t at = 0;

	for (;;) {
		bool moved = false;

		for (unsigned i = 0; i < NODE_MAX_REGIONS; i++) {
			const struct node_region *r = &m->regions[i];

			if (r->used && r->offset < at + bytes && at < r->offset + r->bytes) {
				at = r->offset + r->bytes;
				moved = true;
			}
		}
		if (at + bytes > m->bytes || at + bytes < at)
			return UINT64_MAX;
		if (!moved)
			return at;
	}
}

unsigned node_region_open(struct node_memory *m, const uint8_t id[PROTO_REGION_ID], uint64_t bytes,
			  uint32_t flags, struct node_region **out)
{
	struct node_region *free_slot = NULL;

	for (unsigned i = 0; i < NODE_MAX_REGIONS; i++) {
		struct node_region *r = &m->regions[i];

		if (!r->used) {
			free_slot = free_slot ? free_slot : r;
			continue;
		}
		if (memcmp(r->id, id, PROTO_REGION_ID))
			continue;
		if (flags != PROTO_ATTACH)
			return PROTO_EEXIST;
		if (r->bytes != bytes)
			return PROTO_ENOENT;
		r->users++;
		*out = r;
		return PROTO_OK;
	}
	if (flags != PROTO_CREATE)
		return PROTO_ENOENT;
	if (!free_slot)
		return PROTO_ETOOMANY;
	uint64_t at = first_fit(m, bytes);

	if (at == UINT64_MAX)
		return PROTO_ENOSPC;
	*free_slot = (struct node_region){ .offset = at, .bytes = bytes, .users = 1, .used = true };
	memcpy(free_slot->id, id, PROTO_REGION_ID);
	/* A new region reads as zeros, whatever an earlier one left there. */
	zero(m, at, bytes);
	*out = free_slot;
	return PROTO_OK;
}

void node_region_close(struct node_region *r)
{
	if (r->users > 0)
		r->users--;
}

void node_region_release(struct node_memory *m, struct node_region *r)
{
	zero(m, r->offset, r->bytes);
	memset(r, 0, sizeof(*r));
}
