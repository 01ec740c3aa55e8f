/*
 * suggest.h: "did you mean" for unknown names (config keys, signals,
 * aliases). Offer every known name; the closest by edit distance (case
 * insensitive) wins when it is close enough to be a typo.
 *
 *   struct suggest s;
 *   suggest_init(&s, "sped");
 *   suggest_offer(&s, "speed"); suggest_offer(&s, "gear");
 *   suggest_result(&s)             -> "speed"
 */
#ifndef CANGATE_SUGGEST_H
#define CANGATE_SUGGEST_H

#include <stddef.h>

struct suggest {
	const char *word;
	const char *best;
	unsigned dist;
};

void suggest_init(struct suggest *s, const char *word);
/* candidate must outlive the struct suggest. */
void suggest_offer(struct suggest *s, const char *candidate);
/* The closest candidate, or NULL when none is within a third of the word's
 * length (at least 1, at most 3 edits). */
const char *suggest_result(const struct suggest *s);
/* " (did you mean 'X'?)" into buf, or "" when there is no suggestion. */
const char *suggest_hint(const struct suggest *s, char *buf, size_t size);

#endif
