/* run.c — `ublk-ctl run`: a program started with the hint allocator preloaded and pointed at a
 * device's hint socket, so no library path or environment variable is needed. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "parse.h"

#define HINT_LIBRARY_NAME "libmimalloc-hint.so"

static const char run_usage[] =
	"Usage: ublk-ctl run [-n ID] [--arena SIZE] [--library PATH] [--log] [--] PROGRAM "
	"[ARG...]\n"
	"\n"
	"Runs PROGRAM (found in PATH as a shell would) with lineswap's hint allocator preloaded\n"
	"(LD_PRELOAD, before any library already there) and registered with device ID's hint\n"
	"socket: its heap's live 64-byte lines reach the device's daemon, which then moves only\n"
	"those when the program's pages are swapped out ('ublk-ctl hints -n ID' lists it). The\n"
	"program replaces ublk-ctl (same process id, same standard streams).\n"
	"\n"
	"Options:\n"
	"  -n, --number ID   the device, by id or name (default 0): it must exist, with its "
	"daemon\n"
	"                    serving hints\n"
	"      --arena SIZE  mmap mode: the program's heap is a range of SIZE bytes (K, M, G, T\n"
	"                    suffixes) of the device itself, mapped shared (LINESWAP_ARENA)\n"
	"      --library PATH  the hint library; by default the one built beside this ublk-ctl\n"
	"                    (../allocator/" HINT_LIBRARY_NAME "), else the installed one\n"
	"                    (" LINESWAP_HINT_LIBRARY ")\n"
	"      --log         the library says on stderr whether it registered "
	"(LINESWAP_HINTS_LOG)\n"
	"  -h, --help        this text\n"
	"\n"
	"Environment: the hint library reads these when the program starts. This command sets\n"
	"those marked * (LINESWAP_ARENA with --arena, else it unsets it; LINESWAP_HINTS_LOG with\n"
	"--log), unsets LINESWAP_HINTS_SOCKET and LINESWAP_HINTS_OFF, and passes the rest on:\n"
	"  LINESWAP_HINTS_DEVICE=ID *  register with device ID's hint socket (default 0), the\n"
	"                    socket <run dir>/ublk<ID>.hints\n"
	"  LINESWAP_HINTS_SOCKET=PATH  register with the socket at PATH instead\n"
	"  LINESWAP_RUN_DIR=DIR        the run directory (default /run/lineswap)\n"
	"  LINESWAP_HINTS_OFF=1        be an ordinary mimalloc: no registration\n"
	"  LINESWAP_HINTS_LOG=1 *      say on stderr whether it registered, and why not (--log)\n"
	"  LINESWAP_HINTS_RING=N       records of the ring shared with the daemon (default: the\n"
	"                    daemon's own; a ring that overflows costs a resync, not correctness)\n"
	"  LINESWAP_ARENA=SIZE *       mmap mode: the heap is a range of SIZE bytes of the device\n"
	"                    (--arena); malloc fails once it is full. Every thread that allocates\n"
	"                    holds its own 32 MiB segments: give at least (threads + 2) x 32M\n"
	"  LINESWAP_ARENA_DEVICE=PATH  the node to map that range from (default /dev/ublkb<ID>;\n"
	"                    another node of the same device, such as /dev/lineswap/NAME)\n"
	"A program that cannot register (no daemon, or refused) runs on with an ordinary heap and\n"
	"tries again every second. Either way nothing it holds is lost: the daemon moves whole\n"
	"any page it cannot attribute to a registered process.\n"
	"\n"
	"Exit status: PROGRAM's own; 1 when the device, its hint socket or the library is "
	"missing;\n"
	"2 for bad arguments; 127 when PROGRAM cannot be run.\n";

/* The library built beside this executable (a build tree), else the installed one; the path in
 * buf, or NULL with errno set. */
static const char *default_library(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');

		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(buf, len, "%s/../allocator/%s", exe,
					     HINT_LIBRARY_NAME) < len &&
			    access(buf, R_OK) == 0)
				return buf;
		}
	}
	if ((size_t)snprintf(buf, len, "%s", LINESWAP_HINT_LIBRARY) >= len) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

/* LD_PRELOAD with lib first (ld.so reads it separated by spaces or colons). */
static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
	char *v = malloc(len);
	int ret;

	if (!v)
		return -1;
	snprintf(v, len, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
	ret = setenv("LD_PRELOAD", v, 1);
	free(v);
	return ret;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "arena", required_argument, NULL, 'a' },
		{ "library", required_argument, NULL, 'l' },
		{ "log", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *library = NULL;
	char sock[PATH_MAX], libbuf[PATH_MAX], libpath[PATH_MAX], id[16], arena[24] = "";
	uint64_t arena_bytes;
	uint32_t dev_id = 0;
	bool log = false;
	struct stat st;
	int c, ret;

	opterr = 0;
	/* '+': options end at PROGRAM, whose own options are its own */
	while ((c = getopt_long(argc, argv, "+:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ret = ctl_parse_device("run", optarg, &dev_id);
			if (ret)
				return ret;
			break;
		case 'a':
			if (!parse_size(optarg, &arena_bytes) || !arena_bytes)
				return ctl_usage_error(
					"run: --arena wants a size (for example 1G), "
					"not '%s'",
					optarg);
			/* in bytes: the library reads plain digits too */
			snprintf(arena, sizeof(arena), "%llu", (unsigned long long)arena_bytes);
			break;
		case 'l':
			library = optarg;
			break;
		case 'L':
			log = true;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		case ':':
			return ctl_usage_error("run: option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("run: unknown option '%s' (see --help)",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("run: no program given (see --help)");

	if (!ublk_state_path(sock, sizeof(sock), dev_id, "hints"))
		return ctl_error("run: the run folder's path is too long");
	if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		return ctl_error("run: device %u has no hint socket (%s): is it a device whose "
				 "daemon runs ('ublk-ctl list')?",
				 dev_id, sock);
	if (!library && !(library = default_library(libbuf, sizeof(libbuf))))
		return ctl_error("run: cannot locate %s: %s", HINT_LIBRARY_NAME, strerror(errno));
	/* ld.so takes a path with a slash as it is: make it absolute, and check it now rather
	 * than have the loader warn and run the program without hints. */
	if (!realpath(library, libpath) || access(libpath, R_OK) < 0)
		return ctl_error("run: the hint library %s: %s (--library PATH)", library,
				 strerror(errno));

	snprintf(id, sizeof(id), "%u", dev_id);
	if (set_preload(libpath) < 0 || setenv("LINESWAP_HINTS_DEVICE", id, 1) < 0 ||
	    unsetenv("LINESWAP_HINTS_SOCKET") < 0 || unsetenv("LINESWAP_HINTS_OFF") < 0 ||
	    (*arena ? setenv("LINESWAP_ARENA", arena, 1) : unsetenv("LINESWAP_ARENA")) < 0 ||
	    (log && setenv("LINESWAP_HINTS_LOG", "1", 1) < 0))
		return ctl_error("run: cannot set the environment: %s", strerror(errno));
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "ublk-ctl: run: cannot run %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
