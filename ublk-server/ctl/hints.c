/* hints.c — what hints saved: the bytes moved to and from the memory node against whole
 * pages (part of `ublk-ctl stats`), the hint service's totals, and `ublk-ctl hints`. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "ctl.h"
#include "stats.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static const char hints_usage[] =
	"Usage: ublk-ctl hints -n ID [--json]\n"
	"\n"
	"Lists the processes registered with device ID's hint socket (programs running with\n"
	"LD_PRELOAD=libmimalloc-hint.so; see 'ublk-ctl add --help'): client id, pid, uid,\n"
	"command, the capacity of its hint ring, records it published, records refused, records\n"
	"it dropped because its ring was full (overflows) and the resyncs they caused, forks;\n"
	"what its allocator holds committed (HEAP-MIB, as the process reports it, resident or\n"
	"not), and of that what is in pages without a free bitmap, which always move whole\n"
	"(NO-BITMAP, MiB: blocks over 128 KiB by default); all its anonymous memory, resident or\n"
	"swapped out (ANON-MIB, from /proc/PID/status; in mmap mode the heap is the device's\n"
	"range, not anonymous memory);\n"
	"the 4 KiB pages it has reduced as the server knows them (REDUCED) and the share of their\n"
	"64-byte lines that are live (LIVE%: a swap-out of such a page moves its live lines and\n"
	"its first 128 bytes; low is good); the daemon's memory its ring and that knowledge hold\n"
	"(KiB), the written pages attributed to it, and the 64-byte lines those writes did not\n"
	"move. Every other page moves whole: of the heap, the pages without a bitmap, and at most\n"
	"HEAP-MIB less those and the reduced pages (dead lines not published yet, free memory the\n"
	"allocator keeps), and at least ANON-MIB less HEAP-MIB (stacks, other allocators'\n"
	"memory); --json gives these page counts (not_reduced: no_bitmap_pages, heap_pages,\n"
	"other_pages; shared: true when they all move whole because the process forked).\n"
	"STATE is 'ok', 'sharing' (it forked and a child may share its pages: they move whole)\n"
	"or 'unsure' (a record was half-written at the last read).\n"
	"MODE is 'swap' (its pages are found through its page map when they are swapped out) or\n"
	"'mmap' (LINESWAP_ARENA: its heap is a range of the device, RANGE in MiB, whose pages\n"
	"it masks by offset), 'claiming' (granted a range not yet found mapped) or 'frozen' (it\n"
	"forked: its heap goes on copy-on-write over the range, whose pages now move whole).\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device, by id or by name (add --name); required\n"
	"      --json       one JSON object\n"
	"  -h, --help       this text\n";

static void sum_moves(const struct ublk_stats_shm *s, bool put, struct ublk_move_stats *sum)
{
	*sum = (struct ublk_move_stats){ 0 };
	for (unsigned q = 0; q < s->nr_queues; q++) {
		const struct ublk_move_stats *m = put ? &s->q[q].put : &s->q[q].get;

		sum->pages += LOAD(m->pages);
		sum->hinted_pages += LOAD(m->hinted_pages);
		sum->bytes += LOAD(m->bytes);
	}
}

void ctl_print_moved(const struct ublk_stats_shm *s, bool json)
{
	for (int put = 1; put >= 0; put--) {
		struct ublk_move_stats m;

		sum_moves(s, put, &m);
		uint64_t whole = m.pages * 4096;
		double ratio = whole ? (double)m.bytes / (double)whole : 0;

		if (json)
			printf("%s\"%s\": {\"pages\": %llu, \"hinted_pages\": %llu, \"bytes\": "
			       "%llu, "
			       "\"whole_bytes\": %llu}%s",
			       put ? ", \"moved\": {" : ", ", put ? "put" : "get",
			       (unsigned long long)m.pages, (unsigned long long)m.hinted_pages,
			       (unsigned long long)m.bytes, (unsigned long long)whole,
			       put ? "" : "}");
		else
			printf("%s %s: %llu pages (%llu by hints), %llu bytes = %.3fx whole pages "
			       "(%.0f bytes a page)\n",
			       put ? "moved" : "     ",
			       put ? "to the node (PUT)  " : "from the node (GET)",
			       (unsigned long long)m.pages, (unsigned long long)m.hinted_pages,
			       (unsigned long long)m.bytes, ratio,
			       m.pages ? (double)m.bytes / (double)m.pages : 0.0);
	}
}

/* The latency (ns) below which permille/1000 of the resolver's waits fall. */
static uint64_t wait_percentile(const struct ublk_hint_stats *h, unsigned permille)
{
	struct ublk_op_stats o = { 0 };

	for (unsigned b = 0; b < UBLK_LAT_BUCKETS; b++) {
		o.lat[b] = LOAD(h->round_lat[b]);
		o.count += o.lat[b];
	}
	return ublk_stats_percentile(&o, permille);
}

void ctl_print_hint_totals(const struct ublk_stats_shm *s, bool json)
{
	const struct ublk_hint_stats *h = &s->hints;
	unsigned long long slots = LOAD(h->slots), resolved = LOAD(h->resolved);
	double rate = slots ? 100.0 * (double)resolved / (double)slots : 0;

	if (json) {
		printf(", \"hints\": {\"enabled\": %s, \"clients\": %u, \"registrations\": %llu, "
		       "\"refused\": %llu, \"dropped\": %llu, \"records\": %llu, "
		       "\"rejected\": %llu, \"overflows\": %llu, \"resyncs\": %llu, "
		       "\"lines_saved\": %llu, \"memory_bytes\": %llu, \"memory_cap_bytes\": %llu, "
		       "\"resolver_memory_bytes\": %llu, "
		       "\"not_kept\": %llu, \"resolver\": {\"slots\": %llu, \"resolved\": %llu, "
		       "\"shared\": %llu, \"late\": %llu, \"scanned\": %llu, \"walked\": %llu, "
		       "\"resolve_ns\": %llu, \"by_offset\": %llu, \"rounds\": %llu, "
		       "\"wait_p50_ns\": %llu, \"wait_p99_ns\": %llu}}",
		       LOAD(h->enabled) ? "true" : "false", LOAD(h->nclients),
		       (unsigned long long)LOAD(h->registrations),
		       (unsigned long long)LOAD(h->refused), (unsigned long long)LOAD(h->dropped),
		       (unsigned long long)LOAD(h->records), (unsigned long long)LOAD(h->rejected),
		       (unsigned long long)LOAD(h->overflows), (unsigned long long)LOAD(h->resyncs),
		       (unsigned long long)LOAD(h->lines_saved),
		       (unsigned long long)LOAD(h->memory), (unsigned long long)LOAD(h->memory_cap),
		       (unsigned long long)LOAD(h->resolver_memory),
		       (unsigned long long)LOAD(h->not_kept), slots, resolved,
		       (unsigned long long)LOAD(h->shared), (unsigned long long)LOAD(h->late),
		       (unsigned long long)LOAD(h->scanned), (unsigned long long)LOAD(h->walked),
		       (unsigned long long)LOAD(h->resolve_ns),
		       (unsigned long long)LOAD(h->by_offset), (unsigned long long)LOAD(h->rounds),
		       (unsigned long long)wait_percentile(h, 500),
		       (unsigned long long)wait_percentile(h, 990));
		return;
	}
	if (!LOAD(h->enabled)) {
		printf("hints: off (every page moves whole)\n");
		return;
	}
	printf("hints: %u clients now, %llu registrations (%llu refused, %llu dropped); %llu ring "
	       "records (%llu rejected), %llu overflows, %llu resyncs; %llu lines (%llu KiB) not "
	       "moved\n"
	       "hint memory: %llu KiB of %llu KiB (--hint-memory) in rings and views, %llu KiB in "
	       "the resolver's buffers; %llu page reductions not kept (a view or a cap full: those "
	       "pages move whole)\n"
	       "resolver: %llu written pages, %llu attributed to a client (%.1f%%), %llu shared, "
	       "%llu left whole at the hold time; %llu pagemap entries read, %llu pages walked by "
	       "PAGEMAP_SCAN, %.1f ms resolving in %llu rounds; %llu pages of mmap-mode ranges "
	       "masked by offset; a write waited %.1f ms (p50), %.1f ms (p99)\n",
	       LOAD(h->nclients), (unsigned long long)LOAD(h->registrations),
	       (unsigned long long)LOAD(h->refused), (unsigned long long)LOAD(h->dropped),
	       (unsigned long long)LOAD(h->records), (unsigned long long)LOAD(h->rejected),
	       (unsigned long long)LOAD(h->overflows), (unsigned long long)LOAD(h->resyncs),
	       (unsigned long long)LOAD(h->lines_saved),
	       (unsigned long long)(LOAD(h->lines_saved) * 64 >> 10),
	       (unsigned long long)(LOAD(h->memory) >> 10),
	       (unsigned long long)(LOAD(h->memory_cap) >> 10),
	       (unsigned long long)(LOAD(h->resolver_memory) >> 10),
	       (unsigned long long)LOAD(h->not_kept), slots, resolved, rate,
	       (unsigned long long)LOAD(h->shared), (unsigned long long)LOAD(h->late),
	       (unsigned long long)LOAD(h->scanned), (unsigned long long)LOAD(h->walked),
	       (double)LOAD(h->resolve_ns) / 1e6, (unsigned long long)LOAD(h->rounds),
	       (unsigned long long)LOAD(h->by_offset), (double)wait_percentile(h, 500) / 1e6,
	       (double)wait_percentile(h, 990) / 1e6);
}

static const char *client_mode(uint32_t flags)
{
	return !(flags & UBLK_HINT_CLIENT_ARENA)     ? "swap"
	       : !(flags & UBLK_HINT_CLIENT_CLAIMED) ? "claiming"
	       : flags & UBLK_HINT_CLIENT_FROZEN     ? "frozen"
						     : "mmap";
}

static const char *client_state(uint32_t flags)
{
	return flags & UBLK_HINT_CLIENT_SHARING  ? "sharing"
	       : flags & UBLK_HINT_CLIENT_UNSURE ? "unsure"
						 : "ok";
}

int cmd_hints(int argc, char **argv)
{
	uint32_t dev_id = UBLK_DEV_ID_NONE;
	bool json = false;
	int ret = ctl_parse_view_args(argc, argv, "hints", hints_usage, &dev_id, &json);
	const struct ublk_stats_shm *s;
	size_t size;

	if (ret >= 0)
		return ret;
	if (dev_id == UBLK_DEV_ID_NONE)
		return ctl_usage_error("hints: which device? (-n ID)");
	s = ctl_map_stats("hints", dev_id, &size);
	if (!s)
		return EXIT_FAILURE;
	const struct ublk_hint_stats *h = &s->hints;
	unsigned n = LOAD(h->nclients);

	if (n > UBLK_HINT_CLIENTS_SHOWN)
		n = UBLK_HINT_CLIENTS_SHOWN;
	if (json)
		printf("{\"id\": %u, \"enabled\": %s, \"clients\": [", dev_id,
		       LOAD(h->enabled) ? "true" : "false");
	else if (!LOAD(h->enabled))
		printf("device %u serves no hints (added with --no-hints, or not a remote "
		       "device)\n",
		       dev_id);
	else
		printf("%-6s %-8s %-6s %-15s %-8s %-8s %-13s %8s %12s %9s %9s %8s %6s %9s %9s "
		       "%9s %10s %6s %9s %10s %12s\n",
		       "CLIENT", "PID", "UID", "COMMAND", "STATE", "MODE", "RANGE", "RING",
		       "RECORDS", "REJECTED", "OVERFLOWS", "RESYNCS", "FORKS", "HEAP-MIB",
		       "NO-BITMAP", "ANON-MIB", "REDUCED", "LIVE%", "MEM-KIB", "RESOLVED",
		       "LINES-SAVED");
	for (unsigned i = 0; i < n; i++) {
		struct ublk_hint_client_stats c = h->client[i];

		c.comm[sizeof(c.comm) - 1] = 0;
		for (char *p = c.comm; *p; p++)
			if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
				*p = '?'; /* a process names itself: never let it break the output
					   */
		char range[32] = "-", live[16] = "-";

		if (c.flags & UBLK_HINT_CLIENT_ARENA)
			snprintf(range, sizeof(range), "%llu+%llu",
				 (unsigned long long)(c.arena_offset >> 20),
				 (unsigned long long)(c.arena_bytes >> 20));
		if (c.view_pages)
			snprintf(live, sizeof(live), "%.1f",
				 100.0 * (double)c.live_lines / (double)(c.view_pages * 64));
		uint64_t heap_pages = c.heap_bytes >> 12, anon_pages = c.anon_bytes >> 12;
		/* both figures are the client's, read at different moments: never more than all */
		uint64_t no_bitmap =
			c.whole_bytes >> 12 < heap_pages ? c.whole_bytes >> 12 : heap_pages;
		uint64_t reducible = heap_pages > no_bitmap ? heap_pages - no_bitmap : 0;
		uint64_t heap_whole = reducible > c.view_pages ? reducible - c.view_pages : 0;
		uint64_t other = anon_pages > heap_pages ? anon_pages - heap_pages : 0;
		if (json)
			printf("%s{\"client\": %u, \"pid\": %d, \"uid\": %u, \"command\": \"%s\", "
			       "\"state\": \"%s\", \"mode\": \"%s\", \"arena_offset\": %llu, "
			       "\"arena_bytes\": %llu, \"ring_records\": %llu, \"records\": %llu, "
			       "\"rejected\": %llu, \"overflows\": %llu, \"resyncs\": %llu, "
			       "\"forks\": %llu, \"heap_bytes\": %llu, \"anon_bytes\": %llu, "
			       "\"whole_bytes\": %llu, \"reduced_pages\": %llu, \"live_lines\": "
			       "%llu, "
			       "\"not_reduced\": {\"no_bitmap_pages\": %llu, \"heap_pages\": %llu, "
			       "\"other_pages\": %llu, \"shared\": %s}, "
			       "\"memory_bytes\": %llu, "
			       "\"pages_resolved\": "
			       "%llu, "
			       "\"lines_saved\": %llu, \"bytes_saved\": %llu}",
			       i ? ", " : "", c.id, c.pid, c.uid, c.comm, client_state(c.flags),
			       client_mode(c.flags), (unsigned long long)c.arena_offset,
			       (unsigned long long)c.arena_bytes,
			       (unsigned long long)c.ring_records, (unsigned long long)c.records,
			       (unsigned long long)c.rejected, (unsigned long long)c.overflows,
			       (unsigned long long)c.resyncs, (unsigned long long)c.forks,
			       (unsigned long long)c.heap_bytes, (unsigned long long)c.anon_bytes,
			       (unsigned long long)c.whole_bytes, (unsigned long long)c.view_pages,
			       (unsigned long long)c.live_lines, (unsigned long long)no_bitmap,
			       (unsigned long long)heap_whole, (unsigned long long)other,
			       c.flags & (UBLK_HINT_CLIENT_SHARING | UBLK_HINT_CLIENT_FROZEN)
				       ? "true"
				       : "false",
			       (unsigned long long)c.memory, (unsigned long long)c.pages_resolved,
			       (unsigned long long)c.lines_saved,
			       (unsigned long long)c.lines_saved * 64);
		else
			printf("%-6u %-8d %-6u %-15s %-8s %-8s %-13s %8llu %12llu %9llu %9llu "
			       "%8llu "
			       "%6llu %9llu %9llu %9llu %10llu %6s %9llu %10llu %12llu\n",
			       c.id, c.pid, c.uid, c.comm, client_state(c.flags),
			       client_mode(c.flags), range, (unsigned long long)c.ring_records,
			       (unsigned long long)c.records, (unsigned long long)c.rejected,
			       (unsigned long long)c.overflows, (unsigned long long)c.resyncs,
			       (unsigned long long)c.forks,
			       (unsigned long long)(c.heap_bytes >> 20),
			       (unsigned long long)(c.whole_bytes >> 20),
			       (unsigned long long)(c.anon_bytes >> 20),
			       (unsigned long long)c.view_pages, live,
			       (unsigned long long)(c.memory >> 10),
			       (unsigned long long)c.pages_resolved,
			       (unsigned long long)c.lines_saved);
	}
	if (json)
		printf("]}\n");
	else if (LOAD(h->enabled) && n == 0)
		printf("(no clients registered)\n");
	munmap((void *)s, size);
	return 0;
}
