/* large.h - blocks above CLASS_MAX_SIZE (1.75 MiB), and blocks aligned to more
 * than CLASS_ALIGN_MAX: each in its own 2 MiB-aligned mapping
 * that starts with a chunk_t, so free() finds it by the same mask as a
 * SuperSlab. Freed mappings are cached per arena (pages stay resident: a
 * malloc/touch/free loop neither maps nor faults) and unmapped after decay_ms.
 *
 * Layout: chunk_t at the base, the block at base + max(128, alignment).
 * Alignments of 2 MiB and more put the chunk_t in the 64 bytes below the
 * block instead (huge_align), since the block itself then starts on a 2 MiB
 * boundary. The mappings live in their own address window (os.h), so free()'s
 * fast path never reads their memory.
 */
#ifndef HAKMEM_LARGE_H
#define HAKMEM_LARGE_H

#include "internal.h"
#include "superslab.h"

struct arena;

/* A block of at least `size` bytes aligned to `align` (a power of two). Sets
 * *zeroed when the memory is known to be zero. NULL with ENOMEM on failure. */
void *large_alloc(struct arena *a, size_t size, size_t align, bool *zeroed);

/* realloc of live large block p (not aligned to 2 MiB or more) to `size`
 * (above the largest class) by its mapping: shrunk, grown in place, or moved
 * by mremap without a copy. The block (p or its new address), or NULL when
 * the mapping could not change (p is unchanged). */
void *large_resize(void *p, size_t size);

/* Frees large block p whose header registry_lookup(p) returned; fatal
 * (double or invalid free) unless p is that block, live. */
void large_free(void *p, chunk_t *c);

/* The header of a large block hakmem just returned (no validation). */
static inline chunk_t *large_header(const void *p)
{
	if (((uintptr_t)p & SS_MASK) == 0)
		return (chunk_t *)((char *)p - sizeof(chunk_t));
	return ptr_chunk(p);
}

/* Per-thread reuse without the arena lock (tcache's one-block large slot):
 * large_stash marks a live large block freed, keeping it mapped and counted
 * as live by its arena; large_reuse hands a stashed block out again when it
 * fits `size` (alignment <= 128) within a quarter, else returns NULL;
 * large_release frees a stashed block for real (arena cache or unmap). */
void large_stash(chunk_t *c);
void *large_reuse(chunk_t *c, size_t size);
void large_release(chunk_t *c, bool count_free); /* false: the free was counted at stash */
/* Adds slot hits to the arena's counters. */
void large_count(struct arena *a, uint64_t nmalloc, uint64_t nfree);

/* Unmaps cached mappings older than decay_ms (all if force); the bytes. */
uint64_t large_cache_purge(struct arena *a, uint64_t now, bool force);

#define LARGE_HDR 128

/* Live large blocks in the whole process, and the most there ever were
 * (malloc_stats' "max mmap regions/bytes"). [atomic] */
extern uint64_t g_large_nlive, g_large_live_bytes;
extern uint64_t g_large_peak_n, g_large_peak_bytes;

#endif
