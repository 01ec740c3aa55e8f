/*
 * cangated: the gateway daemon.
 *
 *   cangated -c CONFIG [-f] [-v] [-n] [-R|--allow-root]
 *
 * -n checks the config, its DBCs, routes and rules and exits (0 OK, 1 with
 * the first error as file:line: msg). -f is accepted for compatibility: the
 * daemon never forks (systemd Type=notify). -v enables debug logging.
 *
 * Privileges: cangated refuses to run as root unless -R is given or
 * [gateway] user names an account to switch to. It switches after opening
 * the CAN sockets and the control socket (and after libsocketcan has applied
 * bitrate/restart_ms, which need CAP_NET_ADMIN). No capability is kept:
 * reopening a CAN_RAW socket after an interface comes back needs none, but
 * a reload that changes bitrate or restart_ms cannot apply them any more.
 *
 * Signals (ev_signal; handlers only run inside the loop): TERM/INT drain tx
 * queues briefly, close the evidence session with its verdicts, exit 0.
 * HUP reloads: the new config is loaded and checked as fully as -n does, in
 * a worker thread while the loop forwards; on any error the running config
 * stays and the error is logged. A session recording at a successful reload
 * is closed and the next one opened under the new config (gateway.h).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/types.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "daemon/bus.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/control.h"
#include "daemon/gateway.h"
#include "daemon/core/json.h"
#include "daemon/log.h"
#include "daemon/core/router.h"
#include "daemon/core/rules.h"
#include "daemon/core/translate.h"

#define FLUSH_MS 200           /* tx queue drain at exit */
#define NOTIFY_STATUS_S 5.     /* sd_notify STATUS= period */

static struct {
	struct ev_loop *loop;
	struct gateway *gw;
	struct control *ctl;
	const char *config_path;
	ev_signal sigterm_w, sigint_w, sighup_w;
	ev_timer status_w, watchdog_w;
	bool terminating;
} d;

static void usage(FILE *out)
{
	fprintf(out, "usage: cangated -c CONFIG [-f] [-v] [-n] "
		     "[-R|--allow-root]\n");
}

static void noop_violation(void *ctx, const char *rule, const char *json)
{
	(void)ctx;
	(void)rule;
	(void)json;
}

static const struct rules_sink check_sink = {
	.violation_start = noop_violation,
	.violation_end = noop_violation,
};

/*
 * Load and check everything a config needs to run: the file, DBCs, routes,
 * rules, outputs, replay logs. On success the caller owns *cfg, *router,
 * *rules, *trp.
 */
/* old: the running config (its signing key is reused), or NULL. */
static int load_config(const char *path, const struct config *old,
		       const struct rules_sink *sink,
		       const struct translate_sink *tsink,
		       struct config **cfgp, struct router **routerp,
		       struct rules **rulesp, struct translate **trp,
		       char *msg, size_t msglen)
{
	struct config_error err;
	struct config *cfg;
	struct router *router = NULL;
	struct rules *rules = NULL;
	struct translate *tr;

	memset(&err, 0, sizeof(err));
	cfg = config_load(path, &err);
	if (!cfg)
		goto fail;
	if (config_load_dbcs(cfg, &err) < 0 ||
	    config_load_sign_key(cfg, old, &err) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_buses; i++) {
		const struct config_bus *b = &cfg->buses[i];
		char bmsg[sizeof(err.msg)];

		if (bus_check_config(b, bmsg, sizeof(bmsg)) < 0) {
			config_errorf(&err, cfg->path ? cfg->path : path,
				      b->line, "%s", bmsg);
			goto fail;
		}
	}
	router = router_new(cfg, &err);
	if (!router)
		goto fail;
	rules = rules_compile(cfg, sink, &err);
	if (!rules)
		goto fail;
	tr = translate_compile(cfg, tsink, &err);
	if (!tr) {
		rules_free(rules);
		goto fail;
	}
	*cfgp = cfg;
	*routerp = router;
	*rulesp = rules;
	*trp = tr;
	return 0;
fail:
	config_error_format(&err, msg, msglen);
	router_free(router);
	config_free(cfg);
	return -1;
}

/* ---- systemd ---- */

static void notify_status(void)
{
	char line[256], msg[300];

	gateway_status_line(d.gw, line, sizeof(line));
	snprintf(msg, sizeof(msg), "STATUS=%s", line);
	sd_notify(0, msg);
}

static void status_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	notify_status();
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
}

/* ---- signals ---- */

static void terminate_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("received %s, shutting down",
		 w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	d.terminating = true;
	ev_break(loop, EVBREAK_ALL);
}

/*
 * A reload parses the config, its DBCs and compiles rules in a worker
 * thread, and opens the next evidence session there too (copying and
 * hashing the DBCs): with a large DBC that takes seconds, and the loop must
 * keep forwarding meanwhile. The result comes back with an ev_async and is
 * installed on the loop. One parse at a time: a HUP during a parse is
 * remembered and starts one more parse once this one is installed, so that
 * the newest file content wins.
 */
static struct {
	pthread_t thread;
	ev_async done_w;
	bool running; /* a worker parses (loop thread only) */
	bool again;   /* a HUP came during the parse (loop thread only) */
	pthread_mutex_t lock; /* done, abandoned */
	bool done;
	bool abandoned; /* the daemon exits: the worker must not signal */
	/* Inputs, copied: the worker must not read the gateway, which exit
	 * may free under it. The running config's signing key: */
	struct config keys;
	const struct rules_sink *sink;
	const struct translate_sink *tsink;
	bool open_next; /* a session records: open the next one */
	struct evidence_meta meta;
	/* the result */
	int rc;
	struct config *cfg;
	struct router *router;
	struct rules *rules;
	struct translate *tr;
	struct evidence *next;
	char msg[600];
	uint64_t t0_mono_ns;
} rl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void reload_result_free(void)
{
	if (rl.next) {
		char err[256];

		/* nothing was recorded in it: it closes at once */
		if (evidence_close(rl.next, bus_real_ns(), "{\"rules\":[]}",
				   err, sizeof(err)) < 0)
			log_warnx("closing the unused evidence session: %s",
				  err);
		rl.next = NULL;
	}
	if (rl.cfg) {
		rules_free(rl.rules);
		router_free(rl.router);
		translate_free(rl.tr);
		config_free(rl.cfg);
		rl.cfg = NULL;
	}
}

static void *reload_main(void *arg)
{
	char err[400];

	(void)arg;
	/* Not niced below the loop: the next session's writer thread starts
	 * here and inherits this thread's nice value, and the loop waits for
	 * that writer when it falls behind (an unprivileged thread cannot
	 * lower its nice value back). */
	rl.rc = load_config(d.config_path, &rl.keys, rl.sink, rl.tsink,
			    &rl.cfg, &rl.router, &rl.rules, &rl.tr, rl.msg,
			    sizeof(rl.msg));
	if (rl.rc < 0)
		rl.cfg = NULL;
	else if (rl.open_next && rl.cfg->evidence.enabled) {
		rl.next = evidence_open(rl.cfg, &rl.meta, bus_real_ns(), err,
					sizeof(err));
		if (!rl.next) {
			snprintf(rl.msg, sizeof(rl.msg), "evidence: %s", err);
			reload_result_free();
			rl.rc = -1;
		}
	}
	pthread_mutex_lock(&rl.lock);
	rl.done = true;
	if (!rl.abandoned)
		ev_async_send(d.loop, &rl.done_w);
	pthread_mutex_unlock(&rl.lock);
	return NULL;
}

/* What the worker read, once it has been joined. */
static void reload_inputs_fini(void)
{
	free(rl.keys.evidence.sign_key);
	explicit_bzero(&rl.keys, sizeof(rl.keys));
	gateway_meta_fini(&rl.meta);
}

/* Start a parse in a worker; -1 with rl.msg when it cannot start. */
static int reload_start(void)
{
	const struct config_evidence *e = &gateway_config(d.gw)->evidence;
	sigset_t all, old;
	int rc;

	log_info("received SIGHUP, reloading %s", d.config_path);
	memset(&rl.keys, 0, sizeof(rl.keys));
	if (e->sign_sk_loaded && e->sign_key) {
		rl.keys.evidence.sign_key = strdup(e->sign_key);
		if (!rl.keys.evidence.sign_key)
			goto oom;
		memcpy(rl.keys.evidence.sign_sk, e->sign_sk,
		       sizeof(rl.keys.evidence.sign_sk));
		rl.keys.evidence.sign_sk_loaded = true;
	}
	rc = gateway_session_meta(d.gw, &rl.meta);
	if (rc < 0)
		goto oom;
	rl.open_next = rc > 0;
	rl.sink = gateway_rules_sink(d.gw);
	rl.tsink = gateway_translate_sink(d.gw);
	rl.done = false;
	rl.t0_mono_ns = bus_mono_ns();
	/* signals stay with the loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&rl.thread, NULL, reload_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Never joined: on a busy machine its last steps may wait for a CPU,
	 * and the loop must not wait with them. rl.done (under rl.lock) says
	 * its results are ready; it touches nothing after setting it. */
	if (rc == 0)
		pthread_detach(rl.thread);
	if (rc != 0) {
		reload_inputs_fini();
		snprintf(rl.msg, sizeof(rl.msg), "cannot start a thread: %s",
			 strerror(rc));
		return -1;
	}
	rl.running = true;
	return 0;
oom:
	reload_inputs_fini();
	snprintf(rl.msg, sizeof(rl.msg), "out of memory");
	return -1;
}

static void reload_failed(const char *msg)
{
	/* room for msg with every byte escaped as \u00XX */
	char fields[6 * sizeof(rl.msg) + 32];
	struct json j;

	log_warnx("reload failed, keeping the running configuration: %s",
		  msg);
	json_init_buf(&j, fields, sizeof(fields));
	json_members_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, false);
	json_key(&j, "error");
	json_string(&j, msg);
	json_members_end(&j);
	json_finish(&j);
	gateway_event(d.gw, gateway_now(d.gw), "reload", fields);
}

static void reload_ready(void)
{
	sd_notify(0, "READY=1");
	notify_status();
}

/* The worker is done: install its result, then start the parse a later HUP
 * asked for. */
static void reload_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	uint64_t t_parsed;
	bool done;
	int rc;

	(void)loop;
	(void)w;
	(void)revents;
	pthread_mutex_lock(&rl.lock);
	done = rl.done;
	pthread_mutex_unlock(&rl.lock);
	if (!rl.running || !done)
		return;
	rl.running = false;
	reload_inputs_fini();
	t_parsed = bus_mono_ns();
	if (rl.rc < 0) {
		reload_failed(rl.msg);
	} else {
		rc = gateway_reload(d.gw, rl.cfg, rl.router, rl.rules, true,
				    rl.next, rl.msg, sizeof(rl.msg));
		rl.next = NULL; /* the gateway's in any case */
		if (rc < 0) {
			reload_result_free();
			reload_failed(rl.msg);
		} else {
			gateway_set_translate(d.gw, rl.tr);
			rl.cfg = NULL; /* the gateway owns it */
			log_info("reloaded %s", d.config_path);
			/* what the loop waited for, against what it did not */
			log_info("reload parsed in %" PRIu64 " ms beside the "
				 "loop, installed in %" PRIu64 " ms on it",
				 (t_parsed - rl.t0_mono_ns) / 1000000,
				 (bus_mono_ns() - t_parsed) / 1000000);
		}
	}
	if (rl.again) {
		rl.again = false;
		if (reload_start() == 0)
			return;
		reload_failed(rl.msg);
	}
	reload_ready();
}

static void reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (rl.running) {
		log_info("received SIGHUP during a reload: reloading again "
			 "once it is installed");
		rl.again = true;
		return;
	}
	sd_notify(0, "RELOADING=1");
	if (reload_start() < 0) {
		reload_failed(rl.msg);
		reload_ready();
	}
}

/* At exit: a parse still running is left to die with the process (a bundle
 * it opens meanwhile is recovered as interrupted at the next start); a
 * finished one is freed. */
static void reload_fini(void)
{
	bool done;

	if (!rl.running)
		return;
	pthread_mutex_lock(&rl.lock);
	done = rl.done;
	if (!done)
		rl.abandoned = true;
	pthread_mutex_unlock(&rl.lock);
	if (!done) {
		log_warnx("exiting during a reload: its parse is abandoned");
		return;
	}
	rl.running = false;
	reload_inputs_fini();
	reload_result_free();
}

/* ---- privileges ---- */

static void drop_privileges(const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		fatalx("[gateway] user %s: %s", user,
		       errno ? strerror(errno) : "no such user");
	if (geteuid() != 0) {
		if (geteuid() != pw->pw_uid)
			log_warnx("not running as root: cannot switch to user "
				  "%s, staying uid %d",
				  user, (int)geteuid());
		return;
	}
	if (d.ctl && control_chown(d.ctl, pw->pw_uid, pw->pw_gid) < 0)
		log_warn("chown of the control socket to %s", user);
	if (initgroups(pw->pw_name, pw->pw_gid) < 0)
		fatal("initgroups %s", user);
	if (setgid(pw->pw_gid) < 0)
		fatal("setgid %d", (int)pw->pw_gid);
	if (setuid(pw->pw_uid) < 0)
		fatal("setuid %d", (int)pw->pw_uid);
	if (setuid(0) == 0)
		fatalx("could still regain root after dropping privileges");
	log_info("running as user %s", user);
}

static void make_control_dir(const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	/* systemd's RuntimeDirectory= normally made it; by hand, make the
	 * last level only. */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("mkdir %s", dir);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"check", no_argument, NULL, 'n'},
		{"allow-root", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool check = false, allow_root = false;
	int verbose = 0, c;
	struct config *cfg;
	struct router *router;
	struct rules *rules;
	struct translate *tr;
	char msg[600];
	const char *ctl_path;
	uint64_t wd_usec = 0;

	while ((c = getopt_long(argc, argv, "c:fvnRhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'f':
			break; /* never forks anyway */
		case 'v':
			verbose++;
			break;
		case 'n':
			check = true;
			break;
		case 'R':
			allow_root = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cangated %s\n", CANGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!d.config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(verbose, "cangated");

	if (check) {
		if (load_config(d.config_path, NULL, &check_sink, NULL, &cfg,
				&router, &rules, &tr, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "%s\n", msg);
			return 1;
		}
		rules_free(rules);
		translate_free(tr);
		router_free(router);
		config_free(cfg);
		printf("configuration OK\n");
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop)
		fatalx("cannot initialise the event loop");
	/* Catch signals before the slow start-up (DBCs, sockets, crash
	 * recovery): a HUP or TERM then waits for the loop instead of killing
	 * the daemon with the default action. */
	ev_signal_init(&d.sigterm_w, terminate_cb, SIGTERM);
	ev_signal_init(&d.sigint_w, terminate_cb, SIGINT);
	ev_signal_init(&d.sighup_w, reload_cb, SIGHUP);
	ev_signal_start(d.loop, &d.sigterm_w);
	ev_signal_start(d.loop, &d.sigint_w);
	ev_signal_start(d.loop, &d.sighup_w);
	ev_async_init(&rl.done_w, reload_done_cb);
	ev_async_start(d.loop, &rl.done_w);
	d.gw = gateway_new(d.loop);
	if (!d.gw)
		fatalx("out of memory");
	/* the signing key too: it is read here, as root, and kept */
	if (load_config(d.config_path, NULL, gateway_rules_sink(d.gw),
			gateway_translate_sink(d.gw), &cfg, &router, &rules, &tr,
			msg, sizeof(msg)) < 0)
		fatalx("%s", msg);
	if (geteuid() == 0 && !allow_root && !cfg->user)
		fatalx("refusing to run as root: set [gateway] user (the "
		       "daemon switches to it after opening its sockets) or "
		       "pass --allow-root");
	if (gateway_configure(d.gw, cfg, router, rules, true, msg,
			      sizeof(msg)) < 0)
		fatalx("%s", msg);
	gateway_set_translate(d.gw, tr);
	cfg = NULL; /* the gateway owns it */

	ctl_path = gateway_config(d.gw)->control_path
			   ? gateway_config(d.gw)->control_path
			   : CONTROL_DEFAULT_PATH;
	make_control_dir(ctl_path);
	d.ctl = control_new(d.loop, ctl_path, d.gw, msg, sizeof(msg));
	if (!d.ctl)
		fatalx("%s", msg);
	if (gateway_config(d.gw)->user)
		drop_privileges(gateway_config(d.gw)->user);

	if (gateway_config(d.gw)->evidence.enabled &&
	    gateway_config(d.gw)->evidence.auto_start) {
		if (gateway_session_start(d.gw, NULL, -1, msg, sizeof(msg)) < 0)
			fatalx("evidence: %s", msg);
	}

	ev_timer_init(&d.status_w, status_cb, NOTIFY_STATUS_S, NOTIFY_STATUS_S);
	ev_timer_start(d.loop, &d.status_w);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec) {
		double half = (double)wd_usec / 2e6;

		ev_timer_init(&d.watchdog_w, watchdog_cb, half, half);
		ev_timer_start(d.loop, &d.watchdog_w);
	}

	gateway_start(d.gw);
	log_info("cangated %s started: %zu buses, %zu routes, control %s",
		 CANGATE_VERSION, gateway_config(d.gw)->n_buses,
		 gateway_config(d.gw)->n_routes, ctl_path);
	sd_notify(0, "READY=1");
	notify_status();

	ev_run(d.loop, 0);

	sd_notify(0, "STOPPING=1");
	reload_fini();
	gateway_flush(d.gw, FLUSH_MS);
	control_free(d.ctl);
	gateway_free(d.gw); /* closes the session with its verdicts */
	ev_loop_destroy(d.loop);
	log_info("stopped");
	return 0;
}
