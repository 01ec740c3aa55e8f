/* test_verify.c: every way of tampering with a closed bundle is found and
 * named (bundle_verify, behind `cangate verify`), plus the chain line and
 * JSON readers it stands on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/core/bundle.h"
#include "daemon/core/config.h"
#include "daemon/core/evidence.h"
#include "daemon/core/frame.h"

#define T0 1764390000000000000ull
#define LINE 49 /* every test frame line: "(1764390000.000000) vcan0 100#... R\n" */

struct fx {
	char tmp[256];
	char dir[512];
	char pub[300]; /* the signing key's public half (signed bundles) */
};

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static char *read_all(const char *path, size_t *len)
{
	char err[256];
	char *s = bundle_read_file(path, 1u << 30, len, err, sizeof(err));
	assert_non_null(s);
	return s;
}

static void bpath(struct fx *fx, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", fx->dir, name);
}

static void write_key(const char *path, const uint8_t *key, size_t n)
{
	char hex[2 * 64 + 2];

	bundle_hex(key, n, hex);
	strcat(hex, "\n");
	write_file(path, hex, strlen(hex));
}

static int make_bundle(void **state, bool sign)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char ini[2048], path[512], err[256], signline[600] = "";
	struct config_error ce;
	struct evidence_status st;

	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/test_verify.XXXXXX");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(path, sizeof(path), "%s/dbc", fx->tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dbc/speed.dbc", fx->tmp);
	const char *dbc = "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: A\n\n"
			  "BO_ 256 Speed: 8 A\n SG_ VehSpd : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" A\n";
	write_file(path, dbc, strlen(dbc));
	if (sign) {
		uint8_t pk[crypto_sign_PUBLICKEYBYTES];
		uint8_t sk[crypto_sign_SECRETKEYBYTES];

		assert_true(sodium_init() >= 0);
		crypto_sign_keypair(pk, sk);
		snprintf(path, sizeof(path), "%s/rig.key", fx->tmp);
		write_key(path, sk, sizeof(sk));
		snprintf(fx->pub, sizeof(fx->pub), "%s/rig.pub", fx->tmp);
		write_key(fx->pub, pk, sizeof(pk));
		snprintf(signline, sizeof(signline), "sign_key = %s\n", path);
	}
	snprintf(ini, sizeof(ini),
		 "[gateway]\nname = rig\n\n[bus vehicle]\ninterface = vcan0\n"
		 "dbc = dbc/speed.dbc\n\n[evidence]\ndir = %s/sessions\n"
		 "vin = VIN0123456789\nprocedure = TP\nblock_frames = 1000\n%s",
		 fx->tmp, signline);
	snprintf(path, sizeof(path), "%s/gw.ini", fx->tmp);
	write_file(path, ini, strlen(ini));
	struct config *cfg = config_load(path, &ce);
	assert_non_null(cfg);
	struct evidence *ev = evidence_open(cfg, NULL, T0, err, sizeof(err));
	assert_non_null(ev);
	for (uint64_t i = 0; i < 5000; i++) {
		struct frame f = {.t_ns = T0 + i * 1000000ull, .id = 0x100,
				  .len = 8, .dir = FRAME_DIR_RX};
		f.data[0] = (uint8_t)i;
		f.data[1] = (uint8_t)(i >> 8);
		assert_int_equal(evidence_frame(ev, &f, "vcan0"), i + 1);
	}
	evidence_violation(ev, "{\"rule\":\"r\",\"ref\":null,\"t_start\":1764390001.0,"
			       "\"t_end\":1764390002.0,\"worst\":1,\"margin\":-1,\"lines\":[1001,2000]}");
	evidence_get_status(ev, &st);
	snprintf(fx->dir, sizeof(fx->dir), "%s", st.dir);
	assert_int_equal(evidence_close(ev, T0 + 6000000000ull,
					"{\"rules\":[{\"rule\":\"r\",\"verdict\":\"FAIL\"}]}",
					err, sizeof(err)),
			 0);
	config_free(cfg);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return make_bundle(state, false);
}

static int setup_signed(void **state)
{
	return make_bundle(state, true);
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->tmp);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* ---------------------------------------------------------- tampering */

static void flip_byte(struct fx *fx, const char *name, long off)
{
	char path[700];
	bpath(fx, name, path, sizeof(path));
	int fd = open(path, O_RDWR);
	char c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Replace bytes [off, off+n) of a file with rep (length rn). */
static void splice_file(struct fx *fx, const char *name, size_t off, size_t n,
			const char *rep, size_t rn)
{
	char path[700];
	size_t len;
	bpath(fx, name, path, sizeof(path));
	char *s = read_all(path, &len);
	assert_true(off + n <= len);
	char *o = malloc(len - n + rn + 1);
	memcpy(o, s, off);
	memcpy(o + off, rep, rn);
	memcpy(o + off + rn, s + off + n, len - off - n);
	write_file(path, o, len - n + rn);
	free(o);
	free(s);
}

/* Change one hex digit to another valid one (a bit flip could make it
 * invalid hex, which is a different finding). */
static void flip_hex(struct fx *fx, const char *name, long off)
{
	char path[700];
	bpath(fx, name, path, sizeof(path));
	int fd = open(path, O_RDWR);
	char c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c = c == '0' ? '1' : '0';
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void replace_text(struct fx *fx, const char *name, const char *from,
			 const char *to)
{
	char path[700];
	size_t len;
	bpath(fx, name, path, sizeof(path));
	char *s = read_all(path, &len);
	char *p = strstr(s, from);
	assert_non_null(p);
	size_t off = (size_t)(p - s);
	free(s);
	splice_file(fx, name, off, strlen(from), to, strlen(to));
}

/* Offset of the start of chain line n (1-based) and its length. */
static void chain_line(struct fx *fx, int n, size_t *off, size_t *len)
{
	char path[700];
	size_t l;
	bpath(fx, "frames.chain", path, sizeof(path));
	char *s = read_all(path, &l);
	char *p = s;
	for (int i = 1; i < n; i++)
		p = strchr(p, '\n') + 1;
	*off = (size_t)(p - s);
	*len = (size_t)(strchr(p, '\n') - p) + 1;
	free(s);
}

static void t_flip_block3(struct fx *fx) { flip_byte(fx, "frames.log", 2 * 1000 * LINE + 100); }

static void t_delete_line(struct fx *fx)
{
	splice_file(fx, "frames.log", 2499 * LINE, LINE, "", 0);
}

static void t_swap_lines(struct fx *fx)
{
	char path[700];
	size_t len;
	bpath(fx, "frames.log", path, sizeof(path));
	char *s = read_all(path, &len);
	char a[LINE];
	memcpy(a, s + 9 * LINE, LINE);
	memcpy(s + 9 * LINE, s + 10 * LINE, LINE);
	memcpy(s + 10 * LINE, a, LINE);
	write_file(path, s, len);
	free(s);
}

static void t_swap_blocks(struct fx *fx)
{
	char path[700];
	size_t len, B = 1000 * LINE;
	bpath(fx, "frames.log", path, sizeof(path));
	char *s = read_all(path, &len);
	char *a = malloc(B);
	memcpy(a, s + B, B);
	memcpy(s + B, s + 2 * B, B);
	memcpy(s + 2 * B, a, B);
	write_file(path, s, len);
	free(a);
	free(s);
}

static void t_swap_chain_lines(struct fx *fx)
{
	size_t o2, l2, o3, l3;
	chain_line(fx, 2, &o2, &l2);
	chain_line(fx, 3, &o3, &l3);
	char path[700];
	size_t len;
	bpath(fx, "frames.chain", path, sizeof(path));
	char *s = read_all(path, &len);
	char *tmp = malloc(l2 + l3);
	memcpy(tmp, s + o3, l3);
	memcpy(tmp + l3, s + o2, l2);
	free(s);
	splice_file(fx, "frames.chain", o2, l2 + l3, tmp, l2 + l3);
	free(tmp);
}

static void t_remove_chain_line(struct fx *fx)
{
	size_t o, l;
	chain_line(fx, 3, &o, &l);
	splice_file(fx, "frames.chain", o, l, "", 0);
}

static void t_remove_last_block(struct fx *fx)
{
	size_t o, l;
	chain_line(fx, 5, &o, &l);
	splice_file(fx, "frames.chain", o, l, "", 0);
}

static void t_truncate_log(struct fx *fx)
{
	char path[700];
	bpath(fx, "frames.log", path, sizeof(path));
	assert_int_equal(truncate(path, 4500 * LINE), 0);
}

static void t_append_line(struct fx *fx)
{
	char path[700];
	bpath(fx, "frames.log", path, sizeof(path));
	FILE *fp = fopen(path, "a");
	fputs("(1764390009.000000) vcan0 100#00 R\n", fp);
	fclose(fp);
}

static void t_chain_h(struct fx *fx)
{
	size_t o, l;
	chain_line(fx, 2, &o, &l);
	flip_hex(fx, "frames.chain", (long)(o + l - 3)); /* in H */
}

static void t_chain_digest(struct fx *fx)
{
	size_t o, l;
	chain_line(fx, 4, &o, &l);
	flip_hex(fx, "frames.chain", (long)(o + l - 1 - 65 - 3)); /* in DIGEST */
}

static void t_chain_times(struct fx *fx)
{
	/* block 1's t_last "1764390000.999000" -> .998000 */
	replace_text(fx, "frames.chain", "1764390000.999000", "1764390000.998000");
}

static void t_manifest_vin(struct fx *fx)
{
	replace_text(fx, "manifest.json", "VIN0123456789", "VIN0123456780");
}

/* The header edited and h0 recomputed to match: the chain still ties. */
static void t_manifest_vin_and_h0(struct fx *fx)
{
	char path[700], err[256], oldhex[65], newhex[65];
	size_t len;
	uint8_t h0[32];

	bpath(fx, "manifest.json", path, sizeof(path));
	char *s = read_all(path, &len);
	struct bundle_json *m = bundle_json_parse(s, len, err, sizeof(err));
	assert_non_null(m);
	snprintf(oldhex, sizeof(oldhex), "%s", bundle_json_str(m, "h0"));
	struct bundle_json *h = (struct bundle_json *)bundle_json_get(m, "header");
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->items[i].key, "vin")) {
			free(h->items[i].str);
			h->items[i].str = strdup("VIN0123456780");
		}
	assert_int_equal(bundle_header_h0(h, h0, err, sizeof(err)), 0);
	bundle_hex(h0, 32, newhex);
	bundle_json_free(m);
	free(s);
	replace_text(fx, "manifest.json", "VIN0123456789", "VIN0123456780");
	replace_text(fx, "manifest.json", oldhex, newhex);
}

static void t_verdicts(struct fx *fx) { replace_text(fx, "verdicts.json", "FAIL", "PASS"); }
static void t_violations(struct fx *fx) { replace_text(fx, "violations.jsonl", "[1001,2000]", "[1001,2001]"); }

static void t_delete_events(struct fx *fx)
{
	char path[700];
	bpath(fx, "events.jsonl", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

static void t_dbc_copy(struct fx *fx) { replace_text(fx, "config/dbc/speed.dbc", "0.01", "0.02"); }

static void t_dbc_removed(struct fx *fx)
{
	char path[700];
	bpath(fx, "config/dbc/speed.dbc", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

static void t_manifest_garbage(struct fx *fx) { replace_text(fx, "manifest.json", "{", "{{"); }
static void t_manifest_frames(struct fx *fx) { replace_text(fx, "manifest.json", "\"frames\": 5000", "\"frames\": 4999"); }

static void t_manifest_head(struct fx *fx)
{
	char path[700];
	size_t len;
	bpath(fx, "manifest.json", path, sizeof(path));
	char *s = read_all(path, &len);
	char *p = strstr(s, "\"head\": \"") + 9;
	size_t off = (size_t)(p - s);
	char c = *p == '0' ? '1' : '0';
	free(s);
	splice_file(fx, "manifest.json", off, 1, &c, 1);
}

static void t_report(struct fx *fx) { replace_text(fx, "report.html", "<h1>", "<h1>Approved "); }

static void t_status_open(struct fx *fx)
{
	replace_text(fx, "manifest.json", "\"status\": \"closed\"", "\"status\": \"open\"");
	replace_text(fx, "verdicts.json", "FAIL", "PASS");
}

static void t_extra_file(struct fx *fx)
{
	char path[700];
	bpath(fx, "notes.txt", path, sizeof(path));
	write_file(path, "x", 1);
}

static void t_nothing(struct fx *fx) { (void)fx; }

struct tamper_case {
	const char *name;
	void (*tamper)(struct fx *);
	int rc;
	const char *msg; /* in first_fail, or in summary when rc == 0 */
};

static const struct tamper_case cases[] = {
	{"untouched", t_nothing, 0, "closed: 5000 frames in 5 blocks"},
	{"byte changed", t_flip_block3, 1, "frames.log: block 3 (lines 2001-3000) hash mismatch"},
	{"line removed", t_delete_line, 1, "frames.log: block 3 (lines 2001-3000) hash mismatch"},
	{"lines reordered", t_swap_lines, 1, "frames.log: block 1 (lines 1-1000) hash mismatch"},
	{"blocks swapped", t_swap_blocks, 1, "frames.log: block 2 (lines 1001-2000) hash mismatch"},
	{"chain lines swapped", t_swap_chain_lines, 1, "frames.chain: line 2: block seq 3, expected 2"},
	{"chain line removed", t_remove_chain_line, 1, "frames.chain: line 3: block seq 4, expected 3"},
	{"last block dropped", t_remove_last_block, 1, "frames.chain: line 5: close record seq 6, expected 5"},
	{"log truncated", t_truncate_log, 1, "frames.log: block 5 (lines 4001-5000) truncated"},
	{"line appended", t_append_line, 1, "frames.log: 35 bytes (1 lines) after block 5, line 5000 are not covered"},
	{"chain value edited", t_chain_h, 1, "frames.chain: block 2 (lines 1001-2000) chain value mismatch"},
	{"block digest edited", t_chain_digest, 1, "frames.log: block 4 (lines 3001-4000) hash mismatch"},
	{"block time edited", t_chain_times, 1, "frames.log: block 1 (lines 1-1000): timestamps differ"},
	{"manifest header edited", t_manifest_vin, 1, "manifest.json: header fields edited (h0 differs)"},
	{"manifest header and h0 edited", t_manifest_vin_and_h0, 1, "frames.chain: block 1 (lines 1-1000) chain value mismatch (manifest header or chain edited)"},
	{"verdicts edited", t_verdicts, 1, "manifest.json: sha256 of verdicts.json differs"},
	{"violations edited", t_violations, 1, "manifest.json: sha256 of violations.jsonl differs"},
	{"events removed", t_delete_events, 1, "events.jsonl: missing (listed in manifest.json)"},
	{"DBC copy edited", t_dbc_copy, 1, "config/dbc/speed.dbc: sha256 differs from manifest.json config_files"},
	{"DBC copy removed", t_dbc_removed, 1, "config/dbc/speed.dbc: missing"},
	{"manifest not JSON", t_manifest_garbage, 1, "manifest.json: not a JSON object"},
	{"manifest count edited", t_manifest_frames, 1, "manifest.json: end time, counts, recording or config_files differ from the close record"},
	{"manifest head edited", t_manifest_head, 1, "manifest.json: chain head differs from frames.chain"},
	{"report edited", t_report, 1, "manifest.json: sha256 of report.html differs"},
	{"closed relabelled open", t_status_open, 0, "open (still recording"},
	{"file added", t_extra_file, 0, "closed: 5000 frames"},
};

struct notes {
	char all[8192];
};

static void collect(void *ctx, enum bundle_note kind, const char *msg)
{
	struct notes *n = ctx;
	size_t l = strlen(n->all);
	snprintf(n->all + l, sizeof(n->all) - l, "%d %s\n", (int)kind, msg);
}

static void run_case(void **state, size_t i)
{
	struct fx *fx = *state;
	struct bundle_verify_result r;
	struct notes n = {{0}};
	struct bundle_verify_opts o = {.note = collect, .ctx = &n};

	cases[i].tamper(fx);
	int rc = bundle_verify(fx->dir, &o, &r);
	if (rc != cases[i].rc)
		fail_msg("%s: rc %d, expected %d; first: %s\n%s", cases[i].name,
			 rc, cases[i].rc, r.first_fail, n.all);
	const char *where = rc ? r.first_fail : r.summary;
	if (!strstr(where, cases[i].msg))
		fail_msg("%s: got '%s', expected '%s'\n%s", cases[i].name, where,
			 cases[i].msg, n.all);
	if (i == 0)
		assert_int_equal(r.warns, 0);
	if (cases[i].tamper == t_extra_file)
		assert_non_null(strstr(n.all, "1 notes.txt: not covered by manifest.json"));
	if (cases[i].tamper == t_status_open)
		assert_non_null(strstr(n.all, "verdicts.json: present in an open bundle"));
}

#define CASE(i)                                                                \
	static void test_case_##i(void **state) { run_case(state, i); }
CASE(0) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
CASE(17) CASE(18) CASE(19) CASE(20) CASE(21) CASE(22) CASE(23) CASE(24)
CASE(25)

static void test_not_a_bundle(void **state)
{
	struct fx *fx = *state;
	struct bundle_verify_result r;
	char path[700];

	assert_int_equal(bundle_verify("/nonexistent/bundle", NULL, &r), 2);
	assert_non_null(strstr(r.first_fail, "manifest.json"));
	bpath(fx, "frames.chain", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bundle_verify(fx->dir, NULL, &r), 1);
	assert_non_null(strstr(r.first_fail, "frames.chain: unreadable"));
}

/* ------------------------------------------------------------ attacks */

/*
 * Attacks on a sealed bundle beyond editing bytes: unbound manifest fields
 * (issue 10 item 7), signature downgrade (8) and hostile files (10). Each
 * row: the attack, the bundle it needs (signed or not), how verify is run,
 * and the verdict. verify runs under alarm(): a hang (FIFO) or a spin
 * (/dev/zero) fails the test instead of stalling it.
 */
enum { A_PUBKEY = 1, A_REQUIRE = 2 };

static void replace_all(struct fx *fx, const char *name, const char *from,
			const char *to)
{
	char path[700];
	size_t len;

	bpath(fx, name, path, sizeof(path));
	char *s = read_all(path, &len);
	bool found = strstr(s, from) != NULL;
	free(s);
	assert_true(found);
	replace_text(fx, name, from, to);
}

/* Replace name in the bundle with a symbolic link to target; with
 * keep_content, the target is a copy of the file (same hash). */
static void link_instead(struct fx *fx, const char *name, const char *target,
			 bool keep_content)
{
	char path[700], copy[700];

	bpath(fx, name, path, sizeof(path));
	if (keep_content) {
		size_t len;
		char *s = read_all(path, &len);

		snprintf(copy, sizeof(copy), "%s/copy-%s", fx->tmp, name);
		write_file(copy, s, len);
		free(s);
		target = copy;
	}
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
}

static void fifo_instead(struct fx *fx, const char *name)
{
	char path[700];

	bpath(fx, name, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
}

static void a_end_time(struct fx *fx)
{
	/* end_ns and end both moved one second later, consistently */
	replace_all(fx, "manifest.json", "\"end_ns\": 1764390006", "\"end_ns\": 1764390007");
	replace_all(fx, "manifest.json", "T04:20:06.", "T04:20:07.");
}

static void a_recording(struct fx *fx) { replace_all(fx, "manifest.json", "\"stopped\": false", "\"stopped\": true"); }
static void a_count_rx(struct fx *fx) { replace_all(fx, "manifest.json", "\"rx\": 5000", "\"rx\": 4990"); }
static void a_config_source(struct fx *fx) { replace_all(fx, "manifest.json", "\"source\":\"/tmp/", "\"source\":\"/srv/"); }

static void a_close_record_removed(struct fx *fx)
{
	size_t o, l;

	chain_line(fx, 6, &o, &l);
	splice_file(fx, "frames.chain", o, l, "", 0);
	/* and the manifest's head set back to the last block's H */
	char path[700], head[65];
	size_t len;
	bpath(fx, "frames.chain", path, sizeof(path));
	char *s = read_all(path, &len);
	memcpy(head, s + len - 65, 64);
	head[64] = '\0';
	free(s);
	bpath(fx, "manifest.json", path, sizeof(path));
	s = read_all(path, &len);
	char *p = strstr(s, "\"head\": \"") + 9;
	size_t off = (size_t)(p - s);
	free(s);
	splice_file(fx, "manifest.json", off, 64, head, 64);
}

static void a_count_violations(struct fx *fx) { replace_all(fx, "manifest.json", "\"violations\": 1", "\"violations\": 0"); }
static void a_count_blocks(struct fx *fx) { replace_all(fx, "manifest.json", "\"blocks\": 5,", "\"blocks\": 4,"); }
static void a_dup_key(struct fx *fx) { replace_all(fx, "manifest.json", "\"status\": \"closed\"", "\"status\": \"closed\", \"status\": \"open\""); }
static void a_dup_key_header(struct fx *fx) { replace_all(fx, "manifest.json", "\"vin\": \"VIN0123456789\"", "\"vin\": \"VIN0123456789\", \"vin\": \"OTHER\""); }

static void a_size(struct fx *fx)
{
	char path[700];
	size_t len;

	bpath(fx, "manifest.json", path, sizeof(path));
	char *s = read_all(path, &len);
	char *p = strstr(strstr(s, "\"verdicts.json\""), "\"bytes\": ") + 9;
	size_t off = (size_t)(p - s);
	char c = *p == '9' ? '8' : (char)(*p + 1);
	free(s);
	splice_file(fx, "manifest.json", off, 1, &c, 1);
}

static void a_sig_deleted(struct fx *fx)
{
	char path[700];

	bpath(fx, "manifest.sig", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

static void a_sig_kept_manifest_edited(struct fx *fx) { a_count_violations(fx); }
static void a_symlink(struct fx *fx) { link_instead(fx, "events.jsonl", NULL, true); }
static void a_dev_zero(struct fx *fx) { link_instead(fx, "events.jsonl", "/dev/zero", false); }
static void a_fifo(struct fx *fx) { fifo_instead(fx, "violations.jsonl"); }
static void a_fifo_log(struct fx *fx) { fifo_instead(fx, "frames.log"); }
static void a_fifo_manifest(struct fx *fx) { fifo_instead(fx, "manifest.json"); }
static void a_config_dir_link(struct fx *fx)
{
	char path[700], target[700], cmd[1600];

	bpath(fx, "config/dbc", path, sizeof(path));
	snprintf(target, sizeof(target), "%s/dbc-elsewhere", fx->tmp);
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s'", path, target);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(symlink(target, path), 0);
}

static void a_stray_tmp(struct fx *fx)
{
	char path[700];

	bpath(fx, "manifest.json.tmp", path, sizeof(path));
	write_file(path, "{}", 2);
}

static void a_deep_extra(struct fx *fx)
{
	char path[700];

	bpath(fx, "config/a", path, sizeof(path));
	assert_int_equal(mkdir(path, 0755), 0);
	bpath(fx, "config/a/b", path, sizeof(path));
	assert_int_equal(mkdir(path, 0755), 0);
	bpath(fx, "config/a/b/notes.txt", path, sizeof(path));
	write_file(path, "x", 1);
}

static void a_very_deep(struct fx *fx)
{
	char path[700];
	int n = snprintf(path, sizeof(path), "%s", fx->dir);

	for (int i = 0; i < 40; i++) {
		n += snprintf(path + n, sizeof(path) - (size_t)n, "/d");
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path + n, sizeof(path) - (size_t)n, "/hidden");
	write_file(path, "x", 1);
}

struct attack {
	const char *name;
	bool signed_bundle;
	void (*attack)(struct fx *);
	int how; /* A_PUBKEY, A_REQUIRE */
	int rc;
	const char *msg; /* in first_fail (rc 1, 2), or in the notes (rc 0) */
};

static const struct attack attacks[] = {
	/* 7: unbound manifest fields */
	{"end time edited", false, a_end_time, 0, 1, "manifest.json: end time, counts, recording or config_files differ from the close record"},
	{"recording.stopped edited", false, a_recording, 0, 1, "differ from the close record"},
	{"counts.rx edited", false, a_count_rx, 0, 1, "differ from the close record"},
	{"config source edited", false, a_config_source, 0, 1, "differ from the close record"},
	{"close record removed, head rewound", false, a_close_record_removed, 0, 1, "frames.chain: no close record (removed?)"},
	{"counts.violations edited", false, a_count_violations, 0, 1, "manifest.json: counts.violations says 0, violations.jsonl holds 1"},
	{"counts.blocks edited", false, a_count_blocks, 0, 1, "manifest.json: chain says 4 blocks"},
	{"file size edited", false, a_size, 0, 1, "manifest.json: size of verdicts.json differs"},
	{"duplicate key (status)", false, a_dup_key, 0, 1, "manifest.json: not a JSON object (byte"},
	{"duplicate key (header vin)", false, a_dup_key_header, 0, 1, "member \"vin\" repeated"},
	/* 8: signature downgrade */
	{"signed, untouched, --pubkey", true, t_nothing, A_PUBKEY, 0, "signature OK"},
	{"manifest.sig deleted", true, a_sig_deleted, 0, 1, "manifest.sig: missing, but the sealed config names sign_key"},
	{"manifest.sig deleted, --pubkey", true, a_sig_deleted, A_PUBKEY, 1, "manifest.sig: missing, but the sealed config names sign_key"},
	{"signed, manifest edited, --pubkey", true, a_sig_kept_manifest_edited, A_PUBKEY, 1, "manifest.json: counts.violations says 0"},
	{"unsigned, --require-signature", false, t_nothing, A_REQUIRE, 1, "manifest.sig: a signature is required"},
	{"unsigned, --require-signature --pubkey", false, t_nothing, A_REQUIRE | A_PUBKEY, 1, "manifest.sig: missing (a trusted key was given)"},
	/* 10: hostile files */
	{"symlink to a same-content copy", false, a_symlink, 0, 1, "events.jsonl: a symbolic link"},
	{"symlink to /dev/zero", false, a_dev_zero, 0, 1, "events.jsonl: a symbolic link"},
	{"FIFO instead of violations.jsonl", false, a_fifo, 0, 1, "violations.jsonl: not a regular file"},
	{"FIFO instead of frames.log", false, a_fifo_log, 0, 1, "frames.log"},
	{"FIFO instead of manifest.json", false, a_fifo_manifest, 0, 2, "manifest.json: not a regular file"},
	{"config/dbc a link to a directory", false, a_config_dir_link, 0, 1, "config/dbc: a symbolic link"},
	{"stray manifest.json.tmp", false, a_stray_tmp, 0, 0, "manifest.json.tmp: leftover temporary file"},
	{"extra file deep in config/", false, a_deep_extra, 0, 0, "config/a/b/notes.txt: not covered by manifest.json"},
	{"file below 40 directories", false, a_very_deep, 0, 1, "directories nested deeper than 32"},
};

static void run_attack(void **state, size_t i)
{
	struct fx *fx = *state;
	const struct attack *a = &attacks[i];
	struct bundle_verify_result r;
	struct notes n = {{0}};
	struct bundle_verify_opts o = {.note = collect, .ctx = &n};

	if (a->signed_bundle != (fx->pub[0] != 0))
		fail_msg("%s: wrong fixture", a->name);
	if (a->how & A_PUBKEY)
		o.pubkey_path = fx->pub[0] ? fx->pub : "/nonexistent.pub";
	o.require_signature = a->how & A_REQUIRE;
	if (a->how & A_PUBKEY && !fx->pub[0]) {
		/* a trusted key exists, the bundle is unsigned */
		uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

		snprintf(fx->pub, sizeof(fx->pub), "%s/other.pub", fx->tmp);
		crypto_sign_keypair(pk, sk);
		write_key(fx->pub, pk, sizeof(pk));
		o.pubkey_path = fx->pub;
	}
	a->attack(fx);
	alarm(20); /* a FIFO must not block verify, /dev/zero not spin it */
	int rc = bundle_verify(fx->dir, &o, &r);
	alarm(0);
	if (rc != a->rc)
		fail_msg("%s: rc %d, expected %d; first: %s\n%s", a->name, rc,
			 a->rc, r.first_fail, n.all);
	/* any finding, not only the first: several checks may catch it */
	const char *where = rc == 2 ? r.first_fail : n.all;
	if (rc == 0 && a->how & A_PUBKEY)
		where = r.summary;
	if (!strstr(where, a->msg))
		fail_msg("%s: got '%s', expected '%s'\n%s", a->name, where,
			 a->msg, n.all);
}

#define ATTACK(i)                                                              \
	static void test_attack_##i(void **state) { run_attack(state, i); }
ATTACK(0) ATTACK(1) ATTACK(2) ATTACK(3) ATTACK(4) ATTACK(5) ATTACK(6)
ATTACK(7) ATTACK(8) ATTACK(9) ATTACK(10) ATTACK(11) ATTACK(12) ATTACK(13)
ATTACK(14) ATTACK(15) ATTACK(16) ATTACK(17) ATTACK(18) ATTACK(19)
ATTACK(20) ATTACK(21) ATTACK(22) ATTACK(23) ATTACK(24)
#define N_ATTACKS 25

/* ------------------------------------------------------ chain and JSON */

static void test_chain_line_roundtrip(void **state)
{
	(void)state;
	struct bundle_block b = {.seq = 7, .segment = 2, .first = 6001,
				 .last = 7000, .offset = 123, .length = 49000};
	struct bundle_block p;
	uint8_t prev[32] = {1};
	char line[BUNDLE_CHAIN_LINE_MAX], err[128];

	snprintf(b.t_first, sizeof(b.t_first), "1764390006.000000");
	snprintf(b.t_last, sizeof(b.t_last), "1764390006.999000");
	memset(b.digest, 0xab, 32);
	size_t n = bundle_chain_link(prev, &b, line, sizeof(line));
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_memory_equal(line, "7 2 6001 7000 1764390006.000000 1764390006.999000 123 49000 abab", 64);
	assert_int_equal(bundle_chain_parse(line, n - 1, &p, err, sizeof(err)), 0);
	assert_int_equal(p.seq, 7);
	assert_int_equal(p.segment, 2);
	assert_int_equal(p.last, 7000);
	assert_memory_equal(p.h, b.h, 32);
	assert_string_equal(p.t_last, b.t_last);
	/* H covers the previous value: a different prev gives a different H */
	struct bundle_block c = b;
	prev[0] = 2;
	bundle_chain_link(prev, &c, line, sizeof(line));
	assert_memory_not_equal(c.h, b.h, 32);

	static const char *const bad[] = {
		"", "1 0 1 1 1.000000 1.000000 0 1",
		"x 0 1 1 1.000000 1.000000 0 1 " "00000000000000000000000000000000" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000",
		"01 0 1 1 1.000000 1.000000 0 1 " "00000000000000000000000000000000" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000",
		"1 0 1 1 1.0000 1.000000 0 1 " "00000000000000000000000000000000" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000",
		"1 0 1 1 1.000000 1.000000 0 1 " "0000000000000000000000000000000g" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000",
		"1 0 1 1 1.000000 1.000000 0 1 " "00000000000000000000000000000000" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000 ",
		"1 0 1 1 1.000000 1.000000 0 99999999999999999999999 " "00000000000000000000000000000000" "00000000000000000000000000000000 " "00000000000000000000000000000000" "00000000000000000000000000000000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (bundle_chain_parse(bad[i], strlen(bad[i]), &p, err, sizeof(err)) == 0)
			fail_msg("accepted bad chain line %zu", i);
}

static void test_json_reader(void **state)
{
	(void)state;
	char err[128];
	const char *ok = "{\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\","
			 " \"n\": 18446744073709551615, \"o\": {}}";
	struct bundle_json *j = bundle_json_parse(ok, strlen(ok), err, sizeof(err));
	assert_non_null(j);
	assert_string_equal(bundle_json_str(j, "s"), "x\xc3\xa9\xf0\x9f\x98\x80\n\"");
	uint64_t u;
	assert_int_equal(bundle_json_u64(j, "n", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_true(bundle_json_get(j, "a")->items[1].num == -2500);
	struct bundle_buf b = {0};
	bundle_buf_json(&b, bundle_json_get(j, "s"));
	assert_string_equal(b.p, "\"x\xc3\xa9\xf0\x9f\x98\x80\\u000a\\\"\"");
	bundle_buf_free(&b);
	bundle_json_free(j);

	static const char *const bad[] = {
		"", "{", "{\"a\" 1}", "[1,]", "\"\\x\"", "\"abc", "tru", "{\"a\":1}x",
		"\"\\ud800\"", "\"\\u0000\"", "\"a\nb\"", "-", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = 0;
		j = bundle_json_parse(bad[i], strlen(bad[i]), err, sizeof(err));
		if (j)
			fail_msg("accepted bad JSON %zu", i);
		assert_non_null(strstr(err, "byte "));
	}
}

int main(void)
{
#define T(i) cmocka_unit_test_setup_teardown(test_case_##i, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(0), T(1), T(2), T(3), T(4), T(5), T(6), T(7), T(8), T(9),
		T(10), T(11), T(12), T(13), T(14), T(15), T(16), T(17), T(18),
		T(19), T(20), T(21), T(22), T(23), T(24), T(25),
		cmocka_unit_test_setup_teardown(test_not_a_bundle, setup, teardown),
#define A(i) cmocka_unit_test_setup_teardown(test_attack_##i,                \
		attacks[i].signed_bundle ? setup_signed : setup, teardown)
		A(0), A(1), A(2), A(3), A(4), A(5), A(6), A(7), A(8), A(9),
		A(10), A(11), A(12), A(13), A(14), A(15), A(16), A(17), A(18),
		A(19), A(20), A(21), A(22), A(23), A(24),
		cmocka_unit_test(test_chain_line_roundtrip),
		cmocka_unit_test(test_json_reader),
	};
	assert_int_equal(sizeof(cases) / sizeof(*cases), 26);
	assert_int_equal(sizeof(attacks) / sizeof(*attacks), N_ATTACKS);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
