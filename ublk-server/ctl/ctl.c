/* ctl.c — helpers shared by ublk-ctl's commands. */
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "targets.h"

static void vreport(const char *fmt, va_list ap)
{
	fputs("ublk-ctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

int ctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return EXIT_FAILURE;
}

int ctl_open(struct ublk_ctrl *ctrl)
{
	int err = ublk_ctrl_open(ctrl);

	switch (err) {
	case 0:
		break;
	case -ENOENT:
		fprintf(stderr,
			"ublk-ctl: %s does not exist: the ublk driver is not loaded.\n"
			"  Load it with 'modprobe ublk_drv' (needs CONFIG_BLK_DEV_UBLK); on a host "
			"without it, use the test VM: scripts/vm/run\n",
			UBLK_CONTROL_PATH);
		break;
	case -EACCES:
	case -EPERM:
		fprintf(stderr, "ublk-ctl: no permission to open %s: run as root\n",
			UBLK_CONTROL_PATH);
		break;
	default:
		fprintf(stderr, "ublk-ctl: cannot open %s: %s\n", UBLK_CONTROL_PATH,
			strerror(-err));
	}
	return err;
}

bool ctl_parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	if (!parse_uint(s, 0, UBLK_MAX_NR_DEVS, &v))
		return false;
	*id = (uint32_t)v;
	return true;
}

bool ctl_pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

const char *ctl_state_name(uint16_t state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD:
		return "dead";
	case UBLK_S_DEV_LIVE:
		return "live";
	case UBLK_S_DEV_QUIESCED:
		return "quiesced";
	case UBLK_S_DEV_FAIL_IO:
		return "fail_io";
	default:
		return "unknown";
	}
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int ctl_device_ids(uint32_t *ids, int max)
{
	DIR *dir = opendir("/sys/class/ublk-char");
	struct dirent *e;
	int n = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dir)) && n < max) {
		if (!strncmp(e->d_name, "ublkc", 5) && ctl_parse_id(e->d_name + 5, &ids[n]))
			n++;
	}
	closedir(dir);
	qsort(ids, (size_t)n, sizeof(*ids), cmp_id);
	return n;
}

int ctl_find_name(const char *name, uint32_t *id)
{
	uint32_t ids[CTL_MAX_DEVICES];
	int n = ctl_device_ids(ids, CTL_MAX_DEVICES);

	for (int i = 0; i < n; i++) {
		struct ublk_dev_conf conf;

		if (ublk_conf_load(ids[i], &conf, ublk_targets) == 0 && !strcmp(conf.name, name)) {
			*id = ids[i];
			return 0;
		}
	}
	return n < 0 ? n : -ENOENT;
}

int ctl_parse_device(const char *cmd, const char *s, uint32_t *id)
{
	int ret;

	if (ctl_parse_id(s, id))
		return 0;
	if (!ublk_name_valid(s))
		return ctl_usage_error("%s: bad device '%s' (an id, or a name given to add --name)",
				       cmd, s);
	ret = ctl_find_name(s, id);
	if (ret == -ENOENT)
		return ctl_error("%s: no device is named '%s' (see ublk-ctl list)", cmd, s);
	if (ret < 0)
		return ctl_error("%s: cannot list devices: %s", cmd, strerror(-ret));
	return 0;
}
