/*
 * ima-trace - replays a synthetic but realistic request trace through the
 * pipeline and reports what the cache answered: the same resume against
 * many job ads, pairs sent again, and near-duplicates that differ only in
 * whitespace (a resume pasted again with other line breaks).
 *
 * Usage: ima-trace [-c CONF]... [-n REQUESTS] [--seed S] REQUEST.json
 *
 * REQUEST.json gives the resume and job ad the variants are made from.
 * Every configuration (-c, repeatable; the embedded default without one)
 * gets the same trace, in a fresh engine, and one row of the table: the
 * share of each X-Cache status, the hit ratio, the pipeline runs, the LLM
 * calls made and reused, the LLM spend and the cost saved per 1,000
 * analyses (the stored _cost_usd of answers served from cache plus the
 * price of calls served by the call cache; zero without LLM stages).
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

struct trace_row {
	long counts[5], runs, made, reused;
	double saved, spent;
};

/* Replays the trace (from seed) through the configuration conf. */
static int trace_run(const char *conf, const char *resume, const char *job, long n,
		     unsigned long seed, struct trace_row *row, const char **source)
{
	enum { RESUMES = 20, JOBS = 15 };
	static unsigned sent[4096][2];
	size_t nsent = 0;
	struct ima_engine *eng;
	struct ima_error err;

	memset(row, 0, sizeof(*row));
	trace_seed = seed;
	eng = ima_engine_load(conf, NULL, &err);
	if (eng == NULL || ima_engine_worker_init(eng, &err) != 0) {
		fprintf(stderr, "ima-trace: %s\n", err.message);
		ima_engine_free(eng);
		return -1;
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
		int64_t made = 0, reused = 0;

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
		ima_ctx_get_double(ima_req_ctx(q), "run_metrics.cache.cost_saved_usd", &cost);
		row->saved += cost;
		/* What the LLM stages report: calls made (paid) and reused. */
		for (size_t k = 0; k < ima_ctx_count(ima_req_ctx(q)); k++) {
			const char *key = ima_ctx_key(ima_req_ctx(q), k, NULL, NULL);
			char path[160];
			int64_t v;

			if (strncmp(key, "_metrics.", 9) != 0 || strcmp(key, "_metrics.cache") == 0)
				continue;
			snprintf(path, sizeof(path), "%s.made", key);
			if (ima_ctx_get_int(ima_req_ctx(q), path, &v) == 0)
				made += v;
			snprintf(path, sizeof(path), "%s.reused", key);
			if (ima_ctx_get_int(ima_req_ctx(q), path, &v) == 0)
				reused += v;
			snprintf(path, sizeof(path), "%s.spent_usd", key);
			cost = 0;
			if (ima_ctx_get_double(ima_req_ctx(q), path, &cost) == 0)
				row->spent += cost;
		}
		row->made += made;
		row->reused += reused;
		row->counts[strcmp(status, "HIT-L1") == 0 ? 0 : strcmp(status, "HIT-L2") == 0 ? 1
			    : strcmp(status, "MISS") == 0 ? 2 : strcmp(status, "BYPASS") == 0 ? 3 : 4]++;
		row->runs += ima_req_stage_seconds(q, ima_engine_stage_count(eng) - 1) >= 0;
		ima_buf_free(&out);
		ima_req_free(q);
		free(body);
		json_decref(req);
		free(rt);
		free(jt);
	}
	*source = ima_engine_source(eng);
	*source = strdup(*source ? *source : "?");
	ima_engine_free(eng);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *confs[8] = { NULL }, *resume, *job;
	int nconf = 0;
	long n = 1000;
	json_t *base;
	json_error_t jerr;
	unsigned long seed = 12345;
	int c;

	while ((c = getopt_long(argc, argv, "c:n:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (nconf == 8) {
				fprintf(stderr, "ima-trace: at most 8 configurations\n");
				return 2;
			}
			confs[nconf++] = optarg;
			break;
		case 'n': n = atol(optarg); break;
		case 's': seed = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: ima-trace [-c CONF]... [-n REQUESTS] [--seed S] REQUEST.json\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1) {
		fprintf(stderr, "usage: ima-trace [-c CONF]... [-n REQUESTS] [--seed S] REQUEST.json\n");
		return 2;
	}
	if (nconf == 0)
		nconf = 1; /* the embedded default */
	base = json_load_file(argv[optind], 0, &jerr);
	resume = json_string_value(json_object_get(base, "resume_text"));
	job = json_string_value(json_object_get(base, "job_ad"));
	if (resume == NULL || job == NULL) {
		fprintf(stderr, "ima-trace: %s needs resume_text and job_ad\n", argv[optind]);
		return 4;
	}
	printf("trace: %ld requests, 20 resumes x 15 job ads; 30%% exact repeats, "
	       "10%% whitespace near-duplicates (seed %lu)\n\n", n, seed);
	printf("| configuration | HIT-L1 | HIT-L2 | MISS | hit ratio | pipeline runs "
	       "| LLM calls made | reused | spent per 1,000 | saved per 1,000 |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < nconf; i++) {
		struct trace_row row;
		const char *source = NULL;

		if (trace_run(confs[i], resume, job, n, seed, &row, &source) != 0)
			return 3;
		printf("| %s | %.3f | %.3f | %.3f | %.3f | %ld | %ld | %ld | $%.2f | $%.2f |\n",
		       source, (double)row.counts[0] / n, (double)row.counts[1] / n,
		       (double)row.counts[2] / n, (double)(row.counts[0] + row.counts[1]) / n,
		       row.runs, row.made, row.reused, row.spent * 1000.0 / n,
		       row.saved * 1000.0 / n);
		if (row.counts[3] || row.counts[4])
			printf("|   (other X-Cache: %ld) |||||||||\n", row.counts[3] + row.counts[4]);
		free((char *)source);
	}
	json_decref(base);
	return 0;
}
