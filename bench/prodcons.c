/* prodcons - producers allocate, consumers free: every free is remote, and
 * the producers' allocators get their memory back only through the frees of
 * other threads.
 *
 * PRODUCERS threads allocate blocks of a random size in [MIN, MAX] (default
 * 16-1024 B), stamp them and send them through single-producer
 * single-consumer rings of RING entries to CONSUMERS threads: producer p
 * feeds consumers p, p + P, p + 2P, ... in turn when there are more
 * consumers (1 -> N), consumer c drains producers c, c + C, ... when there
 * are more producers (N -> 1), one ring per (producer, consumer) pair that
 * meets. A consumer checks each stamp and frees the block. Neither side
 * blocks: a thread that can do nothing spins a little, then yields (more
 * threads than cores expose preempted lock holders). One operation is one
 * block (allocated by one thread, freed by another). This is the shape of
 * mimalloc-bench's xmalloc-test; xthread is the symmetric ring.
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static const char *prog = "prodcons";

#define PC_LINE 64

typedef struct {
    _Alignas(PC_LINE) _Atomic uint64_t head;   /* next slot to write (producer) */
    _Alignas(PC_LINE) _Atomic uint64_t tail;   /* next slot to read (consumer)  */
    _Alignas(PC_LINE) void **slot;             /* RING entries                  */
    uint64_t producer;                         /* index of the producer         */
} pc_ring_t;

typedef struct {
    uint64_t index;
    uint64_t items;        /* blocks to send (producer) or receive (consumer) */
    pc_ring_t **rings;     /* the rings it writes (producer) or reads (consumer) */
    uint64_t *quota;       /* producer: blocks still to send into each ring */
    uint64_t nrings;
} pc_thread_t;

/* What producer-side ring ix of a producer with nrings rings carries of its
 * items: an even split, the first rings taking the remainder. */
static uint64_t pc_share(uint64_t items, uint64_t nrings, uint64_t ix)
{
    return items / nrings + (ix < items % nrings);
}

static uint64_t g_ring, g_seed, g_min, g_max;
static pthread_barrier_t g_start;

static void pc_idle(uint64_t *idle)
{
    if (++*idle < 64)
        __builtin_ia32_pause();
    else
        sched_yield();
}

static void *pc_producer(void *arg)
{
    pc_thread_t *self = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, g_seed + self->index);
    uint64_t mask = g_ring - 1, sent = 0, idle = 0, next = 0;
    pthread_barrier_wait(&g_start);
    while (sent < self->items) {
        uint64_t j = next;
        pc_ring_t *r = self->rings[j];
        next = next + 1 == self->nrings ? 0 : next + 1;
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        uint64_t room = g_ring - (head - tail);
        /* A burst of at most 64 per ring, then the next: 1 -> N spreads
         * evenly while every consumer keeps up. */
        uint64_t n = room < 64 ? room : 64;
        if (n > self->quota[j])
            n = self->quota[j];
        if (n == 0) {
            pc_idle(&idle);
            continue;
        }
        idle = 0;
        for (uint64_t i = 0; i < n; i++) {
            size_t sz = (size_t)bench_rng_range(&rng, g_min, g_max);
            uint64_t *p = bench_malloc(prog, sz);
            p[0] = (self->index << 40) | (head + i);
            r->slot[(head + i) & mask] = p;
        }
        atomic_store_explicit(&r->head, head + n, memory_order_release);
        self->quota[j] -= n;
        sent += n;
    }
    return NULL;
}

static void *pc_consumer(void *arg)
{
    pc_thread_t *self = arg;
    uint64_t mask = g_ring - 1, received = 0, idle = 0, next = 0;
    pthread_barrier_wait(&g_start);
    while (received < self->items) {
        pc_ring_t *r = self->rings[next];
        next = next + 1 == self->nrings ? 0 : next + 1;
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (head == tail) {
            pc_idle(&idle);
            continue;
        }
        idle = 0;
        for (uint64_t t = tail; t != head; t++) {
            uint64_t *p = r->slot[t & mask];
            if (p[0] != ((r->producer << 40) | t))
                bench_die(prog, "consumer %" PRIu64 " received a bad block", self->index);
            free(p);
        }
        received += head - tail;
        atomic_store_explicit(&r->tail, head, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "PRODUCERS CONSUMERS ITEMS RING SEED [MIN MAX]\n"
                       "  ITEMS: blocks each producer makes";
    if (argc != 6 && argc != 8)
        bench_usage(prog, "wrong number of arguments");
    uint64_t np = bench_arg_u64(prog, "PRODUCERS", argv[1], 1, 512);
    uint64_t nc = bench_arg_u64(prog, "CONSUMERS", argv[2], 1, 512);
    uint64_t items = bench_arg_u64(prog, "ITEMS", argv[3], 0, UINT64_C(1) << 40);
    g_ring = bench_arg_u64(prog, "RING", argv[4], 1, UINT64_C(1) << 24);
    if (g_ring & (g_ring - 1))
        bench_usage(prog, "RING must be a power of two");
    g_seed = bench_arg_u64(prog, "SEED", argv[5], 0, UINT64_MAX);
    g_min = 16;
    g_max = 1024;
    if (argc == 8) {
        g_min = bench_arg_u64(prog, "MIN", argv[6], 8, UINT64_C(1) << 30);
        g_max = bench_arg_u64(prog, "MAX", argv[7], g_min, UINT64_C(1) << 30);
    }

    /* max(P, C) rings: ring k joins producer k % P and consumer k % C, so
     * every thread has at least one, a producer of 1 -> N feeds all N, a
     * consumer of N -> 1 drains all N. */
    uint64_t nr = np > nc ? np : nc;
    pc_ring_t *ring = aligned_alloc(PC_LINE, nr * sizeof *ring);
    pc_thread_t *th = bench_malloc(prog, (np + nc) * sizeof *th);
    pthread_t *tid = bench_malloc(prog, (np + nc) * sizeof *tid);
    pc_ring_t **lists = bench_malloc(prog, 2 * nr * sizeof *lists);
    uint64_t *quota = bench_malloc(prog, nr * sizeof *quota);
    uint64_t *carries = bench_malloc(prog, nr * sizeof *carries);
    if (ring == NULL)
        bench_die(prog, "out of memory");
    for (uint64_t k = 0; k < nr; k++) {
        atomic_init(&ring[k].head, 0);
        atomic_init(&ring[k].tail, 0);
        ring[k].slot = bench_malloc(prog, g_ring * sizeof(void *));
        ring[k].producer = k % np;
    }
    uint64_t used = 0, qused = 0;
    for (uint64_t p = 0; p < np; p++) {
        pc_thread_t *t = &th[p];
        t->index = p;
        t->items = items;
        t->rings = lists + used;
        t->quota = quota + qused;
        uint64_t n = (nr - 1 - p) / np + 1;
        for (uint64_t k = p, ix = 0; k < nr; k += np, ix++) {
            lists[used++] = &ring[k];
            quota[qused++] = carries[k] = pc_share(items, n, ix);
        }
        t->nrings = n;
    }
    for (uint64_t c = 0; c < nc; c++) {
        pc_thread_t *t = &th[np + c];
        t->index = c;
        t->items = 0;
        t->quota = NULL;
        t->rings = lists + used;
        t->nrings = 0;
        for (uint64_t k = c; k < nr; k += nc) {
            lists[used++] = &ring[k];
            t->items += carries[k];
            t->nrings++;
        }
    }
    pthread_barrier_init(&g_start, NULL, (unsigned)(np + nc) + 1);
    for (uint64_t i = 0; i < np + nc; i++) {
        int err = pthread_create(&tid[i], NULL, i < np ? pc_producer : pc_consumer, &th[i]);
        if (err != 0)
            bench_die(prog, "pthread_create: %s", strerror(err));
    }
    pthread_barrier_wait(&g_start);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < np + nc; i++)
        pthread_join(tid[i], NULL);
    uint64_t elapsed = bench_now_ns() - t0;
    pthread_barrier_destroy(&g_start);
    for (uint64_t k = 0; k < nr; k++)
        free(ring[k].slot);
    free(ring);
    free(th);
    free(tid);
    free(lists);
    free(quota);
    free(carries);

    uint64_t ops = np * items;
    char extra[256];
    snprintf(extra, sizeof extra,
             "producers=%" PRIu64 " consumers=%" PRIu64 " items=%" PRIu64 " ring=%" PRIu64
             " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64,
             np, nc, items, g_ring, g_seed, g_min, g_max);
    bench_report(prog, extra, ops, elapsed, ops + nr + 4);
    return 0;
}
