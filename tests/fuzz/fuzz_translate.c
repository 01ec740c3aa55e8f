/*
 * fuzz_translate.c: [output] sections on arbitrary bytes, compiled against
 * the demo EV and the sample rig DBC (run from the source tree, as
 * scripts/fuzz does), then fed a few vehicle frames and ticks. Every error
 * must be one line with a location; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char header[] =
	"[gateway]\n"
	"include = vehicles/demo-ev.ini\n"
	"[bus vehicle]\n"
	"interface = vcan0\n"
	"fd = yes\n"
	"dbc = vehicles/demo-ev.dbc\n"
	"[bus rig]\n"
	"interface = vcan1\n"
	"fd = yes\n"
	"dbc = rigs/demo-rig.dbc\n";

static void sink(void *ctx, int bus, const struct frame *f, size_t output)
{
	(void)ctx;
	(void)output;
	if (bus != 1 || f->len > 64)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ids[] = { 0x0C0, 0x0C4, 0x1F0, 0x2F0, 0x120 };
	struct translate_sink ts = { sink, NULL };
	struct config_error err;
	struct config *cfg;
	struct translate *t;
	char line[600];
	char *buf = malloc(sizeof(header) + size);

	if (!buf)
		return 0;
	memcpy(buf, header, sizeof(header) - 1);
	memcpy(buf + sizeof(header) - 1, data, size);
	/* relative paths resolve against configs/, as in configs/demo.ini */
	cfg = config_load_buffer("configs/fuzz.ini", buf,
				 sizeof(header) - 1 + size, &err);
	free(buf);
	if (!cfg || config_load_dbcs(cfg, &err) < 0) {
		config_free(cfg);
		return 0;
	}
	t = translate_compile(cfg, &ts, &err);
	if (!t) {
		config_error_format(&err, line, sizeof(line));
		if (strchr(line, '\n') || err.msg[0] == '\0' || err.line == 0)
			__builtin_trap();
		config_free(cfg);
		return 0;
	}
	for (unsigned i = 0; i < 40; i++) {
		struct frame f;

		memset(&f, 0, sizeof(f));
		f.t_ns = 1000000000ull + i * 7000000ull;
		f.id = ids[i % 5];
		f.len = f.id == 0x2F0 ? 64 : 8;
		f.fd = f.len > 8;
		for (unsigned k = 0; k < f.len; k++)
			f.data[k] = (uint8_t)(i * 37 + k * 11);
		translate_frame(t, 0, &f);
		if (i % 3 == 0)
			translate_tick(t, f.t_ns + 3000000ull);
	}
	translate_free(t);
	config_free(cfg);
	return 0;
}
