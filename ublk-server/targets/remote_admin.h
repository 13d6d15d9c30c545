/* remote_admin.h — `ublk-ctl node add|remove` to a running remote device: one request at a
 * time through a small shared file, ublk<ID>.admin (mode 0600, the daemon's), which the
 * keeper thread looks at on every round (remote_keeper.h).
 *
 * ublk-ctl, holding the file's lock (flock), waits until the keeper has taken the last request
 * (taken == request), writes op and url, then request (release); the keeper copies op and url,
 * sets taken, carries the request out and writes status, node and message, then answered =
 * request. A request whose ublk-ctl went away is still carried out. A daemon takes a request
 * once: a recovered one does not take again what its predecessor took (a drain it took goes on
 * all the same: the map marks the node draining). */
#ifndef LINESWAP_UBLK_REMOTE_ADMIN_H
#define LINESWAP_UBLK_REMOTE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote.h"

#define REMOTE_ADMIN_MAGIC 0x6c73616du /* "lsam" */

enum remote_admin_op {
	REMOTE_ADMIN_ADD = 1,    /* url joins the pool */
	REMOTE_ADMIN_REMOVE = 2, /* url's copies move to the other nodes; then it holds nothing */
};

struct remote_admin {
	uint32_t magic;
	uint32_t request;  /* ublk-ctl: its request's number, written last */
	uint32_t taken;    /* the keeper: the last number whose op and url it copied */
	uint32_t answered; /* the keeper: the number it answered, written last */
	uint32_t op;       /* enum remote_admin_op */
	int32_t status;    /* 0, or -errno with message */
	uint32_t node;     /* the node's index in the pool */
	char url[REMOTE_URL_MAX];
	char message[256];
};

/* ublk<ID>.admin's path; false if it does not fit. */
bool remote_admin_path(uint32_t dev_id, char *path, size_t len);
/* The daemon's: creates (or, recovering, finds) and maps the file. Returns 0 or -errno with a
 * message in err. */
int remote_admin_open(uint32_t dev_id, bool recovering, struct remote_admin **out, char *err,
		      size_t errlen);
/* `keep`: the file stays for a recovered daemon. */
void remote_admin_close(struct remote_admin *a, uint32_t dev_id, bool keep);

#endif
