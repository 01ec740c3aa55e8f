/*
 * fuzz_logread: the log reader (candump, Vector ASC, Vector BLF with its
 * zlib containers) on arbitrary bytes. libFuzzer's buffer is exact-size, so
 * ASan catches any read past it. Every frame handed out must be a frame
 * frame_format() can write and frame_parse_line() reads back the same, and
 * every bad record must come with a one-line message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/core/logread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logread *r;
	struct logread_rec rec;
	char err[160], where[256], line[FRAME_LINE_MAX], ifn[FRAME_IFNAME_MAX];
	uint64_t last_pos = 0;
	int rc, n = 0;

	setenv("TZ", "UTC", 0);
	r = logread_open_mem("fuzz", data, size);
	if (!r)
		abort();
	while ((rc = logread_next(r, &rec, err, sizeof(err))) != LOGREAD_END) {
		/* Each call moves on: no record comes twice for ever. */
		if (++n > 1000000)
			abort();
		if (rc == LOGREAD_OTHER) {
			size_t len;

			if (!logread_line(r, &len) || memchr(logread_line(r, &len), '\n', len))
				abort();
			continue;
		}
		if (rc != LOGREAD_FRAME) {
			if (rc != LOGREAD_BAD && rc != LOGREAD_FATAL)
				abort();
			if (!err[0] || strchr(err, '\n') ||
			    strlen(err) >= sizeof(err))
				abort();
			logread_where(r, where, sizeof(where));
			continue;
		}
		struct frame g;
		size_t len = strnlen(rec.ifname, FRAME_IFNAME_MAX);

		if (len == 0 || len == FRAME_IFNAME_MAX ||
		    rec.f.len > CANFD_MAX_DLEN ||
		    (!rec.f.fd && rec.f.len > CAN_MAX_DLEN) ||
		    (rec.digits != 6 && rec.digits != 9) || rec.pos < last_pos)
			abort();
		last_pos = rec.pos;
		/* Interface names from ASC/BLF are numbers, from candump any
		 * non-blank text: all print and read back. */
		frame_format(&rec.f, rec.ifname, true, line, sizeof(line));
		if (frame_parse_line(line, strlen(line), &g, ifn, err,
				     sizeof(err)) != FRAME_PARSE_OK ||
		    strcmp(ifn, rec.ifname) || g.t_ns != rec.f.t_ns ||
		    g.id != rec.f.id || g.len != rec.f.len ||
		    (!g.rtr && memcmp(g.data, rec.f.data, g.len)))
			abort();
	}
	logread_free(r);
	return 0;
}
