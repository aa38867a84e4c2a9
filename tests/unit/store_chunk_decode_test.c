/* store_chunk_decode_test.c — the store's own decoder of shuffled + deflated chunks
 * (chunk_decode.c) against HDF5's filters: datasets written by HDF5 itself (H5Dwrite through its
 * shuffle and deflate filters, not the store's chunk writer) decode to the values written, for
 * every element type the store reads and lengths around the chunk size; other pipelines, skipped
 * filters and unallocated chunks are left to HDF5; a damaged chunk is refused naming the dataset
 * and the sample it starts at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_internal.h"

#define CHUNK 1000

static char dir[] = "/tmp/pd_chunk_decode_test.XXXXXX";

/* A 1-D chunked dataset of `len` elements of `type`, filtered as asked, written by H5Dwrite. */
static hid_t make(hid_t file, const char *name, hid_t type, size_t len, bool shuffle, bool deflate, const void *data)
{
    hsize_t dims[1] = {len}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {CHUNK};
    hid_t space = H5Screate_simple(1, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(space >= 0 && dcpl >= 0);
    assert_true(H5Pset_chunk(dcpl, 1, chunk) >= 0);
    if (shuffle)
        assert_true(H5Pset_shuffle(dcpl) >= 0);
    if (deflate)
        assert_true(H5Pset_deflate(dcpl, 1) >= 0);
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (len > 0 && data)
        assert_true(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

/* Noisy doubles (poorly compressible, like a force channel), counters and flags. */
static void fill(void *buf, size_t elem, size_t len, unsigned seed)
{
    uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (elem == 8) {
            double v = 1000.0 * sin((double)i * 1e-3) + (double)(x >> 11) * 0x1p-53;
            memcpy((char *)buf + 8 * i, &v, 8);
        } else {
            /* flags in most, every byte different in every 7th: each byte's place is checked */
            uint32_t v = i % 7 == 0 ? (uint32_t)(x >> 32) : (uint32_t)(x >> 40) & 0x3u;
            memcpy((char *)buf + 4 * i, &v, 4);
        }
    }
}

static void test_matches_hdf5_filters(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/hdf5-filters.h5", dir);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    const size_t lengths[] = {1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + CHUNK / 2, 7 * CHUNK};
    const struct {
        hid_t file_type, mem_type;
        size_t elem;
    } types[] = {
        {H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8},
        {H5T_STD_I64LE, H5T_NATIVE_INT64, 8},
        {H5T_STD_U32LE, H5T_NATIVE_UINT32, 4},
    };
    for (size_t t = 0; t < 3; t++)
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            size_t len = lengths[l], bytes = len * types[t].elem;
            unsigned char *want = malloc(bytes), *got = malloc(bytes);
            assert_non_null(want);
            assert_non_null(got);
            fill(want, types[t].elem, len, (unsigned)(t * 10 + l));
            char name[32];
            snprintf(name, sizeof name, "d%zu_%zu", t, len);
            /* written through the memory type, stored as the file's little-endian type */
            hid_t d = make(file, name, types[t].file_type, len, true, true, NULL);
            assert_true(H5Dwrite(d, types[t].mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, want) >= 0);
            H5Dclose(d);
            H5Fflush(file, H5F_SCOPE_GLOBAL);
            d = H5Dopen2(file, name, H5P_DEFAULT);
            memset(got, 0xA5, bytes);
            struct pd_err err = {0};
            assert_int_equal(pd_store_read_deflated(NULL, d, path, name, types[t].mem_type, types[t].elem, len, got, &err), 0);
            assert_memory_equal(got, want, bytes);
            H5Dclose(d);
            free(want);
            free(got);
        }
    H5Fclose(file);
}

static void test_other_layouts_left_to_hdf5(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/others.h5", dir);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    double v[2500];
    fill(v, 8, 2500, 3);
    struct pd_err err = {0};
    double got[2500];
    /* deflate without shuffle, shuffle without deflate, no filters */
    const bool shuffles[3] = {false, true, false}, deflates[3] = {true, false, false};
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", k);
        hid_t d = make(file, name, H5T_IEEE_F64LE, 2500, shuffles[k], deflates[k], v);
        assert_int_equal(pd_store_read_deflated(NULL, d, path, name, H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EUNSUPPORTED);
        H5Dclose(d);
    }
    /* stored as big-endian: the bytes would need converting */
    hid_t d = make(file, "be", H5T_IEEE_F64BE, 2500, true, true, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    assert_int_equal(pd_store_read_deflated(NULL, d, path, "be", H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EUNSUPPORTED);
    H5Dclose(d);
    /* an extent whose chunks were never written (fill time "never" leaves them undefined) */
    d = make(file, "empty", H5T_IEEE_F64LE, 2500, true, true, NULL);
    assert_int_equal(pd_store_read_deflated(NULL, d, path, "empty", H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EUNSUPPORTED);
    /* a chunk stored with a filter skipped (filter mask bit 0: not shuffled) */
    hsize_t off[1] = {0};
    unsigned char raw[CHUNK * 8];
    memset(raw, 0, sizeof raw);
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0x1, off, sizeof raw, raw) >= 0);
    off[0] = CHUNK;
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0x3, off, sizeof raw, raw) >= 0);
    off[0] = 2 * CHUNK;
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0x3, off, sizeof raw, raw) >= 0);
    assert_int_equal(pd_store_read_deflated(NULL, d, path, "empty", H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EUNSUPPORTED);
    assert_string_equal(err.msg, ""); /* never touched */
    H5Dclose(d);
    H5Fclose(file);
}

/* Changes one byte in the middle of the stored stream of d's second chunk; *stored (when not NULL)
 * gets its stored size and *raw (when not NULL) the damaged bytes, the caller's to free. */
static void damage_second_chunk(hid_t d, hsize_t *stored_out, unsigned char **raw_out)
{
    hsize_t off[1] = {CHUNK}, stored = 0;
    uint32_t mask = 0;
    assert_true(H5Dget_chunk_storage_size(d, off, &stored) >= 0 && stored > 16);
    unsigned char *raw = malloc(stored);
    assert_non_null(raw);
    assert_true(H5Dread_chunk(d, H5P_DEFAULT, off, &mask, raw) >= 0);
    raw[stored / 2] ^= 0x55;
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, stored, raw) >= 0);
    if (stored_out)
        *stored_out = stored;
    if (raw_out)
        *raw_out = raw;
    else
        free(raw);
}

static void test_damaged_chunk_refused(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/damaged.h5", dir);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    double v[2500], got[2500];
    fill(v, 8, 2500, 5);
    hid_t d = make(file, "force", H5T_IEEE_F64LE, 2500, true, true, v);
    /* the second chunk's stored bytes with one byte changed in the middle of its stream */
    hsize_t off[1] = {CHUNK}, stored = 0;
    unsigned char *raw = NULL;
    damage_second_chunk(d, &stored, &raw);
    struct pd_err err = {0};
    memset(got, 0, sizeof got);
    int rc = pd_store_read_deflated(NULL, d, path, "/specimen_01/frame/force", H5T_NATIVE_DOUBLE, 8, 2500, got, &err);
    assert_int_equal(rc, PD_EDATA);
    assert_non_null(strstr(err.msg, "/specimen_01/frame/force: the chunk at sample 1000 is damaged"));
    assert_non_null(strstr(err.msg, "damaged.h5"));
    /* a stream cut short: fewer stored bytes than the zlib stream needs */
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, 10, raw) >= 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(pd_store_read_deflated(NULL, d, path, "force", H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "chunk at sample 1000"));
    free(raw);
    H5Dclose(d);
    H5Fclose(file);
}

/* Chunks inflated where they are in the mapped file (pd_chunk_decoder_map) decode as HDF5 wrote
 * them, with and without a user block before HDF5's addresses; a damaged one is refused with the
 * same message as through H5Dread_chunk. */
static void test_mapped_file(void **state)
{
    (void)state;
    const hsize_t user_blocks[] = {0, 512, 4096};
    for (size_t u = 0; u < 3; u++) {
        char path[256];
        snprintf(path, sizeof path, "%s/mapped%zu.h5", dir, u);
        hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
        assert_true(fcpl >= 0 && H5Pset_userblock(fcpl, user_blocks[u]) >= 0);
        hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
        assert_true(file >= 0);
        H5Pclose(fcpl);
        double v[3500], w[2500], got[3500];
        fill(v, 8, 3500, 7);
        fill(w, 8, 2500, 8);
        H5Dclose(make(file, "good", H5T_IEEE_F64LE, 3500, true, true, v));
        hid_t d = make(file, "bad", H5T_IEEE_F64LE, 2500, true, true, w);
        damage_second_chunk(d, NULL, NULL);
        H5Dclose(d);
        H5Fclose(file);

        file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(file >= 0);
        struct pd_chunk_decoder *dec = pd_chunk_decoder_new();
        assert_non_null(dec);
        assert_true(pd_chunk_decoder_map(dec, file));
        struct pd_err err = {0};
        d = H5Dopen2(file, "good", H5P_DEFAULT);
        memset(got, 0xA5, sizeof got);
        assert_int_equal(pd_store_read_deflated(dec, d, path, "good", H5T_NATIVE_DOUBLE, 8, 3500, got, &err), 0);
        assert_memory_equal(got, v, sizeof v);
        H5Dclose(d);
        d = H5Dopen2(file, "bad", H5P_DEFAULT);
        assert_int_equal(pd_store_read_deflated(dec, d, path, "bad", H5T_NATIVE_DOUBLE, 8, 2500, got, &err), PD_EDATA);
        assert_non_null(strstr(err.msg, "bad: the chunk at sample 1000 is damaged"));
        H5Dclose(d);
        pd_chunk_decoder_free(dec);
        H5Fclose(file);
    }
}

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_hdf5_filters),
        cmocka_unit_test(test_mapped_file),
        cmocka_unit_test(test_other_layouts_left_to_hdf5),
        cmocka_unit_test(test_damaged_chunk_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
