/* fastpath - the hot malloc/free loop, for timing and instruction counting.
 *
 * ITERS times: p = malloc(SIZE); free(p). After WARMUP pairs (default 1000,
 * untimed) every pair should take the allocator's fast path. The runner
 * counts instructions with callgrind at two ITERS values and divides the
 * difference by the difference of ITERS, so process start-up and the warm-up
 * cancel. What remains per pair is the allocator's malloc and free plus the
 * loop's own 9 instructions (two calls through the PLT, a counter), the same
 * for every allocator. One operation is one malloc/free pair.
 */
#include "bench.h"

static const char *prog = "fastpath";

static BENCH_NOINLINE void fastpath_loop(size_t size, uint64_t iters)
{
    for (uint64_t i = 0; i < iters; i++) {
        void *p = malloc(size);
        bench_escape(p);
        free(p);
    }
}

int main(int argc, char **argv)
{
    bench_usage_text = "SIZE ITERS [WARMUP]";
    if (argc != 3 && argc != 4)
        bench_usage(prog, "wrong number of arguments");
    size_t size = (size_t)bench_arg_u64(prog, "SIZE", argv[1], 0, UINT64_C(1) << 30);
    uint64_t iters = bench_arg_u64(prog, "ITERS", argv[2], 0, UINT64_C(1) << 40);
    uint64_t warmup = argc == 4 ? bench_arg_u64(prog, "WARMUP", argv[3], 0, 1 << 24) : 1000;

    /* one block stays live across the loop so the allocator cannot release
     * its page between pairs */
    void *anchor = bench_malloc(prog, size ? size : 1);
    bench_escape(anchor);
    fastpath_loop(size, warmup);
    uint64_t t0 = bench_now_ns();
    fastpath_loop(size, iters);
    uint64_t elapsed = bench_now_ns() - t0;
    free(anchor);

    char extra[128];
    snprintf(extra, sizeof extra, "size=%zu iters=%" PRIu64 " warmup=%" PRIu64, size, iters,
             warmup);
    bench_report(prog, extra, iters, elapsed, iters + warmup + 1);
    return 0;
}
