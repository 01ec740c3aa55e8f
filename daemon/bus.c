/*
 * bus.c: CAN buses (SocketCAN, replay, null), tx queues. See bus.h.
 *
 * The receive path follows can-utils candump: recvmsg control messages carry
 * the kernel timestamp and the socket's cumulative drop counter, and a read
 * whose size is neither CAN_MTU nor CANFD_MTU is counted, not used.
 */
#define _GNU_SOURCE /* recvmmsg */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <libsocketcan.h>
#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/raw.h>

#include "daemon/bus.h"
#include "daemon/log.h"

#define BUS_RX_BATCH 32        /* frames per recvmmsg call */
#define BUS_RX_ROUNDS 8        /* recvmmsg calls per readiness, then yield */
#define BUS_TX_BATCH 256       /* queued frames written per drain */
#define BUS_MMSG 64            /* frames per sendmmsg call */
#define BUS_REPLAY_BATCH 256   /* replayed frames per loop iteration */
#define BUS_RCVBUF (32 << 20)  /* bytes, as candump -r: rides out bursts */
#define BUS_RETRY_MIN 0.1      /* seconds: reopen backoff */
#define BUS_RETRY_MAX 5.0
#define BUS_ENOBUFS_RETRY 0.001 /* seconds: qdisc full, EV_WRITE would spin */
#define BUS_CTRL_POLL_NS UINT64_C(1000000000)

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
/* buses */

struct bus {
	int index;
	struct ev_loop *loop;
	struct bus_handler h;

	/* copy of the config: the config may be freed by a reload */
	char *name;
	char *ifname;
	enum bus_kind kind;
	char *replay_path;
	double replay_speed;
	bool fd_enabled;
	uint32_t bitrate, restart_ms;
	uint32_t txqueue_len, txqueue_max_age_ms;

	enum bus_state state;
	int sock;
	ev_io rx_w;
	ev_io tx_w;
	ev_timer txretry_w;
	ev_timer reopen_w;
	double backoff;
	uint64_t t_down_ns;
	int down_errno;
	bool down_logged;
	uint32_t ovfl;         /* last SO_RXQ_OVFL value of this socket */

	struct txq txq;
	struct bus_counters c;

	bool ctrl_known;       /* libsocketcan answers for this interface */
	bool ctrl_checked;
	enum bus_ctrl_state ctrl;
	uint16_t txerr, rxerr;
	uint64_t ctrl_polled_ns;
	struct log_ratelimit err_rl;

	bool deferred;            /* on the bus_deferred list */
	struct bus *defer_next;

	struct replay *replay;
	ev_timer replay_w;
	ev_idle replay_idle;
	struct log_ratelimit replay_rl;
};

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

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
enum bus_kind bus_kind(const struct bus *b) { return b->kind; }
enum bus_state bus_state(const struct bus *b) { return b->state; }
const struct bus_counters *bus_counters(const struct bus *b) { return &b->c; }
uint32_t bus_queue_len(const struct bus *b) { return b->txq.count; }

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
	return b->replay ? replay_stats(b->replay) : NULL;
}

uint64_t bus_replay_log_time(const struct bus *b, uint64_t mono_ns)
{
	return b->replay ? replay_log_time(b->replay, mono_ns) : 0;
}

static void bus_event(struct bus *b, uint64_t t_ns, const char *type,
		      const char *fields)
{
	if (b->h.event)
		b->h.event(b->h.ctx, b, t_ns, type, fields);
}

static void bus_tx_done(struct bus *b, const struct txq_entry *e, bool sent)
{
	if (b->h.tx_done)
		b->h.tx_done(b->h.ctx, b, e, sent);
}

static void bus_queue_dropped_cb(void *ctx, const struct txq_entry *e)
{
	struct bus *b = ctx;

	b->c.queue_dropped++;
	bus_tx_done(b, e, false);
}

static void bus_queue_drop_all(struct bus *b)
{
	const struct txq_entry *e;

	while ((e = txq_peek(&b->txq))) {
		bus_queue_dropped_cb(b, e);
		txq_pop(&b->txq);
	}
}

/* ---- SocketCAN ---- */

static bool bus_errno_is_gone(int e)
{
	return e == ENETDOWN || e == ENODEV || e == ENXIO || e == ENETUNREACH;
}

static void bus_rx_cb(struct ev_loop *loop, ev_io *w, int revents);
static void bus_tx_cb(struct ev_loop *loop, ev_io *w, int revents);
static void bus_reopen_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void bus_defer_begin(void);
static void bus_defer_end(void);

/* libsocketcan settings and state, once per bus. vcan has no controller:
 * say so once and carry on. These calls need CAP_NET_ADMIN and take the
 * interface down and up, so they run before our socket is bound. */
static void bus_ctrl_setup(struct bus *b)
{
	char sysdev[64];
	int st;

	if (b->ctrl_checked)
		return;
	snprintf(sysdev, sizeof(sysdev), "/sys/class/net/%s", b->ifname);
	if (access(sysdev, F_OK) != 0)
		return; /* not there yet: decide when it appears */
	b->ctrl_checked = true;
	/* A virtual interface (vcan, vxcan) has no device behind it in sysfs
	 * and no controller attributes: don't ask libsocketcan, which would
	 * print "no link data found" on stderr. */
	snprintf(sysdev, sizeof(sysdev), "/sys/class/net/%s/device", b->ifname);
	if (access(sysdev, F_OK) != 0 || can_get_state(b->ifname, &st) != 0) {
		b->ctrl_known = false;
		if (b->bitrate || b->restart_ms)
			log_info("bus %s: %s has no CAN controller (vcan?): "
				 "bitrate and restart_ms not applied",
				 b->name, b->ifname);
		else
			log_info("bus %s: %s has no CAN controller state "
				 "(vcan?): no error counters in status",
				 b->name, b->ifname);
		return;
	}
	b->ctrl_known = true;
	b->ctrl = st >= 0 && st < BUS_CTRL_UNKNOWN ? (enum bus_ctrl_state)st
						   : BUS_CTRL_UNKNOWN;
	if (!b->bitrate && !b->restart_ms)
		return;
	if (can_do_stop(b->ifname) != 0)
		log_warnx("bus %s: cannot stop %s to configure it (needs "
			  "CAP_NET_ADMIN)", b->name, b->ifname);
	if (b->bitrate && can_set_bitrate(b->ifname, b->bitrate) != 0)
		log_warnx("bus %s: cannot set bitrate %" PRIu32 " on %s",
			  b->name, b->bitrate, b->ifname);
	if (b->restart_ms && can_set_restart_ms(b->ifname, b->restart_ms) != 0)
		log_warnx("bus %s: cannot set restart_ms %" PRIu32 " on %s",
			  b->name, b->restart_ms, b->ifname);
	if (can_do_start(b->ifname) != 0)
		log_warnx("bus %s: cannot start %s", b->name, b->ifname);
}

static void bus_ctrl_poll(struct bus *b)
{
	struct can_berr_counter bc;
	int st;

	if (!b->ctrl_known)
		return;
	if (can_get_state(b->ifname, &st) == 0 && st >= 0 &&
	    st < BUS_CTRL_UNKNOWN)
		b->ctrl = (enum bus_ctrl_state)st;
	if (can_get_berr_counter(b->ifname, &bc) == 0) {
		b->txerr = bc.txerr;
		b->rxerr = bc.rxerr;
	}
}

/* Open and bind the socket. 0, or -1 with errno (ENODEV, ENETDOWN: retry
 * later; EAFNOSUPPORT: no CAN in this kernel). */
static int bus_sock_open(struct bus *b)
{
	struct sockaddr_can addr;
	struct ifreq ifr;
	can_err_mask_t errmask = CAN_ERR_MASK;
	int one = 1, zero = 0, rcvbuf = BUS_RCVBUF;
	int fd, saved;

	fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", b->ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		errno = ENODEV;
		goto err;
	}
	memset(&addr, 0, sizeof(addr));
	addr.can_family = AF_CAN;
	addr.can_ifindex = ifr.ifr_ifindex;
	/* Binding to a down interface succeeds but never receives, and we
	 * would not hear when it comes up: treat it as missing. */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP)) {
		errno = ENETDOWN;
		goto err;
	}
	if (b->fd_enabled &&
	    setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &one, sizeof(one)) <
		    0)
		goto err;
	if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &errmask,
		       sizeof(errmask)) < 0)
		goto err;
	/* Loopback on (the kernel default): other local sockets such as a
	 * candump see what we send. Our own sends are not read back. */
	setsockopt(fd, SOL_CAN_RAW, CAN_RAW_LOOPBACK, &one, sizeof(one));
	setsockopt(fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &zero, sizeof(zero));
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto err;
	b->sock = fd;
	b->ovfl = 0;
	return 0;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void bus_start_io(struct bus *b)
{
	ev_io_init(&b->rx_w, bus_rx_cb, b->sock, EV_READ);
	ev_io_init(&b->tx_w, bus_tx_cb, b->sock, EV_WRITE);
	ev_io_start(b->loop, &b->rx_w);
}

static void bus_stop_io(struct bus *b)
{
	ev_io_stop(b->loop, &b->rx_w);
	ev_io_stop(b->loop, &b->tx_w);
	ev_timer_stop(b->loop, &b->txretry_w);
	if (b->sock >= 0) {
		close(b->sock);
		b->sock = -1;
	}
}

static void bus_schedule_reopen(struct bus *b)
{
	ev_timer_stop(b->loop, &b->reopen_w);
	ev_timer_set(&b->reopen_w, b->backoff, 0.);
	ev_timer_start(b->loop, &b->reopen_w);
}

static void bus_go_down(struct bus *b, int err)
{
	char fields[160];

	if (b->state != BUS_STATE_UP)
		return;
	bus_stop_io(b);
	bus_queue_drop_all(b);
	b->state = BUS_STATE_DOWN;
	b->t_down_ns = bus_real_ns();
	b->down_errno = err;
	b->backoff = BUS_RETRY_MIN;
	log_warnx("bus %s: %s is down (%s), reopening in the background",
		  b->name, b->ifname, strerror(err));
	snprintf(fields, sizeof(fields), "\"reason\":\"%s\"", strerror(err));
	bus_event(b, b->t_down_ns, "bus_down", fields);
	bus_schedule_reopen(b);
}

static void bus_reopen_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bus *b = container_of(w, struct bus, reopen_w);
	char fields[160];
	uint64_t t_up;

	(void)loop;
	(void)revents;
	bus_ctrl_setup(b);
	if (bus_sock_open(b) < 0) {
		b->backoff *= 2;
		if (b->backoff > BUS_RETRY_MAX)
			b->backoff = BUS_RETRY_MAX;
		bus_schedule_reopen(b);
		return;
	}
	b->state = BUS_STATE_UP;
	bus_start_io(b);
	t_up = bus_real_ns();
	if (b->t_down_ns) {
		b->c.reopens++;
		log_info("bus %s: %s is back after %.3f s", b->name, b->ifname,
			 (double)(t_up - b->t_down_ns) / 1e9);
		snprintf(fields, sizeof(fields),
			 "\"t_down\":%" PRIu64 ".%09" PRIu64 ",\"t_up\":%" PRIu64
			 ".%09" PRIu64 ",\"gap_ms\":%" PRIu64,
			 b->t_down_ns / UINT64_C(1000000000),
			 b->t_down_ns % UINT64_C(1000000000), t_up / UINT64_C(1000000000),
			 t_up % UINT64_C(1000000000),
			 (t_up - b->t_down_ns) / UINT64_C(1000000));
		bus_event(b, t_up, "bus_up", fields);
	} else {
		log_info("bus %s: %s is up", b->name, b->ifname);
		bus_event(b, t_up, "bus_up", NULL);
	}
	b->t_down_ns = 0;
}

static void bus_set_ctrl(struct bus *b, enum bus_ctrl_state st,
			 uint64_t t_ns, const char *name)
{
	char fields[128];

	if (st == b->ctrl && !name)
		return;
	b->ctrl = st;
	snprintf(fields, sizeof(fields),
		 "\"state\":\"%s\",\"txerr\":%u,\"rxerr\":%u",
		 name ? name : bus_ctrl_state_name(st), b->txerr, b->rxerr);
	/* A flapping bus could change state at frame rate. */
	if (log_ratelimit(&b->err_rl, bus_mono_ns()))
		log_warnx("bus %s: controller %s (txerr %u, rxerr %u)",
			  b->name, name ? name : bus_ctrl_state_name(st),
			  b->txerr, b->rxerr);
	bus_event(b, t_ns, "bus_state", fields);
}

static void bus_error_frame(struct bus *b, const struct canfd_frame *cf,
			    uint64_t t_ns)
{
	canid_t cls = cf->can_id & CAN_ERR_MASK;
	enum bus_ctrl_state st = b->ctrl;

	b->c.err_frames++;
	if (cls & (CAN_ERR_CRTL | CAN_ERR_CNT)) {
		b->txerr = cf->data[6];
		b->rxerr = cf->data[7];
	}
	if (cls & CAN_ERR_RESTARTED) {
		bus_set_ctrl(b, BUS_CTRL_ERROR_ACTIVE, t_ns, "restarted");
		return;
	}
	if (cls & CAN_ERR_BUSOFF)
		st = BUS_CTRL_BUS_OFF;
	else if (cls & CAN_ERR_CRTL) {
		uint8_t d = cf->data[1];

		if (d & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE))
			st = BUS_CTRL_ERROR_PASSIVE;
		else if (d & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING))
			st = BUS_CTRL_ERROR_WARNING;
		else if (d & CAN_ERR_CRTL_ACTIVE)
			st = BUS_CTRL_ERROR_ACTIVE;
	}
	if (st != b->ctrl)
		bus_set_ctrl(b, st, t_ns, NULL);
}

static void bus_rx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bus *b = container_of(w, struct bus, rx_w);
	struct canfd_frame cf[BUS_RX_BATCH];
	struct iovec iov[BUS_RX_BATCH];
	struct mmsghdr msg[BUS_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) +
			 CMSG_SPACE(sizeof(uint32_t)) + 64];
		struct cmsghdr align;
	} ctrl[BUS_RX_BATCH];

	(void)loop;
	(void)revents;
	for (int round = 0; round < BUS_RX_ROUNDS; round++) {
		int n;

		for (int i = 0; i < BUS_RX_BATCH; i++) {
			iov[i].iov_base = &cf[i];
			iov[i].iov_len = sizeof(cf[i]);
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
			msg[i].msg_hdr.msg_control = ctrl[i].buf;
			msg[i].msg_hdr.msg_controllen = sizeof(ctrl[i].buf);
		}
		n = recvmmsg(b->sock, msg, BUS_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (bus_errno_is_gone(errno)) {
				bus_go_down(b, errno);
				return;
			}
			b->c.bad_frames++;
			if (log_ratelimit(&b->err_rl, bus_mono_ns()))
				log_warn("bus %s: read", b->name);
			return;
		}
		bus_defer_begin();
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &msg[i].msg_hdr;
			struct cmsghdr *cm;
			struct frame f;
			uint64_t t_ns = 0;
			unsigned len = msg[i].msg_len;

			for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
				if (cm->cmsg_level != SOL_SOCKET)
					continue;
				if (cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
					t_ns = (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
					       (uint64_t)ts.tv_nsec;
				} else if (cm->cmsg_type == SO_RXQ_OVFL) {
					uint32_t ovfl;

					memcpy(&ovfl, CMSG_DATA(cm), sizeof(ovfl));
					/* cumulative per socket; unsigned
					 * difference survives wrap-around */
					b->c.kernel_dropped += (uint32_t)(ovfl - b->ovfl);
					b->ovfl = ovfl;
				}
			}
			if (len != CAN_MTU && len != CANFD_MTU) {
				b->c.bad_frames++;
				continue;
			}
			if (!t_ns)
				t_ns = bus_real_ns();
			if (cf[i].can_id & CAN_ERR_FLAG)
				bus_error_frame(b, &cf[i], t_ns);
			else
				b->c.rx++;
			frame_from_can(&f, &cf[i], len == CANFD_MTU, t_ns);
			f.dir = FRAME_DIR_RX;
			if (b->h.frame)
				b->h.frame(b->h.ctx, b, &f, b->ifname);
			/* the handler may have taken the bus down (a send
			 * failing with ENETDOWN) */
			if (b->state != BUS_STATE_UP)
				break;
		}
		bus_defer_end();
		if (n < BUS_RX_BATCH || b->state != BUS_STATE_UP)
			return;
	}
	/* Batch limit reached: the fd is still readable, libev calls us again
	 * after the other watchers had their turn. */
}

/* Write one frame. 0, or -1 with errno. */
static int bus_write(struct bus *b, const struct canfd_frame *cf, bool fd)
{
	size_t size = fd ? CANFD_MTU : CAN_MTU;
	ssize_t n = write(b->sock, cf, size);

	if (n == (ssize_t)size)
		return 0;
	if (n >= 0)
		errno = EIO;
	return -1;
}

static void bus_wait_writable(struct bus *b, int err)
{
	if (err == ENOBUFS) {
		/* The qdisc is full; the socket itself stays writable, so
		 * EV_WRITE would fire at once and spin. Retry shortly. */
		ev_io_stop(b->loop, &b->tx_w);
		if (!ev_is_active(&b->txretry_w)) {
			ev_timer_set(&b->txretry_w, BUS_ENOBUFS_RETRY, 0.);
			ev_timer_start(b->loop, &b->txretry_w);
		}
	} else {
		ev_io_start(b->loop, &b->tx_w);
	}
}

/* Queued entry k (0 = oldest). */
static const struct txq_entry *bus_txq_at(const struct bus *b, uint32_t k)
{
	return &b->txq.ring[(b->txq.head + k) % b->txq.cap];
}

/* Write out the queue, up to BUS_TX_BATCH frames per call, BUS_MMSG frames
 * per sendmmsg(): one system call for a whole receive batch's worth. */
static void bus_drain(struct bus *b)
{
	struct mmsghdr msg[BUS_MMSG];
	struct iovec iov[BUS_MMSG];
	const struct txq_entry *e;
	int done = 0;

	if (b->state != BUS_STATE_UP)
		return;
	txq_expire(&b->txq, bus_mono_ns(),
		   (uint64_t)b->txqueue_max_age_ms * UINT64_C(1000000),
		   bus_queue_dropped_cb, b);
	while (done < BUS_TX_BATCH && b->txq.count) {
		uint32_t cnt = b->txq.count < BUS_MMSG ? b->txq.count : BUS_MMSG;
		int n;

		for (uint32_t k = 0; k < cnt; k++) {
			e = bus_txq_at(b, k);
			iov[k].iov_base = (void *)&e->cf;
			iov[k].iov_len = e->fd ? CANFD_MTU : CAN_MTU;
			memset(&msg[k], 0, sizeof(msg[k]));
			msg[k].msg_hdr.msg_iov = &iov[k];
			msg[k].msg_hdr.msg_iovlen = 1;
		}
		n = sendmmsg(b->sock, msg, cnt, MSG_DONTWAIT);
		if (n > 0) {
			for (int k = 0; k < n; k++) {
				b->c.tx++;
				bus_tx_done(b, txq_peek(&b->txq), true);
				txq_pop(&b->txq);
			}
			done += n;
			continue; /* a short count: the next call says why */
		}
		e = txq_peek(&b->txq);
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
			bus_wait_writable(b, errno);
			return;
		}
		if (bus_errno_is_gone(errno)) {
			bus_go_down(b, errno);
			return;
		}
		b->c.tx_errors++;
		bus_tx_done(b, e, false);
		txq_pop(&b->txq);
		done++;
	}
	if (b->txq.count)
		ev_io_start(b->loop, &b->tx_w); /* more: next iteration */
	else
		ev_io_stop(b->loop, &b->tx_w);
}

/*
 * Deferred sending: while a receive batch is processed, frames routed to a
 * SocketCAN bus are queued and written together when the batch ends (one
 * sendmmsg() instead of a write() per frame). Their fate is reported through
 * tx_done() within the same callback, so nothing waits longer than the batch.
 */
static struct bus *bus_deferred;
static int bus_defer_depth;
static uint64_t bus_defer_mono; /* one clock read per batch, not per frame */

static void bus_defer_begin(void)
{
	if (bus_defer_depth++ == 0)
		bus_defer_mono = bus_mono_ns();
}

static void bus_defer_end(void)
{
	if (--bus_defer_depth > 0)
		return;
	while (bus_deferred) {
		struct bus *b = bus_deferred;

		bus_deferred = b->defer_next;
		b->defer_next = NULL;
		b->deferred = false;
		bus_drain(b);
	}
}

static void bus_defer_unlink(struct bus *b)
{
	for (struct bus **p = &bus_deferred; *p; p = &(*p)->defer_next) {
		if (*p == b) {
			*p = b->defer_next;
			break;
		}
	}
	b->deferred = false;
	b->defer_next = NULL;
}

static void bus_tx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	bus_drain(container_of(w, struct bus, tx_w));
}

static void bus_txretry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	bus_drain(container_of(w, struct bus, txretry_w));
}

enum bus_tx_result bus_send(struct bus *b, const struct frame *f, int route)
{
	struct txq_entry e;

	if (b->kind != BUS_SOCKETCAN) {
		b->c.tx++; /* replay and null: counted sink */
		return BUS_TX_SENT;
	}
	if (b->state != BUS_STATE_UP) {
		b->c.tx_errors++;
		return BUS_TX_DROPPED;
	}
	if (f->fd && !b->fd_enabled) {
		b->c.tx_errors++;
		return BUS_TX_DROPPED;
	}
	frame_to_can(f, &e.cf);
	e.fd = f->fd;
	if (b->txq.count == 0 && bus_defer_depth == 0) {
		if (bus_write(b, &e.cf, e.fd) == 0) {
			b->c.tx++;
			return BUS_TX_SENT;
		}
		if (bus_errno_is_gone(errno)) {
			b->c.tx_errors++;
			bus_go_down(b, errno);
			return BUS_TX_DROPPED;
		}
		if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
			b->c.tx_errors++;
			if (log_ratelimit(&b->err_rl, bus_mono_ns()))
				log_warn("bus %s: write", b->name);
			return BUS_TX_DROPPED;
		}
		bus_wait_writable(b, errno);
	}
	/* Behind a non-empty queue a frame waits its turn: order is kept. */
	e.queued_ns = bus_defer_depth ? bus_defer_mono : bus_mono_ns();
	e.t_ns = f->t_ns;
	e.route = route;
	if (txq_push(&b->txq, &e) < 0) {
		b->c.queue_dropped++;
		return BUS_TX_DROPPED;
	}
	if (bus_defer_depth > 0) {
		if (!b->deferred) {
			b->deferred = true;
			b->defer_next = bus_deferred;
			bus_deferred = b;
		}
	} else {
		b->c.queued++;
	}
	return BUS_TX_QUEUED;
}

void bus_housekeep(struct bus *b, uint64_t mono_ns)
{
	if (b->txq.count && b->state == BUS_STATE_UP) {
		/* EV_WRITE may never come (bus-off): age out from here. */
		txq_expire(&b->txq, mono_ns,
			   (uint64_t)b->txqueue_max_age_ms * UINT64_C(1000000),
			   bus_queue_dropped_cb, b);
		if (!b->txq.count)
			ev_io_stop(b->loop, &b->tx_w);
	}
	if (b->ctrl_known && mono_ns - b->ctrl_polled_ns >= BUS_CTRL_POLL_NS) {
		b->ctrl_polled_ns = mono_ns;
		bus_ctrl_poll(b);
	}
}

void bus_flush(struct bus *b, unsigned timeout_ms)
{
	uint64_t deadline = bus_mono_ns() + (uint64_t)timeout_ms * UINT64_C(1000000);
	const struct txq_entry *e;

	while (b->state == BUS_STATE_UP && (e = txq_peek(&b->txq))) {
		uint64_t now = bus_mono_ns();
		struct pollfd pfd = {.fd = b->sock, .events = POLLOUT};

		if (now >= deadline)
			break;
		if (bus_write(b, &e->cf, e->fd) == 0) {
			b->c.tx++;
			bus_tx_done(b, e, true);
			txq_pop(&b->txq);
			continue;
		}
		if (errno == EAGAIN)
			poll(&pfd, 1, (int)((deadline - now) / UINT64_C(1000000)) + 1);
		else if (errno == ENOBUFS || errno == EINTR)
			poll(NULL, 0, 1);
		else {
			b->c.tx_errors++;
			bus_tx_done(b, e, false);
			txq_pop(&b->txq);
		}
	}
	bus_queue_drop_all(b);
	ev_io_stop(b->loop, &b->tx_w);
}

/* ---- replay ---- */

static void bus_replay_batch(struct bus *b)
{
	uint64_t now = bus_mono_ns();
	struct frame f;
	char ifname[FRAME_IFNAME_MAX];
	uint64_t due = 0;
	bool bad;

	for (int i = 0; i < BUS_REPLAY_BATCH; i++) {
		enum replay_result r =
			replay_next(b->replay, now, &f, ifname, &due, &bad);

		if (bad) {
			b->c.bad_frames++;
			if (log_ratelimit(&b->replay_rl, now))
				log_warnx("bus %s: %s", b->name,
					  replay_stats(b->replay)->last_error);
		}
		if (r == REPLAY_FRAME) {
			if (f.err)
				b->c.err_frames++;
			else
				b->c.rx++;
			if (b->h.frame)
				b->h.frame(b->h.ctx, b, &f, ifname);
			if (b->state != BUS_STATE_UP)
				return; /* the handler freed nothing, but a
					   reload may have stopped us */
			continue;
		}
		ev_idle_stop(b->loop, &b->replay_idle);
		ev_timer_stop(b->loop, &b->replay_w);
		if (r == REPLAY_WAIT) {
			ev_timer_set(&b->replay_w, (double)(due - now) / 1e9,
				     0.);
			ev_timer_start(b->loop, &b->replay_w);
			return;
		}
		{
			const struct replay_stats *st = replay_stats(b->replay);
			char fields[160];

			b->state = BUS_STATE_ENDED;
			log_info("bus %s: replay of %s ended: %" PRIu64
				 " frames, %" PRIu64 " bad lines",
				 b->name, b->replay_path, st->frames,
				 st->bad_lines);
			snprintf(fields, sizeof(fields),
				 "\"frames\":%" PRIu64 ",\"bad_lines\":%" PRIu64,
				 st->frames, st->bad_lines);
			bus_event(b, replay_log_time(b->replay, now),
				  "replay_end", fields);
		}
		return;
	}
	/* Batch done and more frames may be due: come back on the next loop
	 * iteration, after the other watchers. */
	if (b->replay_speed <= 0) {
		ev_idle_start(b->loop, &b->replay_idle);
	} else {
		ev_timer_stop(b->loop, &b->replay_w);
		ev_timer_set(&b->replay_w, 0., 0.);
		ev_timer_start(b->loop, &b->replay_w);
	}
}

static void bus_replay_run(struct bus *b)
{
	bus_defer_begin();
	bus_replay_batch(b);
	bus_defer_end();
}

static void bus_replay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	bus_replay_run(container_of(w, struct bus, replay_w));
}

static void bus_replay_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)revents;
	bus_replay_run(container_of(w, struct bus, replay_idle));
}

void bus_go(struct bus *b)
{
	if (b->kind != BUS_REPLAY || b->state != BUS_STATE_UP)
		return;
	if (ev_is_active(&b->replay_w) || ev_is_active(&b->replay_idle))
		return;
	if (b->replay_speed <= 0)
		ev_idle_start(b->loop, &b->replay_idle);
	else {
		ev_timer_set(&b->replay_w, 0., 0.);
		ev_timer_start(b->loop, &b->replay_w);
	}
}

/* ---- life cycle ---- */

static char *bus_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct bus *bus_new(struct ev_loop *loop, int index,
		    const struct config_bus *cb, const struct bus_handler *h,
		    char *errmsg, size_t errlen)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (!b) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	b->index = index;
	b->loop = loop;
	b->h = *h;
	b->sock = -1;
	b->kind = cb->kind;
	b->name = bus_strdup(cb->name);
	b->ifname = bus_strdup(cb->interface ? cb->interface
					     : (cb->kind == BUS_NULL ? "null"
								     : cb->name));
	b->replay_path = bus_strdup(cb->replay_path);
	b->replay_speed = cb->replay_speed;
	b->fd_enabled = cb->fd;
	b->bitrate = cb->bitrate;
	b->restart_ms = cb->restart_ms;
	b->txqueue_len = cb->txqueue_len ? cb->txqueue_len : 1024;
	b->txqueue_max_age_ms =
		cb->txqueue_max_age_ms ? cb->txqueue_max_age_ms : 100;
	b->ctrl = BUS_CTRL_UNKNOWN;
	b->backoff = BUS_RETRY_MIN;
	b->err_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(UINT64_C(1000000000), 5);
	b->replay_rl =
		(struct log_ratelimit)LOG_RATELIMIT_INIT(UINT64_C(1000000000), 5);
	ev_init(&b->rx_w, bus_rx_cb);
	ev_init(&b->tx_w, bus_tx_cb);
	ev_timer_init(&b->txretry_w, bus_txretry_cb, 0., 0.);
	ev_timer_init(&b->reopen_w, bus_reopen_cb, 0., 0.);
	ev_timer_init(&b->replay_w, bus_replay_timer_cb, 0., 0.);
	ev_idle_init(&b->replay_idle, bus_replay_idle_cb);
	if (!b->name || !b->ifname || (cb->replay_path && !b->replay_path)) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	if (txq_init(&b->txq, b->txqueue_len) < 0) {
		snprintf(errmsg, errlen, "bus %s: out of memory for %" PRIu32
			 " queued frames", b->name, b->txqueue_len);
		goto err;
	}

	switch (b->kind) {
	case BUS_NULL:
		b->state = BUS_STATE_UP;
		break;
	case BUS_REPLAY: {
		char e[300];

		b->replay = replay_open(b->replay_path ? b->replay_path : "",
					b->replay_speed, e, sizeof(e));
		if (!b->replay) {
			snprintf(errmsg, errlen, "bus %s: replay %s", b->name,
				 e);
			goto err;
		}
		replay_first_time(b->replay);
		b->state = BUS_STATE_UP;
		break;
	}
	case BUS_SOCKETCAN:
		bus_ctrl_setup(b);
		if (bus_sock_open(b) == 0) {
			b->state = BUS_STATE_UP;
			bus_start_io(b);
			break;
		}
		if (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) {
			snprintf(errmsg, errlen,
				 "bus %s: this kernel has no CAN support "
				 "(modprobe can-raw)", b->name);
			goto err;
		}
		if (errno == EPERM || errno == EACCES) {
			snprintf(errmsg, errlen, "bus %s: %s: %s", b->name,
				 b->ifname, strerror(errno));
			goto err;
		}
		/* Missing or down: start down and come up when it does. */
		log_warnx("bus %s: %s: %s; waiting for it", b->name, b->ifname,
			  strerror(errno));
		b->state = BUS_STATE_DOWN;
		b->t_down_ns = bus_real_ns();
		bus_schedule_reopen(b);
		break;
	}
	return b;
err:
	bus_free(b);
	return NULL;
}

void bus_free(struct bus *b)
{
	if (!b)
		return;
	bus_defer_unlink(b);
	bus_stop_io(b);
	ev_timer_stop(b->loop, &b->reopen_w);
	ev_timer_stop(b->loop, &b->replay_w);
	ev_idle_stop(b->loop, &b->replay_idle);
	replay_free(b->replay);
	txq_fini(&b->txq);
	free(b->name);
	free(b->ifname);
	free(b->replay_path);
	free(b);
}

static bool bus_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool bus_config_same(const struct bus *b, const struct config_bus *cb)
{
	uint32_t qlen = cb->txqueue_len ? cb->txqueue_len : 1024;
	uint32_t age = cb->txqueue_max_age_ms ? cb->txqueue_max_age_ms : 100;

	return b->kind == cb->kind && bus_str_eq(b->name, cb->name) &&
	       (cb->kind == BUS_NULL || bus_str_eq(b->ifname, cb->interface)) &&
	       bus_str_eq(b->replay_path, cb->replay_path) &&
	       b->replay_speed == cb->replay_speed && b->fd_enabled == cb->fd &&
	       b->bitrate == cb->bitrate && b->restart_ms == cb->restart_ms &&
	       b->txqueue_len == qlen && b->txqueue_max_age_ms == age;
}

void bus_rebind(struct bus *b, int index, const struct bus_handler *h)
{
	b->index = index;
	b->h = *h;
}
