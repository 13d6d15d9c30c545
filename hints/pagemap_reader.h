/* pagemap_reader.h — the thread that reads clients' page maps for the swap-slot resolver.
 *
 * Reading /proc/PID/pagemap (a read or the PAGEMAP_SCAN ioctl) takes the process's mmap_lock,
 * which one of its threads may hold while it waits, in reclaim, for the very writes being
 * resolved. So the reads run on this thread, and the caller waits for one only until its
 * deadline: a read stuck behind such a lock never holds a write back (the caller goes whole)
 * and finishes once the writes have; until it does, every call fails at once.
 *
 * Memory: the arrays a job uses belong to the reader and are reused; they grow (doubling,
 * faulted in at once: the daemon runs under mlockall) only when a job needs more than any
 * before, and never while a read may still use them. */
#ifndef LINESWAP_PAGEMAP_READER_H
#define LINESWAP_PAGEMAP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PAGEMAP_SCAN (linux/fs.h, Linux 6.7), for headers older than the kernel. */
#ifndef PAGEMAP_SCAN
#include <linux/ioctl.h>
#include <linux/types.h>
#define PAGE_IS_SWAPPED (1 << 4)
struct page_region {
	__u64 start, end, categories;
};
struct pm_scan_arg {
	__u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
	__u64 category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#define PAGEMAP_PAGE_SHIFT 12

struct pagemap_reader;

/* How a scan asks the kernel: ioctl(fd, PAGEMAP_SCAN, a) (unit tests give another). */
typedef int (*pagemap_scan_fn)(int fd, struct pm_scan_arg *a);

int pagemap_reader_start(struct pagemap_reader **out);
/* Ends the thread (or, if a read is stuck, leaves it to end by itself). */
void pagemap_reader_stop(struct pagemap_reader *r);
void pagemap_reader_set_scan(struct pagemap_reader *r, pagemap_scan_fn scan);
/* The memory its jobs' arrays hold (as of the last job that finished in time). */
uint64_t pagemap_reader_bytes(struct pagemap_reader *r);

/* The entries of pages[0..n) (ascending) of page map fd, 0 where nothing was read (the process
 * is gone); valid until the next call. NULL when they are not all read by deadline_ns
 * (CLOCK_MONOTONIC), or a read failed. Adds the entries read to *read. */
const uint64_t *pagemap_read(struct pagemap_reader *r, int fd, const uint64_t *pages, size_t n,
			     uint64_t deadline_ns, uint64_t *read);

/* The runs of swapped-out pages (PAGE_IS_SWAPPED: a swap entry, or a migration or marker entry)
 * in the spans [spans[2k], spans[2k + 1]) of pages (ascending, disjoint, k < nspans), as
 * *nruns [start, end) page pairs at *runs (ascending; valid until the next call); a span past
 * the address space has none. Returns 0, -ETIMEDOUT (not done by deadline_ns), -EIO (a scan
 * failed), -EOPNOTSUPP (the kernel has no PAGEMAP_SCAN: read instead) or -EINVAL (it refused
 * the arguments). Adds the pages walked to *walked. */
int pagemap_scan_swapped(struct pagemap_reader *r, int fd, const uint64_t *spans, size_t nspans,
			 uint64_t deadline_ns, const uint64_t **runs, size_t *nruns,
			 uint64_t *walked);

#endif
