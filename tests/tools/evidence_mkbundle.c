/*
 * evidence_mkbundle: record a candump log into an evidence bundle the way the
 * daemon does (every frame logged, received frames through the rules engine,
 * violations and verdicts into the bundle), for tests/cli/test_evidence.sh.
 *
 *   evidence_mkbundle CONFIG OUTDIR LOG   -> prints the bundle directory
 *
 * Built by the test script against build/libcore.a and build/libdbc.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"
#include "daemon/core/rules.h"

static void on_end(void *ctx, const char *rule, const char *json)
{
	(void)rule;
	evidence_violation(ctx, json);
}

static void on_start(void *ctx, const char *rule, const char *json)
{
	(void)ctx;
	(void)rule;
	(void)json;
}

int main(int argc, char **argv)
{
	struct config_error ce;
	char err[512], line[1024], ifname[FRAME_IFNAME_MAX], buf[512];
	struct frame f;
	FILE *fp;

	if (argc != 4) {
		fprintf(stderr, "usage: evidence_mkbundle CONFIG OUTDIR LOG\n");
		return 2;
	}
	struct config *cfg = config_load(argv[1], &ce);
	if (!cfg || config_load_dbcs(cfg, &ce) < 0) {
		config_error_format(&ce, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return 2;
	}
	free(cfg->evidence.dir);
	cfg->evidence.dir = strdup(argv[2]);
	fp = fopen(argv[3], "r");
	if (!fp || !fgets(line, sizeof(line), fp) ||
	    frame_parse_line(line, strlen(line), &f, ifname, err, sizeof(err))) {
		fprintf(stderr, "%s: no first frame\n", argv[3]);
		return 2;
	}
	rewind(fp);
	struct evidence *ev = evidence_open(cfg, NULL, f.t_ns, err, sizeof(err));
	if (!ev) {
		fprintf(stderr, "evidence_open: %s\n", err);
		return 2;
	}
	struct rules_sink sink = {.violation_start = on_start,
				  .violation_end = on_end, .ctx = ev};
	struct rules *r = rules_compile(cfg, &sink, &ce);
	if (!r) {
		config_error_format(&ce, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return 2;
	}
	uint64_t last = f.t_ns;
	for (unsigned long ln = 1; fgets(line, sizeof(line), fp); ln++) {
		int pr = frame_parse_line(line, strlen(line), &f, ifname, err,
					  sizeof(err));
		if (pr == FRAME_PARSE_SKIP)
			continue;
		if (pr) {
			fprintf(stderr, "%s:%lu: %s\n", argv[3], ln, err);
			return 2;
		}
		if (f.dir == FRAME_DIR_NONE)
			f.dir = FRAME_DIR_RX;
		int bus = config_bus_by_interface(cfg, ifname);
		rules_tick(r, f.t_ns);
		evidence_tick(ev, f.t_ns);
		uint64_t l = evidence_frame(ev, &f, ifname);
		if (bus >= 0 && f.dir == FRAME_DIR_RX)
			rules_frame(r, bus, &f, l);
		last = f.t_ns;
	}
	fclose(fp);
	rules_finish(r, last);
	char *verdicts = rules_verdicts_json(r);
	struct evidence_status st;
	evidence_get_status(ev, &st);
	if (evidence_close(ev, last, verdicts, err, sizeof(err)) < 0) {
		fprintf(stderr, "evidence_close: %s\n", err);
		return 1;
	}
	printf("%s\n", st.dir);
	free(verdicts);
	rules_free(r);
	config_free(cfg);
	return 0;
}
