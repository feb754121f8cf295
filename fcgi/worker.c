/*
 * worker.c - one worker process of imaginator-fcgi: M threads that accept
 * FastCGI connections on the shared listening socket and answer the routes.
 *
 * Each thread accepts on its own (a blocking accept(): the kernel wakes one
 * waiter per connection, so there is no herd and no accept mutex for a slow
 * client to hold) and hands the connected socket to libfcgi, which then only
 * parses records. Stopping never touches the listening socket: it is shared
 * with the workers of the next generation during a reload, and shutdown() on
 * it would stop them too. Instead SIGUSR1 is unblocked only while a thread
 * waits in accept() (or between requests on a kept connection), so the stop
 * signal interrupts waiting and never a request's reads or writes.
 */
#define _GNU_SOURCE /* accept4, ppoll, pipe2 */
#include "config.h"

#include <errno.h>
#include <fcgiapp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"

#define FCGI_STACK_SIZE (4u << 20) /* jansson recursion: PITFALLS wants >= 1 MiB */
#define FCGI_ID_MAX 64             /* longest X-Request-Id taken from a client */
#define FCGI_KEEP_IDLE_MS 30000    /* idle kept connection before we close it */

enum { FCGI_T_BUSY = 0, FCGI_T_WAITING = 1, FCGI_T_DONE = 2 };

struct fcgi_worker;

struct fcgi_thread {
	pthread_t tid;
	struct fcgi_worker *w;
	int state; /* FCGI_T_*, atomic: the stopper signals only waiting threads */
	uint64_t rng;
	time_t log_sec;     /* the second log_prefix shows */
	char log_prefix[80];
};

struct fcgi_worker {
	struct ima_engine *eng;
	struct ima_fcgi_shm *shm;
	const struct ima_fcgi_opts *opts;
	int stop; /* atomic */
	pid_t pid;
	size_t nstages;
	int *stage_slot;
	struct ima_buf health;   /* built once: the answers never change */
	struct ima_buf pipeline;
	pthread_mutex_t lock;
	pthread_cond_t done;
	int running;
	struct fcgi_thread *threads;
	int nthreads;
};

/* The parameters the routes read, found in one pass over the environment
 * (FCGX_GetParam scans it once per name, and most names are absent). */
struct fcgi_params {
	const char *method, *client_id, *accept, *uri, *script_name, *path_info;
	const char *clen, *remote, *ctype, *auth, *cache;
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
		P("HTTP_CACHE_CONTROL", cache),
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
};

static void fcgi_on_usr1(int sig)
{
	(void)sig; /* only here to interrupt accept() and ppoll() */
}

static double fcgi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

		if (n >= FCGI_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			return false;
	}
	return n > 0;
}

/* splitmix64: ids must be unique, not secret; seeded from getrandom. */
static void fcgi_new_id(struct fcgi_thread *t, char *buf, size_t size)
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
	IMA_BUF_LIT(&head, "\r\n");
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
		if (resp->body.len > 0)
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
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
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
static int fcgi_parse_length(const char *s, size_t *out)
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
		{ "/metrics", IMA_ROUTE_METRICS },
		{ "/v1/pipeline", IMA_ROUTE_PIPELINE },
		{ "/v1/cache/invalidate", IMA_ROUTE_INVALIDATE },
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

/*
 * POST /v1/cache/invalidate {"user": "...", "tenant": "..."}: offered to the
 * stages (the cache increments the user's generation). Served only with
 * fcgi.admin_routes = 1 until an auth stage can require an admin scope.
 */
static void fcgi_invalidate(struct fcgi_worker *w, FCGX_Request *r,
			    const struct fcgi_params *p, struct fcgi_resp *resp)
{
	const char *clen = p->clen;
	size_t len, off = 0;
	struct ima_error err = { 0 };
	msgpack_sbuffer args, out;
	msgpack_zone zone;
	msgpack_object obj, res;
	char body[4096];
	int handled;

	if (!w->opts->admin_routes)
		return fcgi_error(resp, 404, "not_found", "",
				  "admin routes are off (fcgi.admin_routes = 1 turns them on)");
	if (clen == NULL || fcgi_parse_length(clen, &len) != 0)
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
	msgpack_zone_init(&zone, 512);
	msgpack_unpack(args.data, args.size, &off, &zone, &obj);
	msgpack_sbuffer_init(&out);
	handled = ima_engine_command(w->eng, "invalidate", &obj, &out, &err);
	if (handled < 0) {
		fcgi_error(resp, err.status ? err.status : 500, err.code, err.field, err.message);
	} else if (handled == 0) {
		fcgi_error(resp, 404, "not_found", "", "no stage of this pipeline handles invalidation");
	} else {
		off = 0;
		msgpack_unpack(out.data, out.size, &off, &zone, &res);
		resp->body.len = 0;
		ima_buf_append(&resp->body, "{\"invalidated\":", 15);
		ima_json_write(&resp->body, &res, -1);
		ima_buf_append(&resp->body, "}", 1);
		resp->status = 200;
	}
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&out);
	msgpack_sbuffer_destroy(&args);
}

static void fcgi_analyze(struct fcgi_worker *w, FCGX_Request *r,
			 const struct fcgi_params *p, struct fcgi_resp *resp, const char *id)
{
	const char *clen = p->clen, *remote = p->remote, *ctype = p->ctype;
	const char *auth = p->auth, *cache = p->cache;
	size_t len, max = ima_engine_limits(w->eng)->max_body_bytes;
	enum ima_format in_fmt;
	struct ima_req *req;
	char *body;
	char msg[128];
	int status;

	if (clen == NULL || clen[0] == '\0')
		return fcgi_error(resp, 411, "length_required", "",
				  "POST needs a Content-Length");
	if (fcgi_parse_length(clen, &len) != 0)
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
	req = ima_req_new();
	if (req == NULL) {
		ima_free(body);
		return fcgi_error(resp, 500, "internal", "", "out of memory");
	}
	ima_req_set_meta(req, "request_id", id);
	/* Lets a cache replay a rendered answer when JSON is what goes out. */
	ima_req_set_meta(req, "output", resp->out_fmt == IMA_FMT_JSON ? "json" : "msgpack");
	if (ctype != NULL)
		ima_req_set_meta(req, "content_type", ctype);
	if (cache != NULL)
		ima_req_set_meta(req, "cache_control", cache);
	if (auth != NULL)
		ima_req_set_meta(req, "authorization", auth);
	if (remote != NULL)
		ima_req_set_meta(req, "remote_addr", remote);
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

/* "2026-11-25T16:42:23." for the current second, formatted again only when
 * the second changes; then the milliseconds. */
static void fcgi_log_time(struct fcgi_thread *t, struct ima_buf *line)
{
	struct timespec ts;
	long ms;
	char three[3];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != t->log_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		snprintf(t->log_prefix, sizeof(t->log_prefix), "%04d-%02d-%02dT%02d:%02d:%02d.",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
		t->log_sec = ts.tv_sec;
	}
	ima_buf_append(line, t->log_prefix, strlen(t->log_prefix));
	ms = ts.tv_nsec / 1000000;
	three[0] = (char)('0' + ms / 100);
	three[1] = (char)('0' + ms / 10 % 10);
	three[2] = (char)('0' + ms % 10);
	ima_buf_append(line, three, 3);
}

/* One JSON line per request; one write() so lines of concurrent workers
 * never interleave. Built with appends: it runs for every request. */
static void fcgi_log(struct fcgi_thread *t, const char *id, const char *method,
		     const char *path, enum ima_fcgi_route route,
		     struct fcgi_resp *resp, double seconds, const double *stage_s)
{
	struct fcgi_worker *w = t->w;
	struct ima_buf line = { 0 };
	const char *label = ima_fcgi_route_label(route);
	char safe[129];
	size_t n = 0;

	for (const char *p = path; *p && n < sizeof(safe) - 1; p++)
		safe[n++] = (*p > ' ' && *p < 127 && *p != '"' && *p != '\\') ? *p : '?';
	safe[n] = '\0';
	IMA_BUF_LIT(&line, "{\"time\":\"");
	fcgi_log_time(t, &line);
	IMA_BUF_LIT(&line, "Z\",\"id\":\"");
	ima_buf_append(&line, id, strlen(id));
	IMA_BUF_LIT(&line, "\",\"pid\":");
	ima_buf_append_uint(&line, (uint64_t)w->pid);
	IMA_BUF_LIT(&line, ",\"method\":");
	ima_json_write_str(&line, method, strlen(method));
	IMA_BUF_LIT(&line, ",\"route\":\"");
	ima_buf_append(&line, label, strlen(label));
	IMA_BUF_LIT(&line, "\",\"path\":\"");
	ima_buf_append(&line, safe, n);
	IMA_BUF_LIT(&line, "\",\"status\":");
	ima_buf_append_uint(&line, (uint64_t)resp->status);
	IMA_BUF_LIT(&line, ",\"duration_ms\":");
	ima_buf_append_fixed(&line, seconds * 1e3, 3);
	IMA_BUF_LIT(&line, ",\"bytes_in\":");
	ima_buf_append_uint(&line, resp->bytes_in);
	IMA_BUF_LIT(&line, ",\"bytes_out\":");
	ima_buf_append_uint(&line, resp->body.len);
	if (resp->req != NULL && resp->status >= 400) {
		const struct ima_error *e = ima_req_error(resp->req);

		if (e != NULL) {
			IMA_BUF_LIT(&line, ",\"error\":");
			ima_json_write_str(&line, e->code, strlen(e->code));
		}
	}
	if (resp->req != NULL) {
		bool first = true;

		IMA_BUF_LIT(&line, ",\"stages_ms\":{");
		for (size_t i = 0; i < w->nstages; i++) {
			const char *name = ima_engine_stage_name(w->eng, i);

			if (stage_s[i] < 0)
				continue;
			if (!first)
				ima_buf_append(&line, ",", 1);
			first = false;
			ima_json_write_str(&line, name, strlen(name));
			ima_buf_append(&line, ":", 1);
			ima_buf_append_fixed(&line, stage_s[i] * 1e3, 3);
		}
		ima_buf_append(&line, "}", 1);
	}
	IMA_BUF_LIT(&line, "}\n");
	if (!line.failed && write(STDERR_FILENO, line.data, line.len) < 0)
		line.failed = true; /* nowhere left to report it */
	ima_buf_free(&line);
}

static void fcgi_handle(struct fcgi_thread *t, FCGX_Request *r)
{
	struct fcgi_worker *w = t->w;
	double t0 = fcgi_now(), seconds;
	struct fcgi_params p;
	const char *method, *client_id;
	struct fcgi_resp resp = { .status = 200, .content_type = "application/json" };
	enum ima_fcgi_route route;
	double stage_s[IMA_FCGI_MAX_STAGES];
	char path[1024];
	char id[FCGI_ID_MAX + 1];
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

	switch (route) {
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
	case IMA_ROUTE_METRICS:
	case IMA_ROUTE_PIPELINE:
		if (strcmp(method, "GET") != 0) {
			resp.allow = "GET";
			fcgi_error(&resp, 405, "method_not_allowed", "",
				   "use GET for this path");
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
		} else if (route == IMA_ROUTE_PIPELINE) {
			ima_buf_append(&resp.body, w->pipeline.data, w->pipeline.len);
		} else {
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
			fcgi_invalidate(w, r, &p, &resp);
		}
		break;
	default:
		fcgi_error(&resp, 404, "not_found", "", "no such path");
		break;
	}
	fcgi_send(r, &resp, id);
	seconds = fcgi_now() - t0;
	for (size_t i = 0; i < w->nstages; i++)
		stage_s[i] = resp.req != NULL ? ima_req_stage_seconds(resp.req, i) : -1;
	ima_fcgi_shm_record(w->shm, route, resp.status, seconds, w->stage_slot,
			    stage_s, w->nstages);
	__atomic_fetch_sub(&w->shm->in_flight, 1, __ATOMIC_RELAXED);
	if (w->opts->access_log)
		fcgi_log(t, id, method, path, route, &resp, seconds, stage_s);
	ima_req_free(resp.req);
	ima_buf_free(&resp.body);
}

/* ---- accepting ------------------------------------------------------- */

/* FCGI_WEB_SERVER_ADDRS for TCP sockets, as libfcgi's own accept would do
 * (we bypass it): a comma-separated list of IPv4 addresses. */
static bool fcgi_peer_allowed(const struct ima_fcgi_opts *o,
			      const struct sockaddr_storage *ss)
{
	char addr[INET6_ADDRSTRLEN];
	const char *p = o->web_server_addrs;
	size_t n;

	if (!o->tcp || p == NULL || *p == '\0')
		return true;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
			  addr, sizeof(addr));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
			  addr, sizeof(addr));
	else
		return false;
	n = strlen(addr);
	while (*p) {
		size_t l = strcspn(p, ", ");

		if (l == n && strncmp(p, addr, n) == 0)
			return true;
		p += l;
		p += strspn(p, ", ");
	}
	return false;
}

/* Blocks in accept() with SIGUSR1 open; -1 when interrupted or failed. */
static int fcgi_accept(struct fcgi_thread *t, const sigset_t *usr1)
{
	struct fcgi_worker *w = t->w;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, err = EINTR;

	__atomic_store_n(&t->state, FCGI_T_WAITING, __ATOMIC_SEQ_CST);
	pthread_sigmask(SIG_UNBLOCK, usr1, NULL);
	/* A stop signal that came while busy is delivered at the unblock above,
	 * before this check; one that comes after it interrupts accept(). The
	 * stopper repeats the signal to cover the gap between the two. */
	if (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
		fd = accept4(w->opts->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_CLOEXEC);
		err = errno;
	}
	pthread_sigmask(SIG_BLOCK, usr1, NULL);
	__atomic_store_n(&t->state, FCGI_T_BUSY, __ATOMIC_SEQ_CST);
	if (fd >= 0 && !fcgi_peer_allowed(w->opts, &ss)) {
		close(fd);
		return -1;
	}
	if (fd < 0 && (err == EMFILE || err == ENFILE || err == ENOMEM ||
		       err == ENOBUFS))
		poll(NULL, 0, 50); /* out of descriptors: don't spin */
	else if (fd < 0 && (err == EBADF || err == EINVAL || err == ENOTSOCK))
		__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
	return fd;
}

/* A kept connection (FCGI_KEEP_CONN): wait for its next request with the
 * stop signal open. False: close it. */
static bool fcgi_wait_kept(struct fcgi_thread *t, int fd, const sigset_t *open)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec idle = { FCGI_KEEP_IDLE_MS / 1000, 0 };
	int rc;

	__atomic_store_n(&t->state, FCGI_T_WAITING, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->w->stop, __ATOMIC_SEQ_CST))
		rc = 0;
	else
		rc = ppoll(&pfd, 1, &idle, open);
	__atomic_store_n(&t->state, FCGI_T_BUSY, __ATOMIC_SEQ_CST);
	return rc > 0 && !__atomic_load_n(&t->w->stop, __ATOMIC_SEQ_CST);
}

/*
 * libfcgi 2.4.2 still aborts the process on a PARAMS pair whose lengths
 * are near 2 GiB (CVE-2025-23016, PITFALLS.md). So before libfcgi reads a
 * request, the whole PARAMS stream is peeked at (not consumed) and every
 * name/value length is checked against the bytes that really follow.
 * Web servers send BEGIN_REQUEST and PARAMS in one write; a stream larger
 * than the peek window or slower than io_timeout is dropped.
 */
#define FCGI_PEEK_MAX (64 * 1024)

static bool fcgi_pair_len(const unsigned char *p, size_t len, size_t *i,
			  size_t *out)
{
	if (*i >= len)
		return false;
	if (p[*i] < 0x80) {
		*out = p[(*i)++];
		return true;
	}
	if (len - *i < 4)
		return false;
	*out = ((size_t)(p[*i] & 0x7f) << 24) | ((size_t)p[*i + 1] << 16) |
	       ((size_t)p[*i + 2] << 8) | p[*i + 3];
	*i += 4;
	return true;
}

/* final: the stream is complete, every pair must fit. Otherwise a pair may
 * still be arriving, but never one longer than the peek window. */
static bool fcgi_pairs_ok(const unsigned char *p, size_t len, bool final)
{
	size_t i = 0;

	while (i < len) {
		size_t nl, vl;

		if (!fcgi_pair_len(p, len, &i, &nl) || !fcgi_pair_len(p, len, &i, &vl))
			return !final;
		if (nl > FCGI_PEEK_MAX || vl > FCGI_PEEK_MAX)
			return false;
		if (nl > len - i || vl > len - i - nl)
			return !final;
		i += nl + vl;
	}
	return true;
}

/* 1: complete and sane; 0: incomplete so far; -1: drop the connection. */
static int fcgi_scan_records(const unsigned char *buf, size_t n,
			     unsigned char *params)
{
	size_t off = 0, plen = 0;

	while (n - off >= 8) {
		const unsigned char *h = buf + off;
		size_t clen = (size_t)h[4] << 8 | h[5], pad = h[6];

		if (h[0] != 1)
			return -1;
		if (n - off - 8 < clen + pad)
			return 0;
		if (h[1] == 4) { /* FCGI_PARAMS */
			if (clen == 0)
				return fcgi_pairs_ok(params, plen, true) ? 1 : -1;
			if (plen + clen > FCGI_PEEK_MAX)
				return -1;
			memcpy(params + plen, h + 8, clen);
			plen += clen;
			if (!fcgi_pairs_ok(params, plen, false))
				return -1;
		} else if (h[1] != 1 && h[1] != 9) {
			/* only BEGIN_REQUEST and GET_VALUES may come first */
			return -1;
		}
		off += 8 + clen + pad;
	}
	return 0;
}

static bool fcgi_params_sane(int fd, int timeout_s)
{
	unsigned char buf[FCGI_PEEK_MAX], params[FCGI_PEEK_MAX];
	double deadline = fcgi_now() + (timeout_s > 0 ? timeout_s : 60);

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		int rc;

		if (n == 0)
			return false;
		if (n < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (errno != EAGAIN && errno != EINTR)
				return false;
			if (fcgi_now() >= deadline)
				return false;
			poll(&pfd, 1, 100);
			continue;
		}
		rc = fcgi_scan_records(buf, (size_t)n, params);
		if (rc != 0)
			return rc > 0;
		if ((size_t)n == sizeof(buf) || fcgi_now() >= deadline)
			return false;
		/* Part of it is there: poll() would return at once, so wait a
		 * little for the rest (rare: servers send it in one write). */
		poll(NULL, 0, 1);
	}
}

static void fcgi_set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (seconds <= 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void *fcgi_thread_main(void *arg)
{
	struct fcgi_thread *t = arg;
	struct fcgi_worker *w = t->w;
	sigset_t usr1, open;
	FCGX_Request r;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, NULL, &open);
	sigdelset(&open, SIGUSR1);
	/* listen_sock -1: libfcgi must never accept by itself (see the top). */
	FCGX_InitRequest(&r, -1, 0);
	while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
		if (r.ipcFd < 0) {
			int fd = fcgi_accept(t, &usr1);

			if (fd < 0)
				continue;
			fcgi_set_timeouts(fd, w->opts->io_timeout);
			r.ipcFd = fd;
		} else if (!fcgi_wait_kept(t, r.ipcFd, &open)) {
			r.keepConnection = 0;
			FCGX_Finish_r(&r); /* closes the kept connection */
			continue;
		}
		/* keepConnection 1 makes FCGX_Accept_r keep our socket instead of
		 * closing it and accepting on listen_sock; it reads the begin
		 * request and the PARAMS, and closes the socket on a protocol
		 * error (then returns < 0 as listen_sock is invalid). */
		r.keepConnection = 1;
		if ((w->opts->check_params && !fcgi_params_sane(r.ipcFd, w->opts->io_timeout)) ||
		    FCGX_Accept_r(&r) < 0) {
			if (r.ipcFd >= 0) {
				r.keepConnection = 0;
				FCGX_Finish_r(&r);
			}
			continue;
		}
		fcgi_handle(t, &r);
		FCGX_Finish_r(&r);
	}
	if (r.ipcFd >= 0) {
		r.keepConnection = 0;
		FCGX_Finish_r(&r);
	}
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&t->state, FCGI_T_DONE, __ATOMIC_SEQ_CST);
	w->running--;
	pthread_cond_signal(&w->done);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- the worker process ---------------------------------------------- */

static void fcgi_build_static(struct fcgi_worker *w)
{
	const char *src = ima_engine_source(w->eng);

	/* The fixed part; the status and the dependencies are added per
	 * request, since Redis or an LLM endpoint can come and go. */
	ima_buf_printf(&w->health, "\"version\":\"%s\",\"pid\":%d,"
		       "\"config\":", PACKAGE_VERSION, (int)getpid());
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
}

/* SIGTERM: stop accepting, let busy threads finish, bounded. */
static bool fcgi_drain(struct fcgi_worker *w)
{
	double deadline = fcgi_now() + w->opts->drain_seconds;
	bool all;

	__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&w->lock);
	while (w->running > 0 && fcgi_now() < deadline) {
		struct timespec ts;

		for (int i = 0; i < w->nthreads; i++)
			if (__atomic_load_n(&w->threads[i].state, __ATOMIC_SEQ_CST) ==
			    FCGI_T_WAITING)
				pthread_kill(w->threads[i].tid, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->done, &w->lock, &ts);
	}
	all = w->running == 0;
	pthread_mutex_unlock(&w->lock);
	return all;
}

int ima_fcgi_worker_run(struct ima_engine *eng, struct ima_fcgi_shm *shm,
			const struct ima_fcgi_opts *opts, int ready_fd)
{
	struct fcgi_worker w = { .eng = eng, .shm = shm, .opts = opts };
	struct ima_error err = { 0 };
	struct sigaction sa = { .sa_handler = fcgi_on_usr1 };
	sigset_t stopset;
	pthread_attr_t attr;
	int sig = 0;

	/* No SA_RESTART: the point of SIGUSR1 is to make accept() return. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (ima_engine_worker_init(eng, &err) != 0) {
		ima_log(IMA_LOG_ERROR, "worker %d: worker_init failed: %s",
			(int)getpid(), err.message);
		ima_engine_free(eng);
		return 3;
	}
	w.pid = getpid();
	w.nstages = ima_engine_stage_count(eng);
	if (w.nstages > IMA_FCGI_MAX_STAGES)
		w.nstages = IMA_FCGI_MAX_STAGES;
	w.stage_slot = ima_calloc(w.nstages + 1, sizeof(int));
	w.threads = ima_calloc((size_t)opts->threads, sizeof(*w.threads));
	if (w.stage_slot == NULL || w.threads == NULL) {
		ima_log(IMA_LOG_ERROR, "worker %d: out of memory", (int)getpid());
		ima_free(w.stage_slot);
		ima_free(w.threads);
		ima_engine_free(eng);
		return 3;
	}
	for (size_t i = 0; i < w.nstages; i++)
		w.stage_slot[i] = ima_fcgi_shm_stage_slot(shm, ima_engine_stage_name(eng, i));
	fcgi_build_static(&w);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.done, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, FCGI_STACK_SIZE);
	for (int i = 0; i < opts->threads; i++) {
		uint64_t seed = 0;

		w.threads[i].w = &w;
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			seed = (uint64_t)getpid() << 32 ^ (uint64_t)fcgi_now();
		w.threads[i].rng = seed;
		if (pthread_create(&w.threads[i].tid, &attr, fcgi_thread_main,
				   &w.threads[i]) != 0) {
			ima_log(IMA_LOG_ERROR, "worker %d: cannot start thread %d",
				(int)getpid(), i);
			break;
		}
		pthread_mutex_lock(&w.lock);
		w.running++;
		w.nthreads++;
		pthread_mutex_unlock(&w.lock);
	}
	pthread_attr_destroy(&attr);
	if (w.nthreads > 0 && ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		ima_log(IMA_LOG_WARN, "worker %d: cannot report ready", (int)getpid());
	if (ready_fd >= 0)
		close(ready_fd);

	/* Signals stay blocked in every thread (inherited from the supervisor);
	 * this thread is the only one that takes them. */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGQUIT);
	if (w.nthreads > 0)
		sigwait(&stopset, &sig);
	if (!fcgi_drain(&w)) {
		ima_log(IMA_LOG_ERROR, "worker %d: requests still running after %.0f s, exiting",
			(int)getpid(), opts->drain_seconds);
		_exit(1); /* threads still use the engine: nothing can be freed */
	}
	for (int i = 0; i < w.nthreads; i++)
		pthread_join(w.threads[i].tid, NULL);
	pthread_cond_destroy(&w.done);
	pthread_mutex_destroy(&w.lock);
	ima_buf_free(&w.health);
	ima_buf_free(&w.pipeline);
	ima_free(w.stage_slot);
	ima_free(w.threads);
	ima_engine_free(eng);
	return w.nthreads > 0 ? 0 : 3;
}
