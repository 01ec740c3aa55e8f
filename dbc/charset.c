/*
 * charset.c: DBC strings to UTF-8.
 *
 * DBC files carry no encoding declaration. CANdb++ writes the Windows code
 * page of the machine, so comments and value names arrive as UTF-8, CP1252
 * (Europe, America) or GBK (Chinese brands). The choice is made per string:
 * valid UTF-8 is almost never accidental, GBK's byte pairs are a narrow
 * pattern, and CP1252 accepts nearly anything, so they are tried in that
 * order. glibc's iconv does GBK; CP1252 is a 32-entry table.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "dbc/dbc_impl.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

bool dbc_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += need + 1;
	}
	return true;
}

/*
 * GBK: lead 0x81-0xFE, trail 0x40-0xFE except 0x7F. That alone also matches
 * CP1252 text where an accented letter precedes an ASCII one ("\xB0C" is
 * "°C"), so at least one pair must also lie in the GB2312 block (both bytes
 * 0xA1 and up), where every Chinese text has most of its characters.
 */
bool dbc_gbk_plausible(const unsigned char *s, size_t n)
{
	bool gb2312 = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i], t;

		if (c == 0)
			return false;
		if (c < 0x80)
			continue;
		if (c == 0x80 || c == 0xFF || i + 1 >= n)
			return false;
		t = s[++i];
		if (t < 0x40 || t == 0x7F || t == 0xFF)
			return false;
		gb2312 |= c >= 0xA1 && t >= 0xA1;
	}
	return gb2312;
}

/* CP1252 0x80..0x9F; 0 where the code page has a hole. 0xA0.. is Latin-1. */
static const uint16_t cp1252_high[32] = {
	0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
	0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

static char *put_cp(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xE0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

static void from_cp1252(char *o, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		uint32_t cp = c;

		if (c == 0)
			cp = 0xFFFD;
		else if (c >= 0x80 && c <= 0x9F)
			cp = cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : 0xFFFD;
		o = put_cp(o, cp);
	}
	*o = '\0';
}

/* GBK through iconv into o (room for 3 bytes per input byte + 1).
 * Unassigned pairs become U+FFFD. Returns -1 when iconv has no GBK. */
static int from_gbk(char *o, const unsigned char *s, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", "GBK");
	char *in = (char *)(uintptr_t)s, *out = o;
	size_t inleft = n, outleft = 3 * n;

	if (cd == (iconv_t)-1)
		return -1;
	while (inleft > 0) {
		if (iconv(cd, &in, &inleft, &out, &outleft) != (size_t)-1)
			break;
		if (errno == E2BIG || outleft < 3)
			break; /* cannot happen with 3n bytes; stop safely */
		/* EILSEQ/EINVAL: replace one character (a pair, as the
		 * plausibility check guarantees high bytes come in pairs). */
		memcpy(out, REPLACEMENT, 3);
		out += 3;
		outleft -= 3;
		if ((unsigned char)*in >= 0x80 && inleft >= 2) {
			in += 2;
			inleft -= 2;
		} else {
			in++;
			inleft--;
		}
	}
	iconv_close(cd);
	*out = '\0';
	return 0;
}

char *dbc_to_utf8(struct arena *a, const char *s, size_t n, int *how)
{
	const unsigned char *u = (const unsigned char *)s;
	char *o;

	if (how)
		*how = 0;
	if (dbc_utf8_valid(u, n))
		return arena_strndup(a, s, n);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	o = arena_alloc(a, 3 * n + 1);
	if (!o)
		return NULL;
	if (dbc_gbk_plausible(u, n) && from_gbk(o, u, n) == 0) {
		if (how)
			*how = 1;
		return o;
	}
	from_cp1252(o, u, n);
	if (how)
		*how = 2;
	return o;
}
