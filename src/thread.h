/* thread.h - the life of a thread, as the allocator sees it.
 *
 * Every thread's `tcache_cur` (initial-exec TLS) points at a thread cache.
 * It starts at a static, empty sentinel and moves through three states:
 *
 *   THREAD_UNINIT  tcache_cur == &g_tcache_uninit. Every bin is empty
 *                  (head NULL, avail 0) and its arena is a sentinel that no
 *                  slab has as owner, so both fast paths fall into their slow
 *                  paths, which call thread_start(). No fast-path check.
 *   THREAD_ACTIVE  the thread's own cache, in hakmem's metadata memory (never
 *                  in TLS: a thread that dies without its key destructor
 *                  leaves no dangling pointer behind), on the registry list.
 *   THREAD_NOCACHE tcache_cur == &g_tcache_nocache: torn down at thread exit
 *                  (key destructors that run after ours allocate and free
 *                  here, any number of rounds), or no cache could be set up.
 *                  Served straight from the arenas, with the same alignment
 *                  guarantees; never registered.
 *
 *   UNINIT --thread_start--> ACTIVE --key destructor--> NOCACHE
 *   UNINIT --thread_start fails, or inside hakmem_init--> NOCACHE (for good)
 *                                     or stays UNINIT (init recursion)
 *
 * A registered cache holds a robust mutex locked by its thread. A thread that
 * exits without our key destructor (its first allocation came in the last
 * destructor round, or it was killed by pthread_exit inside a destructor) is
 * found dead by the kernel's robust-list handling; thread_reap() returns its
 * cached blocks and recycles the cache.
 */
#ifndef HAKMEM_THREAD_H
#define HAKMEM_THREAD_H

#include "internal.h"
#include "tcache.h"

enum thread_state {
	THREAD_UNINIT = 0,
	THREAD_ACTIVE = 1,
	THREAD_NOCACHE = 2,
};

extern tcache_t g_tcache_uninit;
extern tcache_t g_tcache_nocache;

/* The calling thread's cache, or NULL: the thread is (or has just become)
 * NOCACHE, or initialisation is running on this thread. Starts the thread
 * on its first call. */
tcache_t *thread_cache_other(void); /* the same, for a cache not active */

static inline tcache_t *thread_cache(void)
{
	tcache_t *tc = tcache_cur;
	if (LIKELY(tc->state == THREAD_ACTIVE))
		return tc;
	return thread_cache_other();
}

/* The key destructor (registered by hakmem_init). */
void thread_exit(void *tc);

/* Calls fn for every registered cache, registry lock held. fn must not
 * allocate. (thread_reap first, to leave out the dead.) */
void thread_foreach(void (*fn)(void *ctx, tcache_t *tc), void *ctx);


/* Reaps the caches of threads that died without their key destructor. */
void thread_reap(void);

/* Bytes mapped for thread caches. */
uint64_t thread_metadata_bytes(void);

/* fork: the registry lock (after ctl and topology, before the arenas). */
void thread_prefork(void);
void thread_postfork_parent(void);
void thread_postfork_child(void);

#endif
