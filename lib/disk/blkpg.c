/* BLKPG partition updates (linux/blkpg.h): the kernel's partitions of a disk are listed
 * in sysfs (/sys/dev/block/MAJ:MIN/<child>/{partition,start,size}, in 512-byte units
 * whatever the logical sector size); BLKPG_ADD/DEL_PARTITION take bytes. */
#include "imager/disk/blkpg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/blkpg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "imager/util/error.h"

#define IM_BLKPG_MAX 256 /* partitions of one disk we look at (GPT: 128 by default) */

struct kpart {
	unsigned pno;
	uint64_t start, size; /* bytes */
};

static int read_u64(const char *dir, const char *name, uint64_t *v)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int ok = fscanf(f, "%" SCNu64, v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/* The kernel's current partitions of the disk `dev`; their number. */
static size_t kernel_parts(dev_t dev, struct kpart *out)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	DIR *d = opendir(dir);
	size_t n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; n < IM_BLKPG_MAX && (e = readdir(d));) {
		char sub[512];
		uint64_t pno, start, size;
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (read_u64(sub, "partition", &pno) || read_u64(sub, "start", &start) ||
		    read_u64(sub, "size", &size))
			continue;
		out[n++] = (struct kpart){(unsigned)pno, start * 512, size * 512};
	}
	closedir(d);
	return n;
}

static int blkpg(int fd, int op, unsigned pno, uint64_t start, uint64_t size)
{
	struct blkpg_partition p = {
	    .start = (long long)start, .length = (long long)size, .pno = (int)pno};
	struct blkpg_ioctl_arg a = {.op = op, .datalen = sizeof(p), .data = &p};
	return ioctl(fd, BLKPG, &a);
}

static const struct im_gpt_entry *find_pno(const struct im_gpt_disk *d, unsigned pno)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->parts[i].partno == pno)
			return &d->parts[i];
	return NULL;
}

int im_blkpg_sync(int fd, const char *what, const struct im_gpt_disk *d)
{
	struct stat st;
	if (fstat(fd, &st) || !S_ISBLK(st.st_mode))
		return 0;
	static struct kpart k[IM_BLKPG_MAX];
	size_t n = kernel_parts(st.st_rdev, k);
	int failed = 0;
	bool have[IM_BLKPG_MAX + 1] = {0};
	for (size_t i = 0; i < n; i++) {
		const struct im_gpt_entry *e = find_pno(d, k[i].pno);
		if (e && e->start == k[i].start && e->size == k[i].size) {
			if (k[i].pno <= IM_BLKPG_MAX)
				have[k[i].pno] = true;
			continue;
		}
		if (blkpg(fd, BLKPG_DEL_PARTITION, k[i].pno, 0, 0) < 0) {
			im_warn("%s: the kernel keeps its old partition %u (%s); reboot or run "
				"partx -u before using it",
				what, k[i].pno, strerror(errno));
			failed++;
			if (k[i].pno <= IM_BLKPG_MAX)
				have[k[i].pno] = true; /* cannot add over it */
		}
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct im_gpt_entry *e = &d->parts[i];
		if (e->partno <= IM_BLKPG_MAX && have[e->partno])
			continue;
		if (blkpg(fd, BLKPG_ADD_PARTITION, e->partno, e->start, e->size) < 0) {
			im_warn("%s: the kernel was not told about partition %u %s (%s); reboot "
				"or run partx -u before using it",
				what, e->partno, e->name, strerror(errno));
			failed++;
		}
	}
	return failed;
}
