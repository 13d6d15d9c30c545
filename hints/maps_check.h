/* maps_check.h — whether a process really maps a file where it says it does.
 *
 * A client in mmap mode claims that its heap at `base` maps the device range it was granted.
 * The server checks that claim in the process's /proc/PID/maps (opened when the client
 * connected, so bound to that process's address space): every byte of [base, base + bytes)
 * must lie in mappings that are shared and writable, of the device's own inode, at the file
 * offset that byte's distance from base says; except that the first `header` bytes (at most)
 * of every `unit` bytes from base may be anonymous private memory. Anything else — a hole, a
 * private mapping of a file, another file, another offset, anonymous memory elsewhere or
 * longer — refuses the claim. */
#ifndef LINESWAP_MAPS_CHECK_H
#define LINESWAP_MAPS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct maps_claim {
	uint64_t base, bytes; /* the address range claimed */
	uint64_t offset;      /* the file offset base maps */
	dev_t dev;            /* the file's inode: st_dev and st_ino of its stat */
	ino_t ino;
	uint64_t unit, header; /* anonymous memory allowed: see above (header 0: none) */
};

/* One line of /proc/PID/maps, parsed: "start-end perms offset major:minor inode [path]".
 * Returns false for a line that does not parse. */
struct maps_line {
	uint64_t start, end, offset;
	unsigned major, minor;
	uint64_t ino;
	bool shared, writable;
};
bool maps_line_parse(const char *line, struct maps_line *m);

/* Reads the maps text from fd (from its start, in pieces of buf's size) and checks the claim.
 * Returns 1 when it holds, 0 when it does not, -errno when fd cannot be read or a line does
 * not fit in buf. */
int maps_check(int fd, const struct maps_claim *claim, char *buf, size_t len);

/* Which of n file ranges (each: dev, ino, [offset, offset + bytes); base unused) any process
 * maps, in any byte, according to every /proc/PID/maps (a process whose leader exited, by its
 * threads'): mapped[i] set for each. Returns how many processes this one may not inspect
 * (EACCES: their maps unknown), or -errno when /proc could not be read; unless it returns 0,
 * nothing may be taken as unmapped. Run as root to see every process. */
int maps_find_mappers(const struct maps_claim *ranges, unsigned n, bool *mapped, char *buf,
		      size_t len);

#endif
