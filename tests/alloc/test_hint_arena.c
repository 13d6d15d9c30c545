/* Mmap mode, the allocator against a real hint server: this program serves (a file stands for
 * the device) and runs itself again as a client with LINESWAP_ARENA set, whose heap must then
 * be the range it was granted. The client churns its heap (heap_world) and at every pause
 * sends the lines of its live blocks; the server drains its ring and checks, page by page, by
 * device offset as a write would be masked, that every live line is in the mask — the one
 * invariant — and that every live block lies in the range. Then the client forks a snapshot
 * child that checksums a heap array while the client rewrites it: the child must see the heap
 * as it was at the fork, and the server must have frozen the range (whole from then on). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <mimalloc.h>
#include <mimalloc-internal.h>

#include "heap_world.h"
#include "mimalloc-hint.h"
#include "hint_server.h"
#include "page_lines.h"

#define DEVICE_BYTES (8 * ARENA_ALIGN)
#define ROUNDS       8
#define SNAPSHOT     20000 /* blocks the snapshot child checksums */

/* The client's messages on its pipe: a round's live lines, then the fork's outcome. */
struct live_line {
	uint64_t page, lines;
	uint64_t bitmap; /* what the allocator's bitmaps say is live (mi_hint_page_mask) */
};

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k <= 0)
			_exit(3);
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

static bool read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);

		if (k <= 0)
			return false;
		p = (char *)p + k;
		n -= (size_t)k;
	}
	return true;
}

/* ---- the client (run with LINESWAP_ARENA; out: its pipe to the server, in: the acks) ---- */

static void add_block(const struct block *b, void *arg)
{
	mi_segment_t *segment = _mi_ptr_segment(b->p);
	mi_page_t *page = _mi_segment_page_of(segment, b->p);

	page_lines_add_bytes(arg, _mi_page_ptr_unalign(segment, page, b->p),
			     mi_page_block_size(page));
}

static uint64_t checksum(uint64_t **blocks)
{
	uint64_t sum = 0;

	for (int i = 0; i < SNAPSHOT; i++)
		for (int w = 0; w < 6; w++)
			sum = sum * 1099511628211ull + blocks[i][w];
	return sum;
}

/* Forks a child that checksums the array while this process rewrites and frees it; 0 when
 * the child saw the heap as it was at the fork. (mimalloc's own calls: the test links it
 * without overriding malloc.) */
static int snapshot(void)
{
	uint64_t **blocks = mi_malloc(SNAPSHOT * sizeof(*blocks));
	int go[2];

	for (int i = 0; i < SNAPSHOT; i++) {
		blocks[i] = mi_malloc(48);
		for (int w = 0; w < 6; w++)
			blocks[i][w] = (uint64_t)i * 31 + (uint64_t)w;
	}
	uint64_t before = checksum(blocks);

	if (pipe(go) < 0)
		return 10;
	pid_t pid = fork();

	if (pid == 0) {
		char c;

		close(go[1]);
		(void)!read(go[0], &c, 1); /* the parent has rewritten everything */
		_exit(checksum(blocks) == before ? 0 : 11);
	}
	close(go[0]);
	for (int i = 0; i < SNAPSHOT; i++) {
		memset(blocks[i], 0xa5, 48);
		mi_free(blocks[i]);
		blocks[i] = mi_malloc(48); /* likely the same block: the child must not see it */
		memset(blocks[i], 0x5a, 48);
	}
	write_all(go[1], "g", 1);
	int status;

	waitpid(pid, &status, 0);
	for (int i = 0; i < SNAPSHOT; i++)
		if (blocks[i][0] != 0x5a5a5a5a5a5a5a5aull)
			return 12; /* the child changed the parent's heap */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 13;
}

static int client(int out, int in)
{
	struct world_config config = { .threads = 3, .slots = 3000, .steps = 15000, .seed = 11 };
	static struct world w;
	char ack;

	world_start(&w, &config);
	for (int round = 0; round < ROUNDS; round++) {
		struct page_lines live;

		world_round(&w, round % 4 == 3);
		page_lines_init(&live);
		world_for_each_block(&w, add_block, &live);
		uint64_t n = live.count;

		write_all(out, &n, sizeof(n));
		for (size_t j = 0; j < live.cap; j++)
			if (live.page[j]) {
				struct live_line l = { live.page[j], live.lines[j],
						       mi_hint_page_mask((void *)live.page[j]) };

				write_all(out, &l, sizeof(l));
			}
		page_lines_free(&live);
		if (!read_all(in, &ack, 1))
			return 4;
	}
	uint64_t damage = atomic_load(&w.mismatches);

	world_stop(&w);
	int64_t result = damage ? 20 : snapshot();

	write_all(out, &result, sizeof(result));
	return read_all(in, &ack, 1) ? 0 : 4; /* registered until the server has looked */
}

/* ---- the server ---- */

static struct hint_server server;
static struct arena_table arenas;
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;
static char dev_path[64], sock_path[108];

static void *serve(void *arg)
{
	struct pollfd fds[HINT_SERVER_MAX_FDS];

	(void)arg;
	while (!atomic_load(&stopping)) {
		pthread_mutex_lock(&server_lock);
		unsigned n = hint_server_pollfds(&server, fds);
		pthread_mutex_unlock(&server_lock);
		int ready = poll(fds, n, 1);
		pthread_mutex_lock(&server_lock);
		if (ready > 0)
			hint_server_handle(&server, fds, n);
		hint_server_drain(&server, UINT64_MAX);
		pthread_mutex_unlock(&server_lock);
	}
	return NULL;
}

static void test_arena_heap(void **state)
{
	int to_server[2], to_client[2];
	uint64_t checks = 0, lost = 0, reduced = 0, outside = 0, dead = 0, dead_in_bitmap = 0;

	(void)state;
	assert_int_equal(pipe(to_server), 0);
	assert_int_equal(pipe(to_client), 0);
	pid_t pid = fork();

	if (pid == 0) {
		char out[16], in[16];

		snprintf(out, sizeof(out), "%d", to_server[1]);
		snprintf(in, sizeof(in), "%d", to_client[0]);
		setenv("LINESWAP_ARENA", "192M", 1); /* (3 + 3) x 32 MiB: 96M failed ~1 run in 5 */
		setenv("LINESWAP_ARENA_DEVICE", dev_path, 1);
		setenv("LINESWAP_HINTS_SOCKET", sock_path, 1);
		setenv("LINESWAP_HINTS_LOG", "1", 1);
		execl("/proc/self/exe", "test_hint_arena", "client", out, in, (char *)NULL);
		_exit(5);
	}
	close(to_server[1]);
	close(to_client[0]);
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t n;

		assert_true(read_all(to_server[0], &n, sizeof(n)));
		struct live_line *l = malloc(n * sizeof(*l) + 1);

		assert_true(read_all(to_server[0], l, n * sizeof(*l)));
		pthread_mutex_lock(&server_lock);
		hint_server_drain(&server, UINT64_MAX); /* the client is paused: all published */
		assert_int_equal(server.nclients, 1);
		const struct hint_client_conn *c = server.client[0];

		assert_true(c->arena.claimed);
		assert_false(c->unsure);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t mask = 0;

			if (l[i].page < c->arena.base ||
			    l[i].page >= c->arena.base + c->arena.bytes) {
				outside++;
				continue;
			}
			uint64_t dev_page = (c->arena.offset + (l[i].page - c->arena.base)) >> 12;

			assert_int_equal(hint_server_arena_mask(&server, dev_page, &mask), 0);
			checks++;
			lost += (uint64_t)__builtin_popcountll(l[i].lines & ~mask);
			reduced += mask != LINES_WHOLE;
			dead += 64 - (uint64_t)__builtin_popcountll(mask);
			dead_in_bitmap += 64 - (uint64_t)__builtin_popcountll(l[i].bitmap);
		}
		pthread_mutex_unlock(&server_lock);
		free(l);
		assert_int_equal(write(to_client[1], "a", 1), 1);
	}
	int64_t snapshot_result = -1;

	assert_true(read_all(to_server[0], &snapshot_result, sizeof(snapshot_result)));
	pthread_mutex_lock(&server_lock);
	hint_server_drain(&server, UINT64_MAX);
	bool frozen = server.nclients == 1 && server.client[0]->arena.frozen;
	pthread_mutex_unlock(&server_lock);
	assert_int_equal(write(to_client[1], "a", 1), 1);
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	fprintf(stderr,
		"hint_arena: %lu page checks, %lu lost lines, %lu reduced pages (%lu dead lines by "
		"offset of %lu in the bitmaps), %lu pages outside the range; snapshot %ld, frozen "
		"%d\n",
		(unsigned long)checks, (unsigned long)lost, (unsigned long)reduced,
		(unsigned long)dead, (unsigned long)dead_in_bitmap, (unsigned long)outside,
		(long)snapshot_result, frozen);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(lost, 0);
	assert_int_equal(outside, 0);
	assert_true(checks > 1000);
	assert_true(dead * 2 > dead_in_bitmap); /* masks by offset do save lines */
	assert_int_equal(snapshot_result, 0);
	assert_true(frozen);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client(atoi(argv[2]), atoi(argv[3]));

	struct hint_server_conf conf = {
		.socket_path = sock_path,
		.allow_uid = -1,
		.max_clients = 4,
		.ring_records = 1 << 16,
		.max_ring_records = 1 << 20,
		.max_pages = 1 << 20,
		.device_path = dev_path,
		.dev_id = 0,
		.arenas = &arenas,
		.arenas_lock = &arenas_lock,
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_heap),
	};
	char err[256];

	snprintf(dev_path, sizeof(dev_path), "/tmp/lineswap-test-arena-dev-%d", (int)getpid());
	snprintf(sock_path, sizeof(sock_path), "/tmp/lineswap-test-arena-%d.sock", (int)getpid());
	int fd = open(dev_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, DEVICE_BYTES) < 0) {
		fprintf(stderr, "%s: %s\n", dev_path, strerror(errno));
		return 1;
	}
	close(fd);
	arena_table_init(&arenas, DEVICE_BYTES);
	if (hint_server_open(&server, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pthread_t thread;
	pthread_create(&thread, NULL, serve, NULL);
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	atomic_store(&stopping, true);
	pthread_join(thread, NULL);
	hint_server_close(&server);
	unlink(dev_path);
	return ret;
}
