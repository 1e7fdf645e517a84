/* JSON output helpers shared by the verbs that print --json. */
#ifndef IMAGER_JSON_H
#define IMAGER_JSON_H

#include <stddef.h>
#include <stdio.h>

/* `s` (n bytes) as a JSON string (RFC 8259 §7): quotes, backslashes and control
 * characters escaped. */
void imager_json_str(FILE *f, const char *s, size_t n);

#endif
