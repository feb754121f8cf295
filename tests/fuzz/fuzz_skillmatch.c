/*
 * fuzz_skillmatch.c - the skill matcher (plugins/common/skillmatch.c) with
 * the real dictionary, data/skills.tsv, loaded once: every match must lie
 * inside the text, in order and without overlap, and name a skill; the
 * free-text lookup takes the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "skillmatch.h"

static struct skillmatch_dict *fuzz_dict;

struct fuzz_scan {
	size_t len, end;
};

static void fuzz_hit(const struct skillmatch_hit *hit, void *arg)
{
	struct fuzz_scan *s = arg;

	FUZZ_CHECK(hit->len > 0 && hit->offset >= s->end && hit->offset + hit->len <= s->len);
	FUZZ_CHECK(skillmatch_name(fuzz_dict, hit->skill_id) != NULL);
	FUZZ_CHECK(skillmatch_kind(fuzz_dict, hit->skill_id) != NULL);
	skillmatch_category(fuzz_dict, hit->skill_id);
	skillmatch_hot(fuzz_dict, hit->skill_id);
	s->end = hit->offset + hit->len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[4096], err[512];

	(void)argc;
	(void)argv;
	fuzz_dict = skillmatch_load(ima_fuzz_data_path(path, sizeof(path), "skills.tsv"),
				    err, sizeof(err));
	if (fuzz_dict == NULL) {
		fprintf(stderr, "fuzz_skillmatch: %s\n", err);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_scan s = { size, 0 };
	int id;

	skillmatch_scan(fuzz_dict, (const char *)data, size, fuzz_hit, &s);
	/* Names are short: what a classifier upstream would send. */
	if (size <= 256) {
		id = skillmatch_lookup(fuzz_dict, (const char *)data, size);
		FUZZ_CHECK(id < 0 || skillmatch_name(fuzz_dict, (unsigned)id) != NULL);
		id = skillmatch_find(fuzz_dict, (const char *)data, size);
		FUZZ_CHECK(id < 0 || skillmatch_name(fuzz_dict, (unsigned)id) != NULL);
	}
	return 0;
}
