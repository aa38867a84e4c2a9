/* load.c — reads a YAML file or string and builds the position-aware node tree with libyaml. */
#include "config/cfg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Config files are written by people; anything bigger is a mistake (or an attack) and would only
 * make every error message harder to act on. */
#define PD_CFG_MAX_BYTES ((size_t)1 << 20)
/* Deep nesting is never legitimate in a config and would make path printing costly. */
#define PD_CFG_MAX_DEPTH 64
#define PD_CFG_BLOCK_BYTES ((size_t)16384)

/* ---- Arena: the document owns every node and string through one list of blocks -------------*/
struct pd_cfg_arena_block {
    struct pd_cfg_arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(struct pd_cfg_doc *doc, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    struct pd_cfg_arena_block *b = doc->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > PD_CFG_BLOCK_BYTES ? size : PD_CFG_BLOCK_BYTES;
        struct pd_cfg_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        /* An oversized block goes behind the current one so its free space is not abandoned. */
        if (b && size > PD_CFG_BLOCK_BYTES) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            doc->blocks = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static char *arena_strndup(struct pd_cfg_doc *doc, const char *s, size_t len)
{
    char *p = arena_alloc(doc, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void pd_cfg_free(struct pd_cfg_doc *doc)
{
    if (!doc)
        return;
    struct pd_cfg_arena_block *b = doc->blocks;
    while (b) {
        struct pd_cfg_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc->text);
    free(doc->name);
    free(doc);
}

/* ---- Tree building ---------------------------------------------------------------------------*/
struct frame {
    struct pd_cfg_node *node; /* NULL for the document level */
    size_t first;             /* index in the child stack where this collection's children start */
};

struct builder {
    struct pd_cfg_doc *doc;
    struct pd_err *err;
    const struct pd_cfg_node **stack; /* children of all open collections, innermost last */
    size_t nstack, capstack;
    struct frame frames[PD_CFG_MAX_DEPTH + 1];
    size_t nframes;
    int documents;
};

static int err_at(const struct pd_cfg_doc *doc, struct pd_err *err, int line, int column,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int err_at(const struct pd_cfg_doc *doc, struct pd_err *err, int line, int column,
                  const char *fmt, ...)
{
    char where[sizeof err->where];
    snprintf(where, sizeof where, "%s:%d:%d", doc->name, line, column);
    va_list ap;
    va_start(ap, fmt);
    pd_err_setv(err, PD_ECONFIG, where, fmt, ap);
    va_end(ap);
    return PD_ECONFIG;
}

static int nomem(struct builder *b)
{
    return pd_err_set(b->err, PD_ENOMEM, b->doc->name, "out of memory while reading the document");
}

static int push_child(struct builder *b, const struct pd_cfg_node *node)
{
    if (b->nstack == b->capstack) {
        size_t cap = b->capstack ? b->capstack * 2 : 64;
        const struct pd_cfg_node **s = realloc(b->stack, cap * sizeof *s);
        if (!s)
            return nomem(b);
        b->stack = s;
        b->capstack = cap;
    }
    b->stack[b->nstack++] = node;
    return 0;
}

/* A new node placed where the innermost open collection expects its next child. */
static struct pd_cfg_node *new_node(struct builder *b, enum pd_cfg_kind kind, const yaml_mark_t *mark)
{
    struct pd_cfg_node *n = arena_alloc(b->doc, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->column = (int)mark->column + 1;
    n->doc = b->doc;
    const struct frame *top = &b->frames[b->nframes - 1];
    n->parent = top->node;
    size_t pos = b->nstack - top->first;
    if (top->node && top->node->kind == PD_CFG_MAP) {
        n->is_key = pos % 2 == 0;
        if (!n->is_key)
            n->key = b->stack[b->nstack - 1]->text; /* NULL only after a refused key */
        n->index = pos / 2;
    } else {
        n->index = pos;
    }
    return n;
}

static int refuse_anchor(struct builder *b, const struct pd_cfg_node *n, const yaml_char_t *anchor)
{
    if (!anchor)
        return 0;
    return pd_cfg_error(b->err, n, "anchor '&%s': anchors and aliases are not supported",
                        (const char *)anchor);
}

static bool is_plain_null(const char *s, size_t len)
{
    return (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct pd_cfg_node *n = new_node(b, PD_CFG_SCALAR, &ev->start_mark);
    if (!n)
        return nomem(b);
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    /* A plain null is the empty value; as a key it stays literal text. */
    if (!n->is_key && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_plain_null(v, len))
        len = 0;
    n->text = arena_strndup(b->doc, v, len);
    if (!n->text)
        return nomem(b);
    if (n->is_key)
        n->key = n->text;
    int rc = refuse_anchor(b, n, ev->data.scalar.anchor);
    if (rc)
        return rc;
    if (memchr(v, '\0', len))
        return pd_cfg_error(b->err, n, "text contains a NUL character");
    return push_child(b, n);
}

static const char *kind_article(enum pd_cfg_kind kind)
{
    return kind == PD_CFG_MAP ? "a map" : kind == PD_CFG_SEQ ? "a sequence" : "a scalar";
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, enum pd_cfg_kind kind)
{
    struct pd_cfg_node *n = new_node(b, kind, &ev->start_mark);
    if (!n)
        return nomem(b);
    const yaml_char_t *anchor = kind == PD_CFG_MAP ? ev->data.mapping_start.anchor
                                                   : ev->data.sequence_start.anchor;
    int rc = refuse_anchor(b, n, anchor);
    if (rc)
        return rc;
    if (n->is_key)
        return pd_cfg_error(b->err, n, "a key must be plain text, found %s", kind_article(kind));
    if (b->nframes > PD_CFG_MAX_DEPTH)
        return pd_cfg_error(b->err, n, "nesting is deeper than %d levels", PD_CFG_MAX_DEPTH);
    b->frames[b->nframes].node = n;
    b->frames[b->nframes].first = b->nstack;
    b->nframes++;
    return 0;
}

struct key_ref {
    const struct pd_cfg_node *node;
    size_t order;
};

static int key_ref_cmp(const void *pa, const void *pb)
{
    const struct key_ref *a = pa, *b = pb;
    int c = strcmp(a->node->text, b->node->text);
    if (c)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sorting keeps big maps O(n log n); the earliest repeated key in the map is reported. */
static int check_duplicate_keys(struct builder *b, const struct pd_cfg_node *map)
{
    if (map->count < 2)
        return 0;
    struct key_ref *refs = malloc(map->count * sizeof *refs);
    if (!refs)
        return nomem(b);
    for (size_t i = 0; i < map->count; i++) {
        refs[i].node = map->items[2 * i];
        refs[i].order = i;
    }
    qsort(refs, map->count, sizeof *refs, key_ref_cmp);
    const struct key_ref *dup = NULL, *first = NULL;
    size_t group = 0;
    for (size_t i = 1; i < map->count; i++) {
        if (strcmp(refs[i].node->text, refs[i - 1].node->text) != 0) {
            group = i;
            continue;
        }
        if (i - 1 == group && (!dup || refs[i].order < dup->order)) {
            dup = &refs[i];
            first = &refs[group];
        }
    }
    int rc = 0;
    if (dup)
        rc = pd_cfg_error(b->err, dup->node, "duplicate key '%s' (first at line %d)",
                          dup->node->text, first->node->line);
    free(refs);
    return rc;
}

static int on_collection_end(struct builder *b)
{
    struct frame *top = &b->frames[b->nframes - 1];
    struct pd_cfg_node *n = top->node;
    size_t nchildren = b->nstack - top->first;
    if (nchildren) {
        const struct pd_cfg_node **items = arena_alloc(b->doc, nchildren * sizeof *items);
        if (!items)
            return nomem(b);
        memcpy(items, b->stack + top->first, nchildren * sizeof *items);
        n->items = items;
    }
    n->count = n->kind == PD_CFG_MAP ? nchildren / 2 : nchildren;
    b->nstack = top->first;
    b->nframes--;
    if (n->kind == PD_CFG_MAP) {
        int rc = check_duplicate_keys(b, n);
        if (rc)
            return rc;
    }
    return push_child(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    struct pd_cfg_node *n = new_node(b, PD_CFG_SCALAR, &ev->start_mark);
    if (!n)
        return nomem(b);
    n->text = "";
    return pd_cfg_error(b->err, n, "alias '*%s': aliases are not supported",
                        (const char *)ev->data.alias.anchor);
}

static int on_event(struct builder *b, const yaml_event_t *ev, bool *done)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0)
            return err_at(b->doc, b->err, (int)ev->start_mark.line + 1,
                          (int)ev->start_mark.column + 1,
                          "a second document starts here; a config file holds exactly one");
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_collection_start(b, ev, PD_CFG_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(b, ev, PD_CFG_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_collection_end(b);
    default: /* stream start, document end: nothing to record */
        return 0;
    }
}

/* libyaml reports reader errors (bad encoding) as a byte offset only. */
static void offset_to_position(const struct pd_cfg_doc *doc, size_t offset, int *line, int *column)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < offset && i < doc->len; i++) {
        if (doc->text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)doc->text[i] & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes, like libyaml's marks */
        }
    }
    *line = l;
    *column = c;
}

static int syntax_error(const struct pd_cfg_doc *doc, const yaml_parser_t *p, struct pd_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return pd_err_set(err, PD_ENOMEM, doc->name, "out of memory while parsing");
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, column;
    if (p->error == YAML_READER_ERROR) {
        offset_to_position(doc, p->problem_offset, &line, &column);
        return err_at(doc, err, line, column, "%s", problem);
    }
    line = (int)p->problem_mark.line + 1;
    column = (int)p->problem_mark.column + 1;
    if (p->context)
        return err_at(doc, err, line, column, "%s (%s at line %d, column %d)", problem, p->context,
                      (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return err_at(doc, err, line, column, "%s", problem);
}

static int build_tree(struct pd_cfg_doc *doc, struct pd_err *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return pd_err_set(err, PD_ENOMEM, doc->name, "out of memory creating the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)doc->text, doc->len);

    struct builder b = {.doc = doc, .err = err, .nframes = 1};
    b.frames[0].node = NULL;
    b.frames[0].first = 0;
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(doc, &parser, err);
            break;
        }
        rc = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    if (rc == 0) {
        const struct pd_cfg_node *root = b.nstack ? b.stack[0] : NULL;
        if (!root)
            rc = err_at(doc, err, 1, 1, "the document is empty");
        else if (root->kind == PD_CFG_SCALAR && root->text[0] == '\0')
            rc = err_at(doc, err, root->line, root->column, "the document is empty");
        else
            doc->root = root;
    }
    free(b.stack);
    yaml_parser_delete(&parser);
    return rc;
}

/* Takes ownership of `text` (len bytes plus a terminating NUL). */
static int load_text(const char *name, char *text, size_t len, struct pd_cfg_doc **out,
                     struct pd_err *err)
{
    struct pd_cfg_doc *doc = calloc(1, sizeof *doc);
    char *name_copy = strdup(name);
    if (!doc || !name_copy) {
        free(doc);
        free(name_copy);
        free(text);
        return pd_err_set(err, PD_ENOMEM, name, "out of memory loading the document");
    }
    doc->name = name_copy;
    doc->text = text;
    doc->len = len;
    int rc = build_tree(doc, err);
    if (rc) {
        pd_cfg_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

static int too_big(const char *name, struct pd_err *err)
{
    return pd_err_set(err, PD_ECONFIG, name, "larger than 1 MiB; refusing to read it as a config");
}

int pd_cfg_load_string(const char *name, const char *text, size_t len, struct pd_cfg_doc **out,
                       struct pd_err *err)
{
    if (!name || (!text && len) || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_cfg_load_string: NULL argument");
    if (len > PD_CFG_MAX_BYTES)
        return too_big(name, err);
    char *copy = malloc(len + 1);
    if (!copy)
        return pd_err_set(err, PD_ENOMEM, name, "out of memory loading the document");
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    return load_text(name, copy, len, out, err);
}

int pd_cfg_load_file(const char *path, struct pd_cfg_doc **out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_cfg_load_file: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the file");
    /* Read up to one byte past the limit so pipes and growing files are caught as well. */
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory reading the file");
    }
    for (;;) {
        if (len == cap) {
            if (cap > PD_CFG_MAX_BYTES) {
                free(buf);
                close(fd);
                return too_big(path, err);
            }
            size_t ncap = cap * 2 > PD_CFG_MAX_BYTES + 1 ? PD_CFG_MAX_BYTES + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                free(buf);
                close(fd);
                return pd_err_set(err, PD_ENOMEM, path, "out of memory reading the file");
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return pd_err_set_os(err, PD_EIO, e, path, "cannot read the file");
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > PD_CFG_MAX_BYTES) {
        free(buf);
        return too_big(path, err);
    }
    buf[len] = '\0';
    return load_text(path, buf, len, out, err);
}

const struct pd_cfg_node *pd_cfg_root(const struct pd_cfg_doc *doc)
{
    return doc ? doc->root : NULL;
}

const char *pd_cfg_source_text(const struct pd_cfg_doc *doc)
{
    return doc ? doc->text : NULL;
}

const char *pd_cfg_source_name(const struct pd_cfg_doc *doc)
{
    return doc ? doc->name : NULL;
}
