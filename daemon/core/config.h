/*
 * config.h: the gateway configuration (INI, read with inih).
 *
 * config_load() reads [gateway], [bus NAME], [route NAME] and [evidence] into
 * typed fields and keeps [signal NAME] and [rule NAME] sections as key/value
 * lists with line numbers; rules_compile() (rules.h) checks those against the
 * DBCs, as translate_compile() (translate.h) does with [output NAME]. Relative paths (dbc, replay:, sign_key, include) are resolved against
 * the directory of the file that names them. `include = PATH` in [gateway]
 * (repeatable) reads further INI files that may hold [signal] and [rule]
 * sections only: that is how rule packs from configs/rules/ are used.
 */
#ifndef CANGATE_CONFIG_H
#define CANGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dbc;

struct config_error {
	char file[256];
	unsigned line; /* 0 when the error is not tied to a line */
	unsigned col;
	char msg[256];
};

/* "file:line: msg" (or "file: msg"), for logging. */
void config_error_format(const struct config_error *e, char *buf, size_t size);
int config_errorf(struct config_error *e, const char *file, unsigned line,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct dbc_message;

struct config_kv {
	char *key;
	char *value;
	unsigned line;
};

/* A [signal NAME] or [rule NAME] section, kept generic for rules_compile(). */
struct config_section {
	char *name;
	char *file;   /* the file it came from (the config or an include) */
	unsigned line;
	struct config_kv *kv;
	size_t n_kv;
};

enum bus_kind {
	BUS_SOCKETCAN,
	BUS_REPLAY, /* interface = replay:PATH[,speed=N] */
	BUS_NULL,   /* interface = null: a sink that counts */
};

struct config_bus {
	char *name;
	unsigned line;
	enum bus_kind kind;
	char *interface;     /* SocketCAN name; for replay, the interface column to log */
	char *replay_path;
	double replay_speed; /* 1 = real time, N times faster, 0 = as fast as possible */
	bool fd;
	uint32_t bitrate;    /* 0 = leave as is */
	uint32_t restart_ms; /* 0 = leave as is */
	uint32_t silent_ms;  /* rules: no frame for this long = silent; 0 = off */
	char **dbc_paths;
	size_t n_dbc_paths;
	struct dbc **dbcs;   /* loaded by config_load_dbcs(), same order */
	uint32_t txqueue_len;     /* frames; default 1024 */
	uint32_t txqueue_max_age_ms; /* default 100 */
	unsigned *dbc_lines; /* config line naming each dbc_paths[i] */
};

/* One pass/block entry: frame matches when (id & mask) == (value & mask) or
 * lo <= id <= hi; ext selects 29-bit frames. */
struct id_match {
	uint32_t lo, hi;
	uint32_t mask;  /* 0 = range form */
	bool ext;
};

struct id_map {
	uint32_t from, to;
	bool from_ext, to_ext;
};

struct id_rate {
	uint32_t id;
	bool ext;
	uint64_t period_ns;
};

struct config_route {
	char *name;
	unsigned line;
	int from, to;        /* bus indexes */
	bool bidirectional;  /* direction = both */
	struct id_match *pass; /* none = pass everything not blocked */
	size_t n_pass;
	struct id_match *block;
	size_t n_block;
	struct id_map *maps;
	size_t n_maps;
	struct id_rate *rates;
	size_t n_rates;
};

struct config_evidence {
	bool enabled;        /* an [evidence] section exists */
	char *dir;
	char *vin, *procedure, *operator_name;
	uint32_t block_frames; /* default 4096 */
	uint32_t block_ms;     /* default 1000 */
	uint64_t segment_bytes; /* frames.log rotation size; 0 = never */
	bool nanoseconds;
	char *sign_key;
	/* The secret key sign_key names, once config_load_sign_key() read
	 * it: the daemon reads it as root, before dropping privileges, so
	 * that the unprivileged user cannot read the key (and re-sign). */
	uint8_t sign_sk[64];
	bool sign_sk_loaded;
	bool auto_start;     /* a session starts with the daemon; default yes */
};

struct config {
	char *path;          /* the file as given */
	char *name;          /* [gateway] name */
	char *control_path;  /* [gateway] control */
	char *user;          /* [gateway] user: drop privileges to it */
	char **includes;     /* [gateway] include, resolved paths */
	size_t n_includes;
	uint32_t watchdog_ms;
	bool exit_on_replay_end; /* [gateway] exit_on_replay_end: the daemon
				    exits once every replay bus has ended */
	struct config_bus *buses;
	size_t n_buses;
	struct config_route *routes;
	size_t n_routes;
	struct config_section *signals;
	size_t n_signals;
	struct config_section *rules;
	size_t n_rules;
	struct config_section *outputs; /* [output NAME]: translation */
	size_t n_outputs;
	struct config_evidence evidence;
};

/* Parse path. Returns a config the caller frees with config_free(), or NULL
 * with *err filled (the first error, in line order). Does not load DBCs.
 * Dialect: comments start with ; or # at the start of a line, or " ;"
 * inline; indentation means nothing (no continuation lines); a line longer
 * than 197 bytes (inih's limit) is an error, never truncated. */
struct config *config_load(const char *path, struct config_error *err);

/* Same from memory (len bytes, need not be NUL-terminated); name is used in
 * errors and relative paths resolve against its directory. For fuzzing and
 * tests. */
struct config *config_load_buffer(const char *name, const char *buf,
				  size_t len, struct config_error *err);

/* The files of an evidence bundle's config/ (manifest.json config_files):
 * the path each was read from when recorded, and its copy in the bundle. */
struct config_pathmap {
	size_t n;
	const char *const *source;
	const char *const *copy;
};

/*
 * config_load() of a copy in a bundle (path is one of map->copy): includes
 * and DBCs resolve as they did when recorded (against their file's source
 * directory), then become their copies. A file the bundle has no copy of is
 * an error: the live file is never read.
 */
struct config *config_load_mapped(const char *path,
				  const struct config_pathmap *map,
				  struct config_error *err);

/* Load every bus's DBC files. -1 with *err naming the DBC file:line:col. */
int config_load_dbcs(struct config *cfg, struct config_error *err);

/*
 * Read the [evidence] sign_key into cfg->evidence.sign_sk (nothing to do
 * without one). When old (the running config, or NULL) names the same key
 * file and holds it, the key is taken from there: a reload after dropping
 * privileges cannot read it again. -1 with *err.
 */
int config_load_sign_key(struct config *cfg, const struct config *old,
			 struct config_error *err);

void config_free(struct config *cfg);

int config_bus_index(const struct config *cfg, const char *name);
/* Message name in the DBCs of bus (>= 0), or of the first bus that has it
 * (bus < 0); *bus_out (unless NULL) is that bus. NULL when none has it. */
const struct dbc_message *config_find_message(const struct config *cfg,
					      int bus, const char *name,
					      int *bus_out);
/* The section's key, or NULL (the first, where a key may repeat). */
const struct config_kv *config_kv(const struct config_section *s,
				  const char *key);
/* Bus whose interface name is ifname (for mapping log lines), or -1. */
int config_bus_by_interface(const struct config *cfg, const char *ifname);

/* Shared value parsers, also used by rules_compile(). 0 or -1. */
int config_parse_u32(const char *s, uint32_t *out);
int config_parse_bool(const char *s, bool *out);
int config_parse_double(const char *s, double *out);
/* A CAN ID as configs write it: 0x hex, trailing x = 29-bit ("0x18FEF100x").
 * An 11-bit ID above 0x7FF is an error that says to add x. On error, msg gets
 * a one-line message quoting s. */
int config_parse_id(const char *s, uint32_t *id, bool *ext, char *msg,
		    size_t msglen);
/* "10ms", "250 us", "2s", "100ns": a non-negative integer and a unit. */
int config_parse_duration_ns(const char *s, uint64_t *ns);
/* The one syntax of duration keys: NAME_ms takes a whole number of
 * milliseconds ("settle_ms = 500"), the same key written NAME a whole number
 * and a unit ("settle = 500ms", "within = 2s", "debounce = 2500us"). The
 * value of key in ns; -1 with a one-line msg (a fractional ms is an error,
 * never rounded). */
int config_parse_duration_kv(const char *key, const char *value, uint64_t *ns,
			     char *msg, size_t msglen);
/* NAME_ms for a unit-form key NAME into buf; false when it does not fit. */
bool config_duration_ms_key(const char *name, char *buf, size_t size);

#endif
