/*
 * exp_parse.h - resume experience parser (pure C; memory from the core's
 * ima_malloc family, so the allocation failure tests reach it)
 *
 * Finds the jobs in a plain-text resume: title, company, location, date
 * range and description of each, the number of distinct months worked and
 * any explicit "N years of experience" statement.
 *
 * Every exported symbol starts with experience_.  All strings in the
 * results are NUL-terminated UTF-8 owned by the result; release them with
 * experience_result_free().
 */
#ifndef EXPERIENCE_EXP_PARSE_H
#define EXPERIENCE_EXP_PARSE_H

#include <stddef.h>

struct experience_entry {
    char *title_line;      /* the raw line the title came from, trimmed (NULL if none) */
    char *title;           /* job title, e.g. "Senior Software Engineer" (NULL if unknown) */
    char *company;         /* NULL if unknown */
    char *location;        /* NULL if unknown */
    int start_year, start_month;   /* month 1-12, 0 if only a year is known; year 0 if unknown */
    int end_year, end_month;       /* resolved: "Present" => reference date */
    int end_present;               /* 1 if the end was Present/Current/Now/till date */
    int duration_months;           /* inclusive month count, >= 0, 0 if unknown */
    size_t text_start, text_end;   /* byte span [text_start, text_end) of this job's block in the input */
    char *snippet;                 /* description text, whitespace-normalised, at most
                                      EXPERIENCE_SNIPPET_MAX bytes, cut at a UTF-8 boundary */
};

#define EXPERIENCE_SNIPPET_MAX 400

struct experience_result {
    struct experience_entry *entries;
    size_t count;
    int merged_months;      /* distinct calendar months covered by any job */
    double stated_years;    /* largest explicit "N years of experience" statement; -1 if none */
    double total_years;     /* best estimate, see experience_parse() */
    char *headline_title;   /* "Title - Company" headline under the name, NULL if none */
    char *headline_company; /* company of that headline, NULL if none */
};

/*
 * Parses the work experience of a resume.
 *
 * text: UTF-8 resume text of len bytes; need not be NUL-terminated, may hold
 *       any bytes (invalid UTF-8 and NULs are tolerated).
 * ref_year, ref_month: the date that "Present", "Current", "till date"...
 *       resolve to (month 1-12); future dates past ref_year + 1 are rejected.
 * out:  filled on return; the caller owns it and must pass it to
 *       experience_result_free() whatever the return value.
 *
 * Durations: a range with months counts inclusively (Jan 2020 - Mar 2020 is
 * 3 months).  A bare year is taken as its middle, so "2016 - 2018" is 24
 * months and "2016 - 2016" is 12.
 *
 * total_years rule: the resume's own statement (stated_years) when there is
 * one, because dated jobs undercount (older jobs left out, unparseable
 * dates) and "Present" resolves to the reference date, not to when the
 * resume was written.  Exception: a statement below half of merged_months/12
 * with two or more dated jobs is taken to be about one skill ("1 year of
 * Java experience") and the dates win.  Without a statement:
 * merged_months / 12.  0 when neither exists.
 *
 * Jobs are anchored on their date lines; a job the Indeed layout lists with
 * no date (a role line, then an "Employer -" line) is kept with every date
 * field and duration_months 0, and counts toward no total.
 *
 * Returns 0, or -1 on allocation failure (out is then empty and safe to free).
 * Runs in time linear in len.
 */
int experience_parse(const char *text, size_t len, int ref_year, int ref_month,
                     struct experience_result *out);

/* Frees everything experience_parse() stored in res and empties it; NULL is fine. */
void experience_result_free(struct experience_result *res);

#endif
