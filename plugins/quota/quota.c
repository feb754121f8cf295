/*
 * quota - requests per minute and LLM spend (USD per UTC day) per tenant
 * and per user of a known caller (_auth), counted in Redis so that every
 * worker and host shares one count.
 *
 * Two things are counted at two different places of the pipeline, so one
 * plugin serves two stage instances, told apart by the limits option:
 *
 *   - limits = "requests": every request of a known caller counts, cache
 *     hits and byte-exact replays included. Counted in the prefetch hook,
 *     which runs before any stage's process hook and, placed after the auth
 *     stages and before the cache, after the auth prefetch has written
 *     _auth and before the cache's prefetch may replay the answer. When the
 *     prefetch hook did not see _auth (no prefetch, an identity written by a
 *     process hook), the process hook counts instead, once per request.
 *   - limits = "spend": placed after the cache (only misses reach it) and
 *     before the LLM stages, the day's spend plus what _llm_plan expects
 *     the request's calls to cost must stay within the limit; the finish
 *     hook then charges what the calls actually cost
 *     (run_metrics.estimated_cost_usd, the calls made, not those the call
 *     cache reused). A cache hit ends the pipeline before this stage, so
 *     it is never checked nor charged.
 *
 * Redis: one connection per thread (no lock on the request path), every
 * check one round trip (INCR and EXPIRE of both windows pipelined). A
 * connection Redis closed (a restart, its idle timeout) is reconnected and
 * the commands sent again once; a failed connect is not tried again for
 * retry_ms, so a Redis that is down costs one connect timeout per thread
 * and period, not one per request.
 *
 * Under Sentinel (redis-sentinel://, redis_sentinel.c, shared with the
 * cache) a thread connects to the primary Sentinel named last; a watcher
 * thread per process follows +switch-master, and a change of primary makes
 * every thread reconnect at its next check, without the retry_ms wait
 * (that was for the old address). No request waits for a Sentinel: while
 * none has named a primary, checks take the Redis-down path.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "ima_plugin.h"
#include "redis_sentinel.h"
#include "redis_url.h"

#define QUOTA_MAX_TENANTS 64
#define QUOTA_NAME_MAX 128      /* _auth tenant and user: 1..127 bytes */
#define QUOTA_KEY_MAX 512       /* prefix, tenant, user and the window */
#define QUOTA_MAX_CMDS 4

struct quota_limits {
	char tenant[QUOTA_NAME_MAX];
	int64_t tenant_rpm, user_rpm;   /* 0: no limit */
	double tenant_usd_day, user_usd_day;
};

/* A thread's connection; per process too (never used across fork). */
struct quota_conn {
	redisContext *c;
	pid_t pid;
	bool used;                      /* served a round trip since connecting */
	long long retry_at_ms;          /* no connect before then */
	unsigned epoch;                 /* of the Sentinel primary connected to */
};

struct quota_state {
	char name[64];
	char prefix[64];
	char host[256];
	int port;
	char path[256];                 /* unix socket, or "" */
	bool no_redis;                  /* redis_url = "none" */
	struct redis_sentinel *sentinel; /* redis-sentinel://, or NULL */
	int db;
	struct timeval timeout;
	long retry_ms;
	bool fail_open;
	bool count_requests, check_spend;
	struct quota_limits deflt;
	struct quota_limits tenants[QUOTA_MAX_TENANTS];
	size_t ntenants;
	pthread_key_t tls;
	bool tls_made;
};

/* One Redis command of a round trip. */
struct quota_cmd {
	int argc;
	const char *argv[3];
	size_t len[3];
};

static const struct ima_option quota_options[] = {
	{ "limits", IMA_OPT_STRING, "requests,spend",
	  "what this instance checks: requests (place before the cache), spend (after it), or both", 0 },
	{ "redis_url", IMA_OPT_STRING, "${IMAGINATOR_REDIS_URL:-redis://127.0.0.1:6379}",
	  "redis://host:port/db, unix:///path/to/socket, redis-sentinel://host:port[,host:port...]/master-name[/db] "
	  "(the primary found through Sentinel and followed through failovers), or none (every check as with Redis down)", 0 },
	{ "key_prefix", IMA_OPT_STRING, "ima:quota:", "prefix of the Redis keys", 0 },
	{ "timeout_ms", IMA_OPT_INT, "200", "connect and command timeout", 0 },
	{ "retry_ms", IMA_OPT_INT, "1000", "after a failed connect, a thread leaves Redis alone this long", 0 },
	{ "sentinel_timeout_ms", IMA_OPT_INT, "250",
	  "connect and command timeout per Sentinel (asked by a background thread, never by a request)", 0 },
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

static const char *const quota_reasons[] = {
	"tenant_rpm", "user_rpm", "tenant_usd_day", "user_usd_day", "redis_unavailable"
};

static void quota_conn_free(void *p)
{
	struct quota_conn *qc = p;

	if (qc == NULL)
		return;
	if (qc->c != NULL)
		redisFree(qc->c);
	ima_free(qc);
}

/* The cache's forms (redis://host:port/db, unix:///path?db=N,
 * redis-sentinel://..., through the shared parsers), so both can use
 * IMAGINATOR_REDIS_URL, and unix:/path as before; a host and a database of
 * 0 or more are required here. The Sentinels go to *sentinels (count 0
 * for the other forms). */
static int quota_parse_url(struct quota_state *st, const char *url,
			   struct redis_sentinel_url *sentinels, struct ima_error *err)
{
	struct redis_url u;
	char buf[600], why[640];

	/* As for the cache: "none" is no Redis, so every check takes the
	 * Redis-down path (fail_open decides), with a warning at start-up. */
	if (strcmp(url, "none") == 0) {
		st->no_redis = true;
		return 0;
	}
	if (redis_url_is_sentinel(url)) {
		if (redis_sentinel_url_parse(url, sentinels, why, sizeof(why)) != 0)
			return ima_error_set(err, 500, "config", "redis_url", "%s", why);
		st->db = sentinels->db;
		return 0;
	}
	if (strncmp(url, "unix:", 5) == 0 && strncmp(url + 5, "//", 2) != 0) {
		snprintf(buf, sizeof(buf), "unix://%s", url + 5);
		url = buf;
	}
	if (redis_url_parse(url, &u, why, sizeof(why)) != 0)
		return ima_error_set(err, 500, "config", "redis_url", "%s", why);
	if (u.path[0] == '\0' && !u.host_given)
		return ima_error_set(err, 500, "config", "redis_url", "bad host in '%s'", url);
	if (u.db < 0)
		return ima_error_set(err, 500, "config", "redis_url", "bad database number in '%s'", url);
	memcpy(st->host, u.host, sizeof(st->host));
	memcpy(st->path, u.path, sizeof(st->path));
	st->port = u.port;
	st->db = u.db;
	return 0;
}

static int quota_parse_limits(struct quota_state *st, const char *spec,
			      struct ima_error *err)
{
	char buf[64], *save = NULL;

	if (strlen(spec) >= sizeof(buf))
		return ima_error_set(err, 500, "config", "limits", "want requests, spend or requests,spend");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
		if (strcmp(w, "requests") == 0)
			st->count_requests = true;
		else if (strcmp(w, "spend") == 0)
			st->check_spend = true;
		else
			return ima_error_set(err, 500, "config", "limits",
					     "'%s' is not requests or spend", w);
	}
	if (!st->count_requests && !st->check_spend)
		return ima_error_set(err, 500, "config", "limits", "want requests, spend or requests,spend");
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
		char tenant[QUOTA_NAME_MAX];
		long long trpm, urpm;
		double tusd, uusd;
		int used = 0;

		while (*e == ' ' || *e == '\t' || *e == '\n')
			e++;
		if (*e == '\0')
			continue;
		if (st->ntenants == QUOTA_MAX_TENANTS)
			return ima_error_set(err, 500, "config", "tenants", "at most %d tenants", QUOTA_MAX_TENANTS);
		if (sscanf(e, "%127[^:]:%lld:%lld:%lf:%lf%n", tenant, &trpm, &urpm, &tusd, &uusd, &used) != 5 ||
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
	redis_sentinel_free(st->sentinel);
	if (st->tls_made) {
		/* Other threads' connections went with their threads. */
		quota_conn_free(pthread_getspecific(st->tls));
		pthread_key_delete(st->tls);
	}
	ima_free(st);
}

static int quota_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct quota_state *st = ima_calloc(1, sizeof(*st));
	struct redis_sentinel_url sentinels = { 0 };
	long timeout_ms;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	snprintf(st->prefix, sizeof(st->prefix), "%s", ima_conf_string(conf, "key_prefix"));
	timeout_ms = (long)ima_conf_int(conf, "timeout_ms");
	if (timeout_ms <= 0)
		timeout_ms = 200;
	st->timeout.tv_sec = timeout_ms / 1000;
	st->timeout.tv_usec = (timeout_ms % 1000) * 1000;
	st->retry_ms = (long)ima_conf_int(conf, "retry_ms");
	st->fail_open = ima_conf_bool(conf, "fail_open");
	st->deflt.tenant_rpm = ima_conf_int(conf, "tenant_rpm");
	st->deflt.user_rpm = ima_conf_int(conf, "user_rpm");
	st->deflt.tenant_usd_day = ima_conf_double(conf, "tenant_usd_day");
	st->deflt.user_usd_day = ima_conf_double(conf, "user_usd_day");
	if (quota_parse_limits(st, ima_conf_string(conf, "limits"), err) != 0 ||
	    quota_parse_url(st, ima_conf_string(conf, "redis_url"), &sentinels, err) != 0 ||
	    quota_parse_tenants(st, ima_conf_string(conf, "tenants"), err) != 0)
		goto fail;
	if (st->retry_ms < 0 || st->retry_ms > 600000) {
		ima_error_set(err, 500, "config", "retry_ms", "must be 0 to 600000");
		goto fail;
	}
	if (ima_conf_int(conf, "sentinel_timeout_ms") < 1 || ima_conf_int(conf, "sentinel_timeout_ms") > 60000) {
		ima_error_set(err, 500, "config", "sentinel_timeout_ms", "sentinel_timeout_ms must be 1 to 60000");
		goto fail;
	}
	if (st->deflt.tenant_rpm < 0 || st->deflt.user_rpm < 0 ||
	    !(st->deflt.tenant_usd_day >= 0) || !(st->deflt.user_usd_day >= 0)) {
		ima_error_set(err, 500, "config", "user_rpm", "limits are 0 (none) or more");
		goto fail;
	}
	if (pthread_key_create(&st->tls, quota_conn_free) != 0) {
		ima_error_set(err, 500, "internal", "", "no thread key left");
		goto fail;
	}
	st->tls_made = true;
	if (sentinels.count > 0) {
		char who[96];

		ima_metric_declare("imaginator_quota_redis_primary_switches_total", IMA_METRIC_COUNTER,
				   "changes of the quota stages' Redis primary announced by Sentinel");
		ima_metric_add("imaginator_quota_redis_primary_switches_total", 0);
		snprintf(who, sizeof(who), "quota %s", st->name);
		st->sentinel = redis_sentinel_new(&sentinels, (int)ima_conf_int(conf, "sentinel_timeout_ms"),
						  who, "imaginator_quota_redis_primary_switches_total", NULL);
		if (st->sentinel == NULL) {
			ima_error_set(err, 500, "internal", "", "out of memory");
			goto fail;
		}
	}
	if (st->no_redis)
		ima_log(IMA_LOG_WARN, "stage %s: redis_url is none: no limit is counted, and "
			"fail_open %s every request", ima_conf_stage_name(conf),
			st->fail_open ? "serves" : "refuses");
	ima_metric_declare("imaginator_quota_refusals_total", IMA_METRIC_COUNTER,
			   "requests refused by the quota stage, by the limit they hit");
	ima_metric_declare("imaginator_quota_redis_errors_total", IMA_METRIC_COUNTER,
			   "quota checks and charges Redis could not answer (fail_open let the checks through)");
	ima_metric_declare("imaginator_quota_charged_usd_total", IMA_METRIC_COUNTER,
			   "LLM spend charged to tenants by the quota stage, in USD");
	/* Every reason shows from the start, so a rate over it needs no
	 * first refusal. */
	for (size_t i = 0; i < sizeof(quota_reasons) / sizeof(quota_reasons[0]); i++) {
		char name[96];

		snprintf(name, sizeof(name), "imaginator_quota_refusals_total{reason=\"%s\"}", quota_reasons[i]);
		ima_metric_add(name, 0);
	}
	ima_metric_add("imaginator_quota_redis_errors_total", 0);
	ima_metric_add("imaginator_quota_charged_usd_total", 0);
	*state = st;
	return 0;
fail:
	quota_fini(st);
	return -1;
}

/* ---- Redis ------------------------------------------------------------- */

static int quota_connect(struct quota_state *st, struct quota_conn *qc)
{
	char host[256];
	int port = st->port;
	redisReply *r;

	qc->used = false;
	if (st->sentinel != NULL) {
		/* The address Sentinel named last, read without a wait; none
		 * named yet is Redis down, the watcher still asking. */
		if (redis_sentinel_primary(st->sentinel, host, &port, &qc->epoch) != 0)
			return -1;
	} else {
		snprintf(host, sizeof(host), "%s", st->host);
	}
	qc->c = st->path[0] ? redisConnectUnixWithTimeout(st->path, st->timeout)
			    : redisConnectWithTimeout(host, port, st->timeout);
	/* hiredis 0.14 drops the command timeout on connect: set it after. */
	if (qc->c == NULL || qc->c->err != 0 || redisSetTimeout(qc->c, st->timeout) != REDIS_OK)
		goto fail;
	/* Sentinel's word is checked: a demoted primary that came back, or
	 * one not promoted yet, would count where no other worker does. */
	if (st->sentinel != NULL && !redis_sentinel_is_primary(qc->c))
		goto fail;
	if (st->db != 0) {
		r = redisCommand(qc->c, "SELECT %d", st->db);
		if (r == NULL || r->type != REDIS_REPLY_STATUS) {
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return 0;
fail:
	if (qc->c != NULL)
		redisFree(qc->c);
	qc->c = NULL;
	qc->retry_at_ms = ima_now_ms() + st->retry_ms;
	if (st->sentinel != NULL)
		redis_sentinel_reask(st->sentinel);
	return -1;
}

/* The calling thread's connection, connected; NULL when Redis cannot be
 * reached (or was not, less than retry_ms ago). */
static struct quota_conn *quota_conn(struct quota_state *st)
{
	struct quota_conn *qc;

	if (st->no_redis)
		return NULL;
	qc = pthread_getspecific(st->tls);
	if (qc != NULL && qc->pid != getpid()) {
		/* Inherited across fork: the socket is the parent's. */
		if (qc->c != NULL)
			redisFree(qc->c);
		qc->c = NULL;
		qc->retry_at_ms = 0;
		qc->pid = getpid();
	}
	if (qc == NULL) {
		qc = ima_calloc(1, sizeof(*qc));
		if (qc == NULL || pthread_setspecific(st->tls, qc) != 0) {
			ima_free(qc);
			return NULL;
		}
		qc->pid = getpid();
	}
	if (st->sentinel != NULL && qc->epoch != redis_sentinel_epoch(st->sentinel)) {
		/* Sentinel moved the primary: the connection and the wait
		 * after a failed connect were for the old one. */
		if (qc->c != NULL)
			redisFree(qc->c);
		qc->c = NULL;
		qc->retry_at_ms = 0;
	}
	if (qc->c != NULL && qc->c->err != 0) {
		redisFree(qc->c);
		qc->c = NULL;
	}
	if (qc->c == NULL && (ima_now_ms() < qc->retry_at_ms || quota_connect(st, qc) != 0))
		return NULL;
	return qc;
}

static void quota_replies_free(redisReply **rep, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rep[i] != NULL)
			freeReplyObject(rep[i]);
		rep[i] = NULL;
	}
}

/* Sends the n commands and reads their n replies: one round trip. */
static int quota_send(redisContext *c, struct quota_cmd *cmd, size_t n,
		      redisReply **rep)
{
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommandArgv(c, cmd[i].argc, cmd[i].argv, cmd[i].len) != REDIS_OK)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (redisGetReply(c, (void **)&rep[i]) != REDIS_OK || rep[i] == NULL)
			return -1;
	return 0;
}

/*
 * Runs the commands in one round trip; their replies in rep (the caller
 * frees them with quota_replies_free). A connection that served before and
 * now finds its socket closed was closed by Redis (a restart, its idle
 * timeout) before it read the commands: connect again and send them once
 * more. Returns 0, or -1 when Redis did not answer (a reply may still be an
 * error reply).
 */
static int quota_roundtrip(struct quota_state *st, struct quota_cmd *cmd,
			   size_t n, redisReply **rep)
{
	struct quota_conn *qc = quota_conn(st);
	bool reused;
	int e;

	memset(rep, 0, n * sizeof(*rep));
	if (qc == NULL)
		return -1;
	reused = qc->used;
	if (quota_send(qc->c, cmd, n, rep) == 0) {
		qc->used = true;
		return 0;
	}
	e = errno;
	quota_replies_free(rep, n);
	if (!reused || !(qc->c->err == REDIS_ERR_EOF ||
			 (qc->c->err == REDIS_ERR_IO && (e == EPIPE || e == ECONNRESET))))
		return -1;
	redisFree(qc->c);
	qc->c = NULL;
	if (quota_connect(st, qc) != 0 || quota_send(qc->c, cmd, n, rep) != 0) {
		quota_replies_free(rep, n);
		return -1;
	}
	qc->used = true;
	return 0;
}

static void quota_cmd_set(struct quota_cmd *cmd, const char *a0, const char *a1,
			  const char *a2)
{
	cmd->argc = a2 != NULL ? 3 : a1 != NULL ? 2 : 1;
	cmd->argv[0] = a0;
	cmd->argv[1] = a1;
	cmd->argv[2] = a2;
	for (int i = 0; i < cmd->argc; i++)
		cmd->len[i] = strlen(cmd->argv[i]);
}

/* ---- the request ------------------------------------------------------- */

/* The caller as _auth names them; false for an unknown caller. */
static bool quota_identity(struct ima_req *req, char tenant[QUOTA_NAME_MAX],
			   char user[QUOTA_NAME_MAX])
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *s;
	size_t n;

	tenant[0] = user[0] = '\0';
	if (ima_ctx_get(ctx, "_auth") == NULL)
		return false;
	if (ima_ctx_get_str(ctx, "_auth.tenant", &s, &n) == 0 && n < QUOTA_NAME_MAX)
		snprintf(tenant, QUOTA_NAME_MAX, "%.*s", (int)n, s);
	if (ima_ctx_get_str(ctx, "_auth.user", &s, &n) == 0 && n < QUOTA_NAME_MAX)
		snprintf(user, QUOTA_NAME_MAX, "%.*s", (int)n, s);
	return tenant[0] != '\0' || user[0] != '\0';
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
				long retry, const char *what)
{
	char name[96], secs[24];

	snprintf(name, sizeof(name), "imaginator_quota_refusals_total{reason=\"%s\"}", limit);
	ima_metric_add(name, 1);
	snprintf(secs, sizeof(secs), "%ld", retry > 0 ? retry : 1);
	ima_req_add_header(req, "Retry-After", secs);
	return ima_req_fail(req, 429, "quota_exceeded", limit, "%s; retry in %s s", what, secs);
}

/* Redis did not answer, or answered with an error (a demoted primary's
 * READONLY among them): counted, and the Sentinels asked again. */
static void quota_redis_failed(struct quota_state *st)
{
	ima_metric_add("imaginator_quota_redis_errors_total", 1);
	if (st->sentinel != NULL)
		redis_sentinel_reask(st->sentinel);
}

static enum ima_rc quota_redis_down(struct ima_req *req, struct quota_state *st)
{
	quota_redis_failed(st);
	if (st->fail_open)
		return IMA_CONTINUE;
	ima_metric_add("imaginator_quota_refusals_total{reason=\"redis_unavailable\"}", 1);
	return ima_req_fail(req, 503, "quota_unavailable", "",
			    "the quota store did not answer (fail_open = false)");
}

/* Per-request markers (the value of the stage's task data): the request
 * was counted; the spend check passed, so finish charges the spend. */
static char quota_counted_marker, quota_checked_marker;

/* The request counted against both minute windows, in one round trip. */
static enum ima_rc quota_requests(struct ima_req *req, struct quota_state *st)
{
	char tenant[QUOTA_NAME_MAX], user[QUOTA_NAME_MAX], what[384];
	char tkey[QUOTA_KEY_MAX], ukey[QUOTA_KEY_MAX];
	struct quota_cmd cmd[QUOTA_MAX_CMDS];
	redisReply *rep[QUOTA_MAX_CMDS];
	const struct quota_limits *l;
	time_t now = time(NULL);
	long minute = (long)(now / 60), to_minute = 60 - (long)(now % 60);
	long long tcount = 0, ucount = 0;
	size_t n = 0, ti = 0, ui = 0;

	if (ima_req_task_get(req, st) != NULL || !quota_identity(req, tenant, user))
		return IMA_CONTINUE;
	if (ima_req_task_set(req, st, &quota_counted_marker) != 0)
		return ima_req_fail(req, 500, "internal", "", "too many stages keep request data");
	l = quota_limits_of(st, tenant);
	/* EXPIRE every time rather than on a window's first INCR: the same
	 * round trip, and a window whose first EXPIRE was lost still ends. */
	if (l->tenant_rpm > 0) {
		snprintf(tkey, sizeof(tkey), "%srpm:%s:%ld", st->prefix, tenant, minute);
		ti = n;
		quota_cmd_set(&cmd[n++], "INCR", tkey, NULL);
		quota_cmd_set(&cmd[n++], "EXPIRE", tkey, "61");
	}
	if (l->user_rpm > 0 && user[0] != '\0') {
		snprintf(ukey, sizeof(ukey), "%srpm:%s:%s:%ld", st->prefix, tenant, user, minute);
		ui = n;
		quota_cmd_set(&cmd[n++], "INCR", ukey, NULL);
		quota_cmd_set(&cmd[n++], "EXPIRE", ukey, "61");
	}
	if (n == 0)
		return IMA_CONTINUE;
	if (quota_roundtrip(st, cmd, n, rep) != 0)
		return quota_redis_down(req, st);
	if (l->tenant_rpm > 0 && (rep[ti]->type != REDIS_REPLY_INTEGER || (tcount = rep[ti]->integer) < 1))
		goto down;
	if (l->user_rpm > 0 && user[0] != '\0' &&
	    (rep[ui]->type != REDIS_REPLY_INTEGER || (ucount = rep[ui]->integer) < 1))
		goto down;
	quota_replies_free(rep, n);
	if (l->tenant_rpm > 0 && tcount > l->tenant_rpm) {
		snprintf(what, sizeof(what), "tenant '%s' is over its limit of %lld requests per minute",
			 tenant, (long long)l->tenant_rpm);
		return quota_refuse(req, "tenant_rpm", to_minute, what);
	}
	if (l->user_rpm > 0 && ucount > l->user_rpm) {
		snprintf(what, sizeof(what), "user '%s' is over their limit of %lld requests per minute",
			 user, (long long)l->user_rpm);
		return quota_refuse(req, "user_rpm", to_minute, what);
	}
	return IMA_CONTINUE;
down:
	quota_replies_free(rep, n);
	return quota_redis_down(req, st);
}

/* What _llm_plan expects the request's LLM calls to cost, all tasks. */
static double quota_estimate(struct ima_req *req)
{
	const msgpack_object *plan = ima_ctx_get(ima_req_ctx(req), "_llm_plan");
	double usd = 0;

	if (plan == NULL || plan->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (uint32_t i = 0; i < plan->via.map.size; i++) {
		const msgpack_object *task = &plan->via.map.ptr[i].val;

		if (task->type != MSGPACK_OBJECT_MAP)
			continue;
		for (uint32_t k = 0; k < task->via.map.size; k++) {
			const msgpack_object *key = &task->via.map.ptr[k].key;
			const msgpack_object *v = &task->via.map.ptr[k].val;
			double d;

			if (key->type != MSGPACK_OBJECT_STR || key->via.str.size != 18 ||
			    memcmp(key->via.str.ptr, "estimated_cost_usd", 18) != 0)
				continue;
			d = v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32 ? v->via.f64 :
			    v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64 : 0;
			if (isfinite(d) && d > 0)
				usd += d;
		}
	}
	return usd;
}

/* A spend counter's reply: 0 when absent, -1 when not a number. */
static double quota_usd_of(const redisReply *r)
{
	char *end;
	double v;

	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_STRING)
		return -1;
	v = strtod(r->str, &end);
	return end != r->str && isfinite(v) && v >= 0 ? v : -1;
}

/* The day's spend of tenant and user (one MGET) plus the estimate. */
static enum ima_rc quota_spend(struct ima_req *req, struct quota_state *st)
{
	char tenant[QUOTA_NAME_MAX], user[QUOTA_NAME_MAX], what[384];
	char tkey[QUOTA_KEY_MAX], ukey[QUOTA_KEY_MAX];
	struct quota_cmd cmd;
	redisReply *rep;
	const struct quota_limits *l;
	time_t now = time(NULL);
	long day = (long)(now / 86400), to_day = 86400 - (long)(now % 86400);
	bool by_tenant, by_user;
	double estimate, tspent = 0, uspent = 0;
	size_t ui = 0;

	if (!quota_identity(req, tenant, user))
		return IMA_CONTINUE;
	l = quota_limits_of(st, tenant);
	by_tenant = l->tenant_usd_day > 0;
	by_user = l->user_usd_day > 0 && user[0] != '\0';
	if (by_tenant || by_user) {
		snprintf(tkey, sizeof(tkey), "%susd:%s:%ld", st->prefix, tenant, day);
		snprintf(ukey, sizeof(ukey), "%susd:%s:%s:%ld", st->prefix, tenant, user, day);
		cmd.argc = 1;
		cmd.argv[0] = "MGET";
		cmd.len[0] = 4;
		if (by_tenant) {
			cmd.argv[cmd.argc] = tkey;
			cmd.len[cmd.argc++] = strlen(tkey);
		}
		if (by_user) {
			ui = (size_t)cmd.argc - 1;
			cmd.argv[cmd.argc] = ukey;
			cmd.len[cmd.argc++] = strlen(ukey);
		}
		if (quota_roundtrip(st, &cmd, 1, &rep) != 0)
			return quota_redis_down(req, st);
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)cmd.argc - 1 ||
		    (by_tenant && (tspent = quota_usd_of(rep->element[0])) < 0) ||
		    (by_user && (uspent = quota_usd_of(rep->element[ui])) < 0)) {
			freeReplyObject(rep);
			return quota_redis_down(req, st);
		}
		freeReplyObject(rep);
		estimate = quota_estimate(req);
		if (by_tenant && tspent + estimate > l->tenant_usd_day) {
			snprintf(what, sizeof(what),
				 "tenant '%s' is over its LLM spend limit of %g USD per day (spent %.4f, this request ~%.4f)",
				 tenant, l->tenant_usd_day, tspent, estimate);
			return quota_refuse(req, "tenant_usd_day", to_day, what);
		}
		if (by_user && uspent + estimate > l->user_usd_day) {
			snprintf(what, sizeof(what),
				 "user '%s' is over their LLM spend limit of %g USD per day (spent %.4f, this request ~%.4f)",
				 user, l->user_usd_day, uspent, estimate);
			return quota_refuse(req, "user_usd_day", to_day, what);
		}
	}
	if (ima_req_task_set(req, st, &quota_checked_marker) != 0)
		return ima_req_fail(req, 500, "internal", "", "too many stages keep request data");
	return IMA_CONTINUE;
}

/*
 * Counts the request before the cache can replay it. Without _auth yet the
 * request is left for the process hook (the identity may come later).
 */
static enum ima_rc quota_prefetch(struct ima_req *req, void *state, const char *body,
				  size_t len, int in_format)
{
	struct quota_state *st = state;

	(void)body;
	(void)len;
	(void)in_format;
	return st->count_requests ? quota_requests(req, st) : IMA_CONTINUE;
}

static enum ima_rc quota_process(struct ima_req *req, void *state)
{
	struct quota_state *st = state;
	enum ima_rc rc = IMA_CONTINUE;

	if (st->count_requests)
		rc = quota_requests(req, st);
	if (rc == IMA_CONTINUE && st->check_spend)
		rc = quota_spend(req, st);
	return rc;
}

/* What the LLM calls made for the request cost is charged to tenant and
 * user: run_metrics.estimated_cost_usd, the providers' reported prices. */
static void quota_finish(struct ima_req *req, void *state)
{
	struct quota_state *st = state;
	const msgpack_object *cost;
	char tenant[QUOTA_NAME_MAX], user[QUOTA_NAME_MAX], usd[40];
	char tkey[QUOTA_KEY_MAX], ukey[QUOTA_KEY_MAX];
	struct quota_cmd cmd[QUOTA_MAX_CMDS];
	redisReply *rep[QUOTA_MAX_CMDS];
	long day = (long)(time(NULL) / 86400);
	size_t n = 0;
	double v;

	if (ima_req_task_get(req, st) != &quota_checked_marker ||
	    (cost = ima_req_metric_get(req, "estimated_cost_usd")) == NULL)
		return;
	v = cost->type == MSGPACK_OBJECT_FLOAT64 || cost->type == MSGPACK_OBJECT_FLOAT32 ? cost->via.f64 :
	    cost->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)cost->via.u64 : 0;
	if (!isfinite(v) || !(v > 0) || !quota_identity(req, tenant, user))
		return;
	snprintf(usd, sizeof(usd), "%.9f", v);
	snprintf(tkey, sizeof(tkey), "%susd:%s:%ld", st->prefix, tenant, day);
	quota_cmd_set(&cmd[n++], "INCRBYFLOAT", tkey, usd);
	quota_cmd_set(&cmd[n++], "EXPIRE", tkey, "172800");
	if (user[0] != '\0') {
		snprintf(ukey, sizeof(ukey), "%susd:%s:%s:%ld", st->prefix, tenant, user, day);
		quota_cmd_set(&cmd[n++], "INCRBYFLOAT", ukey, usd);
		quota_cmd_set(&cmd[n++], "EXPIRE", ukey, "172800");
	}
	if (quota_roundtrip(st, cmd, n, rep) != 0 || rep[0]->type == REDIS_REPLY_ERROR) {
		quota_redis_failed(st);
		ima_log(IMA_LOG_WARN, "quota %s: %.6f USD of tenant '%s' not charged (Redis)",
			st->name, v, tenant);
	} else {
		ima_metric_add("imaginator_quota_charged_usd_total", v);
	}
	quota_replies_free(rep, n);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_quota = {
	IMA_PLUGIN_HEADER,
	.name = "quota",
	.version = "1.1",
	.description = "requests per minute and LLM spend per day, per tenant and user, in Redis",
	.options = quota_options,
	.init = quota_init,
	.process = quota_process,
	.finish = quota_finish,
	.fini = quota_fini,
	.prefetch = quota_prefetch,
};
