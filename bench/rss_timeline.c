/* rss_timeline - resident memory over time through allocation phases and idle
 * periods: does an allocator give freed memory back, and how soon?
 *
 * A sampler thread reads VmRSS from /proc/self/status every SAMPLE_MS
 * (default 50 ms) and records it with the time and the current phase. It
 * makes no allocator call: it reads /proc with open/read into a buffer on its
 * stack and stores into an array allocated before the phases; the samples are
 * printed at the end. The phases, in order:
 *
 *   small       SMALL_MIB (200) MiB of blocks of 64-1024 B, each written in
 *               full, then 90 % of them freed in random order: the 10 % left
 *               live are scattered over everything allocated
 *   idle_small  IDLE_MS (2500) ms of sleep: no allocator call at all
 *   mid         MID_MIB (150) MiB of blocks of 4-32 KiB, written in full, then
 *               all freed but every 8th (in allocation order)
 *   idle_mid    IDLE_MS of sleep
 *   large       LARGE_COUNT (40) blocks of 1-4 MiB, written in full, all live
 *               together, then all freed
 *   idle_large  IDLE_MS of sleep
 *   steady      everything still live is freed, then STEADY_MS (2000) ms of
 *               malloc/free pairs of 16-256 B (random replacement in 512
 *               slots, each block written in full), as fast as they go
 *   end         the steady blocks are freed; the sampler stops
 *
 * Sizes and orders come from SEED (xorshift64*) and are the same under every
 * allocator. Each block is filled with a tag byte and checked (first and last
 * byte) before it is freed.
 *
 * Output, after the phases (nothing is printed while they run):
 *
 *   PHASE t_ms=T phase=NAME rss_kb=R live_kb=L       at the start of each phase
 *   SAMPLE t_ms=T rss_kb=R phase=NAME live_kb=L      one per sample
 *   RESULT bench=rss_timeline ...                    the usual result line
 *
 * t_ms counts from the start of the program's main; rss_kb is VmRSS; live_kb
 * is what the program holds at that moment: the bytes it asked malloc for and
 * has not freed (its blocks and its arrays, without the samples array),
 * rounded down to KiB. The result line adds the parameters, base_kb (VmRSS
 * before the first phase), for each idle phase its VmRSS at the start and at
 * the end (idle_small_start_kb, idle_small_end_kb, ... idle_large_end_kb),
 * steady_end_kb (VmRSS at the end of the steady traffic), the live bytes at
 * the same points (live_idle_small_end_kb, ...), peak_kb (VmHWM), peak_live_kb,
 * samples, samples_dropped (samples that did not fit in the array) and end_ms.
 * ops counts the allocations of the phases (each freed later); secs is the
 * whole run; allocs adds the program's arrays.
 */
#include "bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static const char *prog = "rss_timeline";

enum {
    RT_SMALL,
    RT_IDLE_SMALL,
    RT_MID,
    RT_IDLE_MID,
    RT_LARGE,
    RT_IDLE_LARGE,
    RT_STEADY,
    RT_END,
    RT_NPHASES
};

static const char *const rt_phase_name[RT_NPHASES] = {
    "small", "idle_small", "mid", "idle_mid", "large", "idle_large", "steady", "end",
};

#define RT_STEADY_SLOTS 512

typedef struct {
    unsigned char *p;
    uint32_t size;
} rt_block_t;

typedef struct {
    uint32_t t_ms;  /* since rt.t0 */
    uint32_t phase; /* RT_* */
    long rss_kb;    /* VmRSS, -1 when unreadable */
    uint64_t live;  /* rt.live_pub at the time */
} rt_sample_t;

/* The state shared by the main thread and the sampler. */
static struct {
    uint64_t t0;                /* start, bench_now_ns(); written before the sampler starts */
    uint64_t period_ns;         /* sampling period; likewise */
    uint64_t live;              /* bytes held; main thread only */
    _Atomic uint64_t live_pub;  /* live as last published by the main thread */
    _Atomic uint32_t phase;     /* current phase; main thread writes */
    _Atomic int stop;           /* main thread sets it, sampler exits */
    rt_sample_t *samples;       /* sampler only until joined */
    size_t nsamples, cap, dropped; /* likewise */
    rt_sample_t event[RT_NPHASES]; /* the start of each phase; main thread only */
    uint64_t peak_live;         /* the most live ever held; main thread only */
    uint64_t allocs;            /* every malloc the program made; main thread only */
    uint64_t ops;               /* mallocs of the phases */
    uint64_t changes;           /* block mallocs and frees, to publish live every 1024 */
} rt;

/* The value in KiB of line `key` of /proc/self/status, read without any
 * allocation (open/read into a stack buffer), so that the sampler thread
 * never calls the allocator; -1 when unreadable. */
static long rt_status_kb(const char *key)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    size_t klen = strlen(key);
    for (const char *line = buf; line != NULL && *line != '\0';) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            return strtol(line + klen + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static long rt_rss_kb(void)
{
    return rt_status_kb("VmRSS");
}

static uint32_t rt_ms_since_start(uint64_t now)
{
    return (uint32_t)((now - rt.t0) / 1000000u);
}

static void rt_publish(void)
{
    atomic_store_explicit(&rt.live_pub, rt.live, memory_order_relaxed);
}

static void *rt_sampler(void *arg)
{
    uint64_t next = rt.t0;
    while (!atomic_load_explicit(&rt.stop, memory_order_acquire)) {
        uint64_t now = bench_now_ns();
        if (now < next) {
            struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        rt_sample_t s = {
            .t_ms = rt_ms_since_start(now),
            .phase = atomic_load_explicit(&rt.phase, memory_order_relaxed),
            .rss_kb = rt_rss_kb(),
            .live = atomic_load_explicit(&rt.live_pub, memory_order_relaxed),
        };
        if (rt.nsamples < rt.cap)
            rt.samples[rt.nsamples++] = s;
        else
            rt.dropped++;
        next += rt.period_ns;
        if (next < now) /* fell behind (descheduled): no burst of catch-up samples */
            next = now + rt.period_ns;
    }
    return NULL;
}

/* Records the start of phase p: for the sampler's labels and the PHASE lines. */
static void rt_enter(uint32_t p)
{
    rt_publish();
    atomic_store_explicit(&rt.phase, p, memory_order_relaxed);
    rt.event[p] = (rt_sample_t){
        .t_ms = rt_ms_since_start(bench_now_ns()),
        .phase = p,
        .rss_kb = rt_rss_kb(),
        .live = rt.live,
    };
}

/* Sleeps ms milliseconds without calling the allocator. */
static void rt_idle(uint64_t ms)
{
    uint64_t end = bench_now_ns() + ms * 1000000u;
    struct timespec ts = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        continue;
}

/* An array of the program's own (counted in live like any block). */
static void *rt_array(size_t n, size_t elem)
{
    void *p = bench_malloc(prog, n * elem + 1);
    memset(p, 0, n * elem + 1);
    rt.live += n * elem + 1;
    if (rt.live > rt.peak_live)
        rt.peak_live = rt.live;
    rt.allocs++;
    return p;
}

static void rt_array_free(void *p, size_t n, size_t elem)
{
    free(p);
    rt.live -= n * elem + 1;
}

static unsigned char rt_tag(uint32_t size)
{
    return (unsigned char)(size * 7u + 1u);
}

/* A block of size bytes, written in full with its tag. */
static void rt_alloc(rt_block_t *b, uint32_t size)
{
    unsigned char *p = bench_malloc(prog, size);
    memset(p, rt_tag(size), size);
    bench_escape(p);
    b->p = p;
    b->size = size;
    rt.live += size;
    if (rt.live > rt.peak_live)
        rt.peak_live = rt.live;
    rt.allocs++;
    rt.ops++;
    if ((++rt.changes & 1023) == 0)
        rt_publish();
}

static void rt_free(rt_block_t *b)
{
    if (b->p == NULL)
        return;
    unsigned char t = rt_tag(b->size);
    if (b->p[0] != t || b->p[b->size - 1] != t)
        bench_die(prog, "a block of %" PRIu32 " bytes was overwritten", b->size);
    free(b->p);
    rt.live -= b->size;
    b->p = NULL;
    if ((++rt.changes & 1023) == 0)
        rt_publish();
}

/* Phase small: returns the kept 10 % in a new array of *nkept blocks. */
static rt_block_t *rt_small(bench_rng_t *rng, uint64_t bytes, size_t *nkept)
{
    /* first pass on a copy of the generator: how many blocks make `bytes` */
    bench_rng_t count_rng = *rng;
    size_t n = 0;
    for (uint64_t sum = 0; sum < bytes; n++)
        sum += bench_rng_range(&count_rng, 64, 1024);

    rt_block_t *blk = rt_array(n, sizeof *blk);
    for (size_t i = 0; i < n; i++)
        rt_alloc(&blk[i], (uint32_t)bench_rng_range(rng, 64, 1024));

    uint32_t *perm = rt_array(n, sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)bench_rng_range(rng, 0, i - 1);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    size_t keep = n / 10, nfree = n - keep;
    rt_block_t *kept = rt_array(keep, sizeof *kept);
    for (size_t i = 0; i < keep; i++)
        kept[i] = blk[perm[nfree + i]];
    for (size_t i = 0; i < nfree; i++)
        rt_free(&blk[perm[i]]);
    rt_array_free(perm, n, sizeof *perm);
    rt_array_free(blk, n, sizeof *blk);
    *nkept = keep;
    return kept;
}

/* Phase mid: returns the array of every block allocated (*n); all but every
 * 8th are already freed (NULL). */
static rt_block_t *rt_mid(bench_rng_t *rng, uint64_t bytes, size_t *n_out)
{
    bench_rng_t count_rng = *rng;
    size_t n = 0;
    for (uint64_t sum = 0; sum < bytes; n++)
        sum += bench_rng_range(&count_rng, 4096, 32768);
    rt_block_t *blk = rt_array(n, sizeof *blk);
    for (size_t i = 0; i < n; i++)
        rt_alloc(&blk[i], (uint32_t)bench_rng_range(rng, 4096, 32768));
    for (size_t i = 0; i < n; i++)
        if (i % 8 != 0)
            rt_free(&blk[i]);
    *n_out = n;
    return blk;
}

static void rt_large(bench_rng_t *rng, size_t count)
{
    rt_block_t *blk = rt_array(count, sizeof *blk);
    for (size_t i = 0; i < count; i++)
        rt_alloc(&blk[i], (uint32_t)bench_rng_range(rng, 1u << 20, 4u << 20));
    for (size_t i = 0; i < count; i++)
        rt_free(&blk[i]);
    rt_array_free(blk, count, sizeof *blk);
}

/* Phase steady: random replacement of 16-256 B blocks in RT_STEADY_SLOTS
 * slots for ms milliseconds; *end_kb and *end_live get VmRSS and the live
 * bytes at its end, then phase end starts and the blocks are freed. */
static void rt_steady(bench_rng_t *rng, uint64_t ms, long *end_kb, uint64_t *end_live)
{
    rt_block_t *slot = rt_array(RT_STEADY_SLOTS, sizeof *slot);
    uint64_t end = bench_now_ns() + ms * 1000000u;
    do {
        for (int k = 0; k < 256; k++) {
            rt_block_t *s = &slot[bench_rng_range(rng, 0, RT_STEADY_SLOTS - 1)];
            rt_free(s);
            rt_alloc(s, (uint32_t)bench_rng_range(rng, 16, 256));
        }
    } while (bench_now_ns() < end);
    rt_publish();
    *end_kb = rt_rss_kb();
    *end_live = rt.live;
    rt_enter(RT_END);
    for (size_t i = 0; i < RT_STEADY_SLOTS; i++)
        rt_free(&slot[i]);
    rt_array_free(slot, RT_STEADY_SLOTS, sizeof *slot);
}

static void rt_print_line(const char *what, const rt_sample_t *s)
{
    printf("%s t_ms=%" PRIu32 " rss_kb=%ld phase=%s live_kb=%" PRIu64 "\n", what, s->t_ms,
           s->rss_kb, rt_phase_name[s->phase], s->live / 1024);
}

int main(int argc, char **argv)
{
    bench_usage_text = "IDLE_MS STEADY_MS SEED [SMALL_MIB MID_MIB LARGE_COUNT SAMPLE_MS]";
    if (argc != 4 && argc != 8)
        bench_usage(prog, "wrong number of arguments");
    uint64_t idle_ms = bench_arg_u64(prog, "IDLE_MS", argv[1], 0, 3600000);
    uint64_t steady_ms = bench_arg_u64(prog, "STEADY_MS", argv[2], 0, 3600000);
    uint64_t seed = bench_arg_u64(prog, "SEED", argv[3], 0, UINT64_MAX);
    uint64_t small_mib = 200, mid_mib = 150, large_count = 40, sample_ms = 50;
    if (argc == 8) {
        small_mib = bench_arg_u64(prog, "SMALL_MIB", argv[4], 0, 65536);
        mid_mib = bench_arg_u64(prog, "MID_MIB", argv[5], 0, 65536);
        large_count = bench_arg_u64(prog, "LARGE_COUNT", argv[6], 0, 65536);
        sample_ms = bench_arg_u64(prog, "SAMPLE_MS", argv[7], 1, 60000);
    }

    rt.t0 = bench_now_ns();
    rt.period_ns = sample_ms * 1000000u;
    /* room for the planned run four times over and a minute more */
    rt.cap = (size_t)((3 * idle_ms + steady_ms) * 4 / sample_ms + 60000 / sample_ms + 16);
    rt.samples = calloc(rt.cap, sizeof *rt.samples);
    if (rt.samples == NULL)
        bench_die(prog, "out of memory for %zu samples", rt.cap);
    memset(rt.samples, 0, rt.cap * sizeof *rt.samples);
    rt.allocs = 1;
    long base_kb = rt_rss_kb();
    rt_enter(RT_SMALL);
    pthread_t sampler;
    int err = pthread_create(&sampler, NULL, rt_sampler, NULL);
    if (err != 0)
        bench_die(prog, "pthread_create: %s", strerror(err));

    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    long idle_end_kb[3];
    uint64_t live_idle_end[3];

    size_t nsmall, nmid;
    rt_block_t *small = rt_small(&rng, small_mib << 20, &nsmall);
    rt_enter(RT_IDLE_SMALL);
    rt_idle(idle_ms);
    idle_end_kb[0] = rt_rss_kb();
    live_idle_end[0] = rt.live;

    rt_enter(RT_MID);
    rt_block_t *mid = rt_mid(&rng, mid_mib << 20, &nmid);
    rt_enter(RT_IDLE_MID);
    rt_idle(idle_ms);
    idle_end_kb[1] = rt_rss_kb();
    live_idle_end[1] = rt.live;

    rt_enter(RT_LARGE);
    rt_large(&rng, (size_t)large_count);
    rt_enter(RT_IDLE_LARGE);
    rt_idle(idle_ms);
    idle_end_kb[2] = rt_rss_kb();
    live_idle_end[2] = rt.live;

    rt_enter(RT_STEADY);
    for (size_t i = 0; i < nsmall; i++)
        rt_free(&small[i]);
    rt_array_free(small, nsmall, sizeof *small);
    for (size_t i = 0; i < nmid; i++)
        rt_free(&mid[i]);
    rt_array_free(mid, nmid, sizeof *mid);
    long steady_end_kb;
    uint64_t live_steady_end;
    rt_steady(&rng, steady_ms, &steady_end_kb, &live_steady_end);
    uint64_t t_end = bench_now_ns();
    atomic_store_explicit(&rt.stop, 1, memory_order_release);
    pthread_join(sampler, NULL);
    long peak_kb = rt_status_kb("VmHWM");

    for (uint32_t p = 0; p < RT_NPHASES; p++)
        rt_print_line("PHASE", &rt.event[p]);
    for (size_t i = 0; i < rt.nsamples; i++)
        rt_print_line("SAMPLE", &rt.samples[i]);
    free(rt.samples);

    const rt_sample_t *ev = rt.event;
    char extra[1536];
    snprintf(extra, sizeof extra,
             "idle_ms=%" PRIu64 " steady_ms=%" PRIu64 " seed=%" PRIu64 " small_mib=%" PRIu64
             " mid_mib=%" PRIu64 " large_count=%" PRIu64 " sample_ms=%" PRIu64
             " base_kb=%ld"
             " idle_small_start_kb=%ld idle_small_end_kb=%ld"
             " idle_mid_start_kb=%ld idle_mid_end_kb=%ld"
             " idle_large_start_kb=%ld idle_large_end_kb=%ld steady_end_kb=%ld"
             " peak_kb=%ld"
             " live_idle_small_end_kb=%" PRIu64 " live_idle_mid_end_kb=%" PRIu64
             " live_idle_large_end_kb=%" PRIu64 " live_steady_end_kb=%" PRIu64
             " peak_live_kb=%" PRIu64
             " samples=%zu samples_dropped=%zu end_ms=%" PRIu32,
             idle_ms, steady_ms, seed, small_mib, mid_mib, large_count, sample_ms, base_kb,
             ev[RT_IDLE_SMALL].rss_kb, idle_end_kb[0], ev[RT_IDLE_MID].rss_kb, idle_end_kb[1],
             ev[RT_IDLE_LARGE].rss_kb, idle_end_kb[2], steady_end_kb, peak_kb,
             live_idle_end[0] / 1024, live_idle_end[1] / 1024, live_idle_end[2] / 1024,
             live_steady_end / 1024, rt.peak_live / 1024, rt.nsamples, rt.dropped,
             rt_ms_since_start(t_end));
    bench_report(prog, extra, rt.ops, t_end - rt.t0, rt.allocs);
    return 0;
}
