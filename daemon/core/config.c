/*
 * config.c: the gateway configuration loader (see config.h, DESIGN.md
 * "Gateway config").
 *
 * inih splits lines into sections and key = value pairs, but Debian builds it
 * without line numbers, cuts lines at 200 bytes silently, never reports empty
 * sections and treats indented lines as continuations. So every physical line
 * goes through cfg_reader() first: it counts lines, rejects over-long lines
 * and NUL bytes, strips indentation and a BOM, and handles [section] headers
 * itself; inih then only sees lines it cannot misread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/can.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/suggest.h"
#include "dbc/dbc.h"

/* ------------------------------------------------------------------ errors */

void config_error_format(const struct config_error *e, char *buf, size_t size)
{
	if (size == 0)
		return;
	if (e->file[0] == '\0')
		snprintf(buf, size, "%s", e->msg);
	else if (e->line == 0)
		snprintf(buf, size, "%s: %s", e->file, e->msg);
	else if (e->col == 0)
		snprintf(buf, size, "%s:%u: %s", e->file, e->line, e->msg);
	else
		snprintf(buf, size, "%s:%u:%u: %s", e->file, e->line, e->col,
			 e->msg);
}

int config_errorf(struct config_error *e, const char *file, unsigned line,
		  const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	e->line = line;
	e->col = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ----------------------------------------------------------- value parsers */

int config_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	int base = 10;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (*p == '\0')
			return -1;
	}
	for (; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -1;
		v = v * (uint64_t)base + d;
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int config_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Hex digits after "0x", up to a 'x' suffix or the end of len bytes. */
static int parse_hex_id(const char *s, size_t len, uint32_t *id, bool *ext)
{
	uint64_t v = 0;
	size_t i;

	if (len < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -1;
	*ext = false;
	if (s[len - 1] == 'x' || s[len - 1] == 'X') {
		*ext = true;
		len--;
	}
	if (len <= 2)
		return -1;
	for (i = 2; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v * 16 + d;
		if (v > 0xFFFFFFFFu)
			return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

int config_parse_id(const char *s, uint32_t *id, bool *ext, char *msg,
		    size_t msglen)
{
	size_t len = strlen(s);

	if (parse_hex_id(s, len, id, ext) < 0) {
		snprintf(msg, msglen,
			 "bad ID '%s' (expected 0x followed by hex digits, "
			 "x suffix for 29-bit)",
			 s);
		return -1;
	}
	if (*ext && *id > CAN_EFF_MASK) {
		snprintf(msg, msglen, "29-bit ID '%s' is above 0x1FFFFFFF", s);
		return -1;
	}
	if (!*ext && *id > CAN_SFF_MASK) {
		snprintf(msg, msglen,
			 "ID '%s' is above 0x7FF: add x for a 29-bit ID (%sx)",
			 s, s);
		return -1;
	}
	return 0;
}

int config_parse_duration_ns(const char *s, uint64_t *ns)
{
	uint64_t v = 0, scale;
	const char *p = s;

	if (s == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 1000000000000ull)
			return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(p, "s") == 0)
		scale = 1000000000ull;
	else if (strcmp(p, "ms") == 0)
		scale = 1000000ull;
	else if (strcmp(p, "us") == 0)
		scale = 1000ull;
	else if (strcmp(p, "ns") == 0)
		scale = 1ull;
	else
		return -1;
	*ns = v * scale;
	return 0;
}

int config_parse_duration_kv(const char *key, const char *value, uint64_t *ns,
			     char *msg, size_t msglen)
{
	size_t n = strlen(key);
	uint64_t ms = 0;
	const char *v = value, *digits;

	if (n < 3 || strcmp(key + n - 3, "_ms") != 0) {
		if (config_parse_duration_ns(value, ns) == 0)
			return 0;
		snprintf(msg, msglen,
			 "%s: expected a whole number and a unit (s, ms, us, "
			 "ns), e.g. %s = 500ms, not \"%s\"",
			 key, key, value);
		return -1;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	for (digits = v; *v >= '0' && *v <= '9' && ms <= 1000000000000ull; v++)
		ms = ms * 10 + (uint64_t)(*v - '0');
	bool none = v == digits;

	while (*v == ' ' || *v == '\t')
		v++;
	if (none || *v || ms > 1000000000000ull) {
		snprintf(msg, msglen,
			 "%s: expected a whole number of milliseconds, not "
			 "\"%s\" (for other units write %.*s = 2500us)",
			 key, value, (int)(n - 3), key);
		return -1;
	}
	*ns = ms * 1000000u;
	return 0;
}

bool config_duration_ms_key(const char *name, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "%s_ms", name) < size;
}

/* ---------------------------------------------------------------- helpers */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Grow *arr (of *n elements of size sz) by one zeroed element. */
static void *grow(void *arrp, size_t *n, size_t sz)
{
	void **arr = arrp;
	char *p = realloc(*arr, (*n + 1) * sz);

	if (p == NULL)
		return NULL;
	memset(p + *n * sz, 0, sz);
	*arr = p;
	return p + (*n)++ * sz;
}

/* Directory part of path, or NULL for a bare file name (relative to cwd). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return NULL;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static char *resolve(const char *dir, const char *v)
{
	char *out;

	if (v[0] == '/' || dir == NULL)
		return strdup(v);
	if (strcmp(dir, "/") == 0) {
		if (asprintf(&out, "/%s", v) < 0)
			return NULL;
	} else if (asprintf(&out, "%s/%s", dir, v) < 0) {
		return NULL;
	}
	return out;
}

static bool valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ the parser */

enum sec_type {
	SEC_NONE,
	SEC_GATEWAY,
	SEC_BUS,
	SEC_ROUTE,
	SEC_SIGNAL,
	SEC_RULE,
	SEC_OUTPUT,
	SEC_EVIDENCE,
};

struct key_desc {
	const char *name;
	bool repeatable;
	bool required;
};

enum { K_MAX = 16 };

static const struct key_desc gateway_keys[] = {
	{ "name", false, false },    { "control", false, false },
	{ "user", false, false },    { "include", true, false },
	{ "watchdog_ms", false, false }, { "exit_on_replay_end", false, false },
	{ NULL, false, false },
};
enum { GK_NAME, GK_CONTROL, GK_USER, GK_INCLUDE, GK_WATCHDOG, GK_EXIT_REPLAY };

static const struct key_desc bus_keys[] = {
	{ "interface", false, true },	{ "fd", false, false },
	{ "bitrate", false, false },	{ "restart_ms", false, false },
	{ "dbc", true, false },		{ "txqueue_len", false, false },
	{ "txqueue_max_age_ms", false, false }, { "silent_ms", false, false },
	{ NULL, false, false },
};
enum { BK_INTERFACE, BK_FD, BK_BITRATE, BK_RESTART, BK_DBC, BK_TXQLEN,
       BK_TXQAGE, BK_SILENT };

static const struct key_desc route_keys[] = {
	{ "from", false, true },      { "to", false, true },
	{ "direction", false, false }, { "pass", true, false },
	{ "block", true, false },     { "map", true, false },
	{ "rate", true, false },      { NULL, false, false },
};
enum { RK_FROM, RK_TO, RK_DIRECTION, RK_PASS, RK_BLOCK, RK_MAP, RK_RATE };

static const struct key_desc evidence_keys[] = {
	{ "dir", false, false },	  { "vin", false, false },
	{ "procedure", false, false },	  { "operator", false, false },
	{ "block_frames", false, false }, { "block_ms", false, false },
	{ "segment_mb", false, false },	  { "timestamps", false, false },
	{ "sign_key", false, false },	  { "auto_start", false, false },
	{ NULL, false, false },
};
enum { EK_DIR, EK_VIN, EK_PROCEDURE, EK_OPERATOR, EK_BLOCK_FRAMES,
       EK_BLOCK_MS, EK_SEGMENT_MB, EK_TIMESTAMPS, EK_SIGN_KEY,
       EK_AUTO_START };

struct route_tmp {
	char *from, *to;
	unsigned from_line, to_line;
	char *file;
};

struct parser {
	struct config *cfg;
	struct config_error *err;
	bool failed;

	/* the file being read */
	const char *file;
	char *dir;
	bool is_include;
	FILE *fp;
	const char *buf;
	size_t len, pos;
	unsigned lineno;

	/* the current section */
	enum sec_type type;
	const struct key_desc *keys;
	size_t idx;
	unsigned sec_line;
	unsigned key_line[K_MAX];
	char sec_label[128];

	unsigned gateway_line, evidence_line;
	const struct config_pathmap *map; /* reading a bundle's copy */
	struct route_tmp *rt; /* parallel to cfg->routes */
	unsigned *include_lines; /* parallel to cfg->includes */
};

__attribute__((format(printf, 3, 4))) static int
perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	snprintf(p->err->file, sizeof(p->err->file), "%s", p->file);
	p->err->line = line;
	p->err->col = 0;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct parser *p)
{
	return perr(p, p->lineno, "out of memory");
}

/* Checks at the end of a section: required keys. */
static int section_end(struct parser *p)
{
	if (p->type == SEC_NONE || p->keys == NULL)
		return 0;
	for (size_t k = 0; p->keys[k].name; k++) {
		if (p->keys[k].required && p->key_line[k] == 0)
			return perr(p, p->sec_line,
				    "%s: missing required key '%s'",
				    p->sec_label, p->keys[k].name);
	}
	return 0;
}

static struct config_section *find_section(struct config_section *arr,
					   size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(arr[i].name, name) == 0)
			return &arr[i];
	return NULL;
}

static int generic_section_begin(struct parser *p, struct config_section **arr,
				 size_t *n, const char *kind, const char *name)
{
	struct config_section *prev = find_section(*arr, *n, name);
	struct config_section *s;

	if (prev)
		return perr(p, p->lineno,
			    "duplicate section [%s %s] (first at %s:%u)", kind,
			    name, prev->file, prev->line);
	s = grow(arr, n, sizeof(*s));
	if (s == NULL)
		return nomem(p);
	s->name = strdup(name);
	s->file = strdup(p->file);
	s->line = p->lineno;
	if (s->name == NULL || s->file == NULL)
		return nomem(p);
	p->idx = *n - 1;
	return 0;
}

/* A "[...]" line: text is the line without indentation, starting with '['. */
static int section_begin(struct parser *p, char *text)
{
	struct config *cfg = p->cfg;
	char *close = strchr(text, ']');
	char *inner, *kind, *name, *rest;

	if (section_end(p) < 0)
		return -1;
	if (close == NULL)
		return perr(p, p->lineno, "missing ']' in section header");
	rest = close + 1;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return perr(p, p->lineno, "unexpected text after ']'");
	*close = '\0';
	inner = trim(text + 1);
	kind = inner;
	name = kind + strcspn(kind, " \t");
	if (*name) {
		*name++ = '\0';
		name = trim(name);
	}
	if (strchr(name, ' ') || strchr(name, '\t'))
		return perr(p, p->lineno,
			    "bad section name [%s %s]: one word expected",
			    kind, name);

	p->type = SEC_NONE;
	p->keys = NULL;
	memset(p->key_line, 0, sizeof(p->key_line));
	p->sec_line = p->lineno;

	if (strcmp(kind, "gateway") == 0 || strcmp(kind, "evidence") == 0) {
		bool gw = kind[0] == 'g';
		unsigned *first = gw ? &p->gateway_line : &p->evidence_line;

		if (p->is_include)
			goto not_in_include;
		if (*name)
			return perr(p, p->lineno, "section [%s] takes no name",
				    kind);
		if (*first)
			return perr(p, p->lineno,
				    "duplicate section [%s] (first at line %u)",
				    kind, *first);
		*first = p->lineno;
		p->type = gw ? SEC_GATEWAY : SEC_EVIDENCE;
		p->keys = gw ? gateway_keys : evidence_keys;
		if (!gw)
			cfg->evidence.enabled = true;
		snprintf(p->sec_label, sizeof(p->sec_label), "[%s]", kind);
		return 0;
	}
	if (strcmp(kind, "bus") && strcmp(kind, "route") &&
	    strcmp(kind, "signal") && strcmp(kind, "rule") &&
	    strcmp(kind, "output")) {
		static const char *const kinds[] = { "gateway", "bus", "route",
						     "signal", "rule", "output",
						     "evidence" };
		struct suggest sg;
		char hint[96];

		suggest_init(&sg, kind);
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			suggest_offer(&sg, kinds[i]);
		return perr(p, p->lineno,
			    "unknown section [%s%s%s] (expected gateway, bus "
			    "NAME, route NAME, signal NAME, rule NAME, output "
			    "NAME, evidence)%s",
			    kind, *name ? " " : "", name,
			    suggest_hint(&sg, hint, sizeof(hint)));
	}
	if (*name == '\0')
		return perr(p, p->lineno, "section [%s] needs a name", kind);
	if (!valid_name(name))
		return perr(p, p->lineno,
			    "bad name '%s' in [%s]: use letters, digits, _ - .",
			    name, kind);
	snprintf(p->sec_label, sizeof(p->sec_label), "[%s %s]", kind, name);

	if (strcmp(kind, "signal") == 0) {
		p->type = SEC_SIGNAL;
		return generic_section_begin(p, &cfg->signals, &cfg->n_signals,
					     kind, name);
	}
	if (strcmp(kind, "rule") == 0) {
		p->type = SEC_RULE;
		return generic_section_begin(p, &cfg->rules, &cfg->n_rules,
					     kind, name);
	}
	if (p->is_include)
		goto not_in_include;
	if (strcmp(kind, "output") == 0) {
		p->type = SEC_OUTPUT;
		return generic_section_begin(p, &cfg->outputs, &cfg->n_outputs,
					     kind, name);
	}

	if (kind[0] == 'b') {
		struct config_bus *b;

		for (size_t i = 0; i < cfg->n_buses; i++)
			if (strcmp(cfg->buses[i].name, name) == 0)
				return perr(p, p->lineno,
					    "duplicate section [bus %s] (first "
					    "at line %u)",
					    name, cfg->buses[i].line);
		b = grow(&cfg->buses, &cfg->n_buses, sizeof(*b));
		if (b == NULL || (b->name = strdup(name)) == NULL)
			return nomem(p);
		b->line = p->lineno;
		b->replay_speed = 1;
		b->txqueue_len = 1024;
		b->txqueue_max_age_ms = 100;
		p->type = SEC_BUS;
		p->keys = bus_keys;
		p->idx = cfg->n_buses - 1;
		return 0;
	} else {
		struct config_route *r;
		size_t n_rt = cfg->n_routes;

		for (size_t i = 0; i < cfg->n_routes; i++)
			if (strcmp(cfg->routes[i].name, name) == 0)
				return perr(p, p->lineno,
					    "duplicate section [route %s] "
					    "(first at line %u)",
					    name, cfg->routes[i].line);
		if (grow(&p->rt, &n_rt, sizeof(*p->rt)) == NULL)
			return nomem(p);
		r = grow(&cfg->routes, &cfg->n_routes, sizeof(*r));
		if (r == NULL || (r->name = strdup(name)) == NULL)
			return nomem(p);
		r->line = p->lineno;
		r->from = r->to = -1;
		p->type = SEC_ROUTE;
		p->keys = route_keys;
		p->idx = cfg->n_routes - 1;
		return 0;
	}

not_in_include:
	return perr(p, p->lineno,
		    "section [%s%s%s] is not allowed in an included file (only "
		    "[signal] and [rule])",
		    kind, *name ? " " : "", name);
}

/* --------------------------------------------------------- typed sections */

static int set_str(struct parser *p, char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : nomem(p);
}

static int set_path(struct parser *p, char **dst, const char *v)
{
	free(*dst);
	*dst = resolve(p->dir, v);
	return *dst ? 0 : nomem(p);
}

/* An include or DBC: a file that is read. In a bundle, its copy. */
static int set_input_path(struct parser *p, char **dst, const char *v)
{
	const struct config_pathmap *m = p->map;

	if (set_path(p, dst, v) < 0 || !m)
		return *dst ? 0 : -1;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->source[i], *dst))
			return set_str(p, dst, m->copy[i]);
	return perr(p, p->lineno,
		    "'%s' has no copy in the bundle's config_files (the live "
		    "file is not read)",
		    *dst);
}

/* Where the bundle's copy path was read from when recorded. */
static const char *map_source(const struct config_pathmap *m,
			      const char *copy)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (!strcmp(m->copy[i], copy))
			return m->source[i];
	return copy;
}

static int set_u32(struct parser *p, const char *key, const char *v,
		   uint32_t *out, bool nonzero)
{
	if (config_parse_u32(v, out) < 0)
		return perr(p, p->lineno,
			    "bad number '%s' for %s (decimal or 0x hex, "
			    "0..4294967295)",
			    v, key);
	if (nonzero && *out == 0)
		return perr(p, p->lineno, "%s must be greater than 0", key);
	return 0;
}

static int set_bool(struct parser *p, const char *key, const char *v,
		    bool *out)
{
	if (config_parse_bool(v, out) < 0)
		return perr(p, p->lineno,
			    "bad value '%s' for %s (expected yes or no)", v, key);
	return 0;
}

static int gateway_key(struct parser *p, int k, const char *v)
{
	struct config *cfg = p->cfg;

	switch (k) {
	case GK_NAME:
		return set_str(p, &cfg->name, v);
	case GK_CONTROL:
		return set_path(p, &cfg->control_path, v);
	case GK_USER:
		return set_str(p, &cfg->user, v);
	case GK_INCLUDE: {
		char **slot;
		size_t n = cfg->n_includes;

		if (grow(&p->include_lines, &n, sizeof(unsigned)) == NULL)
			return nomem(p);
		p->include_lines[n - 1] = p->lineno;
		slot = grow(&cfg->includes, &cfg->n_includes, sizeof(char *));
		if (slot == NULL)
			return nomem(p);
		if (set_input_path(p, slot, v) < 0)
			return -1;
		for (size_t i = 0; i + 1 < cfg->n_includes; i++)
			if (strcmp(cfg->includes[i], *slot) == 0)
				return perr(p, p->lineno,
					    "include '%s' given twice (first "
					    "at line %u)",
					    v, p->include_lines[i]);
		return 0;
	}
	case GK_WATCHDOG:
		return set_u32(p, "watchdog_ms", v, &cfg->watchdog_ms, false);
	case GK_EXIT_REPLAY:
		return set_bool(p, "exit_on_replay_end", v,
				&cfg->exit_on_replay_end);
	}
	return 0;
}

/*
 * interface = VALUE, one grammar per kind of bus (daemon/bus_<kind>.c opens
 * what they describe). The first entry whose prefix VALUE starts with (or
 * equals, when exact) parses it; "" takes what the others did not.
 */
static int iface_null(struct parser *p, struct config_bus *b, const char *v)
{
	(void)v;
	b->kind = BUS_NULL;
	return set_str(p, &b->interface, b->name);
}

/* replay:PATH[,speed=N] (v is what follows "replay:") */
static int iface_replay(struct parser *p, struct config_bus *b, const char *v)
{
	char *spec = strdup(v);
	char *comma;
	int rc = 0;

	if (spec == NULL)
		return nomem(p);
	b->kind = BUS_REPLAY;
	comma = strrchr(spec, ',');
	if (comma && strncmp(comma + 1, "speed=", 6) == 0) {
		*comma = '\0';
		if (config_parse_double(comma + 7, &b->replay_speed) < 0 ||
		    b->replay_speed < 0)
			rc = perr(p, p->lineno,
				  "bad replay speed '%s' (a number >= "
				  "0; 0 = as fast as possible)",
				  comma + 7);
	}
	if (rc == 0 && spec[0] == '\0')
		rc = perr(p, p->lineno, "replay: needs a log file path");
	if (rc == 0)
		rc = set_path(p, &b->replay_path, spec);
	free(spec);
	if (rc == 0)
		rc = set_str(p, &b->interface, b->name);
	return rc;
}

static int iface_socketcan(struct parser *p, struct config_bus *b,
			   const char *v)
{
	/* IFNAMSIZ is 16 with its NUL; '/' and blanks are never valid. */
	if (strlen(v) > 15 || strpbrk(v, "/ \t:") != NULL)
		return perr(p, p->lineno,
			    "bad interface '%s' (a SocketCAN name of at most "
			    "15 characters, replay:PATH[,speed=N], or null)",
			    v);
	b->kind = BUS_SOCKETCAN;
	return set_str(p, &b->interface, v);
}

static const struct {
	const char *prefix;
	bool exact;
	/* v: the value after the prefix */
	int (*parse)(struct parser *p, struct config_bus *b, const char *v);
} bus_interfaces[] = {
	{"null", true, iface_null},
	{"replay:", false, iface_replay},
	{"", false, iface_socketcan},
};

static int bus_interface(struct parser *p, struct config_bus *b,
			 const char *v)
{
	for (size_t i = 0; i < sizeof(bus_interfaces) / sizeof(bus_interfaces[0]);
	     i++) {
		const char *pre = bus_interfaces[i].prefix;
		size_t n = strlen(pre);

		if (bus_interfaces[i].exact ? strcmp(v, pre) == 0
					    : strncmp(v, pre, n) == 0)
			return bus_interfaces[i].parse(p, b, v + n);
	}
	return 0; /* not reached: "" takes any value */
}

static int bus_key(struct parser *p, int k, const char *v)
{
	struct config_bus *b = &p->cfg->buses[p->idx];

	switch (k) {
	case BK_INTERFACE:
		return bus_interface(p, b, v);
	case BK_FD:
		return set_bool(p, "fd", v, &b->fd);
	case BK_BITRATE:
		return set_u32(p, "bitrate", v, &b->bitrate, false);
	case BK_RESTART:
		return set_u32(p, "restart_ms", v, &b->restart_ms, false);
	case BK_SILENT:
		return set_u32(p, "silent_ms", v, &b->silent_ms, false);
	case BK_DBC: {
		char **slot;
		size_t n = b->n_dbc_paths;

		if (grow(&b->dbc_lines, &n, sizeof(unsigned)) == NULL)
			return nomem(p);
		b->dbc_lines[n - 1] = p->lineno;
		slot = grow(&b->dbc_paths, &b->n_dbc_paths, sizeof(char *));
		if (slot == NULL)
			return nomem(p);
		return set_input_path(p, slot, v);
	}
	case BK_TXQLEN:
		return set_u32(p, "txqueue_len", v, &b->txqueue_len, true);
	case BK_TXQAGE:
		return set_u32(p, "txqueue_max_age_ms", v,
			       &b->txqueue_max_age_ms, false);
	}
	return 0;
}

/* One pass/block entry: ID, lo-hi, or id/mask. */
static int parse_match(struct parser *p, const char *key, char *tok,
		       struct id_match *m)
{
	char msg[200];
	char *sep;
	uint32_t a, b;
	bool ea, eb;

	memset(m, 0, sizeof(*m));
	if ((sep = strchr(tok, '-')) != NULL ||
	    (sep = strchr(tok, '/')) != NULL) {
		char op = *sep;
		char *lhs, *rhs;

		*sep = '\0';
		lhs = trim(tok);
		rhs = trim(sep + 1);
		if (config_parse_id(lhs, &a, &ea, msg, sizeof(msg)) < 0)
			return perr(p, p->lineno, "%s: %s", key, msg);
		if (op == '-') {
			if (config_parse_id(rhs, &b, &eb, msg, sizeof(msg)) < 0)
				return perr(p, p->lineno, "%s: %s", key, msg);
			if (ea != eb)
				return perr(p, p->lineno,
					    "%s: range '%s-%s' mixes 11-bit and "
					    "29-bit IDs (x goes on both ends)",
					    key, lhs, rhs);
			if (a > b)
				return perr(p, p->lineno,
					    "%s: range '%s-%s' has its low end "
					    "above its high end",
					    key, lhs, rhs);
			m->lo = a;
			m->hi = b;
			m->ext = ea;
			return 0;
		}
		if (parse_hex_id(rhs, strlen(rhs), &b, &eb) < 0)
			return perr(p, p->lineno,
				    "%s: bad mask '%s' (expected 0x followed by "
				    "hex digits)",
				    key, rhs);
		if (eb && !ea)
			return perr(p, p->lineno,
				    "%s: mask '%s' marked 29-bit but ID '%s' is "
				    "not",
				    key, rhs, lhs);
		if (b > (ea ? CAN_EFF_MASK : CAN_SFF_MASK))
			return perr(p, p->lineno,
				    "%s: mask '%s' is wider than %s bits", key,
				    rhs, ea ? "29" : "11");
		m->ext = ea;
		if (b == 0) { /* matches every ID of that width */
			m->lo = 0;
			m->hi = ea ? CAN_EFF_MASK : CAN_SFF_MASK;
		} else {
			m->mask = b;
			m->lo = m->hi = a & b;
		}
		return 0;
	}
	if (config_parse_id(tok, &a, &ea, msg, sizeof(msg)) < 0)
		return perr(p, p->lineno, "%s: %s", key, msg);
	m->lo = m->hi = a;
	m->ext = ea;
	return 0;
}

static int parse_map(struct parser *p, struct config_route *r, char *tok)
{
	char msg[200];
	char *arrow = strstr(tok, "->");
	struct id_map m, *slot;

	if (arrow == NULL)
		return perr(p, p->lineno,
			    "map: bad entry '%s' (expected FROM -> TO, e.g. "
			    "0x120 -> 0x520)",
			    tok);
	*arrow = '\0';
	if (config_parse_id(trim(tok), &m.from, &m.from_ext, msg,
			    sizeof(msg)) < 0 ||
	    config_parse_id(trim(arrow + 2), &m.to, &m.to_ext, msg,
			    sizeof(msg)) < 0)
		return perr(p, p->lineno, "map: %s", msg);
	for (size_t i = 0; i < r->n_maps; i++)
		if (r->maps[i].from == m.from &&
		    r->maps[i].from_ext == m.from_ext)
			return perr(p, p->lineno,
				    "map: ID '%s' is already mapped", trim(tok));
	slot = grow(&r->maps, &r->n_maps, sizeof(*slot));
	if (slot == NULL)
		return nomem(p);
	*slot = m;
	return 0;
}

static int parse_rate(struct parser *p, struct config_route *r, char *tok)
{
	char msg[200];
	char *sp = tok + strcspn(tok, " \t");
	struct id_rate rt, *slot;

	if (*sp == '\0')
		return perr(p, p->lineno,
			    "rate: bad entry '%s' (expected ID PERIOD, e.g. "
			    "0x200 10ms)",
			    tok);
	*sp++ = '\0';
	if (config_parse_id(tok, &rt.id, &rt.ext, msg, sizeof(msg)) < 0)
		return perr(p, p->lineno, "rate: %s", msg);
	sp = trim(sp);
	if (config_parse_duration_ns(sp, &rt.period_ns) < 0 ||
	    rt.period_ns == 0)
		return perr(p, p->lineno,
			    "rate: bad period '%s' (a positive integer with "
			    "unit s, ms or us)",
			    sp);
	for (size_t i = 0; i < r->n_rates; i++)
		if (r->rates[i].id == rt.id && r->rates[i].ext == rt.ext)
			return perr(p, p->lineno,
				    "rate: ID '%s' already has a rate", tok);
	slot = grow(&r->rates, &r->n_rates, sizeof(*slot));
	if (slot == NULL)
		return nomem(p);
	*slot = rt;
	return 0;
}

static int route_list(struct parser *p, struct config_route *r, int k,
		      const char *key, const char *v)
{
	char *copy = strdup(v), *tok, *next;
	int rc = 0;

	if (copy == NULL)
		return nomem(p);
	for (tok = copy; rc == 0 && tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		tok = trim(tok);
		if (*tok == '\0') {
			rc = perr(p, p->lineno, "%s: empty entry in list", key);
			break;
		}
		if (k == RK_PASS || k == RK_BLOCK) {
			struct id_match **arr = k == RK_PASS ? &r->pass
							     : &r->block;
			size_t *n = k == RK_PASS ? &r->n_pass : &r->n_block;
			struct id_match m, *slot;

			rc = parse_match(p, key, tok, &m);
			if (rc == 0) {
				slot = grow(arr, n, sizeof(*slot));
				if (slot == NULL)
					rc = nomem(p);
				else
					*slot = m;
			}
		} else if (k == RK_MAP) {
			rc = parse_map(p, r, tok);
		} else {
			rc = parse_rate(p, r, tok);
		}
	}
	free(copy);
	return rc;
}

static int route_key(struct parser *p, int k, const char *v)
{
	struct config_route *r = &p->cfg->routes[p->idx];
	struct route_tmp *t = &p->rt[p->idx];

	switch (k) {
	case RK_FROM:
		t->from_line = p->lineno;
		return set_str(p, &t->from, v);
	case RK_TO:
		t->to_line = p->lineno;
		return set_str(p, &t->to, v);
	case RK_DIRECTION:
		if (strcmp(v, "one-way") == 0)
			r->bidirectional = false;
		else if (strcmp(v, "both") == 0)
			r->bidirectional = true;
		else
			return perr(p, p->lineno,
				    "bad direction '%s' (expected one-way or "
				    "both)",
				    v);
		return 0;
	default:
		return route_list(p, r, k, route_keys[k].name, v);
	}
}

static int evidence_key(struct parser *p, int k, const char *v)
{
	struct config_evidence *e = &p->cfg->evidence;
	uint32_t mb;

	switch (k) {
	case EK_DIR:
		return set_path(p, &e->dir, v);
	case EK_VIN:
		return set_str(p, &e->vin, v);
	case EK_PROCEDURE:
		return set_str(p, &e->procedure, v);
	case EK_OPERATOR:
		return set_str(p, &e->operator_name, v);
	case EK_BLOCK_FRAMES:
		return set_u32(p, "block_frames", v, &e->block_frames, true);
	case EK_BLOCK_MS:
		return set_u32(p, "block_ms", v, &e->block_ms, true);
	case EK_SEGMENT_MB:
		if (set_u32(p, "segment_mb", v, &mb, false) < 0)
			return -1;
		e->segment_bytes = (uint64_t)mb << 20;
		return 0;
	case EK_TIMESTAMPS:
		if (strcmp(v, "us") == 0)
			e->nanoseconds = false;
		else if (strcmp(v, "ns") == 0)
			e->nanoseconds = true;
		else
			return perr(p, p->lineno,
				    "bad timestamps '%s' (expected us or ns)",
				    v);
		return 0;
	case EK_SIGN_KEY:
		return set_path(p, &e->sign_key, v);
	case EK_AUTO_START:
		return set_bool(p, "auto_start", v, &e->auto_start);
	}
	return 0;
}

static int generic_key(struct parser *p, const char *name, const char *v)
{
	struct config_section *s = p->type == SEC_SIGNAL
					   ? &p->cfg->signals[p->idx]
				   : p->type == SEC_RULE
					   ? &p->cfg->rules[p->idx]
					   : &p->cfg->outputs[p->idx];
	struct config_kv *kv = grow(&s->kv, &s->n_kv, sizeof(*kv));

	if (kv == NULL)
		return nomem(p);
	kv->key = strdup(name);
	kv->value = strdup(v);
	kv->line = p->lineno;
	if (kv->key == NULL || kv->value == NULL)
		return nomem(p);
	return 0;
}

/*
 * Durations have one syntax: a key NAME_ms takes a whole number of
 * milliseconds, and the same key written NAME takes a whole number with a
 * unit (config_parse_duration_ns), e.g. restart = 100ms or block = 2s.
 * For NAME: the index of NAME_ms, with *value rewritten to whole ms in buf;
 * -1 when there is no NAME_ms key; -2 after an error.
 */
static int unit_form_key(struct parser *p, const char *name,
			 const char **value, char *buf, size_t size)
{
	char ms_name[64];
	uint64_t ns;
	int k;

	if (!config_duration_ms_key(name, ms_name, sizeof(ms_name)))
		return -1;
	for (k = 0; p->keys[k].name; k++)
		if (strcmp(p->keys[k].name, ms_name) == 0)
			break;
	if (!p->keys[k].name)
		return -1;
	if (config_parse_duration_ns(*value, &ns) < 0) {
		perr(p, p->lineno,
		     "bad duration '%s' for %s (a whole number and a unit: "
		     "s, ms, us, ns; e.g. %s = 100ms)",
		     *value, name, name);
		return -2;
	}
	if (ns % 1000000u) {
		perr(p, p->lineno,
		     "%s = %s: not a whole number of milliseconds", name,
		     *value);
		return -2;
	}
	snprintf(buf, size, "%llu", (unsigned long long)(ns / 1000000u));
	*value = buf;
	return k;
}

static int ini_handler_cb(void *user, const char *section, const char *name,
			  const char *value)
{
	struct parser *p = user;
	char ms_buf[24];
	int k;
	int rc;

	(void)section; /* inih truncates it at 50 bytes: we track our own */
	if (p->failed)
		return 0;
	if (p->type == SEC_NONE) {
		perr(p, p->lineno, "key '%s' outside any section", name);
		return 0;
	}
	if (p->type == SEC_SIGNAL || p->type == SEC_RULE ||
	    p->type == SEC_OUTPUT)
		return generic_key(p, name, value) == 0;

	for (k = 0; p->keys[k].name; k++)
		if (strcmp(p->keys[k].name, name) == 0)
			break;
	if (p->keys[k].name == NULL) {
		k = unit_form_key(p, name, &value, ms_buf, sizeof(ms_buf));
		if (k == -2)
			return 0;
	}
	if (k < 0) {
		struct suggest sg;
		char hint[96];

		suggest_init(&sg, name);
		for (k = 0; p->keys[k].name; k++)
			suggest_offer(&sg, p->keys[k].name);
		perr(p, p->lineno, "unknown key '%s' in %s%s", name,
		     p->sec_label, suggest_hint(&sg, hint, sizeof(hint)));
		return 0;
	}
	if (p->key_line[k] && !p->keys[k].repeatable) {
		perr(p, p->lineno, "duplicate key '%s' in %s (first at line %u)",
		     name, p->sec_label, p->key_line[k]);
		return 0;
	}
	if (p->key_line[k] == 0)
		p->key_line[k] = p->lineno;
	if (*value == '\0') {
		perr(p, p->lineno, "empty value for '%s'", name);
		return 0;
	}

	switch (p->type) {
	case SEC_GATEWAY:
		rc = gateway_key(p, k, value);
		break;
	case SEC_BUS:
		rc = bus_key(p, k, value);
		break;
	case SEC_ROUTE:
		rc = route_key(p, k, value);
		break;
	case SEC_EVIDENCE:
		rc = evidence_key(p, k, value);
		break;
	default:
		rc = 0;
		break;
	}
	return rc == 0;
}

/* ------------------------------------------------------------- the reader */

static int src_getc(struct parser *p)
{
	if (p->fp)
		return getc(p->fp);
	if (p->pos >= p->len)
		return EOF;
	return (unsigned char)p->buf[p->pos++];
}

/* As inih reads a key line: '=' or ':' before any " ;" comment. */
static bool has_separator(const char *s)
{
	for (const char *c = s; *c; c++) {
		if (*c == '=' || *c == ':')
			return true;
		if (*c == ';' && c > s && (c[-1] == ' ' || c[-1] == '\t'))
			return false;
	}
	return false;
}

/*
 * inih's reader: one physical line per call. Lines longer than inih can hold
 * are an error here (inih would cut them silently). A line that is a section
 * header is also handled here, since inih does not report sections.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	size_t limit = num > 3 ? (size_t)num - 3 : 0;
	size_t n = 0;
	bool any = false, cr = false;
	char *s;
	int c;

	if (p->failed)
		return NULL;
	while ((c = src_getc(p)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\0') {
			perr(p, p->lineno + 1, "NUL byte in line");
			return NULL;
		}
		if (cr) { /* a '\r' not at the end of the line: keep it */
			if (n >= limit) {
				perr(p, p->lineno + 1,
				     "line longer than %zu bytes", limit);
				return NULL;
			}
			str[n++] = '\r';
			cr = false;
		}
		if (c == '\r') {
			cr = true;
			continue;
		}
		if (n >= limit) {
			perr(p, p->lineno + 1, "line longer than %zu bytes",
			     limit);
			return NULL;
		}
		str[n++] = (char)c;
	}
	if (!any)
		return NULL;
	if (p->fp && ferror(p->fp)) {
		perr(p, p->lineno + 1, "read error: %s", strerror(errno));
		return NULL;
	}
	p->lineno++;
	str[n] = '\0';

	s = str;
	if (p->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	/* Indentation means nothing here; inih would take an indented line
	 * for the continuation of the previous value. */
	while (*s == ' ' || *s == '\t')
		s++;
	if (s != str)
		memmove(str, s, strlen(s) + 1);
	n = strlen(str);

	if (str[0] == '[') {
		char *copy = strdup(str);
		int rc;

		if (copy == NULL) {
			nomem(p);
			return NULL;
		}
		rc = section_begin(p, copy);
		free(copy);
		if (rc < 0)
			return NULL;
	} else if (str[0] != '\0' && str[0] != ';' && str[0] != '#' &&
		   !has_separator(str)) {
		/* inih would note this and go on; errors must come in order */
		perr(p, p->lineno, "syntax error: expected [section], key = "
				   "value or a comment");
		return NULL;
	}
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int parse_source(struct parser *p)
{
	int rc;

	p->lineno = 0;
	p->type = SEC_NONE;
	p->keys = NULL;
	rc = ini_parse_stream(cfg_reader, p, ini_handler_cb, p);
	if (p->failed)
		return -1;
	if (rc > 0)
		return perr(p, (unsigned)rc,
			    "syntax error: expected [section], key = value or "
			    "a comment");
	if (rc < 0)
		return perr(p, 0, "out of memory");
	return section_end(p);
}

static int parse_file(struct parser *p, const char *path, bool is_include,
		      const char *named_by, unsigned named_line)
{
	const char *why = NULL;
	struct stat st;
	int rc;

	p->file = path;
	p->is_include = is_include;
	free(p->dir);
	p->dir = dir_of(map_source(p->map, path));
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer
	 * (and freeze a reload); it is refused below as not regular. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	p->fp = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (p->fp == NULL) {
		why = strerror(errno);
		if (fd >= 0)
			close(fd);
	}
	else if (fstat(fileno(p->fp), &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (why) {
		if (p->fp) {
			fclose(p->fp);
			p->fp = NULL;
		}
		if (named_by) {
			p->file = named_by;
			return perr(p, named_line, "cannot read include '%s': %s",
				    path, why);
		}
		return perr(p, 0, "cannot read: %s", why);
	}
	rc = parse_source(p);
	fclose(p->fp);
	p->fp = NULL;
	return rc;
}

/* After every file is read: bus names in routes, map consistency. */
static int resolve_routes(struct parser *p)
{
	struct config *cfg = p->cfg;

	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct config_route *r = &cfg->routes[i];
		struct route_tmp *t = &p->rt[i];

		r->from = config_bus_index(cfg, t->from);
		if (r->from < 0)
			return perr(p, t->from_line,
				    "route '%s': unknown bus '%s'", r->name,
				    t->from);
		r->to = config_bus_index(cfg, t->to);
		if (r->to < 0)
			return perr(p, t->to_line,
				    "route '%s': unknown bus '%s'", r->name,
				    t->to);
		if (r->from == r->to)
			return perr(p, t->to_line,
				    "route '%s': from and to are the same bus "
				    "'%s'",
				    r->name, t->to);
		/* direction = both maps back to -> from: targets must be
		 * unique for that to be a function. */
		for (size_t a = 0; r->bidirectional && a < r->n_maps; a++)
			for (size_t b = a + 1; b < r->n_maps; b++)
				if (r->maps[a].to == r->maps[b].to &&
				    r->maps[a].to_ext == r->maps[b].to_ext)
					return perr(p, r->line,
						    "route '%s': two maps "
						    "target 0x%X%s, which "
						    "cannot be mapped back "
						    "(direction = both)",
						    r->name, r->maps[a].to,
						    r->maps[a].to_ext ? "x"
								      : "");
	}
	return 0;
}

static void evidence_defaults(struct config_evidence *e)
{
	e->block_frames = 4096;
	e->block_ms = 1000;
	e->auto_start = true;
}

static struct config *load(const char *path, const char *buf, size_t len,
			   const struct config_pathmap *map,
			   struct config_error *err)
{
	struct config_error dummy;
	struct parser p;
	struct config *cfg;
	char *main_file = NULL;

	if (err == NULL)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	if (path == NULL) {
		config_errorf(err, NULL, 0, "no config file given");
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.map = map;
	cfg = calloc(1, sizeof(*cfg));
	p.cfg = cfg;
	p.err = err;
	p.file = path;
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL ||
	    (main_file = strdup(path)) == NULL) {
		perr(&p, 0, "out of memory");
		goto out;
	}
	evidence_defaults(&cfg->evidence);

	if (buf) {
		p.buf = buf;
		p.len = len;
		p.dir = dir_of(path);
		p.file = main_file;
		if (parse_source(&p) < 0)
			goto out;
	} else if (parse_file(&p, main_file, false, NULL, 0) < 0) {
		goto out;
	}
	for (size_t i = 0; i < cfg->n_includes; i++) {
		p.buf = NULL;
		p.len = 0;
		if (parse_file(&p, cfg->includes[i], true, main_file,
			       p.include_lines[i]) < 0)
			goto out;
	}
	p.file = main_file;
	resolve_routes(&p);

out:
	for (size_t i = 0; cfg && i < cfg->n_routes; i++) {
		free(p.rt[i].from);
		free(p.rt[i].to);
	}
	free(p.rt);
	free(p.include_lines);
	free(p.dir);
	free(main_file);
	if (p.failed) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *path, struct config_error *err)
{
	return load(path, NULL, 0, NULL, err);
}

struct config *config_load_mapped(const char *path,
				  const struct config_pathmap *map,
				  struct config_error *err)
{
	return load(path, NULL, 0, map, err);
}

struct config *config_load_buffer(const char *name, const char *buf,
				  size_t len, struct config_error *err)
{
	return load(name, buf ? buf : "", buf ? len : 0, NULL, err);
}

/* ------------------------------------------------------------------- DBCs */

int config_load_dbcs(struct config *cfg, struct config_error *err)
{
	for (size_t i = 0; i < cfg->n_buses; i++) {
		struct config_bus *b = &cfg->buses[i];

		if (b->n_dbc_paths == 0 || b->dbcs)
			continue;
		b->dbcs = calloc(b->n_dbc_paths, sizeof(*b->dbcs));
		if (b->dbcs == NULL)
			return config_errorf(err, cfg->path, b->line,
					     "out of memory");
		for (size_t j = 0; j < b->n_dbc_paths; j++) {
			struct dbc_diag d = { { 0, 0 }, NULL };

			b->dbcs[j] = dbc_parse_file(b->dbc_paths[j], &d);
			if (b->dbcs[j] == NULL) {
				config_errorf(err, b->dbc_paths[j], d.loc.line,
					      "%s (dbc named at %s:%u)",
					      d.msg ? d.msg : "cannot load",
					      cfg->path, b->dbc_lines[j]);
				if (err)
					err->col = d.loc.line ? d.loc.col : 0;
				dbc_diag_fini(&d);
				/* leave the bus as before: a retry starts over */
				for (size_t k = 0; k < j; k++)
					dbc_free(b->dbcs[k]);
				free(b->dbcs);
				b->dbcs = NULL;
				return -1;
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- freeing */

static void free_sections(struct config_section *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < s[i].n_kv; j++) {
			free(s[i].kv[j].key);
			free(s[i].kv[j].value);
		}
		free(s[i].kv);
		free(s[i].name);
		free(s[i].file);
	}
	free(s);
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_buses; i++) {
		struct config_bus *b = &cfg->buses[i];

		free(b->name);
		free(b->interface);
		free(b->replay_path);
		for (size_t j = 0; j < b->n_dbc_paths; j++) {
			free(b->dbc_paths[j]);
			if (b->dbcs && b->dbcs[j])
				dbc_free(b->dbcs[j]);
		}
		free(b->dbc_paths);
		free(b->dbc_lines);
		free(b->dbcs);
	}
	free(cfg->buses);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct config_route *r = &cfg->routes[i];

		free(r->name);
		free(r->pass);
		free(r->block);
		free(r->maps);
		free(r->rates);
	}
	free(cfg->routes);
	free_sections(cfg->signals, cfg->n_signals);
	free_sections(cfg->rules, cfg->n_rules);
	free_sections(cfg->outputs, cfg->n_outputs);
	for (size_t i = 0; i < cfg->n_includes; i++)
		free(cfg->includes[i]);
	free(cfg->includes);
	free(cfg->path);
	free(cfg->name);
	free(cfg->control_path);
	free(cfg->user);
	free(cfg->evidence.dir);
	free(cfg->evidence.vin);
	free(cfg->evidence.procedure);
	free(cfg->evidence.operator_name);
	free(cfg->evidence.sign_key);
	explicit_bzero(cfg->evidence.sign_sk, sizeof(cfg->evidence.sign_sk));
	free(cfg);
}

int config_load_sign_key(struct config *cfg, const struct config *old,
			 struct config_error *err)
{
	struct config_evidence *e = &cfg->evidence;
	char msg[512];

	if (!e->sign_key || e->sign_sk_loaded)
		return 0;
	if (old && old->evidence.sign_sk_loaded && old->evidence.sign_key &&
	    !strcmp(old->evidence.sign_key, e->sign_key)) {
		memcpy(e->sign_sk, old->evidence.sign_sk, sizeof(e->sign_sk));
		e->sign_sk_loaded = true;
		return 0;
	}
	if (bundle_key_read(e->sign_key, e->sign_sk, sizeof(e->sign_sk), msg,
			    sizeof(msg)) < 0)
		return config_errorf(err, cfg->path, 0, "sign_key: %s%s", msg,
				     old ? " (a new key is read only at "
					   "start, before privileges drop)"
					 : "");
	e->sign_sk_loaded = true;
	return 0;
}

/* ---------------------------------------------------------------- lookups */

static const struct dbc_message *bus_message(const struct config_bus *b,
					     const char *name)
{
	for (size_t d = 0; d < b->n_dbc_paths; d++) {
		const struct dbc *db = b->dbcs ? b->dbcs[d] : NULL;

		for (size_t i = 0; db && i < db->n_messages; i++)
			if (strcmp(db->messages[i].name, name) == 0)
				return &db->messages[i];
	}
	return NULL;
}

const struct dbc_message *config_find_message(const struct config *cfg,
					      int bus, const char *name,
					      int *bus_out)
{
	for (size_t b = bus >= 0 ? (size_t)bus : 0; b < cfg->n_buses; b++) {
		const struct dbc_message *m = bus_message(&cfg->buses[b], name);

		if (m || bus >= 0) {
			if (bus_out)
				*bus_out = (int)b;
			return m;
		}
	}
	return NULL;
}

const struct config_kv *config_kv(const struct config_section *s,
				  const char *key)
{
	for (size_t i = 0; s && i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

int config_bus_index(const struct config *cfg, const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < cfg->n_buses; i++)
		if (strcmp(cfg->buses[i].name, name) == 0)
			return (int)i;
	return -1;
}

int config_bus_by_interface(const struct config *cfg, const char *ifname)
{
	if (ifname == NULL)
		return -1;
	for (size_t i = 0; i < cfg->n_buses; i++)
		if (cfg->buses[i].interface &&
		    strcmp(cfg->buses[i].interface, ifname) == 0)
			return (int)i;
	return -1;
}
