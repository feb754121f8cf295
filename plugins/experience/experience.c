/*
 * experience - splits the resume into jobs (title, company, location,
 * dates, duration, description) and measures total years of experience
 * (merged date ranges, explicit "N years of experience" statements).
 *
 * Writes "experiences" (public; the skills stage adds each job's skills)
 * and "_experience" {total_years, merged_months, stated_years, spans}.
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "exp_parse.h"

struct experience_state {
	int64_t max_experiences;
};

static const struct ima_option experience_options[] = {
	{ "max_experiences", IMA_OPT_INT, "40",
	  "most jobs reported (the most recent first as written)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int experience_init(const struct ima_conf *conf, void **state,
			   struct ima_error *err)
{
	struct experience_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->max_experiences = ima_conf_int(conf, "max_experiences");
	if (st->max_experiences < 1) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "max_experiences",
				     "max_experiences must be at least 1");
	}
	*state = st;
	return 0;
}

static void experience_fini(void *state)
{
	ima_free(state);
}

/* "2020-03", "2020" or nil. */
static void experience_pack_date(msgpack_packer *pk, int year, int month)
{
	char buf[32];

	if (year <= 0) {
		msgpack_pack_nil(pk);
		return;
	}
	if (month > 0)
		snprintf(buf, sizeof(buf), "%04d-%02d", year, month);
	else
		snprintf(buf, sizeof(buf), "%04d", year);
	ima_pack_cstr(pk, buf);
}

static enum ima_rc experience_process(struct ima_req *req, void *state)
{
	const struct experience_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	struct experience_result res;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *text;
	size_t len, n;
	int y, m, d;
	enum ima_rc rc;

	if (ima_ctx_get_str(ctx, "_input.resume_text", &text, &len) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "experience needs the request stage before it");
	ima_req_reference_date(req, &y, &m, &d);
	memset(&res, 0, sizeof(res));
	if (experience_parse(text, len, y, m, &res) != 0) {
		experience_result_free(&res);
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	}
	n = res.count < (size_t)st->max_experiences ? res.count
						     : (size_t)st->max_experiences;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		const struct experience_entry *e = &res.entries[i];

		msgpack_pack_map(&pk, 9);
		anautil_pack_kv_str(&pk, "title_line", e->title_line);
		anautil_pack_kv_str(&pk, "title", e->title);
		anautil_pack_kv_str(&pk, "company", e->company);
		anautil_pack_kv_str(&pk, "location", e->location);
		anautil_pack_key(&pk, "start");
		experience_pack_date(&pk, e->start_year, e->start_month);
		anautil_pack_key(&pk, "end");
		if (e->end_present)
			ima_pack_cstr(&pk, "Present");
		else
			experience_pack_date(&pk, e->end_year, e->end_month);
		anautil_pack_kv_int(&pk, "duration_months", e->duration_months);
		anautil_pack_key(&pk, "skills");
		msgpack_pack_array(&pk, 0);
		anautil_pack_kv_str(&pk, "snippet", e->snippet ? e->snippet : "");
	}
	rc = anautil_put(req, "experiences", &sb);
	if (rc != IMA_CONTINUE)
		goto out;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	anautil_pack_kv_double(&pk, "total_years", res.total_years);
	anautil_pack_kv_int(&pk, "merged_months", res.merged_months);
	anautil_pack_kv_double(&pk, "stated_years", res.stated_years);
	anautil_pack_kv_str(&pk, "headline_title", res.headline_title);
	/* Byte spans of each job's block, for per-job skill attribution. */
	anautil_pack_key(&pk, "spans");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint64(&pk, res.entries[i].text_start);
		msgpack_pack_uint64(&pk, res.entries[i].text_end);
	}
	rc = anautil_put(req, "_experience", &sb);
out:
	experience_result_free(&res);
	return rc;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_experience = {
	IMA_PLUGIN_HEADER,
	.name = "experience",
	.version = "1.0.0",
	.description = "splits the resume into jobs with dates and durations; total years without double counting",
	.options = experience_options,
	.init = experience_init,
	.process = experience_process,
	.fini = experience_fini,
};
