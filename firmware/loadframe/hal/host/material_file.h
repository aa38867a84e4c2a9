/*
 * material_file.h — reads a load-frame material from a text file of `key = value` lines, for
 * `polydaq-sim loadframe --material FILE`.
 */
#ifndef SIM_MATERIAL_FILE_H
#define SIM_MATERIAL_FILE_H

#include <stddef.h>

#include "loadframe/core/model.h"

/* Keys: modulus, yield_stress, yield_strain, draw_stress, neck_end_strain, break_strain (all
 * required) and force_noise, extension_noise, scatter (default to pp-demo's). '#' starts a
 * comment. On failure returns -1 with a one-line "FILE:LINE: reason" in `why`; `out` untouched.
 * out->name points at `path`, which must outlive it. */
int sim_material_load(const char *path, struct lf_material *out, char *why, size_t why_size);

#endif /* SIM_MATERIAL_FILE_H */
