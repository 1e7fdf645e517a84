/* PE32+ images (EFI applications): parse a stub such as systemd-stub, append sections after
 * its last one, write the result with its header fields recomputed. Also the kernel release
 * string of a Linux kernel image (for a UKI's .uname section).
 *
 * Field layouts follow the Microsoft "PE Format" specification (learn.microsoft.com/windows/
 * win32/debug/pe-format), cited below as "PE §<section>". All fields are little-endian. */
#ifndef IMAGER_PE_H
#define IMAGER_PE_H

#include <stddef.h>
#include <stdint.h>

#include "imager/util/error.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the PE structures below are read in place: little-endian hosts only"
#endif

/* ---- On-disk structures ------------------------------------------------------------------ */

/* MS-DOS stub header: PE §"MS-DOS Stub (Image Only)" — only e_magic ("MZ") and e_lfanew (at
 * 0x3c, the file offset of the PE signature) matter. */
struct im_pe_dos_header {
	uint16_t e_magic; /* "MZ" */
	uint8_t pad[58];
	uint32_t e_lfanew; /* file offset of "PE\0\0" */
} __attribute__((packed));
_Static_assert(sizeof(struct im_pe_dos_header) == 64, "DOS header is 64 bytes");

/* COFF file header, right after the 4-byte signature "PE\0\0": PE §"COFF File Header
 * (Object and Image)". */
struct im_pe_coff_header {
	uint16_t machine;		  /* PE §"Machine Types" */
	uint16_t number_of_sections;	  /* entries in the section table */
	uint32_t time_date_stamp;	  /* seconds since 1970 */
	uint32_t pointer_to_symbol_table; /* deprecated for images: should be 0 */
	uint32_t number_of_symbols;	  /* deprecated for images: should be 0 */
	uint16_t size_of_optional_header; /* optional header incl. data directories */
	uint16_t characteristics;	  /* PE §"Characteristics" */
} __attribute__((packed));
_Static_assert(sizeof(struct im_pe_coff_header) == 20, "COFF header is 20 bytes");

/* Optional header, PE32+ form (magic 0x20b), standard + Windows-specific fields: PE §"Optional
 * Header Standard Fields (Image Only)" and §"Optional Header Windows-Specific Fields". The data
 * directories (NumberOfRvaAndSizes of them) follow it. */
struct im_pe_opt_header64 {
	uint16_t magic; /* 0x20b = PE32+ */
	uint8_t major_linker_version;
	uint8_t minor_linker_version;
	uint32_t size_of_code;
	uint32_t size_of_initialized_data;   /* sum over sections with CNT_INITIALIZED_DATA */
	uint32_t size_of_uninitialized_data; /* sum over sections with CNT_UNINITIALIZED_DATA */
	uint32_t address_of_entry_point;     /* RVA */
	uint32_t base_of_code;		     /* RVA */
	uint64_t image_base;
	uint32_t section_alignment; /* >= file_alignment; VirtualAddress multiple */
	uint32_t file_alignment;    /* power of two; PointerToRawData/SizeOfRawData multiple */
	uint16_t major_operating_system_version;
	uint16_t minor_operating_system_version;
	uint16_t major_image_version;
	uint16_t minor_image_version;
	uint16_t major_subsystem_version;
	uint16_t minor_subsystem_version;
	uint32_t win32_version_value; /* reserved, 0 */
	uint32_t size_of_image;	      /* multiple of section_alignment */
	uint32_t size_of_headers;     /* DOS stub + PE headers + section table, FileAlignment'd */
	uint32_t check_sum;	      /* not checked by UEFI; 0 here */
	uint16_t subsystem;	      /* 10 = EFI application */
	uint16_t dll_characteristics;
	uint64_t size_of_stack_reserve;
	uint64_t size_of_stack_commit;
	uint64_t size_of_heap_reserve;
	uint64_t size_of_heap_commit;
	uint32_t loader_flags; /* reserved, 0 */
	uint32_t number_of_rva_and_sizes;
} __attribute__((packed));
_Static_assert(sizeof(struct im_pe_opt_header64) == 112, "PE32+ optional header is 112 bytes");

#define IM_PE32PLUS_MAGIC 0x20b

/* One data directory: PE §"Optional Header Data Directories (Image Only)". For the
 * certificate table (index 4) virtual_address is a *file offset*, not an RVA. */
struct im_pe_data_dir {
	uint32_t virtual_address;
	uint32_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct im_pe_data_dir) == 8, "data directory is 8 bytes");

enum {
	IM_PE_DIR_SECURITY = 4, /* certificate table (file offset + size) */
	IM_PE_DIR_BASERELOC = 5,
	IM_PE_DIR_DEBUG = 6, /* its entries hold file offsets (PointerToRawData) */
	IM_PE_DIR_MAX = 16,
};

/* Section table entry: PE §"Section Table (Section Headers)". */
struct im_pe_section_header {
	char name[8];		   /* NUL-padded; not terminated when 8 long */
	uint32_t virtual_size;	   /* bytes in memory (systemd-stub's section size) */
	uint32_t virtual_address;  /* RVA, SectionAlignment multiple */
	uint32_t size_of_raw_data; /* bytes in the file, FileAlignment multiple */
	uint32_t pointer_to_raw_data;
	uint32_t pointer_to_relocations; /* 0 for images */
	uint32_t pointer_to_linenumbers; /* 0 for images */
	uint16_t number_of_relocations;
	uint16_t number_of_linenumbers;
	uint32_t characteristics; /* IM_SCN_* */
} __attribute__((packed));
_Static_assert(sizeof(struct im_pe_section_header) == 40, "section header is 40 bytes");

/* Section flags: PE §"Section Flags". */
#define IM_SCN_CNT_CODE		      0x00000020u
#define IM_SCN_CNT_INITIALIZED_DATA   0x00000040u
#define IM_SCN_CNT_UNINITIALIZED_DATA 0x00000080u
#define IM_SCN_MEM_DISCARDABLE	      0x02000000u
#define IM_SCN_MEM_EXECUTE	      0x20000000u
#define IM_SCN_MEM_READ		      0x40000000u
#define IM_SCN_MEM_WRITE	      0x80000000u
/* What a UKI's payload sections use (.osrel .cmdline .uname .linux .initrd .pcrsig ...). */
#define IM_SCN_DATA_RO (IM_SCN_CNT_INITIALIZED_DATA | IM_SCN_MEM_READ)

/* Machine types: PE §"Machine Types". */
#define IM_PE_MACHINE_AMD64 0x8664
#define IM_PE_MACHINE_ARM64 0xaa64

/* systemd-stub 252 refuses images with more sections (src/boot/efi/pe.c, MAX_SECTIONS). */
#define IM_PE_MAX_SECTIONS 96

/* Where the header fields live, for the Authenticode hash. Offsets are file offsets. */
struct im_pe_layout {
	uint32_t pe_off;       /* "PE\0\0" */
	uint32_t opt_off;      /* optional header */
	uint32_t checksum_off; /* CheckSum field */
	uint32_t n_dirs;       /* NumberOfRvaAndSizes (capped at IM_PE_DIR_MAX) */
	uint32_t dirs_off;     /* first data directory */
	uint32_t sect_off;     /* section table */
	uint32_t n_sections;
	uint32_t size_of_headers;
};

/* Validate the headers of a PE32+ image held in buf and locate its fields. `what` names the
 * file in messages. Errors: IM_EXIT_INVALID (not PE32+, truncated, inconsistent). */
int im_pe_locate(const uint8_t *buf, size_t len, const char *what, struct im_pe_layout *l,
		 struct im_error *err);

/* The PE image checksum (the ImageHlp CheckSumMappedFile algorithm): the 16-bit little-endian
 * words of the file summed with end-around carry, the CheckSum field at checksum_off counted
 * as zero, plus the file length. UEFI does not check it; signers set it after signing. */
uint32_t im_pe_checksum(const uint8_t *buf, size_t len, size_t checksum_off);

/* ---- Stub + appended sections ------------------------------------------------------------ */

struct im_pe_section {
	char name[9];		  /* NUL-terminated copy of the 8-byte name */
	uint32_t vaddr;		  /* VirtualAddress (RVA) */
	uint32_t vsize;		  /* VirtualSize */
	uint32_t file_off;	  /* PointerToRawData in the image im_pe_write produces */
	uint32_t file_size;	  /* SizeOfRawData */
	uint32_t characteristics; /* IM_SCN_* */
	const uint8_t *data;	  /* appended sections: the caller's bytes (borrowed) */
	size_t data_len;	  /* appended sections: bytes of data (= vsize) */
	int added;		  /* 1 for sections added with im_pe_add_section */
	int from_fd;		  /* im_pe_add_section_fd: data is NULL, read from src_fd */
	int src_fd;
	uint64_t src_off;
};

struct im_pe {
	const uint8_t *buf; /* the parsed stub (borrowed: keep alive until the last write) */
	size_t len;
	char *what; /* file name for messages */
	struct im_pe_layout l;
	uint16_t machine;
	uint32_t section_alignment;
	uint32_t file_alignment;
	uint32_t size_of_image;	  /* of the stub, then recomputed as sections are added */
	uint32_t size_of_headers; /* likewise */
	uint32_t timestamp;	  /* TimeDateStamp written by im_pe_write (default 0) */
	uint32_t stub_raw_start;  /* first raw byte of the stub's sections in the stub file */
	uint32_t stub_raw_end;	  /* end of the stub's last raw data in the stub file */
	uint32_t shift;		  /* the stub's raw data moves by this to make header room */
	size_t n_stub;		  /* the stub's own sections come first in `sections` */
	size_t n_sections;
	struct im_pe_section *sections;
};

/* Parse a PE32+ image (the stub). buf is borrowed until im_pe_free. Errors: IM_EXIT_INVALID
 * naming `what` (not PE32+, truncated or inconsistent headers/sections). */
int im_pe_parse(const uint8_t *buf, size_t len, const char *what, struct im_pe *pe,
		struct im_error *err);
void im_pe_free(struct im_pe *pe);

/* "amd64", "arm64" or NULL for other machines. */
const char *im_pe_arch(const struct im_pe *pe);

/* Find a section by exact name; NULL when absent. */
const struct im_pe_section *im_pe_find(const struct im_pe *pe, const char *name);
/* A text section (.osrel, .cmdline, .uname) as a string: its bytes up to the first NUL,
 * within the file, without trailing newlines and spaces (malloc'd); NULL when absent. */
char *im_pe_section_text(const struct im_pe *pe, const char *name);

/* Append a section (data borrowed, not copied) at the next VirtualAddress after all sections,
 * aligned to SectionAlignment, its raw data at the next FileAlignment'd file offset after all
 * raw data. VirtualSize = len, SizeOfRawData = len rounded up to FileAlignment. When the
 * header area has no room for one more section header, the stub's raw data moves back by a
 * FileAlignment multiple (allowed only while the headers stay below the first section's RVA
 * and the stub has no debug directory). Errors: IM_EXIT_INVALID (bad or duplicate name, no
 * header room, image over 4 GiB, more than IM_PE_MAX_SECTIONS sections). */
int im_pe_add_section(struct im_pe *pe, const char *name, const void *data, size_t len,
		      uint32_t characteristics, struct im_error *err);

/* The same with the section's bytes read from `fd` at `off` (borrowed: keep it open until
 * the last write) when the image is written, never held in memory whole. */
int im_pe_add_section_fd(struct im_pe *pe, const char *name, int fd, uint64_t off, size_t len,
			 uint32_t characteristics, struct im_error *err);

/* Set TimeDateStamp (seconds since 1970, e.g. SOURCE_DATE_EPOCH). IM_EXIT_INVALID when it
 * does not fit 32 bits. */
int im_pe_set_timestamp(struct im_pe *pe, int64_t epoch, struct im_error *err);

/* Size of the image im_pe_write/im_pe_build produce. */
size_t im_pe_image_size(const struct im_pe *pe);

/* Produce the image: the stub's headers and sections (the stub's COFF symbol table, trailing
 * data and certificate table are dropped: a signature would no longer match), the section
 * table with the new entries, the added sections' data zero-padded to FileAlignment.
 * SizeOfImage, SizeOfHeaders, SizeOfInitializedData are recomputed, CheckSum = 0,
 * TimeDateStamp = pe->timestamp. */
int im_pe_build(const struct im_pe *pe, uint8_t **out, size_t *out_len, struct im_error *err);
/* Same, written to fd from its current offset (what names it in messages; IM_EXIT_IO). */
int im_pe_write(const struct im_pe *pe, int fd, const char *what, struct im_error *err);

/* ---- Kernel release ---------------------------------------------------------------------- */

/* The kernel release ("6.1.0-56-amd64") of a Linux kernel image:
 * - x86 bzImage: the setup header ("HdrS" at 0x202, boot protocol >= 2.00) holds at 0x20e a
 *   u16 `kernel_version`; the string is at that value + 0x200 (Documentation/arch/x86/
 *   boot.rst, "kernel_version"); its first word is the release.
 * - other images (arm64 `Image` has no version field in its header): the first "Linux version "
 *   followed by a digit (the linux_banner of an uncompressed image); the next word. A
 *   compressed image (e.g. an arm64 EFI zboot image) does not contain it.
 * Returns 0 and a malloc'd *out, 1 when not found (*out = NULL), -1 on error. */
int im_kernel_uname(const uint8_t *buf, size_t len, char **out, struct im_error *err);

#endif
