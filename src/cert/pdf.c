/* pdf.c — renders a certificate (its JSON plus the raw curves) as a paged PDF with cairo: tables, plots, signature block, QR code. */
#include <cairo-ft.h>
#include <cairo-pdf.h>
#include <cairo.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <qrencode.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "cert/scan.h"
#include "store/store.h"

/* Text cut at a buffer's end is cut on purpose here (table cells, wrapped lines). (GCC's warning:
 * clang, which builds the fuzz targets that link this module, has no such group.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define PAGE_W 595.28
#define PAGE_H 841.89
#define MARGIN 48.0
#define BODY_TOP 118.0
#define BODY_BOTTOM (PAGE_H - 60.0)
#define FONT "DejaVu Sans"

/* Glyph advances of one font setting, measured once per character: the layout measures every
 * candidate line of a paragraph and every clipped table cell, and cairo_text_extents converts the
 * whole string to glyphs each time (about a fifth of the PDF's CPU time). cairo's toy text API
 * maps each character to one glyph and places it at the sum of the advances before it, without
 * kerning, and a PDF surface does not hint metrics, so the sum of the cached advances is the
 * string's advance. */
#define ADV_FONTS 16
#define ADV_WIDE 48
struct adv_font {
    double size;
    bool bold, used;
    double ascii[128];                 /* NaN until measured */
    uint32_t wide_cp[ADV_WIDE];        /* non-ASCII characters seen, with their advances */
    double wide[ADV_WIDE];
    size_t n_wide;
};

struct pdf {
    struct adv_font adv[ADV_FONTS];
    struct adv_font *cur; /* the current font's advances; NULL when the table is full */
    const struct cert_curve_set *curves;
    cairo_surface_t *surface; /* the PDF */
    cairo_t *cr;              /* the page being laid out (its recording); the PDF's at the end */
    cairo_font_options_t *font_options; /* the PDF's, for the recordings: the same metrics */
    struct segment {                    /* what is laid out, in order: recordings of parts of pages */
        cairo_surface_t *rec;
        int page;
    } *segments;
    size_t n_segments, cap_segments;
    size_t qr_after; /* the QR block goes after this segment (SIZE_MAX: none yet), at qr_y */
    double qr_y;
    cairo_status_t status; /* the first failure of a recording */
    const json_t *doc;
    int page, pages; /* pages: the total, known once the layout is done */
    double y;
    bool draft, simulated, accredited;
    const char *id;
    struct cert_doc_hash *doc_hash; /* NULL: computed in render */
};

static const char *jget(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* DejaVu Sans straight from its files through FreeType when they are where Debian's fonts-dejavu-core
 * puts them: the face fontconfig would pick for FONT anyway (`fc-match "DejaVu Sans"`), without
 * parsing fontconfig's ~30 configuration files first (5-15 ms of CPU in every certify). Anywhere
 * else the faces stay NULL and cairo asks fontconfig by name, as before. FreeType is cairo's
 * dependency, not ours: its functions are found at run time, like FcFini below. */
#define FONT_DIR "/usr/share/fonts/truetype/dejavu/"
static const char *const font_files[2] = {FONT_DIR "DejaVuSans.ttf", FONT_DIR "DejaVuSans-Bold.ttf"};
static cairo_font_face_t *faces[2];
static FT_Library ft_lib;
static pthread_once_t faces_once = PTHREAD_ONCE_INIT;
static const cairo_user_data_key_t face_key;

static FT_Error (*ft_done_face)(FT_Face);

static void face_release(void *face)
{
    ft_done_face(face);
}

static void load_faces(void)
{
    FT_Error (*init)(FT_Library *);
    FT_Error (*new_face)(FT_Library, const char *, FT_Long, FT_Face *);
    *(void **)&init = dlsym(RTLD_DEFAULT, "FT_Init_FreeType");
    *(void **)&new_face = dlsym(RTLD_DEFAULT, "FT_New_Face");
    *(void **)&ft_done_face = dlsym(RTLD_DEFAULT, "FT_Done_Face");
    if (!init || !new_face || !ft_done_face || init(&ft_lib) != 0) {
        ft_lib = NULL;
        return;
    }
    for (int b = 0; b < 2; b++) {
        FT_Face face;
        if (new_face(ft_lib, font_files[b], 0, &face) != 0)
            break;
        cairo_font_face_t *cf = cairo_ft_font_face_create_for_ft_face(face, 0);
        /* cairo may keep the face in its caches after we let go: it closes the FT face itself. */
        if (cairo_font_face_status(cf) != CAIRO_STATUS_SUCCESS ||
            cairo_font_face_set_user_data(cf, &face_key, face, face_release) != CAIRO_STATUS_SUCCESS) {
            cairo_font_face_destroy(cf);
            ft_done_face(face);
            break;
        }
        faces[b] = cf;
    }
    if (!faces[0] || !faces[1]) { /* both or neither: one family on the page */
        for (int b = 0; b < 2; b++) {
            cairo_font_face_destroy(faces[b]);
            faces[b] = NULL;
        }
    }
}

static void select_font(cairo_t *cr, bool bold)
{
    pthread_once(&faces_once, load_faces);
    if (faces[bold])
        cairo_set_font_face(cr, faces[bold]);
    else
        cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
}

static void font(struct pdf *p, double size, bool bold)
{
    select_font(p->cr, bold);
    cairo_set_font_size(p->cr, size);
    p->cur = NULL;
    for (size_t i = 0; i < ADV_FONTS; i++) {
        struct adv_font *a = &p->adv[i];
        if (a->used && a->size == size && a->bold == bold) {
            p->cur = a;
            return;
        }
        if (!a->used) {
            a->used = true;
            a->size = size;
            a->bold = bold;
            for (size_t c = 0; c < 128; c++)
                a->ascii[c] = NAN;
            a->n_wide = 0;
            p->cur = a;
            return;
        }
    }
}

static double measure(struct pdf *p, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(p->cr, s, &e);
    return e.x_advance;
}

/* The advance of the UTF-8 character at *s (its length in *len); NaN when it is not valid UTF-8
 * or there is no room to remember it. */
static double char_advance(struct pdf *p, const unsigned char *s, size_t *len)
{
    struct adv_font *a = p->cur;
    if (s[0] < 0x80) {
        *len = 1;
        if (isnan(a->ascii[s[0]])) {
            char one[2] = {(char)s[0], '\0'};
            a->ascii[s[0]] = measure(p, one);
        }
        return a->ascii[s[0]];
    }
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    uint32_t cp = n == 2 ? s[0] & 0x1Fu : n == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return NAN;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (n == 0)
        return NAN;
    *len = n;
    for (size_t i = 0; i < a->n_wide; i++)
        if (a->wide_cp[i] == cp)
            return a->wide[i];
    if (a->n_wide == ADV_WIDE)
        return NAN;
    char one[5] = "";
    memcpy(one, s, n);
    a->wide_cp[a->n_wide] = cp;
    a->wide[a->n_wide] = measure(p, one);
    return a->wide[a->n_wide++];
}

static double text_width(struct pdf *p, const char *s)
{
    if (!p->cur)
        return measure(p, s);
    double w = 0.0;
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        size_t len = 1;
        double adv = char_advance(p, c, &len);
        if (isnan(adv))
            return measure(p, s); /* anything unusual: ask cairo for the whole string */
        w += adv;
        c += len;
    }
    return w;
}

static void text_at(struct pdf *p, double x, double y, const char *s)
{
    cairo_move_to(p->cr, x, y);
    cairo_show_text(p->cr, s);
}

static void text_right(struct pdf *p, double x, double y, const char *s)
{
    text_at(p, x - text_width(p, s), y, s);
}

static void header_footer(struct pdf *p)
{
    cairo_t *cr = p->cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(p, 13, true);
    text_at(p, MARGIN, 52, jget(json_object_get(p->doc, "lab"), "name"));
    font(p, 8.5, false);
    text_at(p, MARGIN, 65, jget(json_object_get(p->doc, "lab"), "address"));
    font(p, 11, true);
    char buf[200];
    snprintf(buf, sizeof buf, "Certificate %s", p->id);
    text_right(p, PAGE_W - MARGIN, 52, buf);
    font(p, 8.5, false);
    snprintf(buf, sizeof buf, "page %d of %d", p->page, p->pages);
    text_right(p, PAGE_W - MARGIN, 65, buf);
    cairo_set_line_width(cr, 0.8);
    cairo_move_to(cr, MARGIN, 74);
    cairo_line_to(cr, PAGE_W - MARGIN, 74);
    cairo_stroke(cr);
    double y = 88;
    if (p->simulated) {
        cairo_set_source_rgb(cr, 0.8, 0, 0);
        font(p, 12, true);
        text_at(p, MARGIN, y, "SIMULATED — not a test result");
        y += 14;
    }
    if (!p->accredited) {
        cairo_set_source_rgb(cr, 0.8, 0, 0);
        font(p, 9, true);
        text_at(p, MARGIN, y, "NOT ACCREDITED — reported outside the scope of accreditation (see reasons)");
    }
    if (p->draft) {
        cairo_save(cr);
        cairo_set_source_rgba(cr, 0.85, 0.1, 0.1, 0.18);
        font(p, 64, true);
        cairo_translate(cr, PAGE_W / 2, PAGE_H / 2);
        cairo_rotate(cr, -M_PI / 4);
        const char *w = "DRAFT — not issued";
        text_at(p, -text_width(p, w) / 2, 0, w);
        cairo_restore(cr);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    font(p, 7.5, false);
    cairo_move_to(cr, MARGIN, PAGE_H - 44);
    cairo_line_to(cr, PAGE_W - MARGIN, PAGE_H - 44);
    cairo_stroke(cr);
    snprintf(buf, sizeof buf, "%s · page %d of %d · The results relate only to the items tested.", p->id, p->page,
             p->pages);
    text_at(p, MARGIN, PAGE_H - 32, buf);
    cairo_set_source_rgb(cr, 0, 0, 0);
}

/* The rest of page p->page goes into a new recording (segment) of its own, in the state a page's
 * body starts from: the one header_footer leaves (source black, line width 0.8, the footer's
 * font). */
static void open_segment(struct pdf *p)
{
    if (p->cr) {
        if (p->status == CAIRO_STATUS_SUCCESS)
            p->status = cairo_status(p->cr);
        cairo_destroy(p->cr);
    }
    cairo_rectangle_t extents = {0, 0, PAGE_W, PAGE_H};
    cairo_surface_t *rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
    p->cr = cairo_create(rec); /* holds the surface: drawing goes on even when it cannot be kept */
    cairo_set_font_options(p->cr, p->font_options);
    if (p->n_segments == p->cap_segments) {
        size_t cap = p->cap_segments ? 2 * p->cap_segments : 8;
        struct segment *v = realloc(p->segments, cap * sizeof *v);
        if (v) {
            p->segments = v;
            p->cap_segments = cap;
        }
    }
    if (p->n_segments < p->cap_segments)
        p->segments[p->n_segments++] = (struct segment){.rec = rec, .page = p->page};
    else {
        cairo_surface_destroy(rec);
        if (p->status == CAIRO_STATUS_SUCCESS)
            p->status = CAIRO_STATUS_NO_MEMORY;
    }
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    cairo_set_line_width(p->cr, 0.8);
    font(p, 7.5, false);
}

/* Each page's body is laid out into recordings (open_segment); once the whole layout is done and
 * the number of pages known, cert_render_pdf_hashed puts every page on the PDF: its header and
 * footer ("page n of N") first, then its recorded body. One layout, no counting pass first. The
 * recordings measure and record text with the PDF's font options (a recording surface's own would
 * hint metrics). */
static void new_page(struct pdf *p)
{
    p->page++;
    open_segment(p);
    p->y = BODY_TOP + (p->simulated ? 8 : 0);
}

static void need(struct pdf *p, double h)
{
    if (p->y + h > BODY_BOTTOM)
        new_page(p);
}

/* ---- text that is never cut: wrapping and tables ------------------------------------------*/
/* A malloc'd formatted string ("" when memory ran out: the layout goes on without it). */
static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!out)
        return calloc(1, 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

/* Lines of a wrapped text (malloc'd each). */
struct lines {
    char **v;
    size_t n, cap;
};

static void lines_add(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return; /* out of memory: the line is lost, the layout goes on */
        l->v = v;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->v[l->n++] = copy;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct lines){0};
}

static size_t utf8_len(const char *c)
{
    unsigned char b = (unsigned char)*c;
    size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if (!c[i])
            return i;
    return n;
}

/* Splits s into lines no wider than maxw in the current font: at spaces, at newlines, and inside
 * a word that is wider than a line by itself (a hash, a path), so nothing runs off the page. */
static void wrap(struct pdf *p, const char *s, double maxw, struct lines *out)
{
    size_t len = strlen(s);
    char *cur = malloc(len + 1), *cand = malloc(len + 2);
    if (!cur || !cand) {
        free(cur);
        free(cand);
        lines_add(out, s, len);
        return;
    }
    size_t cl = 0;
    const char *w = s;
    while (*w) {
        if (*w == '\n') {
            lines_add(out, cur, cl);
            cl = 0;
            w++;
            continue;
        }
        if (*w == ' ') {
            w++;
            continue;
        }
        size_t wl = strcspn(w, " \n");
        memcpy(cand, cur, cl);
        size_t nl = cl;
        if (cl)
            cand[nl++] = ' ';
        memcpy(cand + nl, w, wl);
        cand[nl + wl] = '\0';
        if (text_width(p, cand) <= maxw) {
            memcpy(cur, cand, nl + wl);
            cl = nl + wl;
            w += wl;
            continue;
        }
        if (cl) {
            lines_add(out, cur, cl);
            cl = 0;
        }
        memcpy(cand, w, wl);
        cand[wl] = '\0';
        if (text_width(p, cand) <= maxw) {
            memcpy(cur, w, wl);
            cl = wl;
            w += wl;
            continue;
        }
        /* one word wider than the line: cut between characters */
        for (size_t i = 0; i < wl;) {
            size_t ch = utf8_len(w + i);
            memcpy(cand, cur, cl);
            memcpy(cand + cl, w + i, ch);
            cand[cl + ch] = '\0';
            if (cl && text_width(p, cand) > maxw) {
                lines_add(out, cur, cl);
                cl = 0;
                continue;
            }
            memcpy(cur + cl, w + i, ch);
            cl += ch;
            i += ch;
        }
        w += wl;
    }
    if (cl)
        lines_add(out, cur, cl);
    free(cur);
    free(cand);
}

/* A paragraph wrapped at the body width (indented by `indent`); advances y, continues on the next
 * page as needed. */
static void para_at(struct pdf *p, double size, bool bold, double indent, const char *s)
{
    font(p, size, bold);
    struct lines l = {0};
    wrap(p, s, PAGE_W - 2 * MARGIN - indent, &l);
    for (size_t i = 0; i < l.n; i++) {
        need(p, size * 1.35);
        font(p, size, bold); /* a new page's header changed the font */
        text_at(p, MARGIN + indent, p->y, l.v[i]);
        p->y += size * 1.35;
    }
    lines_free(&l);
}

static void para(struct pdf *p, double size, bool bold, const char *s)
{
    para_at(p, size, bold, 0.0, s);
}

static void heading(struct pdf *p, const char *s)
{
    need(p, 40);
    p->y += 6;
    para(p, 10.5, true, s);
    p->y += 2;
}

static void kv(struct pdf *p, const char *k, const char *v)
{
    char *buf = strf("%s: %s", k, v && v[0] ? v : "—");
    para(p, 8.5, false, buf);
    free(buf);
}

/* A table: columns of given widths (pt); a row's cells wrap inside their column and the row is as
 * tall as its tallest cell; a row that does not fit goes to the next page, under the header again. */
#define TABLE_MAX_COLS 24
#define TABLE_FONT 7.0
#define TABLE_LINE 8.6
struct table {
    size_t n;
    double w[TABLE_MAX_COLS];
    const char *hdr[TABLE_MAX_COLS];
};

static void table_draw_row(struct pdf *p, const struct table *t, const char *const *cells, bool bold);

static void table_header(struct pdf *p, const struct table *t)
{
    table_draw_row(p, t, t->hdr, true);
}

static void table_draw_row(struct pdf *p, const struct table *t, const char *const *cells, bool bold)
{
    struct lines l[TABLE_MAX_COLS];
    memset(l, 0, sizeof l);
    font(p, TABLE_FONT, bold);
    size_t tall = 1;
    for (size_t i = 0; i < t->n; i++) {
        wrap(p, cells[i] ? cells[i] : "", t->w[i] - 3.0, &l[i]);
        tall = l[i].n > tall ? l[i].n : tall;
    }
    double h = (double)tall * TABLE_LINE + 2.5;
    if (p->y + h > BODY_BOTTOM) {
        new_page(p);
        if (!bold) /* the header again above the rest of the table */
            table_header(p, t);
        font(p, TABLE_FONT, bold);
    }
    double x = MARGIN;
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; k < l[i].n; k++)
            text_at(p, x, p->y + (double)k * TABLE_LINE, l[i].v[k]);
        x += t->w[i];
        lines_free(&l[i]);
    }
    p->y += h;
    if (bold) {
        cairo_set_line_width(p->cr, 0.4);
        cairo_move_to(p->cr, MARGIN, p->y - TABLE_LINE + 1.5);
        cairo_line_to(p->cr, x, p->y - TABLE_LINE + 1.5);
        cairo_stroke(p->cr);
    }
}

static void table_row(struct pdf *p, const struct table *t, const char *const *cells)
{
    table_draw_row(p, t, cells, false);
}

/* Column widths from fractions of the body width. */
static void table_fractions(struct table *t, const double *fr, size_t n)
{
    double bw = PAGE_W - 2 * MARGIN;
    t->n = n;
    for (size_t i = 0; i < n; i++)
        t->w[i] = ((i + 1 < n ? fr[i + 1] : 1.0) - fr[i]) * bw;
}

/* The shortest text that reads back as the number (a recorded dimension or a spec limit, shown as
 * given, not rounded). */
static void exact_num(char *buf, size_t size, const json_t *v)
{
    if (!json_is_number(v) || pd_decimal_plain(json_number_value(v), buf, size) < 0)
        snprintf(buf, size, "—");
}

/* pd_round_to_uncertainty, remembered by the exact (value, U): a certificate's PDF is laid out twice
 * (page count, then the real pass) with the same numbers, and finding a value's shortest decimal
 * form (printf and strtod until it reads back) was half the page count's time (~1 ms a pass). */
#define ROUNDED_SLOTS 512
#define ROUNDED_PROBES 8
struct rounded {
    uint64_t v, u; /* the bits of value and U */
    bool used;
    int rc;
    struct pd_reported r;
};
static struct rounded *rounded;
static pthread_mutex_t rounded_lock = PTHREAD_MUTEX_INITIALIZER;

static int round_remembered(double value, double U, struct pd_reported *out)
{
    uint64_t v, u;
    memcpy(&v, &value, sizeof v);
    memcpy(&u, &U, sizeof u);
    size_t h = (size_t)(((v * 0x9e3779b97f4a7c15ull) ^ (u * 0xc2b2ae3d27d4eb4full)) >> 40) % ROUNDED_SLOTS;
    pthread_mutex_lock(&rounded_lock);
    if (!rounded)
        rounded = calloc(ROUNDED_SLOTS, sizeof *rounded); /* kept for the process, like the fonts */
    struct rounded *slot = NULL;
    for (size_t k = 0; rounded && k < ROUNDED_PROBES; k++) {
        struct rounded *e = &rounded[(h + k) % ROUNDED_SLOTS];
        if (e->used && e->v == v && e->u == u) {
            int rc = e->rc;
            if (rc == 0)
                *out = e->r;
            pthread_mutex_unlock(&rounded_lock);
            return rc;
        }
        if (!e->used) {
            slot = e;
            break;
        }
    }
    struct pd_reported r;
    int rc = pd_round_to_uncertainty(value, U, &r);
    if (slot) /* else full around here: not remembered */
        *slot = (struct rounded){.v = v, .u = u, .used = true, .rc = rc, .r = r};
    pthread_mutex_unlock(&rounded_lock);
    if (rc == 0)
        *out = r;
    return rc;
}

/* A number rounded at the place of the uncertainty U (rounding.c); "—" when absent. */
static void at_place_of(char *buf, size_t size, const json_t *v, const json_t *U)
{
    struct pd_reported r;
    double u = json_is_number(U) && json_number_value(U) >= 0.0 ? json_number_value(U) : 0.0;
    if (json_is_number(v) && round_remembered(json_number_value(v), u, &r) == 0)
        snprintf(buf, size, "%s", r.value);
    else if (!json_is_number(v) || pd_decimal_plain(json_number_value(v), buf, size) < 0)
        snprintf(buf, size, "—");
}

static void value_pm(char *buf, size_t size, const json_t *v, const json_t *U)
{
    struct pd_reported r;
    double u = json_is_number(U) && json_number_value(U) >= 0.0 ? json_number_value(U) : 0.0;
    if (json_is_number(v) && round_remembered(json_number_value(v), u, &r) == 0) {
        snprintf(buf, size, "%s ± %s", r.value, r.U);
    } else if (json_is_number(v)) { /* too wide to round to U's place: shown unrounded, never left out */
        char a[40] = "", b[40] = "";
        pd_decimal_plain(json_number_value(v), a, sizeof a);
        pd_decimal_plain(u, b, sizeof b);
        snprintf(buf, size, "%s ± %s", a, b);
    } else {
        snprintf(buf, size, "—");
    }
}

/* ---- the curves ---------------------------------------------------------------------------*/
static void nice_ticks(double lo, double hi, double *step)
{
    double span = hi - lo, raw = span / 5.0, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    *step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* Douglas–Peucker on each finite stretch, distances measured in points of a plot as large as the
 * certificate's (CERT_PLOT_W × CERT_PLOT_H pt spanning the curve's own ranges; the real plot spans
 * at least those, so the real deviation is smaller): straight and smooth parts shrink to a few
 * points, every bend beyond CERT_PLOT_TOL stays. Cairo writes each point of a path as text and
 * compresses it, several milliseconds per thousand points. */
#define CERT_PLOT_W 500.0
#define CERT_PLOT_H 300.0
#define CERT_PLOT_TOL 0.05
static void simplify(struct cert_curve *c, double xlo, double xhi, double ylo, double yhi)
{
    size_t n = c->n;
    if (n < 3 || !(xhi > xlo) || !(yhi > ylo))
        return;
    double sx = CERT_PLOT_W / (xhi - xlo), sy = CERT_PLOT_H / (yhi - ylo);
    unsigned char *keep = calloc(n, 1);
    size_t *stack = malloc(2 * n * sizeof *stack);
    if (!keep || !stack) { /* thinning is an optimisation: without memory, plot what there is */
        free(keep);
        free(stack);
        return;
    }
    double *x = c->x, *y = c->y;
    size_t i = 0;
    while (i < n) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            keep[i++] = 1;
            continue;
        }
        size_t end = i;
        while (end + 1 < n && isfinite(x[end + 1]) && isfinite(y[end + 1]))
            end++;
        keep[i] = keep[end] = 1;
        size_t top = 0;
        stack[top++] = i;
        stack[top++] = end;
        while (top > 0) {
            size_t b = stack[--top], a = stack[--top];
            if (b <= a + 1)
                continue;
            double ax = x[a] * sx, ay = y[a] * sy, dx = x[b] * sx - ax, dy = y[b] * sy - ay;
            double len = sqrt(dx * dx + dy * dy), worst = -1.0;
            size_t at = a;
            for (size_t k = a + 1; k < b; k++) {
                double px = x[k] * sx - ax, py = y[k] * sy - ay;
                double d = len > 0.0 ? fabs(px * dy - py * dx) / len : sqrt(px * px + py * py);
                if (d > worst) {
                    worst = d;
                    at = k;
                }
            }
            if (worst > CERT_PLOT_TOL) {
                keep[at] = 1;
                stack[top++] = a;
                stack[top++] = at;
                stack[top++] = at;
                stack[top++] = b;
            }
        }
        i = end + 1;
    }
    size_t out = 0;
    for (size_t k = 0; k < n; k++) {
        if (keep[k]) {
            x[out] = x[k];
            y[out] = y[k];
            out++;
        }
    }
    c->n = out;
    free(keep);
    free(stack);
}

/* The run of points from i on that lie in the column [col_lo, col_hi) with a finite y (NaN fails
 * both x comparisons, so a gap also ends it): returns the index after it, and its lowest and
 * highest y. Two points at a time where SSE2 is. */
static size_t column_run(const double *x, const double *y, size_t i, size_t n, double col_lo, double col_hi,
                         double *vlo, double *vhi)
{
    double lo = y[i], hi = y[i];
    size_t j = i + 1;
#ifdef __SSE2__
    const __m128d clo = _mm_set1_pd(col_lo), chi = _mm_set1_pd(col_hi), biggest = _mm_set1_pd(DBL_MAX);
    const __m128d magnitude = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
    __m128d a = _mm_set1_pd(lo), b = a;
    bool ended = false;
    for (; j + 2 <= n; j += 2) {
        __m128d u = _mm_loadu_pd(x + j), v = _mm_loadu_pd(y + j);
        __m128d in = _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(u, clo), _mm_cmplt_pd(u, chi)),
                                _mm_cmple_pd(_mm_and_pd(v, magnitude), biggest));
        int m = _mm_movemask_pd(in);
        if (m != 3) {
            if (m & 1) { /* the first of the two is in, the second ends the run */
                lo = y[j] < lo ? y[j] : lo;
                hi = y[j] > hi ? y[j] : hi;
                j++;
            }
            ended = true;
            break;
        }
        a = _mm_min_pd(v, a);
        b = _mm_max_pd(v, b);
    }
    double l[4];
    _mm_storeu_pd(l, a);
    _mm_storeu_pd(l + 2, b);
    for (int k = 0; k < 2; k++) {
        lo = l[k] < lo ? l[k] : lo;
        hi = l[2 + k] > hi ? l[2 + k] : hi;
    }
    if (ended) {
        *vlo = lo;
        *vhi = hi;
        return j;
    }
#endif
    for (; j < n && x[j] >= col_lo && x[j] < col_hi && isfinite(y[j]); j++) {
        lo = y[j] < lo ? y[j] : lo;
        hi = y[j] > hi ? y[j] : hi;
    }
    *vlo = lo;
    *vhi = hi;
    return j;
}

/* Both thinning passes on the curve's own arrays; c->n becomes the number kept. */
static void thin_in_place(struct cert_curve *c)
{
    if (c->n <= 4 * CERT_PLOT_COLUMNS)
        return;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    if (!cert_scan_finite_ranges(c->x, c->y, c->n, &xlo, &xhi, &ylo, &yhi)) {
        /* Plain comparisons, not fmin/fmax calls: this runs over every sample of every specimen. */
        for (size_t i = 0; i < c->n; i++) {
            double xi = c->x[i], yi = c->y[i];
            if (!isfinite(xi) || !isfinite(yi))
                continue;
            xlo = xi < xlo ? xi : xlo;
            xhi = xi > xhi ? xi : xhi;
            ylo = yi < ylo ? yi : ylo;
            yhi = yi > yhi ? yi : yhi;
        }
    }
    if (!(xhi > xlo))
        return;
    /* A point's column is worked out once per run of points, as the x-interval [col_lo, col_hi)
     * the next points are compared with, not per point (floor() is a library call here). A point
     * right on a column edge may fall into either neighbour, which a plot cannot show. */
    const double width = (xhi - xlo) / CERT_PLOT_COLUMNS, tol = (yhi - ylo) / CERT_PLOT_ROWS;
    double *x = c->x, *y = c->y;
    size_t out = 0, i = 0;
    /* Written in place: the k-th point kept of a run has an index >= the run's start + k, and out
     * never passes the run's start, so nothing unread is overwritten. */
    while (i < c->n) {
        if (!isfinite(x[i]) || !isfinite(y[i])) { /* a gap lifts the pen: keep it */
            x[out] = x[i];
            y[out] = y[i];
            out++;
            i++;
            continue;
        }
        double col = floor((x[i] - xlo) / width);
        const double col_lo = xlo + col * width, col_hi = col_lo + width;
        /* The run with its lowest and highest values, then the first sample of each: a running
         * extreme with its index made every sample wait on the previous one's comparison. */
        double vlo, vhi;
        size_t j = column_run(x, y, i, c->n, col_lo, col_hi, &vlo, &vhi);
        size_t first = i, last = j - 1, lo = first, hi = first;
        if (last > first) {
            lo = first + cert_scan_first_equal(y + first, j - first, vlo);
            hi = first + cert_scan_first_equal(y + first, j - first, vhi);
        }
        double seg_lo = fmin(y[first], y[last]), seg_hi = fmax(y[first], y[last]);
        size_t keep[4], k = 0;
        keep[k++] = first;
        bool want_lo = lo != first && lo != last && y[lo] < seg_lo - tol;
        bool want_hi = hi != first && hi != last && y[hi] > seg_hi + tol;
        if (want_lo && want_hi && hi < lo) {
            keep[k++] = hi;
            keep[k++] = lo;
        } else {
            if (want_lo)
                keep[k++] = lo;
            if (want_hi)
                keep[k++] = hi;
        }
        if (last != first)
            keep[k++] = last;
        for (size_t m = 0; m < k; m++) {
            x[out] = x[keep[m]];
            y[out] = y[keep[m]];
            out++;
        }
        i = j;
    }
    c->n = out;
    simplify(c, xlo, xhi, ylo, yhi);
}

/* The kept points into fresh arrays of their own size. */
static int copy_out(const double *x, const double *y, size_t n, double **nx, double **ny)
{
    *nx = malloc((n ? n : 1) * sizeof **nx);
    *ny = malloc((n ? n : 1) * sizeof **ny);
    if (!*nx || !*ny) {
        free(*nx);
        free(*ny);
        *nx = *ny = NULL;
        return PD_ENOMEM;
    }
    memcpy(*nx, x, n * sizeof **nx);
    memcpy(*ny, y, n * sizeof **ny);
    return 0;
}

void cert_curve_thin(struct cert_curve *c)
{
    size_t before = c->n;
    thin_in_place(c);
    if (c->n == before)
        return;
    /* Give the full-resolution arrays back whole, not shrunk in place: shrinking leaves two holes
     * each a little smaller than the next specimen's channel, so every specimen would fault in
     * fresh pages (costly on this VM: ~1 600 faults for 5 specimens); freed whole, the next read
     * reuses them. The set lives until the PDF is written. Without memory the big ones stay. */
    double *nx, *ny;
    if (copy_out(c->x, c->y, c->n, &nx, &ny) == 0) {
        free(c->x);
        free(c->y);
        c->x = nx;
        c->y = ny;
    }
}

int cert_curve_thin_from(double *x, double *y, size_t n, struct cert_curve *c)
{
    struct cert_curve big = {.x = x, .y = y, .n = n};
    thin_in_place(&big);
    double *nx, *ny;
    if (copy_out(x, y, big.n, &nx, &ny) < 0) {
        c->x = c->y = NULL;
        c->n = 0;
        return PD_ENOMEM;
    }
    c->x = nx;
    c->y = ny;
    c->n = big.n;
    return 0;
}

void cert_curve_set_free(struct cert_curve_set *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        cert_curve_free(&cs->c[i]);
    cs->n = 0;
}

/* The curves of a certificate read back from the run files it names (approve re-renders). */
static void load_curves(const json_t *doc, struct cert_curve_set *cs)
{
    memset(cs, 0, sizeof *cs);
    const json_t *mo = json_object_get(doc, "method");
    static struct pd_method_def def;
    struct pd_err e = {0};
    if (cert_method_from_doc(mo, &def, NULL, 0, &e) < 0)
        return;
    const struct cert_method *m = cert_method_find(def.base);
    if (!m || !m->curve)
        return;
    cs->plotable = true;
    const json_t *runs = json_object_get(doc, "runs"), *specimens = json_object_get(doc, "specimens");
    for (size_t r = 0; r < json_array_size(runs); r++) {
        struct pd_run *run = NULL;
        const char *file = jget(json_array_get(runs, r), "file");
        if (pd_run_open(file, &run, &e) < 0) {
            cs->missing = true;
            continue;
        }
        for (size_t s = 0; s < pd_run_specimen_count(run) && cs->n < CERT_MAX_CURVES; s++) {
            const char *sid = pd_run_specimen_id(run, s);
            bool evaluated = false;
            for (size_t k = 0; k < json_array_size(specimens); k++) {
                const json_t *sp = json_array_get(specimens, k);
                if (strcmp(jget(sp, "id"), sid ? sid : "") == 0 && json_object_get(sp, "results"))
                    evaluated = true;
            }
            struct cert_curve *c = &cs->c[cs->n];
            memset(c, 0, sizeof *c);
            if (evaluated && m->curve(run, s, &def, c) == 0 && c->n > 1) {
                cert_curve_thin(c);
                snprintf(cs->names[cs->n], sizeof cs->names[0], "%s", sid ? sid : "?");
                cs->n++;
            } else {
                cert_curve_free(c);
            }
        }
        pd_run_close(run);
    }
}

/* The evaluated specimens whose curve is not in the plot (it holds CERT_MAX_CURVES), by name. */
static void unplotted(struct pdf *p)
{
    const json_t *specimens = json_object_get(p->doc, "specimens");
    size_t cap = 64, len = 0, n = 0;
    char *list = malloc(cap);
    for (size_t i = 0; list && i < json_array_size(specimens); i++) {
        const json_t *sp = json_array_get(specimens, i);
        if (!json_object_get(sp, "results"))
            continue;
        bool plotted = false;
        for (size_t c = 0; c < p->curves->n && !plotted; c++) { /* a curve's name may be the id's start */
            const char *name = p->curves->names[c];
            size_t nl = strlen(name);
            plotted = nl + 1 == sizeof p->curves->names[0] ? strncmp(name, jget(sp, "id"), nl) == 0
                                                           : strcmp(name, jget(sp, "id")) == 0;
        }
        if (plotted)
            continue;
        size_t add = strlen(jget(sp, "id")) + 3;
        if (len + add >= cap) {
            cap = 2 * (len + add);
            char *g = realloc(list, cap);
            if (!g)
                break;
            list = g;
        }
        len += (size_t)snprintf(list + len, cap - len, "%s%s", len ? ", " : "", jget(sp, "id"));
        n++;
    }
    if (n > 0) {
        char *b = strf("Not plotted (%zu curve(s): a plot shows at most %d%s): %s", n, CERT_MAX_CURVES,
                       p->curves->missing ? ", or the raw file is not available" : "", list);
        para(p, 7.5, false, b);
        free(b);
    }
    free(list);
}

static void plot_curves(struct pdf *p)
{
    const struct cert_curve_set *cs = p->curves;
    if (!cs->plotable)
        return;
    const struct cert_curve *curves = cs->c;
    size_t nc = cs->n;
    bool missing = cs->missing;
    heading(p, "Curves (plotted from the raw data)");
    if (nc == 0) {
        para(p, 8.5, false, missing ? "Raw data files not available where the certificate names them: no plot."
                                    : "No curve to plot.");
        return;
    }
    double xmin = INFINITY, xmax = -INFINITY, ymin = 0, ymax = -INFINITY;
    for (size_t c = 0; c < nc; c++)
        for (size_t i = 0; i < curves[c].n; i++) {
            if (!isfinite(curves[c].x[i]) || !isfinite(curves[c].y[i]))
                continue;
            xmin = fmin(xmin, curves[c].x[i]);
            xmax = fmax(xmax, curves[c].x[i]);
            ymin = fmin(ymin, curves[c].y[i]);
            ymax = fmax(ymax, curves[c].y[i]);
        }
    if (!(xmax > xmin))
        xmax = xmin + 1;
    if (!(ymax > ymin))
        ymax = ymin + 1;
    double h = 300, x0 = MARGIN + 50, x1 = PAGE_W - MARGIN - 10;
    need(p, h + 40);
    double y0 = p->y + h, y1 = p->y + 10;
    cairo_t *cr = p->cr;
    double xs, ys;
    nice_ticks(xmin, xmax, &xs);
    nice_ticks(ymin, ymax, &ys);
    xmin = floor(xmin / xs) * xs;
    xmax = ceil(xmax / xs) * xs;
    ymin = floor(ymin / ys) * ys;
    ymax = ceil(ymax / ys) * ys;
#define PX(v) (x0 + ((v) - xmin) / (xmax - xmin) * (x1 - x0))
#define PY(v) (y0 - ((v) - ymin) / (ymax - ymin) * (y0 - y1))
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, x0, y1, x1 - x0, y0 - y1);
    cairo_stroke(cr);
    font(p, 7, false);
    char buf[64];
    for (double t = xmin; t <= xmax + xs / 2; t += xs) {
        cairo_move_to(cr, PX(t), y0);
        cairo_line_to(cr, PX(t), y0 + 4);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(t) < xs / 1e6 ? 0.0 : t);
        text_at(p, PX(t) - text_width(p, buf) / 2, y0 + 12, buf);
    }
    for (double t = ymin; t <= ymax + ys / 2; t += ys) {
        cairo_move_to(cr, x0 - 4, PY(t));
        cairo_line_to(cr, x0, PY(t));
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(t) < ys / 1e6 ? 0.0 : t);
        text_right(p, x0 - 6, PY(t) + 2.5, buf);
    }
    font(p, 8, false);
    text_at(p, (x0 + x1) / 2 - text_width(p, curves[0].x_label) / 2, y0 + 24, curves[0].x_label);
    cairo_save(cr);
    cairo_move_to(cr, MARGIN + 8, (y0 + y1) / 2 + text_width(p, curves[0].y_label) / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, curves[0].y_label);
    cairo_restore(cr);
    static const double colors[][3] = {{0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17},
                                       {0.58, 0.40, 0.74}, {1.0, 0.5, 0.05},   {0.55, 0.34, 0.29}};
    cairo_save(cr);
    cairo_rectangle(cr, x0, y1, x1 - x0, y0 - y1);
    cairo_clip(cr);
    for (size_t c = 0; c < nc; c++) {
        const double *col = colors[c % 6];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 0.7);
        bool pen = false;
        for (size_t i = 0; i < curves[c].n; i++) {
            if (!isfinite(curves[c].x[i]) || !isfinite(curves[c].y[i])) {
                pen = false;
                continue;
            }
            if (pen)
                cairo_line_to(cr, PX(curves[c].x[i]), PY(curves[c].y[i]));
            else
                cairo_move_to(cr, PX(curves[c].x[i]), PY(curves[c].y[i]));
            pen = true;
        }
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    font(p, 7, false);
    double legend_w = 0.0; /* the legend inside the frame, however long the names */
    for (size_t c = 0; c < nc; c++)
        legend_w = fmax(legend_w, text_width(p, cs->names[c]));
    double lx = x1 - 6 - legend_w - 14;
    for (size_t c = 0; c < nc; c++) {
        const double *col = colors[c % 6];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        double ly = y1 + 10 + 10 * (double)c;
        cairo_rectangle(cr, lx, ly - 5, 10, 3);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(p, lx + 14, ly, cs->names[c]);
    }
#undef PX
#undef PY
    p->y = y0 + 34;
    unplotted(p);
}

/* ---- QR code ------------------------------------------------------------------------------*/
/* Greedy: from each dark module not yet covered (row by row), as far right as the modules are
 * dark and uncovered, then down while that whole span is. */
size_t cert_qr_rects(const unsigned char *modules, int w, unsigned char *covered, int (*rect)[4])
{
    size_t n = 0;
    memset(covered, 0, (size_t)w * (size_t)w);
    for (int r = 0; r < w; r++)
        for (int c = 0; c < w; c++) {
            if (!(modules[r * w + c] & 1) || covered[r * w + c])
                continue;
            int c1 = c + 1, r1 = r + 1;
            while (c1 < w && (modules[r * w + c1] & 1) && !covered[r * w + c1])
                c1++;
            for (;;) {
                bool full = r1 < w;
                for (int k = c; k < c1 && full; k++)
                    full = (modules[r1 * w + k] & 1) && !covered[r1 * w + k];
                if (!full)
                    break;
                r1++;
            }
            for (int rr = r; rr < r1; rr++)
                memset(covered + rr * w + c, 1, (size_t)(c1 - c));
            rect[n][0] = c;
            rect[n][1] = r;
            rect[n][2] = c1 - c;
            rect[n][3] = r1 - r;
            n++;
        }
    return n;
}

/* The QR code's payload: the lab's verification page for the certificate with the SHA-256 of its
 * canonical JSON as the fragment (which a browser keeps to itself), when the document names the
 * page; otherwise the certificate number and that hash. */
static void qr_payload(char *buf, size_t size, const json_t *doc, const char *id, const char *hash)
{
    const char *url = json_string_value(json_object_get(doc, "verification_url"));
    if (url)
        snprintf(buf, size, "%s#%s", url, hash);
    else
        snprintf(buf, size, "polydaq-certificate:%s;sha256:%s", id, hash);
}

/* Encodes payload and covers its dark modules (cert_qr_rects); *rects malloc'd. Returns the
 * number of rectangles, 0 when the payload cannot be encoded or memory ran out. */
static size_t qr_cover(const char *payload, int *width, int (**rects)[4])
{
    QRcode *code = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!code)
        return 0;
    const int w = code->width;
    unsigned char *covered = malloc((size_t)w * (size_t)w);
    int(*rect)[4] = malloc((size_t)w * (size_t)w * sizeof *rect);
    size_t n = 0;
    if (covered && rect)
        n = cert_qr_rects(code->data, w, covered, rect);
    if (n > 0) {
        *width = w;
        *rects = rect;
    } else {
        free(rect);
    }
    free(covered);
    QRcode_free(code);
    return n;
}

/* ready: the writer thread's document hash, whose prepared cover is used when it is this payload's;
 * NULL (or another payload, or none prepared): encoded here. */
static void qr(struct pdf *p, const char *payload, const struct cert_doc_hash *ready, double x, double y, double size)
{
    int w = 0;
    int(*rect)[4] = NULL;
    size_t n = 0;
    bool own = !ready || ready->n_rects == 0 || strcmp(ready->qr_payload, payload) != 0;
    if (own) {
        n = qr_cover(payload, &w, &rect);
    } else {
        n = ready->n_rects;
        w = ready->qr_width;
        rect = ready->rects;
    }
    if (n == 0) { /* without memory for the cover, a square per module as before */
        QRcode *code = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        if (!code)
            return;
        double m = size / (code->width + 8);
        cairo_set_source_rgb(p->cr, 1, 1, 1);
        cairo_rectangle(p->cr, x, y, size, size);
        cairo_fill(p->cr);
        cairo_set_source_rgb(p->cr, 0, 0, 0);
        for (int r = 0; r < code->width; r++)
            for (int c = 0; c < code->width; c++)
                if (code->data[r * code->width + c] & 1)
                    cairo_rectangle(p->cr, x + (c + 4) * m, y + (r + 4) * m, m, m);
        cairo_fill(p->cr);
        QRcode_free(code);
        return;
    }
    double m = size / (w + 8); /* 4-module quiet zone each side */
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_rectangle(p->cr, x, y, size, size);
    cairo_fill(p->cr);
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    /* One fill of few rectangles rather than a square per module (the same union): cairo writes
     * every corner of a path as text, and the ~900 squares of a certificate's code were ~40 % of
     * the PDF's time (3.5 of 8.5 ms). */
    for (size_t i = 0; i < n; i++)
        cairo_rectangle(p->cr, x + (rect[i][0] + 4) * m, y + (rect[i][1] + 4) * m, rect[i][2] * m, rect[i][3] * m);
    cairo_fill(p->cr);
    if (own)
        free(rect);
}

/* ---- the document -------------------------------------------------------------------------*/
/* A property's standard name, symbol and unit from the certificate's `properties` list (the id
 * itself on a certificate from before that list). */
struct prop_label {
    const char *id, *name, *symbol, *unit;
};

static struct prop_label label_of(const json_t *doc, const char *id, const char *unit)
{
    struct prop_label l = {id, id, "", unit ? unit : ""};
    const json_t *props = json_object_get(doc, "properties");
    for (size_t i = 0; i < json_array_size(props); i++) {
        const json_t *o = json_array_get(props, i);
        if (strcmp(jget(o, "id"), id) == 0) {
            l.name = jget(o, "name");
            l.symbol = jget(o, "symbol");
            l.unit = jget(o, "unit");
        }
    }
    return l;
}

static void bullet(struct pdf *p, const char *s)
{
    char *b = strf("• %s", s);
    para_at(p, 7.5, false, 6.0, b);
    free(b);
}

static void conditions(struct pdf *p)
{
    const json_t *d = p->doc, *mo = json_object_get(d, "method"), *tc = json_object_get(d, "test_conditions");
    heading(p, "Test method and conditions");
    char *b = strf("%s — %s (method %s)", jget(mo, "title"), jget(mo, "standard"), jget(mo, "id"));
    kv(p, "Method", b);
    free(b);
    kv(p, "Conditioning and test atmosphere", jget(mo, "conditioning"));
    char sp[40];
    exact_num(sp, sizeof sp, json_object_get(mo, "speed_mm_min"));
    b = strf("%s mm/min (method)", sp);
    kv(p, "Test speed", b);
    free(b);
    bool temperature = false;
    const json_t *rec = json_object_get(tc, "recorded");
    for (size_t r = 0; r < json_array_size(rec); r++) {
        const json_t *o = json_array_get(rec, r);
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)o, key, v)
        {
            if (!json_is_object(v))
                continue;
            temperature = temperature || strstr(key, "temperature") || strstr(key, "humidity");
            char *what = strf("Recorded in run %s", jget(o, "run_id"));
            char *val = strf("%s = %s %s", key, jget(v, "value"), jget(v, "unit"));
            kv(p, what, val);
            free(what);
            free(val);
        }
    }
    if (!temperature)
        kv(p, "Test temperature", "not recorded in the run files (conditioning as stated above)");
}

/* Every departure from the method (the method's own list) and every observation the evaluation
 * made on a specimen (grip slips ...), ISO/IEC 17025 7.8.2.1 / 7.8.3.1 a. */
static void deviations(struct pdf *p)
{
    const json_t *d = p->doc;
    heading(p, "Deviations from the method and observations");
    size_t n = 0;
    const json_t *dev = json_object_get(json_object_get(d, "method"), "deviations");
    for (size_t i = 0; i < json_array_size(dev); i++, n++)
        bullet(p, json_string_value(json_array_get(dev, i)) ? json_string_value(json_array_get(dev, i)) : "");
    const json_t *specimens = json_object_get(d, "specimens");
    for (size_t i = 0; i < json_array_size(specimens); i++) {
        const json_t *sp = json_array_get(specimens, i);
        const json_t *w = json_object_get(json_object_get(sp, "evaluation"), "warnings");
        for (size_t k = 0; k < json_array_size(w); k++, n++) {
            char *b = strf("specimen %s: %s", jget(sp, "id"), json_string_value(json_array_get(w, k)) ?
                                                                  json_string_value(json_array_get(w, k)) : "");
            bullet(p, b);
            free(b);
        }
    }
    if (n == 0)
        para(p, 7.5, false, "None: the test followed the method as stated; no observation on any specimen.");
}

static void series_table(struct pdf *p)
{
    const json_t *d = p->doc;
    heading(p, "Series results: mean ± expanded uncertainty U (k = 2), U to two significant digits and every "
               "value of a row to its decimal place");
    static const double fr[] = {0, 0.36, 0.46, 0.51, 0.66, 0.76, 0.88};
    struct table t = {.hdr = {"property", "unit", "n", "mean ± U", "s", "min", "max"}};
    table_fractions(&t, fr, 7);
    need(p, 4 * TABLE_LINE);
    table_header(p, &t);
    const json_t *series = json_object_get(d, "series");
    /* in the method's order of properties, then any other */
    const json_t *props = json_object_get(d, "properties");
    size_t np = json_array_size(props), total = json_object_size(series);
    const char **order = malloc((np + total + 1) * sizeof *order);
    size_t no = 0;
    for (size_t i = 0; order && i < np; i++)
        if (json_object_get(series, jget(json_array_get(props, i), "id")))
            order[no++] = jget(json_array_get(props, i), "id");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)series, key, v)
    {
        bool listed = false;
        for (size_t i = 0; order && i < no; i++)
            listed = listed || strcmp(order[i], key) == 0;
        if (order && !listed)
            order[no++] = key;
    }
    for (size_t i = 0; i < no; i++) {
        v = json_object_get(series, order[i]);
        struct prop_label l = label_of(d, order[i], jget(v, "unit"));
        char name[200], n[24], mean[140], sd[64], mn[64], mx[64];
        snprintf(name, sizeof name, "%s %s", l.name, l.symbol);
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(v, "n")));
        const json_t *U = json_object_get(v, "U");
        value_pm(mean, sizeof mean, json_object_get(v, "mean"), U);
        at_place_of(sd, sizeof sd, json_object_get(v, "sd"), U);
        at_place_of(mn, sizeof mn, json_object_get(v, "min"), U);
        at_place_of(mx, sizeof mx, json_object_get(v, "max"), U);
        const char *cells[] = {name, l.unit, n, mean, sd, mn, mx};
        table_row(p, &t, cells);
    }
    free(order);
}

static void checks_table(struct pdf *p)
{
    const json_t *d = p->doc;
    heading(p, "Statement of conformity");
    const json_t *rule = json_object_get(d, "decision_rule");
    char *b = strf("Decision rule (%s): %s", jget(rule, "id"), jget(rule, "text"));
    para(p, 7.5, false, b);
    free(b);
    static const double fr[] = {0, 0.29, 0.39, 0.52, 0.68, 0.85};
    struct table t = {.hdr = {"property", "statistic", "limits (TL)", "value ± U", "acceptance (AL)", "verdict"}};
    table_fractions(&t, fr, 6);
    need(p, 4 * TABLE_LINE);
    table_header(p, &t);
    const json_t *checks = json_object_get(d, "checks");
    for (size_t i = 0; i < json_array_size(checks); i++) {
        const json_t *c = json_array_get(checks, i);
        struct prop_label l = label_of(d, jget(c, "property"), jget(c, "unit"));
        char name[200], lo[40], hi[40], lim[120], alo[64], ahi[64], al[160], val[140];
        snprintf(name, sizeof name, "%s %s [%s]", l.name, l.symbol, jget(c, "unit"));
        exact_num(lo, sizeof lo, json_object_get(c, "min"));
        exact_num(hi, sizeof hi, json_object_get(c, "max"));
        snprintf(lim, sizeof lim, "%s … %s", lo, hi);
        const json_t *U = json_object_get(c, "U");
        at_place_of(alo, sizeof alo, json_object_get(c, "al_min"), U);
        at_place_of(ahi, sizeof ahi, json_object_get(c, "al_max"), U);
        snprintf(al, sizeof al, "%s … %s", alo, ahi);
        value_pm(val, sizeof val, json_object_get(c, "value"), U);
        bool each = strcmp(jget(c, "statistic"), "each") == 0;
        const char *cells[] = {name, jget(c, "statistic"), lim, each ? "" : val, each ? "" : al, jget(c, "verdict")};
        table_row(p, &t, cells);
        const json_t *vals = json_object_get(c, "values");
        for (size_t k = 0; k < json_array_size(vals); k++) {
            const json_t *e = json_array_get(vals, k);
            char *sname = strf("  specimen %s", jget(e, "specimen"));
            const json_t *Ue = json_object_get(e, "U");
            value_pm(val, sizeof val, json_object_get(e, "value"), Ue);
            at_place_of(alo, sizeof alo, json_object_get(e, "al_min"), Ue);
            at_place_of(ahi, sizeof ahi, json_object_get(e, "al_max"), Ue);
            snprintf(al, sizeof al, "%s … %s", alo, ahi);
            const char *ec[] = {sname, "each", "", val, al, jget(e, "verdict")};
            table_row(p, &t, ec);
            free(sname);
        }
    }
    p->y += 4;
    b = strf("Overall verdict: %s", jget(d, "verdict"));
    para(p, 11, true, b);
    free(b);
    const json_t *vr = json_object_get(d, "verdict_reasons");
    for (size_t i = 0; i < json_array_size(vr); i++)
        bullet(p, json_string_value(json_array_get(vr, i)) ? json_string_value(json_array_get(vr, i)) : "");
}

/* Symbols of the recorded specimen dimensions (ISO 527-1: b, h, L0, L; ISO 178: L the span). */
static const char *const dimension_labels[][2] = {
    {"width_mm", "b [mm]"},         {"thickness_mm", "h [mm]"}, {"gauge_length_mm", "L0 [mm]"},
    {"grip_distance_mm", "L [mm]"}, {"span_mm", "L [mm]"},      {"remaining_width_mm", "bN [mm]"},
};

#define SPEC_MAX_DIMS 8
static void specimen_tables(struct pdf *p)
{
    const json_t *d = p->doc, *specimens = json_object_get(d, "specimens"), *props = json_object_get(d, "properties");
    json_t *own = NULL;
    if (json_array_size(props) == 0) { /* a certificate from before the list: the properties its specimens have */
        own = json_array();
        for (size_t i = 0; own && i < json_array_size(specimens); i++) {
            const char *key;
            const json_t *v;
            json_object_foreach(json_object_get(json_array_get(specimens, i), "results"), key, v)
            {
                bool have = false;
                for (size_t k = 0; k < json_array_size(own); k++)
                    have = have || strcmp(jget(json_array_get(own, k), "id"), key) == 0;
                if (!have)
                    json_array_append_new(own, json_pack("{s:s,s:s,s:s,s:s}", "id", key, "name", key, "symbol", key,
                                                         "unit", jget(v, "unit")));
            }
        }
        props = own;
    }
    heading(p, "Results per specimen: value ± U (k = 2); dimensions as measured");
    /* columns: specimen, each recorded dimension, each property of the method */
    const char *dims[SPEC_MAX_DIMS];
    size_t nd = 0;
    for (size_t i = 0; i < json_array_size(specimens); i++) {
        const char *key;
        const json_t *v;
        json_object_foreach(json_object_get(json_array_get(specimens, i), "dimensions"), key, v)
        {
            bool have = false;
            for (size_t k = 0; k < nd; k++)
                have = have || strcmp(dims[k], key) == 0;
            if (!have && nd < SPEC_MAX_DIMS)
                dims[nd++] = key;
        }
    }
    /* in the order of dimension_labels (b, h, L0, L), then any other */
    for (size_t a = 0; a < nd; a++)
        for (size_t b2 = a + 1; b2 < nd; b2++) {
            size_t ra = 99, rb = 99;
            for (size_t m = 0; m < sizeof dimension_labels / sizeof dimension_labels[0]; m++) {
                ra = strcmp(dims[a], dimension_labels[m][0]) == 0 ? m : ra;
                rb = strcmp(dims[b2], dimension_labels[m][0]) == 0 ? m : rb;
            }
            if (rb < ra || (rb == ra && strcmp(dims[b2], dims[a]) < 0)) {
                const char *tmp = dims[a];
                dims[a] = dims[b2];
                dims[b2] = tmp;
            }
        }
    size_t np = json_array_size(props);
    if (np + 1 + nd > TABLE_MAX_COLS)
        np = TABLE_MAX_COLS - 1 - nd; /* at most 23 columns: no method has as many */
    char dim_hdr[SPEC_MAX_DIMS][64], prop_hdr[TABLE_MAX_COLS][160];
    for (size_t k = 0; k < nd; k++) {
        snprintf(dim_hdr[k], sizeof dim_hdr[k], "%s", dims[k]);
        for (size_t m = 0; m < sizeof dimension_labels / sizeof dimension_labels[0]; m++)
            if (strcmp(dims[k], dimension_labels[m][0]) == 0)
                snprintf(dim_hdr[k], sizeof dim_hdr[k], "%s", dimension_labels[m][1]);
    }
    for (size_t k = 0; k < np; k++) {
        const json_t *o = json_array_get(props, k);
        snprintf(prop_hdr[k], sizeof prop_hdr[k], "%s [%s]", jget(o, "symbol"), jget(o, "unit"));
    }
    /* every cell's text, then the widths they need */
    size_t ns = json_array_size(specimens), ncol = 1 + nd + np;
    char **cell = calloc((ns ? ns : 1) * ncol, sizeof *cell);
    if (!cell) {
        json_decref(own);
        return;
    }
    double need_w[TABLE_MAX_COLS] = {0};
    font(p, TABLE_FONT, true);
    need_w[0] = text_width(p, "specimen");
    for (size_t k = 0; k < nd; k++)
        need_w[1 + k] = text_width(p, dim_hdr[k]);
    for (size_t k = 0; k < np; k++)
        need_w[1 + nd + k] = text_width(p, prop_hdr[k]);
    font(p, TABLE_FONT, false);
    for (size_t i = 0; i < ns; i++) {
        const json_t *sp = json_array_get(specimens, i), *res = json_object_get(sp, "results");
        char **row = cell + i * ncol;
        row[0] = strf("%s", jget(sp, "id"));
        for (size_t k = 0; k < nd; k++) {
            char b[48];
            const json_t *dv = json_object_get(json_object_get(sp, "dimensions"), dims[k]);
            exact_num(b, sizeof b, dv);
            row[1 + k] = json_is_string(dv) ? strf("%s", json_string_value(dv)) : strf("%s", b); /* notch "A" */
        }
        for (size_t k = 0; k < np; k++) {
            const char *id = jget(json_array_get(props, k), "id");
            const json_t *r = json_object_get(res, id);
            char b[140];
            if (!res)
                snprintf(b, sizeof b, "excluded");
            else if (r)
                value_pm(b, sizeof b, json_object_get(r, "value"), json_object_get(r, "U"));
            else
                snprintf(b, sizeof b, "n/a");
            row[1 + nd + k] = strf("%s", b);
        }
        for (size_t k = 0; k < ncol; k++) {
            double w = text_width(p, row[k]);
            need_w[k] = w > need_w[k] ? w : need_w[k];
        }
    }
    /* Columns as wide as their widest cell (+ padding); the specimen column at most a quarter of
     * the page (longer ids wrap). Properties that do not fit beside it go to a second table with
     * the specimen column again. */
    double bw = PAGE_W - 2 * MARGIN;
    for (size_t k = 0; k < ncol; k++)
        need_w[k] = fmin(need_w[k] + 9.0, k == 0 ? bw / 4 : bw / 2);
    size_t next = 1;
    int part = 0;
    while (next < ncol) {
        struct table t = {.n = 1, .w = {need_w[0]}, .hdr = {"specimen"}};
        size_t idx[TABLE_MAX_COLS] = {0};
        double used = need_w[0];
        while (next < ncol && t.n < TABLE_MAX_COLS && (t.n == 1 || used + need_w[next] <= bw)) {
            idx[t.n] = next;
            t.w[t.n] = need_w[next];
            t.hdr[t.n] = next <= nd ? dim_hdr[next - 1] : prop_hdr[next - 1 - nd];
            used += need_w[next];
            t.n++;
            next++;
        }
        double spare = (bw - used) / (double)t.n; /* spread what is left */
        for (size_t k = 0; spare > 0 && k < t.n; k++)
            t.w[k] += spare;
        if (part++ > 0)
            para(p, 7.5, true, "Results per specimen (continued: further properties)");
        need(p, 4 * TABLE_LINE);
        table_header(p, &t);
        for (size_t i = 0; i < ns; i++) {
            const char *cells[TABLE_MAX_COLS];
            cells[0] = cell[i * ncol];
            for (size_t k = 1; k < t.n; k++)
                cells[k] = cell[i * ncol + idx[k]];
            table_row(p, &t, cells);
        }
        p->y += 4;
    }
    for (size_t i = 0; i < ns * ncol; i++)
        free(cell[i]);
    free(cell);

    /* Why a property is n/a, once per reason with the specimens it applies to; and exclusions. */
    bool said = false;
    for (size_t k = 0; k < json_array_size(props); k++) {
        const json_t *o = json_array_get(props, k);
        const char *id = jget(o, "id");
        for (size_t i = 0; i < ns; i++) {
            const char *why = json_string_value(json_object_get(json_object_get(json_array_get(specimens, i),
                                                                                 "not_applicable"), id));
            if (!why)
                continue;
            bool first = true; /* only at the first specimen with this reason */
            for (size_t j = 0; j < i && first; j++) {
                const char *w2 = json_string_value(json_object_get(
                    json_object_get(json_array_get(specimens, j), "not_applicable"), id));
                first = !(w2 && strcmp(w2, why) == 0);
            }
            if (!first)
                continue;
            size_t cap = 64, len = 0;
            char *list = malloc(cap);
            for (size_t j = i; list && j < ns; j++) {
                const char *w2 = json_string_value(json_object_get(
                    json_object_get(json_array_get(specimens, j), "not_applicable"), id));
                if (!w2 || strcmp(w2, why) != 0)
                    continue;
                const char *sid = jget(json_array_get(specimens, j), "id");
                size_t add = strlen(sid) + 3;
                if (len + add >= cap) {
                    cap = 2 * (len + add);
                    char *g = realloc(list, cap);
                    if (!g) {
                        free(list);
                        list = NULL;
                        break;
                    }
                    list = g;
                }
                len += (size_t)snprintf(list + len, cap - len, "%s%s", len ? ", " : "", sid);
            }
            if (!said) {
                para(p, 7.5, true, "Properties not applicable (n/a):");
                said = true;
            }
            char *b = strf("%s %s n/a for %s: %s", jget(o, "name"), jget(o, "symbol"), list ? list : "?", why);
            bullet(p, b);
            free(b);
            free(list);
        }
    }
    for (size_t i = 0; i < ns; i++) {
        const json_t *sp = json_array_get(specimens, i);
        if (json_object_get(sp, "results"))
            continue;
        char *b = strf("specimen %s (%s) excluded: %s", jget(sp, "id"), jget(sp, "status"),
                       jget(sp, "excluded_reason"));
        bullet(p, b);
        free(b);
    }
    json_decref(own);
}

/* The QR code of the certificate number and the hash of its canonical JSON, with their texts, at
 * y of the current page. */
static void qr_block(struct pdf *p, double y)
{
    const json_t *d = p->doc;
    char hash[65] = "";
    const struct cert_doc_hash *ready = NULL; /* its QR code, encoded on the writer thread */
    if (p->doc_hash) {
        cert_doc_hash_wait(p->doc_hash, hash);
        ready = p->doc_hash;
    } else {
        char *canon = cert_canonical(d, NULL);
        if (canon)
            cert_sha256_hex(canon, strlen(canon), hash);
        free(canon);
    }
    char payload[200];
    qr_payload(payload, sizeof payload, d, p->id, hash);
    qr(p, payload, ready, MARGIN, y, 96);
    font(p, 7, false);
    const char *page = json_string_value(json_object_get(d, "verification_url"));
    text_at(p, MARGIN + 104, y + 20,
            page ? "QR: the lab's verification page, the SHA-256 of the canonical JSON after '#'"
                 : "QR: certificate number and SHA-256 of its canonical JSON");
    char buf[300];
    if (page)
        text_at(p, MARGIN + 104, y + 32, page);
    snprintf(buf, sizeof buf, "%s  sha256 %s", p->id, hash);
    text_at(p, MARGIN + 104, y + (page ? 44 : 32), buf);
}

static void render(struct pdf *p)
{
    const json_t *d = p->doc;
    new_page(p);
    para(p, 14, true, jget(d, "title"));
    p->y += 4;
    const json_t *rev = json_object_get(d, "revision");
    if (rev) {
        char *b = strf("Revision: replaces certificate %s. Reason: %s", jget(rev, "replaces"), jget(rev, "reason"));
        para(p, 9, true, b);
        free(b);
    }
    kv(p, "Status", jget(d, "status"));
    kv(p, "Customer", jget(d, "customer"));
    kv(p, "Request", jget(d, "request_id"));
    kv(p, "Material / item", jget(d, "material"));
    const json_t *so = json_object_get(d, "spec");
    kv(p, "Specification", jget(so, "name"));
    const json_t *td = json_object_get(d, "test_dates");
    char *b = strf("%s to %s", jget(td, "from"), jget(td, "to"));
    kv(p, "Dates of testing", b);
    free(b);
    kv(p, "Operator", jget(d, "operator"));
    kv(p, "Drafted", jget(d, "drafted"));
    kv(p, "Issued", jget(d, "issued"));

    conditions(p);
    deviations(p);

    heading(p, "Raw data and instruments");
    const json_t *runs = json_object_get(d, "runs");
    for (size_t i = 0; i < json_array_size(runs); i++) {
        const json_t *r = json_array_get(runs, i);
        b = strf("Run %s (%s), SHA-256 %s", jget(r, "run_id"), jget(r, "file"), jget(r, "sha256"));
        para(p, 7.5, false, b);
        free(b);
    }
    const json_t *inst = json_object_get(d, "instruments");
    for (size_t i = 0; i < json_array_size(inst); i++) {
        const json_t *o = json_array_get(inst, i);
        const char *serial = jget(o, "serial_number")[0] ? jget(o, "serial_number") : jget(o, "serial");
        b = strf("%s: %s, serial %s, firmware %s — %s", jget(o, "name"), jget(o, "model"), serial, jget(o, "firmware"),
                 jget(o, "calibration_status"));
        para(p, 7.5, false, b);
        free(b);
    }
    const json_t *acc = json_object_get(d, "accreditation");
    para(p, 8.5, true, jget(acc, "statement"));
    const json_t *reasons = json_object_get(acc, "reasons");
    for (size_t i = 0; i < json_array_size(reasons); i++)
        bullet(p, json_string_value(json_array_get(reasons, i)) ? json_string_value(json_array_get(reasons, i)) : "");

    series_table(p);
    checks_table(p);
    specimen_tables(p);

    plot_curves(p);

    heading(p, "Review, authorization and signature");
    const json_t *ap = json_object_get(d, "approvals");
    const char *roles[] = {"reviewer", "authorizer"};
    for (int r = 0; r < 2; r++) {
        const json_t *a = NULL;
        for (size_t i = 0; i < json_array_size(ap); i++)
            if (strcmp(jget(json_array_get(ap, i), "role"), roles[r]) == 0)
                a = json_array_get(ap, i);
        b = strf("%s: %s%s%s", r ? "Authorized by" : "Reviewed by", a ? jget(a, "name") : "(pending)", a ? ", " : "",
                 a ? jget(a, "time") : "");
        para(p, 9, false, b);
        free(b);
    }
    const json_t *sig = json_object_get(d, "signature");
    if (sig) {
        b = strf("Signed electronically (Ed25519, key id %s). Verify with: polydaq verify %s.json --key LAB.pub",
                 jget(sig, "key_id"), p->id);
        para(p, 7.5, false, b);
        free(b);
    } else {
        para(p, 8.5, true, "Not signed: this draft is not a certificate until reviewed, authorized and signed.");
    }
    /* The QR block takes the same room whatever the hash: drawn once the pages are laid out
     * (qr_block), so that the hash, made on the writer thread, is waited for as late as can be. */
    need(p, 120);
    p->qr_after = p->n_segments - 1;
    p->qr_y = p->y;
    open_segment(p);
    p->y += 104;
    para(p, 8, false, jget(d, "statement"));
    p->y += 4;
    para(p, 10, true, "— end of report —");
}

/* Lays the certificate out page by page into recordings (open_segment), then puts each on the PDF
 * under its header and footer. */
int cert_render_pdf_hashed(const json_t *doc, const struct cert_curve_set *cs, const char *path,
                           struct cert_doc_hash *doc_hash, struct pd_err *err)
{
    struct pdf p = {.doc = doc, .curves = cs, .doc_hash = doc_hash};
    p.id = jget(doc, "certificate_id");
    p.draft = strcmp(jget(doc, "status"), "issued") != 0;
    p.simulated = json_object_get(doc, "notice") != NULL;
    p.accredited = json_is_true(json_object_get(json_object_get(doc, "accreditation"), "accredited"));
    p.surface = cairo_pdf_surface_create(path, PAGE_W, PAGE_H);
    if (cairo_surface_status(p.surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(p.surface);
        return pd_err_set(err, PD_EIO, path, "cannot create the PDF");
    }
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_TITLE, p.id);
    p.font_options = cairo_font_options_create();
    cairo_surface_get_font_options(p.surface, p.font_options);
    p.qr_after = SIZE_MAX;
    render(&p);
    if (p.status == CAIRO_STATUS_SUCCESS)
        p.status = cairo_status(p.cr);
    cairo_destroy(p.cr);
    p.cr = cairo_create(p.surface);
    p.pages = p.page;
    p.page = 0;
    for (size_t i = 0; i < p.n_segments; i++) {
        if (p.segments[i].page != p.page) {
            if (p.page > 0)
                cairo_show_page(p.cr);
            p.page = p.segments[i].page;
            header_footer(&p);
        }
        cairo_set_source_surface(p.cr, p.segments[i].rec, 0, 0);
        cairo_paint(p.cr);
        cairo_surface_destroy(p.segments[i].rec);
        if (i == p.qr_after)
            qr_block(&p, p.qr_y);
    }
    cairo_show_page(p.cr);
    free(p.segments);
    cairo_font_options_destroy(p.font_options);
    cairo_status_t st = p.status;
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_status(p.cr);
    cairo_destroy(p.cr);
    cairo_surface_finish(p.surface);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(p.surface);
    cairo_surface_destroy(p.surface);
    if (st != CAIRO_STATUS_SUCCESS)
        return pd_err_set(err, PD_EIO, path, "PDF rendering failed: %s", cairo_status_to_string(st));
    return 0;
}

void cert_doc_hash_init(struct cert_doc_hash *h)
{
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->ready_cv, NULL);
    h->ready = false;
    h->hex[0] = '\0';
    h->qr_payload[0] = '\0';
    h->n_rects = 0;
    h->rects = NULL;
}

void cert_doc_hash_set(struct cert_doc_hash *h, const json_t *doc)
{
    char hex[65] = "";
    char *canon = doc ? cert_canonical(doc, NULL) : NULL;
    if (canon)
        cert_sha256_hex(canon, strlen(canon), hex);
    free(canon);
    /* The QR code too (~0.15 ms of libqrencode), here rather than on the PDF's thread. */
    char payload[200];
    int w = 0;
    int(*rects)[4] = NULL;
    size_t n = 0;
    if (hex[0]) {
        qr_payload(payload, sizeof payload, doc, jget(doc, "certificate_id"), hex);
        n = qr_cover(payload, &w, &rects);
    }
    pthread_mutex_lock(&h->lock);
    memcpy(h->hex, hex, sizeof hex);
    if (n > 0) {
        memcpy(h->qr_payload, payload, sizeof payload);
        h->qr_width = w;
        h->n_rects = n;
        h->rects = rects;
    }
    h->ready = true;
    pthread_cond_broadcast(&h->ready_cv);
    pthread_mutex_unlock(&h->lock);
}

void cert_doc_hash_wait(struct cert_doc_hash *h, char hex[65])
{
    pthread_mutex_lock(&h->lock);
    while (!h->ready)
        pthread_cond_wait(&h->ready_cv, &h->lock);
    memcpy(hex, h->hex, 65);
    pthread_mutex_unlock(&h->lock);
}

void cert_doc_hash_destroy(struct cert_doc_hash *h)
{
    free(h->rects);
    pthread_cond_destroy(&h->ready_cv);
    pthread_mutex_destroy(&h->lock);
}

int cert_render_pdf_doc(const json_t *doc, const struct cert_curve_set *curves, const char *pdf_path,
                        struct pd_err *err)
{
    static struct cert_curve_set read_back;
    if (!curves) {
        load_curves(doc, &read_back);
        curves = &read_back;
    }
    int rc = cert_render_pdf_hashed(doc, curves, pdf_path, NULL, err);
    cert_curve_set_free(&read_back);
    return rc;
}

int pd_cert_render_pdf(const char *cert_path, const char *pdf_path, struct pd_err *err)
{
    if (!cert_path || !pdf_path)
        return pd_err_set(err, PD_EINVAL, NULL, "render: missing paths");
    json_error_t jerr;
    json_t *doc = json_load_file(cert_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return pd_err_set(err, PD_EDATA, cert_path, "not a certificate: %s", jerr.text);
    int rc = cert_render_pdf_doc(doc, NULL, pdf_path, err);
    json_decref(doc);
    return rc;
}

void pd_cert_release_fonts(void)
{
    for (int b = 0; b < 2; b++) {
        cairo_font_face_destroy(faces[b]);
        faces[b] = NULL;
    }
    cairo_debug_reset_static_data();
    if (ft_lib) { /* after cairo let go of its faces (each closes its FT face) */
        FT_Error (*done)(FT_Library);
        *(void **)&done = dlsym(RTLD_DEFAULT, "FT_Done_FreeType");
        if (done)
            done(ft_lib);
        ft_lib = NULL;
    }
    /* fontconfig is cairo's dependency, not ours: found at run time rather than linked. */
    void (*fc_fini)(void);
    *(void **)&fc_fini = dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini)
        fc_fini();
}
