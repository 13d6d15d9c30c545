/* add.c — `ublk-ctl add` and `ublk-ctl recover`: start a device's server daemon.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "parse.h"
#include "targets.h"

#define DEFAULT_QUEUES 1
#define DEFAULT_DEPTH  64
#define DEFAULT_MAX_IO (128 * 1024)
#define MAX_QUEUES     64
#define MAX_DEPTH      1024
#define START_TIMEOUT  60 /* seconds; start-up is slow under emulation */
#define DEFAULT_DIRTY  (16ull << 20)

static const char add_usage_head[] =
	"Usage: ublk-ctl add -t TARGET --size SIZE [OPTIONS] [TARGET OPTIONS]\n"
	"\n"
	"Creates a ublk block device, /dev/ublkb<ID>, served by a new daemon process, and returns\n"
	"once the device is live. Prints the device id and path.\n"
	"\n"
	"Options:\n"
	"  -t, --target TARGET  where the pages live (see Targets); required\n"
	"  -s, --size SIZE      device size: bytes or with K, M, G, T (binary), a multiple of 4 "
	"KiB;\n"
	"                       required\n"
	"  -q, --queues N       hardware queues, one server thread each (1-64, default 1)\n"
	"  -d, --depth D        requests in flight per queue (1-1024, default 64)\n"
	"  -n, --number ID      the device id (default: the lowest free one)\n"
	"      --name NAME      a name for the device, unique among them (1-31 of A-Z a-z 0-9 .\n"
	"                       _ -, starting with a letter): other commands take it for -n, and\n"
	"                       udev links /dev/lineswap/NAME to the device (what /etc/fstab and\n"
	"                       devices.conf use, as ublk's ids depend on the order of creation)\n"
	"      --max-io SIZE    largest request (4K-1M, multiple of 4K, default 128K)\n"
	"      --no-user-copy   move data through per-request buffers even when the kernel offers\n"
	"                       USER_COPY (pread/pwrite on /dev/ublkcN); for testing both paths\n"
	"      --dirty-limit SIZE\n"
	"                       dirty page-cache pages the device may hold (its bdi's max_bytes\n"
	"                       with strict_limit; default 16M; 0: the kernel's defaults): what\n"
	"                       lets a program map the device in a memory cgroup smaller than\n"
	"                       what it writes (see \"Mapping a device\" in README.md)\n"
	"      --json           print {\"id\": N, \"device\": \"/dev/ublkbN\", \"pid\": P}\n"
	"  -h, --help           this text\n"
	"\n"
	"Targets:\n";

static const char add_usage_tail[] =
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
	"  -n, --number ID  the device, by id or by name (add --name); required\n"
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
static int spawn_daemon(struct ublk_dev_conf *conf, bool recover, uint64_t dirty_limit, bool json)
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
	ctl_check_pressure(conf, dev_id, pid);
	if (dirty_limit)
		ctl_limit_dirty(dev_id, dirty_limit);
	if (json)
		printf("{\"id\": %u, \"device\": \"/dev/ublkb%u\", \"pid\": %d}\n", dev_id, dev_id,
		       pid);
	else
		printf("%s /dev/ublkb%u (id %u, daemon %d)\n", recover ? "recovered" : "added",
		       dev_id, dev_id, pid);
	return 0;
}

/* Prints text with every line after the first indented by `indent` spaces. */
static void print_indented(const char *text, int indent)
{
	for (const char *nl; (nl = strchr(text, '\n')); text = nl + 1)
		printf("%.*s\n%*s", (int)(nl - text), text, indent, "");
	printf("%s\n", text);
}

static void print_add_usage(void)
{
	fputs(add_usage_head, stdout);
	for (const struct ublk_target_ops *const *t = ublk_targets; *t; t++) {
		printf("  %-10s  ", (*t)->name);
		print_indented((*t)->summary, 14);
	}
	for (const struct ublk_target_ops *const *t = ublk_targets; *t; t++)
		if ((*t)->usage)
			printf("\nOptions of the %s target:\n%s", (*t)->name, (*t)->usage);
	fputs(add_usage_tail, stdout);
}

/* "mem, remote, ..." */
static const char *target_names(void)
{
	static char names[256];
	size_t n = 0;

	for (const struct ublk_target_ops *const *t = ublk_targets; *t && n < sizeof(names); t++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "",
				      (*t)->name);
	return names;
}

#define CORE_OPTS   16
#define MAX_OPTS    64
#define TARGET_OPT  0x1000 /* + index in the merged table of a target's option */
#define MAX_PENDING 32

/* `add`'s long options: core's, then every target's (each name once), whose val is
 * TARGET_OPT + its index in the merged table. Returns how many. */
static int merge_options(const struct option *core, struct option *all)
{
	int n = 0;

	while (core[n].name) {
		all[n] = core[n];
		n++;
	}
	for (const struct ublk_target_ops *const *t = ublk_targets; *t; t++) {
		for (const struct option *o = (*t)->options; o && o->name; o++) {
			int k = 0;

			while (k < n && strcmp(all[k].name, o->name))
				k++;
			if (k == n && n < MAX_OPTS - 1) {
				all[n] = *o;
				all[n].flag = NULL;
				all[n].val = TARGET_OPT + n;
				n++;
			}
		}
	}
	all[n] = (struct option){ 0 };
	return n;
}

/* The option of target t named `name`, or NULL. */
static const struct option *target_option(const struct ublk_target_ops *t, const char *name)
{
	for (const struct option *o = t->options; o && o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

/* Maps a target's error to ublk-ctl's exit status: -EINVAL is bad arguments. */
static int target_error(int ret, const char *err)
{
	return ret == -EINVAL ? ctl_usage_error("add: %s", err) : ctl_error("add: %s", err);
}

/* Hands the target options seen on the command line to the chosen target. */
static int parse_target_options(struct ublk_dev_conf *conf, const struct option *all,
				const int *pending, char *const *args, int npending)
{
	const struct ublk_target_ops *ops = conf->ops;
	char err[256];

	if (ops->init_conf)
		ops->init_conf(conf);
	for (int i = 0; i < npending; i++) {
		const char *name = all[pending[i]].name;
		const struct option *o = target_option(ops, name);

		if (!o || !ops->parse_option) {
			char owners[128] = "";
			size_t n = 0;

			for (const struct ublk_target_ops *const *t = ublk_targets; *t; t++)
				if (target_option(*t, name) && n < sizeof(owners))
					n += (size_t)snprintf(owners + n, sizeof(owners) - n,
							      "%s%s", n ? ", " : "", (*t)->name);
			return ctl_usage_error("add: --%s is not an option of the %s target "
					       "(it is of: %s)",
					       name, ops->name, owners);
		}
		int ret = ops->parse_option(conf, o->val, args[i], err, sizeof(err));

		if (ret < 0)
			return target_error(ret, err);
	}
	if (ops->finish_conf) {
		int ret = ops->finish_conf(conf, err, sizeof(err));

		if (ret < 0)
			return target_error(ret, err);
	}
	return 0;
}

int cmd_add(int argc, char **argv)
{
	static const struct option core_opts[CORE_OPTS] = {
		{ "target", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "number", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'N' },
		{ "max-io", required_argument, NULL, 'm' },
		{ "no-user-copy", no_argument, NULL, 'U' },
		{ "dirty-limit", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct option opts[MAX_OPTS];
	struct ublk_dev_conf conf = {
		.dev_id = UBLK_DEV_ID_NONE,
		.nr_queues = DEFAULT_QUEUES,
		.depth = DEFAULT_DEPTH,
		.max_io_bytes = DEFAULT_MAX_IO,
		.user_copy = true,
	};
	int pending[MAX_PENDING], npending = 0;
	char *pending_args[MAX_PENDING];
	struct ublk_ctrl ctrl;
	uint64_t dirty_limit = DEFAULT_DIRTY;
	bool json = false;
	uint64_t v;
	int c, ret;

	merge_options(core_opts, opts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:s:q:d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			conf.ops = ublk_target_find(ublk_targets, optarg);
			if (!conf.ops)
				return ctl_usage_error("add: unknown target '%s' (targets: %s)",
						       optarg, target_names());
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
		case 'N':
			if (!ublk_name_valid(optarg))
				return ctl_usage_error(
					"add: bad --name '%s' (1-%d of A-Z a-z 0-9 . _ "
					"-, starting with a letter)",
					optarg, UBLK_NAME_MAX - 1);
			strcpy(conf.name, optarg);
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
		case 'D':
			if (!parse_size(optarg, &dirty_limit) ||
			    (dirty_limit && dirty_limit < UBLK_PAGE_SIZE))
				return ctl_usage_error("add: bad --dirty-limit '%s' (0, or 4K and "
						       "up, e.g. 16M)",
						       optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			print_add_usage();
			return 0;
		default:
			if (c < TARGET_OPT)
				return ctl_usage_error(
					"add: unknown or incomplete option '%s' (see --help)",
					argv[optind - 1]);
			/* A target's option: its target may come later on the line. */
			if (npending == MAX_PENDING)
				return ctl_usage_error("add: too many options");
			pending[npending] = c - TARGET_OPT;
			pending_args[npending++] = optarg;
		}
	}
	if (optind < argc)
		return ctl_usage_error("add: unexpected argument '%s'", argv[optind]);
	if (!conf.ops)
		return ctl_usage_error("add: no target given (-t TARGET; targets: %s)",
				       target_names());
	if (!conf.size)
		return ctl_usage_error("add: no size given (--size, e.g. 2G)");
	if (conf.size >> 9 > UINT32_MAX * 512ull)
		return ctl_usage_error("add: --size is too large");
	ret = parse_target_options(&conf, opts, pending, pending_args, npending);
	if (ret)
		return ret;

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
	if (conf.name[0]) {
		uint32_t other;

		ret = ctl_find_name(conf.name, &other);
		if (ret == 0)
			return ctl_error("add: device %u is already named '%s'", other, conf.name);
		if (ret != -ENOENT)
			return ctl_error("add: cannot list devices: %s", strerror(-ret));
	}
	return spawn_daemon(&conf, false, dirty_limit, json);
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
			ret = ctl_parse_device("recover", optarg, &dev_id);
			if (ret)
				return ret;
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
	ret = ublk_conf_load(dev_id, &conf, ublk_targets);
	if (ret < 0)
		return ctl_error("recover: no usable record of device %u in %s (%s): it was not "
				 "created by ublk-ctl, or its files were removed",
				 dev_id, ublk_run_dir(), strerror(-ret));
	return spawn_daemon(&conf, true, 0, json);
}
