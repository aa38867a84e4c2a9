/* ring.c — bounded lock-free single-producer/single-consumer ring of fixed-size elements.
 * head and tail are free-running counters; the producer only writes head, the consumer only tail,
 * and acquire/release ordering publishes the element bytes before the index that exposes them. */
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The producer asks for the slot this many pushes ahead (pd_ring_push): a slot last read by the
 * consumer on another core is otherwise fetched and taken over while the producer's stores wait
 * (the pipeline benchmark's profile: nearly all of the push in one store). A slot the consumer
 * has not read yet is left alone: taking its line now would only move it back and forth. */
#define PREFETCH_AHEAD 64

static inline void prefetch_for_write(const unsigned char *p)
{
#if defined(__x86_64__) || defined(__i386__)
    /* PREFETCHW fetches the line for ownership (GCC emits it for __builtin_prefetch(p, 1) only
     * with -mprfchw); CPUs without it execute it as a no-op. */
    __asm__ volatile("prefetchw %0" ::"m"(*p));
#else
    __builtin_prefetch(p, 1);
#endif
}

int pd_ring_init(struct pd_ring *ring, size_t elem_size, size_t min_capacity)
{
    if (!ring || elem_size == 0 || min_capacity == 0 || min_capacity > ((size_t)1 << 30))
        return PD_EINVAL;
    size_t cap = 1;
    while (cap < min_capacity)
        cap <<= 1;
    if (cap > SIZE_MAX / elem_size)
        return PD_EINVAL;
    /* Every page faulted in here, not by the producer on its first lap (a page fault costs a bus
     * thread tens of µs of lateness on a virtual machine, and RSS would grow during the first lap).
     * A plain memset after malloc is not enough: the compiler folds the pair into calloc, which
     * hands out untouched zero pages; a volatile store per page is never folded away. */
    size_t bytes = cap * elem_size;
    unsigned char *buf = calloc(1, bytes);
    if (!buf)
        return PD_ENOMEM;
    long page = sysconf(_SC_PAGESIZE);
    size_t step = page > 0 ? (size_t)page : 4096;
    volatile unsigned char *touch = buf;
    for (size_t off = 0; off < bytes; off += step)
        touch[off] = 0;
    ring->buf = buf;
    ring->elem_size = elem_size;
    ring->mask = cap - 1;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->tail_seen = 0;
    ring->head_seen = 0;
    return PD_OK;
}

void pd_ring_close(struct pd_ring *ring)
{
    if (!ring)
        return;
    free(ring->buf);
    ring->buf = NULL;
}

size_t pd_ring_capacity(const struct pd_ring *ring) { return ring->mask + 1; }

/* One element, word by word when its size allows: the caller has usually just filled it field
 * by field, and a library memcpy's wide loads of those fresh narrow stores cannot be forwarded
 * from the store buffer (they wait for the stores to reach the cache). */
static inline void copy_elem(unsigned char *dst, const void *src, size_t size)
{
    if (size % sizeof(uint64_t) != 0) {
        memcpy(dst, src, size);
        return;
    }
    const unsigned char *s = src;
    for (size_t i = 0; i < size; i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        memcpy(dst + i, &w, sizeof w);
    }
}

bool pd_ring_push(struct pd_ring *ring, const void *elem)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head - ring->tail_seen > ring->mask) {
        /* acquire: the consumer's reads of the slots it freed are done before they are reused */
        ring->tail_seen = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head - ring->tail_seen > ring->mask)
            return false;
    }
    if (head + PREFETCH_AHEAD - ring->tail_seen <= ring->mask) /* only a slot already free */
        prefetch_for_write(ring->buf + ((head + PREFETCH_AHEAD) & ring->mask) * ring->elem_size);
    copy_elem(ring->buf + (head & ring->mask) * ring->elem_size, elem, ring->elem_size);
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return true;
}

/* The bytes of the `n` elements from counter `from` on lie in at most two contiguous runs of the
 * buffer: up to its end, then from its start. Copies them out in one memcpy per run. */
static void copy_out(const struct pd_ring *ring, size_t from, size_t n, unsigned char *dst)
{
    size_t at = from & ring->mask, first = ring->mask + 1 - at;
    if (first > n)
        first = n;
    memcpy(dst, ring->buf + at * ring->elem_size, first * ring->elem_size);
    if (n > first)
        memcpy(dst + first * ring->elem_size, ring->buf, (n - first) * ring->elem_size);
}

/* How many elements the consumer may take from `tail` on (at most max), looking at head again
 * only when its last look does not already cover max. */
static size_t available(struct pd_ring *ring, size_t tail, size_t max)
{
    size_t n = ring->head_seen - tail;
    if (n < max) {
        /* acquire: the element bytes the producer wrote before publishing head are visible now */
        ring->head_seen = atomic_load_explicit(&ring->head, memory_order_acquire);
        n = ring->head_seen - tail;
    }
    return n < max ? n : max;
}

size_t pd_ring_pop(struct pd_ring *ring, void *out, size_t max)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t n = available(ring, tail, max);
    if (n == 0)
        return 0;
    copy_out(ring, tail, n, out);
    /* release: the copies above are done before the producer may reuse these slots */
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

size_t pd_ring_peek(struct pd_ring *ring, size_t max, const void **span)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t at = tail & ring->mask, to_end = ring->mask + 1 - at;
    size_t n = available(ring, tail, max < to_end ? max : to_end);
    *span = ring->buf + at * ring->elem_size;
    return n;
}

void pd_ring_release(struct pd_ring *ring, size_t n)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    /* release: the consumer's reads of these slots are done before the producer may reuse them */
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
}

size_t pd_ring_count(const struct pd_ring *ring)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return head - tail;
}
