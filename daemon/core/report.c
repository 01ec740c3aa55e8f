/*
 * report.c: the HTML report of an evidence bundle. One self-contained file:
 * inline CSS, inline SVG plots, no scripts, no external resources. Its bytes
 * are a function of the bundle's content only (no generation time, no host
 * name of the viewer), so evidence_close() can hash it and `cangate report`
 * regenerates the identical file from an untouched bundle.
 *
 * A reviewer signs off on compliance, so the report opens with it: the
 * compliance summary (procedure, VIN, rule packs, verdict counts, each
 * FAIL), then integrity (verification, signature, clock, live or replayed,
 * software), the session, then one section per rule (reference,
 * description, its expressions and limits as the config writes them, its
 * violations, each with a plot zoomed on it), the violation index and the
 * events. A print stylesheet lays it out for A4 (`cangate report --pdf`).
 *
 * Signals are plotted by decoding the bundle's own frames.log with the DBCs
 * in its config/ directory (the copy of the config loaded with config_load).
 * A violated rule's signals are the names in its violations' "signal" field
 * and the Message.Signal or alias names in its expressions, as the rules
 * engine compiled them from the bundle's config (rules_info); its limits
 * (min/max/set/clear, a cycle's interval bounds) are drawn as dashed lines.
 * Signals with a value table are drawn as labelled steps on rows of their
 * own; markers ("mark" events) as vertical lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/report.h"
#include "daemon/core/rules.h"
#include "dbc/dbc.h"

#define REPORT_MAX_SERIES 8    /* signals per plot */
#define REPORT_MAX_PLOTS 32
#define REPORT_MAX_ROWS 500    /* violation/event table rows shown */
#define REPORT_MAX_ZOOMS 10    /* zoomed plots per rule */
#define REPORT_ZOOM_S 3.0      /* seconds shown either side of a violation */
#define REPORT_MAX_MARKS 256
#define ENUM_ROW_H 24.0
#define REPORT_MAX_POINTS 4000000 /* samples kept per signal */
#define PLOT_W 960
#define PLOT_H 260
#define PX0 70.0
#define PX1 940.0
#define PY0 20.0
#define PY1 220.0

struct series {
	char name[160];     /* as the rule names it */
	char msg[128], sig[128];
	const struct dbc_message *m[16]; /* per bus */
	const struct dbc_signal *s[16];
	double *t, *v;
	size_t n, cap;
	char unit[32];
	bool period;        /* the message's inter-arrival time (cycle rules) */
	bool have_last;
	double last_t;
};

struct plot {
	char rule[128];
	struct series ser[REPORT_MAX_SERIES];
	size_t n_ser;
	double limits[4];
	char limit_names[4][8];
	size_t n_limits;
	double spans[64][2]; /* violation intervals, seconds from start */
	size_t n_spans;
};

struct report {
	const char *dir;
	struct bundle_json *manifest, *verdicts;
	struct bundle_json **viol;
	size_t n_viol;
	struct bundle_json **events;
	size_t n_events;
	uint64_t start_ns;
	struct bundle_buf notes; /* verification findings, HTML */
	struct bundle_verify_result vr;
	int vrc;
	struct config *cfg;
	struct rules *rules;   /* the config's rules, for what each one reads */
	char cfg_error[512];
	struct plot *plots;
	size_t n_plots;
	struct { double t; const char *text; } marks[REPORT_MAX_MARKS];
	size_t n_marks;
};

/* ------------------------------------------------------------- loading */

static struct bundle_json *load_json(const char *dir, const char *name)
{
	char path[4096], err[256];
	size_t len;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	s = bundle_read_file(path, 64u << 20, &len, err, sizeof(err));
	if (!s)
		return NULL;
	struct bundle_json *j = bundle_json_parse(s, len, err, sizeof(err));
	free(s);
	return j;
}

static size_t load_jsonl(const char *dir, const char *name,
			 struct bundle_json ***out)
{
	char path[4096], err[256];
	size_t len, n = 0, cap = 0;
	struct bundle_json **v = NULL;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	s = bundle_read_file(path, 256u << 20, &len, err, sizeof(err));
	if (!s) {
		*out = NULL;
		return 0;
	}
	for (char *p = s; p < s + len;) {
		char *nl = memchr(p, '\n', (size_t)(s + len - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(s + len - p);
		struct bundle_json *j = l ? bundle_json_parse(p, l, err,
							      sizeof(err)) :
					    NULL;
		p += l + 1;
		if (!j)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct bundle_json **nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				bundle_json_free(j);
				break;
			}
			v = nv;
		}
		v[n++] = j;
	}
	free(s);
	*out = v;
	return n;
}

static void verify_note(void *ctx, enum bundle_note kind, const char *msg)
{
	struct bundle_buf *b = ctx;

	if (kind == BUNDLE_INFO)
		return; /* signature notes: they change when the bundle is signed */
	bundle_buf_printf(b, "<li class=\"%s\">%s ",
			  kind == BUNDLE_FAIL ? "fail" : "warn",
			  kind == BUNDLE_FAIL ? "FAIL" : "WARN");
	bundle_buf_html(b, msg);
	bundle_buf_puts(b, "</li>\n");
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* The bundle's config (config_path, a copy in it, or the one its header
 * names) loaded from its copies alone: config_load_mapped() with the
 * manifest's config_files, then its DBCs. */
struct config *report_bundle_config(const char *bundle_dir,
				    const char *config_path, char *errmsg,
				    size_t errlen)
{
	struct bundle_json *m = load_json(bundle_dir, "manifest.json");
	const struct bundle_json *h = bundle_json_get(m, "header");
	const struct bundle_json *cf = bundle_json_get(m, "config_files");
	const char *rel = bundle_json_str(h, "config");
	struct config_error ce = {0};
	struct config *cfg = NULL;
	struct config_pathmap map = {0};
	const char **source = NULL;
	char **copy = NULL;
	char path[4096];

	if (!m) {
		snprintf(errmsg, errlen, "%s/manifest.json: missing or not JSON",
			 bundle_dir);
		return NULL;
	}
	if (!config_path && (!rel || !*rel || !bundle_safe_relpath(rel))) {
		snprintf(errmsg, errlen, "the bundle records no config file");
		goto out;
	}
	size_t n = cf && cf->type == BJ_ARRAY ? cf->n : 0;
	source = calloc(n + 1, sizeof(*source));
	copy = calloc(n + 1, sizeof(*copy));
	if (!source || !copy) {
		snprintf(errmsg, errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		const char *src = bundle_json_str(&cf->items[k], "source");
		const char *p = bundle_json_str(&cf->items[k], "path");

		if (!src || !p || !bundle_safe_relpath(p))
			continue;
		snprintf(path, sizeof(path), "%s/%s", bundle_dir, p);
		copy[map.n] = strdup(path);
		if (!copy[map.n]) {
			snprintf(errmsg, errlen, "out of memory");
			goto out;
		}
		source[map.n++] = src;
	}
	map.source = source;
	map.copy = (const char *const *)copy;
	if (!config_path) {
		snprintf(path, sizeof(path), "%s/%s", bundle_dir, rel);
		config_path = path;
	}
	cfg = config_load_mapped(config_path, &map, &ce);
	if (!cfg || config_load_dbcs(cfg, &ce) < 0) {
		config_error_format(&ce, errmsg, errlen);
		config_free(cfg);
		cfg = NULL;
	}
out:
	for (size_t k = 0; copy && k < map.n; k++)
		free(copy[k]);
	free(copy);
	free(source);
	bundle_json_free(m);
	return cfg;
}

static void load_config(struct report *r)
{
	struct config_error ce = {0};

	r->cfg = report_bundle_config(r->dir, NULL, r->cfg_error,
				      sizeof(r->cfg_error));
	if (r->cfg && !(r->rules = rules_compile(r->cfg, NULL, &ce)))
		config_error_format(&ce, r->cfg_error, sizeof(r->cfg_error));
}

/* ------------------------------------------------------------ signals */

/* rules_info() of the rule named rule; false when there is none. */
static bool rule_info(const struct report *r, const char *rule,
		      struct rules_info *info)
{
	for (size_t i = 0; i < rules_count(r->rules); i++)
		if (!strcmp(rules_name(r->rules, i), rule)) {
			rules_info(r->rules, i, info);
			return true;
		}
	return false;
}

/* An alias's Message.Signal, or the name itself. */
static const char *resolve_alias(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->n_signals; i++)
		if (!strcmp(cfg->signals[i].name, name)) {
			const struct config_kv *src_kv =
				config_kv(&cfg->signals[i], "source");
			const char *src = src_kv ? src_kv->value : NULL;
			return src ? src : name;
		}
	return name;
}

static void plot_add_series(struct report *r, struct plot *p,
			    const char *name)
{
	const char *src;
	const char *dot;
	struct series *s;

	if (p->n_ser == REPORT_MAX_SERIES)
		return;
	for (size_t i = 0; i < p->n_ser; i++)
		if (!strcmp(p->ser[i].name, name))
			return;
	src = resolve_alias(r->cfg, name);
	dot = strchr(src, '.');
	if (!dot || dot == src || !dot[1] || strchr(dot + 1, '.'))
		return;
	s = &p->ser[p->n_ser];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->msg, sizeof(s->msg), "%.*s", (int)(dot - src), src);
	snprintf(s->sig, sizeof(s->sig), "%s", dot + 1);
	bool found = false;
	for (size_t b = 0; r->cfg && b < r->cfg->n_buses && b < 16; b++) {
		const struct config_bus *bus = &r->cfg->buses[b];
		for (size_t i = 0; i < bus->n_dbc_paths && bus->dbcs; i++) {
			const struct dbc_message *m =
				bus->dbcs[i] ? dbc_message_by_name(bus->dbcs[i],
								   s->msg) :
					       NULL;
			const struct dbc_signal *sg =
				m ? dbc_signal_by_name(m, s->sig) : NULL;
			if (sg) {
				s->m[b] = m;
				s->s[b] = sg;
				snprintf(s->unit, sizeof(s->unit), "%s",
					 sg->unit ? sg->unit : "");
				found = true;
				break;
			}
		}
	}
	if (found)
		p->n_ser++;
}

/* A cycle rule: plot the message's period (its limits come with the rule's). */
static void plot_add_period(struct report *r, struct plot *p, const char *msg)
{
	struct series *s;
	bool found = false;

	if (!msg || p->n_ser == REPORT_MAX_SERIES)
		return;
	s = &p->ser[p->n_ser];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "period of %s", msg);
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	snprintf(s->unit, sizeof(s->unit), "ms");
	s->period = true;
	for (size_t b = 0; r->cfg && b < r->cfg->n_buses && b < 16; b++) {
		const struct config_bus *bus = &r->cfg->buses[b];
		for (size_t i = 0; i < bus->n_dbc_paths && bus->dbcs; i++) {
			const struct dbc_message *m =
				bus->dbcs[i] ? dbc_message_by_name(bus->dbcs[i], msg) : NULL;
			if (m) {
				s->m[b] = m;
				found = true;
				break;
			}
		}
	}
	if (found)
		p->n_ser++;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Message.Signal and alias names in a rule expression. */
static void plot_add_expr(struct report *r, struct plot *p, const char *e)
{
	static const char *const funcs[] = {"abs", "min", "max", "between",
					    "rate", "held", "age", "true",
					    "false"};
	const char *q = e;

	while (q && *q) {
		if (*q == '"') {
			const char *end = strchr(q + 1, '"');
			q = end ? end + 1 : q + strlen(q);
			continue;
		}
		if (!is_ident_start(*q) || (q > e && is_ident(q[-1]))) {
			q++;
			continue;
		}
		const char *start = q;
		while (is_ident(*q) || (*q == '.' && is_ident_start(q[1])))
			q++;
		char name[160];
		snprintf(name, sizeof(name), "%.*s", (int)(q - start), start);
		bool fn = false;
		for (size_t i = 0; i < sizeof(funcs) / sizeof(*funcs); i++)
			fn |= !strcmp(name, funcs[i]);
		if (!fn)
			plot_add_series(r, p, name);
	}
}

static double span_time(const struct bundle_json *v, const char *key,
			double dflt)
{
	double t = bundle_json_num(v, key);

	return isnan(t) ? dflt : t;
}

static void build_plots(struct report *r)
{
	/* series in this order of the keys that name them */
	static const char *const exprs[] = {"signal", "when", "expect",
					    "trigger", "allowed"};
	double start = (double)r->start_ns / 1e9;

	r->plots = calloc(REPORT_MAX_PLOTS, sizeof(*r->plots));
	if (!r->plots)
		return;
	for (size_t i = 0; i < r->n_viol; i++) {
		const char *rule = bundle_json_str(r->viol[i], "rule");
		struct plot *p = NULL;

		if (!rule)
			continue;
		for (size_t k = 0; k < r->n_plots; k++)
			if (!strcmp(r->plots[k].rule, rule))
				p = &r->plots[k];
		if (!p) {
			if (r->n_plots == REPORT_MAX_PLOTS)
				continue;
			p = &r->plots[r->n_plots++];
			snprintf(p->rule, sizeof(p->rule), "%s", rule);
			struct rules_info info;

			if (rule_info(r, rule, &info)) {
				for (size_t k = 0; k < info.n_limits &&
						   p->n_limits < 4; k++) {
					p->limits[p->n_limits] =
						info.limits[k].value;
					snprintf(p->limit_names[p->n_limits],
						 sizeof(p->limit_names[0]),
						 "%s", info.limits[k].name);
					p->n_limits++;
				}
				for (size_t k = 0;
				     k < sizeof(exprs) / sizeof(*exprs); k++)
					for (size_t e = 0; e < info.n_exprs; e++)
						if (!strcmp(info.exprs[e].key,
							    exprs[k]))
							plot_add_expr(r, p,
								      info.exprs[e].text);
				if (!strcmp(info.kind, "cycle"))
					plot_add_period(r, p, info.message);
			}
		}
		const struct bundle_json *sg = bundle_json_get(r->viol[i],
							       "signal");
		if (sg && sg->type == BJ_STRING)
			plot_add_series(r, p, sg->str);
		for (size_t k = 0; sg && sg->type == BJ_ARRAY && k < sg->n; k++)
			if (sg->items[k].type == BJ_STRING)
				plot_add_series(r, p, sg->items[k].str);
		if (p->n_spans < 64) {
			double t0 = span_time(r->viol[i], "t_start", NAN);
			double t1 = span_time(r->viol[i], "t_end", t0);
			if (!isnan(t0)) {
				p->spans[p->n_spans][0] = t0 - start;
				p->spans[p->n_spans][1] = t1 - start;
				p->n_spans++;
			}
		}
	}
}

static void series_push(struct series *s, double t, double v)
{
	if (s->n == s->cap) {
		if (s->cap >= REPORT_MAX_POINTS)
			return;
		size_t nc = s->cap ? s->cap * 2 : 1024;
		double *nt = realloc(s->t, nc * sizeof(double));
		if (!nt)
			return;
		s->t = nt;
		double *nv = realloc(s->v, nc * sizeof(double));
		if (!nv)
			return;
		s->v = nv;
		s->cap = nc;
	}
	s->t[s->n] = t;
	s->v[s->n] = v;
	s->n++;
}

/* One pass over frames.log and its segments, received frames only (the
 * rules see the same). */
static void decode_frames(struct report *r)
{
	char path[4096], err[128], ifname[FRAME_IFNAME_MAX];
	int last_bus = -1;
	char last_if[FRAME_IFNAME_MAX] = "";

	if (!r->cfg || !r->n_plots)
		return;
	for (unsigned seg = 0; seg < 10000; seg++) {
		char name[64];
		bundle_segment_name(seg, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", r->dir, name);
		FILE *fp = bundle_open_stream(path, O_NOFOLLOW, err,
					      sizeof(err));
		if (!fp)
			break;
		char line[1024];
		while (fgets(line, sizeof(line), fp)) {
			struct frame f;
			if (frame_parse_line(line, strlen(line), &f, ifname, err,
					     sizeof(err)) != FRAME_PARSE_OK ||
			    f.dir == FRAME_DIR_TX || f.err)
				continue;
			if (strcmp(ifname, last_if)) {
				snprintf(last_if, sizeof(last_if), "%s", ifname);
				last_bus = config_bus_by_interface(r->cfg, ifname);
			}
			if (last_bus < 0 || last_bus >= 16)
				continue;
			double t = (double)(f.t_ns - r->start_ns) / 1e9;
			if (f.t_ns < r->start_ns)
				t = -(double)(r->start_ns - f.t_ns) / 1e9;
			for (size_t p = 0; p < r->n_plots; p++)
				for (size_t k = 0; k < r->plots[p].n_ser; k++) {
					struct series *s = &r->plots[p].ser[k];
					const struct dbc_message *m =
						s->m[last_bus];
					if (s->period && m && m->id == f.id &&
					    m->extended == f.ext) {
						if (s->have_last)
							series_push(s, t, (t - s->last_t) * 1e3);
						s->last_t = t;
						s->have_last = true;
						continue;
					}
					if (s->period || !m || m->id != f.id ||
					    m->extended != f.ext ||
					    s->s[last_bus]->last_byte >= f.len ||
					    !dbc_signal_active(m, s->s[last_bus],
							       f.data, f.len))
						continue;
					uint64_t raw = dbc_signal_raw(
						s->s[last_bus], f.data, f.len);
					series_push(s, t,
						    dbc_signal_phys(s->s[last_bus],
								    raw));
				}
		}
		fclose(fp);
	}
}

/* ---------------------------------------------------------------- HTML */

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c",
				      "#9467bd", "#8c564b", "#e377c2",
				      "#17becf", "#7f7f7f"};

static double nice_step(double range, int ticks)
{
	double raw = range / ticks, mag = pow(10, floor(log10(raw)));
	double n = raw / mag;

	return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

/* The signal behind a series (on the first bus that has it). */
static const struct dbc_signal *series_signal(const struct series *s)
{
	for (size_t b = 0; b < 16; b++)
		if (s->s[b])
			return s->s[b];
	return NULL;
}

/* Enumerated signals (with a value table) get a row of labelled steps. */
static bool series_is_enum(const struct series *s)
{
	const struct dbc_signal *sig = series_signal(s);

	return !s->period && sig && sig->n_values > 0;
}

/* First sample at or after t, minus one so that the value held at t is
 * drawn too. */
static size_t series_from(const struct series *s, double t)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->t[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

/* The text of an enumerated value: its name, else the number. */
static void enum_label(const struct series *s, double v, char *out,
		       size_t size)
{
	const struct dbc_signal *sig = series_signal(s);
	const char *name = NULL;

	if (v == (double)(int64_t)v)
		name = dbc_value_name(sig, (int64_t)v);
	if (name)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "%.6g", v);
}

/*
 * One plot of rule p over [w0, w1] (seconds from the session start): the
 * numeric signals against the limits in the main area, each enumerated
 * signal as labelled steps on a row below, violation intervals shaded,
 * markers as vertical lines.
 */
static void svg_plot(struct bundle_buf *b, const struct report *r,
		     const struct plot *p, double w0, double w1)
{
	double vmin = INFINITY, vmax = -INFINITY;
	size_t total = 0, n_enum = 0, n_num = 0;
	double main_h, top, h, y_axis, px0 = PX0;

	for (size_t k = 0; k < p->n_ser; k++) {
		const struct series *s = &p->ser[k];
		bool en = series_is_enum(s);

		/* Room for the names of enumerated rows on the left. */
		if (en)
			px0 = fmax(px0, 10 + 6.2 * (double)strlen(s->sig));
		n_enum += en;
		n_num += !en;
		for (size_t i = series_from(s, w0); i < s->n && s->t[i] <= w1; i++) {
			if (!en) {
				vmin = fmin(vmin, s->v[i]);
				vmax = fmax(vmax, s->v[i]);
			}
			total++;
		}
	}
	if (!total) {
		bundle_buf_puts(b, "<p class=\"note\">No decoded samples of this rule's signals around it.</p>\n");
		return;
	}
	for (size_t i = 0; n_num && i < p->n_limits; i++) {
		vmin = fmin(vmin, p->limits[i]);
		vmax = fmax(vmax, p->limits[i]);
	}
	if (!(vmax > vmin)) {
		vmax = (isfinite(vmax) ? vmax : 0) + 1;
		vmin = vmax - 2;
	}
	double pad = (vmax - vmin) * 0.05;
	vmin -= pad;
	vmax += pad;
	main_h = n_num ? PY1 - PY0 : 0;
	top = PY0;
	y_axis = top + main_h;
	h = y_axis + (double)n_enum * ENUM_ROW_H + 36;
#define X(t) (px0 + ((t) - w0) / (w1 - w0) * (PX1 - px0))
#define Y(v) (top + main_h - ((v) - vmin) / (vmax - vmin) * main_h)
	bundle_buf_printf(b,
			  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" role=\"img\">\n",
			  PLOT_W, h, PLOT_W, h);
	bundle_buf_printf(b,
			  "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\" stroke=\"#999\"/>\n",
			  px0, top, PX1 - px0, y_axis - top + (double)n_enum * ENUM_ROW_H);
	for (size_t i = 0; i < p->n_spans; i++) {
		double x0 = X(fmax(p->spans[i][0], w0));
		double x1 = X(fmin(p->spans[i][1], w1));

		if (p->spans[i][1] < w0 || p->spans[i][0] > w1)
			continue;
		bundle_buf_printf(b,
				  "<rect class=\"span\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f8c9c9\"/>\n",
				  x0, top, fmax(x1 - x0, 1.5),
				  y_axis - top + (double)n_enum * ENUM_ROW_H);
	}
	double ts = nice_step(w1 - w0, 8);
	for (double t = ceil(w0 / ts) * ts; t <= w1 + ts * 1e-9; t += ts)
		bundle_buf_printf(b,
				  "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>"
				  "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%.6g</text>\n",
				  X(t), top, X(t), y_axis + (double)n_enum * ENUM_ROW_H,
				  X(t), y_axis + (double)n_enum * ENUM_ROW_H + 14,
				  fabs(t) < ts * 1e-9 ? 0 : t);
	bundle_buf_printf(b,
			  "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">seconds since session start</text>\n",
			  (px0 + PX1) / 2, h - 6);
	if (n_num) {
		double vs = nice_step(vmax - vmin, 5);

		for (double v = ceil(vmin / vs) * vs; v <= vmax + vs * 1e-9; v += vs)
			bundle_buf_printf(b,
					  "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>"
					  "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.6g</text>\n",
					  px0, Y(v), PX1, Y(v), px0 - 4, Y(v) + 4,
					  fabs(v) < vs * 1e-9 ? 0 : v);
		for (size_t i = 0; i < p->n_limits; i++)
			bundle_buf_printf(b,
					  "<line class=\"limit\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"6 4\" stroke-width=\"1.5\"/>"
					  "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" fill=\"#d62728\" text-anchor=\"end\">%s %.6g</text>\n",
					  px0, Y(p->limits[i]), PX1, Y(p->limits[i]),
					  PX1 - 4,
					  Y(p->limits[i]) +
						  (!strcmp(p->limit_names[i], "min") ? 12 : -3),
					  p->limit_names[i], p->limits[i]);
	}
	size_t row = 0, leg = 0;
	for (size_t k = 0; k < p->n_ser; k++) {
		const struct series *s = &p->ser[k];
		size_t i = series_from(s, w0);

		if (series_is_enum(s)) {
			/* Labelled steps on the signal's own row. */
			double y0 = y_axis + (double)row++ * ENUM_ROW_H;
			char label[64];

			bundle_buf_printf(b, "<g class=\"enum\"><line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ccc\"/>",
					  px0, y0, PX1, y0);
			for (; i < s->n && s->t[i] <= w1; i++) {
				size_t j = i;

				while (j + 1 < s->n && s->v[j + 1] == s->v[i] &&
				       s->t[j + 1] <= w1)
					j++;
				double x0 = X(fmax(s->t[i], w0));
				double x1 = j + 1 < s->n ? X(fmin(s->t[j + 1], w1)) : PX1;

				enum_label(s, s->v[i], label, sizeof(label));
				bundle_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"%s\"/>",
						  x0, y0 + 3, fmax(x1 - x0, 0.5), ENUM_ROW_H - 6,
						  palette[k % 8], palette[k % 8]);
				if (x1 - x0 > 6.5 * (double)strlen(label) + 4) {
					bundle_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">",
							  x0 + 3, y0 + ENUM_ROW_H / 2 + 4);
					bundle_buf_html(b, label);
					bundle_buf_puts(b, "</text>");
				}
				i = j;
			}
			bundle_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"%s\">",
					  px0 - 4, y0 + ENUM_ROW_H / 2 + 4, palette[k % 8]);
			bundle_buf_html(b, s->sig[0] ? s->sig : s->name);
			bundle_buf_puts(b, "</text></g>\n");
			continue;
		}
		bundle_buf_printf(b,
				  "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.3\" points=\"",
				  palette[k % 8]);
		/* Sample and hold as a step line; above ~1 sample per pixel,
		 * each pixel column keeps its first, lowest, highest and last
		 * value so that spikes stay visible. */
		bool have_prev = false;
		double prev = 0;
		while (i < s->n && s->t[i] <= w1) {
			double t = fmax(s->t[i], w0);
			int col = (int)X(t);
			double first = s->v[i], lo = first, hi = first, last = first;
			size_t j = i;

			while (j < s->n && s->t[j] <= w1 &&
			       (int)X(fmax(s->t[j], w0)) == col) {
				lo = fmin(lo, s->v[j]);
				hi = fmax(hi, s->v[j]);
				last = s->v[j];
				j++;
			}
			if (have_prev)
				bundle_buf_printf(b, "%.1f,%.1f ", X(t), Y(prev));
			if (j - i == 1)
				bundle_buf_printf(b, "%.1f,%.1f ", X(t), Y(first));
			else
				bundle_buf_printf(b, "%d,%.1f %d,%.1f %d,%.1f %d,%.1f ",
						  col, Y(first), col, Y(lo), col,
						  Y(hi), col, Y(last));
			prev = last;
			have_prev = true;
			i = j;
		}
		if (have_prev) /* held to the window's end */
			bundle_buf_printf(b, "%.1f,%.1f", PX1, Y(prev));
		bundle_buf_puts(b, "\"/>\n");
		bundle_buf_printf(b,
				  "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"%s\">",
				  px0 + 6 + 180.0 * (double)leg++, top - 6,
				  palette[k % 8]);
		bundle_buf_html(b, s->name);
		if (s->unit[0]) {
			bundle_buf_puts(b, " [");
			bundle_buf_html(b, s->unit);
			bundle_buf_puts(b, "]");
		}
		bundle_buf_puts(b, "</text>\n");
	}
	for (size_t i = 0; i < r->n_marks; i++) {
		if (r->marks[i].t < w0 || r->marks[i].t > w1)
			continue;
		bundle_buf_printf(b, "<g class=\"marker\"><line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"2 3\"/>"
				  "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\" fill=\"#333\">",
				  X(r->marks[i].t), top,
				  X(r->marks[i].t), y_axis + (double)n_enum * ENUM_ROW_H,
				  X(r->marks[i].t) + 3, top + 11);
		bundle_buf_html(b, r->marks[i].text);
		bundle_buf_puts(b, "</text></g>\n");
	}
	bundle_buf_puts(b, "</svg>\n");
#undef X
#undef Y
}

static void row(struct bundle_buf *b, const char *k, const char *v)
{
	bundle_buf_puts(b, "<tr><th>");
	bundle_buf_html(b, k);
	bundle_buf_puts(b, "</th><td>");
	bundle_buf_html(b, v ? v : "");
	bundle_buf_puts(b, "</td></tr>\n");
}

/* A scalar's text: strings bare, numbers as written, others as JSON. */
static void scalar_text(const struct bundle_json *j, char *out, size_t size)
{
	struct bundle_buf t = {0};

	if (!j) {
		snprintf(out, size, "-");
		return;
	}
	if (j->type == BJ_STRING)
		bundle_buf_puts(&t, j->str);
	else
		bundle_buf_json(&t, j);
	snprintf(out, size, "%s", t.p ? t.p : "");
	bundle_buf_free(&t);
}

/* Readers want 10 significant digits (-1.33), not the round-trip form
 * violations.jsonl keeps for machines (-1.3299999999999983). */
static void measure_text(const struct bundle_json *j, char *out, size_t size)
{
	if (j && j->type == BJ_NUMBER)
		snprintf(out, size, "%.10g", j->num);
	else
		scalar_text(j, out, size);
}

static void meta_row(struct bundle_buf *b, const char *label,
		     const struct bundle_json *obj, const char *key)
{
	char v[512];

	scalar_text(bundle_json_get(obj, key), v, sizeof(v));
	row(b, label, v);
}

static const char *verdict_class(const char *v)
{
	if (!v)
		return "inc";
	if (!strcmp(v, "PASS"))
		return "pass";
	if (!strcmp(v, "FAIL"))
		return "fail";
	if (!strcmp(v, "NOT_EXERCISED"))
		return "ne";
	return "inc";
}

static const char css[] =
	"body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}"
	"h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc;padding-bottom:3px}"
	"h3{font-size:15px;margin:22px 0 4px 0}"
	"table{border-collapse:collapse;font-size:13px;margin:6px 0}"
	"th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
	"th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	".meta th{width:200px}code,.mono{font-family:Menlo,Consolas,monospace;font-size:12px}"
	".v{font-weight:bold;text-align:center}"
	".pass{background:#d4edda;color:#155724}.fail{background:#f8d7da;color:#721c24}"
	".ne{background:#e2e3e5;color:#383d41}.inc{background:#fff3cd;color:#856404}"
	".result{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:bold;font-size:18px;margin:6px 0}"
	".badge{display:inline-block;padding:1px 7px;border-radius:3px;font-weight:bold;font-size:12px}"
	".counts td{text-align:center;min-width:90px}"
	"li.fail{color:#721c24}li.warn{color:#856404}.note{color:#666;font-size:13px}"
	".rule{margin-bottom:18px}"
	"svg{border:1px solid #ddd;margin:4px 0 12px 0;max-width:100%;height:auto}"
	"@media print{@page{size:A4;margin:14mm 12mm}"
	"body{margin:0;max-width:none;font-size:11px}"
	"h2{break-after:avoid;page-break-after:avoid}h3{break-after:avoid;page-break-after:avoid}"
	".rule,svg,tr{break-inside:avoid;page-break-inside:avoid}"
	"#rules{break-before:page;page-break-before:always}"
	"table{font-size:10px}th,td{padding:2px 5px}"
	".pass,.fail,.ne,.inc,.badge,.result,rect{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

static void html_head(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *h = bundle_json_get(r->manifest, "header");
	const char *dirname = basename_of(r->dir);

	bundle_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
			   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<title>cangate evidence: ");
	bundle_buf_html(b, dirname);
	bundle_buf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
	bundle_buf_puts(b, "<h1>cangate evidence report</h1>\n<p class=\"mono\">");
	bundle_buf_html(b, dirname);
	bundle_buf_puts(b, "</p>\n");
	(void)h;
}

/* Overall result: FAIL before INCONCLUSIVE before PASS. */
static const char *overall(const size_t counts[4])
{
	if (counts[1])
		return "FAIL";
	if (counts[3])
		return "INCONCLUSIVE";
	if (counts[0])
		return "PASS";
	return "NOT_EXERCISED";
}

static const char *const verdict_names[4] = {"PASS", "FAIL", "NOT_EXERCISED",
					     "INCONCLUSIVE"};

static size_t rule_violations(const struct report *r, const char *rule)
{
	size_t n = 0;

	for (size_t i = 0; rule && i < r->n_viol; i++) {
		const char *v = bundle_json_str(r->viol[i], "rule");

		n += v && !strcmp(v, rule);
	}
	return n;
}

/* An id for a rule's section: its name, which config names keep to
 * letters, digits, '-' and '_'. */
static void rule_anchor(struct bundle_buf *b, const char *rule)
{
	bundle_buf_puts(b, "rule-");
	for (const char *c = rule ? rule : ""; *c; c++)
		bundle_buf_printf(b, "%c", is_ident(*c) || *c == '-' ? *c : '_');
}

static void html_summary(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *h = bundle_json_get(r->manifest, "header");
	const struct bundle_json *rules = bundle_json_get(r->verdicts, "rules");
	size_t counts[4] = {0, 0, 0, 0}, n = 0;
	const char *res;

	bundle_buf_puts(b, "<h2>Compliance summary</h2>\n<div id=\"summary\">\n");
	if (!rules || rules->type != BJ_ARRAY) {
		bundle_buf_puts(b, "<p class=\"result inc\">NO VERDICTS</p>\n<p class=\"note\">No verdicts.json in this bundle (session not closed): no compliance result.</p>\n");
	} else {
		for (size_t i = 0; i < rules->n; i++) {
			const char *v = bundle_json_str(&rules->items[i], "verdict");

			for (size_t k = 0; k < 4; k++)
				if (v && !strcmp(v, verdict_names[k]))
					counts[k]++;
		}
		n = rules->n;
		res = overall(counts);
		bundle_buf_printf(b, "<p class=\"result %s\" id=\"result\">%s</p>\n",
				  verdict_class(res), res);
	}
	bundle_buf_puts(b, "<table class=\"meta\" id=\"compliance\">\n");
	meta_row(b, "Procedure", h, "procedure");
	meta_row(b, "VIN", h, "vin");
	{
		/* The rule packs: the included files that hold rules. */
		struct bundle_buf packs = {0};

		for (size_t i = 0; r->cfg && i < r->cfg->n_includes; i++) {
			if (packs.len)
				bundle_buf_puts(&packs, ", ");
			bundle_buf_puts(&packs, basename_of(r->cfg->includes[i]));
		}
		row(b, "Rule packs", packs.len ? packs.p : "-");
		bundle_buf_free(&packs);
	}
	meta_row(b, "Operator", h, "operator");
	meta_row(b, "Start (UTC)", h, "start");
	bundle_buf_puts(b, "</table>\n");
	if (n) {
		bundle_buf_puts(b, "<table class=\"counts\" id=\"counts\"><tr>");
		for (size_t k = 0; k < 4; k++)
			bundle_buf_printf(b, "<th>%s</th>", verdict_names[k]);
		bundle_buf_puts(b, "<th>rules</th></tr>\n<tr>");
		for (size_t k = 0; k < 4; k++)
			bundle_buf_printf(b, "<td class=\"v %s\">%zu</td>",
					  counts[k] ? verdict_class(verdict_names[k]) : "",
					  counts[k]);
		bundle_buf_printf(b, "<td>%zu</td></tr>\n</table>\n", n);
	}
	if (counts[1] || counts[3]) {
		bundle_buf_puts(b, "<ul id=\"failures\">\n");
		for (size_t i = 0; i < rules->n; i++) {
			const struct bundle_json *ru = &rules->items[i];
			const char *v = bundle_json_str(ru, "verdict");
			const char *name = bundle_json_str(ru, "rule");

			if (!v || (strcmp(v, "FAIL") && strcmp(v, "INCONCLUSIVE")))
				continue;
			bundle_buf_printf(b, "<li class=\"%s\"><a href=\"#", verdict_class(v));
			rule_anchor(b, name);
			bundle_buf_puts(b, "\">");
			bundle_buf_html(b, name);
			bundle_buf_printf(b, "</a> <span class=\"badge %s\">%s</span> ",
					  verdict_class(v), v);
			bundle_buf_html(b, bundle_json_str(ru, "ref"));
			if (!strcmp(v, "FAIL"))
				bundle_buf_printf(b, " (%zu violation%s)",
						  rule_violations(r, name),
						  rule_violations(r, name) == 1 ? "" : "s");
			bundle_buf_puts(b, "</li>\n");
		}
		bundle_buf_puts(b, "</ul>\n");
	}
	bundle_buf_puts(b, "</div>\n");
}

/* Live or replayed: a session fed by replay buses is a replay of logs. */
static void session_source(const struct report *r, char *out, size_t size)
{
	size_t n = 0;

	snprintf(out, size, "%s", r->cfg ? "live (CAN interfaces)" : "unknown");
	for (size_t i = 0; r->cfg && i < r->cfg->n_buses; i++) {
		const struct config_bus *bus = &r->cfg->buses[i];

		if (bus->kind != BUS_REPLAY)
			continue;
		n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s%s",
				      n ? ", " : "REPLAYED from recorded logs: bus ",
				      bus->name, "");
		if (n >= size)
			break;
	}
}

static void html_integrity(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *h = bundle_json_get(r->manifest, "header");
	const struct bundle_json *sync = bundle_json_get(h, "clock_synchronised");
	char path[4096], v[512];

	bundle_buf_puts(b, "<h2>Integrity</h2>\n<table class=\"meta\" id=\"integrity\">\n<tr><th>Verification</th><td>");
	if (r->vrc == 0) {
		bundle_buf_puts(b, "<span id=\"verification\">OK ");
		if (!strcmp(r->vr.status, "closed"))
			bundle_buf_printf(b,
					  "closed session: %" PRIu64 " frames in %" PRIu64
					  " blocks, every file hash and chain block checks out",
					  r->vr.lines, r->vr.blocks);
		else
			bundle_buf_printf(b,
					  "%s session: verified to block %" PRIu64
					  ", line %" PRIu64 "; %" PRIu64
					  " bytes after it are not covered",
					  r->vr.status, r->vr.blocks, r->vr.lines,
					  r->vr.tail_bytes);
	} else {
		bundle_buf_puts(b, "<span id=\"verification\" class=\"fail\">FAIL ");
		bundle_buf_html(b, r->vr.first_fail);
	}
	bundle_buf_puts(b, "</span></td></tr>\n");
	snprintf(path, sizeof(path), "%s/manifest.sig", r->dir);
	row(b, "Signature", access(path, F_OK) == 0 ?
		"signed (manifest.sig): check it with cangate verify --pubkey" :
		"NOT signed (no sign_key in [evidence])");
	snprintf(v, sizeof(v), "%s (max error %s us, estimated error %s us)",
		 sync && sync->type == BJ_BOOL && sync->b ? "synchronised" :
							    "NOT synchronised",
		 bundle_json_get(h, "clock_maxerror_us") ?
			 bundle_json_get(h, "clock_maxerror_us")->str : "?",
		 bundle_json_get(h, "clock_esterror_us") ?
			 bundle_json_get(h, "clock_esterror_us")->str : "?");
	row(b, "Clock", v);
	session_source(r, v, sizeof(v));
	row(b, "Session", v);
	meta_row(b, "Software", h, "software");
	snprintf(v, sizeof(v), "%s", r->vr.head);
	row(b, "Chain head", v);
	bundle_buf_puts(b, "</table>\n");
	bundle_buf_puts(b, "<p class=\"note\">Check with <code>cangate verify</code> (and <code>--pubkey</code> for a signed bundle).</p>\n");
	if (r->notes.len) {
		bundle_buf_puts(b, "<ul>\n");
		bundle_buf_add(b, r->notes.p, r->notes.len);
		bundle_buf_puts(b, "</ul>\n");
	}
}

static void html_meta(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *m = r->manifest;
	const struct bundle_json *h = bundle_json_get(m, "header");
	const struct bundle_json *c = bundle_json_get(m, "counts");
	char v[512];

	bundle_buf_puts(b, "<h2>Session details</h2>\n<table class=\"meta\" id=\"session\">\n");
	meta_row(b, "Status", m, "status");
	meta_row(b, "Gateway", h, "gateway");
	meta_row(b, "VIN", h, "vin");
	meta_row(b, "Procedure", h, "procedure");
	meta_row(b, "Operator", h, "operator");
	meta_row(b, "Start (UTC)", h, "start");
	meta_row(b, "End (UTC)", m, "end");
	meta_row(b, "Host", h, "hostname");
	meta_row(b, "Software", h, "software");
	meta_row(b, "Session id", h, "session_id");
	meta_row(b, "Config", h, "config");
	meta_row(b, "Config SHA-256", h, "config_sha256");
	meta_row(b, "Frames", c, "frames");
	{
		char rx[64], tx[64];
		scalar_text(bundle_json_get(c, "rx"), rx, sizeof(rx));
		scalar_text(bundle_json_get(c, "tx"), tx, sizeof(tx));
		snprintf(v, sizeof(v), "%s received, %s sent", rx, tx);
		row(b, "Frames by direction", v);
	}
	meta_row(b, "Events", c, "events");
	meta_row(b, "Violations", c, "violations");
	meta_row(b, "Not recorded", c, "not_recorded");
	const struct bundle_json *rec = bundle_json_get(m, "recording");
	if (rec && bundle_json_str(rec, "error"))
		row(b, "Recording stopped", bundle_json_str(rec, "error"));
	bundle_buf_puts(b, "</table>\n");
}

static void html_verdicts(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *rules = bundle_json_get(r->verdicts, "rules");
	char v[512];

	if (!rules || rules->type != BJ_ARRAY)
		return;
	bundle_buf_puts(b, "<h3>All rules</h3>\n");
	bundle_buf_puts(b, "<table id=\"verdicts\">\n<tr><th>Rule</th><th>Reference</th><th>Verdict</th><th>Details</th></tr>\n");
	for (size_t i = 0; i < rules->n; i++) {
		const struct bundle_json *ru = &rules->items[i];
		const char *verdict = bundle_json_str(ru, "verdict");
		bundle_buf_puts(b, "<tr><td><a href=\"#");
		rule_anchor(b, bundle_json_str(ru, "rule"));
		bundle_buf_puts(b, "\">");
		bundle_buf_html(b, bundle_json_str(ru, "rule"));
		bundle_buf_puts(b, "</a></td><td>");
		bundle_buf_html(b, bundle_json_str(ru, "ref"));
		bundle_buf_printf(b, "</td><td class=\"v %s\">",
				  verdict_class(verdict));
		bundle_buf_html(b, verdict ? verdict : "?");
		bundle_buf_puts(b, "</td><td class=\"mono\">");
		for (size_t k = 0; ru->type == BJ_OBJECT && k < ru->n; k++) {
			const char *key = ru->items[k].key;
			if (!strcmp(key, "rule") || !strcmp(key, "ref") ||
			    !strcmp(key, "verdict"))
				continue;
			scalar_text(&ru->items[k], v, sizeof(v));
			bundle_buf_html(b, key);
			bundle_buf_puts(b, "=");
			bundle_buf_html(b, v);
			bundle_buf_puts(b, " ");
		}
		bundle_buf_puts(b, "</td></tr>\n");
	}
	bundle_buf_puts(b, "</table>\n");
}

static void html_violations(struct report *r, struct bundle_buf *b)
{
	double start = (double)r->start_ns / 1e9;
	char v[512];

	bundle_buf_printf(b, "<h2>Violation index (%zu)</h2>\n", r->n_viol);
	if (!r->n_viol) {
		bundle_buf_puts(b, "<p class=\"note\">None recorded.</p>\n");
		return;
	}
	bundle_buf_puts(b, "<table id=\"violations\">\n<tr><th>Rule</th><th>Reference</th><th>Start (s)</th><th>End (s)</th><th>Worst</th><th>Margin</th><th>frames.log lines</th></tr>\n");
	for (size_t i = 0; i < r->n_viol && i < REPORT_MAX_ROWS; i++) {
		const struct bundle_json *x = r->viol[i];
		double t0 = bundle_json_num(x, "t_start");
		double t1 = bundle_json_num(x, "t_end");
		const struct bundle_json *lines = bundle_json_get(x, "lines");
		bundle_buf_puts(b, "<tr><td>");
		bundle_buf_html(b, bundle_json_str(x, "rule"));
		bundle_buf_puts(b, "</td><td>");
		bundle_buf_html(b, bundle_json_str(x, "ref"));
		if (isnan(t0))
			bundle_buf_puts(b, "</td><td class=\"num\">-");
		else
			bundle_buf_printf(b, "</td><td class=\"num\">%.6f", t0 - start);
		if (isnan(t1))
			bundle_buf_puts(b, "</td><td class=\"num\">open");
		else
			bundle_buf_printf(b, "</td><td class=\"num\">%.6f", t1 - start);
		measure_text(bundle_json_get(x, "worst"), v, sizeof(v));
		bundle_buf_puts(b, "</td><td class=\"num\">");
		bundle_buf_html(b, v);
		measure_text(bundle_json_get(x, "margin"), v, sizeof(v));
		bundle_buf_puts(b, "</td><td class=\"num\">");
		bundle_buf_html(b, v);
		bundle_buf_puts(b, "</td><td class=\"num\">");
		if (lines && lines->type == BJ_ARRAY && lines->n == 2 &&
		    lines->items[0].type == BJ_NUMBER &&
		    lines->items[1].type == BJ_NUMBER)
			bundle_buf_printf(b, "%s-%s", lines->items[0].str,
					  lines->items[1].str);
		else
			bundle_buf_puts(b, "-");
		bundle_buf_puts(b, "</td></tr>\n");
	}
	bundle_buf_puts(b, "</table>\n");
	if (r->n_viol > REPORT_MAX_ROWS)
		bundle_buf_printf(b, "<p class=\"note\">First %d of %zu shown; all are in violations.jsonl.</p>\n",
				  REPORT_MAX_ROWS, r->n_viol);
}

static const struct plot *rule_plot(const struct report *r, const char *rule)
{
	for (size_t i = 0; rule && i < r->n_plots; i++)
		if (!strcmp(r->plots[i].rule, rule))
			return &r->plots[i];
	return NULL;
}

/* The rule's section as the config writes it (shown, not interpreted:
 * rules_info() is what the plots use). */
static const struct config_section *rule_section(const struct config *cfg,
						 const char *rule)
{
	for (size_t i = 0; cfg && rule && i < cfg->n_rules; i++)
		if (!strcmp(cfg->rules[i].name, rule))
			return &cfg->rules[i];
	return NULL;
}

/* One section per rule: what it checks as written, its verdict, and each
 * violation with a plot zoomed on it. */
static void html_rule(struct report *r, struct bundle_buf *b,
		      const struct bundle_json *ru)
{
	static const char *const skip[] = {"ref", "description"};
	const char *name = bundle_json_str(ru, "rule");
	const char *verdict = bundle_json_str(ru, "verdict");
	const struct config_section *sec = rule_section(r->cfg, name);
	const struct plot *p = rule_plot(r, name);
	double start = (double)r->start_ns / 1e9;
	size_t shown = 0;
	char v[512];

	bundle_buf_puts(b, "<div class=\"rule\" id=\"");
	rule_anchor(b, name);
	bundle_buf_puts(b, "\">\n<h3>");
	bundle_buf_html(b, name);
	bundle_buf_printf(b, " <span class=\"badge %s\">%s</span></h3>\n",
			  verdict_class(verdict), verdict ? verdict : "?");
	bundle_buf_puts(b, "<table class=\"meta\">\n");
	row(b, "Reference", bundle_json_str(ru, "ref"));
	row(b, "Description", bundle_json_str(ru, "description"));
	/* The rule as the config writes it: expressions and limits. */
	for (size_t k = 0; sec && k < sec->n_kv; k++) {
		bool hide = false;

		for (size_t i = 0; i < sizeof(skip) / sizeof(*skip); i++)
			hide |= !strcmp(sec->kv[k].key, skip[i]);
		if (hide)
			continue;
		bundle_buf_puts(b, "<tr><th>");
		bundle_buf_html(b, sec->kv[k].key);
		bundle_buf_puts(b, "</th><td><code>");
		bundle_buf_html(b, sec->kv[k].value);
		bundle_buf_puts(b, "</code></td></tr>\n");
	}
	for (size_t k = 0; ru->type == BJ_OBJECT && k < ru->n; k++) {
		const char *key = ru->items[k].key;

		if (!strcmp(key, "rule") || !strcmp(key, "ref") ||
		    !strcmp(key, "verdict") || !strcmp(key, "kind") ||
		    !strcmp(key, "description"))
			continue;
		scalar_text(&ru->items[k], v, sizeof(v));
		row(b, key, v);
	}
	bundle_buf_puts(b, "</table>\n");
	for (size_t i = 0; i < r->n_viol; i++) {
		const struct bundle_json *x = r->viol[i];
		const char *vr = bundle_json_str(x, "rule");
		double t0, t1;
		char w[64], m[64];

		if (!vr || !name || strcmp(vr, name))
			continue;
		if (++shown > REPORT_MAX_ZOOMS) {
			if (shown == REPORT_MAX_ZOOMS + 1)
				bundle_buf_printf(b, "<p class=\"note\">Plots of the first %d violations shown; all are in the violation index.</p>\n",
						  REPORT_MAX_ZOOMS);
			continue;
		}
		t0 = span_time(x, "t_start", NAN) - start;
		t1 = span_time(x, "t_end", t0 + start) - start;
		measure_text(bundle_json_get(x, "worst"), w, sizeof(w));
		measure_text(bundle_json_get(x, "margin"), m, sizeof(m));
		bundle_buf_printf(b, "<p class=\"viol\">Violation %zu: %.6f s to %.6f s, worst ",
				  shown, t0, t1);
		bundle_buf_html(b, w);
		bundle_buf_puts(b, ", margin ");
		bundle_buf_html(b, m);
		bundle_buf_puts(b, ": ");
		bundle_buf_html(b, bundle_json_str(x, "msg"));
		bundle_buf_puts(b, "</p>\n");
		if (!r->cfg) {
			bundle_buf_puts(b, "<p class=\"note\">Not plotted: ");
			bundle_buf_html(b, r->cfg_error);
			bundle_buf_puts(b, "</p>\n");
		} else if (!p || !p->n_ser) {
			bundle_buf_puts(b, "<p class=\"note\">This rule names no signal found in the DBCs.</p>\n");
		} else if (!isnan(t0)) {
			svg_plot(b, r, p, t0 - REPORT_ZOOM_S, t1 + REPORT_ZOOM_S);
		}
	}
}

static void html_rules(struct report *r, struct bundle_buf *b)
{
	const struct bundle_json *rules = bundle_json_get(r->verdicts, "rules");

	if (!rules || rules->type != BJ_ARRAY)
		return;
	bundle_buf_puts(b, "<h2 id=\"rules\">Rules</h2>\n");
	if (!r->rules) {
		bundle_buf_puts(b, "<p class=\"note\">Rules' own signals not plotted: ");
		bundle_buf_html(b, r->cfg_error);
		bundle_buf_puts(b, "</p>\n");
	}
	bundle_buf_printf(b, "<p class=\"note\">Each rule as its pack writes it. Plots: %.0f s either side of each violation, decoded from frames.log with the bundle's DBCs; shaded: the violation; dashed: limits; rows: enumerated signals; dotted: markers.</p>\n",
			  REPORT_ZOOM_S);
	for (size_t i = 0; i < rules->n; i++)
		html_rule(r, b, &rules->items[i]);
}

static void html_events(struct report *r, struct bundle_buf *b)
{
	double start = (double)r->start_ns / 1e9;

	bundle_buf_printf(b, "<h2>Events (%zu)</h2>\n<table id=\"events\">\n<tr><th>Time (s)</th><th>Type</th><th>Details</th></tr>\n",
			  r->n_events);
	for (size_t i = 0; i < r->n_events && i < REPORT_MAX_ROWS; i++) {
		const struct bundle_json *e = r->events[i];
		double t = bundle_json_num(e, "t");
		char v[512];
		bundle_buf_printf(b, "<tr><td class=\"num\">%.6f</td><td>",
				  isnan(t) ? 0 : t - start);
		bundle_buf_html(b, bundle_json_str(e, "type"));
		bundle_buf_puts(b, "</td><td class=\"mono\">");
		for (size_t k = 0; e->type == BJ_OBJECT && k < e->n; k++) {
			if (!strcmp(e->items[k].key, "t") ||
			    !strcmp(e->items[k].key, "type"))
				continue;
			scalar_text(&e->items[k], v, sizeof(v));
			bundle_buf_html(b, e->items[k].key);
			bundle_buf_puts(b, "=");
			bundle_buf_html(b, v);
			bundle_buf_puts(b, " ");
		}
		bundle_buf_puts(b, "</td></tr>\n");
	}
	bundle_buf_puts(b, "</table>\n");
}

int report_write(const char *bundle_dir_arg, const char *out_path,
		 char *errmsg, size_t errlen)
{
	char bundle_dir[4096];
	size_t dl = (size_t)snprintf(bundle_dir, sizeof(bundle_dir), "%s",
				     bundle_dir_arg);
	while (dl > 1 && bundle_dir[dl - 1] == '/')
		bundle_dir[--dl] = 0; /* "BUNDLE/" names the same bundle */
	struct report r = {.dir = bundle_dir};
	struct bundle_verify_opts vo = {.ignore_report = true,
					.note = verify_note,
					.ctx = &r.notes};
	struct bundle_buf b = {0};
	int rc = -1;

	r.manifest = load_json(bundle_dir, "manifest.json");
	if (!r.manifest || r.manifest->type != BJ_OBJECT) {
		snprintf(errmsg, errlen, "%s/manifest.json: missing or not JSON",
			 bundle_dir);
		goto out;
	}
	r.vrc = bundle_verify(bundle_dir, &vo, &r.vr);
	bundle_json_u64(bundle_json_get(r.manifest, "header"), "start_ns",
			&r.start_ns);
	r.verdicts = load_json(bundle_dir, "verdicts.json");
	r.n_viol = load_jsonl(bundle_dir, "violations.jsonl", &r.viol);
	r.n_events = load_jsonl(bundle_dir, "events.jsonl", &r.events);
	load_config(&r);
	build_plots(&r);
	decode_frames(&r);

	for (size_t i = 0; i < r.n_events && r.n_marks < REPORT_MAX_MARKS; i++) {
		const char *type = bundle_json_str(r.events[i], "type");
		double t = bundle_json_num(r.events[i], "t");

		if (type && !strcmp(type, "mark") && !isnan(t)) {
			r.marks[r.n_marks].t = t - (double)r.start_ns / 1e9;
			const char *text = bundle_json_str(r.events[i], "text");

			r.marks[r.n_marks++].text = text ? text : "";
		}
	}

	html_head(&r, &b);
	html_summary(&r, &b);
	html_verdicts(&r, &b);
	html_integrity(&r, &b);
	html_meta(&r, &b);
	html_rules(&r, &b);
	html_violations(&r, &b);
	html_events(&r, &b);
	bundle_buf_puts(&b, "</body>\n</html>\n");
	if (b.failed) {
		snprintf(errmsg, errlen, "out of memory");
		goto out;
	}
	{
		char dir[4096];
		const char *slash = strrchr(out_path, '/');
		if (slash)
			snprintf(dir, sizeof(dir), "%.*s",
				 (int)(slash - out_path), out_path);
		else
			snprintf(dir, sizeof(dir), ".");
		if (!dir[0])
			snprintf(dir, sizeof(dir), "/");
		rc = bundle_write_atomic(dir, slash ? slash + 1 : out_path, b.p,
					 b.len, errmsg, errlen);
	}
out:
	bundle_buf_free(&b);
	bundle_buf_free(&r.notes);
	bundle_json_free(r.manifest);
	bundle_json_free(r.verdicts);
	for (size_t i = 0; i < r.n_viol; i++)
		bundle_json_free(r.viol[i]);
	free(r.viol);
	for (size_t i = 0; i < r.n_events; i++)
		bundle_json_free(r.events[i]);
	free(r.events);
	for (size_t i = 0; r.plots && i < r.n_plots; i++)
		for (size_t k = 0; k < r.plots[i].n_ser; k++) {
			free(r.plots[i].ser[k].t);
			free(r.plots[i].ser[k].v);
		}
	free(r.plots);
	rules_free(r.rules);
	if (r.cfg)
		config_free(r.cfg);
	return rc;
}
