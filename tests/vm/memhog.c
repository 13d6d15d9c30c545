/* memhog — a working set that must survive swap byte for byte.
 *
 * Maps --mib MiB of anonymous memory, writes every page with a pattern derived from the page's
 * index and the pass, then reads every page back and checks it, --passes times. Under a memory
 * cgroup smaller than the working set, each pass pushes pages out to swap and faults them back.
 * With --stop, the process stops itself (SIGSTOP) after writing, so that a test can act while
 * its pages are out (swap off, take a device down), and verifies once continued (SIGCONT).
 * Exit status: 0 all pages verified, 1 a mismatch (the first is reported), 2 bad arguments. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "page_pattern.h"

static int usage(FILE *out, int status)
{
	fputs("Usage: memhog --mib N [--passes P] [--stop]\n"
	      "Writes N MiB page by page with a per-page pattern and verifies it P times (default "
	      "2);\n"
	      "with --stop, stops itself (SIGSTOP) between writing and verifying.\n",
	      out);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "passes", required_argument, NULL, 'p' },
		{ "stop", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long mib = 0, passes = 2;
	bool stop = false;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "m:p:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			errno = 0;
			mib = strtoul(optarg, &end, 10);
			if (errno || *end || mib == 0 || mib > (1ul << 20))
				return fprintf(stderr, "memhog: bad --mib '%s'\n", optarg), 2;
			break;
		case 'p':
			errno = 0;
			passes = strtoul(optarg, &end, 10);
			if (errno || *end || passes == 0 || passes > 1000)
				return fprintf(stderr, "memhog: bad --passes '%s'\n", optarg), 2;
			break;
		case 's':
			stop = true;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (mib == 0 || optind < argc)
		return usage(stderr, 2);

	size_t pages = mib * (1024 * 1024 / PAGE);
	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fprintf(stderr, "memhog: mmap %lu MiB: %s\n", mib, strerror(errno)), 1;

	double start = now_s();
	for (uint64_t pass = 0; pass < passes; pass++) {
		for (size_t p = 0; p < pages; p++)
			for (size_t w = 0; w < WORDS; w++)
				mem[p * WORDS + w] = page_pattern(p, w, pass);
		if (stop) {
			printf("memhog: pass %llu written; stopping\n",
			       (unsigned long long)pass + 1);
			fflush(stdout);
			raise(SIGSTOP);
		}
		for (size_t p = 0; p < pages; p++) {
			for (size_t w = 0; w < WORDS; w++) {
				uint64_t want = page_pattern(p, w, pass);
				uint64_t got = mem[p * WORDS + w];

				if (got != want) {
					fprintf(stderr,
						"memhog: MISMATCH pass %llu page %zu word %zu: "
						"got %016llx want %016llx\n",
						(unsigned long long)pass, p, w,
						(unsigned long long)got, (unsigned long long)want);
					return 1;
				}
			}
		}
		printf("memhog: pass %llu: %zu pages written and verified (%.1f s)\n",
		       (unsigned long long)pass + 1, pages, now_s() - start);
		fflush(stdout);
	}
	printf("memhog: OK %zu pages x %lu passes\n", pages, passes);
	return 0;
}
