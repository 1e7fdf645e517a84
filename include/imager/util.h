/* imager/util: shared groundwork under every other layer.
 * Errors and exit codes, temp-file outputs and signal cleanup, SOURCE_DATE_EPOCH, hashing,
 * base64, semver, YAML trees, progress, thread counts, compression streams, embedded files.
 * Layer 1 of 6: includes and calls only itself and nothing else (doc/architecture.md). */
#ifndef IMAGER_LAYER_UTIL_H
#define IMAGER_LAYER_UTIL_H

#include "imager/util/base64.h"
#include "imager/util/cleanup.h"
#include "imager/util/compress.h"
#include "imager/util/epoch.h"
#include "imager/util/error.h"
#include "imager/util/incbin.h"
#include "imager/util/outfile.h"
#include "imager/util/progress.h"
#include "imager/util/readfile.h"
#include "imager/util/semver.h"
#include "imager/util/sha256.h"
#include "imager/util/threads.h"
#include "imager/util/xzblocks.h"
#include "imager/util/yaml.h"

#endif
