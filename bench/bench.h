/* bench.h - helpers shared by the hakmem benchmark programs.
 *
 * Every program in bench/ is an ordinary program linked against nothing but
 * libc, libdl and libpthread. It runs under whichever allocator is loaded
 * with LD_PRELOAD (hakmem, jemalloc, mimalloc, tcmalloc) or under glibc when
 * nothing is preloaded. At the end it prints exactly one result line:
 *
 *   RESULT bench=NAME <workload keys> ops=N secs=S ops_per_s=X ns_per_op=Y
 *          allocs=A maxrss_kb=K minflt=F hakmem_nmalloc=M allocator_lib=L
 *
 * (one line; space-separated key=value tokens, no spaces inside a value).
 *   ops             operations in the timed section; one operation is one
 *                   allocation together with its matching free, unless the
 *                   workload says otherwise (startup: one process start)
 *   allocs          allocations the program itself made (lower bound for
 *                   hakmem_nmalloc; the runner checks it)
 *   maxrss_kb       the peak RSS in KiB: VmHWM from /proc/self/status (not
 *                   ru_maxrss, which on Linux keeps the high-water mark of the
 *                   process image before execve - a Python runner's 17 MiB
 *                   would hide every workload's own peak)
 *   minflt          getrusage(RUSAGE_SELF).ru_minflt for the whole process
 *   hakmem_nmalloc  "stats.nmalloc" read through hakmem_ctl, or "-" when no
 *                   hakmem_ctl is loaded in the process
 *   allocator_lib   file name of the object that defines the malloc (and
 *                   free) the process actually calls, as the dynamic linker
 *                   resolves them: libc.so.6 for glibc, libmimalloc.so.2, ...
 *
 * Invalid arguments exit with status 2 and a usage line; a failed allocation
 * or a corrupted block exits with status 1.
 */
#ifndef HAKMEM_BENCH_H
#define HAKMEM_BENCH_H

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_UNUSED __attribute__((unused))
#define BENCH_NOINLINE __attribute__((noinline))

/* Makes the compiler believe p escapes, so a malloc/free pair is not removed. */
static inline void bench_escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: small, fast, and the same sequence on every allocator. */
typedef struct {
    uint64_t state;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *rng, uint64_t seed)
{
    /* splitmix64 step, so seeds 0, 1, 2 ... give unrelated streams */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    rng->state = z ? z : 0x2545f4914f6cdd1dull;
}

static inline uint64_t bench_rng_next(bench_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-enough value in [lo, hi]. */
static inline uint64_t bench_rng_range(bench_rng_t *rng, uint64_t lo, uint64_t hi)
{
    return lo + (bench_rng_next(rng) >> 11) % (hi - lo + 1);
}

static BENCH_UNUSED const char *bench_usage_text = "";

static BENCH_UNUSED void bench_usage(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s %s\n", prog, bench_usage_text);
    exit(2);
}

/* Parses a decimal (or 0x hex) unsigned argument in [min, max]. */
static BENCH_UNUSED uint64_t bench_arg_u64(const char *prog, const char *name, const char *text,
                                           uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        bench_usage(prog, "%s: not a number: '%s'", name, text);
    if (v < min || v > max)
        bench_usage(prog, "%s: %llu is out of range [%" PRIu64 ", %" PRIu64 "]", name, v, min,
                    max);
    return (uint64_t)v;
}

static BENCH_UNUSED void bench_die(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* malloc that exits on failure: a benchmark never continues after one. */
static inline void *bench_malloc(const char *prog, size_t size)
{
    void *p = malloc(size);
    if (p == NULL)
        bench_die(prog, "malloc(%zu) failed", size);
    return p;
}

typedef int (*bench_ctl_fn)(const char *name, void *oldp, size_t *oldlenp, const void *newp,
                            size_t newlen);

/* Writes hakmem's "stats.nmalloc" (after refreshing the stats through "epoch")
 * into buf, or "-" when hakmem_ctl is not in the process. A hakmem whose ctl
 * call fails gives "error:<errno>", which the runner refuses like a missing
 * value. Call it after every thread the program started has been joined. */
static BENCH_UNUSED void bench_hakmem_nmalloc(char *buf, size_t len)
{
    bench_ctl_fn ctl = (bench_ctl_fn)dlsym(RTLD_DEFAULT, "hakmem_ctl");
    if (ctl == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    uint64_t epoch = 1;
    int err = ctl("epoch", NULL, NULL, &epoch, sizeof epoch);
    if (err != 0) {
        snprintf(buf, len, "error:%d", err);
        return;
    }
    uint64_t nmalloc = 0;
    size_t sz = sizeof nmalloc;
    err = ctl("stats.nmalloc", &nmalloc, &sz, NULL, 0);
    if (err != 0 || sz != sizeof nmalloc) {
        snprintf(buf, len, "error:%d", err != 0 ? err : EINVAL);
        return;
    }
    snprintf(buf, len, "%" PRIu64, nmalloc);
}

static BENCH_UNUSED const char *bench_object_of(const char *symbol)
{
    void *addr = dlsym(RTLD_DEFAULT, symbol);
    Dl_info info;
    if (addr == NULL || dladdr(addr, &info) == 0 || info.dli_fname == NULL)
        return "unknown";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

/* Writes the file name of the object whose malloc and free this process calls
 * ("libc.so.6" under glibc), or "mixed:A,B" when they come from two objects. */
static BENCH_UNUSED void bench_allocator_lib(char *buf, size_t len)
{
    const char *m = bench_object_of("malloc");
    const char *f = bench_object_of("free");
    if (strcmp(m, f) == 0)
        snprintf(buf, len, "%s", m);
    else
        snprintf(buf, len, "mixed:%s,%s", m, f);
}

/* Peak RSS of this process image in KiB (VmHWM); ru_maxrss if /proc is absent. */
static BENCH_UNUSED long bench_peak_rss_kb(void)
{
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                break;
        fclose(f);
    }
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

/* Soft page faults (ru_minflt) of the whole process so far: the workloads
 * that report faults_per_op take the difference around their timed section. */
static BENCH_UNUSED long bench_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* The value in kB of a "Key:   N kB" line of /proc/self/status (VmPTE,
 * VmRSS, ...), or -1 when /proc is absent or has no such line. */
static BENCH_UNUSED long bench_status_kb(const char *key)
{
    long kb = -1;
    size_t klen = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            if (sscanf(line + klen + 1, "%ld", &kb) != 1)
                kb = -1;
            break;
        }
    fclose(f);
    return kb;
}

/* Lines of /proc/self/maps: the mappings of the process (-1 without /proc). */
static BENCH_UNUSED long bench_maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    long lines = 0;
    int c;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            lines++;
    fclose(f);
    return lines;
}

/* Prints the one result line with every value given (startup reports its
 * children's values). */
static BENCH_UNUSED void bench_report_values(const char *bench, const char *extra, uint64_t ops,
                                             uint64_t elapsed_ns, uint64_t allocs,
                                             long maxrss_kb, long minflt, const char *nmalloc,
                                             const char *lib)
{
    double secs = (double)elapsed_ns / 1e9;
    double ops_per_s = elapsed_ns ? (double)ops / secs : 0.0;
    double ns_per_op = ops ? (double)elapsed_ns / (double)ops : 0.0;
    printf("RESULT bench=%s %s ops=%" PRIu64 " secs=%.6f ops_per_s=%.0f ns_per_op=%.3f"
           " allocs=%" PRIu64 " maxrss_kb=%ld minflt=%ld hakmem_nmalloc=%s allocator_lib=%s\n",
           bench, extra, ops, secs, ops_per_s, ns_per_op, allocs, maxrss_kb, minflt, nmalloc,
           lib);
    fflush(stdout);
}

/* Prints the one result line. extra holds the workload's own key=value
 * tokens (parameters and workload-specific metrics), without a newline. */
static BENCH_UNUSED void bench_report(const char *bench, const char *extra, uint64_t ops,
                                      uint64_t elapsed_ns, uint64_t allocs)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char nmalloc[64], lib[512];
    bench_hakmem_nmalloc(nmalloc, sizeof nmalloc);
    bench_allocator_lib(lib, sizeof lib);
    bench_report_values(bench, extra, ops, elapsed_ns, allocs, bench_peak_rss_kb(),
                        ru.ru_minflt, nmalloc, lib);
}

#endif /* HAKMEM_BENCH_H */
