/* target.c — finding a target in a table, and the backing files targets keep their state in. */
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const struct ublk_target_ops *ublk_target_find(const struct ublk_target_ops *const *table,
					       const char *name)
{
	for (; *table; table++)
		if (!strcmp((*table)->name, name))
			return *table;
	return NULL;
}

int ublk_backing_open(struct ublk_target *t, const char *what, const char *path, uint64_t bytes,
		      bool recovering, int *fd, void **map)
{
	const char *step = recovering ? "open" : "create";
	struct stat st;
	int ret;

	*map = NULL;
	*fd = open(path, O_RDWR | O_CLOEXEC | (recovering ? 0 : O_CREAT | O_EXCL), 0600);
	if (*fd < 0) {
		ret = -errno;
		snprintf(t->error, sizeof(t->error), "%s: cannot %s %s: %s", what, step, path,
			 strerror(errno));
		return ret;
	}
	if (recovering) {
		step = "stat";
		if (fstat(*fd, &st) < 0)
			goto fail;
		if ((uint64_t)st.st_size != bytes) {
			snprintf(t->error, sizeof(t->error),
				 "%s: %s is %llu bytes, not the device's %llu: it was truncated or "
				 "belongs to another device (left as it is)",
				 what, path, (unsigned long long)st.st_size,
				 (unsigned long long)bytes);
			close(*fd);
			*fd = -1;
			return -EINVAL;
		}
	} else {
		step = "size";
		if (ftruncate(*fd, (off_t)bytes) < 0)
			goto fail;
	}
	step = "map";
	*map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (*map != MAP_FAILED)
		return 0;
	*map = NULL;
fail:
	ret = -errno;
	snprintf(t->error, sizeof(t->error), "%s: cannot %s %s: %s", what, step, path,
		 strerror(errno));
	close(*fd);
	*fd = -1;
	if (!recovering)
		unlink(path); /* this call created it */
	return ret;
}
