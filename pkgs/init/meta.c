/*
 * INSTALLER_META_BASE64 for the static /init (DESIGN.md §7): base64 (RFC 4648 §4) of
 * "0xK=V;0xK=V", gzip'd (RFC 1952) when the text was long; the init only needs to split
 * it into values. Compiled as part of init.c (#include, after inflate.c) and by
 * tests/unit/test_init_inflate.c on the host.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define META_MAX (1u << 20) /* inflated size limit: a META partition holds 256 KiB */

typedef void (*meta_value_fn)(unsigned key, const uint8_t *value, size_t len, void *ctx);

/* Decode the base64 text and, if it is gzip (magic 1f 8b, as Talos checks on at least
 * 10 bytes), inflate it. Returns 0 with a malloc'd *out, -1 with *why. */
int meta_decode(const char *b64, uint8_t **out, size_t *len, const char **why);
/* Split "0xK=V;0xK=V" and call fn for each value in order. Keys are hex with 0x or
 * decimal, 1..255. Returns the number of values, or -1 with *why. */
int meta_parse(const uint8_t *text, size_t len, meta_value_fn fn, void *ctx, const char **why);

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard alphabet, '=' padding only at the end, length a multiple of 4. */
static int b64_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s), o = 0;
	uint8_t *buf;

	if (n % 4 || !(buf = malloc(n / 4 * 3 + 1)))
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			bool last = i + 4 == n;
			if (s[i + j] == '=' && last && j >= 2 && (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if ((v[j] = b64_value(s[i + j])) < 0 || pad) {
				free(buf);
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		buf[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			buf[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			buf[o++] = (uint8_t)w;
	}
	*out = buf;
	*len = o;
	return 0;
}

int meta_decode(const char *b64, uint8_t **out, size_t *len, const char **why)
{
	uint8_t *raw;
	size_t rawlen;

	if (b64_decode(b64, &raw, &rawlen) < 0) {
		*why = "INSTALLER_META_BASE64 is not valid base64";
		return -1;
	}
	if (rawlen < 10 || raw[0] != 0x1f || raw[1] != 0x8b) {
		*out = raw;
		*len = rawlen;
		return 0;
	}
	int rc = gunzip(raw, rawlen, META_MAX, out, len, why);
	free(raw);
	return rc;
}

static int parse_key(const uint8_t *s, size_t n, unsigned *key)
{
	unsigned v = 0, base = 10;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	}
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
			: s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
			: s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
						     : 99;
		if ((unsigned)d >= base || (v = v * base + (unsigned)d) > 255)
			return -1;
	}
	*key = v;
	return v ? 0 : -1;
}

int meta_parse(const uint8_t *text, size_t len, meta_value_fn fn, void *ctx, const char **why)
{
	int count = 0;

	for (size_t pos = 0; pos < len;) {
		const uint8_t *item = text + pos, *semi = memchr(item, ';', len - pos);
		size_t n = semi ? (size_t)(semi - item) : len - pos;
		const uint8_t *eq = memchr(item, '=', n);
		unsigned key;
		pos += n + 1;
		if (n == 0)
			continue;
		if (!eq || parse_key(item, (size_t)(eq - item), &key) < 0) {
			*why = "META text is not 0xK=V;0xK=V with keys 1..255";
			return -1;
		}
		fn(key, eq + 1, n - (size_t)(eq + 1 - item), ctx);
		count++;
	}
	return count;
}
