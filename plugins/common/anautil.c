/* anautil.c - helpers shared by the analysis plugins. */
#include <math.h>
#include <string.h>

#include "anautil.h"

const unsigned char anautil_word_table[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, [0x80 ... 0xff] = 1
};

const msgpack_object *anautil_map_get(const msgpack_object *map,
				      const char *key)
{
	size_t n = strlen(key);

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    (n == 0 || memcmp(k->via.str.ptr, key, n) == 0))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

bool anautil_str_is(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	       o->via.str.size == strlen(s) &&
	       (o->via.str.size == 0 || memcmp(o->via.str.ptr, s, o->via.str.size) == 0);
}

bool anautil_str(const msgpack_object *o, const char **s, size_t *n)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return false;
	*s = o->via.str.size > 0 ? o->via.str.ptr : "";
	*n = o->via.str.size;
	return true;
}

bool anautil_elem_str(const msgpack_object *arr, uint32_t i, const char *key,
		      const char **s, size_t *n)
{
	const msgpack_object *e;

	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY || i >= arr->via.array.size)
		return false;
	e = &arr->via.array.ptr[i];
	if (key != NULL)
		e = anautil_map_get(e, key);
	return anautil_str(e, s, n) && *n > 0;
}

int anautil_ctx_str(struct ima_ctx *ctx, const char *path, const char **s,
		    size_t *n)
{
	return anautil_str(ima_ctx_get(ctx, path), s, n) ? 0 : -1;
}

bool anautil_number(const msgpack_object *o, double *out)
{
	if (o == NULL)
		return false;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return false;
		*out = o->via.f64;
		return true;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return true;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return true;
	default:
		return false;
	}
}

void anautil_pack_key(msgpack_packer *pk, const char *key)
{
	ima_pack_cstr(pk, key);
}

void anautil_pack_kv_str(msgpack_packer *pk, const char *key, const char *s)
{
	ima_pack_cstr(pk, key);
	ima_pack_cstr(pk, s);
}

void anautil_pack_kv_strn(msgpack_packer *pk, const char *key, const char *s,
			  size_t n)
{
	ima_pack_cstr(pk, key);
	ima_pack_strn(pk, s, n);
}

void anautil_pack_kv_double(msgpack_packer *pk, const char *key, double d)
{
	ima_pack_cstr(pk, key);
	msgpack_pack_double(pk, d);
}

void anautil_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v)
{
	ima_pack_cstr(pk, key);
	msgpack_pack_int64(pk, v);
}

void anautil_pack_score(msgpack_packer *pk, double d)
{
	msgpack_pack_double(pk, round(anautil_clamp01(d) * 1000.0) / 1000.0);
}

enum ima_rc anautil_put(struct ima_req *req, const char *key,
			msgpack_sbuffer *sb)
{
	struct ima_error err;
	int rc = ima_ctx_put_sbuffer(ima_req_ctx(req), key, sb);

	/* The context refuses a value that is not exactly one well-formed
	 * msgpack value as well as when memory runs out (packing it, or
	 * storing it): the checker tells the two apart (and allocates
	 * nothing). */
	if (rc != 0 && !ima_sbuffer_failed(sb) && ima_msgpack_check(sb->data, sb->size, &err) != 0) {
		msgpack_sbuffer_destroy(sb);
		return ima_req_fail(req, 500, "internal", "",
				    "cannot store %s: the packed value is malformed (%s)",
				    key, err.message);
	}
	msgpack_sbuffer_destroy(sb);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "",
				    "cannot store %s (out of memory)", key);
	return IMA_CONTINUE;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool anautil_eq_ci(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n && word[i]; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)word[i]))
			return false;
	return i == n && word[i] == '\0';
}

void anautil_wordset_init(struct anautil_wordset *ws, const char *const *words)
{
	size_t n = 0;

	memset(ws->head, -1, sizeof(ws->head));
	ws->words = words;
	/* Walk backwards so each bucket keeps the list's order. */
	while (n < ANAUTIL_WORDSET_MAX && words[n] != NULL)
		n++;
	for (size_t i = n; i-- > 0;) {
		unsigned char c = (unsigned char)words[i][0];

		ws->len[i] = (unsigned char)strlen(words[i]);
		ws->next[i] = ws->head[c];
		ws->head[c] = (signed char)i;
	}
}

size_t anautil_wordset_count(const struct anautil_wordset *ws,
			     const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t count = 0, i = 0;

	while (i < len) {
		while (i < len && !anautil_word_table[t[i]])
			i++;
		if (i == len)
			break;
		for (int w = ws->head[lower(t[i])]; w >= 0; w = ws->next[w]) {
			const char *word = ws->words[w];
			size_t n = ws->len[w], k;

			if (n > len - i)
				continue;
			for (k = 1; k < n; k++)
				if (lower(t[i + k]) != (unsigned char)word[k])
					break;
			if (k == n && (i + n == len || !anautil_word_table[t[i + n]])) {
				count++;
				break;
			}
		}
		while (i < len && anautil_word_table[t[i]])
			i++;
	}
	return count;
}

size_t anautil_count_words(const char *text, size_t len,
			   const char *const *words)
{
	struct anautil_wordset ws;

	anautil_wordset_init(&ws, words);
	return anautil_wordset_count(&ws, text, len);
}

const char *const anautil_level_names[4] = { "junior", "mid-level", "senior",
					      "principal" };

enum anautil_level anautil_level_from_years(double years)
{
	if (years < 2)
		return LEVEL_JUNIOR;
	if (years < 5)
		return LEVEL_MID;
	if (years < 10)
		return LEVEL_SENIOR;
	return LEVEL_PRINCIPAL;
}

int anautil_level_from_title(const char *title, size_t len)
{
	static const char *const principal[] = {
		"principal", "staff", "head", "director", "vp", "vice president",
		"chief", "cto", "ceo", "cio", "cfo", "coo", "distinguished",
		"fellow", "partner", NULL
	};
	static const char *const senior[] = { "senior", "sr", "lead", "manager",
					      "architect", NULL };
	static const char *const junior[] = {
		"junior", "jr", "intern", "internship", "trainee", "graduate",
		"entry level", "entry-level", "apprentice", "assistant", "fresher",
		NULL
	};

	if (anautil_count_words(title, len, principal))
		return LEVEL_PRINCIPAL;
	if (anautil_count_words(title, len, senior))
		return LEVEL_SENIOR;
	if (anautil_count_words(title, len, junior))
		return LEVEL_JUNIOR;
	return -1;
}

int anautil_level_parse(const char *s, size_t n)
{
	for (int i = 0; i < 4; i++)
		if (anautil_eq_ci(s, n, anautil_level_names[i]))
			return i;
	return -1;
}
