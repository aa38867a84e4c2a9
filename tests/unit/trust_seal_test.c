/* trust_seal_test.c — seals of run files: written once and never replaced, read strictly (duplicate,
 * unknown, missing or mistyped fields refused), their signature failing on any edit, their station
 * key checked against the trusted ones, and the file as it is now against what was sealed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "trust/trust.h"

static char tmp_dir[] = "/tmp/pd-seal-XXXXXX";
static struct pd_secret_key station, other;

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    char keys[300], sk[400];
    struct pd_err err;
    snprintf(keys, sizeof keys, "%s/keys", tmp_dir);
    if (pd_key_generate(keys, "station-a", sk, sizeof sk, NULL, 0, &err) < 0 || pd_secret_key_load(sk, &station, &err) < 0)
        return -1;
    if (pd_key_generate(keys, "station-b", sk, sizeof sk, NULL, 0, &err) < 0 || pd_secret_key_load(sk, &other, &err) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pd_secret_key_wipe(&station);
    pd_secret_key_wipe(&other);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static struct pd_seal_facts demo_facts(void)
{
    struct pd_seal_facts f;
    memset(&f, 0, sizeof f);
    strcpy(f.run_id, "20261203T101010-01234");
    strcpy(f.outcome, "completed");
    f.simulated = false;
    f.n_instruments = 2;
    strcpy(f.instruments[0].name, "frame1");
    strcpy(f.instruments[0].model, "LF-1");
    strcpy(f.instruments[0].serial, "123456");
    strcpy(f.instruments[0].firmware, "1.4");
    strcpy(f.instruments[1].name, "chamber");
    strcpy(f.instruments[1].model, "TC-2");
    strcpy(f.instruments[1].serial, "77");
    strcpy(f.instruments[1].firmware, "0.9");
    return f;
}

/* A fresh "run file" (any bytes do: a seal covers the file whole) and its sealed state. */
static void make_sealed(const char *name, char *run, char *seal_path, struct pd_seal *seal)
{
    sprintf(run, "%s/%s", tmp_dir, name);
    write_bytes(run, "pretend HDF5 bytes: \x01\x02 0123456789 abcdefghijklmnopqrstuvwxyz\n");
    struct pd_seal_facts f = demo_facts();
    struct pd_err err = {0};
    assert_int_equal(pd_seal_create(run, &f, NULL, "bench 3", &station, seal, &err), 0);
    assert_int_equal(pd_seal_path(run, seal_path, 4200, &err), 0);
}

static int check(const char *run, const char *seal_path, const struct pd_seal_facts *facts,
                 const struct pd_public_key *trusted, size_t n, enum pd_seal_verdict *v, struct pd_err *err)
{
    struct pd_seal s;
    int rc = pd_seal_load(seal_path, &s, v, err);
    if (rc < 0)
        return rc;
    return pd_seal_check(&s, run, NULL, facts, trusted, n, v, err);
}

static void test_create_load_verify(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("a.h5", run, sp, &made);
    struct stat st;
    assert_int_equal(stat(sp, &st), 0);
    assert_int_equal(stat(run, &st), 0);
    assert_int_equal(made.size, (uint64_t)st.st_size);
    char hex[65];
    struct pd_err err = {0};
    assert_int_equal(pd_sha256_file(run, hex, &err), 0);
    assert_string_equal(made.sha256, hex);
    assert_string_equal(made.file, "a.h5");
    /* the seal on disk: one line of canonical JSON with every agreed field */
    const char *text = read_text(sp);
    assert_non_null(strstr(text, "\"format\":\"polydaq-seal-1\""));
    assert_non_null(strstr(text, "\"run_id\":\"20261203T101010-01234\""));
    assert_non_null(strstr(text, "\"simulated\":false"));
    assert_non_null(strstr(text, station.pub.hex));
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line */

    struct pd_seal s;
    enum pd_seal_verdict v = PD_SEAL_ABSENT;
    assert_int_equal(pd_seal_load(sp, &s, &v, &err), 0);
    assert_int_equal(v, PD_SEAL_VERIFIED);
    assert_string_equal(s.station_name, "bench 3");
    assert_string_equal(s.station.id, station.pub.id);
    assert_string_equal(s.signature, made.signature);
    assert_int_equal(s.facts.n_instruments, 2);
    assert_string_equal(s.facts.instruments[1].firmware, "0.9");
    struct pd_seal_facts f = demo_facts();
    assert_int_equal(pd_seal_check(&s, run, hex, &f, &station.pub, 1, &v, &err), 0);
    assert_int_equal(v, PD_SEAL_VERIFIED);
    /* the instruments are matched by name, in whatever order the reader lists them */
    struct pd_seal_instrument t = f.instruments[0];
    f.instruments[0] = f.instruments[1];
    f.instruments[1] = t;
    struct pd_public_key both[2] = {other.pub, station.pub};
    assert_int_equal(pd_seal_check(&s, run, NULL, &f, both, 2, &v, &err), 0);
}

static void test_never_overwritten(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("b.h5", run, sp, &made);
    char before[8192];
    strcpy(before, read_text(sp));
    struct pd_seal_facts f = demo_facts();
    strcpy(f.run_id, "another run");
    struct pd_err err = {0};
    assert_int_equal(pd_seal_create(run, &f, NULL, "bench 3", &other, NULL, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_string_equal(read_text(sp), before);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", sp, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1); /* nothing left behind */
    /* an identity that is not UTF-8 (a device's bytes): named, nothing written */
    char run2[4200], seal2[4300];
    snprintf(run2, sizeof run2, "%s/latin1.h5", tmp_dir);
    snprintf(seal2, sizeof seal2, "%s.seal", run2);
    write_bytes(run2, "bytes");
    f = demo_facts();
    strcpy(f.instruments[1].model, "Pr\xfc" "fmaschine");
    assert_int_equal(pd_seal_create(run2, &f, NULL, "bench 3", &station, NULL, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "not UTF-8"));
    assert_int_equal(access(seal2, F_OK), -1);
    /* a full disk (stood for by a file size limit below the seal's size): refused, nothing left */
    char run3[4200], seal3[4300];
    snprintf(run3, sizeof run3, "%s/full.h5", tmp_dir);
    snprintf(seal3, sizeof seal3, "%s.seal", run3);
    write_bytes(run3, "x");
    struct rlimit was, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    small = was;
    small.rlim_cur = 100;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    f = demo_facts();
    int full_rc = pd_seal_create(run3, &f, NULL, "bench 3", &station, NULL, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(full_rc, PD_EIO);
    assert_non_null(strstr(err.msg, "cannot write the seal"));
    assert_int_equal(err.os_errno, EFBIG); /* the write's own error, not a stale one */
    assert_int_equal(access(seal3, F_OK), -1);
    char tmp3[4400];
    snprintf(tmp3, sizeof tmp3, "%s.tmp.%ld", seal3, (long)getpid());
    assert_int_equal(access(tmp3, F_OK), -1);
    /* a missing run file: nothing written */
    char gone[4200], gone_seal[4300];
    snprintf(gone, sizeof gone, "%s/missing.h5", tmp_dir);
    snprintf(gone_seal, sizeof gone_seal, "%s.seal", gone);
    assert_true(pd_seal_create(gone, &f, NULL, "bench 3", &station, NULL, &err) < 0);
    assert_int_equal(access(gone_seal, F_OK), -1);
}

static void test_file_changed(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("c.h5", run, sp, &made);
    struct pd_seal_facts f = demo_facts();
    enum pd_seal_verdict v;
    struct pd_err err = {0};
    /* one byte changed, size the same */
    FILE *fp = fopen(run, "r+");
    assert_non_null(fp);
    fseek(fp, 25, SEEK_SET);
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_FILE_CHANGED);
    assert_non_null(strstr(err.msg, "run file changed after sealing: sha256"));
    /* appended to */
    make_sealed("c2.h5", run, sp, &made);
    fp = fopen(run, "a");
    fputc('\n', fp);
    fclose(fp);
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_FILE_CHANGED);
    /* a stale seal beside another file of the same name */
    make_sealed("c3.h5", run, sp, &made);
    write_bytes(run, "pretend HDF5 bytes: \x01\x02 0123456789 abcdefghijklmnopqrstuvwxyZ\n");
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_FILE_CHANGED);
}

static void test_untrusted_and_resigned(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("d.h5", run, sp, &made);
    struct pd_seal_facts f = demo_facts();
    enum pd_seal_verdict v;
    struct pd_err err = {0};
    assert_int_equal(check(run, sp, &f, &other.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_UNTRUSTED);
    assert_non_null(strstr(err.msg, station.pub.id));
    assert_int_equal(check(run, sp, &f, NULL, 0, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_UNTRUSTED);
    /* the file re-sealed by someone else's key (after removing the station's seal): a valid
     * signature, by a key nobody trusts */
    assert_int_equal(unlink(sp), 0);
    f.simulated = true; /* whatever the forger claims */
    assert_int_equal(pd_seal_create(run, &f, NULL, "bench 3", &other, NULL, &err), 0);
    struct pd_seal s;
    assert_int_equal(pd_seal_load(sp, &s, &v, &err), 0);
    assert_int_equal(pd_seal_check(&s, run, NULL, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_UNTRUSTED);
    assert_non_null(strstr(err.msg, "sealed by an untrusted station key"));
}

/* Replaces the first `from` in the seal file with `to`. */
static void edit_seal(const char *sp, const char *from, const char *to)
{
    char text[8192];
    strcpy(text, read_text(sp));
    char *at = strstr(text, from);
    assert_non_null(at);
    char out[8192];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    write_bytes(sp, out);
}

static void expect_load(const char *sp, enum pd_seal_verdict want, const char *msg)
{
    struct pd_seal s;
    memset(&s, 0x5a, sizeof s);
    struct pd_seal before = s;
    enum pd_seal_verdict v;
    struct pd_err err = {0};
    assert_int_equal(pd_seal_load(sp, &s, &v, &err), PD_EDATA);
    assert_int_equal(v, want);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' not in '%s'", msg, err.msg);
    assert_memory_equal(&s, &before, sizeof s); /* untouched on error */
}

static void test_edited_seal(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("e.h5", run, sp, &made);
    edit_seal(sp, "\"simulated\":false", "\"simulated\":true");
    expect_load(sp, PD_SEAL_BAD_SIGNATURE, "seal does not verify");
    make_sealed("e2.h5", run, sp, &made);
    edit_seal(sp, "20261203T101010-01234", "20261203T101010-01235");
    expect_load(sp, PD_SEAL_BAD_SIGNATURE, "seal does not verify");
    make_sealed("e3.h5", run, sp, &made);
    edit_seal(sp, "\"serial\":\"123456\"", "\"serial\":\"123457\"");
    expect_load(sp, PD_SEAL_BAD_SIGNATURE, "seal does not verify");
    /* a signature whose last digit changed */
    make_sealed("e4.h5", run, sp, &made);
    char sig[200];
    snprintf(sig, sizeof sig, "%s\"", made.signature);
    char changed[200];
    strcpy(changed, sig);
    changed[127] = changed[127] == '0' ? '1' : '0';
    edit_seal(sp, sig, changed);
    expect_load(sp, PD_SEAL_BAD_SIGNATURE, "seal does not verify");
    /* pretty-printed or reordered is fine: the signature covers the canonical form */
    make_sealed("e5.h5", run, sp, &made);
    edit_seal(sp, "{\"closed\"", "{\n  \"closed\"");
    struct pd_seal s;
    struct pd_err err = {0};
    assert_int_equal(pd_seal_load(sp, &s, NULL, &err), 0);
}

static void test_strict_reading(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    /* duplicate key: jansson would keep the last, another reader the first */
    make_sealed("f1.h5", run, sp, &made);
    edit_seal(sp, "\"simulated\":false", "\"simulated\":true,\"simulated\":false");
    expect_load(sp, PD_SEAL_UNREADABLE, "duplicate");
    make_sealed("f2.h5", run, sp, &made);
    edit_seal(sp, "\"simulated\":false", "\"simulated\":false,\"accredited\":true");
    expect_load(sp, PD_SEAL_UNREADABLE, "unknown field 'accredited'");
    make_sealed("f3.h5", run, sp, &made);
    edit_seal(sp, "\"simulated\":false,", "");
    expect_load(sp, PD_SEAL_UNREADABLE, "field 'simulated' missing");
    make_sealed("f4.h5", run, sp, &made);
    edit_seal(sp, "\"simulated\":false", "\"simulated\":0");
    expect_load(sp, PD_SEAL_UNREADABLE, "'simulated' is not true or false");
    make_sealed("f5.h5", run, sp, &made);
    char size[40];
    snprintf(size, sizeof size, "\"size\":%llu", (unsigned long long)made.size);
    edit_seal(sp, size, "\"size\":\"62\"");
    expect_load(sp, PD_SEAL_UNREADABLE, "'size' is not a whole number");
    make_sealed("f6.h5", run, sp, &made);
    edit_seal(sp, size, "\"size\":62.0");
    expect_load(sp, PD_SEAL_UNREADABLE, "'size' is not a whole number");
    make_sealed("f7.h5", run, sp, &made);
    edit_seal(sp, "polydaq-seal-1", "polydaq-seal-2");
    expect_load(sp, PD_SEAL_UNREADABLE, "format 'polydaq-seal-2'");
    make_sealed("f8.h5", run, sp, &made);
    edit_seal(sp, "\"firmware\":\"1.4\"", "\"firmware\":\"1.4\",\"calibrated\":true");
    expect_load(sp, PD_SEAL_UNREADABLE, "unknown field 'calibrated' in an instrument");
    make_sealed("f9.h5", run, sp, &made);
    edit_seal(sp, made.station.id, "0000000000000000");
    expect_load(sp, PD_SEAL_UNREADABLE, "key_id is not the id");
    make_sealed("f10.h5", run, sp, &made);
    edit_seal(sp, "{", "[");
    expect_load(sp, PD_SEAL_UNREADABLE, "f10.h5.seal:1:");
    make_sealed("f11.h5", run, sp, &made);
    write_bytes(sp, "");
    expect_load(sp, PD_SEAL_UNREADABLE, "not a polydaq seal");
    /* not a regular file: a FIFO (must not hang the reader), a folder */
    make_sealed("f12.h5", run, sp, &made);
    assert_int_equal(unlink(sp), 0);
    assert_int_equal(mkfifo(sp, 0644), 0);
    expect_load(sp, PD_SEAL_UNREADABLE, "not a regular file");
    assert_int_equal(unlink(sp), 0);
    assert_int_equal(mkdir(sp, 0755), 0);
    expect_load(sp, PD_SEAL_UNREADABLE, "not a regular file");
    /* no seal at all */
    char none[4300];
    snprintf(none, sizeof none, "%s/none.h5.seal", tmp_dir);
    expect_load(none, PD_SEAL_ABSENT, "run file not sealed");
}

static void test_facts_mismatch(void **state)
{
    (void)state;
    char run[4200], sp[4200];
    struct pd_seal made;
    make_sealed("g.h5", run, sp, &made);
    enum pd_seal_verdict v;
    struct pd_err err = {0};
    struct pd_seal_facts f = demo_facts();
    strcpy(f.run_id, "20261203T101010-09999");
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_MISMATCH);
    assert_non_null(strstr(err.msg, "run id"));
    f = demo_facts();
    f.simulated = true;
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "simulated: sealed false"));
    f = demo_facts();
    strcpy(f.instruments[1].serial, "78");
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "instrument 'chamber': serial"));
    f = demo_facts();
    f.n_instruments = 1;
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_int_equal(v, PD_SEAL_MISMATCH);
    f = demo_facts();
    strcpy(f.outcome, "failed");
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "outcome"));
    f.outcome[0] = '\0'; /* a file that states none is not compared */
    assert_int_equal(check(run, sp, &f, &station.pub, 1, &v, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_load_verify),
        cmocka_unit_test(test_never_overwritten),
        cmocka_unit_test(test_file_changed),
        cmocka_unit_test(test_untrusted_and_resigned),
        cmocka_unit_test(test_edited_seal),
        cmocka_unit_test(test_strict_reading),
        cmocka_unit_test(test_facts_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
