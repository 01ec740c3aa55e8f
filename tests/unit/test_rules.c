/* test_rules: each rule kind on hand-built frame sequences, verdicts,
 * compile errors with file:line:col, and live/offline determinism. */
#include <inttypes.h>
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

#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/rules.h"

#define MS 1000000ull
#define T0 (1000ull * 1000 * MS) /* frames start at t = 1000 s */

static const char dbc_text[] =
	"VERSION \"\"\n"
	"NS_ :\n"
	"BS_:\n"
	"BU_: ECU\n"
	"BO_ 257 ESP_21: 8 ECU\n"
	" SG_ VehSpd : 0|16@1+ (0.1,0) [0|400] \"km/h\" ECU\n"
	"BO_ 258 Gear: 8 ECU\n"
	" SG_ Position : 0|8@1+ (1,0) [0|3] \"\" ECU\n"
	"BO_ 259 AVAS: 8 ECU\n"
	" SG_ Cmd : 0|8@1+ (1,0) [0|1] \"\" ECU\n"
	"BO_ 260 TPMS: 8 ECU\n"
	" SG_ Low : 0|1@1+ (1,0) [0|1] \"\" ECU\n"
	" SG_ Lamp : 8|1@1+ (1,0) [0|1] \"\" ECU\n"
	"BO_ 261 MUX: 8 ECU\n"
	" SG_ Sel M : 0|8@1+ (1,0) [0|255] \"\" ECU\n"
	" SG_ A m1 : 8|8@1+ (1,0) [0|255] \"\" ECU\n"
	" SG_ B m2 : 8|8@1+ (1,0) [0|255] \"\" ECU\n"
	"BO_ 2566844672 EXT: 8 ECU\n"
	" SG_ Temp : 0|8@1+ (1,-40) [-40|215] \"degC\" ECU\n"
	"BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\n"
	"BA_DEF_DEF_ \"GenMsgCycleTime\" 0;\n"
	"BA_ \"GenMsgCycleTime\" BO_ 257 20;\n"
	"VAL_ 258 Position 0 \"P\" 1 \"R\" 2 \"N\" 3 \"D\" ;\n";

#define HEADER_LINES 6
static const char header[] =
	"[gateway]\n"
	"name = test\n"
	"[bus vehicle]\n"
	"interface = vcan0\n"
	"dbc = v.dbc\n"
	"\n";

enum { ESP = 257, GEAR = 258, AVAS = 259, TPMS = 260, MUX = 261 };
#define EXT_ID 0x18FEF100u /* 2566844672 without the extended flag bit */

struct world {
	char dir[64];
	char ini[128];
	struct config *cfg;
	struct rules *r;
	char *ends;
	size_t ends_len;
	char *starts;
	size_t starts_len;
	int n_starts, n_ends;
	uint64_t line;
	/* ticking pattern between frames: 0 none, else step in ns */
	uint64_t tick_step;
	bool tick_deadlines;
	bool ns_jitter;         /* add sub-microsecond parts to frame times */
	uint64_t last_t;
	char events[1024];      /* engine events, "t type fields" lines */
};

/* The [bus vehicle] section's extra keys for the next world_load(). */
static const char *bus_extra = "";

static void append(char **buf, size_t *len, const char *json)
{
	size_t n = strlen(json);
	char *p = realloc(*buf, *len + n + 2);

	assert_non_null(p);
	memcpy(p + *len, json, n);
	p[*len + n] = '\n';
	p[*len + n + 1] = '\0';
	*buf = p;
	*len += n + 1;
}

static void on_start(void *ctx, const char *rule, const char *json)
{
	struct world *w = ctx;

	(void)rule;
	append(&w->starts, &w->starts_len, json);
	w->n_starts++;
}

static void on_end(void *ctx, const char *rule, const char *json)
{
	struct world *w = ctx;

	(void)rule;
	append(&w->ends, &w->ends_len, json);
	w->n_ends++;
}

static void on_event(void *ctx, uint64_t t_ns, const char *type,
		     const char *fields)
{
	struct world *w = ctx;
	size_t n = strlen(w->events);

	snprintf(w->events + n, sizeof(w->events) - n, "%" PRIu64 " %s %s\n",
		 (uint64_t)((t_ns - T0) / 1000), type, fields);
}

static void write_file(const char *path, const char *a, const char *b)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(a, fp);
	if (b)
		fputs(b, fp);
	fclose(fp);
}

/* Load header + rules; returns 0, or -1 with *err (the world is then
 * without rules). */
static int world_load(struct world *w, const char *rules_ini,
		      struct config_error *err)
{
	char path[160];
	struct rules_sink sink = { .violation_start = on_start,
				   .violation_end = on_end, .ctx = w,
				   .event = on_event };
	char head[512];

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/test_rules.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(path, sizeof(path), "%s/v.dbc", w->dir);
	write_file(path, dbc_text, NULL);
	snprintf(w->ini, sizeof(w->ini), "%s/c.ini", w->dir);
	snprintf(head, sizeof(head), "%.*s%s\n", (int)(sizeof(header) - 2),
		 header, bus_extra);
	write_file(w->ini, head, rules_ini);
	w->cfg = config_load(w->ini, err);
	if (!w->cfg)
		fail_msg("config_load: %s:%u: %s", err->file, err->line,
			 err->msg);
	if (config_load_dbcs(w->cfg, err) < 0)
		fail_msg("dbc: %s:%u: %s", err->file, err->line, err->msg);
	w->starts = calloc(1, 1);
	w->ends = calloc(1, 1);
	assert_non_null(w->starts);
	assert_non_null(w->ends);
	w->r = rules_compile(w->cfg, &sink, err);
	return w->r ? 0 : -1;
}

static void world_free(struct world *w)
{
	char path[160];

	rules_free(w->r);
	config_free(w->cfg);
	free(w->starts);
	free(w->ends);
	snprintf(path, sizeof(path), "%s/v.dbc", w->dir);
	unlink(path);
	unlink(w->ini);
	rmdir(w->dir);
}

static void load_ok(struct world *w, const char *rules_ini)
{
	struct config_error err;

	if (world_load(w, rules_ini, &err) < 0)
		fail_msg("rules_compile: %s:%u:%u: %s", err.file, err.line,
			 err.col, err.msg);
}

/* Advance the daemon-style clock to t: ticks every tick_step and/or at
 * each deadline, as a live timer would. */
static void advance(struct world *w, uint64_t t)
{
	if (w->tick_deadlines)
		while (rules_next_deadline(w->r) < t) {
			uint64_t d = rules_next_deadline(w->r);

			rules_tick(w->r, d);
			/* a deadline that a tick at it does not run would spin
			 * a live daemon's timer */
			if (rules_next_deadline(w->r) <= d)
				fail_msg("deadline %" PRIu64 " not run", d);
		}
	if (w->tick_step) {
		uint64_t k = w->last_t - w->last_t % w->tick_step;

		for (k += w->tick_step; k < t; k += w->tick_step)
			rules_tick(w->r, k);
	}
	if (t > w->last_t)
		w->last_t = t;
}

/* A frame at T0 + ms with up to 8 payload bytes. */
static void feed(struct world *w, double ms, uint32_t id, int n, ...)
{
	struct frame f;
	va_list ap;

	memset(&f, 0, sizeof(f));
	f.t_ns = T0 + (uint64_t)llround(ms * 1e6);
	if (w->ns_jitter)
		f.t_ns += (w->line * 37) % 1000;
	f.id = id;
	f.len = 8;
	f.dir = FRAME_DIR_RX;
	va_start(ap, n);
	for (int i = 0; i < n && i < 8; i++)
		f.data[i] = (uint8_t)va_arg(ap, int);
	va_end(ap);
	advance(w, f.t_ns);
	rules_frame(w->r, 0, &f, ++w->line);
}

static void speed(struct world *w, double ms, double kmh)
{
	unsigned raw = (unsigned)llround(kmh * 10);

	feed(w, ms, ESP, 2, raw & 0xFF, raw >> 8);
}

static void finish(struct world *w, double ms)
{
	uint64_t t = T0 + (uint64_t)llround(ms * 1e6);

	advance(w, t);
	rules_finish(w->r, t);
}

static enum rules_verdict verdict(struct world *w, const char *name)
{
	for (size_t i = 0; i < rules_count(w->r); i++)
		if (strcmp(rules_name(w->r, i), name) == 0)
			return rules_verdict(w->r, i);
	fail_msg("no rule %s", name);
	return VERDICT_FAIL;
}

#define assert_verdict(w, name, v)                                             \
	assert_string_equal(rules_verdict_name(verdict(w, name)),              \
			    rules_verdict_name(v))

/* ------------------------------------------------------------- kinds */

static void test_range(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule speed-max]\n"
		    "ref = TP-1\n"
		    "kind = range\n"
		    "signal = ESP_21.VehSpd\n"
		    "min = 0\n"
		    "max = 180\n"
		    "severity = high\n");
	speed(&w, 0, 100);
	speed(&w, 10, 150);
	speed(&w, 20, 190);
	speed(&w, 30, 185);
	speed(&w, 40, 170);
	finish(&w, 50);
	assert_string_equal(w.starts,
		"{\"rule\":\"speed-max\",\"ref\":\"TP-1\",\"kind\":\"range\","
		"\"severity\":\"high\",\"t_start\":1000.020000,\"t_end\":null,"
		"\"worst\":190,\"margin\":-10,\"lines\":[3,3],"
		"\"msg\":\"190 above max 180\"}\n");
	assert_string_equal(w.ends,
		"{\"rule\":\"speed-max\",\"ref\":\"TP-1\",\"kind\":\"range\","
		"\"severity\":\"high\",\"t_start\":1000.020000,"
		"\"t_end\":1000.040000,\"worst\":190,\"margin\":-10,"
		"\"lines\":[3,5],\"msg\":\"190 above max 180\"}\n");
	assert_verdict(&w, "speed-max", VERDICT_FAIL);
	assert_int_equal(rules_violations(w.r, 0), 1);
	world_free(&w);
}

static void test_range_when(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule reverse-speed]\n"
		    "ref = TP-2\n"
		    "kind = range\n"
		    "signal = ESP_21.VehSpd\n"
		    "max = 10\n"
		    "when = Gear.Position == \"R\"\n"
		    "[rule fwd-speed]\n"
		    "ref = TP-3\n"
		    "kind = range\n"
		    "signal = ESP_21.VehSpd\n"
		    "max = 100\n"
		    "when = Gear.Position == \"D\"\n");
	feed(&w, 0, GEAR, 1, 3);
	speed(&w, 10, 50);
	speed(&w, 20, 60);
	finish(&w, 30);
	assert_verdict(&w, "reverse-speed", VERDICT_NOT_EXERCISED);
	assert_verdict(&w, "fwd-speed", VERDICT_PASS);
	assert_int_equal(w.n_ends, 0);
	world_free(&w);
}

static const char implies_rule[] =
	"[rule avas]\n"
	"ref = CMVSS 141 (proxy: alert commanded)\n"
	"kind = implies\n"
	"when = ESP_21.VehSpd < 30 && Gear.Position != \"P\"\n"
	"expect = AVAS.Cmd == 1\n"
	"settle_ms = 500\n";

/* The same rule with its duration in the unit form. */
static const char implies_rule_unit[] =
	"[rule avas]\n"
	"ref = CMVSS 141 (proxy: alert commanded)\n"
	"kind = implies\n"
	"when = ESP_21.VehSpd < 30 && Gear.Position != \"P\"\n"
	"expect = AVAS.Cmd == 1\n"
	"settle = 500000us\n";

static void test_implies_settle_deadline(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, *state ? implies_rule_unit : implies_rule);
	feed(&w, 0, GEAR, 1, 3);
	speed(&w, 10, 20);
	feed(&w, 20, AVAS, 1, 0);
	/* the deadline is known without any further frame */
	assert_int_equal(rules_next_deadline(w.r), T0 + 510 * MS + 1000);
	rules_tick(w.r, T0 + 510 * MS); /* at the limit: still in time */
	assert_int_equal(w.n_starts, 0);
	rules_tick(w.r, T0 + 600 * MS);
	assert_int_equal(w.n_starts, 1);
	assert_non_null(strstr(w.starts, "\"t_start\":1000.510000,"
					 "\"t_end\":null,\"worst\":0,"
					 "\"margin\":-1,\"lines\":[3,3]"));
	feed(&w, 700, AVAS, 1, 1);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"t_start\":1000.510000,"
				       "\"t_end\":1000.700000,\"worst\":0,"
				       "\"margin\":-1,\"lines\":[3,4],"
				       "\"msg\":\"expect false: AVAS.Cmd == 1\""));
	finish(&w, 800);
	assert_verdict(&w, "avas", VERDICT_FAIL);
	world_free(&w);
}

static void test_implies_settles_in_time(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, implies_rule);
	feed(&w, 0, GEAR, 1, 3);
	speed(&w, 10, 20);
	feed(&w, 20, AVAS, 1, 0);
	feed(&w, 510, AVAS, 1, 1); /* exactly at the limit: on time */
	speed(&w, 600, 25);
	feed(&w, 700, AVAS, 1, 1);
	speed(&w, 800, 40); /* when ends */
	feed(&w, 900, AVAS, 1, 0);
	finish(&w, 1000);
	assert_int_equal(w.n_starts, 0);
	assert_verdict(&w, "avas", VERDICT_PASS);
	world_free(&w);
}

static void test_implies_debounce(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule d]\n"
		    "ref = x\n"
		    "kind = implies\n"
		    "when = ESP_21.VehSpd < 30\n"
		    "expect = AVAS.Cmd == 1\n"
		    "debounce_ms = 100\n");
	feed(&w, 0, AVAS, 1, 0);
	speed(&w, 10, 20);
	speed(&w, 60, 20);
	speed(&w, 109, 50); /* 99 ms: never debounced */
	speed(&w, 200, 20);
	speed(&w, 250, 20);
	speed(&w, 299, 40);
	finish(&w, 400);
	assert_int_equal(w.n_starts, 0);
	assert_verdict(&w, "d", VERDICT_NOT_EXERCISED);
	world_free(&w);

	/* held long enough: violation from the debounce deadline */
	load_ok(&w, "[rule d]\n"
		    "ref = x\n"
		    "kind = implies\n"
		    "when = ESP_21.VehSpd < 30\n"
		    "expect = AVAS.Cmd == 1\n"
		    "debounce_ms = 100\n");
	feed(&w, 0, AVAS, 1, 0);
	speed(&w, 10, 20);
	speed(&w, 150, 50);
	finish(&w, 400);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"t_start\":1000.110000,"
				       "\"t_end\":1000.150000,"));
	world_free(&w);
}

static const char response_rule[] =
	"[rule tpms]\n"
	"ref = FMVSS 138 S4.2\n"
	"kind = response\n"
	"trigger = TPMS.Low == 1\n"
	"expect = TPMS.Lamp == 1\n"
	"within_ms = 500\n";

static void test_response_time(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, response_rule);
	feed(&w, 0, TPMS, 2, 0, 0);
	feed(&w, 1000, TPMS, 2, 1, 0);
	feed(&w, 1400, TPMS, 2, 1, 1);
	feed(&w, 1500, TPMS, 2, 0, 1);
	finish(&w, 2000);
	assert_int_equal(w.n_starts, 0);
	assert_verdict(&w, "tpms", VERDICT_PASS);
	world_free(&w);

	/* no response: found by the deadline alone, 1 us after the limit */
	load_ok(&w, response_rule);
	feed(&w, 0, TPMS, 2, 0, 0);
	feed(&w, 1000, TPMS, 2, 1, 0);
	assert_int_equal(rules_next_deadline(w.r), T0 + 1500 * MS + 1000);
	rules_tick(w.r, T0 + 1500 * MS);
	assert_int_equal(w.n_starts, 0);
	rules_tick(w.r, T0 + 1600 * MS);
	assert_int_equal(w.n_starts, 1);
	assert_non_null(strstr(w.starts, "\"t_start\":1001.500000,"));
	finish(&w, 2000);
	assert_non_null(strstr(w.ends, "\"t_start\":1001.500000,"
				       "\"t_end\":1002.000000,\"worst\":1000,"
				       "\"margin\":-500,\"lines\":[2,2],"
				       "\"msg\":\"no response within 500 ms "
				       "(1000 ms)\""));
	assert_verdict(&w, "tpms", VERDICT_FAIL);
	world_free(&w);

	/* session ends inside the window: undecided */
	load_ok(&w, response_rule);
	feed(&w, 0, TPMS, 2, 0, 0);
	feed(&w, 1000, TPMS, 2, 1, 0);
	finish(&w, 1200);
	assert_verdict(&w, "tpms", VERDICT_INCONCLUSIVE);
	world_free(&w);
}

static void test_response_accumulate(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule tpms]\n"
		    "ref = FMVSS 138 S4.2(b)\n"
		    "kind = response\n"
		    "trigger = TPMS.Low == 1\n"
		    "expect = TPMS.Lamp == 1\n"
		    "within_ms = 1000\n"
		    "clock = accumulate(between(ESP_21.VehSpd, 50, 100))\n");
	speed(&w, 0, 60);
	feed(&w, 0, TPMS, 2, 1, 0); /* armed, clock running */
	speed(&w, 400, 20);          /* 400 ms counted, clock stops */
	assert_int_equal(rules_next_deadline(w.r), UINT64_MAX);
	speed(&w, 2000, 60);         /* runs again: 600 ms left */
	assert_int_equal(rules_next_deadline(w.r), T0 + 2600 * MS + 1000);
	finish(&w, 3000);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"t_start\":1002.600000,"
				       "\"t_end\":1003.000000,\"worst\":1400,"
				       "\"margin\":-400,"));
	world_free(&w);

	/* expect missing while the clock runs: the window still has its
	 * deadline, as with clock = time, and runs out at the limit */
	load_ok(&w, "[rule tpms]\n"
		    "ref = FMVSS 138 S4.2(b)\n"
		    "kind = response\n"
		    "trigger = TPMS.Low == 1\n"
		    "expect = AVAS.Cmd == 1\n"
		    "within_ms = 1000\n"
		    "clock = accumulate(between(ESP_21.VehSpd, 50, 100))\n");
	speed(&w, 0, 60);
	feed(&w, 0, TPMS, 2, 1, 0); /* armed, clock running, AVAS missing */
	speed(&w, 100, 60);          /* evaluated again, still missing */
	assert_int_equal(rules_next_deadline(w.r), T0 + 1000 * MS + 1000);
	finish(&w, 1500);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"t_start\":1001.000000,"
				       "\"t_end\":1001.500000,"));
	assert_verdict(&w, "tpms", VERDICT_FAIL);
	world_free(&w);
}

static void test_cycle(void **state)
{
	struct world w;
	const char *second;

	(void)state;
	load_ok(&w, "[rule esp-cycle]\n"
		    "ref = DBC GenMsgCycleTime\n"
		    "kind = cycle\n"
		    "message = ESP_21\n");
	speed(&w, 0, 1);
	speed(&w, 20, 1);
	speed(&w, 40, 1);
	speed(&w, 75, 1);  /* 35 ms: too late */
	speed(&w, 95, 1);
	speed(&w, 100, 1); /* 5 ms: too early */
	speed(&w, 105, 1); /* and again: same violation */
	speed(&w, 125, 1);
	speed(&w, 145, 1); /* then it stops */
	finish(&w, 300);
	assert_int_equal(w.n_ends, 3);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.040000,\"t_end\":1000.075000,\"worst\":35,"
		"\"margin\":-13,\"lines\":[3,4],"
		"\"msg\":\"interval 35 ms outside 18..22 ms\""));
	second = strstr(w.ends, "\"t_start\":1000.095000,\"t_end\":1000.105000,"
				"\"worst\":5,\"margin\":-13,\"lines\":[5,7]");
	assert_non_null(second);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.145000,\"t_end\":1000.300000,\"worst\":155,"
		"\"margin\":-133,\"lines\":[9,9]"));
	assert_verdict(&w, "esp-cycle", VERDICT_FAIL);
	world_free(&w);
}

static void test_stale_kind(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule esp-alive]\n"
		    "ref = x\n"
		    "kind = stale\n"
		    "message = ESP_21\n"
		    "max_age_ms = 100\n"
		    "[rule gear-alive]\n"
		    "ref = x\n"
		    "kind = stale\n"
		    "signal = Gear.Position\n"
		    "max_age_ms = 100\n");
	for (int k = 0; k <= 20; k++)
		speed(&w, k * 10, 1);
	speed(&w, 500, 1);
	speed(&w, 510, 1);
	finish(&w, 520);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.300000,\"t_end\":1000.500000,\"worst\":300,"
		"\"margin\":-200,\"lines\":[21,22],"
		"\"msg\":\"ESP_21 not updated for 300 ms (max 100 ms)\""));
	assert_verdict(&w, "esp-alive", VERDICT_FAIL);
	assert_verdict(&w, "gear-alive", VERDICT_INCONCLUSIVE);
	world_free(&w);
}

static void test_rate_kind(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule accel]\n"
		    "ref = x\n"
		    "kind = rate\n"
		    "signal = ESP_21.VehSpd\n"
		    "max_per_s = 100\n");
	speed(&w, 0, 10);
	speed(&w, 100, 15);
	speed(&w, 200, 20);
	speed(&w, 250, 40); /* 400 /s */
	speed(&w, 350, 30); /* -100 /s: at the limit */
	finish(&w, 400);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.250000,\"t_end\":1000.350000,\"worst\":400,"
		"\"margin\":-300,"));
	assert_verdict(&w, "accel", VERDICT_FAIL);
	world_free(&w);
}

static void test_hysteresis(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule overspeed-chime]\n"
		    "ref = x\n"
		    "kind = hysteresis\n"
		    "signal = ESP_21.VehSpd\n"
		    "set = 100\n"
		    "clear = 90\n"
		    "expect = AVAS.Cmd == 1\n");
	feed(&w, 0, AVAS, 1, 0);
	speed(&w, 10, 80);
	speed(&w, 20, 99);
	speed(&w, 30, 100); /* active */
	speed(&w, 40, 95);  /* still active */
	speed(&w, 50, 90);  /* cleared */
	speed(&w, 60, 95);  /* not active again until set */
	finish(&w, 70);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.030000,\"t_end\":1000.050000,"));
	world_free(&w);

	/* falling: set below clear */
	load_ok(&w, "[rule low]\n"
		    "ref = x\n"
		    "kind = hysteresis\n"
		    "signal = ESP_21.VehSpd\n"
		    "set = 10\n"
		    "clear = 20\n"
		    "expect = AVAS.Cmd == 1\n");
	feed(&w, 0, AVAS, 1, 1);
	speed(&w, 10, 30);
	speed(&w, 20, 10);
	speed(&w, 30, 15);
	feed(&w, 40, AVAS, 1, 0); /* violation while active */
	speed(&w, 50, 20);
	finish(&w, 60);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.040000,\"t_end\":1000.050000,"));
	assert_verdict(&w, "low", VERDICT_FAIL);
	world_free(&w);
}

static void test_only_if(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[rule avas-only-slow]\n"
		    "ref = x\n"
		    "kind = only_if\n"
		    "signal = AVAS.Cmd\n"
		    "allowed = ESP_21.VehSpd < 30\n");
	speed(&w, 0, 10);
	feed(&w, 10, AVAS, 1, 1);
	speed(&w, 20, 40);
	feed(&w, 30, AVAS, 1, 0);
	finish(&w, 40);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends,
		"\"t_start\":1000.020000,\"t_end\":1000.030000,\"worst\":40,"
		"\"margin\":-10,\"lines\":[3,4],"
		"\"msg\":\"active while not allowed: ESP_21.VehSpd < 30\""));
	world_free(&w);
}

static void test_assert_held_age(void **state)
{
	struct world w;

	(void)state;
	/* held(): AVAS must be on once slow for 200 ms; the violation starts
	 * at the held() deadline, without a frame */
	load_ok(&w, "[signal speed]\n"
		    "source = ESP_21.VehSpd\n"
		    "[rule a]\n"
		    "ref = x\n"
		    "kind = assert\n"
		    "when = held(speed < 30, 200)\n"
		    "expect = AVAS.Cmd == 1 && age(AVAS) < 1000\n");
	feed(&w, 0, AVAS, 1, 0);
	speed(&w, 10, 20);
	finish(&w, 400);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"t_start\":1000.210000,"
				       "\"t_end\":1000.400000,"));
	world_free(&w);
}

/* Multiplexed signals update only when selected; 29-bit IDs match as
 * 29-bit only. */
static void test_mux_and_ext(void **state)
{
	struct world w;
	struct frame f;

	(void)state;
	load_ok(&w, "[rule mux-a]\nref = x\nkind = range\nsignal = MUX.A\n"
		    "max = 10\n"
		    "[rule ext-temp]\nref = x\nkind = range\n"
		    "signal = EXT.Temp\nmax = 100\n");
	feed(&w, 0, MUX, 2, 1, 5);   /* A = 5 */
	feed(&w, 10, MUX, 2, 2, 50); /* B = 50: A untouched */
	feed(&w, 20, MUX, 2, 1, 6);
	memset(&f, 0, sizeof(f));
	f.t_ns = T0 + 30 * MS;
	f.id = EXT_ID;
	f.ext = false; /* same number as an 11-bit ID: not this message */
	f.len = 8;
	f.data[0] = 200;
	rules_frame(w.r, 0, &f, ++w.line);
	f.ext = true;
	f.t_ns = T0 + 40 * MS;
	f.data[0] = 100; /* 60 degC */
	rules_frame(w.r, 0, &f, ++w.line);
	f.t_ns = T0 + 50 * MS;
	f.data[0] = 150; /* 110 degC */
	rules_frame(w.r, 0, &f, ++w.line);
	finish(&w, 60);
	assert_int_equal(w.n_ends, 1);
	assert_non_null(strstr(w.ends, "\"rule\":\"ext-temp\""));
	assert_non_null(strstr(w.ends, "\"t_start\":1000.050000,"
				       "\"t_end\":1000.060000,\"worst\":110,"));
	assert_verdict(&w, "mux-a", VERDICT_PASS);
	world_free(&w);
}

/* Frame times count to the microsecond, as frames.log records them,
 * unless [evidence] timestamps = ns. */
static void test_time_precision(void **state)
{
	static const char rule[] = "[rule m]\nref = x\nkind = range\n"
				   "signal = ESP_21.VehSpd\nmax = 180\n";
	char ini[256];
	struct world w;

	(void)state;
	load_ok(&w, rule);
	speed(&w, 20.000123, 190);
	speed(&w, 40.000999, 100);
	finish(&w, 50);
	assert_non_null(strstr(w.ends, "\"t_start\":1000.020000,"
				       "\"t_end\":1000.040000,"));
	world_free(&w);

	snprintf(ini, sizeof(ini), "%s[evidence]\ndir = /tmp\n"
				   "timestamps = ns\n", rule);
	load_ok(&w, ini);
	speed(&w, 20.000123, 190);
	speed(&w, 40, 100);
	finish(&w, 50);
	assert_non_null(strstr(w.ends, "\"t_start\":1000.020000123,"
				       "\"t_end\":1000.040000000,"));
	world_free(&w);
}

/* ---------------------------------------------------------- verdicts */

static void test_inconclusive(void **state)
{
	struct world w;
	char *json;

	(void)state;
	load_ok(&w, "[signal speed]\n"
		    "source = ESP_21.VehSpd\n"
		    "stale_ms = 50\n"
		    "[rule speed-max]\n"
		    "ref = x\n"
		    "kind = range\n"
		    "signal = speed\n"
		    "max = 180\n"
		    "[rule avas-range]\n"
		    "ref = y\n"
		    "kind = range\n"
		    "signal = AVAS.Cmd\n"
		    "max = 1\n"
		    "[rule startup]\n"
		    "ref = z\n"
		    "kind = assert\n"
		    "when = Gear.Position == \"D\"\n"
		    "expect = TPMS.Lamp == 0\n"
		    "[rule never]\n"
		    "ref = w\n"
		    "kind = assert\n"
		    "when = Gear.Position == \"R\"\n"
		    "expect = TPMS.Lamp == 0\n");
	/* start-up: Gear before TPMS is not held against "startup" */
	feed(&w, 0, GEAR, 1, 3);
	feed(&w, 5, TPMS, 2, 0, 0);
	speed(&w, 10, 100);
	speed(&w, 20, 100);
	/* speed stops: stale at 70 ms + 1 us, found by the deadline */
	feed(&w, 200, GEAR, 1, 3);
	finish(&w, 300);
	assert_int_equal(w.n_ends, 0);
	assert_verdict(&w, "speed-max", VERDICT_INCONCLUSIVE);
	assert_verdict(&w, "avas-range", VERDICT_INCONCLUSIVE);
	assert_verdict(&w, "startup", VERDICT_PASS);
	assert_verdict(&w, "never", VERDICT_NOT_EXERCISED);
	json = rules_verdicts_json(w.r);
	assert_non_null(json);
	assert_string_equal(json,
		"{\"rules\":["
		"{\"rule\":\"speed-max\",\"ref\":\"x\",\"kind\":\"range\","
		"\"verdict\":\"INCONCLUSIVE\",\"violations\":0,"
		"\"reason\":\"ESP_21.VehSpd stale at 1000.070001\"},"
		"{\"rule\":\"avas-range\",\"ref\":\"y\",\"kind\":\"range\","
		"\"verdict\":\"INCONCLUSIVE\",\"violations\":0,"
		"\"reason\":\"no input received\"},"
		"{\"rule\":\"startup\",\"ref\":\"z\",\"kind\":\"assert\","
		"\"verdict\":\"PASS\",\"violations\":0},"
		"{\"rule\":\"never\",\"ref\":\"w\",\"kind\":\"assert\","
		"\"verdict\":\"NOT_EXERCISED\",\"violations\":0}]}");
	free(json);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&buf, &len);

		rules_print_table(w.r, fp);
		fclose(fp);
		assert_non_null(strstr(buf, "speed-max   range       "
					    "INCONCLUSIVE       0  x  "
					    "(ESP_21.VehSpd stale at "
					    "1000.070001)\n"));
		assert_non_null(strstr(buf, "4 rules: 1 PASS, 0 FAIL, "
					    "1 NOT_EXERCISED, 2 INCONCLUSIVE"));
		free(buf);
	}
	world_free(&w);
}

/* A missing signal never passes: a stale input while a violation is
 * needed ends the violation and leaves the verdict FAIL. */
static void test_fail_beats_inconclusive(void **state)
{
	struct world w;

	(void)state;
	load_ok(&w, "[signal speed]\n"
		    "source = ESP_21.VehSpd\n"
		    "stale_ms = 50\n"
		    "[rule speed-max]\n"
		    "ref = x\n"
		    "kind = range\n"
		    "signal = speed\n"
		    "max = 180\n");
	speed(&w, 0, 200);
	finish(&w, 300);
	assert_int_equal(w.n_ends, 1);
	/* known violated up to 50 ms; unknown from the next microsecond */
	assert_non_null(strstr(w.ends, "\"t_start\":1000.000000,"
				       "\"t_end\":1000.050001,"));
	assert_verdict(&w, "speed-max", VERDICT_FAIL);
	world_free(&w);
}

/* ------------------------------------------------------ compile errors */

struct bad_rule {
	const char *ini;
	unsigned line; /* within ini, 1-based */
	unsigned col;  /* 0: not checked */
	const char *msg;
};

static const struct bad_rule bad_rules[] = {
	{ "[rule a]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\n"
	  "max = 1\nfoo = 2\n",
	  6, 0, "unknown key 'foo' for kind range" },
	{ "[rule a]\nref = x\nkind = ranged\n", 3, 8, "unknown kind \"ranged\"" },
	{ "[rule a]\nkind = range\nsignal = ESP_21.VehSpd\nmax = 1\n", 1, 0,
	  "missing key 'ref'" },
	{ "[rule a]\nref = x\nsignal = ESP_21.VehSpd\n", 1, 0,
	  "missing key 'kind'" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = AVAS.Cmd == \"On\"\n", 4,
	  22, "AVAS.Cmd... no value table" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = Gear.Position == \"X\"\n",
	  4, 27, "\"X\" is not a value of Gear.Position" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = 1 + (2\n", 4, 16,
	  "expected ')'" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = ESP_21.Nope > 1\n", 4, 10,
	  "unknown signal ESP_21.Nope" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = nope > 1\n", 4, 10,
	  "unknown signal nope" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = sqrt(4) > 1\n", 4, 10,
	  "unknown function sqrt()" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = max(1) > 1\n", 4, 10,
	  "max() takes 2 arguments, not 1" },
	{ "[rule a]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\n"
	  "max = fast\n",
	  5, 7, "max: expected a number" },
	{ "[rule a]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\n", 1, 0,
	  "range needs min, max or both" },
	{ "[rule a]\nref = x\nkind = implies\nexpect = AVAS.Cmd == 1\n", 1, 0,
	  "missing key 'when'" },
	{ "[rule a]\nref = x\nkind = cycle\nmessage = AVAS\n", 1, 0,
	  "AVAS has no GenMsgCycleTime" },
	{ "[rule a]\nref = x\nkind = cycle\nmessage = Nope\n", 4, 11,
	  "unknown message Nope" },
	{ "[rule a]\nref = x\nkind = response\ntrigger = TPMS.Low\n"
	  "expect = TPMS.Lamp\nwithin_ms = 10\nclock = accumulate(1 +)\n",
	  7, 23, "unexpected end" },
	{ "[rule a]\nref = x\nkind = response\ntrigger = TPMS.Low\n"
	  "expect = TPMS.Lamp\nwithin_ms = 10\nclock = driving\n",
	  7, 9, "expected time or accumulate" },
	{ "[rule a]\nref = x\nkind = response\ntrigger = TPMS.Low\n"
	  "expect = TPMS.Lamp\nwithin_ms = 0\n",
	  6, 13, "must be > 0" },
	{ "[rule a]\nref = x\nkind = stale\nmax_age_ms = 5\n", 1, 0,
	  "stale needs signal or message" },
	{ "[rule a]\nref = x\nkind = rate\nsignal = ESP_21.VehSpd * 2\n"
	  "max_per_s = 1\n",
	  4, 10, "expected a signal name" },
	{ "[rule a]\nref = x\nkind = range\nbus = rig\nsignal = ESP_21.VehSpd\n"
	  "max = 1\n",
	  4, 7, "unknown bus rig" },
	{ "[signal speed]\nsource = ESP_21.Nope\n", 2, 10,
	  "unknown signal ESP_21.Nope" },
	{ "[signal speed]\nsource = ESP_21.VehSpd\nstale = 5\n", 3, 9,
	  "stale: expected a whole number and a unit" },
	{ "[signal speed]\nsource = ESP_21.VehSpd\nstael_ms = 5\n", 3, 0,
	  "unknown key 'stael_ms' (source, stale_ms, bus) (did you mean "
	  "'stale_ms'?)" },
	{ "[signal speed]\nsource = ESP_21.VehSpd\nstale_ms = 0.5\n", 3, 12,
	  "stale_ms: expected a whole number of milliseconds, not \"0.5\"" },
	{ "[signal speed]\nsource = ESP_21.VehSpd\nstale_ms = 5\n"
	  "stale = 5ms\n", 4, 0, "stale_ms and stale both given" },
	{ "[rule a]\nref = x\nkind = implies\nwhen = ESP_21.VehSpd > 1\n"
	  "expect = AVAS.Cmd == 1\nsettle_ms = 2.5\n", 6, 13,
	  "settle_ms: expected a whole number of milliseconds, not \"2.5\" "
	  "(for other units write settle = 2500us)" },
	{ "[rule a]\nref = x\nkind = implies\nwhen = ESP_21.VehSpd > 1\n"
	  "expect = AVAS.Cmd == 1\nsettle_ms = 2\nsettle = 2ms\n", 7, 0,
	  "settle_ms and settle both given" },
	{ "[rule a]\nref = x\nkind = implies\nwhen = ESP_21.VehSpd > 1\n"
	  "expect = AVAS.Cmd == 1\nsetle_ms = 2\n", 6, 0,
	  "unknown key 'setle_ms' for kind implies (did you mean "
	  "'settle_ms'?)" },
	{ "[rule a]\nref = x\nkind = range\nsignal = ESP_21.VehSpdd\n"
	  "max = 1\n", 4, 0, "unknown signal ESP_21.VehSpdd (did you mean "
	  "'VehSpd'?)" },
	{ "[signal my-speed]\nsource = ESP_21.VehSpd\n", 1, 0,
	  "letters, digits and _" },
	{ "[rule a]\nref = x\nkind = hysteresis\nsignal = ESP_21.VehSpd\n"
	  "set = 5\nclear = 5\nexpect = 1\n",
	  6, 0, "set and clear must differ" },
	{ "[rule a]\nref = x\nkind = assert\nexpect = 1\nexpect = 2\n", 5, 0,
	  "duplicate key 'expect'" },
};

static void test_compile_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rules) / sizeof(bad_rules[0]); i++) {
		const struct bad_rule *b = &bad_rules[i];
		struct world w;
		struct config_error err;
		const char *want = b->msg;
		char first[64];
		const char *dots = strstr(want, "...");

		if (world_load(&w, b->ini, &err) == 0)
			fail_msg("case %zu compiled", i);
		/* "a...b": both parts must appear */
		if (dots) {
			snprintf(first, sizeof(first), "%.*s",
				 (int)(dots - want), want);
			if (!strstr(err.msg, first))
				fail_msg("case %zu: \"%s\"", i, err.msg);
			want = dots + 3;
		}
		if (!strstr(err.msg, want) ||
		    err.line != HEADER_LINES + b->line ||
		    (b->col && err.col != b->col) ||
		    strcmp(err.file, w.ini) != 0)
			fail_msg("case %zu: got %s:%u:%u: %s; want line %u col "
				 "%u: %s",
				 i, err.file, err.line, err.col, err.msg,
				 HEADER_LINES + b->line, b->col, b->msg);
		world_free(&w);
	}
}

/* ---------------------------------------------------------- determinism */

static const char many_rules[] =
	"[signal speed]\n"
	"source = ESP_21.VehSpd\n"
	"stale_ms = 60\n"
	"[rule r1]\nref = a\nkind = range\nsignal = speed\nmax = 120\n"
	"[rule r2]\nref = b\nkind = implies\n"
	"when = speed < 30 && Gear.Position != \"P\"\n"
	"expect = AVAS.Cmd == 1\nsettle_ms = 150\ndebounce_ms = 30\n"
	"[rule r3]\nref = c\nkind = cycle\nmessage = ESP_21\n"
	"[rule r4]\nref = d\nkind = stale\nmessage = AVAS\nmax_age_ms = 90\n"
	"[rule r5]\nref = e\nkind = response\ntrigger = TPMS.Low == 1\n"
	"expect = TPMS.Lamp == 1\nwithin_ms = 400\n"
	"clock = accumulate(speed > 20)\n"
	"[rule r6]\nref = f\nkind = hysteresis\nsignal = speed\nset = 100\n"
	"clear = 80\nexpect = AVAS.Cmd == 0\n"
	"[rule r7]\nref = g\nkind = assert\nwhen = held(speed > 50, 250)\n"
	"expect = age(Gear) < 120 && rate(speed, 200) < 150\n"
	"[rule r8]\nref = h\nkind = rate\nsignal = speed\nmax_per_s = 400\n"
	"[rule r9]\nref = i\nkind = only_if\nsignal = TPMS.Lamp\n"
	"allowed = TPMS.Low == 1\n";

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Frames with jitter, gaps and odd microsecond times, 20 s. */
static void drive(struct world *w)
{
	uint32_t seed = 42;
	double t = 0, spd = 0;

	while (t < 20000) {
		uint32_t k = lcg(&seed);

		t += 1 + (k % 97) / 10.0 + (k % 1000 == 0 ? 300 : 0) +
		     (k % 7) * 0.001;
		spd += ((int)(lcg(&seed) % 21) - 10) * 0.8;
		if (spd < 0)
			spd = 0;
		if (spd > 160)
			spd = 160;
		switch (lcg(&seed) % 5) {
		case 0:
		case 1:
			speed(w, t, spd);
			break;
		case 2:
			feed(w, t, GEAR, 1, (int)(lcg(&seed) % 4));
			break;
		case 3:
			feed(w, t, AVAS, 1, (int)(lcg(&seed) % 2));
			break;
		default:
			feed(w, t, TPMS, 2, (int)(lcg(&seed) % 7 == 0),
			     (int)(lcg(&seed) % 3 == 0));
			break;
		}
	}
	finish(w, t + 1000);
}

static void test_determinism(void **state)
{
	static struct world a, b, c;
	char *va, *vb, *vc;

	(void)state;
	load_ok(&a, many_rules);
	drive(&a);
	load_ok(&b, many_rules);
	b.tick_step = MS; /* a timer every millisecond */
	drive(&b);
	load_ok(&c, many_rules);
	c.tick_deadlines = true; /* a timer at each deadline */
	c.tick_step = 7 * MS + 333;
	drive(&c);
	assert_true(a.n_ends > 20);
	assert_string_equal(a.starts, b.starts);
	assert_string_equal(a.ends, b.ends);
	assert_string_equal(a.starts, c.starts);
	assert_string_equal(a.ends, c.ends);
	va = rules_verdicts_json(a.r);
	vb = rules_verdicts_json(b.r);
	vc = rules_verdicts_json(c.r);
	assert_string_equal(va, vb);
	assert_string_equal(va, vc);
	/* every kind produced something to compare */
	for (size_t i = 0; i < rules_count(a.r); i++)
		if (rules_verdict(a.r, i) == VERDICT_NOT_EXERCISED)
			fail_msg("%s not exercised", rules_name(a.r, i));
	free(va);
	free(vb);
	free(vc);
	world_free(&a);
	world_free(&b);
	world_free(&c);
}

/* The same with nanosecond frame times kept ([evidence] timestamps = ns). */
static void test_determinism_ns(void **state)
{
	static struct world a, b;
	char *ini = malloc(sizeof(many_rules) + 64);

	(void)state;
	assert_non_null(ini);
	sprintf(ini, "%s[evidence]\ndir = /tmp\ntimestamps = ns\n", many_rules);
	load_ok(&a, ini);
	a.ns_jitter = true;
	drive(&a);
	load_ok(&b, ini);
	b.ns_jitter = true;
	b.tick_deadlines = true;
	b.tick_step = MS / 3;
	drive(&b);
	assert_true(a.n_ends > 20);
	{
		/* times with 9 decimals */
		const char *p = strstr(a.ends, "\"t_start\":1000.");
		size_t digits;

		assert_non_null(p);
		p += strlen("\"t_start\":1000.");
		digits = strspn(p, "0123456789");
		assert_int_equal(digits, 9);
	}
	assert_string_equal(a.starts, b.starts);
	assert_string_equal(a.ends, b.ends);
	world_free(&a);
	world_free(&b);
	free(ini);
}

/* ------------------------------------------- active_when, silent buses */

/* One step of a scripted run: a frame at ms (id, two payload bytes), or
 * the end of input (id 0). */
struct step {
	double ms;
	uint32_t id;
	int b0, b1;
};

struct gate_case {
	const char *what;
	const char *bus_extra;       /* keys for [bus vehicle] */
	const char *rule;            /* one [rule r] section */
	struct step steps[16];
	enum rules_verdict want;
	int n_viol;
	const char *t_end;           /* the first violation's t_end, or NULL */
	const char *events;          /* engine events expected, or NULL: none */
};

#define SPD(ms, kmh) { ms, ESP, ((int)((kmh) * 10)) & 0xFF, ((int)((kmh) * 10)) >> 8 }
#define GEAR_AT(ms, g) { ms, GEAR, g, 0 }
#define END(ms) { ms, 0, 0, 0 }
#define ACTIVE_IN_D "active_when = Gear.Position == \"D\"\n"

static const struct gate_case gate_cases[] = {
	{ "inactive: no violation; turning inactive ends one then",
	  "",
	  "[rule r]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\nmax = 100\n"
	  ACTIVE_IN_D,
	  { GEAR_AT(0, 0), SPD(10, 150), SPD(20, 150), GEAR_AT(30, 3),
	    SPD(40, 150), GEAR_AT(50, 0), SPD(60, 150), END(70) },
	  VERDICT_FAIL, 1, "\"t_end\":1000.050000", NULL },
	{ "active_when never held: NOT_EXERCISED",
	  "",
	  "[rule r]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\nmax = 100\n"
	  ACTIVE_IN_D,
	  { GEAR_AT(0, 0), SPD(10, 150), END(70) },
	  VERDICT_NOT_EXERCISED, 0, NULL, NULL },
	{ "active_when's signal never received: NOT_EXERCISED, not "
	  "INCONCLUSIVE",
	  "",
	  "[rule r]\nref = x\nkind = range\nsignal = ESP_21.VehSpd\nmax = 100\n"
	  ACTIVE_IN_D,
	  { SPD(10, 50), SPD(20, 150), END(70) },
	  VERDICT_NOT_EXERCISED, 0, NULL, NULL },
	{ "cycle timer restarts when the rule turns active again",
	  "",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n" ACTIVE_IN_D,
	  { GEAR_AT(0, 3), SPD(1, 0), SPD(21, 0), SPD(41, 0), GEAR_AT(50, 0),
	    GEAR_AT(600, 3), SPD(610, 0), SPD(630, 0), END(640) },
	  VERDICT_PASS, 0, NULL, NULL },
	{ "implies debounce restarts when the rule turns active again",
	  "",
	  "[rule r]\nref = x\nkind = implies\nwhen = ESP_21.VehSpd > 10\n"
	  "expect = AVAS.Cmd == 1\ndebounce_ms = 100\n" ACTIVE_IN_D,
	  { GEAR_AT(0, 3), { 1, AVAS, 0, 0 }, SPD(10, 50), GEAR_AT(60, 0),
	    SPD(90, 50), GEAR_AT(120, 3), SPD(130, 50), SPD(200, 50),
	    END(210) },
	  VERDICT_NOT_EXERCISED, 0, NULL, NULL },
	{ "stale age counts from the moment the rule turns active",
	  "",
	  "[rule r]\nref = x\nkind = stale\nmessage = AVAS\nmax_age_ms = 50\n"
	  ACTIVE_IN_D,
	  { { 0, AVAS, 0, 0 }, GEAR_AT(500, 3), { 540, AVAS, 0, 0 },
	    END(580) },
	  VERDICT_PASS, 0, NULL, NULL },
	{ "silent bus: a cycle rule sees a gap, not a failure",
	  "silent_ms = 100\n",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n",
	  { SPD(0, 0), SPD(20, 0), SPD(40, 0), SPD(1000, 0), SPD(1020, 0),
	    END(1030) },
	  VERDICT_PASS, 0, NULL,
	  "140001 bus_silent \"bus\":\"vehicle\",\"t_last\":1000.040000\n"
	  "1000000 bus_resumed \"bus\":\"vehicle\",\"gap_ms\":960\n" },
	{ "silent_ms above the cycle's limit: the timeout waits for it",
	  "silent_ms = 500\n",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n",
	  { SPD(0, 0), SPD(20, 0), SPD(40, 0), SPD(1000, 0), SPD(1020, 0),
	    END(1030) },
	  VERDICT_PASS, 0, NULL,
	  "540001 bus_silent \"bus\":\"vehicle\",\"t_last\":1000.040000\n"
	  "1000000 bus_resumed \"bus\":\"vehicle\",\"gap_ms\":960\n" },
	{ "silent bus: other traffic before the message was due is no proof "
	  "that it stopped",
	  "silent_ms = 100\n",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n",
	  { SPD(0, 0), SPD(20, 0), SPD(40, 0), GEAR_AT(50, 0), SPD(1000, 0),
	    SPD(1020, 0), END(1030) },
	  VERDICT_PASS, 0, NULL,
	  "150001 bus_silent \"bus\":\"vehicle\",\"t_last\":1000.050000\n"
	  "1000000 bus_resumed \"bus\":\"vehicle\",\"gap_ms\":950\n" },
	{ "silent bus: a stale rule sees a gap",
	  "silent_ms = 100\n",
	  "[rule r]\nref = x\nkind = stale\nsignal = ESP_21.VehSpd\n"
	  "max_age_ms = 50\n",
	  { SPD(0, 0), SPD(20, 0), SPD(1000, 0), SPD(1020, 0), END(1030) },
	  VERDICT_PASS, 0, NULL, NULL },
	{ "silent bus: its stale signals do not make a rule INCONCLUSIVE",
	  "silent_ms = 100\n",
	  "[signal spd]\nsource = ESP_21.VehSpd\nstale_ms = 150\n"
	  "[rule r]\nref = x\nkind = range\nsignal = spd\nmax = 100\n",
	  { SPD(0, 50), SPD(20, 50), SPD(1000, 50), SPD(1020, 50), END(1030) },
	  VERDICT_PASS, 0, NULL, NULL },
	{ "a bus with traffic is not silent: a stopped message still fails",
	  "silent_ms = 100\n",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n",
	  { SPD(0, 0), SPD(20, 0), GEAR_AT(80, 0), GEAR_AT(160, 0),
	    GEAR_AT(240, 0), END(250) },
	  VERDICT_FAIL, 1, NULL, NULL },
	{ "silent_ms = 0 (default): a silent bus fails a cycle rule",
	  "",
	  "[rule r]\nref = x\nkind = cycle\nmessage = ESP_21\n",
	  { SPD(0, 0), SPD(20, 0), SPD(40, 0), SPD(1000, 0), SPD(1020, 0),
	    END(1030) },
	  VERDICT_FAIL, 1, NULL, NULL },
};

static void run_gate_case(const struct gate_case *gc, uint64_t tick_step,
			  bool tick_deadlines)
{
	struct world w;

	bus_extra = gc->bus_extra;
	load_ok(&w, gc->rule);
	bus_extra = "";
	w.tick_step = tick_step;
	w.tick_deadlines = tick_deadlines;
	for (const struct step *st = gc->steps;; st++) {
		if (!st->id) {
			finish(&w, st->ms);
			break;
		}
		feed(&w, st->ms, st->id, 2, st->b0, st->b1);
	}
	if (verdict(&w, "r") != gc->want || w.n_ends != gc->n_viol ||
	    (gc->t_end && !strstr(w.ends, gc->t_end)) ||
	    (!gc->events && w.events[0] && gc->bus_extra[0] == '\0') ||
	    (gc->events && strcmp(w.events, gc->events) != 0))
		fail_msg("%s (ticks %" PRIu64 "/%d): verdict %s, %d violations "
			 "(want %s, %d)\n%s\nevents:\n%s",
			 gc->what, tick_step, tick_deadlines,
			 rules_verdict_name(verdict(&w, "r")), w.n_ends,
			 rules_verdict_name(gc->want), gc->n_viol, w.ends,
			 w.events);
	world_free(&w);
}

static void test_active_when_and_silent_bus(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(gate_cases) / sizeof(gate_cases[0]);
	     i++) {
		/* offline, and as a live daemon's timers would drive it */
		run_gate_case(&gate_cases[i], 0, false);
		run_gate_case(&gate_cases[i], 0, true);
		run_gate_case(&gate_cases[i], 7 * MS, true);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_range_when),
		cmocka_unit_test(test_implies_settle_deadline),
		/* prestate non-NULL: settle = 500000us instead of settle_ms */
		cmocka_unit_test_prestate(test_implies_settle_deadline,
					  (void *)implies_rule_unit),
		cmocka_unit_test(test_implies_settles_in_time),
		cmocka_unit_test(test_implies_debounce),
		cmocka_unit_test(test_response_time),
		cmocka_unit_test(test_response_accumulate),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_stale_kind),
		cmocka_unit_test(test_rate_kind),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_only_if),
		cmocka_unit_test(test_assert_held_age),
		cmocka_unit_test(test_time_precision),
		cmocka_unit_test(test_mux_and_ext),
		cmocka_unit_test(test_inconclusive),
		cmocka_unit_test(test_fail_beats_inconclusive),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_determinism_ns),
		cmocka_unit_test(test_active_when_and_silent_bus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
