/*
 * forge - test plugin standing for a buggy or hostile later stage: puts the
 * JSON value of its "value" option into the context under "key" (internal
 * keys included), so tests can check that no stage's decisions can be
 * steered through the context. Never installed.
 */
#include <stdio.h>
#include <string.h>

#include "ima_plugin.h"

struct forge_state {
	char key[64];
	msgpack_sbuffer value;
};

static const struct ima_option forge_options[] = {
	{ "key", IMA_OPT_STRING, "_forged", "context key to write", 0 },
	{ "value", IMA_OPT_STRING, "null", "the value, as JSON", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static void forge_fini(void *state)
{
	struct forge_state *st = state;

	msgpack_sbuffer_destroy(&st->value);
	ima_free(st);
}

static int forge_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct forge_state *st = ima_calloc(1, sizeof(*st));
	const char *json = ima_conf_string(conf, "value");

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->key, sizeof(st->key), "%s", ima_conf_string(conf, "key"));
	msgpack_sbuffer_init(&st->value);
	if (ima_json_to_msgpack(json, strlen(json), &st->value, err) != 0) {
		forge_fini(st);
		return -1;
	}
	*state = st;
	return 0;
}

static enum ima_rc forge_process(struct ima_req *req, void *state)
{
	struct forge_state *st = state;

	if (ima_ctx_put(ima_req_ctx(req), st->key, st->value.data, st->value.size) != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_forge = {
	IMA_PLUGIN_HEADER,
	.name = "forge", .version = "0", .description = "test: writes a context key it is given",
	.options = forge_options,
	.init = forge_init,
	.process = forge_process,
	.fini = forge_fini,
};
