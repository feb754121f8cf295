/*
 * ima_req.c - one request: its context, its arena, metadata from the front
 * end, response headers, the error and timings.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ima_calls_private.h"
#include "ima_req_private.h"

#define ARENA_CHUNK 8192

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	max_align_t data[];
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ima_req *ima_req_new(void)
{
	struct ima_req *req = ima_calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->ctx = ima_ctx_new();
	if (req->ctx == NULL) {
		ima_free(req);
		return NULL;
	}
	req->started = now_seconds();
	return req;
}

void ima_req_free(struct ima_req *req)
{
	if (req == NULL)
		return;
	ima_calls_free(req);
	ima_ctx_free(req->ctx);
	while (req->arena) {
		struct arena_chunk *c = req->arena;

		req->arena = c->next;
		ima_free(c);
	}
	for (size_t i = 0; i < req->nmetrics; i++)
		ima_buf_free(&req->metrics[i].data);
	if (req->metric_zone != NULL)
		msgpack_zone_free(req->metric_zone);
	ima_free(req->stage_seconds);
	ima_free(req->join_seconds);
	ima_free(req->prerendered);
	ima_free(req);
}

int ima_req_task_set(struct ima_req *req, const void *owner, void *value)
{
	for (size_t i = 0; i < req->ntasks; i++)
		if (req->tasks[i].owner == owner) {
			req->tasks[i].value = value;
			return 0;
		}
	if (req->ntasks == IMA_REQ_TASKS)
		return -1;
	req->tasks[req->ntasks].owner = owner;
	req->tasks[req->ntasks].value = value;
	req->ntasks++;
	return 0;
}

void *ima_req_task_get(const struct ima_req *req, const void *owner)
{
	for (size_t i = 0; i < req->ntasks; i++)
		if (req->tasks[i].owner == owner)
			return req->tasks[i].value;
	return NULL;
}

/* A call's result is stored inside an entry of the provider's, one level
 * deeper: msgpack-c unpacks 32 levels, so results may nest 31. */
#define CALL_RESULT_DEPTH 31

int ima_call_cache_get(struct ima_req *req, const msgpack_object *call,
		       msgpack_sbuffer *result, double *cost_usd)
{
	size_t before = result->size;
	double cost = 0;

	if (req->call_plugin == NULL || call == NULL ||
	    req->call_plugin->call_get(req, req->call_state, call, result, &cost) != 1 ||
	    !ima_req_call_result_ok(result, before, cost)) {
		/* A failed buffer (out of memory appending) stays failed. */
		if (!ima_sbuffer_failed(result))
			result->size = before;
		return 0;
	}
	*cost_usd = cost;
	return 1;
}

bool ima_req_call_result_ok(const msgpack_sbuffer *result, size_t before, double cost)
{
	struct ima_error err;

	/* The provider read it from outside the process: check it is one
	 * well-formed value before a stage unpacks it. */
	return result->size > before &&
	       ima_mp_validate(result->data + before, result->size - before,
			       result->size - before, CALL_RESULT_DEPTH, true, &err) == 0 &&
	       isfinite(cost) && cost >= 0;
}

void ima_call_cache_put(struct ima_req *req, const msgpack_object *call,
			const void *result, size_t len, double cost_usd)
{
	struct ima_error err;

	if (req->call_plugin == NULL || call == NULL)
		return;
	/* Nothing worth storing: the provider only lets waiters go. */
	if (result == NULL || !isfinite(cost_usd) || cost_usd < 0 ||
	    ima_mp_validate(result, len, len, CALL_RESULT_DEPTH, true, &err) != 0) {
		result = NULL;
		len = 0;
		cost_usd = 0;
	}
	req->call_plugin->call_put(req, req->call_state, call, result, len, cost_usd);
}

int ima_req_set_prerendered(struct ima_req *req, const char *members, size_t len)
{
	char *copy = ima_malloc(len + 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, members, len);
	copy[len] = '\0';
	ima_free(req->prerendered);
	req->prerendered = copy;
	req->prerendered_len = len;
	return 0;
}

struct ima_ctx *ima_req_ctx(struct ima_req *req)
{
	return req->ctx;
}

void *ima_req_alloc(struct ima_req *req, size_t size)
{
	struct arena_chunk *c = req->arena;
	size_t align = sizeof(max_align_t);
	void *p;

	size = (size + align - 1) & ~(align - 1);
	if (c == NULL || c->size - c->used < size) {
		size_t cap = size > ARENA_CHUNK / 2 ? size : ARENA_CHUNK;

		c = ima_malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->size = cap;
		/* A large block gets its own chunk behind the current one, so
		 * the space left in the current chunk is not wasted. */
		if (size > ARENA_CHUNK / 2 && req->arena != NULL) {
			c->next = req->arena->next;
			req->arena->next = c;
		} else {
			c->next = req->arena;
			req->arena = c;
		}
	}
	p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

char *ima_req_strndup(struct ima_req *req, const char *s, size_t len)
{
	char *d = ima_req_alloc(req, len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static char *req_strdup(struct ima_req *req, const char *s)
{
	return ima_req_strndup(req, s, strlen(s));
}

static int pairs_add(struct ima_req *req, struct req_pair **list, size_t *n,
		     size_t *cap, const char *name, const char *value)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct req_pair *p = ima_req_alloc(req, ncap * sizeof(*p));

		if (p == NULL)
			return -1;
		if (*n)
			memcpy(p, *list, *n * sizeof(*p));
		*list = p;
		*cap = ncap;
	}
	(*list)[*n].name = req_strdup(req, name);
	(*list)[*n].value = req_strdup(req, value);
	if ((*list)[*n].name == NULL || (*list)[*n].value == NULL)
		return -1;
	(*n)++;
	return 0;
}

int ima_req_set_meta(struct ima_req *req, const char *name, const char *value)
{
	for (size_t i = 0; i < req->nmeta; i++) {
		if (strcmp(req->meta[i].name, name) == 0) {
			char *v = req_strdup(req, value);

			if (v == NULL)
				return -1;
			req->meta[i].value = v;
			return 0;
		}
	}
	return pairs_add(req, &req->meta, &req->nmeta, &req->capmeta, name,
			 value);
}

const char *ima_req_meta(const struct ima_req *req, const char *name)
{
	for (size_t i = 0; i < req->nmeta; i++)
		if (strcmp(req->meta[i].name, name) == 0)
			return req->meta[i].value;
	return NULL;
}

int ima_req_add_header(struct ima_req *req, const char *name,
		       const char *value)
{
	return pairs_add(req, &req->headers, &req->nheaders, &req->capheaders,
			 name, value);
}

size_t ima_req_header_count(const struct ima_req *req)
{
	return req->nheaders;
}

void ima_req_header(const struct ima_req *req, size_t i, const char **name,
		    const char **value)
{
	*name = req->headers[i].name;
	*value = req->headers[i].value;
}

enum ima_rc ima_req_fail(struct ima_req *req, int status, const char *code,
			 const char *field, const char *fmt, ...)
{
	va_list ap;

	ima_error_set(&req->error, status, code, field, "%s", "");
	va_start(ap, fmt);
	vsnprintf(req->error.message, sizeof(req->error.message), fmt, ap);
	va_end(ap);
	req->has_error = true;
	return IMA_ERROR;
}

void ima_req_set_error(struct ima_req *req, const struct ima_error *err)
{
	req->error = *err;
	req->has_error = true;
}

const struct ima_error *ima_req_error(const struct ima_req *req)
{
	return req->has_error ? &req->error : NULL;
}

void ima_req_set_degraded(struct ima_req *req, const char *reason)
{
	req->degraded = true;
	snprintf(req->degraded_reason, sizeof(req->degraded_reason), "%s",
		 reason ? reason : "");
}

int ima_req_is_degraded(const struct ima_req *req)
{
	return req->degraded;
}

double ima_req_elapsed(const struct ima_req *req)
{
	return now_seconds() - req->started;
}

double ima_req_stage_seconds(const struct ima_req *req, size_t stage)
{
	if (req->stage_seconds == NULL || stage >= req->nstages)
		return -1;
	return req->stage_seconds[stage];
}

static bool req_date_valid(int y, int m, int d)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= days[m - 1] + (m == 2 && leap);
}

int ima_req_set_reference_date(struct ima_req *req, int year, int month,
			       int day)
{
	if (!req_date_valid(year, month, day))
		return -1;
	req->ref_year = year;
	req->ref_month = month;
	req->ref_day = day;
	return 0;
}

void ima_req_reference_date(struct ima_req *req, int *year, int *month,
			    int *day)
{
	time_t t;
	struct tm tm;

	if (req->ref_year != 0) {
		*year = req->ref_year;
		*month = req->ref_month;
		*day = req->ref_day;
		return;
	}
	t = time(NULL);
	gmtime_r(&t, &tm);
	*year = tm.tm_year + 1900;
	*month = tm.tm_mon + 1;
	*day = tm.tm_mday;
}

/* ---- contributions to run_metrics ---- */

static struct req_metric *req_metric(struct ima_req *req, const char *key,
				     enum req_metric_kind kind)
{
	struct req_metric *m;
	size_t len = key ? strlen(key) : 0;

	if (len == 0 || len >= sizeof(m->key) || strcmp(key, "stages") == 0)
		return NULL;
	for (size_t i = 0; i < req->nmetrics; i++)
		if (strcmp(req->metrics[i].key, key) == 0)
			return req->metrics[i].kind == kind ? &req->metrics[i] : NULL;
	if (req->nmetrics == IMA_REQ_METRICS)
		return NULL;
	m = &req->metrics[req->nmetrics++];
	memset(m, 0, sizeof(*m));
	memcpy(m->key, key, len + 1);
	m->kind = kind;
	return m;
}

int ima_req_metric_add(struct ima_req *req, const char *key, double delta)
{
	struct req_metric *m;

	if (!isfinite(delta) || (m = req_metric(req, key, REQ_METRIC_ADD)) == NULL)
		return -1;
	m->sum += delta;
	return 0;
}

/* One well-formed value, as every contribution must be: it is copied into
 * the answer byte for byte. */
static bool req_metric_value_ok(const void *data, size_t len)
{
	struct ima_error err;
	size_t used = 0;

	return data != NULL && ima_mp_walk(data, len, IMA_DEFAULT_MAX_DEPTH - 2,
					   true, &used, &err) == 0 && used == len;
}

int ima_req_metric_put(struct ima_req *req, const char *key, const void *data,
		       size_t len)
{
	struct ima_buf copy = { 0 };
	struct req_metric *m;

	if (!req_metric_value_ok(data, len))
		return -1;
	/* Copied first: a put that fails leaves what was there, and no key
	 * without a value. */
	ima_buf_append(&copy, data, len);
	if (copy.failed || (m = req_metric(req, key, REQ_METRIC_PUT)) == NULL) {
		ima_buf_free(&copy);
		return -1;
	}
	ima_buf_free(&m->data);
	m->data = copy;
	return 0;
}

int ima_req_metric_append(struct ima_req *req, const char *key,
			  const void *data, size_t len)
{
	struct req_metric *m;
	size_t before;

	if (!req_metric_value_ok(data, len) ||
	    (m = req_metric(req, key, REQ_METRIC_APPEND)) == NULL)
		return -1;
	before = m->data.len;
	ima_buf_append(&m->data, data, len);
	if (m->data.failed) {
		m->data.len = before;
		m->data.failed = false;
		return -1;
	}
	m->count++;
	return 0;
}

int ima_req_metric_pack(const struct req_metric *m, msgpack_packer *pk)
{
	switch (m->kind) {
	case REQ_METRIC_ADD:
		/* Counts (tokens, calls) stay integers in the answer; the range
		 * is checked first, as a cast out of it is undefined. */
		if (fabs(m->sum) < 9e15 && m->sum == (double)(int64_t)m->sum)
			return msgpack_pack_int64(pk, (int64_t)m->sum);
		return msgpack_pack_double(pk, m->sum);
	case REQ_METRIC_PUT:
		return pk->callback(pk->data, m->data.data, m->data.len);
	case REQ_METRIC_APPEND:
		if (msgpack_pack_array(pk, m->count) != 0)
			return -1;
		return m->count ? pk->callback(pk->data, m->data.data, m->data.len) : 0;
	}
	return -1;
}

const msgpack_object *ima_req_metric_get(struct ima_req *req, const char *key)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object *o = NULL;
	size_t off = 0;

	for (size_t i = 0; key != NULL && i < req->nmetrics && o == NULL; i++) {
		const struct req_metric *m = &req->metrics[i];

		if (strcmp(m->key, key) != 0)
			continue;
		if (req->metric_zone == NULL &&
		    (req->metric_zone = msgpack_zone_new(1024)) == NULL)
			return NULL;
		o = msgpack_zone_malloc(req->metric_zone, sizeof(*o));
		if (o == NULL)
			return NULL;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
		/* Unpacked strings point into the buffer: unpack a copy kept
		 * in the zone, which lives as long as the request. */
		if (ima_req_metric_pack(m, &pk) != 0 || sb.size == 0) {
			o = NULL;
		} else {
			char *keep = msgpack_zone_malloc(req->metric_zone, sb.size);

			if (keep != NULL)
				memcpy(keep, sb.data, sb.size);
			if (keep == NULL ||
			    msgpack_unpack(keep, sb.size, &off, req->metric_zone, o) !=
				    MSGPACK_UNPACK_SUCCESS)
				o = NULL;
		}
		msgpack_sbuffer_destroy(&sb);
	}
	return o;
}
