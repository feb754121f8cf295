/*
 * crash.c - the last answer of a worker that crashes: when a stage (or
 * anything else) faults on a handler thread, the request that thread was
 * answering gets a 500 before the process dies, if none of its answer had
 * gone out yet.
 *
 * Without it the web server sees the connection close with no answer,
 * which it reads as a failed upstream and retries on another worker (nginx
 * with fastcgi_next_upstream error): the same request then kills that
 * worker too, with every other request it was running. A 500 is an answer,
 * never retried, so only the request that crashed fails.
 *
 * The handler only reads what its own thread set (the descriptor, the
 * request id, whether a byte went out), formats into a buffer of its own
 * and calls send(): all async-signal-safe. Then it puts back the handler
 * that was there before (ASan's report, or the default core dump) and lets
 * the fault happen again, so the process dies of the signal as before and
 * the supervisor replaces it.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "worker_private.h"

#define CRASH_ALT_STACK (64 * 1024)

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
#define CRASH_NSIG (sizeof(crash_signals) / sizeof(crash_signals[0]))
static struct sigaction crash_old[CRASH_NSIG];

static _Thread_local struct ima_fcgi_thread *crash_self;

static const char crash_head[] = "Status: 500 Internal Server Error\r\n"
	"Content-Type: application/json\r\nContent-Length: ";
static const char crash_body[] = "{\"error\":{\"status\":500,\"code\":\"internal\","
	"\"message\":\"the worker answering this request crashed; it is being replaced\","
	"\"field\":null}}";

/* memcpy is not on the async-signal-safe list. */
static size_t crash_put(unsigned char *dst, size_t at, size_t cap, const char *s, size_t n)
{
	for (size_t i = 0; i < n && at < cap; i++)
		dst[at++] = (unsigned char)s[i];
	return at;
}

static size_t crash_put_uint(unsigned char *dst, size_t at, size_t cap, size_t v)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0 && at < cap)
		dst[at++] = (unsigned char)digits[--n];
	return at;
}

/* The whole answer as FastCGI records: STDOUT, the empty STDOUT,
 * END_REQUEST. One send(), without waiting: it is a few hundred bytes on
 * a socket that has sent nothing of this answer. */
static void crash_answer(const struct ima_fcgi_thread *t, int fd)
{
	unsigned char rec[FCGI_HEADER_LEN + 512 + 3 * FCGI_HEADER_LEN];
	size_t cap = FCGI_HEADER_LEN + 512, n = FCGI_HEADER_LEN;
	int id = t->crash_id;

	n = crash_put(rec, n, cap, crash_head, sizeof(crash_head) - 1);
	n = crash_put_uint(rec, n, cap, sizeof(crash_body) - 1);
	n = crash_put(rec, n, cap, "\r\nX-Request-Id: ", 16);
	n = crash_put(rec, n, cap, t->crash_rid, strnlen(t->crash_rid, sizeof(t->crash_rid)));
	n = crash_put(rec, n, cap, "\r\nImaginator-Api-Version: " IMA_FCGI_API_VERSION "\r\n\r\n",
		      sizeof("\r\nImaginator-Api-Version: " IMA_FCGI_API_VERSION "\r\n\r\n") - 1);
	n = crash_put(rec, n, cap, crash_body, sizeof(crash_body) - 1);
	ima_fcgi_record_header(rec, FCGI_STDOUT, id, n - FCGI_HEADER_LEN);
	ima_fcgi_record_header(rec + n, FCGI_STDOUT, id, 0);
	ima_fcgi_record_header(rec + n + FCGI_HEADER_LEN, FCGI_END_REQUEST, id, 8);
	for (size_t i = 0; i < 8; i++)
		rec[n + 2 * FCGI_HEADER_LEN + i] = 0; /* appStatus 0, REQUEST_COMPLETE */
	n += 3 * FCGI_HEADER_LEN;
	(void)!send(fd, rec, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void crash_on_signal(int sig, siginfo_t *si, void *uc)
{
	struct ima_fcgi_thread *t = crash_self;
	int fd = t != NULL ? t->crash_fd : -1;

	/* Forgotten first: should the answer itself fault, the handler
	 * (SA_NODEFER) runs again and goes straight on. No log line: the
	 * supervisor logs the death, and a line formatted here could not be
	 * the JSON every other line is. */
	(void)uc;
	if (fd >= 0) {
		t->crash_fd = -1;
		if (!t->crash_sent)
			crash_answer(t, fd);
	}
	for (size_t i = 0; i < CRASH_NSIG; i++)
		if (crash_signals[i] == sig)
			sigaction(sig, &crash_old[i], NULL);
	/* A fault comes back when the instruction runs again, now to the
	 * handler before ours; a signal sent by kill() or raise() (abort()
	 * too) would not, so it is sent again. */
	if (si == NULL || si->si_code <= 0)
		raise(sig);
}

int ima_fcgi_crash_init(void)
{
	struct sigaction sa = { .sa_sigaction = crash_on_signal };

	/* SA_NODEFER: the signal raised again from the handler is taken at
	 * once by the handler put back. SA_ONSTACK: a stack overflow too. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < CRASH_NSIG; i++)
		if (sigaction(crash_signals[i], &sa, &crash_old[i]) != 0)
			return -1;
	return 0;
}

void ima_fcgi_crash_thread(struct ima_fcgi_thread *t)
{
	stack_t cur;

	t->crash_fd = -1;
	crash_self = t;
	/* An alternate stack unless the thread has one (ASan gives each
	 * thread its own). */
	t->crash_stack = NULL;
	if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
		void *p = mmap(NULL, CRASH_ALT_STACK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		stack_t ss = { .ss_sp = p, .ss_size = CRASH_ALT_STACK };

		if (p != MAP_FAILED && sigaltstack(&ss, NULL) == 0)
			t->crash_stack = p;
		else if (p != MAP_FAILED)
			munmap(p, CRASH_ALT_STACK);
	}
}

void ima_fcgi_crash_thread_end(struct ima_fcgi_thread *t)
{
	stack_t off = { .ss_flags = SS_DISABLE };

	crash_self = NULL;
	if (t->crash_stack != NULL && sigaltstack(&off, NULL) == 0)
		munmap(t->crash_stack, CRASH_ALT_STACK);
	t->crash_stack = NULL;
}

void ima_fcgi_crash_begin(struct ima_fcgi_thread *t, int fd, int id)
{
	t->crash_rid[0] = '\0';
	t->crash_sent = 0;
	t->crash_id = id;
	/* The handler reads crash_rid once crash_fd is set: in that order. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->crash_fd = fd;
}

void ima_fcgi_crash_request_id(struct ima_fcgi_thread *t, const char *id)
{
	size_t n = strnlen(id, sizeof(t->crash_rid) - 1);

	/* Half copied when a crash comes, it is still bounded. */
	memcpy(t->crash_rid, id, n);
	t->crash_rid[n] = '\0';
}

void ima_fcgi_crash_end(struct ima_fcgi_thread *t)
{
	t->crash_fd = -1;
}
