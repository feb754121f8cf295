/* check_metrics.c - metric families, the Prometheus text, per-worker gauges,
 * histograms and a metric table that survives a process killed while
 * registering. */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ima_test.h"

static char *render(void)
{
	struct ima_buf b = { 0 };

	ima_metrics_render(&b);
	ima_buf_append(&b, "", 1);
	return b.data;
}

START_TEST(metrics_families_have_help_and_type)
{
	char *text;

	ck_assert_int_eq(ima_metric_declare("imaginator_test_things_total", IMA_METRIC_COUNTER,
					    "Things counted by the test."), 0);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_level", IMA_METRIC_GAUGE,
					    "A level\nover two lines."), 0);
	/* Declared again alike: fine; with another type: refused. */
	ck_assert_int_eq(ima_metric_declare("imaginator_test_level", IMA_METRIC_GAUGE, "again"), 0);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_level", IMA_METRIC_COUNTER, "x"), -1);
	/* A counter must say so in its name, a gauge must not. */
	ck_assert_int_eq(ima_metric_declare("imaginator_test_bad", IMA_METRIC_COUNTER, "x"), -1);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_bad_total", IMA_METRIC_GAUGE, "x"), -1);
	ck_assert_int_eq(ima_metric_declare("9bad", IMA_METRIC_GAUGE, "x"), -1);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_nohelp", IMA_METRIC_GAUGE, ""), -1);

	ima_metric_add("imaginator_test_things_total{kind=\"a\"}", 2);
	ima_metric_add("imaginator_test_things_total{kind=\"b\"}", 0.5);
	ima_metric_set("imaginator_test_level", -3);
	ima_metric_set("imaginator_test_undeclared", 7);
	text = render();
	ck_assert_ptr_nonnull(strstr(text, "# HELP imaginator_test_things_total Things counted by the test.\n"
				       "# TYPE imaginator_test_things_total counter\n"
				       "imaginator_test_things_total{kind=\"a\"} 2\n"
				       "imaginator_test_things_total{kind=\"b\"} 0.500000\n"));
	ck_assert_ptr_nonnull(strstr(text, "# HELP imaginator_test_level A level over two lines.\n"
				       "# TYPE imaginator_test_level gauge\nimaginator_test_level -3\n"));
	/* Undeclared still gets a HELP line: the exposition stays valid. */
	ck_assert_ptr_nonnull(strstr(text, "# HELP imaginator_test_undeclared "));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE imaginator_test_undeclared gauge\n"));
	ima_free(text);
}
END_TEST

START_TEST(metrics_refuse_what_the_format_cannot_carry)
{
	char *text;

	ima_metric_add("imaginator_test_ok_total", 3);
	/* A counter never goes down. */
	ima_metric_add("imaginator_test_ok_total", -1);
	ck_assert_double_eq(ima_metric_get("imaginator_test_ok_total"), 3);
	/* A newline would start a line of its own in the exposition. */
	ima_metric_add("imaginator_test_nl_total{a=\"x\"}\nfake_total 1", 1);
	ima_metric_set("imaginator test gauge", 1);
	ima_metric_set("imaginator_test{a=\"1\"}tail", 1);
	text = render();
	ck_assert_ptr_null(strstr(text, "fake_total"));
	ck_assert_ptr_null(strstr(text, "imaginator test"));
	ck_assert_ptr_null(strstr(text, "tail"));
	ima_free(text);
}
END_TEST

START_TEST(metrics_per_worker_gauges_add_up)
{
	pid_t pid;
	int status;

	ck_assert_int_eq(ima_metrics_share(4), 0);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_bytes", IMA_METRIC_GAUGE_SUM,
					    "Bytes held, summed over the workers."), 0);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_ratio", IMA_METRIC_GAUGE,
					    "One value for the service."), 0);
	/* Three workers, each setting its own value: the sum shows, not the
	 * last writer. */
	for (unsigned w = 1; w <= 3; w++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			ima_metrics_set_worker(w);
			ima_metric_set("imaginator_test_bytes", 100.0 * w);
			ima_metric_set("imaginator_test_ratio", 0.25 * w);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	}
	ck_assert_double_eq_tol(ima_metric_get("imaginator_test_bytes"), 600, 1e-9);
	ck_assert_double_eq_tol(ima_metric_get("imaginator_test_ratio"), 0.75, 1e-9);
	/* A dead worker's share stops counting. */
	ima_metrics_worker_gone(2);
	ck_assert_double_eq_tol(ima_metric_get("imaginator_test_bytes"), 400, 1e-9);
	ima_metrics_unshare();
}
END_TEST

static void metrics_on_alarm(int sig)
{
	(void)sig;
	/* The table is wedged: the test fails here instead of hanging. */
	_exit(3);
}

static int metrics_stall_fd = -1;

/* In the child: tell the parent it is inside a registration, then wait
 * there to be killed. */
static void metrics_stall(void)
{
	char c = 1;

	if (write(metrics_stall_fd, &c, 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

/*
 * Workers die at any instruction (SIGKILL, OOM). A process killed in the
 * middle of registering a series must leave the shared table usable:
 * nothing the others do may wait for it.
 */
START_TEST(metrics_survive_a_process_killed_while_registering)
{
	signal(SIGALRM, metrics_on_alarm);
	ck_assert_int_eq(ima_metrics_share(2), 0);
	for (int round = 0; round < 20; round++) {
		char name[64], c;
		int fds[2], status;
		pid_t pid;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			metrics_stall_fd = fds[1];
			ima_metrics_claim_hook = metrics_stall;
			snprintf(name, sizeof(name), "imaginator_test_dead_total{round=\"%d\"}", round);
			ima_metric_add(name, 1);
			_exit(5); /* never here */
		}
		close(fds[1]);
		ck_assert_int_eq((int)read(fds[0], &c, 1), 1);
		close(fds[0]);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		/* Every slot is looked at: register, update, read, render. */
		alarm(20);
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "imaginator_test_after_total{n=\"%d\"}", round * 20 + i);
			ima_metric_add(name, 1);
			ck_assert_double_eq(ima_metric_get(name), 1);
		}
		/* The same name as the dead one: registered anew. */
		snprintf(name, sizeof(name), "imaginator_test_dead_total{round=\"%d\"}", round);
		ima_metric_add(name, 2);
		ck_assert_double_eq(ima_metric_get(name), 2);
		ima_free(render());
		alarm(0);
	}
	ima_metrics_unshare();
	signal(SIGALRM, SIG_DFL);
}
END_TEST

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* A family with a series without labels, one with labels, and another
 * family whose name starts with the first's: each family's series stay
 * together under one HELP and TYPE (Prometheus refuses a second). */
START_TEST(metrics_family_series_stay_together)
{
	char *text;

	ck_assert_int_eq(ima_metric_declare("imaginator_test_x", IMA_METRIC_GAUGE, "X."), 0);
	ima_metric_set("imaginator_test_x", 1);
	ima_metric_set("imaginator_test_x{a=\"1\"}", 2);
	ima_metric_set("imaginator_test_x_y", 3);
	ima_metric_set("imaginator_test_x:z", 4);
	text = render();
	ck_assert_int_eq(count_of(text, "# TYPE imaginator_test_x gauge\n"), 1);
	ck_assert_int_eq(count_of(text, "# HELP imaginator_test_x X.\n"), 1);
	ck_assert_msg(strstr(text, "# TYPE imaginator_test_x gauge\nimaginator_test_x 1\n"
			     "imaginator_test_x{a=\"1\"} 2\n") != NULL, "%s", text);
	ck_assert_int_eq(count_of(text, "# TYPE imaginator_test_x_y gauge\n"), 1);
	ck_assert_int_eq(count_of(text, "# TYPE imaginator_test_x:z gauge\n"), 1);
	ima_free(text);
}
END_TEST

/* Names of 119 bytes are taken and 120 refused; negative values and
 * small fractions print exactly; a full table drops new series only. */
START_TEST(metrics_table_edges)
{
	char name[160], *text;
	int families = 0;

	memset(name, 'a', sizeof(name));
	name[119] = '\0';
	ima_metric_set(name, 5);
	ck_assert_double_eq(ima_metric_get(name), 5);
	name[119] = 'a';
	name[120] = '\0';
	ima_metric_set(name, 5);
	ck_assert_double_eq(ima_metric_get(name), 0);
	ima_metric_set("imaginator_test_neg", -1.5);
	ima_metric_add("imaginator_test_tiny", -0.000001);
	ima_metric_add("imaginator_test_sum_total", 0.25);
	ima_metric_add("imaginator_test_sum_total", 0.75);
	ima_metric_add("imaginator_test_sum_total", -3); /* a counter: ignored */
	text = render();
	ck_assert_ptr_nonnull(strstr(text, "\nimaginator_test_neg -1.500000\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nimaginator_test_tiny -0.000001\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nimaginator_test_sum_total 1\n"));
	ck_assert_ptr_null(strstr(text, name));
	ima_free(text);
	/* 512 series at most: later ones are dropped, earlier ones count. */
	for (int i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "imaginator_test_many{i=\"%d\"}", i);
		ima_metric_add(name, 1);
	}
	ima_metric_add("imaginator_test_sum_total", 2);
	ck_assert_double_eq(ima_metric_get("imaginator_test_sum_total"), 3);
	text = render();
	ck_assert_int_eq(count_of(text, "\nimaginator_test_many{"), 512 - 4);
	ck_assert_int_eq(count_of(text, "# TYPE imaginator_test_many gauge\n"), 1);
	ima_free(text);
	/* 128 families at most. */
	for (int i = 0; i < 140; i++) {
		snprintf(name, sizeof(name), "imaginator_test_family_%d", i);
		families += ima_metric_declare(name, IMA_METRIC_GAUGE, "A family.") == 0;
	}
	ck_assert_int_eq(families, 128);
}
END_TEST

static const double latency_bounds[] = { 0.1, 0.5, 1, 2.5 };

/* Buckets are cumulative, an observation on a bound counts in that bucket,
 * _count is the +Inf bucket; the family is one block under one TYPE. */
START_TEST(metrics_histogram_one_label_set)
{
	char *text;

	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_latency_seconds",
						      "Latency of the test.", latency_bounds, 4), 0);
	ima_metric_observe("imaginator_test_latency_seconds", 0.05);
	ima_metric_observe("imaginator_test_latency_seconds", 0.1);
	ima_metric_observe("imaginator_test_latency_seconds", 0.3);
	ima_metric_observe("imaginator_test_latency_seconds", 0.7);
	ima_metric_observe("imaginator_test_latency_seconds", 3);
	ima_metric_observe("imaginator_test_latency_seconds", 100);
	ima_metric_set("imaginator_test_latency_seconds_other", 1);
	text = render();
	ck_assert_msg(strstr(text, "# HELP imaginator_test_latency_seconds Latency of the test.\n"
			     "# TYPE imaginator_test_latency_seconds histogram\n"
			     "imaginator_test_latency_seconds_bucket{le=\"0.1\"} 2\n"
			     "imaginator_test_latency_seconds_bucket{le=\"0.5\"} 3\n"
			     "imaginator_test_latency_seconds_bucket{le=\"1\"} 4\n"
			     "imaginator_test_latency_seconds_bucket{le=\"2.5\"} 4\n"
			     "imaginator_test_latency_seconds_bucket{le=\"+Inf\"} 6\n"
			     "imaginator_test_latency_seconds_sum 104.150000\n"
			     "imaginator_test_latency_seconds_count 6\n"
			     "# HELP imaginator_test_latency_seconds_other ") != NULL, "%s", text);
	ck_assert_int_eq(count_of(text, "# TYPE imaginator_test_latency_seconds "), 1);
	ima_free(text);
}
END_TEST

/* Two label sets, the second observed first: each gets its buckets, sum
 * and count together, in label order. Labels {} are none. */
START_TEST(metrics_histogram_two_label_sets)
{
	static const double bounds[] = { 1, 5 };
	char *text;

	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_call_seconds",
						      "Calls.", bounds, 2), 0);
	ima_metric_observe("imaginator_test_call_seconds{provider=\"b\"}", 2);
	ima_metric_observe("imaginator_test_call_seconds{provider=\"a\"}", 0.5);
	ima_metric_observe("imaginator_test_call_seconds{provider=\"a\"}", 7);
	ima_metric_observe("imaginator_test_call_seconds{provider=\"a\"}", 5);
	ima_metric_observe("imaginator_test_call_seconds{}", 1);
	text = render();
	ck_assert_msg(strstr(text, "# TYPE imaginator_test_call_seconds histogram\n"
			     "imaginator_test_call_seconds_bucket{provider=\"a\",le=\"1\"} 1\n"
			     "imaginator_test_call_seconds_bucket{provider=\"a\",le=\"5\"} 2\n"
			     "imaginator_test_call_seconds_bucket{provider=\"a\",le=\"+Inf\"} 3\n"
			     "imaginator_test_call_seconds_sum{provider=\"a\"} 12.500000\n"
			     "imaginator_test_call_seconds_count{provider=\"a\"} 3\n"
			     "imaginator_test_call_seconds_bucket{provider=\"b\",le=\"1\"} 0\n"
			     "imaginator_test_call_seconds_bucket{provider=\"b\",le=\"5\"} 1\n"
			     "imaginator_test_call_seconds_bucket{provider=\"b\",le=\"+Inf\"} 1\n"
			     "imaginator_test_call_seconds_sum{provider=\"b\"} 2\n"
			     "imaginator_test_call_seconds_count{provider=\"b\"} 1\n"
			     "imaginator_test_call_seconds_bucket{le=\"1\"} 1\n"
			     "imaginator_test_call_seconds_bucket{le=\"5\"} 1\n"
			     "imaginator_test_call_seconds_bucket{le=\"+Inf\"} 1\n"
			     "imaginator_test_call_seconds_sum 1\n"
			     "imaginator_test_call_seconds_count 1\n") != NULL, "%s", text);
	ima_free(text);
}
END_TEST

START_TEST(metrics_histogram_refusals)
{
	static const double unsorted[] = { 1, 0.5 }, twice[] = { 1, 1 };
	double many[17], nan_bound[] = { 0.1, NAN };
	char *text;

	for (int i = 0; i < 17; i++)
		many[i] = i + 1;
	/* The series' suffixes, and a counter's, are not a histogram's name. */
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_total", "x", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_bucket", "x", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_sum", "x", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_count", "x", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("9imaginator", "x", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "", latency_bounds, 4), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", NULL, latency_bounds, 4), -1);
	/* Bounds: increasing, finite, 16 at most. */
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", unsorted, 2), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", twice, 2), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", nan_bound, 2), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", many, 17), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", NULL, 2), -1);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h16_seconds", "x", many, 16), 0);
	/* Without bounds through ima_metric_declare: refused. */
	ck_assert_int_eq(ima_metric_declare("imaginator_test_h_seconds", IMA_METRIC_HISTOGRAM, "x"), -1);
	/* Again alike: fine; other bounds or another type: refused. */
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", latency_bounds, 4), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "y", latency_bounds, 4), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_h_seconds", "x", latency_bounds, 3), -1);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_h_seconds", IMA_METRIC_GAUGE, "x"), -1);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_g", IMA_METRIC_GAUGE, "x"), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_g", "x", latency_bounds, 4), -1);
	/* Observations only for histograms, with a label set that has no le
	 * and values that fit; adds and sets never reach a histogram. */
	ima_metric_observe("imaginator_test_g", 1);
	ima_metric_observe("imaginator_test_undeclared_seconds", 1);
	ima_metric_observe("imaginator_test_h_seconds{le=\"1\"}", 1);
	ima_metric_observe("imaginator_test_h_seconds{a=\"1\",le=\"1\"}", 1);
	ima_metric_observe("imaginator_test_h_seconds", NAN);
	ima_metric_observe("imaginator_test_h_seconds", INFINITY);
	ima_metric_observe("imaginator_test_h_seconds{a=\"1\"}\nfake 1", 1);
	ima_metric_add("imaginator_test_h_seconds", 1);
	ima_metric_set("imaginator_test_h_seconds{a=\"2\"}", 1);
	ima_metric_observe("imaginator_test_h_seconds{a=\"3\"}", -1);
	text = render();
	ck_assert_ptr_null(strstr(text, "imaginator_test_g"));
	ck_assert_ptr_null(strstr(text, "undeclared"));
	ck_assert_ptr_null(strstr(text, "fake"));
	ck_assert_ptr_null(strstr(text, "a=\"2\""));
	ck_assert_ptr_null(strstr(text, "imaginator_test_h_seconds_count "));
	ck_assert_int_eq(count_of(text, "imaginator_test_h_seconds_count"), 1);
	ck_assert_ptr_nonnull(strstr(text, "imaginator_test_h_seconds_bucket{a=\"3\",le=\"0.1\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "imaginator_test_h_seconds_sum{a=\"3\"} -1\n"));
	ima_free(text);
}
END_TEST

/* Like counters, every worker adds to the same buckets; a worker's end
 * takes nothing away. */
START_TEST(metrics_histogram_adds_up_over_workers)
{
	char *text;
	pid_t pid;
	int status;

	ck_assert_int_eq(ima_metrics_share(3), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_w_seconds", "W.",
						      latency_bounds, 4), 0);
	for (unsigned w = 1; w <= 3; w++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			ima_metrics_set_worker(w);
			ima_metric_observe("imaginator_test_w_seconds{w=\"all\"}", 0.2 * w);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	}
	ima_metrics_worker_gone(2);
	text = render();
	ck_assert_msg(strstr(text, "imaginator_test_w_seconds_bucket{w=\"all\",le=\"0.1\"} 0\n"
			     "imaginator_test_w_seconds_bucket{w=\"all\",le=\"0.5\"} 2\n"
			     "imaginator_test_w_seconds_bucket{w=\"all\",le=\"1\"} 3\n"
			     "imaginator_test_w_seconds_bucket{w=\"all\",le=\"2.5\"} 3\n"
			     "imaginator_test_w_seconds_bucket{w=\"all\",le=\"+Inf\"} 3\n"
			     "imaginator_test_w_seconds_sum{w=\"all\"} 1.200000\n"
			     "imaginator_test_w_seconds_count{w=\"all\"} 3\n") != NULL, "%s", text);
	ima_free(text);
	ima_metrics_unshare();
}
END_TEST

/*
 * Histograms among the other types, for Prometheus' own checker:
 * tests/metrics-promtool.test runs this test alone with
 * IMA_METRICS_EXPOSITION set and gives the file to promtool.
 */
START_TEST(metrics_histogram_exposition)
{
	static const double bounds[] = { 0.005, 0.25, 1, 60 };
	const char *path = getenv("IMA_METRICS_EXPOSITION");
	char *text;
	FILE *f;

	ck_assert_int_eq(ima_metric_declare("imaginator_test_requests_total", IMA_METRIC_COUNTER, "R."), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_llm_call_seconds",
						      "LLM calls.", bounds, 4), 0);
	ck_assert_int_eq(ima_metric_declare_histogram("imaginator_test_bytes", "Sizes.", bounds, 4), 0);
	ck_assert_int_eq(ima_metric_declare("imaginator_test_level", IMA_METRIC_GAUGE, "L."), 0);
	ima_metric_add("imaginator_test_requests_total{route=\"/v1\"}", 3);
	ima_metric_set("imaginator_test_level", 2);
	ima_metric_observe("imaginator_test_llm_call_seconds{provider=\"openrouter\"}", 1.75);
	ima_metric_observe("imaginator_test_llm_call_seconds{provider=\"openrouter\"}", 0.001);
	ima_metric_observe("imaginator_test_llm_call_seconds{provider=\"offline\"}", 0);
	ima_metric_observe("imaginator_test_bytes", 61);
	text = render();
	ck_assert_int_eq(count_of(text, "_bucket{"), 3 * 5);
	if (path != NULL) {
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(text, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	ima_free(text);
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, metrics_families_have_help_and_type);
	tcase_add_test(tc, metrics_refuse_what_the_format_cannot_carry);
	tcase_add_test(tc, metrics_per_worker_gauges_add_up);
	tcase_add_test(tc, metrics_survive_a_process_killed_while_registering);
	tcase_add_test(tc, metrics_family_series_stay_together);
	tcase_add_test(tc, metrics_table_edges);
	suite_add_tcase(s, tc);
	/* A case of its own: tests/metrics-promtool.test runs it alone. */
	tc = tcase_create("histogram");
	tcase_add_test(tc, metrics_histogram_one_label_set);
	tcase_add_test(tc, metrics_histogram_two_label_sets);
	tcase_add_test(tc, metrics_histogram_refusals);
	tcase_add_test(tc, metrics_histogram_adds_up_over_workers);
	tcase_add_test(tc, metrics_histogram_exposition);
	suite_add_tcase(s, tc);
	return s;
}
