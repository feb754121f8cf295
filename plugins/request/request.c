/*
 * request - validates the client's request and normalises it into "_input".
 *
 * Field names follow the service this replaces (aliases resolved here, once,
 * so no later stage knows about them). Every rejection names the field:
 * 422 for a wrong value or type, 413 for a text over its size limit.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "anautil.h"

struct request_state {
	int64_t max_resume_bytes;
	int64_t max_job_ad_bytes;
	double default_threshold;
	int64_t max_skills;
};

static const struct ima_option request_options[] = {
	{ "max_resume_bytes", IMA_OPT_INT, "262144",
	  "largest resume_text accepted, in bytes (larger: 413)", 0 },
	{ "max_job_ad_bytes", IMA_OPT_INT, "131072",
	  "largest job_ad accepted, in bytes (larger: 413)", 0 },
	{ "default_confidence_threshold", IMA_OPT_DOUBLE, "0.7",
	  "confidence_threshold when the request has none (0-1)", 0 },
	{ "max_skills", IMA_OPT_INT, "500",
	  "most entries accepted in extracted_skills_json.skills", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* One field of the request: its names (the first is canonical). */
struct request_field {
	const char *names[3];
	const msgpack_object *value;
	const char *given_as;
};

enum {
	F_RESUME, F_JOB_AD, F_THRESHOLD, F_SKILLS, F_INSIGHTS, F_JOB_TITLE,
	F_CREATIVITY, F_BUDGET, F_REFDATE, F_COUNT
};

static const char *const request_names[F_COUNT][3] = {
	[F_RESUME] = { "resume_text", NULL, NULL },
	[F_JOB_AD] = { "job_ad", "job_description", "jobDescription" },
	[F_THRESHOLD] = { "confidence_threshold", NULL, NULL },
	[F_SKILLS] = { "extracted_skills_json", NULL, NULL },
	[F_INSIGHTS] = { "domain_insights_json", NULL, NULL },
	[F_JOB_TITLE] = { "job_title", NULL, NULL },
	[F_CREATIVITY] = { "creativity_mode", NULL, NULL },
	[F_BUDGET] = { "budget", NULL, NULL },
	[F_REFDATE] = { "reference_date", NULL, NULL },
};

static int request_init(const struct ima_conf *conf, void **state,
			struct ima_error *err)
{
	struct request_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->max_resume_bytes = ima_conf_int(conf, "max_resume_bytes");
	st->max_job_ad_bytes = ima_conf_int(conf, "max_job_ad_bytes");
	st->default_threshold = ima_conf_double(conf, "default_confidence_threshold");
	st->max_skills = ima_conf_int(conf, "max_skills");
	if (st->max_resume_bytes <= 0 || st->max_job_ad_bytes <= 0 ||
	    st->max_skills < 0) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "",
				     "size limits must be positive");
	}
	if (st->default_threshold < 0 || st->default_threshold > 1) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "",
				     "default_confidence_threshold must be within 0-1");
	}
	*state = st;
	return 0;
}

static void request_fini(void *state)
{
	ima_free(state);
}

static bool request_is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
		    s[i] != '\f' && s[i] != '\v')
			return false;
	return true;
}

/*
 * extracted_skills_json and domain_insights_json arrive as objects or as
 * strings holding JSON (the old service took strings). Either way the result
 * is an unpacked object living in the request's zone.
 */
static enum ima_rc request_json_field(struct ima_req *req,
				      const msgpack_object *v,
				      const char *field, msgpack_zone *zone,
				      msgpack_object *out)
{
	struct ima_error err;
	msgpack_sbuffer sb;
	size_t off = 0, len;
	const char *text;
	char *copy;

	if (v->type == MSGPACK_OBJECT_MAP) {
		*out = *v;
		return IMA_CONTINUE;
	}
	if (!anautil_str(v, &text, &len))
		return ima_req_fail(req, 422, "invalid_field", field,
				    "%s must be an object or a string holding a JSON object",
				    field);
	msgpack_sbuffer_init(&sb);
	if (ima_json_to_msgpack(text, len, &sb, &err) != 0) {
		msgpack_sbuffer_destroy(&sb);
		/* Out of memory is ours, not the caller's bad JSON. */
		if (err.status == 500)
			return ima_req_fail(req, 500, err.code, "", "%s", err.message);
		return ima_req_fail(req, 422, "invalid_field", field,
				    "%s holds invalid JSON: %s", field,
				    err.message);
	}
	/* The unpacked strings point into the buffer: keep a copy for the
	 * request's lifetime. */
	copy = ima_req_alloc(req, sb.size);
	if (copy == NULL) {
		msgpack_sbuffer_destroy(&sb);
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	}
	memcpy(copy, sb.data, sb.size);
	if (msgpack_unpack(copy, sb.size, &off, zone, out) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_sbuffer_destroy(&sb);
		return ima_req_fail(req, 500, "internal", "", "cannot unpack %s", field);
	}
	msgpack_sbuffer_destroy(&sb);
	if (out->type != MSGPACK_OBJECT_MAP)
		return ima_req_fail(req, 422, "invalid_field", field,
				    "%s must hold a JSON object", field);
	return IMA_CONTINUE;
}

/*
 * Copies an advisory value (the market insights, passed through to the
 * answer as they came) with every NaN or infinity replaced by null: only
 * msgpack can carry them, JSON has no form for them, and no stage computes
 * with these numbers, so one bad figure does not cost the request.
 */
static void request_pack_advisory(msgpack_packer *pk, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (isfinite(o->via.f64))
			msgpack_pack_object(pk, *o);
		else
			msgpack_pack_nil(pk);
		break;
	case MSGPACK_OBJECT_ARRAY:
		msgpack_pack_array(pk, o->via.array.size);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			request_pack_advisory(pk, &o->via.array.ptr[i]);
		break;
	case MSGPACK_OBJECT_MAP:
		msgpack_pack_map(pk, o->via.map.size);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			request_pack_advisory(pk, &o->via.map.ptr[i].key);
			request_pack_advisory(pk, &o->via.map.ptr[i].val);
		}
		break;
	default:
		msgpack_pack_object(pk, *o);
	}
}

/* Packs the upstream skills, checked: each entry names a skill and has a
 * finite confidence within 0-1 (missing confidence reads as 0). */
static enum ima_rc request_pack_skills(struct ima_req *req,
				       const struct request_state *st,
				       const msgpack_object *es,
				       msgpack_packer *pk)
{
	static const char *const copied[] = { "title", "canonical_title" };
	const msgpack_object *skills = anautil_map_get(es, "skills");
	const msgpack_object *overall = anautil_map_get(es, "overall_confidence");
	double d = 0;
	char field[96];

	if (skills != NULL && skills->type != MSGPACK_OBJECT_ARRAY &&
	    skills->type != MSGPACK_OBJECT_NIL)
		return ima_req_fail(req, 422, "invalid_field",
				    "extracted_skills_json.skills",
				    "skills must be an array of {\"skill\", \"confidence\"}");
	if (skills != NULL && skills->type == MSGPACK_OBJECT_ARRAY &&
	    skills->via.array.size > (uint64_t)st->max_skills)
		return ima_req_fail(req, 413, "too_large",
				    "extracted_skills_json.skills",
				    "at most %lld skills are accepted",
				    (long long)st->max_skills);
	if (overall != NULL && overall->type != MSGPACK_OBJECT_NIL &&
	    (!anautil_number(overall, &d) || d < 0 || d > 1))
		return ima_req_fail(req, 422, "invalid_field",
				    "extracted_skills_json.overall_confidence",
				    "overall_confidence must be a finite number within 0-1");

	msgpack_pack_map(pk, 4);
	for (size_t i = 0; i < 2; i++) {
		const msgpack_object *v = anautil_map_get(es, copied[i]);

		ima_pack_cstr(pk, copied[i]);
		if (v != NULL && v->type == MSGPACK_OBJECT_STR)
			ima_pack_strn(pk, v->via.str.ptr, v->via.str.size);
		else
			msgpack_pack_nil(pk);
	}
	ima_pack_cstr(pk, "overall_confidence");
	if (overall != NULL && overall->type != MSGPACK_OBJECT_NIL)
		msgpack_pack_double(pk, d);
	else
		msgpack_pack_nil(pk);
	ima_pack_cstr(pk, "skills");
	if (skills == NULL || skills->type != MSGPACK_OBJECT_ARRAY) {
		msgpack_pack_array(pk, 0);
		return IMA_CONTINUE;
	}
	msgpack_pack_array(pk, skills->via.array.size);
	for (uint32_t i = 0; i < skills->via.array.size; i++) {
		const msgpack_object *e = &skills->via.array.ptr[i];
		const msgpack_object *name, *conf;
		double c = 0;

		snprintf(field, sizeof(field), "extracted_skills_json.skills[%u]", i);
		if (e->type == MSGPACK_OBJECT_STR) {
			/* A bare name is a skill of unknown confidence. */
			name = e;
			conf = NULL;
		} else if (e->type == MSGPACK_OBJECT_MAP) {
			name = anautil_map_get(e, "skill");
			if (name == NULL)
				name = anautil_map_get(e, "name");
			conf = anautil_map_get(e, "confidence");
		} else {
			return ima_req_fail(req, 422, "invalid_field", field,
					    "each skill must be an object {\"skill\", \"confidence\"}");
		}
		if (name == NULL || name->type != MSGPACK_OBJECT_STR ||
		    request_is_blank(name->via.str.ptr, name->via.str.size))
			return ima_req_fail(req, 422, "invalid_field", field,
					    "skill entry has no name (\"skill\": \"...\")");
		if (conf != NULL && conf->type != MSGPACK_OBJECT_NIL &&
		    (!anautil_number(conf, &c) || c < 0 || c > 1)) {
			snprintf(field, sizeof(field),
				 "extracted_skills_json.skills[%u].confidence", i);
			return ima_req_fail(req, 422, "invalid_field", field,
					    "confidence must be a finite number within 0-1");
		}
		msgpack_pack_map(pk, 2);
		ima_pack_cstr(pk, "skill");
		ima_pack_strn(pk, name->via.str.ptr, name->via.str.size);
		ima_pack_cstr(pk, "confidence");
		msgpack_pack_double(pk, c);
	}
	return IMA_CONTINUE;
}

/* The numbers of a date written YYYY-MM-DD, years 1900-2200; whether it
 * is a day of the calendar is ima_req_set_reference_date()'s check. */
static bool request_parse_date(const char *s, size_t n, int *y, int *m, int *d)
{
	int v[3] = { 0, 0, 0 };

	if (n != 10)
		return false;
	for (size_t i = 0, part = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return false;
			part++;
		} else if (s[i] >= '0' && s[i] <= '9') {
			v[part] = v[part] * 10 + (s[i] - '0');
		} else {
			return false;
		}
	}
	*y = v[0];
	*m = v[1];
	*d = v[2];
	return *y >= 1900 && *y <= 2200;
}

static enum ima_rc request_check_enum(struct ima_req *req,
				      const msgpack_object *v,
				      const char *field,
				      const char *const *allowed)
{
	if (v->type == MSGPACK_OBJECT_STR)
		for (const char *const *a = allowed; *a; a++)
			if (v->via.str.size == strlen(*a) &&
			    memcmp(v->via.str.ptr, *a, v->via.str.size) == 0)
				return IMA_CONTINUE;
	return ima_req_fail(req, 422, "invalid_field", field,
			    "%s must be one of %s|%s|%s", field, allowed[0],
			    allowed[1], allowed[2]);
}

static enum ima_rc request_process(struct ima_req *req, void *state)
{
	static const char *const modes[] = { "conservative", "balanced", "bold", NULL };
	static const char *const budgets[] = { "low", "balanced", "premium", NULL };
	const struct request_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *body = ima_ctx_get(ctx, "_request");
	const msgpack_object *f[F_COUNT] = { 0 };
	const char *given[F_COUNT] = { 0 };
	msgpack_object skills_obj, insights_obj;
	int year, month, day;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	double threshold = st->default_threshold;
	enum ima_rc rc = IMA_CONTINUE;
	size_t nout;

	if (body == NULL || body->type != MSGPACK_OBJECT_MAP)
		return ima_req_fail(req, 422, "invalid_request", "",
				    "the request must be an object");
	for (uint32_t i = 0; i < body->via.map.size; i++) {
		const msgpack_object *k = &body->via.map.ptr[i].key;

		/* An explicit null is absent, also next to an alias that has
		 * a value: clients serialise optional fields. */
		if (k->type != MSGPACK_OBJECT_STR ||
		    body->via.map.ptr[i].val.type == MSGPACK_OBJECT_NIL)
			continue;
		for (int fi = 0; fi < F_COUNT; fi++) {
			for (int a = 0; a < 3 && request_names[fi][a]; a++) {
				const char *name = request_names[fi][a];

				if (k->via.str.size != strlen(name) ||
				    memcmp(k->via.str.ptr, name, k->via.str.size) != 0)
					continue;
				if (f[fi] != NULL)
					return ima_req_fail(req, 422, "invalid_field", name,
							    "%s and %s both given; send one",
							    given[fi], name);
				f[fi] = &body->via.map.ptr[i].val;
				given[fi] = name;
			}
		}
	}

	if (f[F_RESUME] == NULL)
		return ima_req_fail(req, 422, "missing_field", "resume_text",
				    "resume_text is required");
	if (f[F_RESUME]->type != MSGPACK_OBJECT_STR)
		return ima_req_fail(req, 422, "invalid_field", "resume_text",
				    "resume_text must be a string");
	if (f[F_RESUME]->via.str.size > (uint64_t)st->max_resume_bytes)
		return ima_req_fail(req, 413, "too_large", "resume_text",
				    "resume_text has %u bytes; the limit is %lld",
				    f[F_RESUME]->via.str.size,
				    (long long)st->max_resume_bytes);
	if (request_is_blank(f[F_RESUME]->via.str.ptr, f[F_RESUME]->via.str.size))
		return ima_req_fail(req, 422, "invalid_field", "resume_text",
				    "resume_text must not be blank");
	if (f[F_JOB_AD] != NULL) {
		if (f[F_JOB_AD]->type != MSGPACK_OBJECT_STR)
			return ima_req_fail(req, 422, "invalid_field", given[F_JOB_AD],
					    "%s must be a string", given[F_JOB_AD]);
		if (f[F_JOB_AD]->via.str.size > (uint64_t)st->max_job_ad_bytes)
			return ima_req_fail(req, 413, "too_large", given[F_JOB_AD],
					    "%s has %u bytes; the limit is %lld",
					    given[F_JOB_AD], f[F_JOB_AD]->via.str.size,
					    (long long)st->max_job_ad_bytes);
	}
	if (f[F_THRESHOLD] != NULL &&
	    (!anautil_number(f[F_THRESHOLD], &threshold) || threshold < 0 ||
	     threshold > 1))
		return ima_req_fail(req, 422, "invalid_field", "confidence_threshold",
				    "confidence_threshold must be a finite number within 0-1");
	if (f[F_JOB_TITLE] != NULL && f[F_JOB_TITLE]->type != MSGPACK_OBJECT_STR)
		return ima_req_fail(req, 422, "invalid_field", "job_title",
				    "job_title must be a string");
	if (f[F_CREATIVITY] != NULL &&
	    request_check_enum(req, f[F_CREATIVITY], "creativity_mode", modes) != IMA_CONTINUE)
		return IMA_ERROR;
	if (f[F_BUDGET] != NULL &&
	    request_check_enum(req, f[F_BUDGET], "budget", budgets) != IMA_CONTINUE)
		return IMA_ERROR;
	/* What "Present" means for every later stage. */
	if (f[F_REFDATE] != NULL &&
	    (f[F_REFDATE]->type != MSGPACK_OBJECT_STR ||
	     !request_parse_date(f[F_REFDATE]->via.str.ptr, f[F_REFDATE]->via.str.size,
				 &year, &month, &day) ||
	     ima_req_set_reference_date(req, year, month, day) != 0))
		return ima_req_fail(req, 422, "invalid_field", "reference_date",
				    "reference_date must be a date YYYY-MM-DD from 1900-01-01 to 2200-12-31");

	if (!msgpack_zone_init(&zone, 1024))
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	if (f[F_SKILLS] != NULL &&
	    (rc = request_json_field(req, f[F_SKILLS], "extracted_skills_json",
				     &zone, &skills_obj)) != IMA_CONTINUE)
		goto out;
	if (f[F_INSIGHTS] != NULL &&
	    (rc = request_json_field(req, f[F_INSIGHTS], "domain_insights_json",
				     &zone, &insights_obj)) != IMA_CONTINUE)
		goto out;

	nout = 9;
	msgpack_pack_map(&pk, nout);
	ima_pack_cstr(&pk, "resume_text");
	ima_pack_strn(&pk, f[F_RESUME]->via.str.ptr, f[F_RESUME]->via.str.size);
	ima_pack_cstr(&pk, "job_ad");
	if (f[F_JOB_AD] != NULL)
		ima_pack_strn(&pk, f[F_JOB_AD]->via.str.ptr, f[F_JOB_AD]->via.str.size);
	else
		ima_pack_strn(&pk, "", 0);
	ima_pack_cstr(&pk, "confidence_threshold");
	msgpack_pack_double(&pk, threshold);
	ima_pack_cstr(&pk, "extracted_skills");
	if (f[F_SKILLS] != NULL) {
		rc = request_pack_skills(req, st, &skills_obj, &pk);
		if (rc != IMA_CONTINUE)
			goto out;
	} else {
		msgpack_pack_nil(&pk);
	}
	ima_pack_cstr(&pk, "domain_insights");
	if (f[F_INSIGHTS] != NULL)
		request_pack_advisory(&pk, &insights_obj);
	else
		msgpack_pack_nil(&pk);
	ima_pack_cstr(&pk, "job_title");
	msgpack_pack_object(&pk, f[F_JOB_TITLE] ? *f[F_JOB_TITLE] : (msgpack_object){ .type = MSGPACK_OBJECT_NIL });
	ima_pack_cstr(&pk, "creativity_mode");
	if (f[F_CREATIVITY] != NULL)
		msgpack_pack_object(&pk, *f[F_CREATIVITY]);
	else
		ima_pack_cstr(&pk, "balanced");
	ima_pack_cstr(&pk, "budget");
	if (f[F_BUDGET] != NULL)
		msgpack_pack_object(&pk, *f[F_BUDGET]);
	else
		ima_pack_cstr(&pk, "balanced");
	ima_pack_cstr(&pk, "reference_date");
	msgpack_pack_object(&pk, f[F_REFDATE] ? *f[F_REFDATE] : (msgpack_object){ .type = MSGPACK_OBJECT_NIL });
	/* anautil_put destroys sb, whatever it returns. */
	rc = anautil_put(req, "_input", &sb);
	msgpack_zone_destroy(&zone);
	return rc;
out:
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&zone);
	return rc;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_request = {
	IMA_PLUGIN_HEADER,
	.name = "request",
	.version = "1.0.0",
	.description = "validates the request (fields, aliases, limits) and normalises it into _input",
	.options = request_options,
	.init = request_init,
	.process = request_process,
	.fini = request_fini,
};
