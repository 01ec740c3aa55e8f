/*
 * log.c: stderr logging with syslog priority prefixes, ntpd style.
 * See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

/* syslog priorities, spelled out so this file does not need <syslog.h>. */
#define PRI_CRIT 2
#define PRI_WARNING 4
#define PRI_INFO 6
#define PRI_DEBUG 7

static int log_verbose;
static const char *log_procname = "cangated";

void log_init(int verbose, const char *procname)
{
	log_verbose = verbose;
	if (procname)
		log_procname = procname;
}

int log_getverbose(void)
{
	return log_verbose;
}

static void log_vwrite(int pri, const char *errstr, const char *fmt,
		       va_list ap) __attribute__((format(printf, 3, 0)));

static void log_vwrite(int pri, const char *errstr, const char *fmt,
		       va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: concurrent writers (tests, systemd) never see
	 * half lines from us. */
	if (errstr)
		fprintf(stderr, "<%d>%s: %s: %s\n", pri, log_procname, msg,
			errstr);
	else
		fprintf(stderr, "<%d>%s: %s\n", pri, log_procname, msg);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PRI_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PRI_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PRI_INFO, NULL, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(PRI_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PRI_CRIT, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PRI_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_ns)
{
	if (rl->interval_ns && now_ns > rl->last_ns) {
		uint64_t refill = (now_ns - rl->last_ns) / rl->interval_ns;

		if (refill) {
			uint64_t t = rl->tokens + refill;

			rl->tokens = t > rl->burst ? rl->burst : (uint32_t)t;
			rl->last_ns += refill * rl->interval_ns;
		}
	}
	if (rl->last_ns == 0 || now_ns < rl->last_ns)
		rl->last_ns = now_ns;
	if (rl->tokens == 0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	return true;
}
