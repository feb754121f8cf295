/*
 * skillmatch: trie matching of the skills dictionary.
 *
 * All forms of all skills are normalised (ASCII lowercase; whitespace, '-'
 * and '_' folded to one space) and put in one trie.  A match must start at a
 * word boundary, so instead of an Aho-Corasick pass over every byte the scan
 * walks the trie only from word starts, and not at all inside a match already
 * taken (matches never overlap and the leftmost wins): no failure links, and
 * most walks die after a few bytes.  Bytes are folded to a small alphabet (the
 * bytes that occur in forms; case and blanks folded), and the trie is stored
 * as a double array: the child of state s by class k is cell base[s] + k if
 * that cell's check is base[s] (bases are unique, so the base names the
 * parent and the walk needs no other state).  A step is then three loads
 * and a compare with no depth-dependent branch or hash probe, which matters
 * because walks are a chain of dependent steps and take most of a scan.
 */
#include "skillmatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"

/* Longer forms are full O*NET product names that never occur in prose; the
 * cap bounds the ring of offsets a scan keeps. */
#define SKILLMATCH_MAX_FORM 128
/* How far (bytes) an ambiguous form may be from another skill and still be in
 * a skills list. */
#define SKILLMATCH_LIST_REACH 60

#define NONE UINT32_MAX

/* Bases the double-array first fit tries before it gives up on the holes
 * behind the front.  On skills.tsv more tries pack no tighter (208k cells
 * for 132k states either way) and only slow loading. */
#ifndef SKILLMATCH_FIT_TRIES
#define SKILLMATCH_FIT_TRIES 1
#endif

/* Flags of a state, kept in the high bits of its cell's check: a step
 * compares check with the parent's base, so a flagged state fails that
 * compare and only then are the flags looked at.  Unflagged steps, nearly
 * all of them, pay nothing for flags. */
#define SKILLMATCH_TERM 0x80000000u  /* a form ends in this state */
#define SKILLMATCH_SPACE 0x40000000u /* reached by the blank class */
#define SKILLMATCH_PARENT 0x3FFFFFFFu /* the parent's base in a check */

enum skillmatch_form_flag {
	FORM_LIST_ONLY = 1, /* '?' in skills.tsv */
	FORM_CAPITALISED = 2, /* '^' in skills.tsv */
	FORM_UPPER_OK = 4, /* '!': all capitals lifts the list rule ("REST") */
	/* Set by the loader: the form has '@' or ':', so a match of it must
	 * itself be searched for an address. */
	FORM_ADDR_BYTE = 8
};

/* Byte types for the scan loop, one table load per byte instead of chains
 * of compares. */
enum skillmatch_ctype {
	CT_ALNUM = 1, /* ASCII letter or digit */
	CT_START = 2  /* may begin a walk: in some form, and not a blank */
};

struct skillmatch_skill {
	const char *name;
	const char *category;
	const char *kind; /* "knowledge", "practice" or "language" */
	int hot;
};

struct skillmatch_edge {
	uint32_t key; /* node << 8 | byte; 0 = empty (root edges are not hashed) */
	uint32_t child;
};

/* One double-array cell; a state is the index of its cell, the root is 0.
 * Bases of states with children are unique and >= 1; leaves have base 0,
 * which no check holds, so every step from a leaf fails. */
struct skillmatch_cell {
	uint32_t base;  /* children at base + class */
	uint32_t check; /* parent's base | flags of this state; NONE if free */
};

struct skillmatch_table {
	struct skillmatch_edge *slots;
	uint32_t mask;
	unsigned shift; /* 32 - log2(size) */
};

struct skillmatch_dict {
	char *file; /* skills.tsv contents; names point into it */
	struct skillmatch_skill *skills;
	unsigned nskills;

	/* Compacted trie. */
	unsigned char cls[256];   /* byte -> class, 0 = in no form */
	unsigned char ctype[256]; /* enum skillmatch_ctype bits */
	uint32_t nclasses;        /* classes 1..nclasses-1 are used */
	uint32_t space_cls;       /* class of ' ' (and all blanks) */
	uint32_t ncells;          /* base + class < ncells for every state */
	struct skillmatch_cell *cells;
	uint32_t *term; /* by state: skill | flags << 24, where TERM is set */
	/* By base (so by state with children; 0 for leaves): how many leading
	 * bytes of its path are ASCII letters or digits.  A failed walk skips
	 * them: they are inside one word. */
	unsigned char *wordlen;

	/* Trie while loading, in insertion order; freed once compacted. */
	uint32_t nnodes;
	uint32_t root_next[256]; /* root edges while building, by byte */
	int32_t *term_skill;
	unsigned char *term_flags;
	struct skillmatch_table edges;

	/* canonical name -> skill id, for skillmatch_find() */
	uint32_t *name_slots;
	size_t name_mask;
};

/* ---- character classes -------------------------------------------------- */

/* One shift and mask instead of eight compares: the loader calls it per form
 * byte. */
static inline int skillmatch_is_space(unsigned char c)
{
	const uint64_t blanks = 1ull << ' ' | 1ull << '\t' | 1ull << '\n' |
				1ull << '\r' | 1ull << '\f' | 1ull << '\v' |
				1ull << '-';

	return c < 64 ? (int)(blanks >> c & 1) : c == '_';
}

static unsigned char skillmatch_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int skillmatch_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Code points that resumes and ads use as punctuation: bullets (also the
 * Wingdings ones Word leaves in the private use area), dashes, quotes, NBSP,
 * (R), arrows.  Everything else >= 0x80 is a letter, so "Pythonía" is one
 * word but "•Python" is not. */
static int skillmatch_is_punct_cp(uint32_t cp)
{
	return (cp >= 0xA0 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 ||
	       (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x21FF) ||
	       (cp >= 0x2500 && cp <= 0x27BF) || (cp >= 0x3000 && cp <= 0x303F) ||
	       (cp >= 0xE000 && cp <= 0xF8FF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
	       (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20);
}

/* Decode the UTF-8 sequence starting at s[0]; NONE when malformed. */
static uint32_t skillmatch_decode(const unsigned char *s, size_t avail)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0xC0)
		return NONE;
	if (s[0] < 0xE0) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] < 0xF0) {
		n = 3;
		cp = s[0] & 0x0F;
	} else {
		n = 4;
		cp = s[0] & 0x07;
	}
	if (n > avail)
		return NONE;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return NONE;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	return cp;
}

/* Is the character starting at text[pos] part of a word? */
static int skillmatch_word_at(const unsigned char *text, size_t len, size_t pos)
{
	uint32_t cp;

	if (pos >= len)
		return 0;
	if (text[pos] < 0x80)
		return skillmatch_is_alnum(text[pos]);
	cp = skillmatch_decode(text + pos, len - pos);
	return cp == NONE || !skillmatch_is_punct_cp(cp);
}

/* Start of the character that ends just before pos. */
static size_t skillmatch_char_before(const unsigned char *text, size_t pos)
{
	size_t start = pos - 1;

	while (start > 0 && pos - start < 4 && (text[start] & 0xC0) == 0x80)
		start--;
	return start;
}

static int skillmatch_word_before(const unsigned char *text, size_t len,
				  size_t pos)
{
	size_t start;

	if (pos == 0)
		return 0;
	if (text[pos - 1] < 0x80)
		return skillmatch_is_alnum(text[pos - 1]);
	start = skillmatch_char_before(text, pos);
	if (text[start] < 0xC0)
		return 1; /* stray continuation byte: call it a letter */
	return skillmatch_word_at(text, len, start);
}

/* ---- edge table ---------------------------------------------------------- */

/* Fibonacci hashing: one multiply, top bits.  A scan is a chain of
 * dependent lookups (each state comes from the previous one), so the hash's
 * latency is paid on every byte; the high bits of key * 2^32/phi spread the
 * dense (node, byte) keys well enough for linear probing. */
static uint32_t skillmatch_slot(const struct skillmatch_table *t, uint32_t key)
{
	return (uint32_t)(key * 2654435769u) >> t->shift;
}

static uint32_t skillmatch_table_get(const struct skillmatch_table *t,
				     uint32_t key)
{
	uint32_t i;

	for (i = skillmatch_slot(t, key); t->slots[i].key != 0;
	     i = (i + 1) & t->mask)
		if (t->slots[i].key == key)
			return t->slots[i].child;
	return NONE;
}

static void skillmatch_table_put(struct skillmatch_table *t, uint32_t key,
				 uint32_t child)
{
	uint32_t i;

	for (i = skillmatch_slot(t, key); t->slots[i].key != 0;
	     i = (i + 1) & t->mask)
		;
	t->slots[i].key = key;
	t->slots[i].child = child;
}

static int skillmatch_table_init(struct skillmatch_table *t, size_t entries)
{
	size_t size = 64;
	unsigned bits = 6;

	/* At most half full keeps linear probing short. */
	while (size < entries * 2) {
		size *= 2;
		bits++;
	}
	t->shift = 32 - bits;
	t->slots = ima_calloc(size, sizeof(*t->slots));
	t->mask = (uint32_t)(size - 1);
	return t->slots == NULL ? -1 : 0;
}

/* Edge lookup while building (insertion-order ids). */
static uint32_t skillmatch_edge_get(const struct skillmatch_dict *d,
				    uint32_t node, unsigned char c)
{
	if (node == 0)
		return d->root_next[c];
	return skillmatch_table_get(&d->edges, node << 8 | c);
}

static void skillmatch_edge_put(struct skillmatch_dict *d, uint32_t node,
				unsigned char c, uint32_t child)
{
	if (node == 0)
		d->root_next[c] = child;
	else
		skillmatch_table_put(&d->edges, node << 8 | c, child);
}

/* Edge lookup in the compacted trie, by class (< nclasses).  Class 0 needs no
 * test: cell base + 0 is never a child, so its check is never the state. */
static inline uint32_t skillmatch_next(const struct skillmatch_dict *d,
				       uint32_t state, unsigned k)
{
	uint32_t base = d->cells[state].base, t = base + k;

	return (d->cells[t].check & SKILLMATCH_PARENT) == base ? t : NONE;
}

/* ---- loading --------------------------------------------------------------- */

static void skillmatch_error(char *err, size_t errlen, const char *path,
			     size_t line, const char *detail)
{
	if (err == NULL || errlen == 0)
		return;
	if (line > 0)
		snprintf(err, errlen, "%s:%zu: %s", path, line, detail);
	else
		snprintf(err, errlen, "%s: %s", path, detail);
}

/* Normalise a form into out (SKILLMATCH_MAX_FORM bytes); returns its length,
 * 0 when empty or too long. */
static size_t skillmatch_normalise(const char *s, size_t len, unsigned char *out)
{
	size_t i, n = 0;
	int space = 1; /* drops leading blanks */

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (skillmatch_is_space(c)) {
			if (!space) {
				if (n == SKILLMATCH_MAX_FORM)
					return 0;
				out[n++] = ' ';
			}
			space = 1;
			continue;
		}
		if (n == SKILLMATCH_MAX_FORM)
			return 0;
		out[n++] = skillmatch_lower(c);
		space = 0;
	}
	if (n > 0 && out[n - 1] == ' ')
		n--;
	return n;
}

static uint64_t skillmatch_fnv(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* Growable per-node arrays used while the trie is built. */
struct skillmatch_build {
	uint32_t cap;
	uint32_t *first_child;
	uint32_t *next_sibling;
	unsigned char *byte;
};

static int skillmatch_grow(struct skillmatch_dict *d, struct skillmatch_build *b)
{
	uint32_t cap = b->cap ? b->cap * 2 : 4096;
	void *p;

#define SKILLMATCH_GROW(ptr)                                     \
	do {                                                     \
		p = ima_realloc((ptr), (size_t)cap * sizeof(*(ptr))); \
		if (p == NULL)                                   \
			return -1;                               \
		(ptr) = p;                                       \
	} while (0)
	SKILLMATCH_GROW(d->term_skill);
	SKILLMATCH_GROW(d->term_flags);
	SKILLMATCH_GROW(b->first_child);
	SKILLMATCH_GROW(b->next_sibling);
	SKILLMATCH_GROW(b->byte);
#undef SKILLMATCH_GROW
	b->cap = cap;
	return 0;
}

/* Insert a normalised form; an existing form keeps its first owner, since the
 * generator already made forms unique and a hand-edited duplicate must not
 * silently move a skill. */
static int skillmatch_insert(struct skillmatch_dict *d,
			     struct skillmatch_build *b, const unsigned char *form,
			     size_t n, unsigned skill, unsigned char flags)
{
	uint32_t node = 0, next;
	size_t i;

	for (i = 0; i < n; i++) {
		next = skillmatch_edge_get(d, node, form[i]);
		if (next == NONE) {
			if (d->nnodes == b->cap && skillmatch_grow(d, b) != 0)
				return -1;
			if ((size_t)d->nnodes * 2 > d->edges.mask ||
			    d->nnodes >= (1u << 24))
				return -2; /* table sized too small, or key overflow */
			next = d->nnodes++;
			d->term_skill[next] = -1;
			d->term_flags[next] = 0;
			b->first_child[next] = NONE;
			b->byte[next] = form[i];
			b->next_sibling[next] = b->first_child[node];
			b->first_child[node] = next;
			skillmatch_edge_put(d, node, form[i], next);
		}
		node = next;
	}
	if (d->term_skill[node] < 0) {
		d->term_skill[node] = (int32_t)skill;
		d->term_flags[node] = flags;
	}
	return 0;
}

/* Double-array layout in progress.  skip[] is a union-find forest over
 * cells pointing forward to a free cell, so the first fit visits only free
 * cells: scanning used ones made loading quadratic. */
struct skillmatch_layout {
	uint32_t cap;
	uint32_t *skip;  /* over cells: next free cell */
	uint32_t *bskip; /* over bases: next unused base */
};

/* Make room for cells below need; new cells are free. */
static int skillmatch_cells_grow(struct skillmatch_dict *d,
				 struct skillmatch_layout *l, uint32_t need)
{
	uint32_t ncap = l->cap ? l->cap : 1024, i;
	uint32_t **skip = &l->skip, *cap = &l->cap;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = ima_realloc(d->cells, (size_t)ncap * sizeof(*d->cells));
	if (p == NULL)
		return -1;
	d->cells = p;
	p = ima_realloc(d->term, (size_t)ncap * sizeof(*d->term));
	if (p == NULL)
		return -1;
	d->term = p;
	p = ima_realloc(d->wordlen, (size_t)ncap * sizeof(*d->wordlen));
	if (p == NULL)
		return -1;
	d->wordlen = p;
	p = ima_realloc(*skip, (size_t)ncap * sizeof(**skip));
	if (p == NULL)
		return -1;
	*skip = p;
	p = ima_realloc(l->bskip, (size_t)ncap * sizeof(*l->bskip));
	if (p == NULL)
		return -1;
	l->bskip = p;
	for (i = *cap; i < ncap; i++) {
		l->bskip[i] = i;
		(*skip)[i] = i;
		d->cells[i].base = 0;
		d->cells[i].check = NONE;
		d->term[i] = 0;
		d->wordlen[i] = 0;
	}
	*cap = ncap;
	return 0;
}

/* First free cell (or unused base) at or after f; path halving keeps the
 * chains short. */
static uint32_t skillmatch_free_from(uint32_t *skip, uint32_t f)
{
	while (skip[f] != f) {
		skip[f] = skip[skip[f]];
		f = skip[f];
	}
	return f;
}

/* Fold the bytes of the forms into classes and lay the trie out as a double
 * array, placing states in breadth-first order (parents before children, and
 * the shallow states every walk passes through close together).  Each state's
 * children go at the first base where all their cells are free. */
static int skillmatch_compact(struct skillmatch_dict *d,
			      struct skillmatch_build *b)
{
	uint32_t *order, *cell_of = NULL, head = 0, tail = 0, u, v, i, c;
	uint32_t base, kmin, maxbase = 0, nk, j, tries;
	unsigned char used[256], ks[256], alnum_cls[256], *allword = NULL, *wln, *addr;
	uint32_t flag;
	struct skillmatch_layout l = { 0, NULL, NULL };
	uint32_t lo;
	int rc = -1;

	order = ima_malloc((size_t)d->nnodes * sizeof(*order));
	cell_of = ima_malloc((size_t)d->nnodes * sizeof(*cell_of));
	/* By build node: is the whole path ASCII letters and digits, and how
	 * many of its leading bytes are. */
	allword = ima_malloc(3 * (size_t)d->nnodes);
	if (order == NULL || cell_of == NULL || allword == NULL)
		goto out;
	wln = allword + d->nnodes;
	addr = wln + d->nnodes;
	allword[0] = 1;
	wln[0] = 0;
	addr[0] = 0;
	memset(used, 0, sizeof(used));
	order[tail++] = 0;
	while (head < tail) {
		u = order[head++];
		for (v = b->first_child[u]; v != NONE; v = b->next_sibling[v]) {
			order[tail++] = v;
			used[b->byte[v]] = 1;
		}
	}
	/* Class 0 means "no form has this byte": the walk stops there.  Text
	 * bytes fold like forms: upper case to lower, blanks to ' '. */
	memset(d->cls, 0, sizeof(d->cls));
	d->nclasses = 1;
	for (c = 0; c < 256; c++)
		if (used[c])
			d->cls[c] = (unsigned char)d->nclasses++;
	for (c = 0; c < 256; c++) {
		if (c >= 'A' && c <= 'Z')
			d->cls[c] = d->cls[c + 32];
		else if (skillmatch_is_space((unsigned char)c))
			d->cls[c] = d->cls[' '];
	}
	d->space_cls = d->cls[' '];
	memset(alnum_cls, 0, sizeof(alnum_cls));
	for (c = 0; c < 256; c++)
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			alnum_cls[d->cls[c]] = d->cls[c] != 0;
	for (c = 0; c < 256; c++)
		d->ctype[c] = (unsigned char)(((c >= 'a' && c <= 'z') ||
					       (c >= 'A' && c <= 'Z') ||
					       (c >= '0' && c <= '9') ? CT_ALNUM : 0) |
					      (d->cls[c] != 0 &&
					       !skillmatch_is_space((unsigned char)c) ?
						       CT_START : 0));

	if (d->nskills >= 1u << 24 ||
	    skillmatch_cells_grow(d, &l, 1024) != 0 ||
	    skillmatch_cells_grow(d, &l, d->nnodes + 2 * d->nclasses) != 0)
		goto out;
	cell_of[0] = 0;
	l.skip[0] = 1; /* the root's cell */
	l.bskip[0] = 1; /* leaves' base */
	for (i = 0; i < d->nnodes; i++) {
		u = order[i];
		nk = 0;
		kmin = 256;
		for (v = b->first_child[u]; v != NONE; v = b->next_sibling[v]) {
			ks[nk] = d->cls[b->byte[v]];
			if (ks[nk] < kmin)
				kmin = ks[nk];
			nk++;
		}
		base = 0; /* a leaf: no cell has it as check, any base fails */
		if (nk > 0) {
			/* First fit, trying the bases that put the smallest
			 * class on a free cell. */
			/* First fit over unused bases, from the one that puts
			 * the smallest class on the first free cell. */
			lo = skillmatch_free_from(l.skip, 1);
			base = lo > kmin ? lo - kmin : 1;
			for (tries = 0;; base++, tries++) {
				/* Holes whose base is taken pile up behind the
				 * front; after a few misses go past every used
				 * cell and base, where anything fits. */
				if (tries == SKILLMATCH_FIT_TRIES && base <= maxbase)
					base = maxbase + 1;
				base = skillmatch_free_from(l.bskip, base);
				if (base + d->nclasses + 2 > l.cap &&
				    skillmatch_cells_grow(d, &l,
							  base + d->nclasses + 2) != 0)
					goto out;
				for (j = 0; j < nk; j++)
					if (d->cells[base + ks[j]].check != NONE)
						break;
				if (j == nk)
					break;
			}
			l.bskip[base] = base + 1;
			d->wordlen[base] = wln[u];
			for (v = b->first_child[u]; v != NONE; v = b->next_sibling[v]) {
				c = d->cls[b->byte[v]];
				cell_of[v] = base + c;
				l.skip[cell_of[v]] = cell_of[v] + 1;
				flag = c == d->space_cls ? SKILLMATCH_SPACE : 0;
				if (d->term_skill[v] >= 0)
					flag |= SKILLMATCH_TERM;
				d->cells[cell_of[v]].check = base | flag;
				/* Forms are at most SKILLMATCH_MAX_FORM bytes. */
				allword[v] = allword[u] && alnum_cls[c];
				wln[v] = (unsigned char)(allword[v] ? wln[u] + 1 :
								      wln[u]);
				addr[v] = addr[u] || b->byte[v] == '@' ||
					  b->byte[v] == ':';
			}
			if (base > maxbase)
				maxbase = base;
		}
		/* A base must never equal the masked check of a free cell. */
		if (maxbase >= SKILLMATCH_PARENT - 256)
			goto out;
		d->cells[cell_of[u]].base = base;
		if (d->term_skill[u] >= 0)
			d->term[cell_of[u]] = (uint32_t)d->term_skill[u] |
					      (uint32_t)(d->term_flags[u] |
							 (addr[u] ? FORM_ADDR_BYTE : 0))
						      << 24;
	}
	/* Every base + class must index a cell, leaves' base 0 included. */
	d->ncells = maxbase + d->nclasses;

	if (d->ncells < d->nclasses + 1)
		d->ncells = d->nclasses + 1;
	rc = 0;
out:
	ima_free(order);
	ima_free(cell_of);
	ima_free(allword);
	ima_free(l.skip);
	ima_free(l.bskip);
	return rc;
}

static int skillmatch_index_names(struct skillmatch_dict *d)
{
	size_t size = 16, i;
	unsigned s;

	while (size < (size_t)d->nskills * 2)
		size *= 2;
	d->name_slots = ima_malloc(size * sizeof(*d->name_slots));
	if (d->name_slots == NULL)
		return -1;
	memset(d->name_slots, 0xFF, size * sizeof(*d->name_slots));
	d->name_mask = size - 1;
	for (s = 0; s < d->nskills; s++) {
		const char *name = d->skills[s].name;

		for (i = skillmatch_fnv(name, strlen(name)) & d->name_mask;
		     d->name_slots[i] != NONE; i = (i + 1) & d->name_mask)
			;
		d->name_slots[i] = s;
	}
	return 0;
}

char *skillmatch_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			char *p = ima_realloc(buf, cap = cap ? cap * 2 : 1 << 20);

			if (p == NULL) {
				ima_free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		ima_free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Release the insertion-order trie once the automaton is compacted. */
static void skillmatch_free_build(struct skillmatch_dict *d)
{
	ima_free(d->term_skill);
	ima_free(d->term_flags);
	ima_free(d->edges.slots);
	d->term_skill = NULL;
	d->term_flags = NULL;
	d->edges.slots = NULL;
}

struct skillmatch_dict *skillmatch_load(const char *path, char *err,
					size_t errlen)
{
	struct skillmatch_dict *d;
	struct skillmatch_build b = { 0, NULL, NULL, NULL };
	unsigned char form[SKILLMATCH_MAX_FORM];
	size_t len, pass, line, total_bytes;
	char *p, *end, *eol, *cols[5], *q;
	int rc, ncol;

	d = ima_calloc(1, sizeof(*d));
	if (d == NULL) {
		skillmatch_error(err, errlen, path, 0, "out of memory");
		return NULL;
	}
	d->file = skillmatch_read_file(path, &len);
	if (d->file == NULL) {
		skillmatch_error(err, errlen, path, 0, strerror(errno));
		ima_free(d);
		return NULL;
	}
	end = d->file + len;

	/* Pass 0 counts skills and form bytes to size the tables; pass 1 cuts
	 * the buffer into strings in place and fills the trie. */
	total_bytes = 0;
	for (pass = 0; pass < 2; pass++) {
		line = 0;
		for (p = d->file; p < end; p = eol + 1) {
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL)
				eol = end;
			line++;
			if (eol == p || *p == '#' ||
			    (eol - p == 1 && p[0] == '\r'))
				continue;
			if (pass == 0) {
				/* Line bytes bound the form bytes, which bound
				 * the states. */
				d->nskills++;
				total_bytes += (size_t)(eol - p);
				continue;
			}
			*eol = '\0';
			if (eol > p && eol[-1] == '\r')
				eol[-1] = '\0';
			ncol = 0;
			for (q = p; ncol < 5; q++) {
				cols[ncol++] = q;
				q = strchr(q, '\t');
				if (q == NULL)
					break;
				*q = '\0';
			}
			/* The kind column came later: a 4-column file still
			 * loads, every skill then being knowledge unless its
			 * category says otherwise. */
			if (ncol < 4 || (ncol == 5 && strchr(cols[4], '\t') != NULL) ||
			    *cols[0] == '\0') {
				skillmatch_error(err, errlen,
						 path, line,
						 "expected 4 or 5 tab-separated columns: name, category, hot, forms, kind");
				goto fail;
			}
			if (ncol == 5 && strcmp(cols[4], "knowledge") != 0 &&
			    strcmp(cols[4], "practice") != 0 &&
			    strcmp(cols[4], "language") != 0) {
				skillmatch_error(err, errlen, path, line,
						 "kind must be knowledge, practice or language");
				goto fail;
			}
			if (strcmp(cols[2], "Y") != 0 && strcmp(cols[2], "N") != 0) {
				skillmatch_error(err, errlen, path,
						 line, "hot flag must be Y or N");
				goto fail;
			}
			d->skills[d->nskills].name = cols[0];
			d->skills[d->nskills].category = cols[1];
			d->skills[d->nskills].hot = cols[2][0] == 'Y';
			d->skills[d->nskills].kind =
				ncol == 5 ? cols[4] :
				strcmp(cols[1], "methodology") == 0 ? "practice" :
				strcmp(cols[1], "human-language") == 0 ? "language" :
									  "knowledge";
			for (q = cols[3]; *q != '\0';) {
				char *bar = strchr(q, '|');
				size_t flen = bar ? (size_t)(bar - q) : strlen(q);
				unsigned char flags = 0;
				size_t n;

				for (; flen > 0 && (*q == '?' || *q == '^' || *q == '!');
				     q++, flen--)
					flags |= *q == '?' ? FORM_LIST_ONLY :
						 *q == '^' ? FORM_CAPITALISED :
							     FORM_UPPER_OK;
				n = skillmatch_normalise(q, flen, form);
				if (n > 0) {
					rc = skillmatch_insert(d, &b, form, n,
							       d->nskills, flags);
					if (rc != 0) {
						skillmatch_error(err, errlen, path, line, "out of memory");
						goto fail;
					}
				}
				q += flen;
				if (*q == '|')
					q++;
			}
			d->nskills++;
		}
		if (pass == 0) {
			if (d->nskills == 0) {
				skillmatch_error(err, errlen, path,
						 line, "no skills");
				goto fail;
			}
			d->skills = ima_calloc(d->nskills, sizeof(*d->skills));
			/* States <= form bytes. */
			if (d->skills == NULL ||
			    skillmatch_table_init(&d->edges, total_bytes) != 0 ||
			    skillmatch_grow(d, &b) != 0) {
				skillmatch_error(err, errlen, path,
						 0, "out of memory");
				goto fail;
			}
			memset(d->root_next, 0xFF, sizeof(d->root_next));
			d->nnodes = 1;
			d->term_skill[0] = -1;
			d->term_flags[0] = 0;
			b.first_child[0] = NONE;
			d->nskills = 0;
		}
	}
	if (skillmatch_compact(d, &b) != 0 || skillmatch_index_names(d) != 0) {
		skillmatch_error(err, errlen, path, 0, "out of memory");
		goto fail;
	}
	skillmatch_free_build(d);
	ima_free(b.first_child);
	ima_free(b.next_sibling);
	ima_free(b.byte);
	return d;
fail:
	ima_free(b.first_child);
	ima_free(b.next_sibling);
	ima_free(b.byte);
	skillmatch_free(d);
	return NULL;
}

void skillmatch_free(struct skillmatch_dict *d)
{
	if (d == NULL)
		return;
	skillmatch_free_build(d);
	ima_free(d->file);
	ima_free(d->skills);
	ima_free(d->cells);
	ima_free(d->term);
	ima_free(d->wordlen);
	ima_free(d->name_slots);
	ima_free(d);
}

unsigned skillmatch_count(const struct skillmatch_dict *d)
{
	return d->nskills;
}

const char *skillmatch_name(const struct skillmatch_dict *d, unsigned skill_id)
{
	return skill_id < d->nskills ? d->skills[skill_id].name : NULL;
}

const char *skillmatch_category(const struct skillmatch_dict *d,
				unsigned skill_id)
{
	return skill_id < d->nskills ? d->skills[skill_id].category : NULL;
}

int skillmatch_hot(const struct skillmatch_dict *d, unsigned skill_id)
{
	return skill_id < d->nskills && d->skills[skill_id].hot;
}

const char *skillmatch_kind(const struct skillmatch_dict *d, unsigned skill_id)
{
	return skill_id < d->nskills ? d->skills[skill_id].kind : NULL;
}

/* ---- lookup ---------------------------------------------------------------- */

static int skillmatch_exact(const struct skillmatch_dict *d,
			    const unsigned char *form, size_t n)
{
	uint32_t node = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n && node != NONE; i++)
		node = d->cls[form[i]] == 0 ? NONE :
					      skillmatch_next(d, node, d->cls[form[i]]);
	if (node == NONE || node == 0 ||
	    !(d->cells[node].check & SKILLMATCH_TERM))
		return -1;
	return (int)(d->term[node] & 0xFFFFFF);
}

static int skillmatch_is_edge_junk(unsigned char c)
{
	return c == ' ' || c == '"' || c == '\'' || c == '(' || c == ')' ||
	       c == '[' || c == ']' || c == ',' || c == ';' || c == ':' ||
	       c == '!' || c == '?' || c == '*' || c == '.';
}

int skillmatch_lookup(const struct skillmatch_dict *d, const char *name,
		      size_t len)
{
	unsigned char form[SKILLMATCH_MAX_FORM];
	size_t n, start = 0;
	int id;

	n = skillmatch_normalise(name, len, form);
	id = skillmatch_exact(d, form, n);
	if (id >= 0 || n == 0)
		return id;
	/* Quotes, brackets and sentence punctuation around the name; a leading
	 * '.' is kept as long as it could be ".NET". */
	while (n > 0 && skillmatch_is_edge_junk(form[n - 1]))
		n--;
	while (start < n && skillmatch_is_edge_junk(form[start]) &&
	       !(form[start] == '.' && start + 1 < n &&
		 skillmatch_is_alnum(form[start + 1])))
		start++;
	id = skillmatch_exact(d, form + start, n - start);
	if (id >= 0)
		return id;
	if (n - start > 3 && form[n - 1] == 's')
		id = skillmatch_exact(d, form + start, n - start - 1);
	return id;
}

int skillmatch_find(const struct skillmatch_dict *d, const char *name,
		    size_t len)
{
	size_t i;
	uint32_t s;

	for (i = skillmatch_fnv(name, len) & d->name_mask;
	     (s = d->name_slots[i]) != NONE; i = (i + 1) & d->name_mask) {
		const char *cand = d->skills[s].name;

		if (strncmp(cand, name, len) == 0 && cand[len] == '\0')
			return (int)s;
	}
	return -1;
}

/* ---- scanning -------------------------------------------------------------- */

struct skillmatch_candidate {
	uint32_t len; /* bytes of text, 0 = none */
	int32_t skill;
	unsigned char flags;
};

struct skillmatch_found {
	size_t offset, len;
	unsigned skill;
	unsigned char flags;
	unsigned char punct_ok; /* list punctuation on both sides */
	unsigned char accepted;
	unsigned char rejected; /* failed a hard rule: no context can save it */
};

static int skillmatch_is_list_punct(unsigned char c)
{
	return c == ',' || c == ';' || c == '/' || c == '|' || c == '(' ||
	       c == ')' || c == '[' || c == ']' || c == ':' || c == '*' ||
	       c == '&' || c == '+' || c == '-' || c == '.';
}

static int skillmatch_is_conjunction(const unsigned char *w, size_t n)
{
	return (n == 3 && skillmatch_lower(w[0]) == 'a' &&
		skillmatch_lower(w[1]) == 'n' && skillmatch_lower(w[2]) == 'd') ||
	       (n == 2 && skillmatch_lower(w[0]) == 'o' &&
		skillmatch_lower(w[1]) == 'r');
}

/* Left side of a list item: line start, list punctuation (not ')' or '.'),
 * a bullet-like UTF-8 character, or the word "and"/"or". */
static int skillmatch_list_left(const unsigned char *text, size_t len,
				size_t pos)
{
	size_t k = pos, w;
	unsigned char c;

	while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t' ||
			 text[k - 1] == '\r'))
		k--;
	if (k == 0 || text[k - 1] == '\n')
		return 1;
	c = text[k - 1];
	if (c >= 0x80)
		return !skillmatch_word_before(text, len, k);
	if (skillmatch_is_list_punct(c))
		return c != ')' && c != '.';
	w = k;
	while (w > 0 && skillmatch_is_alnum(text[w - 1]))
		w--;
	return skillmatch_is_conjunction(text + w, k - w);
}

/* Right side: line end, list punctuation except '&' (so "R&D" is no list),
 * a UTF-8 punctuation character, or "and"/"or". */
static int skillmatch_list_right(const unsigned char *text, size_t len,
				 size_t pos)
{
	size_t k = pos, w;
	unsigned char c;

	while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r'))
		k++;
	if (k == len || text[k] == '\n')
		return 1;
	c = text[k];
	if (c >= 0x80)
		return !skillmatch_word_at(text, len, k);
	if (skillmatch_is_list_punct(c))
		return c != '&' && c != '+' && c != '-';
	w = k;
	while (w < len && skillmatch_is_alnum(text[w]))
		w++;
	return skillmatch_is_conjunction(text + k, w - k);
}

static int skillmatch_is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

/* Is the match inside a URL or an e-mail address ("https://...",
 * "name@python.org", "www.java.com")?  Resumes carry profile links whose
 * scheme "https" is also the name of a skill. */
static int skillmatch_in_address(const unsigned char *text, size_t len,
				 size_t start, size_t end, int addr_bytes)
{
	/* Bytes that can make an address: the common case, a token without
	 * them, is settled in the pass that finds the token's ends. */
	static const unsigned char addr[256] = { ['@'] = 1, [':'] = 1 };
	size_t a = start, b = end, i;
	size_t lo = start > 256 ? start - 256 : 0;
	size_t hi = len - end > 256 ? end + 256 : len;
	unsigned seen = 0;

	while (a > lo && text[a - 1] > ' ')
		seen |= addr[text[--a]];
	while (b < hi && text[b] > ' ')
		seen |= addr[text[b++]];
	if (addr_bytes)
		for (i = start; i < end; i++)
			seen |= addr[text[i]];
	if (b - a > 4 && skillmatch_lower(text[a]) == 'w' &&
	    skillmatch_lower(text[a + 1]) == 'w' &&
	    skillmatch_lower(text[a + 2]) == 'w' && text[a + 3] == '.')
		return 1;
	if (!seen)
		return 0;
	for (i = a; i < b; i++) {
		if (text[i] == '@' && i > a && i + 1 < b &&
		    skillmatch_is_alnum(text[i - 1]) &&
		    skillmatch_is_alnum(text[i + 1]))
			return 1;
		if (text[i] == ':' && i + 2 < b && text[i + 1] == '/' &&
		    text[i + 2] == '/')
			return 1;
	}
	return 0;
}

/* Every word of the match starts with a capital ("After the Deadline" is a
 * product, "after the deadline" is not). */
static int skillmatch_capitalised(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((i == 0 || skillmatch_is_space(s[i - 1])) &&
		    s[i] >= 'a' && s[i] <= 'z')
			return 0;
	return skillmatch_is_upper(s[0]);
}

static int skillmatch_all_upper(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			return 0;
	return 1;
}

/* Only blanks and punctuation, at most 3 bytes, between two matches: the
 * tokenised "Scala Java Go" or "Java (Spring)" lists without commas. */
static int skillmatch_adjacent(const unsigned char *text, size_t len,
			       size_t from, size_t to)
{
	size_t i;

	if (to < from || to - from > 3)
		return 0;
	for (i = from; i < to; i++)
		if (skillmatch_word_at(text, len, i))
			return 0;
	return 1;
}

/* Decide which ambiguous and capitalised-only matches stand. */
static void skillmatch_filter(const unsigned char *text, size_t len,
			      struct skillmatch_found *f, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		f[i].accepted = 1;
		f[i].punct_ok = 0;
		f[i].rejected = 1;
		if (skillmatch_in_address(text, len, f[i].offset,
					  f[i].offset + f[i].len,
					  f[i].flags & FORM_ADDR_BYTE)) {
			f[i].accepted = 0;
			continue;
		}
		if ((f[i].flags & (FORM_CAPITALISED | FORM_LIST_ONLY)) &&
		    !skillmatch_capitalised(text + f[i].offset, f[i].len) &&
		    ((f[i].flags & FORM_CAPITALISED) || f[i].len == 1)) {
			/* "excel at", a lowercase "c" */
			f[i].accepted = 0;
			continue;
		}
		f[i].rejected = 0;
		if ((f[i].flags & FORM_LIST_ONLY) && (f[i].flags & FORM_UPPER_OK) &&
		    skillmatch_all_upper(text + f[i].offset, f[i].len))
			continue;
		if (f[i].flags & FORM_LIST_ONLY) {
			f[i].punct_ok =
				skillmatch_list_left(text, len, f[i].offset) &&
				skillmatch_list_right(text, len,
						      f[i].offset + f[i].len);
			f[i].accepted = 0;
		}
	}
	/* A list has more than one item: an ambiguous form needs a neighbour
	 * that is a skill on its own, or another ambiguous one in list
	 * punctuation ("Go, Rust"). */
	for (i = 0; i < n; i++) {
		if (!(f[i].flags & FORM_LIST_ONLY) || f[i].accepted ||
		    f[i].rejected)
			continue;
		if ((i > 0 && f[i - 1].accepted &&
		     !(f[i - 1].flags & FORM_LIST_ONLY) &&
		     skillmatch_adjacent(text, len, f[i - 1].offset + f[i - 1].len,
					 f[i].offset)) ||
		    (i + 1 < n && f[i + 1].accepted &&
		     !(f[i + 1].flags & FORM_LIST_ONLY) &&
		     skillmatch_adjacent(text, len, f[i].offset + f[i].len,
					 f[i + 1].offset))) {
			f[i].accepted = 1;
			continue;
		}
		if (!f[i].punct_ok)
			continue;
		for (j = i; j-- > 0;) {
			if (f[i].offset - (f[j].offset + f[j].len) >
			    SKILLMATCH_LIST_REACH)
				break;
			if ((f[j].accepted && !(f[j].flags & FORM_LIST_ONLY)) ||
			    f[j].punct_ok) {
				f[i].accepted = 1;
				break;
			}
		}
		for (j = i + 1; !f[i].accepted && j < n; j++) {
			if (f[j].offset - (f[i].offset + f[i].len) >
			    SKILLMATCH_LIST_REACH)
				break;
			if ((f[j].accepted && !(f[j].flags & FORM_LIST_ONLY)) ||
			    f[j].punct_ok)
				f[i].accepted = 1;
		}
	}
}

/* Is text[pos] the start of a word character?  Asked where a form ends. */
static int skillmatch_word_after(const struct skillmatch_dict *d,
				 const unsigned char *text, size_t len,
				 size_t pos)
{
	if (pos >= len)
		return 0;
	if (text[pos] < 0x80)
		return d->ctype[text[pos]] & CT_ALNUM;
	return skillmatch_word_at(text, len, pos);
}

/* Candidate list of a scan: most texts have a few dozen matches, so it
 * starts in a stack buffer and goes to the heap only when that fills. */
struct skillmatch_found_list {
	struct skillmatch_found *v;
	size_t n, cap;
	struct skillmatch_found local[128];
};

/* Append a candidate; kept out of the scan loop, which it would crowd with
 * registers for a rare event. */
static int skillmatch_push(struct skillmatch_found_list *l, size_t offset,
			   size_t len, uint32_t info)
{
	struct skillmatch_found *grown;

	if (l->n == l->cap) {
		grown = l->v == l->local ?
				ima_malloc(2 * l->cap * sizeof(*grown)) :
				ima_realloc(l->v, 2 * l->cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		if (l->v == l->local)
			memcpy(grown, l->local, sizeof(l->local));
		l->v = grown;
		l->cap *= 2;
	}
	l->v[l->n].offset = offset;
	l->v[l->n].len = len;
	l->v[l->n].skill = info & 0xFFFFFF;
	l->v[l->n].flags = (unsigned char)(info >> 24);
	l->n++;
	return 0;
}

int skillmatch_scan(const struct skillmatch_dict *d, const char *text_in,
		    size_t len, void (*cb)(const struct skillmatch_hit *hit, void *arg),
		    void *arg)
{
	const unsigned char *text = (const unsigned char *)text_in;
	const unsigned char *end = text + len, *p = text, *q, *best;
	const unsigned char *ctype = d->ctype, *cls = d->cls;
	const struct skillmatch_cell *cells = d->cells;
	const uint32_t root_base = cells[0].base;
	struct skillmatch_found_list list;
	struct skillmatch_found *found;
	size_t nfound, i;
	uint32_t base, t, check, info = 0;
	unsigned ct;
	struct skillmatch_hit hit;

	list.v = list.local;
	list.n = 0;
	list.cap = sizeof(list.local) / sizeof(list.local[0]);
	while (p < end) {
		/* A match starts at a word start (or at punctuation that begins
		 * a form, ".NET"); blanks and bytes in no form never start one. */
		ct = ctype[*p];
		if (!(ct & CT_START)) {
			p++;
			continue;
		}
		if (p > text && (p[-1] < 0x80 ? (ctype[p[-1]] & CT_ALNUM) :
				 skillmatch_word_before(text, len,
							(size_t)(p - text)))) {
			q = p + 1;
			goto skip_word;
		}
		/* Walk the trie for the longest form from p that ends at a
		 * word boundary. */
		q = p;
		best = NULL;
		base = root_base;
		for (;;) {
			/* The hot loop: plain edges, whose check is exactly the
			 * parent's base; kept small so a step is three loads
			 * and one compare. */
			while (q < end) {
				t = base + cls[*q];
				if (cells[t].check != base)
					goto unusual;
				base = cells[t].base;
				q++;
			}
			break;
unusual:
			check = cells[t].check;
			if ((check & SKILLMATCH_PARENT) != base)
				break; /* no edge; class 0 too: base + 0 is never a child */
			base = cells[t].base;
			q++;
			if (check & SKILLMATCH_SPACE) {
				/* A run of blanks is one space; no form ends in
				 * one. */
				while (q < end && cls[*q] == d->space_cls)
					q++;
			} else if (!skillmatch_word_after(d, text, len,
							  (size_t)(q - text))) {
				best = q;
				info = d->term[t];
			}
		}
		if (best != NULL) {
			if (skillmatch_push(&list, (size_t)(p - text),
					    (size_t)(best - p), info) != 0) {
				if (list.v != list.local)
					ima_free(list.v);
				errno = ENOMEM;
				return -1;
			}
			/* Matches never overlap: go on after this one. */
			p = best;
			continue;
		}
		/* The leading letters and digits walked are inside the word
		 * that starts at p: none of them can start a match. */
		q = p + (d->wordlen[base] ? d->wordlen[base] : 1);
skip_word:
		/* Nor can the rest of an ASCII word. */
		if (ct & CT_ALNUM)
			while (q < end && (ctype[*q] & CT_ALNUM))
				q++;
		p = q;
	}
	found = list.v;
	nfound = list.n;
	skillmatch_filter(text, len, found, nfound);
	for (i = 0; i < nfound; i++) {
		if (!found[i].accepted)
			continue;
		hit.skill_id = found[i].skill;
		hit.offset = found[i].offset;
		hit.len = found[i].len;
		cb(&hit, arg);
	}
	if (found != list.local)
		ima_free(found);
	return 0;
}
