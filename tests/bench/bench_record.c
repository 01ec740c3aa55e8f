/*
 * bench_record: how many frames per second the evidence recorder logs,
 * hashes and makes durable (fdatasync of frames.log and frames.chain per
 * block of 4096) in a temporary directory, and how fast `cangate verify`
 * checks the result; "cpu" is the same without the per-block fdatasync
 * (blocks of 2^20 frames), to separate CPU cost from disk latency. Two
 * rates: what the caller's loop spends per frame (the session's writer
 * thread writes and syncs), and frames on disk (chain lines synced) per
 * second of the whole run, which the loop cannot outrun for long (it
 * waits when the writer is 4 MiB behind). Target: the recorder never
 * limits the gateway below 100 k frames/s on disk; exits 1 when it would.
 *
 *   bench_record [FRAMES]      (default 2000000; BENCH_TMP or TMPDIR for the dir)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"

#define TARGET 100000.0

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *base, uint64_t n, uint32_t block_frames,
	       uint32_t block_ms, const char *label, double *rate_out)
{
	struct config cfg;
	struct evidence_status st;
	char err[256], dir[512];
	struct frame f;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(dir, sizeof(dir), "%s/%s", base, label);
	cfg.evidence.dir = dir;
	cfg.evidence.enabled = true;
	cfg.evidence.block_frames = block_frames;
	cfg.evidence.block_ms = block_ms;
	uint64_t t0 = 1764390000000000000ull;
	struct evidence *ev = evidence_open(&cfg, NULL, t0, err, sizeof(err));
	if (!ev) {
		fprintf(stderr, "bench_record: %s\n", err);
		return -1;
	}
	memset(&f, 0, sizeof(f));
	f.len = 8;
	double a = now_s();
	for (uint64_t i = 0; i < n; i++) {
		f.t_ns = t0 + i * 10000u; /* 100 k frames/s of bus time */
		f.id = 0x100 + (uint32_t)(i & 7);
		f.dir = i & 1 ? FRAME_DIR_TX : FRAME_DIR_RX;
		memcpy(f.data, &i, 8);
		if (!evidence_frame(ev, &f, i & 1 ? "can1" : "can0")) {
			evidence_get_status(ev, &st);
			fprintf(stderr, "bench_record: recording stopped: %s\n",
				st.error);
			return -1;
		}
	}
	double b = now_s();
	uint64_t closed = n / block_frames * block_frames;
	struct timespec ms = {0, 1000000};
	do {
		evidence_get_status(ev, &st);
		if (st.frames_on_disk < closed)
			nanosleep(&ms, NULL);
	} while (st.frames_on_disk < closed && st.recording);
	double synced = now_s();
	char bdir[512];
	snprintf(bdir, sizeof(bdir), "%s", st.dir);
	if (evidence_close(ev, t0 + n * 10000u, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_record: close: %s\n", err);
		return -1;
	}
	double c = now_s();
	struct bundle_verify_result r;
	int rc = bundle_verify(bdir, NULL, &r);
	double d = now_s();
	*rate_out = (double)closed / (synced - a);
	printf("bench_record: %s: %" PRIu64 " frames, blocks of %u, fdatasync per block: "
	       "loop %.3f s, %.0f frames/s (%.0f ns/frame, %" PRIu64 " waits for the writer); "
	       "on disk %.3f s, %.0f frames/s; close (hash files, report) %.3f s\n",
	       label, n, block_frames, b - a, (double)n / (b - a),
	       (b - a) * 1e9 / (double)n, st.writer_stalls, synced - a, *rate_out,
	       c - synced);
	printf("bench_record: %s: verify %s in %.3f s, %.0f frames/s\n", label,
	       rc == 0 ? "OK" : r.first_fail, d - c, (double)n / (d - c));
	return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	const char *tmpdir = getenv("BENCH_TMP");
	char base[512], cmd[600];
	double rate, small_rate, cpu_rate;
	int rc = 0;

	if (!tmpdir)
		tmpdir = getenv("TMPDIR");
	snprintf(base, sizeof(base), "%s/bench_record.XXXXXX", tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(base)) {
		perror("bench_record: mkdtemp");
		return 1;
	}
	/* cpu: one block per 2^20 frames, so the figure is formatting,
	 * hashing and write(2) with almost no fdatasync */
	if (run(base, n, 4096, 1000, "default", &rate) < 0 ||
	    run(base, n / 4, 256, 1000, "small-blocks", &small_rate) < 0 ||
	    run(base, n, 1u << 20, 1000000, "cpu", &cpu_rate) < 0)
		rc = 1;
	else if (rate < TARGET) {
		printf("bench_record: FAIL: %.0f frames/s is below the %.0f target\n",
		       rate, TARGET);
		rc = 1;
	} else {
		printf("bench_record: OK: %.1fx the %.0f frames/s target\n",
		       rate / TARGET, TARGET);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
