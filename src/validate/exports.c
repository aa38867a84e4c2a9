/*
 * exports.c — validation cases on real instrument exports (../shared/data/tensile): each entry is
 * one file, its format, and the results it is expected to give with their independent source (a
 * result the vendor's own software printed in the file's header, or a value computed apart from
 * polydaq), read through the import module. A missing data folder skips these cases; it never
 * fails them.
 *
 * Each export is imported into a run file in a private temporary folder (pd_import_run, the
 * format's defaults: Bluehill's "Tensile strain (Strain 1)" column and testXpert's "Standard
 * travel" become the extension), read back through the store and evaluated with the built-in
 * ISO 527 parameters; the run file and folder are removed afterwards.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/import.h"
#include "store/store.h"
#include "validate/validate_internal.h"

/* One expected result of an export. */
struct export_expect {
    unsigned output;  /* EXPORT_* below */
    const char *name; /* in the case id */
    const char *quantity;
    const char *unit;
    double expected, tolerance;
    const char *source; /* the independent source of `expected` */
};
enum { EXPORT_STRENGTH, EXPORT_STRAIN_AT_STRENGTH, EXPORT_MODULUS };

#define EXPORT_MAX_EXPECT 4
struct export_entry {
    const char *id;     /* case id prefix: "X.cfrp-bluehill" */
    const char *file;   /* in the data folder */
    const char *format; /* the importer's format name */
    struct export_expect expect[EXPORT_MAX_EXPECT];
    size_t n_expect;
};

/* Empty until the import module is merged (see the file comment); the terminator keeps it valid C. */
#define BH "Bluehill header "
static const struct export_entry exports[] = {
    {"X.cfrp-bluehill",
     "CFRP_Specimen_RawData_1.csv",
     "bluehill",
     {{EXPORT_STRENGTH, "sigma_m", "tensile strength σm", "MPa", 739.33423, 0.25,
       BH "'Tensile stress at Tensile strength' (its highest sample); polydaq fits the value at the first maximum: "
          "tolerance = stress noise SD at the peak, 0.25 MPa (numpy)"},
      {EXPORT_STRAIN_AT_STRENGTH, "eps_m", "strain at tensile strength εm", "%", 3.198, 0.0005,
       BH "'Tensile strain (Strain 1) at Tensile strength' 0.03198 mm/mm: the channel polydaq imports as extension; "
          "tolerance = its rounding"},
      {EXPORT_MODULUS, "Et", "tensile modulus Et, chord interpolated at 0.05/0.25 %", "MPa", 155092.054, 0.16,
       "numpy on the file (Strain 1, load/A0); the header's 242,370 MPa 'Automatic Young's' is another definition "
       "(Bluehill's own fit range), not compared"}},
     3},
    {"X.invar-testxpert",
     "Invar_LT_05_01.TRA",
     "testxpert",
     {{EXPORT_STRENGTH, "sigma_m", "tensile strength σm", "MPa", 1009.8514, 0.01,
       "numpy on the file: highest force / (4.89 × 1.5 mm); tolerance ≈ stress noise SD at the peak, 0.0073 MPa "
       "(numpy)"},
      {EXPORT_STRAIN_AT_STRENGTH, "eps_m", "strain at tensile strength εm", "%", 3.02895, 0.0036,
       "numpy on the file: standard travel / 30 mm at that sample; tolerance = one sample's strain step there"},
      {EXPORT_MODULUS, "Et", "tensile modulus Et, chord interpolated at 0.05/0.25 %", "MPa", 81344.737, 0.08,
       "numpy on the file (strain zeroed at the first sample, a 103 N preload, as exported)"}},
     3},
    {NULL, NULL, NULL, {{0}}, 0},
};

/* Reads specimen 0 of an imported run and evaluates it with the built-in ISO 527 parameters. */
static int evaluate_run(const char *path, struct pd_validate_outputs *out, struct pd_err *err)
{
    struct pd_run *run;
    int rc = pd_run_open(path, &run, err);
    if (rc < 0)
        return rc;
    double *force = NULL, *ext = NULL, *xhead = NULL;
    size_t n = 0, n_ext = 0, n_x = 0, inst, idx;
    struct pd_tensile_specimen sp = {0};
    if (pd_run_specimen_attr_double(run, 0, "width", &sp.width_mm) < 0 ||
        pd_run_specimen_attr_double(run, 0, "thickness", &sp.thickness_mm) < 0 ||
        pd_run_specimen_attr_double(run, 0, "gauge_length", &sp.gauge_length_mm) < 0)
        rc = pd_err_set(err, PD_EDATA, path, "%s: the imported specimen lacks width, thickness or gauge length", path);
    if (pd_run_specimen_attr_double(run, 0, "grip_distance", &sp.grip_distance_mm) < 0)
        sp.grip_distance_mm = 0.0;
    if (rc == 0 && (rc = pd_run_find_channel(run, "force", &inst, &idx)) == 0)
        rc = pd_run_read_channel(run, 0, inst, "force", &force, &n, err);
    if (rc == 0 && (rc = pd_run_find_channel(run, "extension", &inst, &idx)) == 0)
        rc = pd_run_read_channel(run, 0, inst, "extension", &ext, &n_ext, err);
    if (rc == 0 && pd_run_find_channel(run, "crosshead", &inst, &idx) == 0 &&
        pd_run_read_channel(run, 0, inst, "crosshead", &xhead, &n_x, NULL) == 0 && n_x != n) {
        free(xhead);
        xhead = NULL;
    }
    pd_run_close(run);
    struct pd_tensile_params p;
    if (rc == 0 && n_ext != n)
        rc = pd_err_set(err, PD_EDATA, path, "%s: %zu force but %zu extension samples", path, n, n_ext);
    if (rc == 0)
        rc = validate_tensile_params(&p, err);
    struct pd_tensile_result r;
    if (rc == 0) {
        sp.force_N = force;
        sp.extension_mm = ext;
        sp.crosshead_mm = xhead;
        sp.n = n;
        rc = pd_tensile_evaluate(&sp, &p, &r, err);
    }
    free(force);
    free(ext);
    free(xhead);
    if (rc < 0)
        return rc;
    out->v[EXPORT_STRENGTH].computed = r.strength_MPa;
    out->v[EXPORT_STRAIN_AT_STRENGTH].computed = 100.0 * r.strain_at_strength;
    out->v[EXPORT_MODULUS].computed = r.has_modulus ? r.modulus_MPa : NAN;
    if (!r.has_modulus)
        snprintf(out->note, sizeof out->note, "modulus n/a: %.180s", r.modulus_na_reason);
    return 0;
}

/* Imports the export into a run file in a private temporary folder, evaluates it, removes both. */
static int eval_export(const void *input, const struct pd_validate_env *env, struct pd_validate_outputs *out,
                       struct pd_err *err)
{
    const struct export_entry *x = input;
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", env->data_dir, x->file);
    struct stat st;
    if (!env->data_found || stat(path, &st) != 0) {
        out->skipped = true;
        snprintf(out->note, sizeof out->note, "data not found (%.170s)", env->data_found ? path : env->data_dir);
        return 0;
    }
    const char *tmp_root = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/polydaq-validate-XXXXXX", tmp_root && tmp_root[0] ? tmp_root : "/tmp");
    if (!mkdtemp(dir))
        return pd_err_set_os(err, PD_EIO, errno, dir, "cannot create a temporary folder %s", dir);
    struct pd_import_options opt;
    pd_import_options_init(&opt);
    opt.format = (enum pd_import_format)pd_import_format_parse(x->format);
    opt.out_dir = dir;
    opt.run_id = "validate";
    opt.deflate_level = -1;
    const char *files[1] = {path};
    struct pd_import_result res;
    int rc = pd_import_run(files, 1, &opt, &res, err);
    if (rc == 0) {
        rc = evaluate_run(res.path, out, err);
        unlink(res.path);
    }
    rmdir(dir);
    return rc;
}

int validate_add_exports(struct pd_validation *v, struct pd_err *err)
{
    for (size_t i = 0; exports[i].id; i++) {
        const struct export_entry *x = &exports[i];
        for (size_t k = 0; k < x->n_expect; k++) {
            const struct export_expect *e = &x->expect[k];
            char id[64];
            snprintf(id, sizeof id, "%s.%s", x->id, e->name);
            struct validate_case_def d = {id,           "iso527", e->quantity, e->unit, e->source, e->expected,
                                          e->tolerance, NULL,     eval_export, x,       e->output};
            int rc = validate_add(v, PD_VALIDATE_REAL_EXPORT, &d, false, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
