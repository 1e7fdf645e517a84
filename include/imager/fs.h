/* imager/fs: file trees and the filesystems and archives made from them.
 * squashfs, newc cpio, FAT, ISO 9660, OCI layouts; tree inputs (folder, tar, squashfs, OCI).
 * Layer 2 of 6: includes and calls only itself and util (doc/architecture.md). */
#ifndef IMAGER_LAYER_FS_H
#define IMAGER_LAYER_FS_H

#include "imager/fs/arwrite.h"
#include "imager/fs/content.h"
#include "imager/fs/cpio.h"
#include "imager/fs/fat.h"
#include "imager/fs/fstree.h"
#include "imager/fs/iso.h"
#include "imager/fs/oci.h"
#include "imager/fs/oci_bundle.h"
#include "imager/fs/oci_write.h"
#include "imager/fs/sqread.h"
#include "imager/fs/squashfs.h"
#include "imager/fs/tarstream.h"

#endif
