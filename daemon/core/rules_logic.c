/*
 * rules_logic.c: rule kinds that judge a boolean expect (rules_impl.h
 * explains the table; docs/rules.md the language).
 *
 *   assert     expect E, when E (optional, default always). Violation while
 *              when holds and expect is false.
 *   only_if    signal E, allowed E: signal may be nonzero only while
 *              allowed holds.
 *   implies    when E, expect E, debounce_ms (0), settle_ms (0). when must
 *              hold for debounce_ms to count; from then expect must be true
 *              within settle_ms and stay true while when holds.
 *   hysteresis signal E, set N, clear N, expect E: active from when signal
 *              reaches set until it goes back to clear (set > clear: rising,
 *              set < clear: falling); expect must hold while active.
 * worst/margin come from the expect expression (expr.h expr_margin: a
 * comparison gives its left side and signed distance).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/rules_impl.h"

/* "expect false: EXPECT" */
static void expect_message(const struct rules *r, const struct rule *u,
			   char *msg, size_t size)
{
	(void)r;
	snprintf(msg, size, "expect false: %s", u->expect_text);
}

/* ------------------------------------------------------ assert, only_if */

/* only_if is an assert of `allowed` when `signal` is nonzero. */
struct assert {
	struct expr *when, *expect;
};
RULE_STATE_FITS(struct assert);

static int assert_compile(struct compiler *c, const struct config_section *s,
			  struct rule *u)
{
	struct assert *k = rule_state(u, struct assert);

	if (config_kv(s, "when") &&
	    !(k->when = rules_expr_kv(c, s, u, "when", true)))
		return -1;
	if (!(k->expect = rules_expr_kv(c, s, u, "expect", true)))
		return -1;
	return 0;
}

static int only_if_compile(struct compiler *c, const struct config_section *s,
			   struct rule *u)
{
	struct assert *k = rule_state(u, struct assert);

	if (!(k->when = rules_expr_kv(c, s, u, "signal", true)) ||
	    !(k->expect = rules_expr_kv(c, s, u, "allowed", true)))
		return -1;
	return 0;
}

static uint64_t assert_eval(struct rules *r, struct rule *u,
			    struct expr_eval *x, uint64_t t, uint64_t line,
			    int32_t from_msg)
{
	struct assert *k = rule_state(u, struct assert);
	struct expr_value w = rules_run(k->when, x);
	struct expr_value e = rules_run(k->expect, x);

	(void)from_msg;
	if (w.missing)
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	else if (w.v == 0)
		rules_outcome(r, u, O_IDLE, t, line, 0, 0, -1);
	else
		rules_judge_expect(r, u, k->expect, e, x->missing_slot, t,
				   line);
	return UINT64_MAX;
}

static void only_if_message(const struct rules *r, const struct rule *u,
			    char *msg, size_t size)
{
	(void)r;
	snprintf(msg, size, "active while not allowed: %s", u->expect_text);
}

const struct rule_kind rule_kind_assert = {
	.name = "assert",
	.keys = (const char *const[]){ "when", "expect", NULL },
	.compile = assert_compile,
	.eval = assert_eval,
	.message = expect_message,
};

const struct rule_kind rule_kind_only_if = {
	.name = "only_if",
	.keys = (const char *const[]){ "signal", "allowed", NULL },
	.compile = only_if_compile,
	.eval = assert_eval,
	.message = only_if_message,
};

/* --------------------------------------------------------------- implies */

struct implies {
	struct expr *when, *expect;
	uint64_t debounce_ns, settle_ns;
	bool active;                /* when holds */
	uint64_t since;             /* when true since */
};
RULE_STATE_FITS(struct implies);

static int implies_compile(struct compiler *c, const struct config_section *s,
			   struct rule *u)
{
	struct implies *k = rule_state(u, struct implies);

	if (!(k->when = rules_expr_kv(c, s, u, "when", true)) ||
	    !(k->expect = rules_expr_kv(c, s, u, "expect", true)))
		return -1;
	if (rules_ms_kv(c, s, "debounce_ms", false, false, &k->debounce_ns) < 0 ||
	    rules_ms_kv(c, s, "settle_ms", false, false, &k->settle_ns) < 0)
		return -1;
	return 0;
}

static uint64_t implies_eval(struct rules *r, struct rule *u,
			     struct expr_eval *x, uint64_t t, uint64_t line,
			     int32_t from_msg)
{
	struct implies *k = rule_state(u, struct implies);
	struct expr_value w = rules_run(k->when, x);
	struct expr_value e = rules_run(k->expect, x);
	double worst, margin;

	(void)from_msg;
	if (!rules_truth(w)) {
		k->active = false;
		rules_outcome(r, u, w.missing ? O_UNKNOWN : O_IDLE, t, line, 0,
			      0, x->missing_slot);
		return UINT64_MAX;
	}
	if (!k->active) {
		k->active = true;
		k->since = t;
	}
	/* debounce is reached at its limit (like held()); settle is a
	 * "within": a frame exactly at its end is on time */
	if (t - k->since < k->debounce_ns) {
		rules_outcome(r, u, O_IDLE, t, line, 0, 0, -1);
		return k->settle_ns ? k->since + k->debounce_ns + k->settle_ns +
					      r->res
				    : k->since + k->debounce_ns;
	}
	if (k->settle_ns && t - k->since <= k->debounce_ns + k->settle_ns) {
		rules_outcome(r, u, O_PENDING, t, line, 0, 0, -1);
		return k->since + k->debounce_ns + k->settle_ns + r->res;
	}
	if (e.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	} else if (e.v == 0) {
		/* found by the settle deadline: it began at the limit */
		uint64_t lim = k->since + k->debounce_ns + k->settle_ns;
		uint64_t t0 = k->settle_ns && t > lim && t - lim <= r->res ? lim
									   : t;

		expr_margin(k->expect, &worst, &margin);
		u->determined = u->exercised = true;
		rules_viol_extend(r, u, t0, line, t, line, worst, margin);
	} else {
		rules_outcome(r, u, O_OK, t, line, 0, 0, -1);
	}
	return UINT64_MAX;
}

static void implies_reset(struct rules *r, struct rule *u, uint64_t t)
{
	(void)r;
	(void)t;
	rule_state(u, struct implies)->active = false;
}

const struct rule_kind rule_kind_implies = {
	.name = "implies",
	.keys = (const char *const[]){ "when", "expect", "debounce_ms",
				       "settle_ms", NULL },
	.compile = implies_compile,
	.eval = implies_eval,
	.reset = implies_reset,
	.message = expect_message,
};

/* ------------------------------------------------------------ hysteresis */

struct hysteresis {
	struct expr *signal, *expect;
	double set, clear;
	bool active;
};
RULE_STATE_FITS(struct hysteresis);

static int hysteresis_compile(struct compiler *c,
			      const struct config_section *s, struct rule *u)
{
	struct hysteresis *k = rule_state(u, struct hysteresis);

	if (!(k->signal = rules_expr_kv(c, s, u, "signal", true)) ||
	    !(k->expect = rules_expr_kv(c, s, u, "expect", true)))
		return -1;
	if (rules_num_kv(c, s, "set", true, -INFINITY, &k->set) < 0 ||
	    rules_num_kv(c, s, "clear", true, -INFINITY, &k->clear) < 0)
		return -1;
	if (k->set == k->clear) {
		rules_set_err(c->err, rules_sec_file(c, s),
			      config_kv(s, "clear")->line, 0,
			      "rule %s: set and clear must differ", s->name);
		return -1;
	}
	rules_add_limit(u, "set", k->set);
	rules_add_limit(u, "clear", k->clear);
	return 0;
}

static uint64_t hysteresis_eval(struct rules *r, struct rule *u,
				struct expr_eval *x, uint64_t t, uint64_t line,
				int32_t from_msg)
{
	struct hysteresis *k = rule_state(u, struct hysteresis);
	struct expr_value s = rules_run(k->signal, x);
	struct expr_value e = rules_run(k->expect, x);

	(void)from_msg;
	if (s.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
		return UINT64_MAX;
	}
	if (k->set > k->clear) {
		if (!k->active && s.v >= k->set)
			k->active = true;
		else if (k->active && s.v <= k->clear)
			k->active = false;
	} else {
		if (!k->active && s.v <= k->set)
			k->active = true;
		else if (k->active && s.v >= k->clear)
			k->active = false;
	}
	if (!k->active)
		rules_outcome(r, u, O_IDLE, t, line, 0, 0, -1);
	else
		rules_judge_expect(r, u, k->expect, e, x->missing_slot, t,
				   line);
	return UINT64_MAX;
}

static void hysteresis_reset(struct rules *r, struct rule *u, uint64_t t)
{
	(void)r;
	(void)t;
	rule_state(u, struct hysteresis)->active = false;
}

const struct rule_kind rule_kind_hysteresis = {
	.name = "hysteresis",
	.keys = (const char *const[]){ "signal", "set", "clear", "expect",
				       NULL },
	.compile = hysteresis_compile,
	.eval = hysteresis_eval,
	.reset = hysteresis_reset,
	.message = expect_message,
};
