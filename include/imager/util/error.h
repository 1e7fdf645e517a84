/* Errors travel as return codes plus a message buffer; only main() prints and exits.
 * Exit codes are those of DESIGN.md §3. */
#ifndef IMAGER_ERROR_H
#define IMAGER_ERROR_H

enum im_exit {
	IM_EXIT_OK = 0,
	IM_EXIT_INTERNAL = 1,
	IM_EXIT_INVALID = 2,	 /* invalid input (bad profile, bad value, bad file content) */
	IM_EXIT_UNSUPPORTED = 3, /* recognised but not supported (yet) */
	IM_EXIT_ENV = 4,	 /* environment (no space, wrong host, ...) */
	IM_EXIT_MISSING = 5,	 /* missing or unreadable dependency/input */
	IM_EXIT_IO = 6,		 /* I/O error while writing */
	IM_EXIT_INSTALL = 7,	 /* install failure */
};

struct im_error {
	int code;	/* one of enum im_exit; 0 while no error */
	char msg[1024]; /* one line, no trailing newline */
};

/* Record an error; always returns -1 so callers can `return im_fail(...)`.
 * The first error wins: later calls do not overwrite an earlier message. */
int im_fail(struct im_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like im_fail, appending ": strerror(errno)" (errno read on entry). */
int im_fail_errno(struct im_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Exit code for an errno from open()/stat() on an input: ENOENT/EACCES/... => MISSING. */
int im_exit_for_input_errno(int e);

/* Warnings: something the user must know that does not stop the work (one line each). They
 * go to the program's handler (im_set_warn_handler, set by main()); without one, to stderr
 * as "warning: <msg>". */
typedef void (*im_warn_fn)(const char *msg);
void im_set_warn_handler(im_warn_fn fn);
void im_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
