/* churn_mixed - threads churning a working set of small and page-layer blocks.
 *
 * THREADS threads (the runner uses max(2, cores)), each with its own working
 * set of SLOTS pointers, empty at the start, make OPS random replacements
 * each: free the block in a random slot (checking its first and last byte)
 * and allocate a new one there, writing its first and last byte. Three
 * allocations in four are small, 16 B to 4 KiB; one in four is 40,000 to
 * 340,000 B (the page layer's range, where an allocator that maps and unmaps
 * every block pays system calls and page faults). Sizes and slots come from
 * SEED + the thread's number and are the same for every allocator. The
 * threads start together at a barrier; the time runs from there to the last
 * join and includes each thread's final frees. One operation is one
 * replacement.
 *
 * The result line adds faults_per_op: the soft page faults of the process
 * during the timed part divided by the operations.
 */
#include "bench.h"

#include <pthread.h>

static const char *prog = "churn_mixed";

#define CM_SMALL_MIN 16
#define CM_SMALL_MAX 4096
#define CM_LARGE_MIN 40000
#define CM_LARGE_MAX 340000

typedef struct {
    uint64_t index;           /* thread number, also the seed offset */
    uint64_t large;           /* large allocations made              */
} cm_thread_t;

static uint64_t g_ops, g_slots, g_seed;
static pthread_barrier_t g_start;

static void *cm_worker(void *arg)
{
    cm_thread_t *self = arg;
    unsigned char **ptr = calloc(g_slots, sizeof *ptr);
    uint32_t *size = calloc(g_slots, sizeof *size);
    if (ptr == NULL || size == NULL)
        bench_die(prog, "out of memory for the slots");
    bench_rng_t rng;
    bench_rng_seed(&rng, g_seed + self->index);
    uint64_t large = 0;
    pthread_barrier_wait(&g_start);

    for (uint64_t i = 0; i < g_ops; i++) {
        uint64_t r = bench_rng_next(&rng);
        size_t idx = (size_t)((r >> 32) % g_slots);
        unsigned char tag = (unsigned char)(idx * 7 + self->index);
        unsigned char *old = ptr[idx];
        if (old != NULL) {
            if (old[0] != tag || old[size[idx] - 1] != (unsigned char)~tag)
                bench_die(prog, "block of slot %zu was overwritten", idx);
            free(old);
        }
        size_t sz;
        if (((r >> 24) & 3) == 0) {
            sz = (size_t)bench_rng_range(&rng, CM_LARGE_MIN, CM_LARGE_MAX);
            large++;
        } else {
            sz = (size_t)bench_rng_range(&rng, CM_SMALL_MIN, CM_SMALL_MAX);
        }
        unsigned char *p = bench_malloc(prog, sz);
        p[sz - 1] = (unsigned char)~tag;
        p[0] = tag;
        ptr[idx] = p;
        size[idx] = (uint32_t)sz;
    }

    for (uint64_t i = 0; i < g_slots; i++) {
        unsigned char *p = ptr[i];
        unsigned char tag = (unsigned char)(i * 7 + self->index);
        if (p != NULL && (p[0] != tag || p[size[i] - 1] != (unsigned char)~tag))
            bench_die(prog, "block of slot %" PRIu64 " was overwritten", i);
        free(p);
    }
    free(ptr);
    free(size);
    self->large = large;
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "THREADS OPS SLOTS SEED";
    if (argc != 5)
        bench_usage(prog, "wrong number of arguments");
    uint64_t threads = bench_arg_u64(prog, "THREADS", argv[1], 1, 1024);
    g_ops = bench_arg_u64(prog, "OPS", argv[2], 0, UINT64_C(1) << 40);
    g_slots = bench_arg_u64(prog, "SLOTS", argv[3], 1, UINT64_C(1) << 24);
    g_seed = bench_arg_u64(prog, "SEED", argv[4], 0, UINT64_MAX);

    pthread_t *tid = bench_malloc(prog, threads * sizeof *tid);
    cm_thread_t *arg = bench_malloc(prog, threads * sizeof *arg);
    pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
    for (uint64_t t = 0; t < threads; t++) {
        arg[t].index = t;
        arg[t].large = 0;
        int err = pthread_create(&tid[t], NULL, cm_worker, &arg[t]);
        if (err != 0)
            bench_die(prog, "pthread_create: %s", strerror(err));
    }
    pthread_barrier_wait(&g_start);
    long flt0 = bench_minflt();
    uint64_t t0 = bench_now_ns();
    for (uint64_t t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    uint64_t elapsed = bench_now_ns() - t0;
    long faults = bench_minflt() - flt0;
    pthread_barrier_destroy(&g_start);
    uint64_t large = 0;
    for (uint64_t t = 0; t < threads; t++)
        large += arg[t].large;
    free(tid);
    free(arg);

    uint64_t ops = threads * g_ops;
    char extra[320];
    snprintf(extra, sizeof extra,
             "threads=%" PRIu64 " ops_per_thread=%" PRIu64 " slots=%" PRIu64 " seed=%" PRIu64
             " large=%" PRIu64 " faults=%ld faults_per_op=%.3f",
             threads, g_ops, g_slots, g_seed, large, faults,
             ops ? (double)faults / (double)ops : 0.0);
    bench_report(prog, extra, ops, elapsed, ops + 2);
    return 0;
}
