/*
 * control_stream.c: streaming subscriptions (see control_stream.h).
 *
 * One snapshot is built per round for all subscribers (buses, rules,
 * events) and the signal list once per selection; each subscriber due in the
 * round gets them in one sendmsg straight from those shared buffers, and only
 * what its socket does not take now is copied into its own bounded buffer.
 * Rounds follow a 10 Hz tick; a subscriber at hz=N is due on N ticks of every
 * ten, the same ticks for every subscriber at that rate, so subscribers at
 * one rate share their rounds (and a round serves every rate due in it).
 * The only per-frame work is a payload copy into a table made when the
 * config changes.
 */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include "daemon/bus.h"
#include "daemon/control.h"
#include "daemon/control_stream.h"
#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/rules.h"
#include "daemon/core/suggest.h"
#include "daemon/gateway.h"
#include "daemon/log.h"
#include "dbc/dbc.h"

#define STREAM_CACHE 4 /* selections whose signals text a round keeps */

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* The last frame of one DBC message on one bus. */
struct stream_last {
	uint64_t t_ns;
	uint64_t count;
	uint8_t len;
	uint8_t data[CANFD_MAX_DLEN];
};

/* One selectable signal: an alias or a Message.Signal. */
struct stream_sig {
	char *name;   /* alias, or Message.Signal */
	char *source; /* alias: its Message.Signal; else NULL */
	int bus;
	const struct dbc_message *msg;
	const struct dbc_signal *sig;
	struct stream_last *last;
};

struct stream_sub {
	struct stream *s;
	int fd;
	ev_io r_w, w_w;
	char in[CONTROL_LINE_MAX + 1];
	size_t in_len;
	char *out; /* what the socket did not take yet: STREAM_BUF_MAX bytes,
		    * allocated when first needed */
	size_t out_off, out_len;
	struct control_cmd sel;
	unsigned hz;     /* snapshots a second */
	uint32_t *picks; /* watch: catalog indexes, in the order named */
	size_t n_picks;
	bool due;        /* to be served in this publishing round */
};

struct stream_bus {
	uint64_t rx_bits;       /* since the last tick (frames seen here) */
	uint64_t prev_rx, prev_tx;
	double rx_fps, tx_fps, load_pct;
};

struct stream_event {
	uint64_t t_ns;
	char type[12];
	char text[160];
};

/* The signals part of one selection, made once per round. */
struct stream_cached {
	struct control_cmd sel;
	char *text;
	size_t len;
};

struct stream {
	struct ev_loop *loop;
	struct gateway *gw;
	ev_timer tick_w;
	uint64_t tick;             /* tick_w's, since the first subscriber */
	bool rates_due;            /* a tick passed: rates for the next round */
	ev_idle pub_w;             /* a publishing round in progress */
	ev_timer pace_w;           /* its next step */
	size_t step_done;          /* subscribers served in this step */
	char *common;              /* its snapshot, without the signals */
	size_t clen;
	struct stream_cached cache[STREAM_CACHE];
	uint64_t prev_mono;
	struct stream_sub *subs[STREAM_MAX_SUBS];
	size_t n_subs;
	uint64_t dropped;

	const struct config *cfg; /* what the tables below were made for */
	uint32_t gen;             /* its gateway_config_gen() */
	struct stream_last **last; /* per bus, per DBC: messages of that DBC */
	size_t n_last;             /* buses */
	struct stream_sig *cat;
	size_t n_cat;
	struct stream_bus *bus;

	struct stream_event events[STREAM_EVENTS];
	size_t n_events, ev_next;
};

/* ------------------------------------------------------------ catalog */

static void stream_tables_free(struct stream *s)
{
	for (size_t i = 0; i < s->n_cat; i++) {
		free(s->cat[i].name);
		free(s->cat[i].source);
	}
	free(s->cat);
	for (size_t i = 0; i < s->n_last; i++)
		free(s->last[i]);
	free(s->last);
	free(s->bus);
	s->cat = NULL;
	s->last = NULL;
	s->bus = NULL;
	s->n_cat = s->n_last = 0;
	s->cfg = NULL;
}

/* Slot of message m of bus b: the DBCs' messages are laid out one after
 * another. */
static struct stream_last *stream_slot(const struct stream *s, int b,
				       const struct dbc_message *m)
{
	const struct config_bus *cb = &s->cfg->buses[b];
	size_t off = 0;

	for (size_t d = 0; d < cb->n_dbc_paths; d++) {
		const struct dbc *db = cb->dbcs ? cb->dbcs[d] : NULL;

		if (!db)
			continue;
		if (m >= db->messages && m < db->messages + db->n_messages)
			return &s->last[b][off + (size_t)(m - db->messages)];
		off += db->n_messages;
	}
	return NULL;
}

static int stream_cat_add(struct stream *s, size_t *cap, const char *name,
			  const char *source, int bus,
			  const struct dbc_message *m,
			  const struct dbc_signal *sig)
{
	struct stream_sig *e;

	if (s->n_cat == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct stream_sig *n = realloc(s->cat, nc * sizeof(*n));

		if (!n)
			return -1;
		s->cat = n;
		*cap = nc;
	}
	e = &s->cat[s->n_cat];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	e->source = source ? strdup(source) : NULL;
	if (!e->name || (source && !e->source)) {
		free(e->name);
		free(e->source);
		return -1;
	}
	e->bus = bus;
	e->msg = m;
	e->sig = sig;
	e->last = stream_slot(s, bus, m);
	s->n_cat++;
	return 0;
}

/* Message.Signal of an alias: its bus (bus key, else the first bus whose DBC
 * has the message), message and signal. -1 when it does not resolve (the
 * rules compiler has said why already). */
static int stream_resolve(const struct config *cfg,
			  const struct config_section *sec, int *bus,
			  const struct dbc_message **m,
			  const struct dbc_signal **sig)
{
	const char *src = NULL, *busname = NULL, *dot;
	char mname[256];

	for (size_t k = 0; k < sec->n_kv; k++) {
		if (!strcmp(sec->kv[k].key, "source"))
			src = sec->kv[k].value;
		else if (!strcmp(sec->kv[k].key, "bus"))
			busname = sec->kv[k].value;
	}
	if (!src || !(dot = strchr(src, '.')) ||
	    (size_t)(dot - src) >= sizeof(mname))
		return -1;
	memcpy(mname, src, (size_t)(dot - src));
	mname[dot - src] = '\0';
	for (size_t b = 0; b < cfg->n_buses; b++) {
		const struct config_bus *cb = &cfg->buses[b];

		if (busname && strcmp(cb->name, busname))
			continue;
		for (size_t d = 0; cb->dbcs && d < cb->n_dbc_paths; d++) {
			*m = dbc_message_by_name(cb->dbcs[d], mname);
			if (!*m)
				continue;
			*sig = dbc_signal_by_name(*m, dot + 1);
			if (!*sig)
				return -1;
			*bus = (int)b;
			return 0;
		}
	}
	return -1;
}

static int stream_tables_build(struct stream *s, const struct config *cfg)
{
	size_t cap = 0;
	char name[512];

	stream_tables_free(s);
	if (!cfg)
		return 0;
	s->cfg = cfg;
	s->n_last = cfg->n_buses;
	s->last = calloc(cfg->n_buses ? cfg->n_buses : 1, sizeof(*s->last));
	s->bus = calloc(cfg->n_buses ? cfg->n_buses : 1, sizeof(*s->bus));
	if (!s->last || !s->bus)
		goto err;
	for (size_t b = 0; b < cfg->n_buses; b++) {
		const struct config_bus *cb = &cfg->buses[b];
		size_t n = 0;

		for (size_t d = 0; cb->dbcs && d < cb->n_dbc_paths; d++)
			n += cb->dbcs[d] ? cb->dbcs[d]->n_messages : 0;
		s->last[b] = calloc(n ? n : 1, sizeof(*s->last[b]));
		if (!s->last[b])
			goto err;
	}
	for (size_t i = 0; i < cfg->n_signals; i++) {
		const struct config_section *sec = &cfg->signals[i];
		const struct dbc_message *m;
		const struct dbc_signal *sig;
		int bus;

		if (stream_resolve(cfg, sec, &bus, &m, &sig) < 0)
			continue;
		snprintf(name, sizeof(name), "%s.%s", m->name, sig->name);
		if (stream_cat_add(s, &cap, sec->name, name, bus, m, sig) < 0)
			goto err;
	}
	for (size_t b = 0; b < cfg->n_buses; b++) {
		const struct config_bus *cb = &cfg->buses[b];

		for (size_t d = 0; cb->dbcs && d < cb->n_dbc_paths; d++) {
			const struct dbc *db = cb->dbcs[d];

			for (size_t mi = 0; db && mi < db->n_messages; mi++) {
				const struct dbc_message *m = &db->messages[mi];

				for (size_t k = 0; k < m->n_signals; k++) {
					snprintf(name, sizeof(name), "%s.%s",
						 m->name, m->signals[k].name);
					if (stream_cat_add(s, &cap, name, NULL,
							   (int)b, m,
							   &m->signals[k]) < 0)
						goto err;
				}
			}
		}
	}
	return 0;
err:
	log_warnx("control stream: out of memory building the signal table");
	stream_tables_free(s);
	return -1;
}

/* The catalog entry named exactly name (an alias first), or -1. */
static int64_t stream_find(const struct stream *s, const char *name)
{
	for (size_t i = 0; i < s->n_cat; i++)
		if (!strcmp(s->cat[i].name, name))
			return (int64_t)i;
	return -1;
}

/* Resolve sub's watch list against the catalog. -1 with errmsg naming the
 * first unknown name. */
static int stream_pick(struct stream *s, struct stream_sub *sub,
		       char *errmsg, size_t errlen)
{
	char list[CONTROL_LINE_MAX], *save = NULL, *tok;
	uint32_t *picks;
	size_t n = 0, cap = 1;

	free(sub->picks);
	sub->picks = NULL;
	sub->n_picks = 0;
	if (!sub->sel.has_watch)
		return 0;
	for (const char *p = sub->sel.watch; *p; p++)
		cap += *p == ',';
	picks = calloc(cap, sizeof(*picks));
	if (!picks) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	snprintf(list, sizeof(list), "%s", sub->sel.watch);
	for (tok = strtok_r(list, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		int64_t i = stream_find(s, tok);

		if (i < 0) {
			struct suggest sg;
			char hint[160];

			suggest_init(&sg, tok);
			for (size_t k = 0; k < s->n_cat; k++)
				suggest_offer(&sg, s->cat[k].name);
			snprintf(errmsg, errlen,
				 "unknown signal or alias '%s'%s", tok,
				 suggest_hint(&sg, hint, sizeof(hint)));
			free(picks);
			return -1;
		}
		picks[n++] = (uint32_t)i;
	}
	if (!n) {
		snprintf(errmsg, errlen, "watch: no signal named");
		free(picks);
		return -1;
	}
	sub->picks = picks;
	sub->n_picks = n;
	return 0;
}

/* Does e hold every space-separated word of filter (case insensitive)? */
static bool stream_matches(const struct stream_sig *e, const char *filter)
{
	const char *p = filter;

	for (;;) {
		char word[CONTROL_META_MAX];
		size_t n = 0;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			return true;
		while (*p && *p != ' ' && *p != ',' && n + 1 < sizeof(word))
			word[n++] = *p++;
		word[n] = '\0';
		if (!strcasestr(e->name, word) &&
		    !(e->source && strcasestr(e->source, word)))
			return false;
	}
}

/* ------------------------------------------------------------ per frame */

void stream_frame(struct stream *s, int bus, const struct frame *f)
{
	const struct config_bus *cb;
	size_t off = 0;

	if (!s || !s->n_subs || f->err || f->rtr || !s->cfg ||
	    s->gen != gateway_config_gen(s->gw) || bus < 0 ||
	    (size_t)bus >= s->n_last)
		return;
	/* Classic frame bits without stuffing: an estimate of load. */
	s->bus[bus].rx_bits += (f->ext ? 67u : 47u) + 8u * f->len;
	cb = &s->cfg->buses[bus];
	for (size_t d = 0; cb->dbcs && d < cb->n_dbc_paths; d++) {
		const struct dbc *db = cb->dbcs[d];
		const struct dbc_message *m;

		if (!db)
			continue;
		m = dbc_lookup(db, f->id, f->ext);
		if (m) {
			struct stream_last *l =
				&s->last[bus][off + (size_t)(m - db->messages)];

			l->t_ns = f->t_ns;
			l->len = f->len;
			memcpy(l->data, f->data, f->len);
			l->count++;
		}
		off += db->n_messages;
	}
}

void stream_note(struct stream *s, uint64_t t_ns, const char *type,
		 const char *text)
{
	struct stream_event *e;

	if (!s)
		return;
	e = &s->events[s->ev_next];
	s->ev_next = (s->ev_next + 1) % STREAM_EVENTS;
	if (s->n_events < STREAM_EVENTS)
		s->n_events++;
	e->t_ns = t_ns;
	snprintf(e->type, sizeof(e->type), "%s", type);
	snprintf(e->text, sizeof(e->text), "%s", text);
}

void stream_violation(struct stream *s, const char *rule, const char *json)
{
	const char *t = json ? strstr(json, "\"t_start\":") : NULL;
	const char *msg = json ? strstr(json, ",\"msg\":\"") : NULL;
	char text[160];
	double ts = t ? strtod(t + 10, NULL) : 0;
	size_t n = (size_t)snprintf(text, sizeof(text), "%s: ", rule);

	if (!s)
		return;
	/* the message as text: its JSON escapes undone (\" and \\; others
	 * are control characters the rules never write) */
	for (msg = msg ? msg + 8 : ""; *msg && *msg != '"' &&
				       n + 1 < sizeof(text); msg++) {
		if (*msg == '\\' && msg[1])
			msg++;
		text[n++] = *msg;
	}
	text[n < sizeof(text) ? n : sizeof(text) - 1] = '\0';
	stream_note(s, ts > 0 ? (uint64_t)(ts * 1e9 + 0.5) : 0, "violation",
		    text);
}

/* ------------------------------------------------------------ snapshots */

static void stream_time(struct json *j, uint64_t t_ns)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "%llu.%06llu",
			 (unsigned long long)(t_ns / 1000000000u),
			 (unsigned long long)(t_ns % 1000000000u / 1000u));

	json_raw(j, buf, (size_t)n);
}

void stream_rules_json(const struct rules *r, struct json *j)
{
	json_array_begin(j);
	for (size_t i = 0; i < rules_count(r); i++) {
		struct rules_live_state st;

		if (rules_live_state(r, i, &st) < 0)
			continue;
		json_object_begin(j);
		json_key(j, "rule");
		json_string(j, rules_name(r, i));
		json_key(j, "kind");
		json_string(j, st.kind);
		json_key(j, "state");
		json_string(j, rules_live_name(st.live));
		json_key(j, "verdict");
		json_string(j, rules_verdict_name(st.verdict));
		json_key(j, "violations");
		json_uint(j, st.violations);
		json_key(j, "worst");
		json_double(j, st.worst);
		json_key(j, "margin");
		json_double(j, st.margin);
		json_object_end(j);
	}
	json_array_end(j);
}

void stream_rules_text(const struct rules *r, FILE *out)
{
	int w = 4;

	if (!rules_count(r))
		return;
	for (size_t i = 0; i < rules_count(r); i++)
		if ((int)strlen(rules_name(r, i)) > w)
			w = (int)strlen(rules_name(r, i));
	fprintf(out, "\n%-*s  %-13s  %-13s  %5s  %s\n", w, "RULE", "STATE",
		"SO FAR", "VIOL", "WORST (MARGIN)");
	for (size_t i = 0; i < rules_count(r); i++) {
		struct rules_live_state st;
		char worst[2 * JSON_DOUBLE_MAX + 8] = "";

		if (rules_live_state(r, i, &st) < 0)
			continue;
		if (st.violations) {
			char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

			json_format_double(st.worst, a);
			json_format_double(st.margin, b);
			snprintf(worst, sizeof(worst), "%s (%s)", a, b);
		}
		fprintf(out, "%-*s  %-13s  %-13s  %5llu  %s\n", w,
			rules_name(r, i), rules_live_name(st.live),
			rules_verdict_name(st.verdict),
			(unsigned long long)st.violations, worst);
	}
}

/* Everything but the signals: an object left open for them. */
static char *stream_common(struct stream *s, size_t *len)
{
	const struct config *cfg = gateway_config(s->gw);
	struct evidence_status es;
	char *text = NULL;
	FILE *m = open_memstream(&text, len);
	struct json j;

	if (!m)
		return NULL;
	json_init_file(&j, m);
	json_object_begin(&j);
	json_key(&j, "t");
	stream_time(&j, gateway_now(s->gw));
	json_key(&j, "gateway");
	json_string(&j, cfg && cfg->name ? cfg->name : "cangate");
	json_key(&j, "recording");
	json_bool(&j, gateway_evidence_status(s->gw, &es) == 0);
	if (gateway_evidence_status(s->gw, &es) == 0) {
		json_key(&j, "bundle");
		json_string(&j, es.dir);
		json_key(&j, "frames");
		json_uint(&j, es.frames);
	}
	json_key(&j, "buses");
	json_array_begin(&j);
	for (size_t i = 0; i < gateway_bus_count(s->gw); i++) {
		const struct bus *b = gateway_bus(s->gw, i);
		const struct bus_counters *c = bus_counters(b);
		const struct stream_bus *sb =
			i < s->n_last ? &s->bus[i] : NULL;

		json_object_begin(&j);
		json_key(&j, "name");
		json_string(&j, bus_name(b));
		json_key(&j, "state");
		json_string(&j, bus_state_name(bus_state(b)));
		json_key(&j, "rx");
		json_uint(&j, c->rx);
		json_key(&j, "tx");
		json_uint(&j, c->tx);
		json_key(&j, "rx_fps");
		json_double(&j, sb ? round(sb->rx_fps) : 0);
		json_key(&j, "tx_fps");
		json_double(&j, sb ? round(sb->tx_fps) : 0);
		json_key(&j, "load_pct");
		if (sb && sb->load_pct >= 0)
			json_double(&j, round(sb->load_pct * 10) / 10);
		else
			json_null(&j);
		json_key(&j, "drops");
		json_uint(&j, c->kernel_dropped + c->queue_dropped +
				      c->tx_errors);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "rules");
	stream_rules_json(gateway_rules(s->gw), &j);
	json_key(&j, "events");
	json_array_begin(&j);
	for (size_t k = 0; k < s->n_events; k++) {
		const struct stream_event *e =
			&s->events[(s->ev_next + STREAM_EVENTS - s->n_events +
				    k) % STREAM_EVENTS];

		json_object_begin(&j);
		json_key(&j, "t");
		stream_time(&j, e->t_ns);
		json_key(&j, "type");
		json_string(&j, e->type);
		json_key(&j, "text");
		json_string(&j, e->text);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
	if (fclose(m) != 0 || !text || *len < 2) {
		free(text);
		return NULL;
	}
	(*len)--; /* reopen the object for the signals */
	return text;
}

static void stream_signal_json(struct json *j, const struct stream *s,
			       const struct stream_sig *e)
{
	const struct stream_last *l = e->last;

	json_object_begin(j);
	json_key(j, "name");
	json_string(j, e->name);
	json_key(j, "bus");
	json_string(j, s->cfg->buses[e->bus].name);
	json_key(j, "value");
	if (l && l->count && e->sig->last_byte < l->len &&
	    (e->sig->mux_parent < 0 ||
	     dbc_signal_active(e->msg, e->sig, l->data, l->len))) {
		uint64_t raw = dbc_signal_raw(e->sig, l->data, l->len);
		const char *label = dbc_choice(e->sig, raw);

		json_double(j, dbc_signal_phys(e->sig, raw));
		if (label) {
			json_key(j, "label");
			json_string(j, label);
		}
		json_key(j, "t");
		stream_time(j, l->t_ns);
	} else {
		json_null(j);
	}
	if (e->sig->unit && *e->sig->unit) {
		json_key(j, "unit");
		json_string(j, e->sig->unit);
	}
	json_object_end(j);
}

/* ,"signals":[...],"signals_matched":N}\n for sub into m. */
static void stream_signals(struct stream *s, struct stream_sub *sub, FILE *m)
{
	struct json j;
	size_t rows = STREAM_ROWS, shown = 0, matched = 0;

	if (sub->sel.has_rows)
		rows = strtoul(sub->sel.rows, NULL, 10);
	fputs(",\"signals\":", m);
	json_init_file(&j, m);
	json_array_begin(&j);
	if (sub->picks) {
		for (size_t k = 0; k < sub->n_picks; k++)
			if (sub->picks[k] < s->n_cat)
				stream_signal_json(&j, s, &s->cat[sub->picks[k]]);
		matched = sub->n_picks;
	} else {
		for (size_t i = 0; i < s->n_cat; i++) {
			const struct stream_sig *e = &s->cat[i];

			if (!e->last || !e->last->count ||
			    (sub->sel.has_filter &&
			     !stream_matches(e, sub->sel.filter)))
				continue;
			matched++;
			if (shown < rows) {
				stream_signal_json(&j, s, e);
				shown++;
			}
		}
	}
	json_array_end(&j);
	json_finish(&j);
	fprintf(m, ",\"signals_matched\":%zu}\n", matched);
}

/* ------------------------------------------------------------ subscribers */

/* Forget the round's snapshot: the next one makes a new one. */
static void stream_round_forget(struct stream *s)
{
	s->step_done = 0;
	free(s->common);
	s->common = NULL;
	for (size_t i = 0; i < STREAM_CACHE; i++) {
		free(s->cache[i].text);
		s->cache[i].text = NULL;
	}
}

static void stream_round_end(struct stream *s)
{
	ev_idle_stop(s->loop, &s->pub_w);
	ev_timer_stop(s->loop, &s->pace_w);
	stream_round_forget(s);
}

static void stream_sub_free(struct stream_sub *sub)
{
	struct stream *s = sub->s;

	ev_io_stop(s->loop, &sub->r_w);
	ev_io_stop(s->loop, &sub->w_w);
	close(sub->fd);
	for (size_t i = 0; i < s->n_subs; i++) {
		if (s->subs[i] == sub) {
			s->subs[i] = s->subs[--s->n_subs];
			break;
		}
	}
	free(sub->out);
	free(sub->picks);
	free(sub);
	if (!s->n_subs) {
		ev_timer_stop(s->loop, &s->tick_w);
		stream_round_end(s);
	}
}

/* Send what is queued without blocking; -1 when sub was freed. */
static int stream_sub_flush(struct stream_sub *sub)
{
	while (sub->out_off < sub->out_len) {
		ssize_t n = send(sub->fd, sub->out + sub->out_off,
				 sub->out_len - sub->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_start(sub->s->loop, &sub->w_w);
			return 0;
		}
		if (n < 0) {
			stream_sub_free(sub);
			return -1;
		}
		sub->out_off += (size_t)n;
	}
	sub->out_off = sub->out_len = 0;
	ev_io_stop(sub->s->loop, &sub->w_w);
	return 0;
}

/* Send the n_iov pieces to sub: straight from the caller's buffers when
 * nothing is queued before them, the rest queued. A client this far behind
 * is dropped. -1 when sub was freed. */
static int stream_sub_write(struct stream_sub *sub, const struct iovec *iov,
			    size_t n_iov)
{
	size_t total = 0, skip = 0;

	for (size_t i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	if (sub->out_off == sub->out_len) {
		struct msghdr mh = { .msg_iov = (struct iovec *)iov,
				     .msg_iovlen = n_iov };
		ssize_t n;

		do
			n = sendmsg(sub->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			stream_sub_free(sub);
			return -1;
		}
		if (n > 0)
			skip = (size_t)n;
		if (skip == total)
			return 0;
		sub->out_off = sub->out_len = 0;
	}
	if (sub->out_off) {
		memmove(sub->out, sub->out + sub->out_off,
			sub->out_len - sub->out_off);
		sub->out_len -= sub->out_off;
		sub->out_off = 0;
	}
	if (total - skip > STREAM_BUF_MAX - sub->out_len ||
	    (!sub->out && !(sub->out = malloc(STREAM_BUF_MAX)))) {
		sub->s->dropped++;
		log_warnx("control stream: dropping a subscriber that does "
			  "not keep up (%zu bytes unread)",
			  sub->out_len + total - skip);
		stream_sub_free(sub);
		return -1;
	}
	for (size_t i = 0; i < n_iov; i++) {
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(sub->out + sub->out_len,
		       (const char *)iov[i].iov_base + skip, len - skip);
		sub->out_len += len - skip;
		skip = 0;
	}
	ev_io_start(sub->s->loop, &sub->w_w);
	return 0;
}

static void stream_sub_reply_error(struct stream_sub *sub, const char *msg)
{
	char buf[600];
	FILE *m = fmemopen(buf, sizeof(buf), "w");
	long n;

	if (!m)
		return;
	control_reply_error(m, msg);
	n = ftell(m);
	fclose(m);
	if (n > 0)
		stream_sub_write(sub, &(struct iovec){ buf, (size_t)n }, 1);
}

/* One snapshot to sub; common is shared by every subscriber of the tick. */
static bool stream_same_selection(const struct control_cmd *a,
				  const struct control_cmd *b)
{
	/* hz is not part of it: it says when, not what */
	return a->has_filter == b->has_filter &&
	       a->has_watch == b->has_watch && a->has_rows == b->has_rows &&
	       !strcmp(a->filter, b->filter) && !strcmp(a->watch, b->watch) &&
	       !strcmp(a->rows, b->rows);
}

/* The signals part of sub's snapshot (malloc'd, or from the round's cache:
 * monitors mostly ask for the same selection). NULL when out of memory. */
static const char *stream_signals_text(struct stream *s, struct stream_sub *sub,
				       size_t *len, char **own)
{
	struct stream_cached *slot = NULL;
	char *text = NULL;
	FILE *m;

	*own = NULL;
	for (size_t i = 0; s->common && i < STREAM_CACHE; i++) {
		struct stream_cached *c = &s->cache[i];

		if (c->text && stream_same_selection(&c->sel, &sub->sel)) {
			*len = c->len;
			return c->text;
		}
		if (!c->text && !slot)
			slot = c;
	}
	m = open_memstream(&text, len);
	if (!m)
		return NULL;
	stream_signals(s, sub, m);
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	if (slot) {
		slot->sel = sub->sel;
		slot->text = text;
		slot->len = *len;
	} else {
		*own = text;
	}
	return text;
}

static int stream_sub_publish(struct stream *s, struct stream_sub *sub,
			      const char *common, size_t clen)
{
	size_t len = 0;
	char *own;
	const char *text = stream_signals_text(s, sub, &len, &own);
	struct iovec iov[2] = { { (void *)common, clen },
				{ (void *)text, len } };
	int rc;

	if (!text)
		return 0;
	rc = stream_sub_write(sub, iov, 2);
	free(own);
	return rc;
}

static void stream_rates(struct stream *s, uint64_t mono)
{
	double dt = s->prev_mono ? (double)(mono - s->prev_mono) / 1e9 : 0;

	for (size_t i = 0; i < gateway_bus_count(s->gw) && i < s->n_last;
	     i++) {
		const struct bus_counters *c =
			bus_counters(gateway_bus(s->gw, i));
		struct stream_bus *sb = &s->bus[i];
		uint32_t bitrate = s->cfg->buses[i].bitrate;

		if (dt > 0) {
			sb->rx_fps = (double)(c->rx - sb->prev_rx) / dt;
			sb->tx_fps = (double)(c->tx - sb->prev_tx) / dt;
			sb->load_pct = bitrate ? 100. * (double)sb->rx_bits /
							 dt / bitrate
					       : -1;
		}
		sb->prev_rx = c->rx;
		sb->prev_tx = c->tx;
		sb->rx_bits = 0;
	}
	s->prev_mono = mono;
}

/* The config changed (reload): new tables, subscribers re-resolved. */
static void stream_refresh(struct stream *s)
{
	char err[256];

	/* the generation, not the pointer: a new config may be allocated
	 * where the old one was */
	if (s->cfg && s->gen == gateway_config_gen(s->gw))
		return;
	stream_tables_build(s, gateway_config(s->gw));
	s->gen = gateway_config_gen(s->gw);
	s->prev_mono = 0;
	for (size_t i = s->n_subs; i-- > 0;) {
		struct stream_sub *sub = s->subs[i];

		if (stream_pick(s, sub, err, sizeof(err)) < 0) {
			stream_sub_reply_error(sub, err);
			if (i < s->n_subs && s->subs[i] == sub)
				stream_sub_free(sub);
		}
	}
}

/* sub gets a snapshot in the next idle time, whatever its rate: its first
 * one, or one with the selection it just asked for. */
static void stream_serve_soon(struct stream *s, struct stream_sub *sub)
{
	sub->due = true;
	ev_idle_start(s->loop, &s->pub_w);
}

/*
 * A publishing round runs from an idle watcher of the lowest priority, a
 * few subscribers at a time: it only uses time in which the loop has no
 * frame, timer or request waiting, so live views never delay forwarding.
 * Under a load that leaves no such time the views skip snapshots instead.
 * The subscribers are served in STREAM_SPREAD_STEPS steps over
 * STREAM_SPREAD_S: fifty views woken at once would all want the CPUs at
 * once, and the gateway with them.
 */
static void stream_pub_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct stream *s = container_of(w, struct stream, pub_w);
	unsigned done = 0;

	(void)revents;
	if (!s->common) {
		stream_refresh(s);
		/* on ticks only: a round for a new subscriber in between would
		 * give rates over a few milliseconds */
		if (s->rates_due)
			stream_rates(s, bus_mono_ns());
		s->rates_due = false;
		s->common = stream_common(s, &s->clen);
		if (!s->common) {
			for (size_t i = 0; i < s->n_subs; i++)
				s->subs[i]->due = false;
			stream_round_end(s);
			return;
		}
	}
	/* backwards: a dropped subscriber moves the last one (already
	 * served) into its place */
	for (size_t i = s->n_subs; i-- > 0;) {
		struct stream_sub *sub = s->subs[i];

		if (!sub->due)
			continue;
		sub->due = false;
		stream_sub_publish(s, sub, s->common, s->clen);
		/* a step is done: the next after a pause */
		if (++s->step_done >= (s->n_subs + STREAM_SPREAD_STEPS - 1) /
					    STREAM_SPREAD_STEPS) {
			s->step_done = 0;
			ev_idle_stop(loop, &s->pub_w);
			ev_timer_stop(loop, &s->pace_w);
			ev_timer_set(&s->pace_w,
				     STREAM_SPREAD_S / STREAM_SPREAD_STEPS, 0.);
			ev_timer_start(loop, &s->pace_w);
			return;
		}
		if (++done == STREAM_PER_IDLE)
			return;
	}
	stream_round_end(s);
}

static void stream_pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_idle_start(loop, &container_of(w, struct stream, pace_w)->pub_w);
}

/* Is a subscriber at hz due on tick? hz of every STREAM_HZ ticks, evenly
 * spread, and the same ticks for every subscriber at that rate. */
static bool stream_due(unsigned hz, uint64_t tick)
{
	return tick * hz / STREAM_HZ != (tick - 1) * hz / STREAM_HZ;
}

static void stream_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stream *s = container_of(w, struct stream, tick_w);
	bool any = false;

	(void)revents;
	s->tick++;
	s->rates_due = true;
	for (size_t i = 0; i < s->n_subs; i++) {
		if (stream_due(s->subs[i]->hz, s->tick)) {
			s->subs[i]->due = true;
			any = true;
		}
	}
	if (!any)
		return;
	/* A round not over yet (no idle time since the last tick) is stale:
	 * the subscribers it has not served get this tick's snapshot, once. */
	stream_round_forget(s);
	ev_timer_stop(loop, &s->pace_w);
	ev_idle_start(loop, &s->pub_w);
}

static unsigned stream_hz(const struct control_cmd *sel)
{
	return sel->has_hz ? (unsigned)strtoul(sel->hz, NULL, 10) : STREAM_HZ;
}

static void stream_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stream_sub *sub = container_of(w, struct stream_sub, r_w);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(sub->fd, sub->in + sub->in_len,
		 CONTROL_LINE_MAX - sub->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		stream_sub_free(sub);
		return;
	}
	sub->in_len += (size_t)n;
	for (;;) {
		char *nl = memchr(sub->in, '\n', sub->in_len);
		struct control_cmd cmd, old;
		char err[256] = "";
		size_t used;

		if (!nl)
			break;
		*nl = '\0';
		if (nl > sub->in && nl[-1] == '\r')
			nl[-1] = '\0';
		if (control_parse(sub->in, &cmd, err, sizeof(err)) == 0 &&
		    cmd.op != CONTROL_SUBSCRIBE)
			snprintf(err, sizeof(err),
				 "a streaming connection takes subscribe "
				 "requests only");
		if (cmd.op == CONTROL_SUBSCRIBE && !err[0]) {
			old = sub->sel;
			sub->sel = cmd;
			if (stream_pick(sub->s, sub, err, sizeof(err)) < 0) {
				sub->sel = old;
				stream_pick(sub->s, sub, err, sizeof(err));
			} else {
				err[0] = '\0';
				sub->hz = stream_hz(&sub->sel);
				stream_serve_soon(sub->s, sub);
			}
		}
		used = (size_t)(nl - sub->in) + 1;
		memmove(sub->in, nl + 1, sub->in_len - used);
		sub->in_len -= used;
		if (err[0]) {
			struct stream *s = sub->s;
			size_t before = s->n_subs;

			stream_sub_reply_error(sub, err);
			if (s->n_subs < before)
				return; /* dropped */
		}
	}
	if (sub->in_len == CONTROL_LINE_MAX) {
		stream_sub_free(sub);
		return;
	}
}

static void stream_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	stream_sub_flush(container_of(w, struct stream_sub, w_w));
}

int stream_add(struct stream *s, int fd, const struct control_cmd *cmd,
	       char *errmsg, size_t errlen)
{
	struct stream_sub *sub;

	if (s->n_subs >= STREAM_MAX_SUBS) {
		snprintf(errmsg, errlen, "too many subscribers (at most %d)",
			 STREAM_MAX_SUBS);
		return -1;
	}
	stream_refresh(s);
	sub = calloc(1, sizeof(*sub));
	if (!sub) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	sub->s = s;
	sub->fd = fd;
	sub->sel = *cmd;
	sub->hz = stream_hz(cmd);
	if (stream_pick(s, sub, errmsg, errlen) < 0) {
		free(sub);
		return -1;
	}
	ev_io_init(&sub->r_w, stream_read_cb, fd, EV_READ);
	ev_io_init(&sub->w_w, stream_write_cb, fd, EV_WRITE);
	/* a backlog is sent in idle time too, after the frames */
	ev_set_priority(&sub->w_w, EV_MINPRI);
	ev_io_start(s->loop, &sub->r_w);
	s->subs[s->n_subs++] = sub;
	if (s->n_subs == 1) {
		s->prev_mono = 0;
		s->tick = 0;
		ev_timer_again(s->loop, &s->tick_w);
	}
	stream_serve_soon(s, sub);
	return 0;
}

/* ------------------------------------------------------------ lifetime */

struct stream *stream_new(struct ev_loop *loop, struct gateway *gw)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->gw = gw;
	ev_init(&s->tick_w, stream_tick_cb);
	s->tick_w.repeat = 1. / STREAM_HZ;
	ev_idle_init(&s->pub_w, stream_pub_cb);
	ev_set_priority(&s->pub_w, EV_MINPRI);
	ev_init(&s->pace_w, stream_pace_cb);
	return s;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	while (s->n_subs)
		stream_sub_free(s->subs[0]);
	ev_timer_stop(s->loop, &s->tick_w);
	stream_round_end(s);
	stream_tables_free(s);
	free(s);
}

size_t stream_subscribers(const struct stream *s)
{
	return s ? s->n_subs : 0;
}

uint64_t stream_dropped(const struct stream *s)
{
	return s ? s->dropped : 0;
}
