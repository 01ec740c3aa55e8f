/*
 * model.c: memory, hashing and lookups over a parsed DBC model.
 *
 * The model's strings and small arrays live in an arena owned by the lookup
 * index (struct dbc_index, hidden behind struct dbc's ext_index), the growing
 * arrays (messages, signals, attributes...) are plain heap blocks.
 */
#include <stdlib.h>
#include <string.h>

#include "dbc/dbc_impl.h"

/* ------------------------------------------------------------------ arena */

#define ARENA_BLOCK (64 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;
	void *p;

	if (size > SIZE_MAX / 2)
		return NULL;
	size = size ? (size + 7) & ~(size_t)7 : 8;
	if (!b || b->size - b->used < size) {
		size_t cap = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->size = cap;
		b->used = 0;
		/* A big one-off block goes behind the current one so that the
		 * current block's free room stays in use. */
		if (cap != ARENA_BLOCK && a->head) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX)
		return NULL;
	d = arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void arena_fini(struct arena *a)
{
	struct arena_block *b = a->head;

	while (b) {
		struct arena_block *next = b->next;

		free(b);
		b = next;
	}
	a->head = NULL;
}

/* ----------------------------------------------------------------- hashes */

uint32_t hash_bytes(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u; /* FNV-1a */
	return h;
}

uint32_t hash_str(uint32_t h, const char *s)
{
	return s ? hash_bytes(h, s, strlen(s)) : hash_u32(h, 0x5A5A5A5Au);
}

uint32_t hash_u32(uint32_t h, uint32_t v)
{
	/* FNV over the 4 bytes, then a murmur finalizer so that consecutive
	 * IDs spread over the table. */
	h = hash_bytes(h, &v, sizeof(v));
	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	h *= 0xC2B2AE35u;
	h ^= h >> 16;
	return h;
}

/* --------------------------------------------------------------- hash map */

/* Home slot: FNV's low bits are weak for names that differ only at the
 * end (SIG_0001, SIG_0002...), so mix before masking. */
static inline size_t home(uint32_t h, size_t mask)
{
	h ^= h >> 16;
	h *= 0x7FEB352Du;
	h ^= h >> 15;
	h *= 0x846CA68Bu;
	h ^= h >> 16;
	return h & mask;
}

static int hmap_grow(struct hmap *m)
{
	size_t cap = m->slot ? (m->mask + 1) * 2 : 64;
	struct hmap_slot *s;

	if (cap > SIZE_MAX / sizeof(*s))
		return -1;
	s = calloc(cap, sizeof(*s));
	if (!s)
		return -1;
	if (m->slot) {
		for (size_t i = 0; i <= m->mask; i++) {
			size_t j;

			if (!m->slot[i].val)
				continue;
			for (j = home(m->slot[i].hash, cap - 1); s[j].val;
			     j = (j + 1) & (cap - 1))
				;
			s[j] = m->slot[i];
		}
		free(m->slot);
	}
	m->slot = s;
	m->mask = cap - 1;
	return 0;
}

int hmap_put(struct hmap *m, uint32_t hash, size_t idx)
{
	size_t j;

	if (idx >= UINT32_MAX)
		return -1;
	if ((!m->slot || (m->n + 1) * 2 > m->mask + 1) && hmap_grow(m) < 0)
		return -1;
	for (j = home(hash, m->mask); m->slot[j].val; j = (j + 1) & m->mask)
		;
	m->slot[j].hash = hash;
	m->slot[j].val = (uint32_t)idx + 1;
	m->n++;
	return 0;
}

size_t hmap_start(const struct hmap *m, uint32_t hash)
{
	return m->slot ? home(hash, m->mask) : 0;
}

bool hmap_next(const struct hmap *m, uint32_t hash, size_t *pos, size_t *idx)
{
	if (!m->slot)
		return false;
	while (m->slot[*pos].val) {
		const struct hmap_slot *s = &m->slot[*pos];

		*pos = (*pos + 1) & m->mask;
		if (s->hash == hash) {
			*idx = s->val - 1;
			return true;
		}
	}
	return false;
}

void hmap_fini(struct hmap *m)
{
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ index */

uint32_t dbc_canon_id(uint32_t raw)
{
	if ((raw & 0x80000000u) || raw > 0x7FFu)
		return (raw & 0x1FFFFFFFu) | 0x80000000u;
	return raw;
}

uint32_t dbc_j1939_pgn(uint32_t id)
{
	uint32_t pgn = (id >> 8) & 0x3FFFFu;

	/* PDU1 (PF < 240): the low byte is a destination address. */
	if (((pgn >> 8) & 0xFFu) < 240)
		pgn &= 0x3FF00u;
	return pgn;
}

uint32_t dbc_attr_hash(const struct dbc_attr_def *def, enum dbc_object obj,
		       uint32_t canon_id, const char *signal, const char *name)
{
	uint32_t h = hash_str(HASH_SEED, def->name);

	h = hash_u32(h, (uint32_t)obj);
	h = hash_u32(h, canon_id);
	h = hash_str(h, signal);
	return hash_str(h, name);
}

/* The pseudo-message CANdb++ uses to hold signals not sent in any frame. */
static bool is_pseudo_message(const struct dbc_message *m)
{
	return m->name && strcmp(m->name, "VECTOR__INDEPENDENT_SIG_MSG") == 0;
}

static const char *attr_key_name(const struct dbc_attr *a)
{
	return a->object == DBC_OBJ_ENV_VAR ? a->env_var : a->node;
}

static const char *attr_key_signal(const struct dbc_attr *a)
{
	return a->object == DBC_OBJ_REL_NODE_ENV_VAR ? a->env_var : a->signal;
}

static bool attr_uses_id(enum dbc_object o)
{
	return o == DBC_OBJ_MESSAGE || o == DBC_OBJ_SIGNAL ||
	       o == DBC_OBJ_REL_NODE_MESSAGE || o == DBC_OBJ_REL_NODE_SIGNAL;
}

int dbc_index_build(struct dbc *db)
{
	struct dbc_index *ix = db->ext_index;

	memset(db->std_index, 0, sizeof(db->std_index));
	for (size_t i = 0; i < db->n_messages; i++) {
		struct dbc_message *m = &db->messages[i];
		uint32_t h;

		if (is_pseudo_message(m))
			continue;
		if (hmap_put(&ix->by_name, hash_str(HASH_SEED, m->name), i) < 0)
			return -1;
		if (!m->extended) {
			/* First definition wins, as for every other lookup. */
			if (m->id < 2048 && !db->std_index[m->id])
				db->std_index[m->id] = m;
			continue;
		}
		h = hash_u32(HASH_SEED, m->id);
		if (hmap_put(&ix->ext, h, i) < 0)
			return -1;
		if (m->j1939 &&
		    hmap_put(&ix->pgn, hash_u32(HASH_SEED, dbc_j1939_pgn(m->id)),
			     i) < 0)
			return -1;
	}
	for (size_t i = 0; i < db->n_attrs; i++) {
		const struct dbc_attr *a = &db->attrs[i];
		uint32_t id = attr_uses_id(a->object) ?
				      dbc_canon_id(a->message_id) : 0;

		if (hmap_put(&ix->attrs,
			     dbc_attr_hash(a->def, a->object, id,
					   attr_key_signal(a), attr_key_name(a)),
			     i) < 0)
			return -1;
	}
	if (db->n_attr_defs) {
		ix->defaults = arena_alloc(&ix->arena, db->n_attr_defs *
							       sizeof(*ix->defaults));
		if (!ix->defaults)
			return -1;
	}
	for (size_t i = 0; i < db->n_attr_defs; i++) {
		const struct dbc_attr_def *d = &db->attr_defs[i];
		struct dbc_attr *a = &ix->defaults[i];

		a->def = d;
		a->object = d->object;
		a->string_value = d->default_string;
		a->number_value = d->default_number;
	}
	return 0;
}

/* ----------------------------------------------------------------- lookup */

const struct dbc_message *dbc_lookup(const struct dbc *db, uint32_t id,
				     bool extended)
{
	const struct dbc_index *ix;
	size_t pos, i;
	uint32_t h, pgn;

	if (!db)
		return NULL;
	if (!extended)
		return id < 2048 ? db->std_index[id] : NULL;
	ix = db->ext_index;
	if (!ix)
		return NULL;
	id &= 0x1FFFFFFFu;
	h = hash_u32(HASH_SEED, id);
	pos = hmap_start(&ix->ext, h);
	while (hmap_next(&ix->ext, h, &pos, &i))
		if (i < db->n_messages && db->messages[i].id == id)
			return &db->messages[i];
	pgn = dbc_j1939_pgn(id);
	h = hash_u32(HASH_SEED, pgn);
	pos = hmap_start(&ix->pgn, h);
	while (hmap_next(&ix->pgn, h, &pos, &i))
		if (i < db->n_messages &&
		    dbc_j1939_pgn(db->messages[i].id) == pgn)
			return &db->messages[i];
	return NULL;
}

const struct dbc_message *dbc_message_by_name(const struct dbc *db,
					      const char *name)
{
	const struct dbc_index *ix;
	size_t pos, i;
	uint32_t h;

	if (!db || !name || !(ix = db->ext_index))
		return NULL;
	h = hash_str(HASH_SEED, name);
	pos = hmap_start(&ix->by_name, h);
	while (hmap_next(&ix->by_name, h, &pos, &i))
		if (i < db->n_messages && strcmp(db->messages[i].name, name) == 0)
			return &db->messages[i];
	return NULL;
}

const struct dbc_signal *dbc_signal_by_name(const struct dbc_message *msg,
					    const char *name)
{
	if (!msg || !name)
		return NULL;
	for (size_t i = 0; i < msg->n_signals; i++)
		if (strcmp(msg->signals[i].name, name) == 0)
			return &msg->signals[i];
	return NULL;
}

const char *dbc_value_name(const struct dbc_signal *sig, int64_t raw)
{
	size_t lo = 0, hi;

	if (!sig)
		return NULL;
	hi = sig->n_values;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sig->values[mid].value == raw)
			return sig->values[mid].name;
		if (sig->values[mid].value < raw)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *dbc_decoded_value_name(const struct dbc_decoded *v)
{
	double f;

	switch (v->sig->value_type) {
	case DBC_VALUE_INTEGER:
		return dbc_value_name(v->sig, (int64_t)v->raw);
	case DBC_VALUE_FLOAT32: {
		float x;
		uint32_t bits = (uint32_t)v->raw;

		memcpy(&x, &bits, sizeof(x));
		f = x;
		break;
	}
	default:
		memcpy(&f, &v->raw, sizeof(f));
		break;
	}
	if (!(f >= -9.2e18 && f <= 9.2e18) || f != (double)(int64_t)f)
		return NULL;
	return dbc_value_name(v->sig, (int64_t)f);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * Keys per object: NETWORK none; NODE node; MESSAGE message_id; SIGNAL
 * message_id + signal; ENV_VAR node (the variable's name); REL_NODE_MESSAGE
 * node + message_id; REL_NODE_SIGNAL node + message_id + signal;
 * REL_NODE_ENV_VAR node + signal (the variable's name).
 */
const struct dbc_attr *dbc_attr_find(const struct dbc *db, const char *name,
				     enum dbc_object object,
				     uint32_t message_id, const char *signal,
				     const char *node)
{
	const struct dbc_index *ix;
	const struct dbc_attr_def *def = NULL;
	size_t di = 0, pos, i;
	uint32_t id, h;

	if (!db || !name || !(ix = db->ext_index))
		return NULL;
	for (di = 0; di < db->n_attr_defs; di++)
		if (db->attr_defs[di].object == object &&
		    strcmp(db->attr_defs[di].name, name) == 0) {
			def = &db->attr_defs[di];
			break;
		}
	if (!def)
		return NULL;
	if (!attr_uses_id(object))
		message_id = 0, id = 0;
	else
		id = dbc_canon_id(message_id);
	if (object != DBC_OBJ_SIGNAL && object != DBC_OBJ_REL_NODE_SIGNAL &&
	    object != DBC_OBJ_REL_NODE_ENV_VAR)
		signal = NULL;
	if (object == DBC_OBJ_NETWORK || object == DBC_OBJ_MESSAGE ||
	    object == DBC_OBJ_SIGNAL)
		node = NULL;
	h = dbc_attr_hash(def, object, id, signal, node);
	pos = hmap_start(&ix->attrs, h);
	while (hmap_next(&ix->attrs, h, &pos, &i)) {
		const struct dbc_attr *a = &db->attrs[i];

		if (i >= db->n_attrs || a->def != def || a->object != object)
			continue;
		if (attr_uses_id(object) && dbc_canon_id(a->message_id) != id)
			continue;
		if (str_eq(attr_key_signal(a), signal) &&
		    str_eq(attr_key_name(a), node))
			return a;
	}
	return def->has_default && ix->defaults ? &ix->defaults[di] : NULL;
}

/* ------------------------------------------------------------------- free */

void dbc_diag_fini(struct dbc_diag *d)
{
	if (!d)
		return;
	free(d->msg);
	d->msg = NULL;
}

void dbc_free(struct dbc *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n_messages; i++)
		free(db->messages[i].signals);
	free(db->messages);
	free(db->nodes);
	free(db->value_tables);
	free(db->attr_defs);
	free(db->attrs);
	free(db->env_vars);
	free(db->signal_groups);
	for (size_t i = 0; i < db->n_warnings; i++)
		free(db->warnings[i].msg);
	free(db->warnings);
	if (db->ext_index) {
		struct dbc_index *ix = db->ext_index;

		hmap_fini(&ix->ext);
		hmap_fini(&ix->pgn);
		hmap_fini(&ix->by_name);
		hmap_fini(&ix->attrs);
		arena_fini(&ix->arena);
		free(ix);
	}
	free(db);
}
