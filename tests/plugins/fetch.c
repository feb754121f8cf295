/*
 * fetch - test plugin for the core's asynchronous HTTP calls: submits
 * `count` GETs or POSTs to `url` (all at once, or one after the other from
 * each callback when `sequential`), optionally joins in its own process
 * hook, optionally fails the request right after submitting (the core must
 * then cancel what is pending), and writes what each call saw into the
 * answer under "<stage>.<i>": {result, status, seconds, reused, bytes,
 * retry_after, error, at} (at: seconds since the request started).
 */
#include <stdio.h>
#include <string.h>

#include "ima_plugin.h"

static const struct ima_option fetch_options[] = {
	{ "url", IMA_OPT_STRING, "", "where to send the calls", 0 },
	{ "count", IMA_OPT_INT, "1", "how many calls", 0 },
	{ "sequential", IMA_OPT_BOOL, "false", "each call submitted by the callback of the one before", 0 },
	{ "fault", IMA_OPT_STRING, "", "X-Test-Fault header of every call", 0 },
	{ "body", IMA_OPT_STRING, "", "JSON body: POST it (else GET)", 0 },
	{ "join", IMA_OPT_BOOL, "false", "join in the process hook", 0 },
	{ "join_ready", IMA_OPT_BOOL, "false", "run the callbacks ready now in the process hook", 0 },
	{ "fail", IMA_OPT_BOOL, "false", "fail the request after submitting", 0 },
	{ "timeout_ms", IMA_OPT_INT, "0", "each call's own timeout", 0 },
	{ "delay_ms", IMA_OPT_INT, "0", "start each call no sooner", 0 },
	{ "max_bytes", IMA_OPT_INT, "0", "response size cap (0: the core's)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

struct fetch_state {
	const struct ima_conf *conf;
	char name[64];
};

struct fetch_call {
	struct fetch_state *st;
	int index;
	int count;
};

static int fetch_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct fetch_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->conf = conf;
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

static void fetch_fini(void *state)
{
	ima_free(state);
}

static int fetch_submit(struct ima_req *req, struct fetch_call *fc);

static void fetch_done(struct ima_req *req, const struct ima_http_response *r, void *arg)
{
	struct fetch_call *fc = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char key[96];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	ima_pack_cstr(&pk, "result");
	msgpack_pack_int(&pk, (int)r->result);
	ima_pack_cstr(&pk, "status");
	msgpack_pack_long(&pk, r->status);
	ima_pack_cstr(&pk, "seconds");
	msgpack_pack_double(&pk, r->seconds);
	ima_pack_cstr(&pk, "reused");
	msgpack_pack_int(&pk, r->reused);
	ima_pack_cstr(&pk, "bytes");
	msgpack_pack_uint64(&pk, r->body_len);
	ima_pack_cstr(&pk, "retry_after");
	msgpack_pack_double(&pk, r->retry_after);
	ima_pack_cstr(&pk, "error");
	ima_pack_cstr(&pk, r->error);
	ima_pack_cstr(&pk, "at");
	msgpack_pack_double(&pk, ima_req_elapsed(req));
	snprintf(key, sizeof(key), "%s.%d", fc->st->name, fc->index);
	ima_ctx_put_sbuffer(ima_req_ctx(req), key, &sb);
	msgpack_sbuffer_destroy(&sb);
	if (ima_conf_bool(fc->st->conf, "sequential") && fc->index + 1 < fc->count) {
		struct fetch_call *next = ima_req_alloc(req, sizeof(*next));

		if (next != NULL) {
			*next = *fc;
			next->index++;
			fetch_submit(req, next);
		}
	}
}

static int fetch_submit(struct ima_req *req, struct fetch_call *fc)
{
	const struct ima_conf *conf = fc->st->conf;
	char fault[300];
	const char *body = ima_conf_string(conf, "body");
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	struct ima_http_request hr = {
		.url = ima_conf_string(conf, "url"),
		.timeout_ms = (long)ima_conf_int(conf, "timeout_ms"),
		.delay_ms = (long)ima_conf_int(conf, "delay_ms"),
		.max_response_bytes = (size_t)ima_conf_int(conf, "max_bytes"),
		.headers = headers,
		.body = body[0] ? body : NULL,
		.body_len = strlen(body),
	};

	if (ima_conf_string(conf, "fault")[0] != '\0') {
		snprintf(fault, sizeof(fault), "X-Test-Fault: %s", ima_conf_string(conf, "fault"));
		headers[1] = fault;
	}
	return ima_http_submit(req, &hr, fetch_done, fc);
}

static enum ima_rc fetch_process(struct ima_req *req, void *state)
{
	struct fetch_state *st = state;
	int count = (int)ima_conf_int(st->conf, "count");
	int first = ima_conf_bool(st->conf, "sequential") ? 1 : count;

	for (int i = 0; i < first; i++) {
		struct fetch_call *fc = ima_req_alloc(req, sizeof(*fc));

		if (fc == NULL)
			return ima_req_fail(req, 500, "internal", "", "out of memory");
		fc->st = st;
		fc->index = i;
		fc->count = count;
		if (fetch_submit(req, fc) != 0)
			return ima_req_fail(req, 500, "internal", "", "submit failed");
	}
	if (ima_conf_bool(st->conf, "fail"))
		return ima_req_fail(req, 503, "test_failure", "", "failed on purpose");
	if (ima_conf_bool(st->conf, "join"))
		ima_join(req);
	if (ima_conf_bool(st->conf, "join_ready") &&
	    ima_join_ready(req) != 0)
		return ima_req_fail(req, 500, "test_failure", "", "a callback was ready at once");
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_fetch = {
	IMA_PLUGIN_HEADER,
	.name = "fetch", .version = "0", .description = "test: asynchronous HTTP calls",
	.options = fetch_options,
	.init = fetch_init,
	.process = fetch_process,
	.fini = fetch_fini,
};
