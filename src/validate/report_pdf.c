/*
 * report_pdf.c — the validation report as a PDF (A4 landscape, cairo): a heading with software
 * version, method-set SHA-256 and counts, then one table row per case (id, method, what is
 * computed, computed, expected, tolerance, outcome) with its note beneath when it did not pass,
 * every page numbered "page n of N". Written under a temporary name and renamed when complete.
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "validate/validate_internal.h"

#define PAGE_W       841.89 /* A4 landscape, points */
#define PAGE_H       595.28
#define MARGIN       36.0
#define FONT         "DejaVu Sans"
#define ROW_H        11.0
#define BODY_SIZE    7.0
#define TABLE_TOP    120.0
#define TABLE_BOTTOM (PAGE_H - 40.0)

/* Column left edges and widths. */
static const double col_x[] = {MARGIN, 236, 290, 530, 610, 690, 752};
static const double col_w[] = {198, 52, 238, 78, 78, 60, 54};
static const char *const col_title[] = {"case",      "method", "what is computed", "computed", "expected",
                                        "tolerance", "result"};
#define N_COLS (sizeof col_x / sizeof col_x[0])

struct pdf {
    cairo_t *cr; /* in the layout pass a recording surface's, for measuring */
    bool draw;   /* false while counting pages */
    int page, pages;
    double y;
    const struct pd_validation *v;
};

static void font(cairo_t *cr, double size, bool bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Shows `s` at (x, y), cut with "…" to fit `width` (points). */
static void text_fit(struct pdf *p, double x, double y, double width, const char *s)
{
    if (!p->draw)
        return;
    char buf[4700];
    snprintf(buf, sizeof buf, "%s", s);
    cairo_text_extents_t e;
    cairo_text_extents(p->cr, buf, &e);
    size_t len = strlen(buf);
    while (e.x_advance > width && len > 0) {
        /* step back over one UTF-8 character, then append the ellipsis */
        do
            len--;
        while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80);
        memcpy(buf + len, "…", sizeof "…");
        cairo_text_extents(p->cr, buf, &e);
    }
    cairo_move_to(p->cr, x, y);
    cairo_show_text(p->cr, buf);
}

/* Shows `s` on up to two lines of `width` (broken at a space; the second one cut with "…" when
 * still too long) from baseline y; returns how many lines it took. Measures in the layout pass too. */
static int text_wrap2(struct pdf *p, double x, double y, double width, double line_h, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(p->cr, s, &e);
    size_t len = strlen(s), cut = 0;
    if (e.x_advance > width) {
        char buf[1024];
        for (size_t i = 1; i < len && i < sizeof buf; i++) {
            if (s[i] != ' ')
                continue;
            memcpy(buf, s, i);
            buf[i] = '\0';
            cairo_text_extents(p->cr, buf, &e);
            if (e.x_advance > width)
                break;
            cut = i;
        }
    }
    if (cut == 0) {
        text_fit(p, x, y, width, s);
        return 1;
    }
    char first[1024];
    memcpy(first, s, cut);
    first[cut] = '\0';
    text_fit(p, x, y, width, first);
    text_fit(p, x, y + line_h, width, s + cut + 1);
    return 2;
}

static void page_start(struct pdf *p)
{
    p->page++;
    p->y = TABLE_TOP;
    if (!p->draw)
        return;
    cairo_t *cr = p->cr;
    const struct pd_validation *v = p->v;
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(cr, 13, true);
    text_fit(p, MARGIN, 44, PAGE_W - 2 * MARGIN, "polydaq — software validation report (ISO/IEC 17025 7.11.2)");
    font(cr, 8, false);
    char line[4600];
    snprintf(line, sizeof line, "software: polydaq %s      built-in method set (%s) SHA-256: %s", v->version,
             "method-set.txt", v->method_set_sha256);
    text_fit(p, MARGIN, 60, PAGE_W - 2 * MARGIN, line);
    snprintf(line, sizeof line,
             "%zu cases: %zu passed, %zu failed, %zu skipped — result: %s      real exports: %s (%s)", v->n_cases,
             v->n_pass, v->n_fail, v->n_skip, pd_validation_exit_status(v) == 0 ? "PASS" : "FAIL", v->data_dir,
             v->data_found ? "found" : "not found");
    text_fit(p, MARGIN, 72, PAGE_W - 2 * MARGIN, line);
    text_fit(
        p, MARGIN, 84, PAGE_W - 2 * MARGIN,
        "A case passes when |computed − expected| <= tolerance; the source names where the expected value comes from "
        "(see validation.json).");
    cairo_set_line_width(cr, 0.6);
    cairo_move_to(cr, MARGIN, 92);
    cairo_line_to(cr, PAGE_W - MARGIN, 92);
    cairo_stroke(cr);
    font(cr, BODY_SIZE, true);
    for (size_t i = 0; i < N_COLS; i++)
        text_fit(p, col_x[i], 104, col_w[i], col_title[i]);
    font(cr, 7, false);
    snprintf(line, sizeof line, "page %d of %d", p->page, p->pages);
    text_fit(p, PAGE_W - MARGIN - 60, PAGE_H - 20, 60, line);
    text_fit(p, MARGIN, PAGE_H - 20, 300, "polydaq validation report");
}

static void page_end(struct pdf *p)
{
    if (p->draw)
        cairo_show_page(p->cr);
}

static void need(struct pdf *p, double h)
{
    if (p->y + h > TABLE_BOTTOM) {
        page_end(p);
        page_start(p);
    }
}

static void row(struct pdf *p, const struct pd_validate_case *c)
{
    bool show_note = c->outcome != PD_VALIDATE_PASS && c->note[0];
    /* The source is the group's (see its heading) except for real exports and the odd case. */
    bool show_source = c->group == PD_VALIDATE_REAL_EXPORT ||
                       (c->group == PD_VALIDATE_WORKED_EXAMPLE && strncmp(c->source, "test-methods.md", 15) != 0);
    char src[300];
    snprintf(src, sizeof src, "expected from: %s", c->source);
    font(p->cr, 6.5, false);
    cairo_text_extents_t e;
    cairo_text_extents(p->cr, src, &e);
    int source_lines = show_source ? (e.x_advance > PAGE_W - MARGIN - col_x[1] ? 2 : 1) : 0;
    need(p, (1 + show_note + source_lines) * ROW_H);
    char comp[48], exp[48], tol[32];
    validate_format_value(comp, sizeof comp, c->computed, c->computed_text);
    validate_format_value(exp, sizeof exp, c->expected, c->expected_text);
    validate_format_value(tol, sizeof tol, c->tolerance, NULL);
    char what[200];
    snprintf(what, sizeof what, "%s%s%s%s", c->quantity, c->unit[0] ? " [" : "", c->unit, c->unit[0] ? "]" : "");
    const char *cells[N_COLS] = {c->id, c->method, what, comp, exp, tol, validate_outcome_name(c->outcome)};
    if (p->draw) {
        font(p->cr, BODY_SIZE, false);
        for (size_t i = 0; i < N_COLS; i++) {
            if (i == N_COLS - 1) {
                bool pass = c->outcome == PD_VALIDATE_PASS;
                cairo_set_source_rgb(p->cr, pass ? 0 : 0.75, pass ? 0.45 : 0, 0);
                font(p->cr, BODY_SIZE, true);
            }
            text_fit(p, col_x[i], p->y, col_w[i], cells[i]);
        }
        cairo_set_source_rgb(p->cr, 0, 0, 0);
    }
    p->y += ROW_H;
    if (show_source) {
        font(p->cr, 6.5, false);
        cairo_set_source_rgb(p->cr, 0.35, 0.35, 0.35);
        p->y += ROW_H * text_wrap2(p, col_x[1], p->y, PAGE_W - MARGIN - col_x[1], 0.8 * ROW_H, src) -
                0.2 * ROW_H * (source_lines - 1);
        cairo_set_source_rgb(p->cr, 0, 0, 0);
    }
    if (show_note) {
        if (p->draw) {
            font(p->cr, 6.5, false);
            cairo_set_source_rgb(p->cr, 0.4, 0.1, 0.1);
            text_fit(p, col_x[1], p->y, PAGE_W - MARGIN - col_x[1], c->note);
            cairo_set_source_rgb(p->cr, 0, 0, 0);
        }
        p->y += ROW_H;
    }
}

static int render(struct pdf *p)
{
    p->page = 0;
    page_start(p);
    enum pd_validate_group group = (enum pd_validate_group) - 1;
    static const char *const titles[] = {
        "Worked examples — expected as test-methods.md §12 states it (tolerance half a unit in its last digit), "
        "or an analytic value named under the case",
        "Synthetic curves of the load-frame model — expected: its E, its noise-free stress at the sampled first peak; "
        "tolerance: docs/CERTIFICATES.md §11",
        "Real instrument exports — expected from the source named under each case"};
    for (size_t i = 0; i < p->v->n_cases; i++) {
        const struct pd_validate_case *c = &p->v->cases[i];
        if (c->group != group) {
            group = c->group;
            need(p, 3 * ROW_H);
            if (p->draw) {
                font(p->cr, 8.5, true);
                text_fit(p, MARGIN, p->y + 2, PAGE_W - 2 * MARGIN, titles[group]);
            }
            p->y += 1.5 * ROW_H;
        }
        row(p, c);
    }
    if (!p->v->n_cases || p->v->cases[p->v->n_cases - 1].group != PD_VALIDATE_REAL_EXPORT) {
        need(p, 3 * ROW_H);
        if (p->draw) {
            font(p->cr, 8.5, true);
            text_fit(p, MARGIN, p->y + 2, PAGE_W - 2 * MARGIN, titles[PD_VALIDATE_REAL_EXPORT]);
            font(p->cr, BODY_SIZE, false);
            text_fit(p, MARGIN, p->y + 2 + ROW_H, PAGE_W - 2 * MARGIN,
                     "none in this build: they are read through the import module, which it does not contain yet.");
        }
        p->y += 3 * ROW_H;
    }
    page_end(p);
    return p->page;
}

int pd_validation_write_pdf(const struct pd_validation *v, const char *path, struct pd_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return pd_err_set(err, PD_ERANGE, path, "%s: path too long", path);
    /* Layout only, on a recording surface that measures text like the PDF: the page count for
     * "page n of N". */
    cairo_surface_t *rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *rcr = cairo_create(rec);
    struct pdf p = {.v = v, .draw = false, .cr = rcr};
    p.pages = render(&p);
    cairo_destroy(rcr);
    cairo_surface_destroy(rec);
    cairo_surface_t *surface = cairo_pdf_surface_create(tmp, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(surface);
    p.cr = cr;
    p.draw = true;
    render(&p);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (st != CAIRO_STATUS_SUCCESS) {
        unlink(tmp);
        return pd_err_set(err, PD_EIO, path, "cannot write %s: %s", path, cairo_status_to_string(st));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot write %s", path);
    }
    return 0;
}
