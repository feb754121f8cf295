/*
 * suggestions_llm - resume bullets written by an LLM, in the shape the
 * service this replaces answered (suggested_experiences): for each
 * critical gap two or three bullets that bridge it from what the
 * candidate has done (bridging_gaps[{skill_focus, suggestions}]), and for
 * bullets of the resume rewrites that surface their impact
 * (metric_improvements[{original, suggestions}]). critic_llm may add
 * refined_suggestions to both.
 *
 * Built from the deterministic analysis (critical gaps with the related
 * skills held, matched skills, the jobs and their bullets) and the resume
 * profile when profile_llm's answer is already there; the stage never
 * waits for it, and the prompt says when it is missing. Independent of
 * gap_llm: both calls run at the same time.
 *
 * Needs the gap stage before it, and an LLM provider stage in the
 * pipeline.
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_stage.h"

static const struct ima_option suggestions_llm_options[] = {
	LLM_STAGE_OPTIONS("prompts/suggestions.v1.json", "suggestions.v1", "suggestions"),
	{ NULL, 0, NULL, NULL, 0 }
};

static const char *const suggestions_llm_known[] = {
	"resume", "job_ad", "job_title", "critical_gaps", "matched", "experiences", "profile",
	"creativity_mode", NULL
};
static const char *const suggestions_llm_required[] = { "resume", "job_ad", NULL };

enum { S_RESUME, S_JOB_AD, S_JOB_TITLE, S_GAPS, S_MATCHED, S_EXPERIENCES, S_PROFILE,
       S_CREATIVITY, S_COUNT };
_Static_assert(sizeof(suggestions_llm_known) / sizeof(suggestions_llm_known[0]) == S_COUNT + 1,
	       "one placeholder name for each value, in the same order");

static int suggestions_llm_write(struct ima_req *req, const struct llm_stage *st,
				 const struct llm_stage_answer *ans)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (ans->json->type != MSGPACK_OBJECT_MAP)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, llm_stage_members(ans->json));
	llm_stage_pack_members(&pk, st, ans);
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "suggested_experiences", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}


static int suggestions_llm_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	return llm_stage_new(conf, state, suggestions_llm_known, suggestions_llm_required,
			   "suggested_experiences", suggestions_llm_write, err);
}

/* "Kubernetes (related skills held: Docker, Terraform); ..." */
static void suggestions_llm_gaps(struct llm_text *t, const msgpack_object *crit)
{
	size_t n = 0;

	for (uint32_t i = 0; crit && crit->type == MSGPACK_OBJECT_ARRAY && i < crit->via.array.size; i++) {
		const msgpack_object *e = &crit->via.array.ptr[i];
		const msgpack_object *rel = anautil_map_get(e, "related_skills");
		const char *s;
		size_t sn;

		if (!anautil_str(anautil_map_get(e, "skill"), &s, &sn) || sn == 0)
			continue;
		if (n++ > 0)
			llm_text_append(t, "; ", 2);
		llm_text_append(t, s, sn);
		llm_text_append(t, " (related skills held: ", 23);
		llm_stage_list(t, rel, NULL);
		llm_text_append(t, ")", 1);
	}
	if (n == 0)
		llm_text_append(t, "none", 4);
}

/* One line a job: "- Title at Company (start to end): bullets". */
static void suggestions_llm_jobs(struct llm_text *t, const msgpack_object *exps)
{
	static const char *const keys[] = { "title", " at ", "company", " (", "start", " to ",
					    "end", "): ", "snippet" };
	size_t n = 0;

	for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_ARRAY && i < exps->via.array.size; i++) {
		const msgpack_object *e = &exps->via.array.ptr[i];

		if (e->type != MSGPACK_OBJECT_MAP)
			continue;
		if (n++ > 0)
			llm_text_append(t, "\n", 1);
		llm_text_append(t, "- ", 2);
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k += 2) {
			const char *s;
			size_t sn;

			if (!anautil_str(anautil_map_get(e, keys[k]), &s, &sn) || sn == 0) {
				s = "?";
				sn = 1;
			}
			llm_text_append(t, s, sn);
			if (k + 1 < sizeof(keys) / sizeof(keys[0]))
				llm_text_append(t, keys[k + 1], strlen(keys[k + 1]));
		}
	}
	if (n == 0)
		llm_text_append(t, "(no job found in the resume)", 28);
}

/* The user message; from ima_malloc, NULL when memory ran out. */
static char *suggestions_llm_render(struct ima_req *req, const struct llm_stage *st,
				    size_t *len)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gap = ima_ctx_get(ctx, "gap_analysis");
	struct llm_text t[S_COUNT];
	struct llm_prompt_var vars[S_COUNT];
	bool failed = false;
	const char *s;
	size_t sn;
	char *text;

	memset(t, 0, sizeof(t));
	if (anautil_ctx_str(ctx, "_input.resume_text", &s, &sn) == 0)
		llm_text_append(&t[S_RESUME], s, sn);
	if (anautil_ctx_str(ctx, "_input.job_ad", &s, &sn) == 0)
		llm_text_append(&t[S_JOB_AD], s, sn);
	if (anautil_ctx_str(ctx, "_input.job_title", &s, &sn) == 0 && sn > 0)
		llm_text_append(&t[S_JOB_TITLE], s, sn);
	else
		llm_text_append(&t[S_JOB_TITLE], "(not given)", 11);
	suggestions_llm_gaps(&t[S_GAPS], anautil_map_get(gap, "critical_gaps"));
	llm_stage_list(&t[S_MATCHED], anautil_map_get(gap, "matched"), NULL);
	suggestions_llm_jobs(&t[S_EXPERIENCES], ima_ctx_get(ctx, "experiences"));
	llm_stage_profile(&t[S_PROFILE], ctx);
	if (anautil_ctx_str(ctx, "_input.creativity_mode", &s, &sn) == 0)
		llm_text_append(&t[S_CREATIVITY], s, sn);
	else
		llm_text_append(&t[S_CREATIVITY], "balanced", 8);
	for (size_t i = 0; i < S_COUNT; i++) {
		vars[i].name = suggestions_llm_known[i];
		vars[i].value = llm_text_str(&t[i]);
		vars[i].len = t[i].len;
		vars[i].delimit = i == S_RESUME || i == S_JOB_AD || i == S_JOB_TITLE ||
				  (i == S_PROFILE && ima_ctx_get(ctx, "_profile") != NULL);
		failed |= t[i].failed;
	}
	text = failed ? NULL : llm_prompt_render(st->prompt->user, vars, S_COUNT, len);
	for (size_t i = 0; i < S_COUNT; i++)
		llm_text_free(&t[i]);
	return text;
}

static enum ima_rc suggestions_llm_process(struct ima_req *req, void *state)
{
	return llm_stage_process_pair(req, state, suggestions_llm_render);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_suggestions_llm = {
	IMA_PLUGIN_HEADER,
	.name = "suggestions_llm",
	.version = "1.0.0",
	.description = "resume bullets written by an LLM: bridging each critical gap, rewrites that surface impact (suggested_experiences)",
	.options = suggestions_llm_options,
	.init = suggestions_llm_init,
	.process = suggestions_llm_process,
	.fini = llm_stage_free,
};
