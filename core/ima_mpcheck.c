/*
 * ima_mpcheck.c - validation of untrusted msgpack before msgpack-c sees it.
 *
 * msgpack-c reserves memory for an array or map from the count in its header
 * before it reads a single element: five bytes can ask for 512 MiB. So every
 * byte string from outside (request bodies, cache entries read back) is
 * walked here first, in one pass with no allocation: each count must fit in
 * the bytes that remain (every element takes at least one byte), nesting is
 * bounded, and strings must be UTF-8.
 */
#include "config.h"

#include <string.h>

#include "ima_core.h"

static uint64_t read_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static int bad(struct ima_error *err, size_t at, const char *what)
{
	return ima_error_set(err, 400, "malformed_msgpack", "",
			     "msgpack at byte %zu: %s", at, what);
}

int ima_mp_walk(const void *data, size_t len, int max_depth, bool utf8,
		size_t *consumed, struct ima_error *err)
{
	const unsigned char *p = data;
	/* Elements still expected at each open level; level 0 is the root. */
	uint64_t pending[IMA_DEFAULT_MAX_DEPTH + 2];
	int depth = 0;
	size_t pos = 0;

	if (max_depth > IMA_DEFAULT_MAX_DEPTH)
		max_depth = IMA_DEFAULT_MAX_DEPTH;
	if (len == 0)
		return bad(err, 0, "empty input");
	pending[0] = 1;

	while (depth >= 0) {
		unsigned char b;
		size_t head = 1;     /* bytes of the type header */
		uint64_t body = 0;   /* bytes that follow the header */
		uint64_t children = 0;
		bool is_str = false;
		size_t lenbytes = 0;

		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		pending[depth]--;
		if (pos >= len)
			return bad(err, pos, "truncated");
		b = p[pos];

		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b >= 0x80 && b <= 0x8f) {
			children = 2u * (b & 0x0fu);
		} else if (b >= 0x90 && b <= 0x9f) {
			children = b & 0x0fu;
		} else if (b >= 0xa0 && b <= 0xbf) {
			body = b & 0x1fu;
			is_str = true;
		} else {
			switch (b) {
			case 0xc1:
				return bad(err, pos, "reserved type byte 0xc1");
			case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
				lenbytes = (size_t)1 << (b - 0xc4);
				break;
			case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32 */
				lenbytes = (size_t)1 << (b - 0xc7);
				head = 1; /* the type byte is added below */
				break;
			case 0xca: body = 4; break;
			case 0xcb: body = 8; break;
			case 0xcc: case 0xcd: case 0xce: case 0xcf:
				body = (uint64_t)1 << (b - 0xcc);
				break;
			case 0xd0: case 0xd1: case 0xd2: case 0xd3:
				body = (uint64_t)1 << (b - 0xd0);
				break;
			case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
				body = 1 + ((uint64_t)1 << (b - 0xd4));
				break;
			case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
				lenbytes = (size_t)1 << (b - 0xd9);
				is_str = true;
				break;
			case 0xdc: case 0xdd: /* array 16/32 */
				lenbytes = (size_t)2 << (b - 0xdc);
				break;
			case 0xde: case 0xdf: /* map 16/32 */
				lenbytes = (size_t)2 << (b - 0xde);
				break;
			default:
				return bad(err, pos, "unknown type byte");
			}
			if (lenbytes) {
				uint64_t n;

				if (len - pos - 1 < lenbytes)
					return bad(err, pos, "truncated length");
				n = read_be(p + pos + 1, lenbytes);
				head = 1 + lenbytes;
				if (b >= 0xdc && b <= 0xdd)
					children = n;
				else if (b >= 0xde)
					children = 2 * n;
				else if (b >= 0xc7 && b <= 0xc9)
					body = n + 1;
				else
					body = n;
			}
		}
		if (len - pos < head || len - pos - head < body)
			return bad(err, pos, "length exceeds the input");
		if (is_str && utf8 &&
		    !ima_utf8_valid((const char *)p + pos + head, (size_t)body))
			return bad(err, pos, "string is not valid UTF-8");
		pos += head + (size_t)body;
		if (children) {
			if (children > len - pos)
				return bad(err, pos, "element count exceeds the input");
			if (depth + 1 > max_depth)
				return bad(err, pos, "nesting too deep");
			pending[++depth] = children;
		}
	}
	*consumed = pos;
	return 0;
}

int ima_mp_validate(const void *data, size_t len, size_t max_bytes,
		    int max_depth, bool utf8, struct ima_error *err)
{
	size_t used;

	if (len > max_bytes)
		return ima_error_set(err, 413, "too_large", "",
				     "msgpack body of %zu bytes exceeds the limit of %zu",
				     len, max_bytes);
	if (ima_mp_walk(data, len, max_depth, utf8, &used, err) != 0)
		return -1;
	if (used != len)
		return bad(err, used, "trailing bytes after the value");
	return 0;
}

int ima_msgpack_check(const void *data, size_t len, struct ima_error *err)
{
	return ima_mp_validate(data, len, len, 32, true, err);
}
