/* config_test.c — the config module: node tree with positions and paths, every load error with its
 * exact file:line:column, typed getters, and the schema decoder. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* ---- helpers -------------------------------------------------------------------------------*/
static int load(const char *text, struct pd_cfg_doc **doc, struct pd_err *err)
{
    pd_err_clear(err);
    return pd_cfg_load_string("t.yaml", text, strlen(text), doc, err);
}

/* Loading must fail with PD_ECONFIG, exactly this message, and leave *out alone. */
static void expect_load_error(const char *text, const char *msg)
{
    struct pd_cfg_doc *sentinel = (struct pd_cfg_doc *)&sentinel;
    struct pd_cfg_doc *doc = sentinel;
    struct pd_err err;
    int rc = load(text, &doc, &err);
    if (rc != PD_ECONFIG || strcmp(err.msg, msg) != 0)
        print_error("input:\n%s\nwant: %s\ngot(%d): %s\n", text, msg, rc, err.msg);
    assert_int_equal(rc, PD_ECONFIG);
    assert_int_equal(err.code, PD_ECONFIG);
    assert_string_equal(err.msg, msg);
    assert_ptr_equal(doc, sentinel);
}

static struct pd_cfg_doc *must_load(const char *text)
{
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    int rc = load(text, &doc, &err);
    if (rc != 0)
        print_error("unexpected load failure: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(doc);
    return doc;
}

static void assert_where(const struct pd_cfg_node *n, int line, int column)
{
    assert_non_null(n);
    assert_int_equal(pd_cfg_line(n), line);
    assert_int_equal(pd_cfg_column(n), column);
}

static void assert_path(const struct pd_cfg_node *n, const char *want)
{
    char buf[256];
    pd_cfg_path(n, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* ---- parsing good documents ------------------------------------------------------------------*/
static const char nested_text[] =
    "lab:\n"                             /* 1 */
    "  name: Test Lab\n"                 /* 2 */
    "instruments:\n"                     /* 3 */
    "  - name: frame1\n"                 /* 4 */
    "    channels:\n"                    /* 5 */
    "      - {name: force, address: 4}\n" /* 6 */
    "      - {name: ext, address: 6}\n"  /* 7 */
    "      - name: crosshead\n"          /* 8 */
    "        address: 8\n"               /* 9 */
    "    tags: [a, \"b c\", 'd']\n"      /* 10 */
    "empty:\n"                           /* 11 */
    "tilde: ~\n"                         /* 12 */
    "quoted_null: \"null\"\n";           /* 13 */

static void test_nested_block_and_flow(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(nested_text);
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    assert_int_equal(pd_cfg_kind(root), PD_CFG_MAP);
    assert_int_equal(pd_cfg_map_size(root), 5);
    assert_where(root, 1, 1);
    assert_path(root, "");

    assert_string_equal(pd_cfg_scalar(pd_cfg_map_key(root, 0)), "lab");
    assert_where(pd_cfg_map_key(root, 0), 1, 1);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_key(root, 4)), "quoted_null");
    assert_null(pd_cfg_map_key(root, 5));
    assert_null(pd_cfg_map_value(root, 5));

    const struct pd_cfg_node *lab = pd_cfg_map_get(root, "lab");
    assert_int_equal(pd_cfg_kind(lab), PD_CFG_MAP);
    assert_where(lab, 2, 3);
    assert_ptr_equal(pd_cfg_map_value(root, 0), lab);
    const struct pd_cfg_node *lab_name = pd_cfg_map_get(lab, "name");
    assert_string_equal(pd_cfg_scalar(lab_name), "Test Lab");
    assert_where(lab_name, 2, 9);
    assert_path(lab_name, "lab.name");

    const struct pd_cfg_node *insts = pd_cfg_map_get(root, "instruments");
    assert_int_equal(pd_cfg_kind(insts), PD_CFG_SEQ);
    assert_int_equal(pd_cfg_seq_len(insts), 1);
    assert_where(insts, 4, 3);
    const struct pd_cfg_node *inst = pd_cfg_seq_at(insts, 0);
    assert_where(inst, 4, 5);
    assert_path(inst, "instruments[0]");
    assert_null(pd_cfg_seq_at(insts, 1));

    const struct pd_cfg_node *chans = pd_cfg_map_get(inst, "channels");
    assert_int_equal(pd_cfg_seq_len(chans), 3);
    assert_where(chans, 6, 7);
    const struct pd_cfg_node *c0 = pd_cfg_seq_at(chans, 0);
    assert_int_equal(pd_cfg_kind(c0), PD_CFG_MAP);
    assert_where(c0, 6, 9);
    assert_where(pd_cfg_map_key(c0, 1), 6, 23);
    assert_path(pd_cfg_map_key(c0, 1), "instruments[0].channels[0].address");
    const struct pd_cfg_node *a0 = pd_cfg_map_get(c0, "address");
    assert_string_equal(pd_cfg_scalar(a0), "4");
    assert_where(a0, 6, 32);

    const struct pd_cfg_node *c2 = pd_cfg_seq_at(chans, 2);
    assert_where(c2, 8, 9);
    const struct pd_cfg_node *a2 = pd_cfg_map_get(c2, "address");
    assert_string_equal(pd_cfg_scalar(a2), "8");
    assert_where(a2, 9, 18);
    assert_path(a2, "instruments[0].channels[2].address");
    char where[64];
    pd_cfg_where(a2, where, sizeof where);
    assert_string_equal(where, "t.yaml:9:18");

    const struct pd_cfg_node *tags = pd_cfg_map_get(inst, "tags");
    assert_int_equal(pd_cfg_kind(tags), PD_CFG_SEQ);
    assert_where(tags, 10, 11);
    assert_int_equal(pd_cfg_seq_len(tags), 3);
    assert_string_equal(pd_cfg_scalar(pd_cfg_seq_at(tags, 0)), "a");
    assert_string_equal(pd_cfg_scalar(pd_cfg_seq_at(tags, 1)), "b c");
    assert_where(pd_cfg_seq_at(tags, 1), 10, 15);
    assert_string_equal(pd_cfg_scalar(pd_cfg_seq_at(tags, 2)), "d");
    assert_path(pd_cfg_seq_at(tags, 2), "instruments[0].tags[2]");

    /* Null values are the empty string; a quoted "null" is text. */
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(root, "empty")), "");
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(root, "tilde")), "");
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(root, "quoted_null")), "null");

    /* Asking the wrong kind of node gives nothing rather than garbage. */
    assert_null(pd_cfg_scalar(root));
    assert_null(pd_cfg_map_get(insts, "name"));
    assert_null(pd_cfg_map_get(root, "nope"));
    assert_int_equal(pd_cfg_map_size(insts), 0);
    assert_int_equal(pd_cfg_seq_len(root), 0);
    assert_null(pd_cfg_seq_at(root, 0));
    assert_null(pd_cfg_map_key(insts, 0));

    assert_string_equal(pd_cfg_source_text(doc), nested_text);
    assert_string_equal(pd_cfg_source_name(doc), "t.yaml");
    pd_cfg_free(doc);
}

static void test_root_sequence_paths(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load("- [1, [2, 3]]\n- {k: v}\n");
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    const struct pd_cfg_node *three = pd_cfg_seq_at(pd_cfg_seq_at(pd_cfg_seq_at(root, 0), 1), 1);
    assert_string_equal(pd_cfg_scalar(three), "3");
    assert_path(three, "[0][1][1]");
    assert_where(three, 1, 11);
    assert_path(pd_cfg_map_get(pd_cfg_seq_at(root, 1), "k"), "[1].k");
    pd_cfg_free(doc);
}

static void test_error_formatting(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(nested_text);
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    const struct pd_cfg_node *a2 = pd_cfg_map_get(
        pd_cfg_seq_at(pd_cfg_map_get(pd_cfg_seq_at(pd_cfg_map_get(root, "instruments"), 0),
                                     "channels"),
                      2),
        "address");
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(pd_cfg_error(&err, a2, "register %d is read-only", 8), PD_ECONFIG);
    assert_int_equal(err.code, PD_ECONFIG);
    assert_string_equal(err.where, "t.yaml:9:18");
    assert_string_equal(err.msg, "t.yaml:9:18: instruments[0].channels[2].address: register 8 is read-only");

    /* The root has no path: the message goes straight after the position. */
    assert_int_equal(pd_cfg_error(&err, root, "no lab section"), PD_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:1:1: no lab section");
    /* A NULL err is allowed. */
    assert_int_equal(pd_cfg_error(NULL, root, "dropped"), PD_ECONFIG);
    pd_cfg_free(doc);
}

static void test_source_text_kept_exactly(void **state)
{
    (void)state;
    const char *text = "# comment kept\nk: 'v'   # trailing\n\n";
    struct pd_cfg_doc *doc = must_load(text);
    assert_string_equal(pd_cfg_source_text(doc), text);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_root(doc), "k")), "v");
    pd_cfg_free(doc);
}

/* ---- load errors ---------------------------------------------------------------------------*/
static void test_syntax_errors(void **state)
{
    (void)state;
    /* The continuation line makes "1 b" one plain scalar; its ':' is then illegal. */
    expect_load_error("a: 1\n  b: 2\n", "t.yaml:2:4: mapping values are not allowed in this context");
    expect_load_error("key: value\n- item\n",
                      "t.yaml:2:1: did not find expected key (while parsing a block mapping at line 1, "
                      "column 1)");
    expect_load_error("a: [1, 2\n",
                      "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at "
                      "line 1, column 4)");
}

static void test_bad_encoding_position(void **state)
{
    (void)state;
    expect_load_error("a: 1\nb: \xff\n", "t.yaml:2:4: invalid leading UTF-8 octet");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct pd_cfg_doc *sentinel = (struct pd_cfg_doc *)&sentinel;
    struct pd_cfg_doc *doc = sentinel;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_cfg_load_file("/nonexistent-polydaq/lab.yaml", &doc, &err);
    assert_int_equal(rc, PD_EIO);
    assert_int_equal(err.os_errno, ENOENT);
    assert_string_equal(err.where, "/nonexistent-polydaq/lab.yaml");
    assert_string_equal(err.msg,
                        "/nonexistent-polydaq/lab.yaml: cannot open the file: No such file or directory");
    assert_ptr_equal(doc, sentinel);

    /* A directory opens but cannot be read. */
    rc = pd_cfg_load_file("/", &doc, &err);
    assert_int_equal(rc, PD_EIO);
    assert_int_equal(err.os_errno, EISDIR);
    assert_ptr_equal(doc, sentinel);
}

static void test_empty_document(void **state)
{
    (void)state;
    expect_load_error("", "t.yaml:1:1: the document is empty");
    expect_load_error("# only a comment\n\n", "t.yaml:1:1: the document is empty");
    expect_load_error("---\n", "t.yaml:2:1: the document is empty");
    expect_load_error("~\n", "t.yaml:1:1: the document is empty");
}

static void test_more_than_one_document(void **state)
{
    (void)state;
    expect_load_error("a: 1\n---\nb: 2\n",
                      "t.yaml:2:1: a second document starts here; a config file holds exactly one");
}

static void test_aliases_refused(void **state)
{
    (void)state;
    expect_load_error("base: &b {x: 1}\nother: *b\n",
                      "t.yaml:1:7: base: anchor '&b': anchors and aliases are not supported");
    expect_load_error("a:\n  - 1\n  - *x\n", "t.yaml:3:5: a[1]: alias '*x': aliases are not supported");
    /* Merge keys need an alias too. */
    expect_load_error("a: {x: 1}\nb:\n  <<: *a\n",
                      "t.yaml:3:7: b.<<: alias '*a': aliases are not supported");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_load_error("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: a: duplicate key 'a' (first at line 1)");
    expect_load_error("name: a\n"  /* 1 */
                      "sub:\n"     /* 2 */
                      "  x: 1\n"   /* 3 */
                      "  y: 2\n"   /* 4 */
                      "  x: 3\n"   /* 5 */
                      "  y: 4\n",  /* 6 */
                      "t.yaml:5:3: sub.x: duplicate key 'x' (first at line 3)");
    expect_load_error("{p: 1, q: 2, p: 3}\n", "t.yaml:1:14: p: duplicate key 'p' (first at line 1)");
    /* Three times: the second occurrence is the one reported. */
    expect_load_error("k: 1\nj: 0\nk: 2\nk: 3\n", "t.yaml:3:1: k: duplicate key 'k' (first at line 1)");
    /* The same key in sibling maps is fine. */
    struct pd_cfg_doc *doc = must_load("- {x: 1}\n- {x: 2}\n");
    pd_cfg_free(doc);
}

static void test_non_scalar_keys(void **state)
{
    (void)state;
    expect_load_error("? [a, b]\n: 1\n", "t.yaml:1:3: a key must be plain text, found a sequence");
    expect_load_error("x: {{a: 1}: 2}\n", "t.yaml:1:5: x: a key must be plain text, found a map");
}

static void test_nul_in_scalar(void **state)
{
    (void)state;
    expect_load_error("a: \"x\\0y\"\n", "t.yaml:1:4: a: text contains a NUL character");
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char text[256];
    memset(text, '[', 64);
    memset(text + 64, ']', 64);
    strcpy(text + 128, "\n");
    struct pd_cfg_doc *doc = must_load(text);
    pd_cfg_free(doc);

    memset(text, '[', 65);
    memset(text + 65, ']', 65);
    strcpy(text + 130, "\n");
    struct pd_err err;
    doc = NULL;
    assert_int_equal(load(text, &doc, &err), PD_ECONFIG);
    assert_null(doc);
    assert_non_null(strstr(err.msg, ": nesting is deeper than 64 levels"));
    assert_int_equal(strncmp(err.msg, "t.yaml:1:65: [0][0]", 19), 0);
}

static char *temp_file(const char *content, size_t len)
{
    char *path = strdup("/tmp/pd_config_test_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, content + off, len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    close(fd);
    return path;
}

static void test_size_limit(void **state)
{
    (void)state;
    const size_t mib = (size_t)1 << 20;
    char *text = malloc(mib + 2);
    assert_non_null(text);
    /* Exactly 1 MiB: one key and a long comment. */
    memset(text, 'x', mib + 1);
    memcpy(text, "k: v\n#", 6);
    text[mib - 1] = '\n';
    text[mib] = '\0';

    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_string("big.yaml", text, mib, &doc, &err), 0);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_root(doc), "k")), "v");
    pd_cfg_free(doc);

    char *path = temp_file(text, mib);
    doc = NULL;
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), 0);
    assert_int_equal(strlen(pd_cfg_source_text(doc)), mib);
    pd_cfg_free(doc);
    unlink(path);
    free(path);

    /* One byte more is refused, from memory and from a file. */
    text[mib - 1] = 'x';
    text[mib] = '\n';
    doc = NULL;
    assert_int_equal(pd_cfg_load_string("big.yaml", text, mib + 1, &doc, &err), PD_ECONFIG);
    assert_null(doc);
    assert_string_equal(err.msg, "big.yaml: larger than 1 MiB; refusing to read it as a config");

    path = temp_file(text, mib + 1);
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), PD_ECONFIG);
    assert_null(doc);
    assert_non_null(strstr(err.msg, ": larger than 1 MiB; refusing to read it as a config"));
    assert_string_equal(err.where, path);
    unlink(path);
    free(path);
    free(text);
}

static void test_load_file(void **state)
{
    (void)state;
    const char *text = "unit: 7\nname: frame1\n";
    char *path = temp_file(text, strlen(text));
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), 0);
    assert_string_equal(pd_cfg_source_name(doc), path);
    assert_string_equal(pd_cfg_source_text(doc), text);
    const struct pd_cfg_node *name = pd_cfg_map_get(pd_cfg_root(doc), "name");
    char where[128], want[128];
    pd_cfg_where(name, where, sizeof where);
    snprintf(want, sizeof want, "%s:2:7", path);
    assert_string_equal(where, want);
    pd_cfg_free(doc);

    /* The syntax error names the real file. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("unit: 7\n  name: x\n", f);
    fclose(f);
    doc = NULL;
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), PD_ECONFIG);
    assert_null(doc);
    snprintf(want, sizeof want, "%s:2:7: mapping values are not allowed in this context", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    free(path);
}

/* ---- typed getters -------------------------------------------------------------------------*/
static const char getters_text[] =
    "d1: 12.5\n"        /* 1 */
    "d2: -3e2\n"        /* 2 */
    "d3: \"7\"\n"       /* 3 */
    "d4: .5\n"          /* 4 */
    "bad1: 12abc\n"     /* 5 */
    "bad2: \"\"\n"      /* 6 */
    "bad3: .inf\n"      /* 7 */
    "bad4: nan\n"       /* 8 */
    "bad5: 0x1p3\n"     /* 9 */
    "bad6: 1e400\n"     /* 10 */
    "l1: 42\n"          /* 11 */
    "l2: 0x1F\n"        /* 12 */
    "l3: -17\n"         /* 13 */
    "l4: 010\n"         /* 14 */
    "l5: '99'\n"        /* 15 */
    "lbad1: 1.5\n"      /* 16 */
    "lbad2: 0x\n"       /* 17 */
    "lbad3: 99999999999999999999\n" /* 18 */
    "lbad4: \" 5\"\n"   /* 19 */
    "b1: yes\n"         /* 20 */
    "b2: OFF\n"         /* 21 */
    "b3: True\n"        /* 22 */
    "b4: 'no'\n"        /* 23 */
    "bbad: maybe\n"     /* 24 */
    "m: {a: 1}\n"       /* 25 */
    "s: [1]\n"          /* 26 */
    "e:\n";             /* 27; an empty value sits right after the colon */

static const struct pd_cfg_node *get(const struct pd_cfg_doc *doc, const char *key)
{
    const struct pd_cfg_node *n = pd_cfg_map_get(pd_cfg_root(doc), key);
    assert_non_null(n);
    return n;
}

static void expect_double_error(const struct pd_cfg_doc *doc, const char *key, const char *msg)
{
    struct pd_err err;
    pd_err_clear(&err);
    double v = 123.0;
    assert_int_equal(pd_cfg_get_double(get(doc, key), &v, &err), PD_ECONFIG);
    assert_string_equal(err.msg, msg);
    assert_true(v == 123.0);
}

static void expect_long_error(const struct pd_cfg_doc *doc, const char *key, const char *msg)
{
    struct pd_err err;
    pd_err_clear(&err);
    long v = 123;
    assert_int_equal(pd_cfg_get_long(get(doc, key), &v, &err), PD_ECONFIG);
    assert_string_equal(err.msg, msg);
    assert_int_equal(v, 123);
}

static void test_get_double(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(getters_text);
    struct pd_err err;
    double v;
    assert_int_equal(pd_cfg_get_double(get(doc, "d1"), &v, &err), 0);
    assert_true(v == 12.5);
    assert_int_equal(pd_cfg_get_double(get(doc, "d2"), &v, &err), 0);
    assert_true(v == -300.0);
    assert_int_equal(pd_cfg_get_double(get(doc, "d3"), &v, &err), 0);
    assert_true(v == 7.0);
    assert_int_equal(pd_cfg_get_double(get(doc, "d4"), &v, &err), 0);
    assert_true(v == 0.5);
    assert_int_equal(pd_cfg_get_double(get(doc, "l1"), &v, &err), 0);
    assert_true(v == 42.0);

    expect_double_error(doc, "bad1", "t.yaml:5:7: bad1: expected a number, found '12abc'");
    expect_double_error(doc, "bad2", "t.yaml:6:7: bad2: expected a number, found an empty value");
    expect_double_error(doc, "bad3", "t.yaml:7:7: bad3: expected a number, found '.inf'");
    expect_double_error(doc, "bad4", "t.yaml:8:7: bad4: expected a number, found 'nan'");
    expect_double_error(doc, "bad5", "t.yaml:9:7: bad5: expected a number, found '0x1p3'");
    expect_double_error(doc, "bad6", "t.yaml:10:7: bad6: number '1e400' is out of range");
    expect_double_error(doc, "m", "t.yaml:25:4: m: expected a number, found a map");
    expect_double_error(doc, "s", "t.yaml:26:4: s: expected a number, found a sequence");
    expect_double_error(doc, "e", "t.yaml:27:3: e: expected a number, found an empty value");
    pd_cfg_free(doc);
}

static void test_get_long(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(getters_text);
    struct pd_err err;
    long v;
    assert_int_equal(pd_cfg_get_long(get(doc, "l1"), &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(pd_cfg_get_long(get(doc, "l2"), &v, &err), 0);
    assert_int_equal(v, 31);
    assert_int_equal(pd_cfg_get_long(get(doc, "l3"), &v, &err), 0);
    assert_int_equal(v, -17);
    /* A leading zero is decimal, never octal. */
    assert_int_equal(pd_cfg_get_long(get(doc, "l4"), &v, &err), 0);
    assert_int_equal(v, 10);
    assert_int_equal(pd_cfg_get_long(get(doc, "l5"), &v, &err), 0);
    assert_int_equal(v, 99);

    expect_long_error(doc, "lbad1", "t.yaml:16:8: lbad1: expected an integer, found '1.5'");
    expect_long_error(doc, "lbad2", "t.yaml:17:8: lbad2: expected an integer, found '0x'");
    expect_long_error(doc, "lbad3", "t.yaml:18:8: lbad3: integer '99999999999999999999' is out of range");
    expect_long_error(doc, "lbad4", "t.yaml:19:8: lbad4: expected an integer, found ' 5'");
    expect_long_error(doc, "bad1", "t.yaml:5:7: bad1: expected an integer, found '12abc'");
    expect_long_error(doc, "m", "t.yaml:25:4: m: expected an integer, found a map");
    pd_cfg_free(doc);
}

static void test_get_bool(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(getters_text);
    struct pd_err err;
    bool v = false;
    assert_int_equal(pd_cfg_get_bool(get(doc, "b1"), &v, &err), 0);
    assert_true(v);
    assert_int_equal(pd_cfg_get_bool(get(doc, "b2"), &v, &err), 0);
    assert_false(v);
    assert_int_equal(pd_cfg_get_bool(get(doc, "b3"), &v, &err), 0);
    assert_true(v);
    assert_int_equal(pd_cfg_get_bool(get(doc, "b4"), &v, &err), 0);
    assert_false(v);

    v = true;
    pd_err_clear(&err);
    assert_int_equal(pd_cfg_get_bool(get(doc, "bbad"), &v, &err), PD_ECONFIG);
    assert_string_equal(err.msg,
                        "t.yaml:24:7: bbad: expected a boolean (true/false, yes/no, on/off), found 'maybe'");
    assert_true(v);
    assert_int_equal(pd_cfg_get_bool(get(doc, "s"), &v, &err), PD_ECONFIG);
    assert_string_equal(err.msg,
                        "t.yaml:26:4: s: expected a boolean (true/false, yes/no, on/off), found a sequence");
    assert_int_equal(pd_cfg_get_bool(get(doc, "l1"), &v, &err), PD_ECONFIG);
    pd_cfg_free(doc);
}

/* ---- schema decoding -----------------------------------------------------------------------*/
static const char *const order_names[] = {"ABCD", "CDAB", "BADC", "DCBA", NULL};
static const char *const parity_names[] = {"none", "even", "odd", NULL};

struct instrument {
    char name[16];
    char transport[64];
    long unit;
    long port;
    double timeout_s;
    bool enabled;
    int order;
    const struct pd_cfg_node *channels;
    const struct pd_cfg_node *options;
    const struct pd_cfg_node *extra;
    long retries;
    double scale;
    bool verbose;
    int parity;
    char label[8];
};

static const struct pd_cfg_field instrument_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, .offset = offsetof(struct instrument, name),
     .size = sizeof(((struct instrument *)0)->name), .required = true, .help = "the instrument's name"},
    {.key = "transport", .type = PD_CFG_T_STRING, .offset = offsetof(struct instrument, transport),
     .size = sizeof(((struct instrument *)0)->transport), .required = true,
     .help = "tcp://host:port or rtu:/dev/ttyX"},
    {.key = "unit", .type = PD_CFG_T_INT, .offset = offsetof(struct instrument, unit),
     .required = true, .min = 1, .max = 247, .help = "a Modbus unit id 1..247"},
    {.key = "port", .type = PD_CFG_T_INT, .offset = offsetof(struct instrument, port), .min = 1,
     .max = 65535, .help = "a TCP port 1..65535"},
    {.key = "timeout_s", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct instrument, timeout_s),
     .min = 0.001, .max = 60, .def = "0.5", .help = "seconds, 0.001..60"},
    {.key = "enabled", .type = PD_CFG_T_BOOL, .offset = offsetof(struct instrument, enabled),
     .def = "true"},
    {.key = "order", .type = PD_CFG_T_ENUM, .offset = offsetof(struct instrument, order),
     .choices = order_names, .def = "ABCD"},
    {.key = "channels", .type = PD_CFG_T_SEQ, .offset = offsetof(struct instrument, channels),
     .required = true, .help = "a list of channels"},
    {.key = "options", .type = PD_CFG_T_MAP, .offset = offsetof(struct instrument, options)},
    {.key = "extra", .type = PD_CFG_T_NODE, .offset = offsetof(struct instrument, extra)},
    {.key = "retries", .type = PD_CFG_T_INT, .offset = offsetof(struct instrument, retries),
     .def = "3"},
    {.key = "scale", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct instrument, scale),
     .def = "1.5"},
    {.key = "verbose", .type = PD_CFG_T_BOOL, .offset = offsetof(struct instrument, verbose),
     .def = "off"},
    {.key = "parity", .type = PD_CFG_T_ENUM, .offset = offsetof(struct instrument, parity),
     .choices = parity_names, .def = "even"},
    {.key = "label", .type = PD_CFG_T_STRING, .offset = offsetof(struct instrument, label),
     .size = sizeof(((struct instrument *)0)->label), .def = "dflt"},
    {.key = NULL},
};

static const char *const instrument_extras[] = {"simulator", "identity", NULL};

static const char all_keys[] = "name, transport, unit, port, timeout_s, enabled, order, channels, "
                               "options, extra, retries, scale, verbose, parity, label, simulator, "
                               "identity";

static void init_instrument(struct instrument *in)
{
    memset(in, 0, sizeof *in);
    in->port = -1; /* no default: must survive when absent */
    in->options = (const struct pd_cfg_node *)in; /* likewise for an absent map */
    in->retries = -1;
    in->scale = -1;
    in->verbose = true;
    in->parity = -1;
    strcpy(in->label, "init");
    in->enabled = false;
    in->order = -1;
    in->timeout_s = -1;
}

static void test_decode_all_types(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load("name: frame1\n"
                                       "transport: tcp://127.0.0.1:502\n"
                                       "unit: 0x10\n"
                                       "port: \"5020\"\n"
                                       "timeout_s: 2.5\n"
                                       "enabled: no\n"
                                       "order: DCBA\n"
                                       "channels: [force, extension]\n"
                                       "options: {a: 1}\n"
                                       "extra: [x]\n"
                                       "retries: 0\n"
                                       "scale: -2\n"
                                       "verbose: YES\n"
                                       "parity: odd\n"
                                       "label: 1234567\n");
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_cfg_decode(pd_cfg_root(doc), instrument_fields, NULL, &in, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(in.name, "frame1");
    assert_string_equal(in.transport, "tcp://127.0.0.1:502");
    assert_int_equal(in.unit, 16);
    assert_int_equal(in.port, 5020);
    assert_true(in.timeout_s == 2.5);
    assert_false(in.enabled);
    assert_int_equal(in.order, 3);
    assert_int_equal(pd_cfg_seq_len(in.channels), 2);
    assert_string_equal(pd_cfg_scalar(pd_cfg_seq_at(in.channels, 1)), "extension");
    assert_int_equal(pd_cfg_map_size(in.options), 1);
    assert_int_equal(pd_cfg_kind(in.extra), PD_CFG_SEQ);
    assert_int_equal(in.retries, 0);
    assert_true(in.scale == -2.0);
    assert_true(in.verbose);
    assert_int_equal(in.parity, 2);
    assert_string_equal(in.label, "1234567"); /* exactly fills char[8] */
    pd_cfg_free(doc);
}

static void test_decode_defaults(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load("name: frame1\ntransport: rtu:/dev/ttyS0\nunit: 247\nchannels: []\n");
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, NULL, &in, &err), 0);
    assert_int_equal(in.unit, 247);
    assert_true(in.timeout_s == 0.5);
    assert_true(in.enabled);
    assert_int_equal(in.order, 0);
    assert_int_equal(in.retries, 3);
    assert_true(in.scale == 1.5);
    assert_false(in.verbose);
    assert_int_equal(in.parity, 1);
    assert_string_equal(in.label, "dflt");
    assert_int_equal(pd_cfg_seq_len(in.channels), 0);
    assert_int_equal(pd_cfg_kind(in.channels), PD_CFG_SEQ);
    /* No default: what the caller put there stays. */
    assert_int_equal(in.port, -1);
    assert_ptr_equal(in.options, (const struct pd_cfg_node *)&in);
    assert_null(in.extra);
    pd_cfg_free(doc);
}

/* Decodes `text` and expects exactly `msg`. */
static void expect_decode_error(const char *text, const char *const *extras, const char *msg)
{
    struct pd_cfg_doc *doc = must_load(text);
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_cfg_decode(pd_cfg_root(doc), instrument_fields, extras, &in, &err);
    if (rc != PD_ECONFIG || strcmp(err.msg, msg) != 0)
        print_error("input:\n%s\nwant: %s\ngot(%d): %s\n", text, msg, rc, err.msg);
    assert_int_equal(rc, PD_ECONFIG);
    assert_int_equal(err.code, PD_ECONFIG);
    assert_string_equal(err.msg, msg);
    pd_cfg_free(doc);
}

#define BASE "name: frame1\ntransport: tcp://h:1\nunit: 1\nchannels: []\n" /* lines 1-4 */

static void test_decode_bounds(void **state)
{
    (void)state;
    expect_decode_error(BASE "port: 70000\n", NULL,
                        "t.yaml:5:7: port: value 70000 out of range 1..65535 (a TCP port 1..65535)");
    expect_decode_error(BASE "port: 0\n", NULL,
                        "t.yaml:5:7: port: value 0 out of range 1..65535 (a TCP port 1..65535)");
    expect_decode_error(BASE "timeout_s: 0.0001\n", NULL,
                        "t.yaml:5:12: timeout_s: value 0.0001 out of range 0.001..60 (seconds, 0.001..60)");
    expect_decode_error(BASE "timeout_s: 61\n", NULL,
                        "t.yaml:5:12: timeout_s: value 61 out of range 0.001..60 (seconds, 0.001..60)");
    expect_decode_error("name: a\ntransport: b\nunit: 248\nchannels: []\n", NULL,
                        "t.yaml:3:7: unit: value 248 out of range 1..247 (a Modbus unit id 1..247)");
    /* The bounds are inclusive. */
    struct pd_cfg_doc *doc = must_load(BASE "port: 65535\ntimeout_s: 60\n");
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, NULL, &in, &err), 0);
    assert_int_equal(in.port, 65535);
    assert_true(in.timeout_s == 60.0);
    pd_cfg_free(doc);
}

static void test_decode_wrong_types(void **state)
{
    (void)state;
    expect_decode_error(BASE "port: [1]\n", NULL,
                        "t.yaml:5:7: port: expected an integer, found a sequence (a TCP port 1..65535)");
    expect_decode_error(BASE "timeout_s: fast\n", NULL,
                        "t.yaml:5:12: timeout_s: expected a number, found 'fast' (seconds, 0.001..60)");
    expect_decode_error(BASE "enabled: 2\n", NULL,
                        "t.yaml:5:10: enabled: expected a boolean (true/false, yes/no, on/off), found '2'");
    expect_decode_error("name: {first: a}\ntransport: b\nunit: 1\nchannels: []\n", NULL,
                        "t.yaml:1:7: name: expected text, found a map (the instrument's name)");
    expect_decode_error("name: a\ntransport: b\nunit: 1\nchannels: {a: 1}\n", NULL,
                        "t.yaml:4:11: channels: expected a sequence, found a map (a list of channels)");
    expect_decode_error(BASE "options: [1, 2]\n", NULL,
                        "t.yaml:5:10: options: expected a map, found a sequence");
    expect_decode_error(BASE "options:\n", NULL,
                        "t.yaml:5:9: options: expected a map, found an empty value");
}

static void test_decode_enum(void **state)
{
    (void)state;
    expect_decode_error(BASE "order: XYZ\n", NULL,
                        "t.yaml:5:8: order: unknown value 'XYZ' (expected one of: ABCD, CDAB, BADC, DCBA)");
    expect_decode_error(BASE "order: abcd\n", NULL,
                        "t.yaml:5:8: order: unknown value 'abcd' (did you mean 'ABCD'?; expected one of: "
                        "ABCD, CDAB, BADC, DCBA)");
    expect_decode_error(BASE "parity: {}\n", NULL,
                        "t.yaml:5:9: parity: expected one of a fixed set of names, found a map");
}

static void test_decode_unknown_key(void **state)
{
    (void)state;
    char msg[512];
    snprintf(msg, sizeof msg,
             "t.yaml:5:1: tranport: unknown key 'tranport' (did you mean 'transport'?; expected one of: %s)",
             all_keys);
    /* Reported at the key, before the (then missing) required key. */
    expect_decode_error("name: frame1\nunit: 1\nchannels: []\nport: 1\ntranport: tcp://h:1\n",
                        instrument_extras, msg);
    snprintf(msg, sizeof msg,
             "t.yaml:5:1: simulatr: unknown key 'simulatr' (did you mean 'simulator'?; expected one of: "
             "%s)",
             all_keys);
    expect_decode_error(BASE "simulatr: {}\n", instrument_extras, msg);
    snprintf(msg, sizeof msg, "t.yaml:5:1: colour: unknown key 'colour' (expected one of: %s)", all_keys);
    expect_decode_error(BASE "colour: red\n", instrument_extras, msg);
    /* Case slips are caught by the hint. */
    expect_decode_error(BASE "Unit: 1\n", NULL,
                        "t.yaml:5:1: Unit: unknown key 'Unit' (did you mean 'unit'?; expected one of: name, "
                        "transport, unit, port, timeout_s, enabled, order, channels, options, extra, "
                        "retries, scale, verbose, parity, label)");
}

static void test_decode_extra_keys(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load(BASE "simulator: {program: x}\nidentity: {}\n");
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, instrument_extras, &in, &err), 0);
    assert_string_equal(in.name, "frame1");
    /* Without the list these keys are unknown. */
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, NULL, &in, &err), PD_ECONFIG);
    assert_int_equal(strncmp(err.msg, "t.yaml:5:1: simulator: unknown key 'simulator'", 46), 0);
    pd_cfg_free(doc);

    doc = must_load(BASE "anything: 1\nat_all: [2]\n");
    init_instrument(&in);
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, pd_cfg_any_key, &in, &err), 0);
    assert_int_equal(in.unit, 1);
    pd_cfg_free(doc);
}

static void test_decode_missing_required(void **state)
{
    (void)state;
    expect_decode_error("name: frame1\ntransport: tcp://h:1\nchannels: []\n", NULL,
                        "t.yaml:1:1: missing required key 'unit' (a Modbus unit id 1..247)");
    /* A nested map: the message points at the map and names its path. */
    struct pd_cfg_doc *doc = must_load("lab: x\ninstruments:\n  - name: a\n    transport: b\n    unit: 3\n");
    const struct pd_cfg_node *inst = pd_cfg_seq_at(pd_cfg_map_get(pd_cfg_root(doc), "instruments"), 0);
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(inst, instrument_fields, NULL, &in, &err), PD_ECONFIG);
    assert_string_equal(err.msg,
                        "t.yaml:3:5: instruments[0]: missing required key 'channels' (a list of channels)");
    assert_string_equal(err.where, "t.yaml:3:5");
    pd_cfg_free(doc);
}

static void test_decode_string_too_long(void **state)
{
    (void)state;
    expect_decode_error(BASE "label: 12345678\n", NULL,
                        "t.yaml:5:8: label: text is too long (8 bytes, at most 7 allowed)");
    expect_decode_error("name: a-very-long-instrument-name\ntransport: b\nunit: 1\nchannels: []\n", NULL,
                        "t.yaml:1:7: name: text is too long (27 bytes, at most 15 allowed)");
}

static void test_decode_not_a_map(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load("- a\n- b\n");
    struct instrument in;
    init_instrument(&in);
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), instrument_fields, NULL, &in, &err), PD_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:1:1: expected a map, found a sequence");
    assert_int_equal(pd_cfg_decode(pd_cfg_seq_at(pd_cfg_root(doc), 1), instrument_fields, NULL, &in, &err),
                     PD_ECONFIG);
    assert_string_equal(err.msg, "t.yaml:2:3: [1]: expected a map, found 'b'");
    /* An absent section (NULL node) is an error too, without a position. */
    assert_int_equal(pd_cfg_decode(NULL, instrument_fields, NULL, &in, &err), PD_ECONFIG);
    assert_string_equal(err.msg, "expected a map, found nothing");
    pd_cfg_free(doc);
}

static const struct pd_cfg_field bad_default_fields[] = {
    {.key = "n", .type = PD_CFG_T_INT, .offset = 0, .def = "many"},
    {.key = NULL},
};

static void test_decode_bad_default_is_a_schema_bug(void **state)
{
    (void)state;
    struct pd_cfg_doc *doc = must_load("{}\n");
    long n = 5;
    struct pd_err err;
    assert_int_equal(pd_cfg_decode(pd_cfg_root(doc), bad_default_fields, NULL, &n, &err), PD_EINVAL);
    assert_string_equal(err.msg, "t.yaml:1:1: schema default 'many' for key 'n' is invalid "
                                 "(n: expected an integer, found 'many')");
    assert_int_equal(n, 5);
    pd_cfg_free(doc);
}

/* ---- the repository's own config files -----------------------------------------------------*/
static int yaml_files_seen;

static int check_yaml_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t len = strlen(path);
    if (type != FTW_F || len < 5 || strcmp(path + len - 5, ".yaml") != 0)
        return 0;
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_cfg_load_file(path, &doc, &err);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(pd_cfg_root(doc));
    pd_cfg_free(doc);
    yaml_files_seen++;
    return 0;
}

static void test_repository_yaml_files_parse(void **state)
{
    (void)state;
    yaml_files_seen = 0;
    assert_int_equal(nftw(PD_SOURCE_DIR "/config", check_yaml_file, 16, FTW_PHYS), 0);
    assert_true(yaml_files_seen >= 1); /* config/demo.yaml at least */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_block_and_flow),
        cmocka_unit_test(test_root_sequence_paths),
        cmocka_unit_test(test_error_formatting),
        cmocka_unit_test(test_source_text_kept_exactly),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bad_encoding_position),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_empty_document),
        cmocka_unit_test(test_more_than_one_document),
        cmocka_unit_test(test_aliases_refused),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_non_scalar_keys),
        cmocka_unit_test(test_nul_in_scalar),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_get_double),
        cmocka_unit_test(test_get_long),
        cmocka_unit_test(test_get_bool),
        cmocka_unit_test(test_decode_all_types),
        cmocka_unit_test(test_decode_defaults),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_decode_wrong_types),
        cmocka_unit_test(test_decode_enum),
        cmocka_unit_test(test_decode_unknown_key),
        cmocka_unit_test(test_decode_extra_keys),
        cmocka_unit_test(test_decode_missing_required),
        cmocka_unit_test(test_decode_string_too_long),
        cmocka_unit_test(test_decode_not_a_map),
        cmocka_unit_test(test_decode_bad_default_is_a_schema_bug),
        cmocka_unit_test(test_repository_yaml_files_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
