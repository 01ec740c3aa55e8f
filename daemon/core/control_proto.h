/*
 * control_proto.h: the control socket's request grammar (control.h has the
 * protocol as a whole). Pure, so the CLI and the fuzz target share it.
 */
#ifndef CANGATE_CONTROL_PROTO_H
#define CANGATE_CONTROL_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define CONTROL_LINE_MAX 1024
#define CONTROL_DEFAULT_PATH "/run/cangate/control.sock"
#define CONTROL_META_MAX 128
#define CONTROL_ROWS_MAX 1000 /* signals per snapshot, at most */
#define CONTROL_HZ_MAX 10     /* snapshots a second, at most (and default) */

enum control_op {
	CONTROL_STATUS,
	CONTROL_STATUS_JSON,
	CONTROL_MARK,
	CONTROL_SESSION_START,
	CONTROL_SESSION_STOP,
	CONTROL_SUBSCRIBE,
};

struct control_cmd {
	enum control_op op;
	const char *text; /* mark: points into the parsed line */
	char vin[CONTROL_META_MAX];
	char procedure[CONTROL_META_MAX];
	char operator_name[CONTROL_META_MAX];
	bool has_vin, has_procedure, has_operator;
	/* subscribe: signal selection (control.h) */
	char filter[CONTROL_META_MAX];
	char watch[CONTROL_LINE_MAX];
	char rows[8];
	char hz[8];
	bool has_filter, has_watch, has_rows, has_hz;
};

/* Parse one request line (without its newline). 0, or -1 with errmsg. */
int control_parse(const char *line, struct control_cmd *cmd, char *errmsg,
		  size_t errlen);

#endif
