/* rangeclaim — a hostile mmap-mode client: it tries to get the hint server to apply its masks
 * to another client's range of the device, and must be refused both ways it can try.
 *
 *   rangeclaim OFFSET BYTES
 *
 * OFFSET and BYTES are the victim's range (as `ublk-ctl hints --json` lists it); the server is
 * found as the hint allocator finds it (LINESWAP_HINTS_DEVICE, LINESWAP_HINTS_SOCKET).
 *   take    a hello asking for exactly the victim's range (the way a client takes its range
 *           back from a restarted daemon): refused while the victim holds it;
 *   map     a hello for any range, then the victim's range mapped from the device (this
 *           process may open it) and claimed at that address instead of its own: refused;
 *   own     the control: a range of its own, mapped and claimed: granted, and not the
 *           victim's (so the refusals above were about the range, not a broken client).
 * Prints one line per step. Exit status: 0 every step as expected, 1 otherwise, 2 bad
 * arguments. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hint_client.h"
#include "hint_proto.h"

struct victim {
	uint64_t offset, bytes;
	char sock[108];
};

/* The smallest range the server grants (arena_range.h's ARENA_ALIGN). */
#define OWN_BYTES (32ull << 20)

static int registered(struct hint_client *c, const struct victim *v, uint64_t bytes,
		      uint64_t offset, char *why, size_t whylen)
{
	struct hint_arena_ask ask = { .bytes = bytes, .offset = offset };

	return hint_client_register(c, v->sock, 0, &ask, why, whylen);
}

/* Maps `bytes` of the device at `offset` shared and writable, or returns MAP_FAILED. */
static void *map_device(const struct hint_client *c, uint64_t offset, uint64_t bytes)
{
	char path[32];
	int fd;
	void *p;

	snprintf(path, sizeof(path), "/dev/ublkb%u", c->dev_id);
	fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "rangeclaim: open %s: %s\n", path, strerror(errno));
		return MAP_FAILED;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED)
		fprintf(stderr, "rangeclaim: mmap %s: %s\n", path, strerror(errno));
	close(fd);
	return p;
}

static bool take_refused(const struct victim *v)
{
	struct hint_client c;
	char why[128] = "";
	int ret = registered(&c, v, v->bytes, v->offset, why, sizeof(why));

	if (ret == 0) {
		printf("rangeclaim: take: GRANTED the victim's range at %" PRIu64 " MiB\n",
		       c.arena_offset >> 20);
		hint_client_unregister(&c);
		return false;
	}
	printf("rangeclaim: take: refused (%s: %s)\n", strerror(-ret), why);
	return ret == -EBUSY;
}

/* Registers for a range of its own, maps `bytes` of the device at `offset` (HINT_ARENA_ANY:
 * its own range) and claims that mapping. Returns the claim's result, or 1 (said why) when it
 * got no further; registered unless 1. */
static int claim_mapping(struct hint_client *c, const struct victim *v, const char *step,
			 uint64_t offset, uint64_t bytes, char *why, size_t whylen)
{
	int ret = registered(c, v, OWN_BYTES, HINT_ARENA_ANY, why, whylen);
	void *p;

	if (ret < 0) {
		printf("rangeclaim: %s: no range of its own (%s: %s)\n", step, strerror(-ret), why);
		return 1;
	}
	if (offset == HINT_ARENA_ANY) {
		offset = c->arena_offset;
		bytes = c->arena_bytes;
	}
	p = map_device(c, offset, bytes);
	if (p == MAP_FAILED) {
		hint_client_unregister(c);
		return 1;
	}
	ret = hint_client_claim(c, (uint64_t)(uintptr_t)p, why, whylen);
	munmap(p, bytes);
	return ret;
}

static bool map_refused(const struct victim *v)
{
	struct hint_client c;
	char why[128] = "";
	bool gone;
	int ret = claim_mapping(&c, v, "map", v->offset, v->bytes, why, sizeof(why));

	if (ret == 1)
		return false;
	if (ret == 0) {
		printf("rangeclaim: map: CLAIMED the victim's range as its own (granted %" PRIu64
		       " MiB)\n",
		       c.arena_offset >> 20);
		hint_client_unregister(&c);
		return false;
	}
	printf("rangeclaim: map: refused (%s: %s)\n", strerror(-ret), why);
	/* A refused claim ends the registration. */
	for (int i = 0; i < 100 && !hint_client_server_gone(&c); i++)
		usleep(10000);
	gone = hint_client_server_gone(&c);
	if (!gone)
		printf("rangeclaim: map: the server kept the registration after a refused claim\n");
	hint_client_unregister(&c);
	return gone && ret == -EPERM;
}

static bool own_granted(const struct victim *v)
{
	struct hint_client c;
	char why[128] = "";
	bool ok;
	int ret = claim_mapping(&c, v, "own", HINT_ARENA_ANY, 0, why, sizeof(why));

	if (ret == 1)
		return false;
	ok = ret == 0 && (c.arena_offset + c.arena_bytes <= v->offset ||
			  v->offset + v->bytes <= c.arena_offset);
	printf("rangeclaim: own: range at %" PRIu64 " MiB, %" PRIu64 " MiB: %s%s\n",
	       c.arena_offset >> 20, c.arena_bytes >> 20,
	       ret  ? ""
	       : ok ? "claimed"
		    : "OVERLAPS the victim's",
	       ret ? why : "");
	hint_client_unregister(&c);
	return ok;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && end != s && !*end;
}

int main(int argc, char **argv)
{
	struct victim v;
	bool ok;

	if (argc != 3 || !parse_u64(argv[1], &v.offset) || !parse_u64(argv[2], &v.bytes) ||
	    !v.bytes) {
		fputs("Usage: rangeclaim OFFSET BYTES (the victim's range; see the source's "
		      "header)\n",
		      stderr);
		return 2;
	}
	if (!hint_client_socket_path(v.sock, sizeof(v.sock))) {
		fputs("rangeclaim: the hint socket's path is too long\n", stderr);
		return 2;
	}
	ok = take_refused(&v);
	ok &= map_refused(&v);
	ok &= own_granted(&v);
	printf("rangeclaim: %s\n", ok ? "pass" : "FAIL");
	return ok ? 0 : 1;
}
