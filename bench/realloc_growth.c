/* realloc_growth - a buffer grown by realloc in 64 KiB steps up to 32 MiB.
 *
 * Each of REPS growths starts with malloc(STEP) (default 64 KiB) and grows
 * the buffer by realloc, STEP bytes at a time, up to MAX (default 32 MiB,
 * a multiple of STEP), writing the STEP new bytes after every step (memset
 * with a byte that depends on the step and the growth). At the end of the
 * growth every byte is checked - outside the timing - and the buffer is
 * freed. An allocator that grows in place, or moves with mremap, avoids the
 * copies that one that moves by malloc + memcpy + free pays (about MAX^2 /
 * (2 STEP) bytes, 8 GiB per growth at the defaults, if it moved every time).
 *
 * One operation is one realloc: REPS x (MAX / STEP - 1) of them. The time
 * covers the malloc, the reallocs, the writes and the free. The result line
 * adds ns_per_growth (the time of one whole growth), moves (reallocs that
 * returned another address, all growths together) and faults_per_op (soft
 * page faults in the timed part divided by the reallocs).
 */
#include "bench.h"

static const char *prog = "realloc_growth";

static unsigned char rg_byte(uint64_t step, uint64_t rep)
{
    return (unsigned char)(step * 13 + rep * 7 + 1);
}

int main(int argc, char **argv)
{
    bench_usage_text = "REPS [STEP MAX]";
    if (argc != 2 && argc != 4)
        bench_usage(prog, "wrong number of arguments");
    uint64_t reps = bench_arg_u64(prog, "REPS", argv[1], 0, UINT64_C(1) << 32);
    uint64_t step = 64 * 1024, max = 32u << 20;
    if (argc == 4) {
        step = bench_arg_u64(prog, "STEP", argv[2], 1, UINT64_C(1) << 30);
        max = bench_arg_u64(prog, "MAX", argv[3], 2 * step, UINT64_C(1) << 36);
        if (max % step != 0)
            bench_usage(prog, "MAX (%" PRIu64 ") is not a multiple of STEP (%" PRIu64 ")", max,
                        step);
    }
    uint64_t steps = max / step;
    unsigned char *ref = bench_malloc(prog, (size_t)step);

    uint64_t elapsed = 0, moves = 0, faults = 0;
    for (uint64_t rep = 0; rep < reps; rep++) {
        long flt0 = bench_minflt();
        uint64_t t0 = bench_now_ns();
        unsigned char *p = bench_malloc(prog, (size_t)step);
        memset(p, rg_byte(0, rep), (size_t)step);
        for (uint64_t k = 1; k < steps; k++) {
            uintptr_t before = (uintptr_t)p;
            unsigned char *q = realloc(p, (size_t)((k + 1) * step));
            if (q == NULL)
                bench_die(prog, "realloc(%" PRIu64 ") failed", (k + 1) * step);
            moves += (uintptr_t)q != before;
            p = q;
            memset(p + k * step, rg_byte(k, rep), (size_t)step);
        }
        bench_escape(p);
        uint64_t t1 = bench_now_ns();
        long flt1 = bench_minflt();

        for (uint64_t k = 0; k < steps; k++) {
            memset(ref, rg_byte(k, rep), (size_t)step);
            if (memcmp(p + k * step, ref, (size_t)step) != 0)
                bench_die(prog, "growth %" PRIu64 ": step %" PRIu64 " (bytes %" PRIu64
                          "..) lost its contents", rep, k, k * step);
        }

        long flt2 = bench_minflt();
        uint64_t t2 = bench_now_ns();
        free(p);
        elapsed += (t1 - t0) + (bench_now_ns() - t2);
        faults += (uint64_t)((flt1 - flt0) + (bench_minflt() - flt2));
    }
    free(ref);

    uint64_t ops = reps * (steps - 1);
    char extra[320];
    snprintf(extra, sizeof extra,
             "reps=%" PRIu64 " step=%" PRIu64 " max=%" PRIu64 " ns_per_growth=%.0f"
             " moves=%" PRIu64 " faults=%" PRIu64 " faults_per_op=%.3f",
             reps, step, max, reps ? (double)elapsed / (double)reps : 0.0, moves, faults,
             ops ? (double)faults / (double)ops : 0.0);
    bench_report(prog, extra, ops, elapsed, reps + 1);
    return 0;
}
