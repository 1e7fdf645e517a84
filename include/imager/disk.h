/* imager/disk: disk-level formats.
 * GPT (and its repair; the kernel told about a new table), BIOS boot (boot.img/core.img), the META
 * partition (Talos ADV), and how a disk image leaves: the extent stream and its writers (raw,
 * qcow2, VHD, VMDK, OVA, GCP tar). Layer 4 of 6: includes and calls only itself and util, fs, efi
 * (doc/architecture.md). */
#ifndef IMAGER_LAYER_DISK_H
#define IMAGER_LAYER_DISK_H

#include "imager/disk/biosboot.h"
#include "imager/disk/blkpg.h"
#include "imager/disk/diskout.h"
#include "imager/disk/disktar.h"
#include "imager/disk/extents.h"
#include "imager/disk/gpt.h"
#include "imager/disk/meta.h"
#include "imager/disk/ova.h"
#include "imager/disk/qcow2.h"
#include "imager/disk/vhd.h"
#include "imager/disk/vmdk.h"

#endif
