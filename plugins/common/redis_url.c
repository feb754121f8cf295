/*
 * redis_url.c - parsing the Redis address of a stage's options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen)
{
	const char *q;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	snprintf(u->host, sizeof(u->host), "127.0.0.1");
	if (strncmp(url, "unix://", 7) == 0) {
		size_t n;

		q = strchr(url + 7, '?');
		n = q ? (size_t)(q - url - 7) : strlen(url + 7);
		if (n == 0 || n >= sizeof(u->path)) {
			snprintf(err, errlen, "redis url %s: bad socket path", url);
			return -1;
		}
		memcpy(u->path, url + 7, n);
		u->path[n] = '\0';
		if (q != NULL && sscanf(q, "?db=%d", &u->db) != 1) {
			snprintf(err, errlen, "redis url %s: expected ?db=N", url);
			return -1;
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) == 0) {
		const char *h = url + 8, *colon, *slash;
		size_t n;

		slash = strchr(h, '/');
		colon = strchr(h, ':');
		if (colon != NULL && slash != NULL && colon > slash)
			colon = NULL;
		n = (size_t)((colon ? colon : slash ? slash : h + strlen(h)) - h);
		if (n >= sizeof(u->host)) {
			snprintf(err, errlen, "redis url %s: host too long", url);
			return -1;
		}
		if (n > 0) {
			memcpy(u->host, h, n);
			u->host[n] = '\0';
			u->host_given = true;
		}
		if (colon != NULL && (sscanf(colon + 1, "%d", &u->port) != 1 ||
				      u->port <= 0 || u->port > 65535)) {
			snprintf(err, errlen, "redis url %s: bad port", url);
			return -1;
		}
		if (slash != NULL && slash[1] != '\0' && sscanf(slash + 1, "%d", &u->db) != 1) {
			snprintf(err, errlen, "redis url %s: bad database number", url);
			return -1;
		}
		return 0;
	}
	if (redis_url_is_sentinel(url))
		snprintf(err, errlen, "redis url %s: a Sentinel address where one Redis server is wanted", url);
	else
		snprintf(err, errlen, "redis url %s: use redis://host:port/db or unix:///path", url);
	return -1;
}

bool redis_url_is_sentinel(const char *url)
{
	return strncmp(url, "redis-sentinel://", 17) == 0;
}

/* One "host[:port]" of the list, n bytes at s. */
static int redis_sentinel_addr(const char *url, const char *s, size_t n,
			       struct redis_sentinel_url *u, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;
	int i = u->count;

	if (i == REDIS_SENTINELS_MAX) {
		snprintf(err, errlen, "redis url %s: more than %d sentinels", url,
			 REDIS_SENTINELS_MAX);
		return -1;
	}
	if (hn == 0 || hn >= sizeof(u->addr[i].host)) {
		snprintf(err, errlen, "redis url %s: bad sentinel host", url);
		return -1;
	}
	memcpy(u->addr[i].host, s, hn);
	u->addr[i].host[hn] = '\0';
	u->addr[i].port = REDIS_SENTINEL_PORT;
	if (colon != NULL) {
		char digits[8];
		size_t dn = n - hn - 1;
		char *end;
		long port;

		if (dn == 0 || dn >= sizeof(digits)) {
			snprintf(err, errlen, "redis url %s: bad sentinel port", url);
			return -1;
		}
		memcpy(digits, colon + 1, dn);
		digits[dn] = '\0';
		port = strtol(digits, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535) {
			snprintf(err, errlen, "redis url %s: bad sentinel port", url);
			return -1;
		}
		u->addr[i].port = (int)port;
	}
	u->count++;
	return 0;
}

int redis_sentinel_url_parse(const char *url, struct redis_sentinel_url *u,
			     char *err, size_t errlen)
{
	const char *p, *slash, *name, *end;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (!redis_url_is_sentinel(url)) {
		snprintf(err, errlen, "redis url %s: expected redis-sentinel://", url);
		return -1;
	}
	p = url + 17;
	slash = strchr(p, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "redis url %s: expected /master-name after the sentinels", url);
		return -1;
	}
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *stop = comma ? comma : slash;

		if (redis_sentinel_addr(url, p, (size_t)(stop - p), u, err, errlen) != 0)
			return -1;
		p = comma ? comma + 1 : slash;
		if (comma != NULL && p == slash) {
			snprintf(err, errlen, "redis url %s: bad sentinel host", url);
			return -1;
		}
	}
	if (u->count == 0) {
		snprintf(err, errlen, "redis url %s: no sentinel named", url);
		return -1;
	}
	name = slash + 1;
	end = strchr(name, '/');
	n = end ? (size_t)(end - name) : strlen(name);
	/* The name goes into Sentinel commands and is compared with its
	 * messages, which separate fields by spaces. */
	if (n == 0 || n >= sizeof(u->master) || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"abcdefghijklmnopqrstuvwxyz0123456789._-") < n) {
		snprintf(err, errlen, "redis url %s: bad master name (letters, digits, . _ -)", url);
		return -1;
	}
	memcpy(u->master, name, n);
	u->master[n] = '\0';
	if (end != NULL && end[1] != '\0') {
		char *stop;
		long db = strtol(end + 1, &stop, 10);

		if (*stop != '\0' || db < 0 || db > 1 << 20 || stop == end + 1) {
			snprintf(err, errlen, "redis url %s: bad database number", url);
			return -1;
		}
		u->db = (int)db;
	}
	return 0;
}
