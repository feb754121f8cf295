/*
 * ima_codec.c - request bodies in (JSON or msgpack) and answers out.
 *
 * JSON in goes through jansson with duplicate keys rejected; its nesting is
 * measured on the raw bytes first, because jansson only caps depth at 2048
 * and its dump/copy functions recurse without a limit. JSON out is written
 * straight from msgpack objects: the answer never exists as a jansson tree.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "ima_core.h"

/* ---- JSON in ---- */

/* Rejects nesting deeper than max_depth before jansson builds anything. */
static int json_check_depth(const char *s, size_t len, int max_depth,
			    struct ima_error *err)
{
	int depth = 0, line = 1, col = 0;
	bool in_str = false, esc = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		col++;
		if (c == '\n') {
			line++;
			col = 0;
		}
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth) {
				ima_error_set(err, 400, "malformed_json", "",
					      "line %d column %d: nesting deeper than %d levels",
					      line, col, max_depth);
				err->line = line;
				err->column = col;
				return -1;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 0;
}

static int json_to_mp(msgpack_packer *pk, const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		if (msgpack_pack_map(pk, json_object_size(j)) != 0)
			return -1;
		json_object_foreach((json_t *)j, key, val) {
			if (ima_pack_cstr(pk, key) != 0 || json_to_mp(pk, val) != 0)
				return -1;
		}
		return 0;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *val;

		if (msgpack_pack_array(pk, json_array_size(j)) != 0)
			return -1;
		json_array_foreach(j, i, val) {
			if (json_to_mp(pk, val) != 0)
				return -1;
		}
		return 0;
	}
	case JSON_STRING:
		return ima_pack_strn(pk, json_string_value(j),
				     json_string_length(j));
	case JSON_INTEGER:
		return msgpack_pack_int64(pk, json_integer_value(j));
	case JSON_REAL:
		return msgpack_pack_double(pk, json_real_value(j));
	case JSON_TRUE:
		return msgpack_pack_true(pk);
	case JSON_FALSE:
		return msgpack_pack_false(pk);
	case JSON_NULL:
	default:
		return msgpack_pack_nil(pk);
	}
}

static int json_decode(const char *text, size_t len, int max_depth,
		       bool object_only, msgpack_sbuffer *out,
		       struct ima_error *err)
{
	msgpack_packer pk;
	json_error_t jerr;
	json_t *root;
	int rc;

	if (json_check_depth(text, len, max_depth, err) != 0)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			  &jerr);
	/* Out of memory inside jansson is the service's failure, not the
	 * caller's malformed JSON. jansson 2.14 says so with an error of no
	 * text (no position, no reason) when its first allocations fail, and
	 * as an invalid token when a later one does: only the first kind can
	 * be told apart. */
	if (root == NULL && (json_error_code(&jerr) == json_error_out_of_memory ||
			     jerr.text[0] == '\0'))
		return ima_error_set(err, 500, "internal", "", "out of memory reading the JSON body");
	if (root == NULL) {
		ima_error_set(err, 400, "malformed_json", "",
			      "line %d column %d: %s", jerr.line, jerr.column,
			      jerr.text);
		err->line = jerr.line;
		err->column = jerr.column;
		return -1;
	}
	if (object_only && !json_is_object(root)) {
		json_decref(root);
		return ima_error_set(err, 422, "invalid_request", "",
				     "the request body must be a JSON object");
	}
	msgpack_packer_init(&pk, out, ima_sbuffer_write);
	rc = json_to_mp(&pk, root);
	json_decref(root);
	if (rc != 0)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	return 0;
}

int ima_json_to_msgpack(const char *json, size_t len, msgpack_sbuffer *out,
			struct ima_error *err)
{
	/* An empty msgpack string arrives here with a NULL pointer. */
	return json_decode(len > 0 ? json : "", len, IMA_DEFAULT_MAX_DEPTH, false,
			   out, err);
}

int ima_body_decode(const char *body, size_t len, enum ima_format fmt,
		    const struct ima_limits *limits, msgpack_sbuffer *out,
		    struct ima_error *err)
{
	if (len > limits->max_body_bytes)
		return ima_error_set(err, 413, "too_large", "",
				     "body of %zu bytes exceeds the limit of %zu bytes",
				     len, limits->max_body_bytes);
	if (fmt == IMA_FMT_MSGPACK) {
		if (ima_mp_validate(body, len, limits->max_body_bytes,
				    limits->max_depth, true, err) != 0)
			return -1;
		if (!(((unsigned char)body[0] >= 0x80 && (unsigned char)body[0] <= 0x8f) ||
		      (unsigned char)body[0] == 0xde || (unsigned char)body[0] == 0xdf))
			return ima_error_set(err, 422, "invalid_request", "",
					     "the request body must be a map");
		return ima_sbuffer_write(out, body, len) == 0
			       ? 0
			       : ima_error_set(err, 500, "internal", "", "out of memory");
	}
	/* An empty body may come as NULL; jansson gets a real pointer. */
	return json_decode(len > 0 ? body : "", len, limits->max_depth, true,
			   out, err);
}

/* ---- JSON out ---- */

void ima_json_write_str(struct ima_buf *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0; /* start of the pending run of bytes copied as they are */

	/* msgpack-c unpacks an empty string with a NULL pointer: no offset
	 * may be added to it, nor may it reach memcpy. */
	if (len == 0) {
		ima_buf_append(b, "\"\"", 2);
		return;
	}
	ima_buf_append(b, "\"", 1);
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n = 1;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			/* Valid sequences pass through; a stray byte becomes
			 * U+FFFD so the answer is always valid JSON. */
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (c >= 0xc2 && c <= 0xf4 && i + n <= len &&
			    ima_utf8_valid(str + i, n)) {
				i += n;
				continue;
			}
			n = 1;
		}
		if (i > run)
			ima_buf_append(b, str + run, i - run);
		switch (c) {
		case '"': ima_buf_append(b, "\\\"", 2); break;
		case '\\': ima_buf_append(b, "\\\\", 2); break;
		case '\n': ima_buf_append(b, "\\n", 2); break;
		case '\r': ima_buf_append(b, "\\r", 2); break;
		case '\t': ima_buf_append(b, "\\t", 2); break;
		default:
			if (c >= 0x80) {
				ima_buf_append(b, "\\ufffd", 6);
			} else {
				char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
					      hex[c & 15] };

				ima_buf_append(b, e, 6);
			}
		}
		i += n;
		run = i;
	}
	if (len > run)
		ima_buf_append(b, str + run, len - run);
	ima_buf_append(b, "\"", 1);
}

static void json_newline(struct ima_buf *b, int indent)
{
	static const char spaces[] = "                                ";

	if (indent < 0)
		return;
	ima_buf_append(b, "\n", 1);
	for (int i = indent * 2; i > 0; i -= 32)
		ima_buf_append(b, spaces, i > 32 ? 32 : (size_t)i);
}

/* Integers are most numbers in an answer: format them without stdio. */
static void json_write_int(struct ima_buf *b, uint64_t v, bool negative)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (negative)
		buf[--i] = '-';
	ima_buf_append(b, buf + i, sizeof(buf) - i);
}

static void json_write_double(struct ima_buf *b, double d)
{
	char buf[40];
	double ipart, scaled;
	int n;

	if (!isfinite(d)) {
		ima_buf_append(b, "null", 4);
		return;
	}
	/* Scores and years have few decimals: print those exactly without
	 * the cost of %g; anything else gets 15 significant digits, which
	 * print 0.85 as 0.85, not 0.84999999999999998. */
	scaled = d * 1000.0;
	if (fabs(d) < 1e12 && scaled == round(scaled)) {
		uint64_t whole, frac;

		ipart = floor(fabs(d));
		whole = (uint64_t)ipart;
		frac = (uint64_t)round((fabs(d) - ipart) * 1000.0);
		json_write_int(b, whole, d < 0);
		if (frac != 0) {
			char f[5] = { '.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
				      (char)('0' + frac % 10), 0 };
			size_t len = 4;

			while (f[len - 1] == '0')
				len--;
			ima_buf_append(b, f, len);
		}
		return;
	}
	n = snprintf(buf, sizeof(buf), "%.15g", d);
	ima_buf_append(b, buf, (size_t)n);
}

void ima_json_write(struct ima_buf *b, const msgpack_object *o, int indent)
{
	int inner = indent < 0 ? -1 : indent + 1;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		ima_buf_append(b, "null", 4);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		if (o->via.boolean)
			ima_buf_append(b, "true", 4);
		else
			ima_buf_append(b, "false", 5);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		json_write_int(b, o->via.u64, false);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		json_write_int(b, o->via.i64 == INT64_MIN ? (uint64_t)INT64_MAX + 1
							  : (uint64_t)-o->via.i64, true);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		json_write_double(b, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		ima_json_write_str(b, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		ima_buf_append(b, "[", 1);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				ima_buf_append(b, ",", 1);
			json_newline(b, inner);
			ima_json_write(b, &o->via.array.ptr[i], inner);
		}
		if (o->via.array.size)
			json_newline(b, indent);
		ima_buf_append(b, "]", 1);
		break;
	case MSGPACK_OBJECT_MAP:
		ima_buf_append(b, "{", 1);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (i)
				ima_buf_append(b, ",", 1);
			json_newline(b, inner);
			if (kv->key.type == MSGPACK_OBJECT_STR)
				ima_json_write_str(b, kv->key.via.str.ptr,
						   kv->key.via.str.size);
			else if (kv->key.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				ima_buf_printf(b, "\"%" PRIu64 "\"", kv->key.via.u64);
			else if (kv->key.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				ima_buf_printf(b, "\"%" PRId64 "\"", kv->key.via.i64);
			else
				ima_buf_append(b, "\"\"", 2);
			ima_buf_append(b, indent < 0 ? ":" : ": ",
				       indent < 0 ? 1 : 2);
			ima_json_write(b, &kv->val, inner);
		}
		if (o->via.map.size)
			json_newline(b, indent);
		ima_buf_append(b, "}", 1);
		break;
	default:
		/* bin and ext have no JSON form; stages do not produce them. */
		ima_buf_append(b, "null", 4);
		break;
	}
}

void ima_error_write_json(struct ima_buf *b, const struct ima_error *err)
{
	ima_buf_printf(b, "{\"error\":{\"status\":%d,\"code\":", err->status);
	ima_json_write_str(b, err->code, strlen(err->code));
	ima_buf_append(b, ",\"message\":", 11);
	ima_json_write_str(b, err->message, strlen(err->message));
	ima_buf_append(b, ",\"field\":", 9);
	if (err->field[0])
		ima_json_write_str(b, err->field, strlen(err->field));
	else
		ima_buf_append(b, "null", 4);
	if (err->line > 0)
		ima_buf_printf(b, ",\"line\":%d,\"column\":%d", err->line,
			       err->column);
	ima_buf_append(b, "}}", 2);
}

int ima_error_pack(msgpack_packer *pk, const struct ima_error *err)
{
	int fields = err->line > 0 ? 6 : 4;
	int rc = 0;

	rc |= msgpack_pack_map(pk, 1);
	rc |= ima_pack_cstr(pk, "error");
	rc |= msgpack_pack_map(pk, (size_t)fields);
	rc |= ima_pack_cstr(pk, "status");
	rc |= msgpack_pack_int(pk, err->status);
	rc |= ima_pack_cstr(pk, "code");
	rc |= ima_pack_cstr(pk, err->code);
	rc |= ima_pack_cstr(pk, "message");
	rc |= ima_pack_cstr(pk, err->message);
	rc |= ima_pack_cstr(pk, "field");
	rc |= ima_pack_cstr(pk, err->field[0] ? err->field : NULL);
	if (err->line > 0) {
		rc |= ima_pack_cstr(pk, "line");
		rc |= msgpack_pack_int(pk, err->line);
		rc |= ima_pack_cstr(pk, "column");
		rc |= msgpack_pack_int(pk, err->column);
	}
	return rc ? -1 : 0;
}
