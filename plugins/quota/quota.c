/*
 * quota - requests per minute and LLM spend (USD per day) per tenant and per
 * user, counted in Redis so that every worker and host shares one count.
 *
 * Place it after the auth stages and the cache, before the LLM stages: it
 * needs _auth, and cache hits never reach it, so they count neither as
 * requests nor as spend. Requests are counted in fixed windows (INCR, and
 * EXPIRE on the first of a window); spend is checked before the LLM stages
 * (the day's spend plus _llm_plan.estimated_cost_usd when present) and
 * charged after them, from run_metrics.estimated_cost_usd (INCRBYFLOAT).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "ima_plugin.h"

#define QUOTA_MAX_TENANTS 64

struct quota_limits {
	char tenant[64];
	int64_t tenant_rpm, user_rpm;   /* 0: no limit */
	double tenant_usd_day, user_usd_day;
};

struct quota_state {
	char name[64];
	char prefix[64];
	char host[256];
	int port;               /* 0: host is a unix socket path */
	long timeout_ms;
	bool fail_open;
	struct quota_limits deflt;
	struct quota_limits tenants[QUOTA_MAX_TENANTS];
	size_t ntenants;
	pthread_mutex_t lock;   /* one connection per worker process */
	redisContext *rc;
};

static const struct ima_option quota_options[] = {
	{ "redis_url", IMA_OPT_STRING, "${IMAGINATOR_REDIS_URL:-redis://127.0.0.1:6379}",
	  "redis://host:port or unix:/path/to/socket", 0 },
	{ "key_prefix", IMA_OPT_STRING, "ima:quota:", "prefix of the Redis keys", 0 },
	{ "timeout_ms", IMA_OPT_INT, "200", "connect and command timeout", 0 },
	{ "fail_open", IMA_OPT_BOOL, "true",
	  "Redis down: let requests through (true, counted) or refuse them with 503", 0 },
	{ "tenant_rpm", IMA_OPT_INT, "0", "default requests per minute of a tenant (0: none)", 0 },
	{ "user_rpm", IMA_OPT_INT, "60", "default requests per minute of a user (0: none)", 0 },
	{ "tenant_usd_day", IMA_OPT_DOUBLE, "0", "default LLM spend per UTC day of a tenant (0: none)", 0 },
	{ "user_usd_day", IMA_OPT_DOUBLE, "0", "default LLM spend per UTC day of a user (0: none)", 0 },
	{ "tenants", IMA_OPT_STRING, "",
	  "per tenant: tenant:tenant_rpm:user_rpm:tenant_usd_day:user_usd_day;...", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int quota_parse_url(struct quota_state *st, const char *url,
			   struct ima_error *err)
{
	const char *colon;

	if (strncmp(url, "unix:", 5) == 0) {
		snprintf(st->host, sizeof(st->host), "%s", url + 5);
		st->port = 0;
		return st->host[0] ? 0 : ima_error_set(err, 500, "config", "redis_url", "unix: needs a path");
	}
	if (strncmp(url, "redis://", 8) != 0 || (colon = strrchr(url + 8, ':')) == NULL)
		return ima_error_set(err, 500, "config", "redis_url",
				     "want redis://host:port or unix:/path, not '%s'", url);
	snprintf(st->host, sizeof(st->host), "%.*s", (int)(colon - url - 8), url + 8);
	st->port = atoi(colon + 1);
	if (st->host[0] == '\0' || st->port <= 0 || st->port > 65535)
		return ima_error_set(err, 500, "config", "redis_url", "bad host or port in '%s'", url);
	return 0;
}

static int quota_parse_tenants(struct quota_state *st, const char *spec,
			       struct ima_error *err)
{
	char buf[4096], *save = NULL;

	if (strlen(spec) >= sizeof(buf))
		return ima_error_set(err, 500, "config", "tenants", "at most 4 KB");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *e = strtok_r(buf, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
		struct quota_limits *l;
		char tenant[64];
		long long trpm, urpm;
		double tusd, uusd;
		int used = 0;

		while (*e == ' ' || *e == '\t' || *e == '\n')
			e++;
		if (*e == '\0')
			continue;
		if (st->ntenants == QUOTA_MAX_TENANTS)
			return ima_error_set(err, 500, "config", "tenants", "at most %d tenants", QUOTA_MAX_TENANTS);
		if (sscanf(e, "%63[^:]:%lld:%lld:%lf:%lf%n", tenant, &trpm, &urpm, &tusd, &uusd, &used) != 5 ||
		    e[used + strspn(e + used, " \t\n")] != '\0' || trpm < 0 || urpm < 0 || !(tusd >= 0) || !(uusd >= 0))
			return ima_error_set(err, 500, "config", "tenants",
					     "entry '%.40s': want tenant:tenant_rpm:user_rpm:tenant_usd_day:user_usd_day", e);
		l = &st->tenants[st->ntenants++];
		snprintf(l->tenant, sizeof(l->tenant), "%s", tenant);
		l->tenant_rpm = trpm;
		l->user_rpm = urpm;
		l->tenant_usd_day = tusd;
		l->user_usd_day = uusd;
	}
	return 0;
}

static void quota_fini(void *state)
{
	struct quota_state *st = state;

	if (st == NULL)
		return;
	if (st->rc != NULL)
		redisFree(st->rc);
	pthread_mutex_destroy(&st->lock);
	ima_free(st);
}

static int quota_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct quota_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	pthread_mutex_init(&st->lock, NULL);
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	snprintf(st->prefix, sizeof(st->prefix), "%s", ima_conf_string(conf, "key_prefix"));
	st->timeout_ms = (long)ima_conf_int(conf, "timeout_ms");
	st->fail_open = ima_conf_bool(conf, "fail_open");
	st->deflt.tenant_rpm = ima_conf_int(conf, "tenant_rpm");
	st->deflt.user_rpm = ima_conf_int(conf, "user_rpm");
	st->deflt.tenant_usd_day = ima_conf_double(conf, "tenant_usd_day");
	st->deflt.user_usd_day = ima_conf_double(conf, "user_usd_day");
	if (quota_parse_url(st, ima_conf_string(conf, "redis_url"), err) != 0 ||
	    quota_parse_tenants(st, ima_conf_string(conf, "tenants"), err) != 0) {
		quota_fini(st);
		return -1;
	}
	if (st->timeout_ms <= 0)
		st->timeout_ms = 200;
	ima_metric_declare("imaginator_quota_refusals_total", IMA_METRIC_COUNTER,
			   "requests refused by the quota stage, by the limit they hit");
	ima_metric_declare("imaginator_quota_redis_errors_total", IMA_METRIC_COUNTER,
			   "quota checks Redis could not answer (fail_open let them through)");
	*state = st;
	return 0;
}

/* A context after fork (never shared with the supervisor); the command
 * timeout is set again after every connect, as hiredis drops it. */
static redisContext *quota_conn(struct quota_state *st)
{
	struct timeval tv = { st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000 };

	if (st->rc != NULL && st->rc->err == 0)
		return st->rc;
	if (st->rc != NULL)
		redisFree(st->rc);
	st->rc = st->port ? redisConnectWithTimeout(st->host, st->port, tv)
			  : redisConnectUnixWithTimeout(st->host, tv);
	if (st->rc == NULL || st->rc->err != 0 || redisSetTimeout(st->rc, tv) != REDIS_OK) {
		if (st->rc != NULL)
			redisFree(st->rc);
		st->rc = NULL;
	}
	return st->rc;
}

/* INCR a window counter, EXPIRE it when it is new. -1 on a Redis error. */
static long long quota_incr(struct quota_state *st, const char *key, int ttl)
{
	redisContext *c = quota_conn(st);
	redisReply *r;
	long long n;

	if (c == NULL || (r = redisCommand(c, "INCR %s", key)) == NULL)
		return -1;
	n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	if (n == 1 && (r = redisCommand(c, "EXPIRE %s %d", key, ttl)) != NULL)
		freeReplyObject(r);
	return n;
}

/* The spend under key; 0 when absent, -1 on a Redis error. */
static double quota_spent(struct quota_state *st, const char *key)
{
	redisContext *c = quota_conn(st);
	redisReply *r;
	double v = 0;

	if (c == NULL || (r = redisCommand(c, "GET %s", key)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING)
		v = strtod(r->str, NULL);
	else if (r->type != REDIS_REPLY_NIL)
		v = -1;
	freeReplyObject(r);
	return v;
}

static const struct quota_limits *quota_limits_of(const struct quota_state *st,
						  const char *tenant)
{
	for (size_t i = 0; i < st->ntenants; i++)
		if (strcmp(st->tenants[i].tenant, tenant) == 0)
			return &st->tenants[i];
	return &st->deflt;
}

static enum ima_rc quota_refuse(struct ima_req *req, const char *limit,
				long retry, const char *fmt_what)
{
	char name[96], secs[24];

	snprintf(name, sizeof(name), "imaginator_quota_refusals_total{reason=\"%s\"}", limit);
	ima_metric_add(name, 1);
	snprintf(secs, sizeof(secs), "%ld", retry > 0 ? retry : 1);
	ima_req_add_header(req, "Retry-After", secs);
	return ima_req_fail(req, 429, "quota_exceeded", limit, "%s; retry in %s s", fmt_what, secs);
}

/* Per-request marker: the request passed, so finish charges its spend. */
static int quota_passed_marker;

static enum ima_rc quota_redis_down(struct ima_req *req, struct quota_state *st)
{
	ima_metric_add("imaginator_quota_redis_errors_total", 1);
	if (st->fail_open)
		return IMA_CONTINUE;
	ima_metric_add("imaginator_quota_refusals_total{reason=\"redis_unavailable\"}", 1);
	return ima_req_fail(req, 503, "quota_unavailable", "",
			    "the quota store did not answer (fail_open = false)");
}

static enum ima_rc quota_process(struct ima_req *req, void *state)
{
	struct quota_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const struct quota_limits *l;
	char tenant[64] = "", user[64] = "", key[256], what[160];
	const char *s;
	size_t n;
	time_t now = time(NULL);
	long minute = (long)(now / 60), day = (long)(now / 86400);
	long to_minute = 60 - (long)(now % 60), to_day = 86400 - (long)(now % 86400);
	double estimate = 0, spent;
	long long count;
	enum ima_rc rc = IMA_CONTINUE;

	if (ima_ctx_get_str(ctx, "_auth.tenant", &s, &n) == 0)
		snprintf(tenant, sizeof(tenant), "%.*s", (int)n, s);
	if (ima_ctx_get_str(ctx, "_auth.user", &s, &n) == 0)
		snprintf(user, sizeof(user), "%.*s", (int)n, s);
	l = quota_limits_of(st, tenant);
	ima_ctx_get_double(ctx, "_llm_plan.estimated_cost_usd", &estimate);
	pthread_mutex_lock(&st->lock);
	if (l->tenant_rpm > 0) {
		snprintf(key, sizeof(key), "%srpm:%s:%ld", st->prefix, tenant, minute);
		if ((count = quota_incr(st, key, 61)) < 0)
			goto down;
		if (count > l->tenant_rpm) {
			snprintf(what, sizeof(what), "tenant '%s' is over %lld requests per minute",
				 tenant, (long long)l->tenant_rpm);
			rc = quota_refuse(req, "tenant_rpm", to_minute, what);
			goto out;
		}
	}
	if (l->user_rpm > 0 && user[0] != '\0') {
		snprintf(key, sizeof(key), "%srpm:%s:%s:%ld", st->prefix, tenant, user, minute);
		if ((count = quota_incr(st, key, 61)) < 0)
			goto down;
		if (count > l->user_rpm) {
			snprintf(what, sizeof(what), "user '%s' is over %lld requests per minute",
				 user, (long long)l->user_rpm);
			rc = quota_refuse(req, "user_rpm", to_minute, what);
			goto out;
		}
	}
	if (l->tenant_usd_day > 0) {
		snprintf(key, sizeof(key), "%susd:%s:%ld", st->prefix, tenant, day);
		if ((spent = quota_spent(st, key)) < 0)
			goto down;
		if (spent + estimate > l->tenant_usd_day) {
			snprintf(what, sizeof(what), "tenant '%s' is over its LLM spend of %.2f USD per day",
				 tenant, l->tenant_usd_day);
			rc = quota_refuse(req, "tenant_usd_day", to_day, what);
			goto out;
		}
	}
	if (l->user_usd_day > 0 && user[0] != '\0') {
		snprintf(key, sizeof(key), "%susd:%s:%s:%ld", st->prefix, tenant, user, day);
		if ((spent = quota_spent(st, key)) < 0)
			goto down;
		if (spent + estimate > l->user_usd_day) {
			snprintf(what, sizeof(what), "user '%s' is over their LLM spend of %.2f USD per day",
				 user, l->user_usd_day);
			rc = quota_refuse(req, "user_usd_day", to_day, what);
			goto out;
		}
	}
	goto out;
down:
	rc = quota_redis_down(req, st);
out:
	pthread_mutex_unlock(&st->lock);
	if (rc == IMA_CONTINUE)
		ima_req_task_set(req, st, &quota_passed_marker);
	return rc;
}

/* What the LLM stages actually spent is charged to tenant and user. */
static void quota_finish(struct ima_req *req, void *state)
{
	struct quota_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *cost = ima_req_metric_get(req, "estimated_cost_usd");
	char tenant[64] = "", user[64] = "", key[256];
	long day = (long)(time(NULL) / 86400);
	const char *s;
	size_t n;
	double usd;
	redisContext *c;

	if (ima_req_task_get(req, st) == NULL || cost == NULL)
		return;
	usd = cost->type == MSGPACK_OBJECT_FLOAT64 || cost->type == MSGPACK_OBJECT_FLOAT32 ? cost->via.f64 :
	      cost->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)cost->via.u64 : 0;
	if (!(usd > 0))
		return;
	if (ima_ctx_get_str(ctx, "_auth.tenant", &s, &n) == 0)
		snprintf(tenant, sizeof(tenant), "%.*s", (int)n, s);
	if (ima_ctx_get_str(ctx, "_auth.user", &s, &n) == 0)
		snprintf(user, sizeof(user), "%.*s", (int)n, s);
	pthread_mutex_lock(&st->lock);
	for (int i = 0; i < 2; i++) {
		redisReply *r;

		if (i == 1 && user[0] == '\0')
			break;
		if (i == 0)
			snprintf(key, sizeof(key), "%susd:%s:%ld", st->prefix, tenant, day);
		else
			snprintf(key, sizeof(key), "%susd:%s:%s:%ld", st->prefix, tenant, user, day);
		if ((c = quota_conn(st)) == NULL ||
		    (r = redisCommand(c, "INCRBYFLOAT %s %.9f", key, usd)) == NULL) {
			ima_metric_add("imaginator_quota_redis_errors_total", 1);
			break;
		}
		freeReplyObject(r);
		if ((r = redisCommand(c, "EXPIRE %s %d", key, 2 * 86400)) != NULL)
			freeReplyObject(r);
	}
	pthread_mutex_unlock(&st->lock);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_quota = {
	IMA_PLUGIN_HEADER,
	.name = "quota",
	.version = "1.0",
	.description = "requests per minute and LLM spend per day, per tenant and user, in Redis",
	.options = quota_options,
	.init = quota_init,
	.process = quota_process,
	.finish = quota_finish,
	.fini = quota_fini,
};
