/* free.c - the deallocation entry points. The fast path: mask the pointer to
 * its SuperSlab, shift to its slab, and if the slab belongs to this thread's
 * arena and the class's cache has room, push. */
#include "internal.h"
#include "superslab.h"
#include "tcache.h"

#include <hakmem.h>

FAST_PATH void free_fast(void *p)
{
	/* NULL and 2 MiB-aligned (over-aligned large) pointers: slow path. */
	if (LIKELY(((uintptr_t)p & SS_MASK) != 0)) {
		slab_t *s = ptr_slab(p);
		tcache_fs_t *tc = tcache_fs();
		if (LIKELY(s->arena == tc->arena)) {
			tcache_bin_fs_t *b = (tcache_bin_fs_t *)s->bin_tpoff;
			if (UNLIKELY(--b->avail < 0))
				return tcache_free_slow(p, true);
			*(void **)p = b->head;
			b->head = p;
			b->nfree++;
			return;
		}
	}
	tcache_free_slow(p, false);
}

EXPORT void hakmem_free(void *p)
{
	free_fast(p);
}

EXPORT void hakmem_free_sized(void *p, size_t size)
{
	(void)size;
	free_fast(p);
}

EXPORT void free(void *p) __attribute__((alias("hakmem_free")));
EXPORT void free_sized(void *p, size_t size) __attribute__((alias("hakmem_free_sized")));

EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	(void)align;
	(void)size;
	free_fast(p);
}

EXPORT void cfree(void *p)
{
	free_fast(p);
}
