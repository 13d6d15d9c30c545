/* ctl_add.c — `ublk-ctl add` and `ublk-ctl recover`: start a device's server daemon.
 *
 * The daemon is a child of ublk-ctl that leaves the session; it reports "ok <id>" or
 * "error <message>" through a pipe once the device is live or has failed, and ublk-ctl returns
 * only then, so a successful add means /dev/ublkb<id> exists and serves I/O. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "parse.h"
#include "secret.h"
#include "target.h"

#define DEFAULT_QUEUES       1
#define DEFAULT_DEPTH        64
#define DEFAULT_MAX_IO       (128 * 1024)
#define MAX_QUEUES           64
#define MAX_DEPTH            1024
#define START_TIMEOUT        60 /* seconds; start-up is slow under emulation */
#define DEFAULT_HINT_HOLD_MS 200

static const char add_usage[] =
	"Usage: ublk-ctl add -t TARGET --size SIZE [OPTIONS]\n"
	"\n"
	"Creates a ublk block device, /dev/ublkb<ID>, served by a new daemon process, and returns\n"
	"once the device is live. Prints the device id and path.\n"
	"\n"
	"Targets:\n"
	"  mem         pages held by the daemon in shared memory (/dev/shm), allocated as they "
	"are\n"
	"              written and freed by discard; they outlive the daemon for 'recover'\n"
	"\n"
	"Options:\n"
	"  -t, --target TARGET  where the pages live (see above); required\n"
	"  -s, --size SIZE      device size: bytes or with K, M, G, T (binary), a multiple of 4 "
	"KiB;\n"
	"                       required\n"
	"  -q, --queues N       hardware queues, one server thread each (1-64, default 1)\n"
	"  -d, --depth D        requests in flight per queue (1-1024, default 64)\n"
	"  -n, --number ID      the device id (default: the lowest free one)\n"
	"      --max-io SIZE    largest request (4K-1M, multiple of 4K, default 128K)\n"
	"      --no-user-copy   move data through per-request buffers even when the kernel offers\n"
	"                       USER_COPY (pread/pwrite on /dev/ublkcN); for testing both paths\n"
	"      --json           print {\"id\": N, \"device\": \"/dev/ublkbN\", \"pid\": P}\n"
	"  -h, --help           this text\n"
	"\n"
	"Remote target:\n"
	"      --node URL       the memory node: rdma://HOST:PORT (RDMA verbs, e.g. over rxe;\n"
	"                       the node runs with --rdma) or tcp://HOST:PORT; required\n"
	"      --secret-file F  the node's shared secret (first line of F); default: the\n"
	"                       environment variable LINESWAP_SECRET\n"
	"      --io-timeout S   a page the node has not answered in S seconds fails with an I/O\n"
	"                       error (1-600, default 5); the daemon reconnects when the node is\n"
	"                       back\n"
	"\n"
	"Hints (remote target): processes running with the hint allocator preloaded\n"
	"(LD_PRELOAD=libmimalloc-hint.so) register on the unix socket\n"
	"/run/lineswap/ublk<ID>.hints and tell the daemon which 64-byte lines of their heap pages\n"
	"are live; when such a page is swapped out to this device only those lines (and the\n"
	"first 128 bytes) move to the node. Pages the daemon cannot attribute move whole.\n"
	"      --no-hints       do not serve the hint socket: every page moves whole\n"
	"      --hint-uid UID   let processes of UID register too ('any': every uid); by default\n"
	"                       only root and the daemon's own uid may\n"
	"      --hint-hold MS   longest a page write waits to be attributed to a registered\n"
	"                       process before it moves whole (1-60000, default 200)\n"
	"\n"
	"The daemon logs to /run/lineswap/ublk<ID>.log; its record (for recover) is\n"
	"/run/lineswap/ublk<ID>.conf. Exit status: 0 added, 1 failed (nothing is left behind),\n"
	"2 bad arguments.\n";

static const char recover_usage[] =
	"Usage: ublk-ctl recover -n ID [--json]\n"
	"\n"
	"Starts a new daemon for device ID after its daemon died (crashed or was killed), through\n"
	"the driver's user recovery: I/O waiting in the kernel, or issued meanwhile, is served by\n"
	"the new daemon, and the device keeps its data.\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device; required\n"
	"      --json       print {\"id\": N, \"device\": \"/dev/ublkbN\", \"pid\": P}\n"
	"  -h, --help       this text\n"
	"\n"
	"Exit status: 0 recovered, 1 failed (e.g. the daemon is alive), 2 bad arguments.\n";

/* Waits for the daemon's one-line report. Returns 0 with the device id, or EXIT_FAILURE after
 * printing why the daemon failed. */
static int await_daemon(pid_t pid, int fd, const char *what, uint32_t *dev_id)
{
	char line[600];
	size_t len = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	time_t deadline = time(NULL) + START_TIMEOUT;

	while (len < sizeof(line) - 1) {
		int left = (int)(deadline - time(NULL));

		if (left <= 0 || poll(&pfd, 1, left * 1000) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return ctl_error("%s: the daemon did not report within %d s; killed it",
					 what, START_TIMEOUT);
		}
		ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "ok ", 3) && ctl_parse_id(line + 3, dev_id))
		return 0;
	waitpid(pid, NULL, 0);
	if (!strncmp(line, "error ", 6))
		return ctl_error("%s: %s", what, line + 6);
	return ctl_error("%s: the daemon exited during start-up (see /run/lineswap/*.log)", what);
}

/* Forks the daemon for `conf`; returns what await_daemon returns. */
static int spawn_daemon(struct ublk_dev_conf *conf, bool recover, bool json)
{
	const char *what = recover ? "recover" : "add";
	uint32_t dev_id;
	int fds[2], ret;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return ctl_error("%s: pipe: %s", what, strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return ctl_error("%s: fork: %s", what, strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		close(fds[0]);
		setsid();
		if (chdir("/") < 0 || null < 0)
			_exit(EXIT_FAILURE);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
		ublk_daemon_run(conf, recover, fds[1]);
	}
	close(fds[1]);
	ret = await_daemon(pid, fds[0], what, &dev_id);
	close(fds[0]);
	if (ret)
		return ret;
	if (json)
		printf("{\"id\": %u, \"device\": \"/dev/ublkb%u\", \"pid\": %d}\n", dev_id, dev_id,
		       pid);
	else
		printf("%s /dev/ublkb%u (id %u, daemon %d)\n", recover ? "recovered" : "added",
		       dev_id, dev_id, pid);
	return 0;
}

/* The memory node's secret: the first line of `file`, or $LINESWAP_SECRET. */
static int read_secret(const char *file, struct ublk_dev_conf *conf)
{
	char err[256];
	size_t len;

	if (secret_read(file, conf->secret, &len, err, sizeof(err)) < 0)
		return file && strstr(err, "cannot read") ? ctl_error("add: %s", err)
							  : ctl_usage_error("add: %s", err);
	conf->secret_len = (uint32_t)len;
	return 0;
}

/* A fresh name for the device's region on the node: 16 random bytes in hex. */
static int new_region(char hex[33])
{
	uint8_t id[16];

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -1;
	for (unsigned i = 0; i < sizeof(id); i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	return 0;
}

int cmd_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "number", required_argument, NULL, 'n' },
		{ "max-io", required_argument, NULL, 'm' },
		{ "no-user-copy", no_argument, NULL, 'U' },
		{ "node", required_argument, NULL, 'N' },
		{ "secret-file", required_argument, NULL, 'S' },
		{ "io-timeout", required_argument, NULL, 'T' },
		{ "no-hints", no_argument, NULL, 'H' },
		{ "hint-uid", required_argument, NULL, 'u' },
		{ "hint-hold", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ublk_dev_conf conf = {
		.dev_id = UBLK_DEV_ID_NONE,
		.nr_queues = DEFAULT_QUEUES,
		.depth = DEFAULT_DEPTH,
		.max_io_bytes = DEFAULT_MAX_IO,
		.user_copy = true,
		.hints = true,
		.hint_uid = -1,
		.hint_hold_ms = DEFAULT_HINT_HOLD_MS,
	};
	bool hint_opts = false;
	struct ublk_ctrl ctrl;
	const char *secret_file = NULL;
	bool json = false;
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:s:q:d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!ublk_target_find(optarg))
				return ctl_usage_error("add: unknown target '%s' (targets: %s)",
						       optarg, ublk_target_names());
			snprintf(conf.target, sizeof(conf.target), "%s", optarg);
			break;
		case 's':
			if (!parse_size(optarg, &conf.size) || conf.size == 0 ||
			    conf.size % UBLK_PAGE_SIZE)
				return ctl_usage_error("add: bad --size '%s': a positive multiple "
						       "of 4 KiB, e.g. 512M or 2G",
						       optarg);
			break;
		case 'q':
			if (!parse_uint(optarg, 1, MAX_QUEUES, &v))
				return ctl_usage_error("add: bad --queues '%s' (1-%d)", optarg,
						       MAX_QUEUES);
			conf.nr_queues = (uint16_t)v;
			break;
		case 'd':
			if (!parse_uint(optarg, 1, MAX_DEPTH, &v))
				return ctl_usage_error("add: bad --depth '%s' (1-%d)", optarg,
						       MAX_DEPTH);
			conf.depth = (uint16_t)v;
			break;
		case 'n':
			if (!ctl_parse_id(optarg, &conf.dev_id))
				return ctl_usage_error("add: bad device id '%s'", optarg);
			break;
		case 'm':
			if (!parse_size(optarg, &v) || v < UBLK_PAGE_SIZE || v > (1u << 20) ||
			    v % UBLK_PAGE_SIZE)
				return ctl_usage_error("add: bad --max-io '%s' (4K-1M, a multiple "
						       "of 4K)",
						       optarg);
			conf.max_io_bytes = (uint32_t)v;
			break;
		case 'U':
			conf.user_copy = false;
			break;
		case 'N':
			if ((strncmp(optarg, "tcp://", 6) && strncmp(optarg, "rdma://", 7)) ||
			    strlen(optarg) >= sizeof(conf.node))
				return ctl_usage_error(
					"add: bad --node '%s' (want rdma://HOST:PORT "
					"or tcp://HOST:PORT)",
					optarg);
			snprintf(conf.node, sizeof(conf.node), "%s", optarg);
			break;
		case 'S':
			secret_file = optarg;
			break;
		case 'T':
			if (!parse_uint(optarg, 1, 600, &v))
				return ctl_usage_error("add: bad --io-timeout '%s' (1-600 seconds)",
						       optarg);
			conf.timeout_ms = (uint32_t)v * 1000;
			break;
		case 'H':
			conf.hints = false;
			hint_opts = true;
			break;
		case 'u':
			if (!strcmp(optarg, "any"))
				conf.hint_uid = -2;
			else if (parse_uint(optarg, 0, UINT32_MAX - 1, &v))
				conf.hint_uid = (int64_t)v;
			else
				return ctl_usage_error("add: bad --hint-uid '%s' (a uid or 'any')",
						       optarg);
			hint_opts = true;
			break;
		case 'o':
			if (!parse_uint(optarg, 1, 60000, &v))
				return ctl_usage_error("add: bad --hint-hold '%s' (1-60000 ms)",
						       optarg);
			conf.hint_hold_ms = (uint32_t)v;
			hint_opts = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(add_usage, stdout);
			return 0;
		default:
			return ctl_usage_error(
				"add: unknown or incomplete option '%s' (see --help)",
				argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("add: unexpected argument '%s'", argv[optind]);
	if (!conf.target[0])
		return ctl_usage_error("add: no target given (-t %s)", ublk_target_names());
	if (!conf.size)
		return ctl_usage_error("add: no size given (--size, e.g. 2G)");
	if (conf.size >> 9 > UINT32_MAX * 512ull)
		return ctl_usage_error("add: --size is too large");
	if (!strcmp(conf.target, "remote")) {
		if (!conf.node[0])
			return ctl_usage_error("add: the remote target needs --node "
					       "rdma://HOST:PORT or tcp://HOST:PORT");
		if (!conf.timeout_ms)
			conf.timeout_ms = 5000;
		int ret = read_secret(secret_file, &conf);

		if (ret)
			return ret;
		if (new_region(conf.region) < 0)
			return ctl_error("add: no randomness for the region name: %s",
					 strerror(errno));
	} else if (conf.node[0] || secret_file || conf.timeout_ms || hint_opts) {
		return ctl_usage_error("add: --node, --secret-file, --io-timeout and the hint "
				       "options are for the remote target");
	} else {
		conf.hints = false;
	}

	/* Say what is wrong here, not from a daemon's log. */
	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
	if (conf.dev_id != UBLK_DEV_ID_NONE) {
		struct ublksrv_ctrl_dev_info info;

		if (ublk_ctrl_get_dev_info(&ctrl, conf.dev_id, &info) == 0) {
			ublk_ctrl_close(&ctrl);
			return ctl_error("add: device %u already exists", conf.dev_id);
		}
	}
	ublk_ctrl_close(&ctrl);
	return spawn_daemon(&conf, false, json);
}

/* Waits (up to 60 s) until the driver has noticed the old daemon's death. It quiesces the
 * device when the dead daemon's armed commands are cancelled; a queue whose every tag was held
 * by the daemon has none, and then only the driver's 30 s request timeout notices (6.12). */
static int await_quiesced(struct ublk_ctrl *ctrl, uint32_t dev_id,
			  struct ublksrv_ctrl_dev_info *info)
{
	for (int i = 0; i < 600; i++) {
		int ret = ublk_ctrl_get_dev_info(ctrl, dev_id, info);

		if (ret < 0)
			return ret;
		if (info->state == UBLK_S_DEV_QUIESCED || info->state == UBLK_S_DEV_FAIL_IO)
			return 0;
		if (info->state == UBLK_S_DEV_LIVE && ctl_pid_alive(info->ublksrv_pid))
			return -EBUSY;
		if (i == 20)
			fprintf(stderr,
				"ublk-ctl: recover: waiting for the driver to notice that "
				"daemon %d ended (up to 60 s)\n",
				info->ublksrv_pid);
		usleep(100 * 1000);
	}
	return -ETIMEDOUT;
}

int cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ublksrv_ctrl_dev_info info;
	struct ublk_dev_conf conf;
	struct ublk_ctrl ctrl;
	uint32_t dev_id = UBLK_DEV_ID_NONE;
	bool json = false;
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!ctl_parse_id(optarg, &dev_id))
				return ctl_usage_error("recover: bad device id '%s'", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(recover_usage, stdout);
			return 0;
		default:
			return ctl_usage_error("recover: unknown or incomplete option '%s' (see "
					       "--help)",
					       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("recover: unexpected argument '%s'", argv[optind]);
	if (dev_id == UBLK_DEV_ID_NONE)
		return ctl_usage_error("recover: which device? (-n ID)");

	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
	ret = await_quiesced(&ctrl, dev_id, &info);
	ublk_ctrl_close(&ctrl);
	if (ret == -ENODEV || ret == -ENOENT)
		return ctl_error("recover: no device %u", dev_id);
	if (ret == -EBUSY)
		return ctl_error("recover: device %u is live (daemon %d): nothing to recover",
				 dev_id, info.ublksrv_pid);
	if (ret == -ETIMEDOUT)
		return ctl_error(
			"recover: device %u is still %s 60 s after its daemon %d ended; the "
			"driver never quiesced it",
			dev_id, ctl_state_name(info.state), info.ublksrv_pid);
	if (ret < 0)
		return ctl_error("recover: device %u: %s", dev_id, strerror(-ret));
	ret = ublk_conf_load(dev_id, &conf);
	if (ret < 0)
		return ctl_error("recover: no usable record of device %u in %s (%s): it was not "
				 "created by ublk-ctl, or its files were removed",
				 dev_id, ublk_run_dir(), strerror(-ret));
	return spawn_daemon(&conf, true, json);
}
