/* startup - process start and exit of a trivial program, COUNT times.
 *
 * The parent forks and execs itself as the trivial program ("startup
 * --child"): a main that allocates 32 small and medium blocks, writes them,
 * frees them and exits 0. The parent waits for each child before starting
 * the next. The allocator's cost here is its load, initialisation (first
 * malloc), and exit; LD_PRELOAD passes to every child. One operation is one
 * fork + exec + exit + wait; ns_per_op is the time per start.
 *
 * minflt is the children's minor faults per start (RUSAGE_CHILDREN). One
 * extra child runs first and reports through a pipe its peak RSS (VmHWM,
 * which is maxrss_kb here), hakmem_nmalloc and allocator_lib, so they
 * describe the trivial program, not the parent.
 */
#include "bench.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *prog = "startup";

#define CHILD_ALLOCS 32

static int startup_child(int report)
{
    void *p[CHILD_ALLOCS];
    for (int i = 0; i < CHILD_ALLOCS; i++) {
        size_t sz = (size_t)16 << (i % 9);   /* 16 B .. 4 KiB */
        p[i] = malloc(sz);
        if (p[i] == NULL)
            return 1;
        memset(p[i], i, sz);
    }
    for (int i = 0; i < CHILD_ALLOCS; i++)
        free(p[i]);
    if (report) {
        char nmalloc[64], lib[512];
        bench_hakmem_nmalloc(nmalloc, sizeof nmalloc);
        bench_allocator_lib(lib, sizeof lib);
        printf("%s %s %ld\n", nmalloc, lib, bench_peak_rss_kb());
    }
    return 0;
}

/* Runs one child; with out != NULL its stdout is read into out. */
static void startup_run(char *self, int report, char *out, size_t outlen)
{
    int fd[2] = { -1, -1 };
    if (report && pipe(fd) != 0)
        bench_die(prog, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        bench_die(prog, "fork: %s", strerror(errno));
    if (pid == 0) {
        char *argv[] = { self, "--child", report ? "report" : NULL, NULL };
        if (report) {
            dup2(fd[1], 1);
            close(fd[0]);
            close(fd[1]);
        }
        execv(self, argv);
        _exit(127);
    }
    if (report) {
        close(fd[1]);
        size_t got = 0;
        ssize_t n;
        while (got + 1 < outlen && (n = read(fd[0], out + got, outlen - 1 - got)) > 0)
            got += (size_t)n;
        out[got] = '\0';
        close(fd[0]);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        bench_die(prog, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die(prog, "the child failed (status 0x%x)", status);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        return startup_child(argc >= 3 && strcmp(argv[2], "report") == 0);

    bench_usage_text = "COUNT";
    if (argc != 2)
        bench_usage(prog, "wrong number of arguments");
    uint64_t count = bench_arg_u64(prog, "COUNT", argv[1], 0, 1 << 24);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        bench_die(prog, "readlink /proc/self/exe: %s", strerror(errno));
    self[n] = '\0';

    char report[1024], nmalloc[64] = "error:missing", lib[512] = "unknown";
    long child_rss_kb = 0;
    startup_run(self, 1, report, sizeof report);
    if (sscanf(report, "%63s %511s %ld", nmalloc, lib, &child_rss_kb) != 3)
        bench_die(prog, "the reporting child printed '%s'", report);

    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < count; i++)
        startup_run(self, 0, NULL, 0);
    uint64_t elapsed = bench_now_ns() - t0;
    getrusage(RUSAGE_CHILDREN, &after);
    long minflt = after.ru_minflt - before.ru_minflt;

    char extra[128];
    snprintf(extra, sizeof extra, "count=%" PRIu64 " minflt_per_op=%.1f", count,
             count ? (double)minflt / (double)count : 0.0);
    bench_report_values(prog, extra, count, elapsed, CHILD_ALLOCS, child_rss_kb,
                        count ? minflt / (long)count : 0, nmalloc, lib);
    return 0;
}
