/*
 * exports.c — validation cases on real instrument exports (../shared/data/tensile): each entry is
 * one file, its format, and the results it is expected to give with their independent source (a
 * result the vendor's own software printed in the file's header, or a value computed apart from
 * polydaq), read through the import module. A missing data folder skips these cases; it never
 * fails them.
 *
 * The import module (src/import, being written in parallel) is not part of this build yet, so the
 * table below holds no entries: a real-export case cannot be evaluated without it, and reading the
 * files here would be a second importer. When it arrives, each file becomes one entry such as
 *   {"CFRP_Specimen_RawData_1.csv", "bluehill-csv", ..., {σm 739.33423 MPa, "Bluehill header
 *    'Tensile stress at Tensile strength'", tolerance, "Bluehill's maximum vs ISO 527's first
 *    local maximum: ..."}}
 * and eval_export below reads it through the importer and evaluates it with the method's
 * parameters.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "validate/validate_internal.h"

/* One expected result of an export. */
struct export_expect {
    unsigned output;      /* EXPORT_* below */
    const char *quantity;
    const char *unit;
    double expected, tolerance;
    const char *source;   /* the independent source of `expected` */
};
enum { EXPORT_STRENGTH, EXPORT_STRAIN_AT_STRENGTH, EXPORT_MODULUS };

#define EXPORT_MAX_EXPECT 4
struct export_entry {
    const char *id;       /* case id prefix: "X.cfrp-bluehill" */
    const char *file;     /* in the data folder */
    const char *format;   /* the importer's format name */
    struct export_expect expect[EXPORT_MAX_EXPECT];
    size_t n_expect;
};

/* Empty until the import module is merged (see the file comment); the terminator keeps it valid C. */
static const struct export_entry exports[] = {{NULL, NULL, NULL, {{0}}, 0}};

static int eval_export(const void *input, const struct pd_validate_env *env, struct pd_validate_outputs *out,
                       struct pd_err *err)
{
    const struct export_entry *x = input;
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", env->data_dir, x->file);
    struct stat st;
    if (!env->data_found || stat(path, &st) != 0) {
        out->skipped = true;
        snprintf(out->note, sizeof out->note, "data not found (%s)", env->data_found ? path : env->data_dir);
        return 0;
    }
    return pd_err_set(err, PD_EUNSUPPORTED, path, "%s: no importer for format '%s' in this build", path, x->format);
}

int validate_add_exports(struct pd_validation *v, struct pd_err *err)
{
    for (size_t i = 0; exports[i].id; i++) {
        const struct export_entry *x = &exports[i];
        for (size_t k = 0; k < x->n_expect; k++) {
            const struct export_expect *e = &x->expect[k];
            char id[64];
            snprintf(id, sizeof id, "%s.%s", x->id, e->quantity);
            struct validate_case_def d = {id, "iso527", e->quantity, e->unit, e->source, e->expected, e->tolerance,
                                          NULL, eval_export, x, e->output};
            int rc = validate_add(v, PD_VALIDATE_REAL_EXPORT, &d, false, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
