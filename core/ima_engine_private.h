/*
 * ima_engine_private.h - the pipeline and option values as the core's own
 * files see them: the configuration (ima_conf.c), loading (ima_engine.c),
 * administration (ima_admin.c), running (ima_run.c) and rendering
 * (ima_render.c).
 */
#ifndef IMA_ENGINE_PRIVATE_H
#define IMA_ENGINE_PRIVATE_H

#include <libconfig.h>
#include <sys/types.h>

#include "ima_config.h"
#include "ima_req_private.h"

struct conf_value {
	const struct ima_option *opt;
	int64_t i;
	double d;
	int b;
	char *s;
	bool set; /* given in the file, not a default */
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

struct ima_engine {
	char fingerprint[65];
	const struct ima_front *front;
	struct ima_conf front_conf;
	char *source;
	char *plugin_dirs;
	struct ima_limits limits;
	struct ima_loaded_plugin *plugins;
	size_t nplugins;
	struct ima_stage *stages;
	size_t nstages;
	struct ima_stage *call_stage; /* serves the call cache, or NULL */
	struct ima_stage *llm_stage;  /* the LLM provider, or NULL */
	bool *join_before;            /* nstages + 1: a "join" entry before stage i */
	long deadline_ms;             /* every call of a request ends by then */
	long max_host_connections;
	char *tls_ca_file;            /* CA bundle for TLS peers; NULL: the system's */
	bool counted; /* among the engines alive */
	pid_t serving_pid; /* worker_init ran on it in this process */
};

/* ---- ima_conf.c ---- */

/*
 * Expands ${VAR} and ${VAR:-default} in a value. Returns a string from
 * ima_malloc, or NULL with what (the variable that is not set, or the
 * syntax at fault) written into why.
 */
char *ima_conf_expand(const char *in, char *why, size_t why_size);
/*
 * Fills conf from an option table's defaults and a group of the file
 * (NULL: defaults only). owner names it in messages ("stage 'x' (plugin
 * y)", "fcgi"). Unknown keys and wrong types fail with file and line.
 */
int ima_conf_build(struct ima_conf *conf, const struct ima_option *options,
		   const char *name, const char *owner,
		   const config_setting_t *entry, const config_setting_t *group,
		   const struct ima_config_text *text, struct ima_error *err);
void ima_conf_free(struct ima_conf *conf);
/* Feeds every value but the secrets to a digest (the fingerprint). */
int ima_conf_digest(const struct ima_conf *conf, void *md_ctx);
/* The values as one JSON object, secrets redacted. */
void ima_conf_write_json(const struct ima_conf *conf, struct ima_buf *b);
/* An error at a setting: "file:line: message". */
int ima_conf_error(struct ima_error *err, const config_setting_t *s,
		   const struct ima_config_text *text, const char *fmt, ...)
	IMA_PRINTF(4, 5);

/* ---- ima_run.c ---- */

/* Builds run_metrics into the context from the request's timings and the
 * stages' contributions. 0, or -1 when memory ran out. */
int ima_run_metrics_pack(struct ima_engine *eng, struct ima_req *req);

#endif /* IMA_ENGINE_PRIVATE_H */
