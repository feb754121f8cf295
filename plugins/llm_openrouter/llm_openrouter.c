/*
 * llm_openrouter - the LLM provider for OpenRouter and any other
 * OpenAI-compatible chat completions endpoint.
 *
 * It serves ima_llm_submit() for the whole pipeline (the llm_submit hook):
 * each call is one or more POSTs to <base_url>/chat/completions through
 * ima_http_submit(), so calls of every stage overlap and share the worker's
 * connections. Its own work is the policy around those POSTs:
 *   - retries on 408, 429, 5xx and transport errors, with exponential
 *     backoff and full jitter, no sooner than Retry-After, bounded by
 *     max_attempts (per model), call_timeout_ms and the request deadline;
 *   - API keys from the environment (KEY, KEY_2 ... KEY_16): a key answered
 *     with 401, 402 or 403 is set aside for key_cooldown_ms, for every
 *     request of the process, and the call goes on at once with the next;
 *   - model fallback: OpenRouter's "models" list when models_param says
 *     so (the server falls back), else the next model of the ask once one
 *     has failed for good.
 * The keys never leave the Authorization header: not in logs, errors,
 * answers, run_metrics or the option values (they are not options).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "openrouter.h"

#define LLM_OPENROUTER_MAX_MODELS 16

struct llm_openrouter {
	char *stage;
	char *url;        /* <base_url>/chat/completions */
	char *provider;
	char *key_env;
	char *model[LLM_OPENROUTER_MAX_MODELS];
	size_t nmodels;
	bool models_param;
	char *referer_header; /* "HTTP-Referer: ..." or NULL */
	char *title_header;   /* "X-Title: ..." or NULL */
	int64_t key_cooldown_ms;
	int64_t max_attempts;
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;
	int64_t call_timeout_ms;
	int64_t attempt_timeout_ms;
	int64_t connect_timeout_ms;
	int64_t max_response_bytes;
	int64_t max_tokens;
	struct openrouter_keys keys;
	char metric_retries[128];
	char metric_fallbacks[128];
	char metric_aside[128];
};

/* One call, in request memory: it lives as long as the request. */
struct llm_openrouter_call {
	struct llm_openrouter *st;
	struct ima_llm_call *call;
	const struct ima_llm_ask *ask;
	const struct ima_llm_model *models;
	size_t nmodels;
	size_t model;           /* the model asked now */
	int attempts;           /* POSTs of the call */
	int model_attempts;     /* of this model; refused keys not counted */
	uint32_t keys_refused;  /* keys answered 401/402/403 in this call */
	int key;                /* the key of the POST in flight */
	bool invalid_retried;   /* a malformed answer is retried once */
	char *body;             /* the body for this model */
	size_t body_len;
	double started;         /* ima_req_elapsed() at submit */
	int64_t prompt_tokens;
	int64_t completion_tokens;
	double cost_usd;
	char error[320];        /* the last failure */
};

static const struct ima_option llm_openrouter_options[] = {
	{ "base_url", IMA_OPT_STRING, "${IMAGINATOR_LLM_BASE_URL:-https://openrouter.ai/api/v1}",
	  "OpenAI-compatible API root; POSTs go to <base_url>/chat/completions", 0 },
	{ "provider_name", IMA_OPT_STRING, "openrouter",
	  "the provider's name in answers, run_metrics and metric labels", 0 },
	{ "model", IMA_OPT_STRING, "",
	  "model used when an ask names none", 0 },
	{ "fallback_models", IMA_OPT_STRING, "",
	  "comma-separated models tried after model, when an ask names none", 0 },
	{ "models_param", IMA_OPT_STRING, "auto",
	  "send OpenRouter's models list for server-side fallback: auto (when the host is openrouter.ai), yes, no", 0 },
	{ "key_env", IMA_OPT_STRING, "OPENROUTER_API_KEY",
	  "environment variable of the API key; NAME_2 ... NAME_16 add more keys", 0 },
	{ "key_cooldown_ms", IMA_OPT_INT, "300000",
	  "how long a key answered with 401, 402 or 403 is set aside", 0 },
	{ "referer", IMA_OPT_STRING, "",
	  "HTTP-Referer header (OpenRouter app attribution); empty: not sent", 0 },
	{ "title", IMA_OPT_STRING, "",
	  "X-Title header (OpenRouter app attribution); empty: not sent", 0 },
	{ "max_attempts", IMA_OPT_INT, "4",
	  "POSTs per model at most, retries included (refused keys not counted)", 0 },
	{ "backoff_base_ms", IMA_OPT_INT, "250",
	  "first retry waits up to this (full jitter), doubling per retry", 0 },
	{ "backoff_max_ms", IMA_OPT_INT, "4000",
	  "cap on the backoff ceiling (Retry-After may ask for more)", 0 },
	{ "call_timeout_ms", IMA_OPT_INT, "20000",
	  "one call's total time over all attempts (the request deadline also applies)", 0 },
	{ "attempt_timeout_ms", IMA_OPT_INT, "15000",
	  "one POST's total time", 0 },
	{ "connect_timeout_ms", IMA_OPT_INT, "3000",
	  "connection set-up time of one POST", 0 },
	{ "max_response_bytes", IMA_OPT_INT, "1048576",
	  "a larger response body fails the call (never retried)", 0 },
	{ "max_tokens", IMA_OPT_INT, "1024",
	  "max_tokens sent when an ask sets none; 0: not sent", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* ---- init and fini ------------------------------------------------------ */

static void llm_openrouter_fini(void *state)
{
	struct llm_openrouter *st = state;

	if (st == NULL)
		return;
	openrouter_keys_free(&st->keys);
	for (size_t i = 0; i < st->nmodels; i++)
		ima_free(st->model[i]);
	ima_free(st->stage);
	ima_free(st->url);
	ima_free(st->provider);
	ima_free(st->key_env);
	ima_free(st->referer_header);
	ima_free(st->title_header);
	ima_free(st);
}

static char *llm_openrouter_header(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *h;

	if (value[0] == '\0')
		return NULL;
	h = ima_malloc(n);
	if (h != NULL)
		snprintf(h, n, "%s: %s", name, value);
	return h;
}

struct llm_openrouter_range {
	const char *name;
	int64_t min, max;
	size_t offset;
};

#define LLM_OPENROUTER_RANGE(field, lo, hi) \
	{ #field, lo, hi, offsetof(struct llm_openrouter, field) }

static const struct llm_openrouter_range llm_openrouter_ranges[] = {
	LLM_OPENROUTER_RANGE(key_cooldown_ms, 0, 86400000),
	LLM_OPENROUTER_RANGE(max_attempts, 1, 20),
	LLM_OPENROUTER_RANGE(backoff_base_ms, 0, 60000),
	LLM_OPENROUTER_RANGE(backoff_max_ms, 0, 600000),
	LLM_OPENROUTER_RANGE(call_timeout_ms, 1, 3600000),
	LLM_OPENROUTER_RANGE(attempt_timeout_ms, 1, 3600000),
	LLM_OPENROUTER_RANGE(connect_timeout_ms, 1, 600000),
	LLM_OPENROUTER_RANGE(max_response_bytes, 1024, 268435456),
	LLM_OPENROUTER_RANGE(max_tokens, 0, 10000000),
};

static int llm_openrouter_declare_metrics(struct llm_openrouter *st)
{
	static const struct {
		const char *family, *help;
	} families[] = {
		{ "imaginator_llm_retries_total",
		  "LLM POSTs repeated after a retryable failure (408, 429, 5xx, transport)" },
		{ "imaginator_llm_fallbacks_total",
		  "LLM calls answered by, or moved on to, a model after the first" },
		{ "imaginator_llm_keys_set_aside_total",
		  "API keys set aside after a 401, 402 or 403" },
	};

	/* A second stage of this plugin declares the same families again,
	 * which is not an error worth failing for. */
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		ima_metric_declare(families[i].family, IMA_METRIC_COUNTER, families[i].help);
	snprintf(st->metric_retries, sizeof(st->metric_retries),
		 "imaginator_llm_retries_total{provider=\"%s\"}", st->provider);
	snprintf(st->metric_fallbacks, sizeof(st->metric_fallbacks),
		 "imaginator_llm_fallbacks_total{provider=\"%s\"}", st->provider);
	snprintf(st->metric_aside, sizeof(st->metric_aside),
		 "imaginator_llm_keys_set_aside_total{provider=\"%s\"}", st->provider);
	return 0;
}

static int llm_openrouter_init(const struct ima_conf *conf, void **state,
			       struct ima_error *err)
{
	struct llm_openrouter *st = ima_calloc(1, sizeof(*st));
	const char *mp = ima_conf_string(conf, "models_param");
	const char *key_env = ima_conf_string(conf, "key_env");
	char *base = NULL, why[160];
	bool is_openrouter;
	size_t n;
	int k;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->stage = ima_strdup(ima_conf_stage_name(conf));
	st->provider = ima_strdup(ima_conf_string(conf, "provider_name"));
	st->key_env = ima_strdup(key_env);
	base = ima_strdup(ima_conf_string(conf, "base_url"));
	if (!st->stage || !st->provider || !st->key_env || !base)
		goto oom;

	if (openrouter_base_url_check(base, &is_openrouter, why, sizeof(why)) != 0) {
		ima_error_set(err, 500, "config", "base_url", "option 'base_url' (%s) %s",
			      base, why);
		goto fail;
	}
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	st->url = ima_malloc(n + sizeof("/chat/completions"));
	if (st->url == NULL)
		goto oom;
	memcpy(st->url, base, n);
	memcpy(st->url + n, "/chat/completions", sizeof("/chat/completions"));

	if (!openrouter_label_safe(st->provider)) {
		ima_error_set(err, 500, "config", "provider_name",
			      "option 'provider_name' must be 1 to 32 of A-Z a-z 0-9 _ . -");
		goto fail;
	}
	if (strcmp(mp, "auto") == 0)
		st->models_param = is_openrouter;
	else if (strcmp(mp, "yes") == 0)
		st->models_param = true;
	else if (strcmp(mp, "no") == 0)
		st->models_param = false;
	else {
		ima_error_set(err, 500, "config", "models_param",
			      "option 'models_param' must be auto, yes or no, not '%s'", mp);
		goto fail;
	}
	k = openrouter_split_models(ima_conf_string(conf, "model"), st->model,
				    LLM_OPENROUTER_MAX_MODELS);
	if (k > 1) {
		for (int i = 0; i < k; i++)
			ima_free(st->model[i]);
		ima_error_set(err, 500, "config", "model",
			      "option 'model' names one model (put the others in fallback_models)");
		goto fail;
	}
	if (k < 0)
		goto oom;
	st->nmodels = (size_t)k;
	k = openrouter_split_models(ima_conf_string(conf, "fallback_models"),
				    st->model + st->nmodels,
				    LLM_OPENROUTER_MAX_MODELS - st->nmodels);
	if (k < 0) {
		ima_error_set(err, 500, "config", "fallback_models",
			      "option 'fallback_models': at most %d models in all",
			      LLM_OPENROUTER_MAX_MODELS);
		goto fail;
	}
	st->nmodels += (size_t)k;

	if (key_env[0] == '\0' || strlen(key_env) > 120 ||
	    strspn(key_env, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		    strlen(key_env)) {
		ima_error_set(err, 500, "config", "key_env",
			      "option 'key_env' must name an environment variable");
		goto fail;
	}
	if (!openrouter_header_safe(ima_conf_string(conf, "referer")) ||
	    !openrouter_header_safe(ima_conf_string(conf, "title"))) {
		ima_error_set(err, 500, "config",
			      openrouter_header_safe(ima_conf_string(conf, "referer")) ? "title"
										       : "referer",
			      "options 'referer' and 'title' must not hold control characters");
		goto fail;
	}
	st->referer_header = llm_openrouter_header("HTTP-Referer", ima_conf_string(conf, "referer"));
	st->title_header = llm_openrouter_header("X-Title", ima_conf_string(conf, "title"));
	if ((ima_conf_string(conf, "referer")[0] && !st->referer_header) ||
	    (ima_conf_string(conf, "title")[0] && !st->title_header))
		goto oom;

	for (size_t i = 0; i < sizeof(llm_openrouter_ranges) / sizeof(llm_openrouter_ranges[0]); i++) {
		const struct llm_openrouter_range *r = &llm_openrouter_ranges[i];
		int64_t v = ima_conf_int(conf, r->name);

		if (v < r->min || v > r->max) {
			ima_error_set(err, 500, "config", r->name,
				      "option '%s' must be %lld to %lld, not %lld", r->name,
				      (long long)r->min, (long long)r->max, (long long)v);
			goto fail;
		}
		*(int64_t *)((char *)st + r->offset) = v;
	}
	if (st->backoff_max_ms < st->backoff_base_ms) {
		ima_error_set(err, 500, "config", "backoff_max_ms",
			      "option 'backoff_max_ms' must not be below backoff_base_ms");
		goto fail;
	}

	/* No key is not an init error: the call then fails and says which
	 * variable to set. */
	if (openrouter_keys_load(&st->keys, key_env) != 0)
		goto oom;
	if (st->keys.count == 0)
		ima_log(IMA_LOG_WARN, "llm_openrouter: stage %s: no API key in %s: every call will fail",
			st->stage, key_env);
	llm_openrouter_declare_metrics(st);
	openrouter_random_seed((uint64_t)ima_now_ms() * 0x2545f4914f6cdd1dULL ^
			       (uint64_t)(uintptr_t)st);
	ima_free(base);
	*state = st;
	return 0;
oom:
	ima_error_set(err, 500, "internal", "", "out of memory");
fail:
	ima_free(base);
	llm_openrouter_fini(st);
	return -1;
}

/* ---- the call ----------------------------------------------------------- */

static void llm_openrouter_attempt(struct ima_req *req, struct llm_openrouter_call *c,
				   int64_t delay_ms);

static const char *llm_openrouter_model_id(const struct llm_openrouter_call *c)
{
	return c->models[c->model].id;
}

/* The price of the model that answered: its own entry in the ask, else
 * the entry of the model asked (an endpoint may name a dated variant). */
static double llm_openrouter_price(const struct llm_openrouter_call *c, const char *used,
				   int64_t prompt_tokens, int64_t completion_tokens)
{
	const struct ima_llm_model *m = &c->models[c->model];

	for (size_t i = 0; used != NULL && i < c->nmodels; i++)
		if (strcmp(c->models[i].id, used) == 0) {
			m = &c->models[i];
			break;
		}
	return (double)prompt_tokens * m->price_in / 1e6 +
	       (double)completion_tokens * m->price_out / 1e6;
}

/* Ends the call: exactly once, whatever path got here. */
static void llm_openrouter_finish(struct ima_req *req, struct llm_openrouter_call *c,
				  enum ima_llm_status status, const char *error,
				  const struct openrouter_reply *reply)
{
	struct ima_llm_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.status = status;
	ans.text = reply && reply->content ? reply->content : "";
	ans.text_len = reply && reply->content ? reply->content_len : 0;
	ans.error = status == IMA_LLM_OK ? "" : error;
	ans.provider = c->st->provider;
	ans.model_requested = c->nmodels ? c->models[0].id : "";
	ans.model_used = reply && reply->model && reply->model[0] ? reply->model
		       : c->nmodels ? llm_openrouter_model_id(c) : "";
	ans.finish_reason = reply && reply->finish_reason ? reply->finish_reason : "";
	ans.attempts = c->attempts;
	ans.prompt_tokens = c->prompt_tokens;
	ans.completion_tokens = c->completion_tokens;
	ans.cost_usd = c->cost_usd;
	ans.seconds = ima_req_elapsed(req) - c->started;
	if (ans.seconds < 0)
		ans.seconds = 0;
	ima_llm_call_done(req, c->call, &ans);
}

/* Reports a failed attempt (run_metrics.failures) and keeps its text for
 * the answer's error. The text names the status or the transport error,
 * never the key. */
static void llm_openrouter_failed(struct ima_req *req, struct llm_openrouter_call *c,
				  const char *fmt, ...) IMA_PRINTF(3, 4);

static void llm_openrouter_failed(struct ima_req *req, struct llm_openrouter_call *c,
				  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	openrouter_scrub(c->error, &c->st->keys);
	ima_llm_call_failure(req, c->call, llm_openrouter_model_id(c), c->attempts, c->error);
}

static void llm_openrouter_give_up(struct ima_req *req, struct llm_openrouter_call *c,
				   enum ima_llm_status status, const char *fmt, ...)
	IMA_PRINTF(4, 5);

static void llm_openrouter_give_up(struct ima_req *req, struct llm_openrouter_call *c,
				   enum ima_llm_status status, const char *fmt, ...)
{
	char error[448];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, sizeof(error), fmt, ap);
	va_end(ap);
	openrouter_scrub(error, &c->st->keys);
	llm_openrouter_finish(req, c, status, error, NULL);
}

static int llm_openrouter_build_body(struct ima_req *req, struct llm_openrouter_call *c)
{
	const char *ids[LLM_OPENROUTER_MAX_MODELS];
	struct openrouter_body body = {
		.model = llm_openrouter_model_id(c),
		.messages = c->ask->messages,
		.schema = c->ask->schema,
		.schema_name = c->ask->schema_name ? c->ask->schema_name : c->ask->task,
		.temperature = c->ask->temperature,
		.max_tokens = c->ask->max_tokens > 0 ? c->ask->max_tokens : (int)c->st->max_tokens,
	};
	struct ima_buf b = { 0 };

	/* Server-side fallback only makes sense with somewhere to fall. */
	if (c->st->models_param && c->nmodels > 1) {
		for (size_t i = 0; i < c->nmodels && i < LLM_OPENROUTER_MAX_MODELS; i++)
			ids[i] = c->models[i].id;
		body.models = ids;
		body.nmodels = c->nmodels < LLM_OPENROUTER_MAX_MODELS ? c->nmodels
									: LLM_OPENROUTER_MAX_MODELS;
	}
	openrouter_body_write(&b, &body);
	if (b.failed) {
		ima_buf_free(&b);
		return -1;
	}
	c->body = ima_req_strndup(req, b.data, b.len);
	c->body_len = b.len;
	ima_buf_free(&b);
	return c->body ? 0 : -1;
}

/* The model failed for good: the next one, or the end of the call. */
static void llm_openrouter_next_model(struct ima_req *req, struct llm_openrouter_call *c)
{
	if (c->st->models_param || c->model + 1 >= c->nmodels) {
		if (c->nmodels > 1)
			llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
					       "every model failed after %d attempts; last: %s",
					       c->attempts, c->error);
		else
			llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "failed after %d attempts: %s",
					       c->attempts, c->error);
		return;
	}
	c->model++;
	c->model_attempts = 0;
	c->invalid_retried = false;
	ima_metric_add(c->st->metric_fallbacks, 1);
	if (llm_openrouter_build_body(req, c) != 0) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "out of memory");
		return;
	}
	llm_openrouter_attempt(req, c, 0);
}

/* A retryable failure: again after a backoff, or the next model once this
 * one has used its attempts. */
static void llm_openrouter_retry(struct ima_req *req, struct llm_openrouter_call *c,
				 double retry_after)
{
	int64_t delay;

	if (c->model_attempts >= c->st->max_attempts) {
		llm_openrouter_next_model(req, c);
		return;
	}
	delay = openrouter_backoff_ms(c->st->backoff_base_ms, c->st->backoff_max_ms,
				      c->model_attempts, retry_after, openrouter_random());
	ima_metric_add(c->st->metric_retries, 1);
	llm_openrouter_attempt(req, c, delay);
}

static void llm_openrouter_answered(struct ima_req *req, struct llm_openrouter_call *c,
				    const struct ima_http_response *resp)
{
	struct openrouter_reply reply;
	enum openrouter_parse rc;

	rc = openrouter_reply_parse(resp->body, resp->body_len, &reply);
	/* Tokens are paid for whatever became of the answer. */
	if (reply.prompt_tokens > 0)
		c->prompt_tokens += reply.prompt_tokens;
	if (reply.completion_tokens > 0)
		c->completion_tokens += reply.completion_tokens;
	if (reply.cost >= 0)
		c->cost_usd += reply.cost;
	else
		c->cost_usd += llm_openrouter_price(c, reply.model,
						    reply.prompt_tokens > 0 ? reply.prompt_tokens : 0,
						    reply.completion_tokens > 0 ? reply.completion_tokens : 0);
	switch (rc) {
	case OPENROUTER_PARSE_OK:
		if (c->st->models_param && reply.model != NULL && c->nmodels > 1 &&
		    strcmp(reply.model, c->models[0].id) != 0)
			ima_metric_add(c->st->metric_fallbacks, 1);
		llm_openrouter_finish(req, c, IMA_LLM_OK, "", &reply);
		break;
	case OPENROUTER_PARSE_ERROR:
		llm_openrouter_failed(req, c, "HTTP %ld: %s", resp->status, reply.why);
		if (reply.error_code >= 400 &&
		    openrouter_classify_status(reply.error_code, resp->body,
					       llm_openrouter_model_id(c)) == OPENROUTER_FAIL)
			llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "%s", c->error);
		else
			llm_openrouter_retry(req, c, resp->retry_after);
		break;
	case OPENROUTER_PARSE_MALFORMED:
	case OPENROUTER_PARSE_NO_CONTENT:
		llm_openrouter_failed(req, c, "HTTP %ld: %s", resp->status, reply.why);
		/* Once: a broken answer is more often the endpoint's hiccup than
		 * a pattern, but paying twice for nothing is enough. */
		if (!c->invalid_retried && c->model_attempts < c->st->max_attempts) {
			c->invalid_retried = true;
			llm_openrouter_retry(req, c, -1);
		} else {
			llm_openrouter_give_up(req, c, IMA_LLM_INVALID, "%s", c->error);
		}
		break;
	}
	openrouter_reply_free(&reply);
}

static void llm_openrouter_http_done(struct ima_req *req, const struct ima_http_response *resp,
				     void *arg)
{
	struct llm_openrouter_call *c = arg;
	char msg[200];

	switch (resp->result) {
	case IMA_HTTP_DEADLINE:
		llm_openrouter_failed(req, c, "request deadline passed");
		llm_openrouter_give_up(req, c, IMA_LLM_DEADLINE,
				       "the request's deadline passed (attempt %d)", c->attempts);
		return;
	case IMA_HTTP_CANCELLED:
		llm_openrouter_give_up(req, c, IMA_LLM_CANCELLED, "cancelled: the pipeline ended");
		return;
	case IMA_HTTP_FAILED:
		llm_openrouter_failed(req, c, "not started: %s", resp->error);
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "%s", c->error);
		return;
	case IMA_HTTP_TOO_LARGE:
		llm_openrouter_failed(req, c, "response larger than max_response_bytes (%lld)",
				      (long long)c->st->max_response_bytes);
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "%s", c->error);
		return;
	case IMA_HTTP_CONNECT:
	case IMA_HTTP_TIMEOUT:
	case IMA_HTTP_TRANSPORT:
		llm_openrouter_failed(req, c, "%s: %s",
				      resp->result == IMA_HTTP_CONNECT ? "connect"
				      : resp->result == IMA_HTTP_TIMEOUT ? "timeout" : "transport",
				      resp->error);
		llm_openrouter_retry(req, c, -1);
		return;
	case IMA_HTTP_OK:
		break;
	}

	switch (openrouter_classify_status(resp->status, resp->body, llm_openrouter_model_id(c))) {
	case OPENROUTER_DONE:
		llm_openrouter_answered(req, c, resp);
		return;
	case OPENROUTER_RETRY:
		openrouter_error_message(resp->body, resp->body_len, &c->st->keys, msg, sizeof(msg));
		llm_openrouter_failed(req, c, "HTTP %ld%s%s", resp->status, msg[0] ? ": " : "", msg);
		llm_openrouter_retry(req, c, resp->retry_after);
		return;
	case OPENROUTER_NEXT_KEY:
		/* The server's text about a refused key may quote the key: not
		 * shown at all. */
		openrouter_keys_set_aside(&c->st->keys, (size_t)c->key, ima_now_ms(),
					  c->st->key_cooldown_ms);
		ima_metric_add(c->st->metric_aside, 1);
		c->keys_refused |= 1u << c->key;
		llm_openrouter_failed(req, c, "HTTP %ld: key %d of %s refused, set aside for %lld ms",
				      resp->status, c->key + 1, c->st->key_env,
				      (long long)c->st->key_cooldown_ms);
		c->model_attempts--;
		llm_openrouter_attempt(req, c, 0);
		return;
	case OPENROUTER_NEXT_MODEL:
		openrouter_error_message(resp->body, resp->body_len, &c->st->keys, msg, sizeof(msg));
		llm_openrouter_failed(req, c, "HTTP %ld%s%s", resp->status, msg[0] ? ": " : "", msg);
		llm_openrouter_next_model(req, c);
		return;
	case OPENROUTER_FAIL:
		openrouter_error_message(resp->body, resp->body_len, &c->st->keys, msg, sizeof(msg));
		llm_openrouter_failed(req, c, "HTTP %ld%s%s", resp->status, msg[0] ? ": " : "", msg);
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "%s", c->error);
		return;
	}
}

/* One POST, after delay_ms, if the call's time and the request's deadline
 * leave room for it and a key is free. */
static void llm_openrouter_attempt(struct ima_req *req, struct llm_openrouter_call *c,
				   int64_t delay_ms)
{
	struct llm_openrouter *st = c->st;
	double deadline_ms = ima_req_deadline_left(req) * 1000.0;
	double call_ms = (double)st->call_timeout_ms - (ima_req_elapsed(req) - c->started) * 1000.0;
	double left_ms = deadline_ms < call_ms ? deadline_ms : call_ms;
	const char *headers[7];
	struct ima_http_request hr;
	size_t nh = 0, alen;
	char *auth;
	int key;

	if (deadline_ms <= 0) {
		llm_openrouter_give_up(req, c, IMA_LLM_DEADLINE,
				       "the request's deadline passed after %d attempts%s%s",
				       c->attempts, c->attempts ? "; last: " : "", c->error);
		return;
	}
	if ((double)delay_ms + 1.0 > left_ms) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
				       "a retry in %lld ms would pass %s after %d attempts; last: %s",
				       (long long)delay_ms,
				       deadline_ms < call_ms ? "the request's deadline" : "call_timeout_ms",
				       c->attempts, c->error);
		return;
	}
	key = openrouter_keys_pick(&st->keys, ima_now_ms(), c->keys_refused);
	if (key < 0) {
		/* Keys are not per model: no other model can be asked either. */
		if (c->attempts == 0)
			llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
					       "every API key of %s is set aside after 401/402/403",
					       st->key_env);
		else
			llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
					       "every API key of %s is set aside after 401/402/403; last: %s",
					       st->key_env, c->error);
		return;
	}
	alen = sizeof("Authorization: Bearer ") + strlen(st->keys.key[key]);
	auth = ima_req_alloc(req, alen);
	if (auth == NULL) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "out of memory");
		return;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", st->keys.key[key]);
	headers[nh++] = auth;
	headers[nh++] = "Content-Type: application/json";
	headers[nh++] = "Accept: application/json";
	if (st->referer_header)
		headers[nh++] = st->referer_header;
	if (st->title_header)
		headers[nh++] = st->title_header;
	headers[nh] = NULL;

	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = st->url;
	hr.headers = headers;
	hr.body = c->body;
	hr.body_len = c->body_len;
	hr.connect_timeout_ms = (long)st->connect_timeout_ms;
	/* Never past the call's own time. */
	hr.timeout_ms = (long)st->attempt_timeout_ms;
	if ((double)hr.timeout_ms > left_ms - (double)delay_ms)
		hr.timeout_ms = (long)(left_ms - (double)delay_ms);
	if (hr.timeout_ms < 1)
		hr.timeout_ms = 1;
	hr.delay_ms = (long)delay_ms;
	hr.max_response_bytes = (size_t)st->max_response_bytes;
	c->key = key;
	c->attempts++;
	c->model_attempts++;
	if (ima_http_submit(req, &hr, llm_openrouter_http_done, c) != 0) {
		c->attempts--;
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
				       "could not start the HTTP call (out of memory)");
	}
}

static int llm_openrouter_submit(struct ima_req *req, void *state, struct ima_llm_call *call)
{
	struct llm_openrouter *st = state;
	struct llm_openrouter_call *c = ima_req_alloc(req, sizeof(*c));
	const struct ima_llm_ask *ask = ima_llm_call_ask(call);

	if (c == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->call = call;
	c->ask = ask;
	c->started = ima_req_elapsed(req);
	if (ask->nmodels > 0 && ask->models != NULL) {
		c->models = ask->models;
		c->nmodels = ask->nmodels;
	} else if (st->nmodels > 0) {
		struct ima_llm_model *m = ima_req_alloc(req, st->nmodels * sizeof(*m));

		if (m == NULL)
			return -1;
		for (size_t i = 0; i < st->nmodels; i++) {
			m[i].id = st->model[i];
			m[i].price_in = 0;
			m[i].price_out = 0;
		}
		c->models = m;
		c->nmodels = st->nmodels;
	}
	if (st->keys.count == 0) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "no API key: set %s", st->key_env);
		return 0;
	}
	if (c->nmodels == 0) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED,
				       "no model: the ask names none and stage %s has no 'model' option",
				       st->stage);
		return 0;
	}
	if (llm_openrouter_build_body(req, c) != 0) {
		llm_openrouter_give_up(req, c, IMA_LLM_FAILED, "out of memory");
		return 0;
	}
	llm_openrouter_attempt(req, c, 0);
	return 0;
}

/* A provider stage has nothing to do in the pipeline itself. */
static enum ima_rc llm_openrouter_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

/* /health: the keys, without the network. No usable key degrades (the
 * LLM stages fall back), it does not take the service down. */
static int llm_openrouter_health(void *state, msgpack_packer *out)
{
	struct llm_openrouter *st = state;
	size_t aside = openrouter_keys_aside(&st->keys, ima_now_ms());
	char detail[160];
	bool usable = st->keys.count > aside;

	if (st->keys.count == 0)
		snprintf(detail, sizeof(detail), "no API key: set %s", st->key_env);
	else
		snprintf(detail, sizeof(detail), "%zu API keys, %zu set aside after 401/402/403",
			 st->keys.count, aside);
	msgpack_pack_map(out, 6);
	ima_pack_cstr(out, "name");
	ima_pack_cstr(out, "llm_keys");
	ima_pack_cstr(out, "stage");
	ima_pack_cstr(out, st->stage);
	ima_pack_cstr(out, "status");
	ima_pack_cstr(out, usable ? "ok" : "degraded");
	ima_pack_cstr(out, "detail");
	ima_pack_cstr(out, detail);
	ima_pack_cstr(out, "keys");
	msgpack_pack_uint64(out, st->keys.count);
	ima_pack_cstr(out, "keys_set_aside");
	msgpack_pack_uint64(out, aside);
	return 1;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_llm_openrouter = {
	IMA_PLUGIN_HEADER,
	.name = "llm_openrouter",
	.version = "1.0.0",
	.description = "LLM provider: OpenRouter or any OpenAI-compatible chat completions endpoint",
	.options = llm_openrouter_options,
	.init = llm_openrouter_init,
	.process = llm_openrouter_process,
	.fini = llm_openrouter_fini,
	.health = llm_openrouter_health,
	.llm_submit = llm_openrouter_submit,
};
