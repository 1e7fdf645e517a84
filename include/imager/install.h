/* imager/install: Installing onto a disk and keeping its A/B slots: layout,
 * install/upgrade/commit/rollback, the ESP FAT editor, board blobs, GRUB config and environment.
 * Layer 5 of 6: may include util, fs, efi, disk (doc/architecture.md). */
#ifndef IMAGER_LAYER_INSTALL_H
#define IMAGER_LAYER_INSTALL_H

#include "imager/install/grubcfg.h"
#include "imager/install/grubenv.h"
#include "imager/install/install.h"

#endif
