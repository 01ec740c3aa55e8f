/*
 * cmd_export.c: `cangate export BUNDLE --asc|--csv [-o FILE]`.
 *
 * --asc: Vector ASC as can-utils' log2asc writes it (header "date ...",
 * "base hex  timestamps absolute"; times relative to the first frame;
 * channels numbered 1.. in the order of the bundle config's buses, then of
 * first appearance; CAN FD frames as "CANFD" lines).
 * --csv: every decoded signal, "t,bus,message,signal,value,unit", decoded
 * with the DBCs in the bundle's config/ (multiplexed signals only when
 * active). Frames of all segments, in line order.
 * A format is one entry in formats[] below; bundle_frames_foreach() walks the
 * frames for all of them.
 * Exit 0, 1 when frames.log holds lines that do not parse (each named with
 * its file:line on stderr), 2 usage or unreadable bundle.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/core/bundle.h"
#include "daemon/cli/commands.h"
#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/report.h"
#include "dbc/dbc.h"

#define MAX_CHANNELS 64

struct exporter;

struct exporter {
	FILE *out;
	const struct export_format *fmt;
	bool started;
	int rc;
	uint64_t t0;
	struct config *cfg;
	char chan[MAX_CHANNELS][FRAME_IFNAME_MAX];
	size_t n_chan;
	struct dbc_decoded dec[512];
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
	s = (time_t)(first->t_ns / 1000000000u);
	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%a %b %d %H:%M:%S %Y", &tm);
	fprintf(x->out, "date %s\nbase hex  timestamps absolute\nno internal events logged\n",
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

static void csv_frame(struct exporter *x, const struct bundle_frame *bf)
{
	const struct frame *f = bf->f;
	const char *ifname = bf->ifname;
	int b = config_bus_by_interface(x->cfg, ifname);
	const struct dbc_message *m = NULL;

	if (b < 0 || f->err || f->rtr)
		return;
	const struct config_bus *bus = &x->cfg->buses[b];
	for (size_t i = 0; !m && bus->dbcs && i < bus->n_dbc_paths; i++)
		if (bus->dbcs[i])
			m = dbc_lookup(bus->dbcs[i], f->id, f->ext);
	if (!m)
		return;
	size_t n = dbc_decode(m, f->data, f->len, x->dec,
			      sizeof(x->dec) / sizeof(x->dec[0]), NULL);
	for (size_t i = 0; i < n; i++) {
		char v[JSON_DOUBLE_MAX];
		json_format_double(x->dec[i].phys, v);
		fwrite(bf->time, 1, bf->time_len, x->out);
		fputc(',', x->out);
		csv_field(x->out, bus->name);
		fputc(',', x->out);
		csv_field(x->out, m->name);
		fputc(',', x->out);
		csv_field(x->out, x->dec[i].sig->name);
		fprintf(x->out, ",%s,", v);
		csv_field(x->out, x->dec[i].sig->unit ? x->dec[i].sig->unit : "");
		fputc('\n', x->out);
	}
}

/*
 * The formats: one entry each. header runs once, before the first frame (or
 * at the end with NULL when there is none); footer after the last.
 */
static const struct export_format {
	const char *name, *option;
	bool needs_config; /* decodes with the bundle's DBCs */
	void (*header)(struct exporter *x, const struct frame *first);
	void (*frame)(struct exporter *x, const struct bundle_frame *bf);
	void (*footer)(struct exporter *x);
} formats[] = {
	{"asc", "--asc", false, asc_header, asc_frame, NULL},
	{"csv", "--csv", true, csv_header, csv_frame, NULL},
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static int export_frame(void *ctx, const struct bundle_frame *bf)
{
	struct exporter *x = ctx;

	if (!x->started) {
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
	fprintf(stderr, " [-o FILE]\n");
}

int cmd_export(int argc, char **argv)
{
	struct exporter *x = NULL;
	const struct export_format *fmt = NULL;
	const char *dir = NULL, *outpath = NULL;
	int rc = 0;
	char err[512];

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
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "cangate export: out of memory\n");
		return 2;
	}
	x->fmt = fmt;
	/* The config gives channel order (ASC) and DBCs (CSV). */
	x->cfg = report_bundle_config(dir, NULL, err, sizeof(err));
	if (!x->cfg && fmt->needs_config) {
		fprintf(stderr, "cangate export: %s: %s\n", dir, err);
		free(x);
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
	struct bundle_frames_cb cb = {export_frame, export_bad_line, x};
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
	if (x->out != stdout ? fclose(x->out) != 0 : fflush(stdout) != 0) {
		fprintf(stderr, "cangate export: write error\n");
		rc = 2;
	}
out:
	if (x->cfg)
		config_free(x->cfg);
	free(x);
	return rc;
usage:
	export_usage();
	return 2;
}
