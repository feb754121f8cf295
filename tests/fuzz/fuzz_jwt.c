/*
 * fuzz_jwt.c - the JWT stage's checks before and after libjwt
 * (plugins/auth_jwt/auth_jwt.c): the token's shape (three strict base64url
 * segments), its header and payload parsed with duplicates refused, the
 * key and algorithm pinned by kid, libjwt's signature check, and every
 * claim. auth_jwt.c is compiled in here for its static functions.
 *
 * Input: a first byte, then the rest. First byte even: the rest is a
 * token for auth_verify(), with one HS256 key (seeds are signed with it,
 * see tests/fuzz/README.md). Odd: the rest is a JSON payload for
 * auth_claims() directly, which a fuzzer cannot reach through a signature.
 */
#include "../../plugins/auth_jwt/auth_jwt.c"

#include "fuzz.h"

#define FUZZ_SECRET "imaginator-fuzz-secret-0123456789abcdef"
#define FUZZ_NOW 1700000000

static struct auth_key fuzz_keys[2];
static struct auth_state fuzz_st;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_keys[0].alg = JWT_ALG_HS256;
	fuzz_keys[0].alg_name = "HS256";
	fuzz_keys[0].material = (unsigned char *)FUZZ_SECRET;
	fuzz_keys[0].len = sizeof(FUZZ_SECRET) - 1;
	fuzz_keys[1] = fuzz_keys[0];
	snprintf(fuzz_keys[1].kid, sizeof(fuzz_keys[1].kid), "k2");
	fuzz_st.keys = fuzz_keys;
	fuzz_st.nkeys = 2;
	fuzz_st.required = true;
	fuzz_st.require_exp = true;
	fuzz_st.max_token_bytes = 8192;
	fuzz_st.leeway = 60;
	snprintf(fuzz_st.issuer, sizeof(fuzz_st.issuer), "https://issuer.example");
	snprintf(fuzz_st.audience, sizeof(fuzz_st.audience), "imaginator");
	snprintf(fuzz_st.tenant_claim, sizeof(fuzz_st.tenant_claim), "tenant");
	return 0;
}

static void fuzz_identity(const struct auth_identity *id)
{
	/* What the cache keys by: whole names, never cut. */
	FUZZ_CHECK(auth_id_ok(id->user, true));
	FUZZ_CHECK(id->tenant[0] == '\0' || auth_id_ok(id->tenant, false));
	FUZZ_CHECK(strlen(id->scopes) < sizeof(id->scopes));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_identity id;
	struct auth_fail f = { "malformed", "" };
	int64_t exp = 0;
	char *s;

	if (size < 1 || size > 8193)
		return 0;
	/* Tokens reach the stage as a C string (a header value). */
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	memset(&id, 0, sizeof(id));
	if ((data[0] & 1) == 0) {
		if (auth_verify(&fuzz_st, s, strlen(s), FUZZ_NOW, &id, &exp, &f) == 0) {
			fuzz_identity(&id);
			FUZZ_CHECK(exp > FUZZ_NOW - fuzz_st.leeway);
		} else {
			FUZZ_CHECK(f.reason != NULL && f.message[0] != '\0');
		}
	} else {
		json_t *payload = json_loadb(s, size - 1, JSON_REJECT_DUPLICATES, NULL);

		if (json_is_object(payload) &&
		    auth_claims(&fuzz_st, payload, FUZZ_NOW, &id, &exp, &f) == 0)
			fuzz_identity(&id);
		json_decref(payload);
	}
	free(s);
	return 0;
}
