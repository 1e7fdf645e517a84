/* imager/talos: Talos semantics on top of the mechanisms below.
 * Profiles, the kernel command line, system extensions, board overlays, the kernel
 * configuration check (kernel-config/).
 * Layer 6 of 6: includes and calls only itself and util, fs, efi, disk, install
 * (doc/architecture.md). */
#ifndef IMAGER_LAYER_TALOS_H
#define IMAGER_LAYER_TALOS_H

#include "imager/talos/cmdline.h"
#include "imager/talos/extension.h"
#include "imager/talos/kconfig.h"
#include "imager/talos/kfrags.h"
#include "imager/talos/kimage.h"
#include "imager/talos/overlay.h"
#include "imager/talos/profile.h"
#include "imager/talos/schematic.h"

#endif
