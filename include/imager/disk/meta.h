/* META: Talos's key/value partition (DESIGN.md §7), in Talos's "ADV" format, and the
 * INSTALLER_META_BASE64 string that carries the same values on the kernel command line.
 *
 * Partition image (IM_META_IMAGE_SIZE = 1 MiB): two identical IM_META_COPY_SIZE copies
 * at 0 and 256 KiB, the rest zero. Each copy, all integers big-endian
 * (Talos internal/pkg/meta/internal/adv/talos/talos.go):
 *   0x0000          u32 magic 0x5a4b3c2d
 *   0x0004          records {u32 tag, u32 len, len bytes}, ascending tag, then tag 0
 *   ...             zero fill
 *   copy-0x24       SHA-256 of the whole copy computed with these 32 bytes zeroed
 *   copy-0x04       u32 magic 0xa5b4c3d2
 * The last 1 KiB of the partition is where Talos keeps a legacy syslinux ADV; all zero
 * there means "empty", which Talos accepts. */
#ifndef IMAGER_META_H
#define IMAGER_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imager/util/error.h"

#define IM_META_IMAGE_SIZE (1024 * 1024)
#define IM_META_COPY_SIZE  (256 * 1024)
#define IM_META_MAGIC1	   0x5a4b3c2du
#define IM_META_MAGIC2	   0xa5b4c3d2u
#define IM_META_KEY_MAX	   255
/* Bytes of records ({tag, len, value} = 8 + len each) a copy may hold. Talos's SetTag
 * refuses more than DataLength (copy - 40) counting 20 bytes of header/trailer, so we
 * stop at the same point: anything we write, Talos could have written and can update. */
#define IM_META_RECORDS_MAX (IM_META_COPY_SIZE - 40 - 20)

/* Well-known tags (DESIGN.md §7). */
enum {
	IM_META_TAG_UPGRADE = 0x06, /* previous slot, during an upgrade trial */
	IM_META_TAG_NETWORK = 0x0a, /* network config YAML */
	IM_META_TAG_DOWNLOAD_CODE = 0x0b,
	IM_META_TAG_USER1 = 0x0c, /* 0x0c..0x0e: user */
	IM_META_TAG_USER3 = 0x0e,
	IM_META_TAG_UUID_OVERRIDE = 0x0f,
	IM_META_TAG_MACHINE_TOKEN = 0x10,
};

struct im_meta_value {
	uint8_t *data; /* malloc'd, with a NUL byte after len bytes */
	size_t len;
	bool set;
};

/* In-memory META: one optional value per tag 1..255 (tag 0 is the record terminator).
 * Zero-initialised (or im_meta_init) = empty; release with im_meta_free. */
struct im_meta {
	struct im_meta_value v[IM_META_KEY_MAX + 1];
	size_t records; /* sum of 8 + len over the set values */
};

void im_meta_init(struct im_meta *m);
/* Free every value; leaves m empty and reusable. */
void im_meta_free(struct im_meta *m);

/* Set (or replace) a value. key 0 or > 255 => IM_EXIT_INVALID; a value that does not
 * fit (IM_META_RECORDS_MAX) => IM_EXIT_INVALID naming the key and the free space. */
int im_meta_set(struct im_meta *m, unsigned key, const void *data, size_t len,
		struct im_error *err);
/* The value of a key (NUL-terminated, len in *len when not NULL), or NULL if unset. */
const uint8_t *im_meta_get(const struct im_meta *m, unsigned key, size_t *len);
/* Remove a key; returns true when it was set. */
bool im_meta_delete(struct im_meta *m, unsigned key);
size_t im_meta_count(const struct im_meta *m);

/* Partition image: buf must hold IM_META_IMAGE_SIZE bytes; it is fully written. */
int im_meta_encode_image(const struct im_meta *m, uint8_t *buf, struct im_error *err);
/* Parse an image (len >= IM_META_COPY_SIZE; copy 2 used only when len >= 2 copies):
 * copy 1 if valid, else copy 2, else IM_EXIT_INVALID naming `what` and both reasons.
 * m is replaced on success and untouched on failure. */
int im_meta_decode_image(const uint8_t *buf, size_t len, const char *what, struct im_meta *m,
			 struct im_error *err);

/* The META partition at byte offset `off` of an open file or block device. Reading
 * takes the two copies (512 KiB); writing writes the whole 1 MiB image. `what` names
 * the file in errors. */
int im_meta_read_fd(int fd, off_t off, const char *what, struct im_meta *m, struct im_error *err);
int im_meta_write_fd(int fd, off_t off, const char *what, const struct im_meta *m,
		     struct im_error *err);
/* A META image file: missing => IM_EXIT_MISSING. Writing creates `path` (1 MiB) via a
 * temporary name + rename (outfile.h). */
int im_meta_read_file(const char *path, struct im_meta *m, struct im_error *err);
int im_meta_write_file(const char *path, const struct im_meta *m, struct im_error *err);

/* INSTALLER_META_BASE64 (Talos pkg/machinery/meta: Values.Encode / DecodeValues):
 * base64 (std, padded) of "0xK=V;0xK=V" (keys "0x%x", ascending here); when that text
 * is longer than 256 bytes, base64 of its gzip (level 9, mtime 0, no name, XFL 2,
 * OS 255 — the header Go's gzip writes). "" for an empty META. A value containing ';'
 * cannot be carried (the separator) => IM_EXIT_INVALID naming the key. */
char *im_meta_encode_string(const struct im_meta *m, struct im_error *err);
/* Decode such a string (plain or gzip'd: detected by 1f 8b magic on >= 10 bytes, as
 * Talos does) and set its values into m (later duplicates win). On failure m may hold
 * some of the values. Errors: IM_EXIT_INVALID naming what was wrong. */
int im_meta_decode_string(const char *s, struct im_meta *m, struct im_error *err);

/* A META key "0x.." (hex) or decimal, 1..255; `arg` names the whole argument in errors. */
int im_meta_parse_key(const char *key, size_t len, const char *arg, unsigned *out,
		      struct im_error *err);
/* A --meta K=V argument: V literal, or "@FILE" for the contents of FILE (missing =>
 * IM_EXIT_MISSING naming the path). Sets the value in m. */
int im_meta_set_arg(struct im_meta *m, const char *arg, struct im_error *err);

#endif
