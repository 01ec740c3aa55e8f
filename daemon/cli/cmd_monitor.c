/*
 * cmd_monitor.c: `cangate monitor` (a live full-screen view) and `cangate
 * watch` (signal changes as lines, for scripts). Both subscribe on the
 * control socket (control_stream.h) and draw what its snapshots say: the
 * daemon does the decoding, so the view is what the rules see.
 *
 * monitor keys: q quit, / filter the signal pane (as you type; Enter keeps
 * it, Esc restores the previous one), m a marker with text (Enter records
 * it), p pause (the view freezes; snapshots are still read so the daemon
 * does not drop us). Without a terminal on stdout it prints one plain line
 * per second instead.
 */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <sys/socket.h>

#include "daemon/cli/client.h"
#include "daemon/cli/commands.h"
#include "daemon/core/bundle.h"
#include "daemon/core/control_proto.h"

#define MON_LINE_MAX (4u << 20) /* longest snapshot line accepted */
#define MON_PLAIN_ROWS 8     /* signals in a plain line */
#define MON_EVENT_ROWS 3
#define MON_INPUT_MAX 100
#define MON_NICE 10
/* Snapshots a second asked of the daemon: what each view shows, no more
 * (each one costs the daemon a send and us a parse). The screen's 5 is the
 * least a live view may have; the plain line is printed once a second; watch
 * samples at the daemon's most, its changes being its point. */
#define MON_SCREEN_HZ 5
#define MON_PLAIN_HZ 1
#define MON_WATCH_HZ CONTROL_HZ_MAX

/* ------------------------------------------------------------ the stream */

struct mon_stream {
	const char *prog;
	const char *path;
	int fd;
	char *buf;
	size_t len, cap;
};

static int mon_send(struct mon_stream *ms, const char *line)
{
	size_t off = 0, len = strlen(line);

	while (off < len) {
		ssize_t w = send(ms->fd, line + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			fprintf(stderr, "cangate %s: sending to %s: %s\n",
				ms->prog, ms->path, strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* The subscribe request for a filter or a watch list, rows signals, hz
 * snapshots a second. */
static int mon_subscribe(struct mon_stream *ms, const char *key,
			 const char *value, unsigned rows, unsigned hz)
{
	char line[CONTROL_LINE_MAX], q[CONTROL_LINE_MAX];
	int n;

	if (value && *value) {
		if (client_quote(value, q, sizeof(q)) < 0) {
			fprintf(stderr, "cangate %s: %s too long\n", ms->prog,
				key);
			return -1;
		}
		n = snprintf(line, sizeof(line),
			     "subscribe %s=%s rows=%u hz=%u\n", key, q, rows,
			     hz);
	} else {
		n = snprintf(line, sizeof(line), "subscribe rows=%u hz=%u\n",
			     rows, hz);
	}
	if (n < 0 || (size_t)n >= sizeof(line)) {
		fprintf(stderr, "cangate %s: %s too long\n", ms->prog, key);
		return -1;
	}
	return mon_send(ms, line);
}

/* Read what is there (blocking when block). 1 read, 0 nothing yet (not
 * blocking), -1 the daemon closed the connection or an error. */
static int mon_read(struct mon_stream *ms, bool block)
{
	ssize_t n;

	if (ms->cap - ms->len < 65536) {
		size_t nc = ms->cap ? ms->cap * 2 : 262144;
		char *nb;

		if (nc > MON_LINE_MAX + 65536) {
			fprintf(stderr, "cangate %s: snapshot line too long\n",
				ms->prog);
			return -1;
		}
		nb = realloc(ms->buf, nc);
		if (!nb)
			return -1;
		ms->buf = nb;
		ms->cap = nc;
	}
	do
		n = recv(ms->fd, ms->buf + ms->len, ms->cap - ms->len,
			 block ? 0 : MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	ms->len += (size_t)n;
	return 1;
}

/* The next complete line, parsed; NULL when there is none yet. A line that
 * does not parse is an error on stderr and skipped. */
static struct bundle_json *mon_next(struct mon_stream *ms)
{
	for (;;) {
		char *nl = ms->len ? memchr(ms->buf, '\n', ms->len) : NULL;
		struct bundle_json *j;
		char err[128];
		size_t used;

		if (!nl)
			return NULL;
		used = (size_t)(nl - ms->buf) + 1;
		j = bundle_json_parse(ms->buf, used - 1, err, sizeof(err));
		memmove(ms->buf, ms->buf + used, ms->len - used);
		ms->len -= used;
		if (j)
			return j;
		fprintf(stderr, "cangate %s: bad snapshot from the daemon: %s\n",
			ms->prog, err);
	}
}

/* Drop every complete line but the newest, unparsed; an {"error":...} line
 * stays first (the caller shows it). */
static void mon_drop_old(struct mon_stream *ms)
{
	char *last = ms->len ? memrchr(ms->buf, '\n', ms->len) : NULL;
	size_t keep;

	if (!last)
		return;
	/* drop every complete line but the last, unless one is an error */
	for (char *p = ms->buf; p < last;) {
		char *nl = memchr(p, '\n', (size_t)(last - p) + 1);

		if (!strncmp(p, "{\"error\"", 8) || nl == last)
			break;
		p = nl + 1;
		keep = ms->len - (size_t)(p - ms->buf);
		memmove(ms->buf, p, keep);
		last -= p - ms->buf;
		ms->len = keep;
		p = ms->buf;
	}
}

/* ------------------------------------------------------------ formatting */

static const char *mon_num(const struct bundle_json *o, const char *key)
{
	const struct bundle_json *v = bundle_json_get(o, key);

	return v && v->type == BJ_NUMBER ? v->str : "-";
}

static uint64_t mon_u64(const struct bundle_json *o, const char *key)
{
	uint64_t v = 0;

	bundle_json_u64(o, key, &v);
	return v;
}

/* "12:34:56.789" of a snapshot time t (seconds, UTC; NAN: unknown). */
static void mon_clock_t(double t, char *buf, size_t size)
{
	time_t s;
	struct tm tm;

	if (isnan(t)) {
		snprintf(buf, size, "--:--:--");
		return;
	}
	s = (time_t)t;
	gmtime_r(&s, &tm);
	snprintf(buf, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, (int)((t - (double)s) * 1000));
}

static void mon_clock(const struct bundle_json *o, const char *key,
		      char *buf, size_t size)
{
	mon_clock_t(bundle_json_num(o, key), buf, size);
}

/* "42.5 km/h (D)", or "-" before the first frame. */
static void mon_value(const struct bundle_json *sig, char *buf, size_t size)
{
	const struct bundle_json *v = bundle_json_get(sig, "value");
	const char *unit = bundle_json_str(sig, "unit");
	const char *label = bundle_json_str(sig, "label");

	if (!v || v->type != BJ_NUMBER) {
		snprintf(buf, size, "-");
		return;
	}
	snprintf(buf, size, "%s%s%s%s%s%s", v->str, unit ? " " : "",
		 unit ? unit : "", label ? " (" : "", label ? label : "",
		 label ? ")" : "");
}

enum mon_rank { RANK_VIOLATED, RANK_FAIL, RANK_WAITING, RANK_IDLE, RANK_OK };

static enum mon_rank mon_rule_rank(const struct bundle_json *r)
{
	const char *st = bundle_json_str(r, "state");
	const char *v = bundle_json_str(r, "verdict");

	if (st && !strcmp(st, "violated"))
		return RANK_VIOLATED;
	if (v && !strcmp(v, "FAIL"))
		return RANK_FAIL;
	if (st && !strcmp(st, "waiting"))
		return RANK_WAITING;
	if (st && !strcmp(st, "not_exercised"))
		return RANK_IDLE;
	return RANK_OK;
}

/* What a rule is doing, in words. */
static void mon_rule_state(const struct bundle_json *r, char *buf,
			   size_t size)
{
	switch (mon_rule_rank(r)) {
	case RANK_VIOLATED:
		snprintf(buf, size, "VIOLATED now  value %s  margin %s",
			 mon_num(r, "worst"), mon_num(r, "margin"));
		break;
	case RANK_FAIL:
		snprintf(buf, size, "FAIL so far (%llu)  worst %s  margin %s",
			 (unsigned long long)mon_u64(r, "violations"),
			 mon_num(r, "worst"), mon_num(r, "margin"));
		break;
	case RANK_WAITING:
		snprintf(buf, size, "waiting for its signals");
		break;
	case RANK_IDLE:
		snprintf(buf, size, "not exercised yet");
		break;
	case RANK_OK:
		snprintf(buf, size, "ok");
		break;
	}
}

static void mon_rule_counts(const struct bundle_json *rules, size_t counts[5])
{
	memset(counts, 0, 5 * sizeof(counts[0]));
	for (size_t i = 0; rules && i < rules->n; i++)
		counts[mon_rule_rank(&rules->items[i])]++;
}

static void mon_bus_line(const struct bundle_json *b, char *buf, size_t size)
{
	const char *load = mon_num(b, "load_pct");

	snprintf(buf, size,
		 "%-10s %-6s rx %6s/s  tx %6s/s  load %s%s  drops %llu",
		 bundle_json_str(b, "name") ? bundle_json_str(b, "name") : "?",
		 bundle_json_str(b, "state") ? bundle_json_str(b, "state") : "?",
		 mon_num(b, "rx_fps"), mon_num(b, "tx_fps"), load,
		 strcmp(load, "-") ? "%" : "",
		 (unsigned long long)mon_u64(b, "drops"));
}

/* ------------------------------------------------------------ plain mode */

/* One line: time, recording, buses, rule counts, the first signals. */
static void mon_plain_line(const struct bundle_json *snap, FILE *out)
{
	const struct bundle_json *buses = bundle_json_get(snap, "buses");
	const struct bundle_json *rules = bundle_json_get(snap, "rules");
	const struct bundle_json *sigs = bundle_json_get(snap, "signals");
	size_t counts[5];
	char clock[32], buf[256];

	mon_clock(snap, "t", clock, sizeof(clock));
	fprintf(out, "%s %s %s", clock,
		bundle_json_str(snap, "gateway") ? bundle_json_str(snap,
								   "gateway")
						 : "?",
		bundle_json_get(snap, "bundle") ? "recording" : "not-recording");
	for (size_t i = 0; buses && i < buses->n; i++) {
		const struct bundle_json *b = &buses->items[i];

		fprintf(out, " | %s %s rx %s/s tx %s/s drops %llu",
			bundle_json_str(b, "name"), bundle_json_str(b, "state"),
			mon_num(b, "rx_fps"), mon_num(b, "tx_fps"),
			(unsigned long long)mon_u64(b, "drops"));
	}
	mon_rule_counts(rules, counts);
	fprintf(out,
		" | rules %zu: %zu violated now, %zu FAIL, %zu ok, %zu not "
		"exercised, %zu waiting",
		rules ? rules->n : 0, counts[RANK_VIOLATED], counts[RANK_FAIL],
		counts[RANK_OK], counts[RANK_IDLE], counts[RANK_WAITING]);
	for (size_t i = 0; sigs && i < sigs->n; i++) {
		mon_value(&sigs->items[i], buf, sizeof(buf));
		fprintf(out, "%s %s=%s", i ? "," : " |",
			bundle_json_str(&sigs->items[i], "name"), buf);
	}
	fputc('\n', out);
	fflush(out);
}

/* A line per snapshot: the daemon sends one a second (MON_PLAIN_HZ). */
static int mon_plain(struct mon_stream *ms)
{
	for (;;) {
		struct bundle_json *snap;
		const char *err;

		if (mon_read(ms, true) < 0) {
			fprintf(stderr,
				"cangate monitor: the daemon closed the "
				"connection\n");
			return 1;
		}
		while ((snap = mon_next(ms))) {
			err = bundle_json_str(snap, "error");
			if (err) {
				fprintf(stderr, "cangate monitor: %s\n", err);
				bundle_json_free(snap);
				return 1;
			}
			mon_plain_line(snap, stdout);
			bundle_json_free(snap);
		}
	}
}

/* ------------------------------------------------------------ the screen */

enum mon_input { INPUT_NONE, INPUT_FILTER, INPUT_MARK };

struct mon {
	struct mon_stream *ms;
	struct bundle_json *snap; /* what is on screen */
	bool paused;
	enum mon_input input;
	char filter[MON_INPUT_MAX + 1], old_filter[MON_INPUT_MAX + 1];
	char mark[MON_INPUT_MAX + 1];
	char message[256];        /* last outcome (mark, filter error) */
	unsigned rows;            /* signal rows subscribed for */
	double t;                 /* time of the newest snapshot shown */
	char *seen;               /* its line after the time: to tell a */
	size_t seen_len, seen_cap; /* snapshot that changes nothing else */
};

/* Rows of the layout for a screen of h lines: returns the rule rows and
 * sets *sig_rows. */
static unsigned mon_layout(int h, size_t n_buses, size_t n_rules,
			   unsigned *sig_rows)
{
	/* header, buses, rules title, events title + rows, signals title,
	 * bottom line */
	int fixed = 1 + (int)n_buses + 1 + 1 + MON_EVENT_ROWS + 1 + 1;
	int avail = h - fixed, rr;

	if (avail < 2)
		avail = 2;
	rr = avail / 2;
	if ((size_t)rr > n_rules)
		rr = (int)n_rules;
	*sig_rows = (unsigned)(avail - rr);
	return (unsigned)rr;
}

static void mon_put(int y, const char *text, int attr)
{
	if (y >= LINES)
		return;
	if (attr)
		attron(attr);
	mvaddnstr(y, 0, text, COLS);
	if (attr)
		attroff(attr);
	clrtoeol();
}

static void mon_header(const struct mon *m)
{
	const struct bundle_json *s = m->snap;
	const char *bundle = s ? bundle_json_str(s, "bundle") : NULL;
	char line[512], clock[32];

	mon_clock_t(m->t, clock, sizeof(clock));
	snprintf(line, sizeof(line), " cangate monitor  %s  %s  %s%s%s",
		 s && bundle_json_str(s, "gateway") ? bundle_json_str(s, "gateway")
						    : "(connecting)",
		 clock, m->paused ? "[PAUSED]  " : "",
		 bundle ? "REC " : "not recording",
		 bundle ? (strrchr(bundle, '/') ? strrchr(bundle, '/') + 1
						 : bundle)
			: "");
	mon_put(0, line, A_REVERSE);
}

/*
 * Is the next line the snapshot on screen again but for its time (an idle
 * rig)? Then it is consumed and its time kept: the clock is all there is to
 * draw, nothing to parse. Otherwise it is remembered for the next call (the
 * caller parses and shows it).
 */
static bool mon_same_again(struct mon *m)
{
	struct mon_stream *ms = m->ms;
	char *nl = ms->len ? memchr(ms->buf, '\n', ms->len) : NULL;
	char *rest;
	double t;
	size_t len;

	if (!nl || m->paused || strncmp(ms->buf, "{\"t\":", 5))
		return false;
	t = strtod(ms->buf + 5, &rest);
	len = (size_t)(nl - rest);
	if (m->seen && len == m->seen_len && !memcmp(rest, m->seen, len)) {
		m->t = t;
		len = (size_t)(nl - ms->buf) + 1;
		memmove(ms->buf, nl + 1, ms->len - len);
		ms->len -= len;
		return true;
	}
	if (len > m->seen_cap) {
		char *n = realloc(m->seen, len);

		if (!n) {
			m->seen_len = 0;
			return false;
		}
		m->seen = n;
		m->seen_cap = len;
	}
	memcpy(m->seen, rest, len);
	m->seen_len = len;
	return false;
}

static void mon_draw(struct mon *m)
{
	const struct bundle_json *s = m->snap;
	const struct bundle_json *buses = s ? bundle_json_get(s, "buses") : NULL;
	const struct bundle_json *rules = s ? bundle_json_get(s, "rules") : NULL;
	const struct bundle_json *events = s ? bundle_json_get(s, "events") : NULL;
	const struct bundle_json *sigs = s ? bundle_json_get(s, "signals") : NULL;
	size_t nb = buses ? buses->n : 0, nr = rules ? rules->n : 0;
	unsigned sig_rows, rule_rows = mon_layout(LINES, nb, nr, &sig_rows);
	size_t counts[5], shown = 0;
	int name_w = 12;
	char line[512], clock[32], state[160];
	int y = 0;

	erase();
	mon_header(m);
	y++;
	for (size_t i = 0; i < nb; i++) {
		mon_bus_line(&buses->items[i], line, sizeof(line));
		mon_put(y++, line, 0);
	}
	mon_rule_counts(rules, counts);
	snprintf(line, sizeof(line),
		 "RULES %zu: %zu violated now, %zu FAIL, %zu ok, %zu not "
		 "exercised yet, %zu waiting",
		 nr, counts[RANK_VIOLATED], counts[RANK_FAIL], counts[RANK_OK],
		 counts[RANK_IDLE], counts[RANK_WAITING]);
	mon_put(y++, line, A_BOLD);
	/* names as wide as the longest, leaving room for the state */
	for (size_t i = 0; i < nr; i++) {
		const char *name = bundle_json_str(&rules->items[i], "rule");

		if (name && (int)strlen(name) > name_w)
			name_w = (int)strlen(name);
	}
	if (name_w > COLS - 44)
		name_w = COLS - 44 > 12 ? COLS - 44 : 12;
	/* the rules that need attention first */
	for (int rank = RANK_VIOLATED; rank <= RANK_OK && shown < rule_rows;
	     rank++) {
		for (size_t i = 0; i < nr && shown < rule_rows; i++) {
			const struct bundle_json *r = &rules->items[i];

			if ((int)mon_rule_rank(r) != rank)
				continue;
			mon_rule_state(r, state, sizeof(state));
			snprintf(line, sizeof(line), "  %-*.*s %s", name_w,
				 name_w, bundle_json_str(r, "rule"), state);
			mon_put(y++, line,
				rank <= RANK_FAIL ? A_BOLD : 0);
			shown++;
		}
	}
	mon_put(y++, "EVENTS (last violations and markers)", A_BOLD);
	for (size_t k = 0; k < MON_EVENT_ROWS; k++) {
		size_t n = events ? events->n : 0;

		if (k < n) {
			const struct bundle_json *e = &events->items[n - 1 - k];

			mon_clock(e, "t", clock, sizeof(clock));
			snprintf(line, sizeof(line), "  %s %-9s %s", clock,
				 bundle_json_str(e, "type"),
				 bundle_json_str(e, "text"));
			mon_put(y++, line, 0);
		} else {
			mon_put(y++, "", 0);
		}
	}
	snprintf(line, sizeof(line), "SIGNALS  filter: %s  (%zu of %llu)",
		 m->filter[0] ? m->filter : "(none: type /)",
		 sigs ? sigs->n : 0,
		 (unsigned long long)(s ? mon_u64(s, "signals_matched") : 0));
	mon_put(y++, line, A_BOLD);
	for (size_t i = 0; sigs && i < sigs->n && i < sig_rows; i++) {
		const struct bundle_json *g = &sigs->items[i];
		char val[200];

		mon_value(g, val, sizeof(val));
		snprintf(line, sizeof(line), "  %-36s %-28s %s",
			 bundle_json_str(g, "name"), val,
			 bundle_json_str(g, "bus"));
		mon_put(y++, line, 0);
	}
	if (m->input == INPUT_FILTER)
		snprintf(line, sizeof(line), "filter: %s_", m->filter);
	else if (m->input == INPUT_MARK)
		snprintf(line, sizeof(line), "mark text: %s_", m->mark);
	else if (m->message[0])
		snprintf(line, sizeof(line), "%s", m->message);
	else
		snprintf(line, sizeof(line),
			 "q quit  / filter signals  m mark  p pause");
	mon_put(LINES - 1, line, A_REVERSE);
	refresh();
}

/* Subscribe again when the filter or the room for signals changed. */
static int mon_resubscribe(struct mon *m)
{
	const struct bundle_json *buses =
		m->snap ? bundle_json_get(m->snap, "buses") : NULL;
	const struct bundle_json *rules =
		m->snap ? bundle_json_get(m->snap, "rules") : NULL;
	unsigned sig_rows;

	mon_layout(LINES, buses ? buses->n : 0, rules ? rules->n : 0,
		   &sig_rows);
	m->rows = sig_rows;
	return mon_subscribe(m->ms, "filter", m->filter, sig_rows,
			     MON_SCREEN_HZ);
}

static void mon_do_mark(struct mon *m)
{
	char line[CONTROL_LINE_MAX];
	char *reply, *err;
	struct bundle_json *j;
	char jerr[64];

	snprintf(line, sizeof(line), "mark %s\n", m->mark);
	reply = client_request("monitor", m->ms->path, line);
	clearok(stdscr, TRUE); /* a connection error went to the terminal */
	if (!reply) {
		snprintf(m->message, sizeof(m->message),
			 "mark failed: no reply from the daemon");
		return;
	}
	err = client_json_string(reply, "error");
	j = bundle_json_parse(reply, strlen(reply), jerr, sizeof(jerr));
	if (err)
		snprintf(m->message, sizeof(m->message), "mark failed: %s",
			 err);
	else if (j)
		snprintf(m->message, sizeof(m->message),
			 "mark recorded at %s (after frames.log line %llu)",
			 mon_num(j, "t"), (unsigned long long)mon_u64(j, "line"));
	free(err);
	bundle_json_free(j);
	free(reply);
}

/* One key; false to quit. */
static bool mon_key(struct mon *m, int ch)
{
	char *buf = m->input == INPUT_FILTER ? m->filter : m->mark;
	size_t n = strlen(buf);

	if (m->input == INPUT_NONE) {
		switch (ch) {
		case 'q':
		case 'Q':
			return false;
		case '/':
			m->input = INPUT_FILTER;
			m->message[0] = '\0';
			memcpy(m->old_filter, m->filter, sizeof(m->filter));
			break;
		case 'm':
		case 'M':
			m->input = INPUT_MARK;
			m->message[0] = '\0';
			m->mark[0] = '\0';
			break;
		case 'p':
		case 'P':
			m->paused = !m->paused;
			break;
		case KEY_RESIZE:
			mon_resubscribe(m);
			break;
		default:
			break;
		}
		return true;
	}
	switch (ch) {
	case 27: /* Esc */
		if (m->input == INPUT_FILTER) {
			memcpy(m->filter, m->old_filter, sizeof(m->filter));
			mon_resubscribe(m);
		}
		m->input = INPUT_NONE;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (m->input == INPUT_MARK && n)
			mon_do_mark(m);
		m->input = INPUT_NONE;
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		if (n)
			buf[n - 1] = '\0';
		if (m->input == INPUT_FILTER)
			mon_resubscribe(m);
		break;
	default:
		if (ch >= 0x20 && ch < 0x7f && n < MON_INPUT_MAX) {
			buf[n] = (char)ch;
			buf[n + 1] = '\0';
			if (m->input == INPUT_FILTER)
				mon_resubscribe(m);
		}
		break;
	}
	return true;
}

static int mon_screen(struct mon_stream *ms, const char *filter,
		      struct bundle_json *first)
{
	struct mon m;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	m.ms = ms;
	m.snap = first;
	m.t = bundle_json_num(first, "t");
	snprintf(m.filter, sizeof(m.filter), "%s", filter ? filter : "");
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	/* no check for typed keys in the middle of each refresh (two more
	 * system calls a snapshot): the views are short */
	typeahead(-1);
	curs_set(0);
	mon_resubscribe(&m); /* rows for this screen */
	mon_draw(&m);
	for (;;) {
		struct pollfd p[2] = { { ms->fd, POLLIN, 0 },
				       { STDIN_FILENO, POLLIN, 0 } };
		bool quit = false, dirty = false, clock = false;
		int ch;

		int n;

		/* no timeout: a key, a snapshot or SIGWINCH (EINTR, then
		 * KEY_RESIZE) wakes it, nothing else needs to */
		n = poll(p, 2, -1);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			struct bundle_json *snap;

			if (mon_read(ms, false) < 0) {
				rc = 1;
				snprintf(m.message, sizeof(m.message),
					 "the daemon closed the connection");
				break;
			}
			mon_drop_old(ms);
			clock = mon_same_again(&m);
			snap = clock ? NULL : mon_next(ms);
			if (snap && bundle_json_str(snap, "error")) {
				snprintf(m.message, sizeof(m.message), "%s",
					 bundle_json_str(snap, "error"));
				bundle_json_free(snap);
				dirty = true;
			} else if (snap && m.paused) {
				bundle_json_free(snap);
			} else if (snap) {
				bundle_json_free(m.snap);
				m.snap = snap;
				m.t = bundle_json_num(snap, "t");
				dirty = true;
			}
		}
		/* getch only for a key or a signal: it costs a system call */
		while ((p[1].revents || n < 0) && (ch = getch()) != ERR) {
			if (!mon_key(&m, ch)) {
				quit = true;
				break;
			}
			dirty = true;
		}
		if (quit)
			break;
		if (dirty) {
			mon_draw(&m);
		} else if (clock) {
			mon_header(&m);
			refresh();
		}
	}
	endwin();
	if (rc)
		fprintf(stderr, "cangate monitor: %s\n", m.message);
	bundle_json_free(m.snap);
	free(m.seen);
	return rc;
}

/* ------------------------------------------------------------ commands */

static const struct option mon_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "filter", required_argument, NULL, 'f' },
	{ "plain", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Connect and wait for the first line: a snapshot, or the daemon's error
 * (e.g. an unknown watch name). -1 after a message on stderr. */
static int mon_open(struct mon_stream *ms, const char *key, const char *value,
		    unsigned rows, unsigned hz, struct bundle_json **snap)
{
	struct bundle_json *first = NULL;
	const char *err;

	ms->fd = client_connect(ms->prog, ms->path);
	if (ms->fd < 0)
		return -1;
	if (mon_subscribe(ms, key, value, rows, hz) < 0)
		return -1;
	while (!(first = mon_next(ms))) {
		if (mon_read(ms, true) < 0) {
			fprintf(stderr,
				"cangate %s: the daemon closed the connection "
				"without a reply\n",
				ms->prog);
			return -1;
		}
	}
	err = bundle_json_str(first, "error");
	if (err) {
		fprintf(stderr, "cangate %s: %s\n", ms->prog, err);
		bundle_json_free(first);
		return -1;
	}
	*snap = first;
	return 0;
}

int cmd_monitor(int argc, char **argv)
{
	static const char usage[] =
		"usage: cangate monitor [-s SOCKET] [--filter TEXT] [--plain]\n";
	struct mon_stream ms = { "monitor", client_default_path(), -1, NULL,
				 0, 0 };
	const char *filter = NULL;
	struct bundle_json *first;
	bool plain = !isatty(STDOUT_FILENO);
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:f:h", mon_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ms.path = optarg;
			break;
		case 'f':
			filter = optarg;
			break;
		case 'p':
			plain = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* A view on the rig's own machine must not take CPU from the
	 * gateway (measured: scripts/bench-gateway with 50 monitors). */
	errno = 0;
	if (nice(MON_NICE) == -1 && errno)
		fprintf(stderr, "cangate monitor: nice: %s\n", strerror(errno));
	if (mon_open(&ms, "filter", filter, plain ? MON_PLAIN_ROWS : 10,
		     plain ? MON_PLAIN_HZ : MON_SCREEN_HZ, &first) < 0) {
		rc = 2;
	} else if (plain) {
		mon_plain_line(first, stdout);
		bundle_json_free(first);
		rc = mon_plain(&ms);
	} else {
		rc = mon_screen(&ms, filter, first);
	}
	if (ms.fd >= 0)
		close(ms.fd);
	free(ms.buf);
	return rc;
}

/* watch: the values printed last, to print changes only. */
struct watch_seen {
	char *name;
	char *text;
};

/* Print the signals of snap whose value changed; -1 out of memory. */
static int watch_print(const struct bundle_json *snap, struct watch_seen *seen,
		       size_t *n_seen, size_t max)
{
	const struct bundle_json *sigs = bundle_json_get(snap, "signals");

	for (size_t i = 0; sigs && i < sigs->n; i++) {
		const struct bundle_json *g = &sigs->items[i];
		const char *name = bundle_json_str(g, "name");
		const char *label = bundle_json_str(g, "label");
		const struct bundle_json *v = bundle_json_get(g, "value");
		char text[256];
		size_t k;

		if (!name || !v || v->type != BJ_NUMBER)
			continue;
		snprintf(text, sizeof(text), "%s%s%s", v->str,
			 label ? " " : "", label ? label : "");
		for (k = 0; k < *n_seen; k++)
			if (!strcmp(seen[k].name, name))
				break;
		if (k < *n_seen && !strcmp(seen[k].text, text))
			continue;
		if (k == *n_seen) {
			if (k == max)
				continue;
			seen[k].name = strdup(name);
			(*n_seen)++;
		}
		free(seen[k].text);
		seen[k].text = strdup(text);
		if (!seen[k].name || !seen[k].text)
			return -1;
		printf("%s %s %s\n", mon_num(g, "t"), name, text);
	}
	fflush(stdout);
	return 0;
}

int cmd_watch(int argc, char **argv)
{
	static const char usage[] =
		"usage: cangate watch [-s SOCKET] SIGNAL...\n";
	struct mon_stream ms = { "watch", client_default_path(), -1, NULL, 0,
				 0 };
	char list[CONTROL_LINE_MAX];
	struct watch_seen *seen = NULL;
	struct bundle_json *snap = NULL;
	size_t n_seen = 0, len = 0, max;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+s:h", mon_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ms.path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	list[0] = '\0';
	for (int i = optind; i < argc; i++) {
		int n = snprintf(list + len, sizeof(list) - len, "%s%s",
				 len ? "," : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(list) - len ||
		    !*argv[i] || strpbrk(argv[i], ", \t\"")) {
			fprintf(stderr, "cangate watch: bad signal name '%s' "
					"(or too many names)\n",
				argv[i]);
			return 2;
		}
		len += (size_t)n;
	}
	max = (size_t)(argc - optind);
	seen = calloc(max, sizeof(*seen));
	if (!seen || mon_open(&ms, "watch", list, 0, MON_WATCH_HZ, &snap) < 0) {
		rc = 2;
		goto out;
	}
	do {
		const char *err = bundle_json_str(snap, "error");

		if (err) {
			fprintf(stderr, "cangate watch: %s\n", err);
			rc = 1;
		} else if (watch_print(snap, seen, &n_seen, max) < 0) {
			rc = 2;
		}
		bundle_json_free(snap);
		if (rc)
			goto out;
		while (!(snap = mon_next(&ms)))
			if (mon_read(&ms, true) < 0)
				goto out; /* the daemon stopped: the end */
	} while (snap);
out:
	for (size_t k = 0; k < n_seen; k++) {
		free(seen[k].name);
		free(seen[k].text);
	}
	free(seen);
	if (ms.fd >= 0)
		close(ms.fd);
	free(ms.buf);
	return rc;
}
