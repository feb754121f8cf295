/*
 * fuzz_fcgi_params.c - the FastCGI record parser of the front
 * (fcgi/receive.c): records as a web server (or anyone who reaches the
 * socket) sends them, BEGIN_REQUEST, the PARAMS pre-check that stands in
 * for libfcgi's parser (CVE-2025-23016), the environment built from them,
 * STDIN within CONTENT_LENGTH, management records, pipelined requests.
 * receive.c is compiled in here for its static fcgi_conn_parse(); the
 * connection's answers go to a socket pair that is drained after each
 * input.
 */
#include "../../fcgi/receive.c"

#include "front.h"
#include "fuzz.h"

static struct ima_fcgi_worker fuzz_w;
static struct ima_fcgi_opts fuzz_opts;
static int fuzz_fds[2] = { -1, -1 };

static void fuzz_cleanup(void)
{
	ima_engine_free(fuzz_w.eng);
	close(fuzz_fds[0]);
	close(fuzz_fds[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ima_error err = { 0 };

	(void)argc;
	(void)argv;
	ima_fuzz_env();
	ima_log_set_level(IMA_LOG_ERROR);
	/* The limits the parser reads come from an engine: the default one. */
	fuzz_w.eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	if (fuzz_w.eng == NULL) {
		fprintf(stderr, "fuzz_fcgi_params: %s\n", err.message);
		exit(1);
	}
	fuzz_opts.threads = 4;
	fuzz_opts.receive_timeout = 30;
	fuzz_w.opts = &fuzz_opts;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fuzz_fds) != 0) {
		perror("fuzz_fcgi_params: socketpair");
		exit(1);
	}
	atexit(fuzz_cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ima_fcgi_conn *c = ima_calloc(1, sizeof(*c));
	char drain[4096];

	if (c == NULL)
		return 0;
	c->fd = dup(fuzz_fds[0]);
	ima_buf_append(&c->in, data, size);
	/* Each whole request is taken as a handler would, then the next. */
	for (int round = 0; round < 16; round++) {
		if (fcgi_conn_parse(&fuzz_w, c) != 0 || !c->ready || c->close_after)
			break;
		FUZZ_CHECK(c->params_done && c->envp != NULL);
		/* A NUL in a pair hides its '=': that request is refused. */
		for (char **e = c->envp; *e != NULL; e++)
			FUZZ_CHECK(c->has_bad_param || strchr(*e, '=') != NULL);
		FUZZ_CHECK(c->body.len <= c->body_want);
		FUZZ_CHECK(!c->has_bad_param || strlen(c->bad_param) < sizeof(c->bad_param));
		ima_fcgi_conn_reset(c);
	}
	ima_fcgi_conn_free(c);
	while (recv(fuzz_fds[1], drain, sizeof(drain), MSG_DONTWAIT) > 0)
		;
	return 0;
}
