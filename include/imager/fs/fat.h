/* The project's own FAT12/16/32 writer: a whole filesystem for a file tree, written
 * in-process at a byte offset of an output file (DESIGN.md §1 rule 1, §9).
 *
 * Reproducible: every timestamp is the given mtime, the volume serial is derived from
 * the label and mtime, entries are in the tree's (sorted) order, clusters are allocated
 * contiguously in pre-order walk order, and 8.3 aliases are generated deterministically.
 *
 * Streaming and sparse: file contents are copied in bounded chunks; only the reserved
 * sectors, both FATs, directories and file clusters are written. Free clusters are never
 * touched, so they stay holes in a sparse output. Memory is bounded by the tree (names,
 * one record per entry, the largest directory), not by the filesystem size.
 *
 * References: Microsoft "FAT32 File System Specification" (fatgen103, v1.03) for the BPB,
 * FSInfo, FAT type by cluster count, directory entries, long names and their checksum,
 * and the basis-name/numeric-tail 8.3 alias algorithm. */
#ifndef IMAGER_FAT_H
#define IMAGER_FAT_H

#include <stdint.h>

#include "imager/util/error.h"
#include "imager/fs/fstree.h"

struct im_fat_opts {
	/* Filesystem size in bytes; a tail shorter than a sector is left unused. */
	uint64_t size_bytes;
	/* Logical sector size: 512 (also when 0), 1024, 2048 or 4096 (4Kn disks). */
	uint32_t sector_size;
	/* Cluster size in bytes: a power of two from sector_size to 64 KiB; 0 = automatic
	 * (FAT32: 512 B up to 260 MiB, 4 KiB up to 8 GiB, 8/16/32 KiB above, never below
	 * the sector size, smaller when needed to reach FAT32's minimum cluster count;
	 * FAT12/16: the smallest size whose cluster count the type allows). */
	uint32_t cluster_size;
	/* Volume label, at most 11 characters from A-Z a-z 0-9 space ! # $ % & ' ( ) - @ ^
	 * _ ` { } ~, upper-cased. NULL or "" = no label ("NO NAME" in the boot sector). */
	const char *label;
	/* Every timestamp (SOURCE_DATE_EPOCH), as UTC, clamped to 1980-01-01..2107-12-31. */
	int64_t mtime;
	/* 0 = automatic: FAT32 if the size gives it >= 65525 clusters, else FAT16, else
	 * FAT12. 12, 16 or 32 force the type (IM_EXIT_INVALID if the size does not allow
	 * it, naming the size needed). */
	int fat_type;
	/* Volume serial; 0 = im_fat_volume_id(label, mtime). */
	uint32_t volume_id;
};

/* What a filesystem looks like (im_fat_layout), for callers and tests. */
struct im_fat_info {
	int fat_type;		   /* 12, 16 or 32 */
	uint32_t sector_size;	   /* bytes */
	uint32_t cluster_size;	   /* bytes */
	uint32_t total_sectors;	   /* BPB total sector count */
	uint32_t reserved_sectors; /* boot sector, FSInfo, backups (+ alignment padding) */
	uint32_t fat_sectors;	   /* one FAT (there are two) */
	uint32_t root_entries;	   /* FAT12/16 fixed root directory; 0 for FAT32 */
	uint32_t clusters;	   /* data clusters (what determines the FAT type) */
	uint32_t used_clusters;	   /* allocated to directories and files */
	uint64_t data_offset;	   /* bytes from the filesystem start to cluster 2 */
	uint32_t volume_id;
	char label[12]; /* as stored, trailing spaces removed; "" = none */
};

/* Write the filesystem holding tree `t` at byte `offset` of `fd` (pwrite; the file is
 * not truncated or extended beyond offset + size_bytes). Directories and regular files
 * only: symlinks and device nodes cannot be stored in FAT (IM_EXIT_INVALID naming the
 * entry), nor names FAT forbids (control characters, " * / : < > ? \ |, trailing dots
 * or spaces, more than 255 UTF-16 units, invalid UTF-8), nor two names in a directory
 * that are equal ignoring case, nor files of 4 GiB or more. A tree that does not fit
 * is IM_EXIT_INVALID naming the first entry (in walk order) that does not and the size
 * that would be needed. File contents come from n->src (read in chunks) or n->data.
 * Timestamps come from o->mtime (not t->mtime). The boot sector's hidden-sector count
 * is offset / sector_size: the partition's start when the filesystem is a partition
 * written at its place in a disk image. Nothing is written when the tree or options
 * are refused. */
int im_fat_write(int fd, uint64_t offset, const struct im_fat_opts *o, struct im_tree *t,
		 struct im_error *err);

/* The geometry and allocation im_fat_write would use, without writing anything.
 * Fails exactly when im_fat_write would fail before writing. */
int im_fat_layout(const struct im_fat_opts *o, struct im_tree *t, struct im_fat_info *info,
		  struct im_error *err);

/* A small size (a multiple of the sector size) at which the tree fits with these
 * options (o->size_bytes is ignored): the smallest one found by bisection; with
 * automatic cluster size/type the fit is not strictly monotonic in the size, so a
 * slightly smaller size may occasionally fit too. 0 when the tree cannot be stored
 * (bad names, symlinks, ...; im_fat_write then says why) or would need more than the
 * largest FAT32 filesystem. */
uint64_t im_fat_min_size(struct im_tree *t, const struct im_fat_opts *o);

/* The default volume serial: the 64-bit FNV-1a hash of "imager-fat-volume-id", a NUL,
 * the 11-byte label as stored (upper-cased, space padded; 11 spaces for no label) and
 * the mtime as 8 bytes little-endian, folded to 32 bits (high ^ low); never 0. An
 * invalid label is hashed as given, upper-cased. */
uint32_t im_fat_volume_id(const char *label, int64_t mtime);

#endif
