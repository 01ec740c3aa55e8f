/*
 * logread_asc.c: Vector ASC lines to frames.
 *
 * The lines CANalyzer, CANoe, can-utils' log2asc and python-can write:
 *   date Mon Nov 13 10:13:20.000 pm 2023     (or 24-hour, German months)
 *   base hex  timestamps absolute            (dec; relative: from the previous)
 *   Begin Triggerblock Mon Nov 13 10:13:20.000 pm 2023
 *      0.012000 1  123             Rx   d 8 01 02 03 04 05 06 07 08 ...
 *      0.013000 1  18FEF100x       Tx   r 8
 *      0.014000 1  ErrorFrame
 *      0.015000 CANFD   2 Rx 1A0   Name 1 0 d 32 00 01 ... 130000 130 3000 0 ...
 * A line is a frame when, after its time, it has a channel number and then
 * Rx or Tx after the ID (or ErrorFrame), or is a CANFD line: the test
 * python-can applies. Other lines (statistics, chip states, comments,
 * triggers, J1939 transport) are no frames and are passed over.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon/core/logread_impl.h"

struct tok {
	const char *s;
	size_t n;
};

/* Split up to max blank-separated tokens; returns how many. */
static size_t split(const char *line, size_t len, struct tok *t, size_t max)
{
	size_t n = 0, i = 0;

	while (n < max) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		t[n].s = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		t[n].n = (size_t)(line + i - t[n].s);
		n++;
	}
	return n;
}

static bool tok_is(const struct tok *t, const char *w)
{
	return t->n == strlen(w) && strncasecmp(t->s, w, t->n) == 0;
}

static int col(const char *line, const struct tok *t)
{
	return (int)(t->s - line) + 1;
}

/* An unsigned number in base; false when t is not one or exceeds max. */
static bool tok_num(const struct tok *t, int base, uint64_t max,
		    uint64_t *out)
{
	uint64_t v = 0;

	if (!t->n)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		char c = t->s[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;

		if (d >= base || v > (max - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return true;
}

/* "12.345678" to ns; *digits gets 6 for up to 6 fraction digits, else 9. */
static bool tok_time(const struct tok *t, uint64_t *ns, unsigned *digits)
{
	uint64_t sec = 0, frac = 0;
	size_t i = 0, nd = 0;

	for (; i < t->n && t->s[i] >= '0' && t->s[i] <= '9'; i++) {
		if (sec > (UINT64_MAX / 1000000000u - 9) / 10)
			return false;
		sec = sec * 10 + (uint64_t)(t->s[i] - '0');
	}
	if (i == 0 || i == t->n || t->s[i] != '.')
		return false;
	for (i++; i < t->n && t->s[i] >= '0' && t->s[i] <= '9'; i++, nd++) {
		if (nd == 9)
			return false;
		frac = frac * 10 + (uint64_t)(t->s[i] - '0');
	}
	if (i != t->n || nd == 0)
		return false;
	*digits = nd <= 6 ? 6 : 9;
	for (; nd < 9; nd++)
		frac *= 10;
	*ns = sec * 1000000000u + frac;
	return true;
}

static const struct {
	const char *name;
	int month;
} months[] = {
	{"jan", 1}, {"feb", 2}, {"mar", 3}, {"m\xc3\xa4r", 3}, {"m\xe4r", 3},
	{"mrz", 3}, {"apr", 4}, {"may", 5}, {"mai", 5}, {"jun", 6},
	{"jul", 7}, {"aug", 8}, {"sep", 9}, {"oct", 10}, {"okt", 10},
	{"nov", 11}, {"dec", 12}, {"dez", 12},
};

/*
 * "Mon Nov 13 10:13:20.153 pm 2023" (t[0..]) as python-can and Vector write
 * it: weekday, month, day, time with optional milliseconds, optional am/pm,
 * year. Local time. Returns false when it is not such a date.
 */
static bool parse_date(const struct tok *t, size_t n, uint64_t *ns)
{
	int month = 0, day, h, m, s, year, k = 0;
	uint32_t frac_ns = 0;
	uint64_t v;
	char tm[24];

	if (n < 5)
		return false;
	for (size_t i = 0; i < sizeof(months) / sizeof(months[0]); i++)
		if (tok_is(&t[1], months[i].name))
			month = months[i].month;
	if (!month || !tok_num(&t[2], 10, 31, &v) || v < 1)
		return false;
	day = (int)v;
	if (t[3].n >= sizeof(tm))
		return false;
	memcpy(tm, t[3].s, t[3].n);
	tm[t[3].n] = '\0';
	if (sscanf(tm, "%2d:%2d:%2d%n", &h, &m, &s, &k) != 3 || h > 23 ||
	    m > 59 || s > 60 || h < 0 || m < 0 || s < 0)
		return false;
	if (tm[k] == '.') {
		size_t nf = strspn(tm + k + 1, "0123456789");

		if (nf == 0 || nf > 9 || tm[k + 1 + nf])
			return false;
		/* A fraction of a second: ".5" is 500 ms (Vector writes
		 * milliseconds, cangate export microseconds). */
		for (size_t i = 0; i < 9; i++)
			frac_ns = frac_ns * 10 +
				  (uint32_t)(i < nf ? tm[k + 1 + i] - '0' : 0);
	} else if (tm[k]) {
		return false;
	}
	size_t yi = 4;
	if (tok_is(&t[4], "am") || tok_is(&t[4], "pm")) {
		if (h < 1 || h > 12)
			return false;
		h = h % 12 + (tok_is(&t[4], "pm") ? 12 : 0);
		yi = 5;
	}
	if (yi >= n || !tok_num(&t[yi], 10, 9999, &v) || v < 1970)
		return false;
	year = (int)v;
	*ns = logread_local_ns(year, month, day, h, m, s, frac_ns);
	return *ns != 0;
}

void asc_init(struct asc_state *a)
{
	memset(a, 0, sizeof(*a));
	a->base = 16;
}

static int bad(char *err, size_t errlen, const char *line, const struct tok *t,
	       const char *what)
{
	return logread_err(err, errlen, FRAME_PARSE_ERROR, "column %d: %s",
			   col(line, t), what);
}

/* A CAN ID with an optional trailing 'x' for 29 bits. */
static bool parse_id(const struct asc_state *a, const struct tok *t,
		     struct frame *f)
{
	struct tok id = *t;
	uint64_t v;

	if (id.n > 1 && (id.s[id.n - 1] == 'x' || id.s[id.n - 1] == 'X')) {
		f->ext = true;
		id.n--;
	}
	if (!tok_num(&id, a->base, f->ext ? CAN_EFF_MASK : CAN_SFF_MASK, &v))
		return false;
	f->id = (uint32_t)v;
	return true;
}

/* n data bytes from t[0..avail). */
static int parse_data(const struct asc_state *a, const char *line,
		      const struct tok *t, size_t avail, size_t n,
		      struct frame *f, const struct tok *at, char *err,
		      size_t errlen)
{
	uint64_t v;

	if (avail < n)
		return logread_err(err, errlen, FRAME_PARSE_ERROR,
				   "column %d: %zu data bytes, %zu given",
				   col(line, at), n, avail);
	for (size_t i = 0; i < n; i++) {
		if (!tok_num(&t[i], a->base, 255, &v))
			return bad(err, errlen, line, &t[i], "bad data byte");
		f->data[i] = (uint8_t)v;
	}
	f->len = (uint8_t)n;
	return FRAME_PARSE_OK;
}

static int set_dir(const struct tok *t, struct frame *f)
{
	if (tok_is(t, "Rx"))
		f->dir = FRAME_DIR_RX;
	else if (tok_is(t, "Tx"))
		f->dir = FRAME_DIR_TX;
	else
		return -1;
	return 0;
}

static bool set_channel(const struct tok *t, char ifname[FRAME_IFNAME_MAX])
{
	uint64_t ch;

	if (!tok_num(t, 10, 65535, &ch))
		return false;
	snprintf(ifname, FRAME_IFNAME_MAX, "%u", (unsigned)ch);
	return true;
}

/* "CANFD ch dir id [name] brs esi dlc len data... [dur len flags ...]" */
static int asc_fd(const struct asc_state *a, const char *line,
		  const struct tok *t, size_t n, struct frame *f,
		  char ifname[FRAME_IFNAME_MAX], char *err, size_t errlen)
{
	size_t i = 4;
	uint64_t brs, esi, dlc, dlen, flags = 0x1000;
	int rc;

	if (n < 3 || !set_channel(&t[1], ifname))
		return n < 2 ? logread_err(err, errlen, FRAME_PARSE_ERROR,
					   "CANFD line without a channel")
			     : bad(err, errlen, line, &t[1], "bad channel");
	if (n > 3 && tok_is(&t[3], "ErrorFrame")) {
		f->err = true;
		return set_dir(&t[2], f) < 0 ?
			       bad(err, errlen, line, &t[2], "expected Rx or Tx") :
			       FRAME_PARSE_OK;
	}
	if (set_dir(&t[2], f) < 0)
		return bad(err, errlen, line, &t[2], "expected Rx or Tx");
	if (n < 4 || !parse_id(a, &t[3], f))
		return n < 4 ? bad(err, errlen, line, &t[2], "no CAN ID")
			     : bad(err, errlen, line, &t[3], "bad CAN ID");
	/* A symbolic message name may follow the ID. */
	if (i < n && !tok_num(&t[i], 2, 1, &brs))
		i++;
	if (i + 4 > n)
		return logread_err(err, errlen, FRAME_PARSE_ERROR,
				   "column %d: CANFD line cut short",
				   col(line, &t[n - 1]));
	if (!tok_num(&t[i], 2, 1, &brs) || !tok_num(&t[i + 1], 2, 1, &esi))
		return bad(err, errlen, line, &t[i], "bad BRS or ESI flag");
	if (!tok_num(&t[i + 2], 16, 15, &dlc))
		return bad(err, errlen, line, &t[i + 2], "bad DLC");
	if (!tok_num(&t[i + 3], 10, 64, &dlen))
		return bad(err, errlen, line, &t[i + 3], "bad data length");
	i += 4;
	if (n >= i + dlen + 3 &&
	    !tok_num(&t[i + dlen + 2], 16, UINT32_MAX, &flags))
		return bad(err, errlen, line, &t[i + dlen + 2], "bad flags");
	if (!(flags & 0x1000)) {
		/* A classic frame on an FD channel. */
		if (flags & 0x10) {
			f->rtr = true;
			f->len = (uint8_t)(dlc > 8 ? 8 : dlc);
			return FRAME_PARSE_OK;
		}
		if (dlen > 8)
			return bad(err, errlen, line, &t[i - 1],
				   "classic frame with more than 8 bytes");
	} else {
		f->fd = true;
		f->fd_flags = (uint8_t)((brs ? CANFD_BRS : 0) |
					(esi ? CANFD_ESI : 0));
		if (logread_fd_len[dlc] != dlen)
			return bad(err, errlen, line, &t[i - 1],
				   "data length does not match the DLC");
	}
	rc = parse_data(a, line, &t[i], n - i, (size_t)dlen, f, &t[i - 1],
			err, errlen);
	if (rc == FRAME_PARSE_OK && !f->fd && dlc > 8 && dlen == 8)
		f->raw_dlc = (uint8_t)dlc;
	return rc;
}

/* "ch id dir d|r [dlc] data..." (t[0] is the channel) */
static int asc_classic(const struct asc_state *a, const char *line,
		       const struct tok *t, size_t n, struct frame *f,
		       char ifname[FRAME_IFNAME_MAX], char *err, size_t errlen)
{
	uint64_t dlc = 0;
	int rc;

	set_channel(&t[0], ifname);
	if (!parse_id(a, &t[1], f))
		return bad(err, errlen, line, &t[1], "bad CAN ID");
	if (n < 4)
		return bad(err, errlen, line, &t[2], "no d or r after Rx/Tx");
	if (tok_is(&t[3], "r")) {
		f->rtr = true;
		if (n > 4 && !tok_num(&t[4], a->base, 15, &dlc))
			return bad(err, errlen, line, &t[4], "bad DLC");
		f->len = (uint8_t)(dlc > 8 ? 8 : dlc);
		return FRAME_PARSE_OK;
	}
	if (!tok_is(&t[3], "d"))
		return bad(err, errlen, line, &t[3], "expected d or r");
	if (n < 5 || !tok_num(&t[4], a->base, 15, &dlc))
		return n < 5 ? bad(err, errlen, line, &t[3], "no DLC")
			     : bad(err, errlen, line, &t[4], "bad DLC");
	rc = parse_data(a, line, &t[5], n - 5, dlc > 8 ? 8 : (size_t)dlc, f,
			&t[4], err, errlen);
	if (rc == FRAME_PARSE_OK && dlc > 8)
		f->raw_dlc = (uint8_t)dlc;
	return rc;
}

/* Enough tokens for an FD line with 64 bytes and its trailer. */
#define ASC_TOKENS 96

int asc_line(struct asc_state *a, uint64_t lineno, const char *line,
	     size_t len, struct frame *f, char ifname[FRAME_IFNAME_MAX],
	     unsigned *digits, char *err, size_t errlen)
{
	struct tok t[ASC_TOKENS];
	size_t n;
	uint64_t rel, ns;
	int rc;

	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	n = split(line, len, t, ASC_TOKENS);
	if (!n)
		return FRAME_PARSE_SKIP;
	if (tok_is(&t[0], "date")) {
		/* Said at the first frame, unless a trigger block gives the
		 * start (python-can writes a broken year here, then a good
		 * "Begin Triggerblock"). */
		if (!parse_date(t + 1, n - 1, &ns)) {
			a->bad_date_line = lineno;
			return FRAME_PARSE_SKIP;
		}
		a->start_ns = a->last_ns = ns;
		a->bad_date_line = 0;
		return FRAME_PARSE_SKIP;
	}
	if (tok_is(&t[0], "base")) {
		if (n < 2 || !(tok_is(&t[1], "hex") || tok_is(&t[1], "dec")))
			return bad(err, errlen, line, &t[0],
				   "expected base hex or base dec");
		a->base = tok_is(&t[1], "hex") ? 16 : 10;
		a->relative = n >= 4 && tok_is(&t[3], "relative");
		return FRAME_PARSE_SKIP;
	}
	/* A trigger block may restart the clock (python-can writes its
	 * start there, with the first frame's time). */
	if (n >= 2 && tok_is(&t[0], "begin") && tok_is(&t[1], "triggerblock")) {
		if (n > 2) {
			if (!parse_date(t + 2, n - 2, &ns))
				return bad(err, errlen, line, &t[2],
					   "date not understood");
			a->start_ns = a->last_ns = ns;
			a->bad_date_line = 0;
		}
		return FRAME_PARSE_SKIP;
	}
	if (n < 3 || !tok_time(&t[0], &rel, digits))
		return FRAME_PARSE_SKIP;

	memset(f, 0, sizeof(*f));
	if (tok_is(&t[1], "CANFD"))
		rc = asc_fd(a, line, t + 1, n - 1, f, ifname, err, errlen);
	else if (!tok_num(&t[1], 10, 65535, &ns))
		return FRAME_PARSE_SKIP;
	else if (tok_is(&t[2], "ErrorFrame"))
		rc = set_channel(&t[1], ifname) ? (f->err = true, FRAME_PARSE_OK)
						: FRAME_PARSE_SKIP;
	else if (n < 4 || set_dir(&t[3], f) < 0)
		return FRAME_PARSE_SKIP; /* statistics, chip state, J1939TP, TxRq */
	else
		rc = asc_classic(a, line, t + 1, n - 1, f, ifname, err, errlen);
	if (rc != FRAME_PARSE_OK)
		return rc;
	if (f->err)
		f->len = CAN_ERR_DLC;
	if (a->relative) {
		a->last_ns += rel;
		f->t_ns = a->last_ns;
	} else {
		f->t_ns = a->start_ns + rel;
	}
	if (a->bad_date_line) {
		rc = logread_err(err, errlen, FRAME_PARSE_ERROR,
				 "the date on line %llu is not understood: "
				 "times count from 1970",
				 (unsigned long long)a->bad_date_line);
		a->bad_date_line = 0;
		a->held = true;
		return rc;
	}
	return FRAME_PARSE_OK;
}
