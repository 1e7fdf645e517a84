/* Base64, RFC 4648 §4 (standard alphabet, '=' padding, no line breaks). */
#ifndef IMAGER_BASE64_H
#define IMAGER_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encode: a malloc'd NUL-terminated string ("" for len 0); NULL only on OOM. */
char *im_base64_encode(const void *data, size_t len);

/* Decode exactly `len` characters of `s`: the length must be a multiple of 4 and '='
 * may only pad the last group (like Go's base64.StdEncoding, which Talos uses; unused
 * trailing bits are ignored). On success returns 0 and a malloc'd buffer with one extra
 * NUL byte after *out_len bytes; -1 when the text is not valid base64 (*bad_at gets the
 * offending offset when bad_at is not NULL); -2 when out of memory. */
int im_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, size_t *bad_at);

#endif
