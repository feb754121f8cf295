/*
 * redis_url.h - the Redis address forms every stage that talks to Redis
 * reads (the cache, quota), so that one IMAGINATOR_REDIS_URL means the same
 * to all of them.
 */
#ifndef IMA_REDIS_URL_H
#define IMA_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

struct redis_url {
	char host[256];   /* 127.0.0.1 when the URL names none */
	int port;         /* 6379 when the URL names none */
	char path[256];   /* unix socket, or "" */
	int db;           /* 0 when the URL names none */
	bool host_given;  /* redis:// with a host before the port or path */
};

/*
 * "redis://[host][:port][/db]" or "unix:///path/to/socket[?db=N]".
 * Returns 0, or -1 with a message naming the URL in err.
 */
int redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen);

#define REDIS_SENTINELS_MAX 8
#define REDIS_SENTINEL_PORT 26379

/* The Sentinels to ask for the primary of one monitored master. */
struct redis_sentinel_url {
	int count;        /* 1 to REDIS_SENTINELS_MAX */
	struct {
		char host[256];
		int port;     /* 26379 when the URL names none */
	} addr[REDIS_SENTINELS_MAX];
	char master[128]; /* the name Sentinel monitors it under */
	int db;           /* 0 when the URL names none */
};

/* True when url starts with "redis-sentinel://". */
bool redis_url_is_sentinel(const char *url);

/*
 * "redis-sentinel://host[:port][,host[:port]...]/master-name[/db]".
 * Returns 0, or -1 with a message naming the URL in err.
 */
int redis_sentinel_url_parse(const char *url, struct redis_sentinel_url *u,
			     char *err, size_t errlen);

#endif
