/*
 * evidence.h: the session recorder (bundle layout in DESIGN.md). Pure with
 * respect to time: every call takes the timestamp to record. It does file
 * I/O only in the session directory.
 */
#ifndef CANGATE_EVIDENCE_H
#define CANGATE_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct frame;

struct evidence_meta {
	const char *vin, *procedure, *operator_name; /* NULL: take the config's */
};

struct evidence_status {
	bool recording;      /* false after ENOSPC or another write failure */
	char dir[512];       /* the bundle directory */
	uint64_t frames;     /* lines in frames.log */
	uint64_t blocks;     /* closed chain blocks */
	char error[256];     /* why recording stopped, or "" */
};

/*
 * Start a session bundle under cfg->evidence.dir. Copies the config file,
 * includes and DBCs into config/. First looks for bundles left "open" by a
 * crash and marks them interrupted (recording where they verify to).
 * Returns NULL with errmsg filled when the directory cannot be created.
 */
struct evidence *evidence_open(const struct config *cfg,
			       const struct evidence_meta *meta,
			       uint64_t now_ns, char *errmsg, size_t errlen);

/* Append a frame line (rx or tx, dir set in f) for interface ifname.
 * Returns its 1-based line number in frames.log (across segments), or 0
 * when recording has stopped (the caller counts that). Closes the block
 * (hash, chain line, fsync) when block_frames or block_ms is reached. */
uint64_t evidence_frame(struct evidence *ev, const struct frame *f,
			const char *ifname);

/* Closes a block whose block_ms has passed without further frames. */
void evidence_tick(struct evidence *ev, uint64_t now_ns);

/* events.jsonl: {"t":..,"type":type, <fields_json>}; fields_json is a
 * comma-separated list of "key":value members without braces, or NULL. */
void evidence_event(struct evidence *ev, uint64_t t_ns, const char *type,
		    const char *fields_json);

/* violations.jsonl: one complete JSON object (from the rules sink). */
void evidence_violation(struct evidence *ev, const char *json);

/* Close the session: last block, verdicts.json, report.html,
 * manifest.json status closed (atomic rewrite), manifest.sig when a key is
 * configured. Frees ev. Returns 0 or -1 (message in errmsg). */
int evidence_close(struct evidence *ev, uint64_t now_ns,
		   const char *verdicts_json, char *errmsg, size_t errlen);

void evidence_get_status(const struct evidence *ev, struct evidence_status *st);

#endif
