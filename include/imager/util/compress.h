/* Streaming compressors writing to a file descriptor. Output bytes depend only on the
 * input and the settings, never on the number of threads (xz uses a fixed block size). */
#ifndef IMAGER_COMPRESS_H
#define IMAGER_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

enum im_compress {
	IM_COMPRESS_NONE,
	IM_COMPRESS_XZ,	  /* .xz, CRC32 check: the kernel's XZ decoder rejects CRC64 */
	IM_COMPRESS_ZSTD, /* .zst */
	IM_COMPRESS_GZIP, /* .gz, mtime 0, no name */
};

struct im_cstream;

/* level < 0 picks the default for the format. threads <= 0 means "all cores". */
int im_cstream_open(struct im_cstream **out, enum im_compress kind, int level, int threads, int fd,
		    struct im_error *err);
/* For disk images (default levels): xz goes through the block writer of xzblocks.h, which
 * compresses an all-zero block once; zstd and gzip as im_cstream_open. */
int im_cstream_open_image(struct im_cstream **out, enum im_compress kind, int fd,
			  struct im_error *err);
int im_cstream_write(struct im_cstream *s, const void *buf, size_t len, struct im_error *err);
/* len zero bytes. On an image stream a long zero run costs next to nothing: xz repeats its
 * cached zero block (same bytes as writing the zeros), zstd ends the frame and writes a
 * frame of RLE blocks, gzip full-flushes and repeats one pre-compressed zero chunk. */
int im_cstream_write_zeros(struct im_cstream *s, uint64_t len, struct im_error *err);
/* Flush the trailer. The stream is freed whatever the result. */
int im_cstream_finish(struct im_cstream *s, struct im_error *err);
/* Drop an unfinished stream. */
void im_cstream_free(struct im_cstream *s);

/* Name <-> kind: "xz"/".xz", "zst"/"zstd"/".zst", "gz"/".gz", "none"/"raw"; -1 if unknown. */
int im_compress_from_name(const char *name);

/* The compression whose header starts buf (xz: .xz spec §2.1.1.1, zstd: RFC 8878 §3.1.1,
 * gzip: RFC 1952 §2.3.1), IM_COMPRESS_NONE for anything else. */
enum im_compress im_compress_detect(const void *buf, size_t len);
const char *im_compress_suffix(enum im_compress kind); /* ".xz", ".zst", ".gz", "" */

#endif
