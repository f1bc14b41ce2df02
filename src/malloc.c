/* malloc.c - the allocation entry points. The fast path is malloc's: a table
 * lookup (up to 1 KiB; to 32 KiB, the class by arithmetic) and a pop from the
 * thread cache; everything else is tcache_malloc_slow's. */
#include "internal.h"
#include "arena.h"
#include "conf.h"
#include "large.h"
#include "log.h"
#include "registry.h"
#include "sizeclass.h"
#include "superslab.h"
#include "tcache.h"
#include "entry.h"

#include <hakmem.h>
#include <errno.h>
#include <string.h>

/* The classes malloc's fast path pops beyond the tiny ones (1-32 KiB): a
 * thread cache holds several blocks of each (tcache.c's capacities). */
#define MID_FAST_MAX ((size_t)32 * KiB)

FAST_PATH void *malloc_fast(size_t size)
{
	if (LIKELY(size <= TINY_MAX_SIZE)) {
		tcache_bin_t *b = tcache_bin_at(tcache_cur, tiny_bin_off[size]);
		void *p = b->head;
		if (LIKELY(p != NULL)) {
			b->head = *(void **)p;
			b->avail++;
			return p;
		}
	} else if (size <= MID_FAST_MAX && size <= g_conf.large_threshold) {
		/* Classes above 1 KiB: the class by arithmetic, then the same pop
		 * (a sentinel cache's bins are empty: the slow path starts it). */
		tcache_bin_t *b = &tcache_cur->bins[size_to_class(size)];
		void *p = b->head;
		if (LIKELY(p != NULL)) {
			b->head = *(void **)p;
			b->avail++;
			return p;
		}
	}
	return tcache_malloc_slow(size);
}

EXPORT void *hakmem_malloc(size_t size)
{
	return malloc_fast(size);
}

EXPORT void *hakmem_calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (UNLIKELY(__builtin_mul_overflow(nmemb, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	if (LIKELY(total <= TINY_MAX_SIZE)) {
		tcache_bin_t *b = tcache_bin_at(tcache_cur, tiny_bin_off[total]);
		void *p = b->head;
		if (LIKELY(p != NULL)) {
			b->head = *(void **)p;
			b->avail++;
			return memset(p, 0, total);
		}
	}
	return tcache_calloc_slow(total);
}

/* The usable size of live block p; a pointer that is not one is fatal
 * (`what` names the call in the diagnostic). */
static size_t block_usable_slow(const void *p, const char *what) __attribute__((noinline));

/* The usable size of block p, checked (fatal for what is not a live
 * block). A block of a class (programs that count their memory ask at every
 * malloc and free: redis) is checked in the SuperSlab window, without the
 * registry. */
FAST_PATH size_t block_usable(const void *p, const char *what)
{
	if (LIKELY(ss_window_contains(p))) {
		slab_t *s = window_block_slab(p);
		if (LIKELY(s != NULL))
			return s->block_size;
	}
	return block_usable_slow(p, what);
}

static size_t block_usable_slow(const void *p, const char *what)
{
	chunk_t *c = registry_lookup(p);
	if (UNLIKELY(c == NULL))
		hm_fatal("invalid %s of %p: not a block allocated by hakmem", what, p);
	if (c->kind == CHUNK_LARGE) {
		if (UNLIKELY(c->large.user != p))
			hm_fatal("invalid %s of %p: not a live large block", what, p);
		return c->large.usable;
	}
	slab_t *s = ptr_slab_head(p);
	if (UNLIKELY(s->state != SLAB_ACTIVE || slab_block_index(s, p) < 0))
		hm_fatal("invalid %s of %p: not the start of an allocated block", what, p);
	return s->block_size;
}

EXPORT size_t hakmem_usable_size(const void *p)
{
	if (p == NULL)
		return 0;
	return block_usable(p, "malloc_usable_size");
}

EXPORT void *hakmem_realloc(void *p, size_t size)
{
	if (p == NULL)
		return malloc_fast(size);
	if (size == 0) {
		/* glibc's behaviour: free and return NULL. */
		hakmem_free(p);
		return NULL;
	}
	size_t old = block_usable(p, "realloc");
	/* In place where it can: a block of a class keeps its class, or its
	 * slab grows or shrinks by units (arena.c); a large block is resized by
	 * its mapping (large.c). The copy is the last resort. */
	if (old <= CLASS_MAX_SIZE) {
		if (size <= CLASS_MAX_SIZE && arena_resize_in_place(p, size))
			return p;
	} else if (size > CLASS_MAX_SIZE) {
		void *q = large_resize(p, size);
		if (q != NULL)
			return q;
	}
	void *q = malloc_fast(size);
	if (q == NULL)
		return NULL; /* errno is ENOMEM; the old block is kept */
	memcpy(q, p, old < size ? old : size);
	hakmem_free(p);
	return q;
}

static bool valid_alignment(size_t align)
{
	return align != 0 && (align & (align - 1)) == 0;
}

static void *aligned_impl(size_t align, size_t size)
{
	if (align <= 16 && (size & 15) == 0)
		return malloc_fast(size);
	if (align < 8)
		align = 8;
	return tcache_malloc_aligned(size, align);
}

EXPORT void *hakmem_aligned_alloc(size_t align, size_t size)
{
	if (UNLIKELY(!valid_alignment(align))) {
		errno = EINVAL;
		return NULL;
	}
	return aligned_impl(align, size);
}

EXPORT int hakmem_posix_memalign(void **memptr, size_t align, size_t size)
{
	if (UNLIKELY(!valid_alignment(align) || align < sizeof(void *)))
		return EINVAL;
	void *p = aligned_impl(align, size);
	if (p == NULL)
		return ENOMEM; /* errno is ENOMEM too, as glibc leaves it */
	*memptr = p;
	return 0;
}

/* ---- the standard names ---- */

EXPORT HAKMEM_MALLOC_ATTR void *malloc(size_t size) __attribute__((alias("hakmem_malloc")));
EXPORT HAKMEM_MALLOC_ATTR void *calloc(size_t nmemb, size_t size) __attribute__((alias("hakmem_calloc")));
EXPORT void *realloc(void *p, size_t size) __attribute__((alias("hakmem_realloc")));
EXPORT void *aligned_alloc(size_t align, size_t size) __attribute__((alias("hakmem_aligned_alloc")));
EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
	__attribute__((alias("hakmem_posix_memalign")));
EXPORT size_t malloc_usable_size(void *p) __attribute__((alias("hakmem_usable_size")));

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t total;
	if (UNLIKELY(__builtin_mul_overflow(nmemb, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	return hakmem_realloc(p, total);
}

EXPORT void *memalign(size_t align, size_t size)
{
	/* glibc rounds an alignment that is not a power of two up to one. */
	if (align != 0 && (align & (align - 1)) != 0) {
		if (align > ((size_t)1 << 62)) {
			errno = EINVAL;
			return NULL;
		}
		size_t a = 1;
		while (a < align)
			a <<= 1;
		align = a;
	}
	if (align == 0)
		align = 1;
	return aligned_impl(align, size);
}

EXPORT void *valloc(size_t size)
{
	return aligned_impl(PAGE_SIZE, size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t rounded = ALIGN_UP(size, PAGE_SIZE);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned_impl(PAGE_SIZE, rounded ? rounded : PAGE_SIZE);
}

/* ---- other names of the same functions ----
 * glibc's internal names, which mimalloc and tcmalloc export too (programs
 * and preloaded tools that call __libc_malloc to reach "the real malloc"
 * get hakmem's, and its blocks may go to free); and the hidden names of
 * entry.h for new.c and jemalloc.c. */

EXPORT HAKMEM_MALLOC_ATTR void *__libc_malloc(size_t size) __attribute__((alias("hakmem_malloc")));
EXPORT HAKMEM_MALLOC_ATTR void *__libc_calloc(size_t nmemb, size_t size) __attribute__((alias("hakmem_calloc")));
EXPORT void *__libc_realloc(void *p, size_t size) __attribute__((alias("hakmem_realloc")));
EXPORT void *__libc_memalign(size_t align, size_t size) __attribute__((alias("memalign")));
EXPORT void *__libc_valloc(size_t size) __attribute__((alias("valloc")));
EXPORT void *__libc_pvalloc(size_t size) __attribute__((alias("pvalloc")));

HAKMEM_MALLOC_ATTR void *entry_malloc(size_t size) __attribute__((alias("hakmem_malloc")));
HAKMEM_MALLOC_ATTR void *entry_calloc(size_t nmemb, size_t size) __attribute__((alias("hakmem_calloc")));
void *entry_realloc(void *p, size_t size) __attribute__((alias("hakmem_realloc")));
HAKMEM_MALLOC_ATTR void *entry_aligned_alloc(size_t align, size_t size)
	__attribute__((alias("hakmem_aligned_alloc")));
size_t entry_usable_size(const void *p) __attribute__((alias("hakmem_usable_size")));
