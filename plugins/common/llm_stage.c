/* llm_stage.c - the machinery of the LLM stages: options, prompt, call,
 * repair, offline fallback, writing through the stage's callback. */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_guard.h"
#include "llm_offline_tasks.h"
#include "llm_plan.h"
#include "llm_stage.h"

/* One request's call, in request memory. */
struct llm_stage_call {
	const struct llm_stage *st;
	const char *user; /* the rendered user message */
	size_t ulen;
	bool repairing;
};

void llm_stage_fini(struct llm_stage *st)
{
	if (st == NULL)
		return;
	if (st->guard_open)
		llm_guard_close();
	st->guard_open = false;
	llm_prompt_free(st->prompt);
	ima_free(st->task);
	ima_free(st->stage);
	st->prompt = NULL;
	st->task = st->stage = NULL;
}

int llm_stage_init(struct llm_stage *st, const struct ima_conf *conf,
		   const char *const *known, const char *const *required,
		   const char *schema_name, llm_stage_write_fn write,
		   struct ima_error *err)
{
	double temp = ima_conf_double(conf, "temperature");
	int64_t max_tokens = ima_conf_int(conf, "max_tokens");
	char why[600];

	memset(st, 0, sizeof(*st));
	st->schema_name = schema_name;
	st->write = write;
	st->task = ima_strdup(ima_conf_string(conf, "task"));
	st->stage = ima_strdup(ima_conf_stage_name(conf));
	st->repair = ima_conf_bool(conf, "repair") != 0;
	if (st->task == NULL || st->stage == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	if (!llm_offline_has(st->task))
		return ima_error_set(err, 500, "config", "task",
				     "task '%s' has no offline answer to fall back to (known: %s)", st->task,
				     llm_offline_names());
	if (!(temp == -1 || (temp >= 0 && temp <= 2)) || max_tokens < 0 || max_tokens > 1000000)
		return ima_error_set(err, 500, "config",
				     temp == -1 || (temp >= 0 && temp <= 2) ? "max_tokens" : "temperature",
				     "temperature must be from 0 to 2 (or -1), max_tokens from 0 to 1000000");
	st->prompt = llm_prompt_load(ima_conf_string(conf, "prompt"), known, required, why,
				     sizeof(why));
	if (st->prompt == NULL)
		return ima_error_set(err, 500, "config", "prompt", "%s", why);
	/* The fingerprint holds the options, not the file: the version the
	 * file states must be the one the configuration names. */
	if (strcmp(st->prompt->version, ima_conf_string(conf, "prompt_version")) != 0)
		return ima_error_set(err, 500, "config", "prompt_version",
				     "the prompt file %s is version '%s' but option prompt_version is '%s': set prompt_version to the file's version",
				     ima_conf_string(conf, "prompt"), st->prompt->version,
				     ima_conf_string(conf, "prompt_version"));
	st->temperature = temp >= 0 ? temp : st->prompt->temperature;
	st->max_tokens = max_tokens > 0 ? (int)max_tokens : st->prompt->max_tokens;
	/* The skill names tell "with Helm" from "with Globex". */
	if (llm_guard_open(why, sizeof(why)) != 0)
		return ima_error_set(err, 500, "config", "", "grounding guard: %s", why);
	st->guard_open = true;
	return 0;
}

int llm_stage_new(const struct ima_conf *conf, void **state, const char *const *known,
		  const char *const *required, const char *schema_name,
		  llm_stage_write_fn write, struct ima_error *err)
{
	struct llm_stage *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	if (llm_stage_init(st, conf, known, required, schema_name, write, err) != 0) {
		llm_stage_free(st);
		return -1;
	}
	*state = st;
	return 0;
}

void llm_stage_free(void *state)
{
	if (state == NULL)
		return;
	llm_stage_fini(state);
	ima_free(state);
}

enum ima_rc llm_stage_process_pair(struct ima_req *req, const struct llm_stage *st,
				   llm_stage_render_fn render)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	const char *ad;
	size_t adlen = 0, ulen;
	char *user;
	int rc;

	if (gap == NULL || gap->type != MSGPACK_OBJECT_MAP)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "%s needs the gap stage before it", st->stage);
	if (anautil_ctx_str(ctx, "_input.job_ad", &ad, &adlen) != 0 || adlen == 0)
		return IMA_CONTINUE;
	user = render(req, st, &ulen);
	rc = user != NULL ? llm_stage_ask(req, st, user, ulen) : -1;
	ima_free(user);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

double llm_stage_temperature(struct ima_req *req, const struct llm_stage *st)
{
	double t;

	return llm_plan_temperature(req, st->task, &t) ? t : st->temperature;
}

/* ---- the shape of an answer ---- */

static bool llm_stage_reserved(const msgpack_object *k)
{
	static const char *const names[] = { "source", "provider", "model", "prompt_version", NULL };

	for (const char *const *n = names; *n; n++)
		if (anautil_str_is(k, *n))
			return true;
	return false;
}

uint32_t llm_stage_members(const msgpack_object *json)
{
	uint32_t n = 4;

	for (uint32_t i = 0; json->type == MSGPACK_OBJECT_MAP && i < json->via.map.size; i++)
		n += !llm_stage_reserved(&json->via.map.ptr[i].key);
	return n;
}

void llm_stage_pack_members(msgpack_packer *pk, const struct llm_stage *st,
			    const struct llm_stage_answer *ans)
{
	const msgpack_object *json = ans->json;

	anautil_pack_kv_str(pk, "source", ans->source);
	anautil_pack_kv_str(pk, "provider", ans->provider);
	anautil_pack_kv_str(pk, "model", ans->model);
	anautil_pack_kv_str(pk, "prompt_version", st->prompt->version);
	for (uint32_t i = 0; json->type == MSGPACK_OBJECT_MAP && i < json->via.map.size; i++) {
		const msgpack_object_kv *kv = &json->via.map.ptr[i];

		if (llm_stage_reserved(&kv->key))
			continue;
		msgpack_pack_object(pk, kv->key);
		msgpack_pack_object(pk, kv->val);
	}
}

/* ---- writing ---- */

/* A failure the stage found itself, listed in run_metrics.failures beside
 * the calls' own. */
static void llm_stage_failure(struct ima_req *req, const struct llm_stage *st,
			      const struct llm_stage_answer *a, const char *what, const char *why)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char error[400];

	snprintf(error, sizeof(error), "%s: %.300s", what, why);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	anautil_pack_kv_str(&pk, "task", st->task);
	anautil_pack_kv_str(&pk, "provider", a->provider);
	anautil_pack_kv_str(&pk, "model", a->model);
	anautil_pack_kv_int(&pk, "attempt", 0);
	anautil_pack_kv_str(&pk, "error", error);
	ima_req_metric_append(req, "failures", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void llm_stage_fallback(struct ima_req *req, const struct llm_stage *st, const char *what,
			const char *error)
{
	struct llm_stage_answer a = {
		.source = "offline", .provider = "offline", .model = "offline", .fallback = true,
	};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	char why[256] = "", reason[400];
	size_t off = 0;

	snprintf(reason, sizeof(reason), "%s: %s%s%.200s; the offline answer was used", st->stage,
		 what, error && error[0] ? ": " : "", error ? error : "");
	ima_req_set_degraded(req, reason);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_unpacked_init(&up);
	if (llm_offline_answer(ima_req_ctx(req), st->task, &pk, why, sizeof(why)) != 0 ||
	    msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
	    (a.json = &up.data, st->write(req, st, &a)) != 0)
		ima_log(IMA_LOG_WARN, "%s: no offline answer either: %s", st->stage,
			why[0] ? why : "out of memory");
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * An answer that satisfies the schema, on its way into the context. Every
 * online answer passes the grounding guard first (llm_guard.h): what names
 * an employer, title, degree or number the request does not hold is
 * dropped or rewritten, and counted in run_metrics.guard. Offline answers
 * are built from the context alone and skip it. Returns 0; 1 when what
 * the guard left no longer satisfies the schema (why says where); -1 when
 * memory ran out.
 */
static int llm_stage_deliver(struct ima_req *req, const struct llm_stage *st,
			     const struct llm_stage_answer *a, char *why, size_t size)
{
	struct llm_guard *g;
	struct llm_guard_counts counts = { 0, 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	size_t off = 0;
	int rc = -1;

	if (strcmp(a->source, "offline") == 0)
		return st->write(req, st, a);
	if ((g = llm_guard_get(req)) == NULL)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_unpacked_init(&up);
	if (llm_guard_pack(g, a->json, &pk, &counts) == 0 &&
	    msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
	    up.data.type == MSGPACK_OBJECT_MAP) {
		llm_guard_account(req, &counts);
		/* A list emptied below its minItems: the part is not usable. */
		if (ima_json_schema_check(st->prompt->schema, &up.data, why, size) != 0) {
			rc = 1;
		} else {
			struct llm_stage_answer guarded = *a;

			guarded.json = &up.data;
			rc = st->write(req, st, &guarded);
		}
	}
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ---- the call ---- */

static void llm_stage_done(struct ima_req *req, const struct ima_llm_answer *ans, void *arg);

/*
 * The messages: system, user, and for a repair the invalid answer and a
 * request to correct it. The ask is copied by ima_llm_submit, so the
 * packed messages live only for the call.
 */
static int llm_stage_submit(struct ima_req *req, struct llm_stage_call *call,
			    const struct ima_llm_answer *bad)
{
	const struct llm_stage *st = call->st;
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
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
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
		ask.schema_name = st->schema_name;
		ask.models = models;
		ask.nmodels = nmodels;
		ask.temperature = llm_stage_temperature(req, st);
		ask.max_tokens = st->max_tokens;
		ask.prompt_version = st->prompt->version;
		rc = ima_llm_submit(req, &ask, llm_stage_done, call);
	}
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static const char *llm_stage_status_name(enum ima_llm_status s)
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

static void llm_stage_done(struct ima_req *req, const struct ima_llm_answer *ans, void *arg)
{
	struct llm_stage_call *call = arg;
	const struct llm_stage *st = call->st;
	struct llm_stage_answer a;
	char why[300];

	/* The pipeline ended first: nobody reads the answer any more. */
	if (ans->status == IMA_LLM_CANCELLED)
		return;
	if (ans->status == IMA_LLM_OK && ans->json != NULL && ans->json->type == MSGPACK_OBJECT_MAP) {
		memset(&a, 0, sizeof(a));
		a.provider = ans->provider ? ans->provider : "";
		a.model = ans->model_used && ans->model_used[0] ? ans->model_used :
			  ans->model_requested ? ans->model_requested : "";
		/* The offline provider's answers are the offline analysis:
		 * say so, though nothing failed. */
		a.source = strcmp(a.provider, "offline") == 0 ? "offline" : "llm";
		a.json = ans->json;
		switch (llm_stage_deliver(req, st, &a, why, sizeof(why))) {
		case 0:
			break;
		case 1:
			/* The call succeeded, so the core listed no failure. */
			llm_stage_failure(req, st, &a, "the answer named what the resume does not hold",
					  why);
			llm_stage_fallback(req, st, "the answer named what the resume does not hold",
					   why);
			break;
		default:
			llm_stage_fallback(req, st, "cannot write the answer", "out of memory");
		}
		return;
	}
	if (ans->status == IMA_LLM_INVALID && st->repair && !call->repairing) {
		call->repairing = true;
		if (llm_stage_submit(req, call, ans) == 0)
			return;
	}
	if (ans->status == IMA_LLM_OK)
		llm_stage_fallback(req, st, "the answer holds no JSON object", ans->error);
	else if (ans->status == IMA_LLM_INVALID && call->repairing)
		llm_stage_fallback(req, st, "invalid answer after a repair", ans->error);
	else
		llm_stage_fallback(req, st, llm_stage_status_name(ans->status), ans->error);
}

int llm_stage_ask(struct ima_req *req, const struct llm_stage *st, const char *user,
		  size_t ulen)
{
	struct llm_stage_call *call = ima_req_alloc(req, sizeof(*call));

	if (call == NULL)
		return -1;
	memset(call, 0, sizeof(*call));
	call->st = st;
	call->ulen = ulen;
	call->user = ima_req_strndup(req, user, ulen);
	if (call->user == NULL)
		return -1;
	if (llm_stage_submit(req, call, NULL) != 0)
		llm_stage_fallback(req, st, "failed", "the call could not be submitted");
	return 0;
}

/* ---- rendering helpers ---- */

const char llm_stage_no_profile[] =
	"(no resume profile for this request: rely on the resume and the analysis)";

void llm_stage_list(struct llm_text *t, const msgpack_object *arr, const char *key)
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

/* "- name: a (evidence); b (evidence)" for a list of maps. */
static void llm_stage_profile_pairs(struct llm_text *t, const char *name,
				    const msgpack_object *arr, const char *key,
				    const char *detail)
{
	size_t n = 0;

	llm_text_printf(t, "\n- %s: ", name);
	for (uint32_t i = 0; arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size; i++) {
		const msgpack_object *e = &arr->via.array.ptr[i];
		const char *s, *d;
		size_t sn, dn;

		if (!anautil_elem_str(arr, i, key, &s, &sn))
			continue;
		if (n++ > 0)
			llm_text_append(t, "; ", 2);
		llm_text_append(t, s, sn);
		if (detail != NULL && anautil_str(anautil_map_get(e, detail), &d, &dn) && dn > 0) {
			llm_text_append(t, " (", 2);
			llm_text_append(t, d, dn);
			llm_text_append(t, ")", 1);
		}
	}
	if (n == 0)
		llm_text_append(t, "none", 4);
}

void llm_stage_profile(struct llm_text *t, struct ima_ctx *ctx)
{
	const msgpack_object *p = ima_ctx_get(ctx, "_profile");
	const char *s;
	size_t n;

	if (p == NULL || p->type != MSGPACK_OBJECT_MAP) {
		llm_text_append(t, llm_stage_no_profile, sizeof(llm_stage_no_profile) - 1);
		return;
	}
	llm_text_append(t, "- summary: ", 11);
	if (anautil_str(anautil_map_get(p, "summary"), &s, &n) && n > 0)
		llm_text_append(t, s, n);
	else
		llm_text_append(t, "none", 4);
	llm_stage_profile_pairs(t, "implied skills", anautil_map_get(p, "implied_skills"), "skill",
				"evidence");
	llm_text_append(t, "\n- strengths: ", 15);
	llm_stage_list(t, anautil_map_get(p, "strengths"), NULL);
	llm_stage_profile_pairs(t, "work archetypes", anautil_map_get(p, "archetypes"), "archetype",
				"evidence");
	llm_stage_profile_pairs(t, "metrics the resume states", anautil_map_get(p, "stated_metrics"),
				"metric", "context");
}
