/* test_evidence.c: the session recorder: blocks, chain, segments, manifest,
 * config copies, crash recovery, write failures and signing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"

#define T0 1764390000000000000ull /* 2025-11-29T04:20:00Z */

/*
 * Durability seam: fsync and fdatasync are interposed (the test binary's
 * definitions win over libc's for the library code too). A directory fsync
 * makes the names in it durable; when a chain line is made durable, the
 * bundle directory and every segment file that exists must already be.
 */
static bool sync_check_on;
static bool fail_dir_fsync; /* directories answer EIO */
/* syncs made by the thread watch_tid (the test's "loop"), when not 0;
 * the writer thread reads it too */
static long watch_tid; /* __atomic */
static unsigned watch_syncs;

static void watch_sync(void)
{
	long tid = __atomic_load_n(&watch_tid, __ATOMIC_RELAXED);

	if (tid && syscall(SYS_gettid) == tid)
		watch_syncs++;
}
static unsigned sync_violations;
static char durable[256][600];
static size_t n_durable;

static bool fd_path(int fd, char *out, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, size - 1);
	if (n < 0)
		return false;
	out[n] = 0;
	return true;
}

static bool is_durable(const char *path)
{
	for (size_t i = 0; i < n_durable; i++)
		if (!strcmp(durable[i], path))
			return true;
	return false;
}

int fsync(int fd)
{
	struct stat sb;
	char path[400];

	watch_sync();
	if (fail_dir_fsync && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		errno = EIO;
		return -1;
	}
	if (sync_check_on && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    fd_path(fd, path, sizeof(path))) {
		DIR *d = opendir(path);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char full[700];

			if ((size_t)snprintf(full, sizeof(full), "%s/%s", path,
					     e->d_name) >= sizeof(durable[0]))
				continue;
			if (!is_durable(full) && n_durable < 256)
				memcpy(durable[n_durable++], full,
				       strlen(full) + 1);
		}
		if (d)
			closedir(d);
	}
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	char path[400];
	size_t n;

	watch_sync();
	if (sync_check_on && fd_path(fd, path, sizeof(path)) &&
	    (n = strlen(path)) > 13 && !strcmp(path + n - 13, "/frames.chain")) {
		path[n - 13] = 0;
		if (!is_durable(path))
			sync_violations++;
		for (unsigned s = 0; s < 100; s++) {
			char name[64], full[500];
			struct stat sb;

			bundle_segment_name(s, name, sizeof(name));
			snprintf(full, sizeof(full), "%s/%s", path, name);
			if (stat(full, &sb) == 0 && !is_durable(full))
				sync_violations++;
		}
	}
	return (int)syscall(SYS_fdatasync, fd);
}

struct fx {
	char tmp[256];
	char sessions[300];
	struct config *cfg;
};

static const char dbc_text[] =
	"VERSION \"t\"\n\nNS_ :\n\nBS_:\n\nBU_: A\n\n"
	"BO_ 256 Speed: 8 A\n"
	" SG_ VehSpd : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" A\n\n";

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static char *slurp(const char *path, size_t *len)
{
	char err[256];
	size_t l;
	char *s = bundle_read_file(path, 1u << 30, &l, err, sizeof(err));
	if (len)
		*len = l;
	return s;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char ini[2048], path[512];
	struct config_error ce;

	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/test_evidence.XXXXXX");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->sessions, sizeof(fx->sessions), "%s/sessions", fx->tmp);
	snprintf(path, sizeof(path), "%s/dbc", fx->tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dbc/speed.dbc", fx->tmp);
	write_text(path, dbc_text);
	snprintf(ini, sizeof(ini),
		 "[gateway]\nname = test rig/7\n\n"
		 "[bus vehicle]\ninterface = vcan0\ndbc = dbc/speed.dbc\n\n"
		 "[bus rig]\ninterface = vcan1\n\n"
		 "[evidence]\ndir = %s\nvin = VIN0123456789\nprocedure = TP-101\n"
		 "operator = jdoe\nblock_frames = 1000\nblock_ms = 100000\n",
		 fx->sessions);
	snprintf(path, sizeof(path), "%s/gw.ini", fx->tmp);
	write_text(path, ini);
	fx->cfg = config_load(path, &ce);
	if (!fx->cfg)
		fail_msg("config_load: %s:%u: %s", ce.file, ce.line, ce.msg);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[400];

	config_free(fx->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->tmp);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void make_frame(struct frame *f, uint64_t i)
{
	memset(f, 0, sizeof(*f));
	f->t_ns = T0 + i * 1000000ull; /* 1 kHz */
	f->id = 0x100 + (uint32_t)(i % 3);
	f->len = 8;
	f->dir = i % 5 == 4 ? FRAME_DIR_TX : FRAME_DIR_RX;
	for (int k = 0; k < 8; k++)
		f->data[k] = (uint8_t)(i >> (k * 3));
}

static struct evidence *open_session(struct fx *fx, uint64_t t)
{
	char err[256];
	struct evidence *ev = evidence_open(fx->cfg, NULL, t, err, sizeof(err));
	if (!ev)
		fail_msg("evidence_open: %s", err);
	return ev;
}

static void record(struct evidence *ev, uint64_t from, uint64_t n)
{
	struct frame f;

	for (uint64_t i = from; i < from + n; i++) {
		make_frame(&f, i);
		assert_int_equal(evidence_frame(ev, &f, i % 2 ? "vcan1" : "vcan0"),
				 i + 1);
	}
}

/* Fails unless the bundle's file name holds text. */
static void assert_file_has(const char *dir, const char *name,
			    const char *text)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *s = slurp(path, NULL);
	assert_non_null(s);
	if (!strstr(s, text))
		fail_msg("%s lacks %s", name, text);
	free(s);
}

/* The writer thread writes closed blocks in its own time: until `lines`
 * are covered by chain lines on disk (10 s at most). */
static void wait_on_disk(struct evidence *ev, uint64_t lines)
{
	struct evidence_status st;
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < 10000; i++) {
		evidence_get_status(ev, &st);
		if (st.frames_on_disk >= lines)
			break;
		nanosleep(&ms, NULL);
	}
	assert_int_equal(st.frames_on_disk, lines);
}

/* The writer thread meets a write error in its own time: until the
 * status shows the recording stopped (10 s at most). */
static void wait_stopped(struct evidence *ev)
{
	struct evidence_status st;
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < 10000; i++) {
		evidence_get_status(ev, &st);
		if (!st.recording)
			return;
		nanosleep(&ms, NULL);
	}
	fail_msg("the recording did not stop");
}

static int verify_dir(const char *dir, struct bundle_verify_result *r)
{
	return bundle_verify(dir, NULL, r);
}

static void test_record_close_verify(void **state)
{
	struct fx *fx = *state;
	struct evidence *ev = open_session(fx, T0);
	struct evidence_status st;
	struct bundle_verify_result r;
	char dir[512], path[700], err[256];

	record(ev, 0, 2500);
	evidence_get_status(ev, &st);
	assert_true(st.recording);
	assert_int_equal(st.frames, 2500);
	assert_int_equal(st.blocks, 2);
	/* sanitized bundle name: UTC start, gateway, procedure */
	assert_non_null(strstr(st.dir, "/20251129T042000Z_test_rig_7_TP-101"));
	snprintf(dir, sizeof(dir), "%s", st.dir);
	wait_on_disk(ev, 2000);

	/* while open: the two closed blocks verify, the rest is buffered */
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "open");
	assert_int_equal(r.blocks, 2);
	assert_int_equal(r.lines, 2000);

	evidence_event(ev, T0 + 5, "marker", "\"text\":\"brake test \\\"A\\\"\"");
	evidence_violation(ev, "{\"rule\":\"speed-max\",\"ref\":\"TP\",\"t_start\":1.0,"
			       "\"t_end\":2.0,\"worst\":190,\"margin\":-10,\"lines\":[5,9]}");
	assert_int_equal(evidence_close(ev, T0 + 3000000000ull,
					"{\"rules\":[{\"rule\":\"speed-max\",\"verdict\":\"FAIL\"}]}",
					err, sizeof(err)),
			 0);

	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "closed");
	assert_int_equal(r.blocks, 3);
	assert_int_equal(r.lines, 2500);
	assert_int_equal(r.tail_bytes, 0);
	assert_int_equal(r.warns, 0);

	/* frames.log: candump -l lines with direction, µs timestamps */
	size_t len;
	snprintf(path, sizeof(path), "%s/frames.log", dir);
	char *log = slurp(path, &len);
	assert_non_null(log);
	assert_memory_equal(log, "(1764390000.000000) vcan0 100#0000000000000000 R\n", 49);
	assert_non_null(strstr(log, "(1764390000.004000) vcan0 101#0400000000000000 T\n"));
	free(log);

	/* the config and its DBC copied byte for byte, at their relative paths */
	snprintf(path, sizeof(path), "%s/config/dbc/speed.dbc", dir);
	char *copy = slurp(path, &len);
	assert_non_null(copy);
	assert_int_equal(len, strlen(dbc_text));
	assert_memory_equal(copy, dbc_text, len);
	free(copy);
	snprintf(path, sizeof(path), "%s/config/gw.ini", dir);
	assert_int_equal(access(path, R_OK), 0);

	/* manifest: closed, metadata, counts, every file hashed */
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	char *mt = slurp(path, &len);
	struct bundle_json *m = bundle_json_parse(mt, len, err, sizeof(err));
	assert_non_null(m);
	assert_string_equal(bundle_json_str(m, "format"), "cangate-evidence/1");
	assert_string_equal(bundle_json_str(m, "status"), "closed");
	const struct bundle_json *h = bundle_json_get(m, "header");
	assert_string_equal(bundle_json_str(h, "vin"), "VIN0123456789");
	assert_string_equal(bundle_json_str(h, "operator"), "jdoe");
	assert_string_equal(bundle_json_str(h, "gateway"), "test rig/7");
	assert_string_equal(bundle_json_str(h, "software"), "cangate " CANGATE_VERSION);
	assert_string_equal(bundle_json_str(h, "config"), "config/gw.ini");
	assert_non_null(bundle_json_get(h, "clock_synchronised"));
	const struct bundle_json *c = bundle_json_get(m, "counts");
	uint64_t v;
	assert_int_equal(bundle_json_u64(c, "frames", &v), 0);
	assert_int_equal(v, 2500);
	assert_int_equal(bundle_json_u64(c, "tx", &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(bundle_json_u64(c, "violations", &v), 0);
	assert_int_equal(v, 1);
	const struct bundle_json *files = bundle_json_get(m, "files");
	assert_non_null(bundle_json_get(files, "frames.log"));
	assert_non_null(bundle_json_get(files, "verdicts.json"));
	assert_non_null(bundle_json_get(files, "report.html"));
	assert_non_null(bundle_json_get(files, "config/dbc/speed.dbc"));
	assert_null(bundle_json_get(files, "manifest.json"));
	bundle_json_free(m);
	free(mt);

	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	char *evs = slurp(path, &len);
	assert_non_null(strstr(evs, "\"type\":\"session_start\""));
	assert_non_null(strstr(evs, "\"type\":\"marker\",\"text\":\"brake test \\\"A\\\"\""));
	assert_non_null(strstr(evs, "\"type\":\"session_stop\",\"frames\":2500"));
	free(evs);
}

/* A block closes when block_ms has passed, by a later frame or a tick. */
static void test_block_ms(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct frame f;
	char err[256];

	fx->cfg->evidence.block_ms = 10;
	struct evidence *ev = open_session(fx, T0);
	for (uint64_t i = 0; i < 25; i++) {
		make_frame(&f, i);
		evidence_frame(ev, &f, "vcan0");
	}
	evidence_get_status(ev, &st);
	assert_int_equal(st.blocks, 2); /* frames 0-9, 10-19; 20-24 open */
	evidence_tick(ev, T0 + 29000000ull);
	evidence_get_status(ev, &st);
	assert_int_equal(st.blocks, 2);
	evidence_tick(ev, T0 + 30000000ull);
	evidence_get_status(ev, &st);
	assert_int_equal(st.blocks, 3);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(evidence_close(ev, T0 + 40000000ull, NULL, err, sizeof(err)), 0);
	struct bundle_verify_result r;
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_int_equal(r.blocks, 3);
	assert_int_equal(r.lines, 25);
}

/* Segments rotate at segment_bytes and the chain spans them. */
static void test_segments(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct bundle_verify_result r;
	char err[256], path[700];

	fx->cfg->evidence.segment_bytes = 100000;
	fx->cfg->evidence.nanoseconds = true;
	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 6000);
	evidence_get_status(ev, &st);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(evidence_close(ev, T0 + 7000000000ull, NULL, err, sizeof(err)), 0);
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_int_equal(r.lines, 6000);
	for (unsigned s = 0; s < 4; s++) {
		char name[64];
		struct stat sb;
		bundle_segment_name(s, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size <= 100000);
		if (s < 3)
			assert_true(sb.st_size > 90000);
	}
	/* ns timestamps */
	snprintf(path, sizeof(path), "%s/frames.log", dir);
	char *log = slurp(path, NULL);
	assert_memory_equal(log, "(1764390000.000000000) vcan0 100#", 33);
	free(log);
	/* removing a whole middle segment is found */
	snprintf(path, sizeof(path), "%s/frames.log.0001", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(verify_dir(dir, &r), 1);
	assert_non_null(strstr(r.first_fail, "frames.log.0001"));
}

/* A chain line is only as durable as the names of the files it covers: the
 * bundle directory and each new segment reach the disk before a chain line
 * that needs them (else a power loss keeps the line and loses the file). */
static void test_segment_names_durable(void **state)
{
	struct fx *fx = *state;
	char err[256];

	fx->cfg->evidence.segment_bytes = 100000;
	n_durable = 0;
	sync_violations = 0;
	sync_check_on = true;
	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 6000);
	assert_int_equal(evidence_close(ev, T0 + 7000000000ull, NULL, err,
					sizeof(err)),
			 0);
	sync_check_on = false;
	assert_int_equal(sync_violations, 0);
}

/* A rename is durable only once its directory is: when fsync of the
 * directory fails, the atomic write has not succeeded. */
static void test_atomic_write_dir_fsync_fails(void **state)
{
	struct fx *fx = *state;
	char err[256];

	assert_int_equal(mkdir(fx->sessions, 0750), 0);
	fail_dir_fsync = true;
	int rc = bundle_write_atomic(fx->sessions, "x.json", "{}\n", 3, err,
				     sizeof(err));
	fail_dir_fsync = false;
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, strerror(EIO)));
}

/* A session that records n frames and crashes (exits without closing, in a
 * child, so that its lock is gone); dir gets the bundle. */
static void crash_session(struct fx *fx, uint64_t n, char dir[512])
{
	char err[256];
	int pipefd[2];

	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct evidence_status st;
		struct evidence *ev = evidence_open(fx->cfg, NULL, T0, err, sizeof(err));
		if (!ev)
			_exit(3);
		struct frame f;
		for (uint64_t i = 0; i < n; i++) {
			make_frame(&f, i);
			evidence_frame(ev, &f, "vcan0");
		}
		wait_on_disk(ev, n / 1000 * 1000);
		evidence_get_status(ev, &st);
		if (write(pipefd[1], st.dir, sizeof(st.dir)) != sizeof(st.dir))
			_exit(4);
		_exit(0); /* no close: a crash */
	}
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	assert_int_equal(read(pipefd[0], dir, 512), 512);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* A crash leaves the manifest open; the next session marks it interrupted
 * and verify says where it ends. */
static void test_crash_recovery(void **state)
{
	struct fx *fx = *state;
	struct bundle_verify_result r;
	char err[256], path[700], dir[512];

	crash_session(fx, 2500, dir);

	/* bytes the crashed writer had handed to the kernel after its last block */
	snprintf(path, sizeof(path), "%s/frames.log", dir);
	FILE *fp = fopen(path, "a");
	fputs("(1764390002.500000) vcan0 100#00 R\n(1764390002.501000) vcan0 100#01 R\n", fp);
	fclose(fp);
	/* and half an event line: the crash came in the middle of it */
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	fp = fopen(path, "a");
	fputs("{\"t\":1764390002.502000,\"type\":\"ma", fp);
	fclose(fp);

	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "open");

	struct evidence *ev = open_session(fx, T0 + 10000000000ull);
	evidence_recovery_wait(ev); /* recovery runs in a thread */
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "interrupted");
	assert_int_equal(r.blocks, 2);
	assert_int_equal(r.lines, 2000);
	assert_int_equal(r.tail_lines, 2);
	assert_int_equal(r.warns, 1);
	assert_non_null(strstr(r.summary, "interrupted: verified to block 2, line 2000"));

	/* the old bundle got an event, the new one names what it recovered */
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	char *evs = slurp(path, NULL);
	assert_non_null(strstr(evs, "\"type\":\"interrupted\",\"verified_blocks\":2,\"verified_lines\":2000"));
	/* the recovery's own event is a line of its own, not glued to the
	 * torn one */
	{
		char *ie = strstr(evs, "\"type\":\"interrupted\"");
		char *ls = ie;
		while (ls > evs && ls[-1] != '\n')
			ls--;
		char *nl = strchr(ls, '\n');
		assert_non_null(nl);
		struct bundle_json *j = bundle_json_parse(ls, (size_t)(nl - ls),
							  err, sizeof(err));
		if (!j)
			fail_msg("interrupted event line does not parse: %s", err);
		bundle_json_free(j);
	}
	free(evs);
	struct evidence_status st;
	evidence_get_status(ev, &st);
	snprintf(path, sizeof(path), "%s/events.jsonl", st.dir);
	evs = slurp(path, NULL);
	assert_non_null(strstr(evs, "recovered_interrupted"));
	free(evs);

	/* the live session is not touched by a second recorder's scan */
	char dir2[512];
	snprintf(dir2, sizeof(dir2), "%s", st.dir);
	struct evidence *ev2 = open_session(fx, T0 + 20000000000ull);
	assert_int_equal(verify_dir(dir2, &r), 0);
	assert_string_equal(r.status, "open");
	assert_int_equal(evidence_close(ev2, T0 + 21000000000ull, NULL, err, sizeof(err)), 0);
	assert_int_equal(evidence_close(ev, T0 + 22000000000ull, NULL, err, sizeof(err)), 0);
	assert_int_equal(verify_dir(dir2, &r), 0);
	assert_string_equal(r.status, "closed");

	/* tampering with the verified part of an interrupted bundle is found */
	snprintf(path, sizeof(path), "%s/frames.log", dir);
	int fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "9", 1, 60), 1);
	close(fd);
	assert_int_equal(verify_dir(dir, &r), 1);
	assert_non_null(strstr(r.first_fail, "frames.log: block 1 (lines 1-1000) hash mismatch"));
}

/* A write error (here EFBIG from RLIMIT_FSIZE, as ENOSPC would) stops the
 * recording: evidence_frame returns 0, the bundle ends on its last closed
 * block and still closes and verifies. */
/* A write error in the middle of an event or violation line must not leave
 * half a line that the next line is glued to: the JSON-lines files keep one
 * whole object per line. */
static void check_json_lines(const char *dir, const char *name)
{
	char path[700], err[256];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *text = slurp(path, &len);
	assert_non_null(text);
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		struct bundle_json *j = bundle_json_parse(p, (size_t)(nl - p),
							  err, sizeof(err));
		if (!j)
			fail_msg("%s: bad line '%.*s': %s", name, (int)(nl - p),
				 p, err);
		bundle_json_free(j);
		p = nl + 1;
	}
	free(text);
}

static void test_torn_lines(void **state)
{
	struct fx *fx = *state;
	struct rlimit old, lim;
	struct evidence_status st;
	struct stat sb;
	char err[256], dir[512], path[700], big[600];

	struct evidence *ev = open_session(fx, T0);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	char fields[700];
	snprintf(fields, sizeof(fields), "\"text\":\"%s\"", big);
	char viol[700];
	snprintf(viol, sizeof(viol), "{\"rule\":\"r\",\"note\":\"%s\"}", big);

	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 100; /* room for part of a line */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	evidence_event(ev, T0 + 1000, "mark", fields);
	evidence_violation(ev, "{\"rule\":\"short\"}");
	evidence_violation(ev, viol);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	evidence_get_status(ev, &st);
	assert_false(st.recording);
	evidence_event(ev, T0 + 2000, "mark", "\"text\":\"after\"");
	evidence_violation(ev, "{\"rule\":\"after\"}");
	assert_int_equal(evidence_close(ev, T0 + 3000, NULL, err, sizeof(err)), 0);
	check_json_lines(dir, "events.jsonl");
	check_json_lines(dir, "violations.jsonl");
}

struct notes {
	char text[8192];
};

static void collect_note(void *ctx, enum bundle_note kind, const char *msg)
{
	struct notes *n = ctx;
	size_t l = strlen(n->text);

	snprintf(n->text + l, sizeof(n->text) - l, "%s %s\n",
		 kind == BUNDLE_FAIL ? "FAIL" : kind == BUNDLE_WARN ? "WARN" : "NOTE",
		 msg);
}

static void test_write_failure(void **state)
{
	struct fx *fx = *state;
	struct rlimit old, lim;
	struct evidence_status st;
	struct bundle_verify_result r;
	struct frame f;
	char err[256], dir[512];
	uint64_t i, recorded = 0;
	char path[700];

	struct evidence *ev = open_session(fx, T0);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 150000; /* about 3000 lines of frames.log */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (i = 0; i < 10000; i++) {
		make_frame(&f, i);
		uint64_t ln = evidence_frame(ev, &f, "vcan0");
		if (!ln)
			break;
		assert_int_equal(ln, i + 1);
		recorded = ln;
	}
	/* the writer thread meets the limit in its own time */
	wait_stopped(ev);
	evidence_get_status(ev, &st);
	assert_false(st.recording);
	assert_non_null(strstr(st.error, "frames.log"));
	assert_non_null(strstr(st.error, strerror(EFBIG)));
	assert_int_equal(st.frames % 1000, 0); /* cut back to the last block */
	assert_true(st.frames <= recorded);
	assert_int_equal(st.frames, 3000); /* the blocks written whole */
	make_frame(&f, i + 1);
	assert_int_equal(evidence_frame(ev, &f, "vcan0"), 0); /* stays stopped */
	/* every frame offered is recorded or counted: i+1 (or 10000+1) calls */
	uint64_t offered = (i < 10000 ? i + 1 : i) + 1;
	/* the disk is full for every file now: what the rules and the
	 * operator say meanwhile waits in memory for the room close makes */
	lim.rlim_cur = 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	evidence_violation(ev, "{\"rule\":\"speed-max\",\"lines\":[5,9]}");
	evidence_event(ev, T0 + 9000000000ull, "mark", "\"text\":\"while full\"");
	for (int k = 0; k < 12000; k++) /* more than the memory bound */
		evidence_violation(ev, "{\"rule\":\"flood\",\"pad\":\"......................................................................................\"}");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(evidence_close(ev, T0 + 20000000000ull, NULL, err, sizeof(err)), 0);
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "closed");
	assert_int_equal(r.lines, st.frames);
	assert_true(r.incomplete);
	snprintf(path, sizeof(path), "%s/violations.jsonl", dir);
	char *vs = slurp(path, NULL);
	assert_non_null(strstr(vs, "{\"rule\":\"speed-max\",\"lines\":[5,9]}\n"));
	free(vs);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	char *mt = slurp(path, NULL);
	assert_non_null(strstr(mt, "\"stopped\": true"));
	char nr[64];
	snprintf(nr, sizeof(nr), "\"not_recorded\": %" PRIu64 ",",
		 offered - st.frames);
	if (!strstr(mt, nr))
		fail_msg("manifest lacks %s: %s", nr, mt);
	assert_non_null(strstr(mt, "\"events_unwritten\": 0"));
	assert_null(strstr(mt, "\"violations_unwritten\": 0"));
	free(mt);
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	char *evs = slurp(path, NULL);
	assert_non_null(strstr(evs, "\"type\":\"recording_stopped\""));
	assert_non_null(strstr(evs, "\"type\":\"mark\",\"text\":\"while full\""));
	free(evs);

	/* verify says where the recording stopped and what it lacks */
	struct notes notes = {0};
	struct bundle_verify_opts o = {.note = collect_note, .ctx = &notes};
	char want[128];
	assert_int_equal(bundle_verify(dir, &o, &r), 0);
	snprintf(want, sizeof(want),
		 "WARN recording stopped at line %" PRIu64 ", %" PRIu64
		 " frames not recorded (frames.log: ",
		 st.frames, offered - st.frames);
	if (!strstr(notes.text, want) ||
	    !strstr(notes.text, "frames not recorded (frames.log: ") ||
	    !strstr(notes.text, "violations not written (recording stopped)"))
		fail_msg("verify notes: %s", notes.text);
}

/* ------------------------------------------------- the writer thread */

/* What the writer did, in order, as the I/O hook saw it. */
static struct {
	char log[4096][24]; /* "frames.log.0001 w" ... */
	size_t n;
	const char *fail_file; /* fail this file's ... */
	char fail_op;          /* ... 'w' or 's' with ENOSPC, once armed */
	int slow_ms;           /* sleep before each segment fdatasync */
} io;

static int io_hook(const char *file, char op)
{
	if (io.n < 4096)
		snprintf(io.log[io.n++], sizeof(io.log[0]), "%s %c", file, op);
	if (io.slow_ms && op == 's' && strcmp(file, "frames.chain")) {
		struct timespec d = {0, io.slow_ms * 1000000l};
		nanosleep(&d, NULL);
	}
	if (io.fail_file && !strcmp(file, io.fail_file) && op == io.fail_op)
		return ENOSPC;
	return 0;
}

static int io_setup(void **state)
{
	memset(&io, 0, sizeof(io));
	evidence_io_hook = io_hook;
	return setup(state);
}

static int io_teardown(void **state)
{
	evidence_io_hook = NULL;
	return teardown(state);
}

/* Across segments: each chain line is written only once every byte
 * written to a segment before it has been synced (the block's bytes are
 * on disk before the line that covers them), frames.chain is synced after
 * its lines, and the writer's segments and chain verify line for line. */
static void test_writer_order(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct bundle_verify_result r;
	char err[256], dir[512];
	bool dirty = false, chain_dirty = false;
	size_t chain_writes = 0, segs = 0;

	fx->cfg->evidence.segment_bytes = 100000;
	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 12000);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(evidence_close(ev, T0 + 13000000000ull, NULL, err,
					sizeof(err)), 0);
	assert_true(io.n < 4096);
	for (size_t i = 0; i < io.n; i++) {
		const char *e = io.log[i];
		if (!strcmp(e, "frames.chain w")) {
			assert_false(dirty); /* unsynced frames under a chain line */
			chain_dirty = true;
			chain_writes++;
		} else if (!strcmp(e, "frames.chain s")) {
			chain_dirty = false;
		} else if (e[strlen(e) - 1] == 'w') {
			assert_false(chain_dirty); /* the next block before the chain's sync */
			dirty = true;
		} else {
			dirty = false;
			segs += !strncmp(e, "frames.log.", 11);
		}
	}
	assert_false(chain_dirty);
	assert_true(segs >= 5);
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "closed");
	assert_int_equal(r.lines, 12000);
	assert_true(r.blocks > 12); /* segment ends close blocks too */
	assert_int_equal(chain_writes, r.blocks); /* one line per block */
	assert_int_equal(r.warns, 0);
}

/* The caller's loop makes no fsync or fdatasync when it starts a session
 * or records: blocks close by count, by age (tick), across segments, with
 * events between; the writer thread makes them durable, and what
 * evidence_open wrote before any of them. */
static void test_writer_off_loop(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	char err[256];

	fx->cfg->evidence.segment_bytes = 100000;
	fx->cfg->evidence.block_ms = 500;
	watch_syncs = 0;
	__atomic_store_n(&watch_tid, syscall(SYS_gettid), __ATOMIC_RELAXED);
	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 5500);
	evidence_event(ev, T0 + 5500000000ull, "mark", "\"text\":\"x\"");
	evidence_tick(ev, T0 + 6000000000ull); /* the last 500 by age */
	__atomic_store_n(&watch_tid, 0, __ATOMIC_RELAXED);
	assert_int_equal(watch_syncs, 0);
	wait_on_disk(ev, 5500);
	evidence_get_status(ev, &st);
	assert_true(st.blocks > 11);
	assert_int_equal(evidence_close(ev, T0 + 7000000000ull, NULL, err,
					sizeof(err)), 0);
}

/* The writer's first syncs (config copies, manifest, names) fail: the
 * session opens, its recording stops at line 0 with the error, every
 * frame counts as not recorded, and the bundle still closes and verifies
 * as a stopped recording. */
static void test_writer_begin_fails(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct bundle_verify_result r;
	struct frame f;
	char err[256], dir[512];

	fail_dir_fsync = true;
	struct evidence *ev = open_session(fx, T0);
	wait_stopped(ev);
	fail_dir_fsync = false;
	make_frame(&f, 0);
	assert_int_equal(evidence_frame(ev, &f, "vcan0"), 0);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.not_recorded, 1);
	assert_non_null(strstr(st.error, strerror(EIO)));
	assert_int_equal(evidence_close(ev, T0 + 1000000000ull, NULL, err,
					sizeof(err)), 0);
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "closed");
	assert_int_equal(r.lines, 0);
	assert_true(r.incomplete);
}

/* A disk slower than the frames: the loop waits for the writer (counted,
 * and a writer_stall event) and loses no frame, and a close started while
 * megabytes still wait drains them first, so the close record and the
 * manifest cover every frame. */
static void test_writer_slow_disk(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct bundle_verify_result r;
	struct evidence_closing *c;
	char err[256], dir[512];
	const uint64_t n = 200000; /* 9 MB: twice the writer's queue */

	io.slow_ms = 200;
	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, n);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_true(st.recording);
	assert_int_equal(st.frames, n);
	assert_int_equal(st.not_recorded, 0);
	assert_true(st.writer_stalls > 0);
	assert_true(st.frames_on_disk < n); /* the close has work left */
	assert_int_equal(evidence_close_begin(ev, T0 + n * 1000000ull, NULL, &c,
					      err, sizeof(err)), 0);
	assert_non_null(c);
	assert_int_equal(evidence_close_end(c, err, sizeof(err)), 0);
	assert_int_equal(verify_dir(dir, &r), 0);
	assert_string_equal(r.status, "closed");
	assert_int_equal(r.lines, n);
	assert_int_equal(r.blocks, n / 1000);
	assert_int_equal(r.warns, 0);
	assert_file_has(dir, "events.jsonl", "\"type\":\"writer_stall\",\"waits\":");
}

/* A write error that the writer meets after the loop has numbered more
 * lines, at each of its four calls: the recording stops at the last block
 * whose chain line reached the disk; the lines numbered after it are
 * counted as not recorded, exactly, in the status, the manifest, the
 * recording_stopped event and verify's WARN; a violation that cited such
 * a line is kept (it names a line beyond chain.lines). */
static void test_writer_error(void **state)
{
	static const struct {
		const char *file;
		char op;
	} cases[] = {
		{"frames.log", 'w'},
		{"frames.log", 's'},
		{"frames.chain", 'w'},
		{"frames.chain", 's'},
	};
	struct fx *fx = *state;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct evidence_status st;
		struct bundle_verify_result r;
		struct frame f;
		char err[256], dir[512], want[256];
		uint64_t numbered = 0;

		struct evidence *ev = open_session(fx, T0 + k * 100000000000ull);
		evidence_get_status(ev, &st);
		snprintf(dir, sizeof(dir), "%s", st.dir);
		record(ev, 0, 3000);
		wait_on_disk(ev, 3000);
		io.fail_op = cases[k].op;
		io.fail_file = cases[k].file; /* the disk is full from here */
		for (uint64_t i = 3000; i < 5500; i++) {
			make_frame(&f, i);
			uint64_t ln = evidence_frame(ev, &f, "vcan0");
			assert_true(ln == 0 || ln == i + 1);
			numbered += ln != 0;
		}
		assert_true(numbered >= 1000); /* block 4 at least */
		evidence_violation(ev, "{\"rule\":\"r\",\"lines\":[3500,3501]}");
		wait_stopped(ev);
		evidence_get_status(ev, &st);
		assert_int_equal(st.frames, 3000);
		assert_int_equal(st.frames_on_disk, 3000);
		assert_int_equal(st.blocks, 3);
		assert_int_equal(st.not_recorded, 2500);
		assert_non_null(strstr(st.error, "No space left on device"));
		make_frame(&f, 5500);
		assert_int_equal(evidence_frame(ev, &f, "vcan0"), 0);
		io.fail_file = NULL;
		assert_int_equal(evidence_close(ev, T0 + 9000000000ull, NULL, err,
						sizeof(err)), 0);

		struct notes notes = {0};
		struct bundle_verify_opts o = {.note = collect_note, .ctx = &notes};
		assert_int_equal(bundle_verify(dir, &o, &r), 0);
		assert_string_equal(r.status, "closed");
		assert_int_equal(r.lines, 3000);
		assert_int_equal(r.tail_bytes, 0); /* cut back to block 3 */
		assert_true(r.incomplete);
		snprintf(want, sizeof(want),
			 "WARN recording stopped at line 3000, 2501 frames not "
			 "recorded (%s: No space left on device)",
			 cases[k].file);
		if (!strstr(notes.text, want))
			fail_msg("%s %c: verify notes: %s", cases[k].file,
				 cases[k].op, notes.text);
		assert_file_has(dir, "manifest.json", "\"not_recorded\": 2501,");
		assert_file_has(dir, "manifest.json", "\"frames\": 3000,");
		/* stopped where frame 3001 (t = 3 s) would have been */
		assert_file_has(dir, "events.jsonl",
				"{\"t\":1764390003.000000,\"type\":\"recording_stopped\"");
		assert_file_has(dir, "events.jsonl",
				"\"last_line\":3000,\"last_block\":3}");
		assert_file_has(dir, "violations.jsonl", "\"lines\":[3500,3501]");
	}
}

/* A write error that only the close's drain meets: the close reports the
 * frames it lost, which the status of the closing session did not know
 * yet, so that the daemon's frames_not_recorded stays exact. */
static void test_writer_error_in_close(void **state)
{
	struct fx *fx = *state;
	struct evidence_status st;
	struct evidence_closing *c;
	char err[256];

	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 3000);
	wait_on_disk(ev, 3000);
	io.slow_ms = 300; /* the next sync fails, late */
	io.fail_op = 's';
	io.fail_file = "frames.log";
	record(ev, 3000, 2500);
	evidence_get_status(ev, &st);
	assert_int_equal(st.not_recorded, 0);
	assert_int_equal(evidence_close_begin(ev, T0 + 9000000000ull, NULL, &c,
					      err, sizeof(err)), 0);
	assert_non_null(c);
	assert_true(evidence_close_not_recorded(c) <= 2500);
	while (!evidence_close_done(c)) {
		struct timespec d = {0, 10000000l};
		nanosleep(&d, NULL);
	}
	assert_int_equal(evidence_close_not_recorded(c), 2500);
	io.fail_file = NULL;
	assert_int_equal(evidence_close_end(c, err, sizeof(err)), 0);
}

static void write_hex_key(const char *path, const uint8_t *k, size_t n)
{
	char hex[200];
	bundle_hex(k, n, hex);
	strcat(hex, "\n");
	write_text(path, hex);
}

static void test_signature(void **state)
{
	struct fx *fx = *state;
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	char kpath[400], ppath[400], p2path[400], err[256], dir[512], path[700];
	struct bundle_verify_result r;
	struct evidence_status st;

	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	snprintf(kpath, sizeof(kpath), "%s/k.key", fx->tmp);
	snprintf(ppath, sizeof(ppath), "%s/k.pub", fx->tmp);
	snprintf(p2path, sizeof(p2path), "%s/other.pub", fx->tmp);
	write_hex_key(kpath, sk, 64);
	write_hex_key(ppath, pk, 32);
	write_hex_key(p2path, pk2, 32);
	fx->cfg->evidence.sign_key = strdup(kpath);

	struct evidence *ev = open_session(fx, T0);
	record(ev, 0, 1200);
	evidence_get_status(ev, &st);
	snprintf(dir, sizeof(dir), "%s", st.dir);
	assert_int_equal(evidence_close(ev, T0 + 2000000000ull, NULL, err, sizeof(err)), 0);

	struct bundle_verify_opts o = {.pubkey_path = ppath};
	assert_int_equal(bundle_verify(dir, &o, &r), 0);
	assert_true(r.sig_ok);
	assert_non_null(strstr(r.summary, "signature OK"));
	assert_int_equal(bundle_verify(dir, NULL, &r), 0);
	assert_true(r.sig_present);
	assert_non_null(strstr(r.summary, "signature present, not checked"));
	o.pubkey_path = p2path;
	assert_int_equal(bundle_verify(dir, &o, &r), 1);
	assert_non_null(strstr(r.first_fail, "manifest.sig: signature does not verify"));
	/* a consistent rewrite of the manifest still breaks the signature */
	o.pubkey_path = ppath;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	FILE *fp = fopen(path, "a");
	fputs(" ", fp);
	fclose(fp);
	assert_int_equal(bundle_verify(dir, &o, &r), 1);
	o.pubkey_path = "/nonexistent.pub";
	assert_int_equal(bundle_verify(dir, &o, &r), 2);
	/* a bad key file fails evidence_open, before recording anything */
	write_text(kpath, "zz\n");
	assert_null(evidence_open(fx->cfg, NULL, T0, err, sizeof(err)));
	assert_non_null(strstr(err, "sign_key"));
}

static int crash_at, renames;

static int crash_hook(const char *dir, const char *name)
{
	(void)dir;
	(void)name;
	return ++renames >= crash_at; /* dead from then on */
}

static bool has_leftover(const char *dir)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd),
		 "ls -A '%s' | grep -q -e '\\.tmp$' -e '^\\.reserve$'", dir);
	return system(cmd) == 0;
}

/* A crash at each rename of a signed close (verdicts, manifest, report,
 * signature, manifest again): the next session's recovery finishes the
 * close or marks the bundle interrupted, signs it, and leaves no
 * leftovers; before recovery, verify names them. */
static void test_crash_while_closing(void **state)
{
	struct fx *fx = *state;
	uint8_t pk[32], sk[64];
	char kpath[400], ppath[400], err[256], dir[512], path[700];
	struct bundle_verify_result r;
	struct evidence_status st;
	uint64_t t = T0;

	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	snprintf(kpath, sizeof(kpath), "%s/k.key", fx->tmp);
	snprintf(ppath, sizeof(ppath), "%s/k.pub", fx->tmp);
	write_hex_key(kpath, sk, 64);
	write_hex_key(ppath, pk, 32);
	fx->cfg->evidence.sign_key = strdup(kpath);
	struct bundle_verify_opts o = {.pubkey_path = ppath};

	for (crash_at = 1;; crash_at++) {
		struct evidence *ev = open_session(fx, t);
		evidence_recovery_wait(ev);
		record(ev, 0, 1200);
		evidence_violation(ev, "{\"rule\":\"r\",\"lines\":[1,2]}");
		evidence_get_status(ev, &st);
		snprintf(dir, sizeof(dir), "%s", st.dir);
		renames = 0;
		bundle_crash_hook = crash_hook;
		int rc = evidence_close(ev, t + 2000000000ull, NULL, err, sizeof(err));
		bundle_crash_hook = NULL;
		t += 10000000000ull;
		if (rc == 0) {
			assert_int_equal(renames, crash_at - 1);
			break;
		}
		assert_non_null(strstr(err, "simulated crash"));
		/* what the crash left is named, and is not a signed bundle */
		assert_true(has_leftover(dir));
		assert_int_not_equal(bundle_verify(dir, &o, &r), 0);

		struct evidence *next = open_session(fx, t);
		evidence_recovery_wait(next);
		assert_int_equal(evidence_close(next, t + 1, NULL, err, sizeof(err)), 0);
		t += 10000000000ull;
		struct notes notes = {0};
		o.note = collect_note;
		o.ctx = &notes;
		/* an interrupted bundle may warn (a close record the crash
		 * left without its manifest); a closed one may not */
		if (bundle_verify(dir, &o, &r) != 0 ||
		    (r.warns && strcmp(r.status, "interrupted")))
			fail_msg("crash at rename %d: %s", crash_at, notes.text);
		o.note = NULL;
		assert_true(r.sig_ok);
		assert_false(has_leftover(dir));
		if (!strcmp(r.status, "closed")) {
			snprintf(path, sizeof(path), "%s/report.html", dir);
			assert_int_equal(access(path, F_OK), 0);
			assert_int_equal(r.lines, 1200);
		} else {
			assert_string_equal(r.status, "interrupted");
		}
	}
	/* verdicts, manifest, report, signature, manifest */
	assert_int_equal(crash_at, 6);
}

static void test_meta_overrides(void **state)
{
	struct fx *fx = *state;
	struct evidence_meta meta = {.vin = "OTHERVIN\n", .procedure = "../../x"};
	struct evidence_status st;
	char err[256], path[700];

	struct evidence *ev = evidence_open(fx->cfg, &meta, T0, err, sizeof(err));
	assert_non_null(ev);
	evidence_get_status(ev, &st);
	assert_non_null(strstr(st.dir, "_test_rig_7_.._.._x"));
	snprintf(path, sizeof(path), "%s/manifest.json", st.dir);
	char *mt = slurp(path, NULL);
	assert_non_null(strstr(mt, "\"vin\": \"OTHERVIN?\""));
	free(mt);
	/* two sessions in the same second get distinct directories */
	struct evidence *ev2 = evidence_open(fx->cfg, &meta, T0, err, sizeof(err));
	assert_non_null(ev2);
	struct evidence_status st2;
	evidence_get_status(ev2, &st2);
	assert_string_not_equal(st.dir, st2.dir);
	assert_int_equal(evidence_close(ev2, T0 + 1, NULL, err, sizeof(err)), 0);
	assert_int_equal(evidence_close(ev, T0 + 1, NULL, err, sizeof(err)), 0);
}

static void test_open_errors(void **state)
{
	struct fx *fx = *state;
	char err[256];

	free(fx->cfg->evidence.dir);
	fx->cfg->evidence.dir = strdup("/proc/cannot/create");
	assert_null(evidence_open(fx->cfg, NULL, T0, err, sizeof(err)));
	assert_non_null(strstr(err, "/proc/cannot"));
	/* NULL session: calls are harmless */
	struct frame f;
	make_frame(&f, 0);
	assert_int_equal(evidence_frame(NULL, &f, "vcan0"), 0);
	evidence_tick(NULL, 0);
	evidence_event(NULL, 0, "x", NULL);
}

/* frame_format pads the seconds to 10 digits, so a log of small times (a
 * replay relative to boot) has leading zeros in the chain's T_FIRST/T_LAST:
 * the verifier used to refuse them, so such a bundle never verified. */
static void test_small_times_verify(void **state)
{
	struct fx *fx = *state;
	struct evidence *ev = open_session(fx, 1000000000ull);
	struct evidence_status st;
	struct bundle_verify_result r;
	char err[256];
	struct frame f;

	make_frame(&f, 0);
	f.t_ns = 1000000000ull;
	assert_int_equal(evidence_frame(ev, &f, "vcan0"), 1);
	evidence_get_status(ev, &st);
	assert_int_equal(evidence_close(ev, 2000000000ull, NULL, err, sizeof(err)), 0);
	assert_int_equal(verify_dir(st.dir, &r), 0);
	assert_int_equal(r.lines, 1);
}

/* Recovery at start meets a crashed bundle whose files were replaced by a
 * FIFO (which blocks an open for reading) and a link out of the bundle
 * (which an append would follow): the daemon must start (alarm() turns a
 * hang into a failure) and write nothing through the link. */
static void test_recovery_hostile(void **state)
{
	struct fx *fx = *state;
	char path[700], dir[512], outside[700];
	struct stat sb;

	crash_session(fx, 1500, dir);
	snprintf(path, sizeof(path), "%s/frames.chain", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/frames.log", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(outside, sizeof(outside), "%s/outside.txt", fx->tmp);
	FILE *fp = fopen(outside, "w");
	fputs("not evidence\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(outside, path), 0);

	alarm(20);
	struct evidence *ev = open_session(fx, T0 + 10000000000ull);
	alarm(0);
	assert_non_null(ev);
	assert_int_equal(stat(outside, &sb), 0);
	assert_int_equal(sb.st_size, strlen("not evidence\n"));
	evidence_close(ev, T0 + 11000000000ull, "{\"rules\":[]}", NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_close_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_ms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_names_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_write_dir_fsync_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_times_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_order, io_setup, io_teardown),
		cmocka_unit_test_setup_teardown(test_writer_off_loop, io_setup, io_teardown),
		cmocka_unit_test_setup_teardown(test_writer_begin_fails, io_setup, io_teardown),
		cmocka_unit_test_setup_teardown(test_writer_slow_disk, io_setup, io_teardown),
		cmocka_unit_test_setup_teardown(test_writer_error_in_close, io_setup,
						io_teardown),
		cmocka_unit_test_setup_teardown(test_writer_error, io_setup, io_teardown),
		cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_closing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
