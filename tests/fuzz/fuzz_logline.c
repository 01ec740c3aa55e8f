/*
 * fuzz_logline: frame_parse_line() on arbitrary bytes (libFuzzer hands an
 * exact-size buffer, so ASan catches any read past len), and for every line
 * that parses, frame_format() re-parses to the same frame and is a fixed
 * point: format(parse(format(parse(x)))) == format(parse(x)).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f, g;
	char ifn[FRAME_IFNAME_MAX], ifn2[FRAME_IFNAME_MAX], err[128];
	char out[FRAME_LINE_MAX], out2[FRAME_LINE_MAX];
	int rc = frame_parse_line((const char *)data, size, &f, ifn, err,
				  sizeof(err));

	if (rc == FRAME_PARSE_ERROR) {
		/* Every error names a column and fits the buffer. */
		if (strncmp(err, "column ", 7) || strlen(err) >= sizeof(err))
			abort();
		return 0;
	}
	if (rc != FRAME_PARSE_OK)
		return 0;
	if (f.len > CANFD_MAX_DLEN || (!f.fd && f.len > CAN_MAX_DLEN) ||
	    strlen(ifn) == 0 || strlen(ifn) >= FRAME_IFNAME_MAX)
		abort();
	for (int ns = 0; ns <= 1; ns++) {
		size_t n = frame_format(&f, ifn, ns, out, sizeof(out));

		if (n >= sizeof(out) || n != strlen(out) || out[n - 1] != '\n')
			abort();
		if (frame_parse_line(out, n, &g, ifn2, err, sizeof(err)) !=
		    FRAME_PARSE_OK)
			abort();
		if (strcmp(ifn, ifn2))
			abort();
		/* Microseconds drop the nanosecond digits, nothing else. */
		if (!ns)
			g.t_ns = f.t_ns;
		if (memcmp(&f, &g, sizeof(f)))
			abort();
		size_t n2 = frame_format(&g, ifn2, ns, out2, sizeof(out2));
		if (!ns) {
			struct frame h;
			/* re-parse of the µs line formats to itself */
			if (frame_parse_line(out, n, &h, ifn2, err,
					     sizeof(err)) != FRAME_PARSE_OK)
				abort();
			n2 = frame_format(&h, ifn2, ns, out2, sizeof(out2));
		}
		if (n2 != n || memcmp(out, out2, n))
			abort();
	}
	return 0;
}
