/*
 * cmd_report.c: `cangate report BUNDLE [-o FILE]`: the bundle's HTML report
 * (report.c), by default BUNDLE/report.html. For an untouched closed bundle
 * this rewrites the identical file the recorder hashed.
 * Exit 0 written, 1 written but the bundle does not verify, 2 usage or
 * unreadable bundle.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/bundle.h"
#include "daemon/commands.h"
#include "daemon/report.h"

int cmd_report(int argc, char **argv)
{
	const char *dir = NULL, *out = NULL;
	char path[4096], err[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "cangate report: unknown option '%s'\n",
				argv[i]);
			goto usage;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, "cangate report: one bundle at a time\n");
			goto usage;
		}
	}
	if (!dir)
		goto usage;
	if (!out) {
		if ((size_t)snprintf(path, sizeof(path), "%s/report.html", dir) >=
		    sizeof(path)) {
			fprintf(stderr, "cangate report: %s: path too long\n", dir);
			return 2;
		}
		out = path;
	}
	if (report_write(dir, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "cangate report: %s\n", err);
		return 2;
	}
	struct bundle_verify_opts o = {.ignore_report = true};
	struct bundle_verify_result r;
	int rc = bundle_verify(dir, &o, &r);
	if (rc) {
		fprintf(stderr, "cangate report: wrote %s; the bundle does NOT verify: %s\n",
			out, r.first_fail);
		return 1;
	}
	fprintf(stderr, "cangate report: wrote %s\n", out);
	return 0;
usage:
	fprintf(stderr, "usage: cangate report BUNDLE [-o FILE]\n");
	return 2;
}
