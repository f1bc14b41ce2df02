/* arena.h - arenas: owners of SuperSlabs and large mappings.
 *
 * An arena has one bin per size class. A bin hands out blocks in batches to
 * thread caches (arena_fill) and takes them back in batches (arena_dalloc);
 * it never knows about thread caches. Each bin has its own lock; the
 * SuperSlab list and the large cache have one lock each per arena. No lock is
 * global. Lock order: bin lock, then ss_lock; large_lock alone.
 */
#ifndef HAKMEM_ARENA_H
#define HAKMEM_ARENA_H

#include "internal.h"
#include "lock.h"
#include "log.h"
#include "sizeclass.h"
#include "superslab.h"

#define ARENAS_MAX 1024
#define LARGE_CACHE_SLOTS 16

typedef struct bin {
	lock_t lock;
	slab_t *partial;      /* active slabs with blocks to hand out [lock] */
	slab_t *empty;        /* one slab whose blocks all came home, kept for reuse with
	                         its layout (its touched pages stay useful) [lock] */
	uint64_t empty_since; /* when `empty` became empty, ns [lock] */
	uint64_t nmalloc;     /* blocks handed to the program, merged from tcaches [lock] */
	uint64_t nfree;       /* blocks the program freed, merged from tcaches [lock] */
	uint64_t nrefills;    /* arena_fill calls [lock] */
	uint64_t nflushes;    /* arena_dalloc batches [lock] */
	uint64_t curslabs;    /* active slabs [lock] */
	uint64_t curregs;     /* blocks outside slabs: in tcaches or held [lock] */
	uint64_t remote_frees; /* blocks freed by threads of other arenas [lock] */
	uint64_t dirty_since; /* classes of a page or more: when a block came back to a
	                         partial slab after the last page purge, ns; 0: none
	                         [lock, racy reads] */
	/* Its own line: threads of other arenas write it, without the lock. */
	slab_t *xslabs ALIGNED(64); /* slabs with remote frees to take, linked through
	                               slab_remote_t.xnext [atomic: pushed by the
	                               remote frees, taken whole under the lock] */
} ALIGNED(64) bin_t;

_Static_assert(sizeof(bin_t) == 192, "a bin is three cache lines");

typedef struct large_entry {
	chunk_t *chunk;       /* a cached large mapping; NULL if the slot is empty */
	uint64_t freed_at;    /* ns */
} large_entry_t;

typedef struct arena {
	unsigned index;       /* position in the arena table [immutable after init] */
	int node;             /* NUMA node, -1 for none [immutable after init] */
	uint32_t ready;       /* initialised (arena_get): 0 or 1 [atomic, acquire] */
	uint32_t nthreads;    /* thread caches bound to it (tcache_bind) [atomic] */
	uint64_t purged;      /* bytes decay and purges gave back to the OS, all kinds [atomic] */
	bin_t bins[NCLASSES];

	lock_t ss_lock;       /* protects the fields below, up to large_lock */
	chunk_t *ss_bucket[SLABS_PER_SS];      /* SuperSlabs with free units, by their
	                                          longest free run (arena.c) */
	chunk_t *ss_bucket_tail[SLABS_PER_SS];
	uint32_t ss_bucket_mask;  /* bit b: bucket b is not empty */
	uint32_t ss_nfiled;       /* SuperSlabs in the buckets [racy reads: a hint] */
	chunk_t *ss_all;      /* every SuperSlab */
	uint64_t nss;         /* SuperSlabs mapped */
	uint64_t ss_partial;  /* some may have units unmapped (an address-space limit) */
	uint64_t retained;    /* bytes purged back to the OS and still mapped */
	uint64_t next_purge;  /* ns: earliest time the next decay pass runs (UINT64_MAX:
	                         nothing to decay) [written under ss_lock, racy reads] */
	uint64_t next_tick;   /* ns: when arena_decay_tick next works [atomic, a hint] */

	lock_t large_lock;    /* protects the fields below */
	large_entry_t large_cache[LARGE_CACHE_SLOTS];
	chunk_t *large_live;         /* live large blocks */
	uint64_t large_cached_bytes; /* mapped bytes held in large_cache */
	uint64_t large_live_bytes;   /* mapped bytes of live large blocks */
	uint64_t large_nlive;        /* live large blocks */
	uint64_t large_allocated;    /* usable bytes of live large blocks */
	uint64_t large_nmalloc;
	uint64_t large_nfree;
	uint64_t large_nmaps;        /* large mappings made (cache misses) */
	uint64_t large_next_purge;   /* ns: when the cache's next decay pass is due [racy hint] */
} arena_t;

extern arena_t *g_arenas;       /* [immutable after init] */
extern unsigned g_narenas;      /* [immutable after init] */
extern unsigned g_arena_mode;   /* enum arena_mode in force [immutable after init] */
extern uint64_t g_bind_failures; /* mbind calls that failed [atomic] */

/* Places [p, p+size) on arena a's node before first touch (no-op on one node,
 * or when the operator set a policy with numactl). */
void arena_place(arena_t *a, void *p, size_t size);

/* Maps and initialises n arenas. */
int arenas_init(unsigned n);

/* The arena for the calling thread: the one function that decides binding. */
arena_t *arena_choose(void);
/* arena_choose()'s choice by topology, for a thread on CPU cpu of node node. */
arena_t *arena_of_cpu(unsigned cpu, unsigned node);

/* Arena i, initialised on first use: a 64-CPU machine does not touch 64
 * arenas' pages at every process start. */
arena_t *arena_get(unsigned i);

/* Whether arena i has been used (statistics and fork skip the others). */
static inline bool arena_ready(const arena_t *a)
{
	return __atomic_load_n(&a->ready, __ATOMIC_ACQUIRE) != 0;
}

/* The NUMA node arena i serves (-1: none), whether or not it is initialised. */
int arena_node_of(unsigned i);

/* Takes about `want` blocks (at most `max`) of class cls from arena a, linked
 * through their first word, NULL-terminated, in *head. Returns how many (0 on
 * ENOMEM). Blocks freed by threads of other arenas come first, up to `max`,
 * straight from their slabs' remote lists (they never go back into their
 * slabs: one check and one link read each). Then a slab's free blocks, the
 * lowest first, found in its free bitmap (no free block is read), then
 * fresh ones carved; each gets its link written. */
unsigned arena_fill(arena_t *a, unsigned cls, unsigned want, unsigned max, void **head);

/* Gives the n blocks of the list at head (linked through their first word;
 * what follows the n-th is not read) back to the slabs they came from,
 * whatever their arena, taking each bin's lock once. Detects invalid and
 * double frees (fatal; a double free that made the list a cycle too, as the
 * count bounds the walk). No block is written but those of a bin other than
 * the first block's, relinked for a later pass. `remote`: freed by a thread
 * of another arena (counted in the owner's remote_frees). The blocks given
 * back: n, or fewer if the list ended (NULL) first. */
unsigned arena_dalloc(void *head, unsigned n, bool remote);

/* The remote free: block p of slab s (a first unit's slab_t, of an arena
 * that is not the caller's) goes on the slab's xfree list with one
 * compare-and-swap, no lock; the push that finds the list empty puts the
 * slab on its bin's xslabs (arena_remote_announce). The bin's next refill
 * hands the blocks out again (arena_fill); the background thread's period
 * (arenas_collect) gives them back to their slabs. Pre: p is a valid block
 * of s (tcache_free_foreign). An immediate double free (p already at the
 * head) is fatal here, any other at collection. */
void arena_remote_announce(slab_t *s);

FAST_PATH void arena_free_remote(slab_t *s, void *p)
{
	slab_remote_t *r = slab_remote(s);
	void *old = __atomic_load_n(&r->xfree, __ATOMIC_RELAXED);
	do {
		if (UNLIKELY(old == p))
			hm_fatal("double free of %p (block is already free)", p);
		*(void **)p = old;
	} while (!__atomic_compare_exchange_n(&r->xfree, &old, p, true, __ATOMIC_RELEASE,
	                                      __ATOMIC_RELAXED));
	if (UNLIKELY(old == NULL))
		arena_remote_announce(s);
}

/* Takes every bin's remote frees of arena a now (the background thread,
 * decay ticks, purges); arenas_collect does it for every arena. Whether a
 * has remote frees waiting (racy: a hint). */
void arena_collect(arena_t *a);
void arenas_collect(void);
bool arena_remote_pending(const arena_t *a);

/* fork child: rebuilds every bin's xslabs from the slabs' xfree lists (a
 * push the fork cut between its two steps left its slab off the list). */
void arenas_postfork_child(void);

/* Adds tcache counters into bin (a, cls). */
void arena_merge_stats(arena_t *a, unsigned cls, uint64_t nmalloc, uint64_t nfree);

/* The gap between two decay passes of an arena (or of its large cache) for a
 * delay in ns: an eighth of it, within 1-250 ms, so that memory returns
 * within decay_ms + 250 ms. */
static inline uint64_t decay_gap(uint64_t delay)
{
	uint64_t g = delay / 8;
	return g < 1000000u ? 1000000u : g > 250000000u ? 250000000u : g;
}

/* Runs the decay passes that are due (kept empty slabs, free units,
 * SuperSlabs, cached large mappings); cheap when none is, and at most once
 * per decay_gap (an eighth of decay_ms, within 1-250 ms). Thread caches call
 * it at every drain, for their arena and (arenas_decay_tick_other) one more
 * in turn, so an arena whose threads went idle still decays. */
void arena_decay_tick(arena_t *a);
void arenas_decay_tick_other(void);

/* The passes of arena a due at `now`, whenever the last ran (the background
 * thread). */
void arena_decay_run(arena_t *a, uint64_t now);

/* Whether arena a holds memory that decay will give back (racy reads: a
 * hint, for the background thread's sleep). */
bool arena_decay_pending(const arena_t *a);

/* Returns decayed memory to the OS; `force` purges all free memory now.
 * The bytes given back. */
uint64_t arena_purge(arena_t *a, bool force);

/* Purges every arena now (arenas.purge, malloc_trim); the bytes given back. */
uint64_t arenas_purge(void);

/* Before an allocation fails for want of memory or address space: returns
 * every arena's free memory now (kept empty slabs, empty SuperSlabs, cached
 * large mappings) and the SuperSlab placeholders. No lock held. */
void arenas_reclaim(void);

/* Checks that p is the start of a block of an active slab (fatal otherwise)
 * and returns its slab. Pre: registry_lookup(p) found a SuperSlab. */
slab_t *arena_validate_block(const void *p);

/* realloc in place of live block p (of a class) to `size` (<= the largest
 * class): true when p now holds it. A block alone in its slab grows into the
 * free units after it, or gives up its tail; other blocks keep their class,
 * and stay where they are when shrunk to half their size or more. */
bool arena_resize_in_place(void *p, size_t size);

/* Locks every arena lock in a fixed order (fork), and the reverse. */
void arenas_lock_all(void);
void arenas_unlock_all(void);
void arenas_reinit_locks(void);

#endif
