#include "imager/util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int vfail(struct im_error *err, int code, int e, const char *fmt, va_list ap)
{
	if (!err || err->code)
		return -1;
	err->code = code ? code : IM_EXIT_INTERNAL;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (e && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(e));
	/* Keep it one line whatever the inputs contained. */
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

int im_fail(struct im_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int im_fail_errno(struct im_error *err, int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vfail(err, code, e, fmt, ap);
	va_end(ap);
	return -1;
}

int im_exit_for_input_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case EACCES:
	case EPERM:
	case ELOOP:
	case EISDIR:
		return IM_EXIT_MISSING;
	default:
		return IM_EXIT_IO;
	}
}

static im_warn_fn warn_handler;

void im_set_warn_handler(im_warn_fn fn)
{
	warn_handler = fn;
}

void im_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (warn_handler)
		warn_handler(msg);
	else
		fprintf(stderr, "warning: %s\n", msg);
}
