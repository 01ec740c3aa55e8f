/*
 * cmd_decode.c: `cangate decode --dbc FILE[,FILE..] [--bus NAME=FILE]
 * [--all] [--choices] [LOG...|-]`: logs in (candump -l, Vector ASC or BLF,
 * told apart by content: logread.h), one JSON object per frame out (see
 * DESIGN.md). ASC and BLF frames carry their channel number as "bus".
 *
 * DBC choice per frame: the DBCs given for its interface with --bus, in
 * order, then those given with --dbc, in order; the first that knows the ID
 * wins. Logs are read in large blocks and split with memchr, and output is
 * staged in the JSON writer, so the tool keeps up with a disk: millions of
 * lines per second to /dev/null.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/logscan.h"
#include "daemon/core/frame.h"
#include "daemon/core/json.h"
#include "daemon/core/logread.h"
#include "dbc/dbc.h"

#define DECODE_MAX_DBCS 64
#define DECODE_MAX_BUSES 64

/* Signal names pre-rendered as JSON keys: escaping a name once instead of
 * once per frame is a good part of the output cost. */
struct decode_key {
	char *text; /* "name" with quotes, escaped */
	size_t len;
	/* The last value printed for this signal: real buses repeat most
	 * values frame after frame, and phys is a function of raw. */
	bool has_last;
	uint8_t last_len;
	uint64_t last_raw;
	char last[JSON_DOUBLE_MAX];
};

struct decode_dbc {
	const char *path;
	struct dbc *db;
	struct decode_key *keys; /* all signals, message after message */
	size_t *first_key;       /* per message: index of its first signal */
};

struct decode_bus {
	char name[FRAME_IFNAME_MAX];
	/* DBCs that apply to this interface, in lookup order. */
	struct decode_dbc *dbs[DECODE_MAX_DBCS];
	size_t n_dbs;
	bool from_option; /* named by --bus */
};

struct decode {
	struct decode_dbc files[DECODE_MAX_DBCS];
	size_t n_files;
	struct decode_dbc *global[DECODE_MAX_DBCS]; /* --dbc */
	size_t n_global;
	struct decode_bus buses[DECODE_MAX_BUSES];
	size_t n_buses;
	struct decode_bus any; /* interfaces not named by --bus */
	bool all, choices;
	struct dbc_decoded *vals;
	size_t cap;
	struct json out;
	bool bad_line;
	struct logscan scan;  /* non-frame lines of the current file */
	uint64_t file_frames; /* frame lines of the current file */
};

/* A constant member name, no escaping needed. */
#define KEY(j, name) json_key_raw((j), "\"" name "\"", sizeof(name) + 1)

static void decode_usage(void)
{
	fprintf(stderr, "usage: cangate decode --dbc FILE[,FILE..] "
			"[--bus NAME=FILE[,FILE..]] [--all] [--choices] "
			"[LOG...|-]\n");
}

static int decode_make_keys(struct decode_dbc *f)
{
	const struct dbc *db = f->db;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < db->n_messages; i++)
		total += db->messages[i].n_signals;
	f->keys = calloc(total ? total : 1, sizeof(*f->keys));
	f->first_key = calloc(db->n_messages ? db->n_messages : 1,
			      sizeof(*f->first_key));
	if (!f->keys || !f->first_key)
		return -1;
	for (size_t i = 0; i < db->n_messages; i++) {
		f->first_key[i] = k;
		for (size_t s = 0; s < db->messages[i].n_signals; s++, k++) {
			const char *name = db->messages[i].signals[s].name;
			size_t n = json_escape(name, strlen(name), NULL, 0);

			f->keys[k].text = malloc(n + 1);
			if (!f->keys[k].text)
				return -1;
			json_escape(name, strlen(name), f->keys[k].text, n + 1);
			f->keys[k].len = n;
		}
	}
	return 0;
}

static void decode_free_keys(struct decode_dbc *f)
{
	size_t total = 0;

	if (f->keys && f->first_key)
		for (size_t i = 0; i < f->db->n_messages; i++)
			total += f->db->messages[i].n_signals;
	for (size_t k = 0; f->keys && k < total; k++)
		free(f->keys[k].text);
	free(f->keys);
	free(f->first_key);
}

/* Parse path once even when named several times. */
static struct decode_dbc *decode_load(struct decode *d, const char *path)
{
	struct dbc_diag err = {{0, 0}, NULL};
	struct decode_dbc *f;
	struct dbc *db;

	for (size_t i = 0; i < d->n_files; i++)
		if (!strcmp(d->files[i].path, path))
			return &d->files[i];
	if (d->n_files == DECODE_MAX_DBCS) {
		fprintf(stderr, "cangate decode: more than %d DBC files\n",
			DECODE_MAX_DBCS);
		return NULL;
	}
	db = dbc_parse_file(path, &err);
	if (!db) {
		if (err.loc.line)
			fprintf(stderr, "%s:%u:%u: error: %s\n", path,
				err.loc.line, err.loc.col,
				err.msg ? err.msg : "cannot parse");
		else
			fprintf(stderr, "%s: error: %s\n", path,
				err.msg ? err.msg : "cannot read");
		dbc_diag_fini(&err);
		return NULL;
	}
	f = &d->files[d->n_files++];
	f->path = path;
	f->db = db;
	if (decode_make_keys(f) < 0) {
		perror("cangate decode");
		return NULL;
	}
	for (size_t i = 0; i < db->n_messages; i++)
		if (db->messages[i].n_signals > d->cap)
			d->cap = db->messages[i].n_signals;
	return f;
}

/* Load each file of a comma-separated list into dbs[]. */
static int decode_load_list(struct decode *d, char *list,
			    struct decode_dbc **dbs, size_t *n)
{
	char *save = NULL;

	for (char *p = strtok_r(list, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		struct decode_dbc *db = decode_load(d, p);

		if (!db)
			return -1;
		if (*n == DECODE_MAX_DBCS) {
			fprintf(stderr, "cangate decode: more than %d DBC files\n",
				DECODE_MAX_DBCS);
			return -1;
		}
		dbs[(*n)++] = db;
	}
	return 0;
}

static struct decode_bus *decode_bus_named(struct decode *d, const char *name)
{
	for (size_t i = 0; i < d->n_buses; i++)
		if (!strcmp(d->buses[i].name, name))
			return &d->buses[i];
	return NULL;
}

/* --bus DBCs come first; the --dbc list follows for every interface. */
static void decode_finish_buses(struct decode *d)
{
	for (size_t i = 0; i < d->n_buses; i++) {
		struct decode_bus *b = &d->buses[i];

		for (size_t k = 0; k < d->n_global && b->n_dbs < DECODE_MAX_DBCS;
		     k++)
			b->dbs[b->n_dbs++] = d->global[k];
	}
	memcpy(d->any.dbs, d->global, d->n_global * sizeof(d->global[0]));
	d->any.n_dbs = d->n_global;
}

static const struct dbc_message *decode_lookup(const struct decode_bus *b,
					       const struct frame *f,
					       const struct decode_dbc **in)
{
	for (size_t i = 0; i < b->n_dbs; i++) {
		const struct dbc_message *m =
			dbc_lookup(b->dbs[i]->db, f->id, f->ext);

		if (m) {
			*in = b->dbs[i];
			return m;
		}
	}
	return NULL;
}

/* "t": seconds and exactly the log's fractional digits. */
static void decode_time(struct json *j, const struct frame *f, unsigned digits)
{
	char b[40];
	size_t n = json_format_uint(f->t_ns / 1000000000u, b);
	uint64_t frac = f->t_ns % 1000000000u;

	if (digits == 6)
		frac /= 1000;
	b[n++] = '.';
	for (unsigned i = digits; i-- > 0;) {
		b[n + i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	n += digits;
	KEY(j, "t");
	json_raw(j, b, n);
}

static void decode_frame(struct decode *d, const struct logread_rec *rec)
{
	const struct frame *f = &rec->f;
	const char *ifname = rec->ifname;
	const struct decode_bus *b;
	const struct dbc_message *m = NULL;
	const struct decode_dbc *in = NULL;
	struct json *j = &d->out;

	b = decode_bus_named(d, ifname);
	if (!b)
		b = &d->any;
	if (!f->err && !f->rtr)
		m = decode_lookup(b, f, &in);
	if (!m && !d->all)
		return;

	json_object_begin(j);
	decode_time(j, f, rec->digits);
	KEY(j, "bus");
	json_string(j, ifname);
	KEY(j, "id");
	json_uint(j, f->id);
	KEY(j, "ext");
	json_bool(j, f->ext);
	KEY(j, "fd");
	json_bool(j, f->fd);
	KEY(j, "msg");
	if (!m) {
		/* Nothing decodes it: the bytes are all a reader gets. */
		char hex[2 * CANFD_MAX_DLEN];

		json_null(j);
		if (!f->rtr) {
			for (size_t i = 0; i < f->len; i++) {
				hex[2 * i] = "0123456789ABCDEF"[f->data[i] >> 4];
				hex[2 * i + 1] = "0123456789ABCDEF"[f->data[i] & 15];
			}
			KEY(j, "data");
			json_string_len(j, hex, 2u * f->len);
		} else {
			KEY(j, "len");
			json_uint(j, f->len);
		}
		if (f->err) {
			KEY(j, "err");
			json_bool(j, true);
		}
		if (f->rtr) {
			KEY(j, "rtr");
			json_bool(j, true);
		}
		json_object_end(j);
		json_newline(j);
		return;
	}
	json_string(j, m->name);

	unsigned flags = 0;
	size_t n = dbc_decode(m, f->data, f->len, d->vals, d->cap, &flags);

	/* Keys are indexed by position in the model; a message found
	 * elsewhere (not expected from dbc_lookup) gets its names escaped on
	 * the fly. */
	struct decode_key *keys = NULL;
	if (m >= in->db->messages && m < in->db->messages + in->db->n_messages)
		keys = in->keys + in->first_key[m - in->db->messages];

	KEY(j, "sig");
	json_object_begin(j);
	for (size_t i = 0; i < n; i++) {
		const struct dbc_decoded *v = &d->vals[i];
		const char *name = NULL;
		struct decode_key *k = keys ? &keys[v->sig - m->signals] : NULL;

		if (k)
			json_key_raw(j, k->text, k->len);
		else
			json_key(j, v->sig->name);
		if (d->choices && v->sig->n_values)
			name = dbc_choice(v->sig, v->raw);
		if (name) {
			json_string(j, name);
		} else if (k) {
			if (!k->has_last || k->last_raw != v->raw) {
				k->last_len = (uint8_t)json_format_double(v->phys,
									  k->last);
				k->last_raw = v->raw;
				k->has_last = true;
			}
			json_raw(j, k->last, k->last_len);
		} else {
			json_double(j, v->phys);
		}
	}
	json_object_end(j);
	if (flags & DBC_DECODE_SHORT) {
		char msg[96];

		/* Also set when the frame is as long as the message but the
		 * DBC puts a signal beyond the message's bytes. */
		if (f->len < m->size)
			snprintf(msg, sizeof(msg),
				 "frame has %u bytes, message %s needs %u",
				 (unsigned)f->len, m->name, (unsigned)m->size);
		else
			snprintf(msg, sizeof(msg),
				 "frame has %u bytes, signals of message %s "
				 "lie beyond them",
				 (unsigned)f->len, m->name);
		KEY(j, "error");
		json_string(j, msg);
	}
	json_object_end(j);
	json_newline(j);
}

/* Returns 0, -1 when the file cannot be opened or read, -2 when no line of
 * it is a frame but some are something else. */
static int decode_file(struct decode *d, const char *path)
{
	char err[256], where[FRAME_IFNAME_MAX + 4096];
	struct logread *r = logread_open(path, err, sizeof(err));
	struct logread_rec rec;
	int rc;

	if (!r) {
		fprintf(stderr, "cangate decode: %s\n", err);
		return -1;
	}
	memset(&d->scan, 0, sizeof(d->scan));
	d->file_frames = 0;
	for (;;) {
		/* Live input (candump -L | decode): show what arrived now
		 * rather than when the output buffer fills. */
		if (logread_would_block(r)) {
			json_flush(&d->out);
			fflush(stdout);
		}
		rc = logread_next(r, &rec, err, sizeof(err));
		if (rc == LOGREAD_END)
			break;
		if (rc == LOGREAD_FRAME) {
			d->file_frames++;
			decode_frame(d, &rec);
			continue;
		}
		if (rc == LOGREAD_OTHER) {
			size_t len;
			const char *text = logread_line(r, &len);

			logscan_skipped(&d->scan, rec.pos, text, len);
			continue;
		}
		/* Keep stdout and stderr in order for a reader of both. */
		json_flush(&d->out);
		fflush(stdout);
		if (rc == LOGREAD_FATAL) {
			fprintf(stderr, "cangate decode: %s: %s\n",
				logread_where(r, where, sizeof(where)), err);
			logread_free(r);
			return -1;
		}
		fprintf(stderr, "%s: %s\n", logread_where(r, where, sizeof(where)),
			err);
		d->bad_line = true;
	}
	json_flush(&d->out);
	fflush(stdout);
	rc = logscan_report(&d->scan, logread_name(r), d->file_frames, stderr);
	logread_free(r);
	if (rc == 2)
		return -2;
	if (rc == 1)
		d->bad_line = true;
	return 0;
}

int cmd_decode(int argc, char **argv)
{
	struct decode *d = calloc(1, sizeof(*d));
	char **logs = calloc((size_t)argc + 1, sizeof(*logs));
	int rc = 0, n_logs = 0;
	bool opts = true;

	if (!d || !logs) {
		perror("cangate decode");
		free(d);
		free(logs);
		return 2;
	}
	/* Options may come before or after the logs; "--" ends them. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *val = NULL;

		if (!opts || a[0] != '-' || !strcmp(a, "-")) {
			logs[n_logs++] = argv[i];
		} else if (!strcmp(a, "--")) {
			opts = false;
		} else if (!strcmp(a, "--all")) {
			d->all = true;
		} else if (!strcmp(a, "--choices")) {
			d->choices = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			decode_usage();
			goto out;
		} else if (!strcmp(a, "--dbc") || !strncmp(a, "--dbc=", 6)) {
			val = a[5] == '=' ? argv[i] + 6
					  : (i + 1 < argc ? argv[++i] : NULL);
			if (!val || !*val) {
				fprintf(stderr, "cangate decode: --dbc needs FILE\n");
				rc = 2;
				goto out;
			}
			if (decode_load_list(d, val, d->global, &d->n_global) < 0) {
				rc = 2;
				goto out;
			}
		} else if (!strcmp(a, "--bus") || !strncmp(a, "--bus=", 6)) {
			char *eq;
			struct decode_bus *b;

			val = a[5] == '=' ? argv[i] + 6
					  : (i + 1 < argc ? argv[++i] : NULL);
			eq = val ? strchr(val, '=') : NULL;
			if (!eq || eq == val || !eq[1] ||
			    (size_t)(eq - val) >= FRAME_IFNAME_MAX) {
				fprintf(stderr,
					"cangate decode: --bus needs NAME=FILE\n");
				rc = 2;
				goto out;
			}
			*eq = '\0';
			b = decode_bus_named(d, val);
			if (!b) {
				if (d->n_buses == DECODE_MAX_BUSES) {
					fprintf(stderr,
						"cangate decode: more than %d "
						"buses\n",
						DECODE_MAX_BUSES);
					rc = 2;
					goto out;
				}
				b = &d->buses[d->n_buses++];
				memcpy(b->name, val, (size_t)(eq - val) + 1);
				b->from_option = true;
			}
			if (decode_load_list(d, eq + 1, b->dbs, &b->n_dbs) < 0) {
				rc = 2;
				goto out;
			}
		} else {
			fprintf(stderr, "cangate decode: unknown option '%s'\n", a);
			decode_usage();
			rc = 2;
			goto out;
		}
	}
	if (!d->n_global && !d->n_buses) {
		fprintf(stderr, "cangate decode: no DBC given (--dbc or --bus)\n");
		decode_usage();
		rc = 2;
		goto out;
	}
	decode_finish_buses(d);
	if (!d->cap)
		d->cap = 1;
	d->vals = calloc(d->cap, sizeof(*d->vals));
	if (!d->vals) {
		perror("cangate decode");
		rc = 2;
		goto out;
	}
	setvbuf(stdout, NULL, _IOFBF, 1u << 16);
	json_init_file(&d->out, stdout);
	if (!n_logs)
		logs[n_logs++] = (char *)"-";
	for (int i = 0; i < n_logs; i++)
		if (decode_file(d, logs[i]) < 0)
			rc = 2;
	if (json_finish(&d->out) < 0 || fflush(stdout) == EOF) {
		fprintf(stderr, "cangate decode: write error: %s\n",
			strerror(errno));
		rc = 2;
	}
	if (!rc && d->bad_line)
		rc = 1;
out:
	for (size_t i = 0; i < d->n_files; i++) {
		decode_free_keys(&d->files[i]);
		dbc_free(d->files[i].db);
	}
	free(d->vals);
	free(d);
	free(logs);
	return rc;
}
