/*
 * stations.c — the test stations of `polydaq serve --lab FILE`: the lab config's instruments (a
 * run configuration such as config/station-demo.yaml), GET /api/v1/stations with each one's live
 * series, and the per-series copy of the config that `polydaq run` is started with.
 *
 * A caliper (a line-protocol instrument) belongs to the station listed before it in `instruments`
 * and one listed before every station to each station without a caliper of its own. A run locks
 * every instrument of its config, so two series side by side need a caliper each: a series' config
 * keeps only its station's calipers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"

/* The text at `key` of `map`: an error names the map's place when it is missing, the value's
 * when it is not a text of 1..size-1 bytes. */
static int set_field(char *dst, size_t size, const struct pd_cfg_node *map, const char *key, struct pd_err *err)
{
    const struct pd_cfg_node *node = pd_cfg_map_get(map, key);
    if (!node)
        return pd_cfg_error(err, map, "'%s' is missing", key);
    const char *s = pd_cfg_scalar(node);
    if (!s || !s[0] || strlen(s) >= size)
        return pd_cfg_error(err, node, "'%s' must be a text of 1 to %zu bytes", key, size - 1);
    pd_strlcpy(dst, s, size);
    return 0;
}

int lab_load(const char *path, struct srv_lab **out, struct pd_err *err)
{
    struct srv_lab *lab = calloc(1, sizeof *lab);
    if (!lab)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        free(lab);
        return pd_err_set_os(err, PD_ECONFIG, errno, "--lab", "cannot open '%s'", path);
    }
    pd_strlcpy(lab->path, real, sizeof lab->path);
    pd_strlcpy(lab->dir, real, sizeof lab->dir);
    char *slash = strrchr(lab->dir, '/');
    if (slash)
        slash[slash == lab->dir ? 1 : 0] = '\0';
    int rc = pd_cfg_load_file(real, &lab->doc, err);
    if (rc < 0) {
        free(lab);
        return rc;
    }
    const struct pd_cfg_node *root = pd_cfg_root(lab->doc);
    const struct pd_cfg_node *run = pd_cfg_map_get(root, "run");
    const struct pd_cfg_node *insts = pd_cfg_map_get(root, "instruments");
    if (!run || pd_cfg_kind(run) != PD_CFG_MAP) {
        rc = pd_cfg_error(err, root, "a lab config for the stations needs a 'run' section (config/station-demo.yaml)");
        goto fail;
    }
    if ((rc = set_field(lab->method, sizeof lab->method, run, "method", err)) < 0)
        goto fail;
    if (!insts || pd_cfg_kind(insts) != PD_CFG_SEQ || pd_cfg_seq_len(insts) == 0) {
        rc = pd_cfg_error(err, insts ? insts : root, "'instruments' must be a list of at least one instrument");
        goto fail;
    }
    if (pd_cfg_seq_len(insts) > LAB_INSTRUMENTS_MAX) {
        rc = pd_cfg_error(err, insts, "at most %d instruments", LAB_INSTRUMENTS_MAX);
        goto fail;
    }
    int last_station = -1;
    for (size_t i = 0; i < pd_cfg_seq_len(insts); i++) {
        const struct pd_cfg_node *in = pd_cfg_seq_at(insts, i);
        struct lab_instrument *li = &lab->instruments[i];
        if (pd_cfg_kind(in) != PD_CFG_MAP) {
            rc = pd_cfg_error(err, in, "an instrument must be a map (name, driver, ...)");
            goto fail;
        }
        if ((rc = set_field(li->name, sizeof li->name, in, "name", err)) < 0 ||
            (rc = set_field(li->driver, sizeof li->driver, in, "driver", err)) < 0)
            goto fail;
        const struct pd_cfg_node *model = pd_cfg_map_get(in, "model");
        pd_strlcpy(li->model, model && pd_cfg_scalar(model) ? pd_cfg_scalar(model) : "", sizeof li->model);
        /* A station whose channels are listed and none is a force (a climate chamber) records; one
         * with a hardness channel is a durometer (ISO 868); a frame (or an instrument whose channels
         * the file leaves to its driver) tests. */
        bool force = false, hardness = false;
        const struct pd_cfg_node *chans = pd_cfg_map_get(in, "channels");
        bool listed = chans && pd_cfg_kind(chans) == PD_CFG_SEQ && pd_cfg_seq_len(chans) > 0;
        for (size_t c = 0; listed && c < pd_cfg_seq_len(chans); c++) {
            const struct pd_cfg_node *ch = pd_cfg_seq_at(chans, c);
            const struct pd_cfg_node *cn = pd_cfg_kind(ch) == PD_CFG_MAP ? pd_cfg_map_get(ch, "name") : NULL;
            const char *name = cn && pd_cfg_scalar(cn) ? pd_cfg_scalar(cn) : "";
            force = force || strcmp(name, "force") == 0;
            hardness = hardness || strcmp(name, "hardness") == 0;
        }
        pd_strlcpy(li->method, hardness ? "iso868" : force || !listed ? lab->method : "record", sizeof li->method);
        /* A line-protocol instrument measures dimensions (the caliper); it is part of every series,
         * not a station of its own. A durometer (also a line protocol) is a station. */
        li->caliper = strcmp(li->driver, "serial_line") == 0 && !hardness;
        li->station = li->caliper ? last_station : -1;
        if (!li->caliper)
            last_station = (int)i;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(lab->instruments[j].name, li->name) == 0) {
                rc = pd_cfg_error(err, in, "instrument name '%s' is used twice", li->name);
                goto fail;
            }
        }
        lab->n_instruments++;
    }
    *out = lab;
    return 0;
fail:
    pd_cfg_free(lab->doc);
    free(lab);
    return rc;
}

void lab_free(struct srv_lab *lab)
{
    if (!lab)
        return;
    pd_cfg_free(lab->doc);
    free(lab);
}

const struct lab_instrument *lab_station(const struct srv_lab *lab, const char *name)
{
    for (size_t i = 0; lab && i < lab->n_instruments; i++)
        if (!lab->instruments[i].caliper && strcmp(lab->instruments[i].name, name) == 0)
            return &lab->instruments[i];
    return NULL;
}

/* Whether instrument `i` is a caliper the station at index `station` uses: its own, or the shared
 * ones when it has none of its own. */
static bool caliper_of(const struct srv_lab *lab, size_t i, int station)
{
    const struct lab_instrument *li = &lab->instruments[i];
    if (!li->caliper)
        return false;
    if (li->station == station)
        return true;
    if (li->station >= 0)
        return false;
    for (size_t j = 0; j < lab->n_instruments; j++)
        if (lab->instruments[j].caliper && lab->instruments[j].station == station)
            return false;
    return true;
}

/* The name of the first caliper station `station` uses, or NULL. */
static const char *first_caliper(const struct srv_lab *lab, int station)
{
    for (size_t i = 0; i < lab->n_instruments; i++)
        if (caliper_of(lab, i, station))
            return lab->instruments[i].name;
    return NULL;
}

static int station_index(const struct srv_lab *lab, const char *name)
{
    const struct lab_instrument *li = lab_station(lab, name);
    return li ? (int)(li - lab->instruments) : -1;
}

/* The YAML tree as JSON, which YAML reads as it is (flow style): every scalar a string, which is
 * how the config module holds scalars anyway. */
static json_t *node_json(const struct pd_cfg_node *node)
{
    switch (pd_cfg_kind(node)) {
    case PD_CFG_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < pd_cfg_map_size(node); i++)
            json_object_set_new(o, pd_cfg_scalar(pd_cfg_map_key(node, i)), node_json(pd_cfg_map_value(node, i)));
        return o;
    }
    case PD_CFG_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < pd_cfg_seq_len(node); i++)
            json_array_append_new(a, node_json(pd_cfg_seq_at(node, i)));
        return a;
    }
    default: return json_string(pd_cfg_scalar(node) ? pd_cfg_scalar(node) : "");
    }
}

int lab_write_series_config(const struct srv_lab *lab, const char *instrument, const char *method, long specimens,
                            const char *material, const char *out_path, struct pd_err *err)
{
    json_t *root = node_json(pd_cfg_root(lab->doc));
    json_t *run = json_object_get(root, "run");
    bool recording = strcmp(method, "record") == 0;
    char num[32];
    snprintf(num, sizeof num, "%ld", recording ? 1 : specimens);
    if (strcmp(method, lab->method) != 0) /* the method section is the lab method's parameters */
        json_object_del(root, "method");
    if (recording) /* no specimens: no dimensions, no caliper */
        json_object_del(root, "specimen");
    if (strcmp(method, "iso868") == 0 && strcmp(lab->method, "iso868") != 0) /* the lab's is a tensile one */
        json_object_set_new(root, "specimen", json_pack("{s:s, s:s, s:s}", "scale", "A", "thickness", "6",
                                                        "dimensions", "prompt"));
    json_object_set_new(run, "method", json_string(method));
    json_object_set_new(run, "specimens", json_string(num));
    if (material && material[0])
        json_object_set_new(run, "material", json_string(material));
    /* Only the chosen station and its calipers: the others belong to other series (each run
     * locks every instrument of its config). */
    int station_i = station_index(lab, instrument);
    json_t *kept = json_array();
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(root, "instruments"), i, in)
    {
        if ((int)i == station_i || (!recording && caliper_of(lab, i, station_i)))
            json_array_append(kept, in);
    }
    json_object_set_new(root, "instruments", kept);
    /* The dimensions' caliper is the station's own (the lab file names the first station's). */
    json_t *specimen = json_object_get(root, "specimen");
    const char *named = json_string_value(json_object_get(specimen, "caliper"));
    if (named) {
        int named_i = -1;
        for (size_t j = 0; j < lab->n_instruments; j++)
            if (strcmp(lab->instruments[j].name, named) == 0)
                named_i = (int)j;
        const char *own = first_caliper(lab, station_i);
        bool keep = named_i >= 0 && caliper_of(lab, (size_t)named_i, station_i);
        if (!keep && own)
            json_object_set_new(specimen, "caliper", json_string(own));
        else if (!keep)
            json_object_del(specimen, "caliper");
    }
    /* The station key is relative to the lab file's folder; the copy lives elsewhere. */
    json_t *station = json_object_get(root, "station");
    const char *key = json_string_value(json_object_get(station, "key"));
    if (key && key[0] != '/') {
        char abs[PATH_MAX + 8];
        snprintf(abs, sizeof abs, "%s/%s", lab->dir, key);
        json_object_set_new(station, "key", json_string(abs));
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = pd_err_set_os(err, PD_EIO, errno, out_path, "cannot write the series' config");
    } else {
        size_t len = strlen(text), done = 0;
        while (done < len) {
            ssize_t n = write(fd, text + done, len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = pd_err_set_os(err, PD_EIO, errno, out_path, "cannot write the series' config");
                break;
            }
            done += (size_t)n;
        }
        if (close(fd) < 0 && rc == 0)
            rc = pd_err_set_os(err, PD_EIO, errno, out_path, "cannot write the series' config");
    }
    free(text);
    return rc;
}

/* GET /api/v1/stations: every station of the lab with its live series (lab staff only). */
int stations_list(struct srv_call *call)
{
    const struct srv_lab *lab = srv_lab(call->srv);
    if (!lab)
        return call_reply(call, 200, json_pack("{s:[],s:s}", "stations", "note",
                                               "no lab config: start the server with --lab FILE"));
    json_t *list = json_array();
    json_t *calipers = json_array();
    for (size_t i = 0; i < lab->n_instruments; i++) {
        const struct lab_instrument *li = &lab->instruments[i];
        if (li->caliper) {
            json_array_append_new(calipers, json_string(li->name));
            continue;
        }
        json_t *o = json_pack("{s:s,s:s,s:s}", "name", li->name, "driver", li->driver, "model", li->model);
        int64_t series = live_series_on(srv_hub(call->srv), li->name);
        json_object_set_new(o, "series_id", series ? json_integer(series) : json_null());
        json_t *state = NULL, *hello = NULL;
        if (series)
            live_describe(srv_hub(call->srv), series, &state, &hello);
        json_object_set_new(o, "state", series ? json_string("busy") : json_string("free"));
        json_object_set_new(o, "run_state", state ? state : json_null());
        const char *caliper = first_caliper(lab, (int)i);
        json_object_set_new(o, "caliper", caliper && strcmp(li->method, "record") != 0 ? json_string(caliper)
                                                                                      : json_null());
        json_object_set_new(o, "method", json_string(li->method));
        json_decref(hello);
        json_array_append_new(list, o);
    }
    return call_reply(call, 200,
                      json_pack("{s:o,s:o,s:s}", "stations", list, "calipers", calipers, "method", lab->method));
}
