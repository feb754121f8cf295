/*
 * worker_private.h - what the files of one worker process share: the
 * worker and its threads (worker.c), receiving connections (receive.c),
 * the streams a handler answers through (stream.c) and the routes
 * (routes.c). How they fit together is told at the top of worker.c.
 */
#ifndef IMA_FCGI_WORKER_PRIVATE_H
#define IMA_FCGI_WORKER_PRIVATE_H

#include <fastcgi.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include "fcgi.h"

#define IMA_FCGI_ID_MAX 64            /* longest X-Request-Id taken from a client */
#define IMA_FCGI_ADMIN_BODY_MAX 4096    /* POST /v1/cache/invalidate */
#define IMA_FCGI_READ_CHUNK (64 * 1024) /* one recv() */
#define IMA_FCGI_KEEP_BUF 4096          /* larger input buffers are freed when empty */
#define IMA_FCGI_KEEP_BODY (64 * 1024)  /* a handler's spare connection keeps no more */
#define IMA_FCGI_OUT_CONTENT 32768      /* STDOUT bytes per record we write */
/* A STDOUT header, its content, then room for the empty STDOUT record and
 * END_REQUEST that close the answer in the same write. */
#define IMA_FCGI_OUT_BUF (FCGI_HEADER_LEN + IMA_FCGI_OUT_CONTENT + 3 * FCGI_HEADER_LEN)

/* A thread's state, atomic: the stopper and the receiver signal only
 * threads that wait (in accept() or epoll_pwait()). */
enum { IMA_FCGI_T_BUSY = 0, IMA_FCGI_T_WAITING = 1, IMA_FCGI_T_DONE = 2 };

/* What a connection waits for: only its owner (the handler that accepted
 * or took it, or the receiver) touches it, and it changes hands only under
 * the worker's lock (the ready queue, the incoming list). */
enum { IMA_FCGI_C_RECV = 0, IMA_FCGI_C_LINGER };

struct ima_fcgi_conn {
	struct ima_fcgi_conn *prev, *next; /* the receiver's connections */
	struct ima_fcgi_conn *queue_next;  /* the ready queue or the incoming list */
	int fd;
	int state;         /* IMA_FCGI_C_* */
	double deadline;   /* the receiver closes it when this passes */
	bool served;       /* answered a request before: a kept connection */
	bool in_request;   /* a byte of the next request has come */
	bool close_after;  /* a record we answered ends the connection */
	/* the request being received */
	int id;
	bool keep;         /* FCGI_KEEP_CONN */
	bool begun, params_done, stdin_done;
	bool ready;        /* whole: for a handler */
	bool has_bad_param;
	char bad_param[64]; /* the name of a param with a NUL in it */
	size_t body_want;  /* STDIN bytes kept: CONTENT_LENGTH within the limit */
	size_t in_off;     /* in: parsed up to here */
	struct ima_buf in; /* bytes read, not yet parsed */
	struct ima_buf params;
	struct ima_buf body;
	char **envp;       /* NAME=VALUE strings, one allocation */
};

struct ima_fcgi_worker;

struct ima_fcgi_thread {
	pthread_t tid;
	struct ima_fcgi_worker *w;
	int state; /* IMA_FCGI_T_* */
	uint64_t rng;
	unsigned char *out; /* IMA_FCGI_OUT_BUF bytes: the answer's records */
	char *scratch;      /* IMA_FCGI_READ_CHUNK bytes: one recv() */
	struct ima_fcgi_conn *spare; /* reused for the next accepted connection */
	/* The request being answered, for the answer of a crash (crash.c):
	 * written by this thread, read by its signal handler. */
	volatile sig_atomic_t crash_fd; /* -1: none */
	volatile sig_atomic_t crash_id;
	volatile sig_atomic_t crash_sent; /* a byte of its answer went out */
	char crash_rid[IMA_FCGI_ID_MAX + 1];
	void *crash_stack; /* the alternate signal stack we gave the thread */
};

struct ima_fcgi_worker {
	struct ima_engine *eng;
	struct ima_fcgi_shm *shm;
	const struct ima_fcgi_opts *opts;
	int stop; /* atomic */
	pid_t pid;
	int slot; /* among the workers, 1..: its process metrics */
	size_t nstages;
	int *stage_slot;
	struct ima_buf health;   /* built once: the answers never change */
	struct ima_buf pipeline;
	/* The scopes routes need, from the engine's fcgi group (a reload
	 * brings new workers); "" is none. auth: the pipeline has an auth
	 * stage, so the admin routes know who calls. */
	bool auth;
	const char *admin_scope, *analyze_scope, *metrics_scope, *pipeline_scope;
	pthread_mutex_t lock;
	pthread_cond_t done;
	int running;
	struct ima_fcgi_thread *threads; /* [0] the receiver, then the handlers */
	int nthreads;
	/* the receiver's own */
	int epfd;
	struct ima_fcgi_conn *conns;
	int nconns;
	int kick; /* the handler to wake first for the next queued request */
	/* between the receiver and the handlers, under lock */
	int wake_fd; /* eventfd: a handler gave the receiver a connection */
	pthread_cond_t ready_cond;
	struct ima_fcgi_conn *ready_head, *ready_tail;
	int queued; /* atomic too: read without the lock before accept() */
	struct ima_fcgi_conn *incoming;
	int parked; /* handlers waiting for the receiver to finish a stop */
	bool receiver_done;
};

/* ---- worker.c ---- */

/* A thread is done: counted off for the drain. */
void ima_fcgi_thread_exit(struct ima_fcgi_thread *t);

/* ---- crash.c ---- */

/* Installs the crash handler in the worker (after the sanitizers' own,
 * which it hands on to). 0 or -1. */
int ima_fcgi_crash_init(void);
/* On a handler thread, at its start and its end. */
void ima_fcgi_crash_thread(struct ima_fcgi_thread *t);
void ima_fcgi_crash_thread_end(struct ima_fcgi_thread *t);
/* Around one request on connection fd, FastCGI request id; its
 * X-Request-Id once known. */
void ima_fcgi_crash_begin(struct ima_fcgi_thread *t, int fd, int id);
void ima_fcgi_crash_request_id(struct ima_fcgi_thread *t, const char *id);
void ima_fcgi_crash_end(struct ima_fcgi_thread *t);

/* ---- receive.c ---- */

/*
 * Blocks in accept() with SIGUSR1 (in usr1) open, unless a request is
 * queued or the worker stops. Returns the new connection (the thread's
 * spare, or a new one) with its receive deadline set, or NULL when
 * interrupted, refused (FCGI_WEB_SERVER_ADDRS) or failed.
 */
struct ima_fcgi_conn *ima_fcgi_accept(struct ima_fcgi_thread *t, const sigset_t *usr1);
/*
 * Parses what c has buffered, then reads what its socket has, without
 * waiting, at most rounds times into scratch (IMA_FCGI_READ_CHUNK bytes),
 * until c->ready (a whole request) or c->close_after (a record answered
 * here ends the connection). 0, or -1: close c.
 */
int ima_fcgi_conn_read(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c, char *scratch,
		       int rounds);
/* Forgets the request c held (its environment and body), not its input. */
void ima_fcgi_conn_reset(struct ima_fcgi_conn *c);
/* Closes c and frees it: no list may hold it. */
void ima_fcgi_conn_free(struct ima_fcgi_conn *c);
/* Ends our side of c after an answer; the receiver drops what still comes. */
void ima_fcgi_conn_linger(struct ima_fcgi_conn *c);
/* Gives c to the receiver, which owns it from then on. */
void ima_fcgi_hand_over(struct ima_fcgi_worker *w, struct ima_fcgi_conn *c);
/* Wakes the receiver to look at the incoming list and at the stop. */
void ima_fcgi_wake_receiver(struct ima_fcgi_worker *w);
/* The receiving thread (arg: its struct ima_fcgi_thread). */
void *ima_fcgi_receiver_main(void *arg);

/* ---- stream.c ---- */

/* The 8-byte header of a record of content length len. */
void ima_fcgi_record_header(unsigned char *h, int type, int id, size_t len);
/* Answers the whole request c holds (c->ready) on t. False: the answer
 * could not be written, c's connection is lost. */
bool ima_fcgi_answer(struct ima_fcgi_thread *t, struct ima_fcgi_conn *c);

/* ---- routes.c ---- */

/* The parts of /health and /v1/pipeline that never change, and the
 * scopes of the routes, into w. */
void ima_fcgi_build_static(struct ima_fcgi_worker *w);
/* Answers one request on r (its envp and streams); bad_param names a
 * parameter with a NUL byte in it (the answer is 400), or is NULL. */
void ima_fcgi_handle(struct ima_fcgi_thread *t, FCGX_Request *r, const char *bad_param);
/* A CONTENT_LENGTH: digits only, no sign, no overflow. 0 or -1. */
int ima_fcgi_parse_length(const char *s, size_t *out);

#endif /* IMA_FCGI_WORKER_PRIVATE_H */
