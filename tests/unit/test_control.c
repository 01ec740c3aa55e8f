/* test_control.c: the control protocol (request parsing table, responses)
 * and the socket server driven in-process: permissions, stale socket
 * replacement, a second daemon refused, malformed and over-long requests
 * answered with {"error":...} and counted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "daemon/control.h"
#include "daemon/gateway.h"

/* ------------------------------------------------------------ parsing */

static void test_parse_table(void **state)
{
	static const struct {
		const char *line;
		int rc;
		enum control_op op;
		const char *err; /* substring of the error message */
	} cases[] = {
		{"status", 0, CONTROL_STATUS, NULL},
		{"  status  ", 0, CONTROL_STATUS, NULL},
		{"status json", 0, CONTROL_STATUS_JSON, NULL},
		{"status xml", -1, 0, "usage: status"},
		{"status json extra", -1, 0, "usage: status"},
		{"mark hello world", 0, CONTROL_MARK, NULL},
		{"mark", -1, 0, "usage: mark"},
		{"mark   ", -1, 0, "usage: mark"},
		{"session stop", 0, CONTROL_SESSION_STOP, NULL},
		{"session stop now", -1, 0, "usage: session"},
		{"session", -1, 0, "usage: session"},
		{"session start", 0, CONTROL_SESSION_START, NULL},
		{"session start vin=ABC procedure=\"TP 1\"", 0,
		 CONTROL_SESSION_START, NULL},
		{"session start color=red", -1, 0, "unknown key 'color'"},
		{"session start vin", -1, 0, "key=value"},
		{"session start =x", -1, 0, "key=value"},
		{"session start vin=a vin=b", -1, 0, "duplicate vin"},
		{"session start vin=\"open", -1, 0, "unterminated"},
		{"session start vin=\"a\"b", -1, 0, "garbage"},
		{"session start vin=\"a\\q\"", -1, 0, "bad escape"},
		{"subscribe", 0, CONTROL_SUBSCRIBE, NULL},
		{"subscribe filter=\"esc spd\" rows=12", 0, CONTROL_SUBSCRIBE,
		 NULL},
		{"subscribe watch=speed,gear", 0, CONTROL_SUBSCRIBE, NULL},
		{"subscribe rows=1001", -1, 0, "rows must be 0..1000"},
		{"subscribe rows=x", -1, 0, "rows must be"},
		{"subscribe color=red", -1, 0,
		 "subscribe: unknown key 'color' (filter, watch, rows, hz)"},
		{"subscribe hz=1", 0, CONTROL_SUBSCRIBE, NULL},
		{"subscribe filter=gear hz=10 rows=3", 0, CONTROL_SUBSCRIBE,
		 NULL},
		{"subscribe hz=0", -1, 0,
		 "subscribe: hz must be 1..10 (snapshots a second), not '0'"},
		{"subscribe hz=11", -1, 0, "hz must be 1..10"},
		{"subscribe hz=-1", -1, 0, "hz must be 1..10"},
		{"subscribe hz=+5", -1, 0, "hz must be 1..10"},
		{"subscribe hz=5x", -1, 0, "hz must be 1..10"},
		{"subscribe hz=\"\"", -1, 0, "hz must be 1..10"},
		{"subscribe hz=2 hz=3", -1, 0, "duplicate hz"},
		{"", -1, 0, "empty request"},
		{"   ", -1, 0, "empty request"},
		{"reboot", -1, 0, "unknown command 'reboot'"},
		{"status\x01", -1, 0, "control character"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct control_cmd cmd;
		char err[256] = "";
		int rc = control_parse(cases[i].line, &cmd, err, sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d (%s)", cases[i].line, rc,
				 cases[i].rc, err);
		if (rc == 0 && cmd.op != cases[i].op)
			fail_msg("'%s': op %d, want %d", cases[i].line,
				 (int)cmd.op, (int)cases[i].op);
		if (cases[i].err && !strstr(err, cases[i].err))
			fail_msg("'%s': error '%s' lacks '%s'", cases[i].line,
				 err, cases[i].err);
	}
}

static void test_parse_values(void **state)
{
	struct control_cmd cmd;
	char err[256];

	(void)state;
	assert_int_equal(control_parse("session start vin=LGX123 "
				       "procedure=\"TP \\\"101\\\" \\\\ 3\" "
				       "operator=jdoe",
				       &cmd, err, sizeof(err)),
			 0);
	assert_true(cmd.has_vin && cmd.has_procedure && cmd.has_operator);
	assert_string_equal(cmd.vin, "LGX123");
	assert_string_equal(cmd.procedure, "TP \"101\" \\ 3");
	assert_string_equal(cmd.operator_name, "jdoe");
	assert_int_equal(control_parse("mark  brake test #2 ", &cmd, err,
				       sizeof(err)),
			 0);
	assert_string_equal(cmd.text, "brake test #2 ");
}

/* ------------------------------------------------------------ server */

struct fixture {
	struct ev_loop *loop;
	struct gateway *gw;
	struct control *ctl;
	char dir[64];
	char path[96];
};

static const char conf[] = "[gateway]\nname = ctl-test\n"
			   "[bus a]\ninterface = null\n"
			   "[bus b]\ninterface = null\n"
			   "[route r]\nfrom = a\nto = b\n";

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct config_error cerr;
	struct config *cfg;
	struct router *router;
	char err[256];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_control.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/control.sock", fx->dir);
	fx->loop = ev_loop_new(EVFLAG_AUTO);
	fx->gw = gateway_new(fx->loop);
	cfg = config_load_buffer("c.conf", conf, strlen(conf), &cerr);
	assert_non_null(cfg);
	router = router_new(cfg, &cerr);
	assert_non_null(router);
	assert_int_equal(gateway_configure(fx->gw, cfg, router, NULL, false,
					   err, sizeof(err)),
			 0);
	fx->ctl = control_new(fx->loop, fx->path, fx->gw, err, sizeof(err));
	if (!fx->ctl)
		fail_msg("control_new: %s", err);
	*state = fx;
	return 0;
}

/* Spin the loop for s seconds. */
static void spin(struct fixture *fx, double s)
{
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, s, 0.);
	ev_timer_start(fx->loop, &guard);
	while (ev_is_active(&guard))
		ev_run(fx->loop, EVRUN_ONCE);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	control_free(fx->ctl);
	gateway_free(fx->gw);
	ev_loop_destroy(fx->loop);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int client(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Send text, spin the loop until a full line (or EOF) comes back. */
static char *roundtrip(struct fixture *fx, int fd, const char *text,
		       size_t len)
{
	static char buf[65536];
	size_t n = 0;

	assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
	for (int i = 0; i < 2000; i++) {
		ssize_t r;

		ev_run(fx->loop, EVRUN_NOWAIT);
		r = recv(fd, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			if (memchr(buf, '\n', n))
				break;
		} else if (r == 0) {
			break;
		}
		usleep(500);
	}
	buf[n] = '\0';
	return buf;
}

static void test_socket_mode(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void test_requests(void **state)
{
	struct fixture *fx = *state;
	int fd = client(fx->path);
	const char *r;

	r = roundtrip(fx, fd, "status json\n", 12);
	assert_non_null(strstr(r, "\"gateway\":\"ctl-test\""));
	assert_non_null(strstr(r, "\"bad_requests\":0"));
	assert_non_null(strstr(r, "\"routes\":[{\"name\":\"r\""));
	/* same connection, more requests */
	r = roundtrip(fx, fd, "frobnicate\n", 11);
	assert_string_equal(r, "{\"error\":\"unknown command 'frobnicate'\"}\n");
	r = roundtrip(fx, fd, "mark hello\n", 11);
	assert_string_equal(r, "{\"error\":\"no session is recording\"}\n");
	r = roundtrip(fx, fd, "session start\n", 14);
	assert_string_equal(r, "{\"error\":\"no [evidence] section in the "
			       "config\"}\n");
	r = roundtrip(fx, fd, "status\r\n", 8);
	assert_non_null(strstr(r, "{\"text\":\"gateway ctl-test"));
	assert_non_null(strstr(r, "ROUTE"));
	r = roundtrip(fx, fd, "status json\n", 12);
	assert_non_null(strstr(r, "\"bad_requests\":1"));
	close(fd);
}

static void test_long_line(void **state)
{
	struct fixture *fx = *state;
	int fd = client(fx->path);
	char line[CONTROL_LINE_MAX + 100];
	const char *r;
	char c;

	memset(line, 'x', sizeof(line));
	r = roundtrip(fx, fd, line, sizeof(line));
	assert_string_equal(r, "{\"error\":\"request line too long\"}\n");
	/* and the server hung up (EOF, or a reset: our excess bytes were
	 * never read) */
	for (int i = 0; i < 100; i++)
		ev_run(fx->loop, EVRUN_NOWAIT);
	{
		ssize_t r2 = recv(fd, &c, 1, MSG_DONTWAIT);

		assert_true(r2 == 0 || (r2 < 0 && errno == ECONNRESET));
	}
	close(fd);
	/* still serving others */
	fd = client(fx->path);
	r = roundtrip(fx, fd, "status json\n", 12);
	assert_non_null(strstr(r, "\"bad_requests\":1"));
	close(fd);
}

/* Out of file descriptors, accept() fails and the pending connection keeps
 * the listening socket readable: the server must back off instead of
 * spinning the event loop (and the log) until an fd frees up, and it must
 * accept the client once one does. */
static void test_accept_emfile(void **state)
{
	struct fixture *fx = *state;
	struct rlimit old, lim;
	ev_timer guard;
	unsigned long rounds = 0;
	int fd, probe;
	const char *r;

	fd = client(fx->path);
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)probe; /* the next fd would be probe */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	ev_timer_init(&guard, guard_cb, 0.2, 0.);
	ev_timer_start(fx->loop, &guard);
	while (ev_is_active(&guard) && rounds < 100000) {
		ev_run(fx->loop, EVRUN_ONCE);
		rounds++;
	}
	ev_timer_stop(fx->loop, &guard);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (rounds > 20)
		fail_msg("event loop spun %lu times in 0.2 s on EMFILE", rounds);
	/* once descriptors are free again the client is served */
	r = roundtrip(fx, fd, "status json\n", 12);
	assert_non_null(strstr(r, "\"gateway\":\"ctl-test\""));
	close(fd);
}

static void test_second_daemon_and_stale(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	struct control *c2;
	int fd;

	/* someone listens: refused */
	c2 = control_new(fx->loop, fx->path, fx->gw, err, sizeof(err));
	assert_null(c2);
	assert_non_null(strstr(err, "another daemon"));
	/* a socket file nobody listens on is replaced */
	control_free(fx->ctl);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fx->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)),
				 0);
	}
	close(fd); /* stale file left behind */
	fx->ctl = control_new(fx->loop, fx->path, fx->gw, err, sizeof(err));
	if (!fx->ctl)
		fail_msg("stale socket not replaced: %s", err);
	/* a regular file is not ours to delete */
	control_free(fx->ctl);
	fd = creat(fx->path, 0600);
	close(fd);
	fx->ctl = control_new(fx->loop, fx->path, fx->gw, err, sizeof(err));
	assert_null(fx->ctl);
	assert_non_null(strstr(err, "not a socket"));
	unlink(fx->path);
	fx->ctl = control_new(fx->loop, fx->path, fx->gw, err, sizeof(err));
	assert_non_null(fx->ctl);
}

/* Everything the server sent until EOF (or 2 s), spinning its loop. */
static char *drain(struct fixture *fx, int fd)
{
	static char buf[4096];
	size_t n = 0;

	for (int i = 0; i < 4000; i++) {
		ssize_t r;

		ev_run(fx->loop, EVRUN_NOWAIT);
		r = recv(fd, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		if (r > 0)
			n += (size_t)r;
		usleep(500);
	}
	buf[n] = '\0';
	return buf;
}

/* Slow loris: a byte now and then keeps the idle timer happy, but a request
 * line must be complete within line_s of its first byte. A quiet client
 * that has sent nothing is left to the idle timeout. */
static void test_line_deadline(void **state)
{
	struct fixture *fx = *state;
	struct control_limits lim = { .line_s = 0.3, .idle_s = 30,
				      .per_uid = CONTROL_MAX_CONN_PER_UID };
	int slow, quiet;
	const char *r;

	control_set_limits(fx->ctl, &lim);
	slow = client(fx->path);
	quiet = client(fx->path);
	assert_int_equal(send(slow, "s", 1, MSG_NOSIGNAL), 1);
	for (int i = 0; i < 4; i++) {
		spin(fx, 0.1);
		/* fails once the server has hung up, as it should */
		(void)!send(slow, "t", 1, MSG_NOSIGNAL);
	}
	r = drain(fx, slow);
	assert_string_equal(r, "{\"error\":\"request line not complete "
			       "within 0.3 s\"}\n");
	close(slow);
	r = roundtrip(fx, quiet, "status json\n", 12);
	assert_non_null(strstr(r, "\"bad_requests\":1"));
	close(quiet);
}

/* Connect n times as uid (in a child), then wait for the parent to close
 * the pipe; exit status: how many connections the server refused. */
static pid_t hold_as(const char *path, uid_t uid, int n, int *release)
{
	int p[2], go[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fds[CONTROL_MAX_CONN + 4], refused = 0;

		/* Drop what the parent holds (other children's release
		 * pipes, the server's sockets) so that closing ours ends us. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0] && fd != go[1])
				close(fd);
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(100);
		for (int i = 0; i < n; i++) {
			struct sockaddr_un sun;

			fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
			memset(&sun, 0, sizeof(sun));
			sun.sun_family = AF_UNIX;
			snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
			if (connect(fds[i], (struct sockaddr *)&sun,
				    sizeof(sun)) < 0)
				_exit(101);
		}
		/* all connected: the parent may now accept them */
		if (write(go[1], "x", 1) != 1)
			_exit(102);
		if (read(p[0], &c, 1) < 0)
			_exit(103);
		for (int i = 0; i < n; i++) {
			char buf[256];
			ssize_t r = recv(fds[i], buf, sizeof(buf) - 1,
					 MSG_DONTWAIT);

			if (r > 0) {
				buf[r] = '\0';
				if (strstr(buf, "too many control connections"))
					refused++;
			}
		}
		_exit(refused);
	}
	close(p[0]);
	close(go[1]);
	assert_int_equal(read(go[0], &c, 1), 1);
	close(go[0]);
	*release = p[1];
	return pid;
}

static int reap(struct fixture *fx, pid_t pid, int release)
{
	int st;

	spin(fx, 0.2); /* accept and answer what is pending */
	close(release);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* One uid may hold CONTROL_MAX_CONN_PER_UID connections, so it cannot lock
 * other operators out; when every slot is taken, root still gets through
 * (the connection quiet longest gives way). Needs root to connect as other
 * uids (the unit tests run as root in CI and in the VM). */
static void test_per_uid_and_root(void **state)
{
	struct fixture *fx = *state;
	pid_t pids[CONTROL_MAX_CONN / CONTROL_MAX_CONN_PER_UID];
	int rel[CONTROL_MAX_CONN / CONTROL_MAX_CONN_PER_UID], fd, refused;
	pid_t one;
	int rel1;
	const char *r;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(chmod(fx->path, 0666), 0);
	/* one uid asking for more than its share */
	one = hold_as(fx->path, 60001, CONTROL_MAX_CONN_PER_UID + 3, &rel1);
	spin(fx, 0.2);
	refused = reap(fx, one, rel1);
	assert_int_equal(refused, 3);
	spin(fx, 0.1);
	/* four uids fill every slot */
	for (int i = 0; i < CONTROL_MAX_CONN / CONTROL_MAX_CONN_PER_UID; i++) {
		pids[i] = hold_as(fx->path, (uid_t)(60001 + i),
				  CONTROL_MAX_CONN_PER_UID, &rel[i]);
		spin(fx, 0.1);
	}
	fd = client(fx->path);
	r = roundtrip(fx, fd, "status json\n", 12);
	assert_non_null(strstr(r, "\"gateway\":\"ctl-test\""));
	close(fd);
	for (int i = 0; i < CONTROL_MAX_CONN / CONTROL_MAX_CONN_PER_UID; i++)
		assert_int_equal(reap(fx, pids[i], rel[i]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test_setup_teardown(test_socket_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_accept_emfile, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_daemon_and_stale,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_per_uid_and_root, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
