/*
 * ima_http.c - the worker's I/O thread: one libcurl multi handle that
 * makes every HTTP call of every request of the process.
 *
 * One thread owns the multi handle and every easy handle (libcurl 7.88
 * handles are not to be shared between threads), so the connection cache
 * lives in one place: a call to a host reuses the connection an earlier
 * request left open, HTTP/2 streams of different requests share one
 * connection where the peer offers it, and CURLMOPT_MAX_HOST_CONNECTIONS
 * bounds what the worker holds to each host (transfers past it wait for a
 * free connection inside libcurl).
 *
 * Requests hand transfers over through a locked list and wake the thread
 * with curl_multi_wakeup(); the thread queues each finished transfer back
 * to its request (ima_calls_xfer_done), whose own thread runs the
 * callback. The thread is started on first use in each process, so the
 * supervisor, which forks the workers, never has one.
 */
/* pthread_setname_np */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ima_calls_private.h"

#define HTTP_POOL 64        /* idle easy handles kept for reuse */
#define HTTP_IDLE_POLL_MS 1000

static struct {
	pthread_mutex_t lock;
	pid_t pid;           /* the process the thread runs in; 0: none */
	pthread_t thread;
	CURLM *multi;
	bool stopping;
	struct http_xfer *incoming; /* handed over, not yet seen (lock) */
	/* the I/O thread's own */
	struct http_xfer *waiting;  /* delayed starts */
	struct http_xfer *active;   /* in the multi handle */
	CURL *pool[HTTP_POOL];
	size_t npool;
	long max_host;
	char ca_file[4096];  /* lock */
	atomic_long connections;
} loop = { .lock = PTHREAD_MUTEX_INITIALIZER, .max_host = 64 };

double ima_http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ima_http_configure(long max_host_connections, const char *ca_file)
{
	pthread_mutex_lock(&loop.lock);
	if (max_host_connections > 0)
		loop.max_host = max_host_connections;
	snprintf(loop.ca_file, sizeof(loop.ca_file), "%s", ca_file ? ca_file : "");
	pthread_mutex_unlock(&loop.lock);
}

/* Open connections of the worker, for /metrics: sockets are counted as
 * libcurl opens and closes them. */
static curl_socket_t http_open_socket(void *arg, curlsocktype purpose,
				      struct curl_sockaddr *a)
{
	curl_socket_t fd;

	(void)arg;
	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD)
		ima_metric_set("imaginator_http_connections",
			       (double)atomic_fetch_add(&loop.connections, 1) + 1);
	return fd;
}

static int http_close_socket(void *arg, curl_socket_t fd)
{
	(void)arg;
	ima_metric_set("imaginator_http_connections",
		       (double)atomic_fetch_sub(&loop.connections, 1) - 1);
	return close(fd);
}

static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_xfer *x = arg;

	/* CURLOPT_MAXFILESIZE does not bound chunked bodies: count here. */
	if (x->resp.len + n > x->max_bytes) {
		x->too_large = true;
		return 0;
	}
	ima_buf_append(&x->resp, data, n);
	return x->resp.failed ? 0 : size * n;
}

/* Ends x: its response half filled in, handed back to its request. */
static void http_finish(struct http_xfer *x, CURLcode code, enum ima_http_result forced)
{
	struct ima_http_response *o = &x->out;
	enum ima_http_result r = IMA_HTTP_OK;

	o->retry_after = -1;
	if (x->easy != NULL) {
		long status = 0, connects = 0;
		curl_off_t retry = 0, total = 0;
		char *ct = NULL;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
		curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry);
		curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
		if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(x->content_type, sizeof(x->content_type), "%s", ct);
		o->status = status;
		o->reused = connects == 0;
		o->retry_after = retry > 0 ? (double)retry : -1;
		o->seconds = (double)total / 1e6;
		curl_multi_remove_handle(loop.multi, x->easy);
		if (loop.npool < HTTP_POOL) {
			curl_easy_reset(x->easy);
			loop.pool[loop.npool++] = x->easy;
		} else {
			curl_easy_cleanup(x->easy);
		}
		x->easy = NULL;
	}
	if (forced != IMA_HTTP_OK) {
		r = forced;
	} else if (code == CURLE_OK) {
		r = IMA_HTTP_OK;
	} else if (x->too_large) {
		r = IMA_HTTP_TOO_LARGE;
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		/* The deadline clamps the transfer's own timeout: say which
		 * one ended it. */
		r = ima_http_now() >= x->deadline - 0.002 ? IMA_HTTP_DEADLINE : IMA_HTTP_TIMEOUT;
	} else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
		   code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_SSL_CONNECT_ERROR ||
		   code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CERTPROBLEM ||
		   code == CURLE_SSL_CACERT_BADFILE) {
		r = IMA_HTTP_CONNECT;
	} else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ||
		   code == CURLE_OUT_OF_MEMORY || code == CURLE_FAILED_INIT) {
		r = IMA_HTTP_FAILED;
	} else {
		r = IMA_HTTP_TRANSPORT;
	}
	if (r != IMA_HTTP_OK && x->errbuf[0] == '\0') {
		static const char *const why[] = {
			[IMA_HTTP_TOO_LARGE] = "response body too large",
			[IMA_HTTP_DEADLINE] = "the request's deadline passed",
			[IMA_HTTP_CANCELLED] = "cancelled: the pipeline ended",
		};
		const char *w = (size_t)r < sizeof(why) / sizeof(why[0]) ? why[r] : NULL;

		snprintf(x->errbuf, sizeof(x->errbuf), "%s", w ? w : curl_easy_strerror(code));
	}
	if (r == IMA_HTTP_TOO_LARGE)
		snprintf(x->errbuf, sizeof(x->errbuf), "response body larger than %zu bytes",
			 x->max_bytes);
	o->result = r;
	o->error = r == IMA_HTTP_OK ? "" : x->errbuf;
	o->content_type = x->content_type;
	if (r != IMA_HTTP_OK && r != IMA_HTTP_TOO_LARGE && o->status == 0)
		x->resp.len = 0;
	ima_calls_xfer_done(x);
}

static CURL *http_easy(void)
{
	return loop.npool > 0 ? loop.pool[--loop.npool] : curl_easy_init();
}

/* Puts x into the multi handle; false when it ended at once. */
static bool http_begin(struct http_xfer *x)
{
	double now = ima_http_now();
	long left_ms = (long)((x->deadline - now) * 1000);
	long timeout = x->timeout_ms > 0 && x->timeout_ms < left_ms ? x->timeout_ms : left_ms;
	CURL *e;

	if (left_ms <= 0) {
		http_finish(x, CURLE_OK, IMA_HTTP_DEADLINE);
		return false;
	}
	e = http_easy();
	if (e == NULL) {
		http_finish(x, CURLE_OUT_OF_MEMORY, IMA_HTTP_OK);
		return false;
	}
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 x->connect_timeout_ms > 0 ? x->connect_timeout_ms : 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 1L);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, http_close_socket);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for a connection that may multiplex rather than open a
	 * second one; only TLS connections can turn out to be HTTP/2. */
	if (strncmp(x->url, "https:", 6) == 0)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	/* Verification stays on; a private CA is added, never a way around. */
	pthread_mutex_lock(&loop.lock);
	if (loop.ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, loop.ca_file);
	pthread_mutex_unlock(&loop.lock);
	if (x->headers != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	if (x->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
	}
	if (x->method != NULL && strcmp(x->method, x->body ? "POST" : "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	if (curl_multi_add_handle(loop.multi, e) != CURLM_OK) {
		http_finish(x, CURLE_FAILED_INIT, IMA_HTTP_OK);
		return false;
	}
	x->next_io = loop.active;
	loop.active = x;
	return true;
}

static void http_unlink(struct http_xfer **list, struct http_xfer *x)
{
	for (struct http_xfer **pp = list; *pp != NULL; pp = &(*pp)->next_io)
		if (*pp == x) {
			*pp = x->next_io;
			return;
		}
}

/* Starts what is due, ends what was cancelled; returns the milliseconds
 * until the next delayed start (HTTP_IDLE_POLL_MS when none). */
static long http_schedule(void)
{
	double now = ima_http_now();
	long next = HTTP_IDLE_POLL_MS;
	struct http_xfer *x, *nx;

	for (x = loop.active; x != NULL; x = nx) {
		int c = atomic_load(&x->cancel);

		nx = x->next_io;
		if (c != 0) {
			http_unlink(&loop.active, x);
			http_finish(x, CURLE_OK, (enum ima_http_result)c);
		}
	}
	for (x = loop.waiting; x != NULL; x = nx) {
		int c = atomic_load(&x->cancel);

		nx = x->next_io;
		if (c != 0) {
			http_unlink(&loop.waiting, x);
			http_finish(x, CURLE_OK, (enum ima_http_result)c);
		} else if (x->start_at <= now) {
			http_unlink(&loop.waiting, x);
			http_begin(x);
		} else if ((long)((x->start_at - now) * 1000) + 1 < next) {
			next = (long)((x->start_at - now) * 1000) + 1;
		}
	}
	return next;
}

static void http_take_incoming(void)
{
	struct http_xfer *x, *nx;

	pthread_mutex_lock(&loop.lock);
	x = loop.incoming;
	loop.incoming = NULL;
	pthread_mutex_unlock(&loop.lock);
	for (; x != NULL; x = nx) {
		nx = x->next_io;
		x->next_io = loop.waiting;
		loop.waiting = x;
	}
}

static void http_reap(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(loop.multi, &left)) != NULL) {
		struct http_xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x == NULL)
			continue;
		http_unlink(&loop.active, x);
		http_finish(x, m->data.result, IMA_HTTP_OK);
	}
}

static void *http_main(void *arg)
{
	bool stopping = false;

	(void)arg;
	while (!stopping || loop.active != NULL || loop.waiting != NULL) {
		int running = 0;
		long next;

		http_take_incoming();
		next = http_schedule();
		curl_multi_perform(loop.multi, &running);
		http_reap();
		pthread_mutex_lock(&loop.lock);
		stopping = loop.stopping;
		pthread_mutex_unlock(&loop.lock);
		if (stopping) {
			/* Nothing should be left; whatever is, ends now. */
			for (struct http_xfer *x = loop.active; x; x = x->next_io)
				atomic_store(&x->cancel, IMA_HTTP_CANCELLED);
			for (struct http_xfer *x = loop.waiting; x; x = x->next_io)
				atomic_store(&x->cancel, IMA_HTTP_CANCELLED);
			http_take_incoming();
			http_schedule();
			continue;
		}
		curl_multi_poll(loop.multi, NULL, 0, (int)next, NULL);
	}
	return NULL;
}

/* With loop.lock held. */
static int http_boot(void)
{
	pthread_attr_t attr;
	int rc;

	if (loop.pid == getpid())
		return 0;
	/* A child of a process that had a thread inherits its memory but
	 * not the thread: start afresh, leaving the parent's handles be. */
	loop.multi = NULL;
	loop.incoming = loop.waiting = loop.active = NULL;
	loop.npool = 0;
	loop.stopping = false;
	atomic_store(&loop.connections, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	loop.multi = curl_multi_init();
	if (loop.multi == NULL)
		return -1;
	curl_multi_setopt(loop.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(loop.multi, CURLMOPT_MAX_HOST_CONNECTIONS, loop.max_host);
	curl_multi_setopt(loop.multi, CURLMOPT_MAXCONNECTS, loop.max_host * 2);
	ima_metric_declare("imaginator_http_connections", IMA_METRIC_GAUGE_SUM,
			   "Connections the workers hold open to LLM and other HTTP endpoints.");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	rc = pthread_create(&loop.thread, &attr, http_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		curl_multi_cleanup(loop.multi);
		loop.multi = NULL;
		return -1;
	}
	/* Named for top -H, gdb and the tests (at most 15 characters). */
	pthread_setname_np(loop.thread, IMA_HTTP_THREAD_NAME);
	loop.pid = getpid();
	return 0;
}

int ima_http_start(struct http_xfer *x)
{
	int rc;

	pthread_mutex_lock(&loop.lock);
	rc = http_boot();
	if (rc == 0) {
		x->next_io = loop.incoming;
		loop.incoming = x;
	}
	pthread_mutex_unlock(&loop.lock);
	if (rc == 0)
		curl_multi_wakeup(loop.multi);
	return rc;
}

void ima_http_cancel(struct http_xfer *x, enum ima_http_result why)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&x->cancel, &none, (int)why))
		curl_multi_wakeup(loop.multi);
}

void ima_http_shutdown(void)
{
	bool running;

	pthread_mutex_lock(&loop.lock);
	running = loop.pid == getpid() && loop.multi != NULL;
	if (running)
		loop.stopping = true;
	pthread_mutex_unlock(&loop.lock);
	if (!running)
		return;
	curl_multi_wakeup(loop.multi);
	pthread_join(loop.thread, NULL);
	while (loop.npool > 0)
		curl_easy_cleanup(loop.pool[--loop.npool]);
	curl_multi_cleanup(loop.multi);
	loop.multi = NULL;
	loop.pid = 0;
	curl_global_cleanup();
}
