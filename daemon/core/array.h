/*
 * array.h: the one growable-array helper of the compilers (rules,
 * translate), which build tables of unknown size once per config.
 */
#ifndef CANGATE_ARRAY_H
#define CANGATE_ARRAY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for element n of p (*cap elements of elem bytes): doubles *cap when
 * full, new elements zeroed. Returns the array (maybe moved) or NULL, with
 * p still valid, when out of memory. */
static inline void *array_grow(void *p, size_t *cap, size_t n, size_t elem)
{
	size_t c;
	void *q;

	if (n < *cap)
		return p;
	c = *cap ? *cap * 2 : 8;
	if (c > SIZE_MAX / elem)
		return NULL;
	q = realloc(p, c * elem);
	if (!q)
		return NULL;
	memset((char *)q + *cap * elem, 0, (c - *cap) * elem);
	*cap = c;
	return q;
}

#endif
