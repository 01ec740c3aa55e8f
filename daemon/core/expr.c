/*
 * expr.c: parser and evaluator for the rule expression language (grammar
 * and semantics in expr.h).
 *
 * The parser is recursive descent over the text, building a tree in one
 * node array (children are indices). Strings are resolved against value
 * tables while parsing the comparison that holds them, so the compiled tree
 * holds numbers only. Evaluation walks the tree recursively; it never
 * allocates and never short-circuits, so held() and rate() see every
 * evaluation whichever branch decides the result.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/expr.h"
#include "dbc/dbc.h"

enum xop {
	X_NUM,
	X_SIG,
	X_AGE,
	X_NEG,
	X_NOT,
	X_ADD,
	X_SUB,
	X_MUL,
	X_DIV,
	X_LT,
	X_LE,
	X_GT,
	X_GE,
	X_EQ,
	X_NE,
	X_AND,
	X_OR,
	X_ABS,
	X_MIN,
	X_MAX,
	X_BETWEEN,
	X_RATE,      /* windowed: a = x, num = window ns, state = ring index */
	X_RATE_SIG,  /* between the last two received values of a signal */
	X_HELD,      /* a = cond, num = ns */
	X_COND,      /* a ? b : c */
	X_STR,       /* only during parsing */
};

#define RATE_RING 32

struct rate_ring {
	uint64_t t[RATE_RING];
	double v[RATE_RING];
	unsigned head, count; /* head: index of the newest sample */
};

struct xnode {
	uint8_t op;
	int32_t a, b, c;
	double num;
	uint32_t slot;
	uint32_t ref_len;     /* parsing only: length of the name's text */
	uint64_t stale_ns;
	uint64_t win_ns;
	int32_t state;        /* rate ring index */
	/* parsing only */
	const struct dbc_signal *sig;
	char *str;
	unsigned col;
	/* runtime */
	struct expr_value last;
	uint64_t since;
	bool on;
};

/* The compiled node: what evaluation needs, packed (parse-only fields of
 * struct xnode stay behind). */
struct xrun {
	uint8_t op;
	bool on;              /* held: cond true since `since` */
	int32_t a, b, c;
	uint32_t slot;
	int32_t state;
	double num;
	uint64_t stale_ns, win_ns;
	struct expr_value last;
	uint64_t since;
};

struct expr {
	struct xrun *n;
	size_t nn;
	int32_t root;
	struct rate_ring *rings;
	size_t n_rings;
};

/* ----------------------------------------------------------------- parser */

#define DEPTH_MAX 64

struct parser {
	const char *s;
	size_t len, pos;
	const struct expr_resolver *res;
	const struct dbc_signal *target; /* names strings in value position */
	struct expr_error *err;
	struct xnode *n;
	size_t nn, cap;
	size_t n_rings;
	int depth;
	bool failed;
};

__attribute__((format(printf, 3, 4)))
static int32_t perr(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	p->err->col = (unsigned)at + 1;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len &&
	       (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
		p->s[p->pos] == '\r' || p->s[p->pos] == '\n'))
		p->pos++;
}

/* Consume op (1 or 2 chars) if it is next. */
static bool accept(struct parser *p, const char *op)
{
	size_t k = strlen(op);

	skip_ws(p);
	if (p->len - p->pos < k || memcmp(p->s + p->pos, op, k) != 0)
		return false;
	/* "<" must not match the start of "<=", "!" not "!=" etc. */
	if (k == 1 && p->pos + 1 < p->len && p->s[p->pos + 1] == '=' &&
	    (op[0] == '<' || op[0] == '>' || op[0] == '!' || op[0] == '='))
		return false;
	p->pos += k;
	return true;
}

static int32_t node_new(struct parser *p, enum xop op, unsigned col)
{
	struct xnode *x;

	if (p->nn == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct xnode *nn = realloc(p->n, cap * sizeof(*nn));

		if (!nn)
			return perr(p, col, "out of memory");
		p->n = nn;
		p->cap = cap;
	}
	x = &p->n[p->nn];
	memset(x, 0, sizeof(*x));
	x->op = (uint8_t)op;
	x->a = x->b = x->c = -1;
	x->state = -1;
	x->col = col;
	return (int32_t)p->nn++;
}

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Read a NAME into buf; returns its length, 0 when none is next. */
static size_t read_name(struct parser *p, char *buf, size_t size)
{
	size_t start = p->pos, k;

	if (p->pos >= p->len || !is_name_start(p->s[p->pos]))
		return 0;
	while (p->pos < p->len && is_name_char(p->s[p->pos]))
		p->pos++;
	k = p->pos - start;
	if (k >= size) {
		perr(p, start, "name too long");
		return 0;
	}
	memcpy(buf, p->s + start, k);
	buf[k] = '\0';
	return k;
}

static int32_t parse_expr(struct parser *p);

/* A node that must be numeric (strings only live inside comparisons). */
static int32_t need_num(struct parser *p, int32_t i)
{
	if (i < 0)
		return -1;
	if (p->n[i].op == X_STR)
		return perr(p, p->n[i].col - 1,
			    "string \"%s\" is only allowed in a comparison "
			    "with a signal that has a value table",
			    p->n[i].str);
	return i;
}

static int32_t parse_number(struct parser *p)
{
	size_t start = p->pos;
	char buf[64];
	char *end;
	double v;
	int32_t i;
	size_t k = 0;

	/* Take the longest run of number characters, then let strtod judge. */
	while (p->pos < p->len && k < sizeof(buf) - 1) {
		char c = p->s[p->pos];

		if ((c >= '0' && c <= '9') || c == '.' || c == 'x' ||
		    c == 'X' || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F') ||
		    ((c == '+' || c == '-') && k > 0 &&
		     (buf[k - 1] == 'e' || buf[k - 1] == 'E') &&
		     !(k > 1 && (buf[1] == 'x' || buf[1] == 'X')))) {
			buf[k++] = c;
			p->pos++;
		} else {
			break;
		}
	}
	buf[k] = '\0';
	if (p->pos < p->len && is_name_char(p->s[p->pos]))
		return perr(p, start, "bad number");
	errno = 0;
	if (k > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		unsigned long long u = strtoull(buf + 2, &end, 16);

		v = (double)u;
	} else {
		v = strtod(buf, &end);
	}
	if (end == buf || *end != '\0' || errno == ERANGE || !isfinite(v))
		return perr(p, start, "bad number \"%s\"", buf);
	i = node_new(p, X_NUM, (unsigned)start + 1);
	if (i >= 0)
		p->n[i].num = v;
	return i;
}

static int32_t parse_string(struct parser *p)
{
	size_t start = p->pos++;
	size_t end;
	int32_t i;

	while (p->pos < p->len && p->s[p->pos] != '"')
		p->pos++;
	if (p->pos >= p->len)
		return perr(p, start, "unterminated string");
	end = p->pos++;
	i = node_new(p, X_STR, (unsigned)start + 1);
	if (i < 0)
		return -1;
	p->n[i].str = strndup(p->s + start + 1, end - start - 1);
	if (!p->n[i].str)
		return perr(p, start, "out of memory");
	return i;
}

struct func {
	const char *name;
	int arity;
	enum xop op;
};

static const struct func funcs[] = {
	{ "abs", 1, X_ABS },
	{ "min", 2, X_MIN },
	{ "max", 2, X_MAX },
	{ "between", 3, X_BETWEEN },
	{ "rate", 2, X_RATE },
	{ "held", 2, X_HELD },
	{ "age", 1, X_AGE },
};

static int32_t resolve(struct parser *p, size_t at, const char *name,
		       const char *member, bool in_age)
{
	struct expr_ref ref;
	char msg[160];
	int32_t i;

	if (!p->res || !p->res->resolve) {
		if (member)
			return perr(p, at, "unknown signal %s.%s", name,
				    member);
		return perr(p, at, "unknown signal %s", name);
	}
	memset(&ref, 0, sizeof(ref));
	msg[0] = '\0';
	if (p->res->resolve(p->res->ctx, name, member, &ref, msg,
			    sizeof(msg)) < 0)
		return perr(p, at, "%s", msg[0] ? msg : "unknown name");
	if (ref.is_message && !in_age)
		return perr(p, at,
			    "%s is a message: use Message.Signal, or age(%s)",
			    name, name);
	i = node_new(p, X_SIG, (unsigned)at + 1);
	if (i < 0)
		return -1;
	p->n[i].slot = ref.slot;
	p->n[i].stale_ns = ref.stale_ns;
	p->n[i].sig = ref.sig;
	p->n[i].ref_len = (uint32_t)(p->pos - at);
	return i;
}

static int32_t parse_call(struct parser *p, size_t at, const char *name)
{
	const struct func *f = NULL;
	int32_t args[3] = { -1, -1, -1 };
	size_t cols[3] = { 0, 0, 0 };
	int n = 0;
	int32_t i;

	for (size_t k = 0; k < sizeof(funcs) / sizeof(funcs[0]); k++)
		if (strcmp(funcs[k].name, name) == 0)
			f = &funcs[k];
	if (!f)
		return perr(p, at, "unknown function %s()", name);
	/* '(' already consumed */
	skip_ws(p);
	if (!accept(p, ")")) {
		for (;;) {
			size_t arg_at;
			int32_t a;

			skip_ws(p);
			arg_at = p->pos;
			if (f->op == X_AGE && n == 0) {
				/* age() takes a signal or a message name */
				char nm[128], mb[128];

				if (!read_name(p, nm, sizeof(nm)))
					return perr(p, arg_at,
						    "age() needs a signal or "
						    "message name");
				skip_ws(p);
				if (p->pos < p->len && p->s[p->pos] == '.') {
					p->pos++;
					skip_ws(p);
					if (!read_name(p, mb, sizeof(mb)))
						return perr(p, p->pos,
							    "expected a signal "
							    "name after '.'");
					a = resolve(p, arg_at, nm, mb, true);
				} else {
					a = resolve(p, arg_at, nm, NULL, true);
				}
			} else {
				a = need_num(p, parse_expr(p));
			}
			if (a < 0)
				return -1;
			if (n < 3) {
				args[n] = a;
				cols[n] = arg_at;
			}
			n++;
			if (accept(p, ","))
				continue;
			if (accept(p, ")"))
				break;
			skip_ws(p);
			return perr(p, p->pos, "expected ',' or ')' in %s()",
				    name);
		}
	}
	if (n != f->arity)
		return perr(p, at, "%s() takes %d argument%s, not %d", name,
			    f->arity, f->arity == 1 ? "" : "s", n);
	if (f->op == X_AGE) {
		p->n[args[0]].op = X_AGE;
		p->n[args[0]].col = (unsigned)at + 1;
		return args[0];
	}
	if (f->op == X_RATE || f->op == X_HELD) {
		struct xnode *w = &p->n[args[1]];
		double ms;

		if (w->op != X_NUM)
			return perr(p, cols[1],
				    "%s(): the window must be a number of ms",
				    name);
		ms = w->num;
		if (!(ms >= 0) || ms > 1e12)
			return perr(p, cols[1],
				    "%s(): the window must be >= 0 ms", name);
		if (f->op == X_RATE && ms == 0) {
			struct xnode *x = &p->n[args[0]];

			if (x->op != X_SIG)
				return perr(p, cols[0],
					    "rate(x, 0) needs a signal; use a "
					    "window > 0 for an expression");
			i = node_new(p, X_RATE_SIG, (unsigned)at + 1);
			if (i < 0)
				return -1;
			p->n[i].a = args[0];
			p->n[i].slot = p->n[args[0]].slot;
			p->n[i].stale_ns = p->n[args[0]].stale_ns;
			return i;
		}
		i = node_new(p, f->op, (unsigned)at + 1);
		if (i < 0)
			return -1;
		p->n[i].a = args[0];
		p->n[i].win_ns = (uint64_t)llround(ms * 1e6);
		if (f->op == X_RATE)
			p->n[i].state = (int32_t)p->n_rings++;
		return i;
	}
	i = node_new(p, f->op, (unsigned)at + 1);
	if (i < 0)
		return -1;
	p->n[i].a = args[0];
	p->n[i].b = args[1];
	p->n[i].c = args[2];
	return i;
}

static int32_t parse_primary(struct parser *p)
{
	char name[128], member[128];
	size_t at;
	char c;

	skip_ws(p);
	at = p->pos;
	if (p->pos >= p->len)
		return perr(p, at, "unexpected end of expression");
	c = p->s[p->pos];
	if ((c >= '0' && c <= '9') || c == '.')
		return parse_number(p);
	if (c == '"')
		return parse_string(p);
	if (c == '(') {
		int32_t i;

		p->pos++;
		i = parse_expr(p);
		if (i < 0)
			return -1;
		if (!accept(p, ")")) {
			skip_ws(p);
			return perr(p, p->pos, "expected ')'");
		}
		return i;
	}
	if (!read_name(p, name, sizeof(name))) {
		if (p->failed)
			return -1;
		return perr(p, at, "unexpected '%c'", c);
	}
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '(') {
		p->pos++;
		return parse_call(p, at, name);
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		skip_ws(p);
		if (!read_name(p, member, sizeof(member))) {
			if (p->failed)
				return -1;
			return perr(p, p->pos, "expected a signal name after '.'");
		}
		return resolve(p, at, name, member, false);
	}
	return resolve(p, at, name, NULL, false);
}

static int32_t parse_unary(struct parser *p)
{
	size_t at;
	int32_t a, i;

	skip_ws(p);
	at = p->pos;
	if (++p->depth > DEPTH_MAX)
		return perr(p, at, "expression nested too deeply");
	if (accept(p, "!")) {
		a = need_num(p, parse_unary(p));
		if (a < 0)
			return -1;
		i = node_new(p, X_NOT, (unsigned)at + 1);
	} else if (accept(p, "-")) {
		a = need_num(p, parse_unary(p));
		if (a < 0)
			return -1;
		if (p->n[a].op == X_NUM) { /* fold -5 into a constant */
			p->n[a].num = -p->n[a].num;
			p->n[a].col = (unsigned)at + 1;
			p->depth--;
			return a;
		}
		i = node_new(p, X_NEG, (unsigned)at + 1);
	} else {
		i = parse_primary(p);
		p->depth--;
		return i;
	}
	if (i >= 0)
		p->n[i].a = a;
	p->depth--;
	return i;
}

static int32_t binary(struct parser *p, enum xop op, int32_t a, int32_t b,
		      size_t at)
{
	int32_t i;

	if (a < 0 || b < 0)
		return -1;
	i = node_new(p, op, (unsigned)at + 1);
	if (i >= 0) {
		p->n[i].a = a;
		p->n[i].b = b;
	}
	return i;
}

static int32_t parse_product(struct parser *p)
{
	int32_t a = need_num(p, parse_unary(p));

	while (a >= 0) {
		size_t at;
		enum xop op;

		skip_ws(p);
		at = p->pos;
		if (accept(p, "*"))
			op = X_MUL;
		else if (accept(p, "/"))
			op = X_DIV;
		else
			break;
		a = binary(p, op, a, need_num(p, parse_unary(p)), at);
	}
	return a;
}

static int32_t parse_sum(struct parser *p)
{
	int32_t a;

	/* A lone string is kept for the comparison above to resolve. */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '"') {
		a = parse_string(p);
		skip_ws(p);
		if (a >= 0 && p->pos < p->len &&
		    strchr("+-*/", p->s[p->pos]))
			return need_num(p, a);
		return a;
	}
	a = parse_product(p);
	while (a >= 0) {
		size_t at;
		enum xop op;

		skip_ws(p);
		at = p->pos;
		if (accept(p, "+"))
			op = X_ADD;
		else if (accept(p, "-"))
			op = X_SUB;
		else
			break;
		a = binary(p, op, a, parse_product(p), at);
	}
	return a;
}

/* Turn string node s into the number its name stands for in sig's table;
 * what names sig in messages: `what_len` bytes at `what`. */
static int32_t string_to_value(struct parser *p, int32_t s,
			       const struct dbc_signal *sig, const char *what,
			       int what_len)
{
	struct xnode *x = &p->n[s];

	if (sig->n_values == 0)
		return perr(p, x->col - 1,
			    "string \"%s\" %s %.*s, which has no value table",
			    x->str, p->target == sig ? "set into" : "compared with",
			    what_len, what);
	for (size_t k = 0; k < sig->n_values; k++)
		if (strcmp(sig->values[k].name, x->str) == 0) {
			x->op = X_NUM;
			/* A float signal's VAL_ numbers are float values (as
			 * cantools reads them), not bit patterns. */
			if (sig->value_type != DBC_VALUE_INTEGER)
				x->num = (double)sig->values[k].value *
						 sig->factor +
					 sig->offset;
			else
				x->num = dbc_signal_phys(
					sig, (uint64_t)sig->values[k].value);
			free(x->str);
			x->str = NULL;
			return s;
		}
	{
		char names[120];
		size_t off = 0;

		names[0] = '\0';
		for (size_t k = 0; k < sig->n_values && off < sizeof(names);
		     k++) {
			int w = snprintf(names + off, sizeof(names) - off,
					 "%s\"%s\"", k ? ", " : "",
					 sig->values[k].name);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		if (off >= sizeof(names))
			memcpy(names + sizeof(names) - 4, "...", 4);
		return perr(p, x->col - 1, "\"%s\" is not a value of %.*s (%s)",
			    x->str, what_len, what, names);
	}
}

/* String node s compared with node other. */
static int32_t resolve_string(struct parser *p, int32_t s, int32_t other)
{
	struct xnode *o = &p->n[other];
	struct xnode *x = &p->n[s];
	const struct dbc_signal *sig = o->op == X_SIG ? o->sig : NULL;

	if (o->op == X_STR)
		return perr(p, x->col - 1, "cannot compare two strings");
	if (!sig)
		return perr(p, x->col - 1,
			    "string \"%s\" compared with a number: only a "
			    "signal with a value table can be",
			    x->str);
	return string_to_value(p, s, sig, p->s + o->col - 1,
			       (int)o->ref_len);
}

/* A node in value position (the whole expression, a branch of ?:): a
 * string there names a value of the target signal, when there is one. */
static int32_t value_of(struct parser *p, int32_t i)
{
	if (i < 0 || p->n[i].op != X_STR || !p->target)
		return need_num(p, i);
	return string_to_value(p, i, p->target, p->target->name,
			       (int)strlen(p->target->name));
}

static int32_t parse_cmp(struct parser *p)
{
	static const struct {
		const char *tok;
		enum xop op;
	} ops[] = {
		{ "<=", X_LE }, { ">=", X_GE }, { "==", X_EQ },
		{ "!=", X_NE }, { "<", X_LT },  { ">", X_GT },
	};
	int32_t a = parse_sum(p), b;
	size_t at;
	enum xop op = X_NUM;

	if (a < 0)
		return -1;
	skip_ws(p);
	at = p->pos;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (accept(p, ops[k].tok)) {
			op = ops[k].op;
			break;
		}
	if (op == X_NUM)
		return a;
	b = parse_sum(p);
	if (b < 0)
		return -1;
	if (p->n[a].op == X_STR && resolve_string(p, a, b) < 0)
		return -1;
	if (p->n[b].op == X_STR && resolve_string(p, b, a) < 0)
		return -1;
	skip_ws(p);
	if (p->pos < p->len && strchr("<>=", p->s[p->pos]))
		return perr(p, p->pos,
			    "comparisons do not chain: use && between them");
	if (p->pos + 1 < p->len && p->s[p->pos] == '!' &&
	    p->s[p->pos + 1] == '=')
		return perr(p, p->pos,
			    "comparisons do not chain: use && between them");
	return binary(p, op, a, b, at);
}

/* A lone string is passed up for value_of() to judge. */
static int32_t parse_and(struct parser *p)
{
	int32_t a = parse_cmp(p);

	while (a >= 0) {
		size_t at;

		skip_ws(p);
		at = p->pos;
		if (!accept(p, "&&"))
			break;
		a = binary(p, X_AND, need_num(p, a),
			   need_num(p, parse_cmp(p)), at);
	}
	return a;
}

static int32_t parse_or(struct parser *p)
{
	int32_t a = parse_and(p);

	while (a >= 0) {
		size_t at;

		skip_ws(p);
		at = p->pos;
		if (!accept(p, "||"))
			break;
		a = binary(p, X_OR, need_num(p, a),
			   need_num(p, parse_and(p)), at);
	}
	return a;
}

/* cond ? a : b, right-associative, below || */
static int32_t parse_expr(struct parser *p)
{
	int32_t a, b, c, i;
	size_t at;

	if (++p->depth > DEPTH_MAX)
		return perr(p, p->pos, "expression nested too deeply");
	a = parse_or(p);
	skip_ws(p);
	at = p->pos;
	if (a < 0 || !accept(p, "?")) {
		p->depth--;
		return a;
	}
	a = need_num(p, a);
	b = value_of(p, parse_expr(p));
	if (b < 0)
		return -1;
	skip_ws(p);
	if (!accept(p, ":"))
		return perr(p, p->pos, "expected ':' of ?:");
	c = value_of(p, parse_expr(p));
	i = binary(p, X_COND, a, b, at);
	if (i >= 0 && c >= 0)
		p->n[i].c = c;
	p->depth--;
	return c < 0 ? -1 : i;
}

static void free_strings(struct xnode *n, size_t nn)
{
	for (size_t i = 0; i < nn; i++)
		free(n[i].str);
}

struct expr *expr_compile(const char *text, size_t len,
			  const struct expr_resolver *res,
			  struct expr_error *err)
{
	return expr_compile_for(text, len, res, NULL, err);
}

struct expr *expr_compile_for(const char *text, size_t len,
			      const struct expr_resolver *res,
			      const struct dbc_signal *target,
			      struct expr_error *err)
{
	struct parser p;
	struct expr *e;
	int32_t root;

	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.s = text;
	p.len = len;
	p.res = res;
	p.target = target;
	p.err = err;
	for (size_t k = 0; k < len; k++)
		if (text[k] == '\0') {
			perr(&p, k, "NUL byte in expression");
			return NULL;
		}
	skip_ws(&p);
	if (p.pos >= p.len) {
		perr(&p, p.pos, "empty expression");
		return NULL;
	}
	root = value_of(&p, parse_expr(&p));
	if (root >= 0) {
		skip_ws(&p);
		if (p.pos < p.len) {
			if (p.s[p.pos] == '=' || p.s[p.pos] == '&' ||
			    p.s[p.pos] == '|')
				root = perr(&p, p.pos,
					    "unexpected '%c' (use ==, && or ||)",
					    p.s[p.pos]);
			else
				root = perr(&p, p.pos, "unexpected '%c'",
					    p.s[p.pos]);
		}
	}
	if (root < 0 || p.failed) {
		if (!p.failed)
			perr(&p, p.pos, "bad expression");
		free_strings(p.n, p.nn);
		free(p.n);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto oom;
	e->n = calloc(p.nn, sizeof(*e->n));
	if (!e->n)
		goto oom;
	for (size_t i = 0; i < p.nn; i++) {
		const struct xnode *x = &p.n[i];
		struct xrun *y = &e->n[i];

		y->op = x->op;
		y->a = x->a;
		y->b = x->b;
		y->c = x->c;
		y->slot = x->slot;
		y->state = x->state;
		y->num = x->num;
		y->stale_ns = x->stale_ns;
		y->win_ns = x->win_ns;
	}
	e->nn = p.nn;
	e->root = root;
	e->n_rings = p.n_rings;
	if (p.n_rings) {
		e->rings = calloc(p.n_rings, sizeof(*e->rings));
		if (!e->rings)
			goto oom;
	}
	free_strings(p.n, p.nn);
	free(p.n);
	expr_reset(e);
	return e;
oom:
	if (e) {
		free(e->n);
		free(e);
	}
	free_strings(p.n, p.nn);
	free(p.n);
	err->col = 1;
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	return NULL;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	free(e->n);
	free(e->rings);
	free(e);
}

void expr_reset(struct expr *e)
{
	for (size_t i = 0; i < e->nn; i++) {
		e->n[i].on = false;
		e->n[i].since = 0;
		/* constants are never evaluated on the fast path */
		e->n[i].last.v = e->n[i].op == X_NUM ? e->n[i].num : 0;
		e->n[i].last.missing = e->n[i].op != X_NUM;
	}
	if (e->rings)
		memset(e->rings, 0, e->n_rings * sizeof(*e->rings));
}

size_t expr_size(const struct expr *e)
{
	return e->nn;
}

/* -------------------------------------------------------------- evaluator */

static inline struct expr_value val(double v)
{
	struct expr_value r = { v, false };

	return r;
}

static inline struct expr_value missing(void)
{
	struct expr_value r = { 0, true };

	return r;
}

static inline void want_deadline(struct expr_eval *c, uint64_t t)
{
	if (t > c->now_ns && t < c->deadline_ns)
		c->deadline_ns = t;
}

static inline void note_missing(struct expr_eval *c, uint32_t slot)
{
	if (c->missing_slot < 0)
		c->missing_slot = slot;
}

/* A signal's current value, or missing when never received or stale. */
static inline struct expr_value sig_value(const struct xrun *x,
					     struct expr_eval *c)
{
	const struct expr_slot *s = &c->slots[x->slot];

	if (!s->valid) {
		note_missing(c, x->slot);
		return missing();
	}
	if (x->stale_ns) {
		uint64_t age = c->now_ns > s->t_ns ? c->now_ns - s->t_ns : 0;

		if (age > x->stale_ns) {
			note_missing(c, x->slot);
			return missing();
		}
		want_deadline(c, s->t_ns + x->stale_ns +
				      (c->res_ns ? c->res_ns : 1));
	}
	return val(s->v);
}

static struct expr_value rate_window(struct expr *e, struct xrun *x,
				     struct expr_value in, uint64_t now)
{
	struct rate_ring *r = &e->rings[x->state];
	uint64_t step = x->win_ns / 16;
	unsigned ref = RATE_RING;

	if (in.missing)
		return missing();
	/* Store the sample: replace one taken at the same time, else keep at
	 * most one per ms/16 so the ring spans at least two windows. */
	if (r->count && r->t[r->head] == now) {
		r->v[r->head] = in.v;
	} else if (!r->count || now - r->t[r->head] >= step) {
		r->head = (r->head + 1) % RATE_RING;
		r->t[r->head] = now;
		r->v[r->head] = in.v;
		if (r->count < RATE_RING)
			r->count++;
	}
	/* Newest stored sample at least a window old, else the oldest. */
	for (unsigned k = 0; k < r->count; k++) {
		unsigned idx = (r->head + RATE_RING - k) % RATE_RING;

		ref = idx;
		if (now - r->t[idx] >= x->win_ns && k > 0)
			break;
	}
	if (ref == RATE_RING || r->t[ref] >= now)
		return missing();
	return val((in.v - r->v[ref]) / ((double)(now - r->t[ref]) / 1e9));
}

static struct expr_value expr_eval_node(struct expr *e, int32_t i,
					struct expr_eval *c);

/* Evaluate an operand: constants and signal reads are answered here,
 * without the call to expr_eval_node() (a constant's `last` is preset). */
static inline struct expr_value expr_eval_operand(struct expr *e, int32_t i,
						  struct expr_eval *c)
{
	struct xrun *x = &e->n[i];

	if (x->op == X_NUM)
		return val(x->num);
	if (x->op == X_SIG) {
		x->last = sig_value(x, c);
		return x->last;
	}
	return expr_eval_node(e, i, c);
}

static struct expr_value expr_eval_node(struct expr *e, int32_t i,
					struct expr_eval *c)
{
	struct xrun *x = &e->n[i];
	struct expr_value a, b, d, r;

	switch ((enum xop)x->op) {
	case X_NUM:
		r = val(x->num);
		break;
	case X_SIG:
		r = sig_value(x, c);
		break;
	case X_AGE: {
		const struct expr_slot *s = &c->slots[x->slot];

		if (!s->valid) {
			note_missing(c, x->slot);
			r = missing();
		} else {
			r = val(c->now_ns > s->t_ns ?
					(double)(c->now_ns - s->t_ns) / 1e6 :
					0);
		}
		break;
	}
	case X_NEG:
		a = expr_eval_operand(e, x->a, c);
		r = a.missing ? a : val(-a.v);
		break;
	case X_NOT:
		a = expr_eval_operand(e, x->a, c);
		r = a.missing ? a : val(a.v == 0);
		break;
	case X_ABS:
		a = expr_eval_operand(e, x->a, c);
		r = a.missing ? a : val(fabs(a.v));
		break;
	case X_AND:
	case X_OR: {
		bool want = x->op == X_OR; /* the value that decides alone */

		a = expr_eval_operand(e, x->a, c);
		b = expr_eval_operand(e, x->b, c);
		if ((!a.missing && (a.v != 0) == want) ||
		    (!b.missing && (b.v != 0) == want))
			r = val(want);
		else if (a.missing || b.missing)
			r = missing();
		else
			r = val(!want);
		break;
	}
	case X_BETWEEN:
		a = expr_eval_operand(e, x->a, c);
		b = expr_eval_operand(e, x->b, c);
		d = expr_eval_operand(e, x->c, c);
		if (a.missing || b.missing || d.missing)
			r = missing();
		else
			r = val(b.v <= a.v && a.v <= d.v);
		break;
	case X_RATE_SIG: {
		const struct expr_slot *s = &c->slots[x->slot];

		a = expr_eval_operand(e, x->a, c); /* staleness and missing bookkeeping */
		if (a.missing || !s->pvalid || s->t_ns <= s->pt_ns) {
			note_missing(c, x->slot);
			r = missing();
		} else {
			r = val((s->v - s->pv) /
				((double)(s->t_ns - s->pt_ns) / 1e9));
		}
		break;
	}
	case X_RATE:
		a = expr_eval_operand(e, x->a, c);
		r = rate_window(e, x, a, c->now_ns);
		break;
	case X_COND:
		/* every branch, so held() and rate() inside see each time */
		a = expr_eval_operand(e, x->a, c);
		b = expr_eval_operand(e, x->b, c);
		d = expr_eval_operand(e, x->c, c);
		r = a.missing ? a : a.v != 0 ? b : d;
		break;
	case X_HELD:
		a = expr_eval_operand(e, x->a, c);
		if (a.missing || a.v == 0) {
			x->on = false;
			r = a.missing ? a : val(0);
		} else {
			if (!x->on) {
				x->on = true;
				x->since = c->now_ns;
			}
			if (c->now_ns - x->since >= x->win_ns) {
				r = val(1);
			} else {
				r = val(0);
				want_deadline(c, x->since + x->win_ns);
			}
		}
		break;
	default: /* binary arithmetic and comparisons */
		a = expr_eval_operand(e, x->a, c);
		b = expr_eval_operand(e, x->b, c);
		if (a.missing || b.missing) {
			r = missing();
			break;
		}
		switch ((enum xop)x->op) {
		case X_ADD: r = val(a.v + b.v); break;
		case X_SUB: r = val(a.v - b.v); break;
		case X_MUL: r = val(a.v * b.v); break;
		case X_DIV: r = b.v == 0 ? missing() : val(a.v / b.v); break;
		case X_LT: r = val(a.v < b.v); break;
		case X_LE: r = val(a.v <= b.v); break;
		case X_GT: r = val(a.v > b.v); break;
		case X_GE: r = val(a.v >= b.v); break;
		case X_EQ: r = val(a.v == b.v); break;
		case X_NE: r = val(a.v != b.v); break;
		case X_MIN: r = val(a.v < b.v ? a.v : b.v); break;
		case X_MAX: r = val(a.v > b.v ? a.v : b.v); break;
		default: r = missing(); break;
		}
		break;
	}
	x->last = r;
	return r;
}

struct expr_value expr_eval(struct expr *e, struct expr_eval *ctx)
{
	return expr_eval_operand(e, e->root, ctx);
}

static void margin_of(const struct expr *e, int32_t i, double *worst,
		      double *margin)
{
	const struct xrun *x = &e->n[i];
	const struct expr_value *a = x->a >= 0 ? &e->n[x->a].last : NULL;
	const struct expr_value *b = x->b >= 0 ? &e->n[x->b].last : NULL;

	*worst = x->last.missing ? NAN : x->last.v;
	*margin = NAN;
	switch ((enum xop)x->op) {
	case X_LT: case X_LE: case X_GT: case X_GE: case X_EQ: case X_NE:
		if (a->missing || b->missing)
			return;
		*worst = a->v;
		if (x->op == X_LT || x->op == X_LE)
			*margin = b->v - a->v;
		else if (x->op == X_GT || x->op == X_GE)
			*margin = a->v - b->v;
		else if (x->op == X_EQ)
			*margin = -fabs(a->v - b->v);
		else
			*margin = fabs(a->v - b->v);
		return;
	case X_BETWEEN: {
		const struct expr_value *d = &e->n[x->c].last;

		if (a->missing || b->missing || d->missing)
			return;
		*worst = a->v;
		*margin = fmin(a->v - b->v, d->v - a->v);
		return;
	}
	case X_AND:
		if (!a->missing && a->v == 0)
			margin_of(e, x->a, worst, margin);
		else if (!b->missing && b->v == 0)
			margin_of(e, x->b, worst, margin);
		return;
	default:
		return;
	}
}

void expr_margin(const struct expr *e, double *worst, double *margin)
{
	margin_of(e, e->root, worst, margin);
}

size_t expr_inputs(const struct expr *e, uint32_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < e->nn; i++) {
		const struct xrun *x = &e->n[i];

		if (x->op != X_SIG && x->op != X_AGE)
			continue;
		if (n < cap)
			out[n] = x->slot;
		n++;
	}
	return n;
}

bool expr_is_ref(const struct expr *e, struct expr_ref *ref)
{
	const struct xrun *x = &e->n[e->root];

	if (x->op != X_SIG)
		return false;
	if (ref) {
		memset(ref, 0, sizeof(*ref));
		ref->slot = x->slot;
		ref->stale_ns = x->stale_ns;
	}
	return true;
}
