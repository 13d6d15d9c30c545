/* daemon.h — the server process of one ublk device. */
#ifndef LINESWAP_UBLK_DAEMON_H
#define LINESWAP_UBLK_DAEMON_H

#include <stdbool.h>

#include "state.h"

/* Brings a device up and serves it until it is stopped; then exits the process. conf->ops is
 * the device's target.
 *
 * New device (recover false): ADD_DEV (conf->dev_id may be UBLK_DEV_ID_NONE), SET_PARAMS,
 * target open, queues, START_DEV. Recovery: START_USER_RECOVERY on conf->dev_id, the target
 * reopens the existing store, queues, END_USER_RECOVERY. Either way one line goes to notify_fd
 * once the device is live ("ok <id>") or has failed ("error <message>"); after a failure nothing
 * is left half-created (a new device is deleted again, its files removed).
 *
 * SIGTERM or SIGINT: stop and delete the device and remove its files. A STOP_DEV from elsewhere
 * (ublk-ctl del): exit, keeping the files for whoever stopped it. */
void ublk_daemon_run(struct ublk_dev_conf *conf, bool recover, int notify_fd)
	__attribute__((noreturn));

#endif
