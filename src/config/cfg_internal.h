/*
 * cfg_internal.h — the node and document layout shared by the config module's own files; nothing
 * outside src/config includes this.
 */
#ifndef PD_CFG_INTERNAL_H
#define PD_CFG_INTERNAL_H

#include "config/config.h"

struct pd_cfg_node {
    enum pd_cfg_kind kind;
    bool is_key;                      /* this node is a key of its parent map */
    int line, column;                 /* 1-based */
    const struct pd_cfg_doc *doc;     /* for the file name in messages */
    const struct pd_cfg_node *parent; /* NULL for the root */
    /* Path segment: the key text when the parent is a map (NULL for a non-scalar key, which is
     * refused anyway), the position when the parent is a sequence. */
    const char *key;
    size_t index;
    const char *text; /* scalars only; never NULL for them */
    /* Maps hold key/value pairs interleaved (2 * count entries); sequences hold count items. */
    size_t count;
    const struct pd_cfg_node *const *items;
};

struct pd_cfg_arena_block;

struct pd_cfg_doc {
    char *name;
    char *text; /* NUL-terminated copy of the source */
    size_t len;
    const struct pd_cfg_node *root;
    struct pd_cfg_arena_block *blocks; /* every node, string and child array lives here */
};

/* Describes what a node is for "found ..." in messages: "a map", "a sequence", "an empty value"
 * or the quoted (possibly shortened) scalar text. */
void pd_cfg_describe(const struct pd_cfg_node *node, char *buf, size_t size);

/* The typed conversions behind the getters and the decoder; `help` (may be NULL) is appended to
 * messages in parentheses. */
int pd_cfg_conv_double(const struct pd_cfg_node *node, const char *help, double *out,
                       struct pd_err *err);
int pd_cfg_conv_long(const struct pd_cfg_node *node, const char *help, long *out, struct pd_err *err);
int pd_cfg_conv_bool(const struct pd_cfg_node *node, const char *help, bool *out, struct pd_err *err);

#endif /* PD_CFG_INTERNAL_H */
