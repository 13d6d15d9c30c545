/* ctrl.h — ublk's control device (/dev/ublk-control) driven by io_uring passthrough commands. */
#ifndef LINESWAP_UBLK_CTRL_H
#define LINESWAP_UBLK_CTRL_H

#include <liburing.h>
#include <stdint.h>

#include "ublk_abi.h"

struct ublk_ctrl {
	int fd;
	struct io_uring ring; /* SQE128: a control command rides in the SQE's 80-byte cmd area */
};

/* Opens /dev/ublk-control and its ring. Returns 0 or a negative errno: -ENOENT when the control
 * device does not exist (ublk_drv not loaded or not built), -EACCES without permission, or the
 * error of io_uring_queue_init (-EINVAL when the kernel lacks SQE128). */
int ublk_ctrl_open(struct ublk_ctrl *ctrl);
void ublk_ctrl_close(struct ublk_ctrl *ctrl);

/* Fills `sqe` with control command `op` (ioctl-encoded) carrying `cmd`. */
void ublk_ctrl_prep(struct io_uring_sqe *sqe, int fd, uint32_t op,
		    const struct ublksrv_ctrl_cmd *cmd);

/* Submits one control command and waits for it; returns the CQE's result (>= 0 or -errno). */
int ublk_ctrl_submit(struct ublk_ctrl *ctrl, uint32_t op, const struct ublksrv_ctrl_cmd *cmd);

/* GET_FEATURES: the UBLK_F_* bits this kernel's ublk_drv supports. Returns 0 or -errno
 * (-EOPNOTSUPP or -EINVAL from a kernel older than 6.5). */
int ublk_ctrl_get_features(struct ublk_ctrl *ctrl, uint64_t *features);

#endif
