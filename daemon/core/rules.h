/*
 * rules.h: the rules engine. Pure: time comes only from frame timestamps and
 * the `now` passed to rules_tick()/rules_finish(); no clock reads, no I/O.
 * The live daemon and `cangate check` drive it the same way, so the same
 * frames give byte-identical violations.
 */
#ifndef CANGATE_RULES_H
#define CANGATE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;
struct frame;

enum rules_verdict {
	VERDICT_PASS,
	VERDICT_FAIL,
	VERDICT_NOT_EXERCISED,
	VERDICT_INCONCLUSIVE,
};

/* Receives violations as they start (t_end unknown) and as they end. The
 * json argument is the complete violations.jsonl line for the event, without
 * newline; only the "end" call's line goes to violations.jsonl.
 * event (optional) receives engine events for events.jsonl, in the form
 * evidence_event() takes (fields_json: members without braces):
 *   bus_silent   "bus":NAME,"t_last":T   no frame for the bus's silent_ms
 *                                        since its last one at T
 *   bus_resumed  "bus":NAME,"gap_ms":MS  a frame again after MS
 * t_ns is the event's time on the rules' clock (frame times and the now
 * passed in), so live and offline runs record the same events. */
struct rules_sink {
	void (*violation_start)(void *ctx, const char *rule, const char *json);
	void (*violation_end)(void *ctx, const char *rule, const char *json);
	void *ctx;
	void (*event)(void *ctx, uint64_t t_ns, const char *type,
		      const char *fields_json);
};

/* Compile [signal] and [rule] sections against the buses' loaded DBCs.
 * NULL with *err (file:line:col) on any problem. */
struct rules *rules_compile(const struct config *cfg,
			    const struct rules_sink *sink,
			    struct config_error *err);
void rules_free(struct rules *r);

/* A frame received on bus (config index); line is its line number in
 * frames.log (or in the log being checked), used for violation line ranges.
 * Only received frames are fed (not the gateway's own transmissions). */
void rules_frame(struct rules *r, int bus, const struct frame *f,
		 uint64_t line);

/* Evaluate deadlines (stale signals, cycle timeouts, response windows, a
 * bus turning silent after its silent_ms) up to now_ns. The daemon calls it
 * from a timer at rules_next_deadline(). */
void rules_tick(struct rules *r, uint64_t now_ns);
/* Earliest time a deadline can expire, or UINT64_MAX when none. */
uint64_t rules_next_deadline(const struct rules *r);

/* End of session/input at end_ns: closes open violations, fixes verdicts. */
void rules_finish(struct rules *r, uint64_t end_ns);

size_t rules_count(const struct rules *r);
/* Verdicts so far (final after rules_finish). */
enum rules_verdict rules_verdict(const struct rules *r, size_t i);
const char *rules_name(const struct rules *r, size_t i);
const char *rules_verdict_name(enum rules_verdict v);
/* violations so far for rule i */
uint64_t rules_violations(const struct rules *r, size_t i);

/* What a rule is, as its section wrote it (for the report). Pointers stay
 * valid until rules_free(). */
#define RULES_MAX_LIMITS 4
#define RULES_MAX_EXPRS 5
struct rules_limit {
	const char *name;   /* min, max, set, clear: bounds of the rule's
			       signal; a cycle rule's min and max bound the
			       interval between arrivals, in ms */
	double value;
};
struct rules_info {
	const char *name, *ref, *kind;
	const char *description, *severity;     /* NULL when absent */
	const char *message;  /* the message a cycle or stale rule watches,
				 or NULL */
	struct {
		const char *key;                /* signal, when, expect, ... */
		const char *text;               /* the value as written */
	} exprs[RULES_MAX_EXPRS];
	size_t n_exprs;
	struct rules_limit limits[RULES_MAX_LIMITS];
	size_t n_limits;
};
void rules_info(const struct rules *r, size_t i, struct rules_info *info);

/* What rule i is doing now, for live views (status, monitor). */
enum rules_live {
	RULES_LIVE_WAITING,   /* no decision yet: inputs not received */
	RULES_LIVE_IDLE,      /* its condition has not held yet */
	RULES_LIVE_OK,        /* exercised, not violated now */
	RULES_LIVE_VIOLATED,  /* a violation is open now */
};
struct rules_live_state {
	enum rules_live live;
	enum rules_verdict verdict; /* so far */
	const char *kind;
	uint64_t violations;
	double worst, margin;       /* of the open (else last) violation;
				       NAN before the first */
	uint64_t t_start;           /* ns: when that violation started */
};
/* -1 when i is out of range. */
int rules_live_state(const struct rules *r, size_t i,
		     struct rules_live_state *st);
const char *rules_live_name(enum rules_live l);

/* verdicts.json content: {"rules":[{"rule":..,"ref":..,"verdict":..,...}]}
 * into a malloc'd string the caller frees. */
char *rules_verdicts_json(const struct rules *r);
/* The verdict table as text, for stderr and the demo. */
void rules_print_table(const struct rules *r, void *file /* FILE * */);

#endif
