/*
 * ima-eval - measures the analysis stages, run as the real pipeline, on the
 * labeled data in ../shared/data (not shipped with Imaginator):
 *
 *   indeed-resumes/dev.jsonl  titles and companies of experiences (P/R/F1),
 *                             years of experience (absolute error), seniority
 *                             level agreement, resume skills (P/R/F1), and
 *                             the shares below (no role fit: no labels)
 *   skillspan/{dev,train}.json job-ad skills against the "knowledge" spans
 *   livecareer/dev.jsonl      per category: shares of resumes with at least
 *                             three skills, with a dated job, with any role
 *                             suggestion; top-3 role fit to the occupation
 *                             of the heading title (O*NET labels, below)
 *
 * Usage: ima-eval [-c CONF] [--data DIR] [--subset N] [--by-category]
 *                 [--no-heading] [--set indeed|skillspan|livecareer]...
 *        ima-eval [--data DIR] --label TITLE...   (prints the labels only)
 * --subset N: the first N records of each set, of each category for
 * livecareer (its file is sorted by category). Every set by default.
 * --no-heading: livecareer resumes are analysed without their first
 * non-blank line, the one the label is read from, so that the role fit
 * measures what the rest of the resume says (the title line would
 * otherwise hand the roles stage the label itself).
 * Prints a table of aggregate figures only: the resumes hold personal data.
 * Each figure has the target of the analysis' accuracy goals beside it, and
 * for livecareer the category where it is lowest.
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
 *
 * livecareer. Shares: aggregate_skills (the resume's own skills, inferred
 * ones not counted) holds at least 3; an experience has a start date;
 * role_suggestions is not empty. "Present" is 2021-01-01, fixed so that
 * runs agree (it moves years and levels, none of these figures). The label
 * of a resume is the set of O*NET-SOC codes its heading title names, read
 * from the raw O*NET files (Occupation Data, Alternate Titles with their
 * short titles), not from the project's data: eval_title_norm() and
 * eval_title_label() give the rules.
 * Headings with no label are counted and left out of the fit figures. Top-3
 * fit: one of the first three role suggestions has a code of the label
 * (exact), or the SOC minor group of one (the first four characters,
 * "29-1": SOC codes are major group, hyphen, then minor group, broad
 * occupation and detailed occupation digits). The suggestions' own
 * soc_code is the prediction.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
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

/*
 * One row of the table. target is the accuracy goal for the figure ("" for
 * none), met says whether the figure reaches it (-1: no target), worst names
 * the category with the lowest figure ("" when there are no categories).
 */
static void eval_row(const char *set, size_t n, const char *metric, const char *value,
		     const char *target, int met, const char *worst)
{
	printf("| %-24s | %4zu | %-32s | %-33s | %-26s | %-3s | %-28s |\n", set, n, metric,
	       value, target, met < 0 ? "" : met ? "yes" : "no", worst);
}

static void eval_print_prf(const char *set, size_t docs, const char *what,
			   const struct eval_prf *m, double target_f1)
{
	double p = m->tp + m->fp ? (double)m->tp / (double)(m->tp + m->fp) : 0;
	double r = m->tp + m->fn ? (double)m->tp / (double)(m->tp + m->fn) : 0;
	double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
	char value[64], target[32] = "";

	snprintf(value, sizeof(value), "P %.3f  R %.3f  F1 %.3f", p, r, f);
	if (target_f1 > 0)
		snprintf(target, sizeof(target), "F1 >= %.2f", target_f1);
	eval_row(set, docs, what, value, target, target_f1 > 0 ? f >= target_f1 : -1, "");
}

static double eval_share(size_t k, size_t n)
{
	return n > 0 ? (double)k / (double)n : 0;
}

/* A share row: "0.823 (1020 of 1240)", against target when it is above 0. */
static void eval_print_share(const char *set, const char *metric, size_t k, size_t n,
			     double target, const char *target_text, double worst_share,
			     const char *worst)
{
	char value[64];

	snprintf(value, sizeof(value), "%.3f (%zu of %zu)", eval_share(k, n), k, n);
	eval_row(set, n, metric, value, target_text,
		 target > 0 ? (worst_share >= 0 ? worst_share : eval_share(k, n)) >= target : -1,
		 worst);
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

static const msgpack_object *eval_map_get(const msgpack_object *m, const char *key)
{
	size_t n = strlen(key);

	for (uint32_t k = 0; m != NULL && m->type == MSGPACK_OBJECT_MAP && k < m->via.map.size; k++)
		if (m->via.map.ptr[k].key.type == MSGPACK_OBJECT_STR &&
		    m->via.map.ptr[k].key.via.str.size == n &&
		    memcmp(m->via.map.ptr[k].key.via.str.ptr, key, n) == 0)
			return &m->via.map.ptr[k].val;
	return NULL;
}

static uint32_t eval_array_size(const msgpack_object *o)
{
	return o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 0;
}

/*
 * What every resume should get, whatever its field: skills (at least three
 * in aggregate_skills, the resume's own skills without the inferred ones),
 * a job with a start date, and a role suggestion.
 */
struct eval_cover {
	size_t n, skills3, dated, role;
};

static void eval_cover_add(struct ima_req *req, struct eval_cover *c)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	bool dated = false;

	for (uint32_t i = 0; i < eval_array_size(exps) && !dated; i++) {
		const msgpack_object *start = eval_map_get(&exps->via.array.ptr[i], "start");

		dated = start != NULL && start->type == MSGPACK_OBJECT_STR && start->via.str.size > 0;
	}
	c->n++;
	c->skills3 += eval_array_size(ima_ctx_get(ctx, "aggregate_skills")) >= 3;
	c->dated += dated;
	c->role += eval_array_size(ima_ctx_get(ctx, "role_suggestions")) > 0;
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
	struct eval_cover cover = { 0 };
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
		eval_cover_add(req, &cover);
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
	eval_print_prf("indeed-resumes/dev", docs, "experience titles", &titles, 0.80);
	eval_print_prf("indeed-resumes/dev", docs, "experience companies", &companies, 0.80);
	eval_print_prf("indeed-resumes/dev", docs, "resume skills", &skills, 0);
	if (nyears > 0) {
		double mean = 0;

		qsort(errs, nyears, sizeof(*errs), eval_cmp_double);
		for (size_t i = 0; i < nyears; i++)
			mean += errs[i];
		char value[64];

		snprintf(value, sizeof(value), "median %.2f  mean %.2f",
			 nyears % 2 ? errs[nyears / 2] : (errs[nyears / 2 - 1] + errs[nyears / 2]) / 2,
			 mean / (double)nyears);
		eval_row("indeed-resumes/dev", nyears, "years abs. error", value, "", -1, "");
		snprintf(value, sizeof(value), "%.3f (%zu of %zu)", (double)agree / (double)nyears,
			 agree, nyears);
		eval_row("indeed-resumes/dev", nyears, "seniority agreement", value, "", -1, "");
	}
	free(errs);
	eval_print_share("indeed-resumes/dev", "resumes with >= 3 skills", cover.skills3, cover.n,
			 0.90, ">= 0.90", -1, "");
	eval_print_share("indeed-resumes/dev", "resumes with a dated job", cover.dated, cover.n,
			 0, "", -1, "");
	eval_print_share("indeed-resumes/dev", "resumes with any role", cover.role, cover.n,
			 0.95, ">= 0.95", -1, "");
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
	eval_print_prf(path, docs, "job-ad skills vs knowledge", &prf, 0.55);
	return 0;
}

/* ---- O*NET labels of heading titles ---- */

/*
 * A title as a key: ASCII lower case, "&" read as "and", anything else that
 * is not a letter or a digit (punctuation, non-ASCII bytes) a word break;
 * seniority words dropped (they say how far along, not which occupation);
 * each word singular (a final "ies" is "y", a final "s" goes unless after
 * s, u or i: "Registered Nurses" is "registered nurse", "Sales" is "sale",
 * "Business" stays). O*NET's titles and the resumes' go through the same
 * function, so the rules only need to be consistent, not good English.
 */
static const char *const eval_seniority_words[] = {
	"senior", "sr", "junior", "jr", "lead", "i", "ii", "iii", "iv", NULL
};

static void eval_word_add(char *out, size_t size, size_t *k, char *w, size_t n)
{
	w[n] = '\0';
	for (const char *const *s = eval_seniority_words; *s; s++)
		if (strcmp(w, *s) == 0)
			return;
	if (n > 3 && strcmp(w + n - 3, "ies") == 0) {
		w[n - 3] = 'y';
		n -= 2;
	} else if (n > 2 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' &&
		   w[n - 2] != 'i') {
		n--;
	}
	if (*k + n + 2 > size)
		return;
	if (*k > 0)
		out[(*k)++] = ' ';
	memcpy(out + *k, w, n);
	*k += n;
	out[*k] = '\0';
}

static size_t eval_title_norm(const char *s, size_t n, char *out, size_t size)
{
	char w[128];
	size_t k = 0, wn = 0;

	out[0] = '\0';
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : ' ';

		if (c < 0x80 && isalnum(c)) {
			if (wn + 1 < sizeof(w))
				w[wn++] = (char)tolower(c);
			continue;
		}
		if (wn > 0)
			eval_word_add(out, size, &k, w, wn);
		wn = 0;
		if (c == '&') {
			memcpy(w, "and", 3);
			eval_word_add(out, size, &k, w, 3);
		}
	}
	return k;
}

struct eval_title {
	char *key;       /* normalised title; NULL: a free slot */
	bool occupation; /* the codes are those of occupations with this title */
	uint16_t n, cap;
	uint16_t *codes; /* indexes into eval_onet.codes */
};

struct eval_onet {
	char (*codes)[16];       /* O*NET-SOC codes, "29-1141.00" */
	bool *in_catalogue;      /* per code: listed in the role catalogue */
	size_t ncodes, capcodes;
	struct eval_title *slots; /* open addressing, a power of two */
	size_t nslots, used;
};

static uint64_t eval_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct eval_title *eval_onet_slot(struct eval_onet *o, const char *key)
{
	size_t i = (size_t)eval_hash(key) & (o->nslots - 1);

	while (o->slots[i].key != NULL && strcmp(o->slots[i].key, key) != 0)
		i = (i + 1) & (o->nslots - 1);
	return &o->slots[i];
}

static const struct eval_title *eval_onet_find(struct eval_onet *o, const char *key)
{
	const struct eval_title *t;

	if (key[0] == '\0')
		return NULL;
	t = eval_onet_slot(o, key);
	return t->key != NULL ? t : NULL;
}

static void eval_onet_grow(struct eval_onet *o)
{
	struct eval_title *old = o->slots;
	size_t nold = o->nslots;

	o->nslots = nold ? nold * 2 : 1 << 16;
	o->slots = calloc(o->nslots, sizeof(*o->slots));
	if (o->slots == NULL)
		abort();
	for (size_t i = 0; i < nold; i++)
		if (old[i].key != NULL)
			*eval_onet_slot(o, old[i].key) = old[i];
	free(old);
}

static uint16_t eval_onet_code(struct eval_onet *o, const char *code)
{
	/* The files are sorted by code: the last one is the usual answer. */
	for (size_t i = o->ncodes; i > 0; i--)
		if (strcmp(o->codes[i - 1], code) == 0)
			return (uint16_t)(i - 1);
	if (o->ncodes == o->capcodes) {
		o->capcodes = o->capcodes ? o->capcodes * 2 : 1024;
		o->codes = realloc(o->codes, o->capcodes * sizeof(*o->codes));
		if (o->codes == NULL)
			abort();
	}
	snprintf(o->codes[o->ncodes], sizeof(o->codes[0]), "%s", code);
	return (uint16_t)o->ncodes++;
}

/*
 * An occupation's own title takes the key from alternate titles that
 * normalise the same: "Registered Nurse" is 29-1141.00, not also the
 * nursing specialities that list it as an alternate title.
 */
static void eval_onet_add(struct eval_onet *o, const char *title, size_t n,
			  const char *code, bool occupation)
{
	char key[512];
	struct eval_title *t;
	uint16_t id;

	if (eval_title_norm(title, n, key, sizeof(key)) == 0)
		return;
	if (o->nslots == 0 || (o->used + 1) * 2 > o->nslots)
		eval_onet_grow(o);
	id = eval_onet_code(o, code);
	t = eval_onet_slot(o, key);
	if (t->key == NULL) {
		t->key = strdup(key);
		if (t->key == NULL)
			abort();
		o->used++;
	}
	if (occupation && !t->occupation) {
		t->occupation = true;
		t->n = 0;
	} else if (!occupation && t->occupation) {
		return;
	}
	for (uint16_t i = 0; i < t->n; i++)
		if (t->codes[i] == id)
			return;
	if (t->n == t->cap) {
		t->cap = t->cap ? (uint16_t)(t->cap * 2) : 2;
		t->codes = realloc(t->codes, t->cap * sizeof(*t->codes));
		if (t->codes == NULL)
			abort();
	}
	t->codes[t->n++] = id;
}

/* Reads a tab-separated O*NET file, header skipped: calls back per row. */
static int eval_onet_read(struct eval_onet *o, const char *dir, const char *name,
			  void (*row)(struct eval_onet *, char **, size_t))
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool header = true;
	FILE *f;

	snprintf(path, sizeof(path), "%s/onet/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "ima-eval: %s: cannot open\n", path);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		char *cols[8];
		size_t ncols = 0;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (header) {
			header = false;
			continue;
		}
		for (char *p = line; ncols < 8;) {
			cols[ncols++] = p;
			p = strchr(p, '\t');
			if (p == NULL)
				break;
			*p++ = '\0';
		}
		row(o, cols, ncols);
	}
	free(line);
	fclose(f);
	return 0;
}

static void eval_onet_occupation(struct eval_onet *o, char **cols, size_t n)
{
	if (n >= 2)
		eval_onet_add(o, cols[1], strlen(cols[1]), cols[0], true);
}

static void eval_onet_alternate(struct eval_onet *o, char **cols, size_t n)
{
	if (n >= 3)
		eval_onet_add(o, cols[2], strlen(cols[2]), cols[0], false);
	if (n >= 4 && cols[3][0] != '\0')
		eval_onet_add(o, cols[3], strlen(cols[3]), cols[0], false); /* "RN", "CFO" */
}

static void eval_onet_free(struct eval_onet *o)
{
	for (size_t i = 0; i < o->nslots; i++) {
		free(o->slots[i].key);
		free(o->slots[i].codes);
	}
	free(o->slots);
	free(o->codes);
	free(o->in_catalogue);
}

/* Marks the codes that the role catalogue lists (a diagnostic only). */
static void eval_onet_catalogue(struct eval_onet *o)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	FILE *f;

	o->in_catalogue = calloc(o->ncodes + 1, sizeof(bool));
	if (o->in_catalogue == NULL)
		abort();
	if (ima_data_path("roles.tsv", path, sizeof(path)) != 0 || (f = fopen(path, "r")) == NULL)
		return;
	while (getline(&line, &cap, f) > 0) {
		size_t n = strcspn(line, "\t");

		if (line[0] == '#')
			continue;
		line[n] = '\0';
		for (size_t i = 0; i < o->ncodes; i++)
			if (strcmp(o->codes[i], line) == 0)
				o->in_catalogue[i] = true;
	}
	free(line);
	fclose(f);
}

enum eval_rule { EVAL_RULE_NONE, EVAL_RULE_TITLE, EVAL_RULE_PART, EVAL_RULE_WITHIN,
		 EVAL_RULE_PART_WITHIN };

/* The parts of a heading: "Chef, Company Name" is "Chef" and "Company Name". */
static size_t eval_title_parts(const char *s, size_t n, size_t (*parts)[2], size_t max)
{
	static const char *const seps[] = { " - ", "\xe2\x80\x93", "\xe2\x80\x94",
					    "\xef\xbc\x8d", " at ", NULL };
	size_t np = 0, start = 0;

	for (size_t i = 0; i <= n && np < max; i++) {
		size_t skip = 0;

		if (i == n || strchr(",/|()[]:;", s[i]) != NULL) {
			skip = 1;
		} else {
			for (const char *const *sep = seps; *sep && skip == 0; sep++)
				if (n - i >= strlen(*sep) && strncasecmp(s + i, *sep, strlen(*sep)) == 0)
					skip = strlen(*sep);
		}
		if (skip == 0)
			continue;
		if (i > start) {
			parts[np][0] = start;
			parts[np++][1] = i - start;
		}
		start = i + skip;
		i = start - 1;
	}
	return np;
}

/*
 * The longest run of whole words of key that is an O*NET title and holds at
 * least half of key's words; of runs equally long, the last, because the
 * head of an English job title comes last ("Executive Chef" is a chef).
 * The whole key is not tried (that is the exact match).
 */
static const struct eval_title *eval_title_within(struct eval_onet *o, const char *key)
{
	size_t starts[64], ends[64], nw = 0;
	char phrase[512];

	for (size_t i = 0; key[i] && nw < 64;) {
		starts[nw] = i;
		while (key[i] && key[i] != ' ')
			i++;
		ends[nw++] = i;
		if (key[i] == ' ')
			i++;
	}
	for (size_t len = nw - 1; len >= 1 && len * 2 >= nw; len--)
		for (size_t i = nw - len + 1; i-- > 0;) {
			size_t a = starts[i], b = ends[i + len - 1];
			const struct eval_title *t;

			if (b - a >= sizeof(phrase))
				continue;
			memcpy(phrase, key + a, b - a);
			phrase[b - a] = '\0';
			if ((t = eval_onet_find(o, phrase)) != NULL)
				return t;
		}
	return NULL;
}

/*
 * The O*NET occupations a heading title names, by the first rule that gives
 * any: the whole title; a part of it (split at , / | ( ) [ ] : ; " - ",
 * dashes and " at "); an O*NET title within the whole title; one within a
 * part (both as eval_title_within says).
 */
static const struct eval_title *eval_title_label(struct eval_onet *o, const char *s,
						 enum eval_rule *rule)
{
	size_t parts[16][2], np = eval_title_parts(s, strlen(s), parts, 16);
	char key[512], part[512];
	const struct eval_title *t;

	*rule = EVAL_RULE_NONE;
	if (eval_title_norm(s, strlen(s), key, sizeof(key)) == 0)
		return NULL;
	if ((t = eval_onet_find(o, key)) != NULL) {
		*rule = EVAL_RULE_TITLE;
		return t;
	}
	for (size_t i = 0; i < np; i++) {
		eval_title_norm(s + parts[i][0], parts[i][1], part, sizeof(part));
		if ((t = eval_onet_find(o, part)) != NULL) {
			*rule = EVAL_RULE_PART;
			return t;
		}
	}
	if ((t = eval_title_within(o, key)) != NULL) {
		*rule = EVAL_RULE_WITHIN;
		return t;
	}
	for (size_t i = 0; i < np; i++) {
		eval_title_norm(s + parts[i][0], parts[i][1], part, sizeof(part));
		if (part[0] != '\0' && strcmp(part, key) != 0 &&
		    (t = eval_title_within(o, part)) != NULL) {
			*rule = EVAL_RULE_PART_WITHIN;
			return t;
		}
	}
	return NULL;
}

/* ---- livecareer resumes ---- */

#define EVAL_MAX_CATS 64

struct eval_cat {
	char name[40];
	struct eval_cover cover;
	size_t labelled, exact, minor, ambiguous, reachable;
	size_t by_rule[5];
};

static struct eval_cat *eval_cat_get(struct eval_cat *cats, size_t *ncats, const char *name)
{
	for (size_t i = 0; i < *ncats; i++)
		if (strcmp(cats[i].name, name) == 0)
			return &cats[i];
	if (*ncats == EVAL_MAX_CATS)
		return NULL;
	memset(&cats[*ncats], 0, sizeof(cats[0]));
	snprintf(cats[*ncats].name, sizeof(cats[0].name), "%s", name);
	return &cats[(*ncats)++];
}

/* Top-3 fit of the role suggestions to the label: the same O*NET-SOC code,
 * the same SOC minor group (the first four characters, "29-1"). */
static void eval_fit(struct eval_onet *o, struct ima_req *req, const struct eval_title *label,
		     bool *exact, bool *minor)
{
	const msgpack_object *roles = ima_ctx_get(ima_req_ctx(req), "role_suggestions");

	*exact = *minor = false;
	for (uint32_t i = 0; i < eval_array_size(roles) && i < 3; i++) {
		const msgpack_object *code = eval_map_get(&roles->via.array.ptr[i], "soc_code");

		if (code == NULL || code->type != MSGPACK_OBJECT_STR || code->via.str.size < 4)
			continue;
		for (uint16_t k = 0; k < label->n; k++) {
			const char *want = o->codes[label->codes[k]];

			if (strlen(want) == code->via.str.size &&
			    memcmp(want, code->via.str.ptr, code->via.str.size) == 0)
				*exact = true;
			if (memcmp(want, code->via.str.ptr, 4) == 0)
				*minor = true;
		}
	}
}

static void eval_cat_add(struct eval_cat *sum, const struct eval_cat *c)
{
	sum->cover.n += c->cover.n;
	sum->cover.skills3 += c->cover.skills3;
	sum->cover.dated += c->cover.dated;
	sum->cover.role += c->cover.role;
	sum->labelled += c->labelled;
	sum->exact += c->exact;
	sum->minor += c->minor;
	sum->ambiguous += c->ambiguous;
	sum->reachable += c->reachable;
	for (size_t i = 0; i < 5; i++)
		sum->by_rule[i] += c->by_rule[i];
}

static int eval_cat_cmp(const void *a, const void *b)
{
	return strcmp(((const struct eval_cat *)a)->name, ((const struct eval_cat *)b)->name);
}

/*
 * The category with the lowest share k/n, first by name on ties, among those
 * with at least EVAL_WORST_MIN_N in n (a share of 2 says little), or among
 * all with n > 0 when none has that many (a --subset run).
 */
#define EVAL_WORST_MIN_N 10

static double eval_worst(const struct eval_cat *cats, size_t ncats, size_t off_k, size_t off_n,
			 char *text, size_t size)
{
	double worst = -1;
	size_t wi = 0;

	for (size_t min = EVAL_WORST_MIN_N; worst < 0 && min >= 1; min = min > 1 ? 1 : 0)
		for (size_t i = 0; i < ncats; i++) {
			size_t k = *(const size_t *)((const char *)&cats[i] + off_k);
			size_t n = *(const size_t *)((const char *)&cats[i] + off_n);

			if (n >= min && (worst < 0 || eval_share(k, n) < worst)) {
				worst = eval_share(k, n);
				wi = i;
			}
		}
	if (worst < 0)
		snprintf(text, size, "-");
	else
		snprintf(text, size, "%s %.3f (of %zu)", cats[wi].name, worst,
			 *(const size_t *)((const char *)&cats[wi] + off_n));
	return worst;
}

#define EVAL_CAT(field) offsetof(struct eval_cat, field)

static void eval_livecareer_print(struct eval_cat *cats, size_t ncats, bool by_category)
{
	static const char set[] = "livecareer/dev";
	struct eval_cat all = { .name = "all" };
	char worst[64], value[64];
	double w;

	qsort(cats, ncats, sizeof(cats[0]), eval_cat_cmp);
	for (size_t i = 0; i < ncats; i++)
		eval_cat_add(&all, &cats[i]);
	w = eval_worst(cats, ncats, EVAL_CAT(cover.skills3), EVAL_CAT(cover.n), worst, sizeof(worst));
	eval_print_share(set, "resumes with >= 3 skills", all.cover.skills3, all.cover.n, 0.90,
			 ">= 0.90 in every category", w, worst);
	eval_worst(cats, ncats, EVAL_CAT(cover.dated), EVAL_CAT(cover.n), worst, sizeof(worst));
	eval_print_share(set, "resumes with a dated job", all.cover.dated, all.cover.n, 0, "", -1,
			 worst);
	eval_worst(cats, ncats, EVAL_CAT(cover.role), EVAL_CAT(cover.n), worst, sizeof(worst));
	eval_print_share(set, "resumes with any role", all.cover.role, all.cover.n, 0.95,
			 ">= 0.95", -1, worst);
	eval_worst(cats, ncats, EVAL_CAT(labelled), EVAL_CAT(cover.n), worst, sizeof(worst));
	eval_print_share(set, "heading title labelled", all.labelled, all.cover.n, 0, "", -1,
			 worst);
	snprintf(value, sizeof(value), "%zu / %zu / %zu / %zu", all.by_rule[EVAL_RULE_TITLE],
		 all.by_rule[EVAL_RULE_PART], all.by_rule[EVAL_RULE_WITHIN],
		 all.by_rule[EVAL_RULE_PART_WITHIN]);
	eval_row(set, all.labelled, "label by title/part/within/both", value, "", -1, "");
	eval_print_share(set, "label of several occupations", all.ambiguous, all.labelled, 0, "",
			 -1, "");
	eval_print_share(set, "label in the role catalogue", all.reachable, all.labelled, 0, "",
			 -1, "");
	eval_worst(cats, ncats, EVAL_CAT(exact), EVAL_CAT(labelled), worst, sizeof(worst));
	eval_print_share(set, "top-3 role fit, exact code", all.exact, all.labelled, 0.50,
			 ">= 0.50", -1, worst);
	eval_worst(cats, ncats, EVAL_CAT(minor), EVAL_CAT(labelled), worst, sizeof(worst));
	eval_print_share(set, "top-3 role fit, minor group", all.minor, all.labelled, 0.75,
			 ">= 0.75", -1, worst);
	if (!by_category)
		return;
	printf("\n| %-24s | %4s | %-11s | %-10s | %-8s | %-14s | %-11s | %-11s |\n", "category",
	       "n", ">= 3 skills", "dated job", "any role", "labelled", "top-3 exact",
	       "top-3 minor");
	printf("|--------------------------|------|-------------|------------|----------|"
	       "----------------|-------------|-------------|\n");
	for (size_t i = 0; i <= ncats; i++) {
		const struct eval_cat *c = i < ncats ? &cats[i] : &all;
		char labelled[32];

		snprintf(labelled, sizeof(labelled), "%zu (%.3f)", c->labelled,
			 eval_share(c->labelled, c->cover.n));
		printf("| %-24s | %4zu | %-11.3f | %-10.3f | %-8.3f | %-14s | %-11.3f | %-11.3f |\n",
		       c->name, c->cover.n, eval_share(c->cover.skills3, c->cover.n),
		       eval_share(c->cover.dated, c->cover.n), eval_share(c->cover.role, c->cover.n),
		       labelled, eval_share(c->exact, c->labelled), eval_share(c->minor, c->labelled));
	}
}

/* Prints the label of each title: the rule that gave it and its codes. */
static int eval_label_titles(const char *dir, char **titles, size_t n)
{
	static const char *const rules[] = { "none", "title", "part", "within", "both" };
	struct eval_onet onet = { 0 };

	if (eval_onet_read(&onet, dir, "Occupation Data.txt", eval_onet_occupation) != 0 ||
	    eval_onet_read(&onet, dir, "Alternate Titles.txt", eval_onet_alternate) != 0) {
		eval_onet_free(&onet);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		enum eval_rule rule;
		const struct eval_title *t = eval_title_label(&onet, titles[i], &rule);

		printf("%s:", rules[rule]);
		for (uint16_t k = 0; t != NULL && k < t->n; k++)
			printf(" %s", onet.codes[t->codes[k]]);
		printf("\n");
	}
	eval_onet_free(&onet);
	return 0;
}

/*
 * The resume without its first non-blank line (the heading title), the
 * blank lines before it and its line break.
 */
static const char *eval_drop_heading(const char *text)
{
	const char *p = text;

	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	p += strcspn(p, "\n");
	return *p == '\n' ? p + 1 : p;
}

static int eval_livecareer(struct ima_engine *eng, const char *dir, long subset, bool by_category,
			   bool no_heading)
{
	struct eval_onet onet = { 0 };
	struct eval_cat *cats = calloc(EVAL_MAX_CATS, sizeof(*cats));
	size_t ncats = 0, cap = 0;
	char path[4096], *line = NULL;
	FILE *f;

	if (cats == NULL)
		abort();
	if (eval_onet_read(&onet, dir, "Occupation Data.txt", eval_onet_occupation) != 0 ||
	    eval_onet_read(&onet, dir, "Alternate Titles.txt", eval_onet_alternate) != 0) {
		eval_onet_free(&onet);
		free(cats);
		return -1;
	}
	eval_onet_catalogue(&onet);
	snprintf(path, sizeof(path), "%s/livecareer/dev.jsonl", dir);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "ima-eval: %s: cannot open\n", path);
		eval_onet_free(&onet);
		free(cats);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		json_t *rec = json_loads(line, 0, NULL), *request;
		const char *cat = json_string_value(json_object_get(rec, "category"));
		const char *text = json_string_value(json_object_get(rec, "resume_text"));
		const char *heading = json_string_value(json_object_get(rec, "heading_title"));
		const struct eval_title *label;
		struct eval_cat *c;
		enum eval_rule rule;
		struct ima_req *req;

		if (rec == NULL || cat == NULL || text == NULL ||
		    (c = eval_cat_get(cats, &ncats, cat)) == NULL ||
		    (subset > 0 && (long)c->cover.n >= subset)) {
			json_decref(rec);
			continue;
		}
		request = json_pack("{s:s, s:s}", "resume_text",
				    no_heading ? eval_drop_heading(text) : text,
				    "reference_date", "2021-01-01");
		req = eval_run(eng, request);
		eval_cover_add(req, &c->cover);
		label = eval_title_label(&onet, heading ? heading : "", &rule);
		if (label != NULL) {
			bool exact, minor, reachable = false;

			eval_fit(&onet, req, label, &exact, &minor);
			for (uint16_t k = 0; k < label->n; k++)
				reachable |= onet.in_catalogue[label->codes[k]];
			c->labelled++;
			c->exact += exact;
			c->minor += minor;
			c->ambiguous += label->n > 1;
			c->reachable += reachable;
			c->by_rule[rule]++;
		}
		ima_req_free(req);
		json_decref(request);
		json_decref(rec);
	}
	free(line);
	fclose(f);
	eval_livecareer_print(cats, ncats, by_category);
	eval_onet_free(&onet);
	free(cats);
	return 0;
}

enum { EVAL_INDEED = 1, EVAL_SKILLSPAN = 2, EVAL_LIVECAREER = 4 };

static const char eval_usage[] =
	"usage: ima-eval [-c CONF] [--data DIR] [--subset N] [--by-category]\n"
	"                [--no-heading] [--set indeed|skillspan|livecareer]...\n"
	"       ima-eval [--data DIR] --label TITLE...\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'd' },
		{ "subset", required_argument, NULL, 's' },
		{ "set", required_argument, NULL, 'S' },
		{ "by-category", no_argument, NULL, 'B' },
		{ "label", no_argument, NULL, 'L' },
		{ "no-heading", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf = NULL, *dir = getenv("IMAGINATOR_EVAL_DATA");
	long subset = 0;
	unsigned sets = 0;
	bool by_category = false, label = false, no_heading = false;
	struct ima_engine *eng;
	struct ima_error err;
	char path[4096], msg[256];
	int c, rc = 0;
	clock_t t0 = clock();
	struct timespec w0, w1;

	clock_gettime(CLOCK_MONOTONIC, &w0);
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': dir = optarg; break;
		case 's': subset = atol(optarg); break;
		case 'B': by_category = true; break;
		case 'L': label = true; break;
		case 'H': no_heading = true; break;
		case 'S':
			if (strcmp(optarg, "indeed") == 0)
				sets |= EVAL_INDEED;
			else if (strcmp(optarg, "skillspan") == 0)
				sets |= EVAL_SKILLSPAN;
			else if (strcmp(optarg, "livecareer") == 0)
				sets |= EVAL_LIVECAREER;
			else {
				fprintf(stderr, "ima-eval: unknown set \"%s\"\n%s", optarg, eval_usage);
				return 2;
			}
			break;
		default:
			fputs(eval_usage, stderr);
			return 2;
		}
	}
	if (dir == NULL)
		dir = "../shared/data";
	if (label)
		return eval_label_titles(dir, argv + optind, (size_t)(argc - optind));
	if (optind < argc) {
		fputs(eval_usage, stderr);
		return 2;
	}
	if (sets == 0)
		sets = EVAL_INDEED | EVAL_SKILLSPAN | EVAL_LIVECAREER;
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
	printf("| %-24s | %4s | %-32s | %-33s | %-26s | %-3s | %-28s |\n", "data", "n", "metric",
	       "value", "target", "met", "worst category");
	printf("|--------------------------|------|----------------------------------|"
	       "-----------------------------------|----------------------------|-----|"
	       "------------------------------|\n");
	if (sets & EVAL_INDEED)
		rc |= eval_indeed(eng, dir, subset);
	if (sets & EVAL_SKILLSPAN) {
		rc |= eval_skillspan(eng, dir, "dev", subset);
		rc |= eval_skillspan(eng, dir, "train", subset);
	}
	/* Last: its per-category table comes after the main one. */
	if (sets & EVAL_LIVECAREER)
		rc |= eval_livecareer(eng, dir, subset, by_category, no_heading);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	printf("\n%s, %.1f s CPU, %.1f s wall\n", ima_engine_source(eng),
	       (double)(clock() - t0) / CLOCKS_PER_SEC,
	       (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9);
	skillmatch_free(eval_dict);
	ima_engine_free(eng);
	return rc ? 1 : 0;
}
