/*
 * check_cache.c - the cache stage against a real redis-server, started by
 * this program on a unix socket in a temporary directory and stopped at the
 * end: hits by level, key stability, pipeline changes, TTL by confidence,
 * per-user invalidation, what is never stored, coalescing, Redis failures
 * and corrupt entries; the call cache, through a test stage and, for
 * call_try, its hooks driven directly.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "ima_core.h"

static char dir[256], sock[300], pidfile[300];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts redis-server on the test socket and waits (bounded) until it
 * answers PING. Returns its pid, or -1. */
static pid_t redis_start(void)
{
	pid_t pid = fork();
	long long until;
	FILE *f;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Its own session: Check kills a test's process group when the
		 * test ends, and a Redis restarted by a test must outlive it. */
		setsid();
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		       "--dir", dir, "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	f = fopen(pidfile, "w");
	if (f != NULL) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	for (until = now_ms() + 10000; now_ms() < until;) {
		redisContext *c = redisConnectUnix(sock);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		bool up = r != NULL && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (c)
			redisFree(c);
		if (up)
			return pid;
		usleep(10000);
	}
	return -1;
}

static void redis_stop(void)
{
	FILE *f = fopen(pidfile, "r");
	int pid = 0;

	if (f == NULL)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	fclose(f);
	unlink(pidfile);
	unlink(sock);
}

static redisReply *redis_cmd(const char *fmt, ...)
{
	redisContext *c = redisConnectUnix(sock);
	redisReply *r;
	va_list ap;

	ck_assert(c != NULL && !c->err);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Writes conf to dir/name, loads it and starts it as a worker would. */
static struct ima_engine *engine_from(const char *name, const char *conf)
{
	char path[400];
	struct ima_error err;
	struct ima_engine *eng;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(conf, f);
	fclose(f);
	eng = ima_engine_load(path, NULL, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(ima_engine_worker_init(eng, &err), 0);
	return eng;
}

/* The X-Cache header the request got, into buf ("" when none). */
static void xcache_of(struct ima_req *req, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < ima_req_header_count(req); i++) {
		const char *name, *value;

		ima_req_header(req, i, &name, &value);
		if (strcmp(name, "X-Cache") == 0)
			snprintf(buf, size, "%s", value);
	}
}

/* Runs the cache's invalidate command for tenant (NULL: none) and user:
 * what it returns. */
static int invalidate_in(struct ima_engine *eng, const char *tenant, const char *user,
			 struct ima_error *err)
{
	msgpack_sbuffer args, out;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object obj;
	size_t off = 0;
	int rc;

	msgpack_sbuffer_init(&args);
	msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, tenant ? 2 : 1);
	if (tenant) {
		ima_pack_cstr(&pk, "tenant");
		ima_pack_cstr(&pk, tenant);
	}
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, user);
	msgpack_zone_init(&zone, 256);
	msgpack_unpack(args.data, args.size, &off, &zone, &obj);
	msgpack_sbuffer_init(&out);
	rc = ima_engine_command(eng, "invalidate", user ? &obj : NULL, &out, err);
	msgpack_sbuffer_destroy(&out);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&args);
	return rc;
}

static int invalidate(struct ima_engine *eng, const char *user, struct ima_error *err)
{
	return invalidate_in(eng, NULL, user, err);
}

static struct ima_engine *engine(const char *cache_opts, const char *probe_action)
{
	char conf[4096];

	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"identity\"; plugin = \"identity\"; },\n"
		 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
		 "   key_prefix = \"t:\"; confidence_path = \"_input.confidence_threshold\";\n"
		 "   redis_timeout_ms = 200; breaker_cooldown_ms = 100; coalesce_wait_ms = 5000; %s }; },\n"
		 " { name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 30; }; },\n"
		 " { name = \"probe\"; plugin = \"probe\"; options = { action = \"%s\"; }; }\n"
		 ");\n", sock, cache_opts ? cache_opts : "", probe_action ? probe_action : "continue");
	return engine_from("cache.conf", conf);
}

struct answer {
	int status;
	char xcache[16];
	long runs;
	char key[17];      /* run_metrics.cache.key: a prefix of the entry's key */
	char cache_status[16]; /* run_metrics.cache.status */
	bool stages_ran;   /* false when answered before decoding */
	char json[4096];   /* the answer up to run_metrics */
};

/* One request; api_key, when not NULL, is sent as X-API-Key. */
static struct answer ask_key(struct ima_engine *eng, const char *body, const char *api_key,
			     const char *cache_control, bool json_out)
{
	struct ima_req *req = ima_req_new();
	struct answer a = { 0 };
	struct ima_buf out = { 0 };
	char *rm;
	int64_t runs = -1;
	const char *key;
	size_t n;

	ck_assert_ptr_nonnull(req);
	if (cache_control)
		ima_req_set_meta(req, "cache_control", cache_control);
	if (json_out)
		ima_req_set_meta(req, "output", "json");
	if (api_key)
		ima_req_set_meta(req, "x_api_key", api_key);
	a.status = ima_engine_handle(eng, req, body, strlen(body), IMA_FMT_JSON);
	a.stages_ran = ima_req_stage_seconds(req, 0) >= 0;
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	rm = strstr(out.data, "\"run_metrics\"");
	snprintf(a.json, sizeof(a.json), "%.*s", rm ? (int)(rm - out.data) : (int)out.len, out.data);
	ima_buf_free(&out);
	xcache_of(req, a.xcache, sizeof(a.xcache));
	ima_ctx_get_int(ima_req_ctx(req), "runs", &runs);
	a.runs = (long)runs;
	if (ima_ctx_get_str(ima_req_ctx(req), "run_metrics.cache.key", &key, &n) == 0)
		snprintf(a.key, sizeof(a.key), "%.*s", (int)n, key);
	if (ima_ctx_get_str(ima_req_ctx(req), "run_metrics.cache.status", &key, &n) == 0)
		snprintf(a.cache_status, sizeof(a.cache_status), "%.*s", (int)n, key);
	ima_req_free(req);
	return a;
}

static struct answer ask_full(struct ima_engine *eng, const char *body,
			      const char *cache_control, bool json_out)
{
	return ask_key(eng, body, NULL, cache_control, json_out);
}

static struct answer ask(struct ima_engine *eng, const char *body, const char *cache_control)
{
	return ask_full(eng, body, cache_control, false);
}

/* The Redis key of the answer a request stored ("t:a:<64 hex digits>"),
 * found by the key prefix its run_metrics shows. */
static const char *answer_rkey(const struct answer *a, char *buf, size_t size)
{
	redisReply *r;

	ck_assert_uint_eq(strlen(a->key), 16);
	r = redis_cmd("KEYS t:a:%s*", a->key);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 1);
	ck_assert_uint_eq(strlen(r->element[0]->str), 4 + 64);
	snprintf(buf, size, "%s", r->element[0]->str);
	freeReplyObject(r);
	return buf;
}

static char *body(const char *resume, const char *user, double conf)
{
	static char buf[8][1024];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, 1024, "{\"resume_text\": \"%s\", \"job_ad\": \"Python role\", "
		 "\"confidence_threshold\": %g%s%s%s}", resume, conf,
		 user ? ", \"test_user\": \"" : "", user ? user : "", user ? "\"" : "");
	return b;
}

static void flush(void)
{
	freeReplyObject(redis_cmd("FLUSHALL"));
}

START_TEST(cache_miss_then_hits)
{
	struct ima_engine *eng;
	struct answer a;

	flush();
	eng = engine(NULL, NULL);
	a = ask(eng, body("Senior C engineer", NULL, 0.7), NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.xcache, "MISS");
	a = ask(eng, body("Senior C engineer", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "HIT-L1");
	ima_engine_free(eng);
	/* A new process has an empty L1: the answer comes from Redis, then
	 * from its own L1. */
	eng = engine(NULL, NULL);
	a = ask(eng, body("Senior C engineer", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "HIT-L2");
	a = ask(eng, body("Senior C engineer", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "HIT-L1");
	/* The hit ratio gauge follows the counters. */
	{
		double l1 = ima_metric_get("imaginator_cache_hits_total{level=\"l1\"}");
		double l2 = ima_metric_get("imaginator_cache_hits_total{level=\"l2\"}");
		double miss = ima_metric_get("imaginator_cache_misses_total");

		ck_assert(l1 >= 2 && l2 >= 1 && miss >= 1);
		ck_assert_double_eq_tol(ima_metric_get("imaginator_cache_hit_ratio"),
					(l1 + l2) / (l1 + l2 + miss), 1e-9);
	}
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_key_stable_across_order_and_whitespace)
{
	struct ima_engine *eng;
	struct answer a, b, c;

	flush();
	eng = engine(NULL, NULL);
	a = ask(eng, "{\"resume_text\": \"Senior  C\\n engineer \", \"job_description\": \"Python role\", \"confidence_threshold\": 0.70}", NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	b = ask(eng, "{\"confidence_threshold\": 0.7, \"job_ad\": \"  Python\\trole\", \"resume_text\": \"Senior C engineer\"}", NULL);
	ck_assert_str_eq(b.xcache, "HIT-L1");
	/* Different content is a different key. */
	c = ask(eng, "{\"resume_text\": \"Senior C++ engineer\", \"job_ad\": \"Python role\"}", NULL);
	ck_assert_str_eq(c.xcache, "MISS");
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_key_changes_with_pipeline)
{
	struct ima_engine *eng;
	struct answer a;

	flush();
	eng = engine(NULL, NULL);
	ck_assert_str_eq(ask(eng, body("Data engineer", NULL, 0.7), NULL).xcache, "MISS");
	ima_engine_free(eng);
	/* Same stages, one option changed: never the old answer. */
	eng = engine("ttl_low = 7000;", NULL);
	a = ask(eng, body("Data engineer", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_ttl_by_confidence)
{
	static const struct { double conf; long long lo, hi; } cases[] = {
		{ 0.9, 172000, 172800 }, { 0.6, 86000, 86400 }, { 0.3, 21000, 21600 },
	};
	struct ima_engine *eng;

	flush();
	eng = engine(NULL, NULL);
	for (size_t i = 0; i < 3; i++) {
		struct answer a = ask(eng, body("QA analyst", NULL, cases[i].conf), NULL);
		char rk[100];
		redisReply *r;

		ck_assert_str_eq(a.xcache, "MISS");
		r = redis_cmd("TTL %s", answer_rkey(&a, rk, sizeof(rk)));
		ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
		ck_assert_msg(r->integer >= cases[i].lo && r->integer <= cases[i].hi,
			      "confidence %.1f: TTL %lld", cases[i].conf, r->integer);
		freeReplyObject(r);
	}
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_per_user_invalidation)
{
	struct ima_engine *eng;
	struct ima_error err;

	flush();
	eng = engine("generation_cache_ms = 0;", NULL);
	ck_assert_str_eq(ask(eng, body("Nurse", "alice", 0.7), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, body("Nurse", "bob", 0.7), NULL).xcache, "MISS");
	/* Same input, another user: never a cross-user hit. */
	ck_assert_str_eq(ask(eng, body("Nurse", "carol", 0.7), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, body("Nurse", "alice", 0.7), NULL).xcache, "HIT-L1");

	ck_assert_int_eq(invalidate(eng, "alice", &err), 1);

	ck_assert_str_eq(ask(eng, body("Nurse", "alice", 0.7), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, body("Nurse", "bob", 0.7), NULL).xcache, "HIT-L1");
	ck_assert_str_eq(ask(eng, body("Nurse", "alice", 0.7), NULL).xcache, "HIT-L1");
	/* Invalidation without a user is refused with the field at fault. */
	ck_assert_int_eq(invalidate(eng, NULL, &err), -1);
	ck_assert_str_eq(err.field, "user");
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_never_stores_errors_or_degraded)
{
	struct ima_engine *eng;

	flush();
	eng = engine(NULL, "error");
	ck_assert_int_eq(ask(eng, body("Pilot", NULL, 0.7), NULL).status, 422);
	ck_assert_str_eq(ask(eng, body("Pilot", NULL, 0.7), NULL).xcache, "MISS");
	ima_engine_free(eng);
	eng = engine(NULL, "degrade");
	ck_assert_str_eq(ask(eng, body("Pilot", NULL, 0.7), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, body("Pilot", NULL, 0.7), NULL).xcache, "MISS");
	ima_engine_free(eng);
	/* Cache-Control: no-store skips both; no-cache skips the lookup only. */
	eng = engine(NULL, NULL);
	ck_assert_str_eq(ask(eng, body("Chef", NULL, 0.7), "no-store").xcache, "BYPASS");
	ck_assert_str_eq(ask(eng, body("Chef", NULL, 0.7), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, body("Chef", NULL, 0.7), "no-cache").xcache, "BYPASS");
	ck_assert_str_eq(ask(eng, body("Chef", NULL, 0.7), NULL).xcache, "HIT-L1");
	ima_engine_free(eng);
}
END_TEST

/* One body for all, built before the threads start: body() writes into a
 * static ring of eight, which is not for concurrent callers. */
struct racer {
	struct ima_engine *eng;
	const char *body;
	struct answer a;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->a = ask(r->eng, r->body, NULL);
	return NULL;
}

START_TEST(cache_coalesces_identical_misses)
{
	enum { N = 50 };
	struct racer r[N];
	pthread_t t[N];
	pthread_attr_t attr;
	struct ima_engine *eng;
	const char *b = body("Firmware engineer", NULL, 0.7);
	long first_runs = -1;
	int misses = 0;

	flush();
	eng = engine(NULL, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1 << 20);
	for (int i = 0; i < N; i++) {
		r[i].eng = eng;
		r[i].body = b;
		ck_assert_int_eq(pthread_create(&t[i], &attr, race, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	pthread_attr_destroy(&attr);
	/* Every answer carries the count of pipeline runs at the time it was
	 * computed: one run served all fifty. */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(r[i].a.status, 200);
		if (first_runs < 0)
			first_runs = r[i].a.runs;
		ck_assert_int_eq(r[i].a.runs, first_runs);
		misses += strcmp(r[i].a.xcache, "MISS") == 0;
	}
	ck_assert_int_eq(misses, 1);
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_survives_redis_dying)
{
	struct ima_engine *eng;
	int failed = 0, l2_hits = 0;
	char resume[64];
	pid_t pid;

	flush();
	/* No L1: every hit must come from Redis. */
	eng = engine("l1_max_bytes = 0;", NULL);
	for (int i = 0; i < 60; i++) {
		struct answer a;

		if (i == 20)
			redis_stop();
		if (i == 40) {
			pid = redis_start();
			ck_assert_int_gt(pid, 0);
		}
		snprintf(resume, sizeof(resume), "Welder %d", i % 5);
		a = ask(eng, body(resume, NULL, 0.7), NULL);
		failed += a.status != 200;
	}
	ck_assert_int_eq(failed, 0);
	/* Back to L2 hits once the breaker lets Redis in again (bounded). */
	for (long long until = now_ms() + 5000; now_ms() < until && l2_hits == 0;) {
		ask(eng, body("Welder 0", NULL, 0.7), NULL);
		l2_hits += strcmp(ask(eng, body("Welder 0", NULL, 0.7), NULL).xcache, "HIT-L2") == 0;
	}
	ck_assert_int_eq(l2_hits, 1);
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_rejects_corrupt_entry)
{
	struct ima_engine *eng;
	struct answer a;
	char rk[100];
	redisReply *r;

	flush();
	eng = engine("l1_max_bytes = 0;", NULL);
	a = ask(eng, body("Baker", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	answer_rkey(&a, rk, sizeof(rk));
	/* A hostile value: a map claiming four billion entries. */
	freeReplyObject(redis_cmd("SET %s %b", rk, "\xdf\xff\xff\xff\xff", (size_t)5));
	a = ask(eng, body("Baker", NULL, 0.7), NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.xcache, "MISS");
	/* Recomputed and stored again, valid. */
	a = ask(eng, body("Baker", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "HIT-L2");
	r = redis_cmd("STRLEN %s", rk);
	ck_assert_int_gt(r->integer, 5);
	freeReplyObject(r);
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_replays_exact_repeats)
{
	struct ima_engine *eng;
	struct answer a, b, c, d;

	flush();
	eng = engine("generation_cache_ms = 0;", NULL);
	a = ask_full(eng, body("Glazier", NULL, 0.7), NULL, true);
	ck_assert_str_eq(a.xcache, "MISS");
	ck_assert(a.stages_ran);
	/* Byte-identical and anonymous: answered before decoding, the same
	 * answer (everything before run_metrics). */
	b = ask_full(eng, body("Glazier", NULL, 0.7), NULL, true);
	ck_assert_str_eq(b.xcache, "HIT-L1");
	ck_assert(!b.stages_ran);
	ck_assert_str_eq(a.json, b.json);
	/* Other bytes, same content: the canonical key, stages ran. */
	c = ask_full(eng, "{\"job_ad\": \"Python role\", \"resume_text\": \"Glazier\", \"confidence_threshold\": 0.7}", NULL, true);
	ck_assert_str_eq(c.xcache, "HIT-L1");
	ck_assert(c.stages_ran);
	/* With an identity, never replayed: invalidation must stay exact. */
	ask_full(eng, body("Glazier", "dave", 0.7), NULL, true);
	d = ask_full(eng, body("Glazier", "dave", 0.7), NULL, true);
	ck_assert_str_eq(d.xcache, "HIT-L1");
	ck_assert(d.stages_ran);
	ima_engine_free(eng);
}
END_TEST

/* A request body with the identity the identity stage copies into _auth. */
static char *who_body(const char *resume, const char *tenant, const char *user)
{
	static char buf[4][1024];
	static int slot;
	char *b = buf[slot++ % 4];

	snprintf(b, 1024, "{\"resume_text\": \"%s\", \"job_ad\": \"Python role\", "
		 "\"test_tenant\": \"%s\", \"test_user\": \"%s\"}", resume, tenant, user);
	return b;
}

/* Tenants and users of any length and bytes are keyed and invalidated
 * exactly: names that once shared a 127-byte prefix shared entries, and
 * "gen:T:U" was one key for tenant "a:b" user "c" and tenant "a" user
 * "b:c". */
START_TEST(cache_identity_keys_are_exact)
{
	char l1[200], l2[200];
	struct ima_engine *eng;
	struct ima_error err;
	redisReply *r;

	flush();
	memset(l1, 'x', 150);
	memcpy(l2, l1, 150);
	snprintf(l1 + 150, sizeof(l1) - 150, "-one");
	snprintf(l2 + 150, sizeof(l2) - 150, "-two");
	eng = engine("generation_cache_ms = 0;", NULL);
	ck_assert_str_eq(ask(eng, who_body("Roofer", "acme", l1), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, who_body("Roofer", "acme", l2), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, who_body("Roofer", l1, "u"), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, who_body("Roofer", l2, "u"), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, who_body("Roofer", "acme", l2), NULL).xcache, "HIT-L1");
	ck_assert_int_eq(invalidate_in(eng, "acme", l1, &err), 1);
	ck_assert_str_eq(ask(eng, who_body("Roofer", "acme", l2), NULL).xcache, "HIT-L1");
	ck_assert_str_eq(ask(eng, who_body("Roofer", "acme", l1), NULL).xcache, "MISS");

	ck_assert_str_eq(ask(eng, who_body("Tiler", "a:b", "c"), NULL).xcache, "MISS");
	ck_assert_str_eq(ask(eng, who_body("Tiler", "a", "b:c"), NULL).xcache, "MISS");
	ck_assert_int_eq(invalidate_in(eng, "a:b", "c", &err), 1);
	ck_assert_str_eq(ask(eng, who_body("Tiler", "a", "b:c"), NULL).xcache, "HIT-L1");
	ck_assert_str_eq(ask(eng, who_body("Tiler", "a:b", "c"), NULL).xcache, "MISS");
	/* Plain names keep the key they always had; the others are escaped. */
	r = redis_cmd("EXISTS t:gen:a%%3Ab:c");
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	r = redis_cmd("EXISTS t:gen:acme:%s", l1);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	ima_engine_free(eng);
}
END_TEST

/* auth_apikey before the cache identifies the caller in prefetch: its
 * byte-identical repeats are replayed, in its own namespace. */
static struct ima_engine *auth_engine(bool auth_first)
{
	static const char keys[] =
		"alpha:ef3b7c63330175c2f41d4e213cf64188fab11cfb3212c77ea763e986e27d0b4d:acme:analyze;"
		"bravo:621a84d52d3feafab24e402d332c5219b22489eaf374d387b22c44c94ba4cb76:acme:analyze";
	char conf[4096], auth[512];

	snprintf(auth, sizeof(auth),
		 " { name = \"auth\"; plugin = \"auth_apikey\"; options = { required = false; keys = \"%s\"; }; },\n",
		 keys);
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n%s"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
		 "   key_prefix = \"t:\"; generation_cache_ms = 0; }; },\n%s"
		 " { name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 1; }; }\n"
		 ");\n", auth_first ? auth : "", sock, auth_first ? "" : auth);
	return engine_from("auth.conf", conf);
}

#define KEY_ALPHA "ak_test_alpha_0123456789"
#define KEY_BRAVO "ak_test_bravo_9876543210"

START_TEST(cache_replays_identified_repeats)
{
	const char *b = body("Joiner", NULL, 0.7);
	struct answer anon, a1, a2, b1, b2, x;
	struct ima_engine *eng;
	struct ima_error err;

	flush();
	eng = auth_engine(true);
	anon = ask_key(eng, b, NULL, NULL, true);
	ck_assert_str_eq(anon.xcache, "MISS");
	ck_assert_str_eq(ask_key(eng, b, NULL, NULL, true).xcache, "HIT-L1");
	/* The anonymous answer, replayed, is never alpha's. */
	a1 = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert_str_eq(a1.xcache, "MISS");
	ck_assert(a1.stages_ran);
	ck_assert_int_ne(a1.runs, anon.runs);
	ck_assert_str_ne(a1.json, anon.json);
	/* Alpha's repeat: answered before decoding, no stage ran. */
	a2 = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert_str_eq(a2.xcache, "HIT-L1");
	ck_assert(!a2.stages_ran);
	ck_assert_str_eq(a1.json, a2.json);
	/* Bravo, same bytes: its own computation, then its own replay. */
	b1 = ask_key(eng, b, KEY_BRAVO, NULL, true);
	ck_assert_str_eq(b1.xcache, "MISS");
	ck_assert_int_ne(b1.runs, a1.runs);
	b2 = ask_key(eng, b, KEY_BRAVO, NULL, true);
	ck_assert(!b2.stages_ran);
	ck_assert_str_eq(b2.json, b1.json);
	ck_assert_str_ne(b2.json, a1.json);
	/* A wrong key meets the auth stage, never a replay. */
	ck_assert_int_eq(ask_key(eng, b, "ak_wrong", NULL, true).status, 401);
	/* Cache-Control still bypasses. */
	x = ask_key(eng, b, KEY_ALPHA, "no-cache", true);
	ck_assert_str_eq(x.xcache, "BYPASS");
	ck_assert(x.stages_ran);
	/* Invalidating alpha: its next repeat is computed, bravo's is not. */
	a2 = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert(!a2.stages_ran);
	ck_assert_int_eq(invalidate_in(eng, "acme", "alpha", &err), 1);
	a2 = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert_str_eq(a2.xcache, "MISS");
	ck_assert(a2.stages_ran);
	ck_assert_int_ne(a2.runs, a1.runs);
	x = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert(!x.stages_ran);
	ck_assert_str_eq(x.json, a2.json);
	x = ask_key(eng, b, KEY_BRAVO, NULL, true);
	ck_assert_str_eq(x.xcache, "HIT-L1");
	ck_assert(!x.stages_ran);
	ck_assert_str_eq(x.json, b1.json);
	ima_engine_free(eng);
}
END_TEST

/* A credential that no stage before the cache has checked: the cache
 * cannot know whose it is when it would replay, so it never does. */
START_TEST(cache_never_replays_an_unchecked_credential)
{
	const char *b = body("Plasterer", NULL, 0.7);
	struct ima_engine *eng;
	struct answer a;

	flush();
	eng = auth_engine(false);
	ck_assert_str_eq(ask_key(eng, b, KEY_ALPHA, NULL, true).xcache, "MISS");
	a = ask_key(eng, b, KEY_ALPHA, NULL, true);
	ck_assert_str_eq(a.xcache, "HIT-L1");
	ck_assert(a.stages_ran);
	ck_assert_int_eq(ask_key(eng, b, "ak_wrong", NULL, true).status, 401);
	ima_engine_free(eng);
	/* The identity stage finds the user in the body, after prefetch. */
	eng = engine("generation_cache_ms = 0;", NULL);
	b = body("Plasterer", "erin", 0.7);
	ask_key(eng, b, "some-key", NULL, true);
	a = ask_key(eng, b, "some-key", NULL, true);
	ck_assert_str_eq(a.xcache, "HIT-L1");
	ck_assert(a.stages_ran);
	ima_engine_free(eng);
}
END_TEST

START_TEST(cache_l1_only_without_redis)
{
	struct ima_engine *eng;
	struct answer a;

	eng = engine_from("l1.conf",
			  "pipeline = ({ name = \"request\"; plugin = \"request\"; },"
			  "{ name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"none\"; }; },"
			  "{ name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 1; }; });");
	a = ask(eng, body("Potter", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	a = ask(eng, body("Potter", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "HIT-L1");
	ima_engine_free(eng);
}
END_TEST

/* A later stage writing "_cache" and "_metrics.cache" into the context (a
 * bug, or a value copied from a request) steers nothing: no store under
 * another request's key, no release of another's Redis lock, and
 * run_metrics.cache says what the cache did. */
START_TEST(cache_ignores_state_forged_in_the_context)
{
	struct ima_engine *eng;
	struct answer a;
	char rk[100], conf[4096];
	redisReply *before, *r;

	flush();
	eng = engine(NULL, NULL);
	a = ask(eng, body("Victim analyst", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	answer_rkey(&a, rk, sizeof(rk));
	ima_engine_free(eng);
	before = redis_cmd("GET %s", rk);
	ck_assert_int_eq(before->type, REDIS_REPLY_STRING);
	/* Another process computing that answer again holds its lock. */
	freeReplyObject(redis_cmd("SET t:lock:%s their-token", rk + 4));
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
		 "   key_prefix = \"t:\"; }; },\n"
		 " { name = \"forge_state\"; plugin = \"forge\"; options = { key = \"_cache\";\n"
		 "   value = \"{\\\"key\\\": \\\"%s\\\", \\\"store\\\": true, \\\"owner\\\": true, "
		 "\\\"lock_token\\\": \\\"their-token\\\", \\\"status\\\": 0}\"; }; },\n"
		 " { name = \"forge_metrics\"; plugin = \"forge\"; options = { key = \"_metrics.cache\";\n"
		 "   value = \"{\\\"status\\\": \\\"HIT-L2\\\", \\\"cost_saved_usd\\\": 99}\"; }; },\n"
		 " { name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 1; }; }\n"
		 ");\n", sock, rk + 4);
	eng = engine_from("forge.conf", conf);
	a = ask(eng, body("Attacker", NULL, 0.7), NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.xcache, "MISS");
	ck_assert_str_eq(a.cache_status, "MISS");
	r = redis_cmd("GET %s", rk);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_msg(r->len == before->len && memcmp(r->str, before->str, r->len) == 0,
		      "the answer under a forged key was overwritten");
	freeReplyObject(r);
	freeReplyObject(before);
	r = redis_cmd("GET t:lock:%s", rk + 4);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, "their-token");
	freeReplyObject(r);
	/* Its own answer went under its own key. */
	ck_assert_str_eq(ask(eng, body("Attacker", NULL, 0.7), NULL).xcache, "HIT-L1");
	r = redis_cmd("KEYS t:a:*");
	ck_assert_uint_eq(r->elements, 2);
	freeReplyObject(r);
	ima_engine_free(eng);
}
END_TEST

/* An answer's Redis lock held by a connection (SET like the cache's own
 * lock, its client id in the token); the connection when keep, else NULL
 * (closed: a holder that died). */
static redisContext *hold_lock(const char *rk, bool keep, char *token, size_t size)
{
	redisContext *c = redisConnectUnix(sock);
	redisReply *r;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->err, 0);
	r = redisCommand(c, "CLIENT ID");
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	snprintf(token, size, "c%lld.1.2.3", r->integer);
	freeReplyObject(r);
	freeReplyObject(redisCommand(c, "SET t:lock:%s %s PX 60000", rk + 4, token));
	if (keep)
		return c;
	redisFree(c);
	return NULL;
}

/* A process that died holding an answer's lock: its connection is gone, so
 * a waiter frees the lock and computes instead of waiting for a result
 * that never comes; a holder still connected keeps its lock. */
START_TEST(cache_takes_over_the_lock_of_a_dead_holder)
{
	struct ima_engine *eng;
	struct answer a;
	char rk[100], token[64], conf[2048];
	redisContext *alive;
	redisReply *r;

	flush();
	eng = engine("lock_ms = 60000;", NULL);
	a = ask(eng, body("Orphaned analyst", NULL, 0.7), NULL);
	ck_assert_str_eq(a.xcache, "MISS");
	answer_rkey(&a, rk, sizeof(rk));
	ima_engine_free(eng);

	/* Dead holder: the waiter's new process computes, and its own lock
	 * replaced the orphan (it released it after storing). */
	freeReplyObject(redis_cmd("DEL %s", rk));
	hold_lock(rk, false, token, sizeof(token));
	eng = engine("lock_ms = 60000;", NULL);
	a = ask(eng, body("Orphaned analyst", NULL, 0.7), NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.xcache, "MISS");
	r = redis_cmd("GET t:lock:%s", rk + 4);
	ck_assert_msg(r->type == REDIS_REPLY_NIL, "the dead holder's lock is still there: %s",
		      r->type == REDIS_REPLY_STRING ? r->str : "?");
	freeReplyObject(r);
	r = redis_cmd("EXISTS %s", rk);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	ima_engine_free(eng);

	/* Live holder: the waiter waits its coalesce_wait_ms, computes
	 * without the lock, and leaves the holder's lock alone. */
	freeReplyObject(redis_cmd("DEL %s", rk));
	alive = hold_lock(rk, true, token, sizeof(token));
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"identity\"; plugin = \"identity\"; },\n"
		 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
		 "   key_prefix = \"t:\"; confidence_path = \"_input.confidence_threshold\";\n"
		 "   lock_ms = 60000; coalesce_wait_ms = 300; }; },\n"
		 " { name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 30; }; },\n"
		 " { name = \"probe\"; plugin = \"probe\"; options = { action = \"continue\"; }; }\n"
		 ");\n", sock);
	eng = engine_from("cache-wait.conf", conf);
	a = ask(eng, body("Orphaned analyst", NULL, 0.7), NULL);
	ck_assert_int_eq(a.status, 200);
	r = redis_cmd("GET t:lock:%s", rk + 4);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, token);
	freeReplyObject(r);
	ima_engine_free(eng);
	redisFree(alive);
}
END_TEST

/* A bad option value stops the pipeline at load, and the message names the
 * option and its value (the core adds file, line, stage and plugin). */
START_TEST(cache_init_names_the_bad_option)
{
	static const struct { const char *opt, *msg; } cases[] = {
		{ "l1_max_bytes = -5;", "l1_max_bytes = -5: must be 0 or more" },
		{ "replay_max_bytes = -1;", "replay_max_bytes = -1: must be 0 or more" },
		{ "ttl_low = 0;", "ttl_low = 0: must be more than 0" },
		{ "coalesce_wait_ms = -3;", "coalesce_wait_ms = -3: must be 0 or more" },
		{ "lock_ms = -20;", "lock_ms = -20: must be more than 0" },
		{ "call_max_bytes = 0;", "call_max_bytes = 0: must be more than 0" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[400], want[200];
		struct ima_error err;
		FILE *f;

		snprintf(path, sizeof(path), "%s/bad.conf", dir);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "pipeline = ({ name = \"request\"; plugin = \"request\"; },\n"
			   "{ name = \"answers\"; plugin = \"cache\"; options = { redis_url = \"none\"; %s }; });\n",
			cases[i].opt);
		fclose(f);
		memset(&err, 0, sizeof(err));
		ck_assert_ptr_null(ima_engine_load(path, NULL, &err));
		snprintf(want, sizeof(want), "bad.conf:2: stage 'answers' (plugin cache): init failed: %s",
			 cases[i].msg);
		ck_assert_msg(strstr(err.message, want) != NULL, "%s: got '%s'", cases[i].opt, err.message);
	}
}
END_TEST

/* Every family has a type and HELP text; L1 evictions are a counter fed
 * with what is new at each report, so evictions and entries add up to the
 * answers stored. */
START_TEST(cache_metrics_are_declared)
{
	static const char *const want[] = {
		"# TYPE imaginator_cache_l1_evictions_total counter\n",
		"# TYPE imaginator_cache_l1_bytes gauge\n",
		"# TYPE imaginator_cache_l1_entries gauge\n",
		"# TYPE imaginator_cache_hit_ratio gauge\n",
		"# TYPE imaginator_cache_misses_total counter\n",
		"# HELP imaginator_cache_breaker_open Number of workers whose Redis circuit breaker is open",
		"# HELP imaginator_cache_stores_total Answers stored",
	};
	enum { N = 120 };
	struct ima_engine *eng;
	struct ima_buf out = { 0 };
	double evicted = ima_metric_get("imaginator_cache_l1_evictions_total");
	char resume[64];

	flush();
	/* Breaker, bytes and entries are reported after a store. */
	eng = engine(NULL, NULL);
	ck_assert_str_eq(ask(eng, body("Metrics clerk", NULL, 0.7), NULL).xcache, "MISS");
	ima_engine_free(eng);
	/* 16 shards of 256 bytes: the answers cannot all stay. */
	eng = engine_from("evict.conf",
			  "pipeline = ({ name = \"request\"; plugin = \"request\"; },"
			  "{ name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"none\";"
			  " l1_max_bytes = 4096; replay_max_bytes = 0; }; },"
			  "{ name = \"slow\"; plugin = \"slow\"; options = { delay_ms = 0; }; });");
	for (int i = 0; i < N; i++) {
		snprintf(resume, sizeof(resume), "Archivist %d", i);
		ck_assert_str_eq(ask(eng, body(resume, NULL, 0.7), NULL).xcache, "MISS");
	}
	evicted = ima_metric_get("imaginator_cache_l1_evictions_total") - evicted;
	ck_assert_double_gt(evicted, 0);
	ck_assert_double_eq_tol(evicted + ima_metric_get("imaginator_cache_l1_entries"), N, 1e-9);
	ima_engine_free(eng);
	ima_metrics_render(&out);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(out.data, want[i]) != NULL, "no '%s' in /metrics", want[i]);
	ck_assert_ptr_null(strstr(out.data, "imaginator_cache_l1_evictions "));
	ima_buf_free(&out);
}
END_TEST

/* ---- the call cache ---- */

/* A pipeline whose llmsim stage makes two priced calls per analysis: one on
 * the resume alone, one on the resume and the job ad. cache_stage false
 * leaves the cache stage out. */
static struct ima_engine *call_engine(const char *cache_opts, const char *sim_opts, bool cache_stage)
{
	char conf[4096], cache[1024] = "";

	if (cache_stage)
		snprintf(cache, sizeof(cache),
			 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
			 "   key_prefix = \"t:\"; generation_cache_ms = 0; %s }; },\n",
			 sock, cache_opts ? cache_opts : "");
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"identity\"; plugin = \"identity\"; },\n"
		 "%s"
		 " { name = \"llm\"; plugin = \"llmsim\"; options = { %s }; }\n"
		 ");\n", cache, sim_opts ? sim_opts : "");
	return engine_from("calls.conf", conf);
}

struct calls {
	int status;
	char xcache[16];
	int64_t hit, missed, stored, made, reused, resume_words, pair_words;
	double saved, cost_saved, spent;
};

static struct calls ask_calls_full(struct ima_engine *eng, const char *resume, const char *job,
				   const char *user, const char *cache_control, bool json_out)
{
	struct ima_req *req = ima_req_new();
	struct ima_ctx *ctx;
	struct calls c = { 0 };
	char b[2048];

	ck_assert_ptr_nonnull(req);
	snprintf(b, sizeof(b), "{\"resume_text\": \"%s\", \"job_ad\": \"%s\"%s%s%s}", resume, job,
		 user ? ", \"test_user\": \"" : "", user ? user : "", user ? "\"" : "");
	if (cache_control)
		ima_req_set_meta(req, "cache_control", cache_control);
	if (json_out)
		ima_req_set_meta(req, "output", "json");
	c.status = ima_engine_handle(eng, req, b, strlen(b), IMA_FMT_JSON);
	ctx = ima_req_ctx(req);
	xcache_of(req, c.xcache, sizeof(c.xcache));
	ima_ctx_get_int(ctx, "run_metrics.cache.calls_hit", &c.hit);
	ima_ctx_get_int(ctx, "run_metrics.cache.calls_missed", &c.missed);
	ima_ctx_get_int(ctx, "run_metrics.cache.calls_stored", &c.stored);
	ima_ctx_get_double(ctx, "run_metrics.cache.call_cost_saved_usd", &c.saved);
	ima_ctx_get_double(ctx, "run_metrics.cache.cost_saved_usd", &c.cost_saved);
	ima_ctx_get_int(ctx, "run_metrics.llmsim.made", &c.made);
	ima_ctx_get_int(ctx, "run_metrics.llmsim.reused", &c.reused);
	ima_ctx_get_double(ctx, "run_metrics.llmsim.spent_usd", &c.spent);
	ima_ctx_get_int(ctx, "llmsim.resume_words", &c.resume_words);
	ima_ctx_get_int(ctx, "llmsim.pair_words", &c.pair_words);
	ima_req_free(req);
	return c;
}

static struct calls ask_calls(struct ima_engine *eng, const char *resume, const char *job,
			      const char *user, const char *cache_control)
{
	return ask_calls_full(eng, resume, job, user, cache_control, false);
}

START_TEST(cache_hits_count_the_answers_cost_as_saved)
{
	struct ima_engine *eng;
	struct calls c;

	flush();
	eng = call_engine(NULL, NULL, true);
	c = ask_calls_full(eng, "Plumber", "Job one", NULL, NULL, true);
	ck_assert_str_eq(c.xcache, "MISS");
	ck_assert_double_eq_tol(c.cost_saved, 0, 1e-12);
	/* Through the canonical key, then replayed before decoding: both
	 * save what the answer's two calls cost. */
	c = ask_calls_full(eng, "Plumber", "Job  one", NULL, NULL, true);
	ck_assert_str_eq(c.xcache, "HIT-L1");
	ck_assert_int_eq(c.made, 0);
	ck_assert_double_eq_tol(c.cost_saved, 0.15, 1e-9);
	c = ask_calls_full(eng, "Plumber", "Job one", NULL, NULL, true);
	ck_assert_str_eq(c.xcache, "HIT-L1");
	ck_assert_double_eq_tol(c.cost_saved, 0.15, 1e-9);
	ima_engine_free(eng);
	/* From Redis in a new process. */
	eng = call_engine(NULL, NULL, true);
	c = ask_calls(eng, "Plumber", "Job one", NULL, NULL);
	ck_assert_str_eq(c.xcache, "HIT-L2");
	ck_assert_double_eq_tol(c.cost_saved, 0.15, 1e-9);
	ima_engine_free(eng);
}
END_TEST

START_TEST(call_cache_reuses_resume_calls_across_jobs)
{
	struct ima_engine *eng;
	struct calls a, b, c, d;

	flush();
	eng = call_engine(NULL, NULL, true);
	a = ask_calls(eng, "Senior nurse ten years", "ICU nurse wanted", NULL, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.xcache, "MISS");
	ck_assert_int_eq(a.made, 2);
	ck_assert_int_eq(a.missed, 2);
	ck_assert_int_eq(a.stored, 2);
	ck_assert_int_eq(a.resume_words, 4);
	ck_assert_int_eq(a.pair_words, 7);
	/* Same resume, another job: the answer misses, the resume's call is
	 * reused with its price counted as saved, the pair's call is made. */
	b = ask_calls(eng, "Senior nurse ten years", "Ward manager", NULL, NULL);
	ck_assert_str_eq(b.xcache, "MISS");
	ck_assert_int_eq(b.hit, 1);
	ck_assert_int_eq(b.made, 1);
	ck_assert_int_eq(b.reused, 1);
	ck_assert_double_eq_tol(b.saved, 0.06, 1e-9);
	ck_assert_double_eq_tol(b.cost_saved, 0.06, 1e-9);
	ck_assert_double_eq_tol(b.spent, 0.09, 1e-9);
	ck_assert_int_eq(b.resume_words, 4);
	ck_assert_int_eq(b.pair_words, 6);
	/* Whitespace in the prompt does not change the call's key. */
	c = ask_calls(eng, "Senior  nurse\\nten years", "Night shift lead", NULL, NULL);
	ck_assert_int_eq(c.reused, 1);
	ck_assert_int_eq(c.made, 1);
	ima_engine_free(eng);
	/* A new process: the calls come from Redis. */
	eng = call_engine(NULL, NULL, true);
	d = ask_calls(eng, "Senior nurse ten years", "Theatre nurse", NULL, NULL);
	ck_assert_int_eq(d.hit, 1);
	ck_assert_int_eq(d.resume_words, 4);
	ck_assert_int_eq(d.pair_words, 6);
	ima_engine_free(eng);
	/* Without a cache stage every call is made, nothing breaks. */
	eng = call_engine(NULL, NULL, false);
	d = ask_calls(eng, "Senior nurse ten years", "ICU nurse wanted", NULL, NULL);
	ck_assert_int_eq(d.status, 200);
	ck_assert_int_eq(d.made, 2);
	ck_assert_int_eq(d.pair_words, 7);
	ima_engine_free(eng);
}
END_TEST

START_TEST(call_cache_per_user_and_cache_control)
{
	struct ima_engine *eng;
	struct ima_error err;

	flush();
	eng = call_engine(NULL, NULL, true);
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job one", "erin", NULL).made, 2);
	/* Another user never gets erin's calls. */
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job two", "frank", NULL).hit, 0);
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job three", "erin", NULL).hit, 1);
	/* no-store: neither lookup nor store; no-cache: no lookup, stored. */
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job four", "erin", "no-store").made, 2);
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job four", "erin", NULL).made, 1);
	ck_assert_int_eq(ask_calls(eng, "Glazier", "Job five", "erin", "no-cache").made, 2);
	ck_assert_int_eq(ask_calls(eng, "Glazier", "Job five", "erin", "no-cache").stored, 2);
	/* Invalidating erin drops her calls too. */
	ck_assert_int_eq(invalidate(eng, "erin", &err), 1);
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job six", "erin", NULL).made, 2);
	ck_assert_int_eq(ask_calls(eng, "Welder", "Job seven", "frank", NULL).hit, 1);
	ima_engine_free(eng);
}
END_TEST

START_TEST(call_cache_rejects_corrupt_calls)
{
	struct ima_engine *eng;
	redisReply *r;
	struct calls c;
	size_t planted = 0;

	flush();
	eng = call_engine("l1_max_bytes = 0;", NULL, true);
	ck_assert_int_eq(ask_calls(eng, "Roofer", "Job one", NULL, NULL).made, 2);
	/* Every stored call replaced: hostile counts, a wrong version, a
	 * result of the wrong type for the stage. */
	r = redis_cmd("KEYS t:c:*");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 2);
	for (size_t i = 0; i < r->elements; i++, planted++)
		freeReplyObject(redis_cmd("SET %s %b", r->element[i]->str,
					  i == 0 ? "\xdf\xff\xff\xff\xff" : "\x83\xa1v\x02\xa4\x63ost\xcb\0\0\0\0\0\0\0\0\xa6result\x01",
					  i == 0 ? (size_t)5 : (size_t)24));
	freeReplyObject(r);
	ck_assert_uint_eq(planted, 2);
	c = ask_calls(eng, "Roofer", "Job one", NULL, "no-cache");
	ck_assert_int_eq(c.status, 200);
	ck_assert_int_eq(c.made, 2);
	ck_assert_int_eq(c.pair_words, 3);
	/* Stored again, valid, and served. */
	c = ask_calls(eng, "Roofer", "Job two", NULL, NULL);
	ck_assert_int_eq(c.reused, 1);
	ck_assert_int_eq(c.resume_words, 1);
	/* Well-formed but priced beyond reason: refused too, and nothing
	 * absurd is counted as saved. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 3);
		ima_pack_cstr(&pk, "v");
		msgpack_pack_int(&pk, 1);
		ima_pack_cstr(&pk, "cost");
		msgpack_pack_double(&pk, 1e10);
		ima_pack_cstr(&pk, "result");
		msgpack_pack_int(&pk, 1);
		r = redis_cmd("KEYS t:c:*");
		for (size_t i = 0; i < r->elements; i++)
			freeReplyObject(redis_cmd("SET %s %b", r->element[i]->str, sb.data, sb.size));
		freeReplyObject(r);
		msgpack_sbuffer_destroy(&sb);
	}
	c = ask_calls(eng, "Roofer", "Job three", NULL, NULL);
	ck_assert_int_eq(c.status, 200);
	ck_assert_int_eq(c.reused, 0);
	ck_assert_double_eq_tol(c.saved, 0, 1e-12);
	ima_engine_free(eng);
}
END_TEST

struct call_racer {
	struct ima_engine *eng;
	int job;
	struct calls c;
};

static void *call_race(void *arg)
{
	struct call_racer *r = arg;
	char job[32];

	snprintf(job, sizeof(job), "Job number %d", r->job);
	r->c = ask_calls(r->eng, "Data engineer Spark", job, NULL, NULL);
	return NULL;
}

/* Eight analyses of one resume against eight jobs at once, spread over
 * the engines: the resume's call is made once, the seven others reuse it. */
static void race_one_resume(struct ima_engine **engs, int nengs)
{
	enum { N = 8 };
	struct call_racer r[N];
	pthread_t t[N];
	int64_t made = 0, reused = 0;

	for (int i = 0; i < N; i++) {
		r[i].eng = engs[i % nengs];
		r[i].job = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, call_race, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(r[i].c.status, 200);
		ck_assert_int_eq(r[i].c.resume_words, 3);
		made += r[i].c.made;
		reused += r[i].c.reused;
	}
	ck_assert_int_eq(made, N + 1);
	ck_assert_int_eq(reused, N - 1);
}

START_TEST(call_cache_coalesces_calls_across_processes)
{
	struct ima_engine *eng[2];

	flush();
	/* Two engines with their own L1 and in-flight tables, as two worker
	 * processes or hosts are, sharing Redis: the resume's call is made
	 * once by whoever takes its Redis lock. */
	eng[0] = call_engine(NULL, "delay_ms = 300;", true);
	eng[1] = call_engine(NULL, "delay_ms = 300;", true);
	race_one_resume(eng, 2);
	/* No lock is left behind. */
	{
		redisReply *k = redis_cmd("KEYS t:clock:*");

		ck_assert_uint_eq(k->elements, 0);
		freeReplyObject(k);
	}
	ima_engine_free(eng[0]);
	ima_engine_free(eng[1]);
}
END_TEST

struct call_job {
	struct ima_engine *eng;
	const char *job;
	long long ms;
	struct calls c;
};

static void *call_job(void *arg)
{
	struct call_job *j = arg;
	long long t0 = now_ms();

	j->c = ask_calls(j->eng, "Electrician", j->job, NULL, NULL);
	j->ms = now_ms() - t0;
	return NULL;
}

START_TEST(call_cache_failed_call_lets_waiters_go)
{
	struct ima_engine *failing, *fine;
	struct call_job a = { 0 }, b = { 0 };
	pthread_t ta, tb;
	struct timespec d = { 0, 50 * 1000000 };

	flush();
	/* Two processes: in the first the resume's call fails after 300 ms
	 * while its request goes on for 4 s more; the second wants the same
	 * call. Ending the claim with a NULL put lets the second take over at
	 * once instead of waiting for the first request to end. */
	failing = call_engine("call_wait_ms = 10000;",
			      "delay_ms = 300; pair_delay_ms = 4000; fail_resume = true;", true);
	fine = call_engine("call_wait_ms = 10000;", "delay_ms = 300;", true);
	a.eng = failing;
	a.job = "Job one";
	b.eng = fine;
	b.job = "Job two";
	ck_assert_int_eq(pthread_create(&ta, NULL, call_job, &a), 0);
	nanosleep(&d, NULL);
	ck_assert_int_eq(pthread_create(&tb, NULL, call_job, &b), 0);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	ck_assert_int_eq(a.c.status, 502);
	ck_assert_int_eq(b.c.status, 200);
	ck_assert_int_eq(b.c.made, 2);
	ck_assert_msg(b.ms < 2500, "the second request took %lld ms", b.ms);
	ck_assert_msg(a.ms >= 4000, "the failing request took only %lld ms", a.ms);
	ima_engine_free(failing);
	ima_engine_free(fine);
}
END_TEST

START_TEST(call_cache_never_waits_for_its_own_call)
{
	struct ima_engine *eng;
	long long t0;
	struct calls c;

	flush();
	/* The stage asks again for a call it is making: a miss at once, not
	 * a wait of call_wait_ms for itself. */
	eng = call_engine("call_wait_ms = 30000;", "ask_twice = true;", true);
	t0 = now_ms();
	c = ask_calls(eng, "Carpenter", "Job one", NULL, NULL);
	ck_assert_int_eq(c.status, 200);
	ck_assert_int_eq(c.made, 2);
	ck_assert_int_eq(c.missed, 4);
	ck_assert_msg(now_ms() - t0 < 15000, "waited %lld ms for its own call", now_ms() - t0);
	ck_assert_int_eq(ask_calls(eng, "Carpenter", "Job two", NULL, NULL).reused, 1);
	ima_engine_free(eng);
}
END_TEST

START_TEST(call_cache_coalesces_identical_calls)
{
	struct ima_engine *eng;

	flush();
	/* The same resume against eight jobs at once: its call is made once,
	 * the seven others wait for it. */
	eng = call_engine(NULL, "delay_ms = 200;", true);
	race_one_resume(&eng, 1);
	ima_engine_free(eng);
}
END_TEST

/* ---- call_try: the call cache without waiting ---- */

/*
 * The cache stage's hooks driven directly, as the core's polling driver
 * does. A hook holds the stage's state of one or two worker processes
 * (each its own L1 and in-flight table, the Redis shared) and the requests
 * of a test, each of which went through its process's process hook; the
 * teardown ends those still open (their finish hook) and the states.
 */
enum { HOOK_PROCS = 2, HOOK_REQS = 3 };

struct hook {
	struct ima_engine *front; /* decodes the bodies: the request stage only */
	struct ima_engine *conf;  /* holds the cache stage's options */
	const struct ima_plugin *cache;
	void *proc[HOOK_PROCS];
	int nprocs;
	struct {
		struct ima_req *req;
		void *state;
	} reqs[HOOK_REQS];
	int nreqs;
	msgpack_sbuffer packed; /* call's strings point into it */
	msgpack_zone zone;
	msgpack_object call;
};

static void hook_setup(struct hook *h, const char *cache_opts, int nprocs)
{
	char conf[2048];
	msgpack_packer pk;
	size_t off = 0;

	flush();
	memset(h, 0, sizeof(*h));
	h->front = engine_from("front.conf",
			       "pipeline = ({ name = \"request\"; plugin = \"request\"; });\n");
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"unix://%s\";\n"
		 "   key_prefix = \"t:\"; coalesce_wait_ms = 0; %s }; }\n"
		 ");\n", sock, cache_opts ? cache_opts : "");
	h->conf = engine_from("try.conf", conf);
	h->cache = ima_engine_stage_plugin(h->conf, 1);
	ck_assert_ptr_nonnull(h->cache->call_try);
	for (h->nprocs = 0; h->nprocs < nprocs; h->nprocs++) {
		struct ima_error err;

		ck_assert_int_eq(h->cache->init(ima_engine_stage_conf(h->conf, 1),
						&h->proc[h->nprocs], &err), 0);
	}
	/* The call every request of these tests makes. */
	msgpack_sbuffer_init(&h->packed);
	msgpack_packer_init(&pk, &h->packed, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "model");
	ima_pack_cstr(&pk, "test/model");
	ima_pack_cstr(&pk, "prompt");
	ima_pack_cstr(&pk, "Summarise the resume");
	msgpack_zone_init(&h->zone, 256);
	ck_assert_int_eq(msgpack_unpack(h->packed.data, h->packed.size, &off, &h->zone, &h->call),
			 MSGPACK_UNPACK_SUCCESS);
}

/* A request of process proc whose answer missed, calls served (resume:
 * one of its own, so that requests never wait for each other's answers). */
static struct ima_req *hook_req(struct hook *h, int proc, const char *resume)
{
	struct ima_req *req = ima_req_new();
	const char *b = body(resume, NULL, 0.7);

	ck_assert_ptr_nonnull(req);
	ck_assert_int_lt(h->nreqs, HOOK_REQS);
	ck_assert_int_eq(ima_engine_handle(h->front, req, b, strlen(b), IMA_FMT_JSON), 200);
	ck_assert_int_eq(h->cache->process(req, h->proc[proc]), IMA_CONTINUE);
	h->reqs[h->nreqs].req = req;
	h->reqs[h->nreqs].state = h->proc[proc];
	h->nreqs++;
	return req;
}

static void *hook_state_of(struct hook *h, struct ima_req *req)
{
	for (int i = 0; i < h->nreqs; i++)
		if (h->reqs[i].req == req)
			return h->reqs[i].state;
	ck_abort_msg("not a request of this test");
	return NULL;
}

/* The request ends: its finish hook, then it is freed. */
static void hook_end(struct hook *h, struct ima_req *req)
{
	for (int i = 0; i < h->nreqs; i++)
		if (h->reqs[i].req == req) {
			h->cache->finish(req, h->reqs[i].state);
			ima_req_free(req);
			h->reqs[i] = h->reqs[--h->nreqs];
			return;
		}
}

static void hook_teardown(struct hook *h)
{
	while (h->nreqs > 0)
		hook_end(h, h->reqs[0].req);
	for (int i = 0; i < h->nprocs; i++)
		h->cache->fini(h->proc[i]);
	msgpack_zone_destroy(&h->zone);
	msgpack_sbuffer_destroy(&h->packed);
	ima_engine_free(h->conf);
	ima_engine_free(h->front);
}

/* One call_try: what it answered, how long it took, the result it
 * appended ("" when none) and its cost. */
struct tried {
	int rc;
	long long ms;
	char result[64];
	double cost;
};

static struct tried try_call(struct hook *h, struct ima_req *req)
{
	struct tried r = { 0 };
	msgpack_sbuffer sb;
	long long t0 = now_ms();

	msgpack_sbuffer_init(&sb);
	r.rc = h->cache->call_try(req, hook_state_of(h, req), &h->call, &sb, &r.cost);
	r.ms = now_ms() - t0;
	if (sb.size > 0) {
		msgpack_zone zone;
		msgpack_object o;
		size_t off = 0;

		msgpack_zone_init(&zone, 256);
		ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &zone, &o),
				 MSGPACK_UNPACK_SUCCESS);
		ck_assert_int_eq(o.type, MSGPACK_OBJECT_STR);
		snprintf(r.result, sizeof(r.result), "%.*s", (int)o.via.str.size, o.via.str.ptr);
		msgpack_zone_destroy(&zone);
	}
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* A try that must find result at cost. */
static void try_finds(struct hook *h, struct ima_req *req, const char *result, double cost)
{
	struct tried r = try_call(h, req);

	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.result, result);
	ck_assert_double_eq_tol(r.cost, cost, 1e-12);
}

/* Stores a string result (NULL: the call failed, only the claim ends). */
static void put_call(struct hook *h, struct ima_req *req, const char *result, double cost)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (result != NULL)
		ima_pack_cstr(&pk, result);
	h->cache->call_put(req, hook_state_of(h, req), &h->call, result ? sb.data : NULL,
			   sb.size, cost);
	msgpack_sbuffer_destroy(&sb);
}

/* Tries that must all answer 2 at once while the call is made elsewhere. */
/* A try that comes back at once, as against one that waits for its twin
 * (call_wait_ms: 20 s by default, 1.5 s in the tests that count on this
 * bound). Generous: a try took 67 ms in a sanitizer build on a busy
 * machine, 386 ms in a ThreadSanitizer build. */
#ifdef IMA_TSAN
#define TRY_MS_MAX 1000
#else
#define TRY_MS_MAX 500
#endif

static void tries_busy(struct hook *h, struct ima_req *req, int n)
{
	for (int i = 0; i < n; i++) {
		struct tried r = try_call(h, req);

		ck_assert_int_eq(r.rc, 2);
		ck_assert_str_eq(r.result, "");
		ck_assert_msg(r.ms < TRY_MS_MAX, "try %d took %lld ms", i, r.ms);
	}
}

/* A try stops being told to come back wait_ms after its request first
 * asked, though the twin still holds the call. */
static void try_until_the_wait_ends(struct hook *h, struct ima_req *req, long long wait_ms)
{
	long long first = now_ms(), until = first + 10000;
	struct tried r;

	ck_assert_int_eq(try_call(h, req).rc, 2);
	do {
		struct timespec d = { 0, 5 * 1000000 };

		nanosleep(&d, NULL);
		r = try_call(h, req);
		ck_assert_msg(r.ms < TRY_MS_MAX, "a try took %lld ms", r.ms);
	} while (r.rc == 2 && now_ms() < until);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_msg(now_ms() - first >= wait_ms, "a miss after %lld ms only", now_ms() - first);
}

#define MISSES "imaginator_cache_call_misses_total"
#define COALESCED "imaginator_cache_call_coalesced_total"

/* Redis locks on calls held right now. */
static long long clock_keys(void)
{
	redisReply *r = redis_cmd("KEYS t:clock:*");
	long long n = (long long)r->elements;

	freeReplyObject(r);
	return n;
}

START_TEST(call_try_reports_a_twin_in_flight_and_its_result)
{
	struct hook h;
	struct ima_req *a, *b, *c;
	double coalesced, misses;

	hook_setup(&h, NULL, 1);
	a = hook_req(&h, 0, "Try owner");
	b = hook_req(&h, 0, "Try twin");
	c = hook_req(&h, 0, "Try third");
	misses = ima_metric_get(MISSES);
	/* An empty cache: a's to make, its claim and Redis lock taken. */
	ck_assert_int_eq(try_call(&h, a).rc, 0);
	ck_assert_double_eq_tol(ima_metric_get(MISSES), misses + 1, 1e-9);
	ck_assert_int_eq(clock_keys(), 1);
	/* While a makes it, the others are told to come back, at once, and
	 * claim nothing (neither a miss counted, nor a lock taken). */
	tries_busy(&h, b, 20);
	tries_busy(&h, c, 3);
	ck_assert_double_eq_tol(ima_metric_get(MISSES), misses + 1, 1e-9);
	ck_assert_int_eq(clock_keys(), 1);
	/* a stores it: the next try finds it, counted as coalesced. */
	coalesced = ima_metric_get(COALESCED);
	put_call(&h, a, "the summary", 0.25);
	ck_assert_int_eq(clock_keys(), 0);
	try_finds(&h, b, "the summary", 0.25);
	ck_assert_double_eq_tol(ima_metric_get(COALESCED), coalesced + 1, 1e-9);
	/* A plain hit once the wait is over: not coalesced again. */
	try_finds(&h, b, "the summary", 0.25);
	ck_assert_double_eq_tol(ima_metric_get(COALESCED), coalesced + 1, 1e-9);
	hook_teardown(&h);
}
END_TEST

START_TEST(call_try_across_processes)
{
	struct hook h;
	struct ima_req *a, *b, *b2;
	char lkey[128];
	redisReply *k;
	double coalesced;

	hook_setup(&h, NULL, 2);
	a = hook_req(&h, 0, "Process one");
	b = hook_req(&h, 1, "Process two");
	b2 = hook_req(&h, 1, "Process two again");
	/* The call's lock key, then the lock held by a process that is not
	 * ours (its own token). */
	ck_assert_int_eq(try_call(&h, a).rc, 0);
	k = redis_cmd("KEYS t:clock:*");
	ck_assert_uint_eq(k->elements, 1);
	snprintf(lkey, sizeof(lkey), "%s", k->element[0]->str);
	freeReplyObject(k);
	put_call(&h, a, NULL, 0);
	ck_assert_int_eq(clock_keys(), 0);
	freeReplyObject(redis_cmd("SET %s their-token PX 30000", lkey));
	/* Nothing in flight in this process, the Redis lock taken: come back,
	 * with nothing claimed here either (a claim kept by b would make its
	 * next try a miss, and b2 would be told the same for b). */
	tries_busy(&h, b, 10);
	tries_busy(&h, b2, 3);
	tries_busy(&h, b, 3);
	/* The holder's result appears: found, coalesced, and the holder's
	 * lock left alone. */
	coalesced = ima_metric_get(COALESCED);
	put_call(&h, a, "made elsewhere", 0.75);
	try_finds(&h, b, "made elsewhere", 0.75);
	ck_assert_double_eq_tol(ima_metric_get(COALESCED), coalesced + 1, 1e-9);
	k = redis_cmd("GET %s", lkey);
	ck_assert_int_eq(k->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(k->str, "their-token");
	freeReplyObject(k);
	hook_teardown(&h);
}
END_TEST

/* A call's Redis lock whose holder's connection is gone (a process that
 * died making it): the next try frees it and makes the call itself. */
START_TEST(call_try_takes_over_the_lock_of_a_dead_holder)
{
	struct hook h;
	struct ima_req *a, *b;
	char lkey[128], token[64];
	redisContext *c;
	redisReply *k;

	hook_setup(&h, NULL, 2);
	a = hook_req(&h, 0, "Process one");
	b = hook_req(&h, 1, "Process two");
	ck_assert_int_eq(try_call(&h, a).rc, 0);
	k = redis_cmd("KEYS t:clock:*");
	ck_assert_uint_eq(k->elements, 1);
	snprintf(lkey, sizeof(lkey), "%s", k->element[0]->str);
	freeReplyObject(k);
	put_call(&h, a, NULL, 0);
	ck_assert_int_eq(clock_keys(), 0);
	c = redisConnectUnix(sock);
	ck_assert_ptr_nonnull(c);
	k = redisCommand(c, "CLIENT ID");
	snprintf(token, sizeof(token), "c%lld.1.2.3", k->integer);
	freeReplyObject(k);
	freeReplyObject(redisCommand(c, "SET %s %s PX 30000", lkey, token));
	redisFree(c);
	ck_assert_int_eq(try_call(&h, b).rc, 0);
	k = redis_cmd("GET %s", lkey);
	ck_assert_int_eq(k->type, REDIS_REPLY_STRING);
	ck_assert_str_ne(k->str, token);
	freeReplyObject(k);
	put_call(&h, b, "made here", 0.75);
	ck_assert_int_eq(clock_keys(), 0);
	hook_teardown(&h);
}
END_TEST

/*
 * A try is told to come back for call_wait_ms from its request's first try,
 * then makes the call though its twin still holds it: a twin in the same
 * process (nprocs 1), or in another one that holds the Redis lock (2).
 */
static void try_waits_no_longer_than_call_wait_ms(int nprocs)
{
	struct hook h;
	struct ima_req *a, *b, *c;

	hook_setup(&h, "call_wait_ms = 1500;", nprocs);
	a = hook_req(&h, 0, "Slow owner");
	b = hook_req(&h, nprocs - 1, "Impatient twin");
	c = hook_req(&h, nprocs - 1, "Newcomer");
	ck_assert_int_eq(try_call(&h, a).rc, 0);
	try_until_the_wait_ends(&h, b, 1500);
	/* c has just asked: told to come back, its own wait starting now
	 * (with a in another process, b holds the call in c's). */
	ck_assert_int_eq(try_call(&h, c).rc, 2);
	put_call(&h, b, "made by b", 0.1);
	try_finds(&h, c, "made by b", 0.1);
	/* a's lock stays a's until a ends. */
	ck_assert_int_eq(clock_keys(), 1);
	hook_end(&h, a);
	ck_assert_int_eq(clock_keys(), 0);
	hook_teardown(&h);
}

START_TEST(call_try_waits_no_longer_than_call_wait_ms)
{
	try_waits_no_longer_than_call_wait_ms(1);
}
END_TEST

START_TEST(call_try_waits_no_longer_for_another_process)
{
	try_waits_no_longer_than_call_wait_ms(2);
}
END_TEST

static void let_go_by_put(struct hook *h, struct ima_req *req)
{
	put_call(h, req, NULL, 0);
}

static void let_go_by_ending(struct hook *h, struct ima_req *req)
{
	hook_end(h, req);
}

/* An owner lets go without a result, by a put without one (its call
 * failed) or by ending its request: the next in line makes the call at
 * its next try, with the claim and the Redis lock, and the others wait
 * for it in turn. */
static void try_after_the_owner_lets_go(void (*let_go)(struct hook *, struct ima_req *))
{
	struct hook h;
	struct ima_req *a, *b, *c;

	hook_setup(&h, NULL, 1);
	a = hook_req(&h, 0, "First owner");
	b = hook_req(&h, 0, "Next owner");
	c = hook_req(&h, 0, "Last in line");
	ck_assert_int_eq(try_call(&h, a).rc, 0);
	tries_busy(&h, b, 3);
	let_go(&h, a);
	ck_assert_int_eq(clock_keys(), 0);
	ck_assert_int_eq(try_call(&h, b).rc, 0);
	ck_assert_int_eq(clock_keys(), 1);
	tries_busy(&h, c, 3);
	let_go(&h, b);
	ck_assert_int_eq(clock_keys(), 0);
	ck_assert_int_eq(try_call(&h, c).rc, 0);
	ck_assert_int_eq(clock_keys(), 1);
	hook_teardown(&h);
	ck_assert_int_eq(clock_keys(), 0);
}

START_TEST(call_try_failed_owner_hands_the_call_over)
{
	try_after_the_owner_lets_go(let_go_by_put);
}
END_TEST

START_TEST(call_try_claims_end_with_the_request)
{
	try_after_the_owner_lets_go(let_go_by_ending);
}
END_TEST

int main(void)
{
	const char *plugins = getenv("IMAGINATOR_PLUGIN_DIR");
	const char *tests = getenv("IMA_TEST_PLUGIN_DIR");
	char path[8192];
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server not installed (apt-get install redis-server)\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s:%s", plugins ? plugins : "plugins/.libs",
		 tests ? tests : "tests/plugins/.libs");
	setenv("IMAGINATOR_PLUGIN_DIR", path, 1);
	snprintf(dir, sizeof(dir), "%s/ima-cache-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", dir);
	if (redis_start() < 0) {
		fprintf(stderr, "cannot start redis-server\n");
		redis_stop();
		return 1;
	}
	s = suite_create("cache");
	tc = tcase_create("cache");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cache_miss_then_hits);
	tcase_add_test(tc, cache_key_stable_across_order_and_whitespace);
	tcase_add_test(tc, cache_key_changes_with_pipeline);
	tcase_add_test(tc, cache_ttl_by_confidence);
	tcase_add_test(tc, cache_per_user_invalidation);
	tcase_add_test(tc, cache_never_stores_errors_or_degraded);
	tcase_add_test(tc, cache_coalesces_identical_misses);
	tcase_add_test(tc, cache_survives_redis_dying);
	tcase_add_test(tc, cache_rejects_corrupt_entry);
	tcase_add_test(tc, cache_replays_exact_repeats);
	tcase_add_test(tc, cache_identity_keys_are_exact);
	tcase_add_test(tc, cache_replays_identified_repeats);
	tcase_add_test(tc, cache_never_replays_an_unchecked_credential);
	tcase_add_test(tc, cache_l1_only_without_redis);
	tcase_add_test(tc, cache_ignores_state_forged_in_the_context);
	tcase_add_test(tc, cache_takes_over_the_lock_of_a_dead_holder);
	tcase_add_test(tc, cache_init_names_the_bad_option);
	tcase_add_test(tc, cache_metrics_are_declared);
	tcase_add_test(tc, cache_hits_count_the_answers_cost_as_saved);
	tcase_add_test(tc, call_cache_reuses_resume_calls_across_jobs);
	tcase_add_test(tc, call_cache_per_user_and_cache_control);
	tcase_add_test(tc, call_cache_rejects_corrupt_calls);
	tcase_add_test(tc, call_cache_coalesces_identical_calls);
	tcase_add_test(tc, call_cache_never_waits_for_its_own_call);
	tcase_add_test(tc, call_cache_coalesces_calls_across_processes);
	tcase_add_test(tc, call_cache_failed_call_lets_waiters_go);
	tcase_add_test(tc, call_try_reports_a_twin_in_flight_and_its_result);
	tcase_add_test(tc, call_try_failed_owner_hands_the_call_over);
	tcase_add_test(tc, call_try_waits_no_longer_than_call_wait_ms);
	tcase_add_test(tc, call_try_across_processes);
	tcase_add_test(tc, call_try_takes_over_the_lock_of_a_dead_holder);
	tcase_add_test(tc, call_try_waits_no_longer_for_another_process);
	tcase_add_test(tc, call_try_claims_end_with_the_request);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* Tests run one after another against the one Redis. */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	redis_stop();
	rmdir(dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
