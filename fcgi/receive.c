/*
 * receive.c - taking connections and their requests: accept() on the
 * handler threads (with the FCGI_WEB_SERVER_ADDRS check), non-blocking
 * reads into a buffer per connection, the record parser that turns them
 * into whole requests (our own PARAMS parser: libfcgi's aborts on
 * CVE-2025-23016), the records answered without a handler (refused roles,
 * a second request id, FCGI_GET_VALUES), and the receiving thread, which
 * holds every connection that must be waited for under its deadline and
 * queues whole requests for the handlers.
 */
#define _GNU_SOURCE /* accept4, epoll_pwait, strnlen */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker_private.h"

#define FCGI_KEEP_IDLE_SECONDS 30.0 /* idle kept connection before we close it */
#define FCGI_LINGER_SECONDS 2.0     /* reading a peer's rest after the answer */
#define FCGI_SCAN_SECONDS 0.1       /* how often the deadlines are checked */
#define FCGI_PARAMS_MAX (64 * 1024) /* the whole PARAMS stream of a request */
#define FCGI_CONNS_MAX 4096         /* connections the receiver holds */

/* ---- accepting, on the handler threads --------------------------------- */

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

/* Blocks in accept() with SIGUSR1 open, unless a request is queued; a new
 * connection (from the thread's spare), or NULL when interrupted, refused
 * or failed. */
struct ima_fcgi_conn *ima_fcgi_accept(struct ima_fcgi_thread *t, const sigset_t *usr1)
{
	struct ima_fcgi_worker *w = t->w;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ima_fcgi_conn *c;
	int fd = -1, err = EINTR;

	__atomic_store_n(&t->state, IMA_FCGI_T_WAITING, __ATOMIC_SEQ_CST);
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
	__atomic_store_n(&t->state, IMA_FCGI_T_BUSY, __ATOMIC_SEQ_CST);
	if (fd < 0) {
		if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS)
			poll(NULL, 0, 50); /* out of descriptors: don't spin */
		else if (err == EBADF || err == EINVAL || err == ENOTSOCK)
			__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	c = t->spare != NULL ? t->spare : ima_calloc(1, sizeof(*c));
	t->spare = c; /* still the spare if refused */
	if (c == NULL || !fcgi_peer_allowed(w->opts, &ss)) {
		close(fd);
		return NULL;
	}
	t->spare = NULL;
	c->fd = fd;
	c->state = IMA_FCGI_C_RECV;
	c->served = c->in_request = c->close_after = false;
	/* A new connection has the receive timeout to send its request. */
	c->deadline = ima_fcgi_now() + w->opts->receive_timeout;
	return c;
}

/* ---- records into whole requests ------------------------------------ */

/*
 * libfcgi 2.4.2 aborts the process on a PARAMS pair whose lengths are near
 * 2 GiB (CVE-2025-23016, only partly fixed in Debian 12), so it never
 * parses PARAMS here: we do, and check every name/value length against the
 * bytes that really follow, while the stream arrives and once it is
 * complete.
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

void ima_fcgi_conn_reset(struct ima_fcgi_conn *c)
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

/* A small record answered without a handler. Written without waiting: a
 * peer that does not read even that much loses its connection. */
static int fcgi_conn_reply(struct ima_fcgi_conn *c, int type, int id,
			   const unsigned char *content, size_t len)
{
	unsigned char rec[8 + 256];
	ssize_t n;

	ima_fcgi_record_header(rec, type, id, len);
	memcpy(rec + 8, content, len);
	n = send(c->fd, rec, 8 + len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)(8 + len) ? 0 : -1;
}

static int fcgi_conn_end(struct ima_fcgi_conn *c, int id, int protocol_status)
{
	unsigned char end[8] = { 0, 0, 0, 0, (unsigned char)protocol_status, 0, 0, 0 };

	return fcgi_conn_reply(c, FCGI_END_REQUEST, id, end, sizeof(end));
}

/* FCGI_GET_VALUES asks what libfcgi would answer: no multiplexing, and as
 * many requests at once as this worker has handler threads. */
static int fcgi_conn_management(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c,
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
static int fcgi_conn_params_end(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
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
	if (cap < IMA_FCGI_ADMIN_BODY_MAX)
		cap = IMA_FCGI_ADMIN_BODY_MAX;
	want = 0;
	for (char **e = env; *e != NULL; e++)
		if (strncmp(*e, "CONTENT_LENGTH=", 15) == 0) {
			if (ima_fcgi_parse_length(*e + 15, &want) != 0 || want > cap)
				want = 0;
			break;
		}
	c->body_want = want;
	if (want == 0 || c->has_bad_param)
		c->ready = true;
	return 0;
}

/* One record of the connection. 0, or -1: close the connection. */
static int fcgi_conn_record(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, int type,
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
		ima_fcgi_conn_reset(c);
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
static int fcgi_conn_parse(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
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
		if (c->in.cap > IMA_FCGI_KEEP_BUF)
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
int ima_fcgi_conn_read(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, char *scratch,
		       int rounds)
{
	if (fcgi_conn_parse(w, c) != 0)
		return -1;
	while (!c->ready && !c->close_after && rounds-- > 0) {
		ssize_t n = recv(c->fd, scratch, IMA_FCGI_READ_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1; /* a peer that gives up costs this connection only */
		/* On a kept connection the clock starts with the first byte of
		 * the next request; a new one has had it since the accept. */
		if (!c->in_request && c->served)
			c->deadline = ima_fcgi_now() + w->opts->receive_timeout;
		c->in_request = true;
		/* A connection keeps only what is not parsed yet (a partial
		 * record), so an idle or trickling peer costs a few bytes. */
		ima_buf_append(&c->in, scratch, (size_t)n);
		if (c->in.failed || fcgi_conn_parse(w, c) != 0)
			return -1;
		if (n < IMA_FCGI_READ_CHUNK)
			break; /* the socket is empty: spare the recv() that says so */
	}
	return 0;
}

/* A connection no thread holds any more. */
void ima_fcgi_conn_free(struct ima_fcgi_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	ima_fcgi_conn_reset(c);
	ima_buf_free(&c->in);
	ima_buf_free(&c->params);
	ima_buf_free(&c->body);
	ima_free(c);
}

/* ---- the receiving thread -------------------------------------------- */

static void fcgi_conn_unlink(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
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

static void fcgi_conn_close(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
{
	fcgi_conn_unlink(w, c);
	ima_fcgi_conn_free(c);
}

/*
 * Wakes one handler that waits in accept() to take the queue: SIGUSR1
 * interrupts only waiting, and a handler checks the queue after it opens
 * the signal and before it blocks. Round robin, so that a wake-up lost to
 * a handler that has just accepted a connection goes to another one when
 * the receiver looks again. Under the lock.
 */
static void fcgi_kick(struct ima_fcgi_worker *w)
{
	int n = w->nthreads - 1;

	for (int i = 0; i < n; i++) {
		int k = (w->kick + i) % n;
		struct ima_fcgi_thread *h = &w->threads[1 + k];

		if (__atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == IMA_FCGI_T_WAITING) {
			pthread_kill(h->tid, SIGUSR1);
			w->kick = k + 1;
			return;
		}
	}
}

/* A whole request: the connection leaves the receiver for a handler. */
static void fcgi_conn_dispatch(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
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
void ima_fcgi_conn_linger(struct ima_fcgi_conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = IMA_FCGI_C_LINGER;
	c->close_after = false;
	c->in.len = c->in_off = 0;
	c->deadline = ima_fcgi_now() + FCGI_LINGER_SECONDS;
}

/* After a read: hand over, keep receiving, or close. */
static void fcgi_conn_settle(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, int rc)
{
	if (rc != 0)
		fcgi_conn_close(w, c);
	else if (c->ready)
		fcgi_conn_dispatch(w, c);
	else if (c->close_after)
		ima_fcgi_conn_linger(c);
}

static void fcgi_conn_input(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, char *scratch)
{
	if (c->state == IMA_FCGI_C_LINGER) {
		/* An answered request's rest: dropped until the peer's end. */
		for (int round = 0; round < 8; round++) {
			ssize_t n = recv(c->fd, scratch, IMA_FCGI_READ_CHUNK, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n <= 0)
				return fcgi_conn_close(w, c);
		}
		return;
	}
	fcgi_conn_settle(w, c, ima_fcgi_conn_read(w, c, scratch, 8));
}

/* A connection from a handler: a new one whose request is not all here
 * yet, a kept one between requests, or a lingering close. */
static void fcgi_conn_adopt(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, bool stopping)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	/* At a stop kept connections between requests go (see the top). */
	if (w->nconns >= FCGI_CONNS_MAX ||
	    (stopping && c->state == IMA_FCGI_C_RECV && c->served && !c->in_request) ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		return ima_fcgi_conn_free(c);
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	if (c->state == IMA_FCGI_C_RECV && c->served && !c->in_request)
		c->deadline = ima_fcgi_now() + FCGI_KEEP_IDLE_SECONDS;
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
void *ima_fcgi_receiver_main(void *arg)
{
	struct ima_fcgi_thread *t = arg;
	struct ima_fcgi_worker *w = t->w;
	struct epoll_event evs[64];
	sigset_t open;
	bool stopping = false;
	double next_scan = 0;

	pthread_sigmask(SIG_SETMASK, NULL, &open);
	sigdelset(&open, SIGUSR1);
	for (;;) {
		double now = ima_fcgi_now();
		int n, timeout;
		bool finished;

		if (!stopping && __atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			stopping = true;
			/* Kept connections between requests go; a connection that
			 * sent part of a request (or nothing yet: it was accepted
			 * just now) gets its answer within the receive timeout. */
			for (struct ima_fcgi_conn *c = w->conns, *next; c != NULL; c = next) {
				next = c->next;
				if (c->state == IMA_FCGI_C_RECV && c->served && !c->in_request)
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
			for (struct ima_fcgi_conn *c = w->conns, *next; c != NULL; c = next) {
				next = c->next;
				if (now >= c->deadline)
					fcgi_conn_close(w, c);
			}
			next_scan = now + FCGI_SCAN_SECONDS;
		}
		timeout = w->nconns > 0 || stopping ||
			  __atomic_load_n(&w->queued, __ATOMIC_SEQ_CST) > 0 ?
			(int)(FCGI_SCAN_SECONDS * 1000) : -1;
		__atomic_store_n(&t->state, IMA_FCGI_T_WAITING, __ATOMIC_SEQ_CST);
		/* A stop signal that came while busy is delivered when the mask
		 * opens; the stopper repeats it to cover the gap to this check. */
		if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) && !stopping)
			n = 0;
		else
			n = epoll_pwait(w->epfd, evs, 64, timeout, &open);
		__atomic_store_n(&t->state, IMA_FCGI_T_BUSY, __ATOMIC_SEQ_CST);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &w->wake_fd) {
				struct ima_fcgi_conn *in;
				uint64_t v;

				if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					continue;
				pthread_mutex_lock(&w->lock);
				in = w->incoming;
				w->incoming = NULL;
				pthread_mutex_unlock(&w->lock);
				while (in != NULL) {
					struct ima_fcgi_conn *c = in;

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
	ima_fcgi_thread_exit(t);
	return NULL;
}

void ima_fcgi_wake_receiver(struct ima_fcgi_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		ima_log(IMA_LOG_WARN, "cannot wake the receiver");
}

void ima_fcgi_hand_over(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c)
{
	pthread_mutex_lock(&w->lock);
	c->queue_next = w->incoming;
	w->incoming = c;
	pthread_mutex_unlock(&w->lock);
	ima_fcgi_wake_receiver(w);
}
