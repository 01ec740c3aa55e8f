/*
 * lex.c: the DBC tokenizer.
 *
 * DBC is token-based except for a few lists that end at the line's end, so
 * every token records whether it is the first on its line and its column.
 * Numbers are lexed unsigned; the parser owns signs, because "0-3" in
 * SG_MUL_VAL_ is a range and "@1-" a signedness flag, not negative numbers.
 * A digit run that continues with letters is a name starting with a digit,
 * which real files contain and the parser accepts with a warning.
 */
#include <string.h>

#include "dbc/dbc_impl.h"

/* Character classes; a table because the lexer is the parser's hot loop. */
enum { C_ID = 1, C_DIGIT = 2, C_PUNCT = 4 };

static const uint8_t cls[256] = {
	['0' ... '9'] = C_DIGIT,
	['A' ... 'Z'] = C_ID,
	['a' ... 'z'] = C_ID,
	['_'] = C_ID,
	[':'] = C_PUNCT, [';'] = C_PUNCT, [','] = C_PUNCT, ['|'] = C_PUNCT,
	['@'] = C_PUNCT, ['+'] = C_PUNCT, ['-'] = C_PUNCT, ['('] = C_PUNCT,
	[')'] = C_PUNCT, ['['] = C_PUNCT, [']'] = C_PUNCT,
};

static inline bool is_ident_start(unsigned char c)
{
	return cls[c] & C_ID;
}

static inline bool is_digit(unsigned char c)
{
	return cls[c] & C_DIGIT;
}

static inline bool is_ident_char(unsigned char c)
{
	return cls[c] & (C_ID | C_DIGIT);
}

void lex_init(struct lexer *lx, const char *buf, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->p = buf;
	lx->end = buf + len;
	lx->line = 1;
	lx->line_start = buf;
	lx->at_bol = true;
	/* UTF-8 byte order mark: written by some Windows tools. */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		lx->p += 3;
		lx->line_start = lx->p;
	}
}

static void newline(struct lexer *lx, const char *after)
{
	lx->line++;
	lx->line_start = after;
	lx->at_bol = true;
}

static void skip_line(struct lexer *lx)
{
	while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\r')
		lx->p++;
}

static void odd_comment(struct lexer *lx)
{
	if (lx->n_odd_comments++ == 0) {
		lx->odd_line = lx->line;
		lx->odd_col = (unsigned)(lx->p - lx->line_start) + 1;
	}
}

/* Skip blanks, line ends (LF, CRLF, lone CR) and // comments. */
static void skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		unsigned char c = (unsigned char)*lx->p;

		if (c == '\n') {
			lx->p++;
			newline(lx, lx->p);
		} else if (c == '\r') {
			lx->p++;
			if (lx->p < lx->end && *lx->p == '\n')
				lx->p++;
			newline(lx, lx->p);
		} else if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
			lx->p++;
		} else if (c == '/' && lx->end - lx->p >= 2 && lx->p[1] == '/') {
			skip_line(lx);
		} else if (c == '#' && lx->at_bol) {
			/* Not DBC; some hand-edited files have them. */
			odd_comment(lx);
			skip_line(lx);
		} else if (c == '/' && lx->end - lx->p >= 2 && lx->p[1] == '*') {
			odd_comment(lx);
			for (lx->p += 2; lx->p < lx->end; lx->p++) {
				if (*lx->p == '*' && lx->end - lx->p >= 2 &&
				    lx->p[1] == '/') {
					lx->p += 2;
					break;
				}
				if (*lx->p == '\n' || (*lx->p == '\r' &&
				    !(lx->end - lx->p >= 2 && lx->p[1] == '\n')))
					newline(lx, lx->p + 1);
			}
		} else {
			break;
		}
	}
}

/* Digits [. digits] [e [+-] digits], or . digits ... */
static const char *scan_number(const char *p, const char *end)
{
	while (p < end && is_digit((unsigned char)*p))
		p++;
	if (p < end && *p == '.') {
		p++;
		while (p < end && is_digit((unsigned char)*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *q = p + 1;

		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q < end && is_digit((unsigned char)*q)) {
			while (q < end && is_digit((unsigned char)*q))
				q++;
			p = q;
		}
	}
	return p;
}

void lex_next(struct lexer *lx, struct token *t)
{
	const char *start;
	unsigned char c;

	skip_space(lx);
	memset(t, 0, sizeof(*t));
	t->line = lx->line;
	t->col = (unsigned)(lx->p - lx->line_start) + 1;
	t->bol = lx->at_bol;
	lx->at_bol = false;
	t->text = lx->p;
	if (lx->p >= lx->end) {
		t->type = TOK_EOF;
		return;
	}
	start = lx->p;
	c = (unsigned char)*start;

	if (is_digit(c) || (c == '.' && lx->end - start >= 2 &&
			    is_digit((unsigned char)start[1]))) {
		const char *q = scan_number(start, lx->end);

		if (q < lx->end && is_ident_char((unsigned char)*q)) {
			while (q < lx->end && is_ident_char((unsigned char)*q))
				q++;
			t->type = TOK_IDENT;
			t->digit_name = true;
		} else {
			t->type = TOK_NUMBER;
		}
		t->len = (size_t)(q - start);
		lx->p = q;
		return;
	}
	if (is_ident_start(c)) {
		const char *q = start + 1;

		while (q < lx->end && is_ident_char((unsigned char)*q))
			q++;
		t->type = TOK_IDENT;
		t->len = (size_t)(q - start);
		lx->p = q;
		return;
	}
	if (c == '"') {
		const char *q = start + 1;

		/* Strings may span lines (CM_ texts do); keep the line count. */
		while (q < lx->end && *q != '"') {
			if (*q == '\\' && lx->end - q >= 2 &&
			    (q[1] == '"' || q[1] == '\\')) {
				t->escapes = true;
				q += 2;
				continue;
			}
			if (*q == '\n') {
				newline(lx, q + 1);
			} else if (*q == '\r') {
				t->escapes = true; /* CRLF becomes LF */
				if (lx->end - q >= 2 && q[1] == '\n')
					q++;
				newline(lx, q + 1);
			}
			q++;
		}
		if (q >= lx->end) {
			t->type = TOK_BAD;
			t->text = "unterminated string";
			t->len = strlen(t->text);
			lx->p = lx->end;
			return;
		}
		lx->at_bol = false;
		t->type = TOK_STRING;
		t->text = start + 1;
		t->len = (size_t)(q - start - 1);
		lx->p = q + 1;
		return;
	}
	if (cls[c] & C_PUNCT) {
		t->type = TOK_PUNCT;
		t->len = 1;
		lx->p++;
		return;
	}
	t->type = TOK_BAD;
	t->bad = c;
	t->text = c >= 0x80 ? "non-ASCII byte outside a string" :
		  "unexpected character";
	t->len = strlen(t->text);
	lx->p++;
}
