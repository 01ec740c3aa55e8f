/*
 * control.c: control socket server and its line protocol. See control.h.
 * Socket handling follows OpenBSD ntpd's control.c: strict umask, chmod
 * 0660, bounded clients.
 */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "daemon/control.h"
#include "daemon/control_stream.h"
#include "daemon/gateway.h"
#include "daemon/core/json.h"
#include "daemon/log.h"

/* Out of descriptors or memory, accept() fails while the connection stays
 * pending: wait this long before trying again instead of spinning. */
#define CTL_ACCEPT_RETRY_S 0.5

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void control_reply_error(FILE *out, const char *msg)
{
	struct json j;

	json_init_file(&j, out);
	json_object_begin(&j);
	json_key(&j, "error");
	json_string(&j, msg);
	json_object_end(&j);
	json_newline(&j);
	json_finish(&j);
}

/* {"ok":true,"bundle":DIR[,"verdicts":{...}]}: where the session records
 * (start) or recorded (stop), with its verdict counts (stop: the bundle is
 * still being sealed, so they come from the gateway, not verdicts.json). */
static void ctl_reply_bundle(FILE *out, const char *dir,
			     const uint64_t *verdict_counts)
{
	struct json j;

	json_init_file(&j, out);
	json_object_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, true);
	json_key(&j, "bundle");
	json_string(&j, dir);
	if (verdict_counts) {
		json_key(&j, "verdicts");
		json_object_begin(&j);
		for (int k = VERDICT_PASS; k <= VERDICT_INCONCLUSIVE; k++) {
			json_key(&j, rules_verdict_name((enum rules_verdict)k));
			json_uint(&j, verdict_counts[k]);
		}
		json_object_end(&j);
	}
	json_object_end(&j);
	json_newline(&j);
	json_finish(&j);
}

int control_execute(struct gateway *gw, const struct control_cmd *cmd,
		    long uid, FILE *out)
{
	char err[512];
	struct evidence_status es;

	switch (cmd->op) {
	case CONTROL_STATUS_JSON:
		gateway_status_json(gw, out);
		fputc('\n', out);
		return 0;
	case CONTROL_STATUS: {
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);
		struct json j;

		if (!m) {
			control_reply_error(out, "out of memory");
			return -1;
		}
		gateway_status_text(gw, m);
		fclose(m);
		json_init_file(&j, out);
		json_object_begin(&j);
		json_key(&j, "text");
		json_string_len(&j, text, len);
		json_object_end(&j);
		json_newline(&j);
		json_finish(&j);
		free(text);
		return 0;
	}
	case CONTROL_MARK: {
		uint64_t t;

		if (gateway_mark(gw, cmd->text, uid, &t, err, sizeof(err)) < 0)
			break;
		/* the mark follows the last frame line written so far */
		if (gateway_evidence_status(gw, &es) < 0)
			es.frames = 0;
		fprintf(out,
			"{\"ok\":true,\"t\":%llu.%06llu,\"line\":%llu}\n",
			(unsigned long long)(t / 1000000000u),
			(unsigned long long)(t % 1000000000u / 1000u),
			(unsigned long long)es.frames);
		return 0;
	}
	case CONTROL_SESSION_START: {
		struct evidence_meta meta = {
			.vin = cmd->has_vin ? cmd->vin : NULL,
			.procedure = cmd->has_procedure ? cmd->procedure : NULL,
			.operator_name =
				cmd->has_operator ? cmd->operator_name : NULL,
		};

		if (gateway_session_start(gw, &meta, uid, err, sizeof(err)) < 0)
			break;
		log_info("session started by uid %ld", uid);
		if (gateway_evidence_status(gw, &es) < 0)
			es.dir[0] = '\0';
		ctl_reply_bundle(out, es.dir, NULL);
		return 0;
	}
	case CONTROL_SESSION_STOP: {
		uint64_t counts[VERDICT_INCONCLUSIVE + 1];

		if (gateway_evidence_status(gw, &es) < 0)
			es.dir[0] = '\0';
		if (gateway_session_stop(gw, uid, err, sizeof(err)) < 0)
			break;
		log_info("session stopped by uid %ld", uid);
		gateway_last_verdicts(gw, counts);
		ctl_reply_bundle(out, es.dir, counts);
		return 0;
	}
	case CONTROL_SUBSCRIBE:
		snprintf(err, sizeof(err),
			 "subscribe needs a connection of its own");
		break;
	default:
		snprintf(err, sizeof(err), "unknown command");
		break;
	}
	control_reply_error(out, err);
	return -1;
}

/* ------------------------------------------------------------------ */
/* server */

struct ctl_conn {
	struct control *ctl;
	int fd;
	long uid;
	ev_io r_w, w_w;
	ev_timer idle_w;
	ev_timer line_w;  /* deadline of the request line being received */
	ev_tstamp quiet;  /* since: accepted or its last complete request */
	char in[CONTROL_LINE_MAX + 1];
	size_t in_len;
	char *out;       /* pending response bytes */
	size_t out_len, out_off;
	bool closing;    /* close once out is written */
	bool streaming;  /* fd handed to the stream: not ours to close */
};

struct control {
	struct ev_loop *loop;
	struct gateway *gw;
	struct stream *stream;
	char *path;
	int fd;
	ev_io accept_w;
	ev_timer accept_retry_w;
	struct ctl_conn *conns[CONTROL_MAX_CONN];
	size_t n_conns;
	struct control_limits lim;
};

static void ctl_conn_free(struct ctl_conn *cn)
{
	struct control *c = cn->ctl;

	ev_io_stop(c->loop, &cn->r_w);
	ev_io_stop(c->loop, &cn->w_w);
	ev_timer_stop(c->loop, &cn->idle_w);
	ev_timer_stop(c->loop, &cn->line_w);
	if (!cn->streaming)
		close(cn->fd);
	free(cn->out);
	for (size_t i = 0; i < c->n_conns; i++) {
		if (c->conns[i] == cn) {
			c->conns[i] = c->conns[--c->n_conns];
			break;
		}
	}
	free(cn);
}

/* Write pending output; 0 when all is written (or still pending), -1 when
 * the connection was closed. */
static int ctl_conn_flush(struct ctl_conn *cn)
{
	struct control *c = cn->ctl;

	while (cn->out_off < cn->out_len) {
		ssize_t n = send(cn->fd, cn->out + cn->out_off,
				 cn->out_len - cn->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(c->loop, &cn->w_w);
				ev_io_stop(c->loop, &cn->r_w);
				return 0;
			}
			ctl_conn_free(cn);
			return -1;
		}
		cn->out_off += (size_t)n;
	}
	free(cn->out);
	cn->out = NULL;
	cn->out_len = cn->out_off = 0;
	ev_io_stop(c->loop, &cn->w_w);
	if (cn->closing) {
		ctl_conn_free(cn);
		return -1;
	}
	ev_io_start(c->loop, &cn->r_w);
	return 0;
}

static void ctl_conn_reply(struct ctl_conn *cn, const char *line)
{
	struct control *c = cn->ctl;
	struct control_cmd cmd;
	char err[256];
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		cn->closing = true;
		return;
	}
	if (control_parse(line, &cmd, err, sizeof(err)) < 0) {
		gateway_count_bad_request(c->gw);
		log_debug("control: uid %ld: bad request: %s", cn->uid, err);
		control_reply_error(m, err);
	} else if (cmd.op == CONTROL_SUBSCRIBE) {
		/* The stream takes the connection over (it writes the
		 * snapshots); earlier replies still pending would be lost. */
		if (cn->out)
			control_reply_error(m, "subscribe must wait for the replies "
					   "before it");
		else if (stream_add(c->stream, cn->fd, &cmd, err,
				    sizeof(err)) < 0)
			control_reply_error(m, err);
		else
			cn->streaming = cn->closing = true;
	} else {
		control_execute(c->gw, &cmd, cn->uid, m);
	}
	fclose(m);
	/* Responses queue up behind one another. */
	if (cn->out) {
		char *both = realloc(cn->out, cn->out_len + len);

		if (both) {
			memcpy(both + cn->out_len, buf, len);
			cn->out = both;
			cn->out_len += len;
		}
		free(buf);
	} else {
		cn->out = buf;
		cn->out_len = len;
		cn->out_off = 0;
	}
}

/* ------------------------------------------------------------------ */
/* lockout defences: per-uid limit, root's way in, request line deadline */

/* Sends a last error line (best effort: the socket buffer of a fresh or
 * quiet connection has room) and closes. */
static void ctl_conn_drop(struct ctl_conn *cn, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	gateway_count_bad_request(cn->ctl->gw);
	if (m) {
		control_reply_error(m, msg);
		fclose(m);
		if (send(cn->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("control: uid %ld: error reply failed",
				  cn->uid);
		free(buf);
	}
	ctl_conn_free(cn);
}

static void ctl_line_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_conn *cn = container_of(w, struct ctl_conn, line_w);
	char msg[64];

	(void)loop;
	(void)revents;
	log_debug("control: uid %ld: request line not complete in time",
		  cn->uid);
	snprintf(msg, sizeof(msg), "request line not complete within %g s",
		 cn->ctl->lim.line_s);
	ctl_conn_drop(cn, msg);
}

/* After input: a partial line runs against the deadline set by its first
 * byte; once no partial line is left the connection counts as quiet. */
static void ctl_line_progress(struct ctl_conn *cn, bool completed)
{
	struct control *c = cn->ctl;

	if (completed)
		cn->quiet = ev_now(c->loop);
	if (!cn->in_len) {
		ev_timer_stop(c->loop, &cn->line_w);
	} else if (completed || !ev_is_active(&cn->line_w)) {
		ev_timer_stop(c->loop, &cn->line_w);
		ev_timer_set(&cn->line_w, c->lim.line_s, 0.);
		ev_timer_start(c->loop, &cn->line_w);
	}
}

/*
 * May a new connection of uid come in? A non-root uid over its share is
 * refused (-1, with a reply). With every slot taken, root's connection
 * closes the one quiet longest, a non-root one if there is any, so that
 * `cangate status` as root always gets through.
 */
static int ctl_admit(struct control *c, int fd, long uid)
{
	struct ctl_conn *victim = NULL;
	size_t mine = 0;
	char msg[96];
	int len;

	for (size_t i = 0; i < c->n_conns; i++)
		mine += c->conns[i]->uid == uid;
	if (uid != 0 && (mine >= c->lim.per_uid ||
			 c->n_conns >= CONTROL_MAX_CONN)) {
		len = snprintf(msg, sizeof(msg),
			       "{\"error\":\"too many control connections "
			       "%s uid %ld\"}\n",
			       mine >= c->lim.per_uid ? "for" : "(all taken), "
							    "refused",
			       uid);
		gateway_count_bad_request(c->gw);
		if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) < 0)
			log_debug("control: busy reply failed");
		return -1;
	}
	if (c->n_conns < CONTROL_MAX_CONN)
		return 0;
	for (size_t i = 0; i < c->n_conns; i++) {
		struct ctl_conn *cn = c->conns[i];

		if (!victim || (victim->uid == 0 && cn->uid != 0) ||
		    ((victim->uid == 0) == (cn->uid == 0) &&
		     cn->quiet < victim->quiet))
			victim = cn;
	}
	log_warnx("control: all %d connections taken; closing uid %ld's for "
		 "root", CONTROL_MAX_CONN, victim->uid);
	ctl_conn_drop(victim, "connection closed: root needs the slot");
	return 0;
}

static void ctl_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_conn *cn = container_of(w, struct ctl_conn, r_w);
	ssize_t n;

	(void)revents;
	n = recv(cn->fd, cn->in + cn->in_len, CONTROL_LINE_MAX - cn->in_len,
		 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_conn_free(cn);
		return;
	}
	ev_timer_again(loop, &cn->idle_w);
	cn->in_len += (size_t)n;
	for (bool completed = false;; completed = true) {
		char *nl = memchr(cn->in, '\n', cn->in_len);
		size_t used;

		if (cn->streaming)
			break;
		if (!nl) {
			ctl_line_progress(cn, completed);
			break;
		}
		*nl = '\0';
		if (nl > cn->in && nl[-1] == '\r')
			nl[-1] = '\0';
		ctl_conn_reply(cn, cn->in);
		used = (size_t)(nl - cn->in) + 1;
		memmove(cn->in, nl + 1, cn->in_len - used);
		cn->in_len -= used;
	}
	if (cn->in_len == CONTROL_LINE_MAX) {
		gateway_count_bad_request(cn->ctl->gw);
		cn->in_len = 0;
		{
			char *buf = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&buf, &len);

			if (m) {
				control_reply_error(m, "request line too long");
				fclose(m);
				free(cn->out);
				cn->out = buf;
				cn->out_len = len;
				cn->out_off = 0;
			}
		}
		cn->closing = true;
	}
	if (cn->out)
		ctl_conn_flush(cn);
	else if (cn->closing)
		ctl_conn_free(cn);
}

static void ctl_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	ctl_conn_flush(container_of(w, struct ctl_conn, w_w));
}

static void ctl_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ctl_conn_free(container_of(w, struct ctl_conn, idle_w));
}

static void ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *c = container_of(w, struct control, accept_w);
	struct ctl_conn *cn;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd;

	(void)revents;
	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* the pending connection keeps the socket readable */
			log_warn("control: accept (retrying in %.1f s)",
				 CTL_ACCEPT_RETRY_S);
			ev_io_stop(loop, &c->accept_w);
			ev_timer_start(loop, &c->accept_retry_w);
		} else if (errno != EAGAIN && errno != EINTR &&
			   errno != ECONNABORTED) {
			log_warn("control: accept");
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		cred.uid = (uid_t)-1;
	if (ctl_admit(c, fd, (long)cred.uid) < 0) {
		close(fd);
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn) {
		close(fd);
		return;
	}
	cn->ctl = c;
	cn->fd = fd;
	cn->uid = (long)cred.uid;
	cn->quiet = ev_now(loop);
	ev_io_init(&cn->r_w, ctl_read_cb, fd, EV_READ);
	ev_io_init(&cn->w_w, ctl_write_cb, fd, EV_WRITE);
	ev_timer_init(&cn->idle_w, ctl_idle_cb, 0., c->lim.idle_s);
	ev_timer_init(&cn->line_w, ctl_line_cb, c->lim.line_s, 0.);
	ev_io_start(loop, &cn->r_w);
	ev_timer_again(loop, &cn->idle_w);
	c->conns[c->n_conns++] = cn;
}

static void ctl_accept_retry_cb(struct ev_loop *loop, ev_timer *w,
				int revents)
{
	struct control *c = container_of(w, struct control, accept_retry_w);

	(void)revents;
	ev_io_start(loop, &c->accept_w);
}

/* Is somebody listening on path? */
static bool ctl_is_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

struct control *control_new(struct ev_loop *loop, const char *path,
			    struct gateway *gw, char *errmsg, size_t errlen)
{
	struct control *c;
	struct sockaddr_un sun;
	mode_t old_umask;
	struct stat st;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(errmsg, errlen, "control socket path too long: %s",
			 path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->gw = gw;
	c->lim = (struct control_limits){ CONTROL_LINE_S, CONTROL_IDLE_S,
					  CONTROL_MAX_CONN_PER_UID };
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(errmsg, errlen, "control socket: %s", strerror(errno));
		goto err;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(errmsg, errlen,
				 "%s exists and is not a socket", path);
			goto err;
		}
		if (ctl_is_live(&sun)) {
			snprintf(errmsg, errlen,
				 "%s: another daemon is listening there",
				 path);
			goto err;
		}
		unlink(path); /* stale: left by a daemon that died */
	}
	old_umask = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(errmsg, errlen, "bind %s: %s", path, strerror(errno));
		umask(old_umask);
		goto err;
	}
	umask(old_umask);
	if (chmod(path, S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP) < 0) {
		snprintf(errmsg, errlen, "chmod %s: %s", path, strerror(errno));
		unlink(path);
		goto err;
	}
	if (listen(c->fd, CONTROL_MAX_CONN) < 0) {
		snprintf(errmsg, errlen, "listen %s: %s", path,
			 strerror(errno));
		unlink(path);
		goto err;
	}
	ev_io_init(&c->accept_w, ctl_accept_cb, c->fd, EV_READ);
	ev_timer_init(&c->accept_retry_w, ctl_accept_retry_cb,
		      CTL_ACCEPT_RETRY_S, 0.);
	ev_io_start(loop, &c->accept_w);
	c->stream = stream_new(loop, gw);
	if (!c->stream) {
		snprintf(errmsg, errlen, "out of memory");
		ev_io_stop(loop, &c->accept_w);
		unlink(path);
		goto err;
	}
	gateway_set_stream(gw, c->stream);
	return c;
err:
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	return NULL;
}

void control_set_limits(struct control *c, const struct control_limits *l)
{
	c->lim = *l;
}

int control_chown(struct control *c, uid_t uid, gid_t gid)
{
	return chown(c->path, uid, gid);
}

void control_free(struct control *c)
{
	if (!c)
		return;
	while (c->n_conns)
		ctl_conn_free(c->conns[0]);
	gateway_set_stream(c->gw, NULL);
	stream_free(c->stream);
	ev_io_stop(c->loop, &c->accept_w);
	ev_timer_stop(c->loop, &c->accept_retry_w);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}
