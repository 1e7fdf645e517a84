/* imager/install: installing onto a disk and keeping its A/B slots.
 * Layout, install/upgrade/commit/rollback/status, the ESP FAT editor, board blobs, GRUB
 * config and environment.
 * Layer 5 of 6: includes and calls only itself and util, fs, efi, disk (doc/architecture.md). */
#ifndef IMAGER_LAYER_INSTALL_H
#define IMAGER_LAYER_INSTALL_H

#include "imager/install/grubcfg.h"
#include "imager/install/grubenv.h"
#include "imager/install/install.h"

#endif
