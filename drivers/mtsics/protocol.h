/* protocol.h — MT-SICS response lines (Mettler Toledo standard interface command set) parsed into
 * their parts, without I/O: `<cmd> <status> [data...] [unit]` and the bare ES/ET/EL errors. */
#ifndef PD_MTSICS_PROTOCOL_H
#define PD_MTSICS_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

enum mtsics_kind {
    MTSICS_DONE,       /* A: command carried out */
    MTSICS_MORE,       /* B: more lines follow */
    MTSICS_STABLE,     /* S: stable weight (or stable-status reply without a weight) */
    MTSICS_DYNAMIC,    /* D: dynamic (not stable) weight */
    MTSICS_BUSY,       /* I: understood, not executable now (busy, or no stability in time) */
    MTSICS_LOGIC,      /* L: logical error / bad parameter */
    MTSICS_OVERLOAD,   /* + */
    MTSICS_UNDERLOAD,  /* - */
    MTSICS_ERR_SYNTAX, /* ES: command not understood */
    MTSICS_ERR_TRANSMISSION, /* ET: parity error / break */
    MTSICS_ERR_LOGIC,  /* EL: logical error */
};

#define MTSICS_CMD_MAX 8
#define MTSICS_UNIT_MAX 8
#define MTSICS_TEXT_MAX 128

struct mtsics_reply {
    enum mtsics_kind kind;
    char cmd[MTSICS_CMD_MAX]; /* "S", "Z", "I4"; empty for ES/ET/EL */
    bool has_weight;          /* a number and a unit followed the status */
    double weight;            /* as sent, in `unit` */
    char weight_text[32];     /* the number exactly as sent ("12345.6"), for exact unit conversion */
    char unit[MTSICS_UNIT_MAX];
    bool has_text;            /* a quoted string followed the status (I2, I3, I4) */
    char text[MTSICS_TEXT_MAX];
};

/* Parses one line (terminator already stripped). Returns 0, or -1 with the reason in `why`
 * (garbage, unknown status, a weight field carrying an error text, overlong fields). */
int mtsics_parse(const char *line, struct mtsics_reply *out, char *why, size_t why_size);

/* Grams per `unit` for g, kg and mg; false for any other unit. */
bool mtsics_unit_to_grams(const char *unit, double *grams_per_unit);

/* The reply's weight in grams, converted on its decimal text (the decimal point moved by the
 * unit's power of ten, then rounded once to the nearest double): 12345.6 mg is exactly the double
 * nearest 12.3456, as if the balance had sent "12.3456 g", where multiplying 12345.6 by 0.001
 * gives 12.345600000000001. False without a weight or for a unit other than g, kg, mg. */
bool mtsics_weight_grams(const struct mtsics_reply *reply, double *grams);

/* The command whose reply a request gets ("SI" → "S", "@" → "I4", "TI" → "T"...). */
const char *mtsics_reply_cmd(const char *request);

/* True when an I2 text declares a simulator: one of its blank-separated words is exactly
 * MTSICS_SIMULATED_WORD. No balance type contains it, and polydaq-sim's balance always answers it,
 * so data from a simulator reached without a `simulator:` section is still marked simulated. */
#define MTSICS_SIMULATED_WORD "SIMULATED"
bool mtsics_i2_simulated(const char *i2_text);

/* A short name of the kind for messages ("stable", "overload", "syntax error (ES)"). */
const char *mtsics_kind_name(enum mtsics_kind kind);

#endif
