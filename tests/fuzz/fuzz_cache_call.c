/*
 * fuzz_cache_call.c - a call (an LLM completion) read back from the call
 * cache: {"v": 1, "cost": c, "result": value} as Redis gives it back,
 * through the stage's own decoder. cache_call.c is compiled in here for
 * its static cache_call_decode(); what it accepts must be one valid value.
 */
#include "../../plugins/cache/cache_call.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_sbuffer out;
	double cost = -2;

	msgpack_sbuffer_init(&out);
	if (cache_call_decode((const char *)data, size, &out, &cost)) {
		struct ima_error err;

		FUZZ_CHECK(cost >= 0 && cost <= CACHE_COST_MAX);
		FUZZ_CHECK(ima_msgpack_check(out.data, out.size, &err) == 0);
	}
	msgpack_sbuffer_destroy(&out);
	return 0;
}
