/*
 * ima_conf.c - option values: a stage's (or a front end's) option table
 * filled from its defaults and its group in the configuration, ${VAR}
 * expanded, and the accessors plugins read them with.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ima_engine_private.h"

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

int ima_conf_is_set(const struct ima_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->count; i++)
		if (strcmp(conf->values[i].opt->name, name) == 0)
			return conf->values[i].set;
	return 0;
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
 * Secrets stay out of config files this way. An unset variable without a
 * default is an error, and so is a reference that never ends: a silently
 * empty API key or URL would fail much later and less clearly.
 */
char *ima_conf_expand(const char *in, char *why, size_t why_size)
{
	struct ima_buf b = { 0 };
	const char *p = in;

	ima_buf_append(&b, "", 0);
	while (*p) {
		const char *start = strstr(p, "${");
		const char *end, *dflt, *val, *inner;
		char name[128];
		size_t n;

		if (start == NULL) {
			ima_buf_append(&b, p, strlen(p));
			break;
		}
		ima_buf_append(&b, p, (size_t)(start - p));
		end = strchr(start + 2, '}');
		if (end == NULL) {
			snprintf(why, why_size, "'%s' has no closing '}'", start);
			ima_buf_free(&b);
			return NULL;
		}
		dflt = strstr(start + 2, ":-");
		if (dflt != NULL && dflt > end)
			dflt = NULL;
		n = (size_t)((dflt ? dflt : end) - (start + 2));
		if (n == 0 || n >= sizeof(name)) {
			snprintf(why, why_size, "'%.*s' names no variable",
				 (int)(end - start + 1), start);
			ima_buf_free(&b);
			return NULL;
		}
		/* No nesting: the first '}' ends the reference, so the rest of
		 * "${A:-${B}}" would be kept as text. */
		inner = dflt ? strstr(dflt, "${") : NULL;
		if (inner != NULL && inner < end) {
			const char *close = strchr(end + 1, '}');

			snprintf(why, why_size, "'%.*s': a default cannot hold another ${...}",
				 (int)((close ? close : end) - start + 1), start);
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
			snprintf(why, why_size,
				 "environment variable %s is not set (write ${%s:-default} for a fallback)",
				 name, name);
			ima_buf_free(&b);
			return NULL;
		}
		p = end + 1;
	}
	if (b.failed) {
		ima_buf_free(&b);
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	return b.data;
}

/* ---- building values from defaults and the file ---- */

int ima_conf_error(struct ima_error *err, const config_setting_t *s,
		   const struct ima_config_text *text, const char *fmt, ...)
{
	char msg[220];
	const char *file;
	int line = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	file = ima_config_where(text, s ? (int)config_setting_source_line(s) : 0, &line);
	/* A missing setting has no line of its own. */
	if (s == NULL)
		return ima_error_set(err, 500, "config", "", "%s: %s", file, msg);
	return ima_error_set(err, 500, "config", "", "%s:%d: %s", file, line, msg);
}

static int option_parse(struct conf_value *v, const char *text)
{
	switch (v->opt->type) {
	case IMA_OPT_BOOL:
		v->b = strcmp(text, "true") == 0;
		return 0;
	case IMA_OPT_INT:
		v->i = strtoll(text, NULL, 0); /* "0660" is octal, as in C */
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

void ima_conf_free(struct ima_conf *conf)
{
	for (size_t i = 0; i < conf->count; i++)
		ima_free(conf->values[i].s);
	ima_free(conf->values);
	ima_free(conf->stage_name);
	ima_free(conf->file);
	memset(conf, 0, sizeof(*conf));
}

static void option_known_list(const struct ima_option *options, char *buf,
			      size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct ima_option *o = options; o && o->name; o++) {
		int n = snprintf(buf + used, size - used, "%s%s",
				 used ? ", " : "", o->name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, size, "none");
}

static const char *option_type_name(enum ima_opt_type type)
{
	switch (type) {
	case IMA_OPT_BOOL: return "a boolean (true or false)";
	case IMA_OPT_INT: return "an integer";
	case IMA_OPT_DOUBLE: return "a number";
	case IMA_OPT_STRING: return "a string";
	}
	return "?";
}

/* One setting of the group into its value; 0 or -1 with err. */
static int option_set(struct conf_value *v, const config_setting_t *s,
		      const char *owner, const struct ima_config_text *text,
		      struct ima_error *err)
{
	int type = config_setting_type(s);
	char why[200];
	char *x;

	switch (v->opt->type) {
	case IMA_OPT_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			break;
		v->b = config_setting_get_bool(s);
		return 0;
	case IMA_OPT_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			break;
		v->i = config_setting_get_int64(s);
		return 0;
	case IMA_OPT_DOUBLE:
		if (type == CONFIG_TYPE_FLOAT)
			v->d = config_setting_get_float(s);
		else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
			v->d = (double)config_setting_get_int64(s);
		else
			break;
		return 0;
	case IMA_OPT_STRING:
		if (type != CONFIG_TYPE_STRING)
			break;
		x = ima_conf_expand(config_setting_get_string(s), why, sizeof(why));
		if (x == NULL)
			return ima_conf_error(err, s, text, "%s: option '%s': %s", owner,
					      v->opt->name, why);
		ima_free(v->s);
		v->s = x;
		return 0;
	}
	return ima_conf_error(err, s, text, "%s: option '%s' must be %s", owner,
			      v->opt->name, option_type_name(v->opt->type));
}

int ima_conf_build(struct ima_conf *conf, const struct ima_option *options,
		   const char *name, const char *owner,
		   const config_setting_t *entry, const config_setting_t *group,
		   const struct ima_config_text *text, struct ima_error *err)
{
	size_t n = 0;
	int line = 0;
	const char *file = ima_config_where(text, entry ? (int)config_setting_source_line(entry) : 0,
					    &line);

	for (const struct ima_option *o = options; o && o->name; o++)
		n++;
	conf->stage_name = ima_strdup(name);
	conf->file = ima_strdup(file);
	conf->line = line;
	conf->values = ima_calloc(n ? n : 1, sizeof(*conf->values));
	if (!conf->stage_name || !conf->file || !conf->values)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	for (const struct ima_option *o = options; o && o->name; o++) {
		struct conf_value *v = &conf->values[conf->count++];

		v->opt = o;
		if (option_parse(v, o->default_value ? o->default_value : "") != 0)
			return ima_error_set(err, 500, "internal", "", "out of memory");
		/* A default may name the environment too ("${VAR:-value}"). */
		if (o->type == IMA_OPT_STRING && strchr(v->s, '$') != NULL) {
			char why[200];
			char *x = ima_conf_expand(v->s, why, sizeof(why));

			if (x == NULL)
				return ima_error_set(err, 500, "config", "",
						     "%s:%d: %s: the default of option '%s': %s",
						     file, line, owner, o->name, why);
			ima_free(v->s);
			v->s = x;
		}
	}
	for (int i = 0; group != NULL && i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *key = config_setting_name(s);
		struct conf_value *v = NULL;

		for (size_t k = 0; k < conf->count && v == NULL; k++)
			if (strcmp(conf->values[k].opt->name, key) == 0)
				v = &conf->values[k];
		if (v == NULL) {
			char known[400];

			option_known_list(options, known, sizeof(known));
			return ima_conf_error(err, s, text, "%s: unknown option '%s' (known: %s)",
					      owner, key, known);
		}
		if (option_set(v, s, owner, text, err) != 0)
			return -1;
		v->set = true;
	}
	return 0;
}

/* ---- what the fingerprint and the describers see ---- */

/*
 * A string option that names a data file ("skills.tsv", "prompts/gap.v2.json",
 * an absolute path) makes the file's content part of the fingerprint: answers
 * computed with other data never share a cache entry, also across hosts that
 * share Redis (the content, not the inode or the time, decides). Other
 * strings, and names that are no regular file, add nothing.
 */
static int conf_digest_file(EVP_MD_CTX *md, const char *value)
{
	char path[4096], buf[65536];
	struct stat st;
	ssize_t n;
	int fd, ok = 1;

	if (value == NULL || value[0] == '\0' || strlen(value) >= 1024 ||
	    strpbrk(value, " \t\n$") != NULL || ima_data_path(value, path, sizeof(path)) != 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	ok = EVP_DigestUpdate(md, "\035file\035", 6);
	while (ok && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ok = 0;
			break;
		}
		ok = EVP_DigestUpdate(md, buf, (size_t)n);
	}
	close(fd);
	return ok ? 0 : -1;
}

int ima_conf_digest(const struct ima_conf *conf, void *md_ctx)
{
	EVP_MD_CTX *md = md_ctx;
	int ok = 1;

	for (size_t k = 0; ok && k < conf->count; k++) {
		const struct conf_value *v = &conf->values[k];
		const char *name = v->opt->name;
		char num[64];
		int n = 0;

		if (v->opt->flags & IMA_OPT_SECRET)
			continue;
		/* Names and values are hashed as they are, with separators no
		 * name holds: a long name never truncates or overruns. */
		switch (v->opt->type) {
		case IMA_OPT_BOOL: n = snprintf(num, sizeof(num), "%d", v->b); break;
		case IMA_OPT_INT: n = snprintf(num, sizeof(num), "%lld", (long long)v->i); break;
		case IMA_OPT_DOUBLE: n = snprintf(num, sizeof(num), "%.17g", v->d); break;
		case IMA_OPT_STRING: break;
		}
		ok = EVP_DigestUpdate(md, name, strlen(name)) &&
		     EVP_DigestUpdate(md, "=", 1);
		if (ok && v->opt->type == IMA_OPT_STRING)
			ok = EVP_DigestUpdate(md, v->s ? v->s : "", v->s ? strlen(v->s) : 0) &&
			     conf_digest_file(md, v->s) == 0;
		else if (ok)
			ok = EVP_DigestUpdate(md, num, (size_t)n);
		ok = ok && EVP_DigestUpdate(md, "\037", 1);
	}
	return ok ? 0 : -1;
}

void ima_conf_write_json(const struct ima_conf *conf, struct ima_buf *b)
{
	ima_buf_append(b, "{", 1);
	for (size_t k = 0; k < conf->count; k++) {
		const struct conf_value *v = &conf->values[k];

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
			ima_json_write_str(b, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
	}
	ima_buf_append(b, "}", 1);
}
