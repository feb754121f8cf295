/*
 * imaginator-fcgi - the FastCGI front process: a supervisor that loads the
 * configuration, opens (or inherits) the listening socket and keeps N worker
 * processes of M threads running; it replaces dead workers, reloads on SIGHUP
 * without failing a request and drains on SIGTERM. See imaginator-fcgi(8).
 */
#define _GNU_SOURCE /* accept4, ppoll, pipe2 */
#include "config.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "front.h"

#define FCGI_MAX_WORKERS IMA_FCGI_MAX_WORKERS
#define FCGI_MAX_CHILDREN (2 * FCGI_MAX_WORKERS) /* two generations at a reload */
#define FCGI_READY_SECONDS 20.0 /* a new generation must be up by then */

/* Exit codes, documented in imaginator-fcgi(8). */
enum { FCGI_EXIT_OK = 0, FCGI_EXIT_USAGE = 2, FCGI_EXIT_CONFIG = 3,
       FCGI_EXIT_SOCKET = 4 };

struct fcgi_child {
	pid_t pid;
	unsigned gen;
	double started;
	bool ready_counted;
};

/* Settings given on the command line or in the environment, which the
 * configuration's fcgi group must not override. */
enum {
	SET_LISTEN = 1 << 0, SET_WORKERS = 1 << 1, SET_THREADS = 1 << 2,
	SET_MODE = 1 << 3, SET_GROUP = 1 << 4, SET_DRAIN = 1 << 5, SET_IO = 1 << 6,
	SET_BACKLOG = 1 << 7, SET_PIDFILE = 1 << 8, SET_RECEIVE = 1 << 9,
	SET_LOG_FORMAT = 1 << 10
};

struct fcgi_sup {
	unsigned explicit_set;
	/* copies of strings from the configuration, which a reload frees */
	char conf_listen[512], conf_group[128], conf_pidfile[512];
	const char *conf_arg;
	const char *listen;
	const char *pidfile;
	const char *socket_group;
	mode_t socket_mode;
	int workers;
	int backlog;
	struct ima_fcgi_opts opts;
	char *unix_path; /* ours to unlink at exit */
	struct ima_engine *eng;
	struct ima_fcgi_shm *shm;
	struct fcgi_child child[FCGI_MAX_CHILDREN];
	unsigned gen;      /* the generation that should be serving */
	unsigned gen_next; /* numbers are never reused */
	int fast_deaths;
	double next_spawn;
	bool stopping;
};

static void fcgi_usage(FILE *out)
{
	fputs("usage: imaginator-fcgi [-c CONF] [--listen unix:PATH|HOST:PORT] [--workers N]\n"
	      "                       [--threads M] [--pidfile FILE] [--socket-mode MODE]\n"
	      "                       [--socket-group GROUP] [--drain-timeout SEC]\n"
	      "                       [--io-timeout SEC] [--receive-timeout SEC]\n"
	      "                       [--backlog N] [--no-access-log]\n"
	      "                       [--log-format json|text]\n"
	      "\n"
	      "Without --listen: $IMAGINATOR_FCGI_LISTEN, else the socket inherited on\n"
	      "stdin from a web server (lighttpd bin-path, mod_fcgid). --workers and\n"
	      "--threads default to $IMAGINATOR_FCGI_WORKERS / $IMAGINATOR_FCGI_THREADS,\n"
	      "else 2 and 4. Log lines are JSON unless --log-format text (or\n"
	      "$IMAGINATOR_FCGI_LOG_FORMAT). See imaginator-fcgi(8).\n",
	      out);
}

/* ---- the listening socket ---------------------------------------------- */

/*
 * The mode of an inherited socket is its creator's (systemd's SocketMode,
 * the web server's umask): say so when anyone on the host may connect,
 * since libfcgi must be reachable by the web server only.
 */
static void fcgi_inherited_mode(const struct sockaddr_un *sa, socklen_t len)
{
	char path[sizeof(sa->sun_path) + 1];
	size_t n = len > offsetof(struct sockaddr_un, sun_path) ?
		   len - offsetof(struct sockaddr_un, sun_path) : 0;
	struct stat st;

	/* Unnamed and abstract sockets have no file mode. */
	if (n == 0 || sa->sun_path[0] == '\0')
		return;
	if (n > sizeof(sa->sun_path))
		n = sizeof(sa->sun_path);
	memcpy(path, sa->sun_path, n);
	path[n] = '\0';
	if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH))
		ima_log(IMA_LOG_WARN, "inherited socket %s has mode %04o: any local user who "
			"can reach its directory may connect (use 0660 and the web server's group)",
			path, (unsigned)(st.st_mode & 07777));
}

/* A web server that spawns us passes the listening socket as fd 0. */
static bool fcgi_inherited(bool *tcp)
{
	int listening = 0;
	socklen_t len = sizeof(listening);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
	    !listening)
		return false;
	if (getsockname(0, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	*tcp = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
	if (ss.ss_family == AF_UNIX)
		fcgi_inherited_mode((const struct sockaddr_un *)&ss, sl);
	return true;
}

static int fcgi_listen_unix(struct fcgi_sup *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ima_log(IMA_LOG_ERROR, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A leftover socket file is removed only when nobody answers on it:
	 * never steal the socket of a running instance. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			ima_log(IMA_LOG_ERROR, "%s: another process is listening", path);
			close(fd);
			return -1;
		}
		unlink(path);
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
	}
	/* Owner only until the group and mode are set, whatever the umask;
	 * nobody can connect before listen() anyway. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		ima_log(IMA_LOG_ERROR, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	s->unix_path = ima_strdup(path);
	/* chmod() follows symbolic links: change nothing but the socket just
	 * bound (a directory others can write lets them swap the name). */
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		ima_log(IMA_LOG_ERROR, "%s is no longer the socket just bound", path);
		close(fd);
		return -1;
	}
	if (s->socket_group != NULL) {
		struct group *g = getgrnam(s->socket_group);

		if (g == NULL || lchown(path, (uid_t)-1, g->gr_gid) != 0) {
			ima_log(IMA_LOG_ERROR, "cannot give %s to group %s", path,
				s->socket_group);
			close(fd);
			return -1;
		}
	}
	if (chmod(path, s->socket_mode) != 0 || listen(fd, s->backlog) != 0) {
		ima_log(IMA_LOG_ERROR, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* As ima_fcgi_split_tcp(), with the reason logged. */
static int fcgi_split_tcp(const char *spec, char *host, size_t size, char port[6])
{
	struct ima_error err = { 0 };

	if (ima_fcgi_split_tcp(spec, host, size, port, &err) == 0)
		return 0;
	ima_log(IMA_LOG_ERROR, "%s", err.message);
	return -1;
}

static int fcgi_listen_tcp(struct fcgi_sup *s, const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256], port[6];
	int fd = -1, one = 1, rc;

	if (fcgi_split_tcp(spec, host, sizeof(host), port) != 0)
		return -1;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		ima_log(IMA_LOG_ERROR, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
		    listen(fd, s->backlog) != 0) {
			ima_log(IMA_LOG_ERROR, "listen %s: %s", spec, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	s->opts.tcp = true;
	return fd;
}

static int fcgi_open_listen(struct fcgi_sup *s)
{
	bool tcp = false;

	if (s->listen == NULL || s->listen[0] == '\0') {
		if (!fcgi_inherited(&tcp)) {
			ima_log(IMA_LOG_ERROR, "no --listen given and stdin is not a "
				"listening socket");
			return -1;
		}
		s->opts.tcp = tcp;
		return 0;
	}
	if (ima_fcgi_listen_is_unix(s->listen))
		return fcgi_listen_unix(s, s->listen[0] == '/' ? s->listen : s->listen + 5);
	return fcgi_listen_tcp(s, s->listen);
}

/* ---- workers ----------------------------------------------------------- */

static int fcgi_count(const struct fcgi_sup *s, unsigned gen)
{
	int n = 0;

	for (int i = 0; i < FCGI_MAX_CHILDREN; i++)
		if (s->child[i].pid > 0 && s->child[i].gen == gen)
			n++;
	return n;
}

static int fcgi_count_all(const struct fcgi_sup *s)
{
	int n = 0;

	for (int i = 0; i < FCGI_MAX_CHILDREN; i++)
		if (s->child[i].pid > 0)
			n++;
	return n;
}

static void fcgi_update_gauge(struct fcgi_sup *s)
{
	__atomic_store_n(&s->shm->workers_running, (uint64_t)fcgi_count_all(s),
			 __ATOMIC_RELAXED);
}

static pid_t fcgi_spawn(struct fcgi_sup *s, unsigned gen, int ready_r, int ready_w)
{
	int slot = -1;
	pid_t pid;

	for (int i = 0; i < FCGI_MAX_CHILDREN && slot < 0; i++)
		if (s->child[i].pid <= 0)
			slot = i;
	if (slot < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ima_log(IMA_LOG_ERROR, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char name[16];
		int rc;

		/* A worker must not outlive a supervisor killed with SIGKILL. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* Its log lines name it by slot, as its metrics do. */
		snprintf(name, sizeof(name), "%d", slot + 1);
		ima_log_set_process(name);
		if (ready_r >= 0)
			close(ready_r);
		/* Its own column for per-worker gauges, which no other live
		 * worker shares. */
		ima_metrics_set_worker((unsigned)slot + 1);
		rc = ima_fcgi_worker_run(s->eng, s->shm, &s->opts, ready_w, slot + 1);
		ima_free(s->unix_path);
		exit(rc);
	}
	s->child[slot] = (struct fcgi_child){ .pid = pid, .gen = gen,
					      .started = ima_fcgi_now() };
	fcgi_update_gauge(s);
	return pid;
}

/* Collects dead workers; returns how many of generation gen died. */
static int fcgi_reap(struct fcgi_sup *s, unsigned watch_gen)
{
	int status, died = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < FCGI_MAX_CHILDREN; i++) {
			struct fcgi_child *c = &s->child[i];

			if (c->pid != pid)
				continue;
			if (c->gen == watch_gen)
				died++;
			if (c->gen == s->gen && !s->stopping) {
				/* Unasked: a crash, the libfcgi assertion, an OOM kill. */
				char fields[96];
				int n = snprintf(fields, sizeof(fields),
						 "\"worker_slot\":%d,\"worker_pid\":%d,\"%s\":%d", i + 1,
						 (int)pid, WIFSIGNALED(status) ? "signal" : "exit_status",
						 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));

				if (WIFSIGNALED(status))
					ima_log_fields(IMA_LOG_ERROR, fields, (size_t)n,
						       "worker %d (pid %d) killed by signal %d, replacing it",
						       i + 1, (int)pid, WTERMSIG(status));
				else
					ima_log_fields(IMA_LOG_ERROR, fields, (size_t)n,
						       "worker %d (pid %d) exited with %d, replacing it",
						       i + 1, (int)pid, WEXITSTATUS(status));
				__atomic_fetch_add(&s->shm->worker_restarts, 1, __ATOMIC_RELAXED);
				if (ima_fcgi_now() - c->started < 1.0)
					s->fast_deaths++;
				else
					s->fast_deaths = 0;
				/* Back off only for a worker that keeps dying at start. */
				if (s->fast_deaths > 3)
					s->next_spawn = ima_fcgi_now() +
						(s->fast_deaths > 12 ? 1.0 : 0.1 * (s->fast_deaths - 3));
			}
			c->pid = 0;
			ima_metrics_worker_gone((unsigned)i + 1);
			ima_fcgi_proc_clear(s->shm, i + 1);
		}
	}
	fcgi_update_gauge(s);
	return died;
}

static void fcgi_signal_gen(struct fcgi_sup *s, unsigned gen, bool all, int sig)
{
	for (int i = 0; i < FCGI_MAX_CHILDREN; i++)
		if (s->child[i].pid > 0 && (all || s->child[i].gen == gen))
			kill(s->child[i].pid, sig);
}

/*
 * Starts a full generation and waits until every worker has its threads
 * accepting (one byte each on a pipe). False when one died first or the
 * deadline passed: the caller then stops the ones that did start.
 */
static bool fcgi_start_gen(struct fcgi_sup *s, unsigned gen)
{
	double deadline = ima_fcgi_now() + FCGI_READY_SECONDS;
	int fds[2], ready = 0;
	bool ok = true;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return false;
	for (int i = 0; i < s->workers; i++)
		if (fcgi_spawn(s, gen, fds[0], fds[1]) < 0)
			ok = false;
	close(fds[1]);
	while (ok && ready < s->workers) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		double left = deadline - ima_fcgi_now();
		char buf[64];

		if (left <= 0 || fcgi_reap(s, gen) > 0) {
			ok = false;
			break;
		}
		if (poll(&pfd, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1) > 0) {
			ssize_t n = read(fds[0], buf, sizeof(buf));

			if (n <= 0)
				ok = false; /* every worker closed the pipe unready */
			else
				ready += (int)n;
		}
	}
	close(fds[0]);
	return ok;
}

static struct ima_engine *fcgi_load(struct fcgi_sup *s, struct ima_error *err)
{
	struct ima_engine *eng;
	int failed = 0;
	char *path = ima_config_resolve(s->conf_arg, err, &failed);

	if (failed)
		return NULL;
	eng = ima_engine_load(path, &ima_fcgi_front, err);
	ima_free(path);
	if (eng == NULL)
		return NULL;
	for (size_t i = 0; i < ima_engine_stage_count(eng); i++)
		ima_fcgi_shm_stage_slot(s->shm, ima_engine_stage_name(eng, i));
	return eng;
}

/* SIGHUP: a new generation on the new config, then the old one drains. */
static void fcgi_reload(struct fcgi_sup *s)
{
	struct ima_error err = { 0 };
	struct ima_engine *neng = fcgi_load(s, &err), *old;
	unsigned gen;

	if (neng == NULL) {
		ima_log(IMA_LOG_ERROR, "reload failed, keeping the running workers: %s",
			err.message);
		__atomic_fetch_add(&s->shm->reloads_failed, 1, __ATOMIC_RELAXED);
		return;
	}
	old = s->eng;
	s->eng = neng;
	gen = ++s->gen_next;
	if (!fcgi_start_gen(s, gen)) {
		ima_log(IMA_LOG_ERROR, "reload failed, keeping the running workers: "
			"new workers did not start");
		fcgi_signal_gen(s, gen, false, SIGTERM);
		s->eng = old;
		ima_engine_free(neng);
		__atomic_fetch_add(&s->shm->reloads_failed, 1, __ATOMIC_RELAXED);
		return;
	}
	/* The new generation accepts on the same socket already: the old one
	 * only has to finish what it holds. */
	s->gen = gen;
	for (int i = 0; i < FCGI_MAX_CHILDREN; i++)
		if (s->child[i].pid > 0 && s->child[i].gen != gen)
			kill(s->child[i].pid, SIGTERM);
	ima_engine_free(old);
	s->fast_deaths = 0;
	__atomic_fetch_add(&s->shm->reloads_ok, 1, __ATOMIC_RELAXED);
	ima_log(IMA_LOG_INFO, "reloaded %s: %d workers of generation %u",
		ima_engine_source(s->eng), s->workers, gen);
}

static void fcgi_respawn(struct fcgi_sup *s)
{
	if (s->stopping || ima_fcgi_now() < s->next_spawn)
		return;
	for (int n = fcgi_count(s, s->gen); n < s->workers; n++)
		if (fcgi_spawn(s, s->gen, -1, -1) < 0)
			break;
}

/* SIGTERM: every worker drains; stragglers are killed after the bound. */
static void fcgi_shutdown(struct fcgi_sup *s, const sigset_t *set)
{
	double deadline = ima_fcgi_now() + s->opts.drain_seconds + 2.0;

	s->stopping = true;
	fcgi_signal_gen(s, 0, true, SIGTERM);
	while (fcgi_count_all(s) > 0 && ima_fcgi_now() < deadline) {
		struct timespec ts = { 0, 50 * 1000000 };

		sigtimedwait(set, NULL, &ts);
		fcgi_reap(s, 0);
	}
	if (fcgi_count_all(s) > 0) {
		ima_log(IMA_LOG_ERROR, "workers still running after the drain time, killing them");
		fcgi_signal_gen(s, 0, true, SIGKILL);
		while (fcgi_count_all(s) > 0 && waitpid(-1, NULL, 0) > 0)
			fcgi_reap(s, 0);
	}
}

static int fcgi_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

/* The log format named by --log-format or the environment. */
static int fcgi_log_format(struct fcgi_sup *s, const char *name)
{
	enum ima_log_format f;

	if (ima_log_format_parse(name, &f) != 0)
		return -1;
	ima_log_set_format(f, NULL);
	s->explicit_set |= SET_LOG_FORMAT;
	return 0;
}

/*
 * Errors are logged once the whole command line is read, so that a
 * --log-format after the bad option still applies to the message.
 */
static int fcgi_parse_args(struct fcgi_sup *s, int argc, char **argv)
{
	enum { O_PIDFILE = 256, O_MODE, O_GROUP, O_DRAIN, O_IO, O_BACKLOG, O_NOLOG,
	       O_RECEIVE, O_LOG_FORMAT };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "pidfile", required_argument, NULL, O_PIDFILE },
		{ "socket-mode", required_argument, NULL, O_MODE },
		{ "socket-group", required_argument, NULL, O_GROUP },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "io-timeout", required_argument, NULL, O_IO },
		{ "receive-timeout", required_argument, NULL, O_RECEIVE },
		{ "backlog", required_argument, NULL, O_BACKLOG },
		{ "no-access-log", no_argument, NULL, O_NOLOG },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char bad[600] = "";
	const char *env;
	int c, v;

	/* Defaults come from the fcgi option table (options.c), applied with
	 * the configuration. Lines are JSON unless asked otherwise. */
	ima_log_set_format(IMA_LOG_JSON, "imaginator-fcgi");
	ima_log_set_process("supervisor");
	s->opts.access_log = true;
	if ((env = getenv("IMAGINATOR_FCGI_LOG_FORMAT")) != NULL && fcgi_log_format(s, env) != 0)
		snprintf(bad, sizeof(bad), "bad IMAGINATOR_FCGI_LOG_FORMAT '%s' (json or text)", env);
	s->listen = getenv("IMAGINATOR_FCGI_LISTEN");
	if (s->listen != NULL)
		s->explicit_set |= SET_LISTEN;
	if ((env = getenv("IMAGINATOR_FCGI_WORKERS")) != NULL) {
		if (ima_fcgi_int("workers", env, &s->workers) != 0 && bad[0] == '\0')
			snprintf(bad, sizeof(bad), "bad IMAGINATOR_FCGI_WORKERS '%s'", env);
		s->explicit_set |= SET_WORKERS;
	}
	if ((env = getenv("IMAGINATOR_FCGI_THREADS")) != NULL) {
		if (ima_fcgi_int("threads", env, &s->opts.threads) != 0 && bad[0] == '\0')
			snprintf(bad, sizeof(bad), "bad IMAGINATOR_FCGI_THREADS '%s'", env);
		s->explicit_set |= SET_THREADS;
	}
	opterr = 0; /* getopt's own messages would not be log lines */
	while ((c = getopt_long(argc, argv, ":c:l:w:t:hV", opts, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case 'c': s->conf_arg = optarg; break;
		case 'l': s->listen = optarg; s->explicit_set |= SET_LISTEN; break;
		case 'w':
			rc = ima_fcgi_int("workers", optarg, &s->workers);
			s->explicit_set |= SET_WORKERS;
			break;
		case 't':
			rc = ima_fcgi_int("threads", optarg, &s->opts.threads);
			s->explicit_set |= SET_THREADS;
			break;
		case O_PIDFILE: s->pidfile = optarg; s->explicit_set |= SET_PIDFILE; break;
		case O_MODE: {
			unsigned m = 0;

			rc = ima_fcgi_socket_mode(optarg, &m);
			s->socket_mode = (mode_t)m;
			s->explicit_set |= SET_MODE;
			break;
		}
		case O_GROUP: s->socket_group = optarg; s->explicit_set |= SET_GROUP; break;
		case O_DRAIN:
			rc = ima_fcgi_int("drain_timeout", optarg, &v);
			s->opts.drain_seconds = v;
			s->explicit_set |= SET_DRAIN;
			break;
		case O_IO:
			rc = ima_fcgi_int("io_timeout", optarg, &s->opts.io_timeout);
			s->explicit_set |= SET_IO;
			break;
		case O_RECEIVE:
			rc = ima_fcgi_int("receive_timeout", optarg, &s->opts.receive_timeout);
			s->explicit_set |= SET_RECEIVE;
			break;
		case O_BACKLOG:
			rc = ima_fcgi_int("backlog", optarg, &s->backlog);
			s->explicit_set |= SET_BACKLOG;
			break;
		case O_NOLOG: s->opts.access_log = false; break;
		case O_LOG_FORMAT: rc = fcgi_log_format(s, optarg); break;
		case 'h': fcgi_usage(stdout); exit(FCGI_EXIT_OK);
		case 'V':
			printf("imaginator-fcgi %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
			       IMA_ABI_MAJOR, IMA_ABI_MINOR);
			exit(FCGI_EXIT_OK);
		case ':':
			if (bad[0] == '\0')
				snprintf(bad, sizeof(bad), "%s needs a value", argv[optind - 1]);
			break;
		default:
			if (bad[0] == '\0')
				snprintf(bad, sizeof(bad), "unknown option %s", argv[optind - 1]);
			break;
		}
		if (rc != 0 && bad[0] == '\0')
			snprintf(bad, sizeof(bad), "bad value '%s'", optarg);
	}
	if (bad[0] == '\0' && optind != argc)
		snprintf(bad, sizeof(bad), "unexpected argument %s", argv[optind]);
	if (bad[0] != '\0') {
		ima_log(IMA_LOG_ERROR, "%s (imaginator-fcgi --help shows the usage)", bad);
		if (ima_log_get_format() == IMA_LOG_TEXT)
			fcgi_usage(stderr);
		return -1;
	}
	/* A bad port given here is a usage error; one from the configuration
	 * is caught again when the socket is opened. */
	if (s->listen != NULL && s->listen[0] != '\0' && !ima_fcgi_listen_is_unix(s->listen)) {
		char host[256], port[6];

		if (fcgi_split_tcp(s->listen, host, sizeof(host), port) != 0)
			return -1;
	}
	return 0;
}

/*
 * The configuration's fcgi group (validated by the core against the table
 * in options.c): what the file sets, else the table's defaults, unless the
 * command line or the environment set it already.
 */
static void fcgi_apply_config(struct fcgi_sup *s)
{
	const struct ima_conf *c = ima_engine_front_conf(s->eng);
	unsigned mode = 0;

	if (!(s->explicit_set & SET_WORKERS))
		s->workers = (int)ima_conf_int(c, "workers");
	if (!(s->explicit_set & SET_THREADS))
		s->opts.threads = (int)ima_conf_int(c, "threads");
	if (!(s->explicit_set & SET_MODE)) {
		ima_fcgi_socket_mode(ima_conf_string(c, "socket_mode"), &mode);
		s->socket_mode = (mode_t)mode;
	}
	if (!(s->explicit_set & SET_DRAIN))
		s->opts.drain_seconds = (double)ima_conf_int(c, "drain_timeout");
	if (!(s->explicit_set & SET_IO))
		s->opts.io_timeout = (int)ima_conf_int(c, "io_timeout");
	if (!(s->explicit_set & SET_RECEIVE))
		s->opts.receive_timeout = (int)ima_conf_int(c, "receive_timeout");
	if (!(s->explicit_set & SET_BACKLOG))
		s->backlog = (int)ima_conf_int(c, "backlog");
	s->opts.admin_routes = ima_conf_int(c, "admin_routes") != 0;
	if (!(s->explicit_set & SET_LOG_FORMAT)) {
		enum ima_log_format f = IMA_LOG_JSON;

		/* options.c checked the value already */
		ima_log_format_parse(ima_conf_string(c, "log_format"), &f);
		ima_log_set_format(f, NULL);
	}
	/* Empty strings are "not set": the inherited socket, no group, no
	 * pidfile. */
	if (!(s->explicit_set & SET_LISTEN)) {
		snprintf(s->conf_listen, sizeof(s->conf_listen), "%s", ima_conf_string(c, "listen"));
		s->listen = s->conf_listen;
	}
	if (!(s->explicit_set & SET_GROUP) && ima_conf_string(c, "socket_group")[0] != '\0') {
		snprintf(s->conf_group, sizeof(s->conf_group), "%s", ima_conf_string(c, "socket_group"));
		s->socket_group = s->conf_group;
	}
	if (!(s->explicit_set & SET_PIDFILE) && ima_conf_string(c, "pidfile")[0] != '\0') {
		snprintf(s->conf_pidfile, sizeof(s->conf_pidfile), "%s", ima_conf_string(c, "pidfile"));
		s->pidfile = s->conf_pidfile;
	}
}

int main(int argc, char **argv)
{
	static struct fcgi_sup s; /* large; static keeps it off the stack */
	struct ima_error err = { 0 };
	sigset_t set;
	double proc_next;
	int fd;

	if (fcgi_parse_args(&s, argc, argv) != 0)
		return FCGI_EXIT_USAGE;
	s.opts.web_server_addrs = getenv("FCGI_WEB_SERVER_ADDRS");
	/* jansson hashes with a seed it picks lazily; pick it before any thread. */
	json_object_seed(0);
	s.shm = ima_fcgi_shm_create();
	/* Stage metrics too: one table for every worker, before any fork. */
	if (s.shm == NULL || ima_metrics_share(FCGI_MAX_CHILDREN) != 0) {
		ima_log(IMA_LOG_ERROR, "cannot map shared counters");
		return FCGI_EXIT_CONFIG;
	}
	s.eng = fcgi_load(&s, &err);
	if (s.eng == NULL) {
		ima_log(IMA_LOG_ERROR, "config: %s", err.message);
		ima_fcgi_shm_destroy(s.shm);
		return FCGI_EXIT_CONFIG;
	}
	fcgi_apply_config(&s);
	fd = fcgi_open_listen(&s);
	if (fd < 0) {
		ima_engine_free(s.eng);
		ima_fcgi_shm_destroy(s.shm);
		return FCGI_EXIT_SOCKET;
	}
	s.opts.listen_fd = fd;

	/* Every signal we act on is taken synchronously (sigtimedwait here,
	 * sigwait in the workers, which inherit this mask). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	FCGX_Init();

	if (s.pidfile != NULL && fcgi_write_pidfile(s.pidfile) != 0)
		ima_log(IMA_LOG_WARN, "cannot write pidfile %s: %s", s.pidfile,
			strerror(errno));
	s.gen = s.gen_next = 1;
	if (!fcgi_start_gen(&s, s.gen)) {
		ima_log(IMA_LOG_ERROR, "workers did not start");
		s.stopping = true;
		fcgi_shutdown(&s, &set);
		ima_engine_free(s.eng);
		if (s.unix_path != NULL)
			unlink(s.unix_path);
		ima_free(s.unix_path);
		ima_fcgi_shm_destroy(s.shm);
		return FCGI_EXIT_CONFIG;
	}
	ima_log(IMA_LOG_INFO, "serving %s on %s: %d workers x %d threads",
		ima_engine_source(s.eng), s.listen && s.listen[0] ? s.listen : "inherited socket",
		s.workers, s.opts.threads);

	ima_fcgi_proc_update(s.shm, 0);
	proc_next = ima_fcgi_now() + 1.0;
	for (;;) {
		struct timespec ts = { 0, 100 * 1000000 };
		int sig = sigtimedwait(&set, NULL, &ts);

		/* Its process metrics, as fresh as the workers' (worker.c). */
		if (ima_fcgi_now() >= proc_next) {
			ima_fcgi_proc_update(s.shm, 0);
			proc_next = ima_fcgi_now() + 1.0;
		}

		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			break;
		if (sig == SIGHUP)
			fcgi_reload(&s);
		fcgi_reap(&s, 0);
		fcgi_respawn(&s);
	}
	ima_log(IMA_LOG_INFO, "stopping: draining requests");
	fcgi_shutdown(&s, &set);
	if (s.unix_path != NULL)
		unlink(s.unix_path);
	if (s.pidfile != NULL)
		unlink(s.pidfile);
	close(fd);
	ima_free(s.unix_path);
	ima_engine_free(s.eng);
	ima_fcgi_shm_destroy(s.shm);
	ima_log(IMA_LOG_INFO, "stopped");
	return FCGI_EXIT_OK;
}
