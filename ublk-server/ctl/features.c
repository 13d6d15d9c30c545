/* features.c — `ublk-ctl features`: what this kernel's ublk driver supports. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ublk_features.h"

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

int cmd_features(int argc, char **argv)
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
			return ctl_usage_error("features: unknown option '%s' (see --help)",
					       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("features: unexpected argument '%s'", argv[optind]);

	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
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
