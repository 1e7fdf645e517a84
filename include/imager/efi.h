/* imager/efi: EFI binaries and Secure Boot.
 * PE/COFF, Authenticode, PCR 11 prediction and policy, EFI signature lists and variables,
 * keys, UKI assembly.
 * Layer 3 of 6: includes and calls only itself and util, fs (doc/architecture.md). */
#ifndef IMAGER_LAYER_EFI_H
#define IMAGER_LAYER_EFI_H

#include "imager/efi/authenticode.h"
#include "imager/efi/efivar.h"
#include "imager/efi/keys.h"
#include "imager/efi/pcr.h"
#include "imager/efi/pe.h"
#include "imager/efi/sigpool.h"
#include "imager/efi/uki.h"

#endif
