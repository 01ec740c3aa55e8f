/*
 * bus.c: what every kind of bus shares: life cycle, the settings of a [bus]
 * section, counters and state, receive batches, events; the rest goes to the
 * bus's backend (bus_backend.h). See bus.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/bus_backend.h"
#include "daemon/log.h"

/* One per interface= grammar of config.c (enum bus_kind). */
static const struct bus_ops *const bus_backends[] = {
	[BUS_SOCKETCAN] = &bus_socketcan_ops,
	[BUS_REPLAY] = &bus_replay_ops,
	[BUS_NULL] = &bus_null_ops,
};

static const struct bus_ops *bus_ops_of(enum bus_kind kind)
{
	if ((size_t)kind >= sizeof(bus_backends) / sizeof(bus_backends[0]))
		return NULL;
	return bus_backends[kind];
}

/* ------------------------------------------------------------------ */
/* clocks */

uint64_t bus_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

uint64_t bus_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* names, counters, state */

static const char *const bus_state_names[] = {"down", "up", "ended"};
static const char *const bus_ctrl_names[] = {
	"error-active", "error-warning", "error-passive", "bus-off",
	"stopped",      "sleeping",      "unknown",
};

const char *bus_state_name(enum bus_state s)
{
	return (unsigned)s < 3 ? bus_state_names[s] : "?";
}

const char *bus_ctrl_state_name(enum bus_ctrl_state s)
{
	return (unsigned)s <= BUS_CTRL_UNKNOWN ? bus_ctrl_names[s] : "?";
}

int bus_index(const struct bus *b) { return b->index; }
const char *bus_name(const struct bus *b) { return b->name; }
const char *bus_ifname(const struct bus *b) { return b->ifname; }
const char *bus_kind_name(const struct bus *b) { return b->ops->kind; }
bool bus_live(const struct bus *b) { return b->ops->live; }
bool bus_replays(const struct bus *b) { return b->ops->log_time != NULL; }
enum bus_state bus_state(const struct bus *b) { return b->state; }
const struct bus_counters *bus_counters(const struct bus *b) { return &b->c; }

uint32_t bus_queue_len(const struct bus *b)
{
	return b->ops->queue_len ? b->ops->queue_len(b) : 0;
}

bool bus_ctrl(const struct bus *b, enum bus_ctrl_state *st, uint16_t *txerr,
	      uint16_t *rxerr)
{
	*st = b->ctrl;
	*txerr = b->txerr;
	*rxerr = b->rxerr;
	return b->ctrl_known || b->ctrl != BUS_CTRL_UNKNOWN;
}

const struct replay_stats *bus_replay_stats(const struct bus *b)
{
	return b->ops->replay_stats ? b->ops->replay_stats(b) : NULL;
}

uint64_t bus_replay_log_time(const struct bus *b, uint64_t mono_ns)
{
	return b->ops->log_time ? b->ops->log_time(b, mono_ns) : 0;
}

/* ------------------------------------------------------------------ */
/* events */

void bus_event_begin(struct bus *b, struct json *j, char *buf, size_t size)
{
	json_init_buf(j, buf, size);
	json_members_begin(j);
	json_key(j, "bus");
	json_string(j, b->name);
}

void bus_event_end(struct bus *b, struct json *j, uint64_t t_ns,
		   const char *type)
{
	json_members_end(j);
	if (json_finish(j) < 0) {
		log_warnx("bus %s: %s event longer than %d bytes: not recorded",
			  b->name, type, BUS_EVENT_MAX);
		return;
	}
	if (b->h.event)
		b->h.event(b->h.ctx, b, t_ns, type, j->buf);
}

/* ------------------------------------------------------------------ */
/* receive batches */

void bus_batch_begin(struct bus_batch *bt)
{
	if (bt->depth++ == 0)
		bt->mono_ns = bus_mono_ns();
}

void bus_batch_end(struct bus_batch *bt)
{
	if (--bt->depth > 0)
		return;
	while (bt->pending) {
		struct bus *b = bt->pending;

		bt->pending = b->defer_next;
		b->defer_next = NULL;
		b->deferred = false;
		b->ops->drain(b);
	}
}

void bus_batch_defer(struct bus *b)
{
	if (b->deferred)
		return;
	b->deferred = true;
	b->defer_next = b->batch->pending;
	b->batch->pending = b;
}

static void bus_batch_unlink(struct bus *b)
{
	if (!b->batch)
		return;
	for (struct bus **p = &b->batch->pending; *p; p = &(*p)->defer_next) {
		if (*p == b) {
			*p = b->defer_next;
			break;
		}
	}
	b->deferred = false;
	b->defer_next = NULL;
}

/* ------------------------------------------------------------------ */
/* dispatch */

enum bus_tx_result bus_send(struct bus *b, const struct frame *f,
			    int route_tag)
{
	return b->ops->send(b, f, route_tag);
}

enum bus_tx_result bus_send_discard(struct bus *b, const struct frame *f,
				    int route_tag)
{
	(void)f;
	(void)route_tag;
	b->c.tx++;
	return BUS_TX_SENT;
}

void bus_housekeep(struct bus *b, uint64_t mono_ns)
{
	if (b->ops->housekeep)
		b->ops->housekeep(b, mono_ns);
}

void bus_flush(struct bus *b, unsigned timeout_ms)
{
	if (b->ops->flush)
		b->ops->flush(b, timeout_ms);
}

bool bus_catch_up(struct bus *b, uint64_t horizon_ns)
{
	return b->ops->catch_up ? b->ops->catch_up(b, horizon_ns) : true;
}

void bus_go(struct bus *b)
{
	if (b->ops->start)
		b->ops->start(b);
}

/* ------------------------------------------------------------------ */
/* life cycle */

int bus_check_config(const struct config_bus *cb, char *errmsg, size_t errlen)
{
	const struct bus_ops *ops = bus_ops_of(cb->kind);

	if (!ops) {
		snprintf(errmsg, errlen, "bus %s: unknown kind", cb->name);
		return -1;
	}
	return ops->check ? ops->check(cb, errmsg, errlen) : 0;
}

static char *bus_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct bus *bus_new(struct ev_loop *loop, int index,
		    const struct config_bus *cb, const struct bus_handler *h,
		    struct bus_batch *batch, char *errmsg, size_t errlen)
{
	const struct bus_ops *ops = bus_ops_of(cb->kind);
	struct bus *b;

	if (!ops) {
		snprintf(errmsg, errlen, "bus %s: unknown kind", cb->name);
		return NULL;
	}
	b = calloc(1, ops->size);
	if (!b) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	b->ops = ops;
	b->index = index;
	b->loop = loop;
	b->h = *h;
	b->batch = batch;
	b->name = bus_strdup(cb->name);
	b->ifname = bus_strdup(cb->interface ? cb->interface
					     : (cb->kind == BUS_NULL ? "null"
								     : cb->name));
	b->fd_enabled = cb->fd;
	b->bitrate = cb->bitrate;
	b->restart_ms = cb->restart_ms;
	b->txqueue_len = cb->txqueue_len ? cb->txqueue_len : 1024;
	b->txqueue_max_age_ms =
		cb->txqueue_max_age_ms ? cb->txqueue_max_age_ms : 100;
	b->ctrl = BUS_CTRL_UNKNOWN;
	if (!b->name || !b->ifname) {
		snprintf(errmsg, errlen, "out of memory");
		free(b->name);
		free(b->ifname);
		free(b);
		return NULL;
	}
	if (ops->open(b, cb, errmsg, errlen) < 0) {
		bus_free(b);
		return NULL;
	}
	return b;
}

void bus_free(struct bus *b)
{
	if (!b)
		return;
	bus_batch_unlink(b);
	b->ops->stop(b);
	free(b->name);
	free(b->ifname);
	free(b);
}

bool bus_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool bus_config_same(const struct bus *b, const struct config_bus *cb)
{
	uint32_t qlen = cb->txqueue_len ? cb->txqueue_len : 1024;
	uint32_t age = cb->txqueue_max_age_ms ? cb->txqueue_max_age_ms : 100;

	return b->ops == bus_ops_of(cb->kind) && bus_str_eq(b->name, cb->name) &&
	       b->fd_enabled == cb->fd && b->bitrate == cb->bitrate &&
	       b->restart_ms == cb->restart_ms && b->txqueue_len == qlen &&
	       b->txqueue_max_age_ms == age && b->ops->same_config(b, cb);
}

void bus_rebind(struct bus *b, int index, const struct bus_handler *h)
{
	b->index = index;
	b->h = *h;
}
