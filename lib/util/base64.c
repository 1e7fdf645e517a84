/* Base64 as in RFC 4648 §4. */
#include "imager/util/base64.h"

#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *im_base64_encode(const void *data, size_t len)
{
	const uint8_t *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;
		uint32_t v = (uint32_t)in[i] << 16;
		if (n > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		*p++ = alphabet[v >> 18 & 63];
		*p++ = alphabet[v >> 12 & 63];
		*p++ = n > 1 ? alphabet[v >> 6 & 63] : '=';
		*p++ = n > 2 ? alphabet[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode one 4-character group; returns the number of bytes (1..3) or -1, setting *bad. */
static int decode_group(const char *g, int last, uint8_t *o, size_t *bad)
{
	int pad = 0;
	if (last && g[3] == '=')
		pad = g[2] == '=' ? 2 : 1;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int s = i < 4 - pad ? sextet(g[i]) : 0;
		if (s < 0) {
			*bad = (size_t)i;
			return -1;
		}
		v = v << 6 | (uint32_t)s;
	}
	o[0] = (uint8_t)(v >> 16);
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)v;
	return 3 - pad;
}

int im_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, size_t *bad_at)
{
	size_t bad = len;
	if (len % 4)
		goto invalid;
	uint8_t *buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -2;
	size_t n = 0;
	for (size_t i = 0; i < len; i += 4) {
		size_t at;
		int got = decode_group(s + i, i + 4 == len, buf + n, &at);
		if (got < 0) {
			free(buf);
			bad = i + at;
			goto invalid;
		}
		n += (size_t)got;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
invalid:
	if (bad_at)
		*bad_at = bad;
	return -1;
}
