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
 *       (CVE-2025-23016, see PITFALLS.md); exits 0 when the peer hung up.
 *   fcgi-client SOCK --loop N --threads T [--stop-file F] [-b FILE] URI
 *       up to N requests per thread (GET, or POST with -b) until F exists;
 *       prints "requests=R failed=F" and exits 1 on any failure.
 *   fcgi-client SOCK -b FILE --hold F URI
 *       sends half the body, creates F.sent, sends the rest once F exists.
 *
 * SOCK is unix:PATH or HOST:PORT.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
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

/* --hold F: half the body is sent, F.sent is created, and the rest waits
 * until F exists (at most 30 s), so a test can act mid-request. */
static void hold(void)
{
	char sent[4096];
	struct stat st;
	FILE *f;

	snprintf(sent, sizeof(sent), "%s.sent", hold_file);
	f = fopen(sent, "w");
	if (f != NULL)
		fclose(f);
	for (int i = 0; i < 3000 && stat(hold_file, &st) != 0; i++)
		usleep(10000);
}

static int dial(void)
{
	int fd;
	struct timeval tv = { .tv_sec = 20 };

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

/* One record; content up to 65535 bytes. */
static int record(int fd, int type, const void *content, size_t len)
{
	unsigned char h[8] = { 1, (unsigned char)type, 0, 1,
			       (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	if (write_all(fd, h, 8) != 0)
		return -1;
	return len ? write_all(fd, content, len) : 0;
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

static int param(char *buf, size_t *used, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
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

/* Sends one request and collects FCGI_STDOUT into *out. Returns the
 * HTTP status from the Status header (200 when absent), -1 on failure. */
static int request(char **out, size_t *out_len)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	char pbuf[65536], lenbuf[32];
	size_t used = 0, cap = 65536, len = 0;
	unsigned char h[8];
	char *resp;
	int fd = dial(), status = -1;
	bool ended = false;

	if (fd < 0)
		return -1;
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
		if (h[1] == 6)
			len += clen; /* padding is dropped by not counting it */
		else if (h[1] == 3)
			ended = true;
	}
	if (ended) {
		const char *st;

		resp[len] = '\0';
		status = 200;
		st = strstr(resp, "Status: ");
		if (st != NULL && st < resp + len)
			status = atoi(st + 8);
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
	bool do_hostile = false;
	int i = 2;

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
		else
			uri = argv[i];
	}
	if (do_hostile)
		return hostile();
	if (uri == NULL)
		uri = "/health";
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
