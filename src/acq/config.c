/* config.c — the lab configuration file: schema tables for its sections and their validation. */
#include "acq/acq.h"

#include <stdlib.h>
#include <string.h>

#include "acq/acq_internal.h"
#include "driver/driver.h"

static const char *const root_keys_unused[] = {NULL};

struct root_sections {
    const struct pd_cfg_node *lab, *run, *specimen, *method, *instruments, *station;
};

static const struct pd_cfg_field root_fields[] = {
    {.key = "lab", .type = PD_CFG_T_MAP, .offset = offsetof(struct root_sections, lab), .required = true,
     .help = "the laboratory: name, address, operator"},
    {.key = "run", .type = PD_CFG_T_MAP, .offset = offsetof(struct root_sections, run), .required = true,
     .help = "the test series: method, specimens, poll rate"},
    {.key = "specimen", .type = PD_CFG_T_MAP, .offset = offsetof(struct root_sections, specimen),
     .help = "the specimens: type and measured dimensions (what the method needs)"},
    {.key = "method", .type = PD_CFG_T_MAP, .offset = offsetof(struct root_sections, method),
     .help = "method parameters (test speeds, temperatures...)"},
    {.key = "instruments", .type = PD_CFG_T_SEQ, .offset = offsetof(struct root_sections, instruments),
     .required = true, .help = "a list of instruments"},
    {.key = "station", .type = PD_CFG_T_MAP, .offset = offsetof(struct root_sections, station),
     .help = "the acquisition station that seals its run files: name, key"},
    {.key = NULL},
};

#define F(st, k) offsetof(st, k)
#define STR(st, k) .type = PD_CFG_T_STRING, .offset = F(st, k), .size = sizeof(((st *)0)->k)

static const struct pd_cfg_field lab_fields[] = {
    {.key = "name", STR(struct pd_acq_config, lab_name), .required = true, .help = "the laboratory's name"},
    {.key = "address", STR(struct pd_acq_config, lab_address), .def = "", .help = "postal address"},
    {.key = "operator", STR(struct pd_acq_config, operator_name), .required = true,
     .help = "the technician running the test"},
    {.key = NULL},
};

static const struct pd_cfg_field run_fields[] = {
    {.key = "method", .type = PD_CFG_T_STRING, .offset = F(struct pd_acq_config, method),
     .size = sizeof(((struct pd_acq_config *)0)->method), .required = true, .help = "the test method: iso527"},
    {.key = "specimens", .type = PD_CFG_T_INT, .offset = F(struct pd_acq_config, specimens), .min = 1,
     .max = 100, .def = "5", .help = "number of specimens in the series, 1..100"},
    {.key = "material", STR(struct pd_acq_config, material), .def = "", .help = "material designation"},
    {.key = "poll_rate_hz", .type = PD_CFG_T_DOUBLE, .offset = F(struct pd_acq_config, poll_rate_hz),
     .min = 0.1, .max = 10000, .def = "100", .help = "samples per second, 0.1..10000"},
    {.key = "specimen_timeout_s", .type = PD_CFG_T_DOUBLE, .offset = F(struct pd_acq_config, specimen_timeout_s),
     .min = 1, .max = 86400, .def = "600", .help = "longest a specimen may run, seconds"},
    {.key = "reconnect_timeout_s", .type = PD_CFG_T_DOUBLE, .offset = F(struct pd_acq_config, reconnect_timeout_s),
     .min = 0.1, .max = 86400, .def = "30", .help = "how long a lost instrument is retried before the run stops, seconds"},
    {.key = "no_data_timeout_s", .type = PD_CFG_T_DOUBLE, .offset = F(struct pd_acq_config, no_data_timeout_s),
     .min = 0.5, .max = 86400, .def = "10",
     .help = "how long an instrument may answer without delivering a sample before the run fails, seconds"},
    {.key = "store", .type = PD_CFG_T_MAP, .offset = F(struct pd_acq_config, store_section),
     .help = "how the run file is written: chunk_samples, deflate, flush_interval_s"},
    {.key = NULL},
};

static const char *const deflate_choices[] = {"none", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL};
#define PD_STR_(x) #x
#define PD_STR(x) PD_STR_(x)

struct store_options {
    long chunk_samples;
    int deflate_choice;
    double flush_interval_s;
};

static const struct pd_cfg_field store_fields[] = {
    {.key = "chunk_samples", .type = PD_CFG_T_INT, .offset = offsetof(struct store_options, chunk_samples),
     .min = 64, .max = 1048576, .def = PD_STR(PD_STORE_DEFAULT_CHUNK),
     .help = "samples per HDF5 chunk, 64..1048576"},
    {.key = "deflate", .type = PD_CFG_T_ENUM, .offset = offsetof(struct store_options, deflate_choice),
     .choices = deflate_choices, .def = PD_STR(PD_STORE_DEFAULT_DEFLATE),
     .help = "compression: none, or a shuffle + deflate level 0..9"},
    {.key = "flush_interval_s", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct store_options, flush_interval_s),
     .min = 0.05, .max = 600, .def = "1", .help = "seconds between flushes to disk (what a crash can lose)"},
    {.key = NULL},
};

struct station {
    char name[128];
    char key[4096];
};

static const struct pd_cfg_field station_fields[] = {
    {.key = "name", STR(struct station, name), .required = true, .help = "the station's name, as its seals state it"},
    {.key = "key", STR(struct station, key), .required = true,
     .help = "the station's secret key file (polydaq keygen --station NAME), relative to this file's folder"},
    {.key = NULL},
};

/* The station section: its key path resolved against the config file's folder (an embedded
 * config, "<embedded>/...", has none: relative to the working folder). The key itself is loaded
 * when a run starts. */
static int decode_station(struct pd_acq_config *cfg, const struct pd_cfg_node *node, struct pd_err *err)
{
    struct station st;
    memset(&st, 0, sizeof st);
    int rc = pd_cfg_decode(node, station_fields, NULL, &st, err);
    if (rc < 0)
        return rc;
    const struct pd_cfg_node *key_node = pd_cfg_map_get(node, "key");
    if (!st.name[0])
        return pd_cfg_error(err, pd_cfg_map_get(node, "name"), "the station needs a name");
    if (!st.key[0])
        return pd_cfg_error(err, key_node, "expected the path of the station's secret key file");
    const char *src = pd_cfg_source_name(cfg->doc);
    const char *slash = src ? strrchr(src, '/') : NULL;
    int n;
    if (st.key[0] == '/' || !slash || src[0] == '<')
        n = snprintf(cfg->station_key, sizeof cfg->station_key, "%s", st.key);
    else
        n = snprintf(cfg->station_key, sizeof cfg->station_key, "%.*s/%s", (int)(slash - src), src, st.key);
    if (n < 0 || (size_t)n >= sizeof cfg->station_key)
        return pd_cfg_error(err, key_node, "the key's path is too long");
    memcpy(cfg->station_name, st.name, sizeof cfg->station_name);
    cfg->station_key_node = key_node;
    return PD_OK;
}

/* The parts of an instrument section every driver shares. */
struct common_instrument {
    char name[32];
    char driver[32];
    char model[64];
    char serial[64];
    double poll_rate_hz;
    const struct pd_cfg_node *calibration;
    const struct pd_cfg_node *simulator;
};

static const struct pd_cfg_field instrument_fields[] = {
    {.key = "name", STR(struct common_instrument, name), .required = true, .help = "a short instrument name"},
    {.key = "driver", STR(struct common_instrument, driver), .required = true, .help = "a driver name, e.g. modbus"},
    {.key = "model", STR(struct common_instrument, model), .def = "", .help = "make and model"},
    {.key = "serial", STR(struct common_instrument, serial), .def = "", .help = "serial number"},
    {.key = "poll_rate_hz", .type = PD_CFG_T_DOUBLE, .offset = F(struct common_instrument, poll_rate_hz), .min = 0.1,
     .max = 10000, .help = "this instrument's samples per second, 0.1..10000 (default: the run's)"},
    {.key = "calibration", .type = PD_CFG_T_MAP, .offset = F(struct common_instrument, calibration),
     .help = "calibration: date, due, certificate"},
    {.key = "simulator", .type = PD_CFG_T_MAP, .offset = F(struct common_instrument, simulator),
     .help = "a simulator to start: program, args"},
    {.key = NULL},
};

struct calibration {
    char date[16], due[16], certificate[64];
};

static const struct pd_cfg_field calibration_fields[] = {
    {.key = "date", STR(struct calibration, date), .required = true, .help = "calibration date YYYY-MM-DD"},
    {.key = "due", STR(struct calibration, due), .required = true, .help = "next calibration due YYYY-MM-DD"},
    {.key = "certificate", STR(struct calibration, certificate), .def = "", .help = "calibration certificate id"},
    {.key = NULL},
};

struct simulator {
    char program[256];
    const struct pd_cfg_node *args;
};

static const struct pd_cfg_field simulator_fields[] = {
    {.key = "program", STR(struct simulator, program), .required = true,
     .help = "the simulator program, e.g. polydaq-sim"},
    {.key = "args", .type = PD_CFG_T_SEQ, .offset = F(struct simulator, args), .help = "a list of arguments"},
    {.key = NULL},
};

/* YYYY-MM-DD with a plausible month and day; the certification gate compares these as strings. */
static bool is_iso_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int decode_instrument(const struct pd_cfg_node *node, struct pd_acq_instrument_config *ic,
                             struct pd_err *err)
{
    struct common_instrument ci;
    memset(&ci, 0, sizeof ci);
    int rc = pd_cfg_decode(node, instrument_fields, pd_cfg_any_key, &ci, err);
    if (rc < 0)
        return rc;
    const struct pd_driver *drv = pd_driver_find(ci.driver);
    if (!drv) {
        char names[256] = "";
        for (size_t i = 0; i < pd_driver_count(); i++) {
            if (i)
                strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, pd_driver_at(i)->name, sizeof names - strlen(names) - 1);
        }
        return pd_cfg_error(err, pd_cfg_map_get(node, "driver"), "unknown driver '%s' (expected one of: %s)",
                            ci.driver, names);
    }
    /* Let the driver validate its part now (no I/O), so a typo fails before anything starts. */
    void *state = NULL;
    int vrc = drv->create(node, &state, err);
    if (vrc < 0)
        return vrc;
    drv->destroy(state);
    memcpy(ic->name, ci.name, sizeof ic->name);
    memcpy(ic->driver, ci.driver, sizeof ic->driver);
    memcpy(ic->model, ci.model, sizeof ic->model);
    memcpy(ic->serial, ci.serial, sizeof ic->serial);
    ic->poll_rate_hz = ci.poll_rate_hz;
    ic->node = node;
    if (ci.calibration) {
        struct calibration cal;
        memset(&cal, 0, sizeof cal);
        rc = pd_cfg_decode(ci.calibration, calibration_fields, NULL, &cal, err);
        if (rc < 0)
            return rc;
        /* `polydaq scan` writes placeholders in angle brackets: the lab's calibration record, not
         * a default, belongs there, so a run refuses them (docs/CERTIFICATES.md). */
        static const char *const keys[] = {"date", "due", "certificate"};
        const char *values[] = {cal.date, cal.due, cal.certificate};
        for (size_t k = 0; k < 3; k++)
            if (values[k][0] == '<')
                return pd_cfg_error(err, pd_cfg_map_get(ci.calibration, keys[k]),
                                    "'%s' is a placeholder left by `polydaq scan`: fill in the %s from the "
                                    "instrument's calibration certificate",
                                    values[k], k == 2 ? "certificate id" : k == 0 ? "calibration date" : "due date");
        if (!is_iso_date(cal.date))
            return pd_cfg_error(err, pd_cfg_map_get(ci.calibration, "date"), "expected a date YYYY-MM-DD");
        if (!is_iso_date(cal.due))
            return pd_cfg_error(err, pd_cfg_map_get(ci.calibration, "due"), "expected a date YYYY-MM-DD");
        memcpy(ic->calibration_date, cal.date, sizeof ic->calibration_date);
        memcpy(ic->calibration_due, cal.due, sizeof ic->calibration_due);
        memcpy(ic->calibration_id, cal.certificate, sizeof ic->calibration_id);
    }
    if (ci.simulator) {
        struct simulator sim;
        memset(&sim, 0, sizeof sim);
        rc = pd_cfg_decode(ci.simulator, simulator_fields, NULL, &sim, err);
        if (rc < 0)
            return rc;
        memcpy(ic->sim_program, sim.program, sizeof ic->sim_program);
        size_t n = sim.args ? pd_cfg_seq_len(sim.args) : 0;
        if (n > PD_ACQ_MAX_SIM_ARGS - 4)
            return pd_cfg_error(err, sim.args, "too many simulator arguments (at most %d)", PD_ACQ_MAX_SIM_ARGS - 4);
        for (size_t i = 0; i < n; i++) {
            const struct pd_cfg_node *a = pd_cfg_seq_at(sim.args, i);
            const char *text = pd_cfg_scalar(a);
            if (!text)
                return pd_cfg_error(err, a, "expected a string argument");
            if (pd_strlcpy(ic->sim_args[i], text, sizeof ic->sim_args[i]) < 0)
                return pd_cfg_error(err, a, "argument longer than %zu characters", sizeof ic->sim_args[i] - 1);
        }
        ic->sim_argc = n;
    }
    return PD_OK;
}

static int decode_all(struct pd_acq_config *cfg, struct pd_err *err)
{
    const struct pd_cfg_node *root = pd_cfg_root(cfg->doc);
    struct root_sections sec;
    memset(&sec, 0, sizeof sec);
    int rc = pd_cfg_decode(root, root_fields, root_keys_unused, &sec, err);
    if (rc < 0)
        return rc;
    if ((rc = pd_cfg_decode(sec.lab, lab_fields, NULL, cfg, err)) < 0)
        return rc;
    if ((rc = pd_cfg_decode(sec.run, run_fields, NULL, cfg, err)) < 0)
        return rc;
    struct store_options so;
    memset(&so, 0, sizeof so);
    if (cfg->store_section) {
        if ((rc = pd_cfg_decode(cfg->store_section, store_fields, NULL, &so, err)) < 0)
            return rc;
    } else {
        so.chunk_samples = PD_STORE_DEFAULT_CHUNK;
        so.deflate_choice = PD_STORE_DEFAULT_DEFLATE + 1;
        so.flush_interval_s = 1;
    }
    cfg->store_chunk_samples = so.chunk_samples;
    cfg->store_deflate = so.deflate_choice - 1;
    cfg->flush_interval_s = so.flush_interval_s;

    const struct acq_method *method = acq_method_find(cfg->method);
    if (!method) {
        char names[256];
        acq_method_names(names, sizeof names);
        return pd_cfg_error(err, pd_cfg_map_get(sec.run, "method"), "unknown method '%s' (expected one of: %s)",
                            cfg->method, names);
    }
    cfg->specimen_section = sec.specimen;
    cfg->method_section = sec.method;
    cfg->method_params = calloc(1, method->params_size ? method->params_size : 1);
    if (!cfg->method_params)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if ((rc = method->configure(cfg, cfg->method_params, err)) < 0)
        return rc;
    size_t n = pd_cfg_seq_len(sec.instruments);
    if (n == 0)
        return pd_cfg_error(err, sec.instruments, "at least one instrument is needed");
    if (n > PD_ACQ_MAX_INSTRUMENTS)
        return pd_cfg_error(err, sec.instruments, "too many instruments (%zu, at most %d)", n, PD_ACQ_MAX_INSTRUMENTS);
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *node = pd_cfg_seq_at(sec.instruments, i);
        if ((rc = decode_instrument(node, &cfg->instruments[i], err)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->instruments[j].name, cfg->instruments[i].name) == 0)
                return pd_cfg_error(err, pd_cfg_map_get(node, "name"), "duplicate instrument name '%s'",
                                    cfg->instruments[i].name);
        cfg->n_instruments = i + 1;
    }
    if (sec.station && (rc = decode_station(cfg, sec.station, err)) < 0)
        return rc;
    return PD_OK;
}

static int finish_load(struct pd_cfg_doc *doc, struct pd_acq_config **out, struct pd_err *err)
{
    struct pd_acq_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        pd_cfg_free(doc);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    cfg->doc = doc;
    int rc = decode_all(cfg, err);
    if (rc < 0) {
        pd_acq_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return PD_OK;
}

int pd_acq_config_load_file(const char *path, struct pd_acq_config **out, struct pd_err *err)
{
    struct pd_cfg_doc *doc;
    int rc = pd_cfg_load_file(path, &doc, err);
    if (rc < 0)
        return rc;
    return finish_load(doc, out, err);
}

int pd_acq_config_load_string(const char *name, const char *text, struct pd_acq_config **out,
                              struct pd_err *err)
{
    struct pd_cfg_doc *doc;
    int rc = pd_cfg_load_string(name, text, strlen(text), &doc, err);
    if (rc < 0)
        return rc;
    return finish_load(doc, out, err);
}

void pd_acq_config_free(struct pd_acq_config *cfg)
{
    if (!cfg)
        return;
    pd_cfg_free(cfg->doc);
    free(cfg->method_params);
    free(cfg);
}
