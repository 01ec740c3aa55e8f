/*
 * rules.c: the rules engine (API in rules.h, expressions in expr.h, the
 * kinds' table and internals in rules_impl.h).
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
 *   active_when = E             optional: the rule is active only while E
 *                               holds (docs/rules.md); [bus] silent_ms
 *                               suspends cycle and stale rules on a bus
 *                               without frames (see rules_tick)
 *
 * Kinds and their keys: each kind's file says (rules_value.c: range, rate;
 * rules_logic.c: assert, only_if, implies, hysteresis; rules_time.c:
 * response, cycle, stale); rules_impl.h explains the kind table.
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
 * check of its bundle agree); worst and margin are rounded to the rule's
 * resolution (rule_decimals()) and printed shortest round-trip, or null;
 * time kinds use ms.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/array.h"
#include "daemon/core/config.h"
#include "daemon/core/expr.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/rules.h"
#include "daemon/core/suggest.h"
#include "daemon/core/rules_impl.h"
#include "dbc/dbc.h"

#define X(k) &rule_kind_##k,
static const struct rule_kind *const kinds[] = { RULE_KINDS(X) };
#undef X
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* ------------------------------------------------------------ utilities */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* 1-based column where key's value starts on line `line` of file, or 0. */
unsigned rules_value_col(const char *file, unsigned line, const char *key)
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

void rules_set_err(struct config_error *err, const char *file, unsigned line,
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

/* ------------------------------------------------------- compile: names */

static uint32_t new_slot(struct compiler *c, const char *name)
{
	struct rules *r = c->r;
	void *p = array_grow(r->slots, &c->cap_slots, r->n_slots,
			     sizeof(*r->slots));
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
	p = array_grow(r->msgs, &c->cap_msgs, r->n_msgs, sizeof(*r->msgs));
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
	return config_find_message(c->r->cfg, bus, name, bus_out);
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
	s = dbc_signal_by_name(m, sname);
	if (!s) {
		struct suggest sg;
		char hint[96];

		suggest_init(&sg, sname);
		for (size_t i = 0; i < m->n_signals; i++)
			suggest_offer(&sg, m->signals[i].name);
		snprintf(msg, msglen, "unknown signal %s.%s%s", mname, sname,
			 suggest_hint(&sg, hint, sizeof(hint)));
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

/* Decimal places of x (0.01 -> 2, 0.03125 -> 5), or ROUND_NONE when it
 * has no short decimal form. */
#define ROUND_NONE 99
static int decimals_of(double x)
{
	double p = 1;

	for (int d = 0; d <= 12; d++, p *= 10) {
		double y = fabs(x) * p;

		if (fabs(y - round(y)) <= 1e-9 * fmax(1, y))
			return d;
	}
	return ROUND_NONE;
}

/* Note the resolution of a signal the rule reads: its values are
 * multiples of the factor from the offset (float signals are not). */
static void note_signal(struct compiler *c, const struct dbc_signal *sig)
{
	int d;

	if (!sig)
		return;
	d = sig->value_type != DBC_VALUE_INTEGER ? ROUND_NONE :
	    decimals_of(sig->factor);
	if (d != ROUND_NONE && decimals_of(sig->offset) > d)
		d = decimals_of(sig->offset);
	if (d > c->sig_decimals)
		c->sig_decimals = d;
}

static int resolve_cb(void *ctx, const char *name, const char *member,
		      struct expr_ref *out, char *msg, size_t msglen)
{
	struct compiler *c = ctx;
	struct rules *r = c->r;
	int rc;

	if (member) {
		rc = resolve_msg_sig(c, c->rule_bus, name, member, out, msg,
				     msglen);
		if (rc == 0)
			note_signal(c, out->sig);
		return rc;
	}
	for (size_t i = 0; i < r->n_aliases; i++)
		if (strcmp(r->aliases[i].name, name) == 0) {
			out->slot = r->aliases[i].slot;
			out->stale_ns = r->aliases[i].stale_ns;
			out->sig = r->aliases[i].sig;
			out->is_message = false;
			note_signal(c, out->sig);
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
	{
		struct suggest sg;
		char hint[96];

		suggest_init(&sg, name);
		for (size_t i = 0; i < r->n_aliases; i++)
			suggest_offer(&sg, r->aliases[i].name);
		snprintf(msg, msglen,
			 "unknown signal %s (not a [signal] alias; use "
			 "Message.Signal)%s",
			 name, suggest_hint(&sg, hint, sizeof(hint)));
	}
	return -1;
}

/* ------------------------------------------------------ compile: rules */

const char *rules_sec_file(const struct compiler *c,
			   const struct config_section *s)
{
	return s->file ? s->file : c->r->cfg->path;
}

struct expr *rules_expr_at(struct compiler *c, const struct config_section *s,
			   const struct config_kv *kv, size_t off, size_t len)
{
	struct expr_resolver res = { resolve_cb, c };
	struct expr_error xe;
	struct expr *e = expr_compile(kv->value + off, len, &res, &xe);

	if (!e) {
		unsigned vc = rules_value_col(rules_sec_file(c, s), kv->line,
					      kv->key);

		rules_set_err(c->err, rules_sec_file(c, s), kv->line,
			      vc ? vc + (unsigned)off + xe.col - 1 : 0,
			      "%s%s: %s", vc ? "" : "in ", kv->key, xe.msg);
		if (!vc) /* no column: say where in the value */
			snprintf(c->err->msg, sizeof(c->err->msg),
				 "%s, character %u: %s", kv->key,
				 (unsigned)off + xe.col, xe.msg);
	}
	return e;
}

int rules_keep_expr(struct compiler *c, const struct config_section *s,
		    struct rule *u, const char *key, const char *text,
		    struct expr *x)
{
	struct rule_expr *re = &u->exprs[u->n_exprs];

	if (u->n_exprs == RULE_MAX_EXPRS || !(re->text = strdup(text))) {
		expr_free(x);
		rules_set_err(c->err, rules_sec_file(c, s), s->line, 0,
			      "out of memory");
		return -1;
	}
	re->key = key;
	re->x = x;
	u->n_exprs++;
	/* violations quote what the rule expects */
	if (strcmp(key, "expect") == 0 || strcmp(key, "allowed") == 0)
		u->expect_text = re->text;
	return 0;
}

struct expr *rules_expr_kv(struct compiler *c, const struct config_section *s,
			   struct rule *u, const char *key, bool required)
{
	const struct config_kv *kv = config_kv(s, key);
	struct expr *x;

	if (!kv) {
		if (required)
			rules_set_err(c->err, rules_sec_file(c, s), s->line, 0,
				      "rule %s: missing key '%s'", s->name,
				      key);
		return NULL;
	}
	x = rules_expr_at(c, s, kv, 0, strlen(kv->value));
	if (!x || rules_keep_expr(c, s, u, kv->key, kv->value, x) < 0)
		return NULL;
	return x;
}

int rules_num_kv(struct compiler *c, const struct config_section *s,
		 const char *key, bool required, double lo, double *out)
{
	const struct config_kv *kv = config_kv(s, key);
	const char *file = rules_sec_file(c, s);

	if (!kv) {
		if (required) {
			rules_set_err(c->err, file, s->line, 0,
				      "rule %s: missing key '%s'", s->name,
				      key);
			return -1;
		}
		return 0;
	}
	if (parse_num(kv->value, out) < 0) {
		rules_set_err(c->err, file, kv->line,
			      rules_value_col(file, kv->line, kv->key),
			      "%s: expected a number, not \"%s\"", key,
			      kv->value);
		return -1;
	}
	if (*out < lo) {
		rules_set_err(c->err, file, kv->line,
			      rules_value_col(file, kv->line, kv->key),
			      "%s: must be >= %g", key, lo);
		return -1;
	}
	return 1;
}

/* A duration key (key is NAME_ms) or its unit form NAME: one syntax, see
 * config_parse_duration_kv(). */
int rules_ms_kv(struct compiler *c, const struct config_section *s,
		const char *key, bool required, bool positive, uint64_t *ns)
{
	const char *file = rules_sec_file(c, s);
	char unit[64], msg[200];
	const struct config_kv *kv = config_kv(s, key), *ku;

	snprintf(unit, sizeof(unit), "%.*s", (int)strlen(key) - 3, key);
	ku = config_kv(s, unit);
	if (kv && ku) {
		rules_set_err(c->err, file, ku->line, 0,
			      "rule %s: %s and %s both given (one of them)",
			      s->name, key, unit);
		return -1;
	}
	if (!kv)
		kv = ku;
	if (!kv) {
		if (required) {
			rules_set_err(c->err, file, s->line, 0,
				      "rule %s: missing key '%s' (or %s = N "
				      "UNIT)",
				      s->name, key, unit);
			return -1;
		}
		return 0;
	}
	if (config_parse_duration_kv(kv->key, kv->value, ns, msg,
				     sizeof(msg)) == 0) {
		if (!positive || *ns)
			return 1;
		snprintf(msg, sizeof(msg), "%s: must be > 0", kv->key);
	}
	rules_set_err(c->err, file, kv->line,
		      rules_value_col(file, kv->line, kv->key), "%s", msg);
	return -1;
}

int32_t rules_message_kv(struct compiler *c, const struct config_section *s,
			 const struct config_kv *kv)
{
	const char *file = rules_sec_file(c, s);
	const struct dbc_message *m;
	int b;
	int32_t mi;

	m = locate_message(c, c->rule_bus, kv->value, &b);
	if (!m) {
		rules_set_err(c->err, file, kv->line,
			      rules_value_col(file, kv->line, kv->key),
			      "unknown message %s", kv->value);
		return -1;
	}
	mi = get_rmsg(c, b, m);
	if (mi < 0)
		rules_set_err(c->err, file, kv->line, 0, "out of memory");
	return mi;
}

void rules_add_limit(struct rule *u, const char *name, double v)
{
	if (u->n_limits == RULES_MAX_LIMITS)
		return;
	u->limits[u->n_limits].name = name;
	u->limits[u->n_limits].value = v;
	u->n_limits++;
}

static int check_keys(struct compiler *c, const struct config_section *s,
		      const struct rule_kind *kind)
{
	static const char *const common[] = { "ref", "kind", "description",
					      "severity", "bus", "active_when" };

	for (size_t i = 0; i < s->n_kv; i++) {
		const char *k = s->kv[i].key;
		char as_ms[64], hint[96];
		struct suggest sg;
		bool ok = false;

		/* a duration's unit form: settle = 500ms for settle_ms */
		if (!config_duration_ms_key(k, as_ms, sizeof(as_ms)))
			as_ms[0] = '\0';
		suggest_init(&sg, k);
		for (size_t j = 0; j < sizeof(common) / sizeof(common[0]); j++) {
			ok |= strcmp(k, common[j]) == 0;
			suggest_offer(&sg, common[j]);
		}
		for (size_t j = 0; kind->keys[j]; j++) {
			ok |= strcmp(k, kind->keys[j]) == 0 ||
			      strcmp(as_ms, kind->keys[j]) == 0;
			suggest_offer(&sg, kind->keys[j]);
		}
		if (!ok) {
			rules_set_err(c->err, rules_sec_file(c, s),
				      s->kv[i].line, 0,
				      "rule %s: unknown key '%s' for kind %s%s",
				      s->name, k, kind->name,
				      suggest_hint(&sg, hint, sizeof(hint)));
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->kv[j].key, k) == 0) {
				rules_set_err(c->err, rules_sec_file(c, s),
					      s->kv[i].line, 0,
					      "rule %s: duplicate key '%s'",
					      s->name, k);
				return -1;
			}
	}
	return 0;
}

static const struct rule_kind *find_kind(const char *name)
{
	for (size_t k = 0; k < N_KINDS; k++)
		if (strcmp(name, kinds[k]->name) == 0)
			return kinds[k];
	return NULL;
}

static int unknown_kind(struct compiler *c, const struct config_section *s,
			const struct config_kv *kv)
{
	const char *file = rules_sec_file(c, s);
	char list[256] = "";
	size_t n = 0;

	for (size_t k = 0; k < N_KINDS && n < sizeof(list); k++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
				      k ? ", " : "", kinds[k]->name);
	rules_set_err(c->err, file, kv->line,
		      rules_value_col(file, kv->line, "kind"),
		      "rule %s: unknown kind \"%s\" (%s)", s->name, kv->value,
		      list);
	return -1;
}

/* Most decimal places of a number written in text (limits, constants). */
static int literal_decimals(const char *t)
{
	int most = 0;

	for (const char *p = t; *p; p++) {
		int n = 0;

		if (*p != '.' || p == t || !isdigit((unsigned char)p[-1]))
			continue;
		while (isdigit((unsigned char)p[1])) {
			p++;
			n++;
		}
		if (n > most)
			most = n;
	}
	return most;
}

/*
 * The decimals a violation's worst and margin are printed to, so that a
 * difference of 0.01-resolution speeds reads -1.33, not -1.3299999999999983:
 * times to the clock's resolution (ms with 3 or 6 decimals); signal values
 * to the finest resolution the rule reads plus the decimals of its written
 * numbers (0.1 * speed of 0.01 km/h has 3). -1 (as computed) for rates and
 * rules on float signals or scalings with no short decimal form.
 */
static int rule_decimals(const struct compiler *c,
			 const struct config_section *s, const struct rule *u)
{
	static const char *const time_kinds[] = {"response", "cycle", "stale"};
	int lit = 0;

	for (size_t i = 0; i < sizeof(time_kinds) / sizeof(*time_kinds); i++)
		if (!strcmp(u->kind->name, time_kinds[i]))
			return c->r->ns_times ? 6 : 3;
	if (!strcmp(u->kind->name, "rate") || c->sig_decimals < 0 ||
	    c->sig_decimals == ROUND_NONE)
		return -1;
	for (size_t i = 0; i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, "ref") && strcmp(s->kv[i].key, "description") &&
		    literal_decimals(s->kv[i].value) > lit)
			lit = literal_decimals(s->kv[i].value);
	return c->sig_decimals + lit > 12 ? 12 : c->sig_decimals + lit;
}

/* v rounded to d decimals; as it is when d < 0, or when rounding would
 * make a nonzero value zero (the sign of a margin matters). */
static double round_to(double v, int d)
{
	double p = 1, x;

	if (d < 0 || !isfinite(v))
		return v;
	for (int i = 0; i < d; i++)
		p *= 10;
	x = round(v * p) / p;
	return x == 0 && v != 0 ? v : x;
}

static int compile_rule(struct compiler *c, const struct config_section *s,
			struct rule *u)
{
	const struct config_kv *kv;
	const char *file = rules_sec_file(c, s);

	u->name = xstrdup(s->name);
	u->file = xstrdup(file);
	u->line = s->line;
	u->bus = -1;
	u->msg = -1;
	if (!u->name || !u->file)
		goto oom;

	kv = config_kv(s, "kind");
	if (!kv) {
		rules_set_err(c->err, file, s->line, 0,
			      "rule %s: missing key 'kind'", s->name);
		return -1;
	}
	if (!(u->kind = find_kind(kv->value)))
		return unknown_kind(c, s, kv);
	if (check_keys(c, s, u->kind) < 0)
		return -1;
	kv = config_kv(s, "ref");
	if (!kv || !kv->value[0]) {
		rules_set_err(c->err, file, kv ? kv->line : s->line, 0,
			      "rule %s: missing key 'ref' (the requirement it "
			      "checks)",
			      s->name);
		return -1;
	}
	u->ref = xstrdup(kv->value);
	if ((kv = config_kv(s, "description")))
		u->description = xstrdup(kv->value);
	if ((kv = config_kv(s, "severity")))
		u->severity = xstrdup(kv->value);
	if ((kv = config_kv(s, "bus"))) {
		u->bus = config_bus_index(c->r->cfg, kv->value);
		if (u->bus < 0) {
			rules_set_err(c->err, file, kv->line,
				      rules_value_col(file, kv->line, "bus"),
				      "rule %s: unknown bus %s", s->name,
				      kv->value);
			return -1;
		}
	}
	c->rule_bus = u->bus;
	c->sig_decimals = -1;
	if (!u->ref)
		goto oom;
	if (u->kind->compile(c, s, u) < 0)
		return -1;
	if (config_kv(s, "active_when") &&
	    !(u->active_when = rules_expr_kv(c, s, u, "active_when", true)))
		return -1;
	u->decimals = rule_decimals(c, s, u);
	return 0;
oom:
	rules_set_err(c->err, file, s->line, 0, "out of memory");
	return -1;
}
static int compile_alias(struct compiler *c, const struct config_section *s)
{
	const char *file = rules_sec_file(c, s);
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
		rules_set_err(c->err, file, s->line, 0,
			"signal name \"%s\": use letters, digits and _ only "
			"(it is a name in expressions)",
			s->name);
		return -1;
	}
	for (size_t i = 0; i < r->n_aliases; i++)
		if (strcmp(r->aliases[i].name, s->name) == 0) {
			rules_set_err(c->err, file, s->line, 0,
				"duplicate signal %s", s->name);
			return -1;
		}
	for (size_t i = 0; i < s->n_kv; i++) {
		const struct config_kv *kv = &s->kv[i];

		for (size_t j = 0; j < i; j++)
			if (strcmp(s->kv[j].key, kv->key) == 0) {
				rules_set_err(c->err, file, kv->line, 0,
					"signal %s: duplicate key '%s'",
					s->name, kv->key);
				return -1;
			}
		if (strcmp(kv->key, "source") == 0) {
			src = kv;
		} else if (strcmp(kv->key, "stale_ms") == 0 ||
			   strcmp(kv->key, "stale") == 0) {
			if (stale) {
				rules_set_err(c->err, file, kv->line, 0,
					"signal %s: stale_ms and stale both "
					"given (one of them)",
					s->name);
				return -1;
			}
			if (config_parse_duration_kv(kv->key, kv->value, &stale,
						     msg, sizeof(msg)) == 0 &&
			    stale == 0)
				snprintf(msg, sizeof(msg), "%s: must be > 0",
					 kv->key);
			if (stale == 0) {
				rules_set_err(c->err, file, kv->line,
					rules_value_col(file, kv->line, kv->key),
					"%s", msg);
				return -1;
			}
		} else if (strcmp(kv->key, "bus") == 0) {
			bus = config_bus_index(r->cfg, kv->value);
			if (bus < 0) {
				rules_set_err(c->err, file, kv->line,
					rules_value_col(file, kv->line, kv->key),
					"unknown bus %s", kv->value);
				return -1;
			}
		} else {
			struct suggest sg;
			char hint[96];

			suggest_init(&sg, kv->key);
			suggest_offer(&sg, "source");
			suggest_offer(&sg, "stale_ms");
			suggest_offer(&sg, "bus");
			rules_set_err(c->err, file, kv->line, 0,
				"signal %s: unknown key '%s' (source, stale_ms, "
				"bus)%s",
				s->name, kv->key,
				suggest_hint(&sg, hint, sizeof(hint)));
			return -1;
		}
	}
	if (!src) {
		rules_set_err(c->err, file, s->line, 0,
			"signal %s: missing key 'source' (Message.Signal)",
			s->name);
		return -1;
	}
	dot = strchr(src->value, '.');
	if (!dot || (size_t)(dot - src->value) >= sizeof(mname) ||
	    !is_ident(dot + 1)) {
		rules_set_err(c->err, file, src->line,
			rules_value_col(file, src->line, "source"),
			"source: expected Message.Signal, not \"%s\"",
			src->value);
		return -1;
	}
	memcpy(mname, src->value, (size_t)(dot - src->value));
	mname[dot - src->value] = '\0';
	if (resolve_msg_sig(c, bus, mname, dot + 1, &ref, msg, sizeof(msg)) <
	    0) {
		rules_set_err(c->err, file, src->line,
			rules_value_col(file, src->line, "source"), "source: %s",
			msg);
		return -1;
	}
	p = array_grow(r->aliases, &c->cap_aliases, r->n_aliases,
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
	rules_set_err(c->err, file, s->line, 0, "out of memory");
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
int32_t rules_slot_msg(const struct rules *r, uint32_t slot)
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
		/* mark per rmsg, then add in rmsg order */
		bool *use = calloc(r->n_msgs + 1, sizeof(*use));

		if (!use)
			return -1;
		if (u->msg >= 0)
			use[u->msg] = true;
		for (size_t k = 0; k < u->n_exprs; k++) {
			const struct expr *x = u->exprs[k].x;
			uint32_t in[64];
			size_t n = expr_inputs(x, in, 64);

			if (n > 64) {
				uint32_t *big = malloc(n * sizeof(*big));

				if (!big) {
					free(use);
					return -1;
				}
				expr_inputs(x, big, n);
				for (size_t j = 0; j < n; j++) {
					int32_t m = rules_slot_msg(r, big[j]);
					if (m >= 0)
						use[m] = true;
				}
				free(big);
				continue;
			}
			for (size_t j = 0; j < n; j++) {
				int32_t m = rules_slot_msg(r, in[j]);

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
	r->bus = calloc(r->n_buses ? r->n_buses : 1, sizeof(*r->bus));
	r->slot_bus = malloc((r->n_slots ? r->n_slots : 1) * sizeof(int));
	if (!r->bidx || !r->bus || !r->slot_bus)
		return -1;
	for (size_t b = 0; b < r->n_buses; b++) {
		r->bus[b].silent_ns = r->cfg->buses[b].silent_ms * UINT64_C(1000000);
		r->bus[b].dl = UINT64_MAX;
	}
	for (size_t i = 0; i < r->n_slots; i++)
		r->slot_bus[i] = -1;
	for (size_t i = 0; i < r->n_msgs; i++) {
		r->slot_bus[r->msgs[i].slot] = r->msgs[i].bus;
		for (size_t k = 0; k < r->msgs[i].n_sigs; k++)
			r->slot_bus[r->msgs[i].sig_slots[k]] = r->msgs[i].bus;
	}
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
		rules_set_err(err, cfg->path, 0, 0, "out of memory");
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
		rules_set_err(err, cfg->path, 0, 0, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_section *s = &cfg->rules[i];

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->rules[j].name, s->name) == 0) {
				rules_set_err(err, rules_sec_file(&c, s), s->line, 0,
					"duplicate rule %s (first at %s:%u)",
					s->name, rules_sec_file(&c, &cfg->rules[j]),
					cfg->rules[j].line);
				goto fail;
			}
		r->n_rules = i + 1;
		if (compile_rule(&c, s, &r->rules[i]) < 0)
			goto fail;
	}
	if (build_deps(r) < 0 || build_index(r) < 0) {
		rules_set_err(err, cfg->path, 0, 0, "out of memory");
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
		rules_set_err(err, cfg->path, 0, 0, "out of memory");
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
		for (size_t k = 0; k < u->n_exprs; k++) {
			free(u->exprs[k].text);
			expr_free(u->exprs[k].x);
		}
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
	free(r->bus);
	free(r->slot_bus);
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

const char *rules_fmt_num(double v, char *buf)
{
	json_format_double(v, buf);
	return buf;
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
	json_string(j, u->kind->name);
	if (u->severity) {
		json_key(j, "severity");
		json_string(j, u->severity);
	}
}

static void viol_emit(struct rules *r, struct rule *u, bool end)
{
	struct json j;
	char msg[512];
	struct viol kept = u->v;

	/* Printed (and quoted in msg) to the rule's resolution; tracking the
	 * worst goes on with the values as computed. */
	u->v.worst = round_to(u->v.worst, u->decimals);
	u->v.margin = round_to(u->v.margin, u->decimals);

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
	u->kind->message(r, u, msg, sizeof(msg));
	json_string(&j, msg);
	json_object_end(&j);
	json_finish(&j);
	if (end && r->sink.violation_end)
		r->sink.violation_end(r->sink.ctx, u->name, r->jbuf);
	else if (!end && r->sink.violation_start)
		r->sink.violation_start(r->sink.ctx, u->name, r->jbuf);
	u->v = kept;
}

/* Open (at t_open, line_open) or extend the violation; track the worst. */
void rules_viol_extend(struct rules *r, struct rule *u, uint64_t t_open,
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

void rules_viol_close(struct rules *r, struct rule *u, uint64_t t,
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

void rules_note_unknown(struct rules *r, struct rule *u, uint64_t t,
			 int64_t slot, const char *why)
{
	char tb[40];

	/* a silent bus is a gap in the recording, not a missing input */
	if (slot >= 0 && (size_t)slot < r->n_slots && r->slot_bus[slot] >= 0 &&
	    r->bus[r->slot_bus[slot]].silent)
		return;
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

void rules_outcome(struct rules *r, struct rule *u, enum outcome o,
		   uint64_t t, uint64_t line, double worst, double margin,
		   int64_t missing_slot)
{
	switch (o) {
	case O_VIOL:
		u->determined = u->exercised = true;
		rules_viol_extend(r, u, t, line, t, line, worst, margin);
		break;
	case O_OK:
	case O_PENDING:
		u->determined = u->exercised = true;
		if (o == O_OK)
			rules_viol_close(r, u, t, line);
		break;
	case O_IDLE:
		u->determined = true;
		rules_viol_close(r, u, t, line);
		break;
	case O_UNKNOWN:
		rules_note_unknown(r, u, t, missing_slot, NULL);
		rules_viol_close(r, u, t, line);
		break;
	}
}

void rules_judge_expect(struct rules *r, struct rule *u, struct expr *expect,
			struct expr_value e, int64_t missing_slot, uint64_t t,
			uint64_t line)
{
	double worst, margin;

	if (e.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, missing_slot);
	} else if (e.v == 0) {
		expr_margin(expect, &worst, &margin);
		rules_outcome(r, u, O_VIOL, t, line, worst, margin, -1);
	} else {
		rules_outcome(r, u, O_OK, t, line, 0, 0, -1);
	}
}

/* Earliest deadline of any rule or bus. */
static uint64_t min_deadline(const struct rules *r)
{
	uint64_t m = UINT64_MAX;

	for (size_t i = 0; i < r->n_rules; i++)
		if (r->dl[i] < m)
			m = r->dl[i];
	for (size_t b = 0; b < r->n_buses; b++)
		if (r->bus[b].dl < m)
			m = r->bus[b].dl;
	return m;
}

static void rule_restart(struct rules *r, struct rule *u, uint64_t t)
{
	for (size_t k = 0; k < u->n_exprs; k++)
		if (u->exprs[k].x != u->active_when)
			expr_reset(u->exprs[k].x);
	if (u->kind->reset)
		u->kind->reset(r, u, t);
}

/* active_when: whether u is active at t. Turning inactive ends an open
 * violation; either turn restarts the kind's timers. */
static bool rule_gate(struct rules *r, struct rule *u, struct expr_eval *c,
		      uint64_t t, uint64_t line)
{
	bool on = rules_truth(expr_eval(u->active_when, c));

	/* its inputs missing only make the rule inactive */
	c->missing_slot = -1;
	if (on != u->is_active) {
		u->is_active = on;
		u->ever_active |= on;
		rules_viol_close(r, u, t, line);
		rule_restart(r, u, t);
	}
	return on;
}

static bool rule_suspended(const struct rules *r, const struct rule *u)
{
	return u->msg >= 0 && r->bus[r->msgs[u->msg].bus].silent;
}

uint64_t rules_bus_wait(const struct rules *r, const struct rule *u,
			uint64_t due)
{
	const struct rbus *b;

	if (u->msg < 0)
		return 0;
	b = &r->bus[r->msgs[u->msg].bus];
	return b->silent_ns && b->last < due ? b->dl : 0;
}

static void set_deadline(struct rules *r, size_t idx, uint64_t dl)
{
	uint64_t old = r->dl[idx];

	if (dl == old)
		return;
	r->dl[idx] = dl;
	if (dl < r->next_deadline)
		r->next_deadline = dl;
	else if (old == r->next_deadline)
		r->next_deadline = min_deadline(r);
}

static void eval_rule(struct rules *r, size_t idx, uint64_t t, uint64_t line,
		      int32_t from_msg)
{
	struct rule *u = &r->rules[idx];
	struct expr_eval c = { r->slots, t, UINT64_MAX, -1, r->res };
	uint64_t dl = UINT64_MAX;

	if ((!u->active_when || rule_gate(r, u, &c, t, line)) &&
	    !rule_suspended(r, u))
		dl = u->kind->eval(r, u, &c, t, line, from_msg);
	if (c.deadline_ns < dl)
		dl = c.deadline_ns;
	/* on the resolution grid, so that a tick truncated to it runs it */
	if (dl != UINT64_MAX && dl % r->res)
		dl += r->res - dl % r->res;
	if (dl <= t) /* cannot happen; never loop on it */
		dl = UINT64_MAX;
	set_deadline(r, idx, dl);
}

/* {"bus":NAME,KEY:...} without braces, for the sink's event. */
static void bus_event(struct rules *r, size_t b, uint64_t t, const char *type,
		      const char *key, uint64_t v, bool as_time)
{
	char buf[512];
	struct json j;

	if (!r->sink.event)
		return;
	json_init_buf(&j, buf, sizeof(buf));
	json_object_begin(&j);
	json_key(&j, "bus");
	json_string(&j, r->cfg->buses[b].name);
	json_key(&j, key);
	if (as_time)
		put_time(&j, r, v);
	else
		json_double(&j, (double)v / 1e6);
	json_object_end(&j);
	if (json_finish(&j) < 0)
		return;
	buf[json_len(&j) - 1] = '\0';
	r->sink.event(r->sink.ctx, t, type, buf + 1);
}

/* Restart the rules that watch arrivals on bus b (it went silent or came
 * back); a violation open when it went silent ends with its last frame. */
static void bus_restart(struct rules *r, size_t b, uint64_t t)
{
	for (size_t i = 0; i < r->n_rules; i++) {
		struct rule *u = &r->rules[i];

		if (u->msg < 0 || (size_t)r->msgs[u->msg].bus != b)
			continue;
		rules_viol_close(r, u, r->bus[b].last, r->line);
		rule_restart(r, u, t);
		set_deadline(r, i, UINT64_MAX);
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

		/* buses first: a rule's timeout at the moment its bus turns
		 * silent is part of the gap */
		for (i = 0; i < r->n_buses; i++)
			if (r->bus[i].dl == t)
				break;
		if (i < r->n_buses) {
			if (t > r->now)
				r->now = t;
			r->bus[i].dl = UINT64_MAX;
			r->bus[i].silent = true;
			r->next_deadline = min_deadline(r);
			bus_event(r, i, r->now, "bus_silent", "t_last",
				  r->bus[i].last, true);
			bus_restart(r, i, r->now);
			continue;
		}
		for (i = 0; i < r->n_rules; i++)
			if (r->dl[i] == t)
				break;
		if (i == r->n_rules) { /* stale cache: recompute */
			r->next_deadline = min_deadline(r);
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
	if (bus >= 0 && (size_t)bus < r->n_buses && r->bus[bus].silent_ns) {
		struct rbus *b = &r->bus[bus];

		if (b->silent) {
			b->silent = false;
			bus_event(r, (size_t)bus, t, "bus_resumed", "gap_ms",
				  t - b->last, false);
			bus_restart(r, (size_t)bus, t);
		}
		b->last = t;
		b->dl = t + b->silent_ns + r->res;
		if (b->dl < r->next_deadline)
			r->next_deadline = b->dl;
	}
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

		if (u->kind->finish && !rule_suspended(r, u) &&
		    (!u->active_when || u->is_active))
			u->kind->finish(r, u, end_ns);
		else
			rules_viol_close(r, u, end_ns, r->line);
		r->dl[i] = UINT64_MAX;
	}
	for (size_t b = 0; b < r->n_buses; b++)
		r->bus[b].dl = UINT64_MAX;
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
	if (u->active_when && !u->ever_active)
		return VERDICT_NOT_EXERCISED;
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

int rules_live_state(const struct rules *r, size_t i,
		     struct rules_live_state *st)
{
	const struct rule *u;

	if (!r || i >= r->n_rules)
		return -1;
	u = &r->rules[i];
	st->verdict = rules_verdict(r, i);
	st->kind = u->kind->name;
	st->violations = u->n_viol;
	st->worst = u->n_viol ? u->v.worst : NAN;
	st->margin = u->n_viol ? u->v.margin : NAN;
	st->t_start = u->n_viol ? u->v.t_start : 0;
	if (u->v.open)
		st->live = RULES_LIVE_VIOLATED;
	else if (u->exercised)
		st->live = RULES_LIVE_OK;
	else if (u->determined)
		st->live = RULES_LIVE_IDLE;
	else
		st->live = RULES_LIVE_WAITING;
	return 0;
}

const char *rules_live_name(enum rules_live l)
{
	switch (l) {
	case RULES_LIVE_WAITING: return "waiting";
	case RULES_LIVE_IDLE: return "not_exercised";
	case RULES_LIVE_OK: return "ok";
	case RULES_LIVE_VIOLATED: return "violated";
	}
	return "?";
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
			u->name, u->kind->name, rules_verdict_name(v),
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
void rules_info(const struct rules *r, size_t i, struct rules_info *info)
{
	const struct rule *u = &r->rules[i];

	memset(info, 0, sizeof(*info));
	info->name = u->name;
	info->ref = u->ref;
	info->kind = u->kind->name;
	info->description = u->description;
	info->severity = u->severity;
	if (u->msg >= 0)
		info->message = r->msgs[u->msg].msg->name;
	for (size_t k = 0; k < u->n_exprs; k++) {
		info->exprs[k].key = u->exprs[k].key;
		info->exprs[k].text = u->exprs[k].text;
	}
	info->n_exprs = u->n_exprs;
	memcpy(info->limits, u->limits, u->n_limits * sizeof(u->limits[0]));
	info->n_limits = u->n_limits;
}
