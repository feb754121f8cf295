/*
 * fuzz_cache_answer.c - an answer read back from the cache: the bytes of
 * an entry (as Redis or L1 gives them back, so possibly corrupt or forged)
 * through cache_lookup_l1() into a request's context, and on a hit the
 * rendering of the answer a client would get.
 */
#include <string.h>

#include "cache_private.h"
#include "fuzz.h"
#include "ima_core.h"

static struct cache_state fuzz_st;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(fuzz_st.name, sizeof(fuzz_st.name), "cache");
	fuzz_st.l1 = cache_l1_new(64u << 20);
	fuzz_st.ttl_low = 60;
	return fuzz_st.l1 == NULL ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char key[CACHE_KEY_BYTES] = { 1 };
	struct ima_req *req = ima_req_new();
	double cost = -1;

	if (req == NULL)
		return 0;
	cache_l1_put(fuzz_st.l1, key, (const char *)data, size, time(NULL) + 60);
	if (cache_lookup_l1(&fuzz_st, req, key, &cost) == 1) {
		struct ima_buf out = { 0 };

		FUZZ_CHECK(ima_ctx_get(ima_req_ctx(req), "_cache_version") != NULL);
		ima_req_render(req, IMA_FMT_JSON, &out);
		ima_buf_free(&out);
		ima_req_render(req, IMA_FMT_MSGPACK, &out);
		ima_buf_free(&out);
	}
	cache_l1_clear(fuzz_st.l1);
	ima_req_free(req);
	return 0;
}
