/*
 * fuzz_config.c: config_load_buffer() on arbitrary bytes, then the router
 * built from whatever loaded, fed a few frames. Includes name files relative
 * to a directory that does not exist; absolute ones may open real files,
 * which is fine: only regular files are read, and only up to the first error.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_error err;
	struct config *cfg;
	struct router *r;
	char line[600];

	cfg = config_load_buffer("/nonexistent-fuzz/fuzz.ini",
				 (const char *)data, size, &err);
	if (cfg == NULL) {
		/* errors are one line with a location */
		config_error_format(&err, line, sizeof(line));
		if (strchr(line, '\n') || err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	r = router_new(cfg, &err);
	if (r == NULL)
		__builtin_trap(); /* config_load validated every route */
	for (size_t b = 0; b < cfg->n_buses; b++) {
		static const uint32_t ids[] = { 0x0, 0x120, 0x7DF, 0x7FF };
		struct route_out out[8];
		struct frame f;

		memset(&f, 0, sizeof(f));
		for (size_t i = 0; i < 8; i++) {
			f.ext = i >= 4;
			f.id = f.ext ? 0x18FEF100u + (uint32_t)i : ids[i];
			f.fd = i & 1;
			if (router_route(r, (int)b, &f, i * 1000000u, out, 8) >
			    router_max_outputs(r))
				__builtin_trap();
		}
	}
	router_free(r);
	config_free(cfg);
	return 0;
}
