/*
 * bench_translate: signal translation throughput. 20 [output] sections of 8
 * signals each (an expression over a vehicle signal, a linear rescale, half
 * of them into Motorola signals, a quarter signed), each with an alive
 * counter and a CRC-8, all sent every 1 ms; 8 vehicle messages of 8 signals
 * arrive every 1 ms. Per simulated millisecond: 8 frames in (lookup and
 * decode of the signals read), 20 frames built (160 expressions evaluated,
 * clamped and encoded, counters, checksums) and handed to a counting sink.
 *
 * Usage: bench_translate [MILLISECONDS]   (default 200000: 4 M frames out).
 * Goal: >= 1 M signals encoded per second on one core.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/core/config.h"
#include "daemon/core/frame.h"
#include "daemon/core/translate.h"

#define N_IN 8
#define N_OUT 20
#define N_SIG 8

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_dbcs(const char *dir)
{
	char path[96];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/veh.dbc", dir);
	fp = fopen(path, "w");
	if (!fp)
		exit(1);
	fprintf(fp, "VERSION \"\"\nNS_ :\nBS_:\nBU_: V\n");
	for (int m = 0; m < N_IN; m++) {
		fprintf(fp, "BO_ %d V%d: 8 V\n", 256 + m, m);
		for (int s = 0; s < N_SIG; s++)
			fprintf(fp, " SG_ s%d : %d|8@1%c (0.5,0) [0|0] \"\" V\n",
				s, s * 8, s % 4 == 3 ? '-' : '+');
	}
	fclose(fp);
	snprintf(path, sizeof(path), "%s/rig.dbc", dir);
	fp = fopen(path, "w");
	if (!fp)
		exit(1);
	fprintf(fp, "VERSION \"\"\nNS_ :\nBS_:\nBU_: GW\n");
	for (int m = 0; m < N_OUT; m++) {
		/* 8 signals of 6 bits, a 4-bit counter, a CRC in byte 7 */
		fprintf(fp, "BO_ %d R%d: 8 GW\n", 1280 + m, m);
		for (int s = 0; s < N_SIG; s++) {
			/* Motorola, packed: the MSB at big-endian position
			 * 6s, as start bit byte * 8 + bit */
			if (m % 2)
				fprintf(fp,
					" SG_ t%d : %d|6@0%c (0.25,1) [0|0] \"\" GW\n",
					s, s * 6 / 8 * 8 + 7 - s * 6 % 8,
					s % 4 == 3 ? '-' : '+');
			else
				fprintf(fp,
					" SG_ t%d : %d|6@1%c (0.25,1) [0|0] \"\" GW\n",
					s, s * 6, s % 4 == 3 ? '-' : '+');
		}
		fprintf(fp, " SG_ cnt : 48|4@1+ (1,0) [0|15] \"\" GW\n");
		fprintf(fp, " SG_ crc : 56|8@1+ (1,0) [0|255] \"\" GW\n");
	}
	fclose(fp);
}

static void write_ini(const char *dir)
{
	char path[96];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/bench.ini", dir);
	fp = fopen(path, "w");
	if (!fp)
		exit(1);
	fprintf(fp, "[bus car]\ninterface = can0\ndbc = veh.dbc\n"
		    "[bus rig]\ninterface = can1\ndbc = rig.dbc\n");
	for (int m = 0; m < N_OUT; m++) {
		fprintf(fp, "[output o%d]\nbus = rig\nmessage = R%d\n"
			    "period = 1ms\ncounter = cnt\n"
			    "checksum = crc: crc8_sae_j1850\n",
			m, m);
		for (int s = 0; s < N_SIG; s++)
			fprintf(fp, "set = t%d = V%d.s%d * 0.2 + 1\n", s,
				(m + s) % N_IN, s);
	}
	fclose(fp);
}

struct counts {
	uint64_t frames, bytes;
};

static void count(void *ctx, int bus, const struct frame *f, size_t output)
{
	struct counts *c = ctx;

	(void)bus;
	(void)output;
	c->frames++;
	c->bytes += f->data[7]; /* keep the checksum live */
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 200000;
	char dir[] = "/tmp/bench_translate.XXXXXX", path[96];
	struct config_error err;
	struct config *cfg;
	struct counts c;
	struct translate_sink sink = { count, &c };
	struct translate_stats st;
	uint64_t clamped = 0;
	double best = 0;

	if (ms <= 0 || !mkdtemp(dir))
		return 1;
	write_dbcs(dir);
	write_ini(dir);
	snprintf(path, sizeof(path), "%s/bench.ini", dir);
	cfg = config_load(path, &err);
	if (!cfg || config_load_dbcs(cfg, &err) < 0) {
		fprintf(stderr, "bench_translate: %s:%u: %s\n", err.file,
			err.line, err.msg);
		return 1;
	}
	for (int k = 0; k < 3; k++) { /* best of three: shared machines */
		struct translate *t = translate_compile(cfg, &sink, &err);
		uint64_t x = 88172645463325252ull;
		double t0, t1;

		if (!t) {
			fprintf(stderr, "bench_translate: %s:%u: %s\n",
				err.file, err.line, err.msg);
			return 1;
		}
		memset(&c, 0, sizeof(c));
		t0 = now_s();
		for (long i = 0; i < ms; i++) {
			uint64_t base = 1700000000000000000ull +
					(uint64_t)i * 1000000u;

			for (int m = 0; m < N_IN; m++) {
				struct frame f;

				memset(&f, 0, sizeof(f));
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				f.t_ns = base + (uint64_t)m * 1000;
				f.id = 256 + (uint32_t)m;
				f.len = 8;
				memcpy(f.data, &x, 8);
				translate_frame(t, 0, &f);
			}
			translate_tick(t, base + 999000);
		}
		t1 = now_s();
		if ((double)c.frames / (t1 - t0) > best)
			best = (double)c.frames / (t1 - t0);
		clamped = 0;
		for (size_t o = 0; translate_stats(t, o, &st) == 0; o++)
			clamped += st.clamped;
		translate_free(t);
	}
	printf("bench_translate: %d outputs x %d signals, %" PRIu64
	       " frames built per run, %" PRIu64 " values clamped\n",
	       N_OUT, N_SIG, c.frames, clamped);
	printf("bench_translate: %.2f M translated frames/s, %.2f M signals "
	       "encoded/s (best of 3; goal >= 1 M signals/s)\n",
	       best / 1e6, best * N_SIG / 1e6);
	config_free(cfg);
	for (const char *const *n = (const char *const[]){ "veh.dbc", "rig.dbc",
							   "bench.ini", NULL };
	     *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}
