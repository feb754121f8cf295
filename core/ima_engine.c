/*
 * ima_engine.c - the configuration, the pipeline built from it, and the
 * dispatcher that runs a request through the stages.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/evp.h>

#include "ima_req_private.h"

extern const char ima_default_conf[];

struct conf_value {
	const struct ima_option *opt;
	int64_t i;
	double d;
	int b;
	char *s;
};

struct ima_conf {
	const char *fingerprint; /* the engine's */
	char *stage_name;
	char *file;
	int line;
	size_t count;
	struct conf_value *values;
};

struct ima_stage {
	struct ima_loaded_plugin *plugin;
	struct ima_conf conf;
	void *state;
	bool inited;
};

struct front_setting {
	char *name;
	bool is_int;
	long long num;
	char *str;
	int line;
};

struct ima_engine {
	char fingerprint[65];
	struct front_setting *front;
	size_t nfront;
	char *source;
	char *plugin_dirs;
	struct ima_limits limits;
	struct ima_loaded_plugin *plugins;
	size_t nplugins;
	struct ima_stage *stages;
	size_t nstages;
	struct ima_stage *call_stage; /* serves the call cache, or NULL */
};

/* ---- option access for plugins ---- */

static const struct conf_value *conf_find(const struct ima_conf *conf,
					  const char *name,
					  enum ima_opt_type type)
{
	for (size_t i = 0; i < conf->count; i++)
		if (strcmp(conf->values[i].opt->name, name) == 0 &&
		    conf->values[i].opt->type == type)
			return &conf->values[i];
	/* Asking for an undeclared option is a bug in the plugin. */
	ima_log(IMA_LOG_ERROR, "stage %s asked for undeclared option '%s'",
		conf->stage_name, name);
	return NULL;
}

int ima_conf_bool(const struct ima_conf *conf, const char *name)
{
	const struct conf_value *v = conf_find(conf, name, IMA_OPT_BOOL);

	return v ? v->b : 0;
}

int64_t ima_conf_int(const struct ima_conf *conf, const char *name)
{
	const struct conf_value *v = conf_find(conf, name, IMA_OPT_INT);

	return v ? v->i : 0;
}

double ima_conf_double(const struct ima_conf *conf, const char *name)
{
	const struct conf_value *v = conf_find(conf, name, IMA_OPT_DOUBLE);

	return v ? v->d : 0.0;
}

const char *ima_conf_string(const struct ima_conf *conf, const char *name)
{
	const struct conf_value *v = conf_find(conf, name, IMA_OPT_STRING);

	return v && v->s ? v->s : "";
}

const char *ima_conf_stage_name(const struct ima_conf *conf)
{
	return conf->stage_name;
}

const char *ima_conf_pipeline_fingerprint(const struct ima_conf *conf)
{
	return conf->fingerprint;
}

const char *ima_conf_file(const struct ima_conf *conf)
{
	return conf->file;
}

int ima_conf_line(const struct ima_conf *conf)
{
	return conf->line;
}

/* ---- ${VAR} expansion ---- */

/*
 * Expands ${VAR} and ${VAR:-default} from the environment, so secrets stay
 * out of config files. An unset variable without a default is an error: a
 * silently empty API key or URL would fail much later and less clearly.
 */
static char *expand_env(const char *in, char *missing, size_t missing_size)
{
	struct ima_buf b = { 0 };
	const char *p = in;

	ima_buf_append(&b, "", 0);
	while (*p) {
		const char *start = strstr(p, "${");
		const char *end, *dflt, *val;
		char name[128];
		size_t n;

		if (start == NULL) {
			ima_buf_append(&b, p, strlen(p));
			break;
		}
		ima_buf_append(&b, p, (size_t)(start - p));
		end = strchr(start + 2, '}');
		if (end == NULL) {
			ima_buf_append(&b, start, strlen(start));
			break;
		}
		dflt = strstr(start + 2, ":-");
		if (dflt != NULL && dflt > end)
			dflt = NULL;
		n = (size_t)((dflt ? dflt : end) - (start + 2));
		if (n == 0 || n >= sizeof(name)) {
			snprintf(missing, missing_size, "%.*s",
				 (int)(end - start + 1), start);
			ima_buf_free(&b);
			return NULL;
		}
		memcpy(name, start + 2, n);
		name[n] = '\0';
		val = getenv(name);
		if (val != NULL && val[0] != '\0')
			ima_buf_append(&b, val, strlen(val));
		else if (dflt != NULL)
			ima_buf_append(&b, dflt + 2, (size_t)(end - dflt - 2));
		else {
			snprintf(missing, missing_size, "%s", name);
			ima_buf_free(&b);
			return NULL;
		}
		p = end + 1;
	}
	if (b.failed) {
		ima_buf_free(&b);
		snprintf(missing, missing_size, "(out of memory)");
		return NULL;
	}
	return b.data;
}

/* ---- loading ---- */

static int setting_error(struct ima_error *err, const config_setting_t *s,
			 const char *source, const char *fmt, ...)
	IMA_PRINTF(4, 5);

static int setting_error(struct ima_error *err, const config_setting_t *s,
			 const char *source, const char *fmt, ...)
{
	char msg[200];
	const char *file = s ? config_setting_source_file(s) : NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ima_error_set(err, 500, "config", "", "%s:%d: %s",
			     file ? file : source,
			     s ? (int)config_setting_source_line(s) : 0, msg);
}

static int option_parse(struct conf_value *v, const char *text)
{
	switch (v->opt->type) {
	case IMA_OPT_BOOL:
		v->b = strcmp(text, "true") == 0;
		return 0;
	case IMA_OPT_INT:
		v->i = strtoll(text, NULL, 10);
		return 0;
	case IMA_OPT_DOUBLE:
		v->d = strtod(text, NULL);
		return 0;
	case IMA_OPT_STRING:
		v->s = ima_strdup(text);
		return v->s ? 0 : -1;
	}
	return -1;
}

static void conf_free(struct ima_conf *conf)
{
	for (size_t i = 0; i < conf->count; i++)
		ima_free(conf->values[i].s);
	ima_free(conf->values);
	ima_free(conf->stage_name);
	ima_free(conf->file);
	memset(conf, 0, sizeof(*conf));
}

static int option_known_list(const struct ima_plugin *p, char *buf,
			     size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct ima_option *o = p->options; o && o->name; o++) {
		int n = snprintf(buf + used, size - used, "%s%s",
				 used ? ", " : "", o->name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, size, "none");
	return 0;
}

/* Fills conf from the plugin's defaults and the stage's options group. */
static int stage_conf_build(struct ima_stage *st, const char *stage_name,
			    const config_setting_t *entry,
			    const config_setting_t *opts, const char *source,
			    struct ima_error *err)
{
	const struct ima_plugin *p = &st->plugin->desc;
	struct ima_conf *conf = &st->conf;
	const char *file = config_setting_source_file(entry);
	size_t n = 0;

	for (const struct ima_option *o = p->options; o && o->name; o++)
		n++;
	conf->stage_name = ima_strdup(stage_name);
	conf->file = ima_strdup(file ? file : source);
	conf->line = (int)config_setting_source_line(entry);
	conf->values = ima_calloc(n, sizeof(*conf->values));
	if (!conf->stage_name || !conf->file || !conf->values)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	for (const struct ima_option *o = p->options; o && o->name; o++) {
		struct conf_value *v = &conf->values[conf->count++];

		v->opt = o;
		if (option_parse(v, o->default_value ? o->default_value : "") != 0)
			return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	for (int i = 0; opts != NULL && i < config_setting_length(opts); i++) {
		const config_setting_t *s = config_setting_get_elem(opts, (unsigned)i);
		const char *name = config_setting_name(s);
		struct conf_value *v = NULL;
		int type = config_setting_type(s);

		for (size_t k = 0; k < conf->count; k++)
			if (strcmp(conf->values[k].opt->name, name) == 0)
				v = &conf->values[k];
		if (v == NULL) {
			char known[400];

			option_known_list(p, known, sizeof(known));
			return setting_error(err, s, source,
					     "stage '%s' (plugin %s): unknown option '%s' (known: %s)",
					     stage_name, p->name, name, known);
		}
		switch (v->opt->type) {
		case IMA_OPT_BOOL:
			if (type != CONFIG_TYPE_BOOL)
				goto wrong_type;
			v->b = config_setting_get_bool(s);
			break;
		case IMA_OPT_INT:
			if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
				goto wrong_type;
			v->i = config_setting_get_int64(s);
			break;
		case IMA_OPT_DOUBLE:
			if (type == CONFIG_TYPE_FLOAT)
				v->d = config_setting_get_float(s);
			else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
				v->d = (double)config_setting_get_int64(s);
			else
				goto wrong_type;
			break;
		case IMA_OPT_STRING: {
			char missing[160];
			char *x;

			if (type != CONFIG_TYPE_STRING)
				goto wrong_type;
			x = expand_env(config_setting_get_string(s), missing,
				       sizeof(missing));
			if (x == NULL)
				return setting_error(err, s, source,
						     "stage '%s' (plugin %s): option '%s': environment variable %s is not set (write ${%s:-default} for a fallback)",
						     stage_name, p->name, name,
						     missing, missing);
			ima_free(v->s);
			v->s = x;
			break;
		}
		}
		continue;
wrong_type:
		return setting_error(err, s, source,
				     "stage '%s' (plugin %s): option '%s' must be a %s",
				     stage_name, p->name, name,
				     v->opt->type == IMA_OPT_BOOL ? "boolean (true/false)"
				     : v->opt->type == IMA_OPT_INT ? "integer"
				     : v->opt->type == IMA_OPT_DOUBLE ? "number"
								      : "string");
	}
	return 0;
}

static struct ima_loaded_plugin *engine_plugin(struct ima_engine *eng,
					       const char *name,
					       const config_setting_t *s,
					       const char *source,
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
		setting_error(err, s, source, "bad plugin name '%s'", name);
		return NULL;
	}
	memcpy(pname, base, n);
	pname[n] = '\0';
	for (size_t i = 0; i < eng->nplugins; i++)
		if (strcmp(eng->plugins[i].desc.name, pname) == 0)
			return &eng->plugins[i];
	if (base == name &&
	    ima_plugin_find(eng->plugin_dirs, pname, path, sizeof(path)) != 0) {
		setting_error(err, s, source,
			      "plugin %s: %s.so not found in the plugin path %s",
			      pname, pname, eng->plugin_dirs);
		return NULL;
	}
	lp = &eng->plugins[eng->nplugins];
	if (ima_plugin_open(path, pname, lp, err) != 0) {
		char msg[sizeof(err->message)];

		snprintf(msg, sizeof(msg), "%s", err->message);
		setting_error(err, s, source, "%s", msg);
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

/* Keeps the front end's "fcgi" group: flat integers and strings. */
static int engine_front(struct ima_engine *eng, const config_t *cfg,
			struct ima_error *err)
{
	const config_setting_t *g = config_lookup(cfg, "fcgi");
	int n;

	if (g == NULL)
		return 0;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return setting_error(err, g, eng->source, "'fcgi' must be a group { ... }");
	n = config_setting_length(g);
	eng->front = ima_calloc((size_t)n, sizeof(*eng->front));
	if (eng->front == NULL && n > 0)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		struct front_setting *f = &eng->front[eng->nfront];
		int type = config_setting_type(s);
		char missing[160];

		f->name = ima_strdup(config_setting_name(s));
		f->line = (int)config_setting_source_line(s);
		if (f->name == NULL)
			return ima_error_set(err, 500, "internal", "", "out of memory");
		eng->nfront++;
		if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			f->is_int = true;
			f->num = config_setting_get_int64(s);
		} else if (type == CONFIG_TYPE_STRING) {
			f->str = expand_env(config_setting_get_string(s), missing, sizeof(missing));
			if (f->str == NULL)
				return setting_error(err, s, eng->source,
						     "fcgi.%s: environment variable %s is not set",
						     f->name, missing);
		} else {
			return setting_error(err, s, eng->source,
					     "fcgi.%s must be an integer or a string", f->name);
		}
	}
	return 0;
}

const char *ima_engine_front_key(const struct ima_engine *eng, size_t i,
				 int *line)
{
	if (i >= eng->nfront)
		return NULL;
	if (line)
		*line = eng->front[i].line;
	return eng->front[i].name;
}

int ima_engine_front_int(const struct ima_engine *eng, const char *key,
			 long long *out)
{
	for (size_t i = 0; i < eng->nfront; i++)
		if (strcmp(eng->front[i].name, key) == 0 && eng->front[i].is_int) {
			*out = eng->front[i].num;
			return 0;
		}
	return -1;
}

int ima_engine_front_string(const struct ima_engine *eng, const char *key,
			    const char **out)
{
	for (size_t i = 0; i < eng->nfront; i++)
		if (strcmp(eng->front[i].name, key) == 0 && !eng->front[i].is_int) {
			*out = eng->front[i].str;
			return 0;
		}
	return -1;
}

static int engine_settings(struct ima_engine *eng, const config_t *cfg,
			   struct ima_error *err)
{
	const config_setting_t *root = config_root_setting(cfg);
	const config_setting_t *g;

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "imaginator") != 0 && strcmp(name, "pipeline") != 0 &&
		    strcmp(name, "fcgi") != 0)
			return setting_error(err, s, eng->source,
					     "unknown setting '%s' (known: imaginator, pipeline, fcgi)",
					     name);
	}
	if (engine_front(eng, cfg, err) != 0)
		return -1;
	g = config_lookup(cfg, "imaginator");
	for (int i = 0; g != NULL && i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int type = config_setting_type(s);

		if (strcmp(name, "plugin_dir") == 0 && type == CONFIG_TYPE_STRING) {
			char missing[160];
			char *x = expand_env(config_setting_get_string(s),
					     missing, sizeof(missing));

			if (x == NULL)
				return setting_error(err, s, eng->source,
						     "plugin_dir: environment variable %s is not set",
						     missing);
			ima_free(eng->plugin_dirs);
			eng->plugin_dirs = x;
		} else if (strcmp(name, "max_body_bytes") == 0 &&
			   (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) &&
			   config_setting_get_int64(s) > 0) {
			eng->limits.max_body_bytes = (size_t)config_setting_get_int64(s);
		} else if (strcmp(name, "max_depth") == 0 &&
			   type == CONFIG_TYPE_INT &&
			   config_setting_get_int(s) >= 2 &&
			   config_setting_get_int(s) <= IMA_DEFAULT_MAX_DEPTH) {
			eng->limits.max_depth = config_setting_get_int(s);
		} else {
			return setting_error(err, s, eng->source,
					     "imaginator.%s: unknown setting or bad value (known: plugin_dir string, max_body_bytes integer > 0, max_depth integer 2..%d)",
					     name, IMA_DEFAULT_MAX_DEPTH);
		}
	}
	return 0;
}

static int engine_stages(struct ima_engine *eng, const config_t *cfg,
			 struct ima_error *err)
{
	const config_setting_t *list = config_lookup(cfg, "pipeline");
	int n;

	if (list == NULL || (config_setting_type(list) != CONFIG_TYPE_LIST &&
			     config_setting_type(list) != CONFIG_TYPE_ARRAY))
		return setting_error(err, list, eng->source,
				     "'pipeline' must be a list of stages: pipeline = ( { name = \"...\"; plugin = \"...\"; } );");
	n = config_setting_length(list);
	eng->stages = ima_calloc((size_t)n, sizeof(*eng->stages));
	eng->plugins = ima_calloc((size_t)n, sizeof(*eng->plugins));
	if (eng->stages == NULL || eng->plugins == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *plugin = NULL;
		const config_setting_t *opts = NULL;
		struct ima_stage *st = &eng->stages[eng->nstages];

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return setting_error(err, e, eng->source,
					     "pipeline entry %d must be a group { name = ...; plugin = ...; }",
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
				return setting_error(err, s, eng->source,
						     "pipeline entry %d: unknown key or wrong type '%s' (known: name string, plugin string, options group)",
						     i + 1, key);
		}
		if (plugin == NULL)
			return setting_error(err, e, eng->source,
					     "pipeline entry %d has no plugin", i + 1);
		if (name == NULL)
			name = plugin;
		if (!valid_stage_name(name))
			return setting_error(err, e, eng->source,
					     "stage name '%s': use a-z, 0-9, '_' and '-'",
					     name);
		for (size_t k = 0; k < eng->nstages; k++)
			if (strcmp(eng->stages[k].conf.stage_name, name) == 0)
				return setting_error(err, e, eng->source,
						     "stage name '%s' is used twice; give each instance its own name",
						     name);
		st->plugin = engine_plugin(eng, plugin, e, eng->source, err);
		if (st->plugin == NULL)
			return -1;
		eng->nstages++;
		if (stage_conf_build(st, name, e, opts, eng->source, err) != 0)
			return -1;
	}
	return 0;
}

/* SHA-256 over every stage: name, plugin, version, options (no secrets). */
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
		char buf[512];
		int n = snprintf(buf, sizeof(buf), "stage\036%s\036%s\036%s\036",
				 st->conf.stage_name, p->name, p->version ? p->version : "");

		ok = EVP_DigestUpdate(md, buf, (size_t)n);
		for (size_t k = 0; ok && k < st->conf.count; k++) {
			const struct conf_value *v = &st->conf.values[k];

			if (v->opt->flags & IMA_OPT_SECRET)
				continue;
			switch (v->opt->type) {
			case IMA_OPT_BOOL: n = snprintf(buf, sizeof(buf), "%s=%d\037", v->opt->name, v->b); break;
			case IMA_OPT_INT: n = snprintf(buf, sizeof(buf), "%s=%lld\037", v->opt->name, (long long)v->i); break;
			case IMA_OPT_DOUBLE: n = snprintf(buf, sizeof(buf), "%s=%.17g\037", v->opt->name, v->d); break;
			case IMA_OPT_STRING:
				n = snprintf(buf, sizeof(buf), "%s=", v->opt->name);
				ok = EVP_DigestUpdate(md, buf, (size_t)n) &&
				     EVP_DigestUpdate(md, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
				n = snprintf(buf, sizeof(buf), "\037");
				break;
			}
			ok = ok && EVP_DigestUpdate(md, buf, (size_t)n);
		}
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

		/* The first stage with a call cache serves every stage's calls. */
		if (eng->call_stage == NULL && st->plugin->desc.call_get != NULL)
			eng->call_stage = st;
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

struct ima_engine *ima_engine_load(const char *path, struct ima_error *err)
{
	struct ima_engine *eng = ima_calloc(1, sizeof(*eng));
	config_t cfg;
	int ok;

	if (eng == NULL) {
		ima_error_set(err, 500, "internal", "", "out of memory");
		return NULL;
	}
	eng->limits.max_body_bytes = IMA_DEFAULT_MAX_BODY;
	eng->limits.max_depth = IMA_DEFAULT_MAX_DEPTH;
	eng->source = ima_strdup(path ? path : "embedded:default.conf");
	config_init(&cfg);
	if (path != NULL) {
		char *copy = ima_strdup(path);

		if (copy != NULL)
			config_set_include_dir(&cfg, dirname(copy));
		ima_free(copy);
		if (access(path, R_OK) != 0) {
			ima_error_set(err, 500, "config", "", "%s: %s", path,
				      strerror(errno));
			goto fail;
		}
		ok = config_read_file(&cfg, path);
	} else {
		ok = config_read_string(&cfg, ima_default_conf);
	}
	if (ok != CONFIG_TRUE) {
		ima_error_set(err, 500, "config", "", "%s:%d: %s",
			      config_error_file(&cfg) ? config_error_file(&cfg)
						      : eng->source,
			      config_error_line(&cfg), config_error_text(&cfg));
		goto fail;
	}
	if (engine_settings(eng, &cfg, err) != 0)
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
	if (engine_stages(eng, &cfg, err) != 0 ||
	    engine_init_stages(eng, err) != 0)
		goto fail;
	config_destroy(&cfg);
	return eng;
fail:
	config_destroy(&cfg);
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
	return 0;
}

void ima_engine_free(struct ima_engine *eng)
{
	if (eng == NULL)
		return;
	/* fini in reverse order: later stages may hold on to earlier ones'
	 * results only through the context, but resources (connections) are
	 * released the way they were acquired, LIFO. */
	for (size_t i = eng->nstages; i-- > 0;) {
		struct ima_stage *st = &eng->stages[i];

		if (st->inited && st->plugin->desc.fini != NULL)
			st->plugin->desc.fini(st->state);
		conf_free(&st->conf);
	}
	for (size_t i = 0; i < eng->nplugins; i++)
		ima_plugin_close(&eng->plugins[i]);
	for (size_t i = 0; i < eng->nfront; i++) {
		ima_free(eng->front[i].name);
		ima_free(eng->front[i].str);
	}
	ima_free(eng->front);
	ima_free(eng->stages);
	ima_free(eng->plugins);
	ima_free(eng->plugin_dirs);
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

int ima_engine_command(struct ima_engine *eng, const char *verb,
		       const msgpack_object *args, msgpack_sbuffer *out,
		       struct ima_error *err)
{
	msgpack_sbuffer items;
	msgpack_packer pk, opk;
	int handled = 0;

	msgpack_sbuffer_init(&items);
	msgpack_packer_init(&pk, &items, msgpack_sbuffer_write);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		int rc;

		if (st->plugin->desc.command == NULL)
			continue;
		memset(err, 0, sizeof(*err));
		rc = st->plugin->desc.command(st->state, verb, args, &pk, err);
		if (rc < 0) {
			msgpack_sbuffer_destroy(&items);
			if (err->status == 0)
				ima_error_set(err, 500, "command_failed", "",
					      "stage %s failed on '%s'", st->conf.stage_name, verb);
			return -1;
		}
		handled += rc > 0;
	}
	msgpack_packer_init(&opk, out, msgpack_sbuffer_write);
	msgpack_pack_array(&opk, (size_t)handled);
	msgpack_sbuffer_write(out, items.data, items.size);
	msgpack_sbuffer_destroy(&items);
	return handled;
}

int ima_engine_health(struct ima_engine *eng, struct ima_buf *out)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	size_t off = 0, total = 0;
	int worst = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		int n;

		if (st->plugin->desc.health == NULL)
			continue;
		n = st->plugin->desc.health(st->state, &pk);
		if (n > 0)
			total += (size_t)n;
	}
	ima_buf_append(out, "[", 1);
	msgpack_zone_init(&zone, 1024);
	for (size_t i = 0; i < total; i++) {
		msgpack_object o;
		const char *status = NULL;

		if (msgpack_unpack(sb.data, sb.size, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS)
			break;
		if (i)
			ima_buf_append(out, ",", 1);
		ima_json_write(out, &o, -1);
		for (uint32_t k = 0; o.type == MSGPACK_OBJECT_MAP && k < o.via.map.size; k++) {
			const msgpack_object_kv *kv = &o.via.map.ptr[k];

			if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 6 &&
			    memcmp(kv->key.via.str.ptr, "status", 6) == 0 &&
			    kv->val.type == MSGPACK_OBJECT_STR)
				status = kv->val.via.str.size == 2 ? "ok"
					 : kv->val.via.str.size == 4 ? "down" : "degraded";
		}
		if (status != NULL && strcmp(status, "down") == 0)
			worst = 2;
		else if (status != NULL && strcmp(status, "degraded") == 0 && worst < 1)
			worst = 1;
	}
	ima_buf_append(out, "]", 1);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
	return worst;
}

void ima_engine_describe_json(const struct ima_engine *eng, struct ima_buf *b,
			      int indent)
{
	(void)indent;
	ima_buf_append(b, "{\"config\":", 10);
	ima_json_write_str(b, eng->source, strlen(eng->source));
	ima_buf_printf(b, ",\"abi\":\"%d.%d\",\"stages\":[", IMA_ABI_MAJOR,
		       IMA_ABI_MINOR);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		const struct ima_plugin *p = &st->plugin->desc;

		if (i)
			ima_buf_append(b, ",", 1);
		ima_buf_append(b, "{\"name\":", 8);
		ima_json_write_str(b, st->conf.stage_name, strlen(st->conf.stage_name));
		ima_buf_append(b, ",\"plugin\":", 10);
		ima_json_write_str(b, p->name, strlen(p->name));
		ima_buf_append(b, ",\"version\":", 11);
		ima_json_write_str(b, p->version ? p->version : "",
				   p->version ? strlen(p->version) : 0);
		ima_buf_append(b, ",\"options\":{", 12);
		for (size_t k = 0; k < st->conf.count; k++) {
			const struct conf_value *v = &st->conf.values[k];

			if (k)
				ima_buf_append(b, ",", 1);
			ima_json_write_str(b, v->opt->name, strlen(v->opt->name));
			ima_buf_append(b, ":", 1);
			if (v->opt->flags & IMA_OPT_SECRET)
				ima_buf_append(b, v->s && v->s[0] ? "\"(redacted)\"" : "\"\"",
					       v->s && v->s[0] ? 12 : 2);
			else if (v->opt->type == IMA_OPT_BOOL)
				ima_buf_printf(b, "%s", v->b ? "true" : "false");
			else if (v->opt->type == IMA_OPT_INT)
				ima_buf_printf(b, "%lld", (long long)v->i);
			else if (v->opt->type == IMA_OPT_DOUBLE)
				ima_buf_printf(b, "%.15g", v->d);
			else
				ima_json_write_str(b, v->s ? v->s : "",
						   v->s ? strlen(v->s) : 0);
		}
		ima_buf_append(b, "}}", 2);
	}
	ima_buf_append(b, "]}", 2);
}

/* ---- running requests ---- */

/*
 * run_metrics: the timing of each stage that ran. LLM stages add their calls,
 * tokens and cost to the same object; with none of them in the pipeline the
 * totals are truly zero.
 */
static int pack_run_metrics(struct ima_engine *eng, struct ima_req *req)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t ran = 0, extra = 0;
	int rc = 0;

	for (size_t i = 0; i < req->nstages; i++)
		if (req->stage_seconds[i] >= 0)
			ran++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < ima_ctx_count(req->ctx); i++)
		if (strncmp(ima_ctx_key(req->ctx, i, NULL, NULL), "_metrics.", 9) == 0)
			extra++;
	rc |= msgpack_pack_map(&pk, 7 + extra);
	for (size_t i = 0; i < ima_ctx_count(req->ctx); i++) {
		const void *data;
		size_t len;
		const char *key = ima_ctx_key(req->ctx, i, &data, &len);

		if (strncmp(key, "_metrics.", 9) != 0)
			continue;
		rc |= ima_pack_cstr(&pk, key + 9);
		rc |= msgpack_sbuffer_write(&sb, data, len);
	}
	rc |= ima_pack_cstr(&pk, "calls");
	rc |= msgpack_pack_array(&pk, 0);
	rc |= ima_pack_cstr(&pk, "total_prompt_tokens");
	rc |= msgpack_pack_int(&pk, 0);
	rc |= ima_pack_cstr(&pk, "total_completion_tokens");
	rc |= msgpack_pack_int(&pk, 0);
	rc |= ima_pack_cstr(&pk, "total_tokens");
	rc |= msgpack_pack_int(&pk, 0);
	rc |= ima_pack_cstr(&pk, "estimated_cost_usd");
	rc |= msgpack_pack_double(&pk, 0.0);
	rc |= ima_pack_cstr(&pk, "failures");
	rc |= msgpack_pack_array(&pk, 0);
	rc |= ima_pack_cstr(&pk, "stages");
	rc |= msgpack_pack_array(&pk, ran);
	for (size_t i = 0; i < req->nstages; i++) {
		if (req->stage_seconds[i] < 0)
			continue;
		rc |= msgpack_pack_map(&pk, 2);
		rc |= ima_pack_cstr(&pk, "name");
		rc |= ima_pack_cstr(&pk, eng->stages[i].conf.stage_name);
		rc |= ima_pack_cstr(&pk, "seconds");
		rc |= msgpack_pack_double(&pk, req->stage_seconds[i]);
	}
	if (rc == 0)
		rc = ima_ctx_put_sbuffer(req->ctx, "run_metrics", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}


int ima_engine_run(struct ima_engine *eng, struct ima_req *req)
{
	size_t ran = 0;

	ima_free(req->stage_seconds);
	req->nstages = 0;
	req->stage_seconds = ima_malloc(eng->nstages * sizeof(double));
	if (req->stage_seconds == NULL) {
		ima_req_fail(req, 500, "internal", "", "out of memory");
		return 500;
	}
	req->nstages = eng->nstages;
	for (size_t i = 0; i < eng->nstages; i++)
		req->stage_seconds[i] = -1;
	req->call_plugin = eng->call_stage ? &eng->call_stage->plugin->desc : NULL;
	req->call_state = eng->call_stage ? eng->call_stage->state : NULL;

	/* The dispatcher is a plain loop; finish hooks run onion-style. */
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		double t0 = ima_req_elapsed(req);
		enum ima_rc rc = st->plugin->desc.process(req, st->state);

		req->stage_seconds[i] = ima_req_elapsed(req) - t0;
		ran = i + 1;
		if (rc == IMA_CONTINUE)
			continue;
		if (rc == IMA_ERROR && !req->has_error)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s failed without saying why",
				     st->conf.stage_name);
		if (rc != IMA_DONE && rc != IMA_ERROR)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s returned unknown code %d",
				     st->conf.stage_name, (int)rc);
		break;
	}
	for (size_t i = ran; i-- > 0;) {
		struct ima_stage *st = &eng->stages[i];

		if (st->plugin->desc.finish != NULL)
			st->plugin->desc.finish(req, st->state);
	}
	if (!req->has_error && ima_ctx_get(req->ctx, "run_metrics") == NULL &&
	    pack_run_metrics(eng, req) != 0)
		ima_req_fail(req, 500, "internal", "", "out of memory");
	return req->has_error ? req->error.status : 200;
}

/*
 * Offers the raw body to the stages' prefetch hooks. Returns 0 to go on, or
 * the HTTP status when a stage answered (or failed) the request.
 */
static int engine_prefetch(struct ima_engine *eng, struct ima_req *req,
			       const char *body, size_t len, enum ima_format in_fmt)
{
	for (size_t i = 0; i < eng->nstages; i++) {
		struct ima_stage *st = &eng->stages[i];
		enum ima_rc rc;

		if (st->plugin->desc.prefetch == NULL)
			continue;
		rc = st->plugin->desc.prefetch(req, st->state, body, len, (int)in_fmt);
		if (rc == IMA_CONTINUE)
			continue;
		if (rc == IMA_DONE && req->prerendered == NULL)
			ima_req_fail(req, 500, "stage_failed", "",
				     "stage %s answered without an answer", st->conf.stage_name);
		if (req->has_error)
			return req->error.status;
		ima_free(req->stage_seconds);
		req->stage_seconds = ima_calloc(eng->nstages ? eng->nstages : 1, sizeof(double));
		req->nstages = req->stage_seconds ? eng->nstages : 0;
		for (size_t k = 0; k < req->nstages; k++)
			req->stage_seconds[k] = -1;
		if (pack_run_metrics(eng, req) != 0) {
			ima_req_fail(req, 500, "internal", "", "out of memory");
			return 500;
		}
		return 200;
	}
	return 0;
}

int ima_engine_handle(struct ima_engine *eng, struct ima_req *req,
		      const char *body, size_t len, enum ima_format in_fmt)
{
	msgpack_sbuffer sb;
	struct ima_error err;
	int rc;

	if (len <= eng->limits.max_body_bytes) {
		int done = engine_prefetch(eng, req, body, len, in_fmt);

		if (done != 0)
			return done;
	}
	msgpack_sbuffer_init(&sb);
	if (ima_body_decode(body, len, in_fmt, &eng->limits, &sb, &err) != 0) {
		msgpack_sbuffer_destroy(&sb);
		ima_req_set_error(req, &err);
		return err.status;
	}
	rc = ima_ctx_put_sbuffer(req->ctx, "_request", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0) {
		ima_req_fail(req, 500, "internal", "", "out of memory");
		return 500;
	}
	return ima_engine_run(eng, req);
}

/* ---- rendering ---- */

int ima_req_render(struct ima_req *req, enum ima_format fmt,
		   struct ima_buf *out)
{
	size_t n = ima_ctx_count(req->ctx);

	if (fmt == IMA_FMT_MSGPACK) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		size_t pub = 0;
		int rc = 0;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (req->has_error) {
			rc = ima_error_pack(&pk, &req->error);
		} else {
			for (size_t i = 0; i < n; i++)
				if (ima_ctx_key(req->ctx, i, NULL, NULL)[0] != '_')
					pub++;
			rc |= msgpack_pack_map(&pk, pub + 2);
			for (size_t i = 0; i < n; i++) {
				const void *data;
				size_t len;
				const char *key = ima_ctx_key(req->ctx, i, &data, &len);

				if (key[0] == '_')
					continue;
				rc |= ima_pack_cstr(&pk, key);
				rc |= msgpack_sbuffer_write(&sb, data, len);
			}
			rc |= ima_pack_cstr(&pk, "processing_status");
			rc |= ima_pack_cstr(&pk, req->degraded ? "DEGRADED" : "COMPLETED");
			rc |= ima_pack_cstr(&pk, "processing_time_seconds");
			rc |= msgpack_pack_double(&pk, ima_req_elapsed(req));
		}
		if (rc == 0)
			ima_buf_append(out, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		return rc == 0 && !out->failed ? 0 : -1;
	}
	if (req->has_error) {
		ima_error_write_json(out, &req->error);
	} else if (req->prerendered != NULL && fmt == IMA_FMT_JSON) {
		/* A replayed answer: its members, then this request's metrics. */
		const msgpack_object *rm = ima_ctx_get(req->ctx, "run_metrics");

		ima_buf_append(out, "{", 1);
		ima_buf_append(out, req->prerendered, req->prerendered_len);
		if (req->prerendered_len > 0)
			ima_buf_append(out, ",", 1);
		ima_buf_append(out, "\"run_metrics\":", 14);
		if (rm != NULL)
			ima_json_write(out, rm, -1);
		else
			ima_buf_append(out, "{}", 2);
		if (req->degraded)
			IMA_BUF_LIT(out, ",\"processing_status\":\"DEGRADED\"");
		else
			IMA_BUF_LIT(out, ",\"processing_status\":\"COMPLETED\"");
		IMA_BUF_LIT(out, ",\"processing_time_seconds\":");
		ima_buf_append_fixed(out, ima_req_elapsed(req), 6);
		ima_buf_append(out, "}", 1);
	} else if (req->prerendered != NULL) {
		ima_req_fail(req, 500, "internal", "", "a replayed answer exists only as JSON");
		ima_error_write_json(out, &req->error);
	} else {
		int indent = fmt == IMA_FMT_JSON_PRETTY ? 0 : -1;
		int inner = fmt == IMA_FMT_JSON_PRETTY ? 1 : -1;
		const char *sep = fmt == IMA_FMT_JSON_PRETTY ? ": " : ":";
		bool first = true;

		ima_buf_append(out, "{", 1);
		for (size_t i = 0; i < n; i++) {
			const char *key = ima_ctx_key(req->ctx, i, NULL, NULL);
			const msgpack_object *o;

			if (key[0] == '_')
				continue;
			o = ima_ctx_value(req->ctx, i);
			if (o == NULL)
				continue;
			if (!first)
				ima_buf_append(out, ",", 1);
			first = false;
			if (indent >= 0)
				ima_buf_append(out, "\n  ", 3);
			ima_json_write_str(out, key, strlen(key));
			ima_buf_append(out, sep, strlen(sep));
			ima_json_write(out, o, inner);
		}
		ima_buf_printf(out, "%s%s\"processing_status\"%s\"%s\",%s\"processing_time_seconds\"%s%.6f%s}",
			       first ? "" : ",", indent >= 0 ? "\n  " : "", sep,
			       req->degraded ? "DEGRADED" : "COMPLETED",
			       indent >= 0 ? "\n  " : "", sep,
			       ima_req_elapsed(req), indent >= 0 ? "\n" : "");
	}
	if (fmt == IMA_FMT_JSON_PRETTY)
		ima_buf_append(out, "\n", 1);
	return out->failed ? -1 : 0;
}
