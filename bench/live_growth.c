/* live_growth - a live set that grows to COUNT blocks of 40,000 bytes.
 *
 * Allocates COUNT blocks of SIZE bytes (default 40,000: just above 32 KiB,
 * the page layer's range) one after the other, writing the first and the last
 * byte of each, keeps them all live, then frees them all in the order they
 * were allocated (checking the two bytes). At the peak, with every block
 * live, it reads the number of lines of /proc/self/maps (the mappings of the
 * process: one per block for an allocator that maps each block by itself)
 * and VmPTE from /proc/self/status (the memory of the page tables); the time
 * of those reads is left out. One operation is one allocation with its free.
 *
 * The result line adds maps_lines and vmpte_kb (at the peak; -1 without
 * /proc), alloc_ns_per_op and free_ns_per_op (the two phases), and
 * faults_per_op: the soft page faults of both phases divided by COUNT.
 */
#include "bench.h"

static const char *prog = "live_growth";

int main(int argc, char **argv)
{
    bench_usage_text = "COUNT [SIZE]";
    if (argc != 2 && argc != 3)
        bench_usage(prog, "wrong number of arguments");
    uint64_t count = bench_arg_u64(prog, "COUNT", argv[1], 0, UINT64_C(1) << 28);
    size_t size = argc == 3 ? (size_t)bench_arg_u64(prog, "SIZE", argv[2], 2, UINT64_C(1) << 30)
                            : 40000;

    unsigned char **ptr = calloc(count ? count : 1, sizeof *ptr);
    if (ptr == NULL)
        bench_die(prog, "out of memory for the pointer array");
    /* the array's own page faults come before the timing starts */
    memset(ptr, 0, (count ? count : 1) * sizeof *ptr);
    bench_escape(ptr);

    long flt0 = bench_minflt();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        unsigned char *p = bench_malloc(prog, size);
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)~i;
        ptr[i] = p;
    }
    uint64_t t1 = bench_now_ns();
    long flt1 = bench_minflt();

    long maps = bench_maps_lines();
    long vmpte = bench_status_kb("VmPTE");

    long flt2 = bench_minflt();
    uint64_t t2 = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        unsigned char *p = ptr[i];
        if (p[0] != (unsigned char)i || p[size - 1] != (unsigned char)~i)
            bench_die(prog, "block %" PRIu64 " was overwritten", i);
        free(p);
    }
    uint64_t t3 = bench_now_ns();
    long faults = (bench_minflt() - flt2) + (flt1 - flt0);
    free(ptr);

    uint64_t elapsed = (t1 - t0) + (t3 - t2);
    double n = count ? (double)count : 1.0;
    char extra[320];
    snprintf(extra, sizeof extra,
             "count=%" PRIu64 " size=%zu maps_lines=%ld vmpte_kb=%ld alloc_ns_per_op=%.1f"
             " free_ns_per_op=%.1f faults=%ld faults_per_op=%.3f",
             count, size, maps, vmpte, (double)(t1 - t0) / n, (double)(t3 - t2) / n, faults,
             (double)faults / n);
    bench_report(prog, extra, count, elapsed, count + 1);
    return 0;
}
