/*
 * ima-eval - measures the analysis stages, run as the real pipeline, on the
 * labeled data in ../shared/data (not shipped with Imaginator):
 *
 *   indeed-resumes/dev.jsonl  titles and companies of experiences (P/R/F1),
 *                             years of experience (absolute error), seniority
 *                             level agreement, resume skills (P/R/F1)
 *   skillspan/{dev,train}.json job-ad skills against the "knowledge" spans
 *
 * Usage: ima-eval [-c CONF] [--data DIR] [--subset N]
 * Prints a table of aggregate figures only: the resumes hold personal data.
 *
 * Matching rules. Titles and companies: lower-cased, whitespace collapsed,
 * punctuation stripped at both ends; a prediction matches a gold value when
 * equal, or when one contains the other and the shorter is at least 60% of
 * the longer. Each resume's gold and predicted values are deduplicated and
 * matched one to one; counts are summed over resumes (micro average).
 * Skills: both sides are canonicalised through the skills dictionary (gold
 * "k8s" is Kubernetes), then compared for equality. Years: gold is a "Years
 * of Experience" span that reads as a duration ("3.5 Years", "15 Months");
 * spans holding a year or a month name are skipped; the largest counts.
 * Levels from years: under 2 junior, under 5 mid-level, under 10 senior,
 * else principal. "Present" is 2019-01-01, when the resumes were collected.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ima_core.h"
#include "skillmatch.h"

#define MAXV 512

struct eval_set {
	char *v[MAXV];
	size_t n;
};

struct eval_prf {
	long tp, fp, fn;
};

static struct skillmatch_dict *eval_dict;

/* ---- strings and sets ---- */

static char *eval_norm(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t k = 0, a = 0;
	bool space = false;

	if (out == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isspace(c)) {
			space = k > 0;
			continue;
		}
		if (space)
			out[k++] = ' ';
		space = false;
		out[k++] = (char)tolower(c);
	}
	while (k > 0 && (unsigned char)out[k - 1] < 0x80 && !isalnum((unsigned char)out[k - 1]))
		k--;
	while (a < k && (unsigned char)out[a] < 0x80 && !isalnum((unsigned char)out[a]))
		a++;
	memmove(out, out + a, k - a);
	out[k - a] = '\0';
	return out;
}

static void eval_set_add(struct eval_set *s, char *v)
{
	if (v[0] == '\0' || s->n == MAXV) {
		free(v);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], v) == 0) {
			free(v);
			return;
		}
	s->v[s->n++] = v;
}

static void eval_set_free(struct eval_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* A skill as its canonical dictionary name when known, normalised. */
static char *eval_skill(const char *s, size_t n)
{
	int id = skillmatch_lookup(eval_dict, s, n);

	if (id >= 0) {
		const char *name = skillmatch_name(eval_dict, (unsigned)id);

		return eval_norm(name, strlen(name));
	}
	return eval_norm(s, n);
}

static bool eval_close(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (strcmp(a, b) == 0)
		return true;
	if (la < lb)
		return strstr(b, a) != NULL && la * 10 >= lb * 6;
	return strstr(a, b) != NULL && lb * 10 >= la * 6;
}

static void eval_score(const struct eval_set *pred, const struct eval_set *gold,
		       bool fuzzy, struct eval_prf *prf)
{
	bool used[MAXV] = { false };
	long tp = 0;

	for (size_t i = 0; i < pred->n; i++)
		for (size_t j = 0; j < gold->n; j++)
			if (!used[j] && (fuzzy ? eval_close(pred->v[i], gold->v[j])
					       : strcmp(pred->v[i], gold->v[j]) == 0)) {
				used[j] = true;
				tp++;
				break;
			}
	prf->tp += tp;
	prf->fp += (long)pred->n - tp;
	prf->fn += (long)gold->n - tp;
}

static void eval_print_prf(const char *set, size_t docs, const char *what,
			   const struct eval_prf *m)
{
	double p = m->tp + m->fp ? (double)m->tp / (double)(m->tp + m->fp) : 0;
	double r = m->tp + m->fn ? (double)m->tp / (double)(m->tp + m->fn) : 0;
	double f = p + r > 0 ? 2 * p * r / (p + r) : 0;

	char value[64];

	snprintf(value, sizeof(value), "P %.3f  R %.3f  F1 %.3f", p, r, f);
	printf("| %-24s | %4zu | %-28s | %-33s |\n", set, docs, what, value);
}

/* ---- running the pipeline ---- */

static struct ima_req *eval_run(struct ima_engine *eng, json_t *request)
{
	char *body = json_dumps(request, JSON_COMPACT);
	struct ima_req *req = ima_req_new();
	int status;

	if (body == NULL || req == NULL)
		abort();
	status = ima_engine_handle(eng, req, body, strlen(body), IMA_FMT_JSON);
	if (status != 200)
		fprintf(stderr, "ima-eval: a record was rejected: %d %s\n", status,
			ima_req_error(req) ? ima_req_error(req)->message : "");
	free(body);
	return req;
}

static void eval_collect(struct ima_req *req, const char *path, const char *key,
			 bool skill, struct eval_set *out)
{
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), path);

	for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_ARRAY && i < o->via.array.size; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];

		if (key != NULL) {
			const msgpack_object *v = NULL;

			for (uint32_t k = 0; e->type == MSGPACK_OBJECT_MAP && k < e->via.map.size; k++)
				if (e->via.map.ptr[k].key.via.str.size == strlen(key) &&
				    memcmp(e->via.map.ptr[k].key.via.str.ptr, key, strlen(key)) == 0)
					v = &e->via.map.ptr[k].val;
			e = v;
		}
		if (e != NULL && e->type == MSGPACK_OBJECT_STR)
			eval_set_add(out, skill ? eval_skill(e->via.str.ptr, e->via.str.size)
						: eval_norm(e->via.str.ptr, e->via.str.size));
	}
}

/* ---- indeed resumes ---- */

/* "3.5 Years", "6 Yrs", "15 Months", "5 Years 11 Months"; -1 otherwise. */
static double eval_gold_years(const char *s)
{
	static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun",
					      "jul", "aug", "sep", "oct", "nov", "dec", NULL };
	double years = 0;
	bool any = false;
	char low[128];
	size_t n = strlen(s);

	if (n >= sizeof(low))
		return -1;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	for (const char *const *m = months; *m; m++)
		if (strstr(low, *m) != NULL)
			return -1;
	for (const char *p = low; *p;) {
		char *end;
		double v;

		if (!isdigit((unsigned char)*p)) {
			p++;
			continue;
		}
		if (isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
		    isdigit((unsigned char)p[3]))
			return -1; /* a year */
		v = strtod(p, &end);
		while (*end == ' ' || *end == '+')
			end++;
		if (strncmp(end, "month", 5) == 0 || strncmp(end, "mon", 3) == 0)
			years += v / 12.0;
		else if (strncmp(end, "y", 1) == 0)
			years += v;
		else
			return -1;
		any = true;
		p = end;
	}
	return any ? years : -1;
}

static int eval_level(double years)
{
	return years < 2 ? 0 : years < 5 ? 1 : years < 10 ? 2 : 3;
}

static int eval_level_name(const char *s, size_t n)
{
	static const char *const names[] = { "junior", "mid-level", "senior", "principal" };

	for (int i = 0; i < 4; i++)
		if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0)
			return i;
	return -1;
}

static int eval_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void eval_span_text(json_t *point, const char *content, size_t clen,
			   char *buf, size_t size)
{
	json_t *t = json_object_get(point, "text");
	json_int_t a = json_integer_value(json_object_get(point, "start"));
	json_int_t b = json_integer_value(json_object_get(point, "end"));

	if (json_is_string(t)) {
		snprintf(buf, size, "%s", json_string_value(t));
		return;
	}
	if (a >= 0 && b >= a && (size_t)b < clen)
		snprintf(buf, size, "%.*s", (int)(b - a + 1), content + a);
	else
		buf[0] = '\0';
}

/* Splits a gold Skills span ("Python (3 years), SQL, ...") into skills. */
static void eval_gold_skills(const char *text, struct eval_set *gold)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, ",;\n\xe2|/");
		char piece[256];
		char *paren;

		if (n > 0 && n < sizeof(piece)) {
			memcpy(piece, p, n);
			piece[n] = '\0';
			paren = strchr(piece, '(');
			if (paren != NULL)
				*paren = '\0';
			if (strlen(piece) > 0 && strlen(piece) < 60)
				eval_set_add(gold, eval_skill(piece, strlen(piece)));
		}
		p += n;
		if (*p == '\xe2' && p[1] && p[2])
			p += 3; /* a UTF-8 bullet */
		else if (*p)
			p++;
	}
}

static int eval_indeed(struct ima_engine *eng, const char *dir, long subset)
{
	char path[4096], *line = NULL;
	size_t cap = 0, docs = 0, nyears = 0, agree = 0;
	struct eval_prf titles = { 0 }, companies = { 0 }, skills = { 0 };
	double *errs = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/indeed-resumes/dev.jsonl", dir);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "ima-eval: %s: cannot open\n", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0 && (subset <= 0 || (long)docs < subset)) {
		json_t *rec = json_loads(line, 0, NULL), *ann, *a;
		struct eval_set pt = { 0 }, pc = { 0 }, ps = { 0 }, gt = { 0 }, gc = { 0 }, gs = { 0 };
		const char *content;
		size_t clen, idx;
		double gold_years = -1, years;
		struct ima_req *req;
		json_t *request;
		const char *lvl;
		size_t lvllen;

		if (rec == NULL || !json_is_string(json_object_get(rec, "content"))) {
			json_decref(rec);
			continue;
		}
		content = json_string_value(json_object_get(rec, "content"));
		clen = json_string_length(json_object_get(rec, "content"));
		ann = json_object_get(rec, "annotation");
		json_array_foreach(ann, idx, a) {
			const char *label = json_string_value(json_array_get(json_object_get(a, "label"), 0));
			json_t *pts = json_object_get(a, "points"), *pt1;
			size_t k;

			if (label == NULL)
				continue;
			json_array_foreach(pts, k, pt1) {
				char text[4096];

				eval_span_text(pt1, content, clen, text, sizeof(text));
				if (strcmp(label, "Designation") == 0)
					eval_set_add(&gt, eval_norm(text, strlen(text)));
				else if (strcmp(label, "Companies worked at") == 0)
					eval_set_add(&gc, eval_norm(text, strlen(text)));
				else if (strcmp(label, "Skills") == 0)
					eval_gold_skills(text, &gs);
				else if (strcmp(label, "Years of Experience") == 0) {
					double y = eval_gold_years(text);

					if (y > gold_years)
						gold_years = y;
				}
			}
		}
		request = json_pack("{s:s, s:s}", "resume_text", content,
				    "reference_date", "2019-01-01");
		req = eval_run(eng, request);
		eval_collect(req, "experiences", "title", false, &pt);
		eval_collect(req, "experiences", "company", false, &pc);
		eval_collect(req, "aggregate_skills", NULL, true, &ps);
		eval_score(&pt, &gt, true, &titles);
		eval_score(&pc, &gc, true, &companies);
		if (gs.n > 0)
			eval_score(&ps, &gs, false, &skills);
		if (gold_years >= 0 &&
		    ima_ctx_get_double(ima_req_ctx(req), "seniority_analysis.total_years_experience", &years) == 0) {
			double *ne = realloc(errs, (nyears + 1) * sizeof(*errs));

			if (ne == NULL)
				abort();
			errs = ne;
			errs[nyears++] = fabs(years - gold_years);
			if (ima_ctx_get_str(ima_req_ctx(req), "seniority_analysis.level", &lvl, &lvllen) == 0 &&
			    eval_level_name(lvl, lvllen) == eval_level(gold_years))
				agree++;
		}
		ima_req_free(req);
		json_decref(request);
		json_decref(rec);
		eval_set_free(&pt);
		eval_set_free(&pc);
		eval_set_free(&ps);
		eval_set_free(&gt);
		eval_set_free(&gc);
		eval_set_free(&gs);
		docs++;
	}
	free(line);
	fclose(f);
	eval_print_prf("indeed-resumes/dev", docs, "experience titles", &titles);
	eval_print_prf("indeed-resumes/dev", docs, "experience companies", &companies);
	eval_print_prf("indeed-resumes/dev", docs, "resume skills", &skills);
	if (nyears > 0) {
		double mean = 0;

		qsort(errs, nyears, sizeof(*errs), eval_cmp_double);
		for (size_t i = 0; i < nyears; i++)
			mean += errs[i];
		char value[64];

		snprintf(value, sizeof(value), "median %.2f  mean %.2f",
			 nyears % 2 ? errs[nyears / 2] : (errs[nyears / 2 - 1] + errs[nyears / 2]) / 2,
			 mean / (double)nyears);
		printf("| %-24s | %4zu | %-28s | %-33s |\n", "indeed-resumes/dev", nyears,
		       "years abs. error", value);
		snprintf(value, sizeof(value), "%.3f (%zu of %zu)", (double)agree / (double)nyears,
			 agree, nyears);
		printf("| %-24s | %4zu | %-28s | %-33s |\n", "indeed-resumes/dev", nyears,
		       "seniority agreement", value);
	}
	free(errs);
	return 0;
}

/* ---- skillspan ---- */

struct eval_posting {
	char source[16];
	long idx;
	struct ima_buf text;
	struct eval_set gold;
};

static void eval_posting_score(struct ima_engine *eng, struct eval_posting *p,
			       struct eval_prf *prf)
{
	struct eval_set pred = { 0 };
	json_t *request = json_pack("{s:s, s:s}", "resume_text", "(none)", "job_ad",
				    p->text.data ? p->text.data : "");
	struct ima_req *req = eval_run(eng, request);

	eval_collect(req, "job_requirements.skills_required", NULL, true, &pred);
	eval_collect(req, "job_requirements.skills_preferred", NULL, true, &pred);
	eval_score(&pred, &p->gold, false, prf);
	eval_set_free(&pred);
	ima_req_free(req);
	json_decref(request);
}

static int eval_skillspan(struct ima_engine *eng, const char *dir,
			  const char *name, long subset)
{
	char path[4096], *line = NULL;
	size_t cap = 0, docs = 0;
	struct eval_posting cur = { .idx = -1 };
	struct eval_prf prf = { 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/skillspan/%s.json", dir, name);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "ima-eval: %s: cannot open\n", path);
		return -1;
	}
	for (;;) {
		bool more = getline(&line, &cap, f) > 0;
		json_t *rec = more ? json_loads(line, 0, NULL) : NULL;
		json_t *tokens = json_object_get(rec, "tokens"), *tags = json_object_get(rec, "tags_knowledge");
		const char *source = json_string_value(json_object_get(rec, "source"));
		long idx = (long)json_integer_value(json_object_get(rec, "idx"));
		struct ima_buf span = { 0 };
		size_t i;
		json_t *tok;

		if (!more || (rec != NULL && (idx != cur.idx || strcmp(source ? source : "", cur.source) != 0))) {
			if (cur.idx >= 0 && (subset <= 0 || (long)docs < subset)) {
				eval_posting_score(eng, &cur, &prf);
				docs++;
			}
			ima_buf_free(&cur.text);
			eval_set_free(&cur.gold);
			cur.idx = idx;
			snprintf(cur.source, sizeof(cur.source), "%s", source ? source : "");
		}
		if (!more)
			break;
		json_array_foreach(tokens, i, tok) {
			const char *t = json_string_value(tok);
			const char *tag = json_string_value(json_array_get(tags, i));

			if (t == NULL)
				continue;
			ima_buf_append(&cur.text, t, strlen(t));
			ima_buf_append(&cur.text, " ", 1);
			if (tag != NULL && (tag[0] == 'B' || tag[0] == 'O') && span.len > 0) {
				eval_set_add(&cur.gold, eval_skill(span.data, span.len));
				span.len = 0;
			}
			if (tag != NULL && (tag[0] == 'B' || tag[0] == 'I')) {
				if (span.len)
					ima_buf_append(&span, " ", 1);
				ima_buf_append(&span, t, strlen(t));
			}
		}
		if (span.len > 0)
			eval_set_add(&cur.gold, eval_skill(span.data, span.len));
		ima_buf_free(&span);
		ima_buf_append(&cur.text, "\n", 1);
		json_decref(rec);
	}
	free(line);
	fclose(f);
	snprintf(path, sizeof(path), "skillspan/%s", name);
	eval_print_prf(path, docs, "job-ad skills vs knowledge", &prf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'd' },
		{ "subset", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf = NULL, *dir = getenv("IMAGINATOR_EVAL_DATA");
	long subset = 0;
	struct ima_engine *eng;
	struct ima_error err;
	char path[4096], msg[256];
	int c, rc = 0;
	clock_t t0 = clock();

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': dir = optarg; break;
		case 's': subset = atol(optarg); break;
		default:
			fprintf(stderr, "usage: ima-eval [-c CONF] [--data DIR] [--subset N]\n");
			return 2;
		}
	}
	if (dir == NULL)
		dir = "../shared/data";
	eng = ima_engine_load(conf, NULL, &err);
	if (eng == NULL) {
		fprintf(stderr, "ima-eval: %s\n", err.message);
		return 3;
	}
	if (ima_data_path("skills.tsv", path, sizeof(path)) != 0 ||
	    (eval_dict = skillmatch_load(path, msg, sizeof(msg))) == NULL) {
		fprintf(stderr, "ima-eval: cannot load the skills dictionary %s\n", path);
		ima_engine_free(eng);
		return 3;
	}
	printf("| %-24s | %4s | %-28s | %-33s |\n", "data", "n", "metric", "value");
	printf("|%s|%s|%s|%s|\n", "--------------------------", "------",
	       "------------------------------", "-----------------------------------");
	rc |= eval_indeed(eng, dir, subset);
	rc |= eval_skillspan(eng, dir, "dev", subset);
	rc |= eval_skillspan(eng, dir, "train", subset);
	printf("\n%s, %.1f s CPU\n", ima_engine_source(eng),
	       (double)(clock() - t0) / CLOCKS_PER_SEC);
	skillmatch_free(eval_dict);
	ima_engine_free(eng);
	return rc ? 1 : 0;
}
