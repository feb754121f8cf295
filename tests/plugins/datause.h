/*
 * datause.h - a test stage that reads one file as shared data (ABI 1.6)
 * and writes {"owner", "text"} of the object it got into the context key
 * "datause". owner is a string of the plugin that loaded the object, in
 * that plugin's own read-only data: reading it after that plugin was
 * unmapped faults. Built twice, as datausea and datauseb, with
 * DATAUSE_NAME and DATAUSE_SYMBOL set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"

struct datause_object {
	const char *owner;
	char *text;
};

static const struct ima_option datause_options[] = {
	{ "path", IMA_OPT_STRING, "", "the file to read", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static void *datause_load(const char *const *paths, const void *base, char *err,
			  size_t errlen)
{
	struct datause_object *o;
	FILE *f = fopen(paths[0], "r");
	char buf[256];
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open", paths[0]);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	o = ima_calloc(1, sizeof(*o));
	if (o == NULL || (o->text = ima_strdup(buf)) == NULL) {
		ima_free(o);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->owner = DATAUSE_NAME;
	return o;
}

static void datause_free(void *object)
{
	struct datause_object *o = object;

	ima_free(o->text);
	ima_free(o);
}

static int datause_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	const char *paths[1] = { ima_conf_string(conf, "path") };
	char msg[256];
	const void *o = ima_data_acquire("test.datause/1", paths, 1, NULL, datause_load,
					 datause_free, msg, sizeof(msg));

	if (o == NULL)
		return ima_error_set(err, 500, "config", "path", "%s", msg);
	*state = (void *)o;
	return 0;
}

static enum ima_rc datause_process(struct ima_req *req, void *state)
{
	const struct datause_object *o = state;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "owner");
	ima_pack_cstr(&pk, o->owner);
	ima_pack_cstr(&pk, "text");
	ima_pack_cstr(&pk, o->text);
	rc = ima_ctx_put(ima_req_ctx(req), "datause", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : IMA_ERROR;
}

static void datause_fini(void *state)
{
	ima_data_release(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin DATAUSE_SYMBOL = {
	IMA_PLUGIN_HEADER,
	.name = DATAUSE_NAME,
	.version = "0.0.1",
	.description = "test plugin sharing a data file",
	.options = datause_options,
	.init = datause_init,
	.process = datause_process,
	.fini = datause_fini,
};
