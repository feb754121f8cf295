/*
 * ima_calls.c - a request's asynchronous calls: HTTP transfers handed to
 * the worker's I/O thread (ima_http.c), lookups in the call cache that
 * wait for an identical call in flight elsewhere, and LLM completions
 * routed to the pipeline's provider stage, with their accounting.
 *
 * Everything here runs on the request's thread except
 * ima_calls_xfer_done(), which the I/O thread calls: the only state the
 * two share is the ready queue and the pending count, under the calls'
 * lock. A join runs ready callbacks one at a time on the request's thread,
 * so stages never need locks of their own for what their callbacks touch.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ima_calls_private.h"
#include "ima_req_private.h"

#define CALLS_DEFAULT_DEADLINE_MS 25000
#define CACHE_POLL_SECONDS 0.003 /* how often a twin in flight is asked after */
#define FORCE_END_SECONDS 2.0    /* a provider that ignores the deadline */
/* Label values, bounded so that every series name fits the metrics
 * table's 119 bytes. */
#define PROVIDER_LABEL_MAX 16
#define MODEL_LABEL_MAX 32

struct req_calls {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct call_item *ready, *ready_tail; /* lock */
	size_t pending;                       /* lock: not yet ready */
	/* the request's thread's own */
	double deadline;                      /* monotonic seconds */
	enum ima_http_result ended;           /* 0, or why calls were cut */
	double ended_at;
	bool forced;                          /* open LLM calls ended by force */
	bool in_join;
	struct http_xfer *xfers;
	struct cache_wait *waits;
	struct ima_llm_call *llms;
	double cost;                          /* every LLM call's, made or reused */
	bool any_llm;
};

/* A lookup waiting for an identical call in flight in another request. */
struct cache_wait {
	struct call_item item;
	struct cache_wait *next;
	bool resolved;
	double next_try;
	msgpack_sbuffer key_buf;
	msgpack_zone zone;
	msgpack_object key;
	/* a stage's ima_call_cache_lookup(), or an LLM call's own lookup */
	ima_call_cache_fn done;
	void *arg;
	struct ima_llm_call *llm;
	int hit;
	msgpack_sbuffer result;
	double cost;
};

struct ima_llm_call {
	struct call_item item;        /* the stage's callback */
	struct ima_llm_call *next;
	struct ima_llm_ask ask;       /* deep copy: strings in the arena */
	msgpack_sbuffer ask_buf;      /* messages, schema and the cache key */
	msgpack_zone zone;
	msgpack_object key;
	bool cacheable, claimed, ended;
	double started;               /* ima_req_elapsed() at the submit */
	size_t failures;              /* reported by the provider */
	struct ima_llm_answer ans;    /* strings in the arena */
	msgpack_sbuffer json_buf;
	msgpack_zone json_zone;
	msgpack_object json;
	bool has_json;
	ima_llm_done_fn done;
	void *arg;
};

static atomic_long calls_inflight; /* LLM calls of the process not ended */

/* ---- the ready queue ---- */

static struct req_calls *calls_of(struct ima_req *req)
{
	struct req_calls *c = req->calls;
	pthread_condattr_t attr;

	if (c != NULL)
		return c;
	c = ima_calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	c->deadline = req->started + (double)(req->deadline_ms > 0 ? req->deadline_ms
					      : CALLS_DEFAULT_DEADLINE_MS) / 1000.0;
	req->calls = c;
	return c;
}

static void calls_expect(struct req_calls *c)
{
	pthread_mutex_lock(&c->lock);
	c->pending++;
	pthread_mutex_unlock(&c->lock);
}

/* One pending thing settled without a callback of its own. */
static void calls_settle(struct req_calls *c)
{
	pthread_mutex_lock(&c->lock);
	c->pending--;
	pthread_mutex_unlock(&c->lock);
}

/* One pending thing is ready: its callback runs in the next join. */
static void calls_ready(struct req_calls *c, struct call_item *it)
{
	pthread_mutex_lock(&c->lock);
	it->next_ready = NULL;
	if (c->ready_tail != NULL)
		c->ready_tail->next_ready = it;
	else
		c->ready = it;
	c->ready_tail = it;
	c->pending--;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static struct call_item *calls_pop(struct req_calls *c)
{
	struct call_item *it;

	pthread_mutex_lock(&c->lock);
	it = c->ready;
	if (it != NULL) {
		c->ready = it->next_ready;
		if (c->ready == NULL)
			c->ready_tail = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	return it;
}

double ima_req_deadline_left(const struct ima_req *req)
{
	double deadline = req->calls ? req->calls->deadline
		: req->started + (double)(req->deadline_ms > 0 ? req->deadline_ms
					  : CALLS_DEFAULT_DEADLINE_MS) / 1000.0;

	return deadline - ima_http_now();
}

/* ---- HTTP ---- */

static void calls_xfer_fire(struct ima_req *req, struct call_item *it)
{
	struct http_xfer *x = (struct http_xfer *)it;
	struct ima_http_response r = x->out;

	ima_buf_append(&x->resp, "", 1);
	r.body = x->resp.failed ? "" : x->resp.data;
	r.body_len = x->resp.failed ? 0 : x->resp.len - 1;
	if (r.content_type == NULL)
		r.content_type = "";
	if (r.error == NULL)
		r.error = "";
	x->done(req, &r, x->arg);
	ima_buf_free(&x->resp);
}

void ima_calls_xfer_done(struct http_xfer *x)
{
	calls_ready(x->owner, &x->item);
}

/* Ends x without the I/O thread. */
static void calls_xfer_fail(struct http_xfer *x, enum ima_http_result why, const char *msg)
{
	x->out.result = why;
	x->out.retry_after = -1;
	snprintf(x->errbuf, sizeof(x->errbuf), "%s", msg);
	x->out.error = x->errbuf;
	calls_ready(x->owner, &x->item);
}

int ima_http_submit(struct ima_req *req, const struct ima_http_request *hr,
		    ima_http_done_fn done, void *arg)
{
	struct req_calls *c;
	struct http_xfer *x;

	if (hr == NULL || hr->url == NULL || done == NULL || (c = calls_of(req)) == NULL)
		return -1;
	x = ima_calloc(1, sizeof(*x));
	if (x == NULL)
		return -1;
	x->url = ima_strdup(hr->url);
	x->method = hr->method ? ima_strdup(hr->method) : NULL;
	if (hr->body != NULL) {
		x->body = ima_malloc(hr->body_len + 1);
		if (x->body != NULL)
			memcpy(x->body, hr->body, hr->body_len);
		x->body_len = hr->body_len;
	}
	for (size_t i = 0; hr->headers != NULL && hr->headers[i] != NULL; i++) {
		struct curl_slist *h = curl_slist_append(x->headers, hr->headers[i]);

		if (h == NULL)
			goto nomem;
		x->headers = h;
	}
	if (x->url == NULL || (hr->method && !x->method) || (hr->body && !x->body))
		goto nomem;
	x->item.fire = calls_xfer_fire;
	x->owner = c;
	x->connect_timeout_ms = hr->connect_timeout_ms;
	x->timeout_ms = hr->timeout_ms;
	x->start_at = ima_http_now() + (hr->delay_ms > 0 ? (double)hr->delay_ms / 1000.0 : 0);
	x->deadline = c->deadline;
	x->max_bytes = hr->max_response_bytes ? hr->max_response_bytes : 1024 * 1024;
	x->done = done;
	x->arg = arg;
	x->next_req = c->xfers;
	c->xfers = x;
	calls_expect(c);
	if (c->ended != 0)
		calls_xfer_fail(x, c->ended, c->ended == IMA_HTTP_DEADLINE
				? "the request's deadline passed" : "cancelled: the pipeline ended");
	else if (x->start_at >= x->deadline)
		calls_xfer_fail(x, IMA_HTTP_DEADLINE, "would start after the request's deadline");
	else if (ima_http_start(x) != 0)
		calls_xfer_fail(x, IMA_HTTP_FAILED, "cannot start the HTTP thread");
	return 0;
nomem:
	curl_slist_free_all(x->headers);
	ima_free(x->url);
	ima_free(x->method);
	ima_free(x->body);
	ima_free(x);
	return -1;
}

/* ---- the call cache ---- */

/* 1: a hit, its result appended; 0: a miss this request owns; 2: an
 * identical call is in flight elsewhere, nothing claimed. */
static int calls_cache_try(struct ima_req *req, const msgpack_object *key,
			   msgpack_sbuffer *result, double *cost)
{
	const struct ima_plugin *p = req->call_plugin;
	size_t before = result->size;
	int r;

	if (p == NULL)
		return 0;
	*cost = 0;
	r = p->call_try != NULL ? p->call_try(req, req->call_state, key, result, cost)
				: p->call_get(req, req->call_state, key, result, cost);
	if (r == 1 && !ima_req_call_result_ok(result, before, *cost))
		r = 0;
	if (r != 1 && !ima_sbuffer_failed(result))
		result->size = before;
	return r == 1 || r == 2 ? r : 0;
}

static void calls_wait_fire(struct ima_req *req, struct call_item *it)
{
	struct cache_wait *w = (struct cache_wait *)it;
	msgpack_zone zone;
	msgpack_object o = { .type = MSGPACK_OBJECT_NIL };
	size_t off = 0;

	if (w->hit && msgpack_zone_init(&zone, 1024)) {
		if (msgpack_unpack(w->result.data, w->result.size, &off, &zone, &o) ==
		    MSGPACK_UNPACK_SUCCESS)
			w->done(req, 1, &o, w->cost, w->arg);
		else
			w->done(req, 0, NULL, 0, w->arg);
		msgpack_zone_destroy(&zone);
		return;
	}
	w->done(req, 0, NULL, 0, w->arg);
}

static void llm_cache_resolved(struct ima_req *req, struct ima_llm_call *call, int hit,
			       msgpack_sbuffer *result, double cost);

/* The wait is over: a hit, a miss now owned (hit 0), or the calls were
 * cut (hit -1). */
static void calls_wait_resolve(struct ima_req *req, struct cache_wait *w, int hit)
{
	struct req_calls *c = req->calls;

	w->resolved = true;
	if (w->llm != NULL) {
		calls_settle(c);
		llm_cache_resolved(req, w->llm, hit, &w->result, w->cost);
		return;
	}
	w->hit = hit == 1;
	calls_ready(c, &w->item);
}

static struct cache_wait *calls_wait_new(struct req_calls *c, const msgpack_object *key)
{
	struct cache_wait *w = ima_calloc(1, sizeof(*w));
	msgpack_packer pk;
	size_t off = 0;

	if (w == NULL)
		return NULL;
	msgpack_sbuffer_init(&w->key_buf);
	msgpack_sbuffer_init(&w->result);
	msgpack_packer_init(&pk, &w->key_buf, ima_sbuffer_write);
	if (!msgpack_zone_init(&w->zone, 512)) {
		ima_free(w);
		return NULL;
	}
	if (msgpack_pack_object(&pk, *key) != 0 ||
	    msgpack_unpack(w->key_buf.data, w->key_buf.size, &off, &w->zone, &w->key) !=
		    MSGPACK_UNPACK_SUCCESS) {
		msgpack_zone_destroy(&w->zone);
		msgpack_sbuffer_destroy(&w->key_buf);
		ima_free(w);
		return NULL;
	}
	w->item.fire = calls_wait_fire;
	w->next_try = ima_http_now() + CACHE_POLL_SECONDS;
	w->next = c->waits;
	c->waits = w;
	calls_expect(c);
	return w;
}

int ima_call_cache_lookup(struct ima_req *req, const msgpack_object *call,
			  ima_call_cache_fn done, void *arg)
{
	struct req_calls *c;
	struct cache_wait *w;
	int r;

	if (call == NULL || done == NULL || (c = calls_of(req)) == NULL ||
	    (w = calls_wait_new(c, call)) == NULL)
		return -1;
	w->done = done;
	w->arg = arg;
	r = c->ended ? -1 : calls_cache_try(req, &w->key, &w->result, &w->cost);
	if (r != 2)
		calls_wait_resolve(req, w, r);
	return 0;
}

/* Asks again after every twin that is due; true when one was settled. */
static bool calls_poll_waits(struct ima_req *req, double now, double *next)
{
	bool settled = false;

	for (struct cache_wait *w = req->calls->waits; w != NULL; w = w->next) {
		int r;

		if (w->resolved)
			continue;
		if (w->next_try > now) {
			if (w->next_try < *next)
				*next = w->next_try;
			continue;
		}
		r = calls_cache_try(req, &w->key, &w->result, &w->cost);
		if (r == 2) {
			w->next_try = now + CACHE_POLL_SECONDS;
			if (w->next_try < *next)
				*next = w->next_try;
			continue;
		}
		calls_wait_resolve(req, w, r);
		settled = true;
	}
	return settled;
}

/* ---- LLM calls ---- */

static const char *const llm_status_names[] = {
	[IMA_LLM_OK] = "ok", [IMA_LLM_INVALID] = "invalid", [IMA_LLM_FAILED] = "failed",
	[IMA_LLM_DEADLINE] = "deadline", [IMA_LLM_CANCELLED] = "cancelled",
};

static const char *llm_status_name(enum ima_llm_status s)
{
	return (size_t)s < sizeof(llm_status_names) / sizeof(llm_status_names[0]) &&
	       llm_status_names[s] ? llm_status_names[s] : "failed";
}

static const char *req_str(struct ima_req *req, const char *s)
{
	const char *copy = ima_req_strndup(req, s ? s : "", s ? strlen(s) : 0);

	return copy ? copy : "";
}

/* A metric label value: no quote, backslash or control byte, bounded. */
static void llm_label(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 1 < size; s++)
		out[n++] = (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) ? '_' : *s;
	out[n] = '\0';
}

void ima_calls_declare_metrics(void)
{
	static const double bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60 };

	ima_metric_declare("imaginator_llm_calls_total", IMA_METRIC_COUNTER,
			   "LLM calls by provider, model and outcome (ok, invalid, failed, deadline, cancelled, cached).");
	ima_metric_declare("imaginator_llm_tokens_total", IMA_METRIC_COUNTER,
			   "Tokens of the LLM calls made, by provider, model and kind (prompt, completion).");
	ima_metric_declare("imaginator_llm_cost_usd_total", IMA_METRIC_COUNTER,
			   "What the LLM calls made cost, in USD, by provider and model.");
	ima_metric_declare("imaginator_llm_inflight_calls", IMA_METRIC_GAUGE_SUM,
			   "LLM calls submitted and not yet answered.");
	ima_metric_declare_histogram("imaginator_llm_call_seconds",
				     "Time of each LLM call made, retries included, by provider.",
				     bounds, sizeof(bounds) / sizeof(bounds[0]));
}

static void llm_inflight(long delta)
{
	ima_metric_set("imaginator_llm_inflight_calls",
		       (double)(atomic_fetch_add(&calls_inflight, delta) + delta));
}

/* Three members of a map: who answered, with which model. */
static void llm_pack_who(msgpack_packer *pk, const struct ima_llm_answer *a)
{
	ima_pack_cstr(pk, "provider");
	ima_pack_cstr(pk, a->provider);
	ima_pack_cstr(pk, "model_requested");
	ima_pack_cstr(pk, a->model_requested);
	ima_pack_cstr(pk, "model_used");
	ima_pack_cstr(pk, a->model_used);
}

/* run_metrics and /metrics for one ended call. */
static void llm_account(struct ima_req *req, struct ima_llm_call *call)
{
	const struct ima_llm_answer *a = &call->ans;
	bool made = !a->cached;
	char provider[PROVIDER_LABEL_MAX + 1], model[MODEL_LABEL_MAX + 1], name[256];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	double spent = made ? a->cost_usd : 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, a->status == IMA_LLM_OK ? 13 : 14);
	ima_pack_cstr(&pk, "task");
	ima_pack_cstr(&pk, call->ask.task);
	llm_pack_who(&pk, a);
	ima_pack_cstr(&pk, "status");
	ima_pack_cstr(&pk, llm_status_name(a->status));
	ima_pack_cstr(&pk, "attempts");
	msgpack_pack_int(&pk, a->attempts);
	ima_pack_cstr(&pk, "prompt_tokens");
	msgpack_pack_int64(&pk, made ? a->prompt_tokens : 0);
	ima_pack_cstr(&pk, "completion_tokens");
	msgpack_pack_int64(&pk, made ? a->completion_tokens : 0);
	ima_pack_cstr(&pk, "cost_usd");
	msgpack_pack_double(&pk, spent);
	ima_pack_cstr(&pk, "cost_saved_usd");
	msgpack_pack_double(&pk, made ? 0 : a->cost_usd);
	ima_pack_cstr(&pk, "seconds");
	msgpack_pack_double(&pk, a->seconds);
	ima_pack_cstr(&pk, "cached");
	if (a->cached)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	ima_pack_cstr(&pk, "prompt_version");
	ima_pack_cstr(&pk, call->ask.prompt_version);
	if (a->status != IMA_LLM_OK) {
		ima_pack_cstr(&pk, "error");
		ima_pack_cstr(&pk, a->error);
	}
	ima_req_metric_append(req, "calls", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	ima_req_metric_add(req, "total_prompt_tokens", made ? (double)a->prompt_tokens : 0);
	ima_req_metric_add(req, "total_completion_tokens", made ? (double)a->completion_tokens : 0);
	ima_req_metric_add(req, "total_tokens",
			   made ? (double)(a->prompt_tokens + a->completion_tokens) : 0);
	ima_req_metric_add(req, "estimated_cost_usd", spent);
	/* A failure the provider did not report attempt by attempt (it came
	 * from the core: no provider, the schema, the deadline) is listed
	 * once. */
	if (a->status != IMA_LLM_OK && (call->failures == 0 || a->status == IMA_LLM_INVALID))
		ima_llm_call_failure(req, call, a->model_used[0] ? a->model_used : a->model_requested,
				     a->attempts, a->error);
	req->calls->cost += a->cost_usd;
	req->calls->any_llm = true;

	llm_label(provider, sizeof(provider), a->provider);
	llm_label(model, sizeof(model), a->model_used[0] ? a->model_used : a->model_requested);
	snprintf(name, sizeof(name),
		 "imaginator_llm_calls_total{provider=\"%s\",model=\"%s\",outcome=\"%s\"}",
		 provider, model, a->cached ? "cached" : llm_status_name(a->status));
	ima_metric_add(name, 1);
	if (!made)
		return;
	snprintf(name, sizeof(name),
		 "imaginator_llm_tokens_total{provider=\"%s\",model=\"%s\",kind=\"prompt\"}",
		 provider, model);
	ima_metric_add(name, (double)a->prompt_tokens);
	snprintf(name, sizeof(name),
		 "imaginator_llm_tokens_total{provider=\"%s\",model=\"%s\",kind=\"completion\"}",
		 provider, model);
	ima_metric_add(name, (double)a->completion_tokens);
	snprintf(name, sizeof(name), "imaginator_llm_cost_usd_total{provider=\"%s\",model=\"%s\"}",
		 provider, model);
	ima_metric_add(name, a->cost_usd);
	snprintf(name, sizeof(name), "imaginator_llm_call_seconds{provider=\"%s\"}", provider);
	ima_metric_observe(name, a->seconds);
}

static void llm_fire(struct ima_req *req, struct call_item *it)
{
	struct ima_llm_call *call = (struct ima_llm_call *)it;
	struct ima_llm_answer a = call->ans;

	a.json = call->has_json ? &call->json : NULL;
	call->done(req, &a, call->arg);
}

const struct ima_llm_ask *ima_llm_call_ask(const struct ima_llm_call *call)
{
	return &call->ask;
}

void ima_llm_call_failure(struct ima_req *req, struct ima_llm_call *call,
			  const char *model, int attempt, const char *error)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *provider = req->llm_name ? req->llm_name : "";

	if (call->ans.provider != NULL && call->ans.provider[0])
		provider = call->ans.provider;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	ima_pack_cstr(&pk, "task");
	ima_pack_cstr(&pk, call->ask.task);
	ima_pack_cstr(&pk, "provider");
	ima_pack_cstr(&pk, provider);
	ima_pack_cstr(&pk, "model");
	ima_pack_cstr(&pk, model ? model : "");
	ima_pack_cstr(&pk, "attempt");
	msgpack_pack_int(&pk, attempt);
	ima_pack_cstr(&pk, "error");
	ima_pack_cstr(&pk, error ? error : "");
	ima_req_metric_append(req, "failures", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (!call->ended)
		call->failures++;
}

/* The answer's content as JSON checked against the ask's schema. */
static void llm_check_json(struct ima_llm_call *call, const struct ima_llm_answer *ans,
			   char *why, size_t size)
{
	struct ima_error err = { 0 };
	size_t off = 0;

	if (ans->json != NULL) {
		msgpack_packer pk;

		msgpack_packer_init(&pk, &call->json_buf, ima_sbuffer_write);
		if (msgpack_pack_object(&pk, *ans->json) != 0) {
			snprintf(why, size, "out of memory");
			return;
		}
	} else if (ima_json_to_msgpack(ans->text ? ans->text : "", ans->text ? ans->text_len : 0,
				       &call->json_buf, &err) != 0) {
		bool cut;

		if (err.status == 500) {
			snprintf(why, size, "out of memory");
			return;
		}
		cut = ans->finish_reason && strcmp(ans->finish_reason, "length") == 0;
		snprintf(why, size, "the answer is %s JSON (line %d, column %d: %s)",
			 cut ? "truncated (finish_reason length), not valid" : "not valid",
			 err.line, err.column, err.message);
		return;
	}
	if (msgpack_unpack(call->json_buf.data, call->json_buf.size, &off, &call->json_zone,
			   &call->json) != MSGPACK_UNPACK_SUCCESS) {
		snprintf(why, size, "the answer could not be decoded");
		return;
	}
	call->has_json = true;
	if (call->ask.schema != NULL) {
		char at[200];

		if (ima_json_schema_check(call->ask.schema, &call->json, at, sizeof(at)) != 0) {
			call->has_json = false;
			snprintf(why, size, "the answer breaks the schema: %s", at);
		}
	}
}

/* Packs *o, or nil when o is NULL. */
static void pack_object_or_nil(msgpack_packer *pk, const msgpack_object *o)
{
	if (o != NULL)
		msgpack_pack_object(pk, *o);
	else
		msgpack_pack_nil(pk);
}

/* What the call cache keeps of an answer. */
static void llm_cache_store(struct ima_req *req, struct ima_llm_call *call)
{
	const struct ima_llm_answer *a = &call->ans;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	ima_pack_cstr(&pk, "text");
	ima_pack_strn(&pk, a->text, a->text_len);
	ima_pack_cstr(&pk, "json");
	pack_object_or_nil(&pk, call->has_json ? &call->json : NULL);
	llm_pack_who(&pk, a);
	ima_pack_cstr(&pk, "finish_reason");
	ima_pack_cstr(&pk, a->finish_reason);
	ima_pack_cstr(&pk, "prompt_tokens");
	msgpack_pack_int64(&pk, a->prompt_tokens);
	ima_pack_cstr(&pk, "completion_tokens");
	msgpack_pack_int64(&pk, a->completion_tokens);
	/* A failed buffer is NULL: then the claim only ends. */
	ima_call_cache_put(req, &call->key, sb.data, sb.size, a->cost_usd);
	msgpack_sbuffer_destroy(&sb);
}

/* Ends call with an answer of the core's own making. */
static void llm_end(struct ima_req *req, struct ima_llm_call *call, enum ima_llm_status status,
		    const char *error)
{
	struct ima_llm_answer a = {
		.status = status, .error = error, .provider = req->llm_name ? req->llm_name : "",
		.model_requested = call->ask.nmodels ? call->ask.models[0].id : "",
	};

	ima_llm_call_done(req, call, &a);
}

void ima_llm_call_done(struct ima_req *req, struct ima_llm_call *call,
		       const struct ima_llm_answer *ans)
{
	struct ima_llm_answer *a = &call->ans;
	char why[400] = "";

	if (call == NULL || call->ended || ans == NULL)
		return;
	call->ended = true;
	llm_inflight(-1);
	*a = *ans;
	a->text = ima_req_strndup(req, ans->text ? ans->text : "", ans->text ? ans->text_len : 0);
	a->text_len = a->text && ans->text ? ans->text_len : 0;
	if (a->text == NULL)
		a->text = "";
	a->provider = req_str(req, ans->provider && ans->provider[0] ? ans->provider
			      : req->llm_name);
	a->model_requested = req_str(req, ans->model_requested && ans->model_requested[0]
				     ? ans->model_requested
				     : call->ask.nmodels ? call->ask.models[0].id : "");
	a->model_used = req_str(req, ans->model_used);
	a->finish_reason = req_str(req, ans->finish_reason);
	a->json = NULL;
	if (a->status == IMA_LLM_OK && (call->ask.schema != NULL || ans->json != NULL)) {
		llm_check_json(call, ans, why, sizeof(why));
		if (why[0] != '\0')
			a->status = IMA_LLM_INVALID;
	}
	a->error = req_str(req, why[0] ? why : a->status == IMA_LLM_OK ? ""
			   : ans->error && ans->error[0] ? ans->error : llm_status_name(a->status));
	if (!isfinite(a->cost_usd) || a->cost_usd < 0)
		a->cost_usd = 0;
	if (!(a->seconds > 0))
		a->seconds = ima_req_elapsed(req) - call->started;
	if (call->claimed) {
		call->claimed = false;
		if (a->status == IMA_LLM_OK && !a->cached)
			llm_cache_store(req, call);
		else
			ima_call_cache_put(req, &call->key, NULL, 0, 0);
	}
	llm_account(req, call);
	calls_ready(req->calls, &call->item);
}

/* An answer the call cache had: {text, json, provider, ...}. */
static void llm_from_cache(struct ima_req *req, struct ima_llm_call *call,
			   msgpack_sbuffer *result, double cost)
{
	struct ima_llm_answer a = { .status = IMA_LLM_OK, .cached = 1, .cost_usd = cost,
				    .attempts = 0 };
	msgpack_zone zone;
	msgpack_object o;
	size_t off = 0;

	if (!msgpack_zone_init(&zone, 1024)) {
		llm_end(req, call, IMA_LLM_FAILED, "out of memory");
		return;
	}
	if (msgpack_unpack(result->data, result->size, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_MAP) {
		msgpack_zone_destroy(&zone);
		llm_end(req, call, IMA_LLM_FAILED, "a cached answer did not decode");
		return;
	}
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
		const char *s = NULL;
		size_t n = 0;
		char key[24];

		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size >= sizeof(key))
			continue;
		memcpy(key, k->via.str.ptr, k->via.str.size);
		key[k->via.str.size] = '\0';
		if (v->type == MSGPACK_OBJECT_STR) {
			s = ima_req_strndup(req, v->via.str.size ? v->via.str.ptr : "", v->via.str.size);
			n = v->via.str.size;
		}
		if (strcmp(key, "text") == 0 && s) {
			a.text = s;
			a.text_len = n;
		} else if (strcmp(key, "json") == 0 && v->type != MSGPACK_OBJECT_NIL) {
			a.json = v;
		} else if (strcmp(key, "provider") == 0 && s) {
			a.provider = s;
		} else if (strcmp(key, "model_requested") == 0 && s) {
			a.model_requested = s;
		} else if (strcmp(key, "model_used") == 0 && s) {
			a.model_used = s;
		} else if (strcmp(key, "finish_reason") == 0 && s) {
			a.finish_reason = s;
		} else if (strcmp(key, "prompt_tokens") == 0 &&
			   v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			a.prompt_tokens = (int64_t)v->via.u64;
		} else if (strcmp(key, "completion_tokens") == 0 &&
			   v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			a.completion_tokens = (int64_t)v->via.u64;
		}
	}
	ima_llm_call_done(req, call, &a);
	msgpack_zone_destroy(&zone);
}

static void llm_to_provider(struct ima_req *req, struct ima_llm_call *call)
{
	const struct ima_plugin *p = req->llm_plugin;

	if (p == NULL) {
		llm_end(req, call, IMA_LLM_FAILED, "no LLM provider in the pipeline");
		return;
	}
	if (p->llm_submit(req, req->llm_state, call) != 0 && !call->ended)
		llm_end(req, call, IMA_LLM_FAILED, "the provider could not start the call");
}

/* The call cache has spoken: hit 1, miss (this request makes it) 0, or -1
 * when the request's calls were cut meanwhile. */
static void llm_cache_resolved(struct ima_req *req, struct ima_llm_call *call, int hit,
			       msgpack_sbuffer *result, double cost)
{
	if (hit < 0) {
		llm_end(req, call, req->calls->ended == IMA_HTTP_DEADLINE ? IMA_LLM_DEADLINE
			: IMA_LLM_CANCELLED, req->calls->ended == IMA_HTTP_DEADLINE
			? "the request's deadline passed" : "cancelled: the pipeline ended");
		return;
	}
	if (hit == 1) {
		llm_from_cache(req, call, result, cost);
		return;
	}
	call->claimed = req->call_plugin != NULL;
	llm_to_provider(req, call);
}

/* Copies ask into call: strings in the arena, the messages, the schema
 * and the cache key packed into call's buffer. */
static int llm_copy_ask(struct ima_req *req, struct ima_llm_call *call,
			const struct ima_llm_ask *ask)
{
	struct ima_llm_ask *c = &call->ask;
	msgpack_packer pk;
	msgpack_object o;
	size_t off = 0;

	*c = *ask;
	c->task = req_str(req, ask->task);
	c->schema_name = req_str(req, ask->schema_name ? ask->schema_name : ask->task);
	c->prompt_version = req_str(req, ask->prompt_version);
	if (ask->nmodels > 0 && ask->models != NULL) {
		struct ima_llm_model *m = ima_req_alloc(req, ask->nmodels * sizeof(*m));

		if (m == NULL)
			return -1;
		for (size_t i = 0; i < ask->nmodels; i++) {
			m[i] = ask->models[i];
			m[i].id = req_str(req, ask->models[i].id);
		}
		c->models = m;
	} else {
		c->models = NULL;
		c->nmodels = 0;
	}
	msgpack_sbuffer_init(&call->ask_buf);
	msgpack_packer_init(&pk, &call->ask_buf, ima_sbuffer_write);
	/* [messages, schema, key]: the key holds everything that changes the
	 * answer. */
	msgpack_pack_array(&pk, 3);
	msgpack_pack_object(&pk, *ask->messages);
	pack_object_or_nil(&pk, ask->schema);
	msgpack_pack_map(&pk, 9);
	ima_pack_cstr(&pk, "task");
	ima_pack_cstr(&pk, c->task);
	ima_pack_cstr(&pk, "provider");
	ima_pack_cstr(&pk, req->llm_plugin ? req->llm_plugin->name : "");
	ima_pack_cstr(&pk, "schema_name");
	ima_pack_cstr(&pk, c->schema_name);
	ima_pack_cstr(&pk, "models");
	msgpack_pack_array(&pk, c->nmodels);
	for (size_t i = 0; i < c->nmodels; i++)
		ima_pack_cstr(&pk, c->models[i].id);
	ima_pack_cstr(&pk, "messages");
	msgpack_pack_object(&pk, *ask->messages);
	ima_pack_cstr(&pk, "schema");
	pack_object_or_nil(&pk, ask->schema);
	ima_pack_cstr(&pk, "temperature");
	msgpack_pack_double(&pk, ask->temperature);
	ima_pack_cstr(&pk, "max_tokens");
	msgpack_pack_int(&pk, ask->max_tokens);
	ima_pack_cstr(&pk, "prompt_version");
	ima_pack_cstr(&pk, c->prompt_version);
	if (call->ask_buf.data == NULL)
		return -1;
	if (msgpack_unpack(call->ask_buf.data, call->ask_buf.size, &off, &call->zone, &o) !=
		    MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 3)
		return -1;
	c->messages = &o.via.array.ptr[0];
	c->schema = ask->schema ? &o.via.array.ptr[1] : NULL;
	call->key = o.via.array.ptr[2];
	return 0;
}

int ima_llm_submit(struct ima_req *req, const struct ima_llm_ask *ask,
		   ima_llm_done_fn done, void *arg)
{
	struct req_calls *c;
	struct ima_llm_call *call;
	struct cache_wait *w;
	int r;

	if (ask == NULL || ask->task == NULL || ask->task[0] == '\0' || ask->messages == NULL ||
	    done == NULL || (c = calls_of(req)) == NULL)
		return -1;
	call = ima_calloc(1, sizeof(*call));
	if (call == NULL)
		return -1;
	if (!msgpack_zone_init(&call->zone, 2048)) {
		ima_free(call);
		return -1;
	}
	if (!msgpack_zone_init(&call->json_zone, 1024)) {
		msgpack_zone_destroy(&call->zone);
		ima_free(call);
		return -1;
	}
	/* Linked now, so that ima_calls_free() frees it whatever fails. */
	call->next = c->llms;
	c->llms = call;
	call->ended = true; /* nothing to end until it is under way */
	msgpack_sbuffer_init(&call->json_buf);
	if (llm_copy_ask(req, call, ask) != 0)
		return -1;
	call->ended = false;
	call->started = ima_req_elapsed(req);
	call->item.fire = llm_fire;
	call->done = done;
	call->arg = arg;
	call->cacheable = !ask->no_cache && req->call_plugin != NULL && req->llm_plugin != NULL &&
			  !(req->llm_flags & IMA_PLUGIN_LOCAL);
	calls_expect(c);
	llm_inflight(1);
	if (c->ended != 0) {
		llm_cache_resolved(req, call, -1, NULL, 0);
		return 0;
	}
	if (!call->cacheable) {
		llm_to_provider(req, call);
		return 0;
	}
	w = calls_wait_new(c, &call->key);
	if (w == NULL) {
		llm_to_provider(req, call);
		return 0;
	}
	w->llm = call;
	r = calls_cache_try(req, &w->key, &w->result, &w->cost);
	if (r != 2)
		calls_wait_resolve(req, w, r);
	return 0;
}

/* ---- joins ---- */

/* Cuts every pending call of the request with why. */
static void calls_cut(struct ima_req *req, enum ima_http_result why)
{
	struct req_calls *c = req->calls;

	c->ended = why;
	c->ended_at = ima_http_now();
	for (struct http_xfer *x = c->xfers; x != NULL; x = x->next_req)
		ima_http_cancel(x, why);
	for (struct cache_wait *w = c->waits; w != NULL; w = w->next)
		if (!w->resolved)
			calls_wait_resolve(req, w, -1);
}

/* A provider that left calls open past the deadline and the grace. */
static void calls_force_end(struct ima_req *req)
{
	for (struct ima_llm_call *call = req->calls->llms; call != NULL; call = call->next)
		if (!call->ended)
			llm_end(req, call, IMA_LLM_DEADLINE,
				"the provider did not answer by the request's deadline");
}

int ima_join(struct ima_req *req)
{
	struct req_calls *c = req->calls;
	int ran = 0;

	if (c == NULL || c->in_join)
		return 0;
	c->in_join = true;
	for (;;) {
		struct call_item *it = calls_pop(c);
		double now, wake;

		if (it != NULL) {
			it->fire(req, it);
			ran++;
			continue;
		}
		now = ima_http_now();
		if (c->ended == 0 && now >= c->deadline) {
			calls_cut(req, IMA_HTTP_DEADLINE);
			continue;
		}
		if (c->ended != 0 && !c->forced && now >= c->ended_at + FORCE_END_SECONDS) {
			c->forced = true;
			calls_force_end(req);
			continue;
		}
		wake = c->ended == 0 ? c->deadline
		     : c->forced ? now + 1 : c->ended_at + FORCE_END_SECONDS;
		if (calls_poll_waits(req, now, &wake))
			continue;
		pthread_mutex_lock(&c->lock);
		if (c->ready == NULL && c->pending == 0) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (c->ready == NULL) {
			struct timespec ts;
			double secs = wake;

			ts.tv_sec = (time_t)secs;
			ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		}
		pthread_mutex_unlock(&c->lock);
	}
	c->in_join = false;
	return ran;
}

int ima_join_ready(struct ima_req *req)
{
	struct req_calls *c = req->calls;
	struct call_item *it;
	int ran = 0;

	if (c == NULL || c->in_join)
		return 0;
	c->in_join = true;
	while ((it = calls_pop(c)) != NULL) {
		it->fire(req, it);
		ran++;
	}
	c->in_join = false;
	return ran;
}

void ima_calls_cancel(struct ima_req *req, enum ima_http_result why)
{
	if (req->calls == NULL)
		return;
	if (req->calls->ended == 0)
		calls_cut(req, why);
	ima_join(req);
}

bool ima_calls_llm_cost(const struct ima_req *req, double *cost)
{
	if (req->calls == NULL || !req->calls->any_llm)
		return false;
	*cost = req->calls->cost;
	return true;
}

void ima_calls_free(struct ima_req *req)
{
	struct req_calls *c = req->calls;

	if (c == NULL)
		return;
	/* Never with transfers out: the engine joined before. */
	if (c->pending != 0)
		ima_calls_cancel(req, IMA_HTTP_CANCELLED);
	while (c->xfers != NULL) {
		struct http_xfer *x = c->xfers;

		c->xfers = x->next_req;
		curl_slist_free_all(x->headers);
		ima_buf_free(&x->resp);
		ima_free(x->url);
		ima_free(x->method);
		ima_free(x->body);
		ima_free(x);
	}
	while (c->waits != NULL) {
		struct cache_wait *w = c->waits;

		c->waits = w->next;
		msgpack_zone_destroy(&w->zone);
		msgpack_sbuffer_destroy(&w->key_buf);
		msgpack_sbuffer_destroy(&w->result);
		ima_free(w);
	}
	while (c->llms != NULL) {
		struct ima_llm_call *call = c->llms;

		c->llms = call->next;
		if (!call->ended)
			llm_inflight(-1);
		if (call->claimed)
			ima_call_cache_put(req, &call->key, NULL, 0, 0);
		msgpack_sbuffer_destroy(&call->ask_buf);
		msgpack_zone_destroy(&call->zone);
		msgpack_sbuffer_destroy(&call->json_buf);
		msgpack_zone_destroy(&call->json_zone);
		ima_free(call);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	ima_free(c);
	req->calls = NULL;
}
