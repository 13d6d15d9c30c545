/* secret.h — the shared secret between memory nodes and their clients. */
#ifndef LINESWAP_SECRET_H
#define LINESWAP_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_MAX 64

/* Reads the secret: the first line of `file` if given, else $LINESWAP_SECRET. Returns its
 * length (1..SECRET_MAX) in *len and 0, or -1 with a message in err: no secret, an unreadable
 * file, or a secret of the wrong length. */
int secret_read(const char *file, uint8_t out[SECRET_MAX], size_t *len, char *err, size_t errlen);

/* A memory node's tenants: every non-empty line of `file` is one tenant's secret (1..SECRET_MAX
 * bytes), or $LINESWAP_SECRET is the only one. Fills out[0..*n) and returns 0, or -1 with a
 * message in err (no secret, unreadable, a line too long, more than `max`). */
struct secret {
	uint8_t bytes[SECRET_MAX];
	size_t len;
};
int secret_read_all(const char *file, struct secret *out, unsigned max, unsigned *n, char *err,
		    size_t errlen);

#endif
