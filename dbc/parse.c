/*
 * parse.c: DBC text -> struct dbc.
 *
 * Sections may come in any order, so the tokens are read twice: the first
 * pass builds what other sections name (nodes, value tables, messages and
 * their signals, environment variables, attribute definitions), the second
 * applies the sections that refer to them (CM_, BA_, VAL_, SG_MUL_VAL_...).
 * Then come the meanings that need everything: attribute defaults and what
 * they say (cycle times, frame formats, J1939, start values), the
 * multiplexer tree, the lookup index.
 *
 * Real files deviate from Vector's grammar in small ways that tools such as
 * CANdb++ and cantools accept; so do we, recording a warning with line:col
 * in db->warnings. Everything else is an error: the first one stops the
 * parse and is reported with its location. There is no recursion and every
 * loop consumes a token, so any input ends. Name references go through hash
 * maps so that a big file stays linear.
 */
#define _GNU_SOURCE /* asprintf, vasprintf */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbc/dbc_impl.h"

/* Beyond this many warnings only a count is kept: a garbage file must not
 * turn into a million warning strings. */
#define MAX_WARNINGS 1000
/* Longest number token we convert; longer ones are not numbers. */
#define NUM_MAX 64
/* Largest DBC file we read; bigger ones are refused rather than mapped. */
#define FILE_MAX ((size_t)256 << 20)
/* Depth of cascaded multiplexers we accept; the codec stops at 32 too. */
#define MUX_DEPTH_MAX 32

#define NO_MSG SIZE_MAX
/* mux_parent while parsing: "mN" waiting for its switch to be known. */
#define MUX_PENDING (-2)

struct parser {
	struct lexer lx;
	struct token t; /* current token */
	struct dbc *db;
	struct arena *ar;
	struct dbc_diag *err;
	size_t n_dropped_warnings;

	struct hmap msg_by_id;  /* canonical ID -> message */
	struct hmap sig_by_name; /* (message, name) -> signal */
	struct hmap node_by_name;
	struct hmap env_by_name;
	struct hmap table_by_name;
	struct hmap def_by_name; /* (object, name) -> attribute definition */

	/*
	 * Two passes make any section order work: the first builds what
	 * other sections refer to (nodes, value tables, messages, signals,
	 * variables, attribute definitions), the second applies the
	 * references (CM_, BA_, VAL_, ...). Each pass parses everything, so
	 * syntax errors come from the first; a section is "dry" in the pass
	 * that does not apply it: no effects, no warnings, and every name
	 * lookup fails.
	 */
	int pass;
	bool dry;
	const char *buf;
	size_t len;

	size_t cur_msg;            /* message that SG_ lines belong to */
	uint8_t occupied[DBC_MAX_PAYLOAD]; /* bits of cur_msg's plain signals */
	struct dbc_location *msg_loc;      /* BO_ of each message */
	size_t *attr_def_idx;      /* definition of each attr, fixed up at the end */

	/* Scratch buffers, reused. */
	struct dbc_value_name *vals;
	size_t vals_cap;
	char **names;
	size_t names_cap;
	struct dbc_mux_range *ranges;
	size_t ranges_cap;
	char *text;
	size_t text_cap;
	char desc[48];
};

/* --------------------------------------------------------------- helpers */

static int errf(struct parser *p, unsigned line, unsigned col, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int warn_at(struct parser *p, unsigned line, unsigned col,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static char *vfmt(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	/* Messages are one line: names and strings quoted in them may hold
	 * line breaks or other control bytes. */
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7F)
			*c = ' ';
	return s;
}

/* Record the first error; every caller then returns -1 up the stack. */
static int errf(struct parser *p, unsigned line, unsigned col, const char *fmt,
		...)
{
	va_list ap;

	if (p->err->msg)
		return -1;
	va_start(ap, fmt);
	p->err->msg = vfmt(fmt, ap);
	va_end(ap);
	p->err->loc.line = line;
	p->err->loc.col = col;
	return -1;
}

static int oom(struct parser *p)
{
	return errf(p, p->t.line, p->t.col, "out of memory");
}

/* A short printable description of the current token for messages. */
static const char *desc(struct parser *p)
{
	const struct token *t = &p->t;

	switch (t->type) {
	case TOK_EOF:
		return "end of file";
	case TOK_STRING:
		return "a string";
	case TOK_BAD:
		if (!t->bad)
			return t->text;
		snprintf(p->desc, sizeof(p->desc), "byte 0x%02X", t->bad);
		return p->desc;
	default:
		snprintf(p->desc, sizeof(p->desc), "'%.*s%s'",
			 (int)(t->len > 32 ? 32 : t->len), t->text,
			 t->len > 32 ? "..." : "");
		return p->desc;
	}
}

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	char *what;
	int rc;

	if (p->err->msg)
		return -1;
	if (p->t.type == TOK_BAD && !p->t.bad)
		return errf(p, p->t.line, p->t.col, "%s", p->t.text);
	va_start(ap, fmt);
	what = vfmt(fmt, ap);
	va_end(ap);
	if (!what)
		return oom(p);
	rc = errf(p, p->t.line, p->t.col, "%s, got %s", what, desc(p));
	free(what);
	return rc;
}

/* Grow a model array whose capacity is implied by its count: 4, then
 * doubling, so each array needs no capacity field. */
static int grow(void *arrp, size_t n, size_t elem)
{
	void **arr = arrp;
	size_t cap;
	void *q;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	cap = n ? n * 2 : 4;
	if (cap < n || cap > SIZE_MAX / elem)
		return -1;
	q = realloc(*arr, cap * elem);
	if (!q)
		return -1;
	*arr = q;
	return 0;
}

/* Scratch arrays with an explicit capacity. */
static int reserve(void *arrp, size_t *cap, size_t need, size_t elem)
{
	void **arr = arrp;
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -1;
		c *= 2;
	}
	if (c > SIZE_MAX / elem)
		return -1;
	q = realloc(*arr, c * elem);
	if (!q)
		return -1;
	*arr = q;
	*cap = c;
	return 0;
}

/* Keep the n names gathered in p->names in an arena array (NULL for none). */
static int names_keep(struct parser *p, size_t n, char ***out)
{
	*out = NULL;
	if (!n)
		return 0;
	*out = arena_alloc(p->ar, n * sizeof(char *));
	if (!*out)
		return -1;
	memcpy(*out, p->names, n * sizeof(char *));
	return 0;
}

static int warn_at(struct parser *p, unsigned line, unsigned col,
		   const char *fmt, ...)
{
	struct dbc *db = p->db;
	struct dbc_diag *w;
	va_list ap;
	char *msg;

	if (p->dry)
		return 0;
	if (db->n_warnings >= MAX_WARNINGS) {
		p->n_dropped_warnings++;
		return 0;
	}
	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	if (!msg || grow(&db->warnings, db->n_warnings, sizeof(*w)) < 0) {
		free(msg);
		return oom(p);
	}
	w = &db->warnings[db->n_warnings++];
	w->loc.line = line;
	w->loc.col = col;
	w->msg = msg;
	return 0;
}

#define warn(p, ...) warn_at((p), (p)->t.line, (p)->t.col, __VA_ARGS__)

static void next(struct parser *p)
{
	lex_next(&p->lx, &p->t);
}

static bool is_punct(const struct token *t, char c)
{
	return t->type == TOK_PUNCT && t->text[0] == c;
}

static bool is_word(const struct token *t, const char *w)
{
	size_t n = strlen(w);

	return t->type == TOK_IDENT && t->len == n && memcmp(t->text, w, n) == 0;
}

static int expect(struct parser *p, char c, const char *where)
{
	if (!is_punct(&p->t, c))
		return fail(p, "expected '%c' %s", c, where);
	next(p);
	return 0;
}

/* The ';' closing a statement. Some generators drop it at the end of a
 * line; that is accepted when the next token starts a new line. */
static int end_stmt(struct parser *p, const char *what)
{
	if (is_punct(&p->t, ';')) {
		next(p);
		return 0;
	}
	if (p->t.bol || p->t.type == TOK_EOF)
		return warn(p, "missing ';' after %s", what);
	return fail(p, "expected ';' after %s", what);
}

static int parse_u64(struct parser *p, uint64_t max, uint64_t *out,
		     const char *what)
{
	const struct token *t = &p->t;
	uint64_t v = 0;

	if (t->type != TOK_NUMBER)
		return fail(p, "expected %s", what);
	for (size_t i = 0; i < t->len; i++) {
		unsigned d = (unsigned char)t->text[i] - '0';

		if (d > 9)
			return fail(p, "expected an integer %s", what);
		if (d > max || v > (max - d) / 10)
			return fail(p, "%s out of range (max %llu)", what,
				    (unsigned long long)max);
		v = v * 10 + d;
	}
	*out = v;
	next(p);
	return 0;
}

static int parse_u32(struct parser *p, uint32_t max, uint32_t *out,
		     const char *what)
{
	uint64_t v;

	if (parse_u64(p, max, &v, what) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Optional sign; '+' is a deviation some generators write. */
static int parse_sign(struct parser *p, bool *neg)
{
	*neg = false;
	if (is_punct(&p->t, '-')) {
		*neg = true;
		next(p);
	} else if (is_punct(&p->t, '+')) {
		if (warn(p, "number with a '+' sign") < 0)
			return -1;
		next(p);
	}
	return 0;
}

/*
 * Plain decimals ("0.01", "655.35") without strtod: with at most 2^53 in
 * the digits and 10^22 as the divisor both are exact doubles, so one
 * division is correctly rounded, the same result strtod gives.
 */
static bool fast_decimal(const char *s, size_t n, double *out)
{
	static const double p10[] = {
		1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
		1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
		1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	uint64_t m = 0;
	size_t scale = 0;
	bool dot = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || m >= (1ull << 53) / 10)
			return false;
		m = m * 10 + (uint64_t)(s[i] - '0');
		scale += dot;
	}
	if (scale > 22)
		return false;
	*out = (double)m / p10[scale];
	return true;
}

static int parse_double(struct parser *p, double *out, const char *what)
{
	char buf[NUM_MAX + 1];
	char *end;
	bool neg;
	double v;

	if (parse_sign(p, &neg) < 0)
		return -1;
	if (p->t.type != TOK_NUMBER)
		return fail(p, "expected %s", what);
	if (p->t.len > NUM_MAX)
		return fail(p, "number too long for %s", what);
	memcpy(buf, p->t.text, p->t.len);
	buf[p->t.len] = '\0';
	if (buf[0] == '.' && warn(p, "number without a leading digit") < 0)
		return -1;
	if (p->dry) {
		/* Converted in the pass that applies this section. */
		v = 0;
	} else if (!fast_decimal(buf, p->t.len, &v)) {
		errno = 0;
		v = strtod(buf, &end);
		if (*end || !isfinite(v))
			return fail(p, "bad number for %s", what);
	}
	*out = neg ? -v : v;
	next(p);
	return 0;
}

/* Signed integers as in value descriptions: -2^63 .. 2^64-1, the upper half
 * kept as the two's complement bit pattern of a 64-bit raw value. */
static int parse_i64(struct parser *p, int64_t *out, const char *what)
{
	unsigned line = p->t.line, col = p->t.col;
	uint64_t v;
	bool neg;

	if (parse_sign(p, &neg) < 0)
		return -1;
	if (p->t.type == TOK_NUMBER && memchr(p->t.text, '.', p->t.len)) {
		double d;

		/* "1.0" in a value table: integral floats are accepted. */
		if (parse_double(p, &d, what) < 0)
			return -1;
		if (d != floor(d) || fabs(d) > 9.2e18)
			return errf(p, line, col, "%s is not an integer", what);
		*out = neg ? -(int64_t)d : (int64_t)d;
		return 0;
	}
	if (parse_u64(p, neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX, &v,
		      what) < 0)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A name: identifier, or digits (a name starting with a digit). */
static int parse_name(struct parser *p, char **out, const char *what)
{
	const struct token *t = &p->t;

	if (t->type != TOK_IDENT && t->type != TOK_NUMBER)
		return fail(p, "expected %s", what);
	if ((t->digit_name || t->type == TOK_NUMBER) &&
	    warn(p, "name '%.*s' starts with a digit", (int)t->len, t->text) < 0)
		return -1;
	if (p->dry) {
		*out = (char *)(uintptr_t)""; /* never stored nor written */
		next(p);
		return 0;
	}
	*out = arena_strndup(p->ar, t->text, t->len);
	if (!*out)
		return oom(p);
	next(p);
	return 0;
}

/* A quoted string, unescaped, CRLF folded to LF, converted to UTF-8. */
static int parse_string(struct parser *p, char **out, const char *what)
{
	const struct token *t = &p->t;
	const char *s = t->text;
	size_t n = t->len;

	if (t->type != TOK_STRING)
		return fail(p, "expected %s", what);
	if (p->dry) {
		*out = (char *)(uintptr_t)"";
		next(p);
		return 0;
	}
	if (t->escapes) {
		size_t o = 0;

		if (reserve(&p->text, &p->text_cap, n + 1, 1) < 0)
			return oom(p);
		for (size_t i = 0; i < n; i++) {
			char c = s[i];

			if (c == '\\' && i + 1 < n && (s[i + 1] == '"' ||
						       s[i + 1] == '\\'))
				c = s[++i];
			else if (c == '\r') {
				c = '\n';
				if (i + 1 < n && s[i + 1] == '\n')
					i++;
			}
			p->text[o++] = c;
		}
		s = p->text;
		n = o;
	}
	*out = dbc_to_utf8(p->ar, s, n, NULL);
	if (!*out)
		return oom(p);
	next(p);
	return 0;
}

/* --------------------------------------------------------------- keywords */

static int parse_version(struct parser *p);
static int parse_ns(struct parser *p);
static int parse_bs(struct parser *p);
static int parse_bu(struct parser *p);
static int parse_val_table(struct parser *p);
static int parse_bo(struct parser *p);
static int parse_sg(struct parser *p);
static int parse_bo_tx_bu(struct parser *p);
static int parse_ev(struct parser *p);
static int parse_envvar_data(struct parser *p);
static int parse_cm(struct parser *p);
static int parse_ba_def(struct parser *p);
static int parse_ba_def_rel(struct parser *p);
static int parse_ba_def_def(struct parser *p);
static int parse_ba_def_def_rel(struct parser *p);
static int parse_ba(struct parser *p);
static int parse_ba_rel(struct parser *p);
static int parse_val(struct parser *p);
static int parse_sig_group(struct parser *p);
static int parse_sig_valtype(struct parser *p);
static int parse_sg_mul_val(struct parser *p);

static const struct section {
	const char *name;
	int (*parse)(struct parser *p); /* NULL: recognised, skipped */
	bool refers; /* applied in the second pass */
} sections[] = {
	{ "VERSION", parse_version, false },
	{ "NS_", parse_ns, false },
	{ "BS_", parse_bs, false },
	{ "BU_", parse_bu, false },
	{ "VAL_TABLE_", parse_val_table, false },
	{ "BO_", parse_bo, false },
	{ "SG_", parse_sg, false },
	{ "BO_TX_BU_", parse_bo_tx_bu, true },
	{ "EV_", parse_ev, false },
	{ "ENVVAR_DATA_", parse_envvar_data, true },
	{ "CM_", parse_cm, true },
	{ "BA_DEF_", parse_ba_def, false },
	{ "BA_DEF_REL_", parse_ba_def_rel, false },
	{ "BA_DEF_DEF_", parse_ba_def_def, true },
	{ "BA_DEF_DEF_REL_", parse_ba_def_def_rel, true },
	{ "BA_", parse_ba, true },
	{ "BA_REL_", parse_ba_rel, true },
	{ "VAL_", parse_val, true },
	{ "SIG_GROUP_", parse_sig_group, true },
	{ "SIG_VALTYPE_", parse_sig_valtype, true },
	{ "SG_MUL_VAL_", parse_sg_mul_val, true },
	{ "EV_DATA_", NULL, false },
	{ "NS_DESC_", NULL, false },
	{ "CAT_DEF_", NULL, false },
	{ "CAT_", NULL, false },
	{ "FILTER", NULL, false },
	{ "SGTYPE_", NULL, false },
	{ "SGTYPE_VAL_", NULL, false },
	{ "BA_DEF_SGTYPE_", NULL, false },
	{ "BA_SGTYPE_", NULL, false },
	{ "SIG_TYPE_REF_", NULL, false },
	{ "SIGTYPE_VALTYPE_", NULL, false },
	{ "BU_SG_REL_", NULL, false },
	{ "BU_EV_REL_", NULL, false },
	{ "BU_BO_REL_", NULL, false },
};

static const struct section *find_section(const struct token *t)
{
	if (t->type != TOK_IDENT)
		return NULL;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (is_word(t, sections[i].name))
			return &sections[i];
	return NULL;
}

/* Does the current token end a free-form list (node names, NS_ symbols)?
 * A keyword or anything at column 1 on a new line starts the next section. */
static bool list_ends(const struct token *t)
{
	if (t->type != TOK_IDENT && t->type != TOK_NUMBER)
		return true;
	return t->bol && (t->col == 1 || find_section(t));
}

/* ------------------------------------------------------- name resolution */

static uint32_t sig_hash(size_t msg, const char *name, size_t n)
{
	return hash_bytes(hash_u32(HASH_SEED, (uint32_t)msg), name, n);
}

static size_t find_message(struct parser *p, uint32_t raw_id)
{
	uint32_t canon = dbc_canon_id(raw_id);
	uint32_t h = hash_u32(HASH_SEED, canon);
	size_t pos = hmap_start(&p->msg_by_id, h), i;

	if (p->dry)
		return NO_MSG;
	while (hmap_next(&p->msg_by_id, h, &pos, &i)) {
		const struct dbc_message *m = &p->db->messages[i];

		if ((m->extended ? (m->id | 0x80000000u) : m->id) == canon)
			return i;
	}
	return NO_MSG;
}

static struct dbc_signal *find_signal(struct parser *p, size_t msg,
				      const char *name, size_t n, size_t *idx)
{
	struct dbc_message *m = &p->db->messages[msg];
	uint32_t h = sig_hash(msg, name, n);
	size_t pos = hmap_start(&p->sig_by_name, h), i;

	if (p->dry)
		return NULL;
	while (hmap_next(&p->sig_by_name, h, &pos, &i)) {
		if (i < m->n_signals && strlen(m->signals[i].name) == n &&
		    memcmp(m->signals[i].name, name, n) == 0) {
			if (idx)
				*idx = i;
			return &m->signals[i];
		}
	}
	return NULL;
}

/* Named things kept in arrays of structs with a leading char *name. */
static size_t find_named(const struct hmap *map, const void *arr, size_t n,
			 size_t elem, const char *name, size_t len)
{
	uint32_t h = hash_bytes(HASH_SEED, name, len);
	size_t pos = hmap_start(map, h), i;

	while (hmap_next(map, h, &pos, &i)) {
		const char *s;

		if (i >= n)
			continue;
		s = *(char *const *)((const char *)arr + i * elem);
		if (strlen(s) == len && memcmp(s, name, len) == 0)
			return i;
	}
	return SIZE_MAX;
}

static size_t find_node(struct parser *p, const char *name, size_t len)
{
	if (p->dry)
		return SIZE_MAX;
	return find_named(&p->node_by_name, p->db->nodes, p->db->n_nodes,
			  sizeof(struct dbc_node), name, len);
}

static size_t find_env(struct parser *p, const char *name, size_t len)
{
	if (p->dry)
		return SIZE_MAX;
	return find_named(&p->env_by_name, p->db->env_vars, p->db->n_env_vars,
			  sizeof(struct dbc_env_var), name, len);
}

static size_t find_table(struct parser *p, const char *name, size_t len)
{
	if (p->dry)
		return SIZE_MAX;
	return find_named(&p->table_by_name, p->db->value_tables,
			  p->db->n_value_tables,
			  sizeof(struct dbc_value_table), name, len);
}

static uint32_t def_hash(enum dbc_object obj, const char *name)
{
	return hash_str(hash_u32(HASH_SEED, (uint32_t)obj), name);
}

static struct dbc_attr_def *find_def(struct parser *p, enum dbc_object obj,
				     const char *name, size_t *idx)
{
	uint32_t h = def_hash(obj, name);
	size_t pos = hmap_start(&p->def_by_name, h), i;

	if (p->dry)
		return NULL;
	while (hmap_next(&p->def_by_name, h, &pos, &i)) {
		struct dbc_attr_def *d = &p->db->attr_defs[i];

		if (i < p->db->n_attr_defs && d->object == obj &&
		    strcmp(d->name, name) == 0) {
			if (idx)
				*idx = i;
			return d;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------- top level */

static int parse_version(struct parser *p)
{
	char *v;

	next(p);
	if (p->t.type != TOK_STRING)
		return fail(p, "expected a string after VERSION");
	if (parse_string(p, &v, "version string") < 0)
		return -1;
	if (!p->dry)
		p->db->version = v;
	return 0;
}

/* NS_ : followed by the symbols the file may use, one per indented line. */
static int parse_ns(struct parser *p)
{
	next(p);
	if (expect(p, ':', "after NS_") < 0)
		return -1;
	while (p->t.type == TOK_IDENT && !(p->t.bol && p->t.col == 1) &&
	       !is_word(&p->t, "BS_") && !is_word(&p->t, "BU_") &&
	       !is_word(&p->t, "BO_"))
		next(p);
	return 0;
}

/* BS_: [baudrate : BTR1 , BTR2] [;] -- obsolete, read and dropped. */
static int parse_bs(struct parser *p)
{
	uint64_t v;

	next(p);
	if (expect(p, ':', "after BS_") < 0)
		return -1;
	if (p->t.type == TOK_NUMBER) {
		if (parse_u64(p, UINT32_MAX, &v, "baud rate") < 0)
			return -1;
		if (is_punct(&p->t, ':')) {
			next(p);
			if (parse_u64(p, UINT32_MAX, &v, "BTR1") < 0 ||
			    expect(p, ',', "between BTR1 and BTR2") < 0 ||
			    parse_u64(p, UINT32_MAX, &v, "BTR2") < 0)
				return -1;
		}
	}
	if (is_punct(&p->t, ';'))
		next(p);
	return 0;
}

static int parse_bu(struct parser *p)
{
	struct dbc *db = p->db;

	next(p);
	if (expect(p, ':', "after BU_") < 0)
		return -1;
	for (;;) {
		struct dbc_node *n;
		char *name;

		if (is_punct(&p->t, ',')) {
			next(p);
			continue;
		}
		if (list_ends(&p->t))
			break;
		if (find_node(p, p->t.text, p->t.len) != SIZE_MAX) {
			if (warn(p, "duplicate node '%.*s'", (int)p->t.len,
				 p->t.text) < 0)
				return -1;
			next(p);
			continue;
		}
		if (parse_name(p, &name, "node name") < 0)
			return -1;
		if (p->dry)
			continue;
		if (grow(&db->nodes, db->n_nodes, sizeof(*n)) < 0 ||
		    hmap_put(&p->node_by_name, hash_str(HASH_SEED, name),
			     db->n_nodes) < 0)
			return oom(p);
		n = &db->nodes[db->n_nodes++];
		n->name = name;
		n->comment = NULL;
	}
	if (is_punct(&p->t, ';'))
		next(p);
	return 0;
}

/* Stable merge sort by value, so that of equal values the first written
 * stays first. tmp has room for n entries. */
static void sort_values(struct dbc_value_name *v, struct dbc_value_name *tmp,
			size_t n)
{
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n - w; lo += 2 * w) {
			size_t mid = lo + w, hi = mid + w < n ? mid + w : n;
			size_t i = lo, j = mid, k = 0;

			while (i < mid || j < hi)
				tmp[k++] = (j >= hi || (i < mid &&
							v[i].value <= v[j].value)) ?
						   v[i++] : v[j++];
			memcpy(v + lo, tmp, k * sizeof(*v));
		}
		if (w > n / 2)
			break;
	}
}

/*
 * "value "name"" pairs up to ';' into p->vals, then sorted, deduplicated
 * (the first written wins) and copied to the arena.
 */
static int parse_value_list(struct parser *p, struct dbc_value_name **out,
			    size_t *n_out, const char *what)
{
	size_t n = 0, k = 0;

	while (!is_punct(&p->t, ';') &&
	       (p->t.type == TOK_NUMBER || is_punct(&p->t, '-') ||
		is_punct(&p->t, '+'))) {
		struct dbc_value_name *v;

		if (reserve(&p->vals, &p->vals_cap, n + 1, sizeof(*v)) < 0)
			return oom(p);
		v = &p->vals[n];
		if (parse_i64(p, &v->value, "value") < 0 ||
		    parse_string(p, &v->name, "value description") < 0)
			return -1;
		n++;
	}
	if (end_stmt(p, what) < 0)
		return -1;
	*out = NULL;
	*n_out = 0;
	/* An empty list may come before any scratch array exists. */
	if (!n)
		return 0;
	if (reserve(&p->vals, &p->vals_cap, 2 * n, sizeof(*p->vals)) < 0)
		return oom(p);
	sort_values(p->vals, p->vals + n, n);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || p->vals[i].value != p->vals[k - 1].value)
			p->vals[k++] = p->vals[i];
	*out = arena_alloc(p->ar, k * sizeof(**out));
	if (!*out)
		return oom(p);
	memcpy(*out, p->vals, k * sizeof(**out));
	*n_out = k;
	return 0;
}

static int parse_val_table(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_value_table *vt;
	struct dbc_value_name *vals;
	size_t n;
	char *name;
	bool dup;

	next(p);
	if (parse_name(p, &name, "value table name") < 0)
		return -1;
	dup = find_table(p, name, strlen(name)) != SIZE_MAX;
	if (dup && warn(p, "duplicate value table '%s' ignored", name) < 0)
		return -1;
	if (parse_value_list(p, &vals, &n, "VAL_TABLE_") < 0)
		return -1;
	if (dup || p->dry)
		return 0;
	if (grow(&db->value_tables, db->n_value_tables, sizeof(*vt)) < 0 ||
	    hmap_put(&p->table_by_name, hash_str(HASH_SEED, name),
		     db->n_value_tables) < 0)
		return oom(p);
	vt = &db->value_tables[db->n_value_tables++];
	vt->name = name;
	vt->values = vals;
	vt->n_values = n;
	return 0;
}

/* ------------------------------------------------------------ messages */

static int parse_message_id(struct parser *p, uint32_t *raw, const char *what)
{
	return parse_u32(p, UINT32_MAX, raw, what);
}

static int parse_bo(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_message m = { 0 };
	unsigned line = p->t.line, col, size_col;
	uint32_t raw, size;
	size_t idx = db->n_messages;

	next(p);
	col = p->t.col;
	if (parse_message_id(p, &raw, "message ID") < 0)
		return -1;
	if (raw & 0x80000000u) {
		m.extended = true;
		if ((raw & 0x60000000u) && raw != 0xC0000000u &&
		    warn_at(p, line, col,
			    "message ID 0x%X has bits 29-30 set; ignored",
			    raw) < 0)
			return -1;
	} else if (raw > 0x1FFFFFFFu) {
		/* CANdb++ loads these (e.g. 0x40000000 for its pseudo
		 * message); the flag bits above 29 carry no meaning. */
		m.extended = true;
		if (warn_at(p, line, col, "message ID 0x%X does not fit in 29 "
			    "bits; the bits above are ignored", raw) < 0)
			return -1;
	} else if (raw > 0x7FFu) {
		m.extended = true;
		if (warn_at(p, line, col,
			    "message ID 0x%X above 0x7FF without the extended "
			    "flag (bit 31); taken as a 29-bit ID",
			    raw) < 0)
			return -1;
	}
	m.id = raw & (m.extended ? 0x1FFFFFFFu : 0x7FFu);
	if (parse_name(p, &m.name, "message name") < 0 ||
	    expect(p, ':', "after the message name") < 0)
		return -1;
	size_col = p->t.col;
	if (parse_u32(p, UINT32_MAX, &size, "message size") < 0)
		return -1;
	if (size > DBC_MAX_PAYLOAD)
		return errf(p, line, size_col,
			    "message size %u exceeds %d bytes", size,
			    DBC_MAX_PAYLOAD);
	m.size = (uint8_t)size;
	if (p->t.type == TOK_IDENT && !p->t.bol && !is_word(&p->t, "SG_")) {
		if (parse_name(p, &m.sender, "sender") < 0)
			return -1;
	} else if (warn(p, "message '%s' has no sender", m.name) < 0) {
		return -1;
	}
	if (!m.sender && !(m.sender = arena_strndup(p->ar, "Vector__XXX", 11)))
		return oom(p);

	if (!p->dry) {
		if (find_message(p, raw) != NO_MSG) {
			if (warn_at(p, line, col, "duplicate message ID %u "
				    "('%s'); lookups find the first", raw,
				    m.name) < 0)
				return -1;
		} else if (hmap_put(&p->msg_by_id,
				    hash_u32(HASH_SEED, dbc_canon_id(raw)),
				    idx) < 0) {
			return oom(p);
		}
		if (grow(&db->messages, db->n_messages, sizeof(m)) < 0 ||
		    grow(&p->msg_loc, db->n_messages, sizeof(*p->msg_loc)) < 0)
			return oom(p);
		p->msg_loc[idx].line = line;
		p->msg_loc[idx].col = col;
		db->messages[db->n_messages++] = m;
		p->cur_msg = idx;
	}
	memset(p->occupied, 0, sizeof(p->occupied));
	while (is_word(&p->t, "SG_"))
		if (parse_sg(p) < 0)
			return -1;
	return 0;
}

/* "M", "mN" or "mNM". */
static int parse_mux_indicator(struct parser *p, struct dbc_signal *s)
{
	const char *t = p->t.text;
	size_t n = p->t.len, i = 1;
	uint64_t v = 0;

	if (n == 1 && t[0] == 'M') {
		s->is_multiplexer = true;
		next(p);
		return 0;
	}
	if (n == 1 && t[0] == 'm') {
		/* A bare "m" (no value) is written by some hand-edited files;
		 * no tool gives it a meaning. */
		if (warn(p, "multiplexer indicator 'm' without a value; "
			 "ignored") < 0)
			return -1;
		next(p);
		return 0;
	}
	if (n < 2 || t[0] != 'm')
		return fail(p, "expected a multiplexer indicator (M, mN, mNM) "
			       "or ':'");
	for (; i < n && t[i] >= '0' && t[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return fail(p, "multiplexer value too large");
		v = v * 10 + (uint64_t)(t[i] - '0');
	}
	if (i == 1 || (i < n && !(i + 1 == n && t[i] == 'M')))
		return fail(p, "bad multiplexer indicator");
	if (i < n)
		s->is_multiplexer = true;
	s->mux_ranges = arena_alloc(p->ar, sizeof(*s->mux_ranges));
	if (!s->mux_ranges)
		return oom(p);
	s->mux_ranges[0].lo = s->mux_ranges[0].hi = v;
	s->n_mux_ranges = 1;
	s->mux_parent = MUX_PENDING;
	next(p);
	return 0;
}

/* Walk the bits of a prepared signal in (byte, bit) terms. */
static bool mark_bits(uint8_t *occ, const struct dbc_signal *s)
{
	bool overlap = false;
	unsigned b = s->start_bit;

	for (unsigned k = 0; k < s->length && b < 8 * DBC_MAX_PAYLOAD; k++) {
		if (occ[b / 8] & (1u << (b % 8)))
			overlap = true;
		occ[b / 8] |= (uint8_t)(1u << (b % 8));
		if (s->byte_order == DBC_LITTLE_ENDIAN)
			b++;
		else
			b = (b % 8 == 0) ? b + 15 : b - 1;
	}
	return overlap;
}

static int parse_sg(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_signal s = { .mux_parent = -1, .factor = 1 };
	struct dbc_message *m;
	unsigned line = p->t.line, col = p->t.col, len_line, len_col;
	uint32_t start, len, order;
	size_t n_recv = 0;
	bool pseudo;

	if (p->cur_msg == NO_MSG && !p->dry)
		return fail(p, "SG_ outside of a BO_ message");
	next(p);
	if (parse_name(p, &s.name, "signal name") < 0)
		return -1;
	if (p->t.type == TOK_IDENT && parse_mux_indicator(p, &s) < 0)
		return -1;
	if (expect(p, ':', "after the signal name") < 0 ||
	    parse_u32(p, 0xFFFF, &start, "start bit") < 0 ||
	    expect(p, '|', "after the start bit") < 0)
		return -1;
	len_line = p->t.line;
	len_col = p->t.col;
	if (parse_u32(p, 0xFFFF, &len, "signal length") < 0)
		return -1;
	if (len < 1 || len > 64)
		return errf(p, len_line, len_col,
			    "signal length %u not in 1..64", len);
	if (expect(p, '@', "after the signal length") < 0 ||
	    parse_u32(p, 1, &order, "byte order (0 or 1)") < 0)
		return -1;
	if (is_punct(&p->t, '-'))
		s.is_signed = true;
	else if (!is_punct(&p->t, '+'))
		return fail(p, "expected '+' or '-' after the byte order");
	next(p);
	if (expect(p, '(', "before the factor") < 0 ||
	    parse_double(p, &s.factor, "factor") < 0 ||
	    expect(p, ',', "after the factor") < 0 ||
	    parse_double(p, &s.offset, "offset") < 0 ||
	    expect(p, ')', "after the offset") < 0 ||
	    expect(p, '[', "before the minimum") < 0 ||
	    parse_double(p, &s.minimum, "minimum") < 0 ||
	    expect(p, '|', "after the minimum") < 0 ||
	    parse_double(p, &s.maximum, "maximum") < 0 ||
	    expect(p, ']', "after the maximum") < 0 ||
	    parse_string(p, &s.unit, "unit string") < 0)
		return -1;
	/* Receivers: comma or blank separated, to the end of the line. */
	while (!p->t.bol && (p->t.type == TOK_IDENT ||
			     p->t.type == TOK_NUMBER || is_punct(&p->t, ','))) {
		if (is_punct(&p->t, ',')) {
			next(p);
			continue;
		}
		if (reserve(&p->names, &p->names_cap, n_recv + 1,
			    sizeof(*p->names)) < 0)
			return oom(p);
		if (parse_name(p, &p->names[n_recv], "receiver") < 0)
			return -1;
		n_recv++;
	}
	if (names_keep(p, n_recv, &s.receivers) < 0)
		return oom(p);
	s.n_receivers = n_recv;
	if (is_punct(&p->t, ';') && !p->t.bol)
		next(p);
	s.start_bit = (uint16_t)start;
	s.length = (uint8_t)len;
	s.byte_order = order ? DBC_LITTLE_ENDIAN : DBC_BIG_ENDIAN;
	if (p->dry)
		return 0;

	m = &db->messages[p->cur_msg];
	if (dbc_signal_prepare(&s) < 0)
		return warn_at(p, line, col,
			       "signal '%s' does not fit in %d bytes; dropped",
			       s.name, DBC_MAX_PAYLOAD);
	/* CANdb++ keeps signals that no frame carries in a pseudo message
	 * of size 0; layout warnings mean nothing there. */
	pseudo = strcmp(m->name, "VECTOR__INDEPENDENT_SIG_MSG") == 0;
	if (!pseudo && s.last_byte >= m->size &&
	    warn_at(p, line, col, "signal '%s' extends beyond the %u bytes "
		    "of message '%s'", s.name, m->size, m->name) < 0)
		return -1;
	if (!pseudo && s.mux_parent == -1 && mark_bits(p->occupied, &s) &&
	    warn_at(p, line, col, "signal '%s' overlaps another signal of "
		    "message '%s'", s.name, m->name) < 0)
		return -1;
	if (find_signal(p, p->cur_msg, s.name, strlen(s.name), NULL)) {
		if (warn_at(p, line, col, "duplicate signal '%s' in message "
			    "'%s'", s.name, m->name) < 0)
			return -1;
	} else if (hmap_put(&p->sig_by_name,
			    sig_hash(p->cur_msg, s.name, strlen(s.name)),
			    m->n_signals) < 0) {
		return oom(p);
	}
	if (m->n_signals >= INT_MAX ||
	    grow(&m->signals, m->n_signals, sizeof(s)) < 0)
		return oom(p);
	m->signals[m->n_signals++] = s;
	return 0;
}

/* A message reference: ID, then the message index or NO_MSG with a warning. */
static int ref_message(struct parser *p, size_t *msg, uint32_t *raw,
		       const char *where)
{
	unsigned line = p->t.line, col = p->t.col;

	if (parse_message_id(p, raw, "message ID") < 0)
		return -1;
	*msg = find_message(p, *raw);
	if (*msg == NO_MSG)
		return warn_at(p, line, col, "%s: unknown message ID %u; "
			       "skipped", where, *raw);
	return 0;
}

/* A signal reference after its message: index or SIZE_MAX with a warning. */
static int ref_signal(struct parser *p, size_t msg, size_t *sig,
		      const char *where)
{
	const struct token *t = &p->t;
	int rc = 0;

	*sig = SIZE_MAX;
	if (t->type != TOK_IDENT && t->type != TOK_NUMBER)
		return fail(p, "expected a signal name");
	if (msg != NO_MSG && !find_signal(p, msg, t->text, t->len, sig))
		rc = warn(p, "%s: unknown signal '%.*s' in message '%s'; "
			  "skipped", where, (int)t->len, t->text,
			  p->db->messages[msg].name);
	next(p);
	return rc;
}

static int parse_bo_tx_bu(struct parser *p)
{
	size_t msg;
	uint32_t raw;

	next(p);
	if (ref_message(p, &msg, &raw, "BO_TX_BU_") < 0 ||
	    expect(p, ':', "after the message ID") < 0)
		return -1;
	while (p->t.type == TOK_IDENT || p->t.type == TOK_NUMBER ||
	       is_punct(&p->t, ','))
		next(p);
	return end_stmt(p, "BO_TX_BU_");
}

/* ---------------------------------------------------- environment vars */

static int parse_ev(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_env_var ev = { 0 };
	struct dbc_env_var *e;
	size_t n = 0;
	uint32_t type, id;

	next(p);
	if (parse_name(p, &ev.name, "environment variable name") < 0 ||
	    expect(p, ':', "after the variable name") < 0 ||
	    parse_u32(p, 2, &type, "variable type (0, 1 or 2)") < 0 ||
	    expect(p, '[', "before the minimum") < 0 ||
	    parse_double(p, &ev.min, "minimum") < 0 ||
	    expect(p, '|', "after the minimum") < 0 ||
	    parse_double(p, &ev.max, "maximum") < 0 ||
	    expect(p, ']', "after the maximum") < 0 ||
	    parse_string(p, &ev.unit, "unit string") < 0 ||
	    parse_double(p, &ev.initial, "initial value") < 0 ||
	    parse_u32(p, UINT32_MAX, &id, "variable ID") < 0 ||
	    parse_name(p, &ev.access_type, "access type") < 0)
		return -1;
	ev.type = (int)type;
	ev.id = id;
	while (p->t.type == TOK_IDENT || p->t.type == TOK_NUMBER ||
	       is_punct(&p->t, ',')) {
		if (is_punct(&p->t, ',')) {
			next(p);
			continue;
		}
		if (reserve(&p->names, &p->names_cap, n + 1,
			    sizeof(*p->names)) < 0)
			return oom(p);
		if (parse_name(p, &p->names[n], "access node") < 0)
			return -1;
		n++;
	}
	if (end_stmt(p, "EV_") < 0)
		return -1;
	if (names_keep(p, n, &ev.access_nodes) < 0)
		return oom(p);
	ev.n_access_nodes = n;
	if (p->dry)
		return 0;
	if (find_env(p, ev.name, strlen(ev.name)) != SIZE_MAX)
		return warn(p, "duplicate environment variable '%s' ignored",
			    ev.name);
	if (grow(&db->env_vars, db->n_env_vars, sizeof(*e)) < 0 ||
	    hmap_put(&p->env_by_name, hash_str(HASH_SEED, ev.name),
		     db->n_env_vars) < 0)
		return oom(p);
	db->env_vars[db->n_env_vars++] = ev;
	return 0;
}

static int parse_envvar_data(struct parser *p)
{
	char *name;
	uint32_t size;

	next(p);
	if (parse_name(p, &name, "environment variable name") < 0 ||
	    expect(p, ':', "after the variable name") < 0 ||
	    parse_u32(p, UINT32_MAX, &size, "data size") < 0)
		return -1;
	return end_stmt(p, "ENVVAR_DATA_");
}

/* ------------------------------------------------------------- comments */

static int parse_cm(struct parser *p)
{
	struct dbc *db = p->db;
	char **target = NULL;
	char *text;

	next(p);
	if (p->t.type == TOK_STRING) {
		target = p->dry ? NULL : &db->comment;
	} else if (is_word(&p->t, "BU_") || is_word(&p->t, "EV_")) {
		bool node = is_word(&p->t, "BU_");
		size_t i;

		next(p);
		if (p->t.type != TOK_IDENT && p->t.type != TOK_NUMBER)
			return fail(p, "expected a %s name",
				    node ? "node" : "variable");
		i = node ? find_node(p, p->t.text, p->t.len) :
			   find_env(p, p->t.text, p->t.len);
		if (i == SIZE_MAX) {
			if (warn(p, "CM_: unknown %s '%.*s'; skipped",
				 node ? "node" : "environment variable",
				 (int)p->t.len, p->t.text) < 0)
				return -1;
		} else {
			target = node ? &db->nodes[i].comment :
					&db->env_vars[i].comment;
		}
		next(p);
	} else if (is_word(&p->t, "BO_") || p->t.type == TOK_NUMBER) {
		size_t msg;
		uint32_t raw;

		if (p->t.type == TOK_NUMBER) {
			if (warn(p, "CM_ with a message ID but no BO_") < 0)
				return -1;
		} else {
			next(p);
		}
		if (ref_message(p, &msg, &raw, "CM_ BO_") < 0)
			return -1;
		if (msg != NO_MSG)
			target = &db->messages[msg].comment;
	} else if (is_word(&p->t, "SG_")) {
		size_t msg, sig;
		uint32_t raw;

		next(p);
		if (ref_message(p, &msg, &raw, "CM_ SG_") < 0)
			return -1;
		if (p->t.type == TOK_STRING) {
			if (warn(p, "CM_ SG_ without a signal name; skipped") < 0)
				return -1;
		} else {
			if (ref_signal(p, msg, &sig, "CM_ SG_") < 0)
				return -1;
			if (sig != SIZE_MAX)
				target = &db->messages[msg].signals[sig].comment;
		}
	} else {
		return fail(p, "expected a string, BU_, BO_, SG_ or EV_ after CM_");
	}
	if (parse_string(p, &text, "comment string") < 0)
		return -1;
	if (target)
		*target = text;
	return end_stmt(p, "CM_");
}

/* ----------------------------------------------------------- attributes */

static int parse_attr_type(struct parser *p, struct dbc_attr_def *d)
{
	size_t n = 0;

	if (is_word(&p->t, "INT") || is_word(&p->t, "HEX") ||
	    is_word(&p->t, "FLOAT")) {
		d->type = is_word(&p->t, "INT") ? DBC_ATTR_INT :
			  is_word(&p->t, "HEX") ? DBC_ATTR_HEX : DBC_ATTR_FLOAT;
		next(p);
		/* Some generators omit the bounds. */
		if (is_punct(&p->t, ';'))
			return 0;
		return parse_double(p, &d->min, "attribute minimum") < 0 ||
			       parse_double(p, &d->max, "attribute maximum") < 0 ?
		       -1 : 0;
	}
	if (is_word(&p->t, "STRING")) {
		d->type = DBC_ATTR_STRING;
		next(p);
		return 0;
	}
	if (!is_word(&p->t, "ENUM"))
		return fail(p, "expected INT, HEX, FLOAT, STRING or ENUM");
	d->type = DBC_ATTR_ENUM;
	next(p);
	while (p->t.type == TOK_STRING) {
		if (reserve(&p->names, &p->names_cap, n + 1,
			    sizeof(*p->names)) < 0)
			return oom(p);
		if (parse_string(p, &p->names[n], "enum value") < 0)
			return -1;
		n++;
		if (!is_punct(&p->t, ','))
			break;
		next(p);
	}
	if (names_keep(p, n, &d->enum_values) < 0)
		return oom(p);
	d->n_enum_values = n;
	return 0;
}

static int parse_attr_def(struct parser *p, bool rel)
{
	struct dbc *db = p->db;
	struct dbc_attr_def d = { 0 };
	unsigned line = p->t.line, col = p->t.col;

	next(p);
	d.object = DBC_OBJ_NETWORK;
	if (!rel) {
		if (is_word(&p->t, "BU_"))
			d.object = DBC_OBJ_NODE;
		else if (is_word(&p->t, "BO_"))
			d.object = DBC_OBJ_MESSAGE;
		else if (is_word(&p->t, "SG_"))
			d.object = DBC_OBJ_SIGNAL;
		else if (is_word(&p->t, "EV_"))
			d.object = DBC_OBJ_ENV_VAR;
	} else if (is_word(&p->t, "BU_BO_REL_")) {
		d.object = DBC_OBJ_REL_NODE_MESSAGE;
	} else if (is_word(&p->t, "BU_SG_REL_")) {
		d.object = DBC_OBJ_REL_NODE_SIGNAL;
	} else if (is_word(&p->t, "BU_EV_REL_")) {
		d.object = DBC_OBJ_REL_NODE_ENV_VAR;
	} else {
		return fail(p, "expected BU_BO_REL_, BU_SG_REL_ or BU_EV_REL_");
	}
	if (d.object != DBC_OBJ_NETWORK)
		next(p);
	if (p->t.type == TOK_IDENT) {
		if (parse_name(p, &d.name, "attribute name") < 0)
			return -1;
	} else if (parse_string(p, &d.name, "attribute name") < 0) {
		return -1;
	}
	if (parse_attr_type(p, &d) < 0 || end_stmt(p, "BA_DEF_") < 0)
		return -1;
	if (p->dry)
		return 0;
	if (find_def(p, d.object, d.name, NULL))
		return warn_at(p, line, col, "duplicate attribute definition "
			       "'%s' ignored", d.name);
	if (grow(&db->attr_defs, db->n_attr_defs, sizeof(d)) < 0 ||
	    hmap_put(&p->def_by_name, def_hash(d.object, d.name),
		     db->n_attr_defs) < 0)
		return oom(p);
	db->attr_defs[db->n_attr_defs++] = d;
	return 0;
}

static int parse_ba_def(struct parser *p)
{
	return parse_attr_def(p, false);
}

static int parse_ba_def_rel(struct parser *p)
{
	return parse_attr_def(p, true);
}

/* An attribute value as written: a number or a string. */
struct attr_value {
	bool is_string;
	char *string;
	double number;
	unsigned line, col;
};

static int parse_attr_value(struct parser *p, struct attr_value *v)
{
	memset(v, 0, sizeof(*v));
	v->line = p->t.line;
	v->col = p->t.col;
	if (p->t.type == TOK_STRING) {
		v->is_string = true;
		return parse_string(p, &v->string, "attribute value");
	}
	return parse_double(p, &v->number, "attribute value (number or "
			    "string)");
}

/*
 * Store a written value per the definition's type: ENUM by index or name,
 * numbers given as strings converted. Returns 1 when stored, 0 when it was
 * rejected with a warning.
 */
static int convert_value(struct parser *p, const struct dbc_attr_def *d,
			 const struct attr_value *v, char **str, double *num)
{
	char *end;

	*str = NULL;
	*num = 0;
	switch (d->type) {
	case DBC_ATTR_STRING:
		if (v->is_string) {
			*str = v->string;
		} else {
			char buf[40];

			snprintf(buf, sizeof(buf), "%.17g", v->number);
			*str = arena_strndup(p->ar, buf, strlen(buf));
			if (!*str)
				return oom(p);
			*num = v->number;
		}
		return 1;
	case DBC_ATTR_ENUM:
		if (v->is_string) {
			for (size_t i = 0; i < d->n_enum_values; i++)
				if (strcmp(d->enum_values[i], v->string) == 0) {
					*str = d->enum_values[i];
					*num = (double)i;
					return 1;
				}
			/* Keep the text even if it is no member. */
			*str = v->string;
			*num = -1;
			if (warn_at(p, v->line, v->col, "'%s' is not a value of "
				    "enum attribute '%s'", v->string,
				    d->name) < 0)
				return -1;
			return 1;
		}
		*num = v->number;
		if (v->number >= 0 && v->number < (double)d->n_enum_values &&
		    v->number == floor(v->number)) {
			*str = d->enum_values[(size_t)v->number];
			return 1;
		}
		if (warn_at(p, v->line, v->col, "index %g out of range for "
			    "enum attribute '%s'", v->number, d->name) < 0)
			return -1;
		return 1;
	default:
		if (!v->is_string) {
			*num = v->number;
			return 1;
		}
		errno = 0;
		*num = strtod(v->string, &end);
		if (end != v->string && !*end && isfinite(*num))
			return 1;
		if (warn_at(p, v->line, v->col, "attribute '%s' expects a "
			    "number, got \"%s\"; ignored", d->name,
			    v->string) < 0)
			return -1;
		return 0;
	}
}

/* BA_DEF_DEF_ applies to the definitions of that name for any object. */
static int parse_attr_default(struct parser *p, bool rel)
{
	static const enum dbc_object plain[] = {
		DBC_OBJ_NETWORK, DBC_OBJ_NODE, DBC_OBJ_MESSAGE,
		DBC_OBJ_SIGNAL, DBC_OBJ_ENV_VAR,
	};
	static const enum dbc_object rels[] = {
		DBC_OBJ_REL_NODE_MESSAGE, DBC_OBJ_REL_NODE_SIGNAL,
		DBC_OBJ_REL_NODE_ENV_VAR,
	};
	const enum dbc_object *objs = rel ? rels : plain;
	size_t n_objs = rel ? 3 : 5;
	struct attr_value v;
	unsigned line, col;
	bool found = false;
	char *name;

	next(p);
	line = p->t.line;
	col = p->t.col;
	if (p->t.type == TOK_IDENT) {
		if (parse_name(p, &name, "attribute name") < 0)
			return -1;
	} else if (parse_string(p, &name, "attribute name") < 0) {
		return -1;
	}
	if (parse_attr_value(p, &v) < 0 || end_stmt(p, "BA_DEF_DEF_") < 0)
		return -1;
	for (size_t i = 0; i < n_objs; i++) {
		struct dbc_attr_def *d = find_def(p, objs[i], name, NULL);
		int rc;

		if (!d)
			continue;
		found = true;
		rc = convert_value(p, d, &v, &d->default_string,
				   &d->default_number);
		if (rc < 0)
			return -1;
		d->has_default = rc > 0;
	}
	if (!found)
		return warn_at(p, line, col, "default for undefined attribute "
			       "'%s' ignored", name);
	return 0;
}

static int parse_ba_def_def(struct parser *p)
{
	return parse_attr_default(p, false);
}

static int parse_ba_def_def_rel(struct parser *p)
{
	return parse_attr_default(p, true);
}

/* Append an attribute; the definition's pointer is fixed up at the end
 * since attr_defs may still move. */
static int add_attr(struct parser *p, struct dbc_attr *a, size_t def_idx)
{
	struct dbc *db = p->db;

	if (grow(&db->attrs, db->n_attrs, sizeof(*a)) < 0 ||
	    grow(&p->attr_def_idx, db->n_attrs, sizeof(size_t)) < 0)
		return oom(p);
	p->attr_def_idx[db->n_attrs] = def_idx;
	db->attrs[db->n_attrs++] = *a;
	return 0;
}

/* Node or environment variable reference, NULL with a warning if unknown. */
static int ref_name(struct parser *p, bool node, char **out, const char *where)
{
	size_t i;

	*out = NULL;
	if (p->t.type != TOK_IDENT && p->t.type != TOK_NUMBER)
		return fail(p, "expected a %s name",
			    node ? "node" : "environment variable");
	i = node ? find_node(p, p->t.text, p->t.len) :
		   find_env(p, p->t.text, p->t.len);
	if (i == SIZE_MAX) {
		if (warn(p, "%s: unknown %s '%.*s'; skipped", where,
			 node ? "node" : "environment variable", (int)p->t.len,
			 p->t.text) < 0)
			return -1;
	} else {
		*out = node ? p->db->nodes[i].name : p->db->env_vars[i].name;
	}
	next(p);
	return 0;
}

static int parse_attr(struct parser *p, bool rel)
{
	struct dbc_attr a = { 0 };
	struct attr_value v;
	struct dbc_attr_def *d;
	const char *where = rel ? "BA_REL_" : "BA_";
	unsigned line, col;
	bool skip = false;
	size_t def_idx, msg = NO_MSG, sig;
	char *name;
	int rc;

	next(p);
	line = p->t.line;
	col = p->t.col;
	if (p->t.type == TOK_IDENT) {
		if (parse_name(p, &name, "attribute name") < 0)
			return -1;
	} else if (parse_string(p, &name, "attribute name") < 0) {
		return -1;
	}
	a.object = DBC_OBJ_NETWORK;
	if (rel) {
		if (is_word(&p->t, "BU_BO_REL_"))
			a.object = DBC_OBJ_REL_NODE_MESSAGE;
		else if (is_word(&p->t, "BU_SG_REL_"))
			a.object = DBC_OBJ_REL_NODE_SIGNAL;
		else if (is_word(&p->t, "BU_EV_REL_"))
			a.object = DBC_OBJ_REL_NODE_ENV_VAR;
		else
			return fail(p, "expected BU_BO_REL_, BU_SG_REL_ or "
				       "BU_EV_REL_");
		next(p);
		if (ref_name(p, true, &a.node, where) < 0)
			return -1;
		skip = !a.node;
		if (a.object == DBC_OBJ_REL_NODE_SIGNAL) {
			if (!is_word(&p->t, "SG_"))
				return fail(p, "expected SG_");
			next(p);
		}
	} else if (is_word(&p->t, "BU_")) {
		a.object = DBC_OBJ_NODE;
		next(p);
		if (ref_name(p, true, &a.node, where) < 0)
			return -1;
		skip = !a.node;
	} else if (is_word(&p->t, "BO_")) {
		a.object = DBC_OBJ_MESSAGE;
		next(p);
	} else if (is_word(&p->t, "SG_")) {
		a.object = DBC_OBJ_SIGNAL;
		next(p);
	} else if (is_word(&p->t, "EV_")) {
		a.object = DBC_OBJ_ENV_VAR;
		next(p);
	}
	switch (a.object) {
	case DBC_OBJ_MESSAGE:
	case DBC_OBJ_SIGNAL:
	case DBC_OBJ_REL_NODE_MESSAGE:
	case DBC_OBJ_REL_NODE_SIGNAL:
		if (ref_message(p, &msg, &a.message_id, where) < 0)
			return -1;
		skip |= msg == NO_MSG;
		if (a.object == DBC_OBJ_MESSAGE ||
		    a.object == DBC_OBJ_REL_NODE_MESSAGE)
			break;
		if (ref_signal(p, msg, &sig, where) < 0)
			return -1;
		if (sig == SIZE_MAX)
			skip = true;
		else
			a.signal = p->db->messages[msg].signals[sig].name;
		break;
	case DBC_OBJ_ENV_VAR:
	case DBC_OBJ_REL_NODE_ENV_VAR:
		if (ref_name(p, false, &a.env_var, where) < 0)
			return -1;
		skip |= !a.env_var;
		break;
	default:
		break;
	}
	if (parse_attr_value(p, &v) < 0 || end_stmt(p, where) < 0)
		return -1;
	if (skip)
		return 0;
	d = find_def(p, a.object, name, &def_idx);
	if (!d)
		return warn_at(p, line, col, "%s: undefined attribute '%s' "
			       "for this object; skipped", where, name);
	rc = convert_value(p, d, &v, &a.string_value, &a.number_value);
	if (rc <= 0)
		return rc;
	return add_attr(p, &a, def_idx);
}

static int parse_ba(struct parser *p)
{
	return parse_attr(p, false);
}

static int parse_ba_rel(struct parser *p)
{
	return parse_attr(p, true);
}

/* ------------------------------------------------ value descriptions etc */

static int parse_val(struct parser *p)
{
	struct dbc_value_name *vals;
	struct dbc_signal *s = NULL;
	size_t n, msg, sig;
	uint32_t raw;

	next(p);
	if (p->t.type != TOK_NUMBER) {
		/* VAL_ of an environment variable: checked, not kept. */
		char *env;

		if (ref_name(p, false, &env, "VAL_") < 0)
			return -1;
		return parse_value_list(p, &vals, &n, "VAL_");
	}
	if (ref_message(p, &msg, &raw, "VAL_") < 0 ||
	    ref_signal(p, msg, &sig, "VAL_") < 0)
		return -1;
	if (msg != NO_MSG && sig != SIZE_MAX)
		s = &p->db->messages[msg].signals[sig];
	if (p->t.type == TOK_IDENT) {
		/* VAL_ id signal TableName ; */
		size_t ti = find_table(p, p->t.text, p->t.len);

		if (ti == SIZE_MAX) {
			if (warn(p, "VAL_: unknown value table '%.*s'; skipped",
				 (int)p->t.len, p->t.text) < 0)
				return -1;
		} else if (s) {
			s->values = p->db->value_tables[ti].values;
			s->n_values = p->db->value_tables[ti].n_values;
		}
		next(p);
		return end_stmt(p, "VAL_");
	}
	if (parse_value_list(p, &vals, &n, "VAL_") < 0)
		return -1;
	if (s) {
		s->values = vals;
		s->n_values = n;
	}
	return 0;
}

static int parse_sig_group(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_signal_group g = { 0 };
	size_t msg, n = 0;

	next(p);
	if (ref_message(p, &msg, &g.message_id, "SIG_GROUP_") < 0 ||
	    parse_name(p, &g.name, "signal group name") < 0 ||
	    parse_u32(p, UINT32_MAX, &g.repetitions, "repetitions") < 0 ||
	    expect(p, ':', "after the repetitions") < 0)
		return -1;
	while (p->t.type == TOK_IDENT || p->t.type == TOK_NUMBER ||
	       is_punct(&p->t, ',')) {
		if (is_punct(&p->t, ',')) {
			next(p);
			continue;
		}
		if (reserve(&p->names, &p->names_cap, n + 1,
			    sizeof(*p->names)) < 0)
			return oom(p);
		if (msg != NO_MSG &&
		    !find_signal(p, msg, p->t.text, p->t.len, NULL) &&
		    warn(p, "SIG_GROUP_: unknown signal '%.*s'", (int)p->t.len,
			 p->t.text) < 0)
			return -1;
		if (parse_name(p, &p->names[n], "signal name") < 0)
			return -1;
		n++;
	}
	if (end_stmt(p, "SIG_GROUP_") < 0)
		return -1;
	if (msg == NO_MSG)
		return 0;
	if (names_keep(p, n, &g.signals) < 0)
		return oom(p);
	g.n_signals = n;
	if (grow(&db->signal_groups, db->n_signal_groups, sizeof(g)) < 0)
		return oom(p);
	db->signal_groups[db->n_signal_groups++] = g;
	return 0;
}

static int parse_sig_valtype(struct parser *p)
{
	struct dbc_signal *s;
	size_t msg, sig;
	uint32_t raw, type;
	unsigned line, col;

	next(p);
	if (ref_message(p, &msg, &raw, "SIG_VALTYPE_") < 0 ||
	    ref_signal(p, msg, &sig, "SIG_VALTYPE_") < 0)
		return -1;
	if (is_punct(&p->t, ':'))
		next(p);
	line = p->t.line;
	col = p->t.col;
	if (parse_u32(p, 3, &type, "value type (0, 1 or 2)") < 0 ||
	    end_stmt(p, "SIG_VALTYPE_") < 0)
		return -1;
	if (type == 3)
		return errf(p, line, col, "value type 3 not in 0..2");
	if (msg == NO_MSG || sig == SIZE_MAX)
		return 0;
	s = &p->db->messages[msg].signals[sig];
	s->value_type = type == 1 ? DBC_VALUE_FLOAT32 :
			type == 2 ? DBC_VALUE_FLOAT64 : DBC_VALUE_INTEGER;
	if (type && s->length != (type == 1 ? 32 : 64)) {
		s->value_type = DBC_VALUE_INTEGER;
		return warn_at(p, line, col, "signal '%s' is %u bits, not a "
			       "float%d; kept as an integer", s->name,
			       s->length, type == 1 ? 32 : 64);
	}
	return 0;
}

/* SG_MUL_VAL_ id signal switch lo-hi[, lo-hi...] ; */
static int parse_sg_mul_val(struct parser *p)
{
	struct dbc_message *m;
	struct dbc_signal *s;
	size_t msg, sig, sw, n = 0;
	uint32_t raw;
	unsigned line, col;

	next(p);
	if (ref_message(p, &msg, &raw, "SG_MUL_VAL_") < 0 ||
	    ref_signal(p, msg, &sig, "SG_MUL_VAL_") < 0)
		return -1;
	line = p->t.line;
	col = p->t.col;
	if (ref_signal(p, msg, &sw, "SG_MUL_VAL_ switch") < 0)
		return -1;
	while (p->t.type == TOK_NUMBER) {
		struct dbc_mux_range *r;

		if (reserve(&p->ranges, &p->ranges_cap, n + 1,
			    sizeof(*r)) < 0)
			return oom(p);
		r = &p->ranges[n];
		if (parse_u64(p, UINT64_MAX, &r->lo, "range start") < 0 ||
		    expect(p, '-', "in the multiplexer range") < 0 ||
		    parse_u64(p, UINT64_MAX, &r->hi, "range end") < 0)
			return -1;
		if (r->lo > r->hi) {
			uint64_t t = r->lo;

			r->lo = r->hi;
			r->hi = t;
			if (warn(p, "reversed multiplexer range") < 0)
				return -1;
		}
		n++;
		if (!is_punct(&p->t, ','))
			break;
		next(p);
	}
	if (end_stmt(p, "SG_MUL_VAL_") < 0)
		return -1;
	if (msg == NO_MSG || sig == SIZE_MAX || sw == SIZE_MAX)
		return 0;
	if (sig == sw)
		return warn_at(p, line, col, "signal multiplexed by itself; "
			       "SG_MUL_VAL_ skipped");
	m = &p->db->messages[msg];
	s = &m->signals[sig];
	if (!m->signals[sw].is_multiplexer) {
		if (warn_at(p, line, col, "'%s' is used as a multiplexer "
			    "but not marked M", m->signals[sw].name) < 0)
			return -1;
		m->signals[sw].is_multiplexer = true;
	}
	s->mux_parent = (int)sw;
	s->mux_ranges = NULL;
	s->n_mux_ranges = n;
	if (n) {
		s->mux_ranges = arena_alloc(p->ar, n * sizeof(*s->mux_ranges));
		if (!s->mux_ranges)
			return oom(p);
		memcpy(s->mux_ranges, p->ranges, n * sizeof(*s->mux_ranges));
	}
	return 0;
}

/* Sections we know but do not model, and unknown ones: skip to the ';' or
 * to the next line that starts with a keyword. */
static int skip_section(struct parser *p, bool known)
{
	if (warn(p, "%s section '%.*s' skipped", known ? "unsupported" :
		 "unknown", (int)p->t.len, p->t.text) < 0)
		return -1;
	next(p);
	while (p->t.type != TOK_EOF) {
		if (is_punct(&p->t, ';')) {
			next(p);
			break;
		}
		if (p->t.bol && find_section(&p->t))
			break;
		if (p->t.type == TOK_BAD && !p->t.bad)
			return fail(p, "bad token");
		next(p);
	}
	return 0;
}

/* ---------------------------------------------------------- semantics */

static const struct dbc_attr *net_attr(struct parser *p,
				       const struct dbc_attr_def *d)
{
	const struct dbc_attr *hit = NULL;

	for (size_t i = 0; i < p->db->n_attrs; i++)
		if (p->db->attrs[i].def == d)
			hit = &p->db->attrs[i]; /* last one wins */
	return hit;
}

/* VFrameFormat by enum name, or the numbers of Vector's enum order when
 * the definition is an INT. */
static void apply_frame_format(struct dbc_message *m, const char *name,
			       double num)
{
	if (name) {
		if (strcmp(name, "StandardCAN_FD") == 0 ||
		    strcmp(name, "ExtendedCAN_FD") == 0)
			m->fd = true;
		else if (strcmp(name, "J1939PG") == 0)
			m->j1939 = true;
		return;
	}
	if (num == 14 || num == 15)
		m->fd = true;
	else if (num == 3)
		m->j1939 = true;
}

static int apply_attributes(struct parser *p)
{
	struct dbc *db = p->db;
	struct dbc_attr_def *cycle, *vff, *start, *proto;
	const struct dbc_attr *a;
	const char *proto_name = NULL;

	for (size_t i = 0; i < db->n_attrs; i++)
		db->attrs[i].def = &db->attr_defs[p->attr_def_idx[i]];
	cycle = find_def(p, DBC_OBJ_MESSAGE, "GenMsgCycleTime", NULL);
	vff = find_def(p, DBC_OBJ_MESSAGE, "VFrameFormat", NULL);
	start = find_def(p, DBC_OBJ_SIGNAL, "GenSigStartValue", NULL);
	proto = find_def(p, DBC_OBJ_NETWORK, "ProtocolType", NULL);

	if (proto) {
		a = net_attr(p, proto);
		proto_name = a ? a->string_value :
			     proto->has_default ? proto->default_string : NULL;
	}
	db->j1939 = proto_name && strcasecmp(proto_name, "J1939") == 0;

	for (size_t i = 0; i < db->n_messages; i++) {
		struct dbc_message *m = &db->messages[i];

		if (cycle && cycle->has_default)
			m->cycle_time_ms = (int)fmax(0, fmin(
				cycle->default_number, INT_MAX));
		if (vff && vff->has_default)
			apply_frame_format(m, vff->type == DBC_ATTR_ENUM ?
					   vff->default_string : NULL,
					   vff->default_number);
		for (size_t k = 0; k < m->n_signals; k++) {
			struct dbc_signal *s = &m->signals[k];

			if (start && start->has_default) {
				s->has_start_value = true;
				s->start_value = start->default_number;
			}
		}
	}
	for (size_t i = 0; i < db->n_attrs; i++) {
		struct dbc_message *m;
		size_t msg;

		a = &db->attrs[i];
		if (a->def != cycle && a->def != vff && a->def != start)
			continue;
		msg = find_message(p, a->message_id);
		if (msg == NO_MSG)
			continue;
		m = &db->messages[msg];
		if (a->def == cycle) {
			m->cycle_time_ms = (int)fmax(0, fmin(a->number_value,
							     INT_MAX));
		} else if (a->def == vff) {
			/* An explicit value replaces the default's meaning. */
			m->fd = m->j1939 = false;
			apply_frame_format(m, vff->type == DBC_ATTR_ENUM ?
					   a->string_value : NULL,
					   a->number_value);
		} else if (a->signal) {
			struct dbc_signal *s = find_signal(
				p, msg, a->signal, strlen(a->signal), NULL);

			if (s) {
				s->has_start_value = true;
				s->start_value = a->number_value;
			}
		}
	}
	if (db->j1939)
		for (size_t i = 0; i < db->n_messages; i++)
			if (db->messages[i].extended)
				db->messages[i].j1939 = true;
	return 0;
}

/* A STRING attribute definition by name, or NULL. */
static const struct dbc_attr_def *string_def(struct parser *p,
					     enum dbc_object obj,
					     const char *name)
{
	const struct dbc_attr_def *d = find_def(p, obj, name, NULL);

	return d && d->type == DBC_ATTR_STRING ? d : NULL;
}

/* *ref becomes longs[idx] when the object at idx has a long name. */
static void rename_ref(char **ref, char *const *longs, size_t idx)
{
	if (idx != SIZE_MAX && longs[idx])
		*ref = longs[idx];
}

static size_t node_idx(struct parser *p, const char *name)
{
	return name ? find_node(p, name, strlen(name)) : SIZE_MAX;
}

static size_t env_idx(struct parser *p, const char *name)
{
	return name ? find_env(p, name, strlen(name)) : SIZE_MAX;
}

/* Index of a signal among all messages' signals (base[] per message). */
static size_t sig_idx(struct parser *p, const size_t *base, uint32_t raw_id,
		      const char *name)
{
	size_t msg = find_message(p, raw_id), k;

	if (msg == NO_MSG || !name ||
	    !find_signal(p, msg, name, strlen(name), &k))
		return SIZE_MAX;
	return base[msg] + k;
}

/*
 * Names over 32 characters: CANdb++ writes a short name in the section and
 * the real one in a SystemXxxLongSymbol attribute, and cantools reads it
 * back the same way. The model carries the long name, also where the object
 * is referred to (senders, receivers, signal groups, attribute keys), so
 * decoding, lookups by name and rules all see one name. Runs after
 * apply_attributes, which resolves attributes by the names as written.
 */
static int apply_long_names(struct parser *p)
{
	struct dbc *db = p->db;
	const struct dbc_attr_def *dm, *ds, *dn, *de;
	char **node_l = NULL, **env_l = NULL, **sig_l = NULL;
	size_t *base = NULL, n_sig = 0;
	int rc = -1;

	dm = string_def(p, DBC_OBJ_MESSAGE, "SystemMessageLongSymbol");
	ds = string_def(p, DBC_OBJ_SIGNAL, "SystemSignalLongSymbol");
	dn = string_def(p, DBC_OBJ_NODE, "SystemNodeLongSymbol");
	de = string_def(p, DBC_OBJ_ENV_VAR, "SystemEnvVarLongSymbol");
	if (!dm && !ds && !dn && !de)
		return 0;
	base = calloc(db->n_messages + 1, sizeof(*base));
	for (size_t i = 0; base && i < db->n_messages; i++)
		base[i + 1] = n_sig += db->messages[i].n_signals;
	node_l = calloc(db->n_nodes + 1, sizeof(*node_l));
	env_l = calloc(db->n_env_vars + 1, sizeof(*env_l));
	sig_l = calloc(n_sig + 1, sizeof(*sig_l));
	if (!base || !node_l || !env_l || !sig_l) {
		oom(p);
		goto out;
	}

	for (size_t i = 0; i < db->n_attrs; i++) {
		struct dbc_attr *a = &db->attrs[i];
		size_t idx, msg;

		if (!a->string_value || !*a->string_value)
			continue;
		if (a->def == dm && (msg = find_message(p, a->message_id)) !=
				    NO_MSG) {
			db->messages[msg].name = a->string_value;
		} else if (a->def == ds) {
			idx = sig_idx(p, base, a->message_id, a->signal);
			msg = find_message(p, a->message_id);
			if (idx == SIZE_MAX)
				continue;
			if (find_signal(p, msg, a->string_value,
					strlen(a->string_value), NULL)) {
				if (warn_at(p, p->msg_loc[msg].line,
					    p->msg_loc[msg].col, "long name "
					    "'%s' of signal '%s' is already a "
					    "signal of this message; ignored",
					    a->string_value, a->signal) < 0)
					goto out;
				continue;
			}
			sig_l[idx] = a->string_value;
		} else if (a->def == dn &&
			   (idx = node_idx(p, a->node)) != SIZE_MAX) {
			node_l[idx] = a->string_value;
		} else if (a->def == de &&
			   (idx = env_idx(p, a->env_var)) != SIZE_MAX) {
			env_l[idx] = a->string_value;
		}
	}

	/* References first: they are found through the names as written. */
	for (size_t i = 0; i < db->n_messages; i++) {
		struct dbc_message *m = &db->messages[i];

		rename_ref(&m->sender, node_l, node_idx(p, m->sender));
		for (size_t k = 0; k < m->n_signals; k++)
			for (size_t r = 0; r < m->signals[k].n_receivers; r++)
				rename_ref(&m->signals[k].receivers[r], node_l,
					   node_idx(p, m->signals[k].receivers[r]));
	}
	for (size_t i = 0; i < db->n_env_vars; i++)
		for (size_t k = 0; k < db->env_vars[i].n_access_nodes; k++)
			rename_ref(&db->env_vars[i].access_nodes[k], node_l,
				   node_idx(p, db->env_vars[i].access_nodes[k]));
	for (size_t i = 0; i < db->n_signal_groups; i++) {
		struct dbc_signal_group *g = &db->signal_groups[i];

		for (size_t k = 0; k < g->n_signals; k++)
			rename_ref(&g->signals[k], sig_l,
				   sig_idx(p, base, g->message_id,
					   g->signals[k]));
	}
	for (size_t i = 0; i < db->n_attrs; i++) {
		struct dbc_attr *a = &db->attrs[i];

		rename_ref(&a->node, node_l, node_idx(p, a->node));
		rename_ref(&a->env_var, env_l, env_idx(p, a->env_var));
		rename_ref(&a->signal, sig_l,
			   sig_idx(p, base, a->message_id, a->signal));
	}

	for (size_t i = 0; i < db->n_nodes; i++)
		rename_ref(&db->nodes[i].name, node_l, i);
	for (size_t i = 0; i < db->n_env_vars; i++)
		rename_ref(&db->env_vars[i].name, env_l, i);
	for (size_t i = 0; i < db->n_messages; i++)
		for (size_t k = 0; k < db->messages[i].n_signals; k++)
			rename_ref(&db->messages[i].signals[k].name, sig_l,
				   base[i] + k);
	rc = 0;
out:
	free(base);
	free(node_l);
	free(env_l);
	free(sig_l);
	return rc;
}

/*
 * Plain "mN" signals hang off the message's top-level "M" switch. Then make
 * sure every chain ends: a cycle or a chain deeper than the codec follows
 * is cut with a warning.
 */
static int resolve_mux(struct parser *p)
{
	struct dbc *db = p->db;

	for (size_t i = 0; i < db->n_messages; i++) {
		struct dbc_message *m = &db->messages[i];
		const struct dbc_location *loc = &p->msg_loc[i];
		int top = -1, n_top = 0;
		bool pending = false;

		for (size_t k = 0; k < m->n_signals; k++) {
			const struct dbc_signal *s = &m->signals[k];

			if (s->is_multiplexer && s->mux_parent == -1) {
				if (top < 0)
					top = (int)k;
				n_top++;
			}
			pending |= s->mux_parent == MUX_PENDING;
		}
		if (pending && top < 0 &&
		    warn_at(p, loc->line, loc->col, "message '%s' has "
			    "multiplexed signals but no multiplexer", m->name) < 0)
			return -1;
		if (pending && n_top > 1 &&
		    warn_at(p, loc->line, loc->col, "message '%s' has %d "
			    "multiplexers and no SG_MUL_VAL_; mN refers to "
			    "'%s'", m->name, n_top, m->signals[top].name) < 0)
			return -1;
		for (size_t k = 0; k < m->n_signals; k++) {
			struct dbc_signal *s = &m->signals[k];

			if (s->mux_parent == MUX_PENDING)
				s->mux_parent = top;
		}
		for (size_t k = 0; k < m->n_signals; k++) {
			struct dbc_signal *s = &m->signals[k];
			int cur = s->mux_parent, depth = 0;

			while (cur >= 0 && depth <= MUX_DEPTH_MAX) {
				cur = m->signals[cur].mux_parent;
				depth++;
			}
			if (cur >= 0) {
				if (warn_at(p, loc->line, loc->col,
					    "multiplexer chain of '%s' loops or "
					    "is deeper than %d; cut", s->name,
					    MUX_DEPTH_MAX) < 0)
					return -1;
				s->mux_parent = -1;
			}
			if (s->mux_parent >= 0)
				m->has_mux = true;
		}
	}
	return 0;
}

static int finish(struct parser *p)
{
	if (p->lx.n_odd_comments &&
	    warn_at(p, p->lx.odd_line, p->lx.odd_col, "%zu comment(s) with "
		    "'#' or '/* */' skipped", p->lx.n_odd_comments) < 0)
		return -1;
	if (apply_attributes(p) < 0 || apply_long_names(p) < 0 ||
	    resolve_mux(p) < 0)
		return -1;
	if (p->n_dropped_warnings) {
		size_t n = p->n_dropped_warnings;

		p->db->n_warnings--; /* make room: the last one is replaced */
		free(p->db->warnings[p->db->n_warnings].msg);
		if (warn_at(p, 0, 0, "%zu more warnings not shown", n + 1) < 0)
			return -1;
	}
	if (!p->db->version &&
	    !(p->db->version = arena_strndup(p->ar, "", 0)))
		return oom(p);
	if (dbc_index_build(p->db) < 0)
		return oom(p);
	return 0;
}

/* ------------------------------------------------------------- entry */

static void parser_fini(struct parser *p)
{
	hmap_fini(&p->msg_by_id);
	hmap_fini(&p->sig_by_name);
	hmap_fini(&p->node_by_name);
	hmap_fini(&p->env_by_name);
	hmap_fini(&p->table_by_name);
	hmap_fini(&p->def_by_name);
	free(p->msg_loc);
	free(p->attr_def_idx);
	free(p->vals);
	free(p->names);
	free(p->ranges);
	free(p->text);
}

static int parse_pass(struct parser *p, int pass)
{
	p->pass = pass;
	p->cur_msg = NO_MSG;
	lex_init(&p->lx, p->buf, p->len);
	next(p);
	while (p->t.type != TOK_EOF) {
		const struct section *sec = find_section(&p->t);

		p->dry = (pass == 1) == (sec && sec->refers);
		if (sec && sec->parse) {
			if (sec->parse(p) < 0)
				return -1;
		} else if (sec || p->t.type == TOK_IDENT) {
			if (skip_section(p, sec != NULL) < 0)
				return -1;
		} else if (is_punct(&p->t, ';')) {
			if (warn(p, "stray ';'") < 0)
				return -1;
			next(p);
		} else {
			return fail(p, "expected a section keyword");
		}
	}
	p->dry = false;
	return 0;
}

static bool loc_before(const struct dbc_diag *a, const struct dbc_diag *b)
{
	return a->loc.line < b->loc.line ||
	       (a->loc.line == b->loc.line && a->loc.col < b->loc.col);
}

/* Each pass appends its warnings in file order; merge the two runs. */
static int merge_warnings(struct parser *p, size_t n1)
{
	struct dbc *db = p->db;
	size_t n = db->n_warnings, i = 0, j = n1, k = 0;
	struct dbc_diag *out;

	if (n1 == 0 || n1 == n)
		return 0;
	out = malloc(n * sizeof(*out));
	if (!out)
		return oom(p);
	while (i < n1 || j < n)
		out[k++] = (j >= n || (i < n1 && !loc_before(&db->warnings[j],
							      &db->warnings[i]))) ?
				   db->warnings[i++] : db->warnings[j++];
	memcpy(db->warnings, out, n * sizeof(*out));
	free(out);
	return 0;
}

static int parse_all(struct parser *p)
{
	size_t n1, odd;
	unsigned odd_line, odd_col;

	if (parse_pass(p, 1) < 0)
		return -1;
	n1 = p->db->n_warnings;
	odd = p->lx.n_odd_comments;
	odd_line = p->lx.odd_line;
	odd_col = p->lx.odd_col;
	if (parse_pass(p, 2) < 0 || merge_warnings(p, n1) < 0)
		return -1;
	p->lx.n_odd_comments = odd;
	p->lx.odd_line = odd_line;
	p->lx.odd_col = odd_col;
	return finish(p);
}

struct dbc *dbc_parse_buffer(const char *name, const char *buf, size_t len,
			     struct dbc_diag *err)
{
	struct dbc_diag scratch;
	struct parser p;
	struct dbc *db;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	memset(&p, 0, sizeof(p));
	p.err = err;
	p.cur_msg = NO_MSG;
	db = calloc(1, sizeof(*db));
	if (!db || !(db->ext_index = calloc(1, sizeof(*db->ext_index))))
		goto err_oom;
	p.db = db;
	p.ar = &db->ext_index->arena;
	if (!(db->file = arena_strndup(p.ar, name ? name : "", name ?
				       strlen(name) : 0)))
		goto err_oom;
	p.buf = buf ? buf : "";
	p.len = buf ? len : 0;
	if (parse_all(&p) < 0)
		goto err;
	parser_fini(&p);
	if (err == &scratch)
		dbc_diag_fini(err);
	return db;

err_oom:
	errf(&p, 0, 0, "out of memory");
err:
	parser_fini(&p);
	dbc_free(db);
	if (err == &scratch)
		dbc_diag_fini(err);
	else if (!err->msg)
		err->msg = strdup("out of memory");
	return NULL;
}

struct dbc *dbc_parse_file(const char *path, struct dbc_diag *err)
{
	struct dbc_diag scratch;
	struct dbc *db = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	/* O_NONBLOCK: a FIFO must not block the open; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto err_errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > FILE_MAX) {
		if (asprintf(&err->msg, "%s", S_ISREG(st.st_mode) ?
			     "file too large" : "not a regular file") < 0)
			err->msg = NULL;
		goto err;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto err_errno;
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto err_errno;
		if (r == 0)
			break; /* shrank under us: parse what we have */
		len += (size_t)r;
	}
	close(fd);
	fd = -1;
	db = dbc_parse_buffer(path, buf, len, err);
	free(buf);
	if (err == &scratch)
		dbc_diag_fini(err);
	return db;

err_errno:
	if (asprintf(&err->msg, "%s", strerror(errno)) < 0)
		err->msg = NULL;
err:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (err == &scratch)
		dbc_diag_fini(err);
	return NULL;
}
