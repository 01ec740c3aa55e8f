/*
 * logread_impl.h: what the reader's files share (nothing outside them).
 *
 *   logread.c       open, format detection, buffered input, lines, dispatch
 *   logread_asc.c   one Vector ASC line -> frame
 *   logread_blf.c   Vector BLF objects -> frames (zlib containers)
 */
#ifndef CANGATE_LOGREAD_IMPL_H
#define CANGATE_LOGREAD_IMPL_H

#include <stdarg.h>
#include <sys/types.h>
#include <linux/can/error.h>

#include "daemon/core/logread.h"

struct asc_state {
	int base;           /* 16 or 10: IDs, DLCs and data bytes */
	bool relative;      /* "timestamps relative": each from the previous */
	uint64_t start_ns;  /* the measurement start ("date", "Begin Triggerblock") */
	uint64_t last_ns;   /* relative timestamps add up from here */
	uint64_t bad_date_line; /* a "date" not understood, not yet said */
	bool held;          /* the error is said, the frame comes next */
};

struct blf_state;

struct logread {
	char *name;
	enum logread_format fmt;
	int fd;                 /* -1 when reading memory */
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	uint8_t *buf;           /* unread input is buf[start, end) */
	size_t cap, start, end;
	bool eof, done, live;
	uint64_t pos;           /* records so far */
	bool skipping;          /* inside an over-long line */
	bool open_failed;       /* memory input: fatal[] is the first answer */
	bool has_held;          /* held is the next answer */
	const char *other;      /* the LOGREAD_OTHER line */
	size_t other_len;
	struct logread_rec held;
	char fatal[128];
	struct asc_state asc;
	struct blf_state *blf;
};

/* CAN FD payload length by DLC. */
extern const uint8_t logread_fd_len[16];

/* Printf into err (errlen bytes, may be 0); returns rc. */
int logread_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Read more input after buf[end]; 1 when some came, 0 at end of input, -1
 * on a read error (err filled). Moves unread bytes to the front first. */
int logread_fill(struct logread *r, char *err, size_t errlen);

/* Make at least n bytes readable at buf[start] (n <= cap); returns how many
 * are (fewer only at end of input), or -1 on a read error. */
ssize_t logread_need(struct logread *r, size_t n, char *err, size_t errlen);

/* Local calendar time to ns since the epoch (mktime under TZ); 0 when the
 * date is out of range. */
uint64_t logread_local_ns(int year, int month, int day, int hour, int min,
			  int sec, uint32_t ns);

/* ASC: line lineno (without its newline). FRAME_PARSE_OK with *f, *ifname
 * and *digits set; FRAME_PARSE_SKIP for lines that are no frame;
 * FRAME_PARSE_ERROR with err, where a->held says that the frame was good
 * all the same and is to be handed out after the error. */
void asc_init(struct asc_state *a);
int asc_line(struct asc_state *a, uint64_t lineno, const char *line,
	     size_t len, struct frame *f, char ifname[FRAME_IFNAME_MAX],
	     unsigned *digits, char *err, size_t errlen);

/* BLF: read the file header (r's input starts with "LOGG"); then frames. */
int blf_open(struct logread *r, char *err, size_t errlen);
int blf_next(struct logread *r, struct logread_rec *rec, char *err,
	     size_t errlen);
void blf_free(struct blf_state *b);

#endif
