/*
 * redis_url.c - parsing the Redis address of a stage's options.
 */
#include <stdio.h>
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
	snprintf(err, errlen, "redis url %s: use redis://host:port/db or unix:///path", url);
	return -1;
}
