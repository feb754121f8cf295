/*
 * gap_llm - the gap analysis written by an LLM: the deterministic analysis
 * (matched and missing skills, implied ones, years and level against the
 * ad's) and the two texts go into a versioned prompt (data/prompts/), the
 * answer must satisfy the prompt's JSON Schema, and it is added to
 * gap_analysis as the member "llm". The deterministic lists stay as they
 * are: they remain the source of truth, and gap_analysis.sources says
 * which member came from where.
 *
 * The call is submitted and the stage returns at once, so later LLM stages
 * overlap with it; its answer is written by the next join (a "join" entry
 * in the pipeline, or the core's own before the finish hooks). An answer
 * that breaks the schema gets one repair request; when every call failed
 * the offline analysis (llm_offline_tasks) is used instead and the answer
 * is marked degraded.
 *
 * Needs the gap stage before it, and an LLM provider stage in the
 * pipeline (llm_openrouter, or llm_offline).
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_offline_tasks.h"
#include "llm_plan.h"
#include "llm_prompt.h"

struct gap_llm_state {
	struct llm_prompt *prompt;
	char *task;
	char *stage;
	double temperature;
	int max_tokens;
	bool repair;
};

/* One request's call, in request memory. */
struct gap_llm_call {
	const struct gap_llm_state *st;
	const char *user; /* the rendered user message */
	size_t ulen;
	bool repairing;
};

static const struct ima_option gap_llm_options[] = {
	{ "prompt", IMA_OPT_STRING, "prompts/gap.v1.json",
	  "prompt file (a data file): version, temperature, system, user template, answer schema", 0 },
	{ "prompt_version", IMA_OPT_STRING, "gap.v1",
	  "the version the prompt file must state: in the pipeline fingerprint, so answers cached under another prompt are never served", 0 },
	{ "temperature", IMA_OPT_DOUBLE, "-1", "sampling temperature 0-2; -1: the prompt file's", 0 },
	{ "max_tokens", IMA_OPT_INT, "0",
	  "completion token limit; 0: the prompt file's, else the provider's default", 0 },
	{ "task", IMA_OPT_STRING, "gap",
	  "task name: run_metrics.calls, the model plan and the offline answer", 0 },
	{ "repair", IMA_OPT_BOOL, "true",
	  "ask once more, with the validation error, when an answer breaks the schema", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* Placeholders a gap prompt may use; resume and job_ad it must. */
static const char *const gap_llm_known[] = {
	"resume", "job_ad", "job_title", "domain_insights", "required_skills",
	"preferred_skills", "matched", "matched_preferred", "implied",
	"missing_required", "missing_preferred", "inferred", "candidate_years",
	"candidate_level", "required_years", "required_level", "alignment_score",
	"creativity_mode", NULL
};
static const char *const gap_llm_required[] = { "resume", "job_ad", NULL };

static void gap_llm_fini(void *state)
{
	struct gap_llm_state *st = state;

	if (st == NULL)
		return;
	llm_prompt_free(st->prompt);
	ima_free(st->task);
	ima_free(st->stage);
	ima_free(st);
}

static int gap_llm_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	struct gap_llm_state *st = ima_calloc(1, sizeof(*st));
	double temp = ima_conf_double(conf, "temperature");
	int64_t max_tokens = ima_conf_int(conf, "max_tokens");
	char why[600];

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->task = ima_strdup(ima_conf_string(conf, "task"));
	st->stage = ima_strdup(ima_conf_stage_name(conf));
	st->repair = ima_conf_bool(conf, "repair") != 0;
	if (st->task == NULL || st->stage == NULL) {
		gap_llm_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	if (!llm_offline_has(st->task)) {
		ima_error_set(err, 500, "config", "task",
			      "task '%s' has no offline answer to fall back to (known: %s)", st->task,
			      llm_offline_names());
		gap_llm_fini(st);
		return -1;
	}
	if (!(temp == -1 || (temp >= 0 && temp <= 2)) || max_tokens < 0 || max_tokens > 1000000) {
		ima_error_set(err, 500, "config", temp == -1 || (temp >= 0 && temp <= 2) ? "max_tokens" : "temperature",
			      "temperature must be from 0 to 2 (or -1), max_tokens from 0 to 1000000");
		gap_llm_fini(st);
		return -1;
	}
	st->prompt = llm_prompt_load(ima_conf_string(conf, "prompt"), gap_llm_known,
				     gap_llm_required, why, sizeof(why));
	if (st->prompt == NULL) {
		ima_error_set(err, 500, "config", "prompt", "%s", why);
		gap_llm_fini(st);
		return -1;
	}
	/* The fingerprint holds the options, not the file: the version the
	 * file states must be the one the configuration names. */
	if (strcmp(st->prompt->version, ima_conf_string(conf, "prompt_version")) != 0) {
		ima_error_set(err, 500, "config", "prompt_version",
			      "the prompt file %s is version '%s' but option prompt_version is '%s': set prompt_version to the file's version",
			      ima_conf_string(conf, "prompt"), st->prompt->version,
			      ima_conf_string(conf, "prompt_version"));
		gap_llm_fini(st);
		return -1;
	}
	st->temperature = temp >= 0 ? temp : st->prompt->temperature;
	st->max_tokens = max_tokens > 0 ? (int)max_tokens : st->prompt->max_tokens;
	*state = st;
	return 0;
}

/* ---- the prompt's values ---- */

/* Strings of a list (or the key member of its maps), ", "-separated;
 * "none" for an empty list. */
static void gap_llm_list(struct llm_text *t, const msgpack_object *arr, const char *key)
{
	size_t n = 0;

	for (uint32_t i = 0; arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size; i++) {
		const char *s;
		size_t sn;

		if (!anautil_elem_str(arr, i, key, &s, &sn))
			continue;
		if (n++ > 0)
			llm_text_append(t, ", ", 2);
		llm_text_append(t, s, sn);
	}
	if (n == 0)
		llm_text_append(t, "none", 4);
}

/* Implied skills with what implies them: "Infrastructure as code (from
 * Terraform)". */
static void gap_llm_implied(struct llm_text *t, const msgpack_object *arr)
{
	size_t n = 0;

	for (uint32_t i = 0; arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size; i++) {
		const msgpack_object *e = &arr->via.array.ptr[i];
		const char *s;
		size_t sn;

		if (!anautil_str(anautil_map_get(e, "skill"), &s, &sn) || sn == 0)
			continue;
		if (n++ > 0)
			llm_text_append(t, ", ", 2);
		llm_text_append(t, s, sn);
		llm_text_append(t, " (from ", 7);
		gap_llm_list(t, anautil_map_get(e, "implied_by"), NULL);
		llm_text_append(t, ")", 1);
	}
	if (n == 0)
		llm_text_append(t, "none", 4);
}

/* The market service's insights, one "name: value" line each; nested maps
 * are flattened one level ("insights.gaps: ..."). */
static void gap_llm_insights(struct llm_text *t, const msgpack_object *o, const char *prefix,
			     int depth)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
		if (depth == 0)
			llm_text_append(t, "none", 4);
		return;
	}
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		const char *s;
		size_t sn;
		double d;

		if (!anautil_str(k, &s, &sn))
			continue;
		if (v->type == MSGPACK_OBJECT_MAP) {
			char sub[64];

			if (depth < 1) {
				snprintf(sub, sizeof(sub), "%s%.*s.", prefix, (int)(sn < 40 ? sn : 40), s);
				gap_llm_insights(t, v, sub, depth + 1);
			}
			continue;
		}
		if (t->len > 0)
			llm_text_append(t, "\n", 1);
		llm_text_printf(t, "%s%.*s: ", prefix, (int)sn, s);
		if (anautil_number(v, &d))
			llm_text_printf(t, "%g", d);
		else if (anautil_str(v, &s, &sn))
			llm_text_append(t, s, sn);
		else if (v->type == MSGPACK_OBJECT_ARRAY)
			gap_llm_list(t, v, NULL);
		else
			llm_text_append(t, "-", 1);
	}
}

enum {
	V_RESUME, V_JOB_AD, V_JOB_TITLE, V_INSIGHTS, V_REQUIRED, V_PREFERRED, V_MATCHED,
	V_MATCHED_PREF, V_IMPLIED, V_MISSING_REQ, V_MISSING_PREF, V_INFERRED,
	V_CAND_YEARS, V_CAND_LEVEL, V_REQ_YEARS, V_REQ_LEVEL, V_ALIGNMENT, V_CREATIVITY,
	V_COUNT
};
_Static_assert(sizeof(gap_llm_known) / sizeof(gap_llm_known[0]) == V_COUNT + 1,
	       "one placeholder name for each value, in the same order");

/*
 * Renders the user message of the request; NULL when memory ran out.
 * In request memory.
 */
static char *gap_llm_render(struct ima_req *req, const struct gap_llm_state *st,
			    size_t *len)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	struct llm_text t[V_COUNT];
	struct llm_prompt_var vars[V_COUNT];
	const char *s;
	size_t sn;
	double d;
	bool failed = false;
	char *text, *out = NULL;

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < V_COUNT; i++)
		vars[i].name = gap_llm_known[i];
	if (anautil_ctx_str(ctx, "_input.resume_text", &s, &sn) == 0)
		llm_text_append(&t[V_RESUME], s, sn);
	if (anautil_ctx_str(ctx, "_input.job_ad", &s, &sn) == 0)
		llm_text_append(&t[V_JOB_AD], s, sn);
	if (anautil_ctx_str(ctx, "_input.job_title", &s, &sn) == 0 && sn > 0)
		llm_text_append(&t[V_JOB_TITLE], s, sn);
	else
		llm_text_append(&t[V_JOB_TITLE], "(not given)", 11);
	gap_llm_insights(&t[V_INSIGHTS], ima_ctx_get(ctx, "_input.domain_insights"), "", 0);
	gap_llm_list(&t[V_REQUIRED], ima_ctx_get(ctx, "job_requirements.skills_required"), NULL);
	gap_llm_list(&t[V_PREFERRED], ima_ctx_get(ctx, "job_requirements.skills_preferred"), NULL);
	gap_llm_list(&t[V_MATCHED], anautil_map_get(gap, "matched"), NULL);
	gap_llm_list(&t[V_MATCHED_PREF], anautil_map_get(gap, "matched_preferred"), NULL);
	gap_llm_implied(&t[V_IMPLIED], anautil_map_get(gap, "implied"));
	gap_llm_list(&t[V_MISSING_REQ], anautil_map_get(gap, "critical_gaps"), "skill");
	gap_llm_list(&t[V_MISSING_PREF], anautil_map_get(gap, "nice_to_have_gaps"), NULL);
	gap_llm_list(&t[V_INFERRED], ima_ctx_get(ctx, "processed_skills.inferred_skills"), "skill");
	if (anautil_number(ima_ctx_get(ctx, "seniority_analysis.total_years_experience"), &d))
		llm_text_printf(&t[V_CAND_YEARS], "%.1f", d);
	else
		llm_text_append(&t[V_CAND_YEARS], "unknown", 7);
	if (anautil_ctx_str(ctx, "seniority_analysis.level", &s, &sn) == 0)
		llm_text_append(&t[V_CAND_LEVEL], s, sn);
	else
		llm_text_append(&t[V_CAND_LEVEL], "unknown", 7);
	if (anautil_number(ima_ctx_get(ctx, "job_requirements.min_years"), &d))
		llm_text_printf(&t[V_REQ_YEARS], "%.0f", d);
	else
		llm_text_append(&t[V_REQ_YEARS], "no stated number of", 19);
	if (anautil_ctx_str(ctx, "job_requirements.seniority", &s, &sn) == 0)
		llm_text_append(&t[V_REQ_LEVEL], s, sn);
	else
		llm_text_append(&t[V_REQ_LEVEL], "no stated", 9);
	if (anautil_number(anautil_map_get(gap, "alignment_score"), &d))
		llm_text_printf(&t[V_ALIGNMENT], "%.2f", d);
	else
		llm_text_append(&t[V_ALIGNMENT], "none (no recognised skill in the ad)", 36);
	if (anautil_ctx_str(ctx, "_input.creativity_mode", &s, &sn) == 0)
		llm_text_append(&t[V_CREATIVITY], s, sn);
	else
		llm_text_append(&t[V_CREATIVITY], "balanced", 8);

	for (size_t i = 0; i < V_COUNT; i++) {
		vars[i].value = llm_text_str(&t[i]);
		vars[i].len = t[i].len;
		vars[i].delimit = i == V_RESUME || i == V_JOB_AD || i == V_JOB_TITLE || i == V_INSIGHTS;
		failed |= t[i].failed;
	}
	text = failed ? NULL : llm_prompt_render(st->prompt->user, vars, V_COUNT, len);
	for (size_t i = 0; i < V_COUNT; i++)
		llm_text_free(&t[i]);
	if (text != NULL) {
		out = ima_req_strndup(req, text, *len);
		ima_free(text);
	}
	return out;
}

/* ---- writing the answer ---- */

static bool gap_llm_reserved(const msgpack_object *k)
{
	static const char *const names[] = { "source", "provider", "model", "prompt_version", NULL };

	for (const char *const *n = names; *n; n++)
		if (anautil_str_is(k, *n))
			return true;
	return false;
}

/*
 * gap_analysis with the member "llm" = {source, provider, model,
 * prompt_version} plus the members of the answer, and "sources" saying
 * where each member came from. The rest is copied as it is.
 */
static int gap_llm_write(struct ima_req *req, const struct gap_llm_state *st,
			 const char *source, const char *provider, const char *model,
			 const msgpack_object *answer)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	uint32_t keep = 0, extra = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (gap == NULL || gap->type != MSGPACK_OBJECT_MAP || answer->type != MSGPACK_OBJECT_MAP)
		return -1;
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object *k = &gap->via.map.ptr[i].key;

		keep += !anautil_str_is(k, "llm") && !anautil_str_is(k, "sources");
	}
	for (uint32_t i = 0; i < answer->via.map.size; i++)
		extra += !gap_llm_reserved(&answer->via.map.ptr[i].key);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, keep + 2);
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object_kv *kv = &gap->via.map.ptr[i];

		if (anautil_str_is(&kv->key, "llm") || anautil_str_is(&kv->key, "sources"))
			continue;
		msgpack_pack_object(&pk, kv->key);
		msgpack_pack_object(&pk, kv->val);
	}
	anautil_pack_key(&pk, "llm");
	msgpack_pack_map(&pk, 4 + extra);
	anautil_pack_kv_str(&pk, "source", source);
	anautil_pack_kv_str(&pk, "provider", provider);
	anautil_pack_kv_str(&pk, "model", model);
	anautil_pack_kv_str(&pk, "prompt_version", st->prompt->version);
	for (uint32_t i = 0; i < answer->via.map.size; i++) {
		const msgpack_object_kv *kv = &answer->via.map.ptr[i];

		if (gap_llm_reserved(&kv->key))
			continue;
		msgpack_pack_object(&pk, kv->key);
		msgpack_pack_object(&pk, kv->val);
	}
	anautil_pack_key(&pk, "sources");
	msgpack_pack_map(&pk, keep + 1);
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object_kv *kv = &gap->via.map.ptr[i];

		if (anautil_str_is(&kv->key, "llm") || anautil_str_is(&kv->key, "sources"))
			continue;
		msgpack_pack_object(&pk, kv->key);
		ima_pack_cstr(&pk, "deterministic");
	}
	anautil_pack_kv_str(&pk, "llm", source);
	rc = ima_ctx_put_sbuffer(ctx, "gap_analysis", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Every call failed: the offline analysis, and the answer is degraded. */
static void gap_llm_fallback(struct ima_req *req, const struct gap_llm_state *st,
			     const char *what, const char *error)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	char why[256] = "", reason[400];
	size_t off = 0;

	snprintf(reason, sizeof(reason), "%s: %s%s%.200s; the offline analysis was used", st->stage,
		 what, error && error[0] ? ": " : "", error ? error : "");
	ima_req_set_degraded(req, reason);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&up);
	if (llm_offline_answer(ima_req_ctx(req), st->task, &pk, why, sizeof(why)) != 0 ||
	    msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
	    gap_llm_write(req, st, "offline", "offline", "offline", &up.data) != 0)
		ima_log(IMA_LOG_WARN, "%s: no offline analysis either: %s", st->stage,
			why[0] ? why : "out of memory");
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- the call ---- */

static void gap_llm_done(struct ima_req *req, const struct ima_llm_answer *ans, void *arg);

/*
 * The messages: system, user, and for a repair the invalid answer and a
 * request to correct it. The ask is copied by ima_llm_submit, so the
 * packed messages live only for the call.
 */
static int gap_llm_submit(struct ima_req *req, struct gap_llm_call *call,
			  const struct ima_llm_answer *bad)
{
	const struct gap_llm_state *st = call->st;
	const struct ima_llm_model *models;
	struct ima_llm_ask ask;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	size_t nmodels, off = 0;
	int rc = -1;

	if (llm_plan_models(req, st->task, &models, &nmodels) != 0)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&up);
	msgpack_pack_array(&pk, bad != NULL ? 4 : 2);
	msgpack_pack_map(&pk, 2);
	anautil_pack_kv_str(&pk, "role", "system");
	anautil_pack_kv_str(&pk, "content", st->prompt->system);
	msgpack_pack_map(&pk, 2);
	anautil_pack_kv_str(&pk, "role", "user");
	anautil_pack_kv_strn(&pk, "content", call->user, call->ulen);
	if (bad != NULL) {
		char fix[600];

		msgpack_pack_map(&pk, 2);
		anautil_pack_kv_str(&pk, "role", "assistant");
		anautil_pack_kv_strn(&pk, "content", bad->text ? bad->text : "",
				     bad->text ? bad->text_len : 0);
		snprintf(fix, sizeof(fix),
			 "Your answer is not valid: %.400s. Reply with the corrected JSON object only, "
			 "matching the schema: no prose, no markdown fences.",
			 bad->error && bad->error[0] ? bad->error : "it does not match the schema");
		msgpack_pack_map(&pk, 2);
		anautil_pack_kv_str(&pk, "role", "user");
		anautil_pack_kv_str(&pk, "content", fix);
	}
	if (msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
		memset(&ask, 0, sizeof(ask));
		ask.task = st->task;
		ask.messages = &up.data;
		ask.schema = st->prompt->schema;
		ask.schema_name = "gap_analysis";
		ask.models = models;
		ask.nmodels = nmodels;
		ask.temperature = st->temperature;
		ask.max_tokens = st->max_tokens;
		ask.prompt_version = st->prompt->version;
		rc = ima_llm_submit(req, &ask, gap_llm_done, call);
	}
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static const char *gap_llm_status_name(enum ima_llm_status s)
{
	switch (s) {
	case IMA_LLM_OK: return "ok";
	case IMA_LLM_INVALID: return "invalid answer";
	case IMA_LLM_FAILED: return "failed";
	case IMA_LLM_DEADLINE: return "deadline passed";
	case IMA_LLM_CANCELLED: return "cancelled";
	}
	return "failed";
}

static void gap_llm_done(struct ima_req *req, const struct ima_llm_answer *ans, void *arg)
{
	struct gap_llm_call *call = arg;
	const struct gap_llm_state *st = call->st;
	const char *provider = ans->provider ? ans->provider : "";
	const char *model = ans->model_used && ans->model_used[0] ? ans->model_used :
			    ans->model_requested ? ans->model_requested : "";

	/* The pipeline ended first: nobody reads the answer any more. */
	if (ans->status == IMA_LLM_CANCELLED)
		return;
	if (ans->status == IMA_LLM_OK && ans->json != NULL && ans->json->type == MSGPACK_OBJECT_MAP) {
		/* The offline provider's answers are the offline analysis:
		 * say so, though nothing failed. */
		if (gap_llm_write(req, st, strcmp(provider, "offline") == 0 ? "offline" : "llm",
				  provider, model, ans->json) != 0)
			gap_llm_fallback(req, st, "cannot write the answer", "out of memory");
		return;
	}
	if (ans->status == IMA_LLM_INVALID && st->repair && !call->repairing) {
		call->repairing = true;
		if (gap_llm_submit(req, call, ans) == 0)
			return;
	}
	if (ans->status == IMA_LLM_OK)
		gap_llm_fallback(req, st, "the answer holds no JSON object", ans->error);
	else if (ans->status == IMA_LLM_INVALID && call->repairing)
		gap_llm_fallback(req, st, "invalid answer after a repair", ans->error);
	else
		gap_llm_fallback(req, st, gap_llm_status_name(ans->status), ans->error);
}

static enum ima_rc gap_llm_process(struct ima_req *req, void *state)
{
	const struct gap_llm_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	struct gap_llm_call *call;
	const char *ad;
	size_t adlen = 0;

	if (gap == NULL || gap->type != MSGPACK_OBJECT_MAP)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "%s needs the gap stage before it", st->stage);
	/* Without a job ad there is nothing to compare: no call to pay for. */
	if (anautil_ctx_str(ctx, "_input.job_ad", &ad, &adlen) != 0 || adlen == 0)
		return IMA_CONTINUE;
	call = ima_req_alloc(req, sizeof(*call));
	if (call == NULL)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	memset(call, 0, sizeof(*call));
	call->st = st;
	call->user = gap_llm_render(req, st, &call->ulen);
	if (call->user == NULL)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	if (gap_llm_submit(req, call, NULL) != 0)
		gap_llm_fallback(req, st, "failed", "the call could not be submitted");
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_gap_llm = {
	IMA_PLUGIN_HEADER,
	.name = "gap_llm",
	.version = "1.0.0",
	.description = "gap analysis written by an LLM from a versioned prompt, checked against its schema (gap_analysis.llm)",
	.options = gap_llm_options,
	.init = gap_llm_init,
	.process = gap_llm_process,
	.fini = gap_llm_fini,
};
