/* check_data.c - shared data files (ABI 1.6): one parse per file, references,
 * files changed on disk, failing loaders, threads, and a loader's plugin
 * that must stay mapped while its object lives. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "ima_test.h"

static atomic_int text_loads, text_frees, failed_loads;

struct text_object {
	char text[64];
	size_t base_len; /* test.len: strlen of the base's text */
};

static void *text_load(const char *const *paths, const void *base, char *err, size_t errlen)
{
	struct text_object *o;
	FILE *f = fopen(paths[0], "r");
	size_t n;

	atomic_fetch_add(&text_loads, 1);
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", paths[0], strerror(errno));
		return NULL;
	}
	o = ima_calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	n = fread(o->text, 1, sizeof(o->text) - 1, f);
	fclose(f);
	o->text[n] = '\0';
	if (base != NULL)
		o->base_len = strlen(((const struct text_object *)base)->text);
	return o;
}

static void text_free(void *object)
{
	atomic_fetch_add(&text_frees, 1);
	ima_free(object);
}

static void *fail_load(const char *const *paths, const void *base, char *err, size_t errlen)
{
	atomic_fetch_add(&failed_loads, 1);
	snprintf(err, errlen, "%s: line 2: bad field", paths[0]);
	return NULL;
}

static void *silent_fail_load(const char *const *paths, const void *base, char *err,
			      size_t errlen)
{
	atomic_fetch_add(&failed_loads, 1);
	return NULL;
}

static const struct text_object *acquire_text(const char *kind, const char *path,
					      const void *base, char *err, size_t errlen)
{
	const char *paths[1] = { path };

	return ima_data_acquire(kind, paths, 1, base, text_load, text_free, err, errlen);
}

static size_t entries_now(void)
{
	size_t n;

	ima_data_stats(&n, NULL);
	return n;
}

static void reset_counts(void)
{
	atomic_store(&text_loads, 0);
	atomic_store(&text_frees, 0);
	atomic_store(&failed_loads, 0);
}

START_TEST(data_shared_once)
{
	const char *p = test_write_file("shared.txt", "one");
	const struct text_object *a, *b;
	size_t n0 = entries_now();
	char alt[4400], err[256];
	const char *slash = strrchr(p, '/');

	reset_counts();
	/* The same file written another way is the same data. */
	snprintf(alt, sizeof(alt), "%.*s/./%s", (int)(slash - p), p, slash + 1);
	a = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	b = acquire_text("test.text/1", alt, NULL, err, sizeof(err));
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(a->text, "one");
	ck_assert_int_eq(atomic_load(&text_loads), 1);
	ck_assert_uint_eq(entries_now(), n0 + 1);
	ima_data_release(a);
	ck_assert_int_eq(atomic_load(&text_frees), 0);
	ck_assert_uint_eq(entries_now(), n0 + 1);
	ima_data_release(b);
	ck_assert_int_eq(atomic_load(&text_frees), 1);
	ck_assert_uint_eq(entries_now(), n0);
	/* Released entirely: the next acquirer parses again. */
	a = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(atomic_load(&text_loads), 2);
	ima_data_release(a);
	ima_data_release(NULL);
}
END_TEST

START_TEST(data_kinds_apart)
{
	const char *p = test_write_file("kinds.txt", "k");
	const struct text_object *a, *b;
	char err[256];

	reset_counts();
	/* Two loaders of one file never share. */
	a = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	b = acquire_text("test.text/2", p, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_int_eq(atomic_load(&text_loads), 2);
	ima_data_release(a);
	ima_data_release(b);
	ck_assert_int_eq(atomic_load(&text_frees), 2);
}
END_TEST

START_TEST(data_changed_file_read_again)
{
	const char *p = test_write_file("changed.txt", "old");
	const struct text_object *a, *b, *c;
	struct timespec times[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char err[256];

	reset_counts();
	a = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	/* What a reload sees after the file was rewritten... */
	test_write_file("changed.txt", "newer");
	b = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_str_eq(b->text, "newer");
	/* ...while the old engine keeps what it had. */
	ck_assert_str_eq(a->text, "old");
	/* Same size, only the times changed: read again too. */
	ck_assert_int_eq(utimensat(AT_FDCWD, p, times, 0), 0);
	c = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(b, c);
	ck_assert_int_eq(atomic_load(&text_loads), 3);
	ima_data_release(a);
	ima_data_release(b);
	ima_data_release(c);
	ck_assert_int_eq(atomic_load(&text_frees), 3);
}
END_TEST

START_TEST(data_failure_not_cached)
{
	const char *p = test_write_file("failing.txt", "x");
	const char *paths[1] = { p };
	const struct text_object *a;
	size_t n0 = entries_now();
	char err[256], want[4400];

	reset_counts();
	ck_assert_ptr_null(ima_data_acquire("test.text/1", paths, 1, NULL, fail_load, text_free,
					    err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: line 2: bad field", p);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(entries_now(), n0);
	/* The next one asks again and gets its own answer. */
	ck_assert_ptr_null(ima_data_acquire("test.text/1", paths, 1, NULL, silent_fail_load,
					    text_free, err, sizeof(err)));
	ck_assert_msg(strstr(err, "the loader failed without saying why") != NULL, "%s", err);
	ck_assert_int_eq(atomic_load(&failed_loads), 2);
	a = acquire_text("test.text/1", p, NULL, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert_int_eq(atomic_load(&text_loads), 1);
	ima_data_release(a);
	ck_assert_int_eq(atomic_load(&text_frees), 1);
	ck_assert_uint_eq(entries_now(), n0);
}
END_TEST

START_TEST(data_missing_file)
{
	char err[256];

	reset_counts();
	ck_assert_ptr_null(acquire_text("test.text/1", "/nonexistent/ima-data.txt", NULL, err,
					sizeof(err)));
	ck_assert_msg(strstr(err, "/nonexistent/ima-data.txt") != NULL, "%s", err);
	ck_assert_int_eq(atomic_load(&text_loads), 0);
	/* Required arguments. */
	ck_assert_ptr_null(ima_data_acquire("test.text/1", NULL, 0, NULL, text_load, text_free,
					    err, sizeof(err)));
	ck_assert_msg(strstr(err, "required") != NULL, "%s", err);
}
END_TEST

START_TEST(data_base_kept_and_keyed)
{
	const char *pb = test_write_file("base.txt", "base");
	const char *pd = test_write_file("dep.txt", "dep");
	const struct text_object *base, *dep, *dep2, *base2, *dep3, local = { "x", 0 };
	char err[256];

	reset_counts();
	base = acquire_text("test.text/1", pb, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(base);
	dep = acquire_text("test.len/1", pd, base, err, sizeof(err));
	ck_assert_msg(dep != NULL, "%s", err);
	ck_assert_uint_eq(dep->base_len, 4);
	dep2 = acquire_text("test.len/1", pd, base, err, sizeof(err));
	ck_assert_ptr_eq(dep, dep2);
	/* Built against another version of the base: another object. */
	test_write_file("base.txt", "base, rewritten");
	base2 = acquire_text("test.text/1", pb, NULL, err, sizeof(err));
	ck_assert_ptr_ne(base, base2);
	dep3 = acquire_text("test.len/1", pd, base2, err, sizeof(err));
	ck_assert_ptr_ne(dep, dep3);
	ck_assert_uint_eq(dep3->base_len, 15);
	ck_assert_int_eq(atomic_load(&text_loads), 4);
	/* The base lives as long as what was built against it. */
	ima_data_release(base);
	ima_data_release(base2);
	ck_assert_int_eq(atomic_load(&text_frees), 0);
	ck_assert_str_eq(base->text, "base");
	ima_data_release(dep);
	ima_data_release(dep2);
	ck_assert_int_eq(atomic_load(&text_frees), 2);
	ima_data_release(dep3);
	ck_assert_int_eq(atomic_load(&text_frees), 4);
	/* A base that is not shared data is refused. */
	ck_assert_ptr_null(acquire_text("test.len/1", pd, &local, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not shared data") != NULL, "%s", err);
}
END_TEST

#define DATA_THREADS 8

static atomic_int threads_arrived;
static const char *thread_path;

static void *slow_load(const char *const *paths, const void *base, char *err, size_t errlen)
{
	/* Parse slowly enough that the others reach ima_data_acquire meanwhile
	 * (bounded: the answer does not depend on it). */
	for (int i = 0; i < 100000 && atomic_load(&threads_arrived) < DATA_THREADS; i++)
		sched_yield();
	for (int i = 0; i < 1000; i++)
		sched_yield();
	return text_load(paths, base, err, errlen);
}

static void *data_thread(void *arg)
{
	pthread_barrier_t *start = arg;
	const char *paths[1] = { thread_path };
	const void *o;
	char err[256];

	pthread_barrier_wait(start);
	atomic_fetch_add(&threads_arrived, 1);
	o = ima_data_acquire("test.text/1", paths, 1, NULL, slow_load, text_free, err,
			     sizeof(err));
	ck_assert_msg(o != NULL, "%s", err);
	return (void *)o;
}

START_TEST(data_threads_load_once)
{
	pthread_t t[DATA_THREADS];
	pthread_barrier_t start;
	void *got[DATA_THREADS];
	size_t n0 = entries_now();

	reset_counts();
	thread_path = test_write_file("threads.txt", "many");
	atomic_store(&threads_arrived, 0);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, DATA_THREADS), 0);
	for (int i = 0; i < DATA_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, data_thread, &start), 0);
	for (int i = 0; i < DATA_THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], &got[i]), 0);
	pthread_barrier_destroy(&start);
	ck_assert_int_eq(atomic_load(&text_loads), 1);
	for (int i = 1; i < DATA_THREADS; i++)
		ck_assert_ptr_eq(got[i], got[0]);
	for (int i = 0; i < DATA_THREADS; i++)
		ima_data_release(got[i]);
	ck_assert_int_eq(atomic_load(&text_frees), 1);
	ck_assert_uint_eq(entries_now(), n0);
}
END_TEST

static bool plugin_mapped(const char *name)
{
	char path[4096];
	void *h;

	snprintf(path, sizeof(path), "%s/%s.so", test_plugin_dir(), name);
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h != NULL)
		dlclose(h);
	return h != NULL;
}

START_TEST(data_loader_plugin_outlives_its_engine)
{
	const char *p = test_write_file("plugin.txt", "from a file");
	char conf[5000], *saved = NULL;
	const char *nodl = getenv("IMAGINATOR_NO_DLCLOSE");
	struct ima_engine *ea, *eb;
	struct ima_error err;
	struct ima_req *req;
	const char *s;
	size_t len;

	/* This test is about unmapping: let the engines dlclose. */
	if (nodl != NULL) {
		saved = strdup(nodl);
		unsetenv("IMAGINATOR_NO_DLCLOSE");
	}
	snprintf(conf, sizeof(conf),
		 "pipeline = ({ name = \"a\"; plugin = \"datausea\"; options = { path = \"%s\"; }; });",
		 p);
	ea = test_engine(conf, &err);
	ck_assert_msg(ea != NULL, "%s", err.message);
	/* A reload whose pipeline has only the other plugin: it shares the
	 * object datausea loaded, and frees it with datausea's code. */
	snprintf(conf, sizeof(conf),
		 "pipeline = ({ name = \"b\"; plugin = \"datauseb\"; options = { path = \"%s\"; }; });",
		 p);
	eb = test_engine(conf, &err);
	ck_assert_msg(eb != NULL, "%s", err.message);
	ima_engine_free(ea);
	ck_assert_msg(plugin_mapped("datausea"),
		      "datausea was unmapped while its object was alive");
	ck_assert_int_eq(test_run_json(eb, "{\"resume_text\": \"x\"}", &req), 200);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "datause.owner", &s, &len), 0);
	ck_assert_int_eq((int)len, 8);
	ck_assert_int_eq(memcmp(s, "datausea", 8), 0);
	ima_req_free(req);
	ima_engine_free(eb);
	ck_assert_msg(!plugin_mapped("datausea"), "datausea stayed mapped after the last release");
	if (saved != NULL) {
		setenv("IMAGINATOR_NO_DLCLOSE", saved, 1);
		free(saved);
	}
}
END_TEST

START_TEST(data_now_ms_monotonic)
{
	struct timespec ts;
	int64_t a = ima_now_ms(), b, mono;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	mono = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	b = ima_now_ms();
	ck_assert(a <= mono && mono <= b);
}
END_TEST

Suite *data_suite(void)
{
	Suite *s = suite_create("data");
	TCase *tc = tcase_create("shared");

	tcase_add_test(tc, data_shared_once);
	tcase_add_test(tc, data_kinds_apart);
	tcase_add_test(tc, data_changed_file_read_again);
	tcase_add_test(tc, data_failure_not_cached);
	tcase_add_test(tc, data_missing_file);
	tcase_add_test(tc, data_base_kept_and_keyed);
	tcase_add_test(tc, data_threads_load_once);
	tcase_add_test(tc, data_loader_plugin_outlives_its_engine);
	tcase_add_test(tc, data_now_ms_monotonic);
	suite_add_tcase(s, tc);
	return s;
}
