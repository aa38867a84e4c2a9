/* deflate_pool.c — shuffles and deflates the columns of a chunk into HDF5's filter format, on the
 * calling thread and one helper thread at once. The writer thread is the only one that compresses
 * a run's data; at full speed that is all it does, while the other core waits for the disk or for
 * the next sample, so the columns of a chunk are shared between the two (taken in turn from one
 * counter: no column is waited for while another could be compressed). Each side has its own
 * z_stream (reset per column, not allocated) and shuffle buffer. The helper is started at the
 * first chunk; without it (thread creation failed) the caller compresses everything itself. */
#include "store/store_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct side {
    z_stream z;
    bool z_ready;
    unsigned char *shuffled;
    size_t shuffled_cap;
};

struct pd_deflate_pool {
    int level;
    struct side mine, helper;
    pthread_t thread;
    bool started, tried;
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    struct pd_deflate_job *jobs; /* the chunk being compressed; both sides read, each writes its own jobs */
    size_t n_jobs;
    atomic_size_t next;          /* the next job to take */
    unsigned round, helper_round; /* rounds posted / finished by the helper */
    bool quit;
};

/* HDF5's shuffle filter: byte j of every element together, for j = 0..size-1. */
static void shuffle_bytes(unsigned char *dst, const unsigned char *src, size_t n, size_t size)
{
    if (size == 8) { /* the common case, with constant strides the compiler can unroll */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < 8; j++)
                dst[j * n + i] = src[i * 8 + j];
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < size; j++)
            dst[j * n + i] = src[i * size + j];
}

/* One job: shuffle, then HDF5's deflate filter (one zlib stream, compress2's format). */
static void compress_job(struct side *s, struct pd_deflate_job *j)
{
    size_t bytes = j->n * j->elem;
    shuffle_bytes(s->shuffled, j->src, j->n, j->elem);
    j->rc = -1;
    if (deflateReset(&s->z) != Z_OK)
        return;
    s->z.next_in = s->shuffled;
    s->z.avail_in = (uInt)bytes;
    s->z.next_out = j->dst;
    s->z.avail_out = (uInt)j->cap;
    if (deflate(&s->z, Z_FINISH) != Z_STREAM_END)
        return;
    j->out = j->cap - s->z.avail_out;
    j->rc = 0;
}

/* Takes jobs from the shared counter until none is left. */
static void take_jobs(struct pd_deflate_pool *p, struct side *s)
{
    for (size_t k; (k = atomic_fetch_add(&p->next, 1)) < p->n_jobs;)
        compress_job(s, &p->jobs[k]);
}

static void *helper_main(void *arg)
{
    struct pd_deflate_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->helper_round == p->round)
            pthread_cond_wait(&p->go, &p->lock);
        if (p->quit)
            break;
        unsigned round = p->round;
        pthread_mutex_unlock(&p->lock);
        take_jobs(p, &p->helper);
        pthread_mutex_lock(&p->lock);
        p->helper_round = round;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int side_init(struct side *s, int level)
{
    memset(s, 0, sizeof *s);
    if (deflateInit(&s->z, level) != Z_OK)
        return -1;
    s->z_ready = true;
    return 0;
}

static void side_free(struct side *s)
{
    if (s->z_ready)
        deflateEnd(&s->z);
    free(s->shuffled);
}

static int side_reserve(struct side *s, size_t bytes)
{
    if (bytes <= s->shuffled_cap)
        return 0;
    unsigned char *b = realloc(s->shuffled, bytes);
    if (!b)
        return -1;
    s->shuffled = b;
    s->shuffled_cap = bytes;
    return 0;
}

struct pd_deflate_pool *pd_deflate_pool_new(int level)
{
    struct pd_deflate_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->level = level;
    if (side_init(&p->mine, level) < 0 || side_init(&p->helper, level) < 0) {
        side_free(&p->mine);
        side_free(&p->helper);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    return p;
}

void pd_deflate_pool_free(struct pd_deflate_pool *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->quit = true;
        pthread_cond_signal(&p->go);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    side_free(&p->mine);
    side_free(&p->helper);
    free(p);
}

int pd_deflate_pool_run(struct pd_deflate_pool *p, struct pd_deflate_job *jobs, size_t n)
{
    size_t widest = 0;
    for (size_t k = 0; k < n; k++)
        if (jobs[k].n * jobs[k].elem > widest)
            widest = jobs[k].n * jobs[k].elem;
    if (side_reserve(&p->mine, widest) < 0)
        return -1;
    if (!p->tried) { /* the helper, at the first chunk */
        p->tried = true;
        p->started = pthread_create(&p->thread, NULL, helper_main, p) == 0;
    }
    bool shared = p->started && n > 1 && side_reserve(&p->helper, widest) == 0;
    p->jobs = jobs;
    p->n_jobs = n;
    atomic_store(&p->next, 0);
    if (shared) {
        pthread_mutex_lock(&p->lock);
        p->round++;
        pthread_cond_signal(&p->go);
        pthread_mutex_unlock(&p->lock);
    }
    take_jobs(p, &p->mine);
    if (shared) { /* the helper may still be on its last job */
        pthread_mutex_lock(&p->lock);
        while (p->helper_round != p->round)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    for (size_t k = 0; k < n; k++)
        if (jobs[k].rc < 0)
            return -1;
    return 0;
}
