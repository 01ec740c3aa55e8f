/*
 * dbc_corpus_check DIR [EXPECTED]: parse every .dbc/.DBC file under DIR,
 * print one line per file and a summary; exit 1 when a file fails that
 * EXPECTED (one "name  reason" per line, '#' comments) does not list.
 * -v also prints every warning with file:line:col.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbc/dbc.h"

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dbc(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcasecmp(name + n - 4, ".dbc") == 0;
}

/* Is name the first word of a line of the expected-failures file? */
static bool expected(const char *list, const char *name)
{
	FILE *f;
	char line[1024];
	bool hit = false;

	if (!list || !(f = fopen(list, "r")))
		return false;
	while (!hit && fgets(line, sizeof(line), f)) {
		char *w = strtok(line, " \t\r\n");

		hit = w && w[0] != '#' && strcmp(w, name) == 0;
	}
	fclose(f);
	return hit;
}

int main(int argc, char **argv)
{
	const char *dir, *list;
	bool verbose = false;
	size_t n = 0, cap = 0, ok = 0, failed = 0, unexpected = 0;
	char **names = NULL;
	struct dirent *de;
	DIR *d;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = true;
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: dbc_corpus_check [-v] DIR [EXPECTED]\n");
		return 2;
	}
	dir = argv[1];
	list = argc > 2 ? argv[2] : NULL;
	d = opendir(dir);
	if (!d) {
		perror(dir);
		return 2;
	}
	while ((de = readdir(d))) {
		if (!is_dbc(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				return 2;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);

	for (size_t i = 0; i < n; i++) {
		struct dbc_diag err;
		struct dbc *db;
		char *path;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			return 2;
		db = dbc_parse_file(path, &err);
		if (!db) {
			bool exp = expected(list, names[i]);

			printf("ERROR %s:%u:%u: %s%s\n", path, err.loc.line,
			       err.loc.col, err.msg ? err.msg : "?",
			       exp ? " (expected)" : "");
			failed++;
			unexpected += !exp;
			dbc_diag_fini(&err);
		} else {
			if (db->n_warnings)
				printf("OK with %zu warnings %s\n",
				       db->n_warnings, names[i]);
			else
				printf("OK %s\n", names[i]);
			if (verbose)
				for (size_t k = 0; k < db->n_warnings; k++)
					printf("  %s:%u:%u: warning: %s\n", path,
					       db->warnings[k].loc.line,
					       db->warnings[k].loc.col,
					       db->warnings[k].msg);
			ok++;
			dbc_free(db);
		}
		free(path);
		free(names[i]);
	}
	free(names);
	printf("corpus: %zu files, %zu ok, %zu failed", n, ok, failed);
	if (failed)
		printf(" (%zu unexpected)", unexpected);
	printf("\n");
	return unexpected ? 1 : 0;
}
