/*
 * config.h — YAML documents as a tree of nodes that remember where they came from, and a
 * declarative schema decoder on top. Every error message names file:line:column and says what was
 * expected. The module knows no schema of its own: the lab config (acq), instrument sections
 * (drivers) and spec files (cert) each declare theirs as pd_cfg_field tables.
 */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

struct pd_cfg_doc;  /* owns all nodes and strings of one parsed document */
struct pd_cfg_node; /* read-only view into a document */

enum pd_cfg_kind { PD_CFG_SCALAR, PD_CFG_MAP, PD_CFG_SEQ };

/* Parse a YAML file / in-memory text (`name` is used in messages as the file name). Exactly one
 * document; anchors/aliases and duplicate keys are errors. On failure *out is untouched. */
int pd_cfg_load_file(const char *path, struct pd_cfg_doc **out, struct pd_err *err);
int pd_cfg_load_string(const char *name, const char *text, size_t len, struct pd_cfg_doc **out,
                       struct pd_err *err);
void pd_cfg_free(struct pd_cfg_doc *doc);
const struct pd_cfg_node *pd_cfg_root(const struct pd_cfg_doc *doc);
/* The document's source text exactly as read (for storing "the config as given"). */
const char *pd_cfg_source_text(const struct pd_cfg_doc *doc);
const char *pd_cfg_source_name(const struct pd_cfg_doc *doc);

enum pd_cfg_kind pd_cfg_kind(const struct pd_cfg_node *node);
int pd_cfg_line(const struct pd_cfg_node *node);   /* 1-based */
int pd_cfg_column(const struct pd_cfg_node *node); /* 1-based */
/* "file:line:col" for messages. */
void pd_cfg_where(const struct pd_cfg_node *node, char *buf, size_t size);
/* The YAML path of the node, e.g. "instruments[0].channels[2].address". */
void pd_cfg_path(const struct pd_cfg_node *node, char *buf, size_t size);

/* Scalars: the text; NULL for non-scalars. A null/empty YAML value is the empty string. */
const char *pd_cfg_scalar(const struct pd_cfg_node *node);
/* Maps: value for a key (NULL if absent or not a map); entries by index (key node + value). */
const struct pd_cfg_node *pd_cfg_map_get(const struct pd_cfg_node *map, const char *key);
size_t pd_cfg_map_size(const struct pd_cfg_node *map);
const struct pd_cfg_node *pd_cfg_map_key(const struct pd_cfg_node *map, size_t i);
const struct pd_cfg_node *pd_cfg_map_value(const struct pd_cfg_node *map, size_t i);
/* Sequences. */
size_t pd_cfg_seq_len(const struct pd_cfg_node *seq);
const struct pd_cfg_node *pd_cfg_seq_at(const struct pd_cfg_node *seq, size_t i);

/* Fill `err` with PD_ECONFIG and "file:line:col: <path>: <message>" for this node. Returns PD_ECONFIG. */
int pd_cfg_error(struct pd_err *err, const struct pd_cfg_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed scalar readers; on a wrong type they fill err (naming the node and what was expected). */
int pd_cfg_get_double(const struct pd_cfg_node *node, double *out, struct pd_err *err);
int pd_cfg_get_long(const struct pd_cfg_node *node, long *out, struct pd_err *err);
int pd_cfg_get_bool(const struct pd_cfg_node *node, bool *out, struct pd_err *err);

/* ---- Declarative schema -------------------------------------------------------------------*/
enum pd_cfg_type {
    PD_CFG_T_STRING, /* char[size] at offset; too long is an error */
    PD_CFG_T_INT,    /* long; bounds min..max */
    PD_CFG_T_DOUBLE, /* double; bounds min..max (finite) */
    PD_CFG_T_BOOL,   /* bool; true/false/yes/no/on/off */
    PD_CFG_T_ENUM,   /* int; index into `choices` (NULL-terminated) */
    PD_CFG_T_NODE,   /* const struct pd_cfg_node *; any kind, for nested sections decoded later */
    PD_CFG_T_MAP,    /* const struct pd_cfg_node *; must be a map */
    PD_CFG_T_SEQ,    /* const struct pd_cfg_node *; must be a sequence */
};

struct pd_cfg_field {
    const char *key;          /* NULL ends a table */
    enum pd_cfg_type type;
    size_t offset;            /* offsetof() into the output struct */
    size_t size;              /* PD_CFG_T_STRING: buffer size */
    bool required;
    double min, max;          /* numeric bounds when min < max */
    const char *const *choices; /* PD_CFG_T_ENUM */
    const char *def;          /* default as YAML text, applied when absent and not required; may be NULL */
    const char *help;         /* what is expected, used in messages ("a TCP port 1..65535") */
};

/* Pass as `extra_keys` to accept any other key in the map (the caller checks those itself). */
extern const char *const pd_cfg_any_key[];

/* Decode a map node into `out` by `fields`. Keys not in `fields` nor in the NULL-terminated
 * `extra_keys` (may be NULL) are errors, with a "did you mean" hint. Defaults are applied for
 * absent optional fields. The first error stops decoding; `out` may then be partly written. */
int pd_cfg_decode(const struct pd_cfg_node *map, const struct pd_cfg_field *fields,
                  const char *const *extra_keys, void *out, struct pd_err *err);

#endif /* PD_CONFIG_H */
