/*
 * ima-bench - in-process latency of the pipeline on one request, against a
 * baseline pipeline measured in the same run.
 *
 * Usage: ima-bench [-c CONF] [--baseline CONF] [-n RUNS] REQUEST.json
 *
 * Each run decodes the body, runs every stage and renders the JSON answer,
 * exactly as the CLI and the FastCGI workers do. The baseline is the same
 * work with only the request stage (decode, validate, render), so the
 * ratio shows what the analysis stages add on this machine, today. The
 * analysis runs with Cache-Control: no-store (every run computes); a third
 * series repeats the request so that a cache stage, when the configuration
 * has one, answers it. Prints p50/p90/p99, the ratios and each stage's
 * figures.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ima_core.h"

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double bench_pct(double *v, long n, double p)
{
	long i = (long)(p * (double)(n - 1) + 0.5);

	return v[i];
}

/* Runs the request n times; fills total[] and, per stage, stages[s][].
 * With no_store, every run computes the whole analysis (Cache-Control:
 * no-store); without it, a cache stage answers all runs but the first. */
static int bench_run(struct ima_engine *eng, const char *body, size_t len,
		     long n, double *total, double **stages, bool no_store)
{
	size_t nst = ima_engine_stage_count(eng);

	for (long i = -n / 10; i < n; i++) {
		struct ima_req *req = ima_req_new();
		struct ima_buf out = { 0 };
		double t0 = bench_now(), t1;
		int status;

		if (no_store)
			ima_req_set_meta(req, "cache_control", "no-store");
		ima_req_set_meta(req, "output", "json");
		status = ima_engine_handle(eng, req, body, len, IMA_FMT_JSON);

		ima_req_render(req, IMA_FMT_JSON, &out);
		t1 = bench_now();
		if (status != 200) {
			fprintf(stderr, "ima-bench: status %d: %s\n", status,
				ima_req_error(req)->message);
			ima_buf_free(&out);
			ima_req_free(req);
			return -1;
		}
		/* The first tenth warms caches and is not counted. */
		if (i >= 0) {
			total[i] = t1 - t0;
			for (size_t s = 0; stages != NULL && s < nst; s++)
				stages[s][i] = ima_req_stage_seconds(req, s);
		}
		ima_buf_free(&out);
		ima_req_free(req);
	}
	return 0;
}

static char *bench_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(path);
		exit(4);
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(4);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "runs", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	static const char baseline_conf[] =
		"pipeline = ({ name = \"request\"; plugin = \"request\"; });\n";
	const char *conf = NULL, *base = NULL;
	long n = 2000;
	struct ima_engine *eng, *beng;
	struct ima_error err;
	double *total, *btotal, *ctotal, **stages;
	size_t len, nst;
	char *body, tmpl[] = "/tmp/ima-bench-XXXXXX";
	int c;

	while ((c = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'b': base = optarg; break;
		case 'n': n = atol(optarg); break;
		default:
			fprintf(stderr, "usage: ima-bench [-c CONF] [--baseline CONF] [-n RUNS] REQUEST.json\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 10) {
		fprintf(stderr, "usage: ima-bench [-c CONF] [--baseline CONF] [-n RUNS] REQUEST.json\n");
		return 2;
	}
	body = bench_read(argv[optind], &len);
	if (base == NULL) {
		int fd = mkstemp(tmpl);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

		if (f == NULL || fputs(baseline_conf, f) < 0 || fclose(f) != 0) {
			perror(tmpl);
			return 4;
		}
		base = tmpl;
	}
	eng = ima_engine_load(conf, NULL, &err);
	beng = eng ? ima_engine_load(base, NULL, &err) : NULL;
	if (base == tmpl)
		unlink(tmpl);
	if (eng == NULL || beng == NULL) {
		fprintf(stderr, "ima-bench: %s\n", err.message);
		return 3;
	}
	nst = ima_engine_stage_count(eng);
	total = calloc((size_t)n, sizeof(double));
	btotal = calloc((size_t)n, sizeof(double));
	ctotal = calloc((size_t)n, sizeof(double));
	stages = calloc(nst, sizeof(double *));
	for (size_t s = 0; s < nst; s++)
		stages[s] = calloc((size_t)n, sizeof(double));
	/* Interleave: baseline, pipeline, baseline, so drift hits both. */
	if (bench_run(beng, body, len, n / 2, btotal, NULL, true) != 0 ||
	    bench_run(eng, body, len, n, total, stages, true) != 0 ||
	    bench_run(eng, body, len, n, ctotal, NULL, false) != 0 ||
	    bench_run(beng, body, len, n - n / 2, btotal + n / 2, NULL, true) != 0)
		return 1;
	qsort(total, (size_t)n, sizeof(double), bench_cmp);
	qsort(btotal, (size_t)n, sizeof(double), bench_cmp);
	qsort(ctotal, (size_t)n, sizeof(double), bench_cmp);
	printf("request %s (%zu bytes), %ld runs each\n", argv[optind], len, n);
	printf("| %-32s | %9s | %9s | %9s |\n", "pipeline", "p50 us", "p90 us", "p99 us");
	printf("|----------------------------------|-----------|-----------|-----------|\n");
	printf("| %-32s | %9.1f | %9.1f | %9.1f |\n", "baseline: request stage only",
	       bench_pct(btotal, n, .5) * 1e6, bench_pct(btotal, n, .9) * 1e6,
	       bench_pct(btotal, n, .99) * 1e6);
	printf("| %-32s | %9.1f | %9.1f | %9.1f |\n", "analysis (Cache-Control: no-store)",
	       bench_pct(total, n, .5) * 1e6, bench_pct(total, n, .9) * 1e6,
	       bench_pct(total, n, .99) * 1e6);
	for (size_t s = 0; s < nst; s++) {
		char label[64];

		qsort(stages[s], (size_t)n, sizeof(double), bench_cmp);
		snprintf(label, sizeof(label), "  stage %s", ima_engine_stage_name(eng, s));
		printf("| %-32s | %9.1f | %9.1f | %9.1f |\n", label,
		       bench_pct(stages[s], n, .5) * 1e6, bench_pct(stages[s], n, .9) * 1e6,
		       bench_pct(stages[s], n, .99) * 1e6);
		free(stages[s]);
	}
	printf("| %-32s | %9.1f | %9.1f | %9.1f |\n", "repeated request (cache answers)",
	       bench_pct(ctotal, n, .5) * 1e6, bench_pct(ctotal, n, .9) * 1e6,
	       bench_pct(ctotal, n, .99) * 1e6);
	printf("configuration: %s\n", ima_engine_source(eng));
	printf("ratio p50 analysis / baseline: %.2f; repeated / baseline: %.2f\n",
	       bench_pct(total, n, .5) / bench_pct(btotal, n, .5),
	       bench_pct(ctotal, n, .5) / bench_pct(btotal, n, .5));
	free(stages);
	free(total);
	free(btotal);
	free(ctotal);
	free(body);
	ima_engine_free(beng);
	ima_engine_free(eng);
	return 0;
}
