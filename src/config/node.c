/* node.c — navigating a parsed document and naming where a node came from (position, path). */
#include "config/cfg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum pd_cfg_kind pd_cfg_kind(const struct pd_cfg_node *node)
{
    return node ? node->kind : PD_CFG_SCALAR;
}

int pd_cfg_line(const struct pd_cfg_node *node)
{
    return node ? node->line : 0;
}

int pd_cfg_column(const struct pd_cfg_node *node)
{
    return node ? node->column : 0;
}

void pd_cfg_where(const struct pd_cfg_node *node, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    if (!node) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%s:%d:%d", node->doc->name, node->line, node->column);
}

/* Writes the path of `node` at buf[off]; returns the new end, clamped to size - 1. */
static size_t path_append(const struct pd_cfg_node *node, char *buf, size_t size, size_t off)
{
    const struct pd_cfg_node *parent = node->parent;
    if (!parent)
        return off;
    off = path_append(parent, buf, size, off);
    int n = 0;
    if (parent->kind == PD_CFG_MAP) {
        if (node->key) /* a refused non-scalar key has no segment of its own */
            n = snprintf(buf + off, size - off, "%s%s", off ? "." : "", node->key);
    } else {
        n = snprintf(buf + off, size - off, "[%zu]", node->index);
    }
    if (n > 0)
        off += (size_t)n;
    return off < size ? off : size - 1;
}

void pd_cfg_path(const struct pd_cfg_node *node, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    if (node)
        path_append(node, buf, size, 0);
}

const char *pd_cfg_scalar(const struct pd_cfg_node *node)
{
    return node && node->kind == PD_CFG_SCALAR ? node->text : NULL;
}

const struct pd_cfg_node *pd_cfg_map_get(const struct pd_cfg_node *map, const char *key)
{
    if (!map || map->kind != PD_CFG_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->items[2 * i]->text, key) == 0)
            return map->items[2 * i + 1];
    return NULL;
}

size_t pd_cfg_map_size(const struct pd_cfg_node *map)
{
    return map && map->kind == PD_CFG_MAP ? map->count : 0;
}

const struct pd_cfg_node *pd_cfg_map_key(const struct pd_cfg_node *map, size_t i)
{
    return map && map->kind == PD_CFG_MAP && i < map->count ? map->items[2 * i] : NULL;
}

const struct pd_cfg_node *pd_cfg_map_value(const struct pd_cfg_node *map, size_t i)
{
    return map && map->kind == PD_CFG_MAP && i < map->count ? map->items[2 * i + 1] : NULL;
}

size_t pd_cfg_seq_len(const struct pd_cfg_node *seq)
{
    return seq && seq->kind == PD_CFG_SEQ ? seq->count : 0;
}

const struct pd_cfg_node *pd_cfg_seq_at(const struct pd_cfg_node *seq, size_t i)
{
    return seq && seq->kind == PD_CFG_SEQ && i < seq->count ? seq->items[i] : NULL;
}

int pd_cfg_error(struct pd_err *err, const struct pd_cfg_node *node, const char *fmt, ...)
{
    if (!err)
        return PD_ECONFIG;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[sizeof err->where];
    char path[256];
    pd_cfg_where(node, where, sizeof where);
    pd_cfg_path(node, path, sizeof path);
    if (path[0])
        return pd_err_set(err, PD_ECONFIG, where, "%s: %s", path, msg);
    return pd_err_set(err, PD_ECONFIG, where, "%s", msg);
}

void pd_cfg_describe(const struct pd_cfg_node *node, char *buf, size_t size)
{
    if (!node) {
        snprintf(buf, size, "nothing");
        return;
    }
    switch (node->kind) {
    case PD_CFG_MAP: snprintf(buf, size, "a map"); return;
    case PD_CFG_SEQ: snprintf(buf, size, "a sequence"); return;
    case PD_CFG_SCALAR: break;
    }
    size_t len = strlen(node->text);
    if (len == 0) {
        snprintf(buf, size, "an empty value");
        return;
    }
    const size_t shown_max = 40;
    if (len <= shown_max) {
        snprintf(buf, size, "'%s'", node->text);
        return;
    }
    /* Shorten without splitting a UTF-8 character. */
    size_t cut = shown_max - 3;
    while (cut > 0 && ((unsigned char)node->text[cut] & 0xC0) == 0x80)
        cut--;
    snprintf(buf, size, "'%.*s...'", (int)cut, node->text);
}
