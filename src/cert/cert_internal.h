/*
 * cert_internal.h — what the cert module's files share and nobody else needs: the table of
 * reportable properties per test method (name, reporting unit, scale from the internal value).
 */
#ifndef PD_CERT_INTERNAL_H
#define PD_CERT_INTERNAL_H

#include <stddef.h>

/* ISO 527 properties in the order certificates list them. */
enum pd_iso527_property {
    PD_ISO527_TENSILE_MODULUS,
    PD_ISO527_TENSILE_STRENGTH,
    PD_ISO527_STRAIN_AT_STRENGTH,
    PD_ISO527_YIELD_STRESS,
    PD_ISO527_YIELD_STRAIN,
    PD_ISO527_STRESS_AT_BREAK,
    PD_ISO527_STRAIN_AT_BREAK,
    PD_ISO527_PROPERTY_COUNT
};

struct pd_cert_property {
    const char *name;
    const char *unit;
    double scale; /* reported value = internal value · scale (strain fraction → %) */
};

/* The method ids a spec may name ("iso527"); NULL-terminated. */
extern const char *const pd_cert_methods[];
/* The properties of a method, NULL (count 0) for an unknown method. */
const struct pd_cert_property *pd_cert_method_properties(const char *method, size_t *count);
/* Index of a property within its method's table, -1 when the method does not report it. */
int pd_cert_property_index(const char *method, const char *property);

#endif /* PD_CERT_INTERNAL_H */
