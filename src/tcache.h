/* tcache.h - the thread cache: the one per-thread layer in front of arenas.
 *
 * Call tree (fast paths inline in malloc.c/free.c, everything else here):
 *
 *   malloc(size)
 *     size <= 1 KiB and bin[class].head != NULL  -> pop            (fast)
 *     otherwise tcache_malloc_slow(size)
 *       first call of the thread  -> tcache_thread_init
 *       slab class: bin pop, else arena_fill(refill) into the bin
 *       large: large_alloc
 *   free(p)
 *     slab of p owned by this thread's arena and bin not full -> push (fast)
 *     otherwise tcache_free_slow(p)
 *       NULL / large / foreign pointer      -> validate, large_free
 *       block of another arena              -> remote buffer, batch arena_dalloc
 *       bin full                            -> flush half to arena_dalloc
 *
 * The TLS part (tcache_t) starts zeroed: every bin empty with avail 0, so the
 * first malloc and the first free of a thread fall into the slow paths, which
 * initialise it. There is no initialisation check on a fast path.
 */
#ifndef HAKMEM_TCACHE_H
#define HAKMEM_TCACHE_H

#include "internal.h"
#include "sizeclass.h"

struct arena;
struct tcache_cold;

/* One class of a thread cache. Owner thread only; other threads read the
 * counters racily (relaxed) for statistics. */
typedef struct tcache_bin {
	void *head;        /* free blocks, linked through their first word */
	int32_t avail;     /* capacity - blocks cached; free() takes the slow path at 0 */
	uint32_t pad;
	uint64_t nfree;    /* blocks the program freed into this bin on the fast path */
	uint64_t pad2;
} tcache_bin_t;

_Static_assert(sizeof(tcache_bin_t) == 32, "tcache_bin_t indexes by shift");

typedef struct tcache {
	tcache_bin_t bins[NCLASSES];
	struct arena *arena;        /* the thread's arena; NULL until init */
	struct tcache_cold *cold;   /* slow-path state; NULL until init */
} tcache_t;

extern __thread tcache_t tcache_tls __attribute__((tls_model("initial-exec")));

/* The fast paths address the thread cache relative to %fs: one load of the
 * variable's offset from the thread pointer (initial-exec TLS; the linker
 * turns it into a constant in an executable) and %fs-based accesses, instead
 * of materialising its address. */
typedef __seg_fs tcache_t tcache_fs_t;
typedef __seg_fs tcache_bin_t tcache_bin_fs_t;

FAST_PATH tcache_fs_t *tcache_fs(void)
{
	uintptr_t off;
	__asm__("movq tcache_tls@gottpoff(%%rip), %0" : "=r"(off));
	return (tcache_fs_t *)off;
}

/* The bin at byte offset `off` (class * 32) of the calling thread's cache. */
FAST_PATH tcache_bin_fs_t *tcache_fs_bin(tcache_fs_t *tc, unsigned off)
{
	return (tcache_bin_fs_t *)((__seg_fs char *)tc + off);
}

void *tcache_malloc_slow(size_t size) SLOW_PATH;
/* `undo`: the fast path already took a slot (avail went below zero). */
void  tcache_free_slow(void *p, bool undo) SLOW_PATH;

/* Slow-path allocation with alignment (align <= SLAB_MAX_SIZE picks a class
 * whose blocks are aligned; larger ones go to large_alloc). */
void *tcache_malloc_aligned(size_t size, size_t align);
/* As tcache_malloc_slow but reports whether the memory is known zero. */
void *tcache_calloc_slow(size_t size);

/* Flushes every bin and the remote buffer of the calling thread. */
void tcache_flush_all(void);

/* Thread registry, for statistics: called with the registry locked. */
void tcache_registry_lock(void);
void tcache_registry_unlock(void);

/* Per-thread statistics of a thread cache (summed into process totals). */
typedef struct tcache_stats {
	uint64_t nmalloc[NCLASSES];   /* blocks handed to the program */
	uint64_t nfree[NCLASSES];     /* blocks the program freed */
	uint64_t ncached[NCLASSES];   /* blocks sitting in the cache */
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_allocated_bytes, large_freed_bytes;
} tcache_stats_t;

/* Calls cb for every live thread and class with the counters not yet merged
 * into the thread's arena, and the blocks cached (registry lock held inside). */
typedef void (*tcache_live_cb)(void *ctx, struct arena *a, unsigned cls, uint64_t nmalloc,
                               uint64_t nfree, uint64_t ncached);
void tcache_stats_sum_live(tcache_live_cb cb, void *ctx);
/* Bytes mapped for per-thread state. */
uint64_t tcache_metadata_bytes(void);
/* Calls cb for every live thread with its large slot: usable bytes held, and
 * slot hits not yet added to its arena's large counters. */
typedef void (*tcache_slot_cb)(void *ctx, struct arena *a, uint64_t bytes, uint64_t nmalloc,
                               uint64_t nfree);
void tcache_large_slots(tcache_slot_cb cb, void *ctx);

/* Counters of the calling thread since it started (merged ones included). */
void tcache_stats_self(tcache_stats_t *st);

/* Re-reads the tunables into the calling thread's cache now (after a ctl
 * write; other threads do it in their next slow path). */
void tcache_reload_self(void);

/* Merges the calling thread's counters into its arena now (epoch). */
void tcache_merge_self(void);

/* fork handlers */
void tcache_prefork(void);
void tcache_postfork_parent(void);
void tcache_postfork_child(void);

/* Rebinds the calling thread to arena i (flushes its cache first). */
int tcache_set_arena(unsigned i);

/* Process-wide counters of allocations served without a thread cache (during
 * thread exit). */
extern uint64_t g_bypass_nmalloc, g_bypass_nfree; /* [atomic] */

#endif
