/* state.c — a device's files. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"

const char *ublk_run_dir(void)
{
	const char *dir = getenv("LINESWAP_RUN_DIR");

	return dir && *dir ? dir : "/run/lineswap";
}

bool ublk_state_path(char *buf, size_t len, uint32_t dev_id, const char *suffix)
{
	int n = snprintf(buf, len, "%s/ublk%u.%s", ublk_run_dir(), dev_id, suffix);

	return n > 0 && (size_t)n < len;
}

bool ublk_store_path(char *buf, size_t len, uint32_t dev_id)
{
	const char *dir = getenv("LINESWAP_SHM_DIR");
	int n = snprintf(buf, len, "%s/lineswap-ublk%u.pages", dir && *dir ? dir : "/dev/shm",
			 dev_id);

	return n > 0 && (size_t)n < len;
}

int ublk_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "dev_id=%u\ntarget=%s\nsize=%llu\nqueues=%u\ndepth=%u\nmax_io=%u\n"
			 "user_copy=%d\nstore=%s\n",
			 c->dev_id, c->target, (unsigned long long)c->size, c->nr_queues, c->depth,
			 c->max_io_bytes, c->user_copy, c->store);
	int m = 0;

	if (n < 0 || (size_t)n >= len)
		return n;
	if (c->name[0]) {
		m = snprintf(buf + n, len - (size_t)n, "name=%s\n", c->name);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
		m = 0;
	}
	if (c->ops && c->ops->conf_format)
		m = c->ops->conf_format(c, buf + n, len - (size_t)n);
	return m < 0 ? m : n + m;
}

enum core_key {
	K_DEV_ID,
	K_TARGET,
	K_SIZE,
	K_QUEUES,
	K_DEPTH,
	K_MAX_IO,
	K_USER_COPY,
	K_STORE,
	K_NAME, /* optional: after every required key */
	K_N
};
#define K_REQUIRED ((1u << K_NAME) - 1)

static const char *const core_keys[K_N] = {
	"dev_id", "target", "size", "queues", "depth", "max_io", "user_copy", "store", "name",
};

bool ublk_name_valid(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

	return ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) && !s[n] &&
	       n < UBLK_NAME_MAX;
}

/* Sets core's key k from val; false for a bad value. */
static bool parse_core_key(struct ublk_dev_conf *c, enum core_key k, const char *val)
{
	uint64_t v;

	if (k == K_NAME) {
		if (!ublk_name_valid(val))
			return false;
		strcpy(c->name, val);
		return true;
	}
	if (k == K_TARGET || k == K_STORE) {
		char *to = k == K_TARGET ? c->target : c->store;
		size_t room = k == K_TARGET ? sizeof(c->target) : sizeof(c->store);

		if (!*val || strlen(val) >= room)
			return false;
		strcpy(to, val);
		return true;
	}
	static const uint64_t min[K_N] = {
		[K_SIZE] = 4096, [K_QUEUES] = 1, [K_DEPTH] = 1, [K_MAX_IO] = 4096
	};
	static const uint64_t max[K_N] = {
		[K_DEV_ID] = UINT32_MAX - 1, [K_SIZE] = UINT64_MAX, [K_QUEUES] = UINT16_MAX,
		[K_DEPTH] = UINT16_MAX,      [K_MAX_IO] = 1u << 30, [K_USER_COPY] = 1
	};

	if (!parse_uint(val, min[k], max[k], &v) || (k == K_SIZE && v % 4096))
		return false;
	switch (k) {
	case K_DEV_ID:
		c->dev_id = (uint32_t)v;
		break;
	case K_SIZE:
		c->size = v;
		break;
	case K_QUEUES:
		c->nr_queues = (uint16_t)v;
		break;
	case K_DEPTH:
		c->depth = (uint16_t)v;
		break;
	case K_MAX_IO:
		c->max_io_bytes = (uint32_t)v;
		break;
	default:
		c->user_copy = v;
	}
	return true;
}

bool ublk_conf_parse(const char *text, struct ublk_dev_conf *c,
		     const struct ublk_target_ops *const *targets)
{
	unsigned seen = 0;
	char line[PATH_MAX + 32];

	memset(c, 0, sizeof(*c));
	while (*text) {
		size_t n = strcspn(text, "\n");
		unsigned k = 0;

		if (n >= sizeof(line))
			return false;
		memcpy(line, text, n);
		line[n] = '\0';
		text += n + (text[n] == '\n');
		char *val = strchr(line, '=');

		if (!val)
			return false;
		*val++ = '\0';
		while (k < K_N && strcmp(line, core_keys[k]))
			k++;
		if (k == K_N) {
			/* The target's keys, which follow its name. */
			if (!c->ops || !c->ops->conf_parse || !c->ops->conf_parse(c, line, val))
				return false;
			continue;
		}
		if ((seen & 1u << k) || !parse_core_key(c, k, val))
			return false;
		seen |= 1u << k;
		if (k == K_TARGET) {
			c->ops = ublk_target_find(targets, c->target);
			if (!c->ops)
				return false;
			if (c->ops->init_conf)
				c->ops->init_conf(c);
		}
	}
	return (seen & K_REQUIRED) == K_REQUIRED;
}

int ublk_conf_save(const struct ublk_dev_conf *c)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[PATH_MAX + UBLK_TGT_CONF_SIZE];
	int len = ublk_conf_format(c, text, sizeof(text)), fd, ret = 0;

	if (len < 0 || (size_t)len >= sizeof(text) ||
	    !ublk_state_path(path, sizeof(path), c->dev_id, "conf"))
		return -ENAMETOOLONG;
	if (mkdir(ublk_run_dir(), 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)len) != len)
		ret = errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int ublk_conf_load(uint32_t dev_id, struct ublk_dev_conf *c,
		   const struct ublk_target_ops *const *targets)
{
	char path[PATH_MAX], text[PATH_MAX + UBLK_TGT_CONF_SIZE];
	ssize_t n;
	int fd;

	if (!ublk_state_path(path, sizeof(path), dev_id, "conf"))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	if (!ublk_conf_parse(text, c, targets) || c->dev_id != dev_id)
		return -EINVAL;
	return 0;
}

void ublk_state_remove(const struct ublk_dev_conf *c)
{
	static const char *const suffixes[] = { "conf", "stats", "log" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ublk_state_path(path, sizeof(path), c->dev_id, suffixes[i]))
			unlink(path);
	if (c->store[0])
		unlink(c->store);
}
