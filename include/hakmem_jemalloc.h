/* hakmem_jemalloc.h - jemalloc's non-standard API, as libhakmem exports it.
 *
 * The names, flags and error codes are jemalloc's (5.x), so that a program
 * written for jemalloc runs on hakmem linked or preloaded; what each call
 * means here, and which mallctl names exist, is in hakmem(3) ("jemalloc's
 * API"). The declarations match <jemalloc/jemalloc.h> (built without a
 * prefix); the macros are defined only where that header has not. Also
 * declared: malloc_good_size, the usable size a request would get.
 */
#ifndef HAKMEM_JEMALLOC_H
#define HAKMEM_JEMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MALLOCX_LG_ALIGN
#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ALIGN(a) \
	((int)(((size_t)(a) < (size_t)0x7fffffff) ? __builtin_ffs((int)(a)) - 1 \
	                                            : __builtin_ffs((int)(((size_t)(a)) >> 32)) + 31))
#define MALLOCX_ZERO ((int)0x40)
/* Thread caches and arenas are hakmem's own business: these flags are
 * accepted and ignored (hakmem(3)). */
#define MALLOCX_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define MALLOCX_TCACHE_NONE MALLOCX_TCACHE(-1)
#define MALLOCX_ARENA(a) ((((int)(a)) + 1) << 20)
#endif

#ifndef MALLCTL_ARENAS_ALL
/* arena.<MALLCTL_ARENAS_ALL>.purge: every arena. */
#define MALLCTL_ARENAS_ALL 4096
#define MALLCTL_ARENAS_DESTROYED 4097
#endif

void  *mallocx(size_t size, int flags);
void  *rallocx(void *ptr, size_t size, int flags);
size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
size_t sallocx(const void *ptr, int flags);
void   dallocx(void *ptr, int flags);
void   sdallocx(void *ptr, size_t size, int flags);
size_t nallocx(size_t size, int flags);

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                 size_t newlen);
void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                        const char *opts);

size_t malloc_good_size(size_t size);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_JEMALLOC_H */
