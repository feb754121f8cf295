/*
 * llm_guard.c - the grounding guard of LLM-written text (llm_guard.h).
 *
 * The facts are three things, built in one pass over the request's texts
 * and deterministic analysis:
 *   - the words, lower case, as one string " w1 w2 ... " so that a phrase
 *     or a word is found with one memmem() whatever the case, spacing or
 *     punctuation of either side ("Cascade Analytics, Inc." holds
 *     "cascade analytics");
 *   - the numbers, as sorted keys (the value times 1000, rounded), so that
 *     "40%", "40 %", "1,200", "1200", "$2.5M" and "2,500,000" compare by
 *     value;
 *   - the degree levels named (bachelor, master, MBA, doctorate,
 *     associate).
 *
 * An LLM string is then read once: numbers are looked up and replaced when
 * absent; runs of capitalised words that claim an organisation or a job
 * title, and degrees, are looked up and condemn the string when absent.
 * What is checked is deliberately narrow: a capitalised word that is only
 * a skill, a product or a place is never a claim, because dropping good
 * suggestions costs the user as surely as an invented one does.
 */
/* memmem, strcasestr */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "llm_guard.h"
#include "skillmatch.h"
#include "skillmatch_data.h"

/* No LLM field is this long; a longer string is not read, it is dropped. */
#define GUARD_MAX_STRING 65536
/* Claims looked up per string: past this the string is dropped unread. */
#define GUARD_MAX_CLAIMS 64
/* Deeper than any answer schema; the core stops msgpack at 32. */
#define GUARD_MAX_DEPTH 64
/* Words in one run of capitalised words that are looked at. */
#define GUARD_MAX_RUN 12

enum {
	DEG_ASSOCIATE = 1 << 0,
	DEG_BACHELOR = 1 << 1,
	DEG_MASTER = 1 << 2,
	DEG_MBA = 1 << 3,
	DEG_DOCTORATE = 1 << 4,
};

struct llm_guard {
	char *words;      /* " w1 w2 ... ": lower case, one space apart */
	size_t nwords;    /* bytes of words */
	int64_t *numbers; /* sorted, unique */
	size_t nnumbers;
	unsigned degrees;
	bool owned;       /* ima_malloc'd (llm_guard_from_texts) */
};

/* ---- the skill dictionary: shared data, held once per plugin ---- */

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct skillmatch_dict *guard_skills;
static unsigned guard_opens;

int llm_guard_open(char *err, size_t errlen)
{
	char path[4096];
	int rc = 0;

	pthread_mutex_lock(&guard_lock);
	if (guard_opens == 0) {
		if (ima_data_path("skills.tsv", path, sizeof(path)) != 0) {
			snprintf(err, errlen, "llm_guard: %s not found", path);
			rc = -1;
		} else if ((guard_skills = skillmatch_dict_acquire(path, err, errlen)) == NULL) {
			rc = -1;
		}
	}
	if (rc == 0)
		guard_opens++;
	pthread_mutex_unlock(&guard_lock);
	return rc;
}

void llm_guard_close(void)
{
	pthread_mutex_lock(&guard_lock);
	if (guard_opens > 0 && --guard_opens == 0) {
		ima_data_release(guard_skills);
		guard_skills = NULL;
	}
	pthread_mutex_unlock(&guard_lock);
}

/* ---- word lists ---- */

/*
 * The word lists below, indexed by first letter once per process, since
 * guard_in() is asked about every capitalised word of every answer: a
 * list's entries starting with letter c are idx[off[c] .. off[c + 1]).
 * Entries not starting with a-z go in bucket 26.
 */
#define GUARD_LISTS 12
#define GUARD_LIST_MAX 256
struct guard_index {
	const char *const *list;
	unsigned short off[28];
	unsigned char idx[GUARD_LIST_MAX];
};
static struct guard_index guard_indexes[GUARD_LISTS];
static size_t guard_nindexes;
static pthread_once_t guard_index_once = PTHREAD_ONCE_INIT;

static unsigned guard_bucket(unsigned char c)
{
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'z' ? (unsigned)(c - 'a') : 26;
}

static void guard_index_add(const char *const *list)
{
	struct guard_index *x = &guard_indexes[guard_nindexes++];
	unsigned short count[28] = { 0 };
	size_t n = 0;

	x->list = list;
	while (n < GUARD_LIST_MAX && list[n] != NULL)
		count[guard_bucket((unsigned char)list[n++][0]) + 1]++;
	/* A list too long for the index is searched whole, never in part. */
	if (list[n] != NULL) {
		guard_nindexes--;
		return;
	}
	for (unsigned b = 1; b < 28; b++)
		x->off[b] = (unsigned short)(x->off[b - 1] + count[b]);
	memcpy(count, x->off, sizeof(count));
	for (size_t i = 0; i < n; i++)
		x->idx[count[guard_bucket((unsigned char)list[i][0])]++] = (unsigned char)i;
}

static void guard_index_build(void);

static bool guard_in(const char *const *list, const char *w, size_t n)
{
	const struct guard_index *x = NULL;
	unsigned b;

	if (n == 0)
		return false;
	pthread_once(&guard_index_once, guard_index_build);
	for (size_t i = 0; i < guard_nindexes && x == NULL; i++)
		if (guard_indexes[i].list == list)
			x = &guard_indexes[i];
	if (x == NULL) {
		for (; *list != NULL; list++)
			if (anautil_eq_ci(w, n, *list))
				return true;
		return false;
	}
	b = guard_bucket((unsigned char)w[0]);
	for (unsigned k = x->off[b]; k < x->off[b + 1]; k++)
		if (anautil_eq_ci(w, n, list[x->idx[k]]))
			return true;
	return false;
}

/*
 * Capitalised words that are not names: sentence openers, headings, the
 * verbs suggestions begin with. A run's first word is dropped when it is
 * one of these, and they never need to be facts.
 */
static const char *const guard_common[] = {
	"a", "an", "the", "this", "that", "these", "those", "our", "we", "you",
	"your", "my", "i", "it", "its", "their", "they", "he", "she", "his",
	"her", "in", "on", "at", "for", "with", "by", "to", "from", "of", "and",
	"or", "but", "as", "if", "when", "while", "after", "before", "over",
	"under", "across", "through", "via", "per", "into", "within", "without",
	"also", "then", "each", "every", "all", "any", "some", "no", "not",
	"yes", "both", "more", "most", "less", "new", "key", "core", "main",
	"strong", "weak", "good", "great", "solid", "clear", "moderate",
	"partial", "critical", "high", "medium", "low", "required", "preferred",
	"nice", "optional", "note", "tip", "example", "e", "g", "eg", "ie",
	"present", "current", "currently", "today", "recent", "previous",
	"summary", "profile", "objective", "experience", "education", "skills",
	"projects", "certifications", "responsibilities", "achievements",
	"accomplishments", "highlights", "overview", "team", "teams", "role",
	"roles", "position", "resume", "cv", "job", "ad", "candidate",
	"hiring", "recruiter", "company", "employer", "client", "clients",
	"customer", "customers", "stakeholders", "management", "leadership",
	"gap", "gaps", "strength", "strengths", "evidence", "impact", "result",
	"results", "metric", "metrics", "figure", "level", "years", "year",
	"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
	"sunday", "january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december", "jan", "feb",
	"mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
	NULL
};

/* The teams and functions a suggestion names ("with Product Managers
 * and Finance"): no employer, and no title without its head. */
static const char *const guard_functions[] = {
	"product", "products", "data", "finance", "marketing", "sales",
	"operations", "engineering", "business", "design", "research",
	"support", "security", "platform", "infrastructure", "quality", "legal",
	"hr", "it", "executives", "partners", "vendors", "users", "students",
	"patients", "staff", "departments", "department", "cross-functional",
	"leaders", "board", "people", "talent", "procurement", "supply",
	"compliance", "risk", "audit", "accounting", "technology", "tech",
	"development", "science", "analytics", "growth", "strategy", "brand",
	"content", "communications", "community", "customer", "success",
	"service", "services", "delivery", "program", "project", "projects",
	"qa", "ux", "ui", "bi", "ml", "ai", "devops", "sre", "ops", NULL
};

/* Verbs that open a bullet; -ed, -ing and -ly words count too. */
static const char *const guard_verbs[] = {
	"led", "lead", "built", "build", "drove", "drive", "ran", "run", "cut",
	"grew", "grow", "won", "made", "make", "wrote", "write", "set", "own",
	"owned", "shipped", "ship", "add", "use", "show", "name", "list", "tie",
	"link", "state", "quantify", "highlight", "emphasise", "emphasize",
	"mention", "describe", "consider", "include", "bridge", "frame",
	"reframe", "rewrite", "surface", "position", "target", "tailor",
	"design", "develop", "deliver", "launch", "manage", "mentor", "migrate",
	"reduce", "increase", "improve", "implement", "introduce", "create",
	"establish", "streamline", "automate", "optimise", "optimize", "scale",
	"partner", "collaborate", "champion", "spearhead", "architect",
	"oversee", "oversaw", "took", "take", "gave", "give", "began", "begin",
	"became", "become", "kept", "keep", "met", "meet", "taught", "teach",
	"sold", "sell", "brought", "bring", "saw", "see", "learn", "learnt",
	NULL
};

/* Last words that make a run an organisation beyond doubt. */
static const char *const guard_org_strong[] = {
	"inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "corp",
	"corporation", "co", "gmbh", "ag", "plc", "pty", "bv", "nv", "sarl",
	"university", "college", "institute", "bank", "hospital", "bancorp",
	NULL
};

/* Legal forms stripped before a name is looked up ("Globex Corporation"
 * is the name "Globex"). */
static const char *const guard_org_legal[] = {
	"inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "corp",
	"corporation", "co", "company", "gmbh", "ag", "plc", "pty", "bv", "nv",
	"sarl", NULL
};

/* Last words that often end an organisation's name, but also plain
 * phrases ("Distributed Systems", "Social Media"). */
static const char *const guard_org_weak[] = {
	"labs", "lab", "systems", "technologies", "technology", "solutions",
	"group", "holdings", "partners", "consulting", "consultants", "software",
	"networks", "capital", "industries", "enterprises", "associates",
	"agency", "foundation", "clinic", "school", "academy", "media",
	"studios", "studio", "ventures", "analytics", "pharmaceuticals",
	"airlines", "motors", "services", "insurance", "logistics", "energy",
	"health", "healthcare", "retail", "interactive", "digital", "works",
	"dynamics", "robotics", "telecom", "communications", "electronics",
	"financial", "securities", "brands", "foods", "entertainment", "games",
	"pharma", "biotech", "therapeutics", "global", "international",
	"worldwide", "company", "center", "centre", "council", "ministry",
	"department", "office", NULL
};

/* Last words of a job title. */
static const char *const guard_title_heads[] = {
	"engineer", "developer", "programmer", "manager", "director",
	"architect", "analyst", "scientist", "consultant", "designer", "lead",
	"officer", "specialist", "administrator", "coordinator", "intern",
	"president", "vp", "svp", "evp", "avp", "cto", "ceo", "cfo", "coo",
	"cio", "ciso", "cpo", "cmo", "founder", "co-founder", "cofounder",
	"principal", "supervisor", "technician", "nurse", "teacher",
	"accountant", "auditor", "chef", "editor", "writer", "researcher",
	"professor", "lecturer", "instructor", "assistant", "representative",
	"executive", "strategist", "planner", "recruiter", "advisor", "adviser",
	"attorney", "lawyer", "paralegal", "pharmacist", "therapist",
	"physician", "surgeon", "clerk", "controller", "bookkeeper",
	"superintendent", "foreman", "operator", "mechanic", "electrician",
	"pilot", "producer", "evangelist", "trainer", "tester", "head",
	"chief", "owner", "partner", "fellow", "associate", NULL
};

/* "<word> of X" titles: "VP of Engineering", "Head of Data". */
static const char *const guard_title_of[] = {
	"head", "vp", "svp", "evp", "president", "director", "chief", "manager",
	"professor", "dean", NULL
};

/* Words before a run that make it an employer. */
static const char *const guard_cues[] = {
	"at", "with", "for", "joined", NULL
};

/* ---- reading text ---- */

static void guard_index_build(void)
{
	guard_index_add(guard_common);
	guard_index_add(guard_functions);
	guard_index_add(guard_verbs);
	guard_index_add(guard_org_strong);
	guard_index_add(guard_org_legal);
	guard_index_add(guard_org_weak);
	guard_index_add(guard_title_heads);
	guard_index_add(guard_title_of);
	guard_index_add(guard_cues);
}

static bool guard_alnum(unsigned char c)
{
	return isalnum(c) != 0;
}

/*
 * Words are ASCII letters and digits and UTF-8 characters, except the
 * punctuation that separates words (dashes, quotes, bullets, NBSP).
 * Returns the bytes of the separator at s, or 0 for a word byte.
 */
static size_t guard_sep_len(const unsigned char *s, size_t left)
{
	if (s[0] < 0x80)
		return guard_alnum(s[0]) ? 0 : 1;
	if (s[0] == 0xE2 && left >= 3 && s[1] == 0x80)
		return 3; /* U+2000..U+203F: spaces, dashes, quotes, bullets */
	if (s[0] == 0xC2 && left >= 2 && (s[1] == 0xA0 || s[1] == 0xB7 || s[1] == 0xAB ||
					  s[1] == 0xBB))
		return 2;
	return 0;
}

/* ---- numbers ---- */

/* The key of a value: thousandths, rounded; huge values and versions
 * are keyed by a hash of their digits (negative keys). */
static int64_t guard_key(double v)
{
	return (int64_t)llround(v * 1000.0);
}

static int64_t guard_key_digits(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]) && s[i] != '.')
			continue;
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (int64_t)(h | (1ULL << 63));
}

struct guard_number {
	size_t start, end; /* the bytes replaced: currency, digits, suffix */
	int64_t keys[3];   /* any of them in the facts grounds it */
	size_t nkeys;
	/* Facts only: what else the text may mean. "$2.5M" is also 2.5;
	 * "2007-09" is also September and 2009. */
	int64_t extra[2];
	size_t nextra;
};

struct guard_mult {
	const char *word;
	double mult;
};

/* Glued to the digits: "40k", "$2.5M", "3x", "40TB", "2nd". */
static const struct guard_mult guard_suffixes[] = {
	{ "k", 1e3 }, { "m", 1e6 }, { "mm", 1e6 }, { "mn", 1e6 }, { "b", 1e9 },
	{ "bn", 1e9 }, { "x", 1 }, { "st", 1 }, { "nd", 1 }, { "rd", 1 },
	{ "th", 1 }, { "tb", 1 }, { "gb", 1 }, { "mb", 1 }, { "kb", 1 },
	{ "pb", 1 }, { "ms", 1 }, { "s", 1 }, { "h", 1 }, { "hr", 1 },
	{ "hrs", 1 }, { "yr", 1 }, { "yrs", 1 }, { "y", 1 }, { "min", 1 },
	{ "mins", 1 }, { "sec", 1 }, { "secs", 1 }, { "pp", 1 }, { "bps", 1 },
	{ "kg", 1 }, { "km", 1 }, { "lb", 1 }, { "lbs", 1 }, { "d", 1 },
	{ "wk", 1 }, { "wks", 1 }, { "mo", 1 }, { "mos", 1 }, { "qps", 1 },
	{ "rps", 1 }, { "tps", 1 }, { "fps", 1 }, { "gbps", 1 }, { "mbps", 1 },
	{ NULL, 0 }
};

/* A word after a space: "2.5 million", "40 percent". */
static const struct guard_mult guard_words_after[] = {
	{ "thousand", 1e3 }, { "million", 1e6 }, { "billion", 1e9 },
	{ "percent", 1 }, { NULL, 0 }
};

static const struct guard_mult *guard_mult_find(const struct guard_mult *t,
						 const char *w, size_t n)
{
	for (; t->word != NULL; t++)
		if (anautil_eq_ci(w, n, t->word))
			return t;
	return NULL;
}

static size_t guard_digits(const char *s, size_t len, size_t i)
{
	size_t j = i;

	while (j < len && isdigit((unsigned char)s[j]))
		j++;
	return j - i;
}

static double guard_value(const char *s, size_t n)
{
	char buf[64];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < sizeof(buf); i++)
		if (s[i] != ',')
			buf[k++] = s[i];
	buf[k] = '\0';
	return strtod(buf, NULL);
}

/* The currency sign that ends at i ("$", "€", "£"), or 0 bytes. */
static size_t guard_currency(const char *s, size_t i)
{
	const unsigned char *u = (const unsigned char *)s;

	if (i >= 1 && s[i - 1] == '$')
		return 1;
	if (i >= 3 && u[i - 3] == 0xE2 && u[i - 2] == 0x82 && u[i - 1] == 0xAC)
		return 3;
	if (i >= 2 && u[i - 2] == 0xC2 && u[i - 1] == 0xA3)
		return 2;
	return 0;
}

static bool guard_year(const char *s, size_t n)
{
	return n == 4 && (memcmp(s, "19", 2) == 0 || memcmp(s, "20", 2) == 0);
}

/*
 * Reads the number that starts at s[i] (a digit at a word start). Returns
 * the index after it with *num filled, or 0 when what starts there is no
 * number but an identifier ("3D", "2FA", "S3" never gets here): the caller
 * then skips the whole word.
 */
static size_t guard_read_number(const char *s, size_t len, size_t i,
				struct guard_number *num)
{
	size_t j = i, d = guard_digits(s, len, i), cur, numend;
	bool version = false;
	double v, mult = 1;

	memset(num, 0, sizeof(*num));
	cur = guard_currency(s, i);
	num->start = i - cur;
	j += d;
	/* Dates: 2020-03, 2020/03/15, 03/2020, 3/15/2020. */
	if (cur == 0 && j + 1 < len && (s[j] == '-' || s[j] == '/') &&
	    isdigit((unsigned char)s[j + 1])) {
		size_t d2 = guard_digits(s, len, j + 1), k = j + 1 + d2;
		const char *year = NULL;

		if (guard_year(s + i, d) && d2 <= 2 && guard_value(s + j + 1, d2) >= 1 &&
		    guard_value(s + j + 1, d2) <= 12) {
			year = s + i;
		} else if (d <= 2 && guard_year(s + j + 1, d2)) {
			year = s + j + 1;
		} else if (d <= 2 && d2 <= 2 && k + 1 < len && s[k] == s[j] &&
			   isdigit((unsigned char)s[k + 1])) {
			size_t d3 = guard_digits(s, len, k + 1);

			if (guard_year(s + k + 1, d3)) {
				year = s + k + 1;
				k += 1 + d3;
			}
		}
		if (year != NULL && year == s + i && k + 1 < len && s[k] == s[j] &&
		    guard_digits(s, len, k + 1) <= 2 && guard_digits(s, len, k + 1) > 0)
			k += 1 + guard_digits(s, len, k + 1);
		if (year != NULL && (k >= len || !guard_alnum((unsigned char)s[k]))) {
			num->end = k;
			num->keys[0] = guard_key(guard_value(year, 4));
			num->nkeys = 1;
			if (year == s + i && d2 == 2) {
				double yy = guard_value(s + j + 1, 2);

				num->extra[0] = guard_key(yy);
				num->extra[1] = guard_key(guard_value(s + i, 2) * 100 + yy);
				num->nextra = 2;
			}
			return k;
		}
	}
	/* 1,200,000: groups of three after the first one to three digits. */
	while (d <= 3 && j + 3 < len + 0 && s[j] == ',' && guard_digits(s, len, j + 1) == 3 &&
	       (j + 4 >= len || !isdigit((unsigned char)s[j + 4]))) {
		j += 4;
	}
	if (j + 1 < len && s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
		j += 1 + guard_digits(s, len, j + 1);
		while (j + 1 < len && s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
			version = true;
			j += 1 + guard_digits(s, len, j + 1);
		}
	}
	num->end = j;
	numend = j;
	if (version || d > 15) {
		num->keys[0] = guard_key_digits(s + i, j - i);
		num->nkeys = 1;
	} else {
		v = guard_value(s + i, j - i);
		num->keys[0] = guard_key(v);
		num->nkeys = 1;
	}
	/* What follows: glued letters, '%', '+', or " million". */
	if (j < len && isalpha((unsigned char)s[j])) {
		size_t k = j;
		const struct guard_mult *m;

		while (k < len && isalpha((unsigned char)s[k]))
			k++;
		if (k < len && guard_alnum((unsigned char)s[k]))
			return 0;
		if ((m = guard_mult_find(guard_suffixes, s + j, k - j)) == NULL)
			return 0;
		mult = m->mult;
		j = k;
	} else if (j < len && guard_alnum((unsigned char)s[j])) {
		return 0;
	} else if (j + 1 < len && s[j] == ' ' && s[j + 1] == '%') {
		j += 2;
	} else if (j + 1 < len && s[j] == ' ' && isalpha((unsigned char)s[j + 1])) {
		size_t k = j + 1;
		const struct guard_mult *m;

		while (k < len && isalpha((unsigned char)s[k]))
			k++;
		if ((m = guard_mult_find(guard_words_after, s + j + 1, k - j - 1)) != NULL) {
			mult = m->mult;
			j = k;
		}
	}
	if (j < len && (s[j] == '%' || s[j] == '+'))
		j++;
	num->end = j;
	if (mult != 1 && !version && d <= 15) {
		v = guard_value(s + i, numend - i) * mult;
		num->extra[0] = num->keys[0];
		num->nextra = 1;
		num->keys[0] = fabs(v) < 1e15 ? guard_key(v) : guard_key_digits(s + i, numend - i);
	}
	return j;
}

/* Calls fn for every number of s; returns false when fn did. */
static bool guard_numbers(const char *s, size_t len,
			  bool (*fn)(const struct guard_number *num, void *arg),
			  void *arg)
{
	struct guard_number num;
	size_t i = 0, j;

	while (i < len) {
		if (!isdigit((unsigned char)s[i])) {
			i++;
			continue;
		}
		/* Only at a word start: "S3", "EC2", "v2.1", "3.5" past its dot. */
		if (i > 0 && (guard_alnum((unsigned char)s[i - 1]) || s[i - 1] == '.' ||
			      ((unsigned char)s[i - 1] >= 0x80 && guard_currency(s, i) == 0))) {
			while (i < len && (guard_alnum((unsigned char)s[i]) || s[i] == '.'))
				i++;
			continue;
		}
		j = guard_read_number(s, len, i, &num);
		if (j == 0) {
			while (i < len && guard_alnum((unsigned char)s[i]))
				i++;
			continue;
		}
		if (!fn(&num, arg))
			return false;
		i = j;
	}
	return true;
}

/* ---- degrees ---- */

enum { DEG_CI = 1, DEG_NEXT = 2, DEG_NEXT_CAP = 4 };

static const struct {
	const char *form;
	unsigned level;
	unsigned flags;
} guard_degrees[] = {
	{ "bachelor's", DEG_BACHELOR, DEG_CI }, { "bachelors", DEG_BACHELOR, DEG_CI },
	{ "bachelor", DEG_BACHELOR, DEG_CI | DEG_NEXT }, { "BSc", DEG_BACHELOR, 0 },
	{ "B.Sc", DEG_BACHELOR, 0 }, { "B.S", DEG_BACHELOR, 0 }, { "BS", DEG_BACHELOR, DEG_NEXT },
	{ "B.A", DEG_BACHELOR, 0 }, { "BA", DEG_BACHELOR, DEG_NEXT }, { "BEng", DEG_BACHELOR, 0 },
	{ "B.Eng", DEG_BACHELOR, 0 }, { "BTech", DEG_BACHELOR, 0 }, { "B.Tech", DEG_BACHELOR, 0 },
	{ "B.E", DEG_BACHELOR, 0 }, { "BBA", DEG_BACHELOR, 0 }, { "B.Com", DEG_BACHELOR, 0 },
	{ "BCom", DEG_BACHELOR, 0 }, { "BCA", DEG_BACHELOR, 0 }, { "B.Ed", DEG_BACHELOR, 0 },
	{ "bachelor\xe2\x80\x99s", DEG_BACHELOR, DEG_CI },
	{ "undergraduate degree", DEG_BACHELOR, DEG_CI },
	{ "master's", DEG_MASTER, DEG_CI }, { "masters", DEG_MASTER, DEG_CI | DEG_NEXT },
	{ "master\xe2\x80\x99s", DEG_MASTER, DEG_CI }, { "master degree", DEG_MASTER, DEG_CI },
	{ "graduate degree", DEG_MASTER, DEG_CI }, { "postgraduate degree", DEG_MASTER, DEG_CI },
	{ "post-graduate degree", DEG_MASTER, DEG_CI }, { "M.Com", DEG_MASTER, 0 },
	{ "MCom", DEG_MASTER, 0 },
	{ "master of", DEG_MASTER, DEG_CI | DEG_NEXT_CAP }, { "MSc", DEG_MASTER, 0 },
	{ "M.Sc", DEG_MASTER, 0 }, { "M.S", DEG_MASTER, 0 }, { "MS", DEG_MASTER, DEG_NEXT },
	{ "M.A", DEG_MASTER, 0 }, { "MA", DEG_MASTER, DEG_NEXT }, { "MEng", DEG_MASTER, 0 },
	{ "M.Eng", DEG_MASTER, 0 }, { "MTech", DEG_MASTER, 0 }, { "M.Tech", DEG_MASTER, 0 },
	{ "MCA", DEG_MASTER, 0 }, { "M.Ed", DEG_MASTER, 0 }, { "MPhil", DEG_MASTER, 0 },
	{ "M.Phil", DEG_MASTER, 0 }, { "MBA", DEG_MBA, 0 }, { "M.B.A", DEG_MBA, 0 },
	{ "phd", DEG_DOCTORATE, DEG_CI }, { "ph.d", DEG_DOCTORATE, DEG_CI },
	{ "doctorate", DEG_DOCTORATE, DEG_CI }, { "doctor of", DEG_DOCTORATE, DEG_CI | DEG_NEXT_CAP },
	{ "DPhil", DEG_DOCTORATE, 0 }, { "EdD", DEG_DOCTORATE, 0 },
	{ "associate degree", DEG_ASSOCIATE, DEG_CI },
	{ "associate's degree", DEG_ASSOCIATE, DEG_CI },
	{ "associate\xe2\x80\x99s degree", DEG_ASSOCIATE, DEG_CI },
	{ "associates degree", DEG_ASSOCIATE, DEG_CI },
	{ "associate of", DEG_ASSOCIATE, DEG_CI | DEG_NEXT_CAP },
};

/* After a bare "BS" or "masters": " in", " of", " degree", " (". */
static bool guard_degree_next(const char *s, size_t len, size_t j, bool cap)
{
	size_t k = j;

	while (k < len && s[k] == ' ')
		k++;
	if (k == j || k >= len)
		return false;
	if (cap)
		return isupper((unsigned char)s[k]) != 0;
	return s[k] == '(' || s[k] == ':' ||
	       (k + 2 <= len && (strncasecmp(s + k, "in", 2) == 0 || strncasecmp(s + k, "of", 2) == 0) &&
		(k + 2 == len || !guard_alnum((unsigned char)s[k + 2]))) ||
	       (k + 6 <= len && strncasecmp(s + k, "degree", 6) == 0);
}

/* The degree forms by first letter, as guard_index does for word lists. */
#define GUARD_NDEGREES (sizeof(guard_degrees) / sizeof(guard_degrees[0]))
static unsigned short guard_deg_off[28];
static unsigned char guard_deg_idx[GUARD_NDEGREES];
static pthread_once_t guard_deg_once = PTHREAD_ONCE_INIT;

static void guard_deg_build(void)
{
	unsigned short count[28] = { 0 };

	for (size_t t = 0; t < GUARD_NDEGREES; t++)
		count[guard_bucket((unsigned char)guard_degrees[t].form[0]) + 1]++;
	for (unsigned b = 1; b < 28; b++)
		guard_deg_off[b] = (unsigned short)(guard_deg_off[b - 1] + count[b]);
	memcpy(count, guard_deg_off, sizeof(count));
	for (size_t t = 0; t < GUARD_NDEGREES; t++)
		guard_deg_idx[count[guard_bucket((unsigned char)guard_degrees[t].form[0])]++] =
			(unsigned char)t;
}

/* The degree levels named in s, as DEG_ bits. */
static unsigned guard_degrees_in(const char *s, size_t len)
{
	unsigned found = 0;

	pthread_once(&guard_deg_once, guard_deg_build);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalpha(c) || (i > 0 && guard_alnum((unsigned char)s[i - 1])))
			continue;
		for (unsigned k = guard_deg_off[guard_bucket(c)];
		     k < guard_deg_off[guard_bucket(c) + 1]; k++) {
			size_t t = guard_deg_idx[k];
			const char *f = guard_degrees[t].form;
			unsigned fl = guard_degrees[t].flags;
			size_t n, j;

			if ((fl & DEG_CI) ? tolower(c) != tolower((unsigned char)f[0]) : c != (unsigned char)f[0])
				continue;
			if (i + 1 >= len || ((fl & DEG_CI) ? tolower((unsigned char)s[i + 1]) !=
					     tolower((unsigned char)f[1]) : s[i + 1] != f[1]))
				continue;
			n = strlen(f);
			j = i + n;
			if (n > len - i || (found & guard_degrees[t].level))
				continue;
			if ((fl & DEG_CI) ? strncasecmp(s + i, f, n) != 0 : memcmp(s + i, f, n) != 0)
				continue;
			if (j < len && guard_alnum((unsigned char)s[j]))
				continue;
			if ((fl & (DEG_NEXT | DEG_NEXT_CAP)) &&
			    !guard_degree_next(s, len, j, (fl & DEG_NEXT_CAP) != 0))
				continue;
			found |= guard_degrees[t].level;
		}
	}
	return found;
}

/* ---- building the facts ---- */

struct guard_builder {
	char *words;
	size_t nwords, capwords;
	int64_t *numbers;
	size_t nnumbers, capnumbers;
	unsigned degrees;
	bool failed;
};

static void guard_add_key(struct guard_builder *b, int64_t key)
{
	if (b->failed)
		return;
	if (b->nnumbers == b->capnumbers) {
		size_t cap = b->capnumbers ? b->capnumbers * 2 : 256;
		int64_t *p = ima_realloc(b->numbers, cap * sizeof(*p));

		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->numbers = p;
		b->capnumbers = cap;
	}
	b->numbers[b->nnumbers++] = key;
}

/* A number of the analysis: the value and the forms a text gives it. */
static void guard_add_value(struct guard_builder *b, double v, bool percent, bool months)
{
	if (!isfinite(v) || fabs(v) >= 1e15)
		return;
	guard_add_key(b, guard_key(v));
	guard_add_key(b, guard_key(round(v)));
	guard_add_key(b, guard_key(floor(v)));
	guard_add_key(b, guard_key(round(v * 10) / 10));
	guard_add_key(b, guard_key(round(v * 100) / 100));
	if (percent && v >= 0 && v <= 1) {
		guard_add_key(b, guard_key(round(v * 100)));
		guard_add_key(b, guard_key(round(v * 1000) / 10));
	}
	if (months)
		guard_add_value(b, v / 12, false, false);
}

static bool guard_add_number(const struct guard_number *num, void *arg)
{
	struct guard_builder *b = arg;

	for (size_t k = 0; k < num->nkeys; k++)
		guard_add_key(b, num->keys[k]);
	for (size_t k = 0; k < num->nextra; k++)
		guard_add_key(b, num->extra[k]);
	return true;
}

static const char *const guard_number_words[] = {
	"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
	"nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
	"sixteen", "seventeen", "eighteen", "nineteen", "twenty", NULL
};

static void guard_add_word(struct guard_builder *b, const char *w, size_t n)
{
	if (b->failed)
		return;
	if (b->nwords + n + 2 > b->capwords) {
		size_t cap = b->capwords ? b->capwords : 4096;
		char *p;

		while (cap < b->nwords + n + 2)
			cap *= 2;
		if ((p = ima_realloc(b->words, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->words = p;
		b->capwords = cap;
	}
	for (size_t i = 0; i < n; i++)
		b->words[b->nwords++] = (char)tolower((unsigned char)w[i]);
	b->words[b->nwords++] = ' ';
	/* Only a word of three to nine letters can be a number's name. */
	if (n < 3 || n > 9 || !isalpha((unsigned char)w[0]))
		return;
	for (size_t k = 0; guard_number_words[k] != NULL; k++)
		if (tolower((unsigned char)w[0]) == guard_number_words[k][0] &&
		    anautil_eq_ci(w, n, guard_number_words[k]))
			guard_add_key(b, guard_key((double)k));
	if (anautil_eq_ci(w, n, "dozen"))
		guard_add_key(b, guard_key(12));
	if (anautil_eq_ci(w, n, "hundred"))
		guard_add_key(b, guard_key(100));
}

/* Splits s into words the way guard_norm_phrase() does. */
static void guard_add_text(struct guard_builder *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len && !b->failed) {
		size_t sep = guard_sep_len(u + i, len - i), j;

		if (sep > 0) {
			i += sep;
			continue;
		}
		j = i;
		while (j < len && guard_sep_len(u + j, len - j) == 0)
			j++;
		guard_add_word(b, s + i, j - i);
		i = j;
	}
	guard_numbers(s, len, guard_add_number, b);
	b->degrees |= guard_degrees_in(s, len);
}

static bool guard_key_has(const char *key, size_t n, const char *part)
{
	size_t m = strlen(part);

	for (size_t i = 0; i + m <= n; i++)
		if (strncasecmp(key + i, part, m) == 0)
			return true;
	return false;
}

/* Every string and number of a deterministic value, and its lists' sizes
 * (an LLM counts them: "8 of 10 required skills"). */
static void guard_add_object(struct guard_builder *b, const msgpack_object *o,
			     const char *key, size_t keylen, int depth)
{
	const char *s;
	size_t n;
	double v;

	if (depth > GUARD_MAX_DEPTH || b->failed)
		return;
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (anautil_str(o, &s, &n))
			guard_add_text(b, s, n);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (anautil_number(o, &v))
			guard_add_value(b, v, guard_key_has(key, keylen, "score") ||
					      guard_key_has(key, keylen, "alignment"),
					guard_key_has(key, keylen, "months"));
		break;
	case MSGPACK_OBJECT_ARRAY:
		guard_add_value(b, o->via.array.size, false, false);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			guard_add_object(b, &o->via.array.ptr[i], key, keylen, depth + 1);
		break;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (!anautil_str(&kv->key, &s, &n))
				continue;
			/* LLM-written members and byte positions are no facts. */
			if (anautil_eq_ci(s, n, "llm") || anautil_eq_ci(s, n, "sources") ||
			    anautil_eq_ci(s, n, "offsets") || anautil_eq_ci(s, n, "spans") ||
			    anautil_eq_ci(s, n, "soc_code"))
				continue;
			guard_add_object(b, &kv->val, s, n, depth + 1);
		}
		break;
	default:
		break;
	}
}

static int guard_key_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void guard_builder_init(struct guard_builder *b)
{
	memset(b, 0, sizeof(*b));
	guard_add_word(b, "", 0); /* the leading space */
	b->nwords = 1;
	if (b->words != NULL)
		b->words[0] = ' ';
}

/* Sorts and dedups the numbers, NUL-terminates the words. */
static bool guard_builder_finish(struct guard_builder *b)
{
	size_t k = 0;

	guard_add_word(b, "", 0);
	if (b->failed)
		return false;
	b->words[--b->nwords] = '\0';
	if (b->nnumbers > 1)
		qsort(b->numbers, b->nnumbers, sizeof(b->numbers[0]), guard_key_cmp);
	for (size_t i = 0; i < b->nnumbers; i++)
		if (k == 0 || b->numbers[i] != b->numbers[k - 1])
			b->numbers[k++] = b->numbers[i];
	b->nnumbers = k;
	return true;
}

static void guard_builder_free(struct guard_builder *b)
{
	ima_free(b->words);
	ima_free(b->numbers);
}

struct llm_guard *llm_guard_from_texts(const char *const *texts,
				       const size_t *lens, size_t n)
{
	struct guard_builder b;
	struct llm_guard *g;

	guard_builder_init(&b);
	for (size_t i = 0; i < n; i++)
		if (texts[i] != NULL)
			guard_add_text(&b, texts[i], lens[i]);
	if (!guard_builder_finish(&b) || (g = ima_calloc(1, sizeof(*g))) == NULL) {
		guard_builder_free(&b);
		return NULL;
	}
	g->words = b.words;
	g->nwords = b.nwords;
	g->numbers = b.numbers;
	g->nnumbers = b.nnumbers;
	g->degrees = b.degrees;
	g->owned = true;
	return g;
}

void llm_guard_free(struct llm_guard *g)
{
	if (g == NULL || !g->owned)
		return;
	ima_free(g->words);
	ima_free(g->numbers);
	ima_free(g);
}

/* The owner of the facts in the request's task data. */
static const char guard_owner;

/* The request's own texts and the deterministic analysis: never a key an
 * LLM stage writes (gap_analysis.llm is skipped inside). */
static const char *const guard_fact_keys[] = {
	"_input", "experiences", "_experience", "aggregate_skills",
	"processed_skills", "_skills", "job_requirements", "gap_analysis",
	"seniority_analysis", "domain_insights", "role_suggestions", NULL
};

struct llm_guard *llm_guard_get(struct ima_req *req)
{
	struct llm_guard *g = ima_req_task_get(req, &guard_owner);
	struct ima_ctx *ctx = ima_req_ctx(req);
	struct guard_builder b;

	if (g != NULL)
		return g;
	guard_builder_init(&b);
	for (size_t k = 0; guard_fact_keys[k] != NULL; k++) {
		const msgpack_object *o = ima_ctx_get(ctx, guard_fact_keys[k]);

		if (o != NULL)
			guard_add_object(&b, o, guard_fact_keys[k], strlen(guard_fact_keys[k]), 0);
	}
	if (!guard_builder_finish(&b))
		goto fail;
	g = ima_req_alloc(req, sizeof(*g));
	if (g == NULL)
		goto fail;
	memset(g, 0, sizeof(*g));
	g->words = ima_req_alloc(req, b.nwords + 1);
	g->numbers = ima_req_alloc(req, (b.nnumbers ? b.nnumbers : 1) * sizeof(int64_t));
	if (g->words == NULL || g->numbers == NULL)
		goto fail;
	memcpy(g->words, b.words, b.nwords + 1);
	g->nwords = b.nwords;
	if (b.nnumbers > 0)
		memcpy(g->numbers, b.numbers, b.nnumbers * sizeof(int64_t));
	g->nnumbers = b.nnumbers;
	g->degrees = b.degrees;
	guard_builder_free(&b);
	/* Full task data: the facts are built again by the next call. */
	(void)ima_req_task_set(req, &guard_owner, g);
	return g;
fail:
	guard_builder_free(&b);
	return NULL;
}

/* ---- looking up ---- */

static bool guard_has_number(const struct llm_guard *g, int64_t key)
{
	return g->nnumbers > 0 &&
	       bsearch(&key, g->numbers, g->nnumbers, sizeof(int64_t), guard_key_cmp) != NULL;
}

struct guard_word {
	const char *s;
	size_t n;
	size_t full; /* n and a possessive "'s" after it */
	bool cap;  /* starts with an ASCII capital */
	bool sentence_start;
};

/* " w1 w2 " (lower case) for words[0..n) into buf; false when too long. */
static bool guard_phrase(const struct guard_word *w, size_t n, bool full, char *buf,
			 size_t size, size_t *len)
{
	size_t k = 0;

	if (size < 2)
		return false;
	buf[k++] = ' ';
	for (size_t i = 0; i < n; i++) {
		const unsigned char *u = (const unsigned char *)w[i].s;
		size_t wn = full ? w[i].full : w[i].n;

		if (k + wn + 1 >= size)
			return false;
		/* "Co-Founder" is " co founder " in the facts. */
		for (size_t j = 0; j < wn; j++) {
			if (guard_sep_len(u + j, wn - j) == 0)
				buf[k++] = (char)tolower(u[j]);
			else if (buf[k - 1] != ' ')
				buf[k++] = ' ';
		}
		if (buf[k - 1] != ' ')
			buf[k++] = ' ';
	}
	buf[k] = '\0';
	*len = k;
	return true;
}

static bool guard_has_phrase(const struct llm_guard *g, const struct guard_word *w, size_t n)
{
	char buf[512];
	size_t len;
	bool possessive = false;

	if (n == 0)
		return false;
	if (guard_phrase(w, n, false, buf, sizeof(buf), &len) &&
	    memmem(g->words, g->nwords, buf, len) != NULL)
		return true;
	/* "Welinkar's Institute" is a name as the facts write it. */
	for (size_t i = 0; i < n; i++)
		possessive = possessive || w[i].full != w[i].n;
	return possessive && guard_phrase(w, n, true, buf, sizeof(buf), &len) &&
	       memmem(g->words, g->nwords, buf, len) != NULL;
}

/* A word of the facts, also in the singular or the plural. */
static bool guard_has_word(const struct llm_guard *g, const struct guard_word *w)
{
	struct guard_word v = *w;
	char buf[128];

	v.full = v.n;
	if (guard_has_phrase(g, &v, 1))
		return true;
	if (w->n > 2 && (w->s[w->n - 1] == 's' || w->s[w->n - 1] == 'S')) {
		v.full = --v.n;
		if (guard_has_phrase(g, &v, 1))
			return true;
	}
	if (w->n + 1 < sizeof(buf)) {
		memcpy(buf, w->s, w->n);
		buf[w->n] = 's';
		v.s = buf;
		v.full = v.n = w->n + 1;
		if (guard_has_phrase(g, &v, 1))
			return true;
	}
	return false;
}

static bool guard_is_skill(const char *s, size_t n)
{
	return guard_skills != NULL && skillmatch_lookup(guard_skills, s, n) >= 0;
}

static bool guard_common_word(const struct guard_word *w)
{
	if (guard_in(guard_common, w->s, w->n) || guard_in(guard_verbs, w->s, w->n) ||
	    guard_in(guard_functions, w->s, w->n))
		return true;
	/* "Managers", "Data Scientists": people a text names, not a title. */
	if (w->n > 3 && (w->s[w->n - 1] == 's' || w->s[w->n - 1] == 'S') &&
	    guard_in(guard_title_heads, w->s, w->n - 1))
		return true;
	if (w->n > 4 && (anautil_eq_ci(w->s + w->n - 2, 2, "ed") ||
			 anautil_eq_ci(w->s + w->n - 3, 3, "ing")))
		return true;
	return w->n > 4 && anautil_eq_ci(w->s + w->n - 2, 2, "ly");
}

/*
 * Every word of the run is a word of the facts, a common word or a skill;
 * a title's head word ("VP", "Director") must be a fact itself.
 */
static bool guard_words_grounded(const struct llm_guard *g, const struct guard_word *w,
				 size_t n, const char *const *exempt)
{
	for (size_t i = 0; i < n; i++) {
		bool head = guard_in(guard_title_heads, w[i].s, w[i].n);

		if (!w[i].cap)
			continue; /* connectors */
		if (exempt != NULL && guard_in(exempt, w[i].s, w[i].n))
			continue;
		if (guard_has_word(g, &w[i]))
			continue;
		if (head)
			return false;
		if (guard_common_word(&w[i]) || guard_is_skill(w[i].s, w[i].n))
			continue;
		return false;
	}
	return true;
}

/*
 * A title's core, as the facts must write it: "Director of Operations"
 * ("<head> of" and the next word), else the head and the word before it
 * ("Software Engineer" of "Staff Software Engineer"). Its words alone are
 * not enough: a resume with "director" and "operations" in it does not
 * make its owner a Director of Operations.
 */
static bool guard_title_core(const struct llm_guard *g, const struct guard_word *w, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++)
		if (guard_in(guard_title_of, w[i].s, w[i].n) && anautil_eq_ci(w[i + 1].s, w[i + 1].n, "of"))
			return guard_has_phrase(g, w + i, 3) ||
			       (i + 3 < n && anautil_eq_ci(w[i + 2].s, w[i + 2].n, "the") &&
				guard_has_phrase(g, w + i, 4));
	return guard_has_phrase(g, w + n - 2, 2);
}

/*
 * One run of capitalised words: true when it claims an organisation or a
 * title that the facts do not hold. cue: the word before it was "at",
 * "with", "for" or "joined".
 */
static bool guard_run_ungrounded(const struct llm_guard *g, struct guard_word *w, size_t n,
				 bool cue)
{
	const struct guard_word *last;
	bool strong = false, weak, title = false;
	size_t name;

	/* "Migrated Northwind Retail LLC": the opener is no part of a name. */
	while (n > 0 && (guard_in(guard_common, w[0].s, w[0].n) ||
			 (w[0].sentence_start && guard_common_word(&w[0])))) {
		cue = cue || guard_in(guard_cues, w[0].s, w[0].n);
		w++;
		n--;
	}
	while (n > 0 && !w[n - 1].cap)
		n--;
	if (n == 0 || (n == 1 && w[0].sentence_start))
		return false;
	last = &w[n - 1];
	for (size_t i = 0; i < n; i++) {
		if (guard_in(guard_org_strong, w[i].s, w[i].n) &&
		    (i == n - 1 || (i + 1 < n && anautil_eq_ci(w[i + 1].s, w[i + 1].n, "of"))))
			strong = true;
		if (i + 1 < n && guard_in(guard_title_of, w[i].s, w[i].n) &&
		    anautil_eq_ci(w[i + 1].s, w[i + 1].n, "of"))
			title = true;
	}
	weak = n >= 2 && guard_in(guard_org_weak, last->s, last->n);
	title = title || guard_in(guard_title_heads, last->s, last->n);
	if (!strong && !weak && !title && !cue)
		return false;
	if (guard_has_phrase(g, w, n))
		return false;
	if (strong) {
		/* The name without its legal form must be a phrase of the facts:
		 * "Cascade Analytics Inc" is "Cascade Analytics", never a mix
		 * of the facts' words. */
		name = n;
		while (name > 1 && guard_in(guard_org_legal, w[name - 1].s, w[name - 1].n))
			name--;
		return !guard_has_phrase(g, w, name);
	}
	/* "with Apache Beam", "for Google Cloud": a skill, no employer. */
	if (!title && guard_is_skill(w[0].s, (size_t)(last->s + last->n - w[0].s)))
		return false;
	if (title && n >= 2 && !guard_title_core(g, w, n))
		return true;
	return !guard_words_grounded(g, w, n, weak ? guard_org_weak : NULL);
}

/*
 * The next word of s from *i: skips the separators first, telling whether
 * they were only spaces and '&' (*joined: the word may continue a name)
 * and whether they end a sentence or open a bullet (*sentence). Inside a
 * word, '-', '\'' and '&' between letters are kept ("Co-Founder", "AT&T").
 * False at the end of s.
 */
static bool guard_next_word(const char *s, size_t len, size_t *i, struct guard_word *w,
			    bool *joined, bool *sentence)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = *i, j, sep;

	*joined = true;
	*sentence = k == 0;
	while (k < len && (sep = guard_sep_len(u + k, len - k)) > 0) {
		unsigned char c = u[k];

		if (c != ' ' && c != '&')
			*joined = false;
		if (c == '.' || c == '!' || c == '?' || c == ':' || c == ';' || c == '\n' ||
		    c == '*' || (c == '-' && k + 1 < len && s[k + 1] == ' ') ||
		    (sep == 3 && u[k + 2] >= 0x90 && u[k + 2] <= 0xA2))
			*sentence = true; /* also dashes and bullets U+2010..U+2022 */
		k += sep;
	}
	if (k >= len)
		return false;
	j = k;
	while (j < len && (guard_sep_len(u + j, len - j) == 0 ||
			   ((s[j] == '-' || s[j] == '\'' || s[j] == '&') && j + 1 < len &&
			    guard_alnum(u[j + 1]) && j > k && guard_alnum(u[j - 1]))))
		j++;
	memset(w, 0, sizeof(*w));
	w->s = s + k;
	w->n = j - k;
	w->full = w->n;
	/* "Globex's": the possessive is no part of the name. */
	if (w->n > 2 && w->s[w->n - 2] == '\'' && (w->s[w->n - 1] == 's' || w->s[w->n - 1] == 'S'))
		w->n -= 2;
	w->cap = isupper(u[k]) != 0;
	w->sentence_start = *sentence;
	*i = j;
	return true;
}

/* 1 when some run of capitalised words of s is an ungrounded claim. */
static int guard_claims(const struct llm_guard *g, const char *s, size_t len)
{
	struct guard_word run[GUARD_MAX_RUN], w, prev = { 0 };
	size_t nrun = 0, i = 0, claims = 0;
	bool joined, sentence, run_cue = false, more = true;

	while (more) {
		more = guard_next_word(s, len, &i, &w, &joined, &sentence);
		if (more && nrun > 0 && joined &&
		    (w.cap || anautil_eq_ci(w.s, w.n, "of") ||
		     (anautil_eq_ci(w.s, w.n, "the") && anautil_eq_ci(prev.s, prev.n, "of")))) {
			if (nrun < GUARD_MAX_RUN)
				run[nrun++] = w;
			prev = w;
			continue;
		}
		if (nrun > 0) {
			if (++claims > GUARD_MAX_CLAIMS ||
			    guard_run_ungrounded(g, run, nrun, run_cue))
				return 1;
			nrun = 0;
		}
		if (more && w.cap) {
			run_cue = joined && prev.s != NULL && !prev.cap &&
				  guard_in(guard_cues, prev.s, prev.n);
			run[nrun++] = w;
		}
		prev = w;
	}
	return 0;
}

/* ---- one string ---- */

struct guard_spans {
	size_t (*v)[2];
	size_t n, cap;
	const struct llm_guard *g;
	bool failed;
};

static bool guard_collect(const struct guard_number *num, void *arg)
{
	struct guard_spans *sp = arg;

	for (size_t k = 0; k < num->nkeys; k++)
		if (guard_has_number(sp->g, num->keys[k]))
			return true;
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 8;
		size_t (*p)[2] = ima_realloc(sp->v, cap * sizeof(*p));

		if (p == NULL) {
			sp->failed = true;
			return false;
		}
		sp->v = p;
		sp->cap = cap;
	}
	sp->v[sp->n][0] = num->start;
	sp->v[sp->n][1] = num->end;
	sp->n++;
	return true;
}

/* 1: condemned; 0: kept, with the numbers to replace in sp; -1: memory. */
static int guard_judge(const struct llm_guard *g, const char *s, size_t len,
		       struct guard_spans *sp)
{
	unsigned degrees;

	memset(sp, 0, sizeof(*sp));
	sp->g = g;
	if (len > GUARD_MAX_STRING)
		return 1;
	degrees = guard_degrees_in(s, len);
	if ((degrees & ~g->degrees) != 0)
		return 1;
	if (guard_claims(g, s, len))
		return 1;
	guard_numbers(s, len, guard_collect, sp);
	if (sp->failed) {
		ima_free(sp->v);
		return -1;
	}
	return 0;
}

int llm_guard_string(struct llm_guard *g, const char *s, size_t len,
		     char **out, size_t *outlen, int *rewritten)
{
	struct guard_spans sp;
	size_t k = 0, at = 0, size;
	int rc = guard_judge(g, s, len, &sp);
	char *buf;

	*out = NULL;
	*outlen = 0;
	*rewritten = 0;
	if (rc != 0)
		return rc;
	size = len + sp.n * sizeof(LLM_GUARD_PLACEHOLDER) + 1;
	if ((buf = ima_malloc(size)) == NULL) {
		ima_free(sp.v);
		return -1;
	}
	for (size_t i = 0; i < sp.n; i++) {
		memcpy(buf + k, s + at, sp.v[i][0] - at);
		k += sp.v[i][0] - at;
		memcpy(buf + k, LLM_GUARD_PLACEHOLDER, sizeof(LLM_GUARD_PLACEHOLDER) - 1);
		k += sizeof(LLM_GUARD_PLACEHOLDER) - 1;
		at = sp.v[i][1];
	}
	memcpy(buf + k, s + at, len - at);
	k += len - at;
	buf[k] = '\0';
	*rewritten = sp.n > 0;
	ima_free(sp.v);
	*out = buf;
	*outlen = k;
	return 0;
}

/* ---- whole values ---- */

/* Does any string of o, outside the arrays inside it, condemn it? */
static int guard_condemned(struct llm_guard *g, const msgpack_object *o, int depth)
{
	struct guard_spans sp;
	const char *s;
	size_t n;
	int rc;

	if (depth > GUARD_MAX_DEPTH)
		return 1;
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		anautil_str(o, &s, &n);
		rc = guard_judge(g, s, n, &sp);
		if (rc == 0)
			ima_free(sp.v);
		return rc;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if ((rc = guard_condemned(g, &o->via.map.ptr[i].val, depth + 1)) != 0)
				return rc;
		return 0;
	default:
		return 0;
	}
}

static int guard_pack(struct llm_guard *g, const msgpack_object *o, msgpack_packer *pk,
		      struct llm_guard_counts *counts, int depth)
{
	const char *s;
	size_t n, outlen;
	char *out;
	int rc, rewritten;

	if (depth > GUARD_MAX_DEPTH) {
		counts->dropped++;
		return msgpack_pack_nil(pk) == 0 ? 0 : -1;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		anautil_str(o, &s, &n);
		rc = llm_guard_string(g, s, n, &out, &outlen, &rewritten);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			counts->dropped++;
			return ima_pack_strn(pk, "", 0) == 0 ? 0 : -1;
		}
		counts->rewritten += rewritten != 0;
		rc = ima_pack_strn(pk, out, outlen);
		ima_free(out);
		return rc == 0 ? 0 : -1;
	case MSGPACK_OBJECT_ARRAY: {
		uint32_t kept = 0, size = o->via.array.size;
		unsigned char *keep = ima_malloc(size ? size : 1);

		if (keep == NULL)
			return -1;
		for (uint32_t i = 0; i < size; i++) {
			rc = guard_condemned(g, &o->via.array.ptr[i], depth + 1);
			if (rc < 0) {
				ima_free(keep);
				return -1;
			}
			keep[i] = rc == 0;
			kept += keep[i];
			counts->dropped += rc == 1;
		}
		rc = msgpack_pack_array(pk, kept) == 0 ? 0 : -1;
		for (uint32_t i = 0; rc == 0 && i < size; i++)
			if (keep[i])
				rc = guard_pack(g, &o->via.array.ptr[i], pk, counts, depth + 1);
		ima_free(keep);
		return rc;
	}
	case MSGPACK_OBJECT_MAP:
		if (msgpack_pack_map(pk, o->via.map.size) != 0)
			return -1;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (msgpack_pack_object(pk, o->via.map.ptr[i].key) != 0 ||
			    guard_pack(g, &o->via.map.ptr[i].val, pk, counts, depth + 1) != 0)
				return -1;
		}
		return 0;
	default:
		return msgpack_pack_object(pk, *o) == 0 ? 0 : -1;
	}
}

int llm_guard_pack(struct llm_guard *g, const msgpack_object *value, msgpack_packer *pk,
		   struct llm_guard_counts *counts)
{
	return guard_pack(g, value, pk, counts, 0);
}

/* ---- accounting ---- */

void llm_guard_account(struct ima_req *req, const struct llm_guard_counts *counts)
{
	const msgpack_object *prev = ima_req_metric_get(req, "guard");
	double dropped = 0, rewritten = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	/* Read back rather than kept here: every LLM plugin has its own copy
	 * of this file, and the totals are the request's. */
	if (prev != NULL && prev->type == MSGPACK_OBJECT_MAP) {
		anautil_number(anautil_map_get(prev, "dropped"), &dropped);
		anautil_number(anautil_map_get(prev, "rewritten"), &rewritten);
	}
	dropped += (double)counts->dropped;
	rewritten += (double)counts->rewritten;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	anautil_pack_kv_int(&pk, "dropped", (int64_t)dropped);
	anautil_pack_kv_int(&pk, "rewritten", (int64_t)rewritten);
	if (ima_req_metric_put(req, "guard", sb.data, sb.size) != 0)
		ima_log(IMA_LOG_WARN, "llm_guard: run_metrics.guard not written");
	msgpack_sbuffer_destroy(&sb);
}
