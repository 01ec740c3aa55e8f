/* fuzz_expr: the rule expression parser and evaluator on any input. Names
 * resolve against a small fixed world (a value-table signal, an alias with
 * stale_ms, a message); whatever compiles is evaluated at a few times and
 * its margin taken, so the runtime paths see fuzzed trees too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon/core/expr.h"
#include "dbc/dbc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dbc_value_name values[] = {
	{ 0, (char *)"P" }, { 1, (char *)"R" }, { 2, (char *)"N" },
	{ 3, (char *)"D" },
};
static struct dbc_signal sig_gear = {
	.name = (char *)"Position", .factor = 1, .values = values, .n_values = 4,
};
static struct dbc_signal sig_plain = { .name = (char *)"x", .factor = 0.5 };

static int resolve(void *ctx, const char *name, const char *member,
		   struct expr_ref *out, char *msg, size_t msglen)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	if (member && strcmp(name, "Gear") == 0 &&
	    strcmp(member, "Position") == 0) {
		out->slot = 0;
		out->sig = &sig_gear;
		return 0;
	}
	if (member && strcmp(name, "A") == 0 &&
	    (strcmp(member, "x") == 0 || strcmp(member, "y") == 0)) {
		out->slot = member[0] == 'x' ? 1 : 2;
		out->sig = &sig_plain;
		return 0;
	}
	if (!member && strcmp(name, "speed") == 0) {
		out->slot = 3;
		out->stale_ns = 100000000;
		out->sig = &sig_plain;
		return 0;
	}
	if (!member && (strcmp(name, "A") == 0 || strcmp(name, "Gear") == 0)) {
		out->slot = 4;
		out->is_message = true;
		return 0;
	}
	snprintf(msg, msglen, "unknown name %s", name);
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct expr_resolver res = { resolve, NULL };
	struct expr_slot slots[5];
	struct expr_error err;
	struct expr *e;
	uint32_t in[4];

	e = expr_compile((const char *)data, size, &res, &err);
	if (!e) {
		/* every error has a column inside the text (or just past it) */
		if (err.col == 0 || err.col > size + 1 || !err.msg[0])
			__builtin_trap();
		return 0;
	}
	memset(slots, 0, sizeof(slots));
	for (int k = 0; k < 5; k++) {
		slots[k].valid = k != 2; /* A.y never received */
		slots[k].v = k * 7.5 - 3;
		slots[k].t_ns = 1000000000ull + (uint64_t)k * 1000000;
	}
	for (uint64_t t = 1000000000ull; t < 1400000000ull; t += 50000000) {
		struct expr_eval c = { slots, t, UINT64_MAX, -1, 0 };
		double w, m;

		(void)expr_eval(e, &c);
		if (c.deadline_ns <= t)
			__builtin_trap(); /* would loop the engine */
		expr_margin(e, &w, &m);
		slots[1].pv = slots[1].v;
		slots[1].pt_ns = slots[1].t_ns;
		slots[1].pvalid = true;
		slots[1].v += 1.25;
		slots[1].t_ns = t;
	}
	(void)expr_inputs(e, in, 4);
	expr_free(e);
	return 0;
}
