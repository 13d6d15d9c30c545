/* secret.c — the shared secret between memory nodes and their clients. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int secret_read(const char *file, uint8_t out[SECRET_MAX], size_t *len, char *err, size_t errlen)
{
	char line[SECRET_MAX + 2];
	const char *env = getenv("LINESWAP_SECRET");

	if (file) {
		FILE *f = fopen(file, "re");

		if (!f) {
			snprintf(err, errlen, "cannot read --secret-file %s: %s", file,
				 strerror(errno));
			return -1;
		}
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	} else if (env) {
		snprintf(line, sizeof(line), "%s", env);
	} else {
		snprintf(err, errlen, "no secret: give --secret-file FILE or set LINESWAP_SECRET");
		return -1;
	}
	*len = strcspn(line, "\n");
	if (*len == 0 || *len > SECRET_MAX) {
		snprintf(err, errlen, "the secret must be 1-%d bytes", SECRET_MAX);
		return -1;
	}
	memcpy(out, line, *len);
	return 0;
}

int secret_read_all(const char *file, struct secret *out, unsigned max, unsigned *n, char *err,
		    size_t errlen)
{
	char line[SECRET_MAX + 2];
	unsigned lineno = 0;
	FILE *f;

	*n = 0;
	if (!file) {
		if (secret_read(NULL, out[0].bytes, &out[0].len, err, errlen) < 0)
			return -1;
		*n = 1;
		return 0;
	}
	f = fopen(file, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read --secret-file %s: %s", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");

		lineno++;
		if (line[len] != '\n' && !feof(f)) {
			snprintf(err, errlen, "%s line %u: a secret is at most %d bytes", file,
				 lineno, SECRET_MAX);
			fclose(f);
			return -1;
		}
		if (len == 0)
			continue;
		if (*n == max) {
			snprintf(err, errlen, "%s: more than %u secrets", file, max);
			fclose(f);
			return -1;
		}
		memcpy(out[*n].bytes, line, len);
		out[(*n)++].len = len;
	}
	fclose(f);
	if (*n == 0) {
		snprintf(err, errlen, "%s holds no secret", file);
		return -1;
	}
	return 0;
}
