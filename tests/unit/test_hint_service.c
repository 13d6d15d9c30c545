/* The daemon's hint thread against hostile clients (issue: a hint service with bounded work and
 * memory). Clients of one uid register, ask for the largest rings, and then flood them: records
 * for pages a leaf apart (the costliest view), a new epoch every 65,536 records (each forgets
 * the view), as fast as one thread can write. Meanwhile writes are submitted as a queue
 * submits them, and each one's whole wait is measured: none may pass --hint-hold by more than
 * the thread's own scheduling. The daemon's memory for hints, as `ublk-ctl stats` reports it,
 * must stay within --hint-memory (and within half of it: one uid), the caps must be what kept
 * it there (reductions not kept, a late client's ring made smaller or refused), and a client
 * that leaves gives its memory back. Device 4242 is no swap area, so a
 * write's resolution itself is immediate: what is measured is the drain. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "hint_proto.h"
#include "hint_ring.h"
#include "hint_service.h"
#include "page_view.h"

#define HOLD_MS  50
#define SLACK_MS 25 /* the hint thread's and this thread's wake-ups, on a loaded machine */
#define CAP      (256u << 20)
#define CLIENTS  3
#define RUN_MS   3000

struct flooder {
	struct hint_ring *ring[CLIENTS];
	atomic_bool stop;
	uint64_t published;
};

static char sock_path[108];

/* Registers one client asking for the largest ring; returns its ring (mapped), or NULL when
 * refused. */
static struct hint_ring *register_client(int *sock_out, uint32_t *records)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct hint_hello h = { .magic = HINT_PROTO_MAGIC,
				.version = HINT_PROTO_VERSION,
				.ring_records = HINT_RING_MAX_RECORDS };
	struct hint_welcome w;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	int sock = socket(AF_UNIX, SOCK_STREAM, 0), fd = -1;
	void *ring;

	strcpy(addr.sun_path, sock_path);
	assert_int_equal(connect(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(send(sock, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	assert_int_equal(recvmsg(sock, &msg, 0), sizeof(w));
	*sock_out = sock;
	if (w.status != 0) {
		print_message("refused: %s\n", w.reason);
		return NULL;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	assert_non_null(c);
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	ring = mmap(NULL, w.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(ring != MAP_FAILED);
	close(fd);
	*records = w.ring_records;
	return ring;
}

/* Every client's ring, round after round: pages a leaf apart, a new epoch every 64 rounds
 * (each forgets a view and starts filling it again). */
static void *flood(void *arg)
{
	struct flooder *f = arg;
	uint64_t page = 0;

	for (unsigned round = 1; !atomic_load(&f->stop); round++)
		for (unsigned c = 0; c < CLIENTS; c++) {
			struct hint_ring *r = f->ring[c];
			uint16_t epoch = hint_ring_epoch(r);

			for (unsigned i = 0; i < 512; i++, page++) {
				uint64_t key =
					HINT_KEY(epoch, HINT_PAGE, page * PAGE_VIEW_LEAF_PAGES);

				if (!hint_ring_publish(r, key, 0x5))
					break;
				f->published++;
			}
			if (round % 64 == 0)
				hint_ring_next_epoch(r, epoch);
		}
	return NULL;
}

/* A patient client: n pages a leaf apart, each published once there is room. */
static void fill(struct hint_ring *r, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		while (!hint_ring_publish(
			r,
			HINT_KEY(hint_ring_epoch(r), HINT_PAGE, (first + i) * PAGE_VIEW_LEAF_PAGES),
			0x5))
			usleep(100);
}

/* Waits (10 s at most) until the published statistics satisfy `cond`. */
#define WAIT_FOR(cond)                                               \
	do {                                                         \
		for (int ms_ = 0; !(cond) && ms_ < 10000; ms_ += 10) \
			usleep(10000);                               \
		assert_true(cond);                                   \
	} while (0)

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void test_hostile_clients_bounded(void **state)
{
	(void)state;
	struct ublk_hint_stats *st = calloc(1, sizeof(*st));
	struct hint_service_conf conf = { .dev_id = 4242,
					  .socket_path = sock_path,
					  .allow_uid = -1,
					  .hold_ms = HOLD_MS,
					  .memory_cap = CAP,
					  .max_pages = 64,
					  .stats = st };
	struct hint_service *svc;
	struct hint_done done;
	struct flooder f = { 0 };
	int sock[CLIENTS];
	uint32_t records = 0;
	char err[256];
	pthread_t t;

	char run_dir[] = "/tmp/lineswap-test-hintsvc-XXXXXX";

	assert_non_null(mkdtemp(run_dir));
	setenv("LINESWAP_RUN_DIR", run_dir, 1); /* the table of mmap-mode ranges */
	snprintf(sock_path, sizeof(sock_path), "/tmp/lineswap-test-hintsvc-%d.sock", (int)getpid());
	assert_int_equal(hint_service_start(&conf, &svc, err, sizeof(err)), 0);
	assert_int_equal(hint_done_init(&done), 0);
	for (unsigned c = 0; c < CLIENTS; c++) {
		f.ring[c] = register_client(&sock[c], &records);
		assert_non_null(f.ring[c]);
		assert_int_equal(records, HINT_RING_MAX_RECORDS); /* within a quarter of the cap */
	}

	/* Memory: every client reduces more pages than a quarter of the cap holds, and all of
	 * them (one uid) more than half of it. */
	for (unsigned c = 0; c < CLIENTS; c++)
		fill(f.ring[c], (uint64_t)c << 32, (CAP / 4) / 4096);
	WAIT_FOR(LOAD(st->records) >= CLIENTS * (uint64_t)((CAP / 4) / 4096));
	print_message("filled: hint memory %llu KiB of %u KiB; %llu reductions not kept\n",
		      (unsigned long long)(LOAD(st->memory) >> 10), CAP >> 10,
		      (unsigned long long)LOAD(st->not_kept));
	assert_true(LOAD(st->memory) <= CAP / 2);
	assert_true(LOAD(st->memory) >=
		    CAP / 2 - (1u << 20)); /* the uid's cap is what stopped it */
	assert_true(LOAD(st->not_kept) > 0);
	assert_int_equal(LOAD(st->memory_cap), CAP);
	for (unsigned c = 0; c < CLIENTS; c++)
		assert_true(st->client[c].memory <= CAP / 4);

	/* One more client of that uid gets what room is left: a smaller ring, or none. */
	int late_sock;
	struct hint_ring *late = register_client(&late_sock, &records);

	assert_true(!late || records < HINT_RING_MAX_RECORDS);
	if (late)
		munmap(late, hint_ring_bytes(records));
	close(late_sock);
	/* A client that leaves gives its memory back: a new one gets the full ring. */
	close(sock[0]);
	munmap(f.ring[0], hint_ring_bytes(HINT_RING_MAX_RECORDS));
	WAIT_FOR(LOAD(st->memory) <= CAP / 2 - CAP / 8);
	f.ring[0] = register_client(&sock[0], &records);
	assert_non_null(f.ring[0]);
	assert_int_equal(records, HINT_RING_MAX_RECORDS);

	/* Time: writes submitted as a queue does, while every ring is flooded. The measuring
	 * thread is realtime too where it may be, so its own wake-ups stay short however busy
	 * the flood keeps the other core. */
	(void)!sched_setscheduler(0, SCHED_FIFO, &(struct sched_param){ .sched_priority = 1 });
	assert_int_equal(pthread_create(&t, NULL, flood, &f), 0);

	uint64_t masks[16], worst = 0, writes = 0, most = 0;
	uint64_t end = monotonic_ns() + RUN_MS * 1000000ull;

	while (monotonic_ns() < end) {
		struct hint_batch b = {
			.done = &done, .first_page = writes * 16, .nr_pages = 16, .masks = masks
		};
		struct pollfd p = { .fd = done.efd, .events = POLLIN };

		hint_service_submit(svc, &b);
		while (!hint_done_take(&done))
			assert_true(poll(&p, 1, 10 * HOLD_MS) >= 0);
		uint64_t waited = monotonic_ns() - b.submit_ns;

		worst = waited > worst ? waited : worst;
		writes++;
		most = LOAD(st->memory) > most ? LOAD(st->memory) : most;
		usleep(5000);
	}
	atomic_store(&f.stop, true);
	pthread_join(t, NULL);
	(void)!sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){ 0 });
	print_message("flooded: %llu writes, the longest waited %.1f ms (hold %d ms); %llu "
		      "records published; hint memory at most %llu KiB\n",
		      (unsigned long long)writes, (double)worst / 1e6, HOLD_MS,
		      (unsigned long long)f.published, (unsigned long long)(most >> 10));
	assert_true(writes > 50);
	assert_true(f.published > 1000000); /* the flood was one */
	assert_true(worst <= (HOLD_MS + SLACK_MS) * 1000000ull);
	assert_true(most <= CAP / 2);
	hint_service_stop(svc, false);
	assert_int_equal(rmdir(run_dir), 0); /* the table went with the service */
	hint_done_free(&done);
	for (unsigned c = 0; c < CLIENTS; c++) {
		munmap(f.ring[c], hint_ring_bytes(HINT_RING_MAX_RECORDS));
		close(sock[c]);
	}
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_clients_bounded),
	};

	return cmocka_run_group_tests_name("hint_service", tests, NULL, NULL);
}
