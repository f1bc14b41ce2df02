/* random_mixed - single-threaded random replacement of small blocks.
 *
 * The seeds' "Tiny" workload: a working set of SLOTS pointers starts empty;
 * each cycle picks a random slot, frees the block there (if any), and puts a
 * new block of a random size in [MIN, MAX] (default 16-1040 B) in its place.
 * The seeds ran 200,000 cycles with 256, 4,096 and 8,192 slots.
 *
 * One operation is one cycle (one malloc and, once the slot is full, one
 * free). Each block carries a check byte at both ends, verified at free.
 */
#include "bench.h"

static const char *prog = "random_mixed";

int main(int argc, char **argv)
{
    bench_usage_text = "CYCLES SLOTS SEED [MIN MAX]";
    if (argc != 4 && argc != 6)
        bench_usage(prog, "wrong number of arguments");
    uint64_t cycles = bench_arg_u64(prog, "CYCLES", argv[1], 0, UINT64_C(1) << 40);
    uint64_t slots = bench_arg_u64(prog, "SLOTS", argv[2], 1, UINT64_C(1) << 26);
    uint64_t seed = bench_arg_u64(prog, "SEED", argv[3], 0, UINT64_MAX);
    uint64_t min = 16, max = 1040;
    if (argc == 6) {
        min = bench_arg_u64(prog, "MIN", argv[4], 2, UINT64_C(1) << 30);
        max = bench_arg_u64(prog, "MAX", argv[5], min, UINT64_C(1) << 30);
    }

    unsigned char **ptr = calloc(slots, sizeof *ptr);
    uint32_t *size = calloc(slots, sizeof *size);
    if (ptr == NULL || size == NULL)
        bench_die(prog, "out of memory for %" PRIu64 " slots", slots);

    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < cycles; i++) {
        uint64_t r = bench_rng_next(&rng);
        size_t idx = (size_t)((r >> 32) % slots);
        unsigned char *old = ptr[idx];
        if (old != NULL) {
            unsigned char tag = (unsigned char)idx;
            if (old[0] != tag || old[size[idx] - 1] != (unsigned char)~tag)
                bench_die(prog, "block of slot %zu was overwritten", idx);
            free(old);
        }
        size_t sz = (size_t)(min + (r & 0xffffffffu) % (max - min + 1));
        unsigned char *p = bench_malloc(prog, sz);
        p[0] = (unsigned char)idx;
        p[sz - 1] = (unsigned char)~(unsigned char)idx;
        ptr[idx] = p;
        size[idx] = (uint32_t)sz;
    }
    uint64_t elapsed = bench_now_ns() - t0;

    for (uint64_t i = 0; i < slots; i++)
        free(ptr[i]);
    free(ptr);
    free(size);

    char extra[256];
    snprintf(extra, sizeof extra,
             "cycles=%" PRIu64 " slots=%" PRIu64 " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64,
             cycles, slots, seed, min, max);
    bench_report(prog, extra, cycles, elapsed, cycles);
    return 0;
}
