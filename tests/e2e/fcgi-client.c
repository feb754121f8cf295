/*
 * fcgi-client - a small FastCGI client for the end-to-end tests: talks to
 * imaginator-fcgi directly on its socket, without a web server, so tests can
 * send what no web server would (a missing CONTENT_LENGTH, a hostile PARAMS
 * record) and run bounded request loops while the server is disturbed.
 *
 *   fcgi-client SOCK [-X METHOD] [-p NAME=VALUE]... [-b FILE] [-n] URI
 *       one request; prints the CGI response (headers, blank line, body).
 *       -n: no CONTENT_LENGTH param even with a body.
 *   fcgi-client SOCK --hostile
 *       sends one PARAMS record whose name and value lengths are 0x7ffffffe
 *       (CVE-2025-23016); exits 0 when the peer hung up.
 *   fcgi-client SOCK --loop N --threads T [--stop-file F] [-b FILE] URI
 *       up to N requests per thread (GET, or POST with -b) until F exists;
 *       prints "requests=R failed=F" and exits 1 on any failure.
 *   fcgi-client SOCK -b FILE --hold F URI
 *       sends half the body, creates F.sent, sends the rest once F exists.
 *
 * Options of a single request: --timeout S (longest wait for the answer,
 * 20 s), -e (\0 and \\ in the URI and -p values are a NUL and a
 * backslash), --role N (the BEGIN_REQUEST role, 1 responder), --end (print
 * "protocol_status=N" of END_REQUEST on stderr).
 *
 *   fcgi-client SOCK --pipeline N URI
 *       N requests with FCGI_KEEP_CONN in one write on one connection;
 *       prints "id=I status=S" per answer; exits 0 when all N came in order.
 *   fcgi-client SOCK --mpx URI
 *       starts request 1, sends a whole request 2 before request 1's PARAMS
 *       end, then ends request 1; prints "id=I protocol_status=P" for each
 *       END_REQUEST and "id=1 status=S"; exits 0 when both ended.
 *   fcgi-client SOCK --keep N [--ready-file F] [--stop-file G] [--max-wait S] URI
 *       N connections, each with one request with FCGI_KEEP_CONN answered;
 *       creates F, waits until G exists (at most S s, 60), then sends a
 *       second request on each; prints "first=A second=B of N" (answers
 *       with status 200) and exits 0 when both are N.
 *   fcgi-client SOCK --attack half-close|trickle --conns N [--ready-file F]
 *                    [--interval-ms M] [--max-wait S]
 *       opens N connections: half-close sends a partial PARAMS record and
 *       shuts down its side; trickle sends a POST's PARAMS and then one
 *       byte of STDIN per connection every M ms (500). F is created once
 *       every connection has sent its first bytes. Waits (at most S s, 60)
 *       until the server has closed each, prints "closed=K of N first=X
 *       last=Y" (seconds since the connect) and exits 0 when K is N.
 *
 * SOCK is unix:PATH or HOST:PORT.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARAMS 64

static const char *sock_spec;
static const char *method = "GET";
static const char *uri;
static const char *params[MAX_PARAMS];
static int nparams;
static char *body;
static size_t body_len;
static bool no_length;
static const char *stop_file;
static long loop_n;
static int nthreads = 1;
static const char *hold_file;
static int timeout_s = 20;
static bool escapes;
static int role = 1;
static bool show_end;
static _Thread_local int last_protocol_status = -1; /* --loop: one per thread */

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f != NULL)
		fclose(f);
}

/* Until path exists, at most seconds. */
static void wait_for_file(const char *path, int seconds)
{
	struct stat st;

	for (int i = 0; i < seconds * 100 && stat(path, &st) != 0; i++)
		usleep(10000);
}

/* --hold F: half the body is sent, F.sent is created, and the rest waits
 * until F exists (at most 30 s), so a test can act mid-request. */
static void hold(void)
{
	char sent[4096];

	snprintf(sent, sizeof(sent), "%s.sent", hold_file);
	touch(sent);
	wait_for_file(hold_file, 30);
}

static int dial(void)
{
	int fd;
	struct timeval tv = { .tv_sec = timeout_s };

	if (strncmp(sock_spec, "unix:", 5) == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_spec + 5);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(fd);
			return -1;
		}
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
		char host[256];
		const char *colon = strrchr(sock_spec, ':');

		if (colon == NULL)
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - sock_spec), sock_spec);
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
			return -1;
		fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
	}
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void header(unsigned char *h, int type, int id, size_t len)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = h[7] = 0;
}

/* One record of request id; content up to 65535 bytes. */
static int record_id(int fd, int type, int id, const void *content, size_t len)
{
	unsigned char h[8];

	header(h, type, id, len);
	if (write_all(fd, h, 8) != 0)
		return -1;
	return len ? write_all(fd, content, len) : 0;
}

static int record(int fd, int type, const void *content, size_t len)
{
	return record_id(fd, type, 1, content, len);
}

/* Appends one record to a buffer that is sent later in one write. */
static void add_record(char *buf, size_t *used, int type, int id,
		       const void *content, size_t len)
{
	header((unsigned char *)buf + *used, type, id, len);
	if (len > 0)
		memcpy(buf + *used + 8, content, len);
	*used += 8 + len;
}

/* -e: \0 is a NUL, \\ a backslash; returns the length. */
static size_t unescape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n < size; in++) {
		if (escapes && in[0] == '\\' && in[1] == '0') {
			out[n++] = '\0';
			in++;
		} else if (escapes && in[0] == '\\' && in[1] == '\\') {
			out[n++] = '\\';
			in++;
		} else {
			out[n++] = *in;
		}
	}
	return n;
}

static void put_len(char **p, size_t n)
{
	unsigned char *u = (unsigned char *)*p;

	if (n < 128) {
		*u = (unsigned char)n;
		*p += 1;
	} else {
		u[0] = (unsigned char)((n >> 24) | 0x80);
		u[1] = (unsigned char)(n >> 16);
		u[2] = (unsigned char)(n >> 8);
		u[3] = (unsigned char)n;
		*p += 4;
	}
}

static int param(char *buf, size_t *used, const char *name, const char *raw)
{
	char value[8192];
	size_t nl = strlen(name), vl = unescape(raw, value, sizeof(value));
	char *p = buf + *used;

	if (*used + nl + vl + 8 > 60000)
		return -1;
	put_len(&p, nl);
	put_len(&p, vl);
	memcpy(p, name, nl);
	memcpy(p + nl, value, vl);
	*used = (size_t)(p + nl + vl - buf);
	return 0;
}

/* The PARAMS content of the request the options describe. */
static size_t build_params(char *pbuf)
{
	char lenbuf[32];
	size_t used = 0;

	param(pbuf, &used, "REQUEST_METHOD", method);
	param(pbuf, &used, "REQUEST_URI", uri);
	param(pbuf, &used, "SCRIPT_NAME", uri);
	param(pbuf, &used, "REMOTE_ADDR", "127.0.0.1");
	if (body != NULL && !no_length) {
		snprintf(lenbuf, sizeof(lenbuf), "%zu", body_len);
		param(pbuf, &used, "CONTENT_LENGTH", lenbuf);
	}
	for (int i = 0; i < nparams; i++) {
		char name[256];
		const char *eq = strchr(params[i], '=');

		if (eq == NULL)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - params[i]), params[i]);
		param(pbuf, &used, name, eq + 1);
	}
	return used;
}

/* Reads one whole record into h and content (65535 + 255 bytes); -1 at
 * the end or on an error. */
static int read_record(int fd, unsigned char h[8], unsigned char *content)
{
	size_t got = 0, want;
	ssize_t n = 0;

	while (got < 8 && (n = read(fd, h + got, 8 - got)) > 0)
		got += (size_t)n;
	if (got < 8)
		return -1;
	want = ((size_t)h[4] << 8 | h[5]) + h[6];
	for (got = 0; got < want && (n = read(fd, content + got, want - got)) > 0;)
		got += (size_t)n;
	return got == want ? 0 : -1;
}

static int status_of(const char *resp, size_t len)
{
	const char *st = strstr(resp, "Status: ");

	(void)len;
	return st != NULL ? atoi(st + 8) : 200;
}

/* Sends one request and collects FCGI_STDOUT into *out. Returns the
 * HTTP status from the Status header (200 when absent), -1 on failure. */
static int request(char **out, size_t *out_len)
{
	unsigned char begin[8] = { (unsigned char)(role >> 8), (unsigned char)role,
				   0, 0, 0, 0, 0, 0 };
	char pbuf[65536];
	size_t used, cap = 65536, len = 0;
	unsigned char h[8];
	char *resp;
	int fd = dial(), status = -1;
	bool ended = false;

	if (fd < 0)
		return -1;
	used = build_params(pbuf);
	if (record(fd, 1, begin, 8) || record(fd, 4, pbuf, used) || record(fd, 4, NULL, 0))
		goto done;
	for (size_t off = 0; body != NULL && off < body_len;) {
		size_t n = body_len - off > 32768 ? 32768 : body_len - off;

		if (hold_file != NULL && off == 0 && n == body_len)
			n = body_len / 2;
		if (record(fd, 5, body + off, n) != 0)
			break; /* the server may answer before reading it all */
		off += n;
		if (hold_file != NULL && off == body_len / 2)
			hold();
	}
	record(fd, 5, NULL, 0);
	resp = malloc(cap);
	while (resp != NULL && !ended) {
		size_t clen, pad;
		ssize_t n = 0;
		size_t got = 0;

		while (got < 8 && (n = read(fd, h + got, 8 - got)) > 0)
			got += (size_t)n;
		if (got < 8)
			break;
		clen = (size_t)h[4] << 8 | h[5];
		pad = h[6];
		if (len + clen + pad + 1 > cap) {
			char *nr = realloc(resp, cap = (len + clen + pad + 1) * 2);

			if (nr == NULL)
				break;
			resp = nr;
		}
		for (got = 0; got < clen + pad && (n = read(fd, resp + len + got, clen + pad - got)) > 0;)
			got += (size_t)n;
		if (got < clen + pad)
			break;
		if (h[1] == 6) {
			len += clen; /* padding is dropped by not counting it */
		} else if (h[1] == 3) {
			ended = true;
			if (clen >= 5)
				last_protocol_status = (unsigned char)resp[len + 4];
		}
	}
	if (ended) {
		resp[len] = '\0';
		status = status_of(resp, len);
		*out = resp;
		*out_len = len;
	} else {
		free(resp);
	}
done:
	close(fd);
	return status;
}

static int hostile(void)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	unsigned char rec[16] = { 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfe,
				  'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A' };
	char buf[256];
	int fd = dial();

	if (fd < 0)
		return 2;
	if (record(fd, 1, begin, 8) || record(fd, 4, rec, sizeof(rec)))
		return 2;
	/* Either the worker dies (EOF or reset) or it rejects the record and
	 * closes the connection: both are a hang-up here. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}

/* --pipeline N: every request in one write, answers read in order. */
static int pipeline(int n)
{
	unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 }; /* FCGI_KEEP_CONN */
	static unsigned char content[65536 + 256];
	static char pbuf[65536];
	size_t plen = build_params(pbuf), used = 0;
	char *buf = malloc((size_t)n * (plen + 64));
	unsigned char h[8];
	int fd = dial(), next = 1, bad = 0;
	char *resp = malloc(1 << 20);
	size_t len = 0;

	if (fd < 0 || buf == NULL || resp == NULL)
		return 2;
	for (int id = 1; id <= n; id++) {
		add_record(buf, &used, 1, id, begin, 8);
		add_record(buf, &used, 4, id, pbuf, plen);
		add_record(buf, &used, 4, id, NULL, 0);
		add_record(buf, &used, 5, id, NULL, 0);
	}
	if (write_all(fd, buf, used) != 0)
		return 2;
	while (next <= n && read_record(fd, h, content) == 0) {
		int id = h[2] << 8 | h[3];
		size_t clen = (size_t)h[4] << 8 | h[5];

		if (id != next) {
			fprintf(stderr, "fcgi-client: a record of request %d while %d was due\n", id, next);
			bad++;
			break;
		}
		if (h[1] == 6 && len + clen < (1 << 20)) {
			memcpy(resp + len, content, clen);
			len += clen;
		} else if (h[1] == 3) {
			resp[len] = '\0';
			printf("id=%d status=%d\n", id, status_of(resp, len));
			len = 0;
			next++;
		}
	}
	close(fd);
	free(buf);
	free(resp);
	return next == n + 1 && bad == 0 ? 0 : 1;
}

/* --mpx: a second request id while the first is still being received. */
static int mpx(void)
{
	unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
	static unsigned char content[65536 + 256];
	static char pbuf[65536];
	size_t plen = build_params(pbuf), used = 0;
	char *buf = malloc(4 * plen + 128), resp[65536];
	unsigned char h[8];
	int fd = dial(), ended = 0;
	size_t len = 0;

	if (fd < 0 || buf == NULL)
		return 2;
	add_record(buf, &used, 1, 1, begin, 8);
	add_record(buf, &used, 4, 1, pbuf, plen);
	add_record(buf, &used, 1, 2, begin, 8);
	add_record(buf, &used, 4, 2, pbuf, plen);
	add_record(buf, &used, 4, 2, NULL, 0);
	add_record(buf, &used, 5, 2, NULL, 0);
	add_record(buf, &used, 4, 1, NULL, 0);
	add_record(buf, &used, 5, 1, NULL, 0);
	if (write_all(fd, buf, used) != 0)
		return 2;
	while (ended < 2 && read_record(fd, h, content) == 0) {
		int id = h[2] << 8 | h[3];
		size_t clen = (size_t)h[4] << 8 | h[5];

		if (h[1] == 6 && id == 1 && len + clen < sizeof(resp)) {
			memcpy(resp + len, content, clen);
			len += clen;
		} else if (h[1] == 3) {
			printf("id=%d protocol_status=%d\n", id, content[4]);
			if (id == 1) {
				resp[len] = '\0';
				printf("id=1 status=%d\n", status_of(resp, len));
			}
			ended++;
		}
	}
	close(fd);
	free(buf);
	return ended == 2 ? 0 : 1;
}

/* One GET with FCGI_KEEP_CONN in one write on an open connection, as
 * nginx sends it with fastcgi_keep_conn on: its status, or -1. */
static int kept_request(int fd)
{
	static const unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
	static unsigned char content[65536 + 256];
	static char pbuf[65536], buf[65536 + 64], resp[65536];
	size_t plen = build_params(pbuf), used = 0, len = 0;
	unsigned char h[8];

	add_record(buf, &used, 1, 1, begin, 8);
	add_record(buf, &used, 4, 1, pbuf, plen);
	add_record(buf, &used, 4, 1, NULL, 0);
	add_record(buf, &used, 5, 1, NULL, 0);
	if (write_all(fd, buf, used) != 0)
		return -1;
	while (read_record(fd, h, content) == 0) {
		size_t clen = (size_t)h[4] << 8 | h[5];

		if (h[1] == 6 && len + clen < sizeof(resp)) {
			memcpy(resp + len, content, clen);
			len += clen;
		} else if (h[1] == 3) {
			resp[len] = '\0';
			return status_of(resp, len);
		}
	}
	return -1;
}

/* --keep N: N kept connections, idle between two requests each. */
static int keep(int n, const char *ready_file, int max_wait)
{
	int *fds = calloc((size_t)n, sizeof(int)), first = 0, second = 0;

	if (fds == NULL)
		return 2;
	for (int i = 0; i < n; i++) {
		fds[i] = dial();
		if (fds[i] >= 0 && kept_request(fds[i]) == 200)
			first++;
	}
	if (ready_file != NULL)
		touch(ready_file);
	if (stop_file != NULL)
		wait_for_file(stop_file, max_wait);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0 && kept_request(fds[i]) == 200)
			second++;
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("first=%d second=%d of %d\n", first, second, n);
	free(fds);
	return first == n && second == n ? 0 : 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --attack: N connections that never complete a request; how long until
 * the server closes each. */
static int attack(const char *mode, int n, const char *ready_file, int interval_ms,
		  int max_wait)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	static char nothing[1];
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	double *closed_at = calloc((size_t)n, sizeof(double));
	bool trickle = strcmp(mode, "trickle") == 0;
	double t0 = now_s(), first = 0, last = 0, next_byte;
	char pbuf[65536];
	size_t plen;
	int open_n = 0, closed = 0;

	if (pfd == NULL || closed_at == NULL || (!trickle && strcmp(mode, "half-close") != 0))
		return 2;
	method = "POST";
	body_len = 30000; /* announced (under the tests' limit), never sent */
	body = nothing;
	plen = build_params(pbuf);
	for (int i = 0; i < n; i++) {
		int fd = dial();
		unsigned char partial[8];

		pfd[i].fd = -1;
		if (fd < 0)
			continue;
		if (record(fd, 1, begin, 8) != 0) {
			close(fd);
			continue;
		}
		if (trickle) {
			if (record(fd, 4, pbuf, plen) || record(fd, 4, NULL, 0)) {
				close(fd);
				continue;
			}
		} else {
			/* A PARAMS header for 100 bytes, 8 of them sent. */
			header(partial, 4, 1, 100);
			if (write_all(fd, partial, 8) || write_all(fd, pbuf, 8)) {
				close(fd);
				continue;
			}
			shutdown(fd, SHUT_WR);
		}
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
		open_n++;
	}
	if (ready_file != NULL)
		touch(ready_file);
	next_byte = now_s() + interval_ms / 1000.0;
	while (closed < open_n && now_s() - t0 < max_wait) {
		int rc = poll(pfd, (nfds_t)n, 50);

		for (int i = 0; rc > 0 && i < n; i++) {
			char buf[4096];

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (read(pfd[i].fd, buf, sizeof(buf)) > 0)
				continue; /* an answer would be a bug, but not a close */
			close(pfd[i].fd);
			pfd[i].fd = -1;
			closed_at[i] = now_s() - t0;
			closed++;
		}
		if (trickle && now_s() >= next_byte) {
			unsigned char one[9];

			header(one, 5, 1, 1);
			one[8] = 'x';
			for (int i = 0; i < n; i++)
				if (pfd[i].fd >= 0 &&
				    send(pfd[i].fd, one, sizeof(one), MSG_NOSIGNAL) != (ssize_t)sizeof(one)) {
					close(pfd[i].fd);
					pfd[i].fd = -1;
					closed_at[i] = now_s() - t0;
					closed++;
				}
			next_byte += interval_ms / 1000.0;
		}
	}
	for (int i = 0; i < n; i++) {
		if (pfd[i].fd >= 0) {
			close(pfd[i].fd);
			continue;
		}
		if (closed_at[i] > 0 && (first == 0 || closed_at[i] < first))
			first = closed_at[i];
		if (closed_at[i] > last)
			last = closed_at[i];
	}
	printf("closed=%d of %d first=%.2f last=%.2f\n", closed, n, first, last);
	free(pfd);
	free(closed_at);
	body = NULL;
	return closed == n ? 0 : 1;
}

static long total_requests, total_failed;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void *loop_thread(void *arg)
{
	long ok = 0, failed = 0;
	struct stat st;

	(void)arg;
	for (long i = 0; i < loop_n; i++) {
		char *out = NULL;
		size_t len;
		int status;

		if (stop_file != NULL && stat(stop_file, &st) == 0)
			break;
		status = request(&out, &len);
		if (status == 200)
			ok++;
		else {
			failed++;
			fprintf(stderr, "fcgi-client: request %ld: status %d\n", i, status);
		}
		free(out);
	}
	pthread_mutex_lock(&count_lock);
	total_requests += ok + failed;
	total_failed += failed;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (f == NULL || buf == NULL) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		buf = realloc(buf, cap *= 2);
		if (buf == NULL)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	bool do_hostile = false, do_mpx = false;
	const char *attack_mode = NULL, *ready_file = NULL;
	int i = 2, pipeline_n = 0, keep_n = 0, conns = 1, interval_ms = 500, max_wait = 60;

	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of fcgi-client.c\n");
		return 2;
	}
	sock_spec = argv[1];
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-X") == 0 && i + 1 < argc)
			method = argv[++i];
		else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc && nparams < MAX_PARAMS)
			params[nparams++] = argv[++i];
		else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
			body = slurp(argv[++i], &body_len);
			if (body == NULL) {
				perror(argv[i]);
				return 2;
			}
			method = "POST";
		} else if (strcmp(argv[i], "-n") == 0)
			no_length = true;
		else if (strcmp(argv[i], "--hostile") == 0)
			do_hostile = true;
		else if (strcmp(argv[i], "--loop") == 0 && i + 1 < argc)
			loop_n = atol(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
			hold_file = argv[++i];
		else if (strcmp(argv[i], "--stop-file") == 0 && i + 1 < argc)
			stop_file = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_s = atoi(argv[++i]);
		else if (strcmp(argv[i], "-e") == 0)
			escapes = true;
		else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role = atoi(argv[++i]);
		else if (strcmp(argv[i], "--end") == 0)
			show_end = true;
		else if (strcmp(argv[i], "--pipeline") == 0 && i + 1 < argc)
			pipeline_n = atoi(argv[++i]);
		else if (strcmp(argv[i], "--mpx") == 0)
			do_mpx = true;
		else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
			keep_n = atoi(argv[++i]);
		else if (strcmp(argv[i], "--attack") == 0 && i + 1 < argc)
			attack_mode = argv[++i];
		else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc)
			conns = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc)
			ready_file = argv[++i];
		else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc)
			interval_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--max-wait") == 0 && i + 1 < argc)
			max_wait = atoi(argv[++i]);
		else
			uri = argv[i];
	}
	if (do_hostile)
		return hostile();
	if (uri == NULL)
		uri = attack_mode != NULL ? "/v1/analyze" : "/health";
	if (attack_mode != NULL)
		return attack(attack_mode, conns < 1 ? 1 : conns, ready_file,
			      interval_ms < 1 ? 1 : interval_ms, max_wait);
	if (pipeline_n > 0)
		return pipeline(pipeline_n);
	if (do_mpx)
		return mpx();
	if (keep_n > 0)
		return keep(keep_n, ready_file, max_wait);
	if (loop_n > 0) {
		pthread_t tid[64];

		if (nthreads < 1 || nthreads > 64)
			nthreads = 1;
		for (int t = 0; t < nthreads; t++)
			pthread_create(&tid[t], NULL, loop_thread, NULL);
		for (int t = 0; t < nthreads; t++)
			pthread_join(tid[t], NULL);
		printf("requests=%ld failed=%ld\n", total_requests, total_failed);
		free(body);
		return total_failed == 0 && total_requests > 0 ? 0 : 1;
	}
	{
		char *out = NULL;
		size_t len = 0;
		int status = request(&out, &len);

		if (show_end)
			fprintf(stderr, "protocol_status=%d\n", last_protocol_status);
		if (status < 0) {
			fprintf(stderr, "fcgi-client: no complete response\n");
			free(body);
			return 1;
		}
		fwrite(out, 1, len, stdout);
		free(out);
		free(body);
	}
	return 0;
}
