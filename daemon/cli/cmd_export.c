/*
 * cmd_export.c: `cangate export BUNDLE --asc|--csv [-o FILE]`.
 *
 * --asc: Vector ASC as can-utils' log2asc writes it (header "date ...",
 * the first frame's local time to the microsecond, "base hex  timestamps
 * absolute"; times relative to the first frame;
 * channels numbered 1.. in the order of the bundle config's buses, then of
 * first appearance; CAN FD frames as "CANFD" lines).
 * --csv: every decoded signal, "t,bus,message,signal,value,unit", decoded
 * with the DBCs in the bundle's config/ (multiplexed signals only when
 * active). Frames of all segments, in line order.
 * --wide [--step MS]: one row per time step (default 100 ms) from the first
 * frame to the last, one column per signal the bundle carries, each holding
 * the last value received at or before the row's time (empty before the
 * first). Columns are "Message.Signal" ("bus:Message.Signal" where two
 * buses carry the same name), in the order of the buses and their DBCs.
 * --choices (with --csv or --wide): value-table names instead of numbers.
 * --blf: Vector BLF as python-can and Vector's tools read it (zlib
 * containers of 128 KiB, CAN_MESSAGE, CAN_FD_MESSAGE and CAN_ERROR_EXT
 * objects, times in ns from a start written as local time to the
 * millisecond, so that every frame's time reads back exactly; channels as
 * for ASC). Its header is written last: the output must be a file.
 * A format is one entry in formats[] below; bundle_frames_foreach() walks the
 * frames for all of them.
 * Exit 0, 1 when frames.log holds lines that do not parse (each named with
 * its file:line on stderr), 2 usage or unreadable bundle.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <linux/can/error.h>

#include "daemon/core/bundle.h"
#include "daemon/cli/commands.h"
#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/report.h"
#include "dbc/dbc.h"

#define MAX_CHANNELS 64

struct exporter;

/* --wide: a column per signal seen, per (bus, DBC, message). */
struct wide_col {
	int bus;
	const struct dbc_message *m;
	const struct dbc_signal *sig;
	bool has;
	double v;
	const char *name; /* value-table name, with --choices */
};

struct wide {
	int ****col;            /* [bus][dbc][message] -> per-signal column or -1 */
	struct wide_col *cols;
	size_t n_cols, cap_cols;
	bool counting;          /* first walk: find the columns */
	uint64_t step_ns, next;
	uint64_t t_last;
};

/* --blf: objects staged for the next container. */
#define BLF_CONTAINER 131072

struct blf_out {
	uint8_t buf[BLF_CONTAINER + 256];
	size_t n;
	uint64_t start_ns;      /* the header's start, the first frame's ms */
	uint64_t stop_ns;
	uint64_t objects, uncompressed;
};

struct exporter {
	FILE *out;
	const struct export_format *fmt;
	bool started, choices;
	int rc;
	uint64_t t0;
	struct config *cfg;
	char chan[MAX_CHANNELS][FRAME_IFNAME_MAX];
	size_t n_chan;
	struct dbc_decoded dec[512];
	struct wide wide;
	struct blf_out *blf;
};

static int channel(struct exporter *x, const char *ifname)
{
	for (size_t i = 0; i < x->n_chan; i++)
		if (!strcmp(x->chan[i], ifname))
			return (int)i + 1;
	if (x->n_chan == MAX_CHANNELS)
		return (int)MAX_CHANNELS;
	snprintf(x->chan[x->n_chan], sizeof(x->chan[0]), "%s", ifname);
	return (int)++x->n_chan;
}

static unsigned fd_len2dlc(unsigned len)
{
	static const unsigned char dlc[65] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11,
		11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13,
		14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
		14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
		15, 15};
	return len <= 64 ? dlc[len] : 15;
}

static void asc_header(struct exporter *x, const struct frame *first)
{
	time_t s;
	struct tm tm;
	char date[64];

	if (!first)
		return; /* log2asc writes nothing for an empty log */
	/* Local time, as Vector's tools and python-can write and read it,
	 * with the microseconds, so that the frames' times read back exactly
	 * (the frame lines count from the first frame, as log2asc's do). */
	s = (time_t)(first->t_ns / 1000000000u);
	localtime_r(&s, &tm);
	strftime(date, sizeof(date), "%a %b %d %I:%M:%S", &tm);
	fprintf(x->out, "date %s.%06u ", date,
		(unsigned)(first->t_ns % 1000000000u / 1000u));
	strftime(date, sizeof(date), "%p %Y", &tm);
	fprintf(x->out, "%s\nbase hex  timestamps absolute\nno internal events logged\n",
		date);
}

static void asc_frame(struct exporter *x, const struct bundle_frame *bf)
{
	const struct frame *f = bf->f;
	const char *ifname = bf->ifname;
	uint64_t rel = f->t_ns >= x->t0 ? f->t_ns - x->t0 : 0;
	int ch = channel(x, ifname);
	const char *dir = f->dir == FRAME_DIR_TX ? "Tx" : "Rx";
	char id[16];

	fprintf(x->out, "%4" PRIu64 ".%06" PRIu64 " ", rel / 1000000000u,
		rel % 1000000000u / 1000u);
	if (f->fd) {
		/* "%X%c" with 'x' or ' ', right-aligned: as log2asc and
		 * Vector's tools line it up */
		snprintf(id, sizeof(id), "%X%c", f->id, f->ext ? 'x' : ' ');
		fprintf(x->out, "CANFD %3d %s %11s                                  %c %c %x %2u",
			ch, dir, id, f->fd_flags & CANFD_BRS ? '1' : '0',
			f->fd_flags & CANFD_ESI ? '1' : '0', fd_len2dlc(f->len),
			f->len);
		for (unsigned i = 0; i < f->len; i++)
			fprintf(x->out, " %02X", f->data[i]);
		unsigned flags = 0x1000 | (f->fd_flags & CANFD_BRS ? 0x2000 : 0) |
				 (f->fd_flags & CANFD_ESI ? 0x4000 : 0);
		fprintf(x->out, " %8d %4d %8X 0 0 0 0 0\n", 130000, 130, flags);
		return;
	}
	fprintf(x->out, "%-2d ", ch);
	if (f->err) {
		fprintf(x->out, "ErrorFrame\n");
		return;
	}
	snprintf(id, sizeof(id), "%X%c", f->id, f->ext ? 'x' : ' ');
	fprintf(x->out, "%-15s %s   ", id, dir);
	unsigned dlc = f->raw_dlc ? f->raw_dlc : f->len;
	if (f->rtr) {
		fprintf(x->out, "r %X\n", dlc);
		return;
	}
	fprintf(x->out, "d %X", dlc);
	for (unsigned i = 0; i < f->len; i++)
		fprintf(x->out, " %02X", f->data[i]);
	fputc('\n', x->out);
}

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void csv_header(struct exporter *x, const struct frame *first)
{
	(void)first;
	fputs("t,bus,message,signal,value,unit\n", x->out);
}

/* Decode a frame with its bus's DBCs into x->dec: the number of values,
 * 0 when no DBC knows it. *bus_out, *dbc_out, *m_out say where it was found. */
static size_t export_decode(struct exporter *x, const struct frame *f,
			    const char *ifname, int *bus_out, size_t *dbc_out,
			    const struct dbc_message **m_out)
{
	int b = config_bus_by_interface(x->cfg, ifname);
	const struct dbc_message *m = NULL;
	const struct config_bus *bus;
	size_t d = 0;

	if (b < 0 || f->err || f->rtr)
		return 0;
	bus = &x->cfg->buses[b];
	for (; bus->dbcs && d < bus->n_dbc_paths; d++)
		if (bus->dbcs[d] && (m = dbc_lookup(bus->dbcs[d], f->id, f->ext)))
			break;
	if (!m)
		return 0;
	*bus_out = b;
	*dbc_out = d;
	*m_out = m;
	return dbc_decode(m, f->data, f->len, x->dec,
			  sizeof(x->dec) / sizeof(x->dec[0]), NULL);
}

/* A value as CSV: its value-table name with --choices, else the number. */
static void csv_value(struct exporter *x, double v, const char *name)
{
	char num[JSON_DOUBLE_MAX];

	if (name) {
		csv_field(x->out, name);
		return;
	}
	json_format_double(v, num);
	fputs(num, x->out);
}

static void csv_frame(struct exporter *x, const struct bundle_frame *bf)
{
	const struct dbc_message *m;
	size_t d, n;
	int b;

	n = export_decode(x, bf->f, bf->ifname, &b, &d, &m);
	for (size_t i = 0; i < n; i++) {
		fwrite(bf->time, 1, bf->time_len, x->out);
		fputc(',', x->out);
		csv_field(x->out, x->cfg->buses[b].name);
		fputc(',', x->out);
		csv_field(x->out, m->name);
		fputc(',', x->out);
		csv_field(x->out, x->dec[i].sig->name);
		fputc(',', x->out);
		csv_value(x, x->dec[i].phys, x->choices ?
			  dbc_choice(x->dec[i].sig, x->dec[i].raw) : NULL);
		fputc(',', x->out);
		csv_field(x->out, x->dec[i].sig->unit ? x->dec[i].sig->unit : "");
		fputc('\n', x->out);
	}
}

/* ------------------------------------------------------------- --wide */

static void wide_row(struct exporter *x);

/* The column slot of a decoded signal (created while counting). */
static int *wide_slot(struct exporter *x, int b, size_t d,
		      const struct dbc_message *m, const struct dbc_signal *sig)
{
	struct wide *w = &x->wide;
	const struct config_bus *bus = &x->cfg->buses[b];
	size_t mi = (size_t)(m - bus->dbcs[d]->messages);
	int **msgs;

	if (!w->col[b]) {
		w->col[b] = calloc(bus->n_dbc_paths, sizeof(*w->col[b]));
		if (!w->col[b])
			return NULL;
	}
	if (!w->col[b][d]) {
		w->col[b][d] = calloc(bus->dbcs[d]->n_messages, sizeof(int *));
		if (!w->col[b][d])
			return NULL;
	}
	msgs = w->col[b][d];
	if (!msgs[mi]) {
		msgs[mi] = malloc(m->n_signals * sizeof(int));
		if (!msgs[mi])
			return NULL;
		for (size_t k = 0; k < m->n_signals; k++)
			msgs[mi][k] = -1;
	}
	return &msgs[mi][sig - m->signals];
}

static void wide_frame(struct exporter *x, const struct bundle_frame *bf)
{
	struct wide *w = &x->wide;
	const struct dbc_message *m;
	size_t d, n;
	int b;

	n = export_decode(x, bf->f, bf->ifname, &b, &d, &m);
	if (w->counting) {
		for (size_t i = 0; i < n; i++) {
			int *slot = wide_slot(x, b, d, m, x->dec[i].sig);

			if (!slot) {
				x->rc = 2;
				return;
			}
			*slot = 0; /* seen; numbered once all are known */
		}
		if (bf->f->t_ns > w->t_last)
			w->t_last = bf->f->t_ns;
		return;
	}
	/* Rows before this frame's time hold what came before it. */
	while (w->next < bf->f->t_ns) {
		wide_row(x);
		w->next += w->step_ns;
	}
	for (size_t i = 0; i < n; i++) {
		struct wide_col *c = &w->cols[*wide_slot(x, b, d, m,
							  x->dec[i].sig)];

		c->has = true;
		c->v = x->dec[i].phys;
		c->name = x->choices ? dbc_choice(x->dec[i].sig, x->dec[i].raw) : NULL;
	}
}

/* Number the columns seen, in bus, DBC, message and signal order. */
static int wide_columns(struct exporter *x)
{
	struct wide *w = &x->wide;

	for (size_t b = 0; b < x->cfg->n_buses; b++) {
		const struct config_bus *bus = &x->cfg->buses[b];

		for (size_t d = 0; w->col[b] && d < bus->n_dbc_paths; d++)
			for (size_t mi = 0; w->col[b][d] &&
					    mi < bus->dbcs[d]->n_messages; mi++) {
				const struct dbc_message *m =
					&bus->dbcs[d]->messages[mi];
				int *slots = w->col[b][d][mi];

				for (size_t k = 0; slots && k < m->n_signals; k++) {
					if (slots[k] < 0)
						continue;
					if (w->n_cols == w->cap_cols) {
						size_t cap = w->cap_cols ? 2 * w->cap_cols : 64;
						void *p = realloc(w->cols, cap * sizeof(*w->cols));

						if (!p)
							return -1;
						w->cols = p;
						w->cap_cols = cap;
					}
					slots[k] = (int)w->n_cols;
					w->cols[w->n_cols++] = (struct wide_col){
						(int)b, m, &m->signals[k], false, 0, NULL};
				}
			}
	}
	return 0;
}

static bool wide_name_shared(const struct wide *w, size_t i)
{
	for (size_t k = 0; k < w->n_cols; k++)
		if (k != i && w->cols[k].bus != w->cols[i].bus &&
		    !strcmp(w->cols[k].m->name, w->cols[i].m->name) &&
		    !strcmp(w->cols[k].sig->name, w->cols[i].sig->name))
			return true;
	return false;
}

static void wide_header(struct exporter *x, const struct frame *first)
{
	struct wide *w = &x->wide;

	fputs("t", x->out);
	for (size_t i = 0; i < w->n_cols; i++) {
		const struct wide_col *c = &w->cols[i];
		char name[1024];

		if (wide_name_shared(w, i))
			snprintf(name, sizeof(name), "%s:%s.%s",
				 x->cfg->buses[c->bus].name, c->m->name,
				 c->sig->name);
		else
			snprintf(name, sizeof(name), "%s.%s", c->m->name,
				 c->sig->name);
		fputc(',', x->out);
		csv_field(x->out, name);
	}
	fputc('\n', x->out);
	if (first)
		w->next = first->t_ns;
}

/* One row at w->next. */
static void wide_row(struct exporter *x)
{
	struct wide *w = &x->wide;

	fprintf(x->out, "%" PRIu64 ".%06" PRIu64, w->next / 1000000000u,
		w->next % 1000000000u / 1000u);
	for (size_t i = 0; i < w->n_cols; i++) {
		fputc(',', x->out);
		if (w->cols[i].has)
			csv_value(x, w->cols[i].v, w->cols[i].name);
	}
	fputc('\n', x->out);
}

/* After the last frame: the rows up to its time. */
static void wide_footer(struct exporter *x)
{
	struct wide *w = &x->wide;

	if (!x->started)
		return;
	while (w->next <= w->t_last) {
		wide_row(x);
		w->next += w->step_ns;
	}
}

/* -------------------------------------------------------------- --blf */

static void le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A Windows SYSTEMTIME of t (local time, milliseconds), into p[16]. */
static void blf_systemtime(uint8_t *p, uint64_t t_ns)
{
	time_t s = (time_t)(t_ns / 1000000000u);
	struct tm tm;

	memset(p, 0, 16);
	if (!t_ns || !localtime_r(&s, &tm))
		return;
	le(p, (uint64_t)tm.tm_year + 1900, 2);
	le(p + 2, (uint64_t)tm.tm_mon + 1, 2);
	le(p + 4, (uint64_t)tm.tm_wday, 2);
	le(p + 6, (uint64_t)tm.tm_mday, 2);
	le(p + 8, (uint64_t)tm.tm_hour, 2);
	le(p + 10, (uint64_t)tm.tm_min, 2);
	le(p + 12, (uint64_t)tm.tm_sec, 2);
	le(p + 14, t_ns / 1000000u % 1000u, 2);
}

static void blf_file_header(struct exporter *x, uint64_t file_size)
{
	struct blf_out *o = x->blf;
	uint8_t h[144] = "LOGG";

	le(h + 4, sizeof(h), 4);
	h[8] = 5;       /* application: as python-can writes it */
	h[12] = 2;      /* BLF version 2.6.8.1 */
	h[13] = 6;
	h[14] = 8;
	h[15] = 1;
	le(h + 16, file_size, 8);
	le(h + 24, o->uncompressed + sizeof(h), 8);
	le(h + 32, o->objects, 4);
	blf_systemtime(h + 40, o->start_ns);
	blf_systemtime(h + 56, o->stop_ns);
	fwrite(h, 1, sizeof(h), x->out);
}

/* Compress the staged objects into one LOG_CONTAINER. */
static void blf_flush(struct exporter *x)
{
	struct blf_out *o = x->blf;
	uLongf zn = compressBound((uLong)o->n);
	uint8_t *z = malloc(32 + zn + 4);

	if (!o->n)
		return;
	if (!z || compress(z + 32, &zn, o->buf, (uLong)o->n) != Z_OK) {
		fprintf(stderr, "cangate export: BLF: out of memory\n");
		x->rc = 2;
		free(z);
		return;
	}
	memset(z, 0, 32);
	memcpy(z, "LOBJ", 4);
	le(z + 4, 16, 2);
	le(z + 6, 1, 2);
	le(z + 8, 32 + zn, 4);
	le(z + 12, 10, 4);   /* LOG_CONTAINER */
	le(z + 16, 2, 2);    /* zlib */
	le(z + 24, o->n, 4);
	memset(z + 32 + zn, 0, 4);
	fwrite(z, 1, 32 + zn + (32 + zn) % 4, x->out);
	o->uncompressed += 32 + o->n;
	o->n = 0;
	free(z);
}

static void blf_header(struct exporter *x, const struct frame *first)
{
	/* Room for the header, written at the end with the counts. */
	static const uint8_t zero[144];

	fwrite(zero, 1, sizeof(zero), x->out);
	/* The start to the millisecond, so that times from it are exact. */
	if (first)
		x->blf->start_ns = first->t_ns / 1000000u * 1000000u;
}

static void blf_frame(struct exporter *x, const struct bundle_frame *bf)
{
	struct blf_out *o = x->blf;
	const struct frame *f = bf->f;
	uint8_t *p = o->buf + o->n;
	unsigned ch = (unsigned)channel(x, bf->ifname);
	uint32_t id = f->id | (f->ext ? 0x80000000u : 0);
	unsigned flags = (f->dir == FRAME_DIR_TX ? 1 : 0) | (f->rtr ? 0x80 : 0);
	size_t body;

	memset(p, 0, 32 + 84 + 4);
	if (f->err) {
		body = 32;               /* CAN_ERROR_EXT */
		le(p + 12, 73, 4);
		le(p + 32, ch, 2);
		le(p + 32 + 10, CAN_ERR_DLC, 1);
		le(p + 32 + 16, id, 4);
	} else if (f->fd) {
		body = 84;               /* CAN_FD_MESSAGE */
		le(p + 12, 100, 4);
		le(p + 32, ch, 2);
		le(p + 34, flags, 1);
		le(p + 35, fd_len2dlc(f->len), 1);
		le(p + 36, id, 4);
		le(p + 45, 1 | (f->fd_flags & CANFD_BRS ? 2 : 0) |
				   (f->fd_flags & CANFD_ESI ? 4 : 0), 1);
		le(p + 46, f->len, 1);
		memcpy(p + 52, f->data, f->len);
	} else {
		body = 16;               /* CAN_MESSAGE */
		le(p + 12, 1, 4);
		le(p + 32, ch, 2);
		le(p + 34, flags, 1);
		le(p + 35, f->raw_dlc ? f->raw_dlc : f->len, 1);
		le(p + 36, id, 4);
		if (!f->rtr)
			memcpy(p + 40, f->data, f->len);
	}
	memcpy(p, "LOBJ", 4);
	le(p + 4, 32, 2);
	le(p + 6, 1, 2);
	le(p + 8, 32 + body, 4);
	le(p + 16, 2, 4);          /* times in ns */
	le(p + 24, f->t_ns > o->start_ns ? f->t_ns - o->start_ns : 0, 8);
	o->n += 32 + body + body % 4;
	o->objects++;
	o->stop_ns = f->t_ns;
	if (o->n >= BLF_CONTAINER)
		blf_flush(x);
}

static void blf_footer(struct exporter *x)
{
	long size;

	blf_flush(x);
	size = ftell(x->out);
	if (size < 0 || fseek(x->out, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cangate export: BLF header: %s\n",
			strerror(errno));
		x->rc = 2;
		return;
	}
	blf_file_header(x, (uint64_t)size);
}

/*
 * The formats: one entry each. header runs once, before the first frame (or
 * at the end with NULL when there is none); footer after the last.
 */
static const struct export_format {
	const char *name, *option;
	bool needs_config; /* decodes with the bundle's DBCs */
	bool seekable;     /* writes its header last */
	void (*header)(struct exporter *x, const struct frame *first);
	void (*frame)(struct exporter *x, const struct bundle_frame *bf);
	void (*footer)(struct exporter *x);
} formats[] = {
	{"asc", "--asc", false, false, asc_header, asc_frame, NULL},
	{"csv", "--csv", true, false, csv_header, csv_frame, NULL},
	{"wide", "--wide", true, false, wide_header, wide_frame, wide_footer},
	{"blf", "--blf", false, true, blf_header, blf_frame, blf_footer},
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static int export_frame(void *ctx, const struct bundle_frame *bf)
{
	struct exporter *x = ctx;

	if (!x->started && !x->wide.counting) {
		x->started = true;
		x->t0 = bf->f->t_ns;
		x->fmt->header(x, bf->f);
	}
	x->fmt->frame(x, bf);
	return 0;
}

static void export_bad_line(void *ctx, const char *msg)
{
	struct exporter *x = ctx;

	fprintf(stderr, "%s\n", msg);
	x->rc = 1;
}

static void export_usage(void)
{
	fprintf(stderr, "usage: cangate export BUNDLE ");
	for (size_t i = 0; i < N_FORMATS; i++)
		fprintf(stderr, "%s%s", i ? "|" : "", formats[i].option);
	fprintf(stderr, " [--choices] [--step MS] [-o FILE]\n"
			"  --choices  value names instead of numbers (--csv, --wide)\n"
			"  --step MS  row spacing of --wide (default 100)\n"
			"  -o FILE    write to FILE instead of standard output\n");
}

/* "100" or "0.5" milliseconds to ns (at least 1 us). */
static int export_parse_step(const char *s, uint64_t *ns)
{
	char *end;
	double ms;

	errno = 0;
	ms = strtod(s, &end);
	if (errno || end == s || *end || !(ms >= 0.001 && ms <= 3.6e6))
		return -1;
	*ns = (uint64_t)(ms * 1e6 + 0.5);
	return 0;
}

static void export_free(struct exporter *x)
{
	for (size_t b = 0; x->wide.col && x->cfg && b < x->cfg->n_buses; b++) {
		for (size_t d = 0; x->wide.col[b] &&
				   d < x->cfg->buses[b].n_dbc_paths; d++) {
			for (size_t m = 0; x->wide.col[b][d] &&
					   m < x->cfg->buses[b].dbcs[d]->n_messages;
			     m++)
				free(x->wide.col[b][d][m]);
			free(x->wide.col[b][d]);
		}
		free(x->wide.col[b]);
	}
	free(x->wide.col);
	free(x->wide.cols);
	free(x->blf);
	if (x->cfg)
		config_free(x->cfg);
	free(x);
}

int cmd_export(int argc, char **argv)
{
	struct exporter *x = NULL;
	const struct export_format *fmt = NULL;
	const char *dir = NULL, *outpath = NULL;
	int rc = 0;
	char err[512];
	bool choices = false;
	uint64_t step_ns = 0;

	for (int i = 1; i < argc; i++) {
		const struct export_format *m = NULL;
		for (size_t k = 0; k < N_FORMATS; k++)
			if (!strcmp(argv[i], formats[k].option))
				m = &formats[k];
		if (m) {
			if (fmt && fmt != m) {
				const struct export_format *a = fmt < m ? fmt : m;
				fprintf(stderr, "cangate export: %s or %s, not both\n",
					a->option, (a == fmt ? m : fmt)->option);
				goto usage;
			}
			fmt = m;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			outpath = argv[++i];
		} else if (!strcmp(argv[i], "--choices")) {
			choices = true;
		} else if (!strcmp(argv[i], "--step")) {
			if (i + 1 >= argc ||
			    export_parse_step(argv[++i], &step_ns) < 0) {
				fprintf(stderr, "cangate export: --step needs "
						"milliseconds (e.g. 100 or 0.5)\n");
				goto usage;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "cangate export: unknown option '%s'\n", argv[i]);
			goto usage;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, "cangate export: one bundle at a time\n");
			goto usage;
		}
	}
	if (!dir || !fmt)
		goto usage;
	if (choices && !fmt->needs_config) {
		fprintf(stderr, "cangate export: --choices goes with --csv or "
				"--wide\n");
		goto usage;
	}
	if (step_ns && fmt->frame != wide_frame) {
		fprintf(stderr, "cangate export: --step goes with --wide\n");
		goto usage;
	}
	x = calloc(1, sizeof(*x));
	if (!x || (fmt->frame == blf_frame &&
		   !(x->blf = calloc(1, sizeof(*x->blf))))) {
		fprintf(stderr, "cangate export: out of memory\n");
		free(x);
		return 2;
	}
	x->fmt = fmt;
	x->choices = choices;
	x->wide.step_ns = step_ns ? step_ns : 100000000u;
	/* The config gives channel order (ASC) and DBCs (CSV). */
	x->cfg = report_bundle_config(dir, NULL, err, sizeof(err));
	if (!x->cfg && fmt->needs_config) {
		fprintf(stderr, "cangate export: %s: %s\n", dir, err);
		export_free(x);
		return 2;
	}
	for (size_t b = 0; x->cfg && b < x->cfg->n_buses; b++)
		if (x->cfg->buses[b].interface)
			channel(x, x->cfg->buses[b].interface);
	/* before -o creates its file */
	char first[64];
	bundle_segment_name(0, first, sizeof(first));
	char p0[4096];
	snprintf(p0, sizeof(p0), "%s/%s", dir, first);
	char perr[4200];
	FILE *probe = bundle_open_stream(p0, O_NOFOLLOW, perr, sizeof(perr));
	if (!probe) {
		fprintf(stderr, "cangate export: %s\n", perr);
		rc = 2;
		goto out;
	}
	fclose(probe);
	x->out = stdout;
	if (outpath) {
		x->out = fopen(outpath, "w");
		if (!x->out) {
			fprintf(stderr, "cangate export: %s: cannot create\n", outpath);
			rc = 2;
			goto out;
		}
	}
	if (fmt->seekable && fseek(x->out, 0, SEEK_CUR) != 0) {
		fprintf(stderr, "cangate export: %s writes its header last: "
				"give a file (-o FILE or > FILE), not a pipe\n",
			fmt->option);
		rc = 2;
		goto out;
	}
	struct bundle_frames_cb cb = {export_frame, export_bad_line, x};
	if (fmt->frame == wide_frame) {
		/* A first walk finds the columns. */
		x->wide.col = calloc(x->cfg->n_buses, sizeof(*x->wide.col));
		x->wide.counting = true;
		if (!x->wide.col ||
		    bundle_frames_foreach(dir, &cb, err, sizeof(err)) < 0 ||
		    x->rc == 2 || wide_columns(x) < 0) {
			fprintf(stderr, "cangate export: %s\n",
				x->wide.col && x->rc != 2 ? err : "out of memory");
			rc = 2;
			goto out;
		}
		x->wide.counting = false;
		x->rc = 0;
	}
	if (bundle_frames_foreach(dir, &cb, err, sizeof(err)) < 0) {
		fprintf(stderr, "cangate export: %s\n", err);
		rc = 2;
	} else {
		rc = x->rc;
		if (!x->started)
			fmt->header(x, NULL);
		if (fmt->footer)
			fmt->footer(x);
	}
	if (x->rc == 2)
		rc = 2;
	if (x->out != stdout ? fclose(x->out) != 0 : fflush(stdout) != 0) {
		fprintf(stderr, "cangate export: write error\n");
		rc = 2;
	}
	x->out = NULL;
out:
	if (x->out && x->out != stdout)
		fclose(x->out);
	export_free(x);
	return rc;
usage:
	export_usage();
	return 2;
}
