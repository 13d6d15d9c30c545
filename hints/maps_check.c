/* maps_check.c — see maps_check.h. */
#include "maps_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool maps_line_parse(const char *line, struct maps_line *m)
{
	char perms[5];
	int n = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 "%n", &m->start,
		   &m->end, perms, &m->offset, &m->major, &m->minor, &m->ino, &n) != 7 ||
	    strlen(perms) != 4 || m->start >= m->end)
		return false;
	m->writable = perms[1] == 'w';
	m->shared = perms[3] == 's';
	return true;
}

/* How far one mapping line carries the check, from `*covered` on: false when it breaks it. */
static bool extends(const struct maps_line *m, const struct maps_claim *c, uint64_t *covered)
{
	if (m->end <= *covered)
		return true; /* before what is still to check */
	if (c->header && c->unit && !m->shared && m->writable && !m->major && !m->minor &&
	    !m->ino && m->start <= *covered && (*covered - c->base) % c->unit == 0 &&
	    m->end - *covered <= c->header) {
		*covered = m->end; /* a header in anonymous memory */
		return true;
	}
	if (m->start > *covered || !m->shared || !m->writable || m->major != major(c->dev) ||
	    m->minor != minor(c->dev) || m->ino != (uint64_t)c->ino ||
	    m->offset + (*covered - m->start) != c->offset + (*covered - c->base))
		return false;
	*covered = m->end;
	return true;
}

/* Calls each(line, arg) for every line of the maps text in fd (read from its start in pieces
 * of buf's size) until it returns other than 0; returns that, 0 at the end, or -errno. A
 * last line without its newline (a text cut short) ends the reading, unread. */
static int each_line(int fd, char *buf, size_t len, int (*each)(const struct maps_line *, void *),
		     void *arg)
{
	size_t have = 0;
	off_t at = 0;

	if (len < 2)
		return -ENAMETOOLONG;
	for (;;) {
		ssize_t n = pread(fd, buf + have, len - 1 - have, at);

		if (n < 0)
			return -errno;
		at += n;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;

		while ((nl = strchr(line, '\n'))) {
			struct maps_line m;
			int ret;

			*nl = 0;
			if (!maps_line_parse(line, &m))
				return -EBADMSG;
			ret = each(&m, arg);
			if (ret)
				return ret;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		if (n == 0)
			return 0;
		if (have == len - 1)
			return -ENAMETOOLONG;
		memmove(buf, line, have);
	}
}

struct cover {
	const struct maps_claim *claim;
	uint64_t covered;
};

/* 1 once the claim is covered, -1 when a line breaks it, 0 to go on. */
static int cover_line(const struct maps_line *m, void *arg)
{
	struct cover *c = arg;

	if (!extends(m, c->claim, &c->covered))
		return -1;
	return c->covered >= c->claim->base + c->claim->bytes;
}

int maps_check(int fd, const struct maps_claim *c, char *buf, size_t len)
{
	struct cover cov = { .claim = c, .covered = c->base };
	int ret;

	if (c->bytes == 0 || c->base + c->bytes < c->base)
		return 0;
	ret = each_line(fd, buf, len, cover_line, &cov);
	return ret == 1 ? 1 : ret == -1 || ret == 0 || ret == -EBADMSG ? 0 : ret;
}

struct overlap {
	const struct maps_claim *range; /* each: dev, ino, [offset, offset + bytes) */
	unsigned n;
	bool *mapped;
	unsigned lines;
};

static int overlap_line(const struct maps_line *m, void *arg)
{
	struct overlap *o = arg;

	o->lines++;
	for (unsigned i = 0; i < o->n; i++) {
		const struct maps_claim *f = &o->range[i];

		if (m->major == major(f->dev) && m->minor == minor(f->dev) &&
		    m->ino == (uint64_t)f->ino && m->offset < f->offset + f->bytes &&
		    f->offset < m->offset + (m->end - m->start))
			o->mapped[i] = true;
	}
	return 0;
}

/* One maps file: 0 read (or its process gone), 1 not readable (EACCES: a process this one
 * may not inspect), -errno when it could not be read for another reason. */
static int scan(const char *path, struct overlap *o, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : errno == EACCES ? 1 : -errno;
	ret = each_line(fd, buf, len, overlap_line, o);
	close(fd);
	return ret == -ESRCH ? 0 : ret == -EACCES ? 1 : ret;
}

/* A process whose leader has exited shows no maps there: its threads' do. */
static int scan_threads(const char *pid, struct overlap *o, char *buf, size_t len)
{
	char path[96];
	struct dirent *e;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%.20s/task", pid);
	DIR *d = opendir(path);

	if (!d)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	while (ret == 0 && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/task/%.20s/maps", pid, e->d_name);
		unsigned before = o->lines;

		ret = scan(path, o, buf, len);
		if (o->lines > before)
			break; /* threads share one address space */
	}
	closedir(d);
	return ret;
}

int maps_find_mappers(const struct maps_claim *ranges, unsigned n, bool *mapped, char *buf,
		      size_t len)
{
	struct overlap o = { .range = ranges, .n = n, .mapped = mapped };
	DIR *d = opendir("/proc");
	struct dirent *e;
	int ret = 0, unreadable = 0;

	for (unsigned i = 0; i < n; i++)
		mapped[i] = false;
	if (!d)
		return -errno;
	errno = 0;
	while (ret == 0 && (e = readdir(d))) {
		char path[64];

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/maps", e->d_name);
		o.lines = 0;
		ret = scan(path, &o, buf, len);
		if (ret == 0 && o.lines == 0)
			ret = scan_threads(e->d_name, &o, buf, len);
		if (ret == 1) {
			unreadable++;
			ret = 0;
		}
		errno = 0;
	}
	if (ret == 0 && errno)
		ret = -errno; /* readdir failed: not every process was seen */
	closedir(d);
	return ret < 0 ? ret : unreadable;
}
