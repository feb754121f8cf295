/*
 * baseline.c - the smallest useful libfcgi responder: M threads on
 * FCGX_Accept_r, a fixed 2-byte JSON answer. bench/fcgi/run.sh measures
 * imaginator-fcgi against it with the same thread count, behind the same
 * web server. Build: cc -O2 -o baseline baseline.c -lfcgi -lpthread
 * Run:   ./baseline unix:/path/sock THREADS
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd;

static void *serve(void *arg)
{
	static const char resp[] = "Status: 200 OK\r\nContent-Type: application/json\r\n"
				   "Content-Length: 2\r\n\r\n{}";
	FCGX_Request r;

	(void)arg;
	FCGX_InitRequest(&r, listen_fd, 0);
	while (FCGX_Accept_r(&r) == 0) {
		char buf[4096];

		while (FCGX_GetStr(buf, sizeof(buf), r.in) > 0)
			; /* read the body like a real responder */
		FCGX_PutStr(resp, (int)sizeof(resp) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	const char *path = argc > 1 ? argv[1] : "unix:/tmp/baseline.sock";
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
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, serve, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return 0;
}
