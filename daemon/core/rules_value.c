/*
 * rules_value.c: rule kinds that bound a value (rules_impl.h explains the
 * table; docs/rules.md the language).
 *
 *   range  signal E, min N and/or max N, when E (optional). Violation while
 *          when holds and signal < min or > max. worst = signal, margin =
 *          distance inside the nearest limit (negative outside).
 *   rate   signal (a signal or alias), max_per_s: |change / time| between
 *          consecutive received values <= max_per_s.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/json.h"
#include "daemon/core/rules_impl.h"

/* ----------------------------------------------------------------- range */

struct range {
	struct expr *signal, *when;
	double min, max;
	bool has_min, has_max;
};
RULE_STATE_FITS(struct range);

static int range_compile(struct compiler *c, const struct config_section *s,
			 struct rule *u)
{
	struct range *k = rule_state(u, struct range);
	const char *file = rules_sec_file(c, s);
	int rc;

	if (!(k->signal = rules_expr_kv(c, s, u, "signal", true)))
		return -1;
	if ((rc = rules_num_kv(c, s, "min", false, -INFINITY, &k->min)) < 0)
		return -1;
	k->has_min = rc == 1;
	if ((rc = rules_num_kv(c, s, "max", false, -INFINITY, &k->max)) < 0)
		return -1;
	k->has_max = rc == 1;
	if (!k->has_min && !k->has_max) {
		rules_set_err(c->err, file, s->line, 0,
			      "rule %s: range needs min, max or both", s->name);
		return -1;
	}
	if (k->has_min && k->has_max && k->min > k->max) {
		rules_set_err(c->err, file, config_kv(s, "max")->line, 0,
			      "rule %s: max is below min", s->name);
		return -1;
	}
	if (k->has_min)
		rules_add_limit(u, "min", k->min);
	if (k->has_max)
		rules_add_limit(u, "max", k->max);
	if (config_kv(s, "when") &&
	    !(k->when = rules_expr_kv(c, s, u, "when", false)))
		return -1;
	return 0;
}

static uint64_t range_eval(struct rules *r, struct rule *u,
			   struct expr_eval *x, uint64_t t, uint64_t line,
			   int32_t from_msg)
{
	struct range *k = rule_state(u, struct range);
	struct expr_value w = rules_run(k->when, x);
	struct expr_value s = rules_run(k->signal, x);
	double margin;

	(void)from_msg;
	if (w.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	} else if (w.v == 0) {
		rules_outcome(r, u, O_IDLE, t, line, 0, 0, -1);
	} else if (s.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	} else {
		margin = INFINITY;
		if (k->has_min)
			margin = s.v - k->min;
		if (k->has_max && k->max - s.v < margin)
			margin = k->max - s.v;
		rules_outcome(r, u, margin < 0 ? O_VIOL : O_OK, t, line, s.v,
			      margin, -1);
	}
	return UINT64_MAX;
}

static void range_message(const struct rules *r, const struct rule *u,
			  char *msg, size_t size)
{
	const struct range *k = rule_state(u, const struct range);
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];
	double w = u->v.worst;

	(void)r;
	if (k->has_max && w > k->max)
		snprintf(msg, size, "%s above max %s", rules_fmt_num(w, a),
			 rules_fmt_num(k->max, b));
	else
		snprintf(msg, size, "%s below min %s", rules_fmt_num(w, a),
			 rules_fmt_num(k->min, b));
}

const struct rule_kind rule_kind_range = {
	.name = "range",
	.keys = (const char *const[]){ "signal", "min", "max", "when", NULL },
	.compile = range_compile,
	.eval = range_eval,
	.message = range_message,
};

/* ------------------------------------------------------------------ rate */

struct rate {
	struct expr *signal; /* rate(signal, 0) */
	double max_per_s;
};
RULE_STATE_FITS(struct rate);

static int rate_compile(struct compiler *c, const struct config_section *s,
			struct rule *u)
{
	struct rate *k = rule_state(u, struct rate);
	const struct config_kv *ks = config_kv(s, "signal");
	const char *file = rules_sec_file(c, s);
	struct config_kv tmp;
	struct expr *sig;
	char *text;

	if (!ks) {
		rules_set_err(c->err, file, s->line, 0,
			      "rule %s: missing key 'signal'", s->name);
		return -1;
	}
	sig = rules_expr_at(c, s, ks, 0, strlen(ks->value));
	if (!sig)
		return -1;
	if (!expr_is_ref(sig, NULL)) {
		expr_free(sig);
		rules_set_err(c->err, file, ks->line,
			      rules_value_col(file, ks->line, "signal"),
			      "signal: expected a signal name (use rate() in "
			      "an assert for expressions)");
		return -1;
	}
	expr_free(sig);
	text = malloc(strlen(ks->value) + 16);
	if (!text) {
		rules_set_err(c->err, file, s->line, 0, "out of memory");
		return -1;
	}
	sprintf(text, "rate(%s, 0)", ks->value);
	tmp = *ks;
	tmp.value = text;
	sig = rules_expr_at(c, s, &tmp, 0, strlen(text));
	free(text);
	if (!sig || rules_keep_expr(c, s, u, "signal", ks->value, sig) < 0)
		return -1;
	k->signal = sig;
	if (rules_num_kv(c, s, "max_per_s", true, 0, &k->max_per_s) < 0)
		return -1;
	return 0;
}

static uint64_t rate_eval(struct rules *r, struct rule *u, struct expr_eval *x,
			  uint64_t t, uint64_t line, int32_t from_msg)
{
	struct rate *k = rule_state(u, struct rate);
	struct expr_value s = rules_run(k->signal, x);
	double margin;

	(void)from_msg;
	if (s.missing) {
		rules_outcome(r, u, O_UNKNOWN, t, line, 0, 0, x->missing_slot);
	} else {
		margin = k->max_per_s - fabs(s.v);
		rules_outcome(r, u, margin < 0 ? O_VIOL : O_OK, t, line, s.v,
			      margin, -1);
	}
	return UINT64_MAX;
}

static void rate_message(const struct rules *r, const struct rule *u,
			 char *msg, size_t size)
{
	const struct rate *k = rule_state(u, const struct rate);
	char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

	(void)r;
	snprintf(msg, size, "rate %s /s beyond %s /s",
		 rules_fmt_num(u->v.worst, a), rules_fmt_num(k->max_per_s, b));
}

const struct rule_kind rule_kind_rate = {
	.name = "rate",
	.keys = (const char *const[]){ "signal", "max_per_s", NULL },
	.compile = rate_compile,
	.eval = rate_eval,
	.message = rate_message,
};
