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
	return snprintf(buf, len,
			"dev_id=%u\ntarget=%s\nsize=%llu\nqueues=%u\ndepth=%u\nmax_io=%u\n"
			"user_copy=%d\nstore=%s\nnode=%s\nregion=%s\ntimeout_ms=%u\nhints=%d\n"
			"hint_uid=%lld\nhint_hold_ms=%u\n",
			c->dev_id, c->target, (unsigned long long)c->size, c->nr_queues, c->depth,
			c->max_io_bytes, c->user_copy, c->store, c->node, c->region, c->timeout_ms,
			c->hints, (long long)c->hint_uid, c->hint_hold_ms);
}

bool ublk_conf_parse(const char *text, struct ublk_dev_conf *c)
{
	enum {
		F_ID = 1,
		F_TARGET = 2,
		F_SIZE = 4,
		F_QUEUES = 8,
		F_DEPTH = 16,
		F_MAXIO = 32,
		F_UCOPY = 64,
		F_STORE = 128,
		F_ALL = 255
	};
	unsigned seen = 0;
	char line[PATH_MAX + 32];
	uint64_t v;

	memset(c, 0, sizeof(*c));
	while (*text) {
		size_t n = strcspn(text, "\n");

		if (n >= sizeof(line))
			return false;
		memcpy(line, text, n);
		line[n] = '\0';
		text += n + (text[n] == '\n');
		char *val = strchr(line, '=');

		if (!val)
			return false;
		*val++ = '\0';
		if (!strcmp(line, "dev_id") && parse_uint(val, 0, UINT32_MAX - 1, &v)) {
			c->dev_id = (uint32_t)v;
			seen |= F_ID;
		} else if (!strcmp(line, "target") && *val && strlen(val) < sizeof(c->target)) {
			strcpy(c->target, val);
			seen |= F_TARGET;
		} else if (!strcmp(line, "size") && parse_uint(val, 4096, UINT64_MAX, &v) &&
			   v % 4096 == 0) {
			c->size = v;
			seen |= F_SIZE;
		} else if (!strcmp(line, "queues") && parse_uint(val, 1, UINT16_MAX, &v)) {
			c->nr_queues = (uint16_t)v;
			seen |= F_QUEUES;
		} else if (!strcmp(line, "depth") && parse_uint(val, 1, UINT16_MAX, &v)) {
			c->depth = (uint16_t)v;
			seen |= F_DEPTH;
		} else if (!strcmp(line, "max_io") && parse_uint(val, 4096, 1u << 30, &v)) {
			c->max_io_bytes = (uint32_t)v;
			seen |= F_MAXIO;
		} else if (!strcmp(line, "user_copy") && parse_uint(val, 0, 1, &v)) {
			c->user_copy = v;
			seen |= F_UCOPY;
		} else if (!strcmp(line, "store") && *val && strlen(val) < sizeof(c->store)) {
			strcpy(c->store, val);
			seen |= F_STORE;
		} else if (!strcmp(line, "node") && strlen(val) < sizeof(c->node)) {
			strcpy(c->node, val);
		} else if (!strcmp(line, "region") &&
			   (!*val ||
			    (strlen(val) == 32 && strspn(val, "0123456789abcdef") == 32))) {
			strcpy(c->region, val);
		} else if (!strcmp(line, "timeout_ms") && parse_uint(val, 0, 3600000, &v)) {
			c->timeout_ms = (uint32_t)v;
		} else if (!strcmp(line, "hints") && parse_uint(val, 0, 1, &v)) {
			c->hints = v;
		} else if (!strcmp(line, "hint_uid") && (!strcmp(val, "-1") || !strcmp(val, "-2") ||
							 parse_uint(val, 0, UINT32_MAX - 1, &v))) {
			c->hint_uid = val[0] == '-' ? -(val[1] - '0') : (int64_t)v;
		} else if (!strcmp(line, "hint_hold_ms") && parse_uint(val, 0, 60000, &v)) {
			c->hint_hold_ms = (uint32_t)v;
		} else {
			return false;
		}
	}
	return seen == F_ALL;
}

int ublk_conf_save(const struct ublk_dev_conf *c)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[PATH_MAX + 256];
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

int ublk_conf_load(uint32_t dev_id, struct ublk_dev_conf *c)
{
	char path[PATH_MAX], text[PATH_MAX + 256];
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
	if (!ublk_conf_parse(text, c) || c->dev_id != dev_id)
		return -EINVAL;
	return 0;
}

void ublk_state_remove(const struct ublk_dev_conf *c)
{
	static const char *const suffixes[] = { "conf", "stats", "log", "secret" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ublk_state_path(path, sizeof(path), c->dev_id, suffixes[i]))
			unlink(path);
	if (c->store[0])
		unlink(c->store);
}

int ublk_secret_save(const struct ublk_dev_conf *c)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	if (!ublk_state_path(path, sizeof(path), c->dev_id, "secret"))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, c->secret, c->secret_len) != (ssize_t)c->secret_len)
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}
