/*
 * translate.h: signal translation. Vehicle signals re-encoded into messages
 * of a rig bus's own DBC ([output NAME] sections, grammar in translate.c and
 * cangate.conf(5)).
 *
 * Pure, like the rules: driven by received frames and the `now` passed in,
 * no clock reads, no I/O, no allocation per frame. The daemon feeds it from
 * gateway_rx() and a timer at translate_next_deadline(); `cangate check`
 * feeds it from a log. The same frames give the same translated frames,
 * byte for byte, timestamps included: a frame sent at a cycle deadline
 * carries the deadline, a frame sent because a frame arrived carries that
 * frame's time. Times are taken on the evidence's grid (1 us, or 1 ns with
 * [evidence] timestamps = ns), as frames.log records them.
 *
 * Time starts with the first frame fed to translate_frame(): cyclic outputs
 * send their first frame one period later. Every frame received before a
 * deadline is seen by it; a frame at the deadline itself is not (deadlines
 * up to a frame's time run first). A tick moves the engine's time only to
 * the deadlines it runs, so a frame read after a tick keeps its own time
 * unless a deadline after it has already run.
 */
#ifndef CANGATE_TRANSLATE_H
#define CANGATE_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;
struct frame;

/* Where translated frames go: f is a complete frame (dir T, t_ns set) for
 * bus (config index); output is the [output] index, for
 * translate_tx_result(). */
struct translate_sink {
	void (*send)(void *ctx, int bus, const struct frame *f, size_t output);
	void *ctx;
};

struct translate_stats {
	const char *name;
	int bus;
	uint64_t built;       /* frames built and handed to the sink */
	uint64_t sent;        /* ... that the bus took (translate_tx_result) */
	uint64_t dropped;     /* ... that the bus dropped */
	uint64_t clamped;     /* signal values clamped to the raw range */
	uint64_t unencodable; /* signal values not a finite number */
	uint64_t substituted; /* signal values replaced by their substitute */
	uint64_t held;        /* signal values held from the last good one */
	uint64_t stopped;     /* frames not sent: stale = stop */
};

/* Compile the config's [output] sections against the buses' loaded DBCs
 * ([signal] aliases name inputs, as in rules). NULL with *err (file:line)
 * on any problem. A config without [output] gives an empty translation. */
struct translate *translate_compile(const struct config *cfg,
				    const struct translate_sink *sink,
				    struct config_error *err);
void translate_free(struct translate *t);
size_t translate_count(const struct translate *t);

/* A frame received on bus (config index). Runs due deadlines first, then
 * updates inputs and sends the outputs it triggers (send = each:, change). */
void translate_frame(struct translate *t, int bus, const struct frame *f);
/* Run every deadline up to now_ns (cycle sends, inputs going stale);
 * nothing before the first frame. */
void translate_tick(struct translate *t, uint64_t now_ns);
/* Earliest pending deadline, or UINT64_MAX. */
uint64_t translate_next_deadline(const struct translate *t);

/* Is f on bus a frame this translation makes (an output's ID on its bus)?
 * `cangate check` regenerates such T lines instead of copying them. */
bool translate_is_output(const struct translate *t, int bus,
			 const struct frame *f);

/* What the bus did with a frame of output (sent or dropped). */
void translate_tx_result(struct translate *t, size_t output, bool sent);
/* Counters of output i; -1 when out of range. */
int translate_stats(const struct translate *t, size_t i,
		    struct translate_stats *st);

enum translate_checksum {
	TRANSLATE_CRC8_SAE_J1850, /* poly 0x1D, init 0xFF, xorout 0xFF */
	TRANSLATE_XOR8,
	TRANSLATE_SUM8,           /* sum of the bytes mod 256 */
	TRANSLATE_CRC8_AUTOSAR,   /* poly 0x2F, init 0xFF, xorout 0xFF */
	TRANSLATE_CRC16_CCITT,    /* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF */
};

/* The checksum of len bytes, skipping bytes [skip_from, skip_to) (the
 * checksum's own; pass 0, 0 for none). */
uint32_t translate_checksum(enum translate_checksum kind, const uint8_t *data,
			    size_t len, size_t skip_from, size_t skip_to);

#endif
