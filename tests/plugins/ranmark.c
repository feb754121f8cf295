/*
 * ranmark - test plugin that appends its stage name and a newline to the
 * file named by its "file" option each time its process hook runs, so a
 * test can tell whether a refused request reached any later stage, even
 * when another worker process served it. The line also shows the
 * identity an auth stage wrote: "name tenant=T user=U scopes=a,b".
 * Never installed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ima_plugin.h"

struct ranmark_state {
	char file[512];
	char name[64];
};

static const struct ima_option ranmark_options[] = {
	{ "file", IMA_OPT_STRING, "", "file the stage name is appended to", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int ranmark_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	struct ranmark_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->file, sizeof(st->file), "%s", ima_conf_string(conf, "file"));
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

static enum ima_rc ranmark_process(struct ima_req *req, void *state)
{
	struct ranmark_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *scopes = ima_ctx_get(ctx, "_auth.scopes");
	const char *tenant = "", *user = "";
	size_t tl = 0, ul = 0, n;
	char line[1024];
	int fd;

	if (st->file[0] == '\0')
		return IMA_CONTINUE;
	ima_ctx_get_str(ctx, "_auth.tenant", &tenant, &tl);
	ima_ctx_get_str(ctx, "_auth.user", &user, &ul);
	n = (size_t)snprintf(line, sizeof(line), "%s tenant=%.*s user=%.*s scopes=", st->name,
			     (int)tl, tenant, (int)ul, user);
	for (uint32_t i = 0; scopes && scopes->type == MSGPACK_OBJECT_ARRAY &&
			     i < scopes->via.array.size && n < sizeof(line) - 200; i++) {
		const msgpack_object *o = &scopes->via.array.ptr[i];

		if (o->type == MSGPACK_OBJECT_STR)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%.*s", i ? "," : "",
					      (int)o->via.str.size, o->via.str.ptr);
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\n");
	/* O_APPEND: one write per line, whole, whatever process writes. */
	fd = open(st->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, n) != (ssize_t)n) {
		if (fd >= 0)
			close(fd);
		return ima_req_fail(req, 500, "ranmark", "", "cannot write %s", st->file);
	}
	close(fd);
	return IMA_CONTINUE;
}

static void ranmark_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_ranmark = {
	IMA_PLUGIN_HEADER,
	.name = "ranmark",
	.version = "0",
	.description = "test plugin marking in a file that it ran",
	.options = ranmark_options,
	.init = ranmark_init,
	.process = ranmark_process,
	.fini = ranmark_fini,
};
