/*
 * suggest.c: "did you mean" by edit distance. See suggest.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "daemon/core/suggest.h"

#define SUGGEST_LEN_MAX 64 /* longer names are not typo-checked */

static unsigned suggest_min3(unsigned a, unsigned b, unsigned c)
{
	unsigned m = a < b ? a : b;

	return m < c ? m : c;
}

/* Edit distance with adjacent swaps counted as one edit (optimal string
 * alignment), case insensitive: typos are mostly one of those. */
static unsigned suggest_distance(const char *a, const char *b)
{
	unsigned rows[3][SUGGEST_LEN_MAX + 1];
	unsigned *two = rows[0], *one = rows[1], *cur = rows[2];
	size_t la = strlen(a), lb = strlen(b);

	if (la > SUGGEST_LEN_MAX || lb > SUGGEST_LEN_MAX)
		return ~0u;
	for (size_t j = 0; j <= lb; j++)
		one[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		int ca = tolower((unsigned char)a[i - 1]);

		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			int cb = tolower((unsigned char)b[j - 1]);

			cur[j] = suggest_min3(one[j] + 1, cur[j - 1] + 1,
					      one[j - 1] + (ca != cb));
			if (i > 1 && j > 1 &&
			    ca == tolower((unsigned char)b[j - 2]) &&
			    cb == tolower((unsigned char)a[i - 2]) &&
			    two[j - 2] + 1 < cur[j])
				cur[j] = two[j - 2] + 1;
		}
		{
			unsigned *t = two;

			two = one;
			one = cur;
			cur = t;
		}
	}
	return one[lb];
}

void suggest_init(struct suggest *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->dist = ~0u;
}

void suggest_offer(struct suggest *s, const char *candidate)
{
	unsigned d;

	if (!candidate || !strcmp(candidate, s->word))
		return;
	d = suggest_distance(s->word, candidate);
	if (d < s->dist) {
		s->dist = d;
		s->best = candidate;
	}
}

const char *suggest_result(const struct suggest *s)
{
	unsigned limit = (unsigned)strlen(s->word) / 3;

	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	return s->best && s->dist <= limit ? s->best : NULL;
}

const char *suggest_hint(const struct suggest *s, char *buf, size_t size)
{
	const char *r = suggest_result(s);

	if (!r)
		return "";
	snprintf(buf, size, " (did you mean '%s'?)", r);
	return buf;
}
