/*
 * control_proto.c: the control socket's request grammar. Pure: shared by
 * the daemon (control.c) and its fuzz target. See control_proto.h.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/control_proto.h"

static const char *ctl_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Next word of s into out; returns the position after it or NULL if none. */
static const char *ctl_word(const char *s, char *out, size_t size)
{
	size_t n = 0;

	s = ctl_skip_ws(s);
	if (!*s)
		return NULL;
	while (*s && *s != ' ' && *s != '\t') {
		if (n + 1 < size)
			out[n++] = *s;
		s++;
	}
	out[n] = '\0';
	return s;
}

/* A value: bare word or "quoted". NULL with errmsg on error. */
static const char *ctl_value(const char *s, char *out, size_t size,
			     char *errmsg, size_t errlen)
{
	size_t n = 0;

	if (*s != '"') {
		while (*s && *s != ' ' && *s != '\t') {
			if (n + 1 >= size) {
				snprintf(errmsg, errlen, "value too long");
				return NULL;
			}
			out[n++] = *s++;
		}
		out[n] = '\0';
		return s;
	}
	s++;
	while (*s && *s != '"') {
		if (*s == '\\') {
			s++;
			if (*s != '"' && *s != '\\') {
				snprintf(errmsg, errlen,
					 "bad escape in quoted value");
				return NULL;
			}
		}
		if (n + 1 >= size) {
			snprintf(errmsg, errlen, "value too long");
			return NULL;
		}
		out[n++] = *s++;
	}
	if (*s != '"') {
		snprintf(errmsg, errlen, "unterminated quoted value");
		return NULL;
	}
	out[n] = '\0';
	s++;
	if (*s && *s != ' ' && *s != '\t') {
		snprintf(errmsg, errlen, "garbage after quoted value");
		return NULL;
	}
	return s;
}

struct ctl_key {
	const char *name;
	size_t off_val, off_has, size;
};

#define CTL_KEY(name, field)                                                   \
	{ #name, offsetof(struct control_cmd, field),                          \
	  offsetof(struct control_cmd, has_##field),                           \
	  sizeof(((struct control_cmd *)0)->field) }

static const struct ctl_key ctl_session_keys[] = {
	{ "vin", offsetof(struct control_cmd, vin),
	  offsetof(struct control_cmd, has_vin), CONTROL_META_MAX },
	{ "procedure", offsetof(struct control_cmd, procedure),
	  offsetof(struct control_cmd, has_procedure), CONTROL_META_MAX },
	{ "operator", offsetof(struct control_cmd, operator_name),
	  offsetof(struct control_cmd, has_operator), CONTROL_META_MAX },
	{ NULL, 0, 0, 0 },
};

static const struct ctl_key ctl_subscribe_keys[] = {
	CTL_KEY(filter, filter),
	CTL_KEY(watch, watch),
	CTL_KEY(rows, rows),
	CTL_KEY(hz, hz),
	{ NULL, 0, 0, 0 },
};

/* key=value arguments of `what` from the keys table. */
static int ctl_args(const char *s, const char *what,
		    const struct ctl_key *keys, struct control_cmd *cmd,
		    char *errmsg, size_t errlen)
{
	for (;;) {
		char key[32], names[96];
		const struct ctl_key *k;
		const char *eq;
		size_t klen, n = 0;
		bool *has;

		s = ctl_skip_ws(s);
		if (!*s)
			return 0;
		eq = strchr(s, '=');
		klen = eq ? (size_t)(eq - s) : 0;
		if (!eq || klen == 0 || klen >= sizeof(key) ||
		    memchr(s, ' ', klen) || memchr(s, '\t', klen)) {
			snprintf(errmsg, errlen, "%s: expected key=value",
				 what);
			return -1;
		}
		memcpy(key, s, klen);
		key[klen] = '\0';
		for (k = keys; k->name && strcmp(k->name, key); k++)
			;
		if (!k->name) {
			names[0] = '\0';
			for (k = keys; k->name; k++)
				n += (size_t)snprintf(names + n,
						      sizeof(names) - n, "%s%s",
						      n ? ", " : "", k->name);
			snprintf(errmsg, errlen, "%s: unknown key '%s' (%s)",
				 what, key, names);
			return -1;
		}
		has = (bool *)((char *)cmd + k->off_has);
		if (*has) {
			snprintf(errmsg, errlen, "%s: duplicate %s", what, key);
			return -1;
		}
		s = ctl_value(eq + 1, (char *)cmd + k->off_val, k->size,
			      errmsg, errlen);
		if (!s)
			return -1;
		*has = true;
	}
}

int control_parse(const char *line, struct control_cmd *cmd, char *errmsg,
		  size_t errlen)
{
	char w1[16], w2[16];
	const char *p;

	memset(cmd, 0, sizeof(*cmd));
	for (const char *c = line; *c; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			snprintf(errmsg, errlen, "control character in request");
			return -1;
		}
	}
	p = ctl_word(line, w1, sizeof(w1));
	if (!p) {
		snprintf(errmsg, errlen, "empty request");
		return -1;
	}
	if (!strcmp(w1, "status")) {
		const char *q = ctl_word(p, w2, sizeof(w2));

		if (!q) {
			cmd->op = CONTROL_STATUS;
			return 0;
		}
		if (!strcmp(w2, "json") && !*ctl_skip_ws(q)) {
			cmd->op = CONTROL_STATUS_JSON;
			return 0;
		}
		snprintf(errmsg, errlen, "usage: status [json]");
		return -1;
	}
	if (!strcmp(w1, "mark")) {
		p = ctl_skip_ws(p);
		if (!*p) {
			snprintf(errmsg, errlen, "usage: mark TEXT");
			return -1;
		}
		cmd->op = CONTROL_MARK;
		cmd->text = p;
		return 0;
	}
	if (!strcmp(w1, "session")) {
		const char *q = ctl_word(p, w2, sizeof(w2));

		if (q && !strcmp(w2, "start")) {
			cmd->op = CONTROL_SESSION_START;
			return ctl_args(q, "session start", ctl_session_keys,
					cmd, errmsg, errlen);
		}
		if (q && !strcmp(w2, "stop") && !*ctl_skip_ws(q)) {
			cmd->op = CONTROL_SESSION_STOP;
			return 0;
		}
		snprintf(errmsg, errlen,
			 "usage: session start [k=v ...] | session stop");
		return -1;
	}
	if (!strcmp(w1, "subscribe")) {
		char *end;
		unsigned long rows;

		cmd->op = CONTROL_SUBSCRIBE;
		if (ctl_args(p, "subscribe", ctl_subscribe_keys, cmd, errmsg,
			     errlen) < 0)
			return -1;
		if (cmd->has_rows) {
			rows = strtoul(cmd->rows, &end, 10);
			if (*end || end == cmd->rows || rows > CONTROL_ROWS_MAX) {
				snprintf(errmsg, errlen,
					 "subscribe: rows must be 0..%d",
					 CONTROL_ROWS_MAX);
				return -1;
			}
		}
		if (cmd->has_hz) {
			unsigned long hz = strtoul(cmd->hz, &end, 10);

			if (*end || end == cmd->hz || !isdigit((unsigned char)
						       cmd->hz[0]) ||
			    hz < 1 || hz > CONTROL_HZ_MAX) {
				snprintf(errmsg, errlen,
					 "subscribe: hz must be 1..%d "
					 "(snapshots a second), not '%s'",
					 CONTROL_HZ_MAX, cmd->hz);
				return -1;
			}
		}
		return 0;
	}
	snprintf(errmsg, errlen, "unknown command '%s'", w1);
	return -1;
}
