/* mapcheck — a device mapped as memory (mmap MAP_SHARED) must keep every byte written to it.
 *
 * Maps the first --mib MiB of a block device (or file) shared and runs the given steps in order
 * on that mapping:
 *   write   every page gets a pattern derived from its index and --seed
 *   verify  every page is read back and checked against that pattern
 *   sync    msync(MS_SYNC): the pages are on the device
 *   remap   munmap, then map the same range again
 *   drop    fsync the device, then drop its page cache (BLKFLSBUF on a block device,
 *           POSIX_FADV_DONTNEED): the next read of any page comes from the device
 *   kill    raise SIGKILL (what was written must survive the process)
 * Each step prints its progress at every quarter and a line when done.
 * Exit status: 0 every step succeeded, 1 a mismatch (the first is reported) or an I/O error,
 * 2 bad arguments. A read the device fails kills the process with SIGBUS. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "page_pattern.h"

static int usage(FILE *out, int status)
{
	fputs("Usage: mapcheck --mib N [--seed S] PATH STEP...\n"
	      "Maps the first N MiB of PATH shared and runs each STEP on it: write, verify, sync,\n"
	      "remap, drop, kill (see the source's header). Exit status 0 when all succeed.\n",
	      out);
	return status;
}

struct map {
	const char *path;
	int fd;
	size_t pages;
	uint64_t *mem;
	uint64_t seed;
};

static int map_range(struct map *m)
{
	m->mem = mmap(NULL, m->pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->mem == MAP_FAILED)
		return fprintf(stderr, "mapcheck: mmap %s: %s\n", m->path, strerror(errno)), 1;
	return 0;
}

static void progress(const char *step, size_t p, size_t pages, double start)
{
	if (p && p % (pages / 4) == 0 && p < pages) {
		printf("mapcheck: %s %zu%% (%.1f s)\n", step, p * 100 / pages, now_s() - start);
		fflush(stdout);
	}
}

static int write_pages(struct map *m, double start)
{
	for (size_t p = 0; p < m->pages; p++) {
		progress("write", p, m->pages, start);
		for (size_t w = 0; w < WORDS; w++)
			m->mem[p * WORDS + w] = page_pattern(p, w, m->seed);
	}
	return 0;
}

static int verify_pages(struct map *m, double start)
{
	for (size_t p = 0; p < m->pages; p++) {
		progress("verify", p, m->pages, start);
		for (size_t w = 0; w < WORDS; w++) {
			uint64_t want = page_pattern(p, w, m->seed), got = m->mem[p * WORDS + w];

			if (got != want) {
				fprintf(stderr,
					"mapcheck: MISMATCH page %zu word %zu: got %016llx want "
					"%016llx\n",
					p, w, (unsigned long long)got, (unsigned long long)want);
				return 1;
			}
		}
	}
	return 0;
}

static int drop_cache(struct map *m)
{
	struct stat st;

	if (fsync(m->fd) < 0)
		return fprintf(stderr, "mapcheck: fsync %s: %s\n", m->path, strerror(errno)), 1;
	if (fstat(m->fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(m->fd, BLKFLSBUF, 0) < 0)
		return fprintf(stderr, "mapcheck: BLKFLSBUF %s: %s\n", m->path, strerror(errno)), 1;
	errno = posix_fadvise(m->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (errno)
		return fprintf(stderr, "mapcheck: fadvise %s: %s\n", m->path, strerror(errno)), 1;
	return 0;
}

static int run_step(struct map *m, const char *step)
{
	double start = now_s();
	int ret;

	if (!strcmp(step, "write")) {
		ret = write_pages(m, start);
	} else if (!strcmp(step, "verify")) {
		ret = verify_pages(m, start);
	} else if (!strcmp(step, "sync")) {
		ret = msync(m->mem, m->pages * PAGE, MS_SYNC) < 0;
		if (ret)
			fprintf(stderr, "mapcheck: msync: %s\n", strerror(errno));
	} else if (!strcmp(step, "remap")) {
		munmap(m->mem, m->pages * PAGE);
		ret = map_range(m);
	} else if (!strcmp(step, "drop")) {
		ret = drop_cache(m);
	} else {
		fflush(stdout);
		raise(SIGKILL);
		return 1;
	}
	if (ret == 0) {
		printf("mapcheck: %s: %zu pages (%.1f s)\n", step, m->pages, now_s() - start);
		fflush(stdout);
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const steps[] = { "write", "verify", "sync", "remap", "drop", "kill" };
	struct map m = { .seed = 1 };
	unsigned long mib = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "m:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			errno = 0;
			mib = strtoul(optarg, &end, 10);
			if (errno || *end || mib == 0 || mib > (1ul << 20))
				return fprintf(stderr, "mapcheck: bad --mib '%s'\n", optarg), 2;
			break;
		case 's':
			errno = 0;
			m.seed = strtoull(optarg, &end, 10);
			if (errno || *end)
				return fprintf(stderr, "mapcheck: bad --seed '%s'\n", optarg), 2;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (mib == 0 || argc - optind < 2)
		return usage(stderr, 2);
	for (int i = optind + 1; i < argc; i++) {
		size_t k = 0;

		while (k < sizeof(steps) / sizeof(steps[0]) && strcmp(argv[i], steps[k]))
			k++;
		if (k == sizeof(steps) / sizeof(steps[0]))
			return fprintf(stderr, "mapcheck: unknown step '%s'\n", argv[i]), 2;
	}
	m.path = argv[optind];
	m.pages = mib * (1024 * 1024 / PAGE);
	m.fd = open(m.path, O_RDWR | O_CLOEXEC);
	if (m.fd < 0)
		return fprintf(stderr, "mapcheck: open %s: %s\n", m.path, strerror(errno)), 1;

	uint64_t size = 0;
	struct stat st;

	if (fstat(m.fd, &st) == 0 && S_ISBLK(st.st_mode))
		ioctl(m.fd, BLKGETSIZE64, &size);
	else
		size = (uint64_t)st.st_size;
	if (size < (uint64_t)m.pages * PAGE)
		return fprintf(stderr, "mapcheck: %s holds %llu bytes, fewer than %lu MiB\n",
			       m.path, (unsigned long long)size, mib),
		       2;
	if (map_range(&m))
		return 1;
	for (int i = optind + 1; i < argc; i++)
		if (run_step(&m, argv[i]))
			return 1;
	printf("mapcheck: OK %zu pages\n", m.pages);
	return 0;
}
