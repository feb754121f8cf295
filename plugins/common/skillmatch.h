/*
 * skillmatch: find known skills (technologies, tools, languages) in free text.
 *
 * The dictionary is data/skills.tsv (see data/README.md), generated from O*NET
 * and hand-written tables.  Matching walks a trie from each word start of the
 * text, so its cost does not grow with the size of the dictionary.
 *
 * Thread safety: a loaded dictionary is never modified, so any number of
 * threads may scan and look up with the same dictionary at once.
 */
#ifndef SKILLMATCH_H
#define SKILLMATCH_H

#include <stddef.h>

struct skillmatch_dict;

struct skillmatch_hit {
	unsigned skill_id; /* index for skillmatch_name() and friends */
	size_t offset;     /* byte offset of the match in the scanned text */
	size_t len;        /* length in bytes of the matched text */
};

/*
 * Load a dictionary from a skills.tsv file.
 * On failure returns NULL and writes a message naming the file and, for a
 * format error, the line into err (at most errlen bytes, NUL-terminated).
 * The caller owns the result and releases it with skillmatch_free().
 */
struct skillmatch_dict *skillmatch_load(const char *skills_tsv_path, char *err,
					size_t errlen);

/* Release a dictionary; NULL is accepted. */
void skillmatch_free(struct skillmatch_dict *d);

/* Number of skills; ids run from 0 to skillmatch_count() - 1. */
unsigned skillmatch_count(const struct skillmatch_dict *d);

/*
 * Scan len bytes of text (UTF-8 or ASCII; need not be NUL-terminated) and
 * call cb once per match, left to right, matches never overlapping.
 * Rules: ASCII case-insensitive; runs of whitespace, '-' and '_' compare equal
 * to one space; the longest form wins at a position; a match must start and
 * end at word boundaries (ASCII letters and digits and bytes >= 0x80 are word
 * characters, except UTF-8 punctuation such as bullets, dashes, NBSP and
 * quotes).  Matches inside URLs and e-mail addresses are skipped.  Forms
 * marked ambiguous in the dictionary ("C", "R", "Go") are reported only in a
 * list context: list punctuation or a line edge on both sides and another
 * skill within 60 bytes ("Languages: C, C++, Java"), or another skill right
 * next to it ("Scala Java Go"); one-letter ones must be upper case.  Forms
 * marked capitalised-only ("Excel", "Rust") need a capital on every word.
 * The hit passed to cb is borrowed for the call.  Returns 0, or -1 when
 * memory ran out (errno ENOMEM; some callbacks may already have run).
 */
int skillmatch_scan(const struct skillmatch_dict *d, const char *text, size_t len,
		    void (*cb)(const struct skillmatch_hit *hit, void *arg),
		    void *arg);

/* Canonical name of a skill ("Kubernetes"), or NULL for a bad id.  The string
 * belongs to the dictionary. */
const char *skillmatch_name(const struct skillmatch_dict *d, unsigned skill_id);

/* Simplified category ("language", "database", "office"), or NULL. */
const char *skillmatch_category(const struct skillmatch_dict *d,
				unsigned skill_id);

/* 1 if O*NET or the alias table marks the skill as a hot technology, else 0. */
int skillmatch_hot(const struct skillmatch_dict *d, unsigned skill_id);

/*
 * Kind of a skill, or NULL for a bad id:
 *   "knowledge"  technologies, tools, languages, platforms, knowledge areas,
 *                fields of study, degrees, industries;
 *   "practice"   methodologies and soft or procedural skills (Agile, Scrum,
 *                code review, communication), shown apart from knowledge;
 *   "language"   human languages (English, Danish).
 * The string is static or belongs to the dictionary.
 */
const char *skillmatch_kind(const struct skillmatch_dict *d, unsigned skill_id);

/*
 * Canonicalise a free-text skill name, such as one from an upstream
 * classifier ("python", "k8s", "Node JS", "APIs"), to a skill id.
 * Any form of the skill counts, ambiguous ones included.  Surrounding blanks
 * and punctuation are ignored, and a plural 's' is tried last.
 * Returns the id, or -1 when the name is unknown.
 */
int skillmatch_lookup(const struct skillmatch_dict *d, const char *name,
		      size_t len);

/* Exact canonical name (as returned by skillmatch_name) to id, or -1. */
int skillmatch_find(const struct skillmatch_dict *d, const char *name,
		    size_t len);

/*
 * Reads a whole file into a NUL-terminated buffer (the caller frees it with
 * ima_free()); NULL with errno set on failure. Shared by the data loaders.
 */
char *skillmatch_read_file(const char *path, size_t *len);

#endif
