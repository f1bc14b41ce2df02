/* test/numa/preload-probe.c: a tiny LD_PRELOAD library for vm-selftest.sh.
 * It interposes malloc() (passing the calls on to glibc's __libc_malloc)
 * and reports, at exit, that it was loaded and used. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
static unsigned long calls;

void *malloc(size_t n)
{
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}

__attribute__((destructor)) static void report(void)
{
    char buf[96];
    int len = snprintf(buf, sizeof buf, "preload-probe: loaded, %lu malloc calls seen\n",
                       calls);
    if (len > 0)
        (void)!write(2, buf, (size_t)len);
}
