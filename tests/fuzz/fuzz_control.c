/*
 * fuzz_control: control_parse() on arbitrary request lines (what any local
 * client may send to the control socket). Every input either parses, with
 * its strings NUL-terminated inside their buffers and mark text inside the
 * line, or gets a non-empty error message; never a crash or a read past the
 * line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/control_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_cmd cmd;
	char err[256];
	char *line;

	if (size > CONTROL_LINE_MAX)
		return 0; /* the server never hands longer lines to the parser */
	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	err[0] = '\0';
	if (control_parse(line, &cmd, err, sizeof(err)) < 0) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
	} else {
		if (strlen(cmd.vin) >= CONTROL_META_MAX ||
		    strlen(cmd.procedure) >= CONTROL_META_MAX ||
		    strlen(cmd.operator_name) >= CONTROL_META_MAX)
			abort();
		if (cmd.op == CONTROL_MARK &&
		    (cmd.text < line || cmd.text >= line + size || !*cmd.text))
			abort();
	}
	free(line);
	return 0;
}
