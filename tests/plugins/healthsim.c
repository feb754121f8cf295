/*
 * healthsim - test plugin with a health hook whose dependency state is
 * read from the file named by its "file" option on every probe ("ok",
 * "degraded" or "down"; no file is "ok"), so a test can take a dependency
 * down and up again under a running imaginator-fcgi. Its process hook
 * does nothing. Never installed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ima_plugin.h"

struct healthsim_state {
	char file[512];
	char name[64];
};

static const struct ima_option healthsim_options[] = {
	{ "file", IMA_OPT_STRING, "", "file holding ok, degraded or down", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int healthsim_init(const struct ima_conf *conf, void **state,
			  struct ima_error *err)
{
	struct healthsim_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->file, sizeof(st->file), "%s", ima_conf_string(conf, "file"));
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

static enum ima_rc healthsim_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

static int healthsim_health(void *state, msgpack_packer *out)
{
	struct healthsim_state *st = state;
	const char *status = "ok";
	char text[16] = "";
	int fd = open(st->file, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, text, sizeof(text) - 1);

		close(fd);
		text[n > 0 ? n : 0] = '\0';
		if (strncmp(text, "down", 4) == 0)
			status = "down";
		else if (strncmp(text, "degraded", 8) == 0)
			status = "degraded";
	}
	msgpack_pack_map(out, 4);
	ima_pack_cstr(out, "name");
	ima_pack_cstr(out, "simulated");
	ima_pack_cstr(out, "stage");
	ima_pack_cstr(out, st->name);
	ima_pack_cstr(out, "status");
	ima_pack_cstr(out, status);
	ima_pack_cstr(out, "detail");
	ima_pack_cstr(out, "read from the test's file");
	return 1;
}

static void healthsim_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_healthsim = {
	IMA_PLUGIN_HEADER,
	.name = "healthsim",
	.version = "0",
	.description = "test plugin whose dependency state comes from a file",
	.options = healthsim_options,
	.init = healthsim_init,
	.process = healthsim_process,
	.health = healthsim_health,
	.fini = healthsim_fini,
};
