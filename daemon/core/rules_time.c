/*
 * rules_time.c: rule kinds about when things happen (rules_impl.h explains
 * the table; docs/rules.md the language).
 *
 *   response   trigger E, expect E, within_ms, clock = time |
 *              accumulate(E). When trigger becomes true (false or missing ->
 *              true), expect must become true within within_ms; with
 *              accumulate(E) only time while E holds counts ("within 20 min
 *              of driving at 50..100 km/h"). The trigger is an event: it
 *              stays armed when trigger goes false again (write expect as
 *              `lamp == 1 || !low` to release it). One window at a time.
 *              A window still open when the session ends is inconclusive.
 *              worst = elapsed ms, margin = within_ms - elapsed.
 *   cycle      message NAME, period_ms (default GenMsgCycleTime), tol_pct
 *              (10). Every interval between arrivals must be within
 *              period * (1 +- tol_pct/100); a message that stops is found at
 *              the deadline. worst = interval ms. A run of bad intervals is
 *              one violation from the start of the first to the end of the
 *              last.
 *   stale      signal NAME or message NAME, max_age_ms: violation from the
 *              moment it is older than max_age_ms until it arrives again.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/json.h"
#include "daemon/core/rules_impl.h"
#include "dbc/dbc.h"

/* -------------------------------------------------------------- response */

struct response {
	struct expr *trigger, *expect, *cond;
	uint64_t within_ns;
	bool armed, trig_prev, cond_prev;
	uint64_t t_trig, acc_ns, t_last_eval;
};
RULE_STATE_FITS(struct response);

static int clock_syntax(struct compiler *c, const struct config_section *s,
			const struct config_kv *kv)
{
	const char *file = rules_sec_file(c, s);

	rules_set_err(c->err, file, kv->line,
		      rules_value_col(file, kv->line, "clock"),
		      "clock: expected time or accumulate(COND)");
	return -1;
}

static int response_compile(struct compiler *c, const struct config_section *s,
			    struct rule *u)
{
	struct response *k = rule_state(u, struct response);
	const struct config_kv *kv;
	const char *v;
	size_t n, open = 10;

	if (!(k->trigger = rules_expr_kv(c, s, u, "trigger", true)) ||
	    !(k->expect = rules_expr_kv(c, s, u, "expect", true)))
		return -1;
	if (rules_ms_kv(c, s, "within_ms", true, true, &k->within_ns) < 0)
		return -1;
	kv = config_kv(s, "clock");
	if (!kv || strcmp(kv->value, "time") == 0)
		return 0;
	v = kv->value;
	n = strlen(v);
	if (strncmp(v, "accumulate", 10) != 0)
		return clock_syntax(c, s, kv);
	while (v[open] == ' ' || v[open] == '\t')
		open++;
	while (n > open && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (v[open] != '(' || n < open + 2 || v[n - 1] != ')')
		return clock_syntax(c, s, kv);
	k->cond = rules_expr_at(c, s, kv, open + 1, n - 1 - (open + 1));
	if (!k->cond || rules_keep_expr(c, s, u, "clock", v, k->cond) < 0)
		return -1;
	return 0;
}

/* The deadline of an armed window: when it runs out if nothing changes. */
static uint64_t response_deadline(const struct rules *r,
				  const struct response *k, uint64_t t)
{
	if (!k->cond)
		return k->t_trig + k->within_ns + r->res;
	if (k->cond_prev)
		return t + (k->within_ns - k->acc_ns) + r->res;
	return UINT64_MAX;
}

static uint64_t response_eval(struct rules *r, struct rule *u,
			      struct expr_eval *x, uint64_t t, uint64_t line,
			      int32_t from_msg)
{
	struct response *k = rule_state(u, struct response);
	struct expr_value trig, e, cond;
	uint64_t dl = UINT64_MAX;

	(void)from_msg;
	if (k->armed && !k->cond)
		k->acc_ns = t - k->t_trig;
	else if (k->armed && k->cond_prev)
		k->acc_ns += t - k->t_last_eval;
	trig = rules_run(k->trigger, x);
	e = rules_run(k->expect, x);
	cond = rules_run(k->cond, x);
	k->t_last_eval = t;
	k->cond_prev = rules_truth(cond);
	if (k->armed) {
		double el = (double)k->acc_ns / 1e6;
		double lim = (double)k->within_ns / 1e6;

		if (rules_truth(e)) {
			k->armed = false;
			if (u->v.open) {
				u->v.worst = el;
				u->v.margin = lim - el;
			}
			rules_outcome(r, u, O_OK, t, line, 0, 0, -1);
		} else if (k->acc_ns > k->within_ns) {
			/* opened at the moment the window ran out */
			uint64_t over = k->acc_ns - k->within_ns;
			uint64_t t0 = t - (over < t ? over : 0);

			u->determined = u->exercised = true;
			if (!u->v.open)
				rules_viol_extend(r, u, t0, line, t, line, el,
						  lim - el);
			else
				rules_viol_extend(r, u, 0, 0, t, line, el,
						  lim - el);
			if (e.missing)
				rules_note_unknown(r, u, t, x->missing_slot,
						   NULL);
		} else {
			rules_outcome(r, u,
				      e.missing || (k->cond && cond.missing)
					      ? O_UNKNOWN
					      : O_PENDING,
				      t, line, 0, 0, x->missing_slot);
			dl = response_deadline(r, k, t);
		}
	} else if (trig.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	} else if (trig.v != 0 && !k->trig_prev) {
		if (rules_truth(e)) {
			rules_outcome(r, u, O_OK, t, line, 0, 0, -1);
		} else {
			k->armed = true;
			k->t_trig = t;
			k->acc_ns = 0;
			rules_outcome(r, u, O_PENDING, t, line, 0, 0, -1);
			dl = response_deadline(r, k, t);
		}
	} else {
		rules_outcome(r, u, O_IDLE, t, line, 0, 0, -1);
	}
	k->trig_prev = rules_truth(trig);
	return dl;
}

static void response_finish(struct rules *r, struct rule *u, uint64_t end_ns)
{
	struct response *k = rule_state(u, struct response);

	if (k->armed) {
		uint64_t acc = k->acc_ns;

		if (!k->cond)
			acc = end_ns - k->t_trig;
		else if (k->cond_prev)
			acc += end_ns - k->t_last_eval;
		if (u->v.open) {
			double el = (double)acc / 1e6;

			rules_viol_extend(r, u, 0, 0, end_ns, r->line, el,
					  (double)k->within_ns / 1e6 - el);
		} else {
			rules_note_unknown(r, u, end_ns, -1,
					   "session ended inside the response "
					   "window");
			u->unknown_after = true;
		}
	}
	rules_viol_close(r, u, end_ns, r->line);
}

static void response_reset(struct rules *r, struct rule *u, uint64_t t)
{
	struct response *k = rule_state(u, struct response);

	(void)r;
	(void)t;
	k->armed = k->trig_prev = k->cond_prev = false;
	k->acc_ns = 0;
}

static void response_message(const struct rules *r, const struct rule *u,
			     char *msg, size_t size)
{
	const struct response *k = rule_state(u, const struct response);
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

	(void)r;
	snprintf(msg, size, "no response within %s ms (%s ms)",
		 rules_fmt_num((double)k->within_ns / 1e6, a),
		 rules_fmt_num(u->v.worst, b));
}

const struct rule_kind rule_kind_response = {
	.name = "response",
	.keys = (const char *const[]){ "trigger", "expect", "within_ms",
				       "clock", NULL },
	.compile = response_compile,
	.eval = response_eval,
	.finish = response_finish,
	.reset = response_reset,
	.message = response_message,
};

/* ----------------------------------------------------------------- cycle */

struct cycle {
	uint64_t min_gap_ns, max_gap_ns;
	bool have_prev;
	uint64_t prev_t, prev_line;
};
RULE_STATE_FITS(struct cycle);

static int cycle_compile(struct compiler *c, const struct config_section *s,
			 struct rule *u)
{
	struct cycle *k = rule_state(u, struct cycle);
	const char *file = rules_sec_file(c, s);
	const struct config_kv *kv = config_kv(s, "message");
	double tol = 10, period = 0;
	uint64_t period_ns = 0;
	int rc;

	if (!kv) {
		rules_set_err(c->err, file, s->line, 0,
			      "rule %s: missing key 'message'", s->name);
		return -1;
	}
	if ((u->msg = rules_message_kv(c, s, kv)) < 0)
		return -1;
	if ((rc = rules_ms_kv(c, s, "period_ms", false, true, &period_ns)) < 0)
		return -1;
	period = (double)period_ns / 1e6;
	if (rc == 0) {
		period = c->r->msgs[u->msg].msg->cycle_time_ms;
		if (period <= 0) {
			rules_set_err(c->err, file, s->line, 0,
				      "rule %s: %s has no GenMsgCycleTime: "
				      "set period_ms",
				      s->name, kv->value);
			return -1;
		}
	}
	if (rules_num_kv(c, s, "tol_pct", false, 0, &tol) < 0)
		return -1;
	if (tol >= 100) {
		rules_set_err(c->err, file, config_kv(s, "tol_pct")->line, 0,
			      "tol_pct: must be below 100");
		return -1;
	}
	k->min_gap_ns = (uint64_t)llround(period * (1 - tol / 100) * 1e6);
	k->max_gap_ns = (uint64_t)llround(period * (1 + tol / 100) * 1e6);
	/* limits on the interval, in ms */
	rules_add_limit(u, "min", period * (1 - tol / 100));
	rules_add_limit(u, "max", period * (1 + tol / 100));
	return 0;
}

static uint64_t cycle_eval(struct rules *r, struct rule *u,
			   struct expr_eval *x, uint64_t t, uint64_t line,
			   int32_t from_msg)
{
	struct cycle *k = rule_state(u, struct cycle);

	(void)x;
	if (from_msg == u->msg) {
		if (k->have_prev) {
			uint64_t dt = t - k->prev_t;
			double ms = (double)dt / 1e6;

			u->determined = u->exercised = true;
			if (dt < k->min_gap_ns)
				rules_viol_extend(r, u, k->prev_t, k->prev_line,
						  t, line, ms,
						  ms - (double)k->min_gap_ns / 1e6);
			else if (dt > k->max_gap_ns)
				rules_viol_extend(r, u, k->prev_t, k->prev_line,
						  t, line, ms,
						  (double)k->max_gap_ns / 1e6 - ms);
			else
				rules_viol_close(r, u, k->prev_t, k->prev_line);
		} else {
			u->determined = true;
		}
		k->have_prev = true;
		k->prev_t = t;
		k->prev_line = line;
	} else if (k->have_prev && t - k->prev_t > k->max_gap_ns) {
		double ms = (double)(t - k->prev_t) / 1e6;
		uint64_t wait = rules_bus_wait(r, u, k->prev_t + k->max_gap_ns);

		if (wait)
			return wait;
		rules_viol_extend(r, u, k->prev_t, k->prev_line, t, line, ms,
				  (double)k->max_gap_ns / 1e6 - ms);
	}
	if (k->have_prev && t - k->prev_t <= k->max_gap_ns)
		return k->prev_t + k->max_gap_ns + r->res;
	return UINT64_MAX;
}

static void cycle_finish(struct rules *r, struct rule *u, uint64_t end_ns)
{
	struct cycle *k = rule_state(u, struct cycle);

	if (!u->v.open)
		return;
	if (end_ns - k->prev_t > k->max_gap_ns) {
		double ms = (double)(end_ns - k->prev_t) / 1e6;

		rules_viol_extend(r, u, 0, 0, end_ns, r->line, ms,
				  (double)k->max_gap_ns / 1e6 - ms);
		rules_viol_close(r, u, end_ns, r->line);
	} else {
		rules_viol_close(r, u, k->prev_t, k->prev_line);
	}
}

static void cycle_reset(struct rules *r, struct rule *u, uint64_t t)
{
	(void)r;
	(void)t;
	rule_state(u, struct cycle)->have_prev = false;
}

static void cycle_message(const struct rules *r, const struct rule *u,
			  char *msg, size_t size)
{
	const struct cycle *k = rule_state(u, const struct cycle);
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX], c[JSON_DOUBLE_MAX];

	(void)r;
	snprintf(msg, size, "interval %s ms outside %s..%s ms",
		 rules_fmt_num(u->v.worst, a),
		 rules_fmt_num((double)k->min_gap_ns / 1e6, b),
		 rules_fmt_num((double)k->max_gap_ns / 1e6, c));
}

const struct rule_kind rule_kind_cycle = {
	.name = "cycle",
	.keys = (const char *const[]){ "message", "period_ms", "tol_pct",
				       NULL },
	.compile = cycle_compile,
	.eval = cycle_eval,
	.finish = cycle_finish,
	.reset = cycle_reset,
	.message = cycle_message,
};

/* ----------------------------------------------------------------- stale */

struct stale {
	uint32_t slot;              /* the signal's or message's slot */
	uint64_t max_age_ns;
	uint64_t since;             /* ages count from here at the earliest */
};
RULE_STATE_FITS(struct stale);

static int stale_compile(struct compiler *c, const struct config_section *s,
			 struct rule *u)
{
	struct stale *k = rule_state(u, struct stale);
	const char *file = rules_sec_file(c, s);
	const struct config_kv *ks = config_kv(s, "signal");
	const struct config_kv *km = config_kv(s, "message");

	if (!!ks == !!km) {
		rules_set_err(c->err, file, s->line, 0,
			      "rule %s: stale needs signal or message "
			      "(one of them)",
			      s->name);
		return -1;
	}
	if (ks) {
		struct expr_ref ref;
		struct expr *sig = rules_expr_kv(c, s, u, "signal", true);

		if (!sig)
			return -1;
		if (!expr_is_ref(sig, &ref)) {
			rules_set_err(c->err, file, ks->line,
				      rules_value_col(file, ks->line, "signal"),
				      "signal: expected a signal name");
			return -1;
		}
		k->slot = ref.slot;
		u->msg = rules_slot_msg(c->r, ref.slot);
	} else {
		if ((u->msg = rules_message_kv(c, s, km)) < 0)
			return -1;
		k->slot = c->r->msgs[u->msg].slot;
	}
	if (rules_ms_kv(c, s, "max_age_ms", true, true, &k->max_age_ns) < 0)
		return -1;
	return 0;
}

/* When the value's age starts: its arrival, or a restart after it. */
static uint64_t stale_from(const struct stale *k, const struct expr_slot *sl)
{
	return sl->t_ns > k->since ? sl->t_ns : k->since;
}

static uint64_t stale_eval(struct rules *r, struct rule *u,
			   struct expr_eval *x, uint64_t t, uint64_t line,
			   int32_t from_msg)
{
	struct stale *k = rule_state(u, struct stale);
	const struct expr_slot *sl = &r->slots[k->slot];
	uint64_t from, age;

	(void)x;
	(void)from_msg;
	if (!sl->valid)
		return UINT64_MAX;
	u->determined = u->exercised = true;
	from = stale_from(k, sl);
	age = t - from;
	if (age > k->max_age_ns) {
		double ms = (double)age / 1e6;
		uint64_t wait = u->v.open ? 0
					  : rules_bus_wait(r, u,
							   from + k->max_age_ns);

		if (wait)
			return wait;
		rules_viol_extend(r, u, from + k->max_age_ns, line, t, line, ms,
				  (double)k->max_age_ns / 1e6 - ms);
		return UINT64_MAX;
	}
	if (u->v.open && sl->pvalid) {
		double ms = (double)(sl->t_ns - sl->pt_ns) / 1e6;

		rules_viol_extend(r, u, 0, 0, t, line, ms,
				  (double)k->max_age_ns / 1e6 - ms);
		rules_viol_close(r, u, t, line);
	}
	return from + k->max_age_ns + r->res;
}

static void stale_finish(struct rules *r, struct rule *u, uint64_t end_ns)
{
	struct stale *k = rule_state(u, struct stale);

	if (u->v.open) {
		const struct expr_slot *sl = &r->slots[k->slot];
		double ms = (double)(end_ns - stale_from(k, sl)) / 1e6;

		rules_viol_extend(r, u, 0, 0, end_ns, r->line, ms,
				  (double)k->max_age_ns / 1e6 - ms);
	}
	rules_viol_close(r, u, end_ns, r->line);
}

static void stale_reset(struct rules *r, struct rule *u, uint64_t t)
{
	(void)r;
	rule_state(u, struct stale)->since = t;
}

static void stale_message(const struct rules *r, const struct rule *u,
			  char *msg, size_t size)
{
	const struct stale *k = rule_state(u, const struct stale);
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

	snprintf(msg, size, "%s not updated for %s ms (max %s ms)",
		 r->slot_names[k->slot], rules_fmt_num(u->v.worst, a),
		 rules_fmt_num((double)k->max_age_ns / 1e6, b));
}

const struct rule_kind rule_kind_stale = {
	.name = "stale",
	.keys = (const char *const[]){ "signal", "message", "max_age_ms",
				       NULL },
	.compile = stale_compile,
	.eval = stale_eval,
	.finish = stale_finish,
	.reset = stale_reset,
	.message = stale_message,
};
