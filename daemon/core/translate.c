/*
 * translate.c: signal translation (API in translate.h).
 *
 * THE [output] SECTION (also in cangate.conf(5) and docs/translate.md)
 *
 *   [output NAME]            one message built on a rig bus
 *   bus = rig                the bus it is sent on; its DBC has the message
 *   message = RIG_Vehicle    a message of that bus's DBC
 *   send = cycle             cycle | change | each:MSG
 *   period = 20ms            cycle only; default the DBC's GenMsgCycleTime
 *   set = SIG = EXPR         repeatable: a rig signal from an expression over
 *                            vehicle signals and [signal] aliases (expr.h);
 *                            a string in value position names a value of
 *                            SIG's own table: set = Gear = "Drive"
 *   counter = SIG            incremented per frame sent, wraps at its width
 *   checksum = SIG: KIND     crc8_sae_j1850 | xor8 | sum8 | crc8_autosar |
 *                            crc16_ccitt, over the payload bytes except its own
 *   stale = substitute       substitute | hold | stop: what a missing or
 *                            stale input does to the signal it feeds
 *   substitute = SIG=VALUE   repeatable: the substitute (a number, or a name
 *                            of SIG's value table in quotes); default the
 *                            signal's GenSigStartValue, else raw 0
 *
 * Signals of the message that no `set` writes keep their GenSigStartValue
 * (else 0). A multiplexed signal is written only when its multiplexer's
 * value selects it; a multiplexer no `set` writes takes the one value that
 * selects the set signals.
 *
 * Values. An expression's physical value becomes raw = round((v - offset) /
 * factor); outside the signal's raw range (its bit width and signedness, or
 * the float32 range) it is clamped and counted. A value that is not a finite
 * number (inf) is counted as unencodable and treated as missing. A constant
 * expression whose value is out of range or unencodable is a load error.
 *
 * Missing inputs (never received, or older than their alias's stale_ms)
 * make the signal they feed missing: `substitute` writes its substitute,
 * `hold` the last good value (the substitute before there was one), `stop`
 * sends no frame at all until every input is back.
 *
 * Sending. cycle: at t0 + k * period (t0 is the first frame fed, k >= 1),
 * evaluated at that time. change: whenever a frame carrying an input arrives
 * or an input goes stale, if the payload (counter and checksum aside)
 * differs from the last one sent; the first evaluation always sends. each:MSG:
 * whenever MSG arrives, after its signals are taken in. The counter and
 * checksum are written last, the checksum after the counter.
 */
#include <float.h>
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
#include "daemon/core/translate.h"
#include "dbc/dbc.h"

enum tmode { TM_CYCLE, TM_CHANGE, TM_EACH };
enum tstale { TS_SUBSTITUTE, TS_HOLD, TS_STOP };

/* A message some output reads, on one bus. */
struct tin {
	int bus;
	const struct dbc_message *msg;
	const struct dbc_signal **sigs;
	uint32_t *slots;
	size_t n_sigs;
	uint32_t *outs;      /* outputs to evaluate when it arrives */
	size_t n_outs;
	int32_t next;        /* next tin with the same bus and 11-bit ID */
};

struct talias {
	const char *name;    /* the config's */
	uint32_t slot;
	uint64_t stale_ns;
	const struct dbc_signal *sig;
};

/* One signal written by an output. */
struct tset {
	const struct dbc_signal *sig;
	struct expr *x;      /* NULL: the constant raw (an implied multiplexer) */
	uint64_t raw;        /* the constant; per build: the raw written */
	uint64_t sub_raw;
	uint64_t last_raw;   /* last good value, for stale = hold */
	bool have_last;
	bool active;         /* written in this build */
	int32_t parent;      /* set of its multiplexer, or -1 */
	unsigned depth;      /* multiplexers above it */
	double lo, hi;       /* raw range (integers) */
};

/* Per-build counts, added to the stats when the frame goes out. */
struct tcount {
	uint64_t clamped, unencodable, substituted, held;
};

struct tout {
	const char *name;    /* the config's */
	int bus;
	const struct dbc_message *msg;
	enum tmode mode;
	enum tstale stale;
	uint64_t period_ns;
	int32_t each;        /* tin that triggers send = each: */
	struct tset *sets;
	size_t n_sets;
	const struct dbc_signal *counter;
	uint64_t count;
	const struct dbc_signal *csum;
	enum translate_checksum ck;
	uint8_t len;
	bool fd;
	uint8_t tmpl[CANFD_MAX_DLEN];
	uint8_t last[CANFD_MAX_DLEN];
	bool sent_any;
	uint64_t due;        /* next deadline, UINT64_MAX when none */
	uint64_t mark;       /* epoch of the frame that last triggered it */
	struct translate_stats st;
};

struct translate {
	const struct config *cfg;
	struct translate_sink sink;
	struct tout *outs;
	size_t n_outs;
	struct tin *ins;
	size_t n_ins;
	struct expr_slot *slots;
	size_t n_slots;
	int32_t *slot_in;    /* per slot: its tin */
	struct talias *aliases;
	size_t n_aliases;
	int32_t (*std)[2048]; /* per bus: first tin of each 11-bit ID */
	size_t n_buses;
	uint64_t res;        /* time grid: 1000 ns, or 1 with ns timestamps */
	uint64_t now, next;
	uint64_t epoch;
	bool started;
};

/* ------------------------------------------------------------- checksums */

static uint8_t crc8(uint8_t poly, const uint8_t *d, size_t len, size_t from,
		    size_t to)
{
	uint8_t c = 0xFF;

	for (size_t i = 0; i < len; i++) {
		if (i >= from && i < to)
			continue;
		c ^= d[i];
		for (int b = 0; b < 8; b++)
			c = (uint8_t)(c & 0x80 ? (c << 1) ^ poly : c << 1);
	}
	return (uint8_t)(c ^ 0xFF);
}

uint32_t translate_checksum(enum translate_checksum kind, const uint8_t *data,
			    size_t len, size_t skip_from, size_t skip_to)
{
	uint32_t acc = 0;

	switch (kind) {
	case TRANSLATE_CRC8_SAE_J1850:
		return crc8(0x1D, data, len, skip_from, skip_to);
	case TRANSLATE_CRC8_AUTOSAR:
		return crc8(0x2F, data, len, skip_from, skip_to);
	case TRANSLATE_CRC16_CCITT:
		acc = 0xFFFF;
		for (size_t i = 0; i < len; i++) {
			if (i >= skip_from && i < skip_to)
				continue;
			acc ^= (uint32_t)data[i] << 8;
			for (int b = 0; b < 8; b++)
				acc = acc & 0x8000 ? (acc << 1) ^ 0x1021
						   : acc << 1;
			acc &= 0xFFFF;
		}
		return acc;
	case TRANSLATE_XOR8:
	case TRANSLATE_SUM8:
		for (size_t i = 0; i < len; i++) {
			if (i >= skip_from && i < skip_to)
				continue;
			acc = kind == TRANSLATE_XOR8 ? acc ^ data[i]
						     : acc + data[i];
		}
		return acc & 0xFF;
	}
	return 0;
}

static const struct {
	const char *name;
	enum translate_checksum kind;
	unsigned bits;
} checksums[] = {
	{ "crc8_sae_j1850", TRANSLATE_CRC8_SAE_J1850, 8 },
	{ "xor8", TRANSLATE_XOR8, 8 },
	{ "sum8", TRANSLATE_SUM8, 8 },
	{ "crc8_autosar", TRANSLATE_CRC8_AUTOSAR, 8 },
	{ "crc16_ccitt", TRANSLATE_CRC16_CCITT, 16 },
};

/* -------------------------------------------------------------- compile */

struct tcomp {
	struct translate *t;
	struct config_error *err;
	const struct config_section *sec;
	size_t cap_ins, cap_slots;
};

static uint32_t new_slot(struct tcomp *c, int32_t in)
{
	struct translate *t = c->t;
	size_t cap = c->cap_slots;
	void *p = array_grow(t->slots, &c->cap_slots, t->n_slots,
			     sizeof(*t->slots));
	int32_t *q;

	if (!p)
		return UINT32_MAX;
	t->slots = p;
	q = cap == c->cap_slots ? t->slot_in
				: realloc(t->slot_in,
					  c->cap_slots * sizeof(*t->slot_in));
	if (!q)
		return UINT32_MAX;
	t->slot_in = q;
	t->slot_in[t->n_slots] = in;
	return (uint32_t)t->n_slots++;
}

/* The slot of signal s of message m on bus, made on first use. */
static int64_t input_slot(struct tcomp *c, int bus,
			  const struct dbc_message *m,
			  const struct dbc_signal *s)
{
	struct translate *t = c->t;
	struct tin *in = NULL;
	uint32_t slot;
	void *p, *q;

	for (size_t i = 0; i < t->n_ins; i++)
		if (t->ins[i].bus == bus && t->ins[i].msg == m)
			in = &t->ins[i];
	if (!in) {
		p = array_grow(t->ins, &c->cap_ins, t->n_ins, sizeof(*t->ins));
		if (!p)
			return -1;
		t->ins = p;
		in = &t->ins[t->n_ins++];
		in->bus = bus;
		in->msg = m;
		in->next = -1;
	}
	if (!s)
		return 0;
	for (size_t k = 0; k < in->n_sigs; k++)
		if (in->sigs[k] == s)
			return in->slots[k];
	slot = new_slot(c, (int32_t)(in - t->ins));
	p = realloc(in->sigs, (in->n_sigs + 1) * sizeof(*in->sigs));
	if (p)
		in->sigs = p;
	q = realloc(in->slots, (in->n_sigs + 1) * sizeof(*in->slots));
	if (q)
		in->slots = q;
	if (slot == UINT32_MAX || !p || !q)
		return -1;
	in->sigs[in->n_sigs] = s;
	in->slots[in->n_sigs++] = slot;
	return slot;
}

static int resolve_msg_sig(struct tcomp *c, int bus, const char *mname,
			   const char *sname, struct expr_ref *out, char *msg,
			   size_t msglen)
{
	const struct dbc_message *m;
	const struct dbc_signal *s;
	int b = -1;
	int64_t slot;

	m = config_find_message(c->t->cfg, bus, mname, &b);
	if (!m) {
		snprintf(msg, msglen, "unknown message %s", mname);
		return -1;
	}
	s = dbc_signal_by_name(m, sname);
	if (!s) {
		snprintf(msg, msglen, "unknown signal %s.%s", mname, sname);
		return -1;
	}
	slot = input_slot(c, b, m, s);
	if (slot < 0) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->slot = (uint32_t)slot;
	out->sig = s;
	return 0;
}

static int resolve_cb(void *ctx, const char *name, const char *member,
		      struct expr_ref *out, char *msg, size_t msglen)
{
	struct tcomp *c = ctx;

	if (member)
		return resolve_msg_sig(c, -1, name, member, out, msg, msglen);
	for (size_t i = 0; i < c->t->n_aliases; i++) {
		const struct talias *a = &c->t->aliases[i];

		if (strcmp(a->name, name) == 0) {
			memset(out, 0, sizeof(*out));
			out->slot = a->slot;
			out->stale_ns = a->stale_ns;
			out->sig = a->sig;
			return 0;
		}
	}
	snprintf(msg, msglen,
		 "unknown signal %s (not a [signal] alias; use Message.Signal)",
		 name);
	return -1;
}

__attribute__((format(printf, 3, 4)))
static int terr(struct tcomp *c, unsigned line, const char *fmt, ...)
{
	char msg[sizeof(c->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->sec)
		return config_errorf(c->err, c->sec->file,
				     line ? line : c->sec->line,
				     "output %s: %s", c->sec->name, msg);
	return config_errorf(c->err, c->t->cfg->path, line, "%s", msg);
}

/* [signal] aliases: the rules check them fully (rules_compile runs first
 * wherever a config is loaded); here only what translation needs. */
static int compile_aliases(struct tcomp *c)
{
	const struct config *cfg = c->t->cfg;

	c->t->aliases = calloc(cfg->n_signals + 1, sizeof(*c->t->aliases));
	if (!c->t->aliases)
		return terr(c, 0, "out of memory");
	for (size_t i = 0; i < cfg->n_signals; i++) {
		const struct config_section *s = &cfg->signals[i];
		const char *src = NULL;
		char mname[256], msg[200];
		struct expr_ref ref;
		uint64_t stale = 0;
		const char *dot;
		int bus = -1;

		for (size_t k = 0; k < s->n_kv; k++) {
			const struct config_kv *kv = &s->kv[k];
			double ms;

			if (strcmp(kv->key, "source") == 0)
				src = kv->value;
			else if (strcmp(kv->key, "bus") == 0)
				bus = config_bus_index(cfg, kv->value);
			else if (strcmp(kv->key, "stale_ms") == 0 &&
				 config_parse_double(kv->value, &ms) == 0 &&
				 ms > 0 && ms <= 1e12)
				stale = (uint64_t)llround(ms * 1e6);
		}
		dot = src ? strchr(src, '.') : NULL;
		if (!dot || (size_t)(dot - src) >= sizeof(mname))
			continue; /* rules_compile() says what is wrong */
		memcpy(mname, src, (size_t)(dot - src));
		mname[dot - src] = '\0';
		if (resolve_msg_sig(c, bus, mname, dot + 1, &ref, msg,
				    sizeof(msg)) < 0) {
			c->sec = NULL;
			return config_errorf(c->err, s->file, s->line,
					     "signal %s: %s", s->name, msg);
		}
		c->t->aliases[c->t->n_aliases++] = (struct talias){
			s->name, ref.slot, stale, ref.sig
		};
	}
	return 0;
}

static void raw_range(const struct dbc_signal *s, double *lo, double *hi)
{
	if (s->value_type == DBC_VALUE_FLOAT32) {
		*lo = -FLT_MAX;
		*hi = FLT_MAX;
	} else if (s->value_type == DBC_VALUE_FLOAT64) {
		*lo = -DBL_MAX;
		*hi = DBL_MAX;
	} else if (s->is_signed) {
		*lo = -ldexp(1.0, s->length - 1);
		*hi = ldexp(1.0, s->length - 1) - 1;
	} else {
		*lo = 0;
		*hi = ldexp(1.0, s->length) - 1;
	}
}

/* Physical value to raw bits; *clamped when it was outside the raw range.
 * -1 when v is not a finite number. */
static int encode(const struct tset *s, double v, uint64_t *raw,
		  bool *clamped)
{
	const struct dbc_signal *g = s->sig;
	double x;

	if (!isfinite(v))
		return -1;
	x = g->factor != 0 ? (v - g->offset) / g->factor : v - g->offset;
	if (!isfinite(x))
		return -1;
	if (g->value_type == DBC_VALUE_INTEGER)
		x = round(x);
	*clamped = x < s->lo || x > s->hi;
	if (x < s->lo)
		x = s->lo;
	if (x > s->hi)
		x = s->hi;
	if (g->value_type == DBC_VALUE_FLOAT32) {
		float f = (float)x;
		uint32_t bits;

		memcpy(&bits, &f, sizeof(bits));
		*raw = bits;
	} else if (g->value_type == DBC_VALUE_FLOAT64) {
		memcpy(raw, &x, sizeof(*raw));
	} else if (g->is_signed) {
		/* hi of a 64-bit signal rounds up to 2^63 as a double */
		*raw = x >= 0x1p63 ? (uint64_t)INT64_MAX
				   : (uint64_t)(int64_t)x;
	} else {
		*raw = x >= 0x1p64 ? UINT64_MAX : (uint64_t)x;
	}
	return 0;
}

static bool mux_selects(const struct dbc_signal *s, uint64_t raw)
{
	for (size_t k = 0; k < s->n_mux_ranges; k++)
		if (s->mux_ranges[k].lo <= raw && raw <= s->mux_ranges[k].hi)
			return true;
	return false;
}

static struct tset *set_of(struct tout *o, const struct dbc_signal *s)
{
	for (size_t i = 0; i < o->n_sets; i++)
		if (o->sets[i].sig == s)
			return &o->sets[i];
	return NULL;
}

static const struct config_kv *kv_once(struct tcomp *c, const char *key,
				       int *rc)
{
	const struct config_kv *found = NULL;

	for (size_t i = 0; i < c->sec->n_kv; i++) {
		if (strcmp(c->sec->kv[i].key, key))
			continue;
		if (found) {
			*rc = terr(c, c->sec->kv[i].line,
				   "duplicate key '%s' (first at line %u)", key,
				   found->line);
			return NULL;
		}
		found = &c->sec->kv[i];
	}
	return found;
}

/* "SIG = TEXT" or "SIG: TEXT" of set, substitute and checksum. */
static int split_sig(struct tcomp *c, const struct config_kv *kv, char sep,
		     struct tout *o, char *buf, size_t size,
		     const struct dbc_signal **sig, char **rest)
{
	char *p;

	if (strlen(kv->value) >= size)
		return terr(c, kv->line, "%s: value too long", kv->key);
	strcpy(buf, kv->value);
	p = strchr(buf, sep);
	if (!p)
		return terr(c, kv->line, "%s: expected SIGNAL %c ..., not \"%s\"",
			    kv->key, sep, kv->value);
	*p = '\0';
	*rest = p + 1 + strspn(p + 1, " \t"); /* inih trimmed its end */
	p = buf + strcspn(buf, " \t");
	if (p[strspn(p, " \t")] != '\0')
		return terr(c, kv->line, "%s: expected one signal name before "
					 "'%c', not \"%s\"",
			    kv->key, sep, buf);
	*p = '\0';
	*sig = dbc_signal_by_name(o->msg, buf);
	if (!*sig)
		return terr(c, kv->line, "%s: unknown rig signal %s.%s",
			    kv->key, o->msg->name, buf);
	return 0;
}

static int add_set(struct tcomp *c, struct tout *o,
		   const struct dbc_signal *s, unsigned line)
{
	struct tset *n;

	if (set_of(o, s))
		return terr(c, line, "signal %s is set twice", s->name);
	n = realloc(o->sets, (o->n_sets + 1) * sizeof(*n));
	if (!n)
		return terr(c, line, "out of memory");
	o->sets = n;
	n = &o->sets[o->n_sets++];
	memset(n, 0, sizeof(*n));
	n->sig = s;
	n->parent = -1;
	raw_range(s, &n->lo, &n->hi);
	if (s->has_start_value && s->value_type == DBC_VALUE_INTEGER)
		n->sub_raw = (uint64_t)(int64_t)s->start_value;
	else if (s->has_start_value)
		encode(n, s->start_value * s->factor + s->offset, &n->sub_raw,
		       &(bool){ false });
	return 0;
}

static int compile_set(struct tcomp *c, struct tout *o,
		       const struct config_kv *kv)
{
	struct expr_resolver res = { resolve_cb, c };
	const struct dbc_signal *s;
	struct expr_error xe;
	struct tset *ts;
	char buf[256], *text;
	uint32_t in;

	if (split_sig(c, kv, '=', o, buf, sizeof(buf), &s, &text) < 0)
		return -1;
	if (s == o->counter || s == o->csum)
		return terr(c, kv->line, "set %s: it is the %s", s->name,
			    s == o->counter ? "counter" : "checksum");
	if (add_set(c, o, s, kv->line) < 0)
		return -1;
	ts = &o->sets[o->n_sets - 1];
	ts->x = expr_compile_for(text, strlen(text), &res, s, &xe);
	if (!ts->x)
		return terr(c, kv->line, "set %s: column %u of the expression: %s",
			    s->name, xe.col, xe.msg);
	/* A constant shows its value now: one out of range is a mistake. */
	if (expr_inputs(ts->x, &in, 1) == 0) {
		struct expr_eval e = { c->t->slots, 0, UINT64_MAX, -1, 1 };
		struct expr_value v = expr_eval(ts->x, &e);
		bool clamped = false;

		if (!v.missing && encode(ts, v.v, &ts->raw, &clamped) < 0)
			return terr(c, kv->line, "set %s: %g cannot be encoded",
				    s->name, v.v);
		if (clamped)
			return terr(c, kv->line,
				    "set %s: %.17g is outside its raw range "
				    "(%.17g..%.17g, factor %.17g, offset %.17g)",
				    s->name, v.v, ts->lo, ts->hi, s->factor,
				    s->offset);
		expr_reset(ts->x);
	}
	return 0;
}

static int compile_substitute(struct tcomp *c, struct tout *o,
			      const struct config_kv *kv)
{
	const struct dbc_signal *s;
	struct tset *ts;
	char buf[256], *text;
	double v;
	bool clamped = false;

	if (split_sig(c, kv, '=', o, buf, sizeof(buf), &s, &text) < 0)
		return -1;
	ts = set_of(o, s);
	if (!ts || !ts->x)
		return terr(c, kv->line,
			    "substitute %s: no `set` writes that signal",
			    s->name);
	if (text[0] == '"') {
		size_t n = strlen(text);
		bool found = false;

		if (n < 2 || text[n - 1] != '"')
			return terr(c, kv->line, "substitute %s: unterminated "
						 "string", s->name);
		text[n - 1] = '\0';
		for (size_t k = 0; k < s->n_values && !found; k++)
			if (strcmp(s->values[k].name, text + 1) == 0) {
				ts->sub_raw = (uint64_t)s->values[k].value;
				found = true;
			}
		if (!found)
			return terr(c, kv->line,
				    "substitute %s: \"%s\" is not a value of %s",
				    s->name, text + 1, s->name);
		return 0;
	}
	if (config_parse_double(text, &v) < 0)
		return terr(c, kv->line,
			    "substitute %s: expected a number or a \"value "
			    "name\", not \"%s\"",
			    s->name, text);
	if (encode(ts, v, &ts->sub_raw, &clamped) < 0 || clamped)
		return terr(c, kv->line,
			    "substitute %s: %.17g is outside its raw range",
			    s->name, v);
	return 0;
}

static int compile_send(struct tcomp *c, struct tout *o,
			const struct config_kv *kv)
{
	if (!kv || strcmp(kv->value, "cycle") == 0) {
		o->mode = TM_CYCLE;
	} else if (strcmp(kv->value, "change") == 0) {
		o->mode = TM_CHANGE;
	} else if (strncmp(kv->value, "each:", 5) == 0) {
		const char *name = kv->value + 5 + strspn(kv->value + 5, " \t");
		const struct dbc_message *m;
		int64_t rc;
		int b = -1;

		m = config_find_message(c->t->cfg, -1, name, &b);
		if (!m)
			return terr(c, kv->line, "send: unknown message %s",
				    name);
		rc = input_slot(c, b, m, NULL);
		if (rc < 0)
			return terr(c, kv->line, "out of memory");
		for (size_t i = 0; i < c->t->n_ins; i++)
			if (c->t->ins[i].bus == b && c->t->ins[i].msg == m)
				o->each = (int32_t)i;
		o->mode = TM_EACH;
	} else {
		return terr(c, kv->line,
			    "send: expected cycle, change or each:MESSAGE, not "
			    "\"%s\"",
			    kv->value);
	}
	return 0;
}

static int compile_counter_checksum(struct tcomp *c, struct tout *o,
				    const struct config_kv *ctr,
				    const struct config_kv *ck)
{
	char buf[256], *text;
	const struct dbc_signal *s;

	if (ctr) {
		s = dbc_signal_by_name(o->msg, ctr->value);
		if (!s)
			return terr(c, ctr->line, "counter: unknown rig signal "
						  "%s.%s",
				    o->msg->name, ctr->value);
		if (s->value_type != DBC_VALUE_INTEGER || s->length > 32 ||
		    s->mux_parent >= 0 || s->is_multiplexer)
			return terr(c, ctr->line,
				    "counter %s: must be an integer signal of "
				    "at most 32 bits, not multiplexed",
				    s->name);
		o->counter = s;
	}
	if (ck) {
		size_t k, n = sizeof(checksums) / sizeof(checksums[0]);

		if (split_sig(c, ck, ':', o, buf, sizeof(buf), &s, &text) < 0)
			return -1;
		for (k = 0; k < n; k++)
			if (strcmp(checksums[k].name, text) == 0)
				break;
		if (k == n)
			return terr(c, ck->line,
				    "checksum: unknown kind \"%s\" (crc8_sae_j1850, "
				    "xor8, sum8, crc8_autosar, crc16_ccitt)",
				    text);
		if (s == o->counter)
			return terr(c, ck->line, "checksum %s: it is the counter",
				    s->name);
		if (s->length != checksums[k].bits ||
		    s->value_type != DBC_VALUE_INTEGER)
			return terr(c, ck->line,
				    "checksum %s: %s needs an integer signal of "
				    "%u bits, %s has %u",
				    s->name, text, checksums[k].bits, s->name,
				    s->length);
		if (s->lsb_bit % 8 || s->mux_parent >= 0 || s->is_multiplexer)
			return terr(c, ck->line,
				    "checksum %s: must fill whole bytes and not "
				    "be multiplexed",
				    s->name);
		o->csum = s;
		o->ck = checksums[k].kind;
	}
	return 0;
}

/* Parents before children; a multiplexer no set writes gets the one value
 * its set children agree on. */
static int order_mux(struct tcomp *c, struct tout *o)
{
	for (size_t i = 0; i < o->n_sets; i++) {
		const struct dbc_signal *s = o->sets[i].sig;
		struct tset *p;
		const struct dbc_signal *ps;

		if (s->mux_parent < 0)
			continue;
		ps = &o->msg->signals[s->mux_parent];
		p = set_of(o, ps);
		if (!p) {
			if (s->n_mux_ranges != 1 ||
			    s->mux_ranges[0].lo != s->mux_ranges[0].hi)
				return terr(c, 0,
					    "signal %s is multiplexed by %s over "
					    "several values: set %s too",
					    s->name, ps->name, ps->name);
			if (add_set(c, o, ps, 0) < 0)
				return -1;
			p = &o->sets[o->n_sets - 1];
			p->raw = s->mux_ranges[0].lo;
		} else if (!p->x && !mux_selects(s, p->raw)) {
			return terr(c, 0,
				    "signals of different multiplexer values of "
				    "%s are set (%s is not on page %" PRIu64
				    "): set %s",
				    ps->name, s->name, p->raw, ps->name);
		}
	}
	/* depth, then a stable sort by it (few sets: insertion sort) */
	for (size_t i = 0; i < o->n_sets; i++) {
		const struct dbc_signal *s = o->sets[i].sig;
		unsigned d = 0;

		while (s->mux_parent >= 0 && d < 64) {
			s = &o->msg->signals[s->mux_parent];
			d++;
		}
		o->sets[i].depth = d;
	}
	for (size_t i = 1; i < o->n_sets; i++) {
		struct tset x = o->sets[i];
		size_t j = i;

		while (j > 0 && o->sets[j - 1].depth > x.depth) {
			o->sets[j] = o->sets[j - 1];
			j--;
		}
		o->sets[j] = x;
	}
	for (size_t i = 0; i < o->n_sets; i++) {
		const struct dbc_signal *s = o->sets[i].sig;

		if (s->mux_parent >= 0)
			o->sets[i].parent =
				(int32_t)(set_of(o, &o->msg->signals[s->mux_parent]) -
					  o->sets);
	}
	return 0;
}

static int frame_length(struct tcomp *c, struct tout *o,
			const struct config_bus *b, unsigned line)
{
	static const uint8_t fd_lens[] = { 12, 16, 20, 24, 32, 48, 64 };

	o->len = o->msg->size;
	o->fd = o->msg->fd || o->msg->size > 8;
	if (o->fd && !b->fd)
		return terr(c, line,
			    "message %s is a CAN FD message; bus %s needs fd = "
			    "yes",
			    o->msg->name, b->name);
	for (size_t k = 0; o->len > 8 && k < sizeof(fd_lens); k++)
		if (o->len <= fd_lens[k]) {
			o->len = fd_lens[k];
			break;
		}
	return 0;
}

static int compile_output(struct tcomp *c, struct tout *o)
{
	static const char *const keys[] = { "bus",     "message", "send",
					    "period",  "set",     "counter",
					    "checksum", "stale",  "substitute" };
	const struct config_section *s = c->sec;
	const struct config *cfg = c->t->cfg;
	const struct config_kv *kbus, *kmsg, *ksend, *kper, *kctr, *kck, *kst;
	int rc = 0;

	o->name = s->name;
	o->each = -1;
	o->due = UINT64_MAX;
	for (size_t i = 0; i < s->n_kv; i++) {
		bool ok = false;

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			ok |= strcmp(s->kv[i].key, keys[k]) == 0;
		if (!ok)
			return terr(c, s->kv[i].line,
				    "unknown key '%s' (bus, message, send, "
				    "period, set, counter, checksum, stale, "
				    "substitute)",
				    s->kv[i].key);
	}
	kbus = kv_once(c, "bus", &rc);
	kmsg = kv_once(c, "message", &rc);
	ksend = kv_once(c, "send", &rc);
	kper = kv_once(c, "period", &rc);
	kctr = kv_once(c, "counter", &rc);
	kck = kv_once(c, "checksum", &rc);
	kst = kv_once(c, "stale", &rc);
	if (rc < 0)
		return -1;
	if (!kbus || !kmsg)
		return terr(c, 0, "missing key '%s'", kbus ? "message" : "bus");
	o->bus = config_bus_index(cfg, kbus->value);
	if (o->bus < 0)
		return terr(c, kbus->line, "unknown bus %s", kbus->value);
	if (cfg->buses[o->bus].n_dbc_paths == 0)
		return terr(c, kbus->line,
			    "bus %s has no dbc: the rig's messages come from "
			    "its DBC",
			    kbus->value);
	o->msg = config_find_message(cfg, o->bus, kmsg->value, NULL);
	if (!o->msg)
		return terr(c, kmsg->line, "unknown message %s in the DBC of bus %s",
			    kmsg->value, kbus->value);
	o->st.name = o->name;
	o->st.bus = o->bus;
	if (frame_length(c, o, &cfg->buses[o->bus], kmsg->line) < 0 ||
	    compile_send(c, o, ksend) < 0)
		return -1;
	if (kper && o->mode != TM_CYCLE)
		return terr(c, kper->line, "period: only with send = cycle");
	if (o->mode == TM_CYCLE) {
		if (kper) {
			if (config_parse_duration_ns(kper->value, &o->period_ns) <
				    0 ||
			    o->period_ns == 0 || o->period_ns % c->t->res)
				return terr(c, kper->line,
					    "period: expected a duration > 0 "
					    "on the %s grid, like 20ms, not "
					    "\"%s\"",
					    c->t->res == 1 ? "ns" : "us",
					    kper->value);
		} else if (o->msg->cycle_time_ms > 0) {
			o->period_ns = (uint64_t)o->msg->cycle_time_ms * 1000000u;
		} else {
			return terr(c, 0,
				    "send = cycle: give a period (message %s has "
				    "no GenMsgCycleTime)",
				    o->msg->name);
		}
	}
	if (!kst || strcmp(kst->value, "substitute") == 0)
		o->stale = TS_SUBSTITUTE;
	else if (strcmp(kst->value, "hold") == 0)
		o->stale = TS_HOLD;
	else if (strcmp(kst->value, "stop") == 0)
		o->stale = TS_STOP;
	else
		return terr(c, kst->line,
			    "stale: expected substitute, hold or stop, not "
			    "\"%s\"",
			    kst->value);
	if (compile_counter_checksum(c, o, kctr, kck) < 0)
		return -1;
	for (size_t i = 0; i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, "set") == 0 &&
		    compile_set(c, o, &s->kv[i]) < 0)
			return -1;
	if (o->n_sets == 0)
		return terr(c, 0, "no `set`: nothing to translate");
	for (size_t i = 0; i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, "substitute") == 0 &&
		    compile_substitute(c, o, &s->kv[i]) < 0)
			return -1;
	if (order_mux(c, o) < 0)
		return -1;
	/* unset signals: their start value (multiplexed ones stay 0) */
	for (size_t i = 0; i < o->msg->n_signals; i++) {
		const struct dbc_signal *g = &o->msg->signals[i];
		struct tset tmp;
		uint64_t raw = 0;

		if (set_of(o, g) || g->mux_parent >= 0 || !g->has_start_value)
			continue;
		memset(&tmp, 0, sizeof(tmp));
		tmp.sig = g;
		raw_range(g, &tmp.lo, &tmp.hi);
		if (g->value_type == DBC_VALUE_INTEGER)
			raw = (uint64_t)(int64_t)g->start_value;
		else
			encode(&tmp, g->start_value * g->factor + g->offset,
			       &raw, &(bool){ false });
		dbc_signal_put_raw(g, raw, o->tmpl, o->len);
	}
	return 0;
}

/* Outputs to evaluate when a tin arrives: change-mode readers, each: ones. */
static int build_deps(struct translate *t)
{
	for (size_t i = 0; i < t->n_outs; i++) {
		struct tout *o = &t->outs[i];

		for (size_t k = 0; k < o->n_sets; k++) {
			uint32_t in[64];
			size_t n;

			if (!o->sets[k].x || o->mode != TM_CHANGE)
				continue;
			n = expr_inputs(o->sets[k].x, in, 64);
			for (size_t j = 0; j < n && j < 64; j++) {
				struct tin *ti = &t->ins[t->slot_in[in[j]]];
				uint32_t *p;

				if (ti->n_outs && ti->outs[ti->n_outs - 1] == i)
					continue;
				p = realloc(ti->outs,
					    (ti->n_outs + 1) * sizeof(*p));
				if (!p)
					return -1;
				ti->outs = p;
				ti->outs[ti->n_outs++] = (uint32_t)i;
			}
		}
		if (o->mode == TM_EACH) {
			struct tin *ti = &t->ins[o->each];
			uint32_t *p = realloc(ti->outs,
					      (ti->n_outs + 1) * sizeof(*p));

			if (!p)
				return -1;
			ti->outs = p;
			ti->outs[ti->n_outs++] = (uint32_t)i;
		}
	}
	t->std = calloc(t->n_buses + 1, sizeof(*t->std));
	if (!t->std)
		return -1;
	for (size_t b = 0; b < t->n_buses; b++)
		for (size_t k = 0; k < 2048; k++)
			t->std[b][k] = -1;
	for (size_t i = t->n_ins; i-- > 0;) {
		struct tin *ti = &t->ins[i];

		if (ti->msg->extended || ti->msg->id >= 2048)
			continue;
		ti->next = t->std[ti->bus][ti->msg->id];
		t->std[ti->bus][ti->msg->id] = (int32_t)i;
	}
	return 0;
}

struct translate *translate_compile(const struct config *cfg,
				    const struct translate_sink *sink,
				    struct config_error *err)
{
	struct translate *t = calloc(1, sizeof(*t));
	struct tcomp c;

	memset(&c, 0, sizeof(c));
	if (!t) {
		config_errorf(err, cfg->path, 0, "out of memory");
		return NULL;
	}
	t->cfg = cfg;
	t->res = cfg->evidence.nanoseconds ? 1 : 1000;
	t->n_buses = cfg->n_buses;
	t->next = UINT64_MAX;
	if (sink)
		t->sink = *sink;
	c.t = t;
	c.err = err;
	t->outs = calloc(cfg->n_outputs + 1, sizeof(*t->outs));
	if (!t->outs) {
		config_errorf(err, cfg->path, 0, "out of memory");
		goto fail;
	}
	if (cfg->n_outputs && compile_aliases(&c) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_outputs; i++) {
		c.sec = &cfg->outputs[i];
		t->n_outs = i + 1;
		if (compile_output(&c, &t->outs[i]) < 0)
			goto fail;
	}
	c.sec = NULL;
	if (build_deps(t) < 0) {
		config_errorf(err, cfg->path, 0, "out of memory");
		goto fail;
	}
	return t;
fail:
	translate_free(t);
	return NULL;
}

void translate_free(struct translate *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_outs; i++) {
		for (size_t k = 0; k < t->outs[i].n_sets; k++)
			expr_free(t->outs[i].sets[k].x);
		free(t->outs[i].sets);
	}
	for (size_t i = 0; i < t->n_ins; i++) {
		free(t->ins[i].sigs);
		free(t->ins[i].slots);
		free(t->ins[i].outs);
	}
	free(t->outs);
	free(t->ins);
	free(t->slots);
	free(t->slot_in);
	free(t->aliases);
	free(t->std);
	free(t);
}

size_t translate_count(const struct translate *t)
{
	return t ? t->n_outs : 0;
}

/* -------------------------------------------------------------- running */

/* Fill data with o's payload at now. false: stale = stop and an input is
 * missing. *deadline: when the result can change without a frame. */
static bool build(struct translate *t, struct tout *o, uint64_t now,
		  uint8_t *data, struct tcount *n, uint64_t *deadline)
{
	struct expr_eval c = { t->slots, now, UINT64_MAX, -1, t->res };
	bool ok = true;

	memcpy(data, o->tmpl, o->len);
	for (size_t i = 0; i < o->n_sets; i++) {
		struct tset *s = &o->sets[i];
		struct expr_value v;
		bool clamped = false;

		s->active = s->parent < 0 ||
			    (o->sets[s->parent].active &&
			     mux_selects(s->sig, o->sets[s->parent].raw));
		if (!s->active || !s->x) {
			if (s->active)
				dbc_signal_put_raw(s->sig, s->raw, data, o->len);
			continue;
		}
		v = expr_eval(s->x, &c);
		if (!v.missing && encode(s, v.v, &s->raw, &clamped) < 0) {
			n->unencodable++;
			v.missing = true;
		}
		if (!v.missing) {
			n->clamped += clamped;
			s->last_raw = s->raw;
			s->have_last = true;
		} else if (o->stale == TS_STOP) {
			ok = false; /* evaluate the rest: held() and rate() */
		} else if (o->stale == TS_HOLD && s->have_last) {
			s->raw = s->last_raw;
			n->held++;
		} else {
			s->raw = s->sub_raw;
			n->substituted++;
		}
		dbc_signal_put_raw(s->sig, s->raw, data, o->len);
	}
	*deadline = c.deadline_ns;
	return ok;
}

static void emit(struct translate *t, struct tout *o, uint64_t at,
		 const uint8_t *data, const struct tcount *n)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.t_ns = at;
	f.id = o->msg->id;
	f.ext = o->msg->extended;
	f.fd = o->fd;
	f.len = o->len;
	f.dir = FRAME_DIR_TX;
	memcpy(f.data, data, o->len);
	if (o->counter) {
		dbc_signal_put_raw(o->counter, o->count, f.data, f.len);
		o->count = (o->count + 1) &
			   ((UINT64_C(1) << o->counter->length) - 1);
	}
	if (o->csum)
		dbc_signal_put_raw(o->csum,
				   translate_checksum(o->ck, f.data, f.len,
						      o->csum->first_byte,
						      o->csum->last_byte + 1u),
				   f.data, f.len);
	o->st.clamped += n->clamped;
	o->st.unencodable += n->unencodable;
	o->st.substituted += n->substituted;
	o->st.held += n->held;
	o->st.built++;
	if (t->sink.send)
		t->sink.send(t->sink.ctx, o->bus, &f, (size_t)(o - t->outs));
}

static void evaluate(struct translate *t, struct tout *o, uint64_t now)
{
	uint8_t data[CANFD_MAX_DLEN];
	struct tcount n = { 0, 0, 0, 0 };
	uint64_t dl;

	if (!build(t, o, now, data, &n, &dl)) {
		o->st.stopped++;
		o->st.unencodable += n.unencodable;
	} else if (o->mode != TM_CHANGE || !o->sent_any ||
		   memcmp(data, o->last, o->len) != 0) {
		memcpy(o->last, data, o->len);
		o->sent_any = true;
		emit(t, o, now, data, &n);
	}
	if (o->mode == TM_CHANGE)
		o->due = dl;
}

static void update_next(struct translate *t)
{
	t->next = UINT64_MAX;
	for (size_t i = 0; i < t->n_outs; i++)
		if (t->outs[i].due < t->next)
			t->next = t->outs[i].due;
}

/* Deadlines up to now, in time order (ties: output order). The engine's
 * time moves to each deadline it runs, not to now: a frame that was stamped
 * before now but is read after this tick keeps its own time. */
static void run_due(struct translate *t, uint64_t now)
{
	while (t->next <= now) {
		struct tout *o = NULL;

		for (size_t i = 0; i < t->n_outs; i++)
			if (t->outs[i].due == t->next) {
				o = &t->outs[i];
				break;
			}
		if (o->due > t->now)
			t->now = o->due;
		evaluate(t, o, o->due);
		if (o->mode == TM_CYCLE)
			o->due += o->period_ns;
		update_next(t);
	}
}

static uint64_t on_grid(const struct translate *t, uint64_t t_ns)
{
	return t_ns - t_ns % t->res;
}

void translate_tick(struct translate *t, uint64_t now_ns)
{
	/* before the first frame there is no clock: nothing is due */
	if (t && t->started)
		run_due(t, on_grid(t, now_ns));
}

uint64_t translate_next_deadline(const struct translate *t)
{
	return t ? t->next : UINT64_MAX;
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

static bool tin_matches(const struct translate *t, const struct tin *ti,
			const struct frame *f)
{
	const struct config_bus *b = &t->cfg->buses[ti->bus];

	if (!ti->msg->extended)
		return false;
	for (size_t d = 0; d < b->n_dbc_paths; d++)
		if (b->dbcs && b->dbcs[d] &&
		    dbc_lookup(b->dbcs[d], f->id, true) == ti->msg)
			return true;
	return false;
}

static void take(struct translate *t, struct tin *ti, const struct frame *f,
		 uint64_t now)
{
	for (size_t k = 0; k < ti->n_sigs; k++) {
		const struct dbc_signal *sig = ti->sigs[k];

		if (sig->last_byte >= f->len)
			continue;
		if (sig->mux_parent >= 0 &&
		    !dbc_signal_active(ti->msg, sig, f->data, f->len))
			continue;
		slot_set(&t->slots[ti->slots[k]],
			 dbc_signal_phys(sig,
					 dbc_signal_raw(sig, f->data, f->len)),
			 now);
	}
	for (size_t k = 0; k < ti->n_outs; k++)
		t->outs[ti->outs[k]].mark = t->epoch;
}

void translate_frame(struct translate *t, int bus, const struct frame *f)
{
	uint64_t now;
	bool any = false;

	if (!t || !t->n_outs || f->err || f->rtr || bus < 0 ||
	    (size_t)bus >= t->n_buses)
		return;
	now = on_grid(t, f->t_ns);
	if (!t->started) {
		/* time starts here: cyclic outputs one period later */
		t->started = true;
		t->now = now;
		for (size_t i = 0; i < t->n_outs; i++)
			if (t->outs[i].mode == TM_CYCLE)
				t->outs[i].due = now + t->outs[i].period_ns;
		update_next(t);
	}
	run_due(t, now);
	if (now < t->now)
		now = t->now; /* time never goes back */
	t->now = now;
	t->epoch++;
	if (!f->ext) {
		for (int32_t i = f->id < 2048 ? t->std[bus][f->id] : -1; i >= 0;
		     i = t->ins[i].next) {
			take(t, &t->ins[i], f, now);
			any = true;
		}
	} else {
		for (size_t i = 0; i < t->n_ins; i++)
			if (t->ins[i].bus == bus &&
			    tin_matches(t, &t->ins[i], f)) {
				take(t, &t->ins[i], f, now);
				any = true;
			}
	}
	if (!any)
		return;
	for (size_t i = 0; i < t->n_outs; i++)
		if (t->outs[i].mark == t->epoch)
			evaluate(t, &t->outs[i], now);
	update_next(t);
}

bool translate_is_output(const struct translate *t, int bus,
			 const struct frame *f)
{
	for (size_t i = 0; t && i < t->n_outs; i++)
		if (t->outs[i].bus == bus && t->outs[i].msg->id == f->id &&
		    t->outs[i].msg->extended == f->ext)
			return true;
	return false;
}

void translate_tx_result(struct translate *t, size_t output, bool sent)
{
	if (!t || output >= t->n_outs)
		return;
	if (sent)
		t->outs[output].st.sent++;
	else
		t->outs[output].st.dropped++;
}

int translate_stats(const struct translate *t, size_t i,
		    struct translate_stats *st)
{
	if (!t || i >= t->n_outs)
		return -1;
	*st = t->outs[i].st;
	return 0;
}
