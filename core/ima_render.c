/*
 * ima_render.c - the answer as the client gets it: the public keys of the
 * context (or a replayed answer's members), then run_metrics and the
 * processing fields, as JSON or msgpack; or the error object.
 */
#include "config.h"

#include <string.h>

#include "ima_engine_private.h"

static const char *render_status(const struct ima_req *req)
{
	return req->degraded ? "DEGRADED" : "COMPLETED";
}

/*
 * The processing fields, the one place they are written as JSON: after the
 * members so far (first: none yet), pretty or compact.
 */
static void render_processing_json(struct ima_buf *out, const struct ima_req *req,
				   bool first, bool pretty)
{
	const char *lead = pretty ? "\n  " : "";
	const char *sep = pretty ? ": " : ":";

	if (!first)
		ima_buf_append(out, ",", 1);
	ima_buf_append(out, lead, strlen(lead));
	IMA_BUF_LIT(out, "\"processing_status\"");
	ima_buf_append(out, sep, strlen(sep));
	ima_buf_append(out, "\"", 1);
	ima_buf_append(out, render_status(req), strlen(render_status(req)));
	ima_buf_append(out, "\",", 2);
	ima_buf_append(out, lead, strlen(lead));
	IMA_BUF_LIT(out, "\"processing_time_seconds\"");
	ima_buf_append(out, sep, strlen(sep));
	ima_buf_append_fixed(out, ima_req_elapsed(req), 6);
	if (pretty)
		ima_buf_append(out, "\n", 1);
	ima_buf_append(out, "}", 1);
}

static int render_msgpack(struct ima_req *req, struct ima_buf *out)
{
	size_t n = ima_ctx_count(req->ctx), pub = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	if (req->has_error) {
		rc = ima_error_pack(&pk, &req->error);
	} else {
		for (size_t i = 0; i < n; i++)
			if (ima_ctx_key(req->ctx, i, NULL, NULL)[0] != '_')
				pub++;
		rc |= msgpack_pack_map(&pk, pub + 2);
		for (size_t i = 0; i < n; i++) {
			const void *data;
			size_t len;
			const char *key = ima_ctx_key(req->ctx, i, &data, &len);

			if (key[0] == '_')
				continue;
			rc |= ima_pack_cstr(&pk, key);
			rc |= ima_sbuffer_write(&sb, data, len);
		}
		rc |= ima_pack_cstr(&pk, "processing_status");
		rc |= ima_pack_cstr(&pk, render_status(req));
		rc |= ima_pack_cstr(&pk, "processing_time_seconds");
		rc |= msgpack_pack_double(&pk, ima_req_elapsed(req));
	}
	if (rc == 0)
		ima_buf_append(out, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 && !out->failed ? 0 : -1;
}

/* A replayed answer: its members, then this request's metrics. */
static void render_replay(struct ima_req *req, struct ima_buf *out)
{
	const msgpack_object *rm = ima_ctx_get(req->ctx, "run_metrics");

	ima_buf_append(out, "{", 1);
	ima_buf_append(out, req->prerendered, req->prerendered_len);
	if (req->prerendered_len > 0)
		ima_buf_append(out, ",", 1);
	IMA_BUF_LIT(out, "\"run_metrics\":");
	if (rm != NULL)
		ima_json_write(out, rm, -1);
	else
		IMA_BUF_LIT(out, "{}");
	render_processing_json(out, req, false, false);
}

static void render_json(struct ima_req *req, struct ima_buf *out, bool pretty)
{
	size_t n = ima_ctx_count(req->ctx);
	bool first = true;

	ima_buf_append(out, "{", 1);
	for (size_t i = 0; i < n; i++) {
		const char *key = ima_ctx_key(req->ctx, i, NULL, NULL);
		const msgpack_object *o;

		if (key[0] == '_')
			continue;
		o = ima_ctx_value(req->ctx, i);
		if (o == NULL)
			continue;
		if (!first)
			ima_buf_append(out, ",", 1);
		first = false;
		if (pretty)
			ima_buf_append(out, "\n  ", 3);
		ima_json_write_str(out, key, strlen(key));
		ima_buf_append(out, pretty ? ": " : ":", pretty ? 2 : 1);
		ima_json_write(out, o, pretty ? 1 : -1);
	}
	render_processing_json(out, req, first, pretty);
}

int ima_req_render(struct ima_req *req, enum ima_format fmt,
		   struct ima_buf *out)
{
	if (fmt == IMA_FMT_MSGPACK)
		return render_msgpack(req, out);
	if (req->has_error) {
		ima_error_write_json(out, &req->error);
	} else if (req->prerendered != NULL && fmt == IMA_FMT_JSON) {
		render_replay(req, out);
	} else if (req->prerendered != NULL) {
		ima_req_fail(req, 500, "internal", "", "a replayed answer exists only as JSON");
		ima_error_write_json(out, &req->error);
	} else {
		render_json(req, out, fmt == IMA_FMT_JSON_PRETTY);
	}
	if (fmt == IMA_FMT_JSON_PRETTY)
		ima_buf_append(out, "\n", 1);
	return out->failed ? -1 : 0;
}
