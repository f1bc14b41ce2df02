/* xthread - producer/consumer rings between threads; remote free is the rule.
 *
 * THREADS threads sit in a circle. Each thread allocates ITEMS blocks of a
 * random size in [MIN, MAX] (default 16-1024 B), stamps them, and sends them
 * to the next thread through a single-producer single-consumer ring of RING
 * entries; at the same time it receives its predecessor's blocks, checks the
 * stamp and frees them. So every free is a free of a block allocated by
 * another thread, which is still alive and still allocating. Neither side
 * blocks: a thread that can neither send nor receive spins, then yields.
 * One operation is one block (allocated by one thread, freed by another).
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static const char *prog = "xthread";

#define XT_LINE 64

typedef struct {
    _Alignas(XT_LINE) _Atomic uint64_t head;   /* next slot to write (producer) */
    _Alignas(XT_LINE) _Atomic uint64_t tail;   /* next slot to read (consumer)  */
    _Alignas(XT_LINE) void **slot;             /* RING entries                  */
} xt_ring_t;

typedef struct {
    uint64_t index;        /* thread number                   */
    xt_ring_t *out;        /* ring to the next thread         */
    xt_ring_t *in;         /* ring from the previous thread   */
} xt_thread_t;

static uint64_t g_items, g_ring, g_seed, g_min, g_max;
static pthread_barrier_t g_start;

static void *xt_worker(void *arg)
{
    xt_thread_t *self = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, g_seed + self->index);
    uint64_t mask = g_ring - 1;
    uint64_t sent = 0, received = 0, idle = 0;
    uint64_t from = self->index << 40;        /* stamp: sender index | sequence */
    pthread_barrier_wait(&g_start);

    while (sent < g_items || received < g_items) {
        int progress = 0;
        /* send: fill the free part of the out ring */
        if (sent < g_items) {
            uint64_t head = atomic_load_explicit(&self->out->head, memory_order_relaxed);
            uint64_t tail = atomic_load_explicit(&self->out->tail, memory_order_acquire);
            uint64_t room = g_ring - (head - tail);
            uint64_t n = g_items - sent < room ? g_items - sent : room;
            for (uint64_t i = 0; i < n; i++) {
                size_t sz = (size_t)bench_rng_range(&rng, g_min, g_max);
                uint64_t *p = bench_malloc(prog, sz);
                p[0] = from | (sent + i);
                self->out->slot[(head + i) & mask] = p;
            }
            if (n) {
                atomic_store_explicit(&self->out->head, head + n, memory_order_release);
                sent += n;
                progress = 1;
            }
        }
        /* receive: drain the in ring, freeing what the predecessor made */
        uint64_t tail = atomic_load_explicit(&self->in->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&self->in->head, memory_order_acquire);
        if (head != tail) {
            for (uint64_t t = tail; t != head; t++) {
                uint64_t *p = self->in->slot[t & mask];
                if ((p[0] & ((UINT64_C(1) << 40) - 1)) != received + (t - tail))
                    bench_die(prog, "thread %" PRIu64 " received a bad block", self->index);
                free(p);
            }
            received += head - tail;
            atomic_store_explicit(&self->in->tail, head, memory_order_release);
            progress = 1;
        }
        if (progress)
            idle = 0;
        else if (++idle < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "THREADS ITEMS RING SEED [MIN MAX]";
    if (argc != 5 && argc != 7)
        bench_usage(prog, "wrong number of arguments");
    uint64_t threads = bench_arg_u64(prog, "THREADS", argv[1], 2, 1024);
    g_items = bench_arg_u64(prog, "ITEMS", argv[2], 0, UINT64_C(1) << 40);
    g_ring = bench_arg_u64(prog, "RING", argv[3], 1, UINT64_C(1) << 24);
    if (g_ring & (g_ring - 1))
        bench_usage(prog, "RING must be a power of two");
    g_seed = bench_arg_u64(prog, "SEED", argv[4], 0, UINT64_MAX);
    g_min = 16;
    g_max = 1024;
    if (argc == 7) {
        g_min = bench_arg_u64(prog, "MIN", argv[5], 8, UINT64_C(1) << 30);
        g_max = bench_arg_u64(prog, "MAX", argv[6], g_min, UINT64_C(1) << 30);
    }

    xt_ring_t *ring = aligned_alloc(XT_LINE, threads * sizeof *ring);
    xt_thread_t *arg = bench_malloc(prog, threads * sizeof *arg);
    pthread_t *tid = bench_malloc(prog, threads * sizeof *tid);
    if (ring == NULL)
        bench_die(prog, "out of memory");
    for (uint64_t t = 0; t < threads; t++) {
        atomic_init(&ring[t].head, 0);
        atomic_init(&ring[t].tail, 0);
        ring[t].slot = bench_malloc(prog, g_ring * sizeof(void *));
    }
    pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
    for (uint64_t t = 0; t < threads; t++) {
        arg[t].index = t;
        arg[t].out = &ring[t];
        arg[t].in = &ring[(t + threads - 1) % threads];
        int err = pthread_create(&tid[t], NULL, xt_worker, &arg[t]);
        if (err != 0)
            bench_die(prog, "pthread_create: %s", strerror(err));
    }
    pthread_barrier_wait(&g_start);
    uint64_t t0 = bench_now_ns();
    for (uint64_t t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    uint64_t elapsed = bench_now_ns() - t0;
    pthread_barrier_destroy(&g_start);
    for (uint64_t t = 0; t < threads; t++)
        free(ring[t].slot);
    free(ring);
    free(arg);
    free(tid);

    uint64_t ops = threads * g_items;
    char extra[256];
    snprintf(extra, sizeof extra,
             "threads=%" PRIu64 " items=%" PRIu64 " ring=%" PRIu64 " seed=%" PRIu64
             " min=%" PRIu64 " max=%" PRIu64,
             threads, g_items, g_ring, g_seed, g_min, g_max);
    bench_report(prog, extra, ops, elapsed, ops + threads + 2);
    return 0;
}
