/* Unit tests: the remote target (ublk-server/targets/remote.c) against real memnodes over TCP
 * on 127.0.0.1 (one, or a pool of three), driven the way a queue thread drives it: requests with
 * per-tag buffers, the queue's watch polled until they complete. Unit-level stand-ins, through the
 * linker's --wrap: ublk_req_done (no driver here: the result is recorded), hint_service_all_whole
 * and slot_resolve (a test decides which pages are hinted, with which masks, and when the hint
 * thread's resolution finishes). The memnode binary comes from $LINESWAP_MEMNODE. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "queue.h"
#include "pool_map.h"
#include "raw_client.h"
#include "remote.h"
#include "remote_admin.h"
#include "remote_pool.h"
#include "slot_resolver.h"
#include "targets.h"

#define SECRET "s3cret-for-target-tests"
#define PAGES  64
#define DEPTH  4
#define MAX_IO (8 * UBLK_PAGE_SIZE)
#define NO_RES 1000 /* not a request result */

#define NODES 3

static pid_t node_pid[NODES];
static int node_port[NODES];
static char run_dir[64];

/* The stand-ins' state. */
static int req_res[DEPTH];
static bool force_batches;        /* writes wait for the hint thread even with no client */
static uint64_t hint_mask[PAGES]; /* what the "resolver" says of each slot */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool hold_resolution, in_resolution;

void __wrap_ublk_req_done(struct ublk_req *req, int res)
{
	req->q->inflight--;
	req_res[req->tag] = res;
}

bool __real_hint_service_all_whole(const void *s);
bool __wrap_hint_service_all_whole(const void *s)
{
	return !force_batches && __real_hint_service_all_whole(s);
}

void __wrap_slot_resolve(struct hint_server *s, struct slot_resolver *r, int swap_type,
			 const uint64_t *slots, size_t n, uint64_t *masks, int *owner,
			 uint64_t deadline_ns, struct slot_resolve_stats *st)
{
	(void)s, (void)r, (void)swap_type, (void)deadline_ns, (void)st;
	pthread_mutex_lock(&hold_lock);
	in_resolution = true;
	pthread_cond_broadcast(&hold_cond);
	while (hold_resolution)
		pthread_cond_wait(&hold_cond, &hold_lock);
	in_resolution = false;
	pthread_mutex_unlock(&hold_lock);
	for (size_t i = 0; i < n; i++) {
		masks[i] = slots[i] < PAGES ? hint_mask[slots[i]] : LINES_WHOLE;
		owner[i] = -1;
	}
}

/* Starts memnode i on 127.0.0.1:node_port[i] (0: any port, remembered for a restart). */
static void start_node(unsigned i)
{
	const char *bin = getenv("LINESWAP_MEMNODE");
	char line[256] = "", listen[64];
	int out[2];

	assert_non_null(bin);
	assert_int_equal(pipe(out), 0);
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", node_port[i]);
	node_pid[i] = fork();
	assert_true(node_pid[i] >= 0);
	if (node_pid[i] == 0) {
		dup2(out[1], STDOUT_FILENO);
		setenv("LINESWAP_SECRET", SECRET, 1);
		execl(bin, bin, "--size", "5M", "--listen", listen, "--json", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");

	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	char *p = strstr(line, "\"listening\": \"tcp://127.0.0.1:");

	assert_non_null(p);
	node_port[i] = atoi(p + strlen("\"listening\": \"tcp://127.0.0.1:"));
	assert_true(node_port[i] > 0);
}

/* Stops node i: SIGTERM, or SIGKILL (no goodbye on any connection). */
static void stop_node(unsigned i, int sig)
{
	kill(node_pid[i], sig);
	waitpid(node_pid[i], NULL, 0);
	node_pid[i] = 0;
}

struct fixture {
	int watch; /* the queue's watch fd, from queue_open */
	struct ublk_dev_conf conf;
	struct ublk_stats_shm *stats;
	struct ublk_target t;
	struct ublk_queue q;
	struct ublk_req req[DEPTH];
};

static int group_setup(void **state)
{
	(void)state;
	snprintf(run_dir, sizeof(run_dir), "/tmp/lineswap-remote-XXXXXX");
	assert_non_null(mkdtemp(run_dir));
	setenv("LINESWAP_RUN_DIR", run_dir, 1);
	setenv("LINESWAP_SECRET", SECRET, 1);
	for (unsigned i = 0; i < NODES; i++)
		start_node(i);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NODES; i++)
		if (node_pid[i])
			stop_node(i, SIGTERM);
	return rmdir(run_dir); /* every test left nothing behind */
}

/* A device as `ublk-ctl add -t remote --node tcp://127.0.0.1:PORT ...` makes it, over the
 * first `nodes` nodes with `replicas` copies and slabs of SLAB_PAGES; every node is running. */
#define SLAB_PAGES 16

static struct fixture *new_device(unsigned nodes, unsigned replicas, uint64_t pages)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct ublk_target_ops *ops = &ublk_target_remote;
	char node[64], err[256], count[8];

	for (unsigned i = 0; i < NODES; i++)
		if (!node_pid[i])
			start_node(i);
	f->conf = (struct ublk_dev_conf){ .dev_id = 7,
					  .target = "remote",
					  .ops = ops,
					  .size = pages * UBLK_PAGE_SIZE,
					  .nr_queues = 1,
					  .depth = DEPTH,
					  .max_io_bytes = MAX_IO };
	snprintf(f->conf.store, sizeof(f->conf.store), "%s/entries", run_dir);
	ops->init_conf(&f->conf);
	for (const struct option *o = ops->options; o->name; o++) {
		if (!strcmp(o->name, "node"))
			for (unsigned i = 0; i < nodes; i++) {
				snprintf(node, sizeof(node), "tcp://127.0.0.1:%d", node_port[i]);
				assert_int_equal(
					ops->parse_option(&f->conf, o->val, node, err, sizeof(err)),
					0);
			}
		if (!strcmp(o->name, "replicas")) {
			snprintf(count, sizeof(count), "%u", replicas);
			assert_int_equal(
				ops->parse_option(&f->conf, o->val, count, err, sizeof(err)), 0);
		}
	}
	assert_int_equal(ops->finish_conf(&f->conf, err, sizeof(err)), 0);
	if (nodes > 1) /* below the option's least, for a device of a few pages */
		remote_conf(&f->conf)->slab_bytes = SLAB_PAGES * UBLK_PAGE_SIZE;
	remote_conf(&f->conf)->timeout_ms = 1000;
	f->stats = calloc(1, ublk_stats_size(1));
	f->t = (struct ublk_target){ .ops = ops,
				     .conf = &f->conf,
				     .nr_pages = pages,
				     .store_path = f->conf.store,
				     .stats = f->stats };
	f->q = (struct ublk_queue){ .depth = DEPTH,
				    .max_io_bytes = MAX_IO,
				    .nr_pages = pages,
				    .target = &f->t,
				    .stats = &f->stats->q[0] };
	f->q.bufs = aligned_alloc(UBLK_PAGE_SIZE, DEPTH * MAX_IO);
	f->q.reqs = f->req;
	for (uint16_t tag = 0; tag < DEPTH; tag++)
		f->req[tag] = (struct ublk_req){ .q = &f->q, .tag = tag };
	force_batches = false;
	for (unsigned i = 0; i < PAGES; i++)
		hint_mask[i] = LINES_WHOLE;
	return f;
}

static int open_device(void **state, struct fixture *f)
{
	const struct ublk_target_ops *ops = f->conf.ops;

	*state = f;
	if (ops->open(&f->t, false) < 0) {
		fprintf(stderr, "open: %s\n", f->t.error);
		return -1;
	}
	return f->t.ops->queue_open(&f->t, &f->q) >= 0 ? 0 : -1;
}

static int setup(void **state)
{
	return open_device(state, new_device(1, 1, PAGES));
}

/* Three nodes, two copies of every page. */
static int setup_pool(void **state)
{
	return open_device(state, new_device(3, 2, PAGES));
}

/* The same with a slab a page (64 slabs) and a 4 s I/O timeout: a handshake with no answer
 * then fails after 2 s, longer than the keeper's retry. */
static int setup_pool_of_page_slabs(void **state)
{
	struct fixture *f = new_device(3, 2, PAGES);

	remote_conf(&f->conf)->slab_bytes = UBLK_PAGE_SIZE;
	remote_conf(&f->conf)->timeout_ms = 4000;
	return open_device(state, f);
}

static void close_target(struct fixture *f, bool keep)
{
	if (f->q.target_ctx)
		f->t.ops->queue_close(&f->t, &f->q);
	if (f->t.priv)
		f->t.ops->close(&f->t, keep);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	for (unsigned i = 0; i < NODES; i++) /* a failed test may leave one paused */
		if (node_pid[i])
			kill(node_pid[i], SIGCONT);
	close_target(f, false);
	/* Deleting frees everything: the entries and the secret file are gone. */
	assert_int_equal(access(f->conf.store, F_OK), -1);
	snprintf(path, sizeof(path), "%s/ublk7.secret", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/ublk7.key", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/ublk7.pool", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	free(f->q.bufs);
	free(f->stats);
	free(f);
	return 0;
}

static uint8_t *tag_buf(struct fixture *f, uint16_t tag)
{
	return f->q.bufs + (size_t)tag * MAX_IO;
}

/* Issues one request on `tag` and polls the queue's watch until it is done; its result. */
static int io(struct fixture *f, uint16_t tag, uint8_t op, uint64_t page, uint32_t n)
{
	struct ublk_req *req = &f->req[tag];
	uint64_t deadline = monotonic_ns() + 10000000000ull;
	int ret;

	req->op = op;
	req->page = page;
	req->nr_pages = n;
	req_res[tag] = NO_RES;
	f->q.inflight++;
	ret = op == UBLK_IO_OP_READ ? f->t.ops->read_pages(&f->t, req)
				    : f->t.ops->write_pages(&f->t, req);
	if (ret != UBLK_REQ_QUEUED) {
		f->q.inflight--;
		return ret;
	}
	while (req_res[tag] == NO_RES) {
		assert_true(monotonic_ns() < deadline);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(1000);
	}
	return req_res[tag];
}

static void fill(uint8_t *buf, uint64_t page, uint32_t n, uint8_t salt)
{
	for (uint32_t p = 0; p < n; p++)
		for (size_t i = 0; i < UBLK_PAGE_SIZE; i++)
			buf[p * UBLK_PAGE_SIZE + i] = (uint8_t)((page + p) * 131 + i * 7 + salt);
}

/* An entry of 0 (never written) reads as zeros without asking the node. */
static void test_unwritten_reads_zeros(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat st;

	/* The device's key and the node's secret: only root may read them. */
	snprintf(path, sizeof(path), "%s/ublk7.key", run_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, AUTH_KEY);
	snprintf(path, sizeof(path), "%s/ublk7.secret", run_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	memset(tag_buf(f, 0), 0xee, MAX_IO);
	assert_int_equal(io(f, 0, UBLK_IO_OP_READ, 3, 8), 0);
	for (size_t i = 0; i < MAX_IO; i++)
		assert_int_equal(tag_buf(f, 0)[i], 0);
	assert_int_equal(f->q.stats->get.pages, 0);
}

static void test_whole_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t want[MAX_IO];

	fill(tag_buf(f, 1), 20, 8, 5);
	assert_int_equal(io(f, 1, UBLK_IO_OP_WRITE, 20, 8), 0);
	memset(tag_buf(f, 2), 0xee, MAX_IO);
	assert_int_equal(io(f, 2, UBLK_IO_OP_READ, 20, 8), 0);
	fill(want, 20, 8, 5);
	assert_memory_equal(tag_buf(f, 2), want, MAX_IO);
	assert_int_equal(f->q.stats->put.pages, 8);
	assert_int_equal(f->q.stats->put.hinted_pages, 0);
	assert_int_equal(f->q.stats->put.bytes, 8 * (UBLK_PAGE_SIZE + PROTO_SEAL_TAG));
}

/* A hinted page moves its live lines and lines 0 and 1, and reads back with those lines and
 * zeros elsewhere; the node saw only those bytes. */
static void test_hinted_round_trip(void **state)
{
	struct fixture *f = *state;
	const uint64_t mask = 0xf0f0000000000f30ull; /* lines 4, 5, 8-11, ... ; not 0 and 1 */
	uint8_t want[UBLK_PAGE_SIZE];

	force_batches = true;
	hint_mask[9] = mask;
	fill(tag_buf(f, 0), 9, 1, 3);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 9, 1), 0);
	fill(want, 9, 1, 3);
	for (unsigned line = 0; line < PAGE_LINES; line++)
		if (!((mask | LINES_ALWAYS) >> line & 1))
			memset(want + line * LINE_SIZE, 0, LINE_SIZE);
	memset(tag_buf(f, 1), 0xee, MAX_IO);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 9, 1), 0);
	assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
	assert_int_equal(f->q.stats->put.hinted_pages, 1);
	assert_int_equal(f->q.stats->put.bytes,
			 __builtin_popcountll(mask | LINES_ALWAYS) * LINE_SIZE + PROTO_SEAL_TAG);
	assert_int_equal(f->q.stats->get.bytes, f->q.stats->put.bytes);
}

static void *map_pool(struct fixture *f, struct pool_map *m, size_t *size);

/* What a node's operator (or an attacker on the wire) could do to node n's copy of a whole
 * page at node page `at`, in a region of `bytes`: flip one bit of it. The region is reached as
 * the device reaches it (its key, read from the key file). */
static void tamper(struct fixture *f, unsigned n, uint64_t bytes, uint64_t at)
{
	uint8_t key[AUTH_KEY], slot[PROTO_SLOT_SIZE];
	struct page_store_conf c;
	struct raw_client raw;
	char path[128];
	FILE *file;

	snprintf(path, sizeof(path), "%s/ublk7.key", run_dir);
	file = fopen(path, "r");
	assert_non_null(file);
	assert_int_equal(fread(key, 1, AUTH_KEY, file), AUTH_KEY);
	fclose(file);
	assert_int_equal(remote_store_conf(&f->conf, remote_conf(&f->conf), n, bytes, 0, &c), 0);
	assert_int_equal(raw_open_id(&raw, "127.0.0.1", node_port[n], SECRET, PROTO_ATTACH, bytes,
				     c.region, key),
			 PROTO_OK);
	assert_int_equal(raw_get(&raw, at, PROTO_SLOT_SIZE, slot), PROTO_OK);
	slot[2000] ^= 0x10;
	assert_int_equal(raw_put(&raw, at, PROTO_SLOT_SIZE, slot), PROTO_OK);
	close(raw.fd);
}

/* A page whose copy the node altered reads as an error, never as the altered bytes, and
 * counts as a bad seal on that node; written again, it is served again. */
static void test_tampered_page_is_an_error(void **state)
{
	struct fixture *f = *state;
	uint8_t want[UBLK_PAGE_SIZE];

	fill(tag_buf(f, 0), 5, 1, 4);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 5, 1), 0);
	tamper(f, 0, f->conf.size, 5);
	memset(tag_buf(f, 1), 0xee, UBLK_PAGE_SIZE);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 5, 1), -EIO);
	assert_int_equal(f->q.stats->node[0].bad_seals, 1);
	fill(tag_buf(f, 0), 5, 1, 6);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 5, 1), 0);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 5, 1), 0);
	fill(want, 5, 1, 6);
	assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
}

/* In a pool, a read that finds its first copy altered goes on to the other: the page reads
 * right, and the altered copy counts as a bad seal on its node. */
static void test_pool_reads_past_a_tampered_copy(void **state)
{
	struct fixture *f = *state;
	uint8_t want[UBLK_PAGE_SIZE];
	struct pool_map m;
	size_t size;
	void *mem;

	fill(tag_buf(f, 0), 20, 1, 3);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 20, 1), 0);
	mem = map_pool(f, &m, &size);
	uint64_t s = 20 / SLAB_PAGES;
	uint32_t place = pool_map_place_of(&m, s, 0); /* the copy an idle queue reads first */
	unsigned n = pool_place_node(place);
	uint64_t bytes = (uint64_t)m.h->region_slots[n] * m.h->slab_bytes;

	tamper(f, n, bytes, ((uint64_t)pool_place_slot(place) * SLAB_PAGES) + 20 % SLAB_PAGES);
	munmap(mem, size);
	memset(tag_buf(f, 1), 0xee, UBLK_PAGE_SIZE);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 20, 1), 0);
	fill(want, 20, 1, 3);
	assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
	/* A slow node's bad answer may come after a hedge to the other copy has won: polled for. */
	uint64_t deadline = monotonic_ns() + 5000000000ull;

	while (!f->q.stats->node[n].bad_seals && monotonic_ns() < deadline) {
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(1000);
	}
	assert_int_equal(f->q.stats->node[n].bad_seals, 1);
}

/* A node that restarts has lost the device's region: the pages stored before read as an error
 * (never as zeros), and pages written after the reconnection are served again. */
static void test_node_restart_loses_pages(void **state)
{
	struct fixture *f = *state;
	uint8_t want[UBLK_PAGE_SIZE];
	uint64_t deadline;

	fill(tag_buf(f, 0), 1, 1, 7);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 1, 1), 0);
	stop_node(0, SIGTERM);
	start_node(0); /* same port */
	/* Until the queue has noticed and reconnected, requests fail with EIO. */
	deadline = monotonic_ns() + 20000000000ull;
	fill(tag_buf(f, 1), 5, 1, 8);
	while (io(f, 1, UBLK_IO_OP_WRITE, 5, 1) != 0) {
		assert_true(monotonic_ns() < deadline);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(100 * 1000);
		fill(tag_buf(f, 1), 5, 1, 8);
	}
	assert_int_equal(io(f, 2, UBLK_IO_OP_READ, 1, 1), -EIO);
	assert_int_equal(io(f, 2, UBLK_IO_OP_READ, 5, 1), 0);
	fill(want, 5, 1, 8);
	assert_memory_equal(tag_buf(f, 2), want, UBLK_PAGE_SIZE);
	/* Written again, the lost page is served again. */
	fill(tag_buf(f, 0), 1, 1, 9);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 1, 1), 0);
	assert_int_equal(io(f, 2, UBLK_IO_OP_READ, 1, 1), 0);
	fill(want, 1, 1, 9);
	assert_memory_equal(tag_buf(f, 2), want, UBLK_PAGE_SIZE);
}

/* Recovery of a truncated entries file is refused with a message (mapping it would kill the
 * daemon with SIGBUS at the first entry past its end); at its right size it recovers, pages
 * and all. */
static void test_recover_truncated_entries(void **state)
{
	struct fixture *f = *state;
	uint8_t want[UBLK_PAGE_SIZE];

	fill(tag_buf(f, 0), PAGES - 1, 1, 2);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, PAGES - 1, 1), 0);
	close_target(f, true);
	/* The versions and the counter (the half truncation loses), to put back. */
	uint64_t size = remote_entry_file_size(PAGES), tail[PAGES + 1];
	FILE *file = fopen(f->conf.store, "r+");

	assert_non_null(file);
	assert_int_equal(fseek(file, PAGES * sizeof(uint64_t), SEEK_SET), 0);
	assert_int_equal(fread(tail, sizeof(uint64_t), PAGES + 1, file), PAGES + 1);
	fclose(file);
	assert_int_equal(truncate(f->conf.store, (off_t)size / 2), 0);
	assert_int_equal(f->t.ops->open(&f->t, true), -EINVAL);
	assert_non_null(strstr(f->t.error, "truncated"));
	assert_null(f->t.priv);
	/* Left as it was, and nothing else was touched: the region is still on the node. */
	assert_int_equal(truncate(f->conf.store, (off_t)size), 0);
	uint64_t entry = LINES_WHOLE;

	file = fopen(f->conf.store, "r+");
	assert_non_null(file);
	assert_int_equal(fseek(file, (PAGES - 1) * sizeof(uint64_t), SEEK_SET), 0);
	assert_int_equal(fwrite(&entry, sizeof(entry), 1, file), 1); /* the lost half */
	assert_int_equal(fwrite(tail, sizeof(uint64_t), PAGES + 1, file), PAGES + 1);
	fclose(file);
	assert_int_equal(f->t.ops->open(&f->t, true), 0);
	assert_true(f->t.ops->queue_open(&f->t, &f->q) >= 0);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, PAGES - 1, 1), 0);
	fill(want, PAGES - 1, 1, 2);
	assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
}

/* A queue closed while the hint thread holds one of its writes returns at once, and its
 * requests' memory stays valid until the hint thread has handed the write back (ASan sees a
 * use after free otherwise). */
static void test_queue_close_while_hint_thread_holds(void **state)
{
	struct fixture *f = *state;

	force_batches = true;
	pthread_mutex_lock(&hold_lock);
	hold_resolution = true;
	pthread_mutex_unlock(&hold_lock);
	fill(tag_buf(f, 0), 2, 4, 1);
	f->req[0] = (struct ublk_req){
		.q = &f->q, .tag = 0, .op = UBLK_IO_OP_WRITE, .page = 2, .nr_pages = 4
	};
	assert_int_equal(f->t.ops->write_pages(&f->t, &f->req[0]), UBLK_REQ_QUEUED);
	pthread_mutex_lock(&hold_lock);
	while (!in_resolution)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);

	uint64_t start = monotonic_ns();

	f->t.ops->queue_close(&f->t, &f->q);
	assert_true(monotonic_ns() - start < 1000000000ull);
	assert_null(f->q.target_ctx);
	usleep(100 * 1000);
	pthread_mutex_lock(&hold_lock);
	hold_resolution = false;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
	/* Close waits for the hint thread, which hands the batch back into the queue's state. */
	f->t.ops->close(&f->t, false);
}

/* The device's pool map as the daemon keeps it (ublk7.pool), mapped for a look. */
static void *map_pool(struct fixture *f, struct pool_map *m, size_t *size)
{
	char path[128], err[200];
	int fd;
	void *mem;

	snprintf(path, sizeof(path), "%s/ublk7.pool", run_dir);
	*size = pool_map_size(f->conf.size / remote_conf(&f->conf)->slab_bytes);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	mem = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(pool_map_attach(mem, *size, f->conf.size, NODES, m, err, sizeof(err)), 0);
	return mem;
}

static uint64_t degraded(struct fixture *f)
{
	struct pool_map m;
	size_t size;
	void *mem = map_pool(f, &m, &size);
	uint64_t n = pool_map_degraded(&m);

	munmap(mem, size);
	return n;
}

/* Member r of slab s: its node, and whether it is stale. */
static unsigned member_node(struct fixture *f, uint64_t s, unsigned r, bool *stale)
{
	struct pool_map m;
	size_t size;
	void *mem = map_pool(f, &m, &size);
	unsigned n = pool_map_node(&m, s, r);

	if (stale)
		*stale = pool_map_is_stale(&m, s, r);
	munmap(mem, size);
	return n;
}

/* How many of slabs [from, to) have a copy on node n (a slab's copies are on distinct nodes). */
static uint64_t slabs_on(struct fixture *f, unsigned n, uint64_t from, uint64_t to)
{
	struct pool_map m;
	size_t size;
	void *mem = map_pool(f, &m, &size);
	uint64_t k = 0;

	for (uint64_t s = from; s < to && s < m.h->nslabs; s++)
		for (unsigned r = 0; r < m.h->replicas; r++)
			k += pool_map_node(&m, s, r) == n;
	munmap(mem, size);
	return k;
}

/* Polls the queue (so it takes the keeper's new links) until `want` slabs are degraded. */
static void wait_degraded(struct fixture *f, uint64_t want)
{
	uint64_t deadline = monotonic_ns() + 30000000000ull;

	while (degraded(f) != want) {
		assert_true(monotonic_ns() < deadline);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(20 * 1000);
	}
}

/* Writes (or reads and checks) every page of the device, 8 at a time. */
static void write_all(struct fixture *f, uint8_t salt)
{
	for (uint64_t p = 0; p < PAGES; p += 8) {
		fill(tag_buf(f, 0), p, 8, salt);
		assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, p, 8), 0);
	}
}

static void check_all(struct fixture *f, uint8_t salt)
{
	uint8_t want[MAX_IO];

	for (uint64_t p = 0; p < PAGES; p += 8) {
		memset(tag_buf(f, 1), 0xee, MAX_IO);
		assert_int_equal(io(f, 1, UBLK_IO_OP_READ, p, 8), 0);
		fill(want, p, 8, salt);
		assert_memory_equal(tag_buf(f, 1), want, MAX_IO);
	}
}

/* A pool of three with two copies: a node killed (no goodbye) loses no page, writes go on to
 * the copies that are left; restarted empty, it is refilled (no slab below two copies), and
 * then another node may die too. */
static void test_pool_survives_node_kills(void **state)
{
	struct fixture *f = *state;
	unsigned x = member_node(f, 0, 0, NULL), y;
	/* The placement's random choice: one slab at the least. */
	uint64_t held = slabs_on(f, x, 0, PAGES / SLAB_PAGES);

	write_all(f, 1);
	assert_int_equal(f->q.stats->put.pages, 2 * PAGES); /* every page twice */
	stop_node(x, SIGKILL);
	check_all(f, 1);
	write_all(f, 2);
	check_all(f, 2);
	assert_true(degraded(f) > 0); /* the copies on x missed the writes */
	start_node(x);                /* empty, same port */
	wait_degraded(f, 0);
	/* What `ublk-ctl nodes` shows: the copies refilled, each node's traffic and errors. */
	assert_true(f->stats->pool.resynced > 0);
	assert_true(f->stats->pool.resync_pages >= SLAB_PAGES);
	assert_int_equal(f->stats->pool.nnodes, NODES);
	assert_true(f->stats->q[0].node[x].errors > 0);
	assert_true(f->stats->q[0].node[x].writes >= held * SLAB_PAGES); /* each of its pages */
	y = member_node(f, 0, 1, NULL);
	stop_node(y, SIGKILL);
	check_all(f, 2);
	/* The other slabs on y too: every page is still there. */
	for (uint64_t s = 0; s < PAGES / SLAB_PAGES; s++)
		assert_true(member_node(f, s, 0, NULL) != y || member_node(f, s, 1, NULL) != y);
}

/* A copy that missed a write (its node paused past the I/O timeout) is stale: when the only
 * fresh copy dies, its page fails to read, and never comes back with the old data. */
static void test_pool_stale_copy_never_read(void **state)
{
	struct fixture *f = *state;
	unsigned a = member_node(f, 0, 0, NULL), b = member_node(f, 0, 1, NULL);
	bool stale;

	write_all(f, 1);
	kill(node_pid[b], SIGSTOP);
	write_all(f, 2); /* b's copies time out: the writes succeed on the others */
	member_node(f, 0, 1, &stale);
	assert_true(stale);
	stop_node(a, SIGKILL);
	kill(node_pid[b], SIGCONT);
	for (unsigned i = 0; i < 3; i++) { /* the keeper has no fresh copy to resync from */
		memset(tag_buf(f, 1), 0xee, MAX_IO);
		assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 0, 8), -EIO);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(50 * 1000);
	}
}

/* A stale copy is brought up to date once its node is back, and then serves the newest data
 * when the other copy dies. */
static void test_pool_resync_then_fail_over(void **state)
{
	struct fixture *f = *state;
	unsigned a = member_node(f, 0, 0, NULL), b = member_node(f, 0, 1, NULL);

	write_all(f, 1);
	kill(node_pid[b], SIGSTOP);
	write_all(f, 2);
	assert_true(degraded(f) > 0);
	kill(node_pid[b], SIGCONT);
	wait_degraded(f, 0);
	stop_node(a, SIGKILL);
	check_all(f, 2);
}

/* A write comes while the queue has no link to a node whose copy is fresh (refilled after a
 * restart, its new link not yet taken) and the other copy's node is paused: when the paused
 * copy times out, the link is back, and the write goes to it instead of failing (the timeout
 * used up the request's own). */
static void test_pool_write_resent_to_a_link_back(void **state)
{
	struct fixture *f = *state;
	unsigned a = member_node(f, 0, 0, NULL), b = member_node(f, 0, 1, NULL);
	uint64_t deadline = monotonic_ns() + 30000000000ull;
	bool stale;

	write_all(f, 1);
	stop_node(a, SIGKILL);
	for (unsigned i = 0; i < 5; i++) { /* the queue sees its link drop */
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(50 * 1000);
	}
	start_node(a); /* empty, same port: the keeper refills it on its own links */
	do {
		assert_true(monotonic_ns() < deadline);
		usleep(20 * 1000);
	} while (__atomic_load_n(&f->stats->pool.resynced, __ATOMIC_RELAXED) == 0 ||
		 degraded(f) != 0);
	kill(node_pid[b], SIGSTOP);
	fill(tag_buf(f, 0), 0, 8, 2);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 0, 8), 0);
	member_node(f, 0, 1, &stale);
	assert_true(stale); /* b missed it */
	kill(node_pid[b], SIGCONT);
	stop_node(b, SIGKILL);
	memset(tag_buf(f, 1), 0xee, MAX_IO);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 0, 8), 0);
	uint8_t want[MAX_IO];

	fill(want, 0, 8, 2);
	assert_memory_equal(tag_buf(f, 1), want, MAX_IO);
}

/* Sends `ublk-ctl node` request op for node i's URL through the admin file, polling the queue
 * (and calling `between` on each round) until the keeper answers; the answer's status. */
static int admin_request(struct fixture *f, uint32_t op, unsigned i,
			 void (*between)(struct fixture *))
{
	char path[128];
	uint64_t deadline = monotonic_ns() + 60000000000ull;
	int fd, status;

	snprintf(path, sizeof(path), "%s/ublk7.admin", run_dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct remote_admin *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	close(fd);
	assert_true(a != MAP_FAILED);
	assert_int_equal(a->magic, REMOTE_ADMIN_MAGIC);
	uint32_t number = a->request + 1;

	a->op = op;
	snprintf(a->url, sizeof(a->url), "tcp://127.0.0.1:%d", node_port[i]);
	__atomic_store_n(&a->request, number, __ATOMIC_RELEASE);
	while (__atomic_load_n(&a->answered, __ATOMIC_ACQUIRE) != number) {
		assert_true(monotonic_ns() < deadline);
		if (between)
			between(f);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(between ? 500 : 5 * 1000);
	}
	status = a->status;
	munmap(a, sizeof(*a));
	return status;
}

/* A device of 8 slabs of two write-counter chunks each, so that writes race a move's copies:
 * a write to a chunk already copied must reach the incoming copy. */
#define DRAIN_SLAB  (2 * REMOTE_CHUNK_PAGES)
#define DRAIN_PAGES (8 * DRAIN_SLAB)
static uint8_t drain_salt[DRAIN_PAGES]; /* what each page holds */
static unsigned drain_writes, drain_incoming_writes;

/* A write while a node drains, and the pool never below two fresh copies: to the first chunk
 * of a slab being moved (its copy done, most likely, while the second's goes on), else to the
 * next 8 pages in turn. */
static void write_while_draining(struct fixture *f)
{
	struct pool_map m;
	size_t size;
	void *mem = map_pool(f, &m, &size);
	uint64_t page = (uint64_t)drain_writes * 8 % DRAIN_PAGES;
	unsigned member;
	uint32_t place;

	assert_int_equal(pool_map_degraded(&m), 0);
	for (uint64_t s = 0; s < m.h->nslabs; s++)
		if (pool_map_incoming(&m, s, &member, &place)) {
			page = s * DRAIN_SLAB + drain_incoming_writes++ % 8 * 8;
			break;
		}
	munmap(mem, size);
	fill(tag_buf(f, 0), page, 8, 5);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, page, 8), 0);
	memset(&drain_salt[page], 5, 8);
	drain_writes++;
}

/* `ublk-ctl node add` then `node remove`: a pool of two nodes gets a third, then one of the
 * first two drains while writes go on. Its copies move to the new node without a slab ever
 * below two fresh copies; it ends holding nothing, its region freed; with both old nodes
 * killed then, the new one holds every page, the writes made during the drain included. */
static void test_pool_node_add_then_drain(void **state)
{
	struct fixture *f = new_device(2, 2, DRAIN_PAGES);
	uint8_t want[MAX_IO];
	char path[128];

	(void)state;
	remote_conf(&f->conf)->slab_bytes = DRAIN_SLAB * UBLK_PAGE_SIZE;
	assert_int_equal(f->t.ops->open(&f->t, false), 0);
	assert_true(f->t.ops->queue_open(&f->t, &f->q) >= 0);
	for (uint64_t p = 0; p < DRAIN_PAGES; p += 8) {
		fill(tag_buf(f, 0), p, 8, 1);
		assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, p, 8), 0);
	}
	/* Two nodes for two copies: neither may leave. */
	assert_int_equal(admin_request(f, REMOTE_ADMIN_REMOVE, 0, NULL), -ENOSPC);
	assert_int_equal(admin_request(f, REMOTE_ADMIN_REMOVE, 2, NULL), -ENOENT);
	assert_int_equal(admin_request(f, REMOTE_ADMIN_ADD, 2, NULL), 0);
	assert_int_equal(admin_request(f, REMOTE_ADMIN_ADD, 2, NULL), -EEXIST);
	assert_int_equal(f->stats->pool.nnodes, 3);
	/* Saved in the record, for a recovery. */
	struct ublk_dev_conf saved;

	assert_int_equal(ublk_conf_load(7, &saved, ublk_targets), 0);
	assert_int_equal(remote_conf(&saved)->nnodes, 3);
	drain_writes = drain_incoming_writes = 0;
	memset(drain_salt, 1, sizeof(drain_salt));
	assert_int_equal(admin_request(f, REMOTE_ADMIN_REMOVE, 0, write_while_draining), 0);
	print_message("%u writes during the drain, %u of them to a slab being moved\n",
		      drain_writes, drain_incoming_writes);
	assert_true(drain_incoming_writes > 0);
	for (uint64_t s = 0; s < DRAIN_PAGES / DRAIN_SLAB; s++)
		for (unsigned r = 0; r < 2; r++)
			assert_int_not_equal(member_node(f, s, r, NULL), 0);
	assert_int_equal(f->stats->pool.node_state[0], UBLK_NODE_REMOVED);
	assert_int_equal(f->stats->pool.node_slabs[0], 0);
	assert_int_equal(f->stats->pool.drained, DRAIN_PAGES / DRAIN_SLAB);
	assert_int_equal(degraded(f), 0);
	stop_node(0, SIGKILL);
	stop_node(1, SIGKILL);
	for (uint64_t p = 0; p < DRAIN_PAGES; p++) {
		memset(tag_buf(f, 1), 0xee, UBLK_PAGE_SIZE);
		assert_int_equal(io(f, 1, UBLK_IO_OP_READ, p, 1), 0);
		fill(want, p, 1, drain_salt[p]);
		assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
	}
	teardown((void **)&f);
	snprintf(path, sizeof(path), "%s/ublk7.conf", run_dir);
	assert_int_equal(unlink(path), 0);
}

/* `ublk-ctl node remove` of a node that died: its copies serve no read (they missed writes),
 * so they move as re-replication moves one and the resync refills them from the others; the
 * node ends removed (its region could not be freed: it is gone), every slab has two fresh
 * copies again, and another node may die then. */
static void test_pool_drain_dead_node(void **state)
{
	struct fixture *f = *state;
	unsigned x = member_node(f, 0, 0, NULL), y = member_node(f, 0, 1, NULL);

	write_all(f, 1);
	stop_node(x, SIGKILL);
	write_all(f, 2); /* x's copies miss these */
	assert_true(degraded(f) > 0);
	assert_int_equal(admin_request(f, REMOTE_ADMIN_REMOVE, x, NULL), 0);
	assert_int_equal(f->stats->pool.node_state[x], UBLK_NODE_REMOVED);
	for (uint64_t s = 0; s < PAGES / SLAB_PAGES; s++)
		for (unsigned r = 0; r < 2; r++)
			assert_int_not_equal(member_node(f, s, r, NULL), x);
	wait_degraded(f, 0);
	stop_node(y, SIGKILL);
	check_all(f, 2);
}

/* kill -9 of the daemon while degraded: a recovered daemon keeps the placement and the stale
 * marks, and still never reads a stale copy. */
static void test_pool_recover_keeps_stale_marks(void **state)
{
	struct fixture *f = *state;
	unsigned a = member_node(f, 0, 0, NULL), b = member_node(f, 0, 1, NULL);
	bool stale;

	write_all(f, 1);
	kill(node_pid[b], SIGSTOP);
	write_all(f, 2);
	close_target(f, true);
	stop_node(a, SIGKILL);
	kill(node_pid[b], SIGCONT);
	assert_int_equal(f->t.ops->open(&f->t, true), 0);
	assert_true(f->t.ops->queue_open(&f->t, &f->q) >= 0);
	assert_int_equal(member_node(f, 0, 0, NULL), a);
	member_node(f, 0, 1, &stale);
	assert_true(stale);
	assert_int_equal(io(f, 1, UBLK_IO_OP_READ, 0, 8), -EIO);
}

/* A read that waits for its node (the link is down) while the node restarts empty fails: the
 * new region's zeros are never passed off as the page. */
static void test_parked_read_after_restart(void **state)
{
	struct fixture *f = new_device(1, 1, PAGES);
	struct ublk_req *req = &f->req[1];
	uint64_t deadline;

	(void)state;
	remote_conf(&f->conf)->timeout_ms = 8000; /* the wait outlasts the restart */
	assert_int_equal(f->t.ops->open(&f->t, false), 0);
	assert_true(f->t.ops->queue_open(&f->t, &f->q) >= 0);
	fill(tag_buf(f, 0), 1, 1, 4);
	assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, 1, 1), 0);
	stop_node(0, SIGKILL);
	for (unsigned i = 0; i < 5; i++) { /* the queue sees its link drop */
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(50 * 1000);
	}
	*req = (struct ublk_req){
		.q = &f->q, .tag = 1, .op = UBLK_IO_OP_READ, .page = 1, .nr_pages = 1
	};
	req_res[1] = NO_RES;
	f->q.inflight++;
	assert_int_equal(f->t.ops->read_pages(&f->t, req), UBLK_REQ_QUEUED); /* it waits */
	start_node(0);                                                       /* empty, same port */
	deadline = monotonic_ns() + 20000000000ull;
	while (req_res[1] == NO_RES) {
		assert_true(monotonic_ns() < deadline);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(10 * 1000);
	}
	assert_int_equal(req_res[1], -EIO);
	teardown((void **)&f);
}

/* A read whose copy's node stops answering (paused: no error, no close) is hedged to the other
 * copy after twice the p99 of a page copy, long before the I/O timeout; the paused node's late
 * answer is ignored (and forgotten: store_tcp's test forget shows where its data goes). */
static void test_pool_hedges_a_silent_node(void **state)
{
	struct fixture *f = new_device(3, 2, PAGES);
	uint8_t want[UBLK_PAGE_SIZE];
	unsigned a;
	uint64_t start;

	(void)state;
	remote_conf(&f->conf)->timeout_ms = 8000;
	remote_conf(&f->conf)->slab_bytes = SLAB_PAGES * UBLK_PAGE_SIZE;
	assert_int_equal(f->t.ops->open(&f->t, false), 0);
	f->watch = f->t.ops->queue_open(&f->t, &f->q);
	assert_true(f->watch >= 0);
	write_all(f, 6);
	a = member_node(f, 0, 0, NULL); /* both idle: a read goes to member 0 first */
	kill(node_pid[a], SIGSTOP);
	/* Like a queue thread: it polls only when its watch says so (or at its 100 ms tick). */
	struct ublk_req *req = &f->req[1];
	*req = (struct ublk_req){
		.q = &f->q, .tag = 1, .op = UBLK_IO_OP_READ, .page = 0, .nr_pages = 1
	};
	req_res[1] = NO_RES;
	f->q.inflight++;
	start = monotonic_ns();
	assert_int_equal(f->t.ops->read_pages(&f->t, req), UBLK_REQ_QUEUED);
	while (req_res[1] == NO_RES) {
		struct pollfd pfd = { .fd = f->watch, .events = POLLIN };

		assert_true(monotonic_ns() - start < 2000000000ull);
		/* Woken by the hedge timer and then the answer, never by the tick: a second's wait
		 * (not the tick's 100 ms) so that a loaded machine's late wake-up is no failure. */
		assert_true(poll(&pfd, 1, 1000) > 0);
		f->t.ops->queue_poll(&f->t, &f->q);
	}
	assert_int_equal(req_res[1], 0);
	fill(want, 0, 1, 6);
	assert_memory_equal(tag_buf(f, 1), want, UBLK_PAGE_SIZE);
	assert_int_equal(f->stats->q[0].hedges, 1);
	assert_int_equal(f->stats->q[0].hedge_wins, 1);
	kill(node_pid[a], SIGCONT);
	for (unsigned i = 0; i < 30; i++) { /* the late answer comes, and is ignored */
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(10 * 1000);
	}
	/* The page copy that answered counts where it went; the loser, answered late, not. */
	assert_int_equal(f->stats->q[0].node[member_node(f, 0, 1, NULL)].reads, 1);
	assert_int_equal(f->stats->q[0].node[a].reads, 0);
	check_all(f, 6);
	teardown((void **)&f);
}

/* Polls the queue until `ublk-ctl nodes` shows `want` stale copies on node n, or `seconds`
 * have passed; returns what it shows then. */
static uint64_t wait_shown_stale(struct fixture *f, unsigned n, uint64_t want, unsigned seconds)
{
	uint64_t deadline = monotonic_ns() + seconds * 1000000000ull, shown;

	while ((shown = __atomic_load_n(&f->stats->pool.node_stale[n], __ATOMIC_RELAXED)) != want &&
	       monotonic_ns() < deadline) {
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(50 * 1000);
	}
	return shown;
}

/* A silent node (paused: its kernel takes connections that are never answered) costs the
 * keeper one connect timeout a retry period, not one a stale copy on it: while the keeper
 * tries to resync the copies that missed the first half of the writes, what `ublk-ctl nodes`
 * shows still catches up with those that missed the second half within seconds (the keeper
 * took a try a stale copy before it looked again: 2 s each, over 40 s for the ~21 here). */
static void test_pool_silent_node_shown_stale(void **state)
{
	struct fixture *f = *state;
	uint64_t first, all, shown_first = 0, shown_all;
	unsigned b;

	write_all(f, 1);
	b = member_node(f, 0, 1, NULL);
	first = slabs_on(f, b, 0, PAGES / 2);
	all = slabs_on(f, b, 0, PAGES);
	assert_true(all > first && first > 0); /* copies missing each half's writes */
	kill(node_pid[b], SIGSTOP);
	for (uint64_t p = 0; p < PAGES; p += 8) { /* every copy on b misses it */
		if (p == PAGES / 2)
			shown_first = wait_shown_stale(f, b, first, 10);
		fill(tag_buf(f, 0), p, 8, 2);
		assert_int_equal(io(f, 0, UBLK_IO_OP_WRITE, p, 8), 0);
	}
	shown_all = wait_shown_stale(f, b, all, 6);
	kill(node_pid[b], SIGCONT); /* before any assertion: the next tests need the node */
	assert_int_equal(shown_first, first);
	assert_int_equal(shown_all, all);
	wait_degraded(f, 0);
	check_all(f, 2);
}

/* A node gone past the grace: its copies are made anew on the other nodes (in their regions'
 * spare slots), so the pool is back to two copies without it, and a second node may die too:
 * every page is still there, on the one node left. */
static void test_pool_rereplicates(void **state)
{
	struct fixture *f = new_device(3, 2, PAGES);
	unsigned x, y;

	(void)state;
	remote_conf(&f->conf)->slab_bytes = SLAB_PAGES * UBLK_PAGE_SIZE;
	remote_conf(&f->conf)->grace_s = 1;
	assert_int_equal(f->t.ops->open(&f->t, false), 0);
	assert_true(f->t.ops->queue_open(&f->t, &f->q) >= 0);
	write_all(f, 3);
	x = member_node(f, 0, 0, NULL);
	y = member_node(f, 0, 1, NULL);
	stop_node(x, SIGKILL);
	/* The keeper sees x down (its slabs degraded), then moves and refills their copies. */
	uint64_t deadline = monotonic_ns() + 30000000000ull;

	while (__atomic_load_n(&f->stats->pool.node_state[x], __ATOMIC_RELAXED) != UBLK_NODE_DOWN ||
	       __atomic_load_n(&f->stats->pool.degraded, __ATOMIC_RELAXED) != 0) {
		assert_true(monotonic_ns() < deadline);
		f->t.ops->queue_poll(&f->t, &f->q);
		usleep(20 * 1000);
	}
	assert_true(f->stats->pool.moved > 0);
	for (uint64_t s = 0; s < PAGES / SLAB_PAGES; s++)
		for (unsigned r = 0; r < 2; r++)
			assert_int_not_equal(member_node(f, s, r, NULL), x);
	write_all(f, 4); /* to the moved copies too */
	stop_node(y, SIGKILL);
	check_all(f, 4);
	teardown((void **)&f);
}

/* A pool that cannot hold every copy is refused at open, saying what is missing, and leaves
 * nothing behind: three nodes of 5 MiB cannot hold three copies of 8 MiB. */
static void test_pool_without_room(void **state)
{
	struct fixture *f = new_device(3, 3, 2048);
	char path[128];

	(void)state;
	assert_int_equal(f->t.ops->open(&f->t, false), -ENOSPC);
	assert_non_null(strstr(f->t.error, "have room for"));
	assert_null(f->t.priv);
	snprintf(path, sizeof(path), "%s/ublk7.pool", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(f->conf.store, F_OK), -1);
	snprintf(path, sizeof(path), "%s/ublk7.secret", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/ublk7.key", run_dir);
	assert_int_equal(access(path, F_OK), -1);
	free(f->q.bufs);
	free(f->stats);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unwritten_reads_zeros, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hinted_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_restart_loses_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_page_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_reads_past_a_tampered_copy, setup_pool,
						teardown),
		cmocka_unit_test_setup_teardown(test_recover_truncated_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_close_while_hint_thread_holds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_survives_node_kills, setup_pool,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_stale_copy_never_read, setup_pool,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_resync_then_fail_over, setup_pool,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_recover_keeps_stale_marks, setup_pool,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_write_resent_to_a_link_back, setup_pool,
						teardown),
		cmocka_unit_test(test_pool_without_room),
		cmocka_unit_test(test_parked_read_after_restart),
		cmocka_unit_test(test_pool_hedges_a_silent_node),
		cmocka_unit_test_setup_teardown(test_pool_silent_node_shown_stale,
						setup_pool_of_page_slabs, teardown),
		cmocka_unit_test(test_pool_rereplicates),
		cmocka_unit_test(test_pool_node_add_then_drain),
		cmocka_unit_test_setup_teardown(test_pool_drain_dead_node, setup_pool, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("target_remote", tests, group_setup, group_teardown);
}
