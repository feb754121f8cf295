/*
 * ranmark - test plugin that appends its stage name and a newline to the
 * file named by its "file" option each time its process hook runs, so a
 * test can tell whether a refused request reached any later stage, even
 * when another worker process served it. Never installed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ima_plugin.h"

struct ranmark_state {
	char file[512];
	char line[80];
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
	snprintf(st->line, sizeof(st->line), "%s\n", ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

static enum ima_rc ranmark_process(struct ima_req *req, void *state)
{
	struct ranmark_state *st = state;
	size_t n = strlen(st->line);
	int fd;

	if (st->file[0] == '\0')
		return IMA_CONTINUE;
	/* O_APPEND: one write per line, whole, whatever process writes. */
	fd = open(st->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, st->line, n) != (ssize_t)n) {
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
