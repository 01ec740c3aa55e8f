/*
 * test_dbc_codec.c: the signal codec on hand-built signals (and, further
 * down, on small DBC texts through the parser).
 *
 * Expected values in the tables are worked out by hand from the DBC bit
 * numbering; a bit-by-bit reference walk (Intel: LSB upwards; Motorola: MSB
 * first, sawtooth: bit 7..0 of a byte, then bit 7 of the next byte) is the
 * independent oracle for the random layouts.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbc/dbc.h"

#define LE DBC_LITTLE_ENDIAN
#define BE DBC_BIG_ENDIAN

static struct dbc_signal mksig(unsigned start, unsigned len,
			       enum dbc_byte_order bo, bool is_signed)
{
	struct dbc_signal s;

	memset(&s, 0, sizeof(s));
	s.name = (char *)"s";
	s.start_bit = (uint16_t)start;
	s.length = (uint8_t)len;
	s.byte_order = bo;
	s.is_signed = is_signed;
	s.factor = 1.0;
	s.mux_parent = -1;
	return s;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Bit-by-bit reference extraction, straight from the DBC definition. */
static uint64_t ref_raw(const struct dbc_signal *s, const uint8_t *d)
{
	uint64_t v = 0;

	if (s->byte_order == LE) {
		for (int i = s->length - 1; i >= 0; i--) {
			unsigned b = s->start_bit + (unsigned)i;
			v = v << 1 | ((d[b / 8] >> (b % 8)) & 1);
		}
	} else {
		unsigned b = s->start_bit;
		for (unsigned i = 0; i < s->length; i++) {
			v = v << 1 | ((d[b / 8] >> (b % 8)) & 1);
			b = b % 8 == 0 ? b + 15 : b - 1;
		}
	}
	/* Floats keep their IEEE bit pattern even when marked signed. */
	if (s->is_signed && s->value_type == DBC_VALUE_INTEGER &&
	    s->length < 64 && (v >> (s->length - 1)) & 1)
		v |= ~(((uint64_t)1 << s->length) - 1);
	return v;
}

struct layout_case {
	unsigned start, len;
	enum dbc_byte_order bo;
	bool is_signed;
	const char *hex; /* payload */
	uint64_t raw;    /* expected, worked out by hand */
	unsigned lsb_bit, first, last;
};

static const struct layout_case layouts[] = {
	/* Intel 16 bits from byte 1: bytes 34 12 little-endian. */
	{8, 16, LE, false, "003412", 0x1234, 8, 1, 2},
	/* Intel 12 bits from bit 4: 0xCDAB >> 4. */
	{4, 12, LE, false, "ABCD", 0xCDA, 4, 0, 1},
	/* Intel 3 bits at 6..8 crossing a byte: bit6=1, bit7=0, bit8=1. */
	{6, 3, LE, false, "4101", 0x5, 6, 0, 1},
	/* Motorola 16 bits, MSB byte 0 bit 7: big-endian 0x1234. */
	{7, 16, BE, false, "1234", 0x1234, 8, 0, 1},
	/* Motorola 12 bits from byte 0 bit 3: low nibble of 0xAB, then 0xCD. */
	{3, 12, BE, false, "ABCD", 0xBCD, 8, 0, 1},
	/* Motorola 12 bits from bit 0 (cantools' motohawk Temperature):
	 * byte0 bit0, byte1, byte2 bits 7..5. 0 00000110 111 = 0x037. */
	{0, 12, BE, false, "C006E0", 0x037, 21, 0, 2},
	/* Same signed: MSB (byte0 bit0) set -> 1 00000110 111 = 0x837. */
	{0, 12, BE, true, "C106E0", 0xFFFFFFFFFFFFF837ull, 21, 0, 2},
	/* 64-bit Intel aligned and at bit 4 (nine bytes). */
	{0, 64, LE, false, "0123456789ABCDEF", 0xEFCDAB8967452301ull, 0, 0, 7},
	/* LE 0xF0DEBC9A78563412F0 >> 4, low 64 bits. */
	{4, 64, LE, false, "F0123456789ABCDEF0", 0x0DEBC9A78563412Full, 4, 0, 8},
	/* 64-bit Motorola aligned and from byte 0 bit 3 (nine bytes). */
	{7, 64, BE, false, "0123456789ABCDEF", 0x0123456789ABCDEFull, 56, 0, 7},
	{3, 64, BE, false, "F0123456789ABCDEF0", 0x0123456789ABCDEFull, 68, 0,
	 8},
	/* 1-bit Motorola: bit 0 and bit 7 of byte 2. */
	{16, 1, BE, false, "000001", 1, 16, 2, 2},
	{23, 1, BE, false, "000080", 1, 23, 2, 2},
	{23, 1, BE, false, "00007F", 0, 23, 2, 2},
	/* Signed Intel: 12 bits of 0xFFF is -1; 0x800 is -2048. */
	{0, 12, LE, true, "FF0F", UINT64_MAX, 0, 0, 1},
	{0, 12, LE, true, "0008", (uint64_t)-2048, 0, 0, 1},
	{0, 12, LE, true, "FF07", 2047, 0, 0, 1},
	/* Signed Motorola 8 bits: 0x80 is -128. */
	{7, 8, BE, true, "80", (uint64_t)-128, 0, 0, 0},
	/* 64-bit signed stays as is. */
	{0, 64, LE, true, "FFFFFFFFFFFFFFFF", UINT64_MAX, 0, 0, 7},
};

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_layout_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout_case *c = &layouts[i];
		struct dbc_signal s = mksig(c->start, c->len, c->bo, c->is_signed);
		struct dbc_message m = {.size = 0, .signals = &s, .n_signals = 1};
		uint8_t d[DBC_MAX_PAYLOAD] = {0};
		size_t n = unhex(c->hex, d);
		struct dbc_decoded out;
		unsigned fl = 99;

		assert_int_equal(dbc_signal_prepare(&s), 0);
		if (s.lsb_bit != c->lsb_bit || s.first_byte != c->first ||
		    s.last_byte != c->last)
			fail_msg("case %zu: lsb %u first %u last %u", i, s.lsb_bit,
				 s.first_byte, s.last_byte);
		m.size = (uint8_t)n;
		if (dbc_signal_raw(&s, d, n) != c->raw)
			fail_msg("case %zu: raw %llx want %llx", i,
				 (unsigned long long)dbc_signal_raw(&s, d, n),
				 (unsigned long long)c->raw);
		assert_int_equal(ref_raw(&s, d), c->raw);
		assert_int_equal(dbc_decode(&m, d, n, &out, 1, &fl), 1);
		assert_int_equal(fl, 0);
		assert_int_equal(out.raw, c->raw);
		assert_ptr_equal(out.sig, &s);
		/* put_raw writes back exactly the signal's bits. */
		uint8_t e[DBC_MAX_PAYLOAD];
		memset(e, 0, sizeof(e));
		assert_int_equal(dbc_signal_put_raw(&s, c->raw, e, n), 0);
		assert_int_equal(dbc_signal_raw(&s, e, n), c->raw);
		/* One byte short: the signal does not fit. */
		if (c->last == n - 1) {
			assert_int_equal(dbc_signal_raw(&s, d, n - 1), 0);
			assert_int_equal(dbc_signal_put_raw(&s, 1, e, n - 1), -1);
		}
	}
}

static void test_prepare_limits(void **state)
{
	static const struct {
		unsigned start, len;
		enum dbc_byte_order bo;
		int rc;
		unsigned first, last, lsb;
	} t[] = {
		{504, 8, LE, 0, 63, 63, 504},  /* last byte of a 64-byte frame */
		{511, 1, LE, 0, 63, 63, 511},
		{448, 64, LE, 0, 56, 63, 448},
		{449, 64, LE, -1, 0, 0, 0},    /* 1 bit past byte 63 */
		{511, 8, BE, 0, 63, 63, 504},  /* Motorola, whole byte 63 */
		{504, 1, BE, 0, 63, 63, 504},
		{504, 2, BE, -1, 0, 0, 0},     /* would run into byte 64 */
		{455, 64, BE, 0, 56, 63, 504},
		{512, 1, LE, -1, 0, 0, 0},
		{512, 1, BE, -1, 0, 0, 0},
		{0, 0, LE, -1, 0, 0, 0},
		{0, 65, LE, -1, 0, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct dbc_signal s = mksig(t[i].start, 1, t[i].bo, false);

		s.length = (uint8_t)t[i].len;
		assert_int_equal(dbc_signal_prepare(&s), t[i].rc);
		if (t[i].rc)
			continue;
		assert_int_equal(s.first_byte, t[i].first);
		assert_int_equal(s.last_byte, t[i].last);
		assert_int_equal(s.lsb_bit, t[i].lsb);
	}
	/* A signal in byte 63 of an FD frame decodes from a 64-byte payload. */
	struct dbc_signal s = mksig(511, 8, BE, false);
	uint8_t d[64] = {0};
	d[63] = 0xA5;
	assert_int_equal(dbc_signal_prepare(&s), 0);
	assert_int_equal(dbc_signal_raw(&s, d, 64), 0xA5);
	s = mksig(504, 8, LE, false);
	assert_int_equal(dbc_signal_prepare(&s), 0);
	assert_int_equal(dbc_signal_raw(&s, d, 64), 0xA5);
}

/* Random layouts at every position: decode path, single-signal path and
 * the bit-walk reference agree; put_raw touches only the signal's bits. */
static void test_random_layouts(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	(void)state;
	for (int it = 0; it < 100000; it++) {
		struct dbc_signal s = mksig((unsigned)(xorshift(&x) % 512),
					    1 + (unsigned)(xorshift(&x) % 64),
					    (xorshift(&x) & 1) ? BE : LE,
					    xorshift(&x) & 1);
		struct dbc_message m = {.size = 64, .signals = &s, .n_signals = 1};
		uint8_t d[64], e[64];
		struct dbc_decoded out;
		size_t len = 1 + (size_t)(xorshift(&x) % 64);

		if (dbc_signal_prepare(&s) < 0)
			continue;
		for (int i = 0; i < 64; i += 8) {
			uint64_t r = xorshift(&x);
			memcpy(d + i, &r, 8);
		}
		uint64_t want = s.last_byte < len ? ref_raw(&s, d) : 0;
		assert_int_equal(dbc_signal_raw(&s, d, len), want);
		size_t n = dbc_decode(&m, d, len, &out, 1, NULL);
		assert_int_equal(n, s.last_byte < len);
		if (n)
			assert_int_equal(out.raw, want);
		if (s.last_byte >= len)
			continue;
		/* Writing the complement then the value restores the payload. */
		memcpy(e, d, 64);
		assert_int_equal(dbc_signal_put_raw(&s, ~want, e, len), 0);
		assert_int_equal(dbc_signal_put_raw(&s, want, e, len), 0);
		assert_memory_equal(d, e, 64);
	}
}

static void test_float_and_scaling(void **state)
{
	(void)state;
	/* float32 12.5 = 0x41480000, Intel: bytes 00 00 48 41. */
	struct dbc_signal f32 = mksig(0, 32, LE, false);
	f32.value_type = DBC_VALUE_FLOAT32;
	assert_int_equal(dbc_signal_prepare(&f32), 0);
	uint8_t d[16] = {0x00, 0x00, 0x48, 0x41};
	assert_int_equal(dbc_signal_raw(&f32, d, 8), 0x41480000);
	assert_true(dbc_signal_phys(&f32, 0x41480000) == 12.5);
	f32.factor = 2;
	f32.offset = 1;
	assert_true(dbc_signal_phys(&f32, 0x41480000) == 26.0);
	assert_int_equal(dbc_signal_raw_from_phys(&f32, 26.0), 0x41480000);

	/* float32 Motorola: 0xC0490FDB (-pi as float) big-endian from byte 1. */
	struct dbc_signal f32b = mksig(15, 32, BE, false);
	f32b.value_type = DBC_VALUE_FLOAT32;
	assert_int_equal(dbc_signal_prepare(&f32b), 0);
	uint8_t db[8] = {0, 0xC0, 0x49, 0x0F, 0xDB};
	assert_true(dbc_signal_phys(&f32b, dbc_signal_raw(&f32b, db, 8)) ==
		    (double)-3.14159265f);

	/* float64 pi at byte 8 of an FD frame, Intel. */
	struct dbc_signal f64 = mksig(64, 64, LE, false);
	f64.value_type = DBC_VALUE_FLOAT64;
	assert_int_equal(dbc_signal_prepare(&f64), 0);
	double pi = 3.141592653589793;
	uint8_t fd[16] = {0};
	memcpy(fd + 8, &pi, 8);
	uint64_t raw = dbc_signal_raw(&f64, fd, 16);
	assert_true(dbc_signal_phys(&f64, raw) == pi);
	assert_int_equal(dbc_signal_raw_from_phys(&f64, pi), raw);

	/* Integer scaling: raw 100 * 0.1 - 40 (computed the same way). */
	struct dbc_signal t = mksig(0, 8, LE, false);
	t.factor = 0.1;
	t.offset = -40;
	assert_int_equal(dbc_signal_prepare(&t), 0);
	assert_true(dbc_signal_phys(&t, 100) == 100 * 0.1 - 40);
	assert_int_equal(dbc_signal_raw_from_phys(&t, -30.0), 100);
	assert_int_equal(dbc_signal_raw_from_phys(&t, -30.04), 100); /* rounds */
	assert_int_equal(dbc_signal_raw_from_phys(&t, -30.06), 99);
	assert_int_equal(dbc_signal_raw_from_phys(&t, 1e9), 255);    /* clamps */
	assert_int_equal(dbc_signal_raw_from_phys(&t, -1e9), 0);
	assert_int_equal(dbc_signal_raw_from_phys(&t, NAN), 0);

	struct dbc_signal sg = mksig(0, 12, LE, true);
	sg.factor = 0.5;
	assert_int_equal(dbc_signal_prepare(&sg), 0);
	assert_true(dbc_signal_phys(&sg, (uint64_t)-2048) == -1024.0);
	assert_int_equal(dbc_signal_raw_from_phys(&sg, -1024.0), (uint64_t)-2048);
	assert_int_equal(dbc_signal_raw_from_phys(&sg, -5000.0), (uint64_t)-2048);
	assert_int_equal(dbc_signal_raw_from_phys(&sg, 5000.0), 2047);

	/* 64-bit raw keeps every bit (a double would not). */
	struct dbc_signal big = mksig(0, 64, LE, false);
	assert_int_equal(dbc_signal_prepare(&big), 0);
	uint8_t bd[8];
	memset(bd, 0xFF, 8);
	bd[0] = 0xFE;
	assert_int_equal(dbc_signal_raw(&big, bd, 8), 0xFFFFFFFFFFFFFFFEull);
	assert_int_equal(dbc_signal_raw_from_phys(&big, 1e30), UINT64_MAX);
	struct dbc_signal bigs = mksig(0, 64, LE, true);
	assert_int_equal(dbc_signal_prepare(&bigs), 0);
	assert_int_equal(dbc_signal_raw_from_phys(&bigs, -1e30),
			 (uint64_t)INT64_MIN);
	assert_int_equal(dbc_signal_raw_from_phys(&bigs, 1e30),
			 (uint64_t)INT64_MAX);
	assert_true(dbc_signal_phys(&bigs, (uint64_t)-3) == -3.0);
}

/*
 * Mux message: M (byte 0) selects A (M==0, byte 1), B (M==1, byte 1),
 * sub-multiplexer S (M in 2..3 or 7, byte 2) which selects C (S==5, byte 3);
 * plain P (byte 4) always. Listed child-first to show order independence.
 */
static struct dbc_signal muxsigs[6];
static struct dbc_mux_range r_m0 = {0, 0}, r_m1 = {1, 1},
			    r_m2[2] = {{2, 3}, {7, 7}}, r_s5 = {5, 5};
static struct dbc_message muxmsg = {.size = 5, .signals = muxsigs,
				    .n_signals = 6, .has_mux = true};

static int mux_setup(void **state)
{
	(void)state;
	muxsigs[0] = mksig(24, 8, LE, false); /* C, child of S */
	muxsigs[0].name = (char *)"C";
	muxsigs[0].mux_parent = 3;
	muxsigs[0].mux_ranges = &r_s5;
	muxsigs[0].n_mux_ranges = 1;
	muxsigs[1] = mksig(0, 8, LE, false); /* M */
	muxsigs[1].name = (char *)"M";
	muxsigs[1].is_multiplexer = true;
	muxsigs[2] = mksig(8, 8, LE, false); /* A */
	muxsigs[2].name = (char *)"A";
	muxsigs[2].mux_parent = 1;
	muxsigs[2].mux_ranges = &r_m0;
	muxsigs[2].n_mux_ranges = 1;
	muxsigs[3] = mksig(16, 8, LE, false); /* S */
	muxsigs[3].name = (char *)"S";
	muxsigs[3].is_multiplexer = true;
	muxsigs[3].mux_parent = 1;
	muxsigs[3].mux_ranges = r_m2;
	muxsigs[3].n_mux_ranges = 2;
	muxsigs[4] = mksig(15, 8, BE, false); /* B: Motorola byte 1 */
	muxsigs[4].name = (char *)"B";
	muxsigs[4].mux_parent = 1;
	muxsigs[4].mux_ranges = &r_m1;
	muxsigs[4].n_mux_ranges = 1;
	muxsigs[5] = mksig(32, 8, LE, false); /* P */
	muxsigs[5].name = (char *)"P";
	for (int i = 0; i < 6; i++)
		if (dbc_signal_prepare(&muxsigs[i]) < 0)
			return -1;
	return 0;
}

static void test_mux(void **state)
{
	static const struct {
		const char *hex;
		const char *want; /* names of decoded signals, in order */
		unsigned flags;
	} t[] = {
		{"0011223344", "MAP", 0},
		{"0111223344", "MBP", 0},
		{"0211053344", "CMSP", 0},  /* cascaded: M=2 -> S=5 -> C */
		{"0311053344", "CMSP", 0},  /* range 2..3 */
		{"0711053344", "CMSP", 0},  /* second range */
		{"0211063344", "MSP", DBC_DECODE_MUX_UNKNOWN}, /* S=6 selects none */
		{"0411053344", "MP", DBC_DECODE_MUX_UNKNOWN},  /* M=4 selects none */
		{"02110533", "CMS", DBC_DECODE_SHORT},         /* P cut off */
		{"0211", "M", DBC_DECODE_SHORT},               /* S cut off: C inactive */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t d[8];
		size_t n = unhex(t[i].hex, d);
		struct dbc_decoded out[8];
		unsigned fl;
		char names[8] = {0};
		size_t k = dbc_decode(&muxmsg, d, n, out, 8, &fl);

		for (size_t j = 0; j < k; j++)
			names[j] = out[j].sig->name[0];
		if (strcmp(names, t[i].want) || fl != t[i].flags)
			fail_msg("case %zu: got %s flags %u", i, names, fl);
		for (size_t j = 0; j < k; j++) {
			assert_true(dbc_signal_active(&muxmsg, out[j].sig, d, n));
			assert_int_equal(out[j].raw,
					 dbc_signal_raw(out[j].sig, d, n));
		}
	}
	uint8_t d[8] = {1, 0x11, 5, 0x33, 0x44};
	assert_false(dbc_signal_active(&muxmsg, &muxsigs[0], d, 8));
	assert_false(dbc_signal_active(&muxmsg, &muxsigs[2], d, 8));
	assert_true(dbc_signal_active(&muxmsg, &muxsigs[4], d, 8));
	/* cap smaller than the active set. */
	struct dbc_decoded two[2];
	unsigned fl;
	assert_int_equal(dbc_decode(&muxmsg, d, 8, two, 2, &fl), 2);
	assert_true(fl & DBC_DECODE_TRUNCATED);
}

static void test_short_frame(void **state)
{
	struct dbc_signal s[3];
	struct dbc_message m = {.size = 8, .signals = s, .n_signals = 3};
	uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct dbc_decoded out[3];
	unsigned fl;
	(void)state;

	s[0] = mksig(0, 16, LE, false);
	s[1] = mksig(32, 32, LE, false);
	s[2] = mksig(23, 8, BE, false); /* byte 2 */
	for (int i = 0; i < 3; i++)
		assert_int_equal(dbc_signal_prepare(&s[i]), 0);
	assert_int_equal(dbc_decode(&m, d, 4, out, 3, &fl), 2);
	assert_int_equal(fl, DBC_DECODE_SHORT);
	assert_ptr_equal(out[0].sig, &s[0]);
	assert_int_equal(out[0].raw, 0x0201);
	assert_ptr_equal(out[1].sig, &s[2]);
	assert_int_equal(out[1].raw, 3);
	assert_int_equal(dbc_decode(&m, d, 8, out, 3, &fl), 3);
	assert_int_equal(fl, 0);
	/* Longer than the message is fine; zero length gives nothing. */
	assert_int_equal(dbc_decode(&m, d, 0, out, 3, &fl), 0);
	assert_int_equal(fl, DBC_DECODE_SHORT);
}

/*
 * encode(decode(x)) == x on the covered bits, for random payloads over a
 * set of non-overlapping layouts (Intel and Motorola, signed, floats,
 * 64-bit, 9-byte spans, FD lengths).
 */
static void test_encode_round_trip(void **state)
{
	static const struct {
		unsigned start, len;
		enum dbc_byte_order bo;
		bool is_signed;
		enum dbc_value_type vt;
	} lay[] = {
		{0, 1, LE, false, DBC_VALUE_INTEGER},
		{1, 7, LE, true, DBC_VALUE_INTEGER},
		{15, 12, BE, false, DBC_VALUE_INTEGER},  /* bits 15..8, 23..20 */
		{19, 4, BE, true, DBC_VALUE_INTEGER},    /* bits 19..16 */
		{28, 64, LE, false, DBC_VALUE_INTEGER},  /* 9 bytes: 3..11 */
		{92, 20, LE, true, DBC_VALUE_INTEGER},   /* 11..14 */
		{127, 32, BE, false, DBC_VALUE_FLOAT32}, /* 15..18 */
		{152, 64, LE, false, DBC_VALUE_FLOAT64}, /* 19..26 */
		{219, 64, BE, true, DBC_VALUE_INTEGER},  /* 27..35, 9 bytes */
		{511, 8, BE, false, DBC_VALUE_INTEGER},  /* byte 63 */
	};
	enum { N = sizeof(lay) / sizeof(lay[0]) };
	struct dbc_signal s[N];
	struct dbc_message m = {.size = 64, .signals = s, .n_signals = N};
	uint8_t cover[64] = {0};
	uint64_t x = 12345;
	(void)state;

	for (size_t i = 0; i < N; i++) {
		s[i] = mksig(lay[i].start, lay[i].len, lay[i].bo, lay[i].is_signed);
		s[i].value_type = lay[i].vt;
		s[i].factor = i % 2 ? 0.5 : 1;
		assert_int_equal(dbc_signal_prepare(&s[i]), 0);
		/* Coverage mask; layouts must not overlap. */
		uint8_t one[64] = {0};
		assert_int_equal(dbc_signal_put_raw(&s[i], UINT64_MAX, one, 64), 0);
		for (int b = 0; b < 64; b++) {
			assert_int_equal(cover[b] & one[b], 0);
			cover[b] |= one[b];
		}
	}
	for (int it = 0; it < 20000; it++) {
		uint8_t d[64], e[64];
		struct dbc_decoded out[N];

		for (int i = 0; i < 64; i += 8) {
			uint64_t r = xorshift(&x);
			memcpy(d + i, &r, 8);
		}
		size_t n = dbc_decode(&m, d, 64, out, N, NULL);
		assert_int_equal(n, N);
		memset(e, it & 1 ? 0xFF : 0, 64);
		assert_int_equal(dbc_encode(&m, out, n, e, 64), 0);
		for (int b = 0; b < 64; b++)
			if ((d[b] & cover[b]) != (e[b] & cover[b]))
				fail_msg("iter %d byte %d: %02x vs %02x", it, b,
					 d[b], e[b]);
		/* Through physical values too (integers exact, floats bitwise). */
		for (size_t i = 0; i < n; i++)
			if (s[i].value_type == DBC_VALUE_INTEGER && s[i].length <= 52)
				assert_int_equal(dbc_signal_raw_from_phys(
							 &s[i], out[i].phys),
						 out[i].raw);
	}
	/* A signal that does not fit the buffer makes encode fail. */
	struct dbc_decoded one = {.sig = &s[N - 1], .raw = 1};
	uint8_t small[8];
	assert_int_equal(dbc_encode(&m, &one, 1, small, 8), -1);
}


/* ------------------------------------------------- through the parser */

static struct dbc *parse(const char *text)
{
	struct dbc_diag err = {{0, 0}, NULL};
	struct dbc *db = dbc_parse_buffer("test.dbc", text, strlen(text), &err);

	if (!db)
		fail_msg("parse: %u:%u: %s", err.loc.line, err.loc.col, err.msg);
	return db;
}

/* Decode and return "name=value ..." for comparison with hand values. */
static void decode_text(const struct dbc_message *m, const char *hex,
			char *out, size_t size, unsigned *flags)
{
	uint8_t d[64];
	size_t n = unhex(hex, d), k, o = 0;
	struct dbc_decoded v[32];

	k = dbc_decode(m, d, n, v, 32, flags);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s=%.17g",
				      i ? " " : "", v[i].sig->name, v[i].phys);
}

/*
 * cantools' motohawk example message, values worked out by hand:
 * payload C0 06 E0 00..: Enable = bit 7 of byte 0 = 1; AverageRadius =
 * bits 6..1 of byte 0 = 100000b = 32 * 0.1; Temperature (Motorola, start 0,
 * 12 bits, signed) = byte0 bit0, byte1, byte2 bits 7..5 = 0 00000110 111 =
 * 55 -> 55 * 0.01 + 250.
 */
static const char motohawk[] =
	"VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: PCM1 FOO\n\n"
	"BO_ 496 ExampleMessage: 8 PCM1\n"
	" SG_ Enable : 7|1@0- (1,0) [0|0] \"-\" Vector__XXX\n"
	" SG_ AverageRadius : 6|6@0+ (0.1,0) [0|5] \"m\" Vector__XXX\n"
	" SG_ Temperature : 0|12@0- (0.01,250) [229.52|270.47] \"degK\" PCM1,FOO\n"
	"\nVAL_ 496 Enable 0 \"Disabled\" 1 \"Enabled\" ;\n";

static void test_parsed_motohawk(void **state)
{
	struct dbc *db = parse(motohawk);
	const struct dbc_message *m;
	char text[256];
	unsigned fl;
	(void)state;

	m = dbc_lookup(db, 496, false);
	assert_non_null(m);
	/* Enable is a signed 1-bit signal: bit set reads as -1. */
	decode_text(m, "C006E00000000000", text, sizeof(text), &fl);
	char want[256];
	snprintf(want, sizeof(want),
		 "Enable=-1 AverageRadius=%.17g Temperature=%.17g", 32 * 0.1,
		 55 * 0.01 + 250);
	assert_string_equal(text, want);
	assert_int_equal(fl, 0);
	/* Temperature negative: 1 00000000 000 = -2048 -> 250 - 20.48. */
	decode_text(m, "0100000000000000", text, sizeof(text), &fl);
	snprintf(want, sizeof(want),
		 "Enable=0 AverageRadius=0 Temperature=%.17g",
		 -2048 * 0.01 + 250);
	assert_string_equal(text, want);
	/* Encoding the physical values reproduces the payload. */
	struct dbc_decoded v[3];
	uint8_t d[8] = {0xC0, 0x06, 0xE0}, e[8] = {0};
	assert_int_equal(dbc_decode(m, d, 8, v, 3, NULL), 3);
	for (int i = 0; i < 3; i++)
		v[i].raw = dbc_signal_raw_from_phys(v[i].sig, v[i].phys);
	assert_int_equal(dbc_encode(m, v, 3, e, 8), 0);
	assert_memory_equal(d, e, 8);
	dbc_free(db);
}

/* Extended multiplexing: Mux2 is selected by Mux1 in {1, 3..5} and selects
 * Sig_a for {2, 10..12}; Sig_b hangs on Mux1 == 1. */
static const char extmux[] =
	"VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\n"
	"BO_ 300 EXTMUX: 4 ECU\n"
	" SG_ Mux1 M : 0|8@1+ (1,0) [0|0] \"\" Vector__XXX\n"
	" SG_ Mux2 m1M : 8|8@1+ (1,0) [0|0] \"\" Vector__XXX\n"
	" SG_ Sig_a m2 : 16|8@1+ (1,0) [0|0] \"\" Vector__XXX\n"
	" SG_ Sig_b m1 : 31|8@0+ (1,0) [0|0] \"\" Vector__XXX\n"
	"\n"
	"SG_MUL_VAL_ 300 Mux2 Mux1 1-1, 3-5;\n"
	"SG_MUL_VAL_ 300 Sig_a Mux2 2-2, 10-12;\n"
	"SG_MUL_VAL_ 300 Sig_b Mux1 1-1;\n";

static void test_parsed_extended_mux(void **state)
{
	static const struct {
		const char *hex, *want;
		unsigned flags;
	} t[] = {
		{"0102AABB", "Mux1=1 Mux2=2 Sig_a=170 Sig_b=187", 0},
		{"040BAABB", "Mux1=4 Mux2=11 Sig_a=170", 0},
		{"060BAABB", "Mux1=6", DBC_DECODE_MUX_UNKNOWN},
		{"0202AABB", "Mux1=2", DBC_DECODE_MUX_UNKNOWN},
		{"0105AABB", "Mux1=1 Mux2=5 Sig_b=187", DBC_DECODE_MUX_UNKNOWN},
		{"0102AA", "Mux1=1 Mux2=2 Sig_a=170",
		 DBC_DECODE_SHORT},
	};
	struct dbc *db = parse(extmux);
	const struct dbc_message *m = dbc_lookup(db, 300, false);
	(void)state;

	assert_non_null(m);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[256];
		unsigned fl;

		decode_text(m, t[i].hex, text, sizeof(text), &fl);
		if (strcmp(text, t[i].want) || fl != t[i].flags)
			fail_msg("case %zu: got '%s' flags %u", i, text, fl);
	}
	dbc_free(db);
}

/*
 * Every message of every DBC in the shared corpus (read in place, skipped
 * when the corpus is absent): random payloads decode, re-encode onto the
 * opposite background, and the covered bits come back; each decoded raw
 * equals the bit-walk reference.
 */
static void test_corpus_round_trip(void **state)
{
	static const char *dir = "../shared/dbc-corpus";
	uint64_t x = 0xC0FFEE;
	size_t files = 0, messages = 0;
	char path[512];
	FILE *ls;
	(void)state;

	snprintf(path, sizeof(path), "ls %s/*.dbc 2>/dev/null", dir);
	ls = popen(path, "r");
	assert_non_null(ls);
	while (fgets(path, sizeof(path), ls)) {
		struct dbc_diag err = {{0, 0}, NULL};
		struct dbc *db;

		path[strcspn(path, "\n")] = '\0';
		db = dbc_parse_file(path, &err);
		if (!db) {
			dbc_diag_fini(&err);
			continue; /* the corpus holds deliberately bad files */
		}
		files++;
		for (size_t mi = 0; mi < db->n_messages; mi++) {
			const struct dbc_message *m = &db->messages[mi];
			struct dbc_decoded v[512];
			uint8_t d[64], e[64], cover[64];
			size_t len = m->size ? m->size : 8;

			if (m->n_signals > 512)
				continue;
			messages++;
			for (int it = 0; it < 20; it++) {
				for (int i = 0; i < 64; i += 8) {
					uint64_t r = xorshift(&x);
					memcpy(d + i, &r, 8);
				}
				size_t n = dbc_decode(m, d, len, v, 512, NULL);
				memset(cover, 0, sizeof(cover));
				memset(e, it & 1 ? 0xFF : 0, sizeof(e));
				for (size_t i = 0; i < n; i++) {
					uint8_t one[64] = {0};

					if (ref_raw(v[i].sig, d) != v[i].raw)
						fail_msg("%s %s.%s: raw mismatch",
							 path, m->name,
							 v[i].sig->name);
					assert_int_equal(dbc_signal_put_raw(
								 v[i].sig, UINT64_MAX,
								 one, len),
							 0);
					for (size_t b = 0; b < len; b++)
						cover[b] |= one[b];
				}
				assert_int_equal(dbc_encode(m, v, n, e, len), 0);
				for (size_t b = 0; b < len; b++)
					if ((d[b] ^ e[b]) & cover[b])
						fail_msg("%s %s: byte %zu differs",
							 path, m->name, b);
			}
		}
		dbc_free(db);
	}
	pclose(ls);
	if (access(dir, F_OK) == 0) {
		/* The corpus is there: it must have been exercised. */
		assert_true(files > 50);
		assert_true(messages > 1000);
	}
	printf("corpus round trip: %zu files, %zu messages\n", files, messages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_table),
		cmocka_unit_test(test_prepare_limits),
		cmocka_unit_test(test_random_layouts),
		cmocka_unit_test(test_float_and_scaling),
		cmocka_unit_test_setup(test_mux, mux_setup),
		cmocka_unit_test(test_short_frame),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_parsed_motohawk),
		cmocka_unit_test(test_parsed_extended_mux),
		cmocka_unit_test(test_corpus_round_trip),
	};
	return cmocka_run_group_tests_name("dbc_codec", tests, NULL, NULL);
}
