/* show.c — `ublk-ctl list` and `ublk-ctl stats`: read-only views of devices. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "state.h"
#include "stats.h"
#include "swap_area.h"
#include "targets.h"
#include "ublk_features.h"

static const char list_usage[] =
	"Usage: ublk-ctl list [-n ID] [--json]\n"
	"\n"
	"Shows every ublk device (or one): id, name, state (live; quiesced = its daemon died and\n"
	"it waits for 'recover'; dead = stopped), target, size, queues x depth, the daemon's pid\n"
	"and whether it runs, whether the device is an active swap device, and a remote device's\n"
	"redundancy (full; degraded or rebuilding, with the slabs below --replicas fresh copies "
	"of\n"
	"all). With --json, also the ublk flags the device was made with: which of the driver's\n"
	"features (ublk-ctl features) it uses.\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  only this device (its id, or its name)\n"
	"      --json       one JSON array of objects\n"
	"  -h, --help       this text\n";

static const char stats_usage[] =
	"Usage: ublk-ctl stats -n ID [--json]\n"
	"\n"
	"Shows a device's I/O since it was added (recoveries included): per operation the number\n"
	"of requests, bytes moved, errors, and the server's service time at the 50th, 99th and\n"
	"99.9th percentiles (from receiving a request to committing its result); requests in\n"
	"flight now and at most; the memory the target holds for pages; the daemon's watchdog:\n"
	"a queue that holds requests and has finished none for 10 s is STALLED (also said in the\n"
	"kernel log), and the stalls so far are counted.\n"
	"\n"
	"Pages by origin: swap (pages swapped out, and read back while the device is an active\n"
	"swap area) and the page cache (a mapping's faults, readahead and writeback; read(2) and\n"
	"write(2) of the device; direct I/O). A device that is swap and is also read through the\n"
	"page cache at the same time counts those reads as swap-ins.\n"
	"\n"
	"Remote target: the pages moved to (PUT) and from (GET) the memory node and their bytes,\n"
	"against the whole-page baseline (4096 bytes a page), and the hints: registered clients,\n"
	"ring records, overflows and resyncs, and the resolver (written pages attributed to a\n"
	"registered process, shared ones, ones left whole because the hold time passed) with the\n"
	"time writes waited for their masks. 'ublk-ctl hints' lists the clients.\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device, by id or by name (add --name); required\n"
	"      --json       one JSON object\n"
	"  -h, --help       this text\n";

int ctl_parse_view_args(int argc, char **argv, const char *cmd, const char *usage, uint32_t *dev_id,
			bool *json)
{
	static const struct option opts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ret = ctl_parse_device(cmd, optarg, dev_id);
			if (ret)
				return ret;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return ctl_usage_error("%s: unknown or incomplete option '%s' (see --help)",
					       cmd, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("%s: unexpected argument '%s'", cmd, argv[optind]);
	return -1;
}

static void print_device(const struct ublksrv_ctrl_dev_info *info, bool json, bool first)
{
	struct ublk_dev_conf conf;
	bool have_conf = ublk_conf_load(info->dev_id, &conf, ublk_targets) == 0;
	bool alive = ctl_pid_alive(info->ublksrv_pid);
	bool swap = ublk_swap_area_active(info->dev_id);
	size_t stats_size = 0;
	const struct ublk_stats_shm *s = ctl_map_stats(NULL, info->dev_id, &stats_size);
	const char *redundancy = s ? ctl_redundancy(s) : NULL;
	char degraded[48] = "";

	if (redundancy && strcmp(redundancy, "full"))
		snprintf(degraded, sizeof(degraded), " %llu/%llu",
			 (unsigned long long)__atomic_load_n(&s->pool.degraded, __ATOMIC_RELAXED),
			 (unsigned long long)s->pool.slabs);
	if (s)
		munmap((void *)s, stats_size);
	if (json) {
		printf("%s{\"id\": %u, \"device\": \"/dev/ublkb%u\", \"state\": \"%s\", "
		       "\"target\": \"%s\", \"size\": %llu, \"queues\": %u, \"depth\": %u, "
		       "\"pid\": %d, \"daemon_alive\": %s, \"swap\": %s, \"user_copy\": %s",
		       first ? "" : ",\n ", info->dev_id, info->dev_id, ctl_state_name(info->state),
		       have_conf ? conf.target : "?",
		       have_conf ? (unsigned long long)conf.size : 0ull, info->nr_hw_queues,
		       info->queue_depth, info->ublksrv_pid, alive ? "true" : "false",
		       swap ? "true" : "false",
		       (info->flags & UBLK_F_USER_COPY) ? "true" : "false");
		char names[512];

		ublk_features_format(info->flags, "\", \"", names, sizeof(names));
		printf(", \"flags\": %llu, \"flag_names\": [\"%s\"]",
		       (unsigned long long)info->flags, names);
		if (have_conf && conf.name[0])
			printf(", \"name\": \"%s\"", conf.name); /* names need no escaping */
		if (redundancy)
			printf(", \"redundancy\": \"%s\"", redundancy);
		printf("}");
		return;
	}
	char size[32] = "?", dev[24];

	snprintf(dev, sizeof(dev), "/dev/ublkb%u", info->dev_id);
	if (have_conf)
		snprintf(size, sizeof(size), "%llu MiB", (unsigned long long)(conf.size >> 20));
	printf("%-4u %-14s %-12s %-9s %-7s %10s %4u x %-5u %8d %-5s %-4s %s%s\n", info->dev_id, dev,
	       have_conf && conf.name[0] ? conf.name : "-", ctl_state_name(info->state),
	       have_conf ? conf.target : "?", size, info->nr_hw_queues, info->queue_depth,
	       info->ublksrv_pid, alive ? "yes" : "no", swap ? "swap" : "",
	       redundancy ? redundancy : "-", degraded);
}

int cmd_list(int argc, char **argv)
{
	uint32_t dev_id = UBLK_DEV_ID_NONE, ids[CTL_MAX_DEVICES];
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl ctrl;
	bool json = false;
	int ret = ctl_parse_view_args(argc, argv, "list", list_usage, &dev_id, &json), n, shown = 0;

	if (ret >= 0)
		return ret;
	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
	if (dev_id != UBLK_DEV_ID_NONE) {
		ids[0] = dev_id;
		n = 1;
	} else {
		n = ctl_device_ids(ids, (int)(sizeof(ids) / sizeof(ids[0])));
		if (n < 0) {
			ublk_ctrl_close(&ctrl);
			return ctl_error("list: cannot list devices: %s", strerror(-n));
		}
	}
	if (json)
		printf("[");
	else
		printf("%-4s %-14s %-12s %-9s %-7s %10s %-12s %8s %-5s %-4s %s\n", "ID", "DEVICE",
		       "NAME", "STATE", "TARGET", "SIZE", "QUEUES", "PID", "ALIVE", "SWAP",
		       "REDUNDANCY");
	for (int i = 0; i < n; i++) {
		ret = ublk_ctrl_get_dev_info(&ctrl, ids[i], &info);
		if (ret < 0) {
			if (dev_id != UBLK_DEV_ID_NONE) {
				ublk_ctrl_close(&ctrl);
				if (json)
					printf("]\n");
				return ctl_error("list: no device %u", dev_id);
			}
			continue; /* deleted while we looked */
		}
		print_device(&info, json, shown++ == 0);
	}
	if (json)
		printf("]\n");
	ublk_ctrl_close(&ctrl);
	return 0;
}

/* Maps a device's statistics file read-only after checking it; NULL with a message. */
const struct ublk_stats_shm *ctl_map_stats(const char *cmd, uint32_t dev_id, size_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	const struct ublk_stats_shm *s;
	int fd;

	if (!ublk_state_path(path, sizeof(path), dev_id, "stats"))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (cmd)
			ctl_error("%s: no statistics for device %u (%s: %s)", cmd, dev_id, path,
				  strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(*s)) {
		close(fd);
		if (cmd)
			ctl_error("%s: %s is truncated", cmd, path);
		return NULL;
	}
	*size = (size_t)st.st_size;
	s = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (s == MAP_FAILED) {
		if (cmd)
			ctl_error("%s: cannot map %s: %s", cmd, path, strerror(errno));
		return NULL;
	}
	if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != UBLK_STATS_MAGIC ||
	    s->version != UBLK_STATS_VERSION || s->nr_queues == 0 ||
	    ublk_stats_size(s->nr_queues) > *size) {
		munmap((void *)s, *size);
		if (cmd)
			ctl_error("%s: %s is not a statistics file of this version", cmd, path);
		return NULL;
	}
	return s;
}

/* Pages read and written by origin, summed over the queues (stats.h). */
static void print_origin(const struct ublk_stats_shm *s, bool json)
{
	uint64_t c[4] = { 0 };

	for (unsigned q = 0; q < s->nr_queues; q++) {
		c[0] += __atomic_load_n(&s->q[q].swap_in, __ATOMIC_RELAXED);
		c[1] += __atomic_load_n(&s->q[q].swap_out, __ATOMIC_RELAXED);
		c[2] += __atomic_load_n(&s->q[q].cache_in, __ATOMIC_RELAXED);
		c[3] += __atomic_load_n(&s->q[q].cache_out, __ATOMIC_RELAXED);
	}
	if (json)
		printf(", \"swap_area\": %s, \"pages\": {\"swap_in\": %llu, \"swap_out\": %llu, "
		       "\"cache_in\": %llu, \"cache_out\": %llu}",
		       __atomic_load_n(&s->swap_area, __ATOMIC_RELAXED) ? "true" : "false",
		       (unsigned long long)c[0], (unsigned long long)c[1], (unsigned long long)c[2],
		       (unsigned long long)c[3]);
	else
		printf("pages: swap %llu in, %llu out; page cache (mappings, file I/O) %llu read, "
		       "%llu written back%s\n",
		       (unsigned long long)c[0], (unsigned long long)c[1], (unsigned long long)c[2],
		       (unsigned long long)c[3],
		       __atomic_load_n(&s->swap_area, __ATOMIC_RELAXED) ? " (an active swap area)"
									: "");
}

/* The daemon's watchdog (watchdog.h): stalls so far, and the one going on. */
static void print_watchdog(const struct ublk_stats_shm *s, bool json)
{
	uint64_t stalls = __atomic_load_n(&s->stalls, __ATOMIC_RELAXED);
	uint64_t stalled_ns = __atomic_load_n(&s->stalled_ns, __ATOMIC_RELAXED);
	unsigned queue = __atomic_load_n(&s->stalled_queue, __ATOMIC_RELAXED);
	unsigned inflight = __atomic_load_n(&s->stalled_inflight, __ATOMIC_RELAXED);

	if (json) {
		printf(", \"stalls\": %llu, \"stalled\": ", (unsigned long long)stalls);
		if (stalled_ns)
			printf("{\"queue\": %u, \"ns\": %llu, \"inflight\": %u}", queue,
			       (unsigned long long)stalled_ns, inflight);
		else
			printf("null");
	} else if (stalled_ns) {
		printf("STALLED: queue %u has finished no request for %.0f s with %u in flight "
		       "(%llu stalls so far; see README, \"Swap under memory pressure\")\n",
		       queue, (double)stalled_ns / 1e9, inflight, (unsigned long long)stalls);
	} else if (stalls) {
		printf("stalls: %llu so far, none now\n", (unsigned long long)stalls);
	}
}

int cmd_stats(int argc, char **argv)
{
	uint32_t dev_id = UBLK_DEV_ID_NONE;
	bool json = false;
	int ret = ctl_parse_view_args(argc, argv, "stats", stats_usage, &dev_id, &json);
	const struct ublk_stats_shm *s;
	uint64_t inflight = 0, max_inflight = 0;
	size_t size;

	if (ret >= 0)
		return ret;
	if (dev_id == UBLK_DEV_ID_NONE)
		return ctl_usage_error("stats: which device? (-n ID)");
	s = ctl_map_stats("stats", dev_id, &size);
	if (!s)
		return EXIT_FAILURE;
	for (unsigned q = 0; q < s->nr_queues; q++) {
		inflight += __atomic_load_n(&s->q[q].inflight, __ATOMIC_RELAXED);
		max_inflight += __atomic_load_n(&s->q[q].max_inflight, __ATOMIC_RELAXED);
	}
	if (json)
		printf("{\"id\": %u, \"queues\": %u, \"depth\": %u, \"inflight\": %llu, "
		       "\"max_inflight\": %llu, \"target_bytes\": %llu, \"recoveries\": %llu, "
		       "\"ops\": {",
		       dev_id, s->nr_queues, s->depth, (unsigned long long)inflight,
		       (unsigned long long)max_inflight, (unsigned long long)s->target_bytes,
		       (unsigned long long)s->recoveries);
	else
		printf("device /dev/ublkb%u: %u queues x %u, in flight %llu (at most %llu), target "
		       "holds %llu KiB, %llu recoveries\n"
		       "%-13s %10s %14s %8s %10s %10s %10s\n",
		       dev_id, s->nr_queues, s->depth, (unsigned long long)inflight,
		       (unsigned long long)max_inflight,
		       (unsigned long long)(s->target_bytes >> 10),
		       (unsigned long long)s->recoveries, "OP", "COUNT", "BYTES", "ERRORS",
		       "P50(us)", "P99(us)", "P99.9(us)");
	for (enum ublk_stat_op op = 0; op < UBLK_STAT_OPS; op++) {
		struct ublk_op_stats sum;

		ublk_stats_sum(s, op, &sum);
		uint64_t p50 = ublk_stats_percentile(&sum, 500);
		uint64_t p99 = ublk_stats_percentile(&sum, 990);
		uint64_t p999 = ublk_stats_percentile(&sum, 999);

		if (json)
			printf("%s\"%s\": {\"count\": %llu, \"bytes\": %llu, \"errors\": %llu, "
			       "\"p50_ns\": %llu, \"p99_ns\": %llu, \"p999_ns\": %llu}",
			       op ? ", " : "", ublk_stat_op_name(op), (unsigned long long)sum.count,
			       (unsigned long long)sum.bytes, (unsigned long long)sum.errors,
			       (unsigned long long)p50, (unsigned long long)p99,
			       (unsigned long long)p999);
		else
			printf("%-13s %10llu %14llu %8llu %10.1f %10.1f %10.1f\n",
			       ublk_stat_op_name(op), (unsigned long long)sum.count,
			       (unsigned long long)sum.bytes, (unsigned long long)sum.errors,
			       (double)p50 / 1e3, (double)p99 / 1e3, (double)p999 / 1e3);
	}
	if (json)
		printf("}");
	print_origin(s, json);
	print_watchdog(s, json);
	ctl_print_redundancy(s, json);
	ctl_print_moved(s, json);
	ctl_print_hint_totals(s, json);
	if (json)
		printf("}\n");
	munmap((void *)s, size);
	return 0;
}
