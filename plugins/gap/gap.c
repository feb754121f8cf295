/*
 * gap - what the job ad requires and how the candidate measures up, without
 * any LLM: job_requirements {skills_required, skills_preferred, min_years,
 * seniority} and gap_analysis {summary, matched, implied, critical_gaps,
 * nice_to_have_gaps, bridging_strategies, years_gap, seniority_gap,
 * alignment_score, alignment_reason}. Also passes the upstream domain
 * insights through.
 *
 * Required versus preferred comes from the ad's layout: headings ("Nice to
 * have", "Preferred", "Bonus") switch the section, and a line that says "a
 * plus" or "preferred" is preferred on its own. Skills outside both kinds of
 * section (an intro, responsibilities) count as required when the ad has no
 * requirements heading, else as preferred.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"

static const char *const gap_required_heads[] = {
	"requirements", "required", "qualifications", "required qualifications",
	"minimum qualifications", "basic qualifications", "must have",
	"must haves", "must-have", "what you need", "what you'll need",
	"what you will need", "what we're looking for", "what we are looking for",
	"who you are", "you have", "you bring", "your profile", "skills",
	"requirements and skills", "skills and experience", "experience",
	"your skills", "about you", "the ideal candidate", "who we are looking for",
	"who we're looking for", "who you are looking for", NULL
};

static const char *const gap_preferred_heads[] = {
	"nice to have", "nice-to-have", "nice to haves", "preferred",
	"preferred qualifications", "bonus", "bonus points", "pluses",
	"desirable", "good to have", "it would be great if",
	"additional qualifications", "extra credit", NULL
};

static const char *const gap_other_heads[] = {
	"benefits", "what we offer", "perks", "about us", "who we are",
	"about the company", "our offer", "compensation", "salary", "why join us",
	"how to apply", "equal opportunity", "company description", "job benefits",
	"we offer", "further information", "location options", "contact",
	"application procedure", "terms of employment", NULL
};

/* Headings of the job itself (its duties, its facts): they end a
 * "Benefits" or "About us" section, and skills under them are neither
 * required nor preferred by layout. */
static const char *const gap_neutral_heads[] = {
	"job description", "description", "the job", "the role", "the position",
	"your role", "about the role", "about the job", "about the position",
	"role", "responsibilities", "key responsibilities", "your responsibilities",
	"duties", "tasks", "your tasks", "your job", "your mission", "the mission",
	"what you'll do", "what you will do", "what you'll be doing",
	"what you will be doing", "job summary", "summary", "overview",
	"job type", "experience level", "industry", "technologies", "tech stack",
	"our stack", "our tech stack", NULL
};

static const char *const gap_preferred_cues[] = {
	"a plus", "is a plus", "preferred", "nice to have", "bonus", "desirable",
	"ideally", "advantageous", "an advantage", "beneficial", "good to have",
	"optional", NULL
};

struct gap_state {
	struct anautil_wordset cues, experience;
	double weight_required;
	double weight_preferred;
	double weight_years;
	double weight_seniority;
};

static const struct ima_option gap_options[] = {
	{ "weight_required", IMA_OPT_DOUBLE, "0.6", "alignment weight of required skills covered", 0 },
	{ "weight_preferred", IMA_OPT_DOUBLE, "0.15", "alignment weight of preferred skills covered", 0 },
	{ "weight_years", IMA_OPT_DOUBLE, "0.15", "alignment weight of meeting the minimum years", 0 },
	{ "weight_seniority", IMA_OPT_DOUBLE, "0.1", "alignment weight of matching the asked seniority", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const char *const gap_experience_words[] = { "experience", "exp", NULL };

static int gap_init(const struct ima_conf *conf, void **state,
		    struct ima_error *err)
{
	struct gap_state *st = ima_calloc(1, sizeof(*st));
	double sum;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->weight_required = ima_conf_double(conf, "weight_required");
	st->weight_preferred = ima_conf_double(conf, "weight_preferred");
	st->weight_years = ima_conf_double(conf, "weight_years");
	st->weight_seniority = ima_conf_double(conf, "weight_seniority");
	anautil_wordset_init(&st->cues, gap_preferred_cues);
	anautil_wordset_init(&st->experience, gap_experience_words);
	sum = st->weight_required + st->weight_preferred + st->weight_years +
	      st->weight_seniority;
	if (sum <= 0 || st->weight_required < 0 || st->weight_preferred < 0 ||
	    st->weight_years < 0 || st->weight_seniority < 0) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "", "alignment weights must be >= 0 with a positive sum");
	}
	*state = st;
	return 0;
}

static void gap_fini(void *state)
{
	ima_free(state);
}

/* ---- reading the job ad ---- */

enum gap_section { SEC_NEUTRAL = 0, SEC_REQUIRED, SEC_PREFERRED, SEC_OTHER };

/* A heading: short, no sentence punctuation inside, ends the line (maybe
 * with ':'), and matches one of the lists at its start. */
static int gap_heading(const char *s, size_t n)
{
	size_t words = 0;

	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ':'))
		n--;
	while (n > 0 && (isspace((unsigned char)*s) || *s == '#' || *s == '*')) {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == '*')
		n--;
	if (n == 0 || n > 60)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' && i > 0 && s[i - 1] != ' ')
			words++;
	if (words > 6)
		return -1;
	for (const char *const *h = gap_preferred_heads; *h; h++)
		if (n >= strlen(*h) && strncasecmp(s, *h, strlen(*h)) == 0)
			return SEC_PREFERRED;
	for (const char *const *h = gap_required_heads; *h; h++)
		if (anautil_eq_ci(s, n, *h) ||
		    (n > strlen(*h) && strncasecmp(s, *h, strlen(*h)) == 0 &&
		     strchr(" (:", s[strlen(*h)]) != NULL))
			return SEC_REQUIRED;
	for (const char *const *h = gap_neutral_heads; *h; h++)
		if (anautil_eq_ci(s, n, *h))
			return SEC_NEUTRAL;
	for (const char *const *h = gap_other_heads; *h; h++)
		if (n >= strlen(*h) && strncasecmp(s, *h, strlen(*h)) == 0)
			return SEC_OTHER;
	return -1;
}

struct gap_line {
	size_t start, end;
	unsigned char kind; /* enum gap_section of the line itself */
};

struct gap_ad {
	struct gap_line *lines;
	size_t nlines;
	bool has_required;
	/* Lines with text under a requirements heading: the ad states
	 * requirements, whether or not a skill of them is recognised. */
	size_t required_lines;
	int min_years; /* -1 unknown */
	int seniority; /* enum anautil_level, -1 unknown */
};

/* Whether the n bytes at s start with word, ignoring case. A line of the
 * ad is not NUL-terminated: nothing past n may be read. */
static bool gap_word_at(const char *s, size_t n, const char *word)
{
	size_t len = strlen(word);

	return n >= len && strncasecmp(s, word, len) == 0;
}

/* "5+ years", "5 or more years", "3-5 years", "at least 4 years" of
 * experience: the smallest number in the phrase is the minimum. */
static int gap_years_in(const struct gap_state *st, const char *s, size_t n)
{
	int best = -1;

	if (memchr(s, 'y', n) == NULL || anautil_wordset_count(&st->experience, s, n) == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		size_t k = i;

		if (!isdigit((unsigned char)s[i]) || (i > 0 && isalnum((unsigned char)s[i - 1])))
			continue;
		while (k < n && isdigit((unsigned char)s[k]) && v < 100)
			v = v * 10 + (s[k++] - '0');
		while (k < n && s[k] != '\0' && strchr("+ -–", s[k]) != NULL)
			k++;
		/* a range "3-5": skip the upper bound */
		while (k < n && isdigit((unsigned char)s[k]))
			k++;
		while (k < n && (s[k] == ' ' || s[k] == '+'))
			k++;
		if (gap_word_at(s + k, n - k, "or more")) {
			k += 7;
			while (k < n && s[k] == ' ')
				k++;
		}
		if ((gap_word_at(s + k, n - k, "year") || gap_word_at(s + k, n - k, "yrs")) &&
		    v > 0 && v <= 30 && (best < 0 || v > best))
			best = v;
		i = k;
	}
	return best;
}

static bool gap_has_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isalnum((unsigned char)s[i]))
			return true;
	return false;
}

static int gap_read_ad(const struct gap_state *st, struct ima_req *req,
		       const char *ad, size_t len,
		       const char *title, size_t tlen, struct gap_ad *out)
{
	enum gap_section sec = SEC_NEUTRAL;
	size_t cap = 64, start = 0;

	memset(out, 0, sizeof(*out));
	out->min_years = -1;
	out->seniority = -1;
	out->lines = ima_req_alloc(req, cap * sizeof(*out->lines));
	if (out->lines == NULL)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		struct gap_line *l;
		int h, y;

		if (i < len && ad[i] != '\n')
			continue;
		if (out->nlines == cap) {
			struct gap_line *nl = ima_req_alloc(req, 2 * cap * sizeof(*nl));

			if (nl == NULL)
				return -1;
			memcpy(nl, out->lines, cap * sizeof(*nl));
			out->lines = nl;
			cap *= 2;
		}
		l = &out->lines[out->nlines++];
		l->start = start;
		l->end = i;
		h = gap_heading(ad + start, i - start);
		if (h >= 0) {
			sec = (enum gap_section)h;
			out->has_required |= h == SEC_REQUIRED;
		} else if (sec == SEC_REQUIRED && gap_has_text(ad + start, i - start)) {
			out->required_lines++;
		}
		l->kind = (unsigned char)sec;
		if (sec != SEC_OTHER &&
		    anautil_wordset_count(&st->cues, ad + start, i - start) > 0)
			l->kind = SEC_PREFERRED;
		y = sec != SEC_OTHER ? gap_years_in(st, ad + start, i - start) : -1;
		/* The years of a required line win over those of a preferred one. */
		if (y > 0 && (out->min_years < 0 || (l->kind != SEC_PREFERRED && y > out->min_years)))
			out->min_years = y;
		start = i + 1;
	}
	/* Seniority: the job title, else the ad's first line, else the years. */
	if (tlen > 0)
		out->seniority = anautil_level_from_title(title, tlen);
	if (out->seniority < 0 && out->nlines > 0)
		out->seniority = anautil_level_from_title(ad + out->lines[0].start,
							  out->lines[0].end - out->lines[0].start);
	if (out->seniority < 0 && out->min_years > 0)
		out->seniority = (int)anautil_level_from_years(out->min_years);
	return 0;
}

static enum gap_section gap_section_at(const struct gap_ad *ad, size_t off)
{
	size_t lo = 0, hi = ad->nlines;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ad->lines[mid].end < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= ad->nlines)
		return SEC_NEUTRAL;
	return (enum gap_section)ad->lines[lo].kind;
}

/* ---- comparing ---- */

struct gap_skill {
	const char *name;
	size_t len;
	const char *category;
	size_t clen;
	bool required;
	bool matched;
	/* Not named, but implied by held skills (Terraform implies
	 * infrastructure as code): covered, so not a gap, yet worth naming. */
	const msgpack_object *implied_by;
};

/* The entry of list whose key is name (any case) with at least min_conf
 * (entries without a confidence have 1), or NULL. */
static const msgpack_object *gap_find(const msgpack_object *list, const char *key,
				      const char *name, size_t len, double min_conf)
{
	for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
		const msgpack_object *e = &list->via.array.ptr[i];
		const char *v;
		size_t vn;
		double conf = 1;

		anautil_number(anautil_map_get(e, "confidence"), &conf);
		if (anautil_str(anautil_map_get(e, key), &v, &vn) && vn == len &&
		    strncasecmp(v, name, len) == 0 && conf >= min_conf)
			return e;
	}
	return NULL;
}

/* Held skills of the same category, as a hint for bridging a gap. */
static size_t gap_related(const msgpack_object *cand, const struct gap_skill *g,
			  const char **names, size_t *lens, size_t max)
{
	size_t n = 0;

	if (g->category == NULL || g->clen == 0)
		return 0;
	for (uint32_t i = 0; cand && cand->type == MSGPACK_OBJECT_ARRAY && i < cand->via.array.size && n < max; i++) {
		const msgpack_object *e = &cand->via.array.ptr[i];
		const char *c, *nm;
		size_t cl, nl;
		double conf = 0;

		anautil_number(anautil_map_get(e, "confidence"), &conf);
		if (conf >= 0.5 && anautil_str(anautil_map_get(e, "category"), &c, &cl) &&
		    cl == g->clen && memcmp(c, g->category, cl) == 0 &&
		    anautil_str(anautil_map_get(e, "name"), &nm, &nl)) {
			names[n] = nm;
			lens[n++] = nl;
		}
	}
	return n;
}

/* Which skills of the ad a list holds. */
enum gap_pick { PICK_ALL, PICK_MATCHED, PICK_IMPLIED, PICK_MISSING };

static bool gap_picked(const struct gap_skill *g, bool required, enum gap_pick pick)
{
	if (g->required != required)
		return false;
	switch (pick) {
	case PICK_MATCHED: return g->matched;
	case PICK_IMPLIED: return !g->matched && g->implied_by != NULL;
	case PICK_MISSING: return !g->matched && g->implied_by == NULL;
	case PICK_ALL: break;
	}
	return true;
}

static size_t gap_count(const struct gap_skill *v, size_t n, bool required,
			enum gap_pick pick)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count += gap_picked(&v[i], required, pick);
	return count;
}

static void gap_pack_names(msgpack_packer *pk, const struct gap_skill *v,
			   size_t n, bool required, enum gap_pick pick)
{
	msgpack_pack_array(pk, gap_count(v, n, required, pick));
	for (size_t i = 0; i < n; i++)
		if (gap_picked(&v[i], required, pick))
			ima_pack_strn(pk, v[i].name, v[i].len);
}

/* Implied skills of the ad: {skill, required, implied_by}. */
static void gap_pack_implied(msgpack_packer *pk, const struct gap_skill *v, size_t n)
{
	msgpack_pack_array(pk, gap_count(v, n, true, PICK_IMPLIED) +
			       gap_count(v, n, false, PICK_IMPLIED));
	for (int req = 1; req >= 0; req--)
		for (size_t i = 0; i < n; i++) {
			const msgpack_object *by;

			if (!gap_picked(&v[i], req, PICK_IMPLIED))
				continue;
			by = anautil_map_get(v[i].implied_by, "implied_by");
			msgpack_pack_map(pk, 3);
			anautil_pack_kv_strn(pk, "skill", v[i].name, v[i].len);
			anautil_pack_key(pk, "required");
			if (req)
				msgpack_pack_true(pk);
			else
				msgpack_pack_false(pk);
			anautil_pack_key(pk, "implied_by");
			if (by != NULL && by->type == MSGPACK_OBJECT_ARRAY)
				msgpack_pack_object(pk, *by);
			else
				msgpack_pack_array(pk, 0);
		}
}

/*
 * The weighted mean of the parts the ad states: a part with nothing to
 * measure (no preferred skills, no minimum years, no level) drops out
 * instead of counting as met. Without a skill of the ad recognised there is
 * no score, because years and level alone do not say the candidate fits;
 * nor when the ad states requirements and none of them is recognised,
 * because its preferred skills alone do not either ("Requirements: RN
 * license ...; Preferred: Epic" is no perfect fit for an Epic user).
 * Returns the reason there is none (NULL when there is a score).
 */
static const char *gap_alignment(const struct gap_state *st, size_t adlen,
				 size_t required_lines,
				 size_t nreq, size_t creq, size_t npref, size_t cpref,
				 double years_fit, bool years_known,
				 double sen_fit, bool sen_known, double *score)
{
	double sum = 0, weights = 0;

	if (adlen == 0)
		return "no_job_ad";
	if (nreq + npref == 0)
		return "no_recognised_skills";
	if (nreq == 0 && required_lines > 0)
		return "no_recognised_requirements";
	if (nreq > 0) {
		sum += st->weight_required * (double)creq / (double)nreq;
		weights += st->weight_required;
	}
	if (npref > 0) {
		sum += st->weight_preferred * (double)cpref / (double)npref;
		weights += st->weight_preferred;
	}
	if (years_known) {
		sum += st->weight_years * years_fit;
		weights += st->weight_years;
	}
	if (sen_known) {
		sum += st->weight_seniority * sen_fit;
		weights += st->weight_seniority;
	}
	/* Weights may be 0 by configuration: then the skills alone. */
	if (weights <= 0) {
		*score = (double)(creq + cpref) / (double)(nreq + npref);
		return NULL;
	}
	*score = sum / weights;
	return NULL;
}

/* Two words name the same thing when equal, or when they share a prefix of
 * at least 5 letters that leaves at most 3 of the shorter one over
 * ("engineering" / "engineer", "development" / "developer"). */
static bool gap_word_close(const char *a, size_t an, const char *b, size_t bn)
{
	size_t common = 0, shorter = an < bn ? an : bn;

	while (common < shorter &&
	       tolower((unsigned char)a[common]) == tolower((unsigned char)b[common]))
		common++;
	if (common == an && an == bn)
		return true;
	return common >= 5 && common + 3 >= shorter;
}

/*
 * A knowledge area the job asks for ("Data engineering") is evident from
 * the candidate's job titles ("Data Engineer") when every word of it is
 * close to a word of one title.
 */
static bool gap_in_titles(const char *name, size_t len, const msgpack_object *exps)
{
	for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_ARRAY && i < exps->via.array.size; i++) {
		const msgpack_object *t = anautil_map_get(&exps->via.array.ptr[i], "title");
		bool all = true;
		size_t words = 0;

		if (t == NULL || t->type != MSGPACK_OBJECT_STR)
			continue;
		for (size_t p = 0; p < len && all;) {
			size_t s, wn;
			bool found = false;

			while (p < len && !anautil_wordch((unsigned char)name[p]))
				p++;
			s = p;
			while (p < len && anautil_wordch((unsigned char)name[p]))
				p++;
			wn = p - s;
			if (wn == 0)
				break;
			words++;
			for (size_t q = 0; q < t->via.str.size && !found;) {
				const char *tp = t->via.str.ptr;
				size_t ts;

				while (q < t->via.str.size && !anautil_wordch((unsigned char)tp[q]))
					q++;
				ts = q;
				while (q < t->via.str.size && anautil_wordch((unsigned char)tp[q]))
					q++;
				if (q > ts)
					found = gap_word_close(name + s, wn, tp + ts, q - ts);
			}
			all = found;
		}
		if (all && words > 0)
			return true;
	}
	return false;
}

static enum ima_rc gap_process(struct ima_req *req, void *state)
{
	const struct gap_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *job = ima_ctx_get(ctx, "_skills.job");
	const msgpack_object *cand = ima_ctx_get(ctx, "_skills.candidate");
	const msgpack_object *inferred = ima_ctx_get(ctx, "processed_skills.inferred_skills");
	const msgpack_object *insights = ima_ctx_get(ctx, "_input.domain_insights");
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	const char *ad = "", *title = "", *lvl = "mid-level", *reason;
	size_t adlen = 0, tlen = 0, lvllen = 9, n = 0, nhits;
	size_t nreq = 0, npref = 0, mreq = 0, mpref = 0, ireq = 0, ipref = 0, ncrit = 0;
	double years = 0, align = 0, years_fit, sen_fit;
	int cand_level, year_gap, sen_gap;
	struct gap_skill *skills;
	struct gap_ad jad;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char summary[640], yearsbuf[48], implied[96], level[160];
	enum ima_rc rc;

	anautil_ctx_str(ctx, "_input.job_ad", &ad, &adlen);
	anautil_ctx_str(ctx, "_input.job_title", &title, &tlen);
	anautil_number(ima_ctx_get(ctx, "_experience.total_years"), &years);
	anautil_ctx_str(ctx, "seniority_analysis.level", &lvl, &lvllen);
	cand_level = anautil_level_parse(lvl, lvllen);
	if (cand_level < 0)
		cand_level = (int)anautil_level_from_years(years);

	if (gap_read_ad(st, req, ad, adlen, title, tlen, &jad) != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	n = job && job->type == MSGPACK_OBJECT_ARRAY ? job->via.array.size : 0;
	skills = ima_req_alloc(req, (n ? n : 1) * sizeof(*skills));
	if (skills == NULL)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	nhits = n;
	n = 0;
	for (size_t i = 0; i < nhits; i++) {
		const msgpack_object *e = &job->via.array.ptr[i];
		const msgpack_object *offs = anautil_map_get(e, "offsets");
		struct gap_skill *g = &skills[n];
		bool req_hit = false, pref_hit = false, neutral = false, other = false;

		memset(g, 0, sizeof(*g));
		anautil_str(anautil_map_get(e, "name"), &g->name, &g->len);
		anautil_str(anautil_map_get(e, "category"), &g->category, &g->clen);
		for (uint32_t k = 0; offs && offs->type == MSGPACK_OBJECT_ARRAY && k < offs->via.array.size; k++) {
			double off = 0;

			anautil_number(&offs->via.array.ptr[k], &off);
			switch (gap_section_at(&jad, (size_t)off)) {
			case SEC_REQUIRED: req_hit = true; break;
			case SEC_PREFERRED: pref_hit = true; break;
			case SEC_NEUTRAL: neutral = true; break;
			case SEC_OTHER: other = true; break;
			}
		}
		/* Named only under "Benefits" or "About us": not asked of the
		 * candidate, so neither a requirement nor a gap. */
		if (other && !req_hit && !pref_hit && !neutral)
			continue;
		n++;
		g->required = req_hit || (neutral && !jad.has_required) ||
			      (!pref_hit && !jad.has_required);
		g->matched = g->name && (gap_find(cand, "name", g->name, g->len, 0.5) != NULL ||
					 gap_in_titles(g->name, g->len, exps));
		if (!g->matched && g->name)
			g->implied_by = gap_find(inferred, "skill", g->name, g->len, 0);
		if (g->required) {
			nreq++;
			mreq += g->matched;
			ireq += !g->matched && g->implied_by != NULL;
			ncrit += !g->matched && g->implied_by == NULL;
		} else {
			npref++;
			mpref += g->matched;
			ipref += !g->matched && g->implied_by != NULL;
		}
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	anautil_pack_key(&pk, "skills_required");
	gap_pack_names(&pk, skills, n, true, PICK_ALL);
	anautil_pack_key(&pk, "skills_preferred");
	gap_pack_names(&pk, skills, n, false, PICK_ALL);
	anautil_pack_key(&pk, "min_years");
	if (jad.min_years > 0)
		msgpack_pack_int(&pk, jad.min_years);
	else
		msgpack_pack_nil(&pk);
	anautil_pack_kv_str(&pk, "seniority",
			    jad.seniority >= 0 ? anautil_level_names[jad.seniority] : NULL);
	if ((rc = anautil_put(req, "job_requirements", &sb)) != IMA_CONTINUE)
		return rc;

	year_gap = jad.min_years > 0 && years < jad.min_years ? (int)(jad.min_years - years + 0.999) : 0;
	years_fit = jad.min_years > 0 ? anautil_clamp01(years / jad.min_years) : 1.0;
	sen_gap = jad.seniority >= 0 ? jad.seniority - cand_level : 0;
	sen_fit = sen_gap > 0 ? anautil_clamp01(1.0 - 0.5 * sen_gap) : 1.0;
	/* An implied skill is covered: the candidate has what implies it. */
	reason = gap_alignment(st, adlen, jad.required_lines, nreq, mreq + ireq, npref, mpref + ipref,
			       years_fit, jad.min_years > 0, sen_fit, jad.seniority >= 0,
			       &align);
	if (jad.min_years > 0)
		snprintf(yearsbuf, sizeof(yearsbuf), "a minimum of %d", jad.min_years);
	else
		snprintf(yearsbuf, sizeof(yearsbuf), "no stated minimum");
	snprintf(level, sizeof(level), "%.1f years of experience against %s; %s level against %s asked",
		 years, yearsbuf, anautil_level_names[cand_level],
		 jad.seniority >= 0 ? anautil_level_names[jad.seniority] : "no level");
	implied[0] = '\0';
	if (ireq + ipref > 0)
		snprintf(implied, sizeof(implied), " (%zu more implied by skills you have, not named)",
			 ireq + ipref);
	if (adlen == 0)
		snprintf(summary, sizeof(summary),
			 "No job ad was given, so there is nothing to compare against.");
	else if (reason != NULL && nreq + npref > 0)
		snprintf(summary, sizeof(summary),
			 "None of the requirements of the job ad names a skill this analysis "
			 "recognises, so there is no alignment score (%zu of %zu preferred skills "
			 "covered); %s.", mpref, npref, level);
	else if (reason != NULL)
		snprintf(summary, sizeof(summary),
			 "The job ad names no skill this analysis recognises, so there is no "
			 "alignment score; %s.", level);
	else
		snprintf(summary, sizeof(summary),
			 "Covers %zu of %zu required and %zu of %zu preferred skills named in the ad%s; %s.",
			 mreq, nreq, mpref, npref, implied, level);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 11);
	anautil_pack_kv_str(&pk, "summary", summary);
	anautil_pack_key(&pk, "matched");
	gap_pack_names(&pk, skills, n, true, PICK_MATCHED);
	/* What the score counts for the preferred part, shown as well. */
	anautil_pack_key(&pk, "matched_preferred");
	gap_pack_names(&pk, skills, n, false, PICK_MATCHED);
	anautil_pack_key(&pk, "implied");
	gap_pack_implied(&pk, skills, n);
	anautil_pack_key(&pk, "critical_gaps");
	msgpack_pack_array(&pk, ncrit);
	for (size_t i = 0; i < n; i++) {
		const char *rel[4];
		size_t rlen[4], nrel;

		if (!gap_picked(&skills[i], true, PICK_MISSING))
			continue;
		nrel = gap_related(cand, &skills[i], rel, rlen, 4);
		msgpack_pack_map(&pk, 3);
		anautil_pack_kv_strn(&pk, "skill", skills[i].name, skills[i].len);
		anautil_pack_key(&pk, "related_skills");
		msgpack_pack_array(&pk, nrel);
		for (size_t k = 0; k < nrel; k++)
			ima_pack_strn(&pk, rel[k], rlen[k]);
		anautil_pack_kv_str(&pk, "evidence", "not found in the resume");
	}
	anautil_pack_key(&pk, "nice_to_have_gaps");
	gap_pack_names(&pk, skills, n, false, PICK_MISSING);
	anautil_pack_key(&pk, "bridging_strategies");
	{
		size_t nstrat = 0;
		char buf[320];

		for (size_t i = 0; i < n; i++)
			nstrat += skills[i].required && !skills[i].matched;
		nstrat = nstrat > 8 ? 8 : nstrat;
		msgpack_pack_array(&pk, nstrat + (year_gap > 0) + (sen_gap > 0));
		for (size_t i = 0, done = 0; i < n && done < nstrat; i++) {
			const char *rel[1];
			size_t rlen[1];

			if (!skills[i].required || skills[i].matched)
				continue;
			done++;
			if (skills[i].implied_by != NULL) {
				const msgpack_object *by = anautil_map_get(skills[i].implied_by, "implied_by");
				const char *bn = "other skills";
				size_t bl = 12;

				if (by != NULL && by->type == MSGPACK_OBJECT_ARRAY && by->via.array.size > 0)
					anautil_str(&by->via.array.ptr[0], &bn, &bl);
				snprintf(buf, sizeof(buf), "Name %.*s explicitly: it follows from your %.*s, but the resume never says it",
					 (int)skills[i].len, skills[i].name, (int)bl, bn);
			} else if (gap_related(cand, &skills[i], rel, rlen, 1) == 1)
				snprintf(buf, sizeof(buf), "Bridge %.*s from your %.*s experience: describe the overlap, then add a small project or course with %.*s",
					 (int)skills[i].len, skills[i].name, (int)rlen[0], rel[0],
					 (int)skills[i].len, skills[i].name);
			else
				snprintf(buf, sizeof(buf), "Build evidence for %.*s: a project, certification or on-the-job task you can describe with a result",
					 (int)skills[i].len, skills[i].name);
			ima_pack_cstr(&pk, buf);
		}
		if (year_gap > 0) {
			snprintf(buf, sizeof(buf), "The ad asks for %d years; count relevant internships, freelance and project work, and show scope that matches more years",
				 jad.min_years);
			ima_pack_cstr(&pk, buf);
		}
		if (sen_gap > 0) {
			snprintf(buf, sizeof(buf), "The role is %s; lead with ownership, mentoring and decisions that show that level",
				 anautil_level_names[jad.seniority]);
			ima_pack_cstr(&pk, buf);
		}
	}
	anautil_pack_key(&pk, "years_gap");
	msgpack_pack_map(&pk, 3);
	anautil_pack_key(&pk, "required");
	if (jad.min_years > 0)
		msgpack_pack_int(&pk, jad.min_years);
	else
		msgpack_pack_nil(&pk);
	anautil_pack_kv_double(&pk, "candidate", anautil_years(years));
	anautil_pack_kv_int(&pk, "gap", year_gap);
	anautil_pack_key(&pk, "seniority_gap");
	msgpack_pack_map(&pk, 3);
	anautil_pack_kv_str(&pk, "required",
			    jad.seniority >= 0 ? anautil_level_names[jad.seniority] : NULL);
	anautil_pack_kv_str(&pk, "candidate", anautil_level_names[cand_level]);
	anautil_pack_kv_int(&pk, "gap_levels", sen_gap);
	anautil_pack_key(&pk, "alignment_score");
	if (reason == NULL)
		anautil_pack_score(&pk, align);
	else
		msgpack_pack_nil(&pk);
	anautil_pack_kv_str(&pk, "alignment_reason", reason);
	if ((rc = anautil_put(req, "gap_analysis", &sb)) != IMA_CONTINUE)
		return rc;

	/* The market service's insights, passed through as they came. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	if (insights != NULL && insights->type == MSGPACK_OBJECT_MAP)
		msgpack_pack_object(&pk, *insights);
	else
		msgpack_pack_nil(&pk);
	return anautil_put(req, "domain_insights", &sb);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_gap = {
	IMA_PLUGIN_HEADER,
	.name = "gap",
	.version = "1.0.0",
	.description = "job requirements (required/preferred skills, minimum years, seniority) and a deterministic gap analysis",
	.options = gap_options,
	.init = gap_init,
	.process = gap_process,
	.fini = gap_fini,
};
