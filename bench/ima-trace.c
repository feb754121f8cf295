/*
 * ima-trace - replays a synthetic but realistic request trace through the
 * pipeline and reports what the cache answered: the same resume against
 * many job ads, pairs sent again, and near-duplicates that differ only in
 * whitespace (a resume pasted again with other line breaks).
 *
 * Usage: ima-trace [-c CONF] [-n REQUESTS] [--seed S] REQUEST.json
 *
 * REQUEST.json gives the resume and job ad the variants are made from.
 * Prints the share of each X-Cache status, the hit ratio, the pipeline runs
 * saved, and the LLM cost saved per 1,000 analyses (the stored _cost_usd of
 * each answer served from cache; zero while no LLM stage is configured).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ima_core.h"

static unsigned long trace_seed = 12345;

static unsigned trace_rand(unsigned n)
{
	trace_seed = trace_seed * 6364136223846793005ul + 1442695040888963407ul;
	return (unsigned)((trace_seed >> 33) % n);
}

/* Skewed pick: small indexes are popular, as a few resumes are. */
static unsigned trace_skewed(unsigned n)
{
	unsigned a = trace_rand(n), b = trace_rand(n);

	return a < b ? a : b;
}

/* A variant of text: the i-th candidate or posting ("#i" appended to the
 * first line), so variants are different inputs with the same shape. */
static char *trace_variant(const char *text, unsigned i, bool reflow)
{
	size_t n = strlen(text);
	char *out = malloc(2 * n + 32), *w = out;
	const char *nl = strchr(text, '\n');
	size_t first = nl ? (size_t)(nl - text) : n;

	if (out == NULL)
		abort();
	memcpy(w, text, first);
	w += first;
	w += sprintf(w, " #%u", i);
	for (const char *p = text + first; *p; p++) {
		/* A near-duplicate: other line breaks and doubled spaces. */
		if (reflow && *p == '\n')
			*w++ = '\r';
		if (reflow && *p == ' ')
			*w++ = ' ';
		*w++ = *p;
	}
	*w = '\0';
	return out;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	enum { RESUMES = 20, JOBS = 15 };
	const char *conf = NULL, *resume, *job;
	long n = 1000;
	json_t *base;
	json_error_t jerr;
	struct ima_engine *eng;
	struct ima_error err;
	long counts[5] = { 0 }, runs = 0;
	double cost_saved = 0;
	unsigned sent[4096][2];
	size_t nsent = 0;
	unsigned long seed0;
	int c;

	while ((c = getopt_long(argc, argv, "c:n:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'n': n = atol(optarg); break;
		case 's': trace_seed = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: ima-trace [-c CONF] [-n REQUESTS] [--seed S] REQUEST.json\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1) {
		fprintf(stderr, "usage: ima-trace [-c CONF] [-n REQUESTS] [--seed S] REQUEST.json\n");
		return 2;
	}
	seed0 = trace_seed;
	base = json_load_file(argv[optind], 0, &jerr);
	resume = json_string_value(json_object_get(base, "resume_text"));
	job = json_string_value(json_object_get(base, "job_ad"));
	if (resume == NULL || job == NULL) {
		fprintf(stderr, "ima-trace: %s needs resume_text and job_ad\n", argv[optind]);
		return 4;
	}
	eng = ima_engine_load(conf, &err);
	if (eng == NULL) {
		fprintf(stderr, "ima-trace: %s\n", err.message);
		return 3;
	}
	for (long i = 0; i < n; i++) {
		unsigned r, j, roll = trace_rand(100);
		bool reflow = false;
		char *rt, *jt, *body;
		json_t *req;
		struct ima_req *q;
		struct ima_buf out = { 0 };
		const char *status = "none";
		double cost = 0;

		if (nsent > 0 && roll < 30) {
			/* The same pair again, byte for byte. */
			unsigned k = trace_rand((unsigned)nsent);

			r = sent[k][0];
			j = sent[k][1];
		} else if (nsent > 0 && roll < 40) {
			unsigned k = trace_rand((unsigned)nsent);

			r = sent[k][0];
			j = sent[k][1];
			reflow = true;
		} else {
			/* A resume, popular ones more often, against some job. */
			r = trace_skewed(RESUMES);
			j = trace_rand(JOBS);
		}
		if (nsent < sizeof(sent) / sizeof(sent[0])) {
			sent[nsent][0] = r;
			sent[nsent][1] = j;
			nsent++;
		}
		rt = trace_variant(resume, r, reflow);
		jt = trace_variant(job, j, false);
		req = json_pack("{s:s, s:s, s:s}", "resume_text", rt, "job_ad", jt,
				"reference_date", "2026-11-01");
		body = json_dumps(req, JSON_COMPACT);
		q = ima_req_new();
		ima_req_set_meta(q, "output", "json");
		if (ima_engine_handle(eng, q, body, strlen(body), IMA_FMT_JSON) == 200)
			ima_req_render(q, IMA_FMT_JSON, &out);
		for (size_t h = 0; h < ima_req_header_count(q); h++) {
			const char *name, *value;

			ima_req_header(q, h, &name, &value);
			if (strcmp(name, "X-Cache") == 0)
				status = value;
		}
		ima_ctx_get_double(ima_req_ctx(q), "_metrics.cache.cost_saved_usd", &cost);
		cost_saved += cost;
		counts[strcmp(status, "HIT-L1") == 0 ? 0 : strcmp(status, "HIT-L2") == 0 ? 1
		       : strcmp(status, "MISS") == 0 ? 2 : strcmp(status, "BYPASS") == 0 ? 3 : 4]++;
		runs += ima_req_stage_seconds(q, ima_engine_stage_count(eng) - 1) >= 0;
		ima_buf_free(&out);
		ima_req_free(q);
		free(body);
		json_decref(req);
		free(rt);
		free(jt);
	}
	printf("trace: %ld requests, %d resumes x %d job ads; 30%% exact repeats, "
	       "10%% whitespace near-duplicates (seed %lu)\n", n, RESUMES, JOBS, seed0);
	printf("| X-Cache | requests | share |\n|---|---|---|\n");
	printf("| HIT-L1 | %ld | %.3f |\n| HIT-L2 | %ld | %.3f |\n| MISS | %ld | %.3f |\n",
	       counts[0], (double)counts[0] / n, counts[1], (double)counts[1] / n,
	       counts[2], (double)counts[2] / n);
	if (counts[3] || counts[4])
		printf("| other | %ld | %.3f |\n", counts[3] + counts[4], (double)(counts[3] + counts[4]) / n);
	printf("hit ratio %.3f; pipeline runs %ld of %ld; LLM cost saved per 1,000 analyses: $%.4f\n",
	       (double)(counts[0] + counts[1]) / n, runs, n, cost_saved * 1000.0 / n);
	printf("configuration: %s\n", ima_engine_source(eng));
	ima_engine_free(eng);
	json_decref(base);
	return 0;
}
