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
 * Every msgpack sbuffer grows through the allocator too (ima_sbuffer_write),
 * so its growth is failed in turn like the rest; each sweep says how many
 * of its allocations those are. An answer that comes back complete
 * (status 200, not DEGRADED) must be the one a run without failures gives:
 * a failure is an error or a degraded answer, never a wrong one.
 *
 * jansson keeps its own allocations (libc's): json_set_alloc_funcs is
 * process-wide, so the library leaves it alone, and jansson 2.14 itself
 * aborts when one fails while it reads a string (an assertion in
 * lex_scan_string, load.c:442, seen with this test routing it here).
 * msgpack-c's zones (the unpacker's memory) call malloc inside
 * libmsgpackc, out of reach.
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

/* What the last run allocated, as alloc_stop() found it: all of it, and
 * what grew msgpack sbuffers. */
static bool alloc_armed;
static long alloc_run_count, alloc_run_sbuffer;
/* How the runs of a sweep that failed an allocation ended: an error (for
 * a start-up: no engine), a degraded answer, or a complete one that is
 * right (for a start-up: an engine that tolerated it and answers right). */
static long alloc_seen_error, alloc_seen_degraded, alloc_seen_complete;

static void alloc_inject(enum alloc_mode mode, long n)
{
	if (mode == ALLOC_ONE)
		ima_alloc_fail_nth(n);
	else
		ima_alloc_fail_after(n);
	alloc_armed = true;
}

/* Stops failing; returns how many allocations were failed on purpose. */
static long alloc_stop(void)
{
	long failed = ima_alloc_failed();

	if (alloc_armed) {
		alloc_run_count = ima_alloc_count();
		alloc_run_sbuffer = ima_alloc_sbuffer_count();
		alloc_armed = false;
	}
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
 * that said. prepare (may be NULL) runs before each step with memory: what
 * the step is compared with. Leaks are checked every leak_every runs and
 * at the end. IMA_ALLOC_VERBOSE=1 in the environment prints every run.
 */
static long alloc_sweep(const char *what, enum alloc_mode mode, long window, long stride,
			long leak_every, void (*prepare)(void *arg),
			long (*step)(long n, void *arg), void *arg)
{
	double t0 = alloc_now();
	long runs = 0, n;

	alloc_seen_error = alloc_seen_degraded = alloc_seen_complete = 0;
	for (n = 1;; n = n < window ? n + 1 : n + stride) {
		long failed;

		ck_assert_msg(n < ALLOC_MAX_N, "%s: allocation %ld still fails", what, n);
		if (prepare != NULL)
			prepare(arg);
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
	/* Each of them packs something: a sweep that fails no sbuffer's
	 * growth misses part of what it claims to cover. */
	ck_assert_msg(alloc_run_sbuffer > 0, "%s: no msgpack sbuffer grew through the allocator",
		      what);
	fprintf(stderr,
		"# %s (%s): %ld runs, last n %ld, %.1f s; a run allocates %ld times, %ld of them "
		"growing msgpack sbuffers; with a failure: %ld errors, %ld degraded, %ld complete "
		"and right\n",
		what, mode == ALLOC_ONE ? "that allocation only" : "that one and every later one",
		runs, n, alloc_now() - t0, alloc_run_count, alloc_run_sbuffer, alloc_seen_error,
		alloc_seen_degraded, alloc_seen_complete);
	return runs;
}

/* The answer of a request as JSON, without what changes from run to run
 * (run_metrics, the time taken); NULL when it does not parse. */
static json_t *alloc_answer(const struct ima_buf *out)
{
	json_t *j = json_loadb(out->data, out->len, 0, NULL);

	if (j != NULL) {
		json_object_del(j, "run_metrics");
		json_object_del(j, "processing_time_seconds");
	}
	return j;
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

/* An answer that says it is complete must be the one a run with memory
 * gave (ref, made by alloc_answer()). */
static void alloc_check_same(const char *what, long n, const struct ima_buf *out,
			     const json_t *ref)
{
	json_t *j = alloc_answer(out);
	const char *status = json_string_value(json_object_get(j, "processing_status"));

	ck_assert_ptr_nonnull(j);
	if (status != NULL && strcmp(status, "COMPLETED") == 0 && !json_equal(j, ref)) {
		char *got = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
		char *want = json_dumps(ref, JSON_SORT_KEYS | JSON_COMPACT);

		ck_abort_msg("%s %ld: a complete answer that is not the right one:\n%s\nwanted\n%s",
			     what, n, got, want);
	}
	json_decref(j);
}

/* One request on eng; the assertions of every run. With ref, a complete
 * answer must equal it. */
static long alloc_request(struct ima_engine *eng, const char *what, long n,
			      const char *json, const json_t *ref)
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
		ck_assert_msg(status == 200 && rc == 0 && !ima_req_is_degraded(req),
			      "%s %ld: status %d%s with no failure", what, n, status,
			      ima_req_is_degraded(req) ? " (degraded)" : "");
	if (status == 200 && rc == 0 && ref != NULL)
		alloc_check_same(what, n, &out, ref);
	if (failed > 0) {
		if (status != 200 || rc != 0)
			alloc_seen_error++;
		else if (ima_req_is_degraded(req))
			alloc_seen_degraded++;
		else
			alloc_seen_complete++;
	}
	ima_buf_free(&out);
	ima_req_free(req);
	return failed;
}

/* The answer to json with memory, as alloc_check_same() compares it. */
static json_t *alloc_reference(struct ima_engine *eng, const char *json)
{
	struct ima_buf out = { 0 };
	struct ima_req *req = ima_req_new();
	json_t *j;

	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(ima_engine_handle(eng, req, json, strlen(json), IMA_FMT_JSON), 200);
	ck_assert(!ima_req_is_degraded(req));
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	j = alloc_answer(&out);
	ck_assert_ptr_nonnull(j);
	ima_buf_free(&out);
	ima_req_free(req);
	return j;
}

struct alloc_analysis {
	const char *what;
	struct ima_engine *eng;
	long runs;
	bool same_body; /* every run asks the same: answers from the cache */
	bool large;     /* alloc_large_body */
	bool fields;    /* with the advisory fields as strings holding JSON */
	struct ima_engine *ref_eng; /* the same pipeline, answering each body first */
	json_t *ref;                /* its answer (or, same_body, the first one) */
	const char *body;
	char buf[sizeof(analysis_body) + 256];
};

/* Converted from JSON by the request stage: its own allocations, and its
 * sbuffer's. */
static const char alloc_fields[] =
	",\"extracted_skills_json\":\"{\\\"skills\\\":[{\\\"skill\\\":\\\"go\\\","
	"\\\"confidence\\\":0.9}]}\",\"domain_insights_json\":\"{\\\"industry\\\":"
	"\\\"payments\\\"}\"}";

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

/* The next run's body, and the answer it has with memory. */
static void alloc_analysis_prepare(void *arg)
{
	struct alloc_analysis *a = arg;
	long run = a->same_body ? 0L : a->runs++;

	if (a->large) {
		a->body = alloc_large_body(run);
	} else {
		int n = snprintf(a->buf, sizeof(a->buf), analysis_body, run);

		if (a->fields)
			snprintf(a->buf + n - 1, sizeof(a->buf) - (size_t)n + 1, "%s", alloc_fields);
		a->body = a->buf;
	}
	if (a->ref_eng != NULL) {
		json_decref(a->ref);
		a->ref = alloc_reference(a->ref_eng, a->body);
	}
}

static long alloc_analysis_run(long n, void *arg)
{
	struct alloc_analysis *a = arg;

	return alloc_request(a->eng, a->what, n, a->body, a->ref);
}

/* Both engines of an analysis sweep, from one configuration. */
static void alloc_analysis_load(struct alloc_analysis *a, const char *conf)
{
	struct ima_error err;

	a->eng = ima_engine_load(conf, &ima_fcgi_front, &err);
	ck_assert_msg(a->eng != NULL, "%s", err.message);
	if (a->same_body)
		return;
	a->ref_eng = ima_engine_load(conf, &ima_fcgi_front, &err);
	ck_assert_msg(a->ref_eng != NULL, "%s", err.message);
}

static void alloc_analysis_free(struct alloc_analysis *a)
{
	json_decref(a->ref);
	ima_engine_free(a->ref_eng);
	ima_engine_free(a->eng);
}

/* Engine start-up with the nth allocation failed; an engine that comes up
 * despite it (a failure it tolerates) must answer in full. */
struct alloc_startup {
	const char *what;
	const char *conf; /* NULL: the embedded default pipeline */
	char body[sizeof(analysis_body) + 32];
	json_t *ref; /* its answer from an engine started with memory */
};

/* The right answer, from an engine gone before the sweep starts: one left
 * alive would share its data files with the engines under test, which
 * would then load none. Each engine starts with an empty cache, so one
 * body serves every run. */
static void alloc_startup_ref(struct alloc_startup *s)
{
	struct ima_error err;
	struct ima_engine *eng = ima_engine_load(s->conf, &ima_fcgi_front, &err);

	ck_assert_msg(eng != NULL, "%s", err.message);
	snprintf(s->body, sizeof(s->body), analysis_body, 1000000L);
	s->ref = alloc_reference(eng, s->body);
	ima_engine_free(eng);
}

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
		ck_assert_int_eq(alloc_request(eng, s->what, n, s->body, s->ref), 0);
		ima_engine_free(eng);
	}
	if (failed > 0 && eng == NULL)
		alloc_seen_error++;
	else if (failed > 0)
		alloc_seen_complete++; /* tolerated, and the answer was right */
	return failed;
}

/* ---- ima_sbuffer_write ---- */

/* Grows as msgpack_sbuffer_write does: 8 KiB first, then doubling, or
 * straight to what one large write needs. */
START_TEST(alloc_sbuffer_growth)
{
	static char big[40000];
	msgpack_sbuffer sb, ref;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&ref);
	ck_assert_int_eq(ima_sbuffer_write(&sb, NULL, 0), 0);
	ck_assert_ptr_null(sb.data);
	memset(big, 'x', sizeof(big));
	for (size_t len = 1; len <= sizeof(big); len = len * 3 + 1) {
		ck_assert_int_eq(ima_sbuffer_write(&sb, big, len), 0);
		ck_assert_int_eq(msgpack_sbuffer_write(&ref, big, len), 0);
		ck_assert_uint_eq(sb.size, ref.size);
		ck_assert_uint_eq(sb.alloc, ref.alloc);
	}
	ck_assert_int_eq(memcmp(sb.data, ref.data, sb.size), 0);
	ck_assert(!ima_sbuffer_failed(&sb));
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&ref);
}
END_TEST

/* A failed growth empties the buffer for good: nothing written after it
 * lands, so no packer makes a value with a piece missing; readers see an
 * empty buffer; destroy, release and the context cope. */
START_TEST(alloc_sbuffer_failed_state)
{
	static char big[20000];
	struct ima_ctx *ctx = ima_ctx_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *released;

	ck_assert_ptr_nonnull(ctx);
	memset(big, 'y', sizeof(big));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	ck_assert_int_eq(msgpack_pack_map(&pk, 3), 0);
	ck_assert_int_eq(ima_pack_cstr(&pk, "a"), 0);
	ck_assert_int_eq(msgpack_pack_int(&pk, 1), 0);
	ck_assert_int_eq(ima_pack_cstr(&pk, "b"), 0);
	ck_assert_uint_eq(sb.alloc, 8192);
	/* The string's body needs the second allocation: fail that one. */
	ima_alloc_fail_nth(1);
	ck_assert_int_ne(ima_pack_strn(&pk, big, sizeof(big)), 0);
	ck_assert_int_eq(ima_alloc_failed(), 1);
	ima_alloc_fail_nth(0);
	ck_assert(ima_sbuffer_failed(&sb));
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.size, 0);
	/* With memory again, the rest of the map does not land either. */
	ck_assert_int_ne(ima_pack_cstr(&pk, "c"), 0);
	ck_assert_int_ne(msgpack_pack_nil(&pk), 0);
	ck_assert_int_ne(ima_sbuffer_write(&sb, "z", 1), 0);
	ck_assert_int_ne(ima_sbuffer_write(&sb, NULL, 0), 0);
	ck_assert(ima_sbuffer_failed(&sb));
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.size, 0);
	/* Refused as out of memory, not stored, the buffer still failed. */
	errno = 0;
	ck_assert_int_ne(ima_ctx_put_sbuffer(ctx, "k", &sb), 0);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(ima_ctx_get(ctx, "k"));
	ck_assert(ima_sbuffer_failed(&sb));
	ck_assert_int_ne(ima_ctx_put(ctx, "k", sb.data, sb.size), 0);
	ck_assert_uint_eq(ima_ctx_count(ctx), 0);
	/* Clearing keeps the state; the context encodes into it as an error. */
	msgpack_sbuffer_clear(&sb);
	ck_assert(ima_sbuffer_failed(&sb));
	ck_assert_int_ne(ima_ctx_encode_public(ctx, &sb, NULL), 0);
	/* Release hands out NULL and leaves a fresh buffer. */
	released = msgpack_sbuffer_release(&sb);
	ck_assert_ptr_null(released);
	ck_assert(!ima_sbuffer_failed(&sb));
	ck_assert_int_eq(ima_sbuffer_write(&sb, "z", 1), 0);
	ck_assert_uint_eq(sb.size, 1);
	msgpack_sbuffer_destroy(&sb);
	/* The first allocation failed: failed with nothing to free. */
	msgpack_sbuffer_init(&sb);
	ima_alloc_fail_nth(1);
	ck_assert_int_ne(ima_sbuffer_write(&sb, "z", 1), 0);
	ima_alloc_fail_nth(0);
	ck_assert(ima_sbuffer_failed(&sb));
	msgpack_sbuffer_destroy(&sb);
	ima_ctx_free(ctx);
	alloc_leak_check("ima_sbuffer_write", 0);
}
END_TEST

/*
 * Why a failure must stick. [s1, 7, 8, 9] is packed with the body of s1
 * (9000 bytes, past the first 8 KiB) failed, return codes ignored as most
 * packing code does. msgpack_sbuffer_write keeps the bytes so far and
 * takes the next writes, so the buffer held [s1 header, s2]: s1 then read
 * as s2's header and first 8997 bytes, and s2's last three bytes ('r',
 * positive fixints) as the three numbers. One well-formed value, which the
 * context's check accepted, saying something else.
 */
START_TEST(alloc_sbuffer_no_hole)
{
	static char q[9000], r[9000];
	struct ima_ctx *ctx = ima_ctx_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *o;

	ck_assert_ptr_nonnull(ctx);
	memset(q, 'q', sizeof(q));
	memset(r, 'r', sizeof(r));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	/* The 1st allocation is the first 8 KiB, the 2nd grows it for q. */
	ima_alloc_fail_nth(2);
	msgpack_pack_array(&pk, 4);
	ima_pack_strn(&pk, q, sizeof(q));
	ima_pack_strn(&pk, r, sizeof(r));
	ck_assert_int_eq(alloc_stop(), 1);
	ck_assert_int_ne(ima_ctx_put_sbuffer(ctx, "v", &sb), 0);
	ck_assert_ptr_null(ima_ctx_get(ctx, "v"));
	ck_assert(ima_sbuffer_failed(&sb));
	msgpack_sbuffer_destroy(&sb);
	/* With memory, the value it should be. */
	msgpack_sbuffer_init(&sb);
	msgpack_pack_array(&pk, 4);
	ima_pack_strn(&pk, q, sizeof(q));
	msgpack_pack_int(&pk, 7);
	msgpack_pack_int(&pk, 8);
	msgpack_pack_int(&pk, 9);
	ck_assert_int_eq(ima_ctx_put_sbuffer(ctx, "v", &sb), 0);
	o = ima_ctx_get(ctx, "v.0");
	ck_assert(o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == sizeof(q) &&
		  o->via.str.ptr[0] == 'q');
	msgpack_sbuffer_destroy(&sb);
	ima_ctx_free(ctx);
}
END_TEST

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
	struct alloc_startup s = { .what = "start-up, default pipeline" };

	alloc_short_data();
	alloc_startup_ref(&s);
	alloc_sweep(s.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 64, NULL,
		    alloc_startup_step, &s);
	json_decref(s.ref);
}
END_TEST

/* With the whole data files, a start-up in 10 steps: what only the real
 * sizes reach (growing tables, long files). */
START_TEST(alloc_startup_default_full_data)
{
	struct alloc_startup s = { .what = "start-up, default pipeline, whole data" };
	struct ima_error err;
	struct ima_engine *eng;
	long total;

	ima_alloc_fail_nth(0);
	eng = ima_engine_load(NULL, &ima_fcgi_front, &err);
	total = ima_alloc_count();
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
	alloc_startup_ref(&s);
	alloc_sweep(s.what, ALLOC_ONE, 0, total / 10 + 1, 0, NULL, alloc_startup_step, &s);
	json_decref(s.ref);
}
END_TEST

START_TEST(alloc_analysis_default)
{
	struct alloc_analysis a = { .what = "analysis, default pipeline" };

	alloc_analysis_load(&a, NULL);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_prepare, alloc_analysis_run, &a);
	alloc_analysis_free(&a);
}
END_TEST

START_TEST(alloc_analysis_default_large)
{
	struct alloc_analysis a = { .what = "large analysis, default pipeline", .large = true };

	alloc_analysis_load(&a, NULL);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_prepare, alloc_analysis_run, &a);
	alloc_analysis_free(&a);
}
END_TEST

START_TEST(alloc_analysis_default_fields)
{
	struct alloc_analysis a = { .what = "analysis with JSON strings, default pipeline",
				    .fields = true };

	alloc_analysis_load(&a, NULL);
	alloc_sweep(a.what, ALLOC_ONE, ALLOC_MAX_N, 1, 16, alloc_analysis_prepare,
		    alloc_analysis_run, &a);
	alloc_analysis_free(&a);
}
END_TEST

/* The same request again and again: answered from the cache stage, whose
 * hit path then fails in turn; a complete answer is the one it keeps. */
START_TEST(alloc_cached_default)
{
	struct alloc_analysis a = { .what = "cached answer, default pipeline", .same_body = true };

	alloc_analysis_load(&a, NULL);
	snprintf(a.buf, sizeof(a.buf), analysis_body, 0L);
	a.ref = alloc_reference(a.eng, a.buf);
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_prepare, alloc_analysis_run, &a);
	alloc_analysis_free(&a);
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
	struct alloc_analysis a = { .what = "analysis, llm_openrouter" };

	ck_assert_msg(llm_base[0] != '\0', "tests/llm/openai-server.py did not start");
	alloc_analysis_load(&a, llm_conf());
	alloc_sweep(a.what, _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1, 16,
		    alloc_analysis_prepare, alloc_analysis_run, &a);
	alloc_analysis_free(&a);
}
END_TEST

START_TEST(alloc_startup_openrouter)
{
	struct alloc_startup s = { .what = "start-up, llm_openrouter" };
	char conf[4200];

	ck_assert_msg(llm_base[0] != '\0', "tests/llm/openai-server.py did not start");
	/* alloc_path's buffers are reused: keep a copy. */
	snprintf(conf, sizeof(conf), "%s", llm_conf());
	s.conf = conf;
	alloc_short_data();
	alloc_startup_ref(&s);
	alloc_sweep(s.what, ALLOC_ONE, ALLOC_MAX_N, 1, 64, NULL, alloc_startup_step, &s);
	json_decref(s.ref);
}
END_TEST

/* ---- outside a request: /health ---- */

struct alloc_health {
	struct ima_engine *eng;
	char *want;     /* ima_engine_health()'s list with memory */
	int want_worst; /* and its status */
};

/* /health lists the dependencies it lists with memory (the provider's
 * keys), or says degraded with none: never healthy with none. */
static long alloc_health_step(long n, void *arg)
{
	struct alloc_health *h = arg;
	struct ima_buf out = { 0 };
	int worst = ima_engine_health(h->eng, &out);
	long failed = alloc_stop();

	if (!out.failed && !(worst == 1 && out.len == 2 && memcmp(out.data, "[]", 2) == 0))
		ck_assert_msg(worst == h->want_worst && out.len == strlen(h->want) &&
			      memcmp(out.data, h->want, out.len) == 0,
			      "health %ld: %d %.*s", n, worst, (int)out.len, out.data);
	ck_assert_msg(failed > 0 || (!out.failed && worst == h->want_worst),
		      "health %ld: failed with memory", n);
	if (failed > 0 && out.failed)
		alloc_seen_error++;
	else if (failed > 0 && worst != h->want_worst)
		alloc_seen_degraded++;
	else if (failed > 0)
		alloc_seen_complete++;
	ima_buf_free(&out);
	return failed;
}

START_TEST(alloc_health_openrouter)
{
	struct alloc_health h = { 0 };
	struct ima_error err;
	struct ima_buf out = { 0 };

	h.eng = ima_engine_load(llm_conf(), &ima_fcgi_front, &err);
	ck_assert_msg(h.eng != NULL, "%s", err.message);
	h.want_worst = ima_engine_health(h.eng, &out);
	ck_assert(!out.failed && out.len > 2);
	h.want = strndup(out.data, out.len);
	alloc_sweep("/health, llm_openrouter", _i ? ALLOC_ALL_AFTER : ALLOC_ONE, ALLOC_MAX_N, 1,
		    16, NULL, alloc_health_step, &h);
	free(h.want);
	ima_buf_free(&out);
	ima_engine_free(h.eng);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("sbuffer");

	tcase_add_test(tc, alloc_sbuffer_growth);
	tcase_add_test(tc, alloc_sbuffer_failed_state);
	tcase_add_test(tc, alloc_sbuffer_no_hole);
	suite_add_tcase(s, tc);
	tc = tcase_create("default");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, alloc_startup_default, 0, 2);
	tcase_add_test(tc, alloc_startup_default_full_data);
	tcase_add_loop_test(tc, alloc_analysis_default, 0, 2);
	tcase_add_loop_test(tc, alloc_analysis_default_large, 0, 2);
	tcase_add_test(tc, alloc_analysis_default_fields);
	tcase_add_loop_test(tc, alloc_cached_default, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("openrouter");
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, llm_server_start, llm_server_stop);
	tcase_add_loop_test(tc, alloc_analysis_openrouter, 0, 2);
	tcase_add_test(tc, alloc_startup_openrouter);
	tcase_add_loop_test(tc, alloc_health_openrouter, 0, 2);
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
