/* remote_admin.c — see remote_admin.h. */
#include "remote_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

bool remote_admin_path(uint32_t dev_id, char *path, size_t len)
{
	return ublk_state_path(path, len, dev_id, "admin");
}

int remote_admin_open(uint32_t dev_id, bool recovering, struct remote_admin **out, char *err,
		      size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	void *mem;
	int fd, ret = 0;

	if (!remote_admin_path(dev_id, path, sizeof(path))) {
		snprintf(err, errlen, "the admin file's path is too long");
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	/* A file left by an earlier daemon of this id is kept only by a recovery. */
	if ((!recovering || (size_t)st.st_size != sizeof(**out)) &&
	    (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(**out)) < 0)) {
		ret = -errno;
		goto out;
	}
	mem = mmap(NULL, sizeof(**out), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	*out = mem;
	(*out)->magic = REMOTE_ADMIN_MAGIC;
	/* A request the last daemon left unanswered is answered by this one. */
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		snprintf(err, errlen, "cannot make %.200s: %s", path, strerror(-ret));
	return ret;
}

void remote_admin_close(struct remote_admin *a, uint32_t dev_id, bool keep)
{
	char path[PATH_MAX];

	if (!a)
		return;
	munmap(a, sizeof(*a));
	if (!keep && remote_admin_path(dev_id, path, sizeof(path)))
		unlink(path);
}
