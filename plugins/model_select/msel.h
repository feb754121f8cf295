/*
 * msel.h - model_select's table of models (data/models.tsv) and the
 * choice of a model for one LLM call, apart from the plugin so that the
 * tests can drive it directly. The table is immutable after loading and
 * may be shared by every thread.
 */
#ifndef MSEL_H
#define MSEL_H

#include <stdbool.h>
#include <stddef.h>

enum msel_tier { MSEL_LOW = 0, MSEL_BALANCED = 1, MSEL_PREMIUM = 2 };
#define MSEL_TIERS 3
extern const char *const msel_tier_names[MSEL_TIERS];
/* "low", "balanced", "premium" (any case); -1 otherwise. */
int msel_tier_parse(const char *s, size_t n);

struct msel_model {
	char *id;
	enum msel_tier tier;
	double price_in;  /* USD per million prompt tokens */
	double price_out; /* USD per million completion tokens */
	long context;     /* tokens, prompt and completion together */
};

struct msel_table {
	struct msel_model *models; /* file order: preference within a tier */
	size_t n;
};

/* Loads models.tsv (see the file's header). NULL with a message naming
 * the file and line in err. Free it with msel_free. */
struct msel_table *msel_load(const char *path, char *err, size_t size);
void msel_free(struct msel_table *t);

/* What one call looks like, as far as the choice goes. */
struct msel_params {
	enum msel_tier budget;  /* the request's budget */
	long text_tokens;       /* of the texts sent (resume, ad) */
	long overhead_tokens;   /* the prompt around them */
	long output_tokens;     /* expected completion */
	size_t gaps;            /* critical gaps found by the gap stage */
	bool bold;              /* creativity_mode "bold" */
	double ceiling_usd;     /* what the call may cost; <= 0: no ceiling */
	size_t complex_gaps;    /* this many gaps or more raise the tier */
	long large_tokens;      /* texts this long raise the tier */
	long tiny_tokens;       /* texts shorter than this lower it */
	size_t fallbacks;       /* how many more models to name */
	int shift;              /* the task's own step from the budget's tier
				 * (task_tiers: -1 a cheaper tier, +1 a
				 * stronger one), before raising or lowering */
};

#define MSEL_MAX_MODELS 5

struct msel_choice {
	const struct msel_model *models[MSEL_MAX_MODELS]; /* chosen, then fallbacks */
	size_t n;               /* 0 only with an empty table */
	enum msel_tier wanted;  /* the tier the call should have */
	enum msel_tier tier;    /* the chosen model's */
	long input_tokens;
	double estimated_usd;   /* of the chosen model */
	char reason[320];       /* for people: why this model */
};

/* Estimated cost in USD of a call of in prompt and out completion tokens
 * on m. */
double msel_cost(const struct msel_model *m, long in, long out);

/*
 * Picks the model of one call: the budget's tier moved by the task's shift
 * (within low..premium), raised one step for many
 * gaps, bold creativity or long texts, lowered one step for tiny texts;
 * within it the first model whose context holds the prompt and the
 * completion and whose estimated cost fits the ceiling; failing that the
 * tiers below, then those above. The fallbacks are the next models that
 * fit, in the same order. When no model fits the ceiling, the cheapest one
 * that holds the call is chosen and the reason says so. Returns 0, or -1
 * when the table is empty.
 */
int msel_choose(const struct msel_table *t, const struct msel_params *p,
		struct msel_choice *c);

#endif
