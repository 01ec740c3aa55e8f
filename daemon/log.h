/*
 * log.h: daemon logging to stderr, one line per message, each prefixed with
 * its syslog priority as "<N>" so that journald files it at the right level
 * (sd-daemon(3)). Modelled on OpenBSD ntpd's log.c: log_warn appends
 * strerror(errno), log_warnx does not; fatal/fatalx never return.
 * Library code (dbc/, router, rules, evidence) does not log: it fills error
 * buffers and the daemon logs once, where the decision is made.
 */
#ifndef CANGATE_LOG_H
#define CANGATE_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* verbose enables log_debug. procname prefixes every line ("cangated"). */
void log_init(int verbose, const char *procname);
int log_getverbose(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/*
 * A token bucket for messages that could repeat at frame rate (violations,
 * bad replay lines): at most burst lines, refilled by one per interval_ns.
 * log_ratelimit() returns true when the caller may log now; suppressed
 * counts how many were swallowed since the last allowed line.
 */
struct log_ratelimit {
	uint64_t interval_ns;
	uint32_t burst;
	uint32_t tokens;
	uint64_t last_ns;
	uint64_t suppressed;
};

#define LOG_RATELIMIT_INIT(interval_ns_, burst_)                               \
	{ .interval_ns = (interval_ns_), .burst = (burst_), .tokens = (burst_) }

bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_ns);

#endif
