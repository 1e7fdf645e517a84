/* System extensions (DESIGN.md §5), the way Talos Linux builds them into its initramfs.
 *
 * An extension is `manifest.yaml` + `rootfs/` and nothing else:
 *   version: v1alpha1
 *   metadata: {name, version, author?, description?, compatibility?: {talos: {version}}}
 * It may come as a folder, a tar (.tar, .tar.gz, .tar.zst, ...), a squashfs image, or an
 * OCI image layout (folder or tar) whose layers are flattened in order (oci.h).
 *
 * Rules checked by im_ext_validate (Talos pkg/machinery/extensions: Load, Validate):
 *  - only manifest.yaml and rootfs/ at the top; manifest version v1alpha1; metadata.name
 *    of [a-z0-9-] and metadata.version required;
 *  - compatibility.talos.version, if set, is a semver range (semver.h) the profile's
 *    version satisfies; like Talos, the profile version's pre-release is dropped first
 *    (a v1.7.0-beta.1 build satisfies ">= v1.7.0");
 *  - in rootfs/: no device nodes or other special files, nothing world-writable (archives
 *    keep their modes; folders are read with normalised modes, fstree.h), no
 *    absolute symlinks and no relative symlink that leaves rootfs/, and every entry
 *    that is not a directory lies under one of Talos's allowed paths: /etc/cri/conf.d,
 *    /lib/firmware, /lib/modules, /lib64/ld-linux-x86-64.so.2, /sbin/ldconfig,
 *    /usr/lib/udev/rules.d, /usr/local, /usr/share/glvnd, /usr/share/egl, /etc/vulkan.
 *    Extension services live in /usr/local/etc/containers/<name>.yaml and
 *    /usr/local/lib/containers/<name>/.
 * Every error names the extension as given (its input path) and the offending entry or
 * field: IM_EXIT_INVALID for a rule, IM_EXIT_MISSING for a missing/unreadable input.
 *
 * Initramfs layout written by im_ext_append_to_initramfs (the same as Talos's imager,
 * pkg/imager/extensions: cpio of the work folder holding "<ext>.sqsh" + extensions.yaml +
 * lib/firmware; its init reads /extensions.yaml (constants.ExtensionsConfigFile) and
 * loop-mounts each layer's image relative to /):
 *   [newc cpio, uncompressed: kernel/x86/microcode/GenuineIntel.bin, AuthenticAMD.bin]
 *                                       (only when an extension ships CPU microcode)
 *   [the base initramfs, byte for byte]
 *   [newc cpio, compressed like the base: /extensions.yaml, /0.sqsh, /1.sqsh, ...,
 *    /lib/firmware/...]
 * <i>.sqsh holds extension i's rootfs/ except lib/firmware/ (squashfs, zstd). Firmware
 * moves loose into the initramfs; microcode (lib/firmware/intel-ucode/<all>,
 * lib/firmware/amd-ucode/microcode_amd*.bin, Documentation/arch/x86/microcode.rst
 * "Early load microcode") is concatenated per vendor, extension by extension, in name
 * order, into the uncompressed archive in front, which is where the kernel looks for it.
 * When two extensions ship the same firmware path, the later one wins (it is also the
 * upper overlay layer). extensions.yaml, in the order given (layer 0 is the lowest):
 *   layers:
 *     - image: "0.sqsh"
 *       metadata:
 *         name: "hello-world"
 *         version: "1.0.0"
 *         author: ""
 *         description: ""
 * Values are always double-quoted YAML strings (escapes \" \\ \n \t \xNN). */
#ifndef IMAGER_EXTENSION_H
#define IMAGER_EXTENSION_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"
#include "imager/fs/fstree.h"
#include "imager/fs/oci.h"

struct im_ext_meta {
	char *manifest_version; /* "version" at the top of manifest.yaml */
	char *name, *version, *author, *description;
	char *constraint; /* compatibility.talos.version; NULL when absent */
};

struct im_ext {
	char *path; /* the input as given: names the extension in errors */
	struct im_ext_meta meta;
	struct im_tree *tree;  /* the whole extension: manifest.yaml, rootfs/... */
	struct im_stage stage; /* extracted content of archive inputs (dir NULL for folders) */
};

/* Load an extension (folder, tar, squashfs or OCI layout) and parse its manifest.yaml.
 * Errors: IM_EXIT_MISSING (input missing/unreadable), IM_EXIT_INVALID (not an archive we
 * can read, no manifest.yaml, manifest not YAML or fields of the wrong kind). */
int im_ext_load(const char *path, struct im_ext **out, struct im_error *err);

/* Check the rules above against the profile's version ("v1.7.0"). */
int im_ext_validate(const struct im_ext *ext, const char *profile_version, struct im_error *err);

void im_ext_free(struct im_ext *ext);

struct im_ext_initramfs_opts {
	int compress;	    /* enum im_compress of the appended archive; -1: as the base */
	int level;	    /* compressor level, < 0: the format's default */
	int threads;	    /* <= 0: all cores; never changes the bytes */
	int squashfs_level; /* zstd level of the extension images; 0: 3 */
	int64_t mtime;	    /* every timestamp written (SOURCE_DATE_EPOCH) */
};

/* Write out_path (temporary name + rename) = the layout above, extensions in the order
 * given (each should have passed im_ext_validate). The base is streamed, not loaded.
 * With compress -1 the base must start with xz, zstd or gzip magic (IM_EXIT_INVALID
 * otherwise); a missing base is IM_EXIT_MISSING. */
int im_ext_append_to_initramfs(const char *base, struct im_ext *const *exts, size_t n,
			       const char *out_path, const struct im_ext_initramfs_opts *o,
			       struct im_error *err);

/* The extensions.yaml text for these extensions (malloc'd), or NULL when out of memory. */
char *im_ext_config_yaml(struct im_ext *const *exts, size_t n);

#endif
