/* nodes.c — `ublk-ctl nodes`: a remote device's pool of memory nodes, and the redundancy line
 * that `list` and `stats` show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ctl.h"
#include "remote.h"
#include "stats.h"
#include "targets.h"

static const char nodes_usage[] =
	"Usage: ublk-ctl nodes -n ID [--json]\n"
	"\n"
	"Shows the memory nodes of a remote device: each node's address and transport, its state\n"
	"(up; down: unreachable, its copies are skipped and reads go to the others; resyncing:\n"
	"up, with copies that missed writes being brought up to date; draining: its copies are\n"
	"moving to the other nodes, see 'ublk-ctl node remove'; removed: drained, it holds\n"
	"nothing; unused: it holds none of the device's slabs), the slabs it holds a copy of\n"
	"and how many of those are stale, the bytes it holds for the device, and what the\n"
	"queues sent it: page reads and writes, errors (of which BADSEAL: pages that came back\n"
	"altered, replayed or another page's, and were refused) and the 99th percentile of a\n"
	"page copy's round trip. A read whose copy has not answered within twice that (at least 5 "
	"ms) is\n"
	"also sent to another fresh copy (hedged); the first answer wins.\n"
	"\n"
	"The first line says how redundant the device is: full (every slab has all its copies),\n"
	"degraded (some slabs have fewer fresh copies than --replicas, and no node that is up is\n"
	"being resynced), or rebuilding (copies being brought up to date: done/total).\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device, by id or by name (add --name); required\n"
	"      --json       one JSON object\n"
	"  -h, --help       this text\n";

static const char *state_name(uint32_t st)
{
	static const char *const names[] = {
		[UBLK_NODE_UNUSED] = "unused",     [UBLK_NODE_UP] = "up",
		[UBLK_NODE_DOWN] = "down",         [UBLK_NODE_RESYNCING] = "resyncing",
		[UBLK_NODE_DRAINING] = "draining", [UBLK_NODE_REMOVED] = "removed",
	};
	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

const char *ctl_redundancy(const struct ublk_stats_shm *s)
{
	const struct ublk_pool_stats *p = &s->pool;

	if (!__atomic_load_n(&p->nnodes, __ATOMIC_RELAXED))
		return NULL;
	if (!__atomic_load_n(&p->degraded, __ATOMIC_RELAXED))
		return "full";
	for (unsigned n = 0; n < p->nnodes && n < UBLK_POOL_NODES; n++)
		if (__atomic_load_n(&p->node_state[n], __ATOMIC_RELAXED) == UBLK_NODE_RESYNCING)
			return "rebuilding";
	return "degraded";
}

void ctl_print_redundancy(const struct ublk_stats_shm *s, bool json)
{
	const struct ublk_pool_stats *p = &s->pool;
	const char *state = ctl_redundancy(s);
	unsigned long long degraded = __atomic_load_n(&p->degraded, __ATOMIC_RELAXED);
	unsigned long long total = __atomic_load_n(&p->rebuild_total, __ATOMIC_RELAXED);
	unsigned long long done = __atomic_load_n(&p->rebuild_done, __ATOMIC_RELAXED);

	unsigned long long hedges = 0, wins = 0;

	if (!state)
		return;
	for (unsigned q = 0; q < s->nr_queues; q++) {
		hedges += __atomic_load_n(&s->q[q].hedges, __ATOMIC_RELAXED);
		wins += __atomic_load_n(&s->q[q].hedge_wins, __ATOMIC_RELAXED);
	}
	if (json) {
		printf(", \"pool\": {\"nodes\": %u, \"replicas\": %u, \"slabs\": %llu, "
		       "\"slab_bytes\": %llu, \"redundancy\": \"%s\", \"degraded\": %llu, "
		       "\"rebuild_total\": %llu, \"rebuild_done\": %llu, \"resync_pages\": %llu, "
		       "\"resynced\": %llu, \"lost_pages\": %llu, \"copies_moved\": %llu, "
		       "\"copies_drained\": %llu, \"hedges\": %llu, \"hedge_wins\": %llu}",
		       p->nnodes, p->replicas, (unsigned long long)p->slabs,
		       (unsigned long long)p->slab_bytes, state, degraded, total, done,
		       (unsigned long long)p->resync_pages, (unsigned long long)p->resynced,
		       (unsigned long long)p->lost_pages, (unsigned long long)p->moved,
		       (unsigned long long)p->drained, hedges, wins);
		return;
	}
	printf("pool: %u nodes, %u copies of every page, %llu slabs of %llu MiB: %s", p->nnodes,
	       p->replicas, (unsigned long long)p->slabs, (unsigned long long)(p->slab_bytes >> 20),
	       state);
	if (degraded)
		printf(" (%llu slabs below %u fresh copies", degraded, p->replicas);
	if (degraded && total)
		printf("; rebuilt %llu of %llu copies", done, total);
	if (degraded)
		printf(")");
	if (p->lost_pages)
		printf("; %llu pages lost with a restarted node",
		       (unsigned long long)p->lost_pages);
	if (p->moved)
		printf("; %llu copies of nodes gone past the grace made anew",
		       (unsigned long long)p->moved);
	if (p->drained)
		printf("; %llu copies moved off drained nodes", (unsigned long long)p->drained);
	if (hedges)
		printf("; %llu slow reads hedged, %llu answered by the second copy", hedges, wins);
	printf("\n");
}

int ctl_load_remote(const char *cmd, uint32_t dev_id, struct ublk_dev_conf *conf)
{
	if (ublk_conf_load(dev_id, conf, ublk_targets) < 0)
		return ctl_error("%s: no record of device %u", cmd, dev_id), -1;
	if (conf->ops != &ublk_target_remote)
		return ctl_error("%s: device %u is a %s device: only remote devices have memory "
				 "nodes",
				 cmd, dev_id, conf->target),
		       -1;
	return 0;
}

int cmd_nodes(int argc, char **argv)
{
	uint32_t dev_id = UBLK_DEV_ID_NONE;
	bool json = false;
	int ret = ctl_parse_view_args(argc, argv, "nodes", nodes_usage, &dev_id, &json);
	struct ublk_dev_conf conf;
	const struct ublk_stats_shm *s;
	size_t size;

	if (ret >= 0)
		return ret;
	if (dev_id == UBLK_DEV_ID_NONE)
		return ctl_usage_error("nodes: which device? (-n ID)");
	if (ctl_load_remote("nodes", dev_id, &conf) < 0)
		return EXIT_FAILURE;
	s = ctl_map_stats("nodes", dev_id, &size);
	if (!s)
		return EXIT_FAILURE;
	const struct remote_conf *rc = remote_conf(&conf);
	const struct ublk_pool_stats *p = &s->pool;

	if (!ctl_redundancy(s)) {
		munmap((void *)s, size);
		return ctl_error("nodes: device %u's daemon has not described its pool yet",
				 dev_id);
	}
	if (json)
		printf("{\"id\": %u", dev_id);
	else
		printf("device /dev/ublkb%u\n", dev_id);
	ctl_print_redundancy(s, json);
	if (json)
		printf(", \"nodes\": [");
	else
		printf("%-4s %-32s %-9s %-10s %6s %6s %10s %10s %10s %7s %7s %9s\n", "NODE", "URL",
		       "TRANSPORT", "STATE", "SLABS", "STALE", "HELD(MiB)", "READS", "WRITES",
		       "ERRORS", "BADSEAL", "P99(us)");
	for (unsigned n = 0; n < rc->nnodes && n < UBLK_POOL_NODES; n++) {
		struct ublk_node_io_stats io;
		uint32_t slabs = __atomic_load_n(&p->node_slabs[n], __ATOMIC_RELAXED);
		uint64_t held = (uint64_t)slabs * p->slab_bytes;
		const char *url = rc->node[n], *state;
		char transport[8];

		ublk_stats_node_sum(s, n, &io);
		state = state_name(__atomic_load_n(&p->node_state[n], __ATOMIC_RELAXED));
		snprintf(transport, sizeof(transport), "%.*s", (int)strcspn(url, ":"), url);
		uint64_t p99 = ublk_stats_lat_percentile(io.lat, 990);

		if (json)
			printf("%s{\"index\": %u, \"url\": \"%s\", \"transport\": \"%s\", "
			       "\"state\": \"%s\", \"slabs\": %u, \"stale\": %u, \"bytes\": %llu, "
			       "\"reads\": %llu, \"writes\": %llu, \"errors\": %llu, "
			       "\"bad_seals\": %llu, \"p99_ns\": %llu}",
			       n ? ", " : "", n, url, transport, state, slabs,
			       __atomic_load_n(&p->node_stale[n], __ATOMIC_RELAXED),
			       (unsigned long long)held, (unsigned long long)io.reads,
			       (unsigned long long)io.writes, (unsigned long long)io.errors,
			       (unsigned long long)io.bad_seals, (unsigned long long)p99);
		else
			printf("%-4u %-32s %-9s %-10s %6u %6u %10llu %10llu %10llu %7llu %7llu "
			       "%9.1f\n",
			       n, url, transport, state, slabs,
			       __atomic_load_n(&p->node_stale[n], __ATOMIC_RELAXED),
			       (unsigned long long)(held >> 20), (unsigned long long)io.reads,
			       (unsigned long long)io.writes, (unsigned long long)io.errors,
			       (unsigned long long)io.bad_seals, (double)p99 / 1e3);
	}
	if (json)
		printf("]}\n");
	munmap((void *)s, size);
	return 0;
}
