/*
 * fuzz_bundle: the readers `cangate verify` runs on a bundle it did not
 * write: the JSON reader (manifest.json, verdicts.json, violations.jsonl),
 * the header text behind H_0, frames.chain lines and timestamps. Whatever
 * parses must serialize and parse back to the same thing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/core/bundle.h"
#include "daemon/core/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char err[256], line[BUNDLE_CHAIN_LINE_MAX];
	struct bundle_json *j = bundle_json_parse(s, size, err, sizeof(err));

	if (j) {
		struct bundle_buf a = {0}, b = {0};
		uint8_t h0[32];

		bundle_buf_json(&a, j);
		if (a.failed)
			abort();
		struct bundle_json *k = bundle_json_parse(a.p, a.len, err,
							  sizeof(err));
		if (!k)
			abort();
		bundle_buf_json(&b, k);
		if (b.len != a.len || memcmp(a.p, b.p, a.len))
			abort();
		bundle_header_h0(j, h0, err, sizeof(err));
		bundle_json_u64(j, "n", &(uint64_t){0});
		(void)bundle_json_num(j, "x");
		bundle_json_free(k);
		bundle_buf_free(&a);
		bundle_buf_free(&b);
		bundle_json_free(j);
	}

	struct bundle_block blk, again;
	if (bundle_chain_parse(s, size, &blk, err, sizeof(err)) == 0) {
		uint8_t prev[32] = {0};
		size_t n = bundle_chain_link(prev, &blk, line, sizeof(line));
		if (!n || bundle_chain_parse(line, n - 1, &again, err,
					     sizeof(err)) != 0)
			abort();
		if (again.seq != blk.seq || again.first != blk.first ||
		    again.last != blk.last || again.offset != blk.offset ||
		    again.length != blk.length || again.segment != blk.segment ||
		    strcmp(again.t_first, blk.t_first) ||
		    memcmp(again.digest, blk.digest, 32) ||
		    memcmp(again.h, blk.h, 32))
			abort();
	}
	uint64_t t;
	frame_parse_time(s, size, false, &t, err, sizeof(err));
	return 0;
}
