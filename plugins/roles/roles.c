/*
 * roles - roles the candidate fits, from the role catalogue (O*NET
 * occupations and their typical technologies, data/roles.tsv).
 *
 * A role's score is 0.75 x the share of its core technologies (the first
 * core_skills of its list, hot technologies first) the candidate has with at
 * least medium confidence, each weighted by how specific it is to few roles,
 * plus 0.25 x the share of its title words found in the candidate's recent
 * job titles. Each suggestion carries the seniority
 * level from the seniority stage and the full title ("Senior Data
 * Scientist").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "roles.h"
#include "skillmatch.h"

struct roles_state {
	struct skillmatch_dict *dict;
	struct skillmatch_roles *roles;
	char **titles; /* singular display titles, one per role */
	float *weight; /* per skill id: log(1 + roles / roles listing it) */
	float *role_total; /* per role: summed weight of its core, padded */
	/* skill id -> the roles listing it in their core (an inverted index,
	 * so a request touches only the roles sharing a skill with it). */
	uint32_t *post_start; /* nskills + 1 offsets into post_roles */
	uint32_t *post_roles;
	char **title_words; /* per role: lower-case title words, "a\0b\0\0" */
	int64_t max_roles;
	int64_t core_skills;
	int64_t min_listed;
	double min_score;
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
		for (size_t i = 0; i < skillmatch_roles_count(st->roles); i++)
			ima_free(st->titles[i]);
	ima_free(st->titles);
	if (st->title_words != NULL)
		for (size_t i = 0; i < skillmatch_roles_count(st->roles); i++)
			ima_free(st->title_words[i]);
	ima_free(st->title_words);
	ima_free(st->weight);
	ima_free(st->role_total);
	ima_free(st->post_start);
	ima_free(st->post_roles);
	skillmatch_roles_free(st->roles);
	skillmatch_free(st->dict);
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

static int roles_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct roles_state *st = ima_calloc(1, sizeof(*st));
	char path[4096], msg[256];
	size_t n;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->max_roles = ima_conf_int(conf, "max_roles");
	st->core_skills = ima_conf_int(conf, "core_skills");
	st->min_listed = ima_conf_int(conf, "min_listed");
	st->min_score = ima_conf_double(conf, "min_score");
	if (st->max_roles < 1 || st->core_skills < 1 || st->min_listed < 1) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "", "max_roles and core_skills must be at least 1");
	}
	if (ima_data_path(ima_conf_string(conf, "dictionary"), path, sizeof(path)) != 0 ||
	    (st->dict = skillmatch_load(path, msg, sizeof(msg))) == NULL) {
		roles_fini(st);
		return ima_error_set(err, 500, "config", "dictionary", "cannot load %s", path);
	}
	if (ima_data_path(ima_conf_string(conf, "catalogue"), path, sizeof(path)) != 0 ||
	    (st->roles = skillmatch_roles_load(path, st->dict, msg, sizeof(msg))) == NULL) {
		roles_fini(st);
		return ima_error_set(err, 500, "config", "catalogue", "cannot load %s", path);
	}
	n = skillmatch_roles_count(st->roles);
	st->titles = ima_calloc(n, sizeof(char *));
	for (size_t i = 0; st->titles != NULL && i < n; i++) {
		st->titles[i] = roles_singular(skillmatch_roles_get(st->roles, i)->title);
		if (st->titles[i] == NULL)
			break;
	}
	st->title_words = st->titles ? ima_calloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; st->title_words != NULL && i < n && st->titles[i] != NULL; i++) {
		char buf[512];
		size_t len;

		roles_title_split(st->titles[i], strlen(st->titles[i]), buf, sizeof(buf));
		for (len = 0; buf[len] != '\0'; len += strlen(buf + len) + 1)
			;
		st->title_words[i] = ima_malloc(len + 1);
		if (st->title_words[i] == NULL)
			break;
		memcpy(st->title_words[i], buf, len + 1);
	}
	if (st->titles == NULL || (n > 0 && st->titles[n - 1] == NULL) ||
	    st->title_words == NULL || (n > 0 && st->title_words[n - 1] == NULL) ||
	    roles_weights(st) != 0) {
		roles_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	*state = st;
	return 0;
}

struct roles_scored {
	size_t role;
	double score;
};

static int roles_scored_cmp(const void *a, const void *b)
{
	const struct roles_scored *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->role < y->role ? -1 : x->role > y->role;
}

static const char *const roles_prefix[4] = { "Junior ", "", "Senior ", "Principal " };

static enum ima_rc roles_process(struct ima_req *req, void *state)
{
	const struct roles_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *cand = ima_ctx_get(ctx, "_skills.candidate");
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	unsigned nskills = skillmatch_count(st->dict);
	size_t nroles = skillmatch_roles_count(st->roles), ntop = 0;
	unsigned char *have = ima_req_alloc(req, nskills / 8 + 1);
	struct roles_scored *top = ima_req_alloc(req, (size_t)st->max_roles * sizeof(*top));
	float *matched = ima_req_alloc(req, (nroles + 1) * sizeof(*matched));
	char titles[1024], cand_words[1024];
	size_t tlen = 0;
	const char *level_name = "mid-level";
	size_t level_len = 9;
	double level_conf = 0;
	int level;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (have == NULL || top == NULL || matched == NULL)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	memset(have, 0, nskills / 8 + 1);
	memset(matched, 0, (nroles + 1) * sizeof(*matched));
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

	for (size_t r = 0; r < nroles; r++) {
		double score;

		if (matched[r] == 0 || st->role_total[r] <= 0)
			continue;
		score = 0.75 * matched[r] / st->role_total[r] +
			0.25 * roles_title_fit(st->title_words[r], cand_words);
		if (score < st->min_score)
			continue;
		/* Keep the best max_roles in a small sorted array. */
		if (ntop < (size_t)st->max_roles) {
			top[ntop].role = r;
			top[ntop++].score = score;
		} else if (score > top[ntop - 1].score) {
			top[ntop - 1].role = r;
			top[ntop - 1].score = score;
		} else {
			continue;
		}
		qsort(top, ntop, sizeof(top[0]), roles_scored_cmp);
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, ntop);
	for (size_t i = 0; i < ntop; i++) {
		const struct skillmatch_role *role = skillmatch_roles_get(st->roles, top[i].role);
		size_t core = role->nskills < (size_t)st->core_skills ? role->nskills
								       : (size_t)st->core_skills;
		size_t held = 0;
		char full[256];

		for (size_t k = 0; k < core; k++)
			held += (have[role->skill_ids[k] / 8] >> (role->skill_ids[k] % 8)) & 1u;
		snprintf(full, sizeof(full), "%s%s", roles_prefix[level], st->titles[top[i].role]);
		msgpack_pack_map(&pk, 7);
		anautil_pack_kv_str(&pk, "role", st->titles[top[i].role]);
		anautil_pack_kv_str(&pk, "soc_code", role->soc_code);
		anautil_pack_key(&pk, "score");
		anautil_pack_score(&pk, top[i].score);
		anautil_pack_key(&pk, "matched_skills");
		msgpack_pack_array(&pk, held);
		for (size_t k = 0; k < core; k++)
			if (have[role->skill_ids[k] / 8] & (1u << (role->skill_ids[k] % 8)))
				ima_pack_cstr(&pk, skillmatch_name(st->dict, role->skill_ids[k]));
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
	.version = "1.0.0",
	.description = "role suggestions from the O*NET role catalogue, scored by skill overlap and title fit",
	.options = roles_options,
	.init = roles_init,
	.process = roles_process,
	.fini = roles_fini,
};
