/* cmd_scan.c — `polydaq scan`: lists the serial ports and, with --probe, asks each named port (or
 * every listed one) who is there with identity queries only — MT-SICS I4, the `identify:` request of
 * every serial-line instrument in the instrument library, Modbus report-slave-id (FC17) — and prints
 * the matching library section, pointed at the port, with the device's own identity and
 * calibration placeholders, ready to paste into a lab config. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cli/cli.h"
#include "config/config.h"
#include "driver/driver.h"
#include "modbus/tcp.h"
#include "mtsics/protocol.h"
#include "serial_line/protocol.h"
#include "transport/transport.h"

static const char scan_usage[] =
    "usage: polydaq scan [--probe [PORT|rtu:PORT|tcp-raw://HOST:PORT|tcp://HOST:PORT]...] [--library DIR]\n"
    "                    [--unit ID] [--timeout MS]\n"
    "\n"
    "Lists the serial ports (name, description, USB vendor/product/serial). With --probe, asks each\n"
    "named port (the listed ports when none is named; ptys must be named) who is there, sending only\n"
    "identity queries: MT-SICS I4 (balances), the identify request of each serial_line instrument in\n"
    "the library, then Modbus RTU report-slave-id (FC17). A serial port is tried at\n"
    "9600/19200/38400/115200/4800/2400 baud (Modbus also even and no parity) until it answers; a pty\n"
    "only once. rtu:PORT is asked only FC17, tcp-raw:// the text queries, tcp:// Modbus TCP FC17.\n"
    "For each instrument found the library's section is printed with name and port filled in and\n"
    "without its simulator, as an item of a lab config's `instruments:` list; an instrument the\n"
    "library does not know gets a generic section. Model, serial and firmware are the device's own\n"
    "answers (MT-SICS I2/I4/I3; the identify answer; Modbus report-slave-id and the map's identity\n"
    "registers, read by opening the instrument with its driver), never the library's examples; the\n"
    "calibration is printed as placeholders that `polydaq run` refuses until the lab fills them in.\n"
    "  --library DIR  instrument sections to match (default: config/instruments beside the program)\n"
    "  --unit ID      Modbus unit id to ask (default 1): 0..255 over tcp:// (many TCP devices answer only\n"
    "                 to 255), 1..247 on a serial line\n"
    "  --timeout MS   answer timeout per query (default 300)\n";

/* Text instruments are mostly 9600 baud; Modbus RTU's default is 19200 8E1. */
static const long text_bauds[] = {9600, 19200, 38400, 115200, 4800, 2400};
static const long modbus_bauds[] = {19200, 9600, 38400, 115200, 4800, 2400};
#define N_BAUDS (sizeof text_bauds / sizeof text_bauds[0])

#define LIBRARY_MAX 64
#define REQUEST_MAX 128

/* ---- the instrument library ----------------------------------------------------------------*/

enum lib_kind { LIB_OTHER, LIB_MTSICS, LIB_LINE, LIB_MODBUS };

struct lib_entry {
    char file[256]; /* name within the library directory, for the snippet's comment */
    struct pd_cfg_doc *doc;
    enum lib_kind kind;
    char name[PD_NAME_MAX];
    /* LIB_LINE with an identify block: what to send and what the answer looks like */
    char id_request[REQUEST_MAX];
    struct pd_transport_config port; /* terminator, max_line */
    struct sl_pattern id_pattern;
    /* LIB_MODBUS: the expected start of the FC17 text ("" = none given) */
    char slave_id[128];
};

struct library {
    struct lib_entry *e;
    size_t n;
};

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *scalar_at(const struct pd_cfg_node *map, const char *key)
{
    const struct pd_cfg_node *n = map ? pd_cfg_map_get(map, key) : NULL;
    return n && pd_cfg_kind(n) == PD_CFG_SCALAR ? pd_cfg_scalar(n) : NULL;
}

/* Reads one library file into `e`; false (with a warning) when it is no usable instrument
 * section: only sections their driver accepts are offered, so what scan prints `run` accepts. */
static bool library_entry_load(const char *path, const char *file, struct lib_entry *e)
{
    struct pd_err err;
    pd_err_clear(&err);
    memset(e, 0, sizeof *e);
    pd_strlcpy(e->file, file, sizeof e->file);
    if (pd_cfg_load_file(path, &e->doc, &err) < 0) {
        fprintf(stderr, "polydaq scan: library: %s (skipped)\n", err.msg);
        return false;
    }
    const struct pd_cfg_node *root = pd_cfg_root(e->doc);
    const char *driver_name = pd_cfg_kind(root) == PD_CFG_MAP ? scalar_at(root, "driver") : NULL;
    const struct pd_driver *drv = driver_name ? pd_driver_find(driver_name) : NULL;
    void *state = NULL;
    if (!drv || drv->create(root, &state, &err) < 0) {
        fprintf(stderr, "polydaq scan: library: %s: %s (skipped)\n", path,
                drv ? err.msg : "not an instrument section with a known driver");
        goto skip;
    }
    drv->destroy(state);
    if (pd_driver_instrument_name(root, e->name, &err) < 0)
        goto skip;
    if (strcmp(drv->name, "mtsics") == 0) {
        e->kind = LIB_MTSICS;
    } else if (strcmp(drv->name, "modbus") == 0) {
        e->kind = LIB_MODBUS;
        const char *id = scalar_at(root, "slave_id");
        pd_strlcpy(e->slave_id, id ? id : "", sizeof e->slave_id);
    } else if (strcmp(drv->name, "serial_line") == 0) {
        e->kind = LIB_LINE;
        const struct pd_cfg_node *identify = pd_cfg_map_get(root, "identify");
        const char *request = scalar_at(identify, "request");
        const char *response = scalar_at(identify, "response");
        char why[160];
        /* The driver has validated all of this; a line instrument without identify cannot be
         * recognised and is kept only as LIB_OTHER. */
        if (!request || !response || pd_transport_config_decode(root, "\\r\\n", &e->port, &err) < 0 ||
            pd_strlcpy(e->id_request, request, sizeof e->id_request) != 0 ||
            sl_pattern_compile(response, &e->id_pattern, why, sizeof why) != 0)
            e->kind = LIB_OTHER;
    }
    return true;
skip:
    pd_cfg_free(e->doc);
    e->doc = NULL;
    return false;
}

static void library_free(struct library *lib)
{
    for (size_t i = 0; i < lib->n; i++)
        pd_cfg_free(lib->e[i].doc);
    free(lib->e);
    lib->e = NULL;
    lib->n = 0;
}

/* Loads every *.yaml of `dir` (sorted by name, so the first of two matching sections is stable). */
static int library_load(const char *dir, struct library *lib)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "polydaq scan: library %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char *names[LIBRARY_MAX];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        if (n == LIBRARY_MAX) {
            fprintf(stderr, "polydaq scan: library %s: more than %d files, the rest ignored\n", dir, LIBRARY_MAX);
            break;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], compare_names);
    lib->e = calloc(n ? n : 1, sizeof *lib->e);
    if (!lib->e) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (len > 0 && (size_t)len < sizeof path && library_entry_load(path, names[i], &lib->e[lib->n]))
            lib->n++;
        free(names[i]);
    }
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The library beside the program: a build tree inside the source tree (build/polydaq →
 * config/instruments) or an installed layout (bin/polydaq → share/polydaq/instruments). */
static bool default_library(char *out, size_t size)
{
#ifdef PD_INSTRUMENT_LIBRARY
    if (is_dir(PD_INSTRUMENT_LIBRARY)) {
        pd_strlcpy(out, PD_INSTRUMENT_LIBRARY, size);
        return true;
    }
#endif
    char exe[4096];
    cli_exe_dir(exe, sizeof exe);
    static const char *const relative[] = {"../config/instruments", "config/instruments",
                                           "../share/polydaq/instruments"};
    for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
        int n = snprintf(out, size, "%s/%s", exe, relative[i]);
        if (n > 0 && (size_t)n < size && is_dir(out))
            return true;
    }
    return false;
}

/* ---- what was found ------------------------------------------------------------------------*/

struct found {
    const struct lib_entry *entry; /* NULL: not in the library, print a generic section */
    enum lib_kind kind;            /* LIB_MTSICS, LIB_LINE or LIB_MODBUS */
    char transport[PD_TRANSPORT_NAME_MAX + 8];
    bool line_settings; /* a serial port: print baud/parity/... */
    long baud;
    int parity; /* enum pd_parity */
    int unit;   /* Modbus */
    int slave_byte;
    char serial[SL_WORD_MAX], model[PD_NAME_MAX * 2], firmware[SL_WORD_MAX]; /* as the device reports them */
    bool simulated;    /* the device says it is a simulator (MT-SICS I2, identify, Modbus identity) */
    char id_text[256]; /* the FC17 text */
};

/* Unique instrument names over one scan: "durometer1", "durometer2", ... */
struct name_counts {
    size_t n;
    char base[LIBRARY_MAX + 2][PD_NAME_MAX];
    int count[LIBRARY_MAX + 2];
};

static void next_name(struct name_counts *nc, const char *library_name, char out[PD_NAME_MAX])
{
    char base[PD_NAME_MAX];
    pd_strlcpy(base, library_name, sizeof base);
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] >= '0' && base[len - 1] <= '9')
        base[--len] = '\0';
    if (len > PD_NAME_MAX - 4)
        base[len = PD_NAME_MAX - 4] = '\0';
    size_t i = 0;
    while (i < nc->n && strcmp(nc->base[i], base) != 0)
        i++;
    if (i == nc->n && nc->n < sizeof nc->base / sizeof nc->base[0]) {
        pd_strlcpy(nc->base[i], base, sizeof nc->base[i]);
        nc->count[i] = 0;
        nc->n++;
    }
    int k = i < nc->n && nc->count[i] < 999 ? ++nc->count[i] : 999;
    if (snprintf(out, PD_NAME_MAX, "%s%d", base, k) >= PD_NAME_MAX) /* cannot happen: base is short */
        out[PD_NAME_MAX - 1] = '\0';
}

/* A YAML double-quoted scalar: device text may hold anything. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* How a section is written: as an item of a lab config's `instruments:` list for the user, with
 * what the device said about itself and the calibration to fill in; or as a plain map for the
 * driver to open the instrument with (identity read as `run` reads it). */
enum section_form { FORM_ITEM, FORM_MAP };

/* Placeholders `polydaq run` refuses (not dates), so a section pasted without the lab's own
 * calibration record cannot make a run: the library's demo values never reach a run file. */
#define CAL_DATE_PLACEHOLDER "<YYYY-MM-DD>"
#define CAL_CERT_PLACEHOLDER "<fill in>"

/* The keys scan writes itself in place of the library's. */
static void print_port_keys(FILE *out, const struct found *f, enum section_form form)
{
    const char *in = form == FORM_ITEM ? "    " : "";
    fprintf(out, "%stransport: ", in);
    put_quoted(out, f->transport);
    fputc('\n', out);
    if (f->kind == LIB_MODBUS)
        fprintf(out, "%sunit: %d\n", in, f->unit);
    if (f->line_settings)
        fprintf(out, "%sbaud: %ld\n%sparity: %s\n%sdata_bits: 8\n%sstop_bits: 1\n", in, f->baud, in,
                pd_parity_names[f->parity], in, in);
    if (form == FORM_MAP)
        return;
    if (f->serial[0]) {
        fprintf(out, "%sserial: ", in);
        put_quoted(out, f->serial);
        fputc('\n', out);
    }
    if (f->model[0]) {
        fprintf(out, "%smodel: ", in);
        put_quoted(out, f->model);
        fputs("    # as the device reports it\n", out);
    } else {
        fprintf(out, "%s# model: the device does not report one: write its make and model here\n", in);
    }
    fprintf(out, "%s# the instrument's calibration certificate (ISO/IEC 17025): `polydaq run` refuses the "
                 "placeholders\n",
            in);
    fprintf(out, "%scalibration: {date: \"" CAL_DATE_PLACEHOLDER "\", due: \"" CAL_DATE_PLACEHOLDER
                 "\", certificate: \"" CAL_CERT_PLACEHOLDER "\"}\n",
            in);
}

static bool replaced_key(const char *key)
{
    static const char *const keys[] = {"name",   "transport", "baud",   "parity",      "data_bits",
                                       "stop_bits", "flow_control", "rs485", "unit", "serial",
                                       "simulator", "model",     "calibration", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* Prints the library file's section: its text as written (comments kept), the port keys replaced
 * by what was found, the simulator and the library's own model and calibration (examples, not this
 * device's) dropped, the file's leading comment (which describes the library file) left out.
 * Top-level keys are found by the line the parser gives. */
static void print_library_section(FILE *out, const struct lib_entry *e, const struct found *f, const char *name,
                                  enum section_form form)
{
    const struct pd_cfg_node *root = pd_cfg_root(e->doc);
    const char *text = pd_cfg_source_text(e->doc);
    size_t n_keys = pd_cfg_map_size(root);
    const char *in = form == FORM_ITEM ? "    " : "";
    fprintf(out, "%sname: %s\n", form == FORM_ITEM ? "  - " : "", name);
    bool started = false, dropping = false, port_printed = false;
    int line_no = 1;
    for (const char *p = text; *p; line_no++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *key = NULL;
        for (size_t i = 0; i < n_keys && !key; i++) {
            const struct pd_cfg_node *k = pd_cfg_map_key(root, i);
            if (pd_cfg_line(k) == line_no && pd_cfg_column(k) == 1)
                key = pd_cfg_scalar(k);
        }
        bool indented_or_blank = len == 0 || p[0] == ' ' || p[0] == '\t' || p[0] == '\r';
        if (key) {
            started = true;
            dropping = replaced_key(key);
            if (strcmp(key, "transport") == 0) {
                print_port_keys(out, f, form);
                port_printed = true;
            }
        } else if (!indented_or_blank) {
            dropping = false; /* a comment in the first column ends a dropped value */
        }
        if (started && !(dropping && (key || indented_or_blank))) {
            if (len && p[len - 1] == '\r')
                len--;
            if (len)
                fprintf(out, "%s%.*s\n", in, (int)len, p);
            else
                fputc('\n', out);
        }
        p = end ? end + 1 : p + len;
    }
    if (!port_printed)
        print_port_keys(out, f, form);
}

/* Opens the instrument found with its library section's driver, as `run` will, and keeps the
 * identity the driver reads from the device (MT-SICS I4/I2/I3, the identify answer, Modbus
 * report-slave-id and the map's identity registers). Sends nothing but identity queries: a
 * driver's open only identifies. A failure is reported and leaves what the probe found. */
static void read_identity_with_driver(const struct lib_entry *e, struct found *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return;
    print_library_section(mem, e, f, e->name, FORM_MAP);
    if (fclose(mem) != 0) {
        free(text);
        return;
    }
    struct pd_err err;
    pd_err_clear(&err);
    struct pd_cfg_doc *doc = NULL;
    const struct pd_driver *drv = pd_driver_find(scalar_at(pd_cfg_root(e->doc), "driver"));
    void *state = NULL;
    struct pd_instrument_info info;
    memset(&info, 0, sizeof info);
    if (drv && pd_cfg_load_string(e->file, text, len, &doc, &err) == 0 &&
        drv->create(pd_cfg_root(doc), &state, &err) == 0 && drv->open(state, &info, &err) == 0) {
        drv->close(state);
        if (info.serial[0])
            pd_strlcpy(f->serial, info.serial, sizeof f->serial);
        if (info.model[0])
            pd_strlcpy(f->model, info.model, sizeof f->model);
        if (info.firmware[0])
            pd_strlcpy(f->firmware, info.firmware, sizeof f->firmware);
        f->simulated = f->simulated || info.simulated;
    } else {
        fprintf(stderr, "polydaq scan: %s: reading the identity with the %s driver failed: %s\n", f->transport,
                drv ? drv->name : "?", err.msg[0] ? err.msg : "cannot build the section");
    }
    if (state)
        drv->destroy(state);
    pd_cfg_free(doc);
    free(text);
}

static const char *kind_text(enum lib_kind kind)
{
    return kind == LIB_MTSICS ? "MT-SICS" : kind == LIB_LINE ? "serial line" : "Modbus";
}

/* Prints the section for what was found; returns 1 (one instrument). */
static int print_found(struct found *f, struct name_counts *names)
{
    char name[PD_NAME_MAX];
    if (f->entry)
        read_identity_with_driver(f->entry, f);
    if (f->kind == LIB_MODBUS && !f->model[0]) {
        /* No model register in the map: the device's own report-slave-id words, as far as the
         * library's slave_id recognised them ("polydaq LF-1"), else the whole text. */
        size_t n = f->entry && f->entry->slave_id[0] ? strlen(f->entry->slave_id) : strlen(f->id_text);
        snprintf(f->model, sizeof f->model, "%.*s", (int)n, f->id_text);
    }
    const char *settings = !f->line_settings ? ""
                           : f->parity == PD_PARITY_EVEN ? " 8E1"
                                                         : " 8N1";
    printf("# %s: %s", f->transport, kind_text(f->kind));
    if (f->line_settings)
        printf(" at %ld baud%s", f->baud, settings);
    if (f->kind == LIB_MODBUS)
        printf(", unit %d, slave id %d \"%s\"", f->unit, f->slave_byte, f->id_text);
    if (f->model[0])
        printf(", model %s", f->model);
    if (f->serial[0])
        printf(", serial %s", f->serial);
    if (f->firmware[0])
        printf(", firmware %s", f->firmware);
    if (f->simulated)
        printf(", the device says it is a simulator");
    if (f->entry) {
        printf(" (library %s)\n", f->entry->file);
        next_name(names, f->entry->name, name);
        print_library_section(stdout, f->entry, f, name, FORM_ITEM);
        putchar('\n');
        return 1;
    }
    printf(" (not in the library)\n");
    if (f->kind == LIB_MTSICS) {
        next_name(names, "balance", name);
        printf("  - name: %s\n    driver: mtsics\n", name);
        print_port_keys(stdout, f, FORM_ITEM);
        printf("    command: SI\n    response_timeout_ms: 1500\n\n");
        return 1;
    }
    next_name(names, "modbus", name);
    printf("# the register map is the instrument's own: replace the one channel below by its map\n");
    printf("  - name: %s\n    driver: modbus\n", name);
    print_port_keys(stdout, f, FORM_ITEM);
    printf("    address_base: 0\n");
    printf("    channels:\n      - {name: register0, table: holding, address: 0, type: uint16}\n\n");
    return 1;
}

/* ---- probing -------------------------------------------------------------------------------*/

struct scan {
    struct library lib;
    int unit;
    int timeout_ms;
    struct name_counts names;
};

/* Unix98 pty slaves (majors 136..143): their baud rate means nothing, one try is enough. */
static bool is_pty(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode))
        return false;
    unsigned maj = major(st.st_rdev);
    return maj >= 136 && maj <= 143;
}

static void copy_field(const struct sl_pattern *p, const struct sl_match *m, const char *field, char *out,
                       size_t size)
{
    int i = sl_pattern_field(p, field);
    if (i < 0)
        return;
    if (p->field_is_word[i])
        pd_strlcpy(out, m->words[i], size);
    else
        snprintf(out, size, "%.15g", m->numbers[i]);
}

enum text_result { TEXT_UNREACHABLE = -1, TEXT_SILENT = 0, TEXT_ANSWERED, TEXT_FOUND };

/* The text queries on one port at one line setting: I4, then each distinct identify request of the
 * library. `heard` keeps the first answer that matched nothing (for the message). */
static enum text_result probe_text(struct scan *sc, const char *port, const struct pd_serial_params *sp,
                                   struct found *f, char *heard, size_t heard_size, struct pd_err *err)
{
    struct pd_transport *t;
    if (pd_transport_open(port, sp, sc->timeout_ms, &t, err) < 0)
        return TEXT_UNREACHABLE;
    enum text_result result = TEXT_SILENT;
    char line[PD_TRANSPORT_LINE_MAX + 1];
    size_t len;
    struct pd_err ignored;
    if (pd_transport_set_framing(t, "\r\n", 256, &ignored) == 0 &&
        pd_transport_request(t, "I4", line, sizeof line, &len, sc->timeout_ms, NULL, &ignored) == 0) {
        result = TEXT_ANSWERED;
        struct mtsics_reply r;
        char why[64];
        if (mtsics_parse(line, &r, why, sizeof why) == 0 && strcmp(r.cmd, "I4") == 0 && r.has_text) {
            f->kind = LIB_MTSICS;
            pd_strlcpy(f->serial, r.text, sizeof f->serial);
            /* I2 "type capacity unit" (the type may hold blanks: cut from the right), I3 the
             * firmware; older balances answer ES to either: then they stay unknown. */
            if (pd_transport_request(t, "I2", line, sizeof line, &len, sc->timeout_ms, NULL, &ignored) == 0 &&
                mtsics_parse(line, &r, why, sizeof why) == 0 && strcmp(r.cmd, "I2") == 0 && r.has_text) {
                f->simulated = mtsics_i2_simulated(r.text);
                for (int cut = 0; cut < 2; cut++) {
                    char *blank = strrchr(r.text, ' ');
                    if (blank)
                        *blank = '\0';
                }
                pd_strlcpy(f->model, r.text, sizeof f->model);
            }
            if (pd_transport_request(t, "I3", line, sizeof line, &len, sc->timeout_ms, NULL, &ignored) == 0 &&
                mtsics_parse(line, &r, why, sizeof why) == 0 && strcmp(r.cmd, "I3") == 0 && r.has_text)
                pd_strlcpy(f->firmware, r.text, sizeof f->firmware);
            for (size_t i = 0; i < sc->lib.n && !f->entry; i++)
                if (sc->lib.e[i].kind == LIB_MTSICS)
                    f->entry = &sc->lib.e[i];
            pd_transport_close(t);
            return TEXT_FOUND;
        }
        pd_transport_escape(line, len, heard, heard_size);
    }
    for (size_t i = 0; i < sc->lib.n; i++) {
        const struct lib_entry *q = &sc->lib.e[i];
        if (q->kind != LIB_LINE)
            continue;
        bool asked = false; /* the same request was sent for an earlier entry: already matched against all */
        for (size_t k = 0; k < i && !asked; k++)
            asked = sc->lib.e[k].kind == LIB_LINE && strcmp(sc->lib.e[k].id_request, q->id_request) == 0 &&
                    strcmp(sc->lib.e[k].port.terminator, q->port.terminator) == 0;
        if (asked)
            continue;
        if (pd_transport_set_framing(t, q->port.terminator, (size_t)q->port.max_line, &ignored) < 0 ||
            pd_transport_request(t, q->id_request, line, sizeof line, &len, sc->timeout_ms, NULL, &ignored) < 0)
            continue;
        if (result == TEXT_SILENT)
            pd_transport_escape(line, len, heard, heard_size);
        result = TEXT_ANSWERED;
        for (size_t k = i; k < sc->lib.n; k++) {
            const struct lib_entry *e = &sc->lib.e[k];
            struct sl_match m;
            char why[160];
            if (e->kind != LIB_LINE || strcmp(e->id_request, q->id_request) != 0 ||
                strcmp(e->port.terminator, q->port.terminator) != 0 ||
                sl_pattern_match(&e->id_pattern, line, &m, why, sizeof why) != 0)
                continue;
            f->kind = LIB_LINE;
            f->entry = e;
            copy_field(&e->id_pattern, &m, "serial", f->serial, sizeof f->serial);
            copy_field(&e->id_pattern, &m, "model", f->model, sizeof f->model);
            copy_field(&e->id_pattern, &m, "firmware", f->firmware, sizeof f->firmware);
            pd_transport_close(t);
            return TEXT_FOUND;
        }
    }
    pd_transport_close(t);
    return result;
}

/* Printable text of a report-slave-id answer: id byte, run indicator, then the device's bytes. */
static void slave_id_text(const uint8_t *buf, int n, char *out, size_t size)
{
    size_t o = 0;
    for (int i = 2; i < n && o + 1 < size; i++)
        if (buf[i] >= 0x20 && buf[i] < 0x7f)
            out[o++] = (char)buf[i];
    out[o] = '\0';
}

/* FC17 on a fresh context (freed here); 0 with the answer in `f`. Over TCP the driver's own
 * exchange asks (libmodbus refuses unit ids 248..254 there and does not check an answer's unit
 * id): an answer from another unit is no identification. */
static int probe_modbus(struct scan *sc, modbus_t *ctx, bool tcp, struct found *f)
{
    if (!ctx)
        return -1;
    modbus_set_response_timeout(ctx, (uint32_t)(sc->timeout_ms / 1000), (uint32_t)(sc->timeout_ms % 1000) * 1000u);
    int found = -1;
    struct pd_mb_tcp t = {.ctx = ctx, .unit = sc->unit, .response_timeout_ms = sc->timeout_ms};
    if (tcp ? pd_mb_tcp_connect(&t) == 0 : modbus_set_slave(ctx, sc->unit) == 0 && modbus_connect(ctx) == 0) {
        uint8_t buf[MODBUS_MAX_PDU_LENGTH];
        int n = tcp ? pd_mb_tcp_report_slave_id(&t, sizeof buf, buf) : modbus_report_slave_id(ctx, sizeof buf, buf);
        if (n > (int)sizeof buf)
            n = (int)sizeof buf;
        if (n >= 2) {
            f->kind = LIB_MODBUS;
            f->unit = sc->unit;
            f->slave_byte = buf[0];
            slave_id_text(buf, n, f->id_text, sizeof f->id_text);
            /* the longest configured prefix wins: "polydaq LF-1" before "polydaq" */
            size_t best = 0;
            for (size_t i = 0; i < sc->lib.n; i++) {
                const struct lib_entry *e = &sc->lib.e[i];
                size_t len = strlen(e->slave_id);
                if (e->kind == LIB_MODBUS && len > best && strncmp(f->id_text, e->slave_id, len) == 0) {
                    f->entry = e;
                    best = len;
                }
            }
            found = 0;
        }
        if (tcp)
            pd_mb_tcp_close(&t);
        else
            modbus_close(ctx);
    }
    modbus_free(ctx);
    return found;
}

/* Probes one port; returns 1 when an instrument was found (and printed). */
static int probe(struct scan *sc, const char *port)
{
    struct found f;
    memset(&f, 0, sizeof f);
    char heard[200] = "";
    struct pd_err err;
    pd_err_clear(&err);
    if (strncmp(port, "tcp://", 6) == 0) {
        char host[256];
        long p;
        if (!pd_transport_split_hostport(port + 6, host, sizeof host, &p)) {
            fprintf(stderr, "polydaq scan: %s: expected tcp://HOST:PORT\n", port);
            return 0;
        }
        char ps[16];
        snprintf(ps, sizeof ps, "%ld", p);
        pd_strlcpy(f.transport, port, sizeof f.transport);
        if (probe_modbus(sc, modbus_new_tcp_pi(host, ps), true, &f) == 0)
            return print_found(&f, &sc->names);
        fprintf(stderr, "polydaq scan: %s: no answer to Modbus report-slave-id\n", port);
        return 0;
    }
    bool rtu_only = strncmp(port, "rtu:", 4) == 0;
    const char *device = rtu_only ? port + 4 : port;
    bool tcp_raw = strncmp(port, "tcp-raw://", 10) == 0;
    size_t settings = tcp_raw || is_pty(device) ? 1 : N_BAUDS;
    if (!rtu_only) {
        for (size_t b = 0; b < settings; b++) {
            struct pd_serial_params sp;
            pd_serial_params_default(&sp);
            sp.baud = text_bauds[b];
            enum text_result r = probe_text(sc, port, &sp, &f, heard, sizeof heard, &err);
            if (r == TEXT_UNREACHABLE) {
                fprintf(stderr, "polydaq scan: %s: no answer: %s\n", port, err.msg);
                return 0;
            }
            if (r == TEXT_FOUND) {
                pd_strlcpy(f.transport, port, sizeof f.transport);
                f.line_settings = !tcp_raw;
                f.baud = sp.baud;
                f.parity = PD_PARITY_NONE;
                return print_found(&f, &sc->names);
            }
            if (r == TEXT_ANSWERED) {
                /* it talks text at this speed, so it is no Modbus RTU device either */
                fprintf(stderr,
                        "polydaq scan: %s: answered '%s' at %ld baud 8N1, but neither as MT-SICS nor as an "
                        "instrument of the library\n",
                        port, heard, sp.baud);
                return 0;
            }
        }
        if (tcp_raw) {
            fprintf(stderr, "polydaq scan: %s: no answer to MT-SICS I4 or the library's identify requests\n", port);
            return 0;
        }
    }
    static const char parities[] = {'E', 'N'};
    for (size_t b = 0; b < settings; b++)
        for (size_t q = 0; q < sizeof parities; q++) {
            memset(&f, 0, sizeof f);
            if (probe_modbus(sc, modbus_new_rtu(device, (int)modbus_bauds[b], parities[q], 8, 1), false, &f) == 0) {
                snprintf(f.transport, sizeof f.transport, "rtu:%s", device);
                f.line_settings = true;
                f.baud = modbus_bauds[b];
                f.parity = parities[q] == 'E' ? PD_PARITY_EVEN : PD_PARITY_NONE;
                return print_found(&f, &sc->names);
            }
        }
    fprintf(stderr, "polydaq scan: %s: no answer to %sModbus report-slave-id\n", port,
            rtu_only ? "" : "MT-SICS I4, the library's identify requests or ");
    return 0;
}

static int list_ports(void)
{
    struct pd_port_info *ports = NULL;
    size_t n = 0;
    struct pd_err err;
    if (pd_transport_list_ports(&ports, &n, &err) < 0)
        return cli_fail(&err);
    if (n == 0)
        printf("no serial ports found (ptys are not listed: name them with --probe)\n");
    for (size_t i = 0; i < n; i++) {
        printf("%s\t%s\t%s", ports[i].name, ports[i].kind, ports[i].description);
        if (ports[i].usb_vid >= 0)
            printf("\tUSB %04x:%04x", ports[i].usb_vid, ports[i].usb_pid);
        if (ports[i].usb_serial[0])
            printf("\tserial %s", ports[i].usb_serial);
        if (ports[i].usb_manufacturer[0] || ports[i].usb_product[0])
            printf("\t%s %s", ports[i].usb_manufacturer, ports[i].usb_product);
        putchar('\n');
    }
    free(ports);
    return PD_EXIT_OK;
}

static int scan_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"probe", no_argument, NULL, 'p'},
                                             {"library", required_argument, NULL, 'l'},
                                             {"unit", required_argument, NULL, 'u'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool do_probe = false;
    const char *library = NULL;
    long unit = 1, timeout_ms = 300;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "pl:u:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': do_probe = true; break;
        case 'l': library = optarg; break;
        case 'u':
            if (!pd_parse_long(optarg, &unit) || unit < 0 || unit > 255)
                return cli_usage_error("scan", "--unit must be 0..255 (1..247 on a serial line), not '%s'", optarg);
            break;
        case 't':
            if (!pd_parse_long(optarg, &timeout_ms) || timeout_ms < 10 || timeout_ms > 10000)
                return cli_usage_error("scan", "--timeout must be 10..10000 ms, not '%s'", optarg);
            break;
        case 'h': fputs(scan_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("scan", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!do_probe && optind < argc)
        return cli_usage_error("scan", "ports are named only with --probe");
    if (!do_probe)
        return list_ports();
    /* A serial line's unit ids are 1..247 (0 is broadcast: no answer); only Modbus TCP takes 0..255. */
    if (unit < 1 || unit > 247) {
        if (optind == argc)
            return cli_usage_error("scan", "--unit %ld is for Modbus TCP only: name tcp://HOST:PORT ports (the "
                                           "listed serial ports take 1..247)", unit);
        for (int i = optind; i < argc; i++)
            if (strncmp(argv[i], "tcp://", 6) != 0 && strncmp(argv[i], "tcp-raw://", 10) != 0)
                return cli_usage_error("scan", "--unit %ld is for Modbus TCP only: %s is a serial line (unit ids "
                                               "1..247)", unit, argv[i]);
    }
    if (library && !is_dir(library))
        return cli_usage_error("scan", "--library %s is not a directory", library);

    struct scan *sc = calloc(1, sizeof *sc);
    if (!sc) {
        fprintf(stderr, "polydaq scan: out of memory\n");
        return PD_EXIT_RUNTIME;
    }
    sc->unit = (int)unit;
    sc->timeout_ms = (int)timeout_ms;
    char dir[4096];
    if (library)
        pd_strlcpy(dir, library, sizeof dir);
    if ((library || default_library(dir, sizeof dir)) && library_load(dir, &sc->lib) < 0 && library) {
        free(sc);
        return PD_EXIT_USAGE;
    }
    if (!library && sc->lib.n == 0)
        fprintf(stderr, "polydaq scan: no instrument library found (--library DIR): generic sections only\n");

    int found = 0, rc = PD_EXIT_OK;
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            found += probe(sc, argv[i]);
    } else {
        struct pd_port_info *ports = NULL;
        size_t n = 0;
        struct pd_err err;
        if (pd_transport_list_ports(&ports, &n, &err) < 0)
            rc = cli_fail(&err);
        for (size_t i = 0; i < n; i++)
            found += probe(sc, ports[i].name);
        free(ports);
    }
    library_free(&sc->lib);
    free(sc);
    if (rc != PD_EXIT_OK)
        return rc;
    return found > 0 ? PD_EXIT_OK : PD_EXIT_RUNTIME;
}

const struct cli_command cli_cmd_scan = {
    .name = "scan",
    .synopsis = "scan [--probe [PORT]...] [--library DIR]",
    .summary = "list serial ports; identify instruments and print config snippets",
    .main = scan_main,
};
