/*
 * ima_run.c - running one request: the auth stages alone for a route
 * without a body (and the scope it needs), the raw body offered to the
 * prefetch hooks, decoding it, the dispatcher (a plain loop over the
 * stages, finish hooks in reverse), and the request's run_metrics.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ima_calls_private.h"
#include "ima_engine_private.h"

/* A run_metrics key contributed through the API wins over the same name
 * put in the context by a 1.1 or 1.2 plugin. */
static bool run_metric_contributed(const struct ima_req *req, const char *key)
{
	for (size_t i = 0; i < req->nmetrics; i++)
		if (strcmp(req->metrics[i].key, key) == 0)
			return true;
	return false;
}

static int run_pack_stage(msgpack_packer *pk, const char *name, double seconds)
{
	int rc = msgpack_pack_map(pk, 2);

	rc |= ima_pack_cstr(pk, "name");
	rc |= ima_pack_cstr(pk, name);
	rc |= ima_pack_cstr(pk, "seconds");
	rc |= msgpack_pack_double(pk, seconds);
	return rc;
}

/*
 * run_metrics: what the stages contributed (ima_req_metric_*, and the
 * "_metrics.<name>" context keys of older plugins), then the seconds of
 * each stage that ran. The core adds nothing it does not know itself.
 */
int ima_run_metrics_pack(struct ima_engine *eng, struct ima_req *req)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t ran = 0, legacy = 0;
	int rc = 0;

	for (size_t i = 0; i < req->nstages; i++)
		if (req->stage_seconds[i] >= 0)
			ran++;
	for (size_t i = 0; req->join_seconds != NULL && i <= req->nstages; i++)
		if (req->join_seconds[i] >= 0)
			ran++;
	for (size_t i = 0; i < ima_ctx_count(req->ctx); i++) {
		const char *key = ima_ctx_key(req->ctx, i, NULL, NULL);

		if (strncmp(key, "_metrics.", 9) == 0 && strcmp(key + 9, "stages") != 0 &&
		    !run_metric_contributed(req, key + 9))
			legacy++;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	rc |= msgpack_pack_map(&pk, req->nmetrics + legacy + 1);
	for (size_t i = 0; i < req->nmetrics; i++) {
		rc |= ima_pack_cstr(&pk, req->metrics[i].key);
		rc |= ima_req_metric_pack(&req->metrics[i], &pk);
	}
	for (size_t i = 0; i < ima_ctx_count(req->ctx); i++) {
		const void *data;
		size_t len;
		const char *key = ima_ctx_key(req->ctx, i, &data, &len);

		if (strncmp(key, "_metrics.", 9) != 0 || strcmp(key + 9, "stages") == 0 ||
		    run_metric_contributed(req, key + 9))
			continue;
		rc |= ima_pack_cstr(&pk, key + 9);
		rc |= ima_sbuffer_write(&sb, data, len);
	}
	rc |= ima_pack_cstr(&pk, "stages");
	rc |= msgpack_pack_array(&pk, ran);
	for (size_t i = 0; i <= req->nstages; i++) {
		if (req->join_seconds != NULL && req->join_seconds[i] >= 0)
			rc |= run_pack_stage(&pk, "join", req->join_seconds[i]);
		if (i < req->nstages && req->stage_seconds[i] >= 0)
			rc |= run_pack_stage(&pk, eng->stages[i].conf.stage_name,
					     req->stage_seconds[i]);
	}
	if (rc == 0)
		rc = ima_ctx_put_sbuffer(req->ctx, "run_metrics", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Waits for the calls submitted so far; the time goes into the stages. */
static void run_join(struct ima_req *req, size_t at)
{
	double t0 = ima_req_elapsed(req);

	if (req->calls == NULL)
		return;
	ima_join(req);
	req->join_seconds[at] = ima_req_elapsed(req) - t0;
}

/* The LLM calls' full price, made or reused, for the cache's figures of
 * cost saved: written unless a stage wrote its own. */
static void run_cost(struct ima_req *req)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	double cost;

	if (!ima_calls_llm_cost(req, &cost) || ima_ctx_get(req->ctx, "_cost_usd") != NULL)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	/* Without it a cache would keep the answer as one that cost nothing. */
	if ((msgpack_pack_double(&pk, cost) != 0 ||
	     ima_ctx_put_sbuffer(req->ctx, "_cost_usd", &sb) != 0) && !req->has_error)
		ima_req_fail(req, 500, "internal", "", "out of memory");
	msgpack_sbuffer_destroy(&sb);
}

/* Per-request arrays and the pipeline's call cache and provider. */
static int run_setup(struct ima_engine *eng, struct ima_req *req)
{
	ima_free(req->stage_seconds);
	ima_free(req->join_seconds);
	req->nstages = 0;
	req->stage_seconds = ima_malloc((eng->nstages + 1) * sizeof(double));
	req->join_seconds = ima_malloc((eng->nstages + 1) * sizeof(double));
	if (req->stage_seconds == NULL || req->join_seconds == NULL)
		return -1;
	req->nstages = eng->nstages;
	for (size_t i = 0; i <= eng->nstages; i++)
		req->stage_seconds[i] = req->join_seconds[i] = -1;
	req->call_plugin = eng->call_stage ? &eng->call_stage->plugin->desc : NULL;
	req->call_state = eng->call_stage ? eng->call_stage->state : NULL;
	req->llm_plugin = eng->llm_stage ? &eng->llm_stage->plugin->desc : NULL;
	req->llm_state = eng->llm_stage ? eng->llm_stage->state : NULL;
	req->llm_name = eng->llm_stage ? eng->llm_stage->plugin->desc.name : NULL;
	req->llm_flags = eng->llm_stage ? eng->llm_stage->plugin->desc.flags : 0;
	req->deadline_ms = eng->deadline_ms;
	return 0;
}

int ima_engine_run(struct ima_engine *eng, struct ima_req *req)
{
	size_t ran = 0;
	enum ima_rc last = IMA_CONTINUE;

	if (run_setup(eng, req) != 0) {
		ima_req_fail(req, 500, "internal", "", "out of memory");
		return 500;
	}

	/* The dispatcher is a plain loop; finish hooks run onion-style. */
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		double t0;
		enum ima_rc rc;

		if (eng->join_before[i])
			run_join(req, i);
		t0 = ima_req_elapsed(req);
		rc = st->plugin->desc.process(req, st->state);
		last = rc;

		req->stage_seconds[i] = ima_req_elapsed(req) - t0;
		ran = i + 1;
		if (rc == IMA_CONTINUE)
			continue;
		if (rc == IMA_ERROR && !req->has_error)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s failed without saying why",
				     st->conf.stage_name);
		if (rc != IMA_DONE && rc != IMA_ERROR)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s returned unknown code %d",
				     st->conf.stage_name, (int)rc);
		break;
	}
	/* No call outlives its request: an answer that is complete (or
	 * failed) cancels what is left; otherwise the last join waits. */
	if (last != IMA_CONTINUE && req->calls != NULL)
		ima_calls_cancel(req, IMA_HTTP_CANCELLED);
	else
		run_join(req, eng->nstages);
	run_cost(req);
	for (size_t i = ran; i-- > 0;) {
		struct ima_stage *st = &eng->stages[i];

		if (st->plugin->desc.finish != NULL)
			st->plugin->desc.finish(req, st->state);
	}
	if (!req->has_error && ima_ctx_get(req->ctx, "run_metrics") == NULL &&
	    ima_run_metrics_pack(eng, req) != 0)
		ima_req_fail(req, 500, "internal", "", "out of memory");
	return req->has_error ? req->error.status : 200;
}

/* ---- authentication without a body ------------------------------------ */

/* RFC 6750 scope-token characters: the scope can be quoted in a challenge. */
static bool run_scope_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

static bool run_has_scope(struct ima_ctx *ctx, const char *scope)
{
	const msgpack_object *v = ima_ctx_get(ctx, "_auth.scopes");
	size_t n = strlen(scope);

	for (uint32_t i = 0; v != NULL && v->type == MSGPACK_OBJECT_ARRAY &&
			     i < v->via.array.size; i++) {
		const msgpack_object *e = &v->via.array.ptr[i];

		if (e->type == MSGPACK_OBJECT_STR && e->via.str.size == n &&
		    memcmp(e->via.str.ptr, scope, n) == 0)
			return true;
	}
	return false;
}

/* "Bearer realm=..." names the scheme whose RFC 6750 challenges apply. */
static bool run_is_bearer(const struct ima_plugin *p)
{
	return p != NULL && p->challenge != NULL && strncasecmp(p->challenge, "Bearer", 6) == 0 &&
	       (p->challenge[6] == '\0' || p->challenge[6] == ' ');
}

int ima_engine_authenticate(struct ima_engine *eng, struct ima_req *req,
			    const char *scope)
{
	const char *user;
	size_t ulen;

	if (!req->auth_done) {
		req->auth_done = true;
		for (size_t i = 0; i < eng->nstages; i++) {
			const struct ima_stage *st = &eng->stages[i];
			enum ima_rc rc;

			if (!(st->plugin->desc.flags & IMA_PLUGIN_AUTH))
				continue;
			rc = st->plugin->desc.prefetch(req, st->state, NULL, 0, (int)IMA_FMT_JSON);
			if (rc == IMA_DONE && !req->has_error)
				ima_req_fail(req, 500, "stage_failed", "",
					     "auth stage %s answered a request it was only to authenticate",
					     st->conf.stage_name);
			else if (rc != IMA_CONTINUE && !req->has_error)
				ima_req_fail(req, 500, "stage_failed", "",
					     "auth stage %s failed without saying why", st->conf.stage_name);
			if (req->has_error)
				return req->error.status;
			if (req->auth_by == NULL && ima_ctx_get(req->ctx, "_auth") != NULL)
				req->auth_by = &st->plugin->desc;
		}
	}
	if (scope == NULL)
		return 0;
	if (ima_engine_auth_stages(eng) == 0) {
		ima_req_fail(req, 403, "no_auth_stage", "",
			     "this pipeline has no auth stage, so no caller can be identified");
		return 403;
	}
	if (ima_ctx_get_str(req->ctx, "_auth.user", &user, &ulen) != 0 || ulen == 0) {
		/* Every credential the pipeline takes is one the client may try. */
		for (size_t i = 0; i < eng->nstages; i++) {
			const struct ima_plugin *p = &eng->stages[i].plugin->desc;

			if ((p->flags & IMA_PLUGIN_AUTH) && p->challenge != NULL)
				ima_req_add_header(req, "WWW-Authenticate", p->challenge);
		}
		ima_req_fail(req, 401, "missing_credential", "",
			     "this route needs a credential, and none was given");
		return 401;
	}
	if (scope[0] != '\0' && !run_has_scope(req->ctx, scope)) {
		bool token = run_scope_token(scope);

		if (token && run_is_bearer(req->auth_by)) {
			char challenge[160];

			snprintf(challenge, sizeof(challenge),
				 "Bearer error=\"insufficient_scope\", scope=\"%s\"", scope);
			ima_req_add_header(req, "WWW-Authenticate", challenge);
		}
		ima_req_fail(req, 403, "insufficient_scope", "scope",
			     "this route needs the scope '%s', which the caller does not have",
			     token ? scope : "?");
		return 403;
	}
	return 0;
}

/*
 * Offers the raw body to the stages' prefetch hooks. Returns 0 to go on, or
 * the HTTP status when a stage answered (or failed) the request.
 */
static int engine_prefetch(struct ima_engine *eng, struct ima_req *req,
			       const char *body, size_t len, enum ima_format in_fmt)
{
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		enum ima_rc rc;

		if (st->plugin->desc.prefetch == NULL ||
		    (req->auth_done && (st->plugin->desc.flags & IMA_PLUGIN_AUTH)))
			continue;
		rc = st->plugin->desc.prefetch(req, st->state, body, len, (int)in_fmt);
		if (rc == IMA_CONTINUE)
			continue;
		if (rc == IMA_DONE && req->prerendered == NULL)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s answered without an answer", st->conf.stage_name);
		if (req->has_error)
			return req->error.status;
		ima_free(req->stage_seconds);
		req->stage_seconds = ima_calloc(eng->nstages ? eng->nstages : 1, sizeof(double));
		req->nstages = req->stage_seconds ? eng->nstages : 0;
		for (size_t k = 0; k < req->nstages; k++)
			req->stage_seconds[k] = -1;
		if (ima_run_metrics_pack(eng, req) != 0) {
			ima_req_fail(req, 500, "internal", "", "out of memory");
			return 500;
		}
		return 200;
	}
	return 0;
}

int ima_engine_handle(struct ima_engine *eng, struct ima_req *req,
		      const char *body, size_t len, enum ima_format in_fmt)
{
	msgpack_sbuffer sb;
	struct ima_error err;
	int rc;

	if (len <= eng->limits.max_body_bytes) {
		int done = engine_prefetch(eng, req, body, len, in_fmt);

		if (done != 0)
			return done;
	}
	msgpack_sbuffer_init(&sb);
	if (ima_body_decode(body, len, in_fmt, &eng->limits, &sb, &err) != 0) {
		msgpack_sbuffer_destroy(&sb);
		ima_req_set_error(req, &err);
		return err.status;
	}
	rc = ima_ctx_put_sbuffer(req->ctx, "_request", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0) {
		ima_req_fail(req, 500, "internal", "", "out of memory");
		return 500;
	}
	return ima_engine_run(eng, req);
}

