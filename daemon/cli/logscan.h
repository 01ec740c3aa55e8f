/*
 * logscan.h: lines of a candump -l log that are not frames. A file that is
 * not a candump log at all (a Vector ASC file, a DBC given as the log)
 * would otherwise give no output and exit 0, which reads as "nothing
 * happened". Blank lines and '#' comments are allowed and not counted.
 */
#ifndef CANGATE_LOGSCAN_H
#define CANGATE_LOGSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct logscan {
	uint64_t n_other;    /* lines neither frames, blank nor comments */
	uint64_t first_line; /* line number of the first of them */
	char first[48];      /* its start, for the message */
};

/* A line that frame_parse_line() skipped (FRAME_PARSE_SKIP): counts it
 * unless blank or a comment. */
void logscan_skipped(struct logscan *s, uint64_t lineno, const char *line,
		     size_t len);

/*
 * After a file: says on err, as NAME:LINE, how many lines were not frames
 * and shows the first; when frames is 0 as well, says the file holds no
 * frame. Returns 0 when every line was accounted for, 1 when some lines
 * were not frames, 2 when no line was a frame. Resets s for the next file.
 */
int logscan_report(struct logscan *s, const char *name, uint64_t frames,
		   FILE *err);

#endif
