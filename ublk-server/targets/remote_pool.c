/* remote_pool.c — see remote_pool.h. */
#include "remote_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "page_store.h"
#include "state.h"

static bool pool_path(uint32_t dev_id, char *path, size_t len)
{
	return ublk_state_path(path, len, dev_id, "pool");
}

static uint64_t nslabs_of(const struct ublk_dev_conf *c, const struct remote_conf *rc)
{
	return (c->size + rc->slab_bytes - 1) / rc->slab_bytes;
}

/* Each node's free memory, as it says; every node must answer. */
static int probe_nodes(struct ublk_target *t, const struct remote_conf *rc, uint64_t *capacity)
{
	for (unsigned n = 0; n < rc->nnodes; n++) {
		struct page_store_conf c;
		char err[200];
		int ret;

		remote_store_conf(t->conf, rc, n, 0, 0, &c);
		ret = page_store_probe(&c, &capacity[n], err, sizeof(err));
		if (ret < 0) {
			snprintf(t->error, sizeof(t->error), "remote: %s", err);
			return ret;
		}
	}
	return 0;
}

int remote_pool_open(struct ublk_target *t, const struct remote_conf *rc, bool recovering,
		     struct remote_pool *p)
{
	uint64_t nslabs = nslabs_of(t->conf, rc), capacity[REMOTE_MAX_NODES], seed;
	uint64_t nchunks = (t->nr_pages + REMOTE_CHUNK_PAGES - 1) / REMOTE_CHUNK_PAGES;
	char path[PATH_MAX], err[200];
	struct pool_map placed;
	void *scratch = NULL;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->nnodes = rc->nnodes;
	p->replicas = rc->replicas;
	p->nr_pages = t->nr_pages;
	p->size = pool_map_size(nslabs);
	if (!pool_path(t->conf->dev_id, path, sizeof(path))) {
		snprintf(t->error, sizeof(t->error), "remote: the pool map's path is too long");
		return -ENAMETOOLONG;
	}
	/* A device from before pools (one node, no map) is recovered as one slab on its node. */
	bool fresh = !recovering || (rc->nnodes == 1 && access(path, F_OK) < 0 && errno == ENOENT);

	if (fresh) {
		/* Placed before the file exists: a pool without room leaves nothing behind. */
		scratch = calloc(1, p->size);
		if (!scratch)
			return -ENOMEM;
		/* One node holds the one slab or refuses the region itself: nothing to choose. */
		capacity[0] = nslabs * rc->slab_bytes;
		ret = rc->nnodes == 1 ? 0 : probe_nodes(t, rc, capacity);
		if (ret == 0 && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			ret = -errno;
		if (ret == 0) {
			ret = pool_map_place(scratch, t->conf->size, rc->slab_bytes, rc->replicas,
					     rc->nnodes, capacity, seed, &placed, err, sizeof(err));
			if (ret < 0)
				snprintf(t->error, sizeof(t->error), "remote: %s", err);
		}
		if (ret < 0)
			goto fail;
	}
	ret = ublk_backing_open(t, "remote: pool map", path, p->size, !fresh, &p->fd, &p->mem);
	if (ret < 0)
		goto fail;
	if (fresh) {
		memcpy(p->mem, scratch, p->size);
		free(scratch);
		scratch = NULL;
	}
	ret = pool_map_attach(p->mem, p->size, t->conf->size, rc->nnodes, &p->map, err,
			      sizeof(err));
	if (ret == 0 &&
	    (p->map.h->replicas != rc->replicas || p->map.h->slab_bytes != rc->slab_bytes)) {
		snprintf(err, sizeof(err), "its replicas or slab size differ from the record's");
		ret = -EINVAL;
	}
	if (ret < 0) {
		snprintf(t->error, sizeof(t->error), "remote: %.80s: %.120s (left as it is)", path,
			 err);
		goto fail;
	}
	/* Nodes the record names and the map not yet (an add the daemon did not finish): in
	 * the pool, holding nothing. A move a daemon did not finish begins anew. */
	if (p->map.h->nnodes < rc->nnodes)
		__atomic_store_n(&p->map.h->nnodes, rc->nnodes, __ATOMIC_RELEASE);
	for (uint64_t s = 0; s < p->map.h->nslabs; s++)
		pool_map_drop_incoming(&p->map, s);
	p->started = calloc(nchunks, sizeof(*p->started));
	p->finished = calloc(nchunks, sizeof(*p->finished));
	if (!p->started || !p->finished) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Faulted in now, under the daemon's mlockall: counting a write never needs memory. */
	for (uint64_t i = 0; i < nchunks; i += UBLK_PAGE_SIZE / sizeof(uint32_t)) {
		__atomic_store_n(&p->started[i], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&p->finished[i], 0, __ATOMIC_RELAXED);
	}
	return 0;
fail:
	free(scratch);
	/* A map this call created goes; one a recovery found stays as it was. */
	remote_pool_close(p, t, !fresh || ret == -EEXIST);
	return ret;
}

void remote_pool_close(struct remote_pool *p, const struct ublk_target *t, bool keep)
{
	char path[PATH_MAX];

	if (p->mem)
		munmap(p->mem, p->size);
	if (p->fd >= 0) {
		close(p->fd);
		if (!keep && pool_path(t->conf->dev_id, path, sizeof(path)))
			unlink(path);
	}
	free(p->started);
	free(p->finished);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

int remote_pool_release_node(const struct ublk_dev_conf *c, const struct remote_conf *rc,
			     unsigned n, uint64_t bytes, char *err, size_t errlen)
{
	struct page_store_conf psc;
	struct page_store *ps;
	int ret;

	remote_store_conf(c, rc, n, bytes, 0, &psc);
	ret = page_store_open(&psc, &ps, err, errlen);
	if (ret == 0 && (ret = ps->ops->release(ps)) < 0)
		snprintf(err, errlen, "%s did not free the region: %s", rc->node[n],
			 strerror(-ret));
	return ret;
}

int remote_pool_release(const struct ublk_dev_conf *c, const struct remote_conf *rc, char *err,
			size_t errlen)
{
	uint64_t nslabs = (c->size + rc->slab_bytes - 1) / rc->slab_bytes;
	size_t size = pool_map_size(nslabs);
	char path[PATH_MAX], why[200];
	struct pool_map m;
	void *mem = MAP_FAILED;
	int fd = -1, ret = 0;

	if (!pool_path(c->dev_id, path, sizeof(path))) {
		snprintf(err, errlen, "the pool map's path is too long");
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && rc->nnodes == 1)
		return remote_pool_release_node(c, rc, 0, c->size, err,
						errlen); /* from before pools */
	if (fd >= 0)
		mem = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	struct stat st;

	if (fd < 0 || mem == MAP_FAILED || fstat(fd, &st) < 0 || (size_t)st.st_size != size) {
		snprintf(err, errlen, "cannot read the pool map %.200s: %s", path,
			 fd < 0 || mem == MAP_FAILED ? strerror(errno) : "wrong size");
		ret = -EIO;
		goto out;
	}
	ret = pool_map_attach(mem, size, c->size, rc->nnodes, &m, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%.200s: %s", path, why);
		goto out;
	}
	/* Every node is asked, even after one fails: free what can be freed. */
	for (unsigned n = 0; n < rc->nnodes; n++) {
		uint64_t bytes = (uint64_t)m.h->region_slots[n] * m.h->slab_bytes;
		int r = bytes ? remote_pool_release_node(c, rc, n, bytes, why, sizeof(why)) : 0;

		if (r < 0 && ret == 0) {
			snprintf(err, errlen, "%s", why);
			ret = r;
		}
	}
out:
	if (mem != MAP_FAILED)
		munmap(mem, size);
	if (fd >= 0)
		close(fd);
	unlink(path); /* the device's record goes too: nothing would read it again */
	return ret;
}
