/*
 * skillmatch_data.h - the skills dictionary, adjacency, role catalogue and
 * titles as shared data (ima_data_acquire, ABI 1.6): each file is parsed
 * once per process, whichever stages ask for it, and every stage gets the
 * same read-only object. Release what these return with ima_data_release().
 *
 * The kinds name the loaders' parse and their structures' layout: change
 * the number after the slash whenever skillmatch.c or roles.c parse a file
 * differently or change a loaded structure, so that plugins built from
 * different sources never share an object (in-tree plugins are always
 * built together and agree).
 *
 * Static inline: a plugin gets only the loaders it uses (the LLM stages
 * link skillmatch.c without roles.c).
 */
#ifndef SKILLMATCH_DATA_H
#define SKILLMATCH_DATA_H

#include "ima_plugin.h"
#include "roles.h"
#include "skillmatch.h"

#define SKILLMATCH_DATA_DICT "skillmatch.dict/1"
#define SKILLMATCH_DATA_ADJACENCY "skillmatch.adjacency/1"
#define SKILLMATCH_DATA_ROLES "skillmatch.roles/1"
#define SKILLMATCH_DATA_TITLES "skillmatch.titles/1"

static inline void *skillmatch_data_dict_load(const char *const *paths, const void *base,
					      char *err, size_t errlen)
{
	return skillmatch_load(paths[0], err, errlen);
}

static inline void skillmatch_data_dict_free(void *object)
{
	skillmatch_free(object);
}

/* skills.tsv at path (resolved already); NULL with err. */
static inline const struct skillmatch_dict *skillmatch_dict_acquire(const char *path, char *err,
								    size_t errlen)
{
	const char *paths[1] = { path };

	return ima_data_acquire(SKILLMATCH_DATA_DICT, paths, 1, NULL, skillmatch_data_dict_load,
				skillmatch_data_dict_free, err, errlen);
}

static inline void *skillmatch_data_adjacency_load(const char *const *paths, const void *base,
						   char *err, size_t errlen)
{
	return skillmatch_adjacency_load(paths[0], base, err, errlen);
}

static inline void skillmatch_data_adjacency_free(void *object)
{
	skillmatch_adjacency_free(object);
}

/* adjacency.tsv against d, which must come from skillmatch_dict_acquire. */
static inline const struct skillmatch_adjacency *
skillmatch_adjacency_acquire(const char *path, const struct skillmatch_dict *d, char *err,
			     size_t errlen)
{
	const char *paths[1] = { path };

	return ima_data_acquire(SKILLMATCH_DATA_ADJACENCY, paths, 1, d,
				skillmatch_data_adjacency_load, skillmatch_data_adjacency_free,
				err, errlen);
}

static inline void *skillmatch_data_roles_load(const char *const *paths, const void *base,
					       char *err, size_t errlen)
{
	return skillmatch_roles_load(paths[0], base, err, errlen);
}

static inline void skillmatch_data_roles_free(void *object)
{
	skillmatch_roles_free(object);
}

/* roles.tsv against d, which must come from skillmatch_dict_acquire. */
static inline const struct skillmatch_roles *
skillmatch_roles_acquire(const char *path, const struct skillmatch_dict *d, char *err,
			 size_t errlen)
{
	const char *paths[1] = { path };

	return ima_data_acquire(SKILLMATCH_DATA_ROLES, paths, 1, d, skillmatch_data_roles_load,
				skillmatch_data_roles_free, err, errlen);
}

static inline void *skillmatch_data_titles_load(const char *const *paths, const void *base,
						char *err, size_t errlen)
{
	return skillmatch_titles_load(paths[0], paths[1], err, errlen);
}

static inline void skillmatch_data_titles_free(void *object)
{
	skillmatch_titles_free(object);
}

/* titles.tsv with occupations.tsv. */
static inline const struct skillmatch_titles *
skillmatch_titles_acquire(const char *titles_path, const char *occupations_path, char *err,
			  size_t errlen)
{
	const char *paths[2] = { titles_path, occupations_path };

	return ima_data_acquire(SKILLMATCH_DATA_TITLES, paths, 2, NULL,
				skillmatch_data_titles_load, skillmatch_data_titles_free, err,
				errlen);
}

#endif
