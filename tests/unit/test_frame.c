/* test_frame.c: candump -l line parser and formatter, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/core/frame.h"

struct good {
	const char *line;
	bool canonical; /* frame_format(parse(line)) == line */
	uint64_t t_ns;
	const char *ifname;
	uint32_t id;
	bool ext, rtr, fd, err;
	uint8_t fd_flags, len, raw_dlc;
	char dir;
	const char *data_hex; /* expected payload, uppercase hex */
};

static const struct good goods[] = {
	{"(1436509052.249713) vcan0 123#0011223344556677\n", true,
	 1436509052249713000ull, "vcan0", 0x123, false, false, false, false, 0,
	 8, 0, 0, "0011223344556677"},
	{"(1436509052.249713) vcan0 123#0011223344556677 R\n", true,
	 1436509052249713000ull, "vcan0", 0x123, false, false, false, false, 0,
	 8, 0, 'R', "0011223344556677"},
	{"(1436509052.249713) can1 12345678#DEAD T\n", true,
	 1436509052249713000ull, "can1", 0x12345678, true, false, false, false,
	 0, 2, 0, 'T', "DEAD"},
	{"(1436509052.249713) can0 123#R\n", true, 1436509052249713000ull,
	 "can0", 0x123, false, true, false, false, 0, 0, 0, 0, ""},
	{"(1436509052.249713) can0 123#R3\n", true, 1436509052249713000ull,
	 "can0", 0x123, false, true, false, false, 0, 3, 0, 0, ""},
	{"(1436509052.249713) can0 123#R8_B\n", true, 1436509052249713000ull,
	 "can0", 0x123, false, true, false, false, 0, 8, 0xB, 0, ""},
	{"(1436509052.249713) can0 123##5001122\n", true,
	 1436509052249713000ull, "can0", 0x123, false, false, true, false, 5, 3,
	 0, 0, "001122"},
	{"(1436509052.249713) can0 123##1\n", true, 1436509052249713000ull,
	 "can0", 0x123, false, false, true, false, 1, 0, 0, 0, ""},
	{"(1436509052.249713) can0 123#0011223344556677_B\n", true,
	 1436509052249713000ull, "can0", 0x123, false, false, false, false, 0,
	 8, 0xB, 0, "0011223344556677"},
	{"(1436509052.249713) can0 20000080#0000000000000000\n", true,
	 1436509052249713000ull, "can0", 0x80, false, false, false, true, 0, 8,
	 0, 0, "0000000000000000"},
	{"(1436509052.249713123) can0 7FF#\n", true, 1436509052249713123ull,
	 "can0", 0x7FF, false, false, false, false, 0, 0, 0, 0, ""},
	{"(0000000001.000001) x 000#01", true, 1000001000ull, "x", 0, false,
	 false, false, false, 0, 1, 0, 0, "01"},
	/* Accepted but not canonical: lowercase, separators, short seconds,
	 * CRLF, several spaces, 00000000 extended ID. */
	{"(1.500000) a 1ab#de.ad.be.ef\r\n", false, 0, NULL, 0, false, false,
	 false, false, 0, 0, 0, 0, NULL},
	{"(1.500000)  a  1ab#dead  R", false, 1500000000ull, "a", 0x1AB, false,
	 false, false, false, 0, 2, 0, 'R', "DEAD"},
	{"(1436509052.249713) can0 00000000#", true, 1436509052249713000ull,
	 "can0", 0, true, false, false, false, 0, 0, 0, 0, ""},
};

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", d[i]);
	out[2 * n] = '\0';
}

static void test_good_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct frame f;
		char ifn[FRAME_IFNAME_MAX], err[128], h[200], out[FRAME_LINE_MAX];
		int rc = frame_parse_line(g->line, strlen(g->line), &f, ifn, err,
					  sizeof(err));

		if (rc != FRAME_PARSE_OK)
			fail_msg("line %zu '%s': %s", i, g->line, err);
		/* Re-parse of the formatted line gives the same frame. */
		bool ns = strchr(g->line, ')') - strchr(g->line, '.') == 10;
		size_t n = frame_format(&f, ifn, ns, out, sizeof(out));
		assert_int_equal(n, strlen(out));
		if (g->canonical) {
			size_t ll = strlen(g->line);
			bool nl = g->line[ll - 1] == '\n';

			assert_int_equal(n, ll + !nl);
			assert_memory_equal(out, g->line, ll - nl);
		}
		struct frame f2;
		char ifn2[FRAME_IFNAME_MAX];
		assert_int_equal(frame_parse_line(out, n, &f2, ifn2, err,
						  sizeof(err)),
				 FRAME_PARSE_OK);
		assert_memory_equal(&f, &f2, sizeof(f));
		assert_string_equal(ifn, ifn2);
		if (!g->ifname)
			continue;
		assert_int_equal(f.t_ns, g->t_ns);
		assert_string_equal(ifn, g->ifname);
		assert_int_equal(f.id, g->id);
		assert_int_equal(f.ext, g->ext);
		assert_int_equal(f.rtr, g->rtr);
		assert_int_equal(f.fd, g->fd);
		assert_int_equal(f.err, g->err);
		assert_int_equal(f.fd_flags, g->fd_flags);
		assert_int_equal(f.len, g->len);
		assert_int_equal(f.raw_dlc, g->raw_dlc);
		assert_int_equal(f.dir, g->dir);
		if (!f.rtr) {
			hex(f.data, f.len, h);
			assert_string_equal(h, g->data_hex);
		}
	}
}

struct bad {
	const char *line;
	const char *err; /* expected message prefix */
};

static const struct bad bads[] = {
	{"(", "column 2: expected timestamp seconds"},
	{"(1436509052", "column 12: expected '.' in timestamp"},
	{"(1436509052.24971) can0 123#", "column 13: expected 6 or 9 fractional digits, got 5"},
	{"(1436509052.2497131234) can0 123#", "column 22: more than 9 fractional digits"},
	{"(1436509052.249713 can0 123#", "column 19: expected ')' after timestamp"},
	{"(1436509052.249713)can0 123#", "column 20: expected space after timestamp"},
	{"(1436509052.249713) ", "column 21: expected interface name"},
	{"(1436509052.249713) can0", "column 25: expected space after interface name"},
	{"(1436509052.249713) can0 ", "column 26: expected a 3 or 8 hex digit CAN ID"},
	{"(1436509052.249713) can0 12#00", "column 26: expected a 3 or 8 hex digit CAN ID"},
	{"(1436509052.249713) can0 123456789#00", "column 26: CAN ID longer than 8 hex digits"},
	{"(1436509052.249713) can0 800#00", "column 26: 11-bit CAN ID 0x800 above 0x7FF"},
	{"(1436509052.249713) can0 40000000#00", "column 26: CAN ID 0x40000000 has bits above the 29-bit range"},
	{"(1436509052.249713) can0 123", "column 29: expected '#' after CAN ID"},
	{"(1436509052.249713) can0 123#0", "column 31: odd number of hex digits in data"},
	{"(1436509052.249713) can0 123#001122334455667788", "column 46: more than 8 data bytes"},
	{"(1436509052.249713) can0 123#00G", "column 32: unexpected 'G' in frame data"},
	{"(1436509052.249713) can0 123#0011_B", "column 34: raw DLC needs 8 data bytes"},
	{"(1436509052.249713) can0 123#0011223344556677_8", "column 47: expected raw DLC 9..F after '_'"},
	{"(1436509052.249713) can0 123#0011223344556677_", "column 47: expected raw DLC 9..F after '_'"},
	{"(1436509052.249713) can0 123#R9", "column 31: RTR length above 8"},
	{"(1436509052.249713) can0 123#R3_B", "column 32: raw DLC needs length 8"},
	{"(1436509052.249713) can0 123##", "column 31: expected CAN FD flags hex digit"},
	{"(1436509052.249713) can0 123##1001122334455667788", "column 32: 9 bytes is not a CAN FD length"},
	{"(1436509052.249713) can0 20000080##100", "column 34: error frame cannot be CAN FD"},
	{"(1436509052.249713) can0 20000080#R", "column 35: error frame cannot be RTR"},
	{"(1436509052.249713) can0 123#00 X", "column 33: expected direction R or T"},
	{"(1436509052.249713) can0 123#00 R x", "column 35: unexpected text after direction"},
	{"(1436509052.249713) abcdefghijabcdefghijabcdefghij01 123#", "column 21: interface name longer than 31 bytes"},
	{"(99999999999999999999.000000) can0 123#", "timestamp too large"},
	{"(1436509052.249713) can0 123#\x01", "column 30: unexpected '?' in frame data"},
};

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct frame f;
		char ifn[FRAME_IFNAME_MAX], err[128];
		int rc = frame_parse_line(bads[i].line, strlen(bads[i].line), &f,
					  ifn, err, sizeof(err));

		if (rc != FRAME_PARSE_ERROR)
			fail_msg("line %zu '%s' parsed (rc %d)", i, bads[i].line,
				 rc);
		if (!strstr(err, bads[i].err))
			fail_msg("line %zu: got '%s', want '%s'", i, err,
				 bads[i].err);
	}
}

static void test_skip_lines(void **state)
{
	static const char *skips[] = {"", "\n", "\r\n", "# comment\n",
				      " (1436509052.249713) can0 123#00",
				      "can0 123#00"};
	(void)state;
	for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
		struct frame f;
		char ifn[FRAME_IFNAME_MAX], err[64];

		assert_int_equal(frame_parse_line(skips[i], strlen(skips[i]), &f,
						  ifn, err, sizeof(err)),
				 FRAME_PARSE_SKIP);
	}
}

/* The parser must honour len: a valid line cut at every length either
 * parses or fails, and never looks at the bytes after the cut (here: a
 * poisoned tail that would change the result if read). */
static void test_never_reads_past_len(void **state)
{
	const char *line = "(1436509052.249713) can0 123##3001122334455 T";
	char buf[128];
	size_t n = strlen(line);
	(void)state;
	for (size_t cut = 0; cut <= n; cut++) {
		struct frame f;
		char ifn[FRAME_IFNAME_MAX], err[128];

		memset(buf, '7', sizeof(buf));
		memcpy(buf, line, cut);
		int a = frame_parse_line(buf, cut, &f, ifn, err, sizeof(err));
		memset(buf + cut, 'Z', sizeof(buf) - cut);
		struct frame g;
		int b = frame_parse_line(buf, cut, &g, ifn, err, sizeof(err));
		assert_int_equal(a, b);
		if (a == FRAME_PARSE_OK)
			assert_memory_equal(&f, &g, sizeof(f));
	}
}

static void test_format_truncates_safely(void **state)
{
	struct frame f;
	char ifn[FRAME_IFNAME_MAX], err[64], out[16];
	const char *l = "(1436509052.249713) can0 123#0011";
	(void)state;
	assert_int_equal(frame_parse_line(l, strlen(l), &f, ifn, err, sizeof(err)),
			 FRAME_PARSE_OK);
	size_t n = frame_format(&f, ifn, false, out, sizeof(out));
	assert_int_equal(n, strlen(l) + 1);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_memory_equal(out, l, sizeof(out) - 1);
}

static void test_can_conversions(void **state)
{
	static const char *lines[] = {
		"(1436509052.249713) can0 123#0011223344556677_C",
		"(1436509052.249713) can0 1ABCDEF0#11 R",
		"(1436509052.249713) can0 123#R5",
		"(1436509052.249713) can0 20000004#0000080000000000",
		"(1436509052.249713) can0 7FF##50011223344556677001122334455667700112233445566770011223344556677",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct frame f, g;
		struct canfd_frame cf;
		char ifn[FRAME_IFNAME_MAX], err[64];

		assert_int_equal(frame_parse_line(lines[i], strlen(lines[i]), &f,
						  ifn, err, sizeof(err)),
				 FRAME_PARSE_OK);
		frame_to_can(&f, &cf);
		frame_from_can(&g, &cf, f.fd, f.t_ns);
		g.dir = f.dir;
		assert_memory_equal(&f, &g, sizeof(f));
	}
	/* Kernel flag bits land where the kernel expects them. */
	struct frame f;
	struct canfd_frame cf;
	char ifn[FRAME_IFNAME_MAX], err[64];
	const char *l = "(1.000000) c 1ABCDEF0#R";
	assert_int_equal(frame_parse_line(l, strlen(l), &f, ifn, err,
					  sizeof(err)),
			 FRAME_PARSE_OK);
	frame_to_can(&f, &cf);
	assert_int_equal(cf.can_id, 0x1ABCDEF0u | CAN_EFF_FLAG | CAN_RTR_FLAG);
}

/* frame_parse_time: the one time grammar behind log lines, frames.chain
 * fields (strict) and `cangate check --end` (loose). */
static const struct {
	const char *s;
	bool loose;
	int rc;
	uint64_t t_ns;
} times[] = {
	{"1436509052.249713", false, 0, 1436509052249713000ull},
	{"1436509052.249713123", false, 0, 1436509052249713123ull},
	{"0000000001.000000", false, 0, 1000000000ull},
	{"1436509052.24971", false, -1, 0},
	{"1436509052", false, -1, 0},
	{"1436509052.249713 ", false, -1, 0},
	{"(1436509052.249713)", false, -1, 0},
	{"", false, -1, 0},
	{"99999999999999999999.000000", false, -1, 0},
	{"1436509052", true, 0, 1436509052000000000ull},
	{"1436509052.", true, 0, 1436509052000000000ull},
	{"1436509052.5", true, 0, 1436509052500000000ull},
	{"1436509052.2497131", true, 0, 1436509052249713100ull},
	{"1436509052.2497131234", true, -1, 0},
	{".5", true, -1, 0},
	{"1436509052x", true, -1, 0},
};

static void test_parse_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		uint64_t t = 0;
		char err[64];
		int rc = frame_parse_time(times[i].s, strlen(times[i].s),
					  times[i].loose, &t, err, sizeof(err));
		if (rc != times[i].rc || (rc == 0 && t != times[i].t_ns))
			fail_msg("%s (loose %d): rc %d t %llu (%s)", times[i].s,
				 times[i].loose, rc, (unsigned long long)t, err);
		if (rc < 0 && strncmp(err, "column ", 7))
			fail_msg("%s: no column in '%s'", times[i].s, err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_skip_lines),
		cmocka_unit_test(test_never_reads_past_len),
		cmocka_unit_test(test_format_truncates_safely),
		cmocka_unit_test(test_can_conversions),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
