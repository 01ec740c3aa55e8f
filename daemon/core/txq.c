/*
 * txq.c: the bounded tx ring queue of a bus. See txq.h.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/core/txq.h"


int txq_init(struct txq *q, uint32_t cap)
{
	memset(q, 0, sizeof(*q));
	if (cap == 0)
		cap = 1;
	q->ring = calloc(cap, sizeof(*q->ring));
	if (!q->ring)
		return -1;
	q->cap = cap;
	return 0;
}

void txq_fini(struct txq *q)
{
	free(q->ring);
	memset(q, 0, sizeof(*q));
}

int txq_push(struct txq *q, const struct txq_entry *e)
{
	if (q->count == q->cap)
		return -1;
	q->ring[(q->head + q->count) % q->cap] = *e;
	q->count++;
	return 0;
}

const struct txq_entry *txq_peek(const struct txq *q)
{
	return q->count ? &q->ring[q->head] : NULL;
}

void txq_pop(struct txq *q)
{
	if (!q->count)
		return;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

uint32_t txq_expire(struct txq *q, uint64_t now_ns, uint64_t max_age_ns,
		    void (*dropped)(void *ctx, const struct txq_entry *e),
		    void *ctx)
{
	uint32_t n = 0;
	const struct txq_entry *e;

	/* Entries are in queueing order, so the oldest are at the head. */
	while ((e = txq_peek(q)) && now_ns >= e->queued_ns &&
	       now_ns - e->queued_ns > max_age_ns) {
		if (dropped)
			dropped(ctx, e);
		txq_pop(q);
		n++;
	}
	return n;
}
