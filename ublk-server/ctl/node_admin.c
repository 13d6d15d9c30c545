/* node_admin.c — `ublk-ctl node add|remove`: changes a running remote device's pool through its
 * daemon's admin file (targets/remote_admin.h), one request at a time. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "remote.h"
#include "remote_admin.h"
#include "stats.h"

static const char node_usage[] =
	"Usage: ublk-ctl node add -n ID URL [--json]\n"
	"       ublk-ctl node remove -n ID URL [--json]\n"
	"\n"
	"Changes the pool of memory nodes of a running remote device (see 'ublk-ctl nodes').\n"
	"\n"
	"add: URL (rdma://HOST:PORT or tcp://HOST:PORT, a memnode with the device's secret)\n"
	"joins the pool. The daemon asks it how much memory it has free and makes the device's\n"
	"region there, with room for one copy of every slab or as many as fit, and saves the\n"
	"node in the device record (recover keeps it). Copies already placed stay where they\n"
	"are: the new node takes the copies made anew when a node is gone past the grace, and\n"
	"those moved off a node being removed. A pool has at most 16 nodes, removed ones\n"
	"included.\n"
	"\n"
	"remove: drains URL. Each of its copies is copied to another node (one that is up, has\n"
	"room, holds no copy of that slab and is not being removed) while every write goes to\n"
	"both, and only then does the slab use the new copy: the move never leaves a slab with\n"
	"fewer fresh copies than --replicas. A slab with a stale copy is resynced first. When\n"
	"the node holds nothing its region is freed, and it stays listed as removed (its index\n"
	"is not reused). Refused when the nodes left could not hold R copies of every slab on\n"
	"distinct nodes. Waits until the node is drained, printing progress on stderr; if this\n"
	"command is interrupted the drain goes on in the daemon, and running it again waits for\n"
	"it.\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device, by id or by name (add --name); required\n"
	"      --json       the outcome as one JSON object\n"
	"  -h, --help       this text\n"
	"\n"
	"Exit status: 0 done; 1 the daemon refused (the reason is printed) or is not running;\n"
	"2 bad arguments.\n";

#define WAIT_STEP_MS 100

/* The daemon's pid (from the driver), or 0 when the device is unknown. */
static int daemon_pid(uint32_t dev_id)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl ctrl;
	int ret;

	if (ctl_open(&ctrl) < 0)
		return 0;
	ret = ublk_ctrl_get_dev_info(&ctrl, dev_id, &info);
	ublk_ctrl_close(&ctrl);
	return ret < 0 ? 0 : info.ublksrv_pid;
}

/* Copies node n holds now (the keeper's count), or -1 if unknown. */
static long node_copies(uint32_t dev_id, int n)
{
	size_t size;
	const struct ublk_stats_shm *s = ctl_map_stats(NULL, dev_id, &size);
	long copies = -1;

	if (!s)
		return -1;
	if (n >= 0 && n < UBLK_POOL_NODES)
		copies = __atomic_load_n(&s->pool.node_slabs[n], __ATOMIC_RELAXED);
	munmap((void *)s, size);
	return copies;
}

static void print_outcome(bool json, uint32_t dev_id, const char *op, const char *url,
			  const struct remote_admin *a)
{
	if (!json) {
		if (a->status < 0)
			fprintf(stderr, "ublk-ctl: node %s: %s\n", op, a->message);
		else
			printf("%s\n", a->message);
		return;
	}
	printf("{\"id\": %u, \"op\": \"%s\", \"url\": \"%s\", \"node\": %u, \"ok\": %s, "
	       "\"error\": \"%s\", \"message\": \"",
	       dev_id, op, url, a->node, a->status < 0 ? "false" : "true",
	       a->status < 0 ? strerror(-a->status) : "");
	for (const char *c = a->message; *c; c++) /* messages hold URLs: no control bytes */
		printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
	printf("\"}\n");
}

/* What a wait shows while a node drains: its copies, when they change. */
struct drain_view {
	uint32_t dev_id;
	int node; /* -1: not a drain */
	const char *url;
	long last;
};

/* Waits until the keeper has written `want` into *word; false if the daemon died meanwhile.
 * Every 2 s a drain's progress is shown. */
static bool wait_keeper(const uint32_t *word, uint32_t want, int pid, struct drain_view *v)
{
	for (unsigned waited = 0; __atomic_load_n(word, __ATOMIC_ACQUIRE) != want;
	     waited += WAIT_STEP_MS) {
		struct timespec step = { 0, WAIT_STEP_MS * 1000000L };

		if (waited % 1000 == 0 && !ctl_pid_alive(pid))
			return false;
		if (v && v->node >= 0 && waited && waited % 2000 == 0) {
			long copies = node_copies(v->dev_id, v->node);

			if (copies != v->last)
				fprintf(stderr, "ublk-ctl: node remove: %s holds %ld copies\n",
					v->url, copies);
			v->last = copies;
		}
		nanosleep(&step, NULL);
	}
	return true;
}

/* Sends the request and waits for its answer; the exit status. */
static int request(uint32_t dev_id, const struct remote_conf *rc, uint32_t op, const char *url,
		   bool json)
{
	const char *name = op == REMOTE_ADMIN_ADD ? "add" : "remove";
	struct drain_view view = { .dev_id = dev_id, .node = -1, .url = url, .last = -2 };
	char path[PATH_MAX];
	struct remote_admin *a;
	int fd, pid = daemon_pid(dev_id), ret;

	if (!ctl_pid_alive(pid))
		return ctl_error("node %s: device %u's daemon is not running (recover it first)",
				 name, dev_id);
	if (!remote_admin_path(dev_id, path, sizeof(path)))
		return ctl_error("node %s: the admin file's path is too long", name);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ctl_error("node %s: cannot open %s: %s", name, path, strerror(errno));
	a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || a->magic != REMOTE_ADMIN_MAGIC) {
		if (a != MAP_FAILED)
			munmap(a, sizeof(*a));
		close(fd);
		return ctl_error("node %s: %s is not an admin file", name, path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "ublk-ctl: node %s: waiting for another node request\n", name);
		if (flock(fd, LOCK_EX) < 0) {
			ret = ctl_error("node %s: cannot lock %s: %s", name, path, strerror(errno));
			goto out;
		}
	}
	/* The last request is taken before this one is written over it. */
	if (!wait_keeper(&a->taken, __atomic_load_n(&a->request, __ATOMIC_ACQUIRE), pid, NULL)) {
		ret = ctl_error("node %s: the daemon exited (recover the device and ask again)",
				name);
		goto out;
	}
	uint32_t number = __atomic_load_n(&a->request, __ATOMIC_ACQUIRE) + 1;

	if (number == 0)
		number = 1;
	a->op = op;
	snprintf(a->url, sizeof(a->url), "%s", url);
	__atomic_store_n(&a->request, number, __ATOMIC_RELEASE);
	for (unsigned n = 0; op == REMOTE_ADMIN_REMOVE && n < rc->nnodes; n++)
		if (!strcmp(rc->node[n], url))
			view.node = (int)n;
	if (!wait_keeper(&a->answered, number, pid, &view)) {
		ret = ctl_error("node %s: the daemon exited before it answered (recover the "
				"device and ask again)",
				name);
		goto out;
	}
	print_outcome(json, dev_id, name, url, a);
	ret = a->status < 0 ? EXIT_FAILURE : 0;
out:
	munmap(a, sizeof(*a));
	close(fd);
	return ret;
}

int cmd_node(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint32_t dev_id = UBLK_DEV_ID_NONE, op;
	struct ublk_dev_conf conf;
	bool json = false;
	char err[200];
	int c, ret;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(node_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return ctl_usage_error("node: add or remove? (see --help)");
	if (!strcmp(argv[1], "add"))
		op = REMOTE_ADMIN_ADD;
	else if (!strcmp(argv[1], "remove"))
		op = REMOTE_ADMIN_REMOVE;
	else
		return ctl_usage_error("node: unknown action '%s' (add or remove)", argv[1]);
	argc--, argv++;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ret = ctl_parse_device("node", optarg, &dev_id);
			if (ret)
				return ret;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(node_usage, stdout);
			return 0;
		default:
			return ctl_usage_error(
				"node: unknown or incomplete option '%s' (see --help)",
				argv[optind - 1]);
		}
	}
	if (dev_id == UBLK_DEV_ID_NONE)
		return ctl_usage_error("node: which device? (-n ID)");
	if (optind != argc - 1)
		return ctl_usage_error("node: one URL, please (see --help)");
	const char *url = argv[optind];
	struct remote_conf probe = { 0 };

	if (remote_conf_add_node(&probe, url, err, sizeof(err)) < 0)
		return ctl_usage_error("node: %s", err);
	if (ctl_load_remote("node", dev_id, &conf) < 0)
		return EXIT_FAILURE;
	return request(dev_id, remote_conf(&conf), op, url, json);
}
