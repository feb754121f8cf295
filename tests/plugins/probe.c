/*
 * probe - a test plugin whose behaviour comes from its options: it records
 * the order of process and finish calls in the context ("trace" and
 * "finish_trace" arrays) and can stop the pipeline or fail.
 */
#include <stdio.h>
#include <string.h>

#include "ima_plugin.h"

struct probe_state {
	char action[16];
	char name[64];
	int worker_inits;
};

static const struct ima_option probe_options[] = {
	{ "action", IMA_OPT_STRING, "continue", "continue | done | error | degrade | metrics", 0 },
	{ "fail_init", IMA_OPT_BOOL, "false", "make init fail", 0 },
	{ "count", IMA_OPT_INT, "1", "an integer option", 0 },
	{ "ratio", IMA_OPT_DOUBLE, "0.5", "a number option", 0 },
	{ "secret", IMA_OPT_STRING, "", "a secret option", IMA_OPT_SECRET },
	{ "data", IMA_OPT_STRING, "", "a data file the stage would read (never read)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int probe_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct probe_state *st;

	if (ima_conf_bool(conf, "fail_init"))
		return ima_error_set(err, 500, "config", "", "asked to fail");
	st = ima_calloc(1, sizeof(*st));
	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->action, sizeof(st->action), "%s", ima_conf_string(conf, "action"));
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

static int probe_worker_init(void *state, struct ima_error *err)
{
	((struct probe_state *)state)->worker_inits++;
	return 0;
}

/* Appends name to the string array at key. */
static int probe_append(struct ima_req *req, const char *key, const char *name)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *old = ima_ctx_get(ctx, key);
	uint32_t n = old && old->type == MSGPACK_OBJECT_ARRAY ? old->via.array.size : 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, n + 1);
	for (uint32_t i = 0; i < n; i++)
		msgpack_pack_object(&pk, old->via.array.ptr[i]);
	ima_pack_cstr(&pk, name);
	rc = ima_ctx_put_sbuffer(ctx, key, &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Contributes to run_metrics through every call of the API (ABI 1.3), and
 * through a "_metrics." context key as 1.1 plugins do. */
static enum ima_rc probe_metrics(struct ima_req *req, const char *name)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *sum;
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	ima_pack_cstr(&pk, "stage");
	ima_pack_cstr(&pk, name);
	rc |= ima_req_metric_add(req, "total_tokens", 10);
	rc |= ima_req_metric_append(req, "calls", sb.data, sb.size);
	rc |= ima_req_metric_put(req, "probe", sb.data, sb.size);
	/* Misuse is refused: another kind under a key, the core's own key,
	 * a value that is not one msgpack value, a number that is not one. */
	rc |= ima_req_metric_put(req, "total_tokens", sb.data, sb.size) != -1;
	rc |= ima_req_metric_add(req, "stages", 1) != -1;
	rc |= ima_req_metric_put(req, "bad", sb.data, sb.size - 1) != -1;
	rc |= ima_req_metric_add(req, "nan", 0.0 / 0.0) != -1;
	sum = ima_req_metric_get(req, "total_tokens");
	rc |= sum == NULL || sum->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	      sum->via.u64 % 10 != 0;
	rc |= ima_ctx_put(ima_req_ctx(req), "_metrics.legacy", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc ? ima_req_fail(req, 500, "probe_metrics", "", "run_metrics API misbehaved")
		  : IMA_CONTINUE;
}

static enum ima_rc probe_process(struct ima_req *req, void *state)
{
	struct probe_state *st = state;

	/* Arena memory is never freed by plugins: a leak here would show. */
	if (ima_req_alloc(req, 100000) == NULL || probe_append(req, "trace", st->name) != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	if (strcmp(st->action, "done") == 0)
		return IMA_DONE;
	if (strcmp(st->action, "metrics") == 0)
		return probe_metrics(req, st->name);
	if (strcmp(st->action, "degrade") == 0)
		ima_req_set_degraded(req, "probe asked for it");
	if (strcmp(st->action, "error") == 0)
		return ima_req_fail(req, 422, "probe_error", "probe_field",
				    "stage %s failed on purpose", st->name);
	return IMA_CONTINUE;
}

static void probe_finish(struct ima_req *req, void *state)
{
	struct probe_state *st = state;

	probe_append(req, "finish_trace", st->name);
}

static void probe_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_probe = {
	IMA_PLUGIN_HEADER,
	.name = "probe",
	.version = "0.0.1",
	.description = "test plugin tracing its calls",
	.options = probe_options,
	.init = probe_init,
	.worker_init = probe_worker_init,
	.process = probe_process,
	.finish = probe_finish,
	.fini = probe_fini,
};
