/*
 * codec.c: signal extraction and insertion for the DBC library.
 *
 * Bit numbering. Intel ("@1") signals name their least significant bit with
 * the usual little-endian numbering: bit b lives in byte b/8 at position b%8.
 * Motorola ("@0") signals name their most significant bit with the same
 * "sawtooth" numbering (Vector, cantools) and then run towards lower
 * positions in the byte and on into the next byte. Both kinds are reduced by
 * dbc_signal_prepare() to three numbers: the byte holding the LSB, its
 * position in that byte (lsb_bit % 8), and the span of bytes touched. With
 * those a signal is a window of at most 9 bytes, read as one little-endian
 * (Intel) or big-endian (Motorola) 64-bit word plus an overflow byte for the
 * rare signal that straddles 9 bytes, then one shift and one mask.
 *
 * Raw values are kept as uint64_t all the way: doubles hold only 53 bits and
 * 64-bit counters and IDs must come out exact.
 */
#include <math.h>
#include <string.h>

#include "dbc/dbc.h"

/* Payload copy with 8 zero bytes of slack on each side, so that the fixed
 * 8-byte loads of the decode path never read outside it, whatever the
 * frame's length. */
#define PAD 8
struct padded {
	uint8_t b[PAD + DBC_MAX_PAYLOAD + PAD];
};

/* Nesting bound for cascaded multiplexers; also stops a (malformed) cycle. */
#define MUX_DEPTH_MAX 32
/* Signals per message whose mux activity dbc_decode() memoizes on the stack;
 * larger messages fall back to walking the chain per signal. */
#define MUX_CACHE 512

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t width_mask(unsigned len)
{
	return len >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << len) - 1;
}

/* Sign-extend (signed integers only) the masked raw bits. */
static inline uint64_t finish_raw(const struct dbc_signal *sig, uint64_t v)
{
	if (sig->is_signed && sig->value_type == DBC_VALUE_INTEGER &&
	    sig->length - 1u < 63u && (v >> (sig->length - 1)) & 1)
		v |= ~width_mask(sig->length);
	return v;
}

/* Extract from a padded payload (p points at payload byte 0, with PAD
 * readable bytes before it and after byte 63). */
static inline uint64_t extract_padded(const struct dbc_signal *sig,
				      const uint8_t *p)
{
	unsigned s = sig->lsb_bit & 7;
	unsigned len = sig->length;
	uint64_t v;

	if (sig->byte_order == DBC_LITTLE_ENDIAN) {
		const uint8_t *w = p + sig->first_byte;

		v = load_le64(w) >> s;
		if (s + len > 64)
			v |= (uint64_t)w[8] << (64 - s);
	} else {
		/* The LSB's byte is the last (least significant) of the BE word. */
		const uint8_t *w = p + (int)sig->last_byte - 7;

		v = load_be64(w) >> s;
		if (s + len > 64)
			v |= (uint64_t)w[-1] << (64 - s);
	}
	return finish_raw(sig, v & width_mask(len));
}

/* Byte-wise extraction straight from the caller's buffer; no padding needed.
 * Caller checked last_byte < len. */
static uint64_t extract_direct(const struct dbc_signal *sig, const uint8_t *data)
{
	unsigned s = sig->lsb_bit & 7;
	unsigned nbytes = (unsigned)sig->last_byte - sig->first_byte + 1;
	uint64_t lo = 0, hi = 0, v;

	/* Only a signal never passed through dbc_signal_prepare() can have
	 * this shape; read nothing rather than past its window. */
	if (sig->first_byte > sig->last_byte || nbytes > 9)
		return 0;
	/* Byte k of the window is the k-th least significant byte. */
	for (unsigned k = 0; k < nbytes; k++) {
		uint8_t byte = sig->byte_order == DBC_LITTLE_ENDIAN
				       ? data[sig->first_byte + k]
				       : data[sig->last_byte - k];
		if (k < 8)
			lo |= (uint64_t)byte << (8 * k);
		else
			hi = byte;
	}
	v = lo >> s;
	if (s)
		v |= hi << (64 - s);
	return finish_raw(sig, v & width_mask(sig->length));
}

int dbc_signal_prepare(struct dbc_signal *sig)
{
	unsigned start = sig->start_bit;
	unsigned len = sig->length;

	if (len < 1 || len > 64)
		return -1;
	if (sig->byte_order == DBC_LITTLE_ENDIAN) {
		unsigned msb = start + len - 1;

		if (msb >= 8 * DBC_MAX_PAYLOAD)
			return -1;
		sig->lsb_bit = (uint16_t)start;
		sig->first_byte = (uint8_t)(start / 8);
		sig->last_byte = (uint8_t)(msb / 8);
	} else {
		/* Linear big-endian position: byte-major, bit 7 of a byte first. */
		unsigned msb_lin, lsb_lin;

		if (start >= 8 * DBC_MAX_PAYLOAD)
			return -1;
		msb_lin = (start / 8) * 8 + (7 - start % 8);
		lsb_lin = msb_lin + len - 1;
		if (lsb_lin >= 8 * DBC_MAX_PAYLOAD)
			return -1;
		sig->lsb_bit = (uint16_t)((lsb_lin / 8) * 8 + (7 - lsb_lin % 8));
		sig->first_byte = (uint8_t)(start / 8);
		sig->last_byte = (uint8_t)(lsb_lin / 8);
	}
	return 0;
}

uint64_t dbc_signal_raw(const struct dbc_signal *sig, const uint8_t *data,
			size_t len)
{
	if (sig->last_byte >= len)
		return 0;
	return extract_direct(sig, data);
}

/* Integer scaling needs no special case: (double)raw * 1.0 + 0.0 is exact.
 * Floats skip the identity scaling so that -0.0 and NaN payloads come out
 * untouched. */
static inline double phys_of(const struct dbc_signal *sig, uint64_t raw)
{
	double v;

	if (__builtin_expect(sig->value_type == DBC_VALUE_INTEGER, 1)) {
		v = sig->is_signed ? (double)(int64_t)raw : (double)raw;
		return v * sig->factor + sig->offset;
	}
	if (sig->value_type == DBC_VALUE_FLOAT32) {
		uint32_t bits = (uint32_t)raw;
		float f;

		memcpy(&f, &bits, sizeof(f));
		v = f;
	} else {
		memcpy(&v, &raw, sizeof(v));
	}
	if (sig->factor == 1.0 && sig->offset == 0.0)
		return v;
	return v * sig->factor + sig->offset;
}

double dbc_signal_phys(const struct dbc_signal *sig, uint64_t raw)
{
	return phys_of(sig, raw);
}

/* Walk the mux chain up to a signal that is always present. */
static bool mux_active(const struct dbc_message *msg,
		       const struct dbc_signal *sig, const uint8_t *data,
		       size_t len)
{
	for (int depth = 0; sig->mux_parent >= 0; depth++) {
		const struct dbc_signal *parent;
		uint64_t raw;
		bool hit = false;

		if (depth >= MUX_DEPTH_MAX ||
		    (size_t)sig->mux_parent >= msg->n_signals)
			return false;
		parent = &msg->signals[sig->mux_parent];
		if (parent->last_byte >= len)
			return false;
		raw = extract_direct(parent, data);
		for (size_t i = 0; i < sig->n_mux_ranges; i++)
			if (raw >= sig->mux_ranges[i].lo &&
			    raw <= sig->mux_ranges[i].hi) {
				hit = true;
				break;
			}
		if (!hit)
			return false;
		sig = parent;
	}
	return true;
}

bool dbc_signal_active(const struct dbc_message *msg,
		       const struct dbc_signal *sig, const uint8_t *data,
		       size_t len)
{
	return mux_active(msg, sig, data, len);
}

/* Activity of signal i with memo (0 unknown, 1 inactive, 2 active) for
 * indices below MUX_CACHE. */
static bool mux_active_memo(const struct dbc_message *msg, size_t i,
			    const uint8_t *p, size_t len, uint8_t *memo,
			    int depth)
{
	const struct dbc_signal *sig = &msg->signals[i];
	const struct dbc_signal *parent;
	uint64_t raw;
	bool active = false;

	if (sig->mux_parent < 0)
		return true;
	if (i < MUX_CACHE && memo[i])
		return memo[i] == 2;
	if (depth >= MUX_DEPTH_MAX || (size_t)sig->mux_parent >= msg->n_signals)
		goto out;
	parent = &msg->signals[sig->mux_parent];
	if (parent->last_byte >= len)
		goto out;
	if (!mux_active_memo(msg, (size_t)sig->mux_parent, p, len, memo,
			     depth + 1))
		goto out;
	raw = extract_padded(parent, p);
	for (size_t r = 0; r < sig->n_mux_ranges; r++)
		if (raw >= sig->mux_ranges[r].lo && raw <= sig->mux_ranges[r].hi) {
			active = true;
			break;
		}
out:
	if (i < MUX_CACHE)
		memo[i] = active ? 2 : 1;
	return active;
}

/*
 * Classic frames without multiplexing, the bulk of any bus: the whole
 * payload is one 64-bit word, read once in each byte order, and every
 * signal is a shift and a mask of one of the two.
 */
static size_t decode_classic(const struct dbc_message *msg,
			     const uint8_t *data, size_t len,
			     struct dbc_decoded *out, size_t cap, unsigned *fl)
{
	uint64_t le = 0, be;
	size_t n = 0;

	if (len == 8) {
		le = load_le64(data);
	} else {
		for (size_t i = 0; i < len; i++)
			le |= (uint64_t)data[i] << (8 * i);
	}
	be = __builtin_bswap64(le);
	for (size_t i = 0; i < msg->n_signals; i++) {
		const struct dbc_signal *sig = &msg->signals[i];
		unsigned lb = sig->lsb_bit;
		uint64_t raw;

		if (sig->last_byte >= len) {
			*fl |= DBC_DECODE_SHORT;
			continue;
		}
		if (n == cap) {
			*fl |= DBC_DECODE_TRUNCATED;
			break;
		}
		/* In the big-endian word the LSB of byte k bit b sits at
		 * 56 - 8k + b. */
		if (sig->byte_order == DBC_LITTLE_ENDIAN)
			raw = le >> lb;
		else
			raw = be >> (56 - (lb & ~7u) + (lb & 7));
		raw = finish_raw(sig, raw & width_mask(sig->length));
		out[n].sig = sig;
		out[n].raw = raw;
		out[n].phys = phys_of(sig, raw);
		n++;
	}
	return n;
}

size_t dbc_decode(const struct dbc_message *msg, const uint8_t *data,
		  size_t len, struct dbc_decoded *out, size_t cap,
		  unsigned *flags)
{
	struct padded buf;
	const uint8_t *p = buf.b + PAD;
	unsigned fl = 0;
	size_t n = 0;
	uint64_t zero = 0;

	if (len > DBC_MAX_PAYLOAD)
		len = DBC_MAX_PAYLOAD;
	if (len < msg->size)
		fl |= DBC_DECODE_SHORT;
	if (!msg->has_mux && len <= 8) {
		n = decode_classic(msg, data, len, out, cap, &fl);
		if (flags)
			*flags = fl;
		return n;
	}
	/* Windows reach at most 8 bytes before byte 0 (Motorola) and 8 past
	 * the last byte (Intel): zero just those. */
	memcpy(buf.b, &zero, 8);
	memcpy(buf.b + PAD, data, len);
	memcpy(buf.b + PAD + len, &zero, 8);

	if (!msg->has_mux) {
		for (size_t i = 0; i < msg->n_signals; i++) {
			const struct dbc_signal *sig = &msg->signals[i];
			uint64_t raw;

			if (sig->last_byte >= len) {
				fl |= DBC_DECODE_SHORT;
				continue;
			}
			if (n == cap) {
				fl |= DBC_DECODE_TRUNCATED;
				break;
			}
			raw = extract_padded(sig, p);
			out[n].sig = sig;
			out[n].raw = raw;
			out[n].phys = phys_of(sig, raw);
			n++;
		}
	} else {
		uint8_t memo[MUX_CACHE];
		/* Per active multiplexer: did it select anything? */
		uint8_t selected[MUX_CACHE];

		memset(memo, 0, sizeof(memo) < msg->n_signals ? sizeof(memo)
							       : msg->n_signals);
		memset(selected, 0,
		       sizeof(selected) < msg->n_signals ? sizeof(selected)
							 : msg->n_signals);
		for (size_t i = 0; i < msg->n_signals; i++) {
			const struct dbc_signal *sig = &msg->signals[i];
			uint64_t raw;

			if (!mux_active_memo(msg, i, p, len, memo, 0))
				continue;
			/* Selected even when cut off: the mux value was known. */
			if (sig->mux_parent >= 0 &&
			    (size_t)sig->mux_parent < MUX_CACHE)
				selected[sig->mux_parent] = 1;
			if (sig->last_byte >= len) {
				fl |= DBC_DECODE_SHORT;
				continue;
			}
			if (n == cap) {
				fl |= DBC_DECODE_TRUNCATED;
				continue;
			}
			raw = extract_padded(sig, p);
			out[n].sig = sig;
			out[n].raw = raw;
			out[n].phys = phys_of(sig, raw);
			n++;
		}
		for (size_t i = 0; i < msg->n_signals && i < MUX_CACHE; i++) {
			const struct dbc_signal *sig = &msg->signals[i];

			if (sig->is_multiplexer && !selected[i] &&
			    sig->last_byte < len &&
			    mux_active_memo(msg, i, p, len, memo, 0))
				fl |= DBC_DECODE_MUX_UNKNOWN;
		}
	}
	if (flags)
		*flags = fl;
	return n;
}

int dbc_signal_put_raw(const struct dbc_signal *sig, uint64_t raw,
		       uint8_t *data, size_t len)
{
	unsigned s = sig->lsb_bit & 7;
	unsigned nbytes;
	uint64_t m = width_mask(sig->length);
	uint64_t vlo, vhi, mlo, mhi;

	if (sig->length < 1 || sig->length > 64 || sig->last_byte >= len ||
	    sig->first_byte > sig->last_byte)
		return -1;
	nbytes = (unsigned)sig->last_byte - sig->first_byte + 1;
	raw &= m;
	vlo = raw << s;
	mlo = m << s;
	vhi = s ? raw >> (64 - s) : 0;
	mhi = s ? m >> (64 - s) : 0;
	for (unsigned k = 0; k < nbytes; k++) {
		uint8_t v = (uint8_t)(k < 8 ? vlo >> (8 * k) : vhi);
		uint8_t mk = (uint8_t)(k < 8 ? mlo >> (8 * k) : mhi);
		size_t at = sig->byte_order == DBC_LITTLE_ENDIAN
				    ? (size_t)sig->first_byte + k
				    : (size_t)sig->last_byte - k;

		data[at] = (uint8_t)((data[at] & ~mk) | (v & mk));
	}
	return 0;
}

uint64_t dbc_signal_raw_from_phys(const struct dbc_signal *sig, double phys)
{
	double x = phys;
	unsigned len = sig->length;

	if (sig->factor != 1.0 || sig->offset != 0.0)
		x = sig->factor != 0.0 ? (phys - sig->offset) / sig->factor
				       : phys - sig->offset;

	if (sig->value_type == DBC_VALUE_FLOAT32) {
		float f = (float)x;
		uint32_t bits;

		memcpy(&bits, &f, sizeof(bits));
		return bits;
	}
	if (sig->value_type == DBC_VALUE_FLOAT64) {
		uint64_t bits;

		memcpy(&bits, &x, sizeof(bits));
		return bits;
	}
	if (len < 1 || len > 64 || isnan(x))
		return 0;
	x = round(x);
	if (sig->is_signed) {
		/* Bounds as doubles: -2^(len-1) is exact; the upper bound is
		 * compared as >= 2^(len-1), also exact. */
		double lim = ldexp(1.0, (int)len - 1);
		int64_t lo = len == 64 ? INT64_MIN : -((int64_t)1 << (len - 1));
		int64_t hi = len == 64 ? INT64_MAX : ((int64_t)1 << (len - 1)) - 1;

		if (x < -lim)
			return (uint64_t)lo;
		if (x >= lim)
			return (uint64_t)hi;
		return (uint64_t)(int64_t)x;
	} else {
		double lim = ldexp(1.0, (int)len);

		if (x <= 0.0)
			return 0;
		if (x >= lim)
			return width_mask(len);
		return (uint64_t)x;
	}
}

int dbc_encode(const struct dbc_message *msg, const struct dbc_decoded *vals,
	       size_t n, uint8_t *data, size_t len)
{
	int rc = 0;

	(void)msg;
	for (size_t i = 0; i < n; i++) {
		if (!vals[i].sig ||
		    dbc_signal_put_raw(vals[i].sig, vals[i].raw, data, len) < 0)
			rc = -1;
	}
	return rc;
}
