/*
 * frame.c: the candump -l line format (see frame.h for the grammar).
 *
 * Written from the format, not from can-utils' parse_canframe(), which runs
 * past the end of short input. Every read here is guarded by the line
 * length, so lines need not be NUL-terminated (the decode reader hands in
 * slices of a large read buffer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "daemon/core/frame.h"

static const char hex_upper[] = "0123456789ABCDEF";

/* CAN FD payload lengths by DLC. */
static const uint8_t fd_lengths[] = {0, 1, 2, 3, 4, 5, 6, 7, 8,
				     12, 16, 20, 24, 32, 48, 64};

/* Hex digit values plus one, 0 for anything else; a table because the
 * decode path parses millions of digits per second. */
static const uint8_t hex_tab[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static inline int hexval(char c)
{
	return (int)hex_tab[(unsigned char)c] - 1;
}

static bool fd_length_valid(size_t n)
{
	for (size_t i = 0; i < sizeof(fd_lengths); i++)
		if (fd_lengths[i] == n)
			return true;
	return false;
}

/* Parse-state: the line, its length and the cursor. */
struct cursor {
	const char *s;
	size_t len, pos;
	char *errmsg;
	size_t errlen;
};

static inline int peek(const struct cursor *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

/* Fill errmsg with "column N: ..." (1-based) and return FRAME_PARSE_ERROR. */
__attribute__((format(printf, 3, 4))) static int
fail(struct cursor *c, size_t pos, const char *fmt, ...)
{
	if (c->errmsg && c->errlen) {
		va_list ap;
		int k = snprintf(c->errmsg, c->errlen, "column %zu: ", pos + 1);

		if (k >= 0 && (size_t)k < c->errlen) {
			va_start(ap, fmt);
			vsnprintf(c->errmsg + k, c->errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return FRAME_PARSE_ERROR;
}

/* Data bytes as hex pairs, optionally separated by '.', at most max bytes.
 * Stops at the first character that cannot start a byte. */
static int parse_bytes(struct cursor *c, uint8_t *out, size_t max,
		       size_t *n_out)
{
	size_t n = 0;

	for (;;) {
		int h = peek(c), l;

		if (h == '.' && n > 0 && c->pos + 1 < c->len &&
		    hexval(c->s[c->pos + 1]) >= 0) {
			c->pos++;
			h = peek(c);
		}
		if (h < 0 || hexval((char)h) < 0)
			break;
		if (c->pos + 1 >= c->len || (l = hexval(c->s[c->pos + 1])) < 0)
			return fail(c, c->pos + 1,
				    "odd number of hex digits in data");
		if (n == max)
			return fail(c, c->pos, "more than %zu data bytes", max);
		out[n++] = (uint8_t)(hexval((char)h) << 4 | l);
		c->pos += 2;
	}
	*n_out = n;
	return 0;
}

/* SECONDS.FRACTION at the cursor, into ns (grammar at frame_parse_time);
 * leaves the cursor after it. The one time parser: the log reader, the
 * chain verifier and `cangate check --end` must agree on what a time is. */
static int parse_time(struct cursor *c, bool loose, uint64_t *t_ns)
{
	uint64_t sec = 0, frac = 0;
	size_t start = c->pos, ndig;
	int ch;

	while ((ch = peek(c)) >= '0' && ch <= '9') {
		if (sec > (UINT64_MAX / 1000000000u - 9) / 10)
			return fail(c, c->pos, "timestamp too large");
		sec = sec * 10 + (uint64_t)(ch - '0');
		c->pos++;
	}
	if (c->pos == start)
		return fail(c, c->pos, "expected timestamp seconds");
	if (peek(c) != '.' && !loose)
		return fail(c, c->pos, "expected '.' in timestamp");
	if (peek(c) == '.')
		c->pos++;
	start = c->pos;
	while ((ch = peek(c)) >= '0' && ch <= '9' && c->pos - start < 9) {
		frac = frac * 10 + (uint64_t)(ch - '0');
		c->pos++;
	}
	ndig = c->pos - start;
	if ((ch = peek(c)) >= '0' && ch <= '9')
		return fail(c, c->pos, "more than 9 fractional digits");
	if (ndig != 6 && ndig != 9 && !loose)
		return fail(c, start,
			    "expected 6 or 9 fractional digits, got %zu", ndig);
	for (; ndig < 9; ndig++)
		frac *= 10;
	*t_ns = sec * 1000000000u + frac;
	return 0;
}

int frame_parse_time(const char *s, size_t len, bool loose, uint64_t *t_ns,
		     char *errmsg, size_t errlen)
{
	struct cursor c = {s, len, 0, errmsg, errlen};

	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (parse_time(&c, loose, t_ns) < 0)
		return -1;
	if (c.pos != len)
		return fail(&c, c.pos, "unexpected text after timestamp");
	return 0;
}

int frame_parse_line(const char *line, size_t len, struct frame *f,
		     char ifname[FRAME_IFNAME_MAX], char *errmsg, size_t errlen)
{
	struct cursor cur = {line, len, 0, errmsg, errlen};
	struct cursor *c = &cur;
	size_t start;
	uint32_t id = 0;
	int ch;

	if (errmsg && errlen)
		errmsg[0] = '\0';
	/* Trailing newline (and CR) are not part of the line. */
	while (c->len && (line[c->len - 1] == '\n' || line[c->len - 1] == '\r'))
		c->len--;
	if (!c->len || line[0] != '(')
		return FRAME_PARSE_SKIP;

	memset(f, 0, sizeof(*f));

	/* (seconds.fraction) */
	c->pos = 1;
	if (parse_time(c, false, &f->t_ns) < 0)
		return FRAME_PARSE_ERROR;
	if (peek(c) != ')')
		return fail(c, c->pos, "expected ')' after timestamp");
	c->pos++;

	/* interface */
	if (peek(c) != ' ' && peek(c) != '\t')
		return fail(c, c->pos, "expected space after timestamp");
	while (peek(c) == ' ' || peek(c) == '\t')
		c->pos++;
	start = c->pos;
	while ((ch = peek(c)) > ' ' && ch != 0x7f)
		c->pos++;
	if (c->pos == start)
		return fail(c, c->pos, "expected interface name");
	if (c->pos - start >= FRAME_IFNAME_MAX)
		return fail(c, start, "interface name longer than %d bytes",
			    FRAME_IFNAME_MAX - 1);
	if (ifname) {
		memcpy(ifname, line + start, c->pos - start);
		ifname[c->pos - start] = '\0';
	}
	if (peek(c) != ' ' && peek(c) != '\t')
		return fail(c, c->pos, "expected space after interface name");
	while (peek(c) == ' ' || peek(c) == '\t')
		c->pos++;

	/* CAN ID: 3 hex digits standard, 8 extended or error frame. */
	start = c->pos;
	while ((ch = peek(c)) >= 0 && hexval((char)ch) >= 0) {
		if (c->pos - start == 8)
			return fail(c, start, "CAN ID longer than 8 hex digits");
		id = id << 4 | (uint32_t)hexval((char)ch);
		c->pos++;
	}
	if (c->pos - start == 3) {
		if (id > CAN_SFF_MASK)
			return fail(c, start, "11-bit CAN ID 0x%03X above 0x7FF",
				    id);
	} else if (c->pos - start == 8) {
		if (id & ~(CAN_EFF_MASK | CAN_ERR_FLAG))
			return fail(c, start, "CAN ID 0x%08X has bits above "
					      "the 29-bit range",
				    id);
		if (id & CAN_ERR_FLAG) {
			f->err = true;
			id &= CAN_ERR_MASK;
		} else {
			f->ext = true;
		}
	} else {
		return fail(c, start, "expected a 3 or 8 hex digit CAN ID");
	}
	f->id = id;
	if (peek(c) != '#')
		return fail(c, c->pos, "expected '#' after CAN ID");
	c->pos++;

	if (peek(c) == '#') {
		/* CAN FD: ##<flags><data> */
		size_t n;
		int fl;

		c->pos++;
		if (f->err)
			return fail(c, c->pos - 2, "error frame cannot be CAN FD");
		if ((ch = peek(c)) < 0 || (fl = hexval((char)ch)) < 0)
			return fail(c, c->pos, "expected CAN FD flags hex digit");
		c->pos++;
		f->fd = true;
		f->fd_flags = (uint8_t)fl;
		start = c->pos;
		if (parse_bytes(c, f->data, CANFD_MAX_DLEN, &n) < 0)
			return FRAME_PARSE_ERROR;
		if (!fd_length_valid(n))
			return fail(c, start,
				    "%zu bytes is not a CAN FD length", n);
		f->len = (uint8_t)n;
	} else if (peek(c) == 'R' || peek(c) == 'r') {
		/* Remote request: R, optional length digit, optional _DLC. */
		c->pos++;
		if (f->err)
			return fail(c, c->pos - 1, "error frame cannot be RTR");
		f->rtr = true;
		if ((ch = peek(c)) >= '0' && ch <= '9') {
			if (ch > '8')
				return fail(c, c->pos,
					    "RTR length above 8 (use 8_%c)",
					    ch);
			f->len = (uint8_t)(ch - '0');
			c->pos++;
		}
		if (peek(c) == '_') {
			int d;

			if (f->len != 8)
				return fail(c, c->pos, "raw DLC needs length 8");
			c->pos++;
			if ((ch = peek(c)) < 0 || (d = hexval((char)ch)) < 9)
				return fail(c, c->pos,
					    "expected raw DLC 9..F after '_'");
			f->raw_dlc = (uint8_t)d;
			c->pos++;
		}
	} else {
		size_t n;

		start = c->pos;
		if (parse_bytes(c, f->data, CAN_MAX_DLEN, &n) < 0)
			return FRAME_PARSE_ERROR;
		f->len = (uint8_t)n;
		if (peek(c) == '_') {
			int d;

			if (n != 8)
				return fail(c, c->pos, "raw DLC needs 8 data bytes");
			c->pos++;
			if ((ch = peek(c)) < 0 || (d = hexval((char)ch)) < 9)
				return fail(c, c->pos,
					    "expected raw DLC 9..F after '_'");
			f->raw_dlc = (uint8_t)d;
			c->pos++;
		}
	}

	/* Optional direction, then the end of the line. */
	start = c->pos;
	if (peek(c) == ' ' || peek(c) == '\t') {
		while (peek(c) == ' ' || peek(c) == '\t')
			c->pos++;
		ch = peek(c);
		if (ch == 'R' || ch == 'T') {
			f->dir = (char)ch;
			c->pos++;
			while (peek(c) == ' ' || peek(c) == '\t')
				c->pos++;
		} else if (ch >= 0) {
			return fail(c, c->pos, "expected direction R or T");
		}
	}
	if (c->pos < c->len) {
		if (c->pos == start)
			return fail(c, c->pos, "unexpected '%c' in frame data",
				    line[c->pos] > ' ' && line[c->pos] < 0x7f
					    ? line[c->pos]
					    : '?');
		return fail(c, c->pos, "unexpected text after direction");
	}
	return FRAME_PARSE_OK;
}

static size_t put_hex(char *p, unsigned v, int digits)
{
	for (int i = digits - 1; i >= 0; i--) {
		p[i] = hex_upper[v & 15];
		v >>= 4;
	}
	return (size_t)digits;
}

static size_t put_dec(char *p, uint64_t v, int width)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t o = 0;
	for (int i = n; i < width; i++)
		p[o++] = '0';
	while (n)
		p[o++] = tmp[--n];
	return o;
}

size_t frame_format(const struct frame *f, const char *ifname,
		    bool nanoseconds, char *buf, size_t size)
{
	char tmp[FRAME_LINE_MAX];
	size_t o = 0, iflen = strnlen(ifname, FRAME_IFNAME_MAX - 1);
	uint64_t sec = f->t_ns / 1000000000u, ns = f->t_ns % 1000000000u;
	size_t len = f->len;

	tmp[o++] = '(';
	o += put_dec(tmp + o, sec, 10);
	tmp[o++] = '.';
	if (nanoseconds)
		o += put_dec(tmp + o, ns, 9);
	else
		o += put_dec(tmp + o, ns / 1000, 6);
	tmp[o++] = ')';
	tmp[o++] = ' ';
	memcpy(tmp + o, ifname, iflen);
	o += iflen;
	tmp[o++] = ' ';
	if (f->err)
		o += put_hex(tmp + o, (f->id & CAN_ERR_MASK) | CAN_ERR_FLAG, 8);
	else if (f->ext)
		o += put_hex(tmp + o, f->id & CAN_EFF_MASK, 8);
	else
		o += put_hex(tmp + o, f->id & CAN_SFF_MASK, 3);
	tmp[o++] = '#';
	if (f->fd) {
		if (len > CANFD_MAX_DLEN)
			len = CANFD_MAX_DLEN;
		tmp[o++] = '#';
		tmp[o++] = hex_upper[f->fd_flags & 15];
	} else if (len > CAN_MAX_DLEN) {
		len = CAN_MAX_DLEN;
	}
	if (f->rtr && !f->fd) {
		tmp[o++] = 'R';
		if (len)
			tmp[o++] = hex_upper[len];
	} else {
		for (size_t i = 0; i < len; i++)
			o += put_hex(tmp + o, f->data[i], 2);
	}
	if (!f->fd && len == CAN_MAX_DLEN && f->raw_dlc > CAN_MAX_DLC &&
	    f->raw_dlc <= CAN_MAX_RAW_DLC) {
		tmp[o++] = '_';
		tmp[o++] = hex_upper[f->raw_dlc];
	}
	if (f->dir == FRAME_DIR_RX || f->dir == FRAME_DIR_TX) {
		tmp[o++] = ' ';
		tmp[o++] = f->dir;
	}
	tmp[o++] = '\n';
	/* Longest: 2+20+1+9+2+31+1+8+2+1+128+2+1 = 208 < FRAME_LINE_MAX. */
	if (!size)
		return o;
	if (o >= size) {
		memcpy(buf, tmp, size - 1);
		buf[size - 1] = '\0';
		return o;
	}
	memcpy(buf, tmp, o);
	buf[o] = '\0';
	return o;
}

void frame_from_can(struct frame *f, const struct canfd_frame *cf, bool fd,
		    uint64_t t_ns)
{
	canid_t id = cf->can_id;
	size_t max = fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN;

	memset(f, 0, sizeof(*f));
	f->t_ns = t_ns;
	f->fd = fd;
	if (id & CAN_ERR_FLAG) {
		f->err = true;
		f->id = id & CAN_ERR_MASK;
	} else if (id & CAN_EFF_FLAG) {
		f->ext = true;
		f->id = id & CAN_EFF_MASK;
	} else {
		f->id = id & CAN_SFF_MASK;
	}
	f->rtr = !fd && !f->err && (id & CAN_RTR_FLAG);
	f->len = cf->len > max ? (uint8_t)max : cf->len;
	if (fd) {
		f->fd_flags = cf->flags;
	} else {
		/* len8_dlc sits where canfd_frame has __res1. */
		uint8_t l8;

		memcpy(&l8, (const char *)cf + offsetof(struct can_frame, len8_dlc),
		       1);
		if (f->len == CAN_MAX_DLEN && l8 > CAN_MAX_DLC &&
		    l8 <= CAN_MAX_RAW_DLC)
			f->raw_dlc = l8;
	}
	if (!f->rtr)
		memcpy(f->data, cf->data, f->len);
}

void frame_to_can(const struct frame *f, struct canfd_frame *cf)
{
	size_t max = f->fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN;
	size_t len = f->len > max ? max : f->len;

	memset(cf, 0, sizeof(*cf));
	if (f->err)
		cf->can_id = (f->id & CAN_ERR_MASK) | CAN_ERR_FLAG;
	else if (f->ext)
		cf->can_id = (f->id & CAN_EFF_MASK) | CAN_EFF_FLAG;
	else
		cf->can_id = f->id & CAN_SFF_MASK;
	if (f->rtr && !f->fd && !f->err)
		cf->can_id |= CAN_RTR_FLAG;
	cf->len = (uint8_t)len;
	if (f->fd) {
		cf->flags = f->fd_flags;
	} else if (len == CAN_MAX_DLEN && f->raw_dlc > CAN_MAX_DLC &&
		   f->raw_dlc <= CAN_MAX_RAW_DLC) {
		memcpy((char *)cf + offsetof(struct can_frame, len8_dlc),
		       &f->raw_dlc, 1);
	}
	if (!(f->rtr && !f->fd))
		memcpy(cf->data, f->data, len);
}
