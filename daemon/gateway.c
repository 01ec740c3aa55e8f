/*
 * gateway.c: buses + router + rules + evidence, per frame. See gateway.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/gateway.h"
#include "daemon/control_stream.h"
#include "daemon/core/json.h"
#include "daemon/log.h"

#define GW_HOUSEKEEP_S 0.1     /* tx queue ageing, load, controller state */
#define GW_RULES_MAX_S 0.02    /* rules deadline timer: longest sleep */
#define GW_LOAD_SLOTS 11       /* one-second rx snapshots: 10 s of load */
#define GW_MAX_CLOSING 4       /* sessions closing at once; more waits */
#define NS_PER_S UINT64_C(1000000000)
#define GW_MARK_QUOTED_MAX 1100 /* bytes of a marker's text as JSON */

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct gw_route {
	uint64_t sent;    /* the destination accepted it */
	uint64_t dropped; /* queue full, aged, tx error, bus down */
};

struct gateway {
	struct ev_loop *loop;
	struct config *cfg;
	struct router *router;
	struct rules *rules;
	bool rules_fed; /* have seen a frame, a tick or their end */
	struct translate *translate;
	struct evidence *session; /* recording, or NULL */
	/* what the operator gave at session start (owned copies, NULL for the
	 * config's): a reload's next session carries them on */
	struct evidence_meta meta;
	struct stream *stream;    /* live views, or NULL */

	struct bus **buses;      /* cfg->n_buses, or NULL without buses */
	size_t n_buses;
	struct bus_batch batch;  /* shared by the buses: sends per rx batch */
	uint64_t *bus_filtered;  /* per bus: received, forwarded nowhere */
	struct gw_route *routes; /* cfg->n_routes */
	size_t n_routes;
	struct route_out *outs;  /* router output scratch, router_max_outputs */
	size_t cap_outs;
	uint32_t gen;            /* config generation, tags queued frames */

	struct gateway_sink sink;
	bool custom_sink;
	struct rules_sink rsink;
	struct translate_sink tsink;
	uint64_t rules_deadline;
	uint64_t rules_due_mono; /* when rules_w should fire: stall measure */
	uint64_t stalls, stall_max_ns;
	uint64_t last_verdicts[VERDICT_INCONCLUSIVE + 1];

	ev_timer house_w;
	ev_timer rules_w;
	ev_timer evidence_tick_w;
	ev_timer translate_w;
	uint64_t translate_deadline;
	bool started;

	uint64_t start_real_ns, start_mono_ns;
	uint64_t rx_total;
	uint64_t load_hist[GW_LOAD_SLOTS];
	unsigned load_pos, load_filled;
	uint64_t load_last_mono;

	uint64_t viol_active, viol_total;
	struct log_ratelimit viol_rl;
	/* frames sessions did not record, of those closed and reaped (the
	 * open one and those closing count in the status) */
	uint64_t not_recorded_closed;
	uint64_t bad_requests;
	uint64_t reloads;
	uint64_t sessions;
	uint64_t next_for; /* sessions when gateway_session_meta() ran */
	/* sessions whose close runs in a worker (evidence_close_begin) */
	struct evidence_closing *closing[GW_MAX_CLOSING];
	size_t n_closing;
	bool replay_only;        /* every receiving bus replays a log */
	bool replay_done;
	uint64_t last_frame_t;
};

/* The route tag given to the sink: low 16 bits the route's index, high bits
 * the config generation, so a frame queued before a reload is not counted
 * against a route of the new config. */
#define GW_ROUTE_TAG(gw, r)                                                    \
	((int)((((gw)->gen & 0x7fff) << 16) | (uint32_t)(r)))
#define GW_ROUTE_TAG_GEN(t) (((uint32_t)(t) >> 16) & 0x7fff)
#define GW_ROUTE_TAG_ROUTE(t) ((int)((uint32_t)(t)&0xffff))

/* ------------------------------------------------------------------ */
/* per frame */

static enum bus_tx_result gw_bus_send(void *ctx, int bus, const struct frame *f,
				      int route_tag)
{
	struct gateway *gw = ctx;

	if (bus < 0 || (size_t)bus >= gw->n_buses || !gw->buses)
		return BUS_TX_DROPPED;
	return bus_send(gw->buses[bus], f, route_tag);
}

static const char *gw_bus_ifname(const struct gateway *gw, int bus)
{
	if (gw->buses && bus >= 0 && (size_t)bus < gw->n_buses)
		return bus_ifname(gw->buses[bus]);
	if (gw->cfg && bus >= 0 && (size_t)bus < gw->cfg->n_buses)
		return gw->cfg->buses[bus].interface;
	return "?";
}

/* Frames offered to sessions since the start and not in their frames.log,
 * as exact as each session's own count (a write error found late counts
 * every line numbered after it). */
static uint64_t gw_not_recorded(const struct gateway *gw)
{
	uint64_t n = gw->not_recorded_closed;
	struct evidence_status st;

	for (size_t i = 0; i < gw->n_closing; i++)
		n += evidence_close_not_recorded(gw->closing[i]);
	if (gw->session) {
		evidence_get_status(gw->session, &st);
		n += st.not_recorded;
	}
	return n;
}

static void gw_record(struct gateway *gw, const struct frame *f,
		      const char *ifname, uint64_t *line)
{
	uint64_t l = 0;

	if (gw->session) {
		l = evidence_frame(gw->session, f, ifname);
	}
	if (line)
		*line = l;
}

static void gw_translate_rx(struct gateway *gw, int bus,
			    const struct frame *f);

void gateway_rx(struct gateway *gw, int bus, const struct frame *f,
		const char *ifname)
{
	uint64_t line;
	size_t n;

	gw->rx_total++;
	if (f->t_ns > gw->last_frame_t)
		gw->last_frame_t = f->t_ns;
	gw_record(gw, f, ifname, &line);
	if (!gw->router)
		return;
	n = router_route(gw->router, bus, f, f->t_ns, gw->outs, gw->cap_outs);
	for (size_t i = 0; i < n; i++) {
		struct route_out *o = &gw->outs[i];
		struct gw_route *r = &gw->routes[o->route];

		switch (gw->sink.send(gw->sink.ctx, o->bus, &o->f,
				      GW_ROUTE_TAG(gw, o->route))) {
		case BUS_TX_SENT:
			r->sent++;
			gw_record(gw, &o->f, gw_bus_ifname(gw, o->bus), NULL);
			break;
		case BUS_TX_QUEUED:
			break;
		case BUS_TX_DROPPED:
			r->dropped++;
			break;
		}
	}
	stream_frame(gw->stream, bus, f);
	if (f->err)
		return;
	if (gw->translate)
		gw_translate_rx(gw, bus, f);
	if (n == 0 && bus >= 0 && (size_t)bus < gw->cfg->n_buses)
		gw->bus_filtered[bus]++;
	if (!gw->rules)
		return;
	/* Deadlines that expired before this frame fire first, as in an
	 * offline check of the same log. */
	if (f->t_ns >= gw->rules_deadline) {
		rules_tick(gw->rules, f->t_ns);
		gw->rules_deadline = rules_next_deadline(gw->rules);
	}
	rules_frame(gw->rules, bus, f, line);
	gw->rules_fed = true;
	gw->rules_deadline = rules_next_deadline(gw->rules);
}

void gateway_tx_done(struct gateway *gw, int bus, int route_tag,
		     const struct frame *f, bool sent)
{
	int r = GW_ROUTE_TAG_ROUTE(route_tag);

	/* A frame that went out is recorded whichever config queued it:
	 * frames.log holds every frame sent. (bus is its bus's index now.) */
	if (sent)
		gw_record(gw, f, gw_bus_ifname(gw, bus), NULL);
	if (GW_ROUTE_TAG_GEN(route_tag) != (gw->gen & 0x7fff) || r < 0)
		return; /* queued under the previous config: no route of ours */
	if ((size_t)r >= gw->n_routes) {
		translate_tx_result(gw->translate, (size_t)r - gw->n_routes,
				    sent);
		return;
	}
	if (sent)
		gw->routes[r].sent++;
	else
		gw->routes[r].dropped++;
}

/* ------------------------------------------------------------------ */
/* bus callbacks */

static void gw_bus_frame(void *ctx, struct bus *b, struct frame *f,
			 const char *ifname)
{
	gateway_rx(ctx, bus_index(b), f, ifname);
}

static void gw_check_replay_end(struct gateway *gw)
{
	bool any = false;

	if (!gw->cfg || !gw->cfg->exit_on_replay_end || gw->replay_done)
		return;
	for (size_t i = 0; i < gw->n_buses; i++) {
		if (!bus_replays(gw->buses[i]))
			continue;
		any = true;
		if (bus_state(gw->buses[i]) != BUS_STATE_ENDED)
			return;
	}
	if (!any)
		return;
	gw->replay_done = true;
	log_info("every replay bus has ended: exiting (exit_on_replay_end)");
	ev_break(gw->loop, EVBREAK_ALL);
}

static void gw_bus_event(void *ctx, struct bus *b, uint64_t t_ns,
			 const char *type, const char *fields)
{
	struct gateway *gw = ctx;

	(void)b;
	gateway_event(gw, t_ns, type, fields);
	if (!strcmp(type, "replay_end"))
		gw_check_replay_end(gw);
}

static void gw_bus_tx_done(void *ctx, struct bus *b, const struct txq_entry *e,
			   bool sent)
{
	struct frame f;

	frame_from_can(&f, &e->cf, e->fd, e->t_ns);
	f.dir = FRAME_DIR_TX;
	gateway_tx_done(ctx, bus_index(b), e->route, &f, sent);
}

static struct bus_handler gw_bus_handler(struct gateway *gw)
{
	struct bus_handler h = {
		.frame = gw_bus_frame,
		.event = gw_bus_event,
		.tx_done = gw_bus_tx_done,
		.ctx = gw,
	};
	return h;
}

/* ------------------------------------------------------------------ */
/* rules sink */

static uint64_t gw_mono(void)
{
	return bus_mono_ns();
}

static void gw_violation_start(void *ctx, const char *rule, const char *json)
{
	struct gateway *gw = ctx;

	stream_violation(gw->stream, rule, json);
	gw->viol_active++;
	gw->viol_total++;
	if (log_ratelimit(&gw->viol_rl, gw_mono()))
		log_warnx("rule %s: violation started", rule);
}

static void gw_violation_end(void *ctx, const char *rule, const char *json)
{
	struct gateway *gw = ctx;

	if (gw->viol_active)
		gw->viol_active--;
	if (log_ratelimit(&gw->viol_rl, gw_mono()))
		log_warnx("rule %s: violation ended", rule);
	if (gw->session)
		evidence_violation(gw->session, json);
}

static void gw_rules_event(void *ctx, uint64_t t_ns, const char *type,
			   const char *fields_json)
{
	gateway_event(ctx, t_ns, type, fields_json);
}

const struct rules_sink *gateway_rules_sink(struct gateway *gw)
{
	return &gw->rsink;
}

/* ------------------------------------------------------------------ */
/* timers */

uint64_t gateway_now(const struct gateway *gw)
{
	uint64_t t = 0, mono;

	if (!gw->replay_only)
		return bus_real_ns();
	mono = bus_mono_ns();
	for (size_t i = 0; i < gw->n_buses; i++) {
		uint64_t lt = bus_replay_log_time(gw->buses[i], mono);

		if (lt > t)
			t = lt;
	}
	return t ? t : gw->last_frame_t;
}

/*
 * Deadlines are run this far behind the clock: a frame stamped by the kernel
 * before a deadline may still sit unread in its socket when the timer fires,
 * and running the deadline first would report a violation that `cangate
 * check` of the same frames.log does not. 20 ms is far longer than a frame
 * waits in a socket of a loop that keeps up, and far shorter than any
 * deadline a rule cares about.
 */
#define GW_RULES_GRACE_NS (20 * 1000000ULL)

/* The time up to which deadlines may run: live, the clock less the grace;
 * replayed, the replay's own log time (no sockets to wait for). */
static uint64_t gw_rules_horizon(const struct gateway *gw)
{
	uint64_t now = gateway_now(gw);

	if (gw->replay_only)
		return now;
	return now > GW_RULES_GRACE_NS ? now - GW_RULES_GRACE_NS : 0;
}

static void gw_rules_arm(struct gateway *gw)
{
	double delay = GW_RULES_MAX_S;
	uint64_t now;

	ev_timer_stop(gw->loop, &gw->rules_w);
	if (!gw->rules)
		return;
	now = gw_rules_horizon(gw);
	if (gw->rules_deadline != UINT64_MAX && gw->rules_deadline > now &&
	    !gw->replay_only) {
		double d = (double)(gw->rules_deadline - now) / 1e9;

		if (d < delay)
			delay = d;
	} else if (gw->rules_deadline <= now) {
		delay = 0.001; /* due now; never 0: a deadline that does not
				  move would spin the loop */
	}
	ev_timer_set(&gw->rules_w, delay, 0.);
	ev_timer_start(gw->loop, &gw->rules_w);
	gw->rules_due_mono = bus_mono_ns() + (uint64_t)(delay * 1e9);
}

/* The loop ran the rules timer later than the grace: a reload, a slow disk
 * or a starved CPU held it up. Say so in the evidence, since everything
 * received meanwhile waited in the kernel. */
static void gw_note_stall(struct gateway *gw, uint64_t late_ns)
{
	char fields[64];
	struct json j;

	gw->stalls++;
	if (late_ns > gw->stall_max_ns)
		gw->stall_max_ns = late_ns;
	json_init_buf(&j, fields, sizeof(fields));
	json_members_begin(&j);
	json_key(&j, "ms");
	json_uint(&j, late_ns / 1000000);
	json_members_end(&j);
	if (json_finish(&j) == 0)
		gateway_event(gw, gateway_now(gw), "stall", fields);
}

/*
 * Every frame stamped up to the horizon must reach the rules before a
 * deadline up to it runs, or live would report a timeout that `cangate
 * check` of frames.log does not. After a stall many such frames still wait
 * in the sockets: read them first.
 */
static bool gw_catch_up(struct gateway *gw, uint64_t horizon)
{
	bool done = true;

	if (gw->replay_only)
		return true;
	for (size_t i = 0; i < gw->n_buses; i++)
		if (!bus_catch_up(gw->buses[i], horizon))
			done = false;
	return done;
}

static void gw_rules_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gateway *gw = container_of(w, struct gateway, rules_w);
	uint64_t now = gw_rules_horizon(gw);
	uint64_t mono = bus_mono_ns();

	(void)loop;
	(void)revents;
	if (!gw->replay_only && mono > gw->rules_due_mono + GW_RULES_GRACE_NS)
		gw_note_stall(gw, mono - gw->rules_due_mono);
	if (gw->rules && gw->rules_deadline <= now) {
		if (!gw_catch_up(gw, now)) {
			/* a flood: let the bus watchers have the loop */
			gw->rules_deadline = now;
			gw_rules_arm(gw);
			return;
		}
		rules_tick(gw->rules, now);
		gw->rules_fed = true;
		gw->rules_deadline = rules_next_deadline(gw->rules);
	}
	gw_rules_arm(gw);
}

/* Ends the closes that have finished (all of them when wait) and logs
 * their failures. */
static void gw_reap_closing(struct gateway *gw, bool wait)
{
	char err[512];

	for (size_t i = 0; i < gw->n_closing;) {
		struct evidence_closing *c = gw->closing[i];

		if (!wait && !evidence_close_done(c)) {
			i++;
			continue;
		}
		gw->not_recorded_closed += evidence_close_not_recorded(c);
		if (evidence_close_end(c, err, sizeof(err)) < 0)
			log_warnx("closing the evidence session: %s", err);
		gw->closing[i] = gw->closing[--gw->n_closing];
	}
}

void gateway_session_wait(struct gateway *gw)
{
	gw_reap_closing(gw, true);
}

static void gw_evidence_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gateway *gw = container_of(w, struct gateway, evidence_tick_w);

	(void)loop;
	(void)revents;
	gw_reap_closing(gw, false);
	if (gw->session)
		evidence_tick(gw->session, gateway_now(gw));
}

static void gw_house_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gateway *gw = container_of(w, struct gateway, house_w);
	uint64_t mono = bus_mono_ns();

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < gw->n_buses; i++)
		bus_housekeep(gw->buses[i], mono);
	if (mono - gw->load_last_mono >= NS_PER_S) {
		gw->load_last_mono = mono;
		gw->load_pos = (gw->load_pos + 1) % GW_LOAD_SLOTS;
		gw->load_hist[gw->load_pos] = gw->rx_total;
		if (gw->load_filled < GW_LOAD_SLOTS)
			gw->load_filled++;
	}
}

static double gw_load(const struct gateway *gw, unsigned seconds)
{
	unsigned back;
	uint64_t then;

	if (gw->load_filled < 2)
		return 0;
	back = seconds < gw->load_filled - 1 ? seconds : gw->load_filled - 1;
	then = gw->load_hist[(gw->load_pos + GW_LOAD_SLOTS - back) %
			     GW_LOAD_SLOTS];
	return (double)(gw->load_hist[gw->load_pos] - then) / back;
}

/* ------------------------------------------------------------------ */
/* life cycle */

void gateway_meta_fini(struct evidence_meta *m)
{
	free((char *)m->vin);
	free((char *)m->procedure);
	free((char *)m->operator_name);
	memset(m, 0, sizeof(*m));
}

/* *m becomes a copy of from. */
static int gw_meta_set(struct evidence_meta *m, const struct evidence_meta *from)
{
	struct evidence_meta c = {
		.vin = from->vin ? strdup(from->vin) : NULL,
		.procedure = from->procedure ? strdup(from->procedure) : NULL,
		.operator_name = from->operator_name ?
					 strdup(from->operator_name) :
					 NULL,
	};

	if ((from->vin && !c.vin) || (from->procedure && !c.procedure) ||
	    (from->operator_name && !c.operator_name)) {
		gateway_meta_fini(&c);
		return -1;
	}
	gateway_meta_fini(m);
	*m = c;
	return 0;
}

static void gw_translate_init(struct gateway *gw);

struct gateway *gateway_new(struct ev_loop *loop)
{
	struct gateway *gw = calloc(1, sizeof(*gw));

	if (!gw)
		return NULL;
	gw->loop = loop;
	gw->sink.send = gw_bus_send;
	gw->sink.ctx = gw;
	gw->rsink.violation_start = gw_violation_start;
	gw->rsink.violation_end = gw_violation_end;
	gw->rsink.event = gw_rules_event;
	gw->rsink.ctx = gw;
	gw->rules_deadline = UINT64_MAX;
	gw->viol_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(NS_PER_S, 10);
	gw->start_real_ns = bus_real_ns();
	gw->start_mono_ns = bus_mono_ns();
	gw->load_last_mono = gw->start_mono_ns;
	ev_timer_init(&gw->house_w, gw_house_cb, GW_HOUSEKEEP_S,
		      GW_HOUSEKEEP_S);
	ev_timer_init(&gw->rules_w, gw_rules_cb, 0., 0.);
	/* below the bus watchers: frames already readable run first */
	ev_set_priority(&gw->rules_w, EV_MINPRI);
	ev_timer_init(&gw->evidence_tick_w, gw_evidence_tick_cb, 1., 1.);
	gw_translate_init(gw);
	return gw;
}

void gateway_set_sink(struct gateway *gw, const struct gateway_sink *sink)
{
	if (sink) {
		gw->sink = *sink;
		gw->custom_sink = true;
	} else {
		gw->sink.send = gw_bus_send;
		gw->sink.ctx = gw;
		gw->custom_sink = false;
	}
}

static void gw_free_buses(struct bus **buses, size_t n)
{
	if (!buses)
		return;
	for (size_t i = 0; i < n; i++)
		bus_free(buses[i]);
	free(buses);
}

/* No bus runs on the wall clock and some replay a log: the gateway's time
 * is the logs' time. */
static bool gw_on_log_clock(struct bus **buses, size_t n)
{
	bool replay = false;

	for (size_t i = 0; buses && i < n; i++) {
		if (bus_live(buses[i]))
			return false;
		if (bus_replays(buses[i]))
			replay = true;
	}
	return replay;
}

/* Finishes the rules at now (a session stop or a reload): their verdicts
 * as JSON, or NULL. */
static char *gw_rules_finish(struct gateway *gw, uint64_t now)
{
	if (!gw->rules)
		return NULL;
	rules_finish(gw->rules, now);
	gw->rules_fed = true;
	return rules_verdicts_json(gw->rules);
}

/* Hands ev to a close worker. */
static int gw_close_begin(struct gateway *gw, struct evidence *ev,
			  uint64_t now, const char *verdicts, char *errmsg,
			  size_t errlen)
{
	struct evidence_closing *c;
	struct evidence_status st;
	int rc;

	gw_reap_closing(gw, gw->n_closing == GW_MAX_CLOSING);
	evidence_get_status(ev, &st);
	rc = evidence_close_begin(ev, now,
				  verdicts ? verdicts : "{\"rules\":[]}", &c,
				  errmsg, errlen);
	if (c)
		gw->closing[gw->n_closing++] = c;
	else /* closed here: what the status said is all we learn */
		gw->not_recorded_closed += st.not_recorded;
	return rc;
}

/* A session opened for a reload that did not use it: nothing recorded. */
static void gw_close_unused(struct gateway *gw, struct evidence *ev,
			    uint64_t now)
{
	char err[512];

	if (gw_close_begin(gw, ev, now, NULL, err, sizeof(err)) < 0)
		log_warnx("closing the evidence session: %s", err);
}

/* Closes the recording session, with verdicts of the rules
 * gw_rules_finish() has just finished. */
static int gw_session_close(struct gateway *gw, uint64_t now,
			    const char *verdicts, char *errmsg, size_t errlen)
{
	int rc;

	memset(gw->last_verdicts, 0, sizeof(gw->last_verdicts));
	for (size_t i = 0; gw->rules && i < rules_count(gw->rules); i++)
		gw->last_verdicts[rules_verdict(gw->rules, i)]++;
	rc = gw_close_begin(gw, gw->session, now, verdicts, errmsg, errlen);
	gw->session = NULL;
	return rc;
}

/* The bundle directory's own name ("" for none): what links the bundles
 * of a reload. */
static void gw_session_name(const struct evidence *ev, char *buf, size_t size)
{
	struct evidence_status st;
	const char *slash;

	buf[0] = '\0';
	if (!ev)
		return;
	evidence_get_status(ev, &st);
	slash = strrchr(st.dir, '/');
	snprintf(buf, size, "%s", slash ? slash + 1 : st.dir);
}

/* A successful reload in ev's events.jsonl (nothing when ev is NULL): the
 * verdicts of the rules it ended, and the bundle recorded before or after
 * it under key (none when name is ""). */
static void gw_reload_event(struct evidence *ev, uint64_t now,
			    const char *verdicts, const char *key,
			    const char *name)
{
	size_t flen = 128 + 6 * strlen(name) +
		      (verdicts ? strlen(verdicts) : 0);
	char *fields = ev ? malloc(flen) : NULL;
	struct json j;

	if (!fields)
		return;
	json_init_buf(&j, fields, flen);
	json_members_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, true);
	if (verdicts) {
		json_key(&j, "previous_verdicts");
		json_raw(&j, verdicts, strlen(verdicts));
	}
	if (*name) {
		json_key(&j, key);
		json_string(&j, name);
	}
	json_members_end(&j);
	if (json_finish(&j) == 0)
		evidence_event(ev, now, "reload", fields);
	free(fields);
}

int gateway_configure(struct gateway *gw, struct config *cfg,
		      struct router *router, struct rules *rules,
		      bool with_buses, char *errmsg, size_t errlen)
{
	return gateway_reload(gw, cfg, router, rules, with_buses, NULL, errmsg,
			      errlen);
}

int gateway_reload(struct gateway *gw, struct config *cfg,
		   struct router *router, struct rules *rules, bool with_buses,
		   struct evidence *next, char *errmsg, size_t errlen)
{
	struct bus_handler h = gw_bus_handler(gw);
	struct bus **buses = NULL, **old = gw->buses;
	int *from_old = NULL; /* buses[i] was old[from_old[i]], or -1 */
	size_t cap = router_max_outputs(router) + 1;
	struct route_out *outs = calloc(cap, sizeof(*outs));
	struct gw_route *routes = calloc(cfg->n_routes + 1, sizeof(*routes));
	uint64_t *filtered = calloc(cfg->n_buses + 1, sizeof(*filtered));
	bool reload = gw->cfg != NULL;
	/* before buses move over from the old config (their slots go NULL) */
	uint64_t now = reload ? gateway_now(gw) : 0;

	/* Frames stamped before the swap are judged by the old rules and
	 * recorded in the old session, as `cangate check` of it does. */
	if (reload)
		gw_catch_up(gw, now);
	if (!outs || !routes || !filtered) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	if (with_buses) {
		buses = calloc(cfg->n_buses + 1, sizeof(*buses));
		from_old = calloc(cfg->n_buses + 1, sizeof(*from_old));
		if (!buses || !from_old) {
			snprintf(errmsg, errlen, "out of memory");
			goto err;
		}
		for (size_t i = 0; i < cfg->n_buses; i++) {
			const struct config_bus *cb = &cfg->buses[i];

			from_old[i] = -1;
			/* Keep a bus whose socket settings did not change:
			 * its socket, queue and counters carry on. */
			for (size_t j = 0; old && j < gw->n_buses; j++) {
				if (old[j] && bus_config_same(old[j], cb)) {
					buses[i] = old[j];
					old[j] = NULL;
					from_old[i] = (int)j;
					break;
				}
			}
			if (buses[i])
				continue;
			buses[i] = bus_new(gw->loop, (int)i, cb, &h, &gw->batch,
					   errmsg, errlen);
			if (!buses[i])
				goto err_buses;
		}
	}
	/* Opened beside the loop for a session that has ended since (stopped,
	 * or restarted with other metadata): of no use. */
	if (next && (!gw->session || gw->sessions != gw->next_for)) {
		log_info("reload: the session changed during the parse; the "
			 "bundle opened for the next one is closed empty");
		gw_close_unused(gw, next, now);
		next = NULL;
	}
	/* A bundle is recorded under one config, or its re-check could not
	 * reproduce it: the session recording now ends here and the next one
	 * runs under the new config. It opens first, so that a reload that
	 * cannot record changes nothing. */
	if (reload && gw->session && cfg->evidence.enabled && !next) {
		char err[400];

		next = evidence_open(cfg, &gw->meta, now, err, sizeof(err));
		if (!next) {
			snprintf(errmsg, errlen, "evidence: %s", err);
			if (with_buses)
				goto err_buses;
			goto err;
		}
	}

	if (reload) {
		char *verdicts = gw_rules_finish(gw, now);
		char err[512], prev_name[512], next_name[512];

		gw_session_name(gw->session, prev_name, sizeof(prev_name));
		gw_session_name(next, next_name, sizeof(next_name));
		gw_reload_event(gw->session, now, verdicts, "next_session",
				next_name);
		if (gw->session) {
			if (gw_session_close(gw, now, verdicts, err,
					     sizeof(err)) < 0)
				log_warnx("closing the evidence session: %s",
					  err);
			if (next) {
				gw->session = next;
				gw->sessions++;
				gw_reload_event(next, now, NULL,
						"previous_session", prev_name);
			} else {
				log_info("reload: the new config has no "
					 "[evidence]; recording stopped");
			}
		}
		free(verdicts);
		rules_free(gw->rules);
		router_free(gw->router);
		/* it reads the old config's DBCs: gone with them */
		gateway_set_translate(gw, NULL);
		config_free(gw->cfg);
		/* Buses not taken over: their queued frames belong to the old
		 * generation and are not counted against new routes. */
		gw_free_buses(old, gw->n_buses);
		gw->viol_active = 0;
		gw->reloads++;
	}
	if (with_buses || !reload) {
		gw->buses = buses;
		gw->n_buses = with_buses ? cfg->n_buses : 0;
	}
	for (size_t i = 0; i < gw->n_buses; i++)
		bus_rebind(gw->buses[i], (int)i, &h);
	free(gw->outs);
	free(gw->routes);
	free(gw->bus_filtered);
	gw->outs = outs;
	gw->cap_outs = cap;
	gw->routes = routes;
	gw->n_routes = cfg->n_routes;
	gw->bus_filtered = filtered;
	free(from_old);
	gw->cfg = cfg;
	gw->router = router;
	gw->rules = rules;
	gw->rules_fed = false;
	gw->rules_deadline = rules ? rules_next_deadline(rules) : UINT64_MAX;
	gw->gen++;
	gw->replay_only = gw_on_log_clock(gw->buses, gw->n_buses);
	gw->replay_done = false;
	if (gw->started) {
		for (size_t i = 0; i < gw->n_buses; i++)
			bus_go(gw->buses[i]);
		gw_rules_arm(gw);
	}
	return 0;

err_buses:
	/* Give back what we took from the running config, free the rest. */
	for (size_t i = 0; i < cfg->n_buses; i++) {
		if (from_old[i] >= 0)
			old[from_old[i]] = buses[i];
		else
			bus_free(buses[i]);
	}
err:
	if (next)
		gw_close_unused(gw, next, now);
	free(buses);
	free(from_old);
	free(outs);
	free(routes);
	free(filtered);
	return -1;
}

static void gw_translate_arm(struct gateway *gw);

void gateway_start(struct gateway *gw)
{
	double block_s = 1.;

	gw->started = true;
	ev_timer_start(gw->loop, &gw->house_w);
	/* at least once a second: the tick also records what the recovery
	 * of crashed bundles found */
	if (gw->cfg && gw->cfg->evidence.block_ms &&
	    gw->cfg->evidence.block_ms < 1000)
		block_s = gw->cfg->evidence.block_ms / 1000.;
	ev_timer_set(&gw->evidence_tick_w, block_s, block_s);
	ev_timer_start(gw->loop, &gw->evidence_tick_w);
	gw_rules_arm(gw);
	gw_translate_arm(gw);
	for (size_t i = 0; i < gw->n_buses; i++)
		bus_go(gw->buses[i]);
	/* The house timer keeps the loop alive; these must not: a replay-only
	 * gateway would otherwise never see ev_run return on its own. */
}

void gateway_flush(struct gateway *gw, unsigned timeout_ms)
{
	for (size_t i = 0; i < gw->n_buses; i++)
		bus_flush(gw->buses[i], timeout_ms);
}

void gateway_free(struct gateway *gw)
{
	char err[256];

	if (!gw)
		return;
	if (gw->session && gateway_session_stop(gw, -1, err, sizeof(err)) < 0)
		log_warnx("closing the evidence session: %s", err);
	gw_reap_closing(gw, true);
	ev_timer_stop(gw->loop, &gw->house_w);
	ev_timer_stop(gw->loop, &gw->rules_w);
	ev_timer_stop(gw->loop, &gw->evidence_tick_w);
	gateway_set_translate(gw, NULL);
	gw_free_buses(gw->buses, gw->n_buses);
	rules_free(gw->rules);
	router_free(gw->router);
	config_free(gw->cfg);
	gateway_meta_fini(&gw->meta);
	free(gw->outs);
	free(gw->routes);
	free(gw->bus_filtered);
	free(gw);
}

/* ------------------------------------------------------------------ */
/* sessions, events */

void gateway_event(struct gateway *gw, uint64_t t_ns, const char *type,
		   const char *fields_json)
{
	if (gw->session)
		evidence_event(gw->session, t_ns, type, fields_json);
}

/* Who asked for a session to start or stop, next to what evidence records
 * of it. */
static void gw_control_event(struct gateway *gw, uint64_t now,
			     const char *command, long uid)
{
	char buf[128];
	struct json j;

	json_init_buf(&j, buf, sizeof(buf));
	json_members_begin(&j);
	json_key(&j, "command");
	json_string(&j, command);
	json_key(&j, "uid");
	json_int(&j, uid);
	json_members_end(&j);
	if (json_finish(&j) == 0)
		evidence_event(gw->session, now, "control", buf);
}

/*
 * Rules hold per-session state and verdicts. A session's rules start fresh
 * at its first frame, as `cangate check` of its frames.log does: nothing
 * seen between sessions (violations open then, line numbers 0, deadlines
 * running) may leak into the next one.
 */
static void gw_rules_renew(struct gateway *gw)
{
	struct rules *fresh;
	struct config_error cerr;

	/* as compiled: the daemon's first session starts before any frame */
	if (!gw->rules || !gw->rules_fed)
		return;
	fresh = rules_compile(gw->cfg, &gw->rsink, &cerr);
	if (!fresh) {
		char msg[600];

		config_error_format(&cerr, msg, sizeof(msg));
		log_warnx("recompiling rules for the next session: %s", msg);
	}
	rules_free(gw->rules);
	gw->rules = fresh;
	gw->rules_fed = false;
	gw->viol_active = 0;
	gw->rules_deadline = fresh ? rules_next_deadline(fresh) : UINT64_MAX;
}

int gateway_session_meta(struct gateway *gw, struct evidence_meta *copy)
{
	memset(copy, 0, sizeof(*copy));
	if (!gw->session || gw->replay_only)
		return 0;
	gw->next_for = gw->sessions;
	return gw_meta_set(copy, &gw->meta) < 0 ? -1 : 1;
}

int gateway_session_start(struct gateway *gw, const struct evidence_meta *meta,
			  long uid, char *errmsg, size_t errlen)
{
	struct evidence_meta none = {0};
	uint64_t now = gateway_now(gw);

	if (!meta)
		meta = &none;
	if (!gw->cfg || !gw->cfg->evidence.enabled) {
		snprintf(errmsg, errlen, "no [evidence] section in the config");
		return -1;
	}
	if (gw->session) {
		snprintf(errmsg, errlen, "a session is already recording");
		return -1;
	}
	if (gw_meta_set(&gw->meta, meta) < 0) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	gw->session = evidence_open(gw->cfg, meta, now, errmsg, errlen);
	if (!gw->session)
		return -1;
	gw->sessions++;
	gw_rules_renew(gw);
	/* evidence_open() wrote session_start; say who asked for it. */
	if (uid >= 0)
		gw_control_event(gw, now, "session start", uid);
	return 0;
}

void gateway_last_verdicts(const struct gateway *gw,
			   uint64_t counts[VERDICT_INCONCLUSIVE + 1])
{
	memcpy(counts, gw->last_verdicts, sizeof(gw->last_verdicts));
}

int gateway_session_stop(struct gateway *gw, long uid, char *errmsg,
			 size_t errlen)
{
	uint64_t now = gateway_now(gw);
	char *verdicts;
	int rc;

	if (!gw->session) {
		snprintf(errmsg, errlen, "no session is recording");
		return -1;
	}
	if (uid >= 0)
		gw_control_event(gw, now, "session stop", uid);
	verdicts = gw_rules_finish(gw, now);
	/* The close reads the whole bundle back (report, hashes): a worker
	 * does it while the loop forwards. */
	rc = gw_session_close(gw, now, verdicts, errmsg, errlen);
	free(verdicts);
	gw_rules_renew(gw);
	return rc;
}

int gateway_mark(struct gateway *gw, const char *text, long uid,
		 uint64_t *t_ns, char *errmsg, size_t errlen)
{
	uint64_t now = gateway_now(gw);
	char fields[GW_MARK_QUOTED_MAX + 64];
	struct json j;

	if (!gw->session) {
		snprintf(errmsg, errlen, "no session is recording");
		return -1;
	}
	if (json_escape(text, strlen(text), NULL, 0) >= GW_MARK_QUOTED_MAX) {
		snprintf(errmsg, errlen, "marker text too long");
		return -1;
	}
	json_init_buf(&j, fields, sizeof(fields));
	json_members_begin(&j);
	json_key(&j, "text");
	json_string(&j, text);
	json_key(&j, "uid");
	json_int(&j, uid);
	json_members_end(&j);
	if (json_finish(&j) < 0) {
		snprintf(errmsg, errlen, "marker text too long");
		return -1;
	}
	evidence_event(gw->session, now, "mark", fields);
	stream_note(gw->stream, now, "mark", text);
	if (t_ns)
		*t_ns = now;
	return 0;
}

/* ------------------------------------------------------------------ */
/* status */

int gateway_route_status(const struct gateway *gw, int route,
			 struct gateway_route_status *st)
{
	const struct route_stats *rs;
	const struct config_route *cr;

	if (!gw->cfg || route < 0 || (size_t)route >= gw->n_routes)
		return -1;
	rs = router_stats(gw->router, route);
	cr = &gw->cfg->routes[route];
	memset(st, 0, sizeof(*st));
	st->name = cr->name;
	st->from = cr->from;
	st->to = cr->to;
	st->bidirectional = cr->bidirectional;
	if (!rs)
		return -1;
	st->in = rs->in;
	st->filtered = rs->filtered;
	st->rate_limited = rs->rate_limited;
	st->forwarded = gw->routes[route].sent;
	st->dropped = gw->routes[route].dropped + rs->overflow;
	/* router "forwarded" = handed to us = sent + dropped + still queued */
	st->queued = rs->forwarded - gw->routes[route].sent -
		     gw->routes[route].dropped;
	return 0;
}

uint64_t gateway_bus_filtered(const struct gateway *gw, int bus)
{
	if (bus < 0 || !gw->cfg || (size_t)bus >= gw->cfg->n_buses)
		return 0;
	return gw->bus_filtered[bus];
}

void gateway_count_bad_request(struct gateway *gw)
{
	gw->bad_requests++;
}

bool gateway_replay_done(const struct gateway *gw)
{
	return gw->replay_done;
}

const struct config *gateway_config(const struct gateway *gw)
{
	return gw->cfg;
}

uint32_t gateway_config_gen(const struct gateway *gw)
{
	return gw->gen;
}

const struct rules *gateway_rules(const struct gateway *gw)
{
	return gw->rules;
}

size_t gateway_bus_count(const struct gateway *gw)
{
	return gw->n_buses;
}

const struct bus *gateway_bus(const struct gateway *gw, size_t i)
{
	return i < gw->n_buses ? gw->buses[i] : NULL;
}

void gateway_set_stream(struct gateway *gw, struct stream *s)
{
	gw->stream = s;
}

int gateway_evidence_status(const struct gateway *gw,
			    struct evidence_status *st)
{
	if (!gw->session)
		return -1;
	memset(st, 0, sizeof(*st));
	evidence_get_status(gw->session, st);
	return 0;
}

static const char *gw_bus_cfg_name(const struct gateway *gw, int i)
{
	if (gw->cfg && i >= 0 && (size_t)i < gw->cfg->n_buses)
		return gw->cfg->buses[i].name;
	return "?";
}

static void gw_translate_status_json(struct gateway *gw, struct json *j);

void gateway_status_json(struct gateway *gw, FILE *out)
{
	struct json j;
	uint64_t mono = bus_mono_ns();

	json_init_file(&j, out);
	json_object_begin(&j);
	json_key(&j, "gateway");
	json_string(&j, gw->cfg && gw->cfg->name ? gw->cfg->name : "cangate");
	json_key(&j, "version");
	json_string(&j, CANGATE_VERSION);
	json_key(&j, "pid");
	json_int(&j, (int64_t)getpid());
	json_key(&j, "uptime_s");
	json_double(&j, (double)((mono - gw->start_mono_ns) / 1000000) / 1e3);
	json_key(&j, "load_fps");
	json_double(&j, gw_load(gw, 1));
	json_key(&j, "load_fps_10s");
	json_double(&j, gw_load(gw, 10));
	json_key(&j, "rx_total");
	json_uint(&j, gw->rx_total);
	json_key(&j, "reloads");
	json_uint(&j, gw->reloads);
	json_key(&j, "bad_requests");
	json_uint(&j, gw->bad_requests);
	json_key(&j, "stalls");
	json_uint(&j, gw->stalls);
	json_key(&j, "stall_max_ms");
	json_uint(&j, gw->stall_max_ns / 1000000);

	json_key(&j, "recording");
	json_object_begin(&j);
	json_key(&j, "session");
	json_bool(&j, gw->session != NULL);
	if (gw->session) {
		struct evidence_status st;

		memset(&st, 0, sizeof(st));
		evidence_get_status(gw->session, &st);
		json_key(&j, "recording");
		json_bool(&j, st.recording);
		json_key(&j, "dir");
		json_string(&j, st.dir);
		json_key(&j, "frames");
		json_uint(&j, st.frames);
		json_key(&j, "frames_on_disk");
		json_uint(&j, st.frames_on_disk);
		json_key(&j, "blocks");
		json_uint(&j, st.blocks);
		json_key(&j, "not_recorded");
		json_uint(&j, st.not_recorded);
		json_key(&j, "writer_stalls");
		json_uint(&j, st.writer_stalls);
		json_key(&j, "error");
		json_string(&j, st.error);
	}
	json_key(&j, "frames_not_recorded");
	json_uint(&j, gw_not_recorded(gw));
	json_key(&j, "closing");
	json_array_begin(&j);
	for (size_t i = 0; i < gw->n_closing; i++)
		if (!evidence_close_done(gw->closing[i]))
			json_string(&j, evidence_close_dir(gw->closing[i]));
	json_array_end(&j);
	json_object_end(&j);

	json_key(&j, "violations");
	json_object_begin(&j);
	json_key(&j, "active");
	json_uint(&j, gw->viol_active);
	json_key(&j, "total");
	json_uint(&j, gw->viol_total);
	json_key(&j, "rules");
	json_uint(&j, gw->rules ? rules_count(gw->rules) : 0);
	json_object_end(&j);
	json_key(&j, "rules");
	stream_rules_json(gw->rules, &j);
	json_key(&j, "subscribers");
	json_uint(&j, stream_subscribers(gw->stream));
	json_key(&j, "subscribers_dropped");
	json_uint(&j, stream_dropped(gw->stream));

	json_key(&j, "buses");
	json_array_begin(&j);
	for (size_t i = 0; i < gw->n_buses; i++) {
		struct bus *b = gw->buses[i];
		const struct bus_counters *c = bus_counters(b);
		const struct replay_stats *rs = bus_replay_stats(b);
		enum bus_ctrl_state cs;
		uint16_t txe, rxe;

		json_object_begin(&j);
		json_key(&j, "name");
		json_string(&j, bus_name(b));
		json_key(&j, "interface");
		json_string(&j, bus_ifname(b));
		json_key(&j, "kind");
		json_string(&j, bus_kind_name(b));
		json_key(&j, "state");
		json_string(&j, bus_state_name(bus_state(b)));
		json_key(&j, "rx");
		json_uint(&j, c->rx);
		json_key(&j, "tx");
		json_uint(&j, c->tx);
		json_key(&j, "kernel_dropped");
		json_uint(&j, c->kernel_dropped);
		json_key(&j, "queue_dropped");
		json_uint(&j, c->queue_dropped);
		json_key(&j, "filtered");
		json_uint(&j, gw->bus_filtered[i]);
		json_key(&j, "errors");
		json_uint(&j, c->err_frames + c->tx_errors);
		json_key(&j, "err_frames");
		json_uint(&j, c->err_frames);
		json_key(&j, "tx_errors");
		json_uint(&j, c->tx_errors);
		json_key(&j, "bad_frames");
		json_uint(&j, c->bad_frames);
		json_key(&j, "queued");
		json_uint(&j, bus_queue_len(b));
		json_key(&j, "queued_total");
		json_uint(&j, c->queued);
		json_key(&j, "reopens");
		json_uint(&j, c->reopens);
		if (bus_ctrl(b, &cs, &txe, &rxe)) {
			json_key(&j, "bus_state");
			json_string(&j, bus_ctrl_state_name(cs));
			json_key(&j, "txerr");
			json_uint(&j, txe);
			json_key(&j, "rxerr");
			json_uint(&j, rxe);
		}
		if (rs) {
			json_key(&j, "replay_bad_lines");
			json_uint(&j, rs->bad_lines);
		}
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "routes");
	json_array_begin(&j);
	for (size_t i = 0; i < gw->n_routes; i++) {
		struct gateway_route_status st;

		if (gateway_route_status(gw, (int)i, &st) < 0)
			continue;
		json_object_begin(&j);
		json_key(&j, "name");
		json_string(&j, st.name);
		json_key(&j, "from");
		json_string(&j, gw_bus_cfg_name(gw, st.from));
		json_key(&j, "to");
		json_string(&j, gw_bus_cfg_name(gw, st.to));
		json_key(&j, "both");
		json_bool(&j, st.bidirectional);
		json_key(&j, "in");
		json_uint(&j, st.in);
		json_key(&j, "forwarded");
		json_uint(&j, st.forwarded);
		json_key(&j, "filtered");
		json_uint(&j, st.filtered);
		json_key(&j, "rate_limited");
		json_uint(&j, st.rate_limited);
		json_key(&j, "dropped");
		json_uint(&j, st.dropped);
		json_key(&j, "queued");
		json_uint(&j, st.queued);
		json_object_end(&j);
	}
	json_array_end(&j);
	gw_translate_status_json(gw, &j);
	json_object_end(&j);
	json_finish(&j);
}

static void gw_translate_status_text(struct gateway *gw, FILE *out);

void gateway_status_text(struct gateway *gw, FILE *out)
{
	uint64_t up = (bus_mono_ns() - gw->start_mono_ns) / NS_PER_S;

	fprintf(out, "gateway %s (cangate %s, pid %d), up %" PRIu64
		     "h%02" PRIu64 "m%02" PRIu64 "s, load %.0f frames/s "
		     "(10 s: %.0f)\n",
		gw->cfg && gw->cfg->name ? gw->cfg->name : "cangate",
		CANGATE_VERSION, (int)getpid(), up / 3600, up / 60 % 60,
		up % 60, gw_load(gw, 1), gw_load(gw, 10));
	if (gw->session) {
		struct evidence_status st;

		memset(&st, 0, sizeof(st));
		evidence_get_status(gw->session, &st);
		fprintf(out, "recording: %s %s, %" PRIu64 " frames, %" PRIu64
			     " blocks%s%s\n",
			st.recording ? "yes," : "STOPPED,", st.dir, st.frames,
			st.blocks, st.error[0] ? ", error: " : "", st.error);
	} else {
		fprintf(out, "recording: no session\n");
	}
	fprintf(out, "violations: %" PRIu64 " active, %" PRIu64
		     " total, %zu rules\n\n",
		gw->viol_active, gw->viol_total,
		gw->rules ? rules_count(gw->rules) : (size_t)0);
	fprintf(out, "%-12s %-16s %-6s %12s %12s %9s %9s %10s %8s %s\n", "BUS",
		"INTERFACE", "STATE", "RX", "TX", "KDROP", "QDROP", "FILTERED",
		"ERRORS", "CONTROLLER");
	for (size_t i = 0; i < gw->n_buses; i++) {
		struct bus *b = gw->buses[i];
		const struct bus_counters *c = bus_counters(b);
		enum bus_ctrl_state cs;
		uint16_t txe, rxe;
		char ctrl[64] = "-";

		if (bus_ctrl(b, &cs, &txe, &rxe))
			snprintf(ctrl, sizeof(ctrl), "%s tec=%u rec=%u",
				 bus_ctrl_state_name(cs), txe, rxe);
		fprintf(out,
			"%-12s %-16s %-6s %12" PRIu64 " %12" PRIu64
			" %9" PRIu64 " %9" PRIu64 " %10" PRIu64 " %8" PRIu64
			" %s\n",
			bus_name(b), bus_ifname(b), bus_state_name(bus_state(b)),
			c->rx, c->tx, c->kernel_dropped, c->queue_dropped,
			gw->bus_filtered[i], c->err_frames + c->tx_errors, ctrl);
	}
	fprintf(out, "\n%-20s %-22s %12s %12s %10s %10s %9s %7s\n", "ROUTE",
		"FROM -> TO", "IN", "FORWARDED", "FILTERED", "RATELIM",
		"DROPPED", "QUEUED");
	for (size_t i = 0; i < gw->n_routes; i++) {
		struct gateway_route_status st;
		char dir[64];

		if (gateway_route_status(gw, (int)i, &st) < 0)
			continue;
		snprintf(dir, sizeof(dir), "%s %s %s",
			 gw_bus_cfg_name(gw, st.from),
			 st.bidirectional ? "<->" : "->",
			 gw_bus_cfg_name(gw, st.to));
		fprintf(out,
			"%-20s %-22s %12" PRIu64 " %12" PRIu64 " %10" PRIu64
			" %10" PRIu64 " %9" PRIu64 " %7" PRIu64 "\n",
			st.name, dir, st.in, st.forwarded, st.filtered,
			st.rate_limited, st.dropped, st.queued);
	}
	stream_rules_text(gw->rules, out);
	gw_translate_status_text(gw, out);
}

void gateway_status_line(struct gateway *gw, char *buf, size_t size)
{
	uint64_t rx = 0, tx = 0, drop = 0;
	unsigned up = 0;

	for (size_t i = 0; i < gw->n_buses; i++) {
		const struct bus_counters *c = bus_counters(gw->buses[i]);

		rx += c->rx;
		tx += c->tx;
		drop += c->kernel_dropped + c->queue_dropped + c->tx_errors;
		if (bus_state(gw->buses[i]) == BUS_STATE_UP)
			up++;
	}
	snprintf(buf, size,
		 "%u/%zu buses up, rx %" PRIu64 ", tx %" PRIu64
		 ", dropped %" PRIu64 ", %.0f frames/s, %" PRIu64
		 " violations active, %s",
		 up, gw->n_buses, rx, tx, drop, gw_load(gw, 1), gw->viol_active,
		 gw->session ? "recording" : "not recording");
}

/* ------------------------------------------------------------------ */
/* translation ([output] sections): frames built by the pure core, sent
 * through the same sink as routed frames, recorded as T lines */

/*
 * Deadlines run this far behind the clock, so that a frame the kernel
 * stamped before a deadline has been read when it runs (as `cangate check`
 * of frames.log sees it). Short: the rig gets its cyclic frames this much
 * late, at the same period.
 */
#define GW_TRANSLATE_GRACE_NS (2 * 1000000ULL)

static void gw_translate_send(void *ctx, int bus, const struct frame *f,
			      size_t output)
{
	struct gateway *gw = ctx;
	int tag = GW_ROUTE_TAG(gw, gw->n_routes + output);

	switch (gw->sink.send(gw->sink.ctx, bus, f, tag)) {
	case BUS_TX_SENT:
		translate_tx_result(gw->translate, output, true);
		gw_record(gw, f, gw_bus_ifname(gw, bus), NULL);
		break;
	case BUS_TX_QUEUED:
		break;
	case BUS_TX_DROPPED:
		translate_tx_result(gw->translate, output, false);
		break;
	}
}

const struct translate_sink *gateway_translate_sink(struct gateway *gw)
{
	return &gw->tsink;
}

static void gw_translate_arm(struct gateway *gw)
{
	uint64_t now;
	double delay;

	ev_timer_stop(gw->loop, &gw->translate_w);
	gw->translate_deadline = translate_next_deadline(gw->translate);
	if (!gw->started || gw->translate_deadline == UINT64_MAX)
		return;
	ev_now_update(gw->loop);
	now = gateway_now(gw);
	if (gw->replay_only)
		delay = GW_RULES_MAX_S; /* frames carry the replay's clock */
	else if (gw->translate_deadline + GW_TRANSLATE_GRACE_NS > now)
		delay = (double)(gw->translate_deadline +
				 GW_TRANSLATE_GRACE_NS - now) / 1e9;
	else
		delay = 1e-5;
	ev_timer_set(&gw->translate_w, delay, 0.);
	ev_timer_start(gw->loop, &gw->translate_w);
}

static void gw_translate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gateway *gw = container_of(w, struct gateway, translate_w);
	uint64_t now = gateway_now(gw);

	(void)loop;
	(void)revents;
	if (!gw->replay_only)
		now = now > GW_TRANSLATE_GRACE_NS ? now - GW_TRANSLATE_GRACE_NS
						  : 0;
	/* frames stamped before the deadline first, as check sees them; a
	 * flood the catch-up cannot finish gets the loop, the deadline waits */
	if (translate_next_deadline(gw->translate) <= now &&
	    !gw_catch_up(gw, now)) {
		ev_timer_stop(gw->loop, &gw->translate_w); /* rx may re-arm */
		ev_timer_set(&gw->translate_w, 1e-4, 0.);
		ev_timer_start(gw->loop, &gw->translate_w);
		return;
	}
	translate_tick(gw->translate, now);
	gw_translate_arm(gw);
}

static void gw_translate_init(struct gateway *gw)
{
	ev_timer_init(&gw->translate_w, gw_translate_cb, 0., 0.);
	/* below the bus watchers: frames already readable run first */
	ev_set_priority(&gw->translate_w, EV_MINPRI);
	gw->translate_deadline = UINT64_MAX;
	gw->tsink.send = gw_translate_send;
	gw->tsink.ctx = gw;
}

static void gw_translate_rx(struct gateway *gw, int bus, const struct frame *f)
{
	translate_frame(gw->translate, bus, f);
	if (translate_next_deadline(gw->translate) != gw->translate_deadline)
		gw_translate_arm(gw);
}

void gateway_set_translate(struct gateway *gw, struct translate *t)
{
	translate_free(gw->translate);
	gw->translate = t;
	gw_translate_arm(gw);
}

static void gw_translate_status_json(struct gateway *gw, struct json *j)
{
	struct translate_stats st;

	json_key(j, "outputs");
	json_array_begin(j);
	for (size_t i = 0; translate_stats(gw->translate, i, &st) == 0; i++) {
		json_object_begin(j);
		json_key(j, "name");
		json_string(j, st.name);
		json_key(j, "bus");
		json_string(j, gw_bus_cfg_name(gw, st.bus));
		json_key(j, "built");
		json_uint(j, st.built);
		json_key(j, "sent");
		json_uint(j, st.sent);
		json_key(j, "dropped");
		json_uint(j, st.dropped);
		json_key(j, "clamped");
		json_uint(j, st.clamped);
		json_key(j, "unencodable");
		json_uint(j, st.unencodable);
		json_key(j, "substituted");
		json_uint(j, st.substituted);
		json_key(j, "held");
		json_uint(j, st.held);
		json_key(j, "stopped");
		json_uint(j, st.stopped);
		json_object_end(j);
	}
	json_array_end(j);
}

static void gw_translate_status_text(struct gateway *gw, FILE *out)
{
	struct translate_stats st;

	if (!translate_count(gw->translate))
		return;
	fprintf(out, "\n%-20s %-8s %12s %9s %9s %11s %11s %9s %9s\n", "OUTPUT",
		"BUS", "SENT", "DROPPED", "CLAMPED", "UNENCODABLE",
		"SUBSTITUTED", "HELD", "STOPPED");
	for (size_t i = 0; translate_stats(gw->translate, i, &st) == 0; i++)
		fprintf(out,
			"%-20s %-8s %12" PRIu64 " %9" PRIu64 " %9" PRIu64
			" %11" PRIu64 " %11" PRIu64 " %9" PRIu64 " %9" PRIu64
			"\n",
			st.name, gw_bus_cfg_name(gw, st.bus), st.sent,
			st.dropped, st.clamped, st.unencodable, st.substituted,
			st.held, st.stopped);
}
