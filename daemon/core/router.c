/*
 * router.c: the route decision (see router.h for the semantics).
 *
 * Everything that depends only on the config is computed in router_new():
 * per route direction a 2048-entry table maps a received 11-bit ID straight
 * to "drop" or "send as ID x (11 or 29-bit), rate slot s". 29-bit frames walk
 * the route's (usually few) 29-bit pass/block entries and binary-search its
 * maps and rates. router_route() itself allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/core/router.h"

#define STD_IDS 2048
#define OUT_PASS 0x80000000u /* entry: frame goes out */
#define OUT_EXT 0x40000000u  /* entry: output ID is 29-bit */
#define OUT_ID 0x1FFFFFFFu
#define KEY_EXT 0x20000000u  /* sort key: (ext, id) in one word */

struct rkey {
	uint32_t key; /* id | KEY_EXT when 29-bit */
	uint32_t val; /* map: id | KEY_EXT; rate: slot + 1 */
};

struct rate_state {
	uint64_t last;
	bool seen;
};

/* One direction of one route. */
struct rdir {
	int route;
	int to_bus;
	bool to_fd;
	bool reverse;
	uint32_t std_out[STD_IDS];  /* OUT_PASS | OUT_EXT | id, or 0 */
	uint16_t std_rate[STD_IDS]; /* rate slot + 1, 0 = none */
	struct rate_state *rate;    /* one per config rate */
};

struct rroute {
	const struct config_route *cr;
	/* 29-bit entries only: 11-bit ones are folded into the tables. */
	struct id_match *pass_ext, *block_ext;
	size_t n_pass_ext, n_block_ext;
	struct rkey *fwd_map, *rev_map, *rates_by_id; /* sorted by key */
	size_t n_fwd_map, n_rev_map, n_rates;
	uint64_t std_pass[STD_IDS / 64]; /* filter result, from-bus IDs */
	uint16_t std_rate[STD_IDS];      /* rate slot + 1, from-bus IDs */
	struct route_stats stats;
};

struct router {
	const struct config *cfg;
	struct rroute *routes;
	size_t n_routes;
	struct rdir *dirs;
	size_t n_dirs;
	/* per bus: the directions leaving it, as indexes into dirs */
	size_t *bus_first, *bus_count, *bus_dirs;
	size_t n_buses;
	size_t max_outputs;
	struct router_totals totals;
};

static bool match_one(const struct id_match *m, uint32_t id)
{
	if (m->mask)
		return (id & m->mask) == (m->lo & m->mask);
	return id >= m->lo && id <= m->hi;
}

/* The pass/block decision for an ID in the from bus's ID space. */
static bool filter_slow(const struct config_route *cr, uint32_t id, bool ext)
{
	bool pass = cr->n_pass == 0;

	for (size_t i = 0; !pass && i < cr->n_pass; i++)
		if (cr->pass[i].ext == ext && match_one(&cr->pass[i], id))
			pass = true;
	for (size_t i = 0; pass && i < cr->n_block; i++)
		if (cr->block[i].ext == ext && match_one(&cr->block[i], id))
			pass = false;
	return pass;
}

static int rkey_cmp(const void *a, const void *b)
{
	const struct rkey *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

static const struct rkey *rkey_find(const struct rkey *arr, size_t n,
				    uint32_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (arr[mid].key == key)
			return &arr[mid];
		if (arr[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint32_t key_of(uint32_t id, bool ext)
{
	return (id & OUT_ID) | (ext ? KEY_EXT : 0);
}

static bool route_pass(const struct rroute *rr, uint32_t key)
{
	uint32_t id = key & ~KEY_EXT;
	bool pass;

	if (!(key & KEY_EXT))
		return rr->std_pass[id / 64] >> (id % 64) & 1;
	pass = rr->cr->n_pass == 0;
	for (size_t i = 0; !pass && i < rr->n_pass_ext; i++)
		pass = match_one(&rr->pass_ext[i], id);
	for (size_t i = 0; pass && i < rr->n_block_ext; i++)
		pass = !match_one(&rr->block_ext[i], id);
	return pass;
}

static unsigned route_rate_slot(const struct rroute *rr, uint32_t key)
{
	const struct rkey *k;

	if (!(key & KEY_EXT))
		return rr->std_rate[key];
	k = rkey_find(rr->rates_by_id, rr->n_rates, key);
	return k ? k->val : 0;
}

/* A received ID (key) in direction d: output key, or 0 with *pass false. */
static uint32_t dir_decide(const struct rroute *rr, bool reverse, uint32_t key,
			   bool *pass, unsigned *slot)
{
	const struct rkey *m;
	uint32_t from_key = key, out_key;

	if (reverse) {
		m = rkey_find(rr->rev_map, rr->n_rev_map, key);
		if (m)
			from_key = m->val;
		out_key = from_key;
	} else {
		m = rkey_find(rr->fwd_map, rr->n_fwd_map, key);
		out_key = m ? m->val : key;
	}
	*pass = route_pass(rr, from_key);
	*slot = *pass ? route_rate_slot(rr, from_key) : 0;
	return out_key;
}

static void rroute_fini(struct rroute *rr)
{
	free(rr->pass_ext);
	free(rr->block_ext);
	free(rr->fwd_map);
	free(rr->rev_map);
	free(rr->rates_by_id);
}

static int rroute_init(struct rroute *rr, const struct config_route *cr)
{
	memset(rr, 0, sizeof(*rr));
	rr->cr = cr;
	rr->pass_ext = calloc(cr->n_pass + 1, sizeof(*rr->pass_ext));
	rr->block_ext = calloc(cr->n_block + 1, sizeof(*rr->block_ext));
	rr->fwd_map = calloc(cr->n_maps + 1, sizeof(*rr->fwd_map));
	rr->rev_map = calloc(cr->n_maps + 1, sizeof(*rr->rev_map));
	rr->rates_by_id = calloc(cr->n_rates + 1, sizeof(*rr->rates_by_id));
	if (!rr->pass_ext || !rr->block_ext || !rr->fwd_map || !rr->rev_map ||
	    !rr->rates_by_id)
		return -1;
	for (size_t i = 0; i < cr->n_pass; i++)
		if (cr->pass[i].ext)
			rr->pass_ext[rr->n_pass_ext++] = cr->pass[i];
	for (size_t i = 0; i < cr->n_block; i++)
		if (cr->block[i].ext)
			rr->block_ext[rr->n_block_ext++] = cr->block[i];
	for (size_t i = 0; i < cr->n_maps; i++) {
		uint32_t f = key_of(cr->maps[i].from, cr->maps[i].from_ext);
		uint32_t t = key_of(cr->maps[i].to, cr->maps[i].to_ext);

		rr->fwd_map[i] = (struct rkey){ f, t };
		rr->rev_map[i] = (struct rkey){ t, f };
	}
	rr->n_fwd_map = rr->n_rev_map = cr->n_maps;
	qsort(rr->fwd_map, cr->n_maps, sizeof(struct rkey), rkey_cmp);
	qsort(rr->rev_map, cr->n_maps, sizeof(struct rkey), rkey_cmp);
	for (size_t i = 0; i < cr->n_rates; i++) {
		uint32_t k = key_of(cr->rates[i].id, cr->rates[i].ext);

		rr->rates_by_id[i] = (struct rkey){ k, (uint32_t)i + 1 };
		if (!cr->rates[i].ext && cr->rates[i].id < STD_IDS)
			rr->std_rate[cr->rates[i].id] = (uint16_t)(i + 1);
	}
	rr->n_rates = cr->n_rates;
	qsort(rr->rates_by_id, cr->n_rates, sizeof(struct rkey), rkey_cmp);
	for (uint32_t id = 0; id < STD_IDS; id++)
		if (filter_slow(cr, id, false))
			rr->std_pass[id / 64] |= 1ull << (id % 64);
	return 0;
}

static int rdir_init(struct rdir *d, const struct rroute *rr,
		     const struct config *cfg, int route, bool reverse)
{
	const struct config_route *cr = rr->cr;

	d->route = route;
	d->reverse = reverse;
	d->to_bus = reverse ? cr->from : cr->to;
	d->to_fd = cfg->buses[d->to_bus].fd;
	d->rate = calloc(cr->n_rates + 1, sizeof(*d->rate));
	if (d->rate == NULL)
		return -1;
	for (uint32_t id = 0; id < STD_IDS; id++) {
		bool pass;
		unsigned slot;
		uint32_t out = dir_decide(rr, reverse, id, &pass, &slot);

		d->std_out[id] = pass ? OUT_PASS | (out & KEY_EXT ? OUT_EXT : 0) |
						(out & ~KEY_EXT)
				      : 0;
		d->std_rate[id] = (uint16_t)slot;
	}
	return 0;
}

void router_free(struct router *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_routes; i++)
		rroute_fini(&r->routes[i]);
	for (size_t i = 0; i < r->n_dirs; i++)
		free(r->dirs[i].rate);
	free(r->routes);
	free(r->dirs);
	free(r->bus_first);
	free(r->bus_count);
	free(r->bus_dirs);
	free(r);
}

struct router *router_new(const struct config *cfg, struct config_error *err)
{
	struct router *r = calloc(1, sizeof(*r));
	size_t nb = cfg->n_buses, k;

	if (r == NULL)
		goto nomem;
	r->cfg = cfg;
	r->n_buses = nb;
	r->routes = calloc(cfg->n_routes + 1, sizeof(*r->routes));
	r->dirs = calloc(2 * cfg->n_routes + 1, sizeof(*r->dirs));
	r->bus_first = calloc(nb + 1, sizeof(size_t));
	r->bus_count = calloc(nb + 1, sizeof(size_t));
	r->bus_dirs = calloc(2 * cfg->n_routes + 1, sizeof(size_t));
	if (!r->routes || !r->dirs || !r->bus_first || !r->bus_count ||
	    !r->bus_dirs)
		goto nomem;

	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct config_route *cr = &cfg->routes[i];

		if (cr->from < 0 || (size_t)cr->from >= nb || cr->to < 0 ||
		    (size_t)cr->to >= nb || cr->from == cr->to) {
			config_errorf(err, cfg->path, cr->line,
				      "route '%s': bad bus indexes %d -> %d",
				      cr->name, cr->from, cr->to);
			router_free(r);
			return NULL;
		}
		r->n_routes++;
		if (rroute_init(&r->routes[i], cr) < 0)
			goto nomem;
		if (rdir_init(&r->dirs[r->n_dirs++], &r->routes[i], cfg,
			      (int)i, false) < 0)
			goto nomem;
		if (cr->bidirectional &&
		    rdir_init(&r->dirs[r->n_dirs++], &r->routes[i], cfg,
			      (int)i, true) < 0)
			goto nomem;
	}

	/* Group directions by receiving bus, in route order. */
	for (size_t i = 0; i < r->n_dirs; i++) {
		const struct config_route *cr = &cfg->routes[r->dirs[i].route];

		r->bus_count[r->dirs[i].reverse ? cr->to : cr->from]++;
	}
	k = 0;
	for (size_t b = 0; b < nb; b++) {
		r->bus_first[b] = k;
		k += r->bus_count[b];
		if (r->bus_count[b] > r->max_outputs)
			r->max_outputs = r->bus_count[b];
		r->bus_count[b] = 0;
	}
	for (size_t i = 0; i < r->n_dirs; i++) {
		const struct config_route *cr = &cfg->routes[r->dirs[i].route];
		size_t b = (size_t)(r->dirs[i].reverse ? cr->to : cr->from);

		r->bus_dirs[r->bus_first[b] + r->bus_count[b]++] = i;
	}
	return r;

nomem:
	router_free(r);
	config_errorf(err, cfg->path, 0, "out of memory building routes");
	return NULL;
}

size_t router_route(struct router *r, int from_bus, const struct frame *f,
		    uint64_t now_ns, struct route_out *out, size_t cap)
{
	size_t n = 0, first, count;

	r->totals.frames++;
	if (f->err) {
		r->totals.err_frames++;
		return 0;
	}
	if (f->dir == FRAME_DIR_TX) {
		r->totals.own_tx++;
		return 0;
	}
	if (from_bus < 0 || (size_t)from_bus >= r->n_buses ||
	    r->bus_count[from_bus] == 0) {
		r->totals.no_route++;
		return 0;
	}
	first = r->bus_first[from_bus];
	count = r->bus_count[from_bus];

	for (size_t i = 0; i < count; i++) {
		struct rdir *d = &r->dirs[r->bus_dirs[first + i]];
		struct rroute *rr = &r->routes[d->route];
		struct route_stats *st = &rr->stats;
		uint32_t out_id;
		bool out_ext;
		unsigned slot;

		st->in++;
		if (f->fd && !d->to_fd) {
			st->filtered++;
			continue;
		}
		if (!f->ext) {
			uint32_t e;

			if (f->id >= STD_IDS) { /* not a valid 11-bit ID */
				st->filtered++;
				continue;
			}
			e = d->std_out[f->id];
			if (!(e & OUT_PASS)) {
				st->filtered++;
				continue;
			}
			out_id = e & OUT_ID;
			out_ext = e & OUT_EXT;
			slot = d->std_rate[f->id];
		} else {
			bool pass;
			uint32_t key;

			if (f->id > OUT_ID) {
				st->filtered++;
				continue;
			}
			key = dir_decide(rr, d->reverse, key_of(f->id, true),
					 &pass, &slot);
			if (!pass) {
				st->filtered++;
				continue;
			}
			out_id = key & ~KEY_EXT;
			out_ext = key & KEY_EXT;
		}
		if (slot) {
			struct rate_state *rs = &d->rate[slot - 1];
			uint64_t period = rr->cr->rates[slot - 1].period_ns;

			/* A clock that went back (replay restart) starts over. */
			if (rs->seen && now_ns >= rs->last &&
			    now_ns - rs->last < period) {
				st->rate_limited++;
				continue;
			}
			rs->seen = true;
			rs->last = now_ns;
		}
		if (n == cap) {
			st->overflow++;
			continue;
		}
		out[n].bus = d->to_bus;
		out[n].route = d->route;
		out[n].f = *f;
		out[n].f.id = out_id;
		out[n].f.ext = out_ext;
		out[n].f.dir = FRAME_DIR_TX;
		n++;
		st->forwarded++;
	}
	return n;
}

size_t router_max_outputs(const struct router *r)
{
	return r->max_outputs;
}

const struct route_stats *router_stats(const struct router *r, int route)
{
	if (route < 0 || (size_t)route >= r->n_routes)
		return NULL;
	return &r->routes[route].stats;
}

const struct router_totals *router_totals(const struct router *r)
{
	return &r->totals;
}

void router_reset(struct router *r)
{
	memset(&r->totals, 0, sizeof(r->totals));
	for (size_t i = 0; i < r->n_routes; i++)
		memset(&r->routes[i].stats, 0, sizeof(r->routes[i].stats));
	for (size_t i = 0; i < r->n_dirs; i++)
		memset(r->dirs[i].rate, 0,
		       r->cfg->routes[r->dirs[i].route].n_rates *
			       sizeof(*r->dirs[i].rate));
}
