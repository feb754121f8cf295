/*
 * llm_offline - an LLM provider that answers every call at once, in the
 * process, from the deterministic analysis (llm_offline_tasks): no
 * network, no key, no cost. For development, tests and the embedded
 * default configuration; its answers satisfy the same schemas as the
 * online ones, so the LLM stages run unchanged on it.
 *
 * A task without an offline answer fails with a message naming the known
 * tasks. Marked IMA_PLUGIN_LOCAL: its answers are never stored in the
 * call cache (recomputing them is cheaper than a lookup).
 */
#include <stdio.h>
#include <string.h>

#include "llm_offline_tasks.h"

/* A provider stage does its work in llm_submit; as a stage it passes. */
static enum ima_rc llm_offline_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

static int llm_offline_submit(struct ima_req *req, void *state, struct ima_llm_call *call)
{
	const struct ima_llm_ask *ask = ima_llm_call_ask(call);
	struct ima_llm_answer ans;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	char why[256] = "", error[300];
	size_t off = 0;

	(void)state;
	memset(&ans, 0, sizeof(ans));
	ans.text = "";
	ans.error = "";
	ans.provider = "offline";
	ans.model_requested = ask->nmodels > 0 && ask->models[0].id ? ask->models[0].id : "offline";
	ans.model_used = "offline";
	ans.finish_reason = "stop";
	ans.attempts = 1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_unpacked_init(&up);
	if (llm_offline_answer(ima_req_ctx(req), ask->task, &pk, why, sizeof(why)) == 0 &&
	    msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
		ans.status = IMA_LLM_OK;
		ans.json = &up.data;
	} else {
		snprintf(error, sizeof(error), "llm_offline: %s", why[0] ? why : "out of memory");
		ima_llm_call_failure(req, call, "offline", 1, error);
		ans.status = IMA_LLM_FAILED;
		ans.error = error;
	}
	/* The answer is copied: ours can go once the call is done. */
	ima_llm_call_done(req, call, &ans);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_llm_offline = {
	IMA_PLUGIN_HEADER,
	.name = "llm_offline",
	.version = "1.0.0",
	.description = "LLM provider answering every call at once from the deterministic analysis (no network, no cost)",
	.process = llm_offline_process,
	.llm_submit = llm_offline_submit,
	.flags = IMA_PLUGIN_LOCAL,
};
