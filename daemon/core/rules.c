/*
 * rules.c: the rules engine (API in rules.h, expressions in expr.h).
 *
 * THE RULE LANGUAGE (also in docs/rules.md)
 *
 *   [signal speed]              an alias usable in expressions
 *   source = ESP_21.VehSpd      Message.Signal (required)
 *   stale_ms = 100              optional: older than this = missing
 *   bus = vehicle               optional: default the first bus (config
 *                               order) whose DBC has the message
 *
 *   [rule NAME]
 *   ref = CMVSS 141 S5.1 (proxy: alert commanded)     required
 *   kind = range|assert|implies|response|only_if|cycle|stale|rate|hysteresis
 *   description = ...           optional, free text
 *   severity = ...              optional, free text, copied to violations
 *   bus = NAME                  optional: the bus for Message.Signal names
 *                               and messages in this rule (default as above)
 *
 * Kinds and their keys (E = expression, N = number, ms = milliseconds):
 *   range      signal E, min N and/or max N, when E (optional). Violation
 *              while when holds and signal < min or > max. worst = signal,
 *              margin = distance inside the nearest limit (negative outside).
 *   assert     expect E, when E (optional, default always). Violation while
 *              when holds and expect is false.
 *   implies    when E, expect E, debounce_ms (0), settle_ms (0). when must
 *              hold for debounce_ms to count; from then expect must be true
 *              within settle_ms and stay true while when holds.
 *   response   trigger E, expect E, within_ms, clock = time |
 *              accumulate(E). When trigger becomes true (false or missing ->
 *              true), expect must become true within within_ms; with
 *              accumulate(E) only time while E holds counts ("within 20 min
 *              of driving at 50..100 km/h"). The trigger is an event: it
 *              stays armed when trigger goes false again (write expect as
 *              `lamp == 1 || !low` to release it). One window at a time.
 *              A window still open when the session ends is inconclusive.
 *              worst = elapsed ms, margin = within_ms - elapsed.
 *   only_if    signal E, allowed E: signal may be nonzero only while
 *              allowed holds.
 *   cycle      message NAME, period_ms (default GenMsgCycleTime), tol_pct
 *              (10). Every interval between arrivals must be within
 *              period * (1 +- tol_pct/100); a message that stops is found at
 *              the deadline. worst = interval ms. A run of bad intervals is
 *              one violation from the start of the first to the end of the
 *              last.
 *   stale      signal NAME or message NAME, max_age_ms: violation from the
 *              moment it is older than max_age_ms until it arrives again.
 *   rate       signal (a signal or alias), max_per_s: |change / time|
 *              between consecutive received values <= max_per_s.
 *   hysteresis signal E, set N, clear N, expect E: active from when signal
 *              reaches set until it goes back to clear (set > clear: rising,
 *              set < clear: falling); expect must hold while active.
 * For boolean expects, worst/margin come from the expression (expr.h
 * expr_margin: a comparison gives its left side and signed distance).
 *
 * Time. Limits written "within"/"older than"/"period" are inclusive: a frame
 * exactly at the limit is on time; the deadline fires one time unit later
 * (1 us, or 1 ns with [evidence] timestamps = ns) and a violation it finds
 * starts at the limit. held(), debounce_ms and settle_ms count from the
 * frame that made the condition true and are reached exactly at the limit.
 * Frame times, tick times and deadlines all lie on that grid, so a tick at
 * rules_next_deadline() always runs it. A frame older than the engine's
 * time is taken at the engine's time (time never goes back).
 *
 * Evaluation. A rule is evaluated (1) on every received frame of a message
 * it reads and (2) at its own deadlines (a stale_ms or held() expiring, a
 * response window, a cycle or stale timeout). rules_frame() first runs every
 * deadline up to the frame's time, in time order (ties: rule order), so the
 * daemon's timer calls and offline checking see the same evaluations and
 * produce byte-identical violations, however often rules_tick() is called.
 *
 * Outcomes and verdicts. Each evaluation is IDLE (condition false), OK,
 * VIOLATED, or UNKNOWN (a value it needed was missing or stale). Until the
 * rule's first non-UNKNOWN evaluation, UNKNOWN is start-up (buses come up in
 * any order) and not held against it; afterwards it makes the rule
 * INCONCLUSIVE. Verdicts: FAIL with any violation; else INCONCLUSIVE when an
 * input was missing when needed, or the rule was never decided at all (its
 * inputs never arrived); else PASS when its condition held at least once;
 * else NOT_EXERCISED. A needed value going missing ends an open violation
 * (it is no longer known to be violated).
 *
 * Violation JSON (one line; field order fixed):
 *   {"rule":..,"ref":..,"kind":..,["severity":..,]"t_start":..,"t_end":..,
 *    "worst":..,"margin":..,"lines":[first,last],"msg":..}
 * t_end is null in the start event. lines: the frame line of the start
 * (for a deadline, the last frame before it) and of the end. Times are seconds with 6 decimals, or
 * 9 with [evidence] timestamps = ns (frame times are otherwise taken to
 * the microsecond, as frames.log records them, so a live run and a later
 * check of its bundle agree); worst and margin are shortest round-trip
 * doubles or null; time kinds use ms.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/expr.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/rules.h"
#include "dbc/dbc.h"

enum rule_kind {
	K_RANGE,
	K_ASSERT,
	K_IMPLIES,
	K_RESPONSE,
	K_ONLY_IF,
	K_CYCLE,
	K_STALE,
	K_RATE,
	K_HYSTERESIS,
};

static const char *const kind_names[] = {
	"range", "assert", "implies", "response", "only_if",
	"cycle", "stale",  "rate",    "hysteresis",
};

/* Keys each kind accepts besides ref, kind, description, severity, bus. */
static const char *const kind_keys[][7] = {
	[K_RANGE] = { "signal", "min", "max", "when" },
	[K_ASSERT] = { "when", "expect" },
	[K_IMPLIES] = { "when", "expect", "debounce_ms", "settle_ms" },
	[K_RESPONSE] = { "trigger", "expect", "within_ms", "clock" },
	[K_ONLY_IF] = { "signal", "allowed" },
	[K_CYCLE] = { "message", "period_ms", "tol_pct" },
	[K_STALE] = { "signal", "message", "max_age_ms" },
	[K_RATE] = { "signal", "max_per_s" },
	[K_HYSTERESIS] = { "signal", "set", "clear", "expect" },
};

enum outcome { O_IDLE, O_OK, O_PENDING, O_VIOL, O_UNKNOWN };

struct viol {
	bool open;
	uint64_t t_start, t_end;
	double worst, margin;
	uint64_t line_first, line_last;
};

struct rule {
	char *name, *ref, *description, *severity, *file;
	unsigned line;
	enum rule_kind kind;
	int bus;                    /* -1: default */
	/* expressions (NULL when absent) */
	struct expr *x_signal, *x_when, *x_expect, *x_trigger, *x_cond;
	char *expect_text;
	/* parameters */
	double min, max, set, clear, max_per_s;
	bool has_min, has_max;
	uint64_t debounce_ns, settle_ns, within_ns, max_age_ns;
	uint64_t min_gap_ns, max_gap_ns;
	int32_t msg;                /* cycle, stale message: rmsg index */
	uint32_t slot;              /* stale: the slot watched */
	/* state */
	struct viol v;
	bool determined, exercised, unknown_after;
	uint64_t n_viol;
	char reason[160];
	bool reason_final;
	bool active;                /* implies: when holds; hysteresis: active */
	uint64_t since;             /* implies: when true since */
	bool armed, trig_prev, cond_prev; /* response */
	uint64_t t_trig, acc_ns, t_last_eval;
	bool have_prev;             /* cycle */
	uint64_t prev_t, prev_line;
};

/* A message some rule reads, on one bus. */
struct rmsg {
	int bus;
	const struct dbc_message *msg;
	uint32_t slot;              /* arrival slot */
	uint32_t *sig_slots;
	const struct dbc_signal **sigs;
	size_t n_sigs;
	uint32_t *rules;
	size_t n_rules;
	int32_t next;               /* next rmsg with the same bus and ID */
};

struct alias {
	char *name;
	uint32_t slot;
	uint64_t stale_ns;
	const struct dbc_signal *sig;
};

struct ext_entry {
	uint32_t id;
	int32_t msg;
};

struct bus_index {
	int32_t std[2048];
	struct ext_entry *ext;       /* sorted by id */
	size_t n_ext;
	int32_t *j1939;              /* rmsgs matched by PGN */
	size_t n_j1939;
};

struct rules {
	const struct config *cfg;
	struct rules_sink sink;
	struct rule *rules;
	size_t n_rules;
	struct rmsg *msgs;
	size_t n_msgs;
	struct expr_slot *slots;
	char **slot_names;
	size_t n_slots;
	struct alias *aliases;
	size_t n_aliases;
	struct bus_index *bidx;
	size_t n_buses;
	uint64_t now, line;
	uint64_t next_deadline;
	uint64_t *dl;               /* per rule: next deadline (packed, for scans) */
	bool ns_times;              /* [evidence] timestamps = ns: keep ns, print 9 decimals */
	uint64_t res;               /* time resolution: 1000 ns, or 1 with ns_times */
	bool finished;
	char *jbuf;
	size_t jsize;
};

/* ------------------------------------------------------------ utilities */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* 1-based column where key's value starts on line `line` of file, or 0. */
static unsigned value_col(const char *file, unsigned line, const char *key)
{
	FILE *fp;
	char buf[4096];
	unsigned n = 0, col = 0;

	if (!file || !line || !(fp = fopen(file, "r")))
		return 0;
	while (fgets(buf, sizeof(buf), fp)) {
		if (++n < line)
			continue;
		{
			char *p = buf;
			size_t k = strlen(key);

			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, key, k) != 0)
				break;
			p += k;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p != '=' && *p != ':')
				break;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			col = (unsigned)(p - buf) + 1;
		}
		break;
	}
	fclose(fp);
	return col;
}

__attribute__((format(printf, 5, 6)))
static void set_err(struct config_error *err, const char *file, unsigned line,
		    unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Number parse for rule keys: the whole value, finite. */
static int parse_num(const char *s, double *out)
{
	char *end;
	double v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return -1;
	v = strtod(s, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static bool is_ident(const char *s)
{
	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return p;
	{
		size_t c = *cap ? *cap * 2 : 8;
		void *q = realloc(p, c * elem);

		if (!q)
			return NULL;
		memset((char *)q + *cap * elem, 0, (c - *cap) * elem);
		*cap = c;
		return q;
	}
}

/* ------------------------------------------------------- compile: names */

struct compiler {
	struct rules *r;
	struct config_error *err;
	int rule_bus;              /* bus for names in the current section */
	size_t cap_msgs, cap_slots, cap_aliases;
};

static const struct dbc_message *find_message(const struct config_bus *b,
					      const char *name)
{
	for (size_t d = 0; d < b->n_dbc_paths; d++) {
		const struct dbc *db = b->dbcs ? b->dbcs[d] : NULL;

		if (!db)
			continue;
		for (size_t i = 0; i < db->n_messages; i++)
			if (strcmp(db->messages[i].name, name) == 0)
				return &db->messages[i];
	}
	return NULL;
}

static const struct dbc_signal *find_signal(const struct dbc_message *m,
					    const char *name)
{
	for (size_t i = 0; i < m->n_signals; i++)
		if (strcmp(m->signals[i].name, name) == 0)
			return &m->signals[i];
	return NULL;
}

static uint32_t new_slot(struct compiler *c, const char *name)
{
	struct rules *r = c->r;
	void *p = grow(r->slots, &c->cap_slots, r->n_slots, sizeof(*r->slots));
	char **names;

	if (!p)
		return UINT32_MAX;
	r->slots = p;
	names = realloc(r->slot_names, c->cap_slots * sizeof(*names));
	if (!names)
		return UINT32_MAX;
	r->slot_names = names;
	r->slot_names[r->n_slots] = strdup(name);
	if (!r->slot_names[r->n_slots])
		return UINT32_MAX;
	return (uint32_t)r->n_slots++;
}

/* The rmsg for (bus, msg), made on first use. -1 on out of memory. */
static int32_t get_rmsg(struct compiler *c, int bus,
			const struct dbc_message *m)
{
	struct rules *r = c->r;
	struct rmsg *rm;
	void *p;

	for (size_t i = 0; i < r->n_msgs; i++)
		if (r->msgs[i].bus == bus && r->msgs[i].msg == m)
			return (int32_t)i;
	p = grow(r->msgs, &c->cap_msgs, r->n_msgs, sizeof(*r->msgs));
	if (!p)
		return -1;
	r->msgs = p;
	rm = &r->msgs[r->n_msgs];
	memset(rm, 0, sizeof(*rm));
	rm->bus = bus;
	rm->msg = m;
	rm->next = -1;
	rm->slot = new_slot(c, m->name);
	if (rm->slot == UINT32_MAX)
		return -1;
	return (int32_t)r->n_msgs++;
}

static int64_t get_sig_slot(struct compiler *c, int32_t mi,
			    const struct dbc_signal *s)
{
	struct rmsg *rm = &c->r->msgs[mi];
	char name[300];
	uint32_t slot;
	void *p;

	for (size_t i = 0; i < rm->n_sigs; i++)
		if (rm->sigs[i] == s)
			return rm->sig_slots[i];
	snprintf(name, sizeof(name), "%s.%s", rm->msg->name, s->name);
	slot = new_slot(c, name);
	if (slot == UINT32_MAX)
		return -1;
	rm = &c->r->msgs[mi]; /* new_slot does not move msgs, but be plain */
	p = realloc(rm->sigs, (rm->n_sigs + 1) * sizeof(*rm->sigs));
	if (!p)
		return -1;
	rm->sigs = p;
	p = realloc(rm->sig_slots, (rm->n_sigs + 1) * sizeof(*rm->sig_slots));
	if (!p)
		return -1;
	rm->sig_slots = p;
	rm->sigs[rm->n_sigs] = s;
	rm->sig_slots[rm->n_sigs] = slot;
	rm->n_sigs++;
	return slot;
}

/* Find message name on bus (>= 0) or the first bus that has it. */
static const struct dbc_message *locate_message(struct compiler *c, int bus,
						const char *name, int *bus_out)
{
	const struct config *cfg = c->r->cfg;

	if (bus >= 0) {
		*bus_out = bus;
		return find_message(&cfg->buses[bus], name);
	}
	for (size_t b = 0; b < cfg->n_buses; b++) {
		const struct dbc_message *m = find_message(&cfg->buses[b], name);

		if (m) {
			*bus_out = (int)b;
			return m;
		}
	}
	return NULL;
}

static int resolve_msg_sig(struct compiler *c, int bus, const char *mname,
			   const char *sname, struct expr_ref *out, char *msg,
			   size_t msglen)
{
	const struct dbc_message *m;
	const struct dbc_signal *s;
	int b;
	int32_t mi;
	int64_t slot;

	m = locate_message(c, bus, mname, &b);
	if (!m) {
		if (bus >= 0)
			snprintf(msg, msglen, "unknown message %s on bus %s",
				 mname, c->r->cfg->buses[bus].name);
		else
			snprintf(msg, msglen, "unknown message %s", mname);
		return -1;
	}
	s = find_signal(m, sname);
	if (!s) {
		snprintf(msg, msglen, "unknown signal %s.%s", mname, sname);
		return -1;
	}
	mi = get_rmsg(c, b, m);
	slot = mi < 0 ? -1 : get_sig_slot(c, mi, s);
	if (slot < 0) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	out->slot = (uint32_t)slot;
	out->sig = s;
	out->stale_ns = 0;
	out->is_message = false;
	return 0;
}

static int resolve_cb(void *ctx, const char *name, const char *member,
		      struct expr_ref *out, char *msg, size_t msglen)
{
	struct compiler *c = ctx;
	struct rules *r = c->r;

	if (member)
		return resolve_msg_sig(c, c->rule_bus, name, member, out, msg,
				       msglen);
	for (size_t i = 0; i < r->n_aliases; i++)
		if (strcmp(r->aliases[i].name, name) == 0) {
			out->slot = r->aliases[i].slot;
			out->stale_ns = r->aliases[i].stale_ns;
			out->sig = r->aliases[i].sig;
			out->is_message = false;
			return 0;
		}
	{
		int b;
		const struct dbc_message *m =
			locate_message(c, c->rule_bus, name, &b);
		int32_t mi;

		if (m) {
			mi = get_rmsg(c, b, m);
			if (mi < 0) {
				snprintf(msg, msglen, "out of memory");
				return -1;
			}
			out->slot = r->msgs[mi].slot;
			out->stale_ns = 0;
			out->sig = NULL;
			out->is_message = true;
			return 0;
		}
	}
	snprintf(msg, msglen,
		 "unknown signal %s (not a [signal] alias; use Message.Signal)",
		 name);
	return -1;
}

/* ------------------------------------------------------ compile: rules */

static const struct config_kv *kv_get(const struct config_section *s,
				      const char *key)
{
	for (size_t i = 0; i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

static const char *sec_file(const struct compiler *c,
			    const struct config_section *s)
{
	return s->file ? s->file : c->r->cfg->path;
}

/* Compile kv's value (or text at offset off within it) as an expression. */
static struct expr *compile_kv_at(struct compiler *c,
				  const struct config_section *s,
				  const struct config_kv *kv, size_t off,
				  size_t len)
{
	struct expr_resolver res = { resolve_cb, c };
	struct expr_error xe;
	struct expr *e = expr_compile(kv->value + off, len, &res, &xe);

	if (!e) {
		unsigned vc = value_col(sec_file(c, s), kv->line, kv->key);

		set_err(c->err, sec_file(c, s), kv->line,
			vc ? vc + (unsigned)off + xe.col - 1 : 0, "%s%s: %s",
			vc ? "" : "in ", kv->key, xe.msg);
		if (!vc) /* no column: say where in the value */
			snprintf(c->err->msg, sizeof(c->err->msg),
				 "%s, character %u: %s", kv->key,
				 (unsigned)off + xe.col, xe.msg);
	}
	return e;
}

static struct expr *compile_kv(struct compiler *c,
			       const struct config_section *s,
			       const char *key, bool required)
{
	const struct config_kv *kv = kv_get(s, key);

	if (!kv) {
		if (required)
			set_err(c->err, sec_file(c, s), s->line, 0,
				"rule %s: missing key '%s'", s->name, key);
		return NULL;
	}
	return compile_kv_at(c, s, kv, 0, strlen(kv->value));
}

/* Numeric key: 0 absent (not required), 1 found, -1 error. */
static int num_kv(struct compiler *c, const struct config_section *s,
		  const char *key, bool required, double lo, double *out)
{
	const struct config_kv *kv = kv_get(s, key);

	if (!kv) {
		if (required) {
			set_err(c->err, sec_file(c, s), s->line, 0,
				"rule %s: missing key '%s'", s->name, key);
			return -1;
		}
		return 0;
	}
	if (parse_num(kv->value, out) < 0) {
		set_err(c->err, sec_file(c, s), kv->line,
			value_col(sec_file(c, s), kv->line, kv->key),
			"%s: expected a number, not \"%s\"", key, kv->value);
		return -1;
	}
	if (*out < lo) {
		set_err(c->err, sec_file(c, s), kv->line,
			value_col(sec_file(c, s), kv->line, kv->key),
			"%s: must be >= %g", key, lo);
		return -1;
	}
	return 1;
}

static int ms_kv(struct compiler *c, const struct config_section *s,
		 const char *key, bool required, bool positive, uint64_t *ns)
{
	double ms = 0;
	int rc = num_kv(c, s, key, required, 0, &ms);

	if (rc < 0)
		return -1;
	if (rc == 1 && (ms > 1e12 || (positive && ms <= 0))) {
		const struct config_kv *kv = kv_get(s, key);

		set_err(c->err, sec_file(c, s), kv->line,
			value_col(sec_file(c, s), kv->line, kv->key),
			"%s: must be %s", key,
			positive ? "> 0" : "a sane number of ms");
		return -1;
	}
	*ns = (uint64_t)llround(ms * 1e6);
	return rc;
}

/* A message name key: the rmsg index, or -1 with err. */
static int32_t message_kv(struct compiler *c, const struct config_section *s,
			  const struct config_kv *kv)
{
	const char *v = kv->value;
	const struct dbc_message *m;
	int b;
	int32_t mi;

	m = locate_message(c, c->rule_bus, v, &b);
	if (!m) {
		set_err(c->err, sec_file(c, s), kv->line,
			value_col(sec_file(c, s), kv->line, kv->key),
			"unknown message %s", v);
		return -1;
	}
	mi = get_rmsg(c, b, m);
	if (mi < 0)
		set_err(c->err, sec_file(c, s), kv->line, 0, "out of memory");
	return mi;
}

static int check_keys(struct compiler *c, const struct config_section *s,
		      enum rule_kind kind)
{
	static const char *const common[] = { "ref", "kind", "description",
					      "severity", "bus" };

	for (size_t i = 0; i < s->n_kv; i++) {
		const char *k = s->kv[i].key;
		bool ok = false;

		for (size_t j = 0; j < 5; j++)
			ok |= strcmp(k, common[j]) == 0;
		for (size_t j = 0; j < 7 && kind_keys[kind][j]; j++)
			ok |= strcmp(k, kind_keys[kind][j]) == 0;
		if (!ok) {
			set_err(c->err, sec_file(c, s), s->kv[i].line, 0,
				"rule %s: unknown key '%s' for kind %s",
				s->name, k, kind_names[kind]);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->kv[j].key, k) == 0) {
				set_err(c->err, sec_file(c, s), s->kv[i].line,
					0, "rule %s: duplicate key '%s'",
					s->name, k);
				return -1;
			}
	}
	return 0;
}

static int compile_rule(struct compiler *c, const struct config_section *s,
			struct rule *u)
{
	const struct config_kv *kv;
	const char *file = sec_file(c, s);
	double tol = 10, period = 0;
	int rc;

	u->name = xstrdup(s->name);
	u->file = xstrdup(file);
	u->line = s->line;
	u->bus = -1;
	u->msg = -1;
	if (!u->name || !u->file)
		goto oom;

	kv = kv_get(s, "kind");
	if (!kv) {
		set_err(c->err, file, s->line, 0, "rule %s: missing key 'kind'",
			s->name);
		return -1;
	}
	{
		size_t k;

		for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
			if (strcmp(kv->value, kind_names[k]) == 0)
				break;
		if (k == sizeof(kind_names) / sizeof(kind_names[0])) {
			set_err(c->err, file, kv->line,
				value_col(file, kv->line, "kind"),
				"rule %s: unknown kind \"%s\" (range, assert, "
				"implies, response, only_if, cycle, stale, "
				"rate, hysteresis)",
				s->name, kv->value);
			return -1;
		}
		u->kind = (enum rule_kind)k;
	}
	if (check_keys(c, s, u->kind) < 0)
		return -1;
	kv = kv_get(s, "ref");
	if (!kv || !kv->value[0]) {
		set_err(c->err, file, kv ? kv->line : s->line, 0,
			"rule %s: missing key 'ref' (the requirement it checks)",
			s->name);
		return -1;
	}
	u->ref = xstrdup(kv->value);
	if ((kv = kv_get(s, "description")))
		u->description = xstrdup(kv->value);
	if ((kv = kv_get(s, "severity")))
		u->severity = xstrdup(kv->value);
	if ((kv = kv_get(s, "bus"))) {
		u->bus = config_bus_index(c->r->cfg, kv->value);
		if (u->bus < 0) {
			set_err(c->err, file, kv->line,
				value_col(file, kv->line, "bus"),
				"rule %s: unknown bus %s", s->name, kv->value);
			return -1;
		}
	}
	c->rule_bus = u->bus;
	if (!u->ref)
		goto oom;

	switch (u->kind) {
	case K_RANGE:
		if (!(u->x_signal = compile_kv(c, s, "signal", true)))
			return -1;
		if ((rc = num_kv(c, s, "min", false, -INFINITY, &u->min)) < 0)
			return -1;
		u->has_min = rc == 1;
		if ((rc = num_kv(c, s, "max", false, -INFINITY, &u->max)) < 0)
			return -1;
		u->has_max = rc == 1;
		if (!u->has_min && !u->has_max) {
			set_err(c->err, file, s->line, 0,
				"rule %s: range needs min, max or both",
				s->name);
			return -1;
		}
		if (u->has_min && u->has_max && u->min > u->max) {
			set_err(c->err, file, kv_get(s, "max")->line, 0,
				"rule %s: max is below min", s->name);
			return -1;
		}
		if (kv_get(s, "when") && !(u->x_when = compile_kv(c, s, "when", false)))
			return -1;
		break;
	case K_ASSERT:
	case K_IMPLIES:
		if (kv_get(s, "when") || u->kind == K_IMPLIES)
			if (!(u->x_when = compile_kv(c, s, "when", true)))
				return -1;
		if (!(u->x_expect = compile_kv(c, s, "expect", true)))
			return -1;
		u->expect_text = xstrdup(kv_get(s, "expect")->value);
		if (u->kind == K_IMPLIES &&
		    (ms_kv(c, s, "debounce_ms", false, false, &u->debounce_ns) < 0 ||
		     ms_kv(c, s, "settle_ms", false, false, &u->settle_ns) < 0))
			return -1;
		break;
	case K_RESPONSE:
		if (!(u->x_trigger = compile_kv(c, s, "trigger", true)) ||
		    !(u->x_expect = compile_kv(c, s, "expect", true)))
			return -1;
		u->expect_text = xstrdup(kv_get(s, "expect")->value);
		if (ms_kv(c, s, "within_ms", true, true, &u->within_ns) < 0)
			return -1;
		if ((kv = kv_get(s, "clock")) && strcmp(kv->value, "time") != 0) {
			const char *v = kv->value;
			size_t n = strlen(v);

			if (strncmp(v, "accumulate", 10) != 0) {
				set_err(c->err, file, kv->line,
					value_col(file, kv->line, "clock"),
					"clock: expected time or accumulate(COND)");
				return -1;
			}
			{
				size_t open = 10;

				while (v[open] == ' ' || v[open] == '\t')
					open++;
				while (n > open && (v[n - 1] == ' ' || v[n - 1] == '\t'))
					n--;
				if (v[open] != '(' || n < open + 2 || v[n - 1] != ')') {
					set_err(c->err, file, kv->line,
						value_col(file, kv->line, "clock"),
						"clock: expected time or "
						"accumulate(COND)");
					return -1;
				}
				u->x_cond = compile_kv_at(c, s, kv, open + 1,
							  n - 1 - (open + 1));
				if (!u->x_cond)
					return -1;
			}
		}
		break;
	case K_ONLY_IF:
		if (!(u->x_when = compile_kv(c, s, "signal", true)) ||
		    !(u->x_expect = compile_kv(c, s, "allowed", true)))
			return -1;
		u->expect_text = xstrdup(kv_get(s, "allowed")->value);
		break;
	case K_CYCLE:
		kv = kv_get(s, "message");
		if (!kv) {
			set_err(c->err, file, s->line, 0,
				"rule %s: missing key 'message'", s->name);
			return -1;
		}
		if ((u->msg = message_kv(c, s, kv)) < 0)
			return -1;
		if ((rc = num_kv(c, s, "period_ms", false, 0, &period)) < 0)
			return -1;
		if (rc == 0) {
			period = c->r->msgs[u->msg].msg->cycle_time_ms;
			if (period <= 0) {
				set_err(c->err, file, s->line, 0,
					"rule %s: %s has no GenMsgCycleTime: "
					"set period_ms",
					s->name, kv->value);
				return -1;
			}
		} else if (period <= 0) {
			set_err(c->err, file, kv_get(s, "period_ms")->line, 0,
				"period_ms: must be > 0");
			return -1;
		}
		if (num_kv(c, s, "tol_pct", false, 0, &tol) < 0)
			return -1;
		if (tol >= 100) {
			set_err(c->err, file, kv_get(s, "tol_pct")->line, 0,
				"tol_pct: must be below 100");
			return -1;
		}
		u->min_gap_ns = (uint64_t)llround(period * (1 - tol / 100) * 1e6);
		u->max_gap_ns = (uint64_t)llround(period * (1 + tol / 100) * 1e6);
		break;
	case K_STALE: {
		const struct config_kv *ks = kv_get(s, "signal");
		const struct config_kv *km = kv_get(s, "message");

		if (!!ks == !!km) {
			set_err(c->err, file, s->line, 0,
				"rule %s: stale needs signal or message "
				"(one of them)",
				s->name);
			return -1;
		}
		if (ks) {
			struct expr_ref ref;

			if (!(u->x_signal = compile_kv(c, s, "signal", true)))
				return -1;
			if (!expr_is_ref(u->x_signal, &ref)) {
				set_err(c->err, file, ks->line,
					value_col(file, ks->line, "signal"),
					"signal: expected a signal name");
				return -1;
			}
			u->slot = ref.slot;
		} else {
			if ((u->msg = message_kv(c, s, km)) < 0)
				return -1;
			u->slot = c->r->msgs[u->msg].slot;
		}
		if (ms_kv(c, s, "max_age_ms", true, true, &u->max_age_ns) < 0)
			return -1;
		break;
	}
	case K_RATE: {
		const struct config_kv *ks = kv_get(s, "signal");
		struct expr *sig;
		char *text;

		if (!(sig = compile_kv(c, s, "signal", true)))
			return -1;
		if (!expr_is_ref(sig, NULL)) {
			expr_free(sig);
			set_err(c->err, file, ks->line,
				value_col(file, ks->line, "signal"),
				"signal: expected a signal name (use rate() in "
				"an assert for expressions)");
			return -1;
		}
		expr_free(sig);
		text = malloc(strlen(ks->value) + 16);
		if (!text)
			goto oom;
		sprintf(text, "rate(%s, 0)", ks->value);
		{
			struct config_kv tmp = *ks;

			tmp.value = text;
			u->x_signal = compile_kv_at(c, s, &tmp, 0, strlen(text));
		}
		free(text);
		if (!u->x_signal)
			return -1;
		if (num_kv(c, s, "max_per_s", true, 0, &u->max_per_s) < 0)
			return -1;
		break;
	}
	case K_HYSTERESIS:
		if (!(u->x_signal = compile_kv(c, s, "signal", true)) ||
		    !(u->x_expect = compile_kv(c, s, "expect", true)))
			return -1;
		u->expect_text = xstrdup(kv_get(s, "expect")->value);
		if (num_kv(c, s, "set", true, -INFINITY, &u->set) < 0 ||
		    num_kv(c, s, "clear", true, -INFINITY, &u->clear) < 0)
			return -1;
		if (u->set == u->clear) {
			set_err(c->err, file, kv_get(s, "clear")->line, 0,
				"rule %s: set and clear must differ", s->name);
			return -1;
		}
		break;
	}
	if (u->x_expect && !u->expect_text)
		goto oom;
	return 0;
oom:
	set_err(c->err, file, s->line, 0, "out of memory");
	return -1;
}

static int compile_alias(struct compiler *c, const struct config_section *s)
{
	const char *file = sec_file(c, s);
	const struct config_kv *src = NULL;
	struct rules *r = c->r;
	struct alias *a;
	uint64_t stale = 0;
	int bus = -1;
	char mname[256];
	const char *dot;
	struct expr_ref ref;
	char msg[200];
	void *p;

	if (!is_ident(s->name)) {
		set_err(c->err, file, s->line, 0,
			"signal name \"%s\": use letters, digits and _ only "
			"(it is a name in expressions)",
			s->name);
		return -1;
	}
	for (size_t i = 0; i < r->n_aliases; i++)
		if (strcmp(r->aliases[i].name, s->name) == 0) {
			set_err(c->err, file, s->line, 0,
				"duplicate signal %s", s->name);
			return -1;
		}
	for (size_t i = 0; i < s->n_kv; i++) {
		const struct config_kv *kv = &s->kv[i];

		for (size_t j = 0; j < i; j++)
			if (strcmp(s->kv[j].key, kv->key) == 0) {
				set_err(c->err, file, kv->line, 0,
					"signal %s: duplicate key '%s'",
					s->name, kv->key);
				return -1;
			}
		if (strcmp(kv->key, "source") == 0) {
			src = kv;
		} else if (strcmp(kv->key, "stale_ms") == 0) {
			double ms;

			if (parse_num(kv->value, &ms) < 0 || ms <= 0 || ms > 1e12) {
				set_err(c->err, file, kv->line,
					value_col(file, kv->line, kv->key),
					"stale_ms: expected a number of ms > 0");
				return -1;
			}
			stale = (uint64_t)llround(ms * 1e6);
		} else if (strcmp(kv->key, "bus") == 0) {
			bus = config_bus_index(r->cfg, kv->value);
			if (bus < 0) {
				set_err(c->err, file, kv->line,
					value_col(file, kv->line, kv->key),
					"unknown bus %s", kv->value);
				return -1;
			}
		} else {
			set_err(c->err, file, kv->line, 0,
				"signal %s: unknown key '%s' (source, stale_ms, "
				"bus)",
				s->name, kv->key);
			return -1;
		}
	}
	if (!src) {
		set_err(c->err, file, s->line, 0,
			"signal %s: missing key 'source' (Message.Signal)",
			s->name);
		return -1;
	}
	dot = strchr(src->value, '.');
	if (!dot || (size_t)(dot - src->value) >= sizeof(mname) ||
	    !is_ident(dot + 1)) {
		set_err(c->err, file, src->line,
			value_col(file, src->line, "source"),
			"source: expected Message.Signal, not \"%s\"",
			src->value);
		return -1;
	}
	memcpy(mname, src->value, (size_t)(dot - src->value));
	mname[dot - src->value] = '\0';
	if (resolve_msg_sig(c, bus, mname, dot + 1, &ref, msg, sizeof(msg)) <
	    0) {
		set_err(c->err, file, src->line,
			value_col(file, src->line, "source"), "source: %s",
			msg);
		return -1;
	}
	p = grow(r->aliases, &c->cap_aliases, r->n_aliases,
		 sizeof(*r->aliases));
	if (!p)
		goto oom;
	r->aliases = p;
	a = &r->aliases[r->n_aliases];
	a->name = strdup(s->name);
	if (!a->name)
		goto oom;
	a->slot = ref.slot;
	a->sig = ref.sig;
	a->stale_ns = stale;
	r->n_aliases++;
	return 0;
oom:
	set_err(c->err, file, s->line, 0, "out of memory");
	return -1;
}

static void add_dep(struct rules *r, int32_t mi, uint32_t rule)
{
	struct rmsg *m = &r->msgs[mi];
	uint32_t *p;

	if (m->n_rules && m->rules[m->n_rules - 1] == rule)
		return;
	p = realloc(m->rules, (m->n_rules + 1) * sizeof(*p));
	if (!p)
		return; /* caught by the caller's count check */
	m->rules = p;
	m->rules[m->n_rules++] = rule;
}

/* The rmsg a slot belongs to. */
static int32_t slot_msg(const struct rules *r, uint32_t slot)
{
	for (size_t i = 0; i < r->n_msgs; i++) {
		if (r->msgs[i].slot == slot)
			return (int32_t)i;
		for (size_t k = 0; k < r->msgs[i].n_sigs; k++)
			if (r->msgs[i].sig_slots[k] == slot)
				return (int32_t)i;
	}
	return -1;
}

static int build_deps(struct rules *r)
{
	for (size_t i = 0; i < r->n_rules; i++) {
		struct rule *u = &r->rules[i];
		struct expr *xs[] = { u->x_signal, u->x_when, u->x_expect,
				      u->x_trigger, u->x_cond };
		/* mark per rmsg, then add in rmsg order */
		bool *use = calloc(r->n_msgs + 1, sizeof(*use));

		if (!use)
			return -1;
		if (u->msg >= 0)
			use[u->msg] = true;
		for (size_t k = 0; k < 5; k++) {
			uint32_t in[64];
			size_t n;

			if (!xs[k])
				continue;
			n = expr_inputs(xs[k], in, 64);
			if (n > 64) {
				uint32_t *big = malloc(n * sizeof(*big));

				if (!big) {
					free(use);
					return -1;
				}
				expr_inputs(xs[k], big, n);
				for (size_t j = 0; j < n; j++) {
					int32_t m = slot_msg(r, big[j]);
					if (m >= 0)
						use[m] = true;
				}
				free(big);
				continue;
			}
			for (size_t j = 0; j < n; j++) {
				int32_t m = slot_msg(r, in[j]);

				if (m >= 0)
					use[m] = true;
			}
		}
		for (size_t m = 0; m < r->n_msgs; m++)
			if (use[m]) {
				size_t before = r->msgs[m].n_rules;

				add_dep(r, (int32_t)m, (uint32_t)i);
				if (r->msgs[m].n_rules == before) {
					free(use);
					return -1;
				}
			}
		free(use);
	}
	return 0;
}

static int cmp_ext(const void *a, const void *b)
{
	const struct ext_entry *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->msg < y->msg ? -1 : x->msg > y->msg;
}

static int build_index(struct rules *r)
{
	r->n_buses = r->cfg->n_buses;
	r->bidx = calloc(r->n_buses ? r->n_buses : 1, sizeof(*r->bidx));
	if (!r->bidx)
		return -1;
	for (size_t b = 0; b < r->n_buses; b++)
		for (size_t k = 0; k < 2048; k++)
			r->bidx[b].std[k] = -1;
	/* Walk backwards so each chain ends up in rmsg order. */
	for (size_t i = r->n_msgs; i-- > 0;) {
		struct rmsg *m = &r->msgs[i];
		struct bus_index *bi = &r->bidx[m->bus];

		if (!m->msg->extended) {
			if (m->msg->id < 2048) {
				m->next = bi->std[m->msg->id];
				bi->std[m->msg->id] = (int32_t)i;
			}
			continue;
		}
		if (m->msg->j1939) {
			int32_t *p = realloc(bi->j1939,
					     (bi->n_j1939 + 1) * sizeof(*p));
			if (!p)
				return -1;
			bi->j1939 = p;
			bi->j1939[bi->n_j1939++] = (int32_t)i;
		}
		{
			struct ext_entry *p = realloc(bi->ext,
						      (bi->n_ext + 1) * sizeof(*p));
			if (!p)
				return -1;
			bi->ext = p;
			bi->ext[bi->n_ext].id = m->msg->id;
			bi->ext[bi->n_ext].msg = (int32_t)i;
			bi->n_ext++;
		}
	}
	for (size_t b = 0; b < r->n_buses; b++) {
		struct bus_index *bi = &r->bidx[b];
		size_t out = 0;

		if (bi->n_ext > 1)
			qsort(bi->ext, bi->n_ext, sizeof(*bi->ext), cmp_ext);
		/* chain duplicates of one ID behind the first entry */
		for (size_t k = 0; k < bi->n_ext; k++) {
			if (out && bi->ext[out - 1].id == bi->ext[k].id) {
				int32_t last = bi->ext[out - 1].msg;

				while (r->msgs[last].next >= 0)
					last = r->msgs[last].next;
				r->msgs[last].next = bi->ext[k].msg;
				continue;
			}
			bi->ext[out++] = bi->ext[k];
		}
		bi->n_ext = out;
	}
	return 0;
}

struct rules *rules_compile(const struct config *cfg,
			    const struct rules_sink *sink,
			    struct config_error *err)
{
	struct rules *r = calloc(1, sizeof(*r));
	struct compiler c;
	size_t jsize = 1024;

	memset(&c, 0, sizeof(c));
	if (!r) {
		set_err(err, cfg->path, 0, 0, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->ns_times = cfg->evidence.nanoseconds;
	r->res = r->ns_times ? 1 : 1000;
	if (sink)
		r->sink = *sink;
	r->next_deadline = UINT64_MAX;
	c.r = r;
	c.err = err;
	for (size_t i = 0; i < cfg->n_signals; i++) {
		c.rule_bus = -1;
		if (compile_alias(&c, &cfg->signals[i]) < 0)
			goto fail;
	}
	r->rules = calloc(cfg->n_rules ? cfg->n_rules : 1, sizeof(*r->rules));
	r->dl = malloc((cfg->n_rules ? cfg->n_rules : 1) * sizeof(*r->dl));
	for (size_t i = 0; r->dl && i < cfg->n_rules; i++)
		r->dl[i] = UINT64_MAX;
	if (!r->rules || !r->dl) {
		set_err(err, cfg->path, 0, 0, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_section *s = &cfg->rules[i];

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->rules[j].name, s->name) == 0) {
				set_err(err, sec_file(&c, s), s->line, 0,
					"duplicate rule %s (first at %s:%u)",
					s->name, sec_file(&c, &cfg->rules[j]),
					cfg->rules[j].line);
				goto fail;
			}
		r->n_rules = i + 1;
		if (compile_rule(&c, s, &r->rules[i]) < 0)
			goto fail;
	}
	if (build_deps(r) < 0 || build_index(r) < 0) {
		set_err(err, cfg->path, 0, 0, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < r->n_rules; i++) {
		struct rule *u = &r->rules[i];
		size_t n = strlen(u->name) + strlen(u->ref) +
			   (u->severity ? strlen(u->severity) : 0) +
			   (u->expect_text ? strlen(u->expect_text) : 0);

		if (1024 + 6 * n > jsize)
			jsize = 1024 + 6 * n;
	}
	r->jbuf = malloc(jsize);
	r->jsize = jsize;
	if (!r->jbuf) {
		set_err(err, cfg->path, 0, 0, "out of memory");
		goto fail;
	}
	return r;
fail:
	rules_free(r);
	return NULL;
}

void rules_free(struct rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rules; i++) {
		struct rule *u = &r->rules[i];

		free(u->name);
		free(u->ref);
		free(u->description);
		free(u->severity);
		free(u->file);
		free(u->expect_text);
		expr_free(u->x_signal);
		expr_free(u->x_when);
		expr_free(u->x_expect);
		expr_free(u->x_trigger);
		expr_free(u->x_cond);
	}
	free(r->rules);
	free(r->dl);
	for (size_t i = 0; i < r->n_msgs; i++) {
		free(r->msgs[i].sig_slots);
		free(r->msgs[i].sigs);
		free(r->msgs[i].rules);
	}
	free(r->msgs);
	for (size_t i = 0; i < r->n_slots; i++)
		free(r->slot_names[i]);
	free(r->slot_names);
	free(r->slots);
	for (size_t i = 0; i < r->n_aliases; i++)
		free(r->aliases[i].name);
	free(r->aliases);
	if (r->bidx)
		for (size_t b = 0; b < r->n_buses; b++) {
			free(r->bidx[b].ext);
			free(r->bidx[b].j1939);
		}
	free(r->bidx);
	free(r->jbuf);
	free(r);
}

/* ------------------------------------------------------------ violations */

static void put_time(struct json *j, const struct rules *r, uint64_t t)
{
	char buf[40];
	int n;

	if (r->ns_times)
		n = snprintf(buf, sizeof(buf), "%" PRIu64 ".%09" PRIu64,
			     t / 1000000000u, t % 1000000000u);
	else
		n = snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64,
			     t / 1000000000u, (t % 1000000000u) / 1000u);
	json_raw(j, buf, (size_t)n);
}

static const char *fmt_num(double v, char *buf)
{
	json_format_double(v, buf);
	return buf;
}

static void viol_msg(const struct rules *r, const struct rule *u, char *msg,
		     size_t size)
{
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX], c[JSON_DOUBLE_MAX];
	double w = u->v.worst;

	(void)r;
	switch (u->kind) {
	case K_RANGE:
		if (u->has_max && w > u->max)
			snprintf(msg, size, "%s above max %s",
				 fmt_num(w, a), fmt_num(u->max, b));
		else
			snprintf(msg, size, "%s below min %s",
				 fmt_num(w, a), fmt_num(u->min, b));
		break;
	case K_RESPONSE:
		snprintf(msg, size, "no response within %s ms (%s ms)",
			 fmt_num((double)u->within_ns / 1e6, a),
			 fmt_num(w, b));
		break;
	case K_CYCLE:
		snprintf(msg, size, "interval %s ms outside %s..%s ms",
			 fmt_num(w, a), fmt_num((double)u->min_gap_ns / 1e6, b),
			 fmt_num((double)u->max_gap_ns / 1e6, c));
		break;
	case K_STALE:
		snprintf(msg, size, "%s not updated for %s ms (max %s ms)",
			 r->slot_names[u->slot], fmt_num(w, a),
			 fmt_num((double)u->max_age_ns / 1e6, b));
		break;
	case K_RATE:
		snprintf(msg, size, "rate %s /s beyond %s /s", fmt_num(w, a),
			 fmt_num(u->max_per_s, b));
		break;
	case K_ONLY_IF:
		snprintf(msg, size, "active while not allowed: %s",
			 u->expect_text);
		break;
	default:
		snprintf(msg, size, "expect false: %s", u->expect_text);
		break;
	}
}

/* The members that name a rule, first in both violations.jsonl and
 * verdicts.json so that the two read alike. */
static void rule_identity_json(struct json *j, const struct rule *u)
{
	json_key(j, "rule");
	json_string(j, u->name);
	json_key(j, "ref");
	json_string(j, u->ref);
	json_key(j, "kind");
	json_string(j, kind_names[u->kind]);
	if (u->severity) {
		json_key(j, "severity");
		json_string(j, u->severity);
	}
}

static void viol_emit(struct rules *r, struct rule *u, bool end)
{
	struct json j;
	char msg[512];

	json_init_buf(&j, r->jbuf, r->jsize);
	json_object_begin(&j);
	rule_identity_json(&j, u);
	json_key(&j, "t_start");
	put_time(&j, r, u->v.t_start);
	json_key(&j, "t_end");
	if (end)
		put_time(&j, r, u->v.t_end);
	else
		json_null(&j);
	json_key(&j, "worst");
	json_double(&j, u->v.worst);
	json_key(&j, "margin");
	json_double(&j, u->v.margin);
	json_key(&j, "lines");
	json_array_begin(&j);
	json_uint(&j, u->v.line_first);
	json_uint(&j, end ? u->v.line_last : u->v.line_first);
	json_array_end(&j);
	json_key(&j, "msg");
	viol_msg(r, u, msg, sizeof(msg));
	json_string(&j, msg);
	json_object_end(&j);
	json_finish(&j);
	if (end && r->sink.violation_end)
		r->sink.violation_end(r->sink.ctx, u->name, r->jbuf);
	else if (!end && r->sink.violation_start)
		r->sink.violation_start(r->sink.ctx, u->name, r->jbuf);
}

/* Open (at t_open, line_open) or extend the violation; track the worst. */
static void viol_extend(struct rules *r, struct rule *u, uint64_t t_open,
			uint64_t line_open, uint64_t t, uint64_t line,
			double worst, double margin)
{
	if (!u->v.open) {
		u->v.open = true;
		u->v.t_start = t_open;
		u->v.line_first = line_open;
		u->v.worst = worst;
		u->v.margin = margin;
		u->v.t_end = t;
		u->v.line_last = line;
		u->n_viol++;
		viol_emit(r, u, false);
		return;
	}
	if (!isnan(margin) && (isnan(u->v.margin) || margin < u->v.margin)) {
		u->v.worst = worst;
		u->v.margin = margin;
	}
	u->v.t_end = t;
	u->v.line_last = line;
}

static void viol_close(struct rules *r, struct rule *u, uint64_t t,
		       uint64_t line)
{
	if (!u->v.open)
		return;
	u->v.open = false;
	u->v.t_end = t;
	u->v.line_last = line;
	viol_emit(r, u, true);
}

/* ------------------------------------------------------------ evaluation */

static void note_unknown(struct rules *r, struct rule *u, uint64_t t,
			 int64_t slot, const char *why)
{
	char tb[40];

	if (u->determined)
		u->unknown_after = true;
	/* Keep the first reason; one found after start-up replaces a start-up
	 * one, since that is what the verdict rests on. */
	if (u->reason_final || (u->reason[0] && !u->determined))
		return;
	u->reason_final = u->determined;
	snprintf(tb, sizeof(tb), "%" PRIu64 ".%06" PRIu64, t / 1000000000u,
		 (t % 1000000000u) / 1000u);
	if (why)
		snprintf(u->reason, sizeof(u->reason), "%s at %s", why, tb);
	else if (slot >= 0 && (size_t)slot < r->n_slots)
		snprintf(u->reason, sizeof(u->reason), "%s %s at %s",
			 r->slot_names[slot],
			 r->slots[slot].valid ? "stale" : "not received", tb);
	else
		snprintf(u->reason, sizeof(u->reason),
			 "undefined value (division by zero) at %s", tb);
}

static void outcome(struct rules *r, struct rule *u, enum outcome o,
		    uint64_t t, uint64_t line, double worst, double margin,
		    int64_t missing_slot)
{
	switch (o) {
	case O_VIOL:
		u->determined = u->exercised = true;
		viol_extend(r, u, t, line, t, line, worst, margin);
		break;
	case O_OK:
	case O_PENDING:
		u->determined = u->exercised = true;
		if (o == O_OK)
			viol_close(r, u, t, line);
		break;
	case O_IDLE:
		u->determined = true;
		viol_close(r, u, t, line);
		break;
	case O_UNKNOWN:
		note_unknown(r, u, t, missing_slot, NULL);
		viol_close(r, u, t, line);
		break;
	}
}

/* The rule's condition holds now: its expect value decides the outcome. */
static void judge_expect(struct rules *r, struct rule *u, struct expr_value e,
			 int64_t missing_slot, uint64_t t, uint64_t line)
{
	double worst, margin;

	if (e.missing) {
		outcome(r, u, O_UNKNOWN, t, line, 0, 0, missing_slot);
	} else if (e.v == 0) {
		expr_margin(u->x_expect, &worst, &margin);
		outcome(r, u, O_VIOL, t, line, worst, margin, -1);
	} else {
		outcome(r, u, O_OK, t, line, 0, 0, -1);
	}
}

static inline struct expr_value run(struct expr *x, struct expr_eval *c)
{
	struct expr_value one = { 1, false };

	return x ? expr_eval(x, c) : one;
}

static inline bool truth(struct expr_value v)
{
	return !v.missing && v.v != 0;
}

static void eval_rule(struct rules *r, size_t idx, uint64_t t, uint64_t line,
		      int32_t from_msg)
{
	struct rule *u = &r->rules[idx];
	struct expr_eval c = { r->slots, t, UINT64_MAX, -1, r->res };
	struct expr_value s, w, e, trig, cond;
	uint64_t dl = UINT64_MAX;
	double worst, margin;

	switch (u->kind) {
	case K_RANGE:
		w = run(u->x_when, &c);
		s = run(u->x_signal, &c);
		if (w.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else if (w.v == 0) {
			outcome(r, u, O_IDLE, t, line, 0, 0, -1);
		} else if (s.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else {
			margin = INFINITY;
			if (u->has_min)
				margin = s.v - u->min;
			if (u->has_max && u->max - s.v < margin)
				margin = u->max - s.v;
			outcome(r, u, margin < 0 ? O_VIOL : O_OK, t, line, s.v,
				margin, -1);
		}
		break;
	case K_ASSERT:
	case K_ONLY_IF:
		w = run(u->x_when, &c);
		e = run(u->x_expect, &c);
		if (w.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else if (w.v == 0) {
			outcome(r, u, O_IDLE, t, line, 0, 0, -1);
		} else {
			judge_expect(r, u, e, c.missing_slot, t, line);
		}
		break;
	case K_IMPLIES:
		w = run(u->x_when, &c);
		e = run(u->x_expect, &c);
		if (!truth(w)) {
			u->active = false;
			outcome(r, u, w.missing ? O_UNKNOWN : O_IDLE, t, line, 0,
				0, c.missing_slot);
			break;
		}
		if (!u->active) {
			u->active = true;
			u->since = t;
		}
		/* debounce is reached at its limit (like held()); settle is
		 * a "within": a frame exactly at its end is on time */
		if (t - u->since < u->debounce_ns) {
			outcome(r, u, O_IDLE, t, line, 0, 0, -1);
			dl = u->settle_ns ? u->since + u->debounce_ns +
						    u->settle_ns + r->res
					  : u->since + u->debounce_ns;
		} else if (u->settle_ns &&
			   t - u->since <= u->debounce_ns + u->settle_ns) {
			outcome(r, u, O_PENDING, t, line, 0, 0, -1);
			dl = u->since + u->debounce_ns + u->settle_ns + r->res;
		} else if (e.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else if (e.v == 0) {
			/* found by the settle deadline: it began at the limit */
			uint64_t lim = u->since + u->debounce_ns + u->settle_ns;
			uint64_t t0 = u->settle_ns && t > lim && t - lim <= r->res
					      ? lim
					      : t;

			expr_margin(u->x_expect, &worst, &margin);
			u->determined = u->exercised = true;
			viol_extend(r, u, t0, line, t, line, worst, margin);
		} else {
			outcome(r, u, O_OK, t, line, 0, 0, -1);
		}
		break;
	case K_RESPONSE:
		if (u->armed && !u->x_cond)
			u->acc_ns = t - u->t_trig;
		else if (u->armed && u->cond_prev)
			u->acc_ns += t - u->t_last_eval;
		trig = run(u->x_trigger, &c);
		e = run(u->x_expect, &c);
		cond = run(u->x_cond, &c);
		u->t_last_eval = t;
		u->cond_prev = truth(cond);
		if (u->armed) {
			double el = (double)u->acc_ns / 1e6;
			double lim = (double)u->within_ns / 1e6;

			if (truth(e)) {
				u->armed = false;
				if (u->v.open) {
					u->v.worst = el;
					u->v.margin = lim - el;
				}
				outcome(r, u, O_OK, t, line, 0, 0, -1);
			} else if (u->acc_ns > u->within_ns) {
				/* opened at the moment the window ran out */
				uint64_t over = u->acc_ns - u->within_ns;
				uint64_t t0 = t - (over < t ? over : 0);

				u->determined = u->exercised = true;
				if (!u->v.open)
					viol_extend(r, u, t0, line, t, line, el,
						    lim - el);
				else
					viol_extend(r, u, 0, 0, t, line, el,
						    lim - el);
				if (e.missing)
					note_unknown(r, u, t, c.missing_slot,
						     NULL);
			} else if (e.missing || (u->x_cond && cond.missing)) {
				outcome(r, u, O_UNKNOWN, t, line, 0, 0,
					c.missing_slot);
				if (!u->x_cond)
					dl = u->t_trig + u->within_ns + r->res;
				else if (u->cond_prev)
					dl = t + (u->within_ns - u->acc_ns) + r->res;
			} else {
				outcome(r, u, O_PENDING, t, line, 0, 0, -1);
				if (!u->x_cond)
					dl = u->t_trig + u->within_ns + r->res;
				else if (u->cond_prev)
					dl = t + (u->within_ns - u->acc_ns) + r->res;
			}
		} else if (trig.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else if (trig.v != 0 && !u->trig_prev) {
			if (truth(e)) {
				outcome(r, u, O_OK, t, line, 0, 0, -1);
			} else {
				u->armed = true;
				u->t_trig = t;
				u->acc_ns = 0;
				outcome(r, u, O_PENDING, t, line, 0, 0, -1);
				if (!u->x_cond)
					dl = t + u->within_ns + r->res;
				else if (u->cond_prev)
					dl = t + u->within_ns + r->res;
			}
		} else {
			outcome(r, u, O_IDLE, t, line, 0, 0, -1);
		}
		u->trig_prev = truth(trig);
		break;
	case K_CYCLE:
		if (from_msg == u->msg) {
			if (u->have_prev) {
				uint64_t dt = t - u->prev_t;
				double ms = (double)dt / 1e6;

				u->determined = u->exercised = true;
				if (dt < u->min_gap_ns)
					viol_extend(r, u, u->prev_t, u->prev_line,
						    t, line, ms,
						    ms - (double)u->min_gap_ns / 1e6);
				else if (dt > u->max_gap_ns)
					viol_extend(r, u, u->prev_t, u->prev_line,
						    t, line, ms,
						    (double)u->max_gap_ns / 1e6 - ms);
				else
					viol_close(r, u, u->prev_t, u->prev_line);
			} else {
				u->determined = true;
			}
			u->have_prev = true;
			u->prev_t = t;
			u->prev_line = line;
		} else if (u->have_prev && t - u->prev_t > u->max_gap_ns) {
			double ms = (double)(t - u->prev_t) / 1e6;

			viol_extend(r, u, u->prev_t, u->prev_line, t, line, ms,
				    (double)u->max_gap_ns / 1e6 - ms);
		}
		if (u->have_prev && t - u->prev_t <= u->max_gap_ns)
			dl = u->prev_t + u->max_gap_ns + r->res;
		break;
	case K_STALE: {
		const struct expr_slot *sl = &r->slots[u->slot];
		uint64_t age;

		if (!sl->valid)
			break;
		u->determined = u->exercised = true;
		age = t - sl->t_ns;
		if (age > u->max_age_ns) {
			double ms = (double)age / 1e6;

			viol_extend(r, u, sl->t_ns + u->max_age_ns, line, t,
				    line, ms,
				    (double)u->max_age_ns / 1e6 - ms);
		} else {
			if (u->v.open && sl->pvalid) {
				double ms = (double)(sl->t_ns - sl->pt_ns) / 1e6;

				viol_extend(r, u, 0, 0, t, line, ms,
					    (double)u->max_age_ns / 1e6 - ms);
				viol_close(r, u, t, line);
			}
			dl = sl->t_ns + u->max_age_ns + r->res;
		}
		break;
	}
	case K_RATE:
		s = run(u->x_signal, &c);
		if (s.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
		} else {
			margin = u->max_per_s - fabs(s.v);
			outcome(r, u, margin < 0 ? O_VIOL : O_OK, t, line, s.v,
				margin, -1);
		}
		break;
	case K_HYSTERESIS:
		s = run(u->x_signal, &c);
		e = run(u->x_expect, &c);
		if (s.missing) {
			outcome(r, u, O_UNKNOWN, t, line, 0, 0, c.missing_slot);
			break;
		}
		if (u->set > u->clear) {
			if (!u->active && s.v >= u->set)
				u->active = true;
			else if (u->active && s.v <= u->clear)
				u->active = false;
		} else {
			if (!u->active && s.v <= u->set)
				u->active = true;
			else if (u->active && s.v >= u->clear)
				u->active = false;
		}
		if (!u->active)
			outcome(r, u, O_IDLE, t, line, 0, 0, -1);
		else
			judge_expect(r, u, e, c.missing_slot, t, line);
		break;
	}
	if (c.deadline_ns < dl)
		dl = c.deadline_ns;
	/* on the resolution grid, so that a tick truncated to it runs it */
	if (dl != UINT64_MAX && dl % r->res)
		dl += r->res - dl % r->res;
	if (dl <= t) /* cannot happen; never loop on it */
		dl = UINT64_MAX;
	if (dl != r->dl[idx]) {
		uint64_t old = r->dl[idx];

		r->dl[idx] = dl;
		if (dl < r->next_deadline) {
			r->next_deadline = dl;
		} else if (old == r->next_deadline) {
			uint64_t m = UINT64_MAX;

			for (size_t i = 0; i < r->n_rules; i++)
				if (r->dl[i] < m)
					m = r->dl[i];
			r->next_deadline = m;
		}
	}
}

void rules_tick(struct rules *r, uint64_t now_ns)
{
	if (!r || r->finished)
		return;
	/* the same resolution as frame times, or a tick could run a deadline
	 * that the frame it precedes (truncated) would not */
	if (!r->ns_times)
		now_ns -= now_ns % 1000u;
	while (r->next_deadline <= now_ns) {
		uint64_t t = r->next_deadline;
		size_t i;

		for (i = 0; i < r->n_rules; i++)
			if (r->dl[i] == t)
				break;
		if (i == r->n_rules) { /* stale cache: recompute */
			r->next_deadline = UINT64_MAX;
			for (size_t k = 0; k < r->n_rules; k++)
				if (r->dl[k] < r->next_deadline)
					r->next_deadline = r->dl[k];
			continue;
		}
		if (t > r->now)
			r->now = t;
		eval_rule(r, i, r->now, r->line, -1);
	}
}

uint64_t rules_next_deadline(const struct rules *r)
{
	return r && !r->finished ? r->next_deadline : UINT64_MAX;
}

static int32_t lookup(const struct rules *r, int bus, const struct frame *f)
{
	const struct bus_index *bi;

	if (bus < 0 || (size_t)bus >= r->n_buses)
		return -1;
	bi = &r->bidx[bus];
	if (!f->ext)
		return f->id < 2048 ? bi->std[f->id] : -1;
	{
		size_t lo = 0, hi = bi->n_ext;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (bi->ext[mid].id < f->id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < bi->n_ext && bi->ext[lo].id == f->id)
			return bi->ext[lo].msg;
	}
	/* J1939: match by PGN whatever the source address and priority */
	for (size_t k = 0; k < bi->n_j1939; k++) {
		const struct dbc_message *m = r->msgs[bi->j1939[k]].msg;
		uint32_t pa = (f->id >> 8) & 0x3FFFF, pb = (m->id >> 8) & 0x3FFFF;

		if (((pa >> 8) & 0xFF) < 240) {
			pa &= 0x3FF00;
			pb &= 0x3FF00;
		}
		if (pa == pb)
			return bi->j1939[k];
	}
	return -1;
}

static inline void slot_set(struct expr_slot *s, double v, uint64_t t)
{
	s->pv = s->v;
	s->pt_ns = s->t_ns;
	s->pvalid = s->valid;
	s->v = v;
	s->t_ns = t;
	s->valid = true;
}

void rules_frame(struct rules *r, int bus, const struct frame *f,
		 uint64_t line)
{
	uint64_t t;
	int32_t mi;

	if (!r || r->finished || f->err || f->rtr)
		return;
	/* Rules see frame times as frames.log records them (microseconds
	 * unless [evidence] timestamps = ns), so that checking the bundle later
	 * gives the same violations as the live run. */
	t = r->ns_times ? f->t_ns : f->t_ns - f->t_ns % 1000u;
	if (t < r->now)
		t = r->now;
	rules_tick(r, t);
	r->now = t;
	r->line = line;
	for (mi = lookup(r, bus, f); mi >= 0; mi = r->msgs[mi].next) {
		struct rmsg *m = &r->msgs[mi];

		if (m->msg->extended != f->ext)
			continue;
		slot_set(&r->slots[m->slot], 0, t);
		for (size_t k = 0; k < m->n_sigs; k++) {
			const struct dbc_signal *sig = m->sigs[k];

			if (sig->last_byte >= f->len)
				continue;
			if (sig->mux_parent >= 0 &&
			    !dbc_signal_active(m->msg, sig, f->data, f->len))
				continue;
			slot_set(&r->slots[m->sig_slots[k]],
				 dbc_signal_phys(sig, dbc_signal_raw(sig, f->data,
								     f->len)),
				 t);
		}
		for (size_t k = 0; k < m->n_rules; k++)
			eval_rule(r, m->rules[k], t, line, mi);
	}
}

void rules_finish(struct rules *r, uint64_t end_ns)
{
	if (!r || r->finished)
		return;
	if (!r->ns_times)
		end_ns -= end_ns % 1000u;
	if (end_ns < r->now)
		end_ns = r->now;
	rules_tick(r, end_ns);
	r->now = end_ns;
	for (size_t i = 0; i < r->n_rules; i++) {
		struct rule *u = &r->rules[i];

		switch (u->kind) {
		case K_RESPONSE:
			if (u->armed) {
				uint64_t acc = u->acc_ns;

				if (!u->x_cond)
					acc = end_ns - u->t_trig;
				else if (u->cond_prev)
					acc += end_ns - u->t_last_eval;
				if (u->v.open) {
					double el = (double)acc / 1e6;

					viol_extend(r, u, 0, 0, end_ns, r->line,
						    el,
						    (double)u->within_ns / 1e6 -
							    el);
				} else {
					note_unknown(r, u, end_ns, -1,
						     "session ended inside the "
						     "response window");
					u->unknown_after = true;
				}
			}
			viol_close(r, u, end_ns, r->line);
			break;
		case K_CYCLE:
			if (u->v.open) {
				if (end_ns - u->prev_t > u->max_gap_ns) {
					double ms = (double)(end_ns - u->prev_t) / 1e6;

					viol_extend(r, u, 0, 0, end_ns, r->line,
						    ms,
						    (double)u->max_gap_ns / 1e6 - ms);
					viol_close(r, u, end_ns, r->line);
				} else {
					viol_close(r, u, u->prev_t, u->prev_line);
				}
			}
			break;
		case K_STALE:
			if (u->v.open) {
				const struct expr_slot *sl = &r->slots[u->slot];
				double ms = (double)(end_ns - sl->t_ns) / 1e6;

				viol_extend(r, u, 0, 0, end_ns, r->line, ms,
					    (double)u->max_age_ns / 1e6 - ms);
			}
			viol_close(r, u, end_ns, r->line);
			break;
		default:
			viol_close(r, u, end_ns, r->line);
			break;
		}
		r->dl[i] = UINT64_MAX;
	}
	r->next_deadline = UINT64_MAX;
	r->finished = true;
}

/* --------------------------------------------------------------- verdicts */

size_t rules_count(const struct rules *r)
{
	return r ? r->n_rules : 0;
}

enum rules_verdict rules_verdict(const struct rules *r, size_t i)
{
	const struct rule *u = &r->rules[i];

	if (u->n_viol)
		return VERDICT_FAIL;
	if (u->unknown_after || !u->determined)
		return VERDICT_INCONCLUSIVE;
	if (u->exercised)
		return VERDICT_PASS;
	return VERDICT_NOT_EXERCISED;
}

const char *rules_name(const struct rules *r, size_t i)
{
	return r->rules[i].name;
}

const char *rules_verdict_name(enum rules_verdict v)
{
	switch (v) {
	case VERDICT_PASS: return "PASS";
	case VERDICT_FAIL: return "FAIL";
	case VERDICT_NOT_EXERCISED: return "NOT_EXERCISED";
	case VERDICT_INCONCLUSIVE: return "INCONCLUSIVE";
	}
	return "?";
}

uint64_t rules_violations(const struct rules *r, size_t i)
{
	return r->rules[i].n_viol;
}

/* Why rule i is INCONCLUSIVE ("" otherwise). */
static const char *reason_of(const struct rules *r, size_t i)
{
	const struct rule *u = &r->rules[i];

	if (rules_verdict(r, i) != VERDICT_INCONCLUSIVE)
		return "";
	if (u->reason[0])
		return u->reason;
	return "no input received";
}

char *rules_verdicts_json(const struct rules *r)
{
	struct json j;
	size_t size = 256;
	char *buf;

	for (size_t i = 0; r && i < r->n_rules; i++) {
		const struct rule *u = &r->rules[i];

		size += 256 + 6 * (strlen(u->name) + strlen(u->ref) +
				   (u->severity ? strlen(u->severity) : 0) +
				   (u->description ? strlen(u->description) : 0) +
				   strlen(u->reason));
	}
	buf = malloc(size);
	if (!buf)
		return NULL;
	json_init_buf(&j, buf, size);
	json_object_begin(&j);
	json_key(&j, "rules");
	json_array_begin(&j);
	for (size_t i = 0; r && i < r->n_rules; i++) {
		const struct rule *u = &r->rules[i];
		enum rules_verdict v = rules_verdict(r, i);

		json_object_begin(&j);
		rule_identity_json(&j, u);
		if (u->description) {
			json_key(&j, "description");
			json_string(&j, u->description);
		}
		json_key(&j, "verdict");
		json_string(&j, rules_verdict_name(v));
		json_key(&j, "violations");
		json_uint(&j, u->n_viol);
		if (v == VERDICT_INCONCLUSIVE) {
			json_key(&j, "reason");
			json_string(&j, reason_of(r, i));
		}
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	if (json_finish(&j) < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void rules_print_table(const struct rules *r, void *file)
{
	FILE *fp = file;
	size_t w = 4, counts[4] = { 0, 0, 0, 0 };

	for (size_t i = 0; r && i < r->n_rules; i++)
		if (strlen(r->rules[i].name) > w)
			w = strlen(r->rules[i].name);
	fprintf(fp, "%-*s  %-10s  %-13s  %5s  %s\n", (int)w, "RULE", "KIND",
		"VERDICT", "VIOL", "REF");
	for (size_t i = 0; r && i < r->n_rules; i++) {
		const struct rule *u = &r->rules[i];
		enum rules_verdict v = rules_verdict(r, i);

		counts[v]++;
		fprintf(fp, "%-*s  %-10s  %-13s  %5" PRIu64 "  %s", (int)w,
			u->name, kind_names[u->kind], rules_verdict_name(v),
			u->n_viol, u->ref);
		if (v == VERDICT_INCONCLUSIVE)
			fprintf(fp, "  (%s)", reason_of(r, i));
		fputc('\n', fp);
	}
	fprintf(fp, "%zu rules: %zu PASS, %zu FAIL, %zu NOT_EXERCISED, "
		"%zu INCONCLUSIVE\n",
		r ? r->n_rules : 0, counts[VERDICT_PASS], counts[VERDICT_FAIL],
		counts[VERDICT_NOT_EXERCISED], counts[VERDICT_INCONCLUSIVE]);
}
