/* imager/disk: disk-level formats.
 * GPT (and its repair), BIOS boot (boot.img/core.img), the META partition (Talos ADV).
 * Layer 4 of 6: includes and calls only itself and util, fs, efi (doc/architecture.md). */
#ifndef IMAGER_LAYER_DISK_H
#define IMAGER_LAYER_DISK_H

#include "imager/disk/biosboot.h"
#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"

#endif
