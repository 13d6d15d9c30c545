/* hint_seeds — writes the seed corpus of fuzz_hint_drain: rings as honest clients leave them
 * (records published in order, a full ring, a new epoch), each as the fuzzer's input (a mode
 * byte, then the ring's bytes for the two-round copy, or (key, mask) pairs for the producer).
 * Usage: hint_seeds DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hint_ring.h"

#define RECORDS 64

static void write_seed(const char *dir, const char *name, const void *a, size_t alen, const void *b,
		       size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
	    fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const uint8_t copy = 0, produce = 1;
	size_t bytes = hint_ring_bytes(RECORDS);
	uint8_t *image = calloc(2, bytes + 1);
	/* The ring is built where it is aligned, then copied after the image's first byte. */
	struct hint_ring *ring = aligned_alloc(64, (bytes + 63) / 64 * 64);
	struct hint_consumer cons;
	uint64_t pairs[2 * RECORDS];

	if (argc != 2 || !image || !ring || (mkdir(argv[1], 0755) < 0 && errno != EEXIST))
		return 2;
	for (unsigned n = 0; n <= RECORDS; n += RECORDS / 4) {
		char name[32];

		memset(image, 0, 2 * bytes + 2);
		image[0] = copy;
		hint_ring_init(ring, RECORDS, &cons);
		for (unsigned i = 0; i < n; i++)
			hint_ring_publish(ring, (uint64_t)i << 16 | 0x1000, ~0ull >> (i % 64));
		if (n == RECORDS)
			hint_ring_next_epoch(ring, hint_ring_epoch(ring));
		/* The same ring twice: the second round finds it already read. */
		memcpy(image + 1, ring, bytes);
		memcpy(image + 1 + bytes, ring, bytes);
		snprintf(name, sizeof(name), "ring-%u", n);
		write_seed(argv[1], name, image, 1 + 2 * bytes, NULL, 0);
	}
	for (unsigned i = 0; i < RECORDS; i++) {
		pairs[2 * i] = (uint64_t)i << 16 | 0x1000;
		pairs[2 * i + 1] = 0x5555555555555555ull << (i % 2);
	}
	write_seed(argv[1], "produced", &produce, 1, pairs, sizeof(pairs));
	free(image);
	free(ring);
	return 0;
}
