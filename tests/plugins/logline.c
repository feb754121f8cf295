/*
 * logline - test plugin whose process hook logs, through ima_log, a
 * message no log line may break on: the first bytes of resume_text between
 * quotes, a newline, a tab, a control byte and invalid UTF-8. The FastCGI
 * log test checks that the line stays one JSON object carrying the
 * request's id. Never installed.
 */
#include "ima_plugin.h"

static enum ima_rc logline_process(struct ima_req *req, void *state)
{
	const char *text = "";
	size_t len = 0;

	(void)state;
	ima_ctx_get_str(ima_req_ctx(req), "resume_text", &text, &len);
	ima_log(IMA_LOG_WARN, "logline: resume \"%.*s\"\n\tnext line \x01 bad \xff\xfe \xc3(",
		(int)(len < 24 ? len : 24), text);
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_logline = {
	IMA_PLUGIN_HEADER,
	.name = "logline",
	.version = "0",
	.description = "test plugin logging a hostile message per request",
	.process = logline_process,
};
