/*
 * gateway.h: the core of the live daemon. It owns the config, the buses, the
 * router, the rules and the evidence session, and ties them together for
 * every received frame, in this order:
 *
 *   bus rx -> evidence_frame (always, first) -> router_route -> bus tx
 *          (+ evidence_frame of each sent frame, dir T) -> rules_frame
 *
 * A sent frame's T line carries the timestamp of the received frame it was
 * routed from (the core never reads a clock; a queued frame keeps it too).
 * Frames routed to null and replay sinks get T lines too (with the bus name
 * as interface): `cangate check` of the bundle's frames.log then gives
 * byte-identical violations, line numbers included.
 * Error frames are recorded but neither routed nor fed to the rules.
 *
 * Counting invariant, per route, at any moment:
 *   in = forwarded + filtered + rate_limited + dropped + queued
 * where forwarded counts frames the destination accepted, dropped counts
 * queue overflow, ageing and tx errors, and queued is what still waits in a
 * tx queue (0 once traffic stops).
 *
 * The per-frame path allocates nothing. Transmission goes through a seam
 * (struct gateway_sink) so unit tests can count without sockets.
 */
#ifndef CANGATE_GATEWAY_H
#define CANGATE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>

#include "daemon/bus.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"
#include "daemon/core/router.h"
#include "daemon/core/rules.h"
#include "daemon/core/translate.h"

struct gateway;
struct stream;

/* How routed frames leave. The default sends through the buses. route_tag
 * is opaque: hand it back to gateway_tx_done() for a queued frame. */
struct gateway_sink {
	enum bus_tx_result (*send)(void *ctx, int bus, const struct frame *f,
				   int route_tag);
	void *ctx;
};

struct gateway_route_status {
	const char *name;
	int from, to;
	bool bidirectional;
	uint64_t in, forwarded, filtered, rate_limited, dropped, queued;
};

/* Create an empty gateway on loop (no buses, no config yet). */
struct gateway *gateway_new(struct ev_loop *loop);
/* Ends the session (gateway_session_stop), frees buses, config, router,
 * rules. */
void gateway_free(struct gateway *gw);

/* The sink rules_compile() must get for rules fed by this gateway:
 * violations are counted, logged (rate limited) and recorded. */
const struct rules_sink *gateway_rules_sink(struct gateway *gw);

/* The sink translate_compile() must get for a translation installed with
 * gateway_set_translate(): frames go out like routed ones, counted and
 * recorded as T lines. */
const struct translate_sink *gateway_translate_sink(struct gateway *gw);
/* Install the translation of the current config (ownership passes; NULL
 * for none). Call it right after gateway_configure(): a reload drops the
 * old translation with the old config. */
void gateway_set_translate(struct gateway *gw, struct translate *t);

/*
 * Install a validated configuration with its router and rules (ownership
 * passes to the gateway). First call: opens every bus (with_buses false
 * leaves them out: unit tests). Later calls (reload): reads the sockets up to
 * now first (frames stamped before the swap meet the old rules), keeps buses
 * whose settings did not change, reopens the others, finishes the old rules
 * (their verdicts go into the "reload" event), zeroes route counters. A
 * session recording then is closed (as gateway_session_stop) and the next
 * opened under the new config with the same operator metadata, so that each
 * bundle is recorded under one config; the "reload" events of both name the
 * other bundle. -1 with errmsg when a bus cannot be created or the next
 * session cannot open (the old config and session stay).
 */
int gateway_configure(struct gateway *gw, struct config *cfg,
		      struct router *router, struct rules *rules,
		      bool with_buses, char *errmsg, size_t errlen);

/*
 * gateway_configure() for a reload whose next session was opened beside the
 * loop (evidence_open of the new config with gateway_session_meta(), on the
 * realtime clock): opening copies and hashes every DBC, too slow for the
 * loop. next passes to the gateway in any case: the session is rotated to
 * it, or it is closed empty when the reload fails or the session that
 * gateway_session_meta() saw has ended since. NULL: as gateway_configure().
 */
int gateway_reload(struct gateway *gw, struct config *cfg,
		   struct router *router, struct rules *rules, bool with_buses,
		   struct evidence *next, char *errmsg, size_t errlen);

/* A copy of the recording session's operator metadata into *copy (free
 * with gateway_meta_fini), for a next session opened beside the loop: 1;
 * 0 when no session records or the gateway runs on a replay clock (its
 * time exists only on the loop); -1 out of memory. */
int gateway_session_meta(struct gateway *gw, struct evidence_meta *copy);
void gateway_meta_fini(struct evidence_meta *m);

/* Replace the transmit path (tests). NULL restores the buses. */
void gateway_set_sink(struct gateway *gw, const struct gateway_sink *sink);

/* Start timers and replay buses. */
void gateway_start(struct gateway *gw);

/* The per-frame path: a frame received on bus (config index). */
void gateway_rx(struct gateway *gw, int bus, const struct frame *f,
		const char *ifname);
/* A frame that the sink queued (gateway_sink returned BUS_TX_QUEUED) was
 * finally sent or dropped. f is the frame as sent (dir T). */
void gateway_tx_done(struct gateway *gw, int bus, int route_tag,
		     const struct frame *f, bool sent);

/* events.jsonl entry (when a session is recording) */
void gateway_event(struct gateway *gw, uint64_t t_ns, const char *type,
		   const char *fields_json);

/* Sessions. meta fields may be NULL (the config's values are used).
 * -1 with errmsg when one is already open / none is open / open failed. */
int gateway_session_start(struct gateway *gw, const struct evidence_meta *meta,
			  long uid, char *errmsg, size_t errlen);
/* The stop returns at once: the close (report, hashes, signature) runs in
 * a worker; status json lists it under recording.closing until it is done,
 * and a failure is logged. */
int gateway_session_stop(struct gateway *gw, long uid, char *errmsg,
			 size_t errlen);
/* How many rules of the last stopped session ended with each verdict
 * (indexed by enum rules_verdict). */
void gateway_last_verdicts(const struct gateway *gw,
			   uint64_t counts[VERDICT_INCONCLUSIVE + 1]);
/* Waits until every stopped session is closed. */
void gateway_session_wait(struct gateway *gw);
/* A marker in events.jsonl, at *t_ns (may be NULL). -1 when no session is
 * recording. */
int gateway_mark(struct gateway *gw, const char *text, long uid,
		 uint64_t *t_ns, char *errmsg, size_t errlen);
/* The recording session's status; -1 when none is recording. */
int gateway_evidence_status(const struct gateway *gw,
			    struct evidence_status *st);

/* Drain tx queues for up to timeout_ms (at exit). */
void gateway_flush(struct gateway *gw, unsigned timeout_ms);

/* The time base of frames: realtime ns, or the replay log clock when every
 * receiving bus is a replay bus. */
uint64_t gateway_now(const struct gateway *gw);

/* Status as one JSON object (no newline) or a readable table. */
void gateway_status_json(struct gateway *gw, FILE *out);
void gateway_status_text(struct gateway *gw, FILE *out);
/* One line for sd_notify STATUS=. */
void gateway_status_line(struct gateway *gw, char *buf, size_t size);

/* Route counters, as status shows them. -1 when out of range. */
int gateway_route_status(const struct gateway *gw, int route,
			 struct gateway_route_status *st);
/* Frames received on bus that no route forwarded. */
uint64_t gateway_bus_filtered(const struct gateway *gw, int bus);
/* Requests the control socket rejected (counted here for status). */
void gateway_count_bad_request(struct gateway *gw);

/* Set when every replay bus has ended and exit_on_replay_end is on: the
 * gateway has already called ev_break(). */
bool gateway_replay_done(const struct gateway *gw);

const struct config *gateway_config(const struct gateway *gw);
/* Changes whenever gateway_configure() installs a config. */
uint32_t gateway_config_gen(const struct gateway *gw);
const struct rules *gateway_rules(const struct gateway *gw);
size_t gateway_bus_count(const struct gateway *gw);
const struct bus *gateway_bus(const struct gateway *gw, size_t i);
/* Live views (control_stream.h) fed per frame, violation and marker; NULL
 * for none. */
void gateway_set_stream(struct gateway *gw, struct stream *s);

#endif
