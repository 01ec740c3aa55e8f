/*
 * bus.h: the only module that touches CAN sockets. One struct bus per
 * [bus NAME] section, of three kinds:
 *
 *  - SocketCAN: one CAN_RAW socket for rx and tx, kernel timestamps
 *    (SO_TIMESTAMPNS), kernel drop counts (SO_RXQ_OVFL), error frames turned
 *    into bus-state events, a bounded tx ring queue drained on EV_WRITE. An
 *    interface that goes down or disappears puts the bus in state "down" and
 *    reopening is retried with exponential backoff (100 ms .. 5 s); the gap
 *    is reported in the "bus_up" event when it comes back.
 *  - replay:PATH[,speed=N]: "received" frames come from a candump -l log with
 *    its own timing, N times faster, or as fast as possible (speed 0, in
 *    bounded batches per loop iteration). Frames keep the log's timestamps
 *    and are recorded under the bus name, whatever interface the log was
 *    taken on, so a bundle maps its frames to buses by name. Lines with
 *    direction T (the gateway's own transmissions in a recorded bundle) are
 *    not replayed. Frames sent to a replay bus are counted and discarded.
 *  - null: a sink that counts what is sent to it and never receives.
 *
 * Nothing here blocks the event loop: sends are non-blocking, a full queue or
 * an aged queued frame is dropped and counted.
 */
#ifndef CANGATE_BUS_H
#define CANGATE_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <linux/can.h>

#include "daemon/core/config.h"
#include "daemon/core/frame.h"

#include "daemon/core/replay.h"
#include "daemon/core/txq.h"

/* ---- buses ---- */

enum bus_state {
	BUS_STATE_DOWN,  /* interface missing or down: reopen pending */
	BUS_STATE_UP,
	BUS_STATE_ENDED, /* replay reached end of log */
};

/* Controller state from error frames or libsocketcan, CAN_STATE_* order. */
enum bus_ctrl_state {
	BUS_CTRL_ERROR_ACTIVE,
	BUS_CTRL_ERROR_WARNING,
	BUS_CTRL_ERROR_PASSIVE,
	BUS_CTRL_BUS_OFF,
	BUS_CTRL_STOPPED,
	BUS_CTRL_SLEEPING,
	BUS_CTRL_UNKNOWN,
};

struct bus_counters {
	uint64_t rx;             /* frames received (replay: replayed) */
	uint64_t tx;             /* frames handed to the kernel, or to a sink */
	uint64_t kernel_dropped; /* SO_RXQ_OVFL: the socket's receive queue overflowed */
	uint64_t queue_dropped;  /* tx queue full or frame older than max age */
	uint64_t tx_errors;      /* write failed (bus down, EINVAL...): dropped */
	uint64_t err_frames;     /* error frames received */
	uint64_t queued;         /* sends that went through the tx queue */
	uint64_t bad_frames;     /* reads of an unexpected size, bad replay lines */
	uint64_t reopens;        /* times the bus came back after "down" */
};

struct bus;

struct bus_handler {
	/* A received frame (dir RX, or the error frame). ifname is the
	 * interface column for the evidence log. */
	void (*frame)(void *ctx, struct bus *b, struct frame *f,
		      const char *ifname);
	/* A bus event for events.jsonl: fields_json as in evidence_event(). */
	void (*event)(void *ctx, struct bus *b, uint64_t t_ns,
		      const char *type, const char *fields_json);
	/* A frame that had been queued left the queue: sent or dropped. */
	void (*tx_done)(void *ctx, struct bus *b, const struct txq_entry *e,
			bool sent);
	void *ctx;
};

enum bus_tx_result {
	BUS_TX_SENT,    /* the kernel (or sink) has it */
	BUS_TX_QUEUED,  /* in the tx queue; tx_done() reports its fate */
	BUS_TX_DROPPED, /* queue full or bus down: counted */
};

/*
 * Frames sent while a receive batch is processed are queued and written
 * together when it ends (one sendmmsg() instead of a write() per frame);
 * their fate is reported through tx_done() within the same callback. One per
 * gateway, shared by its buses; zero-initialised.
 */
struct bus_batch {
	struct bus *pending; /* buses with frames to write at the end */
	int depth;           /* nested batches */
	uint64_t mono_ns;    /* one clock read per batch, not per frame */
};

/*
 * Create bus index from its config (copied: cb may be freed afterwards) and
 * start it: open the socket (a missing or down interface is not an error:
 * the bus starts "down" and retries), open the replay log (an error: -1 path
 * would never work), or nothing for null. batch outlives the bus. NULL with
 * errmsg on failure.
 */
struct bus *bus_new(struct ev_loop *loop, int index,
		    const struct config_bus *cb, const struct bus_handler *h,
		    struct bus_batch *batch, char *errmsg, size_t errlen);
/* What `cangated -n` can verify of a [bus] section without opening it (a
 * replay log is readable): 0, or -1 with errmsg. */
int bus_check_config(const struct config_bus *cb, char *errmsg,
		     size_t errlen);
/* Stops every watcher, closes the socket, frees the queue. */
void bus_free(struct bus *b);

/* Send a routed frame. route_tag is the sender's, opaque here: a queued
 * frame hands it back in tx_done()'s entry. */
enum bus_tx_result bus_send(struct bus *b, const struct frame *f,
			    int route_tag);

/* Periodic upkeep at monotonic now_ns: age out queued frames, refresh the
 * controller state and error counters through libsocketcan. */
void bus_housekeep(struct bus *b, uint64_t mono_ns);

/* At exit: try for up to timeout_ms to write out the tx queue (poll), then
 * drop what is left (reported through tx_done). */
void bus_flush(struct bus *b, unsigned timeout_ms);

/* Before deadlines up to horizon_ns run: hand over the frames stamped up to
 * then that still wait unread (the loop may have stalled). false when a
 * flood left some unread: run the deadlines later. */
bool bus_catch_up(struct bus *b, uint64_t horizon_ns);

/* Start replaying (replay buses wait for this, so that evidence and rules
 * are ready before the first frame). No-op for other kinds. */
void bus_go(struct bus *b);

/* Same socket-level settings: the bus can be kept over a reload. */
bool bus_config_same(const struct bus *b, const struct config_bus *cb);
/* Adopt a new config index and handler context after a reload. */
void bus_rebind(struct bus *b, int index, const struct bus_handler *h);

int bus_index(const struct bus *b);
const char *bus_name(const struct bus *b);
const char *bus_ifname(const struct bus *b);
/* "socketcan", "replay" or "null" */
const char *bus_kind_name(const struct bus *b);
/* Receives frames stamped by the wall clock (the kernel's): a gateway with
 * no live bus runs on its replay logs' clock. */
bool bus_live(const struct bus *b);
/* Replays a log: has a log clock and ends. */
bool bus_replays(const struct bus *b);
enum bus_state bus_state(const struct bus *b);
const char *bus_state_name(enum bus_state s);
const char *bus_ctrl_state_name(enum bus_ctrl_state s);
const struct bus_counters *bus_counters(const struct bus *b);
uint32_t bus_queue_len(const struct bus *b);
/* Controller state and error counters; false when unknown (vcan). */
bool bus_ctrl(const struct bus *b, enum bus_ctrl_state *st, uint16_t *txerr,
	      uint16_t *rxerr);
/* For replay buses: replay stats and the log clock, else NULL / 0. */
const struct replay_stats *bus_replay_stats(const struct bus *b);
uint64_t bus_replay_log_time(const struct bus *b, uint64_t mono_ns);

/* Clocks used by the daemon, in ns. */
uint64_t bus_mono_ns(void);
uint64_t bus_real_ns(void);

#endif
