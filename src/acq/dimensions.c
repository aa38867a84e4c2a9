/* dimensions.c — each specimen's own dimensions and the specimens declared invalid: a CSV read and
 * checked before the run, the technician's answers on a terminal before and after each specimen,
 * marks queued by another thread, and how all of it is recorded in the run file (attributes with
 * their source, events). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acq/acq_internal.h"

/* ---- CSV ------------------------------------------------------------------------------------*/
#define CSV_MAX_BYTES (1u << 20)
#define CSV_MAX_FIELDS (2 + PD_ACQ_MAX_DIM_COLUMNS)

struct csv_field {
    const char *p;
    size_t len;
    unsigned col; /* 1-based */
};

/* Splits one line (without its newline) at commas, trimming blanks around each field. Returns the
 * number of fields, or -1 (err set) for too many fields or a quote (quoting is not supported). */
static int split_line(const char *name, unsigned line, const char *p, size_t len, struct csv_field *f,
                      struct pd_err *err)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] == '"')
            return pd_err_set(err, PD_EDATA, NULL, "%s:%u:%zu: quotes are not supported: a field may not contain a comma",
                              name, line, i + 1);
        if (i < len && p[i] != ',')
            continue;
        if (n == CSV_MAX_FIELDS)
            return pd_err_set(err, PD_EDATA, NULL, "%s:%u:%zu: more than %d fields", name, line, start + 1,
                              CSV_MAX_FIELDS);
        size_t a = start, b = i;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
            b--;
        f[n++] = (struct csv_field){.p = p + a, .len = b - a, .col = (unsigned)(a + 1)};
        start = i + 1;
    }
    return n;
}

/* A strict decimal number: [+-]digits[.digits][e[+-]digits], nothing else (no hex, inf, nan). */
static bool strict_number(const struct csv_field *f, double *out)
{
    char buf[64];
    if (f->len == 0 || f->len >= sizeof buf)
        return false;
    size_t i = 0, digits = 0;
    const char *s = f->p;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (i < f->len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < f->len && s[i] == '.') {
        i++;
        while (i < f->len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return false;
    if (i < f->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < f->len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp_digits = 0;
        while (i < f->len && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (!exp_digits)
            return false;
    }
    if (i != f->len)
        return false;
    memcpy(buf, s, f->len);
    buf[f->len] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* A header name with its unit: "width", "width_mm", "width [mm]", "width (mm)". Any other unit is
 * refused: the values are millimetres. */
static int header_key(const char *name, const struct csv_field *f, char *key, size_t size, struct pd_err *err)
{
    char text[64];
    if (f->len == 0 || f->len >= sizeof text)
        return pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: %s column name", name, f->col, f->len ? "too long a" : "empty");
    memcpy(text, f->p, f->len);
    text[f->len] = '\0';
    size_t n = strcspn(text, " [(");
    const char *unit = NULL;
    char unit_buf[16] = "";
    if (text[n]) { /* "key [unit]" or "key (unit)" */
        const char *u = text + n;
        while (*u == ' ')
            u++;
        char close = *u == '[' ? ']' : *u == '(' ? ')' : 0;
        size_t ul = close ? strcspn(u + 1, "])") : 0;
        if (!close || u[1 + ul] != close || u[2 + ul] != '\0' || ul == 0 || ul >= sizeof unit_buf)
            return pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: column name '%s': expected NAME, NAME_mm or NAME [mm]",
                              name, f->col, text);
        memcpy(unit_buf, u + 1, ul);
        unit_buf[ul] = '\0';
        unit = unit_buf;
        text[n] = '\0';
    } else if (n > 3 && strcmp(text + n - 3, "_mm") == 0) {
        unit = "mm";
        text[n - 3] = '\0';
    }
    if (unit && strcmp(unit, "mm") != 0)
        return pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: column '%s' in '%s': dimensions are given in mm", name, f->col,
                          text, unit);
    if (pd_strlcpy(key, text, size) < 0)
        return pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: column name '%s' too long", name, f->col, text);
    return 0;
}

int pd_acq_dims_parse_csv(const char *name, const char *text, size_t len, struct pd_acq_dims_table *out,
                          struct pd_err *err)
{
    struct pd_acq_dims_table *t = calloc(1, sizeof *t);
    if (!t)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    pd_strlcpy(t->source, name, sizeof t->source);
    int rc = PD_OK;
    int reason_col = -1; /* field index of invalid_reason */
    int n_header = 0;
    unsigned line = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a spreadsheet's byte-order mark */
    while (rc == PD_OK && pos < len) {
        line++;
        const char *eol = memchr(text + pos, '\n', len - pos);
        size_t l = eol ? (size_t)(eol - (text + pos)) : len - pos;
        const char *p = text + pos;
        pos += l + (eol ? 1 : 0);
        if (l && p[l - 1] == '\r')
            l--;
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
                rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:%zu: control character 0x%02x", name, line, i + 1,
                                (unsigned char)p[i]);
                break;
            }
        if (rc < 0)
            break;
        struct csv_field f[CSV_MAX_FIELDS];
        int nf = split_line(name, line, p, l, f, err);
        if (nf < 0) {
            rc = PD_EDATA;
            break;
        }
        if (nf == 1 && f[0].len == 0) {
            if (line == 1) {
                rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:1: empty header line: expected specimen,width,thickness",
                                name);
                break;
            }
            continue; /* blank line */
        }
        if (line == 1) {
            char key[32];
            if ((rc = header_key(name, &f[0], key, sizeof key, err)) < 0)
                break;
            if (strcmp(key, "specimen") != 0) {
                rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:1: the first column must be 'specimen', not '%s'", name, key);
                break;
            }
            for (int i = 1; i < nf && rc == PD_OK; i++) {
                if ((rc = header_key(name, &f[i], key, sizeof key, err)) < 0)
                    break;
                bool dup = reason_col >= 0 && strcmp(key, "invalid_reason") == 0;
                for (size_t c = 0; c < t->n_columns; c++)
                    dup = dup || strcmp(t->column[c], key) == 0;
                if (dup || strcmp(key, "specimen") == 0)
                    rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: column '%s' given twice", name, f[i].col, key);
                else if (strcmp(key, "invalid_reason") == 0)
                    reason_col = i;
                else if (reason_col >= 0)
                    rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: 'invalid_reason' must be the last column", name,
                                    f[reason_col].col);
                else if (t->n_columns == PD_ACQ_MAX_DIM_COLUMNS)
                    rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:%u: more than %d dimension columns", name, f[i].col,
                                    PD_ACQ_MAX_DIM_COLUMNS);
                else
                    pd_strlcpy(t->column[t->n_columns++], key, sizeof t->column[0]);
            }
            n_header = nf;
            continue;
        }
        if (nf != n_header) {
            rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: %d fields, the header has %d", name, line,
                            f[nf < n_header ? nf - 1 : n_header].col, nf, n_header);
            break;
        }
        if (t->n_rows == PD_ACQ_MAX_SPECIMENS) {
            rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:1: more than %d specimens", name, line, PD_ACQ_MAX_SPECIMENS);
            break;
        }
        struct pd_acq_dims_row *r = &t->rows[t->n_rows];
        r->line = line;
        double num;
        if (!strict_number(&f[0], &num) || num != (double)(t->n_rows + 1)) {
            rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: specimen '%.*s': expected %zu (rows numbered 1, 2, ... in order)",
                            name, line, f[0].col, (int)(f[0].len > 40 ? 40 : f[0].len), f[0].p, t->n_rows + 1);
            break;
        }
        for (size_t c = 0; c < t->n_columns; c++) {
            const struct csv_field *v = &f[1 + c];
            r->col[c] = v->col;
            if (v->len == 0) {
                r->value[c] = NAN; /* the config's value */
                continue;
            }
            if (!strict_number(v, &r->value[c])) {
                rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: %s '%.*s' is not a number in mm (like 10.02)", name, line,
                                v->col, t->column[c], (int)(v->len > 40 ? 40 : v->len), v->p);
                break;
            }
        }
        if (rc == PD_OK && reason_col >= 0) {
            const struct csv_field *v = &f[reason_col];
            if (v->len > PD_ACQ_REASON_MAX) {
                rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: invalid_reason longer than %d bytes", name, line, v->col,
                                PD_ACQ_REASON_MAX);
                break;
            }
            memcpy(r->invalid_reason, v->p, v->len);
            r->invalid_reason[v->len] = '\0';
        }
        t->n_rows++;
    }
    if (rc == PD_OK && line == 0)
        rc = pd_err_set(err, PD_EDATA, NULL, "%s:1:1: empty file: expected a header specimen,width,thickness", name);
    if (rc == PD_OK && t->n_rows == 0)
        rc = pd_err_set(err, PD_EDATA, NULL, "%s:%u:1: no specimen rows after the header", name, line + 1);
    if (rc == PD_OK)
        memcpy(out, t, sizeof *t);
    free(t);
    return rc;
}

int pd_acq_dims_load_csv(const char *path, struct pd_acq_dims_table *out, struct pd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, NULL, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CSV_MAX_BYTES) {
        close(fd);
        return pd_err_set(err, PD_EDATA, NULL, "%s: not a regular file of at most %u bytes", path, CSV_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = pd_acq_dims_parse_csv(path, buf, got, out, err);
    free(buf);
    return rc;
}

/* ---- what the method measures -----------------------------------------------------------------*/
static const struct acq_method *dims_method(const struct pd_acq_config *cfg)
{
    const struct acq_method *m = acq_method_find(cfg->method);
    return m && m->dims ? m : NULL;
}

enum pd_acq_dims_mode pd_acq_config_dims_mode(const struct pd_acq_config *cfg)
{
    const struct acq_method *m = dims_method(cfg);
    return m && m->dims_mode ? m->dims_mode(cfg->method_params) : PD_ACQ_DIMS_CONFIG;
}

int pd_acq_config_check_dims(const struct pd_acq_config *cfg, struct pd_err *err)
{
    const struct acq_method *m = dims_method(cfg);
    const char *caliper = m && m->caliper ? m->caliper(cfg->method_params) : "";
    if (!caliper[0])
        return PD_OK;
    for (size_t i = 0; i < cfg->n_instruments; i++)
        if (strcmp(cfg->instruments[i].name, caliper) == 0)
            return PD_OK;
    return pd_cfg_error(err, pd_cfg_map_get(cfg->specimen_section, "caliper"),
                        "caliper '%s' is not one of the run's instruments", caliper);
}

int pd_acq_dims_check(const struct pd_acq_config *cfg, const struct pd_acq_dims_table *t, struct pd_err *err)
{
    const struct acq_method *m = dims_method(cfg);
    if (!m)
        return pd_err_set(err, PD_ECONFIG, NULL, "%s: method %s measures no specimen dimensions", t->source, cfg->method);
    const struct acq_dim *dim[PD_ACQ_MAX_DIM_COLUMNS] = {0};
    for (size_t c = 0; c < t->n_columns; c++) {
        for (size_t d = 0; d < m->n_dims; d++)
            if (strcmp(m->dims[d].key, t->column[c]) == 0)
                dim[c] = &m->dims[d];
        if (!dim[c]) {
            char known[128] = "";
            for (size_t d = 0; d < m->n_dims; d++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", d ? ", " : "", m->dims[d].key);
            return pd_err_set(err, PD_EDATA, NULL, "%s:1: column '%s' is not a dimension of method %s (%s, invalid_reason)",
                              t->source, t->column[c], cfg->method, known);
        }
    }
    for (size_t d = 0; d < m->n_dims; d++) {
        bool have = false;
        for (size_t c = 0; c < t->n_columns; c++)
            have = have || dim[c] == &m->dims[d];
        if (m->dims[d].required && !have)
            return pd_err_set(err, PD_EDATA, NULL, "%s:1: no '%s' column (%s is measured on every specimen)", t->source,
                              m->dims[d].key, m->dims[d].label);
    }
    if (t->n_rows != (size_t)cfg->specimens)
        return pd_err_set(err, PD_EDATA, NULL, "%s:%u: %zu specimen rows, the run (%s) plans %ld", t->source,
                          t->n_rows ? t->rows[t->n_rows - 1].line : 1u, t->n_rows, pd_cfg_source_name(cfg->doc),
                          cfg->specimens);
    double def[ACQ_MAX_DIMS];
    m->dim_defaults(cfg->method_params, def);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_columns; c++) {
            double v = t->rows[r].value[c];
            if (isnan(v) && dim[c]->required)
                return pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: %s missing: it is measured on every specimen",
                                  t->source, t->rows[r].line, t->rows[r].col[c], dim[c]->key);
            if (!isnan(v) && (v < dim[c]->min || v > dim[c]->max))
                return pd_err_set(err, PD_EDATA, NULL, "%s:%u:%u: %s %g mm outside the method's range %g..%g mm",
                                  t->source, t->rows[r].line, t->rows[r].col[c], dim[c]->key, v, dim[c]->min,
                                  dim[c]->max);
        }
        double values[ACQ_MAX_DIMS];
        for (size_t d = 0; d < m->n_dims; d++) {
            values[d] = def[d];
            for (size_t c = 0; c < t->n_columns; c++)
                if (dim[c] == &m->dims[d] && !isnan(t->rows[r].value[c]))
                    values[d] = t->rows[r].value[c];
        }
        char why[200];
        if (m->dims_consistent && m->dims_consistent(cfg->method_params, values, why, sizeof why) < 0)
            return pd_err_set(err, PD_EDATA, NULL, "%s:%u: specimen %zu: %s", t->source, t->rows[r].line, r + 1, why);
    }
    return PD_OK;
}

/* ---- marks from another thread ------------------------------------------------------------------*/
int pd_acq_control_init(struct pd_acq_control *c, struct pd_err *err)
{
    memset(c, 0, sizeof *c);
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "cannot create the control's lock");
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&c->changed, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        pthread_mutex_destroy(&c->lock);
        return pd_err_set(err, PD_ENOMEM, NULL, "cannot create the control's condition");
    }
    return PD_OK;
}

void pd_acq_control_close(struct pd_acq_control *c)
{
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
}

static int check_reason(const char *reason, struct pd_err *err)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n == 0)
        return pd_err_set(err, PD_EINVAL, NULL, "an invalid specimen needs a reason");
    if (n > PD_ACQ_REASON_MAX)
        return pd_err_set(err, PD_EINVAL, NULL, "the reason is longer than %d bytes", PD_ACQ_REASON_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
            return pd_err_set(err, PD_EINVAL, NULL, "the reason contains a control character at byte %zu", i + 1);
    return PD_OK;
}

int pd_acq_mark_invalid(struct pd_acq_control *c, size_t specimen, const char *reason, const char *who,
                        struct pd_err *err)
{
    if (!c || specimen == 0 || specimen > PD_ACQ_MAX_SPECIMENS)
        return pd_err_set(err, PD_EINVAL, NULL, "mark invalid: no control or specimen %zu out of 1..%d", specimen,
                          PD_ACQ_MAX_SPECIMENS);
    int rc = check_reason(reason, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->lock);
    if (c->n_pending == PD_ACQ_MAX_SPECIMENS) {
        pthread_mutex_unlock(&c->lock);
        return pd_err_set(err, PD_EBUSY, NULL, "mark invalid: %d marks already wait", PD_ACQ_MAX_SPECIMENS);
    }
    struct pd_acq_invalid_mark *m = &c->pending[c->n_pending++];
    m->specimen = specimen;
    pd_strlcpy(m->reason, reason, sizeof m->reason);
    pd_strlcpy(m->who, who && who[0] ? who : "(unnamed)", sizeof m->who);
    pthread_mutex_unlock(&c->lock);
    return PD_OK;
}

int pd_acq_add_note(struct pd_acq_control *c, size_t specimen, const char *text, const char *who,
                    struct pd_err *err)
{
    size_t n = text ? strlen(text) : 0;
    if (!c || specimen == 0 || specimen > PD_ACQ_MAX_SPECIMENS)
        return pd_err_set(err, PD_EINVAL, NULL, "note: no control or specimen %zu out of 1..%d", specimen,
                          PD_ACQ_MAX_SPECIMENS);
    if (n == 0 || n > PD_ACQ_NOTE_MAX)
        return pd_err_set(err, PD_EINVAL, NULL, "a note has 1..%d bytes", PD_ACQ_NOTE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return pd_err_set(err, PD_EINVAL, NULL, "the note contains a control character at byte %zu", i + 1);
    pthread_mutex_lock(&c->lock);
    if (c->n_notes == PD_ACQ_NOTES_QUEUED) {
        pthread_mutex_unlock(&c->lock);
        return pd_err_set(err, PD_EBUSY, NULL, "note: %d notes already wait to be written", PD_ACQ_NOTES_QUEUED);
    }
    struct pd_acq_note *m = &c->notes[c->n_notes++];
    m->specimen = specimen;
    pd_strlcpy(m->text, text, sizeof m->text);
    pd_strlcpy(m->who, who && who[0] ? who : "(unnamed)", sizeof m->who);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return PD_OK;
}

/* ---- recording ------------------------------------------------------------------------------*/
static void set_attr(struct run *run, size_t k, const struct pd_store_attr *a)
{
    struct pd_err e;
    pthread_mutex_lock(&run->store_lock);
    int rc = run->store ? pd_store_set_specimen_attr(run->store, k, a, &e) : PD_OK;
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
}

void acq_mark_invalid(struct run *run, size_t k, const char *reason, const char *who, const char *via)
{
    char status[PD_ACQ_REASON_MAX + 16], text[200];
    snprintf(status, sizeof status, "invalid: %s", reason);
    acq_set_status(run, k, status);
    set_attr(run, k, &(struct pd_store_attr){.key = "invalid_reason", .type = PD_STORE_STRING, .s = reason});
    set_attr(run, k, &(struct pd_store_attr){.key = "invalid_by", .type = PD_STORE_STRING, .s = who});
    snprintf(text, sizeof text, "%.100s (by %.50s, %.30s)", reason, who, via);
    acq_run_event(run, k, "invalid", text);
    pd_log(PD_LOG_INFO, "specimen %zu marked invalid: %s", k + 1, text);
}

/* ---- the terminal ---------------------------------------------------------------------------*/
enum { LINE_OK = 0, LINE_EOF = 1, LINE_STOP = 2 };

/* One line from the terminal (without its newline; a longer line is cut). Waits in slices so a
 * stop request (Ctrl-C) is seen; EOF or a read error ends the input. */
static int read_answer(struct run *run, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        if (run->opt->stop && *run->opt->stop)
            return LINE_STOP;
        struct pollfd p = {.fd = run->opt->prompt_fd, .events = POLLIN};
        int pr = poll(&p, 1, 200);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return LINE_EOF;
        if (pr == 0)
            continue;
        char ch;
        ssize_t r = read(run->opt->prompt_fd, &ch, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return LINE_EOF;
        if (ch == '\n') {
            if (n && buf[n - 1] == '\r')
                n--;
            buf[n] = '\0';
            return LINE_OK;
        }
        if (n + 1 < size)
            buf[n++] = ch;
    }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

/* The caliper's first reading after now (its display when the technician pressed Enter): 0 with
 * *v, LINE_STOP on a stop request, -1 with why it gave none (failed, link down, garbage, silence,
 * implausible) — the technician then types the value. */
static int read_caliper(struct run *run, struct bus *b, double *v, char *why, size_t size)
{
    struct pd_err fe;
    if (acq_bus_failed(b, &fe)) {
        snprintf(why, size, "%s has failed (%.300s)", b->cfg->name, fe.msg);
        return -1;
    }
    struct pd_reading r;
    uint64_t seq0 = 0, seq;
    acq_bus_latest(b, &r, &seq0);
    uint64_t errors0 = atomic_load(&b->n_errors);
    int64_t wait_ns = 3 * b->period_ns + ACQ_COMMAND_TIMEOUT_NS / 5; /* a few polls, at least a second */
    int64_t deadline = pd_clock_mono_ns() + wait_ns;
    while (pd_clock_mono_ns() < deadline) {
        pd_clock_sleep_ns(10 * 1000000LL);
        if (run->opt->stop && *run->opt->stop)
            return LINE_STOP;
        if (acq_bus_latest(b, &r, &seq) && seq > seq0) {
            if (r.quality & (PD_Q_RANGE | PD_Q_UNREAD_CHANNEL(0)) || !isfinite(r.values[0])) {
                snprintf(why, size, "%s reads %g mm, outside its plausible range", b->cfg->name, r.values[0]);
                return -1;
            }
            *v = r.values[0];
            return 0;
        }
    }
    pthread_mutex_lock(&b->lock);
    bool down = b->link_down;
    pthread_mutex_unlock(&b->lock);
    unsigned long long errors = atomic_load(&b->n_errors) - errors0;
    snprintf(why, size, "%s gave no reading in %.1f s (%s%llu failed reads: no answer or an unreadable line)",
             b->cfg->name, (double)wait_ns / 1e9, down ? "link down, " : "", errors);
    return -1;
}

/* Asks for one dimension until a value in range is given: typed, Enter for `def` — or, with a
 * caliper, Enter for its reading (shown, and checked like a typed one). */
static int prompt_dim(struct run *run, size_t k, const struct acq_dim *d, double def, struct bus *caliper,
                      double *out, char *source, size_t source_size)
{
    for (;;) {
        if (caliper)
            say("specimen %zu/%ld: %s in mm: measure with %s and press Enter, or type it: ", k + 1,
                run->cfg->specimens, d->label, caliper->cfg->name);
        else
            say("specimen %zu/%ld: %s in mm [%g]: ", k + 1, run->cfg->specimens, d->label, def);
        char line[128];
        int rc = read_answer(run, line, sizeof line);
        if (rc != LINE_OK) {
            say("\n");
            return rc;
        }
        struct csv_field f = {.p = line, .len = strlen(line), .col = 1};
        while (f.len && (*f.p == ' ' || *f.p == '\t'))
            f.p++, f.len--;
        while (f.len && (f.p[f.len - 1] == ' ' || f.p[f.len - 1] == '\t'))
            f.len--;
        if (f.len > 3 && strncmp(f.p + f.len - 3, " mm", 3) == 0) /* "10.02 mm" */
            f.len -= 3;
        double v;
        const char *from = "typed";
        char why[400];
        if (f.len == 0 && caliper) {
            rc = read_caliper(run, caliper, &v, why, sizeof why);
            if (rc == LINE_STOP)
                return rc;
            if (rc < 0) {
                say("  %s: type the %s in mm\n", why, d->key);
                continue;
            }
            say("  %s: %.3f mm\n", caliper->cfg->name, v);
            from = "caliper";
        } else if (f.len == 0) {
            *out = def;
            pd_strlcpy(source, "config (accepted on the terminal)", source_size);
            return LINE_OK;
        } else if (!strict_number(&f, &v)) {
            say("  '%.40s' is not a number: type the %s in mm, like %g%s\n", line, d->key, def,
                caliper ? " (Enter reads the caliper)" : " (Enter keeps it)");
            continue;
        }
        if (v < d->min || v > d->max) {
            say("  %g mm is outside the method's range %g..%g mm for the %s; measure again\n", v, d->min, d->max, d->key);
            continue;
        }
        *out = v;
        if (strcmp(from, "caliper") == 0)
            snprintf(source, source_size, "caliper %.31s %.63s s/n %.40s", caliper->cfg->name, caliper->info.model,
                     caliper->info.serial[0] ? caliper->info.serial : "unknown");
        else
            pd_strlcpy(source, from, source_size);
        return LINE_OK;
    }
}

static void note_stop(struct pd_acq_result *result, size_t k, const char *why)
{
    result->interrupted = 1;
    size_t used = strlen(result->outcome_reason);
    if (used < sizeof result->outcome_reason)
        snprintf(result->outcome_reason + used, sizeof result->outcome_reason - used, "%sspecimen %zu: %s",
                 used ? ", " : "", k + 1, why);
}

int acq_dims_obtain(struct run *run, size_t k, struct acq_specimen_dims *out, struct pd_acq_result *result)
{
    const struct acq_method *m = dims_method(run->cfg);
    memset(out, 0, sizeof *out);
    if (!m)
        return 0;
    double def[ACQ_MAX_DIMS];
    m->dim_defaults(run->cfg->method_params, def);
    for (size_t d = 0; d < m->n_dims; d++) {
        out->value[d] = def[d];
        pd_strlcpy(out->source[d], "config", sizeof out->source[d]);
    }
    const struct pd_acq_dims_table *t = run->opt->dims;
    if (run->opt->dims_mode == PD_ACQ_DIMS_TABLE && t && k < t->n_rows) {
        for (size_t c = 0; c < t->n_columns; c++)
            for (size_t d = 0; d < m->n_dims; d++)
                if (strcmp(t->column[c], m->dims[d].key) == 0 && !isnan(t->rows[k].value[c])) {
                    out->value[d] = t->rows[k].value[c];
                    snprintf(out->source[d], sizeof out->source[d], "csv %.100s:%u", t->source, t->rows[k].line);
                }
    } else if (run->opt->dims_mode == PD_ACQ_DIMS_STATION && acq_station_active(run)) {
        if (acq_station_obtain_dims(run, k, out, result))
            return 1; /* aborted, or a stop request while waiting */
    } else if (run->opt->dims_mode == PD_ACQ_DIMS_PROMPT) {
        const char *cname = m->caliper ? m->caliper(run->cfg->method_params) : "";
        struct bus *caliper = NULL;
        for (size_t i = 0; cname[0] && i < run->n_buses; i++)
            if (strcmp(run->buses[i].cfg->name, cname) == 0)
                caliper = &run->buses[i];
        for (size_t d = 0; d < m->n_dims; d++) {
            if (!m->dims[d].prompted)
                continue;
            int rc = prompt_dim(run, k, &m->dims[d], def[d], caliper, &out->value[d], out->source[d],
                                sizeof out->source[d]);
            if (rc == LINE_EOF) {
                note_stop(result, k, "no dimensions (end of input on the terminal)");
                return 1;
            }
            if (rc == LINE_STOP) { /* Ctrl-C while asked: the series ends before this specimen */
                result->interrupted = 1;
                return 1;
            }
        }
    }
    char text[200];
    size_t used = 0;
    for (size_t d = 0; d < m->n_dims; d++) {
        set_attr(run, k, &(struct pd_store_attr){.key = m->dims[d].key, .type = PD_STORE_DOUBLE, .d = out->value[d],
                                                 .units = "mm"});
        char key[32];
        snprintf(key, sizeof key, "%.20s_source", m->dims[d].key);
        set_attr(run, k, &(struct pd_store_attr){.key = key, .type = PD_STORE_STRING, .s = out->source[d]});
        int w = snprintf(text + used, sizeof text - used, "%s%s %.6g mm", d ? ", " : "", m->dims[d].key, out->value[d]);
        if (w > 0 && (size_t)w < sizeof text - used)
            used += (size_t)w;
    }
    acq_run_event(run, k, "dimensions", text);
    return 0;
}

static void apply_control_marks(struct run *run, size_t upto)
{
    struct pd_acq_control *c = run->opt->control;
    if (!c)
        return;
    acq_control_apply_notes(run);
    pthread_mutex_lock(&c->lock);
    size_t kept = 0;
    for (size_t i = 0; i < c->n_pending; i++) {
        struct pd_acq_invalid_mark mk = c->pending[i];
        if (mk.specimen > (size_t)run->cfg->specimens) {
            pd_log(PD_LOG_WARN, "mark invalid by %s: specimen %zu is not in the series of %ld: ignored", mk.who,
                   mk.specimen, run->cfg->specimens);
            continue;
        }
        if (upto != SIZE_MAX && mk.specimen > upto + 1) {
            c->pending[kept++] = mk; /* not closed yet: its close would overwrite the mark */
            continue;
        }
        acq_mark_invalid(run, mk.specimen - 1, mk.reason, mk.who, "station");
    }
    c->n_pending = kept;
    pthread_mutex_unlock(&c->lock);
}

int acq_dims_after_specimen(struct run *run, size_t k, struct pd_acq_result *result)
{
    int stop = 0;
    const char *who = run->cfg->operator_name[0] ? run->cfg->operator_name : "(operator not named)";
    const struct pd_acq_dims_table *t = run->opt->dims;
    if (k != SIZE_MAX && run->opt->dims_mode == PD_ACQ_DIMS_TABLE && t && k < t->n_rows &&
        t->rows[k].invalid_reason[0]) {
        char via[160];
        snprintf(via, sizeof via, "csv %.100s:%u", t->source, t->rows[k].line);
        acq_mark_invalid(run, k, t->rows[k].invalid_reason, who, via);
    } else if (k != SIZE_MAX && run->opt->dims_mode == PD_ACQ_DIMS_PROMPT) {
        for (;;) {
            say("specimen %zu/%ld: Enter to accept, or type the reason it is invalid: ", k + 1, run->cfg->specimens);
            char line[PD_ACQ_REASON_MAX + 2];
            int rc = read_answer(run, line, sizeof line);
            if (rc != LINE_OK) {
                say("\n");
                if (rc == LINE_EOF && k + 1 < (size_t)run->cfg->specimens)
                    note_stop(result, k + 1, "not started (end of input on the terminal)");
                else if (rc == LINE_STOP)
                    result->interrupted = 1;
                stop = 1;
                break;
            }
            char *s = line;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t n = strlen(s);
            while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
            if (n == 0)
                break;
            struct pd_err e;
            if (strlen(s) > PD_ACQ_REASON_MAX || check_reason(s, &e) < 0) {
                say("  the reason must be one line of at most %d characters; type it again\n", PD_ACQ_REASON_MAX);
                continue;
            }
            acq_mark_invalid(run, k, s, who, "terminal");
            break;
        }
    }
    apply_control_marks(run, k);
    return stop;
}
