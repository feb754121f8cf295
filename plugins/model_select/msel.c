/* msel.c - the models table and the choice of a model. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"
#include "msel.h"

#define MSEL_MAX_ROWS 256

const char *const msel_tier_names[MSEL_TIERS] = { "low", "balanced", "premium" };

int msel_tier_parse(const char *s, size_t n)
{
	for (int i = 0; i < MSEL_TIERS; i++)
		if (strlen(msel_tier_names[i]) == n && strncasecmp(s, msel_tier_names[i], n) == 0)
			return i;
	return -1;
}

void msel_free(struct msel_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		ima_free(t->models[i].id);
	ima_free(t->models);
	ima_free(t);
}

/* A price: a finite number, 0 or more, below an absurd 10,000 USD per
 * million tokens (a misplaced column). */
static bool msel_price(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end != s && *end == '\0' && errno == 0 && isfinite(*out) && *out >= 0 &&
	       *out < 10000;
}

struct msel_table *msel_load(const char *path, char *err, size_t size)
{
	struct msel_table *t = ima_calloc(1, sizeof(*t));
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (t == NULL || f == NULL) {
		snprintf(err, size, "%s: %s", path, f == NULL ? strerror(errno) : "out of memory");
		goto fail;
	}
	t->models = ima_calloc(MSEL_MAX_ROWS, sizeof(*t->models));
	if (t->models == NULL) {
		snprintf(err, size, "%s: out of memory", path);
		goto fail;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *col[6], *p = line, *end;
		size_t ncol = 0;
		struct msel_model *m;
		int tier;
		long ctx;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, size, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
			continue;
		while (ncol < 6) {
			col[ncol++] = p;
			if ((p = strchr(p, '\t')) == NULL)
				break;
			*p++ = '\0';
		}
		if (ncol != 5) {
			snprintf(err, size, "%s:%d: want 5 tab-separated columns (id, tier, price_in, price_out, context), found %zu",
				 path, lineno, ncol);
			goto fail;
		}
		if (t->n == MSEL_MAX_ROWS) {
			snprintf(err, size, "%s:%d: more than %d models", path, lineno, MSEL_MAX_ROWS);
			goto fail;
		}
		m = &t->models[t->n];
		if (col[0][0] == '\0' || strpbrk(col[0], " \"\\") != NULL) {
			snprintf(err, size, "%s:%d: bad model id '%s'", path, lineno, col[0]);
			goto fail;
		}
		if ((tier = msel_tier_parse(col[1], strlen(col[1]))) < 0) {
			snprintf(err, size, "%s:%d: tier '%s' is not low, balanced or premium", path,
				 lineno, col[1]);
			goto fail;
		}
		if (!msel_price(col[2], &m->price_in) || !msel_price(col[3], &m->price_out)) {
			snprintf(err, size, "%s:%d: prices must be USD per million tokens, 0 or more", path,
				 lineno);
			goto fail;
		}
		errno = 0;
		ctx = strtol(col[4], &end, 10);
		if (end == col[4] || *end != '\0' || errno != 0 || ctx < 1024 || ctx > 100000000) {
			snprintf(err, size, "%s:%d: context '%s' must be a number of tokens (1024 or more)",
				 path, lineno, col[4]);
			goto fail;
		}
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->models[i].id, col[0]) == 0) {
				snprintf(err, size, "%s:%d: model '%s' is listed twice", path, lineno, col[0]);
				goto fail;
			}
		m->id = ima_strdup(col[0]);
		if (m->id == NULL) {
			snprintf(err, size, "%s: out of memory", path);
			goto fail;
		}
		m->tier = (enum msel_tier)tier;
		m->context = ctx;
		t->n++;
	}
	if (ferror(f)) {
		snprintf(err, size, "%s: read error", path);
		goto fail;
	}
	if (t->n == 0) {
		snprintf(err, size, "%s: no model listed", path);
		goto fail;
	}
	fclose(f);
	return t;
fail:
	if (f != NULL)
		fclose(f);
	msel_free(t);
	return NULL;
}

double msel_cost(const struct msel_model *m, long in, long out)
{
	return (double)in * m->price_in / 1e6 + (double)out * m->price_out / 1e6;
}

/* 3100 -> "3,100": reasons are read by people. */
static const char *msel_thousands(long v, char *buf, size_t size)
{
	char digits[24];
	size_t n = (size_t)snprintf(digits, sizeof(digits), "%ld", v < 0 ? 0 : v), o = 0;

	for (size_t i = 0; i < n && o + 2 < size; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

int msel_choose(const struct msel_table *t, const struct msel_params *p,
		struct msel_choice *c)
{
	const struct msel_model *cheapest = NULL, *largest = NULL;
	int order[MSEL_TIERS], norder = 0, wanted = (int)p->budget + p->shift, base;
	long in = p->text_tokens + p->overhead_tokens, need = in + p->output_tokens;
	size_t max = p->fallbacks + 1 < MSEL_MAX_MODELS ? p->fallbacks + 1 : MSEL_MAX_MODELS;
	char why[96] = "", tokens[24], ceiling[48] = "";
	size_t used;

	memset(c, 0, sizeof(*c));
	if (t == NULL || t->n == 0)
		return -1;
	wanted = wanted < MSEL_LOW ? MSEL_LOW : wanted > MSEL_PREMIUM ? MSEL_PREMIUM : wanted;
	base = wanted;
	c->input_tokens = in;
	/* Raising wins over lowering: a tiny text with many gaps or a bold
	 * style still deserves the better model. */
	if (p->gaps >= p->complex_gaps && p->complex_gaps > 0)
		snprintf(why, sizeof(why), "%zu gaps", p->gaps);
	else if (p->bold)
		snprintf(why, sizeof(why), "bold creativity");
	else if (p->large_tokens > 0 && p->text_tokens >= p->large_tokens)
		snprintf(why, sizeof(why), "long texts");
	if (why[0] != '\0' && wanted < MSEL_PREMIUM) {
		wanted++;
	} else if (why[0] == '\0' && p->text_tokens < p->tiny_tokens && p->gaps <= 1 &&
		   wanted > MSEL_LOW) {
		snprintf(why, sizeof(why), "tiny input");
		wanted--;
	}
	c->wanted = (enum msel_tier)wanted;
	/* The wanted tier, the cheaper ones from the nearest down, then the
	 * dearer ones. */
	order[norder++] = wanted;
	for (int k = wanted - 1; k >= 0; k--)
		order[norder++] = k;
	for (int k = wanted + 1; k < MSEL_TIERS; k++)
		order[norder++] = k;
	for (int o = 0; o < norder && c->n < max; o++)
		for (size_t i = 0; i < t->n && c->n < max; i++) {
			const struct msel_model *m = &t->models[i];

			if ((int)m->tier != order[o] || m->context < need)
				continue;
			if (p->ceiling_usd > 0 && msel_cost(m, in, p->output_tokens) > p->ceiling_usd)
				continue;
			c->models[c->n++] = m;
		}
	for (size_t i = 0; i < t->n; i++) {
		const struct msel_model *m = &t->models[i];

		if (largest == NULL || m->context > largest->context)
			largest = m;
		if (m->context >= need &&
		    (cheapest == NULL || msel_cost(m, in, p->output_tokens) <
					     msel_cost(cheapest, in, p->output_tokens)))
			cheapest = m;
	}
	if (p->ceiling_usd > 0)
		snprintf(ceiling, sizeof(ceiling), "$%.4g ceiling", p->ceiling_usd);
	if (c->n == 0)
		c->models[c->n++] = cheapest != NULL ? cheapest : largest;
	c->tier = c->models[0]->tier;
	c->estimated_usd = msel_cost(c->models[0], in, p->output_tokens);

	used = (size_t)snprintf(c->reason, sizeof(c->reason), "%s budget", msel_tier_names[p->budget]);
	if (p->shift != 0)
		used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used, ", task tier %+d: %s",
					 p->shift, msel_tier_names[base]);
	if (why[0] != '\0' && wanted != base)
		used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used, ", %s: %s to %s",
					 why, wanted > base ? "raised" : "lowered",
					 msel_tier_names[wanted]);
	else if (why[0] != '\0')
		used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used, ", %s", why);
	else
		used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used, ", %zu gap%s",
					 p->gaps, p->gaps == 1 ? "" : "s");
	if (used < sizeof(c->reason) && (int)c->tier != wanted) {
		if (cheapest == NULL)
			used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used,
						 "; no model holds %ld tokens: the largest context chosen", need);
		else if (c->models[0] == cheapest && p->ceiling_usd > 0 &&
			 c->estimated_usd > p->ceiling_usd)
			used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used,
						 "; no model fits the %s: the cheapest chosen", ceiling);
		else
			used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used,
						 "; no %s model fits the context%s%s: %s instead",
						 msel_tier_names[wanted], ceiling[0] ? " and the " : "",
						 ceiling, msel_tier_names[c->tier]);
	} else if (used < sizeof(c->reason) && p->ceiling_usd > 0 &&
		   c->estimated_usd > p->ceiling_usd) {
		used += (size_t)snprintf(c->reason + used, sizeof(c->reason) - used,
					 "; over the %s: the cheapest that holds the input", ceiling);
	}
	if (used < sizeof(c->reason))
		snprintf(c->reason + used, sizeof(c->reason) - used, "; %s input tokens; est. $%.4f",
			 msel_thousands(in, tokens, sizeof(tokens)), c->estimated_usd);
	return 0;
}
