/*
 * ima_calls_private.h - the asynchronous calls between their two halves:
 * the request's side (ima_calls.c: pending calls, joins, the deadline, LLM
 * routing and accounting) and the worker's I/O thread (ima_http.c: one
 * libcurl multi handle and its connections).
 */
#ifndef IMA_CALLS_PRIVATE_H
#define IMA_CALLS_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <curl/curl.h>

#include "ima_core.h"

struct req_calls;

/* Something whose callback runs in a join, queued once it is ready. */
struct call_item {
	struct call_item *next_ready;
	void (*fire)(struct ima_req *req, struct call_item *it);
};

/*
 * One HTTP transfer. The request's thread fills the request half and
 * hands it to the I/O thread; the I/O thread fills the response half and
 * queues the item; the request's thread runs the callback and frees it.
 */
struct http_xfer {
	struct call_item item;
	struct http_xfer *next_req; /* the request's transfers (cancellation) */
	struct http_xfer *next_io;  /* the I/O thread's lists */
	struct req_calls *owner;
	/* what to send */
	char *url;
	char *method;
	struct curl_slist *headers;
	char *body;
	size_t body_len;
	long connect_timeout_ms;
	long timeout_ms;
	double start_at;      /* monotonic seconds: not before */
	double deadline;      /* monotonic seconds: never after */
	size_t max_bytes;
	/* set by the request's thread, read by the I/O thread */
	atomic_int cancel;    /* 0, IMA_HTTP_DEADLINE or IMA_HTTP_CANCELLED */
	/* the I/O thread's */
	CURL *easy;
	bool too_large;
	char errbuf[CURL_ERROR_SIZE];
	/* what came back */
	struct ima_buf resp;
	struct ima_http_response out;
	char content_type[128];
	ima_http_done_fn done;
	void *arg;
};

/* ---- ima_http.c ---- */

/* Settings of the worker's I/O thread: the connection cap is taken when
 * it starts, the CA bundle (NULL or "": the system's) by every transfer. */
void ima_http_configure(long max_host_connections, const char *ca_file);
/* Hands x to the I/O thread (started on first use in each process).
 * Returns 0, or -1 when the thread could not start. */
int ima_http_start(struct http_xfer *x);
/* Asks the I/O thread to end x now with result why. */
void ima_http_cancel(struct http_xfer *x, enum ima_http_result why);
/* Stops the I/O thread of this process (every transfer ended). */
void ima_http_shutdown(void);
/* Monotonic seconds. */
double ima_http_now(void);

/* ---- ima_calls.c ---- */

/* Called by the I/O thread when x has its response (or its failure). */
void ima_calls_xfer_done(struct http_xfer *x);
/* Ends what the request left pending with why (IMA_HTTP_CANCELLED) and
 * runs the callbacks. */
void ima_calls_cancel(struct ima_req *req, enum ima_http_result why);
/* Declares the LLM and HTTP metric families (from ima_engine_load). */
void ima_calls_declare_metrics(void);
/* Frees the request's calls (at ima_req_free). */
void ima_calls_free(struct ima_req *req);
/* True when the request submitted an LLM call; *cost the sum of their
 * costs, made or reused. */
bool ima_calls_llm_cost(const struct ima_req *req, double *cost);

#endif /* IMA_CALLS_PRIVATE_H */
