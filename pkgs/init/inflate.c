/*
 * A small inflate for the static /init (which has no zlib): DEFLATE (RFC 1951: stored,
 * fixed and dynamic Huffman blocks) and the gzip member format around it (RFC 1952),
 * used for a gzip'd INSTALLER_META_BASE64. Written for clarity, not speed: codes are
 * decoded a bit at a time from the canonical code counts (RFC 1951 §3.2.2).
 *
 * Compiled as part of init.c (#include) and by tests/unit/test_init_inflate.c on the host.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Inflate a raw DEFLATE stream; *used gets the input bytes consumed. At most `max` bytes
 * of output. Returns 0 with a malloc'd *out, or -1 with *why set. */
int inflate_raw(const uint8_t *in, size_t inlen, size_t max, uint8_t **out, size_t *outlen,
		size_t *used, const char **why);
/* Decompress one gzip member (RFC 1952), checking its CRC-32 and length. */
int gunzip(const uint8_t *in, size_t inlen, size_t max, uint8_t **out, size_t *outlen,
	   const char **why);
/* CRC-32 of RFC 1952 §8 (reflected polynomial 0xedb88320); start with crc = 0. */
uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n);

#define MAX_BITS  15  /* longest code (RFC 1951 §3.2.7) */
#define LIT_CODES 288 /* literal/length alphabet incl. the two unused codes */
#define DST_CODES 30

struct inflater {
	const uint8_t *in;
	size_t inlen, pos; /* next input byte */
	uint32_t bitbuf;   /* bits not yet used, LSB first (RFC 1951 §3.1.1) */
	int bitcnt;
	uint8_t *out;
	size_t outlen, cap, max;
	const char *why;
};

/* A canonical Huffman code: how many codes of each length, symbols in code order. */
struct huffman {
	uint16_t count[MAX_BITS + 1];
	uint16_t symbol[LIT_CODES];
};

static int fail_why(struct inflater *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return -1;
}

/* n (0..16) bits, first bit read = least significant, as the format packs them. */
static int need_bits(struct inflater *s, int n, uint32_t *v)
{
	while (s->bitcnt < n) {
		if (s->pos >= s->inlen)
			return fail_why(s, "deflate data ends early");
		s->bitbuf |= (uint32_t)s->in[s->pos++] << s->bitcnt;
		s->bitcnt += 8;
	}
	*v = s->bitbuf & ((1u << n) - 1);
	s->bitbuf >>= n;
	s->bitcnt -= n;
	return 0;
}

static int put_byte(struct inflater *s, uint8_t b)
{
	if (s->outlen == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		if (s->outlen >= s->max)
			return fail_why(s, "inflated data too large");
		if (cap > s->max)
			cap = s->max;
		uint8_t *p = realloc(s->out, cap);
		if (!p)
			return fail_why(s, "out of memory");
		s->out = p;
		s->cap = cap;
	}
	s->out[s->outlen++] = b;
	return 0;
}

/* Build the decoding tables from code lengths (RFC 1951 §3.2.2). Incomplete codes are
 * allowed (a lone distance code is legal); over-subscribed ones are not. */
static int huffman_build(struct huffman *h, const uint8_t *lengths, int n)
{
	uint16_t offset[MAX_BITS + 2];
	int left = 1;

	memset(h->count, 0, sizeof(h->count));
	for (int i = 0; i < n; i++)
		h->count[lengths[i]]++;
	for (int len = 1; len <= MAX_BITS; len++) {
		left = 2 * left - h->count[len];
		if (left < 0)
			return -1;
	}
	offset[1] = 0;
	for (int len = 1; len <= MAX_BITS; len++)
		offset[len + 1] = offset[len] + h->count[len];
	for (int i = 0; i < n; i++)
		if (lengths[i])
			h->symbol[offset[lengths[i]]++] = (uint16_t)i;
	return 0;
}

/* Read one symbol: codes of each length are consecutive numbers, in symbol order. */
static int huffman_decode(struct inflater *s, const struct huffman *h)
{
	int code = 0, first = 0, index = 0;

	for (int len = 1; len <= MAX_BITS; len++) {
		uint32_t bit;
		if (need_bits(s, 1, &bit) < 0)
			return -1;
		code |= (int)bit; /* Huffman codes are packed most significant bit first */
		int count = h->count[len];
		if (code - first < count)
			return h->symbol[index + code - first];
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return fail_why(s, "invalid Huffman code");
}

/* RFC 1951 §3.2.5: base values and extra bits of lengths 257..285 and distances. */
static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,	 9,   10,  11, 13,
				      15, 17, 19, 23,  27,  31,	 35,  43,  51, 59,
				      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
				      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,	 2,   3,   4,	5,   7,	   9,	 13,   17,   25,   33,	 49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,	3,  3,	4,  4,	5,  5,	6,
				       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Copy `len` bytes from `dist` back; overlapping copies repeat (RFC 1951 §3.2.3). */
static int copy_back(struct inflater *s, uint32_t dist, uint32_t len)
{
	if (dist > s->outlen)
		return fail_why(s, "distance too far back");
	while (len--)
		if (put_byte(s, s->out[s->outlen - dist]) < 0)
			return -1;
	return 0;
}

/* The literal/length and distance codes of one compressed block, up to end-of-block. */
static int inflate_codes(struct inflater *s, const struct huffman *lit, const struct huffman *dist)
{
	for (;;) {
		int sym = huffman_decode(s, lit);
		uint32_t extra, d;
		if (sym < 0)
			return -1;
		if (sym < 256) {
			if (put_byte(s, (uint8_t)sym) < 0)
				return -1;
			continue;
		}
		if (sym == 256)
			return 0;
		sym -= 257;
		if (sym >= 29)
			return fail_why(s, "invalid length code");
		if (need_bits(s, len_extra[sym], &extra) < 0)
			return -1;
		uint32_t len = len_base[sym] + extra;
		int dsym = huffman_decode(s, dist);
		if (dsym < 0)
			return -1;
		if (dsym >= 30)
			return fail_why(s, "invalid distance code");
		if (need_bits(s, dist_extra[dsym], &d) < 0)
			return -1;
		if (copy_back(s, dist_base[dsym] + d, len) < 0)
			return -1;
	}
}

/* BTYPE 00: byte-aligned LEN, NLEN (one's complement), LEN raw bytes (§3.2.4). */
static int inflate_stored(struct inflater *s)
{
	s->bitbuf = 0; /* drop the bits up to the byte boundary */
	s->bitcnt = 0;
	if (s->inlen - s->pos < 4)
		return fail_why(s, "stored block header ends early");
	unsigned len = s->in[s->pos] | (unsigned)s->in[s->pos + 1] << 8;
	unsigned nlen = s->in[s->pos + 2] | (unsigned)s->in[s->pos + 3] << 8;
	s->pos += 4;
	if (len != (~nlen & 0xffff))
		return fail_why(s, "stored block length check failed");
	if (s->inlen - s->pos < len)
		return fail_why(s, "stored block ends early");
	for (unsigned i = 0; i < len; i++)
		if (put_byte(s, s->in[s->pos + i]) < 0)
			return -1;
	s->pos += len;
	return 0;
}

/* BTYPE 01: the fixed codes of §3.2.6. */
static int inflate_fixed(struct inflater *s)
{
	static struct huffman lit, dist;
	static int built;
	uint8_t lengths[LIT_CODES];

	if (!built) {
		for (int i = 0; i < LIT_CODES; i++)
			lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
		huffman_build(&lit, lengths, LIT_CODES);
		memset(lengths, 5, DST_CODES);
		huffman_build(&dist, lengths, DST_CODES);
		built = 1;
	}
	return inflate_codes(s, &lit, &dist);
}

/* Code lengths of a dynamic block, themselves Huffman coded (§3.2.7). */
static int read_lengths(struct inflater *s, const struct huffman *cl, uint8_t *lengths, int n)
{
	for (int i = 0; i < n;) {
		int sym = huffman_decode(s, cl);
		uint32_t rep;
		uint8_t value = 0;
		if (sym < 0)
			return -1;
		if (sym < 16) {
			lengths[i++] = (uint8_t)sym;
			continue;
		}
		if (sym == 16) {
			if (i == 0)
				return fail_why(s, "repeat with no previous length");
			value = lengths[i - 1];
			if (need_bits(s, 2, &rep) < 0)
				return -1;
			rep += 3;
		} else if (sym == 17) {
			if (need_bits(s, 3, &rep) < 0)
				return -1;
			rep += 3;
		} else {
			if (need_bits(s, 7, &rep) < 0)
				return -1;
			rep += 11;
		}
		if (i + (int)rep > n)
			return fail_why(s, "code lengths overflow");
		while (rep--)
			lengths[i++] = value;
	}
	return 0;
}

/* BTYPE 10: HLIT, HDIST, HCLEN, the code length code, then both codes (§3.2.7). */
static int inflate_dynamic(struct inflater *s)
{
	static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					  11, 4,  12, 3, 13, 2, 14, 1, 15};
	uint8_t lengths[LIT_CODES + DST_CODES];
	struct huffman cl, lit, dist;
	uint32_t hlit, hdist, hclen, v;

	if (need_bits(s, 5, &hlit) < 0 || need_bits(s, 5, &hdist) < 0 ||
	    need_bits(s, 4, &hclen) < 0)
		return -1;
	hlit += 257;
	hdist += 1;
	hclen += 4;
	if (hlit > 286 || hdist > DST_CODES)
		return fail_why(s, "too many length or distance codes");
	memset(lengths, 0, 19);
	for (uint32_t i = 0; i < hclen; i++) {
		if (need_bits(s, 3, &v) < 0)
			return -1;
		lengths[order[i]] = (uint8_t)v;
	}
	if (huffman_build(&cl, lengths, 19) < 0)
		return fail_why(s, "bad code length code");
	if (read_lengths(s, &cl, lengths, (int)(hlit + hdist)) < 0)
		return -1;
	if (lengths[256] == 0)
		return fail_why(s, "no end-of-block code");
	if (huffman_build(&lit, lengths, (int)hlit) < 0 ||
	    huffman_build(&dist, lengths + hlit, (int)hdist) < 0)
		return fail_why(s, "over-subscribed Huffman code");
	return inflate_codes(s, &lit, &dist);
}

int inflate_raw(const uint8_t *in, size_t inlen, size_t max, uint8_t **out, size_t *outlen,
		size_t *used, const char **why)
{
	struct inflater s = {.in = in, .inlen = inlen, .max = max};
	uint32_t last = 0, type;
	int rc = 0;

	while (rc == 0 && !last) {
		if (need_bits(&s, 1, &last) < 0 || need_bits(&s, 2, &type) < 0)
			rc = -1;
		else if (type == 0)
			rc = inflate_stored(&s);
		else if (type == 1)
			rc = inflate_fixed(&s);
		else if (type == 2)
			rc = inflate_dynamic(&s);
		else
			rc = fail_why(&s, "invalid block type");
	}
	if (rc < 0) {
		free(s.out);
		*why = s.why;
		return -1;
	}
	*out = s.out ? s.out : malloc(1);
	*outlen = s.outlen;
	*used = s.pos; /* the rest of the last byte is padding */
	return *out ? 0 : -1;
}

uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Skip a zero-terminated field (FNAME, FCOMMENT). */
static int skip_string(const uint8_t *in, size_t inlen, size_t *pos)
{
	while (*pos < inlen && in[*pos])
		(*pos)++;
	if (*pos >= inlen)
		return -1;
	(*pos)++;
	return 0;
}

/* RFC 1952 §2.3: the member header; returns the offset of the compressed data or -1. */
static long gzip_header(const uint8_t *in, size_t inlen, const char **why)
{
	enum { FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16 };
	size_t pos = 10;

	if (inlen < 18 || in[0] != 0x1f || in[1] != 0x8b)
		return *why = "not gzip data", -1;
	if (in[2] != 8 || (in[3] & 0xe0))
		return *why = "unsupported gzip method or flags", -1;
	if (in[3] & FEXTRA) {
		size_t xlen = in[pos] | (size_t)in[pos + 1] << 8;
		pos += 2 + xlen;
	}
	if (((in[3] & FNAME) && skip_string(in, inlen, &pos) < 0) ||
	    ((in[3] & FCOMMENT) && skip_string(in, inlen, &pos) < 0))
		return *why = "gzip header ends early", -1;
	if (in[3] & FHCRC)
		pos += 2;
	if (pos + 8 > inlen)
		return *why = "gzip data ends early", -1;
	return (long)pos;
}

int gunzip(const uint8_t *in, size_t inlen, size_t max, uint8_t **out, size_t *outlen,
	   const char **why)
{
	long start = gzip_header(in, inlen, why);
	size_t used;

	if (start < 0)
		return -1;
	if (inflate_raw(in + start, inlen - (size_t)start - 8, max, out, outlen, &used, why) < 0)
		return -1;
	const uint8_t *trailer = in + start + used; /* CRC32, ISIZE (§2.3.1) */
	if (le32(trailer) != crc32_update(0, *out, *outlen) ||
	    le32(trailer + 4) != (uint32_t)*outlen) {
		free(*out);
		*out = NULL;
		*why = "gzip CRC or length mismatch";
		return -1;
	}
	return 0;
}
