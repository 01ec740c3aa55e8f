/*
 * cmd_report.c: `cangate report BUNDLE [--pdf] [-o FILE]`: the bundle's HTML
 * report (report.c), by default BUNDLE/report.html. For an untouched closed
 * bundle the recorder's report.html is hashed in the manifest: it is
 * regenerated and compared, never overwritten (use -o to write a fresh one
 * elsewhere). --pdf prints the report to PDF (A4, by its print stylesheet)
 * with headless Chromium, by default to ./BUNDLE-NAME.pdf; the bundle is
 * not touched.
 * Exit 0 written, 1 written but the bundle does not verify, 2 usage or
 * unreadable bundle, or no Chromium for --pdf.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/* Chromium's program: $CANGATE_CHROMIUM, else the first of the usual names
 * in PATH. */
static bool find_chromium(char *out, size_t size)
{
	static const char *const names[] = {"chromium", "chromium-browser",
					    "google-chrome",
					    "google-chrome-stable"};
	const char *env = getenv("CANGATE_CHROMIUM");
	const char *path = getenv("PATH");

	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK) == 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *p = path ? path : "/usr/bin:/bin";

		while (*p) {
			size_t n = strcspn(p, ":");

			snprintf(out, size, "%.*s/%s", (int)n, p, names[i]);
			if (n && access(out, X_OK) == 0)
				return true;
			p += n + (p[n] == ':');
		}
	}
	return false;
}

/* Run argv, its output to log; false when it fails or takes over 120 s. */
static bool run(char *const argv[], const char *log)
{
	pid_t pid = fork();
	int st = 0;

	if (pid < 0)
		return false;
	if (pid == 0) {
		FILE *fp = freopen(log, "w", stdout);

		if (fp)
			dup2(fileno(stdout), 2);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1200; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		struct timespec ts = {0, 100000000};

		if (w == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (w < 0)
			return false;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int report_pdf(const char *dir, const char *out)
{
	char chromium[4096], tmpdir[] = "/tmp/cangate-pdf-XXXXXX";
	char html[4200], log[4200], profile[4200], url[4300], arg[4200];
	char err[512], name[4096];
	int rc = 2;

	if (!find_chromium(chromium, sizeof(chromium))) {
		fprintf(stderr, "cangate report: --pdf needs Chromium (chromium, "
				"chromium-browser or google-chrome in PATH, or "
				"CANGATE_CHROMIUM); on Debian: apt-get install "
				"chromium. The HTML report prints to PDF from any "
				"browser too.\n");
		return 2;
	}
	if (!out) {
		size_t n = strlen(dir), k;
		const char *base;

		while (n > 1 && dir[n - 1] == '/')
			n--;
		for (k = n; k > 0 && dir[k - 1] != '/'; k--)
			;
		base = dir + k;
		snprintf(name, sizeof(name), "%.*s.pdf",
			 (int)(n - (size_t)(base - dir)), base);
		out = name;
	}
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "cangate report: %s: %s\n", tmpdir, strerror(errno));
		return 2;
	}
	snprintf(html, sizeof(html), "%s/report.html", tmpdir);
	snprintf(log, sizeof(log), "%s/chromium.log", tmpdir);
	snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile", tmpdir);
	snprintf(url, sizeof(url), "file://%s", html);
	snprintf(arg, sizeof(arg), "--print-to-pdf=%s", out);
	if (report_write(dir, html, err, sizeof(err)) < 0) {
		fprintf(stderr, "cangate report: %s\n", err);
		goto out;
	}
	char *const argv[] = {chromium, (char *)"--headless",
			      (char *)"--no-sandbox", (char *)"--disable-gpu",
			      (char *)"--no-pdf-header-footer",
			      (char *)"--no-first-run", profile, arg, url, NULL};
	unlink(out);
	struct stat st;
	if (!run(argv, log) || stat(out, &st) < 0 || st.st_size < 5) {
		char line[512];
		FILE *fp = fopen(log, "r");

		fprintf(stderr, "cangate report: %s did not print %s", chromium, out);
		fprintf(stderr, fp ? "; it said:\n" : "\n");
		while (fp && fgets(line, sizeof(line), fp))
			fprintf(stderr, "  %s", line);
		if (fp)
			fclose(fp);
		goto out;
	}
	fprintf(stderr, "cangate report: wrote %s\n", out);
	rc = 0;
out:
	/* The profile Chromium left, and our files. */
	if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cangate report: %s left behind\n", tmpdir);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	const char *dir = NULL, *out = NULL;
	char path[4096], err[512];
	bool pdf = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(argv[i], "--pdf")) {
			pdf = true;
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
	if (pdf)
		return report_pdf(dir, out);
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
	fprintf(stderr, "usage: cangate report BUNDLE [--pdf] [-o FILE]\n");
	return 2;
}
