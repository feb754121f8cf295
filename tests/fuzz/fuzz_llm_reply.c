/*
 * fuzz_llm_reply.c - an LLM provider's answer, from the HTTP body to what
 * a stage writes: the chat-completion parser
 * (plugins/llm_openrouter/openrouter_util.c) on the body and on the body
 * cut short, the error message taken from a failed body, the content as
 * JSON (ima_json_to_msgpack, as core/ima_calls.c reads it), validated
 * against every shipped prompt's schema, and the grounding guard
 * (plugins/common/llm_guard.c) over it against a fixed resume, whose
 * output is validated again, as llm_stage.c does.
 */
#include <msgpack.h>

#include "fuzz.h"
#include "ima_core.h"
#include "ima_plugin.h"
#include "llm_guard.h"
#include "openrouter.h"
#include "skillmatch.h"

static const char *const fuzz_prompts[] = {
	"prompts/gap.v1.json", "prompts/gap.v2.json", "prompts/profile.v1.json",
	"prompts/suggestions.v1.json", "prompts/critic.v1.json"
};
#define FUZZ_NPROMPTS (sizeof(fuzz_prompts) / sizeof(fuzz_prompts[0]))

/* Written for these tests: no real person's resume. */
static const char fuzz_resume[] =
	"Alex Example\nSoftware Engineer - Initech\n"
	"Summary: 7 years of experience building Python and Go services.\n"
	"Initech, Backend Engineer, Jan 2019 - Present\n"
	"- Cut p99 latency by 40% on a PostgreSQL-backed API serving 2M requests a day\n"
	"- Ran Kubernetes clusters with Terraform and Helm\n"
	"Globex, Developer, 2016 - 2018\n- Java, Spring, Docker, AWS\n"
	"Education: BSc Computer Science, 2015\n";
static const char fuzz_ad[] =
	"Senior Backend Engineer\nRequirements: 5+ years with Python, Kafka and AWS.\n"
	"Nice to have: Rust, gRPC.\n";

static msgpack_unpacked fuzz_schemas[FUZZ_NPROMPTS];
static const msgpack_object *fuzz_schema[FUZZ_NPROMPTS];
static msgpack_sbuffer fuzz_schema_buf[FUZZ_NPROMPTS];
static struct llm_guard *fuzz_guard;

static void fuzz_load_schema(size_t i)
{
	char path[4096];
	struct ima_error e;
	size_t len = 0, off = 0;
	char *text;

	ima_fuzz_data_path(path, sizeof(path), fuzz_prompts[i]);
	text = skillmatch_read_file(path, &len);
	msgpack_sbuffer_init(&fuzz_schema_buf[i]);
	msgpack_unpacked_init(&fuzz_schemas[i]);
	if (text == NULL || ima_json_to_msgpack(text, len, &fuzz_schema_buf[i], &e) != 0 ||
	    msgpack_unpack_next(&fuzz_schemas[i], fuzz_schema_buf[i].data, fuzz_schema_buf[i].size,
				&off) != MSGPACK_UNPACK_SUCCESS ||
	    fuzz_schemas[i].data.type != MSGPACK_OBJECT_MAP) {
		fprintf(stderr, "fuzz_llm_reply: %s: cannot read the prompt\n", path);
		exit(1);
	}
	for (uint32_t k = 0; k < fuzz_schemas[i].data.via.map.size; k++) {
		const msgpack_object_kv *kv = &fuzz_schemas[i].data.via.map.ptr[k];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 6 &&
		    memcmp(kv->key.via.str.ptr, "schema", 6) == 0)
			fuzz_schema[i] = &kv->val;
	}
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *texts[] = { fuzz_resume, fuzz_ad };
	size_t lens[] = { sizeof(fuzz_resume) - 1, sizeof(fuzz_ad) - 1 };
	char err[512];

	(void)argc;
	(void)argv;
	ima_fuzz_env();
	if (llm_guard_open(err, sizeof(err)) != 0)
		fprintf(stderr, "fuzz_llm_reply: the guard without its dictionary: %s\n", err);
	for (size_t i = 0; i < FUZZ_NPROMPTS; i++)
		fuzz_load_schema(i);
	fuzz_guard = llm_guard_from_texts(texts, lens, 2);
	if (fuzz_guard == NULL)
		exit(1);
	return 0;
}

/* The content as a stage sees it: JSON, each schema, the guard. */
static void fuzz_content(const char *text, size_t len)
{
	struct ima_error err = { 0 };
	msgpack_sbuffer sb;
	msgpack_unpacked up;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&up);
	if (ima_json_to_msgpack(text, len, &sb, &err) == 0 &&
	    msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
		struct llm_guard_counts counts = { 0, 0 };
		msgpack_sbuffer gb;
		msgpack_packer pk;
		char why[300];

		for (size_t i = 0; i < FUZZ_NPROMPTS; i++)
			if (fuzz_schema[i] != NULL)
				ima_json_schema_check(fuzz_schema[i], &up.data, why, sizeof(why));
		msgpack_sbuffer_init(&gb);
		msgpack_packer_init(&pk, &gb, msgpack_sbuffer_write);
		if (llm_guard_pack(fuzz_guard, &up.data, &pk, &counts) == 0) {
			msgpack_unpacked gu;
			size_t goff = 0;

			msgpack_unpacked_init(&gu);
			FUZZ_CHECK(msgpack_unpack_next(&gu, gb.data, gb.size, &goff) ==
				   MSGPACK_UNPACK_SUCCESS);
			for (size_t i = 0; i < FUZZ_NPROMPTS; i++)
				if (fuzz_schema[i] != NULL)
					ima_json_schema_check(fuzz_schema[i], &gu.data, why,
							      sizeof(why));
			msgpack_unpacked_destroy(&gu);
		}
		msgpack_sbuffer_destroy(&gb);
	}
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	/* One string as the guard's verdict on it. */
	if (len <= 4096) {
		char *out = NULL;
		size_t olen = 0;
		int rewritten = 0;

		if (llm_guard_string(fuzz_guard, text, len, &out, &olen, &rewritten) == 0)
			FUZZ_CHECK(out != NULL && out[olen] == '\0');
		ima_free(out);
	}
}

static void fuzz_body(const char *body, size_t len)
{
	struct openrouter_reply reply;
	char msg[256];

	memset(&reply, 0, sizeof(reply));
	if (openrouter_reply_parse(body, len, &reply) == OPENROUTER_PARSE_OK) {
		FUZZ_CHECK(reply.content != NULL);
		fuzz_content(reply.content, reply.content_len);
	}
	openrouter_reply_free(&reply);
	openrouter_error_message(body, len, NULL, msg, sizeof(msg));
	FUZZ_CHECK(strlen(msg) < sizeof(msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The parser wants a NUL-terminated body, as curl's buffer is. */
	char *body = malloc(size + 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	fuzz_body(body, size);
	/* A body cut short (a closed connection, max_tokens). */
	body[size / 2] = '\0';
	fuzz_body(body, size / 2);
	/* The bytes as the content itself. */
	memcpy(body, data, size);
	body[size] = '\0';
	fuzz_content(body, size);
	free(body);
	return 0;
}
