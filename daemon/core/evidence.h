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
	uint64_t frames;     /* lines numbered for frames.log (see frames_on_disk) */
	uint64_t frames_on_disk; /* of those, covered by chain lines on disk */
	uint64_t blocks;     /* closed chain blocks */
	uint64_t not_recorded; /* frames lost: after a write error, or unformattable */
	uint64_t writer_stalls; /* times the caller waited for the writer thread */
	char error[256];     /* why recording stopped, or "" */
};

/*
 * Start a session bundle under cfg->evidence.dir. Copies the config file,
 * includes and DBCs into config/. Starts a thread that looks for bundles
 * left "open" by a crash and marks them interrupted (recording where they
 * verify to, signed with the session's key), and finishes bundles whose
 * close a crash cut short.
 * Returns NULL with errmsg filled when the directory cannot be created.
 */
struct evidence *evidence_open(const struct config *cfg,
			       const struct evidence_meta *meta,
			       uint64_t now_ns, char *errmsg, size_t errlen);

/* Append a frame line (rx or tx, dir set in f) for interface ifname.
 * Returns its 1-based line number in frames.log (across segments), or 0
 * when recording has stopped (the caller counts that). Closes the block
 * (hash, chain line) when block_frames or block_ms is reached.
 * The session's writer thread writes and syncs the lines later; when the
 * disk is more than a few MiB behind, this waits for it (counted in
 * writer_stalls and as writer_stall events), it never drops a frame. A
 * write error that the writer meets later stops the recording at the last
 * block on disk: lines numbered after it were not recorded after all
 * (counted in not_recorded; see docs/evidence.md "Write errors"). */
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

/* Close the session: last block, waiting for the writer thread to commit
 * it and all before it, session_stop, the events and violations
 * that waited for room (disk full), verdicts.json, manifest.json status
 * closed, report.html, the manifest again with the report's hash and
 * manifest.sig when a key is configured; .reserve goes last, so that a
 * crash on the way leaves a bundle that recovery finishes. Frees ev.
 * Returns 0 or -1 (message in errmsg). Blocks for a time linear in the
 * bundle's size (the report reads it all). */
int evidence_close(struct evidence *ev, uint64_t now_ns,
		   const char *verdicts_json, char *errmsg, size_t errlen);

/* The same close in a worker thread, so that a caller's event loop keeps
 * running: ev belongs to the worker from here on. *out gets the handle to
 * poll and end; 0, or -1 with errmsg when the close already failed (it ran
 * here because no thread could be started; *out is NULL then, as it is
 * after a successful close that ran here). */
struct evidence_closing;
int evidence_close_begin(struct evidence *ev, uint64_t now_ns,
			 const char *verdicts_json, struct evidence_closing **out,
			 char *errmsg, size_t errlen);
/* True once the worker has finished (evidence_close_end will not block). */
bool evidence_close_done(const struct evidence_closing *c);
/* The bundle directory being closed. */
const char *evidence_close_dir(const struct evidence_closing *c);
/* Frames the session did not record: final once evidence_close_done(). */
uint64_t evidence_close_not_recorded(const struct evidence_closing *c);
/* Waits for the worker, frees c; evidence_close's result. */
int evidence_close_end(struct evidence_closing *c, char *errmsg, size_t errlen);

/* Recovery of crashed bundles (see evidence_open) runs in a thread; its
 * recovered_interrupted events reach events.jsonl at the first
 * evidence_tick after it is done, or at close. This waits for it. */
void evidence_recovery_wait(struct evidence *ev);

void evidence_get_status(const struct evidence *ev, struct evidence_status *st);

/* Test seam: when set, the writer thread calls it before each write ('w')
 * and fdatasync ('s') of a frames.log segment or frames.chain (file names
 * it); a non-zero return fails that call with that errno. It may sleep to
 * play a slow disk. NULL outside tests. */
extern int (*evidence_io_hook)(const char *file, char op);

#endif
