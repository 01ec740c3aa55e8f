/*
 * cmd_check.c: `cangate check -c CONFIG [--out DIR] [--bus IFACE=BUS]
 * LOG...`
 *
 * Offline rule evaluation of recorded logs (candump -l, Vector ASC or BLF,
 * told apart by content: logread.h): the same engine the daemon runs, fed
 * from files. Each frame goes to the bus --bus maps its interface (or
 * ASC/BLF channel number) to, else to the bus whose interface name is in its
 * interface column (for a replay bus, the bus name, which is what the daemon
 * logs), or else to the replay bus whose log is this file. Frames marked
 * 'T' (Tx: the gateway's own transmissions) are not fed to rules.
 * [output] translation runs as in the daemon: every line moves its clock,
 * received frames feed it, and the frames it makes replace the log's T
 * lines of its outputs (with --out they are written to the new bundle, so
 * a bundle's translated frames are reproduced byte for byte).
 * Line numbers count every line (BLF: object) across the logs in order, like
 * the segments of one frames.log; with --out they are the lines of the new
 * bundle's frames.log instead, so violations point into the bundle, where a
 * mapped frame is written with its bus's interface name, as live.
 *
 * stdout: violations.jsonl lines. stderr: malformed lines as FILE:LINE: msg,
 * the count of lines that are not frames (logscan.h), then the verdict
 * table. Exit 0 all PASS or NOT_EXERCISED, 1 any FAIL or
 * INCONCLUSIVE, 2 usage or input error (also when any line was malformed;
 * the rest are still checked).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/logscan.h"
#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"
#include "daemon/core/report.h"
#include "daemon/core/logread.h"
#include "daemon/core/rules.h"
#include "daemon/core/translate.h"

#define CHECK_UNKNOWN_IF_MAX 8
#define CHECK_MAP_MAX 64

struct check_map {
	char ifname[FRAME_IFNAME_MAX];
	const char *bus;
	int index;
};

struct check {
	struct config *cfg;
	struct rules *rules;
	struct translate *tr;
	struct evidence *ev;
	const char *out_dir;
	uint64_t line;          /* lines read, across logs */
	uint64_t frames;        /* frames fed to the rules */
	uint64_t bad;           /* malformed or unmappable lines */
	uint64_t translated;    /* frames translation made */
	uint64_t last_t;
	bool have_t;
	bool write_error;
	char unknown_if[CHECK_UNKNOWN_IF_MAX][FRAME_IFNAME_MAX];
	int n_unknown_if;
	struct check_map map[CHECK_MAP_MAX]; /* --bus */
	int n_map;
};

static void check_usage(void)
{
	fprintf(stderr,
		"usage: cangate check -c CONFIG [--out DIR] [--end SECONDS]\n"
		"                     [--bus IFACE=BUS]... LOG...\n"
		"  evaluates the config's rules over logs (candump -l, Vector ASC\n"
		"  or BLF); violations as JSON lines on stdout, verdicts on stderr;\n"
		"  --out DIR also writes an evidence bundle under DIR\n"
		"  --bus IFACE=BUS  frames of interface (or ASC/BLF channel) IFACE\n"
		"                 are the config's bus BUS\n"
		"  --end SECONDS  the session ended then (default: the last frame);\n"
		"                 give a bundle's manifest end to re-check it exactly\n");
}

static void check_violation_end(void *ctx, const char *rule,
				const char *json)
{
	struct check *c = ctx;

	(void)rule;
	if (fputs(json, stdout) == EOF || putchar('\n') == EOF)
		c->write_error = true;
	if (c->ev)
		evidence_violation(c->ev, json);
}

/* Engine events (a bus going silent) go where the daemon puts them. */
static void check_event(void *ctx, uint64_t t_ns, const char *type,
			const char *fields_json)
{
	struct check *c = ctx;

	if (c->ev)
		evidence_event(c->ev, t_ns, type, fields_json);
}

static int check_open_evidence(struct check *c, uint64_t t);

static void check_translated(void *ctx, int bus, const struct frame *f,
			     size_t output)
{
	struct check *c = ctx;

	(void)output;
	c->translated++;
	if (!c->out_dir || (!c->ev && check_open_evidence(c, f->t_ns) < 0))
		return;
	if (!evidence_frame(c->ev, f, c->cfg->buses[bus].interface))
		c->bad++; /* evidence_frame() keeps the reason for the close */
}

/* The bus for a frame: as --bus maps it (*mapped set), by interface name,
 * else the replay bus that reads this very log. -1 when none. */
static int check_bus(const struct check *c, const char *ifname,
		     const char *log_real, bool *mapped)
{
	int bus;

	*mapped = false;
	for (int i = 0; i < c->n_map; i++)
		if (strcmp(c->map[i].ifname, ifname) == 0) {
			*mapped = true;
			return c->map[i].index;
		}
	bus = config_bus_by_interface(c->cfg, ifname);

	if (bus >= 0 || !log_real)
		return bus;
	for (size_t i = 0; i < c->cfg->n_buses; i++) {
		const struct config_bus *b = &c->cfg->buses[i];
		char real[PATH_MAX];

		if (b->kind == BUS_REPLAY && b->replay_path &&
		    realpath(b->replay_path, real) &&
		    strcmp(real, log_real) == 0)
			return (int)i;
	}
	return -1;
}

static int check_open_evidence(struct check *c, uint64_t t)
{
	char errmsg[512];

	c->ev = evidence_open(c->cfg, NULL, t, errmsg, sizeof(errmsg));
	if (!c->ev) {
		fprintf(stderr, "cangate check: --out %s: %s\n", c->out_dir,
			errmsg);
		return -1;
	}
	return 0;
}

static void check_unknown_if(struct check *c, const char *where,
			     const char *ifname)
{
	for (int i = 0; i < c->n_unknown_if; i++)
		if (strcmp(c->unknown_if[i], ifname) == 0)
			return; /* counted, said once */
	if (c->n_unknown_if < CHECK_UNKNOWN_IF_MAX) {
		snprintf(c->unknown_if[c->n_unknown_if++], FRAME_IFNAME_MAX,
			 "%s", ifname);
		fprintf(stderr,
			"%s: interface '%s' is not a bus of %s "
			"(its frames are not checked; map it with --bus "
			"%s=BUS)\n",
			where, ifname, c->cfg->path, ifname);
	}
}

/* Returns 0, or -1 on a read or evidence error that stops the check. */
static int check_file(struct check *c, const char *path)
{
	char log_real[PATH_MAX], *real = NULL, err[256], where[PATH_MAX + 32];
	struct logread *r = logread_open(path, err, sizeof(err));
	struct logread_rec rec;
	uint64_t base = c->line, file_frames = 0;
	struct logscan scan = { 0 };
	bool warned_back = false;
	int rc = 0, lr;

	if (!r) {
		fprintf(stderr, "cangate check: %s\n", err);
		return -1;
	}
	if (strcmp(path, "-") && realpath(path, log_real))
		real = log_real;
	while ((lr = logread_next(r, &rec, err, sizeof(err))) != LOGREAD_END) {
		const struct frame *f = &rec.f;
		const char *ifname = rec.ifname;
		uint64_t line;
		bool mapped;
		int bus;

		c->line = base + rec.pos;
		if (lr == LOGREAD_FATAL) {
			fprintf(stderr, "cangate check: %s: %s\n",
				logread_where(r, where, sizeof(where)), err);
			rc = -1;
			break;
		}
		if (lr == LOGREAD_BAD) {
			fprintf(stderr, "%s: %s\n",
				logread_where(r, where, sizeof(where)), err);
			c->bad++;
			continue;
		}
		if (lr == LOGREAD_OTHER) {
			size_t len;
			const char *text = logread_line(r, &len);

			logscan_skipped(&scan, rec.pos, text, len);
			continue;
		}
		file_frames++;
		bus = check_bus(c, ifname, real, &mapped);
		if (bus < 0) {
			check_unknown_if(c, logread_where(r, where,
							  sizeof(where)),
					 ifname);
			c->bad++;
			continue;
		}
		/* A mapped frame is logged as the daemon logs its bus. */
		if (mapped)
			ifname = c->cfg->buses[bus].interface;
		line = c->line;
		if (f->dir == FRAME_DIR_TX &&
		    translate_is_output(c->tr, bus, f)) {
			translate_tick(c->tr, f->t_ns); /* made again here */
			continue;
		}
		if (c->out_dir) {
			if (!c->ev && check_open_evidence(c, f->t_ns) < 0) {
				rc = -1;
				break;
			}
			line = evidence_frame(c->ev, f, ifname);
			if (line == 0) {
				struct evidence_status st;

				evidence_get_status(c->ev, &st);
				fprintf(stderr,
					"cangate check: evidence stopped: %s\n",
					st.error);
				rc = -1;
				break;
			}
		}
		if (c->have_t && f->t_ns < c->last_t && !warned_back) {
			/* the engine takes time as monotonic: say so once */
			fprintf(stderr,
				"%s: warning: time goes back %.6f s; "
				"such frames are checked at the latest time\n",
				logread_where(r, where, sizeof(where)),
				(double)(c->last_t - f->t_ns) / 1e9);
			warned_back = true;
		}
		if (!c->have_t || f->t_ns > c->last_t)
			c->last_t = f->t_ns;
		c->have_t = true;
		if (f->dir == FRAME_DIR_TX) {
			translate_tick(c->tr, f->t_ns);
			continue;
		}
		translate_frame(c->tr, bus, f);
		rules_frame(c->rules, bus, f, line);
		c->frames++;
	}
	c->line = base + logread_pos(r);
	c->bad += scan.n_other;
	logscan_report(&scan, logread_name(r), file_frames, stderr);
	logread_free(r);
	return rc;
}

/* "IFACE=BUS" of --bus into c->map; the bus is looked up once the config
 * is loaded. */
static int check_add_map(struct check *c, char *arg)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg || !eq[1] ||
	    (size_t)(eq - arg) >= FRAME_IFNAME_MAX) {
		fprintf(stderr, "cangate check: --bus needs IFACE=BUS\n");
		return -1;
	}
	if (c->n_map == CHECK_MAP_MAX) {
		fprintf(stderr, "cangate check: more than %d --bus\n",
			CHECK_MAP_MAX);
		return -1;
	}
	memcpy(c->map[c->n_map].ifname, arg, (size_t)(eq - arg));
	c->map[c->n_map].ifname[eq - arg] = '\0';
	c->map[c->n_map++].bus = eq + 1;
	return 0;
}

int cmd_check(int argc, char **argv)
{
	uint64_t end_ns = 0;
	struct check c;
	struct config_error err;
	struct rules_sink sink = { .violation_end = check_violation_end,
				   .ctx = &c,
				   .event = check_event };
	struct translate_sink tsink = { check_translated, &c };
	const char *config_path = NULL;
	char **logs = calloc((size_t)argc + 1, sizeof(*logs));
	int n_logs = 0, rc = 2;
	bool opts = true, any_bad_verdict = false;
	char ebuf[600], broot[PATH_MAX], breal[PATH_MAX];

	memset(&c, 0, sizeof(c));
	if (!logs) {
		fprintf(stderr, "cangate check: out of memory\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = false;
		} else if (opts && (strcmp(a, "-c") == 0 ||
				    strcmp(a, "--config") == 0)) {
			if (++i >= argc) {
				fprintf(stderr, "cangate check: %s needs CONFIG\n", a);
				goto usage;
			}
			config_path = argv[i];
		} else if (opts && strncmp(a, "--config=", 9) == 0) {
			config_path = a + 9;
		} else if (opts && strcmp(a, "--out") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "cangate check: --out needs DIR\n");
				goto usage;
			}
			c.out_dir = argv[i];
		} else if (opts && strncmp(a, "--out=", 6) == 0) {
			c.out_dir = a + 6;
		} else if (opts && (strcmp(a, "--bus") == 0 ||
				    strncmp(a, "--bus=", 6) == 0)) {
			char *v = a[5] == '=' ? argv[i] + 6 :
				  i + 1 < argc ? argv[++i] : NULL;

			if (!v || check_add_map(&c, v) < 0) {
				if (!v)
					fprintf(stderr, "cangate check: --bus "
							"needs IFACE=BUS\n");
				goto usage;
			}
		} else if (opts && strcmp(a, "--end") == 0) {
			if (++i >= argc ||
			    frame_parse_time(argv[i], strlen(argv[i]), true,
					     &end_ns, NULL, 0) < 0) {
				fprintf(stderr, "cangate check: --end needs "
						"SECONDS.FRACTION since the epoch\n");
				goto usage;
			}
		} else if (opts && (strcmp(a, "-h") == 0 ||
				    strcmp(a, "--help") == 0)) {
			check_usage();
			free(logs);
			return 0;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "cangate check: unknown option '%s'\n", a);
			goto usage;
		} else {
			logs[n_logs++] = argv[i];
		}
	}
	if (!config_path) {
		fprintf(stderr, "cangate check: no config (-c CONFIG)\n");
		goto usage;
	}
	if (n_logs == 0) {
		fprintf(stderr, "cangate check: no log given\n");
		goto usage;
	}
	if (c.out_dir && !c.out_dir[0]) {
		fprintf(stderr, "cangate check: --out needs DIR\n");
		goto usage;
	}

	if (bundle_root_of(config_path, broot, sizeof(broot), breal,
			   sizeof(breal))) {
		/* re-checking a bundle: its copies, not the live files its
		 * config names */
		c.cfg = report_bundle_config(broot, breal, ebuf, sizeof(ebuf));
		if (!c.cfg) {
			fprintf(stderr, "%s\n", ebuf);
			goto out;
		}
	} else {
		c.cfg = config_load(config_path, &err);
		if (!c.cfg || config_load_dbcs(c.cfg, &err) < 0) {
			config_error_format(&err, ebuf, sizeof(ebuf));
			fprintf(stderr, "%s\n", ebuf);
			goto out;
		}
	}
	for (int i = 0; i < c.n_map; i++) {
		c.map[i].index = config_bus_index(c.cfg, c.map[i].bus);
		if (c.map[i].index < 0) {
			fprintf(stderr, "cangate check: --bus %s=%s: %s has no "
					"bus '%s'\n", c.map[i].ifname,
				c.map[i].bus, config_path, c.map[i].bus);
			goto usage;
		}
	}
	if (c.out_dir) {
		char *d = strdup(c.out_dir);

		if (!d) {
			fprintf(stderr, "cangate check: out of memory\n");
			goto out;
		}
		free(c.cfg->evidence.dir);
		c.cfg->evidence.dir = d;
	}
	c.rules = rules_compile(c.cfg, &sink, &err);
	if (!c.rules) {
		config_error_format(&err, ebuf, sizeof(ebuf));
		fprintf(stderr, "%s\n", ebuf);
		goto out;
	}
	c.tr = translate_compile(c.cfg, &tsink, &err);
	if (!c.tr) {
		config_error_format(&err, ebuf, sizeof(ebuf));
		fprintf(stderr, "%s\n", ebuf);
		goto out;
	}
	for (int i = 0; i < n_logs; i++)
		if (check_file(&c, logs[i]) < 0) {
			c.bad++;
			if (c.out_dir && !c.ev)
				goto out; /* no bundle: nothing more to do */
			break;
		}
	if (c.out_dir && !c.ev && check_open_evidence(&c, 0) < 0)
		goto out;
	/* A live session ends when it is stopped, which may be after the last
	 * frame (key off, then stop): --end gives that time (the manifest's
	 * end) so deadlines expire here exactly as they did live. */
	if (end_ns > c.last_t)
		c.last_t = end_ns;
	rules_finish(c.rules, c.last_t);
	if (fflush(stdout) == EOF)
		c.write_error = true;
	if (c.ev) {
		char *verdicts = rules_verdicts_json(c.rules);
		char errmsg[512];
		struct evidence_status st;

		evidence_get_status(c.ev, &st);
		if (!verdicts ||
		    evidence_close(c.ev, c.last_t, verdicts, errmsg,
				   sizeof(errmsg)) < 0) {
			fprintf(stderr, "cangate check: closing the bundle: %s\n",
				verdicts ? errmsg : "out of memory");
			c.bad++;
		} else {
			fprintf(stderr, "evidence bundle: %s\n", st.dir);
		}
		c.ev = NULL;
		free(verdicts);
	}
	fprintf(stderr, "%" PRIu64 " frames checked, %" PRIu64
		" lines read from %d log%s",
		c.frames, c.line, n_logs, n_logs == 1 ? "" : "s");
	if (c.bad)
		fprintf(stderr, ", %" PRIu64 " bad", c.bad);
	if (translate_count(c.tr))
		fprintf(stderr, ", %" PRIu64 " frames translated", c.translated);
	fputc('\n', stderr);
	rules_print_table(c.rules, stderr);
	for (size_t i = 0; i < rules_count(c.rules); i++) {
		enum rules_verdict v = rules_verdict(c.rules, i);

		if (v == VERDICT_FAIL || v == VERDICT_INCONCLUSIVE)
			any_bad_verdict = true;
	}
	if (c.write_error) {
		fprintf(stderr, "cangate check: write error on stdout\n");
		rc = 2;
	} else if (c.bad) {
		rc = 2;
	} else {
		rc = any_bad_verdict ? 1 : 0;
	}
	goto out;
usage:
	check_usage();
	rc = 2;
out:
	if (c.ev) {
		char errmsg[256];

		evidence_close(c.ev, c.last_t, NULL, errmsg, sizeof(errmsg));
	}
	rules_free(c.rules);
	translate_free(c.tr);
	config_free(c.cfg);
	free(logs);
	return rc;
}
