/*
 * replay.h: reads a candump -l log and hands out its frames on the log's own
 * timing, N times faster, or as fast as possible. Pure: the clock is passed
 * in.
 */
#ifndef CANGATE_REPLAY_H
#define CANGATE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/core/frame.h"

struct replay;

struct replay_stats {
	uint64_t lines;     /* lines read */
	uint64_t frames;    /* frames returned */
	uint64_t bad_lines; /* lines that did not parse (skipped) */
	uint64_t skipped;   /* T lines and non-frame lines */
	char last_error[192]; /* "path:line: msg" of the last bad line */
};

/* speed: 1 real time, N times faster, 0 as fast as possible.
 * NULL with errmsg filled when path cannot be opened. */
struct replay *replay_open(const char *path, double speed, char *errmsg,
			   size_t errlen);
void replay_free(struct replay *r);
/* The first frame's timestamp, read ahead, so that a session opened before
 * replay starts is stamped on the log's clock. 0 when the log is empty. */
uint64_t replay_first_time(struct replay *r);

enum replay_result {
	REPLAY_FRAME = 1,  /* *f and ifname filled */
	REPLAY_WAIT = 0,   /* next frame due at *due_ns (monotonic) */
	REPLAY_END = -1,   /* end of log (or read error, in stats) */
};

/*
 * The next frame of the log if it is due at monotonic time now_ns. The first
 * call anchors the log's first timestamp to now_ns; frame k is then due at
 * now0 + (t_k - t_0) / speed. A log whose timestamps go backwards replays the
 * late line at once. Bad lines are skipped and counted; a new bad line's
 * message is in stats.last_error and *bad is set (for rate-limited logging).
 */
enum replay_result replay_next(struct replay *r, uint64_t now_ns,
			       struct frame *f, char ifname[FRAME_IFNAME_MAX],
			       uint64_t *due_ns, bool *bad);
const struct replay_stats *replay_stats(const struct replay *r);
/* Where the replay is, on the log's own clock, at monotonic now_ns: the
 * timebase for rules deadlines when only replay buses feed the gateway. */
uint64_t replay_log_time(const struct replay *r, uint64_t now_ns);

#endif
