/*
 * txq.h: a bounded ring queue of frames waiting for a bus to take them,
 * allocated once: pushing and popping never allocate. The oldest entries
 * sit at the head, so ageing out is a pop loop.
 */
#ifndef CANGATE_TXQ_H
#define CANGATE_TXQ_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/can.h>

struct txq_entry {
	struct canfd_frame cf;
	uint64_t queued_ns; /* monotonic time it entered the queue */
	uint64_t t_ns;      /* timestamp of the frame it was routed from */
	int32_t route;      /* the sender's route tag (bus_send), handed back */
	bool fd;
};

struct txq {
	struct txq_entry *ring;
	uint32_t cap;
	uint32_t head;  /* oldest entry */
	uint32_t count;
};

/* cap entries, allocated once. 0 or -1 (ENOMEM). */
int txq_init(struct txq *q, uint32_t cap);
void txq_fini(struct txq *q);
/* Copy e into the queue. -1 when full (the caller counts the drop). */
int txq_push(struct txq *q, const struct txq_entry *e);
/* Oldest entry or NULL when empty; valid until the next push/pop. */
const struct txq_entry *txq_peek(const struct txq *q);
void txq_pop(struct txq *q);
/* Pop entries queued before now_ns - max_age_ns from the head, calling
 * dropped(ctx, entry) for each. Returns how many. */
uint32_t txq_expire(struct txq *q, uint64_t now_ns, uint64_t max_age_ns,
		    void (*dropped)(void *ctx, const struct txq_entry *e),
		    void *ctx);

#endif
