/* test_config.c: gateway config loader: schema, errors with their line,
 * includes, path resolution, long lines, value parsers. Table-driven. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "daemon/core/config.h"
#include "dbc/dbc.h"

/* ------------------------------------------------------------- temp files */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes len bytes of text to tmpdir/name (subdirectories created). */
static const char *write_file_n(const char *name, const char *text, size_t len)
{
	static char path[PATH_MAX];
	char cmd[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static const char *write_file(const char *name, const char *text)
{
	return write_file_n(name, text, strlen(text));
}

static struct config *load_text(const char *text, struct config_error *err)
{
	return config_load(write_file("t.ini", text), err);
}

/* ------------------------------------------------------- the full schema */

static const char full_ini[] =
	"; a full config, every key once\n"
	"# hash comment\n"
	"[gateway]\n"
	"name = rig-03                         ; recorded in evidence\n"
	"control = run/control.sock\n"
	"user = cangate\n"
	"watchdog = 5s                         ; watchdog_ms in its unit form\n"
	"\n"
	"[bus vehicle]\n"
	"interface = can0          ; SocketCAN name\n"
	"fd = yes\n"
	"bitrate = 500000\n"
	"restart_ms = 100\n"
	"dbc = vehicles/demo-ev.dbc  ; repeatable\n"
	"dbc = /abs/other.dbc\n"
	"txqueue_len = 64\n"
	"txqueue_max_age_ms = 0x20\n"
	"\n"
	"  [bus rig]\n"
	"  interface = replay:logs/drive.log,speed=2.5\n"
	"\n"
	"[bus sink]\n"
	"interface: null\n"
	"\n"
	"[route vehicle-to-rig]\n"
	"from = vehicle\n"
	"to = rig\n"
	"direction = both\n"
	"pass = 0x100-0x1FF, 0x300/0x700, 0x18FEF100x/0x1FFFFFFF\n"
	"pass = 0x7FF\n"
	"block = 0x7DF\n"
	"map = 0x120 -> 0x520, 0x18FEF100x->0x18FEF200x\n"
	"rate = 0x200 10ms, 0x201 250us\n"
	"rate = 0x1234x 2s\n"
	"\n"
	"[signal speed]\n"
	"source = ESP_21.VehSpd\n"
	"stale_ms = 100\n"
	"\n"
	"[rule avas-low-speed]\n"
	"ref = CMVSS 141 (proxy: alert commanded)\n"
	"when = speed < 30 && Gear.Position != \"P\"   ; inline\n"
	"when = speed#2\n"
	"\n"
	"[evidence]\n"
	"dir = sessions\n"
	"vin = LGXC1234\n"
	"procedure = TP-101-03\n"
	"operator = jdoe\n"
	"block_frames = 128\n"
	"block_ms = 500\n"
	"segment_mb = 64\n"
	"timestamps = ns\n"
	"sign_key = keys/rig.key\n"
	"auto_start = no\n";

static void test_full(void **state)
{
	struct config_error err;
	struct config *cfg;
	char want[PATH_MAX];
	const struct config_route *r;

	(void)state;
	cfg = load_text(full_ini, &err);
	if (cfg == NULL)
		fail_msg("%s:%u: %s", err.file, err.line, err.msg);
	assert_string_equal(cfg->name, "rig-03");
	snprintf(want, sizeof(want), "%s/run/control.sock", tmpdir);
	assert_string_equal(cfg->control_path, want);
	assert_string_equal(cfg->user, "cangate");
	assert_int_equal(cfg->watchdog_ms, 5000);

	assert_int_equal(cfg->n_buses, 3);
	assert_string_equal(cfg->buses[0].name, "vehicle");
	assert_int_equal(cfg->buses[0].line, 9);
	assert_int_equal(cfg->buses[0].kind, BUS_SOCKETCAN);
	assert_string_equal(cfg->buses[0].interface, "can0");
	assert_true(cfg->buses[0].fd);
	assert_int_equal(cfg->buses[0].bitrate, 500000);
	assert_int_equal(cfg->buses[0].restart_ms, 100);
	assert_int_equal(cfg->buses[0].n_dbc_paths, 2);
	snprintf(want, sizeof(want), "%s/vehicles/demo-ev.dbc", tmpdir);
	assert_string_equal(cfg->buses[0].dbc_paths[0], want);
	assert_string_equal(cfg->buses[0].dbc_paths[1], "/abs/other.dbc");
	assert_int_equal(cfg->buses[0].dbc_lines[0], 14);
	assert_int_equal(cfg->buses[0].dbc_lines[1], 15);
	assert_int_equal(cfg->buses[0].txqueue_len, 64);
	assert_int_equal(cfg->buses[0].txqueue_max_age_ms, 32);

	assert_int_equal(cfg->buses[1].kind, BUS_REPLAY);
	snprintf(want, sizeof(want), "%s/logs/drive.log", tmpdir);
	assert_string_equal(cfg->buses[1].replay_path, want);
	assert_true(cfg->buses[1].replay_speed == 2.5);
	assert_string_equal(cfg->buses[1].interface, "rig");
	assert_false(cfg->buses[1].fd);
	assert_int_equal(cfg->buses[1].txqueue_len, 1024); /* defaults */
	assert_int_equal(cfg->buses[1].txqueue_max_age_ms, 100);
	assert_int_equal(cfg->buses[2].kind, BUS_NULL);
	assert_int_equal(config_bus_index(cfg, "sink"), 2);
	assert_int_equal(config_bus_index(cfg, "nope"), -1);
	assert_int_equal(config_bus_by_interface(cfg, "can0"), 0);
	assert_int_equal(config_bus_by_interface(cfg, "can9"), -1);

	assert_int_equal(cfg->n_routes, 1);
	r = &cfg->routes[0];
	assert_string_equal(r->name, "vehicle-to-rig");
	assert_int_equal(r->line, 25);
	assert_int_equal(r->from, 0);
	assert_int_equal(r->to, 1);
	assert_true(r->bidirectional);
	assert_int_equal(r->n_pass, 4);
	assert_int_equal(r->pass[0].lo, 0x100);
	assert_int_equal(r->pass[0].hi, 0x1FF);
	assert_int_equal(r->pass[0].mask, 0);
	assert_false(r->pass[0].ext);
	assert_int_equal(r->pass[1].mask, 0x700);
	assert_int_equal(r->pass[1].lo, 0x300);
	assert_true(r->pass[2].ext);
	assert_int_equal(r->pass[2].mask, 0x1FFFFFFF);
	assert_int_equal(r->pass[2].lo, 0x18FEF100);
	assert_int_equal(r->pass[3].lo, 0x7FF);
	assert_int_equal(r->n_block, 1);
	assert_int_equal(r->block[0].lo, 0x7DF);
	assert_int_equal(r->n_maps, 2);
	assert_int_equal(r->maps[0].from, 0x120);
	assert_int_equal(r->maps[0].to, 0x520);
	assert_false(r->maps[0].to_ext);
	assert_true(r->maps[1].from_ext && r->maps[1].to_ext);
	assert_int_equal(r->maps[1].to, 0x18FEF200);
	assert_int_equal(r->n_rates, 3);
	assert_int_equal(r->rates[0].period_ns, 10000000);
	assert_int_equal(r->rates[1].period_ns, 250000);
	assert_int_equal(r->rates[1].id, 0x201);
	assert_true(r->rates[2].ext);
	assert_int_equal(r->rates[2].period_ns, 2000000000ull);

	assert_int_equal(cfg->n_signals, 1);
	assert_string_equal(cfg->signals[0].name, "speed");
	assert_int_equal(cfg->signals[0].line, 36);
	assert_int_equal(cfg->signals[0].n_kv, 2);
	assert_string_equal(cfg->signals[0].kv[0].key, "source");
	assert_string_equal(cfg->signals[0].kv[0].value, "ESP_21.VehSpd");
	assert_int_equal(cfg->signals[0].kv[1].line, 38);
	assert_int_equal(cfg->n_rules, 1);
	assert_int_equal(cfg->rules[0].n_kv, 3);
	assert_string_equal(cfg->rules[0].kv[1].value,
			    "speed < 30 && Gear.Position != \"P\"");
	assert_string_equal(cfg->rules[0].kv[2].value, "speed#2");
	assert_non_null(strstr(cfg->rules[0].file, "t.ini"));

	assert_true(cfg->evidence.enabled);
	snprintf(want, sizeof(want), "%s/sessions", tmpdir);
	assert_string_equal(cfg->evidence.dir, want);
	assert_string_equal(cfg->evidence.vin, "LGXC1234");
	assert_string_equal(cfg->evidence.procedure, "TP-101-03");
	assert_string_equal(cfg->evidence.operator_name, "jdoe");
	assert_int_equal(cfg->evidence.block_frames, 128);
	assert_int_equal(cfg->evidence.block_ms, 500);
	assert_int_equal(cfg->evidence.segment_bytes, 64ull << 20);
	assert_true(cfg->evidence.nanoseconds);
	snprintf(want, sizeof(want), "%s/keys/rig.key", tmpdir);
	assert_string_equal(cfg->evidence.sign_key, want);
	assert_false(cfg->evidence.auto_start);
	config_free(cfg);
}

static void test_defaults(void **state)
{
	struct config_error err;
	struct config *cfg;

	(void)state;
	cfg = load_text("[bus a]\ninterface = vcan0\n", &err);
	assert_non_null(cfg);
	assert_null(cfg->name);
	assert_int_equal(cfg->n_routes, 0);
	assert_false(cfg->evidence.enabled);
	assert_int_equal(cfg->evidence.block_frames, 4096);
	assert_int_equal(cfg->evidence.block_ms, 1000);
	assert_true(cfg->evidence.auto_start);
	assert_false(cfg->evidence.nanoseconds);
	assert_int_equal(cfg->evidence.segment_bytes, 0);
	assert_false(cfg->exit_on_replay_end);
	config_free(cfg);
	cfg = load_text("[gateway]\nexit_on_replay_end = yes\n", &err);
	assert_non_null(cfg);
	assert_true(cfg->exit_on_replay_end);
	config_free(cfg);

	/* empty file: a valid, empty config */
	cfg = load_text("", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->n_buses, 0);
	config_free(cfg);
}

/* ------------------------------------------------------ malformed configs */

#define BUSES "[bus a]\ninterface = can0\n[bus b]\ninterface = can1\n"
#define ROUTE BUSES "[route r]\nfrom = a\nto = b\n" /* lines 5-7 */
#define LONG190 /* 190 bytes */ \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct bad {
	const char *ini;
	unsigned line;
	const char *substr;
};

static const struct bad bads[] = {
	/* sections */
	{ "[foo]\n", 1, "unknown section [foo]" },
	{ "[gateway]\nname = a\n[bogus x]\n", 3, "unknown section [bogus x]" },
	{ "[gateway]\n[evidence]\n[gateway]\n", 3,
	  "duplicate section [gateway] (first at line 1)" },
	{ "[evidence]\n\n[evidence]\n", 3, "duplicate section [evidence]" },
	{ BUSES "[bus a]\ninterface = can2\n", 5,
	  "duplicate section [bus a] (first at line 1)" },
	{ ROUTE "[route r]\n", 8, "duplicate section [route r]" },
	{ "[signal s]\nsource = A.b\n[rule x]\n[signal s]\n", 4,
	  "duplicate section [signal s]" },
	{ "[rule x]\nkind = range\n[rule x]\n", 3, "duplicate section [rule x]" },
	{ "[gateway\n", 1, "missing ']'" },
	{ "[gateway] name = x\n", 1, "unexpected text after ']'" },
	{ "[bus]\ninterface = can0\n", 1, "section [bus] needs a name" },
	{ "[gateway main]\n", 1, "section [gateway] takes no name" },
	{ "[bus a b]\n", 1, "one word expected" },
	{ "[bus a/b]\n", 1, "bad name 'a/b'" },
	{ "name = x\n", 1, "key 'name' outside any section" },
	{ "[gateway]\njust words\n", 2, "syntax error" },
	{ "[gateway]\nwords ; name = x\n[bogus]\n", 2, "syntax error" },
	{ "[gateway]\n\nwords\nfoo = 1\n", 3, "syntax error" },
	/* keys */
	{ "[gateway]\nfoo = 1\n", 2, "unknown key 'foo' in [gateway]" },
	{ "[bus a]\ninterface = can0\nbitrat = 5\n", 3,
	  "unknown key 'bitrat' in [bus a] (did you mean 'bitrate'?)" },
	{ "[buss a]\n", 1, "(did you mean 'bus'?)" },
	/* durations: NAME_ms whole ms, or NAME with a unit */
	{ "[bus a]\ninterface = can0\nrestart = 1500us\n", 3,
	  "restart = 1500us: not a whole number of milliseconds" },
	{ "[bus a]\ninterface = can0\nrestart = 100\n", 3,
	  "bad duration '100' for restart (a whole number and a unit" },
	{ "[bus a]\ninterface = can0\nrestart_ms = 5\nrestart = 5ms\n", 4,
	  "duplicate key 'restart' in [bus a] (first at line 3)" },
	{ BUSES "[route r]\nfrom = a\nto = b\nfilter = 1\n", 8,
	  "unknown key 'filter' in [route r]" },
	{ "[bus a]\ninterface = can0\ninterface = can1\n", 3,
	  "duplicate key 'interface' in [bus a] (first at line 2)" },
	{ "[gateway]\nname = a\nname = b\n", 3, "duplicate key 'name'" },
	{ "[gateway]\ninclude = x.ini\n\ninclude = x.ini\n", 4,
	  "include 'x.ini' given twice (first at line 2)" },
	{ ROUTE "direction = both\ndirection = both\n", 9,
	  "duplicate key 'direction'" },
	{ "[gateway]\nname =\n", 2, "empty value for 'name'" },
	{ "[gateway]\nname = ; only a comment\n", 2, "empty value" },
	/* required keys (reported at the section header) */
	{ "[bus a]\nfd = yes\n", 1, "[bus a]: missing required key 'interface'" },
	{ "[bus a]\nfd = yes\n[bus b]\ninterface = x\n", 1,
	  "missing required key 'interface'" },
	{ BUSES "[route r]\nto = a\n", 5, "missing required key 'from'" },
	{ BUSES "[route r]\nfrom = a\n[evidence]\n", 5,
	  "missing required key 'to'" },
	/* bus names in routes */
	{ BUSES "[route r]\nfrom = a\nto = c\n", 7, "route 'r': unknown bus 'c'" },
	{ BUSES "[route r]\nfrom = x\nto = b\n", 6, "unknown bus 'x'" },
	{ BUSES "[route r]\nfrom = a\nto = a\n", 7, "same bus 'a'" },
	/* numbers */
	{ "[bus a]\ninterface = can0\nbitrate = 5OOOOO\n", 3,
	  "bad number '5OOOOO' for bitrate" },
	{ "[bus a]\ninterface = can0\nbitrate = -1\n", 3, "bad number '-1'" },
	{ "[bus a]\ninterface = can0\nbitrate = 4294967296\n", 3,
	  "bad number '4294967296'" },
	{ "[bus a]\ninterface = can0\nrestart_ms = 1.5\n", 3, "bad number '1.5'" },
	{ "[bus a]\ninterface = can0\ntxqueue_len = 0\n", 3,
	  "txqueue_len must be greater than 0" },
	{ "[gateway]\nwatchdog_ms = 0x\n", 2, "bad number '0x'" },
	{ "[evidence]\nblock_frames = 0\n", 2, "greater than 0" },
	{ "[evidence]\nsegment_mb = lots\n", 2, "bad number 'lots' for segment_mb" },
	{ "[evidence]\ntimestamps = ms\n", 2, "bad timestamps 'ms'" },
	{ "[evidence]\nauto_start = maybe\n", 2, "bad value 'maybe' for auto_start" },
	{ "[bus a]\ninterface = can0\nfd = 2\n", 3, "bad value '2' for fd" },
	/* interfaces */
	{ "[bus a]\ninterface = can0/1\n", 2, "bad interface 'can0/1'" },
	{ "[bus a]\ninterface = averyveryverylongname\n", 2, "bad interface" },
	{ "[bus a]\ninterface = replay:\n", 2, "replay: needs a log file path" },
	{ "[bus a]\ninterface = replay:x.log,speed=fast\n", 2,
	  "bad replay speed 'fast'" },
	{ "[bus a]\ninterface = replay:x.log,speed=-1\n", 2, "bad replay speed" },
	/* IDs */
	{ ROUTE "pass = 0x1G0\n", 8, "bad ID '0x1G0'" },
	{ ROUTE "pass = 100\n", 8, "pass: bad ID '100'" },
	{ ROUTE "pass = 0x100, 0x18FEF100\n", 8,
	  "ID '0x18FEF100' is above 0x7FF: add x" },
	{ ROUTE "block = 0x800\n", 8, "block: ID '0x800' is above 0x7FF" },
	{ ROUTE "pass = 0x20000000x\n", 8, "above 0x1FFFFFFF" },
	{ ROUTE "pass = 0x200-0x100\n", 8, "low end above its high end" },
	{ ROUTE "pass = 0x100-0x1FFx\n", 8, "mixes 11-bit and 29-bit" },
	{ ROUTE "pass = 0x100-\n", 8, "bad ID ''" },
	{ ROUTE "pass = 0x100, , 0x200\n", 8, "pass: empty entry in list" },
	{ ROUTE "pass = 0x100,\n", 8, "empty entry" },
	{ ROUTE "block = 0x300/0xFFF\n", 8, "mask '0xFFF' is wider than 11 bits" },
	{ ROUTE "block = 0x300/zz\n", 8, "bad mask 'zz'" },
	{ ROUTE "block = 0x300/0x700x\n", 8, "marked 29-bit" },
	{ ROUTE "pass = 0x1\npass = 0xZ\n", 9, "bad ID '0xZ'" },
	{ ROUTE "map = 0x120\n", 8, "map: bad entry '0x120'" },
	{ ROUTE "map = 0x120 -> 0x920\n", 8, "map: ID '0x920' is above 0x7FF" },
	{ ROUTE "map = nope -> 0x120\n", 8, "map: bad ID 'nope'" },
	{ ROUTE "map = 0x120 -> 0x520\nmap = 0x120 -> 0x521\n", 9,
	  "map: ID '0x120' is already mapped" },
	{ ROUTE "direction = both\nmap = 0x120 -> 0x520, 0x121 -> 0x520\n", 5,
	  "cannot be mapped back" },
	{ ROUTE "rate = 0x200\n", 8, "rate: bad entry '0x200'" },
	{ ROUTE "rate = 0x200 10 parsecs\n", 8, "bad period '10 parsecs'" },
	{ ROUTE "rate = 0x200 0ms\n", 8, "bad period '0ms'" },
	{ ROUTE "rate = 0x200 10\n", 8, "bad period '10'" },
	{ ROUTE "rate = 0x900 10ms\n", 8, "rate: ID '0x900' is above 0x7FF" },
	{ ROUTE "rate = 0x200 1ms, 0x200 2ms\n", 8, "already has a rate" },
	{ ROUTE "direction = sideways\n", 8, "bad direction 'sideways'" },
	/* line length: 197 bytes is the most inih holds without cutting */
	{ "[gateway]\nname = " LONG190 "a\n", 2, "line longer than 197 bytes" },
	{ "[gateway]\nuser = x\n\n; " LONG190 "aaaaaa\n", 4,
	  "line longer than 197 bytes" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct config_error err;
		struct config *cfg;
		char line[700];

		memset(&err, 0x55, sizeof(err));
		cfg = load_text(bads[i].ini, &err);
		config_error_format(&err, line, sizeof(line));
		if (cfg != NULL || err.line != bads[i].line ||
		    strstr(err.msg, bads[i].substr) == NULL ||
		    strchr(line, '\n') != NULL) {
			config_free(cfg);
			fail_msg("case %zu (%s): want line %u '%s', got %s", i,
				 bads[i].ini, bads[i].line, bads[i].substr,
				 cfg ? "success" : line);
		}
		assert_non_null(strstr(err.file, "/t.ini"));
		assert_int_equal(err.col, 0);
	}
}

/* 197 bytes pass; CRLF endings do not count against the limit. */
static void test_line_limit(void **state)
{
	struct config_error err;
	struct config *cfg;

	(void)state;
	/* "name = " (7) + 190 = 197 */
	cfg = load_text("[gateway]\nname = " LONG190, &err);
	assert_non_null(cfg);
	assert_int_equal(strlen(cfg->name), 190);
	config_free(cfg);
	cfg = load_text("[gateway]\r\nname = " LONG190 "\r\n", &err);
	assert_non_null(cfg);
	assert_int_equal(strlen(cfg->name), 190);
	config_free(cfg);
	/* no newline at the end of an over-long last line */
	cfg = load_text("[gateway]\nname = a" LONG190, &err);
	assert_null(cfg);
	assert_int_equal(err.line, 2);
	/* a 1 MB line is not read to its end, nor truncated */
	{
		size_t n = 1 << 20;
		char *big = malloc(n + 12);

		assert_non_null(big);
		memcpy(big, "[gateway]\n", 10);
		memset(big + 10, 'x', n);
		cfg = config_load(write_file_n("t.ini", big, n + 10), &err);
		free(big);
		assert_null(cfg);
		assert_int_equal(err.line, 2);
		assert_non_null(strstr(err.msg, "line longer than"));
	}
}

static void test_nul_bom_crlf(void **state)
{
	static const char nul[] = "[gateway]\nname = a\0b\n";
	struct config_error err;
	struct config *cfg;

	(void)state;
	cfg = config_load(write_file_n("t.ini", nul, sizeof(nul) - 1), &err);
	assert_null(cfg);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "NUL byte"));

	cfg = load_text("\xEF\xBB\xBF[gateway]\r\nname = x\r\n[bus a]\r\n"
			"interface = can0\r\n",
			&err);
	assert_non_null(cfg);
	assert_string_equal(cfg->name, "x");
	assert_string_equal(cfg->buses[0].interface, "can0");
	config_free(cfg);
}

/* Indented lines are not continuations (inih's default would make the
 * second line part of name's value). */
static void test_indentation(void **state)
{
	struct config_error err;
	struct config *cfg;

	(void)state;
	cfg = load_text("[gateway]\n  name = x\n    user = y\n\t[bus a]\n"
			"\tinterface = can0\n",
			&err);
	assert_non_null(cfg);
	assert_string_equal(cfg->name, "x");
	assert_string_equal(cfg->user, "y");
	assert_int_equal(cfg->n_buses, 1);
	config_free(cfg);
}

/* ------------------------------------------------------------ includes */

static void test_includes(void **state)
{
	struct config_error err;
	struct config *cfg;
	char want[PATH_MAX];
	const char *main_path;

	(void)state;
	write_file("rules/pack.ini", "; a rule pack\n"
				     "[signal speed]\n"
				     "source = ESP_21.VehSpd\n"
				     "\n"
				     "[rule speed-limit]\n"
				     "kind = range\n");
	write_file("rules/more.ini", "[rule other]\nkind = stale\n");
	main_path = write_file("cfg/main.ini",
			       "[gateway]\n"
			       "include = ../rules/pack.ini\n"
			       "include = ../rules/more.ini\n"
			       "[rule local]\n"
			       "kind = cycle\n");
	cfg = config_load(main_path, &err);
	if (cfg == NULL)
		fail_msg("%s:%u: %s", err.file, err.line, err.msg);
	assert_int_equal(cfg->n_includes, 2);
	snprintf(want, sizeof(want), "%s/cfg/../rules/pack.ini", tmpdir);
	assert_string_equal(cfg->includes[0], want);
	assert_int_equal(cfg->n_signals, 1);
	assert_string_equal(cfg->signals[0].file, want);
	assert_int_equal(cfg->signals[0].line, 2);
	assert_int_equal(cfg->signals[0].kv[0].line, 3);
	assert_int_equal(cfg->n_rules, 3);
	assert_string_equal(cfg->rules[0].name, "local");
	assert_string_equal(cfg->rules[0].file, main_path);
	assert_string_equal(cfg->rules[1].name, "speed-limit");
	assert_int_equal(cfg->rules[1].line, 5);
	assert_string_equal(cfg->rules[2].name, "other");
	config_free(cfg);
}

struct bad_include {
	const char *pack;
	const char *err_file; /* suffix of err.file */
	unsigned line;
	const char *substr;
};

static const struct bad_include bad_includes[] = {
	{ "[rule a]\nkind = x\n[bus b]\ninterface = can0\n", "/pack.ini", 3,
	  "section [bus b] is not allowed in an included file" },
	{ "[gateway]\n", "/pack.ini", 1, "[gateway] is not allowed" },
	{ "[evidence]\n", "/pack.ini", 1, "[evidence] is not allowed" },
	{ "[route r]\n", "/pack.ini", 1, "[route r] is not allowed" },
	{ "[rule local]\nkind = x\n", "/pack.ini", 1,
	  "duplicate section [rule local] (first at " },
	{ "kind = x\n", "/pack.ini", 1, "outside any section" },
	{ "[signal s]\nsource = " LONG190, "/pack.ini", 2, "line longer" },
	{ NULL, "/main.ini", 2, "cannot read include '" },
};

static void test_bad_includes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_includes) / sizeof(bad_includes[0]);
	     i++) {
		const struct bad_include *b = &bad_includes[i];
		struct config_error err;
		struct config *cfg;
		const char *main_path;
		size_t fl;

		unlink(write_file("inc/pack.ini", ""));
		if (b->pack)
			write_file("inc/pack.ini", b->pack);
		main_path = write_file("inc/main.ini",
				       "[gateway]\ninclude = pack.ini\n"
				       "[rule local]\nkind = y\n");
		cfg = config_load(main_path, &err);
		if (cfg) {
			config_free(cfg);
			fail_msg("include case %zu loaded", i);
		}
		fl = strlen(err.file);
		if (err.line != b->line || strstr(err.msg, b->substr) == NULL ||
		    fl < strlen(b->err_file) ||
		    strcmp(err.file + fl - strlen(b->err_file), b->err_file))
			fail_msg("include case %zu: %s:%u: %s", i, err.file,
				 err.line, err.msg);
	}
}

/* A directory is not a config, and a missing file names itself. */
static void test_unreadable(void **state)
{
	struct config_error err;
	struct config *cfg;
	char line[700];

	(void)state;
	cfg = config_load(tmpdir, &err);
	assert_null(cfg);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_null(config_load(NULL, &err));
	assert_non_null(strstr(err.msg, "no config file"));
	assert_null(config_load_buffer(NULL, "", 0, NULL));
	cfg = config_load("/nonexistent/x.ini", &err);
	assert_null(cfg);
	config_error_format(&err, line, sizeof(line));
	assert_string_equal(line,
			    "/nonexistent/x.ini: cannot read: No such file or "
			    "directory");
}

/* A FIFO (or device) as the config, an include or a DBC is refused at once:
 * opening one for reading would block until a writer comes (a HUP reload
 * froze the daemon's loop that way). alarm() turns a hang into a failure. */
static void test_fifo_inputs(void **state)
{
	struct config_error err;
	struct config *cfg;
	char fifo[128], ini[128], text[512];
	FILE *fp;

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	snprintf(ini, sizeof(ini), "%s/main.ini", tmpdir);
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	cfg = config_load(fifo, &err);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "not a regular file"));
	snprintf(text, sizeof(text), "[gateway]\ninclude = %s\n", fifo);
	fp = fopen(ini, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	cfg = config_load(ini, &err);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "cannot read include"));
	assert_non_null(strstr(err.msg, "not a regular file"));
	snprintf(text, sizeof(text),
		 "[gateway]\n[bus a]\ninterface = null\ndbc = %s\n", fifo);
	fp = fopen(ini, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	cfg = config_load(ini, &err);
	assert_non_null(cfg);
	assert_int_equal(config_load_dbcs(cfg, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	config_free(cfg);
	alarm(0);
	unlink(fifo);
	unlink(ini);
}

/* The signing key is read once (the daemon does it as root, before it drops
 * privileges) and carried over to a reloaded config naming the same file,
 * which the unprivileged daemon could not read again. */
static void test_sign_key(void **state)
{
	struct config_error err;
	struct config *old, *cfg;
	char key[129], text[256], path[128];

	(void)state;
	for (int i = 0; i < 128; i++)
		key[i] = "0123456789abcdef"[i % 16];
	key[128] = '\0';
	write_file_n("sk.key", key, 128);
	snprintf(path, sizeof(path), "%s/sk.key", tmpdir);
	snprintf(text, sizeof(text),
		 "[gateway]\n[evidence]\ndir = /tmp\nsign_key = %s\n", path);
	write_file_n("signed.ini", text, strlen(text));
	snprintf(path, sizeof(path), "%s/signed.ini", tmpdir);
	old = config_load(path, &err);
	assert_non_null(old);
	assert_false(old->evidence.sign_sk_loaded);
	assert_int_equal(config_load_sign_key(old, NULL, &err), 0);
	assert_true(old->evidence.sign_sk_loaded);
	assert_int_equal(old->evidence.sign_sk[0], 0x01);
	assert_int_equal(old->evidence.sign_sk[63], 0xef);
	/* the key file is out of reach now (as for the dropped user) */
	snprintf(text, sizeof(text), "%s/sk.key", tmpdir);
	assert_int_equal(unlink(text), 0);
	cfg = config_load(path, &err);
	assert_non_null(cfg);
	assert_int_equal(config_load_sign_key(cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "sign_key: "));
	assert_int_equal(config_load_sign_key(cfg, old, &err), 0);
	assert_memory_equal(cfg->evidence.sign_sk, old->evidence.sign_sk, 64);
	config_free(cfg);
	config_free(old);
}

/* Relative paths resolve against the naming file's directory; a bare file
 * name (config in the working directory) keeps them relative. */
static void test_paths(void **state)
{
	struct config_error err;
	struct config *cfg;
	static const char comma[] =
		"[bus a]\ninterface = replay:/a,b.log,speed=0\n";
	static const char text[] = "[bus a]\ninterface = replay:l/x.log\n"
				   "dbc = d.dbc\n[evidence]\ndir = /var/s\n";

	(void)state;
	cfg = config_load_buffer("conf/main.ini", text, sizeof(text) - 1, &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->buses[0].replay_path, "conf/l/x.log");
	assert_true(cfg->buses[0].replay_speed == 1);
	assert_string_equal(cfg->buses[0].dbc_paths[0], "conf/d.dbc");
	assert_string_equal(cfg->evidence.dir, "/var/s");
	config_free(cfg);
	cfg = config_load_buffer("main.ini", text, sizeof(text) - 1, &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->buses[0].dbc_paths[0], "d.dbc");
	config_free(cfg);
	cfg = config_load_buffer("/main.ini", text, sizeof(text) - 1, &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->buses[0].dbc_paths[0], "/d.dbc");
	config_free(cfg);
	/* speed=0 is "as fast as possible"; a comma in the path is kept */
	cfg = config_load_buffer("m.ini", comma, strlen(comma), &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->buses[0].replay_path, "/a,b.log");
	assert_true(cfg->buses[0].replay_speed == 0);
	config_free(cfg);
	/* buffers need no NUL: the length is the end */
	cfg = config_load_buffer("m.ini", "[bus a]\ninterface = can0XYZ", 24,
				 &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->buses[0].interface, "can0");
	config_free(cfg);
}

/* ------------------------------------------------------------------ DBCs */

static void test_dbc_errors(void **state)
{
	struct config_error err;
	struct config *cfg;
	char line[700], want[PATH_MAX + 64];

	(void)state;
	write_file("d/bad.dbc", "VERSION \"\"\n\nBO_ 123 Msg: 8 Node\n"
				" SG_ Sig : 0|8@1+ (1,0) [0|0] \"\" Vector__XXX\n"
				"BO_ oops\n");
	cfg = load_text("[bus a]\ninterface = can0\ndbc = d/bad.dbc\n", &err);
	assert_non_null(cfg);
	assert_int_equal(config_load_dbcs(cfg, &err), -1);
	config_error_format(&err, line, sizeof(line));
	snprintf(want, sizeof(want), "%s/d/bad.dbc:", tmpdir);
	if (strncmp(line, want, strlen(want)) != 0)
		fail_msg("got %s", line);
	snprintf(want, sizeof(want), "(dbc named at %s/t.ini:3)", tmpdir);
	assert_non_null(strstr(line, want));
	assert_int_equal(err.line, 5); /* dbcfile:line:col of the bad BO_ */
	assert_true(err.col > 0);
	assert_null(cfg->buses[0].dbcs);
	config_free(cfg);

	/* the good DBC is loaded, in order, for each bus */
	write_file("d/good.dbc", "VERSION \"\"\n\nBO_ 291 ESP_21: 8 ESP\n"
				 " SG_ VehSpd : 0|16@1+ (0.01,0) [0|655.35] "
				 "\"km/h\" BCM\n");
	cfg = load_text("[bus a]\ninterface = can0\ndbc = d/good.dbc\n"
			"[bus b]\ninterface = can1\ndbc = d/good.dbc\n"
			"dbc = d/good.dbc\n",
			&err);
	assert_non_null(cfg);
	if (config_load_dbcs(cfg, &err) < 0)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_non_null(cfg->buses[0].dbcs[0]);
	assert_non_null(cfg->buses[1].dbcs[1]);
	assert_int_equal(cfg->buses[1].dbcs[1]->n_messages, 1);
	assert_string_equal(cfg->buses[1].dbcs[1]->messages[0].name, "ESP_21");
	config_free(cfg);

	/* missing DBC file */
	cfg = load_text("[bus a]\ninterface = can0\n\ndbc = nope.dbc\n", &err);
	assert_non_null(cfg);
	assert_int_equal(config_load_dbcs(cfg, &err), -1);
	assert_non_null(strstr(err.file, "/nope.dbc"));
	assert_non_null(strstr(err.msg, "t.ini:4)"));
	config_free(cfg);

	/* no DBCs: nothing to do */
	cfg = load_text("[bus a]\ninterface = can0\n", &err);
	assert_int_equal(config_load_dbcs(cfg, &err), 0);
	config_free(cfg);
}

/* --------------------------------------------------------- value parsers */

static void test_parse_u32(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t v;
	} v[] = {
		{ "0", 0, 0 },		  { "42", 0, 42 },
		{ "4294967295", 0, UINT32_MAX }, { "0x10", 0, 16 },
		{ "0XfF", 0, 255 },	  { "0xFFFFFFFF", 0, UINT32_MAX },
		{ "4294967296", -1, 0 },  { "0x100000000", -1, 0 },
		{ "", -1, 0 },		  { "0x", -1, 0 },
		{ "-1", -1, 0 },	  { "+1", -1, 0 },
		{ " 1", -1, 0 },	  { "1 ", -1, 0 },
		{ "1.0", -1, 0 },	  { "12a", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t out = 7;

		if (config_parse_u32(v[i].s, &out) != v[i].rc)
			fail_msg("u32 '%s'", v[i].s);
		if (v[i].rc == 0)
			assert_int_equal(out, v[i].v);
	}
}

static void test_parse_bool_double(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "on", "1" };
	static const char *const no[] = { "no", "False", "off", "0" };
	static const char *const bad[] = { "", "y", "2", "yess", "nah" };
	bool b;
	double d;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		b = false;
		assert_int_equal(config_parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(config_parse_bool(bad[i], &b), -1);
	}
	for (size_t i = 0; i < 4; i++) {
		b = true;
		assert_int_equal(config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	assert_int_equal(config_parse_double("2.5", &d), 0);
	assert_true(d == 2.5);
	assert_int_equal(config_parse_double("-1e3", &d), 0);
	assert_true(d == -1000);
	assert_int_equal(config_parse_double("1e999", &d), -1);
	assert_int_equal(config_parse_double("nan", &d), -1);
	assert_int_equal(config_parse_double("inf", &d), -1);
	assert_int_equal(config_parse_double("", &d), -1);
	assert_int_equal(config_parse_double("1.5x", &d), -1);
	assert_int_equal(config_parse_double(" 1", &d), -1);
}

static void test_parse_id(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t id;
		bool ext;
		const char *msg;
	} v[] = {
		{ "0x0", 0, 0, false, NULL },
		{ "0x7FF", 0, 0x7FF, false, NULL },
		{ "0x7ffx", 0, 0x7FF, true, NULL },
		{ "0x1x", 0, 1, true, NULL },
		{ "0x18FEF100x", 0, 0x18FEF100, true, NULL },
		{ "0x1FFFFFFFX", 0, 0x1FFFFFFF, true, NULL },
		{ "0x800", -1, 0, false, "add x for a 29-bit ID (0x800x)" },
		{ "0x20000000x", -1, 0, false, "above 0x1FFFFFFF" },
		{ "0x", -1, 0, false, "bad ID '0x'" },
		{ "0xx", -1, 0, false, "bad ID '0xx'" },
		{ "123", -1, 0, false, "bad ID '123'" },
		{ "", -1, 0, false, "bad ID ''" },
		{ "0x12 3", -1, 0, false, "bad ID" },
		{ "0x1FFFFFFFFFx", -1, 0, false, "bad ID" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char msg[200] = "";
		uint32_t id = 99;
		bool ext = false;
		int rc = config_parse_id(v[i].s, &id, &ext, msg, sizeof(msg));

		if (rc != v[i].rc)
			fail_msg("id '%s': rc %d (%s)", v[i].s, rc, msg);
		if (rc == 0) {
			assert_int_equal(id, v[i].id);
			assert_int_equal(ext, v[i].ext);
		} else if (strstr(msg, v[i].msg) == NULL) {
			fail_msg("id '%s': %s", v[i].s, msg);
		}
	}
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t ns;
	} v[] = {
		{ "10ms", 0, 10000000 },      { "10 ms", 0, 10000000 },
		{ "250us", 0, 250000 },	      { "2s", 0, 2000000000 },
		{ "0ms", 0, 0 },	      { "7ns", 0, 7 },
		{ "10", -1, 0 },	      { "ms", -1, 0 },
		{ "1.5ms", -1, 0 },	      { "-1ms", -1, 0 },
		{ "10min", -1, 0 },	      { "", -1, 0 },
		{ "99999999999999999s", -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t ns = 1;

		if (config_parse_duration_ns(v[i].s, &ns) != v[i].rc)
			fail_msg("duration '%s'", v[i].s);
		if (v[i].rc == 0)
			assert_int_equal(ns, v[i].ns);
	}
}

static void test_error_format(void **state)
{
	struct config_error e;
	char buf[600];

	(void)state;
	assert_int_equal(config_errorf(&e, "a.ini", 3, "bad %s", "x"), -1);
	config_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "a.ini:3: bad x");
	e.col = 7;
	config_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "a.ini:3:7: bad x");
	config_errorf(&e, "a.ini", 0, "no line");
	config_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "a.ini: no line");
	config_errorf(&e, NULL, 0, "bare");
	config_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "bare");
	config_error_format(&e, buf, 3);
	assert_string_equal(buf, "ba");
	assert_int_equal(config_errorf(NULL, "x", 1, "y"), -1);
}

/* The example config in tests/fixtures/config/ loads (read from the source
 * tree: unit tests run from the repository root). */
static void test_fixture(void **state)
{
	struct config_error err;
	struct config *cfg;

	(void)state;
	cfg = config_load("tests/fixtures/config/gateway.ini", &err);
	if (cfg == NULL)
		fail_msg("%s:%u: %s", err.file, err.line, err.msg);
	assert_int_equal(cfg->n_buses, 2);
	assert_int_equal(cfg->n_routes, 2);
	assert_int_equal(cfg->n_includes, 1);
	assert_true(cfg->n_rules >= 1);
	assert_string_equal(cfg->buses[0].dbc_paths[0],
			    "tests/fixtures/config/demo.dbc");
	if (config_load_dbcs(cfg, &err) < 0)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_non_null(dbc_message_by_name(cfg->buses[0].dbcs[0], "ESP_21"));
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_nul_bom_crlf),
		cmocka_unit_test(test_indentation),
		cmocka_unit_test(test_includes),
		cmocka_unit_test(test_bad_includes),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_fifo_inputs),
		cmocka_unit_test(test_sign_key),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_dbc_errors),
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_parse_bool_double),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_fixture),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
