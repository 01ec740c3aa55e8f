/*
 * control.h: the control socket (unix stream) and its line protocol.
 *
 * One request per line, one JSON object per response line:
 *   status                        {"text":"<readable table>"}
 *   status json                   the status object (gateway_status_json)
 *   mark TEXT                     {"ok":true,"t":SECONDS,"line":N}: when,
 *                                 and the frames.log line it follows
 *   session start [k=v ...]       {"ok":true,"bundle":DIR}; keys vin,
 *                                 procedure, operator; v is a bare word or
 *                                 a "double-quoted" string with \" and \\
 *                                 escapes
 *   session stop                  {"ok":true,"bundle":DIR,"verdicts":
 *                                 {"PASS":N,"FAIL":N,"NOT_EXERCISED":N,
 *                                 "INCONCLUSIVE":N}}; the bundle is sealed
 *                                 in a worker: status json's
 *                                 recording.closing lists it until done
 *   subscribe [k=v ...]           the connection becomes a stream of
 *                                 snapshot lines (control_stream.h)
 * Anything else gets {"error":"..."} and is counted; the connection stays
 * open. A line longer than CONTROL_LINE_MAX closes the connection after the
 * error. The caller's uid (SO_PEERCRED) goes into the events that mark and
 * session commands record.
 *
 * No client may lock operators out: at most CONTROL_MAX_CONN clients at
 * once and CONTROL_MAX_CONN_PER_UID per uid other than root; a request line
 * must be complete within CONTROL_LINE_S of its first byte (else an error
 * and the connection is closed); idle clients are dropped after
 * CONTROL_IDLE_S. When every slot is taken, root still gets in: the
 * connection quiet longest (a non-root one first) is closed for it.
 *
 * The socket is created under umask 0117, then chmod 0660: members of the
 * socket's group may connect. A stale socket file (nobody listening) is
 * replaced; a live one is an error (another daemon runs).
 */
#ifndef CANGATE_CONTROL_H
#define CANGATE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <ev.h>

#include "daemon/core/control_proto.h"

#define CONTROL_MAX_CONN 16
#define CONTROL_MAX_CONN_PER_UID 4
#define CONTROL_LINE_S 5.
#define CONTROL_IDLE_S 30.

/* The limits above, as a running server holds them (tests shorten them). */
struct control_limits {
	double line_s;
	double idle_s;
	unsigned per_uid;
};

struct gateway;

/* Run cmd against gw for a caller with uid; writes one JSON response line
 * (with '\n') to out. Returns 0, or -1 when the request failed (the
 * response holds the error). */
int control_execute(struct gateway *gw, const struct control_cmd *cmd,
		    long uid, FILE *out);

/* {"error":"msg"} and a newline. */
void control_reply_error(FILE *out, const char *msg);

struct control;

/* Listen on path. NULL with errmsg on failure. */
struct control *control_new(struct ev_loop *loop, const char *path,
			    struct gateway *gw, char *errmsg, size_t errlen);
/* Give the socket file to uid:gid (before dropping privileges). */
int control_chown(struct control *c, uid_t uid, gid_t gid);
/* Applies to connections accepted from now on. */
void control_set_limits(struct control *c, const struct control_limits *l);
/* Close every connection, remove the socket file. */
void control_free(struct control *c);

#endif
