/* hakmem.h - public interface of the hakmem memory allocator.
 *
 * hakmem replaces malloc: link with -lhakmem, or load libhakmem.so with
 * LD_PRELOAD. The standard names (malloc, free, ...) are exported by the
 * shared library; the hakmem_ names below are always available.
 *
 * Control: hakmem_ctl() reads and writes a dotted, string-keyed namespace of
 * statistics and tunables ("tiny.fast_cap", "stats.allocated", ...). See
 * hakmem(3) for every key. The same keys, written "key=value,key=value", form
 * the start-up configuration string (HAKMEM_CONF, or a program-defined
 * `const char *hakmem_conf`).
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>     /* ctl values are uint64_t, size_t, ssize_t, ... */
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION "0.1.0"

#if defined(__GNUC__)
#define HAKMEM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HAKMEM_MALLOC_ATTR
#endif

/* Allocation. Failures return NULL with errno set (ENOMEM, or EINVAL for a
 * bad alignment); hakmem_posix_memalign returns the error instead. */
void  *hakmem_malloc(size_t size) HAKMEM_MALLOC_ATTR;
void   hakmem_free(void *ptr);
void  *hakmem_calloc(size_t nmemb, size_t size) HAKMEM_MALLOC_ATTR;
void  *hakmem_realloc(void *ptr, size_t size);
void  *hakmem_aligned_alloc(size_t alignment, size_t size) HAKMEM_MALLOC_ATTR;
int    hakmem_posix_memalign(void **memptr, size_t alignment, size_t size);
size_t hakmem_usable_size(const void *ptr);
void   hakmem_free_sized(void *ptr, size_t size);

/* Control. Returns 0 or an errno value:
 *   ENOENT  unknown name, or an index out of range
 *   EINVAL  wrong size, or a value out of range (the value is left unchanged)
 *   EPERM   writing a read-only key, or reading a write-only one
 *   EFAULT  a side effect failed
 * Read with oldp/oldlenp, write with newp/newlen, both at once to swap. */
int  hakmem_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp,
                size_t newlen);
int  hakmem_ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp);
int  hakmem_ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                      const void *newp, size_t newlen);

/* Describes key i of the control namespace (0, 1, ... until ENOENT): its
 * name ('#' stands for an index), C type, mode ("r", "w", "rw", "r (start)"),
 * unit and one-line meaning. The strings are static. */
int  hakmem_ctl_key_info(size_t i, const char **name, const char **type, const char **mode,
                         const char **unit, const char **doc);

/* Prints every statistic through write_cb (stderr when NULL). opts "J" gives
 * JSON; anything else readable text. */
void hakmem_stats_print(void (*write_cb)(void *opaque, const char *text), void *opaque,
                        const char *opts);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_H */
