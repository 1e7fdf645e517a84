/* FAT12/16/32 filesystems from file trees (see include/imager/fat.h).
 *
 * "Spec" below is Microsoft's "FAT32 File System Specification" (fatgen103, v1.03).
 *
 * A filesystem is, in this order: the reserved sectors (boot sector with the BPB; for
 * FAT32 also FSInfo at sector 1 and their backups at sectors 6 and 7), two FATs, for
 * FAT12/16 the fixed root directory, then the data clusters numbered from 2. Clusters
 * are handed out contiguously in pre-order walk order (a directory, then its entries in
 * name order, recursing into subdirectories), so every chain is one run and the FAT is
 * a function of the list of run ends: it is generated chunk by chunk while written, and
 * memory does not grow with the filesystem size.
 *
 * This file writes a planned filesystem (im_fat_write); fat_plan.c plans it and
 * fat_names.c makes its names. */
#include "fat_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imager/util/outfile.h"

/* ---- writing ---- */

static int put(struct fat *f, int fd, uint64_t base, const void *buf, size_t len, uint64_t at)
{
	return im_pwrite_all(fd, buf, len, (long long)(base + at), "FAT filesystem", f->err);
}

/* A minimal x86 boot program for anyone who boots the filesystem by mistake: print a
 * message with the BIOS teletype call, then halt. It runs at 0000:7C00 (DS = 0):
 *	xor ax,ax / mov ds,ax / mov si,MSG / cld
 *   1: lodsb / test al,al / jz 2f / mov ah,0Eh / mov bx,7 / int 10h / jmp 1b
 *   2: hlt / jmp 2b */
static void boot_code(uint8_t *b, size_t at)
{
	static const uint8_t code[] = {0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x00, 0x00, 0xFC, 0xAC,
				       0x84, 0xC0, 0x74, 0x09, 0xB4, 0x0E, 0xBB, 0x07, 0x00,
				       0xCD, 0x10, 0xEB, 0xF2, 0xF4, 0xEB, 0xFD};
	static const char msg[] = "This is not a bootable disk.\r\n";
	memcpy(b + at, code, sizeof(code));
	put16(b + at + 5, (uint32_t)(0x7C00 + at + sizeof(code)));
	memcpy(b + at + sizeof(code), msg, sizeof(msg));
}

static void boot_sector(const struct fat *f, uint8_t *b, uint64_t offset)
{
	const struct geo *g = &f->g;
	bool f32 = g->type == 32;
	bool small = !f32 && g->tot < 65536;
	uint64_t hidden = offset / g->ss;
	b[0] = 0xEB; /* jmp short to the boot code, nop */
	b[1] = f32 ? 0x58 : 0x3C;
	b[2] = 0x90;
	memcpy(b + 3, "MSWIN4.1", 8); /* BS_OEMName: the spec's most compatible value */
	put16(b + 11, g->ss);
	b[13] = (uint8_t)g->spc;
	put16(b + 14, g->rsvd);
	b[16] = 2; /* BPB_NumFATs */
	put16(b + 17, g->rootents);
	put16(b + 19, small ? (uint32_t)g->tot : 0);
	b[21] = 0xF8; /* BPB_Media: fixed disk */
	put16(b + 22, f32 ? 0 : g->fatsz);
	put16(b + 24, 63);  /* BPB_SecPerTrk: the usual LBA-translated geometry */
	put16(b + 26, 255); /* BPB_NumHeads */
	put32(b + 28, hidden > UINT32_MAX ? 0 : (uint32_t)hidden);
	put32(b + 32, small ? 0 : (uint32_t)g->tot);
	size_t x = 36;
	if (f32) {
		put32(b + 36, g->fatsz);
		put16(b + 40, 0); /* BPB_ExtFlags: FATs mirrored */
		put16(b + 42, 0); /* BPB_FSVer 0.0 */
		put32(b + 44, f->root.first);
		put16(b + 48, FAT32_FSINFO);
		put16(b + 50, FAT32_BACKUP);
		x = 64;
	}
	b[x] = 0x80;	 /* BS_DrvNum */
	b[x + 2] = 0x29; /* BS_BootSig: the next three fields are present */
	put32(b + x + 3, f->volid);
	memcpy(b + x + 7, f->has_label ? (const char *)f->label : "NO NAME    ", 11);
	memcpy(b + x + 18, f32 ? "FAT32   " : g->type == 16 ? "FAT16   " : "FAT12   ", 8);
	boot_code(b, x + 26);
	b[510] = 0x55;
	b[511] = 0xAA;
}

static void fsinfo_sector(const struct fat *f, uint8_t *b)
{
	uint64_t used = f->next - 2;
	put32(b, 0x41615252);
	put32(b + 484, 0x61417272);
	put32(b + 488, (uint32_t)(f->g.clusters - used));
	put32(b + 492, f->next - 1); /* the last cluster allocated (the spec's hint) */
	put32(b + 508, 0xAA550000);
}

static int write_reserved(struct fat *f, int fd, uint64_t offset)
{
	const struct geo *g = &f->g;
	size_t len = (size_t)g->rsvd * g->ss;
	uint8_t *b = calloc(1, len);
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	boot_sector(f, b, offset);
	if (g->type == 32) {
		fsinfo_sector(f, b + (size_t)FAT32_FSINFO * g->ss);
		memcpy(b + (size_t)FAT32_BACKUP * g->ss, b, g->ss);
		memcpy(b + (size_t)(FAT32_BACKUP + 1) * g->ss, b + (size_t)FAT32_FSINFO * g->ss,
		       g->ss);
	}
	int r = put(f, fd, offset, b, len, 0);
	free(b);
	return r;
}

static void fat_set(uint8_t *b, int type, uint64_t i, uint32_t v)
{
	if (type == 32) {
		put32(b + 4 * i, v);
	} else if (type == 16) {
		put16(b + 2 * i, v);
	} else if (i % 2 == 0) { /* FAT12: entry i at byte i * 1.5 (i relative to an even base) */
		b[i * 3 / 2] = (uint8_t)v;
		b[i * 3 / 2 + 1] = (uint8_t)((b[i * 3 / 2 + 1] & 0xF0) | ((v >> 8) & 0x0F));
	} else {
		b[i * 3 / 2] = (uint8_t)((b[i * 3 / 2] & 0x0F) | ((v & 0x0F) << 4));
		b[i * 3 / 2 + 1] = (uint8_t)(v >> 4);
	}
}

/* Both FATs, generated FAT_CHUNK_ENTRIES entries at a time: entry 0 holds the media
 * byte, entry 1 end-of-chain with the "clean" bits set, every allocated cluster points
 * to the next one of its run except the run's last (end-of-chain), the rest is free (0).
 * The whole FAT is written, zeros included: the target may hold old data. */
static int write_fats(struct fat *f, int fd, uint64_t offset)
{
	const struct geo *g = &f->g;
	uint32_t eoc = g->type == 32 ? 0x0FFFFFFF : g->type == 16 ? 0xFFFF : 0xFFF;
	size_t chunk =
	    g->type == 12 ? FAT_CHUNK_ENTRIES * 3 / 2 : FAT_CHUNK_ENTRIES * (size_t)(g->type / 8);
	uint64_t total = (uint64_t)g->fatsz * g->ss;
	uint8_t *b = malloc(chunk);
	size_t cur = 0;
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	for (uint64_t pos = 0, e0 = 0; pos < total; pos += chunk, e0 += FAT_CHUNK_ENTRIES) {
		memset(b, 0, chunk);
		uint64_t end = e0 + FAT_CHUNK_ENTRIES < f->next ? e0 + FAT_CHUNK_ENTRIES : f->next;
		for (uint64_t c = e0; c < end; c++) {
			uint32_t v;
			if (c == 0) {
				v = eoc & 0xFFFFFFF8u; /* 0x?FF8: the media byte 0xF8 */
			} else if (c == 1) {
				v = eoc;
			} else {
				while (f->ends[cur] < c)
					cur++;
				v = f->ends[cur] == c ? eoc : (uint32_t)c + 1;
			}
			fat_set(b, g->type, c - e0, v);
		}
		size_t len = total - pos < chunk ? (size_t)(total - pos) : chunk;
		if (put(f, fd, offset, b, len, fat_offset(g, 0) + pos) ||
		    put(f, fd, offset, b, len, fat_offset(g, 1) + pos)) {
			free(b);
			return -1;
		}
	}
	free(b);
	return 0;
}

static void dirent_short(const struct fat *f, uint8_t *d, const uint8_t name[11], uint8_t attr,
			 uint32_t clus, uint32_t size)
{
	memcpy(d, name, 11);
	d[11] = attr;
	d[13] = f->tenth;	/* DIR_CrtTimeTenth */
	put16(d + 14, f->time); /* DIR_CrtTime */
	put16(d + 16, f->date); /* DIR_CrtDate */
	put16(d + 18, f->date); /* DIR_LstAccDate */
	put16(d + 20, clus >> 16);
	put16(d + 22, f->time); /* DIR_WrtTime */
	put16(d + 24, f->date); /* DIR_WrtDate */
	put16(d + 26, clus & 0xFFFF);
	put32(d + 28, size);
}

/* Long-name entries, last part first; each holds 13 UTF-16 units at fixed offsets; the
 * name is NUL-terminated if that fits and padded with 0xFFFF. */
static uint8_t *dirent_lfn(uint8_t *d, const struct fent *e)
{
	static const uint8_t pos[LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	uint32_t n = im_fatw_lfn_slots(e);
	uint8_t sum = im_fatw_lfn_checksum(e->sname);
	for (uint32_t ord = n; ord >= 1; ord--, d += DIRENT) {
		d[0] = (uint8_t)(ord | (ord == n ? LFN_LAST : 0));
		d[11] = ATTR_LONG_NAME;
		d[13] = sum;
		for (size_t i = 0; i < LFN_CHARS; i++) {
			size_t k = (ord - 1) * LFN_CHARS + i;
			put16(d + pos[i], k < e->ulen ? e->uname[k] : k == e->ulen ? 0 : 0xFFFF);
		}
	}
	return d;
}

static void dir_content(const struct fat *f, const struct fent *d, uint8_t *b)
{
	static const uint8_t dot[11] = ".          ", dotdot[11] = "..         ";
	uint8_t *p = b;
	if (d->parent) {
		dirent_short(f, p, dot, ATTR_DIRECTORY, d->first, 0);
		p += DIRENT;
		/* ".." of a child of the root points to cluster 0, also on FAT32 (spec) */
		dirent_short(f, p, dotdot, ATTR_DIRECTORY, d->parent->parent ? d->parent->first : 0,
			     0);
		p += DIRENT;
	} else if (f->has_label) {
		dirent_short(f, p, f->label, ATTR_VOLUME_ID, 0, 0);
		p[13] = 0;
		put16(p + 14, 0);
		put16(p + 16, 0);
		put16(p + 18, 0);
		p += DIRENT;
	}
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fent *k = &d->kids[i];
		bool dir = k->n->type == IM_NODE_DIR;
		if (k->lfn)
			p = dirent_lfn(p, k);
		dirent_short(f, p, k->sname, dir ? ATTR_DIRECTORY : ATTR_ARCHIVE, k->first,
			     dir ? 0 : (uint32_t)k->n->size);
		p += DIRENT;
	}
}

static int write_dir(struct fat *f, int fd, uint64_t offset, const struct fent *d)
{
	const struct geo *g = &f->g;
	bool fixed = !d->parent && g->type != 32;
	size_t len = fixed ? (size_t)g->rootsecs * g->ss : (size_t)d->nclus * g->cb;
	uint8_t *b = calloc(1, len);
	if (!b)
		return im_fail(f->err, IM_EXIT_INTERNAL, "out of memory");
	dir_content(f, d, b);
	int r = put(f, fd, offset, b, len, fixed ? root_offset(g) : cluster_offset(g, d->first));
	free(b);
	return r;
}

/* A file's clusters: its bytes, the last cluster padded with zeros (so the result does
 * not depend on what the target held). */
static int write_file(struct fat *f, int fd, uint64_t offset, const struct fent *e, uint8_t *buf)
{
	const struct geo *g = &f->g;
	const struct im_node *n = e->n;
	uint64_t at = cluster_offset(g, e->first), done = 0, size = n->size;
	if (!size)
		return 0;
	if (!n->src) {
		uint64_t whole = size / g->cb * g->cb;
		if (whole && put(f, fd, offset, n->data, (size_t)whole, at))
			return -1;
		if (whole == size)
			return 0;
		memset(buf, 0, g->cb);
		memcpy(buf, (const uint8_t *)n->data + whole, (size_t)(size - whole));
		return put(f, fd, offset, buf, g->cb, at + whole);
	}
	int in = im_node_open(n, f->err);
	if (in < 0)
		return -1;
	int r = -1;
	while (done < size) {
		size_t want = size - done < COPY_CHUNK ? (size_t)(size - done) : COPY_CHUNK;
		size_t got = 0;
		while (got < want) {
			ssize_t k = read(in, buf + got, want - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				im_fail_errno(f->err, IM_EXIT_IO, "%s: read", n->src);
				goto out;
			}
			if (k == 0) {
				im_fail(f->err, IM_EXIT_IO,
					"%s: file shrank while being read (expected %llu bytes)",
					n->src, (unsigned long long)size);
				goto out;
			}
			got += (size_t)k;
		}
		size_t len = got;
		if (done + got == size && got % g->cb) {
			len = (got + g->cb - 1) / g->cb * g->cb;
			memset(buf + got, 0, len - got);
		}
		if (put(f, fd, offset, buf, len, at + done))
			goto out;
		done += got;
	}
	uint8_t extra;
	ssize_t k;
	do
		k = read(in, &extra, 1);
	while (k < 0 && errno == EINTR);
	if (k > 0) {
		im_fail(f->err, IM_EXIT_IO, "%s: file grew while being read (expected %llu bytes)",
			n->src, (unsigned long long)size);
		goto out;
	}
	r = 0;
out:
	close(in);
	return r;
}

static int write_tree(struct fat *f, int fd, uint64_t offset, const struct fent *d, uint8_t *buf)
{
	if (write_dir(f, fd, offset, d))
		return -1;
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fent *k = &d->kids[i];
		if (k->n->type == IM_NODE_DIR ? write_tree(f, fd, offset, k, buf)
					      : write_file(f, fd, offset, k, buf))
			return -1;
	}
	return 0;
}

/* ---- API ---- */

int im_fat_write(int fd, uint64_t offset, const struct im_fat_opts *o, struct im_tree *t,
		 struct im_error *err)
{
	struct fat f;
	uint8_t *buf = NULL;
	int r = -1;
	if (im_fatw_plan(&f, o, t, err))
		goto out;
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
		goto out;
	}
	if (write_reserved(&f, fd, offset) || write_fats(&f, fd, offset) ||
	    write_tree(&f, fd, offset, &f.root, buf))
		goto out;
	r = 0;
out:
	free(buf);
	im_fatw_fat_free(&f);
	return r;
}
