/* Private to the FAT writer (lib/fs/fat_names.c: 8.3 and long names; fat_plan.c: tree,
 * geometry, allocation; fat.c: writing): its constants and what the three share.
 * "Spec" is Microsoft's "FAT32 File System Specification" (fatgen103, v1.03). */
#ifndef IMAGER_FS_FAT_INTERNAL_H
#define IMAGER_FS_FAT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "imager/fs/fat.h"

#define MIB		  (1024ull * 1024)
#define DIRENT		  32	    /* bytes per directory entry */
#define DIR_MAX_ENTRIES	  65536	    /* spec: a directory holds at most 65536 entries */
#define LFN_CHARS	  13	    /* UTF-16 units per long-name entry */
#define LFN_MAX		  255	    /* spec: at most 255 UTF-16 units in a long name */
#define FAT12_MAX	  4084u	    /* spec: FAT12 < 4085 clusters <= FAT16 */
#define FAT16_MAX	  65524u    /* FAT16 < 65525 clusters <= FAT32 */
#define FAT32_MAX	  268435445 /* 0x0FFFFFF5: cluster numbers up to 0x0FFFFFF6 */
#define ROOT_ENTRIES	  512	    /* FAT12/16 fixed root directory (grown if needed) */
#define FAT32_RESERVED	  32	    /* spec: the usual FAT32 reserved sector count */
#define FAT32_FSINFO	  1
#define FAT32_BACKUP	  6
#define MAX_CLUSTER	  65536u
#define FAT_CHUNK_ENTRIES 16384		/* FAT entries generated per write (even: FAT12) */
#define COPY_CHUNK	  (1024 * 1024) /* bytes read from a host file at once */
#define ATTR_VOLUME_ID	  0x08
#define ATTR_DIRECTORY	  0x10
#define ATTR_ARCHIVE	  0x20
#define ATTR_LONG_NAME	  0x0F
#define LFN_LAST	  0x40
#define EPOCH_1980	  315532800ll  /* 1980-01-01T00:00:00Z */
#define EPOCH_2107_END	  4354819199ll /* 2107-12-31T23:59:59Z */

/* One tree entry as FAT sees it. */
struct fent {
	struct im_node *n;
	struct fent *parent;
	struct fent *kids; /* directories: entries in the tree's (sorted) order */
	size_t nkids;
	uint16_t *uname;   /* the name in UTF-16 */
	size_t ulen;	   /* in UTF-16 units */
	bool lfn;	   /* stored with long-name entries (not an upper-case 8.3 name) */
	bool named;	   /* short name assigned */
	uint8_t sname[11]; /* 8.3 name as stored: 8 + 3, space padded */
	uint32_t slots;	   /* directories: 32-byte entries, including . and .. / label */
	uint32_t first;	   /* first cluster, 0 for none (empty file, FAT12/16 root) */
	uint32_t nclus;
};

struct geo {
	int type; /* 12, 16, 32 */
	uint32_t ss, spc, cb;
	uint64_t tot; /* sectors */
	uint32_t rsvd, fatsz, rootents, rootsecs;
	uint64_t clusters;
};

struct fat {
	struct im_error *err;
	uint32_t ss, cb_opt;
	int type_opt;
	uint8_t label[11];
	bool has_label;
	uint32_t volid;
	uint16_t date, time;
	uint8_t tenth;
	struct fent root;
	struct geo g;
	uint64_t size;
	/* allocation */
	uint32_t next;	/* first free cluster */
	uint32_t *ends; /* last cluster of every chain, ascending */
	size_t nends, capends;
};

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static inline const char *show(const struct fent *e)
{
	return e->n->path[0] ? e->n->path : "/";
}

/* Byte offsets of the regions, from the start of the filesystem. */
static inline uint64_t fat_offset(const struct geo *g, int copy)
{
	return ((uint64_t)g->rsvd + (uint64_t)copy * g->fatsz) * g->ss;
}

static inline uint64_t root_offset(const struct geo *g)
{
	return fat_offset(g, 2);
}

static inline uint64_t data_offset(const struct geo *g)
{
	return root_offset(g) + (uint64_t)g->rootsecs * g->ss;
}

static inline uint64_t cluster_offset(const struct geo *g, uint32_t c)
{
	return data_offset(g) + (uint64_t)(c - 2) * g->cb;
}

/* fat_names.c */
bool im_fatw_short_char(unsigned c);
int im_fatw_fold_cmp(const struct fent *a, const struct fent *b);
int im_fatw_set_name(struct fat *f, struct fent *e);
int im_fatw_short_names(struct fat *f, struct fent *d);
uint32_t im_fatw_lfn_slots(const struct fent *e);
uint8_t im_fatw_lfn_checksum(const uint8_t s[11]);

int im_fatw_fold_sort(const void *pa, const void *pb); /* qsort: struct fent * by name */

/* fat_plan.c */
int im_fatw_plan(struct fat *f, const struct im_fat_opts *o, struct im_tree *t,
		 struct im_error *err);
void im_fatw_fat_free(struct fat *f);

#endif
