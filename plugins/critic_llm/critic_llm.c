/*
 * critic_llm - a second pass over the suggested bullets, as the original
 * pipeline's criticism step did: clichés and filler out, a strong verb
 * first, only metrics the candidate can stand behind. Adds
 * refined_suggestions next to the suggestions of each bridging_gaps and
 * metric_improvements item, and suggested_experiences.critic = {source,
 * provider, model, prompt_version}.
 *
 * It reads suggested_experiences, which suggestions_llm writes in a join:
 * a "join" entry must stand between the two in the pipeline. Without
 * suggestions (no job ad, or no suggestions stage before the join) it
 * makes no call. Optional: the shipped configurations leave it out.
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_stage.h"

static const struct ima_option critic_llm_options[] = {
	LLM_STAGE_OPTIONS("prompts/critic.v1.json", "critic.v1", "critic"),
	{ NULL, 0, NULL, NULL, 0 }
};

static const char *const critic_llm_known[] = {
	"resume", "job_ad", "suggestions", "creativity_mode", NULL
};
static const char *const critic_llm_required[] = { "resume", "suggestions", NULL };

/* The critic's item for items[i] of the suggestions: the one with the
 * same field value, else the one at the same place. */
static const msgpack_object *critic_llm_match(const msgpack_object *refined, uint32_t i,
					      const msgpack_object *item, const char *field)
{
	const msgpack_object *want = anautil_map_get(item, field);

	if (refined == NULL || refined->type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	for (uint32_t k = 0; want != NULL && k < refined->via.array.size; k++) {
		const msgpack_object *f = anautil_map_get(&refined->via.array.ptr[k], field);

		if (f != NULL && f->type == MSGPACK_OBJECT_STR && want->type == MSGPACK_OBJECT_STR &&
		    f->via.str.size == want->via.str.size &&
		    memcmp(f->via.str.ptr, want->via.str.ptr, f->via.str.size) == 0)
			return &refined->via.array.ptr[k];
	}
	return i < refined->via.array.size ? &refined->via.array.ptr[i] : NULL;
}

/* The list of suggestions with each item's refined_suggestions. */
static void critic_llm_pack_list(msgpack_packer *pk, const msgpack_object *list,
				 const msgpack_object *refined, const char *field)
{
	msgpack_pack_array(pk, list->via.array.size);
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		const msgpack_object *item = &list->via.array.ptr[i];
		const msgpack_object *r = critic_llm_match(refined, i, item, field);
		const msgpack_object *rs = anautil_map_get(r, "refined_suggestions");
		uint32_t keep = 0;

		if (item->type != MSGPACK_OBJECT_MAP) {
			msgpack_pack_object(pk, *item);
			continue;
		}
		for (uint32_t k = 0; k < item->via.map.size; k++)
			keep += !anautil_str_is(&item->via.map.ptr[k].key, "refined_suggestions");
		msgpack_pack_map(pk, keep + 1);
		for (uint32_t k = 0; k < item->via.map.size; k++) {
			const msgpack_object_kv *kv = &item->via.map.ptr[k];

			if (anautil_str_is(&kv->key, "refined_suggestions"))
				continue;
			msgpack_pack_object(pk, kv->key);
			msgpack_pack_object(pk, kv->val);
		}
		anautil_pack_key(pk, "refined_suggestions");
		if (rs != NULL && rs->type == MSGPACK_OBJECT_ARRAY)
			msgpack_pack_object(pk, *rs);
		else
			msgpack_pack_array(pk, 0);
	}
}

static int critic_llm_write(struct ima_req *req, const struct llm_stage *st,
			    const struct llm_stage_answer *ans)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *se = ima_ctx_get(ctx, "suggested_experiences");
	uint32_t keep = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (se == NULL || se->type != MSGPACK_OBJECT_MAP || ans->json->type != MSGPACK_OBJECT_MAP)
		return -1;
	for (uint32_t i = 0; i < se->via.map.size; i++)
		keep += !anautil_str_is(&se->via.map.ptr[i].key, "critic");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, keep + 1);
	for (uint32_t i = 0; i < se->via.map.size; i++) {
		const msgpack_object_kv *kv = &se->via.map.ptr[i];
		const char *list = anautil_str_is(&kv->key, "bridging_gaps") ? "bridging_gaps" :
				   anautil_str_is(&kv->key, "metric_improvements") ? "metric_improvements" :
				   NULL;

		if (anautil_str_is(&kv->key, "critic"))
			continue;
		msgpack_pack_object(&pk, kv->key);
		if (list != NULL && kv->val.type == MSGPACK_OBJECT_ARRAY)
			critic_llm_pack_list(&pk, &kv->val, anautil_map_get(ans->json, list),
					     list[0] == 'b' ? "skill_focus" : "original");
		else
			msgpack_pack_object(&pk, kv->val);
	}
	anautil_pack_key(&pk, "critic");
	msgpack_pack_map(&pk, 4);
	anautil_pack_kv_str(&pk, "source", ans->source);
	anautil_pack_kv_str(&pk, "provider", ans->provider);
	anautil_pack_kv_str(&pk, "model", ans->model);
	anautil_pack_kv_str(&pk, "prompt_version", st->prompt->version);
	rc = ima_ctx_put_sbuffer(ctx, "suggested_experiences", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}


static int critic_llm_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	return llm_stage_new(conf, state, critic_llm_known, critic_llm_required,
			   "refined_suggestions", critic_llm_write, err);
}

/* The suggestions as numbered text; how many items there were. */
static size_t critic_llm_suggestions(struct llm_text *t, const msgpack_object *se)
{
	static const char *const lists[][3] = {
		{ "bridging_gaps", "skill_focus", "Bridging gaps (skill_focus, then its suggestions):" },
		{ "metric_improvements", "original", "Metric improvements (original, then its suggestions):" },
	};
	size_t items = 0;

	for (size_t l = 0; l < 2; l++) {
		const msgpack_object *list = anautil_map_get(se, lists[l][0]);

		llm_text_printf(t, "%s%s", l ? "\n" : "", lists[l][2]);
		for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
			const msgpack_object *e = &list->via.array.ptr[i];
			const msgpack_object *sugg = anautil_map_get(e, "suggestions");
			const char *s;
			size_t sn;

			if (!anautil_str(anautil_map_get(e, lists[l][1]), &s, &sn) || sn == 0)
				continue;
			items++;
			llm_text_printf(t, "\n%u. %.*s", i + 1, (int)sn, s);
			for (uint32_t k = 0; sugg && sugg->type == MSGPACK_OBJECT_ARRAY && k < sugg->via.array.size; k++)
				if (anautil_elem_str(sugg, k, NULL, &s, &sn))
					llm_text_printf(t, "\n   - %.*s", (int)sn, s);
		}
	}
	return items;
}

static enum ima_rc critic_llm_process(struct ima_req *req, void *state)
{
	const struct llm_stage *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *se = ima_ctx_get(ctx, "suggested_experiences");
	struct llm_text t[4];
	struct llm_prompt_var vars[4];
	bool failed = false;
	const char *s;
	size_t sn, ulen = 0, items;
	char *user = NULL;
	int rc = -1;

	/* Nothing to tighten: no ad, or the suggestions are still on their
	 * way (no "join" before this stage). */
	if (se == NULL || se->type != MSGPACK_OBJECT_MAP)
		return IMA_CONTINUE;
	memset(t, 0, sizeof(t));
	if (anautil_ctx_str(ctx, "_input.resume_text", &s, &sn) == 0)
		llm_text_append(&t[0], s, sn);
	if (anautil_ctx_str(ctx, "_input.job_ad", &s, &sn) == 0)
		llm_text_append(&t[1], s, sn);
	items = critic_llm_suggestions(&t[2], se);
	if (anautil_ctx_str(ctx, "_input.creativity_mode", &s, &sn) == 0)
		llm_text_append(&t[3], s, sn);
	else
		llm_text_append(&t[3], "balanced", 8);
	for (size_t i = 0; i < 4; i++) {
		vars[i].name = critic_llm_known[i];
		vars[i].value = llm_text_str(&t[i]);
		vars[i].len = t[i].len;
		vars[i].delimit = i < 3;
		failed |= t[i].failed;
	}
	if (items == 0) {
		rc = 0;
	} else if (!failed) {
		user = llm_prompt_render(st->prompt->user, vars, 4, &ulen);
		rc = user != NULL ? llm_stage_ask(req, st, user, ulen) : -1;
	}
	ima_free(user);
	for (size_t i = 0; i < 4; i++)
		llm_text_free(&t[i]);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_critic_llm = {
	IMA_PLUGIN_HEADER,
	.name = "critic_llm",
	.version = "1.0.0",
	.description = "second pass by an LLM that tightens the suggested bullets (refined_suggestions); needs a \"join\" after suggestions_llm",
	.options = critic_llm_options,
	.init = critic_llm_init,
	.process = critic_llm_process,
	.fini = llm_stage_free,
};
