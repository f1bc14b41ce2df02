/* tcache.h - the thread cache: the one per-thread layer in front of arenas.
 *
 * Call tree (fast paths inline in malloc.c/free.c, everything else here):
 *
 *   malloc(size)
 *     size <= 1 KiB and bin[class].head != NULL  -> pop            (fast)
 *     otherwise tcache_malloc_slow(size)
 *       first call of the thread  -> thread_cache() starts it (thread.c)
 *       no cache (thread exiting) -> straight from the arena
 *       slab class: bin pop, else arena_fill(refill) into the bin
 *       large: large_alloc
 *   free(p)
 *     p in the SuperSlab window, its slab owned by this thread's arena, not
 *     already the bin's head, bin not full             -> push    (fast)
 *     otherwise tcache_free_slow(p)
 *       not hakmem's / interior / double           -> fatal diagnostic
 *       large block                                -> large slot, large_free
 *       block of another arena (tcache_free_foreign) -> its slab's remote list
 *                                                     (arena_free_remote): no lock
 *       bin full                                   -> flush half to arena_dalloc
 *
 * The cache lives in hakmem's metadata memory, reached through one TLS
 * pointer (thread.h); a thread that has none points at an empty sentinel, so
 * neither fast path checks anything about the thread's state.
 */
#ifndef HAKMEM_TCACHE_H
#define HAKMEM_TCACHE_H

#include "internal.h"
#include "lock.h"
#include "sizeclass.h"

struct arena;
struct chunk;

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

/* A thread cache. The bins come first: slab_t.bin_off and tiny_bin_off are
 * byte offsets of a class's bin from the start of the cache. Fields below
 * the bins are written by the owner thread on slow paths; statistics
 * readers read them racily under the registry lock. */
typedef struct tcache {
	tcache_bin_t bins[NCLASSES];
	struct arena *arena;               /* the thread's arena; for the sentinels, a
	                                      value no slab has as owner */
	uint8_t state;                     /* enum thread_state (thread.h) */
	uint8_t bound;                     /* thread.arena was written: the binding holds */
	uint8_t reapable;                  /* `alive` is a locked robust mutex */
	uint8_t busy[NCLASSES];            /* refilled or flushed since the last drain */
	uint32_t conf_gen;                 /* g_conf_gen the caps were computed from */
	uint32_t events;                   /* slow-path events since the last drain */
	uint32_t follow_cpu;               /* the CPU tcache_follow last weighed a move
	                                      from; UINT32_MAX: weigh at the next refill */
	uint32_t cap[NCLASSES];            /* capacity; avail = cap - cached. Follows use,
	                                      within [cap_floor, cap_max] (tcache.c) */
	uint32_t cap_max[NCLASSES];        /* the tunables' capacity of the class */
	uint64_t nfree_at_event[NCLASSES]; /* bins[c].nfree at its last refill or overflow */
	uint32_t refill[NCLASSES];         /* blocks per refill */
	uint64_t nfill[NCLASSES];          /* blocks received from arenas */
	uint64_t nflush[NCLASSES];         /* blocks given back from the bin */
	uint64_t nremote_free[NCLASSES];   /* program frees of foreign blocks, and frees
	                                      that went straight to the arena */
	uint64_t merged_nmalloc[NCLASSES]; /* already added to arena stats */
	uint64_t merged_nfree[NCLASSES];
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_alloc_bytes, large_free_bytes;
	struct chunk *large_slot;          /* one freed large block kept for this thread
	                                      (still counted live by its arena) */
	uint64_t slot_bytes;               /* its usable bytes, 0 if none */
	uint64_t slot_mapped;              /* its mapped bytes, 0 if none */
	struct arena *slot_arena;          /* its arena, NULL if none */
	uint64_t slot_nmalloc, slot_nfree; /* slot hits not yet added to the arena */
	uint64_t drain_ns;                 /* when the last drain ran */
	uint64_t idle_ns;                  /* a slow-path event this long after it drains
	                                      every bin: the thread was idle (from decay_ms) */
	pthread_mutex_t alive;             /* robust, held by the owner while registered */
	struct tcache *next, *prev;        /* registry, or the free list [registry lock] */
} tcache_t;

_Static_assert(offsetof(tcache_t, bins) == 0, "bin offsets count from the cache");

/* The calling thread's cache (thread.h explains the states). */
extern __thread tcache_t *tcache_cur __attribute__((tls_model("initial-exec")));

/* The bin at byte offset `off` (class * 32) of cache tc. */
FAST_PATH tcache_bin_t *tcache_bin_at(tcache_t *tc, unsigned off)
{
	return (tcache_bin_t *)((char *)tc + off);
}

void *tcache_malloc_slow(size_t size) SLOW_PATH;
/* `undo`: the fast path already took a slot (avail went below zero). */
void  tcache_free_slow(void *p, bool undo) SLOW_PATH;
/* free() of a pointer of the SuperSlab window whose slab another arena owns:
 * the remote free, hot in producer/consumer programs, so not SLOW_PATH (which
 * GCC compiles for size). Anything unusual goes on to tcache_free_slow. */
void  tcache_free_foreign(void *p) __attribute__((noinline));

/* Slow-path allocation with alignment (align <= CLASS_ALIGN_MAX picks a class
 * whose blocks are aligned; larger ones go to large_alloc). */
void *tcache_malloc_aligned(size_t size, size_t align);
/* As tcache_malloc_slow, zeroed. */
void *tcache_calloc_slow(size_t size);

/* Sets up a fresh cache for the calling thread bound to arena a. */
void tcache_init(tcache_t *tc, struct arena *a);

/* Binds tc to arena a (NULL: none, the cache ends), keeping the arenas'
 * nthreads counts. */
void tcache_bind(tcache_t *tc, struct arena *a);
/* Gives back every cached block and the slot; merges counters. */
void tcache_drain_all(tcache_t *tc);

/* arenas.purge and malloc_trim: flushes the calling thread's cache, reaps
 * dead threads, takes every arena's remote frees, and purges every
 * arena. The bytes given back. */
uint64_t tcache_trim(void);

/* Flushes every bin of the calling thread. */
void tcache_flush_all(void);

/* Per-thread statistics of a thread cache (summed into process totals). */
typedef struct tcache_stats {
	uint64_t nmalloc[NCLASSES];   /* blocks handed to the program */
	uint64_t nfree[NCLASSES];     /* blocks the program freed */
	uint64_t ncached[NCLASSES];   /* blocks sitting in the cache */
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_allocated_bytes, large_freed_bytes;
} tcache_stats_t;

/* For every live thread (registry lock held inside): `bin` for each class
 * with the counters not yet merged into the thread's arena and the blocks
 * cached; `slot` with its large slot (usable and mapped bytes held, 0 if
 * none) and the slot hits not yet added to the arena's large counters. */
typedef void (*tcache_live_cb)(void *ctx, struct arena *a, unsigned cls, uint64_t nmalloc,
                               uint64_t nfree, uint64_t ncached);
typedef void (*tcache_slot_cb)(void *ctx, struct arena *thread_arena, struct arena *slot_arena,
                               uint64_t usable, uint64_t mapped, uint64_t nmalloc, uint64_t nfree);
void tcache_stats_live(tcache_live_cb bin, tcache_slot_cb slot, void *ctx);

/* Counters of the calling thread since it started (merged ones included). */
void tcache_stats_self(tcache_stats_t *st);

/* Re-reads the tunables into the calling thread's cache now (after a ctl
 * write; other threads do it in their next slow path). */
void tcache_reload_self(void);

/* Merges the calling thread's counters into its arena now (epoch). */
void tcache_merge_self(void);

/* Binds the calling thread to arena i until it writes another (flushes its
 * cache first). ENOENT if there is no arena i, EFAULT without a cache. */
int tcache_set_arena(unsigned i);
/* The calling thread's arena index (starts the thread if needed). */
int tcache_get_arena(unsigned *i);

/* Process-wide counters of allocations served without a thread cache (during
 * thread exit). */
extern uint64_t g_bypass_nmalloc, g_bypass_nfree; /* [atomic] */

#endif
