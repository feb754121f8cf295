/*
 * roles - roles the candidate fits: O*NET occupations named by the
 * candidate's own titles (the resume's title line and the jobs' titles,
 * through O*NET's alternate titles, data/titles.tsv) and occupations whose
 * typical technologies the candidate has (the role catalogue,
 * data/roles.tsv).
 *
 * Skill evidence: 0.75 x the share of a role's core technologies (the first
 * core_skills of its list, hot technologies first) the candidate has with at
 * least medium confidence, each weighted by how specific it is to few roles,
 * plus 0.25 x the share of its title words found in the candidate's recent
 * job titles. Title evidence: each title that names the occupation, weighted
 * by where it stands (title line, then jobs from the most recent), by how
 * much of it the known title covers and by how many occupations share that
 * title, combined as independent evidence; occupations closely related to a
 * named one get a share of it. The score joins both the same way, so either
 * alone suggests a role and both together rank it first. Each suggestion
 * says which evidence it rests on, carries the seniority level from the
 * seniority stage and the full title ("Senior Data Scientist").
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "roles.h"
#include "skillmatch.h"
#include "skillmatch_data.h"

/* Most titles of the candidate looked at: the title line, five jobs and
 * four other lines that are titles. */
#define ROLES_SOURCES 10
#define ROLES_JOBS 5

struct roles_state {
	/* shared data (ima_data_acquire) */
	const struct skillmatch_dict *dict;
	const struct skillmatch_roles *roles;
	const struct skillmatch_titles *occupations;
	/* Candidates: every occupation, then catalogue roles that are not one
	 * (a catalogue from another generator run). */
	size_t ncand;
	int32_t *cand_role; /* per candidate: catalogue role or -1 */
	int32_t *cand_occ;  /* per candidate: occupation or -1 */
	int32_t *role_cand; /* per catalogue role: its candidate */
	char **titles; /* singular display titles, one per candidate */
	float *weight; /* per skill id: log(1 + roles / roles listing it) */
	float *role_total; /* per role: summed weight of its core, padded */
	/* skill id -> the roles listing it in their core (an inverted index,
	 * so a request touches only the roles sharing a skill with it). */
	uint32_t *post_start; /* nskills + 1 offsets into post_roles */
	uint32_t *post_roles;
	char **title_words; /* per candidate: lower-case title words, "a\0b\0\0" */
	int64_t max_roles;
	int64_t core_skills;
	int64_t min_listed;
	double min_score;
	double title_weight;
	double related_share;
};

static const struct ima_option roles_options[] = {
	{ "dictionary", IMA_OPT_STRING, "skills.tsv", "skills dictionary", 0 },
	{ "catalogue", IMA_OPT_STRING, "roles.tsv", "role catalogue", 0 },
	{ "max_roles", IMA_OPT_INT, "5", "most roles suggested", 0 },
	{ "core_skills", IMA_OPT_INT, "40",
	  "how many of a role's listed technologies (hot first) count as its core", 0 },
	{ "min_listed", IMA_OPT_INT, "10",
	  "roles listing fewer technologies are scored as if they listed this many", 0 },
	{ "min_score", IMA_OPT_DOUBLE, "0.05", "lowest score suggested", 0 },
	{ "titles", IMA_OPT_STRING, "titles.tsv",
	  "job titles and the O*NET occupations they name (\"\" turns title evidence off)", 0 },
	{ "occupations", IMA_OPT_STRING, "occupations.tsv", "O*NET occupations", 0 },
	{ "title_weight", IMA_OPT_DOUBLE, "0.7",
	  "score of an occupation that the candidate's titles name with full certainty (0-1)", 0 },
	{ "related_share", IMA_OPT_DOUBLE, "0.3",
	  "share of a named occupation's title evidence given to its closest related occupations (0-1)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* "Software Developers" -> "Software Developer"; "Engineers/Architects" ->
 * "Engineer/Architect"; ", All Other" dropped. */
static char *roles_singular(const char *title)
{
	size_t n = strlen(title);
	const char *other = strstr(title, ", All Other");
	char *out, *w;

	if (other != NULL)
		n = (size_t)(other - title);
	out = ima_malloc(n + 1);
	if (out == NULL)
		return NULL;
	w = out;
	for (size_t i = 0; i < n; i++) {
		bool word_end = i + 1 == n || title[i + 1] == '/' || title[i + 1] == ',';

		if (word_end && title[i] == 's' && i >= 2) {
			if (title[i - 1] == 'e' && title[i - 2] == 'i') {
				w -= 2; /* "ies" -> "y" */
				*w++ = 'y';
				continue;
			}
			if (title[i - 1] != 's' && title[i - 1] != 'u' &&
			    title[i - 1] != 'i')
				continue;
		}
		*w++ = title[i];
	}
	*w = '\0';
	return out;
}

/*
 * The words of a title that say what the job is: lower-cased, a plural 's'
 * dropped, three letters or more, "and" and "other" skipped. Written to out
 * as "word\0word\0\0"; returns the number of words.
 */
static size_t roles_title_split(const char *title, size_t len, char *out,
				size_t size)
{
	size_t used = 0, words = 0;

	for (size_t p = 0; p < len;) {
		size_t s, n;

		while (p < len && !anautil_wordch((unsigned char)title[p]))
			p++;
		s = p;
		while (p < len && anautil_wordch((unsigned char)title[p]))
			p++;
		n = p - s;
		if (n > 1 && (title[s + n - 1] == 's' || title[s + n - 1] == 'S'))
			n--;
		if (n < 3 || anautil_eq_ci(title + s, n, "and") ||
		    anautil_eq_ci(title + s, n, "other") || used + n + 2 > size)
			continue;
		for (size_t k = 0; k < n; k++) {
			char c = title[s + k];

			out[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		out[used++] = '\0';
		words++;
	}
	out[used] = '\0';
	return words;
}

/* Share of the role's title words found among the candidate's. */
static double roles_title_fit(const char *role_words, const char *cand_words)
{
	size_t words = 0, found = 0;

	for (const char *w = role_words; *w; w += strlen(w) + 1) {
		words++;
		for (const char *c = cand_words; *c; c += strlen(c) + 1)
			if (strcmp(w, c) == 0) {
				found++;
				break;
			}
	}
	return words ? (double)found / (double)words : 0;
}

static void roles_fini(void *state)
{
	struct roles_state *st = state;

	if (st->titles != NULL)
		for (size_t i = 0; i < st->ncand; i++)
			ima_free(st->titles[i]);
	ima_free(st->titles);
	if (st->title_words != NULL)
		for (size_t i = 0; i < st->ncand; i++)
			ima_free(st->title_words[i]);
	ima_free(st->title_words);
	ima_free(st->cand_role);
	ima_free(st->cand_occ);
	ima_free(st->role_cand);
	ima_data_release(st->occupations);
	ima_free(st->weight);
	ima_free(st->role_total);
	ima_free(st->post_start);
	ima_free(st->post_roles);
	ima_data_release(st->roles);
	ima_data_release(st->dict);
	ima_free(st);
}

/*
 * A skill that most roles list (SQL, Excel) says little about which role
 * fits; one that few list (Kafka, Redshift) says a lot. Weighting matches by
 * inverse role frequency keeps generic skills from ranking exotic roles
 * first.
 */
static int roles_weights(struct roles_state *st)
{
	unsigned nskills = skillmatch_count(st->dict);
	size_t nroles = skillmatch_roles_count(st->roles), npost = 0;
	unsigned *df = ima_calloc(nskills + 1, sizeof(*df));

	st->weight = ima_calloc(nskills + 1, sizeof(*st->weight));
	st->role_total = ima_calloc(nroles + 1, sizeof(*st->role_total));
	st->post_start = ima_calloc(nskills + 2, sizeof(*st->post_start));
	if (df == NULL || st->weight == NULL || st->role_total == NULL ||
	    st->post_start == NULL) {
		ima_free(df);
		return -1;
	}
	for (size_t r = 0; r < nroles; r++) {
		const struct skillmatch_role *role = skillmatch_roles_get(st->roles, r);
		size_t core = role->nskills < (size_t)st->core_skills ? role->nskills
								       : (size_t)st->core_skills;

		for (size_t k = 0; k < role->nskills; k++)
			if (role->skill_ids[k] < nskills)
				df[role->skill_ids[k]]++;
		for (size_t k = 0; k < core; k++)
			if (role->skill_ids[k] < nskills) {
				st->post_start[role->skill_ids[k] + 1]++;
				npost++;
			}
	}
	for (unsigned i = 0; i < nskills; i++) {
		st->weight[i] = (float)log(1.0 + (double)nroles / (df[i] ? df[i] : 1));
		st->post_start[i + 1] += st->post_start[i];
	}
	ima_free(df);
	st->post_roles = ima_calloc(npost + 1, sizeof(*st->post_roles));
	if (st->post_roles == NULL)
		return -1;
	/* Fill the postings, reusing df-like cursors from post_start. */
	{
		uint32_t *fill = ima_calloc(nskills + 1, sizeof(*fill));

		if (fill == NULL)
			return -1;
		for (size_t r = 0; r < nroles; r++) {
			const struct skillmatch_role *role = skillmatch_roles_get(st->roles, r);
			size_t core = role->nskills < (size_t)st->core_skills ? role->nskills
									       : (size_t)st->core_skills;
			double total = 0;

			for (size_t k = 0; k < core; k++) {
				unsigned id = role->skill_ids[k];

				if (id >= nskills)
					continue;
				total += st->weight[id];
				st->post_roles[st->post_start[id] + fill[id]++] = (uint32_t)r;
			}
			/* A role that lists few technologies would fit anyone with
			 * one of them: pad short lists to min_listed entries of
			 * average weight. */
			if (core > 0 && core < (size_t)st->min_listed)
				total += total / (double)core * (double)((size_t)st->min_listed - core);
			st->role_total[r] = (float)total;
		}
		ima_free(fill);
	}
	return 0;
}

/*
 * Candidates: one per occupation, and one per catalogue role without an
 * occupation; each with its display title and title words.
 */
static int roles_candidates(struct roles_state *st)
{
	size_t nroles = skillmatch_roles_count(st->roles);
	size_t nocc = st->occupations ? skillmatch_occupations_count(st->occupations) : 0;
	size_t n = nocc;

	st->role_cand = ima_calloc(nroles + 1, sizeof(*st->role_cand));
	st->cand_role = ima_calloc(nocc + nroles + 1, sizeof(*st->cand_role));
	st->cand_occ = ima_calloc(nocc + nroles + 1, sizeof(*st->cand_occ));
	if (st->role_cand == NULL || st->cand_role == NULL || st->cand_occ == NULL)
		return -1;
	for (size_t c = 0; c < nocc; c++) {
		st->cand_role[c] = -1;
		st->cand_occ[c] = (int32_t)c;
	}
	for (size_t r = 0; r < nroles; r++) {
		const char *code = skillmatch_roles_get(st->roles, r)->soc_code;
		int o = st->occupations ? skillmatch_occupation_find(st->occupations, code) : -1;

		if (o < 0) {
			st->cand_occ[n] = -1;
			o = (int)n++;
		}
		st->cand_role[o] = (int32_t)r;
		st->role_cand[r] = o;
	}
	st->ncand = n;
	st->titles = ima_calloc(n + 1, sizeof(char *));
	st->title_words = ima_calloc(n + 1, sizeof(char *));
	if (st->titles == NULL || st->title_words == NULL)
		return -1;
	for (size_t c = 0; c < n; c++) {
		const char *title = st->cand_role[c] >= 0
			? skillmatch_roles_get(st->roles, (size_t)st->cand_role[c])->title
			: skillmatch_occupation_get(st->occupations, (size_t)st->cand_occ[c])->title;
		char buf[512];
		size_t len;

		st->titles[c] = roles_singular(title);
		if (st->titles[c] == NULL)
			return -1;
		roles_title_split(st->titles[c], strlen(st->titles[c]), buf, sizeof(buf));
		for (len = 0; buf[len] != '\0'; len += strlen(buf + len) + 1)
			;
		st->title_words[c] = ima_malloc(len + 1);
		if (st->title_words[c] == NULL)
			return -1;
		memcpy(st->title_words[c], buf, len + 1);
	}
	return 0;
}

static int roles_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct roles_state *st = ima_calloc(1, sizeof(*st));
	char path[4096], occ_path[4096], msg[256];

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->max_roles = ima_conf_int(conf, "max_roles");
	st->core_skills = ima_conf_int(conf, "core_skills");
	st->min_listed = ima_conf_int(conf, "min_listed");
	st->min_score = ima_conf_double(conf, "min_score");
	st->title_weight = ima_conf_double(conf, "title_weight");
	st->related_share = ima_conf_double(conf, "related_share");
	if (st->max_roles < 1 || st->core_skills < 1 || st->min_listed < 1) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "", "max_roles and core_skills must be at least 1");
	}
	if (!(st->title_weight >= 0 && st->title_weight <= 1) ||
	    !(st->related_share >= 0 && st->related_share <= 1)) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "title_weight",
				     "title_weight and related_share must be within 0-1");
	}
	if (ima_data_path(ima_conf_string(conf, "dictionary"), path, sizeof(path)) != 0 ||
	    (st->dict = skillmatch_dict_acquire(path, msg, sizeof(msg))) == NULL) {
		roles_fini(st);
		return ima_error_set(err, 500, "config", "dictionary", "cannot load %s", path);
	}
	if (ima_data_path(ima_conf_string(conf, "catalogue"), path, sizeof(path)) != 0 ||
	    (st->roles = skillmatch_roles_acquire(path, st->dict, msg, sizeof(msg))) == NULL) {
		roles_fini(st);
		return ima_error_set(err, 500, "config", "catalogue", "cannot load %s", path);
	}
	/* Either file missing names the file; a format error its line. */
	snprintf(msg, sizeof(msg), "%s", ima_conf_string(conf, "titles"));
	if (ima_conf_string(conf, "titles")[0] != '\0' &&
	    (ima_data_path(ima_conf_string(conf, "titles"), path, sizeof(path)) != 0 ||
	     ima_data_path(ima_conf_string(conf, "occupations"), occ_path, sizeof(occ_path)) != 0 ||
	     (st->occupations = skillmatch_titles_acquire(path, occ_path, msg, sizeof(msg))) == NULL)) {
		roles_fini(st);
		return ima_error_set(err, 500, "config", "titles", "cannot load %s", msg);
	}
	if (roles_candidates(st) != 0 || roles_weights(st) != 0) {
		roles_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	*state = st;
	return 0;
}

struct roles_scored {
	size_t cand;
	double score;
};

static int roles_scored_cmp(const void *a, const void *b)
{
	const struct roles_scored *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->cand < y->cand ? -1 : x->cand > y->cand;
}

static const char *const roles_prefix[4] = { "Junior ", "", "Senior ", "Principal " };

/* Title evidence of one request, per candidate. */
struct roles_titles {
	const char *text[ROLES_SOURCES]; /* the candidate's titles */
	size_t len[ROLES_SOURCES];
	size_t n;
	float *named;   /* evidence from titles that name the occupation */
	float *related; /* evidence passed on from related occupations */
	uint16_t *sources; /* bit i: text[i] names the occupation */
};

/* Joins evidence e (0-1) into *acc as independent evidence. */
static void roles_join(float *acc, double e)
{
	*acc = (float)(1.0 - (1.0 - *acc) * (1.0 - e));
}

/*
 * How many SOC minor groups ("25-2", the first four characters of the code)
 * the occupations of a match fall in: one pass, a bit per group.
 */
static size_t roles_minor_groups(const struct roles_state *st,
				 const struct skillmatch_title_match *m)
{
	unsigned char seen[1000 / 8 + 1];
	size_t groups = 0;

	memset(seen, 0, sizeof(seen));
	for (size_t o = 0; o < m->noccupations; o++) {
		const char *c = skillmatch_occupation_get(st->occupations, m->occupations[o])->soc_code;
		unsigned g;

		if (c[0] < '0' || c[0] > '9' || c[1] < '0' || c[1] > '9' || c[2] != '-' ||
		    c[3] < '0' || c[3] > '9') {
			groups++;
			continue;
		}
		g = (unsigned)((c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[3] - '0'));
		if (!(seen[g / 8] & (1u << (g % 8)))) {
			seen[g / 8] |= (unsigned char)(1u << (g % 8));
			groups++;
		}
	}
	return groups;
}

/*
 * Weighs what each of the candidate's titles names: the title line counts
 * most, then jobs from the most recent; a known title covering part of a
 * title counts less; a title shared by many occupations says less about
 * each, mostly when they lie in different fields: "Teacher" names 24
 * occupations, nearly all teachers of one SOC minor group or another, so it
 * still says the candidate teaches, where "Supervisor" leaves the field
 * open.
 */
static void roles_title_evidence(const struct roles_state *st, struct roles_titles *rt)
{
	static const double place[ROLES_SOURCES] = { 1.0, 0.7, 0.5, 0.4, 0.3, 0.25,
						      0.5, 0.5, 0.5, 0.5 };
	size_t nocc = skillmatch_occupations_count(st->occupations);

	for (size_t i = 0; i < rt->n; i++) {
		struct skillmatch_title_match m[4];
		size_t nm = skillmatch_titles_match(st->occupations, rt->text[i], rt->len[i], m, 4);

		for (size_t k = 0; k < nm; k++) {
			double cover = (double)m[k].words / (double)m[k].part_words;
			size_t groups = roles_minor_groups(st, &m[k]);
			double e = place[i] * (0.4 + 0.6 * cover) /
				   ((1.0 + 0.25 * (double)(groups - 1)) *
				    (1.0 + 0.05 * (double)(m[k].noccupations - groups)));

			if (3 * m[k].words < m[k].part_words)
				continue;
			for (size_t o = 0; o < m[k].noccupations; o++) {
				roles_join(&rt->named[m[k].occupations[o]], e);
				rt->sources[m[k].occupations[o]] |= (uint16_t)(1u << i);
			}
		}
	}
	for (size_t o = 0; o < nocc && st->related_share > 0; o++) {
		const struct skillmatch_occupation *occ;

		if (rt->named[o] == 0)
			continue;
		occ = skillmatch_occupation_get(st->occupations, o);
		for (size_t k = 0; k < occ->nrelated && k < 3; k++)
			roles_join(&rt->related[occ->related[k]],
				   st->related_share * rt->named[o] * (1.0 - 0.2 * (double)k));
	}
}

/* Is s[0..n) inside one of the first k titles gathered? */
static bool roles_title_seen(const struct roles_titles *rt, size_t k, const char *s,
			     size_t n)
{
	for (size_t i = 0; i < k; i++)
		if (rt->len[i] >= n && memmem(rt->text[i], rt->len[i], s, n) != NULL)
			return true;
	return false;
}

/*
 * Other lines that start with a whole known title ("Pastry Cook , 05/2014
 * to Current Company Name"): jobs the experience stage did not take apart
 * still say what the candidate did. Lines of at most 120 bytes, so the walk
 * stays linear in the resume.
 */
static void roles_title_lines(const struct roles_state *st, const char *text, size_t len,
			      struct roles_titles *rt, size_t jobs_end)
{
	size_t pos = 0;

	while (pos < len && rt->n < ROLES_SOURCES) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, a = pos;
		struct skillmatch_title_match m[1];

		while (a < end && !anautil_wordch((unsigned char)text[a]) && text[a] != '&')
			a++;
		if (end - a > 0 && end - a <= 120 &&
		    skillmatch_titles_whole(st->occupations, text + a, end - a, m) &&
		    m[0].start == 0 &&
		    !roles_title_seen(rt, jobs_end, text + a, m[0].len)) {
			rt->text[rt->n] = text + a;
			rt->len[rt->n++] = m[0].len;
		}
		pos = end + 1;
	}
}

/* The title line of the resume, the titles of its first jobs and other
 * lines that are titles. */
static void roles_gather_titles(struct ima_ctx *ctx, const struct roles_state *st,
				struct roles_titles *rt)
{
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	const char *text = NULL;
	size_t len = 0;

	if (anautil_ctx_str(ctx, "_input.resume_text", &text, &len) == 0 &&
	    skillmatch_titles_heading(st->occupations, text, len, &rt->text[rt->n], &rt->len[rt->n]))
		rt->n++;
	for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_ARRAY &&
			     i < exps->via.array.size && rt->n < 1 + ROLES_JOBS; i++)
		if (anautil_str(anautil_map_get(&exps->via.array.ptr[i], "title"),
				&rt->text[rt->n], &rt->len[rt->n]) && rt->len[rt->n] > 0)
			rt->n++;
	if (text != NULL)
		roles_title_lines(st, text, len, rt, rt->n);
}

static enum ima_rc roles_process(struct ima_req *req, void *state)
{
	const struct roles_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *cand = ima_ctx_get(ctx, "_skills.candidate");
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	unsigned nskills = skillmatch_count(st->dict);
	size_t nroles = skillmatch_roles_count(st->roles), ntop = 0;
	size_t nocc = st->occupations ? skillmatch_occupations_count(st->occupations) : 0;
	unsigned char *have = ima_req_alloc(req, nskills / 8 + 1);
	struct roles_scored *top = ima_req_alloc(req, (size_t)st->max_roles * sizeof(*top));
	float *matched = ima_req_alloc(req, (nroles + 1) * sizeof(*matched));
	struct roles_titles rt;
	char titles[1024], cand_words[1024];
	size_t tlen = 0;
	const char *level_name = "mid-level";
	size_t level_len = 9;
	double level_conf = 0;
	int level;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	memset(&rt, 0, sizeof(rt));
	rt.named = ima_req_alloc(req, (nocc + 1) * sizeof(*rt.named));
	rt.related = ima_req_alloc(req, (nocc + 1) * sizeof(*rt.related));
	rt.sources = ima_req_alloc(req, (nocc + 1) * sizeof(*rt.sources));
	if (have == NULL || top == NULL || matched == NULL || rt.named == NULL ||
	    rt.related == NULL || rt.sources == NULL)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	memset(have, 0, nskills / 8 + 1);
	memset(matched, 0, (nroles + 1) * sizeof(*matched));
	memset(rt.named, 0, (nocc + 1) * sizeof(*rt.named));
	memset(rt.related, 0, (nocc + 1) * sizeof(*rt.related));
	memset(rt.sources, 0, (nocc + 1) * sizeof(*rt.sources));
	for (uint32_t i = 0; cand && cand->type == MSGPACK_OBJECT_ARRAY && i < cand->via.array.size; i++) {
		const char *name;
		size_t nlen;
		double conf = 0;
		int id;

		anautil_number(anautil_map_get(&cand->via.array.ptr[i], "confidence"), &conf);
		if (!anautil_str(anautil_map_get(&cand->via.array.ptr[i], "name"), &name, &nlen) ||
		    conf < 0.5)
			continue;
		id = skillmatch_find(st->dict, name, nlen);
		if (id < 0 || (have[id / 8] & (1u << (id % 8))))
			continue;
		have[id / 8] |= (unsigned char)(1u << (id % 8));
		for (uint32_t p = st->post_start[id]; p < st->post_start[id + 1]; p++)
			matched[st->post_roles[p]] += st->weight[id];
	}
	if (st->occupations != NULL) {
		roles_gather_titles(ctx, st, &rt);
		roles_title_evidence(st, &rt);
	}
	/* The candidate's recent titles, for title fit. */
	for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_ARRAY && i < exps->via.array.size && i < 3; i++) {
		const char *t;
		size_t n;

		if (anautil_str(anautil_map_get(&exps->via.array.ptr[i], "title"), &t, &n) &&
		    tlen + n + 2 < sizeof(titles)) {
			memcpy(titles + tlen, t, n);
			tlen += n;
			titles[tlen++] = ' ';
		}
	}
	titles[tlen] = '\0';
	roles_title_split(titles, tlen, cand_words, sizeof(cand_words));
	anautil_ctx_str(ctx, "seniority_analysis.level", &level_name, &level_len);
	anautil_number(ima_ctx_get(ctx, "seniority_analysis.confidence"), &level_conf);
	level = anautil_level_parse(level_name, level_len);
	if (level < 0)
		level = LEVEL_MID;

	for (size_t c = 0; c < st->ncand; c++) {
		int32_t r = st->cand_role[c], o = st->cand_occ[c];
		double skill = 0, title = 0, score;

		if (r >= 0 && matched[r] > 0 && st->role_total[r] > 0)
			skill = 0.75 * matched[r] / st->role_total[r] +
				0.25 * roles_title_fit(st->title_words[c], cand_words);
		if (o >= 0)
			title = 1.0 - (1.0 - rt.named[o]) * (1.0 - rt.related[o]);
		if (skill == 0 && title == 0)
			continue;
		score = 1.0 - (1.0 - st->title_weight * title) * (1.0 - skill);
		if (score < st->min_score)
			continue;
		/* Keep the best max_roles in a small sorted array. */
		if (ntop < (size_t)st->max_roles) {
			top[ntop].cand = c;
			top[ntop++].score = score;
		} else if (score > top[ntop - 1].score) {
			top[ntop - 1].cand = c;
			top[ntop - 1].score = score;
		} else {
			continue;
		}
		qsort(top, ntop, sizeof(top[0]), roles_scored_cmp);
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_array(&pk, ntop);
	for (size_t i = 0; i < ntop; i++) {
		size_t c = top[i].cand;
		int32_t r = st->cand_role[c], o = st->cand_occ[c];
		const struct skillmatch_role *role = r >= 0 ? skillmatch_roles_get(st->roles, (size_t)r) : NULL;
		size_t core = role == NULL ? 0
			: role->nskills < (size_t)st->core_skills ? role->nskills : (size_t)st->core_skills;
		size_t held = 0, nsources = 0, nevidence = 0;
		double skill = 0, named = o >= 0 ? rt.named[o] : 0, related = o >= 0 ? rt.related[o] : 0;
		char full[256];

		for (size_t k = 0; k < core; k++)
			held += (have[role->skill_ids[k] / 8] >> (role->skill_ids[k] % 8)) & 1u;
		if (r >= 0 && matched[r] > 0 && st->role_total[r] > 0)
			skill = 0.75 * matched[r] / st->role_total[r] +
				0.25 * roles_title_fit(st->title_words[c], cand_words);
		for (size_t k = 0; k < rt.n; k++)
			nsources += o >= 0 && (rt.sources[o] >> k) & 1u;
		nevidence = (named > 0) + (related > 0) + (skill > 0);
		snprintf(full, sizeof(full), "%s%s", roles_prefix[level], st->titles[c]);
		msgpack_pack_map(&pk, 11);
		anautil_pack_kv_str(&pk, "role", st->titles[c]);
		anautil_pack_kv_str(&pk, "soc_code", role ? role->soc_code
				    : skillmatch_occupation_get(st->occupations, (size_t)o)->soc_code);
		anautil_pack_key(&pk, "score");
		anautil_pack_score(&pk, top[i].score);
		anautil_pack_key(&pk, "matched_skills");
		msgpack_pack_array(&pk, held);
		for (size_t k = 0; k < core; k++)
			if (have[role->skill_ids[k] / 8] & (1u << (role->skill_ids[k] % 8)))
				ima_pack_cstr(&pk, skillmatch_name(st->dict, role->skill_ids[k]));
		anautil_pack_key(&pk, "evidence");
		msgpack_pack_array(&pk, nevidence);
		if (named > 0)
			ima_pack_cstr(&pk, "title");
		if (related > 0)
			ima_pack_cstr(&pk, "related_title");
		if (skill > 0)
			ima_pack_cstr(&pk, "skills");
		anautil_pack_key(&pk, "matched_titles");
		msgpack_pack_array(&pk, nsources);
		for (size_t k = 0; k < rt.n; k++)
			if (o >= 0 && (rt.sources[o] >> k) & 1u)
				ima_pack_strn(&pk, rt.text[k], rt.len[k]);
		anautil_pack_key(&pk, "title_score");
		anautil_pack_score(&pk, 1.0 - (1.0 - named) * (1.0 - related));
		anautil_pack_key(&pk, "skill_score");
		anautil_pack_score(&pk, skill);
		anautil_pack_kv_str(&pk, "seniority_level", anautil_level_names[level]);
		anautil_pack_key(&pk, "seniority_confidence");
		anautil_pack_score(&pk, level_conf);
		anautil_pack_kv_str(&pk, "full_role_title", full);
	}
	return anautil_put(req, "role_suggestions", &sb);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_roles = {
	IMA_PLUGIN_HEADER,
	.name = "roles",
	.version = "1.1.0",
	.description = "role suggestions from the candidate's titles (O*NET alternate titles) and skill overlap with the O*NET role catalogue",
	.options = roles_options,
	.init = roles_init,
	.process = roles_process,
	.fini = roles_fini,
};
