/*
 * bench_decode: library decode throughput on realistic classic frames:
 * 16 messages of 8 bytes, ~10 signals each, mixed Intel and Motorola, some
 * signed, scaled with factor/offset as powertrain DBCs do, and one
 * multiplexed message. Prints frames/s and signals/s for dbc_decode().
 *
 * Usage: bench_decode [FRAMES]   (default 20 M)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbc/dbc.h"

#define N_MSG 16
#define N_SIG 10
#define N_PAYLOADS 4096

static struct dbc_signal sigs[N_MSG][N_SIG];
static struct dbc_message msgs[N_MSG];
static struct dbc_mux_range ranges[N_SIG];

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Lay out 10 signals over 64 bits: widths summing to 64, alternating byte
 * order per message, a few signed ones, typical scalings. */
static void build(void)
{
	static const unsigned widths[N_SIG] = {8, 4, 4, 12, 4, 16, 1, 7, 2, 6};
	static const double factors[] = {1, 0.1, 0.01, 0.5, 0.25, 0.03125};
	static const double offsets[] = {0, -40, 0, -1000, 0, -273.15};

	for (int m = 0; m < N_MSG; m++) {
		bool motorola = m & 1;
		unsigned pos = 0; /* linear bit position, MSB-first for Motorola */

		for (int s = 0; s < N_SIG; s++) {
			struct dbc_signal *sg = &sigs[m][s];
			unsigned w = widths[(s + m) % N_SIG];

			memset(sg, 0, sizeof(*sg));
			sg->name = (char *)"S";
			sg->length = (uint8_t)w;
			sg->factor = factors[(s + m) % 6];
			sg->offset = offsets[(s * 7 + m) % 6];
			sg->is_signed = (s % 3) == 1;
			sg->mux_parent = -1;
			if (motorola) {
				/* MSB of the field at linear position pos. */
				unsigned byte = pos / 8, bit = 7 - pos % 8;

				sg->byte_order = DBC_BIG_ENDIAN;
				sg->start_bit = (uint16_t)(byte * 8 + bit);
			} else {
				sg->byte_order = DBC_LITTLE_ENDIAN;
				sg->start_bit = (uint16_t)pos;
			}
			pos += w;
			if (dbc_signal_prepare(sg) < 0) {
				fprintf(stderr, "bench_decode: bad layout %d/%d\n",
					m, s);
				exit(1);
			}
		}
		msgs[m].id = (uint32_t)(0x100 + m);
		msgs[m].size = 8;
		msgs[m].name = (char *)"M";
		msgs[m].signals = sigs[m];
		msgs[m].n_signals = N_SIG;
	}
	/* Message 15: signal 0 (8 bits) multiplexes signals 5..9 in pairs. */
	sigs[15][0].is_multiplexer = true;
	for (int s = 5; s < N_SIG; s++) {
		ranges[s].lo = ranges[s].hi = (uint64_t)(s % 2);
		sigs[15][s].mux_parent = 0;
		sigs[15][s].mux_ranges = &ranges[s];
		sigs[15][s].n_mux_ranges = 1;
	}
	msgs[15].has_mux = true;
}

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long frames = argc > 1 ? atol(argv[1]) : 20000000L;
	static uint8_t payloads[N_PAYLOADS][8];
	struct dbc_decoded out[N_SIG];
	uint64_t x = 42, signals = 0;
	double sink = 0, t0, c0, dt, dc;

	build();
	for (int i = 0; i < N_PAYLOADS; i++)
		for (int b = 0; b < 8; b++)
			payloads[i][b] = (uint8_t)xorshift(&x);
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	for (long i = 0; i < frames; i++) {
		const struct dbc_message *m = &msgs[i % N_MSG];
		size_t n = dbc_decode(m, payloads[i % N_PAYLOADS], 8, out, N_SIG,
				      NULL);

		signals += n;
		sink += out[n - 1].phys;
	}
	dt = now(CLOCK_MONOTONIC) - t0;
	dc = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("bench_decode: %ld frames (8 bytes, %d signals, mixed "
	       "Intel/Motorola, 1/16 multiplexed) in %.3f s wall, %.3f s CPU\n",
	       frames, N_SIG, dt, dc);
	printf("bench_decode: %.2f M frames/s CPU (%.2f wall), %.1f M signals/s "
	       "CPU (checksum %.6g)\n",
	       frames / dc / 1e6, frames / dt / 1e6, signals / dc / 1e6, sink);
	return 0;
}
