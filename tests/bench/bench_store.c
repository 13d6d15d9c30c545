/* bench_store — page-store throughput against a running memnode: PUT then GET of every page
 * of a region, `depth` requests in flight, whole pages and half-live masks, sealed (AES-GCM,
 * as devices are by default) or in clear. Prints pages/s.
 * Usage: bench_store URL PAGES DEPTH [sealed|clear] (secret from LINESWAP_SECRET). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "page_seal.h"
#include "page_store.h"

#define SEAL(page, version) ((struct ps_seal){ (uint64_t)(page), (uint64_t)(version) })

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs `op` over every page with `depth` in flight, the pages' versions from `version` on;
 * returns seconds. */
static double run(struct page_store *ps, int put, uint64_t pages, unsigned depth, uint64_t live,
		  uint64_t version, uint8_t *buf)
{
	struct ps_completion done[64];
	uint64_t next = 0, finished = 0;
	double t0 = now();

	while (finished < pages) {
		while (next < pages && ps->inflight < depth) {
			uint8_t *page = buf + (next % depth) * 4096;
			int ret = put ? ps->ops->put(ps, next, live, SEAL(next, version + next),
						     page, next)
				      : ps->ops->get(ps, next, live, SEAL(next, version + next),
						     page, next);

			if (ret < 0) {
				fprintf(stderr, "bench_store: request failed: %s\n",
					strerror(-ret));
				exit(1);
			}
			next++;
		}
		int n = ps->ops->reap(ps, done, 64);

		for (int i = 0; i < n; i++)
			if (done[i].status < 0) {
				fprintf(stderr, "bench_store: completion failed\n");
				exit(1);
			}
		finished += (uint64_t)n;
	}
	return now() - t0;
}

int main(int argc, char **argv)
{
	const char *secret = getenv("LINESWAP_SECRET");
	struct page_store_conf c = { .max_segs = 30, .timeout_ms = 10000, .create = 1 };
	struct page_store *ps;
	uint8_t device_key[AUTH_KEY], seal_key[AUTH_KEY];
	char err[256];
	bool sealed = argc < 5 || !strcmp(argv[4], "sealed");

	if (argc < 4 || argc > 5 || !secret ||
	    (argc == 5 && strcmp(argv[4], "sealed") && strcmp(argv[4], "clear"))) {
		fprintf(stderr,
			"usage: LINESWAP_SECRET=... bench_store URL PAGES DEPTH [sealed|clear]\n");
		return 2;
	}
	uint64_t pages = strtoull(argv[2], NULL, 10);
	unsigned depth = (unsigned)atoi(argv[3]);

	c.url = argv[1];
	c.secret = (const uint8_t *)secret;
	c.secret_len = strlen(secret);
	auth_random(device_key, sizeof(device_key));
	c.device_key = device_key;
	page_seal_key(device_key, seal_key);
	c.seal_key = sealed ? seal_key : NULL;
	c.bytes = pages * 4096;
	c.max_inflight = depth;
	snprintf((char *)c.region, sizeof(c.region), "bench-%d", (int)getpid() % 100000);
	if (page_store_open(&c, &ps, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	uint8_t *buf = calloc(depth, 4096);
	static const struct {
		const char *name;
		uint64_t live;
	} masks[] = { { "whole", ~0ull }, { "half", 0x00ff00ff00ff00ffull } };

	for (size_t m = 0; m < 2; m++) {
		/* Each pass writes every page anew: new versions. */
		double tp = run(ps, 1, pages, depth, masks[m].live, 1 + m * pages, buf);
		double tg = run(ps, 0, pages, depth, masks[m].live, 1 + m * pages, buf);

		printf("{\"mask\": \"%s\", \"sealed\": %s, \"depth\": %u, "
		       "\"put_pages_per_s\": %.0f, \"get_pages_per_s\": %.0f}\n",
		       masks[m].name, sealed ? "true" : "false", depth, (double)pages / tp,
		       (double)pages / tg);
	}
	ps->ops->release(ps);
	free(buf);
	return 0;
}
