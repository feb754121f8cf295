/*
 * upstream.c - a fixed-delay OpenAI-style chat completion server for the LLM
 * benchmarks (bench/llm/run.sh). One thread, epoll, HTTP/1.1 keep-alive:
 * each request is answered DELAY ms after its last byte arrived, with the
 * same body (a chat completion, or the file given with -r). The test server
 * (tests/llm/openai-server.py) holds a Python thread per connection and logs
 * every request: at 256 connections and 700 answers a second its own jitter
 * would be measured as our overhead.
 *
 *   upstream [-p PORT] [-f PORTFILE] [-d DELAY_MS] [-r REPLY_FILE]
 *
 * -p 0 (the default) takes a free port and writes it to PORTFILE.
 * GET /_stats answers at once: {"open", "peak", "accepted", "requests",
 * "hold_avg_ms", "hold_max_ms"}: open and peak count the connections that
 * sent a request to answer (not those asking /_stats), peak as seen when a
 * request starts its wait; hold is from the request's last byte to the
 * answer's write. GET /_reset zeroes peak, requests and hold.
 *
 * Build: cc -O2 -o upstream upstream.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define UP_MAX_REQUEST (8u << 20)

static const char up_default_reply[] =
	"{\"id\":\"bench-1\",\"object\":\"chat.completion\",\"created\":0,"
	"\"model\":\"test/model-a\",\"choices\":[{\"index\":0,\"message\":"
	"{\"role\":\"assistant\",\"content\":\"{}\"},\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":10,\"total_tokens\":110}}";

/* Both fds of a connection point at it; epoll data says which one fired. */
struct up_conn {
	int fd;
	int timer;
	char *in;
	size_t in_len, in_cap;
	size_t req_len;         /* bytes of the request being answered, 0 while reading */
	int close_after;
	int continued;          /* "100 Continue" already sent for this request */
	int is_stats;
	int control;            /* has asked for /_stats: not counted as open */
	int held;               /* the timer runs: the answer is due when it fires */
	int due;
	char *out;
	size_t out_len, out_off;
	struct timespec done_at;
};

struct up_ref {
	struct up_conn *c;
	int is_timer;
};

static int up_epoll;
static long up_delay_ms = 50;
static char *up_reply;
static size_t up_reply_len;
static long up_open, up_peak, up_accepted, up_requests;
static double up_hold_sum, up_hold_max;

static double up_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1e3 + (now.tv_nsec - t->tv_nsec) / 1e6;
}

static void up_close(struct up_conn *c, struct up_ref *refs)
{
	if (!c->control)
		up_open--;
	close(c->fd);
	close(c->timer);
	free(c->in);
	free(c->out);
	free(c);
	free(refs);
}

/* Queues the whole answer and tries to write it now. */
static int up_send(struct up_conn *c, const char *status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n%s\r\n",
			 status, len, c->close_after ? "Connection: close\r\n" : "");
	char *out = realloc(c->out, (size_t)n + len);

	if (out == NULL)
		return -1;
	memcpy(out, head, (size_t)n);
	memcpy(out + n, body, len);
	c->out = out;
	c->out_len = (size_t)n + len;
	c->out_off = 0;
	return 0;
}

/* Returns 1 when everything was written, 0 when EPOLLOUT must finish it, -1 on error. */
static int up_flush(struct up_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->out_off += (size_t)w;
	}
	c->out_len = c->out_off = 0;
	return 1;
}

static const char *up_header(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = head; p && p + nl < head + len; p = memchr(p, '\n', (size_t)(head + len - p))) {
		if (*p == '\n')
			p++;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
			return p + nl + 1;
	}
	return NULL;
}

/* Looks for a whole request in c->in; sets c->req_len when one is there. */
static void up_parse(struct up_conn *c)
{
	char *end;
	size_t head_len, body_len = 0;
	const char *v;

	if (c->in_len == 0 || (end = memmem(c->in, c->in_len, "\r\n\r\n", 4)) == NULL)
		return;
	head_len = (size_t)(end - c->in) + 4;
	if ((v = up_header(c->in, head_len, "Content-Length")) != NULL)
		body_len = strtoul(v, NULL, 10);
	c->close_after = (v = up_header(c->in, head_len, "Connection")) != NULL &&
			 strncasecmp(v + strspn(v, " "), "close", 5) == 0;
	if (c->in_len < head_len + body_len) {
		/* curl waits for this before a large body (or gives up after 1 s). */
		if (!c->continued && up_header(c->in, head_len, "Expect") != NULL) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			c->continued = 1;
			if (write(c->fd, cont, sizeof(cont) - 1) < 0)
				c->close_after = 1;
		}
		return;
	}
	c->req_len = head_len + body_len;
	c->is_stats = strncmp(c->in, "GET /_", 6) == 0;
	if (c->is_stats && !c->control) {
		c->control = 1;
		up_open--;
	}
}

static void up_answer_stats(struct up_conn *c)
{
	char body[256];
	int n;

	if (strncmp(c->in, "GET /_reset", 11) == 0) {
		up_peak = 0;
		up_requests = 0;
		up_hold_sum = up_hold_max = 0;
	}
	n = snprintf(body, sizeof(body),
		     "{\"open\": %ld, \"peak\": %ld, \"accepted\": %ld, \"requests\": %ld, "
		     "\"hold_avg_ms\": %.3f, \"hold_max_ms\": %.3f}\n",
		     up_open, up_peak, up_accepted, up_requests,
		     up_requests ? up_hold_sum / up_requests : 0.0, up_hold_max);
	up_send(c, "200 OK", body, (size_t)n);
}

/*
 * Moves the connection on as far as it can: parse the next request, hold it
 * DELAY ms, answer it, drop its bytes, and again. Returns -1 when the
 * connection must be closed. One request at a time: curl does not pipeline.
 */
static int up_serve(struct up_conn *c, struct up_ref *refs)
{
	for (;;) {
		int r;

		if (c->out_len != 0 || c->held)
			return 0;
		if (c->req_len == 0) {
			up_parse(c);
			if (c->req_len == 0)
				return 0;
			clock_gettime(CLOCK_MONOTONIC, &c->done_at);
		}
		if (!c->is_stats && up_delay_ms > 0 && !c->due) {
			struct itimerspec its = { { 0, 0 },
				{ up_delay_ms / 1000, (up_delay_ms % 1000) * 1000000 } };

			timerfd_settime(c->timer, 0, &its, NULL);
			c->held = 1;
			/* Counted here, not at the accept: a /_stats client is not a peer. */
			if (up_open > up_peak)
				up_peak = up_open;
			return 0;
		}
		c->due = 0;
		if (c->is_stats) {
			up_answer_stats(c);
		} else {
			double hold = up_ms_since(&c->done_at);

			up_requests++;
			up_hold_sum += hold;
			if (hold > up_hold_max)
				up_hold_max = hold;
			if (up_send(c, "200 OK", up_reply, up_reply_len) != 0)
				return -1;
		}
		/* The answer is copied out: the request's bytes can go. */
		memmove(c->in, c->in + c->req_len, c->in_len - c->req_len);
		c->in_len -= c->req_len;
		c->req_len = 0;
		c->continued = 0;
		r = up_flush(c);
		if (r < 0)
			return -1;
		if (r == 0) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = refs };

			epoll_ctl(up_epoll, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (c->close_after)
			return -1;
	}
}

static void up_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		struct up_conn *c;
		struct up_ref *refs;
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		refs = calloc(2, sizeof(*refs));
		if (c == NULL || refs == NULL) {
			close(fd);
			free(c);
			free(refs);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		refs[0].c = c;
		refs[1].c = c;
		refs[1].is_timer = 1;
		ev.data.ptr = &refs[0];
		epoll_ctl(up_epoll, EPOLL_CTL_ADD, fd, &ev);
		ev.data.ptr = &refs[1];
		epoll_ctl(up_epoll, EPOLL_CTL_ADD, c->timer, &ev);
		up_accepted++;
		up_open++;
	}
}

/* Returns -1 when the connection must be closed. */
static int up_readable(struct up_conn *c, struct up_ref *refs)
{
	for (;;) {
		ssize_t r;

		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
			char *in;

			if (cap > UP_MAX_REQUEST)
				return -1;
			if ((in = realloc(c->in, cap)) == NULL)
				return -1;
			c->in = in;
			c->in_cap = cap;
		}
		r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0)
			return -1;
		c->in_len += (size_t)r;
	}
	return up_serve(c, refs);
}

/* One epoll event of a connection; returns -1 when it must be closed. */
static int up_event(struct up_ref *ref, uint32_t events)
{
	struct up_conn *c = ref->c;
	struct up_ref *refs = ref - ref->is_timer; /* the pair starts at the socket's */

	if (ref->is_timer) {
		uint64_t ticks;

		if (read(c->timer, &ticks, sizeof(ticks)) != sizeof(ticks) || !c->held)
			return 0;
		c->held = 0;
		c->due = 1;
		return up_serve(c, refs);
	}
	if (events & EPOLLOUT) {
		int r = up_flush(c);

		if (r < 0)
			return -1;
		if (r == 1) {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = refs };

			epoll_ctl(up_epoll, EPOLL_CTL_MOD, c->fd, &ev);
			if (c->close_after)
				return -1;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		return up_readable(c, refs);
	return up_serve(c, refs);
}

int main(int argc, char **argv)
{
	int port = 0, opt, lfd, one = 1;
	const char *port_file = NULL, *reply_file = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	while ((opt = getopt(argc, argv, "p:f:d:r:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'f': port_file = optarg; break;
		case 'd': up_delay_ms = atol(optarg); break;
		case 'r': reply_file = optarg; break;
		default:
			fprintf(stderr, "usage: upstream [-p PORT] [-f PORTFILE] [-d DELAY_MS] "
				"[-r REPLY_FILE]\n");
			return 2;
		}
	}
	if (reply_file != NULL) {
		FILE *f = fopen(reply_file, "rb");
		long n;

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
			fprintf(stderr, "upstream: cannot read %s\n", reply_file);
			return 2;
		}
		rewind(f);
		up_reply = malloc((size_t)n);
		if (up_reply == NULL || fread(up_reply, 1, (size_t)n, f) != (size_t)n)
			return 2;
		up_reply_len = (size_t)n;
		fclose(f);
	} else {
		up_reply = (char *)up_default_reply;
		up_reply_len = sizeof(up_default_reply) - 1;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("upstream: bind");
		return 1;
	}
	if (port_file != NULL) {
		char tmp[4096];
		FILE *f;

		/* Written whole, then renamed: a poller never reads half a number. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		if ((f = fopen(tmp, "w")) == NULL)
			return 1;
		fprintf(f, "%d\n", ntohs(sa.sin_port));
		fclose(f);
		rename(tmp, port_file);
	}
	up_epoll = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		epoll_ctl(up_epoll, EPOLL_CTL_ADD, lfd, &ev);
	}
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(up_epoll, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct up_ref *ref = evs[i].data.ptr;

			if (evs[i].events == 0)
				continue; /* its connection was closed earlier in this batch */
			if (ref == NULL) {
				up_accept(lfd);
				continue;
			}
			if (up_event(ref, evs[i].events) == 0)
				continue;
			/* The other fd of the pair may be in this batch too. */
			for (int j = i + 1; j < n; j++) {
				struct up_ref *o = evs[j].data.ptr;

				if (evs[j].events != 0 && o != NULL && o->c == ref->c)
					evs[j].events = 0;
			}
			up_close(ref->c, ref - ref->is_timer);
		}
	}
}
