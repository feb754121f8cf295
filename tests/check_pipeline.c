/* check_pipeline.c - order, short-circuit, errors, finish hooks, failures. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ima_test.h"

#define STAGE(n, action) \
	"{ name = \"" n "\"; plugin = \"probe\"; options = { action = \"" action "\"; }; }"

/* Compares the string array at key with the expected names. */
static void check_trace(struct ima_req *req, const char *key,
			const char *const *want, unsigned n)
{
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), key);

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_eq(o->via.array.size, n);
	for (unsigned i = 0; i < n; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];

		ck_assert_int_eq((int)e->via.str.size, (int)strlen(want[i]));
		ck_assert_int_eq(memcmp(e->via.str.ptr, want[i], e->via.str.size), 0);
	}
}

START_TEST(pipeline_order_and_finish_reverse)
{
	static const char *const fwd[] = { "a", "b", "c" };
	static const char *const rev[] = { "c", "b", "a" };
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = (" STAGE("a", "continue") "," STAGE("b", "continue") ","
		STAGE("c", "continue") ");", &err);
	struct ima_req *req;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{\"resume_text\": \"x\"}", &req), 200);
	check_trace(req, "trace", fwd, 3);
	check_trace(req, "finish_trace", rev, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert(ima_req_stage_seconds(req, i) >= 0);
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "run_metrics.stages"));
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(pipeline_run_metrics_from_stages)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = (" STAGE("m1", "metrics") "," STAGE("m2", "metrics") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 };
	double tokens = 0;
	const msgpack_object *calls;
	size_t len;
	const char *name;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{}", &req), 200);
	/* Numbers add up over stages; appended values collect; put replaces. */
	ck_assert_int_eq(ima_ctx_get_double(ima_req_ctx(req), "run_metrics.total_tokens", &tokens), 0);
	ck_assert_double_eq(tokens, 20);
	calls = ima_ctx_get(ima_req_ctx(req), "run_metrics.calls");
	ck_assert_ptr_nonnull(calls);
	ck_assert_int_eq(calls->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_eq((int)calls->via.array.size, 2);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "run_metrics.probe.stage", &name, &len), 0);
	ck_assert_int_eq((int)len, 2);
	ck_assert_int_eq(memcmp(name, "m2", 2), 0);
	/* What 1.1 plugins put under "_metrics." still shows. */
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "run_metrics.legacy.stage"));
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "run_metrics.stages"));
	/* The core adds no figures it does not know: no LLM totals here. */
	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "run_metrics.estimated_cost_usd"));
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\"run_metrics\":{\"total_tokens\":20,\"calls\":[{\"stage\":\"m1\"},{\"stage\":\"m2\"}],\"probe\":{\"stage\":\"m2\"},\"legacy\":{\"stage\":\"m2\"},\"stages\":["));
	ima_buf_free(&out);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(pipeline_short_circuit)
{
	static const char *const fwd[] = { "a", "b" };
	static const char *const rev[] = { "b", "a" };
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = (" STAGE("a", "continue") "," STAGE("b", "done") ","
		STAGE("c", "continue") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 };

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{}", &req), 200);
	check_trace(req, "trace", fwd, 2);
	check_trace(req, "finish_trace", rev, 2);
	ck_assert(ima_req_stage_seconds(req, 2) < 0);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\"processing_status\":\"COMPLETED\""));
	ck_assert_ptr_null(strstr(out.data, "_request"));
	ima_buf_free(&out);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(pipeline_error_propagates)
{
	static const char *const fwd[] = { "a", "b" };
	static const char *const rev[] = { "b", "a" };
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = (" STAGE("a", "continue") "," STAGE("b", "error") ","
		STAGE("c", "continue") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 };
	const struct ima_error *e;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{}", &req), 422);
	e = ima_req_error(req);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->code, "probe_error");
	ck_assert_str_eq(e->field, "probe_field");
	check_trace(req, "trace", fwd, 2);
	check_trace(req, "finish_trace", rev, 2);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "{\"error\":{\"status\":422,\"code\":\"probe_error\""));
	ima_buf_free(&out);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(pipeline_bad_body_never_reaches_stages)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);
	struct ima_req *req;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{\"a\": ", &req), 400);
	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "trace"));
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

/* Every allocation of a request, failed in turn: never a crash or a leak
 * (LeakSanitizer checks the latter in CI), always an answer. */
START_TEST(pipeline_allocation_failures)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = (" STAGE("a", "continue") "," STAGE("b", "error") ","
		STAGE("c", "continue") ");", &err);
	long total;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_alloc_fail_after(0);
	{
		struct ima_req *req = ima_req_new();
		struct ima_buf out = { 0 };

		ima_engine_handle(eng, req, "{\"x\":[1,2,3]}", 13, IMA_FMT_JSON);
		ima_req_render(req, IMA_FMT_JSON, &out);
		ima_buf_free(&out);
		ima_req_free(req);
	}
	total = ima_alloc_count();
	ck_assert_int_gt(total, 5);
	for (long n = 1; n <= total + 1; n++) {
		struct ima_req *req;
		struct ima_buf out = { 0 };
		int status;

		ima_alloc_fail_after(n);
		req = ima_req_new();
		if (req == NULL)
			continue;
		status = ima_engine_handle(eng, req, "{\"x\":[1,2,3]}", 13, IMA_FMT_JSON);
		ck_assert(status == 422 || status == 500);
		ima_req_render(req, IMA_FMT_JSON, &out);
		ima_buf_free(&out);
		ima_req_free(req);
	}
	ima_alloc_fail_after(0);
	ima_engine_free(eng);
}
END_TEST

/* Every allocation of a load over the shipped configuration (the file and
 * the two it includes, every real plugin's init) may fail: the load then
 * fails cleanly, with a message, and frees what it built. */
/* Copies the first lines of a shipped data file into the test's directory;
 * returns that directory. */
static const char *copy_data_head(const char *name, int lines)
{
	const char *src = getenv("top_srcdir");
	static char dir[4200];
	char path[4096], line[4096];
	struct ima_buf b = { 0 };
	const char *copy;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/%s", src ? src : "..", name);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (lines-- > 0 && fgets(line, sizeof(line), f) != NULL)
		ima_buf_append(&b, line, strlen(line));
	fclose(f);
	ck_assert(!b.failed);
	copy = test_write_file(name, b.data);
	ima_buf_free(&b);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(copy, '/') - copy), copy);
	return dir;
}

START_TEST(pipeline_load_allocation_failures)
{
	static const char *const data[] = { "aliases.tsv", "adjacency.tsv", "knowledge.tsv",
					    "roles.tsv", "skills.tsv", "titles.tsv",
					    "occupations.tsv" };
	const char *src = getenv("top_srcdir");
	struct ima_error err;
	struct ima_engine *eng;
	char path[4096];
	long total;

	const char *old = getenv("IMAGINATOR_DATA_DIR");
	char *keep = old ? strdup(old) : NULL;

	/* The shipped data files, cut short: each load reads them all. */
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		setenv("IMAGINATOR_DATA_DIR", copy_data_head(data[i], 40), 1);
	/* The LLM prompts whole: a JSON document cut short is no prompt. */
	snprintf(path, sizeof(path), "%s/prompts", getenv("IMAGINATOR_DATA_DIR"));
	ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
	copy_data_head("prompts/gap.v2.json", 1000);
	copy_data_head("prompts/profile.v1.json", 1000);
	copy_data_head("prompts/suggestions.v1.json", 1000);
	snprintf(path, sizeof(path), "%s/conf/default.conf", src ? src : "..");
	for (int embedded = 0; embedded < 2; embedded++) {
		const char *conf = embedded ? NULL : path;

		ima_alloc_fail_after(0);
		eng = ima_engine_load(conf, &ima_fcgi_front, &err);
		total = ima_alloc_count();
		ck_assert_msg(eng != NULL, "%s", err.message);
		ima_engine_free(eng);
		ck_assert_int_gt(total, 20);
		for (long n = 1; n <= total; n++) {
			memset(&err, 0, sizeof(err));
			ima_alloc_fail_after(n);
			eng = ima_engine_load(conf, &ima_fcgi_front, &err);
			ima_alloc_fail_after(0);
			/* An allocation whose failure is tolerated may still
			 * give an engine. */
			ck_assert_msg(eng != NULL || err.message[0] != '\0',
				      "allocation %ld of %ld: no engine and no message", n, total);
			ima_engine_free(eng);
		}
	}
	ima_alloc_fail_after(0);
	if (keep != NULL) {
		setenv("IMAGINATOR_DATA_DIR", keep, 1);
		free(keep);
	}
}
END_TEST

/* The same for a whole analysis through the embedded default pipeline:
 * every failed allocation gives an answer (or an error) and leaks
 * nothing. Each run has its own resume, so the cache stage never answers
 * from an earlier run. */
START_TEST(pipeline_analysis_allocation_failures)
{
	static const char body[] =
		"{\"resume_text\":\"Ana Diaz\\nSenior Backend Engineer\\nAcme Inc\\n"
		"January 2015 to Present\\n- Led 4 engineers building Go and PostgreSQL services, cut costs by 30%%\\n"
		"SKILLS\\nGo, Python, Kubernetes, run %ld\",\"job_ad\":\"Backend Engineer\\nRequirements:\\n"
		"- 5+ years of Go and PostgreSQL\\n- Kubernetes\\nNice to have:\\n- Rust\","
		"\"reference_date\":\"2024-06-01\"}";
	struct ima_error err;
	struct ima_engine *eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	char json[1024];
	long total = 0;

	ck_assert_msg(eng != NULL, "%s", err.message);
	for (long n = 0, runs = 0; n == 0 || n <= total + 1; n++, runs++) {
		struct ima_req *req;
		struct ima_buf out = { 0 };
		int status, rc;

		snprintf(json, sizeof(json), body, runs);
		ima_alloc_fail_after(n);
		req = ima_req_new();
		if (req == NULL) {
			ima_alloc_fail_after(0);
			continue;
		}
		status = ima_engine_handle(eng, req, json, strlen(json), IMA_FMT_JSON);
		rc = ima_req_render(req, IMA_FMT_JSON, &out);
		if (n == 0) {
			total = ima_alloc_count();
			ck_assert_msg(status == 200, "status %d", status);
			ck_assert_int_gt(total, 20);
		}
		ima_alloc_fail_after(0);
		ck_assert_msg(status == 200 || status == 500, "allocation %ld: status %d", n, status);
		ck_assert_msg(rc != 0 || (out.data != NULL && out.data[0] == '{'),
			      "allocation %ld: rendered nothing", n);
		ima_buf_free(&out);
		ima_req_free(req);
	}
	ima_engine_free(eng);
}
END_TEST

/* A put that cannot copy its value leaves no key behind, and a replacing
 * put that cannot keeps the value it had: the answer stays well-formed. */
START_TEST(pipeline_run_metrics_failed_put)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 }, big = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;

	ck_assert_msg(eng != NULL, "%s", err.message);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "value", 5);
	req = ima_req_new();
	ck_assert_ptr_nonnull(req);
	ima_alloc_fail_after(1);
	ck_assert_int_eq(ima_req_metric_put(req, "lost", sb.data, sb.size), -1);
	ima_alloc_fail_after(0);
	ck_assert_ptr_null(ima_req_metric_get(req, "lost"));
	ck_assert_int_eq(ima_req_metric_put(req, "kept", sb.data, sb.size), 0);
	for (int i = 0; i < 4096; i++)
		IMA_BUF_LIT(&big, "\xa1x");
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 4096);
	msgpack_sbuffer_write(&sb, big.data, big.len);
	ima_alloc_fail_after(1);
	ck_assert_int_eq(ima_req_metric_put(req, "kept", sb.data, sb.size), -1);
	ima_alloc_fail_after(0);
	ck_assert_msg(ima_engine_handle(eng, req, "{}", 2, IMA_FMT_JSON) == 200, "%s",
		      ima_req_error(req) ? ima_req_error(req)->message : "");
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_msg(strstr(out.data, "\"run_metrics\":{\"kept\":\"value\",\"stages\":[") != NULL,
		      "%s", out.data);
	ima_buf_free(&out);
	ima_req_free(req);
	ima_buf_free(&big);
	msgpack_sbuffer_destroy(&sb);
	ima_engine_free(eng);
}
END_TEST

/* Keys of 63 bytes are taken, of 64 refused; 32 keys at most; a NULL key
 * is refused by every call; sums past what an integer holds stay numbers. */
START_TEST(pipeline_run_metrics_limits)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char key[80];

	ck_assert_msg(eng != NULL, "%s", err.message);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "x", 1);
	req = ima_req_new();
	ck_assert_ptr_nonnull(req);
	memset(key, 'k', 64);
	key[64] = '\0';
	ck_assert_int_eq(ima_req_metric_add(req, key, 1), -1);
	key[63] = '\0';
	ck_assert_int_eq(ima_req_metric_add(req, key, 1), 0);
	ck_assert_int_eq(ima_req_metric_add(req, NULL, 1), -1);
	ck_assert_ptr_null(ima_req_metric_get(req, NULL));
	for (int i = 1; i < 32; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(ima_req_metric_append(req, key, sb.data, sb.size), 0);
	}
	ck_assert_int_eq(ima_req_metric_add(req, "k33", 1), -1);
	/* A key keeps its kind. */
	ck_assert_int_eq(ima_req_metric_add(req, "k1", 1), -1);
	memset(key, 'k', 63);
	key[63] = '\0';
	ck_assert_int_eq(ima_req_metric_add(req, key, 1e300), 0);
	ck_assert_int_eq(ima_engine_handle(eng, req, "{}", 2, IMA_FMT_JSON), 200);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_msg(strstr(out.data, "\"k31\":[\"x\"]") != NULL, "%s", out.data);
	ck_assert_msg(strstr(out.data, "k\":1e+300,\"k1\":") != NULL, "%s", out.data);
	ima_buf_free(&out);
	ima_req_free(req);
	msgpack_sbuffer_destroy(&sb);
	ima_engine_free(eng);
}
END_TEST

/* Large appended values are kept whole, and nested ones up to the depth
 * the answer can still hold. */
START_TEST(pipeline_run_metrics_large_values)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);
	struct ima_req *req = ima_req_new();
	struct ima_buf out = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t big = 4 * 1024 * 1024;
	char *text = malloc(big);

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_nonnull(text);
	memset(text, 'y', big);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_str(&pk, big);
	msgpack_pack_str_body(&pk, text, big);
	ck_assert_int_eq(ima_req_metric_append(req, "calls", sb.data, sb.size), 0);
	ck_assert_int_eq(ima_req_metric_append(req, "calls", sb.data, sb.size), 0);
	/* 29 arrays around a number: the answer nests it in run_metrics and
	 * the key's array, 31 levels; one more is refused. */
	msgpack_sbuffer_clear(&sb);
	for (int i = 0; i < 29; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 1);
	ck_assert_int_eq(ima_req_metric_append(req, "deep", sb.data, sb.size), 0);
	msgpack_sbuffer_clear(&sb);
	for (int i = 0; i < 31; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 1);
	ck_assert_int_eq(ima_req_metric_append(req, "deeper", sb.data, sb.size), -1);
	ck_assert_int_eq(ima_engine_handle(eng, req, "{}", 2, IMA_FMT_JSON), 200);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_uint_gt(out.len, 2 * big);
	ck_assert_ptr_nonnull(strstr(out.data, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"));
	ima_buf_free(&out);
	out = (struct ima_buf){ 0 };
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_MSGPACK, &out), 0);
	ima_buf_free(&out);
	msgpack_sbuffer_destroy(&sb);
	free(text);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(pipeline_worker_init_runs)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(ima_engine_worker_init(eng, &err), 0);
	ima_engine_free(eng);
}
END_TEST

/* The threads of this process. */
/* The threads of this process that run HTTP transfers (by name: a
 * sanitizer's runtime may run threads of its own). */
static int io_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, IMA_HTTP_THREAD_NAME "\n",
								    sizeof(IMA_HTTP_THREAD_NAME)) == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * A worker forked during a reload inherits the running engine and the new
 * one but serves only the new one: the I/O thread its calls started must
 * stop when it frees that one, not run on through exit() (valgrind saw
 * its stack as possibly lost in every worker of a reload).
 */
START_TEST(pipeline_io_thread_stops_with_served_engine)
{
	static const char conf[] = "pipeline = ( { name = \"fetch\"; plugin = \"fetch\"; "
		"options = { url = \"http://127.0.0.1:1/\"; timeout_ms = 2000; }; } );";
	struct ima_error err;
	struct ima_engine *running = test_engine(conf, &err), *next;
	int status = -1;
	pid_t pid;

	ck_assert_msg(running != NULL, "%s", err.message);
	next = test_engine(conf, &err);
	ck_assert_msg(next != NULL, "%s", err.message);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct ima_req *req = ima_req_new();
		int during;

		if (req == NULL || ima_engine_worker_init(next, &err) != 0)
			_exit(2);
		ima_engine_handle(next, req, "{}", 2, IMA_FMT_JSON);
		during = io_threads();
		ima_req_free(req);
		ima_engine_free(next);
		_exit(during == 1 && io_threads() == 0 ? 0 : 10 + 2 * during + io_threads());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child's I/O thread outlived its engine (status %d)", status);
	ima_engine_free(next);
	ima_engine_free(running);
}
END_TEST

START_TEST(pipeline_msgpack_render)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine("pipeline = (" STAGE("a", "continue") ");", &err);
	struct ima_req *req;
	struct ima_buf out = { 0 };
	struct ima_ctx *back = ima_ctx_new();
	struct ima_limits lim = { 1 << 20, 32 };
	const char *s;
	size_t n;

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{}", &req), 200);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_MSGPACK, &out), 0);
	ck_assert_int_eq(ima_ctx_decode(back, out.data, out.len, &lim, &err), 0);
	ck_assert_int_eq(ima_ctx_get_str(back, "processing_status", &s, &n), 0);
	ck_assert_int_eq(memcmp(s, "COMPLETED", n), 0);
	ck_assert_int_eq(ima_ctx_get_str(back, "trace.0", &s, &n), 0);
	ima_ctx_free(back);
	ima_buf_free(&out);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("pipeline");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pipeline_order_and_finish_reverse);
	tcase_add_test(tc, pipeline_short_circuit);
	tcase_add_test(tc, pipeline_run_metrics_from_stages);
	tcase_add_test(tc, pipeline_error_propagates);
	tcase_add_test(tc, pipeline_bad_body_never_reaches_stages);
	tcase_add_test(tc, pipeline_allocation_failures);
	tcase_add_test(tc, pipeline_load_allocation_failures);
	tcase_add_test(tc, pipeline_analysis_allocation_failures);
	tcase_add_test(tc, pipeline_run_metrics_failed_put);
	tcase_add_test(tc, pipeline_run_metrics_limits);
	tcase_add_test(tc, pipeline_run_metrics_large_values);
	tcase_add_test(tc, pipeline_worker_init_runs);
	tcase_add_test(tc, pipeline_msgpack_render);
	tcase_add_test(tc, pipeline_io_thread_stops_with_served_engine);
	suite_add_tcase(s, tc);
	return s;
}
