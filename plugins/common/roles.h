/*
 * Role catalogue (data/roles.tsv) and skill adjacency (data/adjacency.tsv),
 * both resolved against a loaded skills dictionary (skillmatch.h).
 *
 * Both are immutable after loading and may be shared across threads.
 */
#ifndef SKILLMATCH_ROLES_H
#define SKILLMATCH_ROLES_H

#include <stddef.h>

#include "skillmatch.h"

struct skillmatch_role {
	const char *soc_code;      /* O*NET-SOC code, "15-1252.00" */
	const char *title;         /* "Software Developers" */
	const unsigned *skill_ids; /* typical technologies, hot ones first */
	size_t nskills;
};

struct skillmatch_roles;

/*
 * Load roles.tsv.  Skill names unknown to d are skipped (a dictionary and a
 * catalogue from different generator runs still load).  NULL and a message
 * naming file and line in err on failure.  The caller owns the result
 * (skillmatch_roles_free); it keeps no pointer to d, only skill ids, which
 * are valid for d and any dictionary loaded from the same skills.tsv.
 */
struct skillmatch_roles *skillmatch_roles_load(const char *roles_tsv_path,
					       const struct skillmatch_dict *d,
					       char *err, size_t errlen);
void skillmatch_roles_free(struct skillmatch_roles *r);
size_t skillmatch_roles_count(const struct skillmatch_roles *r);
/* Role i (0 <= i < count), owned by r; NULL when out of range. */
const struct skillmatch_role *skillmatch_roles_get(const struct skillmatch_roles *r,
						   size_t i);

struct skillmatch_adjacency;

/* Load adjacency.tsv; same conventions as skillmatch_roles_load(). */
struct skillmatch_adjacency *skillmatch_adjacency_load(const char *adjacency_tsv_path,
						       const struct skillmatch_dict *d,
						       char *err, size_t errlen);
void skillmatch_adjacency_free(struct skillmatch_adjacency *a);
/*
 * Skills implied by skill_id (Django -> Python).  Sets *ids to an array owned
 * by a (NULL when none) and returns its length.
 */
size_t skillmatch_adjacency_implied(const struct skillmatch_adjacency *a,
				    unsigned skill_id, const unsigned **ids);

/*
 * Job titles and occupations: data/titles.tsv (normalised job title ->
 * O*NET occupations, from O*NET's Alternate Titles) and data/occupations.tsv
 * (each occupation's title, Job Zone, usual related work experience and
 * closest related occupations).  Immutable after loading.
 */
struct skillmatch_occupation {
	const char *soc_code;   /* "29-1141.00" */
	const char *title;      /* "Registered Nurses" */
	int job_zone;           /* O*NET Job Zone 1-5, 0 unknown */
	int experience_min;     /* usual related work experience, months; */
	int experience_max;     /* -1 unknown; 0-0 none; max 0 after a
				 * min above 0: no upper bound */
	const unsigned *related; /* occupation indices, closest first */
	size_t nrelated;
};

struct skillmatch_titles;

/*
 * Load occupations.tsv, then titles.tsv against it (codes unknown to it
 * are skipped).  Same conventions as skillmatch_roles_load().
 */
struct skillmatch_titles *skillmatch_titles_load(const char *titles_tsv_path,
						 const char *occupations_tsv_path,
						 char *err, size_t errlen);
void skillmatch_titles_free(struct skillmatch_titles *t);
size_t skillmatch_occupations_count(const struct skillmatch_titles *t);
/* Occupation i, owned by t; NULL when out of range. */
const struct skillmatch_occupation *skillmatch_occupation_get(const struct skillmatch_titles *t,
							      size_t i);
/* Index of the occupation with this O*NET-SOC code, or -1. */
int skillmatch_occupation_find(const struct skillmatch_titles *t, const char *soc_code);

/* One part of a title that names occupations. */
struct skillmatch_title_match {
	const unsigned *occupations; /* indices, owned by t; own-title first */
	size_t noccupations;
	size_t words;      /* words of the part that the known title covers */
	size_t part_words; /* words of the part (level words not counted) */
	size_t start, len; /* the part's bytes within the title given */
};

/*
 * Occupations named by a job title ("Senior Data Engineer", "RN / Charge
 * Nurse - ICU").  The title is cut into parts at , / | ( ) [ ] : ; " - ",
 * dashes and " at "; in each part the longest run of whole words that is a
 * known title counts (the last of equally long runs: an English title ends
 * with its head noun), then the same on each side of it ("Chef & Owner":
 * owner, then chef).  Words are compared normalised as in the generator:
 * ASCII lower case, '&' as "and", level words (senior, junior, lead, I-IV)
 * dropped, singular.  Writes at most max matches and returns how many.
 * Cost is linear in len (parts of more than 16 words are prose and
 * skipped).
 */
size_t skillmatch_titles_match(const struct skillmatch_titles *t, const char *title,
			       size_t len, struct skillmatch_title_match *out, size_t max);

/*
 * Is the first part of title ("Pastry Cook" of "Pastry Cook , 05/2014 to
 * Current") as a whole a known title? Fills *m and returns 1, else 0. One
 * lookup: cheap enough for every line of a resume.
 */
int skillmatch_titles_whole(const struct skillmatch_titles *t, const char *title, size_t len,
			    struct skillmatch_title_match *m);

/*
 * The resume's own title line: the first of its first three non-blank lines
 * that holds a known title and reads as one (at most 12 words, of which at
 * most a third are words no known title uses, so a name such as "John
 * Baker" is not taken for a baker).  Sets *line and *n and returns 1, or
 * returns 0.
 */
int skillmatch_titles_heading(const struct skillmatch_titles *t, const char *text,
			      size_t len, const char **line, size_t *n);

#endif
