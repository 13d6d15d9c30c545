/* del.c — `ublk-ctl del`: stop and remove devices. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "state.h"
#include "swap_area.h"
#include "targets.h"

static const char del_usage[] =
	"Usage: ublk-ctl del -n ID | --all [--force]\n"
	"\n"
	"Stops a device, waits for its daemon to exit, removes the device and frees its pages\n"
	"and files (for a remote device, its regions on the memory nodes). An active swap\n"
	"device is refused: swapoff it first, or pass --force (whatever was swapped out to it\n"
	"is then lost and the processes owning it will crash). Where the kernel offers\n"
	"SAFE_STOP_DEV (7.x; see ublk-ctl features), a device anything holds open (a mount, a\n"
	"mapping, a process) is refused as well, by the driver itself; before that, only swap\n"
	"is seen.\n"
	"\n"
	"Options:\n"
	"  -n, --number ID  the device to delete, by id or by name (add --name)\n"
	"  -a, --all        every ublk device\n"
	"  -f, --force      delete even a device in use (an active swap device, a mount)\n"
	"  -h, --help       this text\n"
	"\n"
	"Exit status: 0 deleted, 1 a device could not be deleted, 2 bad arguments.\n";

static int del_one(struct ublk_ctrl *ctrl, uint32_t dev_id, bool force)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_dev_conf conf;
	int ret = ublk_ctrl_get_dev_info(ctrl, dev_id, &info);

	if (ret == -ENODEV || ret == -ENOENT)
		return ctl_error("del: no device %u", dev_id);
	if (ret < 0)
		return ctl_error("del: device %u: %s", dev_id, strerror(-ret));
	bool swap = ublk_swap_area_active(dev_id);

	if (swap && !force)
		return ctl_error("del: /dev/ublkb%u is an active swap device: swapoff it first, or "
				 "use --force",
				 dev_id);
	/* The driver stops the device only if nothing holds it open, atomically. An opener may
	 * be brief (udev probing the device after a close that followed writes): wait for it.
	 * Once stopped, the daemon's SIGTERM or STOP_DEV below finds it so. */
	if (!force && (info.flags & UBLK_F_SAFE_STOP_DEV)) {
		for (int i = 0; (ret = ublk_ctrl_try_stop_dev(ctrl, dev_id)) == -EBUSY && i < 30;
		     i++)
			usleep(100 * 1000);
		if (ret == -EBUSY)
			return ctl_error(
				"del: /dev/ublkb%u is in use (mounted, mapped or open: "
				"'fuser -vm /dev/ublkb%u' lists who): stop its users first, "
				"or use --force",
				dev_id, dev_id);
		/* Any other answer (-ENODEV: not started, or stopped already) is STOP_DEV's below.
		 */
	}
	/* A live daemon deletes its own device (and what its target holds elsewhere) on
	 * SIGTERM; a swap device cannot be deleted while swap holds it, so that is ours. */
	if (!swap && ctl_pid_alive(info.ublksrv_pid) && kill(info.ublksrv_pid, SIGTERM) == 0) {
		for (int i = 0; i < 300 && ctl_pid_alive(info.ublksrv_pid); i++)
			usleep(100 * 1000);
		if ((ret = ublk_ctrl_get_dev_info(ctrl, dev_id, &info)) == -ENODEV ||
		    ret == -ENOENT) {
			printf("deleted /dev/ublkb%u\n", dev_id);
			return 0;
		}
	}
	ret = ublk_ctrl_stop_dev(ctrl, dev_id);
	if (ret < 0)
		return ctl_error("del: STOP_DEV %u: %s", dev_id, strerror(-ret));
	/* DEL_DEV waits until the daemon has closed /dev/ublkcN: let it exit first. */
	for (int i = 0; i < 100 && ctl_pid_alive(info.ublksrv_pid); i++)
		usleep(100 * 1000);
	if (ctl_pid_alive(info.ublksrv_pid)) {
		fprintf(stderr, "ublk-ctl: del: daemon %d of device %u did not exit; killing it\n",
			info.ublksrv_pid, dev_id);
		kill(info.ublksrv_pid, SIGKILL);
		for (int i = 0; i < 50 && ctl_pid_alive(info.ublksrv_pid); i++)
			usleep(100 * 1000);
	}
	/* An active swap device keeps /dev/ublkbN open until swapoff: a waiting DEL_DEV would
	 * hang until then. */
	ret = ublk_ctrl_del_dev(ctrl, dev_id, !ublk_swap_area_active(dev_id));
	if (ret < 0)
		return ctl_error("del: DEL_DEV %u: %s", dev_id, strerror(-ret));
	if (ublk_conf_load(dev_id, &conf, ublk_targets) < 0) {
		/* No record: remove what the defaults would have created. */
		memset(&conf, 0, sizeof(conf));
		conf.dev_id = dev_id;
		ublk_store_path(conf.store, sizeof(conf.store), dev_id);
	} else if (conf.ops->release) {
		/* The daemon is gone: what its target holds elsewhere is ours to free. */
		char err[256];

		if (conf.ops->release(&conf, err, sizeof(err)) < 0)
			fprintf(stderr,
				"ublk-ctl: del: device %u deleted, but its %s target could not "
				"free what it holds: %s\n",
				dev_id, conf.target, err);
	}
	ublk_state_remove(&conf);
	printf("deleted /dev/ublkb%u\n", dev_id);
	return 0;
}

int cmd_del(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint32_t dev_id = UBLK_DEV_ID_NONE, ids[CTL_MAX_DEVICES];
	bool all = false, force = false;
	struct ublk_ctrl ctrl;
	int c, n, ret, failed = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:afh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ret = ctl_parse_device("del", optarg, &dev_id);
			if (ret)
				return ret;
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(del_usage, stdout);
			return 0;
		default:
			return ctl_usage_error(
				"del: unknown or incomplete option '%s' (see --help)",
				argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("del: unexpected argument '%s'", argv[optind]);
	if (all == (dev_id != UBLK_DEV_ID_NONE))
		return ctl_usage_error("del: give exactly one of -n ID and --all");

	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
	if (all) {
		n = ctl_device_ids(ids, (int)(sizeof(ids) / sizeof(ids[0])));
		if (n < 0) {
			ublk_ctrl_close(&ctrl);
			return ctl_error("del: cannot list devices: %s", strerror(-n));
		}
		for (int i = 0; i < n; i++)
			failed |= del_one(&ctrl, ids[i], force) != 0;
	} else {
		failed = del_one(&ctrl, dev_id, force) != 0;
	}
	ublk_ctrl_close(&ctrl);
	return failed ? EXIT_FAILURE : 0;
}
