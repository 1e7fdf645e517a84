/* The built-in profiles (profiles/<name>.yaml) compiled into the library (incbin.h: the
 * YAML files are the single source; the Makefile lists them for this object). A new
 * profile needs one BUILTIN line below and one table entry, kept sorted by name (the unit
 * test checks it). */
#include "imager/talos/profile.h"

#include "imager/util/incbin.h"

/* The labels are numbered because profile names contain '-'. */
#define BUILTIN(sym, file) IM_INCBIN(sym, ".rodata.im_profiles", "/profiles/" file)

BUILTIN(im_prof_y00, "akamai.yaml");
BUILTIN(im_prof_y01, "aws.yaml");
BUILTIN(im_prof_y02, "azure.yaml");
BUILTIN(im_prof_y03, "digital-ocean.yaml");
BUILTIN(im_prof_y04, "exoscale.yaml");
BUILTIN(im_prof_y05, "gcp.yaml");
BUILTIN(im_prof_y06, "hcloud.yaml");
BUILTIN(im_prof_y07, "installer.yaml");
BUILTIN(im_prof_y08, "iso.yaml");
BUILTIN(im_prof_y09, "metal.yaml");
BUILTIN(im_prof_y10, "metal-uki.yaml");
BUILTIN(im_prof_y11, "nocloud.yaml");
BUILTIN(im_prof_y12, "openstack.yaml");
BUILTIN(im_prof_y13, "oracle.yaml");
BUILTIN(im_prof_y14, "scaleway.yaml");
BUILTIN(im_prof_y15, "secureboot-installer.yaml");
BUILTIN(im_prof_y16, "secureboot-iso.yaml");
BUILTIN(im_prof_y17, "secureboot-metal.yaml");
BUILTIN(im_prof_y18, "secureboot-metal-uki.yaml");
BUILTIN(im_prof_y19, "upcloud.yaml");
BUILTIN(im_prof_y20, "vmware.yaml");
BUILTIN(im_prof_y21, "vultr.yaml");

const struct im_profile_builtin im_profile_builtins[] = {
    {"akamai", im_prof_y00},
    {"aws", im_prof_y01},
    {"azure", im_prof_y02},
    {"digital-ocean", im_prof_y03},
    {"exoscale", im_prof_y04},
    {"gcp", im_prof_y05},
    {"hcloud", im_prof_y06},
    {"installer", im_prof_y07},
    {"iso", im_prof_y08},
    {"metal", im_prof_y09},
    {"metal-uki", im_prof_y10},
    {"nocloud", im_prof_y11},
    {"openstack", im_prof_y12},
    {"oracle", im_prof_y13},
    {"scaleway", im_prof_y14},
    {"secureboot-installer", im_prof_y15},
    {"secureboot-iso", im_prof_y16},
    {"secureboot-metal", im_prof_y17},
    {"secureboot-metal-uki", im_prof_y18},
    {"upcloud", im_prof_y19},
    {"vmware", im_prof_y20},
    {"vultr", im_prof_y21},
};

const size_t im_profile_n_builtins = sizeof(im_profile_builtins) / sizeof(im_profile_builtins[0]);
