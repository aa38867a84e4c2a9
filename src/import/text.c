/* text.c — the plumbing under every import format: reading an export whole (with its SHA-256),
 * lines and delimited records, text encodings, unit factors and dates. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "import/import_internal.h"

static void sha256_hex(const char *buf, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    hex[0] = '\0';
    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void *sha256_thread(void *arg)
{
    struct imp_source *src = arg;
    sha256_hex(src->buf, src->len, src->sha256);
    return NULL;
}

/* The export is hashed on a second thread while the first parses it (a 35 MB file: ~25 ms). */
void imp_hash_start(struct imp_source *src)
{
    src->hashing = pthread_create(&src->hash_thread, NULL, sha256_thread, src) == 0;
    if (!src->hashing)
        sha256_hex(src->buf, src->len, src->sha256);
}

void imp_hash_wait(struct imp_source *src)
{
    if (src->hashing)
        pthread_join(src->hash_thread, NULL);
    src->hashing = false;
}

int imp_read_file(const char *path, struct imp_source *src, struct pd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EDATA, errno, path, "cannot open");
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return pd_err_set(err, PD_EDATA, path, "not a regular file");
    }
    size_t len = (size_t)sb.st_size;
    long page = sysconf(_SC_PAGESIZE);
    char *buf = NULL;
    /* Mapped (populated in one go, no copy) when the last page has room for the NUL the parsers
     * rely on after the text: the kernel fills a mapping's tail beyond the file with zeros. */
    if (len > 0 && page > 0 && len % (size_t)page != 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            buf = m;
            src->mapped = true;
        }
    }
    if (!buf) {
        buf = malloc(len + 1);
        if (!buf) {
            close(fd);
            return pd_err_set(err, PD_ENOMEM, path, "out of memory for %zu bytes", len);
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(fd, buf + got, len - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                int e = r < 0 ? errno : 0;
                free(buf);
                close(fd);
                return e ? pd_err_set_os(err, PD_EDATA, e, path, "read failed")
                         : pd_err_set(err, PD_EDATA, path, "file shrank while being read");
            }
            got += (size_t)r;
        }
        buf[len] = '\0';
    }
    close(fd);
    src->path = path;
    const char *slash = strrchr(path, '/');
    src->name = slash ? slash + 1 : path;
    src->buf = buf;
    src->len = len;
    imp_hash_start(src);
    return 0;
}

int imp_check_text(const struct imp_source *src, struct pd_err *err)
{
    size_t n = src->len < 65536 ? src->len : 65536;
    long line = 1;
    const char *ls = src->buf;
    for (const char *p = src->buf; p < src->buf + n; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            line++;
            ls = p + 1;
        } else if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\f')) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld:%ld", src->path, line, (long)(p - ls) + 1);
            return pd_err_set(err, PD_EDATA, where, "binary data (byte 0x%02x): not a text export", c);
        }
    }
    return 0;
}

void imp_source_free(struct imp_source *src)
{
    imp_hash_wait(src);
    if (src->mapped)
        munmap(src->buf, src->len);
    else
        free(src->buf);
    free(src->header_text);
    for (size_t c = 0; c < IMP_MAX_COLUMNS; c++)
        free(src->raw[c]);
    src->buf = NULL;
    src->header_text = NULL;
    memset(src->raw, 0, sizeof src->raw);
}

bool imp_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if ((c & 0xF0) == 0xE0)
            n = 2;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3;
        else
            return false;
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

char *imp_to_utf8(const char *s, size_t len, bool latin1)
{
    if (!latin1 && imp_valid_utf8(s, len)) {
        char *out = malloc(len + 1);
        if (out) {
            memcpy(out, s, len);
            out[len] = '\0';
        }
        return out;
    }
    char *out = malloc(2 * len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *o++ = (char)c;
        } else {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *o = '\0';
    return out;
}

const char *imp_line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return end;
    return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

const char *imp_next_line(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : end;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

int imp_split(const char *s, const char *end, char sep, char **fields, int max, char *store, size_t size)
{
    int n = 0;
    size_t k = 0;
    const char *p = s;
    for (;;) {
        if (n >= max)
            return -1;
        char *field = store + k;
        while (p < end && (*p == ' ' || *p == '\t') && *p != sep)
            p++;
        if (p < end && *p == '"') {
            for (p++; p < end; p++) {
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        p++;
                    } else {
                        p++;
                        break;
                    }
                }
                if (k + 1 >= size)
                    return -1;
                store[k++] = *p;
            }
            while (p < end && *p != sep) /* anything after the closing quote is kept as text */
                if (k + 1 < size)
                    store[k++] = *p++;
                else
                    return -1;
        } else {
            while (p < end && *p != sep) {
                if (k + 1 >= size)
                    return -1;
                store[k++] = *p++;
            }
        }
        store[k++] = '\0';
        fields[n++] = trim(field);
        if (p >= end)
            return n;
        p++; /* the separator */
    }
}

static bool one_of(const char *unit, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strcmp(unit, names[i]) == 0)
            return true;
    return false;
}

bool imp_unit_time(const char *u, double *scale)
{
    static const struct {
        const char *name;
        double f;
    } t[] = {{"s", 1}, {"sec", 1}, {"ms", 1e-3}, {"min", 60}, {"h", 3600}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(u, t[i].name) == 0) {
            *scale = t[i].f;
            return true;
        }
    return false;
}

bool imp_unit_force(const char *u, double *scale)
{
    static const struct {
        const char *name;
        double f;
    } t[] = {{"N", 1}, {"kN", 1e3}, {"mN", 1e-3}, {"daN", 10}, {"MN", 1e6}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(u, t[i].name) == 0) {
            *scale = t[i].f;
            return true;
        }
    return false;
}

bool imp_unit_length(const char *u, double *scale)
{
    static const char *const micro[] = {"µm", "um", "\xb5m", NULL};
    if (one_of(u, micro)) {
        *scale = 1e-3;
        return true;
    }
    static const struct {
        const char *name;
        double f;
    } t[] = {{"mm", 1}, {"m", 1e3}, {"cm", 10}, {"in", 25.4}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(u, t[i].name) == 0) {
            *scale = t[i].f;
            return true;
        }
    return false;
}

bool imp_unit_strain(const char *u, double *scale)
{
    static const char *const fraction[] = {"mm/mm", "m/m", "1", NULL};
    if (strcmp(u, "%") == 0) {
        *scale = 0.01;
        return true;
    }
    if (one_of(u, fraction)) {
        *scale = 1.0;
        return true;
    }
    return false;
}

int imp_column_unit(struct imp_column *col, enum imp_quantity q, const char *unit, const char *where,
                    struct pd_err *err)
{
    double f = 1.0;
    col->q = q;
    col->strain = false;
    switch (q) {
    case IMP_TIME:
        if (!imp_unit_time(unit, &f))
            return pd_err_set(err, PD_EDATA, where, "unit '%s' of %s is not a time unit polydaq knows (s, ms, min, h)", unit, col->source);
        break;
    case IMP_FORCE:
        if (!imp_unit_force(unit, &f))
            return pd_err_set(err, PD_EDATA, where,
                              "unit '%s' of %s is not a force unit polydaq knows (N, kN, mN, daN, MN)", unit,
                              col->source);
        pd_strlcpy(col->name, "force", sizeof col->name);
        pd_strlcpy(col->unit, "N", sizeof col->unit);
        break;
    case IMP_EXTENSION:
    case IMP_CROSSHEAD:
        if (imp_unit_strain(unit, &f)) {
            if (q == IMP_CROSSHEAD)
                return pd_err_set(err, PD_EDATA, where, "%s is a strain ('%s'), not a crosshead travel",
                                  col->source, unit);
            col->strain = true;
        } else if (!imp_unit_length(unit, &f)) {
            return pd_err_set(err, PD_EDATA, where,
                              "unit '%s' of %s is not a length or strain unit polydaq knows (mm, µm, cm, m, in, %%, "
                              "mm/mm)", unit, col->source);
        }
        pd_strlcpy(col->name, q == IMP_EXTENSION ? "extension" : "crosshead", sizeof col->name);
        pd_strlcpy(col->unit, "mm", sizeof col->unit);
        break;
    default:
        break;
    }
    col->scale = f;
    return 0;
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = (int)m - 1, .tm_mday = (int)d};
    return (int64_t)timegm(&tm) / 86400;
}

bool imp_parse_date(const char *s, int64_t *ns)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
    double sec = 0;
    char tail[8] = "";
    bool ok = false;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3) {
        const char *r = s + n;
        if (*r == '\0') {
            ok = true;
        } else if ((*r == 'T' || *r == ' ') && sscanf(r + 1, "%2d:%2d%n", &h, &mi, &n) == 2) {
            r += 1 + n;
            if (*r == ':') {
                int m2 = 0;
                if (sscanf(r + 1, "%lf%n", &sec, &m2) != 1)
                    return false;
                r += 1 + m2;
            }
            ok = *r == '\0' || (r[0] == 'Z' && r[1] == '\0');
        }
    } else if (sscanf(s, "%2d.%2d.%4d%n", &d, &mo, &y, &n) == 3 && y > 999) {
        const char *r = s + n;
        if (*r == '\0')
            ok = true;
        else if (sscanf(r, " %2d:%2d%n", &h, &mi, &n) == 2) {
            r += n;
            if (*r == ':' && sscanf(r + 1, "%lf%7s", &sec, tail) != 1)
                return false;
            ok = true;
        }
    }
    if (!ok || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61))
        return false;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    /* timegm normalises 31 February into March: refuse dates that do not exist */
    time_t tt = (time_t)(days * 86400);
    struct tm chk;
    if (!gmtime_r(&tt, &chk) || chk.tm_mday != d || chk.tm_mon != mo - 1)
        return false;
    *ns = ((days * 86400 + h * 3600 + mi * 60) * 1000000000LL) + (int64_t)llround(sec * 1e9);
    return true;
}
