/*
 * bundle.h: reading and checking an evidence bundle (layout in DESIGN.md,
 * formats in docs/evidence.md): a small JSON reader for manifest.json,
 * verdicts.json and violations.jsonl, the frames.chain line format and the
 * chain link function, segment names, file hashing, the manifest writer
 * shared by the recorder and crash recovery, and the verifier behind
 * `cangate verify`. Library code: fills error buffers, never logs or exits.
 */
#ifndef CANGATE_BUNDLE_H
#define CANGATE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BUNDLE_FORMAT "cangate-evidence/1"
#define BUNDLE_SHA256_HEX 65 /* 64 hex digits and NUL */
/* Space the recorder sets aside at open and frees at close, so that a full
 * disk still leaves room for verdicts, manifest and report. Never hashed. */
#define BUNDLE_RESERVE ".reserve"
#define BUNDLE_RESERVE_BYTES (512u << 10)

/* ------------------------------------------------------------ JSON reader */

enum bundle_json_type {
	BJ_NULL,
	BJ_BOOL,
	BJ_NUMBER,
	BJ_STRING,
	BJ_ARRAY,
	BJ_OBJECT,
};

struct bundle_json {
	enum bundle_json_type type;
	char *key;   /* member name inside an object, else NULL */
	char *str;   /* BJ_STRING: unescaped value; BJ_NUMBER: the token as written */
	double num;  /* BJ_NUMBER */
	bool b;      /* BJ_BOOL */
	struct bundle_json *items; /* BJ_ARRAY, BJ_OBJECT: n members in order */
	size_t n;
};

/* Parse one JSON value from s[0..len) (trailing whitespace allowed). Returns
 * a tree the caller frees with bundle_json_free(), or NULL with errmsg
 * ("byte N: ..."). Depth is limited to 64; strings may not hold NUL. */
struct bundle_json *bundle_json_parse(const char *s, size_t len, char *errmsg,
				      size_t errlen);
void bundle_json_free(struct bundle_json *j);

/* Member of an object (first with that name), or NULL. */
const struct bundle_json *bundle_json_get(const struct bundle_json *obj,
					  const char *key);
/* String member, or NULL when absent or not a string. */
const char *bundle_json_str(const struct bundle_json *obj, const char *key);
/* Unsigned integer member (exact, from the token). 0 or -1. */
int bundle_json_u64(const struct bundle_json *obj, const char *key,
		    uint64_t *out);
/* Number member as double (NAN when absent or not a number). */
double bundle_json_num(const struct bundle_json *obj, const char *key);

/* ------------------------------------------------------- growable buffer */

struct bundle_buf {
	char *p;     /* NUL-terminated while not failed */
	size_t len, cap;
	bool failed; /* an allocation failed: contents are incomplete */
};

void bundle_buf_add(struct bundle_buf *b, const char *s, size_t n);
void bundle_buf_puts(struct bundle_buf *b, const char *s);
void bundle_buf_printf(struct bundle_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s as a quoted JSON string ("\"", "\\" and control characters escaped;
 * other bytes as they are). NULL writes null. */
void bundle_buf_json_str(struct bundle_buf *b, const char *s);
/* s with &<>"' escaped for HTML. */
void bundle_buf_html(struct bundle_buf *b, const char *s);
/* Serialize a parsed value back (same escaping as bundle_buf_json_str, so
 * parse then write is byte-identical for what this module writes). */
void bundle_buf_json(struct bundle_buf *b, const struct bundle_json *j);
void bundle_buf_free(struct bundle_buf *b);

/* ----------------------------------------------------------------- hashes */

void bundle_hex(const uint8_t *in, size_t n, char *out /* 2n+1 */);
/* Exactly 2n hex digits into out[n]. 0 or -1. */
int bundle_unhex(const char *s, uint8_t *out, size_t n);
/*
 * Open path read-only as an input (evidence, config, key): O_NONBLOCK so
 * that a FIFO cannot block the caller, plus flags (O_NOFOLLOW for a file
 * inside a bundle, which must be the file itself). Anything but a regular
 * file (FIFO, device such as /dev/zero, directory) is refused. fd, or -1
 * with errmsg "PATH: ...".
 */
int bundle_open_file(const char *path, int flags, char *errmsg,
		     size_t errlen);
/* The same as a stdio stream for reading. NULL with errmsg. */
FILE *bundle_open_stream(const char *path, int flags, char *errmsg,
			 size_t errlen);
/* SHA-256 of a whole regular file inside a bundle (no symbolic link);
 * *size gets its length (may be NULL). 0 or -1 with errmsg "PATH: why". */
int bundle_sha256_file(const char *path, uint8_t out[32], uint64_t *size,
		       char *errmsg, size_t errlen);
/* Whole regular file (bundle_open_file, links followed) into a malloc'd
 * NUL-terminated buffer (*len without the NUL). NULL with errmsg. Refuses
 * files over max bytes. */
char *bundle_read_file(const char *path, size_t max, size_t *len,
		       char *errmsg, size_t errlen);
/* All n bytes to fd, retrying short writes and EINTR. 0, or -1 with errno. */
int bundle_write_all(int fd, const void *buf, size_t n);
/* Test seam: when set, called before each rename of bundle_write_atomic; a
 * non-zero return fails the write as if the process had died there (the
 * .tmp stays). NULL outside tests. */
extern int (*bundle_crash_hook)(const char *dir, const char *name);
/* Write data to dir/name atomically: dir/name.tmp, fsync, rename, fsync dir. */
int bundle_write_atomic(const char *dir, const char *name, const char *data,
			size_t len, char *errmsg, size_t errlen);

/* ------------------------------------------------------------------ chain */

/*
 * One frames.chain line, space-separated, '\n'-terminated:
 *   SEQ SEGMENT FIRST LAST T_FIRST T_LAST OFFSET LENGTH DIGEST H
 * SEQ counts blocks from 1. SEGMENT is the frames.log segment index (0 is
 * frames.log, n >= 1 is frames.log.NNNN). FIRST/LAST are global 1-based line
 * numbers. T_FIRST/T_LAST are the timestamps of the first and last line,
 * copied as written between the parentheses. OFFSET/LENGTH are the block's
 * bytes in its segment. DIGEST = SHA-256(those bytes), H the chain value,
 * both lower-case hex. Let P be the line up to and including DIGEST (no
 * trailing space). Then
 *   H_i = SHA-256( H_{i-1} (32 raw bytes) || DIGEST_i (32 raw bytes) || P_i )
 * and H_0 = SHA-256 of the header text (bundle_header_text()). Because P
 * carries SEQ, the line range, the times and the byte range, a block can be
 * neither moved, renumbered nor replayed from another session.
 */
struct bundle_block {
	uint64_t seq;
	unsigned segment;
	uint64_t first, last;
	char t_first[32], t_last[32];
	uint64_t offset, length;
	uint8_t digest[32];
	uint8_t h[32];
};

#define BUNDLE_CHAIN_LINE_MAX 512

/* Compute b->h from prev and the other fields, then write the full line
 * (with '\n') into buf. Returns its length, 0 if it does not fit. */
size_t bundle_chain_link(const uint8_t prev[32], struct bundle_block *b,
			 char *buf, size_t size);
/* Parse a line (without '\n'). 0, or -1 with errmsg naming the field. */
int bundle_chain_parse(const char *line, size_t len, struct bundle_block *b,
		       char *errmsg, size_t errlen);
/* "frames.log" or "frames.log.0001"... */
void bundle_segment_name(unsigned segment, char *buf, size_t size);

/*
 * Header text, hashed into H_0: BUNDLE_FORMAT "\n", then for each member of
 * the manifest's "header" object in order: KEY "=" VALUE "\n", VALUE being
 * the string unescaped, the number token as written, or true/false/null.
 * -1 (errmsg) when a member is an array or object, or a string holds a
 * control character.
 */
int bundle_header_h0(const struct bundle_json *header, uint8_t h0[32],
		     char *errmsg, size_t errlen);

/* ----------------------------------------------------------- frames.log */

struct frame;

/* One frame line of a bundle as bundle_frames_foreach() hands it over. */
struct bundle_frame {
	const struct frame *f;
	const char *ifname;
	const char *time;   /* the timestamp as written, without parentheses */
	size_t time_len;
	const char *path;   /* the segment file, and the line's number in it */
	unsigned long line;
};

struct bundle_frames_cb {
	/* Each frame, in line order; a nonzero return stops the walk. */
	int (*frame)(void *ctx, const struct bundle_frame *bf);
	/* A line that does not parse: "PATH:LINE: message". The walk goes on. */
	void (*bad_line)(void *ctx, const char *msg);
	void *ctx;
};

/*
 * Walk the frame lines of dir's frames.log and its segments in order
 * (non-frame lines are skipped, as candump does). Returns 0 when all were
 * read, what cb->frame returned when it stopped the walk, or -1 with errmsg
 * when frames.log cannot be opened.
 */
int bundle_frames_foreach(const char *dir, const struct bundle_frames_cb *cb,
			  char *errmsg, size_t errlen);

/*
 * The close record: the last line of a closed bundle's frames.chain,
 *   close SEQ DIGEST H
 * SEQ = blocks + 1; DIGEST = SHA-256 of the close text; with P the line up
 * to DIGEST, H = SHA-256(H_prev || DIGEST || P) as for a block. The close
 * text binds what the manifest says that no file does: "close\n", then
 * end_ns, the members of chain (but head), counts and recording, and every
 * member of each config_files entry, each as a line PREFIX.KEY=VALUE
 * (bundle_header_h0's rendering; config_files.N.path=...).
 * bundle_close_digest computes DIGEST from a manifest object (0, or -1 with
 * errmsg); bundle_close_link computes H and writes the line (with '\n')
 * into buf, returning its length (0 if it does not fit).
 */
int bundle_close_digest(const struct bundle_json *m, uint8_t digest[32],
			char *errmsg, size_t errlen);
size_t bundle_close_link(const uint8_t prev[32], uint64_t seq,
			 const uint8_t digest[32], uint8_t h[32], char *buf,
			 size_t size);

/* ------------------------------------------------------- manifest writer */

struct bundle_manifest {
	const struct bundle_json *header;       /* the immutable header object */
	const struct bundle_json *config_files; /* array, or NULL */
	const char *status;                     /* open, closed, interrupted */
	bool has_end;
	uint64_t end_ns;
	uint64_t blocks, lines;
	const uint8_t *head;                    /* final chain value (H_0 when no block) */
	const char *counts_json;                /* object members, no braces */
	bool recording_stopped;
	const char *recording_error;            /* NULL when none */
	const char *interrupted_json;           /* object members, or NULL */
	bool hash_files;                        /* add "files" */
	/* "files" of a manifest this process wrote moments ago: an entry whose
	 * size is unchanged is taken from it instead of hashed again (the
	 * recorder rewrites the manifest after adding report.html) */
	const struct bundle_json *files_cache;
};

/* Build manifest.json into *out (the caller frees it). With hash_files,
 * every regular file under dir except manifest.json, manifest.sig, .reserve
 * and *.tmp is hashed into "files". 0 or -1 with errmsg. */
int bundle_manifest_build(const char *dir, const struct bundle_manifest *m,
			  struct bundle_buf *out, char *errmsg, size_t errlen);
/* Build it and write it atomically into dir; with a secret key sk (64
 * bytes, or NULL) manifest.sig is written first, over the same bytes. */
int bundle_manifest_write(const char *dir, const struct bundle_manifest *m,
			  const uint8_t *sk, char *errmsg, size_t errlen);

/* ------------------------------------------------------------------ keys */

/* Keys are hex text files: PREFIX.key holds the 64-byte Ed25519 secret key
 * (seed and public key, libsodium layout), PREFIX.pub the 32-byte public
 * key; manifest.sig holds the 64-byte detached signature over the exact bytes
 * of manifest.json. Each is one line of lower-case hex. */
int bundle_key_read(const char *path, uint8_t *key, size_t n, char *errmsg,
		    size_t errlen);
/* manifest.sig for the manifest bytes m[0..len), written atomically. */
int bundle_sign_write(const char *dir, const uint8_t sk[64], const char *m,
		      size_t len, char *errmsg, size_t errlen);

/* ---------------------------------------------------------------- verify */

enum bundle_note {
	BUNDLE_FAIL, /* evidence does not check out */
	BUNDLE_WARN, /* worth a look, not a failure */
	BUNDLE_INFO,
};

struct bundle_verify_opts {
	const char *pubkey_path; /* check manifest.sig with it; NULL: don't */
	bool require_signature;  /* FAIL unless manifest.sig verifies with
				    pubkey_path */
	bool ignore_report;      /* skip report.html (the report checks itself) */
	/* Called for each finding: "frames.log: block 3 (lines ...) hash mismatch". */
	void (*note)(void *ctx, enum bundle_note kind, const char *msg);
	void *ctx;
};

struct bundle_verify_result {
	char status[16];       /* manifest status: open, closed, interrupted */
	unsigned fails, warns;
	uint64_t blocks, lines; /* verified */
	uint64_t tail_bytes, tail_lines; /* after the last block (open/interrupted) */
	uint64_t files;        /* file hashes checked */
	bool sig_present, sig_checked, sig_ok;
	bool incomplete;       /* recording stopped early or lines unwritten (WARNed) */
	char head[BUNDLE_SHA256_HEX];
	char summary[512];     /* the OK line's text after "OK " */
	char first_fail[512];
};

/*
 * Check everything in the bundle: manifest, header (H_0), every block's
 * digest, the chain, line numbering and contiguity, timestamps, the bytes
 * after the last block, file hashes, counts, and the signature when a public
 * key is given. Returns 0 (verified; r->incomplete when the recording
 * stopped early), 1 (a check failed: r->first_fail) or 2 (not a bundle /
 * unreadable: r->first_fail).
 */
int bundle_verify(const char *dir, const struct bundle_verify_opts *o,
		  struct bundle_verify_result *r);

/* Is file (a config) a copy inside a bundle's config/? Then root gets the
 * bundle directory and real the file's path, both canonical (realpath),
 * and it returns true. */
bool bundle_root_of(const char *file, char *root, size_t rootlen,
		    char *real, size_t reallen);

/* A relative path without "..", "." or empty components. */
bool bundle_safe_relpath(const char *p);

/* ISO 8601 UTC with microseconds: 2026-11-29T04:35:00.123456Z. */
void bundle_format_iso(uint64_t t_ns, char *buf, size_t size);

#endif
