/*
 * ima_config.h - reading a configuration's text: the file and every file it
 * @includes, or the embedded default, inlined into one text for libconfig
 * with a map from each line back to the file and line it came from.
 */
#ifndef IMA_CONFIG_H
#define IMA_CONFIG_H

#include <stddef.h>

/* A file of the embedded default configuration (scripts/embed-conf.sh). */
struct ima_config_file {
	const char *name;
	const char *text;
};
/* The first entry is the configuration; a zeroed entry ends the table. */
extern const struct ima_config_file ima_default_conf[];

struct ima_config_line {
	unsigned file; /* index into files */
	int line;
};

struct ima_config_text {
	char *text;
	struct ima_config_line *lines; /* one per line of text */
	size_t nlines, caplines;
	char **files; /* as messages cite them: a path or "embedded:NAME" */
	size_t nfiles;
	int top_lines; /* lines of files[0], where the text ends */
};

struct ima_error;

/*
 * Reads path (NULL: the embedded default) and inlines each line
 * `@include "NAME"`: NAME relative to the including file's directory, or
 * absolute; in the embedded default, another embedded file. Returns 0, or
 * -1 with err naming the including file, its line and the file that could
 * not be read.
 */
int ima_config_read(const char *path, struct ima_config_text *out,
		    struct ima_error *err);
/* The file and line of line n (1-based) of the inlined text. Past its end
 * (libconfig's line for an error at the end of the text): past the end of
 * files[0]. "?" and n when there is no file. */
const char *ima_config_where(const struct ima_config_text *t, int n,
			     int *line);
void ima_config_text_free(struct ima_config_text *t);

#endif /* IMA_CONFIG_H */
