/*
 * evidence.c: the session recorder. Writes the bundle described in DESIGN.md
 * and docs/evidence.md: frames.log segments and one chain line per closed
 * block (written after the block's bytes are on disk) through the session's
 * writer thread, so that the caller's loop does no file I/O per frame;
 * events, violations, the manifest (open -> closed, atomic rewrites) and an
 * optional Ed25519 signature. Pure with respect to time: every timestamp
 * comes from the caller. Allocates only in evidence_open/close.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/report.h"

/* frames.log bytes on their way to the writer thread: the loop waits only
 * when the disk is this far behind (about 0.9 s at 100 k frames/s). */
#define EV_RING_SIZE (4u << 20)
/* Bytes of a long block handed over before the block ends, so that the
 * writer streams them. */
#define EV_PUBLISH_BYTES (256u << 10)
/* Hand-overs in flight (closed blocks and partial ones). */
#define EV_OPS 512

/* Events and violations that could not be written (a full disk) wait in
 * memory up to this many bytes per file, for the room that close frees. */
#define EV_PENDING_MAX (1u << 20)
#define EV_MAX_RECOVERED 16

struct ev_pending {
	struct bundle_buf b; /* whole lines, in order */
	uint64_t lost;       /* lines beyond EV_PENDING_MAX or not written at close */
};

struct recovered {
	char name[256];
	char msg[256];
	int rc;
};

/* One hand-over from the loop to the writer: the ring bytes up to end, all
 * of one block, for segment seg; with a chain line when the block ends
 * here; or stop, when the loop stopped recording (an events write error). */
struct ev_op {
	uint64_t end;  /* ring position after this op's bytes */
	uint64_t t0;   /* the block's first frame time */
	uint64_t last; /* with a chain line: the block's last line */
	unsigned seg;
	bool stop;
	size_t chain_len;
	uint8_t h[32]; /* the chain head after this chain line */
	char chain[BUNDLE_CHAIN_LINE_MAX];
};

/*
 * The writer thread of a session: it writes frames.log segments and
 * frames.chain from what the loop hands over, so that no write(2) or
 * fdatasync of frames runs on the loop. The loop formats, numbers and
 * hashes the lines and computes the chain (so the chain's order is decided
 * there); the writer keeps the rule that a block's bytes are on disk before
 * the chain line that covers them, and knows what reached the disk: the
 * segment hashes and, after a write error, where the recording stops.
 */
struct ev_writer {
	pthread_mutex_t mu;
	pthread_cond_t work, room;
	pthread_t thread;
	bool running;       /* a thread; else the loop runs the writer inline */
	bool quit;          /* under mu: drain, then end */
	struct ev_op ops[EV_OPS];
	uint64_t op_head, op_tail; /* under mu: taken by the writer, handed over */
	uint64_t rpos;             /* __atomic: ring bytes the writer is done with */
	int failed;                /* __atomic: set once; the fail_ fields are final */

	/* the writer's own, the loop's once failed is set or it has ended */
	int seg_fd;
	unsigned seg;
	uint64_t wpos;            /* ring position written up to */
	uint64_t seg_written;     /* bytes written to this segment */
	uint64_t seg_block_start; /* end of its last block on disk */
	/* The segment's whole-file hash as it is written, so that close need
	 * not read frames.log back: up to seg_written, and up to
	 * seg_block_start (what a cut-back after a write error leaves). */
	crypto_hash_sha256_state seg_hash, seg_hash_block;
	struct bundle_buf seg_files; /* "frames.log":{"sha256":..,"bytes":..},... */
	int chain_fd;
	uint64_t chain_size;
	/* blocks written but whose chain lines are not yet: ops[pend_first..
	 * pend_last] (unsigned indexes); pend_hash/pend_end at the last one */
	bool pend;
	uint64_t pend_first, pend_last, pend_end;
	crypto_hash_sha256_state pend_hash;
	uint64_t lines;  /* __atomic: lines covered by chain lines on disk */
	uint64_t blocks; /* chain lines on disk */
	uint8_t head[32];
	char fail_error[256]; /* "" when the loop asked to stop */
	uint64_t fail_t0;     /* the first frame time not recorded */
};

struct evidence {
	char dir[512];
	bool nanoseconds;
	uint32_t block_frames;
	uint64_t block_ns;      /* 0: no time limit */
	uint64_t segment_bytes; /* 0: one segment */

	int events_fd, viol_fd;
	/* frames.log as the loop numbers it: the segment being filled and
	 * byte offsets in it (the writer's will match once it has caught up) */
	unsigned seg;
	uint64_t seg_written, seg_block_start;
	char *ring;
	uint64_t wpos, pub_pos, rpos_seen; /* ring: filled, handed over, freed */
	uint64_t stalls;                   /* times the loop waited for the writer */
	uint64_t stalls_noted, stall_event_t;
	struct ev_writer w;

	/* the open block */
	crypto_hash_sha256_state bst;
	uint64_t blk_n, blk_first, blk_t0;
	char blk_tfirst[32], blk_tlast[32];

	uint64_t lines, blocks;
	uint8_t head[32];
	uint64_t rx, tx, events, violations, not_recorded;
	bool recording, stop_seen;
	char error[256];
	struct ev_pending pend_events, pend_viol;

	/* Crashed bundles are recovered in a thread (verifying one reads all
	 * of it); its results become events when it is done. */
	pthread_t rec_thread;
	bool rec_running;
	int rec_done; /* __atomic */
	char rec_dir[4096];
	uint64_t rec_now;
	struct recovered rec[EV_MAX_RECOVERED];
	size_t n_rec;

	uint64_t start_ns;
	struct bundle_json *header, *config_files;
	bool have_key;
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

int (*evidence_io_hook)(const char *file, char op);

/* ------------------------------------------------------------- helpers */

/* Append one whole line to an O_APPEND file: on a write error (a full disk
 * can take part of the line) the file is cut back to where it was, so that
 * the next line is not glued to a torn one. */
static int append_line(int fd, const void *p, size_t n)
{
	off_t start = lseek(fd, 0, SEEK_END);
	int saved;

	if (bundle_write_all(fd, p, n) == 0)
		return 0;
	saved = errno;
	if (start >= 0)
		(void)!ftruncate(fd, start);
	errno = saved;
	return -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Make the names in dir durable (a new file or subdirectory is only found
 * after a power loss once its directory has been fsynced). */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc < 0 && (errno == EINVAL || errno == ENOTSUP))
		rc = 0; /* a filesystem that cannot sync a directory */
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* dir/name into out; -1 when it does not fit. */
static int path_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static void ev_unreserve(const char *dir);

static void sanitize_name(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = in ? in : ""; *p && o + 1 < size; p++) {
		unsigned char c = (unsigned char)*p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			  c == '-';
		out[o++] = ok ? (char)c : '_';
	}
	if (o == 0 && size > 8)
		o = (size_t)snprintf(out, size, "unnamed");
	out[o] = 0;
}

/* Header strings are one line each (see bundle_header_h0). */
static void header_str(struct bundle_buf *b, const char *key, const char *v)
{
	char clean[1024];
	size_t o = 0;

	for (const char *p = v ? v : ""; *p && o + 1 < sizeof(clean); p++)
		clean[o++] = (unsigned char)*p < 0x20 ? '?' : *p;
	clean[o] = 0;
	bundle_buf_printf(b, "%s", b->len > 1 ? "," : "");
	bundle_buf_json_str(b, key);
	bundle_buf_puts(b, ":");
	bundle_buf_json_str(b, clean);
}

static void format_time(uint64_t t_ns, bool ns, char *buf, size_t size)
{
	if (ns)
		snprintf(buf, size, "%" PRIu64 ".%09" PRIu64,
			 t_ns / 1000000000u, t_ns % 1000000000u);
	else
		snprintf(buf, size, "%" PRIu64 ".%06" PRIu64,
			 t_ns / 1000000000u, t_ns % 1000000000u / 1000u);
}

/* ------------------------------------------------------ write failures */

static void ev_write_event(struct evidence *ev, uint64_t t_ns,
			   const char *type, const char *fields);
static void ev_publish(struct evidence *ev, const char *chain, size_t n,
		       const struct bundle_block *b, bool stop);

/*
 * Recording stops at the first write error: in the writer (frames.log,
 * frames.chain) or here on the loop (an events or violations line), which
 * stops numbering frames and asks the writer to stop too. Either way the
 * writer cuts frames.log back to the last block whose chain line is on
 * disk, so that the bundle still ends on a closed, verifiable block, and
 * ev_writer_poll then makes the loop's counts say exactly that: the lines
 * after it were numbered but not recorded. The caller keeps forwarding.
 */
static void ev_stop(struct evidence *ev, const char *what, int err)
{
	if (!ev->recording)
		return;
	ev->recording = false;
	snprintf(ev->error, sizeof(ev->error), "%s: %s", what, strerror(err));
	ev->wpos = ev->pub_pos; /* the open block's bytes not handed over */
	ev_publish(ev, NULL, 0, NULL, true);
}

/* Once the writer has stopped, the loop takes its numbers. */
static void ev_writer_poll(struct evidence *ev)
{
	struct ev_writer *w = &ev->w;
	char fields[2048], esc[6 * sizeof(ev->error) + 3];

	if (ev->stop_seen || !__atomic_load_n(&w->failed, __ATOMIC_ACQUIRE))
		return;
	ev->stop_seen = true;
	ev->recording = false;
	if (!ev->error[0])
		snprintf(ev->error, sizeof(ev->error), "%s", w->fail_error);
	ev->wpos = ev->pub_pos;
	ev->blk_n = 0;
	ev->not_recorded += ev->lines - w->lines;
	ev->lines = w->lines;
	ev->blocks = w->blocks;
	memcpy(ev->head, w->head, 32);
	json_escape(ev->error, strlen(ev->error), esc, sizeof(esc));
	snprintf(fields, sizeof(fields),
		 "\"error\":%s,\"last_line\":%" PRIu64 ",\"last_block\":%" PRIu64,
		 esc, ev->lines, ev->blocks);
	ev_write_event(ev, w->fail_t0, "recording_stopped", fields);
}

/* ------------------------------------------------------------- events */

/* Once recording has stopped, lines wait in memory (in order, bounded)
 * until close has made room; what does not fit is counted. */
static void ev_pend(struct ev_pending *q, const char *line, size_t n)
{
	if (q->b.failed || q->b.len + n > EV_PENDING_MAX) {
		q->lost++;
		return;
	}
	bundle_buf_add(&q->b, line, n);
	if (q->b.failed)
		q->lost++;
}

static void ev_write_line(struct evidence *ev, int fd, struct ev_pending *q,
			  const char *what, const char *line, size_t n)
{
	if (fd < 0)
		return;
	ev_writer_poll(ev); /* recording_stopped before what follows it */
	if (ev->recording && !q->b.len) {
		if (append_line(fd, line, n) == 0)
			return;
		int err = errno;
		ev_pend(q, line, n);
		ev_stop(ev, what, err);
		return;
	}
	ev_pend(q, line, n);
}

/* At close, after the reserve is released: the waiting lines, one by one
 * so that a line that does not fit is not torn; the rest is counted. */
static void ev_drain(int fd, struct ev_pending *q)
{
	const char *p = q->b.p, *end = q->b.p + q->b.len;
	bool ok = fd >= 0 && !q->b.failed;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (!ok || append_line(fd, p, n) < 0) {
			ok = false;
			q->lost++;
		}
		p += n;
	}
	bundle_buf_free(&q->b);
	memset(&q->b, 0, sizeof(q->b));
	if (fd >= 0)
		(void)fsync(fd);
}

static void ev_write_event(struct evidence *ev, uint64_t t_ns,
			   const char *type, const char *fields)
{
	char t[40], typ[128];
	struct bundle_buf b = {0};
	char stackline[1024];

	format_time(t_ns, ev->nanoseconds, t, sizeof(t));
	json_escape(type, strlen(type), typ, sizeof(typ));
	int n = snprintf(stackline, sizeof(stackline), "{\"t\":%s,\"type\":%s%s%s}\n",
			 t, typ, fields && *fields ? "," : "",
			 fields ? fields : "");
	if (n < 0)
		return;
	ev->events++;
	if ((size_t)n < sizeof(stackline)) {
		ev_write_line(ev, ev->events_fd, &ev->pend_events,
			      "events.jsonl", stackline, (size_t)n);
		return;
	}
	/* long fields (e.g. a marker's text): rare, allowed to allocate */
	bundle_buf_printf(&b, "{\"t\":%s,\"type\":%s,%s}\n", t, typ, fields);
	if (!b.failed)
		ev_write_line(ev, ev->events_fd, &ev->pend_events,
			      "events.jsonl", b.p, b.len);
	bundle_buf_free(&b);
}

void evidence_event(struct evidence *ev, uint64_t t_ns, const char *type,
		    const char *fields_json)
{
	if (!ev)
		return;
	ev_write_event(ev, t_ns, type, fields_json);
}

void evidence_violation(struct evidence *ev, const char *json)
{
	size_t n;

	if (!ev || !json)
		return;
	n = strlen(json);
	while (n && json[n - 1] == '\n')
		n--;
	ev->violations++;
	if (ev->viol_fd < 0)
		return;
	struct bundle_buf b = {0};

	bundle_buf_add(&b, json, n);
	bundle_buf_add(&b, "\n", 1);
	if (b.failed)
		ev->pend_viol.lost++;
	else
		ev_write_line(ev, ev->viol_fd, &ev->pend_viol,
			      "violations.jsonl", b.p, b.len);
	bundle_buf_free(&b);
}

/* ------------------------------------------------------------- writer */

/* evidence_io_hook's verdict on one write ('w') or fdatasync ('s'). */
static int ev_w_io(const char *file, char op)
{
	int err = evidence_io_hook ? evidence_io_hook(file, op) : 0;

	if (err)
		errno = err;
	return err ? -1 : 0;
}

static bool ev_w_failed(const struct ev_writer *w)
{
	return __atomic_load_n(&w->failed, __ATOMIC_RELAXED) != 0;
}

/* The writer stops (what NULL: the loop asked it to): the segment is cut
 * back to its last block on disk and frames.chain to its last whole line;
 * t0 is the time of the first frame that stays unrecorded when no written
 * block waits for its chain line. */
static void ev_w_fail(struct evidence *ev, const char *what, int err,
		      uint64_t t0)
{
	struct ev_writer *w = &ev->w;

	if (ev_w_failed(w))
		return;
	if (what)
		snprintf(w->fail_error, sizeof(w->fail_error), "%s: %s", what,
			 strerror(err));
	if (w->seg_fd >= 0 &&
	    ftruncate(w->seg_fd, (off_t)w->seg_block_start) == 0)
		w->seg_written = w->seg_block_start;
	w->seg_hash = w->seg_hash_block;
	if (w->chain_fd >= 0)
		(void)!ftruncate(w->chain_fd, (off_t)w->chain_size);
	w->fail_t0 = w->pend ? w->ops[w->pend_first % EV_OPS].t0 : t0;
	w->pend = false;
	__atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
}

/* The blocks written since the last commit become durable: their bytes
 * are synced before their chain lines are written, so a chain line never
 * names data that a power loss could take away; one fdatasync pair covers
 * every block that the loop handed over meanwhile. */
static int ev_w_commit(struct evidence *ev)
{
	struct ev_writer *w = &ev->w;
	uint64_t size = w->chain_size, blocks = w->blocks;
	char name[64];

	if (!w->pend)
		return 0;
	bundle_segment_name(w->seg, name, sizeof(name));
	if (ev_w_io(name, 's') < 0 || fdatasync(w->seg_fd) < 0) {
		ev_w_fail(ev, name, errno, 0);
		return -1;
	}
	for (uint64_t i = w->pend_first; i <= w->pend_last; i++) {
		const struct ev_op *op = &w->ops[i % EV_OPS];

		if (!op->chain_len)
			continue;
		if (ev_w_io("frames.chain", 'w') < 0 ||
		    bundle_write_all(w->chain_fd, op->chain, op->chain_len) < 0)
			goto fail;
		size += op->chain_len;
		blocks++;
	}
	if (ev_w_io("frames.chain", 's') < 0 || fdatasync(w->chain_fd) < 0)
		goto fail;
	const struct ev_op *last = &w->ops[w->pend_last % EV_OPS];
	w->chain_size = size;
	w->blocks = blocks;
	memcpy(w->head, last->h, 32);
	__atomic_store_n(&w->lines, last->last, __ATOMIC_RELEASE);
	w->seg_block_start = w->pend_end;
	w->seg_hash_block = w->pend_hash;
	w->pend = false;
	return 0;
fail:
	ev_w_fail(ev, "frames.chain", errno, 0);
	return -1;
}

/* The segment's name, hash and size for the manifest, from what was
 * hashed as it was written (up to its last block on disk). */
static void ev_seg_seal(struct evidence *ev)
{
	struct ev_writer *w = &ev->w;
	crypto_hash_sha256_state st = w->seg_hash_block;
	char name[64], hex[BUNDLE_SHA256_HEX];
	uint8_t d[32];

	crypto_hash_sha256_final(&st, d);
	bundle_hex(d, 32, hex);
	bundle_segment_name(w->seg, name, sizeof(name));
	bundle_buf_printf(&w->seg_files,
			  "%s\"%s\":{\"sha256\":\"%s\",\"bytes\":%" PRIu64 "}",
			  w->seg_files.len ? "," : "", name, hex,
			  w->seg_block_start);
}

/* The next segment, its name durable before a chain line names it. */
static int ev_w_open_segment(struct evidence *ev, unsigned seg, uint64_t t0)
{
	struct ev_writer *w = &ev->w;
	char name[64], path[600];

	bundle_segment_name(seg, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", ev->dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		ev_w_fail(ev, name, errno, t0);
		return -1;
	}
	if (sync_dir(ev->dir) < 0) {
		int err = errno;

		close(fd);
		ev_w_fail(ev, name, err, t0);
		return -1;
	}
	ev_seg_seal(ev);
	close(w->seg_fd);
	w->seg_fd = fd;
	w->seg = seg;
	w->seg_written = 0;
	w->seg_block_start = 0;
	crypto_hash_sha256_init(&w->seg_hash);
	w->seg_hash_block = w->seg_hash;
	return 0;
}

/* The op's bytes (from the ring, which may wrap) to the segment. */
static int ev_w_write(struct evidence *ev, const struct ev_op *op)
{
	struct ev_writer *w = &ev->w;
	char name[64];

	bundle_segment_name(w->seg, name, sizeof(name));
	while (w->wpos < op->end) {
		size_t at = (size_t)(w->wpos % EV_RING_SIZE);
		size_t n = EV_RING_SIZE - at;

		if (n > op->end - w->wpos)
			n = (size_t)(op->end - w->wpos);
		crypto_hash_sha256_update(&w->seg_hash,
					  (const unsigned char *)ev->ring + at, n);
		if (ev_w_io(name, 'w') < 0 ||
		    bundle_write_all(w->seg_fd, ev->ring + at, n) < 0) {
			int err = errno;

			/* the blocks written whole before still count */
			if (w->pend &&
			    ftruncate(w->seg_fd, (off_t)w->pend_end) == 0) {
				w->seg_written = w->pend_end;
				ev_w_commit(ev);
			}
			ev_w_fail(ev, name, err, op->t0);
			return -1;
		}
		w->seg_written += n;
		w->wpos += n;
	}
	return 0;
}

/* Writes ops[head..tail): bytes as they come, then one commit for the
 * blocks they closed (and one before each new segment or a stop). After
 * a failure it only consumes them, so that the loop never waits on a
 * writer that has stopped. */
static void ev_writer_batch(struct evidence *ev, uint64_t head, uint64_t tail)
{
	struct ev_writer *w = &ev->w;

	for (uint64_t i = head; i < tail; i++) {
		const struct ev_op *op = &w->ops[i % EV_OPS];

		if (ev_w_failed(w)) {
		} else if (op->stop) {
			if (ev_w_commit(ev) == 0)
				ev_w_fail(ev, NULL, 0, op->t0);
		} else if (op->seg != w->seg &&
			   (ev_w_commit(ev) < 0 ||
			    ev_w_open_segment(ev, op->seg, op->t0) < 0)) {
		} else if (ev_w_write(ev, op) == 0 && op->chain_len) {
			if (!w->pend)
				w->pend_first = i;
			w->pend = true;
			w->pend_last = i;
			w->pend_end = w->seg_written;
			w->pend_hash = w->seg_hash;
		}
		w->wpos = op->end;
	}
	if (!ev_w_failed(w))
		ev_w_commit(ev);
}

/* One batch of what was handed over; called and returns with mu held. */
static void ev_writer_step(struct evidence *ev)
{
	struct ev_writer *w = &ev->w;
	uint64_t head = w->op_head, tail = w->op_tail;

	if (head == tail)
		return;
	pthread_mutex_unlock(&w->mu);
	ev_writer_batch(ev, head, tail);
	pthread_mutex_lock(&w->mu);
	w->op_head = tail;
	__atomic_store_n(&w->rpos, w->wpos, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->room);
}

/*
 * What evidence_open wrote, made durable before any frame: the config
 * copies, the first manifest, the names in the bundle and the bundle's
 * name in the sessions directory. Here and not on the caller's loop,
 * where each fsync is a stall under a busy disk. A failure stops the
 * recording at line 0.
 */
static void ev_w_begin(struct evidence *ev)
{
	const struct bundle_json *files = ev->config_files;
	size_t n = files ? files->n : 0;
	char path[4096];
	int fd;

	for (size_t i = 0; i <= n; i++) {
		const char *rel = i < n ? bundle_json_str(&files->items[i], "path") :
					  "manifest.json";
		if (!rel || path_join(path, sizeof(path), ev->dir, rel) < 0)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0) {
			int err = errno;

			if (fd >= 0)
				close(fd);
			ev_w_fail(ev, rel, err, ev->start_ns);
			return;
		}
		close(fd);
	}
	if (sync_dir(ev->dir) < 0)
		ev_w_fail(ev, ev->dir, errno, ev->start_ns);
	else if (sync_dir(ev->rec_dir) < 0)
		ev_w_fail(ev, ev->rec_dir, errno, ev->start_ns);
}

static void *ev_writer_thread(void *arg)
{
	struct evidence *ev = arg;
	struct ev_writer *w = &ev->w;

	ev_w_begin(ev);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->op_head == w->op_tail && !w->quit)
			pthread_cond_wait(&w->work, &w->mu);
		if (w->op_head == w->op_tail)
			break;
		ev_writer_step(ev);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Waits until the writer thread has written all it was handed and ended;
 * from here on the writer runs inline. */
static void ev_writer_join(struct evidence *ev)
{
	struct ev_writer *w = &ev->w;

	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->running = false;
}

/* ------------------------------------------------------------- blocks */

/* Hands the ring bytes not handed over yet to the writer, with the chain
 * line of the block they end (n > 0) or the loop's stop. Waits while
 * EV_OPS hand-overs are in flight. Without a writer thread (none could
 * be started, or close has ended it) the writer runs here. */
static void ev_publish(struct evidence *ev, const char *chain, size_t n,
		       const struct bundle_block *b, bool stop)
{
	struct ev_writer *w = &ev->w;
	struct ev_op *op;

	if (ev->wpos == ev->pub_pos && !n && !stop)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->op_tail - w->op_head == EV_OPS) {
		ev->stalls++;
		while (w->op_tail - w->op_head == EV_OPS)
			pthread_cond_wait(&w->room, &w->mu);
	}
	op = &w->ops[w->op_tail % EV_OPS];
	op->end = ev->wpos;
	op->t0 = ev->blk_t0;
	op->seg = ev->seg;
	op->stop = stop;
	op->chain_len = n;
	if (n) {
		memcpy(op->chain, chain, n);
		memcpy(op->h, b->h, 32);
		op->last = b->last;
	}
	w->op_tail++;
	ev->pub_pos = ev->wpos;
	if (w->running)
		pthread_cond_signal(&w->work);
	else
		ev_writer_step(ev);
	pthread_mutex_unlock(&w->mu);
	if (!w->running)
		ev_writer_poll(ev);
}

/* Room for n more bytes in the ring. When the writer is that far behind
 * (a slow disk), the loop hands over what it has and waits for it rather
 * than drop frames; each wait counts as a stall. */
static void ev_ring_room(struct evidence *ev, size_t n)
{
	struct ev_writer *w = &ev->w;

	if (ev->wpos + n - ev->rpos_seen <= EV_RING_SIZE)
		return;
	ev->rpos_seen = __atomic_load_n(&w->rpos, __ATOMIC_ACQUIRE);
	if (ev->wpos + n - ev->rpos_seen <= EV_RING_SIZE)
		return;
	ev_publish(ev, NULL, 0, NULL, false);
	pthread_mutex_lock(&w->mu);
	if (ev->wpos + n - __atomic_load_n(&w->rpos, __ATOMIC_ACQUIRE) >
	    EV_RING_SIZE) {
		ev->stalls++;
		while (ev->wpos + n - __atomic_load_n(&w->rpos, __ATOMIC_ACQUIRE) >
		       EV_RING_SIZE)
			pthread_cond_wait(&w->room, &w->mu);
	}
	ev->rpos_seen = __atomic_load_n(&w->rpos, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&w->mu);
}

static void ev_ring_put(struct evidence *ev, const char *p, size_t n)
{
	size_t at = (size_t)(ev->wpos % EV_RING_SIZE);
	size_t first = n < EV_RING_SIZE - at ? n : EV_RING_SIZE - at;

	memcpy(ev->ring + at, p, first);
	memcpy(ev->ring, p + first, n - first);
	ev->wpos += n;
}

/* The open block ends: its chain line (computed here, so the chain's
 * order is the loop's) goes to the writer with its bytes. */
static void ev_block_close(struct evidence *ev)
{
	struct bundle_block b = {0};
	char line[BUNDLE_CHAIN_LINE_MAX];
	size_t n;

	if (!ev->recording || !ev->blk_n)
		return;
	b.seq = ev->blocks + 1;
	b.segment = ev->seg;
	b.first = ev->blk_first;
	b.last = ev->lines;
	memcpy(b.t_first, ev->blk_tfirst, sizeof(b.t_first));
	memcpy(b.t_last, ev->blk_tlast, sizeof(b.t_last));
	b.offset = ev->seg_block_start;
	b.length = ev->seg_written - ev->seg_block_start;
	crypto_hash_sha256_final(&ev->bst, b.digest);
	crypto_hash_sha256_init(&ev->bst);
	n = bundle_chain_link(ev->head, &b, line, sizeof(line));
	if (!n) {
		ev_stop(ev, "frames.chain", EOVERFLOW);
		return;
	}
	memcpy(ev->head, b.h, 32);
	ev->blocks++;
	ev->seg_block_start = ev->seg_written;
	ev->blk_n = 0;
	ev_publish(ev, line, n, &b, false);
}

/* A loop wait for the writer becomes a writer_stall event, at most one a
 * second of frame time (the gateway's own stall events say how long). */
static void ev_note_stalls(struct evidence *ev, uint64_t t_ns, bool force)
{
	char fields[64];

	if (ev->stalls == ev->stalls_noted ||
	    (!force && ev->stall_event_t && t_ns >= ev->stall_event_t &&
	     t_ns - ev->stall_event_t < 1000000000u))
		return;
	snprintf(fields, sizeof(fields), "\"waits\":%" PRIu64,
		 ev->stalls - ev->stalls_noted);
	ev->stalls_noted = ev->stalls;
	ev->stall_event_t = t_ns ? t_ns : 1;
	ev_write_event(ev, t_ns, "writer_stall", fields);
}

uint64_t evidence_frame(struct evidence *ev, const struct frame *f,
			const char *ifname)
{
	char line[FRAME_LINE_MAX];
	size_t n;

	if (!ev)
		return 0;
	ev_writer_poll(ev);
	if (!ev->recording) {
		ev->not_recorded++;
		return 0;
	}
	if (f->dir != FRAME_DIR_RX && f->dir != FRAME_DIR_TX) {
		/* every frames.log line says which way the frame went */
		struct frame rx = *f;
		rx.dir = FRAME_DIR_RX;
		n = frame_format(&rx, ifname, ev->nanoseconds, line, sizeof(line));
	} else {
		n = frame_format(f, ifname, ev->nanoseconds, line, sizeof(line));
	}
	if (n < 4 || n >= sizeof(line) || line[0] != '(') {
		ev->not_recorded++;
		return 0;
	}
	if (ev->blk_n && ev->block_ns && f->t_ns >= ev->blk_t0 &&
	    f->t_ns - ev->blk_t0 >= ev->block_ns)
		ev_block_close(ev);
	if (ev->segment_bytes && ev->seg_written + n > ev->segment_bytes &&
	    ev->seg_written > 0) {
		ev_block_close(ev);
		ev->seg++;
		ev->seg_written = ev->seg_block_start = 0;
	}
	uint64_t stalls = ev->stalls;
	ev_ring_room(ev, n);
	if (!ev->recording) {
		ev->not_recorded++;
		return 0;
	}
	char *close = memchr(line, ')', n);
	size_t tl = close ? (size_t)(close - line - 1) : 0;
	if (tl >= sizeof(ev->blk_tlast))
		tl = sizeof(ev->blk_tlast) - 1;
	memcpy(ev->blk_tlast, line + 1, tl);
	ev->blk_tlast[tl] = 0;
	if (ev->blk_n == 0) {
		ev->blk_first = ev->lines + 1;
		ev->blk_t0 = f->t_ns;
		memcpy(ev->blk_tfirst, ev->blk_tlast, sizeof(ev->blk_tfirst));
	}
	ev_ring_put(ev, line, n);
	ev->seg_written += n;
	crypto_hash_sha256_update(&ev->bst, (const unsigned char *)line, n);
	ev->blk_n++;
	uint64_t ln = ++ev->lines;
	if (f->dir == FRAME_DIR_TX)
		ev->tx++;
	else
		ev->rx++;
	if (ev->blk_n >= ev->block_frames)
		ev_block_close(ev);
	else if (ev->wpos - ev->pub_pos >= EV_PUBLISH_BYTES)
		ev_publish(ev, NULL, 0, NULL, false);
	if (ev->stalls != stalls)
		ev_note_stalls(ev, f->t_ns, false);
	return ev->recording ? ln : 0;
}

static void ev_recovery_reap(struct evidence *ev, bool wait);

void evidence_tick(struct evidence *ev, uint64_t now_ns)
{
	if (!ev)
		return;
	ev_recovery_reap(ev, false);
	ev_writer_poll(ev);
	if (ev->recording && ev->blk_n && ev->block_ns &&
	    now_ns >= ev->blk_t0 && now_ns - ev->blk_t0 >= ev->block_ns)
		ev_block_close(ev);
}

void evidence_get_status(const struct evidence *ev, struct evidence_status *st)
{
	memset(st, 0, sizeof(*st));
	if (!ev)
		return;
	/* a writer failure that the loop has not taken yet already shows */
	bool failed = !ev->stop_seen &&
		      __atomic_load_n(&ev->w.failed, __ATOMIC_ACQUIRE);
	uint64_t on_disk = __atomic_load_n(&ev->w.lines, __ATOMIC_ACQUIRE);

	st->recording = ev->recording && !failed;
	snprintf(st->dir, sizeof(st->dir), "%s", ev->dir);
	st->frames = failed ? on_disk : ev->lines;
	st->frames_on_disk = on_disk;
	st->blocks = failed ? ev->w.blocks : ev->blocks;
	st->not_recorded = ev->not_recorded + (failed ? ev->lines - on_disk : 0);
	st->writer_stalls = ev->stalls;
	snprintf(st->error, sizeof(st->error), "%s",
		 ev->error[0] || !failed ? ev->error : ev->w.fail_error);
}

/* ------------------------------------------------------------ recovery */

/* Leftovers of atomic writes that a crash interrupted. */
static void remove_tmp_files(const char *bdir)
{
	DIR *d = opendir(bdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[4096];

		if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp") &&
		    path_join(path, sizeof(path), bdir, e->d_name) == 0)
			unlink(path);
	}
	closedir(d);
}

/*
 * The last steps of a close, shared with recovery: report.html (it reads
 * the closed bundle), then the manifest again so that it covers the report
 * (reusing the hashes of the manifest on disk), signed, and only then the
 * reserve goes: a bundle that is "closed" and still has .reserve was cut
 * short by a crash somewhere in here, and recovery runs this again.
 */
static int ev_seal(const char *dir, struct bundle_manifest *m,
		   const uint8_t *sk, char *errmsg, size_t errlen)
{
	char path[4096], err[512];
	struct bundle_json *prev = NULL;
	size_t mlen;
	int rc = 0;

	if (path_join(path, sizeof(path), dir, "report.html") < 0 ||
	    report_write(dir, path, err, sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "report.html: %s", err);
		rc = -1; /* the bundle still closes, without a report */
	}
	if (path_join(path, sizeof(path), dir, "manifest.json") == 0) {
		char *mt = bundle_read_file(path, 64u << 20, &mlen, err,
					    sizeof(err));
		prev = mt ? bundle_json_parse(mt, mlen, err, sizeof(err)) : NULL;
		free(mt);
	}
	m->hash_files = true;
	m->files_cache = bundle_json_get(prev, "files");
	if (bundle_manifest_write(dir, m, sk, err, sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "manifest.json: %s", err);
		bundle_json_free(prev);
		return -1;
	}
	bundle_json_free(prev);
	ev_unreserve(dir);
	if (sync_dir(dir) < 0 && rc == 0) {
		snprintf(errmsg, errlen, "%s: %s", dir, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* A close that a crash cut short after the manifest said "closed": seal it
 * again from what that manifest holds. */
static int recover_closing(const char *bdir, const struct bundle_json *j,
			   const uint8_t *sk, char *msg, size_t msglen)
{
	struct bundle_manifest m = {0};
	struct bundle_buf counts = {0};
	const struct bundle_json *ch = bundle_json_get(j, "chain");
	const struct bundle_json *cn = bundle_json_get(j, "counts");
	const struct bundle_json *rec = bundle_json_get(j, "recording");
	const struct bundle_json *stopped = bundle_json_get(rec, "stopped");
	const char *head = bundle_json_str(ch, "head");
	uint8_t h[32];
	int rc;

	if (!head || bundle_unhex(head, h, 32) < 0 ||
	    bundle_json_u64(ch, "blocks", &m.blocks) < 0 ||
	    bundle_json_u64(ch, "lines", &m.lines) < 0 ||
	    bundle_json_u64(j, "end_ns", &m.end_ns) < 0) {
		snprintf(msg, msglen, "closed manifest lacks its chain or end");
		return -1;
	}
	for (size_t i = 0; cn && cn->type == BJ_OBJECT && i < cn->n; i++) {
		bundle_buf_puts(&counts, i ? ", " : "");
		bundle_buf_json_str(&counts, cn->items[i].key);
		bundle_buf_puts(&counts, ": ");
		bundle_buf_json(&counts, &cn->items[i]);
	}
	m.header = bundle_json_get(j, "header");
	m.config_files = bundle_json_get(j, "config_files");
	m.status = "closed";
	m.has_end = true;
	m.head = h;
	m.counts_json = counts.p ? counts.p : "";
	m.recording_stopped = stopped && stopped->type == BJ_BOOL && stopped->b;
	m.recording_error = bundle_json_str(rec, "error");
	rc = counts.failed ? -1 : ev_seal(bdir, &m, sk, msg, msglen);
	bundle_buf_free(&counts);
	if (rc == 0)
		snprintf(msg, msglen, "close finished (report and manifest%s)",
			 sk ? " signed" : "");
	return rc < 0 ? -1 : 1;
}

/*
 * A bundle whose manifest still says "open" and whose frames.chain nobody
 * holds a lock on was left by a crash or power loss. Its bytes stay as they
 * are; the manifest becomes "interrupted" (signed with the session's key)
 * and records where the chain ends, so that `cangate verify` says exactly
 * what is covered. One that says "closed" but still has its .reserve
 * crashed while closing: its close is finished.
 */
static int recover_one(const char *bdir, uint64_t now_ns, const uint8_t *sk,
		       char *msg, size_t msglen)
{
	char path[4096], err[256], iso[64], fields[512], interrupted[512];
	struct bundle_json *m = NULL;
	struct bundle_verify_result r;
	struct bundle_manifest bm = {0};
	struct stat sb;
	uint8_t head[32];
	size_t len;
	int fd, rc = 0;
	char *text;

	if (path_join(path, sizeof(path), bdir, "manifest.json") < 0)
		return 0;
	text = bundle_read_file(path, 64u << 20, &len, err, sizeof(err));
	if (!text)
		return 0;
	m = bundle_json_parse(text, len, err, sizeof(err));
	free(text);
	const char *status = bundle_json_str(m, "status");
	bool closing = status && !strcmp(status, "closed") &&
		       path_join(path, sizeof(path), bdir, BUNDLE_RESERVE) == 0 &&
		       lstat(path, &sb) == 0;
	if (!status || (!closing && strcmp(status, "open")) ||
	    path_join(path, sizeof(path), bdir, "frames.chain") < 0) {
		bundle_json_free(m);
		return 0;
	}
	/* a FIFO put there must not block the daemon's start, a link not
	 * lead it elsewhere */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd); /* a live session, or one this process is closing */
		bundle_json_free(m);
		return 0;
	}
	remove_tmp_files(bdir);
	if (closing) {
		rc = recover_closing(bdir, m, sk, msg, msglen);
		goto out;
	}
	rc = -1;
	ev_unreserve(bdir);
	bundle_verify(bdir, NULL, &r);
	if (bundle_unhex(r.head, head, 32) < 0)
		memset(head, 0, sizeof(head));
	bundle_format_iso(now_ns, iso, sizeof(iso));
	snprintf(interrupted, sizeof(interrupted),
		 "\"verified_blocks\": %" PRIu64 ", \"verified_lines\": %" PRIu64
		 ", \"tail_bytes\": %" PRIu64 ", \"tail_lines\": %" PRIu64
		 ", \"detected\": \"%s\"",
		 r.blocks, r.lines, r.tail_bytes, r.tail_lines, iso);
	snprintf(fields, sizeof(fields),
		 "\"verified_blocks\":%" PRIu64 ",\"verified_lines\":%" PRIu64
		 ",\"tail_bytes\":%" PRIu64 ",\"tail_lines\":%" PRIu64,
		 r.blocks, r.lines, r.tail_bytes, r.tail_lines);
	int efd = path_join(path, sizeof(path), bdir, "events.jsonl") < 0 ? -1 :
		  open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
				     O_NONBLOCK | O_NOFOLLOW, 0640);
	struct stat esb;
	if (efd >= 0 && (fstat(efd, &esb) < 0 || !S_ISREG(esb.st_mode))) {
		close(efd); /* verify names what is there instead */
		efd = -1;
	}
	if (efd >= 0) {
		char line[700], t[40], last = '\n';
		format_time(now_ns, false, t, sizeof(t));
		/* The crash may have cut the last event short: ours starts on
		 * a line of its own, the torn bytes stay as they are. */
		if (fstat(efd, &sb) == 0 && sb.st_size > 0 &&
		    pread(efd, &last, 1, sb.st_size - 1) != 1)
			last = '\n';
		int n = snprintf(line, sizeof(line),
				 "%s{\"t\":%s,\"type\":\"interrupted\",%s}\n",
				 last == '\n' ? "" : "\n", t, fields);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)!bundle_write_all(efd, line, (size_t)n);
		fsync(efd);
		close(efd);
	}
	char counts[64];
	snprintf(counts, sizeof(counts), "\"frames\": %" PRIu64, r.lines);
	bm.header = bundle_json_get(m, "header");
	bm.config_files = bundle_json_get(m, "config_files");
	bm.status = "interrupted";
	bm.blocks = r.blocks;
	bm.lines = r.lines;
	bm.head = head;
	bm.counts_json = counts;
	bm.interrupted_json = interrupted;
	bm.hash_files = true;
	if (bundle_manifest_write(bdir, &bm, sk, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	snprintf(msg, msglen,
		 "verified to block %" PRIu64 ", line %" PRIu64 "; %" PRIu64
		 " bytes after it",
		 r.blocks, r.lines, r.tail_bytes);
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	bundle_json_free(m);
	return rc;
}

static size_t recover_all(const char *dir, uint64_t now_ns, const uint8_t *sk,
			  struct recovered *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < cap) {
		char sub[4096];
		struct stat sb;

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
				     e->d_name) >= sizeof(sub) ||
		    stat(sub, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		int rc = recover_one(sub, now_ns, sk, out[n].msg,
				     sizeof(out[n].msg));
		if (rc == 0)
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
		out[n++].rc = rc;
	}
	closedir(d);
	return n;
}

static void *ev_recover_thread(void *arg)
{
	struct evidence *ev = arg;

	ev->n_rec = recover_all(ev->rec_dir, ev->rec_now,
				ev->have_key ? ev->sk : NULL, ev->rec,
				EV_MAX_RECOVERED);
	__atomic_store_n(&ev->rec_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct ev_thread_arg {
	void *(*fn)(void *);
	void *arg;
	int nice;
};

/* Close and recovery run below the forwarding loop: on a busy machine
 * they wait, not the frames (Linux nice values are per thread). The
 * writer keeps the loop's priority: the loop waits when it falls behind. */
static void *ev_thread_main(void *p)
{
	struct ev_thread_arg a = *(struct ev_thread_arg *)p;

	free(p);
	if (a.nice)
		(void)!setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
				   a.nice);
	return a.fn(a.arg);
}

/* A worker thread with every signal blocked: signals stay with the loop. */
static int ev_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
			   int nice)
{
	struct ev_thread_arg *a = malloc(sizeof(*a));
	sigset_t all, old;
	int rc;

	if (!a)
		return -1;
	a->fn = fn;
	a->arg = arg;
	a->nice = nice;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, ev_thread_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		free(a);
	return rc;
}

static void ev_write_recovered(struct evidence *ev);

/* Joins the recovery (when wait, or when it is done) and records what it
 * did in this session's events. */
static void ev_recovery_reap(struct evidence *ev, bool wait)
{
	if (!ev->rec_running ||
	    (!wait && !__atomic_load_n(&ev->rec_done, __ATOMIC_ACQUIRE)))
		return;
	pthread_join(ev->rec_thread, NULL);
	ev->rec_running = false;
	ev_write_recovered(ev);
}

void evidence_recovery_wait(struct evidence *ev)
{
	if (ev)
		ev_recovery_reap(ev, true);
}

/* --------------------------------------------------------- config copy */

static int copy_file(const char *src, const char *dst, uint8_t digest[32],
		     char *errmsg, size_t errlen)
{
	size_t len;
	char *data = bundle_read_file(src, 256u << 20, &len, errmsg, errlen);
	int fd;

	if (!data)
		return -1;
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", dst);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = 0;
		mkdir_p(parent, 0750);
	}
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	/* synced by the writer thread (ev_w_begin), not on the caller's loop */
	if (fd < 0 || bundle_write_all(fd, data, len) < 0) {
		snprintf(errmsg, errlen, "%s: %s", dst, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(data);
		return -1;
	}
	close(fd);
	crypto_hash_sha256(digest, (unsigned char *)data, len);
	free(data);
	return 0;
}

/* Where a file named by the config goes inside the bundle: its path relative
 * to the config's directory when it lies below it (so that the copied config
 * loads with its DBCs and includes as they were), else config/BASENAME. */
static void bundle_rel(const char *cfgdir, const char *path, char *out,
		       size_t size)
{
	const char *rel = NULL;
	size_t dl = cfgdir ? strlen(cfgdir) : 0;

	if (cfgdir && !strncmp(path, cfgdir, dl) && path[dl] == '/')
		rel = path + dl + 1;
	else if (!cfgdir && path[0] != '/')
		rel = path;
	while (rel && !strncmp(rel, "./", 2))
		rel = rel + 2;
	if (!rel || !bundle_safe_relpath(rel)) {
		const char *base = strrchr(path, '/');
		rel = base ? base + 1 : path;
	}
	snprintf(out, size, "config/%s", rel);
}

struct copylist {
	char src[64][1024];
	char rel[64][1100];
	size_t n;
};

static void copylist_add(struct copylist *l, const char *cfgdir,
			 const char *src)
{
	char rel[1100];

	if (!src || l->n == 64)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->src[i], src))
			return;
	bundle_rel(cfgdir, src, rel, sizeof(rel));
	for (int k = 2; k < 100; k++) {
		bool clash = false;
		for (size_t i = 0; i < l->n; i++)
			clash |= !strcmp(l->rel[i], rel);
		if (!clash)
			break;
		char base[1100];
		const char *b = strrchr(src, '/');
		snprintf(base, sizeof(base), "%s", b ? b + 1 : src);
		if (snprintf(rel, sizeof(rel), "config/%d-%.900s", k, base) < 0)
			return;
	}
	snprintf(l->src[l->n], sizeof(l->src[0]), "%s", src);
	snprintf(l->rel[l->n], sizeof(l->rel[0]), "%s", rel);
	l->n++;
}

/* ---------------------------------------------------------------- open */

/* The reserve: best effort (a filesystem without fallocate gets none). */
static void ev_reserve(struct evidence *ev)
{
	char path[700];

	if (path_join(path, sizeof(path), ev->dir, BUNDLE_RESERVE) < 0)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	/* without fallocate the file stays, empty: it still marks a session
	 * whose close has not finished */
	(void)posix_fallocate(fd, 0, BUNDLE_RESERVE_BYTES);
	close(fd);
}

/* Room for the close on a full disk; the file itself stays until the
 * close is sealed. */
static void ev_release_reserve(const char *dir)
{
	char path[4096];

	if (path_join(path, sizeof(path), dir, BUNDLE_RESERVE) == 0)
		(void)!truncate(path, 0);
}

static void ev_unreserve(const char *dir)
{
	char path[4096];

	if (path_join(path, sizeof(path), dir, BUNDLE_RESERVE) == 0)
		unlink(path);
}

static void ev_free(struct evidence *ev)
{
	if (!ev)
		return;
	if (ev->rec_running)
		pthread_join(ev->rec_thread, NULL);
	ev_writer_join(ev);
	if (ev->w.seg_fd >= 0)
		close(ev->w.seg_fd);
	if (ev->w.chain_fd >= 0)
		close(ev->w.chain_fd);
	if (ev->events_fd >= 0)
		close(ev->events_fd);
	if (ev->viol_fd >= 0)
		close(ev->viol_fd);
	bundle_json_free(ev->header);
	bundle_json_free(ev->config_files);
	free(ev->ring);
	bundle_buf_free(&ev->w.seg_files);
	pthread_mutex_destroy(&ev->w.mu);
	pthread_cond_destroy(&ev->w.work);
	pthread_cond_destroy(&ev->w.room);
	bundle_buf_free(&ev->pend_events.b);
	bundle_buf_free(&ev->pend_viol.b);
	sodium_memzero(ev->sk, sizeof(ev->sk));
	free(ev);
}

static int ev_open_file(struct evidence *ev, const char *name, int flags,
			char *errmsg, size_t errlen)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", ev->dir, name);
	int fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
	return fd;
}

static void ev_counts(const struct evidence *ev, char *buf, size_t size)
{
	snprintf(buf, size,
		 "\"frames\": %" PRIu64 ", \"rx\": %" PRIu64 ", \"tx\": %" PRIu64
		 ", \"blocks\": %" PRIu64 ", \"events\": %" PRIu64
		 ", \"violations\": %" PRIu64 ", \"not_recorded\": %" PRIu64
		 ", \"events_unwritten\": %" PRIu64
		 ", \"violations_unwritten\": %" PRIu64,
		 ev->lines, ev->rx, ev->tx, ev->blocks, ev->events,
		 ev->violations, ev->not_recorded, ev->pend_events.lost,
		 ev->pend_viol.lost);
}

/*
 * The close record (bundle.h): binds the end time, counts, recording state
 * and config sources into the chain, whose head the manifest (and its
 * signature, and whoever noted the head) then carries. The manifest
 * written next must say exactly these values.
 */
static int ev_close_record(struct evidence *ev, uint64_t end_ns,
			   char *errmsg, size_t errlen)
{
	struct bundle_buf j = {0};
	struct bundle_json *m = NULL;
	char counts[512], line[256];
	uint8_t digest[32], h[32];
	size_t n = 0;
	int rc = -1;

	ev_counts(ev, counts, sizeof(counts));
	bundle_buf_printf(&j,
			  "{\"end_ns\": %" PRIu64 ", \"chain\": {\"blocks\": %" PRIu64
			  ", \"lines\": %" PRIu64 "}, \"counts\": {%s}, "
			  "\"recording\": {\"stopped\": %s, \"error\": ",
			  end_ns, ev->blocks, ev->lines, counts,
			  ev->recording ? "false" : "true");
	bundle_buf_json_str(&j, ev->error[0] ? ev->error : NULL);
	bundle_buf_puts(&j, "}, \"config_files\": ");
	bundle_buf_json(&j, ev->config_files);
	bundle_buf_puts(&j, "}");
	if (j.failed) {
		snprintf(errmsg, errlen, "out of memory");
		goto out;
	}
	m = bundle_json_parse(j.p, j.len, errmsg, errlen);
	if (!m || bundle_close_digest(m, digest, errmsg, errlen) < 0)
		goto out;
	n = bundle_close_link(ev->head, ev->blocks + 1, digest, h, line,
			      sizeof(line));
	if (!n || ev->w.chain_fd < 0 ||
	    bundle_write_all(ev->w.chain_fd, line, n) < 0 ||
	    fdatasync(ev->w.chain_fd) < 0) {
		snprintf(errmsg, errlen, "frames.chain: %s",
			 strerror(n ? errno : EOVERFLOW));
		goto out;
	}
	ev->w.chain_size += n;
	memcpy(ev->head, h, 32);
	rc = 0;
out:
	bundle_json_free(m);
	bundle_buf_free(&j);
	return rc;
}

/* The session's manifest; counts points into the caller's buffer. */
static void ev_manifest_fill(const struct evidence *ev, struct bundle_manifest *m,
			     const char *status, bool has_end, uint64_t end_ns,
			     char *counts, size_t countslen)
{
	ev_counts(ev, counts, countslen);
	memset(m, 0, sizeof(*m));
	m->header = ev->header;
	m->config_files = ev->config_files;
	m->status = status;
	m->has_end = has_end;
	m->end_ns = end_ns;
	m->blocks = ev->blocks;
	m->lines = ev->lines;
	m->head = ev->head;
	m->counts_json = counts;
	m->recording_stopped = !ev->recording;
	m->recording_error = ev->error[0] ? ev->error : NULL;
}

static int ev_manifest(struct evidence *ev, const char *status, bool has_end,
		       uint64_t end_ns, bool hash_files,
		       const struct bundle_json *files_cache, char *errmsg,
		       size_t errlen)
{
	struct bundle_manifest m;
	char counts[768];

	ev_manifest_fill(ev, &m, status, has_end, end_ns, counts,
			 sizeof(counts));
	m.hash_files = hash_files;
	m.files_cache = files_cache;
	return bundle_manifest_write(ev->dir, &m, NULL, errmsg, errlen);
}

/* The recorder with its settings and signing key, no files yet. */
static struct evidence *ev_new(const struct config_evidence *ec,
			       uint64_t now_ns, char *errmsg, size_t errlen)
{
	struct evidence *ev = calloc(1, sizeof(*ev));
	char err[256];

	if (!ev) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	ev->w.seg_fd = ev->w.chain_fd = ev->events_fd = ev->viol_fd = -1;
	pthread_mutex_init(&ev->w.mu, NULL);
	pthread_cond_init(&ev->w.work, NULL);
	pthread_cond_init(&ev->w.room, NULL);
	ev->ring = malloc(EV_RING_SIZE);
	if (!ev->ring) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	ev->nanoseconds = ec->nanoseconds;
	ev->block_frames = ec->block_frames ? ec->block_frames : 4096;
	ev->block_ns = (uint64_t)ec->block_ms * 1000000u;
	ev->segment_bytes = ec->segment_bytes;
	ev->start_ns = now_ns;
	crypto_hash_sha256_init(&ev->bst);
	crypto_hash_sha256_init(&ev->w.seg_hash);
	ev->w.seg_hash_block = ev->w.seg_hash;
	if (ec->sign_sk_loaded) {
		memcpy(ev->sk, ec->sign_sk, sizeof(ev->sk));
		ev->have_key = true;
	} else if (ec->sign_key) {
		if (bundle_key_read(ec->sign_key, ev->sk, sizeof(ev->sk), err,
				    sizeof(err)) < 0) {
			snprintf(errmsg, errlen, "sign_key: %s", err);
			goto err;
		}
		ev->have_key = true;
	}
	return ev;
err:
	ev_free(ev);
	return NULL;
}

/* ev->dir = DIR/START_GATEWAY_PROCEDURE (-2, -3... when taken), created;
 * name gets its last component. */
static int ev_make_dir(struct evidence *ev, const struct config *cfg,
		       const char *procedure, uint64_t now_ns, char *name,
		       size_t namelen, char *errmsg, size_t errlen)
{
	const char *dir = cfg->evidence.dir;
	char gw[64], proc[64], stamp[32];
	time_t secs = (time_t)(now_ns / 1000000000u);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	sanitize_name(cfg->name ? cfg->name : "cangate", gw, sizeof(gw));
	sanitize_name(procedure ? procedure : "session", proc, sizeof(proc));
	for (int k = 1; k < 100; k++) {
		if (k == 1)
			snprintf(name, namelen, "%s_%s_%s", stamp, gw, proc);
		else
			snprintf(name, namelen, "%s_%s_%s-%d", stamp, gw, proc,
				 k);
		if ((size_t)snprintf(ev->dir, sizeof(ev->dir), "%s/%s", dir,
				     name) >= sizeof(ev->dir)) {
			snprintf(errmsg, errlen, "%s: path too long", dir);
			return -1;
		}
		if (mkdir(ev->dir, 0750) == 0)
			return 0; /* the writer makes the name durable */
		if (errno != EEXIST || k == 99) {
			snprintf(errmsg, errlen, "%s: %s", ev->dir,
				 strerror(errno));
			ev->dir[0] = 0;
			return -1;
		}
	}
	return 0;
}

/* config/: the config, its includes and DBCs exactly as used. files gets the
 * manifest's config_files array, cfghash the hash of their "sha256sum"
 * listing, configrel the config's own path in the bundle. */
static int ev_copy_config(struct evidence *ev, const struct config *cfg,
			  struct bundle_buf *files, uint8_t cfghash[32],
			  char *configrel, size_t relsize, char *errmsg,
			  size_t errlen)
{
	struct copylist *cl = calloc(1, sizeof(*cl));
	char hex[BUNDLE_SHA256_HEX], cfgdir[4096], *cfgdir_p = NULL;
	crypto_hash_sha256_state cst;

	if (!cl) {
		snprintf(errmsg, errlen, "out of memory");
		return -1;
	}
	if (cfg->path) {
		const char *slash = strrchr(cfg->path, '/');
		if (slash) {
			snprintf(cfgdir, sizeof(cfgdir), "%.*s",
				 (int)(slash - cfg->path), cfg->path);
			if (!cfgdir[0])
				snprintf(cfgdir, sizeof(cfgdir), "/");
			cfgdir_p = cfgdir;
		}
		copylist_add(cl, cfgdir_p, cfg->path);
		snprintf(configrel, relsize, "%s", cl->rel[0]);
	}
	for (size_t i = 0; i < cfg->n_includes; i++)
		copylist_add(cl, cfgdir_p, cfg->includes[i]);
	for (size_t b = 0; b < cfg->n_buses; b++)
		for (size_t i = 0; i < cfg->buses[b].n_dbc_paths; i++)
			copylist_add(cl, cfgdir_p, cfg->buses[b].dbc_paths[i]);
	crypto_hash_sha256_init(&cst);
	bundle_buf_puts(files, "[");
	for (size_t i = 0; i < cl->n; i++) {
		char dst[1700];
		uint8_t d[32];
		snprintf(dst, sizeof(dst), "%s/%s", ev->dir, cl->rel[i]);
		if (copy_file(cl->src[i], dst, d, errmsg, errlen) < 0) {
			free(cl);
			return -1;
		}
		bundle_hex(d, 32, hex);
		crypto_hash_sha256_update(&cst, (unsigned char *)hex, 64);
		crypto_hash_sha256_update(&cst, (const unsigned char *)"  ", 2);
		crypto_hash_sha256_update(&cst, (unsigned char *)cl->rel[i],
					  strlen(cl->rel[i]));
		crypto_hash_sha256_update(&cst, (const unsigned char *)"\n", 1);
		bundle_buf_puts(files, i ? ",{\"path\":" : "{\"path\":");
		bundle_buf_json_str(files, cl->rel[i]);
		bundle_buf_puts(files, ",\"source\":");
		bundle_buf_json_str(files, cl->src[i]);
		bundle_buf_printf(files, ",\"sha256\":\"%s\"}", hex);
	}
	bundle_buf_puts(files, "]");
	crypto_hash_sha256_final(&cst, cfghash);
	free(cl);
	return 0;
}

/* The immutable header, bound into H_0: who, what, where, and how good the
 * clock was. sidhex gets the new session id. */
static void ev_header(const struct evidence *ev, const struct config *cfg,
		      const struct evidence_meta *meta, uint64_t now_ns,
		      const uint8_t cfghash[32], const char *configrel,
		      char sidhex[33], struct bundle_buf *hb)
{
	const struct config_evidence *ec = &cfg->evidence;
	const char *vin = meta && meta->vin ? meta->vin : ec->vin;
	const char *procedure = meta && meta->procedure ? meta->procedure :
							  ec->procedure;
	const char *operator_name = meta && meta->operator_name ?
					    meta->operator_name :
					    ec->operator_name;
	uint8_t sid[16];
	char hex[BUNDLE_SHA256_HEX], iso[64], host[256] = "", sw[64];
	struct timex tx = {0};
	int clk = adjtimex(&tx);
	bool synced = clk >= 0 && clk != TIME_ERROR && !(tx.status & STA_UNSYNC);

	randombytes_buf(sid, sizeof(sid));
	bundle_hex(sid, sizeof(sid), sidhex);
	bundle_format_iso(now_ns, iso, sizeof(iso));
	gethostname(host, sizeof(host) - 1);
	snprintf(sw, sizeof(sw), "cangate %s", CANGATE_VERSION);
	bundle_hex(cfghash, 32, hex);
	bundle_buf_puts(hb, "{");
	header_str(hb, "session_id", sidhex);
	bundle_buf_printf(hb, ",\"start_ns\":%" PRIu64, now_ns);
	header_str(hb, "start", iso);
	header_str(hb, "gateway", cfg->name ? cfg->name : "cangate");
	header_str(hb, "vin", vin);
	header_str(hb, "procedure", procedure);
	header_str(hb, "operator", operator_name);
	header_str(hb, "hostname", host);
	header_str(hb, "software", sw);
	header_str(hb, "timestamps", ev->nanoseconds ? "ns" : "us");
	bundle_buf_printf(hb,
			  ",\"block_frames\":%" PRIu32 ",\"block_ms\":%" PRIu32
			  ",\"segment_bytes\":%" PRIu64,
			  ev->block_frames, ec->block_ms, ev->segment_bytes);
	header_str(hb, "config", configrel);
	header_str(hb, "config_sha256", hex);
	bundle_buf_printf(hb,
			  ",\"clock_synchronised\":%s,\"clock_maxerror_us\":%ld"
			  ",\"clock_esterror_us\":%ld,\"clock_state\":%d"
			  ",\"close_record\":true}",
			  synced ? "true" : "false", (long)tx.maxerror,
			  (long)tx.esterror, clk);
}

/* The first manifest, saying "open": a new file, so written in place, and
 * synced by the writer thread (ev_w_begin) before any frame, not here on
 * the caller's loop. */
static int ev_manifest_open(struct evidence *ev, char *errmsg, size_t errlen)
{
	struct bundle_manifest m;
	struct bundle_buf b = {0};
	char counts[768], path[700];
	int fd = -1, rc = -1;

	ev_manifest_fill(ev, &m, "open", false, 0, counts, sizeof(counts));
	if (bundle_manifest_build(ev->dir, &m, &b, errmsg, errlen) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/manifest.json", ev->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 || bundle_write_all(fd, b.p, b.len) < 0) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	bundle_buf_free(&b);
	return rc;
}

/* The session's files, new and empty, and the manifest saying "open". */
static int ev_open_files(struct evidence *ev, char *errmsg, size_t errlen)
{
	ev->w.chain_fd = ev_open_file(ev, "frames.chain", O_WRONLY | O_APPEND,
				      errmsg, errlen);
	if (ev->w.chain_fd < 0)
		return -1;
	flock(ev->w.chain_fd, LOCK_EX | LOCK_NB); /* tells recovery we live */
	ev->events_fd = ev_open_file(ev, "events.jsonl", O_WRONLY | O_APPEND,
				     errmsg, errlen);
	ev->viol_fd = ev_open_file(ev, "violations.jsonl", O_WRONLY | O_APPEND,
				   errmsg, errlen);
	ev->w.seg_fd = ev_open_file(ev, "frames.log", O_WRONLY, errmsg, errlen);
	ev_reserve(ev);
	if (ev->events_fd < 0 || ev->viol_fd < 0 || ev->w.seg_fd < 0)
		return -1;
	return ev_manifest_open(ev, errmsg, errlen);
}

/* One recovered_interrupted per bundle recovered, timed at the session's
 * start (when the recovery began). */
static void ev_write_recovered(struct evidence *ev)
{
	const struct recovered *rec = ev->rec;
	char fields[4096];

	for (size_t i = 0; i < ev->n_rec; i++) {
		char e1[6 * 256 + 3], e2[6 * 256 + 3];
		json_escape(rec[i].name, strlen(rec[i].name), e1, sizeof(e1));
		json_escape(rec[i].msg, strlen(rec[i].msg), e2, sizeof(e2));
		snprintf(fields, sizeof(fields), "\"bundle\":%s,\"%s\":%s", e1,
			 rec[i].rc > 0 ? "result" : "error", e2);
		ev_write_event(ev, ev->rec_now, "recovered_interrupted",
			       fields);
	}
}

static void ev_start_event(struct evidence *ev, uint64_t now_ns,
			   const char *name, const char *sidhex)
{
	char fields[4096], esc[6 * 256 + 3];

	json_escape(name, strlen(name), esc, sizeof(esc));
	snprintf(fields, sizeof(fields), "\"session\":\"%s\",\"bundle\":%s",
		 sidhex, esc);
	ev_write_event(ev, now_ns, "session_start", fields);
}

struct evidence *evidence_open(const struct config *cfg,
			       const struct evidence_meta *meta,
			       uint64_t now_ns, char *errmsg, size_t errlen)
{
	const struct config_evidence *ec = &cfg->evidence;
	struct evidence *ev;
	struct bundle_buf hb = {0}, cb = {0};
	char name[256], err[256], sidhex[33], configrel[1100] = "";
	uint8_t cfghash[32];

	if (sodium_init() < 0) {
		snprintf(errmsg, errlen, "libsodium failed to initialise");
		return NULL;
	}
	if (!ec->dir || !*ec->dir) {
		snprintf(errmsg, errlen, "[evidence] dir is not set");
		return NULL;
	}
	if (mkdir_p(ec->dir, 0750) < 0) {
		snprintf(errmsg, errlen, "%s: %s", ec->dir, strerror(errno));
		return NULL;
	}
	ev = ev_new(ec, now_ns, errmsg, errlen);
	if (!ev)
		return NULL;
	snprintf(ev->rec_dir, sizeof(ev->rec_dir), "%s", ec->dir);
	ev->rec_now = now_ns;
	if (ev_thread_start(&ev->rec_thread, ev_recover_thread, ev, 10) == 0)
		ev->rec_running = true;
	else
		ev_recover_thread(ev); /* no thread: recover here */
	if (ev_make_dir(ev, cfg,
			meta && meta->procedure ? meta->procedure :
						  ec->procedure,
			now_ns, name, sizeof(name), errmsg, errlen) < 0 ||
	    ev_copy_config(ev, cfg, &cb, cfghash, configrel, sizeof(configrel),
			   errmsg, errlen) < 0)
		goto err;
	ev_header(ev, cfg, meta, now_ns, cfghash, configrel, sidhex, &hb);
	if (hb.failed || cb.failed) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	ev->header = bundle_json_parse(hb.p, hb.len, err, sizeof(err));
	ev->config_files = bundle_json_parse(cb.p, cb.len, err, sizeof(err));
	if (!ev->header || !ev->config_files ||
	    bundle_header_h0(ev->header, ev->head, err, sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "manifest header: %s", err);
		goto err;
	}
	memcpy(ev->w.head, ev->head, 32);
	if (ev_open_files(ev, errmsg, errlen) < 0)
		goto err;
	/* no thread: the writer runs inline, on the loop, as it used to */
	ev->w.running = ev_thread_start(&ev->w.thread, ev_writer_thread, ev,
					0) == 0;
	if (!ev->w.running)
		ev_w_begin(ev);
	ev->recording = true;
	ev_start_event(ev, now_ns, name, sidhex);
	if (!ev->rec_running)
		ev_write_recovered(ev);
	bundle_buf_free(&hb);
	bundle_buf_free(&cb);
	return ev;
err:
	bundle_buf_free(&hb);
	bundle_buf_free(&cb);
	ev_free(ev);
	return NULL;
}

/* --------------------------------------------------------------- close */

/* The whole close, on the closing thread: it reads the bundle back (file
 * hashes of what was not hashed as written, the report) and syncs. */
static int ev_close_finish(struct evidence *ev, uint64_t now_ns,
			   const char *verdicts_json, uint64_t *not_recorded,
			   char *errmsg, size_t errlen)
{
	char fields[256], err[512], counts[768];
	struct bundle_manifest m;
	struct bundle_json *cache = NULL;
	struct bundle_buf vb = {0}, cb = {0};
	int rc = -1;

	ev_recovery_reap(ev, true); /* its events belong to this session */
	ev_block_close(ev);
	/* the close record and the manifest describe what reached the disk */
	ev_writer_join(ev);
	ev_writer_poll(ev);
	ev_note_stalls(ev, now_ns, true);
	snprintf(fields, sizeof(fields),
		 "\"frames\":%" PRIu64 ",\"blocks\":%" PRIu64
		 ",\"not_recorded\":%" PRIu64,
		 ev->lines, ev->blocks, ev->not_recorded);
	ev_write_event(ev, now_ns, "session_stop", fields);
	if (ev->recording && fsync(ev->events_fd) < 0)
		ev_stop(ev, "events.jsonl", errno);
	if (ev->recording && fsync(ev->viol_fd) < 0)
		ev_stop(ev, "violations.jsonl", errno);
	ev_seg_seal(ev);

	/* room for what follows on a full disk, then what had to wait */
	ev_release_reserve(ev->dir);
	ev_drain(ev->events_fd, &ev->pend_events);
	ev_drain(ev->viol_fd, &ev->pend_viol);

	const char *vj = verdicts_json ? verdicts_json : "{\"rules\":[]}";
	size_t vl = strlen(vj);
	bundle_buf_add(&vb, vj, vl);
	if (!vl || vj[vl - 1] != '\n')
		bundle_buf_puts(&vb, "\n");
	if (vb.failed || bundle_write_atomic(ev->dir, "verdicts.json", vb.p,
					     vb.len, err, sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "%s", vb.failed ? "out of memory" : err);
		goto out; /* the manifest stays open: recovery marks it interrupted */
	}
	if (ev_close_record(ev, now_ns, err, sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "close record: %s", err);
		goto out; /* the manifest stays open: recovery marks it interrupted */
	}
	/* frames.log segments were hashed as they were written */
	bundle_buf_printf(&cb, "{%s}", ev->w.seg_files.p ? ev->w.seg_files.p : "");
	cache = cb.failed ? NULL : bundle_json_parse(cb.p, cb.len, err, sizeof(err));
	if (ev_manifest(ev, "closed", true, now_ns, true, cache, err,
			sizeof(err)) < 0) {
		snprintf(errmsg, errlen, "manifest.json: %s", err);
		goto out;
	}
	ev_manifest_fill(ev, &m, "closed", true, now_ns, counts, sizeof(counts));
	rc = ev_seal(ev->dir, &m, ev->have_key ? ev->sk : NULL, errmsg, errlen);
out:
	bundle_json_free(cache);
	bundle_buf_free(&cb);
	bundle_buf_free(&vb);
	if (not_recorded)
		*not_recorded = ev->not_recorded;
	ev_free(ev);
	return rc;
}

struct evidence_closing {
	struct evidence *ev;
	uint64_t now_ns;
	char *verdicts;
	pthread_t thread;
	int done; /* __atomic */
	int rc;
	/* frames not recorded when the close began, and in the end (the
	 * writer's drain can still lose some); final is the worker's */
	uint64_t not_recorded_begin, not_recorded_final;
	char dir[512];
	char err[512];
};

static void *ev_close_thread(void *arg)
{
	struct evidence_closing *c = arg;

	c->rc = ev_close_finish(c->ev, c->now_ns, c->verdicts,
				&c->not_recorded_final, c->err, sizeof(c->err));
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

int evidence_close_begin(struct evidence *ev, uint64_t now_ns,
			 const char *verdicts_json, struct evidence_closing **out,
			 char *errmsg, size_t errlen)
{
	struct evidence_closing *c;

	*out = NULL;
	if (!ev) {
		snprintf(errmsg, errlen, "no session");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (c && verdicts_json && !(c->verdicts = strdup(verdicts_json))) {
		free(c);
		c = NULL;
	}
	if (!c)
		return ev_close_finish(ev, now_ns, verdicts_json, NULL, errmsg,
				       errlen);
	c->ev = ev;
	c->not_recorded_begin = ev->not_recorded;
	c->now_ns = now_ns;
	snprintf(c->dir, sizeof(c->dir), "%s", ev->dir);
	if (ev_thread_start(&c->thread, ev_close_thread, c, 10) != 0) {
		int rc = ev_close_finish(ev, now_ns, verdicts_json, NULL,
					 errmsg, errlen);
		free(c->verdicts);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

bool evidence_close_done(const struct evidence_closing *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) != 0;
}

const char *evidence_close_dir(const struct evidence_closing *c)
{
	return c->dir;
}

uint64_t evidence_close_not_recorded(const struct evidence_closing *c)
{
	return evidence_close_done(c) ? c->not_recorded_final
				      : c->not_recorded_begin;
}

int evidence_close_end(struct evidence_closing *c, char *errmsg, size_t errlen)
{
	int rc;

	pthread_join(c->thread, NULL);
	rc = c->rc;
	if (rc < 0)
		snprintf(errmsg, errlen, "%s", c->err);
	free(c->verdicts);
	free(c);
	return rc;
}

int evidence_close(struct evidence *ev, uint64_t now_ns,
		   const char *verdicts_json, char *errmsg, size_t errlen)
{
	if (!ev) {
		snprintf(errmsg, errlen, "no session");
		return -1;
	}
	return ev_close_finish(ev, now_ns, verdicts_json, NULL, errmsg,
			       errlen);
}
