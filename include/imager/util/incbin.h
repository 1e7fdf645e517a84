/* Files of the source tree compiled into the library (the built-in profiles, the kernel
 * config fragments): the assembler's .incbin copies the file into a read-only section,
 * followed by a NUL so the C side reads it as a string, and nothing is generated at build
 * time. The path is IMAGER_SOURCE_DIR (absolute, set by the Makefile) + `file`, so the build
 * works from any folder; make does not see the file as a prerequisite by itself: the
 * Makefile lists it for the object that embeds it. The symbol is a hidden global. */
#ifndef IMAGER_UTIL_INCBIN_H
#define IMAGER_UTIL_INCBIN_H

#ifndef IMAGER_SOURCE_DIR
#define IMAGER_SOURCE_DIR "."
#endif

#define IM_INCBIN(sym, section, file)                                                              \
	__asm__(".pushsection " section ",\"a\",@progbits\n"                                       \
		".globl " #sym "\n"                                                                \
		".hidden " #sym "\n"                                                               \
		".type " #sym ",@object\n" #sym ":\n"                                              \
		".incbin \"" IMAGER_SOURCE_DIR file "\"\n"                                         \
		".byte 0\n"                                                                        \
		".size " #sym ",.-" #sym "\n"                                                      \
		".popsection\n");                                                                  \
	extern const char sym[] __attribute__((visibility("hidden")))

#endif
