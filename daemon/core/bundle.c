/*
 * bundle.c: reading, writing and checking evidence bundles (see bundle.h and
 * docs/evidence.md). Shared by the recorder (evidence.c), crash recovery,
 * `cangate verify`, `cangate report` and `cangate export`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "daemon/core/bundle.h"
#include "daemon/core/frame.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ================================================================== JSON */

struct jp {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
	int depth;
};

static int jp_fail(struct jp *p, const char *msg)
{
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "byte %zu: %s", p->pos + 1, msg);
	return -1;
}

static void jp_ws(struct jp *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static void json_fini(struct bundle_json *j)
{
	free(j->key);
	free(j->str);
	for (size_t i = 0; i < j->n; i++)
		json_fini(&j->items[i]);
	free(j->items);
}

void bundle_json_free(struct bundle_json *j)
{
	if (!j)
		return;
	json_fini(j);
	free(j);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void utf8_put(struct bundle_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	bundle_buf_add(b, u, n);
}

static int jp_hex4(struct jp *p, uint32_t *out)
{
	uint32_t v = 0;

	if (p->len - p->pos < 4)
		return jp_fail(p, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hexval(p->s[p->pos + i]);
		if (h < 0)
			return jp_fail(p, "bad \\u escape");
		v = v << 4 | (uint32_t)h;
	}
	p->pos += 4;
	*out = v;
	return 0;
}

static char *jp_string(struct jp *p)
{
	struct bundle_buf b = {0};

	p->pos++; /* opening quote */
	for (;;) {
		if (p->pos >= p->len) {
			jp_fail(p, "unterminated string");
			goto err;
		}
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			jp_fail(p, "control character in string");
			goto err;
		}
		if (c != '\\') {
			size_t start = p->pos;
			while (p->pos < p->len && p->s[p->pos] != '"' &&
			       p->s[p->pos] != '\\' &&
			       (unsigned char)p->s[p->pos] >= 0x20)
				p->pos++;
			bundle_buf_add(&b, p->s + start, p->pos - start);
			continue;
		}
		p->pos++;
		if (p->pos >= p->len) {
			jp_fail(p, "unterminated escape");
			goto err;
		}
		char e = p->s[p->pos++];
		char lit;
		switch (e) {
		case '"': lit = '"'; break;
		case '\\': lit = '\\'; break;
		case '/': lit = '/'; break;
		case 'b': lit = '\b'; break;
		case 'f': lit = '\f'; break;
		case 'n': lit = '\n'; break;
		case 'r': lit = '\r'; break;
		case 't': lit = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (jp_hex4(p, &cp) < 0)
				goto err;
			if (cp >= 0xD800 && cp < 0xDC00) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u') {
					jp_fail(p, "lone surrogate");
					goto err;
				}
				p->pos += 2;
				if (jp_hex4(p, &lo) < 0)
					goto err;
				if (lo < 0xDC00 || lo > 0xDFFF) {
					jp_fail(p, "bad surrogate pair");
					goto err;
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				jp_fail(p, "lone surrogate");
				goto err;
			}
			if (cp == 0) {
				jp_fail(p, "NUL in string");
				goto err;
			}
			utf8_put(&b, cp);
			continue;
		}
		default:
			p->pos--;
			jp_fail(p, "bad escape");
			goto err;
		}
		bundle_buf_add(&b, &lit, 1);
	}
	if (b.failed) {
		jp_fail(p, "out of memory");
		goto err;
	}
	if (!b.p) {
		b.p = strdup("");
		if (!b.p)
			jp_fail(p, "out of memory");
	}
	return b.p;
err:
	bundle_buf_free(&b);
	return NULL;
}

static int jp_value(struct jp *p, struct bundle_json *out);

static int jp_push(struct jp *p, struct bundle_json *parent, size_t *cap,
		   struct bundle_json **slot)
{
	if (parent->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		struct bundle_json *ni =
			realloc(parent->items, nc * sizeof(*ni));
		if (!ni)
			return jp_fail(p, "out of memory");
		parent->items = ni;
		*cap = nc;
	}
	*slot = &parent->items[parent->n];
	memset(*slot, 0, sizeof(**slot));
	return 0;
}

/* Readers differ on a repeated member (this one took the first, Python
 * takes the last), so a manifest could say one thing to cangate and
 * another to a reviewer's script: a repeated name is an error. */
static int jp_unique_keys(struct jp *p, const struct bundle_json *obj)
{
	const char **keys;
	int rc = 0;

	if (obj->n < 2)
		return 0;
	keys = malloc(obj->n * sizeof(*keys));
	if (!keys)
		return jp_fail(p, "out of memory");
	for (size_t i = 0; i < obj->n; i++)
		keys[i] = obj->items[i].key;
	qsort(keys, obj->n, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < obj->n && !rc; i++)
		if (!strcmp(keys[i - 1], keys[i])) {
			char msg[96];

			snprintf(msg, sizeof(msg), "member \"%.60s\" repeated",
				 keys[i]);
			rc = jp_fail(p, msg);
		}
	free(keys);
	return rc;
}

static int jp_container(struct jp *p, struct bundle_json *out, bool object)
{
	size_t cap = 0;
	char close = object ? '}' : ']';

	out->type = object ? BJ_OBJECT : BJ_ARRAY;
	if (++p->depth > 64)
		return jp_fail(p, "nested too deeply");
	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		p->depth--;
		return 0;
	}
	for (;;) {
		struct bundle_json *it = NULL;
		char *key = NULL;

		jp_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return jp_fail(p, "expected member name");
			key = jp_string(p);
			if (!key)
				return -1;
			jp_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				free(key);
				return jp_fail(p, "expected ':'");
			}
			p->pos++;
		}
		if (jp_push(p, out, &cap, &it) < 0) {
			free(key);
			return -1;
		}
		out->n++;
		it->key = key;
		if (jp_value(p, it) < 0)
			return -1;
		jp_ws(p);
		if (p->pos >= p->len)
			return jp_fail(p, "unterminated container");
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			break;
		}
		return jp_fail(p, object ? "expected ',' or '}'" :
					   "expected ',' or ']'");
	}
	p->depth--;
	return object ? jp_unique_keys(p, out) : 0;
}

static int jp_number(struct jp *p, struct bundle_json *out)
{
	size_t start = p->pos;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return jp_fail(p, "bad number");
	while (p->pos < p->len &&
	       ((p->s[p->pos] >= '0' && p->s[p->pos] <= '9') ||
		p->s[p->pos] == '.' || p->s[p->pos] == 'e' ||
		p->s[p->pos] == 'E' || p->s[p->pos] == '+' ||
		p->s[p->pos] == '-'))
		p->pos++;
	out->type = BJ_NUMBER;
	out->str = strndup(p->s + start, p->pos - start);
	if (!out->str)
		return jp_fail(p, "out of memory");
	char *end;
	out->num = strtod(out->str, &end);
	if (*end) {
		p->pos = start;
		return jp_fail(p, "bad number");
	}
	return 0;
}

static int jp_word(struct jp *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n))
		return jp_fail(p, "unexpected character");
	p->pos += n;
	return 0;
}

static int jp_value(struct jp *p, struct bundle_json *out)
{
	jp_ws(p);
	if (p->pos >= p->len)
		return jp_fail(p, "unexpected end");
	switch (p->s[p->pos]) {
	case '{':
		return jp_container(p, out, true);
	case '[':
		return jp_container(p, out, false);
	case '"':
		out->type = BJ_STRING;
		out->str = jp_string(p);
		return out->str ? 0 : -1;
	case 't':
		out->type = BJ_BOOL;
		out->b = true;
		return jp_word(p, "true");
	case 'f':
		out->type = BJ_BOOL;
		return jp_word(p, "false");
	case 'n':
		out->type = BJ_NULL;
		return jp_word(p, "null");
	default:
		return jp_number(p, out);
	}
}

struct bundle_json *bundle_json_parse(const char *s, size_t len, char *errmsg,
				      size_t errlen)
{
	struct jp p = {.s = s, .len = len, .err = errmsg, .errlen = errlen};
	struct bundle_json *j = calloc(1, sizeof(*j));

	if (!j) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	if (jp_value(&p, j) < 0)
		goto err;
	jp_ws(&p);
	if (p.pos != len) {
		jp_fail(&p, "trailing characters");
		goto err;
	}
	return j;
err:
	bundle_json_free(j);
	return NULL;
}

const struct bundle_json *bundle_json_get(const struct bundle_json *obj,
					  const char *key)
{
	if (!obj || obj->type != BJ_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->items[i].key, key))
			return &obj->items[i];
	return NULL;
}

const char *bundle_json_str(const struct bundle_json *obj, const char *key)
{
	const struct bundle_json *v = bundle_json_get(obj, key);

	return v && v->type == BJ_STRING ? v->str : NULL;
}

int bundle_json_u64(const struct bundle_json *obj, const char *key,
		    uint64_t *out)
{
	const struct bundle_json *v = bundle_json_get(obj, key);
	char *end;

	if (!v || v->type != BJ_NUMBER || v->str[0] == '-')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(v->str, &end, 10);
	if (errno || *end)
		return -1;
	*out = x;
	return 0;
}

double bundle_json_num(const struct bundle_json *obj, const char *key)
{
	const struct bundle_json *v = bundle_json_get(obj, key);

	return v && v->type == BJ_NUMBER ? v->num : NAN;
}

/* ================================================================ buffer */

static bool buf_reserve(struct bundle_buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + more + 1)
		nc *= 2;
	char *np = realloc(b->p, nc);
	if (!np) {
		b->failed = true;
		return false;
	}
	b->p = np;
	b->cap = nc;
	return true;
}

void bundle_buf_add(struct bundle_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void bundle_buf_puts(struct bundle_buf *b, const char *s)
{
	bundle_buf_add(b, s, strlen(s));
}

void bundle_buf_printf(struct bundle_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		bundle_buf_add(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void bundle_buf_json_str(struct bundle_buf *b, const char *s)
{
	if (!s) {
		bundle_buf_puts(b, "null");
		return;
	}
	bundle_buf_add(b, "\"", 1);
	for (const char *q = s; *q; q++) {
		unsigned char c = (unsigned char)*q;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			bundle_buf_add(b, e, 2);
		} else if (c < 0x20 || c == 0x7F) {
			bundle_buf_printf(b, "\\u%04x", c);
		} else {
			bundle_buf_add(b, q, 1);
		}
	}
	bundle_buf_add(b, "\"", 1);
}

void bundle_buf_html(struct bundle_buf *b, const char *s)
{
	for (const char *q = s ? s : ""; *q; q++) {
		switch (*q) {
		case '&': bundle_buf_puts(b, "&amp;"); break;
		case '<': bundle_buf_puts(b, "&lt;"); break;
		case '>': bundle_buf_puts(b, "&gt;"); break;
		case '"': bundle_buf_puts(b, "&quot;"); break;
		case '\'': bundle_buf_puts(b, "&#39;"); break;
		default: bundle_buf_add(b, q, 1);
		}
	}
}

void bundle_buf_json(struct bundle_buf *b, const struct bundle_json *j)
{
	switch (j->type) {
	case BJ_NULL: bundle_buf_puts(b, "null"); break;
	case BJ_BOOL: bundle_buf_puts(b, j->b ? "true" : "false"); break;
	case BJ_NUMBER: bundle_buf_puts(b, j->str); break;
	case BJ_STRING: bundle_buf_json_str(b, j->str); break;
	case BJ_ARRAY:
	case BJ_OBJECT:
		bundle_buf_puts(b, j->type == BJ_ARRAY ? "[" : "{");
		for (size_t i = 0; i < j->n; i++) {
			if (i)
				bundle_buf_puts(b, ",");
			if (j->type == BJ_OBJECT) {
				bundle_buf_json_str(b, j->items[i].key);
				bundle_buf_puts(b, ":");
			}
			bundle_buf_json(b, &j->items[i]);
		}
		bundle_buf_puts(b, j->type == BJ_ARRAY ? "]" : "}");
		break;
	}
}

void bundle_buf_free(struct bundle_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ================================================================ hashes */

void bundle_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

int bundle_unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]);
		if (hi < 0)
			return -1;
		int lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == 0 ? 0 : -1;
}

int bundle_open_file(const char *path, int flags, char *errmsg,
		     size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);

	if (fd < 0) {
		if (errno == ELOOP && (flags & O_NOFOLLOW))
			snprintf(errmsg, errlen, "%s: a symbolic link, not a "
				 "regular file", path);
		else
			snprintf(errmsg, errlen, "%s: %s", path,
				 strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(errmsg, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	return fd;
}

FILE *bundle_open_stream(const char *path, int flags, char *errmsg,
			 size_t errlen)
{
	int fd = bundle_open_file(path, flags, errmsg, errlen);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (fd >= 0 && !fp) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return fp;
}

int bundle_sha256_file(const char *path, uint8_t out[32], uint64_t *size,
		       char *errmsg, size_t errlen)
{
	crypto_hash_sha256_state st;
	static __thread unsigned char buf[1 << 16];
	uint64_t total = 0;
	int fd = bundle_open_file(path, O_NOFOLLOW, errmsg, errlen);

	if (fd < 0)
		return -1;
	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(errmsg, errlen, "%s: %s", path,
				 strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		total += (uint64_t)n;
	}
	close(fd);
	crypto_hash_sha256_final(&st, out);
	if (size)
		*size = total;
	return 0;
}

char *bundle_read_file(const char *path, size_t max, size_t *len,
		       char *errmsg, size_t errlen)
{
	struct stat sb;
	int fd = bundle_open_file(path, 0, errmsg, errlen);
	char *p = NULL;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		goto err;
	}
	if ((uint64_t)sb.st_size > max) {
		snprintf(errmsg, errlen, "%s: larger than %zu bytes", path,
			 max);
		goto err;
	}
	p = malloc((size_t)sb.st_size + 1);
	if (!p) {
		snprintf(errmsg, errlen, "%s: out of memory", path);
		goto err;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(errmsg, errlen, "%s: %s", path,
				 strerror(errno));
			goto err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	p[got] = 0;
	*len = got;
	return p;
err:
	if (fd >= 0)
		close(fd);
	free(p);
	return NULL;
}

int bundle_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int (*bundle_crash_hook)(const char *dir, const char *name);

int bundle_write_atomic(const char *dir, const char *name, const char *data,
			size_t len, char *errmsg, size_t errlen)
{
	char tmp[4096], dst[4096];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >=
		    sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
		    sizeof(dst)) {
		snprintf(errmsg, errlen, "%s/%s: path too long", dir, name);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(errmsg, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (bundle_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		snprintf(errmsg, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (bundle_crash_hook && bundle_crash_hook(dir, name)) {
		close(fd);
		snprintf(errmsg, errlen, "%s: simulated crash before rename",
			 tmp);
		return -1; /* like a dead process: the .tmp stays */
	}
	if (close(fd) < 0 || rename(tmp, dst) < 0) {
		snprintf(errmsg, errlen, "%s: %s", dst, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* the rename is durable once the directory is; a filesystem that
	 * cannot sync a directory says EINVAL */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP) {
			snprintf(errmsg, errlen, "%s: %s", dir,
				 strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* ================================================================= chain */

void bundle_segment_name(unsigned segment, char *buf, size_t size)
{
	if (segment == 0)
		snprintf(buf, size, "frames.log");
	else
		snprintf(buf, size, "frames.log.%04u", segment);
}

static size_t chain_prefix(const struct bundle_block *b, char *buf,
			   size_t size)
{
	char dhex[BUNDLE_SHA256_HEX];

	bundle_hex(b->digest, 32, dhex);
	int n = snprintf(buf, size,
			 "%" PRIu64 " %u %" PRIu64 " %" PRIu64 " %s %s %" PRIu64
			 " %" PRIu64 " %s",
			 b->seq, b->segment, b->first, b->last, b->t_first,
			 b->t_last, b->offset, b->length, dhex);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

size_t bundle_chain_link(const uint8_t prev[32], struct bundle_block *b,
			 char *buf, size_t size)
{
	crypto_hash_sha256_state st;
	char hhex[BUNDLE_SHA256_HEX];
	size_t n = chain_prefix(b, buf, size);

	if (!n)
		return 0;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, prev, 32);
	crypto_hash_sha256_update(&st, b->digest, 32);
	crypto_hash_sha256_update(&st, (const unsigned char *)buf, n);
	crypto_hash_sha256_final(&st, b->h);
	bundle_hex(b->h, 32, hhex);
	if (n + 1 + 64 + 2 > size)
		return 0;
	buf[n++] = ' ';
	memcpy(buf + n, hhex, 64);
	n += 64;
	buf[n++] = '\n';
	buf[n] = 0;
	return n;
}

static int parse_u64_field(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	if (n > 1 && s[0] == '0')
		return -1; /* one spelling per number */
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int bundle_frames_foreach(const char *dir, const struct bundle_frames_cb *cb,
			  char *errmsg, size_t errlen)
{
	for (unsigned seg = 0; seg < 10000; seg++) {
		char name[64], path[4096], line[1024], ifname[FRAME_IFNAME_MAX];
		char err[256];
		bundle_segment_name(seg, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		FILE *fp = bundle_open_stream(path, O_NOFOLLOW, err,
					      sizeof(err));
		if (!fp) {
			if (seg > 0 && errno == ENOENT)
				break;
			snprintf(errmsg, errlen, "%s", err);
			return -1;
		}
		for (unsigned long ln = 1; fgets(line, sizeof(line), fp); ln++) {
			struct frame f;
			int pr = frame_parse_line(line, strlen(line), &f, ifname,
						  err, sizeof(err));
			if (pr == FRAME_PARSE_SKIP)
				continue;
			if (pr != FRAME_PARSE_OK) {
				char msg[4400];
				snprintf(msg, sizeof(msg), "%s:%lu: %s", path, ln,
					 err);
				cb->bad_line(cb->ctx, msg);
				continue;
			}
			/* parsed, so "(" digits "." digits ")" */
			const char *close = strchr(line, ')');
			struct bundle_frame bf = {&f, ifname, line + 1,
						  (size_t)(close - line - 1),
						  path, ln};
			int rc = cb->frame(cb->ctx, &bf);
			if (rc) {
				fclose(fp);
				return rc;
			}
		}
		fclose(fp);
	}
	return 0;
}

int bundle_chain_parse(const char *line, size_t len, struct bundle_block *b,
		       char *errmsg, size_t errlen)
{
	static const char *const names[10] = {
		"seq",	  "segment", "first",  "last",	 "t_first",
		"t_last", "offset",  "length", "digest", "h"};
	const char *f[10];
	size_t fl[10], nf = 0, i = 0;
	uint64_t v;

	memset(b, 0, sizeof(*b));
	while (i < len) {
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (nf == 10) {
			snprintf(errmsg, errlen, "more than 10 fields");
			return -1;
		}
		f[nf] = line + start;
		fl[nf++] = i - start;
		if (i < len)
			i++; /* the single space */
		if (i == len && line[len - 1] == ' ') {
			snprintf(errmsg, errlen, "trailing space");
			return -1;
		}
	}
	if (nf != 10) {
		snprintf(errmsg, errlen, "%zu fields, expected 10", nf);
		return -1;
	}
	for (size_t k = 0; k < 10; k++) {
		if (k == 4 || k == 5) {
			uint64_t t;
			if (fl[k] >= sizeof(b->t_first) ||
			    frame_parse_time(f[k], fl[k], false, &t, NULL, 0) < 0)
				goto bad;
			memcpy(k == 4 ? b->t_first : b->t_last, f[k], fl[k]);
			continue;
		}
		if (k >= 8) {
			char hex[65];
			if (fl[k] != 64)
				goto bad;
			memcpy(hex, f[k], 64);
			hex[64] = 0;
			if (bundle_unhex(hex, k == 8 ? b->digest : b->h, 32) <
			    0)
				goto bad;
			continue;
		}
		if (parse_u64_field(f[k], fl[k], &v) < 0)
			goto bad;
		switch (k) {
		case 0: b->seq = v; break;
		case 1:
			if (v > 9999)
				goto bad;
			b->segment = (unsigned)v;
			break;
		case 2: b->first = v; break;
		case 3: b->last = v; break;
		case 6: b->offset = v; break;
		case 7: b->length = v; break;
		}
		continue;
bad:
		snprintf(errmsg, errlen, "bad %s field '%.*s'", names[k],
			 (int)(fl[k] > 70 ? 70 : fl[k]), f[k]);
		return -1;
	}
	return 0;
}

/* "PREFIXKEY=VALUE\n" for a scalar member m: strings unescaped, numbers as
 * written, true/false/null. -1 (errmsg names PREFIXKEY) for an array or
 * object, a control character, or '=' in the key. */
static int kv_put(struct bundle_buf *t, const char *prefix,
		  const struct bundle_json *m, char *errmsg, size_t errlen)
{
	const char *key = m->key ? m->key : "";

	for (const char *q = key; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == '=') {
			snprintf(errmsg, errlen, "bad key %s%s", prefix, key);
			return -1;
		}
	bundle_buf_printf(t, "%s%s=", prefix, key);
	switch (m->type) {
	case BJ_NULL: bundle_buf_puts(t, "null"); break;
	case BJ_BOOL: bundle_buf_puts(t, m->b ? "true" : "false"); break;
	case BJ_NUMBER: bundle_buf_puts(t, m->str); break;
	case BJ_STRING:
		for (const char *q = m->str; *q; q++)
			if ((unsigned char)*q < 0x20) {
				snprintf(errmsg, errlen,
					 "%s%s holds a control character",
					 prefix, key);
				return -1;
			}
		bundle_buf_puts(t, m->str);
		break;
	default:
		snprintf(errmsg, errlen, "%s%s is not a scalar", prefix, key);
		return -1;
	}
	bundle_buf_puts(t, "\n");
	return 0;
}

int bundle_header_h0(const struct bundle_json *header, uint8_t h0[32],
		     char *errmsg, size_t errlen)
{
	struct bundle_buf t = {0};

	if (!header || header->type != BJ_OBJECT) {
		snprintf(errmsg, errlen, "no \"header\" object");
		return -1;
	}
	bundle_buf_puts(&t, BUNDLE_FORMAT "\n");
	for (size_t i = 0; i < header->n; i++)
		if (kv_put(&t, "", &header->items[i], errmsg, errlen) < 0)
			goto err;
	if (t.failed) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	crypto_hash_sha256(h0, (const unsigned char *)t.p, t.len);
	bundle_buf_free(&t);
	return 0;
err:
	bundle_buf_free(&t);
	return -1;
}

/* ========================================================= close record */

int bundle_close_digest(const struct bundle_json *m, uint8_t digest[32],
			char *errmsg, size_t errlen)
{
	static const char *const objects[] = {"chain", "counts", "recording"};
	const struct bundle_json *end = bundle_json_get(m, "end_ns");
	const struct bundle_json *cf = bundle_json_get(m, "config_files");
	struct bundle_buf t = {0};
	char prefix[64];

	if (!end || end->type != BJ_NUMBER || !cf || cf->type != BJ_ARRAY) {
		snprintf(errmsg, errlen, "no end_ns or config_files");
		return -1;
	}
	bundle_buf_puts(&t, "close\n");
	if (kv_put(&t, "", end, errmsg, errlen) < 0)
		goto err;
	for (size_t k = 0; k < sizeof(objects) / sizeof(*objects); k++) {
		const struct bundle_json *o = bundle_json_get(m, objects[k]);

		if (!o || o->type != BJ_OBJECT) {
			snprintf(errmsg, errlen, "no %s object", objects[k]);
			goto err;
		}
		snprintf(prefix, sizeof(prefix), "%s.", objects[k]);
		for (size_t i = 0; i < o->n; i++) {
			/* the head is what the close record makes */
			if (!strcmp(objects[k], "chain") &&
			    !strcmp(o->items[i].key, "head"))
				continue;
			if (kv_put(&t, prefix, &o->items[i], errmsg, errlen) < 0)
				goto err;
		}
	}
	for (size_t i = 0; i < cf->n; i++) {
		if (cf->items[i].type != BJ_OBJECT) {
			snprintf(errmsg, errlen, "config_files.%zu malformed", i);
			goto err;
		}
		snprintf(prefix, sizeof(prefix), "config_files.%zu.", i);
		for (size_t j = 0; j < cf->items[i].n; j++)
			if (kv_put(&t, prefix, &cf->items[i].items[j], errmsg,
				   errlen) < 0)
				goto err;
	}
	if (t.failed) {
		snprintf(errmsg, errlen, "out of memory");
		goto err;
	}
	crypto_hash_sha256(digest, (const unsigned char *)t.p, t.len);
	bundle_buf_free(&t);
	return 0;
err:
	bundle_buf_free(&t);
	return -1;
}

size_t bundle_close_link(const uint8_t prev[32], uint64_t seq,
			 const uint8_t digest[32], uint8_t h[32], char *buf,
			 size_t size)
{
	crypto_hash_sha256_state st;
	char dhex[BUNDLE_SHA256_HEX], hhex[BUNDLE_SHA256_HEX];
	char p[128];
	int n;

	bundle_hex(digest, 32, dhex);
	n = snprintf(p, sizeof(p), "close %" PRIu64 " %s", seq, dhex);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, prev, 32);
	crypto_hash_sha256_update(&st, digest, 32);
	crypto_hash_sha256_update(&st, (const unsigned char *)p, (size_t)n);
	crypto_hash_sha256_final(&st, h);
	bundle_hex(h, 32, hhex);
	n = snprintf(buf, size, "%s %s\n", p, hhex);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* ============================================================ file walk */

/* Deeper directories are not listed but named (WALK_TOO_DEEP), so nothing
 * hides below the limit. */
#define WALK_MAX_DEPTH 32
#define WALK_TOO_DEEP ((mode_t)0)

/* v[i] is a relative path; mode[i] its lstat() mode, or WALK_TOO_DEEP. The
 * first member of each entry is the path, so v sorts with cmp_str. */
struct pathent {
	char *rel;
	mode_t mode;
};

struct pathlist {
	struct pathent *v;
	size_t n, cap;
};

static void pathlist_free(struct pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].rel);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void pathlist_add(struct pathlist *l, const char *rel, mode_t mode)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct pathent *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n].rel = strdup(rel);
	l->v[l->n].mode = mode;
	if (l->v[l->n].rel)
		l->n++;
}

/* Relative paths of every entry under root/rel but directories: regular
 * files, and the other kinds (links, FIFOs, devices, sockets) so that the
 * verifier can name them. */
static int walk(const char *root, const char *rel, struct pathlist *l,
		int depth)
{
	char path[4096];
	DIR *d;
	struct dirent *e;

	if (depth > WALK_MAX_DEPTH) {
		pathlist_add(l, rel, WALK_TOO_DEEP);
		return 0;
	}
	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char sub[4096];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel,
				     *rel ? "/" : "", e->d_name) >= sizeof(sub) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", root, sub) >=
			    sizeof(path))
			continue;
		if (lstat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			walk(root, sub, l, depth + 1);
			continue;
		}
		pathlist_add(l, sub, sb.st_mode);
	}
	closedir(d);
	qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	return 0;
}

static bool never_hashed(const char *rel)
{
	size_t n = strlen(rel);

	return !strcmp(rel, "manifest.json") || !strcmp(rel, "manifest.sig") ||
	       !strcmp(rel, BUNDLE_RESERVE) ||
	       (n > 4 && !strcmp(rel + n - 4, ".tmp"));
}

/* ======================================================== manifest write */

int bundle_manifest_build(const char *dir, const struct bundle_manifest *m,
			  struct bundle_buf *out, char *errmsg, size_t errlen)
{
	struct bundle_buf b = {0};
	char hex[BUNDLE_SHA256_HEX], iso[64];
	uint8_t h0[32];
	int rc = -1;

	if (bundle_header_h0(m->header, h0, errmsg, errlen) < 0)
		return -1;
	bundle_buf_puts(&b, "{\n  \"format\": \"" BUNDLE_FORMAT "\",\n");
	bundle_buf_puts(&b, "  \"status\": ");
	bundle_buf_json_str(&b, m->status);
	bundle_buf_puts(&b, ",\n  \"header\": {");
	for (size_t i = 0; i < m->header->n; i++) {
		bundle_buf_puts(&b, i ? ",\n    " : "\n    ");
		bundle_buf_json_str(&b, m->header->items[i].key);
		bundle_buf_puts(&b, ": ");
		bundle_buf_json(&b, &m->header->items[i]);
	}
	bundle_hex(h0, 32, hex);
	bundle_buf_printf(&b, "\n  },\n  \"h0\": \"%s\",\n", hex);
	bundle_buf_puts(&b, "  \"config_files\": [");
	if (m->config_files && m->config_files->type == BJ_ARRAY)
		for (size_t i = 0; i < m->config_files->n; i++) {
			bundle_buf_puts(&b, i ? ",\n    " : "\n    ");
			bundle_buf_json(&b, &m->config_files->items[i]);
		}
	bundle_buf_puts(&b, "\n  ],\n");
	if (m->has_end) {
		bundle_format_iso(m->end_ns, iso, sizeof(iso));
		bundle_buf_printf(&b,
				  "  \"end_ns\": %" PRIu64 ",\n  \"end\": \"%s\",\n",
				  m->end_ns, iso);
	} else {
		bundle_buf_puts(&b, "  \"end_ns\": null,\n  \"end\": null,\n");
	}
	bundle_hex(m->head ? m->head : h0, 32, hex);
	bundle_buf_printf(&b,
			  "  \"chain\": {\"blocks\": %" PRIu64
			  ", \"lines\": %" PRIu64 ", \"head\": \"%s\"},\n",
			  m->blocks, m->lines, hex);
	bundle_buf_printf(&b, "  \"counts\": {%s},\n",
			  m->counts_json ? m->counts_json : "");
	bundle_buf_printf(&b, "  \"recording\": {\"stopped\": %s, \"error\": ",
			  m->recording_stopped ? "true" : "false");
	bundle_buf_json_str(&b, m->recording_error);
	bundle_buf_puts(&b, "}");
	if (m->interrupted_json)
		bundle_buf_printf(&b, ",\n  \"interrupted\": {%s}",
				  m->interrupted_json);
	if (m->hash_files) {
		struct pathlist l = {0};
		bool first = true;

		if (walk(dir, "", &l, 0) < 0) {
			snprintf(errmsg, errlen, "%s: %s", dir,
				 strerror(errno));
			goto out;
		}
		bundle_buf_puts(&b, ",\n  \"files\": {");
		for (size_t i = 0; i < l.n; i++) {
			const char *rel = l.v[i].rel;
			char path[4096];
			uint8_t d[32];
			uint64_t size;

			/* a link or FIFO planted here is not followed; the
			 * verifier names it */
			if (never_hashed(rel) || !S_ISREG(l.v[i].mode))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, rel);
			const struct bundle_json *c =
				bundle_json_get(m->files_cache, rel);
			const char *csha = bundle_json_str(c, "sha256");
			uint64_t csize;
			struct stat sb;
			if (csha && strlen(csha) == 64 &&
			    bundle_json_u64(c, "bytes", &csize) == 0 &&
			    stat(path, &sb) == 0 &&
			    (uint64_t)sb.st_size == csize) {
				memcpy(hex, csha, 65);
				size = csize;
			} else if (bundle_sha256_file(path, d, &size, errmsg,
						      errlen) < 0) {
				pathlist_free(&l);
				goto out;
			} else {
				bundle_hex(d, 32, hex);
			}
			bundle_buf_puts(&b, first ? "\n    " : ",\n    ");
			first = false;
			bundle_buf_json_str(&b, rel);
			bundle_buf_printf(&b,
					  ": {\"sha256\": \"%s\", \"bytes\": %" PRIu64
					  "}",
					  hex, size);
		}
		pathlist_free(&l);
		bundle_buf_puts(&b, "\n  }");
	}
	bundle_buf_puts(&b, "\n}\n");
	if (b.failed) {
		snprintf(errmsg, errlen, "manifest.json: out of memory");
		goto out;
	}
	*out = b;
	return 0;
out:
	bundle_buf_free(&b);
	return rc;
}

int bundle_manifest_write(const char *dir, const struct bundle_manifest *m,
			  const uint8_t *sk, char *errmsg, size_t errlen)
{
	struct bundle_buf b = {0};
	int rc;

	if (bundle_manifest_build(dir, m, &b, errmsg, errlen) < 0)
		return -1;
	/* The signature goes first: a crash between the two renames leaves
	 * the old manifest, which recovery rewrites and signs again. */
	rc = sk ? bundle_sign_write(dir, sk, b.p, b.len, errmsg, errlen) : 0;
	if (rc == 0)
		rc = bundle_write_atomic(dir, "manifest.json", b.p, b.len,
					 errmsg, errlen);
	bundle_buf_free(&b);
	return rc;
}

/* ================================================================== keys */

int bundle_key_read(const char *path, uint8_t *key, size_t n, char *errmsg,
		    size_t errlen)
{
	size_t len;
	char *s = bundle_read_file(path, 4096, &len, errmsg, errlen);

	if (!s)
		return -1;
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
		       s[len - 1] == ' '))
		s[--len] = 0;
	if (len != 2 * n || bundle_unhex(s, key, n) < 0) {
		snprintf(errmsg, errlen,
			 "%s: not a cangate key (expected %zu hex digits)",
			 path, 2 * n);
		sodium_memzero(s, len);
		free(s);
		return -1;
	}
	sodium_memzero(s, len);
	free(s);
	return 0;
}

int bundle_sign_write(const char *dir, const uint8_t sk[64], const char *m,
		      size_t len, char *errmsg, size_t errlen)
{
	char hex[2 * crypto_sign_BYTES + 2];
	uint8_t sig[crypto_sign_BYTES];

	crypto_sign_detached(sig, NULL, (const unsigned char *)m, len, sk);
	bundle_hex(sig, sizeof(sig), hex);
	strcat(hex, "\n");
	return bundle_write_atomic(dir, "manifest.sig", hex, strlen(hex),
				   errmsg, errlen);
}

/* ================================================================= times */

void bundle_format_iso(uint64_t t_ns, char *buf, size_t size)
{
	time_t s = (time_t)(t_ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec,
		 (unsigned)(t_ns % 1000000000ull / 1000));
}

/* ================================================================ verify */

struct vctx {
	const char *dir;
	const struct bundle_verify_opts *o;
	struct bundle_verify_result *r;
	const struct bundle_json *m; /* manifest.json */
};

static void note(struct vctx *v, enum bundle_note kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct vctx *v, enum bundle_note kind, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kind == BUNDLE_FAIL) {
		if (!v->r->fails)
			snprintf(v->r->first_fail, sizeof(v->r->first_fail),
				 "%s", msg);
		v->r->fails++;
	} else if (kind == BUNDLE_WARN) {
		v->r->warns++;
	}
	if (v->o && v->o->note)
		v->o->note(v->o->ctx, kind, msg);
}

/* The timestamp text of a candump line: "(...)" at its start. */
static bool line_time(const char *p, size_t n, const char **t, size_t *tl)
{
	if (n < 3 || p[0] != '(')
		return false;
	const char *close = memchr(p, ')', n);
	if (!close)
		return false;
	*t = p + 1;
	*tl = (size_t)(close - p - 1);
	return true;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t c = 0;

	for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p)));
	     q++)
		c++;
	return c;
}

static int seg_open(const char *dir, unsigned seg, uint64_t *size)
{
	char name[64], path[4096], err[256];
	struct stat sb;

	bundle_segment_name(seg, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = bundle_open_file(path, O_NOFOLLOW, err, sizeof(err));
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return -1;
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

/* Counts lines and bytes from off to the end of segment fd. */
static void tail_count(int fd, uint64_t off, uint64_t size, uint64_t *bytes,
		       uint64_t *lines)
{
	char buf[1 << 16];

	if (off >= size)
		return;
	*bytes += size - off;
	while (off < size) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
		if (n <= 0)
			break;
		*lines += count_lines(buf, (size_t)n);
		off += (uint64_t)n;
	}
}

struct chain_state {
	uint64_t blocks, lines;
	uint8_t head[32];
	unsigned seg;
	uint64_t seg_off;
	bool failed;
	bool incomplete_line;
	bool close_seen; /* the close record checked out */
	/* the open segment, and the last block's bytes */
	int fd;
	uint64_t segsize;
	char *blockbuf;
	size_t blockcap;
};

/* A failed check: the walk stops at the first, as later blocks cannot be
 * placed. Returns -1 for the caller to pass on. */
static int chain_fail(struct vctx *v, struct chain_state *cs,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int chain_fail(struct vctx *v, struct chain_state *cs,
		      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note(v, BUNDLE_FAIL, "%s", msg);
	cs->failed = true;
	return -1;
}

/* The block continues the numbering: next seq, next line. */
static int chain_check_order(struct vctx *v, struct chain_state *cs,
			     const struct bundle_block *b, uint64_t ln)
{
	if (b->seq != cs->blocks + 1)
		return chain_fail(v, cs,
				  "frames.chain: line %" PRIu64 ": block seq %" PRIu64
				  ", expected %" PRIu64 " (blocks removed or reordered)",
				  ln, b->seq, cs->blocks + 1);
	if (b->first != cs->lines + 1 || b->last < b->first)
		return chain_fail(v, cs,
				  "frames.chain: block %" PRIu64 " (lines %" PRIu64
				  "-%" PRIu64 "): expected to start at line %" PRIu64
				  " (gap or overlap)",
				  b->seq, b->first, b->last, cs->lines + 1);
	return 0;
}

/* A block in the next segment: the previous one must be fully covered. */
static int chain_enter_segment(struct vctx *v, struct chain_state *cs,
			       const struct bundle_block *b,
			       const char *segname)
{
	char prevname[64];

	if (b->segment == cs->seg)
		return 0;
	bundle_segment_name(cs->seg, prevname, sizeof(prevname));
	if (b->segment != cs->seg + 1)
		return chain_fail(v, cs,
				  "frames.chain: block %" PRIu64
				  ": segment %u after segment %u (gap)",
				  b->seq, b->segment, cs->seg);
	if (cs->segsize != cs->seg_off)
		return chain_fail(v, cs,
				  "%s: %" PRIu64 " bytes after block %" PRIu64
				  " are not covered by the chain",
				  prevname, cs->segsize - cs->seg_off, b->seq - 1);
	close(cs->fd);
	cs->fd = seg_open(v->dir, b->segment, &cs->segsize);
	if (cs->fd < 0)
		return chain_fail(v, cs, "%s: missing (block %" PRIu64 ")",
				  segname, b->seq);
	cs->seg = b->segment;
	cs->seg_off = 0;
	return 0;
}

/* The block's bytes follow the previous block's and lie inside the file. */
static int chain_check_range(struct vctx *v, struct chain_state *cs,
			     const struct bundle_block *b, const char *segname)
{
	if (b->offset != cs->seg_off)
		return chain_fail(v, cs,
				  "frames.chain: block %" PRIu64 " (lines %" PRIu64
				  "-%" PRIu64 "): offset %" PRIu64 ", expected %" PRIu64
				  " (gap or overlap)",
				  b->seq, b->first, b->last, b->offset, cs->seg_off);
	if (b->length > (256u << 20))
		return chain_fail(v, cs,
				  "frames.chain: block %" PRIu64 ": implausible length %" PRIu64,
				  b->seq, b->length);
	if (b->offset + b->length > cs->segsize)
		return chain_fail(v, cs,
				  "%s: block %" PRIu64 " (lines %" PRIu64 "-%" PRIu64
				  ") truncated: file ends at byte %" PRIu64
				  ", block ends at %" PRIu64,
				  segname, b->seq, b->first, b->last, cs->segsize,
				  b->offset + b->length);
	return 0;
}

/* Read the block into cs->blockbuf; *got is what could be read. */
static int chain_read_block(struct vctx *v, struct chain_state *cs,
			    const struct bundle_block *b, size_t *got)
{
	if (b->length + 1 > cs->blockcap) {
		char *nb = realloc(cs->blockbuf, b->length + 1);
		if (!nb)
			return chain_fail(v, cs, "out of memory");
		cs->blockbuf = nb;
		cs->blockcap = b->length + 1;
	}
	*got = 0;
	while (*got < b->length) {
		ssize_t n = pread(cs->fd, cs->blockbuf + *got, b->length - *got,
				  (off_t)(b->offset + *got));
		if (n <= 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/* The bytes read match the block's digest, line count and times. */
static int chain_check_content(struct vctx *v, struct chain_state *cs,
			       const struct bundle_block *b, size_t got,
			       const char *segname)
{
	const char *buf = cs->blockbuf;
	uint8_t d[32];

	crypto_hash_sha256(d, (const unsigned char *)buf, got);
	if (got != b->length || sodium_memcmp(d, b->digest, 32))
		return chain_fail(v, cs,
				  "%s: block %" PRIu64 " (lines %" PRIu64 "-%" PRIu64
				  ") hash mismatch",
				  segname, b->seq, b->first, b->last);
	uint64_t nlines = count_lines(buf, got);
	if (nlines != b->last - b->first + 1 || !got || buf[got - 1] != '\n')
		return chain_fail(v, cs,
				  "%s: block %" PRIu64 " holds %" PRIu64
				  " lines, chain says %" PRIu64 "-%" PRIu64,
				  segname, b->seq, nlines, b->first, b->last);
	const char *t;
	size_t tl;
	const char *lastline = buf + got - 1;
	while (lastline > buf && lastline[-1] != '\n')
		lastline--;
	if (!line_time(buf, got, &t, &tl) || tl != strlen(b->t_first) ||
	    memcmp(t, b->t_first, tl) ||
	    !line_time(lastline, (size_t)(buf + got - lastline), &t, &tl) ||
	    tl != strlen(b->t_last) || memcmp(t, b->t_last, tl))
		return chain_fail(v, cs,
				  "%s: block %" PRIu64 " (lines %" PRIu64 "-%" PRIu64
				  "): timestamps differ from frames.chain",
				  segname, b->seq, b->first, b->last);
	return 0;
}

/* The chain value follows from the previous one: then the block is ours. */
static int chain_check_link(struct vctx *v, struct chain_state *cs,
			    const struct bundle_block *b)
{
	struct bundle_block chk = *b;
	char line[BUNDLE_CHAIN_LINE_MAX];

	bundle_chain_link(cs->head, &chk, line, sizeof(line));
	if (sodium_memcmp(chk.h, b->h, 32))
		return chain_fail(v, cs,
				  "frames.chain: block %" PRIu64 " (lines %" PRIu64
				  "-%" PRIu64 ") chain value mismatch%s",
				  b->seq, b->first, b->last,
				  b->seq == 1 ? " (manifest header or chain edited)" :
						"");
	memcpy(cs->head, b->h, 32);
	cs->blocks = b->seq;
	cs->lines = b->last;
	cs->seg_off += b->length;
	return 0;
}

/* One block of frames.chain, checked against the segment it names. */
static int chain_verify_block(struct vctx *v, struct chain_state *cs,
			      const struct bundle_block *b, uint64_t ln)
{
	char segname[64];
	size_t got = 0;

	bundle_segment_name(b->segment, segname, sizeof(segname));
	if (chain_check_order(v, cs, b, ln) < 0 ||
	    chain_enter_segment(v, cs, b, segname) < 0 ||
	    chain_check_range(v, cs, b, segname) < 0 ||
	    chain_read_block(v, cs, b, &got) < 0 ||
	    chain_check_content(v, cs, b, got, segname) < 0)
		return -1;
	return chain_check_link(v, cs, b);
}

/* Bytes after the last block, in its segment and any later one: a failure
 * when the bundle was closed, else the unverifiable tail of a crash. */
static void chain_count_tail(struct vctx *v, struct chain_state *cs,
			     bool closed)
{
	char segname[64];
	uint64_t bytes = 0, lines = 0;

	tail_count(cs->fd, cs->seg_off, cs->segsize, &bytes, &lines);
	for (unsigned s = cs->seg + 1; s < 10000; s++) {
		uint64_t sz;
		int sfd = seg_open(v->dir, s, &sz);
		if (sfd < 0)
			break;
		tail_count(sfd, 0, sz, &bytes, &lines);
		close(sfd);
	}
	v->r->tail_bytes = bytes;
	v->r->tail_lines = lines;
	if (!bytes)
		return;
	bundle_segment_name(cs->seg, segname, sizeof(segname));
	note(v, closed ? BUNDLE_FAIL : BUNDLE_WARN,
	     "%s: %" PRIu64 " bytes (%" PRIu64 " lines) after block %" PRIu64
	     ", line %" PRIu64 " are not covered by the chain%s",
	     segname, bytes, lines, cs->blocks, cs->lines,
	     closed ? "" : " (unverifiable tail)");
	if (closed)
		cs->failed = true;
}

/* The close record (bundle.h), line ln: the last line, its SEQ after the
 * blocks, its DIGEST that of the manifest's close text, its H linked. Only
 * a closed bundle has one that counts (a crash may come right after it). */
static void chain_close_record(struct vctx *v, struct chain_state *cs,
			       const char *line, size_t len, uint64_t ln,
			       bool closed, bool last)
{
	char text[256], dhex[BUNDLE_SHA256_HEX], hhex[BUNDLE_SHA256_HEX];
	char mine[256], err[256];
	uint8_t digest[32], want[32], h[32];
	unsigned long long seq;
	int used = 0;

	if (len >= sizeof(text) ||
	    (memcpy(text, line, len), text[len] = '\0',
	     sscanf(text, "close %llu %64[0-9a-f] %64[0-9a-f]%n", &seq, dhex,
		    hhex, &used) != 3) ||
	    (size_t)used != len || bundle_unhex(dhex, digest, 32) < 0) {
		chain_fail(v, cs, "frames.chain: line %" PRIu64
				  ": malformed close record", ln);
		return;
	}
	if (!last) {
		chain_fail(v, cs, "frames.chain: line %" PRIu64
				  ": lines after the close record", ln);
		return;
	}
	if (!closed) {
		note(v, BUNDLE_WARN,
		     "frames.chain: line %" PRIu64 ": close record in a bundle "
		     "that is not closed (ignored)", ln);
		return;
	}
	if (seq != cs->blocks + 1) {
		chain_fail(v, cs, "frames.chain: line %" PRIu64
				  ": close record seq %llu, expected %" PRIu64,
			   ln, seq, cs->blocks + 1);
		return;
	}
	if (bundle_close_link(cs->head, seq, digest, h, mine, sizeof(mine)) !=
		    len + 1 ||
	    memcmp(mine, line, len)) {
		chain_fail(v, cs, "frames.chain: close record chain value mismatch");
		return;
	}
	/* the chain itself holds: the manifest's other checks still run */
	memcpy(cs->head, h, 32);
	cs->close_seen = true;
	if (bundle_close_digest(v->m, want, err, sizeof(err)) < 0 ||
	    memcmp(want, digest, 32))
		note(v, BUNDLE_FAIL,
		     "manifest.json: end time, counts, recording or "
		     "config_files differ from the close record in "
		     "frames.chain");
}

static void verify_chain(struct vctx *v, const uint8_t h0[32], bool closed,
			 struct chain_state *cs)
{
	char path[4096], err[256];
	size_t clen;
	char *chain;

	memcpy(cs->head, h0, 32);
	cs->seg = 0;
	cs->seg_off = 0;
	cs->fd = -1;
	snprintf(path, sizeof(path), "%s/frames.chain", v->dir);
	chain = bundle_read_file(path, 1u << 30, &clen, err, sizeof(err));
	if (!chain) {
		chain_fail(v, cs, "frames.chain: unreadable (%s)", err);
		return;
	}
	cs->fd = seg_open(v->dir, 0, &cs->segsize);
	if (cs->fd < 0) {
		chain_fail(v, cs, "frames.log: missing");
		goto out;
	}
	size_t pos = 0;
	for (uint64_t ln = 1; pos < clen; ln++) {
		struct bundle_block b;
		char *nl = memchr(chain + pos, '\n', clen - pos);
		size_t len = nl ? (size_t)(nl - chain) - pos : clen - pos;

		if (!nl && closed) {
			chain_fail(v, cs,
				   "frames.chain: line %" PRIu64
				   ": incomplete (no newline)",
				   ln);
			break;
		}
		if (!nl) {
			note(v, BUNDLE_WARN,
			     "frames.chain: line %" PRIu64
			     ": incomplete last line ignored (written when recording stopped)",
			     ln);
			cs->incomplete_line = true;
			break;
		}
		if (len > 6 && !memcmp(chain + pos, "close ", 6)) {
			chain_close_record(v, cs, chain + pos, len, ln, closed,
					   pos + len + 1 == clen);
			if (!cs->close_seen && !cs->failed)
				pos += len + 1; /* ignored: not closed */
			break;
		}
		if (bundle_chain_parse(chain + pos, len, &b, err, sizeof(err)) <
		    0) {
			chain_fail(v, cs, "frames.chain: line %" PRIu64 ": %s",
				   ln, err);
			break;
		}
		pos += len + 1;
		if (chain_verify_block(v, cs, &b, ln) < 0)
			break;
	}
	if (!cs->failed && cs->fd >= 0)
		chain_count_tail(v, cs, closed);
out:
	if (cs->fd >= 0)
		close(cs->fd);
	cs->fd = -1;
	free(cs->blockbuf);
	cs->blockbuf = NULL;
	free(chain);
}

bool bundle_root_of(const char *file, char *root, size_t rootlen,
		    char *real, size_t reallen)
{
	char buf[PATH_MAX], m[PATH_MAX + 16];
	struct stat sb;
	char *slash;

	if (!realpath(file, buf) || strlen(buf) >= reallen)
		return false;
	snprintf(real, reallen, "%s", buf);
	/* walk up to a directory named config whose parent has a manifest */
	while ((slash = strrchr(buf, '/')) && slash != buf) {
		*slash = '\0';
		slash = strrchr(buf, '/');
		if (!slash || strcmp(slash + 1, "config"))
			continue;
		*slash = '\0';
		snprintf(m, sizeof(m), "%s/manifest.json", *buf ? buf : "");
		if (lstat(m, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    strlen(buf) < rootlen) {
			snprintf(root, rootlen, "%s", buf);
			return true;
		}
		*slash = '/';
	}
	return false;
}

bool bundle_safe_relpath(const char *p)
{
	if (!*p || p[0] == '/')
		return false;
	for (const char *q = p; *q;) {
		const char *e = strchr(q, '/');
		size_t n = e ? (size_t)(e - q) : strlen(q);
		if (n == 0 || (n == 2 && !memcmp(q, "..", 2)) ||
		    (n == 1 && q[0] == '.'))
			return false;
		q += n;
		if (*q)
			q++;
	}
	return true;
}

static void verify_config_files(struct vctx *v, const struct bundle_json *m)
{
	const struct bundle_json *cf = bundle_json_get(m, "config_files");
	const char *want = bundle_json_str(bundle_json_get(m, "header"),
					   "config_sha256");
	crypto_hash_sha256_state st;
	uint8_t d[32];
	char hex[BUNDLE_SHA256_HEX], err[256], path[4096];

	if (!cf || cf->type != BJ_ARRAY) {
		note(v, BUNDLE_FAIL, "manifest.json: no config_files array");
		return;
	}
	crypto_hash_sha256_init(&st);
	for (size_t i = 0; i < cf->n; i++) {
		const char *p = bundle_json_str(&cf->items[i], "path");
		const char *h = bundle_json_str(&cf->items[i], "sha256");
		if (!p || !h || !bundle_safe_relpath(p)) {
			note(v, BUNDLE_FAIL,
			     "manifest.json: config_files[%zu] malformed", i);
			return;
		}
		crypto_hash_sha256_update(&st, (const unsigned char *)h,
					  strlen(h));
		crypto_hash_sha256_update(&st, (const unsigned char *)"  ", 2);
		crypto_hash_sha256_update(&st, (const unsigned char *)p,
					  strlen(p));
		crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
		snprintf(path, sizeof(path), "%s/%s", v->dir, p);
		if (bundle_sha256_file(path, d, NULL, err, sizeof(err)) < 0) {
			note(v, BUNDLE_FAIL, "%s: missing (listed in config_files)",
			     p);
			continue;
		}
		bundle_hex(d, 32, hex);
		if (strcmp(hex, h))
			note(v, BUNDLE_FAIL,
			     "%s: sha256 differs from manifest.json config_files",
			     p);
	}
	crypto_hash_sha256_final(&st, d);
	bundle_hex(d, 32, hex);
	if (!want || strcmp(want, hex))
		note(v, BUNDLE_FAIL,
		     "manifest.json: header config_sha256 does not match config_files");
}

static void verify_files(struct vctx *v, const struct bundle_json *m,
			 unsigned last_seg, bool closed)
{
	const struct bundle_json *files = bundle_json_get(m, "files");
	char path[4096], err[256], hex[BUNDLE_SHA256_HEX];
	static const char *const required[] = {
		"frames.chain", "events.jsonl", "violations.jsonl",
		"verdicts.json"};

	if (!files || files->type != BJ_OBJECT) {
		note(v, BUNDLE_FAIL, "manifest.json: no \"files\" object");
		return;
	}
	for (size_t i = 0; i < files->n; i++) {
		const char *rel = files->items[i].key;
		const char *want = bundle_json_str(&files->items[i], "sha256");
		uint64_t size, bytes;
		uint8_t d[32];

		if (!bundle_safe_relpath(rel) || !want) {
			note(v, BUNDLE_FAIL, "manifest.json: files entry '%s' malformed",
			     rel);
			continue;
		}
		if (v->o && v->o->ignore_report && !strcmp(rel, "report.html"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", v->dir, rel);
		if (bundle_sha256_file(path, d, &size, err, sizeof(err)) < 0) {
			struct stat sb;

			if (lstat(path, &sb) < 0 && errno == ENOENT)
				note(v, BUNDLE_FAIL,
				     "%s: missing (listed in manifest.json)", rel);
			else
				note(v, BUNDLE_FAIL, "%s: unreadable (%s)", rel,
				     err);
			continue;
		}
		bundle_hex(d, 32, hex);
		if (strcmp(hex, want))
			note(v, BUNDLE_FAIL, "manifest.json: sha256 of %s differs",
			     rel);
		else if (bundle_json_u64(&files->items[i], "bytes", &bytes) < 0 ||
			 bytes != size)
			note(v, BUNDLE_FAIL,
			     "manifest.json: size of %s differs (%" PRIu64
			     " bytes on disk)",
			     rel, size);
		v->r->files++;
	}
	if (closed) {
		for (size_t i = 0; i < sizeof(required) / sizeof(*required); i++)
			if (!bundle_json_get(files, required[i]))
				note(v, BUNDLE_FAIL,
				     "manifest.json: %s not listed in files",
				     required[i]);
	}
	for (unsigned s = 0; s <= last_seg; s++) {
		char name[64];
		bundle_segment_name(s, name, sizeof(name));
		if (!bundle_json_get(files, name))
			note(v, BUNDLE_FAIL, "manifest.json: %s not listed in files",
			     name);
	}
}

/*
 * Every entry of the bundle, at any depth: evidence is regular files only
 * (a link may point anywhere, a FIFO blocks a reader, a device such as
 * /dev/zero never ends), *.tmp is a write that never completed, and a file
 * the manifest does not list was added later. files is NULL for an open
 * bundle (nothing is listed yet).
 */
static void verify_tree(struct vctx *v, const struct bundle_json *files)
{
	struct pathlist l = {0};

	if (walk(v->dir, "", &l, 0) < 0) {
		note(v, BUNDLE_FAIL, "%s: cannot list the bundle: %s", v->dir,
		     strerror(errno));
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		const char *rel = l.v[i].rel;
		mode_t mode = l.v[i].mode;
		size_t n = strlen(rel);

		if (mode == WALK_TOO_DEEP)
			note(v, BUNDLE_FAIL,
			     "%s: directories nested deeper than %d (not examined)",
			     rel, WALK_MAX_DEPTH);
		else if (S_ISLNK(mode))
			note(v, BUNDLE_FAIL,
			     "%s: a symbolic link (evidence must be regular files)",
			     rel);
		else if (!S_ISREG(mode))
			note(v, BUNDLE_FAIL,
			     "%s: not a regular file (FIFO, device or socket)",
			     rel);
		else if (n > 4 && !strcmp(rel + n - 4, ".tmp"))
			note(v, BUNDLE_WARN,
			     "%s: leftover temporary file (a write that did not complete)",
			     rel);
		else if (files && !strcmp(rel, BUNDLE_RESERVE) &&
			 !(v->o && v->o->ignore_report))
			/* the report is written while the close still holds
			 * its reserve */
			note(v, BUNDLE_WARN,
			     "%s: left over by a crash while closing (the daemon's recovery finishes the close)",
			     rel);
		else if (files && !never_hashed(rel) &&
			 !bundle_json_get(files, rel) &&
			 !(!strcmp(rel, "report.html") && v->o &&
			   v->o->ignore_report))
			note(v, BUNDLE_WARN,
			     "%s: not covered by manifest.json (added after the session ended)",
			     rel);
	}
	pathlist_free(&l);
}

static int sign_key_cb(void *user, const char *section, const char *name,
		       const char *value)
{
	(void)value;
	if (!strcmp(section, "evidence") && !strcmp(name, "sign_key"))
		*(bool *)user = true;
	return 1;
}

/* Does the sealed config (any file of config_files, read as the daemon
 * reads INI) name sign_key in [evidence]? Then the recorder signed. */
static bool sealed_config_signs(struct vctx *v, const struct bundle_json *m)
{
	const struct bundle_json *cf = bundle_json_get(m, "config_files");
	bool found = false;

	for (size_t i = 0; cf && cf->type == BJ_ARRAY && i < cf->n && !found;
	     i++) {
		const char *p = bundle_json_str(&cf->items[i], "path");
		char path[4096], err[256];
		size_t len;
		char *text;

		if (!p || !bundle_safe_relpath(p))
			continue;
		snprintf(path, sizeof(path), "%s/%s", v->dir, p);
		text = bundle_read_file(path, 16u << 20, &len, err, sizeof(err));
		if (text)
			ini_parse_string(text, sign_key_cb, &found);
		free(text);
	}
	return found;
}

/* Lines of a small bundle file, or UINT64_MAX when it cannot be read (the
 * file checks name that). */
static uint64_t file_lines(struct vctx *v, const char *name)
{
	char path[4096], err[256];
	size_t len;
	char *text;
	uint64_t n;

	snprintf(path, sizeof(path), "%s/%s", v->dir, name);
	text = bundle_read_file(path, 1u << 30, &len, err, sizeof(err));
	if (!text)
		return UINT64_MAX;
	n = count_lines(text, len);
	free(text);
	return n;
}

/*
 * The manifest's counts against what the files hold. While recording ran
 * to the end every counted event and violation is a line; after a write
 * error (recording.stopped) lines may be missing, never extra.
 */
static void verify_counts(struct vctx *v, const struct bundle_json *m,
			  const struct chain_state *cs)
{
	static const char *const counted[][2] = {
		{"events", "events.jsonl"}, {"violations", "violations.jsonl"}};
	const struct bundle_json *counts = bundle_json_get(m, "counts");
	const struct bundle_json *rec = bundle_json_get(m, "recording");
	const struct bundle_json *stopped = bundle_json_get(rec, "stopped");
	uint64_t n, blocks;

	if (!stopped || stopped->type != BJ_BOOL) {
		note(v, BUNDLE_FAIL, "manifest.json: no recording.stopped");
		return;
	}
	if (bundle_json_u64(counts, "blocks", &blocks) < 0 ||
	    blocks != cs->blocks)
		note(v, BUNDLE_FAIL,
		     "manifest.json: counts.blocks differs from the %" PRIu64
		     " blocks in frames.chain",
		     cs->blocks);
	for (size_t i = 0; i < sizeof(counted) / sizeof(*counted); i++) {
		uint64_t lines = file_lines(v, counted[i][1]);

		if (lines == UINT64_MAX)
			continue;
		if (bundle_json_u64(counts, counted[i][0], &n) < 0)
			note(v, BUNDLE_FAIL, "manifest.json: no counts.%s",
			     counted[i][0]);
		else if (lines > n || (lines < n && !stopped->b))
			note(v, BUNDLE_FAIL,
			     "manifest.json: counts.%s says %" PRIu64
			     ", %s holds %" PRIu64,
			     counted[i][0], n, counted[i][1], lines);
		else if (lines < n)
			note(v, BUNDLE_WARN,
			     "%s: %" PRIu64 " of %" PRIu64 " %s not written "
			     "(recording stopped)",
			     counted[i][1], n - lines, n, counted[i][0]);
	}
}

/* A recording that stopped (disk full, I/O error) verifies as far as it
 * goes, but what it lacks must not pass for a complete session. */
static void verify_recording(struct vctx *v, const struct bundle_json *m,
			     const struct chain_state *cs)
{
	const struct bundle_json *rec = bundle_json_get(m, "recording");
	const struct bundle_json *stopped = bundle_json_get(rec, "stopped");
	const struct bundle_json *counts = bundle_json_get(m, "counts");
	const char *error = bundle_json_str(rec, "error");
	uint64_t lost = 0, ev_lost = 0, viol_lost = 0;

	bundle_json_u64(counts, "not_recorded", &lost);
	bundle_json_u64(counts, "events_unwritten", &ev_lost);
	bundle_json_u64(counts, "violations_unwritten", &viol_lost);
	if (stopped && stopped->type == BJ_BOOL && stopped->b) {
		note(v, BUNDLE_WARN,
		     "recording stopped at line %" PRIu64 ", %" PRIu64
		     " frames not recorded (%s)",
		     cs->lines, lost, error ? error : "no error given");
		v->r->incomplete = true;
	}
	/* verify_counts names the missing lines */
	if (ev_lost || viol_lost)
		v->r->incomplete = true;
}

static void verify_signature(struct vctx *v, const struct bundle_json *m,
			     const char *mtext, size_t mlen, int *rc)
{
	char path[4096], err[256];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	struct stat sb;
	bool removed;

	snprintf(path, sizeof(path), "%s/manifest.sig", v->dir);
	v->r->sig_present = lstat(path, &sb) == 0;
	removed = !v->r->sig_present && sealed_config_signs(v, m);
	if (removed)
		/* the signature was removed to pass edits off as unsigned */
		note(v, BUNDLE_FAIL,
		     "manifest.sig: missing, but the sealed config names "
		     "sign_key (signature removed?)");
	if (!v->o || !v->o->pubkey_path) {
		if (v->o && v->o->require_signature)
			note(v, BUNDLE_FAIL,
			     "manifest.sig: a signature is required but no "
			     "trusted key was given (--pubkey)");
		else if (v->r->sig_present)
			note(v, BUNDLE_INFO,
			     "manifest.sig: signature present, not checked (give --pubkey)");
		return;
	}
	if (bundle_key_read(v->o->pubkey_path, pk, sizeof(pk), err,
			    sizeof(err)) < 0) {
		snprintf(v->r->first_fail, sizeof(v->r->first_fail), "%s", err);
		*rc = 2;
		return;
	}
	v->r->sig_checked = true;
	if (!v->r->sig_present) {
		if (!removed)
			note(v, BUNDLE_FAIL,
			     "manifest.sig: missing (a trusted key was given)");
		return;
	}
	if (bundle_key_read(path, sig, sizeof(sig), err, sizeof(err)) < 0) {
		note(v, BUNDLE_FAIL, "manifest.sig: malformed");
		return;
	}
	if (crypto_sign_verify_detached(sig, (const unsigned char *)mtext, mlen,
					pk) != 0) {
		note(v, BUNDLE_FAIL,
		     "manifest.sig: signature does not verify with %s",
		     v->o->pubkey_path);
		return;
	}
	v->r->sig_ok = true;
}

int bundle_verify(const char *dir, const struct bundle_verify_opts *o,
		  struct bundle_verify_result *r)
{
	struct vctx v = {.dir = dir, .o = o, .r = r};
	char path[4096], err[256], hex[BUNDLE_SHA256_HEX];
	struct bundle_json *m = NULL;
	struct chain_state cs = {0};
	uint8_t h0[32];
	size_t mlen;
	char *mtext;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (sodium_init() < 0) {
		snprintf(r->first_fail, sizeof(r->first_fail),
			 "libsodium failed to initialise");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	mtext = bundle_read_file(path, 64u << 20, &mlen, err, sizeof(err));
	if (!mtext) {
		snprintf(r->first_fail, sizeof(r->first_fail),
			 "%s (not an evidence bundle?)", err);
		return 2;
	}
	m = bundle_json_parse(mtext, mlen, err, sizeof(err));
	v.m = m;
	if (!m || m->type != BJ_OBJECT) {
		note(&v, BUNDLE_FAIL, "manifest.json: not a JSON object (%s)",
		     m ? "wrong type" : err);
		goto out;
	}
	const char *fmt = bundle_json_str(m, "format");
	if (!fmt || strcmp(fmt, BUNDLE_FORMAT)) {
		note(&v, BUNDLE_FAIL, "manifest.json: format is %s, expected %s",
		     fmt ? fmt : "missing", BUNDLE_FORMAT);
		goto out;
	}
	const char *status = bundle_json_str(m, "status");
	if (!status || (strcmp(status, "open") && strcmp(status, "closed") &&
			strcmp(status, "interrupted"))) {
		note(&v, BUNDLE_FAIL, "manifest.json: bad status '%s'",
		     status ? status : "missing");
		goto out;
	}
	snprintf(r->status, sizeof(r->status), "%s", status);
	bool closed = !strcmp(status, "closed");
	bool open = !strcmp(status, "open");
	if (bundle_header_h0(bundle_json_get(m, "header"), h0, err,
			     sizeof(err)) < 0) {
		note(&v, BUNDLE_FAIL, "manifest.json: %s", err);
		goto out;
	}
	bundle_hex(h0, 32, hex);
	const char *h0s = bundle_json_str(m, "h0");
	if (!h0s || strcmp(h0s, hex))
		note(&v, BUNDLE_FAIL,
		     "manifest.json: header fields edited (h0 differs)");
	verify_config_files(&v, m);
	verify_chain(&v, h0, closed, &cs);
	if (closed && !cs.failed && !cs.close_seen) {
		const struct bundle_json *cr =
			bundle_json_get(bundle_json_get(m, "header"),
					"close_record");

		/* the header (bound by H_0) says whether one was written */
		if (cr && cr->type == BJ_BOOL && cr->b)
			note(&v, BUNDLE_FAIL,
			     "frames.chain: no close record (removed?): end "
			     "time, counts, recording and config sources are "
			     "not bound");
		else
			note(&v, BUNDLE_WARN,
			     "frames.chain: no close record (written by an older "
			     "cangate): end time, counts, recording and config "
			     "sources are not bound");
	}
	r->blocks = cs.blocks;
	r->lines = cs.lines;
	bundle_hex(cs.head, 32, r->head);
	if (!open && !cs.failed) {
		const struct bundle_json *ch = bundle_json_get(m, "chain");
		uint64_t blocks = UINT64_MAX, lines = UINT64_MAX, frames;
		const char *head = bundle_json_str(ch, "head");

		bundle_json_u64(ch, "blocks", &blocks);
		bundle_json_u64(ch, "lines", &lines);
		if (blocks != cs.blocks || lines != cs.lines)
			note(&v, BUNDLE_FAIL,
			     "manifest.json: chain says %" PRIu64 " blocks, %" PRIu64
			     " lines; frames.chain holds %" PRIu64 ", %" PRIu64,
			     blocks, lines, cs.blocks, cs.lines);
		if (!head || strcmp(head, r->head))
			note(&v, BUNDLE_FAIL,
			     "manifest.json: chain head differs from frames.chain");
		if (closed &&
		    (bundle_json_u64(bundle_json_get(m, "counts"), "frames",
				     &frames) < 0 ||
		     frames != cs.lines))
			note(&v, BUNDLE_FAIL,
			     "manifest.json: counts.frames differs from the %" PRIu64
			     " lines in frames.log",
			     cs.lines);
		if (closed)
			verify_counts(&v, m, &cs);
	}
	verify_tree(&v, open ? NULL : bundle_json_get(m, "files"));
	if (!open) {
		verify_recording(&v, m, &cs);
		verify_files(&v, m, cs.seg, closed);
	} else {
		struct stat sb;
		snprintf(path, sizeof(path), "%s/verdicts.json", dir);
		/* only a closed session writes verdicts: the "open" label may
		 * have been put there to escape the file hashes */
		if (stat(path, &sb) == 0)
			note(&v, BUNDLE_WARN,
			     "verdicts.json: present in an open bundle, not covered by any hash");
	}
	verify_signature(&v, m, mtext, mlen, &rc);
	if (rc == 2)
		goto out;

	char sig[64];
	snprintf(sig, sizeof(sig), "%s",
		 r->sig_ok ? "signature OK" :
		 r->sig_present ? "signature present, not checked" :
				  "unsigned");
	if (closed)
		snprintf(r->summary, sizeof(r->summary),
			 "closed: %" PRIu64 " frames in %" PRIu64
			 " blocks, %" PRIu64 " files, chain head %.16s, %s",
			 cs.lines, cs.blocks, r->files, r->head, sig);
	else
		snprintf(r->summary, sizeof(r->summary),
			 "%s: verified to block %" PRIu64 ", line %" PRIu64
			 "; %" PRIu64 " bytes (%" PRIu64
			 " lines) after it unverifiable; chain head %.16s, %s",
			 open ? "open (still recording, or crashed and not yet recovered)" :
				"interrupted",
			 cs.blocks, cs.lines, r->tail_bytes, r->tail_lines,
			 r->head, sig);
out:
	bundle_json_free(m);
	free(mtext);
	if (rc)
		return rc;
	return r->fails ? 1 : 0;
}
