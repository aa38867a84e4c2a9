/*
 * pdf_parse.c — reads just enough of a finished PDF (the one cairo writes) to append an
 * incremental update: the last cross-reference table and its trailer (following /Prev), the
 * catalog and the first page, each as spans of the file's own bytes. Written for hostile input:
 * every read is bounded by the buffer, nesting is limited, and anything it does not understand
 * (cross-reference streams, object streams, a page tree without pages) is a clear error naming
 * the byte where it was found — never a guess.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert_internal.h"

#define MAX_NESTING       32   /* arrays/dictionaries inside one another */
#define MAX_XREF_SECTIONS 64   /* /Prev chain: cairo writes one, each signing adds one */
#define MAX_TREE_DEPTH    32   /* page tree levels */
#define TAIL_SEARCH       2048 /* startxref is in the last bytes of the file */

struct lex {
    const unsigned char *p;
    size_t len, pos;
    const char *name; /* the file, for messages */
    struct pd_err *err;
};

static int fail(struct lex *l, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct lex *l, size_t at, const char *fmt, ...)
{
    char where[160];
    snprintf(where, sizeof where, "%s (byte %zu)", l->name, at);
    va_list ap;
    va_start(ap, fmt);
    int rc = pd_err_setv(l->err, PD_EDATA, where, fmt, ap);
    va_end(ap);
    return rc;
}

static bool is_ws(unsigned char c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static bool is_delim(unsigned char c)
{
    return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' || c == '/' ||
           c == '%';
}

static void skip_ws(struct lex *l)
{
    while (l->pos < l->len) {
        unsigned char c = l->p[l->pos];
        if (is_ws(c)) {
            l->pos++;
        } else if (c == '%') { /* a comment runs to the end of its line */
            while (l->pos < l->len && l->p[l->pos] != '\n' && l->p[l->pos] != '\r')
                l->pos++;
        } else {
            break;
        }
    }
}

static bool at_str(const struct lex *l, const char *s)
{
    size_t n = strlen(s);
    return l->pos <= l->len && l->len - l->pos >= n && memcmp(l->p + l->pos, s, n) == 0;
}

/* A keyword ("obj", "xref", "trailer") standing alone: followed by whitespace, a delimiter or the end. */
static bool at_keyword(const struct lex *l, const char *kw)
{
    size_t n = strlen(kw);
    if (!at_str(l, kw))
        return false;
    return l->pos + n == l->len || is_ws(l->p[l->pos + n]) || is_delim(l->p[l->pos + n]);
}

/* A non-negative decimal integer (as in xref entries and object numbers), at most 10^15. */
static int read_uint(struct lex *l, long long *out, const char *what)
{
    skip_ws(l);
    size_t start = l->pos;
    long long v = 0;
    while (l->pos < l->len && l->p[l->pos] >= '0' && l->p[l->pos] <= '9') {
        if (v > 100000000000000LL)
            return fail(l, start, "%s: number too large", what);
        v = v * 10 + (l->p[l->pos] - '0');
        l->pos++;
    }
    if (l->pos == start)
        return fail(l, start, "expected %s (an integer)", what);
    *out = v;
    return 0;
}

/* Steps over n cross-reference entries (offset, generation, 'n' or 'f'); tokens rather than fixed
 * 20-byte lines, so that any line end passes. */
static int skip_xref_entries(struct lex *l, long long n)
{
    for (long long i = 0; i < n; i++) {
        long long o, g;
        int rc;
        if ((rc = read_uint(l, &o, "xref entry offset")) < 0 || (rc = read_uint(l, &g, "xref entry generation")) < 0)
            return rc;
        skip_ws(l);
        if (l->pos >= l->len || (l->p[l->pos] != 'n' && l->p[l->pos] != 'f'))
            return fail(l, l->pos, "xref entry type is not 'n' or 'f'");
        l->pos++;
    }
    return 0;
}

static int skip_object(struct lex *l, int depth);

/* A literal string: balanced parentheses, backslash escapes. l->pos is at '('. */
static int skip_literal(struct lex *l)
{
    size_t start = l->pos;
    int open = 0;
    while (l->pos < l->len) {
        unsigned char c = l->p[l->pos++];
        if (c == '\\')
            l->pos++; /* the escaped character, whatever it is */
        else if (c == '(')
            open++;
        else if (c == ')' && --open == 0)
            return 0;
    }
    return fail(l, start, "unterminated string");
}

/* Skips one object of any kind (a reference "N G R" counts as three: callers that want a
 * reference use read_value). */
static int skip_object(struct lex *l, int depth)
{
    skip_ws(l);
    size_t start = l->pos;
    if (l->pos >= l->len)
        return fail(l, start, "unexpected end of file");
    if (depth > MAX_NESTING)
        return fail(l, start, "objects nested too deeply");
    unsigned char c = l->p[l->pos];
    if (at_str(l, "<<")) {
        l->pos += 2;
        for (;;) {
            skip_ws(l);
            if (at_str(l, ">>")) {
                l->pos += 2;
                return 0;
            }
            if (l->pos >= l->len)
                return fail(l, start, "unterminated dictionary");
            int rc = skip_object(l, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    if (c == '<') {
        l->pos++;
        while (l->pos < l->len && l->p[l->pos] != '>') {
            unsigned char h = l->p[l->pos];
            if (!is_ws(h) && !((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                return fail(l, l->pos, "not a hex digit in a hex string");
            l->pos++;
        }
        if (l->pos >= l->len)
            return fail(l, start, "unterminated hex string");
        l->pos++;
        return 0;
    }
    if (c == '[') {
        l->pos++;
        for (;;) {
            skip_ws(l);
            if (l->pos < l->len && l->p[l->pos] == ']') {
                l->pos++;
                return 0;
            }
            if (l->pos >= l->len)
                return fail(l, start, "unterminated array");
            int rc = skip_object(l, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    if (c == '(')
        return skip_literal(l);
    if (c == '/')
        l->pos++;
    else if (is_delim(c))
        return fail(l, start, "unexpected '%c'", c);
    while (l->pos < l->len && !is_ws(l->p[l->pos]) && !is_delim(l->p[l->pos]))
        l->pos++;
    if (c != '/' && l->pos == start)
        return fail(l, start, "expected an object");
    return 0;
}

/* One value: an object, or a reference "N G R" taken whole. */
static int read_value(struct lex *l, struct cert_pdf_span *out)
{
    skip_ws(l);
    size_t start = l->pos;
    int rc = skip_object(l, 1);
    if (rc < 0)
        return rc;
    size_t end = l->pos;
    if (start < l->len && l->p[start] >= '0' && l->p[start] <= '9') {
        struct lex look = *l;
        long long gen;
        struct pd_err ignored;
        look.err = &ignored;
        if (read_uint(&look, &gen, "generation") == 0 && (skip_ws(&look), at_keyword(&look, "R"))) {
            look.pos++;
            end = look.pos;
            l->pos = end;
        }
    }
    out->off = start;
    out->len = end - start;
    return 0;
}

/* The top-level entries of the dictionary at l->pos. */
static int read_dict(struct lex *l, struct cert_pdf_dict *d)
{
    skip_ws(l);
    size_t start = l->pos;
    if (!at_str(l, "<<"))
        return fail(l, start, "expected a dictionary '<<'");
    l->pos += 2;
    d->n = 0;
    for (;;) {
        skip_ws(l);
        if (at_str(l, ">>")) {
            l->pos += 2;
            return 0;
        }
        if (l->pos >= l->len)
            return fail(l, start, "unterminated dictionary");
        if (l->p[l->pos] != '/')
            return fail(l, l->pos, "expected a name as dictionary key");
        if (d->n >= CERT_PDF_MAX_ENTRIES)
            return fail(l, start, "dictionary has too many entries");
        struct cert_pdf_entry *e = &d->e[d->n];
        size_t k = l->pos++;
        while (l->pos < l->len && !is_ws(l->p[l->pos]) && !is_delim(l->p[l->pos]))
            l->pos++;
        e->key.off = k;
        e->key.len = l->pos - k;
        int rc = read_value(l, &e->value);
        if (rc < 0)
            return rc;
        d->n++;
    }
}

const struct cert_pdf_entry *cert_pdf_dict_get(const unsigned char *pdf, const struct cert_pdf_dict *d, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++)
        if (d->e[i].key.len == n && memcmp(pdf + d->e[i].key.off, key, n) == 0)
            return &d->e[i];
    return NULL;
}

static bool span_is(const unsigned char *pdf, struct cert_pdf_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(pdf + s.off, text, s.len) == 0;
}

/* "N G R" in a span → N and G. */
static int span_ref(struct lex *l, struct cert_pdf_span s, const char *what, long long *num, long long *gen)
{
    struct lex sub = *l;
    sub.len = s.off + s.len;
    sub.pos = s.off;
    if (read_uint(&sub, num, what) < 0 || read_uint(&sub, gen, what) < 0 || (skip_ws(&sub), !at_keyword(&sub, "R")))
        return fail(l, s.off, "%s is not an indirect reference 'N G R'", what);
    return 0;
}

static int span_int(struct lex *l, struct cert_pdf_span s, const char *what, long long *v)
{
    struct lex sub = *l;
    sub.len = s.off + s.len;
    sub.pos = s.off;
    if (read_uint(&sub, v, what) < 0 || sub.pos != sub.len)
        return fail(l, s.off, "%s is not a non-negative integer", what);
    return 0;
}

struct xref_chain {
    size_t off[MAX_XREF_SECTIONS]; /* newest first: positions of "xref" */
    size_t n;
};

/* Where object `num` starts, from the newest section that lists it. A free entry, an offset
 * outside the file or an object the table does not list is an error. */
static int xref_lookup(struct lex *l, const struct xref_chain *x, long long num, long long want_gen, size_t *off)
{
    for (size_t s = 0; s < x->n; s++) {
        struct lex t = *l;
        t.pos = x->off[s] + 4; /* "xref" */
        for (;;) {
            skip_ws(&t);
            if (at_keyword(&t, "trailer"))
                break;
            long long first, count;
            int rc;
            if ((rc = read_uint(&t, &first, "first object number of an xref subsection")) < 0 ||
                (rc = read_uint(&t, &count, "entry count of an xref subsection")) < 0)
                return rc;
            if (count > (long long)(t.len / 18)) /* an entry is 20 bytes (18 without its line end) */
                return fail(&t, t.pos, "xref subsection longer than the file");
            if (num >= first && num < first + count) {
                /* Entries are fixed 20-byte lines; tokens are read so that any line end passes. */
                if ((rc = skip_xref_entries(&t, num - first)) < 0)
                    return rc;
                long long o, g;
                if ((rc = read_uint(&t, &o, "xref entry offset")) < 0 ||
                    (rc = read_uint(&t, &g, "xref entry generation")) < 0)
                    return rc;
                skip_ws(&t);
                if (t.pos >= t.len || t.p[t.pos] != 'n')
                    return fail(&t, t.pos, "object %lld is listed as free", num);
                if (g != want_gen || o <= 0 || (size_t)o >= l->len)
                    return fail(&t, t.pos,
                                "xref entry of object %lld has a wrong generation or an offset outside the file", num);
                *off = (size_t)o;
                return 0;
            }
            if ((rc = skip_xref_entries(&t, count)) < 0)
                return rc;
        }
    }
    return fail(l, x->off[0], "object %lld is not in the cross-reference table", num);
}

/* The indirect object `num gen` (a dictionary) through the xref. */
static int read_indirect(struct lex *l, const struct xref_chain *x, long long num, long long gen,
                         struct cert_pdf_obj *obj)
{
    size_t off = 0;
    int rc = xref_lookup(l, x, num, gen, &off);
    if (rc < 0)
        return rc;
    l->pos = off;
    long long n, g;
    if ((rc = read_uint(l, &n, "object number")) < 0 || (rc = read_uint(l, &g, "generation")) < 0)
        return rc;
    skip_ws(l);
    if (n != num || g != gen || !at_keyword(l, "obj"))
        return fail(l, off, "the cross-reference table points to something else than '%lld %lld obj'", num, gen);
    l->pos += 3;
    obj->num = num;
    obj->gen = gen;
    obj->off = off;
    return read_dict(l, &obj->dict);
}

/* The last "startxref N %%EOF" of the file. */
static int find_startxref(struct lex *l, size_t *out)
{
    size_t from = l->len > TAIL_SEARCH ? l->len - TAIL_SEARCH : 0;
    static const char kw[] = "startxref";
    size_t k = sizeof kw - 1;
    for (size_t i = l->len >= k ? l->len - k + 1 : 0; i-- > from;) {
        if (memcmp(l->p + i, kw, k) != 0)
            continue;
        l->pos = i + k;
        long long v;
        int rc = read_uint(l, &v, "the offset after startxref");
        if (rc < 0)
            return rc;
        /* %%EOF is a comment to the lexer: looked for in the raw bytes */
        size_t j = i + k;
        while (j < l->len && l->p[j] != '%')
            j++;
        if (j + 5 > l->len || memcmp(l->p + j, "%%EOF", 5) != 0)
            return fail(l, i, "no %s after startxref: the file is truncated", "%%EOF");
        if (v <= 0 || (size_t)v >= i)
            return fail(l, i, "startxref points outside the file");
        *out = (size_t)v;
        return 0;
    }
    return fail(l, l->len, "no startxref in the last %d bytes: not a complete PDF", TAIL_SEARCH);
}

int cert_pdf_parse(const unsigned char *pdf, size_t len, const char *name, struct cert_pdf_doc *out, struct pd_err *err)
{
    struct lex l = {.p = pdf, .len = len, .pos = 0, .name = name ? name : "PDF", .err = err};
    if (!pdf || len < 8 || memcmp(pdf, "%PDF-", 5) != 0)
        return fail(&l, 0, "not a PDF (no %s header)", "%PDF-");
    struct cert_pdf_doc d;
    memset(&d, 0, sizeof d);
    int rc = find_startxref(&l, &d.startxref);
    if (rc < 0)
        return rc;
    /* The newest trailer decides; older sections are kept for lookups. */
    struct xref_chain x = {.n = 0};
    struct cert_pdf_dict trailer, older;
    size_t at = d.startxref;
    for (;;) {
        l.pos = at;
        if (!at_keyword(&l, "xref")) {
            long long n;
            struct lex t = l;
            struct pd_err ignored;
            t.err = &ignored;
            if (read_uint(&t, &n, "object") == 0)
                return fail(&l, at, "a cross-reference stream (PDF 1.5 compressed xref) is not supported");
            return fail(&l, at, "startxref does not point to an 'xref' table");
        }
        for (size_t i = 0; i < x.n; i++)
            if (x.off[i] == at)
                return fail(&l, at, "the /Prev chain of cross-reference tables loops");
        if (x.n >= MAX_XREF_SECTIONS)
            return fail(&l, at, "more than 64 cross-reference sections");
        x.off[x.n++] = at;
        /* Find this section's trailer: skip the subsections' tokens. */
        l.pos = at + 4;
        for (;;) {
            skip_ws(&l);
            if (at_keyword(&l, "trailer"))
                break;
            if (l.pos >= l.len)
                return fail(&l, at, "cross-reference table without a trailer");
            long long first, count;
            if ((rc = read_uint(&l, &first, "first object number of an xref subsection")) < 0 ||
                (rc = read_uint(&l, &count, "entry count of an xref subsection")) < 0)
                return rc;
            if (count > (long long)(len / 18))
                return fail(&l, l.pos, "xref subsection longer than the file");
            if ((rc = skip_xref_entries(&l, count)) < 0)
                return rc;
        }
        l.pos += 7;
        struct cert_pdf_dict *t = x.n == 1 ? &trailer : &older;
        if ((rc = read_dict(&l, t)) < 0)
            return rc;
        const struct cert_pdf_entry *prev = cert_pdf_dict_get(pdf, t, "/Prev");
        if (!prev)
            break;
        long long p;
        if ((rc = span_int(&l, prev->value, "/Prev", &p)) < 0)
            return rc;
        if (p <= 0 || (size_t)p >= len)
            return fail(&l, prev->value.off, "/Prev points outside the file");
        at = (size_t)p;
    }
    const struct cert_pdf_entry *size = cert_pdf_dict_get(pdf, &trailer, "/Size");
    const struct cert_pdf_entry *root = cert_pdf_dict_get(pdf, &trailer, "/Root");
    const struct cert_pdf_entry *info = cert_pdf_dict_get(pdf, &trailer, "/Info");
    const struct cert_pdf_entry *id = cert_pdf_dict_get(pdf, &trailer, "/ID");
    if (!size || !root)
        return fail(&l, x.off[0], "the trailer has no %s", !size ? "/Size" : "/Root");
    long long n_obj, num, gen;
    if ((rc = span_int(&l, size->value, "/Size", &n_obj)) < 0 ||
        (rc = span_ref(&l, root->value, "/Root", &num, &gen)) < 0)
        return rc;
    if (n_obj < 1 || n_obj > 8000000)
        return fail(&l, size->value.off, "/Size is out of range");
    d.size = n_obj;
    if (info)
        d.info = info->value;
    if (id)
        d.id = id->value;
    if ((rc = read_indirect(&l, &x, num, gen, &d.catalog)) < 0)
        return rc;
    const struct cert_pdf_entry *type = cert_pdf_dict_get(pdf, &d.catalog.dict, "/Type");
    if (!type || !span_is(pdf, type->value, "/Catalog"))
        return fail(&l, d.catalog.off, "/Root is not a /Catalog");
    if (cert_pdf_dict_get(pdf, &d.catalog.dict, "/AcroForm"))
        return fail(&l, d.catalog.off, "the PDF already has a form (/AcroForm); signing it again is not supported");
    const struct cert_pdf_entry *pages = cert_pdf_dict_get(pdf, &d.catalog.dict, "/Pages");
    if (!pages)
        return fail(&l, d.catalog.off, "the catalog has no /Pages");
    if ((rc = span_ref(&l, pages->value, "/Pages", &num, &gen)) < 0)
        return rc;
    /* Down the first kids to page 1. */
    for (int depth = 0;; depth++) {
        if (depth >= MAX_TREE_DEPTH)
            return fail(&l, pages->value.off, "the page tree is deeper than 32 levels (a loop?)");
        if ((rc = read_indirect(&l, &x, num, gen, &d.page)) < 0)
            return rc;
        type = cert_pdf_dict_get(pdf, &d.page.dict, "/Type");
        if (type && span_is(pdf, type->value, "/Page"))
            break;
        if (!type || !span_is(pdf, type->value, "/Pages"))
            return fail(&l, d.page.off, "a page tree node is neither /Pages nor /Page");
        const struct cert_pdf_entry *kids = cert_pdf_dict_get(pdf, &d.page.dict, "/Kids");
        if (!kids || kids->value.len < 2 || pdf[kids->value.off] != '[')
            return fail(&l, d.page.off, "a /Pages node without a /Kids array");
        struct cert_pdf_span first = {.off = kids->value.off + 1, .len = kids->value.len - 2};
        if ((rc = span_ref(&l, first, "the first of /Kids", &num, &gen)) < 0)
            return rc;
    }
    const struct cert_pdf_entry *annots = cert_pdf_dict_get(pdf, &d.page.dict, "/Annots");
    if (annots && pdf[annots->value.off] != '[')
        return fail(&l, annots->value.off, "the first page's /Annots is not an inline array");
    *out = d;
    return 0;
}
