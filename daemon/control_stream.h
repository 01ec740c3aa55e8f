/*
 * control_stream.h: streaming subscriptions on the control socket, for
 * `cangate monitor` and `cangate watch`.
 *
 *   subscribe [filter=TEXT] [watch=NAME,NAME...] [rows=N] [hz=N]
 *
 * turns the connection into a stream: the daemon writes one JSON snapshot
 * line right away and then hz (1..STREAM_HZ, default STREAM_HZ) times a
 * second, on a 1/STREAM_HZ s tick shared by all subscribers so that those at
 * one rate are served from one snapshot, spread over STREAM_SPREAD_S so
 * that their clients do not all wake at once (snapshots are sent in time
 * the gateway has nothing else to do: under a load that leaves none, they
 * are skipped, never the frames):
 *
 *   {"t":..,"gateway":..,"recording":bool,"bundle":..,
 *    "buses":[{"name","state","rx","tx","rx_fps","tx_fps","load_pct",
 *              "drops"}],
 *    "rules":[{"rule","kind","state","verdict","violations","worst",
 *              "margin"}],
 *    "events":[{"t","type":"violation"|"mark","text"}],   (the last ones)
 *    "signals":[{"name","bus","value","label","unit","t"}],
 *    "signals_matched":N}
 *
 * Signals: every alias ([signal NAME]) and every Message.Signal of the
 * buses' DBCs. filter keeps those whose name (or an alias's source) holds
 * every space-separated word of TEXT, case insensitive, of the messages
 * received so far, at most rows (default STREAM_ROWS) of them. watch names
 * signals exactly (comma-separated aliases or Message.Signal); an unknown
 * name is an error with a "did you mean" hint; a watched signal not
 * received yet has "value":null. Values are the last received frame's,
 * sampled at each snapshot. rule "state" is rules_live_name().
 *
 * The client may send another subscribe line on the same connection to
 * change its selection or rate; a snapshot of the new one follows at once. Each stream has a bounded output buffer
 * (STREAM_BUF_MAX): a client that does not read fast enough is dropped
 * (counted), so a slow client never holds up the gateway.
 */
#ifndef CANGATE_CONTROL_STREAM_H
#define CANGATE_CONTROL_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>

#include "daemon/core/control_proto.h"

#define STREAM_HZ CONTROL_HZ_MAX
#define STREAM_MAX_SUBS 128
#define STREAM_BUF_MAX (256u << 10)
#define STREAM_ROWS 50
#define STREAM_EVENTS 8 /* recent violations and markers kept */
#define STREAM_PER_IDLE 1 /* subscribers served per idle call */
#define STREAM_SPREAD_S 0.05   /* a round's subscribers are served over this, */
#define STREAM_SPREAD_STEPS 5  /* in as many steps */

struct gateway;
struct frame;
struct json;
struct rules;
struct stream;

struct stream *stream_new(struct ev_loop *loop, struct gateway *gw);
/* Closes every subscriber. */
void stream_free(struct stream *s);

/* Take over connection fd whose request was cmd (CONTROL_SUBSCRIBE).
 * -1 with errmsg when the selection is bad or there are too many
 * subscribers: the fd then stays the caller's. */
int stream_add(struct stream *s, int fd, const struct control_cmd *cmd,
	       char *errmsg, size_t errlen);

/* The per-frame hook (a received frame on bus): keeps its payload for the
 * signal pane. Does nothing while nobody subscribes; never allocates. */
void stream_frame(struct stream *s, int bus, const struct frame *f);
/* A violation started or a marker was set: for the "events" list. */
void stream_note(struct stream *s, uint64_t t_ns, const char *type,
		 const char *text);

/* A violation started: json is the rules_sink line (its t_start and msg
 * are shown). */
void stream_violation(struct stream *s, const char *rule, const char *json);

size_t stream_subscribers(const struct stream *s);
/* Subscribers dropped because they did not keep up. */
uint64_t stream_dropped(const struct stream *s);

/* Per-rule live state and verdict so far: a JSON array (status --json) and
 * a text table (status). */
void stream_rules_json(const struct rules *r, struct json *j);
void stream_rules_text(const struct rules *r, FILE *out);

#endif
