/*
 * Loaders for the role catalogue and the skill adjacency.  Both files are
 * "key<TAB>...<TAB>name|name|..." lines; the names are resolved to skill ids
 * once here so that request-time code compares integers, not strings.
 */
#include "roles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skillmatch_roles {
	char *file; /* file contents; codes and titles point into it */
	struct skillmatch_role *roles;
	size_t nroles;
	unsigned *ids; /* all roles' skill ids, back to back */
};

struct skillmatch_adjacency {
	size_t nskills;    /* size of the dictionary it was loaded against */
	size_t *first;     /* ids[first[s] .. first[s + 1]) are implied by s */
	unsigned *ids;
};

/* Split "a|b|c" in place and append the known names' ids to out. */
static size_t skillmatch_resolve(const struct skillmatch_dict *d, char *list,
				 unsigned *out)
{
	size_t n = 0;
	char *item = list, *bar;
	int id;

	while (*item != '\0') {
		bar = strchr(item, '|');
		id = skillmatch_find(d, item, bar ? (size_t)(bar - item) : strlen(item));
		if (id >= 0)
			out[n++] = (unsigned)id;
		if (bar == NULL)
			break;
		item = bar + 1;
	}
	return n;
}

static size_t skillmatch_count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/* Cut the buffer into data lines (comments and blank lines dropped); fills
 * lines/linenos when not NULL and returns how many there are. */
static size_t skillmatch_lines(char *buf, char **lines, size_t *linenos)
{
	size_t n = 0, lineno = 0;
	char *p = buf, *eol;

	while (*p != '\0') {
		eol = strchr(p, '\n');
		lineno++;
		if (lines != NULL && eol != NULL)
			*eol = '\0';
		if (lines != NULL && eol != NULL && eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		if (*p != '#' && *p != '\n' && *p != '\0' && *p != '\r') {
			if (lines != NULL) {
				lines[n] = p;
				linenos[n] = lineno;
			}
			n++;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return n;
}

struct skillmatch_roles *skillmatch_roles_load(const char *path,
					       const struct skillmatch_dict *d,
					       char *err, size_t errlen)
{
	struct skillmatch_roles *r;
	char **lines = NULL, *tab1, *tab2;
	size_t *linenos = NULL, len, n, i, total, used = 0;

	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(r ? errno : ENOMEM));
		free(r);
		return NULL;
	}
	/* Every '|' or data line bounds the number of ids: one allocation. */
	total = skillmatch_count_char(r->file, '|') + skillmatch_count_char(r->file, '\n') + 1;
	n = skillmatch_lines(r->file, NULL, NULL);
	lines = malloc((n + 1) * sizeof(*lines));
	linenos = malloc((n + 1) * sizeof(*linenos));
	r->roles = calloc(n + 1, sizeof(*r->roles));
	r->ids = malloc(total * sizeof(*r->ids));
	if (lines == NULL || linenos == NULL || r->roles == NULL || r->ids == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto fail;
	}
	n = skillmatch_lines(r->file, lines, linenos);
	for (i = 0; i < n; i++) {
		tab1 = strchr(lines[i], '\t');
		tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (tab2 == NULL) {
			snprintf(err, errlen, "%s:%zu: expected 3 tab-separated columns: soc_code, title, skills",
				 path, linenos[i]);
			goto fail;
		}
		*tab1 = *tab2 = '\0';
		r->roles[i].soc_code = lines[i];
		r->roles[i].title = tab1 + 1;
		r->roles[i].skill_ids = r->ids + used;
		r->roles[i].nskills = skillmatch_resolve(d, tab2 + 1, r->ids + used);
		used += r->roles[i].nskills;
	}
	r->nroles = n;
	free(lines);
	free(linenos);
	return r;
fail:
	free(lines);
	free(linenos);
	skillmatch_roles_free(r);
	return NULL;
}

void skillmatch_roles_free(struct skillmatch_roles *r)
{
	if (r == NULL)
		return;
	free(r->file);
	free(r->roles);
	free(r->ids);
	free(r);
}

size_t skillmatch_roles_count(const struct skillmatch_roles *r)
{
	return r->nroles;
}

const struct skillmatch_role *skillmatch_roles_get(const struct skillmatch_roles *r,
						   size_t i)
{
	return i < r->nroles ? &r->roles[i] : NULL;
}

struct skillmatch_adjacency *skillmatch_adjacency_load(const char *path,
						       const struct skillmatch_dict *d,
						       char *err, size_t errlen)
{
	struct skillmatch_adjacency *a;
	char *file, **lines = NULL, *tab;
	size_t *linenos = NULL, *count = NULL, len, n, i, s, total, k;
	unsigned *tmp = NULL;
	size_t *owner = NULL;
	int id;

	a = calloc(1, sizeof(*a));
	if (a == NULL || (file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(a ? errno : ENOMEM));
		free(a);
		return NULL;
	}
	a->nskills = skillmatch_count(d);
	total = skillmatch_count_char(file, '|') + skillmatch_count_char(file, '\n') + 1;
	n = skillmatch_lines(file, NULL, NULL);
	lines = malloc((n + 1) * sizeof(*lines));
	linenos = malloc((n + 1) * sizeof(*linenos));
	tmp = malloc(total * sizeof(*tmp));
	owner = malloc(total * sizeof(*owner));
	count = calloc(a->nskills + 1, sizeof(*count));
	a->first = calloc(a->nskills + 1, sizeof(*a->first));
	a->ids = malloc(total * sizeof(*a->ids));
	if (lines == NULL || linenos == NULL || tmp == NULL || owner == NULL ||
	    count == NULL || a->first == NULL || a->ids == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto fail;
	}
	n = skillmatch_lines(file, lines, linenos);
	/* Collect (owner, implied) pairs, then lay them out per skill with a
	 * counting sort so that lookup is two array reads. */
	for (i = 0, k = 0; i < n; i++) {
		size_t got, j;

		tab = strchr(lines[i], '\t');
		if (tab == NULL) {
			snprintf(err, errlen, "%s:%zu: expected 2 tab-separated columns: skill, implied skills",
				 path, linenos[i]);
			goto fail;
		}
		*tab = '\0';
		id = skillmatch_find(d, lines[i], strlen(lines[i]));
		if (id < 0)
			continue;
		got = skillmatch_resolve(d, tab + 1, tmp + k);
		for (j = 0; j < got; j++)
			owner[k + j] = (size_t)id;
		count[id] += got;
		k += got;
	}
	for (s = 0; s < a->nskills; s++)
		a->first[s + 1] = a->first[s] + count[s];
	memset(count, 0, (a->nskills + 1) * sizeof(*count));
	for (i = 0; i < k; i++)
		a->ids[a->first[owner[i]] + count[owner[i]]++] = tmp[i];
	free(file);
	free(lines);
	free(linenos);
	free(tmp);
	free(owner);
	free(count);
	return a;
fail:
	free(file);
	free(lines);
	free(linenos);
	free(tmp);
	free(owner);
	free(count);
	skillmatch_adjacency_free(a);
	return NULL;
}

void skillmatch_adjacency_free(struct skillmatch_adjacency *a)
{
	if (a == NULL)
		return;
	free(a->first);
	free(a->ids);
	free(a);
}

size_t skillmatch_adjacency_implied(const struct skillmatch_adjacency *a,
				    unsigned skill_id, const unsigned **ids)
{
	if (skill_id >= a->nskills || a->first[skill_id] == a->first[skill_id + 1]) {
		*ids = NULL;
		return 0;
	}
	*ids = a->ids + a->first[skill_id];
	return a->first[skill_id + 1] - a->first[skill_id];
}
