/* One verb per file: each returns a process exit code (enum im_exit) and prints
 * its own errors as one line "imager: <message>" on stderr. */
#ifndef IMAGER_COMMANDS_H
#define IMAGER_COMMANDS_H

int imager_cmd_build(int argc, char **argv);	   /* imager PROFILE|- [flags]  (build.c) */
int imager_cmd_meta(int argc, char **argv);	   /* imager meta encode|decode (meta_cmd.c) */
int imager_cmd_profiles(int argc, char **argv);	   /* imager profiles           (profiles_cmd.c) */
int imager_cmd_mksquashfs(int argc, char **argv);  /* imager mksquashfs DIR OUT (pack.c) */
int imager_cmd_mkinitramfs(int argc, char **argv); /* imager mkinitramfs DIR OUT (pack.c) */
int imager_cmd_keys(int argc, char **argv);	   /* imager keys --output DIR  (keys_cmd.c) */
int imager_cmd_sign(int argc, char **argv);	   /* imager sign IN OUT        (sign_cmd.c) */
int imager_cmd_inspect(int argc, char **argv);	   /* imager inspect FILE       (inspect_cmd.c) */
int imager_cmd_schematic(int argc, char **argv);   /* imager schematic id FILE  (schematic_cmd.c) */
int imager_cmd_verify(int argc, char **argv);	   /* imager verify ARTIFACT   (verify_cmd.c) */
int imager_cmd_kernel_check(int argc,
			    char **argv); /* imager kernel-check    (kernel_check_cmd.c) */

/* Print "imager: <msg>" for a failed call and return its exit code. */
struct im_error;
int imager_report(const struct im_error *err);
/* A flag getopt refused (unknown, or its value missing): one line
 * "imager: VERB: unknown flag or missing value "ARG" (see imager VERB --help)", exit 2.
 * main() turns getopt's own messages off (opterr = 0), so this is the only line. */
int imager_bad_flag(const char *verb, char **argv);

#endif
