/*
 * fuzz_experience.c - the experience and date parser
 * (plugins/experience/exp_parse.c) on any bytes: what it returns must stay
 * inside the input and within the documented ranges.
 */
#include <string.h>

#include "exp_parse.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct experience_result res;
	/* The reference date comes from the first two bytes when there are
	 * any: "Present" resolves to it, and months 1 to 12 only. */
	int year = size > 1 ? 1990 + data[0] % 60 : 2025;
	int month = size > 1 ? 1 + data[1] % 12 : 6;

	memset(&res, 0, sizeof(res));
	if (experience_parse((const char *)data, size, year, month, &res) == 0) {
		FUZZ_CHECK(res.merged_months >= 0);
		FUZZ_CHECK(res.total_years >= 0);
		for (size_t i = 0; i < res.count; i++) {
			const struct experience_entry *e = &res.entries[i];

			FUZZ_CHECK(e->duration_months >= 0);
			FUZZ_CHECK(e->start_month >= 0 && e->start_month <= 12);
			FUZZ_CHECK(e->end_month >= 0 && e->end_month <= 12);
			FUZZ_CHECK(e->text_start <= e->text_end && e->text_end <= size);
			FUZZ_CHECK(e->snippet == NULL || strlen(e->snippet) <= EXPERIENCE_SNIPPET_MAX);
		}
	}
	experience_result_free(&res);
	return 0;
}
