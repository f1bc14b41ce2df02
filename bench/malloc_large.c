/* malloc_large - random replacement of blocks of 5-25 MiB.
 *
 * mimalloc-bench's "malloc-large": a working set of LIVE slots (20); each of
 * ITERS operations picks a random slot, frees the block in it (after
 * checking three of its bytes) and puts there a new block of a random size in
 * [MIN, MAX] (default 5-25 MiB; MIN >= 8 KiB), touched by writing one byte in
 * every 4 KiB page and its last byte. Before the timing every slot gets its
 * first block, so the timed loop runs at the full working set: LIVE blocks,
 * 300 MiB on average, are live, and every allocation asks for memory that was
 * freed a moment ago in another size. An allocator that keeps it mapped
 * saves the mmap, the munmap and the page faults that one returning it to the
 * kernel at every free pays. The sizes and slots come from SEED and are the
 * same for every allocator.
 *
 * The time covers the ITERS operations (not the first fill, not the LIVE final
 * frees). One operation is one free + allocation + touch. The result line
 * adds faults_per_op: the soft page faults taken in the timed loop divided by
 * ITERS.
 */
#include "bench.h"

static const char *prog = "malloc_large";

#define ML_PAGE 4096

typedef struct {
    unsigned char *p;
    size_t size;
} ml_slot_t;

static void ml_check_free(ml_slot_t *s, size_t idx)
{
    if (s->p == NULL)
        return;
    unsigned char tag = (unsigned char)(idx * 37 + s->size);
    if (s->p[0] != tag || s->p[s->size - 1] != (unsigned char)~tag ||
        s->p[s->size / 2 / ML_PAGE * ML_PAGE] != (unsigned char)(s->size / 2 / ML_PAGE))
        bench_die(prog, "block of slot %zu (%zu bytes) was overwritten", idx, s->size);
    free(s->p);
    s->p = NULL;
}

/* Frees the block in slot idx (if any) and puts a new one of size bytes there,
 * touched: one byte in every page, the first and the last byte. */
static void ml_put(ml_slot_t *s, size_t idx, size_t size)
{
    ml_check_free(s, idx);
    unsigned char *p = bench_malloc(prog, size);
    for (size_t off = 0; off < size; off += ML_PAGE)
        p[off] = (unsigned char)(off / ML_PAGE);
    unsigned char tag = (unsigned char)(idx * 37 + size);
    p[0] = tag;
    p[size - 1] = (unsigned char)~tag;
    bench_escape(p);
    s->p = p;
    s->size = size;
}

int main(int argc, char **argv)
{
    bench_usage_text = "ITERS LIVE SEED [MIN MAX]";
    if (argc != 4 && argc != 6)
        bench_usage(prog, "wrong number of arguments");
    uint64_t iters = bench_arg_u64(prog, "ITERS", argv[1], 0, UINT64_C(1) << 32);
    uint64_t live = bench_arg_u64(prog, "LIVE", argv[2], 1, 4096);
    uint64_t seed = bench_arg_u64(prog, "SEED", argv[3], 0, UINT64_MAX);
    uint64_t min = 5u << 20, max = 25u << 20;
    if (argc == 6) {
        min = bench_arg_u64(prog, "MIN", argv[4], 2 * ML_PAGE, UINT64_C(1) << 36);
        max = bench_arg_u64(prog, "MAX", argv[5], min, UINT64_C(1) << 36);
    }

    ml_slot_t *slot = calloc(live, sizeof *slot);
    if (slot == NULL)
        bench_die(prog, "out of memory for the slots");
    bench_rng_t rng;
    bench_rng_seed(&rng, seed);

    /* untimed: every slot gets its first block, so the timed loop measures
     * the steady state of replacements at full working set */
    for (uint64_t i = 0; i < live; i++)
        ml_put(&slot[i], (size_t)i, (size_t)bench_rng_range(&rng, min, max));

    long flt0 = bench_minflt();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        size_t idx = (size_t)bench_rng_range(&rng, 0, live - 1);
        size_t size = (size_t)bench_rng_range(&rng, min, max);
        ml_put(&slot[idx], idx, size);
    }
    uint64_t elapsed = bench_now_ns() - t0;
    long faults = bench_minflt() - flt0;
    for (uint64_t i = 0; i < live; i++)
        ml_check_free(&slot[i], (size_t)i);
    free(slot);

    char extra[320];
    snprintf(extra, sizeof extra,
             "iters=%" PRIu64 " live=%" PRIu64 " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64
             " faults=%ld faults_per_op=%.3f",
             iters, live, seed, min, max, faults,
             iters ? (double)faults / (double)iters : 0.0);
    bench_report(prog, extra, iters, elapsed, iters + live + 1);
    return 0;
}
