/*
 * llm_guard.h - the grounding guard of LLM-written text: what reaches the
 * answer may name only employers, titles, dates and years, degrees and
 * numbers that the request itself holds (the resume, the job ad, the
 * request's structured input and the deterministic analysis).
 *
 * For each string of an LLM answer:
 *   - a number (integer, decimal, percentage, money such as $2.5M, 40k,
 *     3x, a year, a date such as 2020-03) that the facts do not hold is
 *     replaced in place by "[your figure]": the string is rewritten;
 *   - an organisation ("Globex Corporation", "at Initech"), a job title
 *     ("VP of Engineering", "Principal Architect") or a degree ("MBA",
 *     "PhD") that the facts do not hold condemns the string: the array
 *     element holding it (the string, or the map around it) is dropped,
 *     and a string that is no array's element becomes "".
 * docs/llm.md ("The grounding guard") gives the rules in full.
 *
 * Compiled into each plugin that uses it (hidden symbols), with
 * skillmatch.c and anautil.c.
 */
#ifndef LLM_GUARD_H
#define LLM_GUARD_H

#include <stddef.h>

#include "ima_plugin.h"

/* What replaces a number the facts do not hold. */
#define LLM_GUARD_PLACEHOLDER "[your figure]"

struct llm_guard; /* the facts of one request */

struct llm_guard_counts {
	size_t dropped;   /* array elements dropped, scalar strings emptied */
	size_t rewritten; /* strings kept with numbers replaced */
};

/*
 * Loads the skill dictionary (data/skills.tsv) that tells skill names
 * ("with Helm") from employers ("with Globex"), once for the plugin:
 * call it from the stage's init hook, and llm_guard_close() from its fini
 * (counted, so several stages of one plugin may each call both). Returns
 * 0, or -1 with a message naming the file in err. Without it the guard
 * still works, with the facts alone.
 */
int llm_guard_open(char *err, size_t errlen);
void llm_guard_close(void);

/*
 * The request's facts, built on first use from the context (_input and
 * the analysis stages' keys, never an LLM-written member) and kept as the
 * request's task data, so every later call of the stage reuses them.
 * Request memory: valid until the request ends. Request thread only.
 * Returns NULL when memory ran out.
 */
struct llm_guard *llm_guard_get(struct ima_req *req);

/*
 * Facts from texts alone (no request context): for tools and tests that
 * guard a text against a resume. texts holds n strings (lengths in lens).
 * The caller frees the result with llm_guard_free(). NULL when memory ran
 * out.
 */
struct llm_guard *llm_guard_from_texts(const char *const *texts,
				       const size_t *lens, size_t n);
void llm_guard_free(struct llm_guard *g);

/*
 * Packs a guarded copy of value (an LLM answer: maps, arrays, strings and
 * scalars at any depth) into pk. Map keys and non-string scalars are
 * copied as they are. Adds what it did to counts. Returns 0, or -1 when
 * memory ran out (pk then holds a partial value: discard it).
 */
int llm_guard_pack(struct llm_guard *g, const msgpack_object *value,
		   msgpack_packer *pk, struct llm_guard_counts *counts);

/*
 * One string's verdict, for tests and tools: 1 when it must be dropped,
 * else 0 with *out (ima_malloc'd, NUL-terminated, freed by the caller
 * with ima_free) the string with its ungrounded numbers replaced and
 * *rewritten set when any was. -1 when memory ran out.
 */
int llm_guard_string(struct llm_guard *g, const char *s, size_t len,
		     char **out, size_t *outlen, int *rewritten);

/*
 * Adds counts to the request's totals, written each time as
 * run_metrics.guard = {dropped, rewritten} (running totals over every
 * stage of the request). Request thread only.
 */
void llm_guard_account(struct ima_req *req,
		       const struct llm_guard_counts *counts);

#endif
