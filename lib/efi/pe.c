/* PE32+ reader/writer for UKIs: systemd-stub + appended sections. No objcopy.
 *
 * Layout of the image written (PE §"General Concepts", §"Section Table"):
 *   [0, SizeOfHeaders)      the stub's DOS/PE/optional headers, then the section table with
 *                           the stub's sections followed by the added ones, zero filled
 *   stub raw data           copied verbatim (gaps included), moved back by `shift` only when
 *                           the header area had to grow
 *   added sections          one after the other, each at a FileAlignment'd offset, zero padded
 * Each added section gets the next SectionAlignment'd RVA after everything already mapped,
 * so RVAs increase in section table order. systemd-stub 252 finds its sections by name in the
 * loaded image and reads VirtualSize bytes at ImageBase + VirtualAddress (src/boot/efi/pe.c,
 * pe_memory_locate_sections); systemd-boot reads .osrel/.cmdline of a UKI on disk at
 * PointerToRawData, again VirtualSize bytes (pe_file_locate_sections). Hence VirtualSize is the
 * exact payload length and SizeOfRawData covers it. */
#include "imager/efi/pe.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/util/outfile.h"

#define PE_SIGNATURE 0x00004550u /* "PE\0\0" */
#define DOS_MAGIC    0x5a4du	 /* "MZ" */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- Header validation ------------------------------------------------------------------- */

static int locate_pe_header(const uint8_t *buf, size_t len, const char *what,
			    struct im_pe_layout *l, struct im_error *err)
{
	struct im_pe_dos_header dos;
	if (len < sizeof(dos))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: %zu bytes: expected a PE image (at least a 64-byte DOS header)",
			       what, len);
	memcpy(&dos, buf, sizeof(dos));
	if (dos.e_magic != DOS_MAGIC)
		return im_fail(err, IM_EXIT_INVALID, "%s: expected a PE image (\"MZ\" at offset 0)",
			       what);
	uint64_t coff = (uint64_t)dos.e_lfanew + 4;
	if (coff + sizeof(struct im_pe_coff_header) > len ||
	    rd32(buf + dos.e_lfanew) != PE_SIGNATURE)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: expected the PE signature \"PE\\0\\0\" at e_lfanew 0x%x", what,
			       dos.e_lfanew);
	l->pe_off = dos.e_lfanew;
	l->opt_off = dos.e_lfanew + 4 + sizeof(struct im_pe_coff_header);
	return 0;
}

static int check_opt_header(const uint8_t *buf, size_t len, const char *what,
			    const struct im_pe_coff_header *coff, struct im_pe_layout *l,
			    struct im_error *err)
{
	struct im_pe_opt_header64 opt;
	if (coff->size_of_optional_header < sizeof(opt) ||
	    (uint64_t)l->opt_off + coff->size_of_optional_header > len)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: SizeOfOptionalHeader %u: expected a PE32+ optional header "
			       "(>= 112 bytes) inside the file",
			       what, coff->size_of_optional_header);
	memcpy(&opt, buf + l->opt_off, sizeof(opt));
	if (opt.magic != IM_PE32PLUS_MAGIC)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: optional header magic 0x%x: expected 0x20b (PE32+)", what,
			       opt.magic);
	uint32_t n = opt.number_of_rva_and_sizes;
	if (n > IM_PE_DIR_MAX)
		n = IM_PE_DIR_MAX;
	if (sizeof(opt) + n * sizeof(struct im_pe_data_dir) > coff->size_of_optional_header)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: NumberOfRvaAndSizes %u: expected the data directories to fit "
			       "SizeOfOptionalHeader %u",
			       what, opt.number_of_rva_and_sizes, coff->size_of_optional_header);
	if (!is_pow2(opt.file_alignment) || !is_pow2(opt.section_alignment) ||
	    opt.section_alignment < opt.file_alignment)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: FileAlignment 0x%x, SectionAlignment 0x%x: expected powers of "
			       "two with SectionAlignment >= FileAlignment",
			       what, opt.file_alignment, opt.section_alignment);
	l->checksum_off = l->opt_off + offsetof(struct im_pe_opt_header64, check_sum);
	l->n_dirs = n;
	l->dirs_off = l->opt_off + sizeof(opt);
	l->size_of_headers = opt.size_of_headers;
	return 0;
}

int im_pe_locate(const uint8_t *buf, size_t len, const char *what, struct im_pe_layout *l,
		 struct im_error *err)
{
	struct im_pe_coff_header coff;
	memset(l, 0, sizeof(*l));
	if (locate_pe_header(buf, len, what, l, err))
		return -1;
	memcpy(&coff, buf + l->pe_off + 4, sizeof(coff));
	if (check_opt_header(buf, len, what, &coff, l, err))
		return -1;
	l->sect_off = l->opt_off + coff.size_of_optional_header;
	l->n_sections = coff.number_of_sections;
	uint64_t end = (uint64_t)l->sect_off + (uint64_t)l->n_sections * 40;
	if (end > len || end > l->size_of_headers || l->size_of_headers > len)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: section table (%u entries) or SizeOfHeaders 0x%x: expected "
			       "them inside the file and the table inside the headers",
			       what, l->n_sections, l->size_of_headers);
	return 0;
}

uint32_t im_pe_checksum(const uint8_t *buf, size_t len, size_t checksum_off)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < len; i += 2) {
		if (i == checksum_off || i == checksum_off + 2)
			continue;
		sum += i + 1 < len ? rd16(buf + i) : buf[i];
		sum = (sum & 0xffff) + (sum >> 16);
	}
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)(sum + len);
}

/* ---- Parsing ----------------------------------------------------------------------------- */

static void section_from_header(struct im_pe_section *s, const struct im_pe_section_header *h)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->name, h->name, 8);
	s->vaddr = h->virtual_address;
	s->vsize = h->virtual_size;
	s->file_off = h->pointer_to_raw_data;
	s->file_size = h->size_of_raw_data;
	s->characteristics = h->characteristics;
}

static int read_sections(struct im_pe *pe, struct im_error *err)
{
	size_t n = pe->l.n_sections;
	pe->sections = calloc(n ? n : 1, sizeof(*pe->sections));
	if (!pe->sections)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", pe->what);
	pe->n_stub = pe->n_sections = n;
	pe->stub_raw_start = UINT32_MAX;
	pe->stub_raw_end = 0;
	for (size_t i = 0; i < n; i++) {
		struct im_pe_section_header h;
		struct im_pe_section *s = &pe->sections[i];
		memcpy(&h, pe->buf + pe->l.sect_off + i * sizeof(h), sizeof(h));
		section_from_header(s, &h);
		if (!s->file_size)
			continue;
		uint64_t end = (uint64_t)s->file_off + s->file_size;
		if (end > pe->len || s->file_off < pe->l.size_of_headers)
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: section %s: raw data 0x%x+0x%x: expected it after the "
				       "headers and inside the file (%zu bytes)",
				       pe->what, s->name, s->file_off, s->file_size, pe->len);
		if (s->file_off < pe->stub_raw_start)
			pe->stub_raw_start = s->file_off;
		if (end > pe->stub_raw_end)
			pe->stub_raw_end = (uint32_t)end;
	}
	if (pe->stub_raw_start == UINT32_MAX)
		pe->stub_raw_start = pe->stub_raw_end = pe->l.size_of_headers;
	return 0;
}

int im_pe_parse(const uint8_t *buf, size_t len, const char *what, struct im_pe *pe,
		struct im_error *err)
{
	struct im_pe_coff_header coff;
	struct im_pe_opt_header64 opt;

	memset(pe, 0, sizeof(*pe));
	pe->buf = buf;
	pe->len = len;
	pe->what = strdup(what ? what : "PE image");
	if (!pe->what)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	if (im_pe_locate(buf, len, pe->what, &pe->l, err))
		goto fail;
	memcpy(&coff, buf + pe->l.pe_off + 4, sizeof(coff));
	memcpy(&opt, buf + pe->l.opt_off, sizeof(opt));
	pe->machine = coff.machine;
	pe->section_alignment = opt.section_alignment;
	pe->file_alignment = opt.file_alignment;
	pe->size_of_image = opt.size_of_image;
	pe->size_of_headers = opt.size_of_headers;
	if (read_sections(pe, err))
		goto fail;
	return 0;
fail:
	im_pe_free(pe);
	return -1;
}

void im_pe_free(struct im_pe *pe)
{
	free(pe->sections);
	free(pe->what);
	memset(pe, 0, sizeof(*pe));
}

const char *im_pe_arch(const struct im_pe *pe)
{
	switch (pe->machine) {
	case IM_PE_MACHINE_AMD64:
		return "amd64";
	case IM_PE_MACHINE_ARM64:
		return "arm64";
	default:
		return NULL;
	}
}

const struct im_pe_section *im_pe_find(const struct im_pe *pe, const char *name)
{
	for (size_t i = 0; i < pe->n_sections; i++)
		if (!strcmp(pe->sections[i].name, name))
			return &pe->sections[i];
	return NULL;
}

/* ---- Adding sections --------------------------------------------------------------------- */

static uint64_t mapped_end(const struct im_pe *pe)
{
	uint64_t end = pe->size_of_image;
	for (size_t i = 0; i < pe->n_sections; i++) {
		uint64_t e = (uint64_t)pe->sections[i].vaddr + pe->sections[i].vsize;
		if (e > end)
			end = e;
	}
	return end;
}

/* The headers are mapped at RVA 0 and must end before the first section (before the end of
 * the stub's image when it has no section). */
static uint32_t lowest_rva(const struct im_pe *pe)
{
	uint32_t lo = (uint32_t)align_up(pe->size_of_image, pe->section_alignment);
	for (size_t i = 0; i < pe->n_stub; i++)
		if (pe->sections[i].vaddr < lo)
			lo = pe->sections[i].vaddr;
	return lo;
}

static int debug_dir_present(const struct im_pe *pe)
{
	struct im_pe_data_dir d;
	if (pe->l.n_dirs <= IM_PE_DIR_DEBUG)
		return 0;
	memcpy(&d, pe->buf + pe->l.dirs_off + IM_PE_DIR_DEBUG * sizeof(d), sizeof(d));
	return d.size != 0;
}

/* Size the header area for n section headers; move the stub's raw data if needed. */
static int make_header_room(struct im_pe *pe, size_t n, struct im_error *err)
{
	uint64_t need =
	    align_up(pe->l.sect_off + n * sizeof(struct im_pe_section_header), pe->file_alignment);
	uint64_t soh = align_up(pe->l.size_of_headers, pe->file_alignment);
	if (need > soh)
		soh = need;
	uint64_t shift = 0;
	if (soh > pe->stub_raw_start)
		shift = align_up(soh - pe->stub_raw_start, pe->file_alignment);
	if (soh > lowest_rva(pe) || (shift && debug_dir_present(pe)))
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: no room for %zu section headers: headers would need 0x%llx "
			       "bytes, expected them to fit below the first section (RVA 0x%x)%s",
			       pe->what, n, (unsigned long long)soh, lowest_rva(pe),
			       shift && debug_dir_present(pe) ? " and no debug directory" : "");
	pe->size_of_headers = (uint32_t)soh;
	pe->shift = (uint32_t)shift;
	for (size_t i = 0; i < pe->n_stub; i++) {
		struct im_pe_section_header h;
		memcpy(&h, pe->buf + pe->l.sect_off + i * sizeof(h), sizeof(h));
		if (h.size_of_raw_data)
			pe->sections[i].file_off = h.pointer_to_raw_data + pe->shift;
	}
	return 0;
}

/* File offsets of the added sections: after the stub's raw data, one after the other. */
static void place_added(struct im_pe *pe)
{
	uint64_t off = align_up((uint64_t)pe->stub_raw_end + pe->shift, pe->file_alignment);
	for (size_t i = pe->n_stub; i < pe->n_sections; i++) {
		struct im_pe_section *s = &pe->sections[i];
		uint64_t size = align_up(s->data_len, pe->file_alignment);
		s->file_off = size ? (uint32_t)off : 0;
		s->file_size = (uint32_t)size;
		off += size;
	}
}

/* Offsets and RVAs are 32-bit. The header area can at most grow up to the lowest RVA. */
static int check_fits(const struct im_pe *pe, const char *name, uint64_t va, size_t len,
		      struct im_error *err)
{
	uint64_t file = (uint64_t)im_pe_image_size(pe) + lowest_rva(pe) +
			align_up(len, pe->file_alignment) + pe->file_alignment;
	if (va + len + pe->section_alignment > UINT32_MAX || file > UINT32_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: adding section %s (%zu bytes): the image would exceed 4 GiB",
			       pe->what, name, len);
	return 0;
}

static int check_name(const struct im_pe *pe, const char *name, struct im_error *err)
{
	size_t n = strlen(name);
	int ok = n >= 1 && n <= 8;
	for (size_t i = 0; ok && i < n; i++)
		ok = name[i] > 0x20 && name[i] < 0x7f;
	if (!ok)
		return im_fail(
		    err, IM_EXIT_INVALID,
		    "%s: section name \"%s\": expected 1 to 8 printable ASCII characters", pe->what,
		    name);
	/* systemd-stub 252 compares strlen(wanted) bytes: a name that is a prefix of another
	 * one (or equal to it) would make it pick the wrong section. */
	for (size_t i = 0; i < pe->n_sections; i++) {
		const char *e = pe->sections[i].name;
		size_t m = strlen(e) < n ? strlen(e) : n;
		if (!strncmp(e, name, m))
			return im_fail(err, IM_EXIT_INVALID,
				       "%s: section name %s clashes with existing section %s "
				       "(systemd-stub matches section names by prefix)",
				       pe->what, name, e);
	}
	return 0;
}

int im_pe_add_section(struct im_pe *pe, const char *name, const void *data, size_t len,
		      uint32_t characteristics, struct im_error *err)
{
	if (check_name(pe, name, err))
		return -1;
	if (pe->n_sections >= IM_PE_MAX_SECTIONS)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: adding section %s: expected at most %d sections (systemd-stub "
			       "limit)",
			       pe->what, name, IM_PE_MAX_SECTIONS);
	uint64_t va = align_up(mapped_end(pe), pe->section_alignment);
	if (check_fits(pe, name, va, len, err))
		return -1;
	struct im_pe_section *grown =
	    realloc(pe->sections, (pe->n_sections + 1) * sizeof(*pe->sections));
	if (!grown)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", pe->what);
	pe->sections = grown;
	if (make_header_room(pe, pe->n_sections + 1, err))
		return -1;
	struct im_pe_section *s = &pe->sections[pe->n_sections];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, strlen(name));
	s->vaddr = (uint32_t)va;
	s->vsize = (uint32_t)len;
	s->characteristics = characteristics;
	s->data = data;
	s->data_len = len;
	s->added = 1;
	pe->n_sections++;
	place_added(pe);
	/* A zero-length section still owns one RVA, keeping RVAs distinct and increasing. */
	uint64_t end = align_up(va + (len ? len : 1), pe->section_alignment);
	if (end > pe->size_of_image)
		pe->size_of_image = (uint32_t)end;
	return 0;
}

int im_pe_set_timestamp(struct im_pe *pe, int64_t epoch, struct im_error *err)
{
	if (epoch < 0 || epoch > UINT32_MAX)
		return im_fail(err, IM_EXIT_INVALID,
			       "%s: TimeDateStamp %lld: expected 0..4294967295 (SOURCE_DATE_EPOCH)",
			       pe->what, (long long)epoch);
	pe->timestamp = (uint32_t)epoch;
	return 0;
}

size_t im_pe_image_size(const struct im_pe *pe)
{
	uint64_t end = pe->size_of_headers;
	for (size_t i = 0; i < pe->n_sections; i++) {
		uint64_t e = (uint64_t)pe->sections[i].file_off + pe->sections[i].file_size;
		if (pe->sections[i].file_size && e > end)
			end = e;
	}
	return (size_t)end;
}

/* ---- Writing ----------------------------------------------------------------------------- */

/* Where the bytes go: a buffer (im_pe_build) or a file descriptor (im_pe_write). */
struct sink {
	uint8_t *buf;
	int fd;
	size_t pos;
	const char *what;
};

static int sink_put(struct sink *s, const void *p, size_t n, struct im_error *err)
{
	if (s->buf)
		memcpy(s->buf + s->pos, p, n);
	else if (im_write_all(s->fd, p, n, s->what, err))
		return -1;
	s->pos += n;
	return 0;
}

/* A section's bytes from its file, 1 MiB at a time. */
static int sink_copy_fd(struct sink *s, const struct im_pe_section *sec, struct im_error *err)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = s->buf ? NULL : malloc(CHUNK);
	if (!s->buf && !buf)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", s->what);
	size_t done = 0;
	int rc = 0;
	while (done < sec->data_len && rc == 0) {
		size_t want = sec->data_len - done < CHUNK ? sec->data_len - done : CHUNK;
		uint8_t *to = s->buf ? s->buf + s->pos : buf;
		ssize_t k = pread(sec->src_fd, to, want, (off_t)(sec->src_off + done));
		if (k <= 0) {
			rc = k < 0 ? im_fail_errno(err, IM_EXIT_IO, "%s: reading section %s",
						   s->what, sec->name)
				   : im_fail(err, IM_EXIT_IO, "%s: section %s: its file shrank",
					     s->what, sec->name);
			break;
		}
		if (s->buf)
			s->pos += (size_t)k;
		else
			rc = sink_put(s, buf, (size_t)k, err);
		done += (size_t)k;
	}
	free(buf);
	return rc;
}

static int sink_zero_to(struct sink *s, size_t to, struct im_error *err)
{
	static const uint8_t zero[4096];
	while (s->pos < to) {
		size_t n = to - s->pos < sizeof(zero) ? to - s->pos : sizeof(zero);
		if (sink_put(s, zero, n, err))
			return -1;
	}
	return 0;
}

static void fill_section_header(struct im_pe_section_header *h, const struct im_pe_section *s)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->name, s->name, strlen(s->name));
	h->virtual_size = s->vsize;
	h->virtual_address = s->vaddr;
	h->size_of_raw_data = s->file_size;
	h->pointer_to_raw_data = s->file_size ? s->file_off : 0;
	h->characteristics = s->characteristics;
}

/* Patch COFF and optional header fields in the header copy `hdr`. */
static void patch_headers(const struct im_pe *pe, uint8_t *hdr)
{
	struct im_pe_coff_header coff;
	struct im_pe_opt_header64 opt;
	uint8_t *pc = hdr + pe->l.pe_off + 4, *po = hdr + pe->l.opt_off;

	memcpy(&coff, pc, sizeof(coff));
	coff.number_of_sections = (uint16_t)pe->n_sections;
	coff.time_date_stamp = pe->timestamp;
	coff.pointer_to_symbol_table = 0; /* COFF symbols: deprecated for images, dropped */
	coff.number_of_symbols = 0;
	memcpy(pc, &coff, sizeof(coff));

	memcpy(&opt, po, sizeof(opt));
	uint32_t init = 0;
	for (size_t i = 0; i < pe->n_sections; i++)
		if (pe->sections[i].characteristics & IM_SCN_CNT_INITIALIZED_DATA)
			init += pe->sections[i].file_size;
	opt.size_of_initialized_data = init;
	opt.size_of_image = (uint32_t)align_up(mapped_end(pe), pe->section_alignment);
	opt.size_of_headers = pe->size_of_headers;
	opt.check_sum = 0;
	memcpy(po, &opt, sizeof(opt));
	if (pe->l.n_dirs > IM_PE_DIR_SECURITY) /* a signature no longer matches: drop it */
		memset(hdr + pe->l.dirs_off + IM_PE_DIR_SECURITY * sizeof(struct im_pe_data_dir), 0,
		       sizeof(struct im_pe_data_dir));
}

static int emit_headers(const struct im_pe *pe, struct sink *s, struct im_error *err)
{
	uint8_t *hdr = calloc(1, pe->size_of_headers);
	if (!hdr)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory", pe->what);
	memcpy(hdr, pe->buf, pe->l.sect_off);
	patch_headers(pe, hdr);
	for (size_t i = 0; i < pe->n_sections; i++) {
		struct im_pe_section_header h;
		fill_section_header(&h, &pe->sections[i]);
		memcpy(hdr + pe->l.sect_off + i * sizeof(h), &h, sizeof(h));
	}
	int rc = sink_put(s, hdr, pe->size_of_headers, err);
	free(hdr);
	return rc;
}

static int emit(const struct im_pe *pe, struct sink *s, struct im_error *err)
{
	if (emit_headers(pe, s, err))
		return -1;
	if (pe->stub_raw_end > pe->stub_raw_start) {
		if (sink_zero_to(s, pe->stub_raw_start + pe->shift, err) ||
		    sink_put(s, pe->buf + pe->stub_raw_start, pe->stub_raw_end - pe->stub_raw_start,
			     err))
			return -1;
	}
	for (size_t i = pe->n_stub; i < pe->n_sections; i++) {
		const struct im_pe_section *sec = &pe->sections[i];
		if (!sec->file_size)
			continue;
		if (sink_zero_to(s, sec->file_off, err) ||
		    (sec->from_fd ? sink_copy_fd(s, sec, err)
				  : sink_put(s, sec->data, sec->data_len, err)) ||
		    sink_zero_to(s, (size_t)sec->file_off + sec->file_size, err))
			return -1;
	}
	return 0;
}

int im_pe_build(const struct im_pe *pe, uint8_t **out, size_t *out_len, struct im_error *err)
{
	size_t len = im_pe_image_size(pe);
	struct sink s = {.buf = calloc(1, len ? len : 1), .fd = -1, .what = pe->what};
	*out = NULL;
	*out_len = 0;
	if (!s.buf)
		return im_fail(err, IM_EXIT_INTERNAL, "%s: out of memory (%zu bytes)", pe->what,
			       len);
	if (emit(pe, &s, err)) {
		free(s.buf);
		return -1;
	}
	*out = s.buf;
	*out_len = len;
	return 0;
}

int im_pe_write(const struct im_pe *pe, int fd, const char *what, struct im_error *err)
{
	struct sink s = {.buf = NULL, .fd = fd, .what = what};
	return emit(pe, &s, err);
}

int im_pe_add_section_fd(struct im_pe *pe, const char *name, int fd, uint64_t off, size_t len,
			 uint32_t characteristics, struct im_error *err)
{
	if (im_pe_add_section(pe, name, NULL, len, characteristics, err) < 0)
		return -1;
	struct im_pe_section *sec = &pe->sections[pe->n_sections - 1];
	sec->from_fd = 1;
	sec->src_fd = fd;
	sec->src_off = off;
	return 0;
}

/* ---- Kernel release ---------------------------------------------------------------------- */

#define UTS_LEN 64 /* __NEW_UTS_LEN in the kernel */

/* The release word at p (at most UTS_LEN characters, ended by space/NUL). */
static int take_release(const uint8_t *p, size_t avail, char **out, struct im_error *err)
{
	size_t n = 0;
	while (n < avail && n <= UTS_LEN && p[n] && p[n] != ' ') {
		if (!isalnum(p[n]) && !strchr("._+~-", p[n]))
			return 1;
		n++;
	}
	if (n == 0 || n > UTS_LEN)
		return 1;
	*out = strndup((const char *)p, n);
	if (!*out)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return 0;
}

/* x86 boot protocol (Documentation/arch/x86/boot.rst): "HdrS" at 0x202, version at 0x206,
 * kernel_version (u16, protocol >= 2.00) at 0x20e: string at kernel_version + 0x200. */
static int x86_release(const uint8_t *buf, size_t len, char **out, struct im_error *err)
{
	if (len < 0x210 || rd32(buf + 0x202) != 0x53726448u || rd16(buf + 0x206) < 0x200)
		return 1;
	uint16_t kv = rd16(buf + 0x20e);
	if (!kv || (size_t)kv + 0x200 >= len)
		return 1;
	return take_release(buf + kv + 0x200, len - kv - 0x200, out, err);
}

/* The linux_banner, "Linux version <release> (...", of an uncompressed image. */
static int banner_release(const uint8_t *buf, size_t len, char **out, struct im_error *err)
{
	static const char key[] = "Linux version ";
	const size_t kl = sizeof(key) - 1;
	const uint8_t *p = buf, *end = buf + len;
	while ((p = memmem(p, (size_t)(end - p), key, kl))) {
		p += kl;
		if (p < end && isdigit(*p)) {
			int rc = take_release(p, (size_t)(end - p), out, err);
			if (rc <= 0)
				return rc;
		}
	}
	return 1;
}

int im_kernel_uname(const uint8_t *buf, size_t len, char **out, struct im_error *err)
{
	*out = NULL;
	int rc = x86_release(buf, len, out, err);
	if (rc == 1)
		rc = banner_release(buf, len, out, err);
	return rc;
}

char *im_pe_section_text(const struct im_pe *pe, const char *name)
{
	const struct im_pe_section *s = im_pe_find(pe, name);
	if (!s || !s->file_size || s->file_off >= pe->len)
		return NULL;
	size_t n = s->vsize < s->file_size ? s->vsize : s->file_size;
	if (n > pe->len - s->file_off)
		n = pe->len - s->file_off;
	char *t = strndup((const char *)pe->buf + s->file_off, n);
	for (size_t k = t ? strlen(t) : 0; k && (t[k - 1] == '\n' || t[k - 1] == ' '); k--)
		t[k - 1] = 0;
	return t;
}
