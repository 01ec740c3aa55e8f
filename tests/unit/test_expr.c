/* test_expr: the rule expression language, table-driven: good input ->
 * value (or missing), bad input -> column and message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/core/expr.h"
#include "dbc/dbc.h"

#define MS 1000000ull

/* Fake world: slots 0 A.x, 1 A.y, 2 Gear.Position (value table), 3 speed
 * (alias of slot 6, stale after 100 ms), 4 message A, 5 B.z (never
 * received), 6 the signal behind speed. */
static struct dbc_value_name gear_values[] = {
	{ 0, (char *)"P" }, { 1, (char *)"R" }, { 2, (char *)"N" },
	{ 3, (char *)"D" },
};
static struct dbc_signal sig_plain = { .name = (char *)"x", .factor = 1 };
static struct dbc_signal sig_gear = {
	.name = (char *)"Position",
	.factor = 1,
	.values = gear_values,
	.n_values = 4,
};

/* A float signal with a value table (VAL_ on a SIG_VALTYPE_ 1 signal): its
 * values are float values, not raw bit patterns. F.m reads slot 1. */
static struct dbc_value_name mode_values[] = {
	{ 0, (char *)"Off" }, { 1, (char *)"On" },
};
static struct dbc_signal sig_fmode = {
	.name = (char *)"m",
	.length = 32,
	.value_type = DBC_VALUE_FLOAT32,
	.factor = 1,
	.values = mode_values,
	.n_values = 2,
};

static int resolve(void *ctx, const char *name, const char *member,
		   struct expr_ref *out, char *msg, size_t msglen)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	if (member && strcmp(name, "A") == 0 && strcmp(member, "x") == 0) {
		out->slot = 0;
		out->sig = &sig_plain;
		return 0;
	}
	if (member && strcmp(name, "A") == 0 && strcmp(member, "y") == 0) {
		out->slot = 1;
		out->sig = &sig_plain;
		return 0;
	}
	if (member && strcmp(name, "Gear") == 0 &&
	    strcmp(member, "Position") == 0) {
		out->slot = 2;
		out->sig = &sig_gear;
		return 0;
	}
	if (member && strcmp(name, "F") == 0 && strcmp(member, "m") == 0) {
		out->slot = 1;
		out->sig = &sig_fmode;
		return 0;
	}
	if (member && strcmp(name, "B") == 0 && strcmp(member, "z") == 0) {
		out->slot = 5;
		out->sig = &sig_plain;
		return 0;
	}
	if (!member && strcmp(name, "speed") == 0) {
		out->slot = 6;
		out->stale_ns = 100 * MS;
		out->sig = &sig_plain;
		return 0;
	}
	if (!member && strcmp(name, "A") == 0) {
		out->slot = 4;
		out->is_message = true;
		return 0;
	}
	if (member && (strcmp(name, "A") == 0 || strcmp(name, "B") == 0 ||
		       strcmp(name, "Gear") == 0))
		snprintf(msg, msglen, "unknown signal %s.%s", name, member);
	else if (member)
		snprintf(msg, msglen, "unknown message %s", name);
	else
		snprintf(msg, msglen, "unknown signal %s", name);
	return -1;
}

static const struct expr_resolver resolver = { resolve, NULL };

static struct expr_slot slots[7];

/* now = 1000 ms; A.x = 5 at 980 ms, A.y = 1, Gear D, speed 42 at 950 ms. */
static void world(uint64_t speed_t)
{
	memset(slots, 0, sizeof(slots));
	slots[0] = (struct expr_slot){ .v = 5, .t_ns = 980 * MS, .valid = true };
	slots[1] = (struct expr_slot){ .v = 1, .t_ns = 980 * MS, .valid = true };
	slots[2] = (struct expr_slot){ .v = 3, .t_ns = 900 * MS, .valid = true };
	slots[4] = (struct expr_slot){ .t_ns = 980 * MS, .valid = true };
	slots[6] = (struct expr_slot){ .v = 42, .t_ns = speed_t, .valid = true };
}

struct good {
	const char *text;
	double want;    /* NAN: missing */
};

static const struct good goods[] = {
	{ "1 + 2 * 3", 7 },
	{ "(1 + 2) * 3", 9 },
	{ "-3 + 5", 2 },
	{ "- (2 - 5)", 3 },
	{ "10 / 4", 2.5 },
	{ "10 - 4 - 3", 3 },
	{ "1 / 0", NAN },
	{ "0x10 + 1e3 + 2.5e-1", 1016.25 },
	{ "A.x", 5 },
	{ "A.x * 2 + A.y", 11 },
	{ "A . x", 5 },
	{ "A.x > 3 && A.y < 2", 1 },
	{ "A.x > 3 && A.y > 2", 0 },
	{ "A.x < 3 || A.y == 1", 1 },
	{ "!(1 < 2)", 0 },
	{ "!0", 1 },
	{ "1 <= 1", 1 },
	{ "1 >= 2", 0 },
	{ "3 == 3", 1 },
	{ "3 != 3", 0 },
	{ "Gear.Position != \"P\"", 1 },
	{ "Gear.Position == \"D\"", 1 },
	{ "\"D\" == Gear.Position", 1 },
	{ "Gear.Position > \"N\"", 1 },
	{ "abs(-4)", 4 },
	{ "min(3, 4)", 3 },
	{ "max(3, 4)", 4 },
	{ "between(5, 1, 10)", 1 },
	{ "between(A.x, 6, 10)", 0 },
	{ "between(10, 1, 10)", 1 },
	{ "B.z", NAN },
	{ "B.z > 1", NAN },
	{ "B.z > 1 && 0", 0 },
	{ "0 && B.z > 1", 0 },
	{ "B.z > 1 || 1", 1 },
	{ "B.z > 1 || 0", NAN },
	{ "!B.z", NAN },
	{ "abs(B.z)", NAN },
	{ "min(B.z, 1)", NAN },
	{ "age(A)", 20 },
	{ "age(A.x)", 20 },
	{ "age(speed)", 50 },
	{ "age(B.z)", NAN },
	{ "speed + 1", 43 },
	{ "held(A.x > 1, 0)", 1 },
	{ "  A.x\t>\t4  ", 1 },
	{ "F.m == \"On\"", 1 },
	{ "F.m != \"Off\"", 1 },
	{ "A.x > 3 ? 10 : 20", 10 },
	{ "A.x > 6 ? 10 : 20", 20 },
	{ "0 ? 1 : 0 ? 2 : 3", 3 },
	{ "1 ? 0 ? 5 : 6 : 7", 6 },
	{ "Gear.Position == \"R\" ? 2 : (Gear.Position == \"D\" ? 1 : 0)", 1 },
	{ "B.z > 1 ? 1 : 2", NAN },
	{ "1 ? A.x : B.z", 5 },
	{ "0 ? A.x : B.z", NAN },
	{ "1 + (A.y ? 2 : 3) * 2", 5 },
	{ "A.x > 3 || 0 ? 7 : 8", 7 },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct expr_error err;
		struct expr *e = expr_compile(goods[i].text,
					      strlen(goods[i].text), &resolver,
					      &err);
		struct expr_eval c = { slots, 1000 * MS, UINT64_MAX, -1, 0 };
		struct expr_value v;

		if (!e)
			fail_msg("%s: col %u: %s", goods[i].text, err.col,
				 err.msg);
		world(950 * MS);
		v = expr_eval(e, &c);
		if (isnan(goods[i].want)) {
			if (!v.missing)
				fail_msg("%s: want missing, got %g",
					 goods[i].text, v.v);
		} else if (v.missing || v.v != goods[i].want) {
			fail_msg("%s: want %g, got %s%g", goods[i].text,
				 goods[i].want, v.missing ? "missing " : "",
				 v.v);
		}
		expr_free(e);
	}
}

struct bad {
	const char *text;
	unsigned col;
	const char *msg; /* substring */
};

static const struct bad bads[] = {
	{ "", 1, "empty expression" },
	{ "   ", 4, "empty expression" },
	{ "1 +", 4, "unexpected end" },
	{ "(1 + 2", 7, "expected ')'" },
	{ "1 2", 3, "unexpected '2'" },
	{ "1 = 2", 3, "use ==" },
	{ "1 & 2", 3, "use ==, && or ||" },
	{ "1 < 2 < 3", 7, "do not chain" },
	{ "12abc", 1, "bad number" },
	{ "1.2.3", 1, "bad number" },
	{ "\"abc", 1, "unterminated string" },
	{ "A.nope > 1", 1, "unknown signal A.nope" },
	{ "Nope.x", 1, "unknown message Nope" },
	{ "1 + nope", 5, "unknown signal nope" },
	{ "foo(1)", 1, "unknown function foo()" },
	{ "abs(1, 2)", 1, "abs() takes 1 argument, not 2" },
	{ "between(1, 2)", 1, "takes 3 arguments" },
	{ "min()", 1, "takes 2 arguments, not 0" },
	{ "max(1 2)", 7, "expected ',' or ')'" },
	{ "A.x == \"P\"", 8, "no value table" },
	{ "Gear.Position == \"Q\"", 18, "\"Q\" is not a value of Gear.Position (\"P\", \"R\", \"N\", \"D\")" },
	{ "3 == \"P\"", 6, "compared with a number" },
	{ "\"P\"", 1, "only allowed in a comparison" },
	{ "\"P\" + 1", 1, "only allowed in a comparison" },
	{ "\"P\" == \"P\"", 1, "two strings" },
	{ "abs(\"P\")", 5, "only allowed in a comparison" },
	{ "held(A.x > 1, A.y)", 15, "window must be a number" },
	{ "held(A.x > 1, -5)", 15, "must be >= 0" },
	{ "rate(A.x + 1, 0)", 6, "needs a signal" },
	{ "A > 1", 1, "is a message" },
	{ "age(1)", 5, "age() needs a signal or message name" },
	{ "age(Nope)", 5, "unknown signal Nope" },
	{ "A.", 3, "expected a signal name" },
	{ "A.x # 2", 5, "unexpected '#'" },
	{ "!", 2, "unexpected end" },
	{ "1 ? 2", 6, "expected ':' of ?:" },
	{ "1 ? \"P\" : 2", 5, "only allowed in a comparison" },
	{ "\"P\" ? 1 : 2", 1, "only allowed in a comparison" },
	{ "1 ? 2 : ", 9, "unexpected end" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct expr_error err;
		struct expr *e = expr_compile(bads[i].text,
					      strlen(bads[i].text), &resolver,
					      &err);

		if (e)
			fail_msg("%s: compiled, want error", bads[i].text);
		if (err.col != bads[i].col || !strstr(err.msg, bads[i].msg))
			fail_msg("%s: got col %u \"%s\", want col %u \"%s\"",
				 bads[i].text, err.col, err.msg, bads[i].col,
				 bads[i].msg);
	}
}

/* Compiled for a target signal, strings in value position name its values. */
static void test_target_strings(void **state)
{
	static const struct {
		const char *text;
		double want;   /* NAN: compile error */
		const char *msg;
	} cases[] = {
		{ "\"D\"", 3, NULL },
		{ "Gear.Position == \"R\" ? \"N\" : \"P\"", 0, NULL },
		{ "A.x > 1 ? \"R\" : 2", 1, NULL },
		{ "\"Q\"", NAN, "\"Q\" is not a value of Position" },
		{ "\"D\" + 1", NAN, "only allowed in a comparison" },
	};

	(void)state;
	world(950 * MS);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_error err;
		struct expr *e = expr_compile_for(cases[i].text,
						  strlen(cases[i].text),
						  &resolver, &sig_gear, &err);
		struct expr_eval c = { slots, 1000 * MS, UINT64_MAX, -1, 0 };
		struct expr_value v;

		if (isnan(cases[i].want)) {
			if (e || !strstr(err.msg, cases[i].msg))
				fail_msg("%s: want error \"%s\", got \"%s\"",
					 cases[i].text, cases[i].msg,
					 e ? "compiled" : err.msg);
			continue;
		}
		if (!e)
			fail_msg("%s: %s", cases[i].text, err.msg);
		v = expr_eval(e, &c);
		if (v.missing || v.v != cases[i].want)
			fail_msg("%s: want %g, got %g", cases[i].text,
				 cases[i].want, v.v);
		expr_free(e);
	}
	/* without a target the lone string stays an error */
	{
		struct expr_error err;

		assert_null(expr_compile_for("\"D\"", 3, &resolver, &sig_plain,
					     &err));
		assert_non_null(strstr(err.msg, "no value table"));
	}
}

static void test_deep_nesting(void **state)
{
	char buf[512];
	struct expr_error err;
	struct expr *e;

	(void)state;
	memset(buf, '(', 200);
	buf[200] = '1';
	memset(buf + 201, ')', 200);
	buf[401] = '\0';
	e = expr_compile(buf, strlen(buf), &resolver, &err);
	assert_null(e);
	assert_non_null(strstr(err.msg, "nested too deeply"));
	/* 20 levels are fine */
	memset(buf, '(', 20);
	buf[20] = '1';
	memset(buf + 21, ')', 20);
	buf[41] = '\0';
	e = expr_compile(buf, strlen(buf), &resolver, &err);
	assert_non_null(e);
	expr_free(e);
}

static struct expr_value at(struct expr *e, uint64_t t, uint64_t *deadline)
{
	struct expr_eval c = { slots, t, UINT64_MAX, -1, 0 };
	struct expr_value v = expr_eval(e, &c);

	if (deadline)
		*deadline = c.deadline_ns;
	return v;
}

static void test_stale_and_deadline(void **state)
{
	struct expr_error err;
	struct expr *e = expr_compile("speed > 10", 10, &resolver, &err);
	uint64_t dl;
	struct expr_value v;

	(void)state;
	assert_non_null(e);
	world(950 * MS);
	v = at(e, 1000 * MS, &dl);
	assert_false(v.missing);
	assert_int_equal(dl, 1050 * MS + 1); /* stale just after 100 ms */
	v = at(e, 1050 * MS, &dl); /* exactly 100 ms old: still fresh */
	assert_false(v.missing);
	v = at(e, 1050 * MS + 1, &dl);
	assert_true(v.missing);
	assert_int_equal(dl, UINT64_MAX);
	expr_free(e);
}

static void test_held(void **state)
{
	struct expr_error err;
	const char *t = "held(A.x > 1, 100)";
	struct expr *e = expr_compile(t, strlen(t), &resolver, &err);
	uint64_t dl;

	(void)state;
	assert_non_null(e);
	world(950 * MS);
	slots[0].v = 5;
	assert_int_equal(at(e, 1000 * MS, &dl).v, 0);
	assert_int_equal(dl, 1100 * MS);
	assert_int_equal(at(e, 1099 * MS, &dl).v, 0);
	assert_int_equal(at(e, 1100 * MS, &dl).v, 1);
	assert_int_equal(dl, UINT64_MAX);
	slots[0].v = 0; /* drops: restarts */
	assert_int_equal(at(e, 1150 * MS, NULL).v, 0);
	slots[0].v = 5;
	assert_int_equal(at(e, 1200 * MS, &dl).v, 0);
	assert_int_equal(dl, 1300 * MS);
	slots[0].valid = false; /* missing breaks it too */
	assert_true(at(e, 1250 * MS, NULL).missing);
	slots[0].valid = true;
	assert_int_equal(at(e, 1300 * MS, &dl).v, 0);
	assert_int_equal(dl, 1400 * MS);
	expr_free(e);
}

static void test_rate(void **state)
{
	struct expr_error err;
	const char *t1 = "rate(A.x, 1000)", *t2 = "rate(A.x, 0)";
	struct expr *e = expr_compile(t1, strlen(t1), &resolver, &err);
	struct expr *e0 = expr_compile(t2, strlen(t2), &resolver, &err);
	struct expr_value v;

	(void)state;
	assert_non_null(e);
	assert_non_null(e0);
	world(950 * MS);
	/* x = 10 * t (s): rate 10/s, sampled every 100 ms */
	for (int k = 0; k <= 30; k++) {
		uint64_t t = (uint64_t)k * 100 * MS;

		slots[0].pv = slots[0].v;
		slots[0].pt_ns = slots[0].t_ns;
		slots[0].pvalid = k > 0;
		slots[0].v = k;
		slots[0].t_ns = t;
		v = at(e, t, NULL);
		if (k == 0) {
			assert_true(v.missing);
		} else {
			assert_false(v.missing);
			assert_true(fabs(v.v - 10) < 1e-9);
		}
		v = at(e0, t, NULL);
		if (k == 0) {
			assert_true(v.missing);
		} else {
			assert_false(v.missing);
			assert_true(fabs(v.v - 10) < 1e-9);
		}
	}
	/* a step of 5 at 3.1 s: over the 1 s window, (35 - 21) / 1 s */
	slots[0].pv = slots[0].v;
	slots[0].pt_ns = slots[0].t_ns;
	slots[0].v = 35;
	slots[0].t_ns = 3100 * MS;
	v = at(e, 3100 * MS, NULL);
	assert_true(fabs(v.v - 14) < 1e-9);
	v = at(e0, 3100 * MS, NULL);
	assert_true(fabs(v.v - 50) < 1e-9);
	expr_free(e);
	expr_free(e0);
}

static void test_margin(void **state)
{
	static const struct {
		const char *text;
		double worst, margin;
	} cases[] = {
		{ "A.x < 3", 5, -2 },
		{ "A.x <= 7", 5, 2 },
		{ "A.x > 8", 5, -3 },
		{ "A.x == 4", 5, -1 },
		{ "between(A.x, 6, 10)", 5, -1 },
		{ "A.y == 1 && A.x > 9", 5, -4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_error err;
		struct expr *e = expr_compile(cases[i].text,
					      strlen(cases[i].text), &resolver,
					      &err);
		double w, m;

		assert_non_null(e);
		world(950 * MS);
		at(e, 1000 * MS, NULL);
		expr_margin(e, &w, &m);
		if (w != cases[i].worst || m != cases[i].margin)
			fail_msg("%s: worst %g margin %g", cases[i].text, w, m);
		expr_free(e);
	}
}

static void test_inputs(void **state)
{
	struct expr_error err;
	const char *t = "A.x + speed > age(A) && Gear.Position == \"P\"";
	struct expr *e = expr_compile(t, strlen(t), &resolver, &err);
	uint32_t in[8];
	size_t n;

	(void)state;
	assert_non_null(e);
	n = expr_inputs(e, in, 8);
	assert_int_equal(n, 4);
	assert_int_equal(in[0], 0);
	assert_int_equal(in[1], 6);
	assert_int_equal(in[2], 4);
	assert_int_equal(in[3], 2);
	assert_false(expr_is_ref(e, NULL));
	expr_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_target_strings),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_stale_and_deadline),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_margin),
		cmocka_unit_test(test_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
