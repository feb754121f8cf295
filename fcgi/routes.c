/*
 * routes.c - what a request is answered: POST /v1/analyze (and /analyze),
 * GET /health, /health/live, /health/ready, /metrics and /v1/pipeline,
 * POST /v1/cache/invalidate and DELETE /v1/cache/me, the scopes they need,
 * the errors in the client's format, request ids, the response headers,
 * the metrics of each request and its access log line. docs/openapi.yaml
 * is the contract of these routes; tests/e2e/openapi.test holds the
 * answers to it. It reads the request through an FCGX_Request
 * (its envp and streams) and knows nothing of sockets or threads.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "worker_private.h"


/* The parameters the routes read, found in one pass over the environment
 * (FCGX_GetParam scans it once per name, and most names are absent). */
struct fcgi_params {
	const char *method, *client_id, *accept, *uri, *script_name, *path_info;
	const char *clen, *remote, *ctype, *auth, *cache, *api_key;
};

static void fcgi_params_read(FCGX_Request *r, struct fcgi_params *p)
{
	static const struct {
		const char *name;
		size_t len;
		size_t off;
	} names[] = {
#define P(n, f) { n "=", sizeof(n), offsetof(struct fcgi_params, f) }
		P("REQUEST_METHOD", method), P("HTTP_X_REQUEST_ID", client_id),
		P("HTTP_ACCEPT", accept), P("REQUEST_URI", uri), P("SCRIPT_NAME", script_name),
		P("PATH_INFO", path_info), P("CONTENT_LENGTH", clen), P("REMOTE_ADDR", remote),
		P("CONTENT_TYPE", ctype), P("HTTP_AUTHORIZATION", auth),
		P("HTTP_CACHE_CONTROL", cache), P("HTTP_X_API_KEY", api_key),
#undef P
	};

	memset(p, 0, sizeof(*p));
	for (char **e = r->envp; e != NULL && *e != NULL; e++)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char **slot = (const char **)((char *)p + names[i].off);

			/* The first of a repeated name wins, as with FCGX_GetParam. */
			if (*slot == NULL && strncmp(*e, names[i].name, names[i].len) == 0) {
				*slot = *e + names[i].len;
				break;
			}
		}
}

/* One response being put together. */
struct fcgi_resp {
	int status;
	const char *content_type;
	const char *allow; /* for 405 */
	struct ima_buf body;
	struct ima_req *req; /* stage headers, stage timings; may be NULL */
	enum ima_format out_fmt;
	size_t bytes_in;
	bool head_only; /* HEAD: the headers of the answer, not its body */
};

static const char *fcgi_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "Unknown";
}

/* ---- request identity ------------------------------------------------ */

static bool fcgi_id_sane(const char *id)
{
	size_t n = 0;

	for (const char *p = id; *p; p++, n++) {
		char c = *p;

		if (n >= IMA_FCGI_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			return false;
	}
	return n > 0;
}

/* splitmix64: ids must be unique, not secret; seeded from getrandom. */
static void fcgi_new_id(struct ima_fcgi_thread *t, char *buf, size_t size)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	snprintf(buf, size, "%016llx", (unsigned long long)z);
}

/* ---- responses ------------------------------------------------------- */

/* A response header from a stage must not smuggle a line break. */
static bool fcgi_header_ok(const char *name, const char *value)
{
	if (name == NULL || value == NULL || name[0] == '\0')
		return false;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p == ':' || *p >= 127)
			return false;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return false;
	return true;
}

static void fcgi_send(FCGX_Request *r, struct fcgi_resp *resp, const char *id)
{
	struct ima_buf head = { 0 };
	const char *reason = fcgi_reason(resp->status);

	/* Appends, not printf: this runs for every response. */
	IMA_BUF_LIT(&head, "Status: ");
	ima_buf_append_uint(&head, (uint64_t)resp->status);
	ima_buf_append(&head, " ", 1);
	ima_buf_append(&head, reason, strlen(reason));
	IMA_BUF_LIT(&head, "\r\nContent-Type: ");
	ima_buf_append(&head, resp->content_type, strlen(resp->content_type));
	IMA_BUF_LIT(&head, "\r\nContent-Length: ");
	ima_buf_append_uint(&head, resp->body.len);
	IMA_BUF_LIT(&head, "\r\nX-Request-Id: ");
	ima_buf_append(&head, id, strlen(id));
	IMA_BUF_LIT(&head, "\r\nImaginator-Api-Version: " IMA_FCGI_API_VERSION "\r\n");
	if (resp->allow != NULL) {
		IMA_BUF_LIT(&head, "Allow: ");
		ima_buf_append(&head, resp->allow, strlen(resp->allow));
		IMA_BUF_LIT(&head, "\r\n");
	}
	if (resp->req != NULL)
		for (size_t i = 0; i < ima_req_header_count(resp->req); i++) {
			const char *name, *value;

			ima_req_header(resp->req, i, &name, &value);
			if (!fcgi_header_ok(name, value))
				continue;
			ima_buf_append(&head, name, strlen(name));
			IMA_BUF_LIT(&head, ": ");
			ima_buf_append(&head, value, strlen(value));
			IMA_BUF_LIT(&head, "\r\n");
		}
	IMA_BUF_LIT(&head, "\r\n");
	if (head.failed) {
		/* Out of memory: a bare 500 from static text still works. */
		static const char oom[] = "Status: 500 Internal Server Error\r\n"
			"Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n";

		FCGX_PutStr(oom, (int)sizeof(oom) - 1, r->out);
		resp->status = 500;
	} else {
		/* FCGX_PutStr only: FCGX_FPrintF asserts on long fields. */
		FCGX_PutStr(head.data, (int)head.len, r->out);
		if (resp->body.len > 0 && !resp->head_only)
			FCGX_PutStr(resp->body.data, (int)resp->body.len, r->out);
	}
	ima_buf_free(&head);
}

/* Replaces the body with the error object in the client's format. */
static void fcgi_error(struct fcgi_resp *resp, int status, const char *code,
		       const char *field, const char *message)
{
	struct ima_error err;

	ima_error_set(&err, status, code, field, "%s", message);
	resp->status = status;
	resp->body.len = 0;
	if (resp->out_fmt == IMA_FMT_MSGPACK) {
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
		if (ima_error_pack(&pk, &err) == 0)
			ima_buf_append(&resp->body, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		resp->content_type = "application/msgpack";
	} else {
		ima_error_write_json(&resp->body, &err);
		resp->content_type = "application/json";
	}
}

/* ---- request parsing --------------------------------------------------- */

/* Compares the media type of a Content-Type or one Accept entry. */
static bool fcgi_media_is(const char *s, size_t len, const char *type)
{
	size_t tl = strlen(type);

	while (len > 0 && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return len == tl && strncasecmp(s, type, tl) == 0;
}

static bool fcgi_is_msgpack(const char *s, size_t len)
{
	return fcgi_media_is(s, len, "application/msgpack") ||
	       fcgi_media_is(s, len, "application/x-msgpack") ||
	       fcgi_media_is(s, len, "application/vnd.msgpack");
}

/* msgpack out when Accept names it; JSON for anything else (and for
 * clients that send no Accept at all). */
static enum ima_format fcgi_out_format(const char *accept)
{
	const char *p = accept;

	while (p != NULL && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *semi = memchr(p, ';', len);

		if (fcgi_is_msgpack(p, semi ? (size_t)(semi - p) : len))
			return IMA_FMT_MSGPACK;
		p = end ? end + 1 : NULL;
	}
	return IMA_FMT_JSON;
}

/* -1: unsupported. A missing Content-Type is read as JSON, as the
 * service this replaces did. */
static int fcgi_in_format(const char *ctype, enum ima_format *fmt)
{
	size_t len;
	const char *semi;

	if (ctype == NULL || ctype[0] == '\0') {
		*fmt = IMA_FMT_JSON;
		return 0;
	}
	semi = strchr(ctype, ';');
	len = semi ? (size_t)(semi - ctype) : strlen(ctype);
	if (fcgi_media_is(ctype, len, "application/json")) {
		*fmt = IMA_FMT_JSON;
		return 0;
	}
	if (fcgi_is_msgpack(ctype, len)) {
		*fmt = IMA_FMT_MSGPACK;
		return 0;
	}
	return -1;
}

/* Digits only, no sign, no overflow: 0 or -1. */
int ima_fcgi_parse_length(const char *s, size_t *out)
{
	size_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
			return -1;
		v = v * 10 + (size_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* The path without the query string; REQUEST_URI is what every server we
 * document sends, SCRIPT_NAME + PATH_INFO is the CGI fallback. */
static void fcgi_path(const struct fcgi_params *p, char *buf, size_t size)
{
	const char *uri = p->uri;

	if (uri != NULL && uri[0] != '\0') {
		size_t n = strcspn(uri, "?");

		if (n >= size)
			n = size - 1;
		memcpy(buf, uri, n);
		buf[n] = '\0';
		return;
	}
	snprintf(buf, size, "%s%s", p->script_name ? p->script_name : "",
		 p->path_info ? p->path_info : "");
}

static enum ima_fcgi_route fcgi_route(const char *path)
{
	static const struct {
		const char *path;
		enum ima_fcgi_route route;
	} table[] = {
		{ "/v1/analyze", IMA_ROUTE_ANALYZE_V1 },
		{ "/analyze", IMA_ROUTE_ANALYZE },
		{ "/health", IMA_ROUTE_HEALTH },
		{ "/health/live", IMA_ROUTE_HEALTH_LIVE },
		{ "/health/ready", IMA_ROUTE_HEALTH_READY },
		{ "/metrics", IMA_ROUTE_METRICS },
		{ "/v1/pipeline", IMA_ROUTE_PIPELINE },
		{ "/v1/cache/invalidate", IMA_ROUTE_INVALIDATE },
		{ "/v1/cache/me", IMA_ROUTE_CACHE_ME },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(path, table[i].path) == 0)
			return table[i].route;
	return IMA_ROUTE_OTHER;
}

/* Reads exactly len bytes of FCGI_STDIN; returns the count read. */
static size_t fcgi_read_body(FCGX_Request *r, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got;
		int n = FCGX_GetStr(buf + got, want > (1u << 30) ? 1 << 30 : (int)want,
				    r->in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* A request carrying what the stages may read of any request: the
 * credentials, the peer, the id and the output format. */
static struct ima_req *fcgi_req_new(const struct fcgi_params *p, const struct fcgi_resp *resp,
				    const char *id)
{
	struct ima_req *req = ima_req_new();

	if (req == NULL)
		return NULL;
	ima_req_set_meta(req, "request_id", id);
	/* Lets a cache replay a rendered answer when JSON is what goes out. */
	ima_req_set_meta(req, "output", resp->out_fmt == IMA_FMT_JSON ? "json" : "msgpack");
	if (p->auth != NULL)
		ima_req_set_meta(req, "authorization", p->auth);
	if (p->api_key != NULL)
		ima_req_set_meta(req, "x_api_key", p->api_key);
	if (p->remote != NULL)
		ima_req_set_meta(req, "remote_addr", p->remote);
	return req;
}

/* The answer is the request's error (a refusal by an auth stage or for a
 * scope), with the headers it carries (WWW-Authenticate). */
static void fcgi_refused(struct fcgi_resp *resp, int status)
{
	resp->body.len = 0;
	if (ima_req_render(resp->req, resp->out_fmt, &resp->body) != 0)
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	resp->status = status;
	resp->content_type = resp->out_fmt == IMA_FMT_MSGPACK ?
		"application/msgpack" : "application/json";
}

/*
 * Whether the caller may use a route that needs scope ("" a caller, any
 * scope): the auth stages run without a body. The request stays in resp
 * (its headers, the identity in _auth); false after the refusal was put
 * into resp.
 */
static bool fcgi_authorize(struct ima_fcgi_worker *w, const struct fcgi_params *p,
			   struct fcgi_resp *resp, const char *id, const char *scope)
{
	int status;

	resp->req = fcgi_req_new(p, resp, id);
	if (resp->req == NULL) {
		fcgi_error(resp, 500, "internal", "", "out of memory");
		return false;
	}
	status = ima_engine_authenticate(w->eng, resp->req, scope);
	if (status == 0)
		return true;
	fcgi_refused(resp, status);
	return false;
}

/* Offers "invalidate" with args to the stages (the cache increments the
 * user's generation) and answers what they did. */
static void fcgi_invalidate_run(struct ima_fcgi_worker *w, struct fcgi_resp *resp,
				const msgpack_object *args)
{
	struct ima_error err = { 0 };
	msgpack_sbuffer out;
	msgpack_zone zone;
	msgpack_object res;
	size_t off = 0;
	int handled;

	msgpack_sbuffer_init(&out);
	handled = ima_engine_command(w->eng, "invalidate", args, &out, &err);
	if (handled < 0) {
		fcgi_error(resp, err.status ? err.status : 500, err.code, err.field, err.message);
	} else if (handled == 0) {
		fcgi_error(resp, 404, "not_found", "", "no stage of this pipeline handles invalidation");
	} else if (!msgpack_zone_init(&zone, 512)) {
		fcgi_error(resp, 500, "internal", "", "out of memory");
	} else if (msgpack_unpack(out.data, out.size, &off, &zone, &res) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_zone_destroy(&zone);
		fcgi_error(resp, 500, "internal", "", "out of memory");
	} else {
		resp->body.len = 0;
		ima_buf_append(&resp->body, "{\"invalidated\":", 15);
		ima_json_write(&resp->body, &res, -1);
		ima_buf_append(&resp->body, "}", 1);
		resp->status = 200;
		resp->content_type = "application/json";
		msgpack_zone_destroy(&zone);
	}
	msgpack_sbuffer_destroy(&out);
}

/* fcgi_invalidate_run on the packed args, which it destroys. */
static void fcgi_invalidate_packed(struct ima_fcgi_worker *w, struct fcgi_resp *resp,
				   msgpack_sbuffer *args)
{
	msgpack_zone zone;
	msgpack_object obj;
	size_t off = 0;

	if (ima_sbuffer_failed(args) || !msgpack_zone_init(&zone, 512)) {
		msgpack_sbuffer_destroy(args);
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	}
	if (msgpack_unpack(args->data, args->size, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS)
		fcgi_error(resp, 500, "internal", "", "out of memory");
	else
		fcgi_invalidate_run(w, resp, &obj);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(args);
}

/*
 * POST /v1/cache/invalidate {"user": "...", "tenant": "..."}: any user's
 * entries. With an auth stage in the pipeline, for callers holding
 * fcgi.admin_scope; without one, only with fcgi.admin_routes = 1 (the web
 * server must then keep others out).
 */
static void fcgi_invalidate(struct ima_fcgi_worker *w, FCGX_Request *r,
			    const struct fcgi_params *p, struct fcgi_resp *resp, const char *id)
{
	const char *clen = p->clen;
	size_t len;
	struct ima_error err = { 0 };
	msgpack_sbuffer args;
	char body[IMA_FCGI_ADMIN_BODY_MAX];

	if (w->auth) {
		if (!fcgi_authorize(w, p, resp, id, w->admin_scope))
			return;
	} else if (!w->opts->admin_routes) {
		return fcgi_error(resp, 404, "not_found", "",
				  "admin routes are off (fcgi.admin_routes = 1 turns them on)");
	}
	if (clen == NULL || ima_fcgi_parse_length(clen, &len) != 0)
		return fcgi_error(resp, 411, "length_required", "", "POST needs a Content-Length");
	if (len > sizeof(body))
		return fcgi_error(resp, 413, "too_large", "", "an invalidation body is at most 4 KB");
	resp->bytes_in = fcgi_read_body(r, body, len);
	if (resp->bytes_in != len)
		return fcgi_error(resp, 400, "truncated_body", "",
				  "the body is shorter than its Content-Length");
	msgpack_sbuffer_init(&args);
	if (ima_body_decode(body, len, IMA_FMT_JSON, ima_engine_limits(w->eng), &args, &err) != 0) {
		msgpack_sbuffer_destroy(&args);
		return fcgi_error(resp, err.status, err.code, err.field, err.message);
	}
	fcgi_invalidate_packed(w, resp, &args);
}

/*
 * DELETE /v1/cache/me: the caller's own entries, with the caller's own
 * credential; no body. The tenant and user are the identity the auth
 * stages established, never anything the client names.
 */
static void fcgi_cache_me(struct ima_fcgi_worker *w, const struct fcgi_params *p,
			  struct fcgi_resp *resp, const char *id)
{
	struct ima_ctx *ctx;
	const char *tenant = "", *user = "";
	size_t tlen = 0, ulen = 0;
	msgpack_sbuffer args;
	msgpack_packer pk;

	if (!w->auth)
		return fcgi_error(resp, 404, "not_found", "",
				  "DELETE /v1/cache/me needs an auth stage in the pipeline to know whose entries are meant; this one has none");
	if (!fcgi_authorize(w, p, resp, id, ""))
		return;
	ctx = ima_req_ctx(resp->req);
	ima_ctx_get_str(ctx, "_auth.tenant", &tenant, &tlen);
	ima_ctx_get_str(ctx, "_auth.user", &user, &ulen);
	msgpack_sbuffer_init(&args);
	msgpack_packer_init(&pk, &args, ima_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_strn(&pk, tenant, tlen);
	ima_pack_cstr(&pk, "user");
	ima_pack_strn(&pk, user, ulen);
	fcgi_invalidate_packed(w, resp, &args);
}

static void fcgi_analyze(struct ima_fcgi_worker *w, FCGX_Request *r,
			 const struct fcgi_params *p, struct fcgi_resp *resp, const char *id)
{
	const char *clen = p->clen, *ctype = p->ctype, *cache = p->cache;
	size_t len, max = ima_engine_limits(w->eng)->max_body_bytes;
	enum ima_format in_fmt;
	struct ima_req *req;
	char *body;
	char msg[128];
	int status;

	if (clen == NULL || clen[0] == '\0')
		return fcgi_error(resp, 411, "length_required", "",
				  "POST needs a Content-Length");
	if (ima_fcgi_parse_length(clen, &len) != 0)
		return fcgi_error(resp, 400, "bad_content_length", "",
				  "Content-Length is not a number");
	if (len > max) {
		/* Refused on the header alone: the body is never buffered. */
		snprintf(msg, sizeof(msg), "body of %zu bytes is over the limit of %zu",
			 len, max);
		return fcgi_error(resp, 413, "too_large", "", msg);
	}
	if (fcgi_in_format(ctype, &in_fmt) != 0)
		return fcgi_error(resp, 415, "unsupported_media_type", "",
				  "send application/json or application/msgpack");
	body = ima_malloc(len + 1);
	if (body == NULL)
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	resp->bytes_in = fcgi_read_body(r, body, len);
	if (resp->bytes_in != len) {
		ima_free(body);
		return fcgi_error(resp, 400, "truncated_body", "",
				  "the body is shorter than its Content-Length");
	}
	req = fcgi_req_new(p, resp, id);
	if (req == NULL) {
		ima_free(body);
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	}
	if (ctype != NULL)
		ima_req_set_meta(req, "content_type", ctype);
	if (cache != NULL)
		ima_req_set_meta(req, "cache_control", cache);
	/* A scope for analyses: checked before any stage but the auth ones,
	 * so a caller without it reaches no cache, quota or analysis. */
	status = w->analyze_scope[0] != '\0' ?
		ima_engine_authenticate(w->eng, req, w->analyze_scope) : 0;
	if (status == 0)
		status = ima_engine_handle(w->eng, req, body, len, in_fmt);
	ima_free(body);
	resp->req = req;
	resp->body.len = 0;
	if (ima_req_render(req, resp->out_fmt, &resp->body) != 0)
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	resp->status = status;
	resp->content_type = resp->out_fmt == IMA_FMT_MSGPACK ?
		"application/msgpack" : "application/json";
}

/*
 * GET /health/ready: the stages' dependencies, as /health probes them. A
 * degraded one (Redis away: the cache reads as misses; an LLM key set
 * aside: the offline parts answer) still serves analyses, so only one
 * that is down makes the worker unready: 503, for a balancer to route
 * around it.
 */
static void fcgi_ready(struct ima_fcgi_worker *w, struct fcgi_resp *resp)
{
	struct ima_buf deps = { 0 };
	int worst = ima_engine_health(w->eng, &deps);

	resp->status = worst >= 2 ? 503 : 200;
	ima_buf_printf(&resp->body, "{\"ready\":%s,\"status\":\"%s\",\"api_version\":\""
		       IMA_FCGI_API_VERSION "\",\"dependencies\":",
		       worst >= 2 ? "false" : "true",
		       worst == 0 ? "ok" : worst == 1 ? "degraded" : "down");
	ima_buf_append(&resp->body, deps.data ? deps.data : "[]", deps.data ? deps.len : 2);
	ima_buf_append(&resp->body, "}", 1);
	ima_buf_free(&deps);
}

/* The X-Cache a cache stage answered (HIT, MISS...), or NULL. */
static const char *fcgi_cache_status(const struct ima_req *req)
{
	for (size_t i = 0; req != NULL && i < ima_req_header_count(req); i++) {
		const char *name, *value;

		ima_req_header(req, i, &name, &value);
		if (name != NULL && value != NULL && strcasecmp(name, "X-Cache") == 0)
			return value;
	}
	return NULL;
}

/*
 * The access line: the message for humans ("GET /v1/analyze 200"), the
 * fields for JSON lines; time, worker, pid and request_id come with every
 * line (ima_log_fields). Built with appends: it runs for every request.
 */
static void fcgi_log(struct ima_fcgi_thread *t, const char *method, const char *path,
		     enum ima_fcgi_route route, struct fcgi_resp *resp, double seconds,
		     const double *stage_s)
{
	struct ima_fcgi_worker *w = t->w;
	struct ima_buf f = { 0 };
	const char *label = ima_fcgi_route_label(route);
	const char *cache = fcgi_cache_status(resp->req);
	size_t plen = strlen(path);
	uint64_t out = resp->head_only ? 0 : resp->body.len;

	/* A path is at most 1 KiB here; 256 bytes of it say enough. */
	if (plen > 256)
		plen = 256;
	IMA_BUF_LIT(&f, "\"method\":");
	ima_json_write_str(&f, method, strlen(method));
	IMA_BUF_LIT(&f, ",\"path\":");
	ima_json_write_str(&f, path, plen);
	IMA_BUF_LIT(&f, ",\"route\":\"");
	ima_buf_append(&f, label, strlen(label));
	IMA_BUF_LIT(&f, "\",\"status\":");
	ima_buf_append_uint(&f, (uint64_t)resp->status);
	IMA_BUF_LIT(&f, ",\"seconds\":");
	ima_buf_append_fixed(&f, seconds, 6);
	IMA_BUF_LIT(&f, ",\"bytes_in\":");
	ima_buf_append_uint(&f, resp->bytes_in);
	IMA_BUF_LIT(&f, ",\"bytes_out\":");
	ima_buf_append_uint(&f, out);
	if (cache != NULL) {
		IMA_BUF_LIT(&f, ",\"cache\":");
		ima_json_write_str(&f, cache, strlen(cache));
	}
	if (resp->req != NULL && resp->status >= 400) {
		const struct ima_error *e = ima_req_error(resp->req);

		if (e != NULL) {
			IMA_BUF_LIT(&f, ",\"error\":");
			ima_json_write_str(&f, e->code, strlen(e->code));
		}
	}
	if (resp->req != NULL) {
		bool first = true;

		IMA_BUF_LIT(&f, ",\"stage_seconds\":{");
		for (size_t i = 0; i < w->nstages; i++) {
			const char *name = ima_engine_stage_name(w->eng, i);

			if (stage_s[i] < 0)
				continue;
			if (!first)
				ima_buf_append(&f, ",", 1);
			first = false;
			ima_json_write_str(&f, name, strlen(name));
			ima_buf_append(&f, ":", 1);
			ima_buf_append_fixed(&f, stage_s[i], 6);
		}
		ima_buf_append(&f, "}", 1);
	}
	/* Out of memory: the line still goes, without its fields. */
	ima_log_fields(IMA_LOG_INFO, f.failed ? NULL : f.data, f.failed ? 0 : f.len,
		       "%s %.*s %d %.3f ms %llu bytes%s%s", method, (int)plen, path,
		       resp->status, seconds * 1e3, (unsigned long long)out,
		       cache != NULL ? " cache " : "", cache != NULL ? cache : "");
	ima_buf_free(&f);
}

/* bad_param: the name of a param with a NUL in it, or NULL. */
void ima_fcgi_handle(struct ima_fcgi_thread *t, FCGX_Request *r, const char *bad_param)
{
	struct ima_fcgi_worker *w = t->w;
	double t0 = ima_fcgi_now(), seconds;
	struct fcgi_params p;
	const char *method, *client_id, *need;
	struct fcgi_resp resp = { .status = 200, .content_type = "application/json" };
	enum ima_fcgi_route route;
	double stage_s[IMA_FCGI_MAX_STAGES];
	char path[1024];
	char id[IMA_FCGI_ID_MAX + 1];
	bool is_post;

	__atomic_fetch_add(&w->shm->in_flight, 1, __ATOMIC_RELAXED);
	fcgi_params_read(r, &p);
	method = p.method;
	client_id = p.client_id;
	if (method == NULL)
		method = "";
	if (client_id != NULL && fcgi_id_sane(client_id))
		snprintf(id, sizeof(id), "%s", client_id);
	else
		fcgi_new_id(t, id, sizeof(id));
	/* Whatever this thread logs until the answer is out (the stages
	 * too) carries the id the client gets in X-Request-Id. */
	ima_log_set_request(id);
	ima_fcgi_crash_request_id(t, id);
	resp.out_fmt = fcgi_out_format(p.accept);
	fcgi_path(&p, path, sizeof(path));
	route = fcgi_route(path);
	if (route == IMA_ROUTE_OTHER) {
		/* Mounted under a prefix (mod_fcgid Alias): route on PATH_INFO. */
		const char *pi = p.path_info;

		if (pi != NULL && fcgi_route(pi) != IMA_ROUTE_OTHER) {
			snprintf(path, sizeof(path), "%s", pi);
			route = fcgi_route(path);
		}
	}
	is_post = strcmp(method, "POST") == 0;
	resp.head_only = strcmp(method, "HEAD") == 0;
	/* The /health routes stay open: load balancers and orchestrators
	 * probe them without credentials. */
	need = route == IMA_ROUTE_METRICS ? w->metrics_scope :
	       route == IMA_ROUTE_PIPELINE ? w->pipeline_scope : "";

	if (bad_param != NULL) {
		route = IMA_ROUTE_OTHER;
		fcgi_error(&resp, 400, "bad_param", bad_param,
			   "a request parameter contains a NUL byte");
	} else switch (route) {
	case IMA_ROUTE_ANALYZE_V1:
	case IMA_ROUTE_ANALYZE:
		if (!is_post) {
			resp.allow = "POST";
			fcgi_error(&resp, 405, "method_not_allowed", "",
				   "use POST for this path");
		} else {
			fcgi_analyze(w, r, &p, &resp, id);
		}
		break;
	case IMA_ROUTE_HEALTH:
	case IMA_ROUTE_HEALTH_LIVE:
	case IMA_ROUTE_HEALTH_READY:
	case IMA_ROUTE_METRICS:
	case IMA_ROUTE_PIPELINE:
		if (strcmp(method, "GET") != 0 && !resp.head_only) {
			resp.allow = "GET, HEAD";
			fcgi_error(&resp, 405, "method_not_allowed", "",
				   "use GET or HEAD for this path");
		} else if (need[0] != '\0' && !fcgi_authorize(w, &p, &resp, id, need)) {
			/* refused: the error is in resp */
		} else if (route == IMA_ROUTE_HEALTH) {
			struct ima_buf deps = { 0 };
			int worst = ima_engine_health(w->eng, &deps);

			ima_buf_printf(&resp.body, "{\"status\":\"%s\",",
				       worst == 0 ? "ok" : worst == 1 ? "degraded" : "down");
			ima_buf_append(&resp.body, w->health.data, w->health.len);
			ima_buf_append(&resp.body, ",\"dependencies\":", 16);
			ima_buf_append(&resp.body, deps.data ? deps.data : "[]", deps.data ? deps.len : 2);
			ima_buf_append(&resp.body, "}", 1);
			ima_buf_free(&deps);
		} else if (route == IMA_ROUTE_HEALTH_LIVE) {
			/* A worker answers: the process is up. Nothing is probed,
			 * so a slow Redis never makes a liveness probe fail and
			 * get a healthy process restarted. */
			ima_buf_printf(&resp.body, "{\"status\":\"ok\",\"api_version\":\""
				       IMA_FCGI_API_VERSION "\",\"version\":\"%s\",\"pid\":%d}",
				       PACKAGE_VERSION, (int)w->pid);
		} else if (route == IMA_ROUTE_HEALTH_READY) {
			fcgi_ready(w, &resp);
		} else if (route == IMA_ROUTE_PIPELINE) {
			ima_buf_append(&resp.body, w->pipeline.data, w->pipeline.len);
		} else {
			/* This worker's own process metrics as of now; the
			 * others' are at most a second old. */
			ima_fcgi_proc_update(w->shm, w->slot);
			ima_fcgi_shm_render(w->shm, &resp.body);
			/* What the stages count (cache levels, cost saved...). */
			ima_metrics_render(&resp.body);
			resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
		}
		if (resp.body.failed)
			fcgi_error(&resp, 500, "internal", "", "out of memory");
		break;
	case IMA_ROUTE_INVALIDATE:
		if (!is_post) {
			resp.allow = "POST";
			fcgi_error(&resp, 405, "method_not_allowed", "", "use POST for this path");
		} else {
			fcgi_invalidate(w, r, &p, &resp, id);
		}
		break;
	case IMA_ROUTE_CACHE_ME:
		if (strcmp(method, "DELETE") != 0) {
			resp.allow = "DELETE";
			fcgi_error(&resp, 405, "method_not_allowed", "", "use DELETE for this path");
		} else {
			fcgi_cache_me(w, &p, &resp, id);
		}
		break;
	default:
		fcgi_error(&resp, 404, "not_found", "", "no such path");
		break;
	}
	fcgi_send(r, &resp, id);
	seconds = ima_fcgi_now() - t0;
	for (size_t i = 0; i < w->nstages; i++)
		stage_s[i] = resp.req != NULL ? ima_req_stage_seconds(resp.req, i) : -1;
	ima_fcgi_shm_record(w->shm, route, resp.status, seconds, w->stage_slot,
			    stage_s, w->nstages);
	__atomic_fetch_sub(&w->shm->in_flight, 1, __ATOMIC_RELAXED);
	if (w->opts->access_log)
		fcgi_log(t, method, path, route, &resp, seconds, stage_s);
	ima_log_set_request(NULL);
	ima_req_free(resp.req);
	ima_buf_free(&resp.body);
}

/* ---- the fixed answers ---------------------------------------------- */

void ima_fcgi_build_static(struct ima_fcgi_worker *w)
{
	const char *src = ima_engine_source(w->eng);
	const struct ima_conf *fc = ima_engine_front_conf(w->eng);

	/* The fixed part; the status and the dependencies are added per
	 * request, since Redis or an LLM endpoint can come and go. */
	ima_buf_printf(&w->health, "\"api_version\":\"" IMA_FCGI_API_VERSION "\","
		       "\"version\":\"%s\",\"pid\":%d,\"config\":",
		       PACKAGE_VERSION, (int)getpid());
	ima_json_write_str(&w->health, src, strlen(src));
	ima_buf_append(&w->health, ",\"stages\":[", 11);
	for (size_t i = 0; i < w->nstages; i++) {
		const char *name = ima_engine_stage_name(w->eng, i);
		const struct ima_plugin *p = ima_engine_stage_plugin(w->eng, i);

		ima_buf_printf(&w->health, "%s{\"name\":", i ? "," : "");
		ima_json_write_str(&w->health, name, strlen(name));
		ima_buf_append(&w->health, ",\"plugin\":", 10);
		ima_json_write_str(&w->health, p->name, strlen(p->name));
		ima_buf_append(&w->health, ",\"version\":", 11);
		ima_json_write_str(&w->health, p->version ? p->version : "",
				   p->version ? strlen(p->version) : 0);
		ima_buf_append(&w->health, "}", 1);
	}
	ima_buf_append(&w->health, "]", 1);
	ima_engine_describe_json(w->eng, &w->pipeline, -1);
	w->auth = ima_engine_auth_stages(w->eng) > 0;
	w->admin_scope = ima_conf_string(fc, "admin_scope");
	w->analyze_scope = ima_conf_string(fc, "analyze_scope");
	w->metrics_scope = ima_conf_string(fc, "metrics_scope");
	w->pipeline_scope = ima_conf_string(fc, "pipeline_scope");
}
