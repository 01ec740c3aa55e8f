/*
 * dbc.h: the DBC library's one public header.
 *
 * Parses Vector DBC files as real tools write them into an immutable model,
 * looks messages up by CAN ID, and decodes/encodes signals exactly.
 * Depends on libc only: no logging, no exit(); errors and warnings are
 * returned to the caller with file:line:col.
 *
 * Ownership: dbc_parse_file()/dbc_parse_buffer() return a struct dbc that the
 * caller frees with dbc_free(). Every pointer reachable from it lives until
 * then. Strings are NUL-terminated valid UTF-8 (CP1252 and GBK input is
 * converted; anything undecodable is replaced with U+FFFD).
 *
 * Names are the full names: where a SystemMessageLongSymbol,
 * SystemSignalLongSymbol, SystemNodeLongSymbol or SystemEnvVarLongSymbol
 * attribute gives an object a name over 32 characters (CANdb++ writes a
 * shortened one in the section), the model holds the long name, in the
 * object and wherever it is referred to (sender, receivers, signal groups,
 * attribute keys for dbc_attr_find()).
 */
#ifndef DBC_H
#define DBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DBC_MAX_PAYLOAD 64

/* ------------------------------------------------------------------ model */

enum dbc_byte_order {
	DBC_LITTLE_ENDIAN, /* Intel, "@1" */
	DBC_BIG_ENDIAN,    /* Motorola, "@0": start bit is the MSB, sawtooth numbering */
};

enum dbc_value_type {
	DBC_VALUE_INTEGER, /* signed or unsigned per dbc_signal.is_signed */
	DBC_VALUE_FLOAT32, /* SIG_VALTYPE_ 1 */
	DBC_VALUE_FLOAT64, /* SIG_VALTYPE_ 2 */
};

/* A value description: VAL_ entry or VAL_TABLE_ entry. */
struct dbc_value_name {
	int64_t value;
	char *name;
};

struct dbc_mux_range {
	uint64_t lo, hi; /* inclusive */
};

struct dbc_signal {
	char *name;
	uint16_t start_bit;   /* as written in the file */
	uint8_t length;       /* 1..64 */
	enum dbc_byte_order byte_order;
	bool is_signed;
	enum dbc_value_type value_type;
	double factor, offset, minimum, maximum;
	char *unit;
	char **receivers;
	size_t n_receivers;

	/*
	 * Multiplexing. is_multiplexer: this signal selects others ("M", or the
	 * "M" of "m3M"). mux_parent: index into the message's signals of the
	 * multiplexer switch this signal depends on, or -1 when always present.
	 * The signal is active when the parent is active and its raw value falls
	 * in one of mux_ranges (from "mN" as a single range, or from SG_MUL_VAL_).
	 */
	bool is_multiplexer;
	int mux_parent;
	struct dbc_mux_range *mux_ranges;
	size_t n_mux_ranges;

	struct dbc_value_name *values; /* sorted by value */
	size_t n_values;
	char *comment;        /* NULL when none */
	bool has_start_value; /* GenSigStartValue, raw */
	double start_value;

	/* Precomputed by the parser for the codec; do not set by hand unless
	 * you also call dbc_signal_prepare(). */
	uint16_t lsb_bit;     /* position of the least significant bit, Intel numbering */
	uint8_t first_byte, last_byte; /* bytes the signal touches */
};

struct dbc_message {
	uint32_t id;          /* arbitration ID without flag bits */
	bool extended;        /* 29-bit */
	uint8_t size;         /* payload length in bytes, 0..64 */
	char *name;
	char *sender;         /* "Vector__XXX" when none */
	char *comment;
	struct dbc_signal *signals;
	size_t n_signals;
	bool fd;              /* VFrameFormat says CAN FD */
	bool j1939;           /* ProtocolType J1939 (db) or VFrameFormat J1939PG */
	int cycle_time_ms;    /* GenMsgCycleTime, 0 when none */
	bool has_mux;         /* any signal has mux_parent >= 0 */
};

enum dbc_attr_type {
	DBC_ATTR_INT,
	DBC_ATTR_HEX,
	DBC_ATTR_FLOAT,
	DBC_ATTR_STRING,
	DBC_ATTR_ENUM,
};

enum dbc_object {
	DBC_OBJ_NETWORK,
	DBC_OBJ_NODE,
	DBC_OBJ_MESSAGE,
	DBC_OBJ_SIGNAL,
	DBC_OBJ_ENV_VAR,
	DBC_OBJ_REL_NODE_MESSAGE, /* BA_DEF_REL_ BU_BO_REL_ */
	DBC_OBJ_REL_NODE_SIGNAL,  /* BA_DEF_REL_ BU_SG_REL_ */
	DBC_OBJ_REL_NODE_ENV_VAR, /* BA_DEF_REL_ BU_EV_REL_ */
};

struct dbc_attr_def {
	char *name;
	enum dbc_object object;
	enum dbc_attr_type type;
	double min, max;           /* INT, HEX, FLOAT */
	char **enum_values;
	size_t n_enum_values;
	bool has_default;
	char *default_string;      /* STRING and ENUM, as written */
	double default_number;     /* INT, HEX, FLOAT, and ENUM as index */
};

/* One BA_ or BA_REL_ assignment. */
struct dbc_attr {
	const struct dbc_attr_def *def;
	enum dbc_object object;
	char *node;                /* NODE and REL_* */
	uint32_t message_id;       /* MESSAGE, SIGNAL, REL_NODE_MESSAGE/SIGNAL (raw, with bit 31 as written) */
	char *signal;              /* SIGNAL, REL_NODE_SIGNAL */
	char *env_var;             /* ENV_VAR, REL_NODE_ENV_VAR */
	char *string_value;        /* STRING, and ENUM when given by name */
	double number_value;
};

struct dbc_value_table {
	char *name;
	struct dbc_value_name *values;
	size_t n_values;
};

struct dbc_node {
	char *name;
	char *comment;
};

struct dbc_env_var {
	char *name;
	int type;                  /* 0 int, 1 float, 2 string */
	double min, max, initial;
	unsigned id;
	char *unit;
	char *access_type;
	char **access_nodes;
	size_t n_access_nodes;
	char *comment;
};

struct dbc_signal_group {
	uint32_t message_id;
	char *name;
	unsigned repetitions;
	char **signals;
	size_t n_signals;
};

struct dbc_location {
	unsigned line, col;        /* 1-based; 0 when not applicable */
};

struct dbc_diag {
	struct dbc_location loc;
	char *msg;
};

struct dbc {
	char *file;                /* path as given, or the name passed to dbc_parse_buffer */
	char *version;
	char *comment;             /* CM_ "..." for the network */
	struct dbc_node *nodes;
	size_t n_nodes;
	struct dbc_message *messages; /* in file order */
	size_t n_messages;
	struct dbc_value_table *value_tables;
	size_t n_value_tables;
	struct dbc_attr_def *attr_defs;
	size_t n_attr_defs;
	struct dbc_attr *attrs;
	size_t n_attrs;
	struct dbc_env_var *env_vars;
	size_t n_env_vars;
	struct dbc_signal_group *signal_groups;
	size_t n_signal_groups;
	bool j1939;                /* ProtocolType = "J1939" */
	struct dbc_diag *warnings; /* real-world deviations that were accepted */
	size_t n_warnings;

	/* Lookup index, built by the parser. */
	struct dbc_message *std_index[2048];
	struct dbc_index *ext_index;
};

/* ----------------------------------------------------------------- parsing */

/*
 * Parse a DBC file. Returns a model the caller frees with dbc_free(), or NULL
 * with *err filled (err->loc is file line and column of the problem, err->msg
 * a one-line message the caller frees with dbc_diag_fini()). Warnings for
 * accepted deviations are in the result's warnings[].
 * Never crashes, loops or reads out of bounds on any input.
 */
struct dbc *dbc_parse_file(const char *path, struct dbc_diag *err);

/* Same, from a buffer of len bytes (need not be NUL-terminated). name is
 * used in the model's file field. */
struct dbc *dbc_parse_buffer(const char *name, const char *buf, size_t len,
			     struct dbc_diag *err);

void dbc_free(struct dbc *db);
void dbc_diag_fini(struct dbc_diag *d);

/* ----------------------------------------------------------------- lookup */

/*
 * Find the message for a received CAN ID (without flag bits). O(1) for 11-bit
 * IDs. For J1939 messages an extended ID matches by PGN, whatever its source
 * address and priority. Returns NULL when the ID is not in the database.
 */
const struct dbc_message *dbc_lookup(const struct dbc *db, uint32_t id,
				     bool extended);

const struct dbc_message *dbc_message_by_name(const struct dbc *db,
					      const char *name);
const struct dbc_signal *dbc_signal_by_name(const struct dbc_message *msg,
					    const char *name);

/* Value name for a raw value of sig, or NULL. */
const char *dbc_value_name(const struct dbc_signal *sig, int64_t raw);
/* The value-table name of a raw value as dbc_signal_raw() returns it, or
 * NULL. VAL_ numbers are raw values: for float signals, the IEEE value
 * before factor and offset (as the rules engine and cantools read them). */
const char *dbc_choice(const struct dbc_signal *sig, uint64_t raw);

/* Looks up an attribute value for an object; returns the definition's
 * default when unset, or NULL when the attribute is not defined at all.
 * Keys used per object: NETWORK none; NODE node; MESSAGE message_id;
 * SIGNAL message_id + signal; ENV_VAR node = the variable's name;
 * REL_NODE_MESSAGE node + message_id; REL_NODE_SIGNAL node + message_id +
 * signal; REL_NODE_ENV_VAR node + signal = the variable's name. message_id
 * may carry bit 31 or not; 29-bit IDs match either way. */
const struct dbc_attr *dbc_attr_find(const struct dbc *db, const char *name,
				     enum dbc_object object,
				     uint32_t message_id, const char *signal,
				     const char *node);

/* -------------------------------------------------------------------- codec */

struct dbc_decoded {
	const struct dbc_signal *sig;
	/* The raw bits, sign-extended to 64 bits for signed integers, the IEEE
	 * bit pattern for float signals. */
	uint64_t raw;
	double phys; /* raw * factor + offset (float signals: value * factor + offset) */
};

enum dbc_decode_flags {
	DBC_DECODE_SHORT = 1, /* frame shorter than the message, or a signal
				 beyond the frame: only signals that fit */
	DBC_DECODE_MUX_UNKNOWN = 2, /* a multiplexer value selected no signals */
	DBC_DECODE_TRUNCATED = 4, /* out[] was too small */
};

/*
 * Decode a frame's payload into out[0..cap). Only signals active for the
 * received multiplexer values are produced, in the message's signal order.
 * Allocates nothing. Returns the number of entries written; *flags (may be
 * NULL) gets DBC_DECODE_* bits.
 */
size_t dbc_decode(const struct dbc_message *msg, const uint8_t *data,
		  size_t len, struct dbc_decoded *out, size_t cap,
		  unsigned *flags);

/* Raw value of one signal (no activity check); 0 when it does not fit in len. */
uint64_t dbc_signal_raw(const struct dbc_signal *sig, const uint8_t *data,
			size_t len);
double dbc_signal_phys(const struct dbc_signal *sig, uint64_t raw);

/* Is sig active for this payload (its multiplexer chain selects it)? */
bool dbc_signal_active(const struct dbc_message *msg,
		       const struct dbc_signal *sig, const uint8_t *data,
		       size_t len);

/*
 * Write raw into sig's bits of data (len bytes); other bits are untouched.
 * Returns 0, or -1 when the signal does not fit in len.
 */
int dbc_signal_put_raw(const struct dbc_signal *sig, uint64_t raw,
		       uint8_t *data, size_t len);

/* Physical value to raw, rounded to nearest and clamped to the signal's
 * bit width. */
uint64_t dbc_signal_raw_from_phys(const struct dbc_signal *sig, double phys);

/*
 * Encode decoded values (e.g. from dbc_decode) into data. Round trip:
 * encode(decode(x)) == x for every bit the signals cover.
 * Returns 0 or -1 when a signal does not fit in len.
 */
int dbc_encode(const struct dbc_message *msg, const struct dbc_decoded *vals,
	       size_t n, uint8_t *data, size_t len);

/* Fill lsb_bit/first_byte/last_byte after building a signal by hand
 * (tests, encoders). Returns -1 when the layout does not fit 64 bytes. */
int dbc_signal_prepare(struct dbc_signal *sig);

#endif
