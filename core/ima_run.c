/*
 * ima_run.c - running one request: the raw body offered to the prefetch
 * hooks, decoding it, the dispatcher (a plain loop over the stages, finish
 * hooks in reverse), and the request's run_metrics.
 */
#include "config.h"

#include <string.h>

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
	for (size_t i = 0; i < ima_ctx_count(req->ctx); i++) {
		const char *key = ima_ctx_key(req->ctx, i, NULL, NULL);

		if (strncmp(key, "_metrics.", 9) == 0 && strcmp(key + 9, "stages") != 0 &&
		    !run_metric_contributed(req, key + 9))
			legacy++;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
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
		rc |= msgpack_sbuffer_write(&sb, data, len);
	}
	rc |= ima_pack_cstr(&pk, "stages");
	rc |= msgpack_pack_array(&pk, ran);
	for (size_t i = 0; i < req->nstages; i++) {
		if (req->stage_seconds[i] < 0)
			continue;
		rc |= msgpack_pack_map(&pk, 2);
		rc |= ima_pack_cstr(&pk, "name");
		rc |= ima_pack_cstr(&pk, eng->stages[i].conf.stage_name);
		rc |= ima_pack_cstr(&pk, "seconds");
		rc |= msgpack_pack_double(&pk, req->stage_seconds[i]);
	}
	if (rc == 0)
		rc = ima_ctx_put_sbuffer(req->ctx, "run_metrics", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int ima_engine_run(struct ima_engine *eng, struct ima_req *req)
{
	size_t ran = 0;

	ima_free(req->stage_seconds);
	req->nstages = 0;
	req->stage_seconds = ima_malloc(eng->nstages * sizeof(double));
	if (req->stage_seconds == NULL) {
		ima_req_fail(req, 500, "internal", "", "out of memory");
		return 500;
	}
	req->nstages = eng->nstages;
	for (size_t i = 0; i < eng->nstages; i++)
		req->stage_seconds[i] = -1;
	req->call_plugin = eng->call_stage ? &eng->call_stage->plugin->desc : NULL;
	req->call_state = eng->call_stage ? eng->call_stage->state : NULL;

	/* The dispatcher is a plain loop; finish hooks run onion-style. */
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		double t0 = ima_req_elapsed(req);
		enum ima_rc rc = st->plugin->desc.process(req, st->state);

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

		if (st->plugin->desc.prefetch == NULL)
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

