/* `imager inspect` of disk images, ISOs, installer bundles, initramfs, squashfs /
 * extensions and VM formats (inspect_disk.c, inspect_iso.c, inspect_bundle.c,
 * inspect_initramfs.c, inspect_ext.c, inspect_vm.c); UKIs and EFI binaries are in
 * inspect_cmd.c. Output: a human form that fits 80 columns, or --json
 * (documented in doc/inspect-json.md; keys are only ever added). */
#ifndef IMAGER_INSPECT_H
#define IMAGER_INSPECT_H

#include <stdint.h>
#include <stdio.h>

struct im_error;
struct im_meta;
struct im_gpt_disk;
struct imager_json;

/* A GPT disk image (raw; `path` names it, fd open read-only). */
int imager_inspect_disk(const char *path, int fd, int json, struct im_error *err);
/* An ISO 9660 image as the imager writes it (El Torito BIOS + EFI, appended EFI FAT). */
int imager_inspect_iso(const char *path, int fd, int json, struct im_error *err);

/* An installer bundle: the OCI image layout tar (inspect_bundle.c). */
int imager_inspect_bundle(const char *path, int fd, int json, struct im_error *err);

/* An initramfs: newc cpio archives, plain or xz / zstd / gzip, one after another, with
 * the extensions the imager appends (inspect_initramfs.c). Read by path. */
int imager_inspect_initramfs(const char *path, int json, struct im_error *err);
/* A squashfs image: super block, entries and, for an extension, its manifest.yaml
 * (inspect_ext.c). Read by path. */
int imager_inspect_squashfs(const char *path, int json, struct im_error *err);
/* VM formats, their headers (inspect_vm.c): qcow2, VHD (fixed or dynamic), a VMDK sparse
 * extent, an OVA (tar: .ovf first, the .vmdk). */
int imager_inspect_qcow2(const char *path, int fd, int json, struct im_error *err);
int imager_inspect_vhd(const char *path, int fd, int json, struct im_error *err);
int imager_inspect_vmdk(const char *path, int fd, int json, struct im_error *err);
int imager_inspect_ova(const char *path, int fd, int json, struct im_error *err);
/* A VHD footer at the end (fixed) or start (dynamic) of fd? A tar whose first member is
 * a .ovf? */
int inspect_is_vhd(int fd);
int inspect_is_ova(int fd);
/* Does the compressed stream at the start of fd hold a newc cpio (an initramfs)? */
int inspect_compressed_cpio(int fd);

/* Decompress a .zst / .xz / .gz disk image into an unnamed sparse file in $TMPDIR (all-zero
 * blocks stay holes); returns its fd, or -1 (err set). */
int imager_inspect_decompress(const char *path, struct im_error *err);

/* Shared printing (inspect_disk.c). */
/* "key: value", wrapped at 80 columns with continuation lines indented by `indent` + 2. */
void inspect_wrap(FILE *f, int indent, const char *key, const char *value);
/* A byte count for people: "512 B", "1.5 KiB", "22.7 MiB", "3.1 GiB" (out: 16 bytes). */
void inspect_human(uint64_t n, char out[16]);
/* Any parsed JSON value on one line (inspect_bundle.c). */
void inspect_json_value(FILE *f, const struct imager_json *j);
/* The partition table: a "partitions" JSON array member (with a leading ",\n") or lines. */
void inspect_partitions(FILE *f, const struct im_gpt_disk *d, int json);
/* META values: a "meta" JSON array member (with a leading ",\n") or lines. */
void inspect_meta(FILE *f, const struct im_meta *m, int json);
/* The META values a kernel command line carries (talos.environment=
 * INSTALLER_META_BASE64=...), decoded into m (left empty when there are none). */
int inspect_cmdline_meta(const char *cmdline, struct im_meta *m, struct im_error *err);

#endif
