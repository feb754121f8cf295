/*
 * wordcount - an out-of-tree Imaginator stage, built against the installed
 * SDK only:
 *
 *   cc -shared -o wordcount.so wordcount.c \
 *      $(pkg-config --cflags --libs imaginator-plugin)
 *
 * It writes "text_stats": the word counts of the resume and the job ad, and
 * how many distinct words of the job ad (of min_length letters or more) the
 * resume also uses.
 */
#include <ctype.h>
#include <string.h>

#include <ima_plugin.h>

struct wordcount_state {
	int64_t min_length;
};

static const struct ima_option wordcount_options[] = {
	{ "min_length", IMA_OPT_INT, "4",
	  "shortest word counted in the overlap", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int wordcount_init(const struct ima_conf *conf, void **state,
			  struct ima_error *err)
{
	struct wordcount_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->min_length = ima_conf_int(conf, "min_length");
	if (st->min_length < 1 || st->min_length > 64) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "min_length",
				     "min_length must be within 1-64");
	}
	*state = st;
	return 0;
}

static size_t wordcount_words(const char *s, size_t n)
{
	size_t words = 0;
	int in = 0;

	for (size_t i = 0; i < n; i++) {
		int w = !isspace((unsigned char)s[i]);

		words += w && !in;
		in = w;
	}
	return words;
}

/* Does the resume contain word (case-insensitive, whole word)? */
static int wordcount_has(const char *text, size_t n, const char *w, size_t wl)
{
	for (size_t i = 0; i + wl <= n; i++) {
		if ((i > 0 && isalnum((unsigned char)text[i - 1])) ||
		    (i + wl < n && isalnum((unsigned char)text[i + wl])))
			continue;
		if (strncasecmp(text + i, w, wl) == 0)
			return 1;
	}
	return 0;
}

static enum ima_rc wordcount_process(struct ima_req *req, void *state)
{
	const struct wordcount_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *resume, *job;
	size_t rn, jn, shared = 0, distinct = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (ima_ctx_get_str(ctx, "_input.resume_text", &resume, &rn) != 0 ||
	    ima_ctx_get_str(ctx, "_input.job_ad", &job, &jn) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "wordcount needs the request stage before it");
	for (size_t i = 0; i < jn;) {
		size_t start, len;

		while (i < jn && !isalnum((unsigned char)job[i]))
			i++;
		start = i;
		while (i < jn && isalnum((unsigned char)job[i]))
			i++;
		len = i - start;
		if (len < (size_t)st->min_length ||
		    wordcount_has(job, start, job + start, len))
			continue; /* too short, or seen earlier in the ad */
		distinct++;
		shared += (size_t)wordcount_has(resume, rn, job + start, len);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	ima_pack_cstr(&pk, "resume_words");
	msgpack_pack_uint64(&pk, wordcount_words(resume, rn));
	ima_pack_cstr(&pk, "job_ad_words");
	msgpack_pack_uint64(&pk, wordcount_words(job, jn));
	ima_pack_cstr(&pk, "job_ad_distinct_words");
	msgpack_pack_uint64(&pk, distinct);
	ima_pack_cstr(&pk, "shared_words");
	msgpack_pack_uint64(&pk, shared);
	rc = ima_ctx_put_sbuffer(ctx, "text_stats", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE
		       : ima_req_fail(req, 500, "internal", "", "out of memory");
}

static void wordcount_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_wordcount = {
	IMA_PLUGIN_HEADER,
	.name = "wordcount",
	.version = "1.0.0",
	.description = "example out-of-tree stage: word counts and job-ad word overlap",
	.options = wordcount_options,
	.init = wordcount_init,
	.process = wordcount_process,
	.fini = wordcount_fini,
};
