/*
 * cmd_dbc.c: `cangate dbc lint FILE` and `cangate dbc show FILE`.
 *
 * lint prints every accepted deviation as a warning and the first hard
 * error, compiler style (FILE:LINE:COL: warning|error: msg), so editors can
 * jump to them; show dumps the whole parsed model as JSON, which is also
 * how a reviewer sees exactly what cangate understood from a DBC.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/cli/commands.h"
#include "daemon/core/json.h"
#include "dbc/dbc.h"

static void dbc_cmd_usage(void)
{
	fprintf(stderr, "usage: cangate dbc lint FILE | cangate dbc show FILE\n");
}

static void print_diag(const char *file, const char *kind,
		       const struct dbc_diag *d)
{
	const char *msg = d->msg ? d->msg : "(no message)";

	if (d->loc.line)
		printf("%s:%u:%u: %s: %s\n", file, d->loc.line, d->loc.col, kind,
		       msg);
	else
		printf("%s: %s: %s\n", file, kind, msg);
}

static int dbc_lint(const char *path)
{
	struct dbc_diag err = {{0, 0}, NULL};
	struct dbc *db = dbc_parse_file(path, &err);
	size_t n_signals = 0;

	if (!db) {
		/* No line: the file could not be read at all (input error). */
		int rc = err.loc.line ? 1 : 2;

		print_diag(path, "error", &err);
		printf("%s: 1 error, 0 warnings\n", path);
		dbc_diag_fini(&err);
		return rc;
	}
	for (size_t i = 0; i < db->n_warnings; i++)
		print_diag(path, "warning", &db->warnings[i]);
	for (size_t i = 0; i < db->n_messages; i++)
		n_signals += db->messages[i].n_signals;
	printf("%s: 0 errors, %zu warning%s (%zu messages, %zu signals)\n", path,
	       db->n_warnings, db->n_warnings == 1 ? "" : "s", db->n_messages,
	       n_signals);
	dbc_free(db);
	return 0;
}

static const char *object_name(enum dbc_object o)
{
	switch (o) {
	case DBC_OBJ_NETWORK:
		return "network";
	case DBC_OBJ_NODE:
		return "node";
	case DBC_OBJ_MESSAGE:
		return "message";
	case DBC_OBJ_SIGNAL:
		return "signal";
	case DBC_OBJ_ENV_VAR:
		return "env_var";
	case DBC_OBJ_REL_NODE_MESSAGE:
		return "node_message";
	case DBC_OBJ_REL_NODE_SIGNAL:
		return "node_signal";
	case DBC_OBJ_REL_NODE_ENV_VAR:
		return "node_env_var";
	}
	return "unknown";
}

static const char *attr_type_name(enum dbc_attr_type t)
{
	switch (t) {
	case DBC_ATTR_INT:
		return "int";
	case DBC_ATTR_HEX:
		return "hex";
	case DBC_ATTR_FLOAT:
		return "float";
	case DBC_ATTR_STRING:
		return "string";
	case DBC_ATTR_ENUM:
		return "enum";
	}
	return "unknown";
}

static void show_strings(struct json *j, const char *key, char **v, size_t n)
{
	json_key(j, key);
	json_array_begin(j);
	for (size_t i = 0; i < n; i++)
		json_string(j, v[i]);
	json_array_end(j);
}

/* u64: the values are raw values of an unsigned 64-bit signal, where the
 * model keeps those above INT64_MAX as their bit pattern. */
static void show_values(struct json *j, const struct dbc_value_name *v,
			size_t n, bool u64)
{
	json_key(j, "values");
	json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		json_object_begin(j);
		json_key(j, "value");
		if (u64)
			json_uint(j, (uint64_t)v[i].value);
		else
			json_int(j, v[i].value);
		json_key(j, "name");
		json_string(j, v[i].name);
		json_object_end(j);
	}
	json_array_end(j);
}

static void show_signal(struct json *j, const struct dbc_message *m,
			const struct dbc_signal *s)
{
	static const char *const vt[] = {"integer", "float32", "float64"};

	json_object_begin(j);
	json_key(j, "name");
	json_string(j, s->name);
	json_key(j, "start_bit");
	json_uint(j, s->start_bit);
	json_key(j, "length");
	json_uint(j, s->length);
	json_key(j, "byte_order");
	json_string(j, s->byte_order == DBC_LITTLE_ENDIAN ? "little_endian"
							  : "big_endian");
	json_key(j, "signed");
	json_bool(j, s->is_signed);
	json_key(j, "value_type");
	json_string(j, (unsigned)s->value_type < 3 ? vt[s->value_type] : "?");
	json_key(j, "factor");
	json_double(j, s->factor);
	json_key(j, "offset");
	json_double(j, s->offset);
	json_key(j, "minimum");
	json_double(j, s->minimum);
	json_key(j, "maximum");
	json_double(j, s->maximum);
	json_key(j, "unit");
	json_string(j, s->unit ? s->unit : "");
	show_strings(j, "receivers", s->receivers, s->n_receivers);
	json_key(j, "is_multiplexer");
	json_bool(j, s->is_multiplexer);
	json_key(j, "mux_parent");
	if (s->mux_parent >= 0 && (size_t)s->mux_parent < m->n_signals)
		json_string(j, m->signals[s->mux_parent].name);
	else
		json_null(j);
	json_key(j, "mux_ranges");
	json_array_begin(j);
	for (size_t i = 0; i < s->n_mux_ranges; i++) {
		json_array_begin(j);
		json_uint(j, s->mux_ranges[i].lo);
		json_uint(j, s->mux_ranges[i].hi);
		json_array_end(j);
	}
	json_array_end(j);
	show_values(j, s->values, s->n_values,
		    !s->is_signed && s->length == 64 &&
			    s->value_type == DBC_VALUE_INTEGER);
	json_key(j, "comment");
	json_string(j, s->comment);
	json_key(j, "start_value");
	if (s->has_start_value)
		json_double(j, s->start_value);
	else
		json_null(j);
	json_object_end(j);
}

static void show_message(struct json *j, const struct dbc_message *m)
{
	json_object_begin(j);
	json_key(j, "name");
	json_string(j, m->name);
	json_key(j, "id");
	json_uint(j, m->id);
	json_key(j, "ext");
	json_bool(j, m->extended);
	json_key(j, "size");
	json_uint(j, m->size);
	json_key(j, "fd");
	json_bool(j, m->fd);
	json_key(j, "j1939");
	json_bool(j, m->j1939);
	json_key(j, "cycle_time_ms");
	json_int(j, m->cycle_time_ms);
	json_key(j, "sender");
	json_string(j, m->sender);
	json_key(j, "comment");
	json_string(j, m->comment);
	json_key(j, "has_mux");
	json_bool(j, m->has_mux);
	json_key(j, "signals");
	json_array_begin(j);
	for (size_t i = 0; i < m->n_signals; i++)
		show_signal(j, m, &m->signals[i]);
	json_array_end(j);
	json_object_end(j);
}

static void show_attr_value(struct json *j, const struct dbc_attr_def *def,
			    const char *str, double num)
{
	if (def && (def->type == DBC_ATTR_STRING ||
		    (def->type == DBC_ATTR_ENUM && str)))
		json_string(j, str);
	else if (!def && str)
		json_string(j, str);
	else
		json_double(j, num);
}

static void show_model(struct json *j, const struct dbc *db)
{
	json_object_begin(j);
	json_key(j, "file");
	json_string(j, db->file);
	json_key(j, "version");
	json_string(j, db->version);
	json_key(j, "comment");
	json_string(j, db->comment);
	json_key(j, "j1939");
	json_bool(j, db->j1939);

	json_key(j, "nodes");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_nodes; i++) {
		json_object_begin(j);
		json_key(j, "name");
		json_string(j, db->nodes[i].name);
		json_key(j, "comment");
		json_string(j, db->nodes[i].comment);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "messages");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_messages; i++)
		show_message(j, &db->messages[i]);
	json_array_end(j);

	json_key(j, "value_tables");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_value_tables; i++) {
		json_object_begin(j);
		json_key(j, "name");
		json_string(j, db->value_tables[i].name);
		show_values(j, db->value_tables[i].values,
			    db->value_tables[i].n_values, false);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "attribute_definitions");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_attr_defs; i++) {
		const struct dbc_attr_def *a = &db->attr_defs[i];

		json_object_begin(j);
		json_key(j, "name");
		json_string(j, a->name);
		json_key(j, "object");
		json_string(j, object_name(a->object));
		json_key(j, "type");
		json_string(j, attr_type_name(a->type));
		if (a->type == DBC_ATTR_INT || a->type == DBC_ATTR_HEX ||
		    a->type == DBC_ATTR_FLOAT) {
			json_key(j, "min");
			json_double(j, a->min);
			json_key(j, "max");
			json_double(j, a->max);
		}
		if (a->type == DBC_ATTR_ENUM)
			show_strings(j, "enum_values", a->enum_values,
				     a->n_enum_values);
		json_key(j, "default");
		if (!a->has_default)
			json_null(j);
		else if (a->type == DBC_ATTR_STRING || a->type == DBC_ATTR_ENUM)
			json_string(j, a->default_string);
		else
			json_double(j, a->default_number);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "attributes");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_attrs; i++) {
		const struct dbc_attr *a = &db->attrs[i];

		json_object_begin(j);
		json_key(j, "name");
		json_string(j, a->def ? a->def->name : NULL);
		json_key(j, "object");
		json_string(j, object_name(a->object));
		if (a->node) {
			json_key(j, "node");
			json_string(j, a->node);
		}
		if (a->object == DBC_OBJ_MESSAGE || a->object == DBC_OBJ_SIGNAL ||
		    a->object == DBC_OBJ_REL_NODE_MESSAGE ||
		    a->object == DBC_OBJ_REL_NODE_SIGNAL) {
			json_key(j, "message_id");
			json_uint(j, a->message_id);
		}
		if (a->signal) {
			json_key(j, "signal");
			json_string(j, a->signal);
		}
		if (a->env_var) {
			json_key(j, "env_var");
			json_string(j, a->env_var);
		}
		json_key(j, "value");
		show_attr_value(j, a->def, a->string_value, a->number_value);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "env_vars");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_env_vars; i++) {
		const struct dbc_env_var *e = &db->env_vars[i];

		json_object_begin(j);
		json_key(j, "name");
		json_string(j, e->name);
		json_key(j, "type");
		json_int(j, e->type);
		json_key(j, "min");
		json_double(j, e->min);
		json_key(j, "max");
		json_double(j, e->max);
		json_key(j, "initial");
		json_double(j, e->initial);
		json_key(j, "id");
		json_uint(j, e->id);
		json_key(j, "unit");
		json_string(j, e->unit);
		json_key(j, "access_type");
		json_string(j, e->access_type);
		show_strings(j, "access_nodes", e->access_nodes,
			     e->n_access_nodes);
		json_key(j, "comment");
		json_string(j, e->comment);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "signal_groups");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_signal_groups; i++) {
		const struct dbc_signal_group *g = &db->signal_groups[i];

		json_object_begin(j);
		json_key(j, "message_id");
		json_uint(j, g->message_id);
		json_key(j, "name");
		json_string(j, g->name);
		json_key(j, "repetitions");
		json_uint(j, g->repetitions);
		show_strings(j, "signals", g->signals, g->n_signals);
		json_object_end(j);
	}
	json_array_end(j);

	json_key(j, "warnings");
	json_array_begin(j);
	for (size_t i = 0; i < db->n_warnings; i++) {
		json_object_begin(j);
		json_key(j, "line");
		json_uint(j, db->warnings[i].loc.line);
		json_key(j, "col");
		json_uint(j, db->warnings[i].loc.col);
		json_key(j, "msg");
		json_string(j, db->warnings[i].msg);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
	json_newline(j);
}

static int dbc_show(const char *path)
{
	struct dbc_diag err = {{0, 0}, NULL};
	struct dbc *db = dbc_parse_file(path, &err);
	struct json j;
	int rc = 0;

	if (!db) {
		rc = err.loc.line ? 1 : 2;
		if (err.loc.line)
			fprintf(stderr, "%s:%u:%u: error: %s\n", path,
				err.loc.line, err.loc.col,
				err.msg ? err.msg : "cannot parse");
		else
			fprintf(stderr, "%s: error: %s\n", path,
				err.msg ? err.msg : "cannot read");
		dbc_diag_fini(&err);
		return rc;
	}
	json_init_file(&j, stdout);
	json_set_pretty(&j, true);
	show_model(&j, db);
	if (json_finish(&j) < 0 || fflush(stdout) == EOF) {
		perror("cangate dbc show: write");
		rc = 2;
	}
	dbc_free(db);
	return rc;
}

int cmd_dbc(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		dbc_cmd_usage();
		return 0;
	}
	if (argc != 3) {
		dbc_cmd_usage();
		return 2;
	}
	if (!strcmp(argv[1], "lint"))
		return dbc_lint(argv[2]);
	if (!strcmp(argv[1], "show"))
		return dbc_show(argv[2]);
	fprintf(stderr, "cangate dbc: unknown subcommand '%s'\n", argv[1]);
	dbc_cmd_usage();
	return 2;
}
