/*
 * auth_jwt - the caller's identity from `Authorization: Bearer <JWT>`:
 * writes _auth {tenant, user, scopes, method "jwt"} for the stages after
 * it (the cache keys answers and invalidation by it), or refuses the
 * request with 401 before any later stage runs.
 *
 * libjwt 1.10 only checks the signature, and not safely on its own: it
 * accepts "alg": "none" without a key, lets an HS256 token signed with a
 * public-key PEM verify against that PEM, takes the last of duplicate
 * claims and decodes base64 leniently (RS256 signatures are malleable).
 * So, before libjwt sees a token: a length cap and a strict base64url
 * check of exactly three segments (the unused bits of the last character
 * must be zero), the header and payload parsed here with duplicates
 * refused, the key chosen by "kid" and its pinned algorithm compared with
 * the token's. After: the algorithm libjwt used is compared again, and
 * every claim is checked here.
 *
 * The check runs in the prefetch hook, before the cache may replay an
 * answer and before the body is even decoded; the process hook repeats it
 * only when prefetch did not run (a body over the limit).
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ima_plugin.h"

#define AUTH_ID_MAX 128     /* tenant and user, with the NUL */
#define AUTH_SCOPES_MAX 512 /* scopes joined by spaces, with the NUL */
#define AUTH_KID_MAX 64
#define AUTH_MIN_SECRET 32
#define AUTH_REFUSALS "imaginator_auth_refusals_total"
#define AUTH_CACHE_HITS "imaginator_auth_jwt_cache_hits_total"

struct auth_key {
	char kid[AUTH_KID_MAX];
	char origin[160];        /* where it came from, for messages */
	jwt_alg_t alg;
	const char *alg_name;
	unsigned char *material; /* HMAC secret, or public-key PEM */
	size_t len;
};

struct auth_identity {
	char tenant[AUTH_ID_MAX];
	char user[AUTH_ID_MAX];
	char scopes[AUTH_SCOPES_MAX];
};

/* One slot of the verified-token cache, direct-mapped by the token's
 * SHA-256: a new token evicts whatever shared its slot. */
struct auth_cached {
	unsigned char digest[32];
	int64_t exp;
	bool used;
	struct auth_identity id;
};

struct auth_state {
	struct auth_key *keys;
	size_t nkeys;
	bool required;
	bool require_exp;
	int64_t max_token_bytes;
	int64_t leeway;
	char issuer[256];
	char audience[256];
	char tenant_claim[64];
	char default_tenant[AUTH_ID_MAX];
	pthread_mutex_t lock;
	struct auth_cached *cache;
	size_t ncache;
};

static const struct ima_option auth_options[] = {
	{ "required", IMA_OPT_BOOL, "true",
	  "refuse requests without a bearer token (401); false lets them on anonymous", 0 },
	{ "secret", IMA_OPT_STRING, "",
	  "HS256 secret, at least 32 bytes; empty: $IMAGINATOR_JWT_SECRET", IMA_OPT_SECRET },
	{ "secret_kid", IMA_OPT_STRING, "", "kid of the secret (\"\": tokens without kid)", 0 },
	{ "public_key_file", IMA_OPT_STRING, "",
	  "PEM public key (RSA: RS256, EC P-256: ES256); empty: $IMAGINATOR_JWT_PUBLIC_KEY", 0 },
	{ "public_key_kid", IMA_OPT_STRING, "", "kid of the public key (\"\": tokens without kid)", 0 },
	{ "keys", IMA_OPT_STRING, "",
	  "more keys: \"kid=ALG:env:VAR kid2=ALG:file:PATH\" (ALG HS256, RS256 or ES256)", 0 },
	{ "max_token_bytes", IMA_OPT_INT, "8192", "longest token accepted, checked before decoding", 0 },
	{ "require_exp", IMA_OPT_BOOL, "true", "refuse tokens without an integer exp", 0 },
	{ "leeway_seconds", IMA_OPT_INT, "60", "clock skew allowed for exp, nbf and iat", 0 },
	{ "issuer", IMA_OPT_STRING, "", "iss every token must carry (\"\": not checked)", 0 },
	{ "audience", IMA_OPT_STRING, "", "aud (string or array) must hold it (\"\": not checked)", 0 },
	{ "tenant_claim", IMA_OPT_STRING, "tenant", "claim naming the tenant", 0 },
	{ "default_tenant", IMA_OPT_STRING, "", "tenant of tokens without the tenant claim", 0 },
	{ "cache_entries", IMA_OPT_INT, "4096", "verified tokens kept until their exp (0: none)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* ---- keys -------------------------------------------------------------- */

static int auth_read_file(const char *path, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	size_t n;

	if (f == NULL)
		return -1;
	buf = ima_malloc(65537);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, 65536, f);
	/* A key file is small; a larger one is not a key. */
	if (ferror(f) || !feof(f) || n == 0) {
		fclose(f);
		ima_free(buf);
		return -1;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* A public key must parse, be of the kind its algorithm needs and be
 * strong enough: RSA of 2048 bits or more, EC on P-256. */
static int auth_check_pem(struct auth_key *k, struct ima_error *err)
{
	BIO *bio = BIO_new_mem_buf(k->material, (int)k->len);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	char group[64] = "";
	size_t glen = 0;
	int rc = 0;

	BIO_free(bio);
	if (pkey == NULL)
		return ima_error_set(err, 500, "config", "public_key_file",
				     "key %s (%s) is not a PEM public key", k->kid[0] ? k->kid : "without kid",
				     k->origin);
	if (k->alg == JWT_ALG_RS256 &&
	    (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) < 2048))
		rc = ima_error_set(err, 500, "config", "public_key_file",
				   "key %s (%s) is no RSA key of 2048 bits or more, as RS256 needs",
				   k->kid[0] ? k->kid : "without kid", k->origin);
	if (k->alg == JWT_ALG_ES256 &&
	    (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
	     EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1 ||
	     strcmp(group, "prime256v1") != 0))
		rc = ima_error_set(err, 500, "config", "public_key_file",
				   "key %s (%s) is no EC P-256 key, as ES256 needs",
				   k->kid[0] ? k->kid : "without kid", k->origin);
	EVP_PKEY_free(pkey);
	return rc;
}

/* The algorithm a public key implies when none was named. */
static jwt_alg_t auth_pem_alg(const unsigned char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	jwt_alg_t alg = JWT_ALG_INVAL;

	BIO_free(bio);
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		alg = JWT_ALG_RS256;
	else if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
		alg = JWT_ALG_ES256;
	EVP_PKEY_free(pkey);
	return alg;
}

/* Adds a key; material (from ima_malloc) is the state's from here on, even
 * when this fails. alg JWT_ALG_INVAL: taken from the public key. */
static int auth_add_key(struct auth_state *st, const char *kid, jwt_alg_t alg,
			unsigned char *material, size_t len, const char *origin,
			struct ima_error *err)
{
	struct auth_key *keys, *k;
	const char *shown = kid[0] ? kid : "without kid";

	if (strlen(kid) >= AUTH_KID_MAX) {
		ima_free(material);
		return ima_error_set(err, 500, "config", "keys", "kid %.40s... is too long", kid);
	}
	for (size_t i = 0; i < st->nkeys; i++)
		if (strcmp(st->keys[i].kid, kid) == 0) {
			ima_free(material);
			return ima_error_set(err, 500, "config", "keys",
					     "two keys %s: each kid names one key", shown);
		}
	keys = ima_realloc(st->keys, (st->nkeys + 1) * sizeof(*keys));
	if (keys == NULL) {
		ima_free(material);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	st->keys = keys;
	k = &keys[st->nkeys++];
	memset(k, 0, sizeof(*k));
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	snprintf(k->origin, sizeof(k->origin), "%s", origin);
	k->material = material;
	k->len = len;
	if (alg == JWT_ALG_INVAL)
		alg = auth_pem_alg(material, len);
	k->alg = alg;
	k->alg_name = jwt_alg_str(alg);
	if (alg == JWT_ALG_HS256) {
		/* A PEM as an HMAC secret is how algorithm confusion starts. */
		if (len < AUTH_MIN_SECRET)
			return ima_error_set(err, 500, "config", "secret",
					     "HS256 key %s (%s) is %zu bytes: at least %d are needed",
					     shown, origin, len, AUTH_MIN_SECRET);
		if (memmem(material, len, "-----BEGIN", 10) != NULL)
			return ima_error_set(err, 500, "config", "secret",
					     "HS256 key %s (%s) holds a PEM key: public keys are never HMAC secrets",
					     shown, origin);
		return 0;
	}
	if (alg == JWT_ALG_RS256 || alg == JWT_ALG_ES256)
		return auth_check_pem(k, err);
	return ima_error_set(err, 500, "config", "keys",
			     "key %s (%s): only HS256, RS256 and ES256 are accepted", shown, origin);
}

static int auth_key_from_env(struct auth_state *st, const char *kid, jwt_alg_t alg,
			     const char *var, struct ima_error *err)
{
	const char *v = getenv(var);
	char origin[160];

	snprintf(origin, sizeof(origin), "$%s", var);
	if (v == NULL || v[0] == '\0')
		return ima_error_set(err, 500, "config", "keys", "key %s: $%s is not set",
				     kid[0] ? kid : "without kid", var);
	if (alg != JWT_ALG_HS256)
		return ima_error_set(err, 500, "config", "keys",
				     "key %s: only HS256 secrets come from the environment; use file:PATH",
				     kid[0] ? kid : "without kid");
	return auth_add_key(st, kid, alg, (unsigned char *)ima_strdup(v), strlen(v), origin, err);
}

static int auth_key_from_file(struct auth_state *st, const char *kid, jwt_alg_t alg,
			      const char *path, struct ima_error *err)
{
	unsigned char *buf;
	size_t len;
	char origin[160];

	snprintf(origin, sizeof(origin), "%s", path);
	if (auth_read_file(path, &buf, &len) != 0)
		return ima_error_set(err, 500, "config", "public_key_file",
				     "key %s: cannot read %s", kid[0] ? kid : "without kid", path);
	/* A secret file's final newline is not part of the secret. */
	if (alg == JWT_ALG_HS256)
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
	return auth_add_key(st, kid, alg, buf, len, origin, err);
}

/* "kid=ALG:env:VAR" or "kid=ALG:file:PATH", separated by spaces or commas. */
static int auth_parse_keys(struct auth_state *st, const char *spec, struct ima_error *err)
{
	char *copy = ima_strdup(spec), *save = NULL, *tok;
	int rc = 0;

	if (copy == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	for (tok = strtok_r(copy, " ,\t\n", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, " ,\t\n", &save)) {
		char *eq = strchr(tok, '='), *alg, *kind, *where;
		jwt_alg_t a;

		if (eq == NULL || (alg = eq + 1, kind = strchr(alg, ':')) == NULL ||
		    (where = strchr(kind + 1, ':')) == NULL || eq == tok) {
			rc = ima_error_set(err, 500, "config", "keys",
					   "keys entry \"%.60s\" is not kid=ALG:env:VAR or kid=ALG:file:PATH", tok);
			break;
		}
		*eq = *kind = *where = '\0';
		kind++;
		where++;
		a = jwt_str_alg(alg);
		if (a != JWT_ALG_HS256 && a != JWT_ALG_RS256 && a != JWT_ALG_ES256)
			rc = ima_error_set(err, 500, "config", "keys",
					   "key %s: algorithm %.20s is not HS256, RS256 or ES256", tok, alg);
		else if (strcmp(kind, "env") == 0)
			rc = auth_key_from_env(st, tok, a, where, err);
		else if (strcmp(kind, "file") == 0)
			rc = auth_key_from_file(st, tok, a, where, err);
		else
			rc = ima_error_set(err, 500, "config", "keys",
					   "key %s: the source must be env: or file:", tok);
	}
	ima_free(copy);
	return rc;
}

/* ---- the token ---------------------------------------------------------- */

static int auth_b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url without padding: only the 64 characters, a length that
 * is not 1 modulo 4, and zero in the bits the last character does not use,
 * so each byte string has exactly one encoding. out (n * 3 / 4 + 1 bytes)
 * may be NULL to only check. Returns the decoded length, or -1.
 */
static long auth_b64url_decode(const char *s, size_t n, unsigned char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long len = 0;

	if (n == 0 || n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = auth_b64url_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (out != NULL)
				out[len] = (unsigned char)(acc >> bits);
			len++;
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return len;
}

/* One segment decoded and parsed as a JSON object, duplicates refused. */
static json_t *auth_segment_json(const char *s, size_t n)
{
	unsigned char *buf = ima_malloc(n * 3 / 4 + 1);
	json_t *j = NULL;
	long len;

	if (buf == NULL)
		return NULL;
	len = auth_b64url_decode(s, n, buf);
	if (len > 0)
		j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	ima_free(buf);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

struct auth_fail {
	const char *reason;  /* metric label */
	char message[200];
};

static int auth_failf(struct auth_fail *f, const char *reason, const char *msg)
{
	f->reason = reason;
	snprintf(f->message, sizeof(f->message), "%s", msg);
	return -1;
}

/* An identity string: printable, no control bytes, 1..127 bytes. */
static bool auth_id_ok(const char *s, bool colon_ok)
{
	size_t n = strlen(s);

	if (n == 0 || n >= AUTH_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || (!colon_ok && s[i] == ':'))
			return false;
	return true;
}

/* Appends one scope to the space-joined list; scopes are printable ASCII
 * without spaces (RFC 6749 3.3). */
static int auth_add_scope(struct auth_identity *id, const char *s, size_t n)
{
	size_t have = strlen(id->scopes);

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return -1;
	if (have + n + 2 > sizeof(id->scopes))
		return -1;
	if (have > 0)
		id->scopes[have++] = ' ';
	memcpy(id->scopes + have, s, n);
	id->scopes[have + n] = '\0';
	return 0;
}

static int auth_scopes(json_t *payload, struct auth_identity *id, struct auth_fail *f)
{
	json_t *v;

	id->scopes[0] = '\0';
	v = json_object_get(payload, "scope");
	if (v != NULL) {
		const char *s, *e;

		if (!json_is_string(v))
			return auth_failf(f, "claims", "scope is not a string");
		s = json_string_value(v);
		while (*s) {
			while (*s == ' ')
				s++;
			e = s;
			while (*e && *e != ' ')
				e++;
			if (auth_add_scope(id, s, (size_t)(e - s)) != 0)
				return auth_failf(f, "claims", "scope holds an invalid or too long list");
			s = e;
		}
	}
	v = json_object_get(payload, "scp");
	if (v != NULL) {
		size_t i;
		json_t *e;

		if (json_is_string(v)) {
			if (auth_add_scope(id, json_string_value(v), json_string_length(v)) != 0)
				return auth_failf(f, "claims", "scp holds an invalid scope");
		} else if (json_is_array(v)) {
			json_array_foreach(v, i, e) {
				if (!json_is_string(e) ||
				    auth_add_scope(id, json_string_value(e), json_string_length(e)) != 0)
					return auth_failf(f, "claims", "scp holds an invalid scope");
			}
		} else {
			return auth_failf(f, "claims", "scp is neither a string nor an array");
		}
	}
	return 0;
}

/* An optional NumericDate claim: absent (0), an integer (1), else -1. */
static int auth_time_claim(json_t *payload, const char *name, int64_t *out)
{
	json_t *v = json_object_get(payload, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 1;
}

static int auth_claims(const struct auth_state *st, json_t *payload, int64_t now,
		       struct auth_identity *id, int64_t *exp, struct auth_fail *f)
{
	int64_t nbf = 0, iat = 0;
	int has;
	json_t *v;

	has = auth_time_claim(payload, "exp", exp);
	if (has < 0)
		return auth_failf(f, "claims", "exp is not an integer");
	if (has == 0 && st->require_exp)
		return auth_failf(f, "claims", "the token has no exp");
	if (has == 0)
		*exp = 0;
	else if (now - st->leeway >= *exp)
		return auth_failf(f, "expired", "the token has expired");
	has = auth_time_claim(payload, "nbf", &nbf);
	if (has < 0)
		return auth_failf(f, "claims", "nbf is not an integer");
	if (has > 0 && now + st->leeway < nbf)
		return auth_failf(f, "not_yet_valid", "the token is not valid yet (nbf)");
	has = auth_time_claim(payload, "iat", &iat);
	if (has < 0)
		return auth_failf(f, "claims", "iat is not an integer");
	if (has > 0 && iat > now + st->leeway)
		return auth_failf(f, "not_yet_valid", "the token was issued in the future (iat)");
	if (st->issuer[0] != '\0') {
		v = json_object_get(payload, "iss");
		if (!json_is_string(v) || strcmp(json_string_value(v), st->issuer) != 0 ||
		    json_string_length(v) != strlen(st->issuer))
			return auth_failf(f, "issuer", "the token's iss is not the accepted issuer");
	}
	if (st->audience[0] != '\0') {
		bool found = false;
		size_t i;
		json_t *e;

		v = json_object_get(payload, "aud");
		if (json_is_string(v))
			found = strcmp(json_string_value(v), st->audience) == 0 &&
				json_string_length(v) == strlen(st->audience);
		else if (json_is_array(v))
			json_array_foreach(v, i, e)
				if (json_is_string(e) && json_string_length(e) == strlen(st->audience) &&
				    strcmp(json_string_value(e), st->audience) == 0)
					found = true;
		if (!found)
			return auth_failf(f, "audience", "the token is not meant for this audience");
	}
	/* Lengths are checked here because the cache would cut longer names,
	 * and two users sharing a prefix must never share entries. */
	v = json_object_get(payload, "sub");
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
	    !auth_id_ok(json_string_value(v), true))
		return auth_failf(f, "claims", "sub is missing or not a name of 1 to 127 bytes");
	snprintf(id->user, sizeof(id->user), "%s", json_string_value(v));
	v = json_object_get(payload, st->tenant_claim);
	if (v == NULL) {
		snprintf(id->tenant, sizeof(id->tenant), "%s", st->default_tenant);
	} else {
		/* ':' separates tenant and user in the cache's generation keys. */
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
		    !auth_id_ok(json_string_value(v), false))
			return auth_failf(f, "claims", "the tenant claim is not a name of 1 to 127 bytes without ':'");
		snprintf(id->tenant, sizeof(id->tenant), "%s", json_string_value(v));
	}
	return auth_scopes(payload, id, f);
}

static const struct auth_key *auth_pick_key(const struct auth_state *st, json_t *header,
					    struct auth_fail *f)
{
	json_t *alg = json_object_get(header, "alg"), *kid = json_object_get(header, "kid");
	const char *want = "";
	const struct auth_key *k = NULL;

	if (!json_is_string(alg))
		return auth_failf(f, "malformed", "the token header has no alg"), NULL;
	if (strcasecmp(json_string_value(alg), "none") == 0)
		return auth_failf(f, "algorithm", "unsigned tokens (alg none) are refused"), NULL;
	/* Nothing here understands extensions a token may declare critical. */
	if (json_object_get(header, "crit") != NULL)
		return auth_failf(f, "malformed", "the token header has crit extensions"), NULL;
	if (kid != NULL) {
		if (!json_is_string(kid))
			return auth_failf(f, "malformed", "kid is not a string"), NULL;
		want = json_string_value(kid);
	}
	for (size_t i = 0; i < st->nkeys; i++)
		if (strcmp(st->keys[i].kid, want) == 0 &&
		    (kid == NULL || json_string_length(kid) == strlen(want)))
			k = &st->keys[i];
	if (k == NULL)
		return auth_failf(f, "unknown_key", kid ? "no key has the token's kid"
						       : "the token names no kid"), NULL;
	if (strcmp(json_string_value(alg), k->alg_name) != 0)
		return auth_failf(f, "algorithm", "the token's alg is not the one of its key"), NULL;
	return k;
}

/* ---- the verified-token cache ------------------------------------------- */

static size_t auth_slot(const struct auth_state *st, const unsigned char d[32])
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	return (size_t)(h % st->ncache);
}

static bool auth_cache_get(struct auth_state *st, const unsigned char d[32], int64_t now,
			   struct auth_identity *id)
{
	struct auth_cached *c;
	bool hit = false;

	if (st->ncache == 0)
		return false;
	c = &st->cache[auth_slot(st, d)];
	pthread_mutex_lock(&st->lock);
	if (c->used && CRYPTO_memcmp(c->digest, d, 32) == 0) {
		if (now - st->leeway < c->exp) {
			*id = c->id;
			hit = true;
		} else {
			c->used = false;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return hit;
}

static void auth_cache_put(struct auth_state *st, const unsigned char d[32], int64_t exp,
			   const struct auth_identity *id)
{
	struct auth_cached *c;

	/* Without exp a token would stay verified for ever: never kept. */
	if (st->ncache == 0 || exp <= 0)
		return;
	c = &st->cache[auth_slot(st, d)];
	pthread_mutex_lock(&st->lock);
	memcpy(c->digest, d, 32);
	c->exp = exp;
	c->id = *id;
	c->used = true;
	pthread_mutex_unlock(&st->lock);
}

/* ---- the request ------------------------------------------------------- */

/* The token's shape, the key, libjwt's signature check, the claims. */
static int auth_verify(struct auth_state *st, const char *token, size_t n, int64_t now,
		       struct auth_identity *id, int64_t *exp, struct auth_fail *f)
{
	const char *dot1 = memchr(token, '.', n), *dot2, *sig;
	const struct auth_key *k;
	json_t *header = NULL, *payload = NULL;
	jwt_t *jwt = NULL;
	int rc = -1;

	if (dot1 == NULL || (dot2 = memchr(dot1 + 1, '.', (size_t)(token + n - dot1 - 1))) == NULL ||
	    memchr(dot2 + 1, '.', (size_t)(token + n - dot2 - 1)) != NULL)
		return auth_failf(f, "malformed", "the token is not three base64url segments");
	sig = dot2 + 1;
	if (auth_b64url_decode(token, (size_t)(dot1 - token), NULL) < 0 ||
	    auth_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), NULL) < 0 ||
	    auth_b64url_decode(sig, (size_t)(token + n - sig), NULL) < 0)
		return auth_failf(f, "malformed", "the token is not three base64url segments");
	header = auth_segment_json(token, (size_t)(dot1 - token));
	payload = auth_segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (header == NULL || payload == NULL) {
		auth_failf(f, "malformed", "the token's header or claims are not one JSON object without duplicate names");
		goto out;
	}
	k = auth_pick_key(st, header, f);
	if (k == NULL)
		goto out;
	/* Never without a key (libjwt would accept alg none), and the
	 * algorithm libjwt used must still be the key's. */
	if (jwt_decode(&jwt, token, k->material, (int)k->len) != 0 || jwt == NULL ||
	    jwt_get_alg(jwt) != k->alg) {
		auth_failf(f, "signature", "the token's signature does not verify");
		goto out;
	}
	rc = auth_claims(st, payload, now, id, exp, f);
out:
	jwt_free(jwt);
	json_decref(header);
	json_decref(payload);
	return rc;
}

static int auth_put_identity(struct ima_req *req, const struct auth_identity *id)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t nscopes = 0;
	const char *s;
	int rc;

	for (s = id->scopes; *s; s++)
		if (s == id->scopes || s[-1] == ' ')
			nscopes++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_cstr(&pk, id->tenant);
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, id->user);
	ima_pack_cstr(&pk, "scopes");
	msgpack_pack_array(&pk, nscopes);
	for (s = id->scopes; *s;) {
		const char *e = strchr(s, ' ');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		ima_pack_strn(&pk, s, len);
		s += len + (e != NULL);
	}
	ima_pack_cstr(&pk, "method");
	ima_pack_cstr(&pk, "jwt");
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "_auth", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* 401 with the RFC 6750 challenge; error NULL when no credential came. */
static enum ima_rc auth_refuse(struct ima_req *req, const char *error, const char *reason,
			       const char *code, const char *message)
{
	char challenge[320], metric[120];

	if (error == NULL)
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"imaginator\"");
	else
		snprintf(challenge, sizeof(challenge), "Bearer error=\"%s\", error_description=\"%s\"",
			 error, message);
	ima_req_add_header(req, "WWW-Authenticate", challenge);
	snprintf(metric, sizeof(metric), AUTH_REFUSALS "{stage=\"auth_jwt\",reason=\"%s\"}", reason);
	ima_metric_add(metric, 1);
	return ima_req_fail(req, 401, code, "authorization", "%s", message);
}

static enum ima_rc auth_run(struct ima_req *req, struct auth_state *st)
{
	static char done_marker;
	const char *h = ima_req_meta(req, "authorization"), *token;
	struct auth_identity id;
	struct auth_fail f = { "malformed", "" };
	unsigned char digest[32];
	unsigned int dlen = 0;
	int64_t now = (int64_t)time(NULL), exp = 0;
	size_t n;

	if (ima_req_task_get(req, st) != NULL)
		return IMA_CONTINUE;
	if (ima_req_task_set(req, st, &done_marker) != 0)
		return ima_req_fail(req, 500, "internal", "", "too many stages keep request data");
	if (h == NULL || h[0] == '\0') {
		if (!st->required)
			return IMA_CONTINUE;
		return auth_refuse(req, NULL, "missing", "missing_credential",
				   "a bearer token is required");
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		if (!st->required)
			return IMA_CONTINUE;
		return auth_refuse(req, "invalid_request", "scheme", "invalid_request",
				   "the Authorization scheme must be Bearer");
	}
	token = h + 7;
	while (*token == ' ')
		token++;
	n = strlen(token);
	if (n == 0)
		return auth_refuse(req, "invalid_request", "malformed", "invalid_request",
				   "the bearer token is empty");
	if ((int64_t)n > st->max_token_bytes)
		return auth_refuse(req, "invalid_token", "too_long", "invalid_token",
				   "the bearer token is too long");
	if (EVP_Digest(token, n, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
		return ima_req_fail(req, 500, "internal", "", "cannot hash the token");
	if (auth_cache_get(st, digest, now, &id)) {
		ima_metric_add(AUTH_CACHE_HITS, 1);
	} else {
		if (auth_verify(st, token, n, now, &id, &exp, &f) != 0)
			return auth_refuse(req, "invalid_token", f.reason, "invalid_token", f.message);
		auth_cache_put(st, digest, exp, &id);
	}
	if (auth_put_identity(req, &id) != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

static enum ima_rc auth_prefetch(struct ima_req *req, void *state, const char *body,
				 size_t len, int in_format)
{
	(void)body;
	(void)len;
	(void)in_format;
	return auth_run(req, state);
}

static enum ima_rc auth_process(struct ima_req *req, void *state)
{
	return auth_run(req, state);
}

/* ---- life cycle --------------------------------------------------------- */

static void auth_fini(void *state)
{
	struct auth_state *st = state;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nkeys; i++) {
		OPENSSL_cleanse(st->keys[i].material, st->keys[i].len);
		ima_free(st->keys[i].material);
	}
	ima_free(st->keys);
	if (st->cache != NULL)
		OPENSSL_cleanse(st->cache, st->ncache * sizeof(*st->cache));
	ima_free(st->cache);
	pthread_mutex_destroy(&st->lock);
	ima_free(st);
}

static int auth_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct auth_state *st = ima_calloc(1, sizeof(*st));
	const char *secret, *pub, *env;
	int64_t entries;
	int rc = 0;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	pthread_mutex_init(&st->lock, NULL);
	st->required = ima_conf_bool(conf, "required");
	st->require_exp = ima_conf_bool(conf, "require_exp");
	st->max_token_bytes = ima_conf_int(conf, "max_token_bytes");
	st->leeway = ima_conf_int(conf, "leeway_seconds");
	snprintf(st->issuer, sizeof(st->issuer), "%s", ima_conf_string(conf, "issuer"));
	snprintf(st->audience, sizeof(st->audience), "%s", ima_conf_string(conf, "audience"));
	snprintf(st->tenant_claim, sizeof(st->tenant_claim), "%s", ima_conf_string(conf, "tenant_claim"));
	snprintf(st->default_tenant, sizeof(st->default_tenant), "%s",
		 ima_conf_string(conf, "default_tenant"));
	entries = ima_conf_int(conf, "cache_entries");
	if (st->max_token_bytes < 64 || st->max_token_bytes > 65536)
		rc = ima_error_set(err, 500, "config", "max_token_bytes", "must be 64 to 65536");
	else if (st->leeway < 0 || st->leeway > 600)
		rc = ima_error_set(err, 500, "config", "leeway_seconds", "must be 0 to 600");
	else if (entries < 0 || entries > 1000000)
		rc = ima_error_set(err, 500, "config", "cache_entries", "must be 0 to 1000000");
	else if (st->tenant_claim[0] == '\0')
		rc = ima_error_set(err, 500, "config", "tenant_claim", "must not be empty");
	else if (st->default_tenant[0] != '\0' && !auth_id_ok(st->default_tenant, false))
		rc = ima_error_set(err, 500, "config", "default_tenant",
				   "must be 1 to 127 bytes without ':' or control characters");
	if (rc == 0 && entries > 0) {
		st->ncache = (size_t)entries;
		st->cache = ima_calloc(st->ncache, sizeof(*st->cache));
		if (st->cache == NULL)
			rc = ima_error_set(err, 500, "internal", "", "out of memory");
	}
	secret = ima_conf_string(conf, "secret");
	env = getenv("IMAGINATOR_JWT_SECRET");
	if (rc == 0 && secret[0] != '\0')
		rc = auth_add_key(st, ima_conf_string(conf, "secret_kid"), JWT_ALG_HS256,
				  (unsigned char *)ima_strdup(secret), strlen(secret), "option secret", err);
	else if (rc == 0 && env != NULL && env[0] != '\0')
		rc = auth_key_from_env(st, ima_conf_string(conf, "secret_kid"), JWT_ALG_HS256,
				       "IMAGINATOR_JWT_SECRET", err);
	pub = ima_conf_string(conf, "public_key_file");
	if (pub[0] == '\0')
		pub = getenv("IMAGINATOR_JWT_PUBLIC_KEY") ? getenv("IMAGINATOR_JWT_PUBLIC_KEY") : "";
	if (rc == 0 && pub[0] != '\0')
		rc = auth_key_from_file(st, ima_conf_string(conf, "public_key_kid"), JWT_ALG_INVAL,
					pub, err);
	if (rc == 0)
		rc = auth_parse_keys(st, ima_conf_string(conf, "keys"), err);
	/* A required stage without a key could never let anyone in; an
	 * optional one (beside auth_apikey) refuses every bearer token, as
	 * auth_apikey without keys refuses every key. */
	if (rc == 0 && st->nkeys == 0 && st->required)
		rc = ima_error_set(err, 500, "config", "secret",
				   "no key: set secret, public_key_file or keys, or "
				   "$IMAGINATOR_JWT_SECRET or $IMAGINATOR_JWT_PUBLIC_KEY");
	else if (rc == 0 && st->nkeys == 0)
		ima_log(IMA_LOG_WARN, "stage %s: no JWT key configured: every bearer token is refused",
			ima_conf_stage_name(conf));
	/* Another auth stage may have declared the family already. */
	if (rc == 0)
		(void)ima_metric_declare(AUTH_REFUSALS, IMA_METRIC_COUNTER,
					 "Requests refused by an auth stage, by reason");
	if (rc == 0)
		(void)ima_metric_declare(AUTH_CACHE_HITS, IMA_METRIC_COUNTER,
					 "Bearer tokens found verified in the token cache");
	if (rc != 0) {
		auth_fini(st);
		return -1;
	}
	*state = st;
	return 0;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_auth_jwt = {
	IMA_PLUGIN_HEADER,
	.name = "auth_jwt",
	.version = "1.0.0",
	.description = "caller identity from a bearer JWT (HS256, RS256, ES256)",
	.options = auth_options,
	.init = auth_init,
	.process = auth_process,
	.fini = auth_fini,
	.prefetch = auth_prefetch,
	/* The admin routes authenticate with the prefetch hook alone. */
	.flags = IMA_PLUGIN_AUTH,
	.challenge = "Bearer realm=\"imaginator\"",
};
