/*
 * stream.c - the two FCGX_Streams a handler answers through: one that
 * reads the body the receiver buffered (its end is the end of STDIN), one
 * that writes the answer as STDOUT records and ends it with END_REQUEST, a
 * small answer in one write, a stalled peer bounded by io_timeout. libfcgi's
 * stream API (FCGX_GetStr, FCGX_PutStr, FCGX_FClose) runs on top of them;
 * libfcgi itself never touches the socket.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "worker_private.h"

struct fcgi_out {
	int fd;
	int id;
	int timeout_s;
	unsigned char *buf; /* IMA_FCGI_OUT_BUF bytes */
	volatile sig_atomic_t *sent; /* the thread's crash_sent */
};

/* The socket is non-blocking (accept4); a write may wait for room
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

void ima_fcgi_record_header(unsigned char *h, int type, int id, size_t len)
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
		ima_fcgi_record_header(o->buf, FCGI_STDOUT, o->id, n);
		start = o->buf;
	}
	if (close) {
		ima_fcgi_record_header(end, FCGI_STDOUT, o->id, 0);
		ima_fcgi_record_header(end + FCGI_HEADER_LEN, FCGI_END_REQUEST, o->id, 8);
		/* appStatus 0, FCGI_REQUEST_COMPLETE */
		memset(end + 2 * FCGI_HEADER_LEN, 0, 8);
		end += 3 * FCGI_HEADER_LEN;
	}
	if (end > start)
		*o->sent = 1; /* a crash from now on leaves the answer as it is */
	if (end > start && fcgi_write_all(o->fd, start, (size_t)(end - start), o->timeout_s) != 0) {
		s->isClosed = 1;
		s->FCGI_errno = errno != 0 ? errno : EIO;
	}
	s->wrNext = data;
}

/* Answers the whole request a connection holds. False: the answer could
 * not be written, the connection is lost. */
bool ima_fcgi_answer(struct ima_fcgi_thread *t, struct ima_fcgi_conn *c)
{
	static unsigned char nothing[1];
	struct ima_fcgi_worker *w = t->w;
	struct fcgi_out o = { .fd = c->fd, .id = c->id,
			      .timeout_s = w->opts->io_timeout, .buf = t->out,
			      .sent = &t->crash_sent };
	FCGX_Stream in = { 0 }, out = { 0 };
	FCGX_Request r = { 0 };
	bool ok;

	in.rdNext = in.stopUnget = c->body.len > 0 ? (unsigned char *)c->body.data : nothing;
	in.stop = in.wrNext = in.rdNext + c->body.len;
	in.isReader = 1;
	in.fillBuffProc = fcgi_in_fill;
	in.emptyBuffProc = fcgi_in_empty;
	out.wrNext = out.stopUnget = t->out + FCGI_HEADER_LEN;
	out.stop = out.rdNext = out.wrNext + IMA_FCGI_OUT_CONTENT;
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
	ima_fcgi_crash_begin(t, c->fd, c->id);
	ima_fcgi_handle(t, &r, c->has_bad_param ? c->bad_param : NULL);
	ok = FCGX_FClose(&out) == 0;
	ima_fcgi_crash_end(t);
	return ok;
}
