/* page_store.c — opening a page store by URL. */
#include "page_store.h"
#include "node_link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Splits "SCHEME://HOST:PORT" (HOST may be "[v6]"); false if malformed. */
static bool split_url(const char *url, char *scheme, char *host, char *port)
{
	const char *sep = strstr(url, "://"), *h, *colon;

	if (!sep || sep == url || (size_t)(sep - url) >= 8)
		return false;
	memcpy(scheme, url, (size_t)(sep - url));
	scheme[sep - url] = '\0';
	h = sep + 3;
	if (*h == '[') {
		const char *close = strchr(h, ']');

		if (!close || close[1] != ':')
			return false;
		h++;
		colon = close + 1;
		if ((size_t)(close - h) >= 256)
			return false;
		memcpy(host, h, (size_t)(close - h));
		host[close - h] = '\0';
	} else {
		colon = strrchr(h, ':');
		if (!colon || colon == h || (size_t)(colon - h) >= 256)
			return false;
		memcpy(host, h, (size_t)(colon - h));
		host[colon - h] = '\0';
	}
	if (!colon[1] || strlen(colon + 1) >= 8 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	strcpy(port, colon + 1);
	return true;
}

int page_store_open(const struct page_store_conf *conf, struct page_store **out, char *err,
		    size_t errlen)
{
	char scheme[8], host[256], port[8];

	if (!split_url(conf->url, scheme, host, port)) {
		snprintf(err, errlen,
			 "bad memory node URL '%s' (want tcp://HOST:PORT or "
			 "rdma://HOST:PORT)",
			 conf->url);
		return -EINVAL;
	}
	if (!strcmp(scheme, "tcp"))
		return ps_tcp_open(conf, host, port, out, err, errlen);
	if (!strcmp(scheme, "rdma"))
		return ps_verbs_open(conf, host, port, out, err, errlen);
	snprintf(err, errlen, "unsupported transport '%s' in '%s'", scheme, conf->url);
	return -EINVAL;
}

int page_store_probe(const struct page_store_conf *conf, uint64_t *free_bytes, char *err,
		     size_t errlen)
{
	char scheme[8], host[256], port[8];

	if (!split_url(conf->url, scheme, host, port) ||
	    (strcmp(scheme, "tcp") && strcmp(scheme, "rdma"))) {
		snprintf(err, errlen,
			 "bad memory node URL '%s' (want tcp://HOST:PORT or "
			 "rdma://HOST:PORT)",
			 conf->url);
		return -EINVAL;
	}
	/* Both transports authenticate on TCP at the same address. */
	return node_link_probe(conf, host, port, free_bytes, err, errlen);
}
