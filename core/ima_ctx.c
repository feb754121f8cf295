/*
 * ima_ctx.c - the context carried between stages.
 *
 * The context is a msgpack map. It is kept as its top-level entries, each
 * holding the encoded bytes of its value: a stage that adds its result packs
 * one value, encoding the whole map is a concatenation, and a value is
 * unpacked only when some stage reads it (then once, into the context's
 * zone). Replaced values are kept until the context is freed so that objects
 * handed out earlier stay valid for the whole request.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ima_core.h"

struct ctx_entry {
	char *key;
	char *data;
	size_t len;
	bool decoded;
	msgpack_object obj;
};

struct ctx_retired {
	struct ctx_retired *next;
	char *data;
};

struct ima_ctx {
	struct ctx_entry *entries;
	size_t count;
	size_t cap;
	msgpack_zone *zone; /* created on the first read */
	struct ctx_retired *retired;
};

struct ima_ctx *ima_ctx_new(void)
{
	return ima_calloc(1, sizeof(struct ima_ctx));
}

static void ctx_clear(struct ima_ctx *ctx)
{
	for (size_t i = 0; i < ctx->count; i++) {
		ima_free(ctx->entries[i].key);
		ima_free(ctx->entries[i].data);
	}
	ctx->count = 0;
	while (ctx->retired) {
		struct ctx_retired *r = ctx->retired;

		ctx->retired = r->next;
		ima_free(r->data);
		ima_free(r);
	}
	if (ctx->zone) {
		msgpack_zone_free(ctx->zone);
		ctx->zone = NULL;
	}
}

void ima_ctx_free(struct ima_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx_clear(ctx);
	ima_free(ctx->entries);
	ima_free(ctx);
}

size_t ima_ctx_count(const struct ima_ctx *ctx)
{
	return ctx->count;
}

const char *ima_ctx_key(const struct ima_ctx *ctx, size_t i,
			const void **data, size_t *len)
{
	if (i >= ctx->count)
		return NULL;
	if (data)
		*data = ctx->entries[i].data;
	if (len)
		*len = ctx->entries[i].len;
	return ctx->entries[i].key;
}

static struct ctx_entry *ctx_find(struct ima_ctx *ctx, const char *key,
				  size_t keylen)
{
	for (size_t i = 0; i < ctx->count; i++)
		if (strncmp(ctx->entries[i].key, key, keylen) == 0 &&
		    ctx->entries[i].key[keylen] == '\0')
			return &ctx->entries[i];
	return NULL;
}

/* Takes ownership of data on success. */
static int ctx_put_owned(struct ima_ctx *ctx, const char *key, char *data,
			 size_t len)
{
	struct ima_error err;
	struct ctx_entry *e;

	/* Values from stages are trusted, but a malformed one would poison the
	 * cache and every later reader: check it is exactly one value. */
	if (ima_mp_validate(data, len, SIZE_MAX, IMA_DEFAULT_MAX_DEPTH, false,
			    &err) != 0) {
		ima_log(IMA_LOG_ERROR, "context key '%s': %s", key, err.message);
		return -1;
	}
	e = ctx_find(ctx, key, strlen(key));
	if (e != NULL) {
		struct ctx_retired *r = ima_malloc(sizeof(*r));

		if (r == NULL)
			return -1;
		r->data = e->data;
		r->next = ctx->retired;
		ctx->retired = r;
	} else {
		char *k;

		if (ctx->count == ctx->cap) {
			size_t cap = ctx->cap ? ctx->cap * 2 : 16;
			struct ctx_entry *n =
				ima_realloc(ctx->entries, cap * sizeof(*n));

			if (n == NULL)
				return -1;
			ctx->entries = n;
			ctx->cap = cap;
		}
		k = ima_strdup(key);
		if (k == NULL)
			return -1;
		e = &ctx->entries[ctx->count++];
		e->key = k;
	}
	e->data = data;
	e->len = len;
	e->decoded = false;
	return 0;
}

int ima_ctx_put(struct ima_ctx *ctx, const char *key, const void *data,
		size_t len)
{
	char *copy;

	/* What a failed sbuffer holds: never one value. */
	if (data == NULL)
		return -1;
	copy = ima_malloc(len);
	if (copy == NULL)
		return -1;
	memcpy(copy, data, len);
	if (ctx_put_owned(ctx, key, copy, len) != 0) {
		ima_free(copy);
		return -1;
	}
	return 0;
}

int ima_ctx_put_sbuffer(struct ima_ctx *ctx, const char *key,
			msgpack_sbuffer *sb)
{
	/* A write that ran out of memory emptied the buffer: refuse it as
	 * what it is rather than as a malformed value. msgpack_sbuffer
	 * allocates with malloc or ima_realloc; ima_free is free. */
	if (ima_sbuffer_failed(sb)) {
		errno = ENOMEM;
		return -1;
	}
	if (ctx_put_owned(ctx, key, sb->data, sb->size) != 0)
		return -1;
	sb->data = NULL;
	sb->size = 0;
	sb->alloc = 0;
	return 0;
}

int ima_ctx_remove(struct ima_ctx *ctx, const char *key)
{
	struct ctx_entry *e = ctx_find(ctx, key, strlen(key));
	struct ctx_retired *r;
	size_t i;

	if (e == NULL)
		return -1;
	r = ima_malloc(sizeof(*r));
	if (r == NULL)
		return -1;
	r->data = e->data;
	r->next = ctx->retired;
	ctx->retired = r;
	ima_free(e->key);
	i = (size_t)(e - ctx->entries);
	memmove(e, e + 1, (ctx->count - i - 1) * sizeof(*e));
	ctx->count--;
	return 0;
}

static const msgpack_object *entry_object(struct ima_ctx *ctx,
					  struct ctx_entry *e)
{
	size_t off = 0;

	if (e->decoded)
		return &e->obj;
	if (ctx->zone == NULL) {
		ctx->zone = msgpack_zone_new(4096);
		if (ctx->zone == NULL)
			return NULL;
	}
	if (msgpack_unpack(e->data, e->len, &off, ctx->zone, &e->obj) !=
	    MSGPACK_UNPACK_SUCCESS)
		return NULL;
	e->decoded = true;
	return &e->obj;
}

const msgpack_object *ima_ctx_value(struct ima_ctx *ctx, size_t i)
{
	return i < ctx->count ? entry_object(ctx, &ctx->entries[i]) : NULL;
}

static const msgpack_object *object_step(const msgpack_object *o,
					 const char *seg, size_t n)
{
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->key.via.str.size == n &&
			    memcmp(kv->key.via.str.ptr, seg, n) == 0)
				return &kv->val;
		}
		return NULL;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY && n > 0 && n < 10) {
		uint32_t idx = 0;

		for (size_t i = 0; i < n; i++) {
			if (seg[i] < '0' || seg[i] > '9')
				return NULL;
			idx = idx * 10 + (uint32_t)(seg[i] - '0');
		}
		return idx < o->via.array.size ? &o->via.array.ptr[idx] : NULL;
	}
	return NULL;
}

/* Resolves the path after the top-level key (rest points at its '.', or
 * at the end). */
static const msgpack_object *ctx_walk(const msgpack_object *o, const char *rest)
{
	while (*rest == '.' && o != NULL) {
		const char *seg = rest + 1, *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);

		o = object_step(o, seg, n);
		rest = seg + n;
	}
	return o;
}

const msgpack_object *ima_ctx_get(struct ima_ctx *ctx, const char *path)
{
	const char *from = path, *end;

	/* Top-level keys may hold dots themselves ("_metrics.cache"): try
	 * each prefix that names a key, the shortest first. */
	do {
		struct ctx_entry *e;
		const msgpack_object *o;

		end = strchr(from, '.');
		if (end == NULL)
			end = path + strlen(path);
		e = ctx_find(ctx, path, (size_t)(end - path));
		if (e != NULL && (o = entry_object(ctx, e)) != NULL &&
		    (o = ctx_walk(o, end)) != NULL)
			return o;
		from = end + 1;
	} while (*end != '\0');
	return NULL;
}

int ima_ctx_get_str(struct ima_ctx *ctx, const char *path, const char **str,
		    size_t *len)
{
	const msgpack_object *o = ima_ctx_get(ctx, path);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return -1;
	*str = o->via.str.ptr;
	if (len)
		*len = o->via.str.size;
	return 0;
}

int ima_ctx_get_double(struct ima_ctx *ctx, const char *path, double *out)
{
	const msgpack_object *o = ima_ctx_get(ctx, path);

	if (o == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return 0;
	default:
		return -1;
	}
}

int ima_ctx_get_int(struct ima_ctx *ctx, const char *path, int64_t *out)
{
	const msgpack_object *o = ima_ctx_get(ctx, path);

	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*out = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = o->via.i64;
	else
		return -1;
	return 0;
}

int ima_ctx_get_bool(struct ima_ctx *ctx, const char *path, int *out)
{
	const msgpack_object *o = ima_ctx_get(ctx, path);

	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*out = o->via.boolean;
	return 0;
}

int ima_ctx_encode(const struct ima_ctx *ctx, msgpack_sbuffer *out,
		   bool public_only)
{
	msgpack_packer pk;
	size_t n = 0;

	for (size_t i = 0; i < ctx->count; i++)
		if (!public_only || ctx->entries[i].key[0] != '_')
			n++;
	msgpack_packer_init(&pk, out, ima_sbuffer_write);
	if (msgpack_pack_map(&pk, n) != 0)
		return -1;
	for (size_t i = 0; i < ctx->count; i++) {
		const struct ctx_entry *e = &ctx->entries[i];

		if (public_only && e->key[0] == '_')
			continue;
		if (ima_pack_cstr(&pk, e->key) != 0 ||
		    ima_sbuffer_write(out, e->data, e->len) != 0)
			return -1;
	}
	return 0;
}

static bool ctx_listed(const char *key, const char *const *also)
{
	for (; also != NULL && *also != NULL; also++)
		if (strcmp(key, *also) == 0)
			return true;
	return false;
}

int ima_ctx_encode_public(struct ima_ctx *ctx, msgpack_sbuffer *out,
			  const char *const *also)
{
	msgpack_packer pk;
	size_t n = 0;

	for (size_t i = 0; i < ctx->count; i++)
		if (ctx->entries[i].key[0] != '_' || ctx_listed(ctx->entries[i].key, also))
			n++;
	msgpack_packer_init(&pk, out, ima_sbuffer_write);
	if (msgpack_pack_map(&pk, n) != 0)
		return -1;
	for (size_t i = 0; i < ctx->count; i++) {
		const struct ctx_entry *e = &ctx->entries[i];

		if (e->key[0] == '_' && !ctx_listed(e->key, also))
			continue;
		if (ima_pack_cstr(&pk, e->key) != 0 ||
		    ima_sbuffer_write(out, e->data, e->len) != 0)
			return -1;
	}
	return 0;
}

char *ima_ctx_public_json(struct ima_ctx *ctx, size_t *len)
{
	struct ima_buf b = { 0 };
	bool first = true;

	for (size_t i = 0; i < ctx->count; i++) {
		const msgpack_object *o;

		if (ctx->entries[i].key[0] == '_')
			continue;
		o = ima_ctx_value(ctx, i);
		if (o == NULL) {
			ima_buf_free(&b);
			return NULL;
		}
		if (!first)
			ima_buf_append(&b, ",", 1);
		first = false;
		ima_json_write_str(&b, ctx->entries[i].key, strlen(ctx->entries[i].key));
		ima_buf_append(&b, ":", 1);
		ima_json_write(&b, o, -1);
	}
	if (b.failed) {
		ima_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	if (b.data == NULL)
		return ima_strdup("");
	return b.data;
}

int ima_ctx_merge(struct ima_ctx *ctx, const void *data, size_t len,
		  struct ima_error *err)
{
	/* Cache entries hold whole answers: allow more than a request body. */
	static const struct ima_limits limits = { 64u << 20, IMA_DEFAULT_MAX_DEPTH };
	struct ima_ctx *tmp = ima_ctx_new();
	int rc = 0;

	if (tmp == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	if (ima_ctx_decode(tmp, data, len, &limits, err) != 0) {
		ima_ctx_free(tmp);
		return -1;
	}
	for (size_t i = 0; i < tmp->count && rc == 0; i++)
		rc = ima_ctx_put(ctx, tmp->entries[i].key, tmp->entries[i].data,
				 tmp->entries[i].len);
	ima_ctx_free(tmp);
	if (rc != 0)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	return 0;
}

/* Length of the one encoded value at p (already validated), 0 on error. */
static size_t value_span(const char *p, size_t len)
{
	struct ima_error err;
	size_t used;

	if (ima_mp_walk(p, len, IMA_DEFAULT_MAX_DEPTH, false, &used, &err) != 0)
		return 0;
	return used;
}

int ima_ctx_decode(struct ima_ctx *ctx, const void *data, size_t len,
		   const struct ima_limits *limits, struct ima_error *err)
{
	const unsigned char *p = data;
	size_t pos, n;

	if (ima_mp_validate(data, len, limits->max_body_bytes,
			    limits->max_depth, true, err) != 0)
		return -1;
	if (p[0] >= 0x80 && p[0] <= 0x8f) {
		n = p[0] & 0x0f;
		pos = 1;
	} else if (p[0] == 0xde) {
		n = (size_t)p[1] << 8 | p[2];
		pos = 3;
	} else if (p[0] == 0xdf) {
		n = (size_t)p[1] << 24 | (size_t)p[2] << 16 |
		    (size_t)p[3] << 8 | p[4];
		pos = 5;
	} else {
		return ima_error_set(err, 422, "invalid_request", "",
				     "the body must be a map");
	}
	ctx_clear(ctx);
	for (size_t i = 0; i < n; i++) {
		size_t klen = value_span((const char *)p + pos, len - pos);
		size_t vlen;
		char key[256];
		msgpack_zone zone;
		msgpack_object k;
		size_t off = 0;

		if (klen == 0 || !msgpack_zone_init(&zone, 64))
			return ima_error_set(err, 500, "internal", "",
					     "out of memory");
		msgpack_unpack((const char *)p + pos, klen, &off, &zone, &k);
		if (k.type != MSGPACK_OBJECT_STR || k.via.str.size == 0 ||
		    k.via.str.size >= sizeof(key) ||
		    memchr(k.via.str.ptr, '\0', k.via.str.size) != NULL) {
			msgpack_zone_destroy(&zone);
			ctx_clear(ctx);
			return ima_error_set(err, 422, "invalid_request", "",
					     "map keys must be non-empty strings under 256 bytes");
		}
		memcpy(key, k.via.str.ptr, k.via.str.size);
		key[k.via.str.size] = '\0';
		msgpack_zone_destroy(&zone);
		pos += klen;
		vlen = value_span((const char *)p + pos, len - pos);
		if (vlen == 0 || ima_ctx_put(ctx, key, p + pos, vlen) != 0) {
			ctx_clear(ctx);
			return ima_error_set(err, 500, "internal", "",
					     "out of memory");
		}
		pos += vlen;
	}
	return 0;
}
