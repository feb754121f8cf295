/*
 * check_alloc.c - every allocation of an engine start-up and of a whole
 * analysis with LLM calls, failed in turn: never a crash, never a leak,
 * always an engine or a message, an answer or an error object.
 *
 * Two ways to fail the nth allocation: only that one (the code handling the
 * failure then runs with memory again, and reaches the degraded answers),
 * or that one and every later one (the error paths themselves run out).
 * A sweep goes n = 1, 2, ... until a run fails no allocation at all, so it
 * covers whatever the code allocates, however that changes.
 *
 * jansson keeps its own allocations (libc's): json_set_alloc_funcs is
 * process-wide, so the library leaves it alone, and jansson 2.14 itself
 * aborts when one fails while it reads a string (an assertion in
 * lex_scan_string, load.c:442, seen with this test routing it here).
 *
 * Under AddressSanitizer every sweep checks for leaks as it goes
 * (__lsan_do_recoverable_leak_check), so a leak is reported with the
 * allocation's stack near the run that made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ima_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_LSAN 1
#endif
#endif
#ifdef ALLOC_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* No analysis comes near this many allocations: a sweep that gets here
 * would never end. */
#define ALLOC_MAX_N 200000

/* A resume and a job ad that reach every stage: dated jobs, a headline,
 * skills in prose and in a list, stated years, education, requirements
 * and nice-to-haves. %ld makes each run's resume its own, so neither the
 * answer cache nor the call cache serves a run from an earlier one. */
static const char analysis_body[] =
	"{\"resume_text\":\"Ana Diaz\\nSenior Backend Engineer - Acme Inc\\n"
	"Berlin, Germany\\n\\nSUMMARY\\n9 years of experience building distributed "
	"systems in Go and Python.\\n\\nEXPERIENCE\\nSenior Backend Engineer\\n"
	"Acme Inc, Berlin\\nJanuary 2019 to Present\\n- Led 4 engineers building Go "
	"and PostgreSQL services, cut costs by 30%%\\n- Moved 40 services to "
	"Kubernetes with Terraform\\n\\nBackend Developer\\nGlobex GmbH - Hamburg\\n"
	"03/2015 - 12/2018\\n- Built REST APIs in Python and Django on AWS\\n"
	"- Mentored 2 junior developers\\n\\nEDUCATION\\nBSc Computer Science, "
	"TU Berlin, 2014\\n\\nSKILLS\\nGo, Python, Kubernetes, Docker, Kafka, run "
	"%ld\",\"job_ad\":\"Staff Backend Engineer\\nWe build payment systems.\\n"
	"Requirements:\\n- 7+ years of backend development\\n- Go and PostgreSQL\\n"
	"- Kubernetes and Terraform\\n- Experience leading teams\\nNice to have:\\n"
	"- Rust\\n- Kafka\",\"job_title\":\"Staff Backend Engineer\","
	"\"reference_date\":\"2024-06-01\"}";

enum alloc_mode { ALLOC_ONE, ALLOC_ALL_AFTER };

static void alloc_inject(enum alloc_mode mode, long n)
{
	if (mode == ALLOC_ONE)
		ima_alloc_fail_nth(n);
	else
		ima_alloc_fail_after(n);
}

/* Stops failing; returns how many allocations were failed on purpose. */
static long alloc_stop(void)
{
	long failed = ima_alloc_failed();

	ima_alloc_fail_nth(0);
	return failed;
}

static void alloc_leak_check(const char *what, long n)
{
#ifdef ALLOC_LSAN
	ck_assert_msg(__lsan_do_recoverable_leak_check() == 0,
		      "%s: memory leaked by a run up to allocation %ld (stacks above)", what, n);
#else
	(void)what;
	(void)n;
#endif
}

static double alloc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Runs step(n) for n = 1, 2, ... up to window, then every stride-th n, until
 * a run fails no allocation. step injects nothing itself; it calls
 * alloc_stop() before its own checks (which may allocate) and returns what
 * that said. Leaks are checked every leak_every runs and at the end.
 * IMA_ALLOC_VERBOSE=1 in the environment prints every run.
 */
static long alloc_sweep(const char *what, enum alloc_mode mode, long window, long stride,
			long leak_every, long (*step)(long n, void *arg), void *arg)
{
	double t0 = alloc_now();
	long runs = 0, n;

	for (n = 1;; n = n < window ? n + 1 : n + stride) {
		long failed;

		ck_assert_msg(n < ALLOC_MAX_N, "%s: allocation %ld still fails", what, n);
		alloc_inject(mode, n);
		failed = step(n, arg);
		alloc_stop();
		runs++;
		if (getenv("IMA_ALLOC_VERBOSE") != NULL)
			fprintf(stderr, "# %s: n %ld failed %ld at %.2f s\n", what, n, failed,
				alloc_now() - t0);
		if (leak_every > 0 && runs % leak_every == 0)
			alloc_leak_check(what, n);
		if (failed == 0)
			break;
	}
	alloc_leak_check(what, n);
	fprintf(stderr, "# %s (%s): %ld runs, last n %ld, %.1f s\n", what,
		mode == ALLOC_ONE ? "that allocation only" : "that one and every later one",
		runs, n, alloc_now() - t0);
	return runs;
}

/* The answer of a request is well-formed JSON, an object. Called with no
 * failure injected. */
static void alloc_check_json(const char *what, long n, const struct ima_buf *out)
{
	json_error_t jerr;
	json_t *j;

	ck_assert_msg(out->data != NULL && out->len > 0, "%s %ld: empty answer", what, n);
	j = json_loadb(out->data, out->len, 0, &jerr);
	ck_assert_msg(j != NULL && json_is_object(j), "%s %ld: answer is not a JSON object: %s",
		      what, n, jerr.text);
	json_decref(j);
}

/* One request on eng; the assertions of every run. */
static long alloc_request(struct ima_engine *eng, const char *what, long n, const char *json)
{
	struct ima_buf out = { 0 };
	struct ima_req *req;
	long failed;
	int status, rc;

	req = ima_req_new();
	if (req == NULL)
		return alloc_stop();
	status = ima_engine_handle(eng, req, json, strlen(json), IMA_FMT_JSON);
	rc = ima_req_render(req, IMA_FMT_JSON, &out);
	failed = alloc_stop();
	ck_assert_msg(status == 200 || status == 500, "%s %ld: status %d", what, n, status);
	if (status == 500)
		ck_assert_msg(ima_req_error(req) != NULL, "%s %ld: 500 without an error", what, n);
	if (rc == 0)
		alloc_check_json(what, n, &out);
	else
		ck_assert_msg(failed > 0, "%s %ld: no answer rendered, nothing failed", what, n);
	/* With memory, a run answers in full. */
	if (failed == 0)
		ck_assert_msg(status == 200 && rc == 0, "%s %ld: status %d with no failure", what,
			      n, status);
	ima_buf_free(&out);
	ima_req_free(req);
	return failed;
}

struct alloc_analysis {
	const char *what;
	struct ima_engine *eng;
	long runs;
	bool same_body; /* every run asks the same: answers from the cache */
	bool large;     /* alloc_large_body */
};

/*
 * A resume of 20 dated jobs and a skills list of 160 mentions: past the
 * first allocation of every growing table of the experience parser (16
 * date ranges, 8 jobs) and past the 128 candidates the skill matcher keeps
 * on the stack. Written to static storage: making it allocates nothing.
 */
static const char *alloc_large_body(long run)
{
	static char body[16384];
	size_t n = 0;

#define BODY_ADD(...) \
	(n += (size_t)snprintf(body + n, sizeof(body) - n, __VA_ARGS__), \
	 ck_assert(n < sizeof(body)))
	BODY_ADD("{\"resume_text\":\"Ana Diaz\\nPlatform Engineer\\n\\nEXPERIENCE\\n");
	for (int i = 0; i < 20; i++)
		BODY_ADD("Backend Engineer\\nCompany %d Ltd, Berlin\\n02/%d - 11/%d\\n"
			 "- Built Go and PostgreSQL services for %d teams\\n\\n", i, 2000 + i,
			 2000 + i, i + 2);
	BODY_ADD("SKILLS\\n");
	for (int i = 0; i < 40; i++)
		BODY_ADD("Go, Python, Kubernetes, Docker, ");
	BODY_ADD("run %ld\",\"job_ad\":\"Platform Engineer\\nRequirements:\\n- Go\\n"
		 "- Kubernetes\",\"reference_date\":\"2024-06-01\"}", run);
#undef BODY_ADD
	return body;
}

static long alloc_analysis_run(long n, void *arg)
{
	struct alloc_analysis *a = arg;
	char json[sizeof(analysis_body) + 32];
	long run = a->same_body ? 0L : a->runs++;

	if (a->large)
		return alloc_request(a->eng, a->what, n, alloc_large_body(run));
	snprintf(json, sizeof(json), analysis_body, run);
	return alloc_request(a->eng, a->what, n, json);
}

/* Engine start-up with the nth allocation failed; an engine that comes up
 * despite it (a failure it tolerates) must answer in full. */
struct alloc_startup {
	const char *what;
	const char *conf; /* NULL: the embedded default pipeline */
	long runs;
};

static long alloc_startup_step(long n, void *arg)
{
	struct alloc_startup *s = arg;
	struct ima_engine *eng;
	struct ima_error err;
	long failed;

	memset(&err, 0, sizeof(err));
	eng = ima_engine_load(s->conf, &ima_fcgi_front, &err);
	failed = alloc_stop();
	ck_assert_msg(eng != NULL || err.message[0] != '\0', "%s %ld: no engine and no message",
		      s->what, n);
	ck_assert_msg(eng != NULL || failed > 0, "%s %ld: no engine, nothing failed: %s", s->what,
		      n, err.message);
	if (eng != NULL) {
		char json[sizeof(analysis_body) + 32];

		snprintf(json, sizeof(json), analysis_body, 1000000L + s->runs++);
		ck_assert_int_eq(alloc_request(eng, s->what, n, json), 0);
		ima_engine_free(eng);
	}
	return failed;
}

/* ---- files of the test ---- */

static char alloc_dir[4096];

static const char *alloc_path(const char *name)
{
	static char paths[4][4200];
	static int slot;
	char *p = paths[slot++ % 4];

	if (alloc_dir[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(alloc_dir, sizeof(alloc_dir), "%s/ima-alloc-XXXXXX", t ? t : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(alloc_dir));
	}
	snprintf(p, sizeof(paths[0]), "%s/%s", alloc_dir, name);
	return p;
}

/* Copies the first lines (all: lines < 0) of a shipped data file. */
static void alloc_copy_data(const char *name, int lines)
{
	const char *src = getenv("top_srcdir");
	char path[4096], line[8192];
	FILE *in, *out;

	snprintf(path, sizeof(path), "%s/data/%s", src ? src : "..", name);
	in = fopen(path, "r");
	ck_assert_msg(in != NULL, "%s: %s", path, strerror(errno));
	out = fopen(alloc_path(name), "w");
	ck_assert_ptr_nonnull(out);
	while (lines-- != 0 && fgets(line, sizeof(line), in) != NULL)
		fputs(line, out);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/*
 * The data the default pipeline reads, each file cut to its first 40
 * lines: a start-up then takes milliseconds instead of half a second under
 * AddressSanitizer, and reaches the same allocations (the loaders allocate
 * per file, not per line, past a few growth steps).
 */
static void alloc_short_data(void)
{
	static const char *const tables[] = { "aliases.tsv", "adjacency.tsv", "knowledge.tsv",
					      "roles.tsv", "skills.tsv", "titles.tsv",
					      "occupations.tsv" };
	static const char *const prompts[] = { "prompts/gap.v2.json", "prompts/profile.v1.json",
					       "prompts/suggestions.v1.json" };

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		alloc_copy_data(tables[i], 40);
	ck_assert(mkdir(alloc_path("prompts"), 0700) == 0 || errno == EEXIST);
	for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++)
		alloc_copy_data(prompts[i], -1);
	setenv("IMAGINATOR_DATA_DIR", alloc_dir, 1);
}

/* ---- the embedded default pipeline, llm_offline ---- */

START_TEST(alloc_startup_default)
{
	struct alloc_startup s = { "start-up, default pipeline", NULL, 0 };

	alloc_short_data();
	alloc_sweep(s.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 64,
		    alloc_startup_step, &s);
}
END_TEST

/* With the whole data files, a start-up in 10 steps: what only the real
 * sizes reach (growing tables, long files). */
START_TEST(alloc_startup_default_full_data)
{
	struct alloc_startup s = { "start-up, default pipeline, whole data", NULL, 0 };
	struct ima_error err;
	struct ima_engine *eng;
	long total;

	ima_alloc_fail_nth(0);
	eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	total = ima_alloc_count();
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
	alloc_sweep(s.what, ALLOC_ONE, 0, total / 10 + 1, 0, alloc_startup_step, &s);
}
END_TEST

START_TEST(alloc_analysis_default)
{
	struct ima_error err;
	struct alloc_analysis a = { "analysis, default pipeline", NULL, 0, false, false };

	a.eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	ck_assert_msg(a.eng != NULL, "%s", err.message);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_run, &a);
	ima_engine_free(a.eng);
}
END_TEST

START_TEST(alloc_analysis_default_large)
{
	struct ima_error err;
	struct alloc_analysis a = { "large analysis, default pipeline", NULL, 0, false, true };

	a.eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	ck_assert_msg(a.eng != NULL, "%s", err.message);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_run, &a);
	ima_engine_free(a.eng);
}
END_TEST

/* The same request again and again: answered from the cache stage, whose
 * hit path then fails in turn. */
START_TEST(alloc_cached_default)
{
	struct ima_error err;
	struct alloc_analysis a = { "cached answer, default pipeline", NULL, 0, true, false };
	char json[sizeof(analysis_body) + 32];

	a.eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	ck_assert_msg(a.eng != NULL, "%s", err.message);
	snprintf(json, sizeof(json), analysis_body, 0L);
	ck_assert_int_eq(alloc_request(a.eng, "fill the cache", 0, json), 0);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_run, &a);
	ima_engine_free(a.eng);
}
END_TEST

/* ---- llm_openrouter against tests/llm/openai-server.py ---- */

/* Started by the tcase's unchecked fixture, in the runner process, so a
 * failed test never leaves it running. */
static pid_t llm_pid = -1;
static char llm_base[64];

static void llm_server_start(void)
{
	const char *src = getenv("top_srcdir");
	char script[4096], port_file[4200], port[16] = "";
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/llm/openai-server.py", src ? src : "..");
	snprintf(port_file, sizeof(port_file), "%s", alloc_path("llm.port"));
	llm_pid = fork();
	if (llm_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execlp("python3", "python3", script, "--port", "0", "--port-file", port_file,
		       "--max-stall", "2", (char *)NULL);
		_exit(127);
	}
	/* The port file appears once the server listens: poll for it, a
	 * bounded number of times. */
	for (int i = 0; i < 1000 && llm_pid > 0 && port[0] == '\0'; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(llm_pid, NULL, WNOHANG) == llm_pid) {
			llm_pid = -1;
			break;
		}
		f = fopen(port_file, "r");
		if (f != NULL) {
			if (fgets(port, sizeof(port), f) == NULL || strchr(port, '\n') == NULL)
				port[0] = '\0';
			fclose(f);
		}
		if (port[0] == '\0')
			nanosleep(&ts, NULL);
	}
	if (port[0] != '\0')
		snprintf(llm_base, sizeof(llm_base), "http://127.0.0.1:%d/v1", atoi(port));
}

static void llm_server_stop(void)
{
	if (llm_pid > 0) {
		kill(llm_pid, SIGTERM);
		waitpid(llm_pid, NULL, 0);
	}
	llm_pid = -1;
}

/* The shipped pipeline with the OpenRouter provider in place of the
 * offline one, the cache stage (answers and calls) in memory. */
static const char *llm_conf(void)
{
	const char *src = getenv("top_srcdir");
	const char *path = alloc_path("openrouter.conf");
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	if (src == NULL)
		src = "..";
	fprintf(f,
		"pipeline = (\n@include \"%s/conf/request.conf\"\n,\n"
		"{ name = \"cache\"; plugin = \"cache\"; options = { redis_url = \"none\"; }; },\n"
		"@include \"%s/conf/analysis.conf\"\n,\n"
		"{ name = \"llm\"; plugin = \"llm_openrouter\"; options = { base_url = \"%s\"; "
		"model = \"test/model-a\"; backoff_base_ms = 1; backoff_max_ms = 2; }; },\n"
		"@include \"%s/conf/llm.conf\"\n);\n",
		src, src, llm_base, src);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(alloc_analysis_openrouter)
{
	struct ima_error err;
	struct alloc_analysis a = { "analysis, llm_openrouter", NULL, 0, false, false };

	ck_assert_msg(llm_base[0] != '\0', "tests/llm/openai-server.py did not start");
	a.eng = ima_engine_load(llm_conf(), &ima_fcgi_front, &err);
	ck_assert_msg(a.eng != NULL, "%s", err.message);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_run, &a);
	ima_engine_free(a.eng);
}
END_TEST

START_TEST(alloc_startup_openrouter)
{
	struct alloc_startup s = { "start-up, llm_openrouter", NULL, 0 };
	char conf[4200];

	ck_assert_msg(llm_base[0] != '\0', "tests/llm/openai-server.py did not start");
	/* alloc_path's buffers are reused: keep a copy. */
	snprintf(conf, sizeof(conf), "%s", llm_conf());
	s.conf = conf;
	alloc_short_data();
	alloc_sweep(s.what, ALLOC_ONE, ALLOC_MAX_N, 1, 64, alloc_startup_step, &s);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("default");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, alloc_startup_default, 0, 2);
	tcase_add_test(tc, alloc_startup_default_full_data);
	tcase_add_loop_test(tc, alloc_analysis_default, 0, 2);
	tcase_add_loop_test(tc, alloc_analysis_default_large, 0, 2);
	tcase_add_loop_test(tc, alloc_cached_default, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("openrouter");
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, llm_server_start, llm_server_stop);
	tcase_add_loop_test(tc, alloc_analysis_openrouter, 0, 2);
	tcase_add_test(tc, alloc_startup_openrouter);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* Every stage finds its plugin in the build tree; the provider's key
	 * is any the test server takes. */
	setenv("OPENROUTER_API_KEY", "sk-test-alloc", 1);
	sr = srunner_create(alloc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (alloc_dir[0] != '\0') {
		static const char *const names[] = {
			"aliases.tsv", "adjacency.tsv", "knowledge.tsv", "roles.tsv", "skills.tsv",
			"titles.tsv", "occupations.tsv", "prompts/gap.v2.json",
			"prompts/profile.v1.json", "prompts/suggestions.v1.json", "prompts",
			"llm.port", "openrouter.conf"
		};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			remove(alloc_path(names[i]));
		rmdir(alloc_dir);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
