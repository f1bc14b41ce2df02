/* sequential - batches of small blocks (default 16 B) freed in set orders.
 *
 * Each round allocates COUNT blocks and frees them again; PATTERN says how:
 *   lifo         allocate all, free newest first
 *   fifo         allocate all, free oldest first
 *   random       allocate all, free in a random order (a permutation made
 *                before the timed loop, entered at a random offset each round)
 *   interleaved  every allocation but the first frees the block allocated just
 *                before it when that one has an even index: half the blocks
 *                live to the end of the round, half die at once, so frees and
 *                allocations alternate on the same slab
 *   long_lived   COUNT blocks allocated before the timed loop stay live to the
 *                end; they were allocated alternately with COUNT others that
 *                were freed at once, so each round's COUNT short-lived blocks
 *                (freed lifo) land in the holes between long-lived ones
 * One operation is one allocation with its free; a round is COUNT operations.
 */
#include "bench.h"

static const char *prog = "sequential";

static void seq_alloc_all(void **p, uint64_t count, size_t size)
{
    for (uint64_t i = 0; i < count; i++) {
        p[i] = bench_malloc(prog, size);
        *(volatile unsigned char *)p[i] = (unsigned char)i;
    }
}

int main(int argc, char **argv)
{
    bench_usage_text = "lifo|fifo|random|interleaved|long_lived COUNT ROUNDS SEED [SIZE]";
    if (argc != 5 && argc != 6)
        bench_usage(prog, "wrong number of arguments");
    const char *pattern = argv[1];
    uint64_t count = bench_arg_u64(prog, "COUNT", argv[2], 2, UINT64_C(1) << 28);
    uint64_t rounds = bench_arg_u64(prog, "ROUNDS", argv[3], 0, UINT64_C(1) << 40);
    uint64_t seed = bench_arg_u64(prog, "SEED", argv[4], 0, UINT64_MAX);
    size_t size = argc == 6 ? (size_t)bench_arg_u64(prog, "SIZE", argv[5], 1, 1 << 30) : 16;

    void **p = bench_malloc(prog, count * sizeof *p);
    uint32_t *perm = NULL;
    void **keep = NULL;
    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    uint64_t allocs = 1;
    enum { LIFO, FIFO, RANDOM, INTERLEAVED, LONG_LIVED } kind;
    if (strcmp(pattern, "lifo") == 0)
        kind = LIFO;
    else if (strcmp(pattern, "fifo") == 0)
        kind = FIFO;
    else if (strcmp(pattern, "random") == 0)
        kind = RANDOM;
    else if (strcmp(pattern, "interleaved") == 0)
        kind = INTERLEAVED;
    else if (strcmp(pattern, "long_lived") == 0)
        kind = LONG_LIVED;
    else
        bench_usage(prog, "unknown pattern '%s'", pattern);

    if (kind == RANDOM) {
        perm = bench_malloc(prog, count * sizeof *perm);
        allocs++;
        for (uint64_t i = 0; i < count; i++)
            perm[i] = (uint32_t)i;
        for (uint64_t i = count - 1; i > 0; i--) {
            uint64_t j = bench_rng_range(&rng, 0, i);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
    if (kind == LONG_LIVED) {
        keep = bench_malloc(prog, count * sizeof *keep);
        for (uint64_t i = 0; i < count; i++) {
            keep[i] = bench_malloc(prog, size);
            p[i] = bench_malloc(prog, size);
        }
        for (uint64_t i = 0; i < count; i++)
            free(p[i]);
        allocs += 1 + 2 * count;
    }

    uint64_t t0 = bench_now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        switch (kind) {
        case LIFO:
        case LONG_LIVED:
            seq_alloc_all(p, count, size);
            for (uint64_t i = count; i-- > 0;)
                free(p[i]);
            break;
        case FIFO:
            seq_alloc_all(p, count, size);
            for (uint64_t i = 0; i < count; i++)
                free(p[i]);
            break;
        case RANDOM: {
            seq_alloc_all(p, count, size);
            uint64_t off = bench_rng_range(&rng, 0, count - 1);
            for (uint64_t i = 0; i < count; i++) {
                uint64_t k = i + off;
                free(p[perm[k < count ? k : k - count]]);
            }
            break;
        }
        case INTERLEAVED:
            for (uint64_t i = 0; i < count; i++) {
                p[i] = bench_malloc(prog, size);
                *(volatile unsigned char *)p[i] = (unsigned char)i;
                if (i & 1)
                    free(p[i - 1]);
            }
            for (uint64_t i = count; i-- > 0;)
                if (i & 1)
                    free(p[i]);
            if (count & 1)
                free(p[count - 1]);
            break;
        }
    }
    uint64_t elapsed = bench_now_ns() - t0;

    if (keep != NULL) {
        for (uint64_t i = 0; i < count; i++)
            free(keep[i]);
        free(keep);
    }
    free(perm);
    free(p);

    uint64_t ops = rounds * count;
    char extra[256];
    snprintf(extra, sizeof extra,
             "pattern=%s count=%" PRIu64 " rounds=%" PRIu64 " seed=%" PRIu64 " size=%zu", pattern,
             count, rounds, seed, size);
    bench_report(prog, extra, ops, elapsed, ops + allocs);
    return 0;
}
