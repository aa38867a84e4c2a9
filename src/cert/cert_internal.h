/*
 * cert_internal.h — what the cert module's files share and nobody else needs: the table of test
 * methods (reportable properties with units and uncertainty sensitivities, parameters, how a
 * specimen of a run is evaluated and plotted), JSON helpers and the canonical form used for hashes
 * and signatures.
 */
#ifndef PD_CERT_INTERNAL_H
#define PD_CERT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "cert/cert.h"

struct pd_run;

#define CERT_MAX_PROPS 12
#define CERT_MAX_DEVIATIONS 16
#define CERT_DEVIATION_LEN 240

struct pd_cert_property {
    const char *name;   /* "tensile_modulus" */
    const char *unit;   /* reporting unit "MPa", "%" */
    double scale;       /* reported value = internal value · scale (strain fraction → %) */
    const char *symbol; /* "Et" for tables */
    double sens[PD_U_SOURCE_COUNT]; /* uncertainty sensitivities, see pd_uncertainty_standard */
};

/* A method parameter: numbers, booleans (0/1) or one of `choices` (its index). */
struct cert_param_spec {
    const char *key;
    double def;
    double min, max;             /* bounds for numbers when min < max */
    bool boolean;
    const char *const *choices;  /* NULL-terminated, or NULL */
    const char *help;
};

/* One specimen's evaluation. `value` in reporting units; dims feed the uncertainty budget. */
struct cert_values {
    bool has[CERT_MAX_PROPS];
    double value[CERT_MAX_PROPS];
    double width_mm, thickness_mm, length_mm;
    /* Standard uncertainties the method computes itself from the specimen's own data (the noise and
     * fit of the curve, an absolute displacement error over the span a result covers), in reporting
     * units; combined in quadrature with the budget's terms. 0 = none. */
    double u_extra[CERT_MAX_PROPS];
    json_t *dimensions; /* recorded specimen dimensions/attributes shown on the certificate (owned) */
    json_t *info;       /* evaluation details: points used, flags (owned; may stay NULL) */
    /* The plot curve from the data the evaluation read anyway, so the PDF need not read the run
     * again. Asked for with want_curve; a method may leave it empty (then its curve() is used). */
    bool want_curve;
    struct cert_curve {
        double *x, *y;
        size_t n;
        const char *x_label, *y_label;
    } curve;
    /* Arrays the caller keeps across specimens (NULL: the method allocates its own): a method
     * reading large channels reads them into these with pd_run_read_channel_into, so a series
     * touches the memory of one specimen instead of one per specimen. `run_path` is the file. */
    struct cert_scratch *scratch;
    const char *run_path;
};

#define CERT_SCRATCH_ARRAYS 3
struct cert_scratch {
    double *a[CERT_SCRATCH_ARRAYS];
    size_t cap[CERT_SCRATCH_ARRAYS];
};
void cert_scratch_free(struct cert_scratch *s);

/* A curve to plot, from raw data (malloc'd arrays, freed by cert_curve_free). */
void cert_curve_free(struct cert_curve *c);
/* Thins a curve for a plot without a visible change: consecutive points that fall into the same
 * one of CERT_PLOT_COLUMNS columns across the curve's x-range become the first and last of them,
 * plus the lowest and highest when those stick out of that segment by more than 1/CERT_PLOT_ROWS
 * of the y-range (so spikes and drops stay). A plot is never wider than the curve's own x-range,
 * so a column is at most 1/CERT_PLOT_COLUMNS of the plot (0.5 pt on the certificate). */
#define CERT_PLOT_COLUMNS 1000
#define CERT_PLOT_ROWS 2000
void cert_curve_thin(struct cert_curve *c);
/* The same on arrays the caller keeps (scratch): thinned in place, the kept points copied into
 * the curve's own small arrays. PD_ENOMEM leaves the curve empty. */
int cert_curve_thin_from(double *x, double *y, size_t n, struct cert_curve *c);
/* The dark modules of a w × w QR code (bit 0 of each byte, as libqrencode gives them) as few
 * disjoint rectangles covering exactly them, for a PDF that writes every corner as text. rect[i] =
 * {column, row, columns, rows}; rect holds w·w entries, covered w·w bytes of scratch. Returns the count. */
size_t cert_qr_rects(const unsigned char *modules, int w, unsigned char *covered, int (*rect)[4]);


/* The curves of a certificate's evaluated specimens, in the order of its specimens. */
#define CERT_MAX_CURVES 24
struct cert_curve_set {
    struct cert_curve c[CERT_MAX_CURVES];
    char names[CERT_MAX_CURVES][64];
    size_t n;
    bool missing;  /* a run file named on the certificate could not be opened */
    bool plotable; /* the method has curves */
};
void cert_curve_set_free(struct cert_curve_set *cs);

struct cert_method {
    const char *id;
    const char *title;    /* default title */
    const char *standard; /* default standard with edition */
    const char *conditioning;
    long specimens;
    double speed_mm_min;
    const struct pd_method_channel *channels; /* default channel list */
    size_t n_channels;
    const struct pd_cert_property *props;
    size_t n_props;
    const struct cert_param_spec *params;
    size_t n_params;
    struct pd_uncertainty_budget budget; /* default budget */
    /* Evaluates specimen s. Returns 0 (with *evaluated telling whether it could be, else `reason`),
     * or PD_ENOMEM. */
    int (*evaluate)(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t reason_size);
    /* The curve of specimen s for the certificate's plot; NULL for methods without curves. */
    int (*curve)(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_curve *out);
    /* The ways the def's parameters depart from the standard's procedure (a smoothing window, toe
     * compensation, another modulus range...), one sentence each for the certificate (ISO/IEC
     * 17025 7.8.2.1 / 7.2.2); returns how many (at most max). NULL: the method has none. */
    size_t (*deviations)(const struct pd_method_def *def, char (*out)[CERT_DEVIATION_LEN], size_t max);
};

extern const struct cert_method cert_method_iso527, cert_method_iso178, cert_method_iso179, cert_method_iso1133,
    cert_method_iso868, cert_method_iso1183, cert_method_iso75, cert_method_iso306;

const struct cert_method *cert_method_find(const char *id);
/* The properties of a method, NULL (count 0) for an unknown method. */
const struct pd_cert_property *pd_cert_method_properties(const char *method, size_t *count);
/* Index of a property within its method's table, -1 when the method does not report it. */
int pd_cert_property_index(const char *method, const char *property);

/* pd_tensile_evaluate on arrays the caller gives up (the ISO 527 adapter's freshly read channels):
 * force becomes stress in MPa, the strain source (extension, or crosshead in Method A) becomes
 * strain as a fraction — toe-shifted when compensated — and the crosshead nominal strain, in
 * place, so a 100 000-point specimen needs no copies. `dims` gives n and the dimensions; `finite`:
 * the caller has seen every value of the arrays finite (cert_drop_unread_rows), not looked at again. */
int cert_tensile_evaluate_in_place(double *force, double *extension, double *crosshead_mm,
                                   const struct pd_tensile_specimen *dims, bool finite,
                                   const struct pd_tensile_params *p, struct pd_tensile_result *out,
                                   struct pd_err *err);

/* The uncertainty section of a method file: "k", one double per budget input (its offset into
 * struct pd_uncertainty_budget names the source), "repeatability". The one table that both reads
 * method files (methods.c) and writes a certificate's method definition (certify.c). */
struct pd_cfg_field;
const struct pd_cfg_field *cert_budget_fields(void);

/* The maximum search ISO 527 (σy, σm) and ISO 178 (σfM) share (tensile.c; docs/CERTIFICATES.md
 * "Maximum and yield"): a running maximum of the curve averaged over a window that follows its
 * measured noise, confirmed by a fall of a band relative to the curve's highest stress and to
 * that noise; the value from a local parabola (the sample itself on a noise-free curve). */
struct cert_max_params {
    double arm_strain;   /* a maximum counts only beyond this strain (e2) */
    double hysteresis;   /* least fall that confirms it, fraction of the highest stress */
    double smoothing;    /* fixed moving-average width in strain (> 0: a deviation); 0 = automatic */
    double slip_window, slip_min_drop; /* grip slips skipped (window 0: no detection) */
    double noise;        /* the curve's noise SD when already measured (cert_noise_sd); < 0: measure it */
};
struct cert_max_result {
    size_t index;            /* sample of the maximum */
    double value, strain;    /* at the maximum */
    double raw_max;          /* highest raw sample within the averaging window */
    size_t half_width;       /* samples each side used for the value (0: the sample itself) */
    double noise;            /* measured noise SD of y */
    double band;             /* the fall that confirms a maximum */
    bool confirmed;          /* y fell by the band after it */
    size_t confirm_index;
    bool fracture;           /* the data end within YIELD_CONTINUES of its strain after it */
    bool sudden;             /* a single step fell more than the band and 10 σ√2 */
    double sudden_strain, sudden_drop;
    bool higher_later;       /* a stress above it by the band came later */
    double higher_value;     /* the highest averaged stress after the confirmation */
};
int cert_find_maximum(const double *x, const double *y, size_t n, const struct cert_max_params *p,
                      struct cert_max_result *out, struct pd_tensile_result *slips);
/* Robust noise SD of a sampled curve: 1.4826·median|Δ⁴y|/√70 (0 for fewer than 9 samples; on
 * long curves over every k-th difference, at most 16384 of them). */
int cert_noise_sd(const double *y, size_t n, double *sd);
/* The part of a curve a modulus over [e1, e2] reads (ISO 527-1 10.3, ISO 178 9.3 share it): the
 * data must start at or before e1 and reach e2; the rising part is [0, *seg), the samples up to the
 * first beyond e2 + beyond (kept: e2's upper neighbour); at least min_points of them lie within
 * [e1, e2] (*in_range). Otherwise false, and `reason` says which ("modulus range not reached: ...",
 * "modulus range too sparse: ..."), with the strain named `what` ("strain", "flexural strain") and
 * the limits e1_name/e2_name ("e1", "εf1"); `broke` tells whether the data end at a break. */
bool cert_modulus_range(const double *strain, size_t count, double e1, double e2, double beyond, size_t min_points,
                        bool broke, const char *what, const char *e1_name, const char *e2_name, size_t *seg,
                        size_t *in_range, char *reason, size_t reason_size);

/* ---- run-reading helpers for the method adapters (methods.c) --------------------------------*/
/* Reads a channel of the def's channel list by name, checking its unit; on failure writes the
 * reason and returns PD_EDATA (PD_ENOMEM for memory). *instrument may be NULL. */
int cert_read_channel(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name,
                      double **data, size_t *n, size_t *instrument, char *reason, size_t reason_size);
/* The same into scratch array `slot` of v (v->scratch and v->run_path set); *data then points
 * into the scratch and is not the caller's to free. */
int cert_read_channel_into(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name,
                           struct cert_values *v, size_t slot, double **data, size_t *n, size_t *instrument,
                           char *reason, size_t reason_size);
/* Rows in which the acquisition could not read a channel hold NaN there and carry PD_Q_UNREAD in
 * their quality (a failed request of a partly read poll). The evaluation uses the rows that were
 * read: the columns of specimen s (NULL ones skipped; all from the instrument of `channel`) are
 * compacted in place, dropping every row marked unread that has a NaN in any of them; *n becomes
 * the new row count, *dropped the rows left out (said on the certificate). A NaN in a row not
 * marked unread stays, for the evaluation to refuse as damaged data. *finite (when not NULL) tells
 * whether every value of the columns was finite, so that the evaluation need not look again.
 * PD_ENOMEM, or 0. */
int cert_drop_unread_rows(struct pd_run *run, size_t s, const char *channel, double *const *cols, size_t n_cols,
                          size_t *n, size_t *dropped, bool *finite);
/* Says on the certificate how many rows cert_drop_unread_rows left out (the evaluation's
 * "unread_samples" and a sentence in its warnings); nothing when none. */
void cert_note_unread_rows(json_t *info, json_t *warnings, size_t dropped, bool *ok);
/* Whether two unit spellings name the same unit ("°C" and "degC" do; otherwise exact). */
bool cert_unit_equal(const char *a, const char *b);
/* A channel's unit as the def requires it ("" when the def does not list the channel). */
const char *cert_channel_unit(const struct pd_method_def *def, const char *name);
/* A positive finite specimen attribute; PD_EDATA with the reason otherwise. */
int cert_attr_positive(struct pd_run *run, size_t s, const char *key, double *out, char *reason, size_t reason_size);
void cert_say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Temperature at a deflection/penetration threshold (ISO 75, ISO 306 share it; method_iso75.c). */
int cert_threshold_evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *channel,
                            double threshold, struct cert_values *out, bool *evaluated, char *reason, size_t rsize);
int cert_threshold_curve(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *channel,
                         struct cert_curve *c);

/* ---- JSON ---------------------------------------------------------------------------------*/
/* Every insertion goes through these so one flag tells whether any failed. */
void cert_jset(json_t *obj, const char *key, json_t *value, bool *ok);
void cert_jappend(json_t *arr, json_t *value, bool *ok);
json_t *cert_jstr(const char *s);   /* NULL → null; invalid UTF-8 → a marker string */
json_t *cert_jreal(double x);       /* non-finite → null */
/* The canonical form: compact, keys sorted, reals with 17 significant digits, without the
 * top-level keys listed (NULL-terminated). malloc'd; NULL on memory failure. */
char *cert_canonical(const json_t *doc, const char *const *without);
/* SHA-256 of a string as hex. */
void cert_sha256_hex(const void *data, size_t len, char hex[65]);
/* Writes text to path: exclusively (fails with PD_ESTATE if it exists) or replacing it atomically
 * through a temporary file + rename. */
int cert_write_file(const char *path, const char *text, bool exclusive, struct pd_err *err);

/* ---- document building / audit log ---------------------------------------------------------*/
/* Builds the certificate body (everything but number, status, approvals, signature) from runs. */
struct cert_build {
    const char *const *run_paths;
    size_t n_runs;
    const struct pd_spec *spec;
    const struct pd_method_def *method;
    const char *request_id, *customer;
    bool hash_files; /* record the SHA-256 of every raw file */
    struct pd_cert_hashing *hashing; /* with hash_files: started by the caller, or NULL */
    bool *hashing_taken;             /* set once cert_build_document has taken `hashing` over (it
                                      * then finishes it on every path); before, the caller must */
    struct cert_curve_set *curves; /* when set: filled with the thinned plot curves (for the PDF) */
    /* The station keys whose seals count for accreditation (docs/CERTIFICATES.md §6); none: no
     * run is accredited. */
    const struct pd_public_key *trusted_stations;
    size_t n_trusted_stations;
    /* Recomputing a certificate made before seals were checked (its runs[] have no `seal`): the
     * gate as it was then — calibration and simulated data only, no seal, imported, recovered. */
    bool gate_before_seals;
};
/* The station keys a certificate records as trusted when it was made (runs[].seal.key_trusted),
 * for recomputing it: at most `max` into keys; returns how many. */
size_t cert_trusted_stations_of(const json_t *doc, struct pd_public_key *keys, size_t max);
int cert_build_document(const struct cert_build *b, json_t **doc_out, enum pd_verdict *verdict, bool *accredited,
                        size_t *n_specimens, size_t *n_failed, struct pd_err *err);
/* The effective method `d` (of base method `m`) as a complete method file: every header field,
 * channel, parameter and uncertainty input written out, so loading it takes nothing from the
 * running build's defaults; recorded as the certificate's method.definition. malloc'd; NULL when
 * out of memory. */
char *cert_method_definition(const struct pd_method_def *d, const struct cert_method *m);
/* The effective method a certificate records (its `method` object): from method.definition, the
 * complete method file certify writes, with method.file/text kept as provenance; for an older
 * certificate without one, its method text or the built-in defaults with every parameter taken
 * from method.parameters (`note` then says so). Nothing comes from the running build's defaults
 * when the definition is there. */
int cert_method_from_doc(const json_t *method, struct pd_method_def *def, char *note, size_t note_size,
                         struct pd_err *err);
/* The exports of a registry certificate: DIR/ID.json written atomically from the registry's text
 * and, with `pdf`, DIR/ID.pdf rendered to a temporary name, signed (PAdES, when the certificate
 * is issued and `lab_key` is given: cert_pdf_sign_issued) and renamed (export.c). */
struct pd_registry;
struct pd_registry_cert;
int cert_export_one(const struct pd_registry_cert *c, const char *dir, bool json, bool pdf, const char *lab_key,
                    struct pd_err *err);
/* The content hash of a certificate: SHA-256 of its canonical form without status, approvals,
 * audit and signature — what reviewer and authorizer approve. */
int cert_content_hash(const json_t *doc, char hex[65]);
/* ---- strict reading of documents (jsonio.c) ---------------------------------------------------*/
/* Reads a JSON document whole: duplicate keys, NUL, invalid UTF-8, a BOM and trailing text are
 * refused (PD_EDATA naming path:line:column, "not a <what>: ..."). With text_out, the file's bytes
 * (malloc'd, NUL-terminated, *len_out bytes) are handed over too. */
int cert_load_json(const char *path, const char *what, json_t **out, char **text_out, size_t *len_out,
                   struct pd_err *err);
/* A certificate (an object with certificate_id and status). exact_form: also its bytes must be
 * cert_document_text of what was parsed (a final newline allowed), else PD_EDATA "not a canonical
 * polydaq certificate" naming the first differing line:column. */
int cert_load_certificate(const char *path, bool exact_form, json_t **out, struct pd_err *err);
/* The text certify and approve write a certificate as (malloc'd). */
char *cert_document_text(const json_t *doc);
/* ---- verification (verify.c; the audit-log part in issue.c) -----------------------------------*/
void cert_report_line(struct pd_verify_report *r, bool fail, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cert_verify_audit_log(const json_t *doc, const char *dir, struct pd_verify_report *r);
/* The registry's word on a certificate (verify --registry DIR, verify_registry.c), as more lines
 * of the report: its state there (withdrawn / superseded → FAIL), the lab key that signed it
 * registered there and active at issue, its document the one the registry issued, and both
 * approvals signed by keys registered with those roles and active at the approval's time, over
 * the content the certificate has now. Negative only when the registry cannot be read. */
int cert_verify_registry(const json_t *doc, const char *registry_dir, struct pd_verify_report *r, struct pd_err *err);
/* The lab keys registered in DIR's registry (every one, disabled too: each is trusted for what it
 * signed while active, which cert_verify_registry checks), for verify's trust anchors. */
/* Sets the document's "verification_url" to BASE/v/ID when the registry records the lab's
 * verification base URL (pd_registry_verify_url), so the QR code leads to the lab's page; without
 * one the document has no such member (verification_url.c). */
int cert_set_verification_url(struct pd_registry *reg, json_t *doc, const char *id, struct pd_err *err);
int cert_registry_lab_keys(const char *registry_dir, struct pd_public_key **keys, char (**names)[128], size_t *n,
                           struct pd_err *err);
/* Renders the PDF; `curves` from cert_build_document, or NULL to read them from the run files. */
int cert_render_pdf_doc(const json_t *doc, const struct cert_curve_set *curves, const char *pdf_path,
                        struct pd_err *err);
/* The SHA-256 of the document's whole canonical JSON, which the PDF's QR code carries, as another
 * thread computes it while the PDF is laid out (certify's writer thread): cert_doc_hash_wait
 * blocks until cert_doc_hash_set (hex "" when it could not be computed). */
struct cert_doc_hash {
    pthread_mutex_t lock;
    pthread_cond_t ready_cv;
    bool ready;
    char hex[65];
    /* The QR code of the certificate number and that hash, encoded and covered by rectangles
     * (cert_qr_rects) on the same thread: n_rects 0 when it could not be, then the PDF does it. */
    char qr_payload[200];
    int qr_width;
    size_t n_rects;
    int (*rects)[4];
};
void cert_doc_hash_init(struct cert_doc_hash *h);
void cert_doc_hash_set(struct cert_doc_hash *h, const json_t *doc);
void cert_doc_hash_wait(struct cert_doc_hash *h, char hex[65]);
void cert_doc_hash_destroy(struct cert_doc_hash *h);
/* cert_render_pdf_doc with that hash from another thread (NULL: computed here). */
int cert_render_pdf_hashed(const json_t *doc, const struct cert_curve_set *curves, const char *pdf_path,
                           struct cert_doc_hash *doc_hash, struct pd_err *err);
/* ---- PAdES signature of the issued PDF (x509.c, pdf_parse.c, pdf_sign.c) --------------------*/
/* Beside the lab's Ed25519 key: its X.509 identity for PDF signatures (self-made by keygen --x509,
 * or the CA-issued certificate, chain after it in the same PEM file, and its key placed there). */
#define CERT_X509_CRT_FILE "lab.crt"
#define CERT_X509_KEY_FILE "lab-x509.key"
struct cert_x509_signer {
    struct x509_st *crt;           /* the signing certificate (OpenSSL X509) */
    struct stack_st_X509 *chain;   /* the certificates after it in the file (may be empty) */
    struct evp_pkey_st *key;       /* its secret key (OpenSSL EVP_PKEY) */
    char name[256];                /* subject CN (or O): the signer a reader shows */
};
/* Loads certificate (+ chain) and key; the key must not be readable by group or others and must
 * belong to the certificate. cert_x509_close frees what load filled. */
int cert_x509_load(const char *crt_path, const char *key_path, struct cert_x509_signer *out, struct pd_err *err);
void cert_x509_close(struct cert_x509_signer *s);

/* What pdf_parse.c finds in a PDF: spans of the file's own bytes. */
struct cert_pdf_span {
    size_t off, len;
};
#define CERT_PDF_MAX_ENTRIES 64
struct cert_pdf_entry {
    struct cert_pdf_span key, value; /* key with its '/'; value one object or "N G R" */
};
struct cert_pdf_dict {
    size_t n;
    struct cert_pdf_entry e[CERT_PDF_MAX_ENTRIES];
};
struct cert_pdf_obj {
    long long num, gen;
    size_t off; /* of "N G obj" */
    struct cert_pdf_dict dict;
};
struct cert_pdf_doc {
    size_t startxref;            /* the newest cross-reference table */
    long long size;              /* trailer /Size: the next object number */
    struct cert_pdf_span info, id; /* trailer /Info and /ID values (len 0: absent) */
    struct cert_pdf_obj catalog;
    struct cert_pdf_obj page;    /* the first page */
};
/* Parses a complete PDF with cross-reference tables (what cairo 1.16 writes) far enough for an
 * incremental update. PD_EDATA naming the byte for anything else (cross-reference streams,
 * truncation, a damaged table, a catalog with a form already). `name` is the file, for messages. */
int cert_pdf_parse(const unsigned char *pdf, size_t len, const char *name, struct cert_pdf_doc *out,
                   struct pd_err *err);
const struct cert_pdf_entry *cert_pdf_dict_get(const unsigned char *pdf, const struct cert_pdf_dict *d,
                                               const char *key);
/* Room reserved for the DER CMS signature in /Contents (a CA-issued RSA-4096 chain fits). */
#define CERT_PDF_SIG_MAX 12288
/* Signs the PDF in place with a PAdES B-B signature (an incremental update: a signature field on
 * page 1, /SubFilter /ETSI.CAdES.detached, a detached CMS SignedData over the byte range): the
 * signed file goes to a temporary file, is fsync'ed and renamed over the original, which is left
 * untouched on any error. `reason` goes to /Reason; `time_ns` (UTC) to /M. */
int cert_pdf_sign(const char *pdf_path, const struct cert_x509_signer *signer, const char *reason, int64_t time_ns,
                  struct pd_err *err);
/* After issue: when the folder of the lab's Ed25519 key (`lab_key_path`) holds lab.crt and
 * lab-x509.key, signs the issued certificate's PDF, naming its number and the SHA-256 of its
 * canonical JSON (the QR code's) in /Reason. 0 without doing anything when neither file is there;
 * an error when only one is. */
int cert_pdf_sign_issued(const char *pdf_path, const char *lab_key_path, const json_t *doc, struct pd_err *err);
/* Splits "dir/CERT-1.json" into its folder ("." when none). */
void cert_dirname(const char *path, char *dir, size_t size);

#endif /* PD_CERT_INTERNAL_H */
