/* sha256ni.c — SHA-256 (FIPS 180-4) with the x86 SHA extensions, for hashing raw run files without loading libcrypto. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cert/cert_internal.h"

/* Why here and not libcrypto's: certify hashes the raw files on its critical path, and loading
 * libcrypto.so.3 (dlopen, ~21 000 relocations, its initialisation) took ~1 ms before the first
 * byte was hashed. With the SHA extensions one block is 32 SHA256RNDS2 instructions whatever the
 * library, so this is as fast as OpenSSL's (1.7-1.8 GB/s here). Without them (another CPU, or
 * valgrind, which does not offer them) cert_sha256ni_available() is false and the caller uses
 * libcrypto or libsodium as before. */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

bool cert_sha256ni_available(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}

/* The compression function over n whole 64-byte blocks. The instructions keep the eight working
 * variables as two vectors, ABEF and CDGH (highest lane first); SHA256RNDS2 does two rounds. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]); /* lanes from the lowest: A B C D */
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]); /* E F G H */
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);               /* B A D C */
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);               /* H G F E */
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);              /* F E B A */
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);           /* H G D C */
    for (; n > 0; n--, p += 64) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w[4]; /* the schedule's last 16 words, four per vector, w[i % 4] for words 4i..4i+3 */
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) { /* unrolled: w[] and K stay in registers and the loads */
            __m128i m;
            if (i < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else { /* W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at a time */
                m = _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4));
                m = _mm_sha256msg2_epu32(m, w[(i + 3) % 4]);
            }
            w[i % 4] = m;
            __m128i wk = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * i]));
            /* Two rounds make the old ABEF the new CDGH: after the pair the names are right again. */
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B); /* A B E F */
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1); /* G H C D */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0)); /* A B C D */
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));   /* E F G H */
}
#else
bool cert_sha256ni_available(void)
{
    return false;
}

static void blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
    (void)state;
    (void)p;
    (void)n;
}
#endif

void cert_sha256ni_init(struct cert_sha256ni *h)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h->state, iv, sizeof iv);
    h->total = 0;
    h->fill = 0;
}

void cert_sha256ni_update(struct cert_sha256ni *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    h->total += len;
    if (h->fill > 0) {
        size_t take = 64 - h->fill < len ? 64 - h->fill : len;
        memcpy(h->buf + h->fill, p, take);
        h->fill += take;
        p += take;
        len -= take;
        if (h->fill < 64)
            return;
        blocks(h->state, h->buf, 1);
        h->fill = 0;
    }
    if (len >= 64) {
        blocks(h->state, p, len / 64);
        p += len - len % 64;
        len %= 64;
    }
    memcpy(h->buf, p, len);
    h->fill = len;
}

void cert_sha256ni_final(struct cert_sha256ni *h, unsigned char out[32])
{
    uint64_t bits = h->total * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (h->fill < 56 ? 56 : 120) - h->fill; /* then the 8-byte length ends a block */
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    uint64_t total = h->total;
    cert_sha256ni_update(h, pad, padlen + 8);
    h->total = total;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h->state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h->state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h->state[i] >> 8);
        out[4 * i + 3] = (unsigned char)h->state[i];
    }
}
