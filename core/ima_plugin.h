/*
 * ima_plugin.h - the Imaginator stage plugin ABI.
 *
 * A plugin is a shared object that exports exactly one data symbol,
 *
 *     IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_<name>;
 *
 * where <name> is the file name without ".so". The host opens the file with
 * dlopen(RTLD_NOW | RTLD_LOCAL), reads abi_major, abi_minor and struct_size
 * before touching anything else, and refuses the plugin unless the major
 * equals IMA_ABI_MAJOR and the minor is not newer than IMA_ABI_MINOR. Only the
 * members inside struct_size are read, so members are only ever appended.
 *
 * ABI changelog (the package version is unrelated to these numbers):
 *   1.0  first stable ABI: descriptor, option table, init / worker_init /
 *        process / finish / fini hooks, context and request API.
 *   1.1  optional command, health and prefetch hooks (admin verbs such as
 *        cache invalidation; dependency states for /health; answering
 *        exact repeats before decoding), ima_req_set_prerendered,
 *        ima_ctx_public_json,
 *        ima_ctx_encode_public, ima_ctx_merge, pipeline fingerprint,
 *        metrics. Plugins built for 1.0 load unchanged.
 *   1.2  the call cache (ima_call_cache_get / ima_call_cache_put, served by
 *        a stage's optional call_get / call_put hooks) and per-request
 *        private data of a stage (ima_req_task_set / ima_req_task_get),
 *        ima_msgpack_check, ima_metric_get.
 *        Plugins built for 1.0 and 1.1 load unchanged.
 *   1.3  metric families with HELP text and a type (ima_metric_declare;
 *        per-worker gauges summed over workers), contributions to
 *        run_metrics kept by the request (ima_req_metric_add / _put /
 *        _append / _get; the "_metrics.<name>" context keys of 1.1 still
 *        work), ima_req_set_reference_date, and the thread contract below
 *        written down. Plugins built for 1.0 to 1.2 load unchanged.
 *   1.4  asynchronous calls driven by the core: HTTP (ima_http_submit),
 *        LLM completions routed to the pipeline's provider stage
 *        (ima_llm_submit, served by the llm_submit hook), joins
 *        (ima_join, "join" pipeline entries, and always before the finish
 *        hooks), one deadline per request, the call cache without
 *        blocking (ima_call_cache_lookup, the call_try hook), JSON Schema
 *        checks (ima_json_schema_check) and histograms
 *        (IMA_METRIC_HISTOGRAM, ima_metric_observe). Plugins built for
 *        1.0 to 1.3 load unchanged.
 *   1.5  auth stages: the IMA_PLUGIN_AUTH flag (a prefetch hook that
 *        establishes the caller's identity without the body, so a front
 *        end can authenticate requests that have none: the admin routes)
 *        and the descriptor's challenge. Plugins built for 1.0 to 1.4
 *        load unchanged; flags a plugin's ABI did not define are ignored.
 *   1.6  data files parsed once per process and shared by every stage and
 *        engine that asks for them (ima_data_acquire, ima_data_release),
 *        and the monotonic clock (ima_now_ms). Plugins built for 1.0 to
 *        1.5 load unchanged.
 *   1.7  msgpack sbuffers grown through the core's allocator
 *        (ima_sbuffer_write as the packer's write callback, and
 *        ima_sbuffer_failed), so allocation-failure tests reach them too.
 *        Plugins built for 1.0 to 1.6 load unchanged (their own buffers
 *        keep msgpack_sbuffer_write).
 *
 * Ownership, once for the whole API:
 *   - Arguments to a hook are borrowed for the duration of the call.
 *   - Memory from ima_req_alloc() and friends belongs to the request and is
 *     freed by the core when the request ends; plugins never free it.
 *   - Values returned by ima_ctx_get*() are borrowed and stay valid until the
 *     request ends (replacing a key does not invalidate earlier reads).
 *   - A plugin allocates its long-lived state in init and frees it in fini.
 *
 * Threads, once for the whole API:
 *   - The core runs one request on one thread: its process, finish and
 *     prefetch hooks are called there, in order. Hooks of different
 *     requests run at the same time on other threads, so a stage's state
 *     is shared and needs its own locking.
 *   - A stage may start threads of its own for one request (parallel
 *     calls), and must join them before its process hook returns: the
 *     request is freed after the pipeline.
 *   - From such a thread only these are safe: ima_call_cache_get and
 *     ima_call_cache_put, ima_req_task_get, ima_req_meta, ima_req_elapsed,
 *     ima_req_reference_date, ima_conf_*, ima_data_path, ima_data_acquire,
 *     ima_data_release, ima_now_ms, ima_metric_*,
 *     ima_log, ima_error_set, ima_msgpack_check, ima_json_to_msgpack,
 *     ima_json_schema_check, the
 *     ima_malloc family (ima_sbuffer_write and ima_sbuffer_failed too)
 *     and the packing helpers.
 *   - Everything else is the request thread's alone: ima_req_alloc and
 *     ima_req_strndup (the arena has no lock), every ima_ctx_* call (even
 *     a lookup: values are decoded lazily and cached in the context),
 *     ima_req_fail, ima_req_add_header, ima_req_set_degraded,
 *     ima_req_task_set, ima_req_metric_* and ima_req_set_prerendered.
 *   - Completion callbacks of asynchronous calls (ABI 1.4) run on the
 *     request's own thread, inside a join: they may use everything above
 *     without locks. Prefer them to threads of a stage's own.
 */
#ifndef IMA_PLUGIN_H
#define IMA_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IMA_ABI_MAJOR 1
#define IMA_ABI_MINOR 7

#define IMA_PLUGIN_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define IMA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define IMA_PRINTF(f, a)
#endif

/* What process() tells the dispatcher. Zero is success; never renumbered. */
enum ima_rc {
	IMA_CONTINUE = 0, /* run the next stage */
	IMA_DONE = 1,     /* response complete: skip the remaining stages */
	IMA_ERROR = 2     /* abort; the error was set with ima_req_fail() */
};

/*
 * An error as the client sees it: HTTP status, a stable machine code
 * ("invalid_field"), a human message and the request field at fault ("" when
 * none). line and column are set for syntax errors in a body, else 0.
 */
struct ima_error {
	int status;
	char code[48];
	char message[256];
	char field[96];
	int line;
	int column;
};

/* Fills err and returns -1, so hooks can write `return ima_error_set(...)`. */
int ima_error_set(struct ima_error *err, int status, const char *code,
		  const char *field, const char *fmt, ...) IMA_PRINTF(5, 6);

/* ---- configuration keys a plugin declares ---------------------------- */

enum ima_opt_type {
	IMA_OPT_BOOL = 1,
	IMA_OPT_INT = 2,    /* 64-bit integer */
	IMA_OPT_DOUBLE = 3, /* accepts integers too */
	IMA_OPT_STRING = 4
};

/* Option flags. */
#define IMA_OPT_SECRET 0x1u /* value is redacted wherever the host shows it */

struct ima_option {
	const char *name;
	enum ima_opt_type type;
	const char *default_value; /* as it would be written in the config */
	const char *description;   /* one line, shown by `imaginator plugins` */
	unsigned flags;
};

/* The options of one stage instance: defaults merged with the config file,
 * ${VAR} references expanded. Lives as long as the pipeline. */
struct ima_conf;

int ima_conf_bool(const struct ima_conf *conf, const char *name);
int64_t ima_conf_int(const struct ima_conf *conf, const char *name);
double ima_conf_double(const struct ima_conf *conf, const char *name);
/* Never NULL for a declared string option; "" when unset. */
const char *ima_conf_string(const struct ima_conf *conf, const char *name);
/* Name of the stage instance (pipeline entry), e.g. "cache_l1". */
const char *ima_conf_stage_name(const struct ima_conf *conf);
/*
 * SHA-256 (64 hex digits) of the whole pipeline: every stage's name, plugin,
 * plugin version and option values (secrets left out), in order. Any change
 * to the pipeline changes it, so a cache keyed with it never serves an
 * answer computed by another pipeline.
 */
const char *ima_conf_pipeline_fingerprint(const struct ima_conf *conf);
/* Config file and line of the stage entry, for messages. */
const char *ima_conf_file(const struct ima_conf *conf);
int ima_conf_line(const struct ima_conf *conf);

/*
 * Resolves a data file name shipped with Imaginator ("skills.tsv") to a path:
 * absolute names are returned as they are; others are looked up in
 * $IMAGINATOR_DATA_DIR, then in the installed data directory. Writes the path
 * into buf; returns 0, or -1 when no readable file was found (buf then holds
 * the last candidate tried).
 */
int ima_data_path(const char *name, char *buf, size_t size);

/* ---- shared data (ABI 1.6) ------------------------------------------- */

/*
 * Parses the files paths[0 .. npaths) (as given to ima_data_acquire) into
 * one object, against base when one was given. Returns the object, or NULL
 * after writing a message naming the file (and, for a format error, the
 * line) into err, errlen bytes.
 */
typedef void *(*ima_data_load_fn)(const char *const *paths, const void *base,
				  char *err, size_t errlen);
/* Frees what an ima_data_load_fn returned. */
typedef void (*ima_data_free_fn)(void *object);

/*
 * The object that load builds from the files, parsed once per process:
 * every stage of every engine asking with the same kind, the same files
 * (the same file on disk, however its path is written) and the same base
 * gets the same object, and load runs only for the first. A file changed
 * on disk (size, mtime or ctime, or another inode) is a new object for the
 * acquirers from then on; those holding the old one keep it.
 *
 * kind names the loader and everything that changes what it builds from
 * the files ("skillmatch.dict/1"): two loaders that build different
 * objects, or the same object with another layout, must never use the same
 * kind, or one would get the other's. base is an object from
 * ima_data_acquire that this one is built against (a dictionary whose ids
 * the object holds), or NULL: it stays alive as long as this one does and
 * is passed to load.
 *
 * The object is read-only from then on: it is shared between stages and
 * threads without a lock. Returns it, or NULL with err (load's message, or
 * which file is missing); a failure is not remembered, the next call loads
 * again. Call it from init (it may read files for a while), and end each
 * successful call with exactly one ima_data_release(). Thread-safe.
 *
 * release frees the object when the last holder has released it, possibly
 * after the engine of the stage that loaded it has gone (a reload): the
 * core keeps the shared object that release lives in open until then.
 */
const void *ima_data_acquire(const char *kind, const char *const *paths,
			     size_t npaths, const void *base,
			     ima_data_load_fn load, ima_data_free_fn release,
			     char *err, size_t errlen);
/* Drops one reference of an object from ima_data_acquire; the last frees
 * it (and releases its base). NULL is accepted. */
void ima_data_release(const void *object);

/* Milliseconds of a monotonic clock (ABI 1.6): for deadlines and
 * intervals, never for dates. */
int64_t ima_now_ms(void);

/* ---- the request and its context ------------------------------------ */

struct ima_req;
struct ima_ctx;

/* The context: a msgpack map from key to value, carried from stage to stage.
 * Keys starting with '_' are internal and never appear in a response. */
struct ima_ctx *ima_req_ctx(struct ima_req *req);

/*
 * Looks up a value by path: dot-separated map keys and array indexes,
 * e.g. "input.resume_text" or "experiences.0.title". A top-level key that
 * holds dots itself is found too ("_metrics.cache.status"). Returns NULL
 * when any step is missing or of the wrong kind.
 */
const msgpack_object *ima_ctx_get(struct ima_ctx *ctx, const char *path);
/* Typed lookups: 0 on success, -1 when absent or of another type. */
int ima_ctx_get_str(struct ima_ctx *ctx, const char *path, const char **str,
		    size_t *len);
int ima_ctx_get_double(struct ima_ctx *ctx, const char *path, double *out);
int ima_ctx_get_int(struct ima_ctx *ctx, const char *path, int64_t *out);
int ima_ctx_get_bool(struct ima_ctx *ctx, const char *path, int *out);

/* Adds or replaces top-level key with one msgpack-encoded value (copied).
 * Returns 0, or -1 when data is not exactly one well-formed value or memory
 * ran out. */
int ima_ctx_put(struct ima_ctx *ctx, const char *key, const void *data,
		size_t len);
/* Same, but takes the buffer of sb (which is left empty) instead of copying.
 * On failure the buffer stays with the caller. */
int ima_ctx_put_sbuffer(struct ima_ctx *ctx, const char *key,
			msgpack_sbuffer *sb);
/* Removes a key; 0 when it was present, -1 otherwise. */
int ima_ctx_remove(struct ima_ctx *ctx, const char *key);
/* Appends the context's public keys (no leading '_'), plus the internal
 * keys listed in also (NULL-terminated; may be NULL), to out as one msgpack
 * map: what a cache stores. 0, or -1 when memory ran out. */
int ima_ctx_encode_public(struct ima_ctx *ctx, msgpack_sbuffer *out,
			  const char *const *also);
/*
 * Adds or replaces every key of the msgpack map in data, which may come from
 * outside (a cache entry read back): validated first (depth, counts against
 * the remaining bytes, UTF-8, size). Returns 0, or -1 with err and the
 * context unchanged.
 */
int ima_ctx_merge(struct ima_ctx *ctx, const void *data, size_t len,
		  struct ima_error *err);
/*
 * The public keys of the context as JSON members, '"k":v,"k2":v2' without
 * the braces: an answer as a cache can replay it. Returns a buffer from
 * ima_malloc (the caller frees it with ima_free) and its length, or NULL.
 */
char *ima_ctx_public_json(struct ima_ctx *ctx, size_t *len);
/*
 * Answers the request with JSON members made by ima_ctx_public_json() (from
 * a prefetch hook); the core adds run_metrics and the processing fields.
 * Copied. Only valid when ima_req_meta(req, "output") is "json".
 */
int ima_req_set_prerendered(struct ima_req *req, const char *members, size_t len);
/*
 * Contributions to the answer's run_metrics (ABI 1.3), kept by the request
 * rather than in the context, so no stage can read or forge another's. The
 * core adds "stages" (each stage's seconds); the rest is what stages say.
 * key is a top-level member of run_metrics, at most 63 bytes; at most 32
 * keys per request. Each returns 0, or -1 when the key is used with another
 * kind, the value is not one well-formed msgpack value, or memory ran out.
 *
 * ima_req_metric_add: a number; what every stage adds under one key is
 *   summed (two LLM stages adding "total_tokens" give the request's total).
 * ima_req_metric_put: one msgpack value (copied), replacing what was put.
 * ima_req_metric_append: one msgpack value (copied) appended to the array
 *   under key ("calls").
 * ima_req_metric_get: what is under key now, or NULL; for add, a double;
 *   for append, the array. Borrowed until the next call that changes key.
 *
 * Plugins built for 1.1 and 1.2 may instead put an object under
 * "_metrics.<name>" in the context; it becomes run_metrics.<name> unless a
 * contribution uses that key.
 */
int ima_req_metric_add(struct ima_req *req, const char *key, double delta);
int ima_req_metric_put(struct ima_req *req, const char *key, const void *data,
		       size_t len);
int ima_req_metric_append(struct ima_req *req, const char *key,
			  const void *data, size_t len);
const msgpack_object *ima_req_metric_get(struct ima_req *req, const char *key);

/*
 * Per-request private data of a stage, kept outside the context (like
 * Varnish's PRIV_TASK): owner is the stage's own state pointer, value
 * usually memory from ima_req_alloc(). Set it from the stage's process hook,
 * before any thread of the request may read it; reading is then safe from
 * any thread. At most 16 stages per request. Returns 0, or -1 when full.
 */
int ima_req_task_set(struct ima_req *req, const void *owner, void *value);
/* The value set for owner in this request, or NULL. */
void *ima_req_task_get(const struct ima_req *req, const void *owner);

/*
 * The call cache: one expensive call (an LLM completion) cached by its own
 * request, so that another analysis making the same call (the same resume
 * against another job ad) reuses its result and does not pay for it again.
 *
 * call describes everything that changes the result: model, messages,
 * parameters, prompt version (a msgpack map; key order and runs of
 * whitespace in strings do not matter). The result is one msgpack value,
 * valid UTF-8, nested at most 31 deep; cost_usd is what the call cost,
 * counted as saved whenever the result is served from the cache.
 *
 * The cache stage serves these (its call_get / call_put hooks). Calls from
 * a stage placed before it, or in a request it bypassed (Cache-Control
 * no-store), or in a pipeline without one, always miss, and stores are
 * dropped. Entries are namespaced by tenant and user like answers, and
 * no-cache skips lookups but stores.
 *
 * ima_call_cache_get() returns 1 and appends the result to *result (unpack
 * it with msgpack_unpack) and its cost to *cost_usd, or 0 on a miss with
 * *result unchanged (or failed, ima_sbuffer_failed, when memory ran out
 * while the provider appended to it). A miss may wait (bounded) while
 * another request makes the same call, and then means that this request
 * makes it: others wait for it in turn. So after a miss, always call
 * ima_call_cache_put(): with the result, or with result NULL when the call
 * failed (or gave nothing worth reusing: never store a fallback), which
 * lets the waiters go at once. Claims left open end with the request. A
 * cache problem is a miss, never an error.
 *
 * ima_call_cache_put() stores a result after a miss (a result that is not
 * well-formed, or a cost that is negative or not a number, stores nothing
 * and only ends the claim).
 *
 * Both may be called from several threads of one request at once, as long
 * as every call returns before the stage's process hook does: the request
 * is freed after the pipeline.
 */
int ima_call_cache_get(struct ima_req *req, const msgpack_object *call,
		       msgpack_sbuffer *result, double *cost_usd);
void ima_call_cache_put(struct ima_req *req, const msgpack_object *call,
			const void *result, size_t len, double cost_usd);

/*
 * Checks msgpack from outside the process (read back from Redis, a file)
 * before msgpack_unpack() sees it: exactly one value, nesting up to 32,
 * every count and length no larger than the bytes that remain, strings
 * valid UTF-8. Returns 0, or -1 with err (400 "malformed_msgpack").
 */
int ima_msgpack_check(const void *data, size_t len, struct ima_error *err);

/* Request-scoped memory, freed by the core when the request ends. NULL when
 * memory ran out. */
void *ima_req_alloc(struct ima_req *req, size_t size);
char *ima_req_strndup(struct ima_req *req, const char *s, size_t len);

/*
 * Sets the request's error and returns IMA_ERROR, for
 * `return ima_req_fail(req, 422, "invalid_field", "resume_text", "...")`.
 */
enum ima_rc ima_req_fail(struct ima_req *req, int status, const char *code,
			 const char *field, const char *fmt, ...)
	IMA_PRINTF(5, 6);
/* The error set by a stage, or NULL. */
const struct ima_error *ima_req_error(const struct ima_req *req);

/*
 * Request metadata from the front end, by lower-case name: "request_id",
 * "content_type", "cache_control", "authorization", "remote_addr".
 * NULL when absent.
 */
const char *ima_req_meta(const struct ima_req *req, const char *name);
/* Adds a response header (copied), e.g. "X-Cache: HIT-L1". */
int ima_req_add_header(struct ima_req *req, const char *name,
		       const char *value);
/* Marks the answer degraded (a dependency failed and a fallback was used):
 * processing_status becomes DEGRADED and the answer is never cached. */
void ima_req_set_degraded(struct ima_req *req, const char *reason);
int ima_req_is_degraded(const struct ima_req *req);
/* Seconds since the request started (monotonic clock). */
double ima_req_elapsed(const struct ima_req *req);
/* The reference date of the request: what a stage set with
 * ima_req_set_reference_date() (the request stage, from the client's
 * reference_date), else today (UTC). "Present" in a resume means this
 * date. */
void ima_req_reference_date(struct ima_req *req, int *year, int *month,
			    int *day);
/* Sets it (ABI 1.3); -1 unless it is a real calendar date, 1900-9999. */
int ima_req_set_reference_date(struct ima_req *req, int year, int month,
			       int day);

/*
 * Parses JSON text (e.g. a request field holding JSON as a string) into one
 * msgpack value appended to out: duplicate keys rejected, UTF-8 enforced,
 * nesting limited. Returns 0, or -1 with err (status 400, line and column).
 */
int ima_json_to_msgpack(const char *json, size_t len, msgpack_sbuffer *out,
			struct ima_error *err);

/* ---- metrics ----------------------------------------------------------- */

/*
 * Process-wide metrics, aggregated over every worker and served by
 * imaginator-fcgi on GET /metrics in the Prometheus text format. name is a
 * Prometheus series: "imaginator_cache_hits_total{level=\"l1\"}" (at most
 * 119 bytes); the first use registers it. Lock-free, also across worker
 * processes. Values are fixed-point with 6 decimals; a value or delta of
 * 9e12 or more (or not a number), a negative delta to a counter, and a name
 * the text format cannot carry (not a family name with at most one {...}
 * of labels at the end, or holding a control character) are ignored.
 *
 * Declare each family once, from init (ABI 1.3): its type and a one-line
 * HELP text. Undeclared families still work, as counters when the name ends
 * in _total and gauges otherwise, with a HELP text that says so.
 */
enum ima_metric_type {
	IMA_METRIC_COUNTER = 1,  /* only goes up; the name ends in _total */
	IMA_METRIC_GAUGE = 2,    /* one value for the service (a ratio over
				  * shared counters): the last set wins */
	IMA_METRIC_GAUGE_SUM = 3, /* each worker sets its own value (bytes in
				   * its memory); reads show the sum */
	IMA_METRIC_HISTOGRAM = 4  /* ABI 1.4: observations counted in the
				   * buckets of ima_metric_declare_histogram */
};
/* family: the name without labels. 0, or -1 for a bad name or help, a
 * counter whose name lacks _total (or the reverse), a full table, or a
 * family declared before with another type. */
int ima_metric_declare(const char *family, enum ima_metric_type type,
		       const char *help);
void ima_metric_add(const char *name, double delta);
void ima_metric_set(const char *name, double value);
/* Reads a metric, summed over the workers (0 when unknown). ABI 1.2. */
double ima_metric_get(const char *name);
/*
 * ABI 1.4: a histogram family (the name ends in a unit such as _seconds,
 * never _total) with upper bounds in increasing order (at most 16; +Inf is
 * implied). Returns 0, or -1 as ima_metric_declare().
 */
int ima_metric_declare_histogram(const char *family, const char *help,
				 const double *bounds, size_t nbounds);
/*
 * Counts one observation: name is the family with optional labels,
 * "imaginator_llm_call_seconds{provider=\"openrouter\"}"; /metrics shows
 * its _bucket{...,le="..."}, _sum and _count series. Ignored for a family
 * not declared as a histogram.
 */
void ima_metric_observe(const char *name, double value);

/* ---- asynchronous calls (ABI 1.4) -------------------------------------- */

/*
 * A stage submits a call and gets control back at once. The core makes
 * every call of every request of the worker process on one thread of its
 * own (libcurl multi, which keeps the connections to each host open across
 * requests), so calls submitted by several stages overlap, and each
 * completion callback runs later on the request's own thread, inside a
 * join:
 *   - ima_join(req): a stage that needs its answers now;
 *   - a "join" entry in the pipeline list waits for everything submitted
 *     by the stages before it;
 *   - after the last stage, before the finish hooks, the core joins
 *     whatever is left, so no call outlives its request.
 * A callback may use the context and the arena, and may submit further
 * calls (a retry, a repair): the same join waits for them too.
 *
 * One deadline per request (imaginator.deadline_ms, counted from the
 * request's start) bounds every call: a transfer never runs past it, and
 * what is still pending when it passes, or when the pipeline ended with
 * IMA_DONE or IMA_ERROR, is cancelled, its callback then reporting
 * IMA_HTTP_DEADLINE or IMA_HTTP_CANCELLED.
 */

/* What a stage asks for. Everything is copied by ima_http_submit(). */
struct ima_http_request {
	const char *method;         /* "GET", "POST"...; NULL: POST with a
				     * body, else GET */
	const char *url;            /* http:// or https://; TLS peers are
				     * always verified */
	const char *const *headers; /* "Name: value", NULL-terminated; may be
				     * NULL */
	const void *body;           /* may be NULL */
	size_t body_len;
	long connect_timeout_ms;    /* 0: 5000 */
	long timeout_ms;            /* the whole transfer; 0: none of its own
				     * (the deadline still applies) */
	long delay_ms;              /* start no sooner than this (a backoff) */
	size_t max_response_bytes;  /* 0: 1 MiB; a larger body fails */
};

enum ima_http_result {
	IMA_HTTP_OK = 0,        /* a response arrived, whatever its status */
	IMA_HTTP_CONNECT = 1,   /* no connection (refused, DNS, TLS) */
	IMA_HTTP_TIMEOUT = 2,   /* timeout_ms or connect_timeout_ms passed */
	IMA_HTTP_TOO_LARGE = 3, /* the body passed max_response_bytes */
	IMA_HTTP_TRANSPORT = 4, /* the connection broke or the peer spoke
				 * no HTTP */
	IMA_HTTP_DEADLINE = 5,  /* the request's deadline passed */
	IMA_HTTP_CANCELLED = 6, /* the pipeline ended first */
	IMA_HTTP_FAILED = 7     /* not started: memory, or a bad URL */
};

/* What the callback gets; borrowed for the duration of the callback. */
struct ima_http_response {
	enum ima_http_result result;
	long status;              /* HTTP status; 0 without a response */
	const char *body;         /* NUL-terminated (never NULL) */
	size_t body_len;
	const char *content_type; /* "" when none */
	double retry_after;       /* seconds asked by Retry-After, or -1 */
	double seconds;           /* from the start of the transfer */
	int reused;               /* 1 when an open connection carried it */
	const char *error;        /* what went wrong; "" for IMA_HTTP_OK */
};

typedef void (*ima_http_done_fn)(struct ima_req *req,
				 const struct ima_http_response *resp, void *arg);

/*
 * Queues an HTTP call of the request. done runs exactly once, on the
 * request's thread inside a join (never from within ima_http_submit).
 * Returns 0, or -1 when hr has no URL or memory ran out (done never runs).
 */
int ima_http_submit(struct ima_req *req, const struct ima_http_request *hr,
		    ima_http_done_fn done, void *arg);

/*
 * Runs the request's pending calls until none is left, callbacks and the
 * calls they submit included, or the deadline passes (what is left is then
 * cancelled and its callbacks run before ima_join returns). Only from the
 * request's thread, outside a callback. Returns the number of callbacks
 * it ran.
 */
int ima_join(struct ima_req *req);

/*
 * Runs the callbacks that are ready now (an answer the call cache had, an
 * offline provider's) and returns without waiting for anything else: for
 * a stage whose result later stages may use when it is at hand, and must
 * not wait for when it is not. Same rules as ima_join(); returns the number
 * of callbacks it ran.
 */
int ima_join_ready(struct ima_req *req);

/* Seconds until the request's deadline; 0 or less once it passed. */
double ima_req_deadline_left(const struct ima_req *req);

/*
 * The call cache without waiting (see ima_call_cache_get): looks the call
 * up and runs done, inside a join, with hit 1 and the stored result (one
 * msgpack value, borrowed for the callback) and its cost, or with hit 0:
 * this request now makes the call and must end with ima_call_cache_put().
 * When an identical call is in flight in another request, done runs once
 * that twin has finished, while this request's other calls go on. Returns
 * 0, or -1 when memory ran out (done never runs).
 */
typedef void (*ima_call_cache_fn)(struct ima_req *req, int hit,
				  const msgpack_object *result, double cost_usd,
				  void *arg);
int ima_call_cache_lookup(struct ima_req *req, const msgpack_object *call,
			  ima_call_cache_fn done, void *arg);

/*
 * Checks value against a JSON Schema (given as msgpack): type (also a list
 * of types), properties, required, additionalProperties (false or a
 * schema), items, minItems, maxItems, enum, const, minLength, maxLength,
 * minimum, maximum. Other keywords are ignored. Returns 0, or -1 with the
 * path at fault and the reason in why ("critical_gaps.0.severity: not one
 * of the enum values").
 */
int ima_json_schema_check(const msgpack_object *schema,
			  const msgpack_object *value, char *why, size_t size);

/* ---- LLM completions (ABI 1.4) ----------------------------------------- */

/* A model a call may use, with its price per million tokens (0 when not
 * known: the provider's usage.cost, if any, is then the cost). */
struct ima_llm_model {
	const char *id;
	double price_in;  /* USD per million prompt tokens */
	double price_out; /* USD per million completion tokens */
};

/*
 * A completion a stage asks for. The core routes it to the pipeline's
 * provider (its first stage with an llm_submit hook), goes through the call
 * cache first (task, provider, models, messages, schema, temperature,
 * max_tokens and prompt_version are the key), and accounts for it in
 * run_metrics.calls and in /metrics. Everything is copied.
 */
struct ima_llm_ask {
	const char *task;                /* "gap": names the call in run_metrics
					  * and picks the offline answer */
	const msgpack_object *messages;  /* [{"role", "content"}, ...] */
	const msgpack_object *schema;    /* JSON Schema of the answer, or NULL
					  * for free text */
	const char *schema_name;         /* "gap_analysis"; NULL: the task */
	const struct ima_llm_model *models; /* in order of preference; NULL:
					  * the provider's own */
	size_t nmodels;
	double temperature;
	int max_tokens;                  /* 0: the provider's default */
	const char *prompt_version;      /* "gap.v1" */
	int no_cache;                    /* 1: neither look up nor store */
};

enum ima_llm_status {
	IMA_LLM_OK = 0,        /* text, and json when the ask had a schema */
	IMA_LLM_INVALID = 1,   /* an answer came, but its JSON is malformed,
				* truncated or breaks the schema (error says
				* where) */
	IMA_LLM_FAILED = 2,    /* every key, model and attempt failed */
	IMA_LLM_DEADLINE = 3,  /* the request's deadline passed first */
	IMA_LLM_CANCELLED = 4  /* the pipeline ended first */
};

/* An answer; borrowed for the duration of the callback. */
struct ima_llm_answer {
	enum ima_llm_status status;
	const char *text;            /* the message content; "" when none */
	size_t text_len;
	const msgpack_object *json;  /* the content parsed and checked against
				      * the schema, or NULL */
	const char *error;           /* "" when IMA_LLM_OK */
	const char *provider;        /* "openrouter", "offline" */
	const char *model_requested;
	const char *model_used;      /* what the endpoint said answered */
	const char *finish_reason;   /* "stop", "length"...; "" when none */
	int attempts;
	int64_t prompt_tokens;
	int64_t completion_tokens;
	double cost_usd;
	double seconds;
	int cached;                  /* 1: served by the call cache */
};

typedef void (*ima_llm_done_fn)(struct ima_req *req,
				const struct ima_llm_answer *ans, void *arg);

/*
 * Asks for a completion. done runs exactly once, inside a join, whatever
 * happens (no provider in the pipeline: IMA_LLM_FAILED). Returns 0, or -1
 * when ask has no task or messages, or memory ran out (done never runs).
 */
int ima_llm_submit(struct ima_req *req, const struct ima_llm_ask *ask,
		   ima_llm_done_fn done, void *arg);

/*
 * The provider's side. A call handed to a provider's llm_submit hook; the
 * provider ends it exactly once with ima_llm_call_done() (from within the
 * hook, or later from one of its HTTP callbacks), after reporting each
 * failed attempt with ima_llm_call_failure() (run_metrics.failures).
 */
struct ima_llm_call;

const struct ima_llm_ask *ima_llm_call_ask(const struct ima_llm_call *call);
void ima_llm_call_failure(struct ima_req *req, struct ima_llm_call *call,
			  const char *model, int attempt, const char *error);
/*
 * Ends the call: ans is copied. For IMA_LLM_OK with an ask that has a
 * schema, the core parses ans->text as JSON (unless ans->json is set) and
 * checks it against the schema, turning the status into IMA_LLM_INVALID
 * when it fails. A second call, or one after the deadline cancelled the
 * call, is ignored.
 */
void ima_llm_call_done(struct ima_req *req, struct ima_llm_call *call,
		       const struct ima_llm_answer *ans);

/* ---- logging ---------------------------------------------------------- */

/*
 * One line on standard error, in the host's format: imaginator-fcgi writes
 * a JSON object with the time, level, worker, pid and the id of the
 * request the calling thread serves; the CLI writes text. The message may
 * hold any bytes (quotes, newlines, invalid UTF-8): the host escapes them.
 * A line is at most 4 KiB: a longer message is cut.
 */
enum ima_log_level { IMA_LOG_ERROR = 0, IMA_LOG_WARN, IMA_LOG_INFO, IMA_LOG_DEBUG };
void ima_log(enum ima_log_level level, const char *fmt, ...) IMA_PRINTF(2, 3);

/* ---- memory ------------------------------------------------------------ */

/* The one allocator of the project: tests can make the Nth call fail. */
void *ima_malloc(size_t size);
void *ima_calloc(size_t n, size_t size);
void *ima_realloc(void *p, size_t size);
char *ima_strdup(const char *s);
void ima_free(void *p);

/*
 * The write callback of a msgpack_sbuffer that grows it through
 * ima_realloc (ABI 1.7), with msgpack-c's growth policy: pass it to
 * msgpack_packer_init, or call it, wherever msgpack_sbuffer_write would
 * go. Returns 0, or -1 when memory ran out. A failure frees the buffer and
 * leaves it failed: data NULL and size 0 (safe to read, to
 * msgpack_sbuffer_destroy and to msgpack_sbuffer_release), and every
 * later write fails too, so a packer that goes on after an error never
 * produces a value with a piece missing. Test that once, at the end, with
 * ima_sbuffer_failed instead of each msgpack_pack_* call. The buffer is
 * free()-able memory either way (ima_free is free).
 *
 * A failed buffer must not be written with msgpack_sbuffer_write (it would
 * write through NULL): once a buffer is written here, write it only here.
 * The core's functions that fill a caller's buffer (ima_ctx_encode_public,
 * ima_json_to_msgpack, call results) write it here, and leave it failed
 * only when they return an error. ima_ctx_put_sbuffer refuses a failed
 * buffer (-1, errno ENOMEM).
 */
int ima_sbuffer_write(void *data, const char *buf, size_t len);
/* Whether a write of ima_sbuffer_write ran out of memory on sb (ABI 1.7). */
bool ima_sbuffer_failed(const msgpack_sbuffer *sb);

/* ---- the descriptor --------------------------------------------------- */

struct ima_plugin {
	/* ABI header: never moves. */
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t struct_size; /* sizeof(struct ima_plugin) when built */

	const char *name;        /* equals the file and symbol name */
	const char *version;     /* the plugin's own version, part of cache keys */
	const char *description; /* one line */
	const struct ima_option *options; /* ends with a zeroed entry; may be NULL */

	/*
	 * Builds the stage's state from its options. Runs once per stage
	 * instance in the supervisor (before fork). Returns 0, or -1 after
	 * ima_error_set(err, ...).
	 */
	int (*init)(const struct ima_conf *conf, void **state,
		    struct ima_error *err);
	/* Optional: runs in each worker process after fork (reconnects...). */
	int (*worker_init)(void *state, struct ima_error *err);
	/* Runs the stage for one request. Called from many threads at once. */
	enum ima_rc (*process)(struct ima_req *req, void *state);
	/* Optional: after the pipeline, in reverse stage order, for every stage
	 * whose process() ran (cache stores, timing). */
	void (*finish)(struct ima_req *req, void *state);
	/* Optional: frees the state. */
	void (*fini)(void *state);

	/* ---- ABI 1.1 ---- */

	/*
	 * Optional: an administrative verb ("invalidate") with its arguments (a
	 * msgpack map, may be NULL), from `imaginator cache ...` or an admin
	 * route. Returns 1 when handled, after packing exactly one value (its
	 * result map) into out; 0 when the verb is not this plugin's (nothing
	 * packed); -1 after ima_error_set(err, ...).
	 */
	int (*command)(void *state, const char *verb, const msgpack_object *args,
		       msgpack_packer *out, struct ima_error *err);
	/*
	 * Optional: the state of the stage's dependencies, for GET /health.
	 * Packs one map per dependency {"name", "status": "ok" | "degraded" |
	 * "down", "detail"} and returns how many it packed (0 when it has
	 * none). Must answer within the dependency's own timeout.
	 */
	int (*health)(void *state, msgpack_packer *out);
	/*
	 * Optional: sees the raw body before it is decoded, for an exact-bytes
	 * cache. Returning IMA_DONE after ima_req_set_prerendered() answers the
	 * request without decoding it or running any stage; IMA_CONTINUE goes
	 * on as usual. in_format: 0 JSON, 2 msgpack.
	 */
	enum ima_rc (*prefetch)(struct ima_req *req, void *state,
				const char *body, size_t len, int in_format);

	/* ---- ABI 1.2 ---- */

	/*
	 * Optional, both or neither: serve ima_call_cache_get() and
	 * ima_call_cache_put() for every stage of the pipeline (the first
	 * stage that has them serves). Called from any thread; must not touch
	 * the context (use ima_req_task_get() for per-request data). call_get
	 * returns 1 after appending one msgpack value to result, else 0.
	 * call_put gets result NULL when there is nothing to store: it then
	 * only ends the request's claim on the call.
	 */
	int (*call_get)(struct ima_req *req, void *state, const msgpack_object *call,
			msgpack_sbuffer *result, double *cost_usd);
	void (*call_put)(struct ima_req *req, void *state, const msgpack_object *call,
			 const void *result, size_t len, double cost_usd);

	/* ---- ABI 1.4 ---- */

	/*
	 * Optional, with call_get and call_put: ima_call_cache_lookup()
	 * without waiting. Returns 1 after appending the result (as
	 * call_get), 0 on a miss that this request now owns (as call_get),
	 * or 2 when an identical call is in flight elsewhere: nothing is
	 * claimed, and the core asks again a few milliseconds later. A stage
	 * serving only call_get is asked through it (and may block).
	 */
	int (*call_try)(struct ima_req *req, void *state, const msgpack_object *call,
			msgpack_sbuffer *result, double *cost_usd);
	/*
	 * Optional: makes this stage an LLM provider. The first stage of the
	 * pipeline that has it serves every ima_llm_submit() of the request
	 * that the call cache did not answer. Runs on the request's thread;
	 * must end call with ima_llm_call_done(), now or from a callback of
	 * its own calls. Returns 0, or -1 when it could not start (the core
	 * then ends the call as IMA_LLM_FAILED).
	 */
	int (*llm_submit)(struct ima_req *req, void *state, struct ima_llm_call *call);
	/* IMA_PLUGIN_LOCAL, IMA_PLUGIN_AUTH (ABI 1.5), or 0. */
	unsigned flags;

	/* ---- ABI 1.5 ---- */

	/*
	 * With IMA_PLUGIN_AUTH: the WWW-Authenticate challenge of the
	 * credential the stage reads ("Bearer realm=\"imaginator\""). The
	 * core sends it when a route needs a caller and the auth stages let
	 * an anonymous request through; a stage that refuses a request adds
	 * its own. The first word is the scheme; "Bearer" callers lacking a
	 * scope also get the RFC 6750 insufficient_scope challenge. May be
	 * NULL.
	 */
	const char *challenge;
};

/* A provider's answers are computed in the process at no cost (never
 * stored in the call cache). */
#define IMA_PLUGIN_LOCAL 0x1u
/*
 * ABI 1.5: an auth stage. Its prefetch hook establishes who calls from
 * the request metadata alone ("authorization", "x_api_key"): body may be
 * NULL and len 0, and it must not be needed. On success the hook writes
 * the context key _auth, a map {tenant: str, user: str (1-127 bytes),
 * scopes: [str...], method: str}, or leaves it out for an anonymous
 * request it lets through, and returns IMA_CONTINUE; otherwise it refuses
 * with IMA_ERROR (401 and a WWW-Authenticate header, or 403). It never
 * answers with IMA_DONE. An identity written by an earlier auth stage is
 * accepted or refused, never replaced.
 *
 * ima_engine_authenticate() runs these hooks alone, in pipeline order,
 * for routes without an analysis body, and checks the scope a route
 * needs against _auth.scopes; a request authenticated that way does not
 * offer them its body again. The stage's process hook runs for every
 * analysis too, and must do the check only when the prefetch hook did not
 * (a body over the limit is refused before prefetch): keep a marker with
 * ima_req_task_set().
 */
#define IMA_PLUGIN_AUTH 0x2u

/* ---- packing helpers -------------------------------------------------- */

/* Packs a string of known length. */
static inline int ima_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
	if (msgpack_pack_str(pk, len) != 0)
		return -1;
	return msgpack_pack_str_body(pk, s, len);
}

/* Packs a NUL-terminated string, or nil for NULL. */
static inline int ima_pack_cstr(msgpack_packer *pk, const char *s)
{
	if (s == NULL)
		return msgpack_pack_nil(pk);
	return ima_pack_strn(pk, s, __builtin_strlen(s));
}

/* Initialiser for the ABI header of a descriptor. */
#define IMA_PLUGIN_HEADER                                                     \
	.abi_major = IMA_ABI_MAJOR, .abi_minor = IMA_ABI_MINOR,               \
	.struct_size = sizeof(struct ima_plugin)

#ifdef __cplusplus
}
#endif

#endif /* IMA_PLUGIN_H */
