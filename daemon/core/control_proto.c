/*
 * control_proto.c: the control socket's request grammar. Pure: shared by
 * the daemon (control.c) and its fuzz target. See control_proto.h.
 */
#include <stdio.h>
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

static int ctl_session_args(const char *s, struct control_cmd *cmd,
			    char *errmsg, size_t errlen)
{
	for (;;) {
		char key[32];
		const char *eq;
		char *dst;
		bool *has;
		size_t klen;

		s = ctl_skip_ws(s);
		if (!*s)
			return 0;
		eq = strchr(s, '=');
		klen = eq ? (size_t)(eq - s) : 0;
		if (!eq || klen == 0 || klen >= sizeof(key) ||
		    memchr(s, ' ', klen) || memchr(s, '\t', klen)) {
			snprintf(errmsg, errlen,
				 "session start: expected key=value");
			return -1;
		}
		memcpy(key, s, klen);
		key[klen] = '\0';
		if (!strcmp(key, "vin")) {
			dst = cmd->vin;
			has = &cmd->has_vin;
		} else if (!strcmp(key, "procedure")) {
			dst = cmd->procedure;
			has = &cmd->has_procedure;
		} else if (!strcmp(key, "operator")) {
			dst = cmd->operator_name;
			has = &cmd->has_operator;
		} else {
			snprintf(errmsg, errlen,
				 "session start: unknown key '%s' (vin, "
				 "procedure, operator)",
				 key);
			return -1;
		}
		if (*has) {
			snprintf(errmsg, errlen, "session start: duplicate %s",
				 key);
			return -1;
		}
		s = ctl_value(eq + 1, dst, CONTROL_META_MAX, errmsg, errlen);
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
			return ctl_session_args(q, cmd, errmsg, errlen);
		}
		if (q && !strcmp(w2, "stop") && !*ctl_skip_ws(q)) {
			cmd->op = CONTROL_SESSION_STOP;
			return 0;
		}
		snprintf(errmsg, errlen,
			 "usage: session start [k=v ...] | session stop");
		return -1;
	}
	snprintf(errmsg, errlen, "unknown command '%s'", w1);
	return -1;
}
