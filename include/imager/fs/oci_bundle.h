/* Unpacking the image of an OCI image layout archive (a tar of the layout, as oci_write.h
 * writes it or `skopeo copy ... oci-archive:` does) into a folder, with no library but zlib
 * and libyaml (tarstream.h reads the tars): the installer links it in the reference
 * initramfs. Everything is checked before the first file is written: the archive is a tar,
 * has `oci-layout` and `index.json`, every blob's content matches its sha256 name, the
 * manifest and config are for linux/<arch>. Layers (tar, tar+gzip) are then applied in
 * order with the whiteouts of layer.md. Errors name the archive:
 *   IM_EXIT_MISSING   cannot open it; a blob the manifest names is not in it
 *   IM_EXIT_INVALID   not a tar, truncated, no oci-layout/index.json, bad JSON, a blob whose
 *                     content does not match its digest, another arch, unsafe paths
 *   IM_EXIT_UNSUPPORTED  another digest algorithm, a zstd layer, device nodes */
#ifndef IMAGER_OCI_BUNDLE_H
#define IMAGER_OCI_BUNDLE_H

#include "imager/util/error.h"

/* `dest` is created (mode 0755; its parent must exist) and must not exist yet. On failure
 * whatever was unpacked stays for the caller to remove (a staging folder). */
int im_oci_unpack(const char *path, const char *arch, const char *dest, struct im_error *err);

/* Remove a folder and everything below it (symlinks are not followed). */
void im_rmtree(const char *dir);

#endif
