/* ctrl.c — ublk's control device driven by io_uring passthrough commands. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct ublksrv_ctrl_cmd) <= 80, "a control command must fit an SQE128 cmd");

int ublk_ctrl_open(struct ublk_ctrl *ctrl)
{
	int ret;

	ctrl->fd = open(UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (ctrl->fd < 0)
		return -errno;
	ret = io_uring_queue_init(4, &ctrl->ring, IORING_SETUP_SQE128);
	if (ret < 0) {
		close(ctrl->fd);
		ctrl->fd = -1;
		return ret;
	}
	/* Before 6.5 there is no GET_FEATURES: assume the legacy command encoding. */
	if (ublk_ctrl_get_features(ctrl, &ctrl->features) < 0)
		ctrl->features = 0;
	ctrl->ioctl_encode = ctrl->features & UBLK_F_CMD_IOCTL_ENCODE;
	return 0;
}

void ublk_ctrl_close(struct ublk_ctrl *ctrl)
{
	if (ctrl->fd < 0)
		return;
	io_uring_queue_exit(&ctrl->ring);
	close(ctrl->fd);
	ctrl->fd = -1;
}

uint32_t ublk_ctrl_op(bool ioctl_encode, unsigned nr)
{
	if (!ioctl_encode)
		return nr;
	switch (nr) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_PARAMS:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_CMD_DEL_DEV_ASYNC:
		return UBLK_CTRL_IOR(nr);
	default:
		return UBLK_CTRL_IOWR(nr);
	}
}

void ublk_ctrl_prep(struct io_uring_sqe *sqe, int fd, uint32_t op,
		    const struct ublksrv_ctrl_cmd *cmd)
{
	/* The whole 128-byte SQE: stale bytes in the cmd area would reach the driver. */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	memcpy(sqe->cmd, cmd, sizeof(*cmd));
}

int ublk_ctrl_submit(struct ublk_ctrl *ctrl, uint32_t op, const struct ublksrv_ctrl_cmd *cmd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctrl->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	ublk_ctrl_prep(sqe, ctrl->fd, op, cmd);
	ret = io_uring_submit_and_wait(&ctrl->ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(&ctrl->ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl->ring, cqe);
	return ret;
}

int ublk_ctrl_get_features(struct ublk_ctrl *ctrl, uint64_t *features)
{
	uint64_t value = 0;
	struct ublksrv_ctrl_cmd cmd = {
		.dev_id = UBLK_DEV_ID_NONE,
		.queue_id = UBLK_QUEUE_ID_NONE,
		.len = sizeof(value),
		.addr = (uint64_t)(uintptr_t)&value,
	};
	int ret = ublk_ctrl_submit(ctrl, UBLK_U_CMD_GET_FEATURES, &cmd);

	if (ret < 0)
		return ret;
	*features = value;
	return 0;
}

/* dev_cmd: a command for device `dev_id` with an optional buffer and one inline datum. */
static int dev_cmd(struct ublk_ctrl *ctrl, unsigned nr, uint32_t dev_id, void *buf, uint16_t len,
		   uint64_t data0)
{
	struct ublksrv_ctrl_cmd cmd = {
		.dev_id = dev_id,
		.queue_id = UBLK_QUEUE_ID_NONE,
		.len = len,
		.addr = (uint64_t)(uintptr_t)buf,
		.data = { data0 },
	};

	return ublk_ctrl_submit(ctrl, ublk_ctrl_op(ctrl->ioctl_encode, nr), &cmd);
}

int ublk_ctrl_add_dev(struct ublk_ctrl *ctrl, struct ublksrv_ctrl_dev_info *info)
{
	return dev_cmd(ctrl, UBLK_CMD_ADD_DEV, info->dev_id, info, sizeof(*info), 0);
}

int ublk_ctrl_del_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, bool wait)
{
	return dev_cmd(ctrl, wait ? UBLK_CMD_DEL_DEV : UBLK_CMD_DEL_DEV_ASYNC, dev_id, NULL, 0, 0);
}

int ublk_ctrl_set_params(struct ublk_ctrl *ctrl, uint32_t dev_id, struct ublk_params *params)
{
	params->len = sizeof(*params);
	return dev_cmd(ctrl, UBLK_CMD_SET_PARAMS, dev_id, params, sizeof(*params), 0);
}

int ublk_ctrl_start_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, pid_t pid)
{
	return dev_cmd(ctrl, UBLK_CMD_START_DEV, dev_id, NULL, 0, (uint64_t)pid);
}

int ublk_ctrl_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	return dev_cmd(ctrl, UBLK_CMD_STOP_DEV, dev_id, NULL, 0, 0);
}

int ublk_ctrl_try_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	return dev_cmd(ctrl, UBLK_CMD_TRY_STOP_DEV, dev_id, NULL, 0, 0);
}

int ublk_ctrl_get_dev_info(struct ublk_ctrl *ctrl, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info)
{
	return dev_cmd(ctrl, UBLK_CMD_GET_DEV_INFO, dev_id, info, sizeof(*info), 0);
}

int ublk_ctrl_start_recovery(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	return dev_cmd(ctrl, UBLK_CMD_START_USER_RECOVERY, dev_id, NULL, 0, 0);
}

int ublk_ctrl_end_recovery(struct ublk_ctrl *ctrl, uint32_t dev_id, pid_t pid)
{
	return dev_cmd(ctrl, UBLK_CMD_END_USER_RECOVERY, dev_id, NULL, 0, (uint64_t)pid);
}
