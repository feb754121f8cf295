/*
 * llm_prompt.h - versioned prompt files for the LLM stages (data/prompts/,
 * JSON): {"version": "gap.v1", "temperature": 0.2, "max_tokens": 1800,
 * "system": "...", "user": "... {{placeholder}} ...", "schema": {...}}.
 *
 * A prompt is loaded and checked once, in a stage's init, and then only
 * read (any thread). Rendering puts user-supplied text between markers
 * (<resume> ... </resume>) after neutralising any marker inside it, so
 * the text cannot close its own block and pose as instructions.
 *
 * Compiled into each plugin that uses it (hidden symbols).
 */
#ifndef LLM_PROMPT_H
#define LLM_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "ima_plugin.h"

struct llm_prompt {
	char *path;          /* the file, for messages */
	char *version;       /* "gap.v1": part of every call's cache key */
	double temperature;  /* 0..2 */
	int max_tokens;      /* 0 when the file sets none */
	char *system;
	char *user;          /* the template */
	msgpack_sbuffer schema_buf;
	msgpack_unpacked schema_unpacked;
	const msgpack_object *schema; /* the answer's JSON Schema */
};

/*
 * Loads the prompt file name (resolved with ima_data_path) and checks it:
 * every member present with its type, temperature 0..2, a schema that is
 * a JSON Schema object ("type": "object" with "properties"; every
 * "required" name among them), and a user template whose placeholders are
 * all in known and include every name in required (both NULL-terminated).
 * Returns the prompt (free it with llm_prompt_free), or NULL with a
 * message naming the file in err.
 */
struct llm_prompt *llm_prompt_load(const char *name, const char *const *known,
				   const char *const *required, char *err,
				   size_t size);
void llm_prompt_free(struct llm_prompt *p);

/* A placeholder's value for llm_prompt_render. */
struct llm_prompt_var {
	const char *name;  /* "resume" for {{resume}} */
	const char *value;
	size_t len;
	bool delimit;      /* put it between <name> and </name> */
};

/* The markers neutralised in every value ("resume", "job_ad", ...). */
extern const char *const llm_prompt_markers[];

/*
 * Renders tmpl, replacing each {{name}} by its variable's value (a
 * placeholder without a variable becomes ""). Values are not rendered
 * again, so a "{{" in a resume stays as it is; a "<" that opens any of
 * llm_prompt_markers in a value ("</resume>", "< Resume", "<job_ad") is
 * written as "&lt;". Returns a NUL-terminated buffer from ima_malloc (the
 * caller frees it with ima_free) and its length, or NULL when memory ran
 * out.
 */
char *llm_prompt_render(const char *tmpl, const struct llm_prompt_var *vars,
			size_t nvars, size_t *len);

/* ---- a growable text buffer (ima_malloc), for building values ---- */

struct llm_text {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* memory ran out: the contents are incomplete */
};

void llm_text_append(struct llm_text *t, const char *s, size_t n);
void llm_text_printf(struct llm_text *t, const char *fmt, ...) IMA_PRINTF(2, 3);
/* The buffer's text, "" when empty (never NULL). */
const char *llm_text_str(const struct llm_text *t);
void llm_text_free(struct llm_text *t);

#endif
