/*
 * cmd_report.c: `cangate report BUNDLE [-o FILE]`: the bundle's HTML report
 * (report.c), by default BUNDLE/report.html. For an untouched closed bundle
 * the recorder's report.html is hashed in the manifest: it is regenerated and
 * compared, never overwritten (use -o to write a fresh one elsewhere).
 * Exit 0 written, 1 written but the bundle does not verify, 2 usage or
 * unreadable bundle.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/core/bundle.h"
#include "daemon/cli/commands.h"
#include "daemon/core/report.h"

/* Does the manifest hash report.html (a closed session's own report)? */
static bool sealed(const char *dir)
{
	char path[4096], err[256];
	size_t len;
	bool yes = false;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	char *s = bundle_read_file(path, 64u << 20, &len, err, sizeof(err));
	struct bundle_json *m = s ? bundle_json_parse(s, len, err, sizeof(err)) :
				    NULL;
	yes = bundle_json_get(bundle_json_get(m, "files"), "report.html") != NULL;
	bundle_json_free(m);
	free(s);
	return yes;
}

/*
 * The sealed report is never overwritten: that would break the bundle's
 * verification whenever a newer cangate renders differently. Regenerate into
 * a temporary file and compare. Returns the exit code, or -1 to fall back to
 * writing in place (the temporary file could not be made).
 */
static int regenerate_sealed(const char *dir, const char *sealed_path)
{
	char tmp[] = "/tmp/cangate-report-XXXXXX", err[512];
	int fd = mkstemp(tmp);
	size_t la, lb;

	if (fd < 0)
		return -1;
	close(fd);
	if (report_write(dir, tmp, err, sizeof(err)) < 0) {
		unlink(tmp);
		fprintf(stderr, "cangate report: %s\n", err);
		return 2;
	}
	char *a = bundle_read_file(tmp, 1u << 30, &la, err, sizeof(err));
	char *b = bundle_read_file(sealed_path, 1u << 30, &lb, err, sizeof(err));
	bool same = a && b && la == lb && !memcmp(a, b, la);
	free(a);
	free(b);
	unlink(tmp);
	if (same) {
		fprintf(stderr, "cangate report: %s is up to date (identical to the sealed copy)\n",
			sealed_path);
		return 0;
	}
	fprintf(stderr,
		"cangate report: %s is sealed by the manifest and a regenerated report differs "
		"(edited, or another cangate version); not overwritten: use -o FILE\n",
		sealed_path);
	return 1;
}

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
		if (sealed(dir)) {
			int rc = regenerate_sealed(dir, path);
			if (rc >= 0)
				return rc;
		}
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
