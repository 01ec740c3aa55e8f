/*
 * rules_impl.h: the rules engine's private internals, shared by rules.c (the
 * engine: names, dependencies, time, violations, verdicts) and the files
 * that define rule kinds (rules_value.c, rules_logic.c, rules_time.c).
 * Nothing outside daemon/core/rules*.c includes it.
 *
 * A rule kind is one `struct rule_kind`: its name, the keys it accepts, and
 * its compile, eval, finish and message functions. Adding a kind: write its
 * functions and its struct in a rules_*.c file and add one X(name) line to
 * RULE_KINDS below (the order there is the order in error messages).
 */
#ifndef CANGATE_RULES_IMPL_H
#define CANGATE_RULES_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/core/expr.h"
#include "daemon/core/rules.h"

struct config_kv;
struct config_section;
struct dbc_message;
struct dbc_signal;

#define RULE_KINDS(X)                                                          \
	X(range) X(assert) X(implies) X(response) X(only_if) X(cycle)          \
	X(stale) X(rate) X(hysteresis)

#define RULE_MAX_EXPRS RULES_MAX_EXPRS
/* Bytes of kind state (parameters and running state) inside struct rule. */
#define RULE_STATE_MAX 96

enum outcome { O_IDLE, O_OK, O_PENDING, O_VIOL, O_UNKNOWN };

struct viol {
	bool open;
	uint64_t t_start, t_end;
	double worst, margin;
	uint64_t line_first, line_last;
};

/* An expression as the rule's section wrote it. */
struct rule_expr {
	const char *key;            /* static: the key's name */
	char *text;                 /* the value as written (owned) */
	struct expr *x;             /* compiled (owned) */
};

struct rule {
	char *name, *ref, *description, *severity, *file;
	unsigned line;
	const struct rule_kind *kind;
	int decimals;               /* worst and margin are printed to these; -1 as they are */
	int bus;                    /* -1: default */
	struct rule_expr exprs[RULE_MAX_EXPRS];
	size_t n_exprs;
	const char *expect_text;    /* the text violations quote (in exprs) */
	struct expr *active_when;   /* NULL: always active (in exprs) */
	bool is_active, ever_active;
	/* rmsg whose arrival the kind watches, or -1; such a rule is
	 * suspended while its bus is silent */
	int32_t msg;
	struct rules_limit limits[RULES_MAX_LIMITS]; /* for rules_info */
	size_t n_limits;
	/* state */
	struct viol v;
	bool determined, exercised, unknown_after;
	uint64_t n_viol;
	char reason[160];
	bool reason_final;
	/* the kind's own parameters and state (see rule_state()) */
	_Alignas(8) unsigned char state[RULE_STATE_MAX];
};

#define rule_state(u, type) ((type *)(void *)(u)->state)
#define RULE_STATE_FITS(type)                                                  \
	_Static_assert(sizeof(type) <= RULE_STATE_MAX,                         \
		       #type " too big for struct rule's state")

/* A message some rule reads, on one bus. */
struct rmsg {
	int bus;
	const struct dbc_message *msg;
	uint32_t slot;              /* arrival slot */
	uint32_t *sig_slots;
	const struct dbc_signal **sigs;
	size_t n_sigs;
	uint32_t *rules;
	size_t n_rules;
	int32_t next;               /* next rmsg with the same bus and ID */
};

struct alias {
	char *name;
	uint32_t slot;
	uint64_t stale_ns;
	const struct dbc_signal *sig;
};

struct ext_entry {
	uint32_t id;
	int32_t msg;
};

struct bus_index {
	int32_t std[2048];
	struct ext_entry *ext;       /* sorted by id */
	size_t n_ext;
	int32_t *j1939;              /* rmsgs matched by PGN */
	size_t n_j1939;
};

/* Per bus: when its last frame came, for silent_ms. */
struct rbus {
	uint64_t silent_ns;         /* 0: never silent */
	uint64_t last;              /* time of its last frame */
	uint64_t dl;                /* when it turns silent, or UINT64_MAX */
	bool silent;
};

struct rules {
	const struct config *cfg;
	struct rules_sink sink;
	struct rule *rules;
	size_t n_rules;
	struct rmsg *msgs;
	size_t n_msgs;
	struct expr_slot *slots;
	char **slot_names;
	size_t n_slots;
	struct alias *aliases;
	size_t n_aliases;
	struct bus_index *bidx;
	struct rbus *bus;
	int *slot_bus;              /* per slot: the bus its message is on */
	size_t n_buses;
	uint64_t now, line;
	uint64_t next_deadline;
	uint64_t *dl;               /* per rule: next deadline (packed, for scans) */
	bool ns_times;              /* [evidence] timestamps = ns: keep ns, print 9 decimals */
	uint64_t res;               /* time resolution: 1000 ns, or 1 with ns_times */
	bool finished;
	char *jbuf;
	size_t jsize;
};

/* The compiler's state while one section is compiled. */
struct compiler {
	struct rules *r;
	struct config_error *err;
	int rule_bus;              /* bus for names in the current section */
	size_t cap_msgs, cap_slots, cap_aliases;
	int sig_decimals;          /* finest signal resolution the rule reads */
};

struct rule_kind {
	const char *name;
	/* keys besides the ones every rule takes (ref, kind, ...); NULL ends */
	const char *const *keys;
	/* Fill u's state from section s: 0, or -1 with c->err set. */
	int (*compile)(struct compiler *c, const struct config_section *s,
		       struct rule *u);
	/* Evaluate at t (frame line `line`; from_msg: the rmsg whose frame
	 * caused it, -1 at a deadline). Returns the kind's next deadline, or
	 * UINT64_MAX; x's deadline is folded in by the caller. */
	uint64_t (*eval)(struct rules *r, struct rule *u, struct expr_eval *x,
			 uint64_t t, uint64_t line, int32_t from_msg);
	/* End of input at end_ns; NULL: close an open violation there. */
	void (*finish)(struct rules *r, struct rule *u, uint64_t end_ns);
	/* Forget timers and history at t: the rule turns active or inactive
	 * (active_when), or its bus went silent or resumed. NULL: none. */
	void (*reset)(struct rules *r, struct rule *u, uint64_t t);
	/* The violation's "msg" text. */
	void (*message)(const struct rules *r, const struct rule *u, char *msg,
			size_t size);
};

#define X(k) extern const struct rule_kind rule_kind_##k;
RULE_KINDS(X)
#undef X

/* ---- compile helpers (rules.c) */
__attribute__((format(printf, 5, 6)))
void rules_set_err(struct config_error *err, const char *file, unsigned line,
		   unsigned col, const char *fmt, ...);
const char *rules_sec_file(const struct compiler *c,
			   const struct config_section *s);
/* 1-based column where key's value starts on line `line` of file, or 0. */
unsigned rules_value_col(const char *file, unsigned line, const char *key);
/* Compile key's value as one of u's expressions; NULL when absent (with
 * c->err set when required) or bad. */
struct expr *rules_expr_kv(struct compiler *c, const struct config_section *s,
			   struct rule *u, const char *key, bool required);
/* Keep x (compiled from other text) as u's expression for key, written as
 * text. -1 on out of memory (x is freed). */
int rules_keep_expr(struct compiler *c, const struct config_section *s,
		    struct rule *u, const char *key, const char *text,
		    struct expr *x);
/* Compile len bytes at offset off of kv's value (errors point into it). */
struct expr *rules_expr_at(struct compiler *c, const struct config_section *s,
			   const struct config_kv *kv, size_t off, size_t len);
/* Numeric key: 0 absent (not required), 1 found, -1 error. */
int rules_num_kv(struct compiler *c, const struct config_section *s,
		 const char *key, bool required, double lo, double *out);
int rules_ms_kv(struct compiler *c, const struct config_section *s,
		const char *key, bool required, bool positive, uint64_t *ns);
/* A message name key: the rmsg index, or -1 with err. */
int32_t rules_message_kv(struct compiler *c, const struct config_section *s,
			 const struct config_kv *kv);
/* The rmsg a slot belongs to, or -1. */
int32_t rules_slot_msg(const struct rules *r, uint32_t slot);
/* Record a limit for rules_info(). */
void rules_add_limit(struct rule *u, const char *name, double v);

/* ---- evaluation helpers (rules.c) */
void rules_outcome(struct rules *r, struct rule *u, enum outcome o,
		   uint64_t t, uint64_t line, double worst, double margin,
		   int64_t missing_slot);
/* The rule's condition holds now: its expect value e decides the outcome. */
void rules_judge_expect(struct rules *r, struct rule *u, struct expr *expect,
			struct expr_value e, int64_t missing_slot, uint64_t t,
			uint64_t line);
void rules_note_unknown(struct rules *r, struct rule *u, uint64_t t,
			int64_t slot, const char *why);
/* Open (at t_open, line_open) or extend the violation; track the worst. */
void rules_viol_extend(struct rules *r, struct rule *u, uint64_t t_open,
		       uint64_t line_open, uint64_t t, uint64_t line,
		       double worst, double margin);
void rules_viol_close(struct rules *r, struct rule *u, uint64_t t,
		      uint64_t line);
const char *rules_fmt_num(double v, char *buf);
/* A timeout of rule u, whose input was due by `due`: 0 to judge it now, or,
 * when u's bus (with silent_ms) has had no frame since before then, the
 * moment the bus turns silent, to look again: a bus that went quiet is a
 * gap, not a message that stopped, unless a frame comes first. */
uint64_t rules_bus_wait(const struct rules *r, const struct rule *u,
			uint64_t due);

static inline struct expr_value rules_run(struct expr *x, struct expr_eval *c)
{
	struct expr_value one = { 1, false };

	return x ? expr_eval(x, c) : one;
}

static inline bool rules_truth(struct expr_value v)
{
	return !v.missing && v.v != 0;
}

#endif
