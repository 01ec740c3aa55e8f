/*
 * replay.c: the candump -l log reader behind replay buses. See replay.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/replay.h"


struct replay {
	FILE *fp;
	char *path;
	double speed;
	uint64_t lineno;
	bool started;
	bool eof;
	uint64_t mono0, log0;  /* anchor: log time log0 plays at mono0 */
	uint64_t last_t;       /* log time of the last frame returned */
	bool have_pending;
	struct frame pending;
	char pending_if[FRAME_IFNAME_MAX];
	struct replay_stats st;
};

struct replay *replay_open(const char *path, double speed, char *errmsg,
			   size_t errlen)
{
	struct replay *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	r->fp = fopen(path, "re");
	if (!r->fp) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		free(r);
		return NULL;
	}
	r->path = strdup(path);
	if (!r->path) {
		fclose(r->fp);
		free(r);
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	r->speed = speed < 0 ? 0 : speed;
	return r;
}

static int replay_fill(struct replay *r, bool *bad);

uint64_t replay_first_time(struct replay *r)
{
	bool bad;

	if (!r->have_pending && !r->started)
		replay_fill(r, &bad);
	return r->have_pending ? r->pending.t_ns : 0;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	if (r->fp)
		fclose(r->fp);
	free(r->path);
	free(r);
}

const struct replay_stats *replay_stats(const struct replay *r)
{
	return &r->st;
}

/* Read lines until one holds a frame to replay: 1, or 0 at EOF. */
static int replay_fill(struct replay *r, bool *bad)
{
	char line[FRAME_LINE_MAX + 64];
	char err[128];

	while (!r->eof) {
		size_t len;
		int rc;

		if (!fgets(line, sizeof(line), r->fp)) {
			if (ferror(r->fp)) {
				snprintf(r->st.last_error,
					 sizeof(r->st.last_error),
					 "%s:%" PRIu64 ": read error", r->path,
					 r->lineno + 1);
				*bad = true;
			}
			r->eof = true;
			return 0;
		}
		r->lineno++;
		r->st.lines++;
		len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;

			/* Longer than any frame line: skip the rest of it. */
			while ((c = fgetc(r->fp)) != EOF && c != '\n')
				;
			r->st.bad_lines++;
			snprintf(r->st.last_error, sizeof(r->st.last_error),
				 "%s:%" PRIu64 ": line too long", r->path,
				 r->lineno);
			*bad = true;
			continue;
		}
		rc = frame_parse_line(line, len, &r->pending, r->pending_if,
				      err, sizeof(err));
		if (rc == FRAME_PARSE_SKIP) {
			r->st.skipped++;
			continue;
		}
		if (rc != FRAME_PARSE_OK) {
			r->st.bad_lines++;
			snprintf(r->st.last_error, sizeof(r->st.last_error),
				 "%s:%" PRIu64 ": %s", r->path, r->lineno,
				 err);
			*bad = true;
			continue;
		}
		if (r->pending.dir == FRAME_DIR_TX) {
			/* The recording gateway's own transmission. */
			r->st.skipped++;
			continue;
		}
		r->pending.dir = FRAME_DIR_RX;
		r->have_pending = true;
		return 1;
	}
	return 0;
}

enum replay_result replay_next(struct replay *r, uint64_t now_ns,
			       struct frame *f, char ifname[FRAME_IFNAME_MAX],
			       uint64_t *due_ns, bool *bad)
{
	uint64_t due;

	*bad = false;
	if (!r->have_pending && !replay_fill(r, bad))
		return REPLAY_END;
	if (!r->started) {
		r->started = true;
		r->mono0 = now_ns;
		r->log0 = r->pending.t_ns;
	}
	if (r->speed <= 0 || r->pending.t_ns <= r->log0)
		due = r->mono0;
	else
		due = r->mono0 +
		      (uint64_t)((double)(r->pending.t_ns - r->log0) /
				 r->speed);
	if (due > now_ns) {
		*due_ns = due;
		return REPLAY_WAIT;
	}
	*f = r->pending;
	memcpy(ifname, r->pending_if, FRAME_IFNAME_MAX);
	r->have_pending = false;
	r->last_t = f->t_ns;
	r->st.frames++;
	return REPLAY_FRAME;
}

uint64_t replay_log_time(const struct replay *r, uint64_t now_ns)
{
	if (!r->started)
		return r->have_pending ? r->pending.t_ns : 0;
	if (r->speed <= 0 || r->eof || now_ns < r->mono0)
		return r->last_t;
	return r->log0 + (uint64_t)((double)(now_ns - r->mono0) * r->speed);
}
