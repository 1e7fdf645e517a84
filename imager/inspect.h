/* `imager inspect` of disk images and ISOs (inspect_disk.c, inspect_iso.c); UKIs and EFI
 * binaries are in inspect_cmd.c. Output: a human form that fits 80 columns, or --json
 * (documented in doc/inspect-json.md; keys are only ever added). */
#ifndef IMAGER_INSPECT_H
#define IMAGER_INSPECT_H

#include <stdio.h>

struct im_error;
struct im_meta;
struct im_gpt_disk;

/* A GPT disk image (raw; `path` names it, fd open read-only). */
int imager_inspect_disk(const char *path, int fd, int json, struct im_error *err);
/* An ISO 9660 image as the imager writes it (El Torito BIOS + EFI, appended EFI FAT). */
int imager_inspect_iso(const char *path, int fd, int json, struct im_error *err);

/* Decompress a .zst / .xz / .gz disk image into an unnamed sparse file in $TMPDIR (all-zero
 * blocks stay holes); returns its fd, or -1 (err set). */
int imager_inspect_decompress(const char *path, struct im_error *err);

/* Shared printing (inspect_disk.c). */
/* "key: value", wrapped at 80 columns with continuation lines indented by `indent` + 2. */
void inspect_wrap(FILE *f, int indent, const char *key, const char *value);
/* The partition table: a "partitions" JSON array member (with a leading ",\n") or lines. */
void inspect_partitions(FILE *f, const struct im_gpt_disk *d, int json);
/* META values: a "meta" JSON array member (with a leading ",\n") or lines. */
void inspect_meta(FILE *f, const struct im_meta *m, int json);
/* The META values a kernel command line carries (talos.environment=
 * INSTALLER_META_BASE64=...), decoded into m (left empty when there are none). */
int inspect_cmdline_meta(const char *cmdline, struct im_meta *m, struct im_error *err);

#endif
