/*
 * check_log.c - the log lines of the core (core/ima_util.c): every JSON
 * line parses whatever bytes a message holds, keeps the keys a log store
 * indexes, stays within one write of PIPE_BUF bytes, and lines of several
 * processes on one pipe never mix. Standard error is redirected to a pipe
 * or a file for each case.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ima_core.h"

/* Standard error goes to a temporary file until log_end(). */
static int saved_stderr = -1;
static FILE *captured;

static void log_begin(void)
{
	captured = tmpfile();
	ck_assert_ptr_nonnull(captured);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fileno(captured), STDERR_FILENO), 0);
}

/* Returns what was written (malloc'd, NUL-terminated), length in *len. */
static char *log_end(size_t *len)
{
	long n;
	char *text;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	n = ftell(captured);
	ck_assert_int_ge(n, 0);
	text = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	rewind(captured);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, captured), (size_t)n);
	text[n] = '\0';
	fclose(captured);
	*len = (size_t)n;
	return text;
}

/* The one line text holds, parsed; fails unless it is exactly one line
 * that is a JSON object with the keys every line has. */
static json_t *one_json_line(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *o;
	const char *time;

	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(text[len - 1], '\n');
	ck_assert_ptr_eq(memchr(text, '\n', len), text + len - 1);
	ck_assert_ptr_null(memchr(text, '\0', len));
	ck_assert_uint_le(len, PIPE_BUF);
	o = json_loadb(text, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(o != NULL, "not JSON (%s): %.300s", jerr.text, text);
	ck_assert(json_is_object(o));
	time = json_string_value(json_object_get(o, "time"));
	ck_assert_ptr_nonnull(time);
	/* 2026-11-25T16:42:23.123Z */
	ck_assert_uint_eq(strlen(time), 24);
	ck_assert_int_eq(time[10], 'T');
	ck_assert_int_eq(time[19], '.');
	ck_assert_int_eq(time[23], 'Z');
	ck_assert(json_is_string(json_object_get(o, "level")));
	ck_assert(json_is_integer(json_object_get(o, "pid")));
	ck_assert(json_is_string(json_object_get(o, "message")));
	return o;
}

static void log_reset(void)
{
	ima_log_set_format(IMA_LOG_TEXT, "imaginator");
	ima_log_set_process(NULL);
	ima_log_set_request(NULL);
}

START_TEST(json_escapes_any_bytes)
{
	/* Quotes, a backslash, line breaks, control bytes, DEL, a stray
	 * continuation byte, a lone lead byte, an overlong '/', a surrogate,
	 * 0xff, then valid two-, three- and four-byte characters. */
	static const char msg[] = "say \"hi\" \\ a\nb\rc\td \x01\x1f\x7f|\x80|\xc3|"
				  "\xc0\xaf|\xed\xa0\x80|\xff|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const char want[] = "say \"hi\" \\ a\nb\rc\td \x01\x1f\x7f|\xef\xbf\xbd|\xef\xbf\xbd|"
				   "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
				   "\xef\xbf\xbd|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	size_t len;
	char *text;
	json_t *o;

	ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
	ima_log_set_process("supervisor");
	log_begin();
	ima_log(IMA_LOG_WARN, "%s", msg);
	text = log_end(&len);
	o = one_json_line(text, len);
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")), want);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warning");
	ck_assert_str_eq(json_string_value(json_object_get(o, "worker")), "supervisor");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "pid")), getpid());
	ck_assert_ptr_null(json_object_get(o, "request_id"));
	ck_assert_ptr_null(json_object_get(o, "truncated"));
	json_decref(o);
	free(text);
	log_reset();
}
END_TEST

START_TEST(json_request_id_per_thread)
{
	size_t len;
	char *text, *nl;
	json_t *o;

	ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
	ima_log_set_process("7");
	ima_log_set_request("req-\"1\"");
	log_begin();
	ima_log(IMA_LOG_INFO, "with id");
	ima_log_set_request(NULL);
	ima_log(IMA_LOG_ERROR, "without");
	text = log_end(&len);
	nl = strchr(text, '\n');
	ck_assert_ptr_nonnull(nl);
	o = one_json_line(text, (size_t)(nl + 1 - text));
	ck_assert_str_eq(json_string_value(json_object_get(o, "request_id")), "req-\"1\"");
	ck_assert_str_eq(json_string_value(json_object_get(o, "worker")), "7");
	json_decref(o);
	o = one_json_line(nl + 1, len - (size_t)(nl + 1 - text));
	ck_assert_ptr_null(json_object_get(o, "request_id"));
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "error");
	json_decref(o);
	free(text);
	log_reset();
}
END_TEST

static void *log_from_thread(void *arg)
{
	(void)arg;
	ima_log(IMA_LOG_INFO, "other thread");
	return NULL;
}

START_TEST(json_request_id_is_thread_local)
{
	pthread_t tid;
	size_t len;
	char *text;
	json_t *o;

	ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
	ima_log_set_request("mine");
	log_begin();
	ck_assert_int_eq(pthread_create(&tid, NULL, log_from_thread, NULL), 0);
	pthread_join(tid, NULL);
	text = log_end(&len);
	o = one_json_line(text, len);
	ck_assert_ptr_null(json_object_get(o, "request_id"));
	json_decref(o);
	free(text);
	log_reset();
}
END_TEST

START_TEST(json_fields_and_truncation)
{
	char *big = malloc(3 * PIPE_BUF);
	char *fields = malloc(2 * PIPE_BUF);
	size_t len, n;
	char *text, *l2, *l3;
	json_t *o;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(fields);
	ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
	ima_log_set_process("1");
	/* A message of quotes and control bytes grows six-fold when
	 * escaped: the cut must not leave half an escape. */
	for (size_t i = 0; i < 3 * PIPE_BUF - 1; i++)
		big[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\x02' : '\xe2';
	big[3 * PIPE_BUF - 1] = '\0';
	n = (size_t)snprintf(fields, 2 * PIPE_BUF, "\"status\":200,\"path\":\"/x\"");
	log_begin();
	ima_log_fields(IMA_LOG_INFO, fields, n, "GET %s", "/x");
	ima_log(IMA_LOG_INFO, "%s", big);
	/* Fields too long for the line are left out whole. */
	memset(fields, ' ', 2 * PIPE_BUF);
	memcpy(fields, "\"pad\":\"", 7);
	fields[2 * PIPE_BUF - 2] = '"';
	ima_log_fields(IMA_LOG_INFO, fields, 2 * PIPE_BUF - 1, "short");
	text = log_end(&len);

	l2 = strchr(text, '\n') + 1;
	l3 = strchr(l2, '\n') + 1;
	o = one_json_line(text, (size_t)(l2 - text));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "path")), "/x");
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")), "GET /x");
	json_decref(o);
	o = one_json_line(l2, (size_t)(l3 - l2));
	ck_assert(json_is_true(json_object_get(o, "truncated")));
	ck_assert_uint_gt(strlen(json_string_value(json_object_get(o, "message"))), 500);
	json_decref(o);
	o = one_json_line(l3, len - (size_t)(l3 - text));
	ck_assert(json_is_true(json_object_get(o, "truncated")));
	ck_assert_ptr_null(json_object_get(o, "pad"));
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")), "short");
	json_decref(o);
	free(text);
	free(big);
	free(fields);
	log_reset();
}
END_TEST

START_TEST(text_stays_one_line)
{
	size_t len;
	char *text;

	log_reset();
	log_begin();
	ima_log(IMA_LOG_ERROR, "bad \"x\"\nnext\x01");
	ima_log_set_format(IMA_LOG_TEXT, "imaginator-fcgi");
	ima_log_set_process("3");
	ima_log_set_request("r1");
	ima_log(IMA_LOG_INFO, "hello");
	text = log_end(&len);
	/* The CLI's lines as they always were, control bytes made visible. */
	ck_assert_str_eq(strtok(text, "\n"), "imaginator: error: bad \"x\"\\nnext\\x01");
	{
		char want[128];

		snprintf(want, sizeof(want), "imaginator-fcgi[%d] worker 3: info: hello (request r1)",
			 (int)getpid());
		ck_assert_str_eq(strtok(NULL, "\n"), want);
	}
	ck_assert_ptr_null(strtok(NULL, "\n"));
	free(text);
	log_reset();
}
END_TEST

START_TEST(format_names)
{
	enum ima_log_format f = IMA_LOG_TEXT;

	ck_assert_int_eq(ima_log_format_parse("json", &f), 0);
	ck_assert_int_eq(f, IMA_LOG_JSON);
	ck_assert_int_eq(ima_log_format_parse("text", &f), 0);
	ck_assert_int_eq(f, IMA_LOG_TEXT);
	ck_assert_int_eq(ima_log_format_parse("JSON", &f), -1);
	ck_assert_int_eq(ima_log_format_parse("", &f), -1);
}
END_TEST

/* Four processes write long lines to one pipe at once: every line read
 * back is whole. */
START_TEST(processes_never_interleave)
{
	enum { PROCS = 4, LINES = 200 };
	int fds[2];
	pid_t pids[PROCS];
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int count = 0;

	ck_assert_int_eq(pipe(fds), 0);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		ck_assert_int_ge(pids[p], 0);
		if (pids[p] == 0) {
			char msg[5000];
			char name[8];

			close(fds[0]);
			dup2(fds[1], STDERR_FILENO);
			ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
			snprintf(name, sizeof(name), "%d", p + 1);
			ima_log_set_process(name);
			memset(msg, 'a' + p, sizeof(msg) - 1);
			msg[sizeof(msg) - 1] = '\0';
			for (int i = 0; i < LINES; i++)
				ima_log(IMA_LOG_INFO, "%d %s", i, msg);
			_exit(0);
		}
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	ck_assert_ptr_nonnull(in);
	while ((n = getline(&line, &cap, in)) > 0) {
		json_t *o = one_json_line(line, (size_t)n);
		const char *m = json_string_value(json_object_get(o, "message"));
		const char *w = json_string_value(json_object_get(o, "worker"));
		const char *sp = strchr(m, ' ');

		/* One process's letter throughout the message. */
		ck_assert_ptr_nonnull(sp);
		ck_assert_int_eq(sp[1], 'a' + atoi(w) - 1);
		ck_assert_int_eq(m[strlen(m) - 1], sp[1]);
		json_decref(o);
		count++;
	}
	free(line);
	fclose(in);
	for (int p = 0; p < PROCS; p++)
		waitpid(pids[p], NULL, 0);
	ck_assert_int_eq(count, PROCS * LINES);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, json_escapes_any_bytes);
	tcase_add_test(tc, json_request_id_per_thread);
	tcase_add_test(tc, json_request_id_is_thread_local);
	tcase_add_test(tc, json_fields_and_truncation);
	tcase_add_test(tc, text_stays_one_line);
	tcase_add_test(tc, format_names);
	tcase_add_test(tc, processes_never_interleave);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
