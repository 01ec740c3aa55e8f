/*
 * logread.c: open a log, tell its format from its first bytes, and hand out
 * its frames (see logread.h). Text logs are read in large blocks and split
 * with memchr, as `cangate decode` needs to keep up with a disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/core/logread_impl.h"

/* Memory input comes in pieces of this size, so that tests and the fuzzer
 * meet the same boundaries as reads from a file. */
#define LOGREAD_MEM_CHUNK 4096

const uint8_t logread_fd_len[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8,
				    12, 16, 20, 24, 32, 48, 64};

int logread_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

uint64_t logread_local_ns(int year, int month, int day, int hour, int min,
			  int sec, uint32_t ns)
{
	struct tm tm = {
		.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
		.tm_hour = hour, .tm_min = min, .tm_sec = sec, .tm_isdst = -1,
	};
	time_t t;

	if (year < 1970 || year > 2500 || month < 1 || month > 12 || day < 1 ||
	    day > 31 || hour > 23 || min > 59 || sec > 60 || ns > 999999999)
		return 0;
	t = mktime(&tm);
	if (t < 0)
		return 0;
	return (uint64_t)t * 1000000000u + ns;
}

int logread_fill(struct logread *r, char *err, size_t errlen)
{
	size_t have = r->end - r->start, room;
	ssize_t n;

	if (r->eof)
		return 0;
	if (r->start) {
		memmove(r->buf, r->buf + r->start, have);
		r->start = 0;
		r->end = have;
	}
	room = r->cap - r->end;
	if (!room)
		return 1; /* full: the caller deals with it */
	if (r->fd < 0) {
		n = (ssize_t)(r->mem_len - r->mem_pos);
		if ((size_t)n > room)
			n = (ssize_t)room;
		if (n > LOGREAD_MEM_CHUNK)
			n = LOGREAD_MEM_CHUNK;
		memcpy(r->buf + r->end, r->mem + r->mem_pos, (size_t)n);
		r->mem_pos += (size_t)n;
	} else {
		do
			n = read(r->fd, r->buf + r->end, room);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return logread_err(err, errlen, -1, "%s", strerror(errno));
	}
	if (n == 0) {
		r->eof = true;
		return 0;
	}
	r->end += (size_t)n;
	return 1;
}

ssize_t logread_need(struct logread *r, size_t n, char *err, size_t errlen)
{
	while (r->end - r->start < n) {
		int rc = logread_fill(r, err, errlen);

		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
	}
	return (ssize_t)(r->end - r->start);
}

/* The first line that is not blank says what a text log is. */
static enum logread_format detect_text(const uint8_t *p, size_t n)
{
	static const char *const asc_starts[] = {
		"date ", "base ", "internal events", "no internal events",
		"begin triggerblock", "//",
	};
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
			 p[i] == '\n'))
		i++;
	if (i == n || p[i] == '(')
		return LOGREAD_CANDUMP;
	if (p[i] >= '0' && p[i] <= '9')
		return LOGREAD_ASC;
	for (size_t k = 0; k < sizeof(asc_starts) / sizeof(asc_starts[0]); k++) {
		size_t len = strlen(asc_starts[k]);

		if (n - i >= len && strncasecmp((const char *)p + i,
						asc_starts[k], len) == 0)
			return LOGREAD_ASC;
	}
	return LOGREAD_CANDUMP;
}

static int detect(struct logread *r, char *err, size_t errlen)
{
	/* Enough for a line (or a pipe's first burst) without waiting on a
	 * live pipe for more than it has sent. */
	for (;;) {
		size_t have = r->end - r->start;
		const uint8_t *p = r->buf + r->start;

		if (have >= 4 && memcmp(p, "LOGG", 4) == 0) {
			r->fmt = LOGREAD_BLF;
			return blf_open(r, err, errlen);
		}
		if ((have >= 4 && memchr(p, '\n', have)) || r->eof ||
		    have == r->cap)
			break;
		if (logread_fill(r, err, errlen) < 0)
			return -1;
	}
	r->fmt = detect_text(r->buf + r->start, r->end - r->start);
	return 0;
}

static struct logread *logread_new(const char *name, size_t cap)
{
	struct logread *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = cap;
	r->buf = malloc(r->cap);
	r->name = strdup(name);
	if (!r->buf || !r->name) {
		free(r->buf);
		free(r->name);
		free(r);
		return NULL;
	}
	r->fd = -1;
	asc_init(&r->asc);
	return r;
}

struct logread *logread_open(const char *path, char *err, size_t errlen)
{
	bool std = strcmp(path, "-") == 0;
	struct logread *r = logread_new(std ? "<stdin>" : path,
					LOGREAD_LINE_MAX);
	char why[128];
	struct stat st;

	if (!r) {
		logread_err(err, errlen, -1, "%s: out of memory", path);
		return NULL;
	}
	r->fd = std ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		logread_err(err, errlen, -1, "%s: %s", path, strerror(errno));
		logread_free(r);
		return NULL;
	}
	r->live = fstat(r->fd, &st) == 0 && !S_ISREG(st.st_mode);
	if (detect(r, why, sizeof(why)) < 0) {
		logread_err(err, errlen, -1, "%s: %s", r->name, why);
		logread_free(r);
		return NULL;
	}
	return r;
}

struct logread *logread_open_mem(const char *name, const void *buf,
				 size_t len)
{
	/* A buffer no larger than the input needs (the fuzzer runs many
	 * small inputs): lines longer than it cannot occur. */
	size_t cap = len < LOGREAD_LINE_MAX ? len + LOGREAD_MEM_CHUNK :
					      LOGREAD_LINE_MAX;
	struct logread *r = logread_new(name, cap);

	if (!r)
		return NULL;
	r->mem = buf;
	r->mem_len = len;
	if (detect(r, r->fatal, sizeof(r->fatal)) < 0)
		r->open_failed = true; /* said by the first logread_next() */
	return r;
}

/* The next line into line and len: 1, 0 at the end, LOGREAD_BAD for an
 * over-long line, LOGREAD_FATAL on a read error. */
static int next_line(struct logread *r, const char **line, size_t *len,
		     char *err, size_t errlen)
{
	size_t scanned = 0;

	for (;;) {
		uint8_t *p = r->buf + r->start;
		size_t have = r->end - r->start;
		uint8_t *nl = memchr(p + scanned, '\n', have - scanned);
		int rc;

		if (nl) {
			bool was_skipping = r->skipping;

			r->start += (size_t)(nl - p) + 1;
			r->skipping = false;
			if (was_skipping) {
				scanned = 0;
				continue; /* the end of a line already reported */
			}
			r->pos++;
			*line = (const char *)p;
			*len = (size_t)(nl - p);
			return 1;
		}
		if (r->eof) {
			r->start = r->end;
			if (!have || r->skipping)
				return 0;
			r->pos++;
			*line = (const char *)p;
			*len = have;
			return 1;
		}
		if (have == r->cap) {
			/* No log line is this long: say so once and drop it
			 * up to its newline. */
			bool report = !r->skipping;

			r->start = r->end;
			r->skipping = true;
			scanned = 0;
			if (report) {
				r->pos++;
				return logread_err(err, errlen, LOGREAD_BAD,
						   "line longer than %u bytes",
						   LOGREAD_LINE_MAX);
			}
			continue;
		}
		/* fill() moves the unread bytes to the front: what was
		 * scanned stays scanned. */
		scanned = have;
		rc = logread_fill(r, err, errlen);
		if (rc < 0)
			return LOGREAD_FATAL;
	}
}

/* Fraction digits of a candump line's time: 9 or 6. */
static unsigned candump_digits(const char *line, size_t len)
{
	const char *dot = memchr(line, '.', len);
	const char *close = dot ? memchr(dot, ')', len - (size_t)(dot - line))
				: NULL;

	return close && close - dot - 1 == 9 ? 9 : 6;
}

/* Times past this (2400-01-01) are damage: no log is written then, and
 * frames.log could not hold them. */
#define LOGREAD_T_MAX 13569465600000000000ull

static int next_record(struct logread *r, struct logread_rec *rec, char *err,
		       size_t errlen);

int logread_next(struct logread *r, struct logread_rec *rec, char *err,
		 size_t errlen)
{
	int rc = next_record(r, rec, err, errlen);

	if (rc == LOGREAD_FRAME && rec->f.t_ns > LOGREAD_T_MAX)
		return logread_err(err, errlen, LOGREAD_BAD,
				   "time %llu s is past the year 2400",
				   (unsigned long long)(rec->f.t_ns / 1000000000u));
	return rc;
}

static int next_record(struct logread *r, struct logread_rec *rec, char *err,
		       size_t errlen)
{
	if (r->done)
		return LOGREAD_END;
	if (r->open_failed) {
		r->done = true;
		return logread_err(err, errlen, LOGREAD_FATAL, "%s", r->fatal);
	}
	if (r->has_held) {
		r->has_held = false;
		*rec = r->held;
		return LOGREAD_FRAME;
	}
	if (r->fmt == LOGREAD_BLF) {
		int rc = blf_next(r, rec, err, errlen);

		r->done = rc == LOGREAD_END || rc == LOGREAD_FATAL;
		return rc;
	}
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		int rc = next_line(r, &line, &len, err, errlen), prc;

		if (rc <= 0) {
			r->done = rc == LOGREAD_END || rc == LOGREAD_FATAL;
			return rc;
		}
		rec->pos = r->pos;
		r->other = NULL;
		if (r->fmt == LOGREAD_ASC) {
			prc = asc_line(&r->asc, r->pos, line, len, &rec->f,
				       rec->ifname, &rec->digits, err, errlen);
			if (r->asc.held) {
				r->asc.held = false;
				r->held = *rec;
				r->has_held = true;
			}
		} else {
			prc = frame_parse_line(line, len, &rec->f, rec->ifname,
					       err, errlen);
			if (prc == FRAME_PARSE_OK)
				rec->digits = candump_digits(line, len);
		}
		if (prc == FRAME_PARSE_OK)
			return LOGREAD_FRAME;
		if (prc == FRAME_PARSE_ERROR)
			return LOGREAD_BAD;
		if (r->fmt == LOGREAD_CANDUMP) {
			r->other = line;
			r->other_len = len;
			return LOGREAD_OTHER;
		}
	}
}

enum logread_format logread_format(const struct logread *r)
{
	return r->fmt;
}

const char *logread_format_name(enum logread_format fmt)
{
	switch (fmt) {
	case LOGREAD_ASC:
		return "Vector ASC";
	case LOGREAD_BLF:
		return "Vector BLF";
	default:
		return "candump";
	}
}

const char *logread_where(const struct logread *r, char *buf, size_t size)
{
	if (r->fmt != LOGREAD_BLF)
		snprintf(buf, size, "%s:%llu", r->name,
			 (unsigned long long)r->pos);
	else if (r->pos)
		snprintf(buf, size, "%s: object %llu", r->name,
			 (unsigned long long)r->pos);
	else
		snprintf(buf, size, "%s", r->name); /* the message says where */
	return buf;
}

bool logread_would_block(const struct logread *r)
{
	if (!r->live || r->eof)
		return false;
	if (r->fmt == LOGREAD_BLF)
		return true;
	return !memchr(r->buf + r->start, '\n', r->end - r->start);
}

uint64_t logread_pos(const struct logread *r)
{
	return r->pos;
}

const char *logread_line(const struct logread *r, size_t *len)
{
	*len = r->other ? r->other_len : 0;
	return r->other;
}

const char *logread_name(const struct logread *r)
{
	return r->name;
}

void logread_free(struct logread *r)
{
	if (!r)
		return;
	if (r->fd > 0)
		close(r->fd);
	blf_free(r->blf);
	free(r->buf);
	free(r->name);
	free(r);
}
