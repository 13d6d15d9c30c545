/* ublk_abi.h — the ublk uapi this project uses, on top of the system's <linux/ublk_cmd.h>.
 *
 * Debian 12's linux-libc-dev carries the 6.1 ABI; the test VM runs 6.12. Constants added after
 * 6.1 are defined here, with the kernel's values, only where the system headers lack them. */
#ifndef LINESWAP_UBLK_ABI_H
#define LINESWAP_UBLK_ABI_H

#include <linux/ioctl.h>
#include <linux/ublk_cmd.h>

#define UBLK_CONTROL_PATH "/dev/ublk-control"

/* Control commands in ioctl encoding (UBLK_F_CMD_IOCTL_ENCODE, 6.3+). GET_FEATURES (6.5+)
 * exists only in this encoding. */
#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES _IOR('u', 0x13, struct ublksrv_ctrl_cmd)
#endif

/* Feature bits reported by GET_FEATURES. */
#ifndef UBLK_F_UNPRIVILEGED_DEV
#define UBLK_F_UNPRIVILEGED_DEV (1ULL << 5)
#endif
#ifndef UBLK_F_CMD_IOCTL_ENCODE
#define UBLK_F_CMD_IOCTL_ENCODE (1ULL << 6)
#endif
#ifndef UBLK_F_USER_COPY
#define UBLK_F_USER_COPY (1ULL << 7)
#endif
#ifndef UBLK_F_ZONED
#define UBLK_F_ZONED (1ULL << 8)
#endif
#ifndef UBLK_F_USER_RECOVERY_FAIL_IO
#define UBLK_F_USER_RECOVERY_FAIL_IO (1ULL << 9)
#endif
#ifndef UBLK_F_UPDATE_SIZE
#define UBLK_F_UPDATE_SIZE (1ULL << 10)
#endif
#ifndef UBLK_F_AUTO_BUF_REG
#define UBLK_F_AUTO_BUF_REG (1ULL << 11)
#endif
#ifndef UBLK_F_QUIESCE
#define UBLK_F_QUIESCE (1ULL << 12)
#endif
#ifndef UBLK_F_PER_IO_DAEMON
#define UBLK_F_PER_IO_DAEMON (1ULL << 13)
#endif
#ifndef UBLK_F_BUF_REG_OFF_DAEMON
#define UBLK_F_BUF_REG_OFF_DAEMON (1ULL << 14)
#endif

/* A control command that targets no device and no queue. */
#define UBLK_DEV_ID_NONE   ((__u32)-1)
#define UBLK_QUEUE_ID_NONE ((__u16)-1)

#endif
