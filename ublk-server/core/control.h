/* ctrl.h — ublk's control device (/dev/ublk-control) driven by io_uring passthrough commands. */
#ifndef LINESWAP_UBLK_CONTROL_H
#define LINESWAP_UBLK_CONTROL_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "ublk_abi.h"

struct ublk_ctrl {
	int fd;
	struct io_uring ring; /* SQE128: a control command rides in the SQE's 80-byte cmd area */
	uint64_t features;    /* GET_FEATURES; 0 on kernels older than 6.5 */
	bool ioctl_encode;    /* commands in ioctl encoding (UBLK_F_CMD_IOCTL_ENCODE) */
};

/* Opens /dev/ublk-control and its ring and reads the driver's features. Returns 0 or a negative
 * errno: -ENOENT when the control device does not exist (ublk_drv not loaded or not built),
 * -EACCES without permission, or the error of io_uring_queue_init (-EINVAL without SQE128). */
int ublk_ctrl_open(struct ublk_ctrl *ctrl);
void ublk_ctrl_close(struct ublk_ctrl *ctrl);

/* The opcode of control command `nr` (UBLK_CMD_*) in the encoding the driver wants. */
uint32_t ublk_ctrl_op(bool ioctl_encode, unsigned nr);

/* Fills `sqe` (128 bytes) with control command `op` carrying `cmd`. */
void ublk_ctrl_prep(struct io_uring_sqe *sqe, int fd, uint32_t op,
		    const struct ublksrv_ctrl_cmd *cmd);

/* Submits one control command and waits for it; returns the CQE's result (>= 0 or -errno). */
int ublk_ctrl_submit(struct ublk_ctrl *ctrl, uint32_t op, const struct ublksrv_ctrl_cmd *cmd);

/* GET_FEATURES: the UBLK_F_* bits this kernel's ublk_drv supports. Returns 0 or -errno
 * (-EOPNOTSUPP or -EINVAL from a kernel older than 6.5). */
int ublk_ctrl_get_features(struct ublk_ctrl *ctrl, uint64_t *features);

/* ADD_DEV: creates device info->dev_id (UBLK_DEV_ID_NONE: the driver picks one); on success
 * *info is what the driver made of it (dev_id, flags it accepted). */
int ublk_ctrl_add_dev(struct ublk_ctrl *ctrl, struct ublksrv_ctrl_dev_info *info);
/* DEL_DEV: with `wait`, returns once /dev/ublkcN is closed and no one holds /dev/ublkbN open
 * (swap, mounts); without, returns at once (DEL_DEV_ASYNC, 6.7+) and the id is freed later. */
int ublk_ctrl_del_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, bool wait);
int ublk_ctrl_set_params(struct ublk_ctrl *ctrl, uint32_t dev_id, struct ublk_params *params);
/* START_DEV: every queue must have fetched all its tags; `pid` is the serving process. */
int ublk_ctrl_start_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, pid_t pid);
int ublk_ctrl_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id);
/* STOP_DEV unless the block device is open (-EBUSY then); only where the device has
 * UBLK_F_SAFE_STOP_DEV. */
int ublk_ctrl_try_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id);
int ublk_ctrl_get_dev_info(struct ublk_ctrl *ctrl, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info);
int ublk_ctrl_start_recovery(struct ublk_ctrl *ctrl, uint32_t dev_id);
int ublk_ctrl_end_recovery(struct ublk_ctrl *ctrl, uint32_t dev_id, pid_t pid);

#endif
