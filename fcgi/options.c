/*
 * options.c - the fcgi group of the configuration: imaginator-fcgi's
 * settings, declared with the option table plugins use, and their ranges.
 * Linked into imaginator-fcgi and into imaginator, so `imaginator config
 * check` refuses exactly what imaginator-fcgi would refuse.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

static const struct ima_option fcgi_options[] = {
	{ "listen", IMA_OPT_STRING, "",
	  "unix:PATH, /PATH, HOST:PORT or PORT (loopback); empty: the socket inherited on stdin", 0 },
	{ "workers", IMA_OPT_INT, "2", "worker processes (1-256)", 0 },
	{ "threads", IMA_OPT_INT, "4", "threads per worker (1-1024)", 0 },
	{ "socket_mode", IMA_OPT_STRING, "0660",
	  "permissions of a unix socket, octal in a string as for chmod: \"0660\"", 0 },
	{ "socket_group", IMA_OPT_STRING, "", "group given the unix socket (the web server's)", 0 },
	{ "drain_timeout", IMA_OPT_INT, "30", "seconds SIGTERM waits for requests in flight (0-3600)", 0 },
	{ "io_timeout", IMA_OPT_INT, "60", "seconds a peer may stall the writing of an answer (0-3600, 0: none)", 0 },
	{ "receive_timeout", IMA_OPT_INT, "10", "seconds a peer has to send a whole request (1-3600)", 0 },
	{ "backlog", IMA_OPT_INT, "1024", "listen() backlog (1-65535)", 0 },
	{ "pidfile", IMA_OPT_STRING, "", "file the supervisor writes its pid to", 0 },
	{ "log_format", IMA_OPT_STRING, "json",
	  "log lines on stderr: \"json\" (one object per line) or \"text\" (for humans)", 0 },
	{ "admin_routes", IMA_OPT_INT, "0",
	  "pipelines without an auth stage: 1 serves POST /v1/cache/invalidate to any caller (0 or 1)", 0 },
	{ "admin_scope", IMA_OPT_STRING, "admin",
	  "scope POST /v1/cache/invalidate needs when the pipeline has an auth stage", 0 },
	{ "analyze_scope", IMA_OPT_STRING, "",
	  "scope POST /v1/analyze needs (\"\": none; needs an auth stage)", 0 },
	{ "metrics_scope", IMA_OPT_STRING, "",
	  "scope GET /metrics needs (\"\": open to all; needs an auth stage)", 0 },
	{ "pipeline_scope", IMA_OPT_STRING, "",
	  "scope GET /v1/pipeline needs (\"\": open to all; needs an auth stage)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* The settings naming the scope a route needs; only admin_scope may not
 * be empty (an empty one would hand invalidation to every caller). */
static const struct {
	const char *name;
	bool may_be_empty;
} fcgi_scopes[] = {
	{ "admin_scope", false }, { "analyze_scope", true },
	{ "metrics_scope", true }, { "pipeline_scope", true },
};

static const struct {
	const char *name;
	long long lo, hi;
} fcgi_ranges[] = {
	{ "workers", 1, IMA_FCGI_MAX_WORKERS }, { "threads", 1, 1024 },
	{ "drain_timeout", 0, 3600 },
	{ "io_timeout", 0, 3600 }, { "receive_timeout", 1, 3600 }, { "backlog", 1, 65535 },
	{ "admin_routes", 0, 1 },
};

int ima_fcgi_int(const char *name, const char *text, int *out)
{
	char *end;
	long long v;

	for (size_t i = 0; i < sizeof(fcgi_ranges) / sizeof(fcgi_ranges[0]); i++) {
		if (strcmp(fcgi_ranges[i].name, name) != 0)
			continue;
		errno = 0;
		v = strtoll(text, &end, 10);
		if (errno != 0 || end == text || *end != '\0' || v < fcgi_ranges[i].lo ||
		    v > fcgi_ranges[i].hi)
			return -1;
		*out = (int)v;
		return 0;
	}
	return -1;
}

int ima_fcgi_socket_mode(const char *s, unsigned *mode)
{
	char *end;
	unsigned long m;

	/* libconfig reads 0660 as the decimal 660, so the mode is a string. */
	if (s[0] < '0' || s[0] > '7')
		return -1;
	m = strtoul(s, &end, 8);
	if (*end != '\0' || m > 0777)
		return -1;
	*mode = (unsigned)m;
	return 0;
}

bool ima_fcgi_listen_is_unix(const char *spec)
{
	return strncmp(spec, "unix:", 5) == 0 || spec[0] == '/';
}

/*
 * The port must be decimal 1-65535: getaddrinfo alone takes 99999 or 0 and
 * binds a random port, and takes service names.
 */
int ima_fcgi_split_tcp(const char *spec, char *host, size_t size, char port[6],
		       struct ima_error *err)
{
	const char *colon = strrchr(spec, ':');
	const char *p = colon != NULL ? colon + 1 : spec;
	size_t n = strlen(p);
	long v = 0;

	if (colon == NULL || colon == spec)
		snprintf(host, size, "127.0.0.1");
	else if (spec[0] == '[' && colon[-1] == ']')
		snprintf(host, size, "%.*s", (int)(colon - spec - 2), spec + 1);
	else if (memchr(spec, ':', (size_t)(colon - spec)) != NULL)
		return ima_error_set(err, 500, "config", "listen",
				     "listen %s: write an IPv6 address as [ADDR]:PORT", spec);
	else
		snprintf(host, size, "%.*s", (int)(colon - spec), spec);
	for (size_t i = 0; i < n && v <= 65535; i++)
		v = p[i] >= '0' && p[i] <= '9' ? v * 10 + (p[i] - '0') : 65536;
	if (n == 0 || v < 1 || v > 65535)
		return ima_error_set(err, 500, "config", "listen",
				     "listen %s: the port must be a number 1-65535 (or use unix:PATH)",
				     spec);
	snprintf(port, 6, "%ld", v);
	return 0;
}

int ima_fcgi_listen_check(const char *spec, struct ima_error *err)
{
	char host[256], port[6];

	if (spec[0] == '\0')
		return 0;
	if (ima_fcgi_listen_is_unix(spec)) {
		if (strcmp(spec, "unix:") == 0)
			return ima_error_set(err, 500, "config", "listen",
					     "listen %s: unix: needs a path", spec);
		return 0;
	}
	return ima_fcgi_split_tcp(spec, host, sizeof(host), port, err);
}

/* One RFC 6750 scope-token: it is quoted in a WWW-Authenticate header. */
static bool fcgi_scope_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (s[n] < 0x21 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\')
			return false;
	return n > 0 && n < 48;
}

static int fcgi_check(const struct ima_conf *conf, struct ima_error *err)
{
	for (size_t i = 0; i < sizeof(fcgi_scopes) / sizeof(fcgi_scopes[0]); i++) {
		const char *v = ima_conf_string(conf, fcgi_scopes[i].name);

		if (v[0] == '\0' && fcgi_scopes[i].may_be_empty)
			continue;
		if (!fcgi_scope_ok(v))
			return ima_error_set(err, 500, "config", fcgi_scopes[i].name,
					     "fcgi.%s = \"%s\": must be one scope, 1-47 printable characters without spaces, '\"' or '\\'",
					     fcgi_scopes[i].name, v);
	}
	for (size_t i = 0; i < sizeof(fcgi_ranges) / sizeof(fcgi_ranges[0]); i++) {
		long long v = ima_conf_int(conf, fcgi_ranges[i].name);

		if (v < fcgi_ranges[i].lo || v > fcgi_ranges[i].hi)
			return ima_error_set(err, 500, "config", fcgi_ranges[i].name,
					     "fcgi.%s = %lld: must be %lld to %lld",
					     fcgi_ranges[i].name, v, fcgi_ranges[i].lo,
					     fcgi_ranges[i].hi);
	}
	if (ima_log_format_parse(ima_conf_string(conf, "log_format"),
				 &(enum ima_log_format){ IMA_LOG_JSON }) != 0)
		return ima_error_set(err, 500, "config", "log_format",
				     "fcgi.log_format = \"%s\": must be \"json\" or \"text\"",
				     ima_conf_string(conf, "log_format"));
	if (ima_fcgi_socket_mode(ima_conf_string(conf, "socket_mode"), &(unsigned){ 0 }) != 0)
		return ima_error_set(err, 500, "config", "socket_mode",
				     "fcgi.socket_mode = \"%s\": must be an octal mode up to \"0777\", e.g. \"0660\"",
				     ima_conf_string(conf, "socket_mode"));
	return ima_fcgi_listen_check(ima_conf_string(conf, "listen"), err);
}

/* A scope no auth stage can grant would refuse every caller. */
static int fcgi_check_engine(const struct ima_conf *conf, const struct ima_engine *eng,
			     struct ima_error *err)
{
	if (ima_engine_auth_stages(eng) > 0)
		return 0;
	for (size_t i = 0; i < sizeof(fcgi_scopes) / sizeof(fcgi_scopes[0]); i++)
		if (fcgi_scopes[i].may_be_empty && ima_conf_string(conf, fcgi_scopes[i].name)[0] != '\0')
			return ima_error_set(err, 500, "config", fcgi_scopes[i].name,
					     "fcgi.%s = \"%s\" needs an auth stage (auth_jwt, auth_apikey) in the pipeline",
					     fcgi_scopes[i].name, ima_conf_string(conf, fcgi_scopes[i].name));
	return 0;
}

const struct ima_front ima_fcgi_front = {
	.group = "fcgi",
	.options = fcgi_options,
	.check = fcgi_check,
	.check_engine = fcgi_check_engine,
};
