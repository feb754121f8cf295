/*
 * ima_engine.c - the pipeline built from a configuration: the settings,
 * the stages and their plugins, the fingerprint, and the stages' init,
 * worker_init and fini hooks. Reading the text is ima_config.c's job,
 * option values ima_conf.c's, running a request ima_run.c's.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ima_calls_private.h"
#include "ima_engine_private.h"

static struct ima_loaded_plugin *engine_plugin(struct ima_engine *eng,
					       const char *name,
					       const config_setting_t *s,
					       const struct ima_config_text *text,
					       struct ima_error *err)
{
	const char *base = strrchr(name, '/');
	char path[4096], pname[128];
	struct ima_loaded_plugin *lp;
	size_t n;

	/* "plugin" is a name looked up in the plugin path, or a path to a .so
	 * whose file name gives the plugin name. */
	if (base != NULL) {
		base++;
		n = strcspn(base, ".");
		snprintf(path, sizeof(path), "%s", name);
	} else {
		base = name;
		n = strlen(base);
	}
	if (n == 0 || n >= sizeof(pname)) {
		ima_conf_error(err, s, text, "bad plugin name '%s'", name);
		return NULL;
	}
	memcpy(pname, base, n);
	pname[n] = '\0';
	for (size_t i = 0; i < eng->nplugins; i++)
		if (strcmp(eng->plugins[i].desc.name, pname) == 0)
			return &eng->plugins[i];
	if (base == name &&
	    ima_plugin_find(eng->plugin_dirs, pname, path, sizeof(path)) != 0) {
		ima_conf_error(err, s, text,
			      "plugin %s: %s.so not found in the plugin path %s",
			      pname, pname, eng->plugin_dirs);
		return NULL;
	}
	lp = &eng->plugins[eng->nplugins];
	if (ima_plugin_open(path, pname, lp, err) != 0) {
		char msg[sizeof(err->message)];

		snprintf(msg, sizeof(msg), "%s", err->message);
		ima_conf_error(err, s, text, "%s", msg);
		return NULL;
	}
	eng->nplugins++;
	return lp;
}

static bool valid_stage_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

/* The imaginator group, the front end's group, and nothing else. */
static atomic_int engines_alive;
/*
 * The engines worker_init ran on in this process, the ones whose requests
 * make calls. A worker forked during a reload inherits the supervisor's
 * two engines (and their count in engines_alive) but serves one: counted
 * by pid, its I/O thread stops with that one instead of running on
 * through exit().
 */
static pthread_mutex_t serving_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t serving_pid;
static int serving_engines;

/* A front end's check failed: cited at the setting it names, else at the
 * group. */
static int engine_front_error(const config_t *cfg, const struct ima_config_text *text,
			      const char *group, const struct ima_error *cerr,
			      struct ima_error *err)
{
	const config_setting_t *g = config_lookup(cfg, group);
	const config_setting_t *at = g != NULL && cerr->field[0] ?
		config_setting_get_member(g, cerr->field) : NULL;

	return ima_conf_error(err, at ? at : g, text, "%s", cerr->message);
}

static int engine_settings(struct ima_engine *eng, const config_t *cfg,
			   const struct ima_config_text *text,
			   struct ima_error *err)
{
	const config_setting_t *root = config_root_setting(cfg);
	const char *front = eng->front ? eng->front->group : NULL;
	const config_setting_t *g;

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "imaginator") != 0 && strcmp(name, "pipeline") != 0 &&
		    (front == NULL || strcmp(name, front) != 0))
			return ima_conf_error(err, s, text,
					      "unknown setting '%s' (known: imaginator, pipeline%s%s)",
					      name, front ? ", " : "", front ? front : "");
	}
	if (front != NULL) {
		g = config_lookup(cfg, front);
		if (g != NULL && config_setting_type(g) != CONFIG_TYPE_GROUP)
			return ima_conf_error(err, g, text, "'%s' must be a group { ... }", front);
		if (ima_conf_build(&eng->front_conf, eng->front->options, front, front,
				   g, g, text, err) != 0)
			return -1;
		if (eng->front->check != NULL && g != NULL) {
			struct ima_error cerr = { 0 };

			if (eng->front->check(&eng->front_conf, &cerr) != 0)
				return engine_front_error(cfg, text, front, &cerr, err);
		}
	}
	g = config_lookup(cfg, "imaginator");
	if (g != NULL && config_setting_type(g) != CONFIG_TYPE_GROUP)
		return ima_conf_error(err, g, text, "'imaginator' must be a group { ... }");
	for (int i = 0; g != NULL && i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int type = config_setting_type(s);

		if (strcmp(name, "plugin_dir") == 0 && type == CONFIG_TYPE_STRING) {
			char why[200];
			char *x = ima_conf_expand(config_setting_get_string(s), why, sizeof(why));

			if (x == NULL)
				return ima_conf_error(err, s, text, "imaginator.plugin_dir: %s", why);
			ima_free(eng->plugin_dirs);
			eng->plugin_dirs = x;
		} else if (strcmp(name, "tls_ca_file") == 0 && type == CONFIG_TYPE_STRING) {
			char why[200];
			char *x = ima_conf_expand(config_setting_get_string(s), why, sizeof(why));

			if (x == NULL)
				return ima_conf_error(err, s, text, "imaginator.tls_ca_file: %s", why);
			if (x[0] != '\0' && access(x, R_OK) != 0) {
				ima_conf_error(err, s, text, "imaginator.tls_ca_file: cannot read %s: %s",
					       x, strerror(errno));
				ima_free(x);
				return -1;
			}
			ima_free(eng->tls_ca_file);
			eng->tls_ca_file = x;
		} else if (strcmp(name, "max_body_bytes") == 0 &&
			   (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) &&
			   config_setting_get_int64(s) > 0) {
			eng->limits.max_body_bytes = (size_t)config_setting_get_int64(s);
		} else if (strcmp(name, "max_depth") == 0 &&
			   type == CONFIG_TYPE_INT &&
			   config_setting_get_int(s) >= 2 &&
			   config_setting_get_int(s) <= IMA_DEFAULT_MAX_DEPTH) {
			eng->limits.max_depth = config_setting_get_int(s);
		} else if (strcmp(name, "deadline_ms") == 0 &&
			   (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) &&
			   config_setting_get_int64(s) >= 100 &&
			   config_setting_get_int64(s) <= IMA_MAX_DEADLINE_MS) {
			eng->deadline_ms = (long)config_setting_get_int64(s);
		} else if (strcmp(name, "max_host_connections") == 0 &&
			   type == CONFIG_TYPE_INT &&
			   config_setting_get_int(s) >= 1 &&
			   config_setting_get_int(s) <= 4096) {
			eng->max_host_connections = config_setting_get_int(s);
		} else {
			return ima_conf_error(err, s, text,
					      "imaginator.%s: unknown setting or bad value (known: plugin_dir string, tls_ca_file string, max_body_bytes integer > 0, max_depth integer 2..%d, deadline_ms integer 100..%d, max_host_connections integer 1..4096)",
					      name, IMA_DEFAULT_MAX_DEPTH, IMA_MAX_DEADLINE_MS);
		}
	}
	return 0;
}

static int engine_stages(struct ima_engine *eng, const config_t *cfg,
			 const struct ima_config_text *text, struct ima_error *err)
{
	const config_setting_t *list = config_lookup(cfg, "pipeline");
	int n;

	if (list == NULL || (config_setting_type(list) != CONFIG_TYPE_LIST &&
			     config_setting_type(list) != CONFIG_TYPE_ARRAY))
		return ima_conf_error(err, list, text,
				     "'pipeline' must be a list of stages: pipeline = ( { name = \"...\"; plugin = \"...\"; } );");
	n = config_setting_length(list);
	eng->stages = ima_calloc((size_t)n, sizeof(*eng->stages));
	eng->plugins = ima_calloc((size_t)n, sizeof(*eng->plugins));
	eng->join_before = ima_calloc((size_t)n + 1, sizeof(*eng->join_before));
	if (eng->stages == NULL || eng->plugins == NULL || eng->join_before == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *plugin = NULL;
		const config_setting_t *opts = NULL;
		struct ima_stage *st = &eng->stages[eng->nstages];
		char owner[200];

		/* "join": wait here for the calls of the stages before. */
		if (config_setting_type(e) == CONFIG_TYPE_STRING &&
		    strcmp(config_setting_get_string(e), "join") == 0) {
			eng->join_before[eng->nstages] = true;
			continue;
		}
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return ima_conf_error(err, e, text,
					     "pipeline entry %d must be a group { name = ...; plugin = ...; } or \"join\"",
					     i + 1);
		for (int k = 0; k < config_setting_length(e); k++) {
			const config_setting_t *s = config_setting_get_elem(e, (unsigned)k);
			const char *key = config_setting_name(s);

			if (strcmp(key, "name") == 0 &&
			    config_setting_type(s) == CONFIG_TYPE_STRING)
				name = config_setting_get_string(s);
			else if (strcmp(key, "plugin") == 0 &&
				 config_setting_type(s) == CONFIG_TYPE_STRING)
				plugin = config_setting_get_string(s);
			else if (strcmp(key, "options") == 0 &&
				 config_setting_type(s) == CONFIG_TYPE_GROUP)
				opts = s;
			else
				return ima_conf_error(err, s, text,
						     "pipeline entry %d: unknown key or wrong type '%s' (known: name string, plugin string, options group)",
						     i + 1, key);
		}
		if (plugin == NULL)
			return ima_conf_error(err, e, text,
					     "pipeline entry %d has no plugin", i + 1);
		if (name == NULL)
			name = plugin;
		if (!valid_stage_name(name))
			return ima_conf_error(err, e, text,
					     "stage name '%s': use a-z, 0-9, '_' and '-'",
					     name);
		for (size_t k = 0; k < eng->nstages; k++)
			if (strcmp(eng->stages[k].conf.stage_name, name) == 0)
				return ima_conf_error(err, e, text,
						     "stage name '%s' is used twice; give each instance its own name",
						     name);
		st->plugin = engine_plugin(eng, plugin, e, text, err);
		if (st->plugin == NULL)
			return -1;
		eng->nstages++;
		snprintf(owner, sizeof(owner), "stage '%s' (plugin %s)", name,
			 st->plugin->desc.name);
		if (ima_conf_build(&st->conf, st->plugin->desc.options, name, owner, e,
				   opts, text, err) != 0)
			return -1;
	}
	return 0;
}

/* SHA-256 over every stage: name, plugin, version, options (no secrets),
 * the content of the data files options name (ima_conf_digest). */
static int engine_fingerprint(struct ima_engine *eng)
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int ok;

	if (md == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (size_t i = 0; ok && i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		const struct ima_plugin *p = &st->plugin->desc;
		const char *parts[] = { "stage", st->conf.stage_name, p->name,
					p->version ? p->version : "" };

		/* Each part whole, then a separator no part holds. */
		for (size_t k = 0; ok && k < sizeof(parts) / sizeof(parts[0]); k++)
			ok = EVP_DigestUpdate(md, parts[k], strlen(parts[k])) &&
			     EVP_DigestUpdate(md, "\036", 1);
		ok = ok && ima_conf_digest(&st->conf, md) == 0;
		/* Where the joins are decides what a stage sees. */
		if (eng->join_before[i])
			ok = ok && EVP_DigestUpdate(md, "join\036", 5);
	}
	ok = ok && EVP_DigestFinal_ex(md, digest, &dlen);
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	for (unsigned i = 0; i < dlen && i < 32; i++) {
		eng->fingerprint[2 * i] = hex[digest[i] >> 4];
		eng->fingerprint[2 * i + 1] = hex[digest[i] & 15];
	}
	eng->fingerprint[64] = '\0';
	for (size_t i = 0; i < eng->nstages; i++)
		eng->stages[i].conf.fingerprint = eng->fingerprint;
	return 0;
}

static int engine_init_stages(struct ima_engine *eng, struct ima_error *err)
{
	if (engine_fingerprint(eng) != 0)
		return ima_error_set(err, 500, "internal", "", "cannot compute the pipeline fingerprint");
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		struct ima_error perr;

		/* The first stage with a call cache serves every stage's calls,
		 * the first provider every stage's completions. */
		if (eng->call_stage == NULL && st->plugin->desc.call_get != NULL &&
		    st->plugin->desc.call_put != NULL)
			eng->call_stage = st;
		if (eng->llm_stage == NULL && st->plugin->desc.llm_submit != NULL)
			eng->llm_stage = st;
		if (st->plugin->desc.init == NULL) {
			st->inited = true;
			continue;
		}
		memset(&perr, 0, sizeof(perr));
		if (st->plugin->desc.init(&st->conf, &st->state, &perr) != 0)
			return ima_error_set(err, 500, "config", "",
					     "%s:%d: stage '%s' (plugin %s): init failed: %s",
					     st->conf.file, st->conf.line,
					     st->conf.stage_name,
					     st->plugin->desc.name,
					     perr.message[0] ? perr.message : "no reason given");
		st->inited = true;
	}
	return 0;
}

char *ima_config_resolve(const char *explicit_path, struct ima_error *err,
			 int *failed)
{
	const char *env = getenv("IMAGINATOR_ENV");
	const char *dir = getenv("IMAGINATOR_CONF_DIR");
	char path[4096];

	*failed = 0;
	if (explicit_path != NULL)
		return ima_strdup(explicit_path);
	if (env == NULL || env[0] == '\0')
		return NULL;
	if (strchr(env, '/') != NULL || strchr(env, '.') != NULL) {
		*failed = 1;
		ima_error_set(err, 500, "config", "",
			      "IMAGINATOR_ENV=%s: give an environment name such as 'production', not a path (use -c FILE for paths)",
			      env);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s.conf",
		 dir && dir[0] ? dir : IMA_CONFDIR, env);
	return ima_strdup(path);
}

struct ima_engine *ima_engine_load(const char *path,
				   const struct ima_front *front,
				   struct ima_error *err)
{
	struct ima_engine *eng = ima_calloc(1, sizeof(*eng));
	struct ima_config_text text;
	config_t cfg;

	if (eng == NULL) {
		ima_error_set(err, 500, "internal", "", "out of memory");
		return NULL;
	}
	eng->front = front;
	eng->limits.max_body_bytes = IMA_DEFAULT_MAX_BODY;
	eng->limits.max_depth = IMA_DEFAULT_MAX_DEPTH;
	eng->deadline_ms = IMA_DEFAULT_DEADLINE_MS;
	eng->max_host_connections = IMA_DEFAULT_HOST_CONNECTIONS;
	eng->source = ima_strdup(path ? path : "embedded:default.conf");
	if (ima_config_read(path, &text, err) != 0) {
		ima_engine_free(eng);
		return NULL;
	}
	config_init(&cfg);
	if (config_read_string(&cfg, text.text) != CONFIG_TRUE) {
		int line = 0;
		const char *file = ima_config_where(&text, config_error_line(&cfg), &line);

		ima_error_set(err, 500, "config", "", "%s:%d: %s", file, line,
			      config_error_text(&cfg));
		goto fail;
	}
	if (engine_settings(eng, &cfg, &text, err) != 0)
		goto fail;
	if (eng->plugin_dirs == NULL ||
	    getenv("IMAGINATOR_PLUGIN_DIR") != NULL) {
		char *d = ima_strdup(ima_plugin_dirs(eng->plugin_dirs));

		ima_free(eng->plugin_dirs);
		eng->plugin_dirs = d;
	}
	if (eng->source == NULL || eng->plugin_dirs == NULL) {
		ima_error_set(err, 500, "internal", "", "out of memory");
		goto fail;
	}
	if (engine_stages(eng, &cfg, &text, err) != 0 ||
	    engine_init_stages(eng, err) != 0)
		goto fail;
	if (eng->front != NULL && eng->front->check_engine != NULL) {
		struct ima_error cerr = { 0 };

		/* Settings that only make sense with some stages (a scope
		 * without an auth stage). */
		if (eng->front->check_engine(&eng->front_conf, eng, &cerr) != 0) {
			engine_front_error(&cfg, &text, eng->front->group, &cerr, err);
			goto fail;
		}
	}
	config_destroy(&cfg);
	ima_config_text_free(&text);
	ima_http_configure(eng->max_host_connections, eng->tls_ca_file);
	ima_calls_declare_metrics();
	atomic_fetch_add(&engines_alive, 1);
	eng->counted = true;
	return eng;
fail:
	config_destroy(&cfg);
	ima_config_text_free(&text);
	ima_engine_free(eng);
	return NULL;
}

int ima_engine_worker_init(struct ima_engine *eng, struct ima_error *err)
{
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		struct ima_error perr;

		if (st->plugin->desc.worker_init == NULL)
			continue;
		memset(&perr, 0, sizeof(perr));
		if (st->plugin->desc.worker_init(st->state, &perr) != 0)
			return ima_error_set(err, 500, "worker_init", "",
					     "stage '%s' (plugin %s): worker init failed: %s",
					     st->conf.stage_name,
					     st->plugin->desc.name, perr.message);
	}
	if (eng->serving_pid != getpid()) {
		eng->serving_pid = getpid();
		pthread_mutex_lock(&serving_lock);
		if (serving_pid != eng->serving_pid) {
			serving_pid = eng->serving_pid;
			serving_engines = 0;
		}
		serving_engines++;
		pthread_mutex_unlock(&serving_lock);
	}
	return 0;
}

/* True when eng was the last engine this process served requests with. */
static bool engine_last_serving(const struct ima_engine *eng)
{
	bool last = false;

	if (eng->serving_pid != getpid())
		return false;
	pthread_mutex_lock(&serving_lock);
	if (serving_pid == eng->serving_pid)
		last = --serving_engines == 0;
	pthread_mutex_unlock(&serving_lock);
	return last;
}

void ima_engine_free(struct ima_engine *eng)
{
	bool last;

	if (eng == NULL)
		return;
	/* fini in reverse order: later stages may hold on to earlier ones'
	 * results only through the context, but resources (connections) are
	 * released the way they were acquired, LIFO. */
	for (size_t i = eng->nstages; i-- > 0;) {
		struct ima_stage *st = &eng->stages[i];

		if (st->inited && st->plugin->desc.fini != NULL)
			st->plugin->desc.fini(st->state);
		ima_conf_free(&st->conf);
	}
	ima_conf_free(&eng->front_conf);
	for (size_t i = 0; i < eng->nplugins; i++)
		ima_plugin_close(&eng->plugins[i]);
	/* The I/O thread serves every engine of the process (a reload runs
	 * two for a while): it stops with the last, or with the last one
	 * this process served with. */
	last = eng->counted && atomic_fetch_sub(&engines_alive, 1) == 1;
	if (engine_last_serving(eng) || last)
		ima_http_shutdown();
	ima_free(eng->stages);
	ima_free(eng->plugins);
	ima_free(eng->join_before);
	ima_free(eng->plugin_dirs);
	ima_free(eng->tls_ca_file);
	ima_free(eng->source);
	ima_free(eng);
}

const struct ima_limits *ima_engine_limits(const struct ima_engine *eng)
{
	return &eng->limits;
}

const char *ima_engine_source(const struct ima_engine *eng)
{
	return eng->source;
}

const char *ima_engine_fingerprint(const struct ima_engine *eng)
{
	return eng->fingerprint;
}

size_t ima_engine_stage_count(const struct ima_engine *eng)
{
	return eng->nstages;
}

size_t ima_engine_auth_stages(const struct ima_engine *eng)
{
	size_t n = 0;

	for (size_t i = 0; i < eng->nstages; i++)
		n += (eng->stages[i].plugin->desc.flags & IMA_PLUGIN_AUTH) != 0;
	return n;
}

bool ima_engine_joins_before(const struct ima_engine *eng, size_t i)
{
	return i < eng->nstages && eng->join_before[i];
}

const char *ima_engine_stage_name(const struct ima_engine *eng, size_t i)
{
	return eng->stages[i].conf.stage_name;
}

const struct ima_plugin *ima_engine_stage_plugin(const struct ima_engine *eng,
						 size_t i)
{
	return &eng->stages[i].plugin->desc;
}

const struct ima_conf *ima_engine_stage_conf(const struct ima_engine *eng,
					     size_t i)
{
	return &eng->stages[i].conf;
}

const struct ima_conf *ima_engine_front_conf(const struct ima_engine *eng)
{
	return eng->front ? &eng->front_conf : NULL;
}
