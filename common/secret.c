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
