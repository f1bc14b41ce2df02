/* test/numa/numa-selftest.c: checks, inside the vm-run.sh guest, that the
 * guest really has two NUMA nodes and that pages land where they are asked
 * to.  Built and run by vm-selftest.sh; prints one line per check and
 * exits 0 only when every check passed.
 *
 * Expected topology: node 0 = CPUs 0-1, node 1 = CPUs 2-3, ~512 MiB each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int checks, failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        printf("%s: ", (cond) ? "ok" : "FAIL");                              \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!(cond))                                                         \
            failures++;                                                      \
    } while (0)

static long page_size;

/* Node of the page holding p, by move_pages(2) with nodes == NULL (query);
 * negative errno on failure. */
static int node_of_page(void *p)
{
    void *pages[1] = { p };
    int status[1] = { -1 };
    if (move_pages(0, 1, pages, NULL, status, 0) != 0)
        return -errno;
    return status[0];
}

/* Second opinion: get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), raw syscall. */
static int node_of_page_mempolicy(void *p)
{
    int node = -1;
    if (syscall(SYS_get_mempolicy, &node, NULL, 0UL, p,
                MPOL_F_NODE | MPOL_F_ADDR) != 0)
        return -errno;
    return node;
}

static int pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    page_size = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (numa_available() < 0) {
        printf("FAIL: numa_available() < 0: no NUMA support in this kernel\n");
        return 1;
    }
    CHECK(numa_max_node() == 1, "numa_max_node() = %d (want 1)", numa_max_node());
    CHECK(numa_num_configured_cpus() == 4, "numa_num_configured_cpus() = %d (want 4)",
          numa_num_configured_cpus());

    /* CPU -> node, three ways: sched_getcpu, getcpu(2), libnuma. */
    for (int cpu = 0; cpu < 4; cpu++) {
        int want = cpu / 2;
        unsigned gc_cpu = ~0u, gc_node = ~0u;
        if (pin_to_cpu(cpu) != 0) {
            CHECK(0, "sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
            continue;
        }
        int sc = sched_getcpu();
        long r = syscall(SYS_getcpu, &gc_cpu, &gc_node, NULL);
        int lib = numa_node_of_cpu(cpu);
        CHECK(sc == cpu && r == 0 && (int)gc_cpu == cpu && (int)gc_node == want &&
              lib == want,
              "cpu %d: sched_getcpu=%d getcpu=(cpu %u, node %u) numa_node_of_cpu=%d"
              " (want node %d)", cpu, sc, gc_cpu, gc_node, lib, want);
    }
    pin_to_cpu(0);

    for (int n = 0; n <= 1; n++) {
        long long free_b = 0, size_b = numa_node_size64(n, &free_b);
        long long mib = size_b >> 20;
        CHECK(mib >= 384 && mib <= 512, "node %d: %lld MiB (%lld MiB free), want ~512",
              n, mib, free_b >> 20);
    }

    /* numa_alloc_onnode: every page on the node asked for, while running on
     * node 0 (so local allocation would give the wrong answer). */
    const int npages = 16;
    for (int n = 1; n >= 0; n--) {
        char *p = numa_alloc_onnode(npages * page_size, n);
        if (!p) {
            CHECK(0, "numa_alloc_onnode(%d pages, %d) returned NULL", npages, n);
            continue;
        }
        memset(p, 0xa5, npages * page_size);
        int bad = 0, first = node_of_page(p);
        for (int i = 0; i < npages; i++)
            if (node_of_page(p + i * page_size) != n)
                bad++;
        int mp = node_of_page_mempolicy(p);
        CHECK(bad == 0 && mp == n,
              "numa_alloc_onnode(%d pages, node %d) from cpu 0: move_pages says node %d"
              " (%d/%d pages elsewhere), get_mempolicy says node %d",
              npages, n, first, bad, npages, mp);
        if (n == 1 && !quick) {
            /* migrate the first page to node 0 and back */
            void *pages[1] = { p };
            int to0[1] = { 0 }, to1[1] = { 1 }, st[1] = { -1 };
            long r0 = move_pages(0, 1, pages, to0, st, MPOL_MF_MOVE);
            int after0 = node_of_page(p);
            long r1 = move_pages(0, 1, pages, to1, st, MPOL_MF_MOVE);
            int after1 = node_of_page(p);
            CHECK(r0 == 0 && after0 == 0 && r1 == 0 && after1 == 1 &&
                  (unsigned char)p[0] == 0xa5,
                  "move_pages migration: node 1 -> %d -> %d, contents %s", after0,
                  after1, (unsigned char)p[0] == 0xa5 ? "kept" : "LOST");
        }
        numa_free(p, npages * page_size);
    }

    /* mbind(MPOL_BIND) by raw syscall on a plain mmap. */
    {
        char *p = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        unsigned long mask = 1UL << 1;
        long r = syscall(SYS_mbind, p, 4 * page_size, MPOL_BIND, &mask,
                         sizeof(mask) * 8, 0UL);
        int err = errno;
        memset(p, 1, 4 * page_size);
        int node = node_of_page(p + 3 * page_size);
        CHECK(r == 0 && node == 1, "mbind(MPOL_BIND, node 1) + first touch on cpu 0:"
              " page on node %d (mbind %s)", node, r == 0 ? "ok" : strerror(err));
        munmap(p, 4 * page_size);
    }

    /* Default (local) policy: first touch from a CPU of node N puts the page
     * on node N. */
    if (!quick) {
        for (int cpu = 0; cpu < 4; cpu += 3) {
            int want = cpu / 2;
            pin_to_cpu(cpu);
            char *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            p[0] = 1;
            int node = node_of_page(p);
            CHECK(node == want, "first touch on cpu %d: page on node %d (want %d)", cpu,
                  node, want);
            munmap(p, page_size);
        }
        pin_to_cpu(0);
    }

    printf("numa-selftest: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
