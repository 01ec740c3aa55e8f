/* test_gateway.c: the per-frame core without sockets. Frames go in through
 * gateway_rx(); a scripted sink (the frame_sink seam) accepts, queues or
 * drops them. Checks the counting invariant per route
 *   in = forwarded + filtered + rate_limited + dropped + queued
 * after every step, the IDs that reach each bus, queued frames finishing
 * later, and that a reload neither loses the invariant nor counts frames
 * queued under the old config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/gateway.h"

#define MS UINT64_C(1000000)

static const char conf[] = "[gateway]\n"
			   "name = t\n"
			   "[bus a]\n"
			   "interface = vcan0\n"
			   "[bus b]\n"
			   "interface = vcan1\n"
			   "fd = yes\n"
			   "[bus c]\n"
			   "interface = null\n"
			   "[route ab]\n"
			   "from = a\n"
			   "to = b\n"
			   "pass = 0x100-0x1FF, 0x18FEF100x/0x1FFFFFFF\n"
			   "block = 0x150\n"
			   "map = 0x120 -> 0x520\n"
			   "rate = 0x130 10ms\n"
			   "[route bc]\n"
			   "from = b\n"
			   "to = c\n"
			   "direction = both\n";

/* The sink: what to answer, and what it saw. */
struct fake_sink {
	enum bus_tx_result answer;
	int sent[3];           /* frames offered per bus */
	uint32_t last_id[3];
	struct {
		int bus, route;
		struct frame f;
	} queued[64];
	int n_queued;
};

static enum bus_tx_result fake_send(void *ctx, int bus, const struct frame *f,
				    int route)
{
	struct fake_sink *s = ctx;

	assert_true(bus >= 0 && bus < 3);
	assert_int_equal(f->dir, FRAME_DIR_TX);
	s->sent[bus]++;
	s->last_id[bus] = f->id;
	if (s->answer == BUS_TX_QUEUED) {
		assert_true(s->n_queued < 64);
		s->queued[s->n_queued].bus = bus;
		s->queued[s->n_queued].route = route;
		s->queued[s->n_queued].f = *f;
		s->n_queued++;
	}
	return s->answer;
}

struct fixture {
	struct ev_loop *loop;
	struct gateway *gw;
	struct fake_sink sink;
};

static struct config *load(void)
{
	struct config_error err;
	struct config *cfg =
		config_load_buffer("t.conf", conf, strlen(conf), &err);

	if (!cfg)
		fail_msg("config: %s:%u: %s", err.file, err.line, err.msg);
	return cfg;
}

static void configure(struct fixture *fx)
{
	struct config_error err;
	struct config *cfg = load();
	struct router *router = router_new(cfg, &err);
	char msg[256];

	assert_non_null(router);
	assert_int_equal(gateway_configure(fx->gw, cfg, router, NULL, false,
					   msg, sizeof(msg)),
			 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct gateway_sink s;

	fx->loop = ev_loop_new(EVFLAG_AUTO);
	fx->gw = gateway_new(fx->loop);
	configure(fx);
	s.send = fake_send;
	s.ctx = &fx->sink;
	gateway_set_sink(fx->gw, &s);
	fx->sink.answer = BUS_TX_SENT;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	gateway_free(fx->gw);
	ev_loop_destroy(fx->loop);
	free(fx);
	return 0;
}

static void rx(struct fixture *fx, int bus, uint32_t id, bool ext,
	       uint64_t t_ns)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.ext = ext;
	f.len = 2;
	f.data[0] = 0xAB;
	f.t_ns = t_ns;
	f.dir = FRAME_DIR_RX;
	gateway_rx(fx->gw, bus, &f, bus == 0 ? "vcan0" : "vcan1");
}

static void check_invariant(struct fixture *fx)
{
	for (int r = 0; r < 2; r++) {
		struct gateway_route_status st;

		assert_int_equal(gateway_route_status(fx->gw, r, &st), 0);
		assert_int_equal(st.in, st.forwarded + st.filtered +
						st.rate_limited + st.dropped +
						st.queued);
	}
	assert_int_equal(gateway_route_status(fx->gw, 2, NULL), -1);
}

static void test_forward_filter_map_rate(void **state)
{
	struct fixture *fx = *state;
	struct gateway_route_status st;
	uint64_t t = 1000 * MS;

	rx(fx, 0, 0x100, false, t);          /* passes */
	assert_int_equal(fx->sink.sent[1], 1);
	assert_int_equal(fx->sink.last_id[1], 0x100);
	rx(fx, 0, 0x120, false, t + 1);      /* mapped */
	assert_int_equal(fx->sink.last_id[1], 0x520);
	rx(fx, 0, 0x150, false, t + 2);      /* blocked */
	rx(fx, 0, 0x200, false, t + 3);      /* not passed */
	rx(fx, 0, 0x100, true, t + 4);       /* 29-bit 0x100: 11-bit entry */
	rx(fx, 0, 0x18FEF100, true, t + 5);  /* 29-bit pass */
	assert_int_equal(fx->sink.last_id[1], 0x18FEF100);
	rx(fx, 0, 0x130, false, t + 6);      /* rate: first passes */
	rx(fx, 0, 0x130, false, t + 7 * MS); /* within 10 ms: limited */
	rx(fx, 0, 0x130, false, t + 20 * MS); /* next period */
	check_invariant(fx);
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.in, 9);
	assert_int_equal(st.forwarded, 5);
	assert_int_equal(st.filtered, 3);
	assert_int_equal(st.rate_limited, 1);
	assert_int_equal(st.dropped, 0);
	assert_string_equal(st.name, "ab");
	assert_int_equal(fx->sink.sent[1], 5);
	assert_int_equal(fx->sink.sent[2], 0); /* nothing routes a -> c */
	/* forwarded nowhere: blocked, not passed, 11/29-bit, rate limited */
	assert_int_equal(gateway_bus_filtered(fx->gw, 0), 4);
}

static void test_bidirectional_and_own_tx(void **state)
{
	struct fixture *fx = *state;
	struct frame f;
	struct gateway_route_status st;

	rx(fx, 1, 0x7FF, false, 1);        /* b -> c */
	rx(fx, 2, 0x123, false, 2);        /* c -> b (reverse) */
	assert_int_equal(fx->sink.sent[2], 1);
	assert_int_equal(fx->sink.sent[1], 1);
	/* a frame the gateway sent itself (loopback echo) is never routed:
	 * that is what keeps `both` routes from looping */
	memset(&f, 0, sizeof(f));
	f.id = 0x124;
	f.dir = FRAME_DIR_TX;
	gateway_rx(fx->gw, 1, &f, "vcan1");
	assert_int_equal(fx->sink.sent[2], 1);
	/* error frames are not routed either */
	memset(&f, 0, sizeof(f));
	f.err = true;
	f.id = 0x40;
	f.dir = FRAME_DIR_RX;
	gateway_rx(fx->gw, 1, &f, "vcan1");
	assert_int_equal(fx->sink.sent[2], 1);
	check_invariant(fx);
	assert_int_equal(gateway_route_status(fx->gw, 1, &st), 0);
	assert_true(st.bidirectional);
	assert_int_equal(st.forwarded, 2);
}

static void test_drops_and_queue(void **state)
{
	struct fixture *fx = *state;
	struct gateway_route_status st;
	struct frame f;

	fx->sink.answer = BUS_TX_DROPPED;
	rx(fx, 0, 0x101, false, 1);
	rx(fx, 0, 0x102, false, 2);
	check_invariant(fx);
	fx->sink.answer = BUS_TX_QUEUED;
	for (uint32_t i = 0; i < 5; i++)
		rx(fx, 0, 0x110 + i, false, 10 + i);
	check_invariant(fx);
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.in, 7);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.queued, 5);
	assert_int_equal(st.forwarded, 0);
	/* the bus reports the queued frames' fates: 3 sent, 2 aged out */
	for (int i = 0; i < 5; i++) {
		f = fx->sink.queued[i].f;
		gateway_tx_done(fx->gw, fx->sink.queued[i].bus,
				fx->sink.queued[i].route, &f, i < 3);
		check_invariant(fx);
	}
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.forwarded, 3);
	assert_int_equal(st.dropped, 4);
}

static void test_reload_ignores_old_queue(void **state)
{
	struct fixture *fx = *state;
	struct gateway_route_status st;
	struct frame f;

	fx->sink.answer = BUS_TX_QUEUED;
	rx(fx, 0, 0x101, false, 1);
	assert_int_equal(fx->sink.n_queued, 1);
	configure(fx); /* reload: new router, counters from zero */
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.in, 0);
	/* the frame queued under the old config finishes now */
	f = fx->sink.queued[0].f;
	gateway_tx_done(fx->gw, fx->sink.queued[0].bus,
			fx->sink.queued[0].route, &f, true);
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.forwarded, 0);
	check_invariant(fx);
	fx->sink.answer = BUS_TX_SENT;
	rx(fx, 0, 0x101, false, 2);
	assert_int_equal(gateway_route_status(fx->gw, 0, &st), 0);
	assert_int_equal(st.forwarded, 1);
	check_invariant(fx);
}

/* A frame queued before a reload and sent after it went out on the bus: it
 * is not counted against a route of the new config, but a frames.log must
 * still hold it (every frame received or sent): that of the session the
 * reload opened, which recorded nothing else. */
static void test_reload_old_queue_recorded(void **state)
{
	struct fixture *fx = *state;
	char tmp[] = "/tmp/test_gateway.XXXXXX";
	char text[2048], msg[256], cmd[300];
	struct config_error err;
	struct frame f;
	char *js = NULL;
	size_t jl = 0;

	assert_non_null(mkdtemp(tmp));
	snprintf(text, sizeof(text), "%s[evidence]\ndir = %s\n", conf, tmp);
	snprintf(cmd, sizeof(cmd), "%s/t.conf", tmp);
	FILE *cf = fopen(cmd, "w");
	assert_non_null(cf);
	fputs(text, cf);
	assert_int_equal(fclose(cf), 0);
	for (int gen = 0; gen < 2; gen++) {
		struct config *cfg = config_load_buffer(cmd, text,
							strlen(text), &err);
		assert_non_null(cfg);
		struct router *router = router_new(cfg, &err);
		assert_non_null(router);
		assert_int_equal(gateway_configure(fx->gw, cfg, router, NULL,
						   false, msg, sizeof(msg)),
				 0);
		if (gen == 0) {
			if (gateway_session_start(fx->gw, NULL, -1, msg,
						  sizeof(msg)) < 0)
				fail_msg("session start: %s", msg);
			fx->sink.answer = BUS_TX_QUEUED;
			rx(fx, 0, 0x101, false, 1);
			assert_int_equal(fx->sink.n_queued, 1);
		}
	}
	f = fx->sink.queued[0].f;
	gateway_tx_done(fx->gw, fx->sink.queued[0].bus,
			fx->sink.queued[0].route, &f, true);
	FILE *m = open_memstream(&js, &jl);
	assert_non_null(m);
	gateway_status_json(fx->gw, m);
	fclose(m);
	if (!strstr(js, "\"frames\":1,"))
		fail_msg("the sent frame is not in frames.log: %s", js);
	free(js);
	assert_int_equal(gateway_session_stop(fx->gw, -1, msg, sizeof(msg)), 0);
	gateway_session_wait(fx->gw);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
}

/* Reads DIR/NAME into buf (NUL-terminated); fails the test when it cannot. */
static void slurp(const char *dir, const char *name, char *buf, size_t size)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* The bundle directories under dir, sorted: how many (up to 2 kept). */
static int bundles(const char *dir, char names[2][256])
{
	char cmd[600];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls '%s' | sort", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(cmd, sizeof(cmd), p)) {
		cmd[strcspn(cmd, "\n")] = '\0';
		if (n < 2 && strlen(cmd) < 256)
			memcpy(names[n], cmd, strlen(cmd) + 1);
		n++;
	}
	pclose(p);
	return n;
}

/*
 * A reload while a session records: that session closes (its verdicts and
 * a reload event naming the next bundle) and the next opens under the new
 * config with the operator's metadata, naming the previous one; each bundle
 * is then recorded under one config, whether the next session was opened
 * beside the loop (gateway_reload, used here) or by the gateway. A reload
 * whose session cannot open (evidence dir is a file) fails and changes
 * nothing.
 */
static void test_reload_rotates_session(void **state)
{
	struct fixture *fx = *state;
	char tmp[] = "/tmp/test_gateway.XXXXXX";
	char text[2048], msg[256], path[1024], dir[300], buf[8192];
	char names[2][256];
	struct evidence_meta meta = {.operator_name = "Ann",
				     .procedure = "rot"};
	struct config_error err;
	struct evidence_status st;

	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/t.dbc", tmp);
	FILE *df = fopen(path, "w");
	assert_non_null(df);
	fputs("VERSION \"\"\nBU_: E\nBO_ 256 M: 8 E\n"
	      " SG_ S : 0|8@1+ (1,0) [0|255] \"\" E\n",
	      df);
	assert_int_equal(fclose(df), 0);
	for (int gen = 0; gen < 3; gen++) {
		struct config *cfg;
		struct router *router;
		struct rules *rules;

		/* gen 2: the evidence dir is a file */
		snprintf(dir, sizeof(dir), "%s/%s", tmp,
			 gen == 2 ? "t.conf" : "s");
		snprintf(text, sizeof(text),
			 "[gateway]\nname = t\n"
			 "[bus a]\ninterface = vcan0\ndbc = %s/t.dbc\n"
			 "[bus b]\ninterface = vcan1\n"
			 "[route ab]\nfrom = a\nto = b\n"
			 "[rule r%d]\nref = x\ndescription = x\n"
			 "kind = assert\nexpect = M.S < 0\n"
			 "[evidence]\ndir = %s\n",
			 tmp, gen, dir);
		snprintf(path, sizeof(path), "%s/t.conf", tmp);
		FILE *cf = fopen(path, "w");
		assert_non_null(cf);
		fputs(text, cf);
		assert_int_equal(fclose(cf), 0);
		cfg = config_load_buffer(path, text, strlen(text), &err);
		if (!cfg || config_load_dbcs(cfg, &err) < 0)
			fail_msg("%s:%u: %s", err.file, err.line, err.msg);
		router = router_new(cfg, &err);
		rules = rules_compile(cfg, gateway_rules_sink(fx->gw), &err);
		if (!router || !rules)
			fail_msg("%s:%u: %s", err.file, err.line, err.msg);
		if (gen == 0) {
			assert_int_equal(gateway_configure(fx->gw, cfg, router,
							   rules, false, msg,
							   sizeof(msg)),
					 0);
		} else if (gen == 1) {
			/* the next session opened beside the loop */
			struct evidence_meta copy;
			struct evidence *next;

			assert_int_equal(gateway_session_meta(fx->gw, &copy),
					 1);
			assert_string_equal(copy.operator_name, "Ann");
			next = evidence_open(cfg, &copy, gateway_now(fx->gw), msg,
					     sizeof(msg));
			gateway_meta_fini(&copy);
			if (!next)
				fail_msg("evidence_open: %s", msg);
			assert_int_equal(gateway_reload(fx->gw, cfg, router,
							rules, false, next, msg,
							sizeof(msg)),
					 0);
		} else {
			assert_int_equal(gateway_configure(fx->gw, cfg, router,
							   rules, false, msg,
							   sizeof(msg)),
					 -1);
			if (!strstr(msg, "evidence: "))
				fail_msg("failed reload: %s", msg);
			rules_free(rules);
			router_free(router);
			config_free(cfg);
		}
		if (gen == 0) {
			if (gateway_session_start(fx->gw, &meta, -1, msg,
						  sizeof(msg)) < 0)
				fail_msg("session start: %s", msg);
		}
		rx(fx, 0, 0x100, false, (uint64_t)(gen + 1) * 1000 * MS);
	}
	assert_int_equal(gateway_evidence_status(fx->gw, &st), 0);
	/* R and T of gen 1 and 2: the failed reload kept the session */
	assert_int_equal(st.frames, 4);
	assert_int_equal(gateway_session_stop(fx->gw, -1, msg, sizeof(msg)), 0);
	gateway_session_wait(fx->gw);
	snprintf(dir, sizeof(dir), "%s/s", tmp);
	assert_int_equal(bundles(dir, names), 2);

	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	slurp(path, "events.jsonl", buf, sizeof(buf));
	snprintf(msg, sizeof(msg), "\"type\":\"reload\",\"ok\":true,"
		 "\"previous_verdicts\":{");
	if (!strstr(buf, msg) || !strstr(buf, names[1]))
		fail_msg("first bundle's events: %s", buf);
	slurp(path, "verdicts.json", buf, sizeof(buf));
	if (!strstr(buf, "\"r0\"") || strstr(buf, "\"r1\""))
		fail_msg("first bundle's verdicts: %s", buf);

	snprintf(path, sizeof(path), "%s/%s", dir, names[1]);
	slurp(path, "events.jsonl", buf, sizeof(buf));
	if (!strstr(buf, "\"type\":\"reload\",\"ok\":true,"
			 "\"previous_session\":") ||
	    !strstr(buf, names[0]))
		fail_msg("second bundle's events: %s", buf);
	slurp(path, "verdicts.json", buf, sizeof(buf));
	if (!strstr(buf, "\"r1\"") || strstr(buf, "\"r0\""))
		fail_msg("second bundle's verdicts: %s", buf);
	slurp(path, "manifest.json", buf, sizeof(buf));
	if (!strstr(buf, "\"operator\": \"Ann\"") ||
	    !strstr(buf, "\"procedure\": \"rot\""))
		fail_msg("second bundle's manifest: %s", buf);

	snprintf(msg, sizeof(msg), "rm -rf '%s'", tmp);
	assert_int_equal(system(msg), 0);
}

/* A session opened beside the loop for a session that was restarted during
 * the parse (other operator) is closed unused; the rotation opens one for
 * the session recording at the swap. */
static void test_reload_stale_next(void **state)
{
	struct fixture *fx = *state;
	char tmp[] = "/tmp/test_gateway.XXXXXX";
	char text[2048], msg[256], path[600], buf[8192];
	struct evidence_meta a = {.operator_name = "A"};
	struct evidence_meta b = {.operator_name = "B"};
	struct evidence_meta copy;
	struct evidence *next;
	struct config *cfg[2];
	struct config_error err;
	FILE *p;

	assert_non_null(mkdtemp(tmp));
	snprintf(text, sizeof(text), "%s[evidence]\ndir = %s\n", conf, tmp);
	snprintf(path, sizeof(path), "%s.conf", tmp);
	p = fopen(path, "w");
	assert_non_null(p);
	fputs(text, p);
	assert_int_equal(fclose(p), 0);
	for (int i = 0; i < 2; i++) {
		cfg[i] = config_load_buffer(path, text, strlen(text), &err);
		assert_non_null(cfg[i]);
	}
	assert_int_equal(gateway_configure(fx->gw, cfg[0],
					   router_new(cfg[0], &err), NULL,
					   false, msg, sizeof(msg)),
			 0);
	assert_int_equal(gateway_session_start(fx->gw, &a, -1, msg, sizeof(msg)),
			 0);
	assert_int_equal(gateway_session_meta(fx->gw, &copy), 1);
	next = evidence_open(cfg[1], &copy, gateway_now(fx->gw), msg,
			     sizeof(msg));
	gateway_meta_fini(&copy);
	assert_non_null(next);
	assert_int_equal(gateway_session_stop(fx->gw, -1, msg, sizeof(msg)), 0);
	assert_int_equal(gateway_session_start(fx->gw, &b, -1, msg, sizeof(msg)),
			 0);
	assert_int_equal(gateway_reload(fx->gw, cfg[1],
					router_new(cfg[1], &err), NULL, false,
					next, msg, sizeof(msg)),
			 0);
	assert_int_equal(gateway_session_stop(fx->gw, -1, msg, sizeof(msg)), 0);
	gateway_session_wait(fx->gw);
	/* A's, the unused one, B's and the one after the reload */
	snprintf(path, sizeof(path), "ls -d %s/*/ | wc -l", tmp);
	p = popen(path, "r");
	assert_non_null(p);
	assert_non_null(fgets(buf, sizeof(buf), p));
	pclose(p);
	assert_int_equal(atoi(buf), 4);
	snprintf(path, sizeof(path),
		 "grep -l previous_session %s/*/events.jsonl", tmp);
	p = popen(path, "r");
	assert_non_null(p);
	assert_non_null(fgets(path, sizeof(path), p));
	pclose(p);
	*strrchr(path, '/') = '\0';
	slurp(path, "manifest.json", buf, sizeof(buf));
	if (!strstr(buf, "\"operator\": \"B\""))
		fail_msg("the session after the reload: %s", buf);
	snprintf(msg, sizeof(msg), "rm -rf '%s' '%s.conf'", tmp, tmp);
	assert_int_equal(system(msg), 0);
}

static void test_status_json(void **state)
{
	struct fixture *fx = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	rx(fx, 0, 0x100, false, 1);
	rx(fx, 0, 0x150, false, 2);
	gateway_status_json(fx->gw, m);
	fclose(m);
	assert_non_null(strstr(buf, "\"gateway\":\"t\""));
	assert_non_null(strstr(buf, "\"routes\":[{\"name\":\"ab\",\"from\":\"a\","
				    "\"to\":\"b\",\"both\":false,\"in\":2,"
				    "\"forwarded\":1,\"filtered\":1,"
				    "\"rate_limited\":0,\"dropped\":0,"
				    "\"queued\":0}"));
	assert_non_null(strstr(buf, "\"recording\":{\"session\":false"));
	assert_non_null(strstr(buf, "\"violations\":{\"active\":0"));
	assert_int_equal(buf[0], '{');
	assert_int_equal(buf[len - 1], '}');
	free(buf);
}

/* Real buses that need no CAN: a replay bus feeding a null sink through
 * the event loop, reloaded halfway (both buses keep running: same
 * settings), ending on its own with exit_on_replay_end. */
static void test_replay_to_null_with_reload(void **state)
{
	char dir[] = "/tmp/test_gateway.XXXXXX";
	char path[64], text[2048];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct gateway *gw = gateway_new(loop);
	struct gateway_route_status st;
	struct config_error err;
	char msg[256];
	FILE *f;
	int n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/in.log", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 1000; i++)
		fprintf(f, "(%d.%06d) can0 %03X#%02X\n", 100 + i / 1000,
			i % 1000 * 1000, 0x100 + i % 64, i % 256);
	fclose(f);
	n = snprintf(text, sizeof(text),
		     "[gateway]\nname = r\nexit_on_replay_end = yes\n"
		     "[bus log]\ninterface = replay:%s,speed=0\n"
		     "[bus sink]\ninterface = null\n"
		     "[route r]\nfrom = log\nto = sink\nblock = 0x13F\n",
		     path);
	for (int round = 0; round < 2; round++) {
		struct config *cfg =
			config_load_buffer("r.conf", text, (size_t)n, &err);
		struct router *router;

		if (!cfg)
			fail_msg("%s:%u: %s", err.file, err.line, err.msg);
		router = router_new(cfg, &err);
		assert_non_null(router);
		assert_int_equal(gateway_configure(gw, cfg, router, NULL, true,
						   msg, sizeof(msg)),
				 0);
		if (round == 0) {
			gateway_start(gw);
			/* a few loop iterations: part of the log, not all */
			for (int i = 0; i < 2; i++)
				ev_run(loop, EVRUN_ONCE);
			assert_int_equal(gateway_route_status(gw, 0, &st), 0);
			assert_true(st.in > 0 && st.in < 1000);
		}
	}
	ev_run(loop, 0); /* until every replay bus ended */
	assert_true(gateway_replay_done(gw));
	assert_int_equal(gateway_route_status(gw, 0, &st), 0);
	/* route counters restart at the reload; the invariant holds */
	assert_true(st.in > 0 && st.in < 1000);
	assert_int_equal(st.in, st.forwarded + st.filtered + st.rate_limited +
					st.dropped + st.queued);
	assert_int_equal(st.queued, 0);
	/* the buses carried on: every frame read and counted once */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		gateway_status_json(gw, m);
		fclose(m);
		assert_non_null(strstr(buf, "\"name\":\"log\",\"interface\":"
					    "\"log\",\"kind\":\"replay\","
					    "\"state\":\"ended\",\"rx\":1000,"));
		/* 0x13F is every 64th frame (i = 63, 127, ... 959): 15 blocked */
		assert_non_null(strstr(buf, "\"name\":\"sink\",\"interface\":"
					    "\"sink\",\"kind\":\"null\","
					    "\"state\":\"up\",\"rx\":0,"
					    "\"tx\":985,"));
		assert_non_null(strstr(buf, "\"reloads\":1"));
		free(buf);
	}
	gateway_free(gw);
	ev_loop_destroy(loop);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forward_filter_map_rate,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bidirectional_and_own_tx,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_drops_and_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_old_queue_recorded,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_ignores_old_queue,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_rotates_session,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_stale_next, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_status_json, setup,
						teardown),
		cmocka_unit_test(test_replay_to_null_with_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
