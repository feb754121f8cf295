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

#endif
