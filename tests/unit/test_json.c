/* test_json.c: JSON writer: structure, escaping, shortest round-trip doubles. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/core/json.h"

/* The documented reference: first of %.15g/%.16g/%.17g that reads back. */
static void reference_double(double v, char *out)
{
	for (int p = 15; p <= 17; p++) {
		snprintf(out, JSON_DOUBLE_MAX, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static uint64_t xorshift_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_doubles_table(void **state)
{
	static const struct {
		double v;
		const char *want;
	} t[] = {
		{0.0, "0"},
		{-0.0, "-0"},
		{1.0, "1"},
		{-1.0, "-1"},
		{12.5, "12.5"},
		{0.1, "0.1"},
		{0.3, "0.3"},
		{0.1 + 0.2, "0.30000000000000004"},
		{1e-4, "0.0001"},
		{1e-5, "1e-05"},
		{123456789012345.0, "123456789012345"},
		{1e15, "1e+15"},
		{9007199254740993.0, "9007199254740992"},
		{-273.15, "-273.15"},
		{3.4028234663852886e38, "3.4028234663852886e+38"},
		{5e-324, "4.94065645841247e-324"},
		{NAN, "null"},
		{INFINITY, "null"},
		{-INFINITY, "null"},
		{0.1 * 3, "0.30000000000000004"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char b[JSON_DOUBLE_MAX];
		size_t n = json_format_double(t[i].v, b);

		if (strcmp(b, t[i].want))
			fail_msg("case %zu: got %s want %s", i, b, t[i].want);
		assert_int_equal(n, strlen(b));
	}
}

/* The fast path must agree with the reference for values a decoder meets:
 * raw * factor + offset over many scalings, and random bit patterns. */
static void test_doubles_match_reference(void **state)
{
	static const double factors[] = {1, 0.1, 0.01, 0.5, 0.25, 0.05625,
					 0.001, 1e-6, 0.0625, 3.6, 100, 0.3};
	static const double offsets[] = {0, -40, -273.15, 0.5, -1000};
	uint64_t x = 88172645463325252ull;
	(void)state;
	for (size_t fi = 0; fi < sizeof(factors) / sizeof(factors[0]); fi++)
		for (size_t oi = 0; oi < sizeof(offsets) / sizeof(offsets[0]);
		     oi++)
			for (int64_t raw = -3000; raw < 70000; raw += 7) {
				double v = (double)raw * factors[fi] + offsets[oi];
				char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

				json_format_double(v, a);
				reference_double(v, b);
				if (v == 0.0)
					continue; /* reference prints "-0" too */
				if (strcmp(a, b))
					fail_msg("%.17g: got %s want %s", v, a, b);
			}
	/* Dense in the range where the exact integer paths work, plus the
	 * edges: powers of ten and two and their neighbours. */
	for (int i = 0; i < 300000; i++) {
		uint64_t bits = 0x3FF0000000000000ull | (xorshift_next(&x) >> 12);
		double v, base;
		char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

		memcpy(&base, &bits, sizeof(base));
		v = base * pow(10, (double)(int)(xorshift_next(&x) % 22) - 6);
		if (i & 1)
			v = -v;
		json_format_double(v, a);
		reference_double(v, b);
		if (strcmp(a, b))
			fail_msg("%a: got %s want %s", v, a, b);
	}
	for (int p = -8; p <= 17; p++) {
		double edges[6];

		edges[0] = pow(10, p);
		edges[1] = nextafter(edges[0], 0);
		edges[2] = nextafter(edges[0], INFINITY);
		edges[3] = ldexp(1.0, 3 * p);
		edges[4] = nextafter(edges[3], 0);
		edges[5] = nextafter(edges[3], INFINITY);
		for (int k = 0; k < 6; k++) {
			char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

			json_format_double(edges[k], a);
			reference_double(edges[k], b);
			if (strcmp(a, b))
				fail_msg("%a: got %s want %s", edges[k], a, b);
		}
	}
	for (int i = 0; i < 200000; i++) {
		double v;
		char a[JSON_DOUBLE_MAX], b[JSON_DOUBLE_MAX];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		if (!isfinite(v) || v == 0.0)
			continue;
		json_format_double(v, a);
		reference_double(v, b);
		if (strcmp(a, b))
			fail_msg("%a: got %s want %s", v, a, b);
		assert_true(strtod(a, NULL) == v);
	}
}

static void test_integers(void **state)
{
	static const uint64_t edges[] = {0, 1, 9, 10, 99, 100, 999, 1000,
					 99999999, 100000000, 100000001,
					 9999999999999999ull, 10000000000000000ull,
					 10000000000000001ull, UINT64_MAX};
	uint64_t x = 99;
	(void)state;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 100000; i++) {
		uint64_t v;
		char a[24], b[24];

		if (i < sizeof(edges) / sizeof(edges[0]))
			v = edges[i];
		else
			v = xorshift_next(&x) >> (xorshift_next(&x) % 64);
		size_t n = json_format_uint(v, a);
		assert_int_equal(n, strlen(a));
		snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
		assert_string_equal(a, b);
		json_format_int((int64_t)v, a);
		snprintf(b, sizeof(b), "%lld", (long long)(int64_t)v);
		assert_string_equal(a, b);
	}
}

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want;
	} t[] = {
		{"plain", 5, "\"plain\""},
		{"q\"b\\", 4, "\"q\\\"b\\\\\""},
		{"\n\r\t\b\f\x01\x1f", 7, "\"\\n\\r\\t\\b\\f\\u0001\\u001f\""},
		{"a\0b", 3, "\"a\\u0000b\""},
		{"\xC3\xA9", 2, "\"\xC3\xA9\""},                 /* é */
		{"\xE2\x82\xAC", 3, "\"\xE2\x82\xAC\""},         /* € */
		{"\xF0\x9F\x98\x80", 4, "\"\xF0\x9F\x98\x80\""}, /* emoji */
		{"\xC3", 1, "\"\xEF\xBF\xBD\""},                 /* truncated */
		{"\xC0\xAF", 2, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* overlong */
		{"\xED\xA0\x80", 3,
		 "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* surrogate */
		{"\xF4\x90\x80\x80", 4,
		 "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
		{"\xFF", 1, "\"\xEF\xBF\xBD\""},
		{"\x7f", 1, "\"\x7f\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[64];
		size_t n = json_escape(t[i].in, t[i].n, out, sizeof(out));

		if (strcmp(out, t[i].want))
			fail_msg("case %zu: got %s", i, out);
		assert_int_equal(n, strlen(t[i].want));
	}
	/* Truncation reports the size needed, like snprintf. */
	char small[4];
	assert_int_equal(json_escape("abcdef", 6, small, sizeof(small)), 8);
	assert_string_equal(small, "\"ab");
}

static void test_structure(void **state)
{
	char buf[256];
	struct json j;
	(void)state;

	json_init_buf(&j, buf, sizeof(buf));
	json_object_begin(&j);
	json_key(&j, "a");
	json_int(&j, -5);
	json_key(&j, "b");
	json_array_begin(&j);
	json_uint(&j, UINT64_MAX);
	json_bool(&j, true);
	json_null(&j);
	json_object_begin(&j);
	json_object_end(&j);
	json_array_begin(&j);
	json_array_end(&j);
	json_string(&j, NULL);
	json_array_end(&j);
	json_key(&j, "c");
	json_raw(&j, "1.50", 4);
	json_key(&j, "d");
	json_double(&j, 0.5);
	json_key(&j, "e");
	json_int(&j, INT64_MIN);
	json_object_end(&j);
	json_newline(&j);
	json_array_begin(&j);
	json_array_end(&j);
	assert_int_equal(json_finish(&j), 0);
	assert_string_equal(buf, "{\"a\":-5,\"b\":[18446744073709551615,true,"
				 "null,{},[],null],\"c\":1.50,\"d\":0.5,"
				 "\"e\":-9223372036854775808}\n[]");
	assert_int_equal(json_len(&j), strlen(buf));

	/* Pretty mode. */
	json_init_buf(&j, buf, sizeof(buf));
	json_set_pretty(&j, true);
	json_object_begin(&j);
	json_key(&j, "a");
	json_array_begin(&j);
	json_int(&j, 1);
	json_int(&j, 2);
	json_array_end(&j);
	json_key(&j, "b");
	json_object_begin(&j);
	json_object_end(&j);
	json_object_end(&j);
	assert_int_equal(json_finish(&j), 0);
	assert_string_equal(buf, "{\n  \"a\": [\n    1,\n    2\n  ],\n"
				 "  \"b\": {}\n}");

	/* Unbalanced output and overflow are reported. */
	json_init_buf(&j, buf, sizeof(buf));
	json_object_begin(&j);
	assert_int_equal(json_finish(&j), -1);
	json_init_buf(&j, buf, 5);
	json_string(&j, "toolong");
	assert_int_equal(json_finish(&j), -1);
	assert_string_equal(buf, "\"too");
}

/* Members without braces: the fields of an event line (evidence wraps them
 * in {"t":..,"type":..,FIELDS}). Commas between members and inside nested
 * values, none before the first; escaped like any string. */
static void test_members(void **state)
{
	char buf[128];
	struct json j;

	(void)state;
	json_init_buf(&j, buf, sizeof(buf));
	json_members_begin(&j);
	json_key(&j, "bus");
	json_string(&j, "can\"0");
	json_key(&j, "reason");
	json_string(&j, "bad \xff byte");
	json_key(&j, "n");
	json_array_begin(&j);
	json_uint(&j, 1);
	json_uint(&j, 2);
	json_array_end(&j);
	json_members_end(&j);
	assert_int_equal(json_finish(&j), 0);
	assert_string_equal(buf, "\"bus\":\"can\\\"0\",\"reason\":\"bad "
				 "\xEF\xBF\xBD byte\",\"n\":[1,2]");

	/* none at all: empty text, not an error */
	json_init_buf(&j, buf, sizeof(buf));
	json_members_begin(&j);
	json_members_end(&j);
	assert_int_equal(json_finish(&j), 0);
	assert_string_equal(buf, "");

	/* left open: an error, like an unclosed object */
	json_init_buf(&j, buf, sizeof(buf));
	json_members_begin(&j);
	json_key(&j, "a");
	json_uint(&j, 1);
	assert_int_equal(json_finish(&j), -1);
}

static void test_file_mode(void **state)
{
	char *mem = NULL;
	size_t memlen = 0;
	FILE *fp = open_memstream(&mem, &memlen);
	struct json j;
	(void)state;

	assert_non_null(fp);
	json_init_file(&j, fp);
	/* Enough output to cross the staging buffer several times, plus one
	 * string larger than it. */
	for (int i = 0; i < 5000; i++) {
		json_object_begin(&j);
		json_key(&j, "i");
		json_int(&j, i);
		json_object_end(&j);
		json_newline(&j);
	}
	static char big[20000];
	memset(big, 'x', sizeof(big) - 1);
	json_string(&j, big);
	assert_int_equal(json_finish(&j), 0);
	fclose(fp);
	size_t expect = 0;
	for (int i = 0; i < 5000; i++) {
		char line[32];
		expect += (size_t)snprintf(line, sizeof(line), "{\"i\":%d}\n", i);
	}
	expect += sizeof(big) - 1 + 2;
	assert_int_equal(memlen, expect);
	assert_memory_equal(mem, "{\"i\":0}\n{\"i\":1}\n", 16);
	assert_int_equal(mem[memlen - 1], '"');
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles_table),
		cmocka_unit_test(test_doubles_match_reference),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_file_mode),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
