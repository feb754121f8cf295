/*
 * baseline.c - the smallest useful libfcgi responder: M threads on
 * FCGX_Accept_r, a fixed 2-byte JSON answer. bench/fcgi/run.sh measures
 * imaginator-fcgi against it with the same thread count, behind the same
 * web server. Paths under /base/big get a JSON answer of BYTES bytes
 * instead, to separate what moving a large answer costs the web server and
 * the client from what the responder does.
 * Build: cc -O2 -o baseline baseline.c -lfcgi -lpthread
 * Run:   ./baseline unix:/path/sock THREADS [BYTES]
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd;
static char *big;      /* headers and a BYTES-byte JSON answer */
static size_t big_len;

static void *serve(void *arg)
{
	static const char resp[] = "Status: 200 OK\r\nContent-Type: application/json\r\n"
				   "Content-Length: 2\r\n\r\n{}";
	FCGX_Request r;

	(void)arg;
	FCGX_InitRequest(&r, listen_fd, 0);
	while (FCGX_Accept_r(&r) == 0) {
		char buf[4096];

		const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);

		while (FCGX_GetStr(buf, sizeof(buf), r.in) > 0)
			; /* read the body like a real responder */
		if (big != NULL && uri != NULL && strncmp(uri, "/base/big", 9) == 0)
			FCGX_PutStr(big, (int)big_len, r.out);
		else
			FCGX_PutStr(resp, (int)sizeof(resp) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	const char *path = argc > 1 ? argv[1] : "unix:/tmp/baseline.sock";
	long bytes = argc > 3 ? atol(argv[3]) : 0;
	pthread_t tid[256];

	if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	FCGX_Init();
	unlink(path);
	listen_fd = FCGX_OpenSocket(path, 1024);
	if (listen_fd < 0)
		return 1;
	chmod(path, 0660);
	if (threads < 1 || threads > 256)
		threads = 4;
	if (bytes >= 10 && bytes <= 1 << 24) {
		int n;

		big = malloc((size_t)bytes + 128);
		if (big == NULL)
			return 1;
		n = sprintf(big, "Status: 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: %ld\r\n\r\n{\"pad\":\"", bytes);
		memset(big + n, 'x', (size_t)bytes - 10);
		memcpy(big + n + bytes - 10, "\"}", 2);
		big_len = (size_t)n + (size_t)bytes - 8;
	}
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, serve, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
