/*
 * ima_core.h - the host side of the core library: what the CLI, the FastCGI
 * front end and the tests use to load a configuration, build the pipeline and
 * run requests through it. Plugins see only ima_plugin.h.
 */
#ifndef IMA_CORE_H
#define IMA_CORE_H

#include <stdbool.h>
#include <stdio.h>

#include "ima_plugin.h"

/* ---- limits on untrusted input ----------------------------------------- */

struct ima_limits {
	size_t max_body_bytes; /* request bodies; larger ones are 413 */
	int max_depth;         /* nesting of JSON and msgpack values */
};

/* The name of the thread that runs the HTTP transfers of a process's LLM
 * calls (ima_http.c), as top -H and /proc/<pid>/task/<tid>/comm show it. */
#define IMA_HTTP_THREAD_NAME "imaginator-io"

#define IMA_DEFAULT_MAX_BODY (1024 * 1024)
/* msgpack-c's unpacker fails past 32 levels; stay below it. */
#define IMA_DEFAULT_MAX_DEPTH 32
/* Every asynchronous call of a request ends by its deadline
 * (imaginator.deadline_ms): below what the web servers in front wait
 * (nginx fastcgi_read_timeout 60 s, Apache FcgidIOTimeout about 40 s). */
#define IMA_DEFAULT_DEADLINE_MS 25000
#define IMA_MAX_DEADLINE_MS 3600000
/* Connections a worker process keeps to one host
 * (imaginator.max_host_connections). */
#define IMA_DEFAULT_HOST_CONNECTIONS 64

/*
 * Validates that data holds exactly one msgpack value within the limits:
 * nesting up to max_depth, every array/map count and every string length no
 * larger than the bytes that remain, strings valid UTF-8 (when utf8 is true),
 * no reserved type byte, len <= max_bytes. Runs in O(len) without allocating,
 * so hostile input is rejected before msgpack-c reserves memory for it.
 * Returns 0, or -1 and fills err (status 400, code "malformed_msgpack").
 */
int ima_mp_validate(const void *data, size_t len, size_t max_bytes,
		    int max_depth, bool utf8, struct ima_error *err);

/* Walks the one value at the start of data with the same checks; sets
 * *consumed to its length in bytes. Trailing bytes are allowed. */
int ima_mp_walk(const void *data, size_t len, int max_depth, bool utf8,
		size_t *consumed, struct ima_error *err);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool ima_utf8_valid(const char *s, size_t len);

/* ---- context (host side) -------------------------------------------- */

struct ima_ctx *ima_ctx_new(void);
void ima_ctx_free(struct ima_ctx *ctx);
size_t ima_ctx_count(const struct ima_ctx *ctx);
/* The i-th key and its encoded value, in insertion order. */
const char *ima_ctx_key(const struct ima_ctx *ctx, size_t i,
			const void **data, size_t *len);
/* The i-th value, unpacked (borrowed until the context is freed). */
const msgpack_object *ima_ctx_value(struct ima_ctx *ctx, size_t i);
/* Encodes the whole context as one msgpack map into out (appended).
 * With public_only, internal keys (leading '_') are left out. */
int ima_ctx_encode(const struct ima_ctx *ctx, msgpack_sbuffer *out,
		   bool public_only);
/*
 * Replaces the context's content with the msgpack map in data, which may come
 * from outside (a cache entry): validated first. Returns 0 or -1 with err.
 */
int ima_ctx_decode(struct ima_ctx *ctx, const void *data, size_t len,
		   const struct ima_limits *limits, struct ima_error *err);

/* ---- codec: bodies in and out ---------------------------------------- */

enum ima_format { IMA_FMT_JSON = 0, IMA_FMT_JSON_PRETTY, IMA_FMT_MSGPACK };

/*
 * Decodes a request body (JSON object or msgpack map) into msgpack bytes in
 * out. JSON: duplicate keys rejected, UTF-8 enforced, nesting limited, errors
 * with line and column. Returns 0, or -1 with err (400 malformed, 413 too
 * large, 422 when the body is not an object).
 */
int ima_body_decode(const char *body, size_t len, enum ima_format fmt,
		    const struct ima_limits *limits, msgpack_sbuffer *out,
		    struct ima_error *err);

/* Growable output buffer used by the encoders. */
struct ima_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed: contents are incomplete */
};
void ima_buf_append(struct ima_buf *b, const void *data, size_t len);
void ima_buf_printf(struct ima_buf *b, const char *fmt, ...) IMA_PRINTF(2, 3);
/* Appends a string literal. */
#define IMA_BUF_LIT(b, lit) ima_buf_append((b), (lit), sizeof(lit) - 1)
/* Decimal text of v, without printf. */
void ima_buf_append_uint(struct ima_buf *b, uint64_t v);
/* v with exactly decimals (0-9) digits after the point, like "%.*f" but
 * without printf: v * 10^decimals rounded half away from zero (so a tie
 * or a binary near-tie may end one unit apart from printf), no sign on a
 * zero, and 0 for NaN and infinities (JSON has no word for them). */
void ima_buf_append_fixed(struct ima_buf *b, double v, int decimals);
void ima_buf_free(struct ima_buf *b);

/* Writes one msgpack value as JSON. indent < 0: compact. */
void ima_json_write(struct ima_buf *b, const msgpack_object *o, int indent);
/* Writes a JSON string literal (quotes and escapes). */
void ima_json_write_str(struct ima_buf *b, const char *s, size_t len);
/* The error object {"error": {...}} as JSON. */
void ima_error_write_json(struct ima_buf *b, const struct ima_error *err);
/* The same error object as msgpack. */
int ima_error_pack(msgpack_packer *pk, const struct ima_error *err);

/* ---- configuration and the pipeline --------------------------------- */

struct ima_engine;

/*
 * A front end's group of settings in the configuration ("fcgi = { ... }"),
 * declared with the same option table as a stage's options, so that every
 * program reading a configuration validates it the same way and the core
 * knows no front end's settings. check, optional, tests the values beyond
 * their types (ranges) and fills err: the file and line are added, those of
 * the setting err->field names, else the group's.
 */
struct ima_front {
	const char *group;
	const struct ima_option *options;
	int (*check)(const struct ima_conf *conf, struct ima_error *err);
	/* Optional: tests the values against the loaded pipeline (a setting
	 * that needs an auth stage), after every stage's init; err as for
	 * check. */
	int (*check_engine)(const struct ima_conf *conf,
			    const struct ima_engine *eng, struct ima_error *err);
};

/*
 * Which configuration to load: an explicit path wins, then $IMAGINATOR_ENV
 * (conf dir / <env>.conf, the conf dir being $IMAGINATOR_CONF_DIR or the
 * installed one), then the embedded default configuration. Returns a
 * malloc'd path or NULL for the embedded default.
 */
char *ima_config_resolve(const char *explicit_path, struct ima_error *err,
			 int *failed);

/*
 * Loads a configuration (NULL: the embedded default), opens and checks every
 * plugin, validates options and runs each stage's init. front, which may be
 * NULL, is the group of settings the calling program reads; any other
 * top-level group than imaginator and pipeline is an error. Errors name the
 * file, the line, the stage and the plugin, in err->message. Returns NULL
 * on error.
 */
struct ima_engine *ima_engine_load(const char *path,
				   const struct ima_front *front,
				   struct ima_error *err);
/* Runs the optional worker_init hooks (after fork). */
int ima_engine_worker_init(struct ima_engine *eng, struct ima_error *err);
void ima_engine_free(struct ima_engine *eng);
const struct ima_limits *ima_engine_limits(const struct ima_engine *eng);
/* "embedded:default.conf" or the path. */
const char *ima_engine_source(const struct ima_engine *eng);
/* The pipeline fingerprint (see ima_conf_pipeline_fingerprint()). */
const char *ima_engine_fingerprint(const struct ima_engine *eng);

size_t ima_engine_stage_count(const struct ima_engine *eng);
/* True when a "join" entry stands before stage i. */
bool ima_engine_joins_before(const struct ima_engine *eng, size_t i);
const char *ima_engine_stage_name(const struct ima_engine *eng, size_t i);
const struct ima_plugin *ima_engine_stage_plugin(const struct ima_engine *eng,
						 size_t i);
const struct ima_conf *ima_engine_stage_conf(const struct ima_engine *eng,
					     size_t i);
/*
 * The front end's settings (the front given to ima_engine_load), validated
 * against its option table: read them with ima_conf_int() and friends.
 * NULL when the engine was loaded without a front.
 */
const struct ima_conf *ima_engine_front_conf(const struct ima_engine *eng);
/* Whether the file set option name (1), or it holds its default (0). */
int ima_conf_is_set(const struct ima_conf *conf, const char *name);

/*
 * Offers an administrative verb to every stage with a command hook (in
 * pipeline order). args: a msgpack map (may be NULL). The handlers' result
 * maps are packed into out as one array. Returns the number of stages that
 * handled it, or -1 with err when one failed.
 */
int ima_engine_command(struct ima_engine *eng, const char *verb,
		       const msgpack_object *args, msgpack_sbuffer *out,
		       struct ima_error *err);

/*
 * Asks every stage with a health hook for its dependencies and writes them
 * as a JSON array to out. Returns the worst status: 0 all ok (or none),
 * 1 degraded (also when memory ran out asking: then the array is empty),
 * 2 down.
 */
int ima_engine_health(struct ima_engine *eng, struct ima_buf *out);

/* Writes the stages and their options as JSON, secrets redacted. */
void ima_engine_describe_json(const struct ima_engine *eng, struct ima_buf *b,
			      int indent);

/* ---- shared data ---------------------------------------------------- */

/* Entries alive in the shared data table and calls of a loader so far
 * (tests, diagnostics). Either pointer may be NULL. */
void ima_data_stats(size_t *entries, uint64_t *loads);

/* ---- plugins -------------------------------------------------------- */

struct ima_loaded_plugin {
	void *handle;
	struct ima_plugin desc; /* zero-filled beyond the plugin's struct_size */
	char *path;
};

/*
 * Opens a plugin file and checks its descriptor before any hook runs.
 * name: the plugin name (symbol ima_plugin_<name>). Returns 0 or -1 with a
 * message in err naming the file and, for an ABI mismatch, both versions.
 */
int ima_plugin_open(const char *path, const char *name,
		    struct ima_loaded_plugin *out, struct ima_error *err);
void ima_plugin_close(struct ima_loaded_plugin *lp);
/* Finds <name>.so in a ':'-separated list of directories. */
int ima_plugin_find(const char *dirs, const char *name, char *buf,
		    size_t size);
/* The plugin search path: $IMAGINATOR_PLUGIN_DIR, else the config's
 * plugin_dir, else the installed plugin directory. */
const char *ima_plugin_dirs(const char *configured);

/* Checks the option table entry types and that defaults parse. */
int ima_plugin_check_options(const struct ima_plugin *p,
			     struct ima_error *err);

/* ---- requests ------------------------------------------------------- */

struct ima_req *ima_req_new(void);
void ima_req_free(struct ima_req *req);
/* Metadata from the front end; name lower-case, both copied. */
int ima_req_set_meta(struct ima_req *req, const char *name,
		     const char *value);
/* Sets the error without a stage (front-end errors). */
void ima_req_set_error(struct ima_req *req, const struct ima_error *err);
size_t ima_req_header_count(const struct ima_req *req);
void ima_req_header(const struct ima_req *req, size_t i, const char **name,
		    const char **value);

/*
 * Decodes body into the context key "request" and runs the pipeline.
 * Returns the HTTP status of the answer (200 or the error's status).
 */
int ima_engine_handle(struct ima_engine *eng, struct ima_req *req,
		      const char *body, size_t len, enum ima_format in_fmt);
/* Runs the pipeline on the current context. Returns the HTTP status. */
int ima_engine_run(struct ima_engine *eng, struct ima_req *req);

/* The number of auth stages (IMA_PLUGIN_AUTH) in the pipeline. */
size_t ima_engine_auth_stages(const struct ima_engine *eng);

/*
 * Who calls, for a route without an analysis body (the admin routes), or
 * for an analysis before ima_engine_handle(): runs the prefetch hooks of
 * the auth stages alone, in pipeline order, without the body, once per
 * request (ima_engine_handle then skips them). scope is what the route
 * needs:
 *   NULL    what the stages require themselves: an anonymous request goes
 *           on when they let it;
 *   ""      a caller: without _auth, 401 missing_credential with every auth
 *           stage's challenge;
 *   "name"  a caller whose _auth.scopes holds name: else that 401, or 403
 *           insufficient_scope (field "scope"), with
 *           `WWW-Authenticate: Bearer error="insufficient_scope",
 *           scope="name"` when a Bearer stage established the identity.
 * A stage's own refusal stands as it made it (its status, error and
 * headers). Without any auth stage nobody can be identified: a non-NULL
 * scope is 403 no_auth_stage. Returns 0 when the request may go on (the
 * identity, if any, in _auth), else the HTTP status, the error and the
 * headers being on req.
 */
int ima_engine_authenticate(struct ima_engine *eng, struct ima_req *req,
			    const char *scope);
/*
 * Renders the answer (the public context plus processing_status,
 * processing_time_seconds and run_metrics) or the error object.
 * Returns 0, -1 when memory ran out.
 */
int ima_req_render(struct ima_req *req, enum ima_format fmt,
		   struct ima_buf *out);

/* Per-stage timings of the last run: seconds, or -1 when it did not run. */
double ima_req_stage_seconds(const struct ima_req *req, size_t stage);

/* ---- metrics (host side) ----------------------------------------------- */

/*
 * Moves the metric table into shared memory so that worker processes forked
 * later add to the same counters, with room for the per-worker gauges of
 * up to workers processes at once. Call once, before fork. 0 or -1.
 */
int ima_metrics_share(unsigned workers);
/* Back to a private table (tests). */
void ima_metrics_unshare(void);
/* In a worker after fork: its column (1..workers) for per-worker gauges,
 * zeroed first. The supervisor gives each live worker its own. */
void ima_metrics_set_worker(unsigned column);
/* In the supervisor when a worker died: its gauges stop counting. */
void ima_metrics_worker_gone(unsigned column);
/* Tests only: called between claiming a slot for a new series and
 * publishing it, so a test can kill a process right there. */
extern void (*ima_metrics_claim_hook)(void);
/* Appends every metric, with HELP and TYPE lines, in the Prometheus text
 * format. */
void ima_metrics_render(struct ima_buf *out);

/* ---- logging -------------------------------------------------------- */

/*
 * Every line (ima_log, ima_log_fields) goes to standard error in one
 * write() of at most PIPE_BUF (4096) bytes, so lines of concurrent
 * processes never interleave. Text is
 * "IDENT[PID] worker N: level: message (request ID)" (a worker named by
 * a number; "IDENT[PID] NAME: ..." otherwise), the parts a front did
 * not set left out ("imaginator: error: ..." for the CLI). JSON is one
 * object per line: time (RFC 3339, UTC, milliseconds), level, worker (when
 * set), pid, request_id (when set), message, then the caller's fields;
 * "truncated": true when the message or the fields did not fit (the
 * fields go whole or not at all). Any bytes may be logged: control bytes
 * are escaped and invalid UTF-8 becomes U+FFFD, so a line stays one valid
 * JSON object.
 * The setters other than ima_log_set_request are for the start of a
 * process, before its threads.
 */
enum ima_log_format { IMA_LOG_TEXT = 0, IMA_LOG_JSON };

void ima_log_set_level(enum ima_log_level level);
void ima_log_vwrite(enum ima_log_level level, const char *fmt, va_list ap);
/* Text (the default) or JSON lines; ident names the program in text lines
 * (kept when NULL). */
void ima_log_set_format(enum ima_log_format format, const char *ident);
enum ima_log_format ima_log_get_format(void);
/* "json" or "text" into *out: 0, or -1 for anything else. */
int ima_log_format_parse(const char *name, enum ima_log_format *out);
/* Names the calling process in every line from now on (the worker key,
 * at most 15 bytes: "supervisor", "3") and records its pid; after fork.
 * NULL forgets both (text lines as the CLI writes them). */
void ima_log_set_process(const char *worker);
/* The calling thread's request id (copied, at most 64 bytes), on every
 * line the thread logs until the next call; NULL or "" clears it. */
void ima_log_set_request(const char *id);
/* As ima_log, with extra members for JSON lines: fields is
 * "key":value,... (valid JSON members, no braces), len its length.
 * Text lines show only the message. */
void ima_log_fields(enum ima_log_level level, const char *fields, size_t len,
		    const char *fmt, ...) IMA_PRINTF(4, 5);

/* ---- allocation failure injection (tests) ----------------------------- */

/* Makes the nth allocation from now and every later one fail (1 = the
 * next one); 0 disables. */
void ima_alloc_fail_after(long n);
/* Makes only the nth allocation from now fail, so that the code handling
 * the failure runs with memory again; 0 disables. */
void ima_alloc_fail_nth(long n);
/* Number of allocations since the counter was last reset. */
long ima_alloc_count(void);
/* Number of allocations failed on purpose since the last reset. */
long ima_alloc_failed(void);
/* Of the allocations since the last reset, those that grew a msgpack
 * sbuffer (ima_sbuffer_write). */
long ima_alloc_sbuffer_count(void);

#endif /* IMA_CORE_H */
