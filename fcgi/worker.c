/*
 * worker.c - one worker process of imaginator-fcgi: its threads, how they
 * start, and how they stop.
 *
 * M handler threads accept on the shared listening socket themselves (a
 * blocking accept(): the kernel wakes one waiter per connection) and read
 * at once, without blocking, what the peer has sent. A web server sends
 * BEGIN_REQUEST, PARAMS and STDIN in one write, so the request is usually
 * whole and answered on the same thread, with no hand-off. Whatever must be
 * waited for goes to the one receiving thread of the worker (receive.c): a
 * request that is not whole (a slow or hostile peer, a body still
 * arriving), a kept connection (FCGI_KEEP_CONN) between requests, a
 * lingering close. The receiver reads those without blocking (epoll) under
 * the receive deadline and queues their whole requests; a handler takes
 * the queue before it accepts, and the receiver wakes one that waits in
 * accept(). So a slow or idle peer costs a buffer, never a handler.
 * Requests pipelined on a kept connection are answered in order by the
 * handler that holds it while they are buffered.
 *
 * A handler answers through libfcgi's stream API on two FCGX_Streams of
 * our own (stream.c) and the routes (routes.c). libfcgi's FCGX_Accept_r is
 * not used: it reads with blocking calls on the handler's thread, and its
 * PARAMS parser is the one that aborts on CVE-2025-23016.
 *
 * Stopping never touches the listening socket: it is shared with the
 * workers of the next generation during a reload, and shutdown() on it
 * would stop them too. SIGUSR1 is unblocked only while a thread waits (a
 * handler in accept(), the receiver in epoll_pwait()), so the stop signal
 * interrupts waiting and never a request. Then the handlers stop
 * accepting, finish what they hold and park; the receiver closes kept
 * connections that are between requests, finishes receiving the rest, and
 * exits once nothing is left and every handler is parked; the handlers
 * answer what it queued meanwhile and exit after it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "worker_private.h"

#define FCGI_STACK_SIZE (4u << 20) /* jansson dump/copy recurse: keep >= 1 MiB */
#define FCGI_FIRST_BYTES_MS 2      /* a handler's wait for a new connection's request */

static void fcgi_on_usr1(int sig)
{
	(void)sig; /* only here to interrupt accept() and epoll_pwait() */
}

void ima_fcgi_thread_exit(struct ima_fcgi_thread *t)
{
	struct ima_fcgi_worker *w = t->w;

	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&t->state, IMA_FCGI_T_DONE, __ATOMIC_SEQ_CST);
	w->running--;
	pthread_cond_signal(&w->done);
	pthread_mutex_unlock(&w->lock);
}

/* Closes a connection a handler holds; its object is kept for the next
 * accept, without buffers grown large by a big request. */
static void fcgi_drop(struct ima_fcgi_thread *t, struct ima_fcgi_conn *c)
{
	if (t->spare != NULL)
		return ima_fcgi_conn_free(c);
	close(c->fd);
	c->fd = -1;
	ima_fcgi_conn_reset(c);
	c->in.len = c->in_off = 0;
	if (c->in.cap > IMA_FCGI_KEEP_BUF)
		ima_buf_free(&c->in);
	if (c->body.cap > IMA_FCGI_KEEP_BODY)
		ima_buf_free(&c->body);
	t->spare = c;
}

/*
 * A handler keeps a connection as long as a whole request is there to
 * answer: the one a web server sent in one write right after the connect,
 * then those pipelined behind it on a kept connection. Whatever must be
 * waited for (the rest of a request, the next request on a kept
 * connection, a lingering close) goes to the receiver, so a slow or idle
 * peer never holds a handler.
 */
static void fcgi_carry(struct ima_fcgi_thread *t, struct ima_fcgi_conn *c)
{
	struct ima_fcgi_worker *w = t->w;
	bool waited = false;

	for (;;) {
		if (ima_fcgi_conn_read(w, c, t->scratch, 16) != 0)
			return fcgi_drop(t, c);
		if (c->close_after) {
			ima_fcgi_conn_linger(c);
			return ima_fcgi_hand_over(w, c);
		}
		if (!c->ready && !c->served && !c->in_request && !waited) {
			/* A web server writes the request right after its connect,
			 * but the handler the connect woke often looks first (half
			 * the time through nginx here): a short wait, bounded, is
			 * cheaper than the hand-over. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

			waited = true;
			if (poll(&pfd, 1, FCGI_FIRST_BYTES_MS) > 0)
				continue;
		}
		if (!c->ready)
			return ima_fcgi_hand_over(w, c);
		if (!ima_fcgi_answer(t, c)) {
			return fcgi_drop(t, c);
		} else if (!c->keep) {
			if (c->stdin_done)
				return fcgi_drop(t, c);
			/* The rest of STDIN may still come: close softly. */
			ima_fcgi_conn_reset(c);
			ima_fcgi_conn_linger(c);
			return ima_fcgi_hand_over(w, c);
		}
		ima_fcgi_conn_reset(c);
		c->served = true;
		c->in_request = c->in.len > c->in_off;
		if (c->in_request)
			c->deadline = ima_fcgi_now() + w->opts->receive_timeout;
		else if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
			return fcgi_drop(t, c); /* between requests at a stop */
	}
}

/* The next connection with a request for this handler: a queued one
 * first, else a new one. NULL: the worker is done. */
static struct ima_fcgi_conn *fcgi_next(struct ima_fcgi_thread *t, const sigset_t *usr1)
{
	struct ima_fcgi_worker *w = t->w;

	for (;;) {
		struct ima_fcgi_conn *c;
		bool done;

		/* The common case takes no lock: nothing queued, not stopping. */
		if (__atomic_load_n(&w->queued, __ATOMIC_SEQ_CST) == 0 &&
		    !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			if ((c = ima_fcgi_accept(t, usr1)) != NULL)
				return c;
			continue;
		}
		pthread_mutex_lock(&w->lock);
		if (w->ready_head == NULL && __atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
			/* Stopping: no more accepts; answer what the receiver
			 * still queues until it has finished. */
			w->parked++;
			ima_fcgi_wake_receiver(w);
			while (w->ready_head == NULL && !w->receiver_done)
				pthread_cond_wait(&w->ready_cond, &w->lock);
			w->parked--;
		}
		c = w->ready_head;
		if (c != NULL) {
			w->ready_head = c->queue_next;
			if (w->ready_head == NULL)
				w->ready_tail = NULL;
			__atomic_store_n(&w->queued, w->queued - 1, __ATOMIC_SEQ_CST);
		}
		done = c == NULL && w->receiver_done;
		pthread_mutex_unlock(&w->lock);
		if (c != NULL || done)
			return c;
	}
}

static void *fcgi_handler_main(void *arg)
{
	struct ima_fcgi_thread *t = arg;
	struct ima_fcgi_conn *c;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ima_fcgi_crash_thread(t);
	while ((c = fcgi_next(t, &usr1)) != NULL) {
		fcgi_carry(t, c);
		/* A handler that finds the next connection waiting runs request
		 * after request in one time slice and is preempted in the middle
		 * of one, which then waits for every other handler's slice (with
		 * 8 handlers on 2 CPUs: a whole analysis's p99 went from 14 to
		 * 25-75 ms). Yielding here switches between requests instead. */
		sched_yield();
	}
	if (t->spare != NULL)
		ima_fcgi_conn_free(t->spare);
	t->spare = NULL;
	ima_fcgi_crash_thread_end(t);
	ima_fcgi_thread_exit(t);
	return NULL;
}

/* SIGTERM: stop accepting, let busy threads finish, bounded. */
static bool fcgi_drain(struct ima_fcgi_worker *w)
{
	double deadline = ima_fcgi_now() + w->opts->drain_seconds;
	bool all;

	__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&w->lock);
	while (w->running > 0 && ima_fcgi_now() < deadline) {
		struct timespec ts;

		for (int i = 0; i < w->nthreads; i++)
			if (__atomic_load_n(&w->threads[i].state, __ATOMIC_SEQ_CST) ==
			    IMA_FCGI_T_WAITING)
				pthread_kill(w->threads[i].tid, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->done, &w->lock, &ts);
	}
	all = w->running == 0;
	pthread_mutex_unlock(&w->lock);
	return all;
}

/* The receiver's descriptors. The handlers block in accept(): the
 * listening socket is made blocking (every worker and every generation
 * shares it; the kernel wakes one accept() per connection). */
static int fcgi_open_poll(struct ima_fcgi_worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->wake_fd };
	int fl = fcntl(w->opts->listen_fd, F_GETFL);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0 || fl < 0 ||
	    ((fl & O_NONBLOCK) && fcntl(w->opts->listen_fd, F_SETFL, fl & ~O_NONBLOCK) != 0) ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
		return -1;
	return 0;
}

static int fcgi_start_thread(struct ima_fcgi_worker *w, pthread_attr_t *attr,
			     void *(*fn)(void *))
{
	struct ima_fcgi_thread *t = &w->threads[w->nthreads];
	uint64_t seed = 0;

	t->w = w;
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)ima_fcgi_now();
	t->rng = seed;
	t->scratch = ima_malloc(IMA_FCGI_READ_CHUNK);
	if (fn == fcgi_handler_main)
		t->out = ima_malloc(IMA_FCGI_OUT_BUF);
	if (t->scratch == NULL || (fn == fcgi_handler_main && t->out == NULL) ||
	    pthread_create(&t->tid, attr, fn, t) != 0) {
		ima_free(t->scratch);
		ima_free(t->out);
		t->scratch = NULL;
		t->out = NULL;
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	w->running++;
	w->nthreads++;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int ima_fcgi_worker_run(struct ima_engine *eng, struct ima_fcgi_shm *shm,
			const struct ima_fcgi_opts *opts, int ready_fd, int slot)
{
	struct ima_fcgi_worker w = { .eng = eng, .shm = shm, .opts = opts,
				 .epfd = -1, .wake_fd = -1 };
	struct ima_error err = { 0 };
	struct sigaction sa = { .sa_handler = fcgi_on_usr1 };
	sigset_t stopset;
	pthread_attr_t attr;
	bool serving = false;
	int sig = 0;

	/* No SA_RESTART: the point of SIGUSR1 is to make accept() and
	 * epoll_pwait() return. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (ima_engine_worker_init(eng, &err) != 0) {
		ima_log(IMA_LOG_ERROR, "worker_init failed: %s", err.message);
		ima_engine_free(eng);
		return 3;
	}
	if (ima_fcgi_crash_init() != 0)
		ima_log(IMA_LOG_WARN, "cannot install the crash handler: %s", strerror(errno));
	w.pid = getpid();
	w.slot = slot;
	w.nstages = ima_engine_stage_count(eng);
	if (w.nstages > IMA_FCGI_MAX_STAGES)
		w.nstages = IMA_FCGI_MAX_STAGES;
	w.stage_slot = ima_calloc(w.nstages + 1, sizeof(int));
	w.threads = ima_calloc((size_t)opts->threads + 1, sizeof(*w.threads));
	if (w.stage_slot == NULL || w.threads == NULL || fcgi_open_poll(&w) != 0) {
		ima_log(IMA_LOG_ERROR, "cannot set up: %s", strerror(errno));
		if (w.epfd >= 0)
			close(w.epfd);
		if (w.wake_fd >= 0)
			close(w.wake_fd);
		ima_free(w.stage_slot);
		ima_free(w.threads);
		ima_engine_free(eng);
		return 3;
	}
	for (size_t i = 0; i < w.nstages; i++)
		w.stage_slot[i] = ima_fcgi_shm_stage_slot(shm, ima_engine_stage_name(eng, i));
	ima_fcgi_build_static(&w);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.done, NULL);
	pthread_cond_init(&w.ready_cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, FCGI_STACK_SIZE);
	/* The receiver first: a handler may hand it a connection at once. */
	if (fcgi_start_thread(&w, &attr, ima_fcgi_receiver_main) == 0)
		for (int i = 0; i < opts->threads; i++)
			if (fcgi_start_thread(&w, &attr, fcgi_handler_main) != 0) {
				ima_log(IMA_LOG_ERROR, "cannot start thread %d", i);
				break;
			}
	pthread_attr_destroy(&attr);
	serving = w.nthreads > 1;
	ima_fcgi_proc_update(shm, slot);
	if (serving)
		ima_log(IMA_LOG_INFO, "worker started: %d threads", w.nthreads - 1);
	if (serving && ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		ima_log(IMA_LOG_WARN, "cannot report ready");
	if (ready_fd >= 0)
		close(ready_fd);

	/* Signals stay blocked in every thread (inherited from the supervisor);
	 * this thread is the only one that takes them. */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGQUIT);
	/* Waking once a second keeps the process metrics fresh for whichever
	 * worker answers /metrics. */
	while (serving && sig == 0) {
		struct timespec second = { 1, 0 };
		int got = sigtimedwait(&stopset, NULL, &second);

		if (got > 0)
			sig = got;
		else
			ima_fcgi_proc_update(shm, slot);
	}
	if (serving)
		ima_log(IMA_LOG_INFO, "worker stopping: draining requests");
	if (!fcgi_drain(&w)) {
		ima_log(IMA_LOG_ERROR, "requests still running after %.0f s, exiting",
			opts->drain_seconds);
		_exit(1); /* threads still use the engine: nothing can be freed */
	}
	for (int i = 0; i < w.nthreads; i++) {
		pthread_join(w.threads[i].tid, NULL);
		ima_free(w.threads[i].out);
		ima_free(w.threads[i].scratch);
	}
	close(w.epfd);
	close(w.wake_fd);
	pthread_cond_destroy(&w.ready_cond);
	pthread_cond_destroy(&w.done);
	pthread_mutex_destroy(&w.lock);
	ima_buf_free(&w.health);
	ima_buf_free(&w.pipeline);
	ima_free(w.stage_slot);
	ima_free(w.threads);
	ima_engine_free(eng);
	if (serving)
		ima_log(IMA_LOG_INFO, "worker stopped");
	return serving ? 0 : 3;
}
