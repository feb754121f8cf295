/*
 * asker - a stage that asks the pipeline's LLM provider for completions
 * (ima_llm_submit), for the provider tests: they run a provider without
 * the real LLM stages. Never installed.
 *
 * Per request it submits `count` asks (identical, or with distinct = true
 * each prompt ends in " #<i>"), with the options' task, schema, models
 * and prices, and with join = true waits for them itself (ima_join); else
 * the core's join before the finish hooks runs the callbacks. Each
 * callback writes the answer under the top-level key "<key_prefix>.<i>"
 * (key_prefix "asker" unless set, so two asker stages keep apart):
 * {status, text, json, error, provider, model_requested, model_used,
 * finish_reason, attempts, prompt_tokens, completion_tokens, cost_usd,
 * seconds, cached, done_at}, done_at being the request's elapsed seconds
 * when the callback ran.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ima_plugin.h"

#define ASKER_MAX_MODELS 8

struct asker {
	char *key_prefix;
	char *task;
	char *prompt;
	char *system;
	char *schema_name;
	char *prompt_version;
	int64_t count;
	bool distinct;
	bool join;
	bool no_cache;
	double temperature;
	int64_t max_tokens;
	struct ima_llm_model models[ASKER_MAX_MODELS];
	size_t nmodels;
	msgpack_sbuffer schema_sb;
	msgpack_zone schema_zone;
	msgpack_object schema;
	bool has_schema;
};

struct asker_ask {
	const struct asker *st;
	int index;
};

static const struct ima_option asker_options[] = {
	{ "task", IMA_OPT_STRING, "probe", "the asks' task name", 0 },
	{ "count", IMA_OPT_INT, "1", "how many asks per request (1 to 64)", 0 },
	{ "distinct", IMA_OPT_BOOL, "false", "each prompt ends in \" #<i>\", so no two asks are equal", 0 },
	{ "prompt", IMA_OPT_STRING, "Say hello to the test.", "the user message", 0 },
	{ "system", IMA_OPT_STRING, "You are terse.", "the system message; empty: none", 0 },
	{ "schema", IMA_OPT_STRING, "", "JSON Schema of the answer as JSON text; empty: free text", 0 },
	{ "schema_name", IMA_OPT_STRING, "", "the schema's name; empty: the task", 0 },
	{ "models", IMA_OPT_STRING, "", "comma-separated models; empty: the provider's own", 0 },
	{ "price_in", IMA_OPT_DOUBLE, "0", "USD per million prompt tokens, for every model", 0 },
	{ "price_out", IMA_OPT_DOUBLE, "0", "USD per million completion tokens, for every model", 0 },
	{ "temperature", IMA_OPT_DOUBLE, "0", "the asks' temperature", 0 },
	{ "max_tokens", IMA_OPT_INT, "0", "the asks' max_tokens; 0: the provider's default", 0 },
	{ "prompt_version", IMA_OPT_STRING, "asker.v1", "the asks' prompt version", 0 },
	{ "no_cache", IMA_OPT_BOOL, "false", "neither look the asks up nor store them", 0 },
	{ "join", IMA_OPT_BOOL, "false", "wait for the answers in process (ima_join)", 0 },
	{ "key_prefix", IMA_OPT_STRING, "asker", "answers go under <key_prefix>.<i>", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static void asker_fini(void *state)
{
	struct asker *st = state;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nmodels; i++)
		ima_free((char *)st->models[i].id);
	ima_free(st->key_prefix);
	ima_free(st->task);
	ima_free(st->prompt);
	ima_free(st->system);
	ima_free(st->schema_name);
	ima_free(st->prompt_version);
	msgpack_sbuffer_destroy(&st->schema_sb);
	msgpack_zone_destroy(&st->schema_zone);
	ima_free(st);
}

static int asker_models(struct asker *st, const char *list, double in, double out)
{
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *id;

		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0) {
			if (st->nmodels == ASKER_MAX_MODELS)
				return -1;
			id = ima_malloc(n + 1);
			if (id == NULL)
				return -1;
			memcpy(id, p, n);
			id[n] = '\0';
			st->models[st->nmodels].id = id;
			st->models[st->nmodels].price_in = in;
			st->models[st->nmodels].price_out = out;
			st->nmodels++;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int asker_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct asker *st = ima_calloc(1, sizeof(*st));
	const char *schema;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	msgpack_sbuffer_init(&st->schema_sb);
	msgpack_zone_init(&st->schema_zone, 1024);
	st->key_prefix = ima_strdup(ima_conf_string(conf, "key_prefix"));
	st->task = ima_strdup(ima_conf_string(conf, "task"));
	st->prompt = ima_strdup(ima_conf_string(conf, "prompt"));
	st->system = ima_strdup(ima_conf_string(conf, "system"));
	st->schema_name = ima_strdup(ima_conf_string(conf, "schema_name"));
	st->prompt_version = ima_strdup(ima_conf_string(conf, "prompt_version"));
	st->count = ima_conf_int(conf, "count");
	st->distinct = ima_conf_bool(conf, "distinct");
	st->join = ima_conf_bool(conf, "join");
	st->no_cache = ima_conf_bool(conf, "no_cache");
	st->temperature = ima_conf_double(conf, "temperature");
	st->max_tokens = ima_conf_int(conf, "max_tokens");
	if (!st->key_prefix || !st->task || !st->prompt || !st->system || !st->schema_name || !st->prompt_version) {
		asker_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	if (st->count < 1 || st->count > 64) {
		asker_fini(st);
		return ima_error_set(err, 500, "config", "count", "count must be 1 to 64");
	}
	if (asker_models(st, ima_conf_string(conf, "models"), ima_conf_double(conf, "price_in"),
			 ima_conf_double(conf, "price_out")) != 0) {
		asker_fini(st);
		return ima_error_set(err, 500, "config", "models", "at most %d models",
				     ASKER_MAX_MODELS);
	}
	schema = ima_conf_string(conf, "schema");
	if (schema[0] != '\0') {
		size_t off = 0;

		if (ima_json_to_msgpack(schema, strlen(schema), &st->schema_sb, err) != 0 ||
		    msgpack_unpack(st->schema_sb.data, st->schema_sb.size, &off, &st->schema_zone,
				   &st->schema) != MSGPACK_UNPACK_SUCCESS) {
			asker_fini(st);
			return ima_error_set(err, 500, "config", "schema", "schema is not JSON");
		}
		st->has_schema = true;
	}
	*state = st;
	return 0;
}

static const char *asker_status(enum ima_llm_status s)
{
	switch (s) {
	case IMA_LLM_OK:
		return "ok";
	case IMA_LLM_INVALID:
		return "invalid";
	case IMA_LLM_FAILED:
		return "failed";
	case IMA_LLM_DEADLINE:
		return "deadline";
	case IMA_LLM_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

static void asker_put(struct ima_req *req, const struct asker *st, int index,
		      msgpack_sbuffer *sb)
{
	char key[96];

	snprintf(key, sizeof(key), "%s.%d", st->key_prefix, index);
	if (ima_ctx_put_sbuffer(ima_req_ctx(req), key, sb) != 0)
		ima_log(IMA_LOG_ERROR, "asker: could not write %s", key);
}

static void asker_done(struct ima_req *req, const struct ima_llm_answer *ans, void *arg)
{
	const struct asker_ask *a = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 15);
	ima_pack_cstr(&pk, "status");
	ima_pack_cstr(&pk, asker_status(ans->status));
	ima_pack_cstr(&pk, "text");
	ima_pack_strn(&pk, ans->text ? ans->text : "", ans->text ? ans->text_len : 0);
	ima_pack_cstr(&pk, "json");
	if (ans->json != NULL)
		msgpack_pack_object(&pk, *ans->json);
	else
		msgpack_pack_nil(&pk);
	ima_pack_cstr(&pk, "error");
	ima_pack_cstr(&pk, ans->error ? ans->error : "");
	ima_pack_cstr(&pk, "provider");
	ima_pack_cstr(&pk, ans->provider ? ans->provider : "");
	ima_pack_cstr(&pk, "model_requested");
	ima_pack_cstr(&pk, ans->model_requested ? ans->model_requested : "");
	ima_pack_cstr(&pk, "model_used");
	ima_pack_cstr(&pk, ans->model_used ? ans->model_used : "");
	ima_pack_cstr(&pk, "finish_reason");
	ima_pack_cstr(&pk, ans->finish_reason ? ans->finish_reason : "");
	ima_pack_cstr(&pk, "attempts");
	msgpack_pack_int64(&pk, ans->attempts);
	ima_pack_cstr(&pk, "prompt_tokens");
	msgpack_pack_int64(&pk, ans->prompt_tokens);
	ima_pack_cstr(&pk, "completion_tokens");
	msgpack_pack_int64(&pk, ans->completion_tokens);
	ima_pack_cstr(&pk, "cost_usd");
	msgpack_pack_double(&pk, ans->cost_usd);
	ima_pack_cstr(&pk, "seconds");
	msgpack_pack_double(&pk, ans->seconds);
	ima_pack_cstr(&pk, "cached");
	msgpack_pack_int(&pk, ans->cached ? 1 : 0);
	ima_pack_cstr(&pk, "done_at");
	msgpack_pack_double(&pk, ima_req_elapsed(req));
	asker_put(req, a->st, a->index, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* The messages of ask i, packed and unpacked into zone. */
static int asker_messages(const struct asker *st, int i, msgpack_sbuffer *sb,
			  msgpack_zone *zone, msgpack_object *out)
{
	msgpack_packer pk;
	char suffix[16] = "";
	size_t off = 0;

	if (st->distinct)
		snprintf(suffix, sizeof(suffix), " #%d", i);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, st->system[0] ? 2 : 1);
	if (st->system[0]) {
		msgpack_pack_map(&pk, 2);
		ima_pack_cstr(&pk, "role");
		ima_pack_cstr(&pk, "system");
		ima_pack_cstr(&pk, "content");
		ima_pack_cstr(&pk, st->system);
	}
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "role");
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, "content");
	msgpack_pack_str(&pk, strlen(st->prompt) + strlen(suffix));
	msgpack_pack_str_body(&pk, st->prompt, strlen(st->prompt));
	msgpack_pack_str_body(&pk, suffix, strlen(suffix));
	return msgpack_unpack(sb->data, sb->size, &off, zone, out) == MSGPACK_UNPACK_SUCCESS ? 0
											    : -1;
}

static enum ima_rc asker_process(struct ima_req *req, void *state)
{
	const struct asker *st = state;

	for (int i = 0; i < (int)st->count; i++) {
		struct asker_ask *a = ima_req_alloc(req, sizeof(*a));
		struct ima_llm_ask ask;
		msgpack_sbuffer sb;
		msgpack_zone zone;
		msgpack_object messages;
		int rc = -1;

		if (a == NULL)
			return ima_req_fail(req, 500, "internal", "", "out of memory");
		a->st = st;
		a->index = i;
		msgpack_sbuffer_init(&sb);
		msgpack_zone_init(&zone, 512);
		if (asker_messages(st, i, &sb, &zone, &messages) == 0) {
			memset(&ask, 0, sizeof(ask));
			ask.task = st->task;
			ask.messages = &messages;
			ask.schema = st->has_schema ? &st->schema : NULL;
			ask.schema_name = st->schema_name[0] ? st->schema_name : NULL;
			ask.models = st->nmodels ? st->models : NULL;
			ask.nmodels = st->nmodels;
			ask.temperature = st->temperature;
			ask.max_tokens = (int)st->max_tokens;
			ask.prompt_version = st->prompt_version;
			ask.no_cache = st->no_cache;
			/* The core copies the ask: the zone can go at once. */
			rc = ima_llm_submit(req, &ask, asker_done, a);
		}
		msgpack_zone_destroy(&zone);
		msgpack_sbuffer_destroy(&sb);
		if (rc != 0)
			return ima_req_fail(req, 500, "internal", "", "ask %d not submitted", i);
	}
	if (st->join) {
		int ran = ima_join(req);
		msgpack_sbuffer sb;
		msgpack_packer pk;
		char key[96];

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_int(&pk, ran);
		snprintf(key, sizeof(key), "%s.joined", st->key_prefix);
		ima_ctx_put_sbuffer(ima_req_ctx(req), key, &sb);
		msgpack_sbuffer_destroy(&sb);
	}
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_asker = {
	IMA_PLUGIN_HEADER,
	.name = "asker",
	.version = "1.0.0",
	.description = "test stage: asks the pipeline's LLM provider for completions",
	.options = asker_options,
	.init = asker_init,
	.process = asker_process,
	.fini = asker_fini,
};
