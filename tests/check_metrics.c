/* check_metrics.c - metric families, the Prometheus text, per-worker gauges
 * and a metric table that survives a process killed while registering. */
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
	return s;
}
