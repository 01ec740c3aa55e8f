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
 * Exit 0, 1 when frames.log holds lines that do not parse (each named with
 * its file:line on stderr), 2 usage or unreadable bundle.
 */
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

struct exporter {
	FILE *out;
	bool asc, started;
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

static void asc_header(struct exporter *x, uint64_t t_ns)
{
	time_t s = (time_t)(t_ns / 1000000000u);
	struct tm tm;
	char date[64];

	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%a %b %d %H:%M:%S %Y", &tm);
	fprintf(x->out, "date %s\nbase hex  timestamps absolute\nno internal events logged\n",
		date);
}

static void asc_frame(struct exporter *x, const struct frame *f,
		      const char *ifname)
{
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

static void csv_frame(struct exporter *x, const struct frame *f,
		      const char *ifname, const char *tstr)
{
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
		fputs(tstr, x->out);
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

int cmd_export(int argc, char **argv)
{
	struct exporter *x = NULL;
	const char *dir = NULL, *outpath = NULL;
	int mode = 0, rc = 0;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--asc") || !strcmp(argv[i], "--csv")) {
			int m = argv[i][2] == 'a' ? 1 : 2;
			if (mode && mode != m) {
				fprintf(stderr, "cangate export: --asc or --csv, not both\n");
				goto usage;
			}
			mode = m;
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
	if (!dir || !mode)
		goto usage;
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "cangate export: out of memory\n");
		return 2;
	}
	x->asc = mode == 1;
	/* The config gives channel order (ASC) and DBCs (CSV). */
	x->cfg = report_bundle_config(dir, err, sizeof(err));
	if (!x->cfg && !x->asc) {
		fprintf(stderr, "cangate export: %s: %s\n", dir, err);
		free(x);
		return 2;
	}
	for (size_t b = 0; x->cfg && b < x->cfg->n_buses; b++)
		if (x->cfg->buses[b].interface)
			channel(x, x->cfg->buses[b].interface);
	char first[64];
	bundle_segment_name(0, first, sizeof(first));
	char p0[4096];
	snprintf(p0, sizeof(p0), "%s/%s", dir, first);
	FILE *probe = fopen(p0, "r");
	if (!probe) {
		fprintf(stderr, "cangate export: %s: cannot open\n", p0);
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
	if (!x->asc)
		fputs("t,bus,message,signal,value,unit\n", x->out);
	for (unsigned seg = 0; seg < 10000; seg++) {
		char name[64], path[4096], line[1024], ifname[FRAME_IFNAME_MAX];
		bundle_segment_name(seg, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		FILE *fp = fopen(path, "r");
		if (!fp)
			break;
		for (unsigned long ln = 1; fgets(line, sizeof(line), fp); ln++) {
			struct frame f;
			size_t len = strlen(line);
			int pr = frame_parse_line(line, len, &f, ifname, err,
						  sizeof(err));
			if (pr == FRAME_PARSE_SKIP)
				continue;
			if (pr != FRAME_PARSE_OK) {
				fprintf(stderr, "%s:%lu: %s\n", path, ln, err);
				rc = 1;
				continue;
			}
			if (!x->started) {
				x->started = true;
				x->t0 = f.t_ns;
				if (x->asc)
					asc_header(x, f.t_ns);
			}
			if (x->asc) {
				asc_frame(x, &f, ifname);
			} else {
				char *close = strchr(line, ')');
				if (close)
					*close = 0;
				csv_frame(x, &f, ifname, line + 1);
			}
		}
		fclose(fp);
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
	fprintf(stderr, "usage: cangate export BUNDLE --asc|--csv [-o FILE]\n");
	return 2;
}
