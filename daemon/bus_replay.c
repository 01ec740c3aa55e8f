/*
 * bus_replay.c: interface = replay:PATH[,speed=N]. "Received" frames come
 * from a candump -l log (daemon/core/replay.c) on its own timing; frames sent
 * to the bus are counted and discarded. See bus.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/bus_backend.h"
#include "daemon/log.h"

#define REPLAY_BATCH 256 /* replayed frames per loop iteration */

struct bus_replay {
	struct bus bus;
	char *path;
	double speed;
	struct replay *replay;
	ev_timer timer_w;
	ev_idle idle_w;
	struct log_ratelimit bad_rl;
};

static struct bus_replay *to_replay(struct bus *b)
{
	return container_of(b, struct bus_replay, bus);
}

static const struct bus_replay *to_replay_c(const struct bus *b)
{
	return container_of(b, const struct bus_replay, bus);
}

static void replay_ended(struct bus_replay *rb, uint64_t now)
{
	struct bus *b = &rb->bus;
	const struct replay_stats *st = replay_stats(rb->replay);
	char buf[BUS_EVENT_MAX];
	struct json j;

	b->state = BUS_STATE_ENDED;
	log_info("bus %s: replay of %s ended: %" PRIu64 " frames, %" PRIu64
		 " bad lines",
		 b->name, rb->path, st->frames, st->bad_lines);
	bus_event_begin(b, &j, buf, sizeof(buf));
	json_key(&j, "frames");
	json_uint(&j, st->frames);
	json_key(&j, "bad_lines");
	json_uint(&j, st->bad_lines);
	bus_event_end(b, &j, replay_log_time(rb->replay, now), "replay_end");
}

static void replay_batch(struct bus_replay *rb)
{
	struct bus *b = &rb->bus;
	uint64_t now = bus_mono_ns();
	struct frame f;
	char ifname[FRAME_IFNAME_MAX];
	uint64_t due = 0;
	bool bad;

	for (int i = 0; i < REPLAY_BATCH; i++) {
		enum replay_result r =
			replay_next(rb->replay, now, &f, ifname, &due, &bad);

		if (bad) {
			b->c.bad_frames++;
			if (log_ratelimit(&rb->bad_rl, now))
				log_warnx("bus %s: %s", b->name,
					  replay_stats(rb->replay)->last_error);
		}
		if (r == REPLAY_FRAME) {
			if (f.err)
				b->c.err_frames++;
			else
				b->c.rx++;
			/* recorded under the bus name, whatever interface
			 * the log was taken on: check, report and export map
			 * frames.log to buses by that column */
			bus_deliver(b, &f, b->ifname);
			if (b->state != BUS_STATE_UP)
				return; /* the handler freed nothing, but a
					   reload may have stopped us */
			continue;
		}
		ev_idle_stop(b->loop, &rb->idle_w);
		ev_timer_stop(b->loop, &rb->timer_w);
		if (r == REPLAY_WAIT) {
			ev_timer_set(&rb->timer_w, (double)(due - now) / 1e9,
				     0.);
			ev_timer_start(b->loop, &rb->timer_w);
			return;
		}
		replay_ended(rb, now);
		return;
	}
	/* Batch done and more frames may be due: come back on the next loop
	 * iteration, after the other watchers. */
	if (rb->speed <= 0) {
		ev_idle_start(b->loop, &rb->idle_w);
	} else {
		ev_timer_stop(b->loop, &rb->timer_w);
		ev_timer_set(&rb->timer_w, 0., 0.);
		ev_timer_start(b->loop, &rb->timer_w);
	}
}

static void replay_run(struct bus_replay *rb)
{
	bus_batch_begin(rb->bus.batch);
	replay_batch(rb);
	bus_batch_end(rb->bus.batch);
}

static void replay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	replay_run(container_of(w, struct bus_replay, timer_w));
}

static void replay_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)revents;
	replay_run(container_of(w, struct bus_replay, idle_w));
}

static int replay_check(const struct config_bus *cb, char *errmsg,
			size_t errlen)
{
	if (cb->replay_path && access(cb->replay_path, R_OK) < 0) {
		snprintf(errmsg, errlen, "bus %s: replay log %s: %s", cb->name,
			 cb->replay_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int replay_bus_open(struct bus *b, const struct config_bus *cb,
			   char *errmsg, size_t errlen)
{
	struct bus_replay *rb = to_replay(b);
	char e[300];

	rb->speed = cb->replay_speed;
	rb->bad_rl =
		(struct log_ratelimit)LOG_RATELIMIT_INIT(UINT64_C(1000000000), 5);
	ev_timer_init(&rb->timer_w, replay_timer_cb, 0., 0.);
	ev_idle_init(&rb->idle_w, replay_idle_cb);
	if (cb->replay_path && !(rb->path = strdup(cb->replay_path))) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	rb->replay = replay_open(rb->path ? rb->path : "", rb->speed, e,
				 sizeof(e));
	if (!rb->replay) {
		snprintf(errmsg, errlen, "bus %s: replay %s", b->name, e);
		return -1;
	}
	replay_first_time(rb->replay);
	b->state = BUS_STATE_UP;
	return 0;
}

/* Replay buses wait for this, so that evidence and rules are ready before
 * the first frame. */
static void replay_start(struct bus *b)
{
	struct bus_replay *rb = to_replay(b);

	if (b->state != BUS_STATE_UP)
		return;
	if (ev_is_active(&rb->timer_w) || ev_is_active(&rb->idle_w))
		return;
	if (rb->speed <= 0)
		ev_idle_start(b->loop, &rb->idle_w);
	else {
		ev_timer_set(&rb->timer_w, 0., 0.);
		ev_timer_start(b->loop, &rb->timer_w);
	}
}

static void replay_stop(struct bus *b)
{
	struct bus_replay *rb = to_replay(b);

	ev_timer_stop(b->loop, &rb->timer_w);
	ev_idle_stop(b->loop, &rb->idle_w);
	replay_free(rb->replay);
	rb->replay = NULL;
	free(rb->path);
	rb->path = NULL;
}

static bool replay_same_config(const struct bus *b,
			       const struct config_bus *cb)
{
	const struct bus_replay *rb = to_replay_c(b);

	return bus_str_eq(b->ifname, cb->interface) &&
	       bus_str_eq(rb->path, cb->replay_path) &&
	       rb->speed == cb->replay_speed;
}

static uint64_t replay_bus_log_time(const struct bus *b, uint64_t mono_ns)
{
	return replay_log_time(to_replay_c(b)->replay, mono_ns);
}

static const struct replay_stats *replay_bus_stats(const struct bus *b)
{
	return replay_stats(to_replay_c(b)->replay);
}

const struct bus_ops bus_replay_ops = {
	.kind = "replay",
	.size = sizeof(struct bus_replay),
	.live = false,
	.check = replay_check,
	.open = replay_bus_open,
	.start = replay_start,
	.send = bus_send_discard,
	.stop = replay_stop,
	.same_config = replay_same_config,
	.log_time = replay_bus_log_time,
	.replay_stats = replay_bus_stats,
};
