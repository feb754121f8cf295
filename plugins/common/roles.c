/*
 * Loaders for the role catalogue and the skill adjacency.  Both files are
 * "key<TAB>...<TAB>name|name|..." lines; the names are resolved to skill ids
 * once here so that request-time code compares integers, not strings.
 */
#include "roles.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"

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

	r = ima_calloc(1, sizeof(*r));
	if (r == NULL || (r->file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(r ? errno : ENOMEM));
		ima_free(r);
		return NULL;
	}
	/* Every '|' or data line bounds the number of ids: one allocation. */
	total = skillmatch_count_char(r->file, '|') + skillmatch_count_char(r->file, '\n') + 1;
	n = skillmatch_lines(r->file, NULL, NULL);
	lines = ima_malloc((n + 1) * sizeof(*lines));
	linenos = ima_malloc((n + 1) * sizeof(*linenos));
	r->roles = ima_calloc(n + 1, sizeof(*r->roles));
	r->ids = ima_malloc(total * sizeof(*r->ids));
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
	ima_free(lines);
	ima_free(linenos);
	return r;
fail:
	ima_free(lines);
	ima_free(linenos);
	skillmatch_roles_free(r);
	return NULL;
}

void skillmatch_roles_free(struct skillmatch_roles *r)
{
	if (r == NULL)
		return;
	ima_free(r->file);
	ima_free(r->roles);
	ima_free(r->ids);
	ima_free(r);
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

	a = ima_calloc(1, sizeof(*a));
	if (a == NULL || (file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(a ? errno : ENOMEM));
		ima_free(a);
		return NULL;
	}
	a->nskills = skillmatch_count(d);
	total = skillmatch_count_char(file, '|') + skillmatch_count_char(file, '\n') + 1;
	n = skillmatch_lines(file, NULL, NULL);
	lines = ima_malloc((n + 1) * sizeof(*lines));
	linenos = ima_malloc((n + 1) * sizeof(*linenos));
	tmp = ima_malloc(total * sizeof(*tmp));
	owner = ima_malloc(total * sizeof(*owner));
	count = ima_calloc(a->nskills + 1, sizeof(*count));
	a->first = ima_calloc(a->nskills + 1, sizeof(*a->first));
	a->ids = ima_malloc(total * sizeof(*a->ids));
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
	ima_free(file);
	ima_free(lines);
	ima_free(linenos);
	ima_free(tmp);
	ima_free(owner);
	ima_free(count);
	return a;
fail:
	ima_free(file);
	ima_free(lines);
	ima_free(linenos);
	ima_free(tmp);
	ima_free(owner);
	ima_free(count);
	skillmatch_adjacency_free(a);
	return NULL;
}

void skillmatch_adjacency_free(struct skillmatch_adjacency *a)
{
	if (a == NULL)
		return;
	ima_free(a->first);
	ima_free(a->ids);
	ima_free(a);
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

/* ---- job titles and occupations ----------------------------------------- */

/* A known title: its normalised key (in the file buffer) and its
 * occupations, codes[first .. first + n). */
struct skillmatch_title_slot {
	uint32_t key, keylen; /* offset into file, 0 length: empty slot */
	uint32_t first, n;
};

/* A word of some known title, for telling title lines from names. */
struct skillmatch_word_slot {
	uint32_t word;         /* offset into file */
	uint16_t len;          /* 0: empty */
	uint16_t titles;       /* how many known titles use it (capped) */
};

struct skillmatch_titles {
	char *occ_file, *file;
	struct skillmatch_occupation *occ;
	size_t nocc;
	unsigned *related; /* all occupations' related indices */
	struct skillmatch_title_slot *slots;
	size_t mask;
	struct skillmatch_word_slot *words;
	size_t wmask;
	unsigned *codes;
	size_t max_key_words;
};

/* Longest word and most words of a title part that are looked at. */
#define TITLE_WORD_MAX 40
#define TITLE_PART_WORDS 16

static uint64_t skillmatch_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static size_t skillmatch_pow2(size_t n)
{
	size_t c = 16;

	while (c < 2 * n)
		c *= 2;
	return c;
}

static int skillmatch_code_find(const struct skillmatch_titles *t, const char *code,
				size_t n)
{
	size_t lo = 0, hi = t->nocc;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *c = t->occ[mid].soc_code;
		int cmp = strncmp(c, code, n);

		if (cmp == 0 && c[n] != '\0')
			cmp = 1;
		if (cmp == 0)
			return (int)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int skillmatch_occupation_find(const struct skillmatch_titles *t, const char *soc_code)
{
	return skillmatch_code_find(t, soc_code, strlen(soc_code));
}

size_t skillmatch_occupations_count(const struct skillmatch_titles *t)
{
	return t->nocc;
}

const struct skillmatch_occupation *skillmatch_occupation_get(const struct skillmatch_titles *t,
							      size_t i)
{
	return i < t->nocc ? &t->occ[i] : NULL;
}

/* Fields of a tab-separated line, cut in place; returns how many (at most
 * max). */
static size_t skillmatch_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	while (n < max && (line = strchr(line, '\t')) != NULL) {
		*line++ = '\0';
		f[n++] = line;
	}
	return n;
}

static int skillmatch_occupations_parse(struct skillmatch_titles *t, const char *path,
					char *err, size_t errlen)
{
	char **lines = NULL, **rel = NULL, *f[5], *end;
	size_t *linenos = NULL, len, n, used = 0;
	int rc = -1;

	if ((t->occ_file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = skillmatch_lines(t->occ_file, NULL, NULL);
	lines = ima_malloc((n + 1) * sizeof(*lines));
	linenos = ima_malloc((n + 1) * sizeof(*linenos));
	rel = ima_calloc(n + 1, sizeof(*rel));
	t->occ = ima_calloc(n + 1, sizeof(*t->occ));
	t->related = ima_malloc((skillmatch_count_char(t->occ_file, '|') + n + 1) *
			    sizeof(*t->related));
	if (lines == NULL || linenos == NULL || rel == NULL || t->occ == NULL ||
	    t->related == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	n = skillmatch_lines(t->occ_file, lines, linenos);
	for (size_t i = 0; i < n; i++) {
		struct skillmatch_occupation *o = &t->occ[i];

		if (skillmatch_fields(lines[i], f, 5) != 5) {
			snprintf(err, errlen, "%s:%zu: expected 5 tab-separated columns: soc_code, title, job zone, experience months, related",
				 path, linenos[i]);
			goto out;
		}
		o->soc_code = f[0];
		o->title = f[1];
		o->job_zone = (int)strtol(f[2], &end, 10);
		if (end == f[2] || *end != '\0' || o->job_zone < 0 || o->job_zone > 5) {
			snprintf(err, errlen, "%s:%zu: job zone must be 0-5", path, linenos[i]);
			goto out;
		}
		o->experience_min = o->experience_max = -1;
		if (f[3][0] != '\0') {
			o->experience_min = (int)strtol(f[3], &end, 10);
			if (*end != '-' || o->experience_min < 0) {
				snprintf(err, errlen, "%s:%zu: experience must be MIN-MAX months", path, linenos[i]);
				goto out;
			}
			o->experience_max = (int)strtol(end + 1, &end, 10);
			if (*end != '\0' || o->experience_max < 0) {
				snprintf(err, errlen, "%s:%zu: experience must be MIN-MAX months", path, linenos[i]);
				goto out;
			}
		}
		/* Sorted codes: lookups are a binary search. */
		if (i > 0 && strcmp(t->occ[i - 1].soc_code, o->soc_code) >= 0) {
			snprintf(err, errlen, "%s:%zu: soc codes must be sorted and unique", path, linenos[i]);
			goto out;
		}
		rel[i] = f[4];
	}
	t->nocc = n;
	for (size_t i = 0; i < n; i++) {
		char *item = rel[i];

		t->occ[i].related = t->related + used;
		while (*item != '\0') {
			char *bar = strchr(item, '|');
			size_t l = bar ? (size_t)(bar - item) : strlen(item);
			int id = skillmatch_code_find(t, item, l);

			if (id >= 0)
				t->related[used++] = (unsigned)id;
			if (bar == NULL)
				break;
			item = bar + 1;
		}
		t->occ[i].nrelated = (size_t)(t->related + used - t->occ[i].related);
	}
	rc = 0;
out:
	ima_free(lines);
	ima_free(linenos);
	ima_free(rel);
	return rc;
}

static const struct skillmatch_title_slot *skillmatch_title_get(const struct skillmatch_titles *t,
								const char *key, size_t n)
{
	size_t i = (size_t)skillmatch_hash(key, n) & t->mask;

	for (; t->slots[i].keylen != 0; i = (i + 1) & t->mask)
		if (t->slots[i].keylen == n && memcmp(t->file + t->slots[i].key, key, n) == 0)
			return &t->slots[i];
	return NULL;
}

/*
 * A word of titles, used by two known titles at least: one title alone
 * ("Honest John Rocket Crew Member") does not make a first name a title
 * word.
 */
static bool skillmatch_word_known(const struct skillmatch_titles *t, const char *w, size_t n)
{
	size_t i = (size_t)skillmatch_hash(w, n) & t->wmask;

	for (; t->words[i].len != 0; i = (i + 1) & t->wmask)
		if (t->words[i].len == n && memcmp(t->file + t->words[i].word, w, n) == 0)
			return t->words[i].titles >= 2;
	return false;
}

static void skillmatch_word_add(struct skillmatch_titles *t, const char *w, size_t n)
{
	size_t i = (size_t)skillmatch_hash(w, n) & t->wmask;

	if (n > TITLE_WORD_MAX)
		return;
	for (; t->words[i].len != 0; i = (i + 1) & t->wmask)
		if (t->words[i].len == n && memcmp(t->file + t->words[i].word, w, n) == 0) {
			t->words[i].titles += t->words[i].titles < UINT16_MAX;
			return;
		}
	t->words[i].word = (uint32_t)(w - t->file);
	t->words[i].len = (uint16_t)n;
	t->words[i].titles = 1;
}

struct skillmatch_titles *skillmatch_titles_load(const char *path, const char *occ_path,
						 char *err, size_t errlen)
{
	struct skillmatch_titles *t = ima_calloc(1, sizeof(*t));
	char **lines = NULL, *tab;
	size_t *linenos = NULL, len, n, used = 0, nwords;

	if (t == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return NULL;
	}
	if (skillmatch_occupations_parse(t, occ_path, err, errlen) != 0)
		goto fail;
	if ((t->file = skillmatch_read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* Offsets are 32-bit: the file is a few MB. */
	if (len >= UINT32_MAX) {
		snprintf(err, errlen, "%s: too large", path);
		goto fail;
	}
	n = skillmatch_lines(t->file, NULL, NULL);
	nwords = skillmatch_count_char(t->file, ' ') + n;
	t->mask = skillmatch_pow2(n) - 1;
	t->wmask = skillmatch_pow2(nwords) - 1;
	lines = ima_malloc((n + 1) * sizeof(*lines));
	linenos = ima_malloc((n + 1) * sizeof(*linenos));
	t->slots = ima_calloc(t->mask + 1, sizeof(*t->slots));
	t->words = ima_calloc(t->wmask + 1, sizeof(*t->words));
	t->codes = ima_malloc((skillmatch_count_char(t->file, '|') + n + 1) * sizeof(*t->codes));
	if (lines == NULL || linenos == NULL || t->slots == NULL || t->words == NULL ||
	    t->codes == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto fail;
	}
	n = skillmatch_lines(t->file, lines, linenos);
	for (size_t i = 0; i < n; i++) {
		size_t klen, first = used, words = 1, h;
		char *item;

		tab = strchr(lines[i], '\t');
		if (tab == NULL || tab == lines[i]) {
			snprintf(err, errlen, "%s:%zu: expected 2 tab-separated columns: title, soc codes",
				 path, linenos[i]);
			goto fail;
		}
		*tab = '\0';
		klen = (size_t)(tab - lines[i]);
		for (item = tab + 1; *item != '\0';) {
			char *bar = strchr(item, '|');
			size_t l = bar ? (size_t)(bar - item) : strlen(item);
			int id = skillmatch_code_find(t, item, l);

			if (id >= 0)
				t->codes[used++] = (unsigned)id;
			if (bar == NULL)
				break;
			item = bar + 1;
		}
		if (used == first || skillmatch_title_get(t, lines[i], klen) != NULL)
			continue;
		for (size_t k = 0, s = 0; k <= klen; k++)
			if (k == klen || lines[i][k] == ' ') {
				if (k > s)
					skillmatch_word_add(t, lines[i] + s, k - s);
				words += k < klen;
				s = k + 1;
			}
		if (words > t->max_key_words)
			t->max_key_words = words;
		h = (size_t)skillmatch_hash(lines[i], klen) & t->mask;
		while (t->slots[h].keylen != 0)
			h = (h + 1) & t->mask;
		t->slots[h].key = (uint32_t)(lines[i] - t->file);
		t->slots[h].keylen = (uint32_t)klen;
		t->slots[h].first = (uint32_t)first;
		t->slots[h].n = (uint32_t)(used - first);
	}
	if (t->max_key_words > TITLE_PART_WORDS)
		t->max_key_words = TITLE_PART_WORDS;
	ima_free(lines);
	ima_free(linenos);
	return t;
fail:
	ima_free(lines);
	ima_free(linenos);
	skillmatch_titles_free(t);
	return NULL;
}

void skillmatch_titles_free(struct skillmatch_titles *t)
{
	if (t == NULL)
		return;
	ima_free(t->occ_file);
	ima_free(t->file);
	ima_free(t->occ);
	ima_free(t->related);
	ima_free(t->slots);
	ima_free(t->words);
	ima_free(t->codes);
	ima_free(t);
}

static bool skillmatch_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Normalises the word s[0..n) (ASCII letters and digits) into out as the
 * generator does; returns its length, 0 for a level word (dropped).
 */
static size_t skillmatch_title_word(const char *s, size_t n, char *out)
{
	static const char *const level[] = { "senior", "sr", "junior", "jr", "lead",
					     "i", "ii", "iii", "iv", "s", NULL };

	for (size_t i = 0; i < n; i++)
		out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
	for (const char *const *l = level; *l; l++)
		if (strlen(*l) == n && memcmp(*l, out, n) == 0)
			return 0;
	if (n > 4 && memcmp(out + n - 3, "ies", 3) == 0) {
		out[n - 3] = 'y';
		return n - 2;
	}
	if (n > 3 && out[n - 1] == 's' && strchr("sui", out[n - 2]) == NULL)
		return n - 1;
	return n;
}

/* Does the gap between two words end a title part? */
static bool skillmatch_part_break(const unsigned char *g, size_t n)
{
	bool space = false, dash = false;

	for (size_t i = 0; i < n; i++) {
		if (strchr(",/|()[]:;\t\n\r", g[i]) != NULL && g[i] != '\0')
			return true;
		/* en and em dashes, and the full-width hyphen-minus of PDFs */
		if (i + 2 < n && ((g[i] == 0xe2 && g[i + 1] == 0x80 &&
				   (g[i + 2] == 0x93 || g[i + 2] == 0x94)) ||
				  (g[i] == 0xef && g[i + 1] == 0xbc && g[i + 2] == 0x8d)))
			return true;
		space |= g[i] == ' ';
		dash |= g[i] == '-';
	}
	return space && dash;
}

/* One part's normalised words, back to back in buf. */
struct skillmatch_part {
	size_t nwords, start, end;
	bool prose; /* more than TITLE_PART_WORDS words */
	uint16_t off[TITLE_PART_WORDS], len[TITLE_PART_WORDS];
	char buf[TITLE_PART_WORDS * TITLE_WORD_MAX];
};

static bool skillmatch_part_lookup(const struct skillmatch_titles *t,
				   const struct skillmatch_part *p, size_t s, size_t run,
				   size_t of, struct skillmatch_title_match *m)
{
	char key[TITLE_PART_WORDS * (TITLE_WORD_MAX + 1)];
	const struct skillmatch_title_slot *slot;
	size_t k = 0;

	for (size_t w = s; w < s + run; w++) {
		if (k > 0)
			key[k++] = ' ';
		memcpy(key + k, p->buf + p->off[w], p->len[w]);
		k += p->len[w];
	}
	slot = skillmatch_title_get(t, key, k);
	if (slot == NULL)
		return false;
	m->occupations = t->codes + slot->first;
	m->noccupations = slot->n;
	m->words = run;
	m->part_words = of;
	m->start = p->start;
	m->len = p->end - p->start;
	return true;
}

static bool skillmatch_part_joiner(const struct skillmatch_part *p, size_t w)
{
	const char *s = p->buf + p->off[w];

	return (p->len[w] == 3 && (memcmp(s, "and", 3) == 0 || memcmp(s, "the", 3) == 0)) ||
	       (p->len[w] == 2 && memcmp(s, "of", 2) == 0);
}

/*
 * The longest known title among words [lo, hi) of the part, the last of
 * equally long ones, then the same on each side of it ("Chef & Owner":
 * "owner", then "chef").
 */
static void skillmatch_stretch_match(const struct skillmatch_titles *t,
				     const struct skillmatch_part *p, size_t lo, size_t hi,
				     struct skillmatch_title_match *m, size_t *nm, size_t max)
{
	size_t top;

	while (lo < hi && skillmatch_part_joiner(p, lo))
		lo++;
	while (hi > lo && skillmatch_part_joiner(p, hi - 1))
		hi--;
	if (lo == hi || *nm >= max)
		return;
	top = hi - lo < t->max_key_words ? hi - lo : t->max_key_words;
	for (size_t run = top; run > 0; run--)
		for (size_t s = hi - run + 1; s-- > lo;)
			if (skillmatch_part_lookup(t, p, s, run, hi - lo, &m[*nm])) {
				(*nm)++;
				skillmatch_stretch_match(t, p, lo, s, m, nm, max);
				skillmatch_stretch_match(t, p, s + run, hi, m, nm, max);
				return;
			}
}

static void skillmatch_part_match(const struct skillmatch_titles *t,
				  const struct skillmatch_part *p, bool whole,
				  struct skillmatch_title_match *m, size_t *nm, size_t max)
{
	if (p->prose || p->nwords == 0 || *nm >= max)
		return;
	if (!whole)
		skillmatch_stretch_match(t, p, 0, p->nwords, m, nm, max);
	else if (p->nwords <= t->max_key_words &&
		 skillmatch_part_lookup(t, p, 0, p->nwords, p->nwords, &m[*nm]))
		(*nm)++;
}

/*
 * Walks the words of title, calling part_match at each part end. known,
 * when not NULL, counts the words (level words included) and those a known
 * title uses.
 */
static size_t skillmatch_titles_walk(const struct skillmatch_titles *t, const char *title,
				     size_t len, bool whole, struct skillmatch_title_match *out,
				     size_t max, size_t *words, size_t *known)
{
	const unsigned char *s = (const unsigned char *)title;
	struct skillmatch_part p;
	size_t i = 0, nm = 0, gap = 0;

	memset(&p, 0, sizeof(p));
	while (i < len) {
		size_t a = i, n;
		char w[TITLE_WORD_MAX];
		bool amp;

		while (i < len && !skillmatch_alnum(s[i]) && s[i] != '&')
			i++;
		if (i == len)
			break;
		if (p.nwords > 0 || p.prose) {
			if (skillmatch_part_break(s + a, i - a) ||
			    (gap == 2 && i - a == 1 && s[a] == ' ')) {
				skillmatch_part_match(t, &p, whole, out, &nm, max);
				if (whole)
					return nm;
				memset(&p, 0, sizeof(p));
			}
		}
		a = i;
		amp = s[i] == '&';
		if (amp)
			i++;
		else
			while (i < len && skillmatch_alnum(s[i]))
				i++;
		if (p.nwords == 0 && !p.prose)
			p.start = a;
		p.end = i;
		/* " at " ends a part too ("Nurse at Company Name"): noted
		 * here, acted on at the next word. */
		gap = (!amp && i - a == 2 && (s[a] | 32) == 'a' && (s[a + 1] | 32) == 't' &&
		       a > 0 && s[a - 1] == ' ') ? 2 : 0;
		if (gap == 2) {
			p.end = a > 0 ? a - 1 : a;
			continue;
		}
		if (amp)
			n = 3, memcpy(w, "and", 3);
		else if (i - a > TITLE_WORD_MAX)
			n = 0; /* a URL or garbled text */
		else
			n = skillmatch_title_word(title + a, i - a, w);
		if (words != NULL) {
			(*words)++;
			*known += i - a <= TITLE_WORD_MAX &&
				  (n == 0 || skillmatch_word_known(t, w, n));
		}
		if (i - a > TITLE_WORD_MAX)
			p.prose = true;
		if (n == 0)
			continue;
		if (p.nwords == TITLE_PART_WORDS) {
			p.prose = true;
			continue;
		}
		p.off[p.nwords] = (uint16_t)(p.nwords ? p.off[p.nwords - 1] + p.len[p.nwords - 1] : 0);
		p.len[p.nwords] = (uint16_t)n;
		memcpy(p.buf + p.off[p.nwords], w, n);
		p.nwords++;
	}
	skillmatch_part_match(t, &p, whole, out, &nm, max);
	return nm;
}

size_t skillmatch_titles_match(const struct skillmatch_titles *t, const char *title,
			       size_t len, struct skillmatch_title_match *out, size_t max)
{
	return skillmatch_titles_walk(t, title, len, false, out, max, NULL, NULL);
}

int skillmatch_titles_whole(const struct skillmatch_titles *t, const char *title, size_t len,
			    struct skillmatch_title_match *m)
{
	return skillmatch_titles_walk(t, title, len, true, m, 1, NULL, NULL) == 1;
}

int skillmatch_titles_heading(const struct skillmatch_titles *t, const char *text,
			      size_t len, const char **line, size_t *n)
{
	size_t pos = 0;

	for (int seen = 0; seen < 3 && pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, words = 0, known = 0, nm;
		struct skillmatch_title_match m[4];
		bool fits = false;

		for (size_t k = pos; k < end && !fits; k++)
			fits = skillmatch_alnum((unsigned char)text[k]);
		if (fits) {
			seen++;
			nm = end - pos <= 200 ? skillmatch_titles_walk(t, text + pos, end - pos, false,
								       m, 4, &words, &known)
					      : 0;
			fits = false;
			for (size_t k = 0; k < nm; k++)
				fits |= 2 * m[k].words >= m[k].part_words;
			if (fits && words <= 12 && 3 * (words - known) <= words) {
				*line = text + pos;
				*n = end - pos;
				while (*n > 0 && (**line == ' ' || **line == '\t')) {
					(*line)++;
					(*n)--;
				}
				while (*n > 0 && ((*line)[*n - 1] == '\r' || (*line)[*n - 1] == ' '))
					(*n)--;
				return 1;
			}
		}
		pos = end + 1;
	}
	return 0;
}
