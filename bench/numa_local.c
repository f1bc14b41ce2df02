/* numa_local - do threads on several NUMA nodes get memory on their own node?
 *
 * A pool of short-lived worker threads, the way servers run jobs. The
 * program runs GENERATIONS rounds; in each, THREADS threads (0: one per CPU
 * the process may use) start, thread i pinned to CPU (i + g) % ncpus of the
 * allowed CPUs, so that from one round to the next a slot moves to another
 * CPU and, on a two-node machine, every other round to the other node. Each
 * thread
 *   1. frees the blocks the previous round's thread i+1 left behind (on
 *      another CPU, often another node: cross-node frees);
 *   2. allocates a working set of WSET_KIB KiB in blocks of random sizes in
 *      [MIN, MAX] (default 64-8192 B) and writes every byte;
 *   3. reads and writes the whole working set PASSES times;
 *   4. asks the kernel on which node each page of its working set is
 *      (move_pages(2), query mode; not timed) and compares it with the node it
 *      runs on (getcpu(2));
 *   5. frees half of its blocks and leaves the other half to the next round,
 *      then exits.
 * An allocator that hands a thread memory that another thread first touched
 * on another node (a reused arena, a cached block, a reclaimed segment)
 * lowers the local share; the time of steps 1-3 and 5 shows what that costs
 * on real hardware (in an emulated VM remote memory is no slower, so there
 * only the share means anything).
 *
 * Workload keys of the result line (see bench.h for the common ones):
 *   threads gens wset_kib passes seed min max
 *   nodes         NUMA nodes the threads ran on
 *   pages         pages counted (working set pages, summed over threads)
 *   local_pages   of those, on the node of the thread that allocated them
 *   local_pct     100 * local_pages / pages
 *   absent        pages the kernel reported as not present (should be 0)
 * One operation is one allocation (each is freed once). secs is the sum over
 * the rounds of the slowest thread's timed steps.
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *prog = "numa_local";

#define NL_PAGE 4096u
#define NL_MAX_CPUS 1024
#define NL_MAX_NODES 64

typedef struct {
    unsigned index;          /* slot i */
    unsigned gen;            /* round g */
    int cpu;                 /* pinned to */
    unsigned char **blk;     /* the working set */
    uint32_t *size;
    size_t nblk;
    void **left[2];          /* blocks left for the next round, by round parity */
    size_t nleft[2];
    uintptr_t *pages;        /* scratch for the page census */
    int *status;
    /* results of the round */
    uint64_t work_ns;
    uint64_t allocs;
    uint64_t pages_total, pages_local, pages_absent;
    unsigned node;
} nl_slot_t;

static uint64_t g_threads, g_gens, g_wset, g_passes, g_seed, g_min, g_max;
static size_t g_maxblk;
static nl_slot_t *g_slot;
static unsigned g_cpus[NL_MAX_CPUS], g_ncpus;
static uint64_t g_nodes_seen;

static int nl_cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Step 4: where the pages of the working set are. */
static void nl_census(nl_slot_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nblk; i++) {
        uintptr_t lo = (uintptr_t)s->blk[i] & ~(uintptr_t)(NL_PAGE - 1);
        uintptr_t hi = (uintptr_t)s->blk[i] + s->size[i];
        for (uintptr_t p = lo; p < hi; p += NL_PAGE)
            s->pages[n++] = p;
    }
    qsort(s->pages, n, sizeof *s->pages, nl_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || s->pages[u - 1] != s->pages[i])
            s->pages[u++] = s->pages[i];
    for (size_t done = 0; done < u;) {
        size_t k = u - done < 4096 ? u - done : 4096;
        if (syscall(SYS_move_pages, 0, (unsigned long)k, (void **)(s->pages + done), NULL,
                    s->status + done, 0) != 0)
            for (size_t i = 0; i < k; i++)
                s->status[done + i] = -errno;
        done += k;
    }
    s->pages_total = u;
    s->pages_local = s->pages_absent = 0;
    for (size_t i = 0; i < u; i++) {
        if (s->status[i] < 0)
            s->pages_absent++;
        else if ((unsigned)s->status[i] == s->node)
            s->pages_local++;
    }
}

static void *nl_worker(void *arg)
{
    nl_slot_t *s = arg;
    nl_slot_t *prev = &g_slot[(s->index + 1) % g_threads];
    bench_rng_t rng;
    bench_rng_seed(&rng, g_seed + s->gen * g_threads + s->index);
    unsigned cpu = 0, node = 0;
    syscall(SYS_getcpu, &cpu, &node, NULL);
    s->node = node;

    uint64_t t0 = bench_now_ns();
    /* 1. the previous round's blocks of slot i+1 (that thread has exited;
     * this round's slot i+1 writes the other parity) */
    unsigned old = (s->gen + 1) % 2, cur = s->gen % 2;
    for (size_t i = 0; i < prev->nleft[old]; i++)
        free(prev->left[old][i]);
    prev->nleft[old] = 0;
    /* 2. the working set, every byte written */
    size_t bytes = 0;
    s->nblk = 0;
    while (bytes < g_wset && s->nblk < g_maxblk) {
        size_t sz = (size_t)bench_rng_range(&rng, g_min, g_max);
        unsigned char *p = bench_malloc(prog, sz);
        memset(p, (int)(s->nblk & 0xff), sz);
        s->blk[s->nblk] = p;
        s->size[s->nblk++] = (uint32_t)sz;
        bytes += sz;
    }
    s->allocs += s->nblk;
    /* 3. passes over it */
    uint64_t sum = 0;
    for (uint64_t pass = 0; pass < g_passes; pass++)
        for (size_t i = 0; i < s->nblk; i++) {
            unsigned char *p = s->blk[i];
            for (size_t k = 0; k + 8 <= s->size[i]; k += 8) {
                uint64_t w;
                memcpy(&w, p + k, 8);
                w += pass;
                sum += w;
                memcpy(p + k, &w, 8);
            }
        }
    bench_escape((void *)(uintptr_t)sum);
    uint64_t t1 = bench_now_ns();

    /* 4. not timed */
    nl_census(s);

    /* 5. half freed here, half left to the next round */
    uint64_t t2 = bench_now_ns();
    s->nleft[cur] = 0;
    for (size_t i = 0; i < s->nblk; i++) {
        if (s->blk[i][0] != (unsigned char)((i & 0xff) + g_passes * (g_passes - 1) / 2))
            bench_die(prog, "block %zu of slot %u was overwritten", i, s->index);
        if (i % 2 == 0)
            free(s->blk[i]);
        else
            s->left[cur][s->nleft[cur]++] = s->blk[i];
    }
    s->work_ns = (t1 - t0) + (bench_now_ns() - t2);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_usage_text = "THREADS GENERATIONS WSET_KIB PASSES SEED [MIN MAX]";
    if (argc != 6 && argc != 8)
        bench_usage(prog, "wrong number of arguments");
    g_threads = bench_arg_u64(prog, "THREADS", argv[1], 0, NL_MAX_CPUS);
    g_gens = bench_arg_u64(prog, "GENERATIONS", argv[2], 1, 1u << 20);
    g_wset = bench_arg_u64(prog, "WSET_KIB", argv[3], 1, UINT64_C(1) << 24) * 1024;
    g_passes = bench_arg_u64(prog, "PASSES", argv[4], 0, 1u << 20);
    g_seed = bench_arg_u64(prog, "SEED", argv[5], 0, UINT64_MAX);
    g_min = 64;
    g_max = 8192;
    if (argc == 8) {
        g_min = bench_arg_u64(prog, "MIN", argv[6], 8, UINT64_C(1) << 30);
        g_max = bench_arg_u64(prog, "MAX", argv[7], g_min, UINT64_C(1) << 30);
    }

    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        bench_die(prog, "sched_getaffinity: %s", strerror(errno));
    for (unsigned c = 0; c < CPU_SETSIZE && g_ncpus < NL_MAX_CPUS; c++)
        if (CPU_ISSET(c, &set))
            g_cpus[g_ncpus++] = c;
    if (g_threads == 0)
        g_threads = g_ncpus;

    /* Bookkeeping, allocated before the timed rounds. */
    g_maxblk = (size_t)(g_wset / g_min) + 1;
    size_t maxpages = (size_t)(g_wset / NL_PAGE) + 2 * g_maxblk + 2;
    g_slot = calloc(g_threads, sizeof *g_slot);
    pthread_t *tid = calloc(g_threads, sizeof *tid);
    if (g_slot == NULL || tid == NULL)
        bench_die(prog, "out of memory");
    for (uint64_t i = 0; i < g_threads; i++) {
        nl_slot_t *s = &g_slot[i];
        s->index = (unsigned)i;
        s->blk = calloc(g_maxblk, sizeof *s->blk);
        s->size = calloc(g_maxblk, sizeof *s->size);
        s->left[0] = calloc(g_maxblk, sizeof *s->left[0]);
        s->left[1] = calloc(g_maxblk, sizeof *s->left[1]);
        s->pages = calloc(maxpages, sizeof *s->pages);
        s->status = calloc(maxpages, sizeof *s->status);
        if (!s->blk || !s->size || !s->left[0] || !s->left[1] || !s->pages || !s->status)
            bench_die(prog, "out of memory");
    }

    uint64_t elapsed = 0, pages = 0, local = 0, absent = 0, allocs = 0;
    for (uint64_t g = 0; g < g_gens; g++) {
        for (uint64_t i = 0; i < g_threads; i++) {
            nl_slot_t *s = &g_slot[i];
            s->gen = (unsigned)g;
            s->cpu = (int)g_cpus[(i + g) % g_ncpus];
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET((unsigned)s->cpu, &one);
            pthread_attr_setaffinity_np(&attr, sizeof one, &one);
            int err = pthread_create(&tid[i], &attr, nl_worker, s);
            pthread_attr_destroy(&attr);
            if (err != 0)
                bench_die(prog, "pthread_create: %s", strerror(err));
        }
        /* Slot i frees what slot i+1 left, so a slot must not start before
         * the previous round's slot i+1 has finished: rounds are joined. */
        uint64_t slowest = 0;
        for (uint64_t i = 0; i < g_threads; i++) {
            pthread_join(tid[i], NULL);
            nl_slot_t *s = &g_slot[i];
            if (s->work_ns > slowest)
                slowest = s->work_ns;
            pages += s->pages_total;
            local += s->pages_local;
            absent += s->pages_absent;
            if (s->node < NL_MAX_NODES)
                g_nodes_seen |= UINT64_C(1) << s->node;
        }
        elapsed += slowest;
    }
    for (uint64_t i = 0; i < g_threads; i++) {
        nl_slot_t *s = &g_slot[i];
        for (unsigned b = 0; b < 2; b++) {
            for (size_t k = 0; k < s->nleft[b]; k++)
                free(s->left[b][k]);
            free(s->left[b]);
        }
        allocs += s->allocs;
        free(s->blk);
        free(s->size);
        free(s->pages);
        free(s->status);
    }
    free(g_slot);
    free(tid);

    char extra[512];
    snprintf(extra, sizeof extra,
             "threads=%" PRIu64 " gens=%" PRIu64 " wset_kib=%" PRIu64 " passes=%" PRIu64
             " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64 " nodes=%d pages=%" PRIu64
             " local_pages=%" PRIu64 " local_pct=%.2f absent=%" PRIu64,
             g_threads, g_gens, g_wset / 1024, g_passes, g_seed, g_min, g_max,
             __builtin_popcountll(g_nodes_seen), pages, local,
             pages ? 100.0 * (double)local / (double)pages : 0.0, absent);
    bench_report(prog, extra, allocs, elapsed, allocs + 6 * g_threads + 2);
    return 0;
}
