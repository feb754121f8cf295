/*
 * fuzz_mpcheck.c - the msgpack validator (core/ima_mpcheck.c) that stands
 * before msgpack-c for every untrusted byte: what it accepts must unpack
 * with msgpack-c without running out of memory, and the walk must agree
 * with the validator on where the value ends.
 */
#include <msgpack.h>

#include "fuzz.h"
#include "ima_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ima_error err = { 0 };
	size_t used = 0;
	int utf8 = size > 0 && (data[0] & 1);

	if (ima_mp_validate(data, size, 1u << 20, IMA_DEFAULT_MAX_DEPTH, utf8, &err) == 0) {
		msgpack_zone zone;
		msgpack_object o;
		size_t off = 0;
		msgpack_unpack_return r;

		FUZZ_CHECK(size > 0);
		FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
		r = msgpack_unpack((const char *)data, size, &off, &zone, &o);
		/* One whole value, nothing after it, no memory blow-up. */
		FUZZ_CHECK(r == MSGPACK_UNPACK_SUCCESS);
		FUZZ_CHECK(off == size);
		msgpack_zone_destroy(&zone);
		FUZZ_CHECK(ima_mp_walk(data, size, IMA_DEFAULT_MAX_DEPTH, utf8, &used, &err) == 0);
		FUZZ_CHECK(used == size);
	} else {
		FUZZ_CHECK(err.status == 400 || err.status == 413);
	}
	if (ima_mp_walk(data, size, IMA_DEFAULT_MAX_DEPTH, utf8, &used, &err) == 0)
		FUZZ_CHECK(used > 0 && used <= size);
	ima_msgpack_check(data, size, &err);
	ima_utf8_valid((const char *)data, size);
	return 0;
}
