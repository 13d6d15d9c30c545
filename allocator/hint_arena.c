/* Mmap mode (hint_arena.h). Plain system calls only: this runs inside mimalloc's process
 * start and its decommits, where calling malloc would recurse. */
#include "hint_arena.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hint_proto.h"
#include "mimalloc.h"
#include "mimalloc-internal.h"

#define ARENA_ALIGN HINT_ARENA_UNIT

static struct {
	struct hint_arena_ask ask; /* bytes 0: not in mmap mode */
	char *base;                /* the mapping, once made */
	uint64_t offset, bytes;
	int fd; /* the device, kept for the freeze */
	_Atomic bool frozen;
	bool child;
	/* Per ARENA_ALIGN unit of the range: the bytes at its start that are ordinary memory (a
	 * segment's header), 0 when the unit is all device. Under header_lock, with every
	 * remapping of a header: the freeze must not map the device over one being made. */
	uint32_t *header;
	pthread_mutex_t header_lock;
} arena = { .fd = -1, .header_lock = PTHREAD_MUTEX_INITIALIZER };

/* The producer (hint_producer.c): registers now unless registered; whether it is. */
bool hint_producer_register(void);

static void say(const char *a, const char *b)
{
	(void)!write(2, "lineswap: mmap mode (LINESWAP_ARENA): ", 38);
	(void)!write(2, a, strlen(a));
	if (b)
		(void)!write(2, b, strlen(b));
	(void)!write(2, "\n", 1);
}

/* SIZE: digits and an optional K, M, G or T (binary); 0 when it is not one. */
static uint64_t parse_size(const char *s)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;

	switch (*p) {
	case 'T':
		shift += 10; /* fall through */
	case 'G':
		shift += 10; /* fall through */
	case 'M':
		shift += 10; /* fall through */
	case 'K':
		shift += 10;
		p++;
	}
	if (p == s || *p || v > UINT64_MAX >> shift)
		return 0;
	return v << shift;
}

const struct hint_arena_ask *hint_arena_ask(void)
{
	return arena.ask.bytes && !arena.child && !atomic_load(&arena.frozen) ? &arena.ask : NULL;
}

/* Maps the range c was granted, from /dev/ublkb<ID> opened with this process's own rights,
 * at a base aligned to ARENA_ALIGN. */
static int map_range(struct hint_client *c)
{
	char path[32] = "/dev/ublkb";
	size_t at = strlen(path);
	uint32_t id = c->dev_id;
	char digits[12];
	int n = 0;

	do
		digits[n++] = (char)('0' + id % 10);
	while ((id /= 10) && n < 11);
	while (n)
		path[at++] = digits[--n];
	path[at] = 0;
	/* Another node of the same device (a udev name, a container's /dev): the server checks
	 * that it is the one it serves. */
	const char *node = getenv("LINESWAP_ARENA_DEVICE");

	arena.fd = open(node && *node ? node : path, O_RDWR | O_CLOEXEC);
	if (arena.fd < 0)
		return -errno;
	size_t len = c->arena_bytes;
	char *res = mmap(NULL, len + ARENA_ALIGN, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (res == MAP_FAILED)
		return -errno;
	char *base = (char *)(((uintptr_t)res + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));

	if (mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, arena.fd,
		 (off_t)c->arena_offset) == MAP_FAILED) {
		int err = errno;

		munmap(res, len + ARENA_ALIGN);
		return -err;
	}
	/* A heap is read at random: the device's readahead (32 pages a fault by default) read 31x
	 * the pages the key-value store's reads needed, in an 8 MiB cgroup (docs/benchmarks.md). */
	(void)!madvise(base, len, MADV_RANDOM);
	if (base > res)
		munmap(res, (size_t)(base - res));
	if (res + len + ARENA_ALIGN > base + len)
		munmap(base + len, (size_t)(res + len + ARENA_ALIGN - (base + len)));
	arena.header = mmap(NULL, len / ARENA_ALIGN * sizeof(*arena.header), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena.header == MAP_FAILED) {
		int err = errno;

		munmap(base, len);
		return -err;
	}
	arena.base = base;
	arena.offset = c->arena_offset;
	arena.bytes = len;
	/* From now on this process holds exactly this range: a later registration asks for it. */
	arena.ask.offset = c->arena_offset;
	arena.ask.bytes = len;
	return 0;
}

int hint_arena_attach(struct hint_client *c, char *why, size_t whylen)
{
	int ret = 0;

	if (!arena.base)
		ret = map_range(c);
	else if (c->arena_offset != arena.offset || c->arena_bytes != arena.bytes)
		ret = -EPROTO;
	if (ret < 0) {
		const char *what = "cannot map the device's range: ";
		size_t n = strlen(what);

		if (whylen > n + 1) {
			memcpy(why, what, n);
			strncpy(why + n, strerror(-ret), whylen - n - 1);
			why[whylen - 1] = 0;
		}
		return ret;
	}
	return hint_client_claim(c, (uint64_t)(uintptr_t)arena.base, why, whylen);
}

void _mi_hint_arena_init(void)
{
	const char *env = getenv("LINESWAP_ARENA");
	mi_arena_id_t id;

	if (!env || !*env || getenv("LINESWAP_HINTS_OFF"))
		return;
	arena.ask = (struct hint_arena_ask){ .bytes = parse_size(env), .offset = HINT_ARENA_ANY };
	if (!arena.ask.bytes) {
		say("not a size: ", env);
		return;
	}
	if (!hint_producer_register() || !arena.base) {
		say("no range of a device (see LINESWAP_HINTS_LOG=1): the heap is ordinary memory",
		    NULL);
		arena.ask.bytes = 0;
		return;
	}
	/* Committed on demand (so decommits discard), zero (a range is granted only once its
	 * pages were discarded or never written), for any thread and any heap. */
	if (!mi_manage_os_memory_ex(arena.base, arena.bytes, false, false, true, -1, false, &id)) {
		say("mimalloc refused the range as an arena", NULL);
		return;
	}
	mi_option_set(mi_option_limit_os_alloc, 1);
	/* A page dirtied by a free may be written back at once, not only when evicted: its dead
	 * lines are published at every free, so that the writeback finds them. */
	_mi_hint_flush_frees = 1;
}

/* Whether [p, p + size) lies in the range, which is not frozen. */
static bool in_range(const char *p, size_t size)
{
	return arena.base && !atomic_load_explicit(&arena.frozen, memory_order_acquire) &&
	       p >= arena.base && size <= arena.bytes &&
	       p - arena.base <= (ptrdiff_t)(arena.bytes - size);
}

/* Maps [p, p + size) of the range from the device again, shared. */
static bool map_device(char *p, size_t size)
{
	off_t at = (off_t)(arena.offset + (uint64_t)(p - arena.base));

	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, arena.fd, at) ==
	    MAP_FAILED)
		return false;
	(void)!madvise(p, size, MADV_RANDOM);
	return true;
}

void _mi_hint_arena_header(void *segment, size_t size)
{
	char *p = segment;

	size = (size + 4095) & ~(size_t)4095;
	if (!in_range(p, size) || (size_t)(p - arena.base) % ARENA_ALIGN ||
	    size > HINT_ARENA_HEADER_MAX)
		return;
	size_t unit = (size_t)(p - arena.base) / ARENA_ALIGN;

	pthread_mutex_lock(&arena.header_lock);
	if (atomic_load(&arena.frozen) || arena.header[unit] >= size)
		goto out;
	/* The device's pages under it are dropped first: nothing reads them from now on. */
	(void)!fallocate(arena.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)(arena.offset + (uint64_t)(p - arena.base)), (off_t)size);
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED)
		(void)!map_device(p, size); /* still the device's, and zero: only costlier */
	else
		arena.header[unit] = (uint32_t)size;
out:
	pthread_mutex_unlock(&arena.header_lock);
}

bool _mi_hint_arena_discard(void *start, size_t size)
{
	char *p = start, *end = p + size;

	if (!in_range(p, size))
		return false;
	pthread_mutex_lock(&arena.header_lock);
	if (atomic_load(&arena.frozen)) {
		pthread_mutex_unlock(&arena.header_lock);
		return false;
	}
	while (p < end) {
		size_t unit = (size_t)(p - arena.base) / ARENA_ALIGN;
		char *h = arena.base + unit * ARENA_ALIGN;
		char *next = end - h > (ptrdiff_t)ARENA_ALIGN ? h + ARENA_ALIGN : end;
		uint32_t hsize = arena.header[unit];

		/* A header given back whole is the device's again (and zero: its pages were
		 * punched when it was made); a part of one is dropped as ordinary memory. */
		if (hsize && p < h + hsize) {
			char *hend = h + hsize < next ? h + hsize : next;

			if (p == h && hend == h + hsize && map_device(h, hsize)) {
				arena.header[unit] = 0;
			} else {
				(void)!madvise(p, (size_t)(hend - p), MADV_DONTNEED);
				p = hend;
			}
		}
		if (p < next)
			(void)!madvise(p, (size_t)(next - p), MADV_REMOVE);
		p = next;
	}
	pthread_mutex_unlock(&arena.header_lock);
	return true;
}

void hint_arena_freeze(void)
{
	if (!arena.base || atomic_load(&arena.frozen))
		return;
	/* Unit by unit, before the fork, every thread's next access copy-on-write over what the
	 * range holds: what the shared mapping had dirtied is in the page cache, which the
	 * private mapping reads. Headers in ordinary memory are private already. */
	pthread_mutex_lock(&arena.header_lock);
	for (size_t unit = 0; unit < arena.bytes / ARENA_ALIGN; unit++) {
		size_t hsize = arena.header[unit];
		char *p = arena.base + unit * ARENA_ALIGN + hsize;

		if (mmap(p, ARENA_ALIGN - hsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
			 arena.fd,
			 (off_t)(arena.offset + (uint64_t)(p - arena.base))) == MAP_FAILED) {
			say("cannot freeze the heap before a fork: stopping rather than share it",
			    NULL);
			abort();
		}
		(void)!madvise(p, ARENA_ALIGN - hsize, MADV_RANDOM);
	}
	atomic_store_explicit(&arena.frozen, true, memory_order_release);
	pthread_mutex_unlock(&arena.header_lock);
}

void hint_arena_child(void)
{
	arena.child = true;
}
