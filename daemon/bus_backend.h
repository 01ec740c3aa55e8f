/*
 * bus_backend.h: what bus.c shares with its backends, one file each
 * (bus_socketcan.c, bus_replay.c, bus_null.c). Other modules use bus.h.
 *
 * A backend is a table of operations. struct bus holds what every kind has
 * (names, the settings every [bus] section takes, state, counters, the
 * handler); a backend's own state is a struct that begins with struct bus
 * (ops->size bytes, zeroed), reached with container_of.
 *
 * A new kind of bus: a bus_<kind>.c with its ops, a line in bus_backends[]
 * (bus.c) and its interface= grammar in config.c's table.
 */
#ifndef CANGATE_BUS_BACKEND_H
#define CANGATE_BUS_BACKEND_H

#include "daemon/bus.h"
#include "daemon/core/json.h"

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct bus_ops {
	const char *kind; /* "socketcan", "replay", "null": status */
	size_t size;      /* bytes of the backend's struct (struct bus first) */
	/* Received frames carry wall-clock (kernel) timestamps. A gateway with
	 * no live bus runs on its replay logs' clock. */
	bool live;
	/* What `cangated -n` can verify of the section without opening
	 * anything: 0, or -1 with errmsg. NULL: nothing to check. */
	int (*check)(const struct config_bus *cb, char *errmsg, size_t errlen);
	/* Open from the config and set b->state. 0, or -1 with errmsg (then
	 * stop() runs and the bus is freed). */
	int (*open)(struct bus *b, const struct config_bus *cb, char *errmsg,
		    size_t errlen);
	/* Begin receiving (bus_go). NULL: receiving needs no go-ahead. */
	void (*start)(struct bus *b);
	enum bus_tx_result (*send)(struct bus *b, const struct frame *f,
				   int route_tag);
	/* Stop every watcher and free what open() made (also after a failed
	 * open). */
	void (*stop)(struct bus *b);
	/* The interface-specific settings are the same (bus.c compares the
	 * rest): the bus can be kept over a reload. */
	bool (*same_config)(const struct bus *b, const struct config_bus *cb);
	/* The optional rest: NULL when the backend has nothing to do. */
	void (*housekeep)(struct bus *b, uint64_t mono_ns);
	void (*flush)(struct bus *b, unsigned timeout_ms);
	/* Write out what was queued during a receive batch. */
	void (*drain)(struct bus *b);
	/* Hand over every received frame stamped up to horizon_ns that still
	 * waits in the kernel. false when it could not finish yet. */
	bool (*catch_up)(struct bus *b, uint64_t horizon_ns);
	uint32_t (*queue_len)(const struct bus *b);
	/* The log's own clock at monotonic mono_ns (replay). */
	uint64_t (*log_time)(const struct bus *b, uint64_t mono_ns);
	const struct replay_stats *(*replay_stats)(const struct bus *b);
};

extern const struct bus_ops bus_socketcan_ops;
extern const struct bus_ops bus_replay_ops;
extern const struct bus_ops bus_null_ops;

struct bus {
	const struct bus_ops *ops;
	int index;
	struct ev_loop *loop;
	struct bus_handler h;
	struct bus_batch *batch;

	/* copy of the config: the config may be freed by a reload */
	char *name;
	char *ifname;
	bool fd_enabled;
	uint32_t bitrate, restart_ms;
	uint32_t txqueue_len, txqueue_max_age_ms;

	enum bus_state state;
	struct bus_counters c;
	/* controller state, for backends that have a controller */
	bool ctrl_known;
	enum bus_ctrl_state ctrl;
	uint16_t txerr, rxerr;

	bool deferred; /* on batch->pending */
	struct bus *defer_next;
};

/* send() of a bus that is only a sink: counts the frame, discards it. */
enum bus_tx_result bus_send_discard(struct bus *b, const struct frame *f,
				    int route_tag);
/* Equal strings, or both NULL. */
bool bus_str_eq(const char *a, const char *b);

/* A receive batch: frames sent to buses with a drain() while it lasts are
 * written out when the outermost batch ends. */
void bus_batch_begin(struct bus_batch *bt);
void bus_batch_end(struct bus_batch *bt);
/* Put b on the batch's list of buses to drain at its end. */
void bus_batch_defer(struct bus *b);

static inline void bus_tx_done(struct bus *b, const struct txq_entry *e,
			       bool sent)
{
	if (b->h.tx_done)
		b->h.tx_done(b->h.ctx, b, e, sent);
}

static inline void bus_deliver(struct bus *b, struct frame *f,
			       const char *ifname)
{
	if (b->h.frame)
		b->h.frame(b->h.ctx, b, f, ifname);
}

/*
 * A bus event for events.jsonl. Its fields begin with "bus":NAME; add the
 * rest with the json writer between the two calls:
 *
 *   struct json j;
 *   char buf[BUS_EVENT_MAX];
 *   bus_event_begin(b, &j, buf, sizeof(buf));
 *   json_key(&j, "reason"); json_string(&j, strerror(err));
 *   bus_event_end(b, &j, t_ns, "bus_down");
 */
#define BUS_EVENT_MAX 512
void bus_event_begin(struct bus *b, struct json *j, char *buf, size_t size);
void bus_event_end(struct bus *b, struct json *j, uint64_t t_ns,
		   const char *type);

#endif
