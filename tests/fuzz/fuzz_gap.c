/*
 * fuzz_gap.c - the job-ad requirement parser of the gap stage
 * (plugins/gap/gap.c: headings, required and preferred lines, minimum
 * years, the seniority asked). gap.c is compiled in here for its static
 * gap_read_ad(); the state is what gap_init() makes, without a config.
 * The first line of the input is the job title.
 */
#include "../../plugins/gap/gap.c"

#include "fuzz.h"
#include "ima_core.h"

static struct gap_state fuzz_st;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	anautil_wordset_init(&fuzz_st.cues, gap_preferred_cues);
	anautil_wordset_init(&fuzz_st.experience, gap_experience_words);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl = memchr(s, '\n', size);
	size_t tlen = nl ? (size_t)(nl - s) : 0;
	const char *ad = nl ? nl + 1 : s;
	size_t alen = size - (size_t)(ad - s);
	struct ima_req *req = ima_req_new();
	struct gap_ad out;

	if (req == NULL)
		return 0;
	if (gap_read_ad(&fuzz_st, req, ad, alen, s, tlen, &out) == 0) {
		FUZZ_CHECK(out.nlines >= 1);
		for (size_t i = 0; i < out.nlines; i++)
			FUZZ_CHECK(out.lines[i].start <= out.lines[i].end &&
				   out.lines[i].end <= alen);
		for (size_t off = 0; off <= alen; off += 1 + alen / 16)
			gap_section_at(&out, off);
		FUZZ_CHECK(out.seniority >= -1);
	}
	ima_req_free(req);
	return 0;
}
