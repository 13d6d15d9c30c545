/* ublk_features.c — names for ublk's feature bits. */
#include "ublk_features.h"

#include <stdio.h>

#include "ublk_abi.h"

#define BIT_INDEX(f) (__builtin_ctzll(f))

static const char *const feature_names[64] = {
	[BIT_INDEX(UBLK_F_SUPPORT_ZERO_COPY)] = "ZERO_COPY",
	[BIT_INDEX(UBLK_F_URING_CMD_COMP_IN_TASK)] = "URING_CMD_COMP_IN_TASK",
	[BIT_INDEX(UBLK_F_NEED_GET_DATA)] = "NEED_GET_DATA",
	[BIT_INDEX(UBLK_F_USER_RECOVERY)] = "USER_RECOVERY",
	[BIT_INDEX(UBLK_F_USER_RECOVERY_REISSUE)] = "USER_RECOVERY_REISSUE",
	[BIT_INDEX(UBLK_F_UNPRIVILEGED_DEV)] = "UNPRIVILEGED_DEV",
	[BIT_INDEX(UBLK_F_CMD_IOCTL_ENCODE)] = "CMD_IOCTL_ENCODE",
	[BIT_INDEX(UBLK_F_USER_COPY)] = "USER_COPY",
	[BIT_INDEX(UBLK_F_ZONED)] = "ZONED",
	[BIT_INDEX(UBLK_F_USER_RECOVERY_FAIL_IO)] = "USER_RECOVERY_FAIL_IO",
	[BIT_INDEX(UBLK_F_UPDATE_SIZE)] = "UPDATE_SIZE",
	[BIT_INDEX(UBLK_F_AUTO_BUF_REG)] = "AUTO_BUF_REG",
	[BIT_INDEX(UBLK_F_QUIESCE)] = "QUIESCE",
	[BIT_INDEX(UBLK_F_PER_IO_DAEMON)] = "PER_IO_DAEMON",
	[BIT_INDEX(UBLK_F_BUF_REG_OFF_DAEMON)] = "BUF_REG_OFF_DAEMON",
	[BIT_INDEX(UBLK_F_BATCH_IO)] = "BATCH_IO",
	[BIT_INDEX(UBLK_F_INTEGRITY)] = "INTEGRITY",
	[BIT_INDEX(UBLK_F_SAFE_STOP_DEV)] = "SAFE_STOP_DEV",
	[BIT_INDEX(UBLK_F_NO_AUTO_PART_SCAN)] = "NO_AUTO_PART_SCAN",
	[BIT_INDEX(UBLK_F_SHMEM_ZC)] = "SHMEM_ZC",
	[BIT_INDEX(UBLK_F_IO_DESC_SIZE)] = "IO_DESC_SIZE",
};

const char *ublk_feature_name(unsigned bit)
{
	return bit < 64 ? feature_names[bit] : NULL;
}

size_t ublk_features_format(uint64_t features, const char *sep, char *buf, size_t len)
{
	size_t need = 0;
	int n;

	if (len > 0)
		buf[0] = '\0';
	if (features == 0) {
		n = snprintf(buf, len, "none");
		return (size_t)n;
	}
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!(features & (1ULL << bit)))
			continue;
		const char *name = ublk_feature_name(bit);
		const char *prefix = need ? sep : "";
		char *at = need < len ? buf + need : NULL;
		size_t room = need < len ? len - need : 0;

		if (name)
			n = snprintf(at, room, "%s%s", prefix, name);
		else
			n = snprintf(at, room, "%sBIT%u", prefix, bit);
		need += (size_t)n;
	}
	return need;
}
