/*
 * ima-trace - replays a synthetic but realistic request trace through the
 * pipeline and reports what the cache answered: the same resume against
 * many job ads, pairs sent again, and near-duplicates that differ only in
 * whitespace (a resume pasted again with other line breaks).
 *
 * Usage: ima-trace [-c CONF]... [-n REQUESTS] [--seed S]
 *                  [--output-tokens TASK:N,...] REQUEST.json
 *
 * REQUEST.json gives the resume and job ad the variants are made from.
 * Every configuration (-c, repeatable; the embedded default without one)
 * gets the same trace, in a fresh engine, and one row of the table: the
 * share of each X-Cache status, the hit ratio, the pipeline runs, the LLM
 * calls made (in all and per analysis) and reused, the LLM spend and the
 * cost saved per 1,000 analyses (the stored _cost_usd of answers served
 * from cache plus the price of calls served by the call cache; zero
 * without LLM stages).
 *
 * The calls are what the answers' run_metrics.calls report (the real LLM
 * stages), plus what the llmsim test stage reports in _metrics. With
 * --output-tokens (model_select's option of that name), a second table
 * prices every call made with its real prompt tokens and, instead of the
 * completion tokens the endpoint reported, the task's expected ones, at
 * the prices of the model the plan chose (run_metrics.model_select): an
 * estimate for endpoints whose answers are shorter than a model's, such as
 * the test server's. What a row saved is then the first row's estimated
 * spend less its own, when the first row reused nothing.
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
	long counts[5], runs, made, reused, degraded;
	double saved, spent, estimated, prompt_tokens;
};

/* --output-tokens, parsed: the expected completion tokens of each task. */
struct trace_outputs {
	char task[8][32];
	long tokens[8];
	int n;
};

static int trace_outputs_parse(const char *spec, struct trace_outputs *o)
{
	const char *p = spec;

	o->n = 0;
	while (*p) {
		const char *colon = strchr(p, ':');
		char *num_end;
		long v;

		if (colon == NULL || colon == p || (size_t)(colon - p) >= sizeof(o->task[0]) || o->n == 8)
			return -1;
		v = strtol(colon + 1, &num_end, 10);
		if (num_end == colon + 1 || v < 0 || (*num_end != ',' && *num_end != '\0'))
			return -1;
		memcpy(o->task[o->n], p, (size_t)(colon - p));
		o->task[o->n][colon - p] = '\0';
		o->tokens[o->n++] = v;
		p = *num_end == ',' ? num_end + 1 : num_end;
	}
	return o->n > 0 ? 0 : -1;
}

/* The price of a model the plan of task offered, per million tokens: the
 * model that answered, else the first one (a variant name not in the
 * plan, as the provider prices it). */
static void trace_plan_prices(json_t *plan, const char *task, const char *model,
			      double *in, double *out)
{
	json_t *models = json_object_get(json_object_get(plan, task), "models"), *m, *pick;
	size_t i;

	pick = json_array_get(models, 0);
	json_array_foreach(models, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));

		if (id != NULL && model != NULL && strcmp(id, model) == 0)
			pick = m;
	}
	*in = json_number_value(json_object_get(pick, "price_in"));
	*out = json_number_value(json_object_get(pick, "price_out"));
}

/* What the answer's run_metrics say of its LLM calls: made (each call the
 * endpoint saw), reused (served by the call cache), and, with outputs,
 * the estimate of the calls made. The offline provider's answers are made
 * in the process, at no cost: not counted. */
static void trace_calls(const struct ima_buf *answer, const struct trace_outputs *outputs,
			struct trace_row *row)
{
	json_t *doc = json_loadb(answer->data, answer->len, 0, NULL), *rm, *calls, *call;
	const char *status;
	size_t i;

	rm = json_object_get(doc, "run_metrics");
	calls = json_object_get(rm, "calls");
	json_array_foreach(calls, i, call) {
		const char *task = json_string_value(json_object_get(call, "task"));
		const char *provider = json_string_value(json_object_get(call, "provider"));
		double in, out, prompt, completion;

		if (provider != NULL && strcmp(provider, "offline") == 0)
			continue;
		if (json_is_true(json_object_get(call, "cached"))) {
			row->reused++;
			continue;
		}
		row->made++;
		if (outputs == NULL || task == NULL)
			continue;
		prompt = json_number_value(json_object_get(call, "prompt_tokens"));
		row->prompt_tokens += prompt;
		completion = json_number_value(json_object_get(call, "completion_tokens"));
		for (int k = 0; k < outputs->n; k++) {
			if (strcmp(outputs->task[k], task) == 0)
				completion = (double)outputs->tokens[k];
		}
		trace_plan_prices(json_object_get(rm, "model_select"), task,
				  json_string_value(json_object_get(call, "model_used")), &in, &out);
		row->estimated += (prompt * in + completion * out) / 1e6;
	}
	row->spent += json_number_value(json_object_get(rm, "estimated_cost_usd"));
	status = json_string_value(json_object_get(doc, "processing_status"));
	row->degraded += status != NULL && strcmp(status, "DEGRADED") == 0;
	json_decref(doc);
}

/* Replays the trace (from seed) through the configuration conf. */
static int trace_run(const char *conf, const char *resume, const char *job, long n,
		     unsigned long seed, const struct trace_outputs *outputs,
		     struct trace_row *row, const char **source)
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
		if (ima_engine_handle(eng, q, body, strlen(body), IMA_FMT_JSON) == 200 &&
		    ima_req_render(q, IMA_FMT_JSON, &out) == 0)
			trace_calls(&out, outputs, row);
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
		/* No X-Cache at all: no cache stage, so a miss. */
		row->counts[strcmp(status, "HIT-L1") == 0 ? 0 : strcmp(status, "HIT-L2") == 0 ? 1
			    : strcmp(status, "MISS") == 0 || strcmp(status, "none") == 0 ? 2
			    : strcmp(status, "BYPASS") == 0 ? 3 : 4]++;
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

static const char *trace_usage =
	"usage: ima-trace [-c CONF]... [-n REQUESTS] [--seed S] [--output-tokens TASK:N,...] REQUEST.json\n";

/* The configuration's file name: the rows stay short. */
static const char *trace_name(const char *source)
{
	const char *slash = strrchr(source, '/');

	return slash ? slash + 1 : source;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "output-tokens", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char *confs[8] = { NULL }, *resume, *job, *sources[8] = { NULL };
	struct trace_row rows[8];
	struct trace_outputs outputs;
	bool estimate = false;
	int nconf = 0;
	long n = 1000;
	json_t *base;
	json_error_t jerr;
	unsigned long seed = 12345;
	int c;

	while ((c = getopt_long(argc, argv, "c:n:s:o:", opts, NULL)) != -1) {
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
		case 'o':
			if (trace_outputs_parse(optarg, &outputs) != 0) {
				fprintf(stderr, "ima-trace: --output-tokens '%s': want TASK:N[,TASK:N]... "
					"(at most 8 tasks)\n", optarg);
				return 2;
			}
			estimate = true;
			break;
		default:
			fputs(trace_usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1) {
		fputs(trace_usage, stderr);
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
	       "| LLM calls made | per analysis | reused | spent per 1,000 | saved per 1,000 |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < nconf; i++) {
		struct trace_row *row = &rows[i];

		if (trace_run(confs[i], resume, job, n, seed, estimate ? &outputs : NULL, row,
			      &sources[i]) != 0)
			return 3;
		printf("| %s | %.3f | %.3f | %.3f | %.3f | %ld | %ld | %.2f | %ld | $%.2f | $%.2f |\n",
		       trace_name(sources[i]), (double)row->counts[0] / n, (double)row->counts[1] / n,
		       (double)row->counts[2] / n, (double)(row->counts[0] + row->counts[1]) / n,
		       row->runs, row->made, (double)row->made / n, row->reused,
		       row->spent * 1000.0 / n, row->saved * 1000.0 / n);
		if (row->counts[3] || row->counts[4])
			printf("|   (other X-Cache: %ld) ||||||||||\n", row->counts[3] + row->counts[4]);
		fflush(stdout);
	}
	for (int i = 0; i < nconf; i++) {
		if (rows[i].degraded)
			printf("\n%s: %ld answers DEGRADED (an LLM call failed): the figures "
			       "miss those calls\n", trace_name(sources[i]), rows[i].degraded);
	}
	if (estimate) {
		/* Saved only against a first row that reused nothing. */
		bool reference = rows[0].counts[0] + rows[0].counts[1] == 0 && rows[0].reused == 0;

		printf("\nestimate: the calls made, with real prompt tokens and each task's "
		       "expected completion tokens (");
		for (int k = 0; k < outputs.n; k++)
			printf("%s%s %ld", k ? ", " : "", outputs.task[k], outputs.tokens[k]);
		printf("), at the plan's prices%s\n\n",
		       reference ? "; saved: the first row's spend less the row's" : "");
		printf("| configuration | spent per 1,000 (est.) | saved per 1,000 (est.) "
		       "| spent per analysis (est.) | prompt tokens per call made |\n"
		       "|---|---|---|---|---|\n");
		for (int i = 0; i < nconf; i++) {
			char saved[32] = "n/a";

			if (reference)
				snprintf(saved, sizeof(saved), "$%.2f",
					 (rows[0].estimated - rows[i].estimated) * 1000.0 / n);
			printf("| %s | $%.2f | %s | $%.4f | %.0f |\n", trace_name(sources[i]),
			       rows[i].estimated * 1000.0 / n, saved, rows[i].estimated / n,
			       rows[i].made ? rows[i].prompt_tokens / (double)rows[i].made : 0.0);
		}
	}
	for (int i = 0; i < nconf; i++)
		free((char *)sources[i]);
	json_decref(base);
	return 0;
}
