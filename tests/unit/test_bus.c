/* test_bus.c: the parts of bus.c that run without CAN: the tx ring queue
 * (order, overflow, ageing) and the replay reader with a fake clock (timing
 * at several speeds, skipped and bad lines, the log clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/bus.h"

#define MS UINT64_C(1000000)
#define S UINT64_C(1000000000)

/* ------------------------------------------------------------ tx queue */

static struct txq_entry entry(uint32_t id, uint64_t queued_ns, int route)
{
	struct txq_entry e;

	memset(&e, 0, sizeof(e));
	e.cf.can_id = id;
	e.cf.len = 1;
	e.cf.data[0] = (uint8_t)id;
	e.queued_ns = queued_ns;
	e.route = route;
	return e;
}

static void test_txq_order_and_overflow(void **state)
{
	struct txq q;
	struct txq_entry e;

	(void)state;
	assert_int_equal(txq_init(&q, 3), 0);
	assert_null(txq_peek(&q));
	for (uint32_t i = 0; i < 3; i++) {
		e = entry(0x100 + i, i, 0);
		assert_int_equal(txq_push(&q, &e), 0);
	}
	e = entry(0x200, 9, 0);
	assert_int_equal(txq_push(&q, &e), -1); /* full: tail drop */
	assert_int_equal(q.count, 3);
	assert_int_equal(txq_peek(&q)->cf.can_id, 0x100);
	txq_pop(&q);
	/* wraps around the ring and keeps FIFO order */
	e = entry(0x103, 3, 0);
	assert_int_equal(txq_push(&q, &e), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		assert_non_null(txq_peek(&q));
		assert_int_equal(txq_peek(&q)->cf.can_id, 0x100 + i);
		txq_pop(&q);
	}
	assert_null(txq_peek(&q));
	txq_pop(&q); /* popping empty is harmless */
	assert_int_equal(q.count, 0);
	txq_fini(&q);
}

struct dropped_log {
	int n;
	int routes[8];
};

static void record_drop(void *ctx, const struct txq_entry *e)
{
	struct dropped_log *d = ctx;

	d->routes[d->n++] = e->route;
}

static void test_txq_expire(void **state)
{
	struct txq q;
	struct dropped_log d = {0};
	const uint64_t age = 100 * MS;

	(void)state;
	assert_int_equal(txq_init(&q, 8), 0);
	for (int i = 0; i < 5; i++) {
		struct txq_entry e = entry(0x10 + (uint32_t)i,
					   (uint64_t)i * 30 * MS, i);

		assert_int_equal(txq_push(&q, &e), 0);
	}
	/* at 100 ms nothing is older than 100 ms (0 ms is exactly 100 old) */
	assert_int_equal(txq_expire(&q, 100 * MS, age, record_drop, &d), 0);
	/* at 150 ms: queued at 0 and 30 ms are older than 100 ms, 60 is not */
	assert_int_equal(txq_expire(&q, 150 * MS, age, record_drop, &d), 2);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.routes[0], 0);
	assert_int_equal(d.routes[1], 1);
	assert_int_equal(q.count, 3);
	assert_int_equal(txq_peek(&q)->cf.can_id, 0x12);
	/* far in the future everything goes */
	assert_int_equal(txq_expire(&q, 10 * S, age, record_drop, &d), 3);
	assert_int_equal(d.n, 5);
	assert_int_equal(q.count, 0);
	txq_fini(&q);
}

/* ------------------------------------------------------------ replay */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_bus.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_log(const char *name, const char *text)
{
	static char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char log3[] = "(100.000000) vcan0 100#01\n"
			   "(100.010000) vcan0 101#02\n"
			   "(100.050000) vcan1 102#03\n";

static void test_replay_real_time(void **state)
{
	char err[200], ifname[FRAME_IFNAME_MAX];
	struct frame f;
	uint64_t due = 0, t0 = 5 * S;
	bool bad;
	struct replay *r =
		replay_open(write_log("a.log", log3), 1, err, sizeof(err));

	(void)state;
	assert_non_null(r);
	/* first frame plays at once and anchors the clock */
	assert_int_equal(replay_next(r, t0, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_int_equal(f.id, 0x100);
	assert_int_equal(f.t_ns, 100 * S);
	assert_int_equal(f.dir, FRAME_DIR_RX);
	assert_string_equal(ifname, "vcan0");
	/* second is 10 ms later in the log */
	assert_int_equal(replay_next(r, t0 + 5 * MS, &f, ifname, &due, &bad),
			 REPLAY_WAIT);
	assert_int_equal(due, t0 + 10 * MS);
	assert_int_equal(replay_log_time(r, t0 + 5 * MS), 100 * S + 5 * MS);
	assert_int_equal(replay_next(r, t0 + 10 * MS, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_int_equal(f.id, 0x101);
	/* late wake-up: the overdue frame comes at once, keeping its log
	 * timestamp */
	assert_int_equal(replay_next(r, t0 + 70 * MS, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_int_equal(f.id, 0x102);
	assert_int_equal(f.t_ns, 100 * S + 50 * MS);
	assert_string_equal(ifname, "vcan1");
	assert_int_equal(replay_next(r, t0 + 80 * MS, &f, ifname, &due, &bad),
			 REPLAY_END);
	assert_int_equal(replay_stats(r)->frames, 3);
	assert_int_equal(replay_stats(r)->bad_lines, 0);
	replay_free(r);
}

static void test_replay_speeds(void **state)
{
	static const struct {
		double speed;
		uint64_t due_second; /* relative to the anchor */
		uint64_t due_third;
	} cases[] = {
		{1, 10 * MS, 50 * MS},
		{2, 5 * MS, 25 * MS},
		{10, 1 * MS, 5 * MS},
		{0.5, 20 * MS, 100 * MS},
		{0, 0, 0}, /* as fast as possible: always due */
	};
	const char *path = write_log("b.log", log3);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[200], ifname[FRAME_IFNAME_MAX];
		struct frame f;
		uint64_t due = 0, t0 = 1 * S;
		bool bad;
		struct replay *r = replay_open(path, cases[i].speed, err,
					       sizeof(err));

		assert_non_null(r);
		assert_int_equal(replay_next(r, t0, &f, ifname, &due, &bad),
				 REPLAY_FRAME);
		if (cases[i].speed > 0) {
			assert_int_equal(replay_next(r, t0, &f, ifname, &due,
						     &bad),
					 REPLAY_WAIT);
			assert_int_equal(due, t0 + cases[i].due_second);
			assert_int_equal(replay_next(r, due, &f, ifname, &due,
						     &bad),
					 REPLAY_FRAME);
			assert_int_equal(replay_next(r, due, &f, ifname, &due,
						     &bad),
					 REPLAY_WAIT);
			assert_int_equal(due, t0 + cases[i].due_third);
		} else {
			assert_int_equal(replay_next(r, t0, &f, ifname, &due,
						     &bad),
					 REPLAY_FRAME);
			/* the log clock follows the frames */
			assert_int_equal(replay_log_time(r, t0 + 99 * S),
					 100 * S + 10 * MS);
		}
		assert_int_equal(replay_next(r, t0 + 10 * S, &f, ifname, &due,
					     &bad),
				 REPLAY_FRAME);
		assert_int_equal(f.id, 0x102);
		assert_int_equal(replay_next(r, t0 + 10 * S, &f, ifname, &due,
					     &bad),
				 REPLAY_END);
		replay_free(r);
	}
}

static void test_replay_skips_and_errors(void **state)
{
	char err[200], ifname[FRAME_IFNAME_MAX];
	struct frame f;
	uint64_t due;
	bool bad;
	char longline[600];
	char text[1200];
	struct replay *r;

	(void)state;
	memset(longline, '7', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "# a comment, not a frame line\n"
		 "(1.000000) can0 100#01 R\n"
		 "(1.000100) can1 500#01 T\n"   /* the recorder's own tx */
		 "(1.000200) can0 1x0#01\n"     /* bad ID */
		 "(1.000300) can0 %s\n"         /* longer than any frame */
		 "(1.000400) can0 12345678#DEAD\n"
		 "(0.500000) can0 101##1AA\n",  /* FD, time goes backwards */
		 longline);
	r = replay_open(write_log("c.log", text), 0, err, sizeof(err));
	assert_non_null(r);

	assert_int_equal(replay_next(r, 0, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_false(bad);
	assert_int_equal(f.id, 0x100);
	/* next good frame is 12345678: the T line and two bad lines went by */
	assert_int_equal(replay_next(r, 0, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_true(bad);
	assert_int_equal(f.id, 0x12345678);
	assert_true(f.ext);
	assert_int_equal(replay_stats(r)->bad_lines, 2);
	assert_int_equal(replay_stats(r)->skipped, 2);
	assert_non_null(strstr(replay_stats(r)->last_error, "c.log:5: "));
	assert_non_null(strstr(replay_stats(r)->last_error, "too long"));
	assert_int_equal(replay_next(r, 0, &f, ifname, &due, &bad),
			 REPLAY_FRAME);
	assert_true(f.fd);
	assert_int_equal(f.len, 1);
	assert_int_equal(replay_next(r, 0, &f, ifname, &due, &bad), REPLAY_END);
	assert_int_equal(replay_stats(r)->lines, 7);
	assert_int_equal(replay_stats(r)->frames, 3);
	replay_free(r);
}

static void test_replay_bad_line_location(void **state)
{
	char err[200], ifname[FRAME_IFNAME_MAX];
	struct frame f;
	uint64_t due;
	bool bad;
	struct replay *r = replay_open(
		write_log("d.log", "(1.0) can0 100#01\n(2.000000) can0 100#0\n"),
		1, err, sizeof(err));

	(void)state;
	assert_non_null(r);
	/* both lines are malformed (short timestamp, odd hex digits) */
	assert_int_equal(replay_next(r, 0, &f, ifname, &due, &bad), REPLAY_END);
	assert_true(bad);
	assert_int_equal(replay_stats(r)->bad_lines, 2);
	assert_non_null(strstr(replay_stats(r)->last_error, "d.log:2: "));
	replay_free(r);
}

static void test_replay_open_missing(void **state)
{
	char err[200];

	(void)state;
	assert_null(replay_open("/nonexistent/x.log", 1, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/x.log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txq_order_and_overflow),
		cmocka_unit_test(test_txq_expire),
		cmocka_unit_test(test_replay_real_time),
		cmocka_unit_test(test_replay_speeds),
		cmocka_unit_test(test_replay_skips_and_errors),
		cmocka_unit_test(test_replay_bad_line_location),
		cmocka_unit_test(test_replay_open_missing),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
