/*
 * gap_llm - the gap analysis written by an LLM: the deterministic analysis
 * (matched and missing skills, implied ones, years and level against the
 * ad's) and the two texts go into a versioned prompt (data/prompts/), the
 * answer must satisfy the prompt's JSON Schema, and it is added to
 * gap_analysis as the member "llm". The deterministic lists stay as they
 * are: they remain the source of truth, and gap_analysis.sources says
 * which member came from where.
 *
 * The call (plugins/common/llm_stage.c) is submitted and the stage returns
 * at once, so later LLM stages overlap with it; its answer is written by
 * the next join (a "join" entry in the pipeline, or the core's own before
 * the finish hooks). An answer that breaks the schema gets one repair
 * request; when every call failed the offline analysis (llm_offline_tasks)
 * is used instead and the answer is marked degraded. The resume profile
 * (_profile, from profile_llm) goes into the prompt when it is there.
 *
 * Needs the gap stage before it, and an LLM provider stage in the
 * pipeline (llm_openrouter, or llm_offline).
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_stage.h"

static const struct ima_option gap_llm_options[] = {
	LLM_STAGE_OPTIONS("prompts/gap.v1.json", "gap.v1", "gap"),
	{ NULL, 0, NULL, NULL, 0 }
};

/* Placeholders a gap prompt may use; resume and job_ad it must. */
static const char *const gap_llm_known[] = {
	"resume", "job_ad", "job_title", "domain_insights", "required_skills",
	"preferred_skills", "matched", "matched_preferred", "implied",
	"missing_required", "missing_preferred", "inferred", "candidate_years",
	"candidate_level", "required_years", "required_level", "alignment_score",
	"creativity_mode", "profile", NULL
};
static const char *const gap_llm_required[] = { "resume", "job_ad", NULL };

static int gap_llm_write(struct ima_req *req, const struct llm_stage *st,
			 const struct llm_stage_answer *ans);


static int gap_llm_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	return llm_stage_new(conf, state, gap_llm_known, gap_llm_required, "gap_analysis",
			   gap_llm_write, err);
}

/* ---- the prompt's values ---- */

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
		llm_stage_list(t, anautil_map_get(e, "implied_by"), NULL);
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
			llm_stage_list(t, v, NULL);
		else
			llm_text_append(t, "-", 1);
	}
}

enum {
	V_RESUME, V_JOB_AD, V_JOB_TITLE, V_INSIGHTS, V_REQUIRED, V_PREFERRED, V_MATCHED,
	V_MATCHED_PREF, V_IMPLIED, V_MISSING_REQ, V_MISSING_PREF, V_INFERRED,
	V_CAND_YEARS, V_CAND_LEVEL, V_REQ_YEARS, V_REQ_LEVEL, V_ALIGNMENT, V_CREATIVITY,
	V_PROFILE, V_COUNT
};
_Static_assert(sizeof(gap_llm_known) / sizeof(gap_llm_known[0]) == V_COUNT + 1,
	       "one placeholder name for each value, in the same order");

/*
 * Renders the user message of the request; NULL when memory ran out.
 * From ima_malloc: the caller frees it.
 */
static char *gap_llm_render(struct ima_req *req, const struct llm_stage *st, size_t *len)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	struct llm_text t[V_COUNT];
	struct llm_prompt_var vars[V_COUNT];
	const char *s;
	size_t sn;
	double d;
	bool failed = false;
	char *text;

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
	llm_stage_list(&t[V_REQUIRED], ima_ctx_get(ctx, "job_requirements.skills_required"), NULL);
	llm_stage_list(&t[V_PREFERRED], ima_ctx_get(ctx, "job_requirements.skills_preferred"), NULL);
	llm_stage_list(&t[V_MATCHED], anautil_map_get(gap, "matched"), NULL);
	llm_stage_list(&t[V_MATCHED_PREF], anautil_map_get(gap, "matched_preferred"), NULL);
	gap_llm_implied(&t[V_IMPLIED], anautil_map_get(gap, "implied"));
	llm_stage_list(&t[V_MISSING_REQ], anautil_map_get(gap, "critical_gaps"), "skill");
	llm_stage_list(&t[V_MISSING_PREF], anautil_map_get(gap, "nice_to_have_gaps"), NULL);
	llm_stage_list(&t[V_INFERRED], ima_ctx_get(ctx, "processed_skills.inferred_skills"), "skill");
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
	llm_stage_profile(&t[V_PROFILE], ctx);

	for (size_t i = 0; i < V_COUNT; i++) {
		vars[i].value = llm_text_str(&t[i]);
		vars[i].len = t[i].len;
		vars[i].delimit = i == V_RESUME || i == V_JOB_AD || i == V_JOB_TITLE || i == V_INSIGHTS ||
				  (i == V_PROFILE && ima_ctx_get(ctx, "_profile") != NULL);
		failed |= t[i].failed;
	}
	text = failed ? NULL : llm_prompt_render(st->prompt->user, vars, V_COUNT, len);
	for (size_t i = 0; i < V_COUNT; i++)
		llm_text_free(&t[i]);
	return text;
}

/* ---- writing the answer ---- */

/*
 * gap_analysis with the member "llm" = {source, provider, model,
 * prompt_version} plus the members of the answer, and "sources" saying
 * where each member came from. The rest is copied as it is.
 */
static int gap_llm_write(struct ima_req *req, const struct llm_stage *st,
			 const struct llm_stage_answer *ans)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	uint32_t keep = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (gap == NULL || gap->type != MSGPACK_OBJECT_MAP || ans->json->type != MSGPACK_OBJECT_MAP)
		return -1;
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object *k = &gap->via.map.ptr[i].key;

		keep += !anautil_str_is(k, "llm") && !anautil_str_is(k, "sources");
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, keep + 2);
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object_kv *kv = &gap->via.map.ptr[i];

		if (anautil_str_is(&kv->key, "llm") || anautil_str_is(&kv->key, "sources"))
			continue;
		msgpack_pack_object(&pk, kv->key);
		msgpack_pack_object(&pk, kv->val);
	}
	anautil_pack_key(&pk, "llm");
	msgpack_pack_map(&pk, llm_stage_members(ans->json));
	llm_stage_pack_members(&pk, st, ans);
	anautil_pack_key(&pk, "sources");
	msgpack_pack_map(&pk, keep + 1);
	for (uint32_t i = 0; i < gap->via.map.size; i++) {
		const msgpack_object_kv *kv = &gap->via.map.ptr[i];

		if (anautil_str_is(&kv->key, "llm") || anautil_str_is(&kv->key, "sources"))
			continue;
		msgpack_pack_object(&pk, kv->key);
		ima_pack_cstr(&pk, "deterministic");
	}
	anautil_pack_kv_str(&pk, "llm", ans->source);
	rc = ima_ctx_put_sbuffer(ctx, "gap_analysis", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static enum ima_rc gap_llm_process(struct ima_req *req, void *state)
{
	return llm_stage_process_pair(req, state, gap_llm_render);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_gap_llm = {
	IMA_PLUGIN_HEADER,
	.name = "gap_llm",
	.version = "1.0.0",
	.description = "gap analysis written by an LLM from a versioned prompt, checked against its schema (gap_analysis.llm)",
	.options = gap_llm_options,
	.init = gap_llm_init,
	.process = gap_llm_process,
	.fini = llm_stage_free,
};
