/*
 * test_logread.c: the log reader over candump, Vector ASC and Vector BLF
 * input, table-driven. Each case's records are written out one per line,
 * frames as candump lines (frame_format) and bad records as
 * "!WHERE: message", so that a table holds input and expected output as
 * text. BLF input is built here, with zlib, in the layout python-can writes
 * (tests/cli/test_imports.sh reads files python-can itself wrote).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <cmocka.h>

#include "daemon/core/logread.h"

/* All records of buf as text; the caller frees it. */
static char *read_all(const char *name, const void *buf, size_t len,
		      enum logread_format *fmt)
{
	struct logread *r = logread_open_mem(name, buf, len);
	struct logread_rec rec;
	char *out = NULL, line[FRAME_LINE_MAX], err[160], where[200];
	size_t n = 0;
	FILE *fp = open_memstream(&out, &n);
	int rc;

	assert_non_null(r);
	assert_non_null(fp);
	if (fmt)
		*fmt = logread_format(r);
	while ((rc = logread_next(r, &rec, err, sizeof(err))) != LOGREAD_END) {
		if (rc == LOGREAD_FRAME) {
			frame_format(&rec.f, rec.ifname, rec.digits == 9, line,
				     sizeof(line));
			fputs(line, fp);
		} else if (rc == LOGREAD_OTHER) {
			size_t n_text;
			const char *text = logread_line(r, &n_text);

			fprintf(fp, "?%s: %.*s\n",
				logread_where(r, where, sizeof(where)),
				(int)n_text, text);
		} else {
			fprintf(fp, "!%s: %s%s\n",
				logread_where(r, where, sizeof(where)), err,
				rc == LOGREAD_FATAL ? " (fatal)" : "");
		}
	}
	logread_free(r);
	fclose(fp);
	return out;
}

static void expect_records(const char *name, const void *buf, size_t len,
			   const char *want)
{
	char *got = read_all(name, buf, len, NULL);

	if (strcmp(got, want) != 0) {
		print_error("%s: got\n%s\nwant\n%s\n", name, got, want);
		free(got);
		fail();
	}
	free(got);
}

/* ------------------------------------------------------------ detection */

static void test_detect(void **state)
{
	static const struct {
		const char *text;
		enum logread_format fmt;
	} cases[] = {
		{"(1.000000) can0 123#00\n", LOGREAD_CANDUMP},
		{"\n\n  (1.000000) can0 123#00\n", LOGREAD_CANDUMP},
		{"", LOGREAD_CANDUMP},
		{"garbage\n", LOGREAD_CANDUMP},
		{"date Mon Nov 13 10:13:20.000 pm 2023\n", LOGREAD_ASC},
		{"base hex  timestamps absolute\n", LOGREAD_ASC},
		{"// version 9.0.0\n", LOGREAD_ASC},
		{"   0.001000 1  123  Rx d 1 00\n", LOGREAD_ASC},
		{"Begin Triggerblock\n", LOGREAD_ASC},
	};
	enum logread_format fmt;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		free(read_all("t", cases[i].text, strlen(cases[i].text), &fmt));
		assert_int_equal(fmt, cases[i].fmt);
	}
	free(read_all("t", "LOGG", 4, &fmt));
	assert_int_equal(fmt, LOGREAD_BLF);
}

/* ------------------------------------------------------------------ ASC */

struct text_case {
	const char *in, *want;
};

#define ASC_HEAD "date Mon Nov 13 10:13:20.500 pm 2023\n" \
		 "base hex  timestamps absolute\n" \
		 "internal events logged\n"
/* 2023-11-13 22:13:20.5 UTC */
#define T0 "1699913600"

static const struct text_case asc_cases[] = {
	/* The frames log2asc and python-can write, and Vector's extras. */
	{ASC_HEAD
	 "Begin Triggerblock\n"
	 "   0.000000 Start of measurement\n"
	 "   0.000100 1  123             Rx   d 8 01 02 03 04 05 06 07 08  "
	 "Length = 0 BitCount = 0 ID = 291\n"
	 "   0.000200 2  18FEF100x       Tx   d 2 AA bb\n"
	 "   0.000300 1  7FF             Rx   r\n"
	 "   0.000400 1  7FF             Rx   r 4\n"
	 "   0.000500 1  ErrorFrame\n"
	 "   0.000600 1  100             Rx   d F 01 02 03 04 05 06 07 08\n"
	 "   0.000700 1  100             TxRq d 0\n"
	 "   0.000800 1  Statistic: D 0 R 0 XD 0 XR 0 E 0 O 0 B 0.00%\n"
	 "   0.000900 CAN 1 Status:chip status error active\n"
	 "End TriggerBlock\n",
	 "(" T0 ".500100) 1 123#0102030405060708 R\n"
	 "(" T0 ".500200) 2 18FEF100#AABB T\n"
	 "(" T0 ".500300) 1 7FF#R R\n"
	 "(" T0 ".500400) 1 7FF#R4 R\n"
	 "(" T0 ".500500) 1 20000000#0000000000000000\n"
	 "(" T0 ".500600) 1 100#0102030405060708_F R\n"},
	/* CAN FD: with and without a symbol, flags saying FD or classic. */
	{ASC_HEAD
	 "   1.000000 CANFD   1 Rx        1A0                                  "
	 "1 0 9 12 00 01 02 03 04 05 06 07 08 09 0A 0B   130000  130     3000 "
	 "0 0 0 0 0\n"
	 "   1.000001 CANFD   2 Tx 1A1x  EngineData 0 1 2 2 AB CD 0 0 5000 0\n"
	 "   1.000002 CANFD   1 Rx 1A2 0 0 2 2 01 02 0 0 0 0\n"
	 "   1.000003 CANFD   1 Rx 1A3 0 0 8 8 0 0 0 0 0 0 0 0 0 0 10 0\n"
	 "   1.000004 CANFD   1 Rx ErrorFrame\n",
	 "(1699913601.500000) 1 1A0##1000102030405060708090A0B R\n"
	 "(1699913601.500001) 2 000001A1##2ABCD T\n"
	 "(1699913601.500002) 1 1A2#0102 R\n"
	 "(1699913601.500003) 1 1A3#R8 R\n"
	 "(1699913601.500004) 1 20000000#0000000000000000 R\n"},
	/* Decimal base, relative times, 12 am, German months, 24-hour and
	 * nanosecond times. */
	{"date Mi Okt 04 12:00:01.25 am 2023\n"
	 "base dec timestamps relative\n"
	 "0.5 1 291 Rx d 2 1 255\n"
	 "0.25 1 291x Rx d 1 16\n",
	 "(1696377601.750000) 1 123#01FF R\n"
	 "(1696377602.000000) 1 00000123#10 R\n"},
	{"date Tue Dez 31 23:59:59 2024\n"
	 "  0.000000001 3 1 Rx d 0\n",
	 "(1735689599.000000001) 3 001# R\n"},
	/* A trigger block's date is the start (python-can puts a broken year
	 * in "date", and the first frame's time in the trigger block). */
	{"date Sun Dec 06 08:36:58.481 PM 2\n"
	 "base hex  timestamps absolute\n"
	 "Begin Triggerblock Sat Nov 29 07:06:40.0 AM 2025\n"
	 " 0.000733 1  C4              Rx   d 1 3B\n",
	 "(1764400000.000733) 1 0C4#3B R\n"},
	/* Without one, the broken date is said once, at the first frame,
	 * which still comes. */
	{"date Sun Dec 06 08:36:58.481 PM 2\n"
	 " 0.5 1  C4              Rx   d 1 3B\n"
	 " 0.6 1  C4              Rx   d 1 3C\n",
	 "!t:2: the date on line 1 is not understood: times count from 1970\n"
	 "(0000000000.500000) 1 0C4#3B R\n"
	 "(0000000000.600000) 1 0C4#3C R\n"},
	/* Lines that claim to be frames and are not. */
	{"base hex timestamps absolute\n"
	 "0.1 1 800 Rx d 1 00\n"
	 "0.1 1 123 Rx d 4 00 01\n"
	 "0.1 1 123 Rx d 1 100\n"
	 "0.1 1 123 Rx q 1 00\n"
	 "0.1 1 123 Rx d G\n"
	 "0.1 CANFD 1 Rx 123 1 0 9 11 00\n"
	 "0.1 CANFD 1 Rx 123 1 0 2 2 00\n"
	 "0.1 CANFD 1 Rx 123 1\n"
	 "0.1 CANFD 1 Up 123 1 0 0 0\n"
	 "0.1 CANFD x\n"
	 "base oct\n",
	 "!t:2: column 7: bad CAN ID\n"
	 "!t:3: column 16: 4 data bytes, 2 given\n"
	 "!t:4: column 18: bad data byte\n"
	 "!t:5: column 14: expected d or r\n"
	 "!t:6: column 16: bad DLC\n"
	 "!t:7: column 26: data length does not match the DLC\n"
	 "!t:8: column 26: 2 data bytes, 1 given\n"
	 "!t:9: column 20: CANFD line cut short\n"
	 "!t:10: column 13: expected Rx or Tx\n"
	 "!t:11: column 11: bad channel\n"
	 "!t:12: column 1: expected base hex or base dec\n"},
};

static void test_asc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(asc_cases) / sizeof(asc_cases[0]); i++)
		expect_records("t", asc_cases[i].in, strlen(asc_cases[i].in),
			       asc_cases[i].want);
}

/* ------------------------------------------------------------------ BLF */

struct bytes {
	uint8_t *p;
	size_t n;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->n + n);
	assert_non_null(b->p);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* n little-endian bytes of v (zeros beyond 8). */
static void put_le(struct bytes *b, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;

		put(b, &x, 1);
	}
}

/* An object with a version 1 header, padded as python-can pads it. */
static void obj(struct bytes *b, uint32_t type, uint32_t flags, uint64_t t,
		const struct bytes *body)
{
	put(b, "LOBJ", 4);
	put_le(b, 32, 2);
	put_le(b, 1, 2);
	put_le(b, 32 + body->n, 4);
	put_le(b, type, 4);
	put_le(b, flags, 4);
	put_le(b, 0, 4);
	put_le(b, t, 8);
	put(b, body->p, body->n);
	put_le(b, 0, body->n % 4);
}

static void can_msg(struct bytes *b, uint32_t type, unsigned ch,
		    unsigned flags, unsigned dlc, uint32_t id, uint64_t t_ns)
{
	struct bytes body = {0};

	put_le(&body, ch, 2);
	put_le(&body, flags, 1);
	put_le(&body, dlc, 1);
	put_le(&body, id, 4);
	put(&body, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	obj(b, type, 2, t_ns, &body);
	free(body.p);
}

static void fd_msg(struct bytes *b, unsigned ch, unsigned fdflags,
		   unsigned dlc, unsigned valid, uint32_t id, uint64_t t_ns)
{
	struct bytes body = {0};
	uint8_t data[64];

	for (int i = 0; i < 64; i++)
		data[i] = (uint8_t)i;
	put_le(&body, ch, 2);
	put_le(&body, 0, 1);
	put_le(&body, dlc, 1);
	put_le(&body, id, 4);
	put_le(&body, 0, 4);
	put_le(&body, 0, 1);
	put_le(&body, fdflags, 1);
	put_le(&body, valid, 1);
	put_le(&body, 0, 5);
	put(&body, data, 64);
	obj(b, 100, 2, t_ns, &body);
	free(body.p);
}

static void fd64_msg(struct bytes *b, unsigned ch, uint32_t flags,
		     unsigned dlc, unsigned valid, uint32_t id, unsigned dir,
		     uint64_t t_10us)
{
	struct bytes body = {0};
	uint8_t data[64];

	for (int i = 0; i < 64; i++)
		data[i] = (uint8_t)(0xA0 + i);
	put_le(&body, ch, 1);
	put_le(&body, dlc, 1);
	put_le(&body, valid, 1);
	put_le(&body, 0, 1);
	put_le(&body, id, 4);
	put_le(&body, 0, 4);
	put_le(&body, flags, 4);
	put_le(&body, 0, 16);
	put_le(&body, 0, 2);
	put_le(&body, dir, 1);
	put_le(&body, 0, 1);
	put_le(&body, 0, 4);
	put(&body, data, valid);
	obj(b, 101, 1, t_10us, &body);
	free(body.p);
}

/* A file: header (start time 2025-11-29 07:06:40.123 local), then the
 * object stream cut into containers at the given sizes (0: the rest). */
static struct bytes blf_file(const struct bytes *stream, const size_t *cuts,
			     int method)
{
	struct bytes f = {0};
	size_t at = 0;

	put(&f, "LOGG", 4);
	put_le(&f, 144, 4);
	put_le(&f, 0, 32);
	put_le(&f, 2025, 2);
	put_le(&f, 11, 2);
	put_le(&f, 6, 2);
	put_le(&f, 29, 2);
	put_le(&f, 7, 2);
	put_le(&f, 6, 2);
	put_le(&f, 40, 2);
	put_le(&f, 123, 2);
	put_le(&f, 0, 144 - 56);
	for (size_t i = 0; at < stream->n; i++) {
		size_t n = cuts && cuts[i] ? cuts[i] : stream->n - at;
		uLongf zn = compressBound((uLong)n);
		uint8_t *z = malloc(zn);
		const uint8_t *data = stream->p + at;

		assert_non_null(z);
		if (method == 2) {
			assert_int_equal(compress(z, &zn, data, (uLong)n), Z_OK);
			data = z;
		} else {
			zn = n;
		}
		put(&f, "LOBJ", 4);
		put_le(&f, 16, 2);
		put_le(&f, 1, 2);
		put_le(&f, 32 + zn, 4);
		put_le(&f, 10, 4);
		put_le(&f, (uint64_t)method, 2);
		put_le(&f, 0, 6);
		put_le(&f, n, 4);
		put_le(&f, 0, 4);
		put(&f, data, zn);
		put_le(&f, 0, (32 + zn) % 4);
		free(z);
		at += n;
	}
	return f;
}

#define B0 "1764400000.123"

static void test_blf(void **state)
{
	struct bytes s = {0}, f;
	static const size_t cuts[] = {50, 3, 100, 0};

	(void)state;
	can_msg(&s, 1, 1, 0, 8, 0x123, 0);
	can_msg(&s, 86, 2, 1, 2, 0x80000000u | 0x18FEF100, 1500);
	can_msg(&s, 1, 1, 0x80, 4, 0x7FF, 2000);
	can_msg(&s, 1, 1, 0, 15, 0x100, 3000);
	fd_msg(&s, 1, 3, 9, 12, 0x1A0, 4000);
	fd_msg(&s, 1, 0, 2, 2, 0x1A1, 5000);
	fd64_msg(&s, 3, 0x5000, 10, 16, 0x1A2, 1, 1);
	fd64_msg(&s, 3, 0x0010, 3, 0, 0x1A3, 0, 2);
	fd64_msg(&s, 3, 0x1000, 1, 1, 0x1A4, 2, 3); /* transmit request */
	can_msg(&s, 73, 4, 0, 0, 0, 6000);
	can_msg(&s, 65, 1, 0, 0, 0, 0);             /* app text: no frame */
	can_msg(&s, 1, 1, 0, 1, 0x800, 7000);       /* 11-bit above 0x7FF */
	fd_msg(&s, 1, 1, 9, 11, 0x1A5, 8000);       /* DLC 9 is 12 bytes */
	static const char want[] =
		"(" B0 "000) 1 123#0102030405060708 R\n"
		"(" B0 "002) 2 18FEF100#0102 T\n"
		"(" B0 "002) 1 7FF#R4 R\n"
		"(" B0 "003) 1 100#0102030405060708_F R\n"
		"(" B0 "004) 1 1A0##1000102030405060708090A0B R\n"
		"(" B0 "005) 1 1A1#0001 R\n"
		"(" B0 "010) 3 1A2##2A0A1A2A3A4A5A6A7A8A9AAABACADAEAF T\n"
		"(" B0 "020) 3 1A3#R3 R\n"
		"(" B0 "006) 4 20000000#0000000000000000\n"
		"!t: object 12: 11-bit CAN ID 0x800 above 0x7FF\n"
		"!t: object 13: CAN FD frame with DLC 9 and 11 data bytes\n";

	setenv("TZ", "UTC", 1);
	tzset();
	/* One container, containers that cut objects (even their headers),
	 * stored containers. */
	f = blf_file(&s, NULL, 2);
	expect_records("t", f.p, f.n, want);
	free(f.p);
	f = blf_file(&s, cuts, 2);
	expect_records("t", f.p, f.n, want);
	free(f.p);
	f = blf_file(&s, cuts, 0);
	expect_records("t", f.p, f.n, want);
	free(f.p);
	free(s.p);
}

static void test_blf_damage(void **state)
{
	struct bytes s = {0}, f;
	char *got;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	can_msg(&s, 1, 1, 0, 1, 0x123, 0);
	can_msg(&s, 1, 1, 0, 1, 0x124, 1000);

	/* Damage between objects: skipped, said, and the next one found. */
	f = blf_file(&s, NULL, 2);
	{
		struct bytes t = {0};

		can_msg(&t, 1, 1, 0, 1, 0x123, 0);
		put(&t, "garbage-garbage!", 16);
		can_msg(&t, 1, 1, 0, 1, 0x124, 1000);
		free(f.p);
		f = blf_file(&t, NULL, 0);
		free(t.p);
	}
	expect_records("t", f.p, f.n,
		       "(" B0 "000) 1 123#01 R\n"
		       "!t: object 2: 16 bytes that are no object skipped\n"
		       "(" B0 "001) 1 124#01 R\n");

	/* Cut short in the middle of the last object. */
	free(f.p);
	f = blf_file(&s, NULL, 0);
	expect_records("t", f.p, f.n - 10,
		       "!t: byte 144: file ends inside a container\n"
		       "(" B0 "000) 1 123#01 R\n"
		       "!t: object 2: file ends inside an object\n");

	/* A container that does not inflate. */
	free(f.p);
	f = blf_file(&s, NULL, 2);
	f.p[144 + 32 + 5] ^= 0xFF;
	got = read_all("t", f.p, f.n, NULL);
	assert_non_null(strstr(got, "!t: byte 144: container does not "
				    "inflate to its 96 bytes"));
	free(got);

	/* A file header cut short, a bad container, junk after the header. */
	expect_records("t", f.p, 60,
		       "!t: BLF file header cut short (fatal)\n");
	f.p[144 + 16] = 7;
	expect_records("t", f.p, f.n,
		       "!t: byte 144: container compressed with "
		       "unknown method 7 (fatal)\n");
	memcpy(f.p + 144, "XXXX", 4);
	expect_records("t", f.p, f.n,
		       "!t: byte 144: no object signature (LOBJ) "
		       "(fatal)\n");
	free(f.p);
	free(s.p);
}

/* ------------------------------------------------------------- candump */

static void test_candump(void **state)
{
	static const char in[] = "(1.000000) can0 123#00\n"
				 "not a frame\n"
				 "(1.000000123) can0 123#zz\n"
				 "(2.000000123) can1 7FF#01";

	(void)state;
	expect_records("t", in, sizeof(in) - 1,
		       "(0000000001.000000) can0 123#00\n"
		       "?t:2: not a frame\n"
		       "!t:3: column 24: unexpected 'z' in frame data\n"
		       "(0000000002.000000123) can1 7FF#01\n");
}

/* A line longer than the buffer is one bad record; the reader goes on. */
static void test_long_line(void **state)
{
	size_t n = LOGREAD_LINE_MAX * 2 + 100;
	char *buf = malloc(n + 64);
	size_t at = 0;

	(void)state;
	assert_non_null(buf);
	at += (size_t)sprintf(buf, "(1.000000) can0 123#00\n");
	memset(buf + at, 'x', n);
	at += n;
	at += (size_t)sprintf(buf + at, "\n(2.000000) can0 123#01\n");
	expect_records("t", buf, at,
		       "(0000000001.000000) can0 123#00\n"
		       "!t:2: line longer than 1048576 bytes\n"
		       "(0000000002.000000) can0 123#01\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_asc),
		cmocka_unit_test(test_blf),
		cmocka_unit_test(test_blf_damage),
		cmocka_unit_test(test_candump),
		cmocka_unit_test(test_long_line),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests_name("logread", tests, NULL, NULL);
}
