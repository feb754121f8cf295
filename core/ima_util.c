/*
 * ima_util.c - the allocator wrapper, errors, logging, UTF-8 checking, the
 * growable output buffer and data file lookup.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ima_core.h"

/* ---- allocation ---- */

/*
 * Every allocation of the core and the stages comes through here, so a test
 * can fail the nth one, msgpack sbuffers included (ima_sbuffer_write).
 * Libraries with allocators of their own keep them: jansson's
 * json_set_alloc_funcs is process-wide (the program embedding the library
 * and libjwt share it), and jansson 2.14 aborts on an assertion when an
 * allocation fails while it reads a string (lex_scan_string); msgpack-c's
 * zones (msgpack_zone_init / _new / _malloc, which the unpacker and
 * msgpack_unpacked use) are compiled into libmsgpackc and call malloc with
 * no hook; libcurl and libconfig likewise. Their failures reach the callers
 * as errors.
 */

/* Failure injection is global and atomic: the tests that use it run one
 * thread, and the cost on the normal path is one relaxed load. */
static atomic_long alloc_fail_at;
static atomic_long alloc_calls;
static atomic_bool alloc_fail_once;
static atomic_long alloc_failed;
static atomic_long alloc_sbuffer_calls;

static void alloc_fail_set(long n, bool once)
{
	atomic_store(&alloc_calls, 0);
	atomic_store(&alloc_failed, 0);
	atomic_store(&alloc_sbuffer_calls, 0);
	atomic_store(&alloc_fail_once, once);
	atomic_store(&alloc_fail_at, n);
}

void ima_alloc_fail_after(long n)
{
	alloc_fail_set(n, false);
}

void ima_alloc_fail_nth(long n)
{
	alloc_fail_set(n, true);
}

long ima_alloc_count(void)
{
	return atomic_load(&alloc_calls);
}

long ima_alloc_failed(void)
{
	return atomic_load(&alloc_failed);
}

long ima_alloc_sbuffer_count(void)
{
	return atomic_load(&alloc_sbuffer_calls);
}

/* An injected failure looks like a real one: NULL with errno ENOMEM, which
 * callers report with strerror(). */
static bool alloc_should_fail(void)
{
	long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
	long n = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;

	if (at <= 0 || n < at || (n > at && atomic_load_explicit(&alloc_fail_once, memory_order_relaxed)))
		return false;
	atomic_fetch_add_explicit(&alloc_failed, 1, memory_order_relaxed);
	errno = ENOMEM;
	return true;
}

void *ima_malloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *ima_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *ima_realloc(void *p, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

char *ima_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = ima_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void ima_free(void *p)
{
	free(p);
}

/* msgpack-c 4.0's msgpack_sbuffer_write, growing through ima_realloc. Its
 * own version leaves the bytes so far in place when realloc fails, and a
 * packer that goes on (most ignore the return of each msgpack_pack_*)
 * then appends the next, smaller, pieces after a hole: a well-formed
 * value that says something else. So a failure empties the buffer for
 * good instead. */
int ima_sbuffer_write(void *data, const char *buf, size_t len)
{
	msgpack_sbuffer *sb = data;

	if (ima_sbuffer_failed(sb))
		return -1;
	if (len == 0)
		return 0;
	if (sb->alloc - sb->size < len) {
		size_t want = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
		char *p = NULL;

		if (len <= SIZE_MAX - sb->size) {
			while (want < sb->size + len) {
				if (want > SIZE_MAX / 2) {
					want = sb->size + len;
					break;
				}
				want *= 2;
			}
			atomic_fetch_add_explicit(&alloc_sbuffer_calls, 1, memory_order_relaxed);
			p = ima_realloc(sb->data, want);
		}
		if (p == NULL) {
			free(sb->data);
			sb->data = NULL;
			sb->size = 0;
			sb->alloc = SIZE_MAX;
			errno = ENOMEM;
			return -1;
		}
		sb->data = p;
		sb->alloc = want;
	}
	memcpy(sb->data + sb->size, buf, len);
	sb->size += len;
	return 0;
}

bool ima_sbuffer_failed(const msgpack_sbuffer *sb)
{
	return sb->data == NULL && sb->alloc == SIZE_MAX;
}

/* ---- errors ---- */

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int ima_error_set(struct ima_error *err, int status, const char *code,
		  const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	memset(err, 0, sizeof(*err));
	err->status = status;
	copy_trunc(err->code, sizeof(err->code), code);
	copy_trunc(err->field, sizeof(err->field), field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- logging ---- */

/* One write() per line, of at most PIPE_BUF bytes: what a pipe (a web
 * server or a log collector reading our stderr) writes without mixing it
 * with another process's line. */
#define LOG_LINE_MAX PIPE_BUF
#define LOG_MESSAGE_MAX 4096
#define LOG_ID_MAX 64
#define LOG_RESERVE 48      /* what may follow the message: ,"truncated":true}\n */

/* Set before any thread starts (the front, right after fork), read after. */
static enum ima_log_level log_level = IMA_LOG_INFO;
static enum ima_log_format log_format = IMA_LOG_TEXT;
static char log_ident[32] = "imaginator";
static char log_worker[16]; /* "" until a front names the process */
static pid_t log_pid;

/* Per thread: the request being served, and the formatted second of the
 * last line (most lines of a busy worker fall in the same second). Room
 * for any int in every field of the second: 20 bytes are used, but gcc
 * cannot always prove the ranges (it warns under -fsanitize=thread). */
static _Thread_local char log_request[LOG_ID_MAX + 1];
static _Thread_local time_t log_sec = -1;
static _Thread_local char log_sec_text[72];

void ima_log_set_level(enum ima_log_level level)
{
	log_level = level;
}

void ima_log_set_format(enum ima_log_format format, const char *ident)
{
	log_format = format;
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

enum ima_log_format ima_log_get_format(void)
{
	return log_format;
}

int ima_log_format_parse(const char *name, enum ima_log_format *out)
{
	if (strcmp(name, "json") == 0)
		*out = IMA_LOG_JSON;
	else if (strcmp(name, "text") == 0)
		*out = IMA_LOG_TEXT;
	else
		return -1;
	return 0;
}

void ima_log_set_process(const char *worker)
{
	snprintf(log_worker, sizeof(log_worker), "%s", worker ? worker : "");
	log_pid = worker ? getpid() : 0;
}

void ima_log_set_request(const char *id)
{
	snprintf(log_request, sizeof(log_request), "%s", id ? id : "");
}

/* A line being built in a fixed buffer: logging never allocates, so it
 * works when memory ran out and does not move the allocation counts the
 * failure-injection tests rely on. */
struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void line_put(struct log_line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_puts(struct log_line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

/*
 * Appends s escaped for JSON (or, for text, with control bytes made
 * visible), stopping before limit: whole UTF-8 sequences or whole escapes
 * only, so a cut never leaves half a character. Invalid UTF-8 becomes
 * U+FFFD in JSON. Returns false when it stopped early.
 */
static bool line_escape(struct log_line *l, const char *str, size_t len, size_t limit,
			bool json)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		char e[6];
		size_t n = 1, elen = 0;
		const char *out = str + i;

		if (c >= 0x80 && json) {
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (c >= 0xc2 && c <= 0xf4 && i + n <= len && ima_utf8_valid(str + i, n)) {
				elen = n;
			} else {
				n = 1;
				out = "\\ufffd";
				elen = 6;
			}
		} else if (c >= 0x80) {
			elen = 1; /* text: a terminal shows what it can */
		} else if (c == '\n' || c == '\r' || c == '\t') {
			e[0] = '\\';
			e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			out = e;
			elen = 2;
		} else if (c < 0x20 || (!json && c == 0x7f)) {
			if (json) {
				memcpy(e, "\\u00", 4);
				e[4] = hex[c >> 4];
				e[5] = hex[c & 15];
				elen = 6;
			} else {
				e[0] = '\\';
				e[1] = 'x';
				e[2] = hex[c >> 4];
				e[3] = hex[c & 15];
				elen = 4;
			}
			out = e;
		} else if (json && (c == '"' || c == '\\')) {
			e[0] = '\\';
			e[1] = (char)c;
			out = e;
			elen = 2;
		} else {
			elen = 1;
		}
		if (l->len + elen > limit)
			return false;
		line_put(l, out, elen);
		i += n;
	}
	return true;
}

/* "2026-11-25T16:42:23.123Z": RFC 3339, UTC, milliseconds. */
static void line_time(struct log_line *l)
{
	struct timespec ts;
	long ms;
	char three[5];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		snprintf(log_sec_text, sizeof(log_sec_text), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
		log_sec = ts.tv_sec;
	}
	line_puts(l, log_sec_text);
	ms = ts.tv_nsec / 1000000;
	three[0] = '.';
	three[1] = (char)('0' + ms / 100);
	three[2] = (char)('0' + ms / 10 % 10);
	three[3] = (char)('0' + ms % 10);
	three[4] = 'Z';
	line_put(l, three, 5);
}

static void log_emit(enum ima_log_level level, const char *fields, size_t flen,
		     const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	struct log_line l;
	char msg[LOG_MESSAGE_MAX];
	char num[24];
	int n;
	size_t mlen;
	bool whole;

	if (level > log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	whole = (size_t)n < sizeof(msg);
	mlen = whole ? (size_t)n : sizeof(msg) - 1;
	l.len = 0;
	if (log_format == IMA_LOG_TEXT) {
		/* "imaginator: error: ..." as ever; a front adds who wrote it. */
		line_puts(&l, log_ident);
		if (log_pid != 0) {
			snprintf(num, sizeof(num), "[%d]", (int)log_pid);
			line_puts(&l, num);
		}
		if (log_worker[0] != '\0') {
			/* A bare number is a worker's index: say so to a reader. */
			line_puts(&l, log_worker[0] >= '0' && log_worker[0] <= '9' ?
				  " worker " : " ");
			line_puts(&l, log_worker);
		}
		line_puts(&l, ": ");
		line_puts(&l, names[level]);
		line_puts(&l, ": ");
		/* Room kept for "...", the request id (4 bytes a byte at
		 * worst) and the newline. */
		whole &= line_escape(&l, msg, mlen,
				     sizeof(l.buf) - LOG_RESERVE - 4 * LOG_ID_MAX, false);
		if (!whole)
			line_puts(&l, "...");
		if (log_request[0] != '\0') {
			line_puts(&l, " (request ");
			line_escape(&l, log_request, strlen(log_request), sizeof(l.buf) - 4, false);
			line_puts(&l, ")");
		}
		line_puts(&l, "\n");
	} else {
		line_puts(&l, "{\"time\":\"");
		line_time(&l);
		line_puts(&l, "\",\"level\":\"");
		line_puts(&l, names[level]);
		line_puts(&l, "\"");
		if (log_worker[0] != '\0') {
			line_puts(&l, ",\"worker\":\"");
			line_escape(&l, log_worker, strlen(log_worker), sizeof(l.buf), true);
			line_puts(&l, "\"");
		}
		snprintf(num, sizeof(num), ",\"pid\":%d", (int)(log_pid ? log_pid : getpid()));
		line_puts(&l, num);
		if (log_request[0] != '\0') {
			line_puts(&l, ",\"request_id\":\"");
			line_escape(&l, log_request, strlen(log_request), sizeof(l.buf), true);
			line_puts(&l, "\"");
		}
		line_puts(&l, ",\"message\":\"");
		whole &= line_escape(&l, msg, mlen, sizeof(l.buf) - LOG_RESERVE, true);
		line_puts(&l, "\"");
		/* The fields go whole or not at all: a cut would break the line. */
		if (fields != NULL && flen > 0 && l.len + 1 + flen <= sizeof(l.buf) - LOG_RESERVE) {
			line_puts(&l, ",");
			line_put(&l, fields, flen);
		} else if (fields != NULL && flen > 0) {
			whole = false;
		}
		if (!whole)
			line_puts(&l, ",\"truncated\":true");
		line_puts(&l, "}\n");
	}
	if (write(STDERR_FILENO, l.buf, l.len) < 0)
		return; /* nowhere left to report it */
}

void ima_log_vwrite(enum ima_log_level level, const char *fmt, va_list ap)
{
	log_emit(level, NULL, 0, fmt, ap);
}

void ima_log(enum ima_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void ima_log_fields(enum ima_log_level level, const char *fields, size_t len,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, fields, len, fmt, ap);
	va_end(ap);
}

/* ---- UTF-8 ---- */

bool ima_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t need;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += need + 1;
	}
	return true;
}

/* ---- output buffer ---- */

static bool buf_reserve(struct ima_buf *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = ima_realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void ima_buf_append(struct ima_buf *b, const void *data, size_t len)
{
	if (!buf_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ima_buf_printf(struct ima_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* One pass into the room already there; a second only to grow. */
	if (!buf_reserve(b, 128))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!buf_reserve(b, (size_t)n)) {
			b->data[b->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void ima_buf_append_uint(struct ima_buf *b, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ima_buf_append(b, tmp + sizeof(tmp) - n, n);
}

void ima_buf_append_fixed(struct ima_buf *b, double v, int decimals)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
					  10000000, 100000000, 1000000000 };
	uint64_t scale, r;
	char frac[10];

	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	scale = pow10[decimals];
	/* Beyond what fits exactly, or not a number: leave it to printf. */
	if (!(fabs(v) * (double)scale < 9e15)) {
		ima_buf_printf(b, "%.*f", decimals, isfinite(v) ? v : 0.0);
		return;
	}
	if (v < 0) {
		r = (uint64_t)llround(-v * (double)scale);
		if (r != 0)
			ima_buf_append(b, "-", 1);
	} else {
		r = (uint64_t)llround(v * (double)scale);
	}
	ima_buf_append_uint(b, r / scale);
	if (decimals == 0)
		return;
	frac[0] = '.';
	r %= scale;
	for (int i = decimals; i > 0; i--, r /= 10)
		frac[i] = (char)('0' + r % 10);
	ima_buf_append(b, frac, (size_t)decimals + 1);
}

void ima_buf_free(struct ima_buf *b)
{
	ima_free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- data files ---- */

int ima_data_path(const char *name, char *buf, size_t size)
{
	const char *env = getenv("IMAGINATOR_DATA_DIR");
	const char *dirs[2] = { env, IMA_DATADIR };

	if (name[0] == '/') {
		snprintf(buf, size, "%s", name);
		return access(buf, R_OK) == 0 ? 0 : -1;
	}
	for (size_t i = 0; i < 2; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		snprintf(buf, size, "%s/%s", dirs[i], name);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -1;
}
