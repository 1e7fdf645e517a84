/* `imager verify ARTIFACT [--record FILE] [--inputs DIR] [--secureboot-keys DIR]`: read the
 * build record (record.h), check every recorded input's sha256 before building anything,
 * rebuild from the recorded profile and SOURCE_DATE_EPOCH in a temporary folder, compare.
 * Exit 0 when identical; 8 ("not reproduced") when an input changed or bytes differ, with
 * where they differ (verify_locate.c); a missing input is 5, a record that is not one or
 * names another artifact 2. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "imager/fs/oci_bundle.h"
#include "imager/util/cleanup.h"
#include "imager/util/readfile.h"
#include "json.h"
#include "plan.h"
#include "verify.h"

static const struct option opts[] = {
    {"record", required_argument, NULL, 'r'},
    {"inputs", required_argument, NULL, 'i'},
    {"secureboot-keys", required_argument, NULL, 'k'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fputs("usage: imager verify ARTIFACT [--record FILE] [--inputs DIR] [--secureboot-keys "
	      "DIR]\n"
	      "Check every input named in the build record (default ARTIFACT.build.json)\n"
	      "against its sha256, rebuild in a temporary folder and compare. Exit 0: the\n"
	      "same bytes; 8: not reproduced (a changed input, or where the bytes differ:\n"
	      "partition and file, ISO file, PE section, tar member); 5: an input is missing.\n"
	      "  --inputs DIR             the inputs folder (as for a build; default the same)\n"
	      "  --secureboot-keys DIR    the keys folder a Secure Boot build used; without\n"
	      "                           its private keys (or without DIR) a signed artifact\n"
	      "                           is verified keyless: its signatures must verify\n"
	      "                           over the rebuilt bytes with the recorded certificate\n"
	      "                           and PCR public key (the .auth files it used are\n"
	      "                           public and still needed)\n",
	      f);
}

struct verify {
	const char *artifact, *record_path, *inputs_flag, *keys;
	struct imager_json *doc;
	const char *name, *hex, *profile;
	long long size, epoch;
	struct im_profile *p;
	char *inputs;
	int from_base; /* built on a base installer: its inputs are inside that bundle */
	int keyless;   /* a signed artifact verified without the private keys */
	struct im_keyless kl;
};

static int bad_record(struct verify *v, const char *what, struct im_error *err)
{
	return im_fail(err, IM_EXIT_INVALID, "%s: not an imager build record (%s)", v->record_path,
		       what);
}

static int load_record(struct verify *v, struct im_error *err)
{
	uint8_t *buf;
	size_t len;
	if (im_read_file(v->record_path, "build record", &buf, &len, err) < 0)
		return -1;
	v->doc = imager_json_parse((const char *)buf, len);
	free(buf);
	if (!v->doc)
		return bad_record(v, "not JSON", err);
	const char *type = imager_json_str_at(v->doc, "_type");
	const char *pt = imager_json_str_at(v->doc, "predicateType");
	if (!type || strcmp(type, "https://in-toto.io/Statement/v1") || !pt ||
	    strcmp(pt, "https://slsa.dev/provenance/v1"))
		return bad_record(v, "expected an in-toto Statement v1 with SLSA provenance v1",
				  err);
	const struct imager_json *s = imager_json_get(v->doc, "subject");
	const struct imager_json *sz = s && s->n == 1 && s->type == IMAGER_JSON_ARRAY
					   ? imager_json_get(s->kids[0], "annotations.size")
					   : NULL;
	const struct imager_json *ext =
	    imager_json_get(v->doc, "predicate.buildDefinition.externalParameters");
	const struct imager_json *ep = imager_json_get(ext, "sourceDateEpoch");
	v->name = sz ? imager_json_str_at(s->kids[0], "name") : NULL;
	v->hex = sz ? imager_json_str_at(s->kids[0], "digest.sha256") : NULL;
	v->profile = imager_json_str_at(ext, "profile");
	if (!v->name || !v->hex || sz->type != IMAGER_JSON_NUMBER)
		return bad_record(v, "no subject with name, sha256 and size", err);
	if (!v->profile || !ep || ep->type != IMAGER_JSON_NUMBER)
		return bad_record(v, "no externalParameters.profile and sourceDateEpoch", err);
	v->size = sz->num;
	v->epoch = ep->num;
	return 0;
}

/* The record must be this artifact's: same name; a different size is a damaged artifact. */
static int check_subject(struct verify *v, struct im_error *err)
{
	const char *slash = strrchr(v->artifact, '/');
	const char *base = slash ? slash + 1 : v->artifact;
	struct stat st;
	if (strcmp(base, v->name))
		return im_fail(err, IM_EXIT_INVALID, "%s: the record is for %s, not %s",
			       v->record_path, v->name, base);
	if (stat(v->artifact, &st) < 0)
		return im_fail_errno(err, IM_EXIT_MISSING, "%s (artifact)", v->artifact);
	/* a compressed artifact of another size is still located, in its decompressed bytes */
	if ((long long)st.st_size != v->size && !im_verify_compressed_file(v->artifact))
		return im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
			       "%s: not reproduced: %lld bytes, the record says %lld (truncated or "
			       "another build)",
			       v->artifact, (long long)st.st_size, v->size);
	return 0;
}

static int load_profile(struct verify *v, struct im_error *err)
{
	if (im_profile_load_string(v->profile, v->record_path, &v->p, err) < 0 ||
	    im_profile_finalize(v->p, err) < 0)
		return -1;
	v->from_base = v->p->input.base_installer.path != NULL;
	if (v->from_base)
		return 0;
	return im_plan_find_inputs(im_prof_arch_name(v->p->arch), v->inputs_flag, &v->inputs, err);
}

/* The --secureboot-keys folder has this file. */
static int keyless_has(const struct verify *v, const char *name)
{
	char path[4096];
	if (!v->keys)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", v->keys, name);
	return access(path, R_OK) == 0;
}

/* Where a recorded input is now; NULL for digests that are not files (pkg:, urn:) and for
 * a base installer's assets (checked through the bundle's own digest). */
static char *dep_path(const struct verify *v, const char *uri, struct im_error *err)
{
	char *s = NULL;
	if (!strncmp(uri, "pkg:", 4) || !strncmp(uri, "urn:", 4))
		return NULL;
	if (!strncmp(uri, "inputs/", 7)) {
		if (v->from_base)
			return NULL;
		if (asprintf(&s, "%s/%s", v->inputs, uri + 7) < 0)
			s = NULL;
	} else if (!strncmp(uri, "secureboot-keys/", 16)) {
		if (v->keyless && !keyless_has(v, uri + 16))
			return NULL; /* looked for in the artifact (keyless.c) */
		if (!v->keys) {
			im_fail(
			    err, IM_EXIT_MISSING,
			    "input %s: give --secureboot-keys DIR (the build used a keys folder)",
			    uri);
			return NULL;
		}
		if (asprintf(&s, "%s/%s", v->keys, uri + 16) < 0)
			s = NULL;
	} else {
		s = strdup(uri);
	}
	if (!s)
		im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	return s;
}

/* Every recorded input, before building anything: a missing one is IM_EXIT_MISSING, a
 * changed one "not reproduced", both naming it. */
static int check_inputs(struct verify *v, struct im_error *err)
{
	const struct imager_json *deps =
	    imager_json_get(v->doc, "predicate.buildDefinition.resolvedDependencies");
	if (!deps || deps->type != IMAGER_JSON_ARRAY)
		return bad_record(v, "no resolvedDependencies", err);
	for (size_t i = 0; i < deps->n; i++) {
		const char *name = imager_json_str_at(deps->kids[i], "name");
		const char *uri = imager_json_str_at(deps->kids[i], "uri");
		const char *hex = imager_json_str_at(deps->kids[i], "digest.sha256");
		if (!name || !uri || !hex)
			return bad_record(v, "an input without name, uri or sha256", err);
		char *path = dep_path(v, uri, err), now[65];
		if (err->code)
			return -1;
		if (!path)
			continue;
		struct im_error e = {0};
		int rc = 0;
		if (im_sha256_file_hex(path, name, now, &e) < 0)
			rc = im_fail(err, e.code, "input %s (%s): %s", name, uri, e.msg);
		else if (strcmp(now, hex))
			rc = im_fail(err, IMAGER_EXIT_NOT_REPRODUCED,
				     "input %s changed: %s has sha256 %.16s..., the record says "
				     "%.16s...",
				     name, path, now, hex);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Build into the private folder `tmp`, as the record says; *out is the rebuilt artifact. */
static int rebuild(struct verify *v, const char *tmp, char **out, struct im_error *err)
{
	char epoch[32];
	snprintf(epoch, sizeof(epoch), "%lld", v->epoch);
	setenv("SOURCE_DATE_EPOCH", epoch, 1);
	struct im_plan pl = {.keyless = v->keyless ? &v->kl : NULL};
	int rc = im_plan_init(&pl, v->p, v->inputs_flag, v->keyless ? v->kl.keys_dir : v->keys, tmp,
			      0, err);
	pl.quiet = 1;
	if (rc == 0)
		rc = im_build_output(&pl, err);
	if (rc == 0 && asprintf(out, "%s/%s", tmp, v->name) < 0)
		rc = im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	im_plan_free(&pl);
	return rc;
}

static int compare(struct verify *v, const char *rebuilt, struct im_error *err)
{
	char *rep = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&rep, &len);
	if (!f)
		return im_fail(err, IM_EXIT_INTERNAL, "out of memory");
	int n = im_verify_compare(v->artifact, rebuilt, f, err);
	fclose(f);
	if (n == 0)
		printf("imager: %s: reproduced (sha256 %s)\n", v->artifact, v->hex);
	else if (n > 0)
		fprintf(stderr, "imager: %s: not reproduced, the rebuild differs:\n%s", v->artifact,
			rep);
	free(rep);
	return n;
}

static int run(struct verify *v, struct im_error *err)
{
	char *tmp = NULL, *out = NULL;
	int cleanup = 0, rc;
	if (load_record(v, err) < 0 || check_subject(v, err) < 0 || load_profile(v, err) < 0)
		return -1;
	/* without the UKI signing key the signatures are taken from the artifact (keyless.c) */
	v->keyless = v->p->secureboot && !keyless_has(v, "uki-signing-key.pem");
	if (check_inputs(v, err) < 0 || im_private_dir("imager-verify", &tmp, &cleanup, err) < 0)
		return -1;
	rc = v->keyless ? im_keyless_prepare(v->artifact, v->doc, v->keys, tmp, &v->kl, err) : 0;
	if (rc == 0)
		rc = rebuild(v, tmp, &out, err);
	if (rc == 0)
		rc = compare(v, out, err);
	if (rc >= 0 && v->keyless)
		rc = im_keyless_report(v->artifact, &v->kl, rc);
	im_keyless_free(&v->kl);
	im_rmtree(tmp);
	im_cleanup_forget(cleanup);
	free(tmp);
	free(out);
	return rc;
}

int imager_cmd_verify(int argc, char **argv)
{
	struct verify v = {0};
	struct im_error err = {0};
	char *record = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'r')
			v.record_path = optarg;
		else if (c == 'i')
			v.inputs_flag = optarg;
		else if (c == 'k')
			v.keys = optarg;
		else
			return imager_bad_flag("verify", argv);
	}
	if (argc - optind != 1) {
		fprintf(stderr,
			"imager: verify: expected one ARTIFACT (see imager verify --help)\n");
		return IM_EXIT_INVALID;
	}
	v.artifact = argv[optind];
	if (!v.record_path) {
		if (asprintf(&record, "%s.build.json", v.artifact) < 0)
			return IM_EXIT_INTERNAL;
		v.record_path = record;
	}
	int rc = run(&v, &err);
	imager_json_free(v.doc);
	im_profile_free(v.p);
	free(v.inputs);
	free(record);
	if (rc < 0)
		return imager_report(&err);
	return rc > 0 ? IMAGER_EXIT_NOT_REPRODUCED : 0;
}
