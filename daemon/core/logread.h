/*
 * logread.h: frames from recorded logs, whatever tool wrote them.
 *
 * One reader for the three formats a lab meets, told apart by content, not
 * by file name:
 *   candump -l lines   "(1436509052.249713) can0 123#0011 R"   (frame.h)
 *   Vector ASC         "date ...", "base hex ...", then
 *                      "   0.015991 1  123  Rx   d 2 00 11"
 *   Vector BLF         binary, "LOGG" file header, zlib LOG_CONTAINERs
 *
 * ASC and BLF name a frame's bus by channel number (1, 2, ...): that number,
 * as text, stands in the interface name. Their times are relative to a start
 * written as local time (the ASC "date"/"Begin Triggerblock" line, the BLF
 * header's SYSTEMTIME), as Vector's tools and python-can write them; the
 * reader turns them into Unix time through the TZ in effect. BLF times are
 * rounded to the microsecond, the resolution of frames.log: python-can
 * writes them through a double, which holds about 0.24 us at today's epoch.
 *
 *   char err[160];
 *   struct logread *r = logread_open("drive.blf", err, sizeof(err));
 *   struct logread_rec rec;
 *   int rc;
 *   while ((rc = logread_next(r, &rec, err, sizeof(err))) != LOGREAD_END) {
 *           if (rc == LOGREAD_FRAME) use(&rec.f, rec.ifname);
 *           else fprintf(stderr, "%s: %s\n", logread_where(r, ...), err);
 *           if (rc == LOGREAD_FATAL) break;
 *   }
 *   logread_free(r);
 *
 * Records are lines (candump, ASC) or objects (BLF, counted from 1 across
 * the file, containers not counted). Lines that are no frame in ASC
 * (headers, comments, statistics) and BLF objects other than CAN frames
 * are passed over as every tool does; a candump line that is no frame is
 * LOGREAD_OTHER (the caller counts them: a file that is no log at all must
 * not read as empty); lines that claim to be frames and do not parse are
 * LOGREAD_BAD with a message.
 */
#ifndef CANGATE_LOGREAD_H
#define CANGATE_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/core/frame.h"

enum logread_format {
	LOGREAD_CANDUMP,
	LOGREAD_ASC,
	LOGREAD_BLF,
};

/* Longest line of a text log; a longer one is one LOGREAD_BAD record. */
#define LOGREAD_LINE_MAX (1u << 20)

struct logread_rec {
	struct frame f;
	char ifname[FRAME_IFNAME_MAX]; /* interface column, or channel number */
	uint64_t pos;      /* line or object number of this record, from 1 */
	unsigned digits;   /* fraction digits the log gives its time with: 6 or 9 */
};

enum logread_result {
	LOGREAD_OTHER = 2,  /* a line of a candump log that is no frame (a
			       wrong file, a comment): logread_line() has it */
	LOGREAD_FRAME = 1,
	LOGREAD_END = 0,
	LOGREAD_BAD = -1,   /* this record is bad (err says why); read on */
	LOGREAD_FATAL = -2, /* the file cannot be read further (err says why) */
};

struct logread;

/*
 * Open path ("-" for standard input) and detect its format from its first
 * bytes. Returns a reader the caller frees with logread_free(), or NULL with
 * err filled ("PATH: No such file or directory").
 */
struct logread *logread_open(const char *path, char *err, size_t errlen);

/* The same over len bytes the caller keeps until logread_free() (fuzzing,
 * tests). name is used in messages. */
struct logread *logread_open_mem(const char *name, const void *buf,
				 size_t len);

/* Next record: LOGREAD_FRAME with *rec filled, or LOGREAD_END, LOGREAD_BAD,
 * LOGREAD_FATAL with err filled (one line, without the location). After
 * LOGREAD_FATAL every call returns LOGREAD_END. */
int logread_next(struct logread *r, struct logread_rec *rec, char *err,
		 size_t errlen);

enum logread_format logread_format(const struct logread *r);
const char *logread_format_name(enum logread_format fmt);

/* "PATH:LINE" for text logs, "PATH: object N" for BLF: where the last
 * record came from, for messages. Returns buf. */
const char *logread_where(const struct logread *r, char *buf, size_t size);

/* True when the next logread_next() may block on input: a caller showing
 * live input (candump -L | cangate decode -) flushes its output then. */
bool logread_would_block(const struct logread *r);

/* Records (lines, BLF objects) read so far. */
uint64_t logread_pos(const struct logread *r);

/* The line LOGREAD_OTHER was about (len bytes, no newline), valid until
 * the next logread_next(); NULL otherwise. */
const char *logread_line(const struct logread *r, size_t *len);

/* "PATH" or "<stdin>", as messages name the log. */
const char *logread_name(const struct logread *r);

void logread_free(struct logread *r);

#endif
