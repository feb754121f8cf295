/*
 * ima_config.c - reading a configuration's text with its @include files
 * inlined, and the map from each inlined line back to its file and line.
 *
 * libconfig 1.5 resolves @include against one directory for every file and
 * says only "cannot open include file" when that fails, and an inlined
 * embedded default has line numbers no user's file has. Doing the
 * inlining here lets every message cite the file the user wrote, relative
 * names follow the file that holds them, and absolute names work.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_config.h"
#include "ima_core.h"

#define CONFIG_MAX_BYTES (1024 * 1024) /* one file */
#define CONFIG_MAX_DEPTH 8             /* includes within includes */
/* A few small files that include each other many times would inline to
 * gigabytes: the includes and the whole text are bounded too. */
#define CONFIG_MAX_INCLUDES 256
#define CONFIG_MAX_TOTAL (4 * CONFIG_MAX_BYTES)

static int config_add_file(struct ima_config_text *t, const char *name)
{
	char **f = ima_realloc(t->files, (t->nfiles + 1) * sizeof(*f));

	if (f == NULL)
		return -1;
	t->files = f;
	if ((f[t->nfiles] = ima_strdup(name)) == NULL)
		return -1;
	return (int)t->nfiles++;
}

static int config_add_line(struct ima_config_text *t, struct ima_buf *b,
			   const char *s, size_t len, unsigned file, int line)
{
	if (t->nlines == t->caplines) {
		size_t cap = t->caplines ? t->caplines * 2 : 256;
		struct ima_config_line *l = ima_realloc(t->lines, cap * sizeof(*l));

		if (l == NULL)
			return -1;
		t->lines = l;
		t->caplines = cap;
	}
	t->lines[t->nlines++] = (struct ima_config_line){ file, line };
	ima_buf_append(b, s, len);
	ima_buf_append(b, "\n", 1);
	return b->failed ? -1 : 0;
}

/* The whole file, NUL-terminated, from ima_malloc; NULL with errno. */
static char *config_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = ima_malloc(CONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f) || n > CONFIG_MAX_BYTES) {
		int e = ferror(f) ? errno : EFBIG;

		fclose(f);
		ima_free(buf);
		errno = e;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * libconfig reads a text up to its first NUL byte: the rest of the file
 * would be dropped without a word. 0, or -1 with err citing the line.
 */
static int config_text_check(const char *path, const char *buf, size_t len,
			     struct ima_error *err)
{
	const char *nul = memchr(buf, '\0', len);
	int line = 1;

	if (nul == NULL)
		return 0;
	for (const char *p = buf; p < nul; p++)
		line += *p == '\n';
	return ima_error_set(err, 500, "config", "",
			     "%s:%d: a NUL byte: a configuration is text", path, line);
}

/* NAME of a line `@include "NAME"` (trailing comment allowed), else NULL. */
static const char *config_include(const char *s, size_t len, size_t *name_len)
{
	const char *end = s + len, *q;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if ((size_t)(end - s) < 9 || memcmp(s, "@include", 8) != 0)
		return NULL;
	s += 8;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end || *s != '"')
		return NULL;
	q = memchr(s + 1, '"', (size_t)(end - s - 1));
	if (q == NULL)
		return NULL;
	*name_len = (size_t)(q - s - 1);
	return s + 1;
}

/*
 * Whether a block comment is open at the end of the line, given whether
 * one was at its start. libconfig ignores an @include inside a block
 * comment, so the inlining must know where they are: strings (one line in
 * libconfig) and line comments hide their delimiters.
 */
static bool config_comment_open(const char *s, size_t len, bool open)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		bool pair_end = i + 1 < len && s[i] == '*' && s[i + 1] == '/';
		bool pair_start = i + 1 < len && s[i] == '/' && s[i + 1] == '*';

		if (open) {
			if (pair_end) {
				open = false;
				i++;
			}
		} else if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"') {
			in_string = true;
		} else if (s[i] == '#' || (i + 1 < len && s[i] == '/' && s[i + 1] == '/')) {
			break;
		} else if (pair_start) {
			open = true;
			i++;
		}
	}
	return open;
}

static const char *config_embedded(const char *name)
{
	for (const struct ima_config_file *f = ima_default_conf; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f->text;
	return NULL;
}

/*
 * libconfig goes on reading after an @include's name ("@include
 * \"a.conf\", { ... }"): what follows it on the line comes after the file,
 * on a line of its own that cites the include's line.
 */
static int config_add_rest(struct ima_config_text *t, struct ima_buf *b,
			   const char *s, size_t len, unsigned file, int line,
			   bool *comment)
{
	size_t blank = 0;

	while (blank < len && (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\r'))
		blank++;
	if (blank == len)
		return 0;
	if (config_add_line(t, b, s, len, file, line) != 0)
		return -1;
	*comment = config_comment_open(s, len, *comment);
	return 0;
}

/* comment: whether a block comment is open, over the whole inlined text
 * (libconfig sees one text). */
static int config_inline(struct ima_config_text *t, struct ima_buf *b,
			 const char *text, const char *dir, bool embedded,
			 unsigned file, int depth, bool *comment,
			 struct ima_error *err)
{
	const char *p = text;
	int line = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t nlen = 0;
		const char *name = *comment ? NULL : config_include(p, len, &nlen);

		line++;
		if (name == NULL) {
			if (config_add_line(t, b, p, len, file, line) != 0)
				return ima_error_set(err, 500, "internal", "", "out of memory");
			*comment = config_comment_open(p, len, *comment);
		} else {
			char path[4096], *sub;
			const char *subtext;
			size_t sublen;
			int idx, rc;

			if (depth >= CONFIG_MAX_DEPTH)
				return ima_error_set(err, 500, "config", "",
						     "%s:%d: @include \"%.*s\": includes nested deeper than %d (does a file include itself?)",
						     t->files[file], line, (int)nlen, name,
						     CONFIG_MAX_DEPTH);
			if (config_include(name + nlen + 1, len - (size_t)(name + nlen + 1 - p),
					   &(size_t){ 0 }) != NULL)
				return ima_error_set(err, 500, "config", "",
						     "%s:%d: @include \"%.*s\": one @include per line",
						     t->files[file], line, (int)nlen, name);
			if (t->nfiles > CONFIG_MAX_INCLUDES)
				return ima_error_set(err, 500, "config", "",
						     "%s:%d: @include \"%.*s\": more than %d includes",
						     t->files[file], line, (int)nlen, name,
						     CONFIG_MAX_INCLUDES);
			if (embedded) {
				char ename[256];

				snprintf(ename, sizeof(ename), "%.*s", (int)nlen, name);
				snprintf(path, sizeof(path), "embedded:%s", ename);
				subtext = config_embedded(ename);
				sub = NULL;
				if (subtext == NULL)
					return ima_error_set(err, 500, "config", "",
							     "%s:%d: @include \"%.*s\": no such file in the embedded default",
							     t->files[file], line, (int)nlen, name);
			} else {
				if (nlen > 0 && name[0] == '/')
					snprintf(path, sizeof(path), "%.*s", (int)nlen, name);
				else
					snprintf(path, sizeof(path), "%s/%.*s", dir, (int)nlen, name);
				sub = config_slurp(path, &sublen);
				if (sub == NULL)
					return ima_error_set(err, 500, "config", "",
							     "%s:%d: @include \"%.*s\": cannot read %s: %s",
							     t->files[file], line, (int)nlen, name,
							     path, strerror(errno));
				if (config_text_check(path, sub, sublen, err) != 0) {
					ima_free(sub);
					return -1;
				}
				subtext = sub;
			}
			if (b->len + strlen(subtext) > CONFIG_MAX_TOTAL) {
				ima_free(sub);
				return ima_error_set(err, 500, "config", "",
						     "%s:%d: @include \"%.*s\": the configuration with its includes passes %d MiB",
						     t->files[file], line, (int)nlen, name,
						     CONFIG_MAX_TOTAL / (1024 * 1024));
			}
			idx = config_add_file(t, path);
			if (idx < 0) {
				ima_free(sub);
				return ima_error_set(err, 500, "internal", "", "out of memory");
			}
			if (!embedded) {
				/* Names in the included file are relative to it. */
				char *slash = strrchr(path, '/');

				if (slash != NULL && slash != path)
					*slash = '\0';
				else if (slash == path)
					path[1] = '\0';
				else
					snprintf(path, sizeof(path), ".");
			}
			rc = config_inline(t, b, subtext, path, embedded, (unsigned)idx,
					   depth + 1, comment, err);
			ima_free(sub);
			if (rc != 0)
				return -1;
			if (config_add_rest(t, b, name + nlen + 1,
					    len - (size_t)(name + nlen + 1 - p), file,
					    line, comment) != 0)
				return ima_error_set(err, 500, "internal", "", "out of memory");
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (depth == 0)
		t->top_lines = line;
	return 0;
}

int ima_config_read(const char *path, struct ima_config_text *out,
		    struct ima_error *err)
{
	struct ima_buf b = { 0 };
	char dir[4096], *text = NULL;
	const char *slash;
	size_t len;
	bool comment = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path == NULL) {
		if (config_add_file(out, "embedded:default.conf") < 0)
			rc = ima_error_set(err, 500, "internal", "", "out of memory");
		else
			rc = config_inline(out, &b, ima_default_conf[0].text, "", true, 0, 0,
					   &comment, err);
	} else {
		text = config_slurp(path, &len);
		if (text == NULL)
			return ima_error_set(err, 500, "config", "", "%s: %s", path,
					     strerror(errno));
		if (config_text_check(path, text, len, err) != 0) {
			ima_free(text);
			return -1;
		}
		slash = strrchr(path, '/');
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
		if (config_add_file(out, path) < 0)
			rc = ima_error_set(err, 500, "internal", "", "out of memory");
		else
			rc = config_inline(out, &b, text, dir, false, 0, 0, &comment, err);
		ima_free(text);
	}
	ima_buf_append(&b, "", 1);
	if (rc == 0 && b.failed)
		rc = ima_error_set(err, 500, "internal", "", "out of memory");
	if (rc != 0) {
		ima_buf_free(&b);
		ima_config_text_free(out);
		return -1;
	}
	out->text = b.data;
	return 0;
}

const char *ima_config_where(const struct ima_config_text *t, int n, int *line)
{
	if (n < 1 || (size_t)n > t->nlines) {
		/* The end of the text is the end of the file that includes the
		 * rest, whatever file its last lines came from. */
		*line = n < 1 ? n : t->top_lines + (n - (int)t->nlines);
		return t->nfiles ? t->files[0] : "?";
	}
	*line = t->lines[n - 1].line;
	return t->files[t->lines[n - 1].file];
}

void ima_config_text_free(struct ima_config_text *t)
{
	for (size_t i = 0; i < t->nfiles; i++)
		ima_free(t->files[i]);
	ima_free(t->files);
	ima_free(t->lines);
	ima_free(t->text);
	memset(t, 0, sizeof(*t));
}
