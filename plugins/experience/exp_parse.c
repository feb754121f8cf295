/*
 * exp_parse.c - find jobs, their dates and the stated years of experience
 * in a plain-text resume.
 *
 * The parser works line by line: it classifies every line (section heading,
 * bullet, date range), tracks which section each line belongs to, treats
 * every line holding a date range inside the experience section(s) as the
 * anchor of one job (plus undated Indeed blocks: a role line over an
 * "Employer -" line), and reads the title, company and location from the few
 * short lines around that anchor using general cues (title words, corporate
 * suffixes, "City, State" shapes, separators).  Every step looks at a
 * bounded window, so the whole parse is linear in the input length.
 */
#include "exp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"

enum section_kind {
    SECTION_NONE,        /* before any known heading */
    SECTION_EXPERIENCE,
    SECTION_EDUCATION,
    SECTION_DATED_OTHER, /* projects, certifications, awards: dated, but not jobs */
    SECTION_OTHER
};

struct date_range {
    int start_year, start_month; /* month 0: year only */
    int end_year, end_month;
    int present;
    size_t start, end;           /* byte span of the range in the text */
};

struct text_line {
    size_t start, end;           /* trimmed content [start, end) */
    size_t raw_start;            /* first byte of the line */
    unsigned char section;
    unsigned char heading;
    unsigned char bullet;
    unsigned char has_range;
    unsigned char range_part;    /* the start of a range that ends on a later line */
    size_t range_index;          /* into parser.ranges when has_range */
};

struct parser {
    const char *text;
    size_t len;
    int ref_year, ref_month;
    int max_year;
    int oom;
    struct text_line *lines;
    size_t line_count;
    struct date_range *ranges;
    size_t range_count, range_cap;
    struct experience_entry *entries;
    size_t entry_count, entry_cap;
};

/*
 * Character classes, ASCII only so the host locale never matters.  One table
 * load answers each test; the scans below run them at every byte.
 * CH_DATE: a byte a date range can start with (a digit, the first letter of
 * a month or season name, or the "s" of "since").  CH_NUM: a byte a years statement
 * can start with (a digit, or the first letter of "one" ... "twenty").
 */
enum {
    CH_DIGIT = 1, CH_ALPHA = 2, CH_UPPER = 4, CH_BLANK = 8, CH_DATE = 16, CH_NUM = 32
};
#define CH_LETTER(lc, extra) [lc] = CH_ALPHA | (extra), [(lc) - 32] = CH_ALPHA | CH_UPPER | (extra)
static const unsigned char char_class[256] = {
    ['0' ... '9'] = CH_DIGIT | CH_DATE | CH_NUM,
    [' '] = CH_BLANK, ['\t'] = CH_BLANK, ['\r'] = CH_BLANK, ['\f'] = CH_BLANK, ['\v'] = CH_BLANK,
    CH_LETTER('a', CH_DATE), CH_LETTER('b', 0), CH_LETTER('c', 0), CH_LETTER('d', CH_DATE),
    CH_LETTER('e', CH_NUM), CH_LETTER('f', CH_DATE | CH_NUM), CH_LETTER('g', 0), CH_LETTER('h', 0),
    CH_LETTER('i', 0), CH_LETTER('j', CH_DATE), CH_LETTER('k', 0), CH_LETTER('l', 0),
    CH_LETTER('m', CH_DATE), CH_LETTER('n', CH_DATE | CH_NUM), CH_LETTER('o', CH_DATE | CH_NUM),
    CH_LETTER('p', 0), CH_LETTER('q', 0), CH_LETTER('r', 0), CH_LETTER('s', CH_DATE | CH_NUM),
    CH_LETTER('t', CH_NUM), CH_LETTER('u', 0), CH_LETTER('v', 0), CH_LETTER('w', CH_DATE),
    CH_LETTER('x', 0), CH_LETTER('y', 0), CH_LETTER('z', 0)
};
#undef CH_LETTER
static int is_digit(unsigned char c) { return char_class[c] & CH_DIGIT; }
static int is_alpha(unsigned char c) { return char_class[c] & CH_ALPHA; }
static int is_alnum(unsigned char c) { return char_class[c] & (CH_DIGIT | CH_ALPHA); }
static int is_upper(unsigned char c) { return char_class[c] & CH_UPPER; }
static unsigned char to_lower(unsigned char c) { return is_upper(c) ? (unsigned char)(c + 32) : c; }
static int is_blank(unsigned char c) { return char_class[c] & CH_BLANK; }

static unsigned char byte_at(const struct parser *ps, size_t at)
{
    return at < ps->len ? (unsigned char)ps->text[at] : 0;
}

/* Case-insensitive compare of text[at, at+strlen(word)) with a lowercase word. */
static int match_at(const struct parser *ps, size_t at, size_t limit, const char *word)
{
    size_t i;
    for (i = 0; word[i]; i++) {
        if (at + i >= limit || to_lower(byte_at(ps, at + i)) != (unsigned char)word[i])
            return 0;
    }
    return 1;
}

/*
 * Same, and the match must end at a word boundary.  One pass that finds the
 * word's length as it compares (no strlen): the parser calls this for most
 * word starts of the resume, so the first mismatching byte must end it.
 */
static int word_at(const struct parser *ps, size_t at, size_t limit, const char *word)
{
    size_t i;
    for (i = 0; word[i]; i++) {
        if (at + i >= limit || to_lower(byte_at(ps, at + i)) != (unsigned char)word[i])
            return 0;
    }
    return at + i >= limit || !is_alnum(byte_at(ps, at + i));
}

/*
 * Length of the UTF-8 dash at at, or 0: hyphen, the U+2010-U+2015 dashes
 * (en, em...), minus U+2212, and the full-width and small hyphen-minus
 * U+FF0D, U+FE63 that PDF-to-text conversion leaves between an employer and
 * its city ("Company － City , State").
 */
static size_t dash_at(const struct parser *ps, size_t at, size_t limit)
{
    unsigned char c0 = byte_at(ps, at), c1, c2;
    if (c0 == '-')
        return 1;
    if (at + 3 > limit)
        return 0;
    c1 = byte_at(ps, at + 1);
    c2 = byte_at(ps, at + 2);
    if (c0 == 0xE2 && c1 == 0x80 && c2 >= 0x90 && c2 <= 0x95)
        return 3;
    if (c0 == 0xE2 && c1 == 0x88 && c2 == 0x92)
        return 3;
    if (c0 == 0xEF && ((c1 == 0xBC && c2 == 0x8D) || (c1 == 0xB9 && c2 == 0xA3)))
        return 3;
    return 0;
}

static size_t skip_blanks(const struct parser *ps, size_t at, size_t limit)
{
    size_t budget = 8;
    while (at < limit && budget--) {
        unsigned char c = byte_at(ps, at);
        if (is_blank(c))
            at++;
        else if (c == 0xC2 && byte_at(ps, at + 1) == 0xA0 && at + 2 <= limit)
            at += 2; /* no-break space, common in text pasted from Word */
        else
            break;
    }
    return at;
}

/* Digits at at, at most 5 so a long run costs O(1); returns count, value in *value. */
static size_t digit_run(const struct parser *ps, size_t at, size_t limit, int *value)
{
    size_t n = 0;
    int v = 0;
    while (at + n < limit && is_digit(byte_at(ps, at + n)) && n < 5) {
        v = v * 10 + (byte_at(ps, at + n) - '0');
        n++;
    }
    *value = v;
    return n;
}

static int plausible_year(const struct parser *ps, int year)
{
    return year >= 1950 && year <= ps->max_year;
}

static int two_digit_year(const struct parser *ps, int yy)
{
    return 2000 + yy <= ps->max_year ? 2000 + yy : 1900 + yy;
}

static const char *const month_names[12] = {
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december"
};

/*
 * Month index (1-12) of a three-letter lowercase prefix, 0 if no month name
 * starts so.  The twelve prefixes are distinct, so the prefix alone decides
 * which month a word can abbreviate.
 */
static int month_of_prefix(unsigned char a, unsigned char b, unsigned char c)
{
    switch (a) {
    case 'j':
        if (b == 'a')
            return c == 'n' ? 1 : 0;
        if (b == 'u')
            return c == 'n' ? 6 : c == 'l' ? 7 : 0;
        return 0;
    case 'f':
        return b == 'e' && c == 'b' ? 2 : 0;
    case 'm':
        return b != 'a' ? 0 : c == 'r' ? 3 : c == 'y' ? 5 : 0;
    case 'a':
        return b == 'p' && c == 'r' ? 4 : b == 'u' && c == 'g' ? 8 : 0;
    case 's':
        return b == 'e' && c == 'p' ? 9 : 0;
    case 'o':
        return b == 'c' && c == 't' ? 10 : 0;
    case 'n':
        return b == 'o' && c == 'v' ? 11 : 0;
    case 'd':
        return b == 'e' && c == 'c' ? 12 : 0;
    default:
        return 0;
    }
}

/*
 * Month name or abbreviation ("Sept", "Sep.", "Dec") at at; returns 1-12 or 0:
 * a word of 3-9 letters that is a prefix of a month name.  It
 * runs at nearly every word start, so the first three bytes are tested
 * before the word is measured: most words fail there.
 */
static int month_word(const struct parser *ps, size_t at, size_t limit, size_t *end)
{
    size_t n;
    int m;
    const char *name;
    if (at + 3 > limit || !is_alpha(byte_at(ps, at + 1)) || !is_alpha(byte_at(ps, at + 2)))
        return 0;
    m = month_of_prefix(to_lower(byte_at(ps, at)), to_lower(byte_at(ps, at + 1)), to_lower(byte_at(ps, at + 2)));
    if (!m)
        return 0;
    name = month_names[m - 1];
    /* "sept" needs no case of its own: it is a prefix of "september" */
    for (n = 3; at + n < limit && is_alpha(byte_at(ps, at + n)); n++) {
        if (n >= 9 || name[n] == 0 || to_lower(byte_at(ps, at + n)) != (unsigned char)name[n])
            return 0; /* ten letters or more, or not a prefix of the name */
    }
    *end = at + n;
    return m;
}

/*
 * "Summer 2016 - Fall 2017": a season as the month it starts in (winter as
 * January, the winter term of that year).  Returns 1-12 or 0.
 */
static int season_word(const struct parser *ps, size_t at, size_t limit, size_t *end)
{
    static const struct {
        const char *name;
        int month;
    } seasons[] = { { "spring", 3 }, { "summer", 6 }, { "fall", 9 }, { "autumn", 9 }, { "winter", 1 } };
    size_t i;
    for (i = 0; i < sizeof(seasons) / sizeof(seasons[0]); i++) {
        if (word_at(ps, at, limit, seasons[i].name)) {
            *end = at + strlen(seasons[i].name);
            return seasons[i].month;
        }
    }
    return 0;
}

struct date_item {
    int year, month;   /* month 0: year only */
    int present;
    size_t end;
};

/* Year after a month name: "2019", "'19", "’19", "-2019", "15, 2019" (day). */
static int month_year_tail(const struct parser *ps, size_t at, size_t limit, struct date_item *it)
{
    size_t p = at, n;
    int v, quoted = 0;
    if (byte_at(ps, p) == '.' && p < limit)
        p++;
    if (byte_at(ps, p) == ',' && p < limit)
        p++;
    p = skip_blanks(ps, p, limit);
    if (p < limit && (byte_at(ps, p) == '\'' || byte_at(ps, p) == '`')) {
        p++;
        quoted = 1;
    } else if (p + 3 <= limit && byte_at(ps, p) == 0xE2 && byte_at(ps, p + 1) == 0x80 &&
               (byte_at(ps, p + 2) == 0x98 || byte_at(ps, p + 2) == 0x99)) {
        p += 3;
        quoted = 1;
    } else if (p < limit && (byte_at(ps, p) == '-' || byte_at(ps, p) == '/') &&
               is_digit(byte_at(ps, p + 1)) && p + 1 < limit) {
        p++;
    }
    n = digit_run(ps, p, limit, &v);
    if (n == 4) {
        if (!plausible_year(ps, v))
            return 0;
        it->year = v;
        it->end = p + 4;
    } else if (n == 2 || (n == 1 && !quoted)) {
        /* "Jan 15, 2019": the number was a day, the year follows */
        size_t q = p + n;
        int y;
        if (byte_at(ps, q) == ',' && q < limit)
            q++;
        q = skip_blanks(ps, q, limit);
        if (digit_run(ps, q, limit, &y) == 4 && plausible_year(ps, y)) {
            it->year = y;
            it->end = q + 4;
        } else if (n == 2) {
            it->year = two_digit_year(ps, v);
            it->end = p + 2;
        } else {
            return 0;
        }
    } else {
        return 0;
    }
    return it->end >= limit || !is_alnum(byte_at(ps, it->end));
}

/*
 * One date at at.  year_only_fallback: read "2019-03" as just "2019", so a
 * short year range such as "2011-12" can still be tried by the caller.
 */
static int date_item_at(const struct parser *ps, size_t at, size_t limit, int year_only_fallback,
                        struct date_item *it)
{
    unsigned char c = byte_at(ps, at);
    size_t n1, q;
    int v1;
    memset(it, 0, sizeof(*it));
    if (at >= limit)
        return 0;
    if (is_alpha(c)) {
        size_t e;
        int m = month_word(ps, at, limit, &e);
        if (!m && (m = season_word(ps, at, limit, &e)) == 0)
            return 0;
        it->month = m;
        return month_year_tail(ps, e, limit, it);
    }
    if (!is_digit(c))
        return 0;
    n1 = digit_run(ps, at, limit, &v1);
    q = at + n1;
    if (n1 <= 2) {
        size_t r = q, e;
        int m;
        /* "1st Oct 2015", "01 Oct 2015": the day is ignored */
        if (r + 2 <= limit && (match_at(ps, r, limit, "st") || match_at(ps, r, limit, "nd") ||
                               match_at(ps, r, limit, "rd") || match_at(ps, r, limit, "th")))
            r += 2;
        r = skip_blanks(ps, r, limit);
        if (r < limit && is_alpha(byte_at(ps, r)) && (m = month_word(ps, r, limit, &e)) != 0) {
            it->month = m;
            return month_year_tail(ps, e, limit, it);
        }
        if (q + 1 < limit && (byte_at(ps, q) == '/' || byte_at(ps, q) == '-' || byte_at(ps, q) == '.') &&
            is_digit(byte_at(ps, q + 1))) {
            unsigned char sep = byte_at(ps, q);
            int v2, v3;
            size_t n2 = digit_run(ps, q + 1, limit, &v2), r2 = q + 1 + n2;
            int more = r2 + 1 < limit && byte_at(ps, r2) == sep && is_digit(byte_at(ps, r2 + 1));
            if (n2 == 4 && !more && v1 >= 1 && v1 <= 12 && plausible_year(ps, v2) &&
                (r2 >= limit || !is_alnum(byte_at(ps, r2)))) {
                it->month = v1;
                it->year = v2;
                it->end = r2;
                return 1;
            }
            if (n2 <= 2 && more && digit_run(ps, r2 + 1, limit, &v3) == 4 && plausible_year(ps, v3) &&
                (r2 + 5 >= limit || !is_alnum(byte_at(ps, r2 + 5)))) {
                /* DD/MM/YYYY unless the numbers prove MM/DD; most of these resumes are day-first */
                int month = v1 > 12 ? v2 : (v2 > 12 ? v1 : v2);
                if (month < 1 || month > 12)
                    return 0;
                it->month = month;
                it->year = v3;
                it->end = r2 + 5;
                return 1;
            }
            if (n2 == 2 && sep == '/' && !more && v1 >= 1 && v1 <= 12 &&
                (r2 >= limit || !is_alnum(byte_at(ps, r2)))) {
                it->month = v1;
                it->year = two_digit_year(ps, v2);
                it->end = r2;
                return 1;
            }
        }
        return 0;
    }
    if (n1 != 4 || !plausible_year(ps, v1))
        return 0;
    it->year = v1;
    if (!year_only_fallback && q + 2 < limit && (byte_at(ps, q) == '-' || byte_at(ps, q) == '/' || byte_at(ps, q) == '.')) {
        int v2;
        size_t n2 = digit_run(ps, q + 1, limit, &v2);
        if (n2 == 2 && v2 >= 1 && v2 <= 12 && (q + 3 >= limit || !is_alnum(byte_at(ps, q + 3)))) {
            it->month = v2;
            it->end = q + 3;
            return 1;
        }
    }
    it->end = q;
    return q >= limit || !is_alnum(byte_at(ps, q));
}

static const char *const present_words[] = {
    "present", "current", "currently", "now", "today", "date", "ongoing", "continuing",
    "tilldate", "till date", "till now", "till present", "till today", NULL
};

/* "Present", "till date", "to date"... as the end of a range. */
static int present_at(const struct parser *ps, size_t at, size_t limit, size_t *end)
{
    size_t i;
    if (word_at(ps, at, limit, "until"))
        at = skip_blanks(ps, at + 5, limit);
    else if (word_at(ps, at, limit, "upto"))
        at = skip_blanks(ps, at + 4, limit);
    else if (word_at(ps, at, limit, "up to"))
        at = skip_blanks(ps, at + 5, limit);
    else if (word_at(ps, at, limit, "to"))
        at = skip_blanks(ps, at + 2, limit);
    for (i = 0; present_words[i]; i++) {
        if (word_at(ps, at, limit, present_words[i])) {
            *end = at + strlen(present_words[i]);
            return 1;
        }
    }
    return 0;
}

/* Range connector: dashes, "~", "to", "till", "until", "through". */
static int connector_at(const struct parser *ps, size_t at, size_t limit, size_t *end)
{
    static const char *const words[] = { "to", "till", "until", "through", "thru", "upto", NULL };
    size_t p = skip_blanks(ps, at, limit), d, i;
    int found = 0;
    while ((d = dash_at(ps, p, limit)) != 0) {
        p += d;
        found = 1;
    }
    if (!found && p < limit && byte_at(ps, p) == '~') {
        p++;
        found = 1;
    }
    /* every connector word starts with "t" or "u" */
    if (!found && ((byte_at(ps, p) | 0x20) == 't' || (byte_at(ps, p) | 0x20) == 'u')) {
        for (i = 0; words[i]; i++) {
            if (word_at(ps, p, limit, words[i]) && !(i == 1 && word_at(ps, p, limit, "till date"))) {
                p += strlen(words[i]);
                found = 1;
                break;
            }
        }
    }
    if (!found)
        return 0;
    *end = skip_blanks(ps, p, limit);
    return 1;
}

static int month_index(int year, int month) { return year * 12 + (month ? month - 1 : 0); }

/* Digits or number-ish punctuation around a bare year range mean a phone number or an id. */
static int numeric_neighbourhood(const struct parser *ps, size_t start, size_t end, size_t line_start, size_t limit)
{
    unsigned char before = start > line_start ? byte_at(ps, start - 1) : ' ';
    unsigned char after = end < limit ? byte_at(ps, end) : ' ';
    if (is_digit(before) || before == '+' || before == '.' || before == '/' || before == '-' || before == '#')
        return 1;
    if (is_digit(after))
        return 1;
    if ((after == '-' || after == '/' || after == '.') && end + 1 < limit && is_digit(byte_at(ps, end + 1)))
        return 1;
    return 0;
}

/* A full date range starting at at. */
static int range_at(const struct parser *ps, size_t at, size_t line_start, size_t limit, struct date_range *out)
{
    int variant;
    for (variant = 0; variant < 2; variant++) {
        struct date_item a, b;
        size_t p, e;
        /* variant 1 reads the same bytes and can only drop a month, so it fails where variant 0 did */
        if (!date_item_at(ps, at, limit, variant, &a))
            break;
        if (variant == 1 && a.month)
            continue;
        if (!connector_at(ps, a.end, limit, &p))
            continue;
        memset(out, 0, sizeof(*out));
        out->start_year = a.year;
        out->start_month = a.month;
        out->start = at;
        if (present_at(ps, p, limit, &e)) {
            out->end_year = ps->ref_year;
            out->end_month = ps->ref_month;
            out->present = 1;
            out->end = e;
            if (a.year > ps->ref_year)
                continue;
            return 1;
        }
        if (!date_item_at(ps, p, limit, 0, &b) && !date_item_at(ps, p, limit, 1, &b))
            continue;
        if (b.year < a.year || b.year - a.year > 45)
            continue;
        if (b.year == a.year && a.month && b.month && b.month < a.month)
            continue;
        if (!a.month && !b.month && numeric_neighbourhood(ps, at, b.end, line_start, limit))
            continue;
        out->end_year = b.year;
        out->end_month = b.month;
        out->end = b.end;
        return 1;
    }
    return 0;
}

/* "since 2015", "from March 2016 onwards": open ranges. */
static int open_range_at(const struct parser *ps, size_t at, size_t limit, struct date_range *out)
{
    struct date_item a;
    size_t p = at;
    int since = 0;
    if (word_at(ps, at, limit, "since")) {
        since = 1;
        p = skip_blanks(ps, at + 5, limit);
        if (range_at(ps, p, at, limit, out))
            return 1;
    }
    if (!date_item_at(ps, p, limit, 0, &a) || a.year > ps->ref_year)
        return 0;
    memset(out, 0, sizeof(*out));
    if (!since) {
        size_t q = skip_blanks(ps, a.end, limit);
        if (!word_at(ps, q, limit, "onwards") && !word_at(ps, q, limit, "onward"))
            return 0;
        out->end = q + 7;
    } else {
        out->end = a.end;
    }
    out->start_year = a.year;
    out->start_month = a.month;
    out->end_year = ps->ref_year;
    out->end_month = ps->ref_month;
    out->present = 1;
    out->start = at;
    return 1;
}

/*
 * Whether a range can start at the word start p: every date begins with a
 * digit or a month name, an open range may also begin with "since".  Tested
 * first because find_range() visits every word of every line.
 */
static int may_start_range(const struct parser *ps, size_t p, size_t end)
{
    unsigned char c = byte_at(ps, p);
    size_t e;
    if (is_digit(c))
        return 1;
    return month_word(ps, p, end, &e) != 0 || ((c | 0x20) == 's' && word_at(ps, p, end, "since")) ||
           season_word(ps, p, end, &e) != 0;
}

static int find_range(const struct parser *ps, size_t start, size_t end, struct date_range *out)
{
    size_t p;
    for (p = start; p < end; p++) {
        unsigned char c = byte_at(ps, p);
        if (!is_alnum(c))
            continue;
        /* p starts a word: the previous byte is no letter or digit (the loop skips whole words) */
        if ((char_class[c] & CH_DATE) && may_start_range(ps, p, end) &&
            (range_at(ps, p, start, end, out) || open_range_at(ps, p, end, out)))
            return 1;
        while (p + 1 < end && is_alnum(byte_at(ps, p + 1)))
            p++;
    }
    return 0;
}

static int line_is_blank(const struct text_line *ln) { return ln->start == ln->end; }

/* ---- headings ---- */

/* Skips bullets and punctuation at the start of a line. */
static size_t trim_left_plain(const struct parser *ps, size_t s, size_t e)
{
    while (s < e && !is_alnum(byte_at(ps, s)))
        s++;
    return s;
}

static const char *const experience_headings[] = {
    "experience", "work experience", "professional experience", "employment history",
    "employment", "work history", "career history", "employment details",
    "professional background", "experience details", "work experience details",
    "relevant experience", "internship", "internships", "internship experience",
    "organisational experience", "organizational experience", "job history",
    "positions held", "professional experience details", "employment record",
    "previous experience", "industrial experience", "industry experience",
    "professional history", "career", "work", "experience summary",
    "relevant work experience", "professional work experience", "it experience",
    "working experience", "job experience", "corporate experience", NULL
};
static const char *const education_headings[] = {
    "education", "educational qualification", "educational qualifications",
    "academic qualification", "academic qualifications", "qualification",
    "qualifications", "academics", "academic background", "academic details",
    "educational background", "education details", "academic profile",
    "educational details", "education training", "academic credentials",
    "scholastic profile", "educational profile", "education qualification",
    "technical qualification", "professional qualification",
    "professional qualifications", "education background", "academic record",
    "education credentials", "scholastic", NULL
};
static const char *const dated_other_headings[] = {
    "projects", "project", "academic projects", "academic project", "personal projects",
    "project details", "projects undertaken", "key projects", "project experience",
    "certifications", "certification", "certificates", "certifications licenses",
    "licenses", "awards", "achievements", "accomplishments", "honors", "honours",
    "awards achievements", "publications", "trainings", "training", "workshops",
    "seminars", "training certifications", "extra curricular activities",
    "extracurricular activities", "co curricular activities", "activities",
    "volunteer", "volunteer experience", "volunteering", "patents", "conferences",
    "groups", "military service", "courses", "online courses", NULL
};
static const char *const other_headings[] = {
    "skills", "technical skills", "key skills", "core skills", "skill set", "skillset",
    "it skills", "skills summary", "core competencies", "competencies",
    "additional information", "languages", "language", "languages known", "links",
    "interests", "hobbies", "references", "summary", "professional summary",
    "career objective", "objective", "profile", "profile summary", "personal details",
    "personal information", "personal profile", "declaration", "strengths",
    "key strengths", "contact", "contact information", "computer skills",
    "soft skills", "areas of expertise", "area of expertise", "expertise",
    "technical proficiency", "technical expertise", "software skills", "tools",
    "technologies", "career profile", "about me", "professional profile",
    "executive summary", "summary of skills", "area of interest", "areas of interest",
    "key achievements", "personal", "hobbies interests", "additional skills",
    "technical summary", "profile overview", NULL
};

static int in_list(const char *const *list, const char *s)
{
    /* comparing the first byte first keeps the word tables cheap to scan */
    for (; *list; list++) {
        if ((*list)[0] == s[0] && strcmp(*list, s) == 0)
            return 1;
    }
    return 0;
}

/*
 * Whether every word of text[s, e) but the short joining ones ("and", "of")
 * starts with a capital: "Work History", "Education and Training".
 */
static int title_case(const struct parser *ps, size_t s, size_t e)
{
    size_t p, w;
    for (p = s; p < e; p = w) {
        while (p < e && !is_alpha(byte_at(ps, p)))
            p++;
        for (w = p; w < e && is_alpha(byte_at(ps, w)); w++)
            ;
        if (w > p && !is_upper(byte_at(ps, p)) && w - p > 3)
            return 0;
    }
    return 1;
}

/*
 * Section kind of a heading line, or -1 if the line is no known heading.
 * Wrapped prose can put a lone "training." on a line, so a heading must look
 * like one: capitalised, no final period, and in capitals, in Title Case,
 * ending with ':' or standing after a blank line.  Text taken from PDFs
 * keeps no blank lines, so Title Case alone must do there.
 */
static int heading_kind(const struct parser *ps, const struct text_line *ln, int after_blank)
{
    char buf[64];
    size_t n = 0, p, w;
    int lower = 0;
    unsigned char last;
    if (ln->end - ln->start > 48 || ln->end == ln->start)
        return -1;
    last = byte_at(ps, ln->end - 1);
    if (last == '.' || last == ',' || last == ';' || !is_upper(byte_at(ps, trim_left_plain(ps, ln->start, ln->end))))
        return -1;
    for (p = ln->start; p < ln->end; p++)
        lower |= byte_at(ps, p) >= 'a' && byte_at(ps, p) <= 'z';
    if (lower && !after_blank && last != ':' && !title_case(ps, ln->start, ln->end))
        return -1;
    for (p = ln->start; p < ln->end; p++) {
        unsigned char c = byte_at(ps, p);
        if (is_digit(c))
            return -1;
        if (is_alpha(c)) {
            buf[n++] = (char)to_lower(c);
        } else if (c == '\'' && n > 0) {
            continue;
        } else if (n > 0 && buf[n - 1] != ' ') {
            buf[n++] = ' ';
        }
        if (n >= sizeof(buf) - 1)
            return -1;
    }
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = 0;
    /* drop the word "and" so "Awards & Achievements" and "Awards and Achievements" agree */
    for (p = 0, w = 0; p <= n;) {
        /* byte compares stop at the NUL at buf[n] just as strncmp would */
        if (buf[p] == 'a' && buf[p + 1] == 'n' && buf[p + 2] == 'd' && buf[p + 3] == ' ' &&
            (p == 0 || buf[p - 1] == ' ')) {
            p += 4;
            continue;
        }
        buf[w++] = buf[p++];
    }
    if (in_list(experience_headings, buf))
        return SECTION_EXPERIENCE;
    if (in_list(education_headings, buf))
        return SECTION_EDUCATION;
    if (in_list(dated_other_headings, buf))
        return SECTION_DATED_OTHER;
    if (in_list(other_headings, buf))
        return SECTION_OTHER;
    /* "Teaching Experience", "Military Experience", "Employment History": a field's own work history */
    n = strlen(buf);
    if (n <= 40 && ((n > 11 && strcmp(buf + n - 11, " experience") == 0) ||
                    (n > 8 && strcmp(buf + n - 8, " history") == 0)))
        return SECTION_EXPERIENCE;
    return -1;
}

/* Bullets: ASCII markers, "o " as typed in Word, and any UTF-8 symbol from U+2000-U+2BFF or the private-use area. */
static size_t bullet_len(const struct parser *ps, size_t at, size_t end)
{
    unsigned char c = byte_at(ps, at);
    if (at >= end)
        return 0;
    if (c == '*' || c == '>' || c == '~' || c == '+' || c == '#')
        return 1;
    if (c == '-' && (at + 1 >= end || byte_at(ps, at + 1) != '-'))
        return 1;
    if (c == 'o' && at + 1 < end && byte_at(ps, at + 1) == ' ')
        return 1;
    if (c == 0xC2 && byte_at(ps, at + 1) == 0xB7 && at + 2 <= end)
        return 2;
    if (at + 3 <= end && ((c == 0xE2 && byte_at(ps, at + 1) >= 0x80 && byte_at(ps, at + 1) <= 0xAF) ||
                          (c == 0xEF && byte_at(ps, at + 1) >= 0x80 && byte_at(ps, at + 1) <= 0xA3)))
        return 3;
    return 0;
}

/* ---- words and cues ---- */

/*
 * Word cues, sorted by strcmp so cues_of() can binary-search them (a linear
 * scan of several hundred words per word made the parse 3x slower).
 * CUE_TITLE: role vocabulary; weak words such as "sales" only count when not
 * the whole segment.  CUE_STRONG: a word that names a role on its own
 * ("Support Engineer" vs "Sales").  CUE_COMPANY: corporate suffixes and
 * organisation words.  CUE_DEGREE / CUE_INSTITUTION: education.
 * Keep the order: cases_alloc checks it.
 */
enum { CUE_TITLE = 1, CUE_STRONG = 2, CUE_COMPANY = 4, CUE_DEGREE = 8, CUE_INSTITUTION = 16 };
struct cue_word {
    const char *word;
    unsigned char flags;
};
static const struct cue_word cue_words[] = {
    { "academy", CUE_COMPANY | CUE_INSTITUTION }, { "accountant", CUE_TITLE | CUE_STRONG },
    { "adjuster", CUE_TITLE | CUE_STRONG }, { "admin", CUE_TITLE }, { "administrative", CUE_TITLE },
    { "administrator", CUE_TITLE | CUE_STRONG },
    { "adviser", CUE_TITLE }, { "advisor", CUE_TITLE | CUE_STRONG }, { "advisory", CUE_TITLE },
    { "advocate", CUE_TITLE }, { "ag", CUE_COMPANY }, { "agency", CUE_COMPANY },
    { "agent", CUE_TITLE | CUE_STRONG }, { "agm", CUE_TITLE }, { "aide", CUE_TITLE | CUE_STRONG },
    { "airlines", CUE_COMPANY },
    { "airways", CUE_COMPANY }, { "analyst", CUE_TITLE | CUE_STRONG }, { "analytics", CUE_COMPANY },
    { "animator", CUE_TITLE }, { "application", CUE_TITLE }, { "applications", CUE_TITLE },
    { "appraiser", CUE_TITLE | CUE_STRONG }, { "apprentice", CUE_TITLE }, { "apprenticeship", CUE_TITLE },
    { "architect", CUE_TITLE | CUE_STRONG },
    { "artist", CUE_TITLE }, { "assembler", CUE_TITLE | CUE_STRONG }, { "assistant", CUE_TITLE | CUE_STRONG },
    { "associate", CUE_TITLE | CUE_STRONG },
    { "associates", CUE_COMPANY }, { "asst", CUE_TITLE }, { "attendant", CUE_TITLE | CUE_STRONG },
    { "attorney", CUE_TITLE | CUE_STRONG }, { "auditor", CUE_TITLE | CUE_STRONG },
    { "authority", CUE_COMPANY }, { "automation", CUE_COMPANY }, { "automotive", CUE_COMPANY },
    { "avp", CUE_TITLE }, { "ba", CUE_DEGREE }, { "bachelor", CUE_DEGREE }, { "bachelors", CUE_DEGREE },
    { "baker", CUE_TITLE | CUE_STRONG }, { "bank", CUE_COMPANY }, { "banker", CUE_TITLE | CUE_STRONG },
    { "barista", CUE_TITLE | CUE_STRONG }, { "bartender", CUE_TITLE | CUE_STRONG }, { "bba", CUE_DEGREE },
    { "bca", CUE_DEGREE },
    { "bcom", CUE_DEGREE }, { "be", CUE_DEGREE }, { "biologist", CUE_TITLE | CUE_STRONG },
    { "bookkeeper", CUE_TITLE | CUE_STRONG }, { "bpo", CUE_COMPANY }, { "broker", CUE_TITLE | CUE_STRONG },
    { "bs", CUE_DEGREE },
    { "bsc", CUE_DEGREE }, { "btech", CUE_DEGREE }, { "builders", CUE_COMPANY }, { "business", CUE_TITLE },
    { "buyer", CUE_TITLE }, { "bv", CUE_COMPANY }, { "capital", CUE_COMPANY },
    { "caregiver", CUE_TITLE | CUE_STRONG }, { "carpenter", CUE_TITLE | CUE_STRONG },
    { "cashier", CUE_TITLE | CUE_STRONG }, { "caterer", CUE_TITLE | CUE_STRONG }, { "cbse", CUE_DEGREE },
    { "ceo", CUE_TITLE }, { "cfo", CUE_TITLE },
    { "cgpa", CUE_DEGREE }, { "chef", CUE_TITLE | CUE_STRONG }, { "chemicals", CUE_COMPANY },
    { "chemist", CUE_TITLE | CUE_STRONG }, { "chief", CUE_TITLE }, { "cio", CUE_TITLE },
    { "clerk", CUE_TITLE | CUE_STRONG },
    { "clinic", CUE_COMPANY }, { "co", CUE_COMPANY }, { "coach", CUE_TITLE | CUE_STRONG },
    { "coder", CUE_TITLE },
    { "cofounder", CUE_TITLE }, { "college", CUE_COMPANY | CUE_INSTITUTION }, { "commission", CUE_COMPANY },
    { "communications", CUE_COMPANY }, { "company", CUE_COMPANY }, { "constructions", CUE_COMPANY },
    { "consultancy", CUE_COMPANY }, { "consultant", CUE_TITLE | CUE_STRONG }, { "consultants", CUE_STRONG },
    { "consulting", CUE_COMPANY }, { "content", CUE_TITLE }, { "controller", CUE_TITLE | CUE_STRONG },
    { "coo", CUE_TITLE }, { "cook", CUE_TITLE | CUE_STRONG }, { "coordinator", CUE_TITLE | CUE_STRONG },
    { "corp", CUE_COMPANY },
    { "corporate", CUE_COMPANY }, { "corporation", CUE_COMPANY }, { "cosmetologist", CUE_TITLE | CUE_STRONG },
    { "council", CUE_COMPANY },
    { "counsel", CUE_TITLE }, { "counsellor", CUE_TITLE | CUE_STRONG },
    { "counselor", CUE_TITLE | CUE_STRONG }, { "cto", CUE_TITLE },
    { "custodian", CUE_TITLE | CUE_STRONG }, { "customer", CUE_TITLE }, { "dba", CUE_TITLE },
    { "degree", CUE_DEGREE }, { "delivery", CUE_TITLE },
    { "department", CUE_COMPANY }, { "deputy", CUE_TITLE }, { "designer", CUE_TITLE | CUE_STRONG },
    { "developer", CUE_TITLE | CUE_STRONG }, { "developers", CUE_TITLE }, { "devops", CUE_TITLE },
    { "dgm", CUE_TITLE }, { "dietitian", CUE_TITLE | CUE_STRONG }, { "digital", CUE_COMPANY },
    { "diploma", CUE_DEGREE },
    { "director", CUE_TITLE | CUE_STRONG }, { "dishwasher", CUE_TITLE | CUE_STRONG },
    { "dispatcher", CUE_TITLE | CUE_STRONG }, { "doctor", CUE_TITLE | CUE_STRONG },
    { "drafter", CUE_TITLE | CUE_STRONG }, { "draftsman", CUE_TITLE }, { "driver", CUE_TITLE | CUE_STRONG },
    { "ecommerce", CUE_COMPANY },
    { "economist", CUE_TITLE }, { "editor", CUE_TITLE | CUE_STRONG }, { "educator", CUE_TITLE | CUE_STRONG },
    { "electrician", CUE_TITLE | CUE_STRONG }, { "electronics", CUE_COMPANY }, { "employee", CUE_TITLE },
    { "energy", CUE_COMPANY }, { "engineer", CUE_TITLE | CUE_STRONG }, { "engineers", CUE_TITLE },
    { "enterprise", CUE_COMPANY }, { "enterprises", CUE_COMPANY }, { "esthetician", CUE_TITLE | CUE_STRONG },
    { "estimator", CUE_TITLE | CUE_STRONG },
    { "evangelist", CUE_TITLE }, { "evp", CUE_TITLE }, { "executive", CUE_TITLE | CUE_STRONG },
    { "executives", CUE_TITLE }, { "expert", CUE_TITLE }, { "exports", CUE_COMPANY },
    { "facilitator", CUE_TITLE }, { "fellow", CUE_TITLE | CUE_STRONG }, { "finance", CUE_COMPANY },
    { "financial", CUE_COMPANY }, { "foods", CUE_COMPANY }, { "foreman", CUE_TITLE },
    { "foundation", CUE_COMPANY }, { "founder", CUE_TITLE | CUE_STRONG }, { "freelance", CUE_TITLE },
    { "freelancer", CUE_TITLE | CUE_STRONG }, { "generalist", CUE_TITLE | CUE_STRONG },
    { "global", CUE_COMPANY }, { "gm", CUE_TITLE },
    { "gmbh", CUE_COMPANY }, { "government", CUE_COMPANY }, { "govt", CUE_COMPANY }, { "gpa", CUE_DEGREE },
    { "graduation", CUE_DEGREE }, { "group", CUE_COMPANY }, { "handler", CUE_TITLE },
    { "head", CUE_TITLE | CUE_STRONG }, { "healthcare", CUE_COMPANY }, { "helper", CUE_TITLE },
    { "holdings", CUE_COMPANY }, { "hospital", CUE_COMPANY }, { "hospitals", CUE_COMPANY },
    { "hotel", CUE_COMPANY }, { "hotels", CUE_COMPANY }, { "housekeeper", CUE_TITLE | CUE_STRONG },
    { "hr", CUE_TITLE }, { "hsc", CUE_DEGREE },
    { "hygienist", CUE_TITLE | CUE_STRONG }, { "icse", CUE_DEGREE }, { "ii", CUE_TITLE },
    { "iii", CUE_TITLE }, { "iit", CUE_INSTITUTION }, { "inc", CUE_COMPANY }, { "incharge", CUE_TITLE },
    { "incorporated", CUE_COMPANY }, { "industries", CUE_COMPANY }, { "infosystems", CUE_COMPANY },
    { "infotech", CUE_COMPANY }, { "infoway", CUE_COMPANY }, { "infra", CUE_COMPANY },
    { "infrastructure", CUE_COMPANY }, { "inspector", CUE_TITLE | CUE_STRONG },
    { "installer", CUE_TITLE | CUE_STRONG }, { "institute", CUE_COMPANY | CUE_INSTITUTION },
    { "instructor", CUE_TITLE | CUE_STRONG },
    { "insurance", CUE_COMPANY }, { "interactive", CUE_COMPANY }, { "intermediate", CUE_DEGREE },
    { "intern", CUE_TITLE | CUE_STRONG }, { "international", CUE_COMPANY },
    { "internship", CUE_TITLE | CUE_STRONG }, { "janitor", CUE_TITLE | CUE_STRONG },
    { "journalist", CUE_TITLE | CUE_STRONG }, { "jr", CUE_TITLE },
    { "junior", CUE_TITLE }, { "kpo", CUE_COMPANY }, { "lab", CUE_COMPANY },
    { "laborer", CUE_TITLE | CUE_STRONG }, { "labs", CUE_COMPANY },
    { "lawyer", CUE_TITLE | CUE_STRONG }, { "lead", CUE_TITLE | CUE_STRONG },
    { "leader", CUE_TITLE | CUE_STRONG }, { "lecturer", CUE_TITLE | CUE_STRONG }, { "liaison", CUE_TITLE },
    { "librarian", CUE_TITLE | CUE_STRONG }, { "lifeguard", CUE_TITLE | CUE_STRONG },
    { "limited", CUE_COMPANY }, { "llc", CUE_COMPANY }, { "llp", CUE_COMPANY }, { "logistics", CUE_COMPANY },
    { "lp", CUE_COMPANY }, { "ltd", CUE_COMPANY }, { "ma", CUE_DEGREE },
    { "machinist", CUE_TITLE | CUE_STRONG }, { "management", CUE_TITLE },
    { "manager", CUE_TITLE | CUE_STRONG }, { "marketing", CUE_TITLE }, { "mart", CUE_COMPANY },
    { "mason", CUE_TITLE | CUE_STRONG }, { "master", CUE_DEGREE }, { "masters", CUE_DEGREE },
    { "matric", CUE_DEGREE },
    { "matriculation", CUE_DEGREE }, { "mba", CUE_DEGREE }, { "mca", CUE_DEGREE }, { "mcom", CUE_DEGREE },
    { "mechanic", CUE_TITLE | CUE_STRONG }, { "media", CUE_COMPANY }, { "member", CUE_TITLE },
    { "mentor", CUE_TITLE | CUE_STRONG }, { "merchandiser", CUE_TITLE }, { "mgr", CUE_TITLE },
    { "midwife", CUE_TITLE | CUE_STRONG }, { "mills", CUE_COMPANY }, { "ministry", CUE_COMPANY },
    { "motors", CUE_COMPANY }, { "ms", CUE_DEGREE },
    { "msc", CUE_DEGREE }, { "mtech", CUE_DEGREE }, { "nanny", CUE_TITLE | CUE_STRONG },
    { "network", CUE_COMPANY }, { "networks", CUE_COMPANY },
    { "ngo", CUE_COMPANY }, { "nit", CUE_INSTITUTION }, { "nurse", CUE_TITLE | CUE_STRONG },
    { "nutritionist", CUE_TITLE | CUE_STRONG }, { "officer", CUE_TITLE | CUE_STRONG },
    { "officers", CUE_TITLE }, { "operations", CUE_TITLE },
    { "operator", CUE_TITLE | CUE_STRONG }, { "organisation", CUE_COMPANY }, { "organization", CUE_COMPANY },
    { "owner", CUE_TITLE | CUE_STRONG }, { "painter", CUE_TITLE | CUE_STRONG },
    { "paralegal", CUE_TITLE | CUE_STRONG }, { "paramedic", CUE_TITLE | CUE_STRONG },
    { "paraprofessional", CUE_TITLE | CUE_STRONG }, { "partner", CUE_TITLE | CUE_STRONG },
    { "partners", CUE_COMPANY },
    { "percentage", CUE_DEGREE }, { "pgd", CUE_DEGREE }, { "pgdbm", CUE_DEGREE }, { "pgdm", CUE_DEGREE },
    { "pharma", CUE_COMPANY }, { "pharmaceuticals", CUE_COMPANY }, { "pharmacist", CUE_TITLE | CUE_STRONG },
    { "pharmacy", CUE_TITLE }, { "phd", CUE_DEGREE }, { "phlebotomist", CUE_TITLE | CUE_STRONG },
    { "photographer", CUE_TITLE | CUE_STRONG }, { "physician", CUE_TITLE | CUE_STRONG },
    { "physiotherapist", CUE_TITLE | CUE_STRONG }, { "pilot", CUE_TITLE | CUE_STRONG },
    { "planner", CUE_TITLE | CUE_STRONG }, { "plc", CUE_COMPANY }, { "plumber", CUE_TITLE | CUE_STRONG },
    { "polytechnic", CUE_INSTITUTION },
    { "postgraduate", CUE_DEGREE }, { "practitioner", CUE_TITLE }, { "president", CUE_TITLE | CUE_STRONG },
    { "principal", CUE_TITLE }, { "private", CUE_COMPANY }, { "process", CUE_TITLE },
    { "processor", CUE_TITLE }, { "producer", CUE_TITLE | CUE_STRONG }, { "product", CUE_TITLE },
    { "professional", CUE_TITLE },
    { "professor", CUE_TITLE | CUE_STRONG }, { "program", CUE_TITLE },
    { "programmer", CUE_TITLE | CUE_STRONG }, { "project", CUE_TITLE }, { "pte", CUE_COMPANY },
    { "pty", CUE_COMPANY }, { "puc", CUE_DEGREE }, { "pvt", CUE_COMPANY }, { "qa", CUE_TITLE },
    { "quality", CUE_TITLE }, { "realtor", CUE_TITLE | CUE_STRONG }, { "realty", CUE_COMPANY },
    { "receptionist", CUE_TITLE | CUE_STRONG },
    { "recruiter", CUE_TITLE | CUE_STRONG }, { "rep", CUE_TITLE | CUE_STRONG },
    { "reporter", CUE_TITLE | CUE_STRONG },
    { "representative", CUE_TITLE | CUE_STRONG }, { "research", CUE_TITLE },
    { "researcher", CUE_TITLE | CUE_STRONG }, { "resorts", CUE_COMPANY }, { "retail", CUE_COMPANY },
    { "reviewer", CUE_TITLE }, { "sales", CUE_TITLE }, { "salesperson", CUE_TITLE | CUE_STRONG },
    { "scheduler", CUE_TITLE },
    { "school", CUE_COMPANY | CUE_INSTITUTION }, { "schooling", CUE_DEGREE },
    { "scientist", CUE_TITLE | CUE_STRONG }, { "sde", CUE_TITLE | CUE_STRONG }, { "sdet", CUE_TITLE },
    { "secretary", CUE_TITLE | CUE_STRONG }, { "semester", CUE_DEGREE }, { "senior", CUE_TITLE },
    { "service", CUE_TITLE }, { "services", CUE_COMPANY }, { "sme", CUE_TITLE }, { "society", CUE_COMPANY },
    { "softech", CUE_COMPANY }, { "software", CUE_TITLE | CUE_COMPANY }, { "softwares", CUE_COMPANY },
    { "solutions", CUE_COMPANY }, { "sous", CUE_TITLE }, { "specialist", CUE_TITLE | CUE_STRONG },
    { "specialists", CUE_TITLE },
    { "sr", CUE_TITLE }, { "sre", CUE_TITLE }, { "srl", CUE_COMPANY }, { "ssc", CUE_DEGREE },
    { "sslc", CUE_DEGREE }, { "staff", CUE_TITLE }, { "statistician", CUE_TITLE }, { "steel", CUE_COMPANY },
    { "steward", CUE_TITLE | CUE_STRONG }, { "stewardess", CUE_TITLE | CUE_STRONG },
    { "stores", CUE_COMPANY }, { "strategist", CUE_TITLE }, { "studio", CUE_COMPANY },
    { "studios", CUE_COMPANY }, { "stylist", CUE_TITLE | CUE_STRONG },
    { "superintendent", CUE_TITLE | CUE_STRONG }, { "supervisor", CUE_TITLE | CUE_STRONG },
    { "support", CUE_TITLE },
    { "surveyor", CUE_TITLE | CUE_STRONG }, { "svp", CUE_TITLE }, { "systems", CUE_COMPANY },
    { "teacher", CUE_TITLE | CUE_STRONG }, { "tech", CUE_COMPANY }, { "technical", CUE_TITLE },
    { "technician", CUE_TITLE | CUE_STRONG }, { "technologies", CUE_COMPANY },
    { "technologist", CUE_TITLE | CUE_STRONG }, { "technology", CUE_COMPANY }, { "technosoft", CUE_COMPANY },
    { "telecom", CUE_COMPANY }, { "teller", CUE_TITLE | CUE_STRONG }, { "tester", CUE_TITLE | CUE_STRONG },
    { "textiles", CUE_COMPANY },
    { "therapist", CUE_TITLE | CUE_STRONG }, { "tl", CUE_TITLE }, { "traders", CUE_COMPANY },
    { "trading", CUE_COMPANY },
    { "trainee", CUE_TITLE | CUE_STRONG }, { "trainer", CUE_TITLE | CUE_STRONG },
    { "treasurer", CUE_TITLE | CUE_STRONG }, { "trust", CUE_COMPANY },
    { "tutor", CUE_TITLE | CUE_STRONG }, { "underwriter", CUE_TITLE | CUE_STRONG },
    { "university", CUE_COMPANY | CUE_INSTITUTION }, { "ventures", CUE_COMPANY },
    { "vidyalaya", CUE_INSTITUTION }, { "vidyapeeth", CUE_INSTITUTION }, { "volunteer", CUE_TITLE },
    { "vp", CUE_TITLE }, { "waiter", CUE_TITLE | CUE_STRONG }, { "waitress", CUE_TITLE | CUE_STRONG },
    { "webmaster", CUE_TITLE }, { "welder", CUE_TITLE | CUE_STRONG }, { "worker", CUE_TITLE },
    { "worldwide", CUE_COMPANY },
    { "writer", CUE_TITLE | CUE_STRONG },
};

/* Flags of a lowercase word, 0 if it is no cue. */
static int cue_flags(const char *word)
{
    size_t lo = 0, hi = sizeof(cue_words) / sizeof(cue_words[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* the first bytes decide most steps without a call to strcmp */
        int c = (unsigned char)word[0] - (unsigned char)cue_words[mid].word[0];
        if (c == 0)
            c = strcmp(word, cue_words[mid].word);
        if (c == 0)
            return cue_words[mid].flags;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

struct cues {
    int title, strong_title, company, degree, institution, words, capitalised, digits;
};

/*
 * Whether the dot at p joins two letter runs into one word: "B.Tech", "Ph.D",
 * "M.B.A" are abbreviations, but "Sr.Manager", "Dy.Manager" are two words
 * written without a space (one side of an abbreviation's dot is one letter).
 */
static int dot_joins(const struct parser *ps, size_t p, size_t end)
{
    size_t before = 0, after = 0;
    while (before < p && before < 2 && is_alpha(byte_at(ps, p - 1 - before)))
        before++;
    while (p + 1 + after < end && after < 2 && is_alpha(byte_at(ps, p + 1 + after)))
        after++;
    return before <= 1 || after <= 1;
}

/* Word cues of text[start, end): letters and dots form words ("B.Tech" -> "btech"). */
static void cues_of(const struct parser *ps, size_t start, size_t end, struct cues *cu)
{
    size_t p = start;
    memset(cu, 0, sizeof(*cu));
    while (p < end) {
        char word[24];
        size_t n = 0;
        int overflow = 0, upper = 0, flags;
        unsigned char c = byte_at(ps, p);
        if (is_digit(c))
            cu->digits++;
        if (!is_alpha(c)) {
            p++;
            continue;
        }
        upper = is_upper(c);
        while (p < end && (is_alpha(byte_at(ps, p)) || (byte_at(ps, p) == '.' && p + 1 < end && is_alpha(byte_at(ps, p + 1)) &&
                                                      dot_joins(ps, p, end)))) {
            if (byte_at(ps, p) != '.') {
                if (n < sizeof(word) - 1)
                    word[n++] = (char)to_lower(byte_at(ps, p));
                else
                    overflow = 1;
            }
            p++;
        }
        word[n] = 0;
        cu->words++;
        cu->capitalised += upper;
        if (overflow)
            continue;
        flags = cue_flags(word);
        cu->title += (flags & CUE_TITLE) != 0;
        cu->strong_title += (flags & CUE_STRONG) != 0;
        cu->company += (flags & CUE_COMPANY) != 0;
        cu->degree += (flags & CUE_DEGREE) != 0;
        cu->institution += (flags & CUE_INSTITUTION) != 0;
    }
}

/* Title-likeness minus company-likeness: positive means "reads as a job title". */
static int title_bias(const struct cues *cu)
{
    int t = cu->strong_title * 2 + (cu->title - cu->strong_title);
    return t - 2 * cu->company;
}

/* ---- segments ---- */

struct segment {
    size_t start, end;
    int after_at;   /* 1: followed "at", "@", "in": a company; -1: followed "as a": a title */
    int bracketed;  /* stood in "(...)" */
};

#define MAX_SEGMENTS 6

static size_t trim_left(const struct parser *ps, size_t s, size_t e)
{
    for (;;) {
        size_t b;
        unsigned char c = byte_at(ps, s);
        if (s >= e)
            return s;
        if (is_blank(c) || c == '|' || c == ',' || c == ':' || c == ';' || c == '(' || c == ')' ||
            c == '[' || c == ']' || c == '-' || c == '*' || c == '.' || c == '/' || c == '"')
            s++;
        else if ((b = bullet_len(ps, s, e)) != 0 && c != 'o')
            s += b;
        else if ((b = dash_at(ps, s, e)) != 0)
            s += b;
        else if (c == 0xC2 && s + 1 < e && byte_at(ps, s + 1) == 0xA0)
            s += 2;
        else
            return s;
    }
}

static size_t trim_right(const struct parser *ps, size_t s, size_t e)
{
    while (e > s) {
        unsigned char c = byte_at(ps, e - 1);
        if (is_blank(c) || c == '|' || c == ',' || c == ':' || c == ';' || c == '(' || c == ')' ||
            c == '[' || c == ']' || c == '-' || c == '*' || c == '/' || c == '"' || c == '.')
            e--;
        else if (e - s >= 3 && ((byte_at(ps, e - 3) == 0xE2 && byte_at(ps, e - 2) >= 0x80 && byte_at(ps, e - 2) <= 0xAF) ||
                                dash_at(ps, e - 3, e) == 3))
            e -= 3; /* dashes, bullets, arrows left at the end */
        else if (e - s >= 2 && byte_at(ps, e - 2) == 0xC2 && c == 0xA0)
            e -= 2;
        else
            break;
    }
    return e;
}

static void push_segment(const struct parser *ps, struct segment *segs, size_t *count, size_t s, size_t e, int after_at)
{
    s = trim_left(ps, s, e);
    e = trim_right(ps, s, e);
    if (e > s && *count < MAX_SEGMENTS) {
        segs[*count].start = s;
        segs[*count].end = e;
        segs[*count].after_at = after_at;
        segs[*count].bracketed = 0;
        (*count)++;
    }
}

static const char *const corporate_suffixes[] = {
    "ltd", "limited", "pvt", "private", "inc", "llc", "llp", "plc", "corp", "corporation",
    "co", "gmbh", "pte", "pty", "company", NULL
};

/*
 * A bracket inside a company name, "Name (India) Pvt. Ltd": short and
 * followed by a corporate suffix.  Returns the offset after ")" or 0.
 */
static size_t bracket_in_name(const struct parser *ps, size_t at, size_t end)
{
    size_t p, i;
    for (p = at + 1; p < end && p - at < 32 && byte_at(ps, p) != ')'; p++)
        if (byte_at(ps, p) == '(')
            return 0;
    if (p >= end || byte_at(ps, p) != ')')
        return 0;
    p = skip_blanks(ps, p + 1, end);
    for (i = 0; corporate_suffixes[i]; i++)
        if (word_at(ps, p, end, corporate_suffixes[i]))
            return p;
    return 0;
}

static void cues_of(const struct parser *ps, size_t start, size_t end, struct cues *cu);

/*
 * " as a " and " in "/" with " joining a role and an employer inside one
 * line: "Infosys as a Test Analyst" (a title follows: *kind = -1), "HR
 * Executive in Infosys" (an employer follows: *kind = 1).  "in"/"with" only
 * split after a role word and before a capitalised word, so "Masters in
 * Finance" or "Specialist in payments" stay whole.  Returns the bytes to
 * skip from the space at p, or 0.
 */
static size_t joining_word(const struct parser *ps, size_t seg_start, size_t p, size_t end, int *kind)
{
    static const char *const employer_words[] = { "in", "with", NULL };
    size_t q, i, n;
    if (word_at(ps, p + 1, end, "as") && p > seg_start) {
        q = skip_blanks(ps, p + 3, end);
        if (word_at(ps, q, end, "a"))
            q = skip_blanks(ps, q + 1, end);
        else if (word_at(ps, q, end, "an"))
            q = skip_blanks(ps, q + 2, end);
        if (q < end && is_alpha(byte_at(ps, q))) {
            struct cues cu;
            cues_of(ps, q, end, &cu);
            if (cu.strong_title) {
                *kind = -1;
                return q - p;
            }
        }
        return 0;
    }
    for (i = 0; employer_words[i]; i++) {
        n = strlen(employer_words[i]);
        if (word_at(ps, p + 1, end, employer_words[i]) && is_blank(byte_at(ps, p + 1 + n)) && p > seg_start) {
            struct cues cu;
            q = skip_blanks(ps, p + 1 + n, end);
            if (q >= end || !is_upper(byte_at(ps, q)))
                return 0;
            cues_of(ps, seg_start, p, &cu);
            if (!cu.strong_title || cu.degree)
                return 0;
            *kind = 1;
            return q - p;
        }
    }
    return 0;
}

static int word_in(const struct parser *ps, size_t at, size_t limit, const char *const *words)
{
    for (; *words; words++)
        if (word_at(ps, at, limit, *words))
            return 1;
    return 0;
}

/*
 * "City , State" inside a header line whose fields a PDF conversion joined
 * with spaces ("Company Name City , State Title"): a comma with a blank on
 * both sides, one capitalised word before it (two after a city prefix such
 * as "New" or "San") and one after it (two after "New", "North"...).
 * Returns 1 with the span in [*ls, *le).
 */
static int city_state_at(const struct parser *ps, size_t seg_start, size_t comma, size_t end, size_t *ls, size_t *le)
{
    static const char *const city_prefixes[] = {
        "new", "san", "santa", "los", "las", "saint", "st", "fort", "el", "la", "salt", "palm",
        "port", "baton", "des", "grand", "long", "little", "corpus", "mount", "north", "south",
        "east", "west", NULL
    };
    static const char *const state_prefixes[] = { "new", "north", "south", "west", "rhode", "district", NULL };
    size_t w, q, e, p;
    if (comma <= seg_start + 1 || !is_blank(byte_at(ps, comma - 1)) || comma + 1 >= end || !is_blank(byte_at(ps, comma + 1)))
        return 0;
    for (e = comma - 1; e > seg_start && is_blank(byte_at(ps, e - 1)); e--)
        ;
    for (w = e; w > seg_start && is_alpha(byte_at(ps, w - 1)) && e - w < 24; w--)
        ;
    if (w == e || !is_upper(byte_at(ps, w)) || (w > seg_start && !is_blank(byte_at(ps, w - 1))))
        return 0;
    /* one more word when the city is "New York", "San Diego" */
    for (p = w - (w > seg_start); p > seg_start && is_alpha(byte_at(ps, p - 1)) && w - p < 8; p--)
        ;
    if (p + 1 < w && is_upper(byte_at(ps, p)) && word_in(ps, p, w, city_prefixes) &&
        (p == seg_start || is_blank(byte_at(ps, p - 1))))
        w = p;
    q = skip_blanks(ps, comma + 1, end);
    if (!is_upper(byte_at(ps, q)))
        return 0;
    for (p = q; p < end && is_alpha(byte_at(ps, p)) && p - q < 24; p++)
        ;
    if (p - q < 2 || (p < end && !is_blank(byte_at(ps, p)) && byte_at(ps, p) != ',' && byte_at(ps, p) != ')'))
        return 0;
    if (word_in(ps, q, p, state_prefixes) && p + 1 < end && is_blank(byte_at(ps, p)) && is_upper(byte_at(ps, p + 1))) {
        for (p = p + 1; p < end && is_alpha(byte_at(ps, p)); p++)
            ;
    }
    *ls = w;
    *le = p;
    return 1;
}

/*
 * A title glued to its employer with no separator: "Charge Nurse Mercy
 * General Hospital".  The cut follows the last role word when the rest is
 * two or more capitalised words that carry a company cue and no role word.
 * Returns the offset of the employer, or 0.
 */
static size_t glued_employer(const struct parser *ps, size_t s, size_t e)
{
    size_t p = e, words = 0, w;
    int company = 0;
    while (p > s) {
        struct cues cu;
        size_t we;
        while (p > s && !is_alpha(byte_at(ps, p - 1))) {
            if (!is_blank(byte_at(ps, p - 1)) && byte_at(ps, p - 1) != '.' && byte_at(ps, p - 1) != '&')
                return 0; /* a separator the segment split would have used, or digits */
            p--;
        }
        we = p;
        while (p > s && is_alpha(byte_at(ps, p - 1)))
            p--;
        if (p == we)
            break;
        w = p;
        cues_of(ps, w, we, &cu);
        if (cu.title) {
            struct cues before;
            size_t rest = skip_blanks(ps, we, e);
            if (!company || words < 2 || !is_upper(byte_at(ps, rest)))
                return 0;
            cues_of(ps, s, we, &before);
            return before.strong_title ? rest : 0;
        }
        company |= cu.company;
        words++;
    }
    return 0;
}

/*
 * Splits a header line into parts at " - ", "|", " at ", "@", tabs, wide gaps
 * and brackets; commas only split when nothing stronger did ("Title, Company").
 * A " , " location and a title glued to its employer are parts too.
 */
static size_t split_segments_pass(const struct parser *ps, size_t start, size_t end, struct segment *segs, int max_pass)
{
    size_t count = 0, p, seg_start = start, loc_start, loc_end;
    int after_at = 0, pass, in_bracket;
    for (pass = 0; pass <= max_pass; pass++) {
        count = 0;
        seg_start = start;
        after_at = 0;
        in_bracket = 0;
        for (p = start; p < end;) {
            unsigned char c = byte_at(ps, p);
            size_t skip = 0, d;
            int at_word = 0;
            size_t close;
            if (c == '(' && (close = bracket_in_name(ps, p, end)) != 0) {
                p = close; /* "Max Erectors (India) Ltd" is one name */
                continue;
            }
            if (c == '|' || c == '\t' || c == '(' || c == ')' || c == '[' || c == ']')
                skip = 1;
            else if (c == ' ' && (d = dash_at(ps, p + 1, end)) != 0 && p + 1 + d < end &&
                     is_blank(byte_at(ps, p + 1 + d)))
                skip = 1 + d + 1;
            else if ((d = dash_at(ps, p, end)) == 3 && byte_at(ps, p + 2) >= 0x93 && p > start &&
                     is_alnum(byte_at(ps, p - 1)))
                skip = 3; /* "Title—Company" */
            else if (c == ' ' && (word_at(ps, p + 1, end, "at") || byte_at(ps, p + 1) == '@') &&
                     p + 3 < end && is_blank(byte_at(ps, p + 2 + (byte_at(ps, p + 1) == '@' ? 0 : 1)))) {
                skip = byte_at(ps, p + 1) == '@' ? 3 : 4;
                at_word = 1;
            } else if (c == '@' && p > start && p + 1 < end && is_blank(byte_at(ps, p + 1))) {
                skip = 2; /* "Associate@ Company" */
                at_word = 1;
            } else if (c == ' ' && (d = joining_word(ps, seg_start, p, end, &at_word)) != 0) {
                skip = d;
            } else if (c == ' ' && p + 2 < end && byte_at(ps, p + 1) == ' ' && byte_at(ps, p + 2) == ' ') {
                skip = 3;
            } else if (c == ',' && city_state_at(ps, seg_start, p, end, &loc_start, &loc_end)) {
                push_segment(ps, segs, &count, seg_start, loc_start, after_at);
                push_segment(ps, segs, &count, loc_start, loc_end, 0);
                after_at = 0;
                in_bracket = 0;
                p = seg_start = loc_end;
                continue;
            } else if (pass == 1 && c == ',') {
                skip = 1;
            }
            if (skip) {
                size_t before = count;
                push_segment(ps, segs, &count, seg_start, p, after_at);
                if (count > before)
                    segs[count - 1].bracketed = c == ')' && in_bracket;
                in_bracket = c == '(';
                after_at = at_word;
                p += skip;
                seg_start = p;
            } else {
                p++;
            }
        }
        push_segment(ps, segs, &count, seg_start, end, after_at);
        if (count != 1)
            break;
    }
    return count;
}

/* Cuts the parts that glue a title to its employer in two; returns the new count. */
static size_t split_glued(const struct parser *ps, struct segment *segs, size_t count)
{
    size_t i, cut;
    for (i = 0; i < count && count < MAX_SEGMENTS; i++) {
        if ((cut = glued_employer(ps, segs[i].start, segs[i].end)) == 0)
            continue;
        memmove(&segs[i + 2], &segs[i + 1], (count - i - 1) * sizeof(segs[0]));
        segs[i + 1] = segs[i];
        segs[i + 1].start = cut;
        segs[i + 1].after_at = 1;
        segs[i].end = trim_right(ps, segs[i].start, cut);
        count++;
        i++;
    }
    return count;
}

/* A country alone or after a comma: "India", "Dubai, UAE", "Remote". */
static int ends_with_country(const struct parser *ps, size_t start, size_t end)
{
    /* lengths stored with the names: the list is scanned for many header lines */
#define COUNTRY(name) { name, sizeof(name) - 1 }
    static const struct {
        const char *name;
        size_t len;
    } countries[] = {
        COUNTRY("remote"), COUNTRY("india"), COUNTRY("usa"), COUNTRY("us"), COUNTRY("uk"),
        COUNTRY("uae"), COUNTRY("canada"), COUNTRY("australia"), COUNTRY("singapore"),
        COUNTRY("germany"), COUNTRY("france"), COUNTRY("japan"), COUNTRY("china"), COUNTRY("qatar"),
        COUNTRY("oman"), COUNTRY("kuwait"), COUNTRY("bahrain"), COUNTRY("saudi arabia"),
        COUNTRY("malaysia"), COUNTRY("new zealand"), COUNTRY("ireland"), COUNTRY("netherlands"),
        COUNTRY("united states"), COUNTRY("united kingdom"), COUNTRY("united arab emirates"),
        COUNTRY("sri lanka"), COUNTRY("nepal"), COUNTRY("bangladesh"), COUNTRY("pakistan"),
        COUNTRY("philippines"), COUNTRY("south africa"), COUNTRY("nigeria"), COUNTRY("kenya")
    };
#undef COUNTRY
    size_t i, words = 0, p;
    unsigned char last;
    for (p = start; p < end; p++) {
        if (is_alpha(byte_at(ps, p)) && (p == start || !is_alpha(byte_at(ps, p - 1))))
            words++;
        else if (!is_alpha(byte_at(ps, p)) && !is_blank(byte_at(ps, p)) && byte_at(ps, p) != ',')
            return 0;
    }
    if (words > 4)
        return 0;
    /* "Microsoft India" is a company: the country must stand alone or after a comma */
    if (end == start)
        return 0; /* no name fits in nothing */
    last = to_lower(byte_at(ps, end - 1));
    for (i = 0; i < sizeof(countries) / sizeof(countries[0]); i++) {
        size_t n = countries[i].len, q;
        /* the last byte rejects most names before a full compare */
        if (end - start < n || (unsigned char)countries[i].name[n - 1] != last ||
            !match_at(ps, end - n, end, countries[i].name))
            continue;
        if (end - n == start)
            return 1;
        q = end - n;
        while (q > start && is_blank(byte_at(ps, q - 1)))
            q--;
        if (q > start && byte_at(ps, q - 1) == ',')
            return 1;
    }
    return 0;
}

static size_t split_segments(const struct parser *ps, size_t start, size_t end, struct segment *segs)
{
    return split_segments_pass(ps, start, end, segs, 1);
}

/* "Bengaluru, Karnataka", "New York, NY", "Remote": short capitalised parts, no cues. */
static int location_like(const struct parser *ps, size_t start, size_t end)
{
    struct cues cu;
    size_t p, parts = 1, words_in_part = 0;
    int in_word = 0;
    if (end - start > 60)
        return 0;
    if (ends_with_country(ps, start, end))
        return 1;
    cues_of(ps, start, end, &cu);
    if (cu.title || cu.company || cu.degree || cu.institution || cu.digits || cu.words == 0)
        return 0;
    for (p = start; p < end; p++) {
        unsigned char c = byte_at(ps, p);
        if (c == ',') {
            if (words_in_part == 0)
                return 0;
            parts++;
            words_in_part = 0;
            in_word = 0;
        } else if (is_alpha(c) || c >= 0x80) {
            if (!in_word) {
                if (c < 0x80 && !is_upper(c))
                    return 0;
                words_in_part++;
                if (words_in_part > 3)
                    return 0;
            }
            in_word = 1;
        } else if (c == '-' && !(p > start && is_alpha(byte_at(ps, p - 1)) && is_alpha(byte_at(ps, p + 1)))) {
            return 0; /* "Oracle - Bangalore, Karnataka" is a company line */
        } else if (is_blank(c) || c == '.' || c == '-') {
            in_word = 0;
        } else {
            return 0;
        }
    }
    return parts >= 2 && parts <= 3 && words_in_part > 0;
}

/* A line that is only a location (with Indeed's trailing " -"). */
static int location_line(const struct parser *ps, const struct text_line *ln)
{
    struct segment segs[MAX_SEGMENTS];
    size_t n, i, e = trim_right(ps, ln->start, ln->end);
    if (location_like(ps, ln->start, e))
        return 1;
    n = split_segments_pass(ps, ln->start, ln->end, segs, 0);
    if (n < 2)
        return 0;
    for (i = 0; i < n; i++) {
        if (!location_like(ps, segs[i].start, segs[i].end))
            return 0;
    }
    return 1;
}

/* Indeed writes the company line as "Company -" or "Company - City, State -". */
static int trailing_dash(const struct parser *ps, const struct text_line *ln)
{
    size_t e = ln->end;
    return e - ln->start >= 2 && byte_at(ps, e - 1) == '-' && is_blank(byte_at(ps, e - 2));
}

/* ---- output strings ---- */

/* Copies text[start, end) with whitespace collapsed and control bytes dropped; NULL if empty. */
static char *copy_clean(struct parser *ps, size_t start, size_t end, size_t cap)
{
    char *out;
    size_t n = 0, p;
    int space = 0;
    if (end <= start)
        return NULL;
    out = ima_malloc((cap && end - start > cap ? cap : end - start) + 1);
    if (!out) {
        ps->oom = 1;
        return NULL;
    }
    for (p = start; p < end; p++) {
        unsigned char c = byte_at(ps, p);
        if (c < 0x20 || c == 0x7F || c == ' ') {
            space = n > 0;
            continue;
        }
        if (c == 0xC2 && p + 1 < end && byte_at(ps, p + 1) == 0xA0) {
            p++;
            space = n > 0;
            continue;
        }
        if (space) {
            if (cap && n + 1 >= cap)
                break;
            out[n++] = ' ';
            space = 0;
        }
        if (cap && n >= cap)
            break;
        out[n++] = (char)c;
    }
    if (cap && n >= cap) {
        /* never end inside a UTF-8 sequence */
        size_t keep = n;
        while (keep > 0 && ((unsigned char)out[keep - 1] & 0xC0) == 0x80)
            keep--;
        if (keep > 0 && ((unsigned char)out[keep - 1] & 0xC0) == 0xC0) {
            unsigned char lead = (unsigned char)out[keep - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (keep - 1) < need)
                n = keep - 1;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    if (n == 0) {
        ima_free(out);
        return NULL;
    }
    out[n] = 0;
    return out;
}

static char *copy_span(struct parser *ps, size_t start, size_t end)
{
    start = trim_left(ps, start, end);
    end = trim_right(ps, start, end);
    return copy_clean(ps, start, end, 0);
}

/* ---- lines ---- */

static int split_lines(struct parser *ps)
{
    size_t count = 1, p, i = 0, line_start = 0;
    const char *nl;
    /* memchr finds the newlines many bytes at a time */
    for (p = 0; p < ps->len && (nl = memchr(ps->text + p, '\n', ps->len - p)) != NULL; p = (size_t)(nl - ps->text) + 1)
        count++;
    ps->lines = ima_calloc(count, sizeof(*ps->lines));
    if (!ps->lines)
        return -1;
    for (p = 0; p <= ps->len; p++) {
        struct text_line *ln = &ps->lines[i++];
        size_t s, e;
        nl = p < ps->len ? memchr(ps->text + p, '\n', ps->len - p) : NULL;
        p = nl ? (size_t)(nl - ps->text) : ps->len;
        s = line_start;
        e = p;
        while (s < e && (is_blank(byte_at(ps, s)) || (byte_at(ps, s) == 0xC2 && s + 1 < e && byte_at(ps, s + 1) == 0xA0)))
            s += is_blank(byte_at(ps, s)) ? 1 : 2;
        while (e > s && is_blank(byte_at(ps, e - 1)))
            e--;
        ln->raw_start = line_start;
        ln->start = s;
        ln->end = e;
        line_start = p + 1;
    }
    ps->line_count = i;
    return 0;
}

/* Makes room for one more element in a growing array (doubling; the first
 * allocation holds first elements): the array, perhaps moved, or NULL when
 * memory ran out (arr and *cap are then unchanged). */
static void *grow(void *arr, size_t *cap, size_t count, size_t elem, size_t first)
{
    size_t n;
    void *p;

    if (count < *cap)
        return arr;
    n = *cap ? *cap * 2 : first;
    p = ima_realloc(arr, n * elem);
    if (p)
        *cap = n;
    return p;
}

static int add_range(struct parser *ps, const struct date_range *r, size_t *index)
{
    struct date_range *ranges = grow(ps->ranges, &ps->range_cap, ps->range_count,
                                     sizeof(*ranges), 16);

    if (!ranges)
        return -1;
    ps->ranges = ranges;
    ps->ranges[ps->range_count] = *r;
    *index = ps->range_count++;
    return 0;
}

static int all_caps(const struct parser *ps, const struct text_line *ln)
{
    size_t p;
    for (p = ln->start; p < ln->end; p++) {
        if (byte_at(ps, p) >= 'a' && byte_at(ps, p) <= 'z')
            return 0;
    }
    return 1;
}

/* Classifies lines and returns whether any experience heading exists. */
static int classify_lines(struct parser *ps, int *has_experience)
{
    size_t i;
    int section = SECTION_NONE, exp_caps = 0;
    *has_experience = 0;
    for (i = 0; i < ps->line_count; i++) {
        struct text_line *ln = &ps->lines[i];
        struct date_range r;
        int kind = heading_kind(ps, ln, i == 0 || line_is_blank(&ps->lines[i - 1]));
        /*
         * "Achievements:" or "Projects:" inside a job is a sub-heading of
         * that job; so is "Key Achievements" in mixed case under an ALL CAPS
         * "WORK EXPERIENCE": a resume writes its own section headings in
         * one style, so a heading in another style is the job's own.
         */
        if (section == SECTION_EXPERIENCE && (kind == SECTION_OTHER || kind == SECTION_DATED_OTHER) &&
            !all_caps(ps, ln) && (byte_at(ps, ln->end - 1) == ':' || exp_caps))
            kind = -1;
        if (kind >= 0) {
            section = kind;
            ln->heading = 1;
            if (kind == SECTION_EXPERIENCE) {
                *has_experience = 1;
                exp_caps = all_caps(ps, ln);
            }
        }
        ln->section = (unsigned char)section;
        ln->bullet = bullet_len(ps, ln->start, ln->end) != 0;
        if (!ln->heading && find_range(ps, ln->start, ln->end, &r)) {
            if (add_range(ps, &r, &ln->range_index) != 0)
                return -1;
            ln->has_range = 1;
        }
    }
    return 0;
}

/* ---- entries ---- */


enum field_kind { FIELD_NONE, FIELD_TITLE, FIELD_COMPANY, FIELD_OTHER };

/* "Designation: X", "Company: Y", "Client: Z": a labelled field and where its value starts. */
static int field_label(const struct parser *ps, size_t s, size_t e, size_t *value)
{
    static const char *const title_keys[] = {
        "designation", "role", "title", "position", "job title", "current designation", "post",
        "job role", "current role", "profile", NULL
    };
    static const char *const company_keys[] = {
        "company", "organization", "organisation", "employer", "company name", "current company",
        "current employer", "firm", NULL
    };
    char key[32];
    size_t p, n = 0, words = 1, i;
    for (p = s; p < e && p - s < 30; p++) {
        unsigned char c = byte_at(ps, p);
        if (c == ':')
            break;
        if (is_blank(c)) {
            if (n > 0 && key[n - 1] != ' ') {
                key[n++] = ' ';
                words++;
            }
        } else if (is_alpha(c)) {
            key[n++] = (char)to_lower(c);
        } else {
            return FIELD_NONE;
        }
        if (n >= sizeof(key) - 1)
            return FIELD_NONE;
    }
    if (p >= e || byte_at(ps, p) != ':' || n == 0 || words > 3)
        return FIELD_NONE;
    while (n > 0 && key[n - 1] == ' ')
        n--;
    key[n] = 0;
    *value = p + 1;
    for (i = 0; title_keys[i]; i++)
        if (strcmp(key, title_keys[i]) == 0)
            return FIELD_TITLE;
    for (i = 0; company_keys[i]; i++)
        if (strcmp(key, company_keys[i]) == 0)
            return FIELD_COMPANY;
    return FIELD_OTHER;
}

/* A line that can be part of a job header: short, not prose, not a link or an address. */
static int header_candidate(const struct parser *ps, const struct text_line *ln)
{
    size_t value, first = trim_left_plain(ps, ln->start, ln->end);
    unsigned char last = byte_at(ps, ln->end - 1);
    size_t p, words = 0;
    if (ln->heading || ln->has_range || ln->range_part || line_is_blank(ln) || ln->end - ln->start > 120)
        return 0;
    for (p = ln->start; p < ln->end; p++) {
        unsigned char c = byte_at(ps, p);
        if (c == '@' && p + 1 < ln->end && byte_at(ps, p + 1) != ' ')
            return 0;
        if (!is_blank(c) && (p == ln->start || is_blank(byte_at(ps, p - 1))))
            words++;
    }
    if (match_at(ps, ln->start, ln->end, "http") || match_at(ps, ln->start, ln->end, "www."))
        return 0;
    if (words > 16)
        return 0;
    if (last == ':' || field_label(ps, ln->start, ln->end, &value) == FIELD_OTHER)
        return 0;
    /* the tail of the previous job's prose: "stocks.", "satisfaction" */
    if (first < ln->end && byte_at(ps, first) >= 'a' && byte_at(ps, first) <= 'z' && words <= 2) {
        struct cues cu;
        cues_of(ps, ln->start, ln->end, &cu);
        if (!cu.title && !cu.company)
            return 0;
    }
    if (last == '.') {
        size_t w = ln->end - 1;
        while (w > ln->start && is_alpha(byte_at(ps, w - 1)))
            w--;
        if (words > 5 || ln->end - 1 - w > 4)
            return 0;
    }
    return 1;
}

struct header {
    size_t unit_start[4], unit_end[4];   /* header units, top to bottom */
    size_t unit_line[4];                 /* line index, or SIZE_MAX for the date line remainder */
    int unit_dash[4];                    /* 1: Indeed company line, 2: "Company:" field, -1: "Title:" field */
    size_t units;
    size_t loc_start, loc_end;
    int has_location;
    size_t first_line;                   /* first line used by the header */
    size_t last_line;                    /* last line used (the date line or a line after it) */
};

static void header_add(struct header *h, size_t s, size_t e, size_t line, int dash)
{
    size_t i;
    if (h->units == 4) {
        for (i = 0; i < 3; i++) {
            h->unit_start[i] = h->unit_start[i + 1];
            h->unit_end[i] = h->unit_end[i + 1];
            h->unit_line[i] = h->unit_line[i + 1];
            h->unit_dash[i] = h->unit_dash[i + 1];
        }
        h->units = 3;
    }
    h->unit_start[h->units] = s;
    h->unit_end[h->units] = e;
    h->unit_line[h->units] = line;
    h->unit_dash[h->units] = dash;
    h->units++;
}

static void header_prepend(struct header *h, size_t s, size_t e, size_t line, int dash)
{
    size_t i;
    if (h->units == 4)
        return;
    for (i = h->units; i > 0; i--) {
        h->unit_start[i] = h->unit_start[i - 1];
        h->unit_end[i] = h->unit_end[i - 1];
        h->unit_line[i] = h->unit_line[i - 1];
        h->unit_dash[i] = h->unit_dash[i - 1];
    }
    h->unit_start[0] = s;
    h->unit_end[0] = e;
    h->unit_line[0] = line;
    h->unit_dash[0] = dash;
    h->units++;
}

static void set_location(struct header *h, size_t s, size_t e)
{
    if (!h->has_location) {
        h->loc_start = s;
        h->loc_end = e;
        h->has_location = 1;
    }
}

static int label_word_at(const struct parser *ps, size_t at, size_t limit, size_t *end)
{
    static const char *const words[] = {
        "from", "since", "duration", "period", "dates", "date", "tenure", "working", "worked",
        "till", "until", "present", "current", "to", "time", "during", NULL
    };
    size_t i;
    for (i = 0; words[i]; i++) {
        if (word_at(ps, at, limit, words[i])) {
            *end = at + strlen(words[i]);
            return 1;
        }
    }
    return 0;
}

/* Drops "from", "Duration", "since"... around a date range: they label it, they name nothing. */
static void strip_label_words(const struct parser *ps, size_t *s, size_t *e)
{
    size_t end, w;
    for (;;) {
        *s = trim_left(ps, *s, *e);
        if (*s >= *e || !label_word_at(ps, *s, *e, &end))
            break;
        *s = end;
    }
    for (;;) {
        *e = trim_right(ps, *s, *e);
        w = *e;
        while (w > *s && is_alpha(byte_at(ps, w - 1)))
            w--;
        if (w == *e || (w > *s && !is_blank(byte_at(ps, w - 1)) && byte_at(ps, w - 1) != '(') ||
            !label_word_at(ps, w, *e, &end) || end != *e)
            break;
        *e = w;
    }
}

static int url_line(const struct parser *ps, const struct text_line *ln)
{
    return match_at(ps, ln->start, ln->end, "http") || match_at(ps, ln->start, ln->end, "www.");
}

static int has_word(const struct parser *ps, const struct text_line *ln)
{
    size_t p;
    for (p = ln->start; p < ln->end; p++)
        if (is_alnum(byte_at(ps, p)))
            return 1;
    return 0;
}

static size_t next_content_line(const struct parser *ps, size_t i);

/* An employer line: Indeed's "Company -", or a name followed by where ("Company － City , State"). */
static int employer_line(const struct parser *ps, const struct text_line *ln)
{
    struct segment segs[MAX_SEGMENTS];
    struct cues cu;
    size_t n, i;
    if (!header_candidate(ps, ln) || ln->bullet)
        return 0;
    if (trailing_dash(ps, ln))
        return 1;
    cues_of(ps, ln->start, ln->end, &cu);
    if (cu.strong_title || cu.degree)
        return 0;
    n = split_segments_pass(ps, ln->start, ln->end, segs, 0);
    for (i = 1; i < n; i++)
        if (location_like(ps, segs[i].start, segs[i].end))
            return 1;
    return 0;
}

/* Collects the lines around the date line at index a that name the job. */
static void collect_header(const struct parser *ps, size_t a, size_t floor_line, struct header *h)
{
    const struct text_line *date_line = &ps->lines[a];
    const struct date_range *r = &ps->ranges[date_line->range_index];
    size_t j, named = 0, blanks = 0, s, e, value, above;
    int kind, single = 0;
    memset(h, 0, sizeof(*h));
    h->first_line = a;
    h->last_line = a;
    for (j = a; j > floor_line && a - j < 12;) {
        const struct text_line *ln = &ps->lines[--j];
        if (line_is_blank(ln)) {
            if (++blanks > 3)
                break;
            continue;
        }
        /*
         * a page footer (URL) can fall between a job's header lines: look
         * through it and the page break's blank lines around it
         */
        if (url_line(ps, ln)) {
            blanks = 0;
            continue;
        }
        /* Indeed prints a lone "-" where the company is empty: only the title remains above */
        if (!has_word(ps, ln)) {
            if (named == 0)
                single = 1;
            continue;
        }
        blanks = 0;
        if (!header_candidate(ps, ln) || ln->bullet)
            break;
        kind = field_label(ps, ln->start, ln->end, &value);
        if (kind == FIELD_TITLE || kind == FIELD_COMPANY) {
            header_prepend(h, value, ln->end, j, kind == FIELD_TITLE ? -1 : 2);
            named++;
        } else if (location_line(ps, ln)) {
            if (named)
                break;
            set_location(h, ln->start, trim_right(ps, ln->start, ln->end));
        } else {
            header_prepend(h, ln->start, ln->end, j, trailing_dash(ps, ln));
            named++;
        }
        h->first_line = j;
        if (named == (single ? 1u : 2u))
            break;
    }
    above = h->units;
    /* text on the date line itself, before and after the range */
    s = trim_left(ps, date_line->start, r->start);
    e = trim_right(ps, s, r->start);
    if (field_label(ps, s, e, &value) != FIELD_NONE)
        s = e;
    strip_label_words(ps, &s, &e);
    if (e > s && e - s <= 150 && bullet_len(ps, date_line->start, date_line->end) == 0) {
        if (location_like(ps, s, e))
            set_location(h, s, e);
        else
            header_add(h, s, e, SIZE_MAX, 0);
    }
    s = trim_left(ps, r->end, date_line->end);
    e = trim_right(ps, s, date_line->end);
    strip_label_words(ps, &s, &e);
    if (e > s && e - s <= 150) {
        if (location_like(ps, s, e))
            set_location(h, s, e);
        else if (!(byte_at(ps, s) >= '0' && byte_at(ps, s) <= '9'))
            header_add(h, s, e, SIZE_MAX, 0);
    }
    /*
     * "Server , 03/2015 to 06/2016" over "Company Name － City , State": the
     * employer line under a date line that names only the role belongs to
     * this job; what stands above is the end of the previous one.
     */
    if (h->units == above + 1 && (j = next_content_line(ps, a)) != SIZE_MAX && j == a + 1 &&
        ps->lines[j].section == date_line->section && employer_line(ps, &ps->lines[j])) {
        h->unit_start[0] = h->unit_start[above];
        h->unit_end[0] = h->unit_end[above];
        h->unit_line[0] = h->unit_line[above];
        h->unit_dash[0] = h->unit_dash[above];
        h->units = 1;
        h->first_line = a;
        header_add(h, ps->lines[j].start, ps->lines[j].end, j, 1);
        h->last_line = j;
        return;
    }
    if (h->units > 0)
        return;
    /* date first, then title and company underneath */
    for (j = a + 1, blanks = 0; j < ps->line_count && j - a < 6; j++) {
        const struct text_line *ln = &ps->lines[j];
        if (line_is_blank(ln)) {
            if (++blanks > 1)
                break;
            continue;
        }
        if (!header_candidate(ps, ln) || ln->bullet || ln->section != date_line->section)
            break;
        if (location_line(ps, ln))
            set_location(h, ln->start, trim_right(ps, ln->start, ln->end));
        else
            header_add(h, ln->start, ln->end, j, trailing_dash(ps, ln));
        h->last_line = j;
        if (h->units == 2)
            break;
    }
}

/* Title and company out of one unit that holds both ("Title at Company", "Company | Title"). */
static void assign_from_segments(const struct parser *ps, size_t s, size_t e, int dash,
                                 size_t *ts, size_t *te, size_t *cs, size_t *ce, struct header *h)
{
    struct segment segs[MAX_SEGMENTS], keep[MAX_SEGMENTS];
    size_t n = split_segments(ps, s, e, segs), k = 0, i, best = 0, comp = SIZE_MAX;
    int best_score = -1000, comp_score = -1000;
    if (dash > 0 && n > 0) {
        /* a company line: company first, anything after it is where */
        *cs = segs[0].start;
        *ce = segs[0].end;
        if (n > 1)
            set_location(h, segs[n - 1].start, segs[n - 1].end);
        return;
    }
    if (dash < 0 && n > 0) {
        *ts = s;
        *te = e;
        return;
    }
    n = split_glued(ps, segs, n);
    for (i = 0; i < n; i++) {
        if (location_like(ps, segs[i].start, segs[i].end) && (i > 0 || n == 1))
            set_location(h, segs[i].start, segs[i].end);
        else
            keep[k++] = segs[i];
    }
    if (k == 0)
        return;
    if (k == 1) {
        struct cues cu;
        cues_of(ps, keep[0].start, keep[0].end, &cu);
        if ((title_bias(&cu) < 0 && !cu.strong_title) || dash || keep[0].after_at > 0) {
            *cs = keep[0].start;
            *ce = keep[0].end;
        } else {
            *ts = keep[0].start;
            *te = keep[0].end;
        }
        return;
    }
    for (i = 0; i < k; i++) {
        struct cues cu;
        int score;
        cues_of(ps, keep[i].start, keep[i].end, &cu);
        score = title_bias(&cu) - (keep[i].after_at > 0 ? 4 : 0) + (keep[i].after_at < 0 ? 4 : 0) - (i > 1 ? 1 : 0);
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    for (i = 0; i < k; i++) {
        struct cues cu;
        int score;
        if (i == best)
            continue;
        cues_of(ps, keep[i].start, keep[i].end, &cu);
        /*
         * "Sr. Manager - Regional Sales", "Administrator (Server)": a part
         * made of role vocabulary, or a bracket, qualifies the title; it is
         * no employer unless it carries a corporate cue.
         */
        if (keep[i].after_at <= 0 && cu.company == 0 && (cu.title > 0 || keep[i].bracketed))
            continue;
        /* prefer the part next to the title when no cue decides */
        score = -title_bias(&cu) + (keep[i].after_at > 0 ? 4 : 0) - (keep[i].after_at < 0 ? 4 : 0) - (i > best ? (int)(i - best) : (int)(best - i));
        if (score > comp_score) {
            comp_score = score;
            comp = i;
        }
    }
    *ts = keep[best].start;
    *te = keep[best].end;
    if (comp != SIZE_MAX) {
        *cs = keep[comp].start;
        *ce = keep[comp].end;
    }
}

/* Company line "Company - City, State -": company first, location after. */
static void assign_company_line(const struct parser *ps, size_t s, size_t e, size_t *cs, size_t *ce, struct header *h)
{
    struct segment segs[MAX_SEGMENTS];
    size_t n, i;
    int found = 0;
    n = split_segments(ps, s, e, segs);
    for (i = 0; i < n; i++) {
        if (!found && (!location_like(ps, segs[i].start, segs[i].end) || n == 1)) {
            *cs = segs[i].start;
            *ce = segs[i].end;
            found = 1;
        } else if (found && location_like(ps, segs[i].start, segs[i].end)) {
            set_location(h, segs[i].start, segs[i].end);
        }
    }
}

/* Whether the last word of text[s, e) is a title word ("National Head", not "Head Office"). */
static int ends_with_title_word(const struct parser *ps, size_t s, size_t e)
{
    size_t w;
    struct cues cu;
    e = trim_right(ps, s, e);
    w = e;
    while (w > s && is_alpha(byte_at(ps, w - 1)))
        w--;
    if (w == e)
        return 0;
    cues_of(ps, w, e, &cu);
    return cu.title > 0;
}

/*
 * "Director - Sales & BD", "Sales Manager (Marine Paints)": the title proper
 * is the part before the qualifier, or before "at"/"in"/"@" and an
 * employer, when that part names a role on its own, and the part after
 * "as (a)" when what precedes it names none; the full line stays in
 * title_line; *start and *e move.  A bracket always opens a qualifier
 * once a role word precedes it; a hyphen glued to a word ("National
 * Head-Postpaid", "Manager -Procurement") only when the words before it end
 * on a role and are more than one word, so "Head-Business Development" and
 * "Part-time Instructor" stay whole.
 */
static void core_title(const struct parser *ps, size_t *start, size_t *e)
{
    size_t p, d, skip, s = *start;
    for (p = s; p < *e; p++) {
        unsigned char c = byte_at(ps, p);
        size_t cut = 0;
        int glued = 0, kind = 0;
        /*
         * "Infosys as a Test Analyst", "Working as Sales Consultant": the
         * role follows "as"; what precedes it is the employer or a verb.
         */
        if (c == ' ' && p > s && (skip = joining_word(ps, s, p, *e, &kind)) != 0 && kind < 0) {
            struct cues before;
            cues_of(ps, s, p, &before);
            if (!before.strong_title) {
                s = *start = p + skip;
                p = s - 1;
                continue;
            }
        }
        if ((c == ' ' && p > s && (((word_at(ps, p + 1, *e, "at") && is_blank(byte_at(ps, p + 3))) ||
                                    (byte_at(ps, p + 1) == '@' && is_blank(byte_at(ps, p + 2)))) ||
                                   (joining_word(ps, s, p, *e, &kind) && kind > 0))) ||
            (c == '@' && p > s && is_alnum(byte_at(ps, p - 1)) && is_blank(byte_at(ps, p + 1)))) {
            /* "QA Analyst at Globex", "HR Executive in Initech": the employer follows */
            struct cues before;
            cues_of(ps, s, p, &before);
            if (before.strong_title) {
                *e = trim_right(ps, s, p);
                return;
            }
            continue;
        }
        if (c == '(' || c == ',' || c == ';' || c == '|')
            cut = p;
        else if (is_blank(c) && (d = dash_at(ps, p + 1, *e)) != 0 && p + 1 + d < *e && is_blank(byte_at(ps, p + 1 + d)))
            cut = p;
        else if (c == '-' && p > s && p + 1 < *e && (is_alpha(byte_at(ps, p - 1)) || is_alpha(byte_at(ps, p + 1))))
            cut = p, glued = 1;
        if (cut > s) {
            struct cues before, after;
            cues_of(ps, s, cut, &before);
            cues_of(ps, cut, *e, &after);
            if (glued) {
                if (before.strong_title && !after.strong_title && before.words >= 2 && ends_with_title_word(ps, s, cut)) {
                    *e = trim_right(ps, s, cut);
                    return;
                }
                continue;
            }
            if ((c == '(' && before.title) || (before.strong_title && !after.strong_title))
                *e = trim_right(ps, s, cut);
            return;
        }
    }
}

/* A date-line text that holds both a role and another part ("Title, Company"). */
static int self_contained(const struct parser *ps, size_t s, size_t e)
{
    struct segment segs[MAX_SEGMENTS];
    size_t n = split_glued(ps, segs, split_segments(ps, s, e, segs)), i;
    int role = 0;
    for (i = 0; i < n; i++) {
        struct cues cu;
        cues_of(ps, segs[i].start, segs[i].end, &cu);
        role |= cu.strong_title > 0;
    }
    return n >= 2 && role;
}

/*
 * A sentence of the job's description, not its title: "and increased the
 * market share by 10%", "Awarded as second fastest growing area between".
 * A title neither ends on a function word nor starts on one followed by a
 * lower-case word, and holds no percentage; a part with no role word that starts in lower case or
 * carries a number ("Team Size 110") is prose too.  Real titles almost
 * always hold a role word, so the last test spares them.  For a company
 * (company set) the last test asks for no corporate word, and two
 * lower-case words or a number instead: "iGate" is a name.
 */
static int prose_text(const struct parser *ps, size_t s, size_t e, int company)
{
    static const char *const function_words[] = {
        "and", "or", "to", "of", "the", "with", "for", "by", "from", "between", "in", "a", "an",
        "on", NULL
    };
    struct cues cu;
    size_t p, w, digits = 0, longest = 0;
    s = trim_left(ps, s, e);
    e = trim_right(ps, s, e);
    if (s >= e)
        return 0;
    for (p = s; p < e; p++) {
        if (byte_at(ps, p) == '%')
            return 1;
        digits = is_digit(byte_at(ps, p)) ? digits + 1 : 0;
        if (digits > longest)
            longest = digits;
    }
    for (w = e; w > s && is_alpha(byte_at(ps, w - 1)); w--)
        ;
    if (w < e && w > s && is_blank(byte_at(ps, w - 1)) && word_in(ps, w, e, function_words))
        return 1;
    /* "and increased ...", but not "To Assistant Sales Manager" (promoted to) */
    if (word_in(ps, s, e, function_words)) {
        for (p = s; p < e && is_alpha(byte_at(ps, p)); p++)
            ;
        p = skip_blanks(ps, p, e);
        if (p < e && byte_at(ps, p) >= 'a' && byte_at(ps, p) <= 'z')
            return 1;
    }
    cues_of(ps, s, e, &cu);
    if (company) {
        /* "my responsibility", "008 till nov": names start in capitals */
        for (p = s; p < e && is_alpha(byte_at(ps, p)); p++)
            ;
        p = skip_blanks(ps, p, e);
        return cu.company == 0 && (longest >= 2 || (byte_at(ps, s) >= 'a' && byte_at(ps, s) <= 'z' &&
                                                     p < e && byte_at(ps, p) >= 'a' && byte_at(ps, p) <= 'z'));
    }
    return cu.title == 0 && (longest >= 2 || (byte_at(ps, s) >= 'a' && byte_at(ps, s) <= 'z'));
}

/*
 * "Training in Initech Ltd", "payroll of Globex Services Pvt Ltd": words
 * with no corporate cue before "in", "with", "for" or "of" and a name
 * that carries one describe the job; the name is the company.  "State Bank
 * of India" keeps its cue on the left and stays whole, and one capitalised
 * word before "of" is part of the name ("Whirlpool of India").  Moves *s.
 */
static void core_company(const struct parser *ps, size_t *s, size_t e)
{
    static const char *const joins[] = { "in", "with", "for", "of", NULL };
    size_t p, q;
    for (p = *s + 1; p + 4 < e; p++) {
        struct cues before, after;
        if (!is_blank(byte_at(ps, p - 1)) || !word_in(ps, p, e, joins))
            continue;
        for (q = p; q < e && is_alpha(byte_at(ps, q)); q++)
            ;
        q = skip_blanks(ps, q, e);
        if (q >= e || !is_upper(byte_at(ps, q)))
            continue;
        cues_of(ps, *s, p, &before);
        if (before.company)
            return;
        /* "Whirlpool of India Ltd" is a name; "payroll of", "Head quarters of" are not */
        if (word_at(ps, p, e, "of") && before.words < 2 && is_upper(byte_at(ps, *s)))
            continue;
        cues_of(ps, q, e, &after);
        if (after.company) {
            *s = q;
            return;
        }
    }
}

static int education_text(const struct parser *ps, size_t s, size_t e)
{
    struct cues cu;
    cues_of(ps, s, e, &cu);
    if (cu.strong_title)
        return 0;
    return cu.degree > 0 || (cu.institution > 0 && cu.title == 0);
}

static int push_entry(struct parser *ps, struct experience_entry *en)
{
    struct experience_entry *entries = grow(ps->entries, &ps->entry_cap, ps->entry_count,
                                            sizeof(*entries), 8);

    if (!entries)
        return -1;
    ps->entries = entries;
    ps->entries[ps->entry_count++] = *en;
    return 0;
}

static void free_entry(struct experience_entry *en)
{
    ima_free(en->title_line);
    ima_free(en->title);
    ima_free(en->company);
    ima_free(en->location);
    ima_free(en->snippet);
    memset(en, 0, sizeof(*en));
}

static int same_text(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++) {
        if (to_lower((unsigned char)*a) != to_lower((unsigned char)*b))
            return 0;
    }
    return *a == *b;
}

/* First and last month index a job covers; a bare year counts from its middle. */
static void entry_months(const struct experience_entry *en, int *first, int *last)
{
    int sm = en->start_month, em = en->end_month;
    if (!sm)
        sm = (!en->end_present && en->end_year == en->start_year) ? 1 : 7;
    if (!em)
        em = en->end_year == en->start_year ? 12 : 6;
    *first = month_index(en->start_year, sm);
    *last = month_index(en->end_year, em);
}

struct pending {
    size_t entry;        /* index into ps->entries */
    size_t body_line;    /* first line of the description */
};

static int build_entry(struct parser *ps, size_t a, size_t floor_line, struct pending *pend, int *made)
{
    const struct date_range *r = &ps->ranges[ps->lines[a].range_index];
    struct experience_entry en;
    struct header h;
    size_t ts = 0, te = 0, cs = 0, ce = 0, title_unit = SIZE_MAX, i;
    int first, last;
    *made = 0;
    collect_header(ps, a, floor_line, &h);
    if (h.units >= 2 && h.unit_line[h.units - 1] == SIZE_MAX && self_contained(ps, h.unit_start[h.units - 1], h.unit_end[h.units - 1])) {
        /* "Accountant, Blue Yonder Ltd, 2012 - 2014": the date line names the job by itself */
        title_unit = h.units - 1;
        assign_from_segments(ps, h.unit_start[title_unit], h.unit_end[title_unit], 0, &ts, &te, &cs, &ce, &h);
    } else if (h.units >= 2) {
        /* the two units nearest the date: title first unless the cues say otherwise */
        size_t u0 = h.units - 2, u1 = h.units - 1, tu, cu_;
        struct cues c0, c1;
        int x0, x1;
        cues_of(ps, h.unit_start[u0], h.unit_end[u0], &c0);
        cues_of(ps, h.unit_start[u1], h.unit_end[u1], &c1);
        x0 = title_bias(&c0) - 3 * h.unit_dash[u0];
        x1 = title_bias(&c1) - 3 * h.unit_dash[u1];
        if (h.unit_dash[u1] < 0 || h.unit_dash[u0] > 1)
            x1 = x0 + 1;
        if (h.unit_dash[u0] < 0 || h.unit_dash[u1] > 1)
            x1 = x0 - 1;
        tu = x1 > x0 ? u1 : u0;
        cu_ = tu == u0 ? u1 : u0;
        title_unit = tu;
        if (h.unit_line[tu] == SIZE_MAX && h.unit_dash[cu_] <= 0) {
            assign_from_segments(ps, h.unit_start[tu], h.unit_end[tu], 0, &ts, &te, &cs, &ce, &h);
        } else {
            ts = trim_left(ps, h.unit_start[tu], h.unit_end[tu]);
            te = trim_right(ps, ts, h.unit_end[tu]);
        }
        if (ce <= cs)
            assign_company_line(ps, h.unit_start[cu_], h.unit_end[cu_], &cs, &ce, &h);
    } else if (h.units == 1) {
        title_unit = 0;
        assign_from_segments(ps, h.unit_start[0], h.unit_end[0], h.unit_dash[0], &ts, &te, &cs, &ce, &h);
    }
    {
        /* a degree or a school with no role word anywhere in the header is education */
        int education = 0, role = 0;
        for (i = 0; i < h.units; i++) {
            struct cues cu;
            cues_of(ps, h.unit_start[i], h.unit_end[i], &cu);
            education |= education_text(ps, h.unit_start[i], h.unit_end[i]);
            role |= cu.strong_title > 0;
        }
        if (education && !role)
            return 0;
    }
    memset(&en, 0, sizeof(en));
    en.start_year = r->start_year;
    en.start_month = r->start_month;
    en.end_year = r->end_year;
    en.end_month = r->end_month;
    en.end_present = r->present;
    entry_months(&en, &first, &last);
    en.duration_months = last >= first ? last - first + 1 : 0;
    if (te > ts) {
        size_t line = h.unit_line[title_unit];
        const struct text_line *tl = &ps->lines[line == SIZE_MAX ? a : line];
        core_title(ps, &ts, &te);
        if (!prose_text(ps, ts, te, 0)) {
            en.title = copy_span(ps, ts, te);
            en.title_line = copy_clean(ps, tl->start, tl->end, 0);
        }
    }
    if (ce > cs)
        core_company(ps, &cs, ce);
    if (ce > cs && !prose_text(ps, cs, ce, 1))
        en.company = copy_span(ps, cs, ce);
    if (h.has_location)
        en.location = copy_span(ps, h.loc_start, h.loc_end);
    en.text_start = ps->lines[h.first_line].raw_start;
    if (ps->oom) {
        free_entry(&en);
        return -1;
    }
    /* sub-periods and repeated headers ("Period: ...", a project inside a job) are not new jobs */
    if (ps->entry_count > 0) {
        struct experience_entry *prev = &ps->entries[ps->entry_count - 1];
        int pf, pl;
        entry_months(prev, &pf, &pl);
        if ((!en.title && !en.company && first >= pf && last <= pl) ||
            (prev->start_year == en.start_year && prev->start_month == en.start_month &&
             prev->end_year == en.end_year && prev->end_month == en.end_month && prev->end_present == en.end_present) ||
            (same_text(prev->title, en.title) && same_text(prev->company, en.company) &&
             prev->start_year == en.start_year && prev->start_month == en.start_month &&
             prev->end_year == en.end_year && prev->end_month == en.end_month)) {
            free_entry(&en);
            return 0;
        }
    }
    if (push_entry(ps, &en) != 0) {
        free_entry(&en);
        return -1;
    }
    pend->entry = ps->entry_count - 1;
    pend->body_line = h.last_line + 1;
    *made = 1;
    return 0;
}

static size_t count_words(const struct parser *ps, size_t s, size_t e)
{
    size_t p, words = 0;
    for (p = s; p < e; p++) {
        if (is_alnum(byte_at(ps, p)) && (p == s || !is_alnum(byte_at(ps, p - 1))))
            words++;
    }
    return words;
}

/* Whether a date line may start a job. */
static int anchor_allowed(const struct parser *ps, size_t i, int has_experience)
{
    const struct text_line *ln = &ps->lines[i];
    if (!ln->has_range)
        return 0;
    if (has_experience ? ln->section != SECTION_EXPERIENCE
                       : (ln->section == SECTION_EDUCATION || ln->section == SECTION_DATED_OTHER))
        return 0;
    /* a date inside a sentence is prose about the job, not a new job */
    if (ln->end - ln->start > 160)
        return 0;
    {
        const struct date_range *r = &ps->ranges[ln->range_index];
        size_t words = count_words(ps, ln->start, r->start) + count_words(ps, r->end, ln->end);
        if (words > (ln->bullet ? 8u : 14u))
            return 0;
        /* "... Consulting from January 2018 to August 2018." repeats the dates in prose */
        if (words >= 2 && byte_at(ps, ln->end - 1) == '.')
            return 0;
    }
    return 1;
}

/* Next line after i that is neither blank nor a page-footer URL, within a few lines; SIZE_MAX if none. */
static size_t next_content_line(const struct parser *ps, size_t i)
{
    size_t j, skipped = 0;
    for (j = i + 1; j < ps->line_count && skipped < 3; j++) {
        if (!line_is_blank(&ps->lines[j]) && !url_line(ps, &ps->lines[j]))
            return j;
        skipped += line_is_blank(&ps->lines[j]);
    }
    return SIZE_MAX;
}

/*
 * A range broken over lines, as PDF-to-text conversion leaves it: "June
 * 2016" / "to" / "January 2018", or "June 2016 -" / "Present".  The line
 * with the end date becomes the date line: the job's header follows it.
 * Each line is looked at once, with the next two, so this stays linear.
 */
static int join_split_ranges(struct parser *ps)
{
    size_t i, j, k, e, q;
    for (i = 0; i < ps->line_count; i++) {
        const struct text_line *ln = &ps->lines[i], *lk;
        struct date_item a, b;
        struct date_range r;
        if (ln->has_range || ln->heading || line_is_blank(ln) || !is_alnum(byte_at(ps, ln->start)) ||
            !date_item_at(ps, ln->start, ln->end, 0, &a) || a.year > ps->ref_year)
            continue;
        j = next_content_line(ps, i);
        if (j == SIZE_MAX)
            continue;
        if (connector_at(ps, a.end, ln->end, &q) && q == ln->end) {
            k = j; /* "June 2016 -" / "Present" */
        } else if (skip_blanks(ps, a.end, ln->end) == ln->end && connector_at(ps, ps->lines[j].start, ps->lines[j].end, &q) &&
                   q == ps->lines[j].end && (k = next_content_line(ps, j)) != SIZE_MAX) {
            ; /* "June 2016" / "to" / "January 2018" */
        } else {
            continue;
        }
        lk = &ps->lines[k];
        if (lk->has_range || lk->heading || lk->section != ln->section)
            continue;
        memset(&r, 0, sizeof(r));
        r.start_year = a.year;
        r.start_month = a.month;
        r.start = lk->start;
        if (present_at(ps, lk->start, lk->end, &e)) {
            r.end_year = ps->ref_year;
            r.end_month = ps->ref_month;
            r.present = 1;
            r.end = e;
        } else if (date_item_at(ps, lk->start, lk->end, 0, &b) && b.year >= a.year && b.year - a.year <= 45 &&
                   !(b.year == a.year && a.month && b.month && b.month < a.month)) {
            r.end_year = b.year;
            r.end_month = b.month;
            r.end = b.end;
        } else {
            continue;
        }
        if (add_range(ps, &r, &ps->lines[k].range_index) != 0)
            return -1;
        ps->lines[k].has_range = 1;
        ps->lines[i].range_part = 1;
        ps->lines[j].range_part = j != k;
        i = k;
    }
    return 0;
}

/*
 * A bare employer name on its own line, set off by a blank line below it as
 * Indeed sets off its header lines: "Oracle", "Domino's pizza", "IT Mall".
 * At most four capitalised-first words, none of them a title word or a
 * digit, so a duty ("Sales marketing") or a period ("+1 year") is no
 * employer.
 */
static int employer_name_line(const struct parser *ps, size_t j, const struct cues *cc)
{
    const struct text_line *cl = &ps->lines[j];
    size_t first = trim_left_plain(ps, cl->start, cl->end);
    unsigned char last = byte_at(ps, cl->end - 1);
    if (cc->words == 0 || cc->words > 4 || cc->title || cc->digits || cc->institution)
        return 0;
    if (first >= cl->end || !is_upper(byte_at(ps, first)) || last == '.' || last == ',')
        return 0;
    return j + 1 >= ps->line_count || line_is_blank(&ps->lines[j + 1]);
}

/*
 * An undated job in the Indeed layout: a role line that opens a block, then
 * an employer line ("Company -", "Company - City, State", a name with a
 * corporate cue or a bare name as employer_name_line() says), and no date
 * range right after it (a dated job is read from its date line instead).
 * Returns the employer line or SIZE_MAX.
 */
static size_t undated_header(const struct parser *ps, size_t i, size_t floor_line)
{
    const struct text_line *ln = &ps->lines[i], *cl;
    struct cues cu, cc;
    size_t j, k;
    if (ln->section != SECTION_EXPERIENCE || i <= floor_line || ln->bullet || !header_candidate(ps, ln) ||
        (i > 0 && !line_is_blank(&ps->lines[i - 1]) && !ps->lines[i - 1].heading))
        return SIZE_MAX;
    cues_of(ps, ln->start, ln->end, &cu);
    if (!cu.strong_title || cu.degree || cu.digits || cu.words > 8 || cu.company || trailing_dash(ps, ln))
        return SIZE_MAX;
    j = next_content_line(ps, i);
    if (j == SIZE_MAX)
        return SIZE_MAX;
    cl = &ps->lines[j];
    if (cl->section != SECTION_EXPERIENCE || cl->bullet || !header_candidate(ps, cl) || location_line(ps, cl))
        return SIZE_MAX;
    cues_of(ps, cl->start, cl->end, &cc);
    if (cc.strong_title || cc.degree || cc.words > 10 ||
        (!trailing_dash(ps, cl) && !cc.company && !employer_name_line(ps, j, &cc)))
        return SIZE_MAX;
    /* the date may follow the employer line, or a location line and then the date */
    for (k = j; (k = next_content_line(ps, k)) != SIZE_MAX && k - j <= 4;) {
        if (ps->lines[k].has_range)
            return SIZE_MAX;
        if (!location_line(ps, &ps->lines[k]))
            break;
    }
    return j;
}

static int build_undated(struct parser *ps, size_t i, size_t j, struct pending *pend)
{
    struct experience_entry en;
    struct header h;
    size_t ts, te, cs = 0, ce = 0, value, from;
    const struct text_line *tl = &ps->lines[i], *cl = &ps->lines[j];
    memset(&en, 0, sizeof(en));
    memset(&h, 0, sizeof(h));
    /* "Position: X" over "Company: Y": the labels name nothing */
    from = field_label(ps, tl->start, tl->end, &value) == FIELD_TITLE ? value : tl->start;
    ts = trim_left(ps, from, tl->end);
    te = trim_right(ps, ts, tl->end);
    core_title(ps, &ts, &te);
    from = field_label(ps, cl->start, cl->end, &value) == FIELD_COMPANY ? value : cl->start;
    assign_company_line(ps, from, cl->end, &cs, &ce, &h);
    en.title = copy_span(ps, ts, te);
    en.title_line = copy_clean(ps, tl->start, tl->end, 0);
    if (ce > cs)
        core_company(ps, &cs, ce);
    if (ce > cs)
        en.company = copy_span(ps, cs, ce);
    if (h.has_location)
        en.location = copy_span(ps, h.loc_start, h.loc_end);
    en.text_start = tl->raw_start;
    if (ps->oom || push_entry(ps, &en) != 0) {
        free_entry(&en);
        return -1;
    }
    pend->entry = ps->entry_count - 1;
    pend->body_line = j + 1;
    return 0;
}

static char *make_snippet(struct parser *ps, size_t from_line, size_t end_offset)
{
    size_t i, start = SIZE_MAX, end = 0;
    for (i = from_line; i < ps->line_count && ps->lines[i].raw_start < end_offset; i++) {
        const struct text_line *ln = &ps->lines[i];
        if (line_is_blank(ln) || ln->heading)
            continue;
        if (start == SIZE_MAX)
            start = ln->start;
        end = ln->end < end_offset ? ln->end : end_offset;
        if (end - start > 4 * EXPERIENCE_SNIPPET_MAX)
            break;
    }
    if (start == SIZE_MAX || end <= start)
        return NULL;
    return copy_clean(ps, start, end, EXPERIENCE_SNIPPET_MAX);
}

static int build_entries(struct parser *ps, int has_experience)
{
    struct pending *pend = NULL;
    size_t pend_cap = 0, i, floor_line = 0, k, heading, undated;
    int rc = 0;
    for (i = 0; i < ps->line_count; i++) {
        struct pending *more;
        int made;
        if (ps->lines[i].heading)
            floor_line = i;
        undated = SIZE_MAX;
        if (!anchor_allowed(ps, i, has_experience) &&
            (!has_experience || (undated = undated_header(ps, i, floor_line)) == SIZE_MAX))
            continue;
        more = grow(pend, &pend_cap, ps->entry_count, sizeof(*pend), 8);
        if (!more) {
            rc = -1;
            break;
        }
        pend = more;
        if (undated != SIZE_MAX) {
            if (build_undated(ps, i, undated, &pend[ps->entry_count]) != 0) {
                rc = -1;
                break;
            }
            /* the employer line is taken: no later date line may claim it */
            floor_line = undated;
            i = undated;
            continue;
        }
        if (build_entry(ps, i, floor_line, &pend[ps->entry_count], &made) != 0) {
            rc = -1;
            break;
        }
        if (made)
            floor_line = i;
    }
    /* a job's block runs to the next job's header or the next heading */
    for (k = 0, heading = 0; rc == 0 && k < ps->entry_count; k++) {
        struct experience_entry *en = &ps->entries[k];
        size_t end = ps->len;
        /* body lines only grow, so one forward scan finds every next heading */
        if (heading < pend[k].body_line)
            heading = pend[k].body_line;
        while (heading < ps->line_count && !ps->lines[heading].heading)
            heading++;
        if (heading < ps->line_count)
            end = ps->lines[heading].raw_start;
        if (k + 1 < ps->entry_count && ps->entries[k + 1].text_start < end)
            end = ps->entries[k + 1].text_start;
        if (end < en->text_start)
            end = en->text_start;
        en->text_end = end;
        en->snippet = make_snippet(ps, pend[k].body_line, end);
        if (ps->oom)
            rc = -1;
    }
    ima_free(pend);
    return rc;
}

/* ---- totals ---- */

static int merged_months(const struct parser *ps)
{
    unsigned char seen[(2202 - 1950) * 12];
    int base = 1950 * 12, top = (int)sizeof(seen) - 1, total = 0;
    size_t k;
    memset(seen, 0, sizeof(seen));
    for (k = 0; k < ps->entry_count; k++) {
        int first, last, m;
        entry_months(&ps->entries[k], &first, &last);
        first -= base;
        last -= base;
        if (first < 0)
            first = 0;
        if (last > top)
            last = top;
        for (m = first; m <= last; m++) {
            total += !seen[m];
            seen[m] = 1;
        }
    }
    return total;
}

/*
 * "one" to "twenty" at at: returns the value (its length in *n), 0 if none.
 * years_at() runs at every word start of the resume, so the first letter
 * picks the few candidates instead of a scan of all twenty words.
 */
static int number_word_at(const struct parser *ps, size_t at, size_t *n)
{
    static const char *const number_words[] = {
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty"
    };
    /* candidates per first letter, as values 1-20, 0-terminated */
    static const unsigned char by_o[] = { 1, 0 }, by_t[] = { 2, 3, 10, 12, 13, 20, 0 },
                               by_f[] = { 4, 5, 14, 15, 0 }, by_s[] = { 6, 7, 16, 17, 0 },
                               by_e[] = { 8, 11, 18, 0 }, by_n[] = { 9, 19, 0 };
    const unsigned char *cand;
    switch (to_lower(byte_at(ps, at))) {
    case 'o': cand = by_o; break;
    case 't': cand = by_t; break;
    case 'f': cand = by_f; break;
    case 's': cand = by_s; break;
    case 'e': cand = by_e; break;
    case 'n': cand = by_n; break;
    default: return 0;
    }
    /* at most one can match: each must end at a word boundary */
    for (; *cand; cand++) {
        if ((unsigned char)number_words[*cand - 1][1] == to_lower(byte_at(ps, at + 1)) &&
            word_at(ps, at, ps->len, number_words[*cand - 1])) {
            *n = strlen(number_words[*cand - 1]);
            return *cand;
        }
    }
    return 0;
}

/* Whether "experience" (or "exp") appears within window bytes after at, on the same sentence. */
static int experience_near(const struct parser *ps, size_t from, size_t to)
{
    size_t p;
    if (to > ps->len)
        to = ps->len;
    for (p = from; p < to; p++) {
        unsigned char c = byte_at(ps, p);
        if (c == '.' && p + 1 < to && is_blank(byte_at(ps, p + 1)))
            return 0;
        if ((c == 'e' || c == 'E') && (p == 0 || !is_alpha(byte_at(ps, p - 1))) && match_at(ps, p, to, "exp"))
            return 1;
    }
    return 0;
}

/* Number of years at at ("8+ years", "6.5 yrs", "15 months", "5 years 11 months"); -1 if none. */
static double years_at(const struct parser *ps, size_t at, size_t *end)
{
    size_t p = at, n, i;
    double value = 0;
    int v, months;
    n = digit_run(ps, p, ps->len, &v);
    if (n > 0) {
        if (n > 2)
            return -1;
        value = v;
        p += n;
        if (byte_at(ps, p) == '.' && p + 1 < ps->len && is_digit(byte_at(ps, p + 1))) {
            size_t m = digit_run(ps, p + 1, ps->len, &v);
            double scale = 1;
            for (i = 0; i < m; i++)
                scale *= 10;
            value += v / scale;
            p += 1 + m;
        }
    } else {
        size_t wlen;
        int w = number_word_at(ps, p, &wlen);
        if (!w)
            return -1;
        value = (double)w;
        p += wlen;
    }
    p = skip_blanks(ps, p, ps->len);
    if (byte_at(ps, p) == '+' && p < ps->len)
        p = skip_blanks(ps, p + 1, ps->len);
    else if (word_at(ps, p, ps->len, "plus"))
        p = skip_blanks(ps, p + 4, ps->len);
    if (byte_at(ps, p) == '-' && p < ps->len)
        p++;
    if (word_at(ps, p, ps->len, "years") || word_at(ps, p, ps->len, "year") ||
        word_at(ps, p, ps->len, "yrs") || word_at(ps, p, ps->len, "yr") ||
        word_at(ps, p, ps->len, "year's") || word_at(ps, p, ps->len, "years'")) {
        while (p < ps->len && (is_alpha(byte_at(ps, p)) || byte_at(ps, p) == '\''))
            p++;
        if (byte_at(ps, p) == '.' && p < ps->len)
            p++;
        /* "5 years 11 months", "6 years and 6 months" */
        {
            size_t q = skip_blanks(ps, p, ps->len);
            if (byte_at(ps, q) == ',' && q < ps->len)
                q = skip_blanks(ps, q + 1, ps->len);
            if (word_at(ps, q, ps->len, "and"))
                q = skip_blanks(ps, q + 3, ps->len);
            n = digit_run(ps, q, ps->len, &months);
            if (n > 0 && n <= 2 && months < 12) {
                q = skip_blanks(ps, q + n, ps->len);
                if (word_at(ps, q, ps->len, "months") || word_at(ps, q, ps->len, "month") ||
                    word_at(ps, q, ps->len, "mos")) {
                    value += months / 12.0;
                    p = q + 5;
                }
            }
        }
    } else if (word_at(ps, p, ps->len, "months") || word_at(ps, p, ps->len, "month") ||
               word_at(ps, p, ps->len, "mos")) {
        value /= 12.0;
        while (p < ps->len && is_alpha(byte_at(ps, p)))
            p++;
    } else {
        return -1;
    }
    *end = p;
    return value;
}

/* "with over 15 years", "more than 8 years", "total of 6 years": a total even without the word experience. */
static int total_cue_before(const struct parser *ps, size_t at)
{
    static const char *const cues[] = { "over", "than", "total", "overall", "total of", NULL };
    size_t i;
    for (i = 0; cues[i]; i++) {
        size_t n = strlen(cues[i]), q = at;
        while (q > 0 && at - q < 3 && is_blank(byte_at(ps, q - 1)) )
            q--;
        if (q < at && q >= n && match_at(ps, q - n, q, cues[i]) && (q - n == 0 || !is_alpha(byte_at(ps, q - n - 1))))
            return 1;
    }
    return 0;
}

static double stated_years(const struct parser *ps)
{
    double best = -1;
    size_t p;
    for (p = 0; p < ps->len; p++) {
        unsigned char c = byte_at(ps, p);
        double v;
        size_t end = 0;
        if (!is_alnum(c))
            continue;
        /*
         * p starts a word (the loop skips the rest of each word).  CH_NUM:
         * only a digit or a number word's first letter can start a statement.
         */
        v = -1;
        if ((char_class[c] & CH_NUM) && !(p > 0 && byte_at(ps, p - 1) == '.'))
            v = years_at(ps, p, &end);
        /* the statement must talk about experience: "8 years of experience", "Experience: 8 years" */
        if (v > 0 && v <= 50 &&
            (experience_near(ps, end, end + 64) || experience_near(ps, p > 40 ? p - 40 : 0, p) ||
             total_cue_before(ps, p)))
            if (v > best)
                best = v;
        while (p + 1 < ps->len && is_alnum(byte_at(ps, p + 1)))
            p++;
    }
    return best;
}

/* ---- public ---- */

/*
 * The headline under the name ("Title - Company", "Title at Company", or a
 * title alone): among the first three lines, the first short line that
 * names a role.  A line without a role word is the name or a tagline.
 */
static void find_headline(struct parser *ps, struct experience_result *out)
{
    size_t i, seen = 0;
    for (i = 0; i < ps->line_count && seen < 3; i++) {
        const struct text_line *ln = &ps->lines[i];
        struct header h;
        struct cues cu;
        size_t ts = 0, te = 0, cs = 0, ce = 0;
        if (line_is_blank(ln))
            continue;
        if (ln->heading)
            break;
        seen++;
        if (!header_candidate(ps, ln) || ln->bullet)
            continue;
        cues_of(ps, ln->start, ln->end, &cu);
        if (cu.digits || !cu.strong_title || cu.words > 12 || cu.degree)
            continue;
        memset(&h, 0, sizeof(h));
        assign_from_segments(ps, ln->start, ln->end, 0, &ts, &te, &cs, &ce, &h);
        if (te > ts) {
            core_title(ps, &ts, &te);
            out->headline_title = copy_span(ps, ts, te);
        }
        if (ce > cs)
            out->headline_company = copy_span(ps, cs, ce);
        break;
    }
}

void experience_result_free(struct experience_result *res)
{
    size_t k;
    if (!res)
        return;
    for (k = 0; k < res->count; k++)
        free_entry(&res->entries[k]);
    ima_free(res->entries);
    ima_free(res->headline_title);
    ima_free(res->headline_company);
    memset(res, 0, sizeof(*res));
    res->stated_years = -1;
}

int experience_parse(const char *text, size_t len, int ref_year, int ref_month,
                     struct experience_result *out)
{
    struct parser ps;
    int has_experience = 0, rc = 0;
    double dated;
    memset(out, 0, sizeof(*out));
    out->stated_years = -1;
    if (!text)
        len = 0;
    memset(&ps, 0, sizeof(ps));
    ps.text = text ? text : "";
    ps.len = len;
    /* keep every month index inside the merge bitmap */
    ps.ref_year = ref_year < 1951 ? 1951 : ref_year > 2200 ? 2200 : ref_year;
    ps.ref_month = ref_month < 1 ? 1 : ref_month > 12 ? 12 : ref_month;
    ps.max_year = ps.ref_year + 1;
    if (split_lines(&ps) != 0 || classify_lines(&ps, &has_experience) != 0 ||
        join_split_ranges(&ps) != 0 || build_entries(&ps, has_experience) != 0) {
        rc = -1;
        goto done;
    }
    find_headline(&ps, out);
    if (ps.oom) {
        rc = -1;
        goto done;
    }
    out->merged_months = merged_months(&ps);
    out->entries = ps.entries;
    out->count = ps.entry_count;
    ps.entries = NULL;
    ps.entry_count = 0;
    out->stated_years = stated_years(&ps);
    dated = out->merged_months / 12.0;
    if (out->stated_years < 0) {
        out->total_years = dated;
    } else if (out->merged_months == 0) {
        out->total_years = out->stated_years;
    } else if (out->stated_years < 0.5 * dated && out->count >= 2) {
        /* far below several dated jobs: the statement is about one skill ("1 year of Java experience") */
        out->total_years = dated;
    } else {
        out->total_years = out->stated_years;
    }
done:
    {
        size_t k;
        for (k = 0; k < ps.entry_count; k++)
            free_entry(&ps.entries[k]);
    }
    ima_free(ps.entries);
    ima_free(ps.lines);
    ima_free(ps.ranges);
    if (rc != 0)
        experience_result_free(out);
    return rc;
}
