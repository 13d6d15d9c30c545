/* fault.c — the `fault` target: a device that stores nothing (reads return zeros, writes are
 * dropped) and fails where it is told to, so that tests can drive the server's error paths
 * (a queue that cannot start, a target that cannot open, writes that do not finish: the
 * watchdog) through the real driver. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "parse.h"
#include "queue.h"
#include "state.h"
#include "targets.h"

#define NO_QUEUE UINT32_MAX

struct fault_conf {
	uint32_t fail_queue; /* this queue's set-up fails; NO_QUEUE for none */
	bool fail_open;      /* the target's open fails */
	uint32_t hold_s;     /* writes finish only after this long (0: at once) */
};

/* A queue's held writes: one slot per tag, finished by the queue's tick once due. */
struct fault_queue {
	struct ublk_req **held;
	uint64_t *due_ns;
};

static struct fault_conf *fault_conf(const struct ublk_dev_conf *c)
{
	return ublk_tgt_conf((struct ublk_dev_conf *)c, struct fault_conf);
}

static const char fault_usage[] =
	"      --fail-queue Q   queue Q fails to start (add must fail, leaving nothing behind)\n"
	"      --fail-open      the target fails to open\n"
	"      --hold-writes S  each write finishes (dropped) only S seconds after it arrives\n";

enum { OPT_FAIL_QUEUE = 1, OPT_FAIL_OPEN, OPT_HOLD_WRITES };

static const struct option fault_options[] = {
	{ "fail-queue", required_argument, NULL, OPT_FAIL_QUEUE },
	{ "fail-open", no_argument, NULL, OPT_FAIL_OPEN },
	{ "hold-writes", required_argument, NULL, OPT_HOLD_WRITES },
	{ 0 },
};

static void fault_init_conf(struct ublk_dev_conf *c)
{
	*fault_conf(c) = (struct fault_conf){ .fail_queue = NO_QUEUE };
}

static int fault_parse_option(struct ublk_dev_conf *c, int val, const char *arg, char *err,
			      size_t errlen)
{
	uint64_t v;

	if (val == OPT_FAIL_OPEN) {
		fault_conf(c)->fail_open = true;
		return 0;
	}
	if (val == OPT_HOLD_WRITES) {
		if (!parse_uint(arg, 1, 3600, &v)) {
			snprintf(err, errlen, "bad --hold-writes '%s' (1-3600 seconds)", arg);
			return -EINVAL;
		}
		fault_conf(c)->hold_s = (uint32_t)v;
		return 0;
	}
	if (!parse_uint(arg, 0, UINT16_MAX, &v)) {
		snprintf(err, errlen, "bad --fail-queue '%s' (a queue number)", arg);
		return -EINVAL;
	}
	fault_conf(c)->fail_queue = (uint32_t)v;
	return 0;
}

static int fault_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len)
{
	const struct fault_conf *fc = fault_conf(c);

	return snprintf(buf, len, "fail_queue=%lld\nfail_open=%d\nhold_writes=%u\n",
			fc->fail_queue == NO_QUEUE ? -1ll : (long long)fc->fail_queue,
			fc->fail_open, fc->hold_s);
}

static bool fault_conf_parse(struct ublk_dev_conf *c, const char *key, const char *val)
{
	struct fault_conf *fc = fault_conf(c);
	uint64_t v;

	if (!strcmp(key, "fail_queue") && !strcmp(val, "-1"))
		fc->fail_queue = NO_QUEUE;
	else if (!strcmp(key, "fail_queue") && parse_uint(val, 0, UINT16_MAX, &v))
		fc->fail_queue = (uint32_t)v;
	else if (!strcmp(key, "fail_open") && parse_uint(val, 0, 1, &v))
		fc->fail_open = v;
	else if (!strcmp(key, "hold_writes") && parse_uint(val, 0, 3600, &v))
		fc->hold_s = (uint32_t)v;
	else
		return false;
	return true;
}

static int fault_open(struct ublk_target *t, bool recovering)
{
	(void)recovering;
	if (!fault_conf(t->conf)->fail_open)
		return 0;
	snprintf(t->error, sizeof(t->error), "fault: failing open as told (--fail-open)");
	return -EIO;
}

static int fault_queue_open(struct ublk_target *t, struct ublk_queue *q)
{
	struct fault_queue *fq;

	if (fault_conf(t->conf)->fail_queue == q->id) {
		snprintf(q->why, sizeof(q->why), "fault: queue %u fails as told (--fail-queue)",
			 q->id);
		return -EIO;
	}
	fq = calloc(1, sizeof(*fq));
	if (fq) {
		fq->held = calloc(q->depth, sizeof(*fq->held));
		fq->due_ns = calloc(q->depth, sizeof(*fq->due_ns));
	}
	if (!fq || !fq->held || !fq->due_ns) {
		if (fq) {
			free(fq->held);
			free(fq->due_ns);
		}
		free(fq);
		snprintf(q->why, sizeof(q->why), "fault: out of memory");
		return -ENOMEM;
	}
	q->target_ctx = fq;
	return -1;
}

/* The queue's tick: held writes that are due finish. */
static void fault_queue_poll(struct ublk_target *t, struct ublk_queue *q)
{
	struct fault_queue *fq = q->target_ctx;
	uint64_t now = monotonic_ns();

	(void)t;
	for (uint16_t tag = 0; fq && tag < q->depth; tag++) {
		if (fq->held[tag] && now >= fq->due_ns[tag]) {
			struct ublk_req *req = fq->held[tag];

			fq->held[tag] = NULL;
			ublk_req_done(req, 0);
		}
	}
}

static void fault_queue_close(struct ublk_target *t, struct ublk_queue *q)
{
	struct fault_queue *fq = q->target_ctx;

	(void)t;
	if (!fq)
		return;
	free(fq->held);
	free(fq->due_ns);
	free(fq);
	q->target_ctx = NULL;
}

static int fault_read_pages(struct ublk_target *t, struct ublk_req *req)
{
	static const uint8_t zeros[UBLK_PAGE_SIZE];

	(void)t;
	for (uint32_t i = 0; i < req->nr_pages; i++) {
		int ret =
			ublk_req_copy_out(req, zeros, sizeof(zeros), (size_t)i << UBLK_PAGE_SHIFT);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int fault_drop(struct ublk_target *t, struct ublk_req *req)
{
	(void)t;
	(void)req;
	return 0;
}

static int fault_write_pages(struct ublk_target *t, struct ublk_req *req)
{
	struct fault_queue *fq = req->q->target_ctx;
	uint32_t hold_s = fault_conf(t->conf)->hold_s;

	if (!hold_s)
		return 0;
	fq->held[req->tag] = req;
	fq->due_ns[req->tag] = monotonic_ns() + hold_s * 1000000000ull;
	return UBLK_REQ_QUEUED;
}

static uint64_t fault_resident_bytes(struct ublk_target *t)
{
	(void)t;
	return 0;
}

static void fault_close(struct ublk_target *t, bool keep)
{
	(void)t;
	(void)keep;
}

const struct ublk_target_ops ublk_target_fault = {
	.name = "fault",
	.summary = "for tests: stores nothing (reads return zeros) and fails where told",
	.usage = fault_usage,
	.options = fault_options,
	.init_conf = fault_init_conf,
	.parse_option = fault_parse_option,
	.conf_format = fault_conf_format,
	.conf_parse = fault_conf_parse,
	.open = fault_open,
	.read_pages = fault_read_pages,
	.write_pages = fault_write_pages,
	.discard_pages = fault_drop,
	.flush = fault_drop,
	.queue_open = fault_queue_open,
	.queue_poll = fault_queue_poll,
	.queue_close = fault_queue_close,
	.resident_bytes = fault_resident_bytes,
	.close = fault_close,
};
