/* Page-store tests against a real memnode — round trips with random masks and data, region
 * lifetime, refusals, a dead node, and hostile clients that must not disturb the others.
 * On the host: the TCP transport (rdma/store_tcp.c) on loopback. With LINESWAP_TEST_RDMA_ADDR
 * set (in the test VM, an address with an rxe device): the verbs transport
 * (rdma/store_verbs.c), the node listening with --rdma there. The memnode binary comes from
 * $LINESWAP_MEMNODE. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "node_link.h"
#include "page_seal.h"
#include "page_store.h"
#include "raw_client.h"

/* A page sealed as `page`, version `version` (page_store.h). */
#define SEAL(page, version) ((struct ps_seal){ (uint64_t)(page), (uint64_t)(version) })
#include "sg_plan.h"
#include "xorshift.h"

#define SECRET "s3cret-for-tests"
#define PAGES  256

static const uint8_t device_key[AUTH_KEY] = "the tests' device key, 32 bytes";
static uint8_t seal_key[AUTH_KEY]; /* page_seal_key(device_key) */

static pid_t node_pid;
static char url[64];
static int node_port;
static const char *rdma_addr; /* NULL: TCP on loopback */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	return xorshift64(&rng_state);
}

static void start_node(void)
{
	const char *bin = getenv("LINESWAP_MEMNODE");
	int out[2];
	char line[256] = "";

	assert_non_null(bin);
	assert_int_equal(pipe(out), 0);
	node_pid = fork();
	assert_true(node_pid >= 0);
	if (node_pid == 0) {
		char listen[64];

		dup2(out[1], STDOUT_FILENO);
		setenv("LINESWAP_SECRET", SECRET, 1);
		snprintf(listen, sizeof(listen), "tcp://%s:0", rdma_addr ? rdma_addr : "127.0.0.1");
		execl(bin, bin, "--size", "8M", "--listen", listen, "--json",
		      rdma_addr ? "--rdma" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");

	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	const char *host = rdma_addr ? rdma_addr : "127.0.0.1";
	char *p = strstr(line, "\"listening\": \"tcp://");

	assert_non_null(p);
	p = strchr(p + 20, ':');
	assert_non_null(p);
	node_port = atoi(p + 1);
	snprintf(url, sizeof(url), "%s://%s:%d", rdma_addr ? "rdma" : "tcp", host, node_port);
}

static void stop_node(void)
{
	if (node_pid > 0) {
		kill(node_pid, SIGTERM);
		waitpid(node_pid, NULL, 0);
	}
	node_pid = 0;
}

static int group_setup(void **state)
{
	(void)state;
	start_node();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	stop_node();
	return 0;
}

static struct page_store_conf conf_for(const char *region, int create, uint64_t bytes)
{
	struct page_store_conf c = {
		.url = url,
		.secret = (const uint8_t *)SECRET,
		.secret_len = strlen(SECRET),
		.device_key = device_key,
		.bytes = bytes,
		.create = create,
		.max_inflight = 16,
		.max_segs = 30,
		.seg_cost = 0,
		.timeout_ms = 2000,
	};
	memcpy(c.region, region, strnlen(region, sizeof(c.region)));
	return c;
}

static struct page_store *open_store(const char *region, int create, uint64_t bytes, bool sealed)
{
	struct page_store_conf c = conf_for(region, create, bytes);
	struct page_store *ps = NULL;
	char err[256];
	int ret;

	c.seal_key = sealed ? seal_key : NULL;
	ret = page_store_open(&c, &ps, err, sizeof(err));
	if (ret)
		fprintf(stderr, "open: %s\n", err);
	assert_int_equal(ret, 0);
	return ps;
}

static struct page_store *open_ok(const char *region, int create, uint64_t bytes)
{
	return open_store(region, create, bytes, false);
}

/* Waits for `n` completions (each must succeed unless want_status says otherwise). */
static void wait_for(struct page_store *ps, int n, int want_status)
{
	struct ps_completion done[16];

	for (int spins = 0; n > 0 && spins < 200000; spins++) {
		int k = ps->ops->reap(ps, done, 16);

		for (int i = 0; i < k; i++)
			assert_int_equal(done[i].status, want_status);
		n -= k;
		if (k == 0)
			usleep(50);
	}
	assert_int_equal(n, 0);
}

/* The bytes a page of mask `live` moves with the tests' plan parameters (max_segs 30). */
static int plan_bytes(uint64_t live)
{
	struct sg_plan plan;

	sg_plan_page(live, 30, 0, &plan);
	return (int)plan.bytes;
}

/* The size a link's buffer gets: NODE_LINK_SOCKBUF as root (the FORCE options), else capped
 * at the sysctl max_path names. */
static int sockbuf_for(const char *max_path)
{
	FILE *f = fopen(max_path, "r");
	int max = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &max), 1);
	fclose(f);
	return geteuid() == 0 || max > NODE_LINK_SOCKBUF ? NODE_LINK_SOCKBUF : max;
}

/* Puts random pages with random masks, gets them back: the lines the plan moves (all live ones
 * among them) are byte-exact, every other byte is zero. The put and the get each return the
 * plan's bytes (and a tag's, sealed). */
static void round_trips(bool sealed)
{
	static uint8_t pages[PAGES][4096], back[PAGES][4096];
	static uint64_t masks[PAGES];
	struct page_store *ps = open_store("roundtrip", 1, PAGES * 4096, sealed);
	int size, tag = sealed ? PROTO_SEAL_TAG : 0;
	socklen_t len = sizeof(size);

	/* Fixed, not autotuned (the kernel reports twice what was set): node_link.h. Over RDMA
	 * the store's fd is its completion channel, and the data moves without a socket. */
	if (!rdma_addr) {
		assert_int_equal(getsockopt(ps->ops->fd(ps), SOL_SOCKET, SO_SNDBUF, &size, &len),
				 0);
		assert_int_equal(size, 2 * sockbuf_for("/proc/sys/net/core/wmem_max"));
		assert_int_equal(getsockopt(ps->ops->fd(ps), SOL_SOCKET, SO_RCVBUF, &size, &len),
				 0);
		assert_int_equal(size, 2 * sockbuf_for("/proc/sys/net/core/rmem_max"));
	}
	for (int round = 0; round < 4; round++) {
		uint64_t version = (uint64_t)round * PAGES + 1;

		for (int p = 0; p < PAGES; p++) {
			for (int i = 0; i < 4096; i++)
				pages[p][i] = (uint8_t)rng();
			masks[p] = p % 17 == 0 ? ~0ull : rng() & rng(); /* ~25% live, some whole */
		}
		for (int p = 0; p < PAGES; p += 16) {
			for (int k = 0; k < 16; k++)
				assert_int_equal(
					ps->ops->put(ps, (uint64_t)(p + k), masks[p + k],
						     SEAL(p + k, version + (uint64_t)(p + k)),
						     pages[p + k], (uint64_t)(p + k)),
					plan_bytes(masks[p + k]) + tag);
			wait_for(ps, 16, 0);
		}
		memset(back, 0xee, sizeof(back));
		for (int p = 0; p < PAGES; p += 16) {
			for (int k = 0; k < 16; k++)
				assert_int_equal(
					ps->ops->get(ps, (uint64_t)(p + k), masks[p + k],
						     SEAL(p + k, version + (uint64_t)(p + k)),
						     back[p + k], 0),
					plan_bytes(masks[p + k]) + tag);
			wait_for(ps, 16, 0);
		}
		for (int p = 0; p < PAGES; p++) {
			struct sg_plan plan;
			uint64_t moved = 0;

			sg_plan_page(masks[p], 30, 0, &plan);
			for (unsigned s = 0; s < plan.nsegs; s++)
				for (unsigned l = plan.seg[s].off / 64;
				     l < (plan.seg[s].off + plan.seg[s].len) / 64u; l++)
					moved |= 1ull << l;
			assert_int_equal((masks[p] | LINES_ALWAYS) & ~moved, 0);
			for (int l = 0; l < 64; l++) {
				if (moved >> l & 1) {
					assert_memory_equal(back[p] + l * 64, pages[p] + l * 64,
							    64);
				} else {
					for (int i = 0; i < 64; i++)
						assert_int_equal(back[p][l * 64 + i], 0);
				}
			}
		}
	}
	assert_int_equal(ps->ops->release(ps), 0);
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trips(false);
}

static void test_sealed_round_trips(void **state)
{
	(void)state;
	round_trips(true);
}

/* The node (here: a raw client with the region's key, as the node's operator could be) flips
 * a byte of a sealed page, or puts back an older version: the GET fails with -EBADMSG and the
 * caller's page is untouched. The node's slot holds ciphertext, never the page's bytes. */
static void test_sealed_pages_refuse_tampering(void **state)
{
	static uint8_t page[4096], back[4096];
	uint8_t old[PROTO_SLOT_SIZE], now[PROTO_SLOT_SIZE];
	struct page_store *ps = open_store("sealed", 1, 4 * 4096, true);
	struct raw_client c;
	unsigned len = 4096 + PROTO_SEAL_TAG;

	(void)state;
	memset(page, 0x42, sizeof(page));
	assert_int_equal(ps->ops->put(ps, 2, ~0ull, SEAL(2, 7), page, 1), (int)len);
	wait_for(ps, 1, 0);
	assert_int_equal(raw_open(&c, rdma_addr ? rdma_addr : "127.0.0.1", node_port, SECRET,
				  PROTO_ATTACH, 4 * 4096, "sealed", device_key),
			 PROTO_OK);
	assert_int_equal(raw_get(&c, 2, len, old), PROTO_OK);
	assert_null(memmem(old, len, page, 64)); /* ciphertext, not the page */

	/* A newer version of the page. */
	memset(page, 0x43, sizeof(page));
	assert_int_equal(ps->ops->put(ps, 2, ~0ull, SEAL(2, 8), page, 2), (int)len);
	wait_for(ps, 1, 0);
	assert_int_equal(raw_get(&c, 2, len, now), PROTO_OK);

	/* One bit flipped. */
	now[100] ^= 1;
	assert_int_equal(raw_put(&c, 2, len, now), PROTO_OK);
	memset(back, 0xee, sizeof(back));
	assert_int_equal(ps->ops->get(ps, 2, ~0ull, SEAL(2, 8), back, 3), (int)len);
	wait_for(ps, 1, -EBADMSG);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(back[i], 0xee);

	/* The older version put back (a replay): it opens only as version 7, which the client
	 * no longer asks for. */
	assert_int_equal(raw_put(&c, 2, len, old), PROTO_OK);
	assert_int_equal(ps->ops->get(ps, 2, ~0ull, SEAL(2, 8), back, 4), (int)len);
	wait_for(ps, 1, -EBADMSG);
	assert_int_equal(ps->ops->get(ps, 2, ~0ull, SEAL(2, 7), back, 5), (int)len);
	wait_for(ps, 1, 0);
	assert_int_equal(back[0], 0x42);
	/* Sealed as the page they are, not where they lie: a copy of page 2 at slot 3 is byte for
	 * byte the same (one nonce, one content, one authenticated text: nothing to learn from
	 * two copies), and opens there as page 2... */
	memset(page, 0x42, sizeof(page));
	assert_int_equal(ps->ops->put(ps, 3, ~0ull, SEAL(2, 7), page, 7), (int)len);
	wait_for(ps, 1, 0);
	assert_int_equal(raw_get(&c, 3, len, now), PROTO_OK);
	assert_memory_equal(now, old, len);
	assert_int_equal(ps->ops->get(ps, 3, ~0ull, SEAL(2, 7), back, 8), (int)len);
	wait_for(ps, 1, 0);
	/* ... but not as another page. */
	assert_int_equal(raw_put(&c, 3, len, old), PROTO_OK);
	assert_int_equal(ps->ops->get(ps, 3, ~0ull, SEAL(3, 7), back, 6), (int)len);
	wait_for(ps, 1, -EBADMSG);
	close(c.fd);
	assert_int_equal(ps->ops->release(ps), 0);
}

/* A forgotten GET still completes, but its data never reaches the caller's buffer (which may
 * serve another request by then: a hedged read's loser). */
static void test_forget(void **state)
{
	static uint8_t page[4096], back[4096];
	struct page_store *ps = open_ok("forget", 1, 4 * 4096);

	(void)state;
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)rng();
	assert_int_equal(ps->ops->put(ps, 2, ~0ull, SEAL(2, 1), page, 1), 4096);
	wait_for(ps, 1, 0);
	assert_int_equal(ps->ops->get(ps, 2, ~0ull, SEAL(2, 1), back, 7), 4096);
	ps->ops->forget(ps, 7);
	memset(back, 0xee, sizeof(back));
	wait_for(ps, 1, 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(back[i], 0xee);
	assert_int_equal(ps->ops->get(ps, 2, ~0ull, SEAL(2, 1), back, 8),
			 4096); /* not forgotten: lands */
	wait_for(ps, 1, 0);
	assert_memory_equal(back, page, sizeof(page));
	assert_int_equal(ps->ops->release(ps), 0);
}

/* A region outlives its connections; CREATE and ATTACH are checked. */
static void test_region_lifetime(void **state)
{
	static uint8_t page[4096], back[4096];
	struct page_store_conf c;
	struct page_store *ps = open_ok("keep", 1, 16 * 4096), *other;
	char err[256];

	(void)state;
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(ps->ops->put(ps, 3, ~0ull, SEAL(3, 1), page, 1), 4096);
	wait_for(ps, 1, 0);
	ps->ops->close(ps);

	c = conf_for("keep", 1, 16 * 4096);
	assert_int_equal(page_store_open(&c, &other, err, sizeof(err)), -EEXIST);
	c = conf_for("keep", 0, 32 * 4096);
	assert_int_equal(page_store_open(&c, &other, err, sizeof(err)), -ENOENT);
	c = conf_for("nothing", 0, 16 * 4096);
	assert_int_equal(page_store_open(&c, &other, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no such region"));

	ps = open_ok("keep", 0, 16 * 4096);
	assert_int_equal(ps->ops->get(ps, 3, ~0ull, SEAL(3, 1), back, 2), 4096);
	wait_for(ps, 1, 0);
	assert_memory_equal(back, page, sizeof(page));
	/* Outside the region: refused before anything is sent. */
	assert_int_equal(ps->ops->put(ps, 16, ~0ull, SEAL(16, 1), page, 3), -ERANGE);
	assert_int_equal(ps->ops->release(ps), 0);
	c = conf_for("keep", 0, 16 * 4096);
	assert_int_equal(page_store_open(&c, &other, err, sizeof(err)), -ENOENT);
}

static void test_refusals(void **state)
{
	struct page_store_conf c = conf_for("r", 1, 4096);
	struct page_store *ps;
	char err[256];

	(void)state;
	c.secret = (const uint8_t *)"wrong";
	c.secret_len = 5;
	assert_int_equal(page_store_open(&c, &ps, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "authentication failed"));
	c = conf_for("big", 1, 64ull << 20); /* the node has 8 MiB */
	assert_int_equal(page_store_open(&c, &ps, err, sizeof(err)), -ENOSPC);
	c = conf_for("r", 1, 4096);
	c.url = "tcp://127.0.0.1";
	assert_int_equal(page_store_open(&c, &ps, err, sizeof(err)), -EINVAL);
	c.url = "tcp://127.0.0.1:1"; /* nothing listens there (the same for RDMA: TCP comes first)
				      */
	assert_int_equal(page_store_open(&c, &ps, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "cannot connect"));
}

static int node_connect(void)
{
	int fd = raw_connect(rdma_addr ? rdma_addr : "127.0.0.1", node_port);

	assert_true(fd >= 0);
	return fd;
}

/* A raw client through the handshake, creating `region` (4 pages). */
static int good_client(const char *region)
{
	struct raw_client c;

	assert_int_equal(raw_open(&c, rdma_addr ? rdma_addr : "127.0.0.1", node_port, SECRET,
				  PROTO_CREATE, 4 * 4096, region, device_key),
			 PROTO_OK);
	assert_true(c.node_proven);
	return c.fd;
}

/* After the node hangs up, reading gives EOF (or a reset). */
static void expect_hangup(int fd)
{
	uint8_t buf[256];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		;
	assert_true(n <= 0);
	close(fd);
}

/* Hostile or broken clients are cut off (or refused) and a good client keeps working. */
static void test_hostile_clients(void **state)
{
	static uint8_t page[4096], back[4096];
	struct page_store *good = open_ok("good", 1, 8 * 4096);
	uint8_t junk[512];
	int fd;

	(void)state;
	memset(page, 0x77, sizeof(page));
	assert_int_equal(good->ops->put(good, 1, ~0ull, SEAL(1, 1), page, 1), 4096);
	wait_for(good, 1, 0);

	/* Random bytes instead of a hello. */
	fd = node_connect();
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rng();
	send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
	expect_hangup(fd);

	/* A valid handshake, then an unknown op. */
	fd = good_client("hostile1");
	struct proto_req r = { .op = 99, .len = 8 };

	send(fd, &r, sizeof(r), MSG_NOSIGNAL);
	expect_hangup(fd);

	/* A PUT claiming more than a page. */
	fd = good_client("hostile2");
	r = (struct proto_req){ .op = PROTO_PUT, .len = 5000 };
	send(fd, &r, sizeof(r), MSG_NOSIGNAL);
	expect_hangup(fd);

	/* An out-of-range page is answered with an error, and the connection goes on. */
	fd = good_client("hostile3");
	struct proto_reply rep;

	r = (struct proto_req){ .op = PROTO_GET, .len = 64, .page = 1ull << 40, .tag = 7 };
	send(fd, &r, sizeof(r), 0);
	assert_int_equal(recv(fd, &rep, sizeof(rep), MSG_WAITALL), sizeof(rep));
	assert_int_equal(rep.status, PROTO_ERANGE);
	assert_int_equal(rep.tag, 7);
	r = (struct proto_req){ .op = PROTO_GET, .len = 64, .page = 3, .tag = 8 };
	send(fd, &r, sizeof(r), 0);
	assert_int_equal(recv(fd, &rep, sizeof(rep), MSG_WAITALL), sizeof(rep));
	assert_int_equal(rep.status, PROTO_OK);
	assert_int_equal(rep.len, 64);
	assert_int_equal(recv(fd, junk, 64, MSG_WAITALL), 64);
	/* ... and a truncated frame followed by a hang-up harms nothing. */
	send(fd, &r, 10, 0);
	close(fd);

	/* A wrong-version hello (version 1 sent the secret in it) gets a refusal it can read. */
	struct raw_client raw = { .fd = node_connect() };
	struct proto_hello h = { .magic = PROTO_MAGIC, .version = 1 };

	assert_int_equal(raw_hello(&raw, SECRET, &h), PROTO_EVERSION);
	expect_hangup(raw.fd);

	/* The good client never noticed. */
	assert_int_equal(good->ops->get(good, 1, ~0ull, SEAL(1, 1), back, 2), 4096);
	wait_for(good, 1, 0);
	assert_memory_equal(back, page, sizeof(page));
	assert_int_equal(good->ops->release(good), 0);
}

/* The node dies with requests outstanding: they fail with -EIO, later ones with -ENOTCONN;
 * nothing hangs. Runs last: it kills the node. Over RDMA a stopped node process still has its
 * memory served by the device, so there the node is killed outright. */
static void test_node_death(void **state)
{
	static uint8_t page[4096];
	struct page_store *ps = open_ok("doomed", 1, 8 * 4096);

	(void)state;
	if (rdma_addr) {
		kill(node_pid, SIGKILL); /* its memory region and queue pairs go with it */
		waitpid(node_pid, NULL, 0);
		node_pid = 0;
	} else {
		kill(node_pid, SIGSTOP); /* answers nothing from now on */
	}
	for (int k = 0; k < 4; k++)
		assert_int_equal(ps->ops->put(ps, (uint64_t)k, ~0ull, SEAL((uint64_t)k, 1), page,
					      (uint64_t)k),
				 4096);
	wait_for(ps, 4, -EIO); /* after the 2 s request timeout */
	assert_int_equal(ps->ops->put(ps, 0, ~0ull, SEAL(0, 1), page, 9), -ENOTCONN);
	ps->ops->close(ps);
	if (node_pid > 0) {
		kill(node_pid, SIGKILL);
		waitpid(node_pid, NULL, 0);
		node_pid = 0;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_sealed_round_trips),
		cmocka_unit_test(test_sealed_pages_refuse_tampering),
		cmocka_unit_test(test_region_lifetime),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_hostile_clients),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_node_death),
	};
	signal(SIGPIPE, SIG_IGN);
	page_seal_key(device_key, seal_key);
	rdma_addr = getenv("LINESWAP_TEST_RDMA_ADDR");
	return cmocka_run_group_tests_name(rdma_addr ? "store_verbs" : "store_tcp", tests,
					   group_setup, group_teardown);
}
