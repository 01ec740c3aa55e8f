/*
 * dbc_impl.h: private interfaces shared by the DBC library's files.
 *
 *   model.c    arena, hash map, lookup index, lookups, dbc_free()
 *   charset.c  bytes of a DBC string -> valid UTF-8
 *   lex.c      tokens with line:col
 *   parse.c    sections -> model, then the attribute and mux semantics
 *
 * Nothing here is installed or used outside dbc/.
 */
#ifndef DBC_IMPL_H
#define DBC_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbc/dbc.h"

/* ------------------------------------------------------------------ arena */

/*
 * Strings and fixed-size arrays of the model come from one arena, so that a
 * model of a 1 MB file is a few dozen allocations and dbc_free() is quick.
 */
struct arena_block;

struct arena {
	struct arena_block *head;
};

void *arena_alloc(struct arena *a, size_t size);          /* zeroed, 8-aligned */
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_fini(struct arena *a);

/* --------------------------------------------------------------- hash map */

/*
 * Open-addressing map from a 32-bit hash to array indices. It stores no
 * keys: callers walk the candidates of a hash and compare the element
 * themselves, which lets one map type index messages, signals, nodes and
 * attribute definitions by whatever key each needs.
 */
struct hmap_slot {
	uint32_t hash;
	uint32_t val; /* index + 1; 0 marks an empty slot */
};

struct hmap {
	struct hmap_slot *slot;
	size_t mask; /* capacity - 1, capacity a power of two */
	size_t n;
};

int hmap_put(struct hmap *m, uint32_t hash, size_t idx);
/* Candidate iteration: pos = hmap_start(); while (hmap_next(.., &pos, &idx)). */
size_t hmap_start(const struct hmap *m, uint32_t hash);
bool hmap_next(const struct hmap *m, uint32_t hash, size_t *pos, size_t *idx);
void hmap_fini(struct hmap *m);

uint32_t hash_bytes(uint32_t h, const void *p, size_t n);
uint32_t hash_str(uint32_t h, const char *s);
uint32_t hash_u32(uint32_t h, uint32_t v);
#define HASH_SEED 2166136261u

/* The form of a message ID used as a key: bit 31 set for extended IDs,
 * whether the file wrote it or only implied it by a value above 0x7FF. */
uint32_t dbc_canon_id(uint32_t raw);

/* Hidden behind struct dbc's ext_index: the lookup tables and the arena. */
struct dbc_index {
	struct arena arena;
	struct hmap ext;      /* extended messages by 29-bit ID */
	struct hmap pgn;      /* J1939 messages by PGN */
	struct hmap by_name;  /* messages by name */
	struct hmap attrs;    /* BA_/BA_REL_ by (definition, object, keys) */
	struct dbc_attr *defaults; /* one per attr_def, for dbc_attr_find() */
};

/* Fill std_index and the hashes once the model is complete. */
int dbc_index_build(struct dbc *db);

uint32_t dbc_j1939_pgn(uint32_t id);
uint32_t dbc_attr_hash(const struct dbc_attr_def *def, enum dbc_object obj,
		       uint32_t canon_id, const char *signal, const char *name);

/* ---------------------------------------------------------------- charset */

/*
 * Convert the bytes of a DBC string to NUL-terminated UTF-8 in the arena:
 * valid UTF-8 is kept, otherwise GBK when the bytes form GBK, otherwise
 * CP1252; undecodable bytes become U+FFFD. *how (may be NULL) gets 0 for
 * plain UTF-8/ASCII, 1 for GBK, 2 for CP1252.
 */
char *dbc_to_utf8(struct arena *a, const char *s, size_t n, int *how);
bool dbc_utf8_valid(const unsigned char *s, size_t n);
bool dbc_gbk_plausible(const unsigned char *s, size_t n);

/* ------------------------------------------------------------------ lexer */

enum tok_type {
	TOK_EOF,
	TOK_IDENT,  /* [A-Za-z_][A-Za-z0-9_]*, or a name starting with a digit */
	TOK_NUMBER, /* unsigned: digits, '.', exponent */
	TOK_STRING, /* "...", may span lines; text excludes the quotes */
	TOK_PUNCT,  /* one of : ; , | @ + - ( ) [ ] */
	TOK_BAD,    /* a byte that starts no token */
};

struct token {
	enum tok_type type;
	const char *text; /* into the input; for strings, the raw content */
	size_t len;
	unsigned line, col;
	bool bol;          /* first token on its line */
	bool digit_name;   /* TOK_IDENT that starts with a digit */
	bool escapes;      /* TOK_STRING with backslash escapes or CRs */
	unsigned char bad; /* TOK_BAD: the offending byte, 0 for a bad string */
};

struct lexer {
	const char *p, *end;
	unsigned line;
	const char *line_start;
	bool at_bol;
	/* '#' lines and C block comments, which are not DBC: counted for
	 * one warning. */
	size_t n_odd_comments;
	unsigned odd_line, odd_col;
};

void lex_init(struct lexer *lx, const char *buf, size_t len);
/* Next token into *t. TOK_BAD carries a one-line reason in t->text. */
void lex_next(struct lexer *lx, struct token *t);

#endif
