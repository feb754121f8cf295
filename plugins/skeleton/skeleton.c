/*
 * skeleton - a template for new stage plugins: copy this folder to
 * plugins/<name>/, rename every "skeleton" to <name>, add the plugin to
 * Makefile.am (pkglib_LTLIBRARIES) and name it in a pipeline.
 *
 * It counts the words of the resume and writes {"words": N} under the key
 * given by its "output_key" option: enough to show reading the input,
 * options, state, and writing a result.
 */
#include <string.h>

#include "ima_plugin.h"

struct skeleton_state {
	char *output_key;
};

/* Every option a plugin reads is declared here: `imaginator plugins` prints
 * this table and unknown keys in a config are start-up errors. */
static const struct ima_option skeleton_options[] = {
	{ "output_key", IMA_OPT_STRING, "_skeleton",
	  "context key the result is written to", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int skeleton_init(const struct ima_conf *conf, void **state,
			 struct ima_error *err)
{
	struct skeleton_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->output_key = ima_strdup(ima_conf_string(conf, "output_key"));
	if (st->output_key == NULL || st->output_key[0] == '\0') {
		ima_free(st->output_key);
		ima_free(st);
		return ima_error_set(err, 500, "config", "output_key",
				     "output_key must not be empty");
	}
	*state = st;
	return 0;
}

static enum ima_rc skeleton_process(struct ima_req *req, void *state)
{
	const struct skeleton_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *text;
	size_t len, words = 0;
	int in_word = 0, rc;

	if (ima_ctx_get_str(ctx, "_input.resume_text", &text, &len) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "skeleton needs the request stage before it");
	for (size_t i = 0; i < len; i++) {
		int space = strchr(" \t\r\n", text[i]) != NULL;

		if (!space && !in_word)
			words++;
		in_word = !space;
	}
	/* Grown through the core's allocator (ABI 1.7). A write that runs out
	 * of memory fails every later one too, so the put is the one check. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	ima_pack_cstr(&pk, "words");
	msgpack_pack_uint64(&pk, words);
	/* The context takes the buffer; on failure it stays ours to free. */
	rc = ima_ctx_put_sbuffer(ctx, st->output_key, &sb);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

static void skeleton_fini(void *state)
{
	struct skeleton_state *st = state;

	ima_free(st->output_key);
	ima_free(st);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_skeleton = {
	IMA_PLUGIN_HEADER,
	.name = "skeleton",
	.version = "1.0.0",
	.description = "template plugin: counts the words of the resume",
	.options = skeleton_options,
	.init = skeleton_init,
	.process = skeleton_process,
	.fini = skeleton_fini,
};
