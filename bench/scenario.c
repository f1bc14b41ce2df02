/* scenario - repeated malloc, touch, free of one large size.
 *
 * The seeds' three application patterns:
 *   json   64 KiB  (a parser's document buffer)
 *   mir   256 KiB  (a compiler's IR arena)
 *   vm      2 MiB  (a VM's heap chunk)
 * or any size in bytes. Each operation allocates the block, writes one byte in
 * every 4 KiB page of it (and its last byte), and frees it. WARMUP untimed
 * operations (default 10) come first. Besides the time, the result line gives
 * faults_per_op: soft page faults (ru_minflt) taken in the timed loop divided
 * by the operations - an allocator that returns the memory to the kernel at
 * every free and faults it back in pays here.
 */
#include "bench.h"

static const char *prog = "scenario";

static BENCH_NOINLINE void scenario_op(size_t size, uint64_t i)
{
    unsigned char *p = bench_malloc(prog, size);
    for (size_t off = 0; off < size; off += 4096)
        p[off] = (unsigned char)(i + off);
    p[size - 1] = (unsigned char)i;
    bench_escape(p);
    free(p);
}

static long scenario_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

int main(int argc, char **argv)
{
    bench_usage_text = "json|mir|vm|SIZE ITERS [WARMUP]";
    if (argc != 3 && argc != 4)
        bench_usage(prog, "wrong number of arguments");
    const char *name = argv[1];
    size_t size;
    if (strcmp(name, "json") == 0)
        size = 64 * 1024;
    else if (strcmp(name, "mir") == 0)
        size = 256 * 1024;
    else if (strcmp(name, "vm") == 0)
        size = 2 * 1024 * 1024;
    else {
        size = (size_t)bench_arg_u64(prog, "SIZE", name, 1, UINT64_C(1) << 36);
        name = "size";
    }
    uint64_t iters = bench_arg_u64(prog, "ITERS", argv[2], 0, UINT64_C(1) << 40);
    uint64_t warmup = argc == 4 ? bench_arg_u64(prog, "WARMUP", argv[3], 0, 1 << 20) : 10;

    for (uint64_t i = 0; i < warmup; i++)
        scenario_op(size, i);
    long flt0 = scenario_minflt();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        scenario_op(size, i);
    uint64_t elapsed = bench_now_ns() - t0;
    long faults = scenario_minflt() - flt0;

    char extra[256];
    snprintf(extra, sizeof extra,
             "scenario=%s size=%zu iters=%" PRIu64 " warmup=%" PRIu64 " faults=%ld"
             " faults_per_op=%.3f",
             name, size, iters, warmup, faults, iters ? (double)faults / (double)iters : 0.0);
    bench_report(prog, extra, iters, elapsed, iters + warmup);
    return 0;
}
