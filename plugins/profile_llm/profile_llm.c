/*
 * profile_llm - the resume profile written by an LLM: implied skills with
 * their evidence, strengths, the kinds of work the resume shows
 * (migration, greenfield build, scaling, turnaround, maintenance) and the
 * metrics it already states. The prompt holds the resume and nothing of
 * the job ad, so the call cache serves one profile to every analysis of
 * the same resume, against any job.
 *
 * Writes "profile" (public: {source, provider, model, prompt_version,
 * ...}) and "_profile" (the answer alone), which gap_llm and
 * suggestions_llm put into their prompts when it is there. After
 * submitting, the stage runs the callbacks that are ready (ima_join_ready):
 * a profile the call cache had is in the context before the next stages
 * render their prompts; one that must be asked for is not waited for, and
 * its call runs alongside theirs (docs/llm.md, "Join points").
 *
 * Needs the request stage before it (and the skills stage, for the skills
 * named in the resume), and an LLM provider stage in the pipeline.
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_stage.h"

static const struct ima_option profile_llm_options[] = {
	LLM_STAGE_OPTIONS("prompts/profile.v1.json", "profile.v1", "profile"),
	{ NULL, 0, NULL, NULL, 0 }
};

/* Only what comes from the resume: anything of the job ad would make
 * the call differ per ad, and the cache could not share it. */
static const char *const profile_llm_known[] = { "resume", "skills", NULL };
static const char *const profile_llm_required[] = { "resume", NULL };

static int profile_llm_write(struct ima_req *req, const struct llm_stage *st,
			     const struct llm_stage_answer *ans)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (ans->json->type != MSGPACK_OBJECT_MAP)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_object(&pk, *ans->json);
	rc = ima_ctx_put_sbuffer(ctx, "_profile", &sb);
	msgpack_sbuffer_clear(&sb);
	if (rc == 0) {
		msgpack_pack_map(&pk, llm_stage_members(ans->json));
		llm_stage_pack_members(&pk, st, ans);
		rc = ima_ctx_put_sbuffer(ctx, "profile", &sb);
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}


static int profile_llm_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	return llm_stage_new(conf, state, profile_llm_known, profile_llm_required,
			   "resume_profile", profile_llm_write, err);
}

/* The user message; from ima_malloc, NULL when memory ran out. */
static char *profile_llm_render(struct ima_ctx *ctx, const struct llm_stage *st,
				const char *resume, size_t rlen, size_t *len)
{
	struct llm_text skills = { 0 };
	struct llm_prompt_var vars[2];
	char *text = NULL;

	llm_stage_list(&skills, ima_ctx_get(ctx, "_skills.resume"), "name");
	vars[0] = (struct llm_prompt_var){ "resume", resume, rlen, true };
	vars[1] = (struct llm_prompt_var){ "skills", llm_text_str(&skills), skills.len, false };
	if (!skills.failed)
		text = llm_prompt_render(st->prompt->user, vars, 2, len);
	llm_text_free(&skills);
	return text;
}

static enum ima_rc profile_llm_process(struct ima_req *req, void *state)
{
	const struct llm_stage *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *resume;
	size_t rlen, ulen;
	char *user;
	int rc;

	if (anautil_ctx_str(ctx, "_input.resume_text", &resume, &rlen) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "%s needs the request stage before it", st->stage);
	user = profile_llm_render(ctx, st, resume, rlen, &ulen);
	rc = user != NULL ? llm_stage_ask(req, st, user, ulen) : -1;
	ima_free(user);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	/* A cached profile is ready now: the next stages get it in their
	 * prompts. One still asked for is left to run alongside them. */
	ima_join_ready(req);
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_profile_llm = {
	IMA_PLUGIN_HEADER,
	.name = "profile_llm",
	.version = "1.0.0",
	.description = "resume profile written by an LLM from the resume alone (profile, _profile): implied skills, strengths, archetypes, stated metrics",
	.options = profile_llm_options,
	.init = profile_llm_init,
	.process = profile_llm_process,
	.fini = llm_stage_free,
};
