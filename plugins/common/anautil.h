/*
 * anautil.h - small helpers shared by the analysis plugins: reading
 * unpacked msgpack maps, packing key/value pairs, word tests on text.
 * Compiled into each plugin (hidden symbols), never exported.
 */
#ifndef ANAUTIL_H
#define ANAUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "ima_plugin.h"

/* Value of key in a map object, or NULL. */
const msgpack_object *anautil_map_get(const msgpack_object *map,
				      const char *key);
/* True when o is the string s. */
bool anautil_str_is(const msgpack_object *o, const char *s);
/*
 * o as a string: true with *s and *n when it is one. msgpack-c unpacks an
 * empty string with a NULL pointer; *s is never NULL here, so callers may
 * add offsets to it and pass it to memcmp or memcpy.
 */
bool anautil_str(const msgpack_object *o, const char **s, size_t *n);
/* Element i of the array arr as a non-empty string, or its key member's
 * when key is not NULL (lists of skills as strings or as maps): true with
 * *s and *n. */
bool anautil_elem_str(const msgpack_object *arr, uint32_t i, const char *key,
		      const char **s, size_t *n);
/* ima_ctx_get_str with the same guarantee: 0, or -1 (s, n untouched) when
 * path is not a string. */
int anautil_ctx_str(struct ima_ctx *ctx, const char *path, const char **s,
		    size_t *n);
/* o as a double (floats and integers); false when not a number or not
 * finite: NaN and infinities defeat every range check and have no JSON
 * form, so no stage computes with them. */
bool anautil_number(const msgpack_object *o, double *out);

void anautil_pack_key(msgpack_packer *pk, const char *key);
void anautil_pack_kv_str(msgpack_packer *pk, const char *key, const char *s);
void anautil_pack_kv_strn(msgpack_packer *pk, const char *key, const char *s,
			  size_t n);
void anautil_pack_kv_double(msgpack_packer *pk, const char *key, double d);
void anautil_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v);
/* Packs d rounded to 3 decimals (scores read better that way). */
void anautil_pack_score(msgpack_packer *pk, double d);

/* Stores sb under key in the request's context and destroys sb; returns
 * IMA_CONTINUE, or IMA_ERROR with a 500 that says whether the packed value
 * was malformed (a count that disagrees with its entries, a failed write)
 * or memory ran out. */
enum ima_rc anautil_put(struct ima_req *req, const char *key,
			msgpack_sbuffer *sb);

/* ASCII case-insensitive equality of s[0..n) and word. */
bool anautil_eq_ci(const char *s, size_t n, const char *word);
/* Word bytes: ASCII letters and digits, and every byte of a UTF-8
 * sequence. A table, because word scans touch every byte of a resume. */
extern const unsigned char anautil_word_table[256];
/* Is byte c part of a word (letters, digits, UTF-8)? */
static inline bool anautil_wordch(unsigned char c)
{
	return anautil_word_table[c] != 0;
}
/*
 * A set of lower-case cue words ("led", "team of") indexed by first byte,
 * built once (in a plugin's init) and then only read, by any thread.
 */
#define ANAUTIL_WORDSET_MAX 64
struct anautil_wordset {
	const char *const *words;
	unsigned char len[ANAUTIL_WORDSET_MAX];
	signed char next[ANAUTIL_WORDSET_MAX];
	signed char head[256];
};
/* words: NULL-terminated, at most ANAUTIL_WORDSET_MAX, lower case. */
void anautil_wordset_init(struct anautil_wordset *ws, const char *const *words);
/*
 * Counts whole-word, case-insensitive occurrences in text of any word of
 * the set. One pass: each word of the text costs a table lookup unless a
 * cue word starts with its first letter.
 */
size_t anautil_wordset_count(const struct anautil_wordset *ws,
			     const char *text, size_t len);
/* The same for a list used once (builds the set on the stack). */
size_t anautil_count_words(const char *text, size_t len,
			   const char *const *words);
/* Years as reported in answers: one decimal. */
static inline double anautil_years(double years)
{
	return (double)(long)(years * 10 + 0.5) / 10.0;
}

/* Clamps to 0..1. */
static inline double anautil_clamp01(double d)
{
	return d < 0 ? 0 : d > 1 ? 1 : d;
}

/* Seniority levels, ordered. */
enum anautil_level { LEVEL_JUNIOR = 0, LEVEL_MID, LEVEL_SENIOR, LEVEL_PRINCIPAL };
extern const char *const anautil_level_names[4];
/* Level from years of experience: <2 junior, <5 mid, <10 senior, else
 * principal. */
enum anautil_level anautil_level_from_years(double years);
/* Level named by title words ("Senior", "Intern", "Director"), or -1. */
int anautil_level_from_title(const char *title, size_t len);
/* Parses a level name back; -1 when unknown. */
int anautil_level_parse(const char *s, size_t n);

#endif
