/*
 * logread_blf.c: Vector BLF (binary logging format) to frames.
 *
 * There is no public specification; the layout here is the one python-can's
 * can/io/blf.py and Toby Lorenz' vector_blf read and write, all
 * little-endian:
 *   file header  "LOGG", u32 header size (144), ..., at byte 40 the start
 *                time as a Windows SYSTEMTIME (8 x u16, local time)
 *   objects      "LOBJ", u16 header size, u16 header version, u32 object
 *                size, u32 object type, then (version 1 and 2 alike) u32
 *                flags at 16 (1: time in 10 us, else ns) and u64 time at 24;
 *                object size % 4 padding bytes follow each object
 *   type 10      LOG_CONTAINER: u16 method (0 stored, 2 zlib), 6 reserved,
 *                u32 uncompressed size, 4 reserved, then the data: a stream
 *                of further objects, which may run on into the next container
 * Frames: CAN_MESSAGE (1) and CAN_MESSAGE2 (86), CAN_ERROR (2) and
 * CAN_ERROR_EXT (73), CAN_FD_MESSAGE (100), CAN_FD_MESSAGE_64 (101). Other
 * objects (statistics, markers, text) are no frames and are passed over.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daemon/core/logread_impl.h"

#define BLF_HEADER_MIN 72
#define BLF_HEADER_MAX 4096
/* Vector and python-can write containers of 128 KiB; this bounds what a
 * damaged size field can make us allocate. */
#define BLF_CONTAINER_MAX (16u << 20)
#define BLF_STREAM_START 4096

enum {
	BLF_CAN_MESSAGE = 1,
	BLF_CAN_ERROR = 2,
	BLF_LOG_CONTAINER = 10,
	BLF_CAN_ERROR_EXT = 73,
	BLF_CAN_MESSAGE2 = 86,
	BLF_CAN_FD_MESSAGE = 100,
	BLF_CAN_FD_MESSAGE_64 = 101,
};

struct blf_state {
	uint64_t start_ns;
	uint8_t *in;            /* objects unpacked from containers: in[start, end) */
	size_t in_cap, in_start, in_end;
	z_stream z;
	bool z_ready;
	uint64_t offset;        /* bytes of the file consumed, for messages */
};

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t u64(const uint8_t *p)
{
	return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

/* Consume n input bytes (fewer at end of input); -1 on a read error. */
static int skip(struct logread *r, uint64_t n, char *err, size_t errlen)
{
	while (n) {
		ssize_t have = logread_need(r, 1, err, errlen);
		size_t k;

		if (have <= 0)
			return (int)have;
		k = (uint64_t)have < n ? (size_t)have : (size_t)n;
		r->start += k;
		r->blf->offset += k;
		n -= k;
	}
	return 0;
}

int blf_open(struct logread *r, char *err, size_t errlen)
{
	struct blf_state *b = calloc(1, sizeof(*b));
	const uint8_t *h;
	uint32_t hsize;
	ssize_t have;

	if (!b || !(b->in = malloc(BLF_STREAM_START))) {
		free(b);
		return logread_err(err, errlen, -1, "out of memory");
	}
	b->in_cap = BLF_STREAM_START;
	r->blf = b;
	have = logread_need(r, BLF_HEADER_MIN, err, errlen);
	if (have < 0)
		return -1;
	h = r->buf + r->start;
	if (have < BLF_HEADER_MIN || memcmp(h, "LOGG", 4) != 0)
		return logread_err(err, errlen, -1,
				   "BLF file header cut short");
	hsize = u32(h + 4);
	if (hsize < BLF_HEADER_MIN || hsize > BLF_HEADER_MAX)
		return logread_err(err, errlen, -1,
				   "BLF file header of %u bytes", hsize);
	if (u16(h + 40))
		b->start_ns = logread_local_ns(u16(h + 40), u16(h + 42),
					       u16(h + 46), u16(h + 48),
					       u16(h + 50), u16(h + 52),
					       u16(h + 54) > 999 ? UINT32_MAX :
					       u16(h + 54) * 1000000u);
	if (skip(r, hsize, err, errlen) < 0)
		return -1;
	if (inflateInit(&b->z) != Z_OK)
		return logread_err(err, errlen, -1, "zlib: cannot initialise");
	b->z_ready = true;
	return 0;
}

void blf_free(struct blf_state *b)
{
	if (!b)
		return;
	if (b->z_ready)
		inflateEnd(&b->z);
	free(b->in);
	free(b);
}

/* Room for n more bytes at in_end, moving what is unread to the front. */
static int in_reserve(struct blf_state *b, size_t n)
{
	size_t have = b->in_end - b->in_start;

	if (b->in_start) {
		memmove(b->in, b->in + b->in_start, have);
		b->in_start = 0;
		b->in_end = have;
	}
	if (have + n > b->in_cap) {
		size_t cap = have + n;
		uint8_t *p = realloc(b->in, cap);

		if (!p)
			return -1;
		b->in = p;
		b->in_cap = cap;
	}
	return 0;
}

/* Copy or inflate a container's len input bytes into the object stream;
 * at is its place in the file, for messages. */
static int unpack(struct logread *r, uint64_t at, unsigned method,
		  uint64_t len, uint32_t usize, char *err, size_t errlen)
{
	struct blf_state *b = r->blf;
	bool broken = false;
	int zrc = Z_OK;

	if (method == 0)
		usize = len > BLF_CONTAINER_MAX ? BLF_CONTAINER_MAX : (uint32_t)len;
	if (in_reserve(b, usize) < 0)
		return logread_err(err, errlen, LOGREAD_FATAL, "out of memory");
	if (method == 2)
		inflateReset(&b->z);
	while (len) {
		ssize_t have = logread_need(r, 1, err, errlen);
		size_t k, room = b->in_cap - b->in_end;

		if (have < 0)
			return LOGREAD_FATAL;
		if (have == 0)
			return logread_err(err, errlen, LOGREAD_BAD,
					   "byte %llu: file ends inside a "
					   "container", (unsigned long long)at);
		k = (uint64_t)have < len ? (size_t)have : (size_t)len;
		if (method == 0) {
			if (k > room)
				k = room;
			memcpy(b->in + b->in_end, r->buf + r->start, k);
			b->in_end += k;
		} else if (!broken && zrc != Z_STREAM_END) {
			b->z.next_in = r->buf + r->start;
			b->z.avail_in = (uInt)k;
			b->z.next_out = b->in + b->in_end;
			b->z.avail_out = (uInt)room;
			zrc = inflate(&b->z, Z_NO_FLUSH);
			b->in_end += room - b->z.avail_out;
			if (zrc != Z_OK && zrc != Z_STREAM_END)
				broken = true;
			else if (b->z.avail_in && zrc != Z_STREAM_END)
				broken = true; /* more data than it said */
			k -= b->z.avail_in;
			if (!k)
				k = 1; /* what is left cannot be used */
		}
		r->start += k;
		b->offset += k;
		len -= k;
		if (method == 0 && b->in_cap == b->in_end && len)
			return logread_err(err, errlen, LOGREAD_BAD,
					   "byte %llu: stored container larger "
					   "than %u bytes", (unsigned long long)at,
					   BLF_CONTAINER_MAX);
	}
	if (method == 2 && (broken || zrc != Z_STREAM_END))
		return logread_err(err, errlen, LOGREAD_BAD,
				   "byte %llu: container does not inflate to "
				   "its %u bytes%s%s", (unsigned long long)at,
				   usize, b->z.msg ? ": " : "",
				   b->z.msg ? b->z.msg : "");
	return LOGREAD_END;
}

/* Read the next top-level object into the object stream: LOGREAD_END when
 * something was added (or skipped), 0 with *eof at the end of the file. */
static int read_outer(struct logread *r, bool *eof, char *err, size_t errlen)
{
	struct blf_state *b = r->blf;
	ssize_t have = logread_need(r, 32, err, errlen);
	const uint8_t *h = r->buf + r->start;
	uint32_t osize, otype;
	uint64_t at = b->offset;
	int rc;

	*eof = false;
	if (have < 0)
		return LOGREAD_FATAL;
	if (have == 0) {
		*eof = true;
		return LOGREAD_END;
	}
	if (have < 16 || memcmp(h, "LOBJ", 4) != 0)
		return logread_err(err, errlen, LOGREAD_FATAL,
				   "byte %llu: no object signature (LOBJ)",
				   (unsigned long long)at);
	osize = u32(h + 8);
	otype = u32(h + 12);
	if (otype != BLF_LOG_CONTAINER) {
		/* Objects outside containers (old writers) join the stream. */
		if (osize < 16 || osize > BLF_CONTAINER_MAX)
			return logread_err(err, errlen, LOGREAD_FATAL,
					   "byte %llu: object of %u bytes",
					   (unsigned long long)at, osize);
		rc = unpack(r, at, 0, osize, 0, err, errlen);
	} else {
		uint32_t usize;
		unsigned method;

		if (have < 32 || osize < 32)
			return logread_err(err, errlen, LOGREAD_FATAL,
					   "byte %llu: container cut short",
					   (unsigned long long)at);
		method = u16(h + 16);
		usize = u32(h + 24);
		if (method != 0 && method != 2)
			return logread_err(err, errlen, LOGREAD_FATAL,
					   "byte %llu: container compressed "
					   "with unknown method %u",
					   (unsigned long long)at, method);
		if (usize > BLF_CONTAINER_MAX)
			return logread_err(err, errlen, LOGREAD_FATAL,
					   "byte %llu: container of %u bytes",
					   (unsigned long long)at, usize);
		r->start += 32;
		b->offset += 32;
		rc = unpack(r, at, method, osize - 32u, usize, err, errlen);
	}
	if (rc == LOGREAD_FATAL)
		return rc;
	if (skip(r, osize % 4, err, errlen) < 0)
		return LOGREAD_FATAL;
	return rc;
}

static void set_channel(char ifname[FRAME_IFNAME_MAX], unsigned ch)
{
	char tmp[12];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + ch % 10);
	while ((ch /= 10) && n < sizeof(tmp));
	for (size_t i = 0; i < n; i++)
		ifname[i] = tmp[n - 1 - i];
	ifname[n] = '\0';
}

static int set_id(struct frame *f, uint32_t id, char *err, size_t errlen)
{
	f->ext = id & 0x80000000u;
	f->id = id & CAN_EFF_MASK;
	if (!f->ext && f->id > CAN_SFF_MASK)
		return logread_err(err, errlen, LOGREAD_BAD,
				   "11-bit CAN ID 0x%X above 0x7FF", f->id);
	return LOGREAD_FRAME;
}

/* Classic frame fields: dlc, flags bit 7 RTR. */
static void set_classic(struct frame *f, unsigned dlc, bool rtr,
			const uint8_t *data)
{
	f->rtr = rtr;
	f->len = (uint8_t)(dlc > 8 ? 8 : dlc);
	if (dlc > 8)
		f->raw_dlc = (uint8_t)dlc;
	if (!rtr)
		memcpy(f->data, data, f->len);
}

static int set_fd(struct frame *f, bool brs, bool esi, unsigned dlc,
		  unsigned valid, const uint8_t *data, uint32_t id, char *err,
		  size_t errlen)
{
	f->fd = true;
	f->fd_flags = (uint8_t)((brs ? CANFD_BRS : 0) | (esi ? CANFD_ESI : 0));
	if (valid > 64 || logread_fd_len[dlc] != valid)
		return logread_err(err, errlen, LOGREAD_BAD,
				   "CAN FD frame with DLC %u and %u data bytes",
				   dlc, valid);
	f->len = (uint8_t)valid;
	memcpy(f->data, data, valid);
	return set_id(f, id, err, errlen);
}

/* One object's body (p, n bytes) of type t: LOGREAD_FRAME, LOGREAD_END for
 * objects that are no frame, LOGREAD_BAD. */
static int decode(unsigned t, const uint8_t *p, size_t n,
		  struct logread_rec *rec, char *err, size_t errlen)
{
	struct frame *f = &rec->f;
	unsigned fdf, valid, dlc;

	switch (t) {
	case BLF_CAN_MESSAGE:
	case BLF_CAN_MESSAGE2:
		if (n < 16)
			break;
		set_channel(rec->ifname, u16(p));
		f->dir = p[2] & 1 ? FRAME_DIR_TX : FRAME_DIR_RX;
		set_classic(f, p[3] & 15, p[2] & 0x80, p + 8);
		return set_id(f, u32(p + 4), err, errlen);
	case BLF_CAN_ERROR:
	case BLF_CAN_ERROR_EXT:
		if (n < 4)
			break;
		set_channel(rec->ifname, u16(p));
		f->err = true;
		f->len = CAN_ERR_DLC;
		return LOGREAD_FRAME;
	case BLF_CAN_FD_MESSAGE:
		if (n < 84)
			break;
		set_channel(rec->ifname, u16(p));
		f->dir = p[2] & 1 ? FRAME_DIR_TX : FRAME_DIR_RX;
		dlc = p[3] & 15;
		fdf = p[13];
		valid = p[14];
		if (!(fdf & 1)) {
			set_classic(f, dlc, p[2] & 0x80, p + 20);
			return set_id(f, u32(p + 4), err, errlen);
		}
		return set_fd(f, fdf & 2, fdf & 4, dlc, valid, p + 20,
			      u32(p + 4), err, errlen);
	case BLF_CAN_FD_MESSAGE_64:
		if (n < 40)
			break;
		dlc = p[1] & 15;
		valid = p[2];
		fdf = u32(p + 12);
		if (p[34] > 1)
			return LOGREAD_END; /* a transmit request, no frame */
		if (n < 40u + valid)
			break;
		set_channel(rec->ifname, p[0]);
		f->dir = p[34] ? FRAME_DIR_TX : FRAME_DIR_RX;
		if (!(fdf & 0x1000)) {
			if (!(fdf & 0x10) && valid < (dlc > 8 ? 8 : dlc))
				return logread_err(err, errlen, LOGREAD_BAD,
						   "frame with DLC %u and %u "
						   "data bytes", dlc, valid);
			set_classic(f, dlc, fdf & 0x10, p + 40);
			return set_id(f, u32(p + 4), err, errlen);
		}
		return set_fd(f, fdf & 0x2000, fdf & 0x4000, dlc, valid,
			      p + 40, u32(p + 4), err, errlen);
	default:
		return LOGREAD_END;
	}
	return logread_err(err, errlen, LOGREAD_BAD,
			   "object of type %u cut short (%zu bytes)", t, n);
}

/* Where the next object starts: python-can and Vector pad objects, and a
 * reader finds the next signature within 8 bytes. */
static const uint8_t *find_sig(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (memcmp(p + i, "LOBJ", 4) == 0)
			return p + i;
	return NULL;
}

int blf_next(struct logread *r, struct logread_rec *rec, char *err,
	     size_t errlen)
{
	struct blf_state *b = r->blf;
	bool eof = false;

	for (;;) {
		size_t avail = b->in_end - b->in_start;
		const uint8_t *p = b->in + b->in_start, *sig;
		uint32_t hsize, osize, flags;
		uint64_t ts;
		int rc;

		if (avail >= 16 && memcmp(p, "LOBJ", 4) != 0) {
			sig = find_sig(p, 12);
			if (!sig || sig - p > 7) {
				/* Damage: resynchronise on the next object. */
				sig = find_sig(p, avail);
				b->in_start = sig ? (size_t)(sig - b->in) :
						    b->in_end - (avail > 3 ? 3 : avail);
				r->pos++;
				return logread_err(err, errlen, LOGREAD_BAD,
						   "%zu bytes that are no object "
						   "skipped",
						   sig ? (size_t)(sig - p) : avail);
			}
			b->in_start += (size_t)(sig - p);
			continue;
		}
		if (avail < 16)
			goto more;
		hsize = u16(p + 4);
		osize = u32(p + 8);
		if (hsize < 32 || osize < hsize || osize > BLF_CONTAINER_MAX) {
			b->in_start += 4;
			r->pos++;
			return logread_err(err, errlen, LOGREAD_BAD,
					   "object with header of %u bytes and "
					   "size %u", hsize, osize);
		}
		if (avail < osize)
			goto more;
		r->pos++;
		b->in_start += osize;
		memset(rec, 0, sizeof(*rec));
		rec->pos = r->pos;
		rec->digits = 6;
		rc = decode(u32(p + 12), p + hsize, osize - hsize, rec, err,
			    errlen);
		if (rc != LOGREAD_FRAME) {
			if (rc == LOGREAD_END)
				continue;
			return rc;
		}
		flags = u32(p + 16);
		ts = u64(p + 24);
		if (flags == 1) {
			if (ts > UINT64_MAX / 10000u)
				return logread_err(err, errlen, LOGREAD_BAD,
						   "time out of range");
			ts *= 10000u;
		}
		if (ts > UINT64_MAX - 500 - b->start_ns)
			return logread_err(err, errlen, LOGREAD_BAD,
					   "time out of range");
		ts += b->start_ns;
		rec->f.t_ns = (ts + 500) / 1000 * 1000;
		return LOGREAD_FRAME;
more:
		if (eof) {
			bool zeros = true;

			for (size_t i = 0; i < avail; i++)
				zeros &= p[i] == 0;
			b->in_start = b->in_end;
			if (zeros)
				return LOGREAD_END;
			r->pos++;
			return logread_err(err, errlen, LOGREAD_BAD,
					   "file ends inside an object");
		}
		rc = read_outer(r, &eof, err, errlen);
		if (rc != LOGREAD_END)
			return rc;
	}
}
