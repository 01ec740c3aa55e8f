/*
 * json.c: streaming JSON writer (see json.h).
 *
 * Hot callers (cangate decode) write millions of numbers per second, so the
 * common cases avoid stdio: strings are copied in runs of plain ASCII,
 * integers are formatted by hand, and doubles that are integers or short
 * decimals are recognised exactly (r / 10^k == v, both sides exact in IEEE
 * arithmetic) before falling back to snprintf + strtod.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/json.h"

static void put(struct json *j, const char *s, size_t n)
{
	if (j->fp) {
		if (j->len + n > j->size) {
			json_flush(j);
			if (n > j->size) {
				if (fwrite(s, 1, n, j->fp) != n)
					j->failed = true;
				return;
			}
		}
		memcpy(j->buf + j->len, s, n);
		j->len += n;
		return;
	}
	/* Buffer mode: len counts what the whole text needs; copy what fits
	 * and keep a NUL after it. */
	if (j->size && j->len < j->size - 1) {
		size_t room = j->size - 1 - j->len;
		size_t k = n < room ? n : room;

		memcpy(j->buf + j->len, s, k);
		j->buf[j->len + k] = '\0';
	}
	if (j->len + n >= j->size)
		j->failed = true;
	j->len += n;
}

static inline void putc1(struct json *j, char c)
{
	if (j->fp && j->len < j->size) {
		j->buf[j->len++] = c;
		return;
	}
	put(j, &c, 1);
}

void json_init_buf(struct json *j, char *buf, size_t size)
{
	j->fp = NULL;
	j->buf = buf;
	j->size = size;
	j->len = 0;
	j->failed = size == 0;
	j->after_key = false;
	j->pretty = false;
	j->depth = 0;
	j->has_items = 0;
	if (size)
		buf[0] = '\0';
}

void json_init_file(struct json *j, FILE *fp)
{
	j->fp = fp;
	j->buf = j->stage;
	j->size = sizeof(j->stage);
	j->len = 0;
	j->failed = false;
	j->after_key = false;
	j->pretty = false;
	j->depth = 0;
	j->has_items = 0;
}

void json_set_pretty(struct json *j, bool pretty)
{
	j->pretty = pretty;
}

static void indent(struct json *j, unsigned depth)
{
	static const char spaces[] = "                                ";

	putc1(j, '\n');
	for (unsigned n = 2 * depth; n;) {
		unsigned k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		put(j, spaces, k);
		n -= k;
	}
}

int json_flush(struct json *j)
{
	if (!j->fp)
		return j->failed ? -1 : 0;
	if (j->len && fwrite(j->buf, 1, j->len, j->fp) != j->len)
		j->failed = true;
	j->len = 0;
	return j->failed ? -1 : 0;
}

int json_finish(struct json *j)
{
	if (j->depth)
		j->failed = true;
	return json_flush(j);
}

/* Comma before a value or key at the current level. */
static void separate(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth && j->depth <= JSON_DEPTH_MAX) {
		uint64_t bit = (uint64_t)1 << (j->depth - 1);

		if (j->has_items & bit)
			putc1(j, ',');
		j->has_items |= bit;
		if (j->pretty)
			indent(j, j->depth);
	}
}

/* c 0: members without braces (json_members_begin) */
static void open_container(struct json *j, char c)
{
	separate(j);
	if (c)
		putc1(j, c);
	j->depth++;
	if (j->depth > JSON_DEPTH_MAX)
		j->failed = true;
	else
		j->has_items &= ~((uint64_t)1 << (j->depth - 1));
}

static void close_container(struct json *j, char c)
{
	if (!j->depth) {
		j->failed = true;
		return;
	}
	j->depth--;
	j->after_key = false;
	if (!c)
		return;
	if (j->pretty && j->depth < JSON_DEPTH_MAX &&
	    (j->has_items & ((uint64_t)1 << j->depth)))
		indent(j, j->depth);
	putc1(j, c);
}

void json_object_begin(struct json *j)
{
	open_container(j, '{');
}

void json_object_end(struct json *j)
{
	close_container(j, '}');
}

void json_members_begin(struct json *j)
{
	open_container(j, 0);
}

void json_members_end(struct json *j)
{
	close_container(j, 0);
}

void json_array_begin(struct json *j)
{
	open_container(j, '[');
}

void json_array_end(struct json *j)
{
	close_container(j, ']');
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need;
}

static void put_escaped(struct json *j, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	putc1(j, '"');
	while (i < n) {
		size_t run = i;

		while (run < n && s[run] >= 0x20 && s[run] < 0x80 &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(j, str + i, run - i);
			i = run;
			if (i == n)
				break;
		}
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(j, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			switch (c) {
			case '\n':
				put(j, "\\n", 2);
				break;
			case '\r':
				put(j, "\\r", 2);
				break;
			case '\t':
				put(j, "\\t", 2);
				break;
			case '\b':
				put(j, "\\b", 2);
				break;
			case '\f':
				put(j, "\\f", 2);
				break;
			default:
				put(j, e, 6);
			}
			i++;
		} else {
			size_t k = utf8_seq(s + i, n - i);

			if (k) {
				put(j, str + i, k);
				i += k;
			} else {
				put(j, "\xEF\xBF\xBD", 3); /* U+FFFD */
				i++;
			}
		}
	}
	putc1(j, '"');
}

void json_key_len(struct json *j, const char *key, size_t n)
{
	separate(j);
	put_escaped(j, key, n);
	if (j->pretty)
		put(j, ": ", 2);
	else
		putc1(j, ':');
	j->after_key = true;
}

void json_key_raw(struct json *j, const char *quoted, size_t n)
{
	separate(j);
	put(j, quoted, n);
	if (j->pretty)
		put(j, ": ", 2);
	else
		putc1(j, ':');
	j->after_key = true;
}

void json_key(struct json *j, const char *key)
{
	json_key_len(j, key, strlen(key));
}

void json_string_len(struct json *j, const char *s, size_t n)
{
	separate(j);
	put_escaped(j, s, n);
}

void json_string(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	json_string_len(j, s, strlen(s));
}

static const char digit_pairs[] =
	"00010203040506070809101112131415161718192021222324"
	"25262728293031323334353637383940414243444546474849"
	"50515253545556575859606162636465666768697071727374"
	"75767778798081828384858687888990919293949596979899";

/* Exactly 8 digits of v < 10^8, with 32-bit arithmetic. */
static inline void put8(char *p, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;

	memcpy(p, digit_pairs + 2 * (hi / 100), 2);
	memcpy(p + 2, digit_pairs + 2 * (hi % 100), 2);
	memcpy(p + 4, digit_pairs + 2 * (lo / 100), 2);
	memcpy(p + 6, digit_pairs + 2 * (lo % 100), 2);
}

/* Digits of v < 10^8 without leading zeros; returns the count. */
static inline size_t put_small(char *p, uint32_t v)
{
	char tmp[8];
	size_t n = 8;

	while (v >= 100) {
		n -= 2;
		memcpy(tmp + n, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		n -= 2;
		memcpy(tmp + n, digit_pairs + 2 * v, 2);
	} else {
		tmp[--n] = (char)('0' + v);
	}
	memcpy(p, tmp + n, 8 - n);
	return 8 - n;
}

size_t json_format_uint(uint64_t v, char *buf)
{
	size_t n;

	/* Blocks of 8 digits keep the work in 32-bit arithmetic. */
	if (v < 100000000u) {
		n = put_small(buf, (uint32_t)v);
	} else if (v < 10000000000000000ull) {
		n = put_small(buf, (uint32_t)(v / 100000000u));
		put8(buf + n, (uint32_t)(v % 100000000u));
		n += 8;
	} else {
		uint64_t top = v / 10000000000000000ull;
		uint64_t rest = v % 10000000000000000ull;

		n = put_small(buf, (uint32_t)top);
		put8(buf + n, (uint32_t)(rest / 100000000u));
		put8(buf + n + 8, (uint32_t)(rest % 100000000u));
		n += 16;
	}
	buf[n] = '\0';
	return n;
}

size_t json_format_int(int64_t v, char *buf)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + json_format_uint(-(uint64_t)v, buf + 1);
	}
	return json_format_uint((uint64_t)v, buf);
}

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
				   1e7, 1e8, 1e9};

/*
 * Exact fast path: v == r / 10^k for an integer r below 10^15 and the
 * smallest such k. Then %.15g prints the same digits (v is within half an
 * ulp of r/10^k, far below half a unit of the 15th digit), and we can write
 * them without stdio. Only for 1e-4 <= |v| < 1e15, where %g uses fixed
 * notation. Returns the length, or 0 when the fast path does not apply.
 */
static size_t format_short_decimal(double v, char *buf)
{
	double a = fabs(v);

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (unsigned k = 0; k < sizeof(pow10_tab) / sizeof(pow10_tab[0]);
	     k++) {
		double m = a * pow10_tab[k];
		double r;

		if (m >= 1e15)
			return 0;
		r = nearbyint(m);
		if (r / pow10_tab[k] != a)
			continue;

		char digits[24];
		size_t nd = json_format_uint((uint64_t)r, digits);
		size_t o = 0;

		if (v < 0)
			buf[o++] = '-';
		if (nd <= k) {
			buf[o++] = '0';
			buf[o++] = '.';
			for (size_t z = nd; z < k; z++)
				buf[o++] = '0';
			memcpy(buf + o, digits, nd);
			o += nd;
		} else {
			memcpy(buf + o, digits, nd - k);
			o += nd - k;
			if (k) {
				buf[o++] = '.';
				memcpy(buf + o, digits + nd - k, k);
				o += k;
			}
		}
		buf[o] = '\0';
		return o;
	}
	return 0;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

#define P10(n) ((u128)(n))
static const u128 pow10_tab128[23] = {
	P10(1ull), P10(10ull), P10(100ull), P10(1000ull), P10(10000ull),
	P10(100000ull), P10(1000000ull), P10(10000000ull),
	P10(100000000ull), P10(1000000000ull), P10(10000000000ull),
	P10(100000000000ull), P10(1000000000000ull), P10(10000000000000ull),
	P10(100000000000000ull), P10(1000000000000000ull),
	P10(10000000000000000ull), P10(100000000000000000ull),
	P10(1000000000000000000ull), P10(10000000000000000000ull),
	P10(10000000000000000000ull) * 10, P10(10000000000000000000ull) * 100,
	P10(10000000000000000000ull) * 1000,
};

static inline u128 pow10_u128(unsigned k)
{
	return pow10_tab128[k];
}

/*
 * %.Pg for 1e-4 <= |v| < 1e15 in exact integer arithmetic, and the
 * round-trip test without strtod. With |v| = m * 2^-s (m the 53-bit
 * significand) and k = P - 1 - E decimal places, the digits are
 * round-half-even(m * 10^k / 2^s), as glibc prints them; m < 2^53,
 * 10^k <= 10^20 and s <= 67 keep every product below 2^126. The decimal
 * D / 10^k reads back as v when it lies inside v's rounding interval (ties
 * to the even significand), which is what a correctly rounding strtod does.
 * Returns the length, or 0 when this range or notation does not apply.
 */
static size_t format_precise(double v, char *buf)
{
	double a = fabs(v);
	uint64_t bits, m;
	int exp2, s, e10;

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	/* a = m * 2^(exp2 - 53) with m the significand, hidden bit set (a is
	 * normal in this range). */
	memcpy(&bits, &a, sizeof(bits));
	m = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
	exp2 = (int)(bits >> 52) - 1022;
	s = 53 - exp2; /* a = m / 2^s */
	if (s < 0 || s > 70)
		return 0;
	/* log10(a) lies in [(exp2 - 1) log10(2), exp2 log10(2)): this is the
	 * decimal exponent or one below it; the loop below settles it. */
	e10 = (int)floor((exp2 - 1) * 0.30102999566398120);
	for (int prec = 15; prec <= 17; prec++) {
		int e = e10, k;
		u128 num, t, rem, half, d, lo, hi;

		/* Fix E so that the truncated digits number exactly prec. */
		for (int tries = 0;; tries++) {
			k = prec - 1 - e;
			if (k < 0 || k > 22 || tries > 3)
				return 0;
			num = (u128)m * pow10_u128((unsigned)k);
			t = num >> s;
			if (t < pow10_u128((unsigned)prec - 1))
				e--;
			else if (t >= pow10_u128((unsigned)prec))
				e++;
			else
				break;
		}
		rem = num - (t << s);
		half = s ? (u128)1 << (s - 1) : 0;
		d = t;
		if (s && (rem > half || (rem == half && (t & 1))))
			d++;
		if (d == pow10_u128((unsigned)prec)) {
			d /= 10; /* 9.99..5 rounded up to 10.0.. */
			e++;
			k--;
		}
		if (e >= prec || e < -4)
			return 0; /* %g would switch to exponent notation */

		/* Round trip: compare D * 2^(s+2) with (4m +- 2 or 1) * 10^k. */
		bool ok;
		u128 pk = pow10_u128((unsigned)k);
		u128 x = d << (s + 2);
		u128 vv = (u128)m * 4 * pk;
		if (x >= vv) {
			hi = vv + 2 * pk;
			ok = x < hi || (x == hi && !(m & 1));
		} else {
			/* The gap below is half as wide at a power of two. */
			lo = vv - (m == ((uint64_t)1 << 52) ? pk : 2 * pk);
			ok = x > lo || (x == lo && !(m & 1));
		}
		if (!ok && prec < 17)
			continue;

		char digits[24];
		size_t nd = json_format_uint((uint64_t)d, digits), o = 0;

		while (nd > 1 && digits[nd - 1] == '0')
			nd--; /* %g drops trailing zeros */
		if (v < 0)
			buf[o++] = '-';
		if (e >= 0) {
			size_t ip = (size_t)e + 1;

			for (size_t i = 0; i < ip; i++)
				buf[o++] = i < nd ? digits[i] : '0';
			if (nd > ip) {
				buf[o++] = '.';
				memcpy(buf + o, digits + ip, nd - ip);
				o += nd - ip;
			}
		} else {
			buf[o++] = '0';
			buf[o++] = '.';
			for (int z = -1; z > e; z--)
				buf[o++] = '0';
			memcpy(buf + o, digits, nd);
			o += nd;
		}
		buf[o] = '\0';
		return o;
	}
	return 0;
}
#else
static size_t format_precise(double v, char *buf)
{
	(void)v;
	(void)buf;
	return 0;
}
#endif

size_t json_format_double(double v, char *buf)
{
	size_t n;

	if (!isfinite(v)) {
		memcpy(buf, "null", 5);
		return 4;
	}
	if (v == 0.0) {
		if (signbit(v)) {
			memcpy(buf, "-0", 3);
			return 2;
		}
		memcpy(buf, "0", 2);
		return 1;
	}
	/* Integers below 1e15: %.15g prints all their digits. */
	if (fabs(v) < 1e15 && v == (double)(int64_t)v)
		return json_format_int((int64_t)v, buf);
	n = format_precise(v, buf);
	if (!n)
		n = format_short_decimal(v, buf);
	if (n)
		return n;
	for (int prec = 15; prec <= 17; prec++) {
		int k = snprintf(buf, JSON_DOUBLE_MAX, "%.*g", prec, v);

		if (k > 0 && (prec == 17 || strtod(buf, NULL) == v))
			return (size_t)k;
	}
	return 0; /* not reached: %.17g always round-trips */
}

void json_double(struct json *j, double v)
{
	char b[JSON_DOUBLE_MAX];
	size_t n = json_format_double(v, b);

	separate(j);
	put(j, b, n);
}

void json_int(struct json *j, int64_t v)
{
	char b[24];
	size_t n = json_format_int(v, b);

	separate(j);
	put(j, b, n);
}

void json_uint(struct json *j, uint64_t v)
{
	char b[24];
	size_t n = json_format_uint(v, b);

	separate(j);
	put(j, b, n);
}

void json_bool(struct json *j, bool v)
{
	separate(j);
	if (v)
		put(j, "true", 4);
	else
		put(j, "false", 5);
}

void json_null(struct json *j)
{
	separate(j);
	put(j, "null", 4);
}

void json_raw(struct json *j, const char *text, size_t n)
{
	separate(j);
	put(j, text, n);
}

void json_newline(struct json *j)
{
	putc1(j, '\n');
	j->after_key = false;
	j->depth = 0;
	j->has_items = 0;
}

size_t json_escape(const char *s, size_t n, char *out, size_t size)
{
	struct json j;

	/* Only the buffer-mode fields are used; the stage stays untouched. */
	j.fp = NULL;
	j.buf = out;
	j.size = size;
	j.len = 0;
	j.failed = false;
	j.pretty = false;
	if (size)
		out[0] = '\0';
	put_escaped(&j, s, n);
	return j.len;
}
