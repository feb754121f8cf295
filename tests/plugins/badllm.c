/*
 * badllm - a test LLM provider that misbehaves on purpose, for the repair
 * and fallback paths of the LLM stages. Never installed.
 *
 * mode "invalid_once": the first ask of a conversation (two messages) gets
 * an answer that breaks the schema, a repair (more messages) the offline
 * answer as JSON text; "invalid": always the bad answer; "malformed": text
 * that is no JSON; "fail": every call fails. Every call's messages are
 * written to the answer under "badllm_messages" (the last call's) and
 * "badllm_<task>" (the task's last, with its temperature in
 * "badllm_<task>_temperature"), so the tests can read the prompts a stage
 * sent. Option tasks ("gap,profile"; "" all) limits the misbehaving
 * to those tasks: the others get the offline answer as JSON text.
 */
#include <stdio.h>
#include <string.h>

#include "ima_core.h"
#include "llm_offline_tasks.h"

static const struct ima_option badllm_options[] = {
	{ "mode", IMA_OPT_STRING, "invalid_once", "invalid_once, invalid, malformed or fail", 0 },
	{ "tasks", IMA_OPT_STRING, "", "the tasks that misbehave, comma-separated (\"\": all)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int badllm_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	const char *mode = ima_conf_string(conf, "mode");

	if (strcmp(mode, "invalid_once") != 0 && strcmp(mode, "invalid") != 0 &&
	    strcmp(mode, "malformed") != 0 && strcmp(mode, "fail") != 0)
		return ima_error_set(err, 500, "config", "mode", "unknown mode '%s'", mode);
	/* "mode\0,tasks," */
	{
		const char *tasks = ima_conf_string(conf, "tasks");
		size_t ml = strlen(mode), tl = strlen(tasks);
		char *st = ima_malloc(ml + tl + 4);

		if (st == NULL)
			return ima_error_set(err, 500, "internal", "", "out of memory");
		memcpy(st, mode, ml + 1);
		snprintf(st + ml + 1, tl + 3, ",%s,", tasks);
		*state = st;
	}
	return 0;
}

static void badllm_fini(void *state)
{
	ima_free(state);
}

/* Whether task misbehaves: tasks is ",a,b," or ",,". */
static bool badllm_chosen(const char *tasks, const char *task)
{
	char want[80];

	if (strcmp(tasks, ",,") == 0)
		return true;
	snprintf(want, sizeof(want), ",%s,", task ? task : "");
	return strstr(tasks, want) != NULL;
}

static enum ima_rc badllm_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

static int badllm_submit(struct ima_req *req, void *state, struct ima_llm_call *call)
{
	const char *mode = state;
	const struct ima_llm_ask *ask = ima_llm_call_ask(call);
	struct ima_llm_answer ans;
	struct ima_buf text = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char why[256];
	bool repair = ask->messages->type == MSGPACK_OBJECT_ARRAY && ask->messages->via.array.size > 2;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *ask->messages);
	ima_ctx_put(ima_req_ctx(req), "badllm_messages", sb.data, sb.size);
	snprintf(why, sizeof(why), "badllm_%.40s", ask->task ? ask->task : "");
	ima_ctx_put(ima_req_ctx(req), why, sb.data, sb.size);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_double(&pk, ask->temperature);
	snprintf(why, sizeof(why), "badllm_%.40s_temperature", ask->task ? ask->task : "");
	ima_ctx_put(ima_req_ctx(req), why, sb.data, sb.size);
	msgpack_sbuffer_clear(&sb);
	/* A task left alone answers well: as a repair of invalid_once. */
	if (!badllm_chosen(mode + strlen(mode) + 1, ask->task)) {
		repair = true;
		mode = "invalid_once";
	}

	memset(&ans, 0, sizeof(ans));
	ans.status = IMA_LLM_OK;
	ans.error = "";
	ans.provider = "badllm";
	ans.model_requested = ask->nmodels > 0 ? ask->models[0].id : "bad/model";
	ans.model_used = "bad/model";
	ans.finish_reason = "stop";
	ans.attempts = 1;
	ans.prompt_tokens = 100;
	ans.completion_tokens = 50;
	if (strcmp(mode, "fail") == 0) {
		ima_llm_call_failure(req, call, "bad/model", 1, "HTTP 503");
		ans.status = IMA_LLM_FAILED;
		ans.error = "HTTP 503 on every attempt";
		ans.text = "";
	} else if (strcmp(mode, "malformed") == 0) {
		ans.text = "Sure! Here is the analysis you asked for.";
	} else if (strcmp(mode, "invalid") == 0 || !repair) {
		ans.text = "{\"summary\": 42}";
	} else {
		msgpack_unpacked up;
		size_t off = 0;

		msgpack_unpacked_init(&up);
		if (llm_offline_answer(ima_req_ctx(req), ask->task, &pk, why, sizeof(why)) == 0 &&
		    msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS)
			ima_json_write(&text, &up.data, -1);
		msgpack_unpacked_destroy(&up);
		ans.text = text.data ? text.data : "";
	}
	ans.text_len = strlen(ans.text);
	ima_llm_call_done(req, call, &ans);
	ima_buf_free(&text);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_badllm = {
	IMA_PLUGIN_HEADER,
	.name = "badllm",
	.version = "1.0.0",
	.description = "test: an LLM provider with invalid, malformed or failed answers",
	.options = badllm_options,
	.init = badllm_init,
	.process = badllm_process,
	.fini = badllm_fini,
	.llm_submit = badllm_submit,
};
