/* ublk-ctl — manage lineswap's ublk devices.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad arguments. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "ublk_features.h"

#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: ublk-ctl COMMAND [OPTIONS]\n"
	"\n"
	"Manage lineswap's ublk block devices (remote memory for swap).\n"
	"\n"
	"Commands:\n"
	"  features    print the features of this kernel's ublk driver\n"
	"\n"
	"Run 'ublk-ctl COMMAND --help' for a command's options.\n"
	"\n"
	"Exit status: 0 on success, 1 when the operation fails, 2 for bad arguments.\n";

static const char features_usage[] =
	"Usage: ublk-ctl features [--json]\n"
	"\n"
	"Asks the kernel's ublk driver which UBLK_F_* features it supports (GET_FEATURES\n"
	"on /dev/ublk-control, through io_uring) and prints the 64-bit mask and one name per\n"
	"bit.\n"
	"Needs the ublk_drv module (Linux 6.5 or newer) and permission to open the device.\n"
	"\n"
	"Options:\n"
	"  --json      print one JSON object:\n"
	"              {\"features\": N, \"hex\": \"0x...\", \"names\": [\"USER_COPY\", ...]}\n"
	"  -h, --help  this text\n";

static int usage_error(const char *fmt, const char *arg)
{
	fputs("ublk-ctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	return EXIT_USAGE;
}

/* Explains a failure to open the control device, with what the user can do about it. */
static void explain_open_error(int err)
{
	switch (err) {
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
}

static int cmd_features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ublk_ctrl ctrl;
	uint64_t features;
	bool json = false;
	char names[1024];
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(features_usage, stdout);
			return 0;
		default:
			return usage_error("features: unknown option '%s' (see --help)",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("features: unexpected argument '%s'", argv[optind]);

	ret = ublk_ctrl_open(&ctrl);
	if (ret < 0) {
		explain_open_error(ret);
		return EXIT_FAILURE;
	}
	ret = ublk_ctrl_get_features(&ctrl, &features);
	ublk_ctrl_close(&ctrl);
	if (ret < 0) {
		const bool too_old = ret == -EOPNOTSUPP || ret == -EINVAL;

		fprintf(stderr, "ublk-ctl: GET_FEATURES failed: %s%s\n", strerror(-ret),
			too_old ? " (the kernel is older than 6.5)" : "");
		return EXIT_FAILURE;
	}

	if (json) {
		ublk_features_format(features, "\", \"", names, sizeof(names));
		printf("{\"features\": %llu, \"hex\": \"0x%llx\", \"names\": [%s%s%s]}\n",
		       (unsigned long long)features, (unsigned long long)features,
		       features ? "\"" : "", features ? names : "", features ? "\"" : "");
	} else {
		ublk_features_format(features, " ", names, sizeof(names));
		printf("features 0x%llx: %s\n", (unsigned long long)features, names);
	}
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "features", cmd_features },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("%s", "no command given (see 'ublk-ctl --help')");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	}
	return usage_error("unknown command '%s' (see 'ublk-ctl --help')", argv[1]);
}
