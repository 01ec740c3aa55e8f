/*
 * test_dbc_parse.c: the DBC parser, model semantics and lookups.
 *
 * Fixtures are our own small files under tests/fixtures/dbc/ (read relative
 * to the repo root, where tests run); the real-world corpus in
 * ../shared/dbc-corpus is parsed too when it is there. Tables hold inline
 * DBC texts with the exact line:col expected for each warning and error.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "dbc/dbc.h"

#define FIX "tests/fixtures/dbc/"
#define CORPUS "../shared/dbc-corpus"

/* ---------------------------------------------------------------- helpers */

static struct dbc *load(const char *path)
{
	struct dbc_diag err;
	struct dbc *db = dbc_parse_file(path, &err);

	if (!db) {
		print_error("%s:%u:%u: %s\n", path, err.loc.line, err.loc.col,
			    err.msg);
		dbc_diag_fini(&err);
		fail();
	}
	return db;
}

static struct dbc *parse(const char *text)
{
	struct dbc_diag err;
	struct dbc *db = dbc_parse_buffer("t.dbc", text, strlen(text), &err);

	if (!db) {
		print_error("t.dbc:%u:%u: %s\n", err.loc.line, err.loc.col,
			    err.msg);
		dbc_diag_fini(&err);
		fail();
	}
	return db;
}

static const struct dbc_message *msg(const struct dbc *db, const char *name)
{
	const struct dbc_message *m = dbc_message_by_name(db, name);

	if (!m) {
		print_error("no message %s\n", name);
		fail();
	}
	return m;
}

static const struct dbc_signal *sig(const struct dbc_message *m,
				    const char *name)
{
	const struct dbc_signal *s = dbc_signal_by_name(m, name);

	if (!s) {
		print_error("no signal %s in %s\n", name, m->name);
		fail();
	}
	return s;
}

static int sig_index(const struct dbc_message *m, const char *name)
{
	return (int)(sig(m, name) - m->signals);
}

static void dump_warnings(const struct dbc *db)
{
	for (size_t i = 0; i < db->n_warnings; i++)
		print_message("  warning %u:%u: %s\n", db->warnings[i].loc.line,
			      db->warnings[i].loc.col, db->warnings[i].msg);
}

static bool has_warning(const struct dbc *db, unsigned line, unsigned col,
			const char *substr)
{
	for (size_t i = 0; i < db->n_warnings; i++)
		if (db->warnings[i].loc.line == line &&
		    db->warnings[i].loc.col == col &&
		    strstr(db->warnings[i].msg, substr))
			return true;
	return false;
}

/* Minimal valid header so that table texts stay short. */
#define MSG1 "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n"

/* ---------------------------------------------------------- full fixture */

static void test_full(void **state)
{
	struct dbc *db = load(FIX "full.dbc");
	const struct dbc_message *m;
	const struct dbc_signal *s;
	const struct dbc_attr *a;

	(void)state;
	dump_warnings(db);
	assert_int_equal(db->n_warnings, 0);
	assert_string_equal(db->file, FIX "full.dbc");
	assert_string_equal(db->version, "1.2.3");
	assert_string_equal(db->comment, "Network comment");
	assert_false(db->j1939);

	assert_int_equal(db->n_nodes, 3);
	assert_string_equal(db->nodes[0].name, "ECU1");
	assert_string_equal(db->nodes[0].comment, "Engine controller");
	assert_null(db->nodes[1].comment);
	assert_string_equal(db->nodes[2].name, "Gateway");

	assert_int_equal(db->n_value_tables, 2);
	assert_string_equal(db->value_tables[0].name, "OnOff");
	assert_int_equal(db->value_tables[0].n_values, 2);
	assert_int_equal(db->value_tables[0].values[0].value, 0);
	assert_string_equal(db->value_tables[0].values[0].name, "Off");
	assert_int_equal(db->value_tables[1].n_values, 5);
	assert_int_equal(db->value_tables[1].values[0].value, -1);

	assert_int_equal(db->n_messages, 5);
	m = msg(db, "Engine");
	assert_ptr_equal(m, &db->messages[0]);
	assert_int_equal(m->id, 291);
	assert_false(m->extended);
	assert_int_equal(m->size, 8);
	assert_string_equal(m->sender, "ECU1");
	assert_string_equal(m->comment, "Engine data");
	assert_int_equal(m->cycle_time_ms, 10);
	assert_false(m->fd);
	assert_false(m->j1939);
	assert_false(m->has_mux);
	assert_int_equal(m->n_signals, 4);

	s = sig(m, "Speed");
	assert_int_equal(s->start_bit, 0);
	assert_int_equal(s->length, 16);
	assert_int_equal(s->byte_order, DBC_LITTLE_ENDIAN);
	assert_false(s->is_signed);
	assert_int_equal(s->value_type, DBC_VALUE_INTEGER);
	assert_true(s->factor == 0.01);
	assert_true(s->offset == 0);
	assert_true(s->maximum == 655.35);
	assert_string_equal(s->unit, "km/h");
	assert_int_equal(s->n_receivers, 2);
	assert_string_equal(s->receivers[0], "ECU2");
	assert_string_equal(s->receivers[1], "Gateway");
	assert_string_equal(s->comment, "Vehicle speed\nover two lines");
	assert_true(s->has_start_value);
	assert_true(s->start_value == 1234);
	assert_int_equal(s->mux_parent, -1);
	assert_int_equal(s->first_byte, 0);
	assert_int_equal(s->last_byte, 1);

	s = sig(m, "Temp");
	assert_int_equal(s->byte_order, DBC_BIG_ENDIAN);
	assert_true(s->is_signed);
	assert_true(s->factor == 0.5);
	assert_true(s->offset == -40);
	assert_true(s->minimum == -40);
	assert_true(s->maximum == 87.5);
	assert_true(s->has_start_value); /* the definition's default */
	assert_true(s->start_value == 0);
	assert_int_equal(s->first_byte, 2);
	assert_int_equal(s->last_byte, 2);

	s = sig(m, "Gear"); /* VAL_ naming a VAL_TABLE_ */
	assert_int_equal(s->n_values, 5);
	assert_string_equal(dbc_value_name(s, -1), "Reverse");
	assert_string_equal(dbc_value_name(s, 3), "Third");
	assert_null(dbc_value_name(s, 4));
	assert_int_equal(s->n_receivers, 1);
	assert_string_equal(s->receivers[0], "Vector__XXX");

	s = sig(m, "Flag");
	assert_int_equal(s->n_values, 2);
	assert_int_equal(s->values[0].value, 0); /* sorted */
	assert_string_equal(dbc_value_name(s, 1), "Set");
	assert_string_equal(dbc_value_name(s, 0), "Clear");

	m = msg(db, "J1939Msg");
	assert_true(m->extended);
	assert_int_equal(m->id, 0x19000100);
	assert_true(m->j1939); /* VFrameFormat J1939PG */
	assert_false(m->fd);
	assert_int_equal(m->cycle_time_ms, 100); /* the default */

	m = msg(db, "Muxed");
	assert_true(m->has_mux);
	assert_true(sig(m, "Selector")->is_multiplexer);
	assert_int_equal(sig(m, "Selector")->mux_parent, -1);
	s = sig(m, "ValueA");
	assert_int_equal(s->mux_parent, sig_index(m, "Selector"));
	assert_int_equal(s->n_mux_ranges, 1);
	assert_true(s->mux_ranges[0].lo == 1 && s->mux_ranges[0].hi == 1);
	s = sig(m, "ValueB");
	assert_true(s->mux_ranges[0].lo == 2 && s->mux_ranges[0].hi == 2);
	assert_int_equal(sig(m, "Always")->mux_parent, -1);
	assert_string_equal(dbc_value_name(sig(m, "Selector"), 2), "B");

	m = msg(db, "FdFloat");
	assert_true(m->extended);
	assert_int_equal(m->id, 352);
	assert_int_equal(m->size, 64);
	assert_true(m->fd);
	assert_int_equal(m->cycle_time_ms, 20);
	assert_int_equal(sig(m, "F32")->value_type, DBC_VALUE_FLOAT32);
	assert_int_equal(sig(m, "F64")->value_type, DBC_VALUE_FLOAT64);
	assert_int_equal(sig(m, "Tail")->last_byte, 63);

	m = msg(db, "Cascade");
	assert_true(m->has_mux);
	s = sig(m, "Mid");
	assert_true(s->is_multiplexer);
	assert_int_equal(s->mux_parent, sig_index(m, "Top"));
	s = sig(m, "Leaf");
	assert_int_equal(s->mux_parent, sig_index(m, "Mid"));
	assert_int_equal(s->n_mux_ranges, 2);
	assert_true(s->mux_ranges[0].lo == 5 && s->mux_ranges[0].hi == 5);
	assert_true(s->mux_ranges[1].lo == 7 && s->mux_ranges[1].hi == 9);
	s = sig(m, "Other");
	assert_int_equal(s->mux_parent, sig_index(m, "Mid"));
	assert_true(s->mux_ranges[0].lo == 2 && s->mux_ranges[0].hi == 2);

	assert_int_equal(db->n_env_vars, 1);
	assert_string_equal(db->env_vars[0].name, "EnvLevel");
	assert_int_equal(db->env_vars[0].type, 0);
	assert_true(db->env_vars[0].max == 100);
	assert_true(db->env_vars[0].initial == 10);
	assert_int_equal(db->env_vars[0].id, 1);
	assert_string_equal(db->env_vars[0].unit, "%");
	assert_string_equal(db->env_vars[0].access_type, "DUMMY_NODE_VECTOR0");
	assert_int_equal(db->env_vars[0].n_access_nodes, 2);
	assert_string_equal(db->env_vars[0].comment, "An environment variable");

	assert_int_equal(db->n_signal_groups, 2);
	assert_string_equal(db->signal_groups[0].name, "Group1");
	assert_int_equal(db->signal_groups[0].message_id, 291);
	assert_int_equal(db->signal_groups[0].n_signals, 2);
	assert_string_equal(db->signal_groups[0].signals[1], "Temp");
	assert_int_equal(db->signal_groups[1].n_signals, 0);

	/* Attributes: explicit values, defaults, relations. */
	assert_int_equal(db->n_attr_defs, 9);
	a = dbc_attr_find(db, "BusType", DBC_OBJ_NETWORK, 0, NULL, NULL);
	assert_non_null(a);
	assert_string_equal(a->string_value, "CAN");
	a = dbc_attr_find(db, "GenMsgCycleTime", DBC_OBJ_MESSAGE, 1000, NULL,
			  NULL);
	assert_non_null(a);
	assert_true(a->number_value == 100);
	a = dbc_attr_find(db, "GenMsgCycleTime", DBC_OBJ_MESSAGE, 291, NULL,
			  NULL);
	assert_true(a->number_value == 10);
	a = dbc_attr_find(db, "VFrameFormat", DBC_OBJ_MESSAGE, 2147484000u,
			  NULL, NULL);
	assert_string_equal(a->string_value, "ExtendedCAN_FD");
	assert_true(a->number_value == 15);
	a = dbc_attr_find(db, "NodeLayer", DBC_OBJ_NODE, 0, NULL, "ECU2");
	assert_true(a->number_value == 16);
	a = dbc_attr_find(db, "NodeLayer", DBC_OBJ_NODE, 0, NULL, "ECU1");
	assert_true(a->number_value == 0);
	a = dbc_attr_find(db, "EnvAttr", DBC_OBJ_ENV_VAR, 0, NULL, "EnvLevel");
	assert_true(a->number_value == 5);
	a = dbc_attr_find(db, "NodeMsgRel", DBC_OBJ_REL_NODE_MESSAGE, 291, NULL,
			  "ECU1");
	assert_true(a->number_value == 42);
	assert_string_equal(a->node, "ECU1");
	a = dbc_attr_find(db, "NodeMsgRel", DBC_OBJ_REL_NODE_MESSAGE, 291, NULL,
			  "ECU2");
	assert_true(a->number_value == 7);
	a = dbc_attr_find(db, "NodeSigRel", DBC_OBJ_REL_NODE_SIGNAL, 291,
			  "Speed", "ECU2");
	assert_string_equal(a->string_value, "rx");
	a = dbc_attr_find(db, "GenSigStartValue", DBC_OBJ_SIGNAL, 291, "Speed",
			  NULL);
	assert_true(a->number_value == 1234);
	assert_null(dbc_attr_find(db, "NoSuchAttr", DBC_OBJ_NETWORK, 0, NULL,
				  NULL));
	/* Defined for messages only. */
	assert_null(dbc_attr_find(db, "GenMsgCycleTime", DBC_OBJ_SIGNAL, 291,
				  "Speed", NULL));
	dbc_free(db);
}

/* -------------------------------------------------------------- sections */

static void test_sections_any_order(void **state)
{
	/* References before definitions, definitions in odd places. */
	static const char text[] =
		"BA_ \"GenMsgCycleTime\" BO_ 100 50;\n"
		"CM_ SG_ 100 Sig \"late comment\";\n"
		"VAL_ 100 Sig T ;\n"
		"BA_DEF_DEF_ \"GenMsgCycleTime\" 5;\n"
		"SIG_VALTYPE_ 100 Sig : 1;\n"
		"CM_ BU_ N1 \"node\";\n"
		"BO_ 100 M: 8 N1\n"
		" SG_ Sig : 0|32@1+ (1,0) [0|0] \"\" N1\n"
		"VAL_TABLE_ T 1 \"one\" ;\n"
		"BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 1000;\n"
		"BU_: N1\n"
		"VERSION \"v\"\n";
	struct dbc *db = parse(text);
	const struct dbc_message *m = msg(db, "M");

	(void)state;
	dump_warnings(db);
	assert_int_equal(db->n_warnings, 0);
	assert_int_equal(m->cycle_time_ms, 50);
	assert_string_equal(sig(m, "Sig")->comment, "late comment");
	assert_string_equal(dbc_value_name(sig(m, "Sig"), 1), "one");
	assert_int_equal(sig(m, "Sig")->value_type, DBC_VALUE_FLOAT32);
	assert_string_equal(db->nodes[0].comment, "node");
	assert_string_equal(db->version, "v");
	dbc_free(db);
}

static void test_section_variants(void **state)
{
	static const char *const ok[] = {
		"",
		"VERSION \"\"\n",
		"NS_ :\n\tCM_\n\tBA_\nBS_:\nBU_:\n",
		"NS_:\nBS_: 500 : 1,2\nBU_: A\n",
		"BS_: 125;\nBU_: A B C;\n",
		"BS_:\n\nBU_:\n\n" MSG1,
		"// comment\nVERSION \"x\" // trailing\n" MSG1,
		MSG1 "SIG_GROUP_ 1 G 1 : ;\n",
		MSG1 "SIG_GROUP_ 1 G 1 : S;\n",
		"BO_ 1 M: 0 X\n",
		"BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X;\n",
		"BO_ 1 M: 8 X\n SG_ S:0|8@1+(1,0)[0|0]\"\" X\n",
		"BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" A B,C\n",
		"EV_ E: 1 [0|1.5] \"\" 0 2 DUMMY_NODE_VECTOR8000 Vector__XXX;\n"
		"VAL_ E 1 \"x\";\nCM_ EV_ E \"e\";\n",
		MSG1 "CM_ SG_ 1 S \"with \\\"quotes\\\" and \\\\\";\n",
		MSG1 "BA_DEF_ SG_ \"A\" ENUM \"x\",\"y\";\n"
		"BA_DEF_DEF_ \"A\" \"y\";\nBA_ \"A\" SG_ 1 S 0;\n",
		"BA_DEF_ \"H\" HEX 0 255;\nBA_DEF_ \"F\" FLOAT -1.5 1E+038;\n"
		"BA_DEF_ \"S\" STRING;\nBA_DEF_DEF_ \"S\" \"s\";\n",
		MSG1 "SG_MUL_VAL_ 1 S S 0-1;\n", /* self-mux: warned, skipped */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct dbc_diag err;
		struct dbc *db = dbc_parse_buffer("t", ok[i], strlen(ok[i]),
						  &err);

		if (!db) {
			print_error("case %zu: %u:%u: %s\n", i, err.loc.line,
				    err.loc.col, err.msg);
			dbc_diag_fini(&err);
			fail();
		}
		dbc_free(db);
	}
}

static void test_crlf_bom(void **state)
{
	struct dbc *db = load(FIX "crlf_bom.dbc");
	const struct dbc_message *m = msg(db, "M1");
	struct dbc_diag err;

	(void)state;
	dump_warnings(db);
	assert_int_equal(db->n_warnings, 0);
	assert_string_equal(m->comment, "line one\nline two");
	assert_string_equal(sig(m, "S1")->comment, "sig");
	assert_int_equal(db->n_nodes, 2);
	dbc_free(db);

	/* The BOM takes no column. */
	assert_null(dbc_parse_buffer("t", "\xEF\xBB\xBFVERSION 1", 13, &err));
	assert_int_equal(err.loc.line, 1);
	assert_int_equal(err.loc.col, 9);
	dbc_diag_fini(&err);
	/* CR-only line ends count as lines. */
	assert_null(dbc_parse_buffer("t", "VERSION \"\"\r\rBO_ x", 17, &err));
	assert_int_equal(err.loc.line, 3);
	assert_int_equal(err.loc.col, 5);
	dbc_diag_fini(&err);
}

/* ----------------------------------------------------------- deviations */

struct dev_case {
	const char *text;
	unsigned line, col;
	const char *msg;
};

static const struct dev_case dev_cases[] = {
	{ "BU_: A 1st\n", 1, 8, "starts with a digit" },
	{ "BO_ 1 2Msg: 8 X\n", 1, 7, "starts with a digit" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (.25,0) [0|0] \"\" X\n", 2, 18,
	  "without a leading digit" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (+1,0) [0|0] \"\" X\n", 2, 18,
	  "'+' sign" },
	{ "BO_ 2048 M: 8 X\n", 1, 5, "without the extended flag" },
	{ "BO_ 1073741824 M: 8 X\n", 1, 5, "does not fit in 29 bits" },
	{ "BO_ 1 M: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n"
	  " SG_ B : 4|8@1+ (1,0) [0|0] \"\" X\n", 3, 2, "overlaps" },
	{ "BO_ 1 M: 8 X\n SG_ A : 7|8@0+ (1,0) [0|0] \"\" X\n"
	  " SG_ B : 0|1@1+ (1,0) [0|0] \"\" X\n", 3, 2, "overlaps" },
	{ "BO_ 1 M: 2 X\n SG_ A : 16|8@1+ (1,0) [0|0] \"\" X\n", 2, 2,
	  "beyond the 2 bytes" },
	{ "BO_ 1 M: 8 X\n SG_ A : 600|8@1+ (1,0) [0|0] \"\" X\n", 2, 2,
	  "does not fit in 64 bytes" },
	{ MSG1 "BO_ 1 N: 8 X\n", 3, 5, "duplicate message ID 1" },
	{ MSG1 " SG_ S : 8|8@1+ (1,0) [0|0] \"\" X\n", 3, 2,
	  "duplicate signal 'S'" },
	{ MSG1 "CM_ SG_ 1 \"text\";\n", 3, 11, "without a signal name" },
	{ MSG1 "CM_ SG_ 2 S \"text\";\n", 3, 9, "unknown message ID 2" },
	{ MSG1 "CM_ SG_ 1 T \"text\";\n", 3, 11, "unknown signal 'T'" },
	{ MSG1 "CM_ BO_ 7 \"text\";\n", 3, 9, "unknown message ID 7" },
	{ MSG1 "CM_ BU_ Nope \"text\";\n", 3, 9, "unknown node 'Nope'" },
	{ MSG1 "BA_DEF_ SG_ \"A\" INT 0 9;\nBA_ \"A\" SG_ 1 T 3;\n", 4, 15,
	  "unknown signal 'T'" },
	{ MSG1 "BA_DEF_ BO_ \"A\" INT 0 9;\nBA_ \"A\" BO_ 5 3;\n", 4, 13,
	  "unknown message ID 5" },
	{ MSG1 "BA_ \"Undef\" BO_ 1 3;\n", 3, 5, "undefined attribute" },
	{ MSG1 "VAL_ 1 T 1 \"x\";\n", 3, 8, "unknown signal 'T'" },
	{ MSG1 "VAL_ 9 S 1 \"x\";\n", 3, 6, "unknown message ID 9" },
	{ MSG1 "VAL_ 1 S NoTable;\n", 3, 10, "unknown value table" },
	{ MSG1 "SG_MUL_VAL_ 1 S Q 1-1;\n", 3, 17, "unknown signal 'Q'" },
	{ "CAT_DEF_ 1 Cat 0;\n", 1, 1, "unsupported section 'CAT_DEF_'" },
	{ "FILTER 0 \"x\";\nVERSION \"\"\n", 1, 1, "section 'FILTER'" },
	{ "SGTYPE_ T : 8@1+ (1,0) [0|0] \"\" 0, Vector__XXX;\n", 1, 1,
	  "SGTYPE_" },
	{ "WHATEVER_ 1 2 3\nVERSION \"\"\n", 1, 1, "unknown section" },
	{ MSG1 "CM_ BO_ 1 \"x\"\nVERSION \"\"\n", 4, 1, "missing ';'" },
	{ "BO_ 1 M: 8\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n", 2, 2,
	  "has no sender" },
	{ "BO_ 1 M: 8 X\n SG_ S m : 0|8@1+ (1,0) [0|0] \"\" X\n", 2, 8,
	  "without a value" },
	{ "# hash comment\n" MSG1, 1, 1, "comment(s)" },
	{ MSG1 "/* block\ncomment */\n", 3, 1, "comment(s)" },
	{ MSG1 "CM_ 1 \"bare id\";\n", 3, 5, "no BO_" },
	{ MSG1 "SIG_VALTYPE_ 1 S : 1;\n", 3, 20, "not a float32" },
	{ "BO_ 1 M: 8 X\n SG_ A M : 0|4@1+ (1,0) [0|0] \"\" X\n"
	  " SG_ B M : 4|4@1+ (1,0) [0|0] \"\" X\n"
	  " SG_ C m1 : 8|4@1+ (1,0) [0|0] \"\" X\n", 1, 5,
	  "2 multiplexers" },
	{ "BO_ 1 M: 8 X\n SG_ C m1 : 8|4@1+ (1,0) [0|0] \"\" X\n", 1, 5,
	  "no multiplexer" },
	{ MSG1 ";\n", 3, 1, "stray ';'" },
	{ MSG1 "BA_DEF_ BO_ \"E\" ENUM \"a\",\"b\";\nBA_ \"E\" BO_ 1 5;\n",
	  4, 15, "out of range" },
	{ MSG1 "BA_DEF_ BO_ \"I\" INT 0 9;\nBA_ \"I\" BO_ 1 \"x\";\n", 4, 15,
	  "expects a number" },
	{ "BU_: A A\n", 1, 8, "duplicate node" },
};

static void test_deviations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dev_cases) / sizeof(dev_cases[0]); i++) {
		const struct dev_case *c = &dev_cases[i];
		struct dbc *db = parse(c->text);

		if (!has_warning(db, c->line, c->col, c->msg)) {
			print_error("case %zu: no warning %u:%u '%s'; got:\n", i,
				    c->line, c->col, c->msg);
			dump_warnings(db);
			dbc_free(db);
			fail();
		}
		dbc_free(db);
	}
}

static void test_deviation_semantics(void **state)
{
	struct dbc *db = load(FIX "deviations.dbc");
	const struct dbc_message *m;
	const struct dbc_signal *s;

	(void)state;
	assert_int_equal(db->n_messages, 2);
	m = &db->messages[0];
	assert_true(m->extended); /* 2048 without the flag */
	assert_int_equal(m->id, 2048);
	assert_ptr_equal(dbc_lookup(db, 2048, true), m); /* first wins */
	assert_null(dbc_lookup(db, 2048, false));
	s = sig(m, "Fac");
	assert_true(s->factor == 0.25);
	assert_true(s->offset == 1);
	assert_true(s->maximum == 1e-7);
	assert_int_equal(db->messages[1].n_signals, 2); /* duplicates kept */
	assert_string_equal(db->nodes[1].name, "2ndNode");
	assert_true(has_warning(db, 11, 14, "without a signal name"));
	assert_true(has_warning(db, 16, 1, "CAT_DEF_"));
	/* Warnings come sorted by position although two passes made them. */
	for (size_t i = 1; i < db->n_warnings; i++)
		assert_true(db->warnings[i - 1].loc.line <=
			    db->warnings[i].loc.line);
	dbc_free(db);
}

/* --------------------------------------------------------------- errors */

struct err_case {
	const char *text;
	unsigned line, col;
	const char *msg;
};

static const struct err_case err_cases[] = {
	{ "BO_ 1 M 8 X\n", 1, 9, "expected ':' after the message name" },
	{ "BO_ 1 M: 65 X\n", 1, 10, "exceeds 64 bytes" },
	{ "BO_ x M: 8 X\n", 1, 5, "expected message ID" },
	{ "BO_ 99999999999 M: 8 X\n", 1, 5, "out of range" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|0@1+ (1,0) [0|0] \"\" X\n", 2, 12,
	  "length 0 not in 1..64" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|65@1+ (1,0) [0|0] \"\" X\n", 2, 12,
	  "length 65" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@2+ (1,0) [0|0] \"\" X\n", 2, 14,
	  "byte order" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1* (1,0) [0|0] \"\" X\n", 2, 15,
	  "expected '+' or '-'" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (x,0) [0|0] \"\" X\n", 2, 18,
	  "expected factor" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1;0) [0|0] \"\" X\n", 2, 19,
	  "expected ','" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] X\n", 2, 29,
	  "expected unit string" },
	{ "BO_ 1 M: 8 X\n SG_ S Q : 0|8@1+ (1,0) [0|0] \"\" X\n", 2, 8,
	  "multiplexer indicator" },
	{ "BO_ 1 M: 8 X\n SG_ S m1x : 0|8@1+ (1,0) [0|0] \"\" X\n", 2, 8,
	  "bad multiplexer indicator" },
	{ "BO_ 1 M: 8 X\n SG_ S : 65536|8@1+ (1,0) [0|0] \"\" X\n", 2, 10,
	  "start bit out of range" },
	{ "CM_ \"unterminated\n\n", 1, 5, "unterminated string" },
	{ "SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n", 1, 1, "outside of a BO_" },
	{ "VERSION 1\n", 1, 9, "expected a string after VERSION" },
	{ "BA_DEF_ BO_ \"X\" BOGUS;\n", 1, 17, "expected INT, HEX" },
	{ "BA_DEF_REL_ BO_ \"X\" INT 0 1;\n", 1, 13, "BU_BO_REL_" },
	{ MSG1 "SIG_VALTYPE_ 1 S : 3;\n", 3, 20, "value type 3" },
	{ "\x01", 1, 1, "got byte 0x01" },
	{ "VERSION \"\"\n  \xC3\xA9", 2, 3, "got byte 0xC3" },
	{ MSG1 "VAL_ 1 S 1 \"a\" 2 ;\n", 3, 18, "expected value description" },
	{ MSG1 "VAL_ 1 S 1.5 \"a\";\n", 3, 10, "not an integer" },
	{ "BU_ A\n", 1, 5, "expected ':' after BU_" },
	{ MSG1 "CM_ SG_ 1 S \"x\" junk;\n", 3, 17, "expected ';' after CM_" },
	{ MSG1 "CM_ XX_ 1 \"x\";\n", 3, 5, "after CM_" },
	{ MSG1 "SG_MUL_VAL_ 1 S S 1 2;\n", 3, 21, "expected '-'" },
	{ MSG1 "BA_ \"A\" BO_ 1 ;\n", 3, 15, "expected attribute value" },
	{ "BO_TX_BU_ 1 A;\n", 1, 13, "expected ':'" },
	{ "EV_ E: 3 [0|1] \"\" 0 1 D N;\n", 1, 8, "variable type" },
	{ "BS_: 500 : 1\n", 2, 1, "expected ',' between BTR1 and BTR2" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1E999,0) [0|0] \"\" X\n", 2, 18,
	  "bad number" },
	{ "BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n)", 3, 1,
	  "expected a section keyword" },
	{ "VERSION \"\"\n\n   ]", 3, 4, "got ']'" },
};

static void test_errors(void **state)
{
	size_t bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct dbc_diag err;
		struct dbc *db;

		db = dbc_parse_buffer("t", c->text, strlen(c->text), &err);
		if (db) {
			print_error("case %zu: parsed, expected an error\n", i);
			dbc_free(db);
			fail();
		}
		if (err.loc.line != c->line || err.loc.col != c->col ||
		    !strstr(err.msg, c->msg) || strchr(err.msg, '\n')) {
			print_error("case %zu: got %u:%u '%s', want %u:%u '%s'\n",
				    i, err.loc.line, err.loc.col, err.msg,
				    c->line, c->col, c->msg);
			bad++;
		}
		dbc_diag_fini(&err);
	}
	assert_int_equal(bad, 0);
}

static void test_file_errors(void **state)
{
	struct dbc_diag err;

	(void)state;
	assert_null(dbc_parse_file(FIX "no-such-file.dbc", &err));
	assert_non_null(strstr(err.msg, "No such file"));
	dbc_diag_fini(&err);
	assert_null(dbc_parse_file(FIX, &err)); /* a directory */
	assert_non_null(err.msg);
	dbc_diag_fini(&err);
	/* err may be NULL */
	assert_null(dbc_parse_buffer("t", "]", 1, NULL));
}

/* Every prefix of a rich file: no crash, and an error is one line with a
 * location. Catches reads past the end of truncated tokens. */
static void test_truncations(void **state)
{
	FILE *f = fopen(FIX "full.dbc", "rb");
	char buf[8192];
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 1000 && n < sizeof(buf));
	for (size_t len = 0; len <= n; len++) {
		struct dbc_diag err;
		/* Exact-size copy so that ASan sees any overread. */
		char *copy = malloc(len ? len : 1);
		struct dbc *db;

		memcpy(copy, buf, len);
		db = dbc_parse_buffer("t", copy, len, &err);
		if (db) {
			dbc_free(db);
		} else {
			assert_true(err.loc.line >= 1);
			assert_null(strchr(err.msg, '\n'));
			dbc_diag_fini(&err);
		}
		free(copy);
	}
}

/* Value descriptions: sorted by value, the first of duplicates kept,
 * negative and 64-bit values exact. */
static void test_values(void **state)
{
	static const char text[] = MSG1
		"VAL_ 1 S 5 \"five\" -3 \"minus\" 5 \"again\" 0 \"zero\" "
		"18446744073709551615 \"max\" -9223372036854775808 \"min\" "
		"2 \"two\" 2 \"deux\" 1 \"one\";\n";
	struct dbc *db = parse(text);
	const struct dbc_signal *s = &db->messages[0].signals[0];

	(void)state;
	assert_int_equal(s->n_values, 7);
	for (size_t i = 1; i < s->n_values; i++)
		assert_true(s->values[i - 1].value < s->values[i].value);
	assert_string_equal(dbc_value_name(s, 5), "five");
	assert_string_equal(dbc_value_name(s, 2), "two");
	assert_string_equal(dbc_value_name(s, -3), "minus");
	assert_string_equal(dbc_value_name(s, -1), "max");
	assert_string_equal(dbc_value_name(s, INT64_MIN), "min");
	assert_null(dbc_value_name(s, 3));
	dbc_free(db);
}

/* An empty value list (the first one parsed, so no scratch array exists
 * yet) leaves the signal without names; UBSan once saw a NULL offset here. */
static void test_values_empty(void **state)
{
	static const char *const texts[] = {
		MSG1 "VAL_ 1 S ;\n",
		MSG1 "VAL_TABLE_ T ;\nVAL_ 1 S T;\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct dbc *db = parse(texts[i]);

		assert_int_equal(db->messages[0].signals[0].n_values, 0);
		assert_null(dbc_value_name(&db->messages[0].signals[0], 0));
		dbc_free(db);
	}
}

/* ---------------------------------------------------------- multiplexing */

struct mux_case {
	const char *text;
	const char *signal;
	const char *parent; /* NULL: always present */
	bool is_multiplexer;
	size_t n_ranges;
	uint64_t lo0, hi0, lo1, hi1;
};

#define MUXMSG "BO_ 1 M: 8 X\n SG_ Sw M : 0|8@1+ (1,0) [0|0] \"\" X\n"

static const struct mux_case mux_cases[] = {
	{ MUXMSG " SG_ A m3 : 8|8@1+ (1,0) [0|0] \"\" X\n", "A", "Sw", false,
	  1, 3, 3, 0, 0 },
	{ MUXMSG " SG_ A : 8|8@1+ (1,0) [0|0] \"\" X\n", "A", NULL, false, 0, 0, 0, 0, 0 },
	{ MUXMSG, "Sw", NULL, true, 0, 0, 0, 0, 0 },
	{ MUXMSG " SG_ B m1M : 8|8@1+ (1,0) [0|0] \"\" X\n"
		 " SG_ C m4 : 16|8@1+ (1,0) [0|0] \"\" X\n"
		 "SG_MUL_VAL_ 1 B Sw 1-1;\nSG_MUL_VAL_ 1 C B 4-4;\n",
	  "C", "B", false, 1, 4, 4, 0, 0 },
	{ MUXMSG " SG_ B m1M : 8|8@1+ (1,0) [0|0] \"\" X\n"
		 "SG_MUL_VAL_ 1 B Sw 1-1;\n",
	  "B", "Sw", true, 1, 1, 1, 0, 0 },
	/* SG_MUL_VAL_ overrides mN and may give several ranges. */
	{ MUXMSG " SG_ A m3 : 8|8@1+ (1,0) [0|0] \"\" X\n"
		 "SG_MUL_VAL_ 1 A Sw 5-10, 20-20;\n",
	  "A", "Sw", false, 2, 5, 10, 20, 20 },
	{ MUXMSG " SG_ A m3 : 8|8@1+ (1,0) [0|0] \"\" X\n"
		 "SG_MUL_VAL_ 1 A Sw 9-4;\n",
	  "A", "Sw", false, 1, 4, 9, 0, 0 },
	/* Two switches: SG_MUL_VAL_ picks the second. */
	{ MUXMSG " SG_ T M : 8|8@1+ (1,0) [0|0] \"\" X\n"
		 " SG_ A m2 : 16|8@1+ (1,0) [0|0] \"\" X\n"
		 "SG_MUL_VAL_ 1 A T 2-2;\n",
	  "A", "T", false, 1, 2, 2, 0, 0 },
	/* Large multiplexer values. */
	{ MUXMSG " SG_ A m4294967296 : 8|8@1+ (1,0) [0|0] \"\" X\n", "A",
	  "Sw", false, 1, 4294967296u, 4294967296u, 0, 0 },
	/* A loop made by SG_MUL_VAL_ is cut. */
	{ "BO_ 1 M: 8 X\n SG_ A m1M : 0|8@1+ (1,0) [0|0] \"\" X\n"
	  " SG_ B m1M : 8|8@1+ (1,0) [0|0] \"\" X\n"
	  "SG_MUL_VAL_ 1 A B 1-1;\nSG_MUL_VAL_ 1 B A 1-1;\n",
	  "A", NULL, true, 1, 1, 1, 0, 0 },
};

static void test_mux(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mux_cases) / sizeof(mux_cases[0]); i++) {
		const struct mux_case *c = &mux_cases[i];
		struct dbc *db = parse(c->text);
		const struct dbc_message *m = &db->messages[0];
		const struct dbc_signal *s = sig(m, c->signal);
		int want = c->parent ? sig_index(m, c->parent) : -1;
		bool any = false;

		print_message("mux case %zu\n", i);
		assert_int_equal(s->mux_parent, want);
		assert_int_equal(s->is_multiplexer, c->is_multiplexer);
		if (want >= 0) {
			assert_int_equal(s->n_mux_ranges, c->n_ranges);
			assert_true(s->mux_ranges[0].lo == c->lo0);
			assert_true(s->mux_ranges[0].hi == c->hi0);
			if (c->n_ranges > 1) {
				assert_true(s->mux_ranges[1].lo == c->lo1);
				assert_true(s->mux_ranges[1].hi == c->hi1);
			}
		}
		for (size_t k = 0; k < m->n_signals; k++)
			any |= m->signals[k].mux_parent >= 0;
		assert_int_equal(m->has_mux, any);
		dbc_free(db);
	}
}

/* Decoding through the parsed model: the multiplexer tree must select. */
static void test_mux_decode(void **state)
{
	struct dbc *db = load(FIX "full.dbc");
	const struct dbc_message *m = msg(db, "Cascade");
	struct dbc_decoded out[8];
	uint8_t frame[8] = { 0x51, 0x2A, 0, 0, 0, 0, 0, 0 }; /* Top 1, Mid 5 */
	size_t n;

	(void)state;
	n = dbc_decode(m, frame, 8, out, 8, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(out[2].sig->name, "Leaf");
	assert_int_equal(out[2].raw, 0x2A);
	frame[0] = 0x52; /* Top 2: Mid is not selected, nor its children */
	n = dbc_decode(m, frame, 8, out, 8, NULL);
	assert_int_equal(n, 1);
	dbc_free(db);
}

/* --------------------------------------------------- attribute semantics */

static void test_vframeformat_int(void **state)
{
	struct dbc *db = load(FIX "vframeformat_int.dbc");

	(void)state;
	assert_true(msg(db, "PG")->j1939); /* default 3 = J1939PG */
	assert_false(msg(db, "PG")->fd);
	assert_false(msg(db, "Std")->j1939);
	assert_false(msg(db, "Std")->fd);
	assert_true(msg(db, "Fd")->fd); /* 14 = StandardCAN_FD */
	assert_false(msg(db, "Fd")->j1939);
	assert_int_equal(msg(db, "Fd")->size, 64);
	dbc_free(db);
}

/* CANdb++ shortens names over 32 characters in the sections and keeps the
 * real one in SystemXxxLongSymbol attributes; the model holds the long one,
 * in the object and in every reference to it. */
static void test_long_names(void **state)
{
	struct dbc *db = load(FIX "long_names.dbc");
	const struct dbc_message *m;
	const struct dbc_signal *s;
	const struct dbc_attr *a;

	(void)state;
	assert_null(dbc_message_by_name(db, "BatteryManagementSystemStat_0000"));
	m = msg(db, "BatteryManagementSystemStatus_HighVoltage");
	assert_ptr_equal(m, dbc_lookup(db, 1056, false));
	assert_int_equal(m->cycle_time_ms, 100); /* keyed by ID, still applies */
	assert_string_equal(m->sender, "BatteryManagementSystemControlUnit_Rear");
	s = dbc_signal_by_name(m, "HighVoltageBatteryStateOfChargeDisplayed");
	assert_non_null(s);
	assert_string_equal(s->comment, "SOC shown to the driver");
	assert_string_equal(s->receivers[1],
			    "BatteryManagementSystemControlUnit_Rear");
	s = dbc_signal_by_name(m, "HighVoltageBatteryStateOfChargeRaw_Internal");
	assert_non_null(s);
	assert_true(s->has_start_value); /* resolved through the short name */
	assert_true(s->start_value == 200);
	assert_null(dbc_signal_by_name(m, "HighVoltageBatteryStateOfCh_0001"));
	assert_non_null(dbc_signal_by_name(m, "ContactorState"));
	/* Attribute keys follow the rename. */
	a = dbc_attr_find(db, "GenSigStartValue", DBC_OBJ_SIGNAL, 1056,
			  "HighVoltageBatteryStateOfChargeRaw_Internal", NULL);
	assert_non_null(a);
	assert_true(a->number_value == 200);
	assert_string_equal(db->signal_groups[0].signals[0],
			    "HighVoltageBatteryStateOfChargeDisplayed");
	assert_string_equal(db->nodes[0].name,
			    "BatteryManagementSystemControlUnit_Rear");
	assert_string_equal(db->nodes[2].name,
			    "BodyControl_Front_Left_Door_Unit");
	assert_string_equal(db->env_vars[0].name,
			    "EnvironmentVariableWithAVeryLongName_1");
	assert_string_equal(db->env_vars[0].access_nodes[0],
			    "BatteryManagementSystemControlUnit_Rear");
	m = msg(db, "ShortMsg");
	assert_string_equal(m->signals[0].name,
			    "DoorOpenedByRemoteKeyOnDriverSide");
	assert_non_null(msg(db, "NoLongNameButExactly32Chars_0123"));
	assert_int_equal(db->n_warnings, 0);
	dbc_free(db);

	/* A long name that is already another signal's name is refused. */
	db = parse("BO_ 1 M: 2 X\n SG_ A_0000 : 0|8@1+ (1,0) [0|0] \"\" X\n"
		   " SG_ B : 8|8@1+ (1,0) [0|0] \"\" X\n"
		   "BA_DEF_ SG_ \"SystemSignalLongSymbol\" STRING;\n"
		   "BA_ \"SystemSignalLongSymbol\" SG_ 1 A_0000 \"B\";\n");
	assert_non_null(dbc_signal_by_name(&db->messages[0], "A_0000"));
	assert_true(has_warning(db, 1, 5, "long name 'B' of signal 'A_0000'"));
	dbc_free(db);
}

struct attr_case {
	const char *text;
	int cycle;
	bool fd, j1939, has_start;
	double start;
};

static const struct attr_case attr_cases[] = {
	{ MSG1, 0, false, false, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 9999;\n", 0, false,
	  false, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 9999;\n"
	       "BA_DEF_DEF_ \"GenMsgCycleTime\" 250;\n",
	  250, false, false, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 9999;\n"
	       "BA_DEF_DEF_ \"GenMsgCycleTime\" 250;\n"
	       "BA_ \"GenMsgCycleTime\" BO_ 1 40;\n",
	  40, false, false, false, 0 },
	/* Default given as a string, as some generators write. */
	{ MSG1 "BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 9999;\n"
	       "BA_DEF_DEF_ \"GenMsgCycleTime\" \"33\";\n",
	  33, false, false, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\","
	       "\"ExtendedCAN\",\"StandardCAN_FD\",\"ExtendedCAN_FD\","
	       "\"J1939PG\";\n"
	       "BA_DEF_DEF_ \"VFrameFormat\" \"StandardCAN\";\n"
	       "BA_ \"VFrameFormat\" BO_ 1 2;\n",
	  0, true, false, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\","
	       "\"ExtendedCAN\",\"StandardCAN_FD\",\"ExtendedCAN_FD\","
	       "\"J1939PG\";\n"
	       "BA_DEF_DEF_ \"VFrameFormat\" \"J1939PG\";\n",
	  0, false, true, false, 0 },
	{ MSG1 "BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\","
	       "\"ExtendedCAN\",\"StandardCAN_FD\",\"ExtendedCAN_FD\","
	       "\"J1939PG\";\n"
	       "BA_ \"VFrameFormat\" BO_ 1 \"ExtendedCAN_FD\";\n",
	  0, true, false, false, 0 },
	{ MSG1 "BA_DEF_ SG_ \"GenSigStartValue\" FLOAT 0 100;\n"
	       "BA_ \"GenSigStartValue\" SG_ 1 S 12.5;\n",
	  0, false, false, true, 12.5 },
	{ MSG1 "BA_DEF_ SG_ \"GenSigStartValue\" INT 0 100;\n"
	       "BA_DEF_DEF_ \"GenSigStartValue\" 7;\n",
	  0, false, false, true, 7 },
	/* Standard message in a J1939 database: not J1939. */
	{ MSG1 "BA_DEF_ \"ProtocolType\" STRING;\n"
	       "BA_ \"ProtocolType\" \"J1939\";\n",
	  0, false, false, false, 0 },
	{ "BO_ 2364540158 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n"
	  "BA_DEF_ \"ProtocolType\" STRING;\n"
	  "BA_DEF_DEF_ \"ProtocolType\" \"J1939\";\n",
	  0, false, true, false, 0 },
};

static void test_attr_semantics(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(attr_cases) / sizeof(attr_cases[0]);
	     i++) {
		const struct attr_case *c = &attr_cases[i];
		struct dbc *db = parse(c->text);
		const struct dbc_message *m = &db->messages[0];

		print_message("attr case %zu\n", i);
		dump_warnings(db);
		assert_int_equal(m->cycle_time_ms, c->cycle);
		assert_int_equal(m->fd, c->fd);
		assert_int_equal(m->j1939, c->j1939);
		assert_int_equal(m->signals[0].has_start_value, c->has_start);
		assert_true(m->signals[0].start_value == c->start);
		dbc_free(db);
	}
}

/* ---------------------------------------------------------------- charset */

static void test_charset(void **state)
{
	struct dbc *db = load(FIX "charset.dbc");
	const struct dbc_message *m = msg(db, "M1");
	const struct dbc_signal *s = sig(m, "S1");

	(void)state;
	/* CP1252: ö ß € é; "°C" must not be taken for GBK. */
	assert_string_equal(m->comment, "Gr\xC3\xB6\xC3\x9F" "e \xE2\x82\xAC "
					"caf\xC3\xA9 ");
	assert_string_equal(s->unit, "\xC2\xB0" "C");
	/* GBK: 车速, 关闭 */
	assert_string_equal(s->comment, "\xE8\xBD\xA6\xE9\x80\x9F");
	assert_string_equal(dbc_value_name(s, 0), "\xE5\x85\xB3\xE9\x97\xAD");
	/* CP1252 with a byte it does not define: U+FFFD. */
	assert_string_equal(dbc_value_name(s, 1),
			    "na\xC3\xAFve \xEF\xBF\xBD");
	/* UTF-8 is kept as it is. */
	assert_string_equal(db->nodes[0].comment,
			    "already UTF-8: \xC3\xA9\xE8\xBD\xA6");
	dbc_free(db);
}

struct cs_case {
	const char *in;
	const char *out;
};

static const struct cs_case cs_cases[] = {
	{ "plain", "plain" },
	{ "\xE2\x82\xAC", "\xE2\x82\xAC" },         /* UTF-8 € */
	{ "\x80", "\xE2\x82\xAC" },                 /* CP1252 € */
	{ "\x9F\xFF", "\xC5\xB8\xC3\xBF" },         /* Ÿ ÿ */
	{ "\xC4nderung", "\xC3\x84nderung" },       /* Änderung */
	{ "\xED\xA0\x80", "\xC3\xAD\xC2\xA0\xE2\x82\xAC" }, /* surrogate: not UTF-8 */
	{ "\xC0\x80", "\xC3\x80\xE2\x82\xAC" },     /* overlong: not UTF-8 */
	{ "\xD6\xD0\xCE\xC4", "\xE4\xB8\xAD\xE6\x96\x87" }, /* GBK 中文 */
	{ "x\xB5\xE7\xD1\xB9V", "x\xE7\x94\xB5\xE5\x8E\x8BV" }, /* GBK 电压 */
	{ "\x81\x40\xB0\xA1", "\xE4\xB8\x82\xE5\x95\x8A" }, /* GBK ext + 啊 */
	{ "\x8D\x90", "\xEF\xBF\xBD\xEF\xBF\xBD" }, /* CP1252 holes */
};

static void test_charset_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cs_cases) / sizeof(cs_cases[0]); i++) {
		char text[128];
		struct dbc *db;

		snprintf(text, sizeof(text), "CM_ \"%s\";\n", cs_cases[i].in);
		db = parse(text);
		if (strcmp(db->comment, cs_cases[i].out) != 0) {
			print_error("case %zu: got '%s'\n", i, db->comment);
			dbc_free(db);
			fail();
		}
		dbc_free(db);
	}
}

static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		size_t n = *s < 0x80 ? 0 : *s >= 0xF0 ? 3 : *s >= 0xE0 ? 2 :
						       *s >= 0xC2 ? 1 : 9;

		if (n == 9)
			return false;
		for (size_t k = 1; k <= n; k++)
			if ((s[k] & 0xC0) != 0x80)
				return false;
		s += n + 1;
	}
	return true;
}

static void test_charset_corpus(void **state)
{
	struct dbc *db;
	const char *c;

	(void)state;
	db = dbc_parse_file(CORPUS "/cp1252.dbc", NULL);
	if (!db) {
		print_message("corpus not present, cp1252 check skipped\n");
		return;
	}
	assert_int_equal(db->n_nodes, 1);
	c = db->nodes[0].comment;
	assert_non_null(c);
	assert_true(utf8_valid((const unsigned char *)c));
	assert_non_null(strstr(c, "~\x7F\xE2\x82\xAC\xE2\x80\x9A"));
	assert_non_null(strstr(c, "\xC3\xBE\xC3\xBF")); /* þ ÿ at the end */
	dbc_free(db);
}

/* ----------------------------------------------------------------- lookup */

static void test_lookup_j1939(void **state)
{
	struct dbc *db = load(FIX "j1939.dbc");
	const struct dbc_message *eec1 = msg(db, "EEC1");
	const struct dbc_message *ccvs = msg(db, "CCVS1");
	const struct dbc_message *tsc1 = msg(db, "TSC1");
	const struct dbc_message *plain = msg(db, "Plain");

	(void)state;
	assert_true(db->j1939);
	assert_true(eec1->j1939 && ccvs->j1939 && tsc1->j1939);
	assert_false(plain->j1939);
	/* Exact. */
	assert_ptr_equal(dbc_lookup(db, 0x0CF004FE, true), eec1);
	/* PDU2 (PF >= 240): any source address and priority. */
	assert_ptr_equal(dbc_lookup(db, 0x0CF00400, true), eec1);
	assert_ptr_equal(dbc_lookup(db, 0x18F00417, true), eec1);
	assert_ptr_equal(dbc_lookup(db, 0x18FEF100, true), ccvs);
	assert_null(dbc_lookup(db, 0x18FEF200, true));
	/* PDU1 (PF < 240): the destination byte does not count either. */
	assert_ptr_equal(dbc_lookup(db, 0x0C000003, true), tsc1);
	assert_ptr_equal(dbc_lookup(db, 0x0C00AA55, true), tsc1);
	assert_null(dbc_lookup(db, 0x0C01AA55, true)); /* other PF */
	/* Data page and extended data page belong to the PGN. */
	assert_null(dbc_lookup(db, 0x0DF004FE, true));
	assert_null(dbc_lookup(db, 0x0EF004FE, true));
	/* Standard IDs are not J1939. */
	assert_ptr_equal(dbc_lookup(db, 256, false), plain);
	/* As an extended ID, 0x100 is priority 0, PGN 0 (TSC1), DA 1. */
	assert_ptr_equal(dbc_lookup(db, 256, true), tsc1);
	assert_null(dbc_lookup(db, 0x0CF004FE, false));
	dbc_free(db);
}

static void test_lookup(void **state)
{
	struct dbc *db = load(FIX "full.dbc");
	const struct dbc_message *eng = msg(db, "Engine");
	const struct dbc_message *fdm = msg(db, "FdFloat");
	const struct dbc_message *pg = msg(db, "J1939Msg");

	(void)state;
	assert_ptr_equal(db->std_index[291], eng);
	assert_ptr_equal(dbc_lookup(db, 291, false), eng);
	assert_null(dbc_lookup(db, 291, true));
	assert_null(dbc_lookup(db, 292, false));
	assert_null(dbc_lookup(db, 4096, false));
	assert_null(dbc_lookup(db, UINT32_MAX, false));
	assert_ptr_equal(dbc_lookup(db, 352, true), fdm);
	assert_ptr_equal(dbc_lookup(db, 352 | 0x80000000u, true), fdm);
	assert_ptr_equal(dbc_lookup(db, 353, true), msg(db, "Cascade"));
	/* Not J1939: no PGN match for FdFloat. */
	assert_null(dbc_lookup(db, 352 | 0x100000, true));
	/* J1939 by VFrameFormat only: PGN match for that message. */
	assert_ptr_equal(dbc_lookup(db, 0x19000100, true), pg);
	assert_ptr_equal(dbc_lookup(db, 0x1D0055AA, true), pg);
	assert_null(dbc_message_by_name(db, "Nope"));
	assert_null(dbc_message_by_name(db, NULL));
	assert_null(dbc_signal_by_name(eng, "Nope"));
	assert_null(dbc_value_name(sig(eng, "Speed"), 0));
	assert_null(dbc_lookup(NULL, 1, false));
	dbc_free(db);
	dbc_free(NULL);
}

/* A bigger generated file: all IDs found, names hashed, nothing lost. */
static void test_lookup_many(void **state)
{
	size_t cap = 4 << 20, len = 0;
	char *text = malloc(cap);
	struct dbc *db;

	(void)state;
	assert_non_null(text);
	for (unsigned i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"BO_ %u M%u: 8 N\n SG_ S%u : 0|8@1+ "
					"(1,0) [0|0] \"\" N\n",
					i < 2048 ? i : 0x80000000u | (i * 7919),
					i, i);
	for (unsigned i = 0; i < 3000; i += 3)
		len += (size_t)snprintf(text + len, cap - len,
					"CM_ SG_ %u S%u \"c%u\";\n",
					i < 2048 ? i : 0x80000000u | (i * 7919),
					i, i);
	db = dbc_parse_buffer("many", text, len, NULL);
	assert_non_null(db);
	assert_int_equal(db->n_messages, 3000);
	for (unsigned i = 0; i < 3000; i++) {
		const struct dbc_message *m =
			i < 2048 ? dbc_lookup(db, i, false) :
				   dbc_lookup(db, i * 7919, true);
		char name[16];

		assert_ptr_equal(m, &db->messages[i]);
		snprintf(name, sizeof(name), "M%u", i);
		assert_ptr_equal(dbc_message_by_name(db, name), m);
		if (i % 3 == 0)
			assert_non_null(m->signals[0].comment);
		else
			assert_null(m->signals[0].comment);
	}
	dbc_free(db);
	free(text);
}

/* ---------------------------------------------------------------- corpus */

static bool expected_failure(const char *name)
{
	FILE *f = fopen("tests/fixtures/corpus-expected-failures.txt", "r");
	char line[512];
	bool hit = false;

	assert_non_null(f);
	while (!hit && fgets(line, sizeof(line), f)) {
		char *w = strtok(line, " \t\r\n");

		hit = w && w[0] != '#' && strcmp(w, name) == 0;
	}
	fclose(f);
	return hit;
}

/* Invariants every loaded model must hold. */
static void check_model(const struct dbc *db, const char *name)
{
	for (size_t i = 0; i < db->n_messages; i++) {
		const struct dbc_message *m = &db->messages[i];
		const struct dbc_message *hit = dbc_lookup(db, m->id,
							   m->extended);
		bool any = false;

		assert_non_null(m->name);
		assert_non_null(m->sender);
		assert_true(m->size <= DBC_MAX_PAYLOAD);
		if (strcmp(m->name, "VECTOR__INDEPENDENT_SIG_MSG") != 0 &&
		    (!hit || hit->id != m->id)) {
			print_error("%s: %s not found by ID\n", name, m->name);
			fail();
		}
		for (size_t k = 0; k < m->n_signals; k++) {
			const struct dbc_signal *s = &m->signals[k];

			assert_true(s->length >= 1 && s->length <= 64);
			assert_true(s->mux_parent >= -1 &&
				    s->mux_parent < (int)m->n_signals);
			assert_true(s->last_byte < DBC_MAX_PAYLOAD);
			assert_non_null(s->unit);
			any |= s->mux_parent >= 0;
			if (s->mux_parent >= 0)
				assert_true(m->signals[s->mux_parent]
						    .is_multiplexer);
			for (size_t v = 1; v < s->n_values; v++)
				assert_true(s->values[v - 1].value <
					    s->values[v].value);
			if (s->comment)
				assert_true(utf8_valid(
					(const unsigned char *)s->comment));
		}
		assert_int_equal(m->has_mux, any);
		if (m->comment)
			assert_true(utf8_valid((const unsigned char *)m->comment));
	}
}

static void test_corpus(void **state)
{
	DIR *d = opendir(CORPUS);
	struct dirent *de;
	size_t n = 0, ok = 0;

	(void)state;
	if (!d) {
		print_message("corpus %s not present; skipped\n", CORPUS);
		return;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct dbc_diag err;
		struct dbc *db;
		char *path;

		if (len < 5 || strcasecmp(de->d_name + len - 4, ".dbc") != 0)
			continue;
		assert_true(asprintf(&path, "%s/%s", CORPUS, de->d_name) > 0);
		n++;
		db = dbc_parse_file(path, &err);
		if (!db) {
			if (!expected_failure(de->d_name)) {
				print_error("%s:%u:%u: %s\n", path, err.loc.line,
					    err.loc.col, err.msg);
				fail();
			}
			dbc_diag_fini(&err);
		} else {
			check_model(db, path);
			ok++;
			dbc_free(db);
		}
		free(path);
	}
	closedir(d);
	print_message("corpus: %zu files, %zu ok\n", n, ok);
	assert_true(n > 0);
}

/* Spot checks of real files: semantics known from their text. */
static void test_corpus_semantics(void **state)
{
	struct dbc *db;
	const struct dbc_message *m;

	(void)state;
	db = dbc_parse_file(CORPUS "/issue_184_extended_mux_multiple_values.dbc",
			    NULL);
	if (!db) {
		print_message("corpus not present; skipped\n");
		return;
	}
	m = &db->messages[0];
	assert_true(m->has_mux);
	for (size_t k = 0; k < m->n_signals; k++)
		if (m->signals[k].mux_parent >= 0 &&
		    m->signals[k].n_mux_ranges > 1)
			goto found;
	fail_msg("no signal with several mux ranges");
found:
	dbc_free(db);

	db = dbc_parse_file(CORPUS "/vframeformat_int.dbc", NULL);
	assert_non_null(db);
	assert_true(msg(db, "TestMsg_J1939")->j1939);
	assert_false(msg(db, "TestMsg_Std")->j1939);
	dbc_free(db);

	db = dbc_parse_file(CORPUS "/bad_message_length.dbc", NULL);
	assert_non_null(db);
	assert_true(has_warning(db, 40, 2, "beyond the 1 bytes"));
	dbc_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_sections_any_order),
		cmocka_unit_test(test_section_variants),
		cmocka_unit_test(test_crlf_bom),
		cmocka_unit_test(test_deviations),
		cmocka_unit_test(test_deviation_semantics),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_values_empty),
		cmocka_unit_test(test_mux),
		cmocka_unit_test(test_mux_decode),
		cmocka_unit_test(test_vframeformat_int),
		cmocka_unit_test(test_attr_semantics),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_charset_table),
		cmocka_unit_test(test_charset_corpus),
		cmocka_unit_test(test_lookup_j1939),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_lookup_many),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_corpus_semantics),
	};

	return cmocka_run_group_tests_name("dbc_parse", tests, NULL, NULL);
}
