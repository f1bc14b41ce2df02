/* larson - the classic Larson & Krishnan server simulation, with fixed work.
 *
 * The main thread fills THREADS arrays of CHUNKS blocks each (sizes random in
 * [MIN, MAX]). Then each array is worked by a chain of GENERATIONS threads:
 * a thread makes ROUNDS x CHUNKS replacements (pick a random victim, free it,
 * allocate a new block of random size, write to it), then starts its
 * successor and exits; the successor joins it and carries on with the same
 * array. So most frees release a block that another thread allocated, and
 * that thread has usually exited - the server pattern the benchmark models.
 * At most THREADS workers run at a time.
 *
 * The original runs for a fixed time and counts; this one does a fixed amount
 * of work, so every allocator makes the same allocations and the run can be
 * checked against hakmem's count. One operation is one replacement.
 */
#include "bench.h"

#include <pthread.h>

static const char *prog = "larson";

typedef struct {
    unsigned char **blocks;   /* CHUNKS blocks                                   */
    uint32_t *sizes;          /* size of each block                              */
    bench_rng_t rng;          /* used by the generation running (one at a time)  */
    pthread_t prev;           /* the generation to join, set by its creator      */
    int has_prev;             /* prev is valid                                   */
    int generation;           /* generations finished so far                     */
    pthread_t last;           /* the last generation, set by itself (g_lock)     */
} larson_slot_t;

static uint64_t g_min, g_max, g_chunks, g_rounds;
static uint64_t g_generations;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done_cv = PTHREAD_COND_INITIALIZER;
static uint64_t g_done;           /* slots whose last generation is done (g_lock) */

static void larson_fill(unsigned char *p, size_t sz, unsigned char tag)
{
    p[sz - 1] = (unsigned char)~tag;
    p[0] = tag;
}

static void larson_check(const unsigned char *p, size_t sz, unsigned char tag)
{
    if (p[0] != tag || p[sz - 1] != (unsigned char)~tag)
        bench_die(prog, "a block was overwritten");
}

static void *larson_worker(void *arg);

static void larson_start(larson_slot_t *slot)
{
    pthread_t tid;
    int err = pthread_create(&tid, NULL, larson_worker, slot);
    if (err != 0)
        bench_die(prog, "pthread_create: %s", strerror(err));
}

static void *larson_worker(void *arg)
{
    larson_slot_t *slot = arg;
    if (slot->has_prev) {
        int err = pthread_join(slot->prev, NULL);
        if (err != 0)
            bench_die(prog, "pthread_join: %s", strerror(err));
    }
    uint64_t n = g_rounds * g_chunks;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = bench_rng_next(&slot->rng);
        size_t victim = (size_t)((r >> 32) % g_chunks);
        unsigned char tag = (unsigned char)victim;
        larson_check(slot->blocks[victim], slot->sizes[victim], tag);
        free(slot->blocks[victim]);
        size_t sz = (size_t)(g_min + (r & 0xffffffffu) % (g_max - g_min + 1));
        unsigned char *p = bench_malloc(prog, sz);
        larson_fill(p, sz, tag);
        slot->blocks[victim] = p;
        slot->sizes[victim] = (uint32_t)sz;
    }
    slot->generation++;
    if ((uint64_t)slot->generation < g_generations) {
        /* hand the array to a new thread, which frees what this one made */
        slot->prev = pthread_self();
        slot->has_prev = 1;
        larson_start(slot);
    } else {
        pthread_mutex_lock(&g_lock);
        slot->last = pthread_self();
        g_done++;
        pthread_cond_signal(&g_done_cv);
        pthread_mutex_unlock(&g_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "THREADS MIN MAX CHUNKS ROUNDS SEED [GENERATIONS]";
    if (argc != 7 && argc != 8)
        bench_usage(prog, "wrong number of arguments");
    uint64_t threads = bench_arg_u64(prog, "THREADS", argv[1], 1, 1024);
    g_min = bench_arg_u64(prog, "MIN", argv[2], 2, UINT64_C(1) << 30);
    g_max = bench_arg_u64(prog, "MAX", argv[3], g_min, UINT64_C(1) << 30);
    g_chunks = bench_arg_u64(prog, "CHUNKS", argv[4], 1, UINT64_C(1) << 24);
    g_rounds = bench_arg_u64(prog, "ROUNDS", argv[5], 0, UINT64_C(1) << 30);
    uint64_t seed = bench_arg_u64(prog, "SEED", argv[6], 0, UINT64_MAX);
    g_generations = argc == 8 ? bench_arg_u64(prog, "GENERATIONS", argv[7], 1, 1 << 20) : 4;

    larson_slot_t *slot = calloc(threads, sizeof *slot);
    if (slot == NULL)
        bench_die(prog, "out of memory");
    /* the main thread makes the first blocks, as in the original */
    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    for (uint64_t t = 0; t < threads; t++) {
        slot[t].blocks = bench_malloc(prog, g_chunks * sizeof *slot[t].blocks);
        slot[t].sizes = bench_malloc(prog, g_chunks * sizeof *slot[t].sizes);
        bench_rng_seed(&slot[t].rng, seed + 1 + t);
        for (uint64_t i = 0; i < g_chunks; i++) {
            size_t sz = (size_t)bench_rng_range(&rng, g_min, g_max);
            slot[t].blocks[i] = bench_malloc(prog, sz);
            slot[t].sizes[i] = (uint32_t)sz;
            larson_fill(slot[t].blocks[i], sz, (unsigned char)i);
        }
    }

    uint64_t t0 = bench_now_ns();
    for (uint64_t t = 0; t < threads; t++)
        larson_start(&slot[t]);
    pthread_mutex_lock(&g_lock);
    while (g_done < threads)
        pthread_cond_wait(&g_done_cv, &g_lock);
    pthread_mutex_unlock(&g_lock);
    for (uint64_t t = 0; t < threads; t++) {
        int err = pthread_join(slot[t].last, NULL);
        if (err != 0)
            bench_die(prog, "pthread_join: %s", strerror(err));
    }
    uint64_t elapsed = bench_now_ns() - t0;

    for (uint64_t t = 0; t < threads; t++) {
        for (uint64_t i = 0; i < g_chunks; i++) {
            larson_check(slot[t].blocks[i], slot[t].sizes[i], (unsigned char)i);
            free(slot[t].blocks[i]);
        }
        free(slot[t].blocks);
        free(slot[t].sizes);
    }
    free(slot);

    uint64_t ops = threads * g_generations * g_rounds * g_chunks;
    uint64_t allocs = ops + threads * (g_chunks + 2); /* mallocs only, not the calloc */
    char extra[256];
    snprintf(extra, sizeof extra,
             "threads=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64 " chunks=%" PRIu64
             " rounds=%" PRIu64 " seed=%" PRIu64 " generations=%" PRIu64,
             threads, g_min, g_max, g_chunks, g_rounds, seed, g_generations);
    bench_report(prog, extra, ops, elapsed, allocs);
    return 0;
}
