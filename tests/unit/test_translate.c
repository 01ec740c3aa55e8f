/* test_translate: [output] translation on hand-built frame sequences:
 * checksum vectors, counters, clamping, stale policies, send modes, byte
 * orders, signed, float and multiplexed targets, load errors with
 * file:line, and results that do not depend on how often time is ticked. */
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
#include "daemon/core/translate.h"
#include "dbc/dbc.h"

#define MS 1000000ull
#define T0 (1000ull * 1000 * MS) /* frames start at t = 1000 s */

static const char veh_dbc[] =
	"VERSION \"\"\nNS_ :\nBS_:\nBU_: V\n"
	"BO_ 256 VEH_A: 8 V\n"
	" SG_ Speed : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" V\n"
	" SG_ Torque : 16|16@1- (0.1,0) [-3276.8|3276.7] \"Nm\" V\n"
	" SG_ Gear : 32|3@1+ (1,0) [0|7] \"\" V\n"
	"BO_ 257 VEH_B: 8 V\n"
	" SG_ Volt : 0|16@1+ (0.1,0) [0|6553.5] \"V\" V\n"
	"VAL_ 256 Gear 0 \"P\" 1 \"R\" 2 \"N\" 3 \"D\" ;\n";

static const char rig_dbc[] =
	"VERSION \"\"\nNS_ :\nBS_:\nBU_: GW\n"
	"BO_ 1280 R_I: 8 GW\n"
	" SG_ Spd : 0|16@1+ (0.1,0) [0|6553.5] \"\" GW\n"
	" SG_ Trq : 16|12@1- (1,0) [-2048|2047] \"\" GW\n"
	" SG_ Gear : 28|3@1+ (1,0) [0|7] \"\" GW\n"
	" SG_ Wide : 32|16@1+ (1,0) [0|65535] \"\" GW\n"
	" SG_ Cnt : 48|4@1+ (1,0) [0|15] \"\" GW\n"
	" SG_ Crc : 56|8@1+ (1,0) [0|255] \"\" GW\n"
	"BO_ 1281 R_M: 8 GW\n"
	" SG_ Volt : 7|16@0+ (0.05,0) [0|3276.75] \"\" GW\n"
	" SG_ Cur : 23|16@0- (0.05,0) [-1638.4|1638.35] \"\" GW\n"
	" SG_ Crc16 : 55|16@0+ (1,0) [0|65535] \"\" GW\n"
	"BO_ 1282 R_F: 8 GW\n"
	" SG_ F1 : 0|32@1- (1,0) [0|0] \"\" GW\n"
	"BO_ 1283 R_D: 16 GW\n"
	" SG_ F2 : 0|64@1- (1,0) [0|0] \"\" GW\n"
	"BO_ 1284 R_X: 8 GW\n"
	" SG_ Page M : 0|8@1+ (1,0) [0|255] \"\" GW\n"
	" SG_ A m1 : 8|16@1+ (1,0) [0|65535] \"\" GW\n"
	" SG_ B m2 : 8|16@1+ (1,0) [0|65535] \"\" GW\n"
	" SG_ C m2 : 24|8@1+ (1,0) [0|255] \"\" GW\n"
	"BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\n"
	"BA_DEF_ SG_ \"GenSigStartValue\" INT 0 100000;\n"
	"BA_DEF_DEF_ \"GenMsgCycleTime\" 0;\n"
	"BA_ \"GenMsgCycleTime\" BO_ 1280 10;\n"
	"BA_ \"GenSigStartValue\" SG_ 1280 Gear 7;\n"
	"BA_ \"GenSigStartValue\" SG_ 1280 Wide 4660;\n"
	"VAL_ 1280 Gear 0 \"Park\" 1 \"Drive\" 2 \"Reverse\" 7 \"Invalid\" ;\n"
	"SIG_VALTYPE_ 1282 F1 : 1;\n"
	"SIG_VALTYPE_ 1283 F2 : 2;\n";

#define HEADER_LINES 11
static const char header[] =
	"[bus veh]\n"
	"interface = vcan0\n"
	"dbc = veh.dbc\n"
	"[bus rig]\n"
	"interface = vcan1\n"
	"fd = yes\n"
	"dbc = rig.dbc\n"
	"[signal spd]\n"
	"source = VEH_A.Speed\n"
	"stale_ms = 50\n"
	"\n";

struct world {
	char dir[64];
	char ini[128];
	struct config *cfg;
	struct translate *t;
	struct frame out[512];
	size_t n_out;
};

static void capture(void *ctx, int bus, const struct frame *f, size_t output)
{
	struct world *w = ctx;

	(void)output;
	assert_int_equal(bus, 1);
	assert_true(w->n_out < sizeof(w->out) / sizeof(w->out[0]));
	w->out[w->n_out++] = *f;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Load header + outputs; NULL translation with *err on a load error. */
static struct translate *load(struct world *w, const char *outputs,
			      struct config_error *err)
{
	struct translate_sink sink = { capture, w };
	char *ini = malloc(strlen(header) + strlen(outputs) + 1);

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/test_translate.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	write_file(w->dir, "veh.dbc", veh_dbc);
	write_file(w->dir, "rig.dbc", rig_dbc);
	assert_non_null(ini);
	strcpy(ini, header);
	strcat(ini, outputs);
	write_file(w->dir, "gw.ini", ini);
	free(ini);
	snprintf(w->ini, sizeof(w->ini), "%s/gw.ini", w->dir);
	w->cfg = config_load(w->ini, err);
	assert_non_null(w->cfg);
	assert_int_equal(config_load_dbcs(w->cfg, err), 0);
	w->t = translate_compile(w->cfg, &sink, err);
	return w->t;
}

static void unload(struct world *w)
{
	char path[160];

	translate_free(w->t);
	config_free(w->cfg);
	for (const char *const *n = (const char *const[]){ "veh.dbc", "rig.dbc",
							   "gw.ini", NULL };
	     *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", w->dir, *n);
		unlink(path);
	}
	rmdir(w->dir);
}

static struct translate *must_load(struct world *w, const char *outputs)
{
	struct config_error err;
	char msg[600];

	if (!load(w, outputs, &err)) {
		config_error_format(&err, msg, sizeof(msg));
		fail_msg("load: %s", msg);
	}
	return w->t;
}

static void feed(struct world *w, uint32_t id, uint64_t ms,
		 const uint8_t data[8])
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.t_ns = T0 + ms * MS;
	f.id = id;
	f.len = 8;
	memcpy(f.data, data, 8);
	translate_frame(w->t, 0, &f);
}

/* VEH_A: speed km/h, torque Nm, gear raw, at T0 + ms. */
static void veh_a(struct world *w, uint64_t ms, double speed, double torque,
		  unsigned gear)
{
	uint16_t s = (uint16_t)lround(speed / 0.01);
	uint16_t q = (uint16_t)(int16_t)lround(torque / 0.1);

	feed(w, 256, ms,
	     (const uint8_t[8]){ (uint8_t)s, (uint8_t)(s >> 8), (uint8_t)q,
				 (uint8_t)(q >> 8), (uint8_t)gear });
}

static void veh_b(struct world *w, uint64_t ms, double volt)
{
	uint16_t v = (uint16_t)lround(volt / 0.1);

	feed(w, 257, ms, (const uint8_t[8]){ (uint8_t)v, (uint8_t)(v >> 8) });
}

static const struct dbc_signal *rig_sig(const struct world *w,
					const char *msg, const char *sig)
{
	const struct dbc_message *m =
		dbc_message_by_name(w->cfg->buses[1].dbcs[0], msg);

	assert_non_null(m);
	return dbc_signal_by_name(m, sig);
}

/* Physical value of a rig signal in captured frame i. */
static double phys(const struct world *w, size_t i, const char *msg,
		   const char *sig)
{
	const struct dbc_signal *s = rig_sig(w, msg, sig);

	assert_true(i < w->n_out);
	return dbc_signal_phys(s, dbc_signal_raw(s, w->out[i].data,
						  w->out[i].len));
}

static void test_checksum_vectors(void **state)
{
	static const uint8_t check[] = "123456789";
	static const struct {
		enum translate_checksum kind;
		uint32_t want;
	} v[] = {
		{ TRANSLATE_CRC8_SAE_J1850, 0x4B },
		{ TRANSLATE_CRC8_AUTOSAR, 0xDF },
		{ TRANSLATE_CRC16_CCITT, 0x29B1 },
		{ TRANSLATE_XOR8, 0x31 },
		{ TRANSLATE_SUM8, 0xDD },
	};
	uint8_t with_hole[11];

	(void)state;
	/* the checksum's own bytes are skipped wherever they sit */
	memcpy(with_hole, check, 4);
	with_hole[4] = 0xAA;
	with_hole[5] = 0x55;
	memcpy(with_hole + 6, check + 4, 5);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(translate_checksum(v[i].kind, check, 9, 0, 0),
				 v[i].want);
		assert_int_equal(translate_checksum(v[i].kind, with_hole, 11,
						    4, 6),
				 v[i].want);
	}
	/* AUTOSAR's own second vector: 00 00 00 00 -> 0x12 */
	assert_int_equal(translate_checksum(TRANSLATE_CRC8_AUTOSAR,
					    (const uint8_t[]){ 0, 0, 0, 0 }, 4,
					    0, 0),
			 0x12);
	/* SAE J1850: 00 00 00 00 -> 0x59 */
	assert_int_equal(translate_checksum(TRANSLATE_CRC8_SAE_J1850,
					    (const uint8_t[]){ 0, 0, 0, 0 }, 4,
					    0, 0),
			 0x59);
}

static const char out_cycle[] =
	"[output dyno]\n"
	"bus = rig\n"
	"message = R_I\n"
	"set = Spd = spd\n"
	"set = Trq = VEH_A.Torque\n"
	"set = Gear = VEH_A.Gear == \"D\" ? \"Drive\" : (VEH_A.Gear == \"R\" ? 2 : \"Park\")\n"
	"counter = Cnt\n"
	"checksum = Crc: crc8_sae_j1850\n";

/* Period from GenMsgCycleTime, values, counter wrap, checksum, and a
 * start value for the signal no set writes. */
static void test_cycle_counter_checksum(void **state)
{
	struct world w;
	struct translate_stats st;

	(void)state;
	must_load(&w, out_cycle);
	for (uint64_t ms = 0; ms <= 200; ms += 5)
		veh_a(&w, ms, 50 + (double)ms / 10, 100, 3);
	/* first frame one period after the first input frame: 10..200 ms */
	assert_int_equal(w.n_out, 20);
	for (size_t i = 0; i < w.n_out; i++) {
		const struct frame *f = &w.out[i];

		assert_int_equal(f->t_ns, T0 + (i + 1) * 10 * MS);
		assert_int_equal(f->id, 1280);
		assert_false(f->ext);
		assert_int_equal(f->len, 8);
		assert_int_equal(f->dir, FRAME_DIR_TX);
		assert_int_equal((unsigned)phys(&w, i, "R_I", "Cnt"), i % 16);
		assert_int_equal(f->data[7],
				 translate_checksum(TRANSLATE_CRC8_SAE_J1850,
						    f->data, 8, 7, 8));
		/* the input frame at the deadline itself is not seen yet */
		assert_float_equal(phys(&w, i, "R_I", "Spd"),
				   50 + (double)((i + 1) * 10 - 5) / 10, 1e-9);
		assert_float_equal(phys(&w, i, "R_I", "Trq"), 100, 0);
		assert_float_equal(phys(&w, i, "R_I", "Gear"), 1, 0);
		assert_float_equal(phys(&w, i, "R_I", "Wide"), 4660, 0);
	}
	assert_int_equal(translate_stats(w.t, 0, &st), 0);
	assert_int_equal(st.built, 20);
	assert_int_equal(st.clamped + st.substituted + st.held + st.stopped, 0);
	assert_int_equal(translate_next_deadline(w.t), T0 + 210 * MS);
	assert_int_equal(translate_stats(w.t, 1, &st), -1);
	unload(&w);
}

/* Values outside the raw range clamp and are counted. */
static void test_clamp(void **state)
{
	static const struct {
		double torque, want;
		unsigned clamped;
	} v[] = {
		{ 100, 100, 0 },       { 2047, 2047, 0 }, { 2047.4, 2047, 0 },
		{ 2047.6, 2047, 1 },   { 3000, 2047, 1 }, { -2048, -2048, 0 },
		{ -3000, -2048, 1 },   { -2048.6, -2048, 1 },
	};
	struct world w;
	struct translate_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		must_load(&w, out_cycle);
		veh_a(&w, 0, 10, v[i].torque, 0);
		translate_tick(w.t, T0 + 10 * MS);
		assert_int_equal(w.n_out, 1);
		if (phys(&w, 0, "R_I", "Trq") != v[i].want)
			fail_msg("torque %g: got %g, want %g", v[i].torque,
				 phys(&w, 0, "R_I", "Trq"), v[i].want);
		translate_stats(w.t, 0, &st);
		assert_int_equal(st.clamped, v[i].clamped);
		unload(&w);
	}
}

/* spd goes stale 50 ms after its last frame: substitute, hold, stop. */
static void test_stale_policies(void **state)
{
	static const struct {
		const char *policy;
		const char *extra;
		double at_40, at_80; /* Spd; NAN: no frame */
		uint64_t n;          /* frames 10..120 ms */
	} v[] = {
		{ "substitute", "", 12, 0, 12 },
		{ "substitute", "substitute = Spd = 7.5\n", 12, 7.5, 12 },
		{ "hold", "", 12, 12, 12 },
		{ "stop", "", 12, NAN, 8 },
	};
	char out[800];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct world w;
		struct translate_stats st;
		size_t k80 = 7; /* index of the 80 ms frame when all are sent */

		snprintf(out, sizeof(out), "%sstale = %s\n%s", out_cycle,
			 v[i].policy, v[i].extra);
		must_load(&w, out);
		veh_a(&w, 0, 12, 1, 0);
		/* last at 0 ms: fresh up to 50 ms, stale from 51 ms; back at 95 */
		translate_tick(w.t, T0 + 90 * MS);
		veh_a(&w, 95, 20, 1, 0);
		translate_tick(w.t, T0 + 120 * MS);
		assert_int_equal(w.n_out, v[i].n);
		assert_float_equal(phys(&w, 3, "R_I", "Spd"), v[i].at_40, 1e-9);
		translate_stats(w.t, 0, &st);
		if (isnan(v[i].at_80)) {
			/* 10..50 sent, 60..90 stopped, 100..120 back */
			assert_int_equal(w.out[5].t_ns, T0 + 100 * MS);
			assert_int_equal(st.stopped, 4);
			k80 = 5;
			assert_float_equal(phys(&w, k80, "R_I", "Spd"), 20, 1e-9);
			/* the counter counts frames sent: no gap */
			assert_int_equal((unsigned)phys(&w, 5, "R_I", "Cnt"), 5);
		} else {
			assert_float_equal(phys(&w, k80, "R_I", "Spd"),
					   v[i].at_80, 1e-9);
			assert_float_equal(phys(&w, 9, "R_I", "Spd"), 20, 1e-9);
			if (strcmp(v[i].policy, "hold") == 0)
				assert_int_equal(st.held, 4);
			else
				assert_int_equal(st.substituted, 4);
		}
		unload(&w);
	}
}

/* Before any good value, hold falls back to the substitute (Gear's start
 * value, "Invalid"). */
static void test_hold_before_first_value(void **state)
{
	struct world w;

	(void)state;
	must_load(&w, "[output o]\nbus = rig\nmessage = R_I\n"
		      "set = Gear = VEH_A.Gear == \"D\" ? \"Drive\" : \"Park\"\n"
		      "set = Spd = VEH_B.Volt\nstale = hold\n");
	veh_b(&w, 0, 1);
	translate_tick(w.t, T0 + 10 * MS);
	assert_int_equal(w.n_out, 1);
	assert_float_equal(phys(&w, 0, "R_I", "Gear"), 7, 0);
	assert_float_equal(phys(&w, 0, "R_I", "Spd"), 1, 1e-9);
	unload(&w);
}

/* Motorola, signed, a constant, CRC-16 at the end; send = each:. */
static void test_motorola_each(void **state)
{
	struct world w;
	const struct frame *f;
	uint16_t crc;

	(void)state;
	must_load(&w, "[output batt]\nbus = rig\nmessage = R_M\n"
		      "send = each:VEH_B\n"
		      "set = Volt = VEH_B.Volt\n"
		      "set = Cur = -12.5\n"
		      "checksum = Crc16: crc16_ccitt\n");
	veh_a(&w, 0, 1, 1, 0);
	assert_int_equal(w.n_out, 0);
	veh_b(&w, 3, 400.1);
	veh_b(&w, 7, 0.5);
	assert_int_equal(w.n_out, 2);
	f = &w.out[0];
	assert_int_equal(f->t_ns, T0 + 3 * MS);
	/* 400.1 V / 0.05 = 8002 = 0x1F42, big-endian in bytes 0-1 */
	assert_int_equal(f->data[0], 0x1F);
	assert_int_equal(f->data[1], 0x42);
	/* -12.5 A / 0.05 = -250 = 0xFF06 in bytes 2-3 */
	assert_int_equal(f->data[2], 0xFF);
	assert_int_equal(f->data[3], 0x06);
	assert_float_equal(phys(&w, 0, "R_M", "Cur"), -12.5, 1e-9);
	crc = (uint16_t)translate_checksum(TRANSLATE_CRC16_CCITT, f->data, 8,
					   6, 8);
	assert_int_equal(f->data[6], crc >> 8);
	assert_int_equal(f->data[7], crc & 0xFF);
	assert_float_equal(phys(&w, 1, "R_M", "Volt"), 0.5, 1e-9);
	assert_int_equal(translate_next_deadline(w.t), UINT64_MAX);
	unload(&w);
}

/* float32 and float64 targets (the latter in a 16-byte FD frame). */
static void test_float_targets(void **state)
{
	struct world w;
	float f32;
	double f64;

	(void)state;
	must_load(&w, "[output f]\nbus = rig\nmessage = R_F\nsend = each:VEH_A\n"
		      "set = F1 = spd * 1.5\n"
		      "[output d]\nbus = rig\nmessage = R_D\nsend = each:VEH_A\n"
		      "set = F2 = spd / 3\n");
	veh_a(&w, 0, 12.34, 0, 0);
	assert_int_equal(w.n_out, 2);
	memcpy(&f32, w.out[0].data, 4);
	assert_true(f32 == (float)(12.34 * 1.5));
	assert_int_equal(w.out[1].len, 16);
	assert_true(w.out[1].fd);
	memcpy(&f64, w.out[1].data, 8);
	assert_true(f64 == 12.34 / 3);
	unload(&w);
}

/* Multiplexed targets: the page is implied, or set by an expression. */
static void test_multiplexed(void **state)
{
	struct world w;

	(void)state;
	must_load(&w, "[output m]\nbus = rig\nmessage = R_X\nsend = each:VEH_A\n"
		      "set = A = spd * 100\n");
	veh_a(&w, 0, 5, 0, 0);
	assert_int_equal(w.n_out, 1);
	assert_int_equal(w.out[0].data[0], 1);
	assert_float_equal(phys(&w, 0, "R_X", "A"), 500, 0);
	unload(&w);

	/* pages chosen per frame: only the selected page's signals written */
	must_load(&w, "[output m]\nbus = rig\nmessage = R_X\nsend = each:VEH_A\n"
		      "set = Page = VEH_A.Gear == \"D\" ? 2 : 1\n"
		      "set = A = 1000\nset = B = 2000\nset = C = 33\n");
	veh_a(&w, 0, 5, 0, 0);
	veh_a(&w, 1, 5, 0, 3);
	assert_int_equal(w.n_out, 2);
	assert_int_equal(w.out[0].data[0], 1);
	assert_float_equal(phys(&w, 0, "R_X", "A"), 1000, 0);
	assert_int_equal(w.out[0].data[3], 0);
	assert_int_equal(w.out[1].data[0], 2);
	assert_float_equal(phys(&w, 1, "R_X", "B"), 2000, 0);
	assert_int_equal(w.out[1].data[3], 33);
	unload(&w);
}

/* send = change: only a changed payload goes out; stale is a change. */
static void test_change(void **state)
{
	struct world w;

	(void)state;
	must_load(&w, "[output c]\nbus = rig\nmessage = R_I\nsend = change\n"
		      "set = Spd = spd\ncounter = Cnt\n"
		      "checksum = Crc: xor8\n");
	veh_a(&w, 0, 10, 0, 0);
	veh_a(&w, 10, 10, 0, 0);
	veh_a(&w, 20, 10, 99, 0); /* an input it does not read */
	assert_int_equal(w.n_out, 1);
	veh_a(&w, 30, 11, 0, 0);
	assert_int_equal(w.n_out, 2);
	/* stale 50 ms after 30 ms: the substitute (0) is a change */
	assert_int_equal(translate_next_deadline(w.t), T0 + 80 * MS + 1000);
	translate_tick(w.t, T0 + 200 * MS);
	assert_int_equal(w.n_out, 3);
	assert_int_equal(w.out[2].t_ns, T0 + 80 * MS + 1000);
	assert_float_equal(phys(&w, 2, "R_I", "Spd"), 0, 0);
	assert_int_equal((unsigned)phys(&w, 2, "R_I", "Cnt"), 2);
	assert_int_equal(w.out[2].data[7],
			 translate_checksum(TRANSLATE_XOR8, w.out[2].data, 8, 7,
					    8));
	unload(&w);
}

/* The same frames give the same output however time is ticked between
 * them (the daemon's timer versus check's per-line clock). */
static void test_tick_independent(void **state)
{
	static const uint64_t steps[] = { 0, 1 * MS, 3 * MS, 7 * MS + 333 };
	struct frame first[64];
	size_t n_first = 0;

	(void)state;
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		struct world w;
		uint64_t t = T0;

		must_load(&w, out_cycle);
		for (uint64_t ms = 0; ms <= 300; ms += 13) {
			if (ms > 100 && ms < 200)
				continue; /* a gap: spd goes stale */
			while (steps[s] && t + steps[s] < T0 + ms * MS) {
				t += steps[s];
				translate_tick(w.t, t);
			}
			veh_a(&w, ms, (double)ms, (double)ms - 150, 3);
		}
		if (s == 0) {
			memcpy(first, w.out, w.n_out * sizeof(*first));
			n_first = w.n_out;
		} else {
			assert_int_equal(w.n_out, n_first);
			assert_memory_equal(w.out, first,
					    n_first * sizeof(*first));
		}
		unload(&w);
	}
	assert_true(n_first > 20);
}

/* The daemon's timer ticks to its clock; a frame stamped earlier but read
 * after that tick keeps its own time (as check sees it), and a tick before
 * the first frame starts nothing. */
static void test_late_frame(void **state)
{
	struct world w;

	(void)state;
	must_load(&w, "[output f]\nbus = rig\nmessage = R_F\nsend = each:VEH_A\n"
		      "set = F1 = spd\n"
		      "[output c]\nbus = rig\nmessage = R_I\nset = Spd = spd\n");
	translate_tick(w.t, T0 - 5 * MS);
	assert_int_equal(translate_next_deadline(w.t), UINT64_MAX);
	veh_a(&w, 0, 1, 0, 0);
	assert_int_equal(w.n_out, 1);
	translate_tick(w.t, T0 + 8 * MS);
	veh_a(&w, 6, 2, 0, 0);
	assert_int_equal(w.n_out, 2);
	assert_int_equal(w.out[1].t_ns, T0 + 6 * MS);
	/* the cycle deadline at 10 ms has run: a frame from before it is
	 * taken at 10 ms (time never goes back) */
	translate_tick(w.t, T0 + 12 * MS);
	assert_int_equal(w.n_out, 3);
	veh_a(&w, 9, 3, 0, 0);
	assert_int_equal(w.out[3].t_ns, T0 + 10 * MS);
	unload(&w);
}

/* Times are taken on the microsecond grid: a run with nanosecond stamps
 * and one from a log with microseconds give the same frames. */
static void test_microsecond_grid(void **state)
{
	struct world a, b;
	struct frame f;

	(void)state;
	must_load(&a, out_cycle);
	memset(&f, 0, sizeof(f));
	f.id = 256;
	f.len = 8;
	f.t_ns = T0 + 123456789;
	translate_frame(a.t, 0, &f);
	translate_tick(a.t, T0 + 200 * MS);
	must_load(&b, out_cycle);
	f.t_ns = T0 + 123456000;
	translate_frame(b.t, 0, &f);
	translate_tick(b.t, T0 + 200 * MS);
	assert_int_equal(a.n_out, b.n_out);
	assert_memory_equal(a.out, b.out, a.n_out * sizeof(a.out[0]));
	assert_int_equal(a.out[0].t_ns, T0 + 133456000);
	unload(&a);
	unload(&b);
}

struct bad {
	const char *outputs;
	unsigned line; /* within outputs, 1-based */
	const char *msg;
};

static const struct bad bads[] = {
	{ "[output o]\nbus = rig\nmessage = NOPE\nset = Spd = 1\n", 3,
	  "output o: unknown message NOPE in the DBC of bus rig" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Nope = 1\n", 4,
	  "output o: set: unknown rig signal R_I.Nope" },
	{ "[output o]\nbus = nope\nmessage = R_I\n", 2, "unknown bus nope" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = spd +\n", 4,
	  "set Spd: column 6 of the expression: unexpected end" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = \"Drive\"\n", 4,
	  "string \"Drive\" set into Spd, which has no value table" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Gear = \"Sport\"\n", 4,
	  "\"Sport\" is not a value of Gear" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Gear = VEH_A.Gear == \"X\"\n",
	  4, "\"X\" is not a value of VEH_A.Gear" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = nope\n", 4,
	  "unknown signal nope" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\n"
	  "checksum = Wide: crc8_sae_j1850\n",
	  5, "checksum Wide: crc8_sae_j1850 needs an integer signal of 8 bits, "
	     "Wide has 16" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\n"
	  "checksum = Crc: crc16_ccitt\n",
	  5, "needs an integer signal of 16 bits, Crc has 8" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\n"
	  "checksum = Crc: md5\n",
	  5, "checksum: unknown kind \"md5\"" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Trq = 5000\n", 4,
	  "set Trq: 5000 is outside its raw range" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nset = Spd = 2\n",
	  5, "signal Spd is set twice" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nsend = often\n",
	  5, "send: expected cycle, change or each:MESSAGE" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nsend = each:NOPE\n",
	  5, "send: unknown message NOPE" },
	{ "[output o]\nbus = rig\nmessage = R_M\nset = Volt = 1\n", 1,
	  "give a period (message R_M has no GenMsgCycleTime)" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nperiod = 1.5us\n",
	  5, "period: expected a duration" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nsend = change\n"
	  "period = 10ms\n",
	  6, "period: only with send = cycle" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\nstale = maybe\n",
	  5, "stale: expected substitute, hold or stop" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\ncolour = red\n",
	  5, "unknown key 'colour'" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = 1\ncounter = Crc\n"
	  "checksum = Crc: xor8\n",
	  6, "checksum Crc: it is the counter" },
	{ "[output o]\nbus = rig\nmessage = R_I\ncounter = Cnt\nset = Cnt = 1\n",
	  5, "set Cnt: it is the counter" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd = spd\n"
	  "substitute = Trq = 1\n",
	  5, "substitute Trq: no `set` writes that signal" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Trq = spd\n"
	  "substitute = Trq = 9999\n",
	  5, "substitute Trq: 9999 is outside its raw range" },
	{ "[output o]\nbus = rig\nmessage = R_I\n", 1,
	  "no `set`: nothing to translate" },
	{ "[output o]\nbus = rig\nmessage = R_X\nsend = each:VEH_A\n"
	  "set = A = 1\nset = B = 2\n", 1,
	  "signals of different multiplexer values of Page are set" },
	{ "[output o]\nbus = rig\nmessage = R_I\nmessage = R_M\n", 4,
	  "duplicate key 'message' (first at line" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset Spd 1\n", 4,
	  "syntax error" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Sp d = 1\n", 4,
	  "set: expected one signal name before '=', not \"Sp d \"" },
	{ "[output o]\nbus = rig\nmessage = R_I\nset = Spd 1\n", 4,
	  "set: expected SIGNAL = ..., not \"Spd 1\"" },
};

static void test_load_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct translate_sink sink = { capture, NULL };
		struct config_error err;
		struct world w;
		char path[160], msg[700], want[200];
		char *ini;

		memset(&w, 0, sizeof(w));
		snprintf(w.dir, sizeof(w.dir), "/tmp/test_translate.XXXXXX");
		assert_non_null(mkdtemp(w.dir));
		write_file(w.dir, "veh.dbc", veh_dbc);
		write_file(w.dir, "rig.dbc", rig_dbc);
		ini = malloc(strlen(header) + strlen(bads[i].outputs) + 1);
		assert_non_null(ini);
		strcpy(ini, header);
		strcat(ini, bads[i].outputs);
		write_file(w.dir, "gw.ini", ini);
		free(ini);
		snprintf(w.ini, sizeof(w.ini), "%s/gw.ini", w.dir);
		memset(&err, 0, sizeof(err));
		w.cfg = config_load(w.ini, &err);
		if (w.cfg && config_load_dbcs(w.cfg, &err) == 0)
			w.t = translate_compile(w.cfg, &sink, &err);
		if (w.t)
			fail_msg("case %zu loaded, want \"%s\"", i, bads[i].msg);
		config_error_format(&err, msg, sizeof(msg));
		snprintf(want, sizeof(want), "%s:%u: ", w.ini,
			 HEADER_LINES + bads[i].line);
		if (strncmp(msg, want, strlen(want)) != 0 ||
		    !strstr(msg, bads[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, msg,
				 want, bads[i].msg);
		snprintf(path, sizeof(path), "%s", w.dir);
		unload(&w);
	}
}

/* check regenerates T lines with an output's ID on its bus */
static void test_is_output(void **state)
{
	struct world w;
	struct frame f;

	(void)state;
	must_load(&w, out_cycle);
	memset(&f, 0, sizeof(f));
	f.id = 1280;
	assert_true(translate_is_output(w.t, 1, &f));
	assert_false(translate_is_output(w.t, 0, &f));
	f.ext = true;
	assert_false(translate_is_output(w.t, 1, &f));
	f.ext = false;
	f.id = 1281;
	assert_false(translate_is_output(w.t, 1, &f));
	translate_tx_result(w.t, 0, true);
	translate_tx_result(w.t, 0, false);
	translate_tx_result(w.t, 5, false);
	{
		struct translate_stats st;

		translate_stats(w.t, 0, &st);
		assert_int_equal(st.sent, 1);
		assert_int_equal(st.dropped, 1);
		assert_string_equal(st.name, "dyno");
	}
	unload(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_vectors),
		cmocka_unit_test(test_cycle_counter_checksum),
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_stale_policies),
		cmocka_unit_test(test_hold_before_first_value),
		cmocka_unit_test(test_motorola_each),
		cmocka_unit_test(test_float_targets),
		cmocka_unit_test(test_multiplexed),
		cmocka_unit_test(test_change),
		cmocka_unit_test(test_tick_independent),
		cmocka_unit_test(test_late_frame),
		cmocka_unit_test(test_microsecond_grid),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_is_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
