/* free.c - the deallocation entry points. The fast path: a pointer inside the
 * SuperSlab window, masked to its SuperSlab and shifted to its slab; if the
 * slab belongs to this thread's arena, the block is not already the head of
 * its bin (the immediate double free) and the bin has room, push. A block of
 * another arena's slab goes to tcache_free_foreign (the remote free); every
 * other pointer, NULL included, to tcache_free_slow, which validates it before
 * it reads anything through it. */
#include "internal.h"
#include "superslab.h"
#include "tcache.h"
#include "entry.h"

#include <hakmem.h>

FAST_PATH void free_fast(void *p)
{
	if (LIKELY(ss_window_contains(p))) {
		slab_t *s = ptr_slab(p);
		tcache_t *tc = tcache_cur;
		if (LIKELY(s->arena == tc->arena)) {
			tcache_bin_t *b = tcache_bin_at(tc, s->bin_off);
			void *head = b->head;
			if (UNLIKELY(head == p))
				return tcache_free_slow(p, false);
			if (UNLIKELY(--b->avail < 0))
				return tcache_free_slow(p, true);
			*(void **)p = head;
			b->head = p;
			b->nfree++;
			return;
		}
		return tcache_free_foreign(p);
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

/* ---- other names of the same functions (see malloc.c) ---- */

EXPORT void __libc_free(void *p) __attribute__((alias("hakmem_free")));

void entry_free(void *p) __attribute__((alias("hakmem_free")));
void entry_free_sized(void *p, size_t size) __attribute__((alias("hakmem_free_sized")));
