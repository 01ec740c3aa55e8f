/*
 * bus_socketcan.c: a SocketCAN interface. One CAN_RAW socket for rx and tx,
 * kernel timestamps, kernel drop counts, error frames turned into bus-state
 * events, a bounded tx queue drained on EV_WRITE, reopening with backoff
 * while the interface is down. See bus.h.
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

#include "daemon/bus_backend.h"
#include "daemon/log.h"

#define SC_RX_BATCH 32        /* frames per recvmmsg call */
#define SC_RX_ROUNDS 8        /* recvmmsg calls per readiness, then yield */
#define SC_CATCH_UP_ROUNDS 64 /* recvmmsg calls before a deadline may run */
#define SC_TX_BATCH 256       /* queued frames written per drain */
#define SC_MMSG 64            /* frames per sendmmsg call */
#define SC_RCVBUF (32 << 20)  /* bytes, as candump -r: rides out bursts */
#define SC_RETRY_MIN 0.1      /* seconds: reopen backoff */
#define SC_RETRY_MAX 5.0
#define SC_ENOBUFS_RETRY 0.001 /* seconds: qdisc full, EV_WRITE would spin */
#define SC_CTRL_POLL_NS UINT64_C(1000000000)

struct bus_socketcan {
	struct bus bus;
	int sock;
	ev_io rx_w;
	ev_io tx_w;
	ev_timer txretry_w;
	ev_timer reopen_w;
	double backoff;
	uint64_t t_down_ns;
	uint32_t ovfl;         /* last SO_RXQ_OVFL value of this socket */
	struct txq txq;
	bool ctrl_checked;     /* libsocketcan asked about this interface */
	uint64_t ctrl_polled_ns;
	struct log_ratelimit err_rl;
};

static struct bus_socketcan *to_sc(struct bus *b)
{
	return container_of(b, struct bus_socketcan, bus);
}

static const struct bus_socketcan *to_sc_c(const struct bus *b)
{
	return container_of(b, const struct bus_socketcan, bus);
}

static void sc_queue_dropped_cb(void *ctx, const struct txq_entry *e)
{
	struct bus_socketcan *s = ctx;

	s->bus.c.queue_dropped++;
	bus_tx_done(&s->bus, e, false);
}

static void sc_queue_drop_all(struct bus_socketcan *s)
{
	const struct txq_entry *e;

	while ((e = txq_peek(&s->txq))) {
		sc_queue_dropped_cb(s, e);
		txq_pop(&s->txq);
	}
}

static bool sc_errno_is_gone(int e)
{
	return e == ENETDOWN || e == ENODEV || e == ENXIO || e == ENETUNREACH;
}

static void sc_rx_cb(struct ev_loop *loop, ev_io *w, int revents);
static void sc_tx_cb(struct ev_loop *loop, ev_io *w, int revents);
static void sc_reopen_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* libsocketcan settings and state, once per bus. vcan has no controller:
 * say so once and carry on. These calls need CAP_NET_ADMIN and take the
 * interface down and up, so they run before our socket is bound. */
static void sc_ctrl_setup(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;
	char sysdev[64];
	int st;

	if (s->ctrl_checked)
		return;
	snprintf(sysdev, sizeof(sysdev), "/sys/class/net/%s", b->ifname);
	if (access(sysdev, F_OK) != 0)
		return; /* not there yet: decide when it appears */
	s->ctrl_checked = true;
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

static void sc_ctrl_poll(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;
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
static int sc_sock_open(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;
	struct sockaddr_can addr;
	struct ifreq ifr;
	can_err_mask_t errmask = CAN_ERR_MASK;
	int one = 1, zero = 0, rcvbuf = SC_RCVBUF;
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
	s->sock = fd;
	s->ovfl = 0;
	return 0;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void sc_start_io(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;

	ev_io_init(&s->rx_w, sc_rx_cb, s->sock, EV_READ);
	ev_io_init(&s->tx_w, sc_tx_cb, s->sock, EV_WRITE);
	ev_io_start(b->loop, &s->rx_w);
}

static void sc_stop_io(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;

	ev_io_stop(b->loop, &s->rx_w);
	ev_io_stop(b->loop, &s->tx_w);
	ev_timer_stop(b->loop, &s->txretry_w);
	if (s->sock >= 0) {
		close(s->sock);
		s->sock = -1;
	}
}

static void sc_schedule_reopen(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;

	ev_timer_stop(b->loop, &s->reopen_w);
	ev_timer_set(&s->reopen_w, s->backoff, 0.);
	ev_timer_start(b->loop, &s->reopen_w);
}

static void sc_go_down(struct bus_socketcan *s, int err)
{
	struct bus *b = &s->bus;
	char buf[BUS_EVENT_MAX];
	struct json j;

	if (b->state != BUS_STATE_UP)
		return;
	sc_stop_io(s);
	sc_queue_drop_all(s);
	b->state = BUS_STATE_DOWN;
	s->t_down_ns = bus_real_ns();
	s->backoff = SC_RETRY_MIN;
	log_warnx("bus %s: %s is down (%s), reopening in the background",
		  b->name, b->ifname, strerror(err));
	bus_event_begin(b, &j, buf, sizeof(buf));
	json_key(&j, "reason");
	json_string(&j, strerror(err));
	bus_event_end(b, &j, s->t_down_ns, "bus_down");
	sc_schedule_reopen(s);
}

/* A wall-clock time as seconds with nine decimals, exact (a double has not
 * the digits for nanoseconds since 1970). */
static void sc_json_time(struct json *j, uint64_t t_ns)
{
	char t[48];
	int n = snprintf(t, sizeof(t), "%" PRIu64 ".%09" PRIu64,
			 t_ns / UINT64_C(1000000000), t_ns % UINT64_C(1000000000));

	json_raw(j, t, (size_t)n);
}

static void sc_reopen_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bus_socketcan *s = container_of(w, struct bus_socketcan, reopen_w);
	struct bus *b = &s->bus;
	char buf[BUS_EVENT_MAX];
	struct json j;
	uint64_t t_up;

	(void)loop;
	(void)revents;
	sc_ctrl_setup(s);
	if (sc_sock_open(s) < 0) {
		s->backoff *= 2;
		if (s->backoff > SC_RETRY_MAX)
			s->backoff = SC_RETRY_MAX;
		sc_schedule_reopen(s);
		return;
	}
	b->state = BUS_STATE_UP;
	sc_start_io(s);
	t_up = bus_real_ns();
	if (s->t_down_ns) {
		b->c.reopens++;
		log_info("bus %s: %s is back after %.3f s", b->name, b->ifname,
			 (double)(t_up - s->t_down_ns) / 1e9);
		bus_event_begin(b, &j, buf, sizeof(buf));
		json_key(&j, "t_down");
		sc_json_time(&j, s->t_down_ns);
		json_key(&j, "t_up");
		sc_json_time(&j, t_up);
		json_key(&j, "gap_ms");
		json_uint(&j, (t_up - s->t_down_ns) / UINT64_C(1000000));
	} else {
		log_info("bus %s: %s is up", b->name, b->ifname);
		bus_event_begin(b, &j, buf, sizeof(buf));
	}
	bus_event_end(b, &j, t_up, "bus_up");
	s->t_down_ns = 0;
}

static void sc_set_ctrl(struct bus_socketcan *s, enum bus_ctrl_state st,
			uint64_t t_ns, const char *name)
{
	struct bus *b = &s->bus;
	char buf[BUS_EVENT_MAX];
	struct json j;

	if (st == b->ctrl && !name)
		return;
	b->ctrl = st;
	/* A flapping bus could change state at frame rate. */
	if (log_ratelimit(&s->err_rl, bus_mono_ns()))
		log_warnx("bus %s: controller %s (txerr %u, rxerr %u)",
			  b->name, name ? name : bus_ctrl_state_name(st),
			  b->txerr, b->rxerr);
	bus_event_begin(b, &j, buf, sizeof(buf));
	json_key(&j, "state");
	json_string(&j, name ? name : bus_ctrl_state_name(st));
	json_key(&j, "txerr");
	json_uint(&j, b->txerr);
	json_key(&j, "rxerr");
	json_uint(&j, b->rxerr);
	bus_event_end(b, &j, t_ns, "bus_state");
}

static void sc_error_frame(struct bus_socketcan *s,
			   const struct canfd_frame *cf, uint64_t t_ns)
{
	struct bus *b = &s->bus;
	canid_t cls = cf->can_id & CAN_ERR_MASK;
	enum bus_ctrl_state st = b->ctrl;

	b->c.err_frames++;
	if (cls & (CAN_ERR_CRTL | CAN_ERR_CNT)) {
		b->txerr = cf->data[6];
		b->rxerr = cf->data[7];
	}
	if (cls & CAN_ERR_RESTARTED) {
		sc_set_ctrl(s, BUS_CTRL_ERROR_ACTIVE, t_ns, "restarted");
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
		sc_set_ctrl(s, st, t_ns, NULL);
}

/*
 * One recvmmsg() of up to SC_RX_BATCH frames, each handed to the gateway.
 * Returns how many were read (the socket may hold more when that is
 * SC_RX_BATCH), 0 when it was empty, -1 when reading failed or the bus went
 * down. *t_last gets the timestamp of the last frame read.
 */
static int sc_rx_round(struct bus_socketcan *s, uint64_t *t_last)
{
	struct bus *b = &s->bus;
	struct canfd_frame cf[SC_RX_BATCH];
	struct iovec iov[SC_RX_BATCH];
	struct mmsghdr msg[SC_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) +
			 CMSG_SPACE(sizeof(uint32_t)) + 64];
		struct cmsghdr align;
	} ctrl[SC_RX_BATCH];
	int n;

	for (int i = 0; i < SC_RX_BATCH; i++) {
		iov[i].iov_base = &cf[i];
		iov[i].iov_len = sizeof(cf[i]);
		memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_control = ctrl[i].buf;
		msg[i].msg_hdr.msg_controllen = sizeof(ctrl[i].buf);
	}
	n = recvmmsg(s->sock, msg, SC_RX_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (sc_errno_is_gone(errno)) {
			sc_go_down(s, errno);
			return -1;
		}
		b->c.bad_frames++;
		if (log_ratelimit(&s->err_rl, bus_mono_ns()))
			log_warn("bus %s: read", b->name);
		return -1;
	}
	bus_batch_begin(b->batch);
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
				/* cumulative per socket; unsigned difference
				 * survives wrap-around */
				b->c.kernel_dropped += (uint32_t)(ovfl - s->ovfl);
				s->ovfl = ovfl;
			}
		}
		if (len != CAN_MTU && len != CANFD_MTU) {
			b->c.bad_frames++;
			continue;
		}
		if (!t_ns)
			t_ns = bus_real_ns();
		if (cf[i].can_id & CAN_ERR_FLAG)
			sc_error_frame(s, &cf[i], t_ns);
		else
			b->c.rx++;
		*t_last = t_ns;
		frame_from_can(&f, &cf[i], len == CANFD_MTU, t_ns);
		f.dir = FRAME_DIR_RX;
		bus_deliver(b, &f, b->ifname);
		/* the handler may have taken the bus down (a send failing with
		 * ENETDOWN) */
		if (b->state != BUS_STATE_UP)
			break;
	}
	bus_batch_end(b->batch);
	return b->state == BUS_STATE_UP ? n : -1;
}

static void sc_rx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bus_socketcan *s = container_of(w, struct bus_socketcan, rx_w);
	uint64_t t_last;

	(void)loop;
	(void)revents;
	/* After SC_RX_ROUNDS full batches the fd is still readable: libev
	 * calls us again after the other watchers had their turn. */
	for (int round = 0; round < SC_RX_ROUNDS; round++)
		if (sc_rx_round(s, &t_last) < SC_RX_BATCH)
			return;
}

/*
 * Read what the socket holds up to a frame stamped after horizon_ns. The
 * kernel queues a socket's frames in timestamp order, so once one is later
 * than the horizon, or the socket is empty, every frame stamped before it
 * has been handed over. false when SC_CATCH_UP_ROUNDS were not enough (a
 * flood): the caller tries again on the next loop iteration.
 */
static bool sc_catch_up(struct bus *b, uint64_t horizon_ns)
{
	struct bus_socketcan *s = to_sc(b);

	if (b->state != BUS_STATE_UP)
		return true;
	for (int round = 0; round < SC_CATCH_UP_ROUNDS; round++) {
		uint64_t t_last = 0;

		if (sc_rx_round(s, &t_last) < SC_RX_BATCH ||
		    t_last > horizon_ns)
			return true;
	}
	return false;
}

/* Write one frame. 0, or -1 with errno. */
static int sc_write(struct bus_socketcan *s, const struct canfd_frame *cf,
		    bool fd)
{
	size_t size = fd ? CANFD_MTU : CAN_MTU;
	ssize_t n = write(s->sock, cf, size);

	if (n == (ssize_t)size)
		return 0;
	if (n >= 0)
		errno = EIO;
	return -1;
}

static void sc_wait_writable(struct bus_socketcan *s, int err)
{
	struct bus *b = &s->bus;

	if (err == ENOBUFS) {
		/* The qdisc is full; the socket itself stays writable, so
		 * EV_WRITE would fire at once and spin. Retry shortly. */
		ev_io_stop(b->loop, &s->tx_w);
		if (!ev_is_active(&s->txretry_w)) {
			ev_timer_set(&s->txretry_w, SC_ENOBUFS_RETRY, 0.);
			ev_timer_start(b->loop, &s->txretry_w);
		}
	} else {
		ev_io_start(b->loop, &s->tx_w);
	}
}

/* Queued entry k (0 = oldest). */
static const struct txq_entry *sc_txq_at(const struct bus_socketcan *s,
					 uint32_t k)
{
	return &s->txq.ring[(s->txq.head + k) % s->txq.cap];
}

/* Write out the queue, up to SC_TX_BATCH frames per call, SC_MMSG frames
 * per sendmmsg(): one system call for a whole receive batch's worth. */
static void sc_drain(struct bus_socketcan *s)
{
	struct bus *b = &s->bus;
	struct mmsghdr msg[SC_MMSG];
	struct iovec iov[SC_MMSG];
	const struct txq_entry *e;
	int done = 0;

	if (b->state != BUS_STATE_UP)
		return;
	txq_expire(&s->txq, bus_mono_ns(),
		   (uint64_t)b->txqueue_max_age_ms * UINT64_C(1000000),
		   sc_queue_dropped_cb, s);
	while (done < SC_TX_BATCH && s->txq.count) {
		uint32_t cnt = s->txq.count < SC_MMSG ? s->txq.count : SC_MMSG;
		int n;

		for (uint32_t k = 0; k < cnt; k++) {
			e = sc_txq_at(s, k);
			iov[k].iov_base = (void *)&e->cf;
			iov[k].iov_len = e->fd ? CANFD_MTU : CAN_MTU;
			memset(&msg[k], 0, sizeof(msg[k]));
			msg[k].msg_hdr.msg_iov = &iov[k];
			msg[k].msg_hdr.msg_iovlen = 1;
		}
		n = sendmmsg(s->sock, msg, cnt, MSG_DONTWAIT);
		if (n > 0) {
			for (int k = 0; k < n; k++) {
				b->c.tx++;
				bus_tx_done(b, txq_peek(&s->txq), true);
				txq_pop(&s->txq);
			}
			done += n;
			continue; /* a short count: the next call says why */
		}
		e = txq_peek(&s->txq);
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
			sc_wait_writable(s, errno);
			return;
		}
		if (sc_errno_is_gone(errno)) {
			sc_go_down(s, errno);
			return;
		}
		b->c.tx_errors++;
		bus_tx_done(b, e, false);
		txq_pop(&s->txq);
		done++;
	}
	if (s->txq.count)
		ev_io_start(b->loop, &s->tx_w); /* more: next iteration */
	else
		ev_io_stop(b->loop, &s->tx_w);
}

static void sc_tx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	sc_drain(container_of(w, struct bus_socketcan, tx_w));
}

static void sc_txretry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sc_drain(container_of(w, struct bus_socketcan, txretry_w));
}

static void sc_drain_op(struct bus *b)
{
	sc_drain(to_sc(b));
}

static enum bus_tx_result sc_send(struct bus *b, const struct frame *f,
				  int route_tag)
{
	struct bus_socketcan *s = to_sc(b);
	struct bus_batch *bt = b->batch;
	struct txq_entry e;

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
	if (s->txq.count == 0 && bt->depth == 0) {
		if (sc_write(s, &e.cf, e.fd) == 0) {
			b->c.tx++;
			return BUS_TX_SENT;
		}
		if (sc_errno_is_gone(errno)) {
			b->c.tx_errors++;
			sc_go_down(s, errno);
			return BUS_TX_DROPPED;
		}
		if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
			b->c.tx_errors++;
			if (log_ratelimit(&s->err_rl, bus_mono_ns()))
				log_warn("bus %s: write", b->name);
			return BUS_TX_DROPPED;
		}
		sc_wait_writable(s, errno);
	}
	/* Behind a non-empty queue a frame waits its turn: order is kept. */
	e.queued_ns = bt->depth ? bt->mono_ns : bus_mono_ns();
	e.t_ns = f->t_ns;
	e.route = route_tag;
	if (txq_push(&s->txq, &e) < 0) {
		b->c.queue_dropped++;
		return BUS_TX_DROPPED;
	}
	if (bt->depth > 0)
		bus_batch_defer(b);
	else
		b->c.queued++;
	return BUS_TX_QUEUED;
}

static void sc_housekeep(struct bus *b, uint64_t mono_ns)
{
	struct bus_socketcan *s = to_sc(b);

	if (s->txq.count && b->state == BUS_STATE_UP) {
		/* EV_WRITE may never come (bus-off): age out from here. */
		txq_expire(&s->txq, mono_ns,
			   (uint64_t)b->txqueue_max_age_ms * UINT64_C(1000000),
			   sc_queue_dropped_cb, s);
		if (!s->txq.count)
			ev_io_stop(b->loop, &s->tx_w);
	}
	if (b->ctrl_known && mono_ns - s->ctrl_polled_ns >= SC_CTRL_POLL_NS) {
		s->ctrl_polled_ns = mono_ns;
		sc_ctrl_poll(s);
	}
}

static void sc_flush(struct bus *b, unsigned timeout_ms)
{
	struct bus_socketcan *s = to_sc(b);
	uint64_t deadline = bus_mono_ns() + (uint64_t)timeout_ms * UINT64_C(1000000);
	const struct txq_entry *e;

	while (b->state == BUS_STATE_UP && (e = txq_peek(&s->txq))) {
		uint64_t now = bus_mono_ns();
		struct pollfd pfd = {.fd = s->sock, .events = POLLOUT};

		if (now >= deadline)
			break;
		if (sc_write(s, &e->cf, e->fd) == 0) {
			b->c.tx++;
			bus_tx_done(b, e, true);
			txq_pop(&s->txq);
			continue;
		}
		if (errno == EAGAIN)
			poll(&pfd, 1, (int)((deadline - now) / UINT64_C(1000000)) + 1);
		else if (errno == ENOBUFS || errno == EINTR)
			poll(NULL, 0, 1);
		else {
			b->c.tx_errors++;
			bus_tx_done(b, e, false);
			txq_pop(&s->txq);
		}
	}
	sc_queue_drop_all(s);
	ev_io_stop(b->loop, &s->tx_w);
}

static int sc_open(struct bus *b, const struct config_bus *cb, char *errmsg,
		   size_t errlen)
{
	struct bus_socketcan *s = to_sc(b);

	(void)cb;
	s->sock = -1;
	s->backoff = SC_RETRY_MIN;
	s->err_rl =
		(struct log_ratelimit)LOG_RATELIMIT_INIT(UINT64_C(1000000000), 5);
	ev_init(&s->rx_w, sc_rx_cb);
	ev_init(&s->tx_w, sc_tx_cb);
	ev_timer_init(&s->txretry_w, sc_txretry_cb, 0., 0.);
	ev_timer_init(&s->reopen_w, sc_reopen_cb, 0., 0.);
	if (txq_init(&s->txq, b->txqueue_len) < 0) {
		snprintf(errmsg, errlen, "bus %s: out of memory for %" PRIu32
			 " queued frames", b->name, b->txqueue_len);
		return -1;
	}
	sc_ctrl_setup(s);
	if (sc_sock_open(s) == 0) {
		b->state = BUS_STATE_UP;
		sc_start_io(s);
		return 0;
	}
	if (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) {
		snprintf(errmsg, errlen,
			 "bus %s: this kernel has no CAN support "
			 "(modprobe can-raw)", b->name);
		return -1;
	}
	if (errno == EPERM || errno == EACCES) {
		snprintf(errmsg, errlen, "bus %s: %s: %s", b->name, b->ifname,
			 strerror(errno));
		return -1;
	}
	/* Missing or down: start down and come up when it does. */
	log_warnx("bus %s: %s: %s; waiting for it", b->name, b->ifname,
		  strerror(errno));
	b->state = BUS_STATE_DOWN;
	s->t_down_ns = bus_real_ns();
	sc_schedule_reopen(s);
	return 0;
}

static void sc_stop(struct bus *b)
{
	struct bus_socketcan *s = to_sc(b);

	sc_stop_io(s);
	ev_timer_stop(b->loop, &s->reopen_w);
	txq_fini(&s->txq);
}

static bool sc_same_config(const struct bus *b, const struct config_bus *cb)
{
	return bus_str_eq(b->ifname, cb->interface);
}

static uint32_t sc_queue_len(const struct bus *b)
{
	return to_sc_c(b)->txq.count;
}

const struct bus_ops bus_socketcan_ops = {
	.kind = "socketcan",
	.size = sizeof(struct bus_socketcan),
	.live = true,
	.open = sc_open,
	.send = sc_send,
	.stop = sc_stop,
	.same_config = sc_same_config,
	.housekeep = sc_housekeep,
	.flush = sc_flush,
	.drain = sc_drain_op,
	.catch_up = sc_catch_up,
	.queue_len = sc_queue_len,
};
