/*
 * offlinetask - writes the offline answer of one LLM task (option task)
 * under the public key offline_<task>, so the tests can check the offline
 * answers against their prompt's schema without any provider. Never
 * installed.
 */
#include <stdio.h>
#include <string.h>

#include "llm_offline_tasks.h"

static const struct ima_option offlinetask_options[] = {
	{ "task", IMA_OPT_STRING, "gap", "the task whose offline answer is written", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int offlinetask_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	*state = ima_strdup(ima_conf_string(conf, "task"));
	return *state != NULL ? 0 : ima_error_set(err, 500, "internal", "", "out of memory");
}

static enum ima_rc offlinetask_process(struct ima_req *req, void *state)
{
	const char *task = state;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char why[256], key[64];
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (llm_offline_answer(ima_req_ctx(req), task, &pk, why, sizeof(why)) != 0) {
		msgpack_sbuffer_destroy(&sb);
		return ima_req_fail(req, 500, "offline_task", "", "%s", why);
	}
	snprintf(key, sizeof(key), "offline_%s", task);
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), key, &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "cannot store %s", key);
}

static void offlinetask_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_offlinetask = {
	IMA_PLUGIN_HEADER,
	.name = "offlinetask",
	.version = "1.0.0",
	.description = "test: writes an LLM task's offline answer",
	.options = offlinetask_options,
	.init = offlinetask_init,
	.process = offlinetask_process,
	.fini = offlinetask_fini,
};
