/*
 * fuzz_dbc.c: dbc_parse_buffer() on arbitrary bytes. A loaded model is then
 * walked the way the daemon uses it: every message looked up by ID (also as
 * a J1939 ID with another source address) and by name, every signal by
 * name, value names, attributes, and a decode of an all-ones payload. An
 * error must be one line with a location.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dbc/dbc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct dbc *db)
{
	uint8_t payload[DBC_MAX_PAYLOAD];
	struct dbc_decoded out[64];

	memset(payload, 0xFF, sizeof(payload));
	for (size_t i = 0; i < db->n_messages; i++) {
		const struct dbc_message *m = &db->messages[i];
		const struct dbc_message *hit;

		hit = dbc_lookup(db, m->id, m->extended);
		if (!hit || hit->id != m->id || hit->extended != m->extended)
			if (strcmp(m->name, "VECTOR__INDEPENDENT_SIG_MSG") != 0)
				__builtin_trap();
		if (m->extended)
			(void)dbc_lookup(db, m->id ^ 0xFFu, true);
		if (!dbc_message_by_name(db, m->name) &&
		    strcmp(m->name, "VECTOR__INDEPENDENT_SIG_MSG") != 0)
			__builtin_trap();
		(void)dbc_attr_find(db, "GenMsgCycleTime", DBC_OBJ_MESSAGE,
				    m->id | (m->extended ? 0x80000000u : 0),
				    NULL, NULL);
		for (size_t k = 0; k < m->n_signals; k++) {
			const struct dbc_signal *s = &m->signals[k];

			if (!dbc_signal_by_name(m, s->name))
				__builtin_trap();
			if (s->mux_parent >= (int)m->n_signals)
				__builtin_trap();
			(void)dbc_value_name(s, 1);
			(void)dbc_attr_find(db, "GenSigStartValue",
					    DBC_OBJ_SIGNAL, m->id, s->name,
					    NULL);
		}
		(void)dbc_decode(m, payload, m->size, out, 64, NULL);
	}
	(void)dbc_lookup(db, 0x18FEF100, true);
	(void)dbc_lookup(db, 0x123, false);
	(void)dbc_attr_find(db, "BusType", DBC_OBJ_NETWORK, 0, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbc_diag err;
	struct dbc *db;

	db = dbc_parse_buffer("fuzz.dbc", (const char *)data, size, &err);
	if (!db) {
		if (!err.msg || strchr(err.msg, '\n') || err.loc.line == 0)
			__builtin_trap();
		dbc_diag_fini(&err);
		return 0;
	}
	for (size_t i = 0; i < db->n_warnings; i++)
		if (strchr(db->warnings[i].msg, '\n'))
			__builtin_trap();
	walk(db);
	dbc_free(db);
	return 0;
}
