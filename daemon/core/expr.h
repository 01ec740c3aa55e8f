/*
 * expr.h: the rule expression language, compiled once and evaluated per
 * frame without allocation.
 *
 * Grammar (lowest precedence first; all binary operators left-associative):
 *
 *   expr    := or [ "?" expr ":" expr ]               conditional
 *   or      := and { "||" and }
 *   and     := cmp { "&&" cmp }
 *   cmp     := sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
 *   sum     := product { ("+" | "-") product }
 *   product := unary { ("*" | "/") unary }
 *   unary   := ("!" | "-") unary | primary
 *   primary := NUMBER | STRING | "(" expr ")"
 *            | NAME "(" [ expr { "," expr } ] ")"      function call
 *            | NAME "." NAME                           Message.Signal
 *            | NAME                                    [signal] alias (or a
 *                                                      message, in age())
 *   NUMBER  := decimal or 0x hex, optional fraction and exponent: 30, 0.5, 1e3
 *   STRING  := "..." (no escapes): a value-table name, see below
 *   NAME    := [A-Za-z_][A-Za-z0-9_]*
 *
 * Values are doubles: a signal's physical value (raw * factor + offset),
 * booleans are 1 and 0, any nonzero value is true. Comparisons are exact.
 *
 * Strings may only appear as one side of a comparison whose other side is a
 * signal with a value table: `Gear.Position != "P"` compares against the
 * physical value of the raw value named "P". It is an error (at load time)
 * when the signal has no value table or "P" is not one of its names.
 * Compiled for a target signal (expr_compile_for(), translation's `set`),
 * a string in value position (the whole expression, or a branch of ?:)
 * names a value of the target's table: `gear == "R" ? "Reverse" : "Drive"`.
 *
 * c ? a : b is a when c is true, b when c is false, missing when c is
 * missing (all three are evaluated every time, like every operand).
 *
 * Functions:
 *   abs(x), min(a, b), max(a, b)
 *   between(x, lo, hi)  lo <= x && x <= hi
 *   rate(x, ms)         change of x per second over the last ms milliseconds
 *                       (x sampled at each evaluation, zero-order hold; the
 *                       reference sample is the newest one at least ms old,
 *                       kept at a resolution of ms/16). rate(sig, 0) with a
 *                       signal: between its last two received values.
 *   held(cond, ms)      cond has been true at every evaluation for at least
 *                       ms milliseconds (the moment it becomes true is exact:
 *                       the engine evaluates at that deadline, on its time
 *                       grid of 1 us, or 1 ns with [evidence] timestamps = ns)
 *   age(x)              milliseconds since signal or message x was last
 *                       received (never missing once received, even when
 *                       stale)
 * ms arguments are number constants >= 0.
 *
 * Missing values. A signal never received, or older than its alias's
 * stale_ms, is missing. Missing propagates through arithmetic, comparisons
 * and functions; && and || use three-valued logic (false && missing = false,
 * true || missing = true); ! missing = missing; x / 0 is missing.
 *
 * Evaluation times. An expression is evaluated when a frame that carries one
 * of its inputs arrives and at the deadlines it reports (a stale_ms expiring,
 * a held() completing). Between those times nothing it reads can change
 * except age(), which is sampled at the evaluation times.
 */
#ifndef CANGATE_EXPR_H
#define CANGATE_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dbc_signal;

/* Latest state of one input: a signal's value or a message's arrival. */
struct expr_slot {
	double v, pv;        /* value and the one before (for rate(sig, 0)) */
	uint64_t t_ns, pt_ns; /* when each arrived (frame time, ns) */
	bool valid, pvalid;
};

/* What a name resolves to. */
struct expr_ref {
	uint32_t slot;
	uint64_t stale_ns;             /* 0: never stale */
	const struct dbc_signal *sig;  /* for value-table strings; NULL for messages */
	bool is_message;
};

/*
 * Name resolution, supplied by the rules compiler (or a test). name is the
 * first NAME, member the NAME after '.', or NULL for a bare name. Returns 0
 * with *out filled, or -1 with a message in msg.
 */
struct expr_resolver {
	int (*resolve)(void *ctx, const char *name, const char *member,
		       struct expr_ref *out, char *msg, size_t msglen);
	void *ctx;
};

struct expr_error {
	unsigned col; /* 1-based column within the expression text */
	char msg[200];
};

struct expr_value {
	double v;
	bool missing;
};

/* Evaluation context: inputs, the time, and what evaluation found. */
struct expr_eval {
	const struct expr_slot *slots;
	uint64_t now_ns;
	uint64_t deadline_ns; /* lowered to the next time the result can change
				 without a frame; set to UINT64_MAX first */
	int64_t missing_slot; /* first missing input seen, or -1 */
	uint64_t res_ns;      /* time resolution (0 = 1 ns): a value is stale
				 one unit after stale_ms */
};

struct expr;

/* Compile text (len bytes). Returns an expression the caller frees with
 * expr_free(), or NULL with *err filled. */
struct expr *expr_compile(const char *text, size_t len,
			  const struct expr_resolver *res,
			  struct expr_error *err);
/* Same, with a target signal whose value-table names strings in value
 * position stand for (NULL: none, as expr_compile()). */
struct expr *expr_compile_for(const char *text, size_t len,
			      const struct expr_resolver *res,
			      const struct dbc_signal *target,
			      struct expr_error *err);
void expr_free(struct expr *e);

/* Evaluate at ctx->now_ns. Updates the expression's own state (held, rate),
 * so evaluate each expression once per evaluation time. */
struct expr_value expr_eval(struct expr *e, struct expr_eval *ctx);

/* Forget held/rate history. */
void expr_reset(struct expr *e);

/*
 * After expr_eval(): the value that decided the result and its signed
 * distance to the limit (negative = violated by). For a comparison `a OP b`
 * worst is a and margin b - a (<, <=), a - b (>, >=), -|a - b| (==),
 * |a - b| (!=); for between(x, lo, hi) worst is x and margin
 * min(x - lo, hi - x); for && the first false operand decides. Otherwise
 * worst is the result and margin NaN (no limit).
 */
void expr_margin(const struct expr *e, double *worst, double *margin);

/* Input slots the expression reads (for dependencies); returns how many,
 * writing at most cap of them. */
size_t expr_inputs(const struct expr *e, uint32_t *out, size_t cap);

/* True when the expression is a direct signal reference (ref filled). */
bool expr_is_ref(const struct expr *e, struct expr_ref *ref);

/* Number of nodes (for tests and the benchmark). */
size_t expr_size(const struct expr *e);

#endif
