/*
 * skills - the candidate's skills by confidence, and the skills a job ad
 * names.
 *
 * Three sources meet here: the upstream classifier's skills (with their
 * confidence), skills found in the resume text with the dictionary
 * (data/skills.tsv, one linear Aho-Corasick pass), and skills implied by
 * others (data/adjacency.tsv). Upstream skills keep their confidence; a skill
 * found only in the text gets one from its evidence (see skills_evidence).
 * Buckets follow the original service: high >= confidence_threshold, medium
 * >= medium_threshold, low below.
 *
 * Writes "aggregate_skills", "processed_skills", fills "skills" of each
 * experience, and "_skills" {candidate, resume, job, inferred} for the
 * stages after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "roles.h"
#include "skillmatch.h"
#include "skillmatch_data.h"

struct skills_state {
	const struct skillmatch_dict *dict;      /* shared data */
	const struct skillmatch_adjacency *adj; /* shared data */
	double medium_threshold;
	int64_t max_inferred;
};

static const struct ima_option skills_options[] = {
	{ "dictionary", IMA_OPT_STRING, "skills.tsv",
	  "skills dictionary (a name is looked up in the data directory)", 0 },
	{ "adjacency", IMA_OPT_STRING, "adjacency.tsv",
	  "implied-skill table; \"\" turns inferred skills off", 0 },
	{ "medium_threshold", IMA_OPT_DOUBLE, "0.5",
	  "lowest confidence of the medium bucket (high starts at the request's confidence_threshold)", 0 },
	{ "max_inferred", IMA_OPT_INT, "10", "most inferred skills reported", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int skills_init(const struct ima_conf *conf, void **state,
		       struct ima_error *err)
{
	struct skills_state *st = ima_calloc(1, sizeof(*st));
	const char *adj = ima_conf_string(conf, "adjacency");
	char path[4096], msg[256];

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->medium_threshold = ima_conf_double(conf, "medium_threshold");
	st->max_inferred = ima_conf_int(conf, "max_inferred");
	if (ima_data_path(ima_conf_string(conf, "dictionary"), path, sizeof(path)) != 0) {
		ima_error_set(err, 500, "config", "dictionary",
			      "dictionary %s not found (set IMAGINATOR_DATA_DIR)", path);
		goto fail;
	}
	st->dict = skillmatch_dict_acquire(path, msg, sizeof(msg));
	if (st->dict == NULL) {
		ima_error_set(err, 500, "config", "dictionary", "%s", msg);
		goto fail;
	}
	if (adj[0] != '\0') {
		if (ima_data_path(adj, path, sizeof(path)) != 0) {
			ima_error_set(err, 500, "config", "adjacency",
				      "adjacency table %s not found", path);
			goto fail;
		}
		st->adj = skillmatch_adjacency_acquire(path, st->dict, msg, sizeof(msg));
		if (st->adj == NULL) {
			ima_error_set(err, 500, "config", "adjacency", "%s", msg);
			goto fail;
		}
	}
	*state = st;
	return 0;
fail:
	ima_data_release(st->dict);
	ima_free(st);
	return -1;
}

static void skills_fini(void *state)
{
	struct skills_state *st = state;

	ima_data_release(st->adj);
	ima_data_release(st->dict);
	ima_free(st);
}

/* ---- collecting matches ---- */

struct skills_hit {
	unsigned id;
	size_t offset;
};

struct skills_hits {
	const char *text;
	size_t len;
	struct skills_hit *v;
	size_t n, cap;
	bool oom;
};

/*
 * "EDUCATION" or "SKILLS:" alone on a line is a section heading, not a
 * claim to know education: a hit that fills its whole line, written without
 * lower-case letters, is dropped.
 */
static bool skills_is_heading(const struct skills_hits *h, size_t off,
			      size_t len)
{
	size_t a = off, b = off + len;

	while (a > 0 && (h->text[a - 1] == ' ' || h->text[a - 1] == '\t'))
		a--;
	while (b < h->len && strchr(" \t:\r", h->text[b]) != NULL)
		b++;
	if ((a > 0 && h->text[a - 1] != '\n') || (b < h->len && h->text[b] != '\n'))
		return false;
	for (size_t i = off; i < off + len; i++)
		if (h->text[i] >= 'a' && h->text[i] <= 'z')
			return false;
	return true;
}

static void skills_on_hit(const struct skillmatch_hit *hit, void *arg)
{
	struct skills_hits *h = arg;

	if (skills_is_heading(h, hit->offset, hit->len))
		return;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct skills_hit *v = ima_realloc(h->v, cap * sizeof(*v));

		if (v == NULL) {
			h->oom = true;
			return;
		}
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].id = hit->skill_id;
	h->v[h->n].offset = hit->offset;
	h->n++;
}

static int skills_hit_cmp(const void *a, const void *b)
{
	const struct skills_hit *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* ---- the candidate's skills ---- */

struct skills_cand {
	const char *name; /* canonical when known to the dictionary */
	size_t len;
	int id;           /* dictionary id or -1 */
	double confidence;
	bool upstream;
	unsigned mentions; /* in the resume text */
	bool in_experience;
};

struct skills_run {
	struct ima_req *req;
	const struct skills_state *st;
	struct skills_cand *cand;
	size_t ncand, capcand;
	struct skills_hits resume, job;
	const msgpack_object *spans; /* _experience.spans or NULL */
};

static struct skills_cand *skills_cand_find(struct skills_run *r, int id,
					    const char *name, size_t len)
{
	for (size_t i = 0; i < r->ncand; i++) {
		struct skills_cand *c = &r->cand[i];

		if (id >= 0 ? c->id == id
			    : (c->id < 0 && c->len == len &&
			       strncasecmp(c->name, name, len) == 0))
			return c;
	}
	return NULL;
}

static struct skills_cand *skills_cand_add(struct skills_run *r)
{
	if (r->ncand == r->capcand) {
		size_t cap = r->capcand ? r->capcand * 2 : 32;
		struct skills_cand *v = ima_realloc(r->cand, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		r->cand = v;
		r->capcand = cap;
	}
	memset(&r->cand[r->ncand], 0, sizeof(r->cand[0]));
	return &r->cand[r->ncand++];
}

/*
 * Confidence of a skill seen only in the resume text: one mention (a skills
 * list) is medium evidence, a mention inside a job's description is stronger
 * (the skill was used), repeated mentions stronger still.
 */
static double skills_evidence(unsigned mentions, bool in_experience)
{
	double c = 0.5;

	if (in_experience)
		c += 0.15;
	c += 0.1 * (mentions > 3 ? 2 : mentions - 1);
	return c > 0.95 ? 0.95 : c;
}

static bool skills_in_span(const msgpack_object *span, size_t off)
{
	double a, b;

	return span->type == MSGPACK_OBJECT_ARRAY && span->via.array.size == 2 &&
	       anautil_number(&span->via.array.ptr[0], &a) &&
	       anautil_number(&span->via.array.ptr[1], &b) &&
	       (double)off >= a && (double)off < b;
}

static bool skills_in_any_span(const msgpack_object *spans, size_t off)
{
	if (spans == NULL || spans->type != MSGPACK_OBJECT_ARRAY)
		return false;
	for (uint32_t i = 0; i < spans->via.array.size; i++)
		if (skills_in_span(&spans->via.array.ptr[i], off))
			return true;
	return false;
}

static int skills_collect_upstream(struct skills_run *r)
{
	const msgpack_object *list =
		ima_ctx_get(ima_req_ctx(r->req), "_input.extracted_skills.skills");

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		const msgpack_object *e = &list->via.array.ptr[i];
		double conf = 0;
		const char *s;
		size_t n;
		int id;
		struct skills_cand *c;

		if (!anautil_str(anautil_map_get(e, "skill"), &s, &n))
			continue;
		/* Not a finite number (the request stage refuses those): 0. */
		anautil_number(anautil_map_get(e, "confidence"), &conf);
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		id = skillmatch_lookup(r->st->dict, s, n);
		if (id >= 0) {
			s = skillmatch_name(r->st->dict, (unsigned)id);
			n = strlen(s);
		}
		c = skills_cand_find(r, id, s, n);
		if (c == NULL) {
			c = skills_cand_add(r);
			if (c == NULL)
				return -1;
			c->name = s;
			c->len = n;
			c->id = id;
			c->upstream = true;
			c->confidence = conf;
		} else if (conf > c->confidence) {
			c->confidence = conf; /* listed twice: the higher wins */
		}
	}
	return 0;
}

static int skills_collect_resume(struct skills_run *r)
{
	struct skills_hits *h = &r->resume;

	if (h->n > 1)
		qsort(h->v, h->n, sizeof(h->v[0]), skills_hit_cmp);
	for (size_t i = 0; i < h->n;) {
		unsigned id = h->v[i].id, mentions = 0;
		bool in_exp = false;
		const char *name = skillmatch_name(r->st->dict, id);
		struct skills_cand *c;

		for (; i < h->n && h->v[i].id == id; i++) {
			mentions++;
			in_exp |= skills_in_any_span(r->spans, h->v[i].offset);
		}
		c = skills_cand_find(r, (int)id, name, strlen(name));
		if (c == NULL) {
			c = skills_cand_add(r);
			if (c == NULL)
				return -1;
			c->name = name;
			c->len = strlen(name);
			c->id = (int)id;
			c->confidence = skills_evidence(mentions, in_exp);
		}
		c->mentions = mentions;
		c->in_experience = in_exp;
	}
	return 0;
}

static int skills_cand_cmp(const void *a, const void *b)
{
	const struct skills_cand *x = a, *y = b;

	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* ---- output ---- */

/* One test for counting a bucket and filling it, so that the array header
 * and its entries agree whatever the confidence (a NaN fails both). */
static bool skills_in_bucket(const struct skills_cand *c, double lo, double hi)
{
	return c->confidence >= lo && c->confidence < hi;
}

static void skills_pack_bucket(msgpack_packer *pk, const struct skills_run *r,
			       double lo, double hi)
{
	size_t n = 0;

	for (size_t i = 0; i < r->ncand; i++)
		n += skills_in_bucket(&r->cand[i], lo, hi);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < r->ncand; i++) {
		const struct skills_cand *c = &r->cand[i];

		if (!skills_in_bucket(c, lo, hi))
			continue;
		msgpack_pack_map(pk, 5);
		anautil_pack_kv_strn(pk, "skill", c->name, c->len);
		anautil_pack_key(pk, "confidence");
		anautil_pack_score(pk, c->confidence);
		anautil_pack_kv_str(pk, "source", c->upstream ? "upstream" : "resume");
		anautil_pack_kv_int(pk, "mentions", c->mentions);
		anautil_pack_kv_str(pk, "category",
				    c->id >= 0 ? skillmatch_category(r->st->dict, (unsigned)c->id)
					       : NULL);
	}
}

struct skills_inferred {
	unsigned id;
	unsigned by[4];
	unsigned nby;
};

/* Skills implied by the candidate's medium-or-better skills, not already
 * among them; the most often implied first. */
static size_t skills_infer(const struct skills_run *r,
			   struct skills_inferred *out, size_t max)
{
	size_t n = 0;

	if (r->st->adj == NULL)
		return 0;
	for (size_t i = 0; i < r->ncand; i++) {
		const struct skills_cand *c = &r->cand[i];
		const unsigned *ids;
		size_t k;

		if (c->id < 0 || c->confidence < r->st->medium_threshold)
			continue;
		k = skillmatch_adjacency_implied(r->st->adj, (unsigned)c->id, &ids);
		for (size_t j = 0; j < k; j++) {
			bool have = false;
			size_t m;

			for (size_t q = 0; q < r->ncand && !have; q++)
				have = r->cand[q].id == (int)ids[j];
			if (have)
				continue;
			for (m = 0; m < n && out[m].id != ids[j]; m++)
				;
			if (m == n) {
				if (n == max)
					continue;
				out[n].id = ids[j];
				out[n].nby = 0;
				n++;
			}
			if (out[m].nby < 4)
				out[m].by[out[m].nby++] = (unsigned)c->id;
		}
	}
	/* Insertion sort: n is small. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j].nby > out[j - 1].nby; j--) {
			struct skills_inferred t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void skills_pack_hits(msgpack_packer *pk, const struct skills_state *st,
			     struct skills_hits *h)
{
	size_t distinct = 0;

	if (h->n > 1)
		qsort(h->v, h->n, sizeof(h->v[0]), skills_hit_cmp);
	for (size_t i = 0; i < h->n; i++)
		distinct += i == 0 || h->v[i].id != h->v[i - 1].id;
	msgpack_pack_array(pk, distinct);
	for (size_t i = 0; i < h->n;) {
		unsigned id = h->v[i].id;
		size_t j = i;

		while (j < h->n && h->v[j].id == id)
			j++;
		msgpack_pack_map(pk, 4);
		anautil_pack_kv_str(pk, "name", skillmatch_name(st->dict, id));
		anautil_pack_kv_str(pk, "category", skillmatch_category(st->dict, id));
		anautil_pack_kv_int(pk, "count", (int64_t)(j - i));
		anautil_pack_key(pk, "offsets");
		msgpack_pack_array(pk, j - i > 8 ? 8 : j - i);
		for (size_t k = i; k < j && k < i + 8; k++)
			msgpack_pack_uint64(pk, h->v[k].offset);
		i = j;
	}
}

/* Rewrites "experiences" with the skills mentioned inside each job. */
static enum ima_rc skills_fill_experiences(struct skills_run *r)
{
	const msgpack_object *exps = ima_ctx_get(ima_req_ctx(r->req), "experiences");
	const struct skills_hits *h = &r->resume;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (exps == NULL || exps->type != MSGPACK_OBJECT_ARRAY || r->spans == NULL ||
	    r->spans->type != MSGPACK_OBJECT_ARRAY ||
	    r->spans->via.array.size != exps->via.array.size)
		return IMA_CONTINUE;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_array(&pk, exps->via.array.size);
	for (uint32_t i = 0; i < exps->via.array.size; i++) {
		const msgpack_object *e = &exps->via.array.ptr[i];
		const msgpack_object *span = &r->spans->via.array.ptr[i];
		unsigned ids[64];
		size_t n = 0;

		/* Hits are sorted by id, so each distinct skill comes once. */
		for (size_t k = 0; k < h->n && n < 64; k++)
			if (skills_in_span(span, h->v[k].offset) &&
			    (n == 0 || ids[n - 1] != h->v[k].id))
				ids[n++] = h->v[k].id;
		if (e->type != MSGPACK_OBJECT_MAP) {
			msgpack_pack_object(&pk, *e);
			continue;
		}
		msgpack_pack_map(&pk, e->via.map.size);
		for (uint32_t k = 0; k < e->via.map.size; k++) {
			const msgpack_object_kv *kv = &e->via.map.ptr[k];

			msgpack_pack_object(&pk, kv->key);
			if (!anautil_str_is(&kv->key, "skills")) {
				msgpack_pack_object(&pk, kv->val);
				continue;
			}
			msgpack_pack_array(&pk, n);
			for (size_t q = 0; q < n; q++)
				ima_pack_cstr(&pk, skillmatch_name(r->st->dict, ids[q]));
		}
	}
	return anautil_put(r->req, "experiences", &sb);
}

static enum ima_rc skills_output(struct skills_run *r, double threshold)
{
	const struct skills_state *st = r->st;
	struct skills_inferred inf[64];
	size_t ninf, max = st->max_inferred < 64 ? (size_t)st->max_inferred : 64;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	enum ima_rc rc;

	if (r->ncand > 1)
		qsort(r->cand, r->ncand, sizeof(r->cand[0]), skills_cand_cmp);
	ninf = skills_infer(r, inf, max);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_array(&pk, r->ncand);
	for (size_t i = 0; i < r->ncand; i++)
		ima_pack_strn(&pk, r->cand[i].name, r->cand[i].len);
	if ((rc = anautil_put(r->req, "aggregate_skills", &sb)) != IMA_CONTINUE)
		return rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	anautil_pack_key(&pk, "high_confidence");
	skills_pack_bucket(&pk, r, threshold, 2.0);
	anautil_pack_key(&pk, "medium_confidence");
	skills_pack_bucket(&pk, r, st->medium_threshold < threshold ? st->medium_threshold : threshold,
			   threshold);
	anautil_pack_key(&pk, "low_confidence");
	skills_pack_bucket(&pk, r, -1.0,
			   st->medium_threshold < threshold ? st->medium_threshold : threshold);
	anautil_pack_key(&pk, "inferred_skills");
	msgpack_pack_array(&pk, ninf);
	for (size_t i = 0; i < ninf; i++) {
		msgpack_pack_map(&pk, 2);
		anautil_pack_kv_str(&pk, "skill", skillmatch_name(st->dict, inf[i].id));
		anautil_pack_key(&pk, "implied_by");
		msgpack_pack_array(&pk, inf[i].nby);
		for (unsigned k = 0; k < inf[i].nby; k++)
			ima_pack_cstr(&pk, skillmatch_name(st->dict, inf[i].by[k]));
	}
	if ((rc = anautil_put(r->req, "processed_skills", &sb)) != IMA_CONTINUE)
		return rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	anautil_pack_key(&pk, "candidate");
	msgpack_pack_array(&pk, r->ncand);
	for (size_t i = 0; i < r->ncand; i++) {
		msgpack_pack_map(&pk, 3);
		anautil_pack_kv_strn(&pk, "name", r->cand[i].name, r->cand[i].len);
		anautil_pack_kv_double(&pk, "confidence", r->cand[i].confidence);
		anautil_pack_kv_str(&pk, "category",
				    r->cand[i].id >= 0 ? skillmatch_category(st->dict, (unsigned)r->cand[i].id)
						       : NULL);
	}
	anautil_pack_key(&pk, "inferred");
	msgpack_pack_array(&pk, ninf);
	for (size_t i = 0; i < ninf; i++)
		ima_pack_cstr(&pk, skillmatch_name(st->dict, inf[i].id));
	anautil_pack_key(&pk, "resume");
	skills_pack_hits(&pk, st, &r->resume);
	anautil_pack_key(&pk, "job");
	skills_pack_hits(&pk, st, &r->job);
	return anautil_put(r->req, "_skills", &sb);
}

static enum ima_rc skills_process(struct ima_req *req, void *state)
{
	struct skills_run r = { .req = req, .st = state };
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *resume, *job = "";
	size_t rlen, jlen = 0;
	double threshold = 0.7;
	enum ima_rc rc;

	if (anautil_ctx_str(ctx, "_input.resume_text", &resume, &rlen) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "skills needs the request stage before it");
	anautil_ctx_str(ctx, "_input.job_ad", &job, &jlen);
	anautil_number(ima_ctx_get(ctx, "_input.confidence_threshold"), &threshold);
	r.spans = ima_ctx_get(ctx, "_experience.spans");
	r.resume.text = resume;
	r.resume.len = rlen;
	r.job.text = job;
	r.job.len = jlen;

	if (skillmatch_scan(r.st->dict, resume, rlen, skills_on_hit, &r.resume) != 0 ||
	    skillmatch_scan(r.st->dict, job, jlen, skills_on_hit, &r.job) != 0 ||
	    r.resume.oom || r.job.oom || skills_collect_upstream(&r) != 0 ||
	    skills_collect_resume(&r) != 0) {
		rc = ima_req_fail(req, 500, "internal", "", "out of memory");
		goto out;
	}
	rc = skills_fill_experiences(&r);
	if (rc == IMA_CONTINUE)
		rc = skills_output(&r, threshold);
out:
	ima_free(r.resume.v);
	ima_free(r.job.v);
	ima_free(r.cand);
	return rc;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_skills = {
	IMA_PLUGIN_HEADER,
	.name = "skills",
	.version = "1.0.0",
	.description = "skills by confidence from the classifier, the resume text (dictionary) and adjacency; job-ad skills",
	.options = skills_options,
	.init = skills_init,
	.process = skills_process,
	.fini = skills_fini,
};
