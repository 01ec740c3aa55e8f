/*
 * report.h: the HTML report of an evidence bundle (`cangate report`, and
 * evidence_close() at the end of a session).
 */
#ifndef CANGATE_REPORT_H
#define CANGATE_REPORT_H

#include <stddef.h>

/*
 * Write one self-contained HTML file (inline CSS and SVG, no scripts, no
 * network) for the bundle at bundle_dir into out_path (atomically). Its
 * bytes depend only on the bundle's content, so regenerating the report of
 * an untouched bundle gives the same file the recorder hashed.
 * 0, or -1 with errmsg.
 */
int report_write(const char *bundle_dir, const char *out_path, char *errmsg,
		 size_t errlen);

struct config;

/* The bundle's own config (config_path, one of its copies, or NULL for
 * config/<file> as recorded) with its includes and DBCs read from the
 * bundle's copies only, never the live files the config names. The caller
 * frees it with config_free(). NULL with errmsg (file:line: msg). */
struct config *report_bundle_config(const char *bundle_dir,
				    const char *config_path, char *errmsg,
				    size_t errlen);

#endif
