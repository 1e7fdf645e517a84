/* GRUB environment blocks ("grubenv"), the A/B state GRUB reads with load_env and updates
 * with save_env (DESIGN.md §7: saved_entry = committed slot, next_entry = one-shot trial).
 *
 * Format (GRUB manual "Environment block"; grub-core/lib/envblk.c semantics): a file of
 * fixed size, normally 1024 bytes, starting with "# GRUB Environment Block\n", then lines
 * "name=value\n" in which a backslash and a newline inside the value are written with a
 * backslash in front ("\\\\" and "\\<newline>"), lines starting with '#' are comments, and
 * the unused tail is filled with '#' (no newline). GRUB rewrites the block in place, never
 * changing its size, so a block that is full refuses new values.
 *
 * Here a block is parsed into an ordered list of lines (comments kept), edited, and
 * rendered back at the same size. Variables keep their position when changed; new ones
 * are appended. If a block holds a name twice, get returns the last (what load_env ends
 * with), set changes the first and drops the others, unset drops all. */
#ifndef IMAGER_GRUBENV_H
#define IMAGER_GRUBENV_H

#include <stdbool.h>
#include <stddef.h>

#include "imager/util/error.h"

#define IM_GRUBENV_SIZE	       1024
#define IM_GRUBENV_SIGNATURE   "# GRUB Environment Block\n"
#define IM_GRUBENV_SAVED_ENTRY "saved_entry"
#define IM_GRUBENV_NEXT_ENTRY  "next_entry"

struct im_grubenv_line {
	char *name;  /* NULL for a comment line */
	char *value; /* unescaped value; for a comment the raw line without its '\n' */
};

struct im_grubenv {
	size_t size; /* block size in bytes */
	size_t n;
	struct im_grubenv_line *lines;
};

/* An empty environment for a block of `size` bytes (0 = 1024). */
void im_grubenv_init(struct im_grubenv *env, size_t size);
void im_grubenv_free(struct im_grubenv *env);

/* Parse a whole block (its length is its size). Not starting with the signature, a
 * variable line without '=' or an unterminated value is IM_EXIT_INVALID naming the byte
 * offset. `env` is initialised by the call (free it also on failure). */
int im_grubenv_parse(struct im_grubenv *env, const void *buf, size_t len, struct im_error *err);

/* Bytes the rendered lines take (signature included, '#' fill excluded). */
size_t im_grubenv_used(const struct im_grubenv *env);

/* Render into buf[len] ('#' fill after the lines). More lines than len: IM_EXIT_INVALID
 * saying how many bytes are needed. */
int im_grubenv_render(const struct im_grubenv *env, void *buf, size_t len, struct im_error *err);

/* The value of `name` (the last occurrence), or NULL. */
const char *im_grubenv_get(const struct im_grubenv *env, const char *name);

/* Set `name` to `value`. The name must match [A-Za-z_][A-Za-z0-9_]* (a name GRUB scripts
 * can use); the value is any string. A change that would not fit env->size is
 * IM_EXIT_INVALID naming the variable and the sizes, and leaves env unchanged. */
int im_grubenv_set(struct im_grubenv *env, const char *name, const char *value,
		   struct im_error *err);

/* Remove every occurrence of `name`; true if there was one. */
bool im_grubenv_unset(struct im_grubenv *env, const char *name);

/* A new block: the signature, then the pairs of `kv` (name, value, name, value, ...,
 * NULL) in order, '#' fill to len (use IM_GRUBENV_SIZE). */
int im_grubenv_new_block(void *buf, size_t len, const char *const *kv, struct im_error *err);

/* Edit a block in place (same size): set `name` to `value`, or unset it when value is
 * NULL. Comments and the other variables are kept. */
int im_grubenv_edit_block(void *buf, size_t len, const char *name, const char *value,
			  struct im_error *err);

#endif
