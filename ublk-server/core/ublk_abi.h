/* ublk_abi.h — the ublk uapi this project uses, on top of the system's <linux/ublk_cmd.h>.
 *
 * Debian 12's linux-libc-dev carries the 6.1 ABI; the test VM runs 6.12. Constants added after
 * 6.1 are defined here, with the kernel's values, only where the system headers lack them. */
#ifndef LINESWAP_UBLK_ABI_H
#define LINESWAP_UBLK_ABI_H

#include <linux/ioctl.h>
#include <linux/ublk_cmd.h>

#define UBLK_CONTROL_PATH "/dev/ublk-control"

/* Control and I/O commands in ioctl encoding (UBLK_F_CMD_IOCTL_ENCODE, 6.3+). The legacy
 * encoding is the bare command number (UBLK_CMD_*, UBLK_IO_*). GET_FEATURES (6.5+) exists only
 * in the ioctl encoding. */
#ifndef UBLK_CMD_GET_DEV_INFO2
#define UBLK_CMD_GET_DEV_INFO2 0x12
#endif
#ifndef UBLK_CMD_DEL_DEV_ASYNC
#define UBLK_CMD_DEL_DEV_ASYNC 0x14
#endif
#ifndef UBLK_CMD_TRY_STOP_DEV
#define UBLK_CMD_TRY_STOP_DEV 0x17 /* 7.x, with UBLK_F_SAFE_STOP_DEV */
#endif
#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES _IOR('u', 0x13, struct ublksrv_ctrl_cmd)
#endif
/* Whether a control command reads (GET_*) or also writes the buffer decides its ioctl
 * direction; see ublk_ctrl_op(). */
#define UBLK_CTRL_IOR(nr)  _IOR('u', nr, struct ublksrv_ctrl_cmd)
#define UBLK_CTRL_IOWR(nr) _IOWR('u', nr, struct ublksrv_ctrl_cmd)
#define UBLK_IO_IOWR(nr)   _IOWR('u', nr, struct ublksrv_io_cmd)

/* UBLK_F_USER_COPY: a request's data is read and written with pread/pwrite on /dev/ublkcN at
 * UBLKSRV_IO_BUF_OFFSET + (queue << UBLK_QID_OFF) + (tag << UBLK_TAG_OFF) + byte offset. */
#ifndef UBLK_IO_BUF_BITS
#define UBLK_IO_BUF_BITS 25
#define UBLK_TAG_OFF     UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS    16
#define UBLK_QID_OFF     (UBLK_TAG_OFF + UBLK_TAG_BITS)
#endif
#ifndef UBLK_MAX_NR_QUEUES
#define UBLK_MAX_NR_QUEUES 4096
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
/* The 7.x line's (Debian trixie-backports 7.3 offers them all); NO_AUTO_PART_SCAN (daemon.c)
 * and SAFE_STOP_DEV (ctl/del.c) are used, the others are named for `ublk-ctl features`. */
#ifndef UBLK_F_BATCH_IO
#define UBLK_F_BATCH_IO (1ULL << 15)
#endif
#ifndef UBLK_F_INTEGRITY
#define UBLK_F_INTEGRITY (1ULL << 16)
#endif
#ifndef UBLK_F_SAFE_STOP_DEV
#define UBLK_F_SAFE_STOP_DEV (1ULL << 17)
#endif
#ifndef UBLK_F_NO_AUTO_PART_SCAN
#define UBLK_F_NO_AUTO_PART_SCAN (1ULL << 18)
#endif
#ifndef UBLK_F_SHMEM_ZC
#define UBLK_F_SHMEM_ZC (1ULL << 19)
#endif
#ifndef UBLK_F_IO_DESC_SIZE
#define UBLK_F_IO_DESC_SIZE (1ULL << 20)
#endif

#ifndef UBLK_S_DEV_FAIL_IO
#define UBLK_S_DEV_FAIL_IO 3
#endif
/* The driver allocates device ids below this (UBLK_MINORS / 2 in ublk_drv.c). */
#define UBLK_MAX_NR_DEVS (1u << 19)

/* A control command that targets no device and no queue. */
#define UBLK_DEV_ID_NONE   ((__u32)-1)
#define UBLK_QUEUE_ID_NONE ((__u16)-1)

#endif
