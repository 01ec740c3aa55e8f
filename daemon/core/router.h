/*
 * router.h: the route decision, a pure function of (config, frame, now).
 *
 * No sockets, no clock, no allocation per frame: router_new() precomputes,
 * for every route and direction, a 2048-entry table for 11-bit IDs (pass or
 * not, output ID, rate slot), so an 11-bit frame costs one table load per
 * route; 29-bit frames take a short linear scan of the route's 29-bit
 * entries and a binary search of its maps and rates.
 *
 * Semantics (config [route NAME]):
 *  - A frame received on bus B is offered to every route with from == B, and
 *    to every route with direction = both and to == B (the reverse direction).
 *  - pass/block/rate IDs are written in the `from` bus's ID space. Forward:
 *    filter the received ID, then map (from -> to). Reverse: map back
 *    (to -> from) first, then the same filters and rates apply.
 *  - pass empty = everything not blocked. An 11-bit entry matches standard
 *    frames only, a 29-bit entry (trailing x) extended frames only.
 *  - rate = at most one frame per period per ID per route and direction;
 *    later frames in the period are dropped and counted rate_limited.
 *  - Never routed: error frames, frames the gateway sent itself (dir TX,
 *    i.e. loopback echoes: this is what keeps `both` routes from looping),
 *    and nothing ever goes back to the bus it came from.
 *  - An FD frame is not sent to a bus without fd = yes (counted filtered).
 * Output frames are copies with the mapped ID and dir = FRAME_DIR_TX.
 */
#ifndef CANGATE_ROUTER_H
#define CANGATE_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/core/config.h"
#include "daemon/core/frame.h"

struct router;

struct route_out {
	int bus;   /* destination bus index (config buses[]) */
	int route; /* route index (config routes[]) */
	struct frame f;
};

/* Per route, both directions together. in = forwarded + filtered +
 * rate_limited + overflow. */
struct route_stats {
	uint64_t in;           /* frames offered to the route */
	uint64_t forwarded;    /* written to out[] */
	uint64_t filtered;     /* not passed, blocked, or FD to a classic bus */
	uint64_t rate_limited; /* dropped by rate */
	uint64_t overflow;     /* passed but out[] was full (caller bug) */
};

/* Frames not offered to any route. */
struct router_totals {
	uint64_t frames;      /* router_route() calls */
	uint64_t own_tx;      /* dir TX: sent by the gateway, never routed again */
	uint64_t err_frames;  /* error frames */
	uint64_t no_route;    /* no route touches the receiving bus */
};

/*
 * Build the router for cfg (which must outlive it and not change: the router
 * keeps pointers into it). Returns NULL with *err filled on allocation
 * failure or an inconsistent config (bus index out of range). The caller
 * frees it with router_free().
 */
struct router *router_new(const struct config *cfg, struct config_error *err);
void router_free(struct router *r);

/*
 * Route frame f received on bus from_bus at now_ns (used only by rate
 * limits). Writes up to cap outputs to out and returns how many. Passing
 * cap >= router_max_outputs() never drops a frame. Allocates nothing.
 */
size_t router_route(struct router *r, int from_bus, const struct frame *f,
		    uint64_t now_ns, struct route_out *out, size_t cap);

/* Largest number of outputs one frame can produce (routes touching a bus). */
size_t router_max_outputs(const struct router *r);

/* Counters of route i (0 <= i < cfg->n_routes), or NULL when out of range. */
const struct route_stats *router_stats(const struct router *r, int route);
const struct router_totals *router_totals(const struct router *r);

/* Zero all counters and rate-limit state (new session). */
void router_reset(struct router *r);

#endif
