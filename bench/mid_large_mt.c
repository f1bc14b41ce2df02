/* mid_large_mt - multi-threaded random replacement of 8-32 KiB blocks.
 *
 * The seeds' "Mid-Large MT" workload: THREADS threads (the seeds used 2), each
 * with its own working set of SLOTS pointers (2,048), make CYCLES random
 * replacements each (the seeds ran 40,000): free the block in a random slot
 * and allocate a new one of a random size in [MIN, MAX] (default 8-32 KiB),
 * writing its first and last byte. The threads start together at a barrier;
 * the time runs from there to the last join. One operation is one cycle.
 */
#include "bench.h"

#include <pthread.h>

static const char *prog = "mid_large_mt";

typedef struct {
    uint64_t index;           /* thread number, also the seed offset */
} mid_thread_t;

static uint64_t g_cycles, g_slots, g_seed, g_min, g_max;
static pthread_barrier_t g_start;

static void *mid_worker(void *arg)
{
    mid_thread_t *self = arg;
    unsigned char **ptr = calloc(g_slots, sizeof *ptr);
    uint32_t *size = calloc(g_slots, sizeof *size);
    if (ptr == NULL || size == NULL)
        bench_die(prog, "out of memory for the slots");
    bench_rng_t rng;
    bench_rng_seed(&rng, g_seed + self->index);
    pthread_barrier_wait(&g_start);

    for (uint64_t i = 0; i < g_cycles; i++) {
        uint64_t r = bench_rng_next(&rng);
        size_t idx = (size_t)((r >> 32) % g_slots);
        unsigned char tag = (unsigned char)idx;
        unsigned char *old = ptr[idx];
        if (old != NULL) {
            if (old[0] != tag || old[size[idx] - 1] != (unsigned char)~tag)
                bench_die(prog, "block of slot %zu was overwritten", idx);
            free(old);
        }
        size_t sz = (size_t)(g_min + (r & 0xffffffffu) % (g_max - g_min + 1));
        unsigned char *p = bench_malloc(prog, sz);
        p[sz - 1] = (unsigned char)~tag;
        p[0] = tag;
        ptr[idx] = p;
        size[idx] = (uint32_t)sz;
    }

    for (uint64_t i = 0; i < g_slots; i++)
        free(ptr[i]);
    free(ptr);
    free(size);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "THREADS CYCLES SLOTS SEED [MIN MAX]";
    if (argc != 5 && argc != 7)
        bench_usage(prog, "wrong number of arguments");
    uint64_t threads = bench_arg_u64(prog, "THREADS", argv[1], 1, 1024);
    g_cycles = bench_arg_u64(prog, "CYCLES", argv[2], 0, UINT64_C(1) << 40);
    g_slots = bench_arg_u64(prog, "SLOTS", argv[3], 1, UINT64_C(1) << 24);
    g_seed = bench_arg_u64(prog, "SEED", argv[4], 0, UINT64_MAX);
    g_min = 8192;
    g_max = 32768;
    if (argc == 7) {
        g_min = bench_arg_u64(prog, "MIN", argv[5], 2, UINT64_C(1) << 30);
        g_max = bench_arg_u64(prog, "MAX", argv[6], g_min, UINT64_C(1) << 30);
    }

    pthread_t *tid = bench_malloc(prog, threads * sizeof *tid);
    mid_thread_t *arg = bench_malloc(prog, threads * sizeof *arg);
    pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
    for (uint64_t t = 0; t < threads; t++) {
        arg[t].index = t;
        int err = pthread_create(&tid[t], NULL, mid_worker, &arg[t]);
        if (err != 0)
            bench_die(prog, "pthread_create: %s", strerror(err));
    }
    pthread_barrier_wait(&g_start);
    uint64_t t0 = bench_now_ns();
    for (uint64_t t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    uint64_t elapsed = bench_now_ns() - t0;
    pthread_barrier_destroy(&g_start);
    free(tid);
    free(arg);

    uint64_t ops = threads * g_cycles;
    char extra[256];
    snprintf(extra, sizeof extra,
             "threads=%" PRIu64 " cycles=%" PRIu64 " slots=%" PRIu64 " seed=%" PRIu64
             " min=%" PRIu64 " max=%" PRIu64,
             threads, g_cycles, g_slots, g_seed, g_min, g_max);
    bench_report(prog, extra, ops, elapsed, ops + 2);
    return 0;
}
