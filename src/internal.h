/* internal.h - definitions every hakmem source file shares.
 *
 * Glossary (the words the code uses; see doc/design.md for the whole picture)
 *   block      what malloc returns: one element of a size class, or a large mapping.
 *   class      a size class index (sizeclass.h); class_size[c] is its block size.
 *   slab       a 64 KiB unit of a SuperSlab that serves one class; its metadata
 *              (slab_t) lives in the SuperSlab header.
 *   SuperSlab  a 2 MiB region aligned to 2 MiB, owned by one arena, carved into
 *              32 slabs of any classes. Pointer -> SuperSlab by masking, -> slab
 *              by shifting.
 *   chunk      the common 64-byte header at the base of every 2 MiB-aligned
 *              hakmem mapping: a SuperSlab, or a large block.
 *   large      a block above the slab maximum: its own aligned mapping, cached
 *              on free and returned to the OS after decay_ms.
 *   arena      owner of SuperSlabs and large mappings; one bin (lock, partial
 *              slabs, stats) per class. Threads are bound to one arena.
 *   tcache     the one per-thread layer: a free list per class, filled from and
 *              flushed to arena bins in batches.
 */
#ifndef HAKMEM_INTERNAL_H
#define HAKMEM_INTERNAL_H

#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Fast paths are forced inline; every unusual case goes to one noinline slow
 * function per direction. */
#define FAST_PATH   static inline __attribute__((always_inline))
#define SLOW_PATH   __attribute__((noinline, cold))
#define EXPORT      __attribute__((visibility("default")))
#define CACHELINE   64
#define ALIGNED(n)  __attribute__((aligned(n)))

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

#define PAGE_SIZE ((size_t)4096)

/* Geometry: SuperSlabs of 2 MiB split into 32 slabs of 64 KiB. */
#define SS_SHIFT        21
#define SS_SIZE         ((size_t)1 << SS_SHIFT)
#define SS_MASK         (SS_SIZE - 1)
#define SLAB_SHIFT      16
#define SLAB_SIZE       ((size_t)1 << SLAB_SHIFT)
#define SLABS_PER_SS    (SS_SIZE / SLAB_SIZE)

#define ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a) - 1))
#define ARRAY_LEN(a)     (sizeof(a) / sizeof((a)[0]))

static const bool hakmem_debug = HAKMEM_DEBUG;

/* Internal assertion: compiled out of release builds by the plain if. */
void hakmem_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn, cold));
#define HM_ASSERT(e) \
	do { if (hakmem_debug && UNLIKELY(!(e))) hakmem_assert_fail(#e, __FILE__, __LINE__); } while (0)

#endif /* HAKMEM_INTERNAL_H */
