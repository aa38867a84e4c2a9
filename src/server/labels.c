/*
 * labels.c — the printable label sheet of a request's items (GET /api/v1/requests/{id}/labels.pdf):
 * A4 sheets of 3 × 8 self-adhesive labels (70 × 37.125 mm, no margins — the common "24 per sheet"
 * stock), one per item, each with the item id large, the request id, the member's name, the material
 * and a QR code that holds the item id alone (a scanner at the bench reads exactly the id the
 * records use). Drawn with cairo and libqrencode; its own small renderer, independent of the
 * certificate's PDF code.
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

#define MM (72.0 / 25.4)
#define PAGE_W (210.0 * MM)
#define PAGE_H (297.0 * MM)
#define COLS 3
#define ROWS 8
#define LABEL_W (PAGE_W / COLS)
#define LABEL_H (PAGE_H / ROWS)
#define PAD (3.0 * MM)

struct buffer {
    unsigned char *data;
    size_t len, cap;
    bool failed;
};

static cairo_status_t write_buffer(void *closure, const unsigned char *data, unsigned int length)
{
    struct buffer *b = closure;
    if (b->len + length > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + length)
            cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

/* Draws `text` at (x, y) cut to `width` points: whole UTF-8 characters, an ellipsis when cut. */
static void fitted_text(cairo_t *cr, double x, double y, double width, const char *text)
{
    char buf[PD_NAME_MAX + 8];
    pd_strlcpy(buf, text, sizeof buf);
    size_t n = strlen(buf);
    cairo_text_extents_t ext;
    cairo_text_extents(cr, buf, &ext);
    while (n > 0 && ext.x_advance > width) {
        do /* back over one UTF-8 character (its continuation bytes are 10xxxxxx) */
            n--;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80);
        memcpy(buf + n, "\xE2\x80\xA6", 4); /* … */
        cairo_text_extents(cr, buf, &ext);
    }
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, buf);
}

struct sheet {
    cairo_t *cr;
    const struct request_brief *req;
    int n;
    bool qr_failed;
};

static void draw_label(sqlite3_stmt *st, void *ctx)
{
    struct sheet *sh = ctx;
    cairo_t *cr = sh->cr;
    if (sh->n > 0 && sh->n % (COLS * ROWS) == 0)
        cairo_show_page(cr);
    int slot = sh->n % (COLS * ROWS);
    double x0 = (slot % COLS) * LABEL_W, y0 = (slot / COLS) * LABEL_H;
    sh->n++;
    char code[40], description[201];
    db_text(st, 1, code, sizeof code);
    db_text(st, 4, description, sizeof description);

    /* QR code: the item id, error correction M, 4 modules of quiet zone, as large as the label is high. */
    QRcode *qr = QRcode_encodeString(code, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    double qr_side = LABEL_H - 2 * PAD;
    if (qr) {
        double module = qr_side / (qr->width + 8);
        cairo_set_source_rgb(cr, 0, 0, 0);
        for (int r = 0; r < qr->width; r++)
            for (int c = 0; c < qr->width; c++)
                if (qr->data[r * qr->width + c] & 1)
                    cairo_rectangle(cr, x0 + PAD + (c + 4) * module, y0 + PAD + (r + 4) * module, module, module);
        cairo_fill(cr);
        QRcode_free(qr);
    } else {
        sh->qr_failed = true;
    }
    double tx = x0 + PAD + qr_side + 1.5 * MM, tw = x0 + LABEL_W - PAD - tx;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 8.5);
    fitted_text(cr, tx, y0 + PAD + 9, tw, code);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 7);
    char line[64];
    snprintf(line, sizeof line, "Request %lld", (long long)sh->req->id);
    fitted_text(cr, tx, y0 + PAD + 20, tw, line);
    fitted_text(cr, tx, y0 + PAD + 30, tw, sh->req->member_name);
    fitted_text(cr, tx, y0 + PAD + 40, tw, sh->req->material);
    fitted_text(cr, tx, y0 + PAD + 50, tw, description);
}

int labels_pdf(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    struct request_brief req;
    if (!request_of_path(call, &req))
        return 0;
    struct buffer buf = {0};
    cairo_surface_t *surface = cairo_pdf_surface_create_for_stream(write_buffer, &buf, PAGE_W, PAGE_H);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "Item labels");
    cairo_t *cr = cairo_create(surface);
    struct sheet sh = {.cr = cr, .req = &req};
    int rc = items_of_request(call, req.id, draw_label, &sh, &err);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    cairo_status_t status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (rc < 0) {
        free(buf.data);
        return call_fail(call, &err);
    }
    if (rc == 0) {
        free(buf.data);
        return call_error(call, 409, "conflict", "request %lld has no items received yet", (long long)req.id);
    }
    if (status != CAIRO_STATUS_SUCCESS || buf.failed || sh.qr_failed) {
        free(buf.data);
        pd_log(PD_LOG_ERROR, "server: the label sheet of request %lld: %s%s%s", (long long)req.id,
               cairo_status_to_string(status), buf.failed ? " (out of memory)" : "", sh.qr_failed ? " (QR code)" : "");
        return call_error(call, 500, "internal", "internal error (logged on the server)");
    }
    return call_reply_bytes(call, 200, "application/pdf", buf.data, buf.len);
}
