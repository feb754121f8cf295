/*
 * llmsim - a stand-in for the calls of an LLM stage, used by the call-cache
 * tests and the trace benchmark (bench/ima-trace). Never installed, never
 * in a product configuration, never on the network.
 *
 * Per analysis it makes two "calls" through ima_call_cache_get/put: one
 * whose prompt holds the resume only (a resume summary), one with the
 * resume and the job ad (a gap analysis), priced by its options. A call
 * that misses the cache is "made": its result is computed from the prompt
 * (word counts) after delay_ms. With parallel = true both calls run on
 * their own threads at once, as independent LLM calls will.
 *
 * Writes llmsim {resume_words, pair_words} to the answer, _cost_usd (the
 * price of both calls, whether made or reused: what the answer is worth)
 * and _metrics.llmsim {made, reused, spent_usd}.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ima_plugin.h"

struct llmsim {
	double price[2];
	int64_t delay_ms, pair_delay_ms;
	bool parallel;
	bool ask_twice;
	bool fail_resume;
};

struct llmsim_call {
	struct ima_req *req;
	const struct llmsim *st;
	int index; /* 0: the resume alone, 1: the pair */
	msgpack_sbuffer prompt; /* the call, packed */
	double price;
	int64_t words;
	bool reused;
	bool ok;
};

static const struct ima_option llmsim_options[] = {
	{ "resume_cost_usd", IMA_OPT_DOUBLE, "0.06", "price of the call on the resume alone", 0 },
	{ "pair_cost_usd", IMA_OPT_DOUBLE, "0.09", "price of the call on the resume and the job ad", 0 },
	{ "delay_ms", IMA_OPT_INT, "0", "how long a call that is made takes", 0 },
	{ "parallel", IMA_OPT_BOOL, "true", "make both calls at once, on two threads", 0 },
	{ "ask_twice", IMA_OPT_BOOL, "false", "after a miss, ask the cache once more before making the call", 0 },
	{ "fail_resume", IMA_OPT_BOOL, "false", "the call on the resume fails (after delay_ms); the request then fails", 0 },
	{ "pair_delay_ms", IMA_OPT_INT, "0", "how much longer the call on the pair takes", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int llmsim_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct llmsim *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->price[0] = ima_conf_double(conf, "resume_cost_usd");
	st->price[1] = ima_conf_double(conf, "pair_cost_usd");
	st->delay_ms = ima_conf_int(conf, "delay_ms");
	st->parallel = ima_conf_bool(conf, "parallel");
	st->ask_twice = ima_conf_bool(conf, "ask_twice");
	st->fail_resume = ima_conf_bool(conf, "fail_resume");
	st->pair_delay_ms = ima_conf_int(conf, "pair_delay_ms");
	*state = st;
	return 0;
}

static void llmsim_fini(void *state)
{
	ima_free(state);
}

static int64_t llmsim_words(const char *s, size_t n)
{
	int64_t words = 0;
	bool in = false;

	for (size_t i = 0; i < n; i++) {
		bool space = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';

		words += !space && !in;
		in = !space;
	}
	return words;
}

/* Packs {"model", "temperature", "messages": [{"role": "user", "content"}]}
 * with the content in one or two parts. */
static void llmsim_prompt(msgpack_sbuffer *sb, const char *task, const char *a, size_t an,
			  const char *b, size_t bn)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	ima_pack_cstr(&pk, "model");
	ima_pack_cstr(&pk, "sim-1");
	ima_pack_cstr(&pk, "temperature");
	msgpack_pack_double(&pk, 0.2);
	ima_pack_cstr(&pk, "messages");
	msgpack_pack_array(&pk, 2 + (b != NULL));
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "role");
	ima_pack_cstr(&pk, "system");
	ima_pack_cstr(&pk, "content");
	ima_pack_cstr(&pk, task);
	for (int i = 0; i < 1 + (b != NULL); i++) {
		msgpack_pack_map(&pk, 2);
		ima_pack_cstr(&pk, "role");
		ima_pack_cstr(&pk, "user");
		ima_pack_cstr(&pk, "content");
		ima_pack_strn(&pk, i == 0 ? a : b, i == 0 ? an : bn);
	}
}

/* One call: from the cache, or made and then stored. */
static void *llmsim_run(void *arg)
{
	struct llmsim_call *c = arg;
	msgpack_zone zone;
	msgpack_object call, res;
	msgpack_sbuffer out;
	size_t off = 0;
	double cost = 0;

	if (!msgpack_zone_init(&zone, 1024))
		return NULL;
	if (msgpack_unpack(c->prompt.data, c->prompt.size, &off, &zone, &call) !=
	    MSGPACK_UNPACK_SUCCESS) {
		msgpack_zone_destroy(&zone);
		return NULL;
	}
	msgpack_sbuffer_init(&out);
	if (ima_call_cache_get(c->req, &call, &out, &cost) == 1) {
		off = 0;
		if (msgpack_unpack(out.data, out.size, &off, &zone, &res) == MSGPACK_UNPACK_SUCCESS &&
		    res.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			c->words = (int64_t)res.via.u64;
			c->reused = c->ok = true;
		}
	}
	if (!c->ok) {
		/* Made: the words of the user messages. */
		const msgpack_object *msgs = &call.via.map.ptr[2].val;
		msgpack_packer pk;

		if (c->st->ask_twice && ima_call_cache_get(c->req, &call, &out, &cost) == 1)
			out.size = 0; /* cannot be: nothing stored it meanwhile */
		int64_t ms = c->st->delay_ms + (c->index == 1 ? c->st->pair_delay_ms : 0);

		if (ms > 0) {
			struct timespec d = { ms / 1000, (ms % 1000) * 1000000 };

			nanosleep(&d, NULL);
		}
		if (c->index == 0 && c->st->fail_resume) {
			/* Failed: nothing to store, the claim ends now. */
			ima_call_cache_put(c->req, &call, NULL, 0, 0);
			msgpack_sbuffer_destroy(&out);
			msgpack_zone_destroy(&zone);
			return NULL;
		}
		c->words = 0;
		for (uint32_t i = 1; i < msgs->via.array.size; i++) {
			const msgpack_object *content = &msgs->via.array.ptr[i].via.map.ptr[1].val;

			c->words += llmsim_words(content->via.str.ptr, content->via.str.size);
		}
		out.size = 0;
		msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
		msgpack_pack_int64(&pk, c->words);
		ima_call_cache_put(c->req, &call, out.data, out.size, c->price);
		c->ok = true;
	}
	msgpack_sbuffer_destroy(&out);
	msgpack_zone_destroy(&zone);
	return NULL;
}

static enum ima_rc llmsim_process(struct ima_req *req, void *state)
{
	const struct llmsim *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	struct llmsim_call calls[2];
	pthread_t threads[2];
	bool started[2] = { false, false };
	const char *resume = "", *job = "";
	size_t rn = 0, jn = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	double value = 0, spent = 0;
	int made = 0, reused = 0, rc;

	ima_ctx_get_str(ctx, "_input.resume_text", &resume, &rn);
	ima_ctx_get_str(ctx, "_input.job_ad", &job, &jn);
	memset(calls, 0, sizeof(calls));
	llmsim_prompt(&calls[0].prompt, "Summarise this resume.", resume, rn, NULL, 0);
	llmsim_prompt(&calls[1].prompt, "Compare the resume with the job ad.", resume, rn, job, jn);
	for (int i = 0; i < 2; i++) {
		calls[i].req = req;
		calls[i].st = st;
		calls[i].index = i;
		calls[i].price = st->price[i];
		if (st->parallel)
			started[i] = pthread_create(&threads[i], NULL, llmsim_run, &calls[i]) == 0;
		if (!started[i])
			llmsim_run(&calls[i]);
	}
	/* Every call ends before the stage does: the request is freed after. */
	for (int i = 0; i < 2; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		msgpack_sbuffer_destroy(&calls[i].prompt);
	}
	for (int i = 0; i < 2; i++) {
		if (!calls[i].ok)
			return ima_req_fail(req, 502, "llm_failed", "", "llmsim: call %d failed", i);
		value += calls[i].price;
		if (calls[i].reused) {
			reused++;
		} else {
			made++;
			spent += calls[i].price;
		}
	}

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "resume_words");
	msgpack_pack_int64(&pk, calls[0].words);
	ima_pack_cstr(&pk, "pair_words");
	msgpack_pack_int64(&pk, calls[1].words);
	rc = ima_ctx_put_sbuffer(ctx, "llmsim", &sb);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_double(&pk, value);
	rc |= ima_ctx_put_sbuffer(ctx, "_cost_usd", &sb);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 3);
	ima_pack_cstr(&pk, "made");
	msgpack_pack_int(&pk, made);
	ima_pack_cstr(&pk, "reused");
	msgpack_pack_int(&pk, reused);
	ima_pack_cstr(&pk, "spent_usd");
	msgpack_pack_double(&pk, spent);
	rc |= ima_ctx_put_sbuffer(ctx, "_metrics.llmsim", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "out of memory");
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_llmsim = {
	IMA_PLUGIN_HEADER,
	.name = "llmsim",
	.version = "1",
	.description = "tests and benchmarks only: two priced calls per analysis through the call cache",
	.options = llmsim_options,
	.init = llmsim_init,
	.process = llmsim_process,
	.fini = llmsim_fini,
};
