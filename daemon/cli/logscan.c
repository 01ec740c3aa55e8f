/* logscan.c: see logscan.h. */
#include <inttypes.h>
#include <string.h>

#include "daemon/cli/logscan.h"

void logscan_skipped(struct logscan *s, uint64_t lineno, const char *line,
		     size_t len)
{
	size_t i = 0, k = 0;

	while (i < len && strchr(" \t\r\n\f\v", line[i]))
		i++;
	if (i == len || line[i] == '#')
		return;
	if (s->n_other++)
		return;
	s->first_line = lineno;
	/* Printable bytes only: the line may be binary. */
	for (; i < len && k + 1 < sizeof(s->first) && line[i] != '\n' &&
	       line[i] != '\r'; i++)
		s->first[k++] = line[i] >= 0x20 && line[i] < 0x7f && line[i] != '"'
					? line[i] : '?';
	s->first[k] = '\0';
}

int logscan_report(struct logscan *s, const char *name, uint64_t frames,
		   FILE *err)
{
	int rc = 0;

	if (s->n_other) {
		fprintf(err, "%s:%" PRIu64 ": %" PRIu64 " %s, the first: \"%s\"\n",
			name, s->first_line, s->n_other,
			s->n_other == 1 ? "line is not a candump -l frame"
					: "lines are not candump -l frames",
			s->first);
		rc = 1;
		if (!frames) {
			fprintf(err, "%s: no candump -l frame in the file "
				     "(lines like \"(1436509052.249713) can0 "
				     "123#11223344\")\n", name);
			rc = 2;
		}
	}
	memset(s, 0, sizeof(*s));
	return rc;
}
