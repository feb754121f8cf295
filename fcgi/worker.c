/*
 * worker.c - one worker process of imaginator-fcgi: a receiving thread and
 * M handler threads that answer the routes.
 *
 * Receiving never occupies a handler. The receiver accepts on the shared
 * listening socket and reads every connection without blocking (epoll),
 * record by record, into a buffer per connection, until the request is
 * whole: BEGIN_REQUEST, PARAMS up to the empty PARAMS record, STDIN up to
 * the empty STDIN record (or the declared CONTENT_LENGTH; nothing when the
 * handler will refuse the length anyway). It enforces the PARAMS limit, the
 * engine's body limit and the receive timeout, closes a connection whose
 * peer ends or stalls before that, and answers on its own what needs no
 * handler: END_REQUEST with FCGI_UNKNOWN_ROLE for authorizers and filters,
 * FCGI_CANT_MPX_CONN for a second request id on a connection, and
 * FCGI_GET_VALUES. Only a whole request is queued for a handler thread, so
 * a thousand slow peers cost a thousand buffers, not the service.
 *
 * The handler reads and answers through libfcgi's stream API (FCGX_GetStr,
 * FCGX_PutStr, FCGX_FClose) on two FCGX_Stream objects of our own: one over
 * the buffered body, one that writes STDOUT records and END_REQUEST to the
 * socket, bounded by io_timeout. libfcgi's FCGX_Accept_r is not used: it
 * reads with blocking calls on the handler's thread, and its PARAMS parser
 * is the one that aborts on CVE-2025-23016.
 *
 * A kept connection (FCGI_KEEP_CONN) goes back to the receiver after each
 * answer, which parses what is already buffered first, so requests
 * pipelined in one write are answered one after another, in order.
 *
 * Stopping never touches the listening socket: it is shared with the
 * workers of the next generation during a reload, and shutdown() on it
 * would stop them too. SIGUSR1 is unblocked only while the receiver waits
 * in epoll_pwait(), so the stop signal interrupts waiting and never a
 * request. Then the receiver stops accepting, closes kept connections that
 * are between requests, finishes receiving the rest and exits once the
 * handlers have answered everything.
 */
#define _GNU_SOURCE /* accept4, epoll_pwait, strnlen */
#include "config.h"

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"

#define FCGI_STACK_SIZE (4u << 20) /* jansson dump/copy recurse: keep >= 1 MiB */
#define FCGI_ID_MAX 64             /* longest X-Request-Id taken from a client */
#define FCGI_KEEP_IDLE_SECONDS 30.0 /* idle kept connection before we close it */
#define FCGI_LINGER_SECONDS 2.0    /* reading a peer's rest after the answer */
#define FCGI_FIRST_BYTES_MS 2      /* a handler's wait for a new connection's request */
#define FCGI_SCAN_SECONDS 0.1      /* how often the deadlines are checked */
#define FCGI_PARAMS_MAX (64 * 1024) /* the whole PARAMS stream of a request */
#define FCGI_ADMIN_BODY_MAX 4096   /* POST /v1/cache/invalidate */
#define FCGI_READ_CHUNK (64 * 1024) /* one recv() of the receiver */
#define FCGI_KEEP_BUF 4096         /* larger input buffers are freed when empty */
#define FCGI_KEEP_BODY (64 * 1024) /* a handler's spare connection keeps no more */
#define FCGI_CONNS_MAX 4096        /* connections per worker */
#define FCGI_OUT_CONTENT 32768     /* STDOUT bytes per record we write */
/* A STDOUT header, its content, then room for the empty STDOUT record and
 * END_REQUEST that close the answer in the same write. */
#define FCGI_OUT_BUF (FCGI_HEADER_LEN + FCGI_OUT_CONTENT + 3 * FCGI_HEADER_LEN)

enum { FCGI_T_BUSY = 0, FCGI_T_WAITING = 1, FCGI_T_DONE = 2 };

/* What a connection waits for: only its owner (the handler that accepted
 * or took it, or the receiver) touches it, and it changes hands only under
 * the worker's lock (the ready queue, the incoming list). */
enum { FCGI_C_RECV = 0, FCGI_C_LINGER };

struct fcgi_conn {
	struct fcgi_conn *prev, *next; /* the receiver's connections */
	struct fcgi_conn *queue_next;  /* the ready queue or the incoming list */
	int fd;
	int state;         /* FCGI_C_* */
	double deadline;   /* the receiver closes it when this passes */
	bool served;       /* answered a request before: a kept connection */
	bool in_request;   /* a byte of the next request has come */
	bool close_after;  /* a record we answered ends the connection */
	/* the request being received */
	int id;
	bool keep;         /* FCGI_KEEP_CONN */
	bool begun, params_done, stdin_done;
	bool ready;        /* whole: for a handler */
	bool has_bad_param;
	char bad_param[64]; /* the name of a param with a NUL in it */
	size_t body_want;  /* STDIN bytes kept: CONTENT_LENGTH within the limit */
	size_t in_off;     /* in: parsed up to here */
	struct ima_buf in; /* bytes read, not yet parsed */
	struct ima_buf params;
	struct ima_buf body;
	char **envp;       /* NAME=VALUE strings, one allocation */
};

struct fcgi_worker;

struct fcgi_thread {
	pthread_t tid;
	struct fcgi_worker *w;
	int state; /* FCGI_T_*, atomic: the stopper signals only waiting threads */
	uint64_t rng;
	unsigned char *out; /* FCGI_OUT_BUF bytes: the answer's records */
	char *scratch;      /* FCGI_READ_CHUNK bytes: one recv() */
	struct fcgi_conn *spare; /* reused for the next accepted connection */
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
	struct fcgi_thread *threads; /* [0] the receiver, then the handlers */
	int nthreads;
	/* the receiver's own */
	int epfd;
	struct fcgi_conn *conns;
	int nconns;
	int kick; /* the handler to wake first for the next queued request */
	/* between the receiver and the handlers, under lock */
	int wake_fd; /* eventfd: a handler gave the receiver a connection */
	pthread_cond_t ready_cond;
	struct fcgi_conn *ready_head, *ready_tail;
	int queued; /* atomic too: read without the lock before accept() */
	struct fcgi_conn *incoming;
	int parked; /* handlers waiting for the receiver to finish a stop */
	bool receiver_done;
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
	bool head_only; /* HEAD: the headers of the answer, not its body */
};

static void fcgi_on_usr1(int sig)
{
	(void)sig; /* only here to interrupt the receiver's epoll_pwait() */
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
	ima_buf_append_uint(&line, resp->head_only ? 0 : resp->body.len);
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

/* bad_param: the name of a param with a NUL in it, or NULL. */
static void fcgi_handle(struct fcgi_thread *t, FCGX_Request *r, const char *bad_param)
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
	resp.head_only = strcmp(method, "HEAD") == 0;

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
	case IMA_ROUTE_METRICS:
	case IMA_ROUTE_PIPELINE:
		if (strcmp(method, "GET") != 0 && !resp.head_only) {
			resp.allow = "GET, HEAD";
			fcgi_error(&resp, 405, "method_not_allowed", "",
				   "use GET or HEAD for this path");
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

/* ---- threads -------------------------------------------------------- */

static void fcgi_thread_exit(struct fcgi_thread *t)
{
	struct fcgi_worker *w = t->w;

	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&t->state, FCGI_T_DONE, __ATOMIC_SEQ_CST);
	w->running--;
	pthread_cond_signal(&w->done);
	pthread_mutex_unlock(&w->lock);
}

/* ---- connections ----------------------------------------------------- */

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

/*
 * libfcgi 2.4.2 aborts the process on a PARAMS pair whose lengths are near
 * 2 GiB (CVE-2025-23016, only partly fixed in Debian 12), so it never parses PARAMS here: the
 * receiver does, and checks every name/value length against the bytes that
 * really follow, while the stream arrives and once it is complete.
 */
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
 * still be arriving, but never one longer than the whole PARAMS limit. */
static bool fcgi_pairs_ok(const unsigned char *p, size_t len, bool final)
{
	size_t i = 0;

	while (i < len) {
		size_t nl, vl;

		if (!fcgi_pair_len(p, len, &i, &nl) || !fcgi_pair_len(p, len, &i, &vl))
			return !final;
		if (nl > FCGI_PARAMS_MAX || vl > FCGI_PARAMS_MAX)
			return false;
		if (nl > len - i || vl > len - i - nl)
			return !final;
		i += nl + vl;
	}
	return true;
}

static void fcgi_conn_reset(struct fcgi_conn *c)
{
	ima_free(c->envp);
	c->envp = NULL;
	c->params.len = 0;
	c->body.len = 0;
	c->body_want = 0;
	c->begun = c->params_done = c->stdin_done = c->ready = false;
	c->has_bad_param = false;
	c->id = 0;
}

/* A small record the receiver answers itself. Written without waiting: a
 * peer that does not read even that much loses its connection. */
static int fcgi_conn_reply(struct fcgi_conn *c, int type, int id,
			   const unsigned char *content, size_t len)
{
	unsigned char rec[8 + 256];
	ssize_t n;

	rec[0] = FCGI_VERSION_1;
	rec[1] = (unsigned char)type;
	rec[2] = (unsigned char)(id >> 8);
	rec[3] = (unsigned char)id;
	rec[4] = 0;
	rec[5] = (unsigned char)len;
	rec[6] = rec[7] = 0;
	memcpy(rec + 8, content, len);
	n = send(c->fd, rec, 8 + len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)(8 + len) ? 0 : -1;
}

static int fcgi_conn_end(struct fcgi_conn *c, int id, int protocol_status)
{
	unsigned char end[8] = { 0, 0, 0, 0, (unsigned char)protocol_status, 0, 0, 0 };

	return fcgi_conn_reply(c, FCGI_END_REQUEST, id, end, sizeof(end));
}

/* FCGI_GET_VALUES asks what libfcgi would answer: no multiplexing, and as
 * many requests at once as this worker has handler threads. */
static int fcgi_conn_management(struct fcgi_worker *w, struct fcgi_conn *c,
				int type, const unsigned char *p, size_t len)
{
	unsigned char out[256];
	size_t i = 0, o = 0;
	char threads[16];

	if (type != FCGI_GET_VALUES) {
		unsigned char unknown[8] = { (unsigned char)type };

		return fcgi_conn_reply(c, FCGI_UNKNOWN_TYPE, 0, unknown, sizeof(unknown));
	}
	if (!fcgi_pairs_ok(p, len, true))
		return -1;
	snprintf(threads, sizeof(threads), "%d", w->opts->threads);
	while (i < len) {
		size_t nl, vl;
		const char *value = NULL;

		fcgi_pair_len(p, len, &i, &nl);
		fcgi_pair_len(p, len, &i, &vl);
		if ((nl == 14 && memcmp(p + i, FCGI_MAX_CONNS, 14) == 0) ||
		    (nl == 13 && memcmp(p + i, FCGI_MAX_REQS, 13) == 0))
			value = threads;
		else if (nl == 15 && memcmp(p + i, FCGI_MPXS_CONNS, 15) == 0)
			value = "0";
		if (value != NULL && o + 2 + nl + strlen(value) <= sizeof(out)) {
			out[o++] = (unsigned char)nl;
			out[o++] = (unsigned char)strlen(value);
			memcpy(out + o, p + i, nl);
			memcpy(out + o + nl, value, strlen(value));
			o += nl + strlen(value);
		}
		i += nl + vl;
	}
	return fcgi_conn_reply(c, FCGI_GET_VALUES_RESULT, 0, out, o);
}

/* The PARAMS stream is complete: the environment for the handler, and how
 * much of STDIN it will read. */
static int fcgi_conn_params_end(struct fcgi_worker *w, struct fcgi_conn *c)
{
	const unsigned char *p = (const unsigned char *)c->params.data;
	size_t len = c->params.len, i = 0, n = 0, size, cap, want;
	char **env, *s;

	if (!fcgi_pairs_ok(p, len, true))
		return -1;
	while (i < len) {
		size_t nl, vl;

		fcgi_pair_len(p, len, &i, &nl);
		fcgi_pair_len(p, len, &i, &vl);
		i += nl + vl;
		n++;
	}
	/* Each pair's lengths took at least two bytes, which pay for "=\0". */
	size = (n + 1) * sizeof(char *) + len;
	env = ima_malloc(size);
	if (env == NULL)
		return -1;
	s = (char *)(env + n + 1);
	for (i = 0, n = 0; i < len; n++) {
		size_t nl, vl;

		fcgi_pair_len(p, len, &i, &nl);
		fcgi_pair_len(p, len, &i, &vl);
		/* A NUL would cut the value short where C strings are read: the
		 * handler refuses the request instead of routing a prefix. */
		if (!c->has_bad_param && memchr(p + i, '\0', nl + vl) != NULL) {
			size_t shown = strnlen((const char *)p + i, nl);

			if (shown >= sizeof(c->bad_param))
				shown = sizeof(c->bad_param) - 1;
			memcpy(c->bad_param, p + i, shown);
			c->bad_param[shown] = '\0';
			c->has_bad_param = true;
		}
		env[n] = s;
		memcpy(s, p + i, nl);
		s[nl] = '=';
		memcpy(s + nl + 1, p + i + nl, vl);
		s[nl + 1 + vl] = '\0';
		s += nl + vl + 2;
		i += nl + vl;
	}
	env[n] = NULL;
	c->envp = env;
	c->params_done = true;
	/* The body is received only when the handler will read it: a missing,
	 * bad or too large CONTENT_LENGTH is answered at once (411, 400, 413)
	 * and the STDIN records are dropped as they come. */
	cap = ima_engine_limits(w->eng)->max_body_bytes;
	if (cap < FCGI_ADMIN_BODY_MAX)
		cap = FCGI_ADMIN_BODY_MAX;
	want = 0;
	for (char **e = env; *e != NULL; e++)
		if (strncmp(*e, "CONTENT_LENGTH=", 15) == 0) {
			if (fcgi_parse_length(*e + 15, &want) != 0 || want > cap)
				want = 0;
			break;
		}
	c->body_want = want;
	if (want == 0 || c->has_bad_param)
		c->ready = true;
	return 0;
}

/* One record of the connection. 0, or -1: close the connection. */
static int fcgi_conn_record(struct fcgi_worker *w, struct fcgi_conn *c, int type,
			    int id, const unsigned char *p, size_t len)
{
	if (id == FCGI_NULL_REQUEST_ID)
		return fcgi_conn_management(w, c, type, p, len);
	if (type == FCGI_BEGIN_REQUEST) {
		int role;
		bool keep;

		if (len < 8)
			return -1;
		role = p[0] << 8 | p[1];
		keep = (p[2] & FCGI_KEEP_CONN) != 0;
		if (c->begun) {
			/* One request at a time: refuse a second, keep the first. */
			if (id == c->id)
				return -1;
			return fcgi_conn_end(c, id, FCGI_CANT_MPX_CONN);
		}
		if (role != FCGI_RESPONDER) {
			/* Its PARAMS and STDIN then belong to no active request and
			 * are dropped below. */
			if (fcgi_conn_end(c, id, FCGI_UNKNOWN_ROLE) != 0)
				return -1;
			c->close_after = !keep;
			return 0;
		}
		c->begun = true;
		c->id = id;
		c->keep = keep;
		return 0;
	}
	/* Records of no active request are ignored, as the protocol says. */
	if (!c->begun || id != c->id)
		return 0;
	switch (type) {
	case FCGI_ABORT_REQUEST:
		fcgi_conn_reset(c);
		if (fcgi_conn_end(c, id, FCGI_REQUEST_COMPLETE) != 0)
			return -1;
		c->close_after = !c->keep;
		return 0;
	case FCGI_PARAMS:
		if (c->params_done)
			return -1;
		if (len == 0)
			return fcgi_conn_params_end(w, c);
		if (c->params.len + len > FCGI_PARAMS_MAX)
			return -1;
		ima_buf_append(&c->params, p, len);
		if (c->params.failed ||
		    !fcgi_pairs_ok((const unsigned char *)c->params.data, c->params.len, false))
			return -1;
		return 0;
	case FCGI_STDIN:
		if (!c->params_done)
			return -1;
		if (len == 0) {
			c->stdin_done = true;
			c->ready = true;
			return 0;
		}
		/* Past the declared length: read and dropped. */
		if (c->body.len < c->body_want) {
			size_t take = c->body_want - c->body.len;

			ima_buf_append(&c->body, p, len < take ? len : take);
			if (c->body.failed)
				return -1;
			if (c->body.len == c->body_want)
				c->ready = true;
		}
		return 0;
	}
	return 0; /* FCGI_DATA is for filters; unknown types are skipped */
}

/*
 * Parses the whole records read so far. Stops at a complete request (the
 * bytes after it are the next request on a kept connection, kept for
 * later), but first takes the STDIN records of that request that are
 * already here, so a connection is not left with them unread. 0, or -1:
 * close the connection.
 */
static int fcgi_conn_parse(struct fcgi_worker *w, struct fcgi_conn *c)
{
	while (c->in.len - c->in_off >= FCGI_HEADER_LEN && !c->close_after) {
		const unsigned char *h = (const unsigned char *)c->in.data + c->in_off;
		size_t clen = (size_t)h[4] << 8 | h[5], pad = h[6];
		int type = h[1], id = h[2] << 8 | h[3];

		if (h[0] != FCGI_VERSION_1)
			return -1;
		if (c->in.len - c->in_off - FCGI_HEADER_LEN < clen + pad)
			break;
		if (c->ready && (c->stdin_done || type != FCGI_STDIN || id != c->id))
			break;
		c->in_off += FCGI_HEADER_LEN + clen + pad;
		if (fcgi_conn_record(w, c, type, id, h + FCGI_HEADER_LEN, clen) != 0)
			return -1;
	}
	if (c->in_off == c->in.len) {
		c->in.len = c->in_off = 0;
		if (c->in.cap > FCGI_KEEP_BUF)
			ima_buf_free(&c->in);
	} else if (c->in_off > 0) {
		memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
	return 0;
}

/* ---- reading a connection, on any thread ---------------------------- */

/*
 * Parses what is buffered (the next of pipelined requests), then reads
 * what the socket has, without waiting, until the request is whole, the
 * receiver must answer a record itself (close_after), the socket has
 * nothing more for now, or after rounds reads. Both the handler that
 * accepted the connection and the receiver read through here. 0, or -1:
 * close (the peer ended or reset before a whole request, or broke the
 * protocol).
 */
static int fcgi_conn_read(struct fcgi_worker *w, struct fcgi_conn *c, char *scratch,
			  int rounds)
{
	if (fcgi_conn_parse(w, c) != 0)
		return -1;
	while (!c->ready && !c->close_after && rounds-- > 0) {
		ssize_t n = recv(c->fd, scratch, FCGI_READ_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1; /* a peer that gives up costs this connection only */
		/* On a kept connection the clock starts with the first byte of
		 * the next request; a new one has had it since the accept. */
		if (!c->in_request && c->served)
			c->deadline = fcgi_now() + w->opts->receive_timeout;
		c->in_request = true;
		/* A connection keeps only what is not parsed yet (a partial
		 * record), so an idle or trickling peer costs a few bytes. */
		ima_buf_append(&c->in, scratch, (size_t)n);
		if (c->in.failed || fcgi_conn_parse(w, c) != 0)
			return -1;
		if (n < FCGI_READ_CHUNK)
			break; /* the socket is empty: spare the recv() that says so */
	}
	return 0;
}

/* A connection no thread holds any more. */
static void fcgi_conn_free(struct fcgi_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	fcgi_conn_reset(c);
	ima_buf_free(&c->in);
	ima_buf_free(&c->params);
	ima_buf_free(&c->body);
	ima_free(c);
}

/* ---- the receiving thread -------------------------------------------- */

static void fcgi_conn_unlink(struct fcgi_worker *w, struct fcgi_conn *c)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	w->nconns--;
}

static void fcgi_conn_close(struct fcgi_worker *w, struct fcgi_conn *c)
{
	fcgi_conn_unlink(w, c);
	fcgi_conn_free(c);
}

/*
 * Wakes one handler that waits in accept() to take the queue: SIGUSR1
 * interrupts only waiting, and a handler checks the queue after it opens
 * the signal and before it blocks. Round robin, so that a wake-up lost to
 * a handler that has just accepted a connection goes to another one when
 * the receiver looks again. Under the lock.
 */
static void fcgi_kick(struct fcgi_worker *w)
{
	int n = w->nthreads - 1;

	for (int i = 0; i < n; i++) {
		int k = (w->kick + i) % n;
		struct fcgi_thread *h = &w->threads[1 + k];

		if (__atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == FCGI_T_WAITING) {
			pthread_kill(h->tid, SIGUSR1);
			w->kick = k + 1;
			return;
		}
	}
}

/* A whole request: the connection leaves the receiver for a handler. */
static void fcgi_conn_dispatch(struct fcgi_worker *w, struct fcgi_conn *c)
{
	fcgi_conn_unlink(w, c);
	c->queue_next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->ready_tail != NULL)
		w->ready_tail->queue_next = c;
	else
		w->ready_head = c;
	w->ready_tail = c;
	__atomic_store_n(&w->queued, w->queued + 1, __ATOMIC_SEQ_CST);
	pthread_cond_signal(&w->ready_cond); /* a handler parked by a stop */
	fcgi_kick(w);
	pthread_mutex_unlock(&w->lock);
}

/* The peer gets what we wrote before the close: end our side and read
 * (and drop) what it still sends, for at most FCGI_LINGER_SECONDS.
 * Closing with unread bytes would send a reset that can destroy it. */
static void fcgi_conn_linger(struct fcgi_conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = FCGI_C_LINGER;
	c->close_after = false;
	c->in.len = c->in_off = 0;
	c->deadline = fcgi_now() + FCGI_LINGER_SECONDS;
}

/* After a read: hand over, keep receiving, or close. */
static void fcgi_conn_settle(struct fcgi_worker *w, struct fcgi_conn *c, int rc)
{
	if (rc != 0)
		fcgi_conn_close(w, c);
	else if (c->ready)
		fcgi_conn_dispatch(w, c);
	else if (c->close_after)
		fcgi_conn_linger(c);
}

static void fcgi_conn_input(struct fcgi_worker *w, struct fcgi_conn *c, char *scratch)
{
	if (c->state == FCGI_C_LINGER) {
		/* An answered request's rest: dropped until the peer's end. */
		for (int round = 0; round < 8; round++) {
			ssize_t n = recv(c->fd, scratch, FCGI_READ_CHUNK, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n <= 0)
				return fcgi_conn_close(w, c);
		}
		return;
	}
	fcgi_conn_settle(w, c, fcgi_conn_read(w, c, scratch, 8));
}

/* A connection from a handler: a new one whose request is not all here
 * yet, a kept one between requests, or a lingering close. */
static void fcgi_conn_adopt(struct fcgi_worker *w, struct fcgi_conn *c, bool stopping)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	/* At a stop kept connections between requests go (see the top). */
	if (w->nconns >= FCGI_CONNS_MAX ||
	    (stopping && c->state == FCGI_C_RECV && c->served && !c->in_request) ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		return fcgi_conn_free(c);
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	if (c->state == FCGI_C_RECV && c->served && !c->in_request)
		c->deadline = fcgi_now() + FCGI_KEEP_IDLE_SECONDS;
	/* What came after the handler's last read is reported by epoll at
	 * once: the socket is level-triggered. */
}

/*
 * The receiver: buffers the connections whose request a handler could not
 * answer at once (incomplete, or a kept connection between requests),
 * answers what needs no handler (refused roles, a second request id,
 * GET_VALUES), enforces the deadlines and queues whole requests for the
 * handlers. The stop signal (SIGUSR1) is open only while it waits in
 * epoll_pwait().
 */
static void *fcgi_receiver_main(void *arg)
{
	struct fcgi_thread *t = arg;
	struct fcgi_worker *w = t->w;
	struct epoll_event evs[64];
	sigset_t open;
	bool stopping = false;
	double next_scan = 0;

	pthread_sigmask(SIG_SETMASK, NULL, &open);
	sigdelset(&open, SIGUSR1);
	for (;;) {
		double now = fcgi_now();
		int n, timeout;
		bool finished;

		if (!stopping && __atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			stopping = true;
			/* Kept connections between requests go; a connection that
			 * sent part of a request (or nothing yet: it was accepted
			 * just now) gets its answer within the receive timeout. */
			for (struct fcgi_conn *c = w->conns, *next; c != NULL; c = next) {
				next = c->next;
				if (c->state == FCGI_C_RECV && c->served && !c->in_request)
					fcgi_conn_close(w, c);
			}
		}
		/* Done when nothing is left here or queued and every handler
		 * is parked: none holds a connection it could hand over. */
		pthread_mutex_lock(&w->lock);
		finished = stopping && w->nconns == 0 && w->incoming == NULL &&
			   w->ready_head == NULL && w->parked == w->nthreads - 1;
		if (w->ready_head != NULL)
			fcgi_kick(w); /* in case the last one was lost */
		pthread_mutex_unlock(&w->lock);
		if (finished)
			break;
		if (now >= next_scan) {
			for (struct fcgi_conn *c = w->conns, *next; c != NULL; c = next) {
				next = c->next;
				if (now >= c->deadline)
					fcgi_conn_close(w, c);
			}
			next_scan = now + FCGI_SCAN_SECONDS;
		}
		timeout = w->nconns > 0 || stopping || __atomic_load_n(&w->queued, __ATOMIC_SEQ_CST) > 0 ?
			(int)(FCGI_SCAN_SECONDS * 1000) : -1;
		__atomic_store_n(&t->state, FCGI_T_WAITING, __ATOMIC_SEQ_CST);
		/* A stop signal that came while busy is delivered when the mask
		 * opens; the stopper repeats it to cover the gap to this check. */
		if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) && !stopping)
			n = 0;
		else
			n = epoll_pwait(w->epfd, evs, 64, timeout, &open);
		__atomic_store_n(&t->state, FCGI_T_BUSY, __ATOMIC_SEQ_CST);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &w->wake_fd) {
				struct fcgi_conn *in;
				uint64_t v;

				if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					continue;
				pthread_mutex_lock(&w->lock);
				in = w->incoming;
				w->incoming = NULL;
				pthread_mutex_unlock(&w->lock);
				while (in != NULL) {
					struct fcgi_conn *c = in;

					in = c->queue_next;
					fcgi_conn_adopt(w, c, stopping);
				}
			} else {
				fcgi_conn_input(w, p, t->scratch);
			}
		}
	}
	pthread_mutex_lock(&w->lock);
	w->receiver_done = true;
	pthread_cond_broadcast(&w->ready_cond);
	pthread_mutex_unlock(&w->lock);
	fcgi_thread_exit(t);
	return NULL;
}

/* ---- accepting, on the handler threads --------------------------------- */

/* Blocks in accept() with SIGUSR1 open, unless a request is queued; a new
 * connection (from the thread's spare), or NULL when interrupted, refused
 * or failed. */
static struct fcgi_conn *fcgi_accept(struct fcgi_thread *t, const sigset_t *usr1)
{
	struct fcgi_worker *w = t->w;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct fcgi_conn *c;
	int fd = -1, err = EINTR;

	__atomic_store_n(&t->state, FCGI_T_WAITING, __ATOMIC_SEQ_CST);
	pthread_sigmask(SIG_UNBLOCK, usr1, NULL);
	/* A stop signal or a kick that came while busy is delivered at the
	 * unblock above, before this check; one that comes after it
	 * interrupts accept(). The stopper repeats the signal, the receiver
	 * kicks again, to cover the gap between the two. */
	if (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) &&
	    __atomic_load_n(&w->queued, __ATOMIC_SEQ_CST) == 0) {
		fd = accept4(w->opts->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		err = errno;
	}
	pthread_sigmask(SIG_BLOCK, usr1, NULL);
	__atomic_store_n(&t->state, FCGI_T_BUSY, __ATOMIC_SEQ_CST);
	if (fd < 0) {
		if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS)
			poll(NULL, 0, 50); /* out of descriptors: don't spin */
		else if (err == EBADF || err == EINVAL || err == ENOTSOCK)
			__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	c = t->spare != NULL ? t->spare : ima_calloc(1, sizeof(*c));
	if (!fcgi_peer_allowed(w->opts, &ss) || c == NULL) {
		close(fd);
		return NULL;
	}
	t->spare = NULL;
	c->fd = fd;
	c->state = FCGI_C_RECV;
	c->served = c->in_request = c->close_after = false;
	/* A new connection has the receive timeout to send its request. */
	c->deadline = fcgi_now() + w->opts->receive_timeout;
	return c;
}

/* ---- answering: libfcgi's streams over our buffers --------------------- */

struct fcgi_out {
	int fd;
	int id;
	int timeout_s;
	unsigned char *buf; /* FCGI_OUT_BUF bytes */
};

/* The socket is non-blocking (the receiver's); a write may wait for room
 * at most timeout_s seconds at a time (0: no bound). */
static int fcgi_write_all(int fd, const unsigned char *p, size_t len, int timeout_s)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		n = poll(&pfd, 1, timeout_s > 0 ? timeout_s * 1000 : -1);
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (n < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static void fcgi_header(unsigned char *h, int type, int id, size_t len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = h[7] = 0;
}

/* The body is all in memory: the end of the buffer is the end of STDIN. */
static void fcgi_in_fill(FCGX_Stream *s)
{
	s->isClosed = 1;
}

static void fcgi_in_empty(FCGX_Stream *s, int close)
{
	(void)s;
	(void)close;
}

static void fcgi_out_fill(FCGX_Stream *s)
{
	(void)s;
}

/*
 * FCGX_PutStr calls this when the buffer is full, FCGX_FClose with close
 * set: what is buffered goes out as one STDOUT record, and on close the
 * empty STDOUT record and END_REQUEST follow in the same write (a small
 * answer is one write, as with libfcgi's own streams).
 */
static void fcgi_out_empty(FCGX_Stream *s, int close)
{
	struct fcgi_out *o = s->data;
	unsigned char *data = o->buf + FCGI_HEADER_LEN, *start = data, *end = s->wrNext;
	size_t n = (size_t)(s->wrNext - data);

	if (s->isClosed)
		return;
	if (n > 0) {
		fcgi_header(o->buf, FCGI_STDOUT, o->id, n);
		start = o->buf;
	}
	if (close) {
		fcgi_header(end, FCGI_STDOUT, o->id, 0);
		fcgi_header(end + FCGI_HEADER_LEN, FCGI_END_REQUEST, o->id, 8);
		/* appStatus 0, FCGI_REQUEST_COMPLETE */
		memset(end + 2 * FCGI_HEADER_LEN, 0, 8);
		end += 3 * FCGI_HEADER_LEN;
	}
	if (end > start && fcgi_write_all(o->fd, start, (size_t)(end - start), o->timeout_s) != 0) {
		s->isClosed = 1;
		s->FCGI_errno = errno != 0 ? errno : EIO;
	}
	s->wrNext = data;
}

/* Answers the whole request a connection holds. False: the answer could
 * not be written, the connection is lost. */
static bool fcgi_serve(struct fcgi_thread *t, struct fcgi_conn *c)
{
	static unsigned char nothing[1];
	struct fcgi_worker *w = t->w;
	struct fcgi_out o = { .fd = c->fd, .id = c->id,
			      .timeout_s = w->opts->io_timeout, .buf = t->out };
	FCGX_Stream in = { 0 }, out = { 0 };
	FCGX_Request r = { 0 };

	in.rdNext = in.stopUnget = c->body.len > 0 ? (unsigned char *)c->body.data : nothing;
	in.stop = in.wrNext = in.rdNext + c->body.len;
	in.isReader = 1;
	in.fillBuffProc = fcgi_in_fill;
	in.emptyBuffProc = fcgi_in_empty;
	out.wrNext = out.stopUnget = t->out + FCGI_HEADER_LEN;
	out.stop = out.rdNext = out.wrNext + FCGI_OUT_CONTENT;
	out.fillBuffProc = fcgi_out_fill;
	out.emptyBuffProc = fcgi_out_empty;
	out.data = &o;
	/* Filled by hand, not by FCGX_Accept_r: the handler reads envp and
	 * the two streams; ipcFd -1 keeps libfcgi off the socket. */
	r.requestId = c->id;
	r.role = FCGI_RESPONDER;
	r.in = &in;
	r.out = &out;
	r.envp = c->envp;
	r.ipcFd = -1;
	r.keepConnection = c->keep;
	fcgi_handle(t, &r, c->has_bad_param ? c->bad_param : NULL);
	return FCGX_FClose(&out) == 0;
}

/* Closes a connection a handler holds; its object is kept for the next
 * accept, without buffers grown large by a big request. */
static void fcgi_drop(struct fcgi_thread *t, struct fcgi_conn *c)
{
	if (t->spare != NULL)
		return fcgi_conn_free(c);
	close(c->fd);
	c->fd = -1;
	fcgi_conn_reset(c);
	c->in.len = c->in_off = 0;
	if (c->in.cap > FCGI_KEEP_BUF)
		ima_buf_free(&c->in);
	if (c->body.cap > FCGI_KEEP_BODY)
		ima_buf_free(&c->body);
	t->spare = c;
}

/* The receiver takes a connection whose next bytes must be waited for. */
static void fcgi_hand_over(struct fcgi_worker *w, struct fcgi_conn *c)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	c->queue_next = w->incoming;
	w->incoming = c;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		ima_log(IMA_LOG_WARN, "worker %d: cannot wake the receiver", (int)w->pid);
}

/*
 * A handler keeps a connection as long as a whole request is there to
 * answer: the one a web server sent in one write right after the connect,
 * then those pipelined behind it on a kept connection. Whatever must be
 * waited for (the rest of a request, the next request on a kept
 * connection, a lingering close) goes to the receiver, so a slow or idle
 * peer never holds a handler.
 */
static void fcgi_carry(struct fcgi_thread *t, struct fcgi_conn *c)
{
	struct fcgi_worker *w = t->w;
	bool waited = false;

	for (;;) {
		if (fcgi_conn_read(w, c, t->scratch, 16) != 0)
			return fcgi_drop(t, c);
		if (c->close_after) {
			fcgi_conn_linger(c);
			return fcgi_hand_over(w, c);
		}
		if (!c->ready && !c->served && !c->in_request && !waited) {
			/* A web server writes the request right after its connect,
			 * but the handler the connect woke often looks first (half
			 * the time through nginx here): a short wait, bounded, is
			 * cheaper than the hand-over. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

			waited = true;
			if (poll(&pfd, 1, FCGI_FIRST_BYTES_MS) > 0)
				continue;
		}
		if (!c->ready)
			return fcgi_hand_over(w, c);
		if (!fcgi_serve(t, c)) {
			return fcgi_drop(t, c);
		} else if (!c->keep) {
			if (c->stdin_done)
				return fcgi_drop(t, c);
			/* The rest of STDIN may still come: close softly. */
			fcgi_conn_reset(c);
			fcgi_conn_linger(c);
			return fcgi_hand_over(w, c);
		}
		fcgi_conn_reset(c);
		c->served = true;
		c->in_request = c->in.len > c->in_off;
		if (c->in_request)
			c->deadline = fcgi_now() + w->opts->receive_timeout;
		else if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
			return fcgi_drop(t, c); /* between requests at a stop */
	}
}

/* The next connection with a request for this handler: a queued one
 * first, else a new one. NULL: the worker is done. */
static struct fcgi_conn *fcgi_next(struct fcgi_thread *t, const sigset_t *usr1)
{
	struct fcgi_worker *w = t->w;

	for (;;) {
		struct fcgi_conn *c;
		bool done;

		/* The common case takes no lock: nothing queued, not stopping. */
		if (__atomic_load_n(&w->queued, __ATOMIC_SEQ_CST) == 0 &&
		    !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			if ((c = fcgi_accept(t, usr1)) != NULL)
				return c;
			continue;
		}
		pthread_mutex_lock(&w->lock);
		if (w->ready_head == NULL && __atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			uint64_t one = 1;

			/* Stopping: no more accepts; answer what the receiver
			 * still queues until it has finished. */
			w->parked++;
			if (write(w->wake_fd, &one, sizeof(one)) < 0)
				ima_log(IMA_LOG_WARN, "worker %d: cannot wake the receiver",
					(int)w->pid);
			while (w->ready_head == NULL && !w->receiver_done)
				pthread_cond_wait(&w->ready_cond, &w->lock);
			w->parked--;
		}
		c = w->ready_head;
		if (c != NULL) {
			w->ready_head = c->queue_next;
			if (w->ready_head == NULL)
				w->ready_tail = NULL;
			__atomic_store_n(&w->queued, w->queued - 1, __ATOMIC_SEQ_CST);
		}
		done = c == NULL && w->receiver_done;
		pthread_mutex_unlock(&w->lock);
		if (c != NULL || done)
			return c;
	}
}

static void *fcgi_handler_main(void *arg)
{
	struct fcgi_thread *t = arg;
	struct fcgi_conn *c;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	while ((c = fcgi_next(t, &usr1)) != NULL)
		fcgi_carry(t, c);
	if (t->spare != NULL)
		fcgi_conn_free(t->spare);
	t->spare = NULL;
	fcgi_thread_exit(t);
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

/* The receiver's descriptors. The handlers block in accept(): the
 * listening socket is made blocking (every worker and every generation
 * shares it; the kernel wakes one accept() per connection). */
static int fcgi_open_poll(struct fcgi_worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->wake_fd };
	int fl = fcntl(w->opts->listen_fd, F_GETFL);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0 || fl < 0 ||
	    ((fl & O_NONBLOCK) && fcntl(w->opts->listen_fd, F_SETFL, fl & ~O_NONBLOCK) != 0) ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
		return -1;
	return 0;
}

static int fcgi_start_thread(struct fcgi_worker *w, pthread_attr_t *attr,
			     void *(*fn)(void *))
{
	struct fcgi_thread *t = &w->threads[w->nthreads];
	uint64_t seed = 0;

	t->w = w;
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)fcgi_now();
	t->rng = seed;
	t->scratch = ima_malloc(FCGI_READ_CHUNK);
	if (fn == fcgi_handler_main)
		t->out = ima_malloc(FCGI_OUT_BUF);
	if (t->scratch == NULL || (fn == fcgi_handler_main && t->out == NULL) ||
	    pthread_create(&t->tid, attr, fn, t) != 0) {
		ima_free(t->scratch);
		ima_free(t->out);
		t->scratch = NULL;
		t->out = NULL;
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	w->running++;
	w->nthreads++;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int ima_fcgi_worker_run(struct ima_engine *eng, struct ima_fcgi_shm *shm,
			const struct ima_fcgi_opts *opts, int ready_fd)
{
	struct fcgi_worker w = { .eng = eng, .shm = shm, .opts = opts,
				 .epfd = -1, .wake_fd = -1 };
	struct ima_error err = { 0 };
	struct sigaction sa = { .sa_handler = fcgi_on_usr1 };
	sigset_t stopset;
	pthread_attr_t attr;
	bool serving = false;
	int sig = 0;

	/* No SA_RESTART: the point of SIGUSR1 is to make accept() and
	 * epoll_pwait() return. */
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
	w.threads = ima_calloc((size_t)opts->threads + 1, sizeof(*w.threads));
	if (w.stage_slot == NULL || w.threads == NULL || fcgi_open_poll(&w) != 0) {
		ima_log(IMA_LOG_ERROR, "worker %d: cannot set up: %s", (int)getpid(),
			strerror(errno));
		if (w.epfd >= 0)
			close(w.epfd);
		if (w.wake_fd >= 0)
			close(w.wake_fd);
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
	pthread_cond_init(&w.ready_cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, FCGI_STACK_SIZE);
	/* The receiver first: a handler may hand it a connection at once. */
	if (fcgi_start_thread(&w, &attr, fcgi_receiver_main) == 0)
		for (int i = 0; i < opts->threads; i++)
			if (fcgi_start_thread(&w, &attr, fcgi_handler_main) != 0) {
				ima_log(IMA_LOG_ERROR, "worker %d: cannot start thread %d",
					(int)getpid(), i);
				break;
			}
	pthread_attr_destroy(&attr);
	serving = w.nthreads > 1;
	if (serving && ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		ima_log(IMA_LOG_WARN, "worker %d: cannot report ready", (int)getpid());
	if (ready_fd >= 0)
		close(ready_fd);

	/* Signals stay blocked in every thread (inherited from the supervisor);
	 * this thread is the only one that takes them. */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGQUIT);
	if (serving)
		sigwait(&stopset, &sig);
	if (!fcgi_drain(&w)) {
		ima_log(IMA_LOG_ERROR, "worker %d: requests still running after %.0f s, exiting",
			(int)getpid(), opts->drain_seconds);
		_exit(1); /* threads still use the engine: nothing can be freed */
	}
	for (int i = 0; i < w.nthreads; i++) {
		pthread_join(w.threads[i].tid, NULL);
		ima_free(w.threads[i].out);
		ima_free(w.threads[i].scratch);
	}
	close(w.epfd);
	close(w.wake_fd);
	pthread_cond_destroy(&w.ready_cond);
	pthread_cond_destroy(&w.done);
	pthread_mutex_destroy(&w.lock);
	ima_buf_free(&w.health);
	ima_buf_free(&w.pipeline);
	ima_free(w.stage_slot);
	ima_free(w.threads);
	ima_engine_free(eng);
	return serving ? 0 : 3;
}
