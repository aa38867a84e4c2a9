/* chunk_decode.c — reads a shuffled and deflated 1-D dataset by decoding its chunks itself: the
 * stored bytes are fetched with H5Dread_chunk and inflated with libdeflate, un-shuffled by a loop
 * per element size, on the calling thread and one helper thread at once. A decoder keeps its
 * buffers and its helper thread from one column to the next (pd_chunk_decoder_new).
 *
 * Why: certify's reader spent most of its time in HDF5's filter pipeline on a run file as
 * `polydaq run` writes it (shuffle + deflate 1): zlib's inflate, its Adler-32, HDF5's byte-wise
 * un-shuffle and a copy out of the chunk cache, one chunk after another on one core. libdeflate
 * decodes a whole buffer with a known size (a chunk) several times faster, the check sum included,
 * and chunks are independent, so two cores share them. Only the pipeline polydaq writes is taken
 * this way (shuffle then deflate, every chunk stored with both applied, element types that equal
 * the memory type); anything else returns PD_EUNSUPPORTED and the caller reads through HDF5. A
 * damaged chunk (bad zlib stream or check sum, wrong decoded size, an absurd stored size) is
 * refused naming the dataset and the sample it starts at. */
#include "store/store_internal.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "chunk_decode.c hands the file's little-endian bytes to the caller unconverted"
#endif

struct chunk_job {
    const unsigned char *packed; /* the stored bytes */
    size_t packed_size;
    size_t first, count;         /* samples of the dataset this chunk holds (count < chunk at the end) */
    bool in_map;                 /* its stored bytes are read where they are in the file's mapping */
    unsigned mask;               /* (then) its filter mask */
};

/* What one side needs to decode: its inflater and a buffer of one plain chunk, both kept for the
 * decoder's life (a fresh buffer per column cost a page fault per 4 KiB; see populate). */
struct side_scratch {
    struct libdeflate_decompressor *inflater;
    unsigned char *plain;
    size_t plain_cap;
};

/* One column's chunks, shared by the two sides: each takes the next chunk nobody has taken yet
 * (`next`), so that a side that starts late (the helper thread waiting for a core on a busy
 * machine) leaves its share to the other instead of being waited for. */
struct column_jobs {
    const struct chunk_job *jobs;
    size_t n_jobs;
    size_t chunk, elem;
    unsigned char *dst;
    atomic_size_t next;
};

struct decode_side {
    struct column_jobs *col;
    struct side_scratch *scratch;
    size_t failed_at;          /* SIZE_MAX: every chunk it took decoded */
    enum libdeflate_result why;
};

/* The packed chunks' buffer, the two sides' scratch and the helper thread that decodes the second
 * side, kept from one column to the next: certify's reader decodes a dozen columns, and a thread
 * created, buffers allocated and pages faulted in for each were a third of its decoding time. */
struct pd_chunk_decoder {
    /* The file's bytes, mapped (pd_chunk_decoder_map): chunks are inflated from there, without
     * reading them into `packed` first (a copy of every byte from the page cache). */
    const unsigned char *file_map;
    size_t file_map_size;
    uint64_t file_base; /* where HDF5's addresses start in the file: its user block's size */
    unsigned char *packed; /* chunks read with H5Dread_chunk (no mapping, or one outside it) */
    size_t packed_cap;
    struct side_scratch scratch[2];
    bool helper_running, helper_failed;
    pthread_t helper;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job for the helper, or quit */
    pthread_cond_t done; /* the helper finished its job */
    struct decode_side *job; /* offered to the helper, not yet taken */
    bool busy;               /* the helper is decoding the side it took */
    bool quit;
};

/* The inverse of HDF5's shuffle filter: byte j of element i is at in[j * chunk + i]. With SSE2
 * (every x86-64), 16 elements at a time: the 8 (or 4) byte planes interleaved by 8-, 16- and
 * 32-bit unpacks — a third of certify's un-shuffling time of the byte-by-byte loop, which remains
 * for the tail and other machines. */
static void unshuffle(unsigned char *restrict out, const unsigned char *restrict in, size_t count, size_t chunk,
                      size_t elem)
{
    size_t i = 0;
#ifdef __SSE2__
    if (elem == 8) {
        for (; i + 16 <= count; i += 16) {
            __m128i a[8];
            for (size_t j = 0; j < 8; j++)
                a[j] = _mm_loadu_si128((const __m128i *)(in + j * chunk + i));
            __m128i b0 = _mm_unpacklo_epi8(a[0], a[1]), b1 = _mm_unpackhi_epi8(a[0], a[1]);
            __m128i b2 = _mm_unpacklo_epi8(a[2], a[3]), b3 = _mm_unpackhi_epi8(a[2], a[3]);
            __m128i b4 = _mm_unpacklo_epi8(a[4], a[5]), b5 = _mm_unpackhi_epi8(a[4], a[5]);
            __m128i b6 = _mm_unpacklo_epi8(a[6], a[7]), b7 = _mm_unpackhi_epi8(a[6], a[7]);
            __m128i c0 = _mm_unpacklo_epi16(b0, b2), c1 = _mm_unpackhi_epi16(b0, b2); /* bytes 0-3 */
            __m128i c2 = _mm_unpacklo_epi16(b1, b3), c3 = _mm_unpackhi_epi16(b1, b3);
            __m128i c4 = _mm_unpacklo_epi16(b4, b6), c5 = _mm_unpackhi_epi16(b4, b6); /* bytes 4-7 */
            __m128i c6 = _mm_unpacklo_epi16(b5, b7), c7 = _mm_unpackhi_epi16(b5, b7);
            __m128i *o = (__m128i *)(out + 8 * i);
            _mm_storeu_si128(o + 0, _mm_unpacklo_epi32(c0, c4));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi32(c0, c4));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi32(c1, c5));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi32(c1, c5));
            _mm_storeu_si128(o + 4, _mm_unpacklo_epi32(c2, c6));
            _mm_storeu_si128(o + 5, _mm_unpackhi_epi32(c2, c6));
            _mm_storeu_si128(o + 6, _mm_unpacklo_epi32(c3, c7));
            _mm_storeu_si128(o + 7, _mm_unpackhi_epi32(c3, c7));
        }
    } else if (elem == 4) {
        for (; i + 16 <= count; i += 16) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(in + i));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(in + chunk + i));
            __m128i a2 = _mm_loadu_si128((const __m128i *)(in + 2 * chunk + i));
            __m128i a3 = _mm_loadu_si128((const __m128i *)(in + 3 * chunk + i));
            __m128i b0 = _mm_unpacklo_epi8(a0, a1), b1 = _mm_unpackhi_epi8(a0, a1);
            __m128i b2 = _mm_unpacklo_epi8(a2, a3), b3 = _mm_unpackhi_epi8(a2, a3);
            __m128i *o = (__m128i *)(out + 4 * i);
            _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(b0, b2));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(b0, b2));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(b1, b3));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(b1, b3));
        }
    }
#endif
    for (; i < count; i++)
        for (size_t j = 0; j < elem; j++)
            out[i * elem + j] = in[j * chunk + i];
}

/* Grows `*buf` to at least `want` bytes (contents not kept), its pages had at once. */
static bool grow(unsigned char **buf, size_t *cap, size_t want)
{
    if (*buf && *cap >= want)
        return true;
    unsigned char *bigger = malloc(want ? want : 1);
    if (!bigger)
        return false;
    pd_store_populate(bigger, want);
    free(*buf);
    *buf = bigger;
    *cap = want;
    return true;
}

/* Decodes chunks of s->col until none is left or one is damaged (the other side goes on: the first
 * damaged chunk of the column is then always found by one of them). A side without memory for its
 * scratch takes none. */
static void decode_side_run(struct decode_side *s)
{
    struct column_jobs *col = s->col;
    s->failed_at = SIZE_MAX;
    size_t bytes = col->chunk * col->elem;
    struct side_scratch *sc = s->scratch;
    if (!sc->inflater)
        sc->inflater = libdeflate_alloc_decompressor();
    if (!sc->inflater || !grow(&sc->plain, &sc->plain_cap, bytes))
        return;
    for (size_t k; (k = atomic_fetch_add(&col->next, 1)) < col->n_jobs;) {
        const struct chunk_job *j = &col->jobs[k];
        /* The whole chunk decodes to exactly chunk × elem bytes (its rows beyond the extent too);
         * anything else is a damaged chunk. Bytes after the zlib stream are not read (see chunks.c). */
        enum libdeflate_result r =
            libdeflate_zlib_decompress(sc->inflater, j->packed, j->packed_size, sc->plain, bytes, NULL);
        if (r != LIBDEFLATE_SUCCESS) {
            s->failed_at = j->first;
            s->why = r;
            break;
        }
        unshuffle(col->dst + j->first * col->elem, sc->plain, j->count, col->chunk, col->elem);
    }
}

/* The helper thread: decodes the side it is handed, then waits for the next, until told to quit. */
static void *helper_main(void *arg)
{
    struct pd_chunk_decoder *dec = arg;
    prctl(PR_SET_NAME, "pd-chunk-decode");
    pthread_mutex_lock(&dec->lock);
    for (;;) {
        while (!dec->job && !dec->quit)
            pthread_cond_wait(&dec->wake, &dec->lock);
        if (dec->quit)
            break;
        struct decode_side *side = dec->job;
        dec->job = NULL;
        dec->busy = true;
        pthread_mutex_unlock(&dec->lock);
        decode_side_run(side);
        pthread_mutex_lock(&dec->lock);
        dec->busy = false;
        pthread_cond_signal(&dec->done);
    }
    pthread_mutex_unlock(&dec->lock);
    return NULL;
}

/* Offers `side` to the helper thread (started on first use). False when there is none (it could
 * not be started): the calling thread then decodes every chunk itself. */
static bool helper_offer(struct pd_chunk_decoder *dec, struct decode_side *side)
{
    if (!dec->helper_running && !dec->helper_failed) {
        dec->helper_running = pthread_create(&dec->helper, NULL, helper_main, dec) == 0;
        dec->helper_failed = !dec->helper_running;
    }
    if (!dec->helper_running)
        return false;
    pthread_mutex_lock(&dec->lock);
    dec->job = side;
    pthread_cond_signal(&dec->wake);
    pthread_mutex_unlock(&dec->lock);
    return true;
}

/* Once the calling thread has run out of chunks: the offer is withdrawn if the helper has not taken
 * it yet (nothing is left for it), else the helper's last chunk is waited for. */
static void helper_settle(struct pd_chunk_decoder *dec)
{
    pthread_mutex_lock(&dec->lock);
    dec->job = NULL;
    while (dec->busy)
        pthread_cond_wait(&dec->done, &dec->lock);
    pthread_mutex_unlock(&dec->lock);
}

struct pd_chunk_decoder *pd_chunk_decoder_new(void)
{
    struct pd_chunk_decoder *dec = calloc(1, sizeof *dec);
    if (!dec)
        return NULL;
    if (pthread_mutex_init(&dec->lock, NULL) != 0) {
        free(dec);
        return NULL;
    }
    if (pthread_cond_init(&dec->wake, NULL) != 0) {
        pthread_mutex_destroy(&dec->lock);
        free(dec);
        return NULL;
    }
    if (pthread_cond_init(&dec->done, NULL) != 0) {
        pthread_cond_destroy(&dec->wake);
        pthread_mutex_destroy(&dec->lock);
        free(dec);
        return NULL;
    }
    return dec;
}

bool pd_chunk_decoder_map(struct pd_chunk_decoder *dec, hid_t file)
{
    if (!dec || dec->file_map)
        return dec && dec->file_map;
    hid_t fapl = H5Fget_access_plist(file), fcpl = H5Fget_create_plist(file);
    void *handle = NULL;
    hsize_t user_block = 0;
    /* The POSIX driver's handle is its file descriptor (any other driver keeps the file otherwise). */
    bool posix = fapl >= 0 && fcpl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
                 H5Fget_vfd_handle(file, fapl, &handle) >= 0 && handle && H5Pget_userblock(fcpl, &user_block) >= 0;
    if (fapl >= 0)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    pd_store_h5_forget();
    struct stat sb;
    if (!posix || fstat(*(int *)handle, &sb) < 0 || sb.st_size <= 0 || (uint64_t)sb.st_size > SIZE_MAX)
        return false;
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, *(int *)handle, 0);
    if (m == MAP_FAILED)
        return false;
    dec->file_map = m;
    dec->file_map_size = (size_t)sb.st_size;
    dec->file_base = user_block;
    return true;
}

void pd_chunk_decoder_free(struct pd_chunk_decoder *dec)
{
    if (!dec)
        return;
    if (dec->file_map)
        munmap((void *)dec->file_map, dec->file_map_size);
    if (dec->helper_running) {
        pthread_mutex_lock(&dec->lock);
        dec->quit = true;
        pthread_cond_signal(&dec->wake);
        pthread_mutex_unlock(&dec->lock);
        pthread_join(dec->helper, NULL);
    }
    for (size_t i = 0; i < 2; i++) {
        libdeflate_free_decompressor(dec->scratch[i].inflater);
        free(dec->scratch[i].plain);
    }
    free(dec->packed);
    pthread_cond_destroy(&dec->done);
    pthread_cond_destroy(&dec->wake);
    pthread_mutex_destroy(&dec->lock);
    free(dec);
}

/* Whether `d` was written the way this file decodes: 1-D chunks, shuffle then deflate, the stored
 * element type equal to the memory type. Sets *chunk to the chunk's length in samples. */
static int pipeline_is_ours(hid_t d, hid_t mtype, size_t elem, size_t *chunk)
{
    hid_t dcpl = H5Dget_create_plist(d), ftype = H5Dget_type(d);
    int ours = 0;
    hsize_t dims[1];
    if (dcpl >= 0 && ftype >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 1, dims) == 1 &&
        dims[0] > 0 && dims[0] <= (1u << 26) && H5Pget_nfilters(dcpl) == 2 && H5Tget_size(ftype) == elem &&
        H5Tequal(ftype, mtype) > 0) {
        unsigned flags, cd[4];
        size_t n_cd = 4;
        char name[16];
        H5Z_filter_t f0 = H5Pget_filter2(dcpl, 0, &flags, &n_cd, cd, sizeof name, name, NULL);
        n_cd = 4;
        H5Z_filter_t f1 = H5Pget_filter2(dcpl, 1, &flags, &n_cd, cd, sizeof name, name, NULL);
        if (f0 == H5Z_FILTER_SHUFFLE && f1 == H5Z_FILTER_DEFLATE) {
            *chunk = (size_t)dims[0];
            ours = 1;
        }
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (ftype >= 0)
        H5Tclose(ftype);
    return ours;
}

static const char *why_text(enum libdeflate_result r)
{
    switch (r) {
    case LIBDEFLATE_BAD_DATA: return "not a valid zlib stream (or its check sum differs)";
    case LIBDEFLATE_SHORT_OUTPUT: return "decodes to fewer bytes than a chunk";
    case LIBDEFLATE_INSUFFICIENT_SPACE: return "decodes to more bytes than a chunk, or no memory to decode it";
    default: return "cannot be decoded (libdeflate result not known)";
    }
}

int pd_store_read_deflated(struct pd_chunk_decoder *dec, hid_t d, const char *path, const char *dpath, hid_t mtype,
                           size_t elem, size_t len, void *dst, struct pd_err *err)
{
    size_t chunk = 0;
    if (len == 0 || !pipeline_is_ours(d, mtype, elem, &chunk))
        return PD_EUNSUPPORTED;
    struct pd_chunk_decoder *own = NULL; /* a caller without a decoder gets one for this call */
    if (!dec && !(dec = own = pd_chunk_decoder_new()))
        return pd_err_set(err, PD_ENOMEM, path, "out of memory to decode %s", dpath);
    size_t n_jobs = (len + chunk - 1) / chunk, chunk_bytes = chunk * elem;
    struct chunk_job *jobs = calloc(n_jobs, sizeof *jobs);
    if (!jobs) {
        pd_chunk_decoder_free(own);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory for the chunk list of %s", dpath);
    }
    /* The stored sizes first, so all packed chunks go into one buffer. A chunk never allocated
     * (fill time "never": its contents are undefined) or with a filter skipped goes to HDF5. */
    size_t total = 0;
    int rc = 0;
    for (size_t k = 0; k < n_jobs && rc == 0; k++) {
        hsize_t off[1] = {(hsize_t)(k * chunk)}, stored = 0;
        haddr_t addr = HADDR_UNDEF;
        unsigned mask = 0;
        herr_t found = dec->file_map ? H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &stored)
                                     : H5Dget_chunk_storage_size(d, off, &stored);
        if (found < 0 || stored == 0)
            rc = PD_EUNSUPPORTED;
        /* Room a filtered chunk keeps to grow is at most a few times its data (chunks.c); a
         * stored size far beyond any zlib stream of one chunk is a damaged index. */
        else if (stored > 4 * (hsize_t)chunk_bytes + (1u << 20))
            rc = pd_err_set(err, PD_EDATA, path, "%s: the chunk at sample %zu claims %llu stored bytes for %zu", dpath,
                            k * chunk, (unsigned long long)stored, chunk_bytes);
        else {
            jobs[k].packed_size = (size_t)stored;
            jobs[k].first = k * chunk;
            jobs[k].count = len - k * chunk < chunk ? len - k * chunk : chunk;
            /* Where H5Dread_chunk would read it: the address plus the user block. A chunk not
             * wholly inside the mapping is read by HDF5 (and fails there as it would). */
            jobs[k].in_map = dec->file_map && addr != HADDR_UNDEF && addr <= dec->file_map_size &&
                             dec->file_base <= dec->file_map_size - addr &&
                             stored <= dec->file_map_size - addr - dec->file_base;
            if (jobs[k].in_map) {
                jobs[k].packed = dec->file_map + dec->file_base + addr;
                jobs[k].mask = mask;
            } else
                total += (size_t)stored;
        }
    }
    if (rc == 0 && total > 0 && !grow(&dec->packed, &dec->packed_cap, total))
        rc = pd_err_set(err, PD_ENOMEM, path, "out of memory for %zu compressed bytes of %s", total, dpath);
    for (size_t k = 0, at = 0; k < n_jobs && rc == 0; k++) {
        hsize_t off[1] = {(hsize_t)(k * chunk)};
        uint32_t mask = 0;
        if (jobs[k].in_map) {
            if (jobs[k].mask != 0)
                rc = PD_EUNSUPPORTED; /* a filter was skipped for this chunk: HDF5 knows what to do */
            continue;
        }
        if (H5Dread_chunk(d, H5P_DEFAULT, off, &mask, dec->packed + at) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, path, "cannot read the chunk of %s at sample %zu", dpath, k * chunk);
        else if (mask != 0)
            rc = PD_EUNSUPPORTED; /* a filter was skipped for this chunk: HDF5 knows what to do */
        jobs[k].packed = dec->packed + at;
        at += jobs[k].packed_size;
    }
    if (rc == 0) {
        struct column_jobs col = {.jobs = jobs, .n_jobs = n_jobs, .chunk = chunk, .elem = elem, .dst = dst};
        atomic_init(&col.next, 0);
        struct decode_side sides[2] = {
            {.col = &col, .scratch = &dec->scratch[0], .failed_at = SIZE_MAX},
            {.col = &col, .scratch = &dec->scratch[1], .failed_at = SIZE_MAX},
        };
        /* One chunk needs no helper. */
        bool offered = n_jobs > 1 && helper_offer(dec, &sides[1]);
        decode_side_run(&sides[0]);
        /* No chunk is taken after this (a side stopped at a damaged chunk leaves the rest). */
        size_t taken = atomic_exchange(&col.next, SIZE_MAX / 2);
        if (offered)
            helper_settle(dec);
        const struct decode_side *first = sides[1].failed_at < sides[0].failed_at ? &sides[1] : &sides[0];
        if (first->failed_at != SIZE_MAX)
            rc = pd_err_set(err, PD_EDATA, path, "%s: the chunk at sample %zu is damaged: %s", dpath,
                            first->failed_at, why_text(first->why));
        else if (taken < n_jobs) /* neither side had memory for its scratch */
            rc = pd_err_set(err, PD_ENOMEM, path, "out of memory to decode %s", dpath);
    }
    free(jobs);
    pd_chunk_decoder_free(own);
    return rc;
}
