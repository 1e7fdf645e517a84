/* Telling the kernel about a block device's new partition table, partition by partition
 * (BLKPG, as `partx -u` does), for kernels that cannot parse GPT themselves or when
 * BLKRRPART is refused because a partition is busy. */
#ifndef IMAGER_DISK_BLKPG_H
#define IMAGER_DISK_BLKPG_H

#include "imager/disk/gpt.h"

/* Make the kernel's partitions of the block device `fd` those of `d`: partitions it has
 * that `d` does not (or at another place) are deleted, missing ones added. Returns the
 * number of partitions the kernel could not be told about (each one warned about once,
 * naming `what`; the disk itself is not touched), 0 when its view matches `d`. A regular
 * file: 0. */
int im_blkpg_sync(int fd, const char *what, const struct im_gpt_disk *d);

#endif
