/*
 * imaginator - the command line: runs the pipeline in process, checks
 * configurations and lists plugins from their descriptors.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ima_core.h"
#include "front.h"

/* Exit codes, documented in imaginator(1). */
enum {
	EXIT_OK = 0,
	EXIT_REJECTED = 1, /* the pipeline answered with an error object */
	EXIT_USAGE = 2,
	EXIT_CONFIG = 3,   /* configuration or plugin could not be loaded */
	EXIT_INPUT = 4     /* the input file could not be read */
};

static void usage(FILE *out)
{
	fputs("usage: imaginator analyze [-c CONF] [--pretty] [--msgpack-in] [--msgpack-out]\n"
	      "                          [--authorization VALUE] [--api-key KEY] FILE|-\n"
	      "       imaginator config check [-c CONF]\n"
	      "       imaginator plugins [--man]\n"
	      "       imaginator cache invalidate --user U [--tenant T] [-c CONF]\n"
	      "       imaginator version\n"
	      "\n"
	      "CONF defaults to $IMAGINATOR_ENV (conf dir/<env>.conf), else the embedded\n"
	      "default configuration. See imaginator(1).\n",
	      out);
}

static void die_line(const char *what, const char *msg)
{
	fprintf(stderr, "imaginator: %s: %s\n", what, msg);
}

static struct ima_engine *load_engine(const char *conf_path)
{
	struct ima_error err = { 0 };
	struct ima_engine *eng;
	int failed;
	char *path = ima_config_resolve(conf_path, &err, &failed);

	if (failed) {
		die_line("config", err.message);
		return NULL;
	}
	/* The fcgi group is validated here as imaginator-fcgi does. */
	eng = ima_engine_load(path, &ima_fcgi_front, &err);
	if (eng == NULL)
		die_line("config", err.message);
	ima_free(path);
	return eng;
}

/* Reads at most limit + 1 bytes: one more than allowed tells "too large"
 * without reading an endless stream. */
static char *read_input(const char *name, size_t limit, size_t *len)
{
	FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
	size_t cap = 65536, n = 0;
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "imaginator: %s: %s\n", name, strerror(errno));
		return NULL;
	}
	buf = ima_malloc(cap);
	while (buf != NULL) {
		size_t want = cap - n, got;

		got = fread(buf + n, 1, want, f);
		n += got;
		if (got < want || n > limit)
			break;
		if (n == cap) {
			char *nb = ima_realloc(buf, cap * 2);

			if (nb == NULL) {
				ima_free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf != NULL && ferror(f)) {
		fprintf(stderr, "imaginator: %s: read error\n", name);
		ima_free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmd_analyze(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "msgpack-in", no_argument, NULL, 'm' },
		{ "msgpack-out", no_argument, NULL, 'M' },
		{ "authorization", required_argument, NULL, 'A' },
		{ "api-key", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	/* The environment keeps credentials out of the process list. */
	const char *auth = getenv("IMAGINATOR_AUTHORIZATION");
	const char *api_key = getenv("IMAGINATOR_API_KEY");
	const char *conf = NULL;
	enum ima_format in = IMA_FMT_JSON, out_fmt = IMA_FMT_JSON;
	bool in_set = false;
	struct ima_engine *eng;
	struct ima_req *req;
	struct ima_buf out = { 0 };
	size_t len;
	char *body;
	int c, status, rc;

	while ((c = getopt_long(argc, argv, "c:p", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'p': out_fmt = IMA_FMT_JSON_PRETTY; break;
		case 'm': in = IMA_FMT_MSGPACK; in_set = true; break;
		case 'M': out_fmt = IMA_FMT_MSGPACK; break;
		case 'A': auth = optarg; break;
		case 'K': api_key = optarg; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!in_set && (ends_with(argv[optind], ".msgpack") ||
			ends_with(argv[optind], ".mpk")))
		in = IMA_FMT_MSGPACK;
	eng = load_engine(conf);
	if (eng == NULL)
		return EXIT_CONFIG;
	if (ima_engine_worker_init(eng, &(struct ima_error){ 0 }) != 0) {
		die_line("config", "worker init failed");
		ima_engine_free(eng);
		return EXIT_CONFIG;
	}
	body = read_input(argv[optind], ima_engine_limits(eng)->max_body_bytes, &len);
	if (body == NULL) {
		ima_engine_free(eng);
		return EXIT_INPUT;
	}
	req = ima_req_new();
	if (req == NULL) {
		ima_free(body);
		ima_engine_free(eng);
		die_line("analyze", "out of memory");
		return EXIT_INPUT;
	}
	if (out_fmt == IMA_FMT_JSON)
		ima_req_set_meta(req, "output", "json");
	/* What imaginator-fcgi hands on from the Authorization and X-API-Key
	 * headers, for the pipeline's auth stages. */
	if (auth != NULL && auth[0] != '\0')
		ima_req_set_meta(req, "authorization", auth);
	if (api_key != NULL && api_key[0] != '\0')
		ima_req_set_meta(req, "x_api_key", api_key);
	status = ima_engine_handle(eng, req, body, len, in);
	rc = ima_req_render(req, out_fmt, &out);
	if (rc == 0) {
		fwrite(out.data, 1, out.len, stdout);
		if (out_fmt == IMA_FMT_JSON)
			fputc('\n', stdout);
	}
	if (status != 200) {
		const struct ima_error *e = ima_req_error(req);

		fprintf(stderr, "imaginator: %d %s%s%s: %s\n", e->status, e->code,
			e->field[0] ? " in " : "", e->field, e->message);
	}
	ima_buf_free(&out);
	ima_req_free(req);
	ima_free(body);
	ima_engine_free(eng);
	if (fflush(stdout) != 0 || rc != 0)
		return EXIT_INPUT;
	return status == 200 ? EXIT_OK : EXIT_REJECTED;
}

static int cmd_config(int argc, char **argv)
{
	const char *conf = NULL;
	struct ima_engine *eng;
	int c;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c') {
			usage(stderr);
			return EXIT_USAGE;
		}
		conf = optarg;
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	eng = load_engine(conf);
	if (eng == NULL)
		return EXIT_CONFIG;
	printf("%s: OK, %zu stages:", ima_engine_source(eng),
	       ima_engine_stage_count(eng));
	for (size_t i = 0; i < ima_engine_stage_count(eng); i++)
		printf("%s %s(%s)", ima_engine_joins_before(eng, i) ? " join" : "",
		       ima_engine_stage_name(eng, i), ima_engine_stage_plugin(eng, i)->name);
	printf("\n");
	ima_engine_free(eng);
	return EXIT_OK;
}

/* imaginator cache invalidate --user U [--tenant T] [-c CONF] */
static int cmd_cache(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "tenant", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf = NULL, *user = NULL, *tenant = "";
	struct ima_engine *eng;
	struct ima_error err = { 0 };
	msgpack_sbuffer args, out;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object obj;
	struct ima_buf text = { 0 };
	size_t off = 0;
	int c, handled;
	bool zoned;

	if (argc < 2 || strcmp(argv[1], "invalidate") != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'u': user = optarg; break;
		case 't': tenant = optarg; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (user == NULL || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	eng = load_engine(conf);
	if (eng == NULL)
		return EXIT_CONFIG;
	msgpack_sbuffer_init(&args);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &args, ima_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, user);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_cstr(&pk, tenant);
	zoned = msgpack_zone_init(&zone, 256);
	if (!zoned || msgpack_unpack(args.data, args.size, &off, &zone, &obj) !=
			      MSGPACK_UNPACK_SUCCESS) {
		handled = ima_error_set(&err, 500, "internal", "", "out of memory");
	} else {
		handled = ima_engine_command(eng, "invalidate", &obj, &out, &err);
	}
	if (handled > 0) {
		msgpack_object res;

		off = 0;
		if (msgpack_unpack(out.data, out.size, &off, &zone, &res) == MSGPACK_UNPACK_SUCCESS)
			ima_json_write(&text, &res, -1);
		printf("%s\n", text.data ? text.data : "[]");
	} else if (handled == 0) {
		die_line("cache", "no stage of this pipeline handles invalidation (is the cache stage in it?)");
	} else {
		fprintf(stderr, "imaginator: cache: %d %s: %s\n", err.status, err.code, err.message);
	}
	ima_buf_free(&text);
	if (zoned)
		msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&args);
	msgpack_sbuffer_destroy(&out);
	ima_engine_free(eng);
	return handled > 0 ? EXIT_OK : handled == 0 ? EXIT_USAGE : EXIT_REJECTED;
}

static const char *type_name(enum ima_opt_type t)
{
	switch (t) {
	case IMA_OPT_BOOL: return "bool";
	case IMA_OPT_INT: return "int";
	case IMA_OPT_DOUBLE: return "number";
	case IMA_OPT_STRING: return "string";
	}
	return "?";
}

static void print_options(const struct ima_option *options)
{
	if (options == NULL || options[0].name == NULL)
		printf("  options: none\n");
	for (const struct ima_option *o = options; o && o->name; o++)
		printf("  %-28s %-6s default %-12s %s%s\n", o->name,
		       type_name(o->type),
		       o->default_value && o->default_value[0] ? o->default_value : "\"\"",
		       o->description ? o->description : "",
		       o->flags & IMA_OPT_SECRET ? " (secret)" : "");
	printf("\n");
}

static void print_plugin(const struct ima_plugin *p, const char *path)
{
	printf("%s %s (ABI %u.%u) - %s\n  file: %s\n", p->name,
	       p->version ? p->version : "", p->abi_major, p->abi_minor,
	       p->description ? p->description : "", path);
	print_options(p->options);
}

/* Text as roff: backslashes and double quotes escaped, a leading dot or
 * quote made literal, hyphens as minus signs (values are typed as shown). */
static void man_text(const char *s)
{
	if (s[0] == '.' || s[0] == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else if (*s == '"')
			fputs("\\(dq", stdout);
		else
			putchar(*s);
	}
}

/* The same listing as a section of imaginator.conf(5): one .SS a group,
 * one .TP an option. */
static void man_group(const char *title, const char *what, const struct ima_option *options)
{
	printf(".SS ");
	man_text(title);
	printf("\n");
	man_text(what);
	printf("\n");
	if (options == NULL || options[0].name == NULL)
		printf(".PP\nNo options.\n");
	for (const struct ima_option *o = options; o && o->name; o++) {
		printf(".TP\n.BR ");
		man_text(o->name);
		printf(" \" (%s, default ", type_name(o->type));
		man_text(o->default_value && o->default_value[0] ? o->default_value : "\"\"");
		printf(")\"\n");
		man_text(o->description ? o->description : "");
		printf("%s\n", o->flags & IMA_OPT_SECRET ?
		       "; secret: left out of the pipeline fingerprint and redacted" : "");
	}
}

static void man_plugin(const struct ima_plugin *p)
{
	char title[256];

	snprintf(title, sizeof(title), "plugin = \"%s\" (%s)", p->name,
		 p->version ? p->version : "");
	man_group(title, p->description ? p->description : "", p->options);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists every plugin in the plugin path, configured or not. */
static int cmd_plugins(int argc, char **argv)
{
	const char *dirs = ima_plugin_dirs(NULL);
	char *names[256];
	size_t n = 0;
	int bad = 0;

	bool man = argc == 2 && strcmp(argv[1], "--man") == 0;

	if (argc != 1 && !man) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!man)
		printf("plugin path: %s (host ABI %d.%d)\n\n", dirs, IMA_ABI_MAJOR,
		       IMA_ABI_MINOR);
	for (const char *p = dirs; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char dir[4096];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "%.*s", (int)len, p);
		p = colon ? colon + 1 : NULL;
		d = opendir(dir);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL && n < 256) {
			size_t l = strlen(de->d_name);

			if (l > 3 && strcmp(de->d_name + l - 3, ".so") == 0) {
				char full[8192];

				snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
				names[n] = ima_strdup(full);
				if (names[n] != NULL)
					n++;
			}
		}
		closedir(d);
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(names[i], '/') + 1;
		char pname[128];
		struct ima_loaded_plugin lp;
		struct ima_error err;

		snprintf(pname, sizeof(pname), "%.*s", (int)(strlen(base) - 3), base);
		if (ima_plugin_open(names[i], pname, &lp, &err) != 0) {
			fprintf(stderr, "imaginator: %s\n", err.message);
			bad++;
		} else {
			if (man)
				man_plugin(&lp.desc);
			else
				print_plugin(&lp.desc, names[i]);
			ima_plugin_close(&lp);
		}
		ima_free(names[i]);
	}
	/* The front end's group is configured like a stage: list it too. */
	if (man) {
		char title[64];

		snprintf(title, sizeof(title), "%s = { ... }", ima_fcgi_front.group);
		man_group(title, "Settings of imaginator-fcgi (see imaginator-fcgi(8)).",
			  ima_fcgi_front.options);
	} else {
		printf("%s = { ... } - settings of imaginator-fcgi (see imaginator-fcgi(8))\n",
		       ima_fcgi_front.group);
		print_options(ima_fcgi_front.options);
	}
	if (n == 0) {
		fprintf(stderr, "imaginator: no plugins in %s (set IMAGINATOR_PLUGIN_DIR)\n", dirs);
		return EXIT_CONFIG;
	}
	return bad ? EXIT_CONFIG : EXIT_OK;
}

int main(int argc, char **argv)
{
	/* A peer that went away (Redis, an LLM endpoint) must give an error,
	 * not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "analyze") == 0)
		return cmd_analyze(argc - 1, argv + 1);
	if (strcmp(argv[1], "config") == 0)
		return cmd_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "plugins") == 0)
		return cmd_plugins(argc - 1, argv + 1);
	if (strcmp(argv[1], "cache") == 0)
		return cmd_cache(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("imaginator %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
		       IMA_ABI_MAJOR, IMA_ABI_MINOR);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "imaginator: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
